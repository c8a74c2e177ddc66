//! The typed IR: what the checker proves about a project. Backends read only this (and the DAG
//! built from it); they never see the untyped AST.

use std::fmt;

use pipec_diag::Span;
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
    /// The column named `name`.
    pub fn get(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Column names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// Adds or replaces a column.
    pub fn set(&mut self, column: Column) {
        match self.columns.iter_mut().find(|c| c.name == column.name) {
            Some(c) => *c = column,
            None => self.columns.push(column),
        }
    }
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

/// When a pipeline runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// Only when started by hand.
    Manual,
    /// A five-field cron expression in a time zone (`daily`/`hourly` are lowered to this).
    Cron {
        /// `m h dom mon dow`.
        expr: String,
        /// IANA time zone.
        tz: String,
    },
    /// A fixed period.
    Every {
        /// Period in seconds.
        seconds: u64,
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

/// Where a source reads from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Files (local path or object-store URI), with `{ds}` templates and globs.
    File {
        /// Format.
        format: FileFormat,
        /// Path template.
        path: String,
        /// Options (header, delimiter, quote, nulls, skip, on_error).
        options: Vec<(String, Value)>,
    },
    /// An HTTP JSON API.
    Http {
        /// URL template.
        url: String,
        /// Options (rows, paginate, page_size, max_pages, timeout, retries, max_bytes, headers, fallback).
        options: Vec<(String, Value)>,
    },
    /// A PostgreSQL table or query.
    Postgres {
        /// Connection string (usually a secret).
        dsn: Value,
        /// `schema.table` to copy.
        table: Option<String>,
        /// Or a query.
        query: Option<String>,
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
        /// Other options.
        options: Vec<(String, Value)>,
    },
}

impl Source {
    /// The option named `name`.
    pub fn option(&self, name: &str) -> Option<&Value> {
        let opts = match self {
            Source::File { options, .. }
            | Source::Http { options, .. }
            | Source::Stream { options, .. } => options,
            _ => return None,
        };
        opts.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
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
        /// New columns.
        functions: Vec<(String, Expr)>,
    },
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
        /// Canonical name.
        name: String,
        /// Kind.
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
