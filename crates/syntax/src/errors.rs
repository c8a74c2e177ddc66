//! Syntax diagnostics: pest errors rewritten in the language's own words, plus the literal checks.

use pest::error::{Error, ErrorVariant, InputLocation};
use pipec_diag::{codes, did_you_mean, Diagnostic, FileId, Span};

use crate::parser::{Rule, MAX_NESTING};

/// Keywords that start a top-level item.
pub const ITEM_KEYWORDS: &[&str] = &[
    "import",
    "pipeline",
    "source",
    "transform",
    "sink",
    "check",
    "test",
    "define",
];

/// Keywords that start a pipeline step.
pub const STEP_KEYWORDS: &[&str] = &[
    "filter",
    "derive",
    "select",
    "join",
    "group",
    "aggregate",
    "sort",
    "take",
    "distinct",
    "union",
    "window",
];

/// Keywords that start a pipeline setting.
pub const SETTING_KEYWORDS: &[&str] = &[
    "schedule",
    "start",
    "end",
    "catchup",
    "retries",
    "timeout",
    "alert",
    "owner",
    "tags",
    "description",
];

/// True when `line` begins (at column 0) with a top-level keyword.
pub(crate) fn starts_item(line: &str) -> bool {
    ITEM_KEYWORDS.iter().any(|k| {
        line.strip_prefix(k)
            .is_some_and(|rest| rest.starts_with([' ', '\t', '\n', '\r']))
    })
}

/// The name declared by a chunk such as `source rentals = ...`, if recognisable.
pub(crate) fn declared_name(chunk: &str) -> Option<String> {
    let mut words = chunk.split_whitespace();
    let kw = words.next()?;
    if !matches!(kw, "source" | "transform" | "define" | "pipeline") {
        return None;
    }
    let mut name = words.next()?;
    if name == "check" && kw == "define" {
        name = words.next()?;
    }
    let name: String = name
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// `E0003` when brackets or `case … end` expressions nest deeper than [`MAX_NESTING`] (strings
/// and comments skipped). This bounds the parser's recursion, so that no input can exhaust the
/// stack.
///
/// `end` closes a `case` only where an operand has just ended (`then x end`); where an operand
/// is expected (`when end > 0`) it is a column name. This over-approximates the parser's depth.
pub(crate) fn check_nesting(file: FileId, text: &str) -> Option<Diagnostic> {
    const CASE: u8 = b'c';
    let bytes = text.as_bytes();
    let mut open: Vec<u8> = Vec::new();
    let mut after_operand = false;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let byte = bytes[i];
        match byte {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
                after_operand = true;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += 1;
                }
                i += 2;
                after_operand = true;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                after_operand = true;
            }
            b'(' | b'[' | b'{' => {
                open.push(byte);
                after_operand = false;
            }
            b')' | b']' | b'}' => {
                while open.last() == Some(&CASE) {
                    open.pop();
                }
                open.pop();
                after_operand = true;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | 0x80.. => {
                while i + 1 < bytes.len()
                    && matches!(bytes[i + 1], b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | 0x80..)
                {
                    i += 1;
                }
                match &bytes[start..=i] {
                    b"case" => {
                        open.push(CASE);
                        after_operand = false;
                    }
                    b"end" if after_operand && open.last() == Some(&CASE) => {
                        open.pop();
                    }
                    b"when" | b"then" | b"else" | b"and" | b"or" | b"not" | b"is" | b"in" => {
                        after_operand = false;
                    }
                    _ => after_operand = true,
                }
            }
            _ => after_operand = false,
        }
        if open.len() > MAX_NESTING {
            let (what, label) = if open.last() == Some(&CASE) {
                ("`case` expressions", "this `case` is too deep")
            } else {
                ("brackets", "this bracket is too deep")
            };
            return Some(
                Diagnostic::error(
                    codes::TOO_DEEP,
                    Span::new(file, start, i + 1),
                    format!("{what} nest more than {MAX_NESTING} levels deep"),
                    label,
                )
                .with_help("split the expression into several `derive` steps"),
            );
        }
        i += 1;
    }
    None
}

