//! Lowering of the typed IR to SQL text, in one generator for every dialect.
//!
//! Dialect differences are data: [`Dialect`]'s methods (quoting, type names, literals) and the
//! builtin table ([`templates`], one column per dialect). Run values (`@ds`, `@start`, `@end`,
//! path and SQL placeholders) render as literals for `pipec run` or as variables for emitted
//! artifacts ([`Params`]). Every identifier is quoted and every literal escaped here, in one
//! place: a column named `a"b` or a string holding quotes, newlines, `{{ }}`, `${}` or `%`
//! round-trips unchanged on every engine.

pub mod checks;
pub mod sinks;

use pipec_check::functions::{literal_arg, parse_time_pattern, PatternPiece};
use pipec_check::ir::{
    Builtin, Expr, ExprKind, FnKind, Frame, FrameBound, Head, RunParam, Schema, SortKey, StepKind,
    Transform, Type,
};
use pipec_syntax::ast::{BinaryOp, JoinKind, Literal, UnaryOp};

/// A quoted DuckDB identifier: `a"b` → `"a""b"`.
pub fn ident(name: &str) -> String {
    Dialect::DuckDb.ident(name)
}

/// A quoted DuckDB string literal: `it's` → `'it''s'`.
pub fn string(value: &str) -> String {
    Dialect::DuckDb.string(value)
}

/// A qualified DuckDB table name: `mart.daily` → `"mart"."daily"`.
pub fn table(schema: &str, name: &str) -> String {
    Dialect::DuckDb.table(schema, name)
}

/// The DuckDB type for a pipec type.
pub fn type_sql(t: Type) -> String {
    Dialect::DuckDb.type_sql(t)
}

/// Marks a run variable in SQL rendered with [`Params::Vars`] for DuckDB and PostgreSQL:
/// `\u{1}ds\u{1}`. An emitter replaces each marked name with the run's value at run time; string
/// literals never contain the mark raw ([`Dialect::string`] writes it as `chr(1)`), so user text
/// can never become a variable.
pub const MARK: char = '\u{1}';

/// `sql` with its run-value marks (`\u{1}ds\u{1}`) written as `{ds}`, for people to read
/// (`pipec show --sql`, `pipec docs`); never for execution.
pub fn readable_marks(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut open = false;
    for c in sql.chars() {
        if c == MARK {
            out.push(if open { '}' } else { '{' });
            open = !open;
        } else {
            out.push(c);
        }
    }
    out
}

/// A piece of a quoted template: text, or a run variable filled in at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// A run variable (`ds`, `start`, ...).
    Var(String),
}

/// Splits a path or SQL template into text and placeholders: `{{`/`}}` are literal braces,
/// `{name}` is `var(name)` when that gives a piece, otherwise kept as written.
pub fn template_pieces(template: &str, mut var: impl FnMut(&str) -> Option<Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        text.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            text.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('{') {
            if let Some(close) = tail.find('}') {
                match var(tail[1..close].trim()) {
                    Some(Piece::Text(t)) => text.push_str(&t),
                    Some(v) => {
                        if !text.is_empty() {
                            out.push(Piece::Text(std::mem::take(&mut text)));
                        }
                        out.push(v);
                    }
                    None => text.push_str(&tail[..=close]),
                }
                rest = &tail[close + 1..];
                continue;
            }
        }
        text.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    text.push_str(rest);
    if !text.is_empty() || out.is_empty() {
        out.push(Piece::Text(text));
    }
    out
}

/// An Athena string expression: text pieces as literals (`'` doubled, [`MARK`] as `chr(1)`),
/// variables as bare marks that [`parameters`] turns into `?`, joined with `||`.
fn athena_quote(pieces: &[Piece]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for p in pieces {
        match p {
            Piece::Var(name) => parts.push(Dialect::Athena.var(name)),
            Piece::Text(t) => {
                for (i, chunk) in t.split(MARK).enumerate() {
                    if i > 0 {
                        parts.push("chr(1)".into());
                    }
                    if !chunk.is_empty() || (i == 0 && t.is_empty()) {
                        parts.push(format!("'{}'", chunk.replace('\'', "''")));
                    }
                }
            }
        }
    }
    match parts.len() {
        0 => "''".into(),
        1 => parts.remove(0),
        _ => format!("({})", parts.join(" || ")),
    }
}

/// Turns the run-variable marks of Athena SQL (rendered with [`Params::Vars`]) into Athena's
/// `?` execution-parameter placeholders: the SQL and the variable names in placeholder order.
/// A mark inside a string literal becomes a concatenated `?` (`'a/' || ? || '.csv'`, the literal
/// in parentheses); marks inside quoted identifiers are left as they are (a parameter cannot
/// name a table).
pub fn parameters(sql: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(sql.len());
    let mut names = Vec::new();
    // Inside `'...'`: where the literal starts in `out`, and whether it held a mark.
    let mut literal: Option<(usize, bool)> = None;
    let mut in_ident = false;
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            MARK if !in_ident => {
                let rest = &sql[i + 1..];
                let Some(end) = rest.find(MARK) else {
                    out.push(c);
                    continue;
                };
                names.push(rest[..end].to_string());
                let close = i + 1 + end;
                while chars.peek().is_some_and(|(j, _)| *j <= close) {
                    chars.next();
                }
                match &mut literal {
                    Some((_, marked)) => {
                        *marked = true;
                        out.push_str("' || ? || '");
                    }
                    None => out.push('?'),
                }
            }
            '\'' if !in_ident => {
                if let Some((start, marked)) = literal {
                    if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                        chars.next();
                        out.push_str("''");
                        continue;
                    }
                    out.push('\'');
                    if marked {
                        out.insert(start, '(');
                        out.push(')');
                    }
                    literal = None;
                } else {
                    literal = Some((out.len(), false));
                    out.push('\'');
                }
            }
            '"' if literal.is_none() => {
                in_ident = !in_ident;
                out.push(c);
            }
            c => out.push(c),
        }
    }
    (out, names)
}

/// A value about to become text in Athena, written as DuckDB (`pipec run`) writes it: Trino
/// casts a double to `7.5E0` (Java's `7.5` through `format`) and a `TIMESTAMP(6)` with six
/// fraction digits (trailing zeros and a bare point dropped).
fn athena_text(sql: &str, ty: Type) -> String {
    match ty {
        Type::Float => format!("CASE WHEN {sql} IS NULL THEN NULL ELSE format('%s', {sql}) END"),
        Type::Timestamp => {
            let text = format!("CAST(CAST({sql} AS TIMESTAMP(6)) AS VARCHAR)");
            format!("CASE WHEN strpos({text}, '.') > 0 THEN regexp_replace(regexp_replace({text}, '0+$', ''), '\\.$', '') ELSE {text} END")
        }
        _ => sql.to_string(),
    }
}

/// Where run values come from.
#[derive(Debug, Clone, Copy)]
pub enum Params<'a> {
    /// Literals of one interval (`pipec run`).
    Literal(&'a Interval),
    /// Variables filled in by the target at run time: `${ds}` in Spark SQL (`--hivevar`), a
    /// [`MARK`]ed name in DuckDB and PostgreSQL (the Airflow task substitutes it).
    Vars,
}

/// How to render: a dialect and where run values come from.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The SQL dialect.
    pub dialect: Dialect,
    /// Run values.
    pub params: Params<'a>,
}

impl<'a> Ctx<'a> {
    /// DuckDB with the literals of `run`, as `pipec run` executes it.
    pub fn duckdb(run: &'a Interval) -> Self {
        Ctx {
            dialect: Dialect::DuckDb,
            params: Params::Literal(run),
        }
    }

