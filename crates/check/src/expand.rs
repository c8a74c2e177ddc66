//! Expansion of `define`s: arguments are bound to parameters and substituted into the body,
//! which is then checked like user code at the use site.

use std::collections::HashMap;

use pipec_diag::{codes, did_you_mean, Diagnostic};
use pipec_syntax::ast::{self, DefineBody, Expr, ExprKind as A, JoinCond, RelHead, StepKind as S};

use crate::ir::{Schema, Type};

#[derive(Clone)]
enum Subst {
    Column(ast::Ident),
    /// A `columns` parameter: one or several columns, spread where a list of columns goes.
    Columns(Vec<ast::Ident>),
    Value(Expr),
}

/// The steps of relation define `def` applied with `call` to a relation of schema `input`.
pub(crate) fn relation_define(
    def: &ast::DefineDecl,
    call: &ast::Call,
    input: &Schema,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<ast::Step>> {
    let DefineBody::Relation(body) = &def.body else {
        diags.push(
            Diagnostic::error(
                codes::BAD_ARGUMENTS,
                call.span,
                format!("`{}` is a check, not a transform", call.name.dotted()),
                "used as a step",
            )
            .with_help("use reusable checks inside a `check` block"),
        );
        return None;
    };
    let Some(rel_param) = def.params.first().filter(|p| p.ty.name.name == "relation") else {
        diags.push(
            Diagnostic::error(
                codes::BAD_ARGUMENTS,
                def.name.span,
                format!("`{}` has no relation parameter", def.name.name),
                "first parameter must be `rel: relation`",
            )
            .with_label(call.span, "used as a step here")
            .with_help("declare it as `define name(rel: relation, ...) = rel | ...`"),
        );
        return None;
    };
    let subst = bind(def, &def.params[1..], call, input, diags)?;
    match &body.head {
        RelHead::Ref(q) if q.parts.len() == 1 && q.parts[0].name == rel_param.name.name => {}
        _ => {
            diags.push(
                Diagnostic::error(
                    codes::BAD_ARGUMENTS,
                    body.span,
                    format!("`{}` must start from its relation parameter", def.name.name),
                    format!("should start with `{}`", rel_param.name.name),
                )
                .with_label(call.span, "used as a step here")
                .with_help(format!(
                    "write `define {}(…) = {} | …`",
                    def.name.name, rel_param.name.name
                )),
            );
            return None;
        }
    }
    Some(body.steps.iter().map(|s| step(s, &subst)).collect())
}

/// The rules of check define `def` applied with `call` to a relation of schema `input`.
pub(crate) fn check_define(
    def: &ast::DefineDecl,
    call: &ast::Call,
    input: &Schema,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<Expr>> {
    let DefineBody::Check(rules) = &def.body else {
        diags.push(
            Diagnostic::error(
                codes::BAD_ARGUMENTS,
                call.span,
                format!("`{}` is a transform, not a check", call.name.dotted()),
                "used as a check",
            )
            .with_help("apply reusable transforms as a step: `relation | name(args)`"),
        );
        return None;
    };
    let subst = bind(def, &def.params, call, input, diags)?;
    Some(rules.iter().map(|r| expr(r, &subst)).collect())
}

fn bind(
    def: &ast::DefineDecl,
    params: &[ast::Param],
    call: &ast::Call,
    input: &Schema,
    diags: &mut Vec<Diagnostic>,
) -> Option<HashMap<String, Subst>> {
    let mut bound: HashMap<String, Subst> = HashMap::new();
    let mut failed = false;
    let mut positional = 0;
    for arg in &call.args {
        let param = match &arg.name {
            Some(n) => match params.iter().find(|p| p.name.name == n.name) {
                Some(p) => p,
                None => {
                    let s = did_you_mean(&n.name, params.iter().map(|p| p.name.name.as_str()));
                    diags.push(
                        Diagnostic::error(
                            codes::UNKNOWN_OPTION,
                            n.span,
                            format!("`{}` has no parameter `{}`", def.name.name, n.name),
                            "unknown parameter",
                        )
                        .with_suggestion(
                            s,
                            format!(
                                "parameters: {}",
                                params
                                    .iter()
                                    .map(|p| p.name.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ),
                    );
                    failed = true;
                    continue;
                }
            },
            None => {
                let Some(p) = params.get(positional) else {
                    diags.push(
                        Diagnostic::error(
                            codes::BAD_ARGUMENTS,
                            arg.value.span,
                            format!("too many arguments to `{}`", def.name.name),
                            "extra argument",
                        )
                        .with_help(format!(
                            "`{}` takes {} argument(s)",
                            def.name.name,
                            params.len()
                        )),
                    );
                    failed = true;
                    continue;
                };
                positional += 1;
                p
            }
        };
        let value = match param.ty.name.name.as_str() {
            "columns" => {
                let names: Vec<&Expr> = match &arg.value.kind {
                    A::Tuple(items) => items.iter().collect(),
                    _ => vec![&arg.value],
                };
                let mut cols = Vec::new();
                for n in names {
                    match &n.kind {
                        A::Name(q) if q.parts.len() == 1 => {
                            if input.get(&q.parts[0].name).is_none() {
                                diags.push(crate::expr::unknown_column(
                                    &q.parts[0],
                                    &input.names().collect::<Vec<_>>(),
                                ));
                                failed = true;
                            }
                            cols.push(q.parts[0].clone());
                        }
                        _ => {
                            diags.push(
                                Diagnostic::error(
                                    codes::BAD_ARGUMENTS,
                                    n.span,
                                    format!("parameter `{}` needs column names", param.name.name),
                                    "not a column name",
                                )
                                .with_help("pass a column, or several in parentheses: `key = (origin, hour)`"),
                            );
                            failed = true;
                        }
                    }
                }
                Subst::Columns(cols)
            }
            "column" => match &arg.value.kind {
                A::Name(q) if q.parts.len() == 1 => {
                    if input.get(&q.parts[0].name).is_none() {
                        diags.push(crate::expr::unknown_column(
                            &q.parts[0],
                            &input.names().collect::<Vec<_>>(),
                        ));
                        failed = true;
                        continue;
                    }
                    Subst::Column(q.parts[0].clone())
                }
                A::Tuple(_) => {
                    diags.push(
                        Diagnostic::error(
                            codes::BAD_ARGUMENTS,
                            arg.value.span,
                            format!("parameter `{}` takes one column", param.name.name),
                            "several columns",
                        )
                        .with_label(param.ty.span, "declared `column` here")
                        .with_help(format!(
                            "pass one column, or declare the parameter as `{}: columns` to accept several",
                            param.name.name
                        )),
                    );
                    failed = true;
                    continue;
                }
                _ => {
                    diags.push(
                        Diagnostic::error(
                            codes::BAD_ARGUMENTS,
                            arg.value.span,
                            format!("parameter `{}` needs a column name", param.name.name),
                            "not a column name",
                        )
                        .with_help("pass the column itself, e.g. `key = station_id`"),
                    );
                    failed = true;
                    continue;
                }
            },
            "relation" => {
                diags.push(
                    Diagnostic::error(
                        codes::BAD_ARGUMENTS,
                        arg.value.span,
                        "only the piped relation can be a relation parameter",
                        "relation argument",
                    )
                    .with_help("join the other relation inside your transform instead"),
                );
                failed = true;
                continue;
            }
            other => {
                let Some(want) = Type::from_name(other, &param.ty.params) else {
                    diags.push(
                        Diagnostic::error(codes::UNKNOWN_TYPE, param.ty.span, format!("unknown parameter kind `{other}`"), "not a kind")
                            .with_help("parameters are `relation`, `column`, `columns` or a type such as `int` or `interval`"),
                    );
                    failed = true;
                    continue;
                };
                let lit_ty = match &arg.value.kind {
                    A::Literal(l) => Some(crate::expr::literal_type(l).0),
                    _ => None,
                };
                if let Some(t) = lit_ty {
                    if t != Type::Null && t.unify(want).is_none() {
                        diags.push(
                            Diagnostic::error(
                                codes::BAD_ARGUMENTS,
                                arg.value.span,
                                format!("parameter `{}` is {want}", param.name.name),
                                format!("this is {t}"),
                            )
                            .with_help(format!("pass a {want} value")),
                        );
                        failed = true;
                        continue;
                    }
                }
                Subst::Value(arg.value.clone())
            }
        };
        if bound.insert(param.name.name.clone(), value).is_some() {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_SETTING,
                    arg.value.span,
                    format!("parameter `{}` is given twice", param.name.name),
                    "second value",
                )
                .with_help("pass each parameter once"),
            );
            failed = true;
        }
    }
    for p in params {
        if !bound.contains_key(&p.name.name) && !failed {
            diags.push(
                Diagnostic::error(
                    codes::MISSING_OPTION,
                    call.span,
                    format!("missing argument `{}` of `{}`", p.name.name, def.name.name),
                    format!("`{}` is not given", p.name.name),
                )
                .with_label(def.name.span, "defined here")
                .with_help(format!("pass it as `{} = ...`", p.name.name)),
            );
            failed = true;
        }
    }
    (!failed).then_some(bound)
}

fn ident(i: &ast::Ident, s: &HashMap<String, Subst>) -> ast::Ident {
    match s.get(&i.name) {
        Some(Subst::Column(c)) => c.clone(),
        Some(Subst::Columns(cols)) if cols.len() == 1 => cols[0].clone(),
        _ => i.clone(),
    }
}

/// Names in a list of columns (`select except`, `using`): a `columns` parameter spreads.
fn idents(list: &[ast::Ident], s: &HashMap<String, Subst>) -> Vec<ast::Ident> {
    let mut out = Vec::new();
    for i in list {
        match s.get(&i.name) {
            Some(Subst::Columns(cols)) => out.extend(cols.iter().cloned()),
            _ => out.push(ident(i, s)),
        }
    }
    out
}

/// The columns a bare name stands for when it names a `columns` parameter.
fn spread<'a>(e: &Expr, s: &'a HashMap<String, Subst>) -> Option<&'a [ast::Ident]> {
    match &e.kind {
        A::Name(q) if q.parts.len() == 1 => match s.get(&q.parts[0].name) {
            Some(Subst::Columns(cols)) => Some(cols),
            _ => None,
        },
        _ => None,
    }
}