/// What a grammar rule means to a user; `None` for rules that should not be mentioned.
fn describe(rule: Rule) -> Option<String> {
    let name = format!("{rule:?}");
    if let Some(kw) = name.strip_prefix("kw_") {
        return Some(format!("`{kw}`"));
    }
    Some(
        match rule {
            Rule::EOI => "end of file",
            Rule::ident | Rule::qualified_name | Rule::module_path => "a name",
            Rule::expr
            | Rule::primary
            | Rule::number
            | Rule::date
            | Rule::timestamp
            | Rule::boolean
            | Rule::null => "an expression",
            Rule::string | Rule::plain_string | Rule::triple_string => "a string",
            Rule::schema_block => "`{` and a schema",
            Rule::field => "a column (`name: type`)",
            Rule::type_expr | Rule::type_name => "a type",
            Rule::time_of_day => "a time like `03:00`",
            Rule::minute_mark => "a minute mark like `:15`",
            Rule::duration => "a duration like `5m`",
            Rule::integer => "a number",
            Rule::call => "a call like `csv(\"path\")`",
            Rule::args | Rule::arg => "an argument",
            Rule::infix => "an operator",
            Rule::call_args => "arguments in `(`…`)`",
            Rule::cast | Rule::is_null | Rule::is_not_null | Rule::in_list => "an operator",
            Rule::import
            | Rule::pipeline
            | Rule::source
            | Rule::transform
            | Rule::sink
            | Rule::check
            | Rule::test
            | Rule::define => "a declaration",
            Rule::filter_step
            | Rule::derive_step
            | Rule::select_step
            | Rule::join_step
            | Rule::group_step
            | Rule::aggregate_step
            | Rule::sort_step
            | Rule::take_step
            | Rule::distinct_step
            | Rule::union_step
            | Rule::window_step
            | Rule::apply_step => "a pipeline step",
            Rule::schedule
            | Rule::start_setting
            | Rule::end_setting
            | Rule::catchup_setting
            | Rule::retries_setting
            | Rule::timeout_setting
            | Rule::alert_setting
            | Rule::owner_setting
            | Rule::tags_setting
            | Rule::description_setting
            | Rule::unknown_setting => "a pipeline setting",
            Rule::sched_daily
            | Rule::sched_hourly
            | Rule::sched_cron
            | Rule::sched_every
            | Rule::sched_after
            | Rule::sched_on_file
            | Rule::sched_continuous => "a schedule",
            Rule::mode_option | Rule::partition_option | Rule::unknown_sink_option => {
                "a sink option"
            }
            Rule::expire_option | Rule::archive_option => "`archive after` or `expire after`",
            Rule::retention_age => "an age like `90d`, `12w` or `1y`",
            Rule::mode_merge | Rule::mode_incremental | Rule::mode_word => "a sink mode",
            Rule::join_kind => "a join kind",
            Rule::join_on | Rule::join_using => "`on` or `using`",
            Rule::sort_key => "a sort key",
            Rule::sort_dir => "`asc` or `desc`",
            Rule::assignment | Rule::assignments => "`name = expression`",
            Rule::agg_block => "`{` and aggregates",
            Rule::window_frame => "`rows between ... and ...`",
            Rule::frame_unbounded_preceding
            | Rule::frame_unbounded_following
            | Rule::frame_current
            | Rule::frame_preceding
            | Rule::frame_following => "a frame bound like `6 preceding` or `current row`",
            Rule::rule_block => "`{` and rules",
            Rule::fixture => "`(columns) { rows }`",
            Rule::fixture_defaults => "`defaults { column = value, ... }`",
            Rule::row => "a row `(value, ...)`",
            Rule::test_ds | Rule::given | Rule::expect => "`ds`, `given` or `expect`",
            Rule::sql_relation => "`sql`",
            Rule::relation_expr => "a relation",
            Rule::sink_target => "a table name or a call",
            Rule::list => "a list `[...]`",
            Rule::param_ref => "a run parameter like `@ds`",
            Rule::params | Rule::param => "a parameter (`name: kind`)",
            _ => return None,
        }
        .to_string(),
    )
}

/// The token found at byte `pos`, in words.
fn found_at(text: &str, pos: usize) -> (String, usize) {
    let rest = &text[pos.min(text.len())..];
    let Some(c) = rest.chars().next() else {
        return ("end of file".into(), 0);
    };
    if c.is_alphanumeric() || c == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let len = word.len();
        return (format!("`{word}`"), len);
    }
    if c == '\n' || c == '\r' {
        return ("end of line".into(), 0);
    }
    let ops = ["->", "==", "!=", "<=", ">=", "::", "??", "++"];
    for op in ops {
        if rest.starts_with(op) {
            return (format!("`{op}`"), 2);
        }
    }
    (format!("`{c}`"), c.len_utf8())
}

