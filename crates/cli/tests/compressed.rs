//! End-to-end tests of compressed file sources: gzip (`.gz`) and zstd (`.zst`) CSV and NDJSON
//! files load like plain ones, and a bad row in one is named by its file and line.

mod common;

use common::*;
use std::io::Write;
use std::path::Path;

/// `text` compressed with gzip (real deflate, by flate2).
fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

/// `text` as one Zstandard frame of raw (stored) blocks: a valid `.zst` file for any decoder,
/// written without a zstd library or CLI (RFC 8878: magic, frame header with the 8-byte content
/// size and the single-segment flag, then blocks of at most 128 KiB, the last one flagged).
fn zstd(text: &str) -> Vec<u8> {
    let data = text.as_bytes();
    let mut out = vec![0x28, 0xB5, 0x2F, 0xFD, 0b1110_0000];
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(128 * 1024).collect()
    };
    for (i, chunk) in chunks.iter().enumerate() {
        let last = u32::from(i + 1 == chunks.len());
        let header = (chunk.len() as u32) << 3 | last; // block type 0: raw
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(chunk);
    }
    out
}

const SPEC: &str = r#"pipeline trips {}

source rides = csv("data/{ds}.csv.gz") {
  ride_id: string, station_id: int, minutes: int
}

source events = ndjson("events/{ds}.ndjson.zst") { event_id: string, kind: string? }

source stations = csv("ref/{ds}.stations", compression = "gzip", delimiter = ";") {
  station_id: int, name: string
}

transform per_station = rides | group station_id { rides = count(), minutes = sum(minutes) }

sink per_station -> mart.per_station
sink events -> raw.events
sink stations -> raw.stations
"#;

/// One day of the three sources of [`SPEC`].
fn day(dir: &Path, ds: &str, rides: &str, events: &str) {
    write(
        dir,
        &format!("data/{ds}.csv.gz"),
        &gzip(&format!("ride_id,station_id,minutes\n{rides}")),
    );
    write(dir, &format!("events/{ds}.ndjson.zst"), &zstd(events));
    write(
        dir,
        &format!("ref/{ds}.stations"),
        &gzip("station_id;name\n1;Hangang\n2;Yeouido\n"),
    );
}

const EVENTS: &str = "{\"event_id\": \"e1\", \"kind\": \"open\"}\n{\"event_id\": \"e2\"}\n";

/// A `.csv.gz` (read by one transform, so streamed), an `.ndjson.zst`, and a gzip file named
/// without an extension (`compression = "gzip"`) load as their plain text would.
#[test]
fn gzip_and_zstd_files_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    day(d, "2024-01-01", "r1,1,20\nr2,1,30\nr3,2,40\n", EVENTS);
    let out = run_spec_in(d, SPEC, "2024-01-01");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        query_in(d, "SELECT * FROM mart.per_station ORDER BY station_id"),
        [
            "{'station_id': 1, 'rides': 2, 'minutes': 50}",
            "{'station_id': 2, 'rides': 1, 'minutes': 40}"
        ]
    );
    assert_eq!(
        query_in(d, "SELECT * FROM raw.events ORDER BY event_id"),
        [
            "{'event_id': e1, 'kind': open}",
            "{'event_id': e2, 'kind': NULL}"
        ]
    );
    assert_eq!(
        query_in(d, "SELECT * FROM raw.stations ORDER BY station_id"),
        [
            "{'station_id': 1, 'name': Hangang}",
            "{'station_id': 2, 'name': Yeouido}"
        ]
    );
}

/// A value that does not fit, or a null in a non-null column, in a compressed file fails the
/// run naming the compressed file and the line of the decompressed text (the header is line 1).
#[test]
fn a_bad_row_in_a_compressed_file_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    day(d, "2024-01-02", "r1,1,20\nr2,1,30\nr3,2,lots\n", EVENTS);
    let out = run_spec_in(d, SPEC, "2024-01-02");
    assert_failed_with(&out, &["E0501", "2024-01-02.csv.gz line 4", "minutes"]);

    day(d, "2024-01-03", "r1,1,20\n,1,30\nr3,2,40\n", EVENTS);
    let out = run_spec_in(d, SPEC, "2024-01-03");
    assert_failed_with(&out, &["E0502", "2024-01-03.csv.gz line 3", "ride_id"]);

    let events = "{\"event_id\": \"e1\"}\n{\"event_id\": \"e2\"}\n{\"kind\": \"open\"}\n";
    day(d, "2024-01-04", "r1,1,20\n", events);
    let out = run_spec_in(d, SPEC, "2024-01-04");
    assert_failed_with(&out, &["E0502", "2024-01-04.ndjson.zst line 3", "event_id"]);
    let published =
        "SELECT table_name FROM information_schema.tables WHERE table_schema IN ('raw', 'mart')";
    assert!(query_in(d, published).is_empty());
}

/// With `on_error = "reject"`, each row set aside from a gzip file is recorded with its file and
/// line, and the other rows load.
#[test]
fn rejected_rows_of_a_gzip_file_keep_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    day(
        d,
        "2024-01-01",
        "r1,1,20\n,1,30\nr3,2,lots\nr4,2,10\n",
        EVENTS,
    );
    let spec = SPEC.replace(
        r#"csv("data/{ds}.csv.gz")"#,
        r#"csv("data/{ds}.csv.gz", on_error = "reject")"#,
    );
    let out = run_spec_in(d, &spec, "2024-01-01");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        query_in(
            d,
            "SELECT regexp_extract(file, '[^/]*$') AS file, line, column_name FROM _pipec.rejects ORDER BY line"
        ),
        [
            "{'file': 2024-01-01.csv.gz, 'line': 3, 'column_name': ride_id}",
            "{'file': 2024-01-01.csv.gz, 'line': 4, 'column_name': minutes}"
        ]
    );
    assert_eq!(
        query_in(d, "SELECT * FROM mart.per_station ORDER BY station_id"),
        [
            "{'station_id': 1, 'rides': 1, 'minutes': 20}",
            "{'station_id': 2, 'rides': 1, 'minutes': 10}"
        ]
    );
}