fn name_expr(c: &ast::Ident) -> Expr {
    Expr {
        kind: A::Name(ast::QName {
            parts: vec![c.clone()],
            span: c.span,
        }),
        span: c.span,
    }
}

/// Expressions in a list (partition and group keys, positional call arguments): a `columns`
/// parameter spreads into its columns.
fn exprs(list: &[Expr], s: &HashMap<String, Subst>) -> Vec<Expr> {
    let mut out = Vec::new();
    for e in list {
        match spread(e, s) {
            Some(cols) => out.extend(cols.iter().map(name_expr)),
            None => out.push(expr(e, s)),
        }
    }
    out
}

fn expr(e: &Expr, s: &HashMap<String, Subst>) -> Expr {
    let kind = match &e.kind {
        A::Name(q) if q.parts.len() == 1 => match s.get(&q.parts[0].name) {
            Some(Subst::Column(c)) => A::Name(ast::QName {
                parts: vec![c.clone()],
                span: c.span,
            }),
            Some(Subst::Columns(cols)) if cols.len() == 1 => return name_expr(&cols[0]),
            // Several columns where one value goes: the checker reports the tuple.
            Some(Subst::Columns(cols)) => A::Tuple(cols.iter().map(name_expr).collect()),
            Some(Subst::Value(v)) => return v.clone(),
            None => e.kind.clone(),
        },
        A::Literal(_) | A::Name(_) | A::Param(_) | A::Star => e.kind.clone(),
        A::Call(c) => A::Call(call(c, s)),
        A::Unary(op, x) => A::Unary(*op, Box::new(expr(x, s))),
        A::Binary(op, a, b) => A::Binary(*op, Box::new(expr(a, s)), Box::new(expr(b, s))),
        A::Cast(x, t) => A::Cast(Box::new(expr(x, s)), t.clone()),
        A::IsNull { value, negated } => A::IsNull {
            value: Box::new(expr(value, s)),
            negated: *negated,
        },
        A::InList(x, l) => A::InList(Box::new(expr(x, s)), l.iter().map(|i| expr(i, s)).collect()),
        A::Case { arms, otherwise } => A::Case {
            arms: arms.iter().map(|(c, v)| (expr(c, s), expr(v, s))).collect(),
            otherwise: otherwise.as_ref().map(|o| Box::new(expr(o, s))),
        },
        A::List(l) => A::List(l.iter().map(|i| expr(i, s)).collect()),
        A::Tuple(l) => A::Tuple(l.iter().map(|i| expr(i, s)).collect()),
    };
    Expr { kind, span: e.span }
}

