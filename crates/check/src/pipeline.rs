//! One file's pipeline: settings and schedule, then its relations, sinks, checks and tests.

use std::str::FromStr;

use pipec_diag::{codes, did_you_mean, Diagnostic, FileId, Span};
use pipec_syntax::ast::{self, ExprKind as A, Item, Literal, Schedule as S, SettingKind};

use crate::ir::{Alert, IntervalRule, Pipeline, Schedule, Value};
use crate::{items, relation, Unit, World};

use pipec_syntax::SETTING_KEYWORDS as SETTINGS;

/// Checks the pipeline of `file`; returns it with the `after` references still to resolve.
pub(crate) fn check_file(
    world: &World<'_>,
    file: FileId,
    unit: &Unit,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Pipeline, Vec<ast::Ident>)> {
    let mut decls = unit.module.items.iter().filter_map(|i| match i {
        Item::Pipeline(p) => Some(p),
        _ => None,
    });
    // When the pipeline block itself failed to parse (already reported), check the rest of the
    // file as a pipeline with default settings rather than skipping it.
    let placeholder = unit.broken_pipeline.as_ref().map(|name| ast::PipelineDecl {
        name: name.clone(),
        settings: Vec::new(),
        span: name.span,
    });
    let Some(decl) = decls.next().or(placeholder.as_ref()) else {
        let stray = unit.module.items.iter().find_map(|i| match i {
            Item::Source(s) => Some(s.name.span),
            Item::Transform(t) => Some(t.name.span),
            Item::Sink(s) => Some(s.span),
            Item::Check(c) => Some(c.span),
            Item::Test(t) => Some(t.span),
            _ => None,
        });
        if let Some(span) = stray {
            if !unit.broken.is_empty() {
                return None;
            }
            diags.push(
                Diagnostic::error(codes::MISSING_PIPELINE, span, "declarations without a pipeline", "this belongs to no pipeline")
                    .with_help("start the file with `pipeline <name> { schedule daily at 03:00 }`; files with only `define`s are modules to `import`"),
            );
        }
        return None;
    };
    for extra in decls {
        diags.push(
            Diagnostic::error(codes::DUPLICATE_NAME, extra.name.span, "a second pipeline in one file", "second pipeline")
                .with_label(decl.name.span, "the file's pipeline")
                .with_help("put each pipeline in its own file; they can depend on each other with `schedule after`"),
        );
    }
    let mut p = Pipeline {
        name: decl.name.name.clone(),
        file: world.sources.get(file).name.clone(),
        span: decl.name.span,
        schedule: Schedule::Manual,
        interval: IntervalRule::utc_days(),
        start: None,
        end: None,
        catchup: false,
        retries: 0,
        retry_backoff_seconds: 300,
        timeout_seconds: None,
        alerts: Vec::new(),
        owner: None,
        tags: Vec::new(),
        description: None,
        relations: Vec::new(),
        sinks: Vec::new(),
        checks: Vec::new(),
        tests: Vec::new(),
    };
    duplicate_names(unit, diags);
    let afters = settings(decl, &mut p, diags);
    relation::check_relations(world, file, unit, &mut p, diags);
    items::check_items(world, file, unit, &mut p, diags);
    Some((p, afters))
}

/// Two defines or two tests with the same name in one file.
fn duplicate_names(unit: &Unit, diags: &mut Vec<Diagnostic>) {
    let mut seen: Vec<(&str, &str, Span)> = Vec::new();
    for item in &unit.module.items {
        let (kind, name) = match item {
            Item::Define(d) => ("define", &d.name),
            Item::Test(t) => ("test", &t.name),
            _ => continue,
        };
        if let Some((_, _, first)) = seen.iter().find(|(k, n, _)| *k == kind && *n == name.name) {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_NAME,
                    name.span,
                    format!("{kind} `{}` is declared twice", name.name),
                    "second declaration",
                )
                .with_label(*first, "first declared here")
                .with_help("rename one of them"),
            );
            continue;
        }
        seen.push((kind, &name.name, name.span));
    }
}

fn setting_name(kind: &SettingKind) -> &str {
    match kind {
        SettingKind::Schedule(_) => "schedule",
        SettingKind::Start(_) => "start",
        SettingKind::End(_) => "end",
        SettingKind::Catchup(_) => "catchup",
        SettingKind::Retries { .. } => "retries",
        SettingKind::Timeout(_) => "timeout",
        SettingKind::Alert(_) => "alert",
        SettingKind::Owner(_) => "owner",
        SettingKind::Tags(_) => "tags",
        SettingKind::Description(_) => "description",
        SettingKind::Unknown { name, .. } => &name.name,
    }
}

