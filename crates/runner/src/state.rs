//! The warehouse file, its lock, and pipec's own state in the `_pipec` schema.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Connection};
use pipec_check::ir::{Pipeline, Project};
use pipec_diag::{codes, Span};
use pipec_plan::fingerprint::PipelineFingerprint;
use serde::Serialize;

use crate::intervals::{self, Run};
use crate::report::CheckReport;
use crate::RunError;

/// The layout of pipec's own tables; `_pipec.schema_version` holds the one a warehouse has.
/// Version 1 (no version table) keyed intervals by a date; version 2 by the interval's start;
/// version 3 added `_pipec.pending_files`. `_pipec.fingerprints` was added to layout 3 without
/// a new version (created on open when missing; an older pipec ignores it).
pub(crate) const SCHEMA_VERSION: i32 = 3;

/// The fingerprints (`pipec_plan::fingerprint`, JSON) of a pipeline's relations and sinks,
/// recorded with each interval a run publishes; `pipec plan` compares the latest with the spec.
const FINGERPRINTS_DDL: &str = "CREATE TABLE IF NOT EXISTS _pipec.fingerprints (pipeline VARCHAR, interval_start TIMESTAMP, run_id VARCHAR, recorded_at TIMESTAMP, fingerprint VARCHAR, PRIMARY KEY (pipeline, interval_start));";

const STATE_DDL: &str = "
CREATE SCHEMA IF NOT EXISTS _pipec;
CREATE TABLE IF NOT EXISTS _pipec.schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _pipec.intervals (pipeline VARCHAR, interval_start TIMESTAMP, interval_end TIMESTAMP, ds DATE, label VARCHAR, status VARCHAR, run_id VARCHAR, finished_at TIMESTAMP, rows_written BIGINT, PRIMARY KEY (pipeline, interval_start));
CREATE TABLE IF NOT EXISTS _pipec.runs (run_id VARCHAR, pipeline VARCHAR, interval_start TIMESTAMP, interval_end TIMESTAMP, ds DATE, label VARCHAR, status VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, attempts INTEGER, error VARCHAR);
CREATE TABLE IF NOT EXISTS _pipec.watermarks (pipeline VARCHAR, name VARCHAR, value VARCHAR, PRIMARY KEY (pipeline, name));
CREATE TABLE IF NOT EXISTS _pipec.check_results (run_id VARCHAR, pipeline VARCHAR, interval_start TIMESTAMP, ds DATE, relation VARCHAR, rule VARCHAR, passed BOOLEAN, detail VARCHAR);
CREATE TABLE IF NOT EXISTS _pipec.rejects (pipeline VARCHAR, interval_start TIMESTAMP, ds DATE, source VARCHAR, file VARCHAR, line BIGINT, column_name VARCHAR, error VARCHAR);
-- File sinks' temp files: recorded before they are written, marked committed in the
-- transaction that publishes the tables, deleted once renamed onto dest.
CREATE TABLE IF NOT EXISTS _pipec.pending_files (run_id VARCHAR, pipeline VARCHAR, tmp VARCHAR, dest VARCHAR, committed BOOLEAN);
CREATE TABLE IF NOT EXISTS _pipec.fingerprints (pipeline VARCHAR, interval_start TIMESTAMP, run_id VARCHAR, recorded_at TIMESTAMP, fingerprint VARCHAR, PRIMARY KEY (pipeline, interval_start));
";

/// Version 1 tables keyed by `ds`, and how each becomes its version 2 table: the columns
/// selected from the old table `o` joined with the map `m` of (pipeline, ds) to intervals.
const V1_TABLES: [(&str, &str); 4] = [
    (
        "intervals",
        "o.pipeline, m.interval_start, m.interval_end, o.ds, m.label, o.status, o.run_id, o.finished_at, o.rows_written",
    ),
    (
        "runs",
        "o.run_id, o.pipeline, m.interval_start, m.interval_end, o.ds, m.label, o.status, o.started_at, o.finished_at, o.attempts, o.error",
    ),
    (
        "check_results",
        "o.run_id, o.pipeline, m.interval_start, o.ds, o.relation, o.rule, o.passed, o.detail",
    ),
    (
        "rejects",
        "o.pipeline, m.interval_start, o.ds, o.source, o.file, o.line, o.column_name, o.error",
    ),
];

