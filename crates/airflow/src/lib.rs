//! The Airflow 3 target of `pipec emit`: one DAG file per pipeline plus one shared runtime
//! module (`pipec_runtime.py`, stdlib + duckdb + psycopg2).
//!
//! Each DAG holds its pipeline as a Python literal: for every task (one per source, transform
//! and check, then one `publish`) the list of operations the runtime executes — SQL rendered by
//! `pipec-sql` with run values as marked variables ([`pipec_sql::MARK`]), assertions, HTTP and
//! PostgreSQL fetches. The runtime's operator has no template fields: nothing in the file goes
//! through Jinja, so user text holding `{{ }}`, `${}` or `%` stays text. Sinks are published by
//! the one `publish` task in one transaction, after every check passed.

mod pylit;
mod sources;

use std::collections::{BTreeMap, BTreeSet};

use chrono::Datelike;
use pipec_check::ir::{
    Alert, IntervalRule, Pipeline, Project, RelationKind, Schedule, SinkTarget, Source,
};
use pipec_diag::{codes, Diagnostic};
use pipec_emit::{File, Manifest, Options, Output, PipelineEntry};
use pipec_plan::Plan;
use pipec_sql::sinks::SinkPlan;
use pipec_sql::{Ctx, Dialect};
use serde_json::{json, Value as J};

pub use pylit::{py, py_str};

/// The warehouse an emitted DAG writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A DuckDB file (Airflow Variable `pipec_warehouse`).
    DuckDb,
    /// A PostgreSQL database (Airflow Variable `pipec_warehouse`: its URL).
    Postgres,
}

impl Profile {
    /// The profile's name in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Profile::DuckDb => "duckdb",
            Profile::Postgres => "postgres",
        }
    }

    /// The SQL dialect of the warehouse.
    pub fn dialect(self) -> Dialect {
        match self {
            Profile::DuckDb => Dialect::DuckDb,
            Profile::Postgres => Dialect::Postgres,
        }
    }
}

/// The runtime module every DAG imports.
pub const RUNTIME_FILE: &str = "pipec_runtime.py";
const RUNTIME: &str = include_str!("../templates/pipec_runtime.py");
const DAG_TEMPLATE: &str = include_str!("../templates/dag.py.j2");
const TARGET: &str = "airflow";

