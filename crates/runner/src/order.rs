//! The order of a run over several pipelines and intervals: interval by interval, and within an
//! interval upstream pipelines before their dependants, as an orchestrator runs them. A failure
//! stops only that pipeline's later intervals and its dependants' same and later intervals.
//!
//! [`schedule`] runs the (pipeline, interval) units on a number of workers: a unit starts once
//! its pipeline's earlier intervals and its upstreams' intervals up to its own are finished, so
//! independent pipelines (and an upstream's next interval) run while others do. A pipeline
//! whose staging reads nothing it publishes may also stage its next interval while it publishes
//! the one before (see [`Job::wait_to_publish`]). Outcomes, skip reasons and the order of the
//! results are those of one worker.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard};

use pipec_check::ir::{Head, Pipeline, Project, RelationKind, SinkTarget, Source};
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
    /// or `schedule after`) makes the first an upstream of the second, and so does a file sink of
    /// one whose path a file source of the other may read (see [`file_links`]).
    pub(crate) fn of(plan: &Plan, project: &Project) -> Self {
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
        let mut link = |from: usize, to: usize| {
            if from != to && !upstream[to].contains(&from) {
                upstream[to].push(from);
            }
        };
        for e in plan.graph.raw_edges() {
            link(
                at[plan.graph[e.source()].pipeline.as_str()],
                at[plan.graph[e.target()].pipeline.as_str()],
            );
        }
        for (writer, reader) in file_links(project) {
            if let (Some(&from), Some(&to)) = (at.get(writer), at.get(reader)) {
                link(from, to);
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
    #[cfg(test)]
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

    /// How many of the units of `keys` (the intervals of each pipeline, as [`schedule`] takes
    /// them) can run at once at most, as far as the pipelines tell: every pipeline with units
    /// when one has several (an upstream's next interval runs beside its dependant's), else the
    /// most pipelines at one depth of the pipeline graph.
    pub(crate) fn concurrency<K>(&self, keys: &[Vec<K>]) -> usize {
        let busy: Vec<usize> = (0..self.order.len().min(keys.len()))
            .filter(|&i| !keys[i].is_empty())
            .collect();
        if busy.iter().any(|&i| keys[i].len() > 1) {
            return busy.len();
        }
        let mut depth = vec![0usize; self.order.len()];
        for i in 0..self.order.len() {
            depth[i] = self.upstream[i]
                .iter()
                .filter(|&&u| u < i)
                .map(|&u| depth[u] + 1)
                .max()
                .unwrap_or(0);
        }
        let mut per_depth: HashMap<usize, usize> = HashMap::new();
        for &i in &busy {
            *per_depth.entry(depth[i]).or_default() += 1;
        }
        per_depth.into_values().max().unwrap_or(0)
    }

    /// Every pipeline that pipeline `i` reads from, directly or not.
    fn ancestors(&self, i: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        let mut todo = vec![i];
        while let Some(d) = todo.pop() {
            for &u in &self.upstream[d] {
                if u != i && !out.contains(&u) {
                    out.push(u);
                    todo.push(u);
                }
            }
        }
        out
    }
}

/// Whether staging an interval of `p` reads nothing `p` publishes, so that its next interval
/// may stage while it publishes one ([`schedule`]'s `ahead`): no SQL transform (it may name any
/// table), no `table(...)` source of a table `p` writes, no file source when `p` writes files,
/// and no source read from a watermark or offset that a publish moves (PostgreSQL with
/// `incremental`, streams); nor with a `timeout`, which the wait for the previous interval would
/// count towards.
pub(crate) fn stages_ahead(p: &Pipeline) -> bool {
    if p.timeout_seconds.is_some() {
        return false;
    }
    let writes_files = p
        .sinks
        .iter()
        .any(|s| matches!(s.target, SinkTarget::File { .. }));
    let written: Vec<String> = p
        .sinks
        .iter()
        .filter_map(|s| match &s.target {
            SinkTarget::Table { schema, table } => Some(format!("{schema}.{table}").to_lowercase()),
            SinkTarget::File { .. } => None,
        })
        .collect();
    p.relations.iter().all(|r| match &r.kind {
        RelationKind::Transform(t) => matches!(t.head, Head::Relation(_)),
        RelationKind::Source(src) => match src {
            Source::File { .. } => !writes_files,
            Source::Table { table } => {
                let table = table.to_lowercase();
                let full = if table.contains('.') {
                    table
                } else {
                    format!("main.{table}")
                };
                !written.contains(&full)
            }
            Source::Postgres { incremental, .. } => incremental.is_none(),
            Source::Stream { .. } => false,
            Source::Http { .. } | Source::Calendar { .. } => true,
        },
    })
}

/// Whether an interval of `p` reads nothing once staged ([`schedule`]'s `settled`): no retry
/// (`retry`: retries are on) stages it again, and no sink publishes a `table(...)` source, a
/// view on the upstream's table.
pub(crate) fn settled_once_staged(p: &Pipeline, retry: bool) -> bool {
    (p.retries == 0 || !retry)
        && p.sinks.iter().all(|s| {
            !p.relation(&s.relation)
                .is_some_and(|r| matches!(r.kind, RelationKind::Source(Source::Table { .. })))
        })
}

/// (writer, reader) pipeline names: a file sink of the writer whose path a file source of the
/// reader may read. Paths are compared resolved against their spec's folder, with every
/// `{placeholder}` (and, in a `glob = true` source, `*`, `?` and `[...]`) standing for any text:
/// `out/{ds}.parquet` is read by `out/{ds}.parquet`, `out/*.parquet` or `out/2024-01-02.parquet`.
fn file_links(project: &Project) -> Vec<(&str, &str)> {
    let mut sinks: Vec<(&str, String)> = Vec::new();
    let mut sources: Vec<(&str, String)> = Vec::new();
    for p in &project.pipelines {
        for s in &p.sinks {
            if let SinkTarget::File { path, .. } = &s.target {
                sinks.push((&p.name, pattern(&p.file, path, false)));
            }
        }
        for r in &p.relations {
            if let RelationKind::Source(Source::File { path, options, .. }) = &r.kind {
                sources.push((&p.name, pattern(&p.file, path, options.glob)));
            }
        }
    }
    let mut out = Vec::new();
    for (writer, sink) in &sinks {
        for (reader, source) in &sources {
            if writer != reader
                && (wildcard_match(source, sink) || wildcard_match(sink, source))
                && !out.contains(&(*writer, *reader))
            {
                out.push((*writer, *reader));
            }
        }
    }
    out
}

/// A path template as a pattern in which `*` stands for any text: resolved against the folder
/// of `spec_file` (`.` and `..` removed), placeholders and, with `glob`, glob characters made `*`.
fn pattern(spec_file: &str, path: &str, glob: bool) -> String {
    let resolved = pipec_plan::lineage::resolve_path(spec_file, path);
    let text = resolved.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
                out.push('*');
            }
            '[' if glob => {
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
                out.push('*');
            }
            '*' | '?' if glob => out.push('*'),
            // A literal `*` in a path is rare; it is a wildcard here, which only adds a link.
            c => out.push(c),
        }
    }
    out
}

