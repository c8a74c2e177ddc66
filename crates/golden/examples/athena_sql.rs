//! Prints, as JSON, the Athena SQL pipec-sql renders for every pipeline of the given specs: each
//! transform's `SELECT`, each check query, each sink's guards and publish statements, with run
//! values as `?` placeholders (`pipec_sql::parameters`; the SAM target splices the same values
//! with `States.Format` instead), plus the values of one daily
//! interval. `scripts/athena_dialect_check.py` parses, transpiles and runs it.
//!
//!     cargo run -p pipec-golden --example athena_sql -- SPEC.pipe... [--date 2024-01-01]

use std::fmt::Write;

use pipec_check::ir::{Head, RelationKind, SinkTarget, Source, Type};
use pipec_check::Loader;
use pipec_diag::{RenderOptions, SourceMap};
use pipec_sql::sinks::SinkPlan;
use pipec_sql::{parameters, Ctx, Dialect, Interval};

const D: Dialect = Dialect::Athena;

/// Reads `import "path"` files from disk.
struct Disk;

impl Loader for Disk {
    fn load(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
}

fn json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// `{"sql": ..., "params": [...]}` of a statement with run-variable marks.
fn stmt(sql: &str) -> String {
    let (sql, names) = parameters(sql);
    let names: Vec<String> = names.iter().map(|n| json(n)).collect();
    format!("{{\"sql\": {}, \"params\": {}}}", json(&sql), list(&names))
}

fn columns(cols: &[pipec_check::ir::Column]) -> String {
    let items: Vec<String> = cols
        .iter()
        .map(|c| {
            format!(
                "{{\"name\": {}, \"duckdb\": {}, \"athena\": {}}}",
                json(&c.name),
                json(&Dialect::DuckDb.type_sql(if c.ty == Type::Null {
                    Type::String
                } else {
                    c.ty
                })),
                json(&D.type_sql(c.ty))
            )
        })
        .collect();
    list(&items)
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut date = "2024-01-01".to_string();
    if let Some(i) = args.iter().position(|a| a == "--date") {
        date = args.get(i + 1).cloned().expect("--date DATE");
        args.drain(i..i + 2);
    }
    let mut sources = SourceMap::new();
    let roots: Vec<_> = args
        .iter()
        .map(|p| sources.add(p.clone(), std::fs::read_to_string(p).expect("spec file")))
        .collect();
    let checked = pipec_check::check(&mut sources, &roots, &Disk);
    if checked.has_errors() {
        eprint!(
            "{}",
            pipec_diag::render_all(
                &checked.diagnostics,
                &sources,
                RenderOptions {
                    color: false,
                    width: 100
                }
            )
        );
        std::process::exit(1);
    }
    let ctx = Ctx::vars(D);
    let tables = |n: &str| D.ident(n);
    let day = date.parse().expect("a date YYYY-MM-DD");
    let mut pipelines = Vec::new();
    for p in &checked.project.pipelines {
        let run = pipec_check::schedule::Rule::new(&p.interval)
            .and_then(|r| r.day(day).first().map(Interval::from))
            .expect("an interval on the date");
        let values: Vec<String> = Interval::NAMES
            .iter()
            .map(|n| {
                format!(
                    "{}: {}",
                    json(n),
                    json(&run.placeholder(n).unwrap_or_default())
                )
            })
            .collect();
        let mut rels = Vec::new();
        for r in &p.relations {
            match &r.kind {
                RelationKind::Source(Source::File { format, path, .. }) => rels.push(format!(
                    "{{\"name\": {}, \"kind\": \"file\", \"format\": {}, \"path\": {}, \"columns\": {}}}",
                    json(&r.name),
                    json(&format!("{format:?}").to_lowercase()),
                    json(&run.expand(path, |_| None)),
                    columns(&r.schema.columns)
                )),
                RelationKind::Source(_) => rels.push(format!(
                    "{{\"name\": {}, \"kind\": \"other\"}}",
                    json(&r.name)
                )),
                RelationKind::Transform(t) => {
                    let head = match &t.head {
                        Head::Relation(n) => {
                            p.relation(n).map(|r| r.schema.clone()).unwrap_or_default()
                        }
                        Head::Sql { .. } => Default::default(),
                    };
                    let unsupported: Vec<String> = ctx
                        .unsupported(t)
                        .iter()
                        .map(|(b, why)| json(&format!("{b}: {why}")))
                        .collect();
                    rels.push(format!(
                        "{{\"name\": {}, \"kind\": \"transform\", \"unsupported\": {}, \"select\": {}}}",
                        json(&r.name),
                        list(&unsupported),
                        stmt(&ctx.transform(t, &head, &tables))
                    ));
                }
            }
        }
        let mut checks = Vec::new();
        for c in &p.checks {
            for rule in &c.rules {
                let q = ctx.check(&rule.rule, &D.ident(&c.relation));
                checks.push(format!(
                    "{{\"relation\": {}, \"rule\": {}, \"query\": {}, \"failed\": {}}}",
                    json(&c.relation),
                    json(&rule.text),
                    stmt(&q.sql),
                    json(&q.failed_condition())
                ));
            }
        }
        let mut sinks = Vec::new();
        for s in &p.sinks {
            let (SinkTarget::Table { schema, table }, Some(rel)) =
                (&s.target, p.relation(&s.relation))
            else {
                continue;
            };
            let plan = SinkPlan::of(s, &rel.schema);
            let staged = D.ident(&s.relation);
            let target = D.table(schema, table);
            let guards: Vec<String> = plan
                .guards(&ctx, &staged)
                .iter()
                .map(|(what, q)| {
                    format!(
                        "{{\"what\": {}, \"query\": {}, \"failed\": {}}}",
                        json(what),
                        stmt(&q.sql),
                        json(&q.failed_condition())
                    )
                })
                .collect();
            let publish: Vec<String> = match &plan.replaces {
                pipec_sql::sinks::Replaces::Keys(_) => plan
                    .merge(&ctx, &staged, &target)
                    .iter()
                    .map(|s| stmt(s))
                    .collect(),
                _ => plan
                    .delete_insert(&ctx, &staged, &target)
                    .iter()
                    .map(|s| stmt(s))
                    .collect(),
            };
            sinks.push(format!(
                "{{\"relation\": {}, \"schema\": {}, \"table\": {}, \"columns\": {}, \"guards\": {}, \"publish\": {}}}",
                json(&s.relation),
                json(schema),
                json(table),
                columns(&plan.table_columns()),
                list(&guards),
                list(&publish)
            ));
        }
        pipelines.push(format!(
            "{{\"name\": {}, \"file\": {}, \"run\": {{{}}}, \"relations\": {}, \"checks\": {}, \"sinks\": {}}}",
            json(&p.name),
            json(&p.file),
            values.join(", "),
            list(&rels),
            list(&checks),
            list(&sinks)
        ));
    }
    println!("{{\"pipelines\": {}}}", list(&pipelines));
}
