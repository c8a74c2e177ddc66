//! The builtin functions: one definition each (arguments, result type and nullability, literal
//! arguments) that every backend renders so that its engine gives the same result. The rendering
//! per engine is in `pipec-sql`; the meaning of each function is in docs/language.md.

use pipec_diag::codes::{self, Code};
use pipec_syntax::ast::Literal;

use crate::ir::{Builtin, Expr, ExprKind, FnKind, Type};

/// What is wrong with a call: the code, the argument it is about (if one) and a message.
#[derive(Debug, Clone)]
pub(crate) struct CallError {
    /// `E0206` for arity and types; `E0220`–`E0222` and `E0302` for literal arguments.
    pub code: Code,
    /// Index of the offending argument.
    pub arg: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// The outcome of typing a call: result type and nullability, or what is wrong.
pub(crate) type Typing = Result<(Type, bool), CallError>;

fn bad(message: String) -> CallError {
    CallError {
        code: codes::BAD_ARGUMENTS,
        arg: None,
        message,
    }
}

/// The kind of builtin `name`, if it exists.
pub fn kind_of(name: &str) -> Option<FnKind> {
    Builtin::from_name(name).map(Builtin::kind)
}

/// Names of the builtins of `kind`, in documentation order.
pub fn names(kind: FnKind) -> impl Iterator<Item = &'static str> {
    Builtin::ALL
        .iter()
        .filter(move |b| b.kind() == kind)
        .map(|b| b.name())
}

/// Names of every builtin (for "did you mean").
pub fn all_names() -> impl Iterator<Item = &'static str> {
    Builtin::ALL.iter().map(|b| b.name())
}

/// What pipec calls a function SQL engines know under another name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlSpelling {
    /// The help line: the pipec spelling and what differs.
    pub help: String,
    /// The builtin to put in place of the name, when only the name differs.
    pub rename: Option<&'static str>,
}

/// The pipec spelling of SQL/dbt function `name` called with `args` arguments, if there is one.
pub fn sql_spelling(name: &str, args: usize) -> Option<SqlSpelling> {
    let lower = name.to_ascii_lowercase();
    let rename = |to: &'static str| SqlSpelling {
        help: format!("pipec calls it `{to}`"),
        rename: Some(to),
    };
    let help = |text: &str| SqlSpelling {
        help: text.to_string(),
        rename: None,
    };
    Some(match lower.as_str() {
        "datediff" | "date_diff" | "timestampdiff" | "timestamp_diff" => help(
            "pipec has `days_between(a, b)` (calendar days from `a` to `b`), and `hours_between`, `minutes_between`, `seconds_between`; note the argument order: start first, no unit",
        ),
        "dateadd" | "date_add" | "timestampadd" | "timestamp_add" => help(
            "add a duration literal: `t + 7d`, `t + 3h`; for months `add_months(t, n)`",
        ),
        "getdate" | "now" | "current_timestamp" | "sysdate" | "current_date" | "today" => help(
            "a run computes one interval and gives the same result every time: use its bounds `@start` and `@end` (timestamps) or its date `@ds`",
        ),
        "isnull" | "nvl" | "ifnull" | "zeroifnull" if args == 2 => rename("coalesce"),
        "isnull" if args == 1 => help("test for null with `x is null`"),
        "len" | "char_length" | "character_length" => rename("length"),
        "substring" | "mid" => rename("substr"),
        "ucase" => rename("upper"),
        "lcase" => rename("lower"),
        "iif" | "if_then_else" => rename("if"),
        "ceiling" => rename("ceil"),
        "pow" => rename("power"),
        "countif" => rename("count_if"),
        "stddev_samp" => rename("stddev"),
        "regexp_like" | "rlike" => rename("regexp_matches"),
        "json_extract_scalar" | "get_json_object" => rename("json_get"),
        "to_char" | "date_format" | "strftime" | "format_datetime" => help(
            "pipec has `format_time(t, \"%Y-%m-%d\")` with `%Y %m %d %H %M %S` in the pattern",
        ),
        "to_timestamp" | "to_date" | "strptime" | "parse_datetime" | "str_to_date" => help(
            "pipec has `parse_time(s, \"%Y-%m-%d\")` (null when `s` does not match), or a cast `s::date`",
        ),
        "dayofweek" | "dow" | "weekday" => help("pipec has `day_of_week(t)`: ISO numbering, 1 = Monday ... 7 = Sunday"),
        "date_part" | "extract" | "datepart" => help("pipec has `year(t)`, `month(t)`, `day(t)`, `hour(t)` and `day_of_week(t)`"),
        "convert_timezone" | "from_utc_timestamp" | "at_time_zone" => help(
            "pipec has `to_timezone(t, \"Asia/Seoul\")` (UTC to local) and `from_timezone(t, zone)` (local to UTC)",
        ),
        _ => return None,
    })
}

