//! Golden snapshots of the Airflow DAGs (and manifest) emitted for every example and every case
//! of the cross-engine corpus, for both profiles, with spec roots fixed at `/data/<name>`; a
//! project the profile cannot express snapshots its diagnostics instead. The runtime module is
//! the same for every project: it is snapshotted once.

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
fn emit(files: &[String], root: &str, profile: pipec_airflow::Profile) -> String {
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
    match pipec_airflow::emit(&checked.project, &plan, &options, profile) {
        Ok(out) => {
            let mut text = String::new();
            for f in out.all_files() {
                if f.path == pipec_airflow::RUNTIME_FILE {
                    let header = f.contents.lines().next().unwrap_or_default();
                    text.push_str(&format!("=== {} ===\n{header}\n...\n", f.path));
                } else {
                    text.push_str(&format!("=== {} ===\n{}\n", f.path, f.contents));
                }
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

const PROFILES: [pipec_airflow::Profile; 2] = [
    pipec_airflow::Profile::DuckDb,
    pipec_airflow::Profile::Postgres,
];

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
        for profile in PROFILES {
            let text = emit(&files, &format!("/data/{name}"), profile);
            insta::assert_snapshot!(format!("example_{name}_{}", profile.name()), text);
        }
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
        for profile in PROFILES {
            let text = emit(std::slice::from_ref(&f), "/data/engines", profile);
            insta::assert_snapshot!(format!("engines_{name}_{}", profile.name()), text);
        }
    }
}

#[test]
fn runtime() {
    let files = pipe_files("examples/blog_visits");
    let mut sources = SourceMap::new();
    let roots: Vec<_> = files
        .iter()
        .map(|f| sources.add(f.clone(), std::fs::read_to_string(repo().join(f)).unwrap()))
        .collect();
    let checked = pipec_check::check(&mut sources, &roots, &Fs);
    let plan = pipec_plan::plan(&checked.project).expect("plans");
    let out = pipec_airflow::emit(
        &checked.project,
        &plan,
        &pipec_emit::Options::default(),
        pipec_airflow::Profile::DuckDb,
    )
    .expect("emits");
    let runtime = out
        .files
        .iter()
        .find(|f| f.path == pipec_airflow::RUNTIME_FILE)
        .expect("the runtime is emitted");
    insta::assert_snapshot!("runtime", runtime.contents);
}
