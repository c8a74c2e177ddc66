//! The untyped syntax tree of one `.pipe` file. Every node carries its own [`Span`]; no pest
//! types leak out of this crate.

use pipec_diag::Span;
use serde::Serialize;

/// A name as written, with its span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ident {
    /// The name (backticks removed from quoted names).
    pub name: String,
    /// Where it was written.
    #[serde(skip)]
    pub span: Span,
}

/// A dotted name such as `mart.station_daily` or `std.dedupe.latest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QName {
    /// The parts, outermost first.
    pub parts: Vec<Ident>,
    /// The whole name's span.
    #[serde(skip)]
    pub span: Span,
}

impl QName {
    /// The parts joined with dots.
    pub fn dotted(&self) -> String {
        self.parts
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The last part.
    pub fn last(&self) -> &Ident {
        self.parts
            .last()
            .expect("a qualified name has at least one part")
    }
}

/// A string literal with its decoded value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrLit {
    /// The value after escapes are decoded.
    pub value: String,
    /// Where it was written, quotes included.
    #[serde(skip)]
    pub span: Span,
}

/// One parsed file.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Module {
    /// Top-level items in source order.
    pub items: Vec<Item>,
}

/// A top-level declaration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "item")]
pub enum Item {
    /// `import std.dedupe` or `import "other.pipe" as other`.
    Import(Import),
    /// `pipeline name { settings }`.
    Pipeline(PipelineDecl),
    /// `source name = kind(args) { schema }`.
    Source(SourceDecl),
    /// `transform name = relation | steps`.
    Transform(TransformDecl),
    /// `sink relation -> target { options }`.
    Sink(SinkDecl),
    /// `check relation { rules }`.
    Check(CheckDecl),
    /// `test name for relation { ... }`.
    Test(TestDecl),
    /// `define name(params) = relation | steps` or `define check name(params) { rules }`.
    Define(DefineDecl),
}

/// What an import names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ImportTarget {
    /// A module path such as `std.dedupe`.
    Module(QName),
    /// A file path relative to the importing file.
    File(StrLit),
}

/// `import ...`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Import {
    /// What is imported.
    pub target: ImportTarget,
    /// `as alias`.
    pub alias: Option<Ident>,
    /// The whole item.
    #[serde(skip)]
    pub span: Span,
}

/// `pipeline name { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineDecl {
    /// The pipeline's name.
    pub name: Ident,
    /// Settings in source order.
    pub settings: Vec<Setting>,
    /// The whole item.
    #[serde(skip)]
    pub span: Span,
}

/// One pipeline setting with its span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting {
    /// Which setting.
    pub kind: SettingKind,
    /// The whole setting.
    #[serde(skip)]
    pub span: Span,
}

/// The pipeline settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum SettingKind {
    /// `schedule ...`.
    Schedule(Schedule),
    /// `start 2024-01-01`.
    Start(Expr),
    /// `end 2024-12-31`.
    End(Expr),
    /// `catchup true`.
    Catchup(Expr),
    /// `retries 3 backoff 5m`.
    Retries {
        /// Number of retries.
        count: Expr,
        /// Delay before the first retry; doubles each time.
        backoff: Option<Expr>,
    },
    /// `timeout 1h`.
    Timeout(Expr),
    /// `alert slack(secret("X"))` or `alert email("a@b")`.
    Alert(Expr),
    /// `owner "team"`.
    Owner(Expr),
    /// `tags ["a", "b"]`.
    Tags(Expr),
    /// `description "..."`.
    Description(Expr),
    /// Anything else: reported by the checker.
    Unknown {
        /// The setting's name.
        name: Ident,
        /// Its value, if any.
        value: Option<Expr>,
    },
}

