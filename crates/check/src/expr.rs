//! Typing of expressions against a scope of columns.

use pipec_diag::{codes, did_you_mean, Diagnostic, Span};
use pipec_syntax::ast::{self, BinaryOp, ExprKind as A, Literal, UnaryOp};

use crate::functions;
use std::collections::HashMap;

use crate::ir::{Column, Expr, ExprKind, FnKind, RunParam, Schema, Side, Type};

/// Where an expression is evaluated.
pub(crate) struct Scope<'a> {
    /// Columns of the current relation (the left side inside a join).
    pub schema: &'a Schema,
    /// Names that refer to the current relation when qualified (e.g. its own name).
    pub left_names: Vec<&'a str>,
    /// The right side of a join: its names and schema.
    pub right: Option<(Vec<&'a str>, &'a Schema)>,
    /// Aggregates allowed (group, aggregate, aggregate checks).
    pub aggregates: bool,
    /// Window functions allowed.
    pub windows: bool,
    /// Inside an aggregate's arguments (nested aggregates are errors).
    pub in_aggregate: bool,
    /// A name index of `schema`, when the caller keeps one (a wide `derive`): column lookups
    /// are then hash lookups instead of scans.
    pub index: Option<&'a ColumnIndex>,
}

impl Scope<'_> {
    /// The column of the current relation named `name` (as [`Schema::get`]).
    fn column(&self, name: &str) -> Option<&Column> {
        match self.index {
            Some(index) => index.get(self.schema, name),
            None => self.schema.get(name),
        }
    }
}

/// Column positions of a schema by lower-cased name, kept up to date by [`ColumnIndex::set`],
/// so that a step adding many columns one by one stays linear.
pub(crate) struct ColumnIndex(HashMap<String, Vec<usize>>);

impl ColumnIndex {
    /// An index of `schema`'s columns.
    pub fn new(schema: &Schema) -> Self {
        let mut map: HashMap<String, Vec<usize>> = HashMap::with_capacity(schema.columns.len());
        for (i, c) in schema.columns.iter().enumerate() {
            map.entry(c.name.to_lowercase()).or_default().push(i);
        }
        ColumnIndex(map)
    }

    /// [`Schema::get`] through the index: the exact spelling first, else the first column
    /// equal ignoring case.
    pub fn get<'s>(&self, schema: &'s Schema, name: &str) -> Option<&'s Column> {
        let found = self.0.get(&name.to_lowercase())?;
        let at = found
            .iter()
            .find(|&&i| schema.columns[i].name == name)
            .or_else(|| found.first())?;
        Some(&schema.columns[*at])
    }

    /// [`Schema::set`] keeping the index in step.
    pub fn set(&mut self, schema: &mut Schema, column: Column) {
        let key = column.name.to_lowercase();
        match self.0.get(&key).and_then(|f| f.first()) {
            Some(&i) => schema.columns[i] = column,
            None => {
                self.0.insert(key, vec![schema.columns.len()]);
                schema.columns.push(column);
            }
        }
    }
}

impl<'a> Scope<'a> {
    /// A plain row scope over `schema`.
    pub fn rows(schema: &'a Schema) -> Self {
        Scope {
            schema,
            left_names: Vec::new(),
            right: None,
            aggregates: false,
            windows: false,
            in_aggregate: false,
            index: None,
        }
    }
}

pub(crate) fn literal_type(lit: &Literal) -> (Type, bool) {
    match lit {
        Literal::Int(v) if i32::try_from(*v).is_ok() => (Type::Int, false),
        Literal::Int(_) => (Type::BigInt, false),
        Literal::Float(_) => (Type::Float, false),
        Literal::Str(_) => (Type::String, false),
        Literal::Bool(_) => (Type::Bool, false),
        Literal::Null => (Type::Null, true),
        Literal::Date(_) => (Type::Date, false),
        Literal::Timestamp(_) => (Type::Timestamp, false),
        Literal::Duration(_) => (Type::Interval, false),
    }
}