    /// `dialect` with run values as variables, for emitted artifacts.
    pub fn vars(dialect: Dialect) -> Ctx<'static> {
        Ctx {
            dialect,
            params: Params::Vars,
        }
    }

    /// The text of a run value (`ds`, `start`, `end`, `hh`, `yyyy`, ...): the value itself or
    /// the dialect's variable reference. `None` for an unknown name.
    pub fn value(&self, name: &str) -> Option<String> {
        match self.params {
            Params::Literal(run) => run.placeholder(name),
            Params::Vars => Interval::NAMES
                .contains(&name)
                .then(|| self.dialect.var(name)),
        }
    }

    /// A run value as a piece: its text for literals, a variable otherwise.
    fn piece(&self, name: &str) -> Option<Piece> {
        match self.params {
            Params::Literal(run) => run.placeholder(name).map(Piece::Text),
            Params::Vars => Interval::NAMES
                .contains(&name)
                .then(|| Piece::Var(name.to_string())),
        }
    }

    /// A path template (`data/{ds}.csv`) as a string literal of the dialect, placeholders filled
    /// with run values or variables; `{{`/`}}` are literal braces.
    pub fn path(&self, template: &str) -> String {
        self.dialect
            .quote(&template_pieces(template, |name| self.piece(name)))
    }

    /// One expression (outside any window).
    pub fn expr(&self, e: &Expr) -> String {
        Lower {
            ctx: *self,
            over: None,
        }
        .expr(e)
    }

    /// A transform as one `SELECT` (a chain of CTEs); `head_schema` is the schema of its head.
    pub fn transform(&self, t: &Transform, head_schema: &Schema, tables: &dyn Tables) -> String {
        lower_transform(*self, t, head_schema, tables)
    }

    /// The builtins used by `t` that this dialect cannot render, each with the reason.
    pub fn unsupported(&self, t: &Transform) -> Vec<(Builtin, &'static str)> {
        let mut out: Vec<(Builtin, &'static str)> = Vec::new();
        let mut visit = |e: &Expr| {
            e.walk(&mut |x| {
                if let ExprKind::Call { func, .. } = &x.kind {
                    if let Render::No(why) = templates(*func).get(self.dialect) {
                        if !out.iter().any(|(b, _)| b == func) {
                            out.push((*func, why));
                        }
                    }
                }
            })
        };
        for step in &t.steps {
            step_exprs(&step.kind, &mut visit);
        }
        out
    }
}

/// Calls `f` on every top-level expression of a step.
pub fn step_exprs(step: &StepKind, f: &mut dyn FnMut(&Expr)) {
    let pairs =
        |v: &Vec<(String, Expr)>, f: &mut dyn FnMut(&Expr)| v.iter().for_each(|(_, e)| f(e));
    match step {
        StepKind::Filter(e) => f(e),
        StepKind::Derive(v) | StepKind::Select(v) => pairs(v, f),
        StepKind::Join { on, .. } => f(on),
        StepKind::Group { keys, aggregates } => {
            pairs(keys, f);
            pairs(aggregates, f);
        }
        StepKind::Sort(keys) => keys.iter().for_each(|k| f(&k.value)),
        StepKind::Take(_) | StepKind::Distinct | StepKind::Union(_) => {}
        StepKind::Window {
            partition,
            order,
            functions,
            ..
        } => {
            partition.iter().for_each(&mut *f);
            order.iter().for_each(|k| f(&k.value));
            pairs(functions, f);
        }
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
    /// The placeholder names of paths and SQL templates.
    pub const NAMES: &'static [&'static str] =
        &["ds", "ds_nodash", "yyyy", "mm", "dd", "hh", "start", "end"];

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
        template_pieces(template, |name| {
            other(name)
                .or_else(|| self.placeholder(name))
                .map(Piece::Text)
        })
        .into_iter()
        .map(|p| match p {
            Piece::Text(t) | Piece::Var(t) => t,
        })
        .collect()
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

/// A literal in DuckDB's SQL.
pub fn literal(l: &Literal) -> String {
    Dialect::DuckDb.literal(l)
}

/// The SQL dialects. A dialect is a column of [`templates`] plus the methods below: quoting,
/// type names, literals, run variables and its time-pattern language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// DuckDB, as `pipec run` executes it (and Airflow's DuckDB profile).
    DuckDb,
    /// Spark SQL 4 with ANSI mode on and `spark.sql.timestampType=TIMESTAMP_NTZ`.
    Spark,
    /// PostgreSQL (Airflow's PostgreSQL profile).
    Postgres,
    /// Amazon Athena engine version 3 (Trino), as the SAM target runs it on Iceberg tables.
    Athena,
}

