//! `pipec cost`: the monthly AWS bill of the stack `pipec emit --target sam` writes.
//!
//! The estimate reads the emitted template ([`stack::Stack`]: state machines and the states a
//! successful execution enters, Athena queries, Lambda memory and timeout, Kinesis shards,
//! Firehose buffering, lifecycle rules), the typed IR (schedules → executions a month through
//! `pipec_check::schedule`, source schemas → bytes per row), volumes ([`volume`]: declared or
//! measured by `pipec run`) and a dated price table ([`prices`]). Every figure is a
//! [`Line`]: quantity × unit price = cost. docs/cost.md describes the model.

pub mod prices;
pub mod render;
pub mod stack;
pub mod volume;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use pipec_check::ir::{
    Alert, IntervalRule, Pipeline, Project, RelationKind, Schedule, SinkMode, SinkTarget, Source,
    Type, Value as IrValue,
};
use pipec_check::schedule::Rule;
use pipec_diag::codes::{self, Code};
use serde::Serialize;
use serde_json::Value;

pub use prices::{Price, Prices};
pub use stack::Stack;
pub use volume::{Measured, VolumeFile};

/// Days in the model's month: a twelfth of a 365-day year.
pub const DAYS_PER_MONTH: f64 = 365.0 / 12.0;
/// Hours in the model's month (AWS's 730).
pub const HOURS_PER_MONTH: f64 = 730.0;
/// Seconds in the model's month.
pub const SECONDS_PER_MONTH: f64 = HOURS_PER_MONTH * 3600.0;
/// Storage is the average of this month after deployment (data accumulates until then).
pub const HORIZON_MONTHS: f64 = 12.0;
/// Rows per interval of a source without a declared or measured volume.
pub const DEFAULT_ROWS: f64 = 1000.0;
/// Events per second of a stream source without a declared volume.
pub const DEFAULT_EVENTS_PER_SECOND: f64 = 1.0;

const MIB: f64 = 1_048_576.0;
const GIB: f64 = 1_073_741_824.0;
const TIB: f64 = 1_099_511_627_776.0;

/// An ingestion variant of stream sources, for `--compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Producers call an API Gateway REST endpoint that puts each event into Kinesis.
    ApiGateway,
    /// Producers call Kinesis `PutRecords` with the AWS SDK.
    Direct,
}

impl Variant {
    /// Parses `api-gateway` or `direct`.
    pub fn parse(s: &str) -> Option<Variant> {
        match s.trim() {
            "api-gateway" | "apigateway" | "api" => Some(Variant::ApiGateway),
            "direct" | "sdk" => Some(Variant::Direct),
            _ => None,
        }
    }

    /// The name shown.
    pub fn name(self) -> &'static str {
        match self {
            Variant::ApiGateway => "api-gateway",
            Variant::Direct => "direct",
        }
    }
}

/// A failure of `pipec cost` before any estimate: a bad volume file.
#[derive(Debug, Clone, PartialEq)]
pub struct CostError {
    /// The registered code (`E0670`, `E0671`).
    pub code: Code,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for CostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error[{}]: {}", self.code.id, self.message)
    }
}

/// Parses a `--volume` file (`E0670` when it cannot be read as one).
pub fn parse_volume(name: &str, text: &str) -> Result<VolumeFile, CostError> {
    VolumeFile::parse(name, text).map_err(|e| CostError {
        code: codes::COST_VOLUME_FILE,
        message: format!("{name} is not a volume file: {}", e.trim()),
    })
}

/// One figure: `quantity` × `usd` per `per` `unit` = `cost`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Line {
    /// AWS service.
    pub service: String,
    /// What is counted.
    pub item: String,
    /// How many units.
    pub quantity: f64,
    /// The unit.
    pub unit: String,
    /// Price in USD for `per` units.
    pub usd: f64,
    /// How many units the price is for.
    pub per: f64,
    /// The price's key in the table.
    pub price: String,
    /// `quantity × usd / per`.
    pub cost: f64,
}

/// The estimate of one pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineCost {
    /// Pipeline name.
    pub name: String,
    /// How the executions a month were found.
    pub runs_basis: String,
    /// Executions a month.
    pub runs_per_month: f64,
    /// The state machine's logical id, if the stack has one.
    pub state_machine: Option<String>,
    /// States entered by one successful execution.
    pub states_per_run: usize,
    /// Athena queries that scan data, per execution.
    pub queries_per_run: usize,
    /// Volumes used, one line per source and sink.
    pub volumes: Vec<String>,
    /// Figures.
    pub lines: Vec<Line>,
    /// Sum of `lines`.
    pub subtotal: f64,
}