/// `E0318` for a `schedule` that is none of pipec's schedules (cron's `@daily`, a bare cron
/// string, `weekly`), with the pipec spelling as a fix where there is one.
fn unknown_schedule(name: Span, value: Option<&ast::Expr>) -> Diagnostic {
    let forms = "schedules are `daily [at HH:MM] [\"zone\"]`, `hourly [at :MM]`, `every 15m`, `cron \"m h dom mon dow\"`, `after pipeline`, `on file \"path\"` and `continuous`";
    let Some(value) = value else {
        return Diagnostic::error(
            codes::UNKNOWN_SCHEDULE,
            name,
            "`schedule` without a schedule",
            "says when, but not how often",
        )
        .with_help(forms);
    };
    let written = match &value.kind {
        ast::ExprKind::Param(p) => format!("@{}", p.name),
        ast::ExprKind::Name(q) => q.dotted(),
        ast::ExprKind::Literal(ast::Literal::Str(s)) => {
            let cron = format!("cron \"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
            return Diagnostic::error(
                codes::UNKNOWN_SCHEDULE,
                value.span,
                "a cron expression needs the word `cron`",
                "not a schedule",
            )
            .with_help(format!("write `schedule {cron}`"))
            .with_fix(
                Span::new(
                    value.span.file,
                    value.span.start as usize,
                    value.span.start as usize,
                ),
                "cron ",
            );
        }
        _ => String::new(),
    };
    let replacement = match written.as_str() {
        "@daily" | "@midnight" => Some("daily"),
        "@hourly" => Some("hourly"),
        "@weekly" => Some("cron \"0 0 * * 0\""),
        "@monthly" | "monthly" => Some("cron \"0 0 1 * *\""),
        "@yearly" | "@annually" | "yearly" => Some("cron \"0 0 1 1 *\""),
        "weekly" => Some("cron \"0 0 * * 1\""),
        _ => None,
    };
    let message = match written.as_str() {
        "" => "not a schedule".to_string(),
        w if w.starts_with('@') => format!("`{w}` is cron's shorthand, not a pipec schedule"),
        w => format!("`{w}` is not a schedule"),
    };
    let d = Diagnostic::error(
        codes::UNKNOWN_SCHEDULE,
        value.span,
        message,
        "not a schedule",
    );
    match replacement {
        Some(r) => d
            .with_help(format!("write `schedule {r}`; {forms}"))
            .with_fix(value.span, r),
        None => d.with_help(forms),
    }
}

pub(crate) fn bad_value(span: Span, what: &str, expected: &str, example: &str) -> Diagnostic {
    Diagnostic::error(
        codes::BAD_OPTION_VALUE,
        span,
        format!("`{what}` needs {expected}"),
        format!("expected {expected}"),
    )
    .with_help(format!("for example: {example}"))
}

fn settings(
    decl: &ast::PipelineDecl,
    p: &mut Pipeline,
    diags: &mut Vec<Diagnostic>,
) -> Vec<ast::Ident> {
    let mut seen: Vec<(&str, Span)> = Vec::new();
    let mut afters = Vec::new();
    let mut start_span = None;
    let mut end_span = None;
    for s in &decl.settings {
        let name = setting_name(&s.kind);
        if !matches!(s.kind, SettingKind::Alert(_) | SettingKind::Unknown { .. }) {
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_SETTING,
                        s.span,
                        format!("`{name}` is set twice"),
                        "second setting",
                    )
                    .with_label(*first, "first set here")
                    .with_help("keep one of them"),
                );
                continue;
            }
            seen.push((name, s.span));
        }
        match &s.kind {
            SettingKind::Schedule(sched) => {
                p.schedule = schedule(sched, &mut afters, diags).unwrap_or(Schedule::Manual);
                p.interval = interval_rule(&p.schedule);
            }
            SettingKind::Start(e) => {
                p.start = date_value(e, "start", diags);
                start_span = Some(e.span);
            }
            SettingKind::End(e) => {
                p.end = date_value(e, "end", diags);
                end_span = Some(e.span);
            }
            SettingKind::Catchup(e) => match &e.kind {
                A::Literal(Literal::Bool(b)) => p.catchup = *b,
                _ => diags.push(bad_value(
                    e.span,
                    "catchup",
                    "true or false",
                    "catchup true",
                )),
            },
            SettingKind::Retries { count, backoff } => {
                match &count.kind {
                    A::Literal(Literal::Int(n)) if (0..=100).contains(n) => p.retries = *n as u32,
                    _ => diags.push(bad_value(
                        count.span,
                        "retries",
                        "a count from 0 to 100",
                        "retries 3 backoff 5m",
                    )),
                }
                if let Some(b) = backoff {
                    if let Some(secs) = seconds(b, "backoff", diags) {
                        p.retry_backoff_seconds = secs;
                    }
                }
            }
            SettingKind::Timeout(e) => p.timeout_seconds = seconds(e, "timeout", diags),
            SettingKind::Alert(e) => {
                if let Some(a) = alert(e, diags) {
                    p.alerts.push(a);
                }
            }
            SettingKind::Owner(e) => p.owner = string_value(e, "owner", diags),
            SettingKind::Description(e) => p.description = string_value(e, "description", diags),
            SettingKind::Tags(e) => match &e.kind {
                A::List(items) => {
                    for i in items {
                        if let Some(t) = string_value(i, "tags", diags) {
                            p.tags.push(t);
                        }
                    }
                }
                _ => diags.push(bad_value(
                    e.span,
                    "tags",
                    "a list of strings",
                    "tags [\"bike\", \"mart\"]",
                )),
            },
            SettingKind::Unknown { name, value } if name.name == "schedule" => {
                diags.push(unknown_schedule(name.span, value.as_ref()));
            }
            SettingKind::Unknown { name, .. } => {
                let sug = did_you_mean(&name.name, SETTINGS.iter().copied());
                diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_SETTING,
                        name.span,
                        format!("unknown pipeline setting `{}`", name.name),
                        "not a setting",
                    )
                    .with_suggestion(sug, format!("settings are: {}", SETTINGS.join(", "))),
                );
            }
        }
    }
    if let (Some(a), Some(b), Some(es)) = (&p.start, &p.end, end_span) {
        if b < a {
            let mut d = Diagnostic::error(
                codes::BAD_DATE_RANGE,
                es,
                "the end date is before the start date",
                "ends here",
            );
            if let Some(sp) = start_span {
                d = d.with_label(sp, "starts here");
            }
            diags.push(d.with_help("swap the dates, or remove `end` to run without an end"));
        }
    }
    afters
}

