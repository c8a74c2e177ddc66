//! Names in the syntax trees: every occurrence of a relation, column, define, function or import
//! with what it refers to, and where each column comes from (the step or source field that
//! introduces it), followed through steps, joins, relations and `table(...)` sources.

use pipec_check::ir::{self, same_name};
use pipec_diag::{FileId, SourceMap, Span};
use pipec_syntax::ast::{self, ExprKind, Item, RelHead, StepKind};
use pipec_workspace::Workspace;

/// The syntax trees and checked IR one request reads.
#[derive(Clone, Copy)]
pub struct Db<'a> {
    /// The project.
    pub ws: &'a Workspace,
    /// The project's own files.
    pub roots: &'a [FileId],
}

impl<'a> Db<'a> {
    /// Every file.
    pub fn sources(&self) -> &'a SourceMap {
        self.ws.sources()
    }

    /// The AST of a file.
    pub fn module(&self, file: FileId) -> Option<&'a ast::Module> {
        self.ws.module(file)
    }

    /// The checked project.
    pub fn project(&self) -> &'a ir::Project {
        &self.ws.checked().project
    }
}

/// Where a column reference is read: the input of step `step` of relation `relation` (the
/// relation's output when `step` is its number of steps or more).
#[derive(Debug, Clone, PartialEq)]
pub struct At {
    /// The file.
    pub file: FileId,
    /// The relation.
    pub relation: String,
    /// The AST step index.
    pub step: usize,
    /// Inside a `derive`, the number of its earlier assignments the reference sees.
    pub within: Option<usize>,
}

/// What a name in the text is.
#[derive(Debug, Clone, PartialEq)]
pub enum Occ {
    /// The name of a `source` or `transform`.
    RelationDecl(String),
    /// A relation read by name.
    RelationRef(String),
    /// A column introduced here (derive, select `x = ..`, aggregate, window function).
    ColumnDecl {
        /// Its relation and the step introducing it (its output is after the step).
        at: At,
    },
    /// A column read (`qualifier` from `that.x` in a join condition).
    ColumnRef {
        /// Where it is read.
        at: At,
        /// The right relation of a join when the name is qualified by its alias.
        right: Option<String>,
    },
    /// A define's name in its declaration.
    DefineDecl,
    /// A define applied: its name as written (`dedupe.latest`).
    DefineRef(String),
    /// A builtin function called.
    Function(String),
    /// An import: the file it names.
    Import(Option<FileId>),
    /// The kind of a source (`csv`, `table`).
    SourceKind(String),
}

/// One occurrence: the name's span (the last part of a dotted name, except for defines) and
/// what it is.
#[derive(Debug, Clone)]
pub struct Occurrence {
    /// The name.
    pub span: Span,
    /// What it is.
    pub occ: Occ,
}

/// Relation names declared in `module`, in order.
pub fn relations(module: &ast::Module) -> impl Iterator<Item = &ast::Ident> {
    module.items.iter().filter_map(|i| match i {
        Item::Source(s) => Some(&s.name),
        Item::Transform(t) => Some(&t.name),
        _ => None,
    })
}

/// The namespace → file map of `file`'s imports (as the checker resolves them).
pub fn imports(sources: &SourceMap, file: FileId, module: &ast::Module) -> Vec<(String, FileId)> {
    let base = sources.get(file).name.clone();
    module
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Import(imp) => {
                let (name, ns) = import_target(&base, imp);
                let id = sources.find(&name)?;
                Some((imp.alias.as_ref().map_or(ns, |a| a.name.clone()), id))
            }
            _ => None,
        })
        .collect()
}

/// The source name an import loads and its default namespace.
fn import_target(base: &str, imp: &ast::Import) -> (String, String) {
    match &imp.target {
        ast::ImportTarget::Module(q) if q.parts.first().is_some_and(|p| p.name == "std") => {
            let parts: Vec<&str> = q.parts[1..].iter().map(|p| p.name.as_str()).collect();
            (
                format!("std/{}.pipe", parts.join("/")),
                q.last().name.clone(),
            )
        }
        ast::ImportTarget::Module(q) => {
            let parts: Vec<&str> = q.parts.iter().map(|p| p.name.as_str()).collect();
            (
                pipec_check::join_path(base, &format!("{}.pipe", parts.join("/"))),
                q.last().name.clone(),
            )
        }
        ast::ImportTarget::File(s) => {
            let stem = s.value.rsplit('/').next().unwrap_or(&s.value);
            (
                pipec_check::join_path(base, &s.value),
                stem.trim_end_matches(".pipe").to_string(),
            )
        }
    }
}

