//! The local backend: runs checked pipelines on an embedded DuckDB warehouse.
//!
//! A run of one pipeline for one interval stages every source and transform in the
//! `_pipec_stage` schema, runs the checks on the staged data, and only then publishes every sink
//! and the interval's state in one transaction. A failed check, a bad row, an error or a killed
//! process leaves every published table as it was.

mod deadline;
mod exact;
mod fetch;
mod intervals;
mod load;
mod order;
mod preview;
mod publish;
mod report;
mod retention;
mod secrets;
mod state;
mod tally;
mod testing;
mod zones;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use duckdb::Connection;
use pipec_check::ir::{Pipeline, Project, RelationKind};
use pipec_diag::{codes, Code, Diagnostic, Span};
use pipec_plan::Plan;

pub use intervals::{due_interval, Bound, Dates, Run};
pub use preview::{preview, relation_sql, Preview, PreviewColumn};
pub use report::{IntervalReport, NodeReport, RunReport, Status};
pub use retention::RetentionReport;
pub use secrets::Secrets;
pub use state::{
    history, history_details, recorded, CheckRow, DoneInterval, HistoryDetails, HistoryRow,
    Recorded, RejectRow,
};
pub use testing::{run_tests, TestReport};

/// An error while running: a diagnostic pointing at the spec, with data locations in its text.
#[derive(Debug, Clone)]
pub struct RunError {
    /// The diagnostic (code `E05xx`).
    pub diagnostic: Diagnostic,
}

impl RunError {
    pub(crate) fn new(
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<String>,
    ) -> Self {
        RunError {
            diagnostic: Diagnostic::error(code, span, message, label).with_help(help),
        }
    }
}

/// What `pipec run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The DuckDB warehouse file.
    pub warehouse: PathBuf,
    /// Which intervals.
    pub dates: Dates,
    /// Re-run intervals already done.
    pub force: bool,
    /// Wait for another run holding the warehouse instead of refusing.
    pub wait: bool,
    /// Show progress bars.
    pub progress: bool,
    /// Only these pipelines (all when empty).
    pub pipelines: Vec<String>,
    /// Retry failed intervals as the pipelines' `retries` say (`false`: `--no-retry`).
    pub retry: bool,
    /// `--full-refresh`: run breaking changes (see [`pipec_plan::fingerprint`]), which are
    /// otherwise refused with `E0540`: the tables of the sinks that must be rebuilt are dropped
    /// and created anew by each pipeline's first interval of the command, and every interval
    /// selected runs, done or not.
    pub full_refresh: bool,
    /// Intervals run at once at most (`--jobs`; 0 counts as 1): independent pipelines, and a
    /// pipeline's next interval while its dependants read the one before, each on its own
    /// connection. With 1 they run one after another in the order of the report.
    pub jobs: usize,
}

/// The version of the embedded DuckDB engine (as its `version()` reports it, e.g. `v1.4.1`).
pub fn duckdb_version() -> Result<String, String> {
    let conn = duckdb::Connection::open_in_memory().map_err(|e| e.to_string())?;
    conn.query_row("SELECT version()", [], |r| r.get(0))
        .map_err(|e| e.to_string())
}