/// One piece of a time pattern (`%Y-%m-%d`), independent of any engine's pattern language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternPiece {
    /// `%Y`: four-digit year.
    Year,
    /// `%m`: two-digit month, 01–12.
    Month,
    /// `%d`: two-digit day of the month, 01–31.
    Day,
    /// `%H`: two-digit hour, 00–23.
    Hour,
    /// `%M`: two-digit minute.
    Minute,
    /// `%S`: two-digit second.
    Second,
    /// Literal text (`%%` is a literal `%`).
    Text(String),
}

/// The directives a time pattern may use, for messages.
pub const PATTERN_DIRECTIVES: &str = "%Y %m %d %H %M %S and %% (a literal %)";

/// Parses a strftime-style pattern restricted to the directives every engine can map.
pub fn parse_time_pattern(pattern: &str) -> Result<Vec<PatternPiece>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            text.push(c);
            continue;
        }
        let piece = match chars.next() {
            Some('Y') => PatternPiece::Year,
            Some('m') => PatternPiece::Month,
            Some('d') => PatternPiece::Day,
            Some('H') => PatternPiece::Hour,
            Some('M') => PatternPiece::Minute,
            Some('S') => PatternPiece::Second,
            Some('%') => {
                text.push('%');
                continue;
            }
            Some(other) => {
                return Err(format!(
                    "`%{other}` is not supported; patterns may use {PATTERN_DIRECTIVES}"
                ))
            }
            None => {
                return Err(format!(
                    "the pattern ends with a lone `%`; patterns may use {PATTERN_DIRECTIVES}"
                ))
            }
        };
        if !text.is_empty() {
            out.push(PatternPiece::Text(std::mem::take(&mut text)));
        }
        out.push(piece);
    }
    if !text.is_empty() {
        out.push(PatternPiece::Text(text));
    }
    if !out.iter().any(|p| !matches!(p, PatternPiece::Text(_))) {
        return Err(format!(
            "the pattern has no date or time fields; patterns may use {PATTERN_DIRECTIVES}"
        ));
    }
    Ok(out)
}

/// The literal an argument is, looking through a leading minus.
pub fn literal_arg(e: &Expr) -> Option<Literal> {
    match &e.kind {
        ExprKind::Literal(l) => Some(l.clone()),
        ExprKind::Unary(pipec_syntax::ast::UnaryOp::Neg, x) => match literal_arg(x)? {
            Literal::Int(v) => Some(Literal::Int(-v)),
            Literal::Float(v) => Some(Literal::Float(-v)),
            _ => None,
        },
        _ => None,
    }
}

fn any_nullable(args: &[Expr]) -> bool {
    args.iter().any(|a| a.nullable)
}

fn arity(name: &str, args: &[Expr], min: usize, max: usize) -> Result<(), CallError> {
    if args.len() < min || args.len() > max {
        let want = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(bad(format!(
            "`{name}` takes {want} argument{}, got {}",
            if max == 1 { "" } else { "s" },
            args.len()
        )));
    }
    Ok(())
}

fn want(
    name: &str,
    i: usize,
    arg: &Expr,
    ok: impl Fn(Type) -> bool,
    what: &str,
) -> Result<(), CallError> {
    if arg.ty == Type::Null || ok(arg.ty) {
        Ok(())
    } else {
        Err(CallError {
            code: codes::BAD_ARGUMENTS,
            arg: Some(i),
            message: format!(
                "argument {} of `{name}` must be {what}, found {}",
                i + 1,
                arg.ty
            ),
        })
    }
}

fn is_string(t: Type) -> bool {
    matches!(t, Type::String | Type::Json)
}

fn is_integer(t: Type) -> bool {
    matches!(t, Type::Int | Type::BigInt)
}

fn not_literal(name: &str, i: usize, what: &str) -> CallError {
    CallError {
        code: codes::NOT_CONSTANT,
        arg: Some(i),
        message: format!(
            "argument {} of `{name}` must be {what} written in the spec",
            i + 1
        ),
    }
}

