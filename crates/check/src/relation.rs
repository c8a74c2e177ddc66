//! Sources and transforms: schemas, options, and typing of every step.

use std::collections::HashMap;

use pipec_diag::{codes, did_you_mean, Diagnostic, FileId, Span};
use pipec_syntax::ast::{
    self, BinaryOp, ExprKind as A, Item, JoinKind, Literal, RelHead, StepKind as S,
};

use crate::expand;
use crate::expr::{not_boolean, resolve_type, type_expr, unknown_column, ColumnIndex, Scope};
use crate::ir::{
    Column, Compression, CsvOptions, Expr, ExprKind, FileFormat, FileOptions, Head, HttpOptions,
    OnError, Paginate, Pipeline, PostgresRead, Relation, RelationKind, Schema, Side, SortKey,
    Source, Step, StepKind, StreamOptions, Transform, Type, Value,
};
use crate::pipeline::{bad_value, seconds, secret_or_string};
use crate::{Unit, World};

/// Placeholders accepted in path templates.
pub const TEMPLATE_VARS: &[&str] = &["ds", "ds_nodash", "yyyy", "mm", "dd", "hh", "start", "end"];

/// Source kinds.
pub const SOURCE_KINDS: &[&str] = &[
    "calendar", "csv", "ndjson", "json", "parquet", "http", "postgres", "table", "kafka", "kinesis",
];

/// Deepest define expansion (defines applying defines).
const MAX_EXPANSION: usize = 16;

enum State {
    Visiting,
    Done(Option<Schema>),
}

struct Cx<'w, 'u> {
    world: &'w World<'w>,
    file: FileId,
    decls: HashMap<&'u str, &'u Item>,
    order: Vec<&'u str>,
    state: HashMap<String, State>,
    stack: Vec<(String, Span)>,
    relations: Vec<Relation>,
    broken: &'u [String],
    expansion_depth: usize,
    /// The step just checked failed (so `out` does not end with it).
    last_failed: bool,
}

/// Types every source and transform of the file into `p.relations` (dependency order).
pub(crate) fn check_relations(
    world: &World<'_>,
    file: FileId,
    unit: &Unit,
    p: &mut Pipeline,
    diags: &mut Vec<Diagnostic>,
) {
    let mut cx = Cx {
        world,
        file,
        decls: HashMap::new(),
        order: Vec::new(),
        state: HashMap::new(),
        stack: Vec::new(),
        relations: Vec::new(),
        broken: &unit.broken,
        expansion_depth: 0,
        last_failed: false,
    };
    for item in &unit.module.items {
        let name = match item {
            Item::Source(s) => &s.name,
            Item::Transform(t) => &t.name,
            _ => continue,
        };
        // Relations become tables of the engine, whose names ignore case.
        let prev = cx
            .order
            .iter()
            .find(|k| crate::ir::same_name(k, &name.name))
            .and_then(|k| cx.decls.get(k));
        if let Some(prev) = prev {
            let prev_name = match prev {
                Item::Source(s) => &s.name,
                Item::Transform(t) => &t.name,
                _ => name,
            };
            let (message, help) = if prev_name.name == name.name {
                (
                    format!("`{}` is declared twice", name.name),
                    "rename one of them",
                )
            } else {
                (
                    format!(
                        "`{}` and `{}` differ only in case",
                        prev_name.name, name.name
                    ),
                    "rename one of them: relation names are case-insensitive on every engine",
                )
            };
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_NAME,
                    name.span,
                    message,
                    "second declaration",
                )
                .with_label(prev_name.span, "first declared here")
                .with_help(help),
            );
            continue;
        }
        cx.decls.insert(&name.name, item);
        cx.order.push(&name.name);
    }
    let order = cx.order.clone();
    for name in order {
        cx.resolve(name, None, diags);
    }
    p.relations = cx.relations;
}

