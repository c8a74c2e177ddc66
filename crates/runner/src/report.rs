//! What a run reports: per interval, per node, per check; progress bars while it runs.

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use pipec_check::ir::Pipeline;
use pipec_diag::{Diagnostic, Span};
use serde::Serialize;

use crate::fetch::AlertReport;
use crate::intervals::Run;
use crate::retention::RetentionReport;

/// How an interval ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Published.
    Done,
    /// Not run: already done (use --force), or blocked by a failure (see the reason).
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
    /// A source staged from the data an earlier interval of the same command read (its path or
    /// URL has no placeholder and the file is unchanged); in JSON only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
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

/// One interval of one pipeline. In JSON a failed interval also carries `code` and `error`
/// (its diagnostic's code and redacted message).
#[derive(Debug, Clone)]
pub struct IntervalReport {
    /// Pipeline.
    pub pipeline: String,
    /// `@ds`: the local date of the interval's start.
    pub ds: NaiveDate,
    /// The interval as shown: `@ds`, or `@ds HH:MM` (local start) for intervals shorter than a
    /// day.
    pub interval: String,
    /// `{hh}`: the local hour of the start.
    pub hh: String,
    /// `@start` in UTC, `YYYY-MM-DD HH:MM:SS`.
    pub start: String,
    /// `@end` in UTC, exclusive.
    pub end: String,
    /// Outcome.
    pub status: Status,
    /// Why it was skipped, or why a failure was not retried.
    pub reason: Option<String>,
    /// Attempts made.
    pub attempts: usize,
    /// Wall time of the successful attempt.
    pub millis: u64,
    /// Nodes.
    pub nodes: Vec<NodeReport>,
    /// Checks.
    pub checks: Vec<CheckReport>,
    /// The error (secrets redacted), when failed.
    pub error: Option<Diagnostic>,
    /// Alerts sent on failure.
    pub alerts: Vec<AlertReport>,
    /// What `expire` / `archive` lines did (in JSON only when there are any).
    pub retention: Vec<RetentionReport>,
}

/// The reason of an interval skipped because it is done already.
pub const ALREADY_DONE: &str = "already done; --force to rerun";

impl Serialize for IntervalReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("pipeline", &self.pipeline)?;
        m.serialize_entry("ds", &self.ds)?;
        m.serialize_entry("interval", &self.interval)?;
        m.serialize_entry("hh", &self.hh)?;
        m.serialize_entry("start", &self.start)?;
        m.serialize_entry("end", &self.end)?;
        m.serialize_entry("status", &self.status)?;
        if let Some(r) = &self.reason {
            m.serialize_entry("reason", r)?;
        }
        m.serialize_entry("attempts", &self.attempts)?;
        m.serialize_entry("millis", &self.millis)?;
        m.serialize_entry("nodes", &self.nodes)?;
        m.serialize_entry("checks", &self.checks)?;
        if let Some(d) = &self.error {
            m.serialize_entry("code", d.code.id)?;
            m.serialize_entry("error", &d.message)?;
        }
        m.serialize_entry("alerts", &self.alerts)?;
        if !self.retention.is_empty() {
            m.serialize_entry("retention", &self.retention)?;
        }
        m.end()
    }
}

impl IntervalReport {
    /// An interval not run, with the reason.
    pub(crate) fn skipped(pipeline: &str, run: &Run, reason: impl Into<String>) -> Self {
        IntervalReport {
            reason: Some(reason.into()),
            ..IntervalReport::new(pipeline, run, Status::Skipped)
        }
    }

    /// Interval `run` of `pipeline` ended `status`, with nothing else to report yet.
    pub(crate) fn new(pipeline: &str, run: &Run, status: Status) -> Self {
        let params = run.params();
        IntervalReport {
            pipeline: pipeline.into(),
            ds: run.ds(),
            interval: run.label.clone(),
            hh: params.hh,
            start: params.start,
            end: params.end,
            status,
            reason: None,
            attempts: 0,
            millis: 0,
            nodes: Vec::new(),
            checks: Vec::new(),
            error: None,
            alerts: Vec::new(),
            retention: Vec::new(),
        }
    }
}