fn string_value(e: &ast::Expr, what: &str, diags: &mut Vec<Diagnostic>) -> Option<String> {
    match &e.kind {
        A::Literal(Literal::Str(s)) => Some(s.clone()),
        _ => {
            diags.push(bad_value(
                e.span,
                what,
                "a string",
                &format!("{what} \"...\""),
            ));
            None
        }
    }
}

fn date_value(e: &ast::Expr, what: &str, diags: &mut Vec<Diagnostic>) -> Option<String> {
    match &e.kind {
        A::Literal(Literal::Date(d)) => Some(d.clone()),
        _ => {
            diags.push(bad_value(
                e.span,
                what,
                "a date",
                &format!("{what} 2024-01-01"),
            ));
            None
        }
    }
}

pub(crate) fn seconds(e: &ast::Expr, what: &str, diags: &mut Vec<Diagnostic>) -> Option<u64> {
    match &e.kind {
        A::Literal(Literal::Duration(us)) if *us > 0 => Some((*us as u64).div_ceil(1_000_000)),
        _ => {
            diags.push(bad_value(
                e.span,
                what,
                "a positive duration",
                &format!("{what} 5m (units: ms, s, m, h, d, w)"),
            ));
            None
        }
    }
}

/// A `secret("NAME")` call or a string literal.
pub(crate) fn secret_or_string(
    e: &ast::Expr,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Value> {
    match &e.kind {
        A::Literal(Literal::Str(s)) => Some(Value::Str(s.clone())),
        A::Call(c) if c.name.dotted() == "secret" => match c.args.as_slice() {
            [ast::Arg {
                name: None,
                value:
                    ast::Expr {
                        kind: A::Literal(Literal::Str(n)),
                        ..
                    },
            }] if valid_secret_name(n) => Some(Value::Secret(n.clone())),
            _ => {
                diags.push(bad_value(
                    c.span,
                    "secret",
                    "one name of letters, digits and `_`",
                    "secret(\"SLACK_WEBHOOK\")",
                ));
                None
            }
        },
        _ => {
            diags.push(bad_value(
                e.span,
                what,
                "a string or `secret(\"NAME\")`",
                &format!("{what} = secret(\"NAME\")"),
            ));
            None
        }
    }
}

fn valid_secret_name(n: &str) -> bool {
    !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn alert(e: &ast::Expr, diags: &mut Vec<Diagnostic>) -> Option<Alert> {
    let A::Call(c) = &e.kind else {
        diags.push(bad_value(
            e.span,
            "alert",
            "`slack(...)` or `email(...)`",
            "alert slack(secret(\"SLACK_WEBHOOK\"))",
        ));
        return None;
    };
    let kind = c.name.dotted();
    let arg = match c.args.as_slice() {
        [a] if a.name.is_none() => &a.value,
        _ => {
            diags.push(bad_value(
                c.span,
                &kind,
                "exactly one argument",
                "alert email(\"data@example.com\")",
            ));
            return None;
        }
    };
    match kind.as_str() {
        "slack" => secret_or_string(arg, "slack", diags).map(|url| Alert::Slack { url }),
        "email" => string_value(arg, "email", diags).map(|to| Alert::Email { to }),
        other => {
            let s = did_you_mean(other, ["slack", "email"]);
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_SOURCE_KIND,
                    c.name.span,
                    format!("unknown alert kind `{other}`"),
                    "not an alert kind",
                )
                .with_suggestion(s, "alerts are `slack(url or secret)` and `email(address)`"),
            );
            None
        }
    }
}

