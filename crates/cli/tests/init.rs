//! End-to-end: `pipec init` makes a project that checks, tests and runs; `--example` copies one of
//! the repository's examples; nothing is overwritten; `completions` and `--version`.

mod common;

use common::*;

#[test]
fn a_new_project_checks_tests_and_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("shop");
    let out = pipec().arg("init").arg(&project).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    for f in [
        "shop.pipe",
        "pipec.json",
        ".gitignore",
        "README.md",
        "data/orders/2024-01-01.csv",
    ] {
        assert!(project.join(f).is_file(), "{f} missing: {}", text(&out));
    }
    let run = |args: &[&str]| pipec().args(args).current_dir(&project).output().unwrap();
    let check = run(&["check", "."]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(text(&check).contains("no problems"), "{}", text(&check));
    let test = run(&["test", "."]);
    assert!(test.status.success(), "{}", text(&test));
    assert!(
        text(&test).contains("1 passed, 0 failed"),
        "{}",
        text(&test)
    );
    // The warehouse comes from the generated pipec.json.
    let day = run(&["run", ".", "--date", "2024-01-01", "--format", "json"]);
    assert!(day.status.success(), "{}", text(&day));
    assert!(project.join("warehouse.duckdb").is_file());
    let conn = duckdb::Connection::open(project.join("warehouse.duckdb")).unwrap();
    let rows: Vec<(String, i64, i64, String)> = conn
        .prepare("SELECT product, orders, units, CAST(revenue AS VARCHAR) FROM mart.daily_revenue ORDER BY product")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // 2024-01-01.csv: tea 2×3.50 + 1×3.50, cake 1×4.25 (the 0-quantity line dropped), coffee 3×2.80.
    assert_eq!(
        rows,
        vec![
            ("cake".into(), 1, 1, "4.25".into()),
            ("coffee".into(), 1, 3, "8.40".into()),
            ("tea".into(), 2, 3, "10.50".into()),
        ]
    );
}

#[test]
fn init_never_overwrites_and_names_unknown_examples() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("shop.pipe"), "# mine\n").unwrap();
    let out = pipec().arg("init").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("not overwriting existing files"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("shop.pipe")).unwrap(),
        "# mine\n"
    );
    assert!(
        !dir.path().join("pipec.json").exists(),
        "nothing is written on refusal"
    );

    let out = pipec()
        .args(["init", "x", "--example", "bike_shar"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("bike_share"), "{}", text(&out));
}

#[test]
fn an_example_project_checks_and_tests() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("blog");
    let out = pipec()
        .arg("init")
        .arg(&project)
        .args(["--example", "blog_visits"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read(project.join("blog_visits.pipe")).unwrap(),
        std::fs::read(root().join("examples/blog_visits/blog_visits.pipe")).unwrap()
    );
    let check = pipec()
        .args(["check", "."])
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));
    let test = pipec()
        .args(["test", "."])
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(test.status.success(), "{}", text(&test));
}

#[test]
fn completions_and_version() {
    for shell in ["bash", "zsh", "fish"] {
        let out = pipec().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["check", "emit", "init", "--target"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let out = pipec().arg("--version").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let version = String::from_utf8(out.stdout).unwrap();
    let engine: String = duckdb::Connection::open_in_memory()
        .unwrap()
        .query_row("SELECT version()", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        version.trim(),
        format!("pipec {} (DuckDB {engine})", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn explain_prints_the_built_in_page_of_a_code() {
    let page = std::fs::read_to_string(root().join("docs/errors/E0102.md")).unwrap();
    for asked in ["E0102", "e102", "0102"] {
        let out = pipec().args(["explain", asked]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            page,
            "explain {asked}"
        );
    }
    let out = pipec().args(["explain", "E0999"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no diagnostic code `E0999`"),
        "{}",
        text(&out)
    );
    let list = pipec().args(["explain", "--list"]).output().unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert_eq!(list.lines().count(), pipec_diag::codes::ALL.len(), "{list}");
    assert!(list.contains("E0102  unknown column"), "{list}");
}
