//! `pipec fmt`: the one canonical layout of `.pipe` files, printed from the syntax tree.
//!
//! [`format`] parses the text, builds a document from the AST ([`doc`]: a Wadler-style
//! pretty-printer) and lays it out in [`WIDTH`] columns. Tokens are printed as written (names,
//! literals, strings, so `1.50`, `90m` and escapes stay), parentheses as written (the parser
//! records them), keywords and punctuation canonically. Comments, which the grammar skips, are
//! found by [`comments::scan`] and placed by source position: a comment alone on its line stays
//! on its own line before the next token, an end-of-line comment stays at the end of the line
//! of the token before it. The layout rules are in `docs/fmt.md`.

mod comments;
mod doc;

use std::collections::HashMap;

use pipec_diag::{Diagnostic, FileId, Span};
use pipec_syntax::ast::*;

pub use comments::{scan as scan_comments, Comment};
use doc::{align, concat, empty, group_broken_if, if_break, nest, text, Doc};

/// The line width the layout aims for.
pub const WIDTH: usize = 100;

/// Formats one file. Text with syntax errors is never formatted: its parse diagnostics are
/// returned instead. A file with a `# pipec-fmt: off` comment before its first item is returned
/// as written.
pub fn format(file: FileId, text: &str) -> Result<String, Vec<Diagnostic>> {
    let parsed = pipec_syntax::parse(file, text);
    if parsed.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(parsed.diagnostics);
    }
    let comments = comments::scan(text);
    let first_item = parsed.module.items.first().map_or(text.len(), item_start);
    if comments
        .iter()
        .any(|c| c.start < first_item && is_off_marker(&text[c.start..c.end]))
    {
        return Ok(text.to_string());
    }
    let mut parens: HashMap<(u32, u32), usize> = HashMap::new();
    for s in &parsed.parens {
        *parens.entry((s.start, s.end)).or_default() += 1;
    }
    let mut b = Builder {
        src: text,
        comments,
        next: 0,
        last: 0,
        pending: Vec::new(),
        parens,
    };
    let doc = b.module(&parsed.module);
    let mut out = doc::print(&doc, WIDTH);
    let trimmed = out.trim_end_matches(['\n', ' ']).len();
    out.truncate(trimmed);
    if !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

/// The comment that keeps a file as written when it stands before the file's first item.
pub const OFF_MARKER: &str = "pipec-fmt: off";

/// Whether a comment's text starts with [`OFF_MARKER`] (a reason may follow).
pub fn is_off_marker(comment: &str) -> bool {
    let text = comment
        .trim_start_matches('#')
        .trim_start_matches("//")
        .trim();
    text.strip_prefix(OFF_MARKER)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
}

fn item_start(item: &Item) -> usize {
    let span = match item {
        Item::Import(i) => i.span,
        Item::Pipeline(p) => p.span,
        Item::Source(s) => s.span,
        Item::Transform(t) => t.span,
        Item::Sink(s) => s.span,
        Item::Check(c) => c.span,
        Item::Test(t) => t.span,
        Item::Define(d) => d.span,
    };
    span.start as usize
}

/// How the elements of a block are separated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Commas {
    /// One per line, no commas (settings, options, test items).
    None,
    /// Commas between when flat, none when broken (rules).
    Optional,
    /// `a, b`, with a trailing comma when broken (schemas, aggregates, rows).
    Between,
}