impl Dialect {
    /// Every dialect.
    pub const ALL: &'static [Dialect] = &[
        Dialect::DuckDb,
        Dialect::Spark,
        Dialect::Postgres,
        Dialect::Athena,
    ];

    /// The dialect's name in diagnostics and docs.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::DuckDb => "DuckDB",
            Dialect::Spark => "Spark SQL",
            Dialect::Postgres => "PostgreSQL",
            Dialect::Athena => "Athena",
        }
    }

    /// A quoted identifier: `"a""b"` (DuckDB, PostgreSQL), `` `a``b` `` (Spark).
    pub fn ident(self, name: &str) -> String {
        let mut out = String::with_capacity(name.len() + 2);
        self.push_ident(&mut out, name);
        out
    }

    /// Appends [`Dialect::ident`] of `name` to `out` (no allocation of its own: emitting a
    /// large project quotes names hundreds of thousands of times).
    pub fn push_ident(self, out: &mut String, name: &str) {
        let q = match self {
            Dialect::Spark => '`',
            _ => '"',
        };
        out.push(q);
        for (i, part) in name.split(q).enumerate() {
            if i > 0 {
                out.push(q);
                out.push(q);
            }
            out.push_str(part);
        }
        out.push(q);
    }

    /// A qualified table name.
    pub fn table(self, schema: &str, name: &str) -> String {
        format!("{}.{}", self.ident(schema), self.ident(name))
    }

    /// A string literal holding exactly `value`. DuckDB and PostgreSQL double quotes and spell
    /// [`MARK`] as `chr(1)`; Spark escapes with backslashes and writes `$` as `\u0024` and `;` as
    /// `\u003B`, so that neither its variable substitution nor `spark-sql`'s statement splitter
    /// ever sees user text.
    pub fn string(self, value: &str) -> String {
        // Text that no dialect escapes (no quote, backslash, `$`, `;` or control character, so
        // no mark either) is the same literal everywhere: written in one allocation.
        if !value
            .bytes()
            .any(|b| matches!(b, b'\'' | b'\\' | b'$' | b';') || b < 0x20)
        {
            let mut out = String::with_capacity(value.len() + 2);
            out.push('\'');
            out.push_str(value);
            out.push('\'');
            return out;
        }
        self.quote(&[Piece::Text(value.to_string())])
    }

    /// A string literal of text pieces and run variables: each text piece exactly as written,
    /// each variable as the dialect's reference (filled in by the target at run time).
    pub fn quote(self, pieces: &[Piece]) -> String {
        if self == Dialect::Athena {
            return athena_quote(pieces);
        }
        let len: usize = pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) | Piece::Var(t) => t.len() + 4,
            })
            .sum();
        let mut out = String::with_capacity(len + 2);
        out.push('\'');
        let mut concat = false;
        for p in pieces {
            match p {
                Piece::Var(name) => out.push_str(&self.var(name)),
                // Every character escaped is ASCII: runs of other bytes are copied whole.
                Piece::Text(value) => {
                    let mut start = 0;
                    for (i, b) in value.bytes().enumerate() {
                        let escaped = match (self, b) {
                            (Dialect::Spark, b'\'') => "\\'",
                            (Dialect::Spark, b'\\') => "\\\\",
                            (Dialect::Spark, b'$') => "\\u0024",
                            (Dialect::Spark, b';') => "\\u003B",
                            (Dialect::Spark, b'\n') => "\\n",
                            (Dialect::Spark, b'\r') => "\\r",
                            (Dialect::Spark, b'\t') => "\\t",
                            (Dialect::Spark, 0..=0x1f) => "",
                            (Dialect::Spark, _) => continue,
                            (_, b'\'') => "''",
                            (_, b) if b == MARK as u8 => {
                                concat = true;
                                "' || chr(1) || '"
                            }
                            _ => continue,
                        };
                        out.push_str(&value[start..i]);
                        start = i + 1;
                        if escaped.is_empty() {
                            out.push_str(&format!("\\u{:04X}", b));
                        } else {
                            out.push_str(escaped);
                        }
                    }
                    out.push_str(&value[start..]);
                }
            }
        }
        out.push('\'');
        if concat {
            format!("({out})")
        } else {
            out
        }
    }

    /// A reference to run variable `name` inside SQL text.
    pub fn var(self, name: &str) -> String {
        match self {
            Dialect::Spark => format!("${{{name}}}"),
            _ => format!("{MARK}{name}{MARK}"),
        }
    }

    /// `CAST(c AS type) AS c, ...` for every column of `schema`: rows shaped as declared.
    pub fn cast_columns(self, schema: &Schema) -> String {
        let mut out = String::new();
        for (i, c) in schema.columns.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let name = self.ident(&c.name);
            out.push_str("CAST(");
            out.push_str(&name);
            out.push_str(" AS ");
            out.push_str(&self.type_sql(c.ty));
            out.push_str(") AS ");
            out.push_str(&name);
        }
        out
    }

    /// The SQL type for a pipec type.
    pub fn type_sql(self, t: Type) -> String {
        use Dialect::*;
        match (self, t) {
            (_, Type::Int) => "INTEGER".into(),
            (_, Type::BigInt) => "BIGINT".into(),
            (Postgres, Type::Float) => "DOUBLE PRECISION".into(),
            (_, Type::Float) => "DOUBLE".into(),
            (Postgres, Type::Decimal(p, s)) => format!("NUMERIC({p}, {s})"),
            (_, Type::Decimal(p, s)) => format!("DECIMAL({p}, {s})"),
            (_, Type::Bool) => "BOOLEAN".into(),
            (DuckDb, Type::String | Type::Null) => "VARCHAR".into(),
            (Spark, Type::String | Type::Null | Type::Json) => "STRING".into(),
            (Postgres, Type::String | Type::Null) => "TEXT".into(),
            (Athena, Type::String | Type::Null | Type::Json) => "VARCHAR".into(),
            (Athena, Type::Timestamp) => "TIMESTAMP(6)".into(),
            (Athena, Type::Interval) => "INTERVAL DAY TO SECOND".into(),
            (_, Type::Date) => "DATE".into(),
            (Spark, Type::Timestamp) => "TIMESTAMP_NTZ".into(),
            (_, Type::Timestamp) => "TIMESTAMP".into(),
            (Spark, Type::Interval) => "INTERVAL DAY TO SECOND".into(),
            (_, Type::Interval) => "INTERVAL".into(),
            (DuckDb, Type::Json) => "JSON".into(),
            (Postgres, Type::Json) => "JSONB".into(),
        }
    }

    /// A literal.
    pub fn literal(self, l: &Literal) -> String {
        match l {
            Literal::Int(v) => v.to_string(),
            Literal::Float(v) => format!("CAST({v:?} AS {})", self.type_sql(Type::Float)),
            Literal::Str(s) => self.string(s),
            Literal::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
            Literal::Null => "NULL".into(),
            Literal::Date(d) => format!("DATE {}", self.string(d)),
            Literal::Timestamp(t) => self.timestamp(&self.string(t)),
            Literal::Duration(us) => self.duration(*us),
        }
    }

    /// A timestamp literal from quoted text.
    fn timestamp(self, quoted: &str) -> String {
        match self {
            Dialect::Spark => format!("TIMESTAMP_NTZ {quoted}"),
            _ => format!("TIMESTAMP {quoted}"),
        }
    }

    /// An interval of `us` microseconds.
    fn duration(self, us: i64) -> String {
        match self {
            Dialect::DuckDb => format!("to_microseconds(CAST({us} AS BIGINT))"),
            Dialect::Postgres => format!("(INTERVAL '1 microsecond' * {us})"),
            // Trino's day-to-second intervals hold milliseconds.
            Dialect::Athena => {
                let sign = if us < 0 { "-" } else { "" };
                let ms = (us.unsigned_abs() + 500) / 1000;
                let (secs, millis) = (ms / 1000, ms % 1000);
                let lit = format!("INTERVAL '{secs}.{millis:03}' SECOND");
                if sign.is_empty() {
                    lit
                } else {
                    format!("(-{lit})")
                }
            }
            Dialect::Spark => {
                let sign = if us < 0 { "-" } else { "" };
                let a = us.unsigned_abs();
                let (secs, micros) = (a / 1_000_000, a % 1_000_000);
                let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
                format!("INTERVAL '{sign}{d} {h:02}:{m:02}:{s:02}.{micros:06}' DAY TO SECOND")
            }
        }
    }

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
                // Java's DateTimeFormatter: letters are pattern letters, so text is quoted.
                Dialect::Spark => out.push_str(&match p {
                    PatternPiece::Year => "yyyy".to_string(),
                    PatternPiece::Month => "MM".to_string(),
                    PatternPiece::Day => "dd".to_string(),
                    PatternPiece::Hour => "HH".to_string(),
                    PatternPiece::Minute => "mm".to_string(),
                    PatternPiece::Second => "ss".to_string(),
                    PatternPiece::Text(t) => format!("'{}'", t.replace('\'', "''")),
                }),
                // PostgreSQL's to_char: text in double quotes.
                Dialect::Athena => out.push_str(&match p {
                    PatternPiece::Year => "%Y".to_string(),
                    PatternPiece::Month => "%m".to_string(),
                    PatternPiece::Day => "%d".to_string(),
                    PatternPiece::Hour => "%H".to_string(),
                    PatternPiece::Minute => "%i".to_string(),
                    PatternPiece::Second => "%s".to_string(),
                    PatternPiece::Text(t) => t.replace('%', "%%"),
                }),
                Dialect::Postgres => out.push_str(&match p {
                    PatternPiece::Year => "YYYY".to_string(),
                    PatternPiece::Month => "MM".to_string(),
                    PatternPiece::Day => "DD".to_string(),
                    PatternPiece::Hour => "HH24".to_string(),
                    PatternPiece::Minute => "MI".to_string(),
                    PatternPiece::Second => "SS".to_string(),
                    PatternPiece::Text(t) => {
                        format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\""))
                    }
                }),
            }
        }
        self.string(&out)
    }
}

/// How one builtin is written in one dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    /// A template: `{0}`, `{1}` are arguments; `{1?x}` is argument 1, or `x` when not given;
    /// `{2|pre|post}` is argument 2 between `pre` and `post`, or nothing when not given;
    /// `{*}` is every argument joined with `, `; `{p1}` is argument 1, a literal time pattern,
    /// in the dialect's pattern language; `{ty}` is the SQL type of the result; `{over}` is where
    /// a window call's OVER clause goes when the template wraps the aggregate (else it follows
    /// the whole template).
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
    /// Not expressible in this dialect with pipec's definition; the reason, for diagnostics.
    No(&'static str),
}

/// One builtin's rendering in every dialect: a row of the table, one field per dialect.
#[derive(Debug, Clone, Copy)]
pub struct Templates {
    /// DuckDB.
    pub duckdb: Render,
    /// Spark SQL.
    pub spark: Render,
    /// PostgreSQL.
    pub postgres: Render,
    /// Athena (Trino).
    pub athena: Render,
}