/// Whether `pattern` (`*` matches any text, also a `*` of `text`) matches all of `text`.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Why an interval is not run: `pipeline` (the one itself or an upstream) failed at `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blocked<K> {
    /// Position of the failed pipeline.
    pub(crate) pipeline: usize,
    /// The interval that failed.
    pub(crate) key: K,
}

/// One (pipeline, interval) unit, as a worker of [`schedule`] gets it.
pub(crate) struct Job<'a, K> {
    /// Position of the pipeline.
    pub(crate) pipeline: usize,
    /// The interval.
    pub(crate) key: &'a K,
    /// Why it must not run (it or an upstream failed an earlier interval), if so.
    pub(crate) blocked: Option<Blocked<K>>,
    index: usize,
    board: &'a Board,
    units: &'a [(usize, K)],
    lineage: &'a [Vec<usize>],
}

impl<K: Clone> Job<'_, K> {
    /// Waits until this pipeline's previous interval has finished and the intervals of its
    /// dependants that come before this one have finished (or, settled ones, staged), so that
    /// intervals publish in order and none of the dependants, still reading this pipeline's
    /// tables, sees what this one publishes. A unit calls it once staged, before publishing;
    /// `Some` when it must not publish after all: its previous interval (staged at the same
    /// time) or an upstream's failed. Once it returns, the pipeline's next interval may start
    /// staging (when the pipeline allows it).
    pub(crate) fn wait_to_publish(&self) -> Option<Blocked<K>> {
        let board = self.board;
        let mut st = board.lock();
        while !st.stop
            && (board.own_prev[self.index].is_some_and(|p| !st.finished[p])
                || board.readers[self.index]
                    .iter()
                    .any(|&r| !(st.finished[r] || board.settled[r] && st.gated[r])))
        {
            st = board.wait(st);
        }
        if !st.gated[self.index] {
            st.gated[self.index] = true;
            if st.early[self.index] {
                st.early_staging -= 1;
            }
            if let Some(next) = board.next_own[self.index] {
                if board.may_start_early(&st, next) {
                    st.ready.insert(next);
                }
            }
        }
        let blocked = blocked_by(&st, self.units, self.lineage, self.index);
        drop(st);
        board.wake.notify_all();
        blocked
    }

    /// Waits until this pipeline's previous interval has finished (it may still be publishing
    /// when this one started early); `Some` when it or an upstream failed, so that this one is
    /// skipped as with one worker rather than reported failed or retried.
    pub(crate) fn wait_for_previous(&self) -> Option<Blocked<K>> {
        let board = self.board;
        let mut st = board.lock();
        while !st.stop && board.own_prev[self.index].is_some_and(|p| !st.finished[p]) {
            st = board.wait(st);
        }
        blocked_by(&st, self.units, self.lineage, self.index)
    }
}

