//! The VS Code extension's language-server client (`editors/vscode/extension.js`), loaded in
//! Node with a stand-in `vscode` module by `scripts/vscode_client_test.sh`: it must start
//! `pipec lsp` for `pipe` files. Needs Node.js and npm; VS Code itself is not run.

#[test]
fn vscode_extension_starts_pipec_lsp() {
    let (ok, text) = pipec_golden::run_script("vscode_client_test.sh");
    assert!(
        ok,
        "scripts/vscode_client_test.sh failed (it needs Node.js and npm: apt-get install nodejs npm):\n{text}"
    );
    assert!(
        text.contains("extension.js wires LanguageClient(pipec lsp) for `pipe` files"),
        "{text}"
    );
}
