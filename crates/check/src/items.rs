//! Sinks, checks and tests of a pipeline, and the unused-relation warnings.

use pipec_diag::{codes, did_you_mean, Diagnostic, FileId, Span};
use pipec_syntax::ast::{self, ExprKind as A, Item, Literal, SinkOptionKind, UnaryOp};

use crate::expand;
use crate::expr::{literal_type, not_boolean, type_expr, unknown_column, Scope};
use crate::ir::{
    Check, CheckRule, Column, FileFormat, Fixture, Pipeline, RelationKind, Rule, Schema, Sink,
    SinkMode, SinkTarget, Test, Type,
};
use crate::relation::{bare_columns, check_template, not_grouped};
use crate::{Unit, World};

/// Sink mode names.
pub const MODES: &[&str] = &["append", "replace", "merge", "incremental"];
/// Builtin check rules.
pub const CHECK_BUILTINS: &[&str] = &[
    "not_null",
    "unique",
    "accepted_values",
    "in_range",
    "row_count",
];

/// Checks sinks, checks and tests, then warns about relations nothing uses.
pub(crate) fn check_items(
    world: &World<'_>,
    file: FileId,
    unit: &Unit,
    p: &mut Pipeline,
    diags: &mut Vec<Diagnostic>,
) {
    let declared: Vec<String> = unit
        .module
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Source(s) => Some(s.name.name.clone()),
            Item::Transform(t) => Some(t.name.name.clone()),
            _ => None,
        })
        .collect();
    let mut used: Vec<String> = Vec::new();
    for item in &unit.module.items {
        if let Item::Transform(t) = item {
            referenced(&t.body, &mut used);
        }
    }
    for item in &unit.module.items {
        match item {
            Item::Sink(s) => {
                used.push(s.relation.dotted());
                if let Some(sink) = sink(p, s, &declared, unit, diags) {
                    if let Some(prev) = p.sinks.iter().find(|x| x.target == sink.target) {
                        diags.push(
                            Diagnostic::error(
                                codes::DUPLICATE_NAME,
                                s.span,
                                format!("`{}` is written by two sinks", sink.name()),
                                "second sink",
                            )
                            .with_label(prev.span, "first sink")
                            .with_help(
                                "each table or path has one writer; union the relations first",
                            ),
                        );
                        continue;
                    }
                    p.sinks.push(sink);
                }
            }
            Item::Check(c) => {
                used.push(c.relation.dotted());
                if let Some(check) = check(world, file, p, c, &declared, unit, diags) {
                    match p.checks.iter_mut().find(|x| x.relation == check.relation) {
                        Some(existing) => existing.rules.extend(check.rules),
                        None => p.checks.push(check),
                    }
                }
            }
            Item::Test(t) => {
                used.push(t.relation.dotted());
                if let Some(test) = test(p, t, &declared, unit, diags) {
                    p.tests.push(test);
                }
            }
            _ => {}
        }
    }
    for r in &p.relations {
        if used.contains(&r.name) || unit.syntax_errors {
            continue;
        }
        let d = match r.kind {
            RelationKind::Source(_) => Diagnostic::warning(
                codes::UNUSED_SOURCE,
                r.span,
                format!("source `{}` is never used", r.name),
                "declared but never read",
            )
            .with_help("read it in a transform or sink, or remove it"),
            RelationKind::Transform(_) => Diagnostic::warning(
                codes::UNUSED_TRANSFORM,
                r.span,
                format!("transform `{}` is never used", r.name),
                "computed but never written, checked or read",
            )
            .with_help("add a `sink`, a `check`, read it from another transform, or remove it"),
        };
        diags.push(d);
    }
}

/// The schema of a relation named in a sink/check/test, or an error.
fn relation_schema<'p>(
    p: &'p Pipeline,
    q: &ast::QName,
    declared: &[String],
    unit: &Unit,
    diags: &mut Vec<Diagnostic>,
) -> Option<&'p Schema> {
    let name = q.dotted();
    if let Some(r) = p.relation(&name) {
        return Some(&r.schema);
    }
    if declared.contains(&name) || unit.broken.contains(&name) {
        return None;
    }
    let s = did_you_mean(&name, declared.iter().map(String::as_str));
    diags.push(
        Diagnostic::error(
            codes::UNKNOWN_RELATION,
            q.span,
            format!("unknown relation `{name}`"),
            "not declared in this pipeline",
        )
        .with_suggestion(s, "declare it with `source` or `transform` in this file"),
    );
    None
}

