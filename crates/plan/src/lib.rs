//! The plan stage: typed [`Project`] → a petgraph DAG of sources, transforms, checks and sinks
//! across all pipelines, with a deterministic topological order and parallel levels.

pub mod fingerprint;
pub mod lineage;
mod lineage_render;
mod render;
mod select;

use std::collections::HashMap;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use pipec_check::ir::{Project, RelationKind, Schema, SinkTarget, Source};
use pipec_diag::{codes, Diagnostic, Span};
use serde::Serialize;

pub use lineage::{lineage, Lineage, LookupError};
pub use lineage_render::{
    columns_dot, columns_json, columns_mermaid, lineage_json, lineage_text, Towards,
};
pub use render::{to_dot, to_json, to_mermaid};
pub use select::{around, find_node, subplan};

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// Reads rows from outside.
    Source,
    /// Computes a relation.
    Transform,
    /// Validates a relation before publishing.
    Check,
    /// Writes a relation.
    Sink,
}

/// One node of the DAG.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// The pipeline it belongs to.
    pub pipeline: String,
    /// Its name within the pipeline (`check:<relation>` for checks, the target for sinks).
    pub name: String,
    /// Kind.
    pub kind: NodeKind,
    /// Output schema (sources, transforms).
    pub schema: Option<Schema>,
}

impl Node {
    /// `pipeline.name`, unique in the project.
    pub fn id(&self) -> String {
        format!("{}.{}", self.pipeline, self.name)
    }
}

/// Why one node depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    /// Rows flow along the edge.
    Data,
    /// Checks must pass before the sink publishes.
    Gate,
    /// A pipeline starts after another finishes (`schedule after`).
    After,
}

/// The DAG with its order.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Nodes and edges.
    pub graph: DiGraph<Node, EdgeKind>,
    /// Every node in a deterministic topological order.
    pub order: Vec<NodeIndex>,
    /// Nodes grouped by level: all nodes of a level can run in parallel once earlier levels are done.
    pub levels: Vec<Vec<NodeIndex>>,
}

/// Builds the DAG of `project`. Fails with `E0402` when pipelines depend on each other in a cycle.
pub fn plan(project: &Project) -> Result<Plan, Vec<Diagnostic>> {
    let mut graph: DiGraph<Node, EdgeKind> = DiGraph::new();
    let mut sink_tables: HashMap<String, NodeIndex> = HashMap::new();
    let mut table_sources: Vec<(String, NodeIndex)> = Vec::new();
    let mut pipeline_nodes: HashMap<&str, Vec<NodeIndex>> = HashMap::new();
    for p in &project.pipelines {
        let own = pipeline_nodes.entry(p.name.as_str()).or_default();
        let mut add = |graph: &mut DiGraph<Node, EdgeKind>, name: String, kind, schema| {
            let i = graph.add_node(Node {
                pipeline: p.name.clone(),
                name,
                kind,
                schema,
            });
            own.push(i);
            i
        };
        let mut relations: HashMap<&str, NodeIndex> = HashMap::with_capacity(p.relations.len());
        for r in &p.relations {
            let kind = match &r.kind {
                RelationKind::Source(_) => NodeKind::Source,
                RelationKind::Transform(_) => NodeKind::Transform,
            };
            let i = add(&mut graph, r.name.clone(), kind, Some(r.schema.clone()));
            relations.insert(r.name.as_str(), i);
            if let RelationKind::Source(Source::Table { table }) = &r.kind {
                let qualified = if table.contains('.') {
                    table.clone()
                } else {
                    format!("main.{table}")
                };
                table_sources.push((qualified.to_lowercase(), i));
            }
        }
        let checks: Vec<NodeIndex> = p
            .checks
            .iter()
            .map(|c| {
                let name = format!("check:{}", c.relation);
                add(&mut graph, name, NodeKind::Check, None)
            })
            .collect();
        let sinks: Vec<NodeIndex> = p
            .sinks
            .iter()
            .map(|s| {
                let name = s.name();
                let i = add(&mut graph, name.clone(), NodeKind::Sink, None);
                if let SinkTarget::Table { .. } = s.target {
                    // Table names ignore case on every engine.
                    sink_tables.insert(name.to_lowercase(), i);
                }
                i
            })
            .collect();
        for r in &p.relations {
            let to = relations[r.name.as_str()];
            for input in r.inputs() {
                if let Some(&from) = relations.get(input) {
                    graph.update_edge(from, to, EdgeKind::Data);
                }
            }
        }
        for (c, &check) in p.checks.iter().zip(&checks) {
            if let Some(&from) = relations.get(c.relation.as_str()) {
                graph.update_edge(from, check, EdgeKind::Data);
            }
        }
        // Every check of the pipeline gates every sink: a run publishes all or nothing.
        for (s, &sink) in p.sinks.iter().zip(&sinks) {
            if let Some(&from) = relations.get(s.relation.as_str()) {
                graph.update_edge(from, sink, EdgeKind::Data);
            }
            for &check in &checks {
                graph.update_edge(check, sink, EdgeKind::Gate);
            }
        }
    }
    for (table, source) in &table_sources {
        if let Some(&sink) = sink_tables.get(table) {
            if graph[sink].pipeline != graph[*source].pipeline {
                graph.update_edge(sink, *source, EdgeKind::Data);
            }
        }
    }
    for p in &project.pipelines {
        let pipec_check::ir::Schedule::After { pipelines } = &p.schedule else {
            continue;
        };
        let Some(own) = pipeline_nodes.get(p.name.as_str()) else {
            continue;
        };
        let roots: Vec<NodeIndex> = own
            .iter()
            .copied()
            .filter(|&i| {
                !graph
                    .edges_directed(i, Direction::Incoming)
                    .any(|e| graph[e.source()].pipeline == p.name)
            })
            .collect();
        for upstream in pipelines {
            let Some(up) = pipeline_nodes.get(upstream.as_str()) else {
                continue;
            };
            let ends: Vec<NodeIndex> = up
                .iter()
                .copied()
                .filter(|&i| {
                    !graph
                        .edges_directed(i, Direction::Outgoing)
                        .any(|e| graph[e.target()].pipeline == *upstream)
                })
                .collect();
            for &e in &ends {
                for &r in &roots {
                    graph.update_edge(e, r, EdgeKind::After);
                }
            }
        }
    }
    let levels = levels(&graph).map_err(|cycle| vec![cycle_error(project, &graph, &cycle)])?;
    let order = levels.iter().flatten().copied().collect();
    Ok(Plan {
        graph,
        order,
        levels,
    })
}

