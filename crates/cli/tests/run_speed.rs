//! `pipec run` reads a source whose data cannot change from one interval to the next (a file at a
//! path without placeholders, unchanged; an HTTP URL without placeholders) once per command,
//! while every interval still computes what it computed before.

mod common;

use common::*;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Rentals of each of the first three days of 2024, and the stations reference file.
fn rentals_and_stations(dir: &Path, stations: &str) {
    std::fs::create_dir_all(dir.join("data/rentals")).unwrap();
    for (day, ids) in [("01", "1\n2\n"), ("02", "2\n3\n"), ("03", "3\n3\n")] {
        std::fs::write(
            dir.join(format!("data/rentals/2024-01-{day}.csv")),
            format!("station_id\n{ids}"),
        )
        .unwrap();
    }
    std::fs::write(dir.join("data/stations.csv"), stations).unwrap();
}

const RIDES: &str = r#"pipeline rides { start 2024-01-01  retries 0 }
source rentals = csv("data/rentals/{ds}.csv", header = true) { station_id: int }
source stations = csv("data/stations.csv", header = true) { station_id: int, district: string }
transform daily = rentals
  | join stations using (station_id)
  | derive ds = @ds
  | group ds, district { rides = count() }
sink daily -> mart.daily { mode replace partition by ds }
"#;

const STATIONS: &str = "station_id,district\n1,north\n2,north\n3,south\n";

