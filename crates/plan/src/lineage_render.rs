//! Text renderings of column lineage: the `pipec lineage` tree and JSON, and the column graph of
//! `pipec graph --columns` as dot, Mermaid and JSON.

use std::fmt::Write;

use serde::Serialize;

use crate::lineage::{ColumnKind, Edge, How, Lineage, Role};

/// Which directions `pipec lineage` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Towards {
    /// The columns it is computed from.
    Upstream,
    /// The columns computed from it.
    Downstream,
    /// Both.
    Both,
}

impl Towards {
    fn up(self) -> bool {
        self != Towards::Downstream
    }
    fn down(self) -> bool {
        self != Towards::Upstream
    }
}

/// What computes a column, for the text tree: the step, the source, or the opaque SQL.
fn note(l: &Lineage, c: usize) -> String {
    let col = &l.columns[c];
    let rel = &l.relations[col.relation];
    match col.kind {
        ColumnKind::Source => format!("source {}", rel.origin),
        ColumnKind::Opaque => format!("opaque ({})", rel.origin),
        ColumnKind::Derived if rel.role == Role::Sink => rel.origin.clone(),
        ColumnKind::Derived => {
            let computed = rel.role == Role::Transform && l.inputs(c).next().is_none();
            match (&col.step, computed) {
                (Some(s), true) => format!("{s}  (computed: no input column)"),
                (Some(s), false) => s.clone(),
                (None, _) => String::new(),
            }
        }
    }
}

fn line(l: &Lineage, c: usize, how: Option<How>, out: &mut String, depth: usize, seen: bool) {
    let col = &l.columns[c];
    let _ = write!(out, "{}", "  ".repeat(depth));
    if let Some(h) = how {
        let _ = write!(out, "[{h}] ");
    }
    let _ = write!(out, "{}: {}", l.id(c), col.ty);
    let n = note(l, c);
    if !n.is_empty() {
        let _ = write!(out, "  <- {n}");
    }
    if seen {
        out.push_str("  (see above)");
    }
    out.push('\n');
}

fn tree(l: &Lineage, c: usize, up: bool, depth: usize, expanded: &mut Vec<bool>, out: &mut String) {
    let edges: Vec<&Edge> = if up {
        l.inputs(c).collect()
    } else {
        l.outputs(c).collect()
    };
    for e in edges {
        let next = if up { e.from } else { e.to };
        let seen = expanded[next];
        line(l, next, Some(e.how), out, depth, seen);
        if !seen {
            expanded[next] = true;
            tree(l, next, up, depth + 1, expanded, out);
        }
    }
}

/// The `pipec lineage` text: the column, then its upstream and/or downstream trees (one line
/// per column with how it is used and the step computing it), then the conditions choosing the
/// rows of the relations upstream.
pub fn lineage_text(l: &Lineage, column: usize, dir: Towards) -> String {
    let mut out = String::new();
    line(l, column, None, &mut out, 0, false);
    if dir.up() {
        out.push_str("upstream:\n");
        let mut expanded = vec![false; l.columns.len()];
        expanded[column] = true;
        let before = out.len();
        tree(l, column, true, 1, &mut expanded, &mut out);
        if out.len() == before {
            out.push_str(match l.columns[column].kind {
                ColumnKind::Source => "  (none: read by the source)\n",
                ColumnKind::Opaque => "  (unknown: computed inside a raw sql block)\n",
                ColumnKind::Derived => "  (none: computed from no column)\n",
            });
        }
        let mut rels: Vec<usize> = vec![l.columns[column].relation];
        for c in l.upstream(column) {
            let r = l.columns[c].relation;
            if !rels.contains(&r) {
                rels.push(r);
            }
        }
        let mut rows = String::new();
        for r in rels {
            for ctx in &l.relations[r].rows {
                let cols: Vec<String> = ctx.columns.iter().map(|&c| l.id(c)).collect();
                let _ = write!(rows, "  {}: {}", l.relations[r].id, ctx.step);
                if !cols.is_empty() {
                    let _ = write!(rows, "  (reads {})", cols.join(", "));
                }
                if ctx.opaque {
                    rows.push_str("  (reads columns of a raw sql block)");
                }
                rows.push('\n');
            }
        }
        if !rows.is_empty() {
            out.push_str("rows chosen by:\n");
            out.push_str(&rows);
        }
    }
    if dir.down() {
        out.push_str("downstream:\n");
        let mut expanded = vec![false; l.columns.len()];
        expanded[column] = true;
        let before = out.len();
        tree(l, column, false, 1, &mut expanded, &mut out);
        if out.len() == before {
            out.push_str("  (none)\n");
        }
    }
    out
}