/// Emits one DAG per pipeline of `project` (upstream first in the manifest) and the runtime.
/// Every diagnostic of every pipeline is collected before returning `Err`.
pub fn emit(
    project: &Project,
    plan: &Plan,
    options: &Options,
    profile: Profile,
) -> Result<Output, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut files = Vec::new();
    let mut entries = Vec::new();
    let mut specs = BTreeSet::new();
    let order = pipec_emit::pipeline_order(project, plan);
    let dags = pipec_emit::par_map(&order, |p| dag(project, p, options, profile));
    for (p, dag) in order.into_iter().zip(dags) {
        specs.insert(p.file.clone());
        match dag {
            Ok(text) => {
                let path = format!("{}.py", p.name);
                files.push(File {
                    path: path.clone(),
                    contents: text,
                });
                entries.push(entry(p, path));
            }
            Err(mut d) => diags.append(&mut d),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let spec_list = specs.into_iter().collect::<Vec<_>>().join(", ");
    files.push(File {
        path: RUNTIME_FILE.into(),
        contents: format!("{}{RUNTIME}", pipec_emit::header("#", &spec_list)),
    });
    Ok(Output {
        files,
        manifest: Manifest {
            version: 1,
            target: TARGET.into(),
            profile: Some(profile.name().into()),
            pipelines: entries,
        },
    })
}

/// The manifest entry: `airflow dags test` of the DAG for the interval starting at `{start}`.
fn entry(p: &Pipeline, path: String) -> PipelineEntry {
    let mut env = BTreeMap::new();
    env.insert(
        "AIRFLOW_VAR_PIPEC_WAREHOUSE".to_string(),
        "{warehouse}".to_string(),
    );
    env.insert(
        "AIRFLOW__CORE__LOAD_EXAMPLES".to_string(),
        "False".to_string(),
    );
    PipelineEntry {
        name: p.name.clone(),
        file: p.file.clone(),
        files: vec![path.clone(), RUNTIME_FILE.into()],
        sinks: p
            .sinks
            .iter()
            .filter_map(|s| match &s.target {
                SinkTarget::Table { schema, table } => Some(format!("{schema}.{table}")),
                SinkTarget::File { .. } => None,
            })
            .collect(),
        // `airflow dags test` takes the date as the run's `run_after` and infers the data
        // interval ending there; a manual DAG has no interval and processes the UTC day of it.
        run: format!(
            "AIRFLOW__CORE__DAGS_FOLDER=\"$PWD\" airflow dags test {} \"{}+00:00\" -f \"$PWD\"/{}",
            shell_word(&p.name),
            if matches!(p.schedule, Schedule::Manual) {
                "{start}"
            } else {
                "{end}"
            },
            shell_word(&path)
        ),
        env,
        uploads: Vec::new(),
        notes: Vec::new(),
    }
}

/// `s` as one shell word.
fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Table names inside a task of the DuckDB profile: staged relations in the attached per-run
/// stage database `_pipec_stage`, warehouse tables in the attached warehouse `wh`.
struct DuckNames;

impl sources::Names for DuckNames {
    fn staged(&self, rel: &str, suffix: &str) -> String {
        format!(
            "\"_pipec_stage\".\"main\".{}",
            Dialect::DuckDb.ident(&format!("{rel}{suffix}"))
        )
    }
    fn warehouse(&self, schema: &str, table: &str) -> String {
        format!("\"wh\".{}", Dialect::DuckDb.table(schema, table))
    }
}

/// Table names of the PostgreSQL profile: staged relations in the run's stage schema (the
/// runtime's `stage` variable), warehouse tables as themselves.
struct PgNames;

impl sources::Names for PgNames {
    fn staged(&self, rel: &str, suffix: &str) -> String {
        format!(
            "{}.{}",
            Dialect::Postgres.ident(&Dialect::Postgres.var("stage")),
            Dialect::Postgres.ident(&format!("{rel}{suffix}"))
        )
    }
    fn warehouse(&self, schema: &str, table: &str) -> String {
        Dialect::Postgres.table(schema, table)
    }
}

/// One Airflow task.
struct Task {
    id: String,
    kind: &'static str,
    upstream: Vec<String>,
    /// Whether the task opens the warehouse.
    warehouse: bool,
    ops: Vec<J>,
}

fn source_task(rel: &str) -> String {
    format!("load_{rel}")
}

fn transform_task(rel: &str) -> String {
    format!("transform_{rel}")
}

/// The Python text of `p`'s DAG, or its diagnostics.
fn dag(
    project: &Project,
    p: &Pipeline,
    options: &Options,
    profile: Profile,
) -> Result<String, Vec<Diagnostic>> {
    let (tasks, sensors, timetable) = tasks(project, p, options, profile)?;
    Ok(render(p, profile, tasks, &sensors, &timetable))
}

/// The SQL statements the Airflow DAG of `p` runs in the task of relation `relation` (a source
/// or transform), as `emit` writes them: in `profile`'s dialect with run values as marked
/// variables ([`pipec_sql::MARK`]), which the task fills in. `None` for an unknown name.
pub fn relation_sql(
    project: &Project,
    p: &Pipeline,
    relation: &str,
    options: &Options,
    profile: Profile,
) -> Option<Result<Vec<String>, Vec<Diagnostic>>> {
    let rel = p.relation(relation)?;
    let id = match rel.kind {
        RelationKind::Source(_) => source_task(relation),
        RelationKind::Transform(_) => transform_task(relation),
    };
    Some(tasks(project, p, options, profile).map(|(tasks, ..)| {
        tasks
            .into_iter()
            .filter(|t| t.id == id)
            .flat_map(|t| t.ops)
            .filter_map(|op| op.get("sql").and_then(J::as_str).map(String::from))
            .collect()
    }))
}

/// The tasks of `p`'s DAG with its sensors and timetable, or its diagnostics.
fn tasks(
    project: &Project,
    p: &Pipeline,
    options: &Options,
    profile: Profile,
) -> Result<(Vec<Task>, Vec<J>, J), Vec<Diagnostic>> {
    let dialect = profile.dialect();
    let mut diags =
        pipec_emit::check_functions(p, dialect, &format!("Airflow ({})", profile.name()));
    let ctx = Ctx::vars(dialect);
    let duck = DuckNames;
    let pg = PgNames;
    let names: &dyn sources::Names = match profile {
        Profile::DuckDb => &duck,
        Profile::Postgres => &pg,
    };
    let resolve = |path: &str| options.resolve(&p.file, path);
    let task_of: BTreeMap<&str, String> = p
        .relations
        .iter()
        .map(|r| {
            let id = match r.kind {
                RelationKind::Source(_) => source_task(&r.name),
                RelationKind::Transform(_) => transform_task(&r.name),
            };
            (r.name.as_str(), id)
        })
        .collect();
    let staged = |rel: &str| names.staged(rel, "");
    let mut tasks: Vec<Task> = Vec::new();
    let (sensors, timetable) = match schedule(project, p, &resolve) {
        Ok(s) => s,
        Err(d) => {
            diags.push(d);
            (Vec::new(), J::Null)
        }
    };
    let sensor_ids: Vec<String> = sensors
        .iter()
        .filter_map(|s| s["task_id"].as_str().map(String::from))
        .collect();
    for r in &p.relations {
        match &r.kind {
            RelationKind::Source(src) => {
                let loaded = match profile {
                    Profile::DuckDb => sources::load(p, r, src, names, &resolve),
                    Profile::Postgres => pg_source(p, r, src, &resolve),
                };
                match loaded {
                    Ok(l) => tasks.push(Task {
                        id: source_task(&r.name),
                        kind: "source",
                        upstream: sensor_ids.clone(),
                        warehouse: l.warehouse,
                        ops: l.ops,
                    }),
                    Err(what) => diags.push(pipec_emit::unsupported(
                        r.span,
                        &what,
                        "Airflow",
                        "read the data with a file, table, http or postgres source, or run this pipeline with `pipec run`",
                    )),
                }
            }
            RelationKind::Transform(t) => {
                let none = pipec_check::ir::Schema::default();
                let head_schema = match &t.head {
                    pipec_check::ir::Head::Relation(n) => {
                        p.relation(n).map_or(&none, |h| &h.schema)
                    }
                    pipec_check::ir::Head::Sql { .. } => &none,
                };
                let select = ctx.transform(t, head_schema, &|n: &str| staged(n));
                let mut upstream: Vec<String> = t
                    .inputs()
                    .iter()
                    .filter_map(|i| task_of.get(i).cloned())
                    .collect();
                if upstream.is_empty() {
                    upstream = sensor_ids.clone();
                }
                tasks.push(Task {
                    id: transform_task(&r.name),
                    kind: "transform",
                    upstream,
                    warehouse: false,
                    ops: vec![sources::sql_op(create_table_as(
                        profile,
                        &staged(&r.name),
                        &select,
                    ))],
                });
            }
        }
    }
    for c in &p.checks {
        let table = staged(&c.relation);
        let ops = c
            .rules
            .iter()
            .map(|rule| {
                let q = ctx.check(&rule.rule, &table);
                sources::assert_op(
                    q.sql.clone(),
                    &q.failed_condition(),
                    format!("check on `{}` failed: {}", c.relation, rule.text),
                    None,
                )
            })
            .collect();
        tasks.push(Task {
            id: format!("check_{}", c.relation),
            kind: "check",
            upstream: task_of
                .get(c.relation.as_str())
                .cloned()
                .into_iter()
                .collect(),
            warehouse: false,
            ops,
        });
    }
    // `publish` waits for every task that no other task waits for: all checks, every sink's
    // relation and any relation computed but not written.
    let waited: BTreeSet<&str> = tasks
        .iter()
        .flat_map(|t| t.upstream.iter().map(String::as_str))
        .collect();
    let mut leaves: Vec<String> = tasks
        .iter()
        .filter(|t| !waited.contains(t.id.as_str()))
        .map(|t| t.id.clone())
        .collect();
    if leaves.is_empty() {
        leaves = sensor_ids.clone();
    }
    let publish = publish_ops(p, profile, names, &resolve);
    tasks.push(Task {
        id: "publish".into(),
        kind: "publish",
        upstream: leaves,
        warehouse: true,
        ops: publish,
    });
    for a in &p.alerts {
        if let Alert::Email { .. } = a {
            diags.push(pipec_emit::unsupported(
                p.span,
                "an `email` alert",
                "Airflow",
                "Airflow 3 sends failure alerts here through a Slack webhook only: use `alert slack(secret(\"NAME\"))`",
            ));
        }
    }
    diags.extend(pipec_emit::retention_unsupported(
        p,
        "Airflow",
        "delete old partitions with a task of your own",
    ));
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok((tasks, sensors, timetable))
}

/// `CREATE TABLE ... AS`: replaced in DuckDB, dropped first in PostgreSQL.
fn create_table_as(profile: Profile, table: &str, select: &str) -> String {
    match profile {
        Profile::DuckDb => format!("CREATE OR REPLACE TABLE {table} AS {select}"),
        Profile::Postgres => {
            format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} AS {select}")
        }
    }
}

