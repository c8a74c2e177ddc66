//! Lowering of the typed IR to SQL text in DuckDB's dialect.
//!
//! Every identifier is quoted and every literal escaped here, in one place: a column named `a"b`
//! or a string holding quotes, newlines and `{{ }}` round-trips unchanged.

use pipec_check::functions::{literal_arg, parse_time_pattern, PatternPiece};
use pipec_check::ir::{
    Builtin, Expr, ExprKind, FnKind, Frame, FrameBound, Head, RunParam, Schema, SortKey, StepKind,
    Transform, Type,
};
use pipec_syntax::ast::{BinaryOp, JoinKind, Literal, UnaryOp};

/// A quoted identifier: `a"b` → `"a""b"`.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A quoted string literal: `it's` → `'it''s'`.
pub fn string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A qualified table name: `mart.daily` → `"mart"."daily"`.
pub fn table(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// The SQL type for a pipec type.
pub fn type_sql(t: Type) -> String {
    match t {
        Type::Int => "INTEGER".into(),
        Type::BigInt => "BIGINT".into(),
        Type::Float => "DOUBLE".into(),
        Type::Decimal(p, s) => format!("DECIMAL({p}, {s})"),
        Type::Bool => "BOOLEAN".into(),
        Type::String | Type::Null => "VARCHAR".into(),
        Type::Date => "DATE".into(),
        Type::Timestamp => "TIMESTAMP".into(),
        Type::Interval => "INTERVAL".into(),
        Type::Json => "JSON".into(),
    }
}

/// The run interval whose values replace `@ds`, `@start` and `@end` and path placeholders.
#[derive(Debug, Clone)]
pub struct Interval {
    /// `YYYY-MM-DD`: the local date of the start in the schedule's time zone.
    pub ds: String,
    /// `00`–`23`: the local hour of the start in the schedule's time zone.
    pub hh: String,
    /// `YYYY-MM-DD HH:MM:SS` in UTC, inclusive.
    pub start: String,
    /// `YYYY-MM-DD HH:MM:SS` in UTC, exclusive.
    pub end: String,
}

impl Interval {
    /// The daily interval of `ds` (`YYYY-MM-DD`) in UTC.
    pub fn daily(ds: &str, next: &str) -> Self {
        Interval {
            ds: ds.to_string(),
            hh: "00".into(),
            start: format!("{ds} 00:00:00"),
            end: format!("{next} 00:00:00"),
        }
    }
}

impl From<&pipec_check::schedule::Interval> for Interval {
    fn from(i: &pipec_check::schedule::Interval) -> Self {
        Interval {
            ds: i.ds().to_string(),
            hh: i.hh(),
            start: i.start_text(),
            end: i.end_text(),
        }
    }
}

impl Interval {
    /// The value of a path or SQL template placeholder.
    pub fn placeholder(&self, name: &str) -> Option<String> {
        let d = &self.ds;
        Some(match name {
            "ds" => d.clone(),
            "ds_nodash" => d.replace('-', ""),
            "yyyy" => d[0..4].to_string(),
            "mm" => d[5..7].to_string(),
            "dd" => d[8..10].to_string(),
            "hh" => self.hh.clone(),
            "start" => self.start.clone(),
            "end" => self.end.clone(),
            _ => return None,
        })
    }

    /// Expands `{ds}`-style placeholders; `{{` and `}}` are literal braces. Unknown names are kept.
    pub fn expand(&self, template: &str, mut other: impl FnMut(&str) -> Option<String>) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if tail.starts_with("{{") || tail.starts_with("}}") {
                out.push_str(&tail[..1]);
                rest = &tail[2..];
                continue;
            }
            if tail.starts_with('{') {
                if let Some(close) = tail.find('}') {
                    let name = tail[1..close].trim();
                    match other(name).or_else(|| self.placeholder(name)) {
                        Some(v) => out.push_str(&v),
                        None => out.push_str(&tail[..=close]),
                    }
                    rest = &tail[close + 1..];
                    continue;
                }
            }
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
        out.push_str(rest);
        out
    }
}