/// When a pipeline runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Schedule {
    /// `daily [at HH:MM] ["Zone/Name"]`.
    Daily {
        /// Time of day as written, with its span.
        at: Option<StrLit>,
        /// IANA time zone.
        tz: Option<StrLit>,
    },
    /// `hourly [at :MM] ["Zone/Name"]`.
    Hourly {
        /// Minute mark as written (`:15`).
        at: Option<StrLit>,
        /// IANA time zone.
        tz: Option<StrLit>,
    },
    /// `cron "m h dom mon dow" ["Zone/Name"]`.
    Cron {
        /// The five-field expression.
        expr: StrLit,
        /// IANA time zone.
        tz: Option<StrLit>,
    },
    /// `every 15m ["Zone/Name"]`.
    Every {
        /// The period (a duration literal).
        period: Expr,
        /// IANA time zone.
        tz: Option<StrLit>,
    },
    /// `after other_pipeline, another`.
    After(Vec<Ident>),
    /// `on file "landing/{ds}.csv"`.
    OnFile(StrLit),
    /// `continuous` (streaming).
    Continuous,
}

/// `source name = kind(args) { schema }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceDecl {
    /// The relation's name.
    pub name: Ident,
    /// Where rows come from, e.g. `csv("data/{ds}.csv", header = true)`.
    pub origin: Call,
    /// The declared schema; `None` when the block is left out (see `table(...)` sources).
    pub schema: Option<Vec<Field>>,
    /// `archive after …` / `expire after …` lines after the schema, in source order.
    pub retention: Vec<RetentionLine>,
    /// The whole item.
    #[serde(skip)]
    pub span: Span,
}

/// `name: type` in a schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// The column name.
    pub name: Ident,
    /// Its declared type.
    pub ty: TypeExpr,
}

/// A type as written: `decimal(10, 2)?`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeExpr {
    /// The type's name.
    pub name: Ident,
    /// Parameters such as precision and scale.
    pub params: Vec<u32>,
    /// Written with a trailing `?`.
    pub nullable: bool,
    /// The whole type.
    #[serde(skip)]
    pub span: Span,
}

/// `transform name = ...`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransformDecl {
    /// The relation's name.
    pub name: Ident,
    /// Its definition.
    pub body: RelExpr,
    /// The whole item.
    #[serde(skip)]
    pub span: Span,
}

/// A relation followed by pipeline steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelExpr {
    /// Where rows start from.
    pub head: RelHead,
    /// Steps applied in order.
    pub steps: Vec<Step>,
    /// The whole expression.
    #[serde(skip)]
    pub span: Span,
}

/// The start of a relational pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum RelHead {
    /// Another relation by name.
    Ref(QName),
    /// A relation-valued call, e.g. `dates(@start, @end)` or a define.
    Call(Call),
    /// Raw SQL with a declared schema.
    Sql {
        /// The SQL text; `{name}` refers to relations and run parameters.
        sql: StrLit,
        /// The declared output schema.
        schema: Vec<Field>,
    },
}

/// One pipeline step with its span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Which step.
    pub kind: StepKind,
    /// The whole step.
    #[serde(skip)]
    pub span: Span,
}

/// Join flavours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum JoinKind {
    /// Rows matching on both sides.
    Inner,
    /// Every left row, matched right rows or nulls.
    Left,
    /// Every right row, matched left rows or nulls.
    Right,
    /// Every row of both sides.
    Full,
}

/// How two relations are joined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum JoinCond {
    /// `on expr`.
    On(Expr),
    /// `using (a, b)`.
    Using(Vec<Ident>),
}

/// `name = expr`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assign {
    /// The new column's name.
    pub name: Ident,
    /// Its value.
    pub value: Expr,
}

/// An item in `select`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelectItem {
    /// `name =` when renamed or computed.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
}

/// A sort key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SortKey {
    /// The value sorted by.
    pub value: Expr,
    /// Written with `desc`.
    pub descending: bool,
}

/// The relational steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum StepKind {
    /// `filter cond`.
    Filter(Expr),
    /// `derive a = .., b = ..`.
    Derive(Vec<Assign>),
    /// `select a, b = expr`.
    Select(Vec<SelectItem>),
    /// `select except a, b`.
    SelectExcept(Vec<Ident>),
    /// `join [kind] rel [as alias] on cond`.
    Join {
        /// Inner, left, right or full.
        kind: JoinKind,
        /// The right-hand relation.
        relation: QName,
        /// Its alias inside the condition.
        alias: Option<Ident>,
        /// The condition.
        cond: JoinCond,
    },
    /// `group keys { aggregates }`.
    Group {
        /// Grouping keys.
        keys: Vec<Expr>,
        /// Aggregates.
        aggregates: Vec<Assign>,
    },
    /// `aggregate { aggregates }` (one row for the whole relation).
    Aggregate(Vec<Assign>),
    /// `sort a, b desc`.
    Sort(Vec<SortKey>),
    /// `take n`.
    Take(Expr),
    /// `distinct`.
    Distinct,
    /// `union other`.
    Union(QName),
    /// `window partition k order t [rows between a and b] { rn = row_number() }`.
    Window {
        /// Partition keys.
        partition: Vec<Expr>,
        /// Order within a partition.
        order: Vec<SortKey>,
        /// `rows between ... and ...`.
        frame: Option<WindowFrame>,
        /// Window functions.
        functions: Vec<Assign>,
    },
    /// A reusable transform applied to the relation: `dedupe.latest(id, updated_at)`.
    Apply(Call),
}