/// The PostgreSQL profile's sources: `table(...)` and `calendar` in the database; files, HTTP and
/// PostgreSQL sources loaded by DuckDB inside the task (exactly as the DuckDB profile) and
/// copied into the stage schema.
fn pg_source(
    p: &Pipeline,
    rel: &pipec_check::ir::Relation,
    src: &Source,
    resolve: &dyn Fn(&str) -> String,
) -> Result<sources::Load, String> {
    let pg = Dialect::Postgres;
    let staged = PgNames.staged_name(&rel.name);
    let casts = rel
        .schema
        .columns
        .iter()
        .map(|c| {
            let n = pg.ident(&c.name);
            format!("CAST({n} AS {}) AS {n}", pg.type_sql(c.ty))
        })
        .collect::<Vec<_>>()
        .join(", ");
    match src {
        Source::Table { table } => {
            let (schema, name) = table.split_once('.').unwrap_or(("main", table));
            let mut ops = vec![sources::sql_op(create_table_as(
                Profile::Postgres,
                &staged,
                &format!("SELECT {casts} FROM {}", pg.table(schema, name)),
            ))];
            let required: Vec<String> = rel
                .schema
                .columns
                .iter()
                .filter(|c| !c.nullable)
                .map(|c| format!("{} IS NULL", pg.ident(&c.name)))
                .collect();
            if !required.is_empty() {
                ops.push(sources::assert_op(
                    format!(
                        "SELECT count(*) AS n FROM {staged} WHERE {}",
                        required.join(" OR ")
                    ),
                    "n > 0",
                    format!(
                        "table {table}: a column of `{}` declared non-null is null",
                        rel.name
                    ),
                    None,
                ));
            }
            Ok(sources::Load {
                ops,
                warehouse: true,
            })
        }
        Source::Calendar { from, to } => Ok(sources::Load {
            ops: vec![sources::sql_op(create_table_as(
                Profile::Postgres,
                &staged,
                &format!(
                    "SELECT CAST(d AS DATE) AS day FROM generate_series(DATE {}, DATE {}, INTERVAL '1 day') AS g(d)",
                    pg.string(from),
                    pg.string(to)
                ),
            ))],
            warehouse: true,
        }),
        _ => {
            // Loaded by DuckDB into its in-memory stage, then copied.
            let local = sources::load(p, rel, src, &DuckNames, resolve)?;
            let mut ops: Vec<J> = local
                .ops
                .into_iter()
                .map(|mut op| {
                    op["engine"] = json!("duckdb");
                    op
                })
                .collect();
            let defs: Vec<String> = rel
                .schema
                .columns
                .iter()
                .map(|c| format!("{} {}", pg.ident(&c.name), pg.type_sql(c.ty)))
                .collect();
            ops.push(json!({
                "op": "copy_to_warehouse",
                "from": sources::Names::staged(&DuckNames, &rel.name, ""),
                "create": format!("DROP TABLE IF EXISTS {staged}; CREATE TABLE {staged} ({})", defs.join(", ")),
                "to": staged,
            }));
            Ok(sources::Load {
                ops,
                warehouse: true,
            })
        }
    }
}

