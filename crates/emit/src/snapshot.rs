//! Golden-snapshot support for the emit backends' tests (cargo feature `testing`): reads spec
//! files of the repository, checks and plans them as one project, and renders what a backend
//! emitted (its files, or its diagnostics) as snapshot text. It reads files; the compiler
//! itself never uses it.

use std::path::{Path, PathBuf};

use pipec_check::ir::Project;
use pipec_check::Loader;
use pipec_diag::{Diagnostic, RenderOptions, SourceMap};
use pipec_plan::Plan;

use crate::{File, Options, Output};

/// A [`Loader`] that reads imported spec files from disk, by the path as given.
pub struct Fs;

impl Loader for Fs {
    fn load(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
}

/// The repository checkout the specs are read from.
pub struct Repo {
    root: PathBuf,
}

impl Repo {
    /// The checkout holding the crate whose manifest folder is `manifest_dir` (a crate under
    /// `crates/`; pass `env!("CARGO_MANIFEST_DIR")`).
    pub fn of_crate(manifest_dir: &str) -> Repo {
        Repo {
            root: Path::new(manifest_dir).join("../.."),
        }
    }

    /// Where `rel` (a path relative to the checkout) is on disk.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The `.pipe` files directly in `dir` (relative to the checkout), as `dir/<name>.pipe`,
    /// sorted.
    pub fn pipe_files(&self, dir: &str) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.path(dir))
            .expect("folder reads")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".pipe"))
            .map(|n| format!("{dir}/{n}"))
            .collect();
        out.sort();
        out
    }

    /// Every example project (a folder of `examples/`): its name and its spec files, sorted by
    /// name. Panics when there is none.
    pub fn examples(&self) -> Vec<(String, Vec<String>)> {
        let mut names: Vec<String> = std::fs::read_dir(self.path("examples"))
            .expect("examples read")
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert!(!names.is_empty(), "no examples");
        names
            .into_iter()
            .map(|name| {
                let files = self.pipe_files(&format!("examples/{name}"));
                (name, files)
            })
            .collect()
    }

    /// Every case of the cross-engine corpus (`tests/engines/*.pipe`): its file stem and its
    /// spec file, sorted.
    pub fn engine_cases(&self) -> Vec<(String, String)> {
        self.pipe_files("tests/engines")
            .into_iter()
            .map(|f| {
                let stem = Path::new(&f)
                    .file_stem()
                    .expect("file name")
                    .to_string_lossy()
                    .into_owned();
                (stem, f)
            })
            .collect()
    }

    /// Reads the spec files `files` (relative to the checkout), then checks and plans them as
    /// one project. Panics when they do not check or plan.
    pub fn load(&self, files: &[String]) -> Loaded {
        Loaded::from_texts(
            files
                .iter()
                .map(|f| {
                    let text = std::fs::read_to_string(self.path(f)).expect("spec reads");
                    (f.clone(), text)
                })
                .collect(),
        )
    }
}

/// A checked and planned project, with the sources its diagnostics point into.
pub struct Loaded {
    /// The spec texts, as named when loaded.
    pub sources: SourceMap,
    /// The checked project.
    pub project: Project,
    /// Its plan.
    pub plan: Plan,
}

impl Loaded {
    /// Checks and plans the specs `(name, text)` as one project (imports read with [`Fs`]).
    /// Panics when they do not check or plan.
    pub fn from_texts(specs: Vec<(String, String)>) -> Loaded {
        let mut sources = SourceMap::new();
        let names: Vec<String> = specs.iter().map(|(name, _)| name.clone()).collect();
        let roots: Vec<_> = specs
            .into_iter()
            .map(|(name, text)| sources.add(name, text))
            .collect();
        let checked = pipec_check::check(&mut sources, &roots, &Fs);
        assert!(
            !checked.has_errors(),
            "{names:?} does not check: {:?}",
            checked.diagnostics
        );
        let plan = pipec_plan::plan(&checked.project).expect("plans");
        Loaded {
            sources,
            project: checked.project,
            plan,
        }
    }

    /// Emit options with the spec root of every pipeline's file set to `root`.
    pub fn options(&self, root: &str) -> Options {
        let mut options = Options::default();
        for p in &self.project.pipelines {
            options.roots.insert(p.file.clone(), root.to_string());
        }
        options
    }

    /// The snapshot text of an emit: each file (`manifest.json` last) as `=== <path> ===`, a
    /// line break, its contents and a line break; `body` may give a file another text instead
    /// of its contents (for a large file that never changes). A refused emit is
    /// `=== diagnostics ===` and the diagnostics rendered plain, 100 columns wide.
    pub fn render(
        &self,
        result: &Result<Output, Vec<Diagnostic>>,
        body: impl Fn(&File) -> Option<String>,
    ) -> String {
        match result {
            Ok(out) => {
                let mut text = String::new();
                for f in out.all_files() {
                    let contents = body(&f).unwrap_or(f.contents);
                    text.push_str(&format!("=== {} ===\n{contents}\n", f.path));
                }
                text
            }
            Err(diags) => {
                let mut text = String::from("=== diagnostics ===\n");
                text.push_str(&pipec_diag::render_all(
                    diags,
                    &self.sources,
                    RenderOptions {
                        color: false,
                        width: 100,
                    },
                ));
                text
            }
        }
    }
}