/// The first failure in the walk before unit `at` of its pipeline or one it reads from.
fn blocked_by<K: Clone>(
    st: &Progress,
    units: &[(usize, K)],
    lineage: &[Vec<usize>],
    at: usize,
) -> Option<Blocked<K>> {
    lineage[units[at].0]
        .iter()
        .filter_map(|&p| st.failure[p])
        .filter(|&f| f < at)
        .min()
        .map(|f| Blocked {
            pipeline: units[f].0,
            key: units[f].1.clone(),
        })
}

/// What the workers of [`schedule`] share: the dependencies between units and their progress.
struct Board {
    /// For each unit, the units that wait for it to finish.
    unblocks: Vec<Vec<usize>>,
    /// For each unit, the last earlier unit of each direct dependant (see [`Job::wait_to_publish`]).
    readers: Vec<Vec<usize>>,
    /// For each unit, the previous unit of its pipeline.
    own_prev: Vec<Option<usize>>,
    /// For each unit, the next unit of its pipeline when the pipeline may stage it while this
    /// one publishes.
    next_own: Vec<Option<usize>>,
    /// For each unit, whether it reads nothing more once through [`Job::wait_to_publish`].
    settled: Vec<bool>,
    /// How many workers run units.
    workers: usize,
    state: Mutex<Progress>,
    wake: Condvar,
}

struct Progress {
    /// Unfinished units each unit waits for.
    waiting: Vec<usize>,
    /// Units whose dependencies are finished, not yet taken (by position in the walk).
    ready: BTreeSet<usize>,
    finished: Vec<bool>,
    /// Per pipeline, its unit that failed (a failure blocks the pipeline's later units, so there
    /// is at most one).
    failure: Vec<Option<usize>>,
    /// Units not finished.
    left: usize,
    /// Set when a visit asked to stop (or panicked): no further unit starts.
    stop: bool,
    /// Units a worker took.
    taken: Vec<bool>,
    /// Units that passed [`Job::wait_to_publish`].
    gated: Vec<bool>,
    /// Units started while their pipeline's previous unit was publishing.
    early: Vec<bool>,
    /// Early units not yet through [`Job::wait_to_publish`]: they hold a worker while they
    /// wait, so at most all workers but one do (the last one runs what they wait for).
    early_staging: usize,
}

impl Board {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, Progress>) -> MutexGuard<'a, Progress> {
        self.wake.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// Whether unit `u` may start before its pipeline's previous unit has finished: the
    /// pipeline allows it, that unit is publishing, it is all `u` still waits for, and a worker
    /// stays free for everything else.
    fn may_start_early(&self, st: &Progress, u: usize) -> bool {
        let Some(prev) = self.own_prev[u] else {
            return false;
        };
        self.next_own[prev] == Some(u)
            && !st.taken[u]
            && !st.finished[prev]
            && st.gated[prev]
            && st.waiting[u] == 1
            && st.early_staging + 1 < self.workers
    }
}