/// Runs the pipelines of `project` for the intervals in `opts`: interval by interval, and within
/// an interval upstream pipelines before their dependants, up to `opts.jobs` intervals at once
/// (see [`order::schedule`]). A failed interval stops that pipeline's later intervals and its
/// dependants' same and later ones; those are reported as skipped with the reason (and recorded
/// in `_pipec.runs`), everything else still runs. The report lists the intervals in the order
/// one job runs them, whatever `opts.jobs`.
pub fn run(
    project: &Project,
    plan: &Plan,
    opts: &RunOptions,
    secrets: &Secrets,
) -> Result<RunReport, RunError> {
    let _lock = state::lock(&opts.warehouse, opts.wait)?;
    let conn = state::open(&opts.warehouse, project)?;
    let refresh = std::sync::Mutex::new(breaking_changes(&conn, project, plan, opts)?);
    let graph = order::Pipelines::of(plan, project);
    let now = chrono::Utc::now();
    let selected: Vec<Option<&Pipeline>> = graph
        .order
        .iter()
        .map(|name| {
            let wanted = opts.pipelines.is_empty() || opts.pipelines.iter().any(|p| p == name);
            project
                .pipelines
                .iter()
                .find(|p| &p.name == name)
                .filter(|_| wanted)
        })
        .collect();
    let runs: Vec<Vec<Run>> = selected
        .iter()
        .map(|p| {
            p.map_or_else(Vec::new, |p| {
                intervals::select(project, p, &opts.dates, now)
            })
        })
        .collect();
    let keys: Vec<Vec<intervals::Key>> = runs
        .iter()
        .map(|r| r.iter().map(Run::key).collect())
        .collect();
    // The run of pipeline `i` with order key `k`.
    let run_of = |i: usize, k: &intervals::Key| {
        runs[i]
            .binary_search_by(|r| r.interval.start.cmp(&k.start))
            .ok()
            .map(|at| &runs[i][at])
    };
    let workers = graph.concurrency(&keys).clamp(1, opts.jobs.max(1));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let share = (cores / workers).max(1);
    if workers > 1 {
        // Intervals running side by side each get their share of the cores: a query of a small
        // interval spends more time handing work between DuckDB's threads than doing it.
        conn.execute_batch(&format!("SET threads = {share}"))
            .map_err(state::db_error)?;
    }
    // Not for the first interval of a `--full-refresh`, which rebuilds the tables.
    let ahead: Vec<bool> = selected
        .iter()
        .map(|p| p.is_some_and(|p| order::stages_ahead(p) && !lock(&refresh).contains_key(&p.name)))
        .collect();
    let settled: Vec<bool> = selected
        .iter()
        .map(|p| p.is_some_and(|p| order::settled_once_staged(p, opts.retry)))
        .collect();
    let workers = (0..workers)
        .map(|n| {
            Ok(Worker {
                conn: conn.try_clone().map_err(state::db_error)?,
                stage: load::Stage::database(n),
            })
        })
        .collect::<Result<Vec<_>, RunError>>()?;
    let done = state::done_intervals(&conn)?;
    // Reference sources read once for the whole command.
    let cache = std::sync::Arc::new(load::Cache::new(share, cores));
    let outcomes = order::schedule(&graph, &keys, workers, (&ahead, &settled), |w, job| {
        let (Some(p), Some(ds)) = (selected[job.pipeline], run_of(job.pipeline, job.key)) else {
            return Some((None, false));
        };
        if !opts.force
            && !opts.full_refresh
            && done.contains(&(p.name.clone(), ds.interval.start_text()))
        {
            let r = IntervalReport::skipped(&p.name, ds, report::ALREADY_DONE);
            return Some((Some(r), false));
        }
        let reason = |b: &order::Blocked<intervals::Key>| {
            let culprit = &graph.order[b.pipeline];
            let when = run_of(b.pipeline, &b.key).map_or_else(String::new, |r| r.label.clone());
            if culprit == &p.name {
                format!("`{culprit}` failed {when}")
            } else {
                format!("upstream `{culprit}` failed {when}")
            }
        };
        if let Some(b) = &job.blocked {
            return Some((Some(skipped(&w.conn, p, ds, reason(b))), false));
        }
        let drop = lock(&refresh).get(&p.name).cloned().unwrap_or_default();
        let unit = Unit {
            worker: w,
            cache: &cache,
            refresh: &drop,
            before_publish: &|| job.wait_to_publish().map(|b| reason(&b)),
            after_previous: &|| job.wait_for_previous().map(|b| reason(&b)),
        };
        let r = run_with_retries(&unit, p, ds, opts, secrets);
        if r.status == Status::Done {
            lock(&refresh).remove(&p.name);
        }
        let failed = r.status == Status::Failed;
        Some((Some(r), failed))
    });
    cache.close(&conn);
    let mut report = RunReport::default();
    for r in outcomes.into_iter().filter_map(|(_, _, r)| r) {
        report.push(r);
    }
    Ok(report)
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A worker of a run: its own connection to the warehouse and its own staging database.
struct Worker {
    conn: Connection,
    stage: String,
}

/// What running one interval needs besides the pipeline and the interval.
struct Unit<'a> {
    worker: &'a Worker,
    /// Reference sources read once per command.
    cache: &'a std::sync::Arc<load::Cache>,
    /// Sinks whose tables `--full-refresh` rebuilds.
    refresh: &'a [String],
    /// Called before anything is published: waits until the pipeline's previous interval has
    /// finished and no dependant still reads the tables; the reason to skip this interval
    /// instead when the previous one (staged at the same time) or an upstream failed.
    before_publish: &'a (dyn Fn() -> Option<String> + Sync),
    /// Waits until the pipeline's previous interval has finished; the reason to skip this one
    /// when it or an upstream failed.
    after_previous: &'a (dyn Fn() -> Option<String> + Sync),
}

