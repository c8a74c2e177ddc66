//! The builtin function registry: name, kind and typing rule of every function.

use crate::ir::{Expr, FnKind, Type};

/// The outcome of typing a call: result type and nullability, or what is wrong.
pub(crate) type Typing = Result<(Type, bool), String>;

/// Every builtin, by kind (for "did you mean").
pub const SCALAR: &[&str] = &[
    "lower",
    "upper",
    "trim",
    "length",
    "substr",
    "replace",
    "contains",
    "starts_with",
    "ends_with",
    "regexp_matches",
    "split_part",
    "concat",
    "abs",
    "round",
    "floor",
    "ceil",
    "sqrt",
    "ln",
    "exp",
    "power",
    "greatest",
    "least",
    "coalesce",
    "nullif",
    "if",
    "date_trunc",
    "year",
    "month",
    "day",
    "hour",
    "day_of_week",
    "days_between",
    "hours_between",
    "minutes_between",
    "seconds_between",
    "json_get",
    "md5",
];
/// Aggregate functions.
pub const AGGREGATE: &[&str] = &[
    "count",
    "count_distinct",
    "count_if",
    "sum",
    "avg",
    "min",
    "max",
    "any_value",
    "stddev",
];
/// Window-only functions.
pub const WINDOW: &[&str] = &[
    "row_number",
    "rank",
    "dense_rank",
    "lag",
    "lead",
    "first_value",
    "last_value",
];

/// The kind of builtin `name`, if it exists.
pub fn kind_of(name: &str) -> Option<FnKind> {
    if SCALAR.contains(&name) {
        Some(FnKind::Scalar)
    } else if AGGREGATE.contains(&name) {
        Some(FnKind::Aggregate)
    } else if WINDOW.contains(&name) {
        Some(FnKind::Window)
    } else {
        None
    }
}

fn any_nullable(args: &[Expr]) -> bool {
    args.iter().any(|a| a.nullable)
}

fn arity(name: &str, args: &[Expr], min: usize, max: usize) -> Result<(), String> {
    if args.len() < min || args.len() > max {
        let want = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(format!(
            "`{name}` takes {want} argument{}, got {}",
            if max == 1 { "" } else { "s" },
            args.len()
        ));
    }
    Ok(())
}

fn want(
    name: &str,
    i: usize,
    arg: &Expr,
    ok: impl Fn(Type) -> bool,
    what: &str,
) -> Result<(), String> {
    if arg.ty == Type::Null || ok(arg.ty) {
        Ok(())
    } else {
        Err(format!(
            "argument {} of `{name}` must be {what}, found {}",
            i + 1,
            arg.ty
        ))
    }
}

fn is_string(t: Type) -> bool {
    matches!(t, Type::String | Type::Json)
}