/// Stops the schedule when its worker panics, so the other workers do not wait for it forever.
struct StopOnPanic<'a>(&'a Board);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().stop = true;
            self.0.wake.notify_all();
        }
    }
}

/// Runs every (pipeline, interval) unit on `workers` (one thread each): `keys[i]` are the
/// intervals of pipeline `i` (of `pipelines`). The walk is interval keys in ascending order and,
/// within a key, pipelines in dependency order; a unit starts when the units of its pipeline and
/// of every pipeline it reads from (directly or not) that come before it in the walk, up to its
/// own key, have finished; among units ready, the earliest in the walk. `visit` runs one unit,
/// or is told why it is blocked (the first failure in the walk, before it, of its pipeline or
/// one it reads from), and returns its outcome and whether it failed, or `None` to start no
/// further unit. With one worker the units run in walk order. Returns the outcomes in walk
/// order, whatever the number of workers.
///
/// A pipeline `i` with `ahead[i]` stages its next interval while it publishes the one before:
/// that unit also starts once the previous one is through [`Job::wait_to_publish`] (and waits
/// there for it to finish), when its other dependencies are finished and at most all workers
/// but one hold such units. Its staging must not read what the pipeline publishes.
/// A unit of a pipeline `i` with `settled[i]` reads nothing once through
/// [`Job::wait_to_publish`] (no retry stages it again, and what it publishes was staged): its
/// upstreams may publish their next interval from then on, rather than once it has finished.
pub(crate) fn schedule<K, W, T>(
    pipelines: &Pipelines,
    keys: &[Vec<K>],
    workers: Vec<W>,
    (ahead, settled): (&[bool], &[bool]),
    visit: impl Fn(&mut W, &Job<'_, K>) -> Option<(T, bool)> + Sync,
) -> Vec<(usize, K, T)>
where
    K: Ord + Clone + Send + Sync,
    W: Send,
    T: Send,
{
    let n = pipelines.order.len().min(keys.len());
    let own: Vec<BTreeSet<&K>> = keys[..n].iter().map(|k| k.iter().collect()).collect();
    let all: BTreeSet<&K> = own.iter().flatten().copied().collect();
    let mut units: Vec<(usize, K)> = Vec::new();
    for key in all {
        for (i, own) in own.iter().enumerate() {
            if own.contains(key) {
                units.push((i, key.clone()));
            }
        }
    }
    // The pipelines whose failure blocks pipeline `i`: itself and every one it reads from.
    let lineage: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            let mut l = pipelines.ancestors(i);
            l.retain(|&a| a < n);
            l.push(i);
            l
        })
        .collect();
    let mut direct_readers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (d, ups) in pipelines.upstream.iter().enumerate().take(n) {
        for &u in ups.iter().filter(|&&u| u < n) {
            direct_readers[u].push(d);
        }
    }
    let mut unblocks: Vec<Vec<usize>> = vec![Vec::new(); units.len()];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); units.len()];
    let mut waiting: Vec<usize> = vec![0; units.len()];
    let mut last: Vec<Option<usize>> = vec![None; n];
    let mut own_prev: Vec<Option<usize>> = vec![None; units.len()];
    let mut next_own: Vec<Option<usize>> = vec![None; units.len()];
    for (at, (i, _)) in units.iter().enumerate() {
        own_prev[at] = last[*i];
        if let Some(prev) = last[*i].filter(|_| ahead.get(*i).copied().unwrap_or(false)) {
            next_own[prev] = Some(at);
        }
        let mut deps: Vec<usize> = lineage[*i].iter().filter_map(|&p| last[p]).collect();
        deps.sort_unstable();
        deps.dedup();
        for &d in &deps {
            unblocks[d].push(at);
        }
        waiting[at] = deps.len();
        readers[at] = direct_readers[*i].iter().filter_map(|&d| last[d]).collect();
        last[*i] = Some(at);
    }
    let ready = (0..units.len()).filter(|&u| waiting[u] == 0).collect();
    let board = Board {
        unblocks,
        readers,
        own_prev,
        next_own,
        settled: units
            .iter()
            .map(|(i, _)| settled.get(*i).copied().unwrap_or(false))
            .collect(),
        workers: workers.len(),
        state: Mutex::new(Progress {
            waiting,
            ready,
            finished: vec![false; units.len()],
            failure: vec![None; n],
            left: units.len(),
            stop: false,
            taken: vec![false; units.len()],
            gated: vec![false; units.len()],
            early: vec![false; units.len()],
            early_staging: 0,
        }),
        wake: Condvar::new(),
    };
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..units.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for mut worker in workers {
            let (board, units, lineage, results, visit) =
                (&board, &units, &lineage, &results, &visit);
            scope.spawn(move || {
                let _stop = StopOnPanic(board);
                loop {
                    let mut st = board.lock();
                    let at = loop {
                        if st.stop || st.left == 0 {
                            return;
                        }
                        if let Some(at) = st.ready.pop_first() {
                            if st.taken[at] {
                                continue;
                            }
                            if st.waiting[at] > 0 {
                                if !board.may_start_early(&st, at) {
                                    continue;
                                }
                                st.early[at] = true;
                                st.early_staging += 1;
                            }
                            st.taken[at] = true;
                            break at;
                        }
                        st = board.wait(st);
                    };
                    let (pipeline, key) = &units[at];
                    let blocked = blocked_by(&st, units, lineage, at);
                    drop(st);
                    let job = Job {
                        pipeline: *pipeline,
                        key,
                        blocked,
                        index: at,
                        board,
                        units,
                        lineage,
                    };
                    let outcome = visit(&mut worker, &job);
                    let mut st = board.lock();
                    // A unit finishes after its pipeline's previous one, also when it did not
                    // publish (skipped, failed or already done).
                    while !st.stop && board.own_prev[at].is_some_and(|p| !st.finished[p]) {
                        st = board.wait(st);
                    }
                    if !st.gated[at] {
                        st.gated[at] = true;
                        if st.early[at] {
                            st.early_staging -= 1;
                        }
                    }
                    match outcome {
                        Some((result, failed)) => {
                            if failed && st.failure[*pipeline].is_none() {
                                st.failure[*pipeline] = Some(at);
                            }
                            results.lock().unwrap_or_else(|e| e.into_inner())[at] = Some(result);
                        }
                        None => st.stop = true,
                    }
                    st.finished[at] = true;
                    st.left -= 1;
                    for &u in &board.unblocks[at] {
                        st.waiting[u] -= 1;
                        if !st.taken[u] && (st.waiting[u] == 0 || board.may_start_early(&st, u)) {
                            st.ready.insert(u);
                        }
                    }
                    drop(st);
                    board.wake.notify_all();
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    units
        .into_iter()
        .zip(results)
        .filter_map(|((i, key), r)| r.map(|r| (i, key, r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// up → down, and an independent `other` ordered after them.
    fn three() -> Pipelines {
        Pipelines {
            order: vec!["up".into(), "down".into(), "other".into()],
            upstream: vec![vec![], vec![0], vec![]],
        }
    }

    /// The outcome of each unit as text, in the order returned, and the order the units started
    /// in; units in `fail` fail, and a unit sleeps `pause(pipeline, key)` milliseconds.
    fn run(
        p: &Pipelines,
        keys: &[Vec<u32>],
        fail: &[(usize, u32)],
        workers: usize,
        pause: impl Fn(usize, u32) -> u64 + Sync,
    ) -> (Vec<String>, Vec<String>) {
        let started = Mutex::new(Vec::new());
        let out = schedule(p, keys, vec![(); workers], (&[], &[]), |_, job| {
            let name = format!("{} {}", p.order[job.pipeline], job.key);
            started.lock().unwrap().push(name.clone());
            std::thread::sleep(Duration::from_millis(pause(job.pipeline, *job.key)));
            Some(match &job.blocked {
                Some(b) => (format!("{name} skip({} {})", b.pipeline, b.key), false),
                None => (name, fail.contains(&(job.pipeline, *job.key))),
            })
        });
        let out = out.into_iter().map(|(_, _, s)| s).collect();
        (out, started.into_inner().unwrap())
    }

    fn trace(p: &Pipelines, keys: &[Vec<u32>], fail: &[(usize, u32)]) -> Vec<String> {
        let (out, started) = run(p, keys, fail, 1, |_, _| 0);
        let plain: Vec<String> = out
            .iter()
            .map(|o| o.split(" skip").next().unwrap().to_string())
            .collect();
        assert_eq!(started, plain, "one worker runs the units in walk order");
        out
    }

    #[test]
    fn pipelines_are_ordered_by_lineage_after_and_files_whatever_the_file_order() {
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
            (
                "sub/f.pipe",
                "pipeline f {}\nsource x = parquet(\"../lake/{ds}.parquet\") { day: date }\nsink x -> raw.f { mode replace }\n",
            ),
            (
                "e.pipe",
                "pipeline e {}\nsource x = calendar(from = 2024-01-01, to = 2024-01-02) { day: date }\nsink x -> parquet(\"lake/{ds}.parquet\")\n",
            ),
        ];
        let mut sources = pipec_diag::SourceMap::new();
        let ids: Vec<_> = files.iter().map(|&(n, t)| sources.add(n, t)).collect();
        let checked = pipec_check::check(&mut sources, &ids, &pipec_check::NoFiles);
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let plan = pipec_plan::plan(&checked.project).unwrap();
        let p = Pipelines::of(&plan, &checked.project);
        let at = |n: &str| p.order.iter().position(|o| o == n).unwrap();
        assert!(at("a") < at("b") && at("b") < at("c"), "{:?}", p.order);
        assert_eq!(p.upstream[at("b")], [at("a")]);
        assert_eq!(p.upstream[at("c")], [at("b")]);
        assert!(p.upstream[at("d")].is_empty());
        // f reads the files e writes (paths relative to each spec's folder).
        assert!(at("e") < at("f"), "{:?}", p.order);
        assert_eq!(p.upstream[at("f")], [at("e")]);
        let mut deps = p.dependants(at("a"));
        deps.sort();
        let mut want = vec![at("b"), at("c")];
        want.sort();
        assert_eq!(deps, want);
        let mut anc = p.ancestors(at("c"));
        anc.sort();
        let mut want = vec![at("a"), at("b")];
        want.sort();
        assert_eq!(anc, want);
    }

    #[test]
    fn concurrency_counts_the_pipelines_that_can_run_side_by_side() {
        let p = five();
        // A backfill: every pipeline with intervals can be busy at once.
        assert_eq!(
            p.concurrency(&[vec![1, 2], vec![1], vec![1], vec![], vec![]]),
            3
        );
        // One interval each: a and b (and e) at depth 0, c, then d.
        assert_eq!(p.concurrency(&vec![vec![1]; 5]), 3);
        assert_eq!(
            p.concurrency(&[vec![], vec![], vec![1], vec![1], vec![]]),
            1
        );
        assert_eq!(
            p.concurrency::<u32>(&[vec![], vec![], vec![], vec![], vec![]]),
            0
        );
    }

    #[test]
    fn file_paths_link_when_one_may_name_a_file_of_the_other() {
        let sink = pattern("specs/e.pipe", "../lake/{ds}/part.parquet", false);
        assert_eq!(sink, "lake/*/part.parquet");
        for (source, glob, linked) in [
            ("lake/{ds}/part.parquet", false, true),
            ("lake/2024-01-02/part.parquet", false, true),
            ("lake/*/part.parquet", true, true),
            ("lake/2024-0[12]-??/part.parquet", true, true),
            ("lake/*/part.parquet", false, true),
            ("lake/{ds}/other.parquet", false, false),
            ("other/{ds}/part.parquet", false, false),
        ] {
            let source = pattern("x.pipe", source, glob);
            assert_eq!(
                wildcard_match(&source, &sink) || wildcard_match(&sink, &source),
                linked,
                "{source} vs {sink}"
            );
        }
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

    /// a, b → c (c reads both), c → d, and independent e.
    fn five() -> Pipelines {
        Pipelines {
            order: ["a", "b", "c", "d", "e"].map(String::from).to_vec(),
            upstream: vec![vec![], vec![], vec![0, 1], vec![2], vec![]],
        }
    }

    /// Pipelines, their interval keys, and the units that fail.
    type Case = (Pipelines, Vec<Vec<u32>>, Vec<(usize, u32)>);

    #[test]
    fn more_workers_give_the_outcomes_and_order_of_one() {
        let cases: Vec<Case> = vec![
            (three(), vec![vec![1, 2, 3]; 3], vec![(0, 2)]),
            (three(), vec![vec![1, 2, 3]; 3], vec![(1, 1), (2, 3)]),
            // b fails day 2 after a fails day 3 has (maybe) already run: c's reason is b's.
            (five(), vec![vec![1, 2, 3, 4]; 5], vec![(0, 3), (1, 2)]),
            (five(), vec![vec![1, 2, 3, 4]; 5], vec![(2, 1), (4, 2)]),
            (
                five(),
                vec![
                    vec![1, 3],
                    vec![2, 3, 4],
                    vec![1, 2, 3, 4],
                    vec![4],
                    vec![1],
                ],
                vec![(1, 3)],
            ),
        ];
        for (p, keys, fail) in cases {
            let one = trace(&p, &keys, &fail);
            for workers in [2, 3, 8] {
                // Uneven pauses shuffle which unit finishes first.
                let pause = |i: usize, k: u32| ((i as u64 * 7 + k as u64 * 3) % 5) * 4;
                let (many, _) = run(&p, &keys, &fail, workers, pause);
                assert_eq!(many, one, "{workers} workers, failing {fail:?}");
            }
        }
    }

    /// Waits (up to `limit`) until `n` callers are in; whether they all came.
    fn meet(room: &(Mutex<usize>, Condvar), n: usize, limit: Duration) -> bool {
        let mut inside = room.0.lock().unwrap();
        *inside += 1;
        room.1.notify_all();
        let (inside, _) = room
            .1
            .wait_timeout_while(inside, limit, |k| *k < n)
            .unwrap();
        *inside >= n
    }

    #[test]
    fn independent_pipelines_and_an_upstreams_next_interval_run_at_the_same_time() {
        // `other 1` and `up 1` can only both meet if they run at once; so can `down 1` and
        // `up 2` (up's next interval stages while down reads up's first).
        let p = three();
        let keys = vec![vec![1, 2], vec![1], vec![1]];
        for (workers, limit) in [(2, Duration::from_secs(20)), (1, Duration::from_millis(50))] {
            let first = (Mutex::new(0), Condvar::new());
            let second = (Mutex::new(0), Condvar::new());
            let out = schedule(&p, &keys, vec![(); workers], (&[], &[]), |_, job| {
                let met = match (job.pipeline, *job.key) {
                    (0, 1) | (2, 1) => meet(&first, 2, limit),
                    (0, 2) | (1, 1) => meet(&second, 2, limit),
                    _ => unreachable!(),
                };
                Some((met, false))
            });
            let met: Vec<bool> = out.into_iter().map(|(_, _, m)| m).collect();
            if workers == 1 {
                // `up 1` and `down 1` wait alone; `other 1` and `up 2` find them gone but counted.
                assert_eq!(met, [false, false, true, true], "one at a time");
            } else {
                assert_eq!(met, [true, true, true, true], "{workers} workers");
            }
        }
    }

    #[test]
    fn a_unit_publishes_after_its_readers_of_earlier_intervals_finish() {
        let p = three();
        let keys = vec![vec![1, 2, 3], vec![1, 2, 3], vec![]];
        let events = Mutex::new(Vec::new());
        schedule(&p, &keys, vec![(); 2], (&[], &[]), |_, job| {
            let name = format!("{} {}", p.order[job.pipeline], job.key);
            if job.pipeline == 1 {
                // The reader is slow: without the wait, `up` would publish its next day first.
                std::thread::sleep(Duration::from_millis(60));
            } else {
                job.wait_to_publish();
            }
            events.lock().unwrap().push(name);
            Some(((), false))
        });
        assert_eq!(
            events.into_inner().unwrap(),
            ["up 1", "down 1", "up 2", "down 2", "up 3", "down 3"]
        );
    }

    #[test]
    fn a_stop_starts_nothing_more_and_a_panic_does_not_hang_the_others() {
        let p = three();
        let keys = vec![vec![1, 2], vec![1, 2], vec![1, 2]];
        let out = schedule(&p, &keys, vec![(); 2], (&[], &[]), |_, job| {
            (job.pipeline != 0 || *job.key != 1).then_some(((), false))
        });
        assert!(out.len() <= 2, "{}", out.len());
        let panicked = std::panic::catch_unwind(|| {
            schedule(&p, &keys, vec![(); 2], (&[], &[]), |_, job| {
                assert!(job.pipeline != 2, "boom");
                std::thread::sleep(Duration::from_millis(20));
                Some(((), false))
            })
        });
        assert!(panicked.is_err());
    }

    /// Units that stage, wait to publish, then publish (sleeping `stage` and `publish` ms), as
    /// text; units in `fail` fail while publishing. Returns the outcomes and, per unit, when it
    /// started staging and when it finished publishing (ms since the start).
    #[allow(clippy::type_complexity)]
    fn staged(
        p: &Pipelines,
        keys: &[Vec<u32>],
        ahead: &[bool],
        fail: &[(usize, u32)],
        workers: usize,
        (stage, publish): (u64, u64),
    ) -> (Vec<String>, HashMap<String, (u128, u128)>) {
        let t0 = std::time::Instant::now();
        let times = Mutex::new(HashMap::new());
        let skip = |name: &str, b: &Blocked<u32>| format!("{name} skip({} {})", b.pipeline, b.key);
        let out = schedule(p, keys, vec![(); workers], (ahead, ahead), |_, job| {
            let name = format!("{} {}", p.order[job.pipeline], job.key);
            if let Some(b) = &job.blocked {
                return Some((skip(&name, b), false));
            }
            let started = t0.elapsed().as_millis();
            std::thread::sleep(Duration::from_millis(stage));
            if let Some(b) = job.wait_to_publish() {
                return Some((skip(&name, &b), false));
            }
            std::thread::sleep(Duration::from_millis(publish));
            let done = t0.elapsed().as_millis();
            times.lock().unwrap().insert(name.clone(), (started, done));
            Some((name, fail.contains(&(job.pipeline, *job.key))))
        });
        let out = out.into_iter().map(|(_, _, s)| s).collect();
        (out, times.into_inner().unwrap())
    }

    #[test]
    fn a_pipeline_stages_its_next_interval_while_it_publishes_the_one_before() {
        let p = three();
        let keys = vec![vec![1, 2, 3], vec![1, 2, 3], vec![]];
        let (out, times) = staged(&p, &keys, &[true, false, false], &[], 2, (40, 40));
        assert_eq!(out, ["up 1", "down 1", "up 2", "down 2", "up 3", "down 3"]);
        // `up 2` stages while `up 1` publishes, and publishes after it and after `down 1`.
        assert!(times["up 2"].0 < times["up 1"].1, "{times:?}");
        assert!(times["up 2"].1 > times["down 1"].1, "{times:?}");
        assert!(times["up 3"].1 > times["down 2"].1, "{times:?}");
        // Without `ahead`, a pipeline's next interval starts once the one before is finished.
        let (out, times) = staged(&p, &keys, &[false, false, false], &[], 2, (40, 40));
        assert_eq!(out, ["up 1", "down 1", "up 2", "down 2", "up 3", "down 3"]);
        assert!(times["up 2"].0 >= times["up 1"].1, "{times:?}");
    }

    #[test]
    fn an_interval_staged_beside_one_that_fails_is_skipped_as_with_one_worker() {
        let p = three();
        let keys = vec![vec![1, 2, 3], vec![1, 2, 3], vec![1, 2, 3]];
        for fail in [
            vec![(0, 1)],
            vec![(0, 2)],
            vec![(1, 1)],
            vec![(0, 1), (2, 2)],
        ] {
            let (one, _) = staged(&p, &keys, &[true; 3], &fail, 1, (5, 5));
            for workers in [2, 3] {
                let (many, _) = staged(&p, &keys, &[true; 3], &fail, workers, (5, 20));
                assert_eq!(many, one, "{workers} workers, failing {fail:?}");
            }
        }
        let (one, _) = staged(&p, &keys, &[true; 3], &[(0, 1)], 1, (5, 5));
        assert_eq!(
            one,
            [
                "up 1",
                "down 1 skip(0 1)",
                "other 1",
                "up 2 skip(0 1)",
                "down 2 skip(0 1)",
                "other 2",
                "up 3 skip(0 1)",
                "down 3 skip(0 1)",
                "other 3"
            ]
        );
    }
}