/// Converts a pest error in a chunk starting at byte `base` into a diagnostic.
/// `chunk` is the part of `text` starting at byte `base` that failed to parse on its own.
pub(crate) fn from_pest(
    file: FileId,
    text: &str,
    base: usize,
    chunk: &str,
    err: &Error<Rule>,
) -> Diagnostic {
    let start = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut pos = start;
    // pest reports the start of the rule that failed; the token it tried last is further on.
    let attempts = err.parse_attempts();
    let further = attempts
        .as_ref()
        .filter(|a| a.max_position > pos && a.max_position <= chunk.len())
        .filter(|a| {
            at_token_boundary(chunk, a.max_position) && !misspelled_keyword(chunk, start, err)
        })
        .map(|a| a.max_position);
    if let Some(p) = further {
        pos = p.min(chunk.len());
    }
    let string_at = base + start;
    let rest = &chunk[start.min(chunk.len())..];
    if let Some(after) = rest.strip_prefix('"') {
        let unterminated = if let Some(body) = rest.strip_prefix("\"\"\"") {
            !body.contains("\"\"\"")
        } else {
            let line = after.split('\n').next().unwrap_or("");
            !unescaped_quote(line)
        };
        if unterminated {
            let len = rest.find('\n').unwrap_or(rest.len());
            return Diagnostic::error(
                codes::UNTERMINATED_STRING,
                Span::new(file, string_at, string_at + len.max(1)),
                "unterminated string",
                "this string is never closed",
            )
            .with_help(
                "close it with `\"` on the same line, or use `\"\"\"` for text over several lines",
            );
        }
    }
    let at = base + pos;
    let after_operand = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives
            .iter()
            .any(|r| matches!(r, Rule::kw_in | Rule::kw_is | Rule::infix)),
        _ => false,
    } || attempts
        .as_ref()
        .is_some_and(|a| a.expected_tokens().iter().any(|t| t.to_string() == "=="));
    if let Some(d) = sql_habit(file, text, at, after_operand) {
        return d;
    }
    // At the end of a chunk the next declaration follows: name it rather than "end of file".
    let (found, len) = found_at(text, at);
    let mut expected: Vec<String> = Vec::new();
    let mut keywords: Vec<String> = Vec::new();
    let mut steps = false;
    let mut items = false;
    if let (None, ErrorVariant::ParsingError { positives, .. }) = (further, &err.variant) {
        for r in positives {
            if let Some(d) = describe(*r) {
                if let Some(kw) = d.strip_prefix('`').and_then(|d| d.strip_suffix('`')) {
                    keywords.push(kw.to_string());
                }
                steps |= d == "a pipeline step";
                items |= d == "a declaration";
                if !expected.contains(&d) {
                    expected.push(d);
                }
            }
        }
    }
    if steps {
        keywords.extend(STEP_KEYWORDS.iter().map(|s| s.to_string()));
    }
    if items {
        keywords.extend(ITEM_KEYWORDS.iter().map(|s| s.to_string()));
    }
    if items || expected.iter().any(|e| e == "`transform`") {
        // After a source, its retention lines may follow; a declaration is what is meant.
        expected.retain(|e| e != "`archive`" && e != "`expire`");
    }
    if expected.iter().any(|e| e == "a pipeline setting") {
        keywords.extend(SETTING_KEYWORDS.iter().map(|s| s.to_string()));
    }
    if let (Some(attempts), Some(_)) = (&attempts, further) {
        for t in attempts.expected_tokens() {
            let token = t.to_string();
            let punctuation = !token.is_empty()
                && !token.contains("..")
                && !matches!(token.as_str(), "#" | "//" | "\u{feff}")
                && !token
                    .chars()
                    .any(|c| c.is_alphanumeric() || c.is_whitespace());
            let d = format!("`{token}`");
            if punctuation && !expected.contains(&d) {
                expected.push(d);
            }
        }
    }
    expected.sort_by_key(|e| (!e.starts_with('`'), e.clone()));
    let more = expected.len().saturating_sub(10);
    expected.truncate(10);
    if more > 0 {
        expected.push(format!("{more} more"));
    }
    let label = if expected.is_empty() {
        "unexpected here".to_string()
    } else {
        format!("expected {}", join_or(&expected))
    };
    let word = found.trim_matches('`');
    let suggestion = did_you_mean(word, keywords.iter().map(String::as_str));
    let line_start = chunk[..pos.min(chunk.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let first_word = chunk[line_start..].split_whitespace().next().unwrap_or("");
    let unclosed = chunk.matches('{').count() > chunk.matches('}').count();
    let help = if unclosed && ITEM_KEYWORDS.contains(&word) && pos >= chunk.len() {
        format!("a `{{` above is never closed: add `}}` before this `{word}`")
    } else if found == "`=`" && SETTING_KEYWORDS.contains(&first_word) {
        format!("pipeline settings take their value without `=`: `{first_word} ...`, e.g. `retries 3 backoff 5m`")
    } else if found == "`=`" {
        "compare with `==`; a single `=` names a column, as in `derive total = price * qty`"
            .to_string()
    } else if found == "`&`" || found == "`|`" && !steps {
        "combine conditions with `and` / `or`".to_string()
    } else if expected.iter().any(|e| e == "a time like `03:00`") {
        "`at` takes a time of day (24-hour clock), e.g. `schedule daily at 02:00 \"UTC\"`"
            .to_string()
    } else if expected.iter().any(|e| e == "`{` and a schema") {
        "a source declares its columns after the call: `{ id: int, name: string, at: timestamp? }`"
            .to_string()
    } else if steps {
        "after `|` comes a step: filter, derive, select, join, group, aggregate, sort, take, distinct, union, window, or a defined transform".to_string()
    } else if items {
        "a file holds declarations: import, pipeline, source, transform, sink, check, test, define"
            .to_string()
    } else {
        "see docs/language.md for the syntax of each declaration".to_string()
    };
    let d = Diagnostic::error(
        codes::SYNTAX,
        Span::new(file, at, at + len),
        format!("unexpected {found}"),
        label,
    );
    d.with_suggestion(suggestion, help)
}

/// Words SQL writes in capitals that pipec spells in lowercase.
const SQL_KEYWORDS: &[&str] = &[
    "and", "or", "not", "is", "null", "in", "true", "false", "case", "when", "then", "else", "end",
];

/// A targeted error for a habit from SQL or dbt that broke the parse at byte `at` of `text`: a
/// keyword in capitals, a string in single quotes, `=` comparing, dbt's `materialized`, a
/// missing comma between schema columns.
fn sql_habit(file: FileId, text: &str, at: usize, after_operand: bool) -> Option<Diagnostic> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let (found, len) = found_at(text, at);
    let before = text[..at].trim_end();
    let last_word_start = trailing_run(before, |c| c.is_alphanumeric() || c == '_');
    let last_word = &before[last_word_start..];
    let word = found.trim_matches('`');
    if is_capital_keyword(word) || is_capital_keyword(last_word) {
        let (span, shown) = if is_capital_keyword(word) {
            (Span::new(file, at, at + len), word)
        } else {
            (Span::new(file, last_word_start, before.len()), last_word)
        };
        let mut d = Diagnostic::error(
            codes::SYNTAX,
            span,
            format!("`{shown}` is written `{}` in pipec", shown.to_lowercase()),
            "SQL spelling",
        )
        .with_help("pipec's keywords are lowercase: `and`, `or`, `not`, `is null`, `in [...]`, `case when ... then ... else ... end`");
        for (start, w) in words_outside_strings(&text[line_start..line_end]) {
            if is_capital_keyword(w) {
                let start = line_start + start;
                d = d.with_fix(Span::new(file, start, start + w.len()), w.to_lowercase());
            }
        }
        return Some(d);
    }
    if found == "`'`" {
        let body = &text[at + 1..line_end];
        let mut value = String::new();
        let mut chars = body.char_indices().peekable();
        let mut close = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if chars.peek().is_some_and(|&(_, n)| n == '\'') {
                    chars.next();
                    value.push('\'');
                    continue;
                }
                close = Some(i);
                break;
            }
            value.push(c);
        }
        let end = close.map_or(at + 1, |i| at + 1 + i + 1);
        let mut d = Diagnostic::error(
            codes::SYNTAX,
            Span::new(file, at, end),
            "strings are written in double quotes",
            "SQL string",
        )
        .with_help("write strings in `\"...\"`; `'...'` is SQL's spelling");
        if close.is_some() {
            let quoted: String = value
                .chars()
                .flat_map(|c| match c {
                    '"' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            d = d
                .with_help(format!("write `\"{quoted}\"`; `'...'` is SQL's spelling"))
                .with_fix(Span::new(file, at, end), format!("\"{quoted}\""));
        }
        return Some(d);
    }
    if found == "`=`" && last_word == "materialized" {
        let value_end = line_end.min(text[at..].find(['}', '\n']).map_or(text.len(), |i| at + i));
        let value = text[at + 1..value_end].trim().trim_matches(['"', '\'']);
        let span = Span::new(file, last_word_start, at + 1);
        let d = Diagnostic::error(
            codes::SYNTAX,
            span,
            "`materialized` is dbt's: a pipec sink says how it writes with `mode`",
            "dbt configuration",
        );
        let value_span = text[at + 1..value_end].trim_end().len();
        let whole = Span::new(file, last_word_start, at + 1 + value_span);
        return Some(match value {
            "table" => d
                .with_help("`mode replace` (the default): each run rewrites the table")
                .with_fix(whole, "mode replace"),
            "incremental" => d.with_help(
                "write one of `mode append` (add each run's rows), `mode merge on (key)` (update rows by key, dbt's `unique_key`), `mode incremental by column` (add rows past the table's watermark)",
            ),
            "view" | "ephemeral" => d.with_help(
                "a `transform` is what dbt calls a view or an ephemeral model: remove the sink, or give it `mode replace`",
            ),
            _ => d.with_help(
                "sink modes are `mode replace`, `mode append`, `mode merge on (key)` and `mode incremental by column`",
            ),
        });
    }
    if found == "`=`" && after_operand {
        return Some(
            Diagnostic::error(
                codes::SYNTAX,
                Span::new(file, at, at + 1),
                "`=` does not compare in pipec: equality is `==`",
                "SQL equality",
            )
            .with_help(
                "compare with `==`; a single `=` names a column, as in `derive total = price * qty`",
            )
            .with_fix(Span::new(file, at, at + 1), "=="),
        );
    }
    if let Some(comma_at) = missing_field_comma(text, at) {
        return Some(
            Diagnostic::error(
                codes::SYNTAX,
                Span::new(file, at, at + len),
                "missing `,` between columns",
                "a `,` goes before this column",
            )
            .with_help("separate the columns of a schema with commas: `{ a: int, b: int }`")
            .with_fix(Span::new(file, comma_at, comma_at), ","),
        );
    }
    None
}