fn key_column(
    schema: &Schema,
    col: &ast::Ident,
    what: &str,
    relation: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Column> {
    match schema.get(&col.name) {
        Some(c) => Some(c.clone()),
        None => {
            let s = did_you_mean(&col.name, schema.names());
            diags.push(
                Diagnostic::error(
                    codes::KEY_NOT_IN_RELATION,
                    col.span,
                    format!("{what} `{}` is not a column of `{relation}`", col.name),
                    "not in the relation",
                )
                .with_suggestion(
                    s,
                    format!(
                        "columns of `{relation}`: {}",
                        schema.names().collect::<Vec<_>>().join(", ")
                    ),
                ),
            );
            None
        }
    }
}

/// Schemas pipec keeps its state in (`_pipec`, the staging database `_pipec_stage`, and any
/// other name starting with `_pipec`, ignoring case): sinks may not write them.
fn reserved_schema(name: &str) -> bool {
    name.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("_pipec"))
}

fn sink(
    p: &Pipeline,
    s: &ast::SinkDecl,
    declared: &[String],
    unit: &Unit,
    diags: &mut Vec<Diagnostic>,
) -> Option<Sink> {
    let schema = relation_schema(p, &s.relation, declared, unit, diags);
    let relation = s.relation.dotted();
    let target = match &s.target {
        ast::SinkTarget::Table(q) => match q.parts.as_slice() {
            [t] => Some(SinkTarget::Table {
                schema: "main".into(),
                table: t.name.clone(),
            }),
            [sc, _] if reserved_schema(&sc.name) => {
                diags.push(
                    Diagnostic::error(
                        codes::RESERVED_SCHEMA,
                        sc.span,
                        format!("schema `{}` is reserved for pipec's own state", sc.name),
                        "reserved",
                    )
                    .with_help(
                        "schemas starting with `_pipec` hold run history, watermarks and staging; \
                         sinks cannot write them (sources may read them with `table(...)`): \
                         write to another schema, e.g. `mart.intervals`",
                    ),
                );
                None
            }
            [sc, t] => Some(SinkTarget::Table {
                schema: sc.name.clone(),
                table: t.name.clone(),
            }),
            _ => {
                diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_RELATION,
                        q.span,
                        format!("`{}` is not a table name", q.dotted()),
                        "too many dots",
                    )
                    .with_help("write `schema.table`, e.g. `mart.station_daily`"),
                );
                None
            }
        },
        ast::SinkTarget::Call(c) => {
            let format = match c.name.dotted().as_str() {
                "parquet" => Some(FileFormat::Parquet),
                "csv" => Some(FileFormat::Csv),
                "ndjson" | "json" => Some(FileFormat::Ndjson),
                other => {
                    let sug = did_you_mean(other, ["parquet", "csv", "ndjson"]);
                    diags.push(
                        Diagnostic::error(codes::UNKNOWN_SOURCE_KIND, c.name.span, format!("unknown sink kind `{other}`"), "not a sink kind")
                            .with_suggestion(sug, "sinks are warehouse tables (`schema.table`) or files: parquet(\"path\"), csv(\"path\"), ndjson(\"path\")"),
                    );
                    None
                }
            };
            let path = match c.args.as_slice() {
                [ast::Arg {
                    name: None,
                    value:
                        ast::Expr {
                            kind: A::Literal(Literal::Str(v)),
                            span,
                        },
                }] => {
                    let lit = ast::StrLit {
                        value: v.clone(),
                        span: *span,
                    };
                    check_template(&lit, diags).then(|| v.clone())
                }
                _ => {
                    diags.push(crate::pipeline::bad_value(
                        c.span,
                        "file sink",
                        "one path string",
                        "parquet(\"lake/station_daily/{ds}.parquet\")",
                    ));
                    None
                }
            };
            format
                .zip(path)
                .map(|(format, path)| SinkTarget::File { format, path })
        }
    };
    let mut mode: Option<(SinkMode, Span)> = None;
    let mut partition_by = None;
    let mut partition_span = None;
    let mut retention_lines = Vec::new();
    let mut failed = false;
    let mut keys_reported = false;
    for (i, opt) in s.options.iter().enumerate() {
        let new_mode = match &opt.kind {
            SinkOptionKind::Mode(m) => {
                // `mode upsert on (id)`: the `on (...)` parsed as an option of its own.
                let keys_follow = matches!(
                    s.options.get(i + 1).map(|o| &o.kind),
                    Some(SinkOptionKind::Unknown { name, .. }) if name.name == "on"
                );
                match m.name.as_str() {
                    "append" => Some(SinkMode::Append),
                    "replace" => Some(SinkMode::Replace),
                    "merge" => {
                        let example = schema
                            .and_then(|sc| sc.columns.first())
                            .map_or("id".to_string(), |c| c.name.clone());
                        diags.push(
                            Diagnostic::error(
                                codes::UNKNOWN_MODE,
                                m.span,
                                "`mode merge` without its key columns",
                                "merge on which columns?",
                            )
                            .with_help(format!(
                                "name the columns that identify a row: `mode merge on ({example})`; rows whose keys exist are updated, the others inserted"
                            )),
                        );
                        failed = true;
                        None
                    }
                    "upsert" | "merge_into" if keys_follow => {
                        diags.push(
                            Diagnostic::error(
                                codes::UNKNOWN_MODE,
                                m.span,
                                format!("`{}` is written `merge` in pipec", m.name),
                                "SQL/dbt spelling",
                            )
                            .with_help("write `mode merge on (keys)`: rows whose keys exist are updated, the others inserted")
                            .with_fix(m.span, "merge"),
                        );
                        keys_reported = true;
                        failed = true;
                        None
                    }
                    other => {
                        // Words from other tools first: dbt/SQL `upsert`, Spark `overwrite`, ...
                        let sug = match other {
                            "upsert" | "merge_into" => Some("merge on (keys)"),
                            "overwrite" | "truncate" | "full_refresh" | "table" => Some("replace"),
                            "insert" | "insert_into" => Some("append"),
                            _ => did_you_mean(other, MODES.iter().copied()),
                        };
                        diags.push(
                        Diagnostic::error(codes::UNKNOWN_MODE, m.span, format!("unknown sink mode `{other}`"), "not a mode")
                            .with_suggestion(sug, "modes are: append, replace, merge on (keys), incremental by column"),
                    );
                        failed = true;
                        None
                    }
                }
            }
            SinkOptionKind::Merge(keys) => {
                let mut cols = Vec::new();
                for k in keys {
                    let mut name = k.name.clone();
                    if let Some(schema) = schema {
                        match key_column(schema, k, "merge key", &relation, diags) {
                            Some(c) => name = c.name,
                            None => failed = true,
                        }
                    }
                    cols.push(name);
                }
                Some(SinkMode::Merge { keys: cols })
            }
            SinkOptionKind::Incremental(col) => {
                let mut name = col.name.clone();
                if let Some(schema) = schema {
                    match key_column(schema, col, "incremental column", &relation, diags) {
                        Some(c) if !(c.ty.is_numeric() || c.ty.is_temporal()) => {
                            diags.push(
                                Diagnostic::error(
                                    codes::TYPE_MISMATCH,
                                    col.span,
                                    format!("incremental column `{}` is {}", col.name, c.ty),
                                    "cannot be ordered as a watermark",
                                )
                                .with_help("use a timestamp, date or increasing number column"),
                            );
                            failed = true;
                        }
                        // The declared spelling (names match ignoring case).
                        Some(c) => name = c.name,
                        None => failed = true,
                    }
                }
                Some(SinkMode::Incremental { column: name })
            }
            SinkOptionKind::PartitionBy(col) => {
                let mut name = col.name.clone();
                if let Some(schema) = schema {
                    match key_column(schema, col, "partition column", &relation, diags) {
                        Some(c) if c.ty != Type::Date => {
                            diags.push(
                                Diagnostic::error(
                                    codes::TYPE_MISMATCH,
                                    col.span,
                                    format!("partition column `{}` is {}", col.name, c.ty),
                                    "must be a date",
                                )
                                .with_help(format!(
                                    "derive the run date first: `derive {} = @ds`",
                                    col.name
                                )),
                            );
                            failed = true;
                        }
                        Some(c) => name = c.name,
                        None => failed = true,
                    }
                }
                partition_by = Some(name);
                partition_span = Some(opt.span);
                None
            }
            SinkOptionKind::Retention(line) => {
                retention_lines.push(line);
                None
            }
            SinkOptionKind::Unknown { name, .. } if name.name == "on" && keys_reported => {
                keys_reported = false;
                None
            }
            SinkOptionKind::Unknown { name, .. } => {
                if let Some(d) = crate::retention::malformed(&name.name, opt.span) {
                    diags.push(d);
                    failed = true;
                    continue;
                }
                let sug = did_you_mean(&name.name, ["mode", "partition", "archive", "expire"]);
                diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_OPTION,
                        name.span,
                        format!("unknown sink option `{}`", name.name),
                        "not a sink option",
                    )
                    .with_suggestion(sug, "sink options are `mode ...`, `partition by column`, `archive after AGE` and `expire after AGE`"),
                );
                failed = true;
                None
            }
        };
        if let Some(m) = new_mode {
            if let Some((_, first)) = &mode {
                diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_SETTING,
                        opt.span,
                        "`mode` is set twice",
                        "second mode",
                    )
                    .with_label(*first, "first set here")
                    .with_help("a sink has one mode"),
                );
                failed = true;
            } else {
                mode = Some((m, opt.span));
            }
        }
    }
    if let Some(SinkTarget::File { .. }) = &target {
        file_sink_options(mode.as_ref(), partition_span, diags, &mut failed);
    }
    let retention = if retention_lines.is_empty() {
        None
    } else {
        let r = crate::retention::lines(&retention_lines, diags);
        failed |= r.is_none();
        r
    };
    schema?;
    if failed {
        return None;
    }
    let sink = Sink {
        relation,
        target: target?,
        mode: mode.map(|(m, _)| m).unwrap_or(SinkMode::Replace),
        partition_by,
        retention,
        span: s.span,
    };
    if let Some(r) = &sink.retention {
        let at = retention_lines[0]
            .span
            .to(retention_lines[retention_lines.len() - 1].span);
        if !crate::retention::sink_fits(&sink, r, at, diags) {
            return None;
        }
    }
    Some(sink)
}