fn out_of_range(i: usize, message: String) -> CallError {
    CallError {
        code: codes::OUT_OF_RANGE,
        arg: Some(i),
        message,
    }
}

/// Argument `i` must be a literal time pattern of the supported subset.
fn pattern(name: &str, i: usize, args: &[Expr]) -> Result<(), CallError> {
    match literal_arg(&args[i]) {
        Some(Literal::Str(p)) => parse_time_pattern(&p).map(|_| ()).map_err(|m| CallError {
            code: codes::BAD_TIME_PATTERN,
            arg: Some(i),
            message: m,
        }),
        _ => Err(CallError {
            code: codes::BAD_TIME_PATTERN,
            arg: Some(i),
            message: format!(
                "the pattern of `{name}` must be a string literal such as \"%Y-%m-%d\""
            ),
        }),
    }
}

/// Argument `i` must be a literal IANA time zone name.
fn zone(name: &str, i: usize, args: &[Expr]) -> Result<(), CallError> {
    let Some(Literal::Str(z)) = literal_arg(&args[i]) else {
        return Err(not_literal(
            name,
            i,
            "a time zone name such as \"Asia/Seoul\"",
        ));
    };
    if z.parse::<chrono_tz::Tz>().is_ok() {
        return Ok(());
    }
    let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
    let hint = pipec_diag::did_you_mean(&z, names)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    Err(CallError {
        code: codes::UNKNOWN_TIMEZONE,
        arg: Some(i),
        message: format!("unknown time zone `{z}`{hint}"),
    })
}