fn timezone(tz: Option<&ast::StrLit>, diags: &mut Vec<Diagnostic>) -> Option<String> {
    let Some(tz) = tz else {
        return Some("UTC".into());
    };
    if chrono_tz::Tz::from_str(&tz.value).is_ok() {
        return Some(tz.value.clone());
    }
    // Abbreviations such as KST or CEST are ambiguous and not IANA names: suggest no look-alike.
    let abbreviation = tz.value.len() <= 5 && tz.value.chars().all(|c| c.is_ascii_uppercase());
    let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
    let s = if abbreviation {
        None
    } else {
        did_you_mean(&tz.value, names)
    };
    diags.push(
        Diagnostic::error(
            codes::UNKNOWN_TIMEZONE,
            tz.span,
            format!("unknown time zone `{}`", tz.value),
            "not an IANA time zone",
        )
        .with_suggestion(
            s,
            if abbreviation {
                "zone abbreviations are ambiguous; use an IANA name such as \"Asia/Seoul\" (for KST) or \"Europe/Berlin\" (for CET)"
            } else {
                "use an IANA name such as \"Asia/Seoul\", \"Europe/Berlin\" or \"UTC\""
            },
        ),
    );
    None
}

/// The intervals of a schedule; `after` is resolved from its upstreams later.
pub(crate) fn interval_rule(s: &Schedule) -> IntervalRule {
    match s {
        Schedule::Daily { tz, .. } => IntervalRule::Slots {
            minutes: 1440,
            tz: tz.clone(),
        },
        Schedule::Hourly { tz, .. } => IntervalRule::Slots {
            minutes: 60,
            tz: tz.clone(),
        },
        Schedule::Every { minutes, tz } => IntervalRule::Slots {
            minutes: *minutes,
            tz: tz.clone(),
        },
        Schedule::Cron { expr, tz } => IntervalRule::Cron {
            expr: expr.clone(),
            tz: tz.clone(),
        },
        Schedule::Manual
        | Schedule::After { .. }
        | Schedule::OnFile { .. }
        | Schedule::Continuous => IntervalRule::utc_days(),
    }
}