/// Types `e` in `scope`; reports problems into `diags` and returns `None` after an error.
pub(crate) fn type_expr(
    e: &ast::Expr,
    scope: &Scope<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Expr> {
    let mk = |kind, ty, nullable| Some(Expr { kind, ty, nullable });
    match &e.kind {
        A::Literal(lit) => {
            let (ty, nullable) = literal_type(lit);
            mk(ExprKind::Literal(lit.clone()), ty, nullable)
        }
        A::Name(q) => column(q, scope, diags),
        A::Param(p) => {
            let (param, ty) = match p.name.as_str() {
                "ds" => (RunParam::Ds, Type::Date),
                "start" => (RunParam::Start, Type::Timestamp),
                "end" => (RunParam::End, Type::Timestamp),
                other => {
                    let s = did_you_mean(other, RunParam::NAMES.iter().copied());
                    diags.push(
                        Diagnostic::error(
                            codes::UNKNOWN_PARAM,
                            p.span,
                            format!("unknown run parameter `@{other}`"),
                            "not a run parameter",
                        )
                        .with_suggestion(
                            s.map(|s| format!("@{s}")).as_deref(),
                            "run parameters are @ds (date), @start and @end (timestamps)",
                        ),
                    );
                    return None;
                }
            };
            mk(ExprKind::Param(param), ty, false)
        }
        A::Call(call) => type_call(call, e.span, scope, diags),
        A::Unary(op, inner) => {
            let x = type_expr(inner, scope, diags)?;
            let ok = match op {
                UnaryOp::Neg => x.ty.is_numeric() || x.ty == Type::Interval,
                UnaryOp::Not => matches!(x.ty, Type::Bool | Type::Null),
            };
            if !ok {
                let want = if *op == UnaryOp::Neg {
                    "a number"
                } else {
                    "a boolean"
                };
                diags.push(mismatch(
                    inner.span,
                    format!("expected {want}, found {}", x.ty),
                ));
                return None;
            }
            let (ty, nullable) = (x.ty, x.nullable);
            mk(ExprKind::Unary(*op, Box::new(x)), ty, nullable)
        }
        A::Binary(op, l, r) => binary(*op, l, r, e.span, scope, diags),
        A::Cast(inner, ty) => {
            let x = type_expr(inner, scope, diags)?;
            let target = resolve_type(ty, diags)?;
            let nullable = x.nullable;
            mk(ExprKind::Cast(Box::new(x), target), target, nullable)
        }
        A::IsNull { value, negated } => {
            let x = type_expr(value, scope, diags)?;
            mk(
                ExprKind::IsNull {
                    value: Box::new(x),
                    negated: *negated,
                },
                Type::Bool,
                false,
            )
        }
        A::InList(value, list) => {
            let x = type_expr(value, scope, diags);
            let items: Vec<Option<Expr>> =
                list.iter().map(|i| type_expr(i, scope, diags)).collect();
            let x = x?;
            let mut out = Vec::new();
            for (item, src) in items.into_iter().zip(list) {
                let item = item?;
                if !x.ty.comparable(item.ty) {
                    diags.push(mismatch(
                        src.span,
                        format!("cannot compare {} with {}", x.ty, item.ty),
                    ));
                    return None;
                }
                out.push(item);
            }
            let nullable = x.nullable;
            mk(ExprKind::InList(Box::new(x), out), Type::Bool, nullable)
        }
        A::Case { arms, otherwise } => {
            let mut typed = Vec::new();
            let mut ty = Type::Null;
            let mut nullable = otherwise.is_none();
            let mut failed = false;
            for (c, v) in arms {
                let tc = type_expr(c, scope, diags);
                let tv = type_expr(v, scope, diags);
                let (Some(tc), Some(tv)) = (tc, tv) else {
                    failed = true;
                    continue;
                };
                if !matches!(tc.ty, Type::Bool | Type::Null) {
                    diags.push(not_boolean(c.span, tc.ty, "a `when` condition"));
                    failed = true;
                    continue;
                }
                match ty.unify(tv.ty) {
                    Some(t) => ty = t,
                    None => {
                        diags.push(mismatch(
                            v.span,
                            format!("this branch is {}, earlier branches are {ty}", tv.ty),
                        ));
                        failed = true;
                    }
                }
                nullable |= tv.nullable;
                typed.push((tc, tv));
            }
            let other = match otherwise {
                Some(o) => {
                    let t = type_expr(o, scope, diags)?;
                    match ty.unify(t.ty) {
                        Some(u) => ty = u,
                        None => {
                            diags.push(mismatch(
                                o.span,
                                format!("the `else` branch is {}, other branches are {ty}", t.ty),
                            ));
                            return None;
                        }
                    }
                    nullable |= t.nullable;
                    Some(Box::new(t))
                }
                None => None,
            };
            if failed {
                return None;
            }
            mk(
                ExprKind::Case {
                    arms: typed,
                    otherwise: other,
                },
                ty,
                nullable,
            )
        }
        A::List(_) => {
            diags.push(
                Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    e.span,
                    "a list is not a value here",
                    "lists are only allowed after `in` and as option values",
                )
                .with_help("use `x in [a, b]` to test membership"),
            );
            None
        }
        A::Tuple(items) => {
            let n = items.len();
            diags.push(
                Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    e.span,
                    "a list in parentheses is not a value here",
                    format!("{n} items where one value goes"),
                )
                .with_help("a list of columns is an argument of a define (`key = (origin, hour)`), spread where a list of columns goes: `partition`, `group` keys, `order`/`sort`, `select`, `using`, check rules like `unique(...)`"),
            );
            None
        }
        A::Star => {
            diags.push(
                Diagnostic::error(
                    codes::BAD_ARGUMENTS,
                    e.span,
                    "`*` is only allowed in `count(*)`",
                    "unexpected `*`",
                )
                .with_help("write `count()` or `count(*)` to count rows"),
            );
            None
        }
    }
}