/// Every occurrence of a name in `file`, in source order.
pub fn occurrences(db: &Db<'_>, file: FileId) -> Vec<Occurrence> {
    let Some(module) = db.module(file) else {
        return Vec::new();
    };
    let mut w = Walker {
        file,
        out: Vec::new(),
        imports: imports(db.sources(), file, module),
    };
    for item in &module.items {
        w.item(item);
    }
    w.out.sort_by_key(|o| (o.span.start, o.span.end));
    w.out
}

/// The innermost occurrence at byte `offset` of `file` (touching its end counts).
pub fn occurrence_at(db: &Db<'_>, file: FileId, offset: usize) -> Option<Occurrence> {
    let offset = offset as u32;
    occurrences(db, file)
        .into_iter()
        .filter(|o| o.span.start <= offset && offset <= o.span.end)
        .min_by_key(|o| o.span.len())
}

struct Walker {
    file: FileId,
    out: Vec<Occurrence>,
    imports: Vec<(String, FileId)>,
}

impl Walker {
    fn push(&mut self, span: Span, occ: Occ) {
        self.out.push(Occurrence { span, occ });
    }

    fn at(&self, relation: &str, step: usize) -> At {
        At {
            file: self.file,
            relation: relation.to_string(),
            step,
            within: None,
        }
    }

    fn rel_ref(&mut self, q: &ast::QName) {
        if q.parts.len() == 1 {
            self.push(q.span, Occ::RelationRef(q.dotted()));
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Import(imp) => {
                let ns = imp
                    .alias
                    .as_ref()
                    .map(|a| a.name.clone())
                    .unwrap_or_else(|| match &imp.target {
                        ast::ImportTarget::Module(q) => q.last().name.clone(),
                        ast::ImportTarget::File(s) => s
                            .value
                            .rsplit('/')
                            .next()
                            .unwrap_or("")
                            .trim_end_matches(".pipe")
                            .to_string(),
                    });
                let target = self.imports.iter().find(|(n, _)| *n == ns).map(|(_, f)| *f);
                let span = match &imp.target {
                    ast::ImportTarget::Module(q) => q.span,
                    ast::ImportTarget::File(s) => s.span,
                };
                self.push(span, Occ::Import(target));
            }
            Item::Pipeline(_) => {}
            Item::Source(s) => {
                self.push(s.name.span, Occ::RelationDecl(s.name.name.clone()));
                self.push(s.origin.name.span, Occ::SourceKind(s.origin.name.dotted()));
                for f in s.schema.iter().flatten() {
                    let at = self.at(&s.name.name, 0);
                    self.push(f.name.span, Occ::ColumnRef { at, right: None });
                }
            }
            Item::Transform(t) => {
                self.push(t.name.span, Occ::RelationDecl(t.name.name.clone()));
                self.rel_expr(&t.name.name, &t.body);
            }
            Item::Sink(s) => {
                self.rel_ref(&s.relation);
                let rel = s.relation.dotted();
                for o in &s.options {
                    let cols: Vec<&ast::Ident> = match &o.kind {
                        ast::SinkOptionKind::Merge(c) => c.iter().collect(),
                        ast::SinkOptionKind::Incremental(c)
                        | ast::SinkOptionKind::PartitionBy(c) => {
                            vec![c]
                        }
                        _ => Vec::new(),
                    };
                    for c in cols {
                        let at = self.at(&rel, usize::MAX);
                        self.push(c.span, Occ::ColumnRef { at, right: None });
                    }
                }
            }
            Item::Check(c) => {
                self.rel_ref(&c.relation);
                let at = self.at(&c.relation.dotted(), usize::MAX);
                for r in &c.rules {
                    self.expr(r, &at, None);
                }
            }
            Item::Test(t) => {
                self.rel_ref(&t.relation);
                for (q, fixture) in &t.given {
                    self.rel_ref(q);
                    self.fixture(&q.dotted(), fixture);
                }
                if let Some(f) = &t.expect {
                    self.fixture(&t.relation.dotted(), f);
                }
            }
            Item::Define(d) => {
                self.push(d.name.span, Occ::DefineDecl);
                if let ast::DefineBody::Relation(r) = &d.body {
                    if let RelHead::Call(c) = &r.head {
                        self.push(c.name.span, Occ::DefineRef(c.name.dotted()));
                    }
                    for s in &r.steps {
                        if let StepKind::Apply(c) = &s.kind {
                            self.push(c.name.span, Occ::DefineRef(c.name.dotted()));
                        }
                    }
                }
            }
        }
    }