/// Holds the warehouse's lock file while a run lasts.
pub struct Lock {
    file: File,
}

impl Drop for Lock {
    /// Clears the process id before the lock is released (the OS releases it at exit).
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

/// A `TIMESTAMP` parameter of a prepared state statement. DuckDB binds and plans a prepared
/// statement again at every execution when a parameter's value has another type than the
/// column (text for a `TIMESTAMP`, a `BIGINT` for an `INTEGER`), and when it calls a function
/// (`now()`): functions live in the system catalog, which every `ATTACH` of a staging database
/// changes. So state statements take typed values, times included.
pub(crate) fn timestamp(t: NaiveDateTime) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, t.and_utc().timestamp_micros())
}

/// A `DATE` parameter of a prepared state statement (see [`timestamp`]).
pub(crate) fn date(d: NaiveDate) -> Value {
    Value::Date32(d.signed_duration_since(NaiveDate::default()).num_days() as i32)
}

pub(crate) fn db_error(e: impl std::fmt::Display) -> RunError {
    RunError::new(
        codes::EXECUTION_FAILED,
        Span::default(),
        format!("warehouse error: {e}"),
        "",
        "see the message above; the warehouse is unchanged",
    )
}

/// The file `warehouse` leads to: symlinks followed (also one to a file not created yet) and the
/// folder made absolute and real, so that every path to one file shares one lock and one WAL.
/// Creates the folder when missing.
pub(crate) fn real_path(warehouse: &Path) -> Result<PathBuf, RunError> {
    let mut path = warehouse.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&path).map_err(db_error)?;
                path = path.parent().unwrap_or(Path::new("")).join(target);
            }
            _ => break,
        }
    }
    let Some(name) = path.file_name().map(|n| n.to_os_string()) else {
        return path.canonicalize().map_err(db_error);
    };
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(db_error)?;
    Ok(dir.canonicalize().map_err(db_error)?.join(name))
}

/// The lock file of the warehouse at real path `real`: its whole file name and `.lock`
/// (`w.duckdb.lock`, `a.db.lock`), so `a.db` and `a.duckdb` have their own.
fn lock_path(real: &Path) -> PathBuf {
    let mut name = real.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    real.with_file_name(name)
}

/// The process id a running pipec wrote into lock file `path`, as ` (pid N)`, if any.
fn holder(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .map(|pid| format!(" (pid {pid})"))
        .unwrap_or_default()
}

/// Takes the warehouse lock: refuses when another run holds it, or waits with `wait`. The lock
/// file is named after the real file (see [`real_path`]) and holds the process id of its holder.
pub(crate) fn lock(warehouse: &Path, wait: bool) -> Result<Lock, RunError> {
    let path = lock_path(&real_path(warehouse)?);
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(db_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(_) if wait => {
            eprintln!(
                "waiting for another pipec run{} to release {} ...",
                holder(&path),
                warehouse.display()
            );
            file.lock().map_err(db_error)?;
        }
        _ => {
            return Err(RunError::new(
                codes::WAREHOUSE_BUSY,
                Span::default(),
                format!(
                    "the warehouse {} is in use by another pipec run{}",
                    warehouse.display(),
                    holder(&path)
                ),
                "",
                "wait for it to finish, or pass --wait to queue behind it",
            ))
        }
    }
    // Best effort: the pid only names the holder in other commands' messages.
    let _ = file.set_len(0).and_then(|_| {
        use std::io::Write;
        writeln!(file, "{}", std::process::id())
    });
    Ok(Lock { file })
}