pub(crate) fn mismatch(span: Span, label: String) -> Diagnostic {
    Diagnostic::error(codes::TYPE_MISMATCH, span, "type mismatch", label)
        .with_help("convert one side with `::type`, e.g. `x::float`")
}

pub(crate) fn not_boolean(span: Span, found: Type, what: &str) -> Diagnostic {
    Diagnostic::error(
        codes::NOT_BOOLEAN,
        span,
        format!("{what} must be boolean"),
        format!("this is {found}, not bool"),
    )
    .with_help("compare it with something, e.g. `x > 0` or `x is not null`")
}

pub(crate) fn resolve_type(ty: &ast::TypeExpr, diags: &mut Vec<Diagnostic>) -> Option<Type> {
    match Type::from_name(&ty.name.name, &ty.params) {
        Some(t) => Some(t),
        None => {
            let s = did_you_mean(&ty.name.name, Type::NAMES.iter().copied());
            let d = if Type::NAMES.contains(&ty.name.name.as_str()) || ty.name.name == "numeric" {
                Diagnostic::error(
                    codes::UNKNOWN_TYPE,
                    ty.span,
                    "invalid type parameters",
                    "precision must be at most 38 and scale at most the precision",
                )
                .with_help("write e.g. `decimal(12, 2)`")
            } else {
                Diagnostic::error(
                    codes::UNKNOWN_TYPE,
                    ty.name.span,
                    format!("unknown type `{}`", ty.name.name),
                    "not a type",
                )
                .with_suggestion(s, format!("types are: {}", Type::NAMES.join(", ")))
            };
            diags.push(d);
            None
        }
    }
}