    fn fixture(&mut self, relation: &str, f: &ast::Fixture) {
        for c in &f.columns {
            let at = self.at(relation, usize::MAX);
            self.push(c.span, Occ::ColumnRef { at, right: None });
        }
        for a in &f.defaults {
            let at = self.at(relation, usize::MAX);
            self.push(a.name.span, Occ::ColumnRef { at, right: None });
        }
    }

    fn rel_expr(&mut self, rel: &str, body: &ast::RelExpr) {
        let head_name = match &body.head {
            RelHead::Ref(q) => {
                self.rel_ref(q);
                Some(q.dotted())
            }
            RelHead::Call(c) => {
                self.push(c.name.span, Occ::DefineRef(c.name.dotted()));
                None
            }
            RelHead::Sql { schema, .. } => {
                for f in schema {
                    let at = self.at(rel, 0);
                    self.push(f.name.span, Occ::ColumnDecl { at });
                }
                None
            }
        };
        for (k, step) in body.steps.iter().enumerate() {
            let at = self.at(rel, k);
            let decl = At {
                step: k + 1,
                ..at.clone()
            };
            match &step.kind {
                StepKind::Filter(e) | StepKind::Take(e) => self.expr(e, &at, None),
                StepKind::Derive(assigns) => {
                    for (i, a) in assigns.iter().enumerate() {
                        let inner = At {
                            within: Some(i),
                            ..at.clone()
                        };
                        self.expr(&a.value, &inner, None);
                        self.push(a.name.span, Occ::ColumnDecl { at: decl.clone() });
                    }
                }
                StepKind::Select(items) => {
                    for it in items {
                        self.expr(&it.value, &at, None);
                        if let Some(n) = &it.name {
                            self.push(n.span, Occ::ColumnDecl { at: decl.clone() });
                        }
                    }
                }
                StepKind::SelectExcept(names) => {
                    for n in names {
                        self.push(
                            n.span,
                            Occ::ColumnRef {
                                at: at.clone(),
                                right: None,
                            },
                        );
                    }
                }
                StepKind::Join {
                    relation,
                    alias,
                    cond,
                    ..
                } => {
                    self.rel_ref(relation);
                    let right = relation.dotted();
                    let alias = alias
                        .as_ref()
                        .map_or_else(|| relation.last().name.clone(), |a| a.name.clone());
                    let join = JoinNames {
                        right: &right,
                        alias: &alias,
                        head: head_name.as_deref(),
                    };
                    match cond {
                        ast::JoinCond::On(e) => self.expr(e, &at, Some(&join)),
                        ast::JoinCond::Using(cols) => {
                            for c in cols {
                                self.push(
                                    c.span,
                                    Occ::ColumnRef {
                                        at: at.clone(),
                                        right: None,
                                    },
                                );
                            }
                        }
                    }
                }
                StepKind::Group { keys, aggregates } => {
                    for e in keys {
                        self.expr(e, &at, None);
                    }
                    for a in aggregates {
                        self.expr(&a.value, &at, None);
                        self.push(a.name.span, Occ::ColumnDecl { at: decl.clone() });
                    }
                }
                StepKind::Aggregate(aggregates) => {
                    for a in aggregates {
                        self.expr(&a.value, &at, None);
                        self.push(a.name.span, Occ::ColumnDecl { at: decl.clone() });
                    }
                }
                StepKind::Sort(keys) => {
                    for s in keys {
                        self.expr(&s.value, &at, None);
                    }
                }
                StepKind::Distinct => {}
                StepKind::Union(q) => self.rel_ref(q),
                StepKind::Window {
                    partition,
                    order,
                    functions,
                    ..
                } => {
                    for e in partition {
                        self.expr(e, &at, None);
                    }
                    for s in order {
                        self.expr(&s.value, &at, None);
                    }
                    for a in functions {
                        self.expr(&a.value, &at, None);
                        self.push(a.name.span, Occ::ColumnDecl { at: decl.clone() });
                    }
                }
                StepKind::Apply(c) => {
                    self.push(c.name.span, Occ::DefineRef(c.name.dotted()));
                    for a in &c.args {
                        self.expr(&a.value, &at, None);
                    }
                }
            }
        }
    }

