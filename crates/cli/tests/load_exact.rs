//! End-to-end tests of loading data exactly: values are never rounded, nulls are only the texts
//! `nulls` lists, literal paths are literal, NDJSON lines are rejected one by one and named
//! exactly, an unclosed CSV quote rejects only its own line, and a 0-byte file is an error
//! unless the source allows it.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

/// Writes `spec` to `name` in `dir` and runs it for `date` on `dir/w.duckdb`.
fn run(dir: &Path, name: &str, spec: &str, date: &str) -> Output {
    std::fs::write(dir.join(name), spec).unwrap();
    pipec()
        .args(["run", name, "--date", date, "--force", "--no-retry"])
        .args(["--warehouse", "w.duckdb"])
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Asserts that a run succeeded, showing its output when not.
fn assert_ok(out: &Output) {
    assert!(out.status.success(), "{}", text(out));
}

/// `3.7` in an int column (and `1.005` in a `decimal(10, 2)`) is never rounded: staged or
/// streamed, the run fails naming the file, line and value; `4.0` and `-2` are exact.
#[test]
fn a_fraction_in_an_int_column_fails_the_csv_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "data/2024-01-01.csv", b"id,n\n1,4.0\n2,-2\n");
    write(d, "data/2024-01-02.csv", b"id,n\n1,4\n2,3.7\n3,5\n");
    let staged = r#"pipeline p {}
source r = csv("data/{ds}.csv") { id: int, n: int }
sink r -> raw.r
"#;
    assert_ok(&run(d, "p.pipe", staged, "2024-01-01"));
    assert_eq!(
        query_in(d, "SELECT n FROM raw.r ORDER BY id"),
        ["{'n': 4}", "{'n': -2}"]
    );
    let out = run(d, "p.pipe", staged, "2024-01-02");
    assert_failed_with(&out, &["E0501", "2024-01-02.csv line 3", "`n`", "3.7"]);
    // Nothing of that day was published.
    assert_eq!(query_in(d, "SELECT count(*) AS c FROM raw.r"), ["{'c': 2}"]);
    // Streamed: read by one transform, not staged.
    let streamed = r#"pipeline s {}
source r = csv("data/{ds}.csv") { id: int, n: bigint }
transform t = r | aggregate { total = sum(n) }
sink t -> raw.t
"#;
    let out = run(d, "s.pipe", streamed, "2024-01-02");
    assert_failed_with(&out, &["E0501", "2024-01-02.csv line 3", "`n`", "3.7"]);
    write(d, "data/2024-01-03.csv", b"id,n\n1,1.00\n2,1.005\n");
    let decimal = r#"pipeline m {}
source r = csv("data/{ds}.csv") { id: int, n: decimal(10, 2) }
sink r -> raw.m
"#;
    let out = run(d, "m.pipe", decimal, "2024-01-03");
    assert_failed_with(&out, &["E0501", "2024-01-03.csv line 3", "1.005"]);
}

/// With `on_error = "reject"`, a value that would be rounded is a reject on its own line and the
/// other rows load unchanged.
#[test]
fn a_fraction_in_an_int_column_is_a_reject() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "data/2024-01-01.csv", b"id,n\n1,4\n2,3.7\n3,1e3\n4,5\n");
    let spec = r#"pipeline p {}
source r = csv("data/{ds}.csv", on_error = "reject") { id: int, n: int? }
sink r -> raw.r
"#;
    assert_ok(&run(d, "p.pipe", spec, "2024-01-01"));
    assert_eq!(
        query_in(d, "SELECT id, n FROM raw.r ORDER BY id"),
        ["{'id': 1, 'n': 4}", "{'id': 4, 'n': 5}"]
    );
    assert_eq!(
        query_in(
            d,
            "SELECT line, column_name, error LIKE '%3.7%' OR error LIKE '%1e3%' AS says FROM _pipec.rejects ORDER BY line"
        ),
        [
            "{'line': 3, 'column_name': n, 'says': true}",
            "{'line': 4, 'column_name': n, 'says': true}"
        ]
    );
}