fn column(q: &ast::QName, scope: &Scope<'_>, diags: &mut Vec<Diagnostic>) -> Option<Expr> {
    let make = |c: &crate::ir::Column, side, nullable: bool| {
        Some(Expr {
            kind: ExprKind::Column {
                name: c.name.clone(),
                side,
            },
            ty: c.ty,
            nullable: c.nullable || nullable,
        })
    };
    let (qualifier, name) = match q.parts.as_slice() {
        [one] => (None, one),
        [rel, col] => (Some(rel), col),
        _ => {
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_COLUMN,
                    q.span,
                    format!("`{}` is not a column", q.dotted()),
                    "too many dots",
                )
                .with_help("refer to a column as `name` or `relation.name`"),
            );
            return None;
        }
    };
    let in_join = scope.right.is_some();
    let left_side = in_join.then_some(Side::Left);
    match qualifier {
        None => {
            let left = scope.column(&name.name);
            let right = scope.right.as_ref().and_then(|(_, s)| s.get(&name.name));
            match (left, right) {
                (Some(_), Some(_)) => {
                    diags.push(
                        Diagnostic::error(
                            codes::AMBIGUOUS_COLUMN,
                            name.span,
                            format!("column `{}` is ambiguous", name.name),
                            "exists on both sides of the join",
                        )
                        .with_help(format!(
                            "qualify it: `{}.{}` or `{}.{}`",
                            scope.left_names.first().unwrap_or(&"left"),
                            name.name,
                            scope
                                .right
                                .as_ref()
                                .and_then(|(n, _)| n.first())
                                .unwrap_or(&"right"),
                            name.name
                        )),
                    );
                    None
                }
                (Some(c), None) => make(c, left_side, false),
                (None, Some(c)) => make(c, Some(Side::Right), false),
                (None, None) => {
                    let mut names: Vec<&str> = scope.schema.names().collect();
                    if let Some((_, s)) = &scope.right {
                        names.extend(s.names());
                    }
                    diags.push(unknown_column(name, &names));
                    None
                }
            }
        }
        Some(rel) => {
            if let Some((rnames, rschema)) = &scope.right {
                if rnames.contains(&rel.name.as_str()) {
                    return match rschema.get(&name.name) {
                        Some(c) => make(c, Some(Side::Right), false),
                        None => {
                            diags.push(unknown_column(name, &rschema.names().collect::<Vec<_>>()));
                            None
                        }
                    };
                }
            }
            if scope.left_names.contains(&rel.name.as_str()) {
                return match scope.column(&name.name) {
                    Some(c) => make(c, left_side, false),
                    None => {
                        diags.push(unknown_column(
                            name,
                            &scope.schema.names().collect::<Vec<_>>(),
                        ));
                        None
                    }
                };
            }
            let mut known: Vec<&str> = scope.left_names.clone();
            if let Some((n, _)) = &scope.right {
                known.extend(n.iter().copied());
            }
            let s = did_you_mean(&rel.name, known.iter().copied());
            let help = if known.is_empty() {
                "qualified names are only needed inside a join; write the column name alone"
                    .to_string()
            } else {
                format!("relations in scope here: {}", known.join(", "))
            };
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_RELATION,
                    rel.span,
                    format!("unknown relation `{}`", rel.name),
                    "not in scope here",
                )
                .with_suggestion(s, help),
            );
            None
        }
    }
}

pub(crate) fn unknown_column(name: &ast::Ident, names: &[&str]) -> Diagnostic {
    let s = did_you_mean(&name.name, names.iter().copied());
    let mut shown: Vec<&str> = names.to_vec();
    shown.truncate(12);
    Diagnostic::error(
        codes::UNKNOWN_COLUMN,
        name.span,
        format!("unknown column `{}`", name.name),
        "no such column",
    )
    .with_suggestion(s, format!("available columns: {}", shown.join(", ")))
}