    fn expr(&mut self, e: &ast::Expr, at: &At, join: Option<&JoinNames<'_>>) {
        match &e.kind {
            ExprKind::Name(q) => {
                let col = q.last();
                let right = match (q.parts.len(), join) {
                    (1, _) => None,
                    (2, Some(j)) => {
                        let qual = q.parts[0].name.as_str();
                        if qual == j.alias || qual == "that" || qual == "right" {
                            Some(j.right.to_string())
                        } else if qual == "this" || qual == "left" || Some(qual) == j.head {
                            None
                        } else {
                            return;
                        }
                    }
                    _ => return,
                };
                self.push(
                    col.span,
                    Occ::ColumnRef {
                        at: at.clone(),
                        right,
                    },
                );
            }
            ExprKind::Call(c) => {
                if ir::Builtin::from_name(&c.name.dotted()).is_some() {
                    self.push(c.name.span, Occ::Function(c.name.dotted()));
                }
                for a in &c.args {
                    self.expr(&a.value, at, join);
                }
            }
            ExprKind::Unary(_, x) | ExprKind::Cast(x, _) => self.expr(x, at, join),
            ExprKind::IsNull { value, .. } => self.expr(value, at, join),
            ExprKind::Binary(_, a, b) => {
                self.expr(a, at, join);
                self.expr(b, at, join);
            }
            ExprKind::InList(x, list) => {
                self.expr(x, at, join);
                for i in list {
                    self.expr(i, at, join);
                }
            }
            ExprKind::Case { arms, otherwise } => {
                for (c, v) in arms {
                    self.expr(c, at, join);
                    self.expr(v, at, join);
                }
                if let Some(o) = otherwise {
                    self.expr(o, at, join);
                }
            }
            ExprKind::List(xs) | ExprKind::Tuple(xs) => {
                for x in xs {
                    self.expr(x, at, join);
                }
            }
            ExprKind::Literal(_) | ExprKind::Param(_) | ExprKind::Star => {}
        }
    }
}

struct JoinNames<'a> {
    right: &'a str,
    alias: &'a str,
    head: Option<&'a str>,
}

/// The declaration of relation `name` in `file`.
pub fn relation_item<'m>(module: &'m ast::Module, name: &str) -> Option<&'m Item> {
    module.items.iter().find(|i| match i {
        Item::Source(s) => s.name.name == name,
        Item::Transform(t) => t.name.name == name,
        _ => false,
    })
}

/// The relation (file and name) whose sink writes warehouse table `table`.
pub fn table_writer(db: &Db<'_>, table: &str) -> Option<(FileId, String)> {
    let key = table_key(table);
    db.roots.iter().find_map(|&f| {
        db.module(f)?.items.iter().find_map(|i| match i {
            Item::Sink(s) => match &s.target {
                ast::SinkTarget::Table(q) if table_key(&q.dotted()) == key => {
                    Some((f, s.relation.dotted()))
                }
                _ => None,
            },
            _ => None,
        })
    })
}

fn table_key(name: &str) -> String {
    let name = name.to_lowercase();
    if name.contains('.') {
        name
    } else {
        format!("main.{name}")
    }
}

/// The table a `table("...")` source reads.
pub fn table_of(s: &ast::SourceDecl) -> Option<&str> {
    if s.origin.name.dotted() != "table" {
        return None;
    }
    match s.origin.args.first().map(|a| &a.value.kind) {
        Some(ExprKind::Literal(ast::Literal::Str(t))) => Some(t),
        _ => None,
    }
}

/// Where column `name`, read at `at` (from the right side of a join when `right`), is introduced:
/// a source's field, a step's new name, a define applied, or a `sql` head's field.
pub fn column_origin(db: &Db<'_>, at: &At, right: Option<&str>, name: &str) -> Option<Span> {
    if let Some(r) = right {
        return origin_in(db, at.file, r, usize::MAX, None, name, 0);
    }
    origin_in(db, at.file, &at.relation, at.step, at.within, name, 0)
}

