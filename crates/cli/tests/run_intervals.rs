//! End-to-end tests of intervals that follow the schedule: hourly runs, days that cross a
//! daylight-saving change, `--at`, timestamp ranges, zones, and the migration of the state of
//! warehouses written when every interval was a UTC day.

use std::path::{Path, PathBuf};
use std::process::Output;

fn pipec(args: &[&str], dir: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pipec"))
        .env("NO_COLOR", "1")
        .args(args)
        .arg("--warehouse")
        .arg(dir.join("w.duckdb"))
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `pipec run spec.pipe <args> --format json` in `dir`; asserts success, returns the report.
fn run_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["run", "spec.pipe"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = pipec(&all, dir);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `(interval, status)` of every interval in a JSON report.
fn outcomes(report: &serde_json::Value) -> Vec<(String, String)> {
    report["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["interval"].as_str().unwrap().to_string(),
                i["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn rows(dir: &Path, query: &str) -> Vec<String> {
    let conn = duckdb::Connection::open(dir.join("w.duckdb")).unwrap();
    let mut stmt = conn.prepare(query).unwrap();
    let out = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    out
}

/// An hourly project in `dir`: `data/{ds}/{hh}.csv` for the given local hours of `day`, the
/// file of hour `h` holding `h + 1` rows `h,i`, appended to `raw.hits` with `@ds`, `{hh}` and
/// `@start`.
fn hourly_project(dir: &Path, schedule: &str, day: &str, hours: &[u32]) -> PathBuf {
    let data = dir.join("data").join(day);
    std::fs::create_dir_all(&data).unwrap();
    for &h in hours {
        let mut csv = String::from("hour,i\n");
        for i in 0..=h {
            csv.push_str(&format!("{h},{i}\n"));
        }
        std::fs::write(data.join(format!("{h:02}.csv")), csv).unwrap();
    }
    let spec = format!(
        r#"pipeline clicks {{
  schedule {schedule}
}}
source hits = csv("data/{{ds}}/{{hh}}.csv", header = true) {{ hour: int, i: int }}
transform tagged = hits
  | derive ds = @ds, started = @start, ended = @end
sink tagged -> raw.hits {{ mode append }}
"#
    );
    let file = dir.join("spec.pipe");
    std::fs::write(&file, spec).unwrap();
    file
}

#[test]
fn an_hourly_pipeline_runs_every_hour_of_the_date_each_reading_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hours: Vec<u32> = (0..24).collect();
    hourly_project(d, "every 1h", "2024-01-02", &hours);
    let report = run_json(d, &["--date", "2024-01-02"]);
    let done = outcomes(&report);
    assert_eq!(done.len(), 24, "{done:?}");
    assert!(done.iter().all(|(_, s)| s == "done"), "{done:?}");
    assert_eq!(done[5].0, "2024-01-02 05:00");
    assert_eq!(report["intervals"][5]["hh"], "05");
    assert_eq!(report["intervals"][5]["start"], "2024-01-02 05:00:00");
    assert_eq!(report["intervals"][5]["end"], "2024-01-02 06:00:00");
    // Hour h read data/2024-01-02/hh.csv (h + 1 rows) with @start = that hour.
    let per_hour = rows(
        d,
        "SELECT concat_ws(':', hour, count(*), min(started), min(ended), min(ds)) FROM raw.hits GROUP BY hour ORDER BY hour",
    );
    let want: Vec<String> = (0..24)
        .map(|h| {
            format!(
                "{h}:{}:2024-01-02 {h:02}:00:00:2024-01-{} {:02}:00:00:2024-01-02",
                h + 1,
                if h == 23 { "03" } else { "02" },
                (h + 1) % 24
            )
        })
        .collect();
    assert_eq!(per_hour, want);

    // --at runs the one interval containing the instant: already done, then forced. A forced
    // re-run of hour 5 replaces that hour's rows only (rows are tagged by interval, not date).
    let again = run_json(d, &["--at", "2024-01-02T05:59:59Z"]);
    assert_eq!(
        outcomes(&again),
        [("2024-01-02 05:00".to_string(), "skipped".to_string())]
    );
    let forced = run_json(d, &["--at", "2024-01-02T05:30:00Z", "--force"]);
    assert_eq!(
        outcomes(&forced),
        [("2024-01-02 05:00".to_string(), "done".to_string())]
    );
    assert_eq!(
        rows(d, "SELECT CAST(count(*) AS VARCHAR) FROM raw.hits"),
        ["300"],
        "1 + 2 + ... + 24 rows, none lost or duplicated"
    );
    let tags = rows(
        d,
        "SELECT CAST(count(DISTINCT _pipec_interval) AS VARCHAR) FROM raw.hits",
    );
    assert_eq!(tags, ["24"]);

    // A timestamp range: intervals starting from --from through --to.
    let range = run_json(
        d,
        &[
            "--from",
            "2024-01-02T22:00:00Z",
            "--to",
            "2024-01-02T23:00:00Z",
            "--force",
        ],
    );
    assert_eq!(
        outcomes(&range)
            .into_iter()
            .map(|(i, _)| i)
            .collect::<Vec<_>>(),
        ["2024-01-02 22:00", "2024-01-02 23:00"]
    );

    // `pipec runs` lists each hour, with its start in UTC.
    let history = pipec(&["runs"], d);
    let h = String::from_utf8_lossy(&history.stdout);
    assert!(h.contains("2024-01-02 05:00"), "{h}");
    assert!(h.contains("2024-01-02 23:00"), "{h}");
    assert_eq!(h.lines().filter(|l| l.starts_with("clicks")).count(), 24);
}

#[test]
fn a_spring_forward_day_in_new_york_has_23_hourly_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Local hour 02 does not exist on 2024-03-10.
    let hours: Vec<u32> = (0..24).filter(|h| *h != 2).collect();
    hourly_project(d, "hourly \"America/New_York\"", "2024-03-10", &hours);
    let report = run_json(d, &["--date", "2024-03-10"]);
    let done = outcomes(&report);
    assert_eq!(done.len(), 23, "{done:?}");
    assert!(done.iter().all(|(_, s)| s == "done"), "{done:?}");
    assert_eq!(done[2].0, "2024-03-10 03:00");
    // Local 00:00 EST is 05:00 UTC; local 03:00 EDT is 07:00 UTC.
    assert_eq!(report["intervals"][0]["start"], "2024-03-10 05:00:00");
    assert_eq!(report["intervals"][2]["start"], "2024-03-10 07:00:00");
    assert_eq!(report["intervals"][22]["end"], "2024-03-11 04:00:00");
    let per_hour = rows(
        d,
        "SELECT concat_ws(':', hour, count(*), min(started)) FROM raw.hits WHERE hour IN (1, 3) GROUP BY hour ORDER BY hour",
    );
    assert_eq!(
        per_hour,
        ["1:2:2024-03-10 06:00:00", "3:4:2024-03-10 07:00:00"]
    );
    assert_eq!(
        rows(d, "SELECT CAST(count(*) AS VARCHAR) FROM raw.hits"),
        ["297"],
        "1 + 2 + ... + 24 rows but hour 02's 3"
    );
}