/// NDJSON: `3.7` for an int fails the run naming its line, or is a reject of that line alone.
#[test]
fn a_fraction_in_an_ndjson_int_is_not_rounded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "data/2024-01-01.ndjson",
        b"{\"id\": 1, \"n\": 4}\n{\"id\": 2, \"n\": 3.7}\n{\"id\": 3, \"n\": 5.0}\n",
    );
    let spec = r#"pipeline j {}
source r = ndjson("data/{ds}.ndjson") { id: int, n: int }
sink r -> raw.r
"#;
    let out = run(d, "j.pipe", spec, "2024-01-01");
    assert_failed_with(&out, &["E0501", "2024-01-01.ndjson line 2", "3.7"]);
    let reject = spec.replace("ndjson\")", "ndjson\", on_error = \"reject\")");
    assert_ok(&run(d, "j.pipe", &reject, "2024-01-01"));
    assert_eq!(
        query_in(d, "SELECT n FROM raw.r ORDER BY id"),
        ["{'n': 4}", "{'n': 5}"]
    );
    assert_eq!(
        query_in(d, "SELECT line FROM _pipec.rejects"),
        ["{'line': 2}"]
    );
}

/// By default an unquoted empty field is null and a quoted `""` is the empty string; with
/// `nulls = []` nothing is null: an empty field is the empty string, and in an int column an
/// error.
#[test]
fn nulls_are_only_the_listed_unquoted_texts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "data/2024-01-01.csv", b"id,s\n1,\n2,\"\"\n3,x\n");
    let spec = r#"pipeline p {}
source r = csv("data/{ds}.csv") { id: int, s: string? }
sink r -> raw.r
"#;
    assert_ok(&run(d, "p.pipe", spec, "2024-01-01"));
    assert_eq!(
        query_in(d, "SELECT s IS NULL AS null, s FROM raw.r ORDER BY id"),
        [
            "{'null': true, 's': NULL}",
            "{'null': false, 's': ''}",
            "{'null': false, 's': x}"
        ]
    );
    let none = r#"pipeline q {}
source r = csv("data/{ds}.csv", nulls = []) { id: int, s: string? }
sink r -> raw.q
"#;
    assert_ok(&run(d, "q.pipe", none, "2024-01-01"));
    assert_eq!(
        query_in(d, "SELECT count(*) AS c FROM raw.q WHERE s = ''"),
        ["{'c': 2}"]
    );
    write(d, "data/2024-01-02.csv", b"id,s\n1,x\n,y\n");
    let out = run(d, "q.pipe", none, "2024-01-02");
    assert_failed_with(&out, &["E0501", "2024-01-02.csv line 3", "`id`"]);
}

/// `[`, `*` and `?` in a path are literal: `data/br[ack]et/` is read, not the decoy
/// `data/braet/`. `glob = true` makes the path a pattern; a `*` without `glob` is E0317.
#[test]
fn paths_are_literal_unless_glob() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "data/br[ack]et/2024-01-01.csv", b"id\n1\n");
    write(d, "data/braet/2024-01-01.csv", b"id\n666\n");
    let spec = r#"pipeline p {}
source r = csv("data/br[ack]et/{ds}.csv") { id: int }
sink r -> raw.r
"#;
    assert_ok(&run(d, "p.pipe", spec, "2024-01-01"));
    assert_eq!(query_in(d, "SELECT id FROM raw.r"), ["{'id': 1}"]);
    // The same as NDJSON and through the cached reference path.
    write(d, "ref/st[a]tions.ndjson", b"{\"id\": 7}\n");
    write(d, "ref/stations.ndjson", b"{\"id\": 666}\n");
    let reference = r#"pipeline n {}
source s = ndjson("ref/st[a]tions.ndjson") { id: int }
sink s -> raw.s
"#;
    assert_ok(&run(d, "n.pipe", reference, "2024-01-01"));
    assert_eq!(query_in(d, "SELECT id FROM raw.s"), ["{'id': 7}"]);
    // A pattern reads every file it matches.
    write(d, "many/a.csv", b"id\n1\n");
    write(d, "many/b.csv", b"id\n2\n");
    let glob = r#"pipeline g {}