/// The ingestion variants of one pipeline's stream sources side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Pipeline.
    pub pipeline: String,
    /// Each variant's figures and total.
    pub variants: Vec<(Variant, Vec<Line>, f64)>,
}

/// The whole estimate.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// Region of the prices.
    pub region: String,
    /// Date of the price table.
    pub price_date: String,
    /// Per pipeline.
    pub pipelines: Vec<PipelineCost>,
    /// Resources shared by the stack (catalog objects, secrets).
    pub shared: Vec<Line>,
    /// Sum of everything.
    pub total: f64,
    /// Total per service.
    pub by_service: BTreeMap<String, f64>,
    /// Resources of the template by type.
    pub resources: BTreeMap<String, usize>,
    /// Every assumption the figures rest on.
    pub assumptions: Vec<String>,
    /// `--compare` tables.
    pub comparisons: Vec<Comparison>,
    /// The prices used (key → price).
    pub prices: BTreeMap<String, Price>,
    /// The price table's path in the repository.
    pub price_table: String,
}

/// Everything an estimate reads.
pub struct Inputs<'a> {
    /// The checked project.
    pub project: &'a Project,
    /// The template `pipec emit --target sam` builds for it.
    pub template: &'a Value,
    /// Declared volumes.
    pub volumes: &'a VolumeFile,
    /// Volumes measured by `pipec run`, if a warehouse was given.
    pub measured: Option<&'a Measured>,
    /// Prices.
    pub prices: &'a Prices,
    /// Variants to compare.
    pub compare: &'a [Variant],
}

/// Bytes per row of a column type: the typed width used when bytes are not declared.
pub fn type_width(ty: Type) -> f64 {
    match ty {
        Type::Int | Type::Date => 4.0,
        Type::BigInt | Type::Float | Type::Timestamp => 8.0,
        Type::Decimal(..) | Type::Interval => 16.0,
        Type::Bool | Type::Null => 1.0,
        Type::String => 32.0,
        Type::Json => 64.0,
    }
}

fn row_width(schema: &pipec_check::ir::Schema) -> f64 {
    schema
        .columns
        .iter()
        .map(|c| type_width(c.ty))
        .sum::<f64>()
        .max(1.0)
}

/// Executions a month of a rule: its intervals over 2025 (a 365-day year) in its zone, / 12.
pub fn intervals_per_month(rule: &IntervalRule) -> f64 {
    let Some(r) = Rule::new(rule) else {
        return 0.0;
    };
    let day = |y| NaiveDate::from_ymd_opt(y, 1, 1).expect("date");
    let (from, to) = (r.day_start(day(2025)), r.day_start(day(2026)));
    r.intervals(from, to).len() as f64 / 12.0
}

fn line(prices: &Prices, service: &str, item: impl Into<String>, quantity: f64, key: &str) -> Line {
    let p = prices.get(key);
    Line {
        service: service.into(),
        item: item.into(),
        quantity,
        unit: p.unit.clone(),
        usd: p.usd,
        per: p.per,
        price: key.into(),
        cost: quantity * p.usd / p.per,
    }
}

/// Storage-class price key of a lifecycle `StorageClass`.
fn class_key(class: &str) -> (&'static str, Option<&'static str>) {
    match class {
        "STANDARD_IA" | "ONEZONE_IA" | "INTELLIGENT_TIERING" => {
            ("s3_standard_ia_gb_month", Some("s3_transition_standard_ia"))
        }
        "GLACIER_IR" => ("s3_glacier_ir_gb_month", Some("s3_transition_glacier_ir")),
        "DEEP_ARCHIVE" => (
            "s3_deep_archive_gb_month",
            Some("s3_transition_deep_archive"),
        ),
        _ => ("s3_glacier_gb_month", Some("s3_transition_glacier")),
    }
}

/// One dataset in S3 and how it grows.
struct Dataset {
    name: String,
    /// Matched against lifecycle rule prefixes.
    key: String,
    bucket_hint: &'static str,
    /// Bytes added a month (or the constant size when `constant`).
    bytes: f64,
    /// Objects written a month.
    objects: f64,
    /// A full refresh: the size stays one run's output.
    constant: bool,
}

/// The lifecycle rule of the bucket whose id contains `hint` that applies to `name`
/// (`pipeline/source` in the raw zone, `table` in the curated zone): a rule whose prefix holds
/// it as whole path segments, else one without a prefix.
fn rule_for<'a>(stack: &'a Stack, hint: &str, name: &str) -> Option<&'a stack::LifecycleRule> {
    let bucket = stack
        .buckets
        .iter()
        .find(|b| b.id.to_ascii_lowercase().contains(hint))?;
    let key = format!("/{}/", name.to_ascii_lowercase());
    bucket
        .rules
        .iter()
        .find(|r| {
            let p = r.prefix.trim_matches('/').to_ascii_lowercase();
            !p.is_empty() && format!("/{p}/").contains(&key)
        })
        .or_else(|| bucket.rules.iter().find(|r| r.prefix.is_empty()))
}