fn seoul_project(dir: &Path) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for day in ["2024-01-02", "2024-01-03"] {
        std::fs::write(
            dir.join("data").join(format!("{day}.csv")),
            format!("day,n\n{day},1\n{day},2\n"),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("spec.pipe"),
        r#"pipeline seoul {
  schedule daily at 03:00 "Asia/Seoul"
}
source visits = csv("data/{ds}.csv", header = true) { day: date, n: int }
transform bounded = visits
  | derive started = @start, ended = @end
sink bounded -> raw.visits { mode append }
"#,
    )
    .unwrap();
}

#[test]
fn a_daily_seoul_interval_starts_at_the_previous_day_15_00_utc() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seoul_project(d);
    let report = run_json(d, &["--date", "2024-01-02"]);
    assert_eq!(
        outcomes(&report),
        [("2024-01-02".to_string(), "done".to_string())]
    );
    assert_eq!(report["intervals"][0]["start"], "2024-01-01 15:00:00");
    assert_eq!(
        rows(
            d,
            "SELECT DISTINCT concat_ws(' ', started, ended) FROM raw.visits"
        ),
        ["2024-01-01 15:00:00 2024-01-02 15:00:00"]
    );
    // An instant of the 2nd in Seoul that is still the 1st in UTC belongs to the 2nd.
    let at = run_json(d, &["--at", "2024-01-01T16:00:00Z"]);
    assert_eq!(
        outcomes(&at),
        [("2024-01-02".to_string(), "skipped".to_string())]
    );
}

