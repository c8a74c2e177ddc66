//! The local backend: runs checked pipelines on an embedded DuckDB warehouse.
//!
//! A run of one pipeline for one interval stages every source and transform in the
//! `_pipec_stage` schema, runs the checks on the staged data, and only then publishes every sink
//! and the interval's state in one transaction. A failed check, a bad row, an error or a killed
//! process leaves every published table as it was.

mod deadline;
mod fetch;
mod intervals;
mod load;
mod publish;
mod report;
mod secrets;
mod state;
mod tally;
mod testing;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use duckdb::Connection;
use pipec_check::ir::{Pipeline, Project, RelationKind};
use pipec_diag::{codes, Code, Diagnostic, Span};
use pipec_plan::Plan;

pub use intervals::{due_interval, Dates};
pub use report::{IntervalReport, NodeReport, RunReport, Status};
pub use secrets::Secrets;
pub use state::{history, HistoryRow};
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
}

/// Runs the pipelines of `project` for the intervals in `opts`, in dependency order.
pub fn run(
    project: &Project,
    plan: &Plan,
    opts: &RunOptions,
    secrets: &Secrets,
) -> Result<RunReport, RunError> {
    let _lock = state::lock(&opts.warehouse, opts.wait)?;
    let conn = state::open(&opts.warehouse)?;
    let mut report = RunReport::default();
    let mut order: Vec<&str> = Vec::new();
    for &i in &plan.order {
        let p = plan.graph[i].pipeline.as_str();
        if !order.contains(&p) {
            order.push(p);
        }
    }
    'pipelines: for name in order {
        if !opts.pipelines.is_empty() && !opts.pipelines.iter().any(|p| p == name) {
            continue;
        }
        let Some(p) = project.pipelines.iter().find(|p| p.name == name) else {
            continue;
        };
        let days = intervals::select(p, &opts.dates, chrono::Utc::now());
        for ds in days {
            if !opts.force && state::is_done(&conn, &p.name, ds)? {
                report.intervals.push(IntervalReport::skipped(&p.name, ds));
                continue;
            }
            let r = run_with_retries(&conn, p, ds, opts, secrets);
            let failed = r.status == Status::Failed;
            report.intervals.push(r);
            if failed {
                // Later intervals and downstream pipelines would read stale or missing data.
                report.failed = true;
                break 'pipelines;
            }
        }
    }
    Ok(report)
}

fn run_with_retries(
    conn: &Connection,
    p: &Pipeline,
    ds: NaiveDate,
    opts: &RunOptions,
    secrets: &Secrets,
) -> IntervalReport {
    let run_id = format!(
        "{}-{}-{}",
        p.name,
        ds,
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f")
    );
    let started = chrono::Utc::now().naive_utc();
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
            let result = run_interval(conn, p, ds, &run_id, opts, secrets, &deadline);
            deadline.finish();
            result
        });
        let result = result.map_err(|(err, nodes)| {
            let err = if deadline.expired() {
                deadline::timed_out(p, ds)
            } else {
                err
            };
            (err, nodes)
        });
        match result {
            Ok(mut r) => {
                r.attempts = attempt;
                r.millis = t0.elapsed().as_millis() as u64;
                let _ = state::record_run(conn, &run_id, p, ds, "done", started, attempt, None);
                return r;
            }
            Err((err, nodes)) => {
                let retryable = !matches!(
                    err.diagnostic.code.id,
                    "E0501" | "E0502" | "E0504" | "E0507" | "E0509" | "E0510"
                );
                if retryable && attempt <= p.retries as usize {
                    let delay = p
                        .retry_backoff_seconds
                        .saturating_mul(1 << (attempt - 1).min(10));
                    eprintln!(
                        "{} {ds}: attempt {attempt} failed ({}); retrying in {delay}s",
                        p.name,
                        secrets.redact(&err.diagnostic.message)
                    );
                    std::thread::sleep(Duration::from_secs(delay));
                    continue;
                }
                let mut diagnostic = err.diagnostic.clone();
                diagnostic.message = secrets.redact(&diagnostic.message);
                for l in &mut diagnostic.labels {
                    l.message = secrets.redact(&l.message);
                }
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
                let alerts = fetch::send_alerts(p, ds, &diagnostic, secrets);
                return IntervalReport {
                    pipeline: p.name.clone(),
                    ds,
                    status: Status::Failed,
                    attempts: attempt,
                    millis: 0,
                    nodes,
                    checks: Vec::new(),
                    error: Some(diagnostic),
                    alerts,
                };
            }
        }
    }
}

/// The folder the pipeline's relative paths are resolved against.
pub fn base_dir(p: &Pipeline) -> PathBuf {
    Path::new(&p.file)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

type Failure = (RunError, Vec<NodeReport>);

fn run_interval(
    conn: &Connection,
    p: &Pipeline,
    ds: NaiveDate,
    run_id: &str,
    opts: &RunOptions,
    secrets: &Secrets,
    deadline: &deadline::Deadline,
) -> Result<IntervalReport, Failure> {
    deadline.register(conn);
    let run = intervals::interval(ds);
    let stage = load::Stage::for_run(p);
    stage.reset(conn).map_err(|e| (e, Vec::new()))?;
    let progress = report::Progress::new(opts.progress, p, ds);
    let mut nodes: Vec<NodeReport> = Vec::new();
    let mut rejects = Vec::new();
    let mut streaming: Vec<(usize, NodeReport)> = Vec::new();
    let mut streamed_at: Vec<usize> = Vec::new();
    // Materialise relations level by level; the relations of a level run in parallel.
    let levels = load::levels(p);
    for level in levels {
        if deadline.expired() {
            progress.finish();
            let _ = stage.drop_all(conn);
            return Err((deadline::timed_out(p, ds), nodes));
        }
        let results: Vec<Result<(NodeReport, Vec<load::Reject>), RunError>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = level
                    .iter()
                    .map(|&idx| {
                        let rel = &p.relations[idx];
                        let stage = &stage;
                        let run = &run;
                        let c = conn.try_clone();
                        scope.spawn(move || {
                            let c = c.map_err(|e| load::exec_error(rel.span, &e.to_string()))?;
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
                "{} check(s) failed for {} {ds}; nothing was published: {}",
                failed.len(),
                p.name,
                list.join("; ")
            ),
            format!("failed: {}", first.detail),
            "fix the data or the rule, then run the interval again",
        );
        return Err((err, nodes));
    }
    if deadline.expired() {
        let _ = stage.drop_all(conn);
        progress.finish();
        return Err((deadline::timed_out(p, ds), nodes));
    }
    let t0 = Instant::now();
    let written = publish::publish(conn, p, ds, run_id, &stage, &run, &checks, &rejects)
        .map_err(|e| (e, nodes.clone()))?;
    let publish_ms = t0.elapsed().as_millis() as u64;
    for (name, rows) in written {
        let node = NodeReport {
            name,
            kind: "sink".into(),
            rows,
            rejected: 0,
            millis: publish_ms,
        };
        progress.node(&node);
        nodes.push(node);
    }
    let _ = stage.drop_all(conn);
    progress.finish();
    Ok(IntervalReport {
        pipeline: p.name.clone(),
        ds,
        status: Status::Done,
        attempts: 1,
        millis: 0,
        nodes,
        checks,
        error: None,
        alerts: Vec::new(),
    })
}
