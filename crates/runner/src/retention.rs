//! Retention on the local warehouse: `expire after N` deletes a partitioned table sink's
//! partitions, and a file sink's files, dated before `@ds - N days`; `archive` has no colder
//! storage here and is reported as not applicable.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use pipec_check::ir::{FileOptions, Pipeline, RelationKind, Retention, Source};
use pipec_sql::Piece;
use serde::Serialize;

/// What retention did to one sink or source in an interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// Sink (`mart.daily`, a path template) or source name.
    pub target: String,
    /// `expire` or `archive`.
    pub action: String,
    /// False when the line does not apply locally (see `detail`).
    pub applied: bool,
    /// Rows (tables) or files deleted.
    pub removed: u64,
    /// What was done, in words.
    pub detail: String,
}

/// The last date kept by `expire after days` in the run of `ds`: data dated before it expires.
pub(crate) fn cutoff(ds: NaiveDate, days: u32) -> NaiveDate {
    ds - chrono::Days::new(u64::from(days))
}

/// Reports for the lines that do not apply locally: `archive` on sinks and sources, `expire` on
/// sources (input files are never deleted by a local run).
pub(crate) fn not_applicable(p: &Pipeline) -> Vec<RetentionReport> {
    let mut out = Vec::new();
    let mut push = |target: String, r: &Retention, source: bool| {
        if let Some(a) = &r.archive {
            out.push(RetentionReport {
                target: target.clone(),
                action: "archive".into(),
                applied: false,
                removed: 0,
                detail: format!(
                    "archive after {}d to {}: not applicable on the local warehouse",
                    a.after_days,
                    a.class.name()
                ),
            });
        }
        if let (true, Some(d)) = (source, r.expire_after_days) {
            out.push(RetentionReport {
                target,
                action: "expire".into(),
                applied: false,
                removed: 0,
                detail: format!(
                    "expire after {d}d: input files are not deleted by a local run (applies to the raw zone of a deployed target)"
                ),
            });
        }
    };
    for s in &p.sinks {
        if let Some(r) = &s.retention {
            push(s.name(), r, false);
        }
    }
    for rel in &p.relations {
        if let RelationKind::Source(Source::File {
            options: FileOptions {
                retention: Some(r), ..
            },
            ..
        }) = &rel.kind
        {
            push(rel.name.clone(), r, true);
        }
    }
    out
}

/// Width of a date placeholder's text (`None` for `start`, `end`: any text without `/`).
fn width(var: &str) -> Option<usize> {
    match var {
        "ds" => Some(10),
        "ds_nodash" => Some(8),
        "yyyy" => Some(4),
        "mm" | "dd" | "hh" => Some(2),
        _ => None,
    }
}

/// Date parts read from a path: year, month, day, each seen at most once with one value.
#[derive(Default, Clone, Copy)]
struct Parts {
    y: Option<i32>,
    m: Option<u32>,
    d: Option<u32>,
}

impl Parts {
    fn set(mut self, var: &str, text: &str) -> Option<Parts> {
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit()).then_some(());
        let (y, m, d) = match var {
            "ds" => {
                let b = text.as_bytes();
                (b[4] == b'-' && b[7] == b'-').then_some(())?;
                digits(&text[0..4])?;
                digits(&text[5..7])?;
                digits(&text[8..10])?;
                (Some(&text[0..4]), Some(&text[5..7]), Some(&text[8..10]))
            }
            "ds_nodash" => {
                digits(text)?;
                (Some(&text[0..4]), Some(&text[4..6]), Some(&text[6..8]))
            }
            "yyyy" => (digits(text).map(|_| text), None, None),
            "mm" => (None, digits(text).map(|_| text), None),
            "dd" => (None, None, digits(text).map(|_| text)),
            "hh" => return digits(text).map(|_| self),
            _ => return (!text.is_empty() && !text.contains('/')).then_some(self),
        };
        if var == "yyyy" && y.is_none() || var == "mm" && m.is_none() || var == "dd" && d.is_none()
        {
            return None;
        }
        fn agree<T: PartialEq + Copy>(slot: &mut Option<T>, v: Option<T>) -> Option<()> {
            match (*slot, v) {
                (Some(a), Some(b)) if a != b => None,
                (None, Some(b)) => {
                    *slot = Some(b);
                    Some(())
                }
                _ => Some(()),
            }
        }
        agree(&mut self.y, y.and_then(|t| t.parse().ok()))?;
        agree(&mut self.m, m.and_then(|t| t.parse().ok()))?;
        agree(&mut self.d, d.and_then(|t| t.parse().ok()))?;
        Some(self)
    }

    fn date(self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.y?, self.m?, self.d?)
    }
}