/// Takes the warehouse lock shared, for reading while no run writes: `E0508` naming the running
/// pipec while one holds it. Without a lock file that can be created (a read-only folder) or
/// locked, nothing is locked.
fn lock_shared(warehouse: &Path, real: &Path) -> Result<Option<File>, RunError> {
    let path = lock_path(real);
    let Ok(file) = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .or_else(|_| File::open(&path))
    else {
        return Ok(None);
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(file)),
        // A file system without locks: DuckDB's own lock still keeps a run out.
        Err(std::fs::TryLockError::Error(_)) => Ok(None),
        Err(std::fs::TryLockError::WouldBlock) => Err(RunError::new(
            codes::WAREHOUSE_BUSY,
            Span::default(),
            format!(
                "the warehouse {} is busy: a pipec run is in progress{}",
                warehouse.display(),
                holder(&path)
            ),
            "",
            "DuckDB lets no other process read a file while a run writes it; run `pipec runs` again when the run has finished",
        )),
    }
}

/// Opens the warehouse file; another program holding it open is `E0520`, naming it when
/// DuckDB's message does ("Conflicting lock is held in <program> (PID n)").
/// The file is opened at its real path (see [`real_path`]), read-only with `read_only`.
fn connect(warehouse: &Path, read_only: bool) -> Result<Connection, RunError> {
    let real = real_path(warehouse)?;
    let opened = if read_only {
        duckdb::Config::default()
            .access_mode(duckdb::AccessMode::ReadOnly)
            .and_then(|config| Connection::open_with_flags(&real, config))
    } else {
        Connection::open(&real)
    };
    opened.map_err(|e| {
        let msg = e.to_string();
        if msg.contains("Could not set lock") {
            held_open(warehouse, &msg)
        } else {
            db_error(msg)
        }
    })
}

/// `E0520` for DuckDB's lock error `msg` on `warehouse`.
pub(crate) fn held_open(warehouse: &Path, msg: &str) -> RunError {
    let holder = msg
        .split_once("Conflicting lock is held in ")
        .and_then(|(_, rest)| {
            let (program, rest) = rest.split_once(" (PID ")?;
            let (pid, _) = rest.split_once(')')?;
            Some(format!(" ({program}, PID {pid})"))
        })
        .unwrap_or_default();
    RunError::new(
        codes::WAREHOUSE_LOCKED,
        Span::default(),
        format!(
            "the warehouse {} is held open by another program{holder}, so pipec cannot open it",
            warehouse.display()
        ),
        "",
        "close that program (a `duckdb` shell, notebook or BI tool), or have it open the file read-only (`duckdb -readonly FILE`), then run again",
    )
}

/// Opens (creating if needed) the warehouse and its state tables, migrating the state of an
/// older pipec (see [`migrate_v1`]) with the interval rules of `project`, then completes the
/// file renames of a killed run (see [`recover_files`]). Called with the warehouse lock held.
pub(crate) fn open(warehouse: &Path, project: &Project) -> Result<Connection, RunError> {
    let conn = connect(warehouse, false)?;
    match version(&conn)? {
        Some(SCHEMA_VERSION) => conn.execute_batch(FINGERPRINTS_DDL).map_err(db_error)?,
        Some(v) if v > SCHEMA_VERSION => return Err(newer(warehouse, v)),
        Some(1) => migrate_v1(&conn, project)?,
        // Layout 2 lacks only `_pipec.pending_files`, which the DDL adds.
        Some(_) | None => conn
            .execute_batch(&format!(
                "BEGIN TRANSACTION; {STATE_DDL} INSERT INTO _pipec.schema_version VALUES ({SCHEMA_VERSION}); COMMIT;"
            ))
            .map_err(db_error)?,
    }
    recover_files(&conn)?;
    crate::tally::TALLIES.register(&conn).map_err(db_error)?;
    crate::exact::register(&conn).map_err(db_error)?;
    crate::zones::register(&conn).map_err(db_error)?;
    Ok(conn)
}

