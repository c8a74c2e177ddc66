//! Fingerprints of relations and sinks (`pipec plan`): a stable hash of each one's typed
//! definition, and per column a hash of how it is computed, so that a spec can be compared with
//! what a warehouse last ran.
//!
//! Hashes are FNV-1a (64 bits, hex) of canonical JSON of the typed IR, which carries no spans:
//! formatting and comments change nothing. A column's meaning refers to the columns of the
//! relations it reads by name (`input.column`), so a change is found where it is made; the
//! relations and sinks downstream of a breaking change are found through the plan's edges
//! ([`compare`]).

use std::collections::{HashMap, HashSet};

use petgraph::visit::EdgeRef;
use petgraph::Direction;
use pipec_check::ir::{
    same_name, Head, Pipeline, Project, Relation, RelationKind, Schema, Sink, StepKind,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{EdgeKind, NodeKind, Plan};

/// The version of the encoding; fingerprints of another version are not compared.
pub const ENCODING: u32 = 1;

/// The fingerprints of one pipeline's relations and sinks, as a run records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineFingerprint {
    /// [`ENCODING`] when recorded.
    pub encoding: u32,
    /// Sources and transforms.
    pub relations: Vec<NodeFingerprint>,
    /// Sinks, named as [`Sink::name`].
    pub sinks: Vec<NodeFingerprint>,
}

/// The fingerprint of one relation or sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeFingerprint {
    /// Relation name, or the sink's target.
    pub name: String,
    /// Hash of the whole typed definition.
    pub fingerprint: String,
    /// For a sink: what it writes and how (target, mode, keys, partition, relation), as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<String>,
    /// Output columns in order.
    pub columns: Vec<ColumnFingerprint>,
}

/// One output column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnFingerprint {
    /// Name.
    pub name: String,
    /// Type as written in `.pipe` files, `?` when nullable.
    #[serde(rename = "type")]
    pub ty: String,
    /// Hash of how its values are computed (expressions, rows kept, inputs by name).
    pub meaning: String,
}

/// FNV-1a, 64 bits, as 16 hex digits.
fn fnv(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn json(v: &impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Options of sources that change how a source is fetched, or what happens when it cannot be
/// read, but not the rows of an interval that was read: a run that succeeded before reads the
/// same rows with any value of these.
const FETCH_ONLY: [&str; 9] = [
    "timeout_seconds",
    "retries",
    "max_bytes",
    "retention",
    "bearer",
    "api_key",
    "on_error",
    "allow_empty",
    "fallback",
];

/// The source's JSON without options that do not change its rows.
fn rows_json(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !FETCH_ONLY.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), rows_json(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(rows_json).collect()),
        other => other.clone(),
    }
}

/// Column meanings by name while walking a transform's steps.
#[derive(Clone, Default)]
struct Env {
    columns: Vec<(String, String)>,
}

impl Env {
    fn input(relation: &str, schema: &Schema) -> Env {
        Env {
            columns: schema
                .columns
                .iter()
                .map(|c| (c.name.clone(), fnv(&["input", relation, &c.name])))
                .collect(),
        }
    }

    fn get(&self, name: &str) -> String {
        self.columns
            .iter()
            .rev()
            .find(|(n, _)| same_name(n, name))
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| fnv(&["unknown", name]))
    }

    fn set(&mut self, name: &str, meaning: String) {
        match self.columns.iter_mut().find(|(n, _)| same_name(n, name)) {
            Some(c) => *c = (name.to_string(), meaning),
            None => self.columns.push((name.to_string(), meaning)),
        }
    }
}

/// `v` (typed IR as JSON) with every column reference replaced by the column's meaning.
fn resolve(v: &Value, left: &Env, right: Option<&Env>) -> Value {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(c)) = m.get("column").filter(|_| m.len() == 1) {
                if let Some(Value::String(name)) = c.get("name") {
                    let env = match (c.get("side").and_then(Value::as_str), right) {
                        (Some("right"), Some(r)) => r,
                        _ => left,
                    };
                    return Value::String(env.get(name));
                }
            }
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), resolve(v, left, right)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| resolve(v, left, right)).collect()),
        other => other.clone(),
    }
}

fn key(v: &impl Serialize, left: &Env, right: Option<&Env>) -> String {
    resolve(&json(v), left, right).to_string()
}