/// `rows between <start> and <end>` in a window step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowFrame {
    /// First row.
    pub start: FrameBound,
    /// Last row.
    pub end: FrameBound,
    /// The whole clause.
    pub span: Span,
}

/// One end of a window frame, in rows relative to the current row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameBound {
    /// `unbounded preceding`: the partition's first row.
    UnboundedPreceding,
    /// `n preceding`.
    Preceding(u64),
    /// `current row`.
    CurrentRow,
    /// `n following`.
    Following(u64),
    /// `unbounded following`: the partition's last row.
    UnboundedFollowing,
}

impl FrameBound {
    /// Position relative to the current row, for ordering bounds (unbounded = ±infinity).
    pub fn offset(self) -> i128 {
        match self {
            FrameBound::UnboundedPreceding => i128::MIN,
            FrameBound::Preceding(n) => -(n as i128),
            FrameBound::CurrentRow => 0,
            FrameBound::Following(n) => n as i128,
            FrameBound::UnboundedFollowing => i128::MAX,
        }
    }
}

/// `sink relation -> target { options }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinkDecl {
    /// The relation written.
    pub relation: QName,
    /// Where it lands.
    pub target: SinkTarget,
    /// Options in source order.
    pub options: Vec<SinkOption>,
    /// The whole item.
    #[serde(skip)]
    pub span: Span,
}

/// Where a sink lands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum SinkTarget {
    /// A warehouse table, `schema.table`.
    Table(QName),
    /// A file or service, e.g. `parquet("lake/x/{ds}.parquet")`.
    Call(Call),
}

/// One sink option with its span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinkOption {
    /// Which option.
    pub kind: SinkOptionKind,
    /// The whole option.
    #[serde(skip)]
    pub span: Span,
}

/// Sink options.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum SinkOptionKind {
    /// `mode merge on (a, b)`.
    Merge(Vec<Ident>),
    /// `mode incremental by col`.
    Incremental(Ident),
    /// `mode append` / `mode replace`.
    Mode(Ident),
    /// `partition by col`.
    PartitionBy(Ident),
    /// `archive after 90d to glacier` / `expire after 1y`.
    Retention(RetentionLine),
    /// Anything else: reported by the checker.
    Unknown {
        /// The option's name.
        name: Ident,
        /// Its value.
        value: Option<Expr>,
    },
}

/// One storage lifecycle line: `archive after AGE [to CLASS]` or `expire after AGE`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionLine {
    /// `archive` or `expire`.
    pub action: RetentionAction,
    /// The age as written (`90d`, `1y`); its unit is checked by the checker.
    pub age: Ident,
    /// The storage class after `to` (archive only).
    pub class: Option<Ident>,
    /// The whole line.
    #[serde(skip)]
    pub span: Span,
}

/// What a retention line does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAction {
    /// `archive after`: move to a colder storage class.
    Archive,
    /// `expire after`: delete.
    Expire,
}

/// `check relation { rules }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckDecl {
    /// The relation checked.
    pub relation: QName,
    /// Rules: builtin checks such as `unique(id)` or boolean expressions.
    pub rules: Vec<Expr>,
    /// The whole item.
    #[serde(skip)]
    pub span: Span,
}

/// `test name for relation { ds .., given .., expect .. }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestDecl {
    /// The test's name.
    pub name: Ident,
    /// The relation under test.
    pub relation: QName,
    /// The run date used while testing.
    pub ds: Option<Expr>,
    /// Fixture rows for input relations.
    pub given: Vec<(QName, Fixture)>,
    /// Expected rows of the relation under test.
    pub expect: Option<Fixture>,
    /// The whole item.
    #[serde(skip)]
    pub span: Span,
}

