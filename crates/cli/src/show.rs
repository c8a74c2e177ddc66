//! `pipec show`: the rows one relation produces for an interval (on a scratch in-memory DuckDB,
//! writing nothing), or with `--sql` the statement it compiles to for a target.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use pipec_check::ir::{Pipeline, Project, RelationKind, SinkTarget, Type};
use pipec_diag::{codes, Diagnostic, Span};
use pipec_runner::{Dates, Preview, Run, Secrets};
use serde_json::Value;

use crate::{AirflowProfile, DiagFormat};
use pipec_runner::Bound;

/// The engine whose SQL `--sql` prints.
#[derive(Copy, Clone, ValueEnum, PartialEq, Eq)]
pub enum ShowTarget {
    /// DuckDB, as `pipec run` executes it.
    Duckdb,
    /// The Spark SQL job of `pipec emit --target spark` (run values as `${ds}`).
    Spark,
    /// The Airflow DAG of `pipec emit --target airflow`, in its profile's dialect.
    Airflow,
    /// The Athena statement of `pipec emit --target sam` (run values as `?` parameters).
    Sam,
}

/// What `pipec show` was asked.
#[derive(clap::Args)]
pub struct Args {
    /// Files or folders, then the relation.
    #[arg(required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// The relation: `name`, `pipeline.name`, or a sink's name (`mart.station_daily`).
    #[arg(required = true)]
    pub relation: String,
    /// The interval of this date (YYYY-MM-DD) in the schedule's time zone (default: the
    /// latest due interval, as `pipec run` picks it).
    #[arg(long, conflicts_with = "at")]
    pub date: Option<chrono::NaiveDate>,
    /// The interval containing this instant (as `pipec run --at`).
    #[arg(long)]
    pub at: Option<Bound>,
    /// Rows to print.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print the SQL statement of the relation instead of its rows.
    #[arg(long)]
    pub sql: bool,
    /// The engine of --sql.
    #[arg(long, value_enum, default_value = "duckdb", requires = "sql")]
    pub target: ShowTarget,
    /// The Airflow warehouse profile of --sql --target airflow.
    #[arg(long, value_enum, default_value = "duckdb")]
    pub profile: AirflowProfile,
    /// The DuckDB warehouse `table(...)` sources read (default: as `pipec run`).
    #[arg(long)]
    pub warehouse: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiagFormat,
}

/// The relation a name on the command line means.
struct Found<'a> {
    pipeline: &'a Pipeline,
    relation: String,
}

/// Resolves `name`: a relation of one pipeline, `pipeline.relation`, or the name of a sink
/// (`mart.station_daily`, a file sink's path) for the relation it writes. Unknown or ambiguous
/// names are `E0101` with the closest name.
fn resolve<'a>(project: &'a Project, name: &str) -> Result<Found<'a>, Diagnostic> {
    let found = |p: &'a Pipeline, r: &str| Found {
        pipeline: p,
        relation: r.to_string(),
    };
    if let Some((pipe, rel)) = name.split_once('.') {
        if let Some(p) = project.pipelines.iter().find(|p| p.name == pipe) {
            if p.relation(rel).is_some() {
                return Ok(found(p, rel));
            }
        }
    }
    let owners: Vec<&Pipeline> = project
        .pipelines
        .iter()
        .filter(|p| p.relation(name).is_some())
        .collect();
    match owners.as_slice() {
        [p] => return Ok(found(p, name)),
        [] => {}
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|p| format!("`{}.{name}`", p.name))
                .collect();
            return Err(Diagnostic::error(
                codes::UNKNOWN_RELATION,
                Span::default(),
                format!("`{name}` names a relation in {} pipelines", many.len()),
                "ambiguous",
            )
            .with_help(format!("name one of them: {}", names.join(", "))));
        }
    }
    for p in &project.pipelines {
        if let Some(s) = p.sinks.iter().find(|s| {
            s.name().eq_ignore_ascii_case(name)
                || matches!(&s.target, SinkTarget::Table { schema, table } if schema == "main" && table.eq_ignore_ascii_case(name))
        }) {
            return Ok(found(p, &s.relation));
        }
    }
    let mut candidates: Vec<String> = Vec::new();
    for p in &project.pipelines {
        for r in &p.relations {
            candidates.push(r.name.clone());
            candidates.push(format!("{}.{}", p.name, r.name));
        }
        candidates.extend(p.sinks.iter().map(|s| s.name()));
    }
    let hint = pipec_diag::did_you_mean(name, candidates.iter().map(String::as_str));
    let known: Vec<&str> = project
        .pipelines
        .iter()
        .flat_map(|p| p.relations.iter().map(|r| r.name.as_str()))
        .take(12)
        .collect();
    Err(Diagnostic::error(
        codes::UNKNOWN_RELATION,
        Span::default(),
        format!("no relation or sink named `{name}` in the given paths"),
        "unknown",
    )
    .with_suggestion(hint, format!("relations: {}", known.join(", "))))
}

