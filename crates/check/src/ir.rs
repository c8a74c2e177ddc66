//! The typed IR: what the checker proves about a project. Backends read only this (and the DAG
//! built from it); they never see the untyped AST.

use std::fmt;

use pipec_diag::Span;
pub use pipec_syntax::ast::FrameBound;
use pipec_syntax::ast::{BinaryOp, JoinKind, Literal, UnaryOp};
use serde::Serialize;

/// Column types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Type {
    /// 32-bit integer.
    Int,
    /// 64-bit integer.
    BigInt,
    /// 64-bit float.
    Float,
    /// Fixed-point decimal(precision, scale).
    Decimal(u8, u8),
    /// Boolean.
    Bool,
    /// UTF-8 text.
    String,
    /// Calendar date.
    Date,
    /// Timestamp without time zone (UTC by convention).
    Timestamp,
    /// A length of time.
    Interval,
    /// JSON text.
    Json,
    /// The type of a bare `null`: fits any type.
    Null,
}

impl Type {
    /// True for int, bigint, float and decimal.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            Type::Int | Type::BigInt | Type::Float | Type::Decimal(..) | Type::Null
        )
    }

    /// True for date and timestamp.
    pub fn is_temporal(self) -> bool {
        matches!(self, Type::Date | Type::Timestamp | Type::Null)
    }

    /// True when values of the two types can be compared with `==`, `<` and friends.
    pub fn comparable(self, other: Type) -> bool {
        self == other
            || self == Type::Null
            || other == Type::Null
            || (self.is_numeric() && other.is_numeric())
            || (self.is_temporal() && other.is_temporal())
            || (matches!(self, Type::String | Type::Json)
                && matches!(other, Type::String | Type::Json))
    }

    /// The common type of two values (numeric widening, null absorption), if any.
    pub fn unify(self, other: Type) -> Option<Type> {
        use Type::*;
        Some(match (self, other) {
            (a, b) if a == b => a,
            (Null, b) => b,
            (a, Null) => a,
            (Float, b) | (b, Float) if b.is_numeric() => Float,
            (Decimal(p1, s1), Decimal(p2, s2)) => Decimal(p1.max(p2), s1.max(s2)),
            (Decimal(p, s), Int | BigInt) | (Int | BigInt, Decimal(p, s)) => Decimal(p, s),
            (BigInt, Int) | (Int, BigInt) => BigInt,
            (Date, Timestamp) | (Timestamp, Date) => Timestamp,
            (String, Json) | (Json, String) => String,
            _ => return None,
        })
    }

    /// Parses a type name as written in a schema.
    pub fn from_name(name: &str, params: &[u32]) -> Option<Type> {
        Some(match name {
            "int" | "integer" | "int32" => Type::Int,
            "bigint" | "long" | "int64" => Type::BigInt,
            "float" | "double" | "float64" => Type::Float,
            "decimal" | "numeric" => match params {
                [] => Type::Decimal(18, 3),
                [p] if *p <= 38 => Type::Decimal(*p as u8, 0),
                [p, s] if *p <= 38 && s <= p => Type::Decimal(*p as u8, *s as u8),
                _ => return None,
            },
            "bool" | "boolean" => Type::Bool,
            "string" | "text" | "varchar" => Type::String,
            "date" => Type::Date,
            "timestamp" | "datetime" => Type::Timestamp,
            "interval" | "duration" => Type::Interval,
            "json" => Type::Json,
            _ => return None,
        })
    }

    /// Every type name accepted in schemas (for "did you mean").
    pub const NAMES: &'static [&'static str] = &[
        "int",
        "bigint",
        "float",
        "decimal",
        "bool",
        "string",
        "date",
        "timestamp",
        "interval",
        "json",
    ];
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Int => f.write_str("int"),
            Type::BigInt => f.write_str("bigint"),
            Type::Float => f.write_str("float"),
            Type::Decimal(p, s) => write!(f, "decimal({p}, {s})"),
            Type::Bool => f.write_str("bool"),
            Type::String => f.write_str("string"),
            Type::Date => f.write_str("date"),
            Type::Timestamp => f.write_str("timestamp"),
            Type::Interval => f.write_str("interval"),
            Type::Json => f.write_str("json"),
            Type::Null => f.write_str("null"),
        }
    }
}