/// Kahn's algorithm by levels; ties broken by insertion order, so the result is deterministic.
fn levels(graph: &DiGraph<Node, EdgeKind>) -> Result<Vec<Vec<NodeIndex>>, Vec<NodeIndex>> {
    let mut indegree: Vec<usize> = graph
        .node_indices()
        .map(|i| graph.edges_directed(i, Direction::Incoming).count())
        .collect();
    let mut current: Vec<NodeIndex> = graph
        .node_indices()
        .filter(|i| indegree[i.index()] == 0)
        .collect();
    let mut out = Vec::new();
    let mut seen = 0;
    while !current.is_empty() {
        current.sort();
        seen += current.len();
        let mut next = Vec::new();
        for &n in &current {
            for e in graph.edges_directed(n, Direction::Outgoing) {
                let t = e.target().index();
                indegree[t] -= 1;
                if indegree[t] == 0 {
                    next.push(e.target());
                }
            }
        }
        out.push(std::mem::take(&mut current));
        current = next;
    }
    if seen == graph.node_count() {
        return Ok(out);
    }
    let scc = tarjan_scc(graph)
        .into_iter()
        .find(|c| c.len() > 1)
        .unwrap_or_default();
    Err(scc)
}

fn cycle_error(
    project: &Project,
    graph: &DiGraph<Node, EdgeKind>,
    cycle: &[NodeIndex],
) -> Diagnostic {
    let mut names: Vec<&str> = Vec::new();
    for &n in cycle.iter().rev() {
        let p = graph[n].pipeline.as_str();
        if !names.contains(&p) {
            names.push(p);
        }
    }
    let span = |name: &str| {
        project
            .pipelines
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.span)
            .unwrap_or(Span::default())
    };
    let first = names.first().copied().unwrap_or("?");
    let mut path: Vec<&str> = names.clone();
    path.push(first);
    let mut d = Diagnostic::error(
        codes::PIPELINE_CYCLE,
        span(first),
        format!(
            "pipelines depend on each other in a cycle: {}",
            path.join(" -> ")
        ),
        "part of the cycle",
    );
    for n in names.iter().skip(1) {
        d = d.with_label(span(n), format!("`{n}` is part of the cycle"));
    }
    d.with_help(
        "remove one `schedule after`, or read the other pipeline's table without waiting for it",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipec_check::NoFiles;
    use pipec_diag::SourceMap;

    fn project(files: &[(&str, &str)]) -> Project {
        let mut sources = SourceMap::new();
        let roots: Vec<_> = files.iter().map(|(n, t)| sources.add(*n, *t)).collect();
        let checked = pipec_check::check(&mut sources, &roots, &NoFiles);
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        checked.project
    }

    #[test]
    fn orders_nodes_and_levels_deterministically() {
        let p = project(&[(
            "a.pipe",
            "pipeline a {}\nsource s = csv(\"x.csv\") { id: int }\nsource t = csv(\"y.csv\") { id: int }\ntransform u = s | union t\nsink u -> mart.u\ncheck u { unique(id) }",
        )]);
        let plan = plan(&p).unwrap();
        let names: Vec<_> = plan
            .order
            .iter()
            .map(|&i| plan.graph[i].name.as_str())
            .collect();
        assert_eq!(names, ["s", "t", "u", "check:u", "mart.u"]);
        assert_eq!(plan.levels.len(), 4);
        assert_eq!(plan.levels[0].len(), 2);
    }

    #[test]
    fn reports_cycles_between_pipelines() {
        let p = project(&[
            ("a.pipe", "pipeline a { schedule after b }\nsource s = csv(\"x.csv\") { id: int }\nsink s -> mart.a"),
            ("b.pipe", "pipeline b { schedule after a }\nsource s = csv(\"x.csv\") { id: int }\nsink s -> mart.b"),
        ]);
        let err = plan(&p).unwrap_err();
        assert_eq!(err[0].code.id, "E0402");
        assert!(
            err[0].message.contains("a -> b -> a") || err[0].message.contains("b -> a -> b"),
            "{}",
            err[0].message
        );
    }
}
