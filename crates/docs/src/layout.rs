//! The DAG as SVG, laid out in layers (Sugiyama style):
//!
//! 1. **Layers**: a node's layer is its level in the plan's topological levels (`Plan::levels`),
//!    levels without a drawn node dropped; so every edge points to a later layer.
//! 2. **Dummy nodes**: an edge spanning several layers gets one invisible node per layer it
//!    crosses, so that long edges take part in the ordering and are drawn around nodes.
//! 3. **Ordering**: layers start in the plan's order; then sweeps down and up (8 in all) sort
//!    each layer by the barycentre (mean position) of its neighbours in the previous layer of
//!    the sweep, ties and neighbourless nodes keeping their place; the ordering with the fewest
//!    edge crossings seen is kept.
//! 4. **Coordinates**: layers are columns left to right; within a layer nodes are stacked at a
//!    fixed pitch and the layer is centred vertically. Edges are cubic curves through their
//!    dummy nodes.
//!
//! Everything is integer arithmetic on indices in a fixed order, so the same plan gives the
//! same bytes.

use std::collections::BTreeMap;

use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use pipec_plan::{EdgeKind, NodeKind, Plan};

use crate::html::esc;

const NODE_W: i64 = 190;
const NODE_H: i64 = 34;
const GAP_X: i64 = 70;
const PITCH_Y: i64 = 50;
const MARGIN: i64 = 16;
const SWEEPS: usize = 8;

/// A node of the layered graph: a plan node or a dummy on a long edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vertex {
    Real(NodeIndex),
    Dummy(usize),
}

/// The layered graph: layers of vertices and edges between adjacent layers.
pub(crate) struct Layered {
    layers: Vec<Vec<Vertex>>,
    /// Edges between consecutive layers: (layer of `from`, from position key, to key).
    segments: Vec<(Vertex, Vertex)>,
    /// Each plan edge drawn: its kind and the vertices it passes through.
    chains: Vec<(EdgeKind, Vec<Vertex>)>,
}

/// Lays out the plan nodes `keep` accepts: each weakly connected component on its own (stacked
/// in the plan's order of their first nodes), so that unrelated pipelines do not interleave.
pub(crate) fn layout(plan: &Plan, keep: &dyn Fn(NodeIndex) -> bool) -> Vec<Layered> {
    let kept: Vec<NodeIndex> = plan.order.iter().copied().filter(|&n| keep(n)).collect();
    let mut component: BTreeMap<NodeIndex, usize> = BTreeMap::new();
    let mut count = 0;
    for &start in &kept {
        if component.contains_key(&start) {
            continue;
        }
        let mut stack = vec![start];
        component.insert(start, count);
        while let Some(n) = stack.pop() {
            for m in plan.graph.neighbors_undirected(n) {
                if keep(m) && !component.contains_key(&m) {
                    component.insert(m, count);
                    stack.push(m);
                }
            }
        }
        count += 1;
    }
    (0..count)
        .map(|c| layered(plan, &|n| component.get(&n) == Some(&c)))
        .collect()
}

/// Lays out the plan nodes `keep` accepts as one layered graph.
fn layered(plan: &Plan, keep: &dyn Fn(NodeIndex) -> bool) -> Layered {
    let mut layer_of: BTreeMap<NodeIndex, usize> = BTreeMap::new();
    let mut layers: Vec<Vec<Vertex>> = Vec::new();
    for level in &plan.levels {
        let kept: Vec<Vertex> = level
            .iter()
            .copied()
            .filter(|&n| keep(n))
            .map(Vertex::Real)
            .collect();
        if kept.is_empty() {
            continue;
        }
        for v in &kept {
            if let Vertex::Real(n) = v {
                layer_of.insert(*n, layers.len());
            }
        }
        layers.push(kept);
    }
    let mut edges: Vec<(NodeIndex, NodeIndex, EdgeKind)> = plan
        .graph
        .edge_references()
        .filter(|e| layer_of.contains_key(&e.source()) && layer_of.contains_key(&e.target()))
        .map(|e| (e.source(), e.target(), *e.weight()))
        .collect();
    edges.sort_by_key(|(a, b, _)| (a.index(), b.index()));
    let mut segments = Vec::new();
    let mut chains = Vec::new();
    let mut dummies = 0;
    for (a, b, kind) in edges {
        let (la, lb) = (layer_of[&a], layer_of[&b]);
        let mut chain = vec![Vertex::Real(a)];
        if lb > la {
            for layer in layers.iter_mut().take(lb).skip(la + 1) {
                let d = Vertex::Dummy(dummies);
                dummies += 1;
                layer.push(d);
                chain.push(d);
            }
        }
        chain.push(Vertex::Real(b));
        for w in chain.windows(2) {
            segments.push((w[0], w[1]));
        }
        chains.push((kind, chain));
    }
    let mut g = Layered {
        layers,
        segments,
        chains,
    };
    g.order();
    g
}