/// One column of a relation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: Type,
    /// May hold nulls.
    pub nullable: bool,
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}{}",
            self.name,
            self.ty,
            if self.nullable { "?" } else { "" }
        )
    }
}

/// The columns of a relation, in order.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Schema {
    /// Columns in order.
    pub columns: Vec<Column>,
}

impl Schema {
    /// The column named `name`, compared case-insensitively as every engine does (`FOO` finds
    /// `foo`); the column keeps its declared spelling.
    pub fn get(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .or_else(|| self.columns.iter().find(|c| same_name(&c.name, name)))
    }

    /// Column names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// Adds or replaces a column (found case-insensitively; the new spelling is kept).
    pub fn set(&mut self, column: Column) {
        match self
            .columns
            .iter_mut()
            .find(|c| same_name(&c.name, &column.name))
        {
            Some(c) => *c = column,
            None => self.columns.push(column),
        }
    }
}

/// Two column or table names that engines treat as one: equal ignoring case (DuckDB, Spark,
/// Athena and Glue compare identifiers case-insensitively).
pub fn same_name(a: &str, b: &str) -> bool {
    a == b
        || (a.len() == b.len() && a.eq_ignore_ascii_case(b))
        || (!a.is_ascii() || !b.is_ascii()) && a.to_lowercase() == b.to_lowercase()
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cols: Vec<String> = self.columns.iter().map(|c| c.to_string()).collect();
        write!(f, "{{ {} }}", cols.join(", "))
    }
}

/// A whole checked project: every pipeline of every root file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Project {
    /// Pipelines in file order.
    pub pipelines: Vec<Pipeline>,
}

impl Project {
    /// The table a `table("schema.table")` source reads (`main` when no schema is given),
    /// spelled as the sink writing it spells it (names compare ignoring case) when one of the
    /// project's pipelines has that sink.
    pub fn sink_table_name(&self, table: &str) -> (String, String) {
        let (schema, name) = table.split_once('.').unwrap_or(("main", table));
        for p in &self.pipelines {
            for s in &p.sinks {
                if let SinkTarget::Table {
                    schema: ss,
                    table: st,
                } = &s.target
                {
                    if same_name(ss, schema) && same_name(st, name) {
                        return (ss.clone(), st.clone());
                    }
                }
            }
        }
        (schema.to_string(), name.to_string())
    }
}

/// A run parameter usable in expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunParam {
    /// `@ds`: the interval's date.
    Ds,
    /// `@start`: the interval's first instant.
    Start,
    /// `@end`: the instant after the interval.
    End,
}

impl RunParam {
    /// Names accepted after `@`.
    pub const NAMES: &'static [&'static str] = &["ds", "start", "end"];
}

/// When a pipeline runs. The interval a run processes is [`IntervalRule`], kept per pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// Only when started by hand.
    Manual,
    /// `daily [at HH:MM] ["tz"]`: fires at that local time; processes the previous local day.
    Daily {
        /// Hour of the firing time, 0–23.
        hour: u32,
        /// Minute of the firing time, 0–59.
        minute: u32,
        /// IANA time zone.
        tz: String,
    },
    /// `hourly [at :MM] ["tz"]`: fires at that minute; processes the previous local clock hour.
    Hourly {
        /// Minute of the firing time, 0–59.
        minute: u32,
        /// IANA time zone.
        tz: String,
    },
    /// A five-field cron expression in a time zone; processes the span between fire times.
    Cron {
        /// `m h dom mon dow`.
        expr: String,
        /// IANA time zone.
        tz: String,
    },
    /// `every 15m ["tz"]`: a period dividing a day; fires at the end of each slot.
    Every {
        /// Period in minutes (divides 1440).
        minutes: u32,
        /// IANA time zone.
        tz: String,
    },
    /// After other pipelines finish.
    After {
        /// Upstream pipelines.
        pipelines: Vec<String>,
    },
    /// When a file appears.
    OnFile {
        /// Path template.
        path: String,
    },
    /// Always running (streams).
    Continuous,
}

