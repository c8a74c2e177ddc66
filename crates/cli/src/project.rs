//! Loading `.pipe` files from disk and running the compiler stages on them.

use std::path::PathBuf;

use pipec_check::Checked;
use pipec_diag::SourceMap;
pub use pipec_workspace::{collect, FsLoader};

/// A checked project with its sources.
pub struct Compiled {
    /// All files, roots and imports.
    pub sources: SourceMap,
    /// The checker's output.
    pub checked: Checked,
}

/// Reads and checks `files`. Files that are not UTF-8 get `E0006`.
pub fn compile(files: &[PathBuf]) -> Result<Compiled, String> {
    let mut sources = SourceMap::new();
    let mut roots = Vec::new();
    let mut extra = Vec::new();
    for f in files {
        let (text, bad) = pipec_workspace::read_text(f)
            .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        let id = sources.add(pipec_workspace::source_name(f), text);
        roots.push(id);
        if let Some(at) = bad {
            extra.push(pipec_workspace::not_text(id, at));
        }
    }
    // Deep inputs recurse in the parser and checker: give them a generous stack.
    let (sources, mut checked) = std::thread::Builder::new()
        .stack_size(256 * 1024 * 1024)
        .spawn(move || {
            let checked = pipec_check::check(&mut sources, &roots, &FsLoader);
            (sources, checked)
        })
        .map_err(|e| format!("cannot start the compiler thread: {e}"))?
        .join()
        .map_err(|_| {
            "internal compiler error: the checker panicked; please report this input".to_string()
        })?;
    checked.diagnostics.extend(extra);
    pipec_diag::sort(&mut checked.diagnostics);
    Ok(Compiled { sources, checked })
}