/// `E0102` for `join r using (k)` where `k` is a column of one side only (`sides`: left,
/// right): says which side lacks it and suggests `on` with the other side's closest column.
/// `text` is the file's text, to replace the whole `using (k)` when it is the only key.
pub(crate) fn using_one_side(
    key: &ast::Ident,
    keys: usize,
    sides: (&Schema, &Schema),
    right_name: &str,
    text: &str,
) -> Diagnostic {
    let (left, right) = sides;
    let missing_left = left.get(&key.name).is_none();
    let (lacking, other) = if missing_left {
        ("the left side of the join".to_string(), left)
    } else {
        (format!("`{right_name}`"), right)
    };
    let names: Vec<&str> = other.names().collect();
    let close = did_you_mean(&key.name, names.iter().copied());
    // Otherwise the one column of the key's type on that side, as an example only.
    let key_type = if missing_left { right } else { left }
        .get(&key.name)
        .map(|c| c.ty);
    let mut same_type = other.columns.iter().filter(|c| Some(c.ty) == key_type);
    let example = match (same_type.next(), same_type.next()) {
        (Some(c), None) => Some(c.name.as_str()),
        _ => None,
    };
    let d = Diagnostic::error(
        codes::UNKNOWN_COLUMN,
        key.span,
        format!("`using ({})` needs `{}` on both sides", key.name, key.name),
        format!("not a column of {lacking}"),
    );
    let Some(close) = close else {
        if let Some(col) = example {
            let (l, r) = if missing_left {
                (col, key.name.as_str())
            } else {
                (key.name.as_str(), col)
            };
            return d.with_help(format!(
                "join on differently named columns with `on`, e.g. `on {l} == {r}`"
            ));
        }
        let mut shown = names;
        shown.truncate(12);
        return d.with_help(format!(
            "join on differently named columns with `on`, e.g. `on left_col == right_col`; columns of {lacking}: {}",
            shown.join(", ")
        ));
    };
    let (l, r) = if missing_left {
        (close, key.name.as_str())
    } else {
        (key.name.as_str(), close)
    };
    let on = format!("on {l} == {r}");
    let d = d.with_help(format!(
        "the columns are named differently: join with `{on}`"
    ));
    // The whole `using (k)`: from the keyword before the key to the `)` after it.
    let (start, end) = (key.span.start as usize, key.span.end as usize);
    let using_at = text[..start.min(text.len())]
        .trim_end()
        .strip_suffix('(')
        .map(str::trim_end)
        .and_then(|t| t.strip_suffix("using"))
        .map(str::len);
    let close_at = text
        .get(end..)
        .map(str::trim_start)
        .filter(|t| t.starts_with(')'))
        .map(|t| text.len() - t.len() + 1);
    match (keys, using_at, close_at) {
        (1, Some(a), Some(b)) => d.with_fix(Span::new(key.span.file, a, b), on),
        _ => d,
    }
}