/// `(col, col) { (v, v), ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fixture {
    /// Column names.
    pub columns: Vec<Ident>,
    /// Rows of literal values.
    pub rows: Vec<Row>,
    /// `defaults { col = value }`: values for unlisted columns, the same in every row.
    pub defaults: Vec<Assign>,
    /// The whole fixture.
    #[serde(skip)]
    pub span: Span,
}

/// A fixture row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Values in column order.
    pub values: Vec<Expr>,
    /// The row.
    #[serde(skip)]
    pub span: Span,
}

/// `define [check] name(params) ...`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefineDecl {
    /// The name.
    pub name: Ident,
    /// Parameters.
    pub params: Vec<Param>,
    /// The body.
    pub body: DefineBody,
    /// The whole item.
    #[serde(skip)]
    pub span: Span,
}

/// A define's body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum DefineBody {
    /// A reusable transform: the first `relation` parameter receives the piped relation.
    Relation(RelExpr),
    /// A reusable check: rules like a `check` block.
    Check(Vec<Expr>),
}

/// `name: kind` in a define.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    /// The name.
    pub name: Ident,
    /// `relation`, `column`, `columns`, or a scalar type.
    pub ty: TypeExpr,
}

/// An expression with its span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    #[serde(skip)]
    pub span: Span,
}

/// Literal values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Literal {
    /// `42`.
    Int(i64),
    /// `4.2`, `1e3`.
    Float(f64),
    /// `"text"`.
    Str(String),
    /// `true`.
    Bool(bool),
    /// `null`.
    Null,
    /// `2024-01-01`.
    Date(String),
    /// `2024-01-01T10:00:00`, normalised to `YYYY-MM-DD HH:MM:SS`.
    Timestamp(String),
    /// `5m`, kept in microseconds.
    Duration(i64),
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `not x`.
    Not,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BinaryOp {
    /// `or`.
    Or,
    /// `and`.
    And,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Rem,
    /// `++` (string concatenation).
    Concat,
    /// `??` (first non-null).
    Coalesce,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Concat => "++",
            BinaryOp::Coalesce => "??",
        }
    }
}

/// A call: `name(args)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    /// The function, source kind or define.
    pub name: QName,
    /// Positional then named arguments, as written.
    pub args: Vec<Arg>,
    /// The whole call.
    #[serde(skip)]
    pub span: Span,
}

impl Call {
    /// The named argument `name`, if given.
    pub fn named(&self, name: &str) -> Option<&Arg> {
        self.args
            .iter()
            .find(|a| a.name.as_ref().is_some_and(|n| n.name == name))
    }

    /// Positional arguments in order.
    pub fn positional(&self) -> impl Iterator<Item = &Arg> {
        self.args.iter().filter(|a| a.name.is_none())
    }
}

/// One argument.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arg {
    /// `name =` for named arguments.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
}

/// Expression forms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ExprKind {
    /// A literal value.
    Literal(Literal),
    /// A column, optionally qualified: `station_id`, `stations.name`.
    Name(QName),
    /// A run parameter: `@ds`, `@start`, `@end`.
    Param(Ident),
    /// A function call.
    Call(Call),
    /// `-x`, `not x`.
    Unary(UnaryOp, Box<Expr>),
    /// `a op b`.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `x :: type`.
    Cast(Box<Expr>, TypeExpr),
    /// `x is null` / `x is not null`.
    IsNull {
        /// The tested value.
        value: Box<Expr>,
        /// `is not null`.
        negated: bool,
    },
    /// `x in [a, b]`.
    InList(Box<Expr>, Vec<Expr>),
    /// `case when c then v ... else v end`.
    Case {
        /// Conditions and values.
        arms: Vec<(Expr, Expr)>,
        /// The `else` value.
        otherwise: Option<Box<Expr>>,
    },
    /// `[a, b]`.
    List(Vec<Expr>),
    /// `(a, b)`: several columns passed as one define argument.
    Tuple(Vec<Expr>),
    /// `*` inside `count(*)`.
    Star,
}