/// Names tables for relations while lowering.
pub trait Tables {
    /// The SQL table (already quoted) holding relation `name`.
    fn table(&self, name: &str) -> String;
}

impl<F: Fn(&str) -> String> Tables for F {
    fn table(&self, name: &str) -> String {
        self(name)
    }
}

/// A literal in SQL.
pub fn literal(l: &Literal) -> String {
    match l {
        Literal::Int(v) => v.to_string(),
        Literal::Float(v) => format!("CAST({v:?} AS DOUBLE)"),
        Literal::Str(s) => string(s),
        Literal::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Literal::Null => "NULL".into(),
        Literal::Date(d) => format!("DATE {}", string(d)),
        Literal::Timestamp(t) => format!("TIMESTAMP {}", string(t)),
        Literal::Duration(us) => format!("to_microseconds(CAST({us} AS BIGINT))"),
    }
}

/// The SQL dialects builtins are rendered in. A dialect is a column of [`templates`] plus its
/// time-pattern language ([`Dialect::time_pattern`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// DuckDB, as `pipec run` executes it.
    DuckDb,
}

impl Dialect {
    /// A checked time pattern (`%Y-%m-%d`) as a string literal in the dialect's pattern language.
    pub fn time_pattern(self, pieces: &[PatternPiece]) -> String {
        let mut out = String::new();
        for p in pieces {
            match self {
                Dialect::DuckDb => out.push_str(&match p {
                    PatternPiece::Year => "%Y".to_string(),
                    PatternPiece::Month => "%m".to_string(),
                    PatternPiece::Day => "%d".to_string(),
                    PatternPiece::Hour => "%H".to_string(),
                    PatternPiece::Minute => "%M".to_string(),
                    PatternPiece::Second => "%S".to_string(),
                    PatternPiece::Text(t) => t.replace('%', "%%"),
                }),
            }
        }
        string(&out)
    }
}

/// How one builtin is written in one dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    /// A template: `{0}`, `{1}` are arguments; `{1?x}` is argument 1, or `x` when not given;
    /// `{*}` is every argument joined with `, `; `{p1}` is argument 1, a literal time pattern,
    /// in the dialect's pattern language; `{ty}` is the SQL type of the result.
    T(&'static str),
    /// Every argument through `item` (`{}` marks it), joined by `sep`, between `open` and `close`.
    Each {
        /// Before the first argument.
        open: &'static str,
        /// One argument.
        item: &'static str,
        /// Between arguments.
        sep: &'static str,
        /// After the last argument.
        close: &'static str,
    },
}

/// One builtin's rendering in every dialect: a row of the table, one field per dialect.
#[derive(Debug, Clone, Copy)]
pub struct Templates {
    /// DuckDB.
    pub duckdb: Render,
}

impl Templates {
    /// The rendering for `dialect`.
    pub fn get(&self, dialect: Dialect) -> Render {
        match dialect {
            Dialect::DuckDb => self.duckdb,
        }
    }
}