impl Templates {
    /// The rendering for `dialect`.
    pub fn get(&self, dialect: Dialect) -> Render {
        match dialect {
            Dialect::DuckDb => self.duckdb,
            Dialect::Spark => self.spark,
            Dialect::Postgres => self.postgres,
            Dialect::Athena => self.athena,
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
    Templates {
        duckdb,
        spark: spark(b),
        postgres: postgres(b),
        athena: athena(b),
    }
}

/// Amazon Athena engine version 3 (Trino), timestamps as `TIMESTAMP(6)`, session time zone UTC.
fn athena(b: Builtin) -> Render {
    use Builtin as B;
    use Render::T;
    match b {
        B::Lower => T("lower({0})"),
        // Trino upper-cases code point by code point and keeps `ß`; DuckDB (pipec run) gives `ẞ`.
        B::Upper => T("upper(replace({0}, 'ß', 'ẞ'))"),
        // Trino's one-argument trim also strips tabs and newlines; pipec's strips spaces.
        B::Trim => T("trim(BOTH ' ' FROM {0})"),
        B::Length => T("length({0})"),
        B::Substr => T("substr({*})"),
        // Trino's replace of an empty string inserts `to` between characters; DuckDB's keeps `s`.
        B::Replace => T("CASE WHEN {1} = '' THEN {0} ELSE replace({0}, {1}, {2}) END"),
        B::Contains => T("(strpos({0}, {1}) > 0)"),
        B::StartsWith => T("starts_with({0}, {1})"),
        B::EndsWith => T("(substr({0}, length({0}) - length({1}) + 1) = {1})"),
        // Trino's regexp_like finds the pattern anywhere, as DuckDB's regexp_matches.
        B::RegexpMatches => T("regexp_like({0}, {1})"),
        // Trino's split_part gives null past the last piece; pipec gives "".
        B::SplitPart => T("CASE WHEN {0} IS NULL OR {1} IS NULL OR {2} IS NULL THEN NULL ELSE coalesce(split_part({0}, {1}, {2}), '') END"),
        B::Concat => Render::Each {
            open: "(",
            item: "CAST({} AS VARCHAR)",
            sep: " || ",
            close: ")",
        },
        B::Lpad => T("lpad({0}, {1}, {2})"),
        B::Rpad => T("rpad({0}, {1}, {2})"),
        B::Abs => T("abs({0})"),
        // Trino rounds half away from zero (doubles and decimals), as DuckDB does.
        B::Round => T("CAST(round({0}, {1?0}) AS {ty})"),
        B::Floor => T("CAST(floor({0}) AS {ty})"),
        B::Ceil => T("CAST(ceil({0}) AS {ty})"),
        B::Sqrt => T("sqrt(CAST({0} AS DOUBLE))"),
        B::Ln => T("ln(CAST({0} AS DOUBLE))"),
        B::Exp => T("exp(CAST({0} AS DOUBLE))"),
        B::Power => T("power(CAST({0} AS DOUBLE), CAST({1} AS DOUBLE))"),
        // Trino's greatest/least are null when any argument is: skip nulls first.
        B::Greatest => T("array_max(filter(ARRAY[{*}], pipec_v -> pipec_v IS NOT NULL))"),
        B::Least => T("array_min(filter(ARRAY[{*}], pipec_v -> pipec_v IS NOT NULL))"),
        B::Coalesce => T("coalesce({*})"),
        B::Nullif => T("nullif({0}, {1})"),
        B::If => T("CASE WHEN {0} THEN {1} ELSE {2} END"),
        // Trino's weeks start on Monday.
        B::DateTrunc => T("date_trunc({0}, CAST({1} AS TIMESTAMP(6)))"),
        B::Year => T("year({0})"),
        B::Month => T("month({0})"),
        B::Day => T("day({0})"),
        B::Hour => T("hour({0})"),
        // ISO: 1 = Monday ... 7 = Sunday.
        B::DayOfWeek => T("day_of_week({0})"),
        B::DaysBetween => T("date_diff('day', CAST({0} AS DATE), CAST({1} AS DATE))"),
        // Seconds since the epoch of the wall time read in UTC, independent of the session zone.
        B::HoursBetween => T("((to_unixtime(with_timezone(CAST({1} AS TIMESTAMP(6)), 'UTC')) - to_unixtime(with_timezone(CAST({0} AS TIMESTAMP(6)), 'UTC'))) / 3600.0)"),
        B::MinutesBetween => T("((to_unixtime(with_timezone(CAST({1} AS TIMESTAMP(6)), 'UTC')) - to_unixtime(with_timezone(CAST({0} AS TIMESTAMP(6)), 'UTC'))) / 60.0)"),
        B::SecondsBetween => T("(to_unixtime(with_timezone(CAST({1} AS TIMESTAMP(6)), 'UTC')) - to_unixtime(with_timezone(CAST({0} AS TIMESTAMP(6)), 'UTC')))"),
        // Trino has no make_date or make_timestamp: the cast of the text (`yyyy-mm-dd`, zeros added
        // in front, never cut) fails on an impossible date.
        B::MakeDate => T("CAST(substr('000' || CAST({0} AS VARCHAR), length(CAST({0} AS VARCHAR))) || '-' || substr('0' || CAST({1} AS VARCHAR), length(CAST({1} AS VARCHAR))) || '-' || substr('0' || CAST({2} AS VARCHAR), length(CAST({2} AS VARCHAR))) AS DATE)"),
        B::MakeTimestamp => T("CAST(substr('000' || CAST({0} AS VARCHAR), length(CAST({0} AS VARCHAR))) || '-' || CAST({1} AS VARCHAR) || '-' || CAST({2} AS VARCHAR) || ' ' || CAST({3} AS VARCHAR) || ':' || CAST({4} AS VARCHAR) || ':' || CAST(CAST({5} AS DECIMAL(18, 6)) AS VARCHAR) AS TIMESTAMP(6))"),
        // Trino clamps the day to the month's last day.
        B::AddMonths => T("CAST(date_add('month', CAST({1} AS BIGINT), {0}) AS {ty})"),
        B::FormatTime => T("date_format(CAST({0} AS TIMESTAMP(6)), {p1})"),
        B::ParseTime => T("CAST(try(date_parse({0}, {p1})) AS TIMESTAMP(6))"),
        B::ToTimezone => T("CAST(at_timezone(with_timezone(CAST({0} AS TIMESTAMP(6)), 'UTC'), {1}) AS TIMESTAMP(6))"),
        // A wall time repeated by a DST change takes the earlier offset, as pipec run (Trino's
        // with_timezone takes the later one in zones east of UTC).
        B::FromTimezone => T("CAST(at_timezone(CASE WHEN CAST(at_timezone(with_timezone(CAST({0} AS TIMESTAMP(6)), {1}) - INTERVAL '1' HOUR, {1}) AS TIMESTAMP(6)) = CAST({0} AS TIMESTAMP(6)) THEN with_timezone(CAST({0} AS TIMESTAMP(6)), {1}) - INTERVAL '1' HOUR ELSE with_timezone(CAST({0} AS TIMESTAMP(6)), {1}) END, 'UTC') AS TIMESTAMP(6))"),
        // json_extract_scalar is null for objects and arrays: those are given as JSON text.
        B::JsonGet => T("coalesce(json_extract_scalar({0}, {1}), nullif(json_format(json_extract({0}, {1})), 'null'))"),
        B::Md5 => T("lower(to_hex(md5(to_utf8({0}))))"),
        B::Count => T("count({0?*})"),
        B::CountDistinct => T("count(DISTINCT {0})"),
        B::CountIf => T("count_if({0})"),
        B::Sum => T("CAST(sum({0}){over} AS {ty})"),
        // Trino's avg of a decimal is a decimal: average doubles.
        B::Avg => T("avg(CAST({0} AS DOUBLE))"),
        B::Min => T("min({0})"),
        B::Max => T("max({0})"),
        B::AnyValue => T("arbitrary({0})"),
        B::Stddev => T("stddev_samp({0})"),
        // Trino has only approximate percentiles: interpolate exactly in the sorted non-null
        // values (as DuckDB's quantile_cont).
        B::Median => T(ATHENA_MEDIAN),
        B::Percentile => T(ATHENA_PERCENTILE),
        B::RowNumber => T("row_number()"),
        B::Rank => T("rank()"),
        B::DenseRank => T("dense_rank()"),
        B::Ntile => T("ntile({0})"),
        B::Lag => T("lag({*})"),
        B::Lead => T("lead({*})"),
        B::FirstValue => T("first_value({0})"),
        B::LastValue => T("last_value({0})"),
    }
}

/// Athena's exact continuous percentile at `{1}`: with the non-null values sorted and
/// `pos = (n - 1) * p`, `v[floor(pos)] + (pos - floor(pos)) * (v[ceil(pos)] - v[floor(pos)])`
/// (0-based), null for no values.
const ATHENA_PERCENTILE: &str = "(CASE WHEN count({0}){over} = 0 THEN NULL ELSE element_at(array_sort(filter(array_agg(CAST({0} AS DOUBLE)){over}, pipec_v -> pipec_v IS NOT NULL)), CAST(floor((count({0}){over} - 1) * CAST({1} AS DOUBLE)) AS BIGINT) + 1) + ((count({0}){over} - 1) * CAST({1} AS DOUBLE) - floor((count({0}){over} - 1) * CAST({1} AS DOUBLE))) * (element_at(array_sort(filter(array_agg(CAST({0} AS DOUBLE)){over}, pipec_v -> pipec_v IS NOT NULL)), CAST(ceil((count({0}){over} - 1) * CAST({1} AS DOUBLE)) AS BIGINT) + 1) - element_at(array_sort(filter(array_agg(CAST({0} AS DOUBLE)){over}, pipec_v -> pipec_v IS NOT NULL)), CAST(floor((count({0}){over} - 1) * CAST({1} AS DOUBLE)) AS BIGINT) + 1)) END)";

/// [`ATHENA_PERCENTILE`] at 0.5.
const ATHENA_MEDIAN: &str = "(CASE WHEN count({0}){over} = 0 THEN NULL ELSE element_at(array_sort(filter(array_agg(CAST({0} AS DOUBLE)){over}, pipec_v -> pipec_v IS NOT NULL)), CAST(floor((count({0}){over} - 1) * 0.5E0) AS BIGINT) + 1) + ((count({0}){over} - 1) * 0.5E0 - floor((count({0}){over} - 1) * 0.5E0)) * (element_at(array_sort(filter(array_agg(CAST({0} AS DOUBLE)){over}, pipec_v -> pipec_v IS NOT NULL)), CAST(ceil((count({0}){over} - 1) * 0.5E0) AS BIGINT) + 1) - element_at(array_sort(filter(array_agg(CAST({0} AS DOUBLE)){over}, pipec_v -> pipec_v IS NOT NULL)), CAST(floor((count({0}){over} - 1) * 0.5E0) AS BIGINT) + 1)) END)";

/// Spark SQL 4 (ANSI mode, `TIMESTAMP_NTZ` timestamps, session time zone UTC).
fn spark(b: Builtin) -> Render {
    use Builtin as B;
    use Render::T;
    match b {
        B::Lower => T("lower({0})"),
        // Java upper-cases `ß` to `SS`; DuckDB (pipec run) to `ẞ`.
        B::Upper => T("upper(replace({0}, '\\u00DF', '\\u1E9E'))"),
        B::Trim => T("trim({0})"),
        B::Length => T("CAST(char_length({0}) AS BIGINT)"),
        B::Substr => T("substring({*})"),
        B::Replace => T("replace({0}, {1}, {2})"),
        B::Contains => T("contains({0}, {1})"),
        B::StartsWith => T("startswith({0}, {1})"),
        B::EndsWith => T("endswith({0}, {1})"),
        // Java regular expressions; `find` semantics like DuckDB's regexp_matches.
        B::RegexpMatches => T("regexp_like({0}, {1})"),
        B::SplitPart => T("split_part({0}, {1}, CAST({2} AS INT))"),
        B::Concat => Render::Each {
            open: "concat(",
            item: "CAST({} AS STRING)",
            sep: ", ",
            close: ")",
        },
        B::Lpad => T("lpad({0}, CAST({1} AS INT), {2})"),
        B::Rpad => T("rpad({0}, CAST({1} AS INT), {2})"),
        B::Abs => T("abs({0})"),
        // Spark rounds half up, as DuckDB does; floor/ceil return BIGINT there.
        B::Round => T("CAST(round({0}, {1?0}) AS {ty})"),
        B::Floor => T("CAST(floor({0}) AS {ty})"),
        B::Ceil => T("CAST(ceil({0}) AS {ty})"),
        B::Sqrt => T("sqrt({0})"),
        B::Ln => T("ln({0})"),
        B::Exp => T("exp({0})"),
        B::Power => T("power({0}, {1})"),
        B::Greatest => T("greatest({*})"),
        B::Least => T("least({*})"),
        B::Coalesce => T("coalesce({*})"),
        B::Nullif => T("nullif({0}, {1})"),
        B::If => T("CASE WHEN {0} THEN {1} ELSE {2} END"),
        B::DateTrunc => T("CAST(date_trunc({0}, {1}) AS TIMESTAMP_NTZ)"),
        B::Year => T("CAST(year({0}) AS BIGINT)"),
        B::Month => T("CAST(month({0}) AS BIGINT)"),
        B::Day => T("CAST(day({0}) AS BIGINT)"),
        B::Hour => T("CAST(hour({0}) AS BIGINT)"),
        B::DayOfWeek => T("CAST(extract(DAYOFWEEK_ISO FROM {0}) AS BIGINT)"),
        B::DaysBetween => T("CAST(datediff(CAST({1} AS DATE), CAST({0} AS DATE)) AS BIGINT)"),
        B::HoursBetween => T("(CAST(unix_micros(CAST(CAST({1} AS TIMESTAMP_NTZ) AS TIMESTAMP_LTZ)) - unix_micros(CAST(CAST({0} AS TIMESTAMP_NTZ) AS TIMESTAMP_LTZ)) AS DOUBLE) / 3600000000.0D)"),
        B::MinutesBetween => T("(CAST(unix_micros(CAST(CAST({1} AS TIMESTAMP_NTZ) AS TIMESTAMP_LTZ)) - unix_micros(CAST(CAST({0} AS TIMESTAMP_NTZ) AS TIMESTAMP_LTZ)) AS DOUBLE) / 60000000.0D)"),
        B::SecondsBetween => T("(CAST(unix_micros(CAST(CAST({1} AS TIMESTAMP_NTZ) AS TIMESTAMP_LTZ)) - unix_micros(CAST(CAST({0} AS TIMESTAMP_NTZ) AS TIMESTAMP_LTZ)) AS DOUBLE) / 1000000.0D)"),
        B::MakeDate => T("make_date({0}, {1}, {2})"),
        B::MakeTimestamp => {
            T("make_timestamp_ntz({0}, {1}, {2}, {3}, {4}, CAST({5} AS DECIMAL(16, 6)))")
        }
        B::AddMonths => T("CAST(({0} + make_ym_interval(0, CAST({1} AS INT))) AS {ty})"),
        B::FormatTime => T("date_format(CAST({0} AS TIMESTAMP_NTZ), {p1})"),
        B::ParseTime => T("CAST(try_to_timestamp({0}, {p1}) AS TIMESTAMP_NTZ)"),
        B::ToTimezone => T("CAST(from_utc_timestamp(CAST({0} AS TIMESTAMP_NTZ), {1}) AS TIMESTAMP_NTZ)"),
        B::FromTimezone => T("CAST(to_utc_timestamp(CAST({0} AS TIMESTAMP_NTZ), {1}) AS TIMESTAMP_NTZ)"),
        B::JsonGet => T("get_json_object({0}, {1})"),
        B::Md5 => T("md5({0})"),
        B::Count => T("count({0?*})"),
        B::CountDistinct => T("count(DISTINCT {0})"),
        B::CountIf => T("count_if({0})"),
        B::Sum => T("CAST(sum({0}){over} AS {ty})"),
        // Spark's avg of a decimal is a decimal rounded to 4 more digits: average doubles.
        B::Avg => T("avg(CAST({0} AS DOUBLE))"),
        B::Min => T("min({0})"),
        B::Max => T("max({0})"),
        B::AnyValue => T("any_value({0})"),
        B::Stddev => T("stddev_samp({0})"),
        B::Median => T("percentile(CAST({0} AS DOUBLE), 0.5)"),
        B::Percentile => T("percentile(CAST({0} AS DOUBLE), {1})"),
        B::RowNumber => T("row_number()"),
        B::Rank => T("rank()"),
        B::DenseRank => T("dense_rank()"),
        B::Ntile => T("ntile({0})"),
        B::Lag => T("lag({*})"),
        B::Lead => T("lead({*})"),
        B::FirstValue => T("first_value({0})"),
        B::LastValue => T("last_value({0})"),
    }
}

/// PostgreSQL 15.
fn postgres(b: Builtin) -> Render {
    use Builtin as B;
    use Render::T;
    match b {
        B::Lower => T("lower({0})"),
        // PostgreSQL keeps `ß` in upper case; DuckDB (pipec run) gives `ẞ`.
        B::Upper => T("upper(replace({0}, 'ß', 'ẞ'))"),
        B::Trim => T("trim({0})"),
        B::Length => T("CAST(char_length({0}) AS BIGINT)"),
        B::Substr => T("substr({0}, CAST({1} AS INTEGER){2|, CAST(| AS INTEGER)})"),
        B::Replace => T("replace({0}, {1}, {2})"),
        B::Contains => T("(strpos({0}, {1}) > 0)"),
        B::StartsWith => T("starts_with({0}, {1})"),
        B::EndsWith => T("(right({0}, char_length({1})) = {1})"),
        B::RegexpMatches => T("({0} ~ {1})"),
        B::SplitPart => T("split_part({0}, {1}, CAST({2} AS INTEGER))"),
        B::Concat => Render::Each {
            open: "(",
            item: "CAST({} AS TEXT)",
            sep: " || ",
            close: ")",
        },
        B::Lpad => T("lpad({0}, CAST({1} AS INTEGER), {2})"),
        B::Rpad => T("rpad({0}, CAST({1} AS INTEGER), {2})"),
        B::Abs => T("abs({0})"),
        // PostgreSQL rounds a double half to even; numeric rounds half away from zero.
        B::Round => T("CAST(round(CAST({0} AS NUMERIC), CAST({1?0} AS INTEGER)) AS {ty})"),
        B::Floor => T("CAST(floor({0}) AS {ty})"),
        B::Ceil => T("CAST(ceil({0}) AS {ty})"),
        B::Sqrt => T("sqrt(CAST({0} AS DOUBLE PRECISION))"),
        B::Ln => T("ln(CAST({0} AS DOUBLE PRECISION))"),
        B::Exp => T("exp(CAST({0} AS DOUBLE PRECISION))"),
        B::Power => T("power(CAST({0} AS DOUBLE PRECISION), CAST({1} AS DOUBLE PRECISION))"),
        B::Greatest => T("greatest({*})"),
        B::Least => T("least({*})"),
        B::Coalesce => T("coalesce({*})"),
        B::Nullif => T("nullif({0}, {1})"),
        B::If => T("CASE WHEN {0} THEN {1} ELSE {2} END"),
        B::DateTrunc => T("date_trunc({0}, CAST({1} AS TIMESTAMP))"),
        B::Year => T("CAST(extract(year FROM {0}) AS BIGINT)"),
        B::Month => T("CAST(extract(month FROM {0}) AS BIGINT)"),
        B::Day => T("CAST(extract(day FROM {0}) AS BIGINT)"),
        B::Hour => T("CAST(extract(hour FROM {0}) AS BIGINT)"),
        B::DayOfWeek => T("CAST(extract(isodow FROM {0}) AS BIGINT)"),
        B::DaysBetween => T("CAST((CAST({1} AS DATE) - CAST({0} AS DATE)) AS BIGINT)"),
        B::HoursBetween => T("(CAST(extract(epoch FROM (CAST({1} AS TIMESTAMP) - CAST({0} AS TIMESTAMP))) AS DOUBLE PRECISION) / 3600.0)"),
        B::MinutesBetween => T("(CAST(extract(epoch FROM (CAST({1} AS TIMESTAMP) - CAST({0} AS TIMESTAMP))) AS DOUBLE PRECISION) / 60.0)"),
        B::SecondsBetween => T("CAST(extract(epoch FROM (CAST({1} AS TIMESTAMP) - CAST({0} AS TIMESTAMP))) AS DOUBLE PRECISION)"),
        B::MakeDate => T("make_date(CAST({0} AS INTEGER), CAST({1} AS INTEGER), CAST({2} AS INTEGER))"),
        B::MakeTimestamp => T("make_timestamp(CAST({0} AS INTEGER), CAST({1} AS INTEGER), CAST({2} AS INTEGER), CAST({3} AS INTEGER), CAST({4} AS INTEGER), CAST({5} AS DOUBLE PRECISION))"),
        B::AddMonths => T("CAST(({0} + make_interval(months => CAST({1} AS INTEGER))) AS {ty})"),
        B::FormatTime => T("to_char(CAST({0} AS TIMESTAMP), {p1})"),
        B::ParseTime => Render::No("PostgreSQL has no parse that gives null on a mismatch"),
        B::ToTimezone => T("((CAST({0} AS TIMESTAMP) AT TIME ZONE 'UTC') AT TIME ZONE {1})"),
        // A wall time repeated by a DST change takes the earlier offset, as pipec run and Spark
        // (PostgreSQL alone takes the later one).
        B::FromTimezone => T("(CASE WHEN (((((CAST({0} AS TIMESTAMP) AT TIME ZONE {1}) AT TIME ZONE 'UTC') - INTERVAL '1 hour') AT TIME ZONE 'UTC') AT TIME ZONE {1}) = CAST({0} AS TIMESTAMP) THEN (((CAST({0} AS TIMESTAMP) AT TIME ZONE {1}) AT TIME ZONE 'UTC') - INTERVAL '1 hour') ELSE ((CAST({0} AS TIMESTAMP) AT TIME ZONE {1}) AT TIME ZONE 'UTC') END)"),
        B::JsonGet => T("(jsonb_path_query_first(CAST({0} AS JSONB), CAST({1} AS JSONPATH)) #>> '{}')"),
        B::Md5 => T("md5({0})"),
        B::Count => T("count({0?*})"),
        B::CountDistinct => T("count(DISTINCT {0})"),
        B::CountIf => T("count(*) FILTER (WHERE {0})"),
        B::Sum => T("CAST(sum({0}){over} AS {ty})"),
        B::Avg => T("CAST(avg({0}){over} AS DOUBLE PRECISION)"),
        B::Min => T("min({0})"),
        B::Max => T("max({0})"),
        // Any value of the group: PostgreSQL 15 has no any_value.
        B::AnyValue => T("min({0})"),
        B::Stddev => T("stddev_samp({0})"),
        B::Median => T("percentile_cont(0.5) WITHIN GROUP (ORDER BY {0})"),
        B::Percentile => T("percentile_cont({1}) WITHIN GROUP (ORDER BY {0})"),
        B::RowNumber => T("row_number()"),
        B::Rank => T("rank()"),
        B::DenseRank => T("dense_rank()"),
        B::Ntile => T("ntile(CAST({0} AS INTEGER))"),
        B::Lag => T("lag({*})"),
        B::Lead => T("lead({*})"),
        B::FirstValue => T("first_value({0})"),
        B::LastValue => T("last_value({0})"),
    }
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
        // Emitters reject these first (`Ctx::unsupported`); a call that slipped through fails.
        Render::No(_) => return format!("pipec_unsupported_function({})", sql.join(", ")),
    };
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let close = rest[i..].find('}').map_or(rest.len(), |c| i + c);
        let hole = &rest[i + 1..close];
        rest = &rest[(close + 1).min(rest.len())..];
        if let Some((n, wrap)) = hole.split_once('|') {
            let (pre, post) = wrap.split_once('|').unwrap_or((wrap, ""));
            if let Some(a) = n.parse::<usize>().ok().and_then(|n| sql.get(n)) {
                out.push_str(pre);
                out.push_str(a);
                out.push_str(post);
            }
            continue;
        }
        let (key, default) = match hole.split_once('?') {
            Some((k, d)) => (k, Some(d)),
            None => (hole, None),
        };
        match key {
            "*" => out.push_str(&sql.join(", ")),
            "ty" => out.push_str(&dialect.type_sql(result)),
            "over" => out.push_str(OVER),
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

/// Where a template's `{over}` puts the OVER clause of a window call; never left in SQL (string
/// literals never hold the raw [`MARK`]).
const OVER: &str = "\u{1}over\u{1}";

/// The OVER clause of a window step: partition and order, and the frame its aggregates,
/// `first_value` and `last_value` see (ranking functions, `lag`, `lead` and `ntile` take none).
struct Over {
    spec: String,
    frame: Option<Frame>,
}

struct Lower<'a> {
    ctx: Ctx<'a>,
    /// Inside a window step: the OVER clause for window and aggregate calls.
    over: Option<Over>,
}

impl Lower<'_> {
    fn expr(&self, e: &Expr) -> String {
        let d = self.ctx.dialect;
        match &e.kind {
            ExprKind::Literal(l) => d.literal(l),
            ExprKind::Column { name, side } => {
                let mut out = String::with_capacity(name.len() + 4);
                match side {
                    Some(pipec_check::ir::Side::Left) => out.push_str("l."),
                    Some(pipec_check::ir::Side::Right) => out.push_str("r."),
                    None => {}
                }
                d.push_ident(&mut out, name);
                out
            }
            ExprKind::Param(p) => self.ctx.param(*p),
            ExprKind::Call { func, kind, args } => self.call(*func, *kind, args, e.ty),
            ExprKind::Unary(UnaryOp::Neg, x) => format!("(-{})", self.expr(x)),
            ExprKind::Unary(UnaryOp::Not, x) => format!("(NOT {})", self.expr(x)),
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                match op {
                    BinaryOp::Coalesce => format!("COALESCE({a}, {b})"),
                    BinaryOp::Div => format!(
                        "(CAST({a} AS {}) / NULLIF({b}, 0))",
                        d.type_sql(Type::Float)
                    ),
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
            ExprKind::Cast(x, Type::String) if d == Dialect::Athena => {
                format!("CAST({} AS VARCHAR)", athena_text(&self.expr(x), x.ty))
            }
            ExprKind::Cast(x, t) => format!("CAST({} AS {})", self.expr(x), d.type_sql(*t)),
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
        let dialect = self.ctx.dialect;
        let a: Vec<String> = args
            .iter()
            .map(|x| match (dialect, func) {
                (Dialect::Athena, Builtin::Concat) => athena_text(&self.expr(x), x.ty),
                _ => self.expr(x),
            })
            .collect();
        let body = fill(templates(func).get(dialect), dialect, args, &a, ty);
        let over = match &self.over {
            Some(over) if kind != FnKind::Scalar => over,
            // Few templates hold OVER: leave the others' text as it is.
            _ if body.contains(OVER) => return body.replace(OVER, ""),
            _ => return body,
        };
        let framed =
            kind == FnKind::Aggregate || matches!(func, Builtin::FirstValue | Builtin::LastValue);
        let frame = match (framed, &over.frame) {
            (true, Some(f)) => Some(frame_sql(f)),
            (true, None) if kind == FnKind::Window => {
                Some("ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING".to_string())
            }
            _ => None,
        };
        let clause = match frame {
            Some(f) if over.spec.is_empty() => format!(" OVER ({f})"),
            Some(f) => format!(" OVER ({} {f})", over.spec),
            None => format!(" OVER ({})", over.spec),
        };
        // A template that wraps the aggregate (`CAST(sum(x) AS t)`) says where OVER goes.
        if body.contains(OVER) {
            body.replace(OVER, &clause)
        } else {
            format!("{body}{clause}")
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

/// Lowers one expression (outside any window) to DuckDB with run parameters from `run`.
pub fn expr(e: &Expr, run: &Interval) -> String {
    Ctx::duckdb(run).expr(e)
}

fn columns(d: Dialect, schema: &Schema) -> String {
    let mut out = String::new();
    for (i, c) in schema.columns.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        d.push_ident(&mut out, &c.name);
    }
    out
}

/// Expands an SQL escape hatch for DuckDB: `{relation}` → its table, `{ds}` → the quoted value.
pub fn sql_template(
    sql: &str,
    tables: &dyn Tables,
    run: &Interval,
    relations: &[String],
) -> String {
    Ctx::duckdb(run).sql_template(sql, tables, relations)
}

impl Ctx<'_> {
    /// A run parameter (`@ds`, `@start`, `@end`) as a typed SQL value.
    pub fn param(&self, p: RunParam) -> String {
        let d = self.dialect;
        let v = |name: &str| d.quote(&[self.piece(name).unwrap_or(Piece::Text(String::new()))]);
        // Athena's run values arrive as text (spliced by the SAM target): cast the string.
        if let (Dialect::Athena, Params::Vars) = (d, self.params) {
            let ty = |t| d.type_sql(t);
            return match p {
                RunParam::Ds => format!("CAST({} AS {})", v("ds"), ty(Type::Date)),
                RunParam::Start => format!("CAST({} AS {})", v("start"), ty(Type::Timestamp)),
                RunParam::End => format!("CAST({} AS {})", v("end"), ty(Type::Timestamp)),
            };
        }
        match p {
            RunParam::Ds => format!("DATE {}", v("ds")),
            RunParam::Start => d.timestamp(&v("start")),
            RunParam::End => d.timestamp(&v("end")),
        }
    }

    /// Expands an SQL escape hatch: `{relation}` → its table, `{ds}` → the quoted run value.
    pub fn sql_template(&self, sql: &str, tables: &dyn Tables, relations: &[String]) -> String {
        let pieces = template_pieces(sql, |name| {
            if relations.iter().any(|r| r == name) {
                Some(Piece::Text(tables.table(name)))
            } else {
                self.piece(name)
                    .map(|v| Piece::Text(self.dialect.quote(&[v])))
            }
        });
        // Raw SQL: text pieces are SQL, not values.
        pieces
            .into_iter()
            .map(|p| match p {
                Piece::Text(t) => t,
                Piece::Var(v) => self.dialect.var(&v),
            })
            .collect()
    }
}

/// Lowers a transform to one DuckDB `SELECT` (a chain of CTEs) with the literals of `run`.
/// `head_schema` is the schema of the head.
pub fn transform(
    t: &Transform,
    head_schema: &Schema,
    tables: &dyn Tables,
    run: &Interval,
) -> String {
    lower_transform(Ctx::duckdb(run), t, head_schema, tables)
}

fn lower_transform(ctx: Ctx, t: &Transform, head_schema: &Schema, tables: &dyn Tables) -> String {
    let d = ctx.dialect;
    let ident = |n: &str| d.ident(n);
    let lower = Lower { ctx, over: None };
    let head = match &t.head {
        Head::Relation(name) => format!(
            "SELECT {} FROM {}",
            columns(d, head_schema),
            tables.table(name)
        ),
        Head::Sql { sql, refs } => format!(
            "SELECT * FROM ({}) AS q",
            ctx.sql_template(sql, tables, refs)
        ),
    };
    let mut layers: Vec<String> = vec![head];
    let mut prev_schema = head_schema;
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
                    layers.push(column_layer(d, &mut schema, &from, name, lower.expr(e), e));
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
                let shared = on.shared_join_keys();
                let mut cols = String::new();
                for c in &prev_schema.columns {
                    if !cols.is_empty() {
                        cols.push_str(", ");
                    }
                    let key = shared
                        .iter()
                        .find(|(l, _)| pipec_check::ir::same_name(l, &c.name));
                    if let (true, Some((_, right_name))) = (outer_left, key) {
                        let n = ident(&c.name);
                        let r = ident(right_name);
                        cols.push_str(&format!("COALESCE(l.{n}, r.{r}) AS {n}"));
                    } else {
                        cols.push_str("l.");
                        d.push_ident(&mut cols, &c.name);
                    }
                }
                for c in right_columns {
                    if !cols.is_empty() {
                        cols.push_str(", ");
                    }
                    cols.push_str("r.");
                    d.push_ident(&mut cols, c);
                }
                layers.push(format!(
                    "SELECT {cols} FROM {prev} AS l {kw} {} AS r ON {}",
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
                let cols = columns(d, &step.schema);
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
                    ctx,
                    over: Some(Over {
                        spec: over,
                        frame: *frame,
                    }),
                };
                let mut schema = prev_schema.clone();
                for (name, e) in functions {
                    let from = format!("s{}", layers.len() - 1);
                    layers.push(column_layer(d, &mut schema, &from, name, wl.expr(e), e));
                }
            }
        }
        prev_schema = &t.steps[i].schema;
        i += 1;
    }
    let last = layers.pop().expect("at least the head");
    if layers.is_empty() {
        return last;
    }
    let len: usize = layers.iter().map(|l| l.len() + 16).sum::<usize>() + last.len();
    let mut out = String::with_capacity(len + 8);
    out.push_str("WITH ");
    for (i, l) in layers.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        out.push('s');
        out.push_str(&i.to_string());
        out.push_str(" AS (");
        out.push_str(l);
        out.push(')');
    }
    out.push('\n');
    out.push_str(&last);
    out
}

/// A layer that adds column `name` (or replaces it where it stands); updates `schema`. One layer
/// per column, so later columns of the same step can read earlier ones.
fn column_layer(
    d: Dialect,
    schema: &mut Schema,
    from: &str,
    name: &str,
    sql: String,
    e: &Expr,
) -> String {
    let mut out = String::from("SELECT ");
    let new_col = |out: &mut String| {
        out.push_str(&sql);
        out.push_str(" AS ");
        d.push_ident(out, name);
    };
    for (i, c) in schema.columns.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if c.name == name {
            new_col(&mut out);
        } else {
            d.push_ident(&mut out, &c.name);
        }
    }
    if schema.get(name).is_none() {
        if !schema.columns.is_empty() {
            out.push_str(", ");
        }
        new_col(&mut out);
        schema.columns.push(pipec_check::ir::Column {
            name: name.to_string(),
            ty: e.ty,
            nullable: e.nullable,
        });
    }
    out.push_str(" FROM ");
    out.push_str(from);
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

#[cfg(test)]
mod dialect_tests {
    use super::*;

