//! The order of a run over several pipelines and intervals: interval by interval, and within an
//! interval upstream pipelines before their dependants, as an orchestrator runs them. A failure
//! stops only that pipeline's later intervals and its dependants' same and later intervals.

use std::collections::{BTreeSet, HashMap};

use pipec_plan::Plan;

/// The pipelines of a plan in dependency order, with who depends on whom.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pipelines {
    /// Names in a topological order (ties broken by first appearance in the plan's order).
    pub(crate) order: Vec<String>,
    /// For each pipeline (by position in `order`), the pipelines it reads from directly.
    pub(crate) upstream: Vec<Vec<usize>>,
}

impl Pipelines {
    /// The pipeline graph of `plan`: an edge between nodes of two pipelines (`table(...)` lineage
    /// or `schedule after`) makes the first an upstream of the second.
    pub(crate) fn of(plan: &Plan) -> Self {
        let mut names: Vec<String> = Vec::new();
        for &i in &plan.order {
            let p = &plan.graph[i].pipeline;
            if !names.contains(p) {
                names.push(p.clone());
            }
        }
        // Pipelines without nodes still run.
        for i in plan.graph.node_indices() {
            let p = &plan.graph[i].pipeline;
            if !names.contains(p) {
                names.push(p.clone());
            }
        }
        let at: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut upstream: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
        for e in plan.graph.raw_edges() {
            let from = at[plan.graph[e.source()].pipeline.as_str()];
            let to = at[plan.graph[e.target()].pipeline.as_str()];
            if from != to && !upstream[to].contains(&from) {
                upstream[to].push(from);
            }
        }
        // Kahn's algorithm, always taking the earliest ready pipeline; a cycle (rejected by
        // the planner) would leave the rest in first-appearance order.
        let mut placed = vec![false; names.len()];
        let mut topo: Vec<usize> = Vec::with_capacity(names.len());
        while topo.len() < names.len() {
            let next = (0..names.len())
                .find(|&i| !placed[i] && upstream[i].iter().all(|&u| placed[u]))
                .or_else(|| (0..names.len()).find(|&i| !placed[i]));
            let Some(i) = next else { break };
            placed[i] = true;
            topo.push(i);
        }
        let new_at: HashMap<usize, usize> = topo.iter().enumerate().map(|(n, &o)| (o, n)).collect();
        let order = topo.iter().map(|&o| names[o].clone()).collect();
        let upstream = topo
            .iter()
            .map(|&o| upstream[o].iter().map(|u| new_at[u]).collect())
            .collect();
        Pipelines { order, upstream }
    }

    /// Every pipeline that reads, directly or not, from pipeline `i`.
    fn dependants(&self, i: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        let mut todo = vec![i];
        while let Some(u) = todo.pop() {
            for (d, ups) in self.upstream.iter().enumerate() {
                if ups.contains(&u) && d != i && !out.contains(&d) {
                    out.push(d);
                    todo.push(d);
                }
            }
        }
        out
    }
}

/// Why an interval is not run: `pipeline` (the one itself or an upstream) failed at `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blocked<K> {
    /// Position of the failed pipeline.
    pub(crate) pipeline: usize,
    /// The interval that failed.
    pub(crate) key: K,
}