/// Where the run of characters matching `part` that ends `s` starts.
fn trailing_run(s: &str, part: impl Fn(char) -> bool) -> usize {
    s.char_indices()
        .rev()
        .take_while(|&(_, c)| part(c))
        .last()
        .map_or(s.len(), |(i, _)| i)
}

/// True for `AND`, `Or`, ...: a pipec keyword that is not written in lowercase.
fn is_capital_keyword(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_uppercase())
        && SQL_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// The words of `line` (offset, word) outside `"strings"`, `` `names` `` and comments.
fn words_outside_strings(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut word_start: Option<usize> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        if let Some(q) = quote {
            if c == q && prev != '\\' {
                quote = None;
            }
            prev = c;
            continue;
        }
        let in_word = c.is_alphanumeric() || c == '_';
        match (in_word, word_start) {
            (true, None) => word_start = Some(i),
            (false, Some(s)) => {
                out.push((s, &line[s..i]));
                word_start = None;
            }
            _ => {}
        }
        if c == '"' || c == '`' || c == '\'' {
            quote = Some(c);
        } else if c == '#' || (c == '/' && prev == '/') {
            return out;
        }
        prev = c;
    }
    if let Some(s) = word_start {
        out.push((s, &line[s..]));
    }
    out
}

/// Where a `,` is missing when the word at `at` starts a column (`name:`) right after a complete
/// column (`name: type`, `name: decimal(10, 2)?`): the byte after that column's type.
fn missing_field_comma(text: &str, at: usize) -> Option<usize> {
    let rest = &text[at..];
    let name_len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    if name_len == 0
        || !rest[name_len..].trim_start().starts_with(':')
        || rest[name_len..].trim_start().starts_with("::")
    {
        return None;
    }
    let before = text[..at].trim_end();
    let mut typ = before.strip_suffix('?').unwrap_or(before);
    if let Some(open_params) = typ.strip_suffix(')').and_then(|t| t.rfind('(')) {
        typ = &typ[..open_params];
    }
    let type_start = trailing_run(typ, |c| c.is_ascii_alphanumeric() || c == '_');
    let type_name = &typ[type_start..];
    let colon = typ[..type_start].trim_end().strip_suffix(':')?;
    let name = colon.trim_end();
    let name_start = trailing_run(name, |c| c.is_alphanumeric() || c == '_' || c == '`');
    let ok = type_name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name_start < name.len()
        && matches!(
            name[..name_start].trim_end().chars().last(),
            Some('{' | ',' | '(')
        );
    ok.then_some(before.len())
}

