//! Storage lifecycle lines (`archive after 90d to glacier`, `expire after 1y`) of sinks and file
//! sources: ages in whole days, archive classes, and where retention means something.

use pipec_diag::{codes, did_you_mean, Diagnostic, Span};
use pipec_syntax::ast::{RetentionAction, RetentionLine};

use crate::ir::{Archive, Retention, Sink, SinkMode, SinkTarget, Source, StorageClass};

/// The syntax, for help texts.
const SYNTAX: &str =
    "retention lines are `archive after 90d [to glacier_ir|glacier|deep_archive]` and `expire after 1y` (ages in d, w or y; a year is 365 days)";

/// Days in an age such as `90d`, `12w`, `1y` (365 days); `Err` says what is wrong.
pub fn age_days(text: &str) -> Result<u32, String> {
    let digits: String = text.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = &text[digits.len()..];
    let per = match unit {
        "d" => 1,
        "w" => 7,
        "y" => 365,
        "" => return Err(format!("`{text}` has no unit: write `{text}d` for days")),
        "ms" | "s" | "m" | "h" => {
            return Err(format!(
                "`{text}` is shorter than a day: retention counts whole days"
            ))
        }
        "mo" | "M" | "month" | "months" => {
            return Err(format!(
                "`{text}`: months differ in length; write days, e.g. `90d`"
            ))
        }
        other => return Err(format!("`{other}` is not an age unit")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is too long"))?;
    if n == 0 {
        return Err("an age of 0 would archive or delete data as soon as it is written".into());
    }
    n.checked_mul(per)
        .and_then(|d| u32::try_from(d).ok())
        .ok_or_else(|| format!("`{text}` is too long"))
}

/// Checks the lines of one sink or source: ages (E0660), classes (E0661), each line at most
/// once (E0304), archive before expire (E0662). `None` when one is wrong (reported).
pub fn lines(lines: &[&RetentionLine], diags: &mut Vec<Diagnostic>) -> Option<Retention> {
    let mut out = Retention::default();
    let mut ok = true;
    let mut seen: [Option<(Span, u32)>; 2] = [None, None];
    for line in lines {
        let days = match age_days(&line.age.name) {
            Ok(d) => d,
            Err(why) => {
                diags.push(
                    Diagnostic::error(
                        codes::BAD_RETENTION_AGE,
                        line.age.span,
                        format!("invalid retention age `{}`", line.age.name),
                        why,
                    )
                    .with_help(
                        "ages are whole days, weeks or years: `90d`, `12w`, `1y` (365 days)",
                    ),
                );
                ok = false;
                0
            }
        };
        let slot = match line.action {
            RetentionAction::Archive => 0,
            RetentionAction::Expire => 1,
        };
        let word = ["archive", "expire"][slot];
        if let Some((first, _)) = seen[slot] {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_SETTING,
                    line.span,
                    format!("`{word} after` is given twice"),
                    "second line",
                )
                .with_label(first, "first given here")
                .with_help(format!("keep one `{word} after` line")),
            );
            ok = false;
            continue;
        }
        seen[slot] = Some((line.span, days));
        match line.action {
            RetentionAction::Expire => out.expire_after_days = Some(days),
            RetentionAction::Archive => {
                let class = match &line.class {
                    None => StorageClass::default(),
                    Some(c) => match StorageClass::from_name(&c.name.to_ascii_lowercase()) {
                        Some(class) => class,
                        None => {
                            let names = StorageClass::ALL.map(StorageClass::name);
                            let sug = did_you_mean(&c.name.to_ascii_lowercase(), names);
                            diags.push(
                                Diagnostic::error(
                                    codes::UNKNOWN_STORAGE_CLASS,
                                    c.span,
                                    format!("unknown archive storage class `{}`", c.name),
                                    "not an archive class",
                                )
                                .with_suggestion(
                                    sug,
                                    "archive classes are glacier_ir (read at once), glacier (the default; restored in hours) and deep_archive (restored in up to 48 hours)",
                                ),
                            );
                            ok = false;
                            StorageClass::default()
                        }
                    },
                };
                out.archive = Some(Archive {
                    after_days: days,
                    class,
                });
            }
        }
    }
    if let (Some((archive, a)), Some((expire, e))) = (seen[0], seen[1]) {
        if ok && a >= e {
            diags.push(
                Diagnostic::error(
                    codes::ARCHIVE_NOT_BEFORE_EXPIRE,
                    archive,
                    format!("data would be archived after {a} days but deleted after {e}"),
                    "archived too late",
                )
                .with_label(expire, "deleted here")
                .with_help("archive before the data expires (`archive after` shorter than `expire after`), or drop the `archive` line"),
            );
            ok = false;
        }
    }
    ok.then_some(out)
}

