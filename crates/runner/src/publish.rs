//! Checks on staged data, then the all-or-nothing publish of every sink and the run's state.

use duckdb::{params, Connection};
use pipec_check::ir::{FileFormat, Pipeline, RelationKind, Rule, SinkMode, SinkTarget, Source};
use pipec_diag::codes;
use pipec_sql::{ident, string, table, type_sql, Interval};

use crate::intervals::Run;
use crate::load::{exec_error, Reject, Stage};
use crate::report::CheckReport;
use crate::retention::RetentionReport;
use crate::RunError;

fn scalar_i64(conn: &Connection, sql: &str, span: pipec_diag::Span) -> Result<i64, RunError> {
    conn.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
        .map(|v| v.unwrap_or(0))
        .map_err(|e| exec_error(span, &format!("{e}\n{sql}")))
}

/// Runs every check rule on the staged relations.
pub(crate) fn run_checks(
    conn: &Connection,
    p: &Pipeline,
    stage: &Stage,
    run: &Interval,
) -> Result<Vec<CheckReport>, RunError> {
    let mut out = Vec::new();
    let ctx = pipec_sql::Ctx::duckdb(run);
    for check in &p.checks {
        let t = stage.table(&check.relation);
        for r in &check.rules {
            let q = ctx.check(&r.rule, &t);
            let n = scalar_i64(conn, &q.sql, r.span)?;
            let passed = !q.failed(n);
            let detail = match &r.rule {
                Rule::NotNull { .. } => format!("{n} row(s) with nulls"),
                Rule::Unique { .. } => format!("{n} duplicated key(s)"),
                Rule::AcceptedValues { .. } => format!("{n} row(s) with other values"),
                Rule::InRange { .. } => format!("{n} row(s) out of range"),
                Rule::RowCount { .. } => format!("{n} row(s)"),
                Rule::Row { .. } => format!("{n} row(s) fail"),
                Rule::Aggregate { .. } if passed => "holds".into(),
                Rule::Aggregate { .. } => "does not hold".into(),
            };
            out.push(CheckReport {
                relation: check.relation.clone(),
                rule: r.text.clone(),
                passed,
                detail,
                span: r.span,
            });
        }
    }
    Ok(out)
}

fn mismatch(span: pipec_diag::Span, name: &str, want: &[String], have: &[String]) -> RunError {
    RunError::new(
        codes::TABLE_MISMATCH,
        span,
        format!(
            "table {name} has columns ({}) but the pipeline writes ({})",
            have.join(", "),
            want.join(", ")
        ),
        "this sink",
        "migrate the table (or drop it for a full rebuild) so its columns match the relation",
    )
}

/// The primary key of a merge sink's table: the partition column (when partitioned), then the
/// merge keys; none when a key column is nullable (a primary key cannot hold null).
fn primary_key(s: &pipec_check::ir::Sink, schema: &pipec_check::ir::Schema) -> Option<Vec<String>> {
    let SinkMode::Merge { keys } = &s.mode else {
        return None;
    };
    let mut key: Vec<String> = s.partition_by.iter().cloned().collect();
    key.extend(
        keys.iter()
            .filter(|k| !key.contains(k))
            .cloned()
            .collect::<Vec<_>>(),
    );
    key.iter()
        .all(|k| schema.get(k).is_some_and(|c| !c.nullable))
        .then_some(key)
}

fn outside_partition(s: &pipec_check::ir::Sink, rows: i64, ds: &str) -> RunError {
    let col = s.partition_by.as_deref().unwrap_or_default();
    RunError::new(
        codes::OUTSIDE_PARTITION,
        s.span,
        format!(
            "{rows} row(s) of `{}` have `{col}` other than the run's {ds}; a run of a sink with `partition by {col}` writes only its own partition; nothing was published",
            s.relation
        ),
        format!("partitioned by `{col}`"),
        format!("set `{col}` to the run's date (`derive {col} = @ds`), or filter the relation to the interval"),
    )
}