/// The rendering table: how each builtin is written so that each engine gives the result
/// defined in `pipec_check::functions` and docs/language.md.
pub fn templates(b: Builtin) -> Templates {
    use Builtin as B;
    use Render::T;
    let duckdb = match b {
        B::Lower => T("lower({0})"),
        B::Upper => T("upper({0})"),
        B::Trim => T("trim({0})"),
        B::Length => T("length({0})"),
        B::Substr => T("substring({*})"),
        B::Replace => T("replace({0}, {1}, {2})"),
        B::Contains => T("contains({0}, {1})"),
        B::StartsWith => T("starts_with({0}, {1})"),
        B::EndsWith => T("ends_with({0}, {1})"),
        B::RegexpMatches => T("regexp_matches({0}, {1})"),
        B::SplitPart => T("split_part({0}, {1}, {2})"),
        // DuckDB's `concat` skips nulls; `||` gives null when any argument is null.
        B::Concat => Render::Each {
            open: "(",
            item: "CAST({} AS VARCHAR)",
            sep: " || ",
            close: ")",
        },
        B::Lpad => T("lpad({0}, CAST({1} AS INTEGER), {2})"),
        B::Rpad => T("rpad({0}, CAST({1} AS INTEGER), {2})"),
        B::Abs => T("abs({0})"),
        B::Round => T("round({0}, {1?0})"),
        B::Floor => T("floor({0})"),
        B::Ceil => T("ceil({0})"),
        B::Sqrt => T("sqrt({0})"),
        B::Ln => T("ln({0})"),
        B::Exp => T("exp({0})"),
        B::Power => T("power({0}, {1})"),
        // DuckDB's `greatest`/`least` skip nulls, as defined.
        B::Greatest => T("greatest({*})"),
        B::Least => T("least({*})"),
        B::Coalesce => T("coalesce({*})"),
        B::Nullif => T("nullif({0}, {1})"),
        B::If => T("CASE WHEN {0} THEN {1} ELSE {2} END"),
        B::DateTrunc => T("CAST(date_trunc({0}, {1}) AS TIMESTAMP)"),
        B::Year => T("year({0})"),
        B::Month => T("month({0})"),
        B::Day => T("day({0})"),
        B::Hour => T("hour({0})"),
        B::DayOfWeek => T("isodow({0})"),
        B::DaysBetween => T("date_diff('day', CAST({0} AS DATE), CAST({1} AS DATE))"),
        B::HoursBetween => {
            T("((epoch(CAST({1} AS TIMESTAMP)) - epoch(CAST({0} AS TIMESTAMP))) / 3600.0)")
        }
        B::MinutesBetween => {
            T("((epoch(CAST({1} AS TIMESTAMP)) - epoch(CAST({0} AS TIMESTAMP))) / 60.0)")
        }
        B::SecondsBetween => {
            T("((epoch(CAST({1} AS TIMESTAMP)) - epoch(CAST({0} AS TIMESTAMP))) / 1.0)")
        }
        B::MakeDate => T("make_date({0}, {1}, {2})"),
        B::MakeTimestamp => T("make_timestamp({0}, {1}, {2}, {3}, {4}, CAST({5} AS DOUBLE))"),
        B::AddMonths => T("CAST(({0} + to_months(CAST({1} AS INTEGER))) AS {ty})"),
        B::FormatTime => T("strftime(CAST({0} AS TIMESTAMP), {p1})"),
        B::ParseTime => T("try_strptime({0}, {p1})"),
        // Rust functions the runner registers (chrono-tz; DuckDB is built without ICU).
        B::ToTimezone => T("_pipec_to_timezone(CAST({0} AS TIMESTAMP), {1})"),
        B::FromTimezone => T("_pipec_from_timezone(CAST({0} AS TIMESTAMP), {1})"),
        B::JsonGet => T("json_extract_string({0}, {1})"),
        B::Md5 => T("md5({0})"),
        B::Count => T("count({0?*})"),
        B::CountDistinct => T("count(DISTINCT {0})"),
        B::CountIf => T("count(*) FILTER (WHERE {0})"),
        B::Sum => T("sum({0})"),
        B::Avg => T("avg({0})"),
        B::Min => T("min({0})"),
        B::Max => T("max({0})"),
        B::AnyValue => T("any_value({0})"),
        B::Stddev => T("stddev_samp({0})"),
        B::Median => T("quantile_cont(CAST({0} AS DOUBLE), 0.5)"),
        B::Percentile => T("quantile_cont(CAST({0} AS DOUBLE), {1})"),
        B::RowNumber => T("row_number()"),
        B::Rank => T("rank()"),
        B::DenseRank => T("dense_rank()"),
        B::Ntile => T("ntile({0})"),
        B::Lag => T("lag({*})"),
        B::Lead => T("lead({*})"),
        B::FirstValue => T("first_value({0})"),
        B::LastValue => T("last_value({0})"),
    };
    Templates { duckdb }
}