source r = csv("many/*.csv", glob = true) { id: int }
sink r -> raw.g
"#;
    assert_ok(&run(d, "g.pipe", glob, "2024-01-01"));
    assert_eq!(query_in(d, "SELECT sum(id) AS s FROM raw.g"), ["{'s': 3}"]);
    let ambiguous = glob.replace(", glob = true", "");
    std::fs::write(d.join("a.pipe"), ambiguous).unwrap();
    let out = pipec()
        .args(["check", "a.pipe"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("E0317"), "{}", text(&out));
}

/// NDJSON with `on_error = "reject"`: a malformed line is a reject of that line alone (blank
/// lines counted); without it the error (E0535) names that line; a UTF-8 BOM is accepted.
#[test]
fn ndjson_lines_are_rejected_one_by_one_and_named_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "data/2024-01-01.ndjson",
        b"\xef\xbb\xbf{\"id\": 1}\n\n{\"id\": 2\n[3]\n{\"id\": 4}\r\n",
    );
    let spec = r#"pipeline j {}
source r = ndjson("data/{ds}.ndjson", on_error = "reject") { id: int }
sink r -> raw.r
"#;
    assert_ok(&run(d, "j.pipe", spec, "2024-01-01"));
    assert_eq!(
        query_in(d, "SELECT id FROM raw.r ORDER BY id"),
        ["{'id': 1}", "{'id': 4}"]
    );
    assert_eq!(
        query_in(d, "SELECT line FROM _pipec.rejects ORDER BY line"),
        ["{'line': 3}", "{'line': 4}"]
    );
    let fail = spec.replace(", on_error = \"reject\"", "");
    let out = run(d, "f.pipe", &fail, "2024-01-01");
    assert_failed_with(&out, &["E0535", "2024-01-01.ndjson line 3"]);
    assert!(!text(&out).contains("line 4"), "{}", text(&out));
    // A BOM alone is no reason to fail.
    write(d, "data/2024-01-02.ndjson", b"\xef\xbb\xbf{\"id\": 5}\n");
    assert_ok(&run(d, "f.pipe", &fail, "2024-01-02"));
}

/// CSV: a quote never closed is a reject of its own line; the rows after it load (or are
/// rejected one by one) with their own lines, also after a second such line and after `skip`.
/// Without `reject` the run fails naming the line where the quote opened.
#[test]
fn an_unterminated_csv_quote_rejects_only_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "data/2024-01-01.csv",
        b"id,name,n\n1,a,1\n2,\"bad,2\n3,c,3\n4,d,4\n5,e,5\n6,f,3.7\n",
    );
    let spec = r#"pipeline p {}
