//! The Spark SQL target of `pipec emit`: one job per pipeline, `<pipeline>.sql`, run with
//! `spark-sql -f` and the interval's variables (`--hivevar ds=... start=... end=...
//! warehouse=...`) on Spark 4. A job reads its sources into cached views with the declared
//! schema, computes each transform once (`CACHE TABLE`), runs every check and publish guard
//! (a failure stops the job before anything is written), stages each table's new contents as
//! Parquet, then overwrites the tables (a partition, or the whole table) and writes file sinks.
//! Tables are Parquet folders `<warehouse>/<schema>/<table>/` declared afresh by every job in
//! Spark's in-memory catalog, so the warehouse is the folder alone. docs/targets.md describes
//! the mapping and what was verified.

mod names;
mod sources;

use std::collections::BTreeMap;

use pipec_check::ir::{Pipeline, Project, RelationKind, Schema, SinkMode, SinkTarget};
use pipec_diag::Diagnostic;
use pipec_emit::{File, Manifest, Options, Output, PipelineEntry};
use pipec_plan::Plan;
use pipec_sql::checks::CheckQuery;
use pipec_sql::sinks::{Replaces, SinkPlan};
use pipec_sql::{Ctx, Dialect, Piece};

use names::Names;

/// The target's name in diagnostics.
const TARGET: &str = "Spark SQL";
/// The dialect of every statement.
const D: Dialect = Dialect::Spark;
/// The job template.
const JOB: &str = include_str!("../templates/job.sql");
/// Run variables other than `ds`, `start`, `end` and `warehouse`, computed by the run command
/// when a job uses them.
const DERIVED: &[&str] = &["ds_nodash", "yyyy", "mm", "dd", "hh"];

/// The job template, parsed once per process.
fn job_env() -> &'static minijinja::Environment<'static> {
    static ENV: std::sync::OnceLock<minijinja::Environment<'static>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_keep_trailing_newline(true);
        env.add_template("job.sql", JOB)
            .expect("job template parses");
        env
    })
}