fn storage_lines(prices: &Prices, stack: &Stack, d: &Dataset, lines: &mut Vec<Line>) {
    if d.constant {
        lines.push(line(
            prices,
            "S3",
            format!("{}: Standard storage (replaced each run)", d.name),
            d.bytes / GIB,
            "s3_standard_gb_month",
        ));
        return;
    }
    // Average over the horizon month: data aged 0 .. (H - 1/2) months.
    let age = (HORIZON_MONTHS - 0.5) * DAYS_PER_MONTH;
    let daily = d.bytes / DAYS_PER_MONTH;
    let rule = rule_for(stack, d.bucket_hint, &d.key);
    let mut bounds: Vec<(f64, String)> = vec![(0.0, "STANDARD".into())];
    let mut end = f64::INFINITY;
    if let Some(r) = rule {
        bounds.extend(r.transitions.iter().cloned());
        if let Some(e) = r.expiration_days {
            end = e;
        }
    }
    for (i, (start, class)) in bounds.iter().enumerate() {
        let stop = bounds.get(i + 1).map_or(end, |b| b.0).min(end);
        let held = (stop.min(age) - start.min(age)).max(0.0);
        let (key, label) = if class == "STANDARD" {
            ("s3_standard_gb_month", "Standard".to_string())
        } else {
            (class_key(class).0, class.clone())
        };
        if held > 0.0 || i == 0 {
            lines.push(line(
                prices,
                "S3",
                format!("{}: {label} storage", d.name),
                daily * held / GIB,
                key,
            ));
        }
        if i > 0 && *start < age && *start < end {
            if let Some(t) = class_key(class).1 {
                lines.push(line(
                    prices,
                    "S3",
                    format!("{}: lifecycle transitions to {class}", d.name),
                    d.objects,
                    t,
                ));
            }
        }
    }
}

fn secret_name(v: &IrValue) -> Option<String> {
    match v {
        IrValue::Secret(s) => Some(s.clone()),
        _ => None,
    }
}

/// Secrets a pipeline reads at run time.
fn secrets_of(p: &Pipeline) -> BTreeSet<String> {
    let mut out = source_secrets(p);
    for a in &p.alerts {
        if let Alert::Slack { url } = a {
            out.extend(secret_name(url));
        }
    }
    out
}

/// Secrets the pipeline's sources read (connection strings, API tokens).
fn source_secrets(p: &Pipeline) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in &p.relations {
        if let RelationKind::Source(s) = &r.kind {
            match s {
                Source::Postgres { dsn, .. } => out.extend(secret_name(dsn)),
                Source::Http { options, .. } => {
                    let json = serde_json::to_value(options).unwrap_or(Value::Null);
                    collect_secrets(&json, &mut out);
                }
                _ => {}
            }
        }
    }
    out
}

fn collect_secrets(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            if o.get("kind").and_then(Value::as_str) == Some("secret") {
                if let Some(s) = o.get("value").and_then(Value::as_str) {
                    out.insert(s.to_string());
                }
            }
            o.values().for_each(|x| collect_secrets(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_secrets(x, out)),
        _ => {}
    }
}

/// The pipeline whose PascalCase name is the longest prefix of `id`.
fn owner<'a>(id: &str, names: &'a [(String, String)]) -> Option<&'a str> {
    names
        .iter()
        .filter(|(_, pascal)| id.starts_with(pascal.as_str()))
        .max_by_key(|(_, pascal)| pascal.len())
        .map(|(n, _)| n.as_str())
}

fn fmt_rule(p: &Pipeline) -> String {
    match &p.schedule {
        Schedule::Manual => "manual".into(),
        Schedule::Continuous => "continuous".into(),
        Schedule::After { pipelines } => format!("after {} ({})", pipelines.join(", "), p.interval),
        Schedule::OnFile { path } => format!("on file \"{path}\" ({})", p.interval),
        _ => p.interval.to_string(),
    }
}