    #[test]
    fn plain_strings_take_the_short_way_to_the_same_literal() {
        let mut every_ascii: String = (0u8..0x80).map(char::from).collect();
        every_ascii.push_str(" 새벽 é");
        for d in Dialect::ALL {
            for v in [
                "",
                "plain text",
                "새벽 {{x}} %s",
                "a'b",
                "x\u{1}y",
                &every_ascii,
            ] {
                assert_eq!(
                    d.string(v),
                    d.quote(&[Piece::Text(v.to_string())]),
                    "{d:?} {v:?}"
                );
            }
        }
    }

    #[test]
    fn user_text_never_becomes_a_variable_or_a_statement_break() {
        let hostile = "it's \\ ${ds} {{x}} %s ; -- \n 새벽";
        assert_eq!(
            Dialect::Spark.string(hostile),
            "'it\\'s \\\\ \\u0024{ds} {{x}} %s \\u003B -- \\n 새벽'"
        );
        assert_eq!(
            Dialect::DuckDb.string(hostile),
            "'it''s \\ ${ds} {{x}} %s ; -- \n 새벽'"
        );
        // The DuckDB/PostgreSQL variable mark in user text is spelled chr(1), never raw.
        let marked = format!("a{MARK}ds{MARK}b");
        let q = Dialect::Postgres.string(&marked);
        assert!(!q.contains(MARK), "{q}");
        assert_eq!(q, "('a' || chr(1) || 'ds' || chr(1) || 'b')");
    }

