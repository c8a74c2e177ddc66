//! Loading `.pipe` files from disk and running the compiler stages on them.

use std::path::{Path, PathBuf};

use pipec_check::{Checked, Loader};
use pipec_diag::{codes, Diagnostic, SourceMap, Span};

/// Reads imported files from disk.
pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
}

/// Every `.pipe` file named by `paths` (folders are searched recursively, in sorted order).
/// Each real file is listed once, under the first path that reaches it: symbolic links to a
/// file or folder already seen, including links that loop back to a parent, are skipped.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut walk = Walk::default();
    for p in paths {
        if p.is_dir() {
            walk.dir(p)
                .map_err(|e| format!("cannot read folder {}: {e}", p.display()))?;
        } else if p.exists() {
            walk.file(p.clone());
        } else {
            return Err(format!("no such file or folder: {}", p.display()));
        }
    }
    Ok(walk.out)
}

/// The files found so far, and the real (canonical) folders and files already visited.
#[derive(Default)]
struct Walk {
    out: Vec<PathBuf>,
    seen: std::collections::HashSet<PathBuf>,
}

impl Walk {
    /// True the first time the real path behind `p` is seen (a path that cannot be resolved,
    /// such as a broken link, is kept as written).
    fn first_visit(&mut self, p: &Path) -> bool {
        let real = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        self.seen.insert(real)
    }

    fn file(&mut self, p: PathBuf) {
        if self.first_visit(&p) {
            self.out.push(p);
        }
    }

    fn dir(&mut self, dir: &Path) -> std::io::Result<()> {
        if !self.first_visit(dir) {
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            if e.is_dir() {
                self.dir(&e)?;
            } else if name.ends_with(".pipe") {
                self.file(e);
            }
        }
        Ok(())
    }
}

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
        let bytes = std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        let name = f.to_string_lossy().replace('\\', "/");
        match String::from_utf8(bytes) {
            Ok(text) => roots.push(sources.add(name, text)),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                let id = sources.add(name, text);
                extra.push(
                    Diagnostic::error(
                        codes::NOT_TEXT,
                        Span::new(id, at, at + char::REPLACEMENT_CHARACTER.len_utf8()),
                        "file is not UTF-8 text",
                        "invalid byte here",
                    )
                    .with_help("save the file as UTF-8; `.pipe` files are text"),
                );
            }
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