/// Walks every (pipeline, interval) pair, interval keys in ascending order and pipelines in
/// dependency order within a key. `keys[i]` are the intervals of pipeline `i` (of `pipelines`);
/// `visit` runs one pair, or is told why it is blocked, and returns true when the pair failed.
pub(crate) fn drive<K: Ord + Clone>(
    pipelines: &Pipelines,
    keys: &[Vec<K>],
    mut visit: impl FnMut(usize, &K, Option<&Blocked<K>>) -> bool,
) {
    let all: BTreeSet<&K> = keys.iter().flatten().collect();
    let mut blocked: Vec<Option<Blocked<K>>> = vec![None; pipelines.order.len()];
    for key in all {
        for (i, own) in keys.iter().enumerate() {
            if !own.contains(key) {
                continue;
            }
            let failed = visit(i, key, blocked[i].as_ref());
            if failed && blocked[i].is_none() {
                let why = Blocked {
                    pipeline: i,
                    key: key.clone(),
                };
                for d in pipelines.dependants(i) {
                    if blocked[d].is_none() {
                        blocked[d] = Some(why.clone());
                    }
                }
                blocked[i] = Some(why);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// up → down, and an independent `other` ordered after them.
    fn three() -> Pipelines {
        Pipelines {
            order: vec!["up".into(), "down".into(), "other".into()],
            upstream: vec![vec![], vec![0], vec![]],
        }
    }

    fn trace(p: &Pipelines, keys: &[Vec<u32>], fail: &[(usize, u32)]) -> Vec<String> {
        let mut out = Vec::new();
        drive(p, keys, |i, k, b| {
            match b {
                Some(b) => out.push(format!("{} {k} skip({} {})", p.order[i], b.pipeline, b.key)),
                None => out.push(format!("{} {k}", p.order[i])),
            }
            b.is_none() && fail.contains(&(i, *k))
        });
        out
    }

    #[test]
    fn pipelines_are_ordered_by_lineage_and_after_whatever_the_file_order() {
        let files = [
            (
                "c.pipe",
                "pipeline c { schedule after b }\nsource x = calendar(from = 2024-01-01, to = 2024-01-02) { day: date }\nsink x -> raw.c { mode replace }\n",
            ),
            (
                "b.pipe",
                "pipeline b {}\nsource t = table(\"raw.a\") { day: date }\nsink t -> raw.b { mode replace }\n",
            ),
            (
                "a.pipe",
                "pipeline a {}\nsource x = calendar(from = 2024-01-01, to = 2024-01-02) { day: date }\nsink x -> raw.a { mode replace }\n",
            ),
            (
                "d.pipe",
                "pipeline d {}\nsource x = calendar(from = 2024-01-01, to = 2024-01-02) { day: date }\nsink x -> raw.d { mode replace }\n",
            ),
        ];
        let mut sources = pipec_diag::SourceMap::new();
        let ids: Vec<_> = files.iter().map(|&(n, t)| sources.add(n, t)).collect();
        let checked = pipec_check::check(&mut sources, &ids, &pipec_check::NoFiles);
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let plan = pipec_plan::plan(&checked.project).unwrap();
        let p = Pipelines::of(&plan);
        let at = |n: &str| p.order.iter().position(|o| o == n).unwrap();
        assert!(at("a") < at("b") && at("b") < at("c"), "{:?}", p.order);
        assert_eq!(p.upstream[at("b")], [at("a")]);
        assert_eq!(p.upstream[at("c")], [at("b")]);
        assert!(p.upstream[at("d")].is_empty());
        let mut deps = p.dependants(at("a"));
        deps.sort();
        let mut want = vec![at("b"), at("c")];
        want.sort();
        assert_eq!(deps, want);
    }

    #[test]
    fn intervals_go_one_by_one_upstream_first() {
        let p = three();
        let keys = vec![vec![1, 2], vec![1, 2], vec![1, 2]];
        assert_eq!(
            trace(&p, &keys, &[]),
            ["up 1", "down 1", "other 1", "up 2", "down 2", "other 2"]
        );
    }

    #[test]
    fn a_failure_blocks_only_its_later_intervals_and_dependants() {
        let p = three();
        let keys = vec![vec![1, 2, 3], vec![1, 2, 3], vec![1, 2, 3]];
        assert_eq!(
            trace(&p, &keys, &[(0, 2)]),
            [
                "up 1",
                "down 1",
                "other 1",
                "up 2",
                "down 2 skip(0 2)",
                "other 2",
                "up 3 skip(0 2)",
                "down 3 skip(0 2)",
                "other 3"
            ]
        );
    }

    #[test]
    fn blocking_passes_through_a_pipeline_without_that_interval() {
        // a → b → c; b has no interval 2, c still must not run 2 after a failed it.
        let p = Pipelines {
            order: vec!["a".into(), "b".into(), "c".into()],
            upstream: vec![vec![], vec![0], vec![1]],
        };
        let keys = vec![vec![2], vec![3], vec![2]];
        assert_eq!(
            trace(&p, &keys, &[(0, 2)]),
            ["a 2", "c 2 skip(0 2)", "b 3 skip(0 2)"]
        );
    }
}