/// pipec's state tables as they were before intervals followed the schedule (layout 1).
const V1_DDL: &str = "
CREATE SCHEMA IF NOT EXISTS _pipec;
CREATE TABLE IF NOT EXISTS _pipec.intervals (pipeline VARCHAR, ds DATE, status VARCHAR, run_id VARCHAR, finished_at TIMESTAMP, rows_written BIGINT, PRIMARY KEY (pipeline, ds));
CREATE TABLE IF NOT EXISTS _pipec.runs (run_id VARCHAR, pipeline VARCHAR, ds DATE, status VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, attempts INTEGER, error VARCHAR);
CREATE TABLE IF NOT EXISTS _pipec.watermarks (pipeline VARCHAR, name VARCHAR, value VARCHAR, PRIMARY KEY (pipeline, name));
CREATE TABLE IF NOT EXISTS _pipec.check_results (run_id VARCHAR, pipeline VARCHAR, ds DATE, relation VARCHAR, rule VARCHAR, passed BOOLEAN, detail VARCHAR);
CREATE TABLE IF NOT EXISTS _pipec.rejects (pipeline VARCHAR, ds DATE, source VARCHAR, file VARCHAR, line BIGINT, column_name VARCHAR, error VARCHAR);
";

#[test]
fn a_warehouse_of_the_old_layout_migrates_and_its_done_dates_stay_done() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seoul_project(d);
    {
        // What an older pipec left after running `seoul` for 2024-01-02: its state keyed by the
        // date, and its append table tagged with the date in `_pipec_ds`.
        let conn = duckdb::Connection::open(d.join("w.duckdb")).unwrap();
        conn.execute_batch(V1_DDL).unwrap();
        conn.execute_batch(
            "INSERT INTO _pipec.intervals VALUES ('seoul', DATE '2024-01-02', 'done', 'r1', TIMESTAMP '2024-01-03 02:00:00', 2);
             INSERT INTO _pipec.runs VALUES ('r1', 'seoul', DATE '2024-01-02', 'done', TIMESTAMP '2024-01-03 01:59:00', TIMESTAMP '2024-01-03 02:00:00', 1, NULL);
             INSERT INTO _pipec.runs VALUES ('r0', 'gone', DATE '2023-12-31', 'failed', TIMESTAMP '2024-01-01 01:59:00', TIMESTAMP '2024-01-01 02:00:00', 1, 'boom');
             INSERT INTO _pipec.check_results VALUES ('r1', 'seoul', DATE '2024-01-02', 'bounded', 'row_count(min = 1)', true, '2 rows');
             INSERT INTO _pipec.rejects VALUES ('seoul', DATE '2024-01-02', 'visits', 'data/2024-01-02.csv', 3, 'n', 'bad');
             CREATE SCHEMA raw;
             CREATE TABLE raw.visits (day DATE NOT NULL, n INTEGER NOT NULL, started TIMESTAMP NOT NULL, ended TIMESTAMP NOT NULL, \"_pipec_ds\" DATE NOT NULL);
             INSERT INTO raw.visits VALUES (DATE '2024-01-02', 1, TIMESTAMP '2024-01-02 00:00:00', TIMESTAMP '2024-01-03 00:00:00', DATE '2024-01-02'),
                                           (DATE '2024-01-02', 2, TIMESTAMP '2024-01-02 00:00:00', TIMESTAMP '2024-01-03 00:00:00', DATE '2024-01-02');",
        )
        .unwrap();
    }
    // `pipec runs` reads the old layout without changing it.
    let history = pipec(&["runs"], d);
    assert!(history.status.success(), "{}", text(&history));
    assert!(text(&history).contains("2024-01-02"), "{}", text(&history));
    // The old done date is done: it maps to the Seoul day's interval.
    let report = run_json(d, &["--date", "2024-01-02"]);
    assert_eq!(
        outcomes(&report),
        [("2024-01-02".to_string(), "skipped".to_string())],
        "{report}"
    );
    assert_eq!(
        rows(
            d,
            "SELECT CAST(max(version) AS VARCHAR) FROM _pipec.schema_version"
        ),
        ["3"]
    );
    assert_eq!(
        rows(
            d,
            "SELECT concat_ws(' ', pipeline, interval_start, ds, label) FROM _pipec.runs ORDER BY 1"
        ),
        [
            // Not in the project: the UTC day the old pipec ran.
            "gone 2023-12-31 00:00:00 2023-12-31 2023-12-31",
            "seoul 2024-01-01 15:00:00 2024-01-02 2024-01-02",
        ]
    );
    for t in ["check_results", "rejects", "intervals"] {
        assert_eq!(
            rows(
                d,
                &format!("SELECT CAST(interval_start AS VARCHAR) FROM _pipec.{t}")
            ),
            ["2024-01-01 15:00:00"],
            "{t}"
        );
    }
    // The next date appends; the old table's rows are retagged by interval start.
    run_json(d, &["--date", "2024-01-03"]);
    assert_eq!(
        rows(
            d,
            "SELECT concat_ws(' ', _pipec_interval, count(*)) FROM raw.visits GROUP BY _pipec_interval ORDER BY 1"
        ),
        ["2024-01-01 15:00:00 2", "2024-01-02 15:00:00 2"]
    );
    // A forced re-run of the old date replaces its rows instead of adding to them.
    run_json(d, &["--date", "2024-01-02", "--force"]);
    assert_eq!(
        rows(d, "SELECT CAST(count(*) AS VARCHAR) FROM raw.visits"),
        ["4"]
    );
}