impl PgNames {
    fn staged_name(&self, rel: &str) -> String {
        sources::Names::staged(self, rel, "")
    }
}

/// The `publish` task: guards, then one transaction writing every table sink (creating missing
/// schemas and tables), source watermarks, then file sinks renamed into place after the commit.
fn publish_ops(
    p: &Pipeline,
    profile: Profile,
    names: &dyn sources::Names,
    resolve: &dyn Fn(&str) -> String,
) -> Vec<J> {
    let d = profile.dialect();
    let ctx = Ctx::vars(d);
    let mut guards = Vec::new();
    let mut writes = Vec::new();
    let mut files = Vec::new();
    for s in &p.sinks {
        let Some(rel) = p.relation(&s.relation) else {
            continue;
        };
        let staged = names.staged(&s.relation, "");
        match &s.target {
            SinkTarget::Table { schema, table } => {
                let plan = SinkPlan::of(s, &rel.schema);
                for (what, q) in plan.guards(&ctx, &staged) {
                    guards.push(sources::assert_op(
                        q.sql.clone(),
                        &q.failed_condition(),
                        format!("cannot publish `{}`: {what}", s.name()),
                        None,
                    ));
                }
                let target = names.warehouse(schema, table);
                let defs: Vec<String> = plan
                    .table_columns()
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {}{}",
                            d.ident(&c.name),
                            d.type_sql(c.ty),
                            if c.nullable { "" } else { " NOT NULL" }
                        )
                    })
                    .collect();
                let schema_name = match profile {
                    Profile::DuckDb => format!("\"wh\".{}", d.ident(schema)),
                    Profile::Postgres => d.ident(schema),
                };
                writes.push(sources::sql_op(format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema_name}"
                )));
                writes.push(sources::sql_op(format!(
                    "CREATE TABLE IF NOT EXISTS {target} ({})",
                    defs.join(", ")
                )));
                for stmt in plan.delete_insert(&ctx, &staged, &target) {
                    writes.push(sources::sql_op(stmt));
                }
            }
            SinkTarget::File { format, path } => {
                let fmt = match format {
                    pipec_check::ir::FileFormat::Parquet => "FORMAT parquet",
                    pipec_check::ir::FileFormat::Csv => "FORMAT csv, HEADER true",
                    pipec_check::ir::FileFormat::Ndjson => "FORMAT json",
                };
                let mut op = json!({
                    "op": "file_sink",
                    "path": sources::marked(&sources::pieces(&resolve(path))),
                    "select": format!("SELECT * FROM {staged}"),
                    "format": fmt,
                });
                if profile == Profile::Postgres {
                    // The rows are exported from PostgreSQL as CSV and written by DuckDB, as
                    // read with the relation's declared types.
                    let cols: Vec<String> = rel
                        .schema
                        .columns
                        .iter()
                        .map(|c| {
                            format!(
                                "{}: {}",
                                Dialect::DuckDb.string(&c.name),
                                Dialect::DuckDb.string(&Dialect::DuckDb.type_sql(c.ty))
                            )
                        })
                        .collect();
                    op["export"] = json!(format!(
                        "header = false, auto_detect = false, delim = ',', quote = '\"', escape = '\"', nullstr = '', allow_quoted_nulls = false, columns = {{{}}}",
                        cols.join(", ")
                    ));
                }
                files.push(op);
            }
        }
    }
    for r in &p.relations {
        if let RelationKind::Source(Source::Postgres {
            incremental: Some(col),
            ..
        }) = &r.kind
        {
            writes.push(json!({
                "op": "watermark",
                "key": format!("source:{}", r.name),
                "sql": format!(
                    "SELECT CAST(max({0}) AS {1}) FROM {2} HAVING max({0}) IS NOT NULL",
                    d.ident(col),
                    d.type_sql(pipec_check::ir::Type::String),
                    names.staged(&r.name, "")
                ),
            }));
        }
    }
    let mut ops = guards;
    ops.extend(files);
    ops.push(json!({"op": "begin"}));
    ops.extend(writes);
    ops.push(json!({"op": "commit"}));
    ops
}