fn schedule(s: &S, afters: &mut Vec<ast::Ident>, diags: &mut Vec<Diagnostic>) -> Option<Schedule> {
    match s {
        S::Daily { at, tz } => {
            let tz = timezone(tz.as_ref(), diags);
            let (h, m) = match at {
                Some(t) => {
                    let (h, m) = t.value.split_once(':')?;
                    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
                    if h > 23 || m > 59 {
                        diags.push(
                            Diagnostic::error(
                                codes::BAD_TIME,
                                t.span,
                                format!("`{}` is not a time of day", t.value),
                                "hours go to 23, minutes to 59",
                            )
                            .with_help("write a 24-hour time such as `03:00` or `23:30`"),
                        );
                        return None;
                    }
                    (h, m)
                }
                None => (0, 0),
            };
            Some(Schedule::Daily {
                hour: h,
                minute: m,
                tz: tz?,
            })
        }
        S::Hourly { at, tz } => {
            let tz = timezone(tz.as_ref(), diags);
            let m = match at {
                Some(t) => {
                    let m: u32 = t.value.trim_start_matches(':').parse().ok()?;
                    if m > 59 {
                        diags.push(
                            Diagnostic::error(
                                codes::BAD_TIME,
                                t.span,
                                format!("`{}` is not a minute of the hour", t.value),
                                "minutes go to 59",
                            )
                            .with_help("write `hourly at :15`"),
                        );
                        return None;
                    }
                    m
                }
                None => 0,
            };
            Some(Schedule::Hourly { minute: m, tz: tz? })
        }
        S::Cron { expr, tz } => {
            let tz = timezone(tz.as_ref(), diags);
            let fields = expr.value.split_whitespace().count();
            let problem = if fields == 5 {
                crate::schedule::cron_problem(&expr.value)
            } else {
                Some((
                    0..expr.value.len(),
                    format!("expected 5 fields (minute hour day month weekday), found {fields}"),
                ))
            };
            if let Some((at, why)) = problem {
                // The field itself when the string is written without escapes.
                let span = if expr.span.len() == expr.value.len() + 2 && at.len() < expr.value.len()
                {
                    let start = expr.span.start as usize + 1 + at.start;
                    Span::new(expr.span.file, start, start + at.len())
                } else {
                    expr.span
                };
                diags.push(
                    Diagnostic::error(codes::BAD_CRON, span, format!("invalid cron expression `{}`", expr.value), why)
                        .with_help("cron has five fields: minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\""),
                );
                return None;
            }
            Some(Schedule::Cron {
                expr: expr.value.split_whitespace().collect::<Vec<_>>().join(" "),
                tz: tz?,
            })
        }
        S::Every { period: e, tz } => {
            let tz = timezone(tz.as_ref(), diags);
            let secs = seconds(e, "every", diags)?;
            if secs < 60 {
                diags.push(bad_value(
                    e.span,
                    "every",
                    "a period of at least one minute",
                    "schedule every 15m",
                ));
                return None;
            }
            if secs % 60 != 0 || 86_400 % secs != 0 {
                diags.push(
                    Diagnostic::error(
                        codes::BAD_PERIOD,
                        e.span,
                        "`every` needs a period that divides a day",
                        "does not cut a day into equal whole-minute slots",
                    )
                    .with_help("intervals start at each local midnight: use a whole number of minutes that divides 24h, e.g. `every 15m`, `every 20m`, `every 90m`, `every 6h`; for other rhythms use `cron`"),
                );
                return None;
            }
            Some(Schedule::Every {
                minutes: (secs / 60) as u32,
                tz: tz?,
            })
        }
        S::After(names) => {
            afters.extend(names.iter().cloned());
            Some(Schedule::After {
                pipelines: names.iter().map(|n| n.name.clone()).collect(),
            })
        }
        S::OnFile(path) => {
            crate::relation::check_template(path, diags);
            Some(Schedule::OnFile {
                path: path.value.clone(),
            })
        }
        S::Continuous => Some(Schedule::Continuous),
    }
}

#[cfg(test)]
mod tests {
    use pipec_diag::{apply_fixes, FileId};
    use pipec_syntax::ast::{Item, SettingKind};

    #[test]
    fn schedules_of_other_tools_get_pipec_spellings() {
        for (written, want) in [
            ("@daily", Some("daily")),
            ("@hourly", Some("hourly")),
            ("@weekly", Some("cron \"0 0 * * 0\"")),
            ("weekly", Some("cron \"0 0 * * 1\"")),
            ("\"0 3 * * *\"", Some("cron \"0 3 * * *\"")),
            ("@reboot", None),
        ] {
            let text = format!("pipeline p {{ schedule {written} }}\n");
            let parsed = pipec_syntax::parse(FileId::default(), &text);
            assert!(parsed.diagnostics.is_empty(), "{written}");
            let Some(Item::Pipeline(p)) = parsed.module.items.first() else {
                panic!("{written}")
            };
            let SettingKind::Unknown { name, value } = &p.settings[0].kind else {
                panic!("{written}")
            };
            let d = super::unknown_schedule(name.span, value.as_ref());
            assert_eq!(d.code.id, "E0318");
            match want {
                Some(w) => assert_eq!(
                    apply_fixes(&text, &d.fixes),
                    format!("pipeline p {{ schedule {w} }}\n")
                ),
                None => assert!(d.fixes.is_empty(), "{written}"),
            }
        }
    }
}