    #[test]
    fn run_values_render_as_each_targets_variables() {
        let spark = Ctx::vars(Dialect::Spark);
        assert_eq!(spark.param(RunParam::Ds), "DATE '${ds}'");
        assert_eq!(spark.param(RunParam::Start), "TIMESTAMP_NTZ '${start}'");
        assert_eq!(
            spark.path("data/{ds}/it's {{raw}}/{hh}.csv"),
            "'data/${ds}/it\\'s {raw}/${hh}.csv'"
        );
        let duck = Ctx::vars(Dialect::DuckDb);
        assert_eq!(
            duck.param(RunParam::End),
            format!("TIMESTAMP '{MARK}end{MARK}'")
        );
        let run = Interval::daily("2024-01-02", "2024-01-03");
        assert_eq!(Ctx::duckdb(&run).path("d/{ds}.csv"), "'d/2024-01-02.csv'");
        assert_eq!(Ctx::duckdb(&run).param(RunParam::Ds), "DATE '2024-01-02'");
    }

    #[test]
    fn every_builtin_is_rendered_or_refused_in_every_dialect() {
        for b in Builtin::ALL {
            for d in Dialect::ALL {
                match templates(*b).get(*d) {
                    Render::T(t) => {
                        assert_eq!(t.matches('{').count(), t.matches('}').count(), "{b} {d:?}")
                    }
                    Render::Each { item, .. } => assert!(item.contains("{}")),
                    Render::No(why) => assert!(!why.is_empty()),
                }
            }
        }
    }