/// How a pipeline's time is cut into intervals (see `crate::schedule` for the computation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IntervalRule {
    /// Consecutive slots of `minutes` from each local midnight of `tz`; a day is `1440`. The last
    /// slot of a day ends at the next local midnight (a 23-hour day has 23 hourly slots).
    Slots {
        /// Slot length in minutes (divides 1440).
        minutes: u32,
        /// IANA time zone.
        tz: String,
    },
    /// From one fire time of `expr` in `tz` to the next (Airflow's data interval).
    Cron {
        /// `m h dom mon dow`.
        expr: String,
        /// IANA time zone.
        tz: String,
    },
}

impl fmt::Display for IntervalRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntervalRule::Slots { minutes: 1440, tz } => write!(f, "days in {tz}"),
            IntervalRule::Slots { minutes: 60, tz } => write!(f, "hours in {tz}"),
            IntervalRule::Slots { minutes, tz } => write!(f, "{minutes}-minute slots in {tz}"),
            IntervalRule::Cron { expr, tz } => write!(f, "cron \"{expr}\" fire times in {tz}"),
        }
    }
}

impl IntervalRule {
    /// Calendar days in UTC: the rule of manual, `on file` and `continuous` pipelines.
    pub fn utc_days() -> Self {
        IntervalRule::Slots {
            minutes: 1440,
            tz: "UTC".into(),
        }
    }
}

/// Where alerts go.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Alert {
    /// A Slack-style webhook; the URL is a secret or a literal.
    Slack {
        /// The webhook URL.
        url: Value,
    },
    /// An email address.
    Email {
        /// Recipient.
        to: String,
    },
}

/// An option value after checking.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Value {
    /// Text.
    Str(String),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// Duration in seconds.
    Seconds(u64),
    /// List of texts.
    List(Vec<String>),
    /// A secret resolved at run time by name; its value never appears in any artifact.
    Secret(String),
    /// Key/value pairs (e.g. HTTP headers); values may be secrets.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// The text of a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A pipeline: schedule, operations and its relations.
#[derive(Debug, Clone, Serialize)]
pub struct Pipeline {
    /// Name.
    pub name: String,
    /// The file it was declared in (the user's path).
    pub file: String,
    /// The `pipeline` declaration.
    #[serde(skip)]
    pub span: Span,
    /// When it runs.
    pub schedule: Schedule,
    /// The intervals its runs process (for `after`, the upstreams' rule).
    pub interval: IntervalRule,
    /// First interval.
    pub start: Option<String>,
    /// Last interval.
    pub end: Option<String>,
    /// Whether missed intervals since `start` are run.
    pub catchup: bool,
    /// Attempts after the first failure.
    pub retries: u32,
    /// Delay before the first retry in seconds (doubling after).
    pub retry_backoff_seconds: u64,
    /// Limit for one run in seconds.
    pub timeout_seconds: Option<u64>,
    /// Where failures are reported.
    pub alerts: Vec<Alert>,
    /// Owner.
    pub owner: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Description.
    pub description: Option<String>,
    /// Sources and transforms in dependency order.
    pub relations: Vec<Relation>,
    /// Sinks in source order.
    pub sinks: Vec<Sink>,
    /// Checks in source order.
    pub checks: Vec<Check>,
    /// Unit tests.
    pub tests: Vec<Test>,
}

impl Pipeline {
    /// The relation named `name`.
    pub fn relation(&self, name: &str) -> Option<&Relation> {
        self.relations.iter().find(|r| r.name == name)
    }
}

/// A named relation: a source or a transform.
#[derive(Debug, Clone, Serialize)]
pub struct Relation {
    /// Name.
    pub name: String,
    /// Declaration.
    #[serde(skip)]
    pub span: Span,
    /// Output columns.
    pub schema: Schema,
    /// Where its rows come from.
    pub kind: RelationKind,
}

impl Relation {
    /// Names of the relations this one reads.
    pub fn inputs(&self) -> Vec<&str> {
        match &self.kind {
            RelationKind::Source(_) => Vec::new(),
            RelationKind::Transform(t) => t.inputs(),
        }
    }
}

/// Source or transform.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RelationKind {
    /// Read from outside.
    Source(Source),
    /// Computed from other relations.
    Transform(Transform),
}

/// File formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Comma (or other) separated values.
    Csv,
    /// Newline-delimited JSON.
    Ndjson,
    /// Apache Parquet.
    Parquet,
}