/// The columns of table `target`, from the result shape of an empty query: querying the catalog
/// views costs tens of milliseconds.
fn columns_of(conn: &Connection, target: &str) -> duckdb::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("SELECT * FROM {target} LIMIT 0"))?;
    stmt.execute([])?;
    Ok(stmt.column_names())
}

/// What a publish did: rows written per sink, and what retention did.
pub(crate) type Published = (Vec<(String, u64)>, Vec<RetentionReport>);

/// Writes every sink, the rejects and the interval's state (with its `_pipec.runs` row for
/// attempt `(started, number)` of run `run_id`) in one transaction. File sinks are written to
/// temp files first and recorded in `_pipec.pending_files`, marked committed in that transaction
/// and renamed onto their targets after the commit; a killed run's renames are completed (or,
/// uncommitted, its temp files removed) by the next run, so files and tables publish together.
/// The tables of the sinks named in `refresh` (`--full-refresh`) are dropped and created anew
/// in that transaction, and their watermarks forgotten.
#[allow(clippy::too_many_arguments)]
pub(crate) fn publish(
    conn: &Connection,
    p: &Pipeline,
    ds: &Run,
    (run_id, (started, attempt)): (&str, (chrono::NaiveDateTime, usize)),
    stage: &Stage,
    run: &Interval,
    checks: &[CheckReport],
    rejects: &[Reject],
    refresh: &[String],
) -> Result<Published, RunError> {
    let files = write_files(conn, p, run_id, stage, run)?;
    // The columns of the sink tables that exist, read before the transaction (a failed probe
    // inside it would abort it): those need no `CREATE ... IF NOT EXISTS`.
    let mut existing: std::collections::HashMap<String, Vec<String>> = p
        .sinks
        .iter()
        .filter_map(|s| match &s.target {
            SinkTarget::Table { schema, table: t } => {
                let target = table(schema, t);
                let known = stage.cache().and_then(|c| c.sink_columns(&target));
                known
                    .or_else(|| columns_of(conn, &target).ok())
                    .map(|cols| (target, cols))
            }
            SinkTarget::File { .. } => None,
        })
        .collect();
    // Transactions changing only rows run at once (DuckDB keeps them apart; two pipelines never
    // write the same rows). One that creates, alters or drops a table or schema runs alone: two
    // creating the same schema at once would fail one commit with a write-write conflict.
    let alters = !refresh.is_empty() || p.sinks.iter().any(|s| alters_table(p, s, &existing));
    let (_rows, _tables);
    if alters {
        _tables = PUBLISHING.write().unwrap_or_else(|e| e.into_inner());
    } else {
        _rows = PUBLISHING.read().unwrap_or_else(|e| e.into_inner());
    }
    if let Err(e) = conn.execute_batch("BEGIN TRANSACTION") {
        discard_files(conn, p, run_id, &files);
        return Err(exec_error(p.span, &e.to_string()));
    }
    let mut expired = Vec::new();
    let mut columns_now: Vec<(String, Vec<String>)> = Vec::new();
    let result = (|| -> Result<Vec<(String, u64)>, RunError> {
        let mut written = Vec::new();
        let dsl = format!("DATE {}", string(&ds.ds().to_string()));
        for s in &p.sinks {
            let staged = stage.table(&s.relation);
            let schema = &p.relation(&s.relation).expect("checked relation").schema;
            let SinkTarget::Table {
                schema: sch,
                table: tbl,
            } = &s.target
            else {
                written.push((
                    s.name(),
                    scalar_i64(conn, &format!("SELECT count(*) FROM {staged}"), s.span)? as u64,
                ));
                continue;
            };
            let target = table(sch, tbl);
            if refresh.contains(&s.name()) && existing.remove(&target).is_some() {
                conn.execute_batch(&format!("DROP TABLE {target}"))
                    .map_err(|e| exec_error(s.span, &e.to_string()))?;
                conn.execute(
                    "DELETE FROM _pipec.watermarks WHERE pipeline = ? AND name = ?",
                    params![p.name, format!("sink:{}", s.name())],
                )
                .map_err(|e| exec_error(s.span, &e.to_string()))?;
            }
            // What the mode means (section 11) is decided once, in pipec-sql, for every engine.
            let sink_plan = pipec_sql::sinks::SinkPlan::of(s, schema);
            let keyed_append = sink_plan.interval_column;
            // A table pipec creates declares what the checker knows: non-null columns and the
            // merge key. Existing tables are left as they are.
            let mut defs: Vec<String> = schema
                .columns
                .iter()
                .map(|c| {
                    let not_null = if c.nullable { "" } else { " NOT NULL" };
                    format!("{} {}{not_null}", ident(&c.name), type_sql(c.ty))
                })
                .collect();
            if keyed_append {
                defs.push("\"_pipec_interval\" TIMESTAMP NOT NULL".into());
            }
            if let Some(key) = primary_key(s, schema) {
                let key: Vec<String> = key.iter().map(|k| ident(k)).collect();
                defs.push(format!("PRIMARY KEY ({})", key.join(", ")));
            }
            let mut have: Vec<String> = match existing.remove(&target) {
                Some(have) => have,
                None => {
                    conn.execute_batch(&format!(
                        "CREATE SCHEMA IF NOT EXISTS {}; CREATE TABLE IF NOT EXISTS {target} ({})",
                        ident(sch),
                        defs.join(", ")
                    ))
                    .map_err(|e| exec_error(s.span, &e.to_string()))?;
                    columns_of(conn, &target).map_err(|e| exec_error(s.span, &e.to_string()))?
                }
            };
            if keyed_append && have.last().is_some_and(|c| c == "_pipec_ds") {
                // Written by an older pipec, tagged with the run's date.
                crate::state::retag_v1_table(conn, p, &target)
                    .map_err(|e| exec_error(s.span, &e.to_string()))?;
                *have.last_mut().expect("tag column") = "_pipec_interval".into();
            }
            let mut want: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
            if keyed_append {
                want.push("_pipec_interval".into());
            }
            // New columns of the relation (not the hidden `_pipec_interval`) are added to the
            // table, nullable: its earlier rows have none. Every write names its columns, so
            // their order in the table does not matter.
            let extra = have.iter().any(|h| !want.contains(h));
            let added: Vec<&pipec_check::ir::Column> = schema
                .columns
                .iter()
                .filter(|c| !have.contains(&c.name))
                .collect();
            let interval_missing = keyed_append && !have.iter().any(|h| h == "_pipec_interval");
            if !extra && !interval_missing {
                for c in added {
                    conn.execute_batch(&format!(
                        "ALTER TABLE {target} ADD COLUMN {} {}",
                        ident(&c.name),
                        type_sql(c.ty)
                    ))
                    .map_err(|e| exec_error(s.span, &e.to_string()))?;
                    have.push(c.name.clone());
                }
            }
            let mut sorted_have = have.clone();
            let mut sorted_want = want.clone();
            sorted_have.sort();
            sorted_want.sort();
            if sorted_have != sorted_want {
                return Err(mismatch(s.span, &s.name(), &want, &have));
            }
            columns_now.push((target.clone(), have));
            let cols = schema
                .columns
                .iter()
                .map(|c| ident(&c.name))
                .collect::<Vec<_>>()
                .join(", ");
            let exec = |sql: String| {
                conn.execute(&sql, [])
                    .map_err(|e| exec_error(s.span, &format!("{e}\n{sql}")))
            };
            // With `partition by`, a run owns exactly its partition: the rows whose partition
            // column is the run's date. It writes no row outside it and changes none outside it.
            let partition = sink_plan.partition.as_deref().map(ident);
            if let Some(col) = &partition {
                let outside = scalar_i64(
                    conn,
                    &format!("SELECT count(*) FROM {staged} WHERE {col} IS DISTINCT FROM {dsl}"),
                    s.span,
                )?;
                if outside > 0 {
                    return Err(outside_partition(s, outside, &ds.ds().to_string()));
                }
            }
            let ctx = pipec_sql::Ctx::duckdb(run);
            let delete_insert = |exec: &dyn Fn(String) -> Result<usize, RunError>| {
                let mut n = 0;
                for sql in sink_plan.delete_insert(&ctx, &staged, &target) {
                    n = exec(sql)?;
                }
                Ok::<usize, RunError>(n)
            };
            let n = match &s.mode {
                SinkMode::Replace | SinkMode::Append => delete_insert(&exec)?,
                SinkMode::Merge { keys } => {
                    let key_list = keys.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ");
                    let dups = scalar_i64(conn, &format!("SELECT count(*) FROM (SELECT {key_list} FROM {staged} GROUP BY {key_list} HAVING count(*) > 1)"), s.span)?;
                    if dups > 0 {
                        return Err(RunError::new(
                            codes::CHECK_FAILED,
                            s.span,
                            format!("{dups} merge key(s) ({}) occur more than once in `{}`; nothing was published", keys.join(", "), s.relation),
                            "merges on these keys",
                            "deduplicate first (e.g. `| dedupe.latest(...)` from std.dedupe) so each key has one row",
                        ));
                    }
                    delete_insert(&exec)?
                }
                SinkMode::Incremental { column } => {
                    let name = format!("sink:{}", s.name());
                    let wm = crate::state::watermark(conn, &p.name, &name)?;
                    let c = ident(column);
                    let filter = match &wm {
                        Some(w) => format!(
                            " WHERE {c} > CAST({} AS {})",
                            string(w),
                            type_sql(schema.get(column).expect("checked").ty)
                        ),
                        None => String::new(),
                    };
                    let n = exec(format!(
                        "INSERT INTO {target} ({cols}) SELECT {cols} FROM {staged}{filter}"
                    ))?;
                    // The new watermark is the largest value just inserted (all above the old
                    // one), so the run does not rescan the whole target; only a first run,
                    // without a watermark, takes it from the table.
                    let newest = match &wm {
                        Some(_) => format!("{staged}{filter}"),
                        None => target.clone(),
                    };
                    conn.execute(
                        &format!("INSERT OR REPLACE INTO _pipec.watermarks SELECT ?, ?, CAST(max({c}) AS VARCHAR) FROM {newest} HAVING max({c}) IS NOT NULL"),
                        params![p.name, name],
                    )
                    .map_err(|e| exec_error(s.span, &e.to_string()))?;
                    n
                }
            };
            written.push((s.name(), n as u64));
            // `expire after N`: in the same transaction, the partitions dated before
            // `@ds - N days` go (the checker allows `expire` on tables only with `partition by`).
            if let (Some(days), Some(col)) =
                (s.retention.and_then(|r| r.expire_after_days), &partition)
            {
                let cut = crate::retention::cutoff(ds.ds(), days);
                let before = format!("{col} < DATE {}", string(&cut.to_string()));
                let parts = scalar_i64(
                    conn,
                    &format!("SELECT count(DISTINCT {col}) FROM {target} WHERE {before}"),
                    s.span,
                )?;
                let rows = exec(format!("DELETE FROM {target} WHERE {before}"))?;
                expired.push(RetentionReport {
                    target: s.name(),
                    action: "expire".into(),
                    applied: true,
                    removed: rows as u64,
                    detail: format!(
                        "expire after {days}d: {parts} partition(s), {rows} row(s) dated before {cut} deleted"
                    ),
                });
            }
        }
        for r in &p.relations {
            if let RelationKind::Source(Source::Postgres {
                incremental: Some(col),
                ..
            }) = &r.kind
            {
                conn.execute(
                    &format!("INSERT OR REPLACE INTO _pipec.watermarks SELECT ?, ?, CAST(max({}) AS VARCHAR) FROM {} HAVING max({0}) IS NOT NULL", ident(col), stage.table(&r.name)),
                    params![p.name, format!("source:{}", r.name)],
                )
                .map_err(|e| exec_error(r.span, &e.to_string()))?;
            }
        }
        for rj in rejects {
            conn.execute(
                "INSERT INTO _pipec.rejects VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    p.name,
                    crate::state::timestamp(ds.interval.start.naive_utc()),
                    crate::state::date(ds.ds()),
                    rj.source,
                    rj.file,
                    rj.line,
                    rj.column,
                    rj.error
                ],
            )
            .map_err(|e| exec_error(p.span, &e.to_string()))?;
        }
        crate::state::record_checks(conn, run_id, p, ds, checks)?;
        let total: u64 = written.iter().map(|(_, n)| n).sum();
        // A delete and an insert: `INSERT OR REPLACE` costs several milliseconds more.
        // Statements run by every interval are prepared once per connection.
        conn.prepare_cached(
            "DELETE FROM _pipec.intervals WHERE pipeline = ? AND interval_start = ?",
        )
        .and_then(|mut st| {
            st.execute(params![
                p.name,
                crate::state::timestamp(ds.interval.start.naive_utc())
            ])
        })
        .map_err(|e| exec_error(p.span, &e.to_string()))?;
        conn.prepare_cached("INSERT INTO _pipec.intervals VALUES (?, ?, ?, ?, ?, 'done', ?, ?, ?)")
            .and_then(|mut st| {
                st.execute(params![
                    p.name,
                    crate::state::timestamp(ds.interval.start.naive_utc()),
                    crate::state::timestamp(ds.interval.end.naive_utc()),
                    crate::state::date(ds.ds()),
                    ds.label,
                    run_id,
                    crate::state::timestamp(chrono::Utc::now().naive_utc()),
                    total as i64
                ])
            })
            .map_err(|e| exec_error(p.span, &e.to_string()))?;
        // One commit for the data, the run's record and the renames its files still need.
        crate::state::record_run(conn, run_id, p, ds, "done", started, attempt, None)?;
        crate::state::record_fingerprint(conn, run_id, p, ds)?;
        if !files.is_empty() {
            conn.execute(
                "UPDATE _pipec.pending_files SET committed = true WHERE run_id = ? AND pipeline = ?",
                params![run_id, p.name],
            )
            .map_err(|e| exec_error(p.span, &e.to_string()))?;
        }
        pause_at("before-commit");
        conn.execute_batch("COMMIT")
            .map_err(|e| exec_error(p.span, &e.to_string()))?;
        Ok(written)
    })();
    match result {
        Ok(w) => {
            if let Some(cache) = stage.cache() {
                for (target, columns) in columns_now {
                    cache.set_sink_columns(&target, columns);
                }
            }
            pause_at("after-commit");
            finish_files(conn, p, run_id, &files);
            expired.extend(expire_files(p, ds));
            expired.extend(crate::retention::not_applicable(p));
            Ok((w, expired))
        }
        Err(e) => {
            // Rolled back: the tables keep the columns the cache knows.
            let _ = conn.execute_batch("ROLLBACK");
            discard_files(conn, p, run_id, &files);
            Err(e)
        }
    }
}