fn call(c: &ast::Call, s: &HashMap<String, Subst>) -> ast::Call {
    let mut args = Vec::new();
    for a in &c.args {
        match (&a.name, spread(&a.value, s)) {
            // `unique(key)` with `key: columns` checks all of them.
            (None, Some(cols)) => args.extend(cols.iter().map(|c| ast::Arg {
                name: None,
                value: name_expr(c),
            })),
            _ => args.push(ast::Arg {
                name: a.name.clone(),
                value: expr(&a.value, s),
            }),
        }
    }
    ast::Call {
        name: c.name.clone(),
        args,
        span: c.span,
    }
}

fn assigns(a: &[ast::Assign], s: &HashMap<String, Subst>) -> Vec<ast::Assign> {
    a.iter()
        .map(|a| ast::Assign {
            name: a.name.clone(),
            value: expr(&a.value, s),
        })
        .collect()
}

fn sort_keys(k: &[ast::SortKey], s: &HashMap<String, Subst>) -> Vec<ast::SortKey> {
    let mut out = Vec::new();
    for key in k {
        match spread(&key.value, s) {
            // `order key desc` with `key: columns`: each column in that direction.
            Some(cols) => out.extend(cols.iter().map(|c| ast::SortKey {
                value: name_expr(c),
                descending: key.descending,
            })),
            None => out.push(ast::SortKey {
                value: expr(&key.value, s),
                descending: key.descending,
            }),
        }
    }
    out
}

