//! File sinks publish together with the tables: real `pipec run` processes killed at the test
//! hook points around the commit (`PIPEC_TEST_PAUSE_AT`), temp files of killed runs cleaned up,
//! and file sinks sharing a folder and stem.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn pipec(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pipec"));
    c.env("NO_COLOR", "1").env_remove("PIPEC_TEST_PAUSE_AT");
    c.current_dir(dir);
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `pipec run spec.pipe --date 2024-01-01 --warehouse w.duckdb` in `dir`, with `extra` args.
fn run(dir: &Path, extra: &[&str]) -> Output {
    pipec(dir)
        .args([
            "run",
            "spec.pipe",
            "--date",
            "2024-01-01",
            "--warehouse",
            "w.duckdb",
        ])
        .args(extra)
        .output()
        .unwrap()
}

/// A project writing one CSV source to a table and to `out/{ds}.parquet` and `out/{ds}.csv`
/// (same folder, same stem), plus `more_sinks`.
fn project(dir: &Path, more_sinks: &str) {
    let spec = format!(
        r#"pipeline pub {{
  schedule daily at 02:00 "UTC"
  start 2024-01-01
}}
source rows = csv("in.csv", header = true) {{ id: int, tag: string }}
sink rows -> mart.rows
sink rows -> parquet("out/{{ds}}.parquet")
sink rows -> csv("out/{{ds}}.csv")
{more_sinks}"#
    );
    std::fs::write(dir.join("spec.pipe"), spec).unwrap();
}

/// Writes the input: three rows tagged `tag`.
fn input(dir: &Path, tag: &str) {
    std::fs::write(
        dir.join("in.csv"),
        format!("id,tag\n1,{tag}\n2,{tag}\n3,{tag}\n"),
    )
    .unwrap();
}

