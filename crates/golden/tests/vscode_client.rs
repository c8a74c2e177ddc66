//! The VS Code extension's language-server client (`editors/vscode/extension.js`), loaded in
//! Node with a stand-in `vscode` module by `scripts/vscode_client_test.sh`: it must start
//! `pipec lsp` for `pipe` files. Needs Node.js and npm; VS Code itself is not run.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn vscode_extension_starts_pipec_lsp() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("scripts/vscode_client_test.sh"))
        .output()
        .expect("bash runs scripts/vscode_client_test.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "scripts/vscode_client_test.sh failed (it needs Node.js and npm: apt-get install nodejs npm):\n{text}"
    );
    assert!(
        text.contains("extension.js wires LanguageClient(pipec lsp) for `pipe` files"),
        "{text}"
    );
}