/// Where a source reads from. Options are typed, with their defaults applied by the checker, so
/// every backend reads the same values.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Files (local path or object-store URI), with `{ds}` templates and globs.
    File {
        /// Format.
        format: FileFormat,
        /// Path template.
        path: String,
        /// Reading options.
        options: FileOptions,
    },
    /// An HTTP JSON API.
    Http {
        /// URL template.
        url: String,
        /// Request, paging and fallback options.
        options: HttpOptions,
    },
    /// A PostgreSQL table or query.
    Postgres {
        /// Connection string (usually a secret).
        dsn: Value,
        /// What is copied.
        read: PostgresRead,
        /// Column used as an extraction watermark.
        incremental: Option<String>,
    },
    /// One row per day from `from` to `to` inclusive, in a column `day`.
    Calendar {
        /// First day.
        from: String,
        /// Last day.
        to: String,
    },
    /// A table of the warehouse (usually written by another pipeline).
    Table {
        /// `schema.table`.
        table: String,
    },
    /// A stream topic.
    Stream {
        /// `kafka` or `kinesis`.
        system: String,
        /// Topic or stream name.
        topic: String,
        /// Connection options.
        options: StreamOptions,
    },
}

/// What a file source does with a row that does not fit its schema (`on_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The run fails, naming the file and line (the default).
    #[default]
    Fail,
    /// The row is set aside in `_pipec.rejects` and the run goes on.
    Reject,
}

/// How the files of a file source are compressed (`compression`, else from the path's extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Plain files.
    #[default]
    None,
    /// gzip (`.gz`).
    Gzip,
    /// Zstandard (`.zst`).
    Zstd,
}

/// Options of a file source, defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileOptions {
    /// Rows that do not fit (CSV and NDJSON; parquet always fails).
    pub on_error: OnError,
    /// Compression of the files (always `None` for parquet, compressed inside).
    pub compression: Compression,
    /// `glob = true`: `*`, `?` and `[...]` in the path are patterns; else the path is literal.
    pub glob: bool,
    /// `allow_empty = true`: a 0-byte file is read as no rows instead of failing the run.
    pub allow_empty: bool,
    /// CSV settings: set for every CSV source, `None` for the other formats.
    pub csv: Option<CsvOptions>,
    /// Lifecycle of the raw files (`archive after`, `expire after` after the source).
    pub retention: Option<Retention>,
}

/// Storage lifecycle of a sink's or file source's data, in whole days (`1w` = 7, `1y` = 365),
/// counted from the data's date: a partition's or file's `{ds}` date locally, the object's
/// creation on S3 (lifecycle rules count days since creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Retention {
    /// `archive after N to CLASS`: move to a colder storage class.
    pub archive: Option<Archive>,
    /// `expire after N`: delete data older than N days (always after `archive`).
    pub expire_after_days: Option<u32>,
}

/// `archive after N [to CLASS]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Archive {
    /// Age in days at which the data moves.
    pub after_days: u32,
    /// The storage class it moves to.
    pub class: StorageClass,
}

/// Archive storage classes (S3 names in [`StorageClass::s3_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageClass {
    /// `glacier_ir`: Glacier Instant Retrieval.
    GlacierIr,
    /// `glacier`: Glacier Flexible Retrieval (the default).
    #[default]
    Glacier,
    /// `deep_archive`: Glacier Deep Archive.
    DeepArchive,
}

impl StorageClass {
    /// Every class, in the order of the language's names.
    pub const ALL: [StorageClass; 3] = [
        StorageClass::GlacierIr,
        StorageClass::Glacier,
        StorageClass::DeepArchive,
    ];

