//! Column-level lineage: for every column of every relation and sink, the columns it is computed
//! from, read off the typed IR (defines are already expanded there into their steps).
//!
//! Value lineage follows a column's value: `derive`, `select` (renames), join keys and the
//! columns each side contributes, group keys, aggregates, window functions, `union`, sinks, and
//! across pipelines `table(...)` sources (linked to the sink writing the table) and file sources
//! reading a path a file sink writes. Conditions that only choose rows (`filter`, a join's
//! condition) are kept apart, per relation, as [`RowContext`]: they explain which rows a relation
//! has, not what any value is. `sort`, `take` and `distinct` pass columns through. Raw `sql`
//! blocks are opaque: columns coming out of one are [`ColumnKind::Opaque`] with no inputs.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use pipec_check::ir::{
    same_name, Expr, ExprKind, FileFormat, Head, PostgresRead, Project, RelationKind, Side,
    SinkTarget, SortKey, Source, StepKind,
};
use pipec_syntax::ast::{BinaryOp, JoinKind, Literal, UnaryOp};
use serde::Serialize;

/// What a column is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// Read from outside by a source.
    Source,
    /// Computed by a transform or written by a sink.
    Derived,
    /// Computed (at least partly) inside a raw `sql` block, which pipec does not look into.
    Opaque,
}

/// What a relation node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A `source`.
    Source,
    /// A `transform`.
    Transform,
    /// A `sink` (named by its target).
    Sink,
}

/// How a column is computed from one of its inputs: the last step on the way that is not a plain
/// copy (`avg(minutes)` of `minutes = minutes_between(a, b)` is an aggregate of `a` and `b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum How {
    /// The same value (a rename, a pass-through, a sink, a `union` side).
    #[serde(rename = "copy")]
    Copy,
    /// A key of a join: the value of one side, matched with the other.
    #[serde(rename = "join key")]
    JoinKey,
    /// A key of a `group`.
    #[serde(rename = "group key")]
    GroupKey,
    /// A row-wise expression.
    #[serde(rename = "expression")]
    Expression,
    /// A window function (its arguments, partition and order columns).
    #[serde(rename = "window")]
    Window,
    /// An aggregate of a `group`.
    #[serde(rename = "aggregate")]
    Aggregate,
    /// A `table(...)` source reading the table a sink writes.
    #[serde(rename = "table")]
    Table,
    /// A file source reading the files a file sink writes.
    #[serde(rename = "file")]
    File,
}

impl How {
    /// The name used in every output.
    pub fn name(self) -> &'static str {
        match self {
            How::Copy => "copy",
            How::JoinKey => "join key",
            How::GroupKey => "group key",
            How::Expression => "expression",
            How::Window => "window",
            How::Aggregate => "aggregate",
            How::Table => "table",
            How::File => "file",
        }
    }
}

impl fmt::Display for How {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A source, transform or sink of one pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct RelationNode {
    /// `pipeline.name`, unique in the project (the plan's node id).
    pub id: String,
    /// The pipeline.
    pub pipeline: String,
    /// The relation's name, or a sink's target (`mart.station_daily`, a file path).
    pub name: String,
    /// Source, transform or sink.
    pub role: Role,
    /// Where rows come from, as written: `csv("data/{ds}.csv")`, `rentals | ...`, `sink x`.
    pub origin: String,
    /// Its columns (indices into [`Lineage::columns`]) in schema order.
    #[serde(skip)]
    pub columns: Vec<usize>,
    /// Conditions choosing its rows.
    #[serde(skip)]
    pub rows: Vec<RowContext>,
}

/// A condition that chooses a relation's rows without computing a value (`filter`, a join's
/// condition), with the input columns it reads.
#[derive(Debug, Clone)]
pub struct RowContext {
    /// The step, e.g. `filter returned_at > rented_at`.
    pub step: String,
    /// Input columns read (indices into [`Lineage::columns`]).
    pub columns: Vec<usize>,
    /// The condition reads a column of a raw `sql` block.
    pub opaque: bool,
}

/// One column of a relation or sink.
#[derive(Debug, Clone)]
pub struct ColumnNode {
    /// Its relation (index into [`Lineage::relations`]).
    pub relation: usize,
    /// Name as the schema spells it.
    pub column: String,
    /// Type with nullability, e.g. `float?`.
    pub ty: String,
    /// Source, derived or opaque.
    pub kind: ColumnKind,
    /// The step that last computed it in its relation (`None` for a pass-through and for the
    /// columns of sources and sinks, whose relation's `origin` says where they come from).
    pub step: Option<String>,
}

/// A column computed from another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// Input column.
    pub from: usize,
    /// Computed column.
    pub to: usize,
    /// How.
    pub how: How,
    /// The steps on the way that are not plain copies, in order.
    pub steps: Vec<String>,
}

/// The column lineage of a project.
#[derive(Debug, Clone, Default)]
pub struct Lineage {
    /// Relations and sinks, pipeline by pipeline.
    pub relations: Vec<RelationNode>,
    /// Every column.
    pub columns: Vec<ColumnNode>,
    /// Input → computed column.
    pub edges: Vec<Edge>,
    inputs: Vec<Vec<usize>>,
    outputs: Vec<Vec<usize>>,
}