/// The publishes of a process: many that only change rows at once, or one that changes tables.
static PUBLISHING: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Whether publishing sink `s` of `p` creates or alters its table (`existing`: the columns of
/// the tables that exist): the table is missing, lacks a column, or is an older pipec's.
fn alters_table(
    p: &Pipeline,
    s: &pipec_check::ir::Sink,
    existing: &std::collections::HashMap<String, Vec<String>>,
) -> bool {
    let SinkTarget::Table { schema, table: t } = &s.target else {
        return false;
    };
    let Some(have) = existing.get(&table(schema, t)) else {
        return true;
    };
    let relation = &p.relation(&s.relation).expect("checked relation").schema;
    let tagged = pipec_sql::sinks::SinkPlan::of(s, relation).interval_column;
    relation.columns.iter().any(|c| !have.contains(&c.name))
        || (tagged && !have.iter().any(|h| h == "_pipec_interval"))
}

/// Test hook: with `PIPEC_TEST_PAUSE_AT=<point>` in the environment, the run prints
/// `pipec: test hook: paused at <point>` to stderr and sleeps there for a minute, so that a test
/// can kill it at that point. Points: `before-commit` (temp files and the transaction written,
/// not committed), `after-commit` (committed, no file renamed), `mid-rename` (the first file
/// renamed, the others not).
fn pause_at(point: &str) {
    if std::env::var_os("PIPEC_TEST_PAUSE_AT").is_some_and(|v| v == point) {
        eprintln!("pipec: test hook: paused at {point}");
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

/// One file sink's output: written to `tmp` beside `dest` before the commit, renamed after it.
struct FileOut {
    tmp: std::path::PathBuf,
    dest: std::path::PathBuf,
    span: pipec_diag::Span,
}

/// Writes every file sink of `p` to a temp file beside its target, named after the target's
/// file name, the process and the sink's index (`out/x.csv.pipec-tmp-<pid>-<i>`), and records
/// each in `_pipec.pending_files` (not yet committed) before writing it, so that the next run
/// removes it if this one dies before its commit. On error nothing is left behind.
fn write_files(
    conn: &Connection,
    p: &Pipeline,
    run_id: &str,
    stage: &Stage,
    run: &Interval,
) -> Result<Vec<FileOut>, RunError> {
    let pid = std::process::id();
    let mut files = Vec::new();
    let mut formats = Vec::new();
    for (i, s) in p.sinks.iter().enumerate() {
        let SinkTarget::File { format, path } = &s.target else {
            continue;
        };
        let rel = crate::base_dir(p).join(run.expand(path, |_| None));
        let dest =
            std::path::absolute(&rel).map_err(|e| unwritable(s.span, &rel, &e.to_string()))?;
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned());
        let (Some(dir), Some(name)) = (dest.parent(), name) else {
            return Err(unwritable(s.span, &dest, "not a file path"));
        };
        if dest.is_dir() {
            return Err(unwritable(s.span, &dest, "it is a folder"));
        }
        std::fs::create_dir_all(dir).map_err(|e| unwritable(s.span, &dest, &e.to_string()))?;
        remove_orphans(dir);
        files.push(FileOut {
            tmp: dir.join(format!("{name}.pipec-tmp-{pid}-{i}")),
            dest,
            span: s.span,
        });
        formats.push((format, stage.table(&s.relation)));
    }
    if files.is_empty() {
        return Ok(files);
    }
    let rows: Vec<String> = files
        .iter()
        .map(|f| {
            format!(
                "({}, {}, {}, {}, false)",
                string(run_id),
                string(&p.name),
                string(&f.tmp.to_string_lossy()),
                string(&f.dest.to_string_lossy())
            )
        })
        .collect();
    conn.execute_batch(&format!(
        "INSERT INTO _pipec.pending_files VALUES {}",
        rows.join(", ")
    ))
    .map_err(|e| exec_error(p.span, &e.to_string()))?;
    for (f, (format, staged)) in files.iter().zip(formats) {
        let fmt = match format {
            FileFormat::Parquet => "FORMAT parquet",
            FileFormat::Csv => "FORMAT csv, HEADER true",
            FileFormat::Ndjson => "FORMAT json",
        };
        let sql = format!(
            "COPY (SELECT * FROM {staged}) TO {} ({fmt})",
            string(&f.tmp.to_string_lossy())
        );
        if let Err(e) = conn.execute_batch(&sql) {
            discard_files(conn, p, run_id, &files);
            return Err(unwritable(f.span, &f.dest, &e.to_string()));
        }
    }
    Ok(files)
}

/// `E0532`: file sink target `dest` cannot be written, for `reason`.
fn unwritable(span: pipec_diag::Span, dest: &std::path::Path, reason: &str) -> RunError {
    RunError::new(
        codes::FILE_SINK_UNWRITABLE,
        span,
        format!(
            "cannot write file sink {}: {reason}; nothing was published",
            dest.display()
        ),
        "this sink",
        "make the path writable (remove or rename what is in the way, check the folder's permissions and free space), then run the interval again",
    )
}

/// After the commit: renames each temp file onto its target, then drops the run's pending rows.
/// A rename that fails stays pending (with a warning); the next run completes it.
fn finish_files(conn: &Connection, p: &Pipeline, run_id: &str, files: &[FileOut]) {
    let mut done = Vec::new();
    for (n, f) in files.iter().enumerate() {
        match std::fs::rename(&f.tmp, &f.dest) {
            Ok(()) => done.push(string(&f.tmp.to_string_lossy())),
            Err(e) => eprintln!(
                "warning: `{}` was published but {} could not be put in place ({e}); the next `pipec run` on this warehouse completes it",
                p.name,
                f.dest.display()
            ),
        }
        if n == 0 {
            pause_at("mid-rename");
        }
    }
    if !done.is_empty() {
        let _ = conn.execute(
            &format!(
                "DELETE FROM _pipec.pending_files WHERE run_id = ? AND pipeline = ? AND tmp IN ({})",
                done.join(", ")
            ),
            params![run_id, p.name],
        );
    }
}

/// After the commit and the renames: deletes the files of file sinks with `expire after N` whose
/// path date is before `@ds - N days` (only files the sink's path template matches). A file
/// that cannot be deleted is a warning; the next run of the sink deletes it.
fn expire_files(p: &Pipeline, ds: &Run) -> Vec<RetentionReport> {
    let mut out = Vec::new();
    for s in &p.sinks {
        let (SinkTarget::File { path, .. }, Some(days)) =
            (&s.target, s.retention.and_then(|r| r.expire_after_days))
        else {
            continue;
        };
        let cut = crate::retention::cutoff(ds.ds(), days);
        let mut removed = 0;
        for f in crate::retention::expired_files(&crate::base_dir(p), path, cut) {
            match std::fs::remove_file(&f) {
                Ok(()) => removed += 1,
                Err(e) => eprintln!(
                    "warning: `{}`: expired file {} could not be deleted ({e}); the next run of the sink deletes it",
                    p.name,
                    f.display()
                ),
            }
        }
        out.push(RetentionReport {
            target: s.name(),
            action: "expire".into(),
            applied: true,
            removed,
            detail: format!("expire after {days}d: {removed} file(s) dated before {cut} deleted"),
        });
    }
    out
}

/// A failed publish: removes the run's temp files and their pending rows; targets are untouched.
fn discard_files(conn: &Connection, p: &Pipeline, run_id: &str, files: &[FileOut]) {
    for f in files {
        let _ = std::fs::remove_file(&f.tmp);
    }
    if !files.is_empty() {
        let _ = conn.execute(
            "DELETE FROM _pipec.pending_files WHERE run_id = ? AND pipeline = ? AND NOT committed",
            params![run_id, p.name],
        );
    }
}

/// Removes temp files of killed runs in `dir`: `*.pipec-tmp-<pid>` (older pipec) or
/// `*.pipec-tmp-<pid>-<i>` whose process is gone. Whether a process is alive is read from
/// `/proc`; where there is none, such files are left (pending ones are removed by
/// [`crate::state::recover_files`] all the same).
fn remove_orphans(dir: &std::path::Path) {
    let proc_fs = std::path::Path::new("/proc/self");
    if !proc_fs.exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((_, tail)) = name.to_str().and_then(|n| n.rsplit_once(".pipec-tmp-")) else {
            continue;
        };
        let pid = tail.split_once('-').map_or(tail, |(pid, _)| pid);
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let alive = pid == std::process::id()
            || std::path::Path::new("/proc").join(pid.to_string()).exists();
        if !alive && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
