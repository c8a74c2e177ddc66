use std::fmt;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;

use crate::{Diagnostic, LineCol, Severity, SourceFile, SourceMap};

/// How to render diagnostics as text.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    /// Use colours and Unicode art (terminals); otherwise plain, deterministic text.
    pub color: bool,
    /// Wrap width in columns.
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            color: false,
            width: 100,
        }
    }
}

struct Adapter<'a> {
    diag: &'a Diagnostic,
    source: Windowed<'a>,
    extra_help: Option<String>,
    in_file: Vec<LabeledSpan>,
}

impl fmt::Debug for Adapter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl fmt::Display for Adapter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Adapter<'_> {}

impl miette::Diagnostic for Adapter<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code.id))
    }
    /// Printed after the code in the header (`E0102 (pipec explain E0102)`): the code's page.
    fn url<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(explain_command(self.diag.code.id)))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        match (&self.diag.help, &self.extra_help) {
            (Some(h), Some(e)) => Some(Box::new(format!("{h}\n{e}"))),
            (Some(h), None) => Some(Box::new(h.as_str())),
            (None, Some(e)) => Some(Box::new(e.as_str())),
            (None, None) => None,
        }
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.in_file.iter().cloned()))
    }
}

/// Renders one diagnostic as text, with its source excerpt.
pub fn render(diag: &Diagnostic, sources: &SourceMap, options: RenderOptions) -> String {
    let primary = diag.span();
    let file = sources.get(primary.file);
    if diag.labels.iter().any(|l| line_too_long(sources, l.span)) {
        return render_plain(diag, sources);
    }
    let mut in_file = Vec::new();
    let mut elsewhere = Vec::new();
    for (i, label) in diag.labels.iter().enumerate() {
        if label.span.file == primary.file {
            let (start, end) = clamp(&file.text, label.span);
            let span = SourceSpan::new(start.into(), end - start);
            let msg = Some(label.message.clone()).filter(|m| !m.is_empty());
            in_file.push(if i == 0 {
                LabeledSpan::new_primary_with_span(msg, span)
            } else {
                LabeledSpan::new_with_span(msg, span)
            });
        } else {
            let other = sources.get(label.span.file);
            let at = other.line_col(label.span.start as usize);
            elsewhere.push(format!(
                "note: {} at {}:{}:{}",
                label.message, other.name, at.line, at.column
            ));
        }
    }
    let adapter = Adapter {
        diag,
        source: Windowed(file),
        extra_help: (!elsewhere.is_empty()).then(|| elsewhere.join("\n")),
        in_file,
    };
    let theme = if options.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(options.width)
        .with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, &adapter).is_err() {
        out = format!("{}: {}\n", diag.code.id, diag.message);
    }
    out
}

/// Longest source line shown as an excerpt; longer lines (minified or generated input) are
/// reported by position only.
const MAX_EXCERPT_LINE: usize = 1000;

/// The span's byte range, clamped to the text and widened to character boundaries.
fn clamp(text: &str, span: crate::Span) -> (usize, usize) {
    let mut start = (span.start as usize).min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (span.end as usize).min(text.len()).max(start);
    while !text.is_char_boundary(end) {
        end += 1;
    }
    (start, end)
}

fn line_too_long(sources: &SourceMap, span: crate::Span) -> bool {
    let file = sources.get(span.file);
    let (start, end) = clamp(&file.text, span);
    let first = file.line_range(file.line_index(start));
    let last = file.line_range(file.line_index(end));
    last.end - first.start > MAX_EXCERPT_LINE
}

/// A file as miette's source, read from the lines around each span only: miette's own
/// `str` source counts lines from the file start on every label, which made rendering all
/// diagnostics of a big file quadratic. Lines are found by binary search over the file's
/// line starts; miette then reads just the excerpt and its context.
struct Windowed<'a>(&'a SourceFile);

