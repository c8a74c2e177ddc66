//! Diagnostics as data. Every stage of pipec reports problems as [`Diagnostic`] values; they are
//! rendered in exactly one place ([`render`]), as text through miette or as JSON.

pub mod codes;
mod docs;
mod render;
mod source;

pub use codes::Code;
pub use docs::docs_page;
pub use render::{render, render_all, render_json, RenderOptions};
pub use source::{FileId, LineCol, SourceFile, SourceMap};

use serde::Serialize;

/// A byte range inside one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, PartialOrd, Ord)]
pub struct Span {
    /// The file the range belongs to.
    pub file: FileId,
    /// Offset of the first byte.
    pub start: u32,
    /// Offset one past the last byte.
    pub end: u32,
}

impl Span {
    /// A span of `file` from byte `start` to byte `end`.
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span {
            file,
            start: start as u32,
            end: end.max(start) as u32,
        }
    }

    /// The smallest span covering both `self` and `other` (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// True when the span covers no bytes.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Makes the command fail (exit code 1).
    Error,
    /// Reported, but the command still succeeds.
    Warning,
}

/// A labelled span inside a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What is wrong there.
    pub message: String,
}

/// A machine-applicable edit: replace the text at `span` with `replacement` (an empty span
/// inserts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// The text to replace.
    pub span: Span,
    /// What to put there.
    pub replacement: String,
}

/// One problem found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The registered code.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// The headline.
    pub message: String,
    /// The primary label first, then secondary ones.
    pub labels: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
    /// Edits that fix it, applied together (tools may apply them without asking).
    pub fixes: Vec<Fix>,
}

impl Diagnostic {
    /// An error with code `code`, headline `message` and a primary label at `span`.
    pub fn error(
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: vec![Label {
                span,
                message: label.into(),
            }],
            help: None,
            fixes: Vec::new(),
        }
    }

    /// A warning with code `code`, headline `message` and a primary label at `span`.
    pub fn warning(
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message, label)
        }
    }

    /// Adds the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a "did you mean" help line when `suggestion` is some, or `fallback` otherwise.
    pub fn with_suggestion(self, suggestion: Option<&str>, fallback: impl Into<String>) -> Self {
        match suggestion {
            Some(s) => self.with_help(format!("did you mean `{s}`?")),
            None => self.with_help(fallback),
        }
    }

    /// Adds a machine-applicable edit: `replacement` in place of the text at `span`.
    pub fn with_fix(mut self, span: Span, replacement: impl Into<String>) -> Self {
        self.fixes.push(Fix {
            span,
            replacement: replacement.into(),
        });
        self
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// The primary span.
    pub fn span(&self) -> Span {
        self.labels.first().map(|l| l.span).unwrap_or_default()
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics into source order (file, then position), keeping equal ones in report order.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| {
        let s = d.span();
        (s.file, s.start, s.end)
    });
}