/// The rows and column meanings of a relation's output.
fn meanings(r: &Relation, schemas: &HashMap<&str, &Schema>) -> (String, Env) {
    let input = |name: &str| {
        schemas
            .get(name)
            .map(|s| Env::input(name, s))
            .unwrap_or_default()
    };
    let t = match &r.kind {
        RelationKind::Source(src) => {
            let rows = fnv(&["source", &rows_json(&json(src)).to_string()]);
            let env = Env {
                columns: r
                    .schema
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), fnv(&["source column", &c.name])))
                    .collect(),
            };
            return (rows, env);
        }
        RelationKind::Transform(t) => t,
    };
    let (mut rows, mut env) = match &t.head {
        Head::Relation(n) => (fnv(&["rows of", n]), input(n)),
        Head::Sql { sql, refs } => {
            let rows = fnv(&["sql", sql, &refs.join(",")]);
            let env = Env {
                columns: r
                    .schema
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), fnv(&["sql", &rows, &c.name])))
                    .collect(),
            };
            (rows, env)
        }
    };
    let mut order = String::new();
    for step in &t.steps {
        match &step.kind {
            StepKind::Filter(e) => rows = fnv(&["filter", &rows, &key(e, &env, None)]),
            StepKind::Derive(cols) => {
                for (n, e) in cols {
                    let m = fnv(&["expr", &key(e, &env, None)]);
                    env.set(n, m);
                }
            }
            StepKind::Select(cols) => {
                let mut next = Env::default();
                for (n, e) in cols {
                    next.set(n, fnv(&["expr", &key(e, &env, None)]));
                }
                env = next;
            }
            StepKind::Join {
                kind,
                right,
                on,
                right_columns,
            } => {
                let r_env = input(right);
                let on = key(on, &env, Some(&r_env));
                let kind = json(kind).to_string();
                rows = fnv(&["join", &rows, &kind, &fnv(&["rows of", right]), &on]);
                for c in right_columns {
                    env.set(c, fnv(&["joined", &kind, &on, &r_env.get(c)]));
                }
            }
            StepKind::Group { keys, aggregates } => {
                let mut next = Env::default();
                let mut key_meanings = Vec::new();
                for (n, e) in keys {
                    let m = fnv(&["expr", &key(e, &env, None)]);
                    key_meanings.push(m.clone());
                    next.set(n, m);
                }
                for (n, e) in aggregates {
                    next.set(n, fnv(&["aggregate", &rows, &key(e, &env, None)]));
                }
                rows = fnv(&["group", &rows, &key_meanings.join(",")]);
                env = next;
            }
            StepKind::Sort(keys) => order = key(keys, &env, None),
            StepKind::Take(n) => rows = fnv(&["take", &rows, &order, &n.to_string()]),
            StepKind::Distinct => rows = fnv(&["distinct", &rows]),
            StepKind::Union(other) => {
                let o_env = input(other);
                rows = fnv(&["union", &rows, &fnv(&["rows of", other])]);
                for (i, (_, m)) in env.columns.iter_mut().enumerate() {
                    let theirs = o_env.columns.get(i).map_or("", |(_, m)| m.as_str());
                    *m = fnv(&["union", m, theirs]);
                }
            }
            StepKind::Window {
                partition,
                order: w_order,
                frame,
                functions,
            } => {
                let over = fnv(&[
                    &rows,
                    &key(partition, &env, None),
                    &key(w_order, &env, None),
                    &json(frame).to_string(),
                ]);
                for (n, e) in functions {
                    let m = fnv(&["window", &over, &key(e, &env, None)]);
                    env.set(n, m);
                }
            }
        }
    }
    (rows, env)
}

fn type_text(c: &pipec_check::ir::Column) -> String {
    format!("{}{}", c.ty, if c.nullable { "?" } else { "" })
}

fn relation_fingerprint(r: &Relation, schemas: &HashMap<&str, &Schema>) -> NodeFingerprint {
    let (rows, env) = meanings(r, schemas);
    let columns = r
        .schema
        .columns
        .iter()
        .map(|c| ColumnFingerprint {
            name: c.name.clone(),
            ty: type_text(c),
            meaning: fnv(&["column", &rows, &env.get(&c.name)]),
        })
        .collect();
    let mut definition = json(r);
    if let (Value::Object(m), RelationKind::Source(_)) = (&mut definition, &r.kind) {
        if let Some(kind) = m.get("kind").map(rows_json) {
            m.insert("kind".into(), kind);
        }
    }
    NodeFingerprint {
        name: r.name.clone(),
        fingerprint: fnv(&["relation", &definition.to_string()]),
        write: None,
        columns,
    }
}