fn origin_in(
    db: &Db<'_>,
    file: FileId,
    rel: &str,
    step: usize,
    within: Option<usize>,
    name: &str,
    depth: usize,
) -> Option<Span> {
    if depth > 64 {
        return None;
    }
    let module = db.module(file)?;
    match relation_item(module, rel)? {
        Item::Source(s) => {
            if let Some((wf, wrel)) = table_of(s).and_then(|t| table_writer(db, t)) {
                if let Some(o) = origin_in(db, wf, &wrel, usize::MAX, None, name, depth + 1) {
                    return Some(o);
                }
            }
            s.schema
                .iter()
                .flatten()
                .find(|f| same_name(&f.name.name, name))
                .map(|f| f.name.span)
        }
        Item::Transform(t) => {
            let steps = &t.body.steps;
            let upto = step.min(steps.len());
            if let (Some(i), Some(st)) = (within, steps.get(upto)) {
                if let StepKind::Derive(assigns) = &st.kind {
                    if let Some(a) = assigns[..i.min(assigns.len())]
                        .iter()
                        .rev()
                        .find(|a| same_name(&a.name.name, name))
                    {
                        return Some(a.name.span);
                    }
                }
            }
            origin_before(db, file, &t.body, upto, name, depth)
        }
        _ => None,
    }
}

/// The origin of `name` in the input of step `upto` of `body`.
fn origin_before(
    db: &Db<'_>,
    file: FileId,
    body: &ast::RelExpr,
    upto: usize,
    name: &str,
    depth: usize,
) -> Option<Span> {
    let is = |i: &ast::Ident| same_name(&i.name, name);
    let passes = |e: &ast::Expr| matches!(&e.kind, ExprKind::Name(q) if is(q.last()));
    for j in (0..upto).rev() {
        match &body.steps[j].kind {
            StepKind::Derive(a) | StepKind::Window { functions: a, .. } => {
                if let Some(a) = a.iter().rev().find(|a| is(&a.name)) {
                    return Some(a.name.span);
                }
            }
            StepKind::Select(items) => {
                if let Some(it) = items.iter().find(|it| it.name.as_ref().is_some_and(is)) {
                    return it.name.as_ref().map(|n| n.span);
                }
                if !items
                    .iter()
                    .any(|it| it.name.is_none() && passes(&it.value))
                {
                    return None;
                }
            }
            StepKind::SelectExcept(names) => {
                if names.iter().any(is) {
                    return None;
                }
            }
            StepKind::Group { keys, aggregates } => {
                if let Some(a) = aggregates.iter().find(|a| is(&a.name)) {
                    return Some(a.name.span);
                }
                if !keys.iter().any(passes) {
                    return None;
                }
            }
            StepKind::Aggregate(a) => return a.iter().find(|a| is(&a.name)).map(|a| a.name.span),
            StepKind::Join { relation, .. } => {
                return origin_before(db, file, body, j, name, depth + 1).or_else(|| {
                    origin_in(
                        db,
                        file,
                        &relation.dotted(),
                        usize::MAX,
                        None,
                        name,
                        depth + 1,
                    )
                });
            }
            StepKind::Apply(c) => {
                return origin_before(db, file, body, j, name, depth + 1).or(Some(c.name.span));
            }
            StepKind::Filter(_)
            | StepKind::Sort(_)
            | StepKind::Take(_)
            | StepKind::Distinct
            | StepKind::Union(_) => {}
        }
    }
    match &body.head {
        RelHead::Ref(q) if q.parts.len() == 1 => {
            origin_in(db, file, &q.dotted(), usize::MAX, None, name, depth + 1)
        }
        RelHead::Ref(_) => None,
        RelHead::Sql { schema, .. } => schema.iter().find(|f| is(&f.name)).map(|f| f.name.span),
        RelHead::Call(c) => Some(c.name.span),
    }
}

/// The checked pipeline of `file`.
pub fn pipeline<'a>(db: &Db<'a>, file: FileId) -> Option<&'a ir::Pipeline> {
    let name = &db.sources().get(file).name;
    db.project().pipelines.iter().find(|p| &p.file == name)
}