    #[test]
    fn athena_run_values_become_execution_parameters() {
        let ctx = Ctx::vars(Dialect::Athena);
        let (sql, names) = parameters(&format!(
            "SELECT {} AS d, {} AS p FROM t WHERE x < {}",
            ctx.param(RunParam::Ds),
            ctx.path("raw/{ds}/it's {{x}}/{hh}.csv"),
            ctx.param(RunParam::End)
        ));
        assert_eq!(
            sql,
            "SELECT CAST(? AS DATE) AS d, ('raw/' || ? || '/it''s {x}/' || ? || '.csv') AS p FROM t WHERE x < CAST(? AS TIMESTAMP(6))"
        );
        assert_eq!(names, ["ds", "ds", "hh", "end"]);
        // A mark inside a literal (not written by `quote`) is split out of it; a quoted
        // identifier and user text holding `?` or the mark stay as they are.
        let (sql, names) = parameters(&format!(
            "SELECT 'a''{MARK}ds{MARK}b', \"{MARK}x{MARK}\", '?', {}",
            Dialect::Athena.string(&format!("u{MARK}ds{MARK}"))
        ));
        assert_eq!(
            sql,
            format!(
                "SELECT ('a''' || ? || 'b'), \"{MARK}x{MARK}\", '?', ('u' || chr(1) || 'ds' || chr(1))"
            )
        );
        assert_eq!(names, ["ds"]);
        assert_eq!(Dialect::Athena.string(""), "''");
        assert_eq!(ctx.path("{ds}"), format!("{MARK}ds{MARK}"));
    }