    /// The name in `.pipe` files: `glacier_ir`, `glacier`, `deep_archive`.
    pub fn name(self) -> &'static str {
        match self {
            StorageClass::GlacierIr => "glacier_ir",
            StorageClass::Glacier => "glacier",
            StorageClass::DeepArchive => "deep_archive",
        }
    }

    /// The S3 storage class of lifecycle transitions: `GLACIER_IR`, `GLACIER`, `DEEP_ARCHIVE`.
    pub fn s3_name(self) -> &'static str {
        match self {
            StorageClass::GlacierIr => "GLACIER_IR",
            StorageClass::Glacier => "GLACIER",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
        }
    }

    /// The class named `name` in a `.pipe` file.
    pub fn from_name(name: &str) -> Option<StorageClass> {
        StorageClass::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Retention {
    /// `archive after 90d to glacier, expire after 400d` (ages in days).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(a) = &self.archive {
            parts.push(format!(
                "archive after {}d to {}",
                a.after_days,
                a.class.name()
            ));
        }
        if let Some(d) = self.expire_after_days {
            parts.push(format!("expire after {d}d"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// How a CSV file is read, defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CsvOptions {
    /// The first line (after `skip`) names the columns; default true.
    pub header: bool,
    /// Field separator; default `,`.
    pub delimiter: char,
    /// Quote character; default `"`.
    pub quote: char,
    /// Unquoted fields read as null; default `[""]` (an empty field). A quoted field is never
    /// null; with `[]` nothing is: an empty field is the empty string (an error in other types).
    pub nulls: Vec<String>,
    /// Lines skipped at the top, before the header; default 0.
    pub skip: u64,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            delimiter: ',',
            quote: '"',
            nulls: vec![String::new()],
            skip: 0,
        }
    }
}

/// How an HTTP source pages through its API (`paginate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Paginate {
    /// Page numbers from 1: `page_param = 1, 2, ...`.
    Page,
    /// Row offsets from 0: `page_param = 0, page_size, 2 * page_size, ...`.
    Offset,
}

/// Options of an HTTP source, defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpOptions {
    /// Dotted path to the array of rows in the response; empty: the response itself.
    pub rows: String,
    /// Paging; `None` fetches one response.
    pub paginate: Option<Paginate>,
    /// Query parameter of the page number or offset; default `page` (`offset` when paging by offset).
    pub page_param: String,
    /// Query parameter of the page size; default `limit`.
    pub size_param: String,
    /// Rows asked for per page (at least 1); default 100. A shorter page is the last.
    pub page_size: u64,
    /// Pages fetched at most (at least 1); default 1000.
    pub max_pages: u64,
    /// Time allowed for one request, in seconds; default 30.
    pub timeout_seconds: u64,
    /// Attempts after the first failed one; default 2.
    pub retries: u64,
    /// Largest response accepted, in bytes (at least 1); default 50,000,000.
    pub max_bytes: u64,
    /// Bearer token (`Value::Secret` or `Value::Str`), sent as `Authorization: Bearer ...`.
    pub bearer: Option<Value>,
    /// API key (`Value::Secret` or `Value::Str`), sent as the query parameter `api_key_param`.
    pub api_key: Option<Value>,
    /// Query parameter of the API key; default `api_key`.
    pub api_key_param: String,
    /// A local JSON file (relative to the pipeline's folder) read when the request fails.
    pub fallback: Option<String>,
}

/// What a PostgreSQL source copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum PostgresRead {
    /// `schema.table`.
    Table(String),
    /// A query.
    Query(String),
}

/// Options of a stream source (each given only for the system that takes it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct StreamOptions {
    /// Kafka bootstrap servers.
    pub brokers: Option<String>,
    /// Kafka consumer group.
    pub group: Option<String>,
    /// Kinesis region.
    pub region: Option<String>,
}

/// A transform: a head relation and typed steps.
#[derive(Debug, Clone, Serialize)]
pub struct Transform {
    /// Where rows start.
    pub head: Head,
    /// Steps with their output schemas.
    pub steps: Vec<Step>,
}

impl Transform {
    /// Names of relations read (head, joins, unions), without duplicates.
    pub fn inputs(&self) -> Vec<&str> {
        let heads: Vec<&str> = match &self.head {
            Head::Relation(n) => vec![n.as_str()],
            Head::Sql { refs, .. } => refs.iter().map(String::as_str).collect(),
        };
        let steps = self.steps.iter().filter_map(|s| match &s.kind {
            StepKind::Join { right, .. } => Some(right.as_str()),
            StepKind::Union(n) => Some(n.as_str()),
            _ => None,
        });
        let mut out: Vec<&str> = Vec::new();
        for n in heads.into_iter().chain(steps) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }
}

/// The start of a transform.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// Another relation.
    Relation(String),
    /// Raw SQL; `{name}` placeholders name relations or run parameters.
    Sql {
        /// Template text.
        sql: String,
        /// Relations referenced.
        refs: Vec<String>,
    },
}