/// The changes since the warehouse's last run of the selected pipelines that need their
/// intervals redone (breaking, or downstream of one): refused with `E0540` unless
/// `--full-refresh`, with which they are the sinks whose tables are rebuilt, by pipeline.
fn breaking_changes(
    conn: &Connection,
    project: &Project,
    plan: &Plan,
    opts: &RunOptions,
) -> Result<std::collections::HashMap<String, Vec<String>>, RunError> {
    let (recorded, done) = state::recorded_in(conn)?;
    let changes = pipec_plan::fingerprint::compare(project, plan, &recorded);
    let blocking: Vec<_> = changes
        .iter()
        .filter(|c| c.status.needs_rebuild())
        .filter(|c| opts.pipelines.is_empty() || opts.pipelines.contains(&c.pipeline))
        .collect();
    if blocking.is_empty() {
        return Ok(Default::default());
    }
    if opts.full_refresh {
        let mut sinks: std::collections::HashMap<String, Vec<String>> = Default::default();
        for c in blocking.iter().filter(|c| c.kind == "sink") {
            sinks
                .entry(c.pipeline.clone())
                .or_default()
                .push(c.name.clone());
        }
        return Ok(sinks);
    }
    let first = blocking[0];
    let span = project
        .pipelines
        .iter()
        .find(|p| p.name == first.pipeline)
        .map(|p| p.span)
        .unwrap_or_default();
    let list: Vec<String> = blocking
        .iter()
        .map(|c| {
            format!(
                "{} {}.{}: {}",
                c.kind,
                c.pipeline,
                c.name,
                c.reasons.join("; ")
            )
        })
        .collect();
    let mut pipelines: Vec<&str> = blocking.iter().map(|c| c.pipeline.as_str()).collect();
    pipelines.dedup();
    let ranges: Vec<String> = pipelines
        .iter()
        .filter_map(|p| {
            let d = done.get(*p)?;
            Some(format!(
                "`{p}` has {} interval(s) done, {} to {}",
                d.len(),
                d.first()?.label,
                d.last()?.label
            ))
        })
        .collect();
    Err(RunError::new(
        codes::BREAKING_CHANGE,
        span,
        format!(
            "the spec changed since the warehouse's last run in ways that do not fit the intervals done; nothing was run: {}{}",
            list.join("; "),
            if ranges.is_empty() { String::new() } else { format!(" ({})", ranges.join("; ")) }
        ),
        "changed since the last run",
        "`pipec plan` lists the changes and prints the command that redoes the intervals done with `--full-refresh` (which rebuilds the changed tables); or undo the change",
    ))
}

/// A run id: pipeline, interval start (UTC) and the time it started.
fn run_id(p: &Pipeline, ds: &Run) -> String {
    format!(
        "{}-{}-{}",
        p.name,
        ds.interval.start.format("%Y%m%dT%H%M"),
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f")
    )
}