/// `target mode ... on (k) partition by c from relation`, what a sink's table depends on.
fn write_text(s: &Sink) -> String {
    let mode = match &s.mode {
        pipec_check::ir::SinkMode::Append => "mode append".to_string(),
        pipec_check::ir::SinkMode::Replace => "mode replace".to_string(),
        pipec_check::ir::SinkMode::Merge { keys } => format!("mode merge on ({})", keys.join(", ")),
        pipec_check::ir::SinkMode::Incremental { column } => {
            format!("mode incremental by {column}")
        }
    };
    let partition = s
        .partition_by
        .as_ref()
        .map(|c| format!(" partition by {c}"))
        .unwrap_or_default();
    format!("{} -> {} {mode}{partition}", s.relation, s.name())
}

fn sink_fingerprint(s: &Sink, relation: Option<&NodeFingerprint>) -> NodeFingerprint {
    let columns = relation.map(|r| r.columns.clone()).unwrap_or_default();
    let write = write_text(s);
    let mut target = json(&s.target).to_string();
    target.push_str(&json(&s.mode).to_string());
    let column_text: Vec<String> = columns
        .iter()
        .map(|c| format!("{}:{}:{}", c.name, c.ty, c.meaning))
        .collect();
    NodeFingerprint {
        name: s.name(),
        fingerprint: fnv(&["sink", &write, &target, &column_text.join(",")]),
        write: Some(write),
        columns,
    }
}

/// The fingerprints of pipeline `p`.
pub fn pipeline_fingerprint(p: &Pipeline) -> PipelineFingerprint {
    let schemas: HashMap<&str, &Schema> = p
        .relations
        .iter()
        .map(|r| (r.name.as_str(), &r.schema))
        .collect();
    let relations: Vec<NodeFingerprint> = p
        .relations
        .iter()
        .map(|r| relation_fingerprint(r, &schemas))
        .collect();
    let sinks = p
        .sinks
        .iter()
        .map(|s| sink_fingerprint(s, relations.iter().find(|r| r.name == s.relation)))
        .collect();
    PipelineFingerprint {
        encoding: ENCODING,
        relations,
        sinks,
    }
}

/// How a relation or sink differs from what the warehouse last ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Same fingerprint.
    Unchanged,
    /// Not in the last run (a new relation or sink, or a pipeline that never ran).
    Added,
    /// In the last run, no longer in the spec (its table is left as it is).
    Removed,
    /// New columns only, or a definition that changes no column's values.
    NonBreaking,
    /// A column removed, its type changed or its values computed differently, or a sink's
    /// mode, keys or partition changed: the intervals done must be redone.
    Breaking,
    /// Unchanged itself, but downstream of a breaking change: rebuilt with it.
    Rebuild,
    /// Unchanged itself, but it read tables an upstream pipeline republished after its
    /// intervals ran (`pipec plan` compares the times): those intervals are redone.
    Stale,
    /// The warehouse ran the pipeline without recording fingerprints (an older pipec).
    Unrecorded,
}

impl Status {
    /// Whether the intervals done must be redone.
    pub fn needs_rebuild(self) -> bool {
        matches!(self, Status::Breaking | Status::Rebuild)
    }
}

/// A column the spec adds to a relation or sink.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddedColumn {
    /// Name.
    pub name: String,
    /// Type, `?` when nullable.
    #[serde(rename = "type")]
    pub ty: String,
}

/// The change of one relation or sink.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// Pipeline.
    pub pipeline: String,
    /// Relation name or sink target.
    pub name: String,
    /// `relation` or `sink`.
    pub kind: &'static str,
    /// What changed.
    pub status: Status,
    /// Why, in words (one per difference found).
    pub reasons: Vec<String>,
    /// Columns added.
    pub added_columns: Vec<AddedColumn>,
}

