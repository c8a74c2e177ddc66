//! Golden snapshots of the Airflow DAGs (and manifest) emitted for every example and every case
//! of the cross-engine corpus, for both profiles, with spec roots fixed at `/data/<name>`; a
//! project the profile cannot express snapshots its diagnostics instead. The runtime module is
//! the same for every project: it is snapshotted once.

use pipec_emit::snapshot::Repo;

fn repo() -> Repo {
    Repo::of_crate(env!("CARGO_MANIFEST_DIR"))
}

/// Emits the `.pipe` files `files` (paths relative to the repository) as one project; the
/// runtime module shows only its header line.
fn emit(files: &[String], root: &str, profile: pipec_airflow::Profile) -> String {
    let loaded = repo().load(files);
    let out = pipec_airflow::emit(
        &loaded.project,
        &loaded.plan,
        &loaded.options(root),
        profile,
    );
    loaded.render(&out, |f| {
        (f.path == pipec_airflow::RUNTIME_FILE).then(|| {
            let header = f.contents.lines().next().unwrap_or_default();
            format!("{header}\n...")
        })
    })
}

const PROFILES: [pipec_airflow::Profile; 2] = [
    pipec_airflow::Profile::DuckDb,
    pipec_airflow::Profile::Postgres,
];

#[test]
fn examples() {
    for (name, files) in repo().examples() {
        for profile in PROFILES {
            let text = emit(&files, &format!("/data/{name}"), profile);
            insta::assert_snapshot!(format!("example_{name}_{}", profile.name()), text);
        }
    }
}

#[test]
fn engine_corpus() {
    for (name, f) in repo().engine_cases() {
        for profile in PROFILES {
            let text = emit(std::slice::from_ref(&f), "/data/engines", profile);
            insta::assert_snapshot!(format!("engines_{name}_{}", profile.name()), text);
        }
    }
}

#[test]
fn runtime() {
    let loaded = repo().load(&repo().pipe_files("examples/blog_visits"));
    let out = pipec_airflow::emit(
        &loaded.project,
        &loaded.plan,
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