/// `pipec show`.
pub fn show(args: Args) -> ExitCode {
    let (compiled, _plan) = match crate::compile_and_plan(&args.paths, args.format, "show") {
        Ok(x) => x,
        Err(code) => return code,
    };
    let project = &compiled.checked.project;
    let found = match resolve(project, &args.relation) {
        Ok(f) => f,
        Err(d) => {
            crate::report_one(&d, &compiled.sources, args.format, "show");
            return ExitCode::from(1);
        }
    };
    let p = found.pipeline;
    // The interval: only when rows are computed or the DuckDB SQL gets values.
    let wants_interval = !args.sql
        || (args.target == ShowTarget::Duckdb && (args.date.is_some() || args.at.is_some()));
    let run = if wants_interval {
        match interval(project, p, &args) {
            Ok(r) => Some(r),
            Err(e) => return crate::usage_error(&e),
        }
    } else {
        None
    };
    if args.sql {
        return sql(project, &found, run.as_ref(), &args, &compiled);
    }
    let Some(run) = run else {
        return crate::usage_error("no interval");
    };
    let warehouse = match crate::warehouse_path(args.warehouse.clone()) {
        Ok(w) => w,
        Err(e) => return crate::usage_error(&e),
    };
    let secrets = Secrets::from_env();
    match pipec_runner::preview(
        p,
        &found.relation,
        &run,
        Some(&warehouse),
        args.limit,
        &secrets,
    ) {
        Ok(preview) => {
            match args.format {
                DiagFormat::Text => print!("{}", text(&preview)),
                DiagFormat::Json => json_of(
                    &preview,
                    crate::json::Doc::new("show")
                        .diagnostics(&compiled.checked.diagnostics, &compiled.sources)
                        .field("sql", false),
                )
                .print(),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            crate::report_one(&e.diagnostic, &compiled.sources, args.format, "show");
            ExitCode::from(1)
        }
    }
}

/// The one interval `--date`/`--at` (or the latest due) selects for `p`, as `pipec run` picks it.
fn interval(project: &Project, p: &Pipeline, args: &Args) -> Result<Run, String> {
    let dates = match (args.date, args.at) {
        (Some(d), _) => Dates::One(d),
        (None, Some(pipec_runner::Bound::Day(d))) => {
            Dates::At(d.and_time(chrono::NaiveTime::MIN).and_utc())
        }
        (None, Some(pipec_runner::Bound::At(t))) => Dates::At(t),
        (None, None) => Dates::Latest,
    };
    let runs = pipec_runner::intervals_of(project, p, &dates, chrono::Utc::now());
    match (runs.as_slice(), &dates) {
        ([one], _) => Ok(one.clone()),
        ([], Dates::Latest) => Err(format!(
            "no interval of pipeline `{}` is due yet: pass --date or --at",
            p.name
        )),
        ([], _) => Err(format!(
            "pipeline `{}` has no interval there (its schedule or start/end dates exclude it)",
            p.name
        )),
        (many, _) => Err(format!(
            "--date covers {} intervals of pipeline `{}` ({} to {}): pick one with --at {}",
            many.len(),
            p.name,
            many[0].label,
            many[many.len() - 1].label,
            many[0].interval.start.format("%Y-%m-%dT%H:%MZ")
        )),
    }
}

/// The interval as the output names it: its label and its UTC bounds.
fn interval_text(run: &Run) -> String {
    let params = run.params();
    format!("{} ({} to {} UTC)", run.label, params.start, params.end)
}

fn type_text(ty: Type, nullable: bool) -> String {
    format!("{ty}{}", if nullable { "?" } else { "" })
}

/// The preview as a table: a title naming the interval, column names over their types, the
/// rows, then `N rows (showing M)`.
fn text(p: &Preview) -> String {
    let mut out = format!(
        "{}.{} for interval {}\n",
        p.pipeline,
        p.relation,
        interval_text(&p.run)
    );
    let headers: Vec<String> = p.columns.iter().map(|c| c.name.clone()).collect();
    let types: Vec<String> = p
        .columns
        .iter()
        .map(|c| type_text(c.ty, c.nullable))
        .collect();
    let cells: Vec<Vec<String>> = p
        .rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect();
    let width = |i: usize| {
        std::iter::once(&headers[i])
            .chain(std::iter::once(&types[i]))
            .chain(cells.iter().map(|r| &r[i]))
            .map(|s| unicode_width::UnicodeWidthStr::width(s.as_str()))
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..headers.len()).map(width).collect();
    let numeric: Vec<bool> = p
        .columns
        .iter()
        .map(|c| {
            matches!(
                c.ty,
                Type::Int | Type::BigInt | Type::Float | Type::Decimal(..)
            )
        })
        .collect();
    let line = |vals: &[String], align: bool| {
        let parts: Vec<String> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let pad =
                    widths[i].saturating_sub(unicode_width::UnicodeWidthStr::width(v.as_str()));
                if align && numeric[i] {
                    format!("{}{v}", " ".repeat(pad))
                } else {
                    format!("{v}{}", " ".repeat(pad))
                }
            })
            .collect();
        format!("{}\n", parts.join(" | ").trim_end())
    };
    out.push_str(&line(&headers, false));
    out.push_str(&line(&types, false));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("{}\n", rule.join("-+-")));
    for r in &cells {
        out.push_str(&line(r, true));
    }
    out.push_str(&format!(
        "{} row{} (showing {})\n",
        p.total,
        if p.total == 1 { "" } else { "s" },
        p.rows.len()
    ));
    for (source, n) in &p.rejected {
        out.push_str(&format!(
            "{n} row{} of source `{source}` rejected (on_error = \"reject\")\n",
            if *n == 1 { "" } else { "s" }
        ));
    }
    out
}