/// Types a call of builtin `name` (already known to exist) with typed `args`.
pub(crate) fn type_call(name: &str, args: &[Expr]) -> Typing {
    let n = any_nullable(args);
    let strings = |min, max| -> Result<(), String> {
        arity(name, args, min, max)?;
        for (i, a) in args.iter().enumerate() {
            want(name, i, a, is_string, "a string")?;
        }
        Ok(())
    };
    let numeric1 = || -> Result<Type, String> {
        arity(name, args, 1, 1)?;
        want(name, 0, &args[0], Type::is_numeric, "a number")?;
        Ok(args[0].ty)
    };
    let temporal_pair = || -> Result<(), String> {
        arity(name, args, 2, 2)?;
        want(name, 0, &args[0], Type::is_temporal, "a date or timestamp")?;
        want(name, 1, &args[1], Type::is_temporal, "a date or timestamp")
    };
    Ok(match name {
        "lower" | "upper" | "trim" | "md5" => {
            strings(1, 1)?;
            (Type::String, n)
        }
        "length" => {
            strings(1, 1)?;
            (Type::BigInt, n)
        }
        "contains" | "starts_with" | "ends_with" | "regexp_matches" => {
            strings(2, 2)?;
            (Type::Bool, n)
        }
        "replace" => {
            strings(3, 3)?;
            (Type::String, n)
        }
        "concat" => {
            arity(name, args, 1, usize::MAX)?;
            (Type::String, n)
        }
        "substr" => {
            arity(name, args, 2, 3)?;
            want(name, 0, &args[0], is_string, "a string")?;
            for (i, a) in args.iter().enumerate().skip(1) {
                want(
                    name,
                    i,
                    a,
                    |t| matches!(t, Type::Int | Type::BigInt),
                    "an integer",
                )?;
            }
            (Type::String, n)
        }
        "split_part" => {
            arity(name, args, 3, 3)?;
            want(name, 0, &args[0], is_string, "a string")?;
            want(name, 1, &args[1], is_string, "a string")?;
            want(
                name,
                2,
                &args[2],
                |t| matches!(t, Type::Int | Type::BigInt),
                "an integer",
            )?;
            (Type::String, n)
        }
        "abs" => (numeric1()?, n),
        "floor" | "ceil" => (numeric1()?, n),
        "sqrt" | "ln" | "exp" => {
            numeric1()?;
            (Type::Float, n)
        }
        "round" => {
            arity(name, args, 1, 2)?;
            want(name, 0, &args[0], Type::is_numeric, "a number")?;
            if let Some(d) = args.get(1) {
                want(
                    name,
                    1,
                    d,
                    |t| matches!(t, Type::Int | Type::BigInt),
                    "an integer",
                )?;
            }
            (args[0].ty, n)
        }
        "power" => {
            arity(name, args, 2, 2)?;
            want(name, 0, &args[0], Type::is_numeric, "a number")?;
            want(name, 1, &args[1], Type::is_numeric, "a number")?;
            (Type::Float, n)
        }
        "greatest" | "least" | "coalesce" => {
            arity(name, args, 1, usize::MAX)?;
            let mut ty = Type::Null;
            for a in args {
                ty = ty
                    .unify(a.ty)
                    .ok_or_else(|| format!("arguments of `{name}` mix {ty} and {}", a.ty))?;
            }
            let nullable = if name == "coalesce" {
                args.iter().all(|a| a.nullable)
            } else {
                n
            };
            (ty, nullable)
        }
        "nullif" => {
            arity(name, args, 2, 2)?;
            if !args[0].ty.comparable(args[1].ty) {
                return Err(format!(
                    "`nullif` compares {} with {}",
                    args[0].ty, args[1].ty
                ));
            }
            (args[0].ty, true)
        }
        "if" => {
            arity(name, args, 3, 3)?;
            want(name, 0, &args[0], |t| t == Type::Bool, "a boolean")?;
            let ty = args[1].ty.unify(args[2].ty).ok_or_else(|| {
                format!("the branches of `if` are {} and {}", args[1].ty, args[2].ty)
            })?;
            (ty, args[1].nullable || args[2].nullable)
        }
        "date_trunc" => {
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
        "year" | "month" | "day" | "hour" | "day_of_week" => {
            arity(name, args, 1, 1)?;
            want(name, 0, &args[0], Type::is_temporal, "a date or timestamp")?;
            (Type::BigInt, n)
        }
        "days_between" => {
            temporal_pair()?;
            (Type::BigInt, n)
        }
        "hours_between" | "minutes_between" | "seconds_between" => {
            temporal_pair()?;
            (Type::Float, n)
        }
        "json_get" => {
            strings(2, 2)?;
            (Type::String, true)
        }
        "count" => {
            arity(name, args, 0, 1)?;
            (Type::BigInt, false)
        }
        "count_distinct" => {
            arity(name, args, 1, 1)?;
            (Type::BigInt, false)
        }
        "count_if" => {
            arity(name, args, 1, 1)?;
            want(name, 0, &args[0], |t| t == Type::Bool, "a boolean")?;
            (Type::BigInt, false)
        }
        "sum" => {
            let t = numeric1()?;
            (
                if matches!(t, Type::Int) {
                    Type::BigInt
                } else {
                    t
                },
                true,
            )
        }
        "avg" | "stddev" => {
            numeric1()?;
            (Type::Float, true)
        }
        "min" | "max" | "any_value" => {
            arity(name, args, 1, 1)?;
            (args[0].ty, true)
        }
        "row_number" | "rank" | "dense_rank" => {
            arity(name, args, 0, 0)?;
            (Type::BigInt, false)
        }
        "lag" | "lead" => {
            arity(name, args, 1, 2)?;
            if let Some(k) = args.get(1) {
                want(
                    name,
                    1,
                    k,
                    |t| matches!(t, Type::Int | Type::BigInt),
                    "an integer offset",
                )?;
            }
            (args[0].ty, true)
        }
        "first_value" | "last_value" => {
            arity(name, args, 1, 1)?;
            (args[0].ty, args[0].nullable)
        }
        _ => return Err(format!("`{name}` is not a function")),
    })
}