fn type_call(
    call: &ast::Call,
    span: Span,
    scope: &Scope<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Expr> {
    let name = call.name.dotted();
    let Some(func) = crate::ir::Builtin::from_name(&name) else {
        let msg = if name == "secret" {
            diags.push(
                Diagnostic::error(
                    codes::SECRET_IN_DATA,
                    span,
                    "a secret cannot be used as data",
                    "secrets are only allowed in source options and alerts",
                )
                .with_help(
                    "secrets are resolved at run time and never written into tables, files or logs",
                ),
            );
            return None;
        } else {
            format!("unknown function `{name}`")
        };
        let d = Diagnostic::error(
            codes::UNKNOWN_FUNCTION,
            call.name.span,
            msg,
            "not a builtin function",
        );
        diags.push(match functions::sql_spelling(&name, call.args.len()) {
            Some(sql) => match sql.rename {
                Some(to) => d.with_help(sql.help).with_fix(call.name.span, to),
                None => d.with_help(sql.help),
            },
            None => d.with_suggestion(
                did_you_mean(&name, functions::all_names()),
                "see docs/language.md#functions for the list of functions",
            ),
        });
        return None;
    };
    let kind = func.kind();
    match kind {
        FnKind::Aggregate if scope.in_aggregate => {
            diags.push(
                Diagnostic::error(codes::NESTED_AGGREGATE, span, format!("aggregate `{name}` inside another aggregate"), "nested aggregate")
                    .with_help("compute the inner aggregate in a `group` step first, then aggregate its result"),
            );
            return None;
        }
        FnKind::Aggregate if !scope.aggregates => {
            diags.push(
                Diagnostic::error(codes::AGGREGATE_NOT_ALLOWED, span, format!("aggregate `{name}` is not allowed here"), "aggregate outside `group`")
                    .with_help("use aggregates inside `group keys { ... }`, `aggregate { ... }`, a `window` step or a check rule"),
            );
            return None;
        }
        FnKind::Window if !scope.windows => {
            diags.push(
                Diagnostic::error(
                    codes::WINDOW_NOT_ALLOWED,
                    span,
                    format!("window function `{name}` outside a window step"),
                    "needs a window",
                )
                .with_help("use it inside `window partition k order t { x = ... }`"),
            );
            return None;
        }
        _ => {}
    }
    let inner_scope = Scope {
        schema: scope.schema,
        left_names: scope.left_names.clone(),
        right: scope.right.clone(),
        aggregates: scope.aggregates,
        windows: false,
        in_aggregate: scope.in_aggregate || kind == FnKind::Aggregate,
        index: scope.index,
    };
    let mut args = Vec::new();
    let mut failed = false;
    for a in &call.args {
        if let Some(n) = &a.name {
            diags.push(
                Diagnostic::error(
                    codes::BAD_ARGUMENTS,
                    n.span,
                    format!("`{name}` takes no named arguments"),
                    "unexpected named argument",
                )
                .with_help("pass the value positionally"),
            );
            failed = true;
            continue;
        }
        if matches!(a.value.kind, A::Star) {
            if name == "count" && call.args.len() == 1 {
                continue;
            }
            diags.push(
                Diagnostic::error(
                    codes::BAD_ARGUMENTS,
                    a.value.span,
                    "`*` is only allowed in `count(*)`",
                    "unexpected `*`",
                )
                .with_help("write `count()` to count rows"),
            );
            failed = true;
            continue;
        }
        match type_expr(&a.value, &inner_scope, diags) {
            Some(t) => args.push(t),
            None => failed = true,
        }
    }
    if failed {
        return None;
    }
    match functions::type_call(func, &args) {
        Ok((ty, nullable)) => Some(Expr {
            kind: ExprKind::Call { func, kind, args },
            ty,
            nullable,
        }),
        Err(e) => {
            let at = e
                .arg
                .and_then(|i| call.args.get(i))
                .map_or(span, |a| a.value.span);
            let d = if e.code == codes::BAD_ARGUMENTS {
                Diagnostic::error(
                    e.code,
                    at,
                    format!("wrong arguments to `{name}`"),
                    e.message,
                )
                .with_help("see docs/language.md#functions for each function's arguments")
            } else {
                let help = if e.code == codes::BAD_TIME_PATTERN {
                    format!(
                        "write the pattern as a string literal using {}, e.g. \"%Y-%m-%d %H:%M:%S\"",
                        functions::PATTERN_DIRECTIVES
                    )
                } else if e.code == codes::UNKNOWN_TIMEZONE {
                    "time zones are IANA names such as \"Asia/Seoul\" or \"UTC\"".to_string()
                } else {
                    "write the value itself, e.g. `percentile(delay, 0.9)`, `ntile(4)` or `to_timezone(t, \"Asia/Seoul\")`"
                        .to_string()
                };
                Diagnostic::error(e.code, at, e.code.title, e.message).with_help(help)
            };
            diags.push(d);
            None
        }
    }
}

fn is_comparison(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
    )
}