/// Why a name given on the command line names no relation or column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// `relation.column` was expected.
    NotQualified(String),
    /// No relation or sink has that name.
    UnknownRelation {
        /// The name asked for.
        name: String,
        /// The closest name, if one is close.
        suggestion: Option<String>,
    },
    /// Several pipelines have a relation of that name.
    Ambiguous {
        /// The name asked for.
        name: String,
        /// Qualified names of the candidates.
        candidates: Vec<String>,
    },
    /// The relation has no such column.
    UnknownColumn {
        /// The relation's id.
        relation: String,
        /// The name asked for.
        name: String,
        /// The closest column name, if one is close.
        suggestion: Option<String>,
        /// Every column of the relation.
        columns: Vec<String>,
    },
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NotQualified(s) => write!(
                f,
                "`{s}` names no column: write `relation.column`, e.g. `station_daily.rides`"
            ),
            LookupError::UnknownRelation { name, suggestion } => {
                write!(f, "unknown relation `{name}`")?;
                match suggestion {
                    Some(s) => write!(f, "; did you mean `{s}`?"),
                    None => Ok(()),
                }
            }
            LookupError::Ambiguous { name, candidates } => write!(
                f,
                "`{name}` is a relation of several pipelines; qualify it: {}",
                candidates
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            LookupError::UnknownColumn {
                relation,
                name,
                suggestion,
                columns,
            } => {
                write!(f, "`{relation}` has no column `{name}`")?;
                match suggestion {
                    Some(s) => write!(f, "; did you mean `{s}`?"),
                    None => write!(f, " (columns: {})", columns.join(", ")),
                }
            }
        }
    }
}

/// Finds `asked` among `(id, name)` pairs: a qualified id (`pipeline.name`) or a name unique in
/// the project, compared ignoring case as the checker compares table names.
pub(crate) fn resolve_name<'a>(
    asked: &str,
    candidates: impl Iterator<Item = (&'a str, &'a str)> + Clone,
) -> Result<usize, LookupError> {
    let all: Vec<(&str, &str)> = candidates.collect();
    for exact in [true, false] {
        let eq = |a: &str| {
            if exact {
                a == asked
            } else {
                same_name(a, asked)
            }
        };
        if let Some(i) = all.iter().position(|(id, _)| eq(id)) {
            return Ok(i);
        }
        let named: Vec<usize> = (0..all.len()).filter(|&i| eq(all[i].1)).collect();
        match named.as_slice() {
            [] => {}
            [one] => return Ok(*one),
            many => {
                return Err(LookupError::Ambiguous {
                    name: asked.to_string(),
                    candidates: many.iter().map(|&i| all[i].0.to_string()).collect(),
                })
            }
        }
    }
    let names = all.iter().flat_map(|(id, name)| [*id, *name]);
    Err(LookupError::UnknownRelation {
        name: asked.to_string(),
        suggestion: pipec_diag::did_you_mean(asked, names).map(str::to_string),
    })
}

impl Lineage {
    /// The relation or sink named `name`: `pipeline.relation`, `relation`, `schema.table` of a
    /// sink, or `pipeline.schema.table`.
    pub fn relation(&self, name: &str) -> Result<usize, LookupError> {
        resolve_name(
            name,
            self.relations
                .iter()
                .map(|r| (r.id.as_str(), r.name.as_str())),
        )
    }