/// Fills a template with rendered arguments. Argument text is never scanned for placeholders.
fn fill(render: Render, dialect: Dialect, args: &[Expr], sql: &[String], result: Type) -> String {
    let t = match render {
        Render::Each {
            open,
            item,
            sep,
            close,
        } => {
            let items: Vec<String> = sql.iter().map(|a| item.replace("{}", a)).collect();
            return format!("{open}{}{close}", items.join(sep));
        }
        Render::T(t) => t,
    };
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let close = rest[i..].find('}').map_or(rest.len(), |c| i + c);
        let hole = &rest[i + 1..close];
        rest = &rest[(close + 1).min(rest.len())..];
        let (key, default) = match hole.split_once('?') {
            Some((k, d)) => (k, Some(d)),
            None => (hole, None),
        };
        match key {
            "*" => out.push_str(&sql.join(", ")),
            "ty" => out.push_str(&type_sql(result)),
            k if k.starts_with('p') => {
                let n: usize = k[1..].parse().unwrap_or(0);
                let pieces = args
                    .get(n)
                    .and_then(literal_arg)
                    .and_then(|l| match l {
                        Literal::Str(p) => parse_time_pattern(&p).ok(),
                        _ => None,
                    })
                    .unwrap_or_default();
                out.push_str(&dialect.time_pattern(&pieces));
            }
            k => {
                let n: usize = k.parse().unwrap_or(usize::MAX);
                match (sql.get(n), default) {
                    (Some(a), _) => out.push_str(a),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => {}
                }
            }
        }
    }
    out.push_str(rest);
    out
}

/// `ROWS BETWEEN ... AND ...`.
fn frame_sql(f: &Frame) -> String {
    let bound = |b: FrameBound| match b {
        FrameBound::UnboundedPreceding => "UNBOUNDED PRECEDING".to_string(),
        FrameBound::Preceding(n) => format!("{n} PRECEDING"),
        FrameBound::CurrentRow => "CURRENT ROW".to_string(),
        FrameBound::Following(n) => format!("{n} FOLLOWING"),
        FrameBound::UnboundedFollowing => "UNBOUNDED FOLLOWING".to_string(),
    };
    format!("ROWS BETWEEN {} AND {}", bound(f.start), bound(f.end))
}

/// The OVER clause of a window step: partition and order, and the frame its aggregates,
/// `first_value` and `last_value` see (ranking functions, `lag`, `lead` and `ntile` take none).
struct Over {
    spec: String,
    frame: Option<Frame>,
}

struct Lower<'a> {
    run: &'a Interval,
    dialect: Dialect,
    /// Inside a window step: the OVER clause for window and aggregate calls.
    over: Option<Over>,
}

