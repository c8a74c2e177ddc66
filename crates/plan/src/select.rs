//! `graph --select`: the part of a plan around one relation, dbt-style: the relation, every node
//! it is computed from and every node computed from it.

use std::collections::{HashMap, VecDeque};

use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::lineage::{resolve_name, How, Lineage, LookupError};
use crate::{levels, EdgeKind, NodeKind, Plan};

/// The node named `name`: `pipeline.name`, or a relation or sink name unique in the project
/// (checks are not selectable).
pub fn find_node(plan: &Plan, name: &str) -> Result<NodeIndex, LookupError> {
    let nodes: Vec<NodeIndex> = plan
        .order
        .iter()
        .copied()
        .filter(|&i| plan.graph[i].kind != NodeKind::Check)
        .collect();
    let ids: Vec<String> = nodes.iter().map(|&i| plan.graph[i].id()).collect();
    let i = resolve_name(
        name,
        nodes
            .iter()
            .zip(&ids)
            .map(|(&n, id)| (id.as_str(), plan.graph[n].name.as_str())),
    )?;
    Ok(nodes[i])
}

/// The nodes `node` reads from and the nodes reading it, transitively, with `node` itself;
/// marked by node index. Edges followed: data edges within pipelines, and between pipelines the
/// links of `lineage` (a `table(...)` source reading a sink's table, a file source reading a file
/// sink's path), whatever the plan's edge says (`after` when the pipeline also waits).
pub fn around(plan: &Plan, node: NodeIndex, lineage: &Lineage) -> Vec<bool> {
    let index: HashMap<String, NodeIndex> = plan
        .graph
        .node_indices()
        .map(|i| (plan.graph[i].id(), i))
        .collect();
    let mut links: Vec<(NodeIndex, NodeIndex)> = Vec::new();
    for e in &lineage.edges {
        if !matches!(e.how, How::Table | How::File) {
            continue;
        }
        let from = &lineage.relations[lineage.columns[e.from].relation].id;
        let to = &lineage.relations[lineage.columns[e.to].relation].id;
        if let (Some(&a), Some(&b)) = (index.get(from), index.get(to)) {
            if !links.contains(&(a, b)) {
                links.push((a, b));
            }
        }
    }
    let mut keep = vec![false; plan.graph.node_count()];
    keep[node.index()] = true;
    for dir in [Direction::Incoming, Direction::Outgoing] {
        let mut queue = VecDeque::from([node]);
        while let Some(n) = queue.pop_front() {
            let mut next: Vec<NodeIndex> = plan
                .graph
                .edges_directed(n, dir)
                .filter(|e| *e.weight() == EdgeKind::Data)
                .map(|e| {
                    if dir == Direction::Incoming {
                        e.source()
                    } else {
                        e.target()
                    }
                })
                .collect();
            for &(a, b) in &links {
                match dir {
                    Direction::Incoming if b == n => next.push(a),
                    Direction::Outgoing if a == n => next.push(b),
                    _ => {}
                }
            }
            for m in next {
                if !keep[m.index()] {
                    keep[m.index()] = true;
                    queue.push_back(m);
                }
            }
        }
    }
    keep
}

/// The plan restricted to the nodes marked in `keep` (edges between them kept, order and levels
/// recomputed).
pub fn subplan(plan: &Plan, keep: &[bool]) -> Plan {
    let graph = plan
        .graph
        .filter_map(|i, n| keep[i.index()].then(|| n.clone()), |_, e| Some(*e));
    // A subgraph of a DAG has no cycle.
    let levels = levels(&graph).unwrap_or_default();
    let order = levels.iter().flatten().copied().collect();
    Plan {
        graph,
        order,
        levels,
    }
}