/// Completes what a killed run left in `_pipec.pending_files`: a committed run's temp files are
/// renamed onto their targets (roll forward: its tables are published), an uncommitted run's
/// temp files are removed (its tables are not). A rename that fails stays pending, with a warning.
fn recover_files(conn: &Connection) -> Result<(), RunError> {
    let pending: Vec<(String, String, bool)> = conn
        .prepare("SELECT tmp, dest, committed FROM _pipec.pending_files")
        .and_then(|mut st| {
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(db_error)?;
    for (tmp, dest, committed) in pending {
        let tmp_path = Path::new(&tmp);
        let outcome = if !tmp_path.exists() {
            Ok(())
        } else if committed {
            std::fs::rename(tmp_path, &dest)
        } else {
            std::fs::remove_file(tmp_path)
        };
        match outcome {
            Ok(()) => {
                conn.execute(
                    "DELETE FROM _pipec.pending_files WHERE tmp = ?",
                    params![tmp],
                )
                .map_err(db_error)?;
            }
            Err(e) if committed => eprintln!(
                "warning: cannot put {dest} in place, published by a killed run ({e}); it stays pending"
            ),
            Err(e) => eprintln!(
                "warning: cannot remove {tmp}, left by a killed run ({e}); it stays pending"
            ),
        }
    }
    Ok(())
}

/// The layout of the state in `conn`: `None` without state, 1 for tables without a version.
fn version(conn: &Connection) -> Result<Option<i32>, RunError> {
    match conn.query_row("SELECT max(version) FROM _pipec.schema_version", [], |r| {
        r.get::<_, Option<i32>>(0)
    }) {
        Ok(v) => Ok(Some(v.unwrap_or(1))),
        Err(_) => Ok(conn
            .prepare("SELECT 1 FROM _pipec.intervals LIMIT 0")
            .is_ok()
            .then_some(1)),
    }
}

/// `E0525`: the warehouse's state is of a newer layout than this pipec knows.
fn newer(warehouse: &Path, v: i32) -> RunError {
    RunError::new(
        codes::NEWER_STATE,
        Span::default(),
        format!(
            "the warehouse {} has pipec state of layout {v}, newer than this pipec's {SCHEMA_VERSION}; it was left as it is",
            warehouse.display()
        ),
        "",
        "run a pipec at least as new as the one that last ran on this warehouse",
    )
}

/// The interval an older pipec's row for pipeline `name` and date `ds` stands for: the first
/// interval of that date under the pipeline's rule (for a daily schedule, its day in the
/// schedule's zone), or the UTC day the old runner processed for a pipeline not in `project`.
fn legacy(project: &Project, name: &str, ds: NaiveDate) -> Run {
    match project.pipelines.iter().find(|p| p.name == name) {
        Some(p) => intervals::first_of_day(p, ds),
        None => intervals::utc_day(ds),
    }
}

/// Migrates state of layout 1 (keyed by `ds`) to layout 2 (keyed by interval start) in one
/// transaction: each row's date becomes the interval [`legacy`] gives it.
fn migrate_v1(conn: &Connection, project: &Project) -> Result<(), RunError> {
    let fail = |e: duckdb::Error| {
        RunError::new(
            codes::STATE_MIGRATION,
            Span::default(),
            format!("cannot migrate pipec's state in `_pipec` to layout {SCHEMA_VERSION}: {e}"),
            "",
            "the warehouse was left as it was; report this with the message above",
        )
    };
    conn.execute_batch("BEGIN TRANSACTION").map_err(fail)?;
    let result = (|| -> Result<(), duckdb::Error> {
        let union: Vec<String> = V1_TABLES
            .iter()
            .map(|(t, _)| format!("SELECT pipeline, ds FROM _pipec.{t}"))
            .collect();
        let pairs: Vec<(String, NaiveDate)> = conn
            .prepare(&format!(
                "SELECT DISTINCT pipeline, ds FROM ({}) WHERE pipeline IS NOT NULL AND ds IS NOT NULL",
                union.join(" UNION ALL ")
            ))?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        conn.execute_batch(
            "CREATE OR REPLACE TEMP TABLE pipec_v1_map (pipeline VARCHAR, ds DATE, interval_start TIMESTAMP, interval_end TIMESTAMP, label VARCHAR)",
        )?;
        let mut insert = conn.prepare(
            "INSERT INTO pipec_v1_map VALUES (?, ?, CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP), ?)",
        )?;
        for (name, ds) in &pairs {
            let run = legacy(project, name, *ds);
            insert.execute(params![
                name,
                ds,
                run.interval.start_text(),
                run.interval.end_text(),
                run.label
            ])?;
        }
        for (t, _) in V1_TABLES {
            conn.execute_batch(&format!(
                "CREATE OR REPLACE TEMP TABLE pipec_v1_{t} AS SELECT * FROM _pipec.{t}; DROP TABLE _pipec.{t};"
            ))?;
        }
        conn.execute_batch(STATE_DDL)?;
        for (t, cols) in V1_TABLES {
            conn.execute_batch(&format!(
                "INSERT INTO _pipec.{t} SELECT {cols} FROM pipec_v1_{t} o JOIN pipec_v1_map m ON m.pipeline = o.pipeline AND m.ds = o.ds; DROP TABLE pipec_v1_{t};"
            ))?;
        }
        conn.execute_batch(&format!(
            "DROP TABLE pipec_v1_map; INSERT INTO _pipec.schema_version VALUES ({SCHEMA_VERSION});"
        ))
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(fail),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(fail(e))
        }
    }
}

/// Migrates a sink table written by `mode append` under layout 1, whose hidden column
/// `_pipec_ds` held the run's date, to `_pipec_interval`, the start of the run's interval (UTC):
/// each date becomes the first interval of that date under the pipeline's rule.
pub(crate) fn retag_v1_table(
    conn: &Connection,
    p: &Pipeline,
    target: &str,
) -> Result<(), duckdb::Error> {
    let days: Vec<NaiveDate> = conn
        .prepare(&format!(
            "SELECT DISTINCT \"_pipec_ds\" FROM {target} WHERE \"_pipec_ds\" IS NOT NULL"
        ))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let cases: Vec<String> = days
        .iter()
        .map(|d| {
            let start = intervals::first_of_day(p, *d).interval.start_text();
            format!("WHEN DATE '{d}' THEN TIMESTAMP '{start}'")
        })
        .collect();
    let using = if cases.is_empty() {
        "CAST(\"_pipec_ds\" AS TIMESTAMP)".to_string()
    } else {
        format!("CASE \"_pipec_ds\" {} END", cases.join(" "))
    };
    conn.execute_batch(&format!(
        "ALTER TABLE {target} ALTER COLUMN \"_pipec_ds\" SET DATA TYPE TIMESTAMP USING ({using}); \
         ALTER TABLE {target} RENAME COLUMN \"_pipec_ds\" TO \"_pipec_interval\";"
    ))
}

/// The intervals done on the warehouse: (pipeline, start in UTC as [`Run`]'s
/// `interval.start_text()` writes it). Read once per command: only the command itself, holding
/// the lock, changes them, and it runs each interval once.
pub(crate) fn done_intervals(
    conn: &Connection,
) -> Result<std::collections::HashSet<(String, String)>, RunError> {
    conn.prepare(
        "SELECT pipeline, strftime(interval_start, '%Y-%m-%d %H:%M:%S') FROM _pipec.intervals WHERE status = 'done'",
    )
    .and_then(|mut st| {
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect()
    })
    .map_err(db_error)
}

/// Records one run (attempts included) of interval `run` of `p` in `_pipec.runs`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_run(
    conn: &Connection,
    run_id: &str,
    p: &Pipeline,
    run: &Run,
    status: &str,
    started: NaiveDateTime,
    attempts: usize,
    error: Option<&str>,
) -> Result<(), RunError> {
    // A null parameter has no type and would make DuckDB plan the statement again each time.
    let sql = match error {
        Some(_) => "INSERT INTO _pipec.runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        None => "INSERT INTO _pipec.runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
    };
    conn.prepare_cached(sql)
        .and_then(|mut st| {
            let mut values = vec![
                Value::Text(run_id.to_string()),
                Value::Text(p.name.clone()),
                timestamp(run.interval.start.naive_utc()),
                timestamp(run.interval.end.naive_utc()),
                date(run.ds()),
                Value::Text(run.label.clone()),
                Value::Text(status.to_string()),
                timestamp(started),
                timestamp(chrono::Utc::now().naive_utc()),
                Value::Int(attempts as i32),
            ];
            values.extend(error.map(|e| Value::Text(e.to_string())));
            st.execute(duckdb::params_from_iter(values))
        })
        .map_err(db_error)?;
    Ok(())
}

/// Records the outcome of every check of interval `run` of `p`.
pub(crate) fn record_checks(
    conn: &Connection,
    run_id: &str,
    p: &Pipeline,
    run: &Run,
    checks: &[CheckReport],
) -> Result<(), RunError> {
    for c in checks {
        conn.execute(
            "INSERT INTO _pipec.check_results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                run_id,
                p.name,
                timestamp(run.interval.start.naive_utc()),
                date(run.ds()),
                c.relation,
                c.rule,
                c.passed,
                c.detail
            ],
        )
        .map_err(db_error)?;
    }
    Ok(())
}