impl Lower<'_> {
    fn expr(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Literal(l) => literal(l),
            ExprKind::Column { name, side } => match side {
                Some(pipec_check::ir::Side::Left) => format!("l.{}", ident(name)),
                Some(pipec_check::ir::Side::Right) => format!("r.{}", ident(name)),
                None => ident(name),
            },
            ExprKind::Param(p) => match p {
                RunParam::Ds => format!("DATE {}", string(&self.run.ds)),
                RunParam::Start => format!("TIMESTAMP {}", string(&self.run.start)),
                RunParam::End => format!("TIMESTAMP {}", string(&self.run.end)),
            },
            ExprKind::Call { func, kind, args } => self.call(*func, *kind, args, e.ty),
            ExprKind::Unary(UnaryOp::Neg, x) => format!("(-{})", self.expr(x)),
            ExprKind::Unary(UnaryOp::Not, x) => format!("(NOT {})", self.expr(x)),
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                match op {
                    BinaryOp::Coalesce => format!("COALESCE({a}, {b})"),
                    BinaryOp::Div => format!("(CAST({a} AS DOUBLE) / NULLIF({b}, 0))"),
                    _ => {
                        let sym = match op {
                            BinaryOp::Or => "OR",
                            BinaryOp::And => "AND",
                            BinaryOp::Eq => "=",
                            BinaryOp::Ne => "<>",
                            BinaryOp::Lt => "<",
                            BinaryOp::Le => "<=",
                            BinaryOp::Gt => ">",
                            BinaryOp::Ge => ">=",
                            BinaryOp::Add => "+",
                            BinaryOp::Sub => "-",
                            BinaryOp::Mul => "*",
                            BinaryOp::Rem => "%",
                            _ => "||",
                        };
                        format!("({a} {sym} {b})")
                    }
                }
            }
            ExprKind::Cast(x, t) => format!("CAST({} AS {})", self.expr(x), type_sql(*t)),
            ExprKind::IsNull { value, negated } => {
                format!(
                    "({} IS {}NULL)",
                    self.expr(value),
                    if *negated { "NOT " } else { "" }
                )
            }
            ExprKind::InList(x, list) => {
                let items: Vec<String> = list.iter().map(|i| self.expr(i)).collect();
                format!("({} IN ({}))", self.expr(x), items.join(", "))
            }
            ExprKind::Case { arms, otherwise } => {
                let mut s = String::from("CASE");
                for (c, v) in arms {
                    s.push_str(&format!(" WHEN {} THEN {}", self.expr(c), self.expr(v)));
                }
                if let Some(o) = otherwise {
                    s.push_str(&format!(" ELSE {}", self.expr(o)));
                }
                s.push_str(" END");
                s
            }
        }
    }

    fn call(&self, func: Builtin, kind: FnKind, args: &[Expr], ty: Type) -> String {
        let a: Vec<String> = args.iter().map(|x| self.expr(x)).collect();
        let body = fill(
            templates(func).get(self.dialect),
            self.dialect,
            args,
            &a,
            ty,
        );
        let Some(over) = &self.over else {
            return body;
        };
        if kind == FnKind::Scalar {
            return body;
        }
        let framed =
            kind == FnKind::Aggregate || matches!(func, Builtin::FirstValue | Builtin::LastValue);
        let frame = match (framed, &over.frame) {
            (true, Some(f)) => Some(frame_sql(f)),
            (true, None) if kind == FnKind::Window => {
                Some("ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING".to_string())
            }
            _ => None,
        };
        match frame {
            Some(f) if over.spec.is_empty() => format!("{body} OVER ({f})"),
            Some(f) => format!("{body} OVER ({} {f})", over.spec),
            None => format!("{body} OVER ({})", over.spec),
        }
    }

    fn sort(&self, keys: &[SortKey]) -> String {
        keys.iter()
            .map(|k| {
                format!(
                    "{} {} NULLS LAST",
                    self.expr(&k.value),
                    if k.descending { "DESC" } else { "ASC" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Lowers one expression (outside any window) with run parameters from `run`.
pub fn expr(e: &Expr, run: &Interval) -> String {
    Lower {
        run,
        dialect: Dialect::DuckDb,
        over: None,
    }
    .expr(e)
}

fn columns(schema: &Schema) -> String {
    schema
        .columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Expands an SQL escape hatch: `{relation}` → its table, `{ds}` → the quoted run value.
pub fn sql_template(
    sql: &str,
    tables: &dyn Tables,
    run: &Interval,
    relations: &[String],
) -> String {
    run.expand(sql, |name| {
        if relations.iter().any(|r| r == name) {
            Some(tables.table(name))
        } else {
            run.placeholder(name).map(|v| string(&v))
        }
    })
}

/// Lowers a transform to one `SELECT` (a chain of CTEs). `head_schema` is the schema of the head.
pub fn transform(
    t: &Transform,
    head_schema: &Schema,
    tables: &dyn Tables,
    run: &Interval,
) -> String {
    let lower = Lower {
        run,
        dialect: Dialect::DuckDb,
        over: None,
    };
    let head = match &t.head {
        Head::Relation(name) => format!(
            "SELECT {} FROM {}",
            columns(head_schema),
            tables.table(name)
        ),
        Head::Sql { sql, refs } => format!(
            "SELECT * FROM ({}) AS q",
            sql_template(sql, tables, run, refs)
        ),
    };
    let mut layers: Vec<String> = vec![head];
    let mut prev_schema = head_schema.clone();
    let mut i = 0;
    while i < t.steps.len() {
        let step = &t.steps[i];
        let prev = format!("s{}", layers.len() - 1);
        match &step.kind {
            StepKind::Filter(c) => {
                layers.push(format!("SELECT * FROM {prev} WHERE {}", lower.expr(c)))
            }
            StepKind::Derive(assigns) => {
                let mut schema = prev_schema.clone();
                for (name, e) in assigns {
                    let from = format!("s{}", layers.len() - 1);
                    layers.push(column_layer(&mut schema, &from, name, lower.expr(e), e));
                }
            }
            StepKind::Select(items) => {
                let cols: Vec<String> = items
                    .iter()
                    .map(|(n, e)| format!("{} AS {}", lower.expr(e), ident(n)))
                    .collect();
                layers.push(format!("SELECT {} FROM {prev}", cols.join(", ")));
            }
            StepKind::Join {
                kind,
                right,
                on,
                right_columns,
            } => {
                let kw = match kind {
                    JoinKind::Inner => "INNER JOIN",
                    JoinKind::Left => "LEFT JOIN",
                    JoinKind::Right => "RIGHT JOIN",
                    JoinKind::Full => "FULL OUTER JOIN",
                };
                let outer_left = matches!(kind, JoinKind::Right | JoinKind::Full);
                let shared = shared_keys(on);
                let mut cols: Vec<String> = prev_schema
                    .columns
                    .iter()
                    .map(|c| {
                        if outer_left && shared.contains(&c.name) {
                            format!("COALESCE(l.{0}, r.{0}) AS {0}", ident(&c.name))
                        } else {
                            format!("l.{}", ident(&c.name))
                        }
                    })
                    .collect();
                cols.extend(right_columns.iter().map(|c| format!("r.{}", ident(c))));
                layers.push(format!(
                    "SELECT {} FROM {prev} AS l {kw} {} AS r ON {}",
                    cols.join(", "),
                    tables.table(right),
                    lower.expr(on)
                ));
            }
            StepKind::Group { keys, aggregates } => {
                let mut cols: Vec<String> = keys
                    .iter()
                    .map(|(n, e)| format!("{} AS {}", lower.expr(e), ident(n)))
                    .collect();
                cols.extend(
                    aggregates
                        .iter()
                        .map(|(n, e)| format!("{} AS {}", lower.expr(e), ident(n))),
                );
                let group = if keys.is_empty() {
                    String::new()
                } else {
                    format!(
                        " GROUP BY {}",
                        keys.iter()
                            .map(|(_, e)| lower.expr(e))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                layers.push(format!("SELECT {} FROM {prev}{group}", cols.join(", ")));
            }
            StepKind::Sort(keys) => {
                let limit = match t.steps.get(i + 1).map(|s| &s.kind) {
                    Some(StepKind::Take(n)) => {
                        i += 1;
                        format!(" LIMIT {n}")
                    }
                    _ => String::new(),
                };
                layers.push(format!(
                    "SELECT * FROM {prev} ORDER BY {}{limit}",
                    lower.sort(keys)
                ));
            }
            StepKind::Take(n) => layers.push(format!("SELECT * FROM {prev} LIMIT {n}")),
            StepKind::Distinct => layers.push(format!("SELECT DISTINCT * FROM {prev}")),
            StepKind::Union(other) => {
                let cols = columns(&step.schema);
                layers.push(format!(
                    "SELECT {cols} FROM {prev} UNION ALL SELECT {cols} FROM {}",
                    tables.table(other)
                ));
            }
            StepKind::Window {
                partition,
                order,
                frame,
                functions,
            } => {
                let mut over = String::new();
                if !partition.is_empty() {
                    over.push_str("PARTITION BY ");
                    over.push_str(
                        &partition
                            .iter()
                            .map(|p| lower.expr(p))
                            .collect::<Vec<_>>()
                            .join(", "),
                    );
                }
                if !order.is_empty() {
                    if !partition.is_empty() {
                        over.push(' ');
                    }
                    over.push_str("ORDER BY ");
                    over.push_str(&lower.sort(order));
                }
                let wl = Lower {
                    run,
                    dialect: lower.dialect,
                    over: Some(Over {
                        spec: over,
                        frame: *frame,
                    }),
                };
                let mut schema = prev_schema.clone();
                for (name, e) in functions {
                    let from = format!("s{}", layers.len() - 1);
                    layers.push(column_layer(&mut schema, &from, name, wl.expr(e), e));
                }
            }
        }
        prev_schema = t.steps[i].schema.clone();
        i += 1;
    }
    let last = layers.pop().expect("at least the head");
    if layers.is_empty() {
        return last;
    }
    let ctes: Vec<String> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| format!("s{i} AS ({l})"))
        .collect();
    format!("WITH {}\n{last}", ctes.join(",\n"))
}

/// A layer that adds column `name` (or replaces it where it stands); updates `schema`. One layer
/// per column, so later columns of the same step can read earlier ones.
fn column_layer(schema: &mut Schema, from: &str, name: &str, sql: String, e: &Expr) -> String {
    let new_col = format!("{sql} AS {}", ident(name));
    let mut cols: Vec<String> = schema
        .columns
        .iter()
        .map(|c| {
            if c.name == name {
                new_col.clone()
            } else {
                ident(&c.name)
            }
        })
        .collect();
    if schema.get(name).is_none() {
        cols.push(new_col);
        schema.columns.push(pipec_check::ir::Column {
            name: name.to_string(),
            ty: e.ty,
            nullable: e.nullable,
        });
    }
    format!("SELECT {} FROM {from}", cols.join(", "))
}

/// Columns joined with `l.x = r.x` for the same name (kept once in the output).
fn shared_keys(on: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    on.walk(&mut |e| {
        if let ExprKind::Binary(BinaryOp::Eq, a, b) = &e.kind {
            if let (
                ExprKind::Column { name: x, side: sx },
                ExprKind::Column { name: y, side: sy },
            ) = (&a.kind, &b.kind)
            {
                if x == y && sx != sy {
                    out.push(x.clone());
                }
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers_and_literals() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(string("it's {{x}}\n"), "'it''s {{x}}\n'");
    }

    fn col(name: &str, ty: Type, nullable: bool) -> Expr {
        Expr {
            kind: ExprKind::Column {
                name: name.into(),
                side: None,
            },
            ty,
            nullable,
        }
    }

    fn call(func: Builtin, args: Vec<Expr>, ty: Type) -> Expr {
        Expr {
            kind: ExprKind::Call {
                func,
                kind: func.kind(),
                args,
            },
            ty,
            nullable: true,
        }
    }

    #[test]
    fn builtins_render_their_definitions_on_duckdb() {
        let run = Interval::daily("2024-01-01", "2024-01-02");
        let s = col("s", Type::String, true);
        let n = col("n", Type::Int, false);
        let t = col("t", Type::Timestamp, false);
        // concat is null if any argument is: DuckDB's concat() would skip the null.
        assert_eq!(
            expr(
                &call(Builtin::Concat, vec![s.clone(), n.clone()], Type::String),
                &run
            ),
            "(CAST(\"s\" AS VARCHAR) || CAST(\"n\" AS VARCHAR))"
        );
        assert_eq!(
            expr(
                &call(Builtin::DayOfWeek, vec![t.clone()], Type::BigInt),
                &run
            ),
            "isodow(\"t\")"
        );
        assert_eq!(
            expr(
                &call(
                    Builtin::DaysBetween,
                    vec![t.clone(), t.clone()],
                    Type::BigInt
                ),
                &run
            ),
            "date_diff('day', CAST(\"t\" AS DATE), CAST(\"t\" AS DATE))"
        );
        assert_eq!(
            expr(&call(Builtin::Round, vec![n.clone()], Type::Int), &run),
            "round(\"n\", 0)"
        );
        assert_eq!(
            expr(&call(Builtin::Count, vec![], Type::BigInt), &run),
            "count(*)"
        );
        let pattern = Expr {
            kind: ExprKind::Literal(Literal::Str("%d.%m.%Y 100%%".into())),
            ty: Type::String,
            nullable: false,
        };
        assert_eq!(
            expr(
                &call(Builtin::FormatTime, vec![t, pattern], Type::String),
                &run
            ),
            "strftime(CAST(\"t\" AS TIMESTAMP), '%d.%m.%Y 100%%')"
        );
        // An argument's text is never read as a template: `{0}` in a string stays as written.
        let braces = Expr {
            kind: ExprKind::Literal(Literal::Str("{0}{*}".into())),
            ty: Type::String,
            nullable: false,
        };
        assert_eq!(
            expr(&call(Builtin::Upper, vec![braces], Type::String), &run),
            "upper('{0}{*}')"
        );
    }

    #[test]
    fn every_builtin_has_a_duckdb_rendering_using_only_its_arguments() {
        for b in Builtin::ALL {
            if let Render::T(t) = templates(*b).get(Dialect::DuckDb) {
                assert!(!t.contains("{}"), "{b}: `{{}}` is only for Each");
                assert_eq!(t.matches('{').count(), t.matches('}').count(), "{b}: {t}");
            }
        }
    }

    #[test]
    fn expands_templates() {
        let run = Interval::daily("2024-01-02", "2024-01-03");
        assert_eq!(
            run.expand("data/{ds}/{yyyy}{mm}{dd}-{ds_nodash}.csv", |_| None),
            "data/2024-01-02/20240102-20240102.csv"
        );
        assert_eq!(
            run.expand("{{literal}} {unknown}", |_| None),
            "{literal} {unknown}"
        );
    }

    fn param(p: RunParam, run: &Interval) -> String {
        let ty = match p {
            RunParam::Ds => Type::Date,
            _ => Type::Timestamp,
        };
        let e = Expr {
            kind: ExprKind::Param(p),
            ty,
            nullable: false,
        };
        expr(&e, run)
    }

    #[test]
    fn zoned_intervals_give_local_placeholders_and_utc_bounds() {
        use pipec_check::ir::IntervalRule;
        use pipec_check::schedule::Rule;
        let d = |s: &str| s.parse().unwrap();
        let seoul = Rule::new(&IntervalRule::Slots {
            minutes: 1440,
            tz: "Asia/Seoul".into(),
        })
        .unwrap();
        let run = Interval::from(&seoul.day(d("2024-01-01"))[0]);
        assert_eq!(run.expand("{ds}/{hh}", |_| None), "2024-01-01/00");
        assert_eq!(param(RunParam::Ds, &run), "DATE '2024-01-01'");
        assert_eq!(
            param(RunParam::Start, &run),
            "TIMESTAMP '2023-12-31 15:00:00'"
        );
        assert_eq!(
            param(RunParam::End, &run),
            "TIMESTAMP '2024-01-01 15:00:00'"
        );
        assert_eq!(
            run.expand("{start}|{end}", |_| None),
            "2023-12-31 15:00:00|2024-01-01 15:00:00"
        );
        let hourly = Rule::new(&IntervalRule::Slots {
            minutes: 60,
            tz: "America/New_York".into(),
        })
        .unwrap();
        let paths: Vec<String> = hourly
            .day(d("2024-03-10"))
            .iter()
            .map(|i| Interval::from(i).expand("{ds}/{hh}.csv", |_| None))
            .collect();
        assert_eq!(paths.len(), 23);
        assert_eq!(
            &paths[..3],
            [
                "2024-03-10/00.csv",
                "2024-03-10/01.csv",
                "2024-03-10/03.csv"
            ]
        );
        assert_eq!(paths[22], "2024-03-10/23.csv");
    }
}