impl SourceCode for Windowed<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let file = self.0;
        let offset = span.offset().min(file.text.len());
        let first = file.line_index(offset).saturating_sub(context_lines_before);
        let base = file.line_range(first).start;
        let local = SourceSpan::new((offset - base).into(), span.len());
        let inner =
            file.text[base..].read_span(&local, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            file.name.clone(),
            inner.data(),
            SourceSpan::new((inner.span().offset() + base).into(), inner.span().len()),
            inner.line() + first,
            inner.column(),
            // miette counts lines from the start of its input (and merges excerpts by it).
            inner.line_count() + first,
        )))
    }
}

/// The command that prints a code's docs page, named in every rendered diagnostic.
fn explain_command(code: &str) -> String {
    format!("pipec explain {code}")
}

fn render_plain(diag: &Diagnostic, sources: &SourceMap) -> String {
    let mut out = format!(
        "{} ({})\n\n  × {}\n",
        diag.code.id,
        explain_command(diag.code.id),
        diag.message
    );
    for l in &diag.labels {
        let f = sources.get(l.span.file);
        let at = f.line_col(l.span.start as usize);
        out.push_str(&format!(
            "  at {}:{}:{}: {}\n",
            f.name, at.line, at.column, l.message
        ));
    }
    if let Some(h) = &diag.help {
        out.push_str(&format!("  help: {h}\n"));
    }
    out
}

/// Renders many diagnostics, separated by blank lines, followed by a count line.
pub fn render_all(diags: &[Diagnostic], sources: &SourceMap, options: RenderOptions) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&render(d, sources, options));
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    message: &'a str,
    start: LineCol,
    end: LineCol,
    byte_start: u32,
    byte_end: u32,
}

#[derive(Serialize)]
struct JsonSpan<'a> {
    file: &'a str,
    start: LineCol,
    end: LineCol,
    byte_start: u32,
    byte_end: u32,
}

#[derive(Serialize)]
struct JsonFix<'a> {
    span: JsonSpan<'a>,
    replacement: &'a str,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'static str,
    severity: Severity,
    message: &'a str,
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    labels: Vec<JsonLabel<'a>>,
    help: Option<&'a str>,
    fixes: Vec<JsonFix<'a>>,
    docs: String,
}

/// Renders diagnostics as a JSON array for tools: code, severity, message, file, span, help, and
/// machine-applicable fixes (`"fixes": [{"span": {...}, "replacement": "..."}]`).
pub fn render_json(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let items: Vec<JsonDiagnostic> = diags
        .iter()
        .map(|d| {
            let span = d.span();
            let file = sources.get(span.file);
            let start = file.line_col(span.start as usize);
            let end = file.line_col(span.end as usize);
            JsonDiagnostic {
                code: d.code.id,
                severity: d.severity,
                message: &d.message,
                file: &file.name,
                line: start.line,
                column: start.column,
                end_line: end.line,
                end_column: end.column,
                labels: d
                    .labels
                    .iter()
                    .map(|l| {
                        let f = sources.get(l.span.file);
                        JsonLabel {
                            message: &l.message,
                            start: f.line_col(l.span.start as usize),
                            end: f.line_col(l.span.end as usize),
                            byte_start: l.span.start,
                            byte_end: l.span.end,
                        }
                    })
                    .collect(),
                help: d.help.as_deref(),
                fixes: d
                    .fixes
                    .iter()
                    .map(|fix| {
                        let f = sources.get(fix.span.file);
                        JsonFix {
                            span: JsonSpan {
                                file: &f.name,
                                start: f.line_col(fix.span.start as usize),
                                end: f.line_col(fix.span.end as usize),
                                byte_start: fix.span.start,
                                byte_end: fix.span.end,
                            },
                            replacement: &fix.replacement,
                        }
                    })
                    .collect(),
                docs: format!("docs/errors/{}.md", d.code.id),
            }
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into())
}
