//! Golden snapshots of the SAM stack (`template.yaml`) and manifest emitted for every example
//! and every case of the cross-engine corpus, with spec roots fixed at `/data/<name>`; a
//! project the target cannot express snapshots its diagnostics instead. The Lambda code is
//! listed by path only (it is copied unchanged). With `PIPEC_SAM_DUMP=DIR` set, each emit is
//! also written to `DIR/<name>/` (for cfn-lint and the SAM translator).

use std::path::Path;

use pipec_emit::snapshot::{Loaded, Repo};

fn repo() -> Repo {
    Repo::of_crate(env!("CARGO_MANIFEST_DIR"))
}

/// Emits the `.pipe` files `files` (paths relative to the repository) as one project; the
/// Lambda code shows as "(copied unchanged)".
fn emit(name: &str, files: &[String], root: &str, settings: &pipec_sam::Settings) -> String {
    let loaded = repo().load(files);
    let out = pipec_sam::emit(
        &loaded.project,
        &loaded.plan,
        &loaded.options(root),
        settings,
    );
    if let (Ok(out), Ok(dir)) = (&out, std::env::var("PIPEC_SAM_DUMP")) {
        let dir = Path::new(&dir).join(name);
        let _ = std::fs::remove_dir_all(&dir);
        for f in out.all_files() {
            let path = dir.join(&f.path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, &f.contents).expect("write");
        }
    }
    loaded.render(&out, |f| {
        f.path
            .starts_with("functions/")
            .then(|| "(copied unchanged)\n".to_string())
    })
}

#[test]
fn examples() {
    for (name, files) in repo().examples() {
        let text = emit(
            &format!("example_{name}"),
            &files,
            &format!("/data/{name}"),
            &pipec_sam::Settings::default(),
        );
        insta::assert_snapshot!(format!("example_{name}"), text);
    }
}

#[test]
fn engine_corpus() {
    for (name, f) in repo().engine_cases() {
        let text = emit(
            &format!("engines_{name}"),
            &[f],
            "/data/engines",
            &pipec_sam::Settings::default(),
        );
        insta::assert_snapshot!(format!("engines_{name}"), text);
    }
}

#[test]
fn stack_features() {
    let dir = "crates/sam/tests/specs";
    let text = emit(
        "features",
        &repo().pipe_files(dir),
        "/data/features",
        &pipec_sam::Settings::default(),
    );
    insta::assert_snapshot!("features", text);
    let text = emit(
        "features_api_gateway",
        &[format!("{dir}/ingest.pipe")],
        "/data/features",
        &pipec_sam::Settings {
            ingest: pipec_sam::Ingest::ApiGateway,
        },
    );
    insta::assert_snapshot!("features_api_gateway", text);
}

/// Every `Allow` statement of every policy in `v`, with where it is.
fn allows<'a>(
    v: &'a serde_json::Value,
    at: String,
    out: &mut Vec<(String, &'a serde_json::Value)>,
) {
    match v {
        serde_json::Value::Object(m) => {
            if m.get("Effect").and_then(|e| e.as_str()) == Some("Allow") {
                out.push((at.clone(), v));
            }
            for (k, x) in m {
                allows(x, format!("{at}/{k}"), out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                allows(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Least privilege: no statement allows a wildcard action, and every allowed resource but
/// Lake Formation's (which has no resource-level permissions) is a reference or an ARN built
/// from the stack's resources.
#[test]
fn no_wildcard_actions() {
    let repo = repo();
    let mut specs: Vec<Vec<String>> = vec![repo.pipe_files("crates/sam/tests/specs")];
    for name in ["blog_visits", "bike_share", "nps"] {
        specs.push(repo.pipe_files(&format!("examples/{name}")));
    }
    for settings in [
        pipec_sam::Settings::default(),
        pipec_sam::Settings {
            ingest: pipec_sam::Ingest::ApiGateway,
        },
    ] {
        for files in &specs {
            let loaded = repo.load(files);
            let tpl = pipec_sam::template(
                &loaded.project,
                &loaded.plan,
                &pipec_emit::Options::default(),
                &settings,
            )
            .expect("emits");
            let mut found = Vec::new();
            allows(&tpl, String::new(), &mut found);
            assert!(!found.is_empty());
            for (at, st) in found {
                let actions: Vec<&str> = match &st["Action"] {
                    serde_json::Value::String(s) => vec![s.as_str()],
                    serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
                    other => panic!("{at}: Action {other}"),
                };
                for a in &actions {
                    assert!(!a.contains('*'), "{files:?} {at}: wildcard action {a}");
                }
                if st["Resource"] == serde_json::json!("*") {
                    assert_eq!(actions, ["lakeformation:GetDataAccess"], "{at}");
                }
            }
        }
    }
}

/// The codes `pipec_sam::emit` reports for one spec given as text.
fn codes_of(text: &str) -> Vec<&'static str> {
    let loaded = Loaded::from_texts(vec![("t.pipe".to_string(), text.to_string())]);
    match pipec_sam::emit(
        &loaded.project,
        &loaded.plan,
        &pipec_emit::Options::default(),
        &pipec_sam::Settings::default(),
    ) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|d| d.code.id).collect(),
    }
}

#[test]
fn refusals_name_their_codes() {
    let body = "source raw = csv(\"d/{ds}.csv\") { id: int, a: timestamp, b: timestamp }\n";
    let table = |head: &str, sink: &str| {
        format!("pipeline p {{\n{head}\n}}\n{body}transform t = raw | derive ds = @ds\nsink t -> mart.t {{ {sink} }}\n")
    };
    assert_eq!(
        codes_of(&table("schedule cron \"0 6 1 * 1\"", "mode append")),
        ["E0651"]
    );
    assert_eq!(
        codes_of(&table(
            "schedule daily",
            "partition by ds archive after 90d to glacier"
        )),
        ["E0653"]
    );
    // `expire` on a partitioned table is a DELETE in the state machine's publish.
    assert!(codes_of(&table(
        "schedule daily",
        "partition by ds expire after 400d"
    ))
    .is_empty());
    assert!(codes_of(&table(
        "schedule daily",
        "partition by ds archive after 90d to glacier_ir"
    ))
    .is_empty());
    let interval = format!(
        "pipeline p {{ schedule daily }}\n{body}transform t = raw | derive d = b - a\nsink t -> mart.t {{ mode replace }}\n"
    );
    // The state machine refuses the interval column too (E0601).
    assert!(codes_of(&interval).contains(&"E0652"));
    let stream = "pipeline p { schedule hourly }\nsource s = kinesis(\"bad name!\") { id: string }\nsink s -> raw.s { mode append }\n";
    assert_eq!(codes_of(stream), ["E0650"]);
    let own = "pipeline p { schedule daily }\nsource s = csv(\"d.csv\") { id: int }\nsink s -> pipec_raw.s { mode replace }\n";
    assert_eq!(codes_of(own), ["E0650"]);
}

/// The example of each of the target's error pages reports its code.
#[test]
fn error_pages_examples_report_their_code() {
    for code in ["E0650", "E0651", "E0652", "E0653"] {
        let page = std::fs::read_to_string(repo().path(&format!("docs/errors/{code}.md")))
            .expect("page reads");
        let start = page.find("```pipe\n").expect("a pipe example") + "```pipe\n".len();
        let end = start + page[start..].find("```").expect("closed");
        let codes = codes_of(&page[start..end]);
        assert!(codes.contains(&code), "{code}: {codes:?}");
    }
}