/// The schema read at `at` (the input of its step), from the checked IR.
pub fn schema_at<'a>(db: &Db<'a>, at: &At) -> Option<ir::Schema> {
    let rel = pipeline(db, at.file)?.relation(&at.relation)?;
    let module = db.module(at.file)?;
    let Some(Item::Transform(t)) = relation_item(module, &at.relation) else {
        return Some(rel.schema.clone());
    };
    let steps = &t.body.steps;
    if at.step >= steps.len() {
        return Some(rel.schema.clone());
    }
    let ir::RelationKind::Transform(tr) = &rel.kind else {
        return None;
    };
    let spans: Vec<Span> = steps.iter().map(|s| s.span).collect();
    // Schema after each AST step; IR steps not matching an AST step come from an applied define.
    let mut before: Option<ir::Schema> = match &t.body.head {
        RelHead::Ref(q) => pipeline(db, at.file)?
            .relation(&q.dotted())
            .map(|r| r.schema.clone()),
        _ => None,
    };
    let mut ir_steps = tr.steps.iter().peekable();
    while let Some(s) = ir_steps.peek() {
        if spans.contains(&s.span) {
            break;
        }
        before = Some(s.schema.clone());
        ir_steps.next();
    }
    for (j, st) in steps.iter().enumerate() {
        if j == at.step {
            break;
        }
        if matches!(st.kind, StepKind::Apply(_)) {
            while let Some(s) = ir_steps.peek() {
                if spans.contains(&s.span) {
                    break;
                }
                before = Some(s.schema.clone());
                ir_steps.next();
            }
        } else {
            match ir_steps.peek() {
                Some(s) if s.span == st.span => {
                    before = Some(s.schema.clone());
                    ir_steps.next();
                }
                _ => return None,
            }
        }
    }
    let mut schema = before?;
    if let (Some(i), StepKind::Derive(assigns)) = (at.within, &steps[at.step].kind) {
        // Earlier assignments of the same derive: their types are in the step's output.
        let after = tr.steps.iter().find(|s| s.span == steps[at.step].span)?;
        for a in &assigns[..i.min(assigns.len())] {
            if let Some(c) = after.schema.get(&a.name.name) {
                schema.set(c.clone());
            }
        }
    }
    Some(schema)
}

/// Every occurrence in the project of the column introduced at `origin` (the introduction
/// included, when it is an occurrence), in file and position order.
pub fn column_occurrences(db: &Db<'_>, origin: Span) -> Vec<(Span, At)> {
    let mut out = Vec::new();
    let mut files: Vec<FileId> = db.roots.to_vec();
    if !files.contains(&origin.file) {
        files.push(origin.file);
    }
    files.sort();
    for f in files {
        for o in occurrences(db, f) {
            let name = db.sources().get(f).text[o.span.start as usize..o.span.end as usize]
                .trim_matches('`')
                .to_string();
            match &o.occ {
                Occ::ColumnDecl { at } if o.span == origin => out.push((o.span, at.clone())),
                Occ::ColumnRef { at, right }
                    if column_origin(db, at, right.as_deref(), &name) == Some(origin) =>
                {
                    out.push((o.span, at.clone()));
                }
                _ => {}
            }
        }
    }
    out
}

/// Every occurrence of relation `name` of `file`: its declaration and every reference.
pub fn relation_occurrences(db: &Db<'_>, file: FileId, name: &str) -> Vec<Span> {
    occurrences(db, file)
        .into_iter()
        .filter(|o| matches!(&o.occ, Occ::RelationDecl(n) | Occ::RelationRef(n) if n == name))
        .map(|o| o.span)
        .collect()
}

/// The define named `name` (as written: `latest` or `dedupe.latest`) seen from `file`.
pub fn define<'a>(db: &Db<'a>, file: FileId, name: &str) -> Option<(FileId, &'a ast::DefineDecl)> {
    let module = db.module(file)?;
    let find = |f: FileId, n: &str| -> Option<(FileId, &'a ast::DefineDecl)> {
        db.module(f)?.items.iter().find_map(|i| match i {
            Item::Define(d) if d.name.name == n => Some((f, d)),
            _ => None,
        })
    };
    match name.rsplit_once('.') {
        None => find(file, name),
        Some((ns, n)) => imports(db.sources(), file, module)
            .into_iter()
            .find(|(a, _)| a == ns)
            .and_then(|(_, f)| find(f, n)),
    }
}