struct Builder<'a> {
    src: &'a str,
    comments: Vec<Comment>,
    /// The first comment not yet printed.
    next: usize,
    /// End of the last source token printed.
    last: usize,
    /// End-of-line comments of the last token, printed before the next token (or after a
    /// separator the printer adds).
    pending: Vec<Doc>,
    /// How many pairs of parentheses were written around the expression with this span.
    parens: HashMap<(u32, u32), usize>,
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Builder<'_> {
    // ------------------------------------------------------------------ tokens and comments

    /// A comment; one written at the start of its line stays there.
    fn comment_text(&self, c: &Comment) -> Doc {
        let s = self.src[c.start..c.end].to_string();
        if c.start == 0 || self.src.as_bytes()[c.start - 1] == b'\n' {
            Doc::Unindented(s)
        } else {
            Doc::Text(s)
        }
    }

    /// An end-of-line comment keeps its column when the code before it ends left of it.
    fn comment_column(&self, c: &Comment) -> Doc {
        let line = self.src[..c.start].rfind('\n').map_or(0, |n| n + 1);
        Doc::CommentColumn(self.src[line..c.start].chars().count())
    }

    /// Whether code precedes comment `c` on its line.
    fn after_code(&self, c: &Comment) -> bool {
        let line = self.src[..c.start].rfind('\n').map_or(0, |n| n + 1);
        !self.src[line..c.start].trim().is_empty()
    }

    /// Whether the source between `a` and `b` holds an empty line.
    fn blank_between(&self, a: usize, b: usize) -> bool {
        let gap = &self.src[a.min(b)..b];
        let mut newlines = 0;
        for ch in gap.chars() {
            match ch {
                '\n' => {
                    newlines += 1;
                    if newlines >= 2 {
                        return true;
                    }
                }
                c if c.is_whitespace() => {}
                _ => newlines = 0,
            }
        }
        false
    }

    /// The pending end-of-line comments.
    fn flush(&mut self) -> Doc {
        concat(std::mem::take(&mut self.pending))
    }

    /// Comments before `pos`, after the pending ones: each on its own line unless it followed
    /// code in the source.
    fn before(&mut self, pos: usize) -> Doc {
        let mut out = std::mem::take(&mut self.pending);
        while let Some(c) = self.comments.get(self.next).cloned() {
            if c.start >= pos {
                break;
            }
            if self.after_code(&c) {
                out.push(self.comment_column(&c));
            } else {
                out.push(Doc::LineStart);
            }
            out.push(self.comment_text(&c));
            out.push(Doc::ForceBreak);
            self.last = self.last.max(c.end);
            self.next += 1;
        }
        concat(out)
    }

    /// Notes the end-of-line comment after the token ending at `end`.
    fn after(&mut self, end: usize) {
        self.last = self.last.max(end);
        if let Some(c) = self.comments.get(self.next).cloned() {
            let gap = &self.src[self.last.min(c.start)..c.start];
            if c.start >= self.last && !gap.contains('\n') && gap.trim().is_empty() {
                let d = concat(vec![
                    self.comment_column(&c),
                    self.comment_text(&c),
                    Doc::ForceBreak,
                ]);
                self.pending.push(d);
                self.last = c.end;
                self.next += 1;
            }
        }
    }

    /// The end of `span` without the blanks and comments pest may have taken after its node.
    fn real_end(&self, span: Span) -> usize {
        let start = span.start as usize;
        let mut end = span.end as usize;
        loop {
            end = start + self.src[start..end].trim_end().len();
            // The comments are in source order: the one ending at `end`, if any, is the last
            // starting before it.
            let before_end = self.comments.partition_point(|c| c.start < end);
            match before_end.checked_sub(1).map(|i| &self.comments[i]) {
                Some(c) if c.start >= start && c.end == end => end = c.start,
                _ => return end,
            }
        }
    }

    /// A source token printed as written.
    fn tok(&mut self, span: Span) -> Doc {
        let (s, e) = (span.start as usize, span.end as usize);
        let lead = self.before(s);
        let d = concat(vec![lead, text(&self.src[s..e])]);
        self.after(e);
        d
    }

    /// A node printed in canonical form whose source is `span` (comments inside move after it).
    fn node(&mut self, span: Span, canonical: String) -> Doc {
        let lead = self.before(span.start as usize);
        let end = self.real_end(span);
        self.after(end);
        concat(vec![lead, text(canonical)])
    }

    /// Where the next source token starts.
    fn next_token(&self) -> usize {
        let mut i = self.last;
        let mut c = self.next;
        loop {
            let rest = &self.src[i..];
            let trimmed = rest.trim_start();
            i += rest.len() - trimmed.len();
            match self.comments.get(c) {
                Some(com) if com.start == i => {
                    i = com.end;
                    c += 1;
                }
                _ => return i,
            }
        }
    }

    /// Whether the source breaks the line between the last token and the next one.
    fn newline_ahead(&self) -> bool {
        self.src[self.last..self.next_token()].contains('\n')
    }

    /// Whether the next source token is `s`.
    fn at(&self, s: &str) -> Option<usize> {
        let pos = self.next_token();
        let rest = &self.src[pos..];
        let word = s.chars().all(is_ident_char);
        let ok = rest.starts_with(s)
            && !(word && rest[s.len()..].chars().next().is_some_and(is_ident_char));
        ok.then_some(pos)
    }

    /// A keyword or punctuation; it takes the comments before its source counterpart.
    fn kw(&mut self, s: &str) -> Doc {
        match self.at(s) {
            Some(pos) => {
                let lead = self.before(pos);
                self.after(pos + s.len());
                concat(vec![lead, text(s)])
            }
            None => text(s),
        }
    }

    /// Steps over an optional source token the canonical layout leaves out.
    fn skip(&mut self, s: &str) -> Doc {
        match self.at(s) {
            Some(pos) => {
                let lead = self.before(pos);
                self.after(pos + s.len());
                lead
            }
            None => empty(),
        }
    }

    /// `,` followed by its end-of-line comment.
    fn comma(&mut self) -> Doc {
        let c = self.kw(",");
        concat(vec![c, self.flush()])
    }

    /// Comments before the next element of a list, each on its own line; `blank` keeps one
    /// empty line where the source has one.
    fn leading(&mut self, blank: bool) -> Doc {
        let mut out = std::mem::take(&mut self.pending);
        let pos = self.next_token();
        let mut any = false;
        while let Some(c) = self.comments.get(self.next).cloned() {
            if c.start >= pos {
                break;
            }
            if self.after_code(&c) {
                out.push(self.comment_column(&c));
            } else if (blank || any) && self.blank_between(self.last, c.start) {
                out.push(Doc::BlankLine);
            } else {
                out.push(Doc::LineStart);
            }
            out.push(self.comment_text(&c));
            out.push(Doc::ForceBreak);
            self.last = c.end;
            self.next += 1;
            any = true;
        }
        if (blank || any) && self.blank_between(self.last, pos) {
            out.push(Doc::BlankLine);
        }
        concat(out)
    }

    /// Comments left before a closing `close` (inside its block).
    fn dangling(&mut self, close: &str) -> Doc {
        match self.at(close) {
            Some(pos) => self.before(pos),
            None => self.flush(),
        }
    }

    /// `{ elements }`: flat when it fits (and `always_break` is off), else one per line.
    fn block<T>(
        &mut self,
        items: &[T],
        commas: Commas,
        always_break: bool,
        mut one: impl FnMut(&mut Self, &T) -> Doc,
    ) -> Doc {
        let open = self.kw("{");
        let broken = self.newline_ahead();
        let open = concat(vec![open, self.flush()]);
        if items.is_empty() {
            let dangling = self.dangling("}");
            let close = self.kw("}");
            return concat(vec![open, nest(2, dangling), close]);
        }
        let line = if always_break {
            Doc::HardLine
        } else {
            Doc::Line
        };
        let mut inner = Vec::new();
        for (i, item) in items.iter().enumerate() {
            inner.push(line.clone());
            inner.push(self.leading(i > 0));
            inner.push(one(self, item));
            let last = i + 1 == items.len();
            match commas {
                Commas::Between if !last => inner.push(self.kw(",")),
                Commas::Between => {
                    inner.push(if_break(text(","), empty()));
                    inner.push(self.skip(","));
                }
                Commas::Optional if !last => {
                    inner.push(if_break(empty(), text(",")));
                    inner.push(self.skip(","));
                }
                Commas::None | Commas::Optional => inner.push(self.skip(",")),
            }
            inner.push(self.flush());
        }
        inner.push(self.dangling("}"));
        let close = self.kw("}");
        let d = concat(vec![open, nest(2, concat(inner)), line, close]);
        if always_break {
            d
        } else {
            group_broken_if(d, broken)
        }
    }

    /// Items separated by `, ` that fill lines, aligned after the opening bracket.
    fn fill<T>(&mut self, items: &[T], mut one: impl FnMut(&mut Self, &T) -> Doc) -> Doc {
        let mut parts = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                let c = self.comma();
                parts.push(concat(vec![c, Doc::Line]));
            }
            parts.push(one(self, item));
        }
        align(Doc::Fill(parts))
    }

    /// `a, b, c` on one line if it fits and the source has it on one line, else one per line,
    /// aligned after the step keyword.
    fn one_per_line<T>(&mut self, items: &[T], mut one: impl FnMut(&mut Self, &T) -> Doc) -> Doc {
        let mut parts = Vec::new();
        let mut broken = false;
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                parts.push(self.comma());
                broken |= self.newline_ahead();
                parts.push(Doc::Line);
            }
            parts.push(one(self, item));
        }
        group_broken_if(align(concat(parts)), broken)
    }

    /// `open items close`, items filling lines; a trailing comma in the source is dropped.
    fn bracketed<T>(
        &mut self,
        open: &str,
        close: &str,
        items: &[T],
        one: impl FnMut(&mut Self, &T) -> Doc,
    ) -> Doc {
        let o = self.kw(open);
        let o = concat(vec![o, self.flush()]);
        let body = self.fill(items, one);
        let trailing = self.skip(",");
        let dangling = self.dangling(close);
        let c = self.kw(close);
        concat(vec![o, body, trailing, dangling, c])
    }

    // ------------------------------------------------------------------ items

    fn module(&mut self, m: &Module) -> Doc {
        let mut out = Vec::new();
        for (i, item) in m.items.iter().enumerate() {
            if i > 0 {
                out.push(Doc::HardLine);
            }
            out.push(self.leading(i > 0));
            out.push(self.item(item));
            out.push(self.flush());
        }
        // Comments after the last item.
        let mut any = false;
        while let Some(c) = self.comments.get(self.next).cloned() {
            if self.after_code(&c) {
                out.push(self.comment_column(&c));
            } else if (!m.items.is_empty() || any) && self.blank_between(self.last, c.start) {
                out.push(Doc::BlankLine);
            } else {
                out.push(Doc::LineStart);
            }
            out.push(self.comment_text(&c));
            out.push(Doc::ForceBreak);
            self.last = c.end;
            self.next += 1;
            any = true;
        }
        concat(out)
    }

    fn item(&mut self, item: &Item) -> Doc {
        match item {
            Item::Import(i) => self.import(i),
            Item::Pipeline(p) => self.pipeline(p),
            Item::Source(s) => self.source(s),
            Item::Transform(t) => {
                let k = self.kw("transform");
                let name = self.tok(t.name.span);
                let eq = self.kw("=");
                let body = self.rel(&t.body);
                concat(vec![k, text(" "), name, text(" "), eq, text(" "), body])
            }
            Item::Sink(s) => self.sink(s),
            Item::Check(c) => {
                let k = self.kw("check");
                let rel = self.tok(c.relation.span);
                let rules = self.rules(&c.rules);
                concat(vec![k, text(" "), rel, text(" "), rules])
            }
            Item::Test(t) => self.test(t),
            Item::Define(d) => self.define(d),
        }
    }

    fn import(&mut self, i: &Import) -> Doc {
        let mut out = vec![self.kw("import"), text(" ")];
        out.push(match &i.target {
            // A module path may have blanks and comments around its dots.
            ImportTarget::Module(q) => {
                let mut parts = Vec::new();
                for (i, p) in q.parts.iter().enumerate() {
                    if i > 0 {
                        parts.push(self.kw("."));
                    }
                    parts.push(self.tok(p.span));
                }
                concat(parts)
            }
            ImportTarget::File(s) => self.tok(s.span),
        });
        if let Some(alias) = &i.alias {
            out.push(text(" "));
            out.push(self.kw("as"));
            out.push(text(" "));
            out.push(self.tok(alias.span));
        }
        concat(out)
    }

    fn pipeline(&mut self, p: &PipelineDecl) -> Doc {
        let k = self.kw("pipeline");
        let name = self.tok(p.name.span);
        let keyword = |s: &Setting| -> usize {
            match &s.kind {
                SettingKind::Schedule(_) => "schedule".len(),
                SettingKind::Start(_) => "start".len(),
                SettingKind::End(_) => "end".len(),
                SettingKind::Catchup(_) => "catchup".len(),
                SettingKind::Retries { .. } => "retries".len(),
                SettingKind::Timeout(_) => "timeout".len(),
                SettingKind::Alert(_) => "alert".len(),
                SettingKind::Owner(_) => "owner".len(),
                SettingKind::Tags(_) => "tags".len(),
                SettingKind::Description(_) => "description".len(),
                SettingKind::Unknown { name, .. } => name.span.len(),
            }
        };
        let column = p.settings.iter().map(keyword).max().unwrap_or(0) + 1;
        let body = self.block(&p.settings, Commas::None, false, |b, s| {
            b.setting(s, column - keyword(s))
        });
        concat(vec![k, text(" "), name, text(" "), body])
    }

    fn setting(&mut self, s: &Setting, pad: usize) -> Doc {
        let pad = if_break(text(" ".repeat(pad)), text(" "));
        let simple = |b: &mut Self, kw: &str, e: &Expr| {
            let k = b.kw(kw);
            let v = b.expr(e);
            concat(vec![k, pad.clone(), v])
        };
        match &s.kind {
            SettingKind::Schedule(sched) => {
                let k = self.kw("schedule");
                let v = self.schedule(sched);
                concat(vec![k, pad, v])
            }
            SettingKind::Start(e) => simple(self, "start", e),
            SettingKind::End(e) => simple(self, "end", e),
            SettingKind::Catchup(e) => simple(self, "catchup", e),
            SettingKind::Retries { count, backoff } => {
                let mut out = vec![self.kw("retries"), pad, self.expr(count)];
                if let Some(b) = backoff {
                    out.push(text(" "));
                    out.push(self.kw("backoff"));
                    out.push(text(" "));
                    out.push(self.expr(b));
                }
                concat(out)
            }
            SettingKind::Timeout(e) => simple(self, "timeout", e),
            SettingKind::Alert(e) => simple(self, "alert", e),
            SettingKind::Owner(e) => simple(self, "owner", e),
            SettingKind::Tags(e) => simple(self, "tags", e),
            SettingKind::Description(e) => simple(self, "description", e),
            SettingKind::Unknown { name, value } => {
                let n = self.tok(name.span);
                match value {
                    Some(v) => {
                        let v = self.expr(v);
                        concat(vec![n, pad, v])
                    }
                    None => n,
                }
            }
        }
    }

    fn schedule(&mut self, s: &Schedule) -> Doc {
        let mut out = Vec::new();
        let tz = |b: &mut Self, out: &mut Vec<Doc>, tz: &Option<StrLit>| {
            if let Some(z) = tz {
                out.push(text(" "));
                out.push(b.tok(z.span));
            }
        };
        match s {
            Schedule::Daily { at, tz: zone } | Schedule::Hourly { at, tz: zone } => {
                let word = if matches!(s, Schedule::Daily { .. }) {
                    "daily"
                } else {
                    "hourly"
                };
                out.push(self.kw(word));
                if let Some(at) = at {
                    out.push(text(" "));
                    out.push(self.kw("at"));
                    out.push(text(" "));
                    out.push(self.tok(at.span));
                }
                tz(self, &mut out, zone);
            }
            Schedule::Cron { expr, tz: zone } => {
                out.push(self.kw("cron"));
                out.push(text(" "));
                out.push(self.tok(expr.span));
                tz(self, &mut out, zone);
            }
            Schedule::Every { period, tz: zone } => {
                out.push(self.kw("every"));
                out.push(text(" "));
                out.push(self.expr(period));
                tz(self, &mut out, zone);
            }
            Schedule::After(names) => {
                out.push(self.kw("after"));
                out.push(text(" "));
                for (i, n) in names.iter().enumerate() {
                    if i > 0 {
                        out.push(self.comma());
                        out.push(text(" "));
                    }
                    out.push(self.tok(n.span));
                }
            }
            Schedule::OnFile(path) => {
                out.push(self.kw("on"));
                out.push(text(" "));
                out.push(self.kw("file"));
                out.push(text(" "));
                out.push(self.tok(path.span));
            }
            Schedule::Continuous => out.push(self.kw("continuous")),
        }
        concat(out)
    }

    fn source(&mut self, s: &SourceDecl) -> Doc {
        let mut out = vec![
            self.kw("source"),
            text(" "),
            self.tok(s.name.span),
            text(" "),
        ];
        out.push(self.kw("="));
        out.push(text(" "));
        out.push(self.call(&s.origin));
        if let Some(fields) = &s.schema {
            out.push(text(" "));
            out.push(self.schema(fields));
        }
        for r in &s.retention {
            let lead = self.leading(false);
            let line = self.retention(r);
            out.push(nest(2, concat(vec![Doc::HardLine, lead, line])));
        }
        concat(out)
    }

    fn schema(&mut self, fields: &[Field]) -> Doc {
        self.block(fields, Commas::Between, false, |b, f| {
            let n = b.tok(f.name.span);
            let colon = b.kw(":");
            let t = b.ty(&f.ty);
            concat(vec![n, colon, text(" "), t])
        })
    }

    fn ty(&mut self, t: &TypeExpr) -> Doc {
        let mut s = t.name.name.clone();
        if !t.params.is_empty() {
            let ps: Vec<String> = t.params.iter().map(u32::to_string).collect();
            s.push('(');
            s.push_str(&ps.join(", "));
            s.push(')');
        }
        if t.nullable {
            s.push('?');
        }
        self.node(t.span, s)
    }

    fn retention(&mut self, r: &RetentionLine) -> Doc {
        let word = match r.action {
            RetentionAction::Archive => "archive",
            RetentionAction::Expire => "expire",
        };
        let mut out = vec![self.kw(word), text(" "), self.kw("after"), text(" ")];
        out.push(self.tok(r.age.span));
        if let Some(class) = &r.class {
            out.push(text(" "));
            out.push(self.kw("to"));
            out.push(text(" "));
            out.push(self.tok(class.span));
        }
        concat(out)
    }

    fn sink(&mut self, s: &SinkDecl) -> Doc {
        let mut out = vec![
            self.kw("sink"),
            text(" "),
            self.tok(s.relation.span),
            text(" "),
        ];
        out.push(self.kw("->"));
        out.push(text(" "));
        out.push(match &s.target {
            SinkTarget::Table(q) => self.tok(q.span),
            SinkTarget::Call(c) => self.call(c),
        });
        if s.options.is_empty() {
            out.push(self.skip("{"));
            out.push(self.skip("}"));
        } else {
            out.push(text(" "));
            out.push(self.block(&s.options, Commas::None, false, Self::sink_option));
        }
        concat(out)
    }

    fn sink_option(&mut self, o: &SinkOption) -> Doc {
        match &o.kind {
            SinkOptionKind::Merge(keys) => {
                let mut out = vec![self.kw("mode"), text(" "), self.kw("merge"), text(" ")];
                out.push(self.kw("on"));
                out.push(text(" "));
                out.push(self.bracketed("(", ")", keys, |b, k| b.tok(k.span)));
                concat(out)
            }
            SinkOptionKind::Incremental(col) => {
                let mut out = vec![self.kw("mode"), text(" "), self.kw("incremental")];
                out.push(text(" "));
                out.push(self.kw("by"));
                out.push(text(" "));
                out.push(self.tok(col.span));
                concat(out)
            }
            SinkOptionKind::Mode(m) => {
                let k = self.kw("mode");
                concat(vec![k, text(" "), self.tok(m.span)])
            }
            SinkOptionKind::PartitionBy(col) => {
                let k = self.kw("partition");
                let by = self.kw("by");
                concat(vec![k, text(" "), by, text(" "), self.tok(col.span)])
            }
            SinkOptionKind::Retention(r) => self.retention(r),
            SinkOptionKind::Unknown { name, value } => {
                let n = self.tok(name.span);
                match value {
                    Some(v) => concat(vec![n, text(" "), self.expr(v)]),
                    None => n,
                }
            }
        }
    }

    /// Rules one per line. A rule starting with `-` or `(` would continue the one before it
    /// (`a` then `-b` reads as `a - b`), so the rule before keeps a comma.
    fn rules(&mut self, rules: &[Expr]) -> Doc {
        let mut i = 0;
        self.block(rules, Commas::Optional, false, |b, r| {
            i += 1;
            let d = b.expr(r);
            match rules.get(i) {
                Some(next) if b.starts_like_operand_tail(next) => {
                    let c = b.skip(",");
                    concat(vec![d, if_break(text(","), empty()), c])
                }
                _ => d,
            }
        })
    }

    /// Whether `e` is printed starting with `-` or `(`.
    fn starts_like_operand_tail(&self, mut e: &Expr) -> bool {
        loop {
            if self.parens.contains_key(&(e.span.start, e.span.end)) {
                return true;
            }
            match &e.kind {
                ExprKind::Unary(UnaryOp::Neg, _) | ExprKind::Tuple(_) => return true,
                ExprKind::Binary(_, a, _)
                | ExprKind::Cast(a, _)
                | ExprKind::IsNull { value: a, .. }
                | ExprKind::InList(a, _) => e = a,
                _ => return false,
            }
        }
    }

    fn test(&mut self, t: &TestDecl) -> Doc {
        enum Part<'t> {
            Ds(&'t Expr),
            Given(&'t QName, &'t Fixture),
            Expect(&'t Fixture),
        }
        let mut parts: Vec<(u32, Part<'_>)> = Vec::new();
        if let Some(ds) = &t.ds {
            parts.push((ds.span.start, Part::Ds(ds)));
        }
        for (q, f) in &t.given {
            parts.push((q.span.start, Part::Given(q, f)));
        }
        if let Some(f) = &t.expect {
            parts.push((f.span.start, Part::Expect(f)));
        }
        parts.sort_by_key(|(at, _)| *at);
        let mut out = vec![self.kw("test"), text(" "), self.tok(t.name.span), text(" ")];
        out.push(self.kw("for"));
        out.push(text(" "));
        out.push(self.tok(t.relation.span));
        out.push(text(" "));
        out.push(self.block(&parts, Commas::None, true, |b, (_, p)| match p {
            Part::Ds(e) => {
                let k = b.kw("ds");
                concat(vec![k, text(" "), b.expr(e)])
            }
            Part::Given(q, f) => {
                let k = b.kw("given");
                let q = b.tok(q.span);
                concat(vec![k, text(" "), q, text(" "), b.fixture(f)])
            }
            Part::Expect(f) => {
                let k = b.kw("expect");
                concat(vec![k, text(" "), b.fixture(f)])
            }
        }));
        concat(out)
    }

    fn fixture(&mut self, f: &Fixture) -> Doc {
        let cols = self.bracketed("(", ")", &f.columns, |b, c| b.tok(c.span));
        let rows = self.block(&f.rows, Commas::Between, false, |b, r| {
            let row = b.bracketed_flat(&r.values);
            Doc::Flat(Box::new(row))
        });
        let mut out = vec![cols, text(" "), rows];
        if !f.defaults.is_empty() {
            out.push(text(" "));
            out.push(self.kw("defaults"));
            out.push(text(" "));
            out.push(self.block(&f.defaults, Commas::Between, false, Self::assign));
        }
        concat(out)
    }

    /// `(a, b, c)` on one line (a fixture row).
    fn bracketed_flat(&mut self, values: &[Expr]) -> Doc {
        let mut out = vec![self.kw("(")];
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push(self.comma());
                out.push(text(" "));
            }
            out.push(self.expr(v));
        }
        out.push(self.skip(","));
        out.push(self.dangling(")"));
        out.push(self.kw(")"));
        concat(out)
    }

    fn define(&mut self, d: &DefineDecl) -> Doc {
        let mut out = vec![self.kw("define"), text(" ")];
        if matches!(d.body, DefineBody::Check(_)) {
            out.push(self.kw("check"));
            out.push(text(" "));
        }
        out.push(self.tok(d.name.span));
        out.push(self.bracketed("(", ")", &d.params, |b, p| {
            let n = b.tok(p.name.span);
            let colon = b.kw(":");
            concat(vec![n, colon, text(" "), b.ty(&p.ty)])
        }));
        out.push(text(" "));
        match &d.body {
            DefineBody::Relation(r) => {
                out.push(self.kw("="));
                out.push(text(" "));
                out.push(self.rel(r));
            }
            DefineBody::Check(rules) => out.push(self.rules(rules)),
        }
        concat(out)
    }

    // ------------------------------------------------------------------ relations

    /// `head | step | step`: on one line when it fits, else one `| step` per line.
    fn rel(&mut self, r: &RelExpr) -> Doc {
        let head = match &r.head {
            RelHead::Ref(q) => self.tok(q.span),
            RelHead::Call(c) => self.call(c),
            RelHead::Sql { sql, schema } => {
                let k = self.kw("sql");
                let s = self.tok(sql.span);
                concat(vec![k, text(" "), s, text(" "), self.schema(schema)])
            }
        };
        let broken = !r.steps.is_empty() && self.newline_ahead();
        let mut steps = Vec::new();
        for s in &r.steps {
            steps.push(self.flush());
            steps.push(Doc::Line);
            // Comments before the step (also those after its `|`) go above the `| step` line.
            let lead = self.before(s.span.start as usize);
            steps.push(lead);
            let bar = self.kw("|");
            steps.push(bar);
            steps.push(text(" "));
            steps.push(nest(2, self.step(s)));
        }
        group_broken_if(concat(vec![head, nest(2, concat(steps))]), broken)
    }

    fn step(&mut self, s: &Step) -> Doc {
        match &s.kind {
            StepKind::Filter(e) => {
                let k = self.kw("filter");
                concat(vec![k, text(" "), self.expr(e)])
            }
            StepKind::Derive(assigns) => {
                let k = self.kw("derive");
                let body = if assigns.len() == 1 {
                    self.assign(&assigns[0])
                } else {
                    self.one_per_line(assigns, Self::assign)
                };
                concat(vec![k, text(" "), body])
            }
            StepKind::Select(items) => {
                let k = self.kw("select");
                let item = |b: &mut Self, it: &SelectItem| match &it.name {
                    Some(n) => {
                        let n = b.tok(n.span);
                        let eq = b.kw("=");
                        concat(vec![n, text(" "), eq, text(" "), b.expr(&it.value)])
                    }
                    None => b.expr(&it.value),
                };
                // Names fill lines; with computed columns, one per line like `derive`.
                let body = if items.iter().all(|i| i.name.is_none()) {
                    self.fill(items, item)
                } else {
                    self.one_per_line(items, item)
                };
                concat(vec![k, text(" "), body])
            }
            StepKind::SelectExcept(names) => {
                let k = self.kw("select");
                let e = self.kw("except");
                let body = self.fill(names, |b, n| b.tok(n.span));
                concat(vec![k, text(" "), e, text(" "), body])
            }
            StepKind::Join {
                kind,
                relation,
                alias,
                cond,
            } => {
                let mut out = vec![self.kw("join")];
                let word = match kind {
                    JoinKind::Inner => None,
                    JoinKind::Left => Some("left"),
                    JoinKind::Right => Some("right"),
                    JoinKind::Full => Some("full"),
                };
                match word {
                    Some(w) => {
                        out.push(text(" "));
                        out.push(self.kw(w));
                    }
                    None if self.at("inner").is_some() => {
                        out.push(text(" "));
                        out.push(self.kw("inner"));
                    }
                    None => {}
                }
                out.push(text(" "));
                out.push(self.tok(relation.span));
                if let Some(a) = alias {
                    out.push(text(" "));
                    out.push(self.kw("as"));
                    out.push(text(" "));
                    out.push(self.tok(a.span));
                }
                out.push(text(" "));
                match cond {
                    JoinCond::On(e) => {
                        out.push(self.kw("on"));
                        out.push(text(" "));
                        out.push(self.expr(e));
                    }
                    JoinCond::Using(cols) => {
                        out.push(self.kw("using"));
                        out.push(text(" "));
                        out.push(self.bracketed("(", ")", cols, |b, c| b.tok(c.span)));
                    }
                }
                concat(out)
            }
            StepKind::Group { keys, aggregates } => {
                let k = self.kw("group");
                let keys = self.fill(keys, Self::expr);
                let aggs = self.aggregates(aggregates);
                concat(vec![k, text(" "), keys, text(" "), aggs])
            }
            StepKind::Aggregate(aggregates) => {
                let k = self.kw("aggregate");
                concat(vec![k, text(" "), self.aggregates(aggregates)])
            }
            StepKind::Sort(keys) => {
                let k = self.kw("sort");
                let body = self.fill(keys, Self::sort_key);
                concat(vec![k, text(" "), body])
            }
            StepKind::Take(e) => {
                let k = self.kw("take");
                concat(vec![k, text(" "), self.expr(e)])
            }
            StepKind::Distinct => self.kw("distinct"),
            StepKind::Union(q) => {
                let k = self.kw("union");
                concat(vec![k, text(" "), self.tok(q.span)])
            }
            StepKind::Window {
                partition,
                order,
                frame,
                functions,
            } => {
                let mut out = vec![self.kw("window")];
                if !partition.is_empty() {
                    out.push(text(" "));
                    out.push(self.kw("partition"));
                    out.push(text(" "));
                    out.push(self.fill(partition, Self::expr));
                }
                if !order.is_empty() {
                    out.push(text(" "));
                    out.push(self.kw("order"));
                    out.push(text(" "));
                    out.push(self.fill(order, Self::sort_key));
                }
                if let Some(f) = frame {
                    out.push(text(" "));
                    out.push(self.kw("rows"));
                    out.push(text(" "));
                    out.push(self.kw("between"));
                    out.push(text(" "));
                    out.push(self.frame_bound(f.start));
                    out.push(text(" "));
                    out.push(self.kw("and"));
                    out.push(text(" "));
                    out.push(self.frame_bound(f.end));
                }
                out.push(text(" "));
                out.push(self.aggregates(functions));
                concat(out)
            }
            StepKind::Apply(c) => self.call(c),
        }
    }

    fn frame_bound(&mut self, b: FrameBound) -> Doc {
        let (first, second) = match b {
            FrameBound::UnboundedPreceding => (self.kw("unbounded"), "preceding"),
            FrameBound::UnboundedFollowing => (self.kw("unbounded"), "following"),
            FrameBound::CurrentRow => (self.kw("current"), "row"),
            FrameBound::Preceding(n) => (self.kw(&n.to_string()), "preceding"),
            FrameBound::Following(n) => (self.kw(&n.to_string()), "following"),
        };
        concat(vec![first, text(" "), self.kw(second)])
    }

    fn aggregates(&mut self, assigns: &[Assign]) -> Doc {
        self.block(assigns, Commas::Between, false, Self::assign)
    }

    fn assign(&mut self, a: &Assign) -> Doc {
        let n = self.tok(a.name.span);
        let eq = self.kw("=");
        concat(vec![n, text(" "), eq, text(" "), self.expr(&a.value)])
    }

    fn sort_key(&mut self, k: &SortKey) -> Doc {
        let v = self.expr(&k.value);
        if k.descending {
            let d = self.kw("desc");
            concat(vec![v, text(" "), d])
        } else if self.at("asc").is_some() {
            let a = self.kw("asc");
            concat(vec![v, text(" "), a])
        } else {
            v
        }
    }

    // ------------------------------------------------------------------ expressions

    fn call(&mut self, c: &Call) -> Doc {
        let name = self.tok(c.name.span);
        let args = self.bracketed("(", ")", &c.args, |b, a| match &a.name {
            Some(n) => {
                let n = b.tok(n.span);
                let eq = b.kw("=");
                concat(vec![n, text(" "), eq, text(" "), b.expr(&a.value)])
            }
            None => b.expr(&a.value),
        });
        concat(vec![name, args])
    }

    fn paren_count(&self, e: &Expr) -> usize {
        self.parens
            .get(&(e.span.start, e.span.end))
            .copied()
            .unwrap_or(0)
    }

    /// `a and b and c` (or `or`): operands fill lines, a broken line starting with the operator.
    fn chain(&mut self, e: &Expr, op: BinaryOp) -> Doc {
        let mut operands = vec![];
        let mut at = e;
        loop {
            match &at.kind {
                ExprKind::Binary(o, a, b)
                    if *o == op && (std::ptr::eq(at, e) || self.paren_count(at) == 0) =>
                {
                    operands.push(&**b);
                    at = a;
                }
                _ => break,
            }
        }
        operands.push(at);
        operands.reverse();
        let mut parts = vec![self.expr(operands[0])];
        for x in &operands[1..] {
            parts.push(concat(vec![self.flush(), Doc::Line]));
            let k = self.kw(op.symbol());
            let k = concat(vec![k, self.flush()]);
            parts.push(concat(vec![k, text(" "), self.expr(x)]));
        }
        nest(2, Doc::Fill(parts))
    }

    fn expr(&mut self, e: &Expr) -> Doc {
        let parens = self.paren_count(e);
        let mut out: Vec<Doc> = (0..parens).map(|_| self.kw("(")).collect();
        out.push(match &e.kind {
            ExprKind::Literal(_) | ExprKind::Param(_) | ExprKind::Star => self.tok(e.span),
            ExprKind::Name(q) => self.tok(q.span),
            ExprKind::Call(c) => self.call(c),
            ExprKind::Unary(UnaryOp::Neg, x) => {
                let k = self.kw("-");
                concat(vec![k, self.expr(x)])
            }
            ExprKind::Unary(UnaryOp::Not, x) => {
                let k = self.kw("not");
                concat(vec![k, text(" "), self.expr(x)])
            }
            ExprKind::Binary(op @ (BinaryOp::And | BinaryOp::Or), _, _) => self.chain(e, *op),
            ExprKind::Binary(op, a, b) => {
                let a = self.expr(a);
                let op = self.kw(op.symbol());
                let op = concat(vec![op, self.flush()]);
                concat(vec![a, text(" "), op, text(" "), self.expr(b)])
            }
            ExprKind::Cast(x, t) => {
                let x = self.expr(x);
                let k = self.kw("::");
                concat(vec![x, k, self.ty(t)])
            }
            ExprKind::IsNull { value, negated } => {
                let mut out = vec![self.expr(value), text(" "), self.kw("is"), text(" ")];
                if *negated {
                    out.push(self.kw("not"));
                    out.push(text(" "));
                }
                out.push(self.kw("null"));
                concat(out)
            }
            ExprKind::InList(x, list) => {
                let x = self.expr(x);
                let k = self.kw("in");
                let l = self.bracketed("[", "]", list, Self::expr);
                concat(vec![x, text(" "), k, text(" "), l])
            }
            ExprKind::Case { arms, otherwise } => {
                let k = self.kw("case");
                let broken = self.newline_ahead();
                let mut inner = Vec::new();
                for (cond, value) in arms {
                    inner.push(self.flush());
                    inner.push(Doc::Line);
                    inner.push(self.kw("when"));
                    inner.push(text(" "));
                    inner.push(self.expr(cond));
                    inner.push(text(" "));
                    inner.push(self.kw("then"));
                    inner.push(text(" "));
                    inner.push(self.expr(value));
                }
                if let Some(o) = otherwise {
                    inner.push(self.flush());
                    inner.push(Doc::Line);
                    inner.push(self.kw("else"));
                    inner.push(text(" "));
                    inner.push(self.expr(o));
                }
                inner.push(self.flush());
                let end = self.kw("end");
                group_broken_if(
                    concat(vec![k, nest(2, concat(inner)), Doc::Line, end]),
                    broken,
                )
            }
            ExprKind::List(items) => self.bracketed("[", "]", items, Self::expr),
            ExprKind::Tuple(items) => self.bracketed("(", ")", items, Self::expr),
        });
        for _ in 0..parens {
            out.push(self.kw(")"));
        }
        concat(out)
    }
}

#[cfg(test)]
mod tests;
