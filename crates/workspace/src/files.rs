//! Finding and reading `.pipe` files on disk.

use std::path::{Path, PathBuf};

use pipec_check::Loader;

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

/// True for a path `collect` would list when walking a folder: a `.pipe` file outside hidden,
/// `target` and `node_modules` folders.
pub fn is_pipe_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "pipe")
        && !path.components().any(|c| {
            let c = c.as_os_str().to_string_lossy();
            (c.starts_with('.') && c != "." && c != "..") || c == "target" || c == "node_modules"
        })
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

/// A file's text, and the offset of its first invalid byte when it is not UTF-8 (the text then
/// has that byte replaced by U+FFFD).
pub fn read_text(path: &Path) -> std::io::Result<(String, Option<usize>)> {
    let bytes = std::fs::read(path)?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => (text, None),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(at))
        }
    })
}

/// The name a file gets in the [`SourceMap`](pipec_diag::SourceMap): its path as given, with `/`.
pub fn source_name(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// `E0006` for a file that is not UTF-8 (invalid byte at `at`).
pub fn not_text(file: pipec_diag::FileId, at: usize) -> pipec_diag::Diagnostic {
    pipec_diag::Diagnostic::error(
        pipec_diag::codes::NOT_TEXT,
        pipec_diag::Span::new(file, at, at + char::REPLACEMENT_CHARACTER.len_utf8()),
        "file is not UTF-8 text",
        "invalid byte here",
    )
    .with_help("save the file as UTF-8; `.pipe` files are text")
}
