//! `pipec show`: a relation's rows for an interval, computed on a scratch database exactly as
//! `pipec run` computes them and writing nothing, and with `--sql` its statement per target.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use common::*;

/// Every file below `dir` with its size and modification time.
fn tree(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (u64, SystemTime)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(&path, out);
            }
            out.insert(path, (meta.len(), meta.modified().unwrap()));
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let path = e.path();
        let dest = to.join(e.file_name());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).unwrap();
        }
    }
}

/// A copy of examples/bike_share in a fresh folder, and empty folders used as `HOME` and
/// `TMPDIR` of the commands, so that anything written anywhere is seen.
struct Project {
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
    tmp: tempfile::TempDir,
}

impl Project {
    fn bike_share() -> Project {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &root().join("examples/bike_share"),
            &dir.path().join("bike_share"),
        );
        Project {
            dir,
            home: tempfile::tempdir().unwrap(),
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn with_spec(spec: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "spec/spec.pipe", spec);
        Project {
            dir,
            home: tempfile::tempdir().unwrap(),
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn pipec(&self, args: &[&str]) -> std::process::Output {
        pipec()
            .args(args)
            .current_dir(self.path())
            .env("HOME", self.home.path())
            .env("TMPDIR", self.tmp.path())
            .output()
            .unwrap()
    }

    /// Asserts that nothing was written in `HOME` or `TMPDIR`.
    fn assert_scratch_left_empty(&self) {
        assert!(
            tree(self.home.path()).is_empty(),
            "{:?}",
            tree(self.home.path())
        );
        assert!(
            tree(self.tmp.path()).is_empty(),
            "{:?}",
            tree(self.tmp.path())
        );
    }
}

fn show_json(project: &Project, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["show"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = project.pipec(&all);
    assert!(out.status.success(), "{}", text(&out));
    json(&out)
}

/// The rows `show` prints for a transform of bike_share on 2024-01-02 are the rows `run`
/// writes for that day, and `show` writes no file anywhere: not in the project, no warehouse,
/// nothing in `HOME` or `TMPDIR`.
#[test]
fn rows_are_those_run_writes_and_nothing_is_written() {
    let project = Project::bike_share();
    let before = tree(project.path());
    let shown = show_json(
        &project,
        &[
            "bike_share",
            "station_daily",
            "--date",
            "2024-01-02",
            "--limit",
            "1000",
        ],
    );
    assert_eq!(tree(project.path()), before, "show wrote into the project");
    assert!(!project.path().join("warehouse.duckdb").exists());
    project.assert_scratch_left_empty();

    assert_eq!(shown["version"], 1);
    assert_eq!(shown["pipeline"], "bike_share");
    assert_eq!(shown["relation"], "station_daily");
    assert_eq!(shown["interval"]["label"], "2024-01-02");
    assert_eq!(shown["interval"]["start"], "2024-01-01 15:00:00");
    let columns: Vec<&str> = shown["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "ds",
            "station_id",
            "station_name",
            "district",
            "rides",
            "avg_minutes",
            "total_km"
        ]
    );
    assert_eq!(shown["types"][0], "date");
    assert_eq!(shown["types"][4], "bigint");
    assert_eq!(shown["types"][5], "float?");
    let rows = shown["rows"].as_array().unwrap();
    assert!(rows.len() > 3, "{shown}");
    assert_eq!(shown["total"], rows.len());

    let wh = project.path().join("w.duckdb");
    let out = project.pipec(&[
        "run",
        "bike_share",
        "--date",
        "2024-01-02",
        "--warehouse",
        wh.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let conn = duckdb::Connection::open(&wh).unwrap();
    let written = common::rows(
        &conn,
        &format!(
            "SELECT {} FROM mart.station_daily WHERE ds = DATE '2024-01-02' ORDER BY rides DESC, station_id",
            columns
                .iter()
                .map(|c| format!("CAST({c} AS VARCHAR)"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    // The text table prints each value as DuckDB writes it as text: the same text as the
    // warehouse's values cast to VARCHAR.
    let out = project.pipec(&[
        "show",
        "bike_share",
        "station_daily",
        "--date",
        "2024-01-02",
        "--limit",
        "1000",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let shown_rows: Vec<String> = stdout
        .lines()
        .skip(4)
        .take(rows.len())
        .map(|l| l.split(" | ").map(str::trim).collect::<Vec<_>>().join("|"))
        .collect();
    assert_eq!(written, shown_rows, "{stdout}");
    assert!(written.len() > 3);
}

/// `--limit` caps the rows printed, not the count; the text table names the interval, the
/// columns over their types, and `N rows (showing M)`.
#[test]
fn limit_and_text_table() {
    let project = Project::bike_share();
    let all = show_json(
        &project,
        &["bike_share", "station_daily", "--date", "2024-01-02"],
    );
    let total = all["total"].as_u64().unwrap();
    assert!(total > 2);
    let two = show_json(
        &project,
        &[
            "bike_share",
            "station_daily",
            "--date",
            "2024-01-02",
            "--limit",
            "2",
        ],
    );
    assert_eq!(two["rows"].as_array().unwrap().len(), 2);
    assert_eq!(two["shown"], 2);
    assert_eq!(two["total"], total);
    assert_eq!(two["rows"][0], all["rows"][0]);

    let out = project.pipec(&[
        "show",
        "bike_share",
        "station_daily",
        "--date",
        "2024-01-02",
        "--limit",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].contains("bike_share.station_daily") && lines[0].contains("2024-01-02"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("ds ") && lines[1].contains("avg_minutes"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("date ") && lines[2].contains("float?"),
        "{stdout}"
    );
    assert_eq!(lines.len(), 7, "{stdout}");
    assert_eq!(lines[6], format!("{total} rows (showing 2)"));
}

/// A source previews too, read as `run` reads it (schema enforced): `rentals` of 2024-01-02.
#[test]
fn a_source_is_read_as_run_reads_it() {
    let project = Project::bike_share();
    let shown = show_json(
        &project,
        &[
            "bike_share",
            "bike_share.rentals",
            "--date",
            "2024-01-02",
            "--limit",
            "1",
        ],
    );
    let csv = std::fs::read_to_string(
        project
            .path()
            .join("bike_share/data/rentals/2024-01-02.csv"),
    )
    .unwrap();
    assert_eq!(
        shown["total"].as_u64().unwrap(),
        csv.lines().count() as u64 - 1
    );
    assert_eq!(shown["types"][2], "timestamp");
    assert!(shown["rows"][0][1].is_number(), "{shown}");
}

const TABLE_SPEC: &str = r#"pipeline scores {
  schedule daily
  start 2024-01-01
}

source answers = table("raw.answers") {
  id: bigint,
  score: int,
  day: date,
}

transform today = answers
  | filter day == @ds
  | derive doubled = score * 2
  | sort id

sink today -> mart.today
"#;

/// A `table(...)` source reads the warehouse given by `--warehouse`, attached read-only: the
/// file's bytes and modification time are unchanged and no lock or WAL file appears. Without
/// the table, the run diagnostic E0503; without the warehouse file, none is created.
#[test]
fn table_sources_read_the_warehouse_read_only() {
    let project = Project::with_spec(TABLE_SPEC);
    let wh = project.path().join("w.duckdb");
    {
        let conn = duckdb::Connection::open(&wh).unwrap();
        conn.execute_batch(
            "CREATE SCHEMA raw; CREATE TABLE raw.answers (id BIGINT, score INTEGER, day DATE);
             INSERT INTO raw.answers VALUES (2, 7, DATE '2024-01-05'), (1, 9, DATE '2024-01-05'), (3, 1, DATE '2024-01-06');
             CHECKPOINT;",
        )
        .unwrap();
    }
    let before = tree(project.path());
    let bytes = std::fs::read(&wh).unwrap();
    let shown = show_json(
        &project,
        &[
            "spec",
            "today",
            "--date",
            "2024-01-05",
            "--warehouse",
            "w.duckdb",
        ],
    );
    assert_eq!(
        shown["rows"],
        serde_json::json!([[1, 9, "2024-01-05", 18], [2, 7, "2024-01-05", 14]])
    );
    assert_eq!(shown["total"], 2);
    assert_eq!(
        tree(project.path()),
        before,
        "show changed files in the project"
    );
    assert_eq!(std::fs::read(&wh).unwrap(), bytes);
    project.assert_scratch_left_empty();

    // Default interval: the latest due one, named in the output.
    let latest = show_json(&project, &["spec", "today", "--warehouse", "w.duckdb"]);
    let ds =
        chrono::NaiveDate::parse_from_str(latest["interval"]["ds"].as_str().unwrap(), "%Y-%m-%d")
            .unwrap();
    let today = chrono::Utc::now().date_naive();
    assert!((today - ds).num_days().abs() <= 2, "{latest}");

    let out = project.pipec(&[
        "show",
        "spec",
        "today",
        "--date",
        "2024-01-05",
        "--warehouse",
        "none.duckdb",
    ]);
    assert_failed_with(&out, &["E0503", "raw.answers"]);
    assert!(!project.path().join("none.duckdb").exists());
    assert_eq!(tree(project.path()), before);
}

/// `--sql` prints the statement of the relation as each target runs it.
#[test]
fn sql_for_each_target() {
    let project = Project::bike_share();
    let sql = |args: &[&str]| {
        let mut all = vec!["show", "bike_share", "station_daily", "--sql"];
        all.extend_from_slice(args);
        let out = project.pipec(&all);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let duck = sql(&[]);
    assert!(
        duck.contains("CREATE OR REPLACE TABLE _pipec_stage"),
        "{duck}"
    );
    assert!(duck.contains("DATE '{ds}'"), "{duck}");
    let dated = sql(&["--date", "2024-01-02"]);
    assert!(dated.contains("DATE '2024-01-02'"), "{dated}");
    assert!(dated.contains("interval 2024-01-02"), "{dated}");

    let spark = sql(&["--target", "spark"]);
    assert!(spark.contains("DATE '${ds}'"), "{spark}");
    assert!(spark.contains("`station_daily`"), "{spark}");

    let airflow = sql(&["--target", "airflow"]);
    assert!(airflow.contains("DATE '{ds}'"), "{airflow}");
    assert!(!airflow.contains('\u{1}'), "{airflow}");
    let pg = sql(&["--target", "airflow", "--profile", "postgres"]);
    assert!(pg.contains("DROP TABLE IF EXISTS"), "{pg}");

    let sam = sql(&["--target", "sam"]);
    assert!(sam.contains("CAST(? AS DATE)"), "{sam}");
    assert!(sam.contains("execution parameters"), "{sam}");
    assert!(sam.contains("= ds"), "{sam}");
    assert!(sam.contains("bike_share__station_daily_{stage}"), "{sam}");

    let out = project.pipec(&[
        "show",
        "bike_share",
        "mart.station_daily",
        "--sql",
        "--target",
        "spark",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let j = json(&out);
    assert_eq!(j["relation"], "station_daily");
    assert_eq!(j["target"], "spark");
    assert!(j["statements"][0].as_str().unwrap().contains("${ds}"));
    project.assert_scratch_left_empty();
}

/// An unknown relation is E0101 with the closest name; a name in two pipelines asks for
/// `pipeline.relation`.
#[test]
fn unknown_and_ambiguous_names() {
    let out = pipec()
        .args([
            "show",
            "examples/bike_share",
            "station_dayly",
            "--date",
            "2024-01-02",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert_failed_with(
        &out,
        &["E0101", "station_dayly", "did you mean `station_daily`?"],
    );

    let out = pipec()
        .args(["show", "examples/nps", "answers", "--sql"])
        .current_dir(root())
        .output()
        .unwrap();
    assert_failed_with(
        &out,
        &["E0101", "`nps_daily.answers`", "`nps_ingest.answers`"],
    );

    let out = pipec()
        .args([
            "show",
            "examples/nps",
            "nps_daily.answers",
            "--sql",
            "--target",
            "spark",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("raw"),
        "{}",
        text(&out)
    );
}
