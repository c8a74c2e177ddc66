//! Text renderings of a plan: Graphviz dot, Mermaid and JSON.

use std::fmt::Write;

use serde::Serialize;

use crate::{EdgeKind, Node, NodeKind, Plan};

fn label(node: &Node, schemas: bool) -> String {
    let mut s = node.name.clone();
    if schemas {
        if let Some(schema) = &node.schema {
            for c in &schema.columns {
                s.push('\n');
                s.push_str(&c.to_string());
            }
        }
    }
    s
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\l")
}

/// Pipeline names in the order their first node appears.
fn pipelines_in_order(plan: &Plan) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for &i in &plan.order {
        let p = plan.graph[i].pipeline.as_str();
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Graphviz dot: one cluster per pipeline; `schemas` adds each relation's columns to its label.
pub fn to_dot(plan: &Plan, schemas: bool) -> String {
    let g = &plan.graph;
    let mut out =
        String::from("digraph pipec {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    let pipelines = pipelines_in_order(plan);
    for (n, p) in pipelines.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_{n} {{\n    label=\"{}\";",
            dot_escape(p)
        );
        for &i in plan.order.iter().filter(|&&i| g[i].pipeline == *p) {
            let shape = match g[i].kind {
                NodeKind::Source => "cylinder",
                NodeKind::Transform => "box",
                NodeKind::Check => "diamond",
                NodeKind::Sink => "folder",
            };
            let mut text = dot_escape(&label(&g[i], schemas));
            if schemas && g[i].schema.is_some() {
                text.push_str("\\l");
            }
            let _ = writeln!(
                out,
                "    n{} [label=\"{}\", shape={shape}];",
                i.index(),
                text
            );
        }
        out.push_str("  }\n");
    }
    let mut edges: Vec<_> = g.edge_indices().collect();
    edges.sort_by_key(|&e| g.edge_endpoints(e).map(|(a, b)| (a.index(), b.index())));
    for e in edges {
        let (a, b) = g.edge_endpoints(e).expect("edge");
        let style = match g[e] {
            EdgeKind::Data => "",
            EdgeKind::Gate => " [style=dashed, label=\"gate\"]",
            EdgeKind::After => " [style=bold, label=\"after\"]",
        };
        let _ = writeln!(out, "  n{} -> n{}{style};", a.index(), b.index());
    }
    out.push_str("}\n");
    out
}

fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;").replace('\n', "<br/>")
}

/// Mermaid flowchart: one subgraph per pipeline.
pub fn to_mermaid(plan: &Plan, schemas: bool) -> String {
    let g = &plan.graph;
    let mut out = String::from("flowchart LR\n");
    let pipelines = pipelines_in_order(plan);
    for (n, p) in pipelines.iter().enumerate() {
        let _ = writeln!(out, "  subgraph p{n}[\"{}\"]", mermaid_escape(p));
        for &i in plan.order.iter().filter(|&&i| g[i].pipeline == *p) {
            let text = mermaid_escape(&label(&g[i], schemas));
            let node = match g[i].kind {
                NodeKind::Source => format!("n{}[(\"{text}\")]", i.index()),
                NodeKind::Transform => format!("n{}[\"{text}\"]", i.index()),
                NodeKind::Check => format!("n{}{{\"{text}\"}}", i.index()),
                NodeKind::Sink => format!("n{}[/\"{text}\"/]", i.index()),
            };
            let _ = writeln!(out, "    {node}");
        }
        out.push_str("  end\n");
    }
    let mut edges: Vec<_> = g.edge_indices().collect();
    edges.sort_by_key(|&e| g.edge_endpoints(e).map(|(a, b)| (a.index(), b.index())));
    for e in edges {
        let (a, b) = g.edge_endpoints(e).expect("edge");
        let arrow = match g[e] {
            EdgeKind::Data => "-->",
            EdgeKind::Gate => "-. gate .->",
            EdgeKind::After => "== after ==>",
        };
        let _ = writeln!(out, "  n{} {arrow} n{}", a.index(), b.index());
    }
    out
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    nodes: Vec<JsonNode<'a>>,
    edges: Vec<JsonEdge>,
    levels: Vec<Vec<String>>,
}

#[derive(Serialize)]
struct JsonNode<'a> {
    id: String,
    #[serde(flatten)]
    node: &'a Node,
}

#[derive(Serialize)]
struct JsonEdge {
    from: String,
    to: String,
    kind: EdgeKind,
}

/// JSON: nodes in topological order, edges, and parallel levels.
pub fn to_json(plan: &Plan) -> String {
    let g = &plan.graph;
    let nodes = plan
        .order
        .iter()
        .map(|&i| JsonNode {
            id: g[i].id(),
            node: &g[i],
        })
        .collect();
    let mut edges: Vec<JsonEdge> = g
        .edge_indices()
        .map(|e| {
            let (a, b) = g.edge_endpoints(e).expect("edge");
            JsonEdge {
                from: g[a].id(),
                to: g[b].id(),
                kind: g[e],
            }
        })
        .collect();
    edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    let levels = plan
        .levels
        .iter()
        .map(|l| l.iter().map(|&i| g[i].id()).collect())
        .collect();
    serde_json::to_string_pretty(&JsonPlan {
        nodes,
        edges,
        levels,
    })
    .unwrap_or_default()
}