/// A value as JSON: numbers and booleans as such (a decimal as its exact text), `json` columns
/// parsed, everything else as DuckDB writes it as text.
fn json_value(v: &Option<String>, ty: Type) -> Value {
    let Some(s) = v else { return Value::Null };
    match ty {
        Type::Int | Type::BigInt => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(s.clone())),
        Type::Float => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(s.clone())),
        Type::Bool => match s.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(s.clone()),
        },
        Type::Json => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
        _ => Value::String(s.clone()),
    }
}

/// The JSON document of a preview (docs/json.md, `pipec show`).
fn json_of(p: &Preview, doc: crate::json::Doc) -> crate::json::Doc {
    #[derive(serde::Serialize)]
    struct Interval<'a> {
        label: &'a str,
        ds: String,
        start: String,
        end: String,
    }
    #[derive(serde::Serialize)]
    struct Rejected<'a> {
        source: &'a str,
        rows: u64,
    }
    let params = p.run.params();
    doc.field("pipeline", &p.pipeline)
        .field("relation", &p.relation)
        .field(
            "interval",
            Interval {
                label: &p.run.label,
                ds: params.ds,
                start: params.start,
                end: params.end,
            },
        )
        .field(
            "columns",
            p.columns.iter().map(|c| &c.name).collect::<Vec<_>>(),
        )
        .field(
            "types",
            p.columns
                .iter()
                .map(|c| type_text(c.ty, c.nullable))
                .collect::<Vec<_>>(),
        )
        .field(
            "rows",
            p.rows
                .iter()
                .map(|r| {
                    r.iter()
                        .zip(&p.columns)
                        .map(|(v, c)| json_value(v, c.ty))
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>(),
        )
        .field("total", p.total)
        .field("shown", p.rows.len())
        .field(
            "rejected",
            p.rejected
                .iter()
                .map(|(s, n)| Rejected {
                    source: s,
                    rows: *n,
                })
                .collect::<Vec<_>>(),
        )
}

/// Marks of values that are not run values (the SAM target's staging suffix and bucket, parts
/// of names the state machine splices in) written as `{name}`, so that only run values become
/// `?` parameters.
fn spliced(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(pipec_sql::MARK) {
        let after = &rest[at + 1..];
        let Some(len) = after.find(pipec_sql::MARK) else {
            break;
        };
        let name = &after[..len];
        out.push_str(&rest[..at]);
        if pipec_sql::Interval::NAMES.contains(&name) {
            out.push_str(&rest[at..at + len + 2]);
        } else {
            out.push_str(&format!("{{{name}}}"));
        }
        rest = &after[len + 1..];
    }
    out.push_str(rest);
    out
}

/// `--sql`: the statements of the relation for the target.
fn sql(
    project: &Project,
    found: &Found,
    run: Option<&Run>,
    args: &Args,
    compiled: &crate::project::Compiled,
) -> ExitCode {
    let (sources, warnings) = (&compiled.sources, &compiled.checked.diagnostics);
    let p = found.pipeline;
    let rel = &found.relation;
    let options = pipec_emit::Options {
        roots: crate::emit_roots(project, None),
    };
    let mut parameters: Vec<String> = Vec::new();
    let (target, statements): (&str, Result<Vec<String>, Vec<Diagnostic>>) = match args.target {
        ShowTarget::Duckdb => {
            let is_source = p
                .relation(rel)
                .is_some_and(|r| matches!(r.kind, RelationKind::Source(_)));
            if is_source {
                return crate::usage_error(&format!(
                    "`{rel}` is a source: `pipec run` reads it with pipec's loaders (schema enforced row by row), not one SQL statement; `pipec show {}` previews its rows, and --target spark|airflow|sam shows how those targets read it",
                    args.relation
                ));
            }
            let sql = pipec_runner::relation_sql(p, rel, run).unwrap_or_default();
            ("duckdb", Ok(vec![pipec_sql::readable_marks(&sql)]))
        }
        ShowTarget::Spark => (
            "spark",
            pipec_spark::relation_sql(project, p, rel, &options).unwrap_or(Ok(Vec::new())),
        ),
        ShowTarget::Airflow => {
            let profile = match args.profile {
                AirflowProfile::Duckdb => pipec_airflow::Profile::DuckDb,
                AirflowProfile::Postgres => pipec_airflow::Profile::Postgres,
            };
            (
                "airflow",
                pipec_airflow::relation_sql(project, p, rel, &options, profile)
                    .unwrap_or(Ok(Vec::new()))
                    .map(|v| v.iter().map(|s| pipec_sql::readable_marks(s)).collect()),
            )
        }
        ShowTarget::Sam => {
            let result = pipec_sam::relation_sql(project, p, rel, &options)
                .unwrap_or(Ok(String::new()))
                .map(|sql| {
                    let (text, names) = pipec_sql::parameters(&spliced(&sql));
                    parameters = names;
                    vec![pipec_sql::readable_marks(&text)]
                });
            ("sam", result)
        }
    };
    let statements = match statements {
        Ok(s) => s,
        Err(diags) => {
            crate::report(&diags, sources, args.format, "show");
            return ExitCode::from(1);
        }
    };
    match args.format {
        DiagFormat::Json => crate::json::Doc::new("show")
            .diagnostics(warnings, sources)
            .field("sql", true)
            .field("pipeline", &p.name)
            .field("relation", rel)
            .field("target", target)
            .field("interval", run.map(|r| r.label.clone()))
            .field("statements", &statements)
            .field("parameters", &parameters)
            .print(),
        DiagFormat::Text => {
            let when = match run {
                Some(r) => format!("interval {}", interval_text(r)),
                None => "run values as variables".to_string(),
            };
            println!("-- {}.{rel} on {target}, {when}", p.name);
            for s in &statements {
                println!("{s};");
            }
            if !parameters.is_empty() {
                let list: Vec<String> = parameters
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("{} = {n}", i + 1))
                    .collect();
                println!(
                    "-- execution parameters (the `?` in order): {}",
                    list.join(", ")
                );
            }
        }
    }
    ExitCode::SUCCESS
}