/// True when `pos` starts a token (not the middle of a word or number).
fn at_token_boundary(chunk: &str, pos: usize) -> bool {
    chunk.is_char_boundary(pos)
        && !chunk[..pos]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
}

/// True when the word at `pos` looks like a typo of a keyword the parser wanted there.
fn misspelled_keyword(chunk: &str, pos: usize, err: &Error<Rule>) -> bool {
    let (found, _) = found_at(chunk, pos);
    let word = found.trim_matches('`');
    let ErrorVariant::ParsingError { positives, .. } = &err.variant else {
        return false;
    };
    let mut keywords: Vec<String> = Vec::new();
    for r in positives {
        match describe(*r).as_deref() {
            Some("a pipeline step") => keywords.extend(STEP_KEYWORDS.iter().map(|s| s.to_string())),
            Some("a declaration") => keywords.extend(ITEM_KEYWORDS.iter().map(|s| s.to_string())),
            Some("a pipeline setting") => {
                keywords.extend(SETTING_KEYWORDS.iter().map(|s| s.to_string()))
            }
            Some(d) if d.starts_with('`') => keywords.push(d.trim_matches('`').to_string()),
            _ => {}
        }
    }
    did_you_mean(word, keywords.iter().map(String::as_str)).is_some()
}

fn unescaped_quote(line: &str) -> bool {
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return true,
            _ => escaped = false,
        }
    }
    false
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// Decodes escapes; on failure returns (byte offset, length, message) of the bad escape.
pub(crate) fn unescape(s: &str) -> Result<String, (usize, usize, String)> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else {
            return Err((i, 1, "a lone backslash".into()));
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'u' => {
                let rest = &s[i + 2..];
                let close = rest.find('}');
                let code = rest
                    .strip_prefix('{')
                    .zip(close)
                    .and_then(|(r, c)| u32::from_str_radix(&r[..c - 1], 16).ok())
                    .and_then(char::from_u32);
                match (code, close) {
                    (Some(ch), Some(c)) => {
                        out.push(ch);
                        for _ in 0..c + 1 {
                            chars.next();
                        }
                    }
                    _ => return Err((i, 2, "expected `\\u{XXXX}` with a valid code point".into())),
                }
            }
            other => {
                return Err((
                    i,
                    1 + other.len_utf8(),
                    format!("unknown escape `\\{other}`"),
                ))
            }
        }
    }
    Ok(out)
}

