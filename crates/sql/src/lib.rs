//! Lowering of the typed IR to SQL text in DuckDB's dialect.
//!
//! Every identifier is quoted and every literal escaped here, in one place: a column named `a"b`
//! or a string holding quotes, newlines and `{{ }}` round-trips unchanged.

use pipec_check::ir::{
    Expr, ExprKind, FnKind, Head, RunParam, Schema, SortKey, StepKind, Transform, Type,
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

/// The run interval whose values replace `@ds`, `@start` and `@end`.
#[derive(Debug, Clone)]
pub struct Interval {
    /// `YYYY-MM-DD`.
    pub ds: String,
    /// `YYYY-MM-DD HH:MM:SS`, inclusive.
    pub start: String,
    /// `YYYY-MM-DD HH:MM:SS`, exclusive.
    pub end: String,
}

impl Interval {
    /// The daily interval of `ds` (`YYYY-MM-DD`).
    pub fn daily(ds: &str, next: &str) -> Self {
        Interval {
            ds: ds.to_string(),
            start: format!("{ds} 00:00:00"),
            end: format!("{next} 00:00:00"),
        }
    }

    /// The value of a path or SQL template placeholder.
    pub fn placeholder(&self, name: &str) -> Option<String> {
        let d = &self.ds;
        Some(match name {
            "ds" => d.clone(),
            "ds_nodash" => d.replace('-', ""),
            "yyyy" => d[0..4].to_string(),
            "mm" => d[5..7].to_string(),
            "dd" => d[8..10].to_string(),
            "hh" => self.start[11..13].to_string(),
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

struct Lower<'a> {
    run: &'a Interval,
    /// Inside a window step: the OVER clause for window and aggregate calls.
    over: Option<String>,
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
            ExprKind::Call { name, kind, args } => self.call(name, *kind, args),
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

    fn call(&self, name: &str, kind: FnKind, args: &[Expr]) -> String {
        let a: Vec<String> = args.iter().map(|x| self.expr(x)).collect();
        let ts = |i: usize| format!("CAST({} AS TIMESTAMP)", a[i]);
        let between = |div: &str| format!("((epoch({}) - epoch({})) / {div})", ts(1), ts(0));
        let body = match name {
            "substr" => format!("substring({})", a.join(", ")),
            "if" => format!("CASE WHEN {} THEN {} ELSE {} END", a[0], a[1], a[2]),
            "date_trunc" => format!("CAST(date_trunc({}, {}) AS TIMESTAMP)", a[0], a[1]),
            "day_of_week" => format!("dayofweek({})", a[0]),
            "days_between" => format!(
                "date_diff('day', CAST({} AS DATE), CAST({} AS DATE))",
                a[0], a[1]
            ),
            "hours_between" => between("3600.0"),
            "minutes_between" => between("60.0"),
            "seconds_between" => between("1.0"),
            "json_get" => format!("json_extract_string({}, {})", a[0], a[1]),
            "round" if a.len() == 1 => format!("round({}, 0)", a[0]),
            "count" if a.is_empty() => "count(*)".into(),
            "count_distinct" => format!("count(DISTINCT {})", a[0]),
            "count_if" => format!("count(*) FILTER (WHERE {})", a[0]),
            "stddev" => format!("stddev_samp({})", a[0]),
            "length" => format!("length({})", a[0]),
            _ => format!("{name}({})", a.join(", ")),
        };
        match (&self.over, kind) {
            (Some(over), FnKind::Window | FnKind::Aggregate) => {
                if matches!(name, "first_value" | "last_value") {
                    let frame = over.trim_end_matches(')');
                    format!("{body} OVER {frame} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)")
                } else {
                    format!("{body} OVER {over}")
                }
            }
            _ => body,
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
    Lower { run, over: None }.expr(e)
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
    let lower = Lower { run, over: None };
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
                functions,
            } => {
                let mut over = String::from("(");
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
                over.push(')');
                let wl = Lower {
                    run,
                    over: Some(over),
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
}