/// A typed step and the schema it produces.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What it does.
    pub kind: StepKind,
    /// Output columns.
    pub schema: Schema,
    /// Where it was written.
    #[serde(skip)]
    pub span: Span,
}

/// A sort key.
#[derive(Debug, Clone, Serialize)]
pub struct SortKey {
    /// Value.
    pub value: Expr,
    /// Descending.
    pub descending: bool,
}

/// Typed steps.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Keep rows where the condition holds.
    Filter(Expr),
    /// Add or replace columns.
    Derive(Vec<(String, Expr)>),
    /// Keep exactly these columns, in order.
    Select(Vec<(String, Expr)>),
    /// Join with another relation. Output: left columns, then right columns not already present.
    Join {
        /// Kind.
        kind: JoinKind,
        /// Right relation.
        right: String,
        /// Condition; column references carry their side.
        on: Expr,
        /// Right columns kept in the output (others are the equal join keys).
        right_columns: Vec<String>,
    },
    /// Group by keys and aggregate.
    Group {
        /// Keys, named.
        keys: Vec<(String, Expr)>,
        /// Aggregates, named.
        aggregates: Vec<(String, Expr)>,
    },
    /// Sort.
    Sort(Vec<SortKey>),
    /// Keep the first n rows.
    Take(u64),
    /// Drop duplicate rows.
    Distinct,
    /// Append the rows of another relation with the same columns.
    Union(String),
    /// Window functions over partitions.
    Window {
        /// Partition keys.
        partition: Vec<Expr>,
        /// Order.
        order: Vec<SortKey>,
        /// The rows an aggregate, `first_value` or `last_value` sees; `None` for the default.
        frame: Option<Frame>,
        /// New columns.
        functions: Vec<(String, Expr)>,
    },
}

/// A window frame: `rows between <start> and <end>`, counted in rows of the window order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// First row of the frame.
    pub start: FrameBound,
    /// Last row of the frame.
    pub end: FrameBound,
}

/// Which side of a join a column reference reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The relation before the join step.
    Left,
    /// The joined relation.
    Right,
}

/// A typed expression.
#[derive(Debug, Clone, Serialize)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// Result type.
    pub ty: Type,
    /// May be null.
    pub nullable: bool,
}

/// Function kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FnKind {
    /// Row-wise.
    Scalar,
    /// Aggregate.
    Aggregate,
    /// Window-only.
    Window,
}

macro_rules! builtins {
    ($($variant:ident = $name:literal $kind:ident;)*) => {
        /// A builtin function. Its one definition (arguments, result type, null behaviour) is in
        /// `functions.rs`; every backend renders it from its own table (`pipec-sql`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Builtin {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Builtin {
            /// Every builtin, in documentation order.
            pub const ALL: &'static [Builtin] = &[$(Builtin::$variant),*];

            /// The name written in `.pipe` files.
            pub fn name(self) -> &'static str {
                match self {
                    $(Builtin::$variant => $name,)*
                }
            }

            /// Scalar, aggregate or window.
            pub fn kind(self) -> FnKind {
                match self {
                    $(Builtin::$variant => FnKind::$kind,)*
                }
            }
        }
    };
}

