//! The site of `examples/`: deterministic, complete, lineage linked both ways; history pages.

use std::collections::BTreeMap;

use pipec_docs::{site, CheckResult, History, Input, IntervalRun, Reject, SiteFile};
use pipec_emit::snapshot::{Loaded, Repo};

fn examples() -> Loaded {
    let repo = Repo::of_crate(env!("CARGO_MANIFEST_DIR"));
    let files: Vec<String> = repo
        .examples()
        .into_iter()
        .flat_map(|(_, files)| files)
        .collect();
    repo.load(&files)
}

fn build(loaded: &Loaded, history: Option<&History>) -> BTreeMap<String, String> {
    let files: Vec<SiteFile> = site(&Input {
        project: &loaded.project,
        plan: &loaded.plan,
        sources: &loaded.sources,
        history,
    });
    files.into_iter().map(|f| (f.path, f.contents)).collect()
}

#[test]
fn same_input_same_bytes() {
    let a = build(&examples(), None);
    let b = build(&examples(), None);
    assert_eq!(a, b);
}

#[test]
fn index_lists_pipelines_with_schedule_owner_tags() {
    let site = build(&examples(), None);
    let index = &site["index.html"];
    assert!(index.contains("<a href=\"pipelines/bike_share.html\">bike_share</a>"));
    assert!(index.contains("<td>daily at 03:00</td><td>Asia/Seoul</td><td>mobility-data</td>"));
    assert!(index.contains("<span class=\"tag\">bike</span><span class=\"tag\">mart</span>"));
    assert!(index.contains("<svg class=\"dag\""));
    assert!(index.contains("<a href=\"relations/bike_share.station_daily.html\">"));
    // No network at view time: only local scripts and styles.
    for (path, text) in &site {
        for remote in [
            "src=\"http",
            "src=\"//",
            "stylesheet\" href=\"http",
            "import(",
            "fetch(",
        ] {
            assert!(
                !text.contains(remote),
                "{path} loads something remote: {remote}"
            );
        }
    }
    for p in ["pipelines/bike_share.html", "pipelines/nps_daily.html"] {
        assert!(site.contains_key(p), "{p}");
    }
}

#[test]
fn every_link_resolves() {
    let site = build(&examples(), None);
    for (path, text) in site.iter().filter(|(p, _)| p.ends_with(".html")) {
        let dir = if path.contains('/') { "../" } else { "" };
        for part in text.split("href=\"").skip(1) {
            let href = &part[..part.find('"').unwrap()];
            if href.starts_with("data:") {
                continue;
            }
            let (file, anchor) = href.split_once('#').unwrap_or((href, ""));
            let target = match file.strip_prefix(dir) {
                Some(f) if !dir.is_empty() => f.to_string(),
                _ if dir.is_empty() => file.to_string(),
                _ => panic!("{path}: link {href} not relative to the root"),
            };
            let target = if target.is_empty() {
                path.clone()
            } else {
                target
            };
            let page = site
                .get(&target)
                .unwrap_or_else(|| panic!("{path}: link {href} to a missing file"));
            if !anchor.is_empty() {
                assert!(
                    page.contains(&format!("id=\"{anchor}\"")),
                    "{path}: link {href} to a missing anchor"
                );
            }
        }
    }
}

