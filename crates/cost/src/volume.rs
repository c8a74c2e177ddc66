//! Volumes: declared in a `--volume` file (TOML, or JSON for a `.json` file) or measured by
//! `pipec run` (rows per interval from a warehouse's `_pipec.intervals`).
//!
//! ```toml
//! default_rows = 1000                  # rows per interval of a source not listed
//!
//! [pipelines.blog_visits]
//! runs_per_month = 30                  # instead of the schedule's (manual pipelines)
//! failed_runs_per_month = 1            # alert messages (default 0)
//!
//! [pipelines.blog_visits.sources.visits]
//! rows = 250000                        # per interval
//! bytes = 40000000                     # per interval (default: rows × the schema's width)
//!
//! [pipelines.clicks.sources.clicks]    # a kinesis source
//! events_per_second = 20
//! event_bytes = 600                    # default: the schema's width
//! events_per_request = 1               # API Gateway variant: events per request
//!
//! [lambda_seconds]                     # seconds per invocation, by function kind
//! http = 2.5
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A `--volume` file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VolumeFile {
    /// Rows per interval of any source not listed (default 1000).
    pub default_rows: Option<f64>,
    /// Per pipeline.
    #[serde(default)]
    pub pipelines: BTreeMap<String, PipelineVolume>,
    /// Seconds per Lambda invocation, by function kind (`interval`, `http`, ...).
    #[serde(default)]
    pub lambda_seconds: BTreeMap<String, f64>,
}

/// Declared volumes of one pipeline.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineVolume {
    /// Executions a month instead of the schedule's.
    pub runs_per_month: Option<f64>,
    /// Failed executions a month (alerts sent).
    pub failed_runs_per_month: Option<f64>,
    /// Per source.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceVolume>,
}

/// Declared volume of one source.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceVolume {
    /// Rows per interval (batch sources).
    pub rows: Option<f64>,
    /// Bytes per interval (batch sources).
    pub bytes: Option<f64>,
    /// Events per second (stream sources).
    pub events_per_second: Option<f64>,
    /// Bytes per event (stream sources).
    pub event_bytes: Option<f64>,
    /// Events per API Gateway request (stream sources; default 1).
    pub events_per_request: Option<f64>,
}

impl VolumeFile {
    /// Parses a volume file: JSON when `name` ends in `.json`, else TOML.
    pub fn parse(name: &str, text: &str) -> Result<VolumeFile, String> {
        let parsed: VolumeFile = if name.to_ascii_lowercase().ends_with(".json") {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            toml::from_str(text).map_err(|e| e.to_string())
        }?;
        for v in [parsed.default_rows]
            .into_iter()
            .flatten()
            .chain(parsed.lambda_seconds.values().copied())
        {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{v} is not a number of at least 0"));
            }
        }
        for p in parsed.pipelines.values() {
            let s = p.sources.values().flat_map(|s| {
                [
                    s.rows,
                    s.bytes,
                    s.events_per_second,
                    s.event_bytes,
                    s.events_per_request,
                ]
            });
            for v in [p.runs_per_month, p.failed_runs_per_month]
                .into_iter()
                .chain(s)
                .flatten()
            {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(format!("{v} is not a number of at least 0"));
                }
            }
        }
        Ok(parsed)
    }
}

/// Rows per interval measured by `pipec run`, per pipeline: the mean of `rows_written` over the
/// pipeline's completed intervals (all its sinks together).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Measured {
    /// Pipeline → (mean rows written per interval, number of intervals measured).
    pub rows_per_interval: BTreeMap<String, (f64, usize)>,
}

impl Measured {
    /// Averages `(pipeline, rows_written)` of completed intervals.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = (&'a str, i64)>) -> Measured {
        let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for (p, n) in rows {
            let e = sums.entry(p.to_string()).or_insert((0.0, 0));
            e.0 += n as f64;
            e.1 += 1;
        }
        Measured {
            rows_per_interval: sums
                .into_iter()
                .map(|(p, (s, n))| (p, (s / n as f64, n)))
                .collect(),
        }
    }
}