#[derive(Serialize)]
struct JsonColumn<'a> {
    id: String,
    relation: &'a str,
    column: &'a str,
    #[serde(rename = "type")]
    ty: &'a str,
    kind: ColumnKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonEdge<'a> {
    from: String,
    to: String,
    how: How,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    steps: &'a [String],
}

#[derive(Serialize)]
struct JsonRows<'a> {
    step: &'a str,
    columns: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    opaque: bool,
}

#[derive(Serialize)]
struct JsonRelation<'a> {
    id: &'a str,
    pipeline: &'a str,
    name: &'a str,
    role: Role,
    origin: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rows: Vec<JsonRows<'a>>,
}

#[derive(Serialize)]
struct JsonGraph<'a> {
    version: u32,
    relations: Vec<JsonRelation<'a>>,
    columns: Vec<JsonColumn<'a>>,
    edges: Vec<JsonEdge<'a>>,
}

#[derive(Serialize)]
struct JsonLineage<'a> {
    version: u32,
    column: JsonColumn<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream: Option<Vec<JsonColumn<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    downstream: Option<Vec<JsonColumn<'a>>>,
    edges: Vec<JsonEdge<'a>>,
}

fn json_column(l: &Lineage, c: usize) -> JsonColumn<'_> {
    let col = &l.columns[c];
    JsonColumn {
        id: l.id(c),
        relation: &l.relations[col.relation].id,
        column: &col.column,
        ty: &col.ty,
        kind: col.kind,
        step: col.step.as_deref(),
    }
}

fn json_edge<'a>(l: &'a Lineage, e: &'a Edge) -> JsonEdge<'a> {
    JsonEdge {
        from: l.id(e.from),
        to: l.id(e.to),
        how: e.how,
        steps: &e.steps,
    }
}