/// E0309 for what a file sink cannot do: it replaces the file at its path on every run, so only
/// `mode replace` fits, and its path (with `{ds}`) is its partitioning.
fn file_sink_options(
    mode: Option<&(SinkMode, Span)>,
    partition: Option<Span>,
    diags: &mut Vec<Diagnostic>,
    failed: &mut bool,
) {
    let word = match mode {
        Some((SinkMode::Append, _)) => Some("append"),
        Some((SinkMode::Merge { .. }, _)) => Some("merge"),
        Some((SinkMode::Incremental { .. }, _)) => Some("incremental"),
        _ => None,
    };
    if let (Some(word), Some((_, span))) = (word, mode) {
        diags.push(
            Diagnostic::error(
                codes::FILE_SINK_OPTION,
                *span,
                format!("a file sink cannot use `mode {word}`"),
                "not supported for files",
            )
            .with_help("a file sink writes the file at its path on every run, replacing it (`mode replace`); put `{ds}` in the path for one file per interval, or write a warehouse table (`-> schema.table`) to append, merge or load incrementally"),
        );
        *failed = true;
    }
    if let Some(span) = partition {
        diags.push(
            Diagnostic::error(
                codes::FILE_SINK_OPTION,
                span,
                "a file sink cannot use `partition by`",
                "not supported for files",
            )
            .with_help("a file sink is partitioned by its path: put `{ds}` in it, e.g. `parquet(\"lake/daily/{ds}.parquet\")`"),
        );
        *failed = true;
    }
}