/// `text` with `fixes` applied (those of its file), in order of position; a fix overlapping
/// an earlier one is skipped.
pub fn apply_fixes<'a>(text: &str, fixes: impl IntoIterator<Item = &'a Fix>) -> String {
    let mut fixes: Vec<&Fix> = fixes.into_iter().collect();
    fixes.sort_by_key(|f| (f.span.start, f.span.end));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for fix in fixes {
        let (start, end) = (fix.span.start as usize, fix.span.end as usize);
        if start < at
            || end > text.len()
            || !text.is_char_boundary(start)
            || !text.is_char_boundary(end)
        {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(&fix.replacement);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let len = lower.chars().count();
    let max_distance = (name.chars().count().max(3) / 3).max(1);
    let mut best: Option<(f64, &'a str)> = None;
    for cand in candidates {
        if cand == name {
            continue;
        }
        let cand_lower = cand.to_lowercase();
        let cand_len = cand_lower.chars().count();
        if !may_be_close(len, cand_len, max_distance) {
            continue;
        }
        let score = strsim::jaro_winkler(&lower, &cand_lower);
        if best.is_some_and(|(b, _)| score <= b) {
            continue;
        }
        // The edit distance (quadratic) only when neither the score nor the lengths decide.
        let close = score >= 0.88
            || (len.abs_diff(cand_len) <= max_distance
                && strsim::damerau_levenshtein(&lower, &cand_lower) <= max_distance);
        if close {
            best = Some((score, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// Whether strings of `a` and `b` characters can pass [`did_you_mean`]'s test, judged by their
/// lengths alone: the edit distance is at least the length difference, and Jaro is at most
/// `(min/a + min/b + 1) / 3`, so Jaro-Winkler reaches 0.88 only if Jaro reaches 0.7. This keeps
/// a huge misspelt name (a 100 KB string) from costing a quadratic comparison per candidate.
fn may_be_close(a: usize, b: usize, max_distance: usize) -> bool {
    let min = a.min(b) as f64;
    let jaro_bound = (min / a.max(1) as f64 + min / b.max(1) as f64 + 1.0) / 3.0;
    a.abs_diff(b) <= max_distance || jaro_bound >= 0.7
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["station_id", "rented_at", "returned_at"];
        assert_eq!(did_you_mean("staton_id", names), Some("station_id"));
        assert_eq!(did_you_mean("retuned_at", names), Some("returned_at"));
        assert_eq!(did_you_mean("zzz", names), None);
    }

    #[test]
    fn a_huge_name_is_not_compared_with_far_shorter_candidates() {
        assert!(!may_be_close(100_000, 20, 33_333));
        assert!(may_be_close(40, 20, 13));
        assert!(may_be_close(9, 10, 3));
        let huge = "Asia/Seoul".repeat(10_000);
        assert_eq!(did_you_mean(&huge, ["Asia/Seoul", "UTC"]), None);
        assert_eq!(
            did_you_mean("Asia/Seol", ["Asia/Seoul", "UTC"]),
            Some("Asia/Seoul")
        );
    }

    /// `did_you_mean` as defined: both measures for every candidate the lengths allow.
    fn did_you_mean_plainly<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
        let lower = name.to_lowercase();
        let max_distance = (name.chars().count().max(3) / 3).max(1);
        let mut best: Option<(f64, &'a str)> = None;
        for &cand in candidates {
            let cand_lower = cand.to_lowercase();
            let (a, b) = (lower.chars().count(), cand_lower.chars().count());
            if cand == name || !may_be_close(a, b, max_distance) {
                continue;
            }
            let score = strsim::jaro_winkler(&lower, &cand_lower);
            let distance = strsim::damerau_levenshtein(&lower, &cand_lower);
            if (distance <= max_distance || score >= 0.88) && best.is_none_or(|(b, _)| score > b) {
                best = Some((score, cand));
            }
        }
        best.map(|(_, c)| c)
    }

    #[test]
    fn skipping_the_edit_distance_changes_no_suggestion() {
        let candidates = [
            "Asia/Seoul",
            "Asia/Seould",
            "Europe/Berlin",
            "Europe/Bern",
            "America/New_York",
            "UTC",
            "station_id",
            "stations",
            "rented_at",
            "returned_at",
            "ab",
            "abc",
            "abcd",
            "Straße",
            "ÅLAND",
        ];
        // Every candidate with each byte position dropped, doubled or replaced, plus every
        // pair of candidates glued: near and far misses of every length.
        let mut names: Vec<String> = Vec::new();
        for c in candidates {
            let chars: Vec<char> = c.chars().collect();
            for i in 0..chars.len() {
                let mut dropped = chars.clone();
                dropped.remove(i);
                let mut doubled = chars.clone();
                doubled.insert(i, chars[i]);
                let mut replaced = chars.clone();
                replaced[i] = 'x';
                names.extend([dropped, doubled, replaced].map(|v| v.into_iter().collect()));
            }
            names.extend(candidates.iter().map(|d| format!("{c}{d}")));
            names.push(c.to_uppercase());
        }
        for name in &names {
            assert_eq!(
                did_you_mean(name, candidates),
                did_you_mean_plainly(name, &candidates),
                "{name}"
            );
        }
    }

    #[test]
    fn fixes_apply_in_order_and_skip_overlaps() {
        let file = FileId::default();
        let d = Diagnostic::error(codes::SYNTAX, Span::new(file, 0, 1), "m", "l")
            .with_fix(Span::new(file, 6, 9), "and")
            .with_fix(Span::new(file, 0, 1), "x")
            .with_fix(Span::new(file, 7, 8), "no")
            .with_fix(Span::new(file, 11, 11), ",");
        assert_eq!(d.fixes.len(), 4);
        assert_eq!(apply_fixes("a > 1 AND b c", &d.fixes), "x > 1 and b, c");
    }

    #[test]
    fn json_carries_fixes_as_data() {
        let mut sources = SourceMap::new();
        let file = sources.add("f.pipe", "filter a = 1\n");
        let d = Diagnostic::error(codes::SYNTAX, Span::new(file, 9, 10), "m", "l")
            .with_fix(Span::new(file, 9, 10), "==");
        let json: serde_json::Value =
            serde_json::from_str(&render_json(&[d.clone(), d.with_help("h")], &sources)).unwrap();
        let fix = &json[0]["fixes"][0];
        assert_eq!(fix["replacement"], "==");
        assert_eq!(fix["span"]["file"], "f.pipe");
        assert_eq!(fix["span"]["byte_start"], 9);
        assert_eq!(fix["span"]["byte_end"], 10);
        assert_eq!(fix["span"]["start"]["column"], 10);
        assert_eq!(fix["span"]["end"]["column"], 11);
    }

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut ids: Vec<_> = codes::ALL.iter().map(|c| c.id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
        for id in ids {
            assert!(
                id.len() == 5 && (id.starts_with('E') || id.starts_with('W')),
                "{id}"
            );
        }
    }
}
