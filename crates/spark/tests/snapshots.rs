//! Golden snapshots of the Spark SQL jobs (and manifest) emitted for every example and every
//! case of the cross-engine corpus, with spec roots fixed at `/data/<name>`; a project the
//! target cannot express snapshots its diagnostics instead.

use pipec_emit::snapshot::Repo;

fn repo() -> Repo {
    Repo::of_crate(env!("CARGO_MANIFEST_DIR"))
}

/// Emits the `.pipe` files `files` (paths relative to the repository) as one project.
fn emit(files: &[String], root: &str) -> String {
    let loaded = repo().load(files);
    let out = pipec_spark::emit(&loaded.project, &loaded.plan, &loaded.options(root));
    loaded.render(&out, |_| None)
}

#[test]
fn examples() {
    for (name, files) in repo().examples() {
        let text = emit(&files, &format!("/data/{name}"));
        insta::assert_snapshot!(format!("example_{name}"), text);
    }
}

#[test]
fn engine_corpus() {
    for (name, f) in repo().engine_cases() {
        let text = emit(&[f], "/data/engines");
        insta::assert_snapshot!(format!("engines_{name}"), text);
    }
}