pub(crate) fn watermark(
    conn: &Connection,
    pipeline: &str,
    name: &str,
) -> Result<Option<String>, RunError> {
    let mut stmt = conn
        .prepare("SELECT value FROM _pipec.watermarks WHERE pipeline = ? AND name = ?")
        .map_err(db_error)?;
    let mut rows = stmt.query(params![pipeline, name]).map_err(db_error)?;
    match rows.next().map_err(db_error)? {
        Some(r) => Ok(r.get(0).map_err(db_error)?),
        None => Ok(None),
    }
}

/// One row of `pipec runs`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    /// Pipeline.
    pub pipeline: String,
    /// `@ds` of the interval: the local date of its start.
    pub ds: String,
    /// The interval as shown: `@ds`, or `@ds HH:MM` (local start) for intervals shorter than
    /// a day.
    pub interval: String,
    /// The interval's start in UTC (`YYYY-MM-DD HH:MM:SS`).
    pub start: String,
    /// `done`, `failed` or `skipped` (not run because it or an upstream failed earlier).
    pub status: String,
    /// Attempts of the latest run.
    pub attempts: i64,
    /// When the latest run finished.
    pub finished_at: String,
    /// Rows written by the run that completed the interval.
    pub rows_written: Option<i64>,
    /// The latest error, redacted.
    pub error: Option<String>,
}