fn column_args(c: &ast::Call, schema: &Schema, diags: &mut Vec<Diagnostic>) -> Option<Vec<String>> {
    let mut cols = Vec::new();
    let mut failed = false;
    for a in &c.args {
        match &a.value.kind {
            A::Name(q) if q.parts.len() == 1 && a.name.is_none() => {
                match schema.get(&q.parts[0].name) {
                    // The declared spelling (names match ignoring case).
                    Some(col) => cols.push(col.name.clone()),
                    None => {
                        diags.push(unknown_column(
                            &q.parts[0],
                            &schema.names().collect::<Vec<_>>(),
                        ));
                        failed = true;
                        cols.push(q.parts[0].name.clone());
                    }
                }
            }
            _ => {
                diags.push(
                    Diagnostic::error(
                        codes::BAD_ARGUMENTS,
                        a.value.span,
                        format!("`{}` takes column names", c.name.dotted()),
                        "not a column name",
                    )
                    .with_help(format!("for example: {}(station_id, ds)", c.name.dotted())),
                );
                failed = true;
            }
        }
    }
    if cols.is_empty() && !failed {
        diags.push(
            Diagnostic::error(
                codes::BAD_ARGUMENTS,
                c.span,
                format!("`{}` needs at least one column", c.name.dotted()),
                "no columns",
            )
            .with_help(format!("for example: {}(station_id)", c.name.dotted())),
        );
        failed = true;
    }
    (!failed).then_some(cols)
}

fn int_arg(e: &ast::Expr) -> Option<i64> {
    match &e.kind {
        A::Literal(Literal::Int(n)) => Some(*n),
        _ => None,
    }
}