/// The date of `path` when it matches the template `pieces` whole, else `None`.
fn match_pieces(pieces: &[Piece], path: &str, parts: Parts) -> Option<NaiveDate> {
    let Some((first, rest)) = pieces.split_first() else {
        return path.is_empty().then(|| parts.date()).flatten();
    };
    match first {
        Piece::Text(t) => match_pieces(rest, path.strip_prefix(t.as_str())?, parts),
        Piece::Var(v) => match width(v) {
            Some(w) => {
                let text = path.get(..w)?;
                match_pieces(rest, &path[w..], parts.set(v, text)?)
            }
            None => (1..=path.len())
                .filter(|&i| path.is_char_boundary(i))
                .take_while(|&i| !path[..i].contains('/'))
                .find_map(|i| match_pieces(rest, &path[i..], parts.set(v, &path[..i])?)),
        },
    }
}

/// The files under `base` that the path template matches whose date is before `cutoff`, sorted.
/// Only a template naming a date (`{ds}`, `{ds_nodash}` or `{yyyy}`, `{mm}`, `{dd}`) has any.
pub(crate) fn expired_files(base: &Path, template: &str, cutoff: NaiveDate) -> Vec<PathBuf> {
    let pieces = pipec_sql::template_pieces(template, |name| {
        (width(name).is_some() || matches!(name, "start" | "end"))
            .then(|| Piece::Var(name.to_string()))
    });
    // Absolute templates replace the base, as `Path::join` does when writing.
    let (root, pieces) = if template.starts_with('/') {
        (PathBuf::from("/"), strip_first(pieces, "/"))
    } else if base.as_os_str().is_empty() {
        (PathBuf::from("."), pieces)
    } else {
        (base.to_path_buf(), pieces)
    };
    // Walk from the folder of the literal prefix.
    let prefix = match pieces.first() {
        Some(Piece::Text(t)) => t.rsplit_once('/').map_or("", |(d, _)| d).to_string(),
        _ => String::new(),
    };
    let start = root.join(&prefix);
    let mut out = Vec::new();
    let mut stack = vec![start];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let Ok(rel) = path.strip_prefix(&root) else {
                    continue;
                };
                let rel = rel.to_string_lossy().replace('\\', "/");
                if match_pieces(&pieces, &rel, Parts::default()).is_some_and(|d| d < cutoff) {
                    out.push(path);
                }
            }
        }
    }
    out.sort();
    out
}

fn strip_first(mut pieces: Vec<Piece>, lead: &str) -> Vec<Piece> {
    if let Some(Piece::Text(t)) = pieces.first_mut() {
        if let Some(rest) = t.strip_prefix(lead) {
            *t = rest.to_string();
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn files_matching_the_template_and_older_than_the_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        for f in [
            "out/2024-01-01.csv",
            "out/2024-01-02.csv",
            "out/2024-01-03.csv",
            "out/2024-01-01.csv.pipec-tmp-1-0",
            "out/notes.csv",
            "out/2024-13-01.csv",
            "nested/2023/12/31/x.parquet",
            "nested/2024/01/02/x.parquet",
            "nested/2023/12/31/y.parquet",
        ] {
            let p = base.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let got = expired_files(base, "out/{ds}.csv", d("2024-01-03"));
        assert_eq!(
            got,
            vec![
                base.join("out/2024-01-01.csv"),
                base.join("out/2024-01-02.csv")
            ]
        );
        let got = expired_files(base, "nested/{yyyy}/{mm}/{dd}/x.parquet", d("2024-01-02"));
        assert_eq!(got, vec![base.join("nested/2023/12/31/x.parquet")]);
        // The same with an absolute template.
        let abs = format!("{}/out/{{ds_nodash}}.csv", base.display());
        assert!(expired_files(Path::new("elsewhere"), &abs, d("2030-01-01")).is_empty());
        let abs = format!("{}/out/{{ds}}.csv", base.display());
        assert_eq!(
            expired_files(Path::new("elsewhere"), &abs, d("2024-01-02")),
            vec![base.join("out/2024-01-01.csv")]
        );
        assert_eq!(cutoff(d("2024-03-01"), 1), d("2024-02-29"));
    }
}
