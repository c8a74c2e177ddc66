//! Staging: every source is loaded and every transform computed into the in-memory `_pipec_stage`
//! database (spilling to disk under DuckDB's memory limit), with the
//! declared schema enforced row by row.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use duckdb::Connection;
use pipec_check::ir::{
    Compression, CsvOptions, FileFormat, FileOptions, Head, OnError, Pipeline, PostgresRead,
    Relation, RelationKind, Schema, SinkTarget, Source, StepKind, Transform, Type,
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
    /// The staging database (see [`Stage::database`]).
    database: String,
    prefix: String,
    /// Sources that may be streamed (see [`streamable`]).
    streamable: HashSet<String>,
    /// Sources staged as views over their files, with their tally slot and, once their reader
    /// ran, the rows read.
    streamed: Mutex<HashMap<String, (i32, Option<u64>)>>,
    /// The sources read once per command (none for `pipec test`).
    cache: Option<std::sync::Arc<Cache>>,
    /// Sources read from [`Cache`] tables loaded by an earlier interval.
    reused: Mutex<HashSet<String>>,
    /// Sources read from their [`Cache`] table: [`Stage::table`] names that table.
    cached_tables: Mutex<HashMap<String, String>>,
    /// The database each connection staging into this uses by default (`USE`), when it is not
    /// the one the connection opened (`pipec show`'s read-only warehouse).
    default_database: Option<String>,
}

/// Sources whose data cannot change from one interval of a command to the next, loaded once per
/// `pipec run` command into the in-memory database `_pipec_cache`: a file source whose path has no
/// placeholder (reloaded when its size or modification time changed) and an HTTP source whose URL
/// has none. An interval reads such a source from its cached table.
#[derive(Default)]
pub struct Cache {
    /// By `pipeline\0relation`: where it was read from, the file's (size, mtime), rows and
    /// rejects of the load.
    entries: Mutex<HashMap<String, Cached>>,
    /// Held while attaching `_pipec_cache`.
    attach: Mutex<()>,
    /// The warehouse database's name.
    catalog: Mutex<Option<String>>,
    /// The columns of the sink tables this command published to, as its last publish left
    /// them (probing a table costs a statement per interval).
    sink_columns: Mutex<HashMap<String, Vec<String>>>,
    /// DuckDB's thread count while intervals run side by side, and the machine's cores: a
    /// source is loaded into the cache with every core, since the intervals reading it wait.
    threads: Option<(usize, usize)>,
}

struct Cached {
    origin: String,
    stamp: Option<(u64, std::time::SystemTime)>,
    rows: u64,
    rejects: Vec<Reject>,
}