/// The DAG's schedule: sensors that run before the sources, and the timetable.
fn schedule(
    project: &Project,
    p: &Pipeline,
    resolve: &dyn Fn(&str) -> String,
) -> Result<(Vec<J>, J), Diagnostic> {
    let mut sensors = Vec::new();
    let timetable = match &p.schedule {
        Schedule::Manual => J::Null,
        Schedule::Continuous => {
            return Err(pipec_emit::unsupported(
                p.span,
                "a `continuous` schedule",
                "Airflow",
                "Airflow runs batch intervals: give the pipeline a `daily`, `hourly`, `every` or `cron` schedule",
            ))
        }
        _ => timetable(p)?,
    };
    match &p.schedule {
        Schedule::Daily { hour, minute, .. } if hour * 60 + minute > 0 => {
            sensors.push(json!({"task_id": "wait_until_fire_time", "kind": "delay", "seconds": (hour * 3600 + minute * 60)}));
        }
        Schedule::Hourly { minute, .. } if *minute > 0 => {
            sensors.push(
                json!({"task_id": "wait_until_fire_time", "kind": "delay", "seconds": minute * 60}),
            );
        }
        Schedule::After { pipelines } => {
            for up in pipelines {
                if project.pipelines.iter().any(|q| &q.name == up) {
                    sensors.push(
                        json!({"task_id": format!("after_{up}"), "kind": "after", "dag_id": up}),
                    );
                }
            }
        }
        Schedule::OnFile { path } => {
            sensors.push(json!({"task_id": "wait_for_file", "kind": "file", "path": sources::marked(&sources::pieces(&resolve(path)))}));
        }
        _ => {}
    }
    Ok((sensors, timetable))
}

/// The data-interval timetable of `p`'s interval rule: `{"cron": expr, "tz": zone}` or
/// `{"minutes": n, "tz": "UTC"}`.
fn timetable(p: &Pipeline) -> Result<J, Diagnostic> {
    Ok(match &p.interval {
        IntervalRule::Cron { expr, tz } => json!({"cron": expr, "tz": tz}),
        IntervalRule::Slots { minutes, tz } => {
            let m = *minutes;
            // A cron timetable fires at local clock times; pipec's slots count elapsed time
            // from local midnight. They agree on every day for a day, an hour or a divisor of
            // an hour, and for whole hours only on days of 24 hours.
            let cron = if m == 1440 {
                Some("0 0 * * *".to_string())
            } else if m == 60 {
                Some("0 * * * *".to_string())
            } else if m < 60 && 60 % m == 0 {
                Some(format!("*/{m} * * * *"))
            } else if m % 60 == 0 && 1440 % m == 0 && !has_short_or_long_days(&p.interval) {
                Some(format!("0 */{} * * *", m / 60))
            } else {
                None
            };
            match cron {
                Some(c) => json!({"cron": c, "tz": tz}),
                // Fixed steps from a local midnight stay aligned where every day has 24 hours.
                None if tz == "UTC" || !has_short_or_long_days(&p.interval) => {
                    json!({"minutes": m, "tz": tz})
                }
                None => {
                    return Err(Diagnostic::error(
                        codes::AIRFLOW_SCHEDULE,
                        p.span,
                        format!("`every {m}m` in \"{tz}\" has no Airflow data-interval timetable"),
                        "this schedule",
                    )
                    .with_help(format!("\"{tz}\" has days of 23 or 25 hours, on which Airflow's timetables cut a day differently from pipec: use a period that divides an hour, a `cron` schedule, or the \"UTC\" zone")));
                }
            }
        }
    })
}

/// Whether the rule's zone has days that are not 24 hours long (daylight saving), in
/// 2020–2039.
fn has_short_or_long_days(rule: &IntervalRule) -> bool {
    let Some(r) = pipec_check::schedule::Rule::new(rule) else {
        return true;
    };
    let Some(mut d) = chrono::NaiveDate::from_ymd_opt(2020, 1, 1) else {
        return true;
    };
    let mut start = r.day_start(d);
    while d.year() < 2040 {
        let next = d + chrono::Duration::days(1);
        let next_start = r.day_start(next);
        if next_start - start != chrono::Duration::hours(24) {
            return true;
        }
        (d, start) = (next, next_start);
    }
    false
}