/// True when a path template names the date of its data: `{ds}`, `{ds_nodash}` or all of
/// `{yyyy}`, `{mm}`, `{dd}`.
pub fn path_has_date(path: &str) -> bool {
    let names: Vec<String> = crate::relation::placeholders(path)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let has = |n: &str| names.iter().any(|x| x == n);
    has("ds") || has("ds_nodash") || (has("yyyy") && has("mm") && has("dd"))
}

/// Where a sink's retention can apply (E0663, E0664); `false` when it cannot (reported).
pub fn sink_fits(
    sink: &Sink,
    retention: &Retention,
    at: Span,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    match &sink.target {
        SinkTarget::File { path, .. } if !path_has_date(path) => {
            diags.push(
                Diagnostic::error(
                    codes::RETENTION_ON_REPLACED_DATA,
                    at,
                    format!("file `{path}` is rewritten by every run; it never grows old"),
                    "nothing to archive or expire",
                )
                .with_help("put the run date in the path (`{ds}` or `{yyyy}/{mm}/{dd}`) for one file per interval, whose old files then archive and expire"),
            );
            false
        }
        SinkTarget::File { .. } => true,
        SinkTarget::Table { .. } if sink.partition_by.is_some() => true,
        SinkTarget::Table { .. } if sink.mode == SinkMode::Replace => {
            diags.push(
                Diagnostic::error(
                    codes::RETENTION_ON_REPLACED_DATA,
                    at,
                    "this table is replaced whole by every run; it never grows old",
                    "nothing to archive or expire",
                )
                .with_help("add `partition by <date column>` so that each run replaces its own partition and old partitions archive and expire, or drop the retention lines"),
            );
            false
        }
        SinkTarget::Table { .. } if retention.expire_after_days.is_some() => {
            diags.push(
                Diagnostic::error(
                    codes::EXPIRE_WITHOUT_PARTITION,
                    at,
                    "`expire` on a table without `partition by`",
                    "only whole partitions expire",
                )
                .with_help("add `partition by <date column>` (e.g. `derive day = @ds` upstream, then `partition by day`): partitions older than the age are deleted"),
            );
            false
        }
        SinkTarget::Table { .. } => true,
    }
}

/// Checks a source's retention lines and stores them in its file options (E0665 for other
/// kinds). `false` when something is wrong (reported).
pub fn source(
    lines_: &[RetentionLine],
    origin: Option<&mut Source>,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    if lines_.is_empty() {
        return true;
    }
    let refs: Vec<&RetentionLine> = lines_.iter().collect();
    let retention = lines(&refs, diags);
    match origin {
        Some(Source::File { options, .. }) => match retention {
            Some(r) => {
                options.retention = Some(r);
                true
            }
            None => false,
        },
        Some(_) => {
            let span = lines_[0].span.to(lines_[lines_.len() - 1].span);
            diags.push(
                Diagnostic::error(
                    codes::RETENTION_SOURCE_KIND,
                    span,
                    "retention on a source that does not read files",
                    "not a file source",
                )
                .with_help("retention applies to files (csv, ndjson, parquet sources) and to sinks: put the lines on the sink that writes the data"),
            );
            false
        }
        None => false,
    }
}

/// E0666 for a retention line the parser did not recognise (taken as an unknown option).
pub fn malformed(name: &str, span: Span) -> Option<Diagnostic> {
    matches!(
        name,
        "expire" | "archive" | "to" | "retention" | "expire_after" | "archive_after" | "ttl"
    )
    .then(|| {
        Diagnostic::error(
            codes::BAD_RETENTION_LINE,
            span,
            if name == "to" {
                "`to` without a storage class".to_string()
            } else {
                format!("malformed retention line `{name} …`")
            },
            "expected `archive after AGE [to CLASS]` or `expire after AGE`",
        )
        .with_help(SYNTAX)
    })
}
