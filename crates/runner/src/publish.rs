//! Checks on staged data, then the all-or-nothing publish of every sink and the run's state.

use duckdb::{params, Connection};
use pipec_check::ir::{FileFormat, Pipeline, RelationKind, Rule, SinkMode, SinkTarget, Source};
use pipec_diag::codes;
use pipec_sql::{ident, literal, string, table, type_sql, Interval};

use crate::intervals::Run;
use crate::load::{exec_error, Reject, Stage};
use crate::report::CheckReport;
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
    for check in &p.checks {
        let t = stage.table(&check.relation);
        for r in &check.rules {
            let cols = |cs: &[String]| cs.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
            let (passed, detail) = match &r.rule {
                Rule::NotNull { columns } => {
                    let cond = columns
                        .iter()
                        .map(|c| format!("{} IS NULL", ident(c)))
                        .collect::<Vec<_>>()
                        .join(" OR ");
                    let n = scalar_i64(
                        conn,
                        &format!("SELECT count(*) FROM {t} WHERE {cond}"),
                        r.span,
                    )?;
                    (n == 0, format!("{n} row(s) with nulls"))
                }
                Rule::Unique { columns } => {
                    let n = scalar_i64(conn, &format!("SELECT count(*) FROM (SELECT {0} FROM {t} GROUP BY {0} HAVING count(*) > 1)", cols(columns)), r.span)?;
                    (n == 0, format!("{n} duplicated key(s)"))
                }
                Rule::AcceptedValues { column, values } => {
                    let list = values.iter().map(literal).collect::<Vec<_>>().join(", ");
                    let n = scalar_i64(conn, &format!("SELECT count(*) FROM {t} WHERE {0} IS NOT NULL AND {0} NOT IN ({list})", ident(column)), r.span)?;
                    (n == 0, format!("{n} row(s) with other values"))
                }
                Rule::InRange { column, min, max } => {
                    let mut conds = Vec::new();
                    if let Some(m) = min {
                        conds.push(format!("{} < {}", ident(column), pipec_sql::expr(m, run)));
                    }
                    if let Some(m) = max {
                        conds.push(format!("{} > {}", ident(column), pipec_sql::expr(m, run)));
                    }
                    let n = scalar_i64(
                        conn,
                        &format!("SELECT count(*) FROM {t} WHERE {}", conds.join(" OR ")),
                        r.span,
                    )?;
                    (n == 0, format!("{n} row(s) out of range"))
                }
                Rule::RowCount { min, max } => {
                    let n = scalar_i64(conn, &format!("SELECT count(*) FROM {t}"), r.span)?;
                    (
                        min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m),
                        format!("{n} row(s)"),
                    )
                }
                Rule::Row { expr } => {
                    let n = scalar_i64(
                        conn,
                        &format!(
                            "SELECT count(*) FROM {t} WHERE ({}) IS NOT TRUE",
                            pipec_sql::expr(expr, run)
                        ),
                        r.span,
                    )?;
                    (n == 0, format!("{n} row(s) fail"))
                }
                Rule::Aggregate { expr } => {
                    let v = scalar_i64(
                        conn,
                        &format!(
                            "SELECT CAST(coalesce(({}), FALSE) AS INTEGER) FROM {t}",
                            pipec_sql::expr(expr, run)
                        ),
                        r.span,
                    )?;
                    (
                        v == 1,
                        if v == 1 {
                            "holds".into()
                        } else {
                            "does not hold".into()
                        },
                    )
                }
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

/// Writes every sink, the rejects and the interval's state (with its `_pipec.runs` row for
/// attempt `(started, number)` of run `run_id`) in one transaction.
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
) -> Result<Vec<(String, u64)>, RunError> {
    // File sinks are written beside their targets first, then renamed inside the transaction
    // window: a killed run leaves at worst a temporary file, never a half-written target.
    let mut renames = Vec::new();
    for s in &p.sinks {
        if let SinkTarget::File { format, path } = &s.target {
            let dest = crate::base_dir(p).join(run.expand(path, |_| None));
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir).map_err(|e| exec_error(s.span, &e.to_string()))?;
            }
            let tmp = dest.with_extension(format!("pipec-tmp-{}", std::process::id()));
            let fmt = match format {
                FileFormat::Parquet => "FORMAT parquet",
                FileFormat::Csv => "FORMAT csv, HEADER true",
                FileFormat::Ndjson => "FORMAT json",
            };
            let sql = format!(
                "COPY (SELECT * FROM {}) TO {} ({fmt})",
                stage.table(&s.relation),
                string(&tmp.to_string_lossy())
            );
            conn.execute_batch(&sql)
                .map_err(|e| exec_error(s.span, &e.to_string()))?;
            renames.push((tmp, dest));
        }
    }
    // The columns of the sink tables that exist, read before the transaction (a failed probe
    // inside it would abort it): those need no `CREATE ... IF NOT EXISTS`.
    let mut existing: std::collections::HashMap<String, Vec<String>> = p
        .sinks
        .iter()
        .filter_map(|s| match &s.target {
            SinkTarget::Table { schema, table: t } => {
                let target = table(schema, t);
                columns_of(conn, &target).ok().map(|cols| (target, cols))
            }
            SinkTarget::File { .. } => None,
        })
        .collect();
    conn.execute_batch("BEGIN TRANSACTION")
        .map_err(|e| exec_error(p.span, &e.to_string()))?;
    let result = (|| -> Result<Vec<(String, u64)>, RunError> {
        let mut written = Vec::new();
        let dsl = format!("DATE {}", string(&ds.ds().to_string()));
        // The interval's start (UTC) tags the rows of a keyed append.
        let tsl = format!("TIMESTAMP {}", string(&ds.interval.start_text()));
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
            let keyed_append = matches!(s.mode, SinkMode::Append) && s.partition_by.is_none();
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
            if have != want {
                return Err(mismatch(s.span, &s.name(), &want, &have));
            }
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
            let partition = match (&s.mode, s.partition_by.as_deref()) {
                (SinkMode::Incremental { .. }, _) | (_, None) => None,
                (_, Some(col)) => Some(ident(col)),
            };
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
            let n = match &s.mode {
                SinkMode::Replace | SinkMode::Append if partition.is_some() => {
                    let col = partition.as_deref().expect("partition");
                    exec(format!("DELETE FROM {target} WHERE {col} = {dsl}"))?;
                    exec(format!(
                        "INSERT INTO {target} ({cols}) SELECT {cols} FROM {staged}"
                    ))?
                }
                SinkMode::Replace => {
                    exec(format!("DELETE FROM {target}"))?;
                    exec(format!(
                        "INSERT INTO {target} ({cols}) SELECT {cols} FROM {staged}"
                    ))?
                }
                SinkMode::Append => {
                    exec(format!(
                        "DELETE FROM {target} WHERE \"_pipec_interval\" = {tsl}"
                    ))?;
                    exec(format!("INSERT INTO {target} ({cols}, \"_pipec_interval\") SELECT {cols}, {tsl} FROM {staged}"))?
                }
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
                    let on = keys
                        .iter()
                        .map(|k| format!("{target}.{0} IS NOT DISTINCT FROM s.{0}", ident(k)))
                        .collect::<Vec<_>>()
                        .join(" AND ");
                    // Within a partition, only that partition's rows can match.
                    let within = match &partition {
                        Some(col) => format!("{target}.{col} = {dsl} AND "),
                        None => String::new(),
                    };
                    exec(format!("DELETE FROM {target} WHERE {within}EXISTS (SELECT 1 FROM {staged} AS s WHERE {on})"))?;
                    exec(format!(
                        "INSERT INTO {target} ({cols}) SELECT {cols} FROM {staged}"
                    ))?
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
                "INSERT INTO _pipec.rejects VALUES (?, CAST(? AS TIMESTAMP), CAST(? AS DATE), ?, ?, ?, ?, ?)",
                params![
                    p.name,
                    ds.interval.start_text(),
                    ds.ds().to_string(),
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
        conn.execute(
            "DELETE FROM _pipec.intervals WHERE pipeline = ? AND interval_start = CAST(? AS TIMESTAMP)",
            params![p.name, ds.interval.start_text()],
        )
        .map_err(|e| exec_error(p.span, &e.to_string()))?;
        conn.execute(
            "INSERT INTO _pipec.intervals VALUES (?, CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP), CAST(? AS DATE), ?, 'done', ?, now()::TIMESTAMP, ?)",
            params![
                p.name,
                ds.interval.start_text(),
                ds.interval.end_text(),
                ds.ds().to_string(),
                ds.label,
                run_id,
                total as i64
            ],
        )
        .map_err(|e| exec_error(p.span, &e.to_string()))?;
        // One commit for the data and the run's record.
        crate::state::record_run(conn, run_id, p, ds, "done", started, attempt, None)?;
        for (tmp, dest) in &renames {
            std::fs::rename(tmp, dest).map_err(|e| {
                exec_error(p.span, &format!("cannot publish {}: {e}", dest.display()))
            })?;
        }
        Ok(written)
    })();
    match result {
        Ok(w) => {
            conn.execute_batch("COMMIT")
                .map_err(|e| exec_error(p.span, &e.to_string()))?;
            Ok(w)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            for (tmp, _) in &renames {
                let _ = std::fs::remove_file(tmp);
            }
            Err(e)
        }
    }
}
