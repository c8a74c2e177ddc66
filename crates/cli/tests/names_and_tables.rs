//! End-to-end: column names match ignoring case (the generated SQL uses the declared spelling),
//! and a `table(...)` source without a schema block reads the table with the schema of the sink
//! that writes it.

mod common;

use common::*;
use std::process::Command;

#[test]
fn a_table_source_takes_its_writers_schema_and_columns_match_ignoring_case() {
    let dir = tempfile::tempdir().unwrap();
    write_all(
        dir.path(),
        &[
            (
                "data/rentals/2024-01-01.csv",
                "Rental_ID,Station_ID,Minutes\nr1,1,10.0\nr2,1,\nr3,2,30.0\nr4,0,5.0\n",
            ),
            (
                "specs/ingest.pipe",
                r#"pipeline ingest {}
source rentals = csv("../data/rentals/{ds}.csv", header = true) {
  Rental_ID: string,
  Station_ID: int,
  Minutes: float?,
}
transform station_daily = rentals
  | filter station_id > 0
  | derive ds = @ds
  | group DS, STATION_ID { rides = count(), avg_minutes = avg(MINUTES) }
sink station_daily -> mart.station_daily { mode merge on (ds, station_id) }
"#,
            ),
            (
                "specs/report.pipe",
                r#"pipeline report {}
source daily = table("mart.station_daily")
transform busy = daily
  | filter RIDES >= 2 and avg_minutes is not null
  | select Station_Id, rides
sink busy -> mart.busy_stations
"#,
            ),
        ],
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pipec"))
        .env("NO_COLOR", "1")
        .args(["run", "specs", "--date", "2024-01-01", "--warehouse"])
        .arg(dir.path().join("w.duckdb"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let conn = duckdb::Connection::open(dir.path().join("w.duckdb")).unwrap();
    // The declared spellings are the table's column names.
    let mut stmt = conn
        .prepare(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = 'mart' AND table_name = 'busy_stations' ORDER BY ordinal_position",
        )
        .unwrap();
    let columns: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(columns, ["Station_ID", "rides"]);
    let mut stmt = conn
        .prepare("SELECT \"Station_ID\", rides FROM mart.busy_stations")
        .unwrap();
    let rows: Vec<(i32, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, [(1, 2)]);
}

#[test]
fn a_full_join_keeps_keys_spelled_differently_on_each_side() {
    let dir = tempfile::tempdir().unwrap();
    write_all(
        dir.path(),
        &[
            ("data/a.csv", "Station_ID,rides\n1,10\n2,20\n"),
            ("data/b.csv", "station_id,racks\n2,5\n3,7\n"),
            (
                "j.pipe",
                r#"pipeline j {}
source a = csv("data/a.csv", header = true) { Station_ID: int, rides: int }
source b = csv("data/b.csv", header = true) { station_id: int, racks: int }
transform both = a | join full b using (Station_ID)
sink both -> mart.both
"#,
            ),
        ],
    );
    let out = pipec_in(dir.path(), &["run", "j.pipe", "--date", "2024-01-01"]);
    assert!(out.status.success(), "{}", text(&out));
    let conn = duckdb::Connection::open(dir.path().join("w.duckdb")).unwrap();
    let rows: Vec<(Option<i32>, Option<i32>, Option<i32>)> = conn
        .prepare("SELECT \"Station_ID\", rides, racks FROM mart.both ORDER BY 1")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // Station 3 exists only on the right: its key comes from the right side, not a null.
    assert_eq!(
        rows,
        [
            (Some(1), Some(10), None),
            (Some(2), Some(20), Some(5)),
            (Some(3), None, Some(7))
        ]
    );
}
