//! What the fuzz target `parse_check` does with one input, shared with the `replay` timing example.
//!
//! Every stage a spec file reaches in `pipec check`/`emit`: parse, check, plan; every diagnostic
//! rendered as text and JSON, its machine-applicable fixes applied and the result checked again;
//! for a clean file the plan and column lineage rendered, the SQL of every transform, check and
//! sink in every dialect, and the Spark, Airflow (both profiles) and SAM emitters run.

use pipec_check::ir::{Head, Project, RelationKind};
use pipec_check::NoFiles;
use pipec_diag::{Diagnostic, RenderOptions, SourceMap};
use pipec_sql::sinks::SinkPlan;
use pipec_sql::{Ctx, Dialect};

/// Runs every stage on `text`; panics only where pipec itself panics.
pub fn parse_check(text: &str) {
    let fixed = compile(text);
    if let Some(fixed) = fixed {
        // The text left by applying every fix (the LSP's quick fixes) must compile too.
        compile(&fixed);
    }
}

/// Compiles `text` as `fuzz.pipe`; returns the text with every fix applied when any diagnostic
/// has one.
fn compile(text: &str) -> Option<String> {
    let mut sources = SourceMap::new();
    let root = sources.add("fuzz.pipe".to_string(), text.to_string());
    let checked = pipec_check::check(&mut sources, &[root], &NoFiles);
    let mut diags = checked.diagnostics;
    if !diags.iter().any(Diagnostic::is_error) {
        match pipec_plan::plan(&checked.project) {
            Ok(plan) => backends(&checked.project, &plan, &mut diags),
            Err(e) => diags.extend(e),
        }
    }
    let options = RenderOptions {
        color: false,
        width: 100,
    };
    std::hint::black_box(pipec_diag::render_all(&diags, &sources, options));
    std::hint::black_box(pipec_diag::render_json(&diags, &sources));
    let fixes: Vec<&pipec_diag::Fix> = diags
        .iter()
        .flat_map(|d| &d.fixes)
        .filter(|f| f.span.file == root)
        .collect();
    (!fixes.is_empty()).then(|| pipec_diag::apply_fixes(text, fixes))
}

/// Plan and lineage renderings, SQL in every dialect and the emitters, for a clean project.
/// Emitter diagnostics (a builtin a target cannot run) join `diags` to be rendered.
fn backends(project: &Project, plan: &pipec_plan::Plan, diags: &mut Vec<Diagnostic>) {
    std::hint::black_box(pipec_plan::to_dot(plan, true));
    std::hint::black_box(pipec_plan::to_mermaid(plan, true));
    std::hint::black_box(pipec_plan::to_json(plan));
    let lineage = pipec_plan::lineage(project);
    std::hint::black_box(pipec_plan::columns_json(&lineage, None));
    sql(project);
    let options = pipec_emit::Options::default();
    let mut emitted = vec![pipec_spark::emit(project, plan, &options).map(|_| ())];
    for profile in [
        pipec_airflow::Profile::DuckDb,
        pipec_airflow::Profile::Postgres,
    ] {
        emitted.push(pipec_airflow::emit(project, plan, &options, profile).map(|_| ()));
    }
    let settings = pipec_sam::Settings::default();
    emitted.push(pipec_sam::emit(project, plan, &options, &settings).map(|_| ()));
    for e in emitted {
        if let Err(d) = e {
            diags.extend(d);
        }
    }
}

/// The SQL of every transform, check and sink: DuckDB with the literals of each pipeline's first
/// interval of 2024-01-01 (as `pipec run`), every dialect with run values as variables.
fn sql(project: &Project) {
    let day = "2024-01-01".parse().expect("a date");
    for p in &project.pipelines {
        let run = pipec_check::schedule::Rule::new(&p.interval)
            .and_then(|r| r.day(day).first().map(pipec_sql::Interval::from))
            .unwrap_or_else(|| pipec_sql::Interval::daily("2024-01-01", "2024-01-02"));
        let contexts =
            std::iter::once(Ctx::duckdb(&run)).chain(Dialect::ALL.iter().map(|&d| Ctx::vars(d)));
        for ctx in contexts {
            let tables = |n: &str| ctx.dialect.ident(n);
            for r in &p.relations {
                let RelationKind::Transform(t) = &r.kind else {
                    continue;
                };
                let head = match &t.head {
                    Head::Relation(n) => {
                        p.relation(n).map(|r| r.schema.clone()).unwrap_or_default()
                    }
                    Head::Sql { .. } => Default::default(),
                };
                std::hint::black_box(ctx.unsupported(t));
                std::hint::black_box(ctx.transform(t, &head, &tables));
            }
            for c in &p.checks {
                let table = ctx.dialect.ident(&c.relation);
                for r in &c.rules {
                    let q = ctx.check(&r.rule, &table);
                    std::hint::black_box((q.failed_condition(), &q.sql));
                }
            }
            for s in &p.sinks {
                let Some(rel) = p.relation(&s.relation) else {
                    continue;
                };
                let plan = SinkPlan::of(s, &rel.schema);
                let (staged, target) = ("\"staged\"", "\"target\"");
                std::hint::black_box((
                    plan.table_columns(),
                    plan.replaced(&ctx, staged, target),
                    plan.new_rows(&ctx, staged, target),
                    plan.kept_rows(&ctx, staged, target),
                    plan.delete_insert(&ctx, staged, target),
                    plan.merge(&ctx, staged, target),
                ));
            }
        }
    }
}