impl<'w, 'u> Cx<'w, 'u> {
    /// The schema of relation `name`, typing it first if needed. `None` after an error.
    fn resolve(
        &mut self,
        name: &str,
        used_at: Option<Span>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Schema> {
        match self.state.get(name) {
            Some(State::Done(s)) => return s.clone(),
            Some(State::Visiting) => {
                let at = used_at.unwrap_or_default();
                let pos = self.stack.iter().position(|(n, _)| n == name).unwrap_or(0);
                let mut path: Vec<String> =
                    self.stack[pos..].iter().map(|(n, _)| n.clone()).collect();
                path.push(name.to_string());
                let mut d = Diagnostic::error(codes::CYCLE, at, format!("dependency cycle: {}", path.join(" -> ")), format!("`{name}` depends on itself through this reference"))
                    .with_help("a transform cannot read its own output; break the cycle by reading a source or a table written by another run");
                for (n, sp) in &self.stack[pos + 1..] {
                    d = d.with_label(*sp, format!("`{n}` is used here"));
                }
                diags.push(d);
                return None;
            }
            None => {}
        }
        let &item = self.decls.get(name)?;
        self.state.insert(name.to_string(), State::Visiting);
        self.stack
            .push((name.to_string(), used_at.unwrap_or_default()));
        let result = match item {
            Item::Source(s) => self.source(s, diags),
            Item::Transform(t) => self.transform(t, diags),
            _ => None,
        };
        self.stack.pop();
        // A source whose options are wrong still declares its columns: keep checking its readers.
        let declared = match item {
            Item::Source(src) if result.is_none() => src
                .schema
                .as_ref()
                .and_then(|fields| schema_block(fields, &mut Vec::new())),
            _ => None,
        };
        let schema = result.as_ref().map(|r| r.schema.clone()).or(declared);
        if let Some(r) = result {
            self.relations.push(r);
        }
        self.state
            .insert(name.to_string(), State::Done(schema.clone()));
        schema
    }

    /// Resolves a relation reference, reporting unknown names with a suggestion.
    fn reference(&mut self, q: &ast::QName, diags: &mut Vec<Diagnostic>) -> Option<Schema> {
        let name = q.dotted();
        if q.parts.len() == 1 && self.decls.contains_key(name.as_str()) {
            return self.resolve(&name, Some(q.span), diags);
        }
        if self.broken.contains(&name) {
            return None;
        }
        let s = did_you_mean(&name, self.order.iter().copied());
        let help = if q.parts.len() > 1 {
            format!("to read the warehouse table `{name}`, declare it: `source {} = table(\"{name}\") {{ ... }}`", q.last().name)
        } else {
            "declare it with `source` or `transform` in this file".to_string()
        };
        diags.push(
            Diagnostic::error(
                codes::UNKNOWN_RELATION,
                q.span,
                format!("unknown relation `{name}`"),
                "not declared in this pipeline",
            )
            .with_suggestion(s, help),
        );
        None
    }

    fn source(&mut self, s: &ast::SourceDecl, diags: &mut Vec<Diagnostic>) -> Option<Relation> {
        let declared = s.schema.as_ref().map(|fields| schema_block(fields, diags));
        let mut origin = source_origin(&s.origin, diags);
        if !crate::retention::source(&s.retention, origin.as_mut(), diags) {
            return None;
        }
        let schema = match (&origin, declared) {
            (Some(Source::Table { table }), declared) => {
                self.table_schema(s, table, declared, diags)
            }
            (_, Some(schema)) => schema,
            // The origin's errors are reported; without its kind, a missing schema says little.
            (None, None) => return None,
            (Some(_), None) => {
                diags.push(
                    Diagnostic::error(
                        codes::NO_SCHEMA,
                        s.origin.span,
                        format!("source `{}` has no schema", s.name.name),
                        "expected `{` and a schema after this",
                    )
                    .with_help("a source declares its columns after the call: `{ id: int, name: string, at: timestamp? }`; only `table(...)` of a table written by a pipeline of the project may leave them out"),
                );
                return None;
            }
        };
        if let (
            Some(Source::Postgres {
                incremental: Some(col),
                ..
            }),
            Some(sc),
        ) = (&origin, &schema)
        {
            if sc.get(col).is_none() {
                let at = s
                    .origin
                    .named("incremental")
                    .map_or(s.origin.span, |a| a.value.span);
                let sug = did_you_mean(col, sc.names());
                diags.push(
                    Diagnostic::error(
                        codes::KEY_NOT_IN_RELATION,
                        at,
                        format!(
                            "incremental column `{col}` is not in the schema of `{}`",
                            s.name.name
                        ),
                        "not a declared column",
                    )
                    .with_suggestion(sug, "declare the watermark column in the source's schema"),
                );
                return None;
            }
        }
        if let (Some(Source::Calendar { .. }), Some(sc)) = (&origin, &schema) {
            let ok = sc.columns.len() == 1
                && sc.columns[0].name == "day"
                && sc.columns[0].ty == Type::Date
                && !sc.columns[0].nullable;
            if !ok {
                diags.push(bad_value(
                    s.span,
                    "calendar",
                    "the schema `{ day: date }`",
                    "source days = calendar(from = 2024-01-01, to = 2024-12-31) { day: date }",
                ));
                return None;
            }
        }
        Some(Relation {
            name: s.name.name.clone(),
            span: s.name.span,
            schema: schema?,
            kind: RelationKind::Source(origin?),
        })
    }

    /// The schema of a `table("...")` source: the schema of the sink that writes the table in
    /// this project (a declared block must agree with it), else the declared one. `declared` is
    /// `None` without a schema block, `Some(None)` when the block has errors. `None` after an error.
    fn table_schema(
        &self,
        s: &ast::SourceDecl,
        table: &str,
        declared: Option<Option<Schema>>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Schema> {
        let key = crate::table_key(table);
        let written = match (self.world.tables.get(&key), declared) {
            (Some(Some(t)), None) => return Some(t.schema.clone()),
            (Some(Some(t)), Some(declared)) => (t, declared?),
            // The writing sink did not check: its errors are reported there.
            (Some(None), declared) => return declared.flatten(),
            (None, Some(declared)) => return declared,
            (None, None) => {
                let (label, help) = if self.world.written.contains(&key) {
                    (
                        "its writer reads this pipeline's tables too (a cycle)".to_string(),
                        "declare the schema block here, or break the cycle between the pipelines"
                            .to_string(),
                    )
                } else {
                    (
                        format!("no pipeline checked with this one writes `{table}`"),
                        format!("declare its columns: `source {} = table(\"{table}\") {{ id: int, ... }}`, or check the pipeline that writes it together with this one (`pipec check <folder>`)", s.name.name),
                    )
                };
                diags.push(
                    Diagnostic::error(
                        codes::NO_SCHEMA,
                        s.origin.span,
                        format!("source `{}` has no schema", s.name.name),
                        label,
                    )
                    .with_help(help),
                );
                return None;
            }
        };
        let (written, declared) = written;
        let fields = s.schema.as_deref().unwrap_or_default();
        let field_span = |name: &str| {
            fields
                .iter()
                .find(|f| crate::ir::same_name(&f.name.name, name))
                .map_or(s.name.span, |f| f.name.span)
        };
        let mut ok = true;
        let mut mismatch = |span: Span, message: String, label: String| {
            diags.push(
                Diagnostic::error(codes::SINK_SCHEMA_MISMATCH, span, message, label)
                    .with_label(written.sink, format!("`{table}` is written here"))
                    .with_help(format!("make the schema block agree with the sink of pipeline `{}`, or leave the block out to take the sink's schema", written.pipeline)),
            );
            ok = false;
        };
        for w in &written.schema.columns {
            match declared.get(&w.name) {
                None => mismatch(
                    s.origin.span,
                    format!("column `{}` of `{table}` is not declared", w.name),
                    format!(
                        "`{table}` has `{}: {}{}`",
                        w.name,
                        w.ty,
                        if w.nullable { "?" } else { "" }
                    ),
                ),
                Some(d) if d.ty != w.ty || (w.nullable && !d.nullable) => {
                    mismatch(
                        field_span(&d.name),
                        format!(
                            "column `{}` is declared {} but `{table}` has {}",
                            d.name,
                            type_text(d),
                            type_text(w)
                        ),
                        format!("`{table}` has {}", type_text(w)),
                    );
                }
                Some(_) => {}
            }
        }
        for d in &declared.columns {
            if written.schema.get(&d.name).is_none() {
                mismatch(
                    field_span(&d.name),
                    format!("column `{}` is not in `{table}`", d.name),
                    format!("`{table}` has no such column"),
                );
            }
        }
        ok.then_some(declared)
    }

    fn transform(
        &mut self,
        t: &ast::TransformDecl,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Relation> {
        let (head, schema) = self.head(&t.body.head, diags)?;
        self.last_failed = false;
        let head_name = match &head {
            Head::Relation(n) => Some(n.clone()),
            Head::Sql { .. } => None,
        };
        let mut steps = Vec::new();
        let schema = self.steps(
            &t.body.steps,
            schema,
            head_name.as_deref(),
            &mut steps,
            diags,
        )?;
        Some(Relation {
            name: t.name.name.clone(),
            span: t.name.span,
            schema,
            kind: RelationKind::Transform(Transform { head, steps }),
        })
    }

    fn head(&mut self, head: &RelHead, diags: &mut Vec<Diagnostic>) -> Option<(Head, Schema)> {
        match head {
            RelHead::Ref(q) => {
                let schema = self.reference(q, diags)?;
                Some((Head::Relation(q.dotted()), schema))
            }
            RelHead::Sql { sql, schema } => {
                let quote = if self.world.sources.get(sql.span.file).text[sql.span.start as usize..]
                    .starts_with("\"\"\"")
                {
                    3
                } else {
                    1
                };
                let mut refs = Vec::new();
                let mut ok = true;
                for (name, offset) in placeholders(&sql.value) {
                    if TEMPLATE_VARS.contains(&name.as_str()) {
                        continue;
                    }
                    if self.decls.contains_key(name.as_str()) {
                        let at = Span::new(
                            sql.span.file,
                            sql.span.start as usize + quote + offset,
                            sql.span.start as usize + quote + offset + name.len() + 2,
                        );
                        if self.resolve(&name, Some(at), diags).is_none() {
                            ok = false;
                        }
                        if !refs.contains(&name) {
                            refs.push(name);
                        }
                    } else {
                        let start = sql.span.start as usize + quote + offset;
                        let span = Span::new(sql.span.file, start, start + name.len() + 2);
                        let cands = self
                            .order
                            .iter()
                            .copied()
                            .chain(TEMPLATE_VARS.iter().copied());
                        let s = did_you_mean(&name, cands);
                        diags.push(
                            Diagnostic::error(codes::UNKNOWN_RELATION, span, format!("unknown relation `{name}` in SQL"), "not a relation or run parameter")
                                .with_suggestion(s, "`{name}` in SQL names a relation of this pipeline or a run parameter; write `{{` for a literal brace"),
                        );
                        ok = false;
                    }
                }
                let schema = schema_block(schema, diags)?;
                ok.then(|| {
                    (
                        Head::Sql {
                            sql: sql.value.clone(),
                            refs,
                        },
                        schema,
                    )
                })
            }
            RelHead::Call(call) => {
                // `define_name(relation, args...)` as a head: the same as `relation | define_name(args...)`.
                let Some(first) = call.args.first().filter(|a| a.name.is_none()) else {
                    diags.push(
                        Diagnostic::error(
                            codes::BAD_ARGUMENTS,
                            call.span,
                            format!(
                                "`{}` needs a relation as its first argument",
                                call.name.dotted()
                            ),
                            "no input relation",
                        )
                        .with_help("write `relation | transform_name(args)`"),
                    );
                    return None;
                };
                let A::Name(q) = &first.value.kind else {
                    diags.push(
                        Diagnostic::error(
                            codes::BAD_ARGUMENTS,
                            first.value.span,
                            "the first argument must name a relation",
                            "not a relation",
                        )
                        .with_help("write `relation | transform_name(args)`"),
                    );
                    return None;
                };
                let schema = self.reference(q, diags)?;
                let _ = schema;
                diags.push(
                    Diagnostic::error(
                        codes::BAD_ARGUMENTS,
                        call.span,
                        "a transform cannot start with a call",
                        "write the relation first",
                    )
                    .with_help(format!(
                        "write `{} | {}(...)`",
                        q.dotted(),
                        call.name.dotted()
                    )),
                );
                None
            }
        }
    }

    fn steps(
        &mut self,
        steps: &[ast::Step],
        mut cur: Schema,
        head_name: Option<&str>,
        out: &mut Vec<Step>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Schema> {
        let mut ok = true;
        for step in steps {
            let result = self.step(step, &cur, head_name, out, diags);
            self.last_failed = result.is_none();
            match result {
                Some(next) => cur = next,
                // These steps keep their input's columns, so later steps can still be checked.
                None if matches!(
                    step.kind,
                    S::Filter(_) | S::Sort(_) | S::Take(_) | S::Distinct
                ) =>
                {
                    ok = false
                }
                None => return None,
            }
        }
        ok.then_some(cur)
    }

    fn step(
        &mut self,
        step: &ast::Step,
        cur: &Schema,
        head_name: Option<&str>,
        out: &mut Vec<Step>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Schema> {
        let rows = Scope::rows(cur);
        let (kind, schema) = match &step.kind {
            S::Filter(cond) => {
                let e = type_expr(cond, &rows, diags)?;
                if !matches!(e.ty, Type::Bool | Type::Null) {
                    diags.push(not_boolean(cond.span, e.ty, "a filter condition"));
                    return None;
                }
                let mut schema = cur.clone();
                refine_not_null(&e, &mut schema);
                (StepKind::Filter(e), schema)
            }
            S::Derive(assigns) => {
                let mut schema = cur.clone();
                // Each assignment adds a column the next ones can read: look names up in an
                // index kept in step, so a derive of many columns stays linear.
                let mut index = ColumnIndex::new(&schema);
                let mut typed = Vec::new();
                let mut failed = false;
                for a in assigns {
                    if let Some(existing) = index.get(&schema, &a.name.name) {
                        if existing.name != a.name.name {
                            diags.push(case_duplicate(&a.name, &existing.name, true));
                            failed = true;
                            continue;
                        }
                    }
                    let scope = Scope {
                        index: Some(&index),
                        ..Scope::rows(&schema)
                    };
                    match type_expr(&a.value, &scope, diags) {
                        Some(e) => {
                            index.set(
                                &mut schema,
                                Column {
                                    name: a.name.name.clone(),
                                    ty: concrete(e.ty),
                                    nullable: e.nullable,
                                },
                            );
                            typed.push((a.name.name.clone(), e));
                        }
                        None => failed = true,
                    }
                }
                if failed {
                    return None;
                }
                (StepKind::Derive(typed), schema)
            }
            S::Select(items) => {
                let mut schema = Schema::default();
                let mut typed = Vec::new();
                let mut failed = false;
                for item in items {
                    let name = match (&item.name, &item.value.kind) {
                        (Some(n), _) => n.clone(),
                        (None, A::Name(q)) => q.last().clone(),
                        (None, _) => {
                            diags.push(
                                Diagnostic::error(
                                    codes::UNNAMED_EXPRESSION,
                                    item.value.span,
                                    "this expression needs a name",
                                    "unnamed",
                                )
                                .with_help("name it: `select total = price * qty`"),
                            );
                            failed = true;
                            continue;
                        }
                    };
                    let Some(e) = type_expr(&item.value, &rows, diags) else {
                        failed = true;
                        continue;
                    };
                    // `select FOO` keeps the column's declared spelling.
                    let name = match (&item.name, &e.kind) {
                        (None, ExprKind::Column { name: declared, .. }) => ast::Ident {
                            name: declared.clone(),
                            span: name.span,
                        },
                        _ => name,
                    };
                    if let Some(first) = schema.get(&name.name) {
                        diags.push(duplicate_column(&name, &first.name));
                        failed = true;
                        continue;
                    }
                    schema.columns.push(Column {
                        name: name.name.clone(),
                        ty: concrete(e.ty),
                        nullable: e.nullable,
                    });
                    typed.push((name.name.clone(), e));
                }
                if failed {
                    return None;
                }
                (StepKind::Select(typed), schema)
            }
            S::SelectExcept(names) => {
                let mut schema = cur.clone();
                let mut failed = false;
                for n in names {
                    if schema.get(&n.name).is_none() {
                        diags.push(unknown_column(n, &cur.names().collect::<Vec<_>>()));
                        failed = true;
                    }
                    schema
                        .columns
                        .retain(|c| !crate::ir::same_name(&c.name, &n.name));
                }
                if failed {
                    return None;
                }
                let typed = schema
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), column_ref(c, None)))
                    .collect();
                (StepKind::Select(typed), schema)
            }
            S::Join {
                kind,
                relation,
                alias,
                cond,
            } => self.join(
                *kind,
                relation,
                alias.as_ref(),
                cond,
                cur,
                head_name,
                step.span,
                diags,
            )?,
            S::Group { keys, aggregates } => {
                let mut schema = Schema::default();
                let mut typed_keys = Vec::new();
                let mut failed = false;
                for k in keys {
                    let A::Name(q) = &k.kind else {
                        diags.push(
                            Diagnostic::error(codes::UNNAMED_EXPRESSION, k.span, "a group key must be a column", "computed key")
                                .with_help("compute it first: `derive day = date_trunc(\"day\", ts) | group day { ... }`"),
                        );
                        failed = true;
                        continue;
                    };
                    let Some(e) = type_expr(k, &rows, diags) else {
                        failed = true;
                        continue;
                    };
                    let name = match &e.kind {
                        ExprKind::Column { name, .. } => name.clone(),
                        _ => q.last().name.clone(),
                    };
                    if let Some(first) = schema.get(&name) {
                        diags.push(duplicate_column(q.last(), &first.name));
                        failed = true;
                        continue;
                    }
                    schema.columns.push(Column {
                        name: name.clone(),
                        ty: e.ty,
                        nullable: e.nullable,
                    });
                    typed_keys.push((name, e));
                }
                let key_names: Vec<String> = typed_keys.iter().map(|(n, _)| n.clone()).collect();
                let aggs = aggregates_of(aggregates, cur, &key_names, &mut schema, diags);
                if failed {
                    return None;
                }
                (
                    StepKind::Group {
                        keys: typed_keys,
                        aggregates: aggs?,
                    },
                    schema,
                )
            }
            S::Aggregate(aggregates) => {
                let mut schema = Schema::default();
                let aggs = aggregates_of(aggregates, cur, &[], &mut schema, diags)?;
                (
                    StepKind::Group {
                        keys: Vec::new(),
                        aggregates: aggs,
                    },
                    schema,
                )
            }
            S::Sort(keys) => {
                let typed = sort_keys(keys, &rows, diags)?;
                (StepKind::Sort(typed), cur.clone())
            }
            S::Take(n) => match &n.kind {
                A::Literal(Literal::Int(v)) if *v >= 0 => {
                    let sorted = matches!(out.last().map(|s| &s.kind), Some(StepKind::Sort(_)));
                    if !sorted && !self.last_failed {
                        diags.push(take_without_sort(step.span));
                    }
                    (StepKind::Take(*v as u64), cur.clone())
                }
                _ => {
                    diags.push(bad_value(
                        n.span,
                        "take",
                        "a whole number of rows",
                        "take 10",
                    ));
                    return None;
                }
            },
            S::Distinct => (StepKind::Distinct, cur.clone()),
            S::Union(q) => {
                let other = self.reference(q, diags)?;
                let same_names = other.columns.len() == cur.columns.len()
                    && other
                        .columns
                        .iter()
                        .zip(&cur.columns)
                        .all(|(a, b)| crate::ir::same_name(&a.name, &b.name));
                if !same_names {
                    let left: Vec<&str> = cur.names().collect();
                    let right: Vec<&str> = other.names().collect();
                    diags.push(
                        Diagnostic::error(codes::UNION_MISMATCH, q.span, format!("`{}` has different columns", q.dotted()), format!("has ({})", right.join(", ")))
                            .with_help(format!("both sides need the same columns in the same order: ({}); use `select` on one side", left.join(", "))),
                    );
                    return None;
                }
                let mut schema = cur.clone();
                for (c, o) in schema.columns.iter_mut().zip(&other.columns) {
                    match c.ty.unify(o.ty) {
                        Some(t) => c.ty = t,
                        None => {
                            diags.push(
                                Diagnostic::error(
                                    codes::UNION_MISMATCH,
                                    q.span,
                                    format!(
                                        "column `{}` is {} on one side and {} on the other",
                                        c.name, c.ty, o.ty
                                    ),
                                    "incompatible column",
                                )
                                .with_help("cast one side with `derive x = x::type`"),
                            );
                            return None;
                        }
                    }
                    c.nullable |= o.nullable;
                }
                (StepKind::Union(q.dotted()), schema)
            }
            S::Window {
                partition,
                order,
                frame,
                functions,
            } => {
                let mut part = Vec::new();
                let mut failed = false;
                let frame = match frame {
                    Some(f) => match window_frame(f, !order.is_empty()) {
                        Ok(fr) => Some(fr),
                        Err(d) => {
                            diags.push(d);
                            failed = true;
                            None
                        }
                    },
                    None => None,
                };
                for p in partition {
                    match type_expr(p, &rows, diags) {
                        Some(e) => part.push(e),
                        None => failed = true,
                    }
                }
                let ord = sort_keys(order, &rows, diags);
                let wscope = Scope {
                    schema: cur,
                    left_names: Vec::new(),
                    right: None,
                    aggregates: true,
                    windows: true,
                    in_aggregate: false,
                    index: None,
                };
                let mut schema = cur.clone();
                let mut funcs = Vec::new();
                for f in functions {
                    if let Some(d) = case_clash(&schema, &f.name) {
                        diags.push(d);
                        failed = true;
                        continue;
                    }
                    match type_expr(&f.value, &wscope, diags) {
                        Some(mut e) => {
                            // A frame without the current row may be empty: no first/last value.
                            if frame.is_some_and(|f| f.start.offset() > 0 || f.end.offset() < 0) {
                                let mut picks = false;
                                e.walk(&mut |x| {
                                    picks |= matches!(
                                        x.kind,
                                        ExprKind::Call {
                                            func: crate::ir::Builtin::FirstValue
                                                | crate::ir::Builtin::LastValue,
                                            ..
                                        }
                                    )
                                });
                                e.nullable |= picks;
                            }
                            schema.set(Column {
                                name: f.name.name.clone(),
                                ty: concrete(e.ty),
                                nullable: e.nullable,
                            });
                            if order.is_empty() {
                                if let Some(func) = order_dependent(&e) {
                                    diags.push(window_without_order(f.value.span, func));
                                }
                            }
                            funcs.push((f.name.name.clone(), e));
                        }
                        None => failed = true,
                    }
                }
                if failed {
                    return None;
                }
                (
                    StepKind::Window {
                        partition: part,
                        order: ord?,
                        frame,
                        functions: funcs,
                    },
                    schema,
                )
            }
            S::Apply(call) => return self.apply(call, cur, head_name, out, diags),
        };
        out.push(Step {
            kind,
            schema: schema.clone(),
            span: step.span,
        });
        Some(schema)
    }

    fn apply(
        &mut self,
        call: &ast::Call,
        cur: &Schema,
        head_name: Option<&str>,
        out: &mut Vec<Step>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Schema> {
        let name = call.name.dotted();
        let Some((def_file, def)) = self.world.define(self.file, &name) else {
            let names = self.world.define_names(self.file);
            let s = did_you_mean(&name, names.iter().map(String::as_str));
            let help = if names.is_empty() {
                "import reusable transforms first, e.g. `import std.dedupe`".to_string()
            } else {
                format!("transforms in scope: {}", names.join(", "))
            };
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_FUNCTION,
                    call.name.span,
                    format!("unknown transform `{name}`"),
                    "not a step or a defined transform",
                )
                .with_suggestion(s, help),
            );
            return None;
        };
        if self.expansion_depth >= MAX_EXPANSION {
            diags.push(
                Diagnostic::error(
                    codes::CYCLE,
                    call.span,
                    format!("`{name}` expands into itself"),
                    "recursive define",
                )
                .with_help("a define cannot apply itself, directly or through others"),
            );
            return None;
        }
        let steps = expand::relation_define(def, call, cur, diags)?;
        let prev_file = self.file;
        self.file = def_file;
        self.expansion_depth += 1;
        let before = diags.len();
        let result = self.steps(&steps, cur.clone(), head_name, out, diags);
        self.expansion_depth -= 1;
        self.file = prev_file;
        if diags.len() > before {
            for d in &mut diags[before..] {
                if !d.labels.iter().any(|l| l.span == call.span) {
                    d.labels.push(pipec_diag::Label {
                        span: call.span,
                        message: format!("in this use of `{name}`"),
                    });
                }
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn join(
        &mut self,
        kind: JoinKind,
        relation: &ast::QName,
        alias: Option<&ast::Ident>,
        cond: &ast::JoinCond,
        cur: &Schema,
        head_name: Option<&str>,
        step_span: Span,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<(StepKind, Schema)> {
        let right = self.reference(relation, diags)?;
        let right_name = relation.dotted();
        let alias_name = alias
            .map(|a| a.name.clone())
            .unwrap_or_else(|| relation.last().name.clone());
        let mut left_names = vec!["this", "left"];
        if let Some(h) = head_name {
            left_names.push(h);
        }
        let right_names = vec![alias_name.as_str(), "that", "right"];
        let scope = Scope {
            schema: cur,
            left_names,
            right: Some((right_names, &right)),
            aggregates: false,
            windows: false,
            in_aggregate: false,
            index: None,
        };
        let mut shared: Vec<String> = Vec::new();
        let on = match cond {
            ast::JoinCond::Using(cols) => {
                let mut conj: Option<Expr> = None;
                let mut failed = false;
                for c in cols {
                    let (l, r) = (cur.get(&c.name), right.get(&c.name));
                    let (Some(l), Some(r)) = (l, r) else {
                        let side = if l.is_none() { cur } else { &right };
                        let text = &self.world.sources.get(c.span.file).text;
                        diags.push(match (l, r) {
                            (None, None) => unknown_column(c, &side.names().collect::<Vec<_>>()),
                            _ => crate::expr::using_one_side(
                                c,
                                cols.len(),
                                (cur, &right),
                                &right_name,
                                text,
                            ),
                        });
                        failed = true;
                        continue;
                    };
                    if !l.ty.comparable(r.ty) {
                        diags.push(incomparable(c.span, c.span, l.ty, r.ty));
                        failed = true;
                        continue;
                    }
                    shared.push(l.name.clone());
                    let eq = Expr {
                        kind: ExprKind::Binary(
                            BinaryOp::Eq,
                            Box::new(column_ref(l, Some(Side::Left))),
                            Box::new(column_ref(r, Some(Side::Right))),
                        ),
                        ty: Type::Bool,
                        nullable: l.nullable || r.nullable,
                    };
                    conj = Some(and(conj, eq));
                }
                if failed {
                    return None;
                }
                conj?
            }
            ast::JoinCond::On(e) => {
                let mut conj: Option<Expr> = None;
                let mut failed = false;
                for part in conjuncts(e) {
                    if let A::Binary(BinaryOp::Eq, a, b) = &part.kind {
                        let ta = type_expr(a, &scope, diags);
                        let tb = type_expr(b, &scope, diags);
                        let (Some(ta), Some(tb)) = (ta, tb) else {
                            failed = true;
                            continue;
                        };
                        if !ta.ty.comparable(tb.ty) {
                            diags.push(incomparable(a.span, b.span, ta.ty, tb.ty));
                            failed = true;
                            continue;
                        }
                        if let (
                            ExprKind::Column { name: x, side: sx },
                            ExprKind::Column { name: y, side: sy },
                        ) = (&ta.kind, &tb.kind)
                        {
                            if crate::ir::same_name(x, y) && sx != sy {
                                shared.push(if *sx == Some(Side::Left) { x } else { y }.clone());
                            }
                        }
                        let nullable = ta.nullable || tb.nullable;
                        let eq = Expr {
                            kind: ExprKind::Binary(BinaryOp::Eq, Box::new(ta), Box::new(tb)),
                            ty: Type::Bool,
                            nullable,
                        };
                        conj = Some(and(conj, eq));
                    } else {
                        let Some(t) = type_expr(part, &scope, diags) else {
                            failed = true;
                            continue;
                        };
                        if !matches!(t.ty, Type::Bool | Type::Null) {
                            diags.push(not_boolean(part.span, t.ty, "a join condition"));
                            failed = true;
                            continue;
                        }
                        conj = Some(and(conj, t));
                    }
                }
                if failed {
                    return None;
                }
                conj?
            }
        };
        let mut schema = cur.clone();
        if matches!(kind, JoinKind::Right | JoinKind::Full) {
            for c in &mut schema.columns {
                c.nullable = true;
            }
        }
        let mut right_columns = Vec::new();
        let mut clashes: Vec<&str> = Vec::new();
        for c in &right.columns {
            if shared.iter().any(|n| crate::ir::same_name(n, &c.name)) {
                continue;
            }
            if cur.get(&c.name).is_some() {
                clashes.push(&c.name);
                continue;
            }
            let nullable = c.nullable || matches!(kind, JoinKind::Left | JoinKind::Full);
            schema.columns.push(Column {
                name: c.name.clone(),
                ty: c.ty,
                nullable,
            });
            right_columns.push(c.name.clone());
        }
        // One diagnostic for all the columns a join would duplicate.
        if let Some(first) = clashes.first() {
            let names = clashes.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>();
            let (message, label, help) = if clashes.len() == 1 {
                (
                    format!("column `{first}` is on both sides of the join"),
                    format!("`{right_name}` also has `{first}`"),
                    format!("rename it on one side first (`derive {first}_2 = {first} | select except {first}`), or join `using ({first})` if it is a key"),
                )
            } else {
                let listed = join_and(&names);
                (
                    format!("columns {listed} are on both sides of the join"),
                    format!("`{right_name}` also has {listed}"),
                    format!("rename them on one side first (`derive {first}_2 = {first} | select except {first}`, and so on), or join `using (...)` on those that are keys"),
                )
            };
            // `Station_ID` on the right and `station_id` on the left are one name on every engine.
            let case_only = clashes
                .iter()
                .filter_map(|n| cur.get(n).filter(|l| l.name != *n).map(|l| (n, &l.name)))
                .map(|(r, l)| format!("`{r}` is `{l}` on the left"))
                .collect::<Vec<_>>();
            let help = if case_only.is_empty() {
                help
            } else {
                format!(
                    "{help}; names that differ only in case are one column on every engine ({})",
                    case_only.join(", ")
                )
            };
            diags.push(
                Diagnostic::error(codes::JOIN_CONFLICT, relation.span, message, label)
                    .with_label(step_span, "in this join")
                    .with_help(help),
            );
            return None;
        }
        Some((
            StepKind::Join {
                kind,
                right: right_name,
                on,
                right_columns,
            },
            schema,
        ))
    }
}

/// `take` not right after `sort` keeps whichever rows the engine yields first.
fn take_without_sort(span: Span) -> Diagnostic {
    Diagnostic::warning(
        codes::TAKE_WITHOUT_SORT,
        span,
        "`take` without `sort` keeps arbitrary rows",
        "the rows kept can differ between runs and engines",
    )
    .with_help("put a `sort` right before `take` whose keys make the order unique, e.g. `sort rides desc, station_id | take 10`")
}

/// The first window function in `e` whose result depends on the row order.
fn order_dependent(e: &Expr) -> Option<crate::ir::Builtin> {
    use crate::ir::Builtin as B;
    let mut found = None;
    e.walk(&mut |x| {
        if let ExprKind::Call { func, .. } = &x.kind {
            if found.is_none()
                && matches!(
                    func,
                    B::RowNumber | B::Ntile | B::Lag | B::Lead | B::FirstValue | B::LastValue
                )
            {
                found = Some(*func);
            }
        }
    });
    found
}

/// `row_number()` (or `lag`, ...) in a window without `order` numbers rows in arbitrary order.
fn window_without_order(span: Span, func: crate::ir::Builtin) -> Diagnostic {
    Diagnostic::warning(
        codes::WINDOW_WITHOUT_ORDER,
        span,
        format!("`{func}` in a window without `order` depends on an arbitrary row order"),
        "the result can differ between runs and engines",
    )
    .with_help("add `order` with keys that are unique within each partition, e.g. `window partition station_id order rented_at, rental_id { ... }`")
}

/// `int?`: a column's type with its nullability.
fn type_text(c: &Column) -> String {
    format!("{}{}", c.ty, if c.nullable { "?" } else { "" })
}

/// `a`, `b` and `c`.
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {}", init.join(", "), last),
    }
}

fn incomparable(a: Span, b: Span, ta: Type, tb: Type) -> Diagnostic {
    let label = if a == b {
        format!("{ta} on the left, {tb} on the right")
    } else {
        format!("this is {ta}")
    };
    let d = Diagnostic::error(
        codes::JOIN_KEYS_INCOMPARABLE,
        a,
        "join keys are not comparable",
        label,
    );
    let d = if a != b {
        d.with_label(b, format!("this is {tb}"))
    } else {
        d
    };
    d.with_help(format!(
        "cast one key so both are the same type, e.g. `derive k = k::{ta}` before the join"
    ))
}

fn and(acc: Option<Expr>, e: Expr) -> Expr {
    match acc {
        None => e,
        Some(a) => {
            let nullable = a.nullable || e.nullable;
            Expr {
                kind: ExprKind::Binary(BinaryOp::And, Box::new(a), Box::new(e)),
                ty: Type::Bool,
                nullable,
            }
        }
    }
}

fn conjuncts(e: &ast::Expr) -> Vec<&ast::Expr> {
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(x) = stack.pop() {
        match &x.kind {
            A::Binary(BinaryOp::And, a, b) => {
                stack.push(b);
                stack.push(a);
            }
            _ => out.push(x),
        }
    }
    out
}

pub(crate) fn column_ref(c: &Column, side: Option<Side>) -> Expr {
    Expr {
        kind: ExprKind::Column {
            name: c.name.clone(),
            side,
        },
        ty: c.ty,
        nullable: c.nullable,
    }
}

/// A bare `null` gets a concrete column type (string) when it becomes a column.
fn concrete(t: Type) -> Type {
    if t == Type::Null {
        Type::String
    } else {
        t
    }
}

/// `name` repeats the column `first` of the same relation (possibly spelled with other case).
fn duplicate_column(name: &ast::Ident, first: &str) -> Diagnostic {
    if first != name.name {
        return case_duplicate(name, first, false);
    }
    Diagnostic::error(
        codes::DUPLICATE_COLUMN,
        name.span,
        format!("column `{}` appears twice", name.name),
        "duplicate column",
    )
    .with_help("give each column its own name")
}

/// E0112 for a name that is `first` spelled with other case; `replaces`: a `derive` or `window`,
/// where writing the same spelling would replace the column.
fn case_duplicate(name: &ast::Ident, first: &str, replaces: bool) -> Diagnostic {
    let or_replace = if replaces {
        format!(", or write `{first}` to replace that column")
    } else {
        String::new()
    };
    Diagnostic::error(
        codes::DUPLICATE_COLUMN,
        name.span,
        format!("columns `{first}` and `{}` differ only in case", name.name),
        format!("the same column as `{first}` on every engine"),
    )
    .with_help(format!(
        "column names are case-insensitive in DuckDB, Spark, Athena and Glue: rename `{}`{or_replace}",
        name.name
    ))
}

/// `derive Foo = ...` next to a column `foo`: it would neither add a column nor clearly replace one.
fn case_clash(schema: &Schema, name: &ast::Ident) -> Option<Diagnostic> {
    let existing = schema.get(&name.name)?;
    (existing.name != name.name).then(|| case_duplicate(name, &existing.name, true))
}

fn refine_not_null(cond: &Expr, schema: &mut Schema) {
    match &cond.kind {
        ExprKind::Binary(BinaryOp::And, a, b) => {
            refine_not_null(a, schema);
            refine_not_null(b, schema);
        }
        ExprKind::IsNull {
            value,
            negated: true,
        } => {
            if let ExprKind::Column { name, .. } = &value.kind {
                if let Some(c) = schema.columns.iter_mut().find(|c| &c.name == name) {
                    c.nullable = false;
                }
            }
        }
        _ => {}
    }
}

fn sort_keys(
    keys: &[ast::SortKey],
    scope: &Scope<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<SortKey>> {
    let mut out = Vec::new();
    let mut failed = false;
    for k in keys {
        match type_expr(&k.value, scope, diags) {
            Some(e) => out.push(SortKey {
                value: e,
                descending: k.descending,
            }),
            None => failed = true,
        }
    }
    (!failed).then_some(out)
}

/// Columns referenced outside any aggregate call.
pub(crate) fn bare_columns(e: &Expr, out: &mut Vec<String>) {
    match &e.kind {
        ExprKind::Column { name, .. } => out.push(name.clone()),
        ExprKind::Call {
            kind: crate::ir::FnKind::Aggregate,
            ..
        } => {}
        ExprKind::Call { args, .. } => args.iter().for_each(|a| bare_columns(a, out)),
        ExprKind::Unary(_, x) | ExprKind::Cast(x, _) => bare_columns(x, out),
        ExprKind::IsNull { value, .. } => bare_columns(value, out),
        ExprKind::Binary(_, a, b) => {
            bare_columns(a, out);
            bare_columns(b, out);
        }
        ExprKind::InList(x, l) => {
            bare_columns(x, out);
            l.iter().for_each(|a| bare_columns(a, out));
        }
        ExprKind::Case { arms, otherwise } => {
            for (c, v) in arms {
                bare_columns(c, out);
                bare_columns(v, out);
            }
            if let Some(o) = otherwise {
                bare_columns(o, out);
            }
        }
        ExprKind::Literal(_) | ExprKind::Param(_) => {}
    }
}

fn aggregates_of(
    assigns: &[ast::Assign],
    input: &Schema,
    keys: &[String],
    schema: &mut Schema,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(String, Expr)>> {
    let scope = Scope {
        schema: input,
        left_names: Vec::new(),
        right: None,
        aggregates: true,
        windows: false,
        in_aggregate: false,
        index: None,
    };
    let mut out = Vec::new();
    let mut failed = false;
    for a in assigns {
        let Some(e) = type_expr(&a.value, &scope, diags) else {
            failed = true;
            continue;
        };
        let mut bare = Vec::new();
        bare_columns(&e, &mut bare);
        if let Some(col) = bare.iter().find(|c| !keys.contains(c)) {
            diags.push(not_grouped(a.value.span, col));
            failed = true;
            continue;
        }
        if let Some(first) = schema.get(&a.name.name) {
            diags.push(duplicate_column(&a.name, &first.name));
            failed = true;
            continue;
        }
        schema.columns.push(Column {
            name: a.name.name.clone(),
            ty: concrete(e.ty),
            nullable: e.nullable,
        });
        out.push((a.name.name.clone(), e));
    }
    (!failed).then_some(out)
}

pub(crate) fn not_grouped(span: Span, col: &str) -> Diagnostic {
    Diagnostic::error(
        codes::NOT_GROUPED,
        span,
        format!("column `{col}` is neither grouped nor aggregated"),
        format!("`{col}` is used outside an aggregate"),
    )
    .with_help(format!(
        "add `{col}` to the group keys, or wrap it in an aggregate such as `max({col})`"
    ))
}

/// Types a schema block; `None` after an error.
pub(crate) fn schema_block(fields: &[ast::Field], diags: &mut Vec<Diagnostic>) -> Option<Schema> {
    let mut schema = Schema::default();
    let mut failed = false;
    for f in fields {
        let Some(ty) = resolve_type(&f.ty, diags) else {
            failed = true;
            continue;
        };
        if let Some(first) = schema.get(&f.name.name) {
            diags.push(duplicate_column(&f.name, &first.name));
            failed = true;
            continue;
        }
        schema.columns.push(Column {
            name: f.name.name.clone(),
            ty,
            nullable: f.ty.nullable,
        });
    }
    (!failed).then_some(schema)
}

/// `{name}` placeholders of a template with their byte offsets (`{{` and `}}` are literal braces).
pub fn placeholders(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => i += 2,
            b'}' if bytes.get(i + 1) == Some(&b'}') => i += 2,
            b'{' => {
                let end = text[i + 1..].find('}').map(|e| i + 1 + e);
                match end {
                    Some(e) => {
                        out.push((text[i + 1..e].trim().to_string(), i));
                        i = e + 1;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// Reports unknown `{placeholders}` in a path template.
pub(crate) fn check_template(s: &ast::StrLit, diags: &mut Vec<Diagnostic>) -> bool {
    let mut ok = true;
    for (name, offset) in placeholders(&s.value) {
        if TEMPLATE_VARS.contains(&name.as_str()) {
            continue;
        }
        let start = s.span.start as usize + 1 + offset;
        let span = Span::new(
            s.span.file,
            start,
            (start + name.len() + 2).min(s.span.end as usize),
        );
        let sug = did_you_mean(&name, TEMPLATE_VARS.iter().copied());
        diags.push(
            Diagnostic::error(
                codes::UNKNOWN_PARAM,
                span,
                format!("unknown placeholder `{{{name}}}` in path"),
                "not a run parameter",
            )
            .with_suggestion(
                sug.map(|s| format!("{{{s}}}")).as_deref(),
                format!(
                    "placeholders are: {}",
                    TEMPLATE_VARS
                        .iter()
                        .map(|v| format!("{{{v}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        );
        ok = false;
    }
    ok
}

struct OptSpec {
    name: &'static str,
    kind: OptKind,
    example: &'static str,
}

#[derive(Clone, Copy)]
enum OptKind {
    Str,
    Int,
    Bool,
    Duration,
    StrList,
    SecretOrStr,
}

const fn o(name: &'static str, kind: OptKind, example: &'static str) -> OptSpec {
    OptSpec {
        name,
        kind,
        example,
    }
}

const CSV_OPTS: &[OptSpec] = &[
    o("header", OptKind::Bool, "header = true"),
    o("delimiter", OptKind::Str, "delimiter = \";\""),
    o("quote", OptKind::Str, "quote = \"'\""),
    o("nulls", OptKind::StrList, "nulls = [\"\", \"NA\"]"),
    o("skip", OptKind::Int, "skip = 1"),
    o("on_error", OptKind::Str, "on_error = \"reject\""),
    o("compression", OptKind::Str, "compression = \"gzip\""),
    o("glob", OptKind::Bool, "glob = true"),
    o("allow_empty", OptKind::Bool, "allow_empty = true"),
];
const JSON_OPTS: &[OptSpec] = &[
    o("on_error", OptKind::Str, "on_error = \"reject\""),
    o("compression", OptKind::Str, "compression = \"gzip\""),
    o("glob", OptKind::Bool, "glob = true"),
    o("allow_empty", OptKind::Bool, "allow_empty = true"),
];
const PARQUET_OPTS: &[OptSpec] = &[o("glob", OptKind::Bool, "glob = true")];
const HTTP_OPTS: &[OptSpec] = &[
    o("rows", OptKind::Str, "rows = \"data.items\""),
    o("paginate", OptKind::Str, "paginate = \"page\""),
    o("page_param", OptKind::Str, "page_param = \"page\""),
    o("size_param", OptKind::Str, "size_param = \"per_page\""),
    o("page_size", OptKind::Int, "page_size = 100"),
    o("max_pages", OptKind::Int, "max_pages = 50"),
    o("timeout", OptKind::Duration, "timeout = 30s"),
    o("retries", OptKind::Int, "retries = 3"),
    o("max_bytes", OptKind::Int, "max_bytes = 10000000"),
    o(
        "bearer",
        OptKind::SecretOrStr,
        "bearer = secret(\"API_TOKEN\")",
    ),
    o(
        "api_key",
        OptKind::SecretOrStr,
        "api_key = secret(\"API_KEY\")",
    ),
    o("api_key_param", OptKind::Str, "api_key_param = \"key\""),
    o(
        "fallback",
        OptKind::Str,
        "fallback = \"data/stations.json\"",
    ),
];
const PG_OPTS: &[OptSpec] = &[
    o("table", OptKind::Str, "table = \"public.answers\""),
    o("query", OptKind::Str, "query = \"select * from answers\""),
    o("incremental", OptKind::Str, "incremental = \"updated_at\""),
];
const KAFKA_OPTS: &[OptSpec] = &[
    o("brokers", OptKind::Str, "brokers = \"localhost:9092\""),
    o("group", OptKind::Str, "group = \"pipec\""),
];
const KINESIS_OPTS: &[OptSpec] = &[o("region", OptKind::Str, "region = \"ap-northeast-2\"")];

/// The named options of source kind `kind`, each with an example (for editors).
pub fn source_options(kind: &str) -> Vec<(&'static str, &'static str)> {
    let specs: &[OptSpec] = match kind {
        "csv" => CSV_OPTS,
        "ndjson" | "json" => JSON_OPTS,
        "parquet" => PARQUET_OPTS,
        "http" => HTTP_OPTS,
        "postgres" => PG_OPTS,
        "kafka" => KAFKA_OPTS,
        "kinesis" => KINESIS_OPTS,
        "calendar" => &[
            o("from", OptKind::Str, "from = 2024-01-01"),
            o("to", OptKind::Str, "to = 2024-12-31"),
        ],
        _ => &[],
    };
    specs.iter().map(|s| (s.name, s.example)).collect()
}

fn option_value(spec: &OptSpec, e: &ast::Expr, diags: &mut Vec<Diagnostic>) -> Option<Value> {
    let bad = |diags: &mut Vec<Diagnostic>, expected: &str| {
        diags.push(bad_value(e.span, spec.name, expected, spec.example));
        None
    };
    match (spec.kind, &e.kind) {
        (OptKind::Str, A::Literal(Literal::Str(s))) => Some(Value::Str(s.clone())),
        (OptKind::Int, A::Literal(Literal::Int(n))) if *n >= 0 => Some(Value::Int(*n)),
        (OptKind::Bool, A::Literal(Literal::Bool(b))) => Some(Value::Bool(*b)),
        (OptKind::Duration, _) => seconds(e, spec.name, diags).map(Value::Seconds),
        (OptKind::StrList, A::List(items)) => {
            let mut out = Vec::new();
            for i in items {
                match &i.kind {
                    A::Literal(Literal::Str(s)) => out.push(s.clone()),
                    _ => return bad(diags, "a list of strings"),
                }
            }
            Some(Value::List(out))
        }
        (OptKind::SecretOrStr, _) => secret_or_string(e, spec.name, diags),
        (_, A::Call(c)) if c.name.dotted() == "secret" => {
            diags.push(
                Diagnostic::error(codes::SECRET_IN_DATA, c.span, format!("`{}` cannot be a secret", spec.name), "secret not allowed here")
                    .with_help("secrets are allowed for connection strings, tokens, API keys and alert webhooks"),
            );
            None
        }
        (OptKind::Str, _) => bad(diags, "a string"),
        (OptKind::Int, _) => bad(diags, "a whole number"),
        (OptKind::Bool, _) => bad(diags, "true or false"),
        (OptKind::StrList, _) => bad(diags, "a list of strings"),
    }
}

fn options<'c>(
    call: &'c ast::Call,
    specs: &[OptSpec],
    diags: &mut Vec<Diagnostic>,
) -> Option<Given<'c>> {
    let mut out: Vec<(String, Value)> = Vec::new();
    let mut failed = false;
    for arg in call.args.iter().skip(1) {
        let Some(name) = &arg.name else {
            diags.push(
                Diagnostic::error(
                    codes::BAD_ARGUMENTS,
                    arg.value.span,
                    "options must be named",
                    "positional option",
                )
                .with_help("write options as `name = value` after the first argument"),
            );
            failed = true;
            continue;
        };
        let Some(spec) = specs.iter().find(|s| s.name == name.name) else {
            let s = did_you_mean(&name.name, specs.iter().map(|s| s.name));
            let help = if specs.is_empty() {
                format!("`{}` takes no options", call.name.dotted())
            } else {
                format!(
                    "options of `{}`: {}",
                    call.name.dotted(),
                    specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                )
            };
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_OPTION,
                    name.span,
                    format!("unknown option `{}`", name.name),
                    "not an option here",
                )
                .with_suggestion(s, help),
            );
            failed = true;
            continue;
        };
        if out.iter().any(|(k, _)| k == spec.name) {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_SETTING,
                    name.span,
                    format!("option `{}` is given twice", name.name),
                    "second value",
                )
                .with_help("keep one of them"),
            );
            failed = true;
            continue;
        }
        match option_value(spec, &arg.value, diags) {
            Some(v) => out.push((spec.name.to_string(), v)),
            None => failed = true,
        }
    }
    (!failed).then_some(Given { call, values: out })
}

/// The options of a call as given, their names and kinds checked; read into the typed options
/// of the IR, with defaults for those left out.
struct Given<'c> {
    call: &'c ast::Call,
    values: Vec<(String, Value)>,
}

impl Given<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(Value::as_str).map(String::from)
    }

    fn int(&self, name: &str) -> Option<u64> {
        match self.get(name) {
            Some(Value::Int(n)) => u64::try_from(*n).ok(),
            _ => None,
        }
    }

    /// The span of the value of option `name` (the call's when not given).
    fn span(&self, name: &str) -> Span {
        self.call
            .named(name)
            .map_or(self.call.span, |a| a.value.span)
    }

    /// A text option that must be one of `allowed`; `Err` once reported.
    fn choice(
        &self,
        name: &str,
        allowed: &[&'static str],
        example: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Result<Option<&'static str>, ()> {
        let Some(v) = self.get(name).and_then(Value::as_str) else {
            return Ok(None);
        };
        if let Some(a) = allowed.iter().find(|a| **a == v) {
            return Ok(Some(a));
        }
        let quoted: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
        let expected = match quoted.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        diags.push(bad_value(self.span(name), name, &expected, example));
        Err(())
    }

    /// A text option of exactly one character; `Err` once reported.
    fn one_char(
        &self,
        name: &str,
        example: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Result<Option<char>, ()> {
        let Some(v) = self.get(name).and_then(Value::as_str) else {
            return Ok(None);
        };
        let mut chars = v.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(Some(c)),
            _ => {
                diags.push(bad_value(
                    self.span(name),
                    name,
                    "a single character",
                    example,
                ));
                Err(())
            }
        }
    }

    /// A whole-number option that must be at least 1; `Err` once reported.
    fn positive(
        &self,
        name: &str,
        default: u64,
        example: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Result<u64, ()> {
        match self.int(name) {
            None => Ok(default),
            Some(0) => {
                diags.push(bad_value(
                    self.span(name),
                    name,
                    "a whole number of at least 1",
                    example,
                ));
                Err(())
            }
            Some(n) => Ok(n),
        }
    }
}

/// Extensions of compressed or archived files that no engine reads as they are.
const UNREADABLE_EXTENSIONS: &[&str] = &["bz2", "xz", "lzma", "lz4", "br", "zip", "7z", "tgz"];

/// The compression of a path template, read from its extension: `Err(ext)` for an extension
/// that is compressed in a way pipec cannot read.
fn compression_of(path: &str) -> Result<Compression, String> {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.contains('/'))
        .unwrap_or_default();
    match ext.as_str() {
        "gz" | "gzip" => Ok(Compression::Gzip),
        "zst" | "zstd" => Ok(Compression::Zstd),
        e if UNREADABLE_EXTENSIONS.contains(&e) => Err(e.to_string()),
        _ => Ok(Compression::None),
    }
}

/// The typed options of a file source of `format` at `path` (empty when the path is broken).
fn file_options(
    call: &ast::Call,
    format: FileFormat,
    path: &str,
    given: &Given<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<FileOptions> {
    let mut ok = true;
    let on_error = match given.choice(
        "on_error",
        &["fail", "reject"],
        "on_error = \"reject\"",
        diags,
    ) {
        Ok(Some("reject")) => OnError::Reject,
        Ok(_) => OnError::Fail,
        Err(()) => {
            ok = false;
            OnError::Fail
        }
    };
    let compression = match given.choice(
        "compression",
        &["gzip", "zstd", "none"],
        "compression = \"gzip\"",
        diags,
    ) {
        Ok(Some("gzip")) => Compression::Gzip,
        Ok(Some("zstd")) => Compression::Zstd,
        Ok(Some(_)) => Compression::None,
        Ok(None) => {
            let at = call.args.first().map_or(call.span, |a| a.value.span);
            let kind = call.name.dotted();
            match compression_of(path) {
                Ok(c) if c == Compression::None || format != FileFormat::Parquet => c,
                Ok(_) => {
                    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
                    diags.push(
                        Diagnostic::error(
                            codes::BAD_COMPRESSION,
                            at,
                            format!("`parquet` files are read as they are: `.{ext}` is not decompressed"),
                            "a compressed parquet file",
                        )
                        .with_help("parquet compresses its pages itself (snappy, zstd, gzip): read the `.parquet` files without compressing them again"),
                    );
                    ok = false;
                    Compression::None
                }
                Err(ext) => {
                    diags.push(
                        Diagnostic::error(
                            codes::BAD_COMPRESSION,
                            at,
                            format!("`{kind}` cannot read `.{ext}` files"),
                            "compressed in a format pipec does not read",
                        )
                        .with_help(format!("compress the files with gzip (`.gz`) or zstd (`.zst`), or decompress them before the run; if they are not compressed, say so: {kind}(\"...\", compression = \"none\")")),
                    );
                    ok = false;
                    Compression::None
                }
            }
        }
        Err(()) => {
            ok = false;
            Compression::None
        }
    };
    let mut csv = CsvOptions::default();
    if let Some(Value::Bool(b)) = given.get("header") {
        csv.header = *b;
    }
    match given.one_char("delimiter", "delimiter = \";\"", diags) {
        Ok(Some(c)) => csv.delimiter = c,
        Ok(None) => {}
        Err(()) => ok = false,
    }
    match given.one_char("quote", "quote = \"'\"", diags) {
        Ok(Some(c)) => csv.quote = c,
        Ok(None) => {}
        Err(()) => ok = false,
    }
    if let Some(Value::List(nulls)) = given.get("nulls") {
        csv.nulls = nulls.clone();
    }
    if let Some(n) = given.int("skip") {
        csv.skip = n;
    }
    let glob = match given.get("glob") {
        Some(Value::Bool(b)) => *b,
        _ => {
            if path.contains(['*', '?']) {
                let at = call.args.first().map_or(call.span, |a| a.value.span);
                diags.push(
                    Diagnostic::error(
                        codes::AMBIGUOUS_GLOB,
                        at,
                        "this path has `*` or `?`: say whether it is a pattern".to_string(),
                        "read literally unless `glob = true`",
                    )
                    .with_help(format!("to read every file the pattern matches: {}(\"{path}\", glob = true); to read a file whose name has these characters: glob = false", call.name.dotted())),
                );
                ok = false;
            }
            false
        }
    };
    let allow_empty = matches!(given.get("allow_empty"), Some(Value::Bool(true)));
    ok.then_some(FileOptions {
        on_error,
        compression,
        glob,
        allow_empty,
        csv: (format == FileFormat::Csv).then_some(csv),
        retention: None,
    })
}

/// The typed options of an HTTP source.
fn http_options(given: &Given<'_>, diags: &mut Vec<Diagnostic>) -> Option<HttpOptions> {
    let mut ok = true;
    let paginate = match given.choice(
        "paginate",
        &["page", "offset"],
        "paginate = \"page\"",
        diags,
    ) {
        Ok(Some("offset")) => Some(Paginate::Offset),
        Ok(Some(_)) => Some(Paginate::Page),
        Ok(None) => None,
        Err(()) => {
            ok = false;
            None
        }
    };
    let mut positive = |name: &str, default: u64, example: &str| {
        given
            .positive(name, default, example, diags)
            .unwrap_or_else(|()| {
                ok = false;
                default
            })
    };
    let page_size = positive("page_size", 100, "page_size = 100");
    let max_pages = positive("max_pages", 1000, "max_pages = 50");
    let max_bytes = positive("max_bytes", 50_000_000, "max_bytes = 10000000");
    let default_page_param = match paginate {
        Some(Paginate::Offset) => "offset",
        _ => "page",
    };
    let options = HttpOptions {
        rows: given.text("rows").unwrap_or_default(),
        paginate,
        page_param: given
            .text("page_param")
            .unwrap_or_else(|| default_page_param.into()),
        size_param: given.text("size_param").unwrap_or_else(|| "limit".into()),
        page_size,
        max_pages,
        timeout_seconds: match given.get("timeout") {
            Some(Value::Seconds(s)) => *s,
            _ => 30,
        },
        retries: given.int("retries").unwrap_or(2),
        max_bytes,
        bearer: given.get("bearer").cloned(),
        api_key: given.get("api_key").cloned(),
        api_key_param: given
            .text("api_key_param")
            .unwrap_or_else(|| "api_key".into()),
        fallback: given.text("fallback"),
    };
    ok.then_some(options)
}

fn first_string(
    call: &ast::Call,
    what: &str,
    example: &str,
    allow_secret: bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<Value> {
    match call.args.first() {
        Some(ast::Arg { name: None, value }) => {
            if allow_secret {
                secret_or_string(value, what, diags)
            } else {
                match &value.kind {
                    A::Literal(Literal::Str(s)) => {
                        let lit = ast::StrLit {
                            value: s.clone(),
                            span: value.span,
                        };
                        check_template(&lit, diags).then(|| Value::Str(s.clone()))
                    }
                    A::Call(c) if c.name.dotted() == "secret" => {
                        diags.push(
                            Diagnostic::error(codes::SECRET_IN_DATA, c.span, format!("the {what} cannot be a secret"), "secret not allowed here")
                                .with_help("secrets are allowed for connection strings, tokens, API keys and alert webhooks"),
                        );
                        None
                    }
                    _ => {
                        diags.push(bad_value(value.span, what, "a string", example));
                        None
                    }
                }
            }
        }
        _ => {
            diags.push(
                Diagnostic::error(
                    codes::MISSING_OPTION,
                    call.span,
                    format!("`{}` needs a {what} first", call.name.dotted()),
                    format!("missing {what}"),
                )
                .with_help(format!("for example: {example}")),
            );
            None
        }
    }
}

/// Checks a source's origin call.
pub(crate) fn source_origin(call: &ast::Call, diags: &mut Vec<Diagnostic>) -> Option<Source> {
    let kind = call.name.dotted();
    let text = |v: Value| match v {
        Value::Str(s) => s,
        _ => String::new(),
    };
    match kind.as_str() {
        "csv" | "ndjson" | "json" | "parquet" => {
            let (format, specs) = match kind.as_str() {
                "csv" => (FileFormat::Csv, CSV_OPTS),
                "parquet" => (FileFormat::Parquet, PARQUET_OPTS),
                _ => (FileFormat::Ndjson, JSON_OPTS),
            };
            let path = first_string(call, "path", "csv(\"data/rentals/{ds}.csv\")", false, diags);
            let given = options(call, specs, diags)?;
            let path = path.map(text);
            let options = file_options(call, format, path.as_deref().unwrap_or(""), &given, diags)?;
            Some(Source::File {
                format,
                path: path?,
                options,
            })
        }
        "http" => {
            let url = first_string(
                call,
                "URL",
                "http(\"https://api.example.com/stations\", rows = \"items\")",
                false,
                diags,
            );
            let given = options(call, HTTP_OPTS, diags)?;
            let options = http_options(&given, diags)?;
            Some(Source::Http {
                url: text(url?),
                options,
            })
        }
        "postgres" => {
            let dsn = first_string(
                call,
                "connection string",
                "postgres(secret(\"NPS_DB_URL\"), table = \"public.answers\")",
                true,
                diags,
            );
            let given = options(call, PG_OPTS, diags)?;
            let read = match (given.text("table"), given.text("query")) {
                (Some(t), None) => Some(PostgresRead::Table(t)),
                (None, Some(q)) => Some(PostgresRead::Query(q)),
                _ => None,
            };
            let Some(read) = read else {
                diags.push(
                    Diagnostic::error(
                        codes::MISSING_OPTION,
                        call.span,
                        "`postgres` needs exactly one of `table` or `query`",
                        "give `table` or `query`",
                    )
                    .with_help(
                        "for example: postgres(secret(\"DB_URL\"), table = \"public.answers\")",
                    ),
                );
                return None;
            };
            Some(Source::Postgres {
                dsn: dsn?,
                read,
                incremental: given.text("incremental"),
            })
        }
        "calendar" => {
            let mut bounds = [None, None];
            for a in &call.args {
                let slot = match a.name.as_ref().map(|n| n.name.as_str()) {
                    Some("from") => 0,
                    Some("to") => 1,
                    _ => {
                        diags.push(bad_value(
                            a.value.span,
                            "calendar",
                            "named dates `from` and `to`",
                            "calendar(from = 2024-01-01, to = 2024-12-31)",
                        ));
                        return None;
                    }
                };
                match &a.value.kind {
                    A::Literal(Literal::Date(d)) => bounds[slot] = Some(d.clone()),
                    _ => {
                        diags.push(bad_value(
                            a.value.span,
                            "calendar",
                            "a date",
                            "calendar(from = 2024-01-01, to = 2024-12-31)",
                        ));
                        return None;
                    }
                }
            }
            let [Some(from), Some(to)] = bounds else {
                diags.push(
                    Diagnostic::error(
                        codes::MISSING_OPTION,
                        call.span,
                        "`calendar` needs `from` and `to`",
                        "missing bounds",
                    )
                    .with_help(
                        "for example: calendar(from = 2024-01-01, to = 2024-12-31) { day: date }",
                    ),
                );
                return None;
            };
            if to < from {
                diags.push(
                    Diagnostic::error(
                        codes::BAD_DATE_RANGE,
                        call.span,
                        "the calendar ends before it starts",
                        "`to` is before `from`",
                    )
                    .with_help("swap the dates"),
                );
                return None;
            }
            Some(Source::Calendar { from, to })
        }
        "table" => {
            let t = first_string(
                call,
                "table name",
                "table(\"mart.station_daily\")",
                false,
                diags,
            )?;
            Some(Source::Table { table: text(t) })
        }
        "kafka" | "kinesis" => {
            let topic = first_string(
                call,
                "topic",
                "kafka(\"clicks\", brokers = \"localhost:9092\")",
                false,
                diags,
            );
            let specs = if kind == "kafka" {
                KAFKA_OPTS
            } else {
                KINESIS_OPTS
            };
            let given = options(call, specs, diags)?;
            Some(Source::Stream {
                system: kind.clone(),
                topic: text(topic?),
                options: StreamOptions {
                    brokers: given.text("brokers"),
                    group: given.text("group"),
                    region: given.text("region"),
                },
            })
        }
        other => {
            let s = did_you_mean(other, SOURCE_KINDS.iter().copied());
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_SOURCE_KIND,
                    call.name.span,
                    format!("unknown source kind `{other}`"),
                    "not a source kind",
                )
                .with_suggestion(s, format!("sources are: {}", SOURCE_KINDS.join(", "))),
            );
            None
        }
    }
}

/// Checks a window frame: it needs an order, and its start may not come after its end.
fn window_frame(f: &ast::WindowFrame, ordered: bool) -> Result<crate::ir::Frame, Diagnostic> {
    use ast::FrameBound as B;
    let frame_error = |label: &str, help: &str| {
        Diagnostic::error(
            codes::BAD_WINDOW_FRAME,
            f.span,
            "invalid window frame",
            label,
        )
        .with_help(help)
    };
    if !ordered {
        return Err(frame_error(
            "a frame counts rows in window order, but this window has no `order`",
            "add `order <column>` before `rows between`",
        ));
    }
    if f.start == B::UnboundedFollowing || f.end == B::UnboundedPreceding {
        return Err(frame_error(
            "a frame starts at `unbounded preceding` at the earliest and ends at `unbounded following` at the latest",
            "write e.g. `rows between unbounded preceding and current row`",
        ));
    }
    if f.start.offset() > f.end.offset() {
        return Err(frame_error(
            "the frame starts after it ends",
            "put the earlier bound first, e.g. `rows between 6 preceding and current row`",
        ));
    }
    Ok(crate::ir::Frame {
        start: f.start,
        end: f.end,
    })
}