source r = csv("data/{ds}.csv", on_error = "reject") { id: int, name: string, n: int }
sink r -> raw.r
"#;
    assert_ok(&run(d, "p.pipe", spec, "2024-01-01"));
    assert_eq!(
        query_in(d, "SELECT id FROM raw.r ORDER BY id"),
        ["{'id': 1}", "{'id': 3}", "{'id': 4}", "{'id': 5}"]
    );
    assert_eq!(
        query_in(
            d,
            "SELECT line, error LIKE '%quote%' AS quote, error LIKE '%3.7%' AS value FROM _pipec.rejects ORDER BY line"
        ),
        [
            "{'line': 3, 'quote': true, 'value': false}",
            "{'line': 7, 'quote': false, 'value': true}"
        ]
    );
    // Two such lines, a quoted value spanning lines before them, a badly typed row between
    // them, and a skipped line on top.
    write(
        d,
        "data/2024-01-02.csv",
        b"skipped\nid,name,n\n1,\"a\nb\",1\n2,\"bad,2\n3,c,x\n4,d,4\n5,\"worse,5\n6,\"f\",6\n",
    );
    // Another pipeline: `skip` changes the rows read, which `run` refuses for `p` (E0540).
    let skip = spec
        .replace("on_error = \"reject\"", "on_error = \"reject\", skip = 1")
        .replace("pipeline p", "pipeline s");
    assert_ok(&run(d, "s.pipe", &skip, "2024-01-02"));
    assert_eq!(
        query_in(d, "SELECT id FROM raw.r ORDER BY id"),
        ["{'id': 1}", "{'id': 4}", "{'id': 6}"]
    );
    assert_eq!(
        query_in(
            d,
            "SELECT line, error LIKE '%quote%' AS quote FROM _pipec.rejects WHERE ds = DATE '2024-01-02' ORDER BY line"
        ),
        [
            "{'line': 4, 'quote': true}",
            "{'line': 5, 'quote': false}",
            "{'line': 7, 'quote': true}"
        ]
    );
    // Each file of a glob on its own; a compressed file keeps the swallowed lines in one reject.
    write(d, "data/g1.csv", b"id,name,n\n1,a,1\n2,\"q,2\n3,c,x\n");
    write(d, "data/g2.csv", b"id,name,n\n5,e,5\n6,\"r,6\n7,g,7\n");
    let glob = spec
        .replace("{ds}.csv\"", "g*.csv\", glob = true")
        .replace("pipeline p", "pipeline g");
    assert_ok(&run(d, "g.pipe", &glob, "2024-01-03"));
    assert_eq!(
        query_in(d, "SELECT id FROM raw.r ORDER BY id"),
        ["{'id': 1}", "{'id': 5}", "{'id': 7}"]
    );
    assert_eq!(
        query_in(
            d,
            "SELECT regexp_extract(file, 'g[0-9]') AS f, line FROM _pipec.rejects WHERE ds = DATE '2024-01-03' ORDER BY file, line"
        ),
        [
            "{'f': g1, 'line': 3}",
            "{'f': g1, 'line': 4}",
            "{'f': g2, 'line': 3}"
        ]
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"id,name,n\n1,a,1\n2,\"q,2\n3,c,3\n").unwrap();
    write(d, "data/2024-01-04.csv.gz", &gz.finish().unwrap());
    let gzip = spec
        .replace("{ds}.csv\"", "{ds}.csv.gz\", compression = \"gzip\"")
        .replace("pipeline p", "pipeline z");
    assert_ok(&run(d, "z.pipe", &gzip, "2024-01-04"));
    assert_eq!(
        query_in(d, "SELECT id FROM raw.r ORDER BY id"),
        ["{'id': 1}"]
    );
    assert_eq!(
        query_in(
            d,
            "SELECT line FROM _pipec.rejects WHERE ds = DATE '2024-01-04'"
        ),
        ["{'line': 3}"]
    );
    let fail = spec.replace(", on_error = \"reject\"", "");
    let out = run(d, "f.pipe", &fail, "2024-01-01");
    assert_failed_with(&out, &["E0501", "2024-01-01.csv line 3"]);
}

/// A 0-byte file fails the run (E0534) and leaves the day's partition as it was, unless the
/// source says `allow_empty = true`.
#[test]
fn an_empty_file_does_not_wipe_the_partition() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "data/2024-01-01.csv", b"id\n1\n2\n");
    let spec = r#"pipeline p {}
source r = csv("data/{ds}.csv") { id: int }
transform t = r | derive ds = @ds
sink t -> raw.r { partition by ds }
"#;
    assert_ok(&run(d, "p.pipe", spec, "2024-01-01"));
    write(d, "data/2024-01-01.csv", b"");
    let out = run(d, "p.pipe", spec, "2024-01-01");
    assert_failed_with(&out, &["E0534", "2024-01-01.csv", "allow_empty"]);
    assert_eq!(query_in(d, "SELECT count(*) AS c FROM raw.r"), ["{'c': 2}"]);
    let allowed = spec.replace("{ds}.csv\")", "{ds}.csv\", allow_empty = true)");
    assert_ok(&run(d, "p.pipe", &allowed, "2024-01-01"));
    assert_eq!(query_in(d, "SELECT count(*) AS c FROM raw.r"), ["{'c': 0}"]);
    // NDJSON too.
    write(d, "data/2024-01-02.ndjson", b"");
    let json = r#"pipeline j {}
source r = ndjson("data/{ds}.ndjson") { id: int }
sink r -> raw.j
"#;
    assert_failed_with(&run(d, "j.pipe", json, "2024-01-02"), &["E0534"]);
}
