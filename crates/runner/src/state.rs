//! The warehouse file, its lock, and pipec's own state in the `_pipec` schema.

use std::fs::File;
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};
use duckdb::{params, Connection};
use pipec_check::ir::Pipeline;
use pipec_diag::{codes, Span};
use serde::Serialize;

use crate::report::CheckReport;
use crate::RunError;

const STATE_DDL: &str = "
BEGIN TRANSACTION;
CREATE SCHEMA IF NOT EXISTS _pipec;
CREATE TABLE IF NOT EXISTS _pipec.intervals (pipeline VARCHAR, ds DATE, status VARCHAR, run_id VARCHAR, finished_at TIMESTAMP, rows_written BIGINT, PRIMARY KEY (pipeline, ds));
CREATE TABLE IF NOT EXISTS _pipec.runs (run_id VARCHAR, pipeline VARCHAR, ds DATE, status VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, attempts INTEGER, error VARCHAR);
CREATE TABLE IF NOT EXISTS _pipec.watermarks (pipeline VARCHAR, name VARCHAR, value VARCHAR, PRIMARY KEY (pipeline, name));
CREATE TABLE IF NOT EXISTS _pipec.check_results (run_id VARCHAR, pipeline VARCHAR, ds DATE, relation VARCHAR, rule VARCHAR, passed BOOLEAN, detail VARCHAR);
CREATE TABLE IF NOT EXISTS _pipec.rejects (pipeline VARCHAR, ds DATE, source VARCHAR, file VARCHAR, line BIGINT, column_name VARCHAR, error VARCHAR);
COMMIT;
";

/// Holds the warehouse's lock file while a run lasts.
pub struct Lock {
    _file: File,
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

/// Takes the warehouse lock: refuses when another run holds it, or waits with `wait`.
pub(crate) fn lock(warehouse: &Path, wait: bool) -> Result<Lock, RunError> {
    if let Some(dir) = warehouse.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(db_error)?;
    }
    let path = warehouse.with_extension("duckdb.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(db_error)?;
    match file.try_lock() {
        Ok(()) => Ok(Lock { _file: file }),
        Err(_) if wait => {
            eprintln!(
                "waiting for another pipec run to release {} ...",
                warehouse.display()
            );
            file.lock().map_err(db_error)?;
            Ok(Lock { _file: file })
        }
        _ => Err(RunError::new(
            codes::WAREHOUSE_BUSY,
            Span::default(),
            format!(
                "the warehouse {} is in use by another pipec run",
                warehouse.display()
            ),
            "",
            "wait for it to finish, or pass --wait to queue behind it",
        )),
    }
}

/// Opens (creating if needed) the warehouse and its state tables.
pub(crate) fn open(warehouse: &Path) -> Result<Connection, RunError> {
    let conn = Connection::open(warehouse).map_err(db_error)?;
    conn.execute_batch(STATE_DDL).map_err(db_error)?;
    crate::tally::TALLIES.register(&conn).map_err(db_error)?;
    Ok(conn)
}

pub(crate) fn is_done(conn: &Connection, pipeline: &str, ds: NaiveDate) -> Result<bool, RunError> {
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM _pipec.intervals WHERE pipeline = ? AND ds = CAST(? AS DATE) AND status = 'done'",
            params![pipeline, ds.to_string()],
            |r| r.get(0),
        )
        .map_err(db_error)?;
    Ok(n > 0)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn record_run(
    conn: &Connection,
    run_id: &str,
    p: &Pipeline,
    ds: NaiveDate,
    status: &str,
    started: NaiveDateTime,
    attempts: usize,
    error: Option<&str>,
) -> Result<(), RunError> {
    conn.execute(
        "INSERT INTO _pipec.runs VALUES (?, ?, CAST(? AS DATE), ?, CAST(? AS TIMESTAMP), now()::TIMESTAMP, ?, ?)",
        params![run_id, p.name, ds.to_string(), status, started.to_string(), attempts as i64, error],
    )
    .map_err(db_error)?;
    Ok(())
}

pub(crate) fn record_checks(
    conn: &Connection,
    run_id: &str,
    p: &Pipeline,
    ds: NaiveDate,
    checks: &[CheckReport],
) -> Result<(), RunError> {
    for c in checks {
        conn.execute(
            "INSERT INTO _pipec.check_results VALUES (?, ?, CAST(? AS DATE), ?, ?, ?, ?)",
            params![
                run_id,
                p.name,
                ds.to_string(),
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
    /// Interval date.
    pub ds: String,
    /// `done` or `failed`.
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

/// The state of every interval run on `warehouse`, newest run per interval.
pub fn history(warehouse: &Path) -> Result<Vec<HistoryRow>, RunError> {
    if !warehouse.exists() {
        return Ok(Vec::new());
    }
    let conn = Connection::open(warehouse).map_err(db_error)?;
    conn.execute_batch(STATE_DDL).map_err(db_error)?;
    let mut stmt = conn
        .prepare(
            "SELECT r.pipeline, CAST(r.ds AS VARCHAR), r.status, r.attempts, CAST(r.finished_at AS VARCHAR), i.rows_written, r.error
             FROM (SELECT *, row_number() OVER (PARTITION BY pipeline, ds ORDER BY finished_at DESC) AS n FROM _pipec.runs) r
             LEFT JOIN _pipec.intervals i ON i.pipeline = r.pipeline AND i.ds = r.ds AND r.status = 'done'
             WHERE r.n = 1 ORDER BY r.pipeline, r.ds",
        )
        .map_err(db_error)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(HistoryRow {
                pipeline: r.get(0)?,
                ds: r.get(1)?,
                status: r.get(2)?,
                attempts: r.get(3)?,
                finished_at: r.get(4)?,
                rows_written: r.get(5)?,
                error: r.get(6)?,
            })
        })
        .map_err(db_error)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
}