/// Interval `ds` of `p` not run for `reason`, recorded as skipped in `_pipec.runs`.
fn skipped(conn: &Connection, p: &Pipeline, ds: &Run, reason: String) -> IntervalReport {
    let started = chrono::Utc::now().naive_utc();
    let _ = state::record_run(
        conn,
        &run_id(p, ds),
        p,
        ds,
        "skipped",
        started,
        0,
        Some(&reason),
    );
    IntervalReport::skipped(&p.name, ds, reason)
}

fn run_with_retries(
    unit: &Unit,
    p: &Pipeline,
    ds: &Run,
    opts: &RunOptions,
    secrets: &Secrets,
) -> IntervalReport {
    let conn = &unit.worker.conn;
    let run_id = run_id(p, ds);
    let started = chrono::Utc::now().naive_utc();
    let attempts = if opts.retry {
        p.retries as usize + 1
    } else {
        1
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let t0 = Instant::now();
        let deadline = deadline::Deadline::default();
        let result = std::thread::scope(|scope| {
            if let Some(secs) = p.timeout_seconds {
                let limit = Duration::from_secs(secs);
                let deadline = &deadline;
                scope.spawn(move || deadline.watch(limit));
            }
            let result = run_interval(
                unit,
                p,
                ds,
                &run_id,
                (started, attempt),
                opts,
                secrets,
                &deadline,
            );
            deadline.finish();
            result
        });
        let result = result.map_err(|(err, nodes)| {
            let err = if deadline.expired() {
                deadline::timed_out(p, &ds.label)
            } else {
                err
            };
            (err, nodes)
        });
        match result {
            Ok(r) if r.status == Status::Skipped => return r,
            Ok(mut r) => {
                r.attempts = attempt;
                r.millis = t0.elapsed().as_millis() as u64;
                // Its `_pipec.runs` row was written with the interval's publication.
                return r;
            }
            Err((err, nodes)) => {
                // Staged while the previous interval published, which then failed: skipped, as
                // it would have been one interval after the other.
                if let Some(reason) = (unit.after_previous)() {
                    return skipped(conn, p, ds, reason);
                }
                let retryable = !matches!(
                    err.diagnostic.code.id,
                    "E0501"
                        | "E0502"
                        | "E0504"
                        | "E0507"
                        | "E0509"
                        | "E0510"
                        | "E0515"
                        | "E0516"
                        | "E0535"
                );
                let not_retried = not_retried(p, ds, &err, opts, chrono::Utc::now());
                if retryable && not_retried.is_none() && attempt < attempts {
                    let delay = p
                        .retry_backoff_seconds
                        .saturating_mul(1 << (attempt - 1).min(10));
                    let at = chrono::Utc::now() + chrono::Duration::seconds(delay as i64);
                    eprintln!(
                        "retry: `{}` {} attempt {attempt} of {attempts} failed: [{}] {}; next attempt in {} (at {} UTC)",
                        p.name,
                        ds.label,
                        err.diagnostic.code.id,
                        secrets.redact(&err.diagnostic.message),
                        duration_text(delay),
                        at.format("%Y-%m-%d %H:%M:%S")
                    );
                    std::thread::sleep(Duration::from_secs(delay));
                    continue;
                }
                let reason = if retryable { not_retried } else { None };
                if let Some(r) = &reason {
                    eprintln!("`{}` {}: {r}", p.name, ds.label);
                }
                let mut diagnostic = err.diagnostic.clone();
                secrets.redact_diagnostic(&mut diagnostic);
                let _ = state::record_run(
                    conn,
                    &run_id,
                    p,
                    ds,
                    "failed",
                    started,
                    attempt,
                    Some(&diagnostic.message),
                );
                let alerts = fetch::send_alerts(p, &ds.label, &diagnostic, secrets);
                return IntervalReport {
                    reason,
                    attempts: attempt,
                    nodes,
                    error: Some(diagnostic),
                    alerts,
                    ..IntervalReport::new(&p.name, ds, Status::Failed)
                };
            }
        }
    }
}