/// The state of every interval run on `warehouse`, newest run per interval. Reads the state of
/// an older pipec as it is (it is migrated by the next `run`) and changes nothing.
pub fn history(warehouse: &Path) -> Result<Vec<HistoryRow>, RunError> {
    if !warehouse.exists() {
        return Ok(Vec::new());
    }
    // Shared with other readers, refused while a run writes; held until the rows are read.
    let _lock = lock_shared(warehouse, &real_path(warehouse)?)?;
    let conn = connect(warehouse, true)?;
    let (key, label) = match version(&conn)? {
        None => return Ok(Vec::new()),
        Some(2 | SCHEMA_VERSION) => ("interval_start", "r.label"),
        Some(v) if v > SCHEMA_VERSION => return Err(newer(warehouse, v)),
        Some(_) => ("ds", "CAST(r.ds AS VARCHAR)"),
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT r.pipeline, CAST(r.ds AS VARCHAR), {label}, CAST(CAST(r.{key} AS TIMESTAMP) AS VARCHAR), r.status, r.attempts, CAST(r.finished_at AS VARCHAR), i.rows_written, r.error
             FROM (SELECT *, row_number() OVER (PARTITION BY pipeline, {key} ORDER BY finished_at DESC) AS n FROM _pipec.runs) r
             LEFT JOIN _pipec.intervals i ON i.pipeline = r.pipeline AND i.{key} = r.{key} AND r.status = 'done'
             WHERE r.n = 1 ORDER BY r.pipeline, r.{key}",
        ))
        .map_err(db_error)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(HistoryRow {
                pipeline: r.get(0)?,
                ds: r.get(1)?,
                interval: r.get(2)?,
                start: r.get(3)?,
                status: r.get(4)?,
                attempts: r.get(5)?,
                finished_at: r.get(6)?,
                rows_written: r.get(7)?,
                error: r.get(8)?,
            })
        })
        .map_err(db_error)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
}

