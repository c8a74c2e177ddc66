//! A project kept in memory and re-checked as its files change: what `pipec watch` and
//! `pipec lsp` build on. Does no IO beyond reading `.pipe` files; no file watching.
//!
//! [`Workspace::checked`] always equals [`pipec_check::check`] over [`Workspace::roots`].

mod files;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pipec_check::{Checked, Session};
use pipec_diag::{Diagnostic, FileId, SourceMap};
use pipec_syntax::ast;

pub use files::{collect, is_pipe_file, not_text, read_text, source_name, FsLoader};

/// The files of a project, parsed and checked.
pub struct Workspace {
    sources: SourceMap,
    /// The project's own files by path, in the order `pipec check` takes them.
    roots: BTreeMap<PathBuf, FileId>,
    /// The disk path of every file read from disk or given by path.
    paths: HashMap<FileId, PathBuf>,
    /// Files that are not UTF-8, with the offset of the first invalid byte.
    not_text: HashMap<FileId, usize>,
    session: Session,
}

/// What a change did.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Files whose diagnostics may have changed (the changed file first).
    pub affected: Vec<FileId>,
    /// Files re-checked.
    pub rechecked: usize,
    /// The root files re-checked (whose pipelines may have changed), in root order.
    pub rechecked_files: Vec<FileId>,
    /// Time taken.
    pub elapsed: Duration,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    /// An empty workspace (the LSP adds files as the editor opens them).
    pub fn new() -> Workspace {
        Workspace {
            sources: SourceMap::new(),
            roots: BTreeMap::new(),
            paths: HashMap::new(),
            not_text: HashMap::new(),
            session: Session::new(),
        }
    }

    /// Every `.pipe` file under `paths` (folders recursively, as `pipec check` finds them), read
    /// from disk.
    pub fn load(paths: &[PathBuf]) -> Result<Workspace, String> {
        let mut ws = Workspace::new();
        for path in collect(paths)? {
            let (text, bad) =
                read_text(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let id = ws.sources.add(source_name(&path), text);
            if let Some(at) = bad {
                ws.not_text.insert(id, at);
            }
            ws.paths.insert(id, path.clone());
            ws.roots.insert(path, id);
        }
        ws.recheck(&[]);
        Ok(ws)
    }

    /// Adds or replaces a file's text (an editor buffer or a saved file); re-checks what it
    /// affects. A file added this way is one of the project's own files.
    pub fn set_text(&mut self, path: &Path, text: String) -> Change {
        let start = Instant::now();
        let id = self.put(path, text, None);
        self.finish(start, id)
    }

    /// Re-reads a file from disk (a missing file is removed).
    pub fn reload(&mut self, path: &Path) -> Change {
        match read_text(path) {
            Ok((text, bad)) => {
                let start = Instant::now();
                let id = self.put(path, text, bad);
                self.finish(start, id)
            }
            Err(_) => self.remove(path),
        }
    }

    /// Removes a file (deleted or renamed away).
    pub fn remove(&mut self, path: &Path) -> Change {
        let start = Instant::now();
        let Some(id) = self.file_id(path) else {
            return Change {
                elapsed: start.elapsed(),
                ..Change::default()
            };
        };
        self.sources.remove(id);
        self.roots.remove(path);
        self.paths.remove(&id);
        self.not_text.remove(&id);
        self.finish(start, id)
    }

    /// Every file, including imported and `std/` modules.
    pub fn sources(&self) -> &SourceMap {
        &self.sources
    }

    /// The id of the file at `path` (as given to [`load`](Self::load) or a change).
    pub fn file_id(&self, path: &Path) -> Option<FileId> {
        self.roots
            .get(path)
            .copied()
            .or_else(|| self.sources.find(&source_name(path)))
    }

    /// The disk path of `file`; `None` for embedded `std/` modules.
    pub fn path(&self, file: FileId) -> Option<&Path> {
        self.paths.get(&file).map(PathBuf::as_path)
    }

    /// The project's own files, in the order `pipec check` takes them.
    pub fn roots(&self) -> Vec<FileId> {
        self.roots.values().copied().collect()
    }

    /// The parsed AST of any loaded file.
    pub fn module(&self, file: FileId) -> Option<&ast::Module> {
        self.session.module(file)
    }

    /// The checker's output: equal to [`pipec_check::check`] over [`roots`](Self::roots) (plus
    /// `E0006` for files that are not UTF-8, as `pipec check` reports).
    pub fn checked(&self) -> &Checked {
        self.session.checked()
    }

    /// The diagnostics of `file`, in position order.
    pub fn diagnostics(&self, file: FileId) -> Vec<&Diagnostic> {
        self.checked()
            .diagnostics
            .iter()
            .filter(|d| d.span().file == file)
            .collect()
    }

    /// Stores `text` for `path`, returning its id (new files become roots).
    fn put(&mut self, path: &Path, text: String, bad: Option<usize>) -> FileId {
        let id = match self.file_id(path) {
            Some(id) => {
                self.sources.replace(id, text);
                id
            }
            None => self.sources.add(source_name(path), text),
        };
        match bad {
            Some(at) => self.not_text.insert(id, at),
            None => self.not_text.remove(&id),
        };
        self.paths.insert(id, path.to_path_buf());
        self.roots.insert(path.to_path_buf(), id);
        id
    }

    fn finish(&mut self, start: Instant, changed: FileId) -> Change {
        let old = self.session.checked().diagnostics.clone();
        let rechecked_files = self.recheck(&[changed]);
        let before = by_file(&old);
        let after = by_file(&self.session.checked().diagnostics);
        let mut affected = vec![changed];
        let mut others: Vec<FileId> = before
            .keys()
            .chain(after.keys())
            .filter(|f| **f != changed && before.get(f) != after.get(f))
            .copied()
            .collect();
        others.sort();
        others.dedup();
        affected.extend(others);
        Change {
            affected,
            rechecked: rechecked_files.len(),
            rechecked_files,
            elapsed: start.elapsed(),
        }
    }

    /// Re-checks the project after `changed` files changed; returns the root files checked.
    fn recheck(&mut self, changed: &[FileId]) -> Vec<FileId> {
        let roots = self.roots();
        let known = self.sources.len();
        let mut extra: Vec<Diagnostic> = self
            .not_text
            .iter()
            .map(|(&id, &at)| files::not_text(id, at))
            .collect();
        extra.sort_by_key(|d| d.span());
        self.session.set_extra_diagnostics(extra);
        let (sources, session) = (&mut self.sources, &mut self.session);
        // Deep inputs recurse in the parser and checker: give them a generous stack.
        let update = std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(256 * 1024 * 1024)
                .spawn_scoped(s, || session.update(sources, &roots, changed, &FsLoader))
                .expect("start the checker thread")
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e))
        });
        for (id, f) in self.sources.iter().filter(|(id, _)| id.0 as usize >= known) {
            if !is_std(&f.name, &f.text) {
                self.paths.insert(id, PathBuf::from(&f.name));
            }
        }
        update.checked
    }
}

/// True for an embedded standard-library module.
fn is_std(name: &str, text: &str) -> bool {
    name.strip_prefix("std/")
        .and_then(|n| n.strip_suffix(".pipe"))
        .and_then(pipec_check::stdlib::get)
        .is_some_and(|t| t == text)
}

fn by_file(diags: &[Diagnostic]) -> HashMap<FileId, Vec<&Diagnostic>> {
    let mut out: HashMap<FileId, Vec<&Diagnostic>> = HashMap::new();
    for d in diags {
        out.entry(d.span().file).or_default().push(d);
    }
    out
}