/// `x == null` is null for every row (so a filter drops them all): point at `is null`.
fn null_comparison(op: BinaryOp, l: &ast::Expr, r: &ast::Expr, span: Span) -> Diagnostic {
    let value = if matches!(l.kind, A::Literal(Literal::Null)) {
        r
    } else {
        l
    };
    let d = Diagnostic::error(
        codes::NULL_COMPARISON,
        span,
        format!("`{}` with null is never true", op.symbol()),
        "a comparison with null is null for every row",
    );
    match op {
        BinaryOp::Eq => d.with_help(format!(
            "test for null with `is null`: `{} is null`",
            expr_text(value)
        )),
        BinaryOp::Ne => d.with_help(format!(
            "test for null with `is not null`: `{} is not null`",
            expr_text(value)
        )),
        _ => d.with_help("compare with a value, or test for null with `is null` / `is not null`"),
    }
}

/// `E0201` for a date or timestamp compared with a quoted string (`at > "2024-01-01"`, SQL's
/// habit): pipec's dates and timestamps are literals without quotes.
fn quoted_time(op: BinaryOp, span: Span, at: Span, value: &str, ty: Type) -> Diagnostic {
    let d = Diagnostic::error(
        codes::TYPE_MISMATCH,
        span,
        "type mismatch",
        format!("`{}` cannot combine {ty} and string", op.symbol()),
    )
    .with_label(at, "a string, not a time");
    match time_literal(value) {
        Some(lit) => d
            .with_help(format!(
                "dates and timestamps are written without quotes: `{lit}`"
            ))
            .with_fix(at, lit),
        None => d.with_help(
            "dates and timestamps are written without quotes: `2024-01-01`, `2024-01-01 00:00`; to read a string as a time use `parse_time(s, \"%Y-%m-%d\")`",
        ),
    }
}

