//! End-to-end tests of how `pipec run` loads and publishes data: rejects and line numbers,
//! `table(...)` sources that do not fit their table, partitioned sinks, the constraints of the
//! tables pipec creates, and `pipec test` fixtures.

mod common;

use common::*;

const REJECTS: &str = r#"pipeline rides {}
source rides = csv("data/{ds}.csv", header = true, on_error = "reject") {
  ride_id: string, station_id: int, minutes: int
}
sink rides -> raw.rides { mode replace }
"#;

/// Every rejected row has its own `_pipec.rejects` entry with its file line (header = line 1),
/// nulls in non-null columns as much as values that do not fit, and the summary counts rows.
#[test]
fn every_rejected_row_is_recorded_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "data/2024-01-01.csv",
        // line 2: null ride_id; line 4: not an int; line 5: null station_id.
        "ride_id,station_id,minutes\n,1,10\nr2,1,20\nr4,x,40\nr3,,30\nr5,2,50\n",
    );
    let wh = dir.path().join("w.duckdb");
    let out = run_in(
        dir.path(),
        "rides.pipe",
        REJECTS,
        &wh,
        &["--date", "2024-01-01", "--format", "json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let node = report["intervals"][0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "rides")
        .unwrap()
        .clone();
    assert_eq!(node["rejected"], 3, "{node}");
    assert_eq!(node["rows"], 2, "{node}");
    let rejects = query(
        &wh,
        "SELECT line, column_name, file LIKE '%2024-01-01.csv' AS f FROM _pipec.rejects ORDER BY line",
    );
    assert_eq!(
        rejects,
        [
            "{'line': 2, 'column_name': ride_id, 'f': true}",
            "{'line': 4, 'column_name': station_id, 'f': true}",
            "{'line': 5, 'column_name': station_id, 'f': true}",
        ]
    );
    assert_eq!(
        query(&wh, "SELECT ride_id FROM raw.rides ORDER BY 1"),
        ["{'ride_id': r2}", "{'ride_id': r5}"]
    );
}

/// A null in a non-null column without `on_error` fails the run naming the file line, streamed
/// (read by one transform) or staged, like a value that does not fit.
#[test]
fn a_null_in_a_non_null_column_names_its_file_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "data/2024-01-02.csv",
        "ride_id,station_id,minutes\nr1,1,10\nr2,1,20\nr3,,30\n",
    );
    let wh = dir.path().join("w.duckdb");
    let staged = REJECTS.replace(", on_error = \"reject\"", "");
    let out = run_in(
        dir.path(),
        "a.pipe",
        &staged,
        &wh,
        &["--date", "2024-01-02"],
    );
    assert_failed_with(&out, &["E0502", "2024-01-02.csv line 4", "station_id"]);
    let streamed = staged.replace(
        "sink rides -> raw.rides { mode replace }",
        "transform n = rides | aggregate { n = count() }\nsink n -> mart.n",
    );
    let out = run_in(
        dir.path(),
        "b.pipe",
        &streamed,
        &wh,
        &["--date", "2024-01-02"],
    );
    assert_failed_with(&out, &["E0502", "2024-01-02.csv line 4", "station_id"]);
}

/// With `on_error = "reject"`, an ndjson row with several bad values is one reject, on its line.
#[test]
fn an_ndjson_row_with_two_bad_values_is_one_reject() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "data/2024-01-01.ndjson",
        "{\"id\": 1, \"n\": 2}\n{\"id\": \"x\", \"n\": \"y\"}\n{\"id\": 3, \"n\": null}\n",
    );
    let spec = r#"pipeline j {}
source rows = ndjson("data/{ds}.ndjson", on_error = "reject") { id: int, n: int }
sink rows -> raw.rows
"#;
    let wh = dir.path().join("w.duckdb");
    let out = run_in(dir.path(), "j.pipe", spec, &wh, &["--date", "2024-01-01"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        query(
            &wh,
            "SELECT line, column_name FROM _pipec.rejects ORDER BY line"
        ),
        [
            "{'line': 2, 'column_name': id}",
            "{'line': 3, 'column_name': n}"
        ]
    );
}

const WRITER: &str = r#"pipeline writer {}
source rows = csv("data/{ds}.csv", header = true) { station_id: string, rides: int }
sink rows -> raw.stations { mode replace }
"#;