impl Layered {
    fn positions(&self) -> BTreeMap<VertexKey, (usize, usize)> {
        let mut pos = BTreeMap::new();
        for (l, layer) in self.layers.iter().enumerate() {
            for (i, v) in layer.iter().enumerate() {
                pos.insert(key(*v), (l, i));
            }
        }
        pos
    }

    /// Edge crossings between consecutive layers.
    fn crossings(&self) -> usize {
        let pos = self.positions();
        let mut by_layer: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
        for (a, b) in &self.segments {
            let (la, ia) = pos[&key(*a)];
            let (lb, ib) = pos[&key(*b)];
            if lb == la + 1 {
                by_layer.entry(la).or_default().push((ia, ib));
            }
        }
        let mut n = 0;
        for segs in by_layer.values() {
            for (i, x) in segs.iter().enumerate() {
                for y in &segs[i + 1..] {
                    if (x.0 < y.0 && x.1 > y.1) || (x.0 > y.0 && x.1 < y.1) {
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Barycentre sweeps, keeping the ordering with the fewest crossings.
    fn order(&mut self) {
        let mut best = self.layers.clone();
        let mut best_crossings = self.crossings();
        for sweep in 0..SWEEPS {
            let down = sweep % 2 == 0;
            let pos = self.positions();
            let range: Vec<usize> = if down {
                (1..self.layers.len()).collect()
            } else {
                (0..self.layers.len().saturating_sub(1)).rev().collect()
            };
            let mut current = pos;
            for l in range {
                let neighbour_layer = if down { l - 1 } else { l + 1 };
                let mut keyed: Vec<(i64, usize, Vertex)> = self.layers[l]
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let ns: Vec<usize> = self
                            .segments
                            .iter()
                            .filter_map(|(a, b)| {
                                let other = if down {
                                    (key(*b) == key(*v)).then_some(*a)
                                } else {
                                    (key(*a) == key(*v)).then_some(*b)
                                }?;
                                let (ol, oi) = current[&key(other)];
                                (ol == neighbour_layer).then_some(oi)
                            })
                            .collect();
                        // Scaled by 1000 to keep integer arithmetic; no neighbour: own place.
                        let bary = if ns.is_empty() {
                            i as i64 * 1000
                        } else {
                            ns.iter().sum::<usize>() as i64 * 1000 / ns.len() as i64
                        };
                        (bary, i, *v)
                    })
                    .collect();
                keyed.sort_by_key(|(b, i, _)| (*b, *i));
                self.layers[l] = keyed.into_iter().map(|(_, _, v)| v).collect();
                for (i, v) in self.layers[l].iter().enumerate() {
                    current.insert(key(*v), (l, i));
                }
            }
            let c = self.crossings();
            if c < best_crossings {
                best_crossings = c;
                best = self.layers.clone();
            }
        }
        self.layers = best;
    }
}

type VertexKey = (bool, usize);

fn key(v: Vertex) -> VertexKey {
    match v {
        Vertex::Real(n) => (false, n.index()),
        Vertex::Dummy(d) => (true, d),
    }
}

/// Renders the layout as a standalone `<svg>` element. `href` gives a node's link (relative to
/// the page), `label` its text.
pub(crate) fn svg(
    plan: &Plan,
    parts: &[Layered],
    href: &dyn Fn(NodeIndex) -> Option<String>,
) -> String {
    let columns = parts
        .iter()
        .map(|g| g.layers.len())
        .max()
        .unwrap_or(0)
        .max(1) as i64;
    let width = MARGIN * 2 + columns * (NODE_W + GAP_X) - GAP_X;
    let mut centre: BTreeMap<(usize, VertexKey), (i64, i64)> = BTreeMap::new();
    let mut top = MARGIN;
    for (c, g) in parts.iter().enumerate() {
        let tallest = g.layers.iter().map(Vec::len).max().unwrap_or(0).max(1) as i64;
        for (l, layer) in g.layers.iter().enumerate() {
            let x = MARGIN + l as i64 * (NODE_W + GAP_X);
            let offset = (tallest - layer.len() as i64) * PITCH_Y / 2;
            for (i, v) in layer.iter().enumerate() {
                centre.insert((c, key(*v)), (x, top + offset + i as i64 * PITCH_Y));
            }
        }
        top += tallest * PITCH_Y + PITCH_Y / 2;
    }
    let height = (top - PITCH_Y / 2 - (PITCH_Y - NODE_H) + MARGIN).max(MARGIN * 2 + NODE_H);
    let mut out = format!(
        "<svg class=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"pipeline graph\">\n<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#667\"/></marker></defs>\n"
    );
    for (c, g) in parts.iter().enumerate() {
        for (kind, chain) in &g.chains {
            let mut d = String::new();
            for (i, w) in chain.windows(2).enumerate() {
                let (ax, ay) = centre[&(c, key(w[0]))];
                let (bx, by) = centre[&(c, key(w[1]))];
                // Leave a node at its right edge; a dummy is passed straight through.
                let (x1, y1) = (ax + NODE_W, ay + NODE_H / 2);
                let (x2, y2) = (bx, by + NODE_H / 2);
                if i == 0 {
                    d.push_str(&format!("M{x1},{y1}"));
                } else {
                    d.push_str(&format!(" L{x1},{y1}"));
                }
                let mid = (x1 + x2) / 2;
                d.push_str(&format!(" C{mid},{y1} {mid},{y2} {x2},{y2}"));
            }
            let class = match kind {
                EdgeKind::Data => "edge data",
                EdgeKind::Gate => "edge gate",
                EdgeKind::After => "edge after",
            };
            out.push_str(&format!(
                "<path class=\"{class}\" d=\"{d}\" marker-end=\"url(#arrow)\"/>\n"
            ));
        }
    }
    for (c, g) in parts.iter().enumerate() {
        for layer in &g.layers {
            for v in layer {
                let Vertex::Real(n) = v else { continue };
                let node = &plan.graph[*n];
                let (x, y) = centre[&(c, key(*v))];
                let kind = match node.kind {
                    NodeKind::Source => "source",
                    NodeKind::Transform => "transform",
                    NodeKind::Check => "check",
                    NodeKind::Sink => "sink",
                };
                let label = truncate(&node.name, 26);
                let body = format!(
                "<g class=\"node {kind}\"><title>{kind} {}</title><rect x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"6\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
                esc(&node.id()),
                x + NODE_W / 2,
                y + NODE_H / 2 + 5,
                esc(&label)
            );
                match href(*n) {
                    Some(h) => out.push_str(&format!("<a href=\"{}\">{body}</a>\n", esc(&h))),
                    None => out.push_str(&format!("{body}\n")),
                }
            }
        }
    }
    out.push_str("</svg>");
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> pipec_emit::snapshot::Loaded {
        let repo = pipec_emit::snapshot::Repo::of_crate(env!("CARGO_MANIFEST_DIR"));
        let files: Vec<String> = repo.examples().into_iter().flat_map(|(_, f)| f).collect();
        repo.load(&files)
    }

    #[test]
    fn layers_point_forward_and_every_node_is_drawn_once() {
        let loaded = examples();
        let plan = &loaded.plan;
        let parts = layout(plan, &|_| true);
        let mut drawn: Vec<usize> = parts
            .iter()
            .flat_map(|g| g.layers.iter().flatten())
            .filter_map(|v| match v {
                Vertex::Real(n) => Some(n.index()),
                Vertex::Dummy(_) => None,
            })
            .collect();
        drawn.sort();
        assert_eq!(drawn, (0..plan.graph.node_count()).collect::<Vec<_>>());
        for g in &parts {
            let pos = g.positions();
            for (a, b) in &g.segments {
                assert_eq!(
                    pos[&key(*a)].0 + 1,
                    pos[&key(*b)].0,
                    "segments join adjacent layers"
                );
            }
        }
        // Unrelated pipelines are separate components: bike_share is one of them.
        let bike = parts.iter().filter(|g| {
            g.layers
                .iter()
                .flatten()
                .any(|v| matches!(v, Vertex::Real(n) if plan.graph[*n].pipeline == "bike_share"))
        });
        assert_eq!(bike.count(), 1);
    }

    #[test]
    fn barycentre_sweeps_never_add_crossings() {
        let loaded = examples();
        let plan = &loaded.plan;
        for g in layout(plan, &|_| true) {
            let mut initial = Layered {
                layers: g.layers.clone(),
                segments: g.segments.clone(),
                chains: Vec::new(),
            };
            // The plan's own order within each layer, as before the sweeps.
            let rank: BTreeMap<VertexKey, usize> = plan
                .order
                .iter()
                .enumerate()
                .map(|(i, n)| (key(Vertex::Real(*n)), i))
                .collect();
            for layer in &mut initial.layers {
                layer.sort_by_key(|v| rank.get(&key(*v)).copied().unwrap_or(usize::MAX));
            }
            assert!(g.crossings() <= initial.crossings());
        }
    }

    #[test]
    fn crossing_is_removed() {
        // Two parallel chains given in crossed order: a1->b2, a2->b1 with b's ordered b1, b2.
        let mut g = Layered {
            layers: vec![
                vec![Vertex::Dummy(0), Vertex::Dummy(1)],
                vec![Vertex::Dummy(2), Vertex::Dummy(3)],
            ],
            segments: vec![
                (Vertex::Dummy(0), Vertex::Dummy(3)),
                (Vertex::Dummy(1), Vertex::Dummy(2)),
            ],
            chains: Vec::new(),
        };
        assert_eq!(g.crossings(), 1);
        g.order();
        assert_eq!(g.crossings(), 0);
    }

    #[test]
    fn truncates_long_names() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdefgh", 5), "abcd…");
    }
}