/// Checks the volume file's names against the project (`E0671`).
fn check_names(project: &Project, volumes: &VolumeFile) -> Result<(), CostError> {
    for (pname, pv) in &volumes.pipelines {
        let Some(p) = project.pipelines.iter().find(|p| &p.name == pname) else {
            return Err(CostError {
                code: codes::COST_VOLUME_NAME,
                message: format!(
                    "the volume file names pipeline `{pname}`, which is not among the specs"
                ),
            });
        };
        for (sname, sv) in &pv.sources {
            let source = p.relations.iter().find_map(|r| match &r.kind {
                RelationKind::Source(s) if &r.name == sname => Some(s),
                _ => None,
            });
            let Some(source) = source else {
                return Err(CostError {
                    code: codes::COST_VOLUME_NAME,
                    message: format!("the volume file names source `{sname}` of pipeline `{pname}`, which has no such source"),
                });
            };
            let stream = matches!(source, Source::Stream { .. });
            let batch_fields = sv.rows.is_some() || sv.bytes.is_some();
            let stream_fields = sv.events_per_second.is_some()
                || sv.event_bytes.is_some()
                || sv.events_per_request.is_some();
            if (stream && batch_fields) || (!stream && stream_fields) {
                return Err(CostError {
                    code: codes::COST_VOLUME_NAME,
                    message: format!(
                        "source `{sname}` of pipeline `{pname}` is a {} source: give it {}",
                        if stream { "stream" } else { "batch" },
                        if stream {
                            "`events_per_second`, `event_bytes` and `events_per_request`"
                        } else {
                            "`rows` and `bytes` per interval"
                        }
                    ),
                });
            }
        }
    }
    Ok(())
}

/// A stream source's volume.
struct StreamVolume {
    events_per_month: f64,
    event_bytes: f64,
    events_per_request: f64,
}