fn step(st: &ast::Step, s: &HashMap<String, Subst>) -> ast::Step {
    let kind = match &st.kind {
        S::Filter(e) => S::Filter(expr(e, s)),
        S::Derive(a) => S::Derive(assigns(a, s)),
        S::Select(items) => S::Select(
            items
                .iter()
                .flat_map(|i| match (&i.name, spread(&i.value, s)) {
                    (None, Some(cols)) => cols
                        .iter()
                        .map(|c| ast::SelectItem {
                            name: None,
                            value: name_expr(c),
                        })
                        .collect(),
                    _ => vec![ast::SelectItem {
                        name: i.name.clone(),
                        value: expr(&i.value, s),
                    }],
                })
                .collect(),
        ),
        S::SelectExcept(names) => S::SelectExcept(idents(names, s)),
        S::Join {
            kind,
            relation,
            alias,
            cond,
        } => S::Join {
            kind: *kind,
            relation: relation.clone(),
            alias: alias.clone(),
            cond: match cond {
                JoinCond::On(e) => JoinCond::On(expr(e, s)),
                JoinCond::Using(cols) => JoinCond::Using(idents(cols, s)),
            },
        },
        S::Group { keys, aggregates } => S::Group {
            keys: exprs(keys, s),
            aggregates: assigns(aggregates, s),
        },
        S::Aggregate(a) => S::Aggregate(assigns(a, s)),
        S::Sort(k) => S::Sort(sort_keys(k, s)),
        S::Take(e) => S::Take(expr(e, s)),
        S::Distinct => S::Distinct,
        S::Union(q) => S::Union(q.clone()),
        S::Window {
            partition,
            order,
            frame,
            functions,
        } => S::Window {
            partition: exprs(partition, s),
            order: sort_keys(order, s),
            frame: frame.clone(),
            functions: assigns(functions, s),
        },
        S::Apply(c) => S::Apply(call(c, s)),
    };
    ast::Step {
        kind,
        span: st.span,
    }
}
