//! `pipec cost` as a user runs it: the estimate of an example's SAM stack, volumes measured
//! by `pipec run`, volume-file errors and usage errors.

mod common;

use common::*;

fn cost(args: &[&str]) -> std::process::Output {
    pipec()
        .arg("cost")
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn an_example_stack_is_priced_line_by_line() {
    let out = cost(&["examples/blog_visits", "--target", "sam"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    for needle in [
        "pipeline blog_visits",
        "state machine BlogVisitsStateMachine",
        "state transitions × $0.0271 per 1,000 state transitions = $",
        "TB scanned × $5 per TB scanned = $",
        "no volume declared or measured for blog_visits.visits",
        "total",
        "prices used (crates/cost/prices/ap-northeast-2.toml, compiled ",
    ] {
        assert!(t.contains(needle), "missing `{needle}` in\n{t}");
    }

    let json = cost(&[
        "examples/blog_visits",
        "--target",
        "sam",
        "--format",
        "json",
    ]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json));
    let e: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let by_service: f64 = e["by_service"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((by_service - e["total"].as_f64().unwrap()).abs() < 1e-9);
    assert!(e["total"].as_f64().unwrap() > 0.0);
}

#[test]
fn rows_measured_by_pipec_run_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.duckdb");
    let out = run(&["run", "examples/blog_visits", "--date", "2024-01-02"], &w);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = query(
        &w,
        "SELECT rows_written FROM _pipec.intervals WHERE status = 'done'",
    );
    assert_eq!(written.len(), 1, "{written:?}");
    let n: i64 = written[0]
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap();
    let out = cost(&[
        "examples/blog_visits",
        "--target",
        "sam",
        "--warehouse",
        w.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let rows = pipec_rows(n);
    assert!(
        t.contains(&format!(
            "source visits: {rows} rows (measured: mean rows written over 1 intervals)"
        )),
        "{n} rows measured, not in\n{t}"
    );
    assert!(t.contains("bytes are not recorded by `pipec run`"), "{t}");
}

/// `1234567` → `1,234,567`, as the output writes quantities.
fn pipec_rows(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn volume_file_errors_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "v.toml", "[pipelines.blog_visits]\nrows = 5\n");
    let out = cost(&[
        "examples/blog_visits",
        "--target",
        "sam",
        "--volume",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("error[E0670]"), "{}", text(&out));

    let unknown = write(
        dir.path(),
        "u.toml",
        "[pipelines.blog_visits.sources.visit]\nrows = 5\n",
    );
    let out = cost(&[
        "examples/blog_visits",
        "--target",
        "sam",
        "--volume",
        unknown.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("error[E0671]"), "{}", text(&out));

    let good = write(
        dir.path(),
        "g.json",
        r#"{"pipelines": {"blog_visits": {"sources": {"visits": {"rows": 2000000, "bytes": 800000000}}}}}"#,
    );
    let out = cost(&[
        "examples/blog_visits",
        "--target",
        "sam",
        "--volume",
        good.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    // 800,000,000 bytes = 762.94… MiB, rounded up to 763 MB per query.
    assert!(
        t.contains("source visits: 2,000,000 rows (declared), 800,000,000 bytes per interval"),
        "{t}"
    );
    assert!(t.contains("× 763 MB scanned"), "{t}");

    let out = cost(&[
        "examples/blog_visits",
        "--target",
        "sam",
        "--compare",
        "kafka",
    ]);
    assert_eq!(out.status.code(), Some(2));
}