/// True for a real calendar date written `YYYY-MM-DD`.
pub fn valid_date(s: &str) -> bool {
    let parts: Vec<u32> = s.split('-').filter_map(|p| p.parse().ok()).collect();
    let [y, m, d] = parts[..] else { return false };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// True for `HH:MM` or `HH:MM:SS` on a 24-hour clock.
pub fn valid_clock(s: &str) -> bool {
    let parts: Vec<u32> = s.split(':').filter_map(|p| p.parse().ok()).collect();
    match parts[..] {
        [h, m] => h < 24 && m < 60,
        [h, m, sec] => h < 24 && m < 60 && sec < 60,
        _ => false,
    }
}

/// Microseconds in a duration literal such as `5m`; `None` on overflow.
pub fn duration_micros(s: &str) -> Option<i64> {
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = &s[digits.len()..];
    let n: i64 = digits.parse().ok()?;
    let scale: i64 = match unit {
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => 604_800_000_000,
    };
    n.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use pipec_diag::{apply_fixes, Diagnostic, FileId};

    const HEAD: &str = "pipeline p {}\nsource s = csv(\"a.csv\") { id: int, name: string }\n";

    /// The one diagnostic of `HEAD` + `rest`, and the text with its fixes applied.
    fn one(rest: &str) -> (Diagnostic, String) {
        let text = format!("{HEAD}{rest}\n");
        let parsed = crate::parse(FileId::default(), &text);
        assert_eq!(parsed.diagnostics.len(), 1, "{:#?}", parsed.diagnostics);
        let d = parsed.diagnostics[0].clone();
        let fixed = apply_fixes(&text, &d.fixes);
        (d, fixed[HEAD.len()..].trim_end().to_string())
    }

    #[test]
    fn capital_keywords_are_lowercased_on_the_whole_line() {
        let (d, fixed) =
            one("transform t = s | filter id > 1 AND NOT name == \"AND\" OR id IS NULL");
        assert_eq!(d.message, "`AND` is written `and` in pipec");
        assert_eq!(
            fixed,
            "transform t = s | filter id > 1 and not name == \"AND\" or id is null"
        );
        let (d, fixed) = one("transform t = s | filter NOT id");
        assert_eq!(d.message, "`NOT` is written `not` in pipec");
        assert_eq!(fixed, "transform t = s | filter not id");
    }

    #[test]
    fn single_quotes_become_a_string() {
        let (d, fixed) = one("transform t = s | filter name == 'it''s \"x\" \\ y'");
        assert_eq!(d.message, "strings are written in double quotes");
        assert_eq!(
            fixed,
            r#"transform t = s | filter name == "it's \"x\" \\ y""#
        );
        let (d, _) = one("transform t = s | filter name == 'open");
        assert!(d.fixes.is_empty(), "no closing quote, no fix");
    }

    #[test]
    fn single_equals_compares_only_in_expressions() {
        let (d, fixed) = one("transform t = s | filter id = 1");
        assert_eq!(d.message, "`=` does not compare in pipec: equality is `==`");
        assert_eq!(fixed, "transform t = s | filter id == 1");
        let text = "pipeline p {\n  retries = 3\n}\n";
        let parsed = crate::parse(FileId::default(), text);
        assert!(parsed.diagnostics[0].fixes.is_empty());
        assert!(parsed.diagnostics[0]
            .help
            .as_deref()
            .unwrap()
            .contains("without `=`"));
    }

    #[test]
    fn materialized_table_is_mode_replace() {
        let (d, fixed) = one("sink s -> m.t { materialized = \"table\" }");
        assert!(d.message.starts_with("`materialized` is dbt's"));
        assert_eq!(fixed, "sink s -> m.t { mode replace }");
        let (d, _) = one("sink s -> m.t { materialized = \"incremental\" }");
        assert!(d.fixes.is_empty());
        assert!(d.help.unwrap().contains("mode merge on (key)"));
    }

    #[test]
    fn missing_schema_comma_is_inserted() {
        let text =
            "pipeline p {}\nsource s = csv(\"a.csv\") { a: int b: decimal(10, 2)? c: int }\n";
        let parsed = crate::parse(FileId::default(), text);
        let d = &parsed.diagnostics[0];
        assert_eq!(d.message, "missing `,` between columns");
        assert_eq!(
            apply_fixes(text, &d.fixes),
            "pipeline p {}\nsource s = csv(\"a.csv\") { a: int, b: decimal(10, 2)? c: int }\n"
        );
        // A name after a complete expression is not a missing column comma.
        let (d, _) = one("transform t = s | filter id > 1 name: x");
        assert_ne!(d.message, "missing `,` between columns");
    }

    #[test]
    fn habits_in_multibyte_text_do_not_panic() {
        for text in [
            "pipeline p {}\nsource s = csv(\"a\") { 이름: int 나이: int }\n",
            "pipeline p {}\ntransform t = s | filter “x” AND y\n",
            "pipeline p {}\ntransform t = s | filter é = 'ü\n",
        ] {
            let _ = crate::parse(FileId::default(), text);
        }
    }
}