#[test]
fn a_reference_file_is_read_once_per_backfill() {
    let dir = tempfile::tempdir().unwrap();
    rentals_and_stations(dir.path(), STATIONS);
    std::fs::write(dir.path().join("rides.pipe"), RIDES).unwrap();
    let (out, report) = run_json(
        dir.path(),
        &["rides.pipe"],
        &["--from", "2024-01-01", "--to", "2024-01-03"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        node_of(&report, "rides", "stations"),
        vec![
            ("2024-01-01".into(), 3, false),
            ("2024-01-02".into(), 3, true),
            ("2024-01-03".into(), 3, true),
        ],
        "read on the first day, reused after: {report:#}"
    );
    // The per-day file is read every day.
    assert!(node_of(&report, "rides", "rentals").iter().all(|n| !n.2));
    assert_eq!(
        query_strings_in(
            dir.path(),
            "SELECT ds || ' ' || district || ' ' || rides FROM mart.daily ORDER BY ALL"
        ),
        [
            "2024-01-01 north 2",
            "2024-01-02 north 1",
            "2024-01-02 south 1",
            "2024-01-03 south 2"
        ]
    );
    // The text summary says so too.
    let out = pipec()
        .args([
            "run",
            "rides.pipe",
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-02",
        ])
        .args(["--force", "--warehouse", "w.duckdb"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert_eq!(t.matches("stations (reused)").count(), 1, "{t}");
}

#[test]
fn a_reference_file_changed_between_commands_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    rentals_and_stations(dir.path(), STATIONS);
    std::fs::write(dir.path().join("rides.pipe"), RIDES).unwrap();
    let (out, _) = run_json(
        dir.path(),
        &["rides.pipe"],
        &["--from", "2024-01-01", "--to", "2024-01-02"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Station 3 moves to the west, and a fourth station appears.
    std::fs::write(
        dir.path().join("data/stations.csv"),
        "station_id,district\n1,north\n2,north\n3,west\n4,west\n",
    )
    .unwrap();
    let (out, report) = run_json(
        dir.path(),
        &["rides.pipe"],
        &["--from", "2024-01-02", "--to", "2024-01-03", "--force"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        node_of(&report, "rides", "stations"),
        vec![
            ("2024-01-02".into(), 4, false),
            ("2024-01-03".into(), 4, true)
        ],
        "{report:#}"
    );
    assert_eq!(
        query_strings_in(
            dir.path(),
            "SELECT ds || ' ' || district || ' ' || rides FROM mart.daily ORDER BY ALL"
        ),
        [
            "2024-01-01 north 2",
            "2024-01-02 north 1",
            "2024-01-02 west 1",
            "2024-01-03 west 2"
        ]
    );
}

/// A file rewritten between two intervals of one command (here by another pipeline's file sink)
/// is read again: each interval sees the file as it is when it runs.
#[test]
fn a_reference_file_rewritten_during_a_backfill_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    rentals_and_stations(dir.path(), STATIONS);
    std::fs::write(
        dir.path().join("writer.pipe"),
        r#"pipeline writer { start 2024-01-01  retries 0 }
source rentals = csv("data/rentals/{ds}.csv", header = true) { station_id: int }
transform latest = rentals | derive seen = @ds
sink latest -> csv("data/latest.csv")
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("reader.pipe"),
        r#"pipeline reader { schedule after writer  start 2024-01-01  retries 0 }
source latest = csv("data/latest.csv", header = true) { station_id: int, seen: date }
transform copied = latest | derive ds = @ds
sink copied -> mart.copied { mode replace partition by ds }
"#,
    )
    .unwrap();
    let (out, report) = run_json(
        dir.path(),
        &["writer.pipe", "reader.pipe"],
        &["--from", "2024-01-01", "--to", "2024-01-03"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        node_of(&report, "reader", "latest").iter().all(|n| !n.2),
        "a changed file is not reused: {report:#}"
    );
    assert_eq!(
        query_strings_in(
            dir.path(),
            "SELECT ds || ' ' || seen || ' ' || station_id FROM mart.copied ORDER BY ALL"
        ),
        [
            "2024-01-01 2024-01-01 1",
            "2024-01-01 2024-01-01 2",
            "2024-01-02 2024-01-02 2",
            "2024-01-02 2024-01-02 3",
            "2024-01-03 2024-01-03 3",
            "2024-01-03 2024-01-03 3"
        ]
    );
}

/// Read once, a reference file is still checked row by row: a null in a non-null column fails the
/// first day with the file and line, and the later days are skipped, not run on a bad copy.
#[test]
fn a_bad_row_in_a_reference_file_fails_the_first_day_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    rentals_and_stations(
        dir.path(),
        "station_id,district\n1,north\n2,north\n,south\n",
    );
    std::fs::write(dir.path().join("rides.pipe"), RIDES).unwrap();
    let (out, report) = run_json(
        dir.path(),
        &["rides.pipe"],
        &["--from", "2024-01-01", "--to", "2024-01-03"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let days = report["intervals"].as_array().expect("a JSON report");
    assert_eq!(days.len(), 3, "{report:#}");
    assert_eq!(days[0]["status"], "failed", "{report:#}");
    assert_eq!(days[0]["code"], "E0502", "{report:#}");
    let error = days[0]["error"].as_str().unwrap();
    assert!(
        error.contains("stations.csv line 4") && error.contains("`station_id`"),
        "{error}"
    );
    for day in &days[1..] {
        assert_eq!(day["status"], "skipped", "{report:#}");
    }
}

/// With `on_error = "reject"`, the rows set aside by the one read are recorded for every interval
/// that uses the file, as when each interval read it.
#[test]
fn rejects_of_a_reference_file_read_once_are_recorded_for_every_interval() {
    let dir = tempfile::tempdir().unwrap();
    rentals_and_stations(
        dir.path(),
        "station_id,district\n1,north\n2,north\n3,south\nx,east\n",
    );
    std::fs::write(
        dir.path().join("rides.pipe"),
        RIDES.replace(
            r#"csv("data/stations.csv", header = true)"#,
            r#"csv("data/stations.csv", header = true, on_error = "reject")"#,
        ),
    )
    .unwrap();
    let (out, report) = run_json(
        dir.path(),
        &["rides.pipe"],
        &["--from", "2024-01-01", "--to", "2024-01-03"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        node_of(&report, "rides", "stations")
            .iter()
            .map(|n| n.2)
            .collect::<Vec<_>>(),
        [false, true, true],
        "{report:#}"
    );
    assert_eq!(
        query_strings_in(
            dir.path(),
            "SELECT ds || ' ' || source || ' ' || line FROM _pipec.rejects ORDER BY ALL"
        ),
        [
            "2024-01-01 stations 5",
            "2024-01-02 stations 5",
            "2024-01-03 stations 5"
        ]
    );
}

/// An HTTP source whose URL has no placeholder is fetched once for a whole backfill.
#[test]
fn an_http_source_is_fetched_once_per_backfill() {
    let hits = Arc::new(Mutex::new(0usize));
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let counter = hits.clone();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            *counter.lock().unwrap() += 1;
            let body = r#"{"items": [{"station_id": 1, "district": "north"}, {"station_id": 2, "district": "north"}, {"station_id": 3, "district": "south"}]}"#;
            let _ = req.respond(tiny_http::Response::from_string(body));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    rentals_and_stations(dir.path(), STATIONS);
    std::fs::write(
        dir.path().join("rides.pipe"),
        RIDES.replace(
            r#"csv("data/stations.csv", header = true)"#,
            &format!(r#"http("http://127.0.0.1:{port}/stations", rows = "items")"#),
        ),
    )
    .unwrap();
    let (out, report) = run_json(
        dir.path(),
        &["rides.pipe"],
        &["--from", "2024-01-01", "--to", "2024-01-03"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(*hits.lock().unwrap(), 1, "one request for three days");
    assert_eq!(
        node_of(&report, "rides", "stations"),
        vec![
            ("2024-01-01".into(), 3, false),
            ("2024-01-02".into(), 3, true),
            ("2024-01-03".into(), 3, true),
        ],
        "{report:#}"
    );
    assert_eq!(
        query_strings_in(
            dir.path(),
            "SELECT ds || ' ' || district || ' ' || rides FROM mart.daily ORDER BY ALL"
        ),
        [
            "2024-01-01 north 2",
            "2024-01-02 north 1",
            "2024-01-02 south 1",
            "2024-01-03 south 2"
        ]
    );
}
