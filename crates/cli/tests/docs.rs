//! `pipec docs`: the site of examples/ in headless Chromium (scripts/docs_browser_test.sh), and
//! run history read from a real warehouse.

mod common;

use std::process::Command;

use common::*;

/// The site `pipec docs examples` writes passes the browser test: pages load without console
/// errors, search finds `avg_minutes`, lineage links navigate both ways.
#[test]
fn site_of_examples_in_a_browser() {
    let out = Command::new("bash")
        .arg(root().join("scripts/docs_browser_test.sh"))
        .env("PIPEC", env!("CARGO_BIN_EXE_pipec"))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/docs_browser_test.sh failed:\n{}",
        text(&out)
    );
    assert!(stdout(&out).contains("all checks passed"), "{}", text(&out));
}

/// With `--warehouse`, the pipeline page shows every interval run with the rows it wrote (as
/// recorded in `_pipec.intervals`), a bar per interval, and the check results of `_pipec`.
#[test]
fn history_from_a_warehouse() {
    let dir = suite_dir("docs", "history");
    copy_tree(&root().join("examples/bike_share"), &dir.join("bike_share"));
    let wh = dir.join("w.duckdb");
    for day in ["2024-01-01", "2024-01-02"] {
        let out = pipec()
            .args(["run", "bike_share", "--date", day, "--warehouse"])
            .arg(&wh)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let site = dir.join("site");
    let out = pipec()
        .args(["docs", "bike_share", "--out"])
        .arg(&site)
        .arg("--warehouse")
        .arg(&wh)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let page = std::fs::read_to_string(site.join("pipelines/bike_share.html")).unwrap();
    let (recorded, checks): (Vec<(String, i64)>, i64) = {
        let conn = duckdb::Connection::open(&wh).unwrap();
        let mut stmt = conn
            .prepare("SELECT CAST(ds AS VARCHAR), rows_written FROM _pipec.intervals ORDER BY ds")
            .unwrap();
        let recorded = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let checks = conn
            .query_row("SELECT count(*) FROM _pipec.check_results", [], |r| {
                r.get(0)
            })
            .unwrap();
        (recorded, checks)
    };
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    for (ds, rows) in &recorded {
        assert!(
            page.contains(&format!("<title>{ds}: {rows} rows (done)</title>")),
            "no bar for {ds} ({rows} rows) in\n{page}"
        );
        assert!(page.contains(&format!("<td>{rows}</td>")), "{ds}");
    }
    assert!(checks > 0);
    assert!(
        page.contains(&format!("{checks} check results recorded, 0 failed.")),
        "{page}"
    );
    let daily =
        std::fs::read_to_string(site.join("relations/bike_share.station_daily.html")).unwrap();
    assert!(daily.contains("<h2 id=\"check-results\">Check results</h2>"));
    assert!(daily.contains("<span class=\"pass\">passed</span>"));
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(index.contains("<h2>Run history</h2>"));
}

/// A warehouse that does not exist is no history: the site is written, saying no runs.
#[test]
fn missing_warehouse_is_empty_history() {
    let dir = suite_dir("docs", "missing");
    let site = dir.join("site");
    let out = in_root(&[
        "docs",
        "examples/bike_share",
        "--out",
        site.to_str().unwrap(),
        "--warehouse",
        dir.join("none.duckdb").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let page = std::fs::read_to_string(site.join("pipelines/bike_share.html")).unwrap();
    assert!(page.contains("No runs recorded in the warehouse."));
}