/// The `pipec lineage --format json` document: the column, the columns upstream and/or
/// downstream (nearest first), and the edges between all of them.
pub fn lineage_json(l: &Lineage, column: usize, dir: Towards) -> String {
    let up = dir.up().then(|| l.upstream(column));
    let down = dir.down().then(|| l.downstream(column));
    let mut member = vec![false; l.columns.len()];
    member[column] = true;
    for &c in up.iter().chain(down.iter()).flatten() {
        member[c] = true;
    }
    // Only edges on a path through the column: upstream → ... → column → ... → downstream.
    let mut upper = vec![false; l.columns.len()];
    let mut lower = vec![false; l.columns.len()];
    upper[column] = true;
    lower[column] = true;
    for &c in up.iter().flatten() {
        upper[c] = true;
    }
    for &c in down.iter().flatten() {
        lower[c] = true;
    }
    let edges = l
        .edges
        .iter()
        .filter(|e| (upper[e.from] && upper[e.to]) || (lower[e.from] && lower[e.to]))
        .map(|e| json_edge(l, e))
        .collect();
    let doc = JsonLineage {
        version: 1,
        column: json_column(l, column),
        upstream: up.map(|v| v.iter().map(|&c| json_column(l, c)).collect()),
        downstream: down.map(|v| v.iter().map(|&c| json_column(l, c)).collect()),
        edges,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The relations to draw: all, or those marked in `keep`.
fn kept(l: &Lineage, keep: Option<&[bool]>) -> Vec<usize> {
    (0..l.relations.len())
        .filter(|&r| keep.is_none_or(|k| k[r]))
        .collect()
}

fn kept_edges<'a>(l: &'a Lineage, keep: Option<&'a [bool]>) -> impl Iterator<Item = &'a Edge> {
    l.edges.iter().filter(move |e| {
        keep.is_none_or(|k| k[l.columns[e.from].relation] && k[l.columns[e.to].relation])
    })
}

/// The whole column graph as JSON: relations (with their row conditions), columns, edges.
/// `keep` limits it to some relations (`graph --select`).
pub fn columns_json(l: &Lineage, keep: Option<&[bool]>) -> String {
    let rels = kept(l, keep);
    let relations = rels
        .iter()
        .map(|&r| {
            let rel = &l.relations[r];
            JsonRelation {
                id: &rel.id,
                pipeline: &rel.pipeline,
                name: &rel.name,
                role: rel.role,
                origin: &rel.origin,
                rows: rel
                    .rows
                    .iter()
                    .map(|x| JsonRows {
                        step: &x.step,
                        columns: x.columns.iter().map(|&c| l.id(c)).collect(),
                        opaque: x.opaque,
                    })
                    .collect(),
            }
        })
        .collect();
    let columns = rels
        .iter()
        .flat_map(|&r| l.relations[r].columns.iter())
        .map(|&c| json_column(l, c))
        .collect();
    let edges = kept_edges(l, keep).map(|e| json_edge(l, e)).collect();
    serde_json::to_string_pretty(&JsonGraph {
        version: 1,
        relations,
        columns,
        edges,
    })
    .unwrap_or_default()
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Source => "source",
        Role::Transform => "transform",
        Role::Sink => "sink",
    }
}

/// Pipelines of the kept relations, in order.
fn pipelines<'a>(l: &'a Lineage, rels: &[usize]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for &r in rels {
        let p = l.relations[r].pipeline.as_str();
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The column graph as Graphviz dot: a cluster per pipeline, inside it one per relation, a node
/// per column; edges labelled with how (unlabelled for copies).
pub fn columns_dot(l: &Lineage, keep: Option<&[bool]>) -> String {
    let rels = kept(l, keep);
    let mut out = String::from(
        "digraph lineage {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", shape=box];\n",
    );
    for (pn, p) in pipelines(l, &rels).iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_p{pn} {{\n    label=\"{}\";",
            dot_escape(p)
        );
        for &r in rels.iter().filter(|&&r| l.relations[r].pipeline == *p) {
            let rel = &l.relations[r];
            let _ = writeln!(
                out,
                "    subgraph cluster_r{r} {{\n      label=\"{} ({})\";\n      style=rounded;",
                dot_escape(&rel.name),
                role_name(rel.role)
            );
            for &c in &rel.columns {
                let col = &l.columns[c];
                let style = match col.kind {
                    ColumnKind::Source => ", style=filled, fillcolor=\"#e8f0fe\"",
                    ColumnKind::Opaque => ", style=dashed",
                    ColumnKind::Derived => "",
                };
                let _ = writeln!(
                    out,
                    "      c{c} [label=\"{}: {}\"{style}];",
                    dot_escape(&col.column),
                    dot_escape(&col.ty)
                );
            }
            out.push_str("    }\n");
        }
        out.push_str("  }\n");
    }
    for e in kept_edges(l, keep) {
        if e.how == How::Copy {
            let _ = writeln!(out, "  c{} -> c{};", e.from, e.to);
        } else {
            let _ = writeln!(out, "  c{} -> c{} [label=\"{}\"];", e.from, e.to, e.how);
        }
    }
    out.push_str("}\n");
    out
}

fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;")
}

/// The column graph as a Mermaid flowchart: a subgraph per relation, a node per column.
pub fn columns_mermaid(l: &Lineage, keep: Option<&[bool]>) -> String {
    let rels = kept(l, keep);
    let mut out = String::from("flowchart LR\n");
    for &r in &rels {
        let rel = &l.relations[r];
        let _ = writeln!(
            out,
            "  subgraph r{r}[\"{} ({})\"]",
            mermaid_escape(&rel.id),
            role_name(rel.role)
        );
        for &c in &rel.columns {
            let col = &l.columns[c];
            let text = mermaid_escape(&format!("{}: {}", col.column, col.ty));
            let node = match col.kind {
                ColumnKind::Source => format!("c{c}[(\"{text}\")]"),
                ColumnKind::Opaque => format!("c{c}{{{{\"{text}\"}}}}"),
                ColumnKind::Derived => format!("c{c}[\"{text}\"]"),
            };
            let _ = writeln!(out, "    {node}");
        }
        out.push_str("  end\n");
    }
    for e in kept_edges(l, keep) {
        if e.how == How::Copy {
            let _ = writeln!(out, "  c{} --> c{}", e.from, e.to);
        } else {
            let _ = writeln!(out, "  c{} -->|{}| c{}", e.from, e.how, e.to);
        }
    }
    out
}