fn builtin_rule(c: &ast::Call, schema: &Schema, diags: &mut Vec<Diagnostic>) -> Option<Rule> {
    let name = c.name.dotted();
    let bad = |diags: &mut Vec<Diagnostic>, example: &str| {
        diags.push(
            Diagnostic::error(
                codes::BAD_ARGUMENTS,
                c.span,
                format!("wrong arguments to `{name}`"),
                "unexpected arguments",
            )
            .with_help(format!("for example: {example}")),
        );
        None
    };
    match name.as_str() {
        "not_null" => Some(Rule::NotNull {
            columns: column_args(c, schema, diags)?,
        }),
        "unique" => Some(Rule::Unique {
            columns: column_args(c, schema, diags)?,
        }),
        "accepted_values" => {
            let [col, ast::Arg {
                name: None,
                value:
                    ast::Expr {
                        kind: A::List(values),
                        ..
                    },
            }] = c.args.as_slice()
            else {
                return bad(diags, "accepted_values(status, [\"ok\", \"late\"])");
            };
            let one = ast::Call {
                name: c.name.clone(),
                args: vec![col.clone()],
                span: c.span,
            };
            let column = column_args(&one, schema, diags)?.remove(0);
            let ty = schema.get(&column).map(|c| c.ty).unwrap_or(Type::Null);
            let mut lits = Vec::new();
            for v in values {
                let A::Literal(l) = &v.kind else {
                    return bad(diags, "accepted_values(status, [\"ok\", \"late\"])");
                };
                let (lt, _) = literal_type(l);
                if !lt.comparable(ty) {
                    diags.push(crate::expr::mismatch(
                        v.span,
                        format!("`{column}` is {ty}, this value is {lt}"),
                    ));
                    return None;
                }
                lits.push(l.clone());
            }
            Some(Rule::AcceptedValues {
                column,
                values: lits,
            })
        }
        "in_range" => {
            if c.args.len() != 3 || c.args.iter().any(|a| a.name.is_some()) {
                return bad(diags, "in_range(minutes, 0, 1440)");
            }
            let one = ast::Call {
                name: c.name.clone(),
                args: vec![c.args[0].clone()],
                span: c.span,
            };
            let column = column_args(&one, schema, diags)?.remove(0);
            let scope = Scope::rows(schema);
            let col_ty = schema.get(&column).map(|c| c.ty).unwrap_or(Type::Null);
            let bound =
                |a: &ast::Arg, diags: &mut Vec<Diagnostic>| -> Option<Option<crate::ir::Expr>> {
                    if matches!(a.value.kind, A::Literal(Literal::Null)) {
                        return Some(None);
                    }
                    let e = type_expr(&a.value, &scope, diags)?;
                    if !e.ty.comparable(col_ty) {
                        diags.push(crate::expr::mismatch(
                            a.value.span,
                            format!("`{column}` is {col_ty}, this bound is {}", e.ty),
                        ));
                        return None;
                    }
                    Some(Some(e))
                };
            let min = bound(&c.args[1], diags)?;
            let max = bound(&c.args[2], diags)?;
            Some(Rule::InRange { column, min, max })
        }
        _ => {
            let mut min = None;
            let mut max = None;
            for a in &c.args {
                match (a.name.as_ref().map(|n| n.name.as_str()), int_arg(&a.value)) {
                    (Some("min"), Some(n)) => min = Some(n),
                    (Some("max"), Some(n)) => max = Some(n),
                    _ => return bad(diags, "row_count(min = 1, max = 100000)"),
                }
            }
            if min.is_none() && max.is_none() {
                return bad(diags, "row_count(min = 1)");
            }
            Some(Rule::RowCount { min, max })
        }
    }
}