/// The DAG file.
fn render(
    p: &Pipeline,
    profile: Profile,
    tasks: Vec<Task>,
    sensors: &[J],
    timetable: &J,
) -> String {
    let rule_tz = match &p.interval {
        IntervalRule::Slots { tz, .. } | IntervalRule::Cron { tz, .. } => tz.clone(),
    };
    let alerts: Vec<J> = p
        .alerts
        .iter()
        .filter_map(|a| match a {
            Alert::Slack { url } => Some(json!({"kind": "slack", "url": sources::secret_ref(url)})),
            Alert::Email { .. } => None,
        })
        .collect();
    let task_lines: Vec<String> = tasks
        .iter()
        .map(|t| {
            format!(
                "t[{0}] = rt.PipecTask(task_id={0}, pipeline=PIPELINE)",
                py_str(&t.id)
            )
        })
        .collect();
    let edge_lines: Vec<String> = tasks
        .iter()
        .filter(|t| !t.upstream.is_empty())
        .map(|t| {
            let mut line = String::from("[");
            for (i, u) in t.upstream.iter().enumerate() {
                line.push_str(if i == 0 { "t[" } else { ", t[" });
                pylit::push_str_lit(&mut line, u);
                line.push(']');
            }
            line.push_str("] >> t[");
            pylit::push_str_lit(&mut line, &t.id);
            line.push(']');
            line
        })
        .collect();
    // Built from the tasks' own values (`json!` would copy every operation).
    let task_specs: serde_json::Map<String, J> = tasks
        .into_iter()
        .map(|t| {
            let mut spec = serde_json::Map::new();
            spec.insert("kind".into(), J::from(t.kind));
            spec.insert("warehouse".into(), J::Bool(t.warehouse));
            spec.insert("ops".into(), J::Array(t.ops));
            (t.id, J::Object(spec))
        })
        .collect();
    let mut spec = serde_json::Map::new();
    spec.insert("name".into(), J::from(p.name.as_str()));
    spec.insert("profile".into(), J::from(profile.name()));
    spec.insert("tz".into(), J::String(rule_tz));
    spec.insert(
        "manual".into(),
        J::Bool(matches!(p.schedule, Schedule::Manual)),
    );
    spec.insert("alerts".into(), J::Array(alerts));
    spec.insert("tasks".into(), J::Object(task_specs));
    let spec = J::Object(spec);
    let schedule_py = match timetable {
        J::Null => "None".to_string(),
        t if t.get("cron").is_some() => format!(
            "CronDataIntervalTimetable({}, timezone={})",
            py(&t["cron"]),
            py(&t["tz"])
        ),
        t => format!(
            "DeltaDataIntervalTimetable(timedelta(minutes={}))",
            t["minutes"]
        ),
    };
    let zone = match timetable.get("tz") {
        Some(J::String(z)) => z.clone(),
        _ => "UTC".into(),
    };
    let date = |d: &str| -> String {
        let parts: Vec<u32> = d
            .get(0..10)
            .unwrap_or("")
            .split('-')
            .filter_map(|x| x.parse().ok())
            .collect();
        match parts.as_slice() {
            [y, m, dd] => format!("pendulum.datetime({y}, {m}, {dd}, tz={})", py_str(&zone)),
            _ => "None".into(),
        }
    };
    let start = p
        .start
        .as_deref()
        .map(date)
        .unwrap_or_else(|| format!("pendulum.datetime(2024, 1, 1, tz={})", py_str(&zone)));
    let end = p.end.as_deref().map(date).unwrap_or_else(|| "None".into());
    let mut default_args = vec![
        format!(
            "\"owner\": {}",
            py_str(p.owner.as_deref().unwrap_or("airflow"))
        ),
        format!("\"retries\": {}", p.retries),
        format!(
            "\"retry_delay\": timedelta(seconds={})",
            p.retry_backoff_seconds
        ),
        format!(
            "\"retry_exponential_backoff\": {}",
            if p.retries > 0 { "2.0" } else { "0" }
        ),
    ];
    if let Some(t) = p.timeout_seconds {
        default_args.push(format!("\"execution_timeout\": timedelta(seconds={t})"));
    }
    if !alerts_empty(p) {
        default_args.push("\"on_failure_callback\": rt.on_failure(PIPELINE)".into());
    }
    let sensor_lines: Vec<String> = sensors
        .iter()
        .map(|s| {
            let id = py(&s["task_id"]);
            match s["kind"].as_str() {
                Some("delay") => format!(
                    "t[{id}] = TimeDeltaSensor(task_id={id}, delta=timedelta(seconds={}), mode=\"reschedule\", poke_interval=60)",
                    s["seconds"]
                ),
                Some("after") => format!(
                    "t[{id}] = ExternalTaskSensor(task_id={id}, external_dag_id={}, external_task_id=\"publish\", allowed_states=[\"success\"], failed_states=[\"failed\", \"upstream_failed\"], mode=\"reschedule\", poke_interval=60)",
                    py(&s["dag_id"])
                ),
                _ => format!(
                    "t[{id}] = rt.FileArrived(task_id={id}, pipeline=PIPELINE, path={}, mode=\"reschedule\", poke_interval=60)",
                    py(&s["path"])
                ),
            }
        })
        .collect();
    let needs_delta = sensors.iter().any(|s| s["kind"] == "delay");
    let needs_after = sensors.iter().any(|s| s["kind"] == "after");
    let env = template_env();
    let tmpl = env.get_template("dag").expect("the DAG template parses");
    tmpl.render(minijinja::context! {
        header => pipec_emit::header("#", &p.file),
        spec => py(&spec),
        dag_id => py_str(&p.name),
        schedule => schedule_py,
        cron => timetable.get("cron").is_some(),
        delta => timetable.get("minutes").is_some(),
        needs_delta => needs_delta,
        needs_after => needs_after,
        start_date => start,
        end_date => end,
        catchup => if p.catchup { "True" } else { "False" },
        dagrun_timeout => p.timeout_seconds.map(|t| format!("timedelta(seconds={t})")).unwrap_or_else(|| "None".into()),
        default_args => default_args,
        tags => format!("[{}]", p.tags.iter().map(|t| py_str(t)).collect::<Vec<_>>().join(", ")),
        doc_md => p.description.as_deref().map(py_str).unwrap_or_else(|| "None".into()),
        sensors => sensor_lines,
        tasks => task_lines,
        edges => edge_lines,
    })
    .expect("the DAG template renders")
}

