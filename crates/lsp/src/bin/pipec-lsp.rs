//! The language server alone (what `pipec lsp` runs), for the crate's own stdio tests.

fn main() {
    if let Err(e) = pipec_lsp::serve_stdio() {
        eprintln!("pipec-lsp: {e}");
        std::process::exit(1);
    }
}