/// A check rule's result in the newest run of an interval (`pipec docs --warehouse`).
#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    /// Pipeline.
    pub pipeline: String,
    /// The interval's start in UTC (`YYYY-MM-DD HH:MM:SS`).
    pub start: String,
    /// Relation checked.
    pub relation: String,
    /// The rule as written.
    pub rule: String,
    /// Whether it held.
    pub passed: bool,
    /// What failed.
    pub detail: Option<String>,
}

/// A rejected source row (`pipec docs --warehouse`).
#[derive(Debug, Clone, Serialize)]
pub struct RejectRow {
    /// Pipeline.
    pub pipeline: String,
    /// The interval's start in UTC (`YYYY-MM-DD HH:MM:SS`).
    pub start: String,
    /// Source relation.
    pub source: String,
    /// File read.
    pub file: Option<String>,
    /// Line of the file.
    pub line: Option<i64>,
    /// Column at fault.
    pub column: Option<String>,
    /// Why.
    pub error: String,
}

/// Check results and rejects recorded on a warehouse.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HistoryDetails {
    /// Check results of the newest run of every interval.
    pub checks: Vec<CheckRow>,
    /// Every rejected row.
    pub rejects: Vec<RejectRow>,
}

/// The check results of the newest run of every interval and the rejected rows recorded on
/// `warehouse`, read-only like [`history`]. Empty for a missing warehouse and for state of a
/// layout older than version 2 (before intervals were keyed by their start).
pub fn history_details(warehouse: &Path) -> Result<HistoryDetails, RunError> {
    if !warehouse.exists() {
        return Ok(HistoryDetails::default());
    }
    let _lock = lock_shared(warehouse, &real_path(warehouse)?)?;
    let conn = connect(warehouse, true)?;
    match version(&conn)? {
        Some(v) if v > SCHEMA_VERSION => return Err(newer(warehouse, v)),
        Some(v) if v >= 2 => {}
        _ => return Ok(HistoryDetails::default()),
    }
    let mut stmt = conn
        .prepare(
            "SELECT c.pipeline, CAST(c.interval_start AS VARCHAR), c.relation, c.rule, COALESCE(c.passed, false), c.detail
             FROM _pipec.check_results c
             JOIN (SELECT run_id, row_number() OVER (PARTITION BY pipeline, interval_start ORDER BY finished_at DESC) AS n FROM _pipec.runs) r
               ON r.run_id = c.run_id AND r.n = 1
             ORDER BY c.pipeline, c.interval_start, c.relation, c.rule",
        )
        .map_err(db_error)?;
    let checks = stmt
        .query_map([], |r| {
            Ok(CheckRow {
                pipeline: r.get(0)?,
                start: r.get(1)?,
                relation: r.get(2)?,
                rule: r.get(3)?,
                passed: r.get(4)?,
                detail: r.get(5)?,
            })
        })
        .map_err(db_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    let mut stmt = conn
        .prepare(
            "SELECT pipeline, CAST(interval_start AS VARCHAR), COALESCE(source, ''), file, line, column_name, COALESCE(error, '')
             FROM _pipec.rejects ORDER BY pipeline, interval_start, source, file, line, column_name",
        )
        .map_err(db_error)?;
    let rejects = stmt
        .query_map([], |r| {
            Ok(RejectRow {
                pipeline: r.get(0)?,
                start: r.get(1)?,
                source: r.get(2)?,
                file: r.get(3)?,
                line: r.get(4)?,
                column: r.get(5)?,
                error: r.get(6)?,
            })
        })
        .map_err(db_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    Ok(HistoryDetails { checks, rejects })
}

/// Records the fingerprints of `p` with interval `run` (replacing those of an earlier run of it).
pub(crate) fn record_fingerprint(
    conn: &Connection,
    run_id: &str,
    p: &Pipeline,
    run: &Run,
) -> Result<(), RunError> {
    let fingerprint = serde_json::to_string(&pipec_plan::fingerprint::pipeline_fingerprint(p))
        .map_err(db_error)?;
    conn.prepare_cached(
        "DELETE FROM _pipec.fingerprints WHERE pipeline = ? AND interval_start = ?",
    )
    .and_then(|mut st| st.execute(params![p.name, timestamp(run.interval.start.naive_utc())]))
    .map_err(db_error)?;
    conn.prepare_cached("INSERT INTO _pipec.fingerprints VALUES (?, ?, ?, ?, ?)")
        .and_then(|mut st| {
            st.execute(params![
                p.name,
                timestamp(run.interval.start.naive_utc()),
                run_id,
                timestamp(chrono::Utc::now().naive_utc()),
                fingerprint
            ])
        })
        .map_err(db_error)?;
    Ok(())
}

/// What a warehouse last ran, per pipeline: the fingerprints recorded with its latest run
/// (`None` when it has intervals done but no fingerprint, written by an older pipec).
pub type Recorded = HashMap<String, Option<PipelineFingerprint>>;

/// One interval done, as `pipec plan` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DoneInterval {
    /// `@ds` (the local date of its start).
    pub ds: String,
    /// The interval as `pipec runs` shows it.
    pub label: String,
    /// Its start in UTC.
    pub start: String,
    /// Its end in UTC (exclusive).
    pub end: String,
    /// When the run that completed it published, UTC (`YYYY-MM-DD HH:MM:SS[.ffffff]`).
    pub finished_at: String,
}

/// The fingerprints `conn` recorded with each pipeline's latest run, and the intervals done.
pub(crate) fn recorded_in(
    conn: &Connection,
) -> Result<(Recorded, HashMap<String, Vec<DoneInterval>>), RunError> {
    let mut done: HashMap<String, Vec<DoneInterval>> = HashMap::new();
    let mut stmt = conn
        .prepare("SELECT pipeline, CAST(ds AS VARCHAR), label, CAST(interval_start AS VARCHAR), COALESCE(CAST(interval_end AS VARCHAR), ''), COALESCE(CAST(finished_at AS VARCHAR), '') FROM _pipec.intervals WHERE status = 'done' ORDER BY pipeline, interval_start")
        .map_err(db_error)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                DoneInterval {
                    ds: r.get(1)?,
                    label: r.get(2)?,
                    start: r.get(3)?,
                    end: r.get(4)?,
                    finished_at: r.get(5)?,
                },
            ))
        })
        .map_err(db_error)?;
    for row in rows {
        let (p, i) = row.map_err(db_error)?;
        done.entry(p).or_default().push(i);
    }
    let mut recorded: Recorded = done.keys().map(|p| (p.clone(), None)).collect();
    // A warehouse of an older pipec has no fingerprints table.
    if let Ok(mut stmt) = conn.prepare(
        "SELECT pipeline, fingerprint FROM (SELECT *, row_number() OVER (PARTITION BY pipeline ORDER BY recorded_at DESC, interval_start DESC) AS n FROM _pipec.fingerprints) WHERE n = 1",
    ) {
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(db_error)?;
        for row in rows {
            let (p, text) = row.map_err(db_error)?;
            recorded.insert(p, serde_json::from_str(&text).ok());
        }
    }
    Ok((recorded, done))
}

/// What `warehouse` last ran (see [`recorded_in`]), read without changing anything; empty when
/// the file or pipec's state does not exist.
pub fn recorded(
    warehouse: &Path,
) -> Result<(Recorded, HashMap<String, Vec<DoneInterval>>), RunError> {
    if !warehouse.exists() {
        return Ok(Default::default());
    }
    let _lock = lock_shared(warehouse, &real_path(warehouse)?)?;
    let conn = connect(warehouse, true)?;
    match version(&conn)? {
        None => Ok(Default::default()),
        Some(v) if v > SCHEMA_VERSION => Err(newer(warehouse, v)),
        Some(v) if v < 2 => Err(RunError::new(
            codes::STATE_MIGRATION,
            Span::default(),
            format!(
                "the warehouse {} has pipec state of layout {v}, which the next `pipec run` migrates; `pipec plan` reads layout {SCHEMA_VERSION}",
                warehouse.display()
            ),
            "",
            "run `pipec run` once (it migrates the state), then `pipec plan` again",
        )),
        Some(_) => recorded_in(&conn),
    }
}