fn alerts_empty(p: &Pipeline) -> bool {
    !p.alerts.iter().any(|a| matches!(a, Alert::Slack { .. }))
}

/// The DAG template, parsed once per process.
fn template_env() -> &'static minijinja::Environment<'static> {
    static ENV: std::sync::OnceLock<minijinja::Environment<'static>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_keep_trailing_newline(true);
        env.add_template("dag", DAG_TEMPLATE)
            .expect("the DAG template parses");
        env
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipec_check::Loader;
    use pipec_diag::SourceMap;

    struct NoFiles;

    impl Loader for NoFiles {
        fn load(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn emit_text(text: &str, profile: Profile) -> Result<Output, Vec<Diagnostic>> {
        let mut sources = SourceMap::new();
        let id = sources.add("p.pipe".to_string(), text.to_string());
        let checked = pipec_check::check(&mut sources, &[id], &NoFiles);
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let plan = pipec_plan::plan(&checked.project).expect("plans");
        let mut options = Options::default();
        options.roots.insert("p.pipe".into(), "/data".into());
        emit(&checked.project, &plan, &options, profile)
    }

    fn dag_of(text: &str) -> String {
        let out = emit_text(text, Profile::DuckDb).expect("emits");
        out.files
            .into_iter()
            .find(|f| f.path == "p.py")
            .expect("the DAG is written")
            .contents
    }

    const BODY: &str = "source s = csv(\"in/{ds}.csv\") { id: int, v: string }\nsink s -> mart.t\n";

    #[test]
    fn retention_is_refused_for_each_sink_and_source() {
        let errs = emit_text(
            "pipeline p { schedule daily }\nsource s = csv(\"in/{ds}.csv\") { id: int }\n  archive after 30d\ntransform t = s | derive ds = @ds\nsink t -> mart.t { partition by ds  expire after 90d }\n",
            Profile::DuckDb,
        )
        .expect_err("refused");
        let msgs: Vec<String> = errs
            .iter()
            .map(|d| format!("{} {}", d.code.id, d.message))
            .collect();
        assert_eq!(
            msgs,
            [
                "E0601 retention on sink `mart.t` is not supported on the Airflow target",
                "E0601 retention on source `s` is not supported on the Airflow target",
            ],
            "{msgs:?}"
        );
    }

    #[test]
    fn schedules_become_data_interval_timetables_in_their_zone() {
        let cases = [
            (
                "daily",
                "CronDataIntervalTimetable(\"0 0 * * *\", timezone=\"UTC\")",
            ),
            (
                "daily at 03:00 \"Asia/Seoul\"",
                "CronDataIntervalTimetable(\"0 0 * * *\", timezone=\"Asia/Seoul\")",
            ),
            (
                "hourly",
                "CronDataIntervalTimetable(\"0 * * * *\", timezone=\"UTC\")",
            ),
            (
                "every 15m \"Europe/Berlin\"",
                "CronDataIntervalTimetable(\"*/15 * * * *\", timezone=\"Europe/Berlin\")",
            ),
            (
                "every 90m",
                "DeltaDataIntervalTimetable(timedelta(minutes=90))",
            ),
            (
                "cron \"0 3 * * 1-5\" \"Asia/Seoul\"",
                "CronDataIntervalTimetable(\"0 3 * * 1-5\", timezone=\"Asia/Seoul\")",
            ),
        ];
        for (schedule, want) in cases {
            let dag = dag_of(&format!(
                "pipeline p {{ schedule {schedule}\n start 2024-01-01 }}\n{BODY}"
            ));
            assert!(
                dag.contains(&format!("schedule={want},")),
                "{schedule}:\n{dag}"
            );
        }
        let manual = dag_of(&format!("pipeline p {{ start 2024-01-01 }}\n{BODY}"));
        assert!(manual.contains("schedule=None,"));
    }

    #[test]
    fn whole_hour_periods_are_cron_only_where_days_have_24_hours() {
        let seoul = dag_of(&format!(
            "pipeline p {{ schedule every 120m \"Asia/Seoul\" }}\n{BODY}"
        ));
        assert!(seoul.contains(
            "schedule=CronDataIntervalTimetable(\"0 */2 * * *\", timezone=\"Asia/Seoul\"),"
        ));
        let errs = emit_text(
            &format!("pipeline p {{ schedule every 120m \"Europe/Berlin\" }}\n{BODY}"),
            Profile::DuckDb,
        )
        .unwrap_err();
        assert_eq!(errs[0].code.id, "E0640");
        let utc = dag_of(&format!("pipeline p {{ schedule every 120m }}\n{BODY}"));
        assert!(utc.contains("CronDataIntervalTimetable(\"0 */2 * * *\", timezone=\"UTC\")"));
    }

    #[test]
    fn a_period_without_a_timetable_in_a_dst_zone_is_e0640() {
        let errs = emit_text(
            &format!("pipeline p {{ schedule every 90m \"Europe/Berlin\" }}\n{BODY}"),
            Profile::DuckDb,
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].code.id, "E0640");
    }

    #[test]
    fn fire_time_offsets_and_settings_reach_the_dag() {
        let dag = dag_of(&format!(
            "pipeline p {{\n schedule daily at 01:30\n start 2024-01-01\n end 2024-02-01\n catchup true\n retries 2 backoff 10m\n timeout 30m\n owner \"o\"\n tags [\"a\", \"b\"]\n alert slack(secret(\"HOOK\"))\n description \"d\"\n}}\n{BODY}"
        ));
        for want in [
            "TimeDeltaSensor(task_id=\"wait_until_fire_time\", delta=timedelta(seconds=5400)",
            "start_date=pendulum.datetime(2024, 1, 1, tz=\"UTC\"),",
            "end_date=pendulum.datetime(2024, 2, 1, tz=\"UTC\"),",
            "catchup=True,",
            "\"retries\": 2,",
            "\"retry_delay\": timedelta(seconds=600),",
            "\"retry_exponential_backoff\": 2.0,",
            "\"execution_timeout\": timedelta(seconds=1800),",
            "dagrun_timeout=timedelta(seconds=1800),",
            "\"owner\": \"o\",",
            "tags=[\"a\", \"b\"],",
            "doc_md=\"d\",",
            "\"on_failure_callback\": rt.on_failure(PIPELINE),",
            "\"secret\": \"HOOK\"",
            "[t[\"wait_until_fire_time\"]] >> t[\"load_s\"]",
            "[t[\"load_s\"]] >> t[\"publish\"]",
        ] {
            assert!(dag.contains(want), "missing {want}:\n{dag}");
        }
    }

    #[test]
    fn streams_and_email_alerts_are_e0601_all_at_once() {
        let errs = emit_text(
            "pipeline p { schedule daily\n alert email(\"a@b.c\") }\nsource s = kafka(\"t\", brokers = \"b:9092\") { id: int }\nsink s -> mart.t\n",
            Profile::DuckDb,
        )
        .unwrap_err();
        let codes: Vec<&str> = errs.iter().map(|d| d.code.id).collect();
        assert_eq!(codes, vec!["E0601", "E0601"], "{errs:?}");
    }

    #[test]
    fn manifest_runs_the_interval_ending_at_end_with_the_warehouse_variable() {
        let out = emit_text(
            &format!("pipeline p {{ schedule daily }}\n{BODY}"),
            Profile::DuckDb,
        )
        .unwrap();
        let p = &out.manifest.pipelines[0];
        assert_eq!(
            p.run,
            "AIRFLOW__CORE__DAGS_FOLDER=\"$PWD\" airflow dags test p \"{end}+00:00\" -f \"$PWD\"/p.py"
        );
        assert_eq!(p.env["AIRFLOW_VAR_PIPEC_WAREHOUSE"], "{warehouse}");
        assert_eq!(p.files, vec!["p.py", RUNTIME_FILE]);
        assert_eq!(p.sinks, vec!["mart.t"]);
        assert_eq!(out.manifest.profile.as_deref(), Some("duckdb"));
    }

    #[test]
    fn user_text_is_only_in_python_literals_and_never_templated() {
        let dag = dag_of(
            "pipeline p { schedule daily\n description \"{{ ds }} ${ds} %s \\\"q\\\" '; drop table x; --\" }\nsource s = csv(\"in/{{x}}/{ds}.csv\") { id: int, v: string }\ntransform u = s | derive w = \"{{ ds }} ${ds} %(x)s 한국\"\nsink u -> mart.t\n",
        );
        // The description is one Python string literal.
        assert!(
            dag.contains("doc_md=\"{{ ds }} ${ds} %s \\\"q\\\" '; drop table x; --\","),
            "{dag}"
        );
        // The literal is SQL text inside a Python literal; the path's `{{x}}` is a literal `{x}`.
        assert!(dag.contains("'{{ ds }} ${ds} %(x)s 한국'"), "{dag}");
        assert!(dag.contains("/data/in/{x}/\\u0001ds\\u0001.csv"), "{dag}");
        let runtime = include_str!("../templates/pipec_runtime.py");
        assert_eq!(runtime.matches("template_fields = ()").count(), 2);
    }

    #[test]
    fn publish_is_one_transaction_after_guards() {
        let out = emit_text(
            "pipeline p { schedule daily }\nsource s = csv(\"in/{ds}.csv\") { id: int, ds: date }\nsink s -> mart.t { mode merge on (id)\n partition by ds }\ncheck s { unique(id) }\n",
            Profile::DuckDb,
        )
        .unwrap();
        let dag = &out
            .files
            .iter()
            .find(|f| f.path == "p.py")
            .unwrap()
            .contents;
        let at = |s: &str| dag.find(s).unwrap_or_else(|| panic!("no {s} in {dag}"));
        assert!(at("every row of `s` is in the run's partition") < at("\"op\": \"begin\""));
        assert!(at("merge keys (id) of `s` are unique") < at("\"op\": \"begin\""));
        assert!(at("\"op\": \"begin\"") < at("DELETE FROM \\\"wh\\\".\\\"mart\\\".\\\"t\\\""));
        assert!(at("INSERT INTO \\\"wh\\\".\\\"mart\\\".\\\"t\\\"") < at("\"op\": \"commit\""));
        assert!(dag.contains("[t[\"check_s\"]] >> t[\"publish\"]"));
    }
}