    #[test]
    fn athena_renders_every_builtin() {
        for b in Builtin::ALL {
            assert!(
                !matches!(templates(*b).athena, Render::No(_)),
                "{b} is refused on Athena"
            );
        }
    }

    #[test]
    fn athena_literals_and_types() {
        let a = Dialect::Athena;
        assert_eq!(a.type_sql(Type::Timestamp), "TIMESTAMP(6)");
        assert_eq!(a.type_sql(Type::Json), "VARCHAR");
        assert_eq!(
            a.literal(&Literal::Duration(90_061_000_001)),
            "INTERVAL '90061.000' SECOND"
        );
        assert_eq!(
            a.literal(&Literal::Duration(-1_500)),
            "(-INTERVAL '0.002' SECOND)"
        );
        let pattern = parse_time_pattern("%Y-%m-%dT%H:%M:%S 100%%").unwrap();
        assert_eq!(a.time_pattern(&pattern), "'%Y-%m-%dT%H:%i:%s 100%%'");
        let run = Interval::daily("2024-01-02", "2024-01-03");
        let lit = Ctx {
            dialect: a,
            params: Params::Literal(&run),
        };
        assert_eq!(
            lit.param(RunParam::Start),
            "TIMESTAMP '2024-01-02 00:00:00'"
        );
        assert_eq!(lit.path("d/{ds}.csv"), "'d/2024-01-02.csv'");
    }

    #[test]
    fn types_follow_each_dialect() {
        assert_eq!(Dialect::Spark.type_sql(Type::Timestamp), "TIMESTAMP_NTZ");
        assert_eq!(Dialect::Postgres.type_sql(Type::Float), "DOUBLE PRECISION");
        assert_eq!(Dialect::Spark.ident("a`b"), "`a``b`");
        assert_eq!(
            Dialect::Spark.literal(&Literal::Duration(90_061_000_001)),
            "INTERVAL '1 01:01:01.000001' DAY TO SECOND"
        );
    }
}