fn diff_columns(old: &NodeFingerprint, new: &NodeFingerprint) -> (Vec<String>, Vec<AddedColumn>) {
    let mut breaking = Vec::new();
    let mut added = Vec::new();
    for o in &old.columns {
        match new.columns.iter().find(|c| same_name(&c.name, &o.name)) {
            None => breaking.push(format!("column `{}` removed", o.name)),
            Some(n) if n.ty != o.ty => breaking.push(format!(
                "column `{}` changed type from {} to {}",
                o.name, o.ty, n.ty
            )),
            Some(n) if n.meaning != o.meaning => {
                breaking.push(format!("column `{}` is computed differently", o.name))
            }
            Some(_) => {}
        }
    }
    for n in &new.columns {
        if !old.columns.iter().any(|o| same_name(&o.name, &n.name)) {
            added.push(AddedColumn {
                name: n.name.clone(),
                ty: n.ty.clone(),
            });
        }
    }
    (breaking, added)
}

fn compare_node(
    pipeline: &str,
    kind: &'static str,
    old: Option<&NodeFingerprint>,
    new: &NodeFingerprint,
) -> Change {
    let mut change = Change {
        pipeline: pipeline.to_string(),
        name: new.name.clone(),
        kind,
        status: Status::Unchanged,
        reasons: Vec::new(),
        added_columns: Vec::new(),
    };
    let Some(old) = old else {
        change.status = Status::Added;
        change.reasons.push(format!("new {kind}"));
        return change;
    };
    if old.fingerprint == new.fingerprint {
        return change;
    }
    let (mut breaking, added) = diff_columns(old, new);
    if old.write != new.write {
        breaking.insert(
            0,
            format!(
                "writes differently: was `{}`, now `{}`",
                old.write.as_deref().unwrap_or_default(),
                new.write.as_deref().unwrap_or_default()
            ),
        );
    }
    if !breaking.is_empty() {
        change.status = Status::Breaking;
        change.reasons = breaking;
        change.reasons.extend(
            added
                .iter()
                .map(|c| format!("new column `{}` ({})", c.name, c.ty)),
        );
    } else {
        change.status = Status::NonBreaking;
        change.reasons = if added.is_empty() {
            vec!["definition changed; no column's values change".into()]
        } else {
            added
                .iter()
                .map(|c| format!("new column `{}` ({})", c.name, c.ty))
                .collect()
        };
    }
    change.added_columns = added;
    change
}

/// Compares `project` with `recorded`, the fingerprints the warehouse recorded with each
/// pipeline's latest interval (`None` for a pipeline that ran without recording them, absent
/// for one that never ran). Every relation and sink downstream of a breaking change (along the
/// plan's data edges, across pipelines through `table(...)` sources) is [`Status::Rebuild`].
/// Changes are in pipeline order, relations then sinks, then removed ones.
pub fn compare(
    project: &Project,
    plan: &Plan,
    recorded: &HashMap<String, Option<PipelineFingerprint>>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for p in &project.pipelines {
        let now = pipeline_fingerprint(p);
        let old = match recorded.get(&p.name) {
            Some(Some(f)) if f.encoding == ENCODING => Some(f),
            Some(_) => {
                for (kind, nodes) in [("relation", &now.relations), ("sink", &now.sinks)] {
                    for n in nodes {
                        changes.push(Change {
                            pipeline: p.name.clone(),
                            name: n.name.clone(),
                            kind,
                            status: Status::Unrecorded,
                            reasons: vec!["the warehouse recorded no fingerprint for it (run by an older pipec); the next run records one".into()],
                            added_columns: Vec::new(),
                        });
                    }
                }
                continue;
            }
            None => None,
        };
        let find = |list: Option<&Vec<NodeFingerprint>>, name: &str| {
            list.and_then(|l| l.iter().find(|n| n.name == name).cloned())
        };
        for r in &now.relations {
            let o = find(old.map(|o| &o.relations), &r.name);
            changes.push(compare_node(&p.name, "relation", o.as_ref(), r));
        }
        for s in &now.sinks {
            let o = find(old.map(|o| &o.sinks), &s.name);
            changes.push(compare_node(&p.name, "sink", o.as_ref(), s));
        }
        if let Some(old) = old {
            for (kind, was, is) in [
                ("relation", &old.relations, &now.relations),
                ("sink", &old.sinks, &now.sinks),
            ] {
                for o in was.iter().filter(|o| !is.iter().any(|n| n.name == o.name)) {
                    changes.push(Change {
                        pipeline: p.name.clone(),
                        name: o.name.clone(),
                        kind,
                        status: Status::Removed,
                        reasons: vec![format!("{kind} removed; its data is left as it is")],
                        added_columns: Vec::new(),
                    });
                }
            }
        }
    }
    propagate(plan, &mut changes);
    changes
}