/// Why a retryable failure of `p` for `ds` gets no (further) retry, if it does not: `--no-retry`,
/// or a missing input file (`E0503`) of an interval that ended over a day before `now`: such a
/// file does not appear by waiting minutes.
fn not_retried(
    p: &Pipeline,
    ds: &Run,
    err: &RunError,
    opts: &RunOptions,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    if p.retries == 0 {
        return None;
    }
    if !opts.retry {
        return Some(format!(
            "not retried (--no-retry; the pipeline allows {} retries)",
            p.retries
        ));
    }
    if err.diagnostic.code == codes::NO_INPUT && now - ds.interval.end > chrono::Duration::days(1) {
        return Some(
            "not retried: the input file is missing for an interval that ended over a day ago; \
             add the file and run the interval again"
                .to_string(),
        );
    }
    None
}

/// `90` → `1m 30s`, `300` → `5m`, `7200` → `2h`.
fn duration_text(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let parts: Vec<String> = [(h, "h"), (m, "m"), (s, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// The intervals of `p` that `run` would cover for `dates` at `now` (before skipping those
/// already done), in order.
pub fn intervals_of(
    project: &Project,
    p: &Pipeline,
    dates: &Dates,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Run> {
    intervals::select(project, p, dates, now)
}

/// The folder the pipeline's relative paths are resolved against.
pub fn base_dir(p: &Pipeline) -> PathBuf {
    Path::new(&p.file)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

type Failure = (RunError, Vec<NodeReport>);

#[allow(clippy::too_many_arguments)]
fn run_interval(
    unit: &Unit,
    p: &Pipeline,
    ds: &Run,
    run_id: &str,
    attempt: (chrono::NaiveDateTime, usize),
    opts: &RunOptions,
    secrets: &Secrets,
    deadline: &deadline::Deadline,
) -> Result<IntervalReport, Failure> {
    let conn = &unit.worker.conn;
    deadline.register(conn);
    let run = ds.params();
    let stage = load::Stage::for_run(p, unit.cache, &unit.worker.stage);
    stage.reset(conn).map_err(|e| (e, Vec::new()))?;
    let progress = report::Progress::new(opts.progress, p, &ds.label);
    let (mut nodes, rejects) = stage_levels(
        conn,
        p,
        &ds.label,
        load::levels(p),
        (&stage, &run),
        secrets,
        deadline,
        &progress,
    )?;
    let checks = publish::run_checks(conn, p, &stage, &run).map_err(|e| (e, nodes.clone()))?;
    let failed: Vec<_> = checks.iter().filter(|c| !c.passed).collect();
    if !failed.is_empty() {
        let _ = state::record_checks(conn, run_id, p, ds, &checks);
        let _ = stage.drop_all(conn);
        progress.finish();
        let first = failed[0];
        let list: Vec<String> = failed
            .iter()
            .map(|c| format!("`{}` on {} ({})", c.rule, c.relation, c.detail))
            .collect();
        let err = RunError::new(
            codes::CHECK_FAILED,
            first.span,
            format!(
                "{} check(s) failed for {} {}; nothing was published: {}",
                failed.len(),
                p.name,
                ds.label,
                list.join("; ")
            ),
            format!("failed: {}", first.detail),
            "fix the data or the rule, then run the interval again",
        );
        return Err((err, nodes));
    }
    if let Some(reason) = (unit.before_publish)() {
        let _ = stage.drop_all(conn);
        progress.finish();
        return Ok(skipped(conn, p, ds, reason));
    }
    if deadline.expired() {
        let _ = stage.drop_all(conn);
        progress.finish();
        return Err((deadline::timed_out(p, &ds.label), nodes));
    }
    let t0 = Instant::now();
    let (written, retention) = publish::publish(
        conn,
        p,
        ds,
        (run_id, attempt),
        &stage,
        &run,
        &checks,
        &rejects,
        unit.refresh,
    )
    .map_err(|e| (e, nodes.clone()))?;
    let publish_ms = t0.elapsed().as_millis() as u64;
    for (name, rows) in written {
        let node = NodeReport {
            name,
            kind: "sink".into(),
            rows,
            rejected: 0,
            millis: publish_ms,
            reused: false,
        };
        progress.node(&node);
        nodes.push(node);
    }
    let _ = stage.drop_all(conn);
    progress.finish();
    Ok(IntervalReport {
        attempts: 1,
        nodes,
        checks,
        retention,
        ..IntervalReport::new(&p.name, ds, Status::Done)
    })
}

/// Materialises the relations of `levels` (each a set of mutually independent relations, in
/// dependency order) into `stage`, the relations of a level in parallel on cloned connections:
/// what `run` stages for an interval and `preview` for a relation's ancestors. On failure
/// everything staged is dropped.
#[allow(clippy::too_many_arguments)]
fn stage_levels(
    conn: &Connection,
    p: &Pipeline,
    label: &str,
    levels: Vec<Vec<usize>>,
    (stage, run): (&load::Stage, &pipec_sql::Interval),
    secrets: &Secrets,
    deadline: &deadline::Deadline,
    progress: &report::Progress,
) -> Result<(Vec<NodeReport>, Vec<load::Reject>), Failure> {
    let mut nodes: Vec<NodeReport> = Vec::new();
    let mut rejects = Vec::new();
    let mut streaming: Vec<(usize, NodeReport)> = Vec::new();
    let mut streamed_at: Vec<usize> = Vec::new();
    for level in levels {
        if deadline.expired() {
            progress.finish();
            let _ = stage.drop_all(conn);
            return Err((deadline::timed_out(p, label), nodes));
        }
        let results: Vec<Result<(NodeReport, Vec<load::Reject>), RunError>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = level
                    .iter()
                    .map(|&idx| {
                        let rel = &p.relations[idx];
                        let c = conn.try_clone();
                        scope.spawn(move || {
                            let c = c.map_err(|e| load::exec_error(rel.span, &e.to_string()))?;
                            stage
                                .prepare(&c)
                                .map_err(|e| load::exec_error(rel.span, &e.to_string()))?;
                            deadline.register(&c);
                            let t0 = Instant::now();
                            let (rows_read, rejected) = match &rel.kind {
                                RelationKind::Source(src) => {
                                    load::source(&c, p, rel, src, stage, run, secrets)?
                                }
                                RelationKind::Transform(t) => (
                                    load::transform(&c, p, rel, t, stage, run, secrets)?,
                                    Vec::new(),
                                ),
                            };
                            let kind = if matches!(rel.kind, RelationKind::Source(_)) {
                                "source"
                            } else {
                                "transform"
                            };
                            let node = NodeReport {
                                name: rel.name.clone(),
                                kind: kind.into(),
                                rows: rows_read,
                                rejected: rejected.len() as u64,
                                millis: t0.elapsed().as_millis() as u64,
                                reused: stage.is_reused(&rel.name),
                            };
                            Ok((node, rejected))
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(load::exec_error(p.span, "a worker thread panicked"))
                        })
                    })
                    .collect()
            });
        for r in results {
            match r {
                Ok((node, rej)) if node.kind == "source" && stage.is_streamed(&node.name) => {
                    // Its rows are counted while its reader runs; it is reported in its place then.
                    streaming.push((nodes.len(), node));
                    rejects.extend(rej);
                }
                Ok((node, rej)) => {
                    progress.node(&node);
                    nodes.push(node);
                    rejects.extend(rej);
                }
                Err(e) => {
                    progress.finish();
                    let _ = stage.drop_all(conn);
                    return Err((e, nodes));
                }
            }
        }
        streaming.retain(|(at, node)| match stage.streamed_rows(&node.name) {
            Some(rows) => {
                let node = NodeReport {
                    rows,
                    ..node.clone()
                };
                progress.node(&node);
                let earlier = streamed_at.iter().filter(|a| **a <= *at).count();
                streamed_at.push(*at);
                nodes.insert(at + earlier, node);
                false
            }
            None => true,
        });
    }
    Ok((nodes, rejects))
}