#[test]
fn a_unit_test_runs_the_first_interval_of_its_date_under_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("spec.pipe"),
        r#"pipeline seoul {
  schedule every 1h "Asia/Seoul"
}
source visits = csv("data/{ds}/{hh}.csv", header = true) { n: int }
transform bounded = visits
  | derive started = @start, ended = @end
sink bounded -> raw.visits { mode append }
test first_hour for bounded {
  ds 2024-01-02
  given visits (n) { (1) }
  expect (n, started, ended) { (1, 2024-01-01 15:00, 2024-01-01 16:00) }
}
"#,
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipec"))
        .env("NO_COLOR", "1")
        .args(["test", "spec.pipe"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_daily_pipeline_reading_an_hourly_ones_table_runs_after_its_last_hour() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hours: Vec<u32> = (0..24).collect();
    hourly_project(d, "every 1h", "2024-01-02", &hours);
    std::fs::write(
        d.join("daily.pipe"),
        r#"pipeline daily_hits {
  schedule daily
}
source hits = table("raw.hits")
transform per_day = hits
  | filter ds == @ds
  | aggregate { n = count(), hours = count_distinct(hour) }
  | derive ds = @ds
sink per_day -> mart.hits_per_day { mode merge on (ds) }
"#,
    )
    .unwrap();
    let out = pipec(
        &[
            "run",
            "spec.pipe",
            "daily.pipe",
            "--date",
            "2024-01-02",
            "--format",
            "json",
        ],
        d,
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let order: Vec<String> = report["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["pipeline"].as_str().unwrap(),
                i["interval"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(order.len(), 25);
    assert_eq!(order[23], "clicks 2024-01-02 23:00");
    assert_eq!(order[24], "daily_hits 2024-01-02");
    assert_eq!(
        rows(
            d,
            "SELECT concat_ws(' ', ds, n, hours) FROM mart.hits_per_day"
        ),
        ["2024-01-02 300 24"]
    );
}

#[test]
fn state_of_a_newer_layout_is_refused_and_a_failed_migration_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seoul_project(d);
    {
        let conn = duckdb::Connection::open(d.join("w.duckdb")).unwrap();
        conn.execute_batch(
            "CREATE SCHEMA _pipec; CREATE TABLE _pipec.schema_version (version INTEGER NOT NULL);
             INSERT INTO _pipec.schema_version VALUES (4);
             CREATE TABLE _pipec.intervals (anything VARCHAR);",
        )
        .unwrap();
    }
    let out = pipec(&["run", "spec.pipe", "--date", "2024-01-02"], d);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("E0525"), "{}", text(&out));
    assert!(text(&out).contains("layout 4"), "{}", text(&out));
    let runs = pipec(&["runs"], d);
    assert!(text(&runs).contains("E0525"), "{}", text(&runs));

    // Layout 1 tables changed by hand (a column dropped): the migration fails as a whole.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seoul_project(d);
    {
        let conn = duckdb::Connection::open(d.join("w.duckdb")).unwrap();
        conn.execute_batch(V1_DDL).unwrap();
        conn.execute_batch(
            "INSERT INTO _pipec.intervals VALUES ('seoul', DATE '2024-01-02', 'done', 'r1', TIMESTAMP '2024-01-03 02:00:00', 2);
             ALTER TABLE _pipec.runs DROP COLUMN attempts;",
        )
        .unwrap();
    }
    let out = pipec(&["run", "spec.pipe", "--date", "2024-01-02"], d);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("E0526"), "{}", text(&out));
    assert!(text(&out).contains("attempts"), "{}", text(&out));
    assert_eq!(
        rows(
            d,
            "SELECT concat_ws(' ', pipeline, ds, status) FROM _pipec.intervals"
        ),
        ["seoul 2024-01-02 done"],
        "the old state is as it was"
    );
    assert_eq!(
        rows(
            d,
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = '_pipec' AND table_name = 'schema_version'"
        ),
        Vec::<String>::new()
    );
}
