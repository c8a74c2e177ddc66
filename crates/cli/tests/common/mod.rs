//! Helpers shared by the end-to-end tests of `pipec`: each test file does `mod common;` and
//! `use common::*;`. Not every test binary uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `pipec` binary under test, with colours off.
pub fn pipec() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pipec"));
    c.env("NO_COLOR", "1");
    c
}

/// The repository root (where `examples/` and `std/` are).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `pipec <args>` run in the repository root.
pub fn in_root(args: &[&str]) -> Output {
    pipec().args(args).current_dir(root()).output().unwrap()
}

/// The stdout of `o`, as text.
/// Runs `cmd` with `input` on its stdin, capturing stdout and stderr.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The stderr of `o`, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The stdout then the stderr of `o`, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `pipec <args> --warehouse <warehouse>`, run in the repository root.
pub fn run(args: &[&str], warehouse: &Path) -> Output {
    pipec()
        .args(args)
        .arg("--warehouse")
        .arg(warehouse)
        .current_dir(root())
        .output()
        .unwrap()
}

/// `pipec <args> --warehouse <dir>/w.duckdb`, run in `dir`.
pub fn pipec_in(dir: &Path, args: &[&str]) -> Output {
    pipec()
        .args(args)
        .arg("--warehouse")
        .arg(dir.join("w.duckdb"))
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Writes `spec` to `name` in `dir` and runs it in `dir` on `warehouse` with `args` (e.g. `--date D`).
pub fn run_in(dir: &Path, name: &str, spec: &str, warehouse: &Path, args: &[&str]) -> Output {
    let file = dir.join(name);
    std::fs::write(&file, spec).unwrap();
    pipec()
        .arg("run")
        .arg(&file)
        .args(args)
        .arg("--warehouse")
        .arg(warehouse)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Writes `spec` to `dir/spec.pipe` and runs it, in the repository root, for `date` on
/// `dir/w.duckdb`; returns the output and the warehouse path.
pub fn run_spec_from_root(dir: &Path, spec: &str, date: &str) -> (Output, PathBuf) {
    let file = dir.join("spec.pipe");
    std::fs::write(&file, spec).unwrap();
    let wh = dir.join("w.duckdb");
    let out = run(&["run", file.to_str().unwrap(), "--date", date], &wh);
    (out, wh)
}

/// Writes `spec` to `dir/spec.pipe` and runs it, in `dir`, for `date` on `dir/w.duckdb`.
pub fn run_spec_in(dir: &Path, spec: &str, date: &str) -> Output {
    let file = dir.join("spec.pipe");
    std::fs::write(&file, spec).unwrap();
    pipec()
        .args(["run", file.to_str().unwrap(), "--date", date, "--warehouse"])
        .arg(dir.join("w.duckdb"))
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Writes `spec` to `dir/spec.pipe` with a ten-row `nums.csv` beside it, runs it for
/// 2024-01-01 on `dir/w.duckdb`, asserts it succeeded and returns the opened warehouse.
pub fn run_spec_with_nums(dir: &Path, spec: &str) -> duckdb::Connection {
    let mut csv = String::from("k,i,v,w,s,day\n");
    for i in 1..=10 {
        let w = if i == 2 {
            String::new()
        } else {
            format!("{i}.0")
        };
        let s = match i {
            1 => "a",
            2 => "",
            _ => "bb",
        };
        csv.push_str(&format!("a,{i},{i}.0,{w},{s},2024-01-{i:02}\n"));
    }
    std::fs::write(dir.join("nums.csv"), csv).unwrap();
    let file = dir.join("spec.pipe");
    std::fs::write(&file, spec).unwrap();
    let wh = dir.join("w.duckdb");
    let out = pipec()
        .args(["run", file.to_str().unwrap(), "--date", "2024-01-01"])
        .arg("--warehouse")
        .arg(&wh)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    duckdb::Connection::open(&wh).unwrap()
}

/// Runs `pipec run <specs> <args> --warehouse dir/w.duckdb --format json --no-retry` in `dir`;
/// returns the output and its JSON report (`Null` if stdout is not JSON).
pub fn run_json(dir: &Path, specs: &[&str], args: &[&str]) -> (Output, serde_json::Value) {
    let out = pipec()
        .arg("run")
        .args(specs)
        .args(args)
        .args(["--format", "json", "--no-retry", "--warehouse"])
        .arg(dir.join("w.duckdb"))
        .current_dir(dir)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, json)
}

/// The JSON report of a `--format json` run; panics with the output if stdout is not JSON.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(out)))
}

/// The `diagnostics` of the JSON document `what` printed (docs/json.md); panics with the output
/// when stdout is not such a document.
pub fn diagnostics(out: &Output, what: &str) -> Vec<serde_json::Value> {
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what} printed no JSON document ({e}):\n{}", text(out)));
    assert_eq!(doc["version"], 1, "{what}: {doc:#}");
    doc["diagnostics"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no `diagnostics` array in {doc:#}"))
        .clone()
}

/// The interval of `pipeline` on `ds` in a JSON run report.
pub fn interval<'a>(
    report: &'a serde_json::Value,
    pipeline: &str,
    ds: &str,
) -> &'a serde_json::Value {
    report["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["pipeline"] == pipeline && i["ds"] == ds)
        .unwrap_or_else(|| panic!("no interval {pipeline} {ds} in {report:#}"))
}

/// The node `name` of each interval of `pipeline` in a JSON run report: (ds, rows, reused).
pub fn node_of(report: &serde_json::Value, pipeline: &str, name: &str) -> Vec<(String, u64, bool)> {
    report["intervals"]
        .as_array()
        .expect("a JSON run report")
        .iter()
        .filter(|i| i["pipeline"] == pipeline)
        .filter_map(|i| {
            let n = i["nodes"].as_array()?.iter().find(|n| n["name"] == name)?;
            Some((
                i["ds"].as_str()?.to_string(),
                n["rows"].as_u64()?,
                n["reused"].as_bool().unwrap_or(false),
            ))
        })
        .collect()
}

/// Asserts that a run failed (exit 1) with a message containing every one of `needles`.
pub fn assert_failed_with(out: &Output, needles: &[&str]) {
    let t = text(out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    for n in needles {
        assert!(t.contains(n), "expected {n:?} in:\n{t}");
    }
}

/// Writes `contents` (text or bytes) to `path` under `dir`, creating folders; returns the file.
pub fn write<C: AsRef<[u8]> + ?Sized>(dir: &Path, path: &str, contents: &C) -> PathBuf {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, contents.as_ref()).unwrap();
    p
}

/// Writes `files` (path, contents) under `dir`, creating folders.
pub fn write_all(dir: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

/// The rows of `sql` on `warehouse`, each whole row cast to text.
pub fn query(warehouse: &Path, sql: &str) -> Vec<String> {
    let conn = duckdb::Connection::open(warehouse).unwrap();
    let mut stmt = conn
        .prepare(&format!("SELECT CAST(x AS VARCHAR) FROM ({sql}) AS x"))
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The rows of `sql` on `dir/w.duckdb`, each whole row cast to text (`query` on that warehouse).
pub fn query_in(dir: &Path, sql: &str) -> Vec<String> {
    query(&dir.join("w.duckdb"), sql)
}

/// The first column of each row of `sql` on `dir/w.duckdb`, read as a string without a cast.
pub fn query_strings_in(dir: &Path, sql: &str) -> Vec<String> {
    let conn = duckdb::Connection::open(dir.join("w.duckdb")).unwrap();
    let mut st = conn.prepare(sql).unwrap();
    st.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The rows of `query` on `conn`, each column as text (`NULL` for null), joined with `|`.
pub fn rows(conn: &duckdb::Connection, query: &str) -> Vec<String> {
    let mut st = conn.prepare(query).unwrap();
    let mut out = Vec::new();
    let mut rs = st.query([]).unwrap();
    while let Some(r) = rs.next().unwrap() {
        let n = r.as_ref().column_count();
        let cells: Vec<String> = (0..n)
            .map(|c| {
                r.get::<_, Option<String>>(c)
                    .unwrap()
                    .unwrap_or_else(|| "NULL".into())
            })
            .collect();
        out.push(cells.join("|"));
    }
    out
}

/// Every published table (not pipec's own schemas) with its rows, sorted: a content fingerprint.
pub fn tables(warehouse: &Path) -> Vec<(String, Vec<String>)> {
    if !warehouse.exists() {
        return Vec::new();
    }
    let conn = duckdb::Connection::open(warehouse).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT table_schema, table_name FROM information_schema.tables
             WHERE table_catalog NOT IN ('_pipec_stage', 'system', 'temp') AND table_schema <> '_pipec' AND table_type = 'BASE TABLE' ORDER BY 1, 2",
        )
        .unwrap();
    let names: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    names
        .into_iter()
        .map(|(s, t)| {
            let q = format!("SELECT CAST(x AS VARCHAR) FROM \"{s}\".\"{t}\" AS x ORDER BY 1");
            let mut st = conn.prepare(&q).unwrap();
            let rows: Vec<String> = st
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (format!("{s}.{t}"), rows)
        })
        .collect()
}

/// The row count of every published table of `warehouse` (see [`tables`]).
pub fn table_counts(warehouse: &Path) -> Vec<(String, usize)> {
    tables(warehouse)
        .into_iter()
        .map(|(n, r)| (n, r.len()))
        .collect()
}

/// The rows `(ds, n)` of the table `mart.counts` of `warehouse`, by `ds`.
pub fn mart_counts(warehouse: &Path) -> Vec<(String, i64)> {
    let conn = duckdb::Connection::open(warehouse).unwrap();
    let mut stmt = conn
        .prepare("SELECT CAST(ds AS VARCHAR), n FROM mart.counts ORDER BY ds")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows
}

/// Secret values the examples need in the engine suites: distinctive, so a leak is visible.
pub const SLACK_WEBHOOK: &str = "https://hooks.example/SEKRIT-9f3";

/// A cached venv of `scripts/pyenv.sh [kind]` (created once), failing with how to make it.
/// `what` names its contents for the message; each of `tools` must be in its `bin/`.
pub fn pyenv(kind: Option<&str>, what: &str, tools: &[&str]) -> PathBuf {
    let mut cmd = Command::new("bash");
    cmd.arg("scripts/pyenv.sh").args(kind).current_dir(root());
    let out = cmd.output().expect("bash runs");
    let call = format!(
        "bash scripts/pyenv.sh{}",
        kind.map(|k| format!(" {k}")).unwrap_or_default()
    );
    assert!(
        out.status.success(),
        "`{call}` failed: it installs the pinned {what} into a venv under $HOME/.cache/pipec \
         (needs python3 with venv and access to PyPI):\n{}",
        text(&out)
    );
    let path = String::from_utf8_lossy(&out.stdout);
    let venv = PathBuf::from(path.trim().lines().last().unwrap_or_default());
    for tool in tools {
        assert!(
            venv.join("bin").join(tool).exists(),
            "{} is missing: remove {} and run `{call}` again",
            venv.join("bin").join(tool).display(),
            venv.display()
        );
    }
    venv
}

/// The local PostgreSQL server's URL, from `scripts/postgres.sh` via `PIPEC_TEST_PG_URL`.
pub fn pg_url() -> String {
    std::env::var("PIPEC_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "PIPEC_TEST_PG_URL is not set: run `export PIPEC_TEST_PG_URL=$(bash scripts/postgres.sh)` \
             (scripts/test does) to start the local PostgreSQL server these tests need"
        )
    })
}

/// Copies `from` into `to` (folders recursively), so that runs never write into the repository.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A fresh work folder `<suite>/<name>` under the test target's temp folder, kept after the run
/// for inspection.
pub fn suite_dir(suite: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(suite)
        .join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The registered codes of things a target cannot express ("not supported" in their title),
/// read from the registry `crates/diag/src/codes.rs`.
pub fn unsupported_codes() -> Vec<String> {
    let src = std::fs::read_to_string(root().join("crates/diag/src/codes.rs")).unwrap();
    src.lines()
        .filter(|l| l.contains("not supported"))
        .filter_map(|l| {
            let id = l.split('"').nth(1)?;
            (id.len() == 5 && id.starts_with('E')).then(|| id.to_string())
        })
        .collect()
}