/// Estimates the monthly bill.
pub fn estimate(inputs: &Inputs<'_>) -> Result<Estimate, CostError> {
    let Inputs {
        project,
        template,
        volumes,
        measured,
        prices,
        compare,
    } = *inputs;
    check_names(project, volumes)?;
    let stack = Stack::read(template);
    let names: Vec<(String, String)> = project
        .pipelines
        .iter()
        .map(|p| (p.name.clone(), stack::pascal(&p.name)))
        .collect();
    let default_rows = volumes.default_rows.unwrap_or(DEFAULT_ROWS);
    let mut assumptions: Vec<String> = Vec::new();
    let mut estimated_bytes = false;
    let mut defaulted = Vec::new();
    let mut pipelines = Vec::new();
    let mut comparisons = Vec::new();
    let mut all_secrets = BTreeSet::new();

    for p in &project.pipelines {
        let declared = volumes.pipelines.get(&p.name);
        let mut lines = Vec::new();
        let mut vols = Vec::new();
        let sm = stack
            .state_machines
            .iter()
            .find(|m| owner(&m.id, &names) == Some(p.name.as_str()));
        let mine = |id: &str| owner(id, &names) == Some(p.name.as_str());

        // Executions a month.
        let (runs, runs_basis) = match declared.and_then(|d| d.runs_per_month) {
            Some(r) => (r, "declared in the volume file".to_string()),
            None => match p.schedule {
                Schedule::Manual => (
                    0.0,
                    "manual: started by hand (declare runs_per_month)".into(),
                ),
                Schedule::Continuous => (0.0, "continuous: no batch executions".into()),
                _ => (
                    intervals_per_month(&p.interval),
                    format!("{}: intervals of 2025 / 12", fmt_rule(p)),
                ),
            },
        };
        let failed = declared
            .and_then(|d| d.failed_runs_per_month)
            .unwrap_or(0.0);
        let measured_rows = measured.and_then(|m| m.rows_per_interval.get(&p.name));

        // Source volumes.
        let mut input_bytes = 0.0;
        let mut batch_sources = 0usize;
        let mut max_rows: f64 = 0.0;
        let mut kind_bytes: BTreeMap<&str, f64> = BTreeMap::new();
        let mut raw: Vec<Dataset> = Vec::new();
        let mut streams: Vec<(String, StreamVolume)> = Vec::new();
        for r in &p.relations {
            let RelationKind::Source(src) = &r.kind else {
                continue;
            };
            let dv = declared.and_then(|d| d.sources.get(&r.name));
            let width = row_width(&r.schema);
            if let Source::Stream { .. } = src {
                let eps = match dv.and_then(|v| v.events_per_second) {
                    Some(e) => e,
                    None => {
                        defaulted.push(format!("{}.{}", p.name, r.name));
                        DEFAULT_EVENTS_PER_SECOND
                    }
                };
                let eb = dv.and_then(|v| v.event_bytes).unwrap_or_else(|| {
                    estimated_bytes = true;
                    width
                });
                vols.push(format!(
                    "source {}: {} events/s × {} bytes",
                    r.name,
                    render::qty(eps),
                    render::qty(eb)
                ));
                streams.push((
                    r.name.clone(),
                    StreamVolume {
                        events_per_month: eps * SECONDS_PER_MONTH,
                        event_bytes: eb,
                        events_per_request: dv
                            .and_then(|v| v.events_per_request)
                            .unwrap_or(1.0)
                            .max(1.0),
                    },
                ));
                continue;
            }
            let (rows, basis) = match (dv.and_then(|v| v.rows), measured_rows, src) {
                (Some(n), ..) => (n, "declared".to_string()),
                (None, Some((n, k)), _) => (
                    *n,
                    format!("measured: mean rows written over {k} intervals"),
                ),
                (None, None, Source::Calendar { from, to }) => {
                    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
                    let n = match (d(from), d(to)) {
                        (Some(a), Some(b)) => ((b - a).num_days() + 1).max(0) as f64,
                        _ => default_rows,
                    };
                    (n, "days of the calendar".to_string())
                }
                (None, None, _) => {
                    defaulted.push(format!("{}.{}", p.name, r.name));
                    (default_rows, "default".to_string())
                }
            };
            let bytes = match dv.and_then(|v| v.bytes) {
                Some(b) => b,
                None => {
                    estimated_bytes = true;
                    rows * width
                }
            };
            vols.push(format!(
                "source {}: {} rows ({basis}), {} bytes per interval",
                r.name,
                render::qty(rows),
                render::qty(bytes)
            ));
            batch_sources += 1;
            max_rows = max_rows.max(rows);
            input_bytes += bytes;
            let kind = match src {
                Source::Http { .. } => "http",
                Source::Postgres { .. } => "postgres",
                Source::File { .. } => "file",
                _ => "table",
            };
            *kind_bytes.entry(kind).or_insert(0.0) += bytes;
            if matches!(kind, "http" | "postgres" | "file") {
                raw.push(Dataset {
                    name: format!("raw {}", r.name),
                    key: format!("{}/{}", p.name, r.name),
                    bucket_hint: "raw",
                    bytes: bytes * runs,
                    objects: runs,
                    constant: false,
                });
            }
        }

        // Sinks.
        let table_sinks = p.sinks.len().max(1) as f64;
        let mut curated = Vec::new();
        for s in &p.sinks {
            let width = p
                .relation(&s.relation)
                .map_or(1.0, |r| row_width(&r.schema));
            let rows = match measured_rows {
                Some((n, _)) => n / table_sinks,
                None => max_rows,
            };
            let bytes = rows * width;
            estimated_bytes = true;
            let key = match &s.target {
                SinkTarget::Table { table, .. } => table.clone(),
                SinkTarget::File { .. } => s.relation.clone(),
            };
            if runs == 0.0 {
                vols.push(format!(
                    "sink {}: not priced (no batch executions; a stream lands in the raw zone)",
                    s.name()
                ));
                continue;
            }
            let constant = matches!(s.mode, SinkMode::Replace) && s.partition_by.is_none();
            vols.push(format!(
                "sink {}: {} rows, {} bytes per interval ({})",
                s.name(),
                render::qty(rows),
                render::qty(bytes),
                if constant { "replaced" } else { "accumulates" }
            ));
            curated.push(Dataset {
                name: s.name(),
                key,
                bucket_hint: "curated",
                bytes: if constant { bytes } else { bytes * runs },
                objects: runs,
                constant,
            });
        }

        // Step Functions, Athena, Lambda, schedules.
        let (states, queries) = sm.map_or((0, 0), |m| (m.executed.len(), m.billed_queries()));
        if let Some(m) = sm {
            if m.express {
                assumptions.push(format!(
                    "{} is an EXPRESS workflow: billed by duration, which this model does not price; its transitions are priced as a standard workflow's",
                    m.id
                ));
            }
            lines.push(line(
                prices,
                "Step Functions",
                format!("{runs:.4} executions × {states} states"),
                runs * states as f64,
                "sfn_transitions",
            ));
            let per_query = (input_bytes / MIB).ceil().max(10.0) * MIB;
            lines.push(line(
                prices,
                "Athena",
                format!(
                    "{} queries × {} MB scanned",
                    render::qty(runs * queries as f64),
                    render::qty(per_query / MIB)
                ),
                runs * queries as f64 * per_query / TIB,
                "athena_scanned_tb",
            ));
            lines.push(line(
                prices,
                "Glue",
                format!(
                    "catalog requests: 2 per query × {} queries",
                    render::qty(runs * queries as f64)
                ),
                runs * queries as f64 * 2.0,
                "glue_catalog_requests",
            ));
            let ingest_objects = kind_bytes
                .keys()
                .filter(|k| matches!(**k, "http" | "postgres"))
                .count() as f64;
            let puts = runs * (3.0 * queries as f64 + m.writing_queries() as f64 + ingest_objects);
            lines.push(line(
                prices,
                "S3",
                "PUT/LIST requests: per query 2 result objects + 1 LIST, 1 per data-writing query, 1 per ingested object",
                puts,
                "s3_put_requests",
            ));
            lines.push(line(
                prices,
                "S3",
                format!(
                    "GET requests: per query 1 per source object ({})",
                    batch_sources.max(1)
                ),
                runs * queries as f64 * batch_sources.max(1) as f64,
                "s3_get_requests",
            ));
            for (fid, calls) in m.lambda_calls() {
                let f = stack.functions.iter().find(|f| f.id == fid);
                let (kind, mem, timeout) = f.map_or(("?".to_string(), 128.0, 3.0), |f| {
                    (f.kind.clone(), f.memory_mb, f.timeout_s)
                });
                let secs = lambda_seconds(volumes, &kind, kind_bytes.get(kind.as_str()).copied())
                    .min(timeout);
                let n = runs * calls as f64;
                lines.push(line(
                    prices,
                    "Lambda",
                    format!("{fid} ({kind}) invocations"),
                    n,
                    "lambda_requests",
                ));
                lines.push(line(
                    prices,
                    "Lambda",
                    format!(
                        "{fid}: {} × {} s × {} GB",
                        render::qty(n),
                        render::qty(secs),
                        render::qty(mem / 1024.0)
                    ),
                    n * secs * mem / 1024.0,
                    "lambda_gb_seconds",
                ));
                if matches!(kind.as_str(), "http" | "postgres") && !source_secrets(p).is_empty() {
                    lines.push(line(
                        prices,
                        "Secrets Manager",
                        format!("{fid}: 1 GetSecretValue per invocation"),
                        n,
                        "secrets_api_calls",
                    ));
                }
            }
            let scheduled = m
                .events
                .iter()
                .any(|e| e == "ScheduleV2" || e == "Schedule")
                || stack.schedules.iter().any(|s| mine(s));
            if scheduled {
                lines.push(line(
                    prices,
                    "EventBridge",
                    "Scheduler invocations",
                    runs,
                    "scheduler_invocations",
                ));
            }
            if m.events
                .iter()
                .any(|e| e == "EventBridgeRule" || e == "CloudWatchEvent")
                || stack.rules.iter().any(|r| mine(r))
            {
                lines.push(line(
                    prices,
                    "EventBridge",
                    "rule matches (AWS service events)",
                    runs,
                    "eventbridge_aws_events",
                ));
            }
        } else if runs > 0.0 {
            assumptions.push(format!(
                "pipeline {}: the stack has no state machine `{}StateMachine`; its batch executions are not priced",
                p.name,
                stack::pascal(&p.name)
            ));
        }

        // Alerts: Slack functions and topics.
        for f in stack
            .functions
            .iter()
            .filter(|f| f.kind == "slack" && mine(&f.id))
        {
            let secs = lambda_seconds(volumes, "slack", None).min(f.timeout_s);
            lines.push(line(
                prices,
                "Lambda",
                format!("{} (slack) invocations: failed runs", f.id),
                failed,
                "lambda_requests",
            ));
            lines.push(line(
                prices,
                "Lambda",
                format!(
                    "{}: {failed} × {secs} s × {} GB",
                    f.id,
                    f.memory_mb / 1024.0
                ),
                failed * secs * f.memory_mb / 1024.0,
                "lambda_gb_seconds",
            ));
            lines.push(line(
                prices,
                "Secrets Manager",
                format!("{}: 1 GetSecretValue per alert", f.id),
                failed,
                "secrets_api_calls",
            ));
        }
        for (t, emails) in stack.topics.iter().filter(|(t, _)| mine(t)) {
            lines.push(line(
                prices,
                "SNS",
                format!("{t}: publishes (failed runs)"),
                failed,
                "sns_publishes",
            ));
            if *emails > 0 {
                lines.push(line(
                    prices,
                    "SNS",
                    format!("{t}: emails ({emails} per failed run)"),
                    failed * *emails as f64,
                    "sns_email_deliveries",
                ));
            }
        }

        // Streams: Kinesis, Firehose, API Gateway.
        if !streams.is_empty() {
            let kinesis: Vec<_> = stack.streams.iter().filter(|s| mine(&s.id)).collect();
            let hoses: Vec<_> = stack.firehoses.iter().filter(|f| mine(&f.id)).collect();
            let apis: Vec<_> = stack.apis.iter().filter(|(a, _)| mine(a)).collect();
            let base = stream_lines(prices, &kinesis, &hoses, &streams, &mut assumptions);
            for h in &hoses {
                let objects = SECONDS_PER_MONTH / h.buffer_seconds.max(1.0);
                lines.push(line(
                    prices,
                    "S3",
                    format!(
                        "{}: PUT requests, one object per {} s buffer",
                        h.id, h.buffer_seconds
                    ),
                    objects,
                    "s3_put_requests",
                ));
            }
            for (name, v) in &streams {
                raw.push(Dataset {
                    name: format!("raw {name}"),
                    key: format!("{}/{name}", p.name),
                    bucket_hint: "raw",
                    bytes: v.events_per_month * v.event_bytes,
                    objects: hoses.first().map_or(v.events_per_month, |h| {
                        SECONDS_PER_MONTH / h.buffer_seconds.max(1.0)
                    }),
                    constant: false,
                });
            }
            lines.extend(base.iter().cloned());
            for (api, http) in &apis {
                lines.push(api_line(prices, api, *http, &streams));
            }
            if !compare.is_empty() {
                let variants = compare
                    .iter()
                    .map(|v| {
                        let mut l = base.clone();
                        if *v == Variant::ApiGateway {
                            match apis.first() {
                                Some((api, http)) => l.push(api_line(prices, api, *http, &streams)),
                                None => l.push(api_line(
                                    prices,
                                    "REST API (not in the stack)",
                                    false,
                                    &streams,
                                )),
                            }
                        }
                        let total = l.iter().map(|x| x.cost).sum();
                        (*v, l, total)
                    })
                    .collect();
                comparisons.push(Comparison {
                    pipeline: p.name.clone(),
                    variants,
                });
            }
        }

        for d in raw.iter().chain(curated.iter()) {
            storage_lines(prices, &stack, d, &mut lines);
        }
        all_secrets.extend(secrets_of(p));
        let subtotal = lines.iter().map(|l| l.cost).sum();
        pipelines.push(PipelineCost {
            name: p.name.clone(),
            runs_basis,
            runs_per_month: runs,
            state_machine: sm.map(|m| m.id.clone()),
            states_per_run: states,
            queries_per_run: queries,
            volumes: vols,
            lines,
            subtotal,
        });
    }

    // Shared resources.
    let mut shared = Vec::new();
    let partitioned = stack.glue_tables.iter().filter(|(_, p)| *p).count() as f64;
    let partitions = partitioned * (HORIZON_MONTHS - 0.5) * DAYS_PER_MONTH;
    let objects = stack.glue_databases as f64 + stack.glue_tables.len() as f64 + partitions;
    shared.push(line(
        prices,
        "Glue",
        format!(
            "catalog objects: {} databases + {} tables + {} partitions",
            stack.glue_databases,
            stack.glue_tables.len(),
            render::qty(partitions)
        ),
        objects,
        "glue_catalog_objects",
    ));
    shared.push(line(
        prices,
        "Secrets Manager",
        format!(
            "secrets: {}",
            all_secrets.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
        all_secrets.len() as f64,
        "secrets",
    ));

    // Assumptions, in the order a reader checks them.
    let mut notes = vec![
        format!(
            "month: {DAYS_PER_MONTH:.4} days, {HOURS_PER_MONTH} hours; executions a month are the intervals of the pipeline's rule over 2025 in its time zone, / 12"
        ),
        "every execution succeeds on its first attempt (retries and Catch paths add transitions; failed runs only send alerts)".into(),
        format!(
            "storage is the average of month {HORIZON_MONTHS} after deployment: data accumulates from month 1 and follows the buckets' lifecycle rules; a full-refresh (replace) table holds one run's output"
        ),
        "each Athena query that scans data is billed for the interval's whole input (all its sources), at least 10 MB, rounded up to the MB (1 MB = 2^20 bytes, 1 TB = 2^40); DDL (DROP, ALTER) is free; MERGE also reads the target table, which is not counted".into(),
        "S3 requests: per query 2 result objects and 1 LIST, 1 data object per writing query, 1 per ingested object, and 1 GET per source object read".into(),
        "Lambda seconds per invocation: interval 0.2 s, slack 0.5 s, http/postgres 1 s + 1 s per 2 MB ingested, capped at the function's Timeout (set others with [lambda_seconds])".into(),
        "Glue: 2 catalog requests per query; one partition per day for each partitioned table".into(),
        "free tiers are not subtracted (they are per account): Step Functions 4,000 transitions, Lambda 1M requests + 400,000 GB-s, Scheduler 14M invocations, Glue 1M objects + 1M requests a month".into(),
        "not priced: data transfer out, CloudWatch logs and metrics, KMS, noncurrent object versions and Iceberg snapshots kept after rewrites, Athena query results storage".into(),
    ];
    if estimated_bytes {
        notes.push(
            "bytes are not recorded by `pipec run`: bytes = rows × the schema's typed width (int/date 4, bigint/float/timestamp 8, decimal 16, bool 1, string 32, json 64 bytes) unless declared".into(),
        );
    }
    if measured.is_some() {
        notes.push(
            "measured rows: the mean `rows_written` of each pipeline's completed intervals in the warehouse (all sinks together), used as each source's rows per interval and split evenly across sinks".into(),
        );
    } else {
        notes.push("sink rows per interval = the largest source's rows per interval".into());
    }
    if !defaulted.is_empty() {
        notes.push(format!(
            "no volume declared or measured for {}: {} rows per interval (batch) or {} event/s (streams) assumed",
            defaulted.join(", "),
            render::qty(default_rows),
            DEFAULT_EVENTS_PER_SECOND
        ));
    }
    notes.extend(assumptions);

    let mut by_service: BTreeMap<String, f64> = BTreeMap::new();
    for l in pipelines
        .iter()
        .flat_map(|p| p.lines.iter())
        .chain(shared.iter())
    {
        *by_service.entry(l.service.clone()).or_insert(0.0) += l.cost;
    }
    let total = by_service.values().sum();
    let used: BTreeSet<String> = pipelines
        .iter()
        .flat_map(|p| p.lines.iter())
        .chain(shared.iter())
        .chain(
            comparisons
                .iter()
                .flat_map(|c| c.variants.iter().flat_map(|v| v.1.iter())),
        )
        .map(|l| l.price.clone())
        .collect();
    Ok(Estimate {
        region: prices.region.clone(),
        price_date: prices.date.clone(),
        pipelines,
        shared,
        total,
        by_service,
        resources: stack.resource_counts.clone(),
        assumptions: notes,
        comparisons,
        prices: prices
            .prices
            .iter()
            .filter(|(k, _)| used.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        price_table: prices::SEOUL_PATH.into(),
    })
}

fn lambda_seconds(volumes: &VolumeFile, kind: &str, bytes: Option<f64>) -> f64 {
    if let Some(s) = volumes.lambda_seconds.get(kind) {
        return *s;
    }
    match kind {
        "interval" => 0.2,
        "slack" => 0.5,
        "http" | "postgres" => 1.0 + bytes.unwrap_or(0.0) / (2.0 * MIB),
        _ => 1.0,
    }
}

fn stream_lines(
    prices: &Prices,
    kinesis: &[&stack::Stream],
    hoses: &[&stack::Firehose],
    streams: &[(String, StreamVolume)],
    assumptions: &mut Vec<String>,
) -> Vec<Line> {
    let mut out = Vec::new();
    for k in kinesis {
        if k.on_demand {
            assumptions.push(format!(
                "{} is an on-demand stream; priced as {} provisioned shard(s)",
                k.id, k.shards
            ));
        }
        out.push(line(
            prices,
            "Kinesis",
            format!("{}: {} shards × {HOURS_PER_MONTH} h", k.id, k.shards),
            k.shards * HOURS_PER_MONTH,
            "kinesis_shard_hours",
        ));
    }
    for (name, v) in streams {
        let units = (v.event_bytes / 25_600.0).ceil().max(1.0);
        if !kinesis.is_empty() {
            out.push(line(
                prices,
                "Kinesis",
                format!(
                    "{name}: {} events × {units} PUT payload unit(s)",
                    render::qty(v.events_per_month)
                ),
                v.events_per_month * units,
                "kinesis_put_payload_units",
            ));
        }
        let billed = (v.event_bytes / 5120.0).ceil().max(1.0) * 5120.0;
        for h in hoses {
            out.push(line(
                prices,
                "Firehose",
                format!(
                    "{}: {name} ingested, each event billed as {} KB",
                    h.id,
                    billed / 1024.0
                ),
                v.events_per_month * billed / GIB,
                "firehose_ingested_gb",
            ));
            if h.dynamic_partitioning {
                out.push(line(
                    prices,
                    "Firehose",
                    format!("{}: dynamic partitioning, GB delivered", h.id),
                    v.events_per_month * v.event_bytes / GIB,
                    "firehose_partitioned_gb",
                ));
                out.push(line(
                    prices,
                    "Firehose",
                    format!(
                        "{}: dynamic partitioning, one object per {} s",
                        h.id, h.buffer_seconds
                    ),
                    SECONDS_PER_MONTH / h.buffer_seconds.max(1.0),
                    "firehose_partitioned_objects",
                ));
            }
        }
    }
    out
}

fn api_line(prices: &Prices, api: &str, http: bool, streams: &[(String, StreamVolume)]) -> Line {
    let requests: f64 = streams
        .iter()
        .map(|(_, v)| v.events_per_month / v.events_per_request)
        .sum();
    line(
        prices,
        "API Gateway",
        format!(
            "{api}: requests ({})",
            if http { "HTTP API" } else { "REST API" }
        ),
        requests,
        if http {
            "apigw_http_requests"
        } else {
            "apigw_rest_requests"
        },
    )
}