#[test]
fn lineage_links_both_ways() {
    let site = build(&examples(), None);
    let daily = &site["relations/bike_share.station_daily.html"];
    let rentals = &site["relations/bike_share.rentals.html"];
    assert!(daily.contains("id=\"col-avg_minutes\""));
    let row = daily
        .lines()
        .find(|l| l.contains("id=\"col-avg_minutes\""))
        .unwrap();
    for up in ["rented_at", "returned_at"] {
        assert!(
            row.contains(&format!(
                "href=\"../relations/bike_share.rentals.html#col-{up}\""
            )),
            "{row}"
        );
        let back = rentals
            .lines()
            .find(|l| l.contains(&format!("id=\"col-{up}\"")))
            .unwrap();
        assert!(
            back.contains("href=\"../relations/bike_share.station_daily.html#col-avg_minutes\""),
            "{back}"
        );
    }
    assert!(daily.contains("<h2 id=\"checks\">Checks</h2>"));
    assert!(daily.contains("<code>unique(ds, station_id)</code>"));
    assert!(daily.contains("class=\"sql duckdb\""));
    assert!(daily.contains("class=\"sql spark\""));
    assert!(daily.contains("class=\"sql athena\""));
    assert!(daily.contains("Written by sink"));
}

#[test]
fn search_index_has_columns() {
    let site = build(&examples(), None);
    let index: serde_json::Value = serde_json::from_str(&site["search.json"]).unwrap();
    let hit = index
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["kind"] == "column"
                && e["label"]
                    .as_str()
                    .unwrap()
                    .starts_with("bike_share.station_daily.avg_minutes")
        })
        .expect("avg_minutes indexed");
    assert_eq!(
        hit["url"],
        "relations/bike_share.station_daily.html#col-avg_minutes"
    );
    assert!(site["assets/search-index.js"].starts_with("window.PIPEC_SEARCH = ["));
}

#[test]
fn station_daily_page_snapshot() {
    let site = build(&examples(), None);
    insta::assert_snapshot!(site["relations/bike_share.station_daily.html"]);
}

fn history() -> History {
    let run = |interval: &str, status: &str, rows: Option<i64>| IntervalRun {
        pipeline: "bike_share".into(),
        interval: interval.into(),
        start: format!("{interval} 15:00:00"),
        status: status.into(),
        attempts: 1,
        finished_at: "2024-02-01 00:00:00".into(),
        rows_written: rows,
        error: (status == "failed").then(|| "check failed".to_string()),
    };
    History {
        intervals: vec![
            run("2024-01-01", "done", Some(40)),
            run("2024-01-02", "done", Some(80)),
            run("2024-01-03", "failed", None),
        ],
        checks: vec![CheckResult {
            pipeline: "bike_share".into(),
            start: "2024-01-03 15:00:00".into(),
            relation: "station_daily".into(),
            rule: "rides > 0".into(),
            passed: false,
            detail: Some("2 rows".into()),
        }],
        rejects: vec![Reject {
            pipeline: "bike_share".into(),
            start: "2024-01-02 15:00:00".into(),
            source: "rentals".into(),
            file: Some("data/rentals/2024-01-02.csv".into()),
            line: Some(7),
            column: Some("station_id".into()),
            error: "not an int".into(),
        }],
    }
}

#[test]
fn history_tables_and_chart() {
    let h = history();
    let site = build(&examples(), Some(&h));
    let page = &site["pipelines/bike_share.html"];
    assert!(page.contains("<h2 id=\"history\">Run history</h2>"));
    // Bars scaled to the largest interval (80 rows = 120 px).
    assert!(page.contains("height=\"60\"><title>2024-01-01: 40 rows (done)</title>"));
    assert!(page.contains("height=\"120\"><title>2024-01-02: 80 rows (done)</title>"));
    assert!(page.contains("<span class=\"status-failed\">failed</span>"));
    assert!(page.contains(
        "<td>data/rentals/2024-01-02.csv</td><td>7</td><td>station_id</td><td>not an int</td>"
    ));
    assert!(page.contains("1 check results recorded, 1 failed."));
    let daily = &site["relations/bike_share.station_daily.html"];
    assert!(daily.contains("<span class=\"fail\">failed</span>"));
    let index = &site["index.html"];
    assert!(index.contains("<td>3</td><td>2</td><td>1</td><td>2024-01-03</td>"));
    // Without history, none of it.
    let plain = build(&examples(), None);
    assert!(!plain["pipelines/bike_share.html"].contains("Run history"));
}