/// Emits one Spark SQL job per pipeline of `project` and the manifest that runs them. Every
/// problem of every pipeline is reported at once.
pub fn emit(project: &Project, plan: &Plan, options: &Options) -> Result<Output, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut files = Vec::new();
    let mut pipelines = Vec::new();
    let order = pipec_emit::pipeline_order(project, plan);
    let jobs = pipec_emit::par_map(&order, |p| {
        (
            pipec_emit::check_functions(p, D, TARGET),
            job(p, project, options),
        )
    });
    for (unsupported, job) in jobs {
        diags.extend(unsupported);
        match job {
            Ok((file, entry)) => {
                files.push(file);
                pipelines.push(entry);
            }
            Err(d) => diags.extend(d),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(Output {
        files,
        manifest: Manifest {
            version: 1,
            target: "spark".into(),
            profile: None,
            pipelines,
        },
    })
}

/// A titled group of statements in a job.
#[derive(Debug)]
struct Section {
    title: String,
    statements: Vec<String>,
}

/// The job of one pipeline and its manifest entry.
fn job(
    p: &Pipeline,
    project: &Project,
    options: &Options,
) -> Result<(File, PipelineEntry), Vec<Diagnostic>> {
    let mut diags = names::problems(p);
    diags.extend(pipec_emit::retention_unsupported(
        p,
        TARGET,
        "delete old partitions with your table format's own maintenance, e.g. a Delta or Iceberg `DELETE`",
    ));
    let names = Names::of(p);
    let ctx = Ctx::vars(D);
    let mut sections = Vec::new();
    for i in 0..p.relations.len() {
        match relation_section(p, i, project, options, &names, &ctx) {
            Ok(section) => sections.push(section),
            Err(d) => diags.extend(d),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    if let Some(s) = checks(p, &names, &ctx) {
        sections.push(s);
    }
    sections.extend(sinks(p, &names, &ctx, options));

    let file = format!("{}.sql", p.name);
    let header = pipec_emit::header("--", &names::comment(&p.file));
    // The statements, section by section, written here rather than by a template loop: a
    // large project has hundreds of thousands of them.
    let mut body = String::with_capacity(
        sections
            .iter()
            .flat_map(|s| s.statements.iter().map(|st| st.len() + 2))
            .sum::<usize>()
            + 256 * sections.len(),
    );
    for s in &sections {
        body.push_str("\n-- ");
        body.push_str(&s.title);
        body.push('\n');
        for st in &s.statements {
            body.push_str(st);
            body.push_str(";\n");
        }
    }
    let render = |extra: &[&str]| {
        job_env()
            .get_template("job.sql")
            .expect("job template is registered")
            .render(minijinja::context! {
                header => header,
                pipeline => names::comment(&p.name),
                file => file,
                extra_vars => extra,
                body => body,
            })
            .expect("job template renders")
    };
    let draft = render(&[]);
    let extra: Vec<&str> = DERIVED
        .iter()
        .copied()
        .filter(|v| draft.contains(&D.var(v)))
        .collect();
    let contents = if extra.is_empty() {
        draft
    } else {
        render(&extra)
    };
    let sinks = p
        .sinks
        .iter()
        .filter_map(|s| match &s.target {
            SinkTarget::Table { schema, table } => Some(format!("{schema}.{table}")),
            SinkTarget::File { .. } => None,
        })
        .collect();
    let entry = PipelineEntry {
        name: p.name.clone(),
        file: p.file.clone(),
        files: vec![file.clone()],
        sinks,
        run: run_command(p, &file, &extra),
        env: env(),
        uploads: Vec::new(),
        notes: Vec::new(),
    };
    Ok((
        File {
            path: file,
            contents,
        },
        entry,
    ))
}

/// The job's section for relation `i` of `p`: a source read into its view, or a transform
/// computed once.
fn relation_section(
    p: &Pipeline,
    i: usize,
    project: &Project,
    options: &Options,
    names: &Names,
    ctx: &Ctx,
) -> Result<Section, Vec<Diagnostic>> {
    let rel = &p.relations[i];
    match &rel.kind {
        RelationKind::Source(s) => sources::source(p, i, rel, s, project, options, names),
        RelationKind::Transform(t) => {
            let none = Schema::default();
            let head_schema = match &t.head {
                pipec_check::ir::Head::Relation(n) => p.relation(n).map_or(&none, |r| &r.schema),
                pipec_check::ir::Head::Sql { .. } => &none,
            };
            let tables = |n: &str| names.view(n);
            let select = ctx.transform(t, head_schema, &tables);
            let select = format!(
                "SELECT {} FROM ({select}) AS t",
                D.cast_columns(&rel.schema)
            );
            let view = names.view(&rel.name);
            // Computed once either way: cached when read more than once, else a view that
            // its one reader computes.
            let statement = if uses(p, &rel.name) > 1 {
                format!("CACHE TABLE {view} AS {select}")
            } else {
                format!("CREATE OR REPLACE TEMPORARY VIEW {view} AS {select}")
            };
            Ok(Section {
                title: format!("transform {}", names::comment(&rel.name)),
                statements: vec![statement],
            })
        }
    }
}

/// The statements the Spark job of `p` runs for relation `relation` (a source or transform), as
/// `emit` writes them (run values as `${ds}`-style variables); `None` for an unknown name.
pub fn relation_sql(
    project: &Project,
    p: &Pipeline,
    relation: &str,
    options: &Options,
) -> Option<Result<Vec<String>, Vec<Diagnostic>>> {
    let i = p.relations.iter().position(|r| r.name == relation)?;
    let names = Names::of(p);
    Some(
        relation_section(p, i, project, options, &names, &Ctx::vars(D))
            .map(|section| section.statements),
    )
}

/// How many times the SQL of a job reads relation `name`: once per transform head, join and
/// union naming it, and more than once when it is checked or written by a sink.
fn uses(p: &Pipeline, name: &str) -> usize {
    let mut n = 0;
    for r in &p.relations {
        if let RelationKind::Transform(t) = &r.kind {
            match &t.head {
                pipec_check::ir::Head::Relation(h) if h == name => n += 1,
                pipec_check::ir::Head::Sql { refs, .. } => {
                    n += 2 * refs.iter().filter(|x| *x == name).count()
                }
                _ => {}
            }
            for s in &t.steps {
                match &s.kind {
                    pipec_check::ir::StepKind::Join { right, .. }
                    | pipec_check::ir::StepKind::Union(right)
                        if right == name =>
                    {
                        n += 1
                    }
                    _ => {}
                }
            }
        }
    }
    if p.checks.iter().any(|c| c.relation == name) || p.sinks.iter().any(|s| s.relation == name) {
        n += 2;
    }
    n
}

/// The environment of the run command: the placeholders the caller fills in.
fn env() -> BTreeMap<String, String> {
    [
        ("PIPEC_DS", "{ds}"),
        ("PIPEC_START", "{start}"),
        ("PIPEC_END", "{end}"),
        ("PIPEC_WAREHOUSE", "{warehouse}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The POSIX shell command running one interval of a job: `spark-sql` with the in-memory
/// catalog (tables are declared by the job over their folders) and the run's variables, taken
/// from the environment ([`env`]) so that no value needs quoting. Variables other than
/// `ds`/`start`/`end`/`warehouse` that the job uses are computed here. `PIPEC_SPARK_OPTS`, when
/// set, adds `spark-sql` options (split at spaces), e.g. `--master local[2]`.
fn run_command(p: &Pipeline, file: &str, extra: &[&str]) -> String {
    let mut cmd = String::from(
        "case \"$PIPEC_WAREHOUSE\" in ''|*\\'*|*\\\\*|*'${'*) echo 'pipec: PIPEC_WAREHOUSE must be an absolute folder path without quotes, backslashes or ${' >&2; exit 2;; esac; ",
    );
    cmd.push_str(
        "spark-sql ${PIPEC_SPARK_OPTS:-} --conf spark.sql.catalogImplementation=in-memory \
         --conf spark.sql.hive.manageFilesourcePartitions=false --conf spark.ui.enabled=false \
         --conf \"spark.sql.warehouse.dir=$PIPEC_WAREHOUSE\" --hivevar \"ds=$PIPEC_DS\" \
         --hivevar \"start=$PIPEC_START\" --hivevar \"end=$PIPEC_END\" \
         --hivevar \"warehouse=$PIPEC_WAREHOUSE\"",
    );
    for v in extra {
        let value = match *v {
            "ds_nodash" => "$(printf '%s' \"$PIPEC_DS\" | tr -d -)".to_string(),
            "yyyy" => "${PIPEC_DS%%-*}".to_string(),
            "mm" => "$(expr \"$PIPEC_DS\" : '[0-9]*-\\([0-9]*\\)')".to_string(),
            "dd" => "${PIPEC_DS##*-}".to_string(),
            _ => hour_command(p),
        };
        cmd.push_str(&format!(" --hivevar \"{v}={value}\""));
    }
    cmd.push_str(&format!(" -f {}", shell_word(file)));
    cmd
}

/// The shell expression of `{hh}`, the local hour of the interval's start in the schedule's
/// zone: cut from `start` in UTC, else converted by GNU `date`.
fn hour_command(p: &Pipeline) -> String {
    let tz = match &p.interval {
        pipec_check::ir::IntervalRule::Slots { tz, .. }
        | pipec_check::ir::IntervalRule::Cron { tz, .. } => tz.as_str(),
    };
    if matches!(tz, "UTC" | "Etc/UTC") {
        "$(expr \"$PIPEC_START\" : '[^ ]* \\([0-9]*\\)')".to_string()
    } else {
        format!("$(TZ={} date -d \"$PIPEC_START UTC\" +%H)", shell_word(tz))
    }
}

/// A word quoted for the POSIX shell when it holds anything but safe characters.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Every check rule and publish guard as one table of outcomes, printed, then a statement
/// that fails the job naming every failed rule.
fn checks(p: &Pipeline, names: &Names, ctx: &Ctx) -> Option<Section> {
    let mut rows: Vec<(String, String, CheckQuery)> = Vec::new();
    for c in &p.checks {
        let table = names.view(&c.relation);
        for r in &c.rules {
            rows.push((
                c.relation.clone(),
                r.text.clone(),
                ctx.check(&r.rule, &table),
            ));
        }
    }
    for s in &p.sinks {
        let Some(rel) = p.relation(&s.relation) else {
            continue;
        };
        let plan = SinkPlan::of(s, &rel.schema);
        for (what, q) in plan.guards(ctx, &names.view(&s.relation)) {
            rows.push((s.relation.clone(), what, q));
        }
    }
    if rows.is_empty() {
        return None;
    }
    let union: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, (rel, rule, q))| {
            format!(
                "SELECT {i} AS seq, {} AS relation, {} AS rule, CAST(n AS BIGINT) AS n, ({}) AS failed FROM ({}) AS c",
                D.string(rel),
                D.string(rule),
                q.failed_condition(),
                q.sql
            )
        })
        .collect();
    Some(Section {
        title: "checks: every rule runs; a failed one stops the job before anything is written"
            .into(),
        statements: vec![
            format!("CACHE TABLE `_pipec_checks` AS\n{}", union.join("\nUNION ALL\n")),
            "SELECT CASE WHEN count(*) > 0 THEN raise_error(concat('pipec: ', count(*), ' check(s) failed, nothing was written: ', array_join(transform(array_sort(collect_list(named_struct('s', seq, 'm', concat('check on `', relation, '`: ', rule, ' (n = ', n, ')')))), x -> x.m), '; '))) END AS failed_checks FROM `_pipec_checks` WHERE failed".into(),
        ],
    })
}

/// The warehouse folder of table `schema.table`, as string-literal pieces.
fn table_location(schema: &str, table: &str) -> Vec<Piece> {
    vec![
        Piece::Var("warehouse".into()),
        Piece::Text(format!("/{schema}/{table}")),
    ]
}

/// The staging folder of the `i`th table sink of pipeline `p`.
fn stage_location(p: &Pipeline, i: usize) -> Vec<Piece> {
    vec![
        Piece::Var("warehouse".into()),
        Piece::Text(format!("/_pipec_stage/{}/{i}", names::folder(&p.name))),
    ]
}

/// Whether a source of `p` reads a table or file that a sink of `p` writes.
fn reads_own_output(p: &Pipeline, options: &Options) -> bool {
    p.relations.iter().any(|r| match &r.kind {
        RelationKind::Source(pipec_check::ir::Source::Table { table: t }) => {
            let (s, n) = t.split_once('.').unwrap_or(("main", t));
            p.sinks.iter().any(|k| match &k.target {
                SinkTarget::Table { schema, table } => {
                    pipec_check::ir::same_name(s, schema) && pipec_check::ir::same_name(n, table)
                }
                SinkTarget::File { .. } => false,
            })
        }
        RelationKind::Source(pipec_check::ir::Source::File { path, .. }) => {
            let read = options.resolve(&p.file, path);
            p.sinks.iter().any(|k| match &k.target {
                SinkTarget::File { path, .. } => options.resolve(&p.file, path) == read,
                SinkTarget::Table { .. } => false,
            })
        }
        _ => false,
    })
}

/// Sink tables (declared over their folders), staged contents, publishing, file sinks.
fn sinks(p: &Pipeline, names: &Names, ctx: &Ctx, options: &Options) -> Vec<Section> {
    // Writing a table or file makes Spark recompute the cached relations that read it: when
    // the pipeline reads what it writes, every sink is staged before the first write.
    let self_reading = reads_own_output(p, options);
    let mut declare = Vec::new();
    let mut stage = Vec::new();
    let mut publish = Vec::new();
    let mut files = Vec::new();
    for (i, s) in p.sinks.iter().enumerate() {
        let Some(rel) = p.relation(&s.relation) else {
            continue;
        };
        let view = names.view(&s.relation);
        match &s.target {
            SinkTarget::Table { schema, table } => {
                let plan = SinkPlan::of(s, &rel.schema);
                let target = format!("`_pipec_sink_{i}`");
                let cols = plan.table_columns();
                let part = s.partition_by.clone();
                let typed: Vec<String> = cols
                    .iter()
                    .map(|c| format!("{} {}", D.ident(&c.name), D.type_sql(c.ty)))
                    .collect();
                declare.push(format!(
                    "CREATE TABLE IF NOT EXISTS {target} ({}) USING parquet{} LOCATION {}",
                    typed.join(", "),
                    part.as_ref()
                        .map(|p| format!(" PARTITIONED BY ({})", D.ident(p)))
                        .unwrap_or_default(),
                    D.quote(&table_location(schema, table))
                ));
                let new = plan.new_rows(ctx, &view, &target);
                // Spark refuses to overwrite a table that the query writing it reads: a sink
                // keeping some of its old rows (or a pipeline reading its own table) is staged
                // first; the others are written straight from the computed relation.
                let staged =
                    matches!(plan.replaces, Replaces::Interval | Replaces::Keys(_)) || self_reading;
                let rows = match plan.replaces {
                    Replaces::Interval | Replaces::Keys(_) => {
                        format!("{} UNION ALL {new}", plan.kept_rows(ctx, &view, &target))
                    }
                    _ => new,
                };
                let cast: Vec<String> = cols
                    .iter()
                    .map(|c| {
                        let n = D.ident(&c.name);
                        format!("CAST(q.{n} AS {}) AS {n}", D.type_sql(c.ty))
                    })
                    .collect();
                let typed_rows = format!("SELECT {} FROM ({rows}) AS q", cast.join(", "));
                let source = if staged {
                    let stage_path = D.quote(&stage_location(p, i));
                    stage.push(format!(
                        "INSERT OVERWRITE DIRECTORY {stage_path} USING parquet {typed_rows}"
                    ));
                    let staged = format!("`_pipec_staged_{i}`");
                    publish.push(format!(
                        "CREATE OR REPLACE TEMPORARY VIEW {staged} ({}) USING parquet OPTIONS (path {stage_path})",
                        typed.join(", ")
                    ));
                    staged
                } else {
                    format!("({typed_rows}) AS q")
                };
                let data: Vec<String> = cols
                    .iter()
                    .filter(|c| Some(&c.name) != part.as_ref())
                    .map(|c| D.ident(&c.name))
                    .collect();
                publish.push(match (&s.mode, &part) {
                    (SinkMode::Incremental { .. }, Some(p)) => format!(
                        "INSERT INTO TABLE {target} SELECT {}, {} FROM {source}",
                        data.join(", "),
                        D.ident(p)
                    ),
                    (SinkMode::Incremental { .. }, None) => format!(
                        "INSERT INTO TABLE {target} SELECT {} FROM {source}",
                        data.join(", ")
                    ),
                    (_, Some(p)) => format!(
                        "INSERT OVERWRITE TABLE {target} PARTITION ({} = {}) SELECT {} FROM {source}",
                        D.ident(p),
                        D.quote(&[Piece::Var("ds".into())]),
                        data.join(", ")
                    ),
                    (_, None) => format!(
                        "INSERT OVERWRITE TABLE {target} SELECT {} FROM {source}",
                        data.join(", ")
                    ),
                });
            }
            SinkTarget::File { format, path } => {
                let resolved = options.resolve(&p.file, path);
                let target = ctx.path(&resolved);
                let (using, opts) = match format {
                    pipec_check::ir::FileFormat::Parquet => ("parquet", String::new()),
                    pipec_check::ir::FileFormat::Csv => {
                        ("csv", " OPTIONS (header 'true', escape '\"')".to_string())
                    }
                    pipec_check::ir::FileFormat::Ndjson => {
                        ("json", " OPTIONS (ignoreNullFields 'false')".to_string())
                    }
                };
                let cols: Vec<String> = rel
                    .schema
                    .columns
                    .iter()
                    .map(|c| D.ident(&c.name))
                    .collect();
                let from = if self_reading {
                    let stage_path = D.quote(&stage_location(p, i));
                    stage.push(format!(
                        "INSERT OVERWRITE DIRECTORY {stage_path} USING parquet SELECT {} FROM {view}",
                        cols.join(", ")
                    ));
                    let staged = format!("`_pipec_staged_{i}`");
                    let typed: Vec<String> = rel
                        .schema
                        .columns
                        .iter()
                        .map(|c| format!("{} {}", D.ident(&c.name), D.type_sql(c.ty)))
                        .collect();
                    files.push(format!(
                        "CREATE OR REPLACE TEMPORARY VIEW {staged} ({}) USING parquet OPTIONS (path {stage_path})",
                        typed.join(", ")
                    ));
                    staged
                } else {
                    view.clone()
                };
                // Timestamps in text files as `pipec run` writes them (`2024-01-01 10:00:00`,
                // fractional seconds only when there are some): Spark's cast to text.
                let written: Vec<String> = rel
                    .schema
                    .columns
                    .iter()
                    .map(|c| {
                        let n = D.ident(&c.name);
                        if c.ty == pipec_check::ir::Type::Timestamp && using != "parquet" {
                            format!("CAST({n} AS STRING) AS {n}")
                        } else {
                            n
                        }
                    })
                    .collect();
                files.push(format!(
                    "INSERT OVERWRITE DIRECTORY {target} USING {using}{opts} SELECT /*+ COALESCE(1) */ {} FROM {from}",
                    written.join(", ")
                ));
            }
        }
    }
    let mut out = Vec::new();
    let mut add = |title: &str, statements: Vec<String>| {
        if !statements.is_empty() {
            out.push(Section {
                title: title.into(),
                statements,
            });
        }
    };
    add(
        "sink tables: Parquet folders under the warehouse, declared over what earlier runs wrote",
        declare,
    );
    add(
        "stage: the new contents of each table keeping some of its rows (kept rows and the run's rows), read before any table is written",
        stage,
    );
    add(
        "publish: overwrite each table (or the run's partition), or append the rows of an incremental sink",
        publish,
    );
    add("file sinks: a folder of part files at each path", files);
    out
}