/// A `table(...)` source that does not fit its table fails with E0515 naming the column and both
/// types, and is not retried; a table that does not exist yet stays E0503.
#[test]
fn a_table_source_that_does_not_fit_its_table_is_e0515_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("w.duckdb");
    write(
        dir.path(),
        "data/2024-01-01.csv",
        "station_id,rides\nST-1,3\nST-2,4\n",
    );
    // The reader lives in another folder, so `pipec check` does not see the writer's sink.
    let reader_dir = dir.path().join("reader");
    std::fs::create_dir(&reader_dir).unwrap();
    let reader = |schema: &str| {
        format!(
            "pipeline reader {{ retries 3 backoff 30m }}\nsource s = table(\"raw.stations\") {{ {schema} }}\nsink s -> mart.copy\n"
        )
    };
    let out = run_in(
        &reader_dir,
        "r.pipe",
        &reader("station_id: string, rides: int"),
        &wh,
        &["--date", "2024-01-01"],
    );
    assert_failed_with(&out, &["E0503", "`raw.stations` does not exist yet"]);

    let out = run_in(dir.path(), "w.pipe", WRITER, &wh, &["--date", "2024-01-01"]);
    assert!(out.status.success(), "{}", text(&out));

    let started = std::time::Instant::now();
    let out = run_in(
        &reader_dir,
        "r.pipe",
        &reader("station_id: int, rides: int"),
        &wh,
        &["--date", "2024-01-01", "--force", "--format", "json"],
    );
    assert_failed_with(
        &out,
        &[
            "E0515",
            "column `station_id` of warehouse table `raw.stations` is string but declared int",
            "2 value(s) do not convert",
        ],
    );
    assert!(!text(&out).contains("Binder Error"), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["intervals"][0]["attempts"], 1, "{report}");
    assert!(started.elapsed().as_secs() < 60, "retried: {}", text(&out));

    let out = run_in(
        &reader_dir,
        "r.pipe",
        &reader("station_id: string, rides: int, district: string"),
        &wh,
        &["--date", "2024-01-01", "--force"],
    );
    assert_failed_with(
        &out,
        &[
            "E0515",
            "warehouse table `raw.stations` has no column `district` (declared `district: string`)",
        ],
    );
}

const PARTITIONED: &str = r#"pipeline daily {}
source counts = csv("data/{ds}.csv", header = true) { station_id: int, rides: int, note: string? }
transform by_day = counts | derive ds = @ds
sink by_day -> mart.by_day { mode merge on (station_id) partition by ds }
sink by_day -> mart.days { mode replace partition by ds }
"#;