/// Types a call of builtin `f` with typed `args`: the definition every engine honours.
pub(crate) fn type_call(f: Builtin, args: &[Expr]) -> Typing {
    use Builtin as B;
    let name = f.name();
    let n = any_nullable(args);
    let strings = |min, max| -> Result<(), CallError> {
        arity(name, args, min, max)?;
        for (i, a) in args.iter().enumerate() {
            want(name, i, a, is_string, "a string")?;
        }
        Ok(())
    };
    let numeric1 = || -> Result<Type, CallError> {
        arity(name, args, 1, 1)?;
        want(name, 0, &args[0], Type::is_numeric, "a number")?;
        Ok(args[0].ty)
    };
    let temporal_pair = || -> Result<(), CallError> {
        arity(name, args, 2, 2)?;
        want(name, 0, &args[0], Type::is_temporal, "a date or timestamp")?;
        want(name, 1, &args[1], Type::is_temporal, "a date or timestamp")
    };
    let integers = |from: usize, to: usize| -> Result<(), CallError> {
        for (i, a) in args.iter().enumerate().take(to).skip(from) {
            want(name, i, a, is_integer, "an integer")?;
        }
        Ok(())
    };
    Ok(match f {
        B::Lower | B::Upper | B::Trim | B::Md5 => {
            strings(1, 1)?;
            (Type::String, n)
        }
        B::Length => {
            strings(1, 1)?;
            (Type::BigInt, n)
        }
        B::Contains | B::StartsWith | B::EndsWith | B::RegexpMatches => {
            strings(2, 2)?;
            (Type::Bool, n)
        }
        B::Replace => {
            strings(3, 3)?;
            (Type::String, n)
        }
        // Null if any argument is null (as `++`), whatever the engine's own `concat` does.
        B::Concat => {
            arity(name, args, 1, usize::MAX)?;
            (Type::String, n)
        }
        B::Lpad | B::Rpad => {
            arity(name, args, 3, 3)?;
            want(name, 0, &args[0], is_string, "a string")?;
            integers(1, 2)?;
            want(name, 2, &args[2], is_string, "a string")?;
            (Type::String, n)
        }
        B::Substr => {
            arity(name, args, 2, 3)?;
            want(name, 0, &args[0], is_string, "a string")?;
            integers(1, 3)?;
            (Type::String, n)
        }
        B::SplitPart => {
            arity(name, args, 3, 3)?;
            want(name, 0, &args[0], is_string, "a string")?;
            want(name, 1, &args[1], is_string, "a string")?;
            integers(2, 3)?;
            (Type::String, n)
        }
        B::Abs | B::Floor | B::Ceil => (numeric1()?, n),
        B::Sqrt | B::Ln | B::Exp => {
            numeric1()?;
            (Type::Float, n)
        }
        B::Round => {
            arity(name, args, 1, 2)?;
            want(name, 0, &args[0], Type::is_numeric, "a number")?;
            integers(1, 2)?;
            (args[0].ty, n)
        }
        B::Power => {
            arity(name, args, 2, 2)?;
            want(name, 0, &args[0], Type::is_numeric, "a number")?;
            want(name, 1, &args[1], Type::is_numeric, "a number")?;
            (Type::Float, n)
        }
        // `greatest`/`least` skip nulls: null only when every argument is null.
        B::Greatest | B::Least | B::Coalesce => {
            arity(name, args, 1, usize::MAX)?;
            let mut ty = Type::Null;
            for a in args {
                ty = ty
                    .unify(a.ty)
                    .ok_or_else(|| bad(format!("arguments of `{name}` mix {ty} and {}", a.ty)))?;
            }
            (ty, args.iter().all(|a| a.nullable))
        }
        B::Nullif => {
            arity(name, args, 2, 2)?;
            if !args[0].ty.comparable(args[1].ty) {
                return Err(bad(format!(
                    "`nullif` compares {} with {}",
                    args[0].ty, args[1].ty
                )));
            }
            (args[0].ty, true)
        }
        B::If => {
            arity(name, args, 3, 3)?;
            want(name, 0, &args[0], |t| t == Type::Bool, "a boolean")?;
            let ty = args[1].ty.unify(args[2].ty).ok_or_else(|| {
                bad(format!(
                    "the branches of `if` are {} and {}",
                    args[1].ty, args[2].ty
                ))
            })?;
            (ty, args[1].nullable || args[2].nullable)
        }
        B::DateTrunc => {
            arity(name, args, 2, 2)?;
            want(
                name,
                0,
                &args[0],
                is_string,
                "a unit such as \"day\" or \"month\"",
            )?;
            want(name, 1, &args[1], Type::is_temporal, "a date or timestamp")?;
            (Type::Timestamp, n)
        }
        // `day_of_week` is ISO: 1 = Monday ... 7 = Sunday.
        B::Year | B::Month | B::Day | B::Hour | B::DayOfWeek => {
            arity(name, args, 1, 1)?;
            want(name, 0, &args[0], Type::is_temporal, "a date or timestamp")?;
            (Type::BigInt, n)
        }
        // `days_between(a, b)` = date(b) − date(a).
        B::DaysBetween => {
            temporal_pair()?;
            (Type::BigInt, n)
        }
        B::HoursBetween | B::MinutesBetween | B::SecondsBetween => {
            temporal_pair()?;
            (Type::Float, n)
        }
        B::MakeDate => {
            arity(name, args, 3, 3)?;
            integers(0, 3)?;
            (Type::Date, n)
        }
        B::MakeTimestamp => {
            arity(name, args, 6, 6)?;
            integers(0, 5)?;
            want(name, 5, &args[5], Type::is_numeric, "a number of seconds")?;
            (Type::Timestamp, n)
        }
        // Same type as `t`; the day is clamped to the last day of the resulting month.
        B::AddMonths => {
            arity(name, args, 2, 2)?;
            want(name, 0, &args[0], Type::is_temporal, "a date or timestamp")?;
            integers(1, 2)?;
            let ty = if args[0].ty == Type::Date {
                Type::Date
            } else {
                Type::Timestamp
            };
            (ty, n)
        }
        B::FormatTime => {
            arity(name, args, 2, 2)?;
            want(name, 0, &args[0], Type::is_temporal, "a date or timestamp")?;
            pattern(name, 1, args)?;
            (Type::String, n)
        }
        // Null when the text does not match the pattern.
        B::ParseTime => {
            arity(name, args, 2, 2)?;
            want(name, 0, &args[0], is_string, "a string")?;
            pattern(name, 1, args)?;
            (Type::Timestamp, true)
        }
        // Naive timestamps: `to_timezone` reads `t` as UTC and gives the wall clock in `zone`;
        // `from_timezone` reads `t` as a wall clock in `zone` and gives UTC.
        B::ToTimezone | B::FromTimezone => {
            arity(name, args, 2, 2)?;
            want(name, 0, &args[0], Type::is_temporal, "a date or timestamp")?;
            zone(name, 1, args)?;
            (Type::Timestamp, n)
        }
        B::JsonGet => {
            strings(2, 2)?;
            (Type::String, true)
        }
        B::Count => {
            arity(name, args, 0, 1)?;
            (Type::BigInt, false)
        }
        B::CountDistinct => {
            arity(name, args, 1, 1)?;
            (Type::BigInt, false)
        }
        B::CountIf => {
            arity(name, args, 1, 1)?;
            want(name, 0, &args[0], |t| t == Type::Bool, "a boolean")?;
            (Type::BigInt, false)
        }
        B::Sum => {
            let t = numeric1()?;
            (if t == Type::Int { Type::BigInt } else { t }, true)
        }
        B::Avg | B::Stddev | B::Median => {
            numeric1()?;
            (Type::Float, true)
        }
        // Continuous percentile (linear interpolation between the closest ranks).
        B::Percentile => {
            arity(name, args, 2, 2)?;
            want(name, 0, &args[0], Type::is_numeric, "a number")?;
            let p = match literal_arg(&args[1]) {
                Some(Literal::Int(v)) => v as f64,
                Some(Literal::Float(v)) => v,
                _ => return Err(not_literal(name, 1, "a number from 0 to 1")),
            };
            if !(0.0..=1.0).contains(&p) {
                return Err(out_of_range(
                    1,
                    format!("the percentile must be from 0 to 1, found {p}"),
                ));
            }
            (Type::Float, true)
        }
        B::Min | B::Max | B::AnyValue => {
            arity(name, args, 1, 1)?;
            (args[0].ty, true)
        }
        B::RowNumber | B::Rank | B::DenseRank => {
            arity(name, args, 0, 0)?;
            (Type::BigInt, false)
        }
        B::Ntile => {
            arity(name, args, 1, 1)?;
            match literal_arg(&args[0]) {
                Some(Literal::Int(v)) if v >= 1 => {}
                Some(Literal::Int(v)) => {
                    return Err(out_of_range(
                        0,
                        format!("`ntile` needs at least 1 bucket, found {v}"),
                    ))
                }
                _ => return Err(not_literal(name, 0, "a whole number of buckets")),
            }
            (Type::BigInt, false)
        }
        B::Lag | B::Lead => {
            arity(name, args, 1, 2)?;
            if let Some(k) = args.get(1) {
                want(name, 1, k, is_integer, "an integer offset")?;
            }
            (args[0].ty, true)
        }
        B::FirstValue | B::LastValue => {
            arity(name, args, 1, 1)?;
            (args[0].ty, args[0].nullable)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_patterns() {
        assert_eq!(
            parse_time_pattern("%Y-%m-%dT%H:%M:%S%%").unwrap(),
            vec![
                PatternPiece::Year,
                PatternPiece::Text("-".into()),
                PatternPiece::Month,
                PatternPiece::Text("-".into()),
                PatternPiece::Day,
                PatternPiece::Text("T".into()),
                PatternPiece::Hour,
                PatternPiece::Text(":".into()),
                PatternPiece::Minute,
                PatternPiece::Text(":".into()),
                PatternPiece::Second,
                PatternPiece::Text("%".into()),
            ]
        );
        assert!(parse_time_pattern("%b %d").unwrap_err().contains("`%b`"));
        assert!(parse_time_pattern("%Y%").is_err());
        assert!(parse_time_pattern("no fields").is_err());
    }

    #[test]
    fn sql_names_rename_only_to_real_builtins() {
        for name in [
            "isnull",
            "nvl",
            "ifnull",
            "len",
            "char_length",
            "substring",
            "ucase",
            "lcase",
            "iif",
            "ceiling",
            "pow",
            "countif",
            "stddev_samp",
            "rlike",
            "get_json_object",
        ] {
            let to = sql_spelling(name, 2).and_then(|s| s.rename).unwrap();
            assert!(Builtin::from_name(to).is_some(), "{name} -> {to}");
            assert!(Builtin::from_name(name).is_none(), "{name} is a builtin");
        }
        // MySQL's one-argument `isnull(x)` is a null test, not `coalesce`.
        assert_eq!(sql_spelling("isnull", 1).unwrap().rename, None);
        let datediff = sql_spelling("DATEDIFF", 3).unwrap();
        assert_eq!(datediff.rename, None);
        assert!(datediff.help.contains("days_between(a, b)"));
        for named in [
            "days_between",
            "minutes_between",
            "add_months",
            "format_time",
            "parse_time",
        ] {
            assert!(Builtin::from_name(named).is_some(), "help names `{named}`");
        }
        assert_eq!(sql_spelling("frobnicate", 1), None);
    }

    #[test]
    fn every_builtin_has_a_unique_name() {
        for b in Builtin::ALL {
            assert_eq!(Builtin::from_name(b.name()), Some(*b));
        }
    }
}