/// Marks what is downstream of a breaking change [`Status::Rebuild`].
fn propagate(plan: &Plan, changes: &mut [Change]) {
    let g = &plan.graph;
    let index: HashMap<(&str, &str), petgraph::graph::NodeIndex> = g
        .node_indices()
        .map(|i| ((g[i].pipeline.as_str(), g[i].name.as_str()), i))
        .collect();
    let mut cause: HashMap<petgraph::graph::NodeIndex, String> = HashMap::new();
    let mut stack: Vec<(petgraph::graph::NodeIndex, String)> = changes
        .iter()
        .filter(|c| c.status == Status::Breaking)
        .filter_map(|c| {
            let i = index.get(&(c.pipeline.as_str(), c.name.as_str()))?;
            Some((*i, format!("{}.{}", c.pipeline, c.name)))
        })
        .collect();
    let mut seen: HashSet<petgraph::graph::NodeIndex> = stack.iter().map(|(i, _)| *i).collect();
    while let Some((n, why)) = stack.pop() {
        for e in g.edges_directed(n, Direction::Outgoing) {
            if *e.weight() != EdgeKind::Data || g[e.target()].kind == NodeKind::Check {
                continue;
            }
            if seen.insert(e.target()) {
                cause.insert(e.target(), why.clone());
                stack.push((e.target(), why.clone()));
            }
        }
    }
    for c in changes.iter_mut() {
        let Some(i) = index.get(&(c.pipeline.as_str(), c.name.as_str())) else {
            continue;
        };
        if let Some(why) = cause.get(i) {
            if matches!(c.status, Status::Unchanged | Status::NonBreaking) {
                c.status = Status::Rebuild;
            }
            c.reasons
                .push(format!("downstream of the breaking change to `{why}`"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipec_check::NoFiles;
    use pipec_diag::SourceMap;

    const BASE: &str = r#"pipeline shop { schedule daily start 2024-01-01 }

source orders = csv("data/orders/{ds}.csv") {
  id: int,
  amount: float,
  status: string,
}

transform paid = orders
  | filter status == "paid"
  | derive cents = amount * 100.0

transform daily = paid
  | group status { total = sum(amount), n = count() }

sink daily -> mart.daily { mode replace }
---
pipeline report { schedule daily start 2024-01-01 }

source d = table("mart.daily")

transform big = d | filter n > 10

sink big -> mart.big { mode replace }
"#;

    /// The project of `text`: files separated by `---` lines.
    fn project(text: &str) -> (Project, Plan) {
        let mut sources = SourceMap::new();
        let roots: Vec<_> = text
            .split("---\n")
            .enumerate()
            .map(|(i, t)| sources.add(format!("f{i}.pipe"), t))
            .collect();
        let checked = pipec_check::check(&mut sources, &roots, &NoFiles);
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let plan = crate::plan(&checked.project).expect("plan");
        (checked.project, plan)
    }

    fn recorded(text: &str) -> HashMap<String, Option<PipelineFingerprint>> {
        let (p, _) = project(text);
        p.pipelines
            .iter()
            .map(|p| (p.name.clone(), Some(pipeline_fingerprint(p))))
            .collect()
    }

    /// `pipeline.name: status` of every change that is not `unchanged`.
    fn changes(old: &str, new: &str) -> Vec<String> {
        let (p, plan) = project(new);
        compare(&p, &plan, &recorded(old))
            .into_iter()
            .filter(|c| c.status != Status::Unchanged)
            .map(|c| {
                format!(
                    "{}.{}: {:?} {}",
                    c.pipeline,
                    c.name,
                    c.status,
                    c.reasons.join("; ")
                )
            })
            .collect()
    }

    #[test]
    fn formatting_and_comments_change_nothing() {
        let formatted: Vec<String> = BASE
            .split("---\n")
            .map(|t| pipec_fmt::format(pipec_diag::FileId::default(), t).expect("formats"))
            .collect();
        let formatted = formatted.join("---\n");
        let squeezed = BASE
            .replace("\n  | ", " | ")
            .replace("transform paid", "# paid orders only\ntransform paid");
        assert_ne!(squeezed, BASE);
        for text in [formatted.as_str(), squeezed.as_str()] {
            assert_eq!(recorded(text), recorded(BASE));
            assert!(changes(BASE, text).is_empty(), "{:?}", changes(BASE, text));
        }
    }

    #[test]
    fn a_new_column_is_non_breaking() {
        let new = BASE.replace("n = count() }", "n = count(), top = max(amount) }");
        assert_eq!(
            changes(BASE, &new),
            [
                "shop.daily: NonBreaking new column `top` (float?)",
                "shop.mart.daily: NonBreaking new column `top` (float?)",
                "report.d: NonBreaking new column `top` (float?)",
                "report.big: NonBreaking new column `top` (float?)",
                "report.mart.big: NonBreaking new column `top` (float?)",
            ]
        );
    }

    #[test]
    fn a_breaking_change_rebuilds_downstream_across_pipelines() {
        let new = BASE.replace("status == \"paid\"", "status != \"void\"");
        assert_eq!(
            changes(BASE, &new),
            [
                "shop.paid: Breaking column `id` is computed differently; column `amount` is computed differently; column `status` is computed differently; column `cents` is computed differently",
                "shop.daily: Rebuild downstream of the breaking change to `shop.paid`",
                "shop.mart.daily: Rebuild downstream of the breaking change to `shop.paid`",
                "report.d: Rebuild downstream of the breaking change to `shop.paid`",
                "report.big: Rebuild downstream of the breaking change to `shop.paid`",
                "report.mart.big: Rebuild downstream of the breaking change to `shop.paid`",
            ]
        );
    }

    #[test]
    fn a_changed_type_is_breaking() {
        let new = BASE.replace("amount: float,", "amount: decimal(12, 2),");
        let got = changes(BASE, &new);
        assert!(
            got[0].starts_with(
                "shop.orders: Breaking column `amount` changed type from float to decimal(12, 2)"
            ),
            "{got:?}"
        );
        assert!(got.iter().any(|c| c.starts_with("report.mart.big: Breaking column `total` changed type from float? to decimal(12, 2)?")), "{got:?}");
    }

    #[test]
    fn each_kind_of_change_is_seen() {
        let cases = [
            // A filter changes every column's values.
            (BASE.replace("status == \"paid\"", "status == \"open\""), "shop.paid: Breaking column `id` is computed differently"),
            // An expression.
            (BASE.replace("amount * 100.0", "amount * 10.0"), "shop.paid: Breaking column `cents` is computed differently"),
            // An aggregate.
            (BASE.replace("total = sum(amount)", "total = max(amount)"), "shop.daily: Breaking column `total` is computed differently"),
            // A removed column.
            (BASE.replace(", n = count() }", " }").replace("filter n > 10", "filter total > 10.0"), "shop.daily: Breaking column `n` removed"),
            // Nullability.
            (BASE.replace("status: string,\n}", "status: string?,\n}"), "shop.orders: Breaking column `status` changed type from string to string?"),
            // A source option that changes rows.
            (BASE.replace("csv(\"data/orders/{ds}.csv\")", "csv(\"data/orders/{ds}.csv\", skip = 1)"), "shop.orders: Breaking column `id` is computed differently"),
            // The sink's mode.
            (BASE.replace("{ mode replace }\n---", "{ mode merge on (status) }\n---"), "shop.mart.daily: Breaking writes differently: was `daily -> mart.daily mode replace`, now `daily -> mart.daily mode merge on (status)`"),
            // A new relation.
            (format!("{BASE}\ntransform extra = big | derive k = 1\n"), "report.extra: Added new relation"),
        ];
        for (new, want) in cases {
            assert_ne!(new, BASE);
            let got = changes(BASE, &new);
            assert!(
                got.iter().any(|c| c.starts_with(want)),
                "want {want}\n got {got:?}"
            );
        }
    }

    #[test]
    fn unrecorded_and_new_pipelines() {
        let (p, plan) = project(BASE);
        let mut rec = recorded(BASE);
        rec.insert("shop".into(), None);
        rec.remove("report");
        let c = compare(&p, &plan, &rec);
        assert!(c
            .iter()
            .filter(|c| c.pipeline == "shop")
            .all(|c| c.status == Status::Unrecorded));
        assert!(c
            .iter()
            .filter(|c| c.pipeline == "report")
            .all(|c| c.status == Status::Added));
    }
}