/// How many intervals ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Published.
    pub done: usize,
    /// Not run (already done, or blocked by a failure).
    pub skipped: usize,
    /// Failed.
    pub failed: usize,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} done, {} skipped, {} failed",
            self.done, self.skipped, self.failed
        )
    }
}

/// Everything a `pipec run` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Intervals in the order they ran.
    pub intervals: Vec<IntervalReport>,
    /// True when an interval failed.
    pub failed: bool,
    /// Intervals per outcome.
    pub tally: Tally,
}

impl RunReport {
    /// Adds an interval to the report and the tally.
    pub(crate) fn push(&mut self, i: IntervalReport) {
        match i.status {
            Status::Done => self.tally.done += 1,
            Status::Skipped => self.tally.skipped += 1,
            Status::Failed => {
                self.tally.failed += 1;
                self.failed = true;
            }
        }
        self.intervals.push(i);
    }

    /// A plain-text summary table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for i in &self.intervals {
            let status = match (i.status, &i.reason) {
                (Status::Done, _) => "done".to_string(),
                (Status::Skipped, Some(r)) => format!("skipped: {r}"),
                (Status::Skipped, None) => "skipped".to_string(),
                (Status::Failed, None) => "FAILED (nothing published)".to_string(),
                (Status::Failed, Some(r)) => format!("FAILED (nothing published; {r})"),
            };
            out.push_str(&format!("{} {}  {status}", i.pipeline, i.interval));
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
                    let name = if n.reused {
                        format!("{} (reused)", n.name)
                    } else {
                        n.name.clone()
                    };
                    out.push_str(&format!(
                        "  {:<10} {:<32} {:>12} {:>9} {:>9}\n",
                        n.kind, name, n.rows, n.rejected, n.millis
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
            for r in &i.retention {
                out.push_str(&format!("  retention {}: {}\n", r.target, r.detail));
            }
        }
        out
    }
}

/// The spinners of the intervals running at once, drawn together.
static BARS: std::sync::LazyLock<indicatif::MultiProgress> =
    std::sync::LazyLock::new(indicatif::MultiProgress::new);

/// A spinner per interval (only on a terminal).
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub(crate) fn new(enabled: bool, p: &Pipeline, interval: &str) -> Self {
        let bar = enabled.then(|| {
            let b = ProgressBar::new((p.relations.len() + p.sinks.len()) as u64);
            b.set_style(
                ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_prefix(format!("{} {interval}", p.name));
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            BARS.add(b)
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
            BARS.remove(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipec_diag::codes;

    #[test]
    fn json_names_the_reason_of_a_skip_and_the_code_of_a_failure() {
        let ds = crate::intervals::utc_day(NaiveDate::from_ymd_opt(2024, 1, 2).unwrap());
        let mut report = RunReport::default();
        report.push(IntervalReport::skipped(
            "down",
            &ds,
            "upstream `up` failed 2024-01-02",
        ));
        let mut failed = IntervalReport::skipped("up", &ds, "not retried: --no-retry");
        failed.status = Status::Failed;
        failed.attempts = 1;
        failed.error = Some(Diagnostic::error(
            codes::NO_INPUT,
            Span::default(),
            "no input file",
            "",
        ));
        report.push(failed);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["intervals"][0]["status"], "skipped");
        assert_eq!(
            json["intervals"][0]["reason"],
            "upstream `up` failed 2024-01-02"
        );
        assert!(json["intervals"][0].get("code").is_none());
        assert_eq!(json["intervals"][1]["code"], "E0503");
        assert_eq!(json["intervals"][1]["error"], "no input file");
        assert_eq!(json["failed"], true);
        assert_eq!(
            json["tally"],
            serde_json::json!({"done": 0, "skipped": 1, "failed": 1})
        );
        assert!(report
            .table()
            .contains("down 2024-01-02  skipped: upstream `up` failed"));
        assert_eq!(report.tally.to_string(), "0 done, 1 skipped, 1 failed");
    }
}