/// With `partition by ds`, a run merges and replaces only within its own partition: day 2's
/// rows with day 1's keys leave day 1's rows as they were.
#[test]
fn a_partitioned_run_changes_only_its_own_partition() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("w.duckdb");
    write(
        dir.path(),
        "data/2024-01-01.csv",
        "station_id,rides,note\n1,10,a\n2,20,b\n",
    );
    write(
        dir.path(),
        "data/2024-01-02.csv",
        "station_id,rides,note\n1,11,c\n2,21,d\n",
    );
    for day in ["2024-01-01", "2024-01-02"] {
        let out = run_in(dir.path(), "d.pipe", PARTITIONED, &wh, &["--date", day]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let all = "SELECT ds, station_id, rides FROM mart.by_day ORDER BY ds, station_id";
    let want = [
        "{'ds': 2024-01-01, 'station_id': 1, 'rides': 10}",
        "{'ds': 2024-01-01, 'station_id': 2, 'rides': 20}",
        "{'ds': 2024-01-02, 'station_id': 1, 'rides': 11}",
        "{'ds': 2024-01-02, 'station_id': 2, 'rides': 21}",
    ];
    assert_eq!(query(&wh, all), want);
    assert_eq!(query(&wh, &all.replace("mart.by_day", "mart.days")), want);

    // Day 1 again with one station fewer and a new value: only day 1's partition changes.
    write(
        dir.path(),
        "data/2024-01-01.csv",
        "station_id,rides,note\n1,12,e\n",
    );
    let out = run_in(
        dir.path(),
        "d.pipe",
        PARTITIONED,
        &wh,
        &["--date", "2024-01-01", "--force"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        query(&wh, all),
        [
            "{'ds': 2024-01-01, 'station_id': 1, 'rides': 12}",
            "{'ds': 2024-01-01, 'station_id': 2, 'rides': 20}",
            "{'ds': 2024-01-02, 'station_id': 1, 'rides': 11}",
            "{'ds': 2024-01-02, 'station_id': 2, 'rides': 21}",
        ],
        "merge keeps day 1's other keys and never touches day 2"
    );
    assert_eq!(
        query(&wh, &all.replace("mart.by_day", "mart.days")),
        [
            "{'ds': 2024-01-01, 'station_id': 1, 'rides': 12}",
            "{'ds': 2024-01-02, 'station_id': 1, 'rides': 11}",
            "{'ds': 2024-01-02, 'station_id': 2, 'rides': 21}",
        ],
        "replace overwrites day 1's partition only"
    );
}

/// A run row outside the run's partition is refused (E0516) and nothing is published.
#[test]
fn a_row_outside_the_runs_partition_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("w.duckdb");
    write(
        dir.path(),
        "data/2024-01-03.csv",
        "station_id,rides,note\n1,10,a\n",
    );
    let spec = PARTITIONED.replace("derive ds = @ds", "derive ds = (@ds - 1d)::date");
    let out = run_in(dir.path(), "d.pipe", &spec, &wh, &["--date", "2024-01-03"]);
    assert_failed_with(
        &out,
        &[
            "E0516",
            "1 row(s) of `by_day` have `ds` other than the run's 2024-01-03",
        ],
    );
    let tables = query(
        &wh,
        "SELECT count(*) AS n FROM duckdb_tables() WHERE schema_name = 'mart'",
    );
    assert_eq!(tables, ["{'n': 0}"], "nothing published");
}

/// Tables pipec creates declare `NOT NULL` on non-null columns and the merge key (with the
/// partition column) as their primary key.
#[test]
fn created_tables_declare_not_null_and_the_merge_key() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("w.duckdb");
    write(
        dir.path(),
        "data/2024-01-01.csv",
        "station_id,rides,note\n1,10,\n",
    );
    let spec =
        format!("{PARTITIONED}sink counts -> raw.counts {{ mode merge on (station_id, note) }}\n");
    let out = run_in(dir.path(), "d.pipe", &spec, &wh, &["--date", "2024-01-01"]);
    assert!(out.status.success(), "{}", text(&out));
    let constraints = |table: &str| {
        query(
            &wh,
            &format!(
                "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() WHERE schema_name = 'mart' AND table_name = '{table}' OR schema_name = 'raw' AND table_name = '{table}' ORDER BY 1, 2"
            ),
        )
    };
    assert_eq!(
        constraints("by_day"),
        [
            "{'constraint_type': NOT NULL, 'constraint_column_names': [ds]}",
            "{'constraint_type': NOT NULL, 'constraint_column_names': [rides]}",
            "{'constraint_type': NOT NULL, 'constraint_column_names': [station_id]}",
            "{'constraint_type': PRIMARY KEY, 'constraint_column_names': [ds, station_id]}",
        ]
    );
    // A nullable merge key cannot be a primary key: only the NOT NULLs.
    assert_eq!(
        constraints("counts"),
        [
            "{'constraint_type': NOT NULL, 'constraint_column_names': [rides]}",
            "{'constraint_type': NOT NULL, 'constraint_column_names': [station_id]}",
        ]
    );
}

const TESTED: &str = r#"pipeline t {}
source rentals = csv("data/{ds}.csv") {
  rental_id: string, station_id: int, rented_at: timestamp, distance_m: float?
}
transform per_station = rentals
  | filter rented_at >= @start and rented_at < @end
  | group station_id { rides = count(), km = sum(distance_m) }
sink per_station -> mart.per_station
test counts for per_station {
  ds 2024-01-01
  given rentals (rental_id, station_id) {
    ("r1", 1),
    ("r2", 1),
  }DEFAULTS
  expect (station_id, rides) { (1, 2) }
}
"#;

/// `pipec test` refuses a fixture that leaves out a non-nullable column, naming it; with a
/// `defaults` clause for it the same test runs and passes.
#[test]
fn fixtures_give_non_null_columns_a_value_or_a_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.pipe", &TESTED.replace("DEFAULTS", ""));
    let out = pipec().arg("test").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("E0211"), "{}", text(&out));
    assert!(
        text(&out).contains("leaves out non-nullable column `rented_at`"),
        "{}",
        text(&out)
    );

    let with_defaults = TESTED.replace("DEFAULTS", " defaults { rented_at = 2024-01-01 08:00 }");
    let file = write(dir.path(), "t.pipe", &with_defaults);
    let out = pipec().arg("test").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(" 0 failed"), "{}", text(&out));

    // The default reaches the rows: a day before the test's interval filters them all out.
    let earlier = with_defaults.replace("2024-01-01 08:00", "2023-12-31 08:00");
    let file = write(dir.path(), "t.pipe", &earlier);
    let out = pipec().arg("test").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("E0511"), "{}", text(&out));
}
