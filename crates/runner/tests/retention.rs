//! `expire after` on a real DuckDB warehouse: three daily runs with `expire after 1d` leave the
//! last two partitions (and files); a failed run deletes nothing; `archive` is reported as not
//! applicable.

use std::path::Path;

use chrono::NaiveDate;
use pipec_diag::SourceMap;
use pipec_runner::{Bound, Dates, RunOptions, Secrets, Status};

const SPEC: &str = r#"
pipeline visits { schedule daily }

source raw = csv("in/{ds}.csv") { path: string, n: int }
  archive after 30d

transform daily = raw | derive ds = @ds

check daily { n >= 0 }

sink daily -> mart.daily {
  partition by ds
  expire after 1d
}

sink daily -> mart.daily_all { mode append  archive after 7d to glacier_ir }

sink daily -> csv("out/{yyyy}/{mm}/{dd}.csv") { expire after 1d }
"#;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Runs the days `from..=to` of the spec in `dir` on `dir/w.duckdb`.
fn run(dir: &Path, from: &str, to: &str) -> pipec_runner::RunReport {
    let file = dir.join("visits.pipe");
    std::fs::write(&file, SPEC).unwrap();
    let mut sources = SourceMap::new();
    let root = sources.add(file.to_string_lossy().into_owned(), SPEC.to_string());
    let checked = pipec_check::check(&mut sources, &[root], &pipec_check::NoFiles);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let plan = pipec_plan::plan(&checked.project).expect("plans");
    let opts = RunOptions {
        warehouse: dir.join("w.duckdb"),
        dates: Dates::Range(Bound::Day(day(from)), Bound::Day(day(to))),
        force: false,
        wait: false,
        progress: false,
        pipelines: Vec::new(),
        retry: false,
        full_refresh: false,
        jobs: 1,
    };
    pipec_runner::run(&checked.project, &plan, &opts, &Secrets::from_fn(|_| None)).expect("runs")
}

fn partitions(dir: &Path) -> Vec<(String, i64)> {
    let conn = duckdb::Connection::open(dir.join("w.duckdb")).unwrap();
    let mut stmt = conn
        .prepare("SELECT CAST(ds AS VARCHAR), count(*) FROM mart.daily GROUP BY ds ORDER BY ds")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows
}

#[test]
fn expire_deletes_old_partitions_and_files_in_the_publish_and_reports_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("in")).unwrap();
    for (d, rows) in [("2024-01-01", 2), ("2024-01-02", 3), ("2024-01-03", 4)] {
        let body: String = (0..rows).map(|i| format!("/p{i},{i}\n")).collect();
        std::fs::write(dir.join(format!("in/{d}.csv")), format!("path,n\n{body}")).unwrap();
    }
    // A file the sink's template does not match is never touched.
    std::fs::create_dir_all(dir.join("out/2023/12")).unwrap();
    std::fs::write(dir.join("out/2023/12/notes.txt"), "keep").unwrap();

    let report = run(dir, "2024-01-01", "2024-01-03");
    assert!(
        report.intervals.iter().all(|i| i.status == Status::Done),
        "{}",
        report.table()
    );
    // Day 3 keeps 2024-01-02 (1 day old) and deletes 2024-01-01.
    assert_eq!(
        partitions(dir),
        [("2024-01-02".to_string(), 3), ("2024-01-03".to_string(), 4)]
    );
    assert!(!dir.join("out/2024/01/01.csv").exists());
    assert!(dir.join("out/2024/01/02.csv").exists());
    assert!(dir.join("out/2024/01/03.csv").exists());
    assert!(dir.join("out/2023/12/notes.txt").exists());

    let third = &report.intervals[2];
    let table = report.table();
    let details: Vec<&str> = third.retention.iter().map(|r| r.detail.as_str()).collect();
    assert!(
        details
            .contains(&"expire after 1d: 1 partition(s), 2 row(s) dated before 2024-01-02 deleted"),
        "{details:?}"
    );
    assert!(
        details.contains(&"expire after 1d: 1 file(s) dated before 2024-01-02 deleted"),
        "{details:?}"
    );
    assert!(
        table.contains("retention mart.daily_all: archive after 7d to glacier_ir: not applicable on the local warehouse"),
        "{table}"
    );
    assert!(
        table.contains(
            "retention raw: archive after 30d to glacier: not applicable on the local warehouse"
        ),
        "{table}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["intervals"][2]["retention"][0]["action"], "expire");
    assert_eq!(json["intervals"][2]["retention"][0]["removed"], 2);

    // A failed run publishes nothing and expires nothing: day 4's check fails.
    std::fs::write(dir.join("in/2024-01-04.csv"), "path,n\n/x,-1\n").unwrap();
    let report = run(dir, "2024-01-04", "2024-01-04");
    assert_eq!(
        report.intervals[0].status,
        Status::Failed,
        "{}",
        report.table()
    );
    assert!(report.intervals[0].retention.is_empty());
    assert_eq!(
        partitions(dir),
        [("2024-01-02".to_string(), 3), ("2024-01-03".to_string(), 4)]
    );
    assert!(dir.join("out/2024/01/02.csv").exists());
}