fn source_text(world: &World<'_>, span: Span) -> String {
    let text = &world.sources.get(span.file).text;
    let mut end = span.end as usize;
    // An expression ending in a parenthesized operand (`a >= (b ?? 0)`) has a span that stops
    // before the closing parenthesis: take the `)`s that balance it.
    let inside = text.get(span.start as usize..end).unwrap_or("");
    let mut open = inside
        .matches('(')
        .count()
        .saturating_sub(inside.matches(')').count());
    let rest = text.get(end..).unwrap_or("");
    for (i, c) in rest.char_indices() {
        if open == 0 {
            break;
        }
        match c {
            ')' => {
                open -= 1;
                end = span.end as usize + i + 1;
            }
            c if c.is_whitespace() => {}
            _ => break,
        }
    }
    text.get(span.start as usize..end)
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn rule_exprs(
    world: &World<'_>,
    file: FileId,
    rules: &[ast::Expr],
    schema: &Schema,
    depth: usize,
    out: &mut Vec<CheckRule>,
    diags: &mut Vec<Diagnostic>,
) {
    for r in rules {
        if let A::Call(c) = &r.kind {
            let name = c.name.dotted();
            if CHECK_BUILTINS.contains(&name.as_str()) {
                if let Some(rule) = builtin_rule(c, schema, diags) {
                    out.push(CheckRule {
                        rule,
                        text: source_text(world, r.span),
                        span: r.span,
                    });
                }
                continue;
            }
            if crate::functions::kind_of(&name).is_none() {
                let Some((def_file, def)) = world.define(file, &name) else {
                    let mut cands: Vec<String> =
                        CHECK_BUILTINS.iter().map(|s| s.to_string()).collect();
                    cands.extend(world.define_names(file));
                    cands.extend(
                        crate::functions::names(crate::ir::FnKind::Aggregate)
                            .chain(crate::functions::names(crate::ir::FnKind::Scalar))
                            .map(|s| s.to_string()),
                    );
                    let s = did_you_mean(&name, cands.iter().map(String::as_str));
                    diags.push(
                        Diagnostic::error(
                            codes::UNKNOWN_FUNCTION,
                            c.name.span,
                            format!("unknown check `{name}`"),
                            "not a check or function",
                        )
                        .with_suggestion(
                            s,
                            format!(
                                "checks are: {}, a boolean expression, or a `define check`",
                                CHECK_BUILTINS.join(", ")
                            ),
                        ),
                    );
                    continue;
                };
                if depth >= 16 {
                    diags.push(
                        Diagnostic::error(
                            codes::CYCLE,
                            c.span,
                            format!("`{name}` expands into itself"),
                            "recursive define",
                        )
                        .with_help("a define cannot apply itself"),
                    );
                    continue;
                }
                if let Some(expanded) = expand::check_define(def, c, schema, diags) {
                    let before = diags.len();
                    let first_new = out.len();
                    rule_exprs(world, def_file, &expanded, schema, depth + 1, out, diags);
                    for d in &mut diags[before..] {
                        if !d.labels.iter().any(|l| l.span == c.span) {
                            d.labels.push(pipec_diag::Label {
                                span: c.span,
                                message: format!("in this use of `{name}`"),
                            });
                        }
                    }
                    let call_text = source_text(world, r.span);
                    for rule in &mut out[first_new..] {
                        rule.text = call_text.clone();
                    }
                }
                continue;
            }
        }
        let scope = Scope {
            schema,
            left_names: Vec::new(),
            right: None,
            aggregates: true,
            windows: false,
            in_aggregate: false,
            index: None,
        };
        let Some(e) = type_expr(r, &scope, diags) else {
            continue;
        };
        if !matches!(e.ty, Type::Bool | Type::Null) {
            diags.push(not_boolean(r.span, e.ty, "a check rule"));
            continue;
        }
        let rule = if e.has_aggregate() {
            let mut bare = Vec::new();
            bare_columns(&e, &mut bare);
            if let Some(col) = bare.first() {
                diags.push(not_grouped(r.span, col));
                continue;
            }
            Rule::Aggregate { expr: e }
        } else {
            Rule::Row { expr: e }
        };
        out.push(CheckRule {
            rule,
            text: source_text(world, r.span),
            span: r.span,
        });
    }
}

fn check(
    world: &World<'_>,
    file: FileId,
    p: &Pipeline,
    c: &ast::CheckDecl,
    declared: &[String],
    unit: &Unit,
    diags: &mut Vec<Diagnostic>,
) -> Option<Check> {
    let schema = relation_schema(p, &c.relation, declared, unit, diags)?.clone();
    let mut rules = Vec::new();
    let before = diags.iter().filter(|d| d.is_error()).count();
    rule_exprs(world, file, &c.rules, &schema, 0, &mut rules, diags);
    let failed = diags.iter().filter(|d| d.is_error()).count() > before;
    (!failed).then(|| Check {
        relation: c.relation.dotted(),
        rules,
        span: c.span,
    })
}

/// A fixture value: a literal, possibly negated.
fn fixture_literal(e: &ast::Expr) -> Option<Literal> {
    match &e.kind {
        A::Literal(l) => Some(l.clone()),
        A::Unary(UnaryOp::Neg, inner) => match &inner.kind {
            A::Literal(Literal::Int(n)) => Some(Literal::Int(-n)),
            A::Literal(Literal::Float(f)) => Some(Literal::Float(-f)),
            _ => None,
        },
        _ => None,
    }
}

/// The literal `v` as a value of `col`, or E0211.
fn fixture_value(v: &ast::Expr, col: &Column, diags: &mut Vec<Diagnostic>) -> Option<Literal> {
    let Some(lit) = fixture_literal(v) else {
        diags.push(
            Diagnostic::error(
                codes::FIXTURE_MISMATCH,
                v.span,
                "fixture values must be literals",
                "not a literal",
            )
            .with_help("write the value itself, e.g. 42, \"text\", 2024-01-01, null"),
        );
        return None;
    };
    let (lt, _) = literal_type(&lit);
    let fits = lt.unify(col.ty).is_some() || (lt == Type::String && matches!(col.ty, Type::Json));
    if !fits {
        diags.push(
            Diagnostic::error(
                codes::FIXTURE_MISMATCH,
                v.span,
                format!("`{}` is {}, this value is {lt}", col.name, col.ty),
                "wrong type",
            )
            .with_help(format!("write a value of type {}", col.ty)),
        );
        return None;
    }
    if lit == Literal::Null && !col.nullable {
        diags.push(
            Diagnostic::error(
                codes::FIXTURE_MISMATCH,
                v.span,
                format!("`{}` is not nullable", col.name),
                "null in a non-null column",
            )
            .with_help(format!(
                "declare the column as `{}?` or give a value",
                col.ty
            )),
        );
        return None;
    }
    Some(lit)
}

/// A fixture checked against `schema`. Its `defaults` become columns with the same value in every
/// row. A `given` fixture with rows must give every non-nullable column a value.
fn fixture(
    relation: &str,
    schema: &Schema,
    f: &ast::Fixture,
    given: bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<Fixture> {
    let mut columns = Vec::new();
    let mut failed = false;
    let unknown = |name: &ast::Ident, diags: &mut Vec<Diagnostic>| {
        let s = did_you_mean(&name.name, schema.names());
        diags.push(
            Diagnostic::error(
                codes::FIXTURE_MISMATCH,
                name.span,
                format!("`{relation}` has no column `{}`", name.name),
                "not a column of the relation",
            )
            .with_suggestion(
                s,
                format!(
                    "columns of `{relation}`: {}",
                    schema.names().collect::<Vec<_>>().join(", ")
                ),
            ),
        );
    };
    for c in &f.columns {
        match schema.get(&c.name) {
            Some(col) => columns.push(col.clone()),
            None => {
                unknown(c, diags);
                failed = true;
            }
        }
    }
    let mut defaults: Vec<(Column, Literal)> = Vec::new();
    for (i, d) in f.defaults.iter().enumerate() {
        let Some(col) = schema.get(&d.name.name) else {
            unknown(&d.name, diags);
            failed = true;
            continue;
        };
        if let Some(listed) = f.columns.iter().find(|c| c.name == d.name.name) {
            diags.push(
                Diagnostic::error(
                    codes::FIXTURE_MISMATCH,
                    d.name.span,
                    format!("`{}` is listed and also has a default", d.name.name),
                    "default for a listed column",
                )
                .with_label(listed.span, "listed here")
                .with_help("a default is for columns the rows leave out: drop one of the two"),
            );
            failed = true;
            continue;
        }
        if f.defaults[..i].iter().any(|x| x.name.name == d.name.name) {
            diags.push(
                Diagnostic::error(
                    codes::FIXTURE_MISMATCH,
                    d.name.span,
                    format!("`{}` has two defaults", d.name.name),
                    "second default",
                )
                .with_help("give each column one default"),
            );
            failed = true;
            continue;
        }
        match fixture_value(&d.value, col, diags) {
            Some(lit) => defaults.push((col.clone(), lit)),
            None => failed = true,
        }
    }
    if failed {
        return None;
    }
    if given && !f.rows.is_empty() {
        let missing: Vec<&Column> = schema
            .columns
            .iter()
            .filter(|c| !c.nullable)
            .filter(|c| {
                !columns
                    .iter()
                    .chain(defaults.iter().map(|(d, _)| d))
                    .any(|x| x.name == c.name)
            })
            .collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|c| format!("`{}`", c.name)).collect();
            let span = match (f.columns.first(), f.columns.last()) {
                (Some(a), Some(b)) => a.span.to(b.span),
                _ => f.span,
            };
            let example = missing
                .iter()
                .map(|c| format!("{} = {}", c.name, example_value(c.ty)))
                .collect::<Vec<_>>()
                .join(", ");
            diags.push(
                Diagnostic::error(
                    codes::FIXTURE_MISMATCH,
                    span,
                    format!(
                        "fixture for `{relation}` leaves out non-nullable column{} {}",
                        if missing.len() == 1 { "" } else { "s" },
                        names.join(", ")
                    ),
                    "its rows would hold null there",
                )
                .with_help(format!(
                    "list the column with a value in every row, or give one value for all rows after the rows: `defaults {{ {example} }}`"
                )),
            );
            failed = true;
        }
    }
    let mut rows = Vec::new();
    for row in &f.rows {
        if row.values.len() != columns.len() {
            diags.push(
                Diagnostic::error(
                    codes::FIXTURE_MISMATCH,
                    row.span,
                    format!(
                        "row has {} values for {} columns",
                        row.values.len(),
                        columns.len()
                    ),
                    "wrong number of values",
                )
                .with_help(format!(
                    "give one value per column: ({})",
                    columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            failed = true;
            continue;
        }
        let mut values = Vec::new();
        for (v, col) in row.values.iter().zip(&columns) {
            match fixture_value(v, col, diags) {
                Some(lit) => values.push(lit),
                None => failed = true,
            }
        }
        values.extend(defaults.iter().map(|(_, lit)| lit.clone()));
        rows.push(values);
    }
    columns.extend(defaults.into_iter().map(|(c, _)| c));
    (!failed).then(|| Fixture {
        relation: relation.to_string(),
        columns,
        rows,
    })
}

/// A literal of type `ty`, for help texts.
fn example_value(ty: Type) -> &'static str {
    match ty {
        Type::String | Type::Json => "\"x\"",
        Type::Bool => "false",
        Type::Date => "2024-01-01",
        Type::Timestamp => "2024-01-01 00:00",
        Type::Interval => "1h",
        Type::Float | Type::Decimal(..) => "0.0",
        _ => "0",
    }
}

fn test(
    p: &Pipeline,
    t: &ast::TestDecl,
    declared: &[String],
    unit: &Unit,
    diags: &mut Vec<Diagnostic>,
) -> Option<Test> {
    let schema = relation_schema(p, &t.relation, declared, unit, diags).cloned();
    let ds = match &t.ds {
        None => None,
        Some(e) => match &e.kind {
            A::Literal(Literal::Date(d)) => Some(d.clone()),
            _ => {
                diags.push(crate::pipeline::bad_value(
                    e.span,
                    "ds",
                    "a date",
                    "ds 2024-01-01",
                ));
                None
            }
        },
    };
    let mut given = Vec::new();
    let mut failed = false;
    for (q, f) in &t.given {
        match relation_schema(p, q, declared, unit, diags) {
            Some(s) => match fixture(&q.dotted(), s, f, true, diags) {
                Some(fx) => given.push(fx),
                None => failed = true,
            },
            None => failed = true,
        }
    }
    let expect = match (&t.expect, &schema) {
        (Some(f), Some(s)) => match fixture(&t.relation.dotted(), s, f, false, diags) {
            Some(fx) => Some(fx),
            None => {
                failed = true;
                None
            }
        },
        _ => None,
    };
    if t.expect.is_none() {
        diags.push(
            Diagnostic::error(
                codes::FIXTURE_MISMATCH,
                t.name.span,
                format!("test `{}` expects nothing", t.name.name),
                "no `expect` block",
            )
            .with_help(
                "add `expect (columns) { (values) }` with the rows the relation must produce",
            ),
        );
        failed = true;
    }
    schema?;
    (!failed).then(|| Test {
        name: t.name.name.clone(),
        relation: t.relation.dotted(),
        ds,
        given,
        expect,
        span: t.span,
    })
}

/// Relation names a transform body reads, from the syntax (so failed transforms still count).
fn referenced(body: &ast::RelExpr, out: &mut Vec<String>) {
    match &body.head {
        ast::RelHead::Ref(q) => out.push(q.dotted()),
        ast::RelHead::Sql { sql, .. } => out.extend(
            crate::relation::placeholders(&sql.value)
                .into_iter()
                .map(|(n, _)| n),
        ),
        ast::RelHead::Call(c) => {
            if let Some(ast::Arg {
                value: ast::Expr {
                    kind: A::Name(q), ..
                },
                ..
            }) = c.args.first()
            {
                out.push(q.dotted());
            }
        }
    }
    for step in &body.steps {
        match &step.kind {
            ast::StepKind::Join { relation, .. } | ast::StepKind::Union(relation) => {
                out.push(relation.dotted())
            }
            _ => {}
        }
    }
}
