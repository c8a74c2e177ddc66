//! Embeds the starter project (`src/init/`) and the repository's `examples/` for `pipec init`.

use std::path::{Path, PathBuf};

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "__pycache__" || name.ends_with(".duckdb") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn table(name: &str, root: &Path, min_depth: usize) -> String {
    println!("cargo:rerun-if-changed={}", root.display());
    let mut text = format!("/// Files of `{}` (path relative to it, bytes).\npub const {name}: &[(&str, &[u8])] = &[\n", root.display());
    for f in files(root) {
        let rel = f.strip_prefix(root).expect("below root");
        if rel.components().count() < min_depth {
            continue;
        }
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = rel.to_string_lossy().replace('\\', "/");
        text.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?})),\n",
            f.display().to_string()
        ));
    }
    text.push_str("];\n");
    text
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let starter = manifest.join("src/init");
    let examples = manifest.join("../../examples");
    let mut out = table("STARTER", &starter, 1);
    // Only files inside an example's folder (not examples/README.md).
    out.push_str(&table("EXAMPLES", &examples, 2));
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("embedded.rs");
    std::fs::write(dest, out).expect("write embedded.rs");
}