    /// The column `column` of relation `relation`, ignoring case as the checker does.
    pub fn column(&self, relation: usize, column: &str) -> Result<usize, LookupError> {
        let cols = &self.relations[relation].columns;
        let found = cols
            .iter()
            .find(|&&c| self.columns[c].column == column)
            .or_else(|| {
                cols.iter()
                    .find(|&&c| same_name(&self.columns[c].column, column))
            });
        if let Some(&c) = found {
            return Ok(c);
        }
        let names: Vec<&str> = cols
            .iter()
            .map(|&c| self.columns[c].column.as_str())
            .collect();
        Err(LookupError::UnknownColumn {
            relation: self.relations[relation].id.clone(),
            name: column.to_string(),
            suggestion: pipec_diag::did_you_mean(column, names.iter().copied()).map(str::to_string),
            columns: names.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// The column named `relation.column` (the relation part may itself hold dots).
    pub fn find(&self, qualified: &str) -> Result<usize, LookupError> {
        let Some((rel, col)) = qualified.rsplit_once('.') else {
            return Err(LookupError::NotQualified(qualified.to_string()));
        };
        if rel.is_empty() || col.is_empty() {
            return Err(LookupError::NotQualified(qualified.to_string()));
        }
        let r = self.relation(rel)?;
        self.column(r, col)
    }

    /// `pipeline.relation.column`.
    pub fn id(&self, column: usize) -> String {
        let c = &self.columns[column];
        format!("{}.{}", self.relations[c.relation].id, c.column)
    }

    /// Edges into `column` (its direct inputs).
    pub fn inputs(&self, column: usize) -> impl Iterator<Item = &Edge> {
        self.inputs[column].iter().map(|&e| &self.edges[e])
    }

    /// Edges out of `column` (the columns computed directly from it).
    pub fn outputs(&self, column: usize) -> impl Iterator<Item = &Edge> {
        self.outputs[column].iter().map(|&e| &self.edges[e])
    }

    /// Every column `column` is computed from, transitively, nearest first.
    pub fn upstream(&self, column: usize) -> Vec<usize> {
        self.walk(column, |c| self.inputs(c).map(|e| e.from).collect())
    }

    /// Every column computed from `column`, transitively, nearest first.
    pub fn downstream(&self, column: usize) -> Vec<usize> {
        self.walk(column, |c| self.outputs(c).map(|e| e.to).collect())
    }

    fn walk(&self, start: usize, next: impl Fn(usize) -> Vec<usize>) -> Vec<usize> {
        let mut seen = vec![false; self.columns.len()];
        seen[start] = true;
        let mut queue = VecDeque::from([start]);
        let mut out = Vec::new();
        while let Some(c) = queue.pop_front() {
            for n in next(c) {
                if !seen[n] {
                    seen[n] = true;
                    out.push(n);
                    queue.push_back(n);
                }
            }
        }
        out
    }

    fn add_edge(&mut self, from: usize, to: usize, how: How, steps: Vec<String>) {
        if let Some(&e) = self.inputs[to]
            .iter()
            .find(|&&e| self.edges[e].from == from)
        {
            let edge = &mut self.edges[e];
            edge.how = edge.how.max(how);
            for s in steps {
                if !edge.steps.contains(&s) {
                    edge.steps.push(s);
                }
            }
            return;
        }
        self.edges.push(Edge {
            from,
            to,
            how,
            steps,
        });
        self.inputs[to].push(self.edges.len() - 1);
        self.outputs[from].push(self.edges.len() - 1);
    }

    fn add_relation(&mut self, node: RelationNode, schema: &pipec_check::ir::Schema) -> usize {
        let r = self.relations.len();
        let kind = match node.role {
            Role::Source => ColumnKind::Source,
            _ => ColumnKind::Derived,
        };
        let mut node = node;
        for c in &schema.columns {
            node.columns.push(self.columns.len());
            self.columns.push(ColumnNode {
                relation: r,
                column: c.name.clone(),
                ty: format!("{}{}", c.ty, if c.nullable { "?" } else { "" }),
                kind,
                step: None,
            });
            self.inputs.push(Vec::new());
            self.outputs.push(Vec::new());
        }
        self.relations.push(node);
        r
    }
}

/// One input column reached by a column of the step being read.
#[derive(Debug, Clone)]
struct Origin {
    column: usize,
    how: How,
    steps: Vec<String>,
}

/// What a column of the current step is computed from.
#[derive(Debug, Clone, Default)]
struct Trace {
    from: Vec<Origin>,
    opaque: bool,
    step: Option<String>,
}

impl Trace {
    fn merge(&mut self, o: Origin) {
        match self.from.iter_mut().find(|x| x.column == o.column) {
            Some(x) => {
                x.how = x.how.max(o.how);
                for s in o.steps {
                    if !x.steps.contains(&s) {
                        x.steps.push(s);
                    }
                }
            }
            None => self.from.push(o),
        }
    }
}

/// The columns at one step of a transform, indexed by lowercased name (names that differ only
/// in case are one column, `E0112`). After a raw `sql` head, columns not yet assigned by a step
/// come out of the SQL (`implicit_opaque`).
#[derive(Default)]
struct Env {
    columns: Vec<(String, Trace)>,
    index: HashMap<String, usize>,
    implicit_opaque: bool,
}

impl Env {
    fn get(&self, name: &str) -> Trace {
        match self.index.get(&name.to_lowercase()) {
            Some(&i) => self.columns[i].1.clone(),
            None => Trace {
                opaque: self.implicit_opaque,
                step: self.implicit_opaque.then(|| "sql block".to_string()),
                ..Trace::default()
            },
        }
    }

    fn set(&mut self, name: &str, t: Trace) {
        match self.index.get(&name.to_lowercase()) {
            Some(&i) => self.columns[i] = (name.to_string(), t),
            None => {
                self.index.insert(name.to_lowercase(), self.columns.len());
                self.columns.push((name.to_string(), t));
            }
        }
    }
}

/// Columns read by `e`, with their side inside a join condition.
fn refs(e: &Expr) -> Vec<(String, Option<Side>)> {
    let mut out = Vec::new();
    e.walk(&mut |x| {
        if let ExprKind::Column { name, side } = &x.kind {
            out.push((name.clone(), *side));
        }
    });
    out
}

/// The trace of a value computed by `exprs` in `step`: every origin of every column read, its
/// `how` replaced by `how` unless `how` is a copy.
fn compose(env: &Env, exprs: &[&Expr], how: How, step: &str) -> Trace {
    let mut t = Trace {
        step: Some(step.to_string()),
        ..Trace::default()
    };
    for e in exprs {
        for (name, _) in refs(e) {
            let input = env.get(&name);
            t.opaque |= input.opaque;
            for mut o in input.from {
                if how != How::Copy {
                    o.how = how;
                    if !o.steps.iter().any(|s| s == step) {
                        o.steps.push(step.to_string());
                    }
                }
                t.merge(o);
            }
        }
    }
    t
}

/// Builds the column lineage of a checked project.
pub fn lineage(project: &Project) -> Lineage {
    let mut l = Lineage::default();
    // (pipeline, relation name) → relation node, per pipeline.
    let mut by_name: Vec<HashMap<&str, usize>> = Vec::new();
    let mut sink_nodes: Vec<Vec<usize>> = Vec::new();
    for p in &project.pipelines {
        let mut names = HashMap::new();
        for r in &p.relations {
            let (role, origin) = match &r.kind {
                RelationKind::Source(s) => (Role::Source, source_text(s)),
                RelationKind::Transform(t) => (
                    Role::Transform,
                    match &t.head {
                        Head::Relation(n) => format!("{n} | ..."),
                        Head::Sql { .. } => "sql block".to_string(),
                    },
                ),
            };
            let node = RelationNode {
                id: format!("{}.{}", p.name, r.name),
                pipeline: p.name.clone(),
                name: r.name.clone(),
                role,
                origin,
                columns: Vec::new(),
                rows: Vec::new(),
            };
            names.insert(r.name.as_str(), l.add_relation(node, &r.schema));
        }
        let mut sinks = Vec::new();
        for s in &p.sinks {
            let schema = p
                .relation(&s.relation)
                .map(|r| r.schema.clone())
                .unwrap_or_default();
            let node = RelationNode {
                id: format!("{}.{}", p.name, s.name()),
                pipeline: p.name.clone(),
                name: s.name(),
                role: Role::Sink,
                origin: format!("sink {} -> {}", s.relation, sink_target_text(&s.target)),
                columns: Vec::new(),
                rows: Vec::new(),
            };
            sinks.push(l.add_relation(node, &schema));
        }
        by_name.push(names);
        sink_nodes.push(sinks);
    }
    for (pi, p) in project.pipelines.iter().enumerate() {
        for r in &p.relations {
            let RelationKind::Transform(t) = &r.kind else {
                continue;
            };
            let rel = by_name[pi][r.name.as_str()];
            transform(&mut l, &by_name[pi], rel, t);
        }
        for (si, s) in p.sinks.iter().enumerate() {
            let sink = sink_nodes[pi][si];
            let Some(&rel) = by_name[pi].get(s.relation.as_str()) else {
                continue;
            };
            let pairs: Vec<(usize, usize)> = l.relations[sink]
                .columns
                .iter()
                .copied()
                .zip(l.relations[rel].columns.iter().copied())
                .collect();
            for (to, from) in pairs {
                l.add_edge(from, to, How::Copy, Vec::new());
            }
        }
    }
    link_pipelines(&mut l, project, &by_name, &sink_nodes);
    l
}

/// `table(...)` sources ← the sink writing the table; file sources ← a file sink of the same path.
fn link_pipelines(
    l: &mut Lineage,
    project: &Project,
    by_name: &[HashMap<&str, usize>],
    sink_nodes: &[Vec<usize>],
) {
    let mut tables: Vec<(String, String, usize)> = Vec::new();
    let mut files: Vec<(PathBuf, usize)> = Vec::new();
    for (pi, p) in project.pipelines.iter().enumerate() {
        for (si, s) in p.sinks.iter().enumerate() {
            match &s.target {
                SinkTarget::Table { schema, table } => {
                    tables.push((schema.clone(), table.clone(), sink_nodes[pi][si]))
                }
                SinkTarget::File { path, .. } => {
                    files.push((resolve_path(&p.file, path), sink_nodes[pi][si]))
                }
            }
        }
    }
    for (pi, p) in project.pipelines.iter().enumerate() {
        for r in &p.relations {
            let RelationKind::Source(s) = &r.kind else {
                continue;
            };
            let (sinks, how): (Vec<usize>, How) = match s {
                Source::Table { table } => {
                    let (schema, name) = table.split_once('.').unwrap_or(("main", table));
                    let found = tables
                        .iter()
                        .filter(|(ss, st, _)| same_name(ss, schema) && same_name(st, name))
                        .map(|t| t.2)
                        .collect();
                    (found, How::Table)
                }
                Source::File { path, .. } => {
                    let path = resolve_path(&p.file, path);
                    let found = files
                        .iter()
                        .filter(|(f, _)| *f == path)
                        .map(|f| f.1)
                        .collect();
                    (found, How::File)
                }
                _ => continue,
            };
            let source = by_name[pi][r.name.as_str()];
            for sink in sinks {
                let cols = l.relations[source].columns.clone();
                for c in cols {
                    let name = l.columns[c].column.clone();
                    if let Ok(from) = l.column(sink, &name) {
                        l.add_edge(from, c, how, Vec::new());
                    }
                }
            }
        }
    }
}

/// A sink's or source's path as one string per file: URIs and absolute paths as written,
/// relative paths joined to the folder of `spec_file`, `.` and `..` removed.
pub fn resolve_path(spec_file: &str, path: &str) -> PathBuf {
    if path.contains("://") || Path::new(path).is_absolute() {
        return PathBuf::from(path);
    }
    let base = Path::new(spec_file).parent().unwrap_or(Path::new(""));
    let mut out = PathBuf::new();
    for c in base.join(path).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Reads the steps of transform `rel` and adds its edges and row contexts.
fn transform(
    l: &mut Lineage,
    names: &HashMap<&str, usize>,
    rel: usize,
    t: &pipec_check::ir::Transform,
) {
    let relation_columns = |l: &Lineage, name: &str| -> Vec<(String, usize)> {
        names
            .get(name)
            .map(|&r| {
                l.relations[r]
                    .columns
                    .iter()
                    .map(|&c| (l.columns[c].column.clone(), c))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut env = Env::default();
    match &t.head {
        Head::Relation(n) => {
            for (name, c) in relation_columns(l, n) {
                let from = vec![Origin {
                    column: c,
                    how: How::Copy,
                    steps: Vec::new(),
                }];
                env.set(
                    &name,
                    Trace {
                        from,
                        ..Trace::default()
                    },
                );
            }
        }
        Head::Sql { refs, .. } => {
            env.implicit_opaque = true;
            l.relations[rel].origin = if refs.is_empty() {
                "sql block".to_string()
            } else {
                format!("sql block reading {}", refs.join(", "))
            };
        }
    }
    let mut rows: Vec<RowContext> = Vec::new();
    for step in &t.steps {
        match &step.kind {
            StepKind::Filter(e) => {
                let text = format!("filter {}", expr_text(e));
                let trace = compose(&env, &[e], How::Expression, &text);
                rows.push(RowContext {
                    step: text,
                    columns: trace.from.iter().map(|o| o.column).collect(),
                    opaque: trace.opaque,
                });
            }
            StepKind::Derive(items) => {
                for (n, e) in items {
                    let text = format!("derive {n} = {}", expr_text(e));
                    let trace = value(&env, n, e, &text);
                    env.set(n, trace);
                }
            }
            StepKind::Select(items) => {
                let mut next = Env::default();
                for (n, e) in items {
                    let text = match &e.kind {
                        ExprKind::Column { name, .. } if name == n => format!("select {n}"),
                        _ => format!("select {n} = {}", expr_text(e)),
                    };
                    next.set(n, value(&env, n, e, &text));
                }
                env = next;
            }
            StepKind::Join {
                kind,
                right,
                on,
                right_columns,
            } => {
                let right_cols = relation_columns(l, right);
                let right_col = |name: &str| {
                    right_cols
                        .iter()
                        .find(|(n, _)| n == name)
                        .or_else(|| right_cols.iter().find(|(n, _)| same_name(n, name)))
                        .map(|(_, c)| *c)
                };
                let text = join_text(*kind, right, on);
                // Row context: every column of the condition, on both sides.
                let mut ctx = RowContext {
                    step: text.clone(),
                    columns: Vec::new(),
                    opaque: false,
                };
                for (name, side) in refs(on) {
                    if side == Some(Side::Right) {
                        ctx.columns.extend(right_col(&name));
                    } else {
                        let tr = env.get(&name);
                        ctx.opaque |= tr.opaque;
                        ctx.columns.extend(tr.from.iter().map(|o| o.column));
                    }
                }
                ctx.columns.dedup();
                rows.push(ctx);
                for (left, right_name) in on.shared_join_keys() {
                    let mut tr = env.get(&left);
                    for o in &mut tr.from {
                        o.how = How::JoinKey;
                        o.steps.push(text.clone());
                    }
                    if let Some(c) = right_col(&right_name) {
                        tr.merge(Origin {
                            column: c,
                            how: How::JoinKey,
                            steps: vec![text.clone()],
                        });
                    }
                    tr.step = Some(text.clone());
                    env.set(&left, tr);
                }
                for name in right_columns {
                    let from = right_col(name)
                        .map(|c| Origin {
                            column: c,
                            how: How::Copy,
                            steps: Vec::new(),
                        })
                        .into_iter()
                        .collect();
                    env.set(
                        name,
                        Trace {
                            from,
                            opaque: false,
                            step: Some(text.clone()),
                        },
                    );
                }
            }
            StepKind::Group { keys, aggregates } => {
                let mut next = Env::default();
                for (n, e) in keys {
                    let text = format!("group {}", expr_text(e));
                    next.set(n, compose(&env, &[e], How::GroupKey, &text));
                }
                for (n, e) in aggregates {
                    let text = format!("group {{ {n} = {} }}", expr_text(e));
                    next.set(n, compose(&env, &[e], How::Aggregate, &text));
                }
                env = next;
            }
            StepKind::Sort(_) | StepKind::Take(_) | StepKind::Distinct => {}
            StepKind::Union(other) => {
                let other_cols = relation_columns(l, other);
                let text = format!("union {other}");
                for c in &step.schema.columns {
                    let mut tr = env.get(&c.name);
                    if let Some((_, oc)) = other_cols.iter().find(|(n, _)| same_name(n, &c.name)) {
                        tr.merge(Origin {
                            column: *oc,
                            how: How::Copy,
                            steps: Vec::new(),
                        });
                    }
                    tr.step = Some(match tr.step.take() {
                        Some(s) => format!("{s}; {text}"),
                        None => text.clone(),
                    });
                    env.set(&c.name, tr);
                }
            }
            StepKind::Window {
                partition,
                order,
                functions,
                ..
            } => {
                let mut head = String::from("window");
                if !partition.is_empty() {
                    let p: Vec<String> = partition.iter().map(expr_text).collect();
                    head.push_str(&format!(" partition {}", p.join(", ")));
                }
                if !order.is_empty() {
                    head.push_str(&format!(" order {}", sort_text(order)));
                }
                let mut reads: Vec<&Expr> = partition.iter().collect();
                reads.extend(order.iter().map(|k| &k.value));
                for (n, e) in functions {
                    let text = format!("{head} {{ {n} = {} }}", expr_text(e));
                    let mut all = reads.clone();
                    all.push(e);
                    env.set(n, compose(&env, &all, How::Window, &text));
                }
            }
        }
    }
    let outputs = l.relations[rel].columns.clone();
    for c in outputs {
        let name = l.columns[c].column.clone();
        let tr = env.get(&name);
        for o in tr.from {
            l.add_edge(o.column, c, o.how, o.steps);
        }
        let col = &mut l.columns[c];
        col.kind = if tr.opaque {
            ColumnKind::Opaque
        } else {
            ColumnKind::Derived
        };
        col.step = tr.step;
    }
    l.relations[rel].rows = rows;
}

/// A derive or select item: a bare column is a copy (keeping where it was computed unless
/// renamed), anything else an expression.
fn value(env: &Env, name: &str, e: &Expr, text: &str) -> Trace {
    match &e.kind {
        ExprKind::Column { name: from, .. } => {
            let mut tr = compose(env, &[e], How::Copy, text);
            let input = env.get(from);
            tr.step = if same_name(from, name) {
                input.step
            } else {
                Some(text.to_string())
            };
            tr
        }
        _ => compose(env, &[e], How::Expression, text),
    }
}

fn join_text(kind: JoinKind, right: &str, on: &Expr) -> String {
    let kw = match kind {
        JoinKind::Inner => "join",
        JoinKind::Left => "join left",
        JoinKind::Right => "join right",
        JoinKind::Full => "join full",
    };
    let mut parts = Vec::new();
    conjuncts(on, &mut parts);
    let keys: Vec<String> = parts
        .iter()
        .filter_map(|e| match &e.kind {
            ExprKind::Binary(BinaryOp::Eq, a, b) => match (&a.kind, &b.kind) {
                (
                    ExprKind::Column { name: x, side: sx },
                    ExprKind::Column { name: y, side: sy },
                ) if same_name(x, y) && sx != sy => Some(x.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    if keys.len() == parts.len() {
        return format!("{kw} {right} using ({})", keys.join(", "));
    }
    let mut p = Printer {
        right: Some(right),
        out: String::new(),
    };
    p.expr(on, 0);
    format!("{kw} {right} on {}", p.out)
}

fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match &e.kind {
        ExprKind::Binary(BinaryOp::And, a, b) => {
            conjuncts(a, out);
            conjuncts(b, out);
        }
        _ => out.push(e),
    }
}

fn sort_text(keys: &[SortKey]) -> String {
    keys.iter()
        .map(|k| {
            let e = expr_text(&k.value);
            if k.descending {
                format!("{e} desc")
            } else {
                e
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn source_text(s: &Source) -> String {
    match s {
        Source::File { format, path, .. } => {
            format!("{}({})", format_name(*format), quoted(path))
        }
        Source::Http { url, .. } => format!("http({})", quoted(url)),
        Source::Postgres { read, .. } => match read {
            PostgresRead::Table(t) => format!("postgres(table = {})", quoted(t)),
            PostgresRead::Query(_) => "postgres(query)".to_string(),
        },
        Source::Calendar { from, to } => format!("calendar({from}, {to})"),
        Source::Table { table } => format!("table({})", quoted(table)),
        Source::Stream { system, topic, .. } => format!("{system}({})", quoted(topic)),
    }
}

fn sink_target_text(t: &SinkTarget) -> String {
    match t {
        SinkTarget::Table { schema, table } => format!("{schema}.{table}"),
        SinkTarget::File { format, path } => format!("{}({})", format_name(*format), quoted(path)),
    }
}

fn format_name(f: FileFormat) -> &'static str {
    match f {
        FileFormat::Csv => "csv",
        FileFormat::Ndjson => "ndjson",
        FileFormat::Parquet => "parquet",
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// An expression in `.pipe` syntax, parenthesised by the language's precedences.
pub fn expr_text(e: &Expr) -> String {
    let mut p = Printer {
        right: None,
        out: String::new(),
    };
    p.expr(e, 0);
    p.out
}

struct Printer<'a> {
    /// In a join condition: the right relation's name, prefixed to its columns.
    right: Option<&'a str>,
    out: String,
}

fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And => 2,
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            5
        }
        BinaryOp::Coalesce => 7,
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Concat => 8,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 9,
    }
}

impl Printer<'_> {
    /// Writes `e`, in parentheses when it binds looser than `min`.
    fn expr(&mut self, e: &Expr, min: u8) {
        let own = match &e.kind {
            ExprKind::Binary(op, ..) => precedence(*op),
            ExprKind::Unary(UnaryOp::Not, _) => 3,
            ExprKind::IsNull { .. } => 4,
            ExprKind::InList(..) => 6,
            ExprKind::Unary(UnaryOp::Neg, _) => 10,
            _ => 12,
        };
        let paren = own < min;
        if paren {
            self.out.push('(');
        }
        match &e.kind {
            ExprKind::Literal(lit) => self.out.push_str(&literal_text(lit)),
            ExprKind::Column { name, side } => {
                if let (Some(Side::Right), Some(r)) = (side, self.right) {
                    self.out.push_str(r);
                    self.out.push('.');
                }
                self.out.push_str(name);
            }
            ExprKind::Param(p) => {
                self.out.push('@');
                self.out.push_str(match p {
                    pipec_check::ir::RunParam::Ds => "ds",
                    pipec_check::ir::RunParam::Start => "start",
                    pipec_check::ir::RunParam::End => "end",
                });
            }
            ExprKind::Call { func, args, .. } => {
                self.out.push_str(func.name());
                self.out.push('(');
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.expr(a, 0);
                }
                self.out.push(')');
            }
            ExprKind::Unary(op, x) => {
                self.out.push_str(match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Not => "not ",
                });
                // The language's advice: parentheses around an operand of `not` that has operators.
                self.expr(x, if *op == UnaryOp::Not { 11 } else { own + 1 });
            }
            ExprKind::Binary(op, a, b) => {
                self.expr(a, own);
                self.out.push(' ');
                self.out.push_str(op.symbol());
                self.out.push(' ');
                self.expr(b, own + 1);
            }
            ExprKind::Cast(x, ty) => {
                self.expr(x, 12);
                self.out.push_str("::");
                self.out.push_str(&ty.to_string());
            }
            ExprKind::IsNull { value, negated } => {
                self.expr(value, 11);
                self.out
                    .push_str(if *negated { " is not null" } else { " is null" });
            }
            ExprKind::InList(x, list) => {
                self.expr(x, 11);
                self.out.push_str(" in [");
                for (i, a) in list.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.expr(a, 0);
                }
                self.out.push(']');
            }
            ExprKind::Case { arms, otherwise } => {
                self.out.push_str("case");
                for (c, v) in arms {
                    self.out.push_str(" when ");
                    self.expr(c, 0);
                    self.out.push_str(" then ");
                    self.expr(v, 0);
                }
                if let Some(o) = otherwise {
                    self.out.push_str(" else ");
                    self.expr(o, 0);
                }
                self.out.push_str(" end");
            }
        }
        if paren {
            self.out.push(')');
        }
    }
}

fn literal_text(l: &Literal) -> String {
    match l {
        Literal::Int(i) => i.to_string(),
        Literal::Float(f) => format!("{f:?}"),
        Literal::Str(s) => quoted(s),
        Literal::Bool(b) => b.to_string(),
        Literal::Null => "null".to_string(),
        Literal::Date(d) => d.clone(),
        Literal::Timestamp(t) => t.replace(' ', "T"),
        Literal::Duration(us) => {
            const UNITS: [(i64, &str); 5] = [
                (86_400_000_000, "d"),
                (3_600_000_000, "h"),
                (60_000_000, "m"),
                (1_000_000, "s"),
                (1_000, "ms"),
            ];
            UNITS
                .iter()
                .find(|(n, _)| us % n == 0)
                .map(|(n, u)| format!("{}{u}", us / n))
                .unwrap_or_else(|| format!("{us}us"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipec_check::NoFiles;
    use pipec_diag::SourceMap;

    fn build(files: &[(&str, &str)]) -> Lineage {
        let mut sources = SourceMap::new();
        let roots: Vec<_> = files.iter().map(|(n, t)| sources.add(*n, *t)).collect();
        let checked = pipec_check::check(&mut sources, &roots, &NoFiles);
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        lineage(&checked.project)
    }

    /// `(input id, how)` of the direct inputs of `col`, sorted.
    fn inputs(l: &Lineage, col: &str) -> Vec<(String, &'static str)> {
        let c = l.find(col).unwrap_or_else(|e| panic!("{e}"));
        let mut v: Vec<_> = l.inputs(c).map(|e| (l.id(e.from), e.how.name())).collect();
        v.sort();
        v
    }

    fn ids(l: &Lineage, cols: Vec<usize>) -> Vec<String> {
        let mut v: Vec<String> = cols.into_iter().map(|c| l.id(c)).collect();
        v.sort();
        v
    }

    fn pairs(v: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
        v.iter().map(|(a, b)| (a.to_string(), *b)).collect()
    }

    const RIDES: &str = "pipeline p {}\nsource r = csv(\"r.csv\") { id: int, st: int, a: timestamp, b: timestamp, km: float? }\nsource s = csv(\"s.csv\") { st: int, name: string, racks: int }\n";

    #[test]
    fn derive_select_and_filter() {
        let l = build(&[(
            "p.pipe",
            &format!("{RIDES}transform t = r\n  | filter b > a\n  | derive minutes = minutes_between(a, b), day = @ds, same = id\n  | select ident = id, minutes, day, km2 = km * 2.0\nsink t -> mart.t"),
        )]);
        assert_eq!(
            inputs(&l, "t.minutes"),
            pairs(&[("p.r.a", "expression"), ("p.r.b", "expression")])
        );
        assert_eq!(inputs(&l, "t.ident"), pairs(&[("p.r.id", "copy")]));
        assert_eq!(
            l.columns[l.find("t.ident").unwrap()].step.as_deref(),
            Some("select ident = id")
        );
        assert!(
            inputs(&l, "t.day").is_empty(),
            "a run parameter reads no column"
        );
        assert_eq!(inputs(&l, "t.km2"), pairs(&[("p.r.km", "expression")]));
        // The filter chooses rows; it is no column's value.
        let t = l.relation("t").unwrap();
        assert_eq!(l.relations[t].rows.len(), 1);
        assert_eq!(l.relations[t].rows[0].step, "filter b > a");
        assert_eq!(
            ids(&l, l.relations[t].rows[0].columns.clone()),
            ["p.r.a", "p.r.b"]
        );
        // Sinks copy; upstream is transitive.
        assert_eq!(
            inputs(&l, "mart.t.minutes"),
            pairs(&[("p.t.minutes", "copy")])
        );
        let sink_col = l.find("p.mart.t.minutes").unwrap();
        assert_eq!(
            ids(&l, l.upstream(sink_col)),
            ["p.r.a", "p.r.b", "p.t.minutes"]
        );
        let a = l.find("r.a").unwrap();
        assert_eq!(
            ids(&l, l.downstream(a)),
            ["p.mart.t.minutes", "p.t.minutes"]
        );
        assert_eq!(l.columns[a].kind, ColumnKind::Source);
    }

    #[test]
    fn joins_using_and_on() {
        let l = build(&[(
            "p.pipe",
            &format!("{RIDES}transform u = r | join left s using (st)\nsource z = csv(\"z.csv\") {{ zid: int, label: string }}\ntransform v = r | join z on id == z.zid and km > 1.0\n"),
        )]);
        assert_eq!(
            inputs(&l, "u.st"),
            pairs(&[("p.r.st", "join key"), ("p.s.st", "join key")])
        );
        assert_eq!(inputs(&l, "u.name"), pairs(&[("p.s.name", "copy")]));
        assert_eq!(inputs(&l, "u.km"), pairs(&[("p.r.km", "copy")]));
        let u = l.relation("u").unwrap();
        assert_eq!(l.relations[u].rows[0].step, "join left s using (st)");
        // Differently named keys: both stay columns, the condition only chooses rows.
        assert_eq!(inputs(&l, "v.id"), pairs(&[("p.r.id", "copy")]));
        assert_eq!(inputs(&l, "v.zid"), pairs(&[("p.z.zid", "copy")]));
        let v = l.relation("v").unwrap();
        assert_eq!(
            l.relations[v].rows[0].step,
            "join z on id == z.zid and km > 1.0"
        );
        assert_eq!(
            ids(&l, l.relations[v].rows[0].columns.clone()),
            ["p.r.id", "p.r.km", "p.z.zid"]
        );
    }

    #[test]
    fn groups_aggregates_and_count() {
        let l = build(&[(
            "p.pipe",
            &format!("{RIDES}transform g = r\n  | derive minutes = minutes_between(a, b)\n  | join left s using (st)\n  | group st, name {{ rides = count(), avg_minutes = avg(minutes), km = sum(km ?? 0.0) / 1000.0 }}\n"),
        )]);
        assert_eq!(
            inputs(&l, "g.avg_minutes"),
            pairs(&[("p.r.a", "aggregate"), ("p.r.b", "aggregate")])
        );
        let avg = l.find("g.avg_minutes").unwrap();
        let e = l.inputs(avg).next().unwrap();
        assert_eq!(
            e.steps,
            [
                "derive minutes = minutes_between(a, b)",
                "group { avg_minutes = avg(minutes) }"
            ]
        );
        assert!(inputs(&l, "g.rides").is_empty(), "count() reads no column");
        assert_eq!(inputs(&l, "g.km"), pairs(&[("p.r.km", "aggregate")]));
        assert_eq!(
            inputs(&l, "g.st"),
            pairs(&[("p.r.st", "group key"), ("p.s.st", "group key")])
        );
        assert_eq!(inputs(&l, "g.name"), pairs(&[("p.s.name", "group key")]));
    }

    #[test]
    fn windows_sort_take_union_and_defines() {
        let l = build(&[(
            "p.pipe",
            &format!("import std.dedupe\n{RIDES}transform w = r\n  | window partition st order a {{ n = row_number(), prev = lag(km) }}\n  | sort id\n  | take 5\ntransform latest = s | dedupe.latest(key = st, order_by = racks)\ntransform both = s | union latest | distinct\n"),
        )]);
        assert_eq!(
            inputs(&l, "w.n"),
            pairs(&[("p.r.a", "window"), ("p.r.st", "window")])
        );
        assert_eq!(
            inputs(&l, "w.prev"),
            pairs(&[
                ("p.r.a", "window"),
                ("p.r.km", "window"),
                ("p.r.st", "window")
            ])
        );
        assert_eq!(inputs(&l, "w.id"), pairs(&[("p.r.id", "copy")]));
        // The define is expanded: window, filter on its rank, select except.
        assert_eq!(inputs(&l, "latest.name"), pairs(&[("p.s.name", "copy")]));
        let latest = l.relation("latest").unwrap();
        let rows = &l.relations[latest].rows;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(ids(&l, rows[0].columns.clone()), ["p.s.racks", "p.s.st"]);
        assert_eq!(
            inputs(&l, "both.racks"),
            pairs(&[("p.latest.racks", "copy"), ("p.s.racks", "copy")])
        );
    }

    #[test]
    fn sql_blocks_are_opaque() {
        let l = build(&[(
            "p.pipe",
            &format!("{RIDES}transform q = sql \"select st, count(*) as n from {{r}} group by st\" {{ st: int, n: bigint }}\n  | derive n2 = n * 2\n  | join left s using (st)\n"),
        )]);
        let n = l.find("q.n").unwrap();
        assert_eq!(l.columns[n].kind, ColumnKind::Opaque);
        assert!(l.inputs(n).next().is_none());
        assert_eq!(l.columns[l.find("q.n2").unwrap()].kind, ColumnKind::Opaque);
        let q = l.relation("q").unwrap();
        assert_eq!(l.relations[q].origin, "sql block reading r");
        // Values from a declared relation keep their lineage.
        assert_eq!(
            l.columns[l.find("q.name").unwrap()].kind,
            ColumnKind::Derived
        );
        assert_eq!(inputs(&l, "q.name"), pairs(&[("p.s.name", "copy")]));
        assert_eq!(inputs(&l, "q.st"), pairs(&[("p.s.st", "join key")]));
        let text = crate::lineage_text(&l, n, crate::Towards::Upstream);
        assert!(
            text.contains("unknown: computed inside a raw sql block"),
            "{text}"
        );
    }

    #[test]
    fn across_pipelines_by_table_and_file() {
        let l = build(&[
            ("a/a.pipe", "pipeline a {}\nsource r = csv(\"r.csv\") { id: int, v: float }\ntransform t = r | derive v2 = v * 2.0\nsink t -> Mart.T\nsink t -> parquet(\"../lake/t/{ds}.parquet\")"),
            ("b/b.pipe", "pipeline b {}\nsource t = table(\"mart.t\") { ID: int, v: float, v2: float }\nsource f = parquet(\"./../lake/t/{ds}.parquet\") { id: int, v: float, v2: float }\nsource g = parquet(\"lake/t/{ds}.parquet\") { id: int }\ntransform u = t | join f using (id, v, v2)\nsink u -> mart.u"),
        ]);
        assert_eq!(inputs(&l, "b.t.ID"), pairs(&[("a.Mart.T.id", "table")]));
        assert_eq!(inputs(&l, "b.t.v2"), pairs(&[("a.Mart.T.v2", "table")]));
        assert_eq!(
            inputs(&l, "b.f.v"),
            pairs(&[("a.../lake/t/{ds}.parquet.v", "file")])
        );
        assert!(inputs(&l, "b.g.id").is_empty(), "another folder's path");
        let v2 = l.find("b.mart.u.v2").unwrap();
        assert_eq!(
            ids(&l, l.upstream(v2)),
            [
                "a.../lake/t/{ds}.parquet.v2",
                "a.Mart.T.v2",
                "a.r.v",
                "a.t.v2",
                "b.f.v2",
                "b.t.v2",
                "b.u.v2"
            ]
        );
    }

    #[test]
    fn names_ignore_case_and_suggest() {
        let l = build(&[(
            "p.pipe",
            &format!("{RIDES}transform t = r | derive minutes = minutes_between(a, b)\n"),
        )]);
        assert_eq!(
            l.find("T.MINUTES").map(|c| l.id(c)),
            Ok("p.t.minutes".into())
        );
        assert_eq!(
            l.find("p.t.minutes").map(|c| l.id(c)),
            Ok("p.t.minutes".into())
        );
        match l.find("t.minute") {
            Err(LookupError::UnknownColumn { suggestion, .. }) => {
                assert_eq!(suggestion.as_deref(), Some("minutes"))
            }
            other => panic!("{other:?}"),
        }
        match l.find("tt.minutes") {
            Err(e @ LookupError::UnknownRelation { .. }) => {
                assert_eq!(e.to_string(), "unknown relation `tt`; did you mean `t`?")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            l.find("minutes"),
            Err(LookupError::NotQualified(_))
        ));
    }

    #[test]
    fn ambiguous_relation_names_need_the_pipeline() {
        let l = build(&[
            (
                "a.pipe",
                "pipeline a {}\nsource r = csv(\"r.csv\") { id: int }\nsink r -> x.a",
            ),
            (
                "b.pipe",
                "pipeline b {}\nsource r = csv(\"r.csv\") { id: int }\nsink r -> x.b",
            ),
        ]);
        assert!(matches!(l.find("r.id"), Err(LookupError::Ambiguous { .. })));
        assert_eq!(l.find("b.r.id").map(|c| l.id(c)), Ok("b.r.id".into()));
    }

    #[test]
    fn prints_expressions_in_pipe_syntax() {
        let l = build(&[(
            "p.pipe",
            &format!("{RIDES}transform t = r | derive x = (km ?? 0.0) in [1.0, 2.0], y = -(id + 1) * 2, z = case when km is null then \"none\" else \"some\" end, w = a + 30m, c = id::string ++ \"!\"\n"),
        )]);
        let step = |c: &str| l.columns[l.find(c).unwrap()].step.clone().unwrap();
        assert_eq!(step("t.x"), "derive x = (km ?? 0.0) in [1.0, 2.0]");
        assert_eq!(step("t.y"), "derive y = -(id + 1) * 2");
        assert_eq!(
            step("t.z"),
            "derive z = case when km is null then \"none\" else \"some\" end"
        );
        assert_eq!(step("t.w"), "derive w = a + 30m");
        assert_eq!(step("t.c"), "derive c = id::string ++ \"!\"");
    }
}
