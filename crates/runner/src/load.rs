//! Staging: every source is loaded and every transform computed into the in-memory `_pipec_stage`
//! database (spilling to disk under DuckDB's memory limit), with the
//! declared schema enforced row by row.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use duckdb::Connection;
use pipec_check::ir::{
    FileFormat, Head, Pipeline, Relation, RelationKind, Schema, Source, StepKind, Transform, Type,
    Value,
};
use pipec_diag::{codes, Span};
use pipec_sql::{ident, string, type_sql, Interval};

use crate::secrets::Secrets;
use crate::{fetch, RunError};

/// A row moved aside by `on_error = "reject"`.
#[derive(Debug, Clone)]
pub struct Reject {
    /// Source relation.
    pub source: String,
    /// File (or URL / table) it came from.
    pub file: String,
    /// 1-based line or row.
    pub line: i64,
    /// Offending column.
    pub column: String,
    /// What was wrong.
    pub error: String,
}

/// The staging tables of one pipeline run.
pub struct Stage {
    prefix: String,
    /// Sources that may be streamed (see [`streamable`]).
    streamable: HashSet<String>,
    /// Sources staged as views over their files, with their tally slot and, once their reader
    /// ran, the rows read.
    streamed: Mutex<HashMap<String, (i32, Option<u64>)>>,
}

impl Stage {
    pub(crate) fn new(pipeline: &str) -> Self {
        Stage {
            prefix: format!("{pipeline}__"),
            streamable: HashSet::new(),
            streamed: Mutex::new(HashMap::new()),
        }
    }

    /// The stage of a run of `p`, streaming the sources that allow it.
    pub(crate) fn for_run(p: &Pipeline) -> Self {
        Stage {
            streamable: streamable(p),
            ..Stage::new(&p.name)
        }
    }