/// The unquoted literal for a quoted date (`2024-01-01`) or timestamp (`2024-01-01 10:00`,
/// `2024-01-01T10:00:00`, with a trailing `Z`: timestamps are UTC), if it is a valid one.
fn time_literal(value: &str) -> Option<String> {
    let value = value.trim();
    let (date, clock) = match value.get(10..11) {
        None if value.len() == 10 => (value, None),
        Some("T" | " ") => (&value[..10], Some(value[11..].trim_end_matches('Z'))),
        _ => return None,
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let shaped =
        date.split('-').map(str::len).eq([4, 2, 2]) && date.split('-').all(|p| digits(p, p.len()));
    if !shaped || !pipec_syntax::valid_date(date) {
        return None;
    }
    match clock {
        None => Some(date.to_string()),
        Some(c) => {
            let parts: Vec<&str> = c.split(':').collect();
            let ok = (2..=3).contains(&parts.len())
                && parts.iter().all(|p| digits(p, 2))
                && pipec_syntax::valid_clock(c);
            ok.then(|| format!("{date} {c}"))
        }
    }
}

/// A short rendering of a column name for help texts (`x` for anything else).
fn expr_text(e: &ast::Expr) -> String {
    match &e.kind {
        A::Name(q) => q.dotted(),
        _ => "(...)".to_string(),
    }
}

fn binary(
    op: BinaryOp,
    l: &ast::Expr,
    r: &ast::Expr,
    span: Span,
    scope: &Scope<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Expr> {
    let a = type_expr(l, scope, diags);
    let b = type_expr(r, scope, diags);
    let (a, b) = (a?, b?);
    if is_comparison(op) && (a.ty == Type::Null || b.ty == Type::Null) {
        diags.push(null_comparison(op, l, r, span));
        return None;
    }
    let nullable = match op {
        BinaryOp::Coalesce => b.nullable,
        _ => a.nullable || b.nullable,
    };
    if is_comparison(op) {
        let quoted = match (&l.kind, &r.kind) {
            (A::Literal(Literal::Str(v)), _) if b.ty.is_temporal() => Some((l.span, v, b.ty)),
            (_, A::Literal(Literal::Str(v))) if a.ty.is_temporal() => Some((r.span, v, a.ty)),
            _ => None,
        };
        if let Some((at, value, ty)) = quoted {
            diags.push(quoted_time(op, span, at, value, ty));
            return None;
        }
    }
    let bad = |diags: &mut Vec<Diagnostic>| {
        diags.push(
            Diagnostic::error(
                codes::TYPE_MISMATCH,
                span,
                "type mismatch",
                format!("`{}` cannot combine {} and {}", op.symbol(), a.ty, b.ty),
            )
            .with_help(match op {
                BinaryOp::Concat => "`++` joins strings; convert with `::string`".to_string(),
                BinaryOp::And | BinaryOp::Or => {
                    "both sides of `and`/`or` must be boolean".to_string()
                }
                _ => "convert one side with `::type`, e.g. `x::float`".to_string(),
            }),
        );
        None
    };
    let ty = match op {
        BinaryOp::And | BinaryOp::Or => {
            if !matches!(a.ty, Type::Bool | Type::Null) || !matches!(b.ty, Type::Bool | Type::Null)
            {
                return bad(diags);
            }
            Type::Bool
        }
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            if !a.ty.comparable(b.ty) {
                return bad(diags);
            }
            Type::Bool
        }
        BinaryOp::Add | BinaryOp::Sub => match (a.ty, b.ty) {
            (Type::Date | Type::Timestamp, Type::Interval) => Type::Timestamp,
            (Type::Interval, Type::Date | Type::Timestamp) if op == BinaryOp::Add => {
                Type::Timestamp
            }
            (Type::Interval, Type::Interval) => Type::Interval,
            (Type::Timestamp, Type::Timestamp) if op == BinaryOp::Sub => Type::Interval,
            (x, y) if x.is_numeric() && y.is_numeric() => x.unify(y).unwrap_or(Type::Float),
            _ => return bad(diags),
        },
        BinaryOp::Mul | BinaryOp::Rem => match (a.ty, b.ty) {
            (x, y) if x.is_numeric() && y.is_numeric() => x.unify(y).unwrap_or(Type::Float),
            _ => return bad(diags),
        },
        BinaryOp::Div => {
            if !(a.ty.is_numeric() && b.ty.is_numeric()) {
                return bad(diags);
            }
            Type::Float
        }
        BinaryOp::Concat => {
            if !matches!(a.ty, Type::String | Type::Null)
                || !matches!(b.ty, Type::String | Type::Null)
            {
                return bad(diags);
            }
            Type::String
        }
        BinaryOp::Coalesce => match a.ty.unify(b.ty) {
            Some(t) => t,
            None => return bad(diags),
        },
    };
    let nullable = nullable || (op == BinaryOp::Div);
    Some(Expr {
        kind: ExprKind::Binary(op, Box::new(a), Box::new(b)),
        ty,
        nullable,
    })
}

#[cfg(test)]
mod tests {
    use super::time_literal;

    #[test]
    fn quoted_times_become_literals() {
        assert_eq!(time_literal("2024-01-01").as_deref(), Some("2024-01-01"));
        assert_eq!(
            time_literal("2024-01-01 10:30").as_deref(),
            Some("2024-01-01 10:30")
        );
        assert_eq!(
            time_literal("2024-01-31T23:59:00Z").as_deref(),
            Some("2024-01-31 23:59:00")
        );
        for bad in [
            "yesterday",
            "2024-02-30",
            "2024-1-01",
            "2024-01-01 25:00",
            "2024-01-01T10",
            "20240101",
            "2024-01-01 10:00:00.5",
            "２０２４-01-01",
        ] {
            assert_eq!(time_literal(bad), None, "{bad}");
        }
    }
}