builtins! {
    Lower = "lower" Scalar;
    Upper = "upper" Scalar;
    Trim = "trim" Scalar;
    Length = "length" Scalar;
    Substr = "substr" Scalar;
    Replace = "replace" Scalar;
    Contains = "contains" Scalar;
    StartsWith = "starts_with" Scalar;
    EndsWith = "ends_with" Scalar;
    RegexpMatches = "regexp_matches" Scalar;
    SplitPart = "split_part" Scalar;
    Concat = "concat" Scalar;
    Lpad = "lpad" Scalar;
    Rpad = "rpad" Scalar;
    Abs = "abs" Scalar;
    Round = "round" Scalar;
    Floor = "floor" Scalar;
    Ceil = "ceil" Scalar;
    Sqrt = "sqrt" Scalar;
    Ln = "ln" Scalar;
    Exp = "exp" Scalar;
    Power = "power" Scalar;
    Greatest = "greatest" Scalar;
    Least = "least" Scalar;
    Coalesce = "coalesce" Scalar;
    Nullif = "nullif" Scalar;
    If = "if" Scalar;
    DateTrunc = "date_trunc" Scalar;
    Year = "year" Scalar;
    Month = "month" Scalar;
    Day = "day" Scalar;
    Hour = "hour" Scalar;
    DayOfWeek = "day_of_week" Scalar;
    DaysBetween = "days_between" Scalar;
    HoursBetween = "hours_between" Scalar;
    MinutesBetween = "minutes_between" Scalar;
    SecondsBetween = "seconds_between" Scalar;
    MakeDate = "make_date" Scalar;
    MakeTimestamp = "make_timestamp" Scalar;
    AddMonths = "add_months" Scalar;
    FormatTime = "format_time" Scalar;
    ParseTime = "parse_time" Scalar;
    ToTimezone = "to_timezone" Scalar;
    FromTimezone = "from_timezone" Scalar;
    JsonGet = "json_get" Scalar;
    Md5 = "md5" Scalar;
    Count = "count" Aggregate;
    CountDistinct = "count_distinct" Aggregate;
    CountIf = "count_if" Aggregate;
    Sum = "sum" Aggregate;
    Avg = "avg" Aggregate;
    Min = "min" Aggregate;
    Max = "max" Aggregate;
    AnyValue = "any_value" Aggregate;
    Stddev = "stddev" Aggregate;
    Median = "median" Aggregate;
    Percentile = "percentile" Aggregate;
    RowNumber = "row_number" Window;
    Rank = "rank" Window;
    DenseRank = "dense_rank" Window;
    Ntile = "ntile" Window;
    Lag = "lag" Window;
    Lead = "lead" Window;
    FirstValue = "first_value" Window;
    LastValue = "last_value" Window;
}

impl Builtin {
    /// The builtin called `name`.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.iter().copied().find(|b| b.name() == name)
    }
}

impl fmt::Display for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Typed expression forms.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExprKind {
    /// A literal.
    Literal(Literal),
    /// A column of the current relation (or of one side of a join).
    Column {
        /// Name.
        name: String,
        /// Side inside a join condition.
        side: Option<Side>,
    },
    /// A run parameter.
    Param(RunParam),
    /// A builtin function.
    Call {
        /// Which builtin.
        func: Builtin,
        /// Kind (the builtin's).
        kind: FnKind,
        /// Arguments (`count()` has none).
        args: Vec<Expr>,
    },
    /// Unary operator.
    Unary(UnaryOp, Box<Expr>),
    /// Binary operator.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// Cast.
    Cast(Box<Expr>, Type),
    /// Null test.
    IsNull {
        /// Tested value.
        value: Box<Expr>,
        /// `is not null`.
        negated: bool,
    },
    /// Membership.
    InList(Box<Expr>, Vec<Expr>),
    /// Conditional.
    Case {
        /// Arms.
        arms: Vec<(Expr, Expr)>,
        /// Else.
        otherwise: Option<Box<Expr>>,
    },
}

impl Expr {
    /// True when the expression contains an aggregate call (outside window functions).
    pub fn has_aggregate(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if let ExprKind::Call {
                kind: FnKind::Aggregate,
                ..
            } = e.kind
            {
                found = true;
            }
        });
        found
    }

    /// The keys a join condition shares between its sides: equal-named columns (names ignore
    /// case, as everywhere) compared with `==` across the sides, as `(left name, right name)` in
    /// the order written. Each is one output column (the left one), as `using (k)` makes it.
    pub fn shared_join_keys(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            let ExprKind::Binary(BinaryOp::Eq, a, b) = &e.kind else {
                return;
            };
            let (ExprKind::Column { name: x, side: sx }, ExprKind::Column { name: y, side: sy }) =
                (&a.kind, &b.kind)
            else {
                return;
            };
            if same_name(x, y) && sx != sy {
                let (l, r) = if *sx == Some(Side::Left) {
                    (x, y)
                } else {
                    (y, x)
                };
                out.push((l.clone(), r.clone()));
            }
        });
        out
    }

    /// Visits this expression and all sub-expressions, parents first.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Literal(_) | ExprKind::Column { .. } | ExprKind::Param(_) => {}
            ExprKind::Call { args, .. } => args.iter().for_each(|a| a.walk(f)),
            ExprKind::Unary(_, e) | ExprKind::Cast(e, _) => e.walk(f),
            ExprKind::IsNull { value, .. } => value.walk(f),
            ExprKind::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            ExprKind::InList(e, list) => {
                e.walk(f);
                list.iter().for_each(|a| a.walk(f));
            }
            ExprKind::Case { arms, otherwise } => {
                for (c, v) in arms {
                    c.walk(f);
                    v.walk(f);
                }
                if let Some(o) = otherwise {
                    o.walk(f);
                }
            }
        }
    }
}