    fn streamed(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i32, Option<u64>)>> {
        self.streamed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether source `name` is a view read by one transform rather than a staged table.
    pub(crate) fn is_streamed(&self, name: &str) -> bool {
        self.streamed().contains_key(name)
    }

    /// Rows read from streamed source `name`, once the transform reading it has run.
    pub(crate) fn streamed_rows(&self, name: &str) -> Option<u64> {
        self.streamed().get(name).and_then(|(_, rows)| *rows)
    }

    /// The quoted staging table of relation `name`.
    pub fn table(&self, name: &str) -> String {
        format!(
            "_pipec_stage.main.{}",
            ident(&format!("{}{}", self.prefix, name))
        )
    }

    /// Starts from an empty staging database. It lives in memory, so a killed run leaves
    /// nothing behind; within one process, intervals run one after another and each starts
    /// from a fresh one.
    pub(crate) fn reset(&self, conn: &Connection) -> Result<(), RunError> {
        conn.execute_batch(
            "DETACH DATABASE IF EXISTS _pipec_stage; ATTACH ':memory:' AS _pipec_stage",
        )
        .map_err(|e| exec_error(Span::default(), &e.to_string()))
    }

    /// Drops everything staged.
    pub(crate) fn drop_all(&self, conn: &Connection) -> Result<(), RunError> {
        conn.execute_batch("DETACH DATABASE IF EXISTS _pipec_stage")
            .map_err(|e| exec_error(Span::default(), &e.to_string()))
    }
}

pub(crate) fn exec_error(span: Span, msg: &str) -> RunError {
    RunError::new(
        codes::EXECUTION_FAILED,
        span,
        format!("query failed: {msg}"),
        "while running this",
        "the published tables are unchanged; fix the cause and run again",
    )
}

/// CSV sources that need not be staged: read exactly once, by one transform (not by raw SQL),
/// and neither checked nor written directly, with no reject policy. Such a source becomes a view
/// and its reader scans the file itself: one pass instead of a staged copy and a second scan.
pub(crate) fn streamable(p: &Pipeline) -> HashSet<String> {
    let mut reads: HashMap<&str, usize> = HashMap::new();
    for r in &p.relations {
        let RelationKind::Transform(t) = &r.kind else {
            continue;
        };
        match &t.head {
            Head::Relation(n) => *reads.entry(n.as_str()).or_default() += 1,
            // Raw SQL may read a relation any number of times.
            Head::Sql { refs, .. } => {
                for n in refs {
                    *reads.entry(n.as_str()).or_default() += 2;
                }
            }
        }
        for step in &t.steps {
            if let StepKind::Join { right: n, .. } | StepKind::Union(n) = &step.kind {
                *reads.entry(n.as_str()).or_default() += 1;
            }
        }
    }
    for c in &p.checks {
        *reads.entry(c.relation.as_str()).or_default() += 2;
    }
    for s in &p.sinks {
        *reads.entry(s.relation.as_str()).or_default() += 2;
    }
    p.relations
        .iter()
        .filter(|r| match &r.kind {
            RelationKind::Source(Source::File {
                format: FileFormat::Csv,
                options,
                ..
            }) => !options
                .iter()
                .any(|(k, v)| k == "on_error" && v.as_str() == Some("reject")),
            _ => false,
        })
        .filter(|r| reads.get(r.name.as_str()) == Some(&1))
        .map(|r| r.name.clone())
        .collect()
}

/// Relations grouped into levels of mutually independent relations, in dependency order.
pub(crate) fn levels(p: &Pipeline) -> Vec<Vec<usize>> {
    let mut level_of: Vec<usize> = Vec::with_capacity(p.relations.len());
    for r in &p.relations {
        let l = r
            .inputs()
            .iter()
            .filter_map(|i| p.relations.iter().position(|x| x.name == *i))
            .map(|i| level_of[i] + 1)
            .max()
            .unwrap_or(0);
        level_of.push(l);
    }
    let depth = level_of.iter().copied().max().map_or(0, |m| m + 1);
    let mut out = vec![Vec::new(); depth];
    for (i, l) in level_of.into_iter().enumerate() {
        out[l].push(i);
    }
    out
}

fn count(conn: &Connection, table: &str, span: Span) -> Result<u64, RunError> {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
    .map_err(|e| exec_error(span, &e.to_string()))
}

/// Computes a transform into its staging table; returns its row count.
pub(crate) fn transform(
    conn: &Connection,
    p: &Pipeline,
    rel: &Relation,
    t: &Transform,
    stage: &Stage,
    run: &Interval,
    secrets: &Secrets,
) -> Result<u64, RunError> {
    let head_schema = match &t.head {
        Head::Relation(n) => p.relation(n).map(|r| r.schema.clone()).unwrap_or_default(),
        Head::Sql { .. } => Schema::default(),
    };
    let tables = |n: &str| stage.table(n);
    let select = pipec_sql::transform(t, &head_schema, &tables, run);
    let target = stage.table(&rel.name);
    let cols: Vec<String> = rel
        .schema
        .columns
        .iter()
        .map(|c| {
            format!(
                "CAST({} AS {}) AS {}",
                ident(&c.name),
                type_sql(c.ty),
                ident(&c.name)
            )
        })
        .collect();
    let sql = format!(
        "CREATE OR REPLACE TABLE {target} AS SELECT {} FROM ({select}) AS t",
        cols.join(", ")
    );
    let streamed: Vec<(String, i32)> = {
        let map = stage.streamed();
        t.inputs()
            .into_iter()
            .filter_map(|n| map.get(n).map(|(slot, _)| (n.to_string(), *slot)))
            .collect()
    };
    if streamed.is_empty() {
        conn.execute_batch(&sql)
            .map_err(|e| exec_error(rel.span, &e.to_string()))?;
        return count(conn, &target, rel.span);
    }
    // Filters stay where they are written, so the tally in a streamed source's view sees every
    // row of the file before this transform's own filters drop any.
    let result = pinned_filters(conn, || conn.execute_batch(&sql));
    if result.is_ok() {
        for (name, slot) in &streamed {
            let rows = crate::tally::TALLIES.take(*slot);
            stage.streamed().insert(name.clone(), (*slot, Some(rows)));
        }
        return count(conn, &target, rel.span);
    }
    // Something failed while streaming: stage the sources the careful way, which names the file
    // and row of bad data, then run the transform on the staged copies.
    for (name, slot) in &streamed {
        let input = p.relation(name).expect("streamed source");
        let RelationKind::Source(src) = &input.kind else {
            unreachable!("only sources are streamed")
        };
        conn.execute_batch(&format!("DROP VIEW IF EXISTS {}", stage.table(name)))
            .map_err(|e| exec_error(input.span, &e.to_string()))?;
        crate::tally::TALLIES.take(*slot);
        let (rows, _) = source(conn, p, input, src, stage, run, secrets)?;
        stage.streamed().insert(name.clone(), (*slot, Some(rows)));
    }
    conn.execute_batch(&sql)
        .map_err(|e| exec_error(rel.span, &e.to_string()))?;
    count(conn, &target, rel.span)
}

/// Optimizers that would move a transform's filters below a streamed source's tally.
const PINNED_FILTERS: &str = "filter_pushdown,filter_pullup";

/// Runs `f` with [`PINNED_FILTERS`] disabled. The setting is global to a database, so the
/// streamed transforms running at once on one database share a count: the first disables, the
/// last re-enables.
fn pinned_filters<T>(
    conn: &Connection,
    f: impl FnOnce() -> duckdb::Result<T>,
) -> duckdb::Result<T> {
    static ACTIVE: Mutex<Vec<(PathBuf, usize)>> = Mutex::new(Vec::new());
    let db = conn.path().map(Path::to_path_buf).unwrap_or_default();
    {
        let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        match active.iter_mut().find(|(p, _)| *p == db) {
            Some((_, n)) => *n += 1,
            None => {
                conn.execute_batch(&format!("SET disabled_optimizers = '{PINNED_FILTERS}'"))?;
                active.push((db.clone(), 1));
            }
        }
    }
    let result = f();
    let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = active.iter().position(|(p, _)| *p == db) {
        active[i].1 -= 1;
        if active[i].1 == 0 {
            active.swap_remove(i);
            conn.execute_batch("RESET disabled_optimizers")?;
        }
    }
    result
}

fn resolve_path(base: &Path, path: &str) -> String {
    if path.contains("://") || Path::new(path).is_absolute() {
        path.to_string()
    } else {
        base.join(path).to_string_lossy().into_owned()
    }
}

fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// Loads a source into its staging table, or stages it as a view for its only reader when it
/// can be streamed; returns (rows staged, rows rejected). The rows of a streamed source are known
/// once its reader ran ([`Stage::streamed_rows`]).
pub(crate) fn source(
    conn: &Connection,
    p: &Pipeline,
    rel: &Relation,
    src: &Source,
    stage: &Stage,
    run: &Interval,
    secrets: &Secrets,
) -> Result<(u64, Vec<Reject>), RunError> {
    // A source already streamed is loaded again only when its reader failed: stage it then.
    let stream = stage.streamable.contains(&rel.name) && !stage.is_streamed(&rel.name);
    let target = stage.table(&rel.name);
    let base = crate::base_dir(p);
    match src {
        Source::File { format, path, options } => {
            let path = resolve_path(&base, &run.expand(path, |_| None));
            if !is_glob(&path) && !path.contains("://") && !Path::new(&path).exists() {
                return Err(RunError::new(
                    codes::NO_INPUT,
                    rel.span,
                    format!("no input file for `{}` on {}: {path} does not exist", rel.name, run.ds),
                    "reads this path",
                    "check the path template and that the data for this date has arrived",
                ));
            }
            let reject = options.iter().any(|(k, v)| k == "on_error" && v.as_str() == Some("reject"));
            match format {
                FileFormat::Csv if stream => {
                    let slot = csv_view(conn, rel, src, &path, &target)?;
                    stage.streamed().insert(rel.name.clone(), (slot, None));
                    Ok((0, Vec::new()))
                }
                FileFormat::Csv => csv(conn, rel, src, &path, &target, reject),
                FileFormat::Ndjson => {
                    let raw = format!("SELECT filename AS _file, row_number() OVER (PARTITION BY filename) AS _row, json FROM read_ndjson_objects({}, filename = true)", string(&path));
                    json_rows(conn, rel, &raw, &path, &target, reject)
                }
                FileFormat::Parquet => {
                    let cols: Vec<String> = rel.schema.columns.iter().map(|c| format!("CAST({} AS {}) AS {}", ident(&c.name), type_sql(c.ty), ident(&c.name))).collect();
                    let sql = format!("CREATE OR REPLACE TABLE {target} AS SELECT {} FROM read_parquet({})", cols.join(", "), string(&path));
                    conn.execute_batch(&sql).map_err(|e| file_error(rel, &path, &e.to_string()))?;
                    not_null(conn, rel, &target, &format!("SELECT * FROM {target}"), &path)?;
                    Ok((count(conn, &target, rel.span)?, Vec::new()))
                }
            }
        }
        Source::Http { url, options } => {
            let url = run.expand(url, |_| None);
            let file = fetch::http_to_ndjson(rel, &url, options, &base, secrets)?;
            let raw = format!("SELECT {} AS _file, row_number() OVER () AS _row, json FROM read_ndjson_objects({})", string(&url), string(&file.path().to_string_lossy()));
            let result = json_rows(conn, rel, &raw, &url, &target, false);
            drop(file);
            result
        }
        Source::Postgres { dsn, table, query, incremental } => {
            let dsn = secrets.value(dsn, rel.span)?;
            let watermark = match incremental {
                Some(_) => crate::state::watermark(conn, &p.name, &format!("source:{}", rel.name))?,
                None => None,
            };
            let file = fetch::postgres_to_ndjson(rel, &dsn, table.as_deref(), query.as_deref(), incremental.as_deref(), watermark.as_deref())?;
            let origin = table.clone().unwrap_or_else(|| "query".into());
            let raw = format!("SELECT {} AS _file, row_number() OVER () AS _row, json FROM read_ndjson_objects({})", string(&origin), string(&file.path().to_string_lossy()));
            json_rows(conn, rel, &raw, &origin, &target, false)
        }
        Source::Table { table } => {
            let (schema, name) = table.split_once('.').unwrap_or(("main", table));
            let cols: Vec<String> = rel.schema.columns.iter().map(|c| format!("CAST({} AS {}) AS {}", ident(&c.name), type_sql(c.ty), ident(&c.name))).collect();
            let sql = format!("CREATE OR REPLACE TABLE {target} AS SELECT {} FROM {}", cols.join(", "), pipec_sql::table(schema, name));
            conn.execute_batch(&sql).map_err(|e| {
                RunError::new(codes::NO_INPUT, rel.span, format!("cannot read warehouse table `{table}`: {e}"), "reads this table", "run the pipeline that writes it first")
            })?;
            Ok((count(conn, &target, rel.span)?, Vec::new()))
        }
        Source::Calendar { from, to } => {
            let sql = format!(
                "CREATE OR REPLACE TABLE {target} AS SELECT CAST(range AS DATE) AS day FROM range(DATE {}, DATE {} + INTERVAL 1 DAY, INTERVAL 1 DAY)",
                string(from),
                string(to)
            );
            conn.execute_batch(&sql).map_err(|e| exec_error(rel.span, &e.to_string()))?;
            Ok((count(conn, &target, rel.span)?, Vec::new()))
        }
        Source::Stream { system, .. } => Err(RunError::new(
            codes::NOT_RUNNABLE,
            rel.span,
            format!("`{system}` stream sources cannot run locally yet"),
            "stream source",
            "stream sources run on deployed targets; locally, stage a sample of the stream as files and read it with `ndjson(...)`",
        )),
    }
}

fn file_error(rel: &Relation, path: &str, msg: &str) -> RunError {
    let no_files = msg.contains("No files found");
    RunError::new(
        if no_files {
            codes::NO_INPUT
        } else {
            codes::BAD_ROW
        },
        rel.span,
        if no_files {
            format!("no input file for `{}`: nothing matches {path}", rel.name)
        } else {
            format!("cannot read {path} as `{}`: {msg}", rel.name)
        },
        "reads this data",
        "compare the file with the declared schema",
    )
}

fn type_name(t: Type) -> String {
    t.to_string()
}

/// The options of DuckDB's CSV reader for source `rel`: its declared columns and types.
fn csv_options(rel: &Relation, src: &Source) -> String {
    let header = !matches!(src.option("header"), Some(Value::Bool(false)));
    let mut opts = vec![
        format!("header = {header}"),
        "auto_detect = false".to_string(),
    ];
    let columns: Vec<String> = rel
        .schema
        .columns
        .iter()
        .map(|c| format!("{}: {}", string(&c.name), string(&type_sql(c.ty))))
        .collect();
    opts.push(format!("columns = {{{}}}", columns.join(", ")));
    opts.push(format!(
        "delim = {}",
        string(
            src.option("delimiter")
                .and_then(Value::as_str)
                .unwrap_or(",")
        )
    ));
    opts.push(format!(
        "quote = {}",
        string(src.option("quote").and_then(Value::as_str).unwrap_or("\""))
    ));
    if let Some(Value::List(nulls)) = src.option("nulls") {
        opts.push(format!(
            "nullstr = [{}]",
            nulls
                .iter()
                .map(|n| string(n))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(Value::Int(n)) = src.option("skip") {
        opts.push(format!("skip = {n}"));
    }
    // No `timestampformat`: DuckDB's own ISO 8601 reader is faster than a strptime pattern and
    // also takes a `T` separator and fractional seconds.
    opts.join(", ")
}

/// Stages a CSV source as a view whose every row passes through `_pipec_tally`, which counts it
/// and fails on a null in a non-null column; returns the tally slot.
fn csv_view(
    conn: &Connection,
    rel: &Relation,
    src: &Source,
    path: &str,
    target: &str,
) -> Result<i32, RunError> {
    let slot = crate::tally::TALLIES.slot();
    let names: Vec<String> = rel.schema.columns.iter().map(|c| ident(&c.name)).collect();
    let nulls: Vec<String> = rel
        .schema
        .columns
        .iter()
        .filter(|c| !c.nullable)
        .map(|c| format!("{} IS NULL", ident(&c.name)))
        .collect();
    let ok = if nulls.is_empty() {
        "TRUE".to_string()
    } else {
        format!("NOT ({})", nulls.join(" OR "))
    };
    let sql = format!(
        "CREATE OR REPLACE VIEW {target} AS SELECT {cols} FROM read_csv({path}, {opts}) WHERE {tally}({slot}, {ok}, {cols})",
        cols = names.join(", "),
        path = string(path),
        opts = csv_options(rel, src),
        tally = crate::tally::FUNCTION,
    );
    conn.execute_batch(&sql)
        .map_err(|e| file_error(rel, path, &e.to_string()))?;
    Ok(slot)
}

/// CSV through DuckDB's typed reader; bad rows are located (or rejected) with `store_rejects`.
fn csv(
    conn: &Connection,
    rel: &Relation,
    src: &Source,
    path: &str,
    target: &str,
    reject: bool,
) -> Result<(u64, Vec<Reject>), RunError> {
    let opts = csv_options(rel, src);
    let scan = |extra: &str| format!("read_csv({}, {opts}{extra})", string(path));
    let select_cols = rel
        .schema
        .columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    if !reject {
        let sql = format!(
            "CREATE OR REPLACE TABLE {target} AS SELECT {select_cols} FROM {}",
            scan("")
        );
        if let Err(e) = conn.execute_batch(&sql) {
            let msg = e.to_string();
            if msg.contains("No files found") {
                return Err(file_error(rel, path, &msg));
            }
            if let Some(r) = first_csv_reject(
                conn,
                rel,
                &scan(", store_rejects = true, ignore_errors = true"),
            )? {
                return Err(bad_row(rel, &r));
            }
            let line = msg
                .split("Line: ")
                .nth(1)
                .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok());
            let why = msg
                .lines()
                .find(|l| l.starts_with("Error when converting"))
                .unwrap_or_else(|| msg.lines().next().unwrap_or(""));
            if let Some(line) = line {
                let r = Reject {
                    source: rel.name.clone(),
                    file: path.into(),
                    line,
                    column: String::new(),
                    error: why.to_string(),
                };
                return Err(bad_row(rel, &r));
            }
            return Err(file_error(rel, path, msg.lines().next().unwrap_or("")));
        }
        not_null(conn, rel, target, &format!("SELECT *, filename AS _file, row_number() OVER (PARTITION BY filename) AS _row FROM {}", scan(", filename = true")), path)?;
        return Ok((count(conn, target, rel.span)?, Vec::new()));
    }
    let sql = format!(
        "CREATE OR REPLACE TABLE {target} AS SELECT {select_cols} FROM {}",
        scan(", store_rejects = true, ignore_errors = true")
    );
    conn.execute_batch(&sql)
        .map_err(|e| file_error(rel, path, &e.to_string()))?;
    let rejects = csv_rejects(conn, rel)?;
    let mut null_rejects = Vec::new();
    for c in rel.schema.columns.iter().filter(|c| !c.nullable) {
        let n = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM {target} WHERE {} IS NULL",
                    ident(&c.name)
                ),
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| exec_error(rel.span, &e.to_string()))?;
        if n > 0 {
            conn.execute_batch(&format!(
                "DELETE FROM {target} WHERE {} IS NULL",
                ident(&c.name)
            ))
            .map_err(|e| exec_error(rel.span, &e.to_string()))?;
            null_rejects.push(Reject {
                source: rel.name.clone(),
                file: path.into(),
                line: 0,
                column: c.name.clone(),
                error: format!("{n} null value(s) in non-null column"),
            });
        }
    }
    let mut all = rejects;
    all.extend(null_rejects);
    Ok((count(conn, target, rel.span)?, all))
}

fn csv_rejects(conn: &Connection, rel: &Relation) -> Result<Vec<Reject>, RunError> {
    let mut stmt = conn
        .prepare(
            "SELECT s.file_path, e.line, coalesce(e.column_name, ''), e.error_message FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id) ORDER BY s.file_path, e.line",
        )
        .map_err(|e| exec_error(rel.span, &e.to_string()))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Reject {
                source: rel.name.clone(),
                file: r.get(0)?,
                line: r.get::<_, i64>(1)?,
                column: r.get(2)?,
                error: r.get(3)?,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| exec_error(rel.span, &e.to_string()))?;
    Ok(rows)
}

fn first_csv_reject(
    conn: &Connection,
    rel: &Relation,
    scan: &str,
) -> Result<Option<Reject>, RunError> {
    let probe = format!("CREATE OR REPLACE TEMP TABLE _pipec_probe AS SELECT * FROM {scan}; DROP TABLE _pipec_probe");
    if conn.execute_batch(&probe).is_err() {
        return Ok(None);
    }
    Ok(csv_rejects(conn, rel)?.into_iter().next())
}

fn bad_row(rel: &Relation, r: &Reject) -> RunError {
    let col = rel.schema.get(&r.column);
    let want = col
        .map(|c| format!(" (declared {})", type_name(c.ty)))
        .unwrap_or_default();
    let first_line = r.error.lines().next().unwrap_or("");
    RunError::new(
        codes::BAD_ROW,
        rel.span,
        format!("{} line {}: column `{}`{want} does not fit: {first_line}", r.file, r.line, r.column),
        format!("`{}` declares this schema", rel.name),
        "fix the row, change the declared type, or add `on_error = \"reject\"` to quarantine bad rows",
    )
}

/// Reports the first null in a non-nullable column, with its file and row. `rows` yields the
/// staged columns plus `_file` and `_row` (or only the columns, then the row is not known).
fn not_null(
    conn: &Connection,
    rel: &Relation,
    target: &str,
    rows: &str,
    path: &str,
) -> Result<(), RunError> {
    let required: Vec<_> = rel.schema.columns.iter().filter(|c| !c.nullable).collect();
    if required.is_empty() {
        return Ok(());
    }
    // One scan counts the nulls of every non-null column.
    let counts: Vec<String> = required
        .iter()
        .map(|c| format!("count(*) FILTER (WHERE {} IS NULL)", ident(&c.name)))
        .collect();
    let nulls: Vec<i64> = conn
        .query_row(
            &format!("SELECT {} FROM {target}", counts.join(", ")),
            [],
            |r| (0..required.len()).map(|i| r.get::<_, i64>(i)).collect(),
        )
        .map_err(|e| exec_error(rel.span, &e.to_string()))?;
    for (c, n) in required.into_iter().zip(nulls) {
        if n == 0 {
            continue;
        }
        let located: Option<(String, i64)> = conn
            .query_row(&format!("SELECT _file, _row FROM ({rows}) WHERE {} IS NULL ORDER BY _file, _row LIMIT 1", ident(&c.name)), [], |r| Ok((r.get(0)?, r.get(1)?)))
            .ok();
        let at = match located {
            Some((file, row)) => format!("{file} row {row}"),
            None => path.to_string(),
        };
        return Err(RunError::new(
            codes::NULL_IN_NON_NULL,
            rel.span,
            format!(
                "{at}: column `{}` is null but declared non-null ({n} row(s))",
                c.name
            ),
            format!("`{}` declares `{}: {}`", rel.name, c.name, c.ty),
            format!(
                "declare it nullable (`{}: {}?`), fix the data, or add `on_error = \"reject\"`",
                c.name, c.ty
            ),
        ));
    }
    Ok(())
}

/// JSON rows (`_file`, `_row`, `json`) → typed staging table. Values that do not cast are errors
/// naming the file and row (or rejects).
fn json_rows(
    conn: &Connection,
    rel: &Relation,
    raw_select: &str,
    origin: &str,
    target: &str,
    reject: bool,
) -> Result<(u64, Vec<Reject>), RunError> {
    let raw = format!("{}__raw\"", target.trim_end_matches('"'));
    conn.execute_batch(&format!("CREATE OR REPLACE TABLE {raw} AS {raw_select}"))
        .map_err(|e| file_error(rel, origin, e.to_string().lines().next().unwrap_or("")))?;
    let value = |name: &str| format!("(json ->> {})", string(name));
    let mut bad_conds = Vec::new();
    for c in &rel.schema.columns {
        let v = value(&c.name);
        let mut cond = format!(
            "({v} IS NOT NULL AND TRY_CAST({v} AS {}) IS NULL)",
            type_sql(c.ty)
        );
        if !c.nullable {
            cond = format!("({cond} OR {v} IS NULL)");
        }
        bad_conds.push((c, cond));
    }
    let mut rejects = Vec::new();
    for (c, cond) in &bad_conds {
        let mut stmt = conn
            .prepare(&format!("SELECT _file, _row, coalesce({}, 'null') FROM {raw} WHERE {cond} ORDER BY _file, _row", value(&c.name)))
            .map_err(|e| exec_error(rel.span, &e.to_string()))?;
        let bad: Vec<(String, i64, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| exec_error(rel.span, &e.to_string()))?;
        for (file, row, v) in bad {
            let error = if v == "null" {
                "null in a non-null column".to_string()
            } else {
                format!("value {v:?} is not a {}", c.ty)
            };
            if !reject {
                let code = if v == "null" {
                    codes::NULL_IN_NON_NULL
                } else {
                    codes::BAD_ROW
                };
                return Err(RunError::new(
                    code,
                    rel.span,
                    format!("{file} row {row}: column `{}`: {error}", c.name),
                    format!("`{}` declares `{}: {}{}`", rel.name, c.name, c.ty, if c.nullable { "?" } else { "" }),
                    "fix the row, change the declared type, or add `on_error = \"reject\"` to quarantine bad rows",
                ));
            }
            rejects.push(Reject {
                source: rel.name.clone(),
                file,
                line: row,
                column: c.name.clone(),
                error,
            });
        }
    }
    let cols: Vec<String> = rel
        .schema
        .columns
        .iter()
        .map(|c| {
            format!(
                "TRY_CAST({} AS {}) AS {}",
                value(&c.name),
                type_sql(c.ty),
                ident(&c.name)
            )
        })
        .collect();
    let good = if bad_conds.is_empty() {
        "TRUE".to_string()
    } else {
        bad_conds
            .iter()
            .map(|(_, c)| format!("NOT {c}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    conn.execute_batch(&format!("CREATE OR REPLACE TABLE {target} AS SELECT {} FROM {raw} WHERE {good} ORDER BY _file, _row; DROP TABLE {raw}", cols.join(", ")))
        .map_err(|e| exec_error(rel.span, &e.to_string()))?;
    Ok((count(conn, target, rel.span)?, rejects))
}

/// A temporary file removed when dropped.
pub struct TempFile(PathBuf);

impl TempFile {
    pub(crate) fn new(suffix: &str) -> Self {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        TempFile(std::env::temp_dir().join(format!("pipec-{}-{n}{suffix}", std::process::id())))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
