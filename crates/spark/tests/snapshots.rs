//! Golden snapshots of the Spark SQL jobs (and manifest) emitted for every example and every
//! case of the cross-engine corpus, with spec roots fixed at `/data/<name>`; a project the
//! target cannot express snapshots its diagnostics instead.

use std::path::{Path, PathBuf};

use pipec_check::Loader;
use pipec_diag::{RenderOptions, SourceMap};

struct Fs;

impl Loader for Fs {
    fn load(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Emits the `.pipe` files `files` (paths relative to the repository) as one project.
fn emit(files: &[String], root: &str) -> String {
    let mut sources = SourceMap::new();
    let roots: Vec<_> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(repo().join(f)).expect("spec reads");
            sources.add(f.clone(), text)
        })
        .collect();
    let checked = pipec_check::check(&mut sources, &roots, &Fs);
    assert!(
        !checked.has_errors(),
        "{files:?} does not check: {:?}",
        checked.diagnostics
    );
    let plan = pipec_plan::plan(&checked.project).expect("plans");
    let mut options = pipec_emit::Options::default();
    for p in &checked.project.pipelines {
        options.roots.insert(p.file.clone(), root.to_string());
    }
    match pipec_spark::emit(&checked.project, &plan, &options) {
        Ok(out) => {
            let mut text = String::new();
            for f in out.all_files() {
                text.push_str(&format!("=== {} ===\n{}\n", f.path, f.contents));
            }
            text
        }
        Err(diags) => {
            let mut text = String::from("=== diagnostics ===\n");
            text.push_str(&pipec_diag::render_all(
                &diags,
                &sources,
                RenderOptions {
                    color: false,
                    width: 100,
                },
            ));
            text
        }
    }
}

fn pipe_files(dir: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(repo().join(dir))
        .expect("folder reads")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pipe"))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    out.sort();
    out
}

#[test]
fn examples() {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("examples"))
        .expect("examples read")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for name in names {
        let files = pipe_files(&format!("examples/{name}"));
        let text = emit(&files, &format!("/data/{name}"));
        insta::assert_snapshot!(format!("example_{name}"), text);
    }
}

#[test]
fn engine_corpus() {
    for f in pipe_files("tests/engines") {
        let name = Path::new(&f)
            .file_stem()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let text = emit(&[f], "/data/engines");
        insta::assert_snapshot!(format!("engines_{name}"), text);
    }
}