impl Cache {
    /// The cache of a command whose intervals run with `share` of the `cores` DuckDB threads
    /// each.
    pub(crate) fn new(share: usize, cores: usize) -> Self {
        Cache {
            threads: (share < cores).then_some((share, cores)),
            ..Cache::default()
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The name of the warehouse database (asked once), to name its tables from views in
    /// other databases.
    fn catalog(&self, conn: &Connection) -> Option<String> {
        let mut name = self.catalog.lock().unwrap_or_else(|e| e.into_inner());
        if name.is_none() {
            *name = conn
                .query_row("SELECT current_database()", [], |r| r.get(0))
                .ok();
        }
        name.clone()
    }

    /// The columns of sink table `target` when this command published to it.
    pub(crate) fn sink_columns(&self, target: &str) -> Option<Vec<String>> {
        self.sink_columns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(target)
            .cloned()
    }

    /// Records the columns of sink table `target` after a publish committed.
    pub(crate) fn set_sink_columns(&self, target: &str, columns: Vec<String>) {
        self.sink_columns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(target.to_string(), columns);
    }

    /// Frees every cached table (at the end of a command).
    pub(crate) fn close(&self, conn: &Connection) {
        if !self.entries().is_empty() {
            let _ = conn.execute_batch("DETACH DATABASE IF EXISTS _pipec_cache");
        }
    }
}

impl Stage {
    pub(crate) fn new(pipeline: &str) -> Self {
        Stage {
            database: Stage::database(0),
            prefix: format!("{pipeline}__"),
            streamable: HashSet::new(),
            streamed: Mutex::new(HashMap::new()),
            cache: None,
            reused: Mutex::new(HashSet::new()),
            cached_tables: Mutex::new(HashMap::new()),
            default_database: None,
        }
    }

    /// Makes `conn` (a clone of the staging connection) use the stage's default database.
    pub(crate) fn prepare(&self, conn: &Connection) -> duckdb::Result<()> {
        match &self.default_database {
            Some(db) => conn.execute_batch(&format!("USE {}", ident(db))),
            None => Ok(()),
        }
    }

    /// The name of the in-memory staging database of worker `n` of a run: `_pipec_stage`, then
    /// `_pipec_stage_1`, ...: attached databases are shared by every connection of a database,
    /// so workers staging at the same time each need their own.
    pub(crate) fn database(n: usize) -> String {
        match n {
            0 => "_pipec_stage".into(),
            n => format!("_pipec_stage_{n}"),
        }
    }

    /// The stage of a run of `p` in staging database `database`, streaming the sources that
    /// allow it and reading unchanged reference sources from `cache`.
    pub(crate) fn for_run(p: &Pipeline, cache: &std::sync::Arc<Cache>, database: &str) -> Self {
        Stage {
            streamable: streamable(p),
            cache: Some(cache.clone()),
            database: database.to_string(),
            ..Stage::new(&p.name)
        }
    }

    /// The stage of `pipec show` for `relation` of `p`: as [`Stage::for_run`], except that
    /// `relation` itself is never streamed (its rows are read back from its staged table);
    /// `default_database` is the warehouse every staging connection uses by default.
    pub(crate) fn for_preview(
        p: &Pipeline,
        cache: &std::sync::Arc<Cache>,
        relation: &str,
        default_database: Option<String>,
    ) -> Self {
        let mut stage = Stage::for_run(p, cache, &Stage::database(0));
        stage.streamable.remove(relation);
        stage.default_database = default_database;
        stage
    }

    /// The command's cache (none for `pipec test`).
    pub(crate) fn cache(&self) -> Option<&Cache> {
        self.cache.as_deref()
    }

    /// Whether source `name` was staged from the data an earlier interval of this command read.
    pub(crate) fn is_reused(&self, name: &str) -> bool {
        self.reused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(name)
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

    /// The quoted staging table of relation `name` (a source read from the command's
    /// [`Cache`]: its table there).
    pub fn table(&self, name: &str) -> String {
        if let Some(t) = self
            .cached_tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return t.clone();
        }
        format!(
            "{}.main.{}",
            self.database,
            ident(&format!("{}{}", self.prefix, name))
        )
    }

    /// Starts from an empty staging database. It lives in memory, so a killed run leaves
    /// nothing behind; the intervals a worker runs one after another each start from a fresh
    /// one.
    pub(crate) fn reset(&self, conn: &Connection) -> Result<(), RunError> {
        let db = &self.database;
        conn.execute_batch(&format!(
            "DETACH DATABASE IF EXISTS {db}; ATTACH ':memory:' AS {db}"
        ))
        .map_err(|e| exec_error(Span::default(), &e.to_string()))
    }

    /// Drops everything staged.
    pub(crate) fn drop_all(&self, conn: &Connection) -> Result<(), RunError> {
        conn.execute_batch(&format!("DETACH DATABASE IF EXISTS {}", self.database))
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
            }) => options.on_error == OnError::Fail,
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

/// The rows of `table` just made by `CREATE TABLE ... AS`, which reports `made` rows: a count
/// query only when it reports none.
fn created(conn: &Connection, made: usize, table: &str, span: Span) -> Result<u64, RunError> {
    match made {
        0 => count(conn, table, span),
        n => Ok(n as u64),
    }
}

/// The statement computing transform `rel` into its staging table, run values from `ctx`.
pub(crate) fn transform_sql(
    p: &Pipeline,
    rel: &Relation,
    t: &Transform,
    stage: &Stage,
    ctx: pipec_sql::Ctx,
) -> String {
    let head_schema = match &t.head {
        Head::Relation(n) => p.relation(n).map(|r| r.schema.clone()).unwrap_or_default(),
        Head::Sql { .. } => Schema::default(),
    };
    let tables = |n: &str| stage.table(n);
    let select = ctx.transform(t, &head_schema, &tables);
    let target = stage.table(&rel.name);
    let cols = pipec_sql::Dialect::DuckDb.cast_columns(&rel.schema);
    format!("CREATE OR REPLACE TABLE {target} AS SELECT {cols} FROM ({select}) AS t")
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
    let target = stage.table(&rel.name);
    let sql = transform_sql(p, rel, t, stage, pipec_sql::Ctx::duckdb(run));
    let streamed: Vec<(String, i32)> = {
        let map = stage.streamed();
        t.inputs()
            .into_iter()
            .filter_map(|n| map.get(n).map(|(slot, _)| (n.to_string(), *slot)))
            .collect()
    };
    if streamed.is_empty() {
        let made = conn
            .execute(&sql, [])
            .map_err(|e| exec_error(rel.span, &e.to_string()))?;
        return created(conn, made, &target, rel.span);
    }
    // Filters stay where they are written, so the tally in a streamed source's view sees every
    // row of the file before this transform's own filters drop any.
    let result = pinned_filters(conn, || conn.execute(&sql, []));
    if let Ok(made) = result {
        for (name, slot) in &streamed {
            let rows = crate::tally::TALLIES.take(*slot);
            stage.streamed().insert(name.clone(), (*slot, Some(rows)));
        }
        return created(conn, made, &target, rel.span);
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

/// `path` as DuckDB's readers take it: with `glob` a pattern as written, else literal, its glob
/// characters escaped as one-character classes (`[[]`, `[*]`, `[?]`, `[\]`).
fn reader_path(path: &str, glob: bool) -> String {
    if glob || !path.contains(['*', '?', '[']) {
        return path.to_string();
    }
    let mut out = String::with_capacity(path.len() + 8);
    for ch in path.chars() {
        if matches!(ch, '[' | '*' | '?' | '\\') {
            out.push('[');
            out.push(ch);
            out.push(']');
        } else {
            out.push(ch);
        }
    }
    out
}

/// Fails on a 0-byte local file (every file the pattern matches with `glob`): read as no rows,
/// it would silently empty the interval's data. `allow_empty = true` reads it as no rows.
fn not_empty(
    conn: &Connection,
    rel: &Relation,
    path: &str,
    options: &FileOptions,
) -> Result<(), RunError> {
    if options.allow_empty || path.contains("://") {
        return Ok(());
    }
    let files: Vec<String> = if options.glob {
        let mut stmt = conn
            .prepare("SELECT file FROM glob(?) ORDER BY file")
            .map_err(|e| exec_error(rel.span, &e.to_string()))?;
        let rows = stmt
            .query_map([path], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| exec_error(rel.span, &e.to_string()))?
    } else {
        vec![path.to_string()]
    };
    for f in files {
        if std::fs::metadata(&f).is_ok_and(|m| m.is_file() && m.len() == 0) {
            return Err(RunError::new(
                codes::EMPTY_INPUT,
                rel.span,
                format!("{f} is empty (0 bytes): `{}` would have no rows", rel.name),
                "reads this file",
                "an empty file is usually a failed export or an upload still in progress: fix it and run again; if no rows is a valid day, add `allow_empty = true`",
            ));
        }
    }
    Ok(())
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
    if let Some(cache) = &stage.cache {
        if let Some(loaded) = cached(conn, cache, p, rel, src, stage, run, secrets)? {
            return Ok(loaded);
        }
    }
    // A source already streamed is loaded again only when its reader failed: stage it then.
    let stream = stage.streamable.contains(&rel.name) && !stage.is_streamed(&rel.name);
    let target = stage.table(&rel.name);
    load_into(conn, p, rel, src, stage, run, secrets, &target, stream)
}

/// Stages source `rel` from the command's [`Cache`] when its data cannot depend on the interval,
/// loading it there first (again when its file changed); `None` when it can.
#[allow(clippy::too_many_arguments)]
fn cached(
    conn: &Connection,
    cache: &Cache,
    p: &Pipeline,
    rel: &Relation,
    src: &Source,
    stage: &Stage,
    run: &Interval,
    secrets: &Secrets,
) -> Result<Option<(u64, Vec<Reject>)>, RunError> {
    let (origin, stamp) = match src {
        Source::File { path, options, .. } if !path.contains(['{', '}']) => {
            let path = resolve_path(&crate::base_dir(p), path);
            if options.glob || path.contains("://") {
                return Ok(None);
            }
            // A missing file gets the usual error from the usual path.
            let Ok(meta) = std::fs::metadata(&path) else {
                return Ok(None);
            };
            let Ok(modified) = meta.modified() else {
                return Ok(None);
            };
            (path, Some((meta.len(), modified)))
        }
        Source::Http { url, .. } if !url.contains(['{', '}']) => (url.clone(), None),
        _ => return Ok(None),
    };
    let key = format!("{}\0{}", p.name, rel.name);
    let table = format!(
        "_pipec_cache.main.{}",
        ident(&format!("{}__{}", p.name, rel.name))
    );
    let hit = cache
        .entries()
        .get(&key)
        .filter(|c| c.origin == origin && c.stamp == stamp)
        .map(|c| (c.rows, c.rejects.clone()));
    let loaded = match hit {
        Some(loaded) => {
            stage
                .reused
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(rel.name.clone());
            loaded
        }
        None => {
            cache.entries().remove(&key);
            {
                let _one = cache.attach.lock().unwrap_or_else(|e| e.into_inner());
                conn.execute_batch("ATTACH IF NOT EXISTS ':memory:' AS _pipec_cache")
                    .map_err(|e| exec_error(rel.span, &e.to_string()))?;
            }
            // Every interval reading it waits for this load: it gets every core meanwhile.
            if let Some((_, cores)) = cache.threads {
                let _ = conn.execute_batch(&format!("SET threads = {cores}"));
            }
            let loaded = load_into(conn, p, rel, src, stage, run, secrets, &table, false);
            if let Some((share, _)) = cache.threads {
                let _ = conn.execute_batch(&format!("SET threads = {share}"));
            }
            let loaded = loaded?;
            let entry = Cached {
                origin,
                stamp,
                rows: loaded.0,
                rejects: loaded.1.clone(),
            };
            cache.entries().insert(key, entry);
            loaded
        }
    };
    // Read where it is: a view on it would cost a statement per interval.
    stage
        .cached_tables
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(rel.name.clone(), table);
    Ok(Some(loaded))
}

/// Loads source `rel` into table `target` (a view for its only reader with `stream`).
#[allow(clippy::too_many_arguments)]
fn load_into(
    conn: &Connection,
    p: &Pipeline,
    rel: &Relation,
    src: &Source,
    stage: &Stage,
    run: &Interval,
    secrets: &Secrets,
    target: &str,
    stream: bool,
) -> Result<(u64, Vec<Reject>), RunError> {
    let target = target.to_string();
    let base = crate::base_dir(p);
    match src {
        Source::File { format, path, options } => {
            let path = resolve_path(&base, &run.expand(path, |_| None));
            if !options.glob && !path.contains("://") && !Path::new(&path).exists() {
                return Err(RunError::new(
                    codes::NO_INPUT,
                    rel.span,
                    format!("no input file for `{}` on {}: {path} does not exist", rel.name, run.ds),
                    "reads this path",
                    "check the path template and that the data for this date has arrived",
                ));
            }
            if format != &FileFormat::Parquet {
                not_empty(conn, rel, &path, options)?;
            }
            let reject = options.on_error == OnError::Reject;
            match format {
                FileFormat::Csv if stream => {
                    let slot = csv_view(conn, rel, options, &path, &target)?;
                    stage.streamed().insert(rel.name.clone(), (slot, None));
                    Ok((0, Vec::new()))
                }
                FileFormat::Csv => csv(conn, rel, options, &path, &target, reject),
                FileFormat::Ndjson => ndjson(conn, rel, options, &path, &target, reject),
                FileFormat::Parquet => {
                    let cols = pipec_sql::Dialect::DuckDb.cast_columns(&rel.schema);
                    let sql = format!("CREATE OR REPLACE TABLE {target} AS SELECT {cols} FROM read_parquet({})", string(&reader_path(&path, options.glob)));
                    conn.execute_batch(&sql).map_err(|e| file_error(rel, &path, &e.to_string()))?;
                    not_null(conn, rel, &target, &|_| None, &path)?;
                    Ok((count(conn, &target, rel.span)?, Vec::new()))
                }
            }
        }
        Source::Http { url, options } => {
            let url = run.expand(url, |_| None);
            let file = fetch::http_to_ndjson(rel, &url, options, &base, secrets)?;
            let raw = format!("SELECT {} AS _file, row_number() OVER () AS _row, json FROM read_ndjson_objects({})", string(&url), string(&file.path().to_string_lossy()));
            let result = json_rows(conn, rel, &raw, &url, &target, false, "row");
            drop(file);
            result
        }
        Source::Postgres { dsn, read, incremental } => {
            let dsn = secrets.value(dsn, rel.span)?;
            let watermark = match incremental {
                Some(_) => crate::state::watermark(conn, &p.name, &format!("source:{}", rel.name))?,
                None => None,
            };
            let file = fetch::postgres_to_ndjson(rel, &dsn, read, incremental.as_deref(), watermark.as_deref())?;
            let origin = match read {
                PostgresRead::Table(t) => t.clone(),
                PostgresRead::Query(_) => "query".into(),
            };
            let raw = format!("SELECT {} AS _file, row_number() OVER () AS _row, json FROM read_ndjson_objects({})", string(&origin), string(&file.path().to_string_lossy()));
            json_rows(conn, rel, &raw, &origin, &target, false, "row")
        }
        Source::Table { table } => Ok((table_source(conn, p, rel, table, stage, &target)?, Vec::new())),
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

/// Stages a `table("schema.t")` source, casting the table's columns to the declared types: as a
/// view when no sink of `p` writes that table (it cannot change during the run), else a copy.
fn table_source(
    conn: &Connection,
    p: &Pipeline,
    rel: &Relation,
    table: &str,
    stage: &Stage,
    target: &str,
) -> Result<u64, RunError> {
    let (schema, name) = table.split_once('.').unwrap_or(("main", table));
    let quoted = pipec_sql::table(schema, name);
    let written_here = p.sinks.iter().any(|s| match &s.target {
        SinkTarget::Table {
            schema: sch,
            table: t,
        } => sch.eq_ignore_ascii_case(schema) && t.eq_ignore_ascii_case(name),
        SinkTarget::File { .. } => false,
    });
    let catalog = match &stage.cache {
        Some(cache) if !written_here => cache.catalog(conn),
        _ => None,
    };
    if let Some(catalog) = catalog {
        return table_view(conn, rel, table, (schema, name), &catalog, target);
    }
    let cols = pipec_sql::Dialect::DuckDb.cast_columns(&rel.schema);
    let sql = format!("CREATE OR REPLACE TABLE {target} AS SELECT {cols} FROM {quoted}");
    if let Err(e) = conn.execute_batch(&sql) {
        return Err(table_source_error(
            conn,
            rel,
            table,
            (schema, name),
            &e.to_string(),
        ));
    }
    not_null(conn, rel, target, &|_| None, &format!("table {table}"))?;
    count(conn, target, rel.span)
}

/// Stages warehouse table `table` as a view in `target`, checked as a copy would be: one scan
/// evaluates every cast (`count(c)` for each column) and counts the rows and nulls.
fn table_view(
    conn: &Connection,
    rel: &Relation,
    table: &str,
    (schema, name): (&str, &str),
    catalog: &str,
    target: &str,
) -> Result<u64, RunError> {
    let cols = pipec_sql::Dialect::DuckDb.cast_columns(&rel.schema);
    let sql = format!(
        "CREATE OR REPLACE VIEW {target} AS SELECT {cols} FROM {}.{}",
        ident(catalog),
        pipec_sql::table(schema, name)
    );
    let failed =
        |e: duckdb::Error| table_source_error(conn, rel, table, (schema, name), &e.to_string());
    conn.execute_batch(&sql).map_err(failed)?;
    let mut counts = vec!["count(*)".to_string()];
    counts.extend(
        rel.schema
            .columns
            .iter()
            .map(|c| format!("count({})", ident(&c.name))),
    );
    let n = rel.schema.columns.len() + 1;
    let counted: Vec<i64> = conn
        .query_row(
            &format!("SELECT {} FROM {target}", counts.join(", ")),
            [],
            |r| (0..n).map(|i| r.get::<_, i64>(i)).collect(),
        )
        .map_err(failed)?;
    let nulls = rel
        .schema
        .columns
        .iter()
        .zip(&counted[1..])
        .any(|(c, k)| !c.nullable && *k < counted[0]);
    if nulls {
        not_null(conn, rel, target, &|_| None, &format!("table {table}"))?;
    }
    Ok(counted[0] as u64)
}

/// Why reading warehouse table `table` failed: it does not exist yet (E0503), or a declared column
/// is missing from it or holds values that do not convert to the declared type (E0515).
fn table_source_error(
    conn: &Connection,
    rel: &Relation,
    table: &str,
    (schema, name): (&str, &str),
    msg: &str,
) -> RunError {
    let quoted = pipec_sql::table(schema, name);
    // The catalog is read only here, on failure.
    let have: Vec<(String, String)> = conn
        .prepare("SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ? ORDER BY ordinal_position")
        .and_then(|mut st| {
            st.query_map([schema, name], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
        })
        .unwrap_or_default();
    if have.is_empty() {
        return RunError::new(
            codes::NO_INPUT,
            rel.span,
            format!("warehouse table `{table}` does not exist yet"),
            "reads this table",
            "run the pipeline that writes it first",
        );
    }
    let listing = have
        .iter()
        .map(|(n, t)| format!("{n} {}", pipec_type(t)))
        .collect::<Vec<_>>()
        .join(", ");
    for c in &rel.schema.columns {
        let declared = format!("{}{}", c.ty, if c.nullable { "?" } else { "" });
        let Some((_, in_table)) = have.iter().find(|(n, _)| n.eq_ignore_ascii_case(&c.name)) else {
            return RunError::new(
                codes::TABLE_SOURCE_MISMATCH,
                rel.span,
                format!(
                    "warehouse table `{table}` has no column `{}` (declared `{}: {declared}`)",
                    c.name, c.name
                ),
                format!("`{}` declares this schema", rel.name),
                format!("`{table}` has: {listing}; declare only columns it has, or change the pipeline that writes it"),
            );
        };
        let want = type_sql(c.ty);
        if in_table
            .replace(' ', "")
            .eq_ignore_ascii_case(&want.replace(' ', ""))
        {
            continue;
        }
        let bad = conn.query_row(
            &format!(
                "SELECT count(*) FROM {quoted} WHERE {0} IS NOT NULL AND TRY_CAST({0} AS {want}) IS NULL",
                ident(&c.name)
            ),
            [],
            |r| r.get::<_, i64>(0),
        );
        let why = match bad {
            Ok(0) => continue,
            Ok(n) => format!("{n} value(s) do not convert"),
            Err(_) => "its values cannot convert".to_string(),
        };
        return RunError::new(
            codes::TABLE_SOURCE_MISMATCH,
            rel.span,
            format!(
                "column `{}` of warehouse table `{table}` is {} but declared {declared}: {why}",
                c.name,
                pipec_type(in_table)
            ),
            format!("`{}` declares `{}: {declared}`", rel.name, c.name),
            format!(
                "declare `{}: {}` as the table has it (and convert with `::` in a transform), or change the pipeline that writes `{table}`",
                c.name,
                pipec_type(in_table)
            ),
        );
    }
    exec_error(rel.span, msg)
}

/// The `.pipe` name of DuckDB type `t` (as the catalog spells it), or `t` itself.
fn pipec_type(t: &str) -> String {
    let upper = t.to_ascii_uppercase();
    let name = match upper.as_str() {
        "INTEGER" => "int",
        "BIGINT" => "bigint",
        "DOUBLE" => "float",
        "BOOLEAN" => "bool",
        "VARCHAR" => "string",
        "DATE" => "date",
        "TIMESTAMP" => "timestamp",
        "INTERVAL" => "interval",
        "JSON" => "json",
        d if d.starts_with("DECIMAL") => return d.to_ascii_lowercase().replace(',', ", "),
        _ => return t.to_string(),
    };
    name.to_string()
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

/// DuckDB's name of a compression (its readers take it as `compression = ...`).
fn compression(c: Compression) -> String {
    string(match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
    })
}

/// For the types whose cast from text would round (`3.7` to the int `4`, `1.005` to the
/// `decimal(10, 2)` `1.01`) or take other notations (`1e3`, `0x10`, `1_000`), the fractional
/// digits a text may have: such columns are read as text and checked with
/// [`crate::exact::exact`] (plain digits, `4.0` is the int `4`).
fn exact_scale(t: Type) -> Option<u8> {
    match t {
        Type::Int | Type::BigInt => Some(0),
        Type::Decimal(_, s) => Some(s),
        _ => None,
    }
}

/// For `int` and `bigint`, the function that reads a column's text as its integer in one pass
/// ([`crate::exact::INT`]): null for null, and the query fails on a text that is not exactly
/// an integer of the type. Cheaper than [`crate::exact::exact`] and then DuckDB's cast.
fn integer_function(t: Type) -> Option<&'static str> {
    match t {
        Type::Int => Some(crate::exact::INT),
        Type::BigInt => Some(crate::exact::BIGINT),
        _ => None,
    }
}

/// SQL: text `v` is null or written exactly as [`exact_scale`] wants (a value too large for
/// the type still fails its cast); `None` for the types whose cast is exact.
fn written_exactly(v: &str, t: Type) -> Option<String> {
    let scale = exact_scale(t)?;
    Some(format!("{}({v}, {scale})", crate::exact::FUNCTION))
}

/// SQL: text `v` is null or holds a value of type `t` exactly; `None` for the types whose cast
/// is exact.
fn fits(v: &str, t: Type) -> Option<String> {
    let written = written_exactly(v, t)?;
    Some(format!(
        "({written} AND ({v} IS NULL OR TRY_CAST({v} AS {}) IS NOT NULL))",
        type_sql(t)
    ))
}

/// The column of `rel` as read from a CSV file: cast exactly from the text the reader keeps for
/// the types of [`exact_scale`], else as read.
fn csv_value(c: &pipec_check::ir::Column) -> String {
    match exact_scale(c.ty) {
        // Already read as its integer by the view's inner projection ([`csv_read`]).
        Some(_) if integer_function(c.ty).is_some() => ident(&c.name),
        Some(_) => format!(
            "CAST({} AS {}) AS {}",
            ident(&c.name),
            type_sql(c.ty),
            ident(&c.name)
        ),
        None => ident(&c.name),
    }
}

/// The column of `rel` as the streamed view's inner projection reads it: `int` and `bigint`
/// columns through [`integer_function`] (so the tally above sees every value read, exactly or
/// failing), others as read.
fn csv_read(c: &pipec_check::ir::Column) -> String {
    match integer_function(c.ty) {
        Some(f) => format!("{f}({0}) AS {0}", ident(&c.name)),
        None => ident(&c.name),
    }
}

/// The CSV settings of a CSV source (the checker sets them for every one).
fn csv_settings(options: &FileOptions) -> CsvOptions {
    options.csv.clone().unwrap_or_default()
}

/// The options of DuckDB's CSV reader for source `rel`: its declared columns and types.
fn csv_options(rel: &Relation, options: &FileOptions) -> String {
    let csv = csv_settings(options);
    let mut opts = vec![
        format!("header = {}", csv.header),
        "auto_detect = false".to_string(),
        format!("compression = {}", compression(options.compression)),
    ];
    let columns: Vec<String> = rel
        .schema
        .columns
        .iter()
        .map(|c| {
            let ty = match exact_scale(c.ty) {
                Some(_) => "VARCHAR".to_string(),
                None => type_sql(c.ty),
            };
            format!("{}: {}", string(&c.name), string(&ty))
        })
        .collect();
    opts.push(format!("columns = {{{}}}", columns.join(", ")));
    opts.push(format!("delim = {}", string(&csv.delimiter.to_string())));
    opts.push(format!("quote = {}", string(&csv.quote.to_string())));
    // A quoted field is a value, never null (`""` is the empty string).
    opts.push("allow_quoted_nulls = false".to_string());
    if csv.nulls.is_empty() {
        // DuckDB needs a null text: with every column forced not null, none is read as null.
        let all: Vec<String> = rel.schema.columns.iter().map(|c| string(&c.name)).collect();
        opts.push(format!(
            "nullstr = '', force_not_null = [{}]",
            all.join(", ")
        ));
    } else {
        opts.push(format!(
            "nullstr = [{}]",
            csv.nulls
                .iter()
                .map(|n| string(n))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if csv.skip > 0 {
        opts.push(format!("skip = {}", csv.skip));
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
    options: &FileOptions,
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
    // Values that would be rounded fail the tally like nulls do (one too large fails its cast).
    let mut checks: Vec<String> = rel
        .schema
        .columns
        .iter()
        .filter(|c| integer_function(c.ty).is_none())
        .filter_map(|c| written_exactly(&ident(&c.name), c.ty))
        .collect();
    if !nulls.is_empty() {
        checks.push(format!("NOT ({})", nulls.join(" OR ")));
    }
    let ok = if checks.is_empty() {
        "TRUE".to_string()
    } else {
        checks.join(" AND ")
    };
    let values: Vec<String> = rel.schema.columns.iter().map(csv_value).collect();
    let read: Vec<String> = rel.schema.columns.iter().map(csv_read).collect();
    // The inner projection reads each integer once; the tally takes its result, so it is
    // computed for every row even when the transform does not use the column.
    let sql = format!(
        "CREATE OR REPLACE VIEW {target} AS SELECT {values} FROM (SELECT {read} FROM read_csv({path}, {opts})) WHERE {tally}({slot}, {ok}, {cols})",
        values = values.join(", "),
        read = read.join(", "),
        cols = names.join(", "),
        path = string(&reader_path(path, options.glob)),
        opts = csv_options(rel, options),
        tally = crate::tally::FUNCTION,
    );
    conn.execute_batch(&sql)
        .map_err(|e| file_error(rel, path, &e.to_string()))?;
    Ok(slot)
}

/// The line of the file just before the first data row: `skip` lines, then the header.
fn csv_first_line(csv: &CsvOptions) -> i64 {
    i64::try_from(csv.skip)
        .unwrap_or(i64::MAX)
        .saturating_add(i64::from(csv.header))
}

/// The file line of the `k`-th (1-based) row read from a CSV file, given the lines of the rows the
/// reader set aside (`skipped`, ascending). Lines are counted as DuckDB's reader counts them in
/// `reject_errors`: a quoted value spanning lines counts as one.
fn csv_line(first: i64, k: i64, skipped: &[i64]) -> i64 {
    let mut line = first + k;
    for &r in skipped {
        if r > line {
            break;
        }
        line += 1;
    }
    line
}

/// What is wrong with a value of a CSV row: a null in a non-null column, or a text that does not
/// hold a value of its column's type exactly.
#[derive(Debug, Clone, PartialEq)]
enum Bad {
    Null,
    Inexact(String),
}

/// A CSV row that does not fit: (file, line, its bad columns).
type BadRow = (String, i64, Vec<(String, Bad)>);

/// The rows of `table` (one CSV scan, in file order, with a `_file` column, the columns of
/// [`exact_scale`] types still text) holding a null in a non-null column or a value that does
/// not fit exactly (or only in column `c`, at most `n` rows, with `only = (c, n)`).
fn csv_bad_rows(
    conn: &Connection,
    rel: &Relation,
    table: &str,
    first: i64,
    skipped: &HashMap<String, Vec<i64>>,
    only: Option<(&str, usize)>,
) -> Result<Vec<BadRow>, RunError> {
    let checked: Vec<(&str, String)> = rel
        .schema
        .columns
        .iter()
        .filter(|c| only.is_none_or(|(o, _)| o == c.name))
        .filter_map(|c| {
            let v = format!("l.{}", ident(&c.name));
            let null = (!c.nullable).then(|| format!("WHEN {v} IS NULL THEN 'n'"));
            let inexact = fits(&v, c.ty).map(|f| format!("WHEN NOT {f} THEN 'v' || {v}"));
            if null.is_none() && inexact.is_none() {
                return None;
            }
            let flag = format!(
                "CASE {} {} END",
                null.unwrap_or_default(),
                inexact.unwrap_or_default()
            );
            Some((c.name.as_str(), flag))
        })
        .collect();
    if checked.is_empty() {
        return Ok(Vec::new());
    }
    let flags: Vec<&str> = checked.iter().map(|(_, f)| f.as_str()).collect();
    let any: Vec<String> = flags.iter().map(|f| format!("{f} IS NOT NULL")).collect();
    // A table created from a scan keeps the file's row order, so `rowid` counts rows per file.
    let sql = format!(
        "SELECT l._file, l.rowid - f.first + 1, {flags} FROM {table} AS l JOIN (SELECT _file, min(rowid) AS first FROM {table} GROUP BY _file) AS f USING (_file) WHERE {any} ORDER BY l.rowid{limit}",
        flags = flags.join(", "),
        any = any.join(" OR "),
        limit = only.map(|(_, n)| format!(" LIMIT {n}")).unwrap_or_default(),
    );
    let mut stmt = conn
        .prepare(&sql)
        .map_err(|e| exec_error(rel.span, &e.to_string()))?;
    let rows = stmt
        .query_map([], |r| {
            let file: String = r.get(0)?;
            let k: i64 = r.get(1)?;
            let mut cols = Vec::new();
            for (i, (c, _)) in checked.iter().enumerate() {
                match r.get::<_, Option<String>>(i + 2)? {
                    Some(f) if f == "n" => cols.push((c.to_string(), Bad::Null)),
                    Some(f) => cols.push((c.to_string(), Bad::Inexact(f[1..].to_string()))),
                    None => {}
                }
            }
            Ok((file, k, cols))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| exec_error(rel.span, &e.to_string()))?;
    Ok(rows
        .into_iter()
        .map(|(file, k, cols)| {
            let line = csv_line(first, k, skipped.get(&file).map_or(&[][..], Vec::as_slice));
            (file, line, cols)
        })
        .collect())
}

/// Why value `bad` of column `c` does not fit.
fn bad_reason(rel: &Relation, column: &str, bad: &Bad) -> String {
    match bad {
        Bad::Null => format!("null in non-null column `{column}`"),
        Bad::Inexact(v) => {
            let ty = rel
                .schema
                .get(column)
                .map(|c| c.ty.to_string())
                .unwrap_or_default();
            format!("value {v:?} does not fit {ty} exactly")
        }
    }
}

/// CSV through DuckDB's typed reader; bad rows are located (or rejected) with `store_rejects`.
/// Integers and decimals are read as text and cast only when they fit exactly
/// ([`exact_scale`]). Every error and reject names the line of the file (the header is line 1).
fn csv(
    conn: &Connection,
    rel: &Relation,
    options: &FileOptions,
    path: &str,
    target: &str,
    reject: bool,
) -> Result<(u64, Vec<Reject>), RunError> {
    let opts = csv_options(rel, options);
    let first = csv_first_line(&csv_settings(options));
    let scan = |extra: &str| {
        format!(
            "read_csv({}, {opts}{extra})",
            string(&reader_path(path, options.glob))
        )
    };
    let select_cols = rel
        .schema
        .columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    if !reject {
        // A value that does not fit exactly fails the statement; it is located below.
        let values: Vec<String> = rel
            .schema
            .columns
            .iter()
            .map(|c| match (integer_function(c.ty), fits(&ident(&c.name), c.ty)) {
                (Some(f), _) => format!("{f}({0}) AS {0}", ident(&c.name)),
                (None, Some(f)) => format!(
                    "CASE WHEN {f} THEN CAST({n} AS {t}) ELSE error('pipec: inexact value') END AS {n}",
                    n = ident(&c.name),
                    t = type_sql(c.ty)
                ),
                (None, None) => ident(&c.name),
            })
            .collect();
        let sql = format!(
            "CREATE OR REPLACE TABLE {target} AS SELECT {} FROM {}",
            values.join(", "),
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
            let probe = "_pipec_probe_lines";
            let inexact = conn
                .execute_batch(&format!(
                    "CREATE OR REPLACE TEMP TABLE {probe} AS SELECT {select_cols}, filename AS _file FROM {}",
                    scan(", filename = true")
                ))
                .ok()
                .and_then(|()| csv_bad_rows(conn, rel, probe, first, &HashMap::new(), None).ok())
                .and_then(|rows| {
                    rows.into_iter().find_map(|(file, line, cols)| {
                        let (column, bad) = cols.into_iter().find(|(_, b)| *b != Bad::Null)?;
                        Some(Reject {
                            source: rel.name.clone(),
                            file,
                            line,
                            error: bad_reason(rel, &column, &bad),
                            column,
                        })
                    })
                });
            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {probe}"));
            if let Some(r) = inexact {
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
        let locate = |column: &str| -> Option<(String, i64)> {
            // Only on failure: read the file again, with its name, to find the row.
            let probe = "_pipec_probe_lines";
            conn.execute_batch(&format!(
                "CREATE OR REPLACE TEMP TABLE {probe} AS SELECT {select_cols}, filename AS _file FROM {}",
                scan(", filename = true")
            ))
            .ok()?;
            let found = csv_bad_rows(conn, rel, probe, first, &HashMap::new(), Some((column, 1)));
            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {probe}"));
            found.ok()?.into_iter().next().map(|(f, l, _)| (f, l))
        };
        not_null(conn, rel, target, &locate, path)?;
        return Ok((count(conn, target, rel.span)?, Vec::new()));
    }
    let mut rejects = csv_reject_part(conn, rel, options, path, target, 0, 0)?;
    rejects.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let mut alter = vec![format!("ALTER TABLE {target} DROP COLUMN _file")];
    for c in &rel.schema.columns {
        if exact_scale(c.ty).is_some() {
            // `TRY_CAST`: the rewrite also meets the rows just deleted.
            alter.push(format!(
                "ALTER TABLE {target} ALTER COLUMN {0} SET DATA TYPE {1} USING TRY_CAST({0} AS {1})",
                ident(&c.name),
                type_sql(c.ty)
            ));
        }
    }
    conn.execute_batch(&alter.join("; "))
        .map_err(|e| exec_error(rel.span, &e.to_string()))?;
    Ok((count(conn, target, rel.span)?, rejects))
}

/// How many unterminated quotes of one file are each rejected on their own line; past it, the
/// rest of the file after the last one stays a single reject (bounds recursion and re-reading).
const MAX_QUOTE_REREADS: usize = 32;

/// The rows of CSV `path` read with `on_error = "reject"` into `target` (with a `_file` column,
/// the columns of [`exact_scale`] types still text) and its rejects, their lines `offset` further.
fn csv_reject_part(
    conn: &Connection,
    rel: &Relation,
    options: &FileOptions,
    path: &str,
    target: &str,
    offset: i64,
    depth: usize,
) -> Result<Vec<Reject>, RunError> {
    let opts = csv_options(rel, options);
    let settings = csv_settings(options);
    let first = csv_first_line(&settings);
    let select_cols = rel
        .schema
        .columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    // A scan without errors may leave the tables of the previous one as they were.
    let latest = || -> Option<i64> {
        conn.query_row("SELECT max(scan_id) FROM reject_scans", [], |r| r.get(0))
            .ok()
            .flatten()
    };
    let before = latest();
    let sql = format!(
        "CREATE OR REPLACE {temp}TABLE {target} AS SELECT {select_cols}, filename AS _file FROM read_csv({}, {opts}, store_rejects = true, ignore_errors = true, filename = true)",
        string(&reader_path(path, options.glob)),
        temp = if depth > 0 { "TEMP " } else { "" }
    );
    conn.execute_batch(&sql)
        .map_err(|e| file_error(rel, path, &e.to_string()))?;
    // One reject per line set aside by the reader (a line may have several errors).
    let mut rejects: Vec<Reject> = Vec::new();
    let found = if latest() == before {
        Vec::new()
    } else {
        csv_rejects(conn, rel)?
    };
    for r in found {
        if !rejects.iter().any(|x| x.file == r.file && x.line == r.line) {
            rejects.push(r);
        }
    }
    // A quote never closed makes the reader run on across line ends: that row is a reject of
    // its own line, and the lines after it are read again on their own (plain files only).
    let mut reread: Vec<(String, i64)> = Vec::new();
    if options.compression == Compression::None
        && settings.quote.is_ascii()
        && depth < MAX_QUOTE_REREADS
    {
        for r in &rejects {
            if r.error.contains("unterminated quote") && !reread.iter().any(|(f, _)| *f == r.file) {
                reread.push((r.file.clone(), r.line));
            }
        }
        rejects.retain(|r| !reread.iter().any(|(f, l)| *f == r.file && r.line > *l));
    }
    let mut skipped: HashMap<String, Vec<i64>> = HashMap::new();
    for r in &rejects {
        skipped.entry(r.file.clone()).or_default().push(r.line);
    }
    for lines in skipped.values_mut() {
        lines.sort_unstable();
    }
    for (file, line) in &reread {
        let lines = skipped.get(file).map_or(&[][..], Vec::as_slice);
        let mut kept = 0i64;
        while csv_line(first, kept + 1, lines) < *line {
            kept += 1;
        }
        conn.execute_batch(&format!(
            "DELETE FROM {target} WHERE _file = {f} AND rowid >= (SELECT min(rowid) FROM {target} WHERE _file = {f}) + {kept}",
            f = string(file)
        ))
        .map_err(|e| exec_error(rel.span, &e.to_string()))?;
    }
    // Then one per row the reader keeps with a null in a non-null column or a value that does
    // not fit exactly.
    let bad = csv_bad_rows(conn, rel, target, first, &skipped, None)?;
    let mut fit: Vec<String> = rel
        .schema
        .columns
        .iter()
        .filter_map(|c| fits(&ident(&c.name), c.ty))
        .collect();
    fit.extend(
        rel.schema
            .columns
            .iter()
            .filter(|c| !c.nullable)
            .map(|c| format!("{} IS NOT NULL", ident(&c.name))),
    );
    if !bad.is_empty() {
        conn.execute_batch(&format!(
            "DELETE FROM {target} WHERE NOT ({})",
            fit.join(" AND ")
        ))
        .map_err(|e| exec_error(rel.span, &e.to_string()))?;
    }
    for (file, line, cols) in bad {
        let (column, error) = match cols.iter().find(|(_, b)| *b != Bad::Null) {
            Some((c, b)) => (c.clone(), bad_reason(rel, c, b)),
            None => {
                let names: Vec<String> = cols.iter().map(|(c, _)| format!("`{c}`")).collect();
                (
                    cols.first().map(|(c, _)| c.clone()).unwrap_or_default(),
                    format!(
                        "null in non-null column{} {}",
                        if cols.len() == 1 { "" } else { "s" },
                        names.join(", ")
                    ),
                )
            }
        };
        rejects.push(Reject {
            source: rel.name.clone(),
            file,
            line,
            column,
            error,
        });
    }
    for r in &mut rejects {
        r.line += offset;
    }
    for (file, line) in reread {
        let content = std::fs::read(&file).map_err(|e| file_error(rel, &file, &e.to_string()))?;
        let Some((header, rest)) = csv_after_line(&content, &settings, line) else {
            continue;
        };
        let tmp = TempFile::new(".csv");
        std::fs::write(tmp.path(), [header, rest].concat())
            .map_err(|e| file_error(rel, &file, &e.to_string()))?;
        let mut sub = options.clone();
        sub.glob = false;
        sub.csv = Some(CsvOptions {
            skip: 0,
            ..settings.clone()
        });
        let child = format!("_pipec_requote_{depth}");
        let tmp_path = tmp.path().to_string_lossy().to_string();
        let below = csv_reject_part(
            conn,
            rel,
            &sub,
            &tmp_path,
            &child,
            offset + line - i64::from(settings.header),
            depth + 1,
        )?;
        rejects.extend(below.into_iter().map(|r| Reject {
            file: file.clone(),
            ..r
        }));
        conn.execute_batch(&format!(
            "INSERT INTO {target} SELECT * FROM {child}; DROP TABLE {child}"
        ))
        .map_err(|e| exec_error(rel.span, &e.to_string()))?;
    }
    Ok(rejects)
}

/// The header of CSV `content` (empty without one) and the bytes after the physical line on
/// which logical line `line` starts, as the reader counts lines (a quoted value spanning lines
/// counts as one); `None` when nothing follows it.
fn csv_after_line<'a>(
    content: &'a [u8],
    csv: &CsvOptions,
    line: i64,
) -> Option<(&'a [u8], &'a [u8])> {
    let quote = u8::try_from(u32::from(csv.quote)).ok()?;
    // A quote doubled inside a quoted value toggles twice, so counting quotes is enough.
    let mut pos = 0usize;
    let end_of_physical = |from: usize| {
        content[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(content.len(), |i| from + i + 1)
    };
    for _ in 0..csv.skip {
        pos = end_of_physical(pos);
    }
    let end_of_logical = |from: usize| {
        let mut quoted = false;
        for (i, &b) in content[from..].iter().enumerate() {
            if b == quote {
                quoted = !quoted;
            } else if b == b'\n' && !quoted {
                return from + i + 1;
            }
        }
        content.len()
    };
    let mut logical = i64::try_from(csv.skip).ok()? + 1;
    let mut header: &[u8] = &[];
    if csv.header {
        let end = end_of_logical(pos);
        header = &content[pos..end];
        pos = end;
        logical += 1;
    }
    while logical < line && pos < content.len() {
        pos = end_of_logical(pos);
        logical += 1;
    }
    if logical != line {
        return None;
    }
    let rest = &content[end_of_physical(pos)..];
    if rest.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    if !header.is_empty() && !header.ends_with(b"\n") {
        return None;
    }
    Some((header, rest))
}

/// The errors of the latest scan with `store_rejects` on this connection, by file and line.
fn csv_rejects(conn: &Connection, rel: &Relation) -> Result<Vec<Reject>, RunError> {
    let mut stmt = conn
        .prepare(
            "SELECT s.file_path, e.line, coalesce(e.column_name, ''), e.error_message FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id) WHERE e.scan_id = (SELECT max(scan_id) FROM reject_scans) ORDER BY s.file_path, e.line",
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

/// Reports the first null in a non-nullable column of staged `target`, with the file and line
/// `locate` finds for that column (else `origin` alone).
fn not_null(
    conn: &Connection,
    rel: &Relation,
    target: &str,
    locate: &dyn Fn(&str) -> Option<(String, i64)>,
    origin: &str,
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
        let at = match locate(&c.name) {
            Some((file, line)) => format!("{file} line {line}"),
            None => origin.to_string(),
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

/// An NDJSON file, read as lines so that every error and reject names its line exactly (blank
/// lines count, a leading UTF-8 byte order mark is skipped): a line that is not a JSON object is
/// an error naming it, or with `reject` a reject of that line alone; blank lines are skipped.
fn ndjson(
    conn: &Connection,
    rel: &Relation,
    options: &FileOptions,
    path: &str,
    target: &str,
    reject: bool,
) -> Result<(u64, Vec<Reject>), RunError> {
    let lines = format!("{}__lines\"", target.trim_end_matches('"'));
    // One VARCHAR column per line: no quoting, and a delimiter no JSON text holds (raw control
    // characters are not allowed in JSON); an empty line is a null row, so lines keep their count.
    let sql = format!(
        "CREATE OR REPLACE TABLE {lines} AS SELECT filename AS _file, line AS json FROM read_csv({}, columns = {{'line': 'VARCHAR'}}, header = false, auto_detect = false, delim = '\u{1}\u{2}\u{3}\u{4}', quote = '', escape = '', nullstr = '', strict_mode = false, max_line_size = 16777216, compression = {}, filename = true)",
        string(&reader_path(path, options.glob)),
        compression(options.compression)
    );
    conn.execute_batch(&sql)
        .map_err(|e| file_error(rel, path, e.to_string().lines().next().unwrap_or("")))?;
    let numbered = format!("FROM {lines} AS l JOIN (SELECT _file, min(rowid) AS first FROM {lines} GROUP BY _file) AS f USING (_file)");
    let blank = "(l.json IS NULL OR regexp_full_match(l.json, '[ \t\r]*'))";
    let object =
        "coalesce(CASE WHEN json_valid(l.json) THEN json_type(l.json) = 'OBJECT' END, false)";
    let mut stmt = conn
        .prepare(&format!(
            "SELECT l._file, l.rowid - f.first + 1, json_valid(l.json), left(l.json, 60) {numbered} WHERE NOT {blank} AND NOT {object} ORDER BY l.rowid{}",
            if reject { "" } else { " LIMIT 1" }
        ))
        .map_err(|e| exec_error(rel.span, &e.to_string()))?;
    let malformed: Vec<Reject> = stmt
        .query_map([], |r| {
            let valid: bool = r.get(2)?;
            let text: String = r.get(3)?;
            Ok(Reject {
                source: rel.name.clone(),
                file: r.get(0)?,
                line: r.get(1)?,
                column: String::new(),
                error: if valid {
                    format!("not a JSON object: {text}")
                } else {
                    format!("malformed JSON: {text}")
                },
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| exec_error(rel.span, &e.to_string()))?;
    drop(stmt);
    if let (false, Some(r)) = (reject, malformed.first()) {
        let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {lines}"));
        return Err(RunError::new(
            codes::MALFORMED_LINE,
            rel.span,
            format!("{} line {}: {}", r.file, r.line, r.error),
            format!("`{}` reads one JSON object per line", rel.name),
            "fix the line, or add `on_error = \"reject\"` to set such lines aside",
        ));
    }
    let raw = format!(
        "SELECT l._file, l.rowid - f.first + 1 AS _row, CAST(l.json AS JSON) AS json {numbered} WHERE NOT {blank} AND {object}"
    );
    let result = json_rows(conn, rel, &raw, path, target, reject, "line");
    let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {lines}"));
    let (rows, mut rejects) = result?;
    rejects.extend(malformed);
    rejects.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok((rows, rejects))
}

/// JSON rows (`_file`, `_row`, `json`) → typed staging table. Values that do not cast are errors
/// naming the file and row (`unit`: "line" for files, one object per line, else "row"), or
/// rejects: one per row set aside, naming its first bad column.
fn json_rows(
    conn: &Connection,
    rel: &Relation,
    raw_select: &str,
    origin: &str,
    target: &str,
    reject: bool,
    unit: &str,
) -> Result<(u64, Vec<Reject>), RunError> {
    let raw = format!("{}__raw\"", target.trim_end_matches('"'));
    conn.execute_batch(&format!("CREATE OR REPLACE TABLE {raw} AS {raw_select}"))
        .map_err(|e| file_error(rel, origin, e.to_string().lines().next().unwrap_or("")))?;
    let value = |name: &str| format!("(json ->> {})", string(name));
    let mut bad_conds = Vec::new();
    for c in &rel.schema.columns {
        let v = value(&c.name);
        let mut cond = match fits(&v, c.ty) {
            Some(fits) => format!("(NOT {fits})"),
            None => format!(
                "({v} IS NOT NULL AND TRY_CAST({v} AS {}) IS NULL)",
                type_sql(c.ty)
            ),
        };
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
                    format!("{file} {unit} {row}: column `{}`: {error}", c.name),
                    format!("`{}` declares `{}: {}{}`", rel.name, c.name, c.ty, if c.nullable { "?" } else { "" }),
                    "fix the row, change the declared type, or add `on_error = \"reject\"` to quarantine bad rows",
                ));
            }
            if !rejects
                .iter()
                .any(|r: &Reject| r.file == file && r.line == row)
            {
                rejects.push(Reject {
                    source: rel.name.clone(),
                    file,
                    line: row,
                    column: c.name.clone(),
                    error,
                });
            }
        }
    }
    rejects.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
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