/// How a sink writes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum SinkMode {
    /// Add rows.
    Append,
    /// Full refresh: truncate and insert.
    Replace,
    /// Upsert on keys.
    Merge {
        /// Key columns.
        keys: Vec<String>,
    },
    /// Append only rows newer than the stored watermark of a column.
    Incremental {
        /// Watermark column.
        column: String,
    },
}

/// Where a sink lands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SinkTarget {
    /// A warehouse table.
    Table {
        /// Schema (e.g. `mart`); `main` when not given.
        schema: String,
        /// Table name.
        table: String,
    },
    /// Files in the lake.
    File {
        /// Format.
        format: FileFormat,
        /// Path template.
        path: String,
    },
}

/// A checked sink.
#[derive(Debug, Clone, Serialize)]
pub struct Sink {
    /// Relation written.
    pub relation: String,
    /// Target.
    pub target: SinkTarget,
    /// Write mode.
    pub mode: SinkMode,
    /// Date column whose run-date partition each run replaces.
    pub partition_by: Option<String>,
    /// Lifecycle (`archive after`, `expire after` in the sink block).
    pub retention: Option<Retention>,
    /// Declaration.
    #[serde(skip)]
    pub span: Span,
}

impl Sink {
    /// A stable node name, e.g. `mart.station_daily`.
    pub fn name(&self) -> String {
        match &self.target {
            SinkTarget::Table { schema, table } => format!("{schema}.{table}"),
            SinkTarget::File { path, .. } => path.clone(),
        }
    }
}

/// One check rule.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// Columns never null.
    NotNull {
        /// Columns.
        columns: Vec<String>,
    },
    /// Column combination unique.
    Unique {
        /// Columns.
        columns: Vec<String>,
    },
    /// Column values from a set.
    AcceptedValues {
        /// Column.
        column: String,
        /// Allowed values.
        values: Vec<Literal>,
    },
    /// Column values within bounds (inclusive).
    InRange {
        /// Column.
        column: String,
        /// Lower bound.
        min: Option<Expr>,
        /// Upper bound.
        max: Option<Expr>,
    },
    /// Number of rows within bounds.
    RowCount {
        /// Minimum.
        min: Option<i64>,
        /// Maximum.
        max: Option<i64>,
    },
    /// Every row satisfies the expression.
    Row {
        /// Condition.
        expr: Expr,
    },
    /// The aggregate expression over all rows is true.
    Aggregate {
        /// Condition.
        expr: Expr,
    },
}

/// A rule with its source text.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRule {
    /// The rule.
    pub rule: Rule,
    /// The rule as written, for reports.
    pub text: String,
    /// Where.
    #[serde(skip)]
    pub span: Span,
}

/// The checks on one relation.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Relation checked.
    pub relation: String,
    /// Rules.
    pub rules: Vec<CheckRule>,
    /// Declaration.
    #[serde(skip)]
    pub span: Span,
}

/// Fixture rows for one relation.
#[derive(Debug, Clone, Serialize)]
pub struct Fixture {
    /// Relation.
    pub relation: String,
    /// Columns given.
    pub columns: Vec<Column>,
    /// Rows of literals, coerced to the column types.
    pub rows: Vec<Vec<Literal>>,
}

/// A unit test of a transform.
#[derive(Debug, Clone, Serialize)]
pub struct Test {
    /// Name.
    pub name: String,
    /// Relation under test.
    pub relation: String,
    /// Run date.
    pub ds: Option<String>,
    /// Inputs.
    pub given: Vec<Fixture>,
    /// Expected output.
    pub expect: Option<Fixture>,
    /// Declaration.
    #[serde(skip)]
    pub span: Span,
}
