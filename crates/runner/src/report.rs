//! What a run reports: per interval, per node, per check; progress bars while it runs.

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use pipec_check::ir::Pipeline;
use pipec_diag::{Diagnostic, Span};
use serde::Serialize;

use crate::fetch::AlertReport;

/// How an interval ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Published.
    Done,
    /// Already done; not run again (use --force).
    Skipped,
    /// Failed; nothing published.
    Failed,
}

/// One node's work in an interval.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    /// Relation or sink name.
    pub name: String,
    /// `source`, `transform` or `sink`.
    pub kind: String,
    /// Rows read (sources), computed (transforms) or written (sinks).
    pub rows: u64,
    /// Rows quarantined by `on_error = "reject"`.
    pub rejected: u64,
    /// Wall time in milliseconds.
    pub millis: u64,
}

/// One check rule's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Relation checked.
    pub relation: String,
    /// Rule as written.
    pub rule: String,
    /// Whether it held.
    pub passed: bool,
    /// Counts behind the outcome.
    pub detail: String,
    /// Where the rule is written.
    #[serde(skip)]
    pub span: Span,
}

/// One interval of one pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct IntervalReport {
    /// Pipeline.
    pub pipeline: String,
    /// Interval date.
    pub ds: NaiveDate,
    /// Outcome.
    pub status: Status,
    /// Attempts made.
    pub attempts: usize,
    /// Wall time of the successful attempt.
    pub millis: u64,
    /// Nodes.
    pub nodes: Vec<NodeReport>,
    /// Checks.
    pub checks: Vec<CheckReport>,
    /// The error, when failed.
    #[serde(skip)]
    pub error: Option<Diagnostic>,
    /// Alerts sent on failure.
    pub alerts: Vec<AlertReport>,
}

impl IntervalReport {
    pub(crate) fn skipped(pipeline: &str, ds: NaiveDate) -> Self {
        IntervalReport {
            pipeline: pipeline.into(),
            ds,
            status: Status::Skipped,
            attempts: 0,
            millis: 0,
            nodes: Vec::new(),
            checks: Vec::new(),
            error: None,
            alerts: Vec::new(),
        }
    }
}

/// Everything a `pipec run` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Intervals in the order they ran.
    pub intervals: Vec<IntervalReport>,
    /// True when an interval failed.
    pub failed: bool,
}

impl RunReport {
    /// A plain-text summary table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for i in &self.intervals {
            let status = match i.status {
                Status::Done => "done",
                Status::Skipped => "skipped (already done; --force to rerun)",
                Status::Failed => "FAILED (nothing published)",
            };
            out.push_str(&format!("{} {}  {status}", i.pipeline, i.ds));
            if i.status == Status::Done {
                out.push_str(&format!("  in {:.2}s", i.millis as f64 / 1000.0));
                if i.attempts > 1 {
                    out.push_str(&format!(" after {} attempts", i.attempts));
                }
            }
            out.push('\n');
            if !i.nodes.is_empty() {
                out.push_str(&format!(
                    "  {:<10} {:<32} {:>12} {:>9} {:>9}\n",
                    "kind", "node", "rows", "rejected", "ms"
                ));
                for n in &i.nodes {
                    out.push_str(&format!(
                        "  {:<10} {:<32} {:>12} {:>9} {:>9}\n",
                        n.kind, n.name, n.rows, n.rejected, n.millis
                    ));
                }
            }
            if !i.checks.is_empty() {
                let passed = i.checks.iter().filter(|c| c.passed).count();
                out.push_str(&format!("  checks: {passed}/{} passed\n", i.checks.len()));
                for c in i.checks.iter().filter(|c| !c.passed) {
                    out.push_str(&format!(
                        "    failed: {} on {} ({})\n",
                        c.rule, c.relation, c.detail
                    ));
                }
            }
            for a in &i.alerts {
                out.push_str(&format!("  alert {}: {}\n", a.kind, a.outcome));
            }
        }
        out
    }
}

/// A spinner per interval (only on a terminal).
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub(crate) fn new(enabled: bool, p: &Pipeline, ds: NaiveDate) -> Self {
        let bar = enabled.then(|| {
            let b = ProgressBar::new((p.relations.len() + p.sinks.len()) as u64);
            b.set_style(
                ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_prefix(format!("{} {ds}", p.name));
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        Progress { bar }
    }

    pub(crate) fn node(&self, n: &NodeReport) {
        if let Some(b) = &self.bar {
            b.inc(1);
            b.set_message(format!("{} ({} rows)", n.name, n.rows));
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