/// The tags of the table, the parquet file and the CSV file, each in id order.
fn published(dir: &Path) -> [Vec<String>; 3] {
    let tags = |conn: &duckdb::Connection, sql: &str| -> Vec<String> {
        let mut st = conn.prepare(sql).unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let table = {
        let conn = duckdb::Connection::open(dir.join("w.duckdb")).unwrap();
        tags(&conn, "SELECT tag FROM mart.rows ORDER BY id")
    };
    let mem = duckdb::Connection::open_in_memory().unwrap();
    let parquet_path = dir.join("out/2024-01-01.parquet");
    let parquet = tags(
        &mem,
        &format!(
            "SELECT tag FROM read_parquet('{}') ORDER BY id",
            parquet_path.display()
        ),
    );
    let csv = std::fs::read_to_string(dir.join("out/2024-01-01.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("id,tag"), "{csv}");
    let csv = lines
        .map(|l| l.split_once(',').unwrap().1.to_string())
        .collect();
    [table, parquet, csv]
}

/// Temp files of file sinks under `dir/out`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".pipec-tmp-"))
        .collect()
}

fn pending_rows(dir: &Path) -> i64 {
    let conn = duckdb::Connection::open(dir.join("w.duckdb")).unwrap();
    conn.query_row("SELECT count(*) FROM _pipec.pending_files", [], |r| {
        r.get(0)
    })
    .unwrap()
}

/// Runs `pipec run --force` paused at test hook `point`, and SIGKILLs it there.
fn kill_at(dir: &Path, point: &str) {
    let mut child = pipec(dir)
        .args(["run", "spec.pipe", "--date", "2024-01-01", "--force"])
        .args(["--warehouse", "w.duckdb"])
        .env("PIPEC_TEST_PAUSE_AT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let want = format!("paused at {point}");
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(&want) => break,
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("the run never reached {point}: {seen:?}");
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_kill_around_the_commit_leaves_files_and_tables_of_the_same_run() {
    let old = vec!["old".to_string(); 3];
    let new = vec!["new".to_string(); 3];
    // (hook point, what the next run sees, tables then files right after the kill)
    let cases = [
        ("before-commit", &old, [&old, &old, &old]),
        ("after-commit", &new, [&new, &old, &old]),
        ("mid-rename", &new, [&new, &new, &old]),
    ];
    for (point, expected, at_kill) in cases {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        project(d, "");
        input(d, "old");
        let first = run(d, &[]);
        assert!(first.status.success(), "{}", text(&first));
        assert_eq!(published(d), [&old, &old, &old].map(Clone::clone));
        input(d, "new");
        kill_at(d, point);
        // The window is real: the kill left the state the hook point stands for, and the
        // committed temp files (or the uncommitted ones) on disk.
        assert_eq!(published(d), at_kill.map(Clone::clone), "{point}");
        assert!(!temp_files(d).is_empty(), "{point}: no temp files");
        assert!(pending_rows(d) > 0, "{point}");
        // The next run (the interval is done, so it only recovers) completes or discards.
        let next = run(d, &[]);
        assert!(next.status.success(), "{point}: {}", text(&next));
        assert!(text(&next).contains("skipped"), "{}", text(&next));
        assert_eq!(
            published(d),
            [expected, expected, expected].map(Clone::clone),
            "{point}: files and tables are of different runs"
        );
        assert_eq!(temp_files(d), Vec::<PathBuf>::new(), "{point}");
        assert_eq!(pending_rows(d), 0, "{point}");
    }
}

#[test]
fn temp_files_of_killed_runs_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project(d, "");
    input(d, "old");
    assert!(run(d, &[]).status.success());
    input(d, "new");
    kill_at(d, "before-commit");
    // Left by an older pipec killed before its commit (no process has this id: above pid_max).
    std::fs::write(d.join("out/2024-01-01.pipec-tmp-99999999"), "partial").unwrap();
    let left = temp_files(d);
    assert_eq!(left.len(), 3, "{left:?}");
    // A run of another interval writes to the same folder and cleans it up too.
    let other = pipec(d)
        .args([
            "run",
            "spec.pipe",
            "--date",
            "2024-01-02",
            "--warehouse",
            "w.duckdb",
        ])
        .output()
        .unwrap();
    assert!(other.status.success(), "{}", text(&other));
    assert_eq!(temp_files(d), Vec::<PathBuf>::new());
    assert_eq!(pending_rows(d), 0);
    assert!(d.join("out/2024-01-02.parquet").is_file());
}

#[test]
fn file_sinks_with_one_stem_publish_each_file_and_a_failed_publish_changes_none() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project(d, "sink rows -> ndjson(\"out/{ds}.json\")\n");
    input(d, "old");
    let first = run(d, &[]);
    assert!(first.status.success(), "{}", text(&first));
    input(d, "new");
    let second = run(d, &["--force"]);
    assert!(second.status.success(), "{}", text(&second));
    let new = vec!["new".to_string(); 3];
    assert_eq!(published(d), [&new, &new, &new].map(Clone::clone));
    let json = std::fs::read_to_string(d.join("out/2024-01-01.json")).unwrap();
    assert_eq!(json.lines().count(), 3, "{json}");
    assert!(json.starts_with("{\"id\":1,\"tag\":\"new\"}"), "{json}");
    let files = ["parquet", "csv", "json"].map(|e| d.join(format!("out/2024-01-01.{e}")));
    let bytes = |files: &[PathBuf]| -> Vec<Vec<u8>> {
        files.iter().map(|f| std::fs::read(f).unwrap()).collect()
    };
    let before = bytes(&files);

    // The table sink fails inside the transaction (its table gained a column).
    input(d, "third");
    {
        let conn = duckdb::Connection::open(d.join("w.duckdb")).unwrap();
        conn.execute_batch("ALTER TABLE mart.rows ADD COLUMN extra INTEGER")
            .unwrap();
    }
    let failed = run(d, &["--force"]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    assert!(text(&failed).contains("extra"), "{}", text(&failed));
    assert_eq!(bytes(&files), before, "a failed publish changed a file");
    assert_eq!(temp_files(d), Vec::<PathBuf>::new());
    assert_eq!(pending_rows(d), 0);

    // The last file sink cannot be written (its target is a folder): the others stay as they were.
    {
        let conn = duckdb::Connection::open(d.join("w.duckdb")).unwrap();
        conn.execute_batch("ALTER TABLE mart.rows DROP COLUMN extra")
            .unwrap();
    }
    std::fs::remove_file(&files[2]).unwrap();
    std::fs::create_dir(&files[2]).unwrap();
    let failed = run(d, &["--force"]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    assert!(text(&failed).contains("E0532"), "{}", text(&failed));
    assert!(text(&failed).contains("is a folder"), "{}", text(&failed));
    assert_eq!(
        bytes(&files[..2]),
        before[..2],
        "a failed publish changed a file"
    );
    assert_eq!(temp_files(d), Vec::<PathBuf>::new());
    assert_eq!(published(d), [&new, &new, &new].map(Clone::clone));
}

#[test]
fn a_warehouse_of_layout_2_gains_the_pending_files_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    project(d, "");
    input(d, "old");
    assert!(run(d, &[]).status.success());
    {
        let conn = duckdb::Connection::open(d.join("w.duckdb")).unwrap();
        conn.execute_batch(
            "DROP TABLE _pipec.pending_files; DELETE FROM _pipec.schema_version; INSERT INTO _pipec.schema_version VALUES (2);",
        )
        .unwrap();
    }
    input(d, "new");
    let out = run(d, &["--force"]);
    assert!(out.status.success(), "{}", text(&out));
    let new = vec!["new".to_string(); 3];
    assert_eq!(published(d), [&new, &new, &new].map(Clone::clone));
    assert_eq!(pending_rows(d), 0);
    let conn = duckdb::Connection::open(d.join("w.duckdb")).unwrap();
    let v: i32 = conn
        .query_row("SELECT max(version) FROM _pipec.schema_version", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(v, 3);
}
