//! The one JSON shape of every `--format json` output (docs/json.md): an object whose first keys
//! are `version` ([`VERSION`]), `command` and `diagnostics`, then the command's payload.
//! Commands that stream print one such object per line (NDJSON) with an `event` key.
//!
//! Keys keep the order they are written in (the payload's structs' field order), which
//! `serde_json::Value` would sort: the document is assembled from JSON texts.

use pipec_diag::{Diagnostic, Severity, SourceMap, Span};
use serde::Serialize;

/// The version of every JSON document pipec prints. It changes only when a key is removed or
/// renamed or its type or meaning changes; new keys keep it.
pub const VERSION: u32 = 1;

/// One JSON document of `command`, built key by key and printed in that order.
pub struct Doc {
    command: &'static str,
    /// The diagnostics array, as compact JSON text.
    diagnostics: String,
    /// Payload keys and their values as compact JSON text.
    fields: Vec<(String, String)>,
}

impl Doc {
    /// A document of `command` with no diagnostics and no payload yet.
    pub fn new(command: &'static str) -> Doc {
        Doc {
            command,
            diagnostics: "[]".into(),
            fields: Vec::new(),
        }
    }

    /// A document of `command` carrying only `diags`: what a command stopped by errors prints.
    pub fn failed(command: &'static str, diags: &[Diagnostic], sources: &SourceMap) -> Doc {
        Doc::new(command).diagnostics(diags, sources)
    }

    /// Sets the diagnostics (as `pipec_diag::render_json` writes them, fixes included).
    pub fn diagnostics(mut self, diags: &[Diagnostic], sources: &SourceMap) -> Doc {
        self.diagnostics = diagnostics(diags, sources);
        self
    }

    /// Adds the payload key `key` (replacing its value when it is there already).
    pub fn field(self, key: &str, value: impl Serialize) -> Doc {
        let text = serde_json::to_string(&value).unwrap_or_else(|_| "null".into());
        self.raw(key, text)
    }

    /// Adds every key of `object` (anything serializing to a JSON object) but `version`.
    pub fn fields(self, object: impl Serialize) -> Doc {
        let text = serde_json::to_string(&object).unwrap_or_default();
        self.fields_text(&text)
    }

    /// Adds every key of the JSON object `text` but `version`, in its order.
    pub fn fields_text(mut self, text: &str) -> Doc {
        for (k, v) in members(text) {
            if k != "version" {
                self = self.raw(&k, v);
            }
        }
        self
    }

    fn raw(mut self, key: &str, text: String) -> Doc {
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = text,
            None => self.fields.push((key.to_string(), text)),
        }
        self
    }

    /// The document as one line of compact JSON.
    pub fn compact(&self) -> String {
        let quote = |s: &str| serde_json::to_string(s).expect("a string serializes");
        let mut out = format!(
            "{{\"version\":{VERSION},\"command\":{},\"diagnostics\":{}",
            quote(self.command),
            self.diagnostics
        );
        for (k, v) in &self.fields {
            out.push(',');
            out.push_str(&quote(k));
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
        out
    }

    /// Prints the document on stdout, indented as `serde_json::to_string_pretty` does.
    pub fn print(&self) {
        println!("{}", pretty(&self.compact()));
    }

    /// Prints the document on stdout as one line (a line of an NDJSON stream).
    pub fn print_line(&self) {
        println!("{}", self.compact());
    }
}

/// A diagnostic without a place in a file (a run's or a warehouse's error), in the shape of
/// `pipec_diag::render_json` with the place null.
#[derive(Serialize)]
struct Unplaced<'a> {
    code: &'a str,
    severity: Severity,
    message: &'a str,
    file: Option<&'a str>,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
    labels: [(); 0],
    help: Option<&'a str>,
    fixes: [(); 0],
    docs: String,
}

/// `diags` as `pipec_diag::render_json` writes them (fixes included), as compact JSON text; one
/// without a place in a file has `file`, `line` and `column` null.
pub fn diagnostics(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let one = |d: &Diagnostic| -> String {
        if d.span() == Span::default() {
            let u = Unplaced {
                code: d.code.id,
                severity: d.severity,
                message: &d.message,
                file: None,
                line: None,
                column: None,
                end_line: None,
                end_column: None,
                labels: [],
                help: d.help.as_deref(),
                fixes: [],
                docs: format!("docs/errors/{}.md", d.code.id),
            };
            return serde_json::to_string(&u).expect("a diagnostic serializes");
        }
        let text = pipec_diag::render_json(std::slice::from_ref(d), sources);
        let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
        minify(inner)
    };
    format!("[{}]", diags.iter().map(one).collect::<Vec<_>>().join(","))
}

/// The number of errors and of warnings in `diags`.
pub fn counts(diags: &[Diagnostic]) -> (usize, usize) {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    (errors, diags.len() - errors)
}

/// Scans JSON text, calling `f` with each character outside strings (and `None` for string
/// characters, which are copied as they are).
fn scan(text: &str, mut f: impl FnMut(char, bool)) {
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            f(c, true);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else {
            if c == '"' {
                in_string = true;
                f(c, true);
                continue;
            }
            f(c, false);
        }
    }
}

/// JSON text without whitespace outside strings.
fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    scan(text, |c, string| {
        if string || !c.is_whitespace() {
            out.push(c);
        }
    });
    out
}

/// The members of the JSON object `text`: each key with its value as compact JSON text.
fn members(text: &str) -> Vec<(String, String)> {
    let text = minify(text);
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 1usize);
    let mut at = 0usize;
    scan(&text, |c, string| {
        if !string {
            match c {
                '{' | '[' => depth += 1,
                '}' | ']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 && at > start {
                        parts.push(text[start..at].to_string());
                    }
                }
                ',' if depth == 1 => {
                    parts.push(text[start..at].to_string());
                    start = at + 1;
                }
                _ => {}
            }
        }
        at += c.len_utf8();
    });
    parts
        .into_iter()
        .filter_map(|m| {
            let mut key = serde_json::Deserializer::from_str(&m).into_iter::<String>();
            let name = key.next()?.ok()?;
            let value = m.get(key.byte_offset()..)?.strip_prefix(':')?;
            let key = name;
            Some((key, value.to_string()))
        })
        .collect()
}

/// Compact JSON text indented as `serde_json::to_string_pretty` indents.
fn pretty(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut chars = compact.chars().peekable();
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_command_and_diagnostics_come_first_then_the_payload_in_order() {
        let doc = Doc::new("demo")
            .field("zeta", 1)
            .fields_text("{\"version\": 7, \"b\": {\"y\": \"a,\\\"}\", \"x\": []}, \"a\": [true]}")
            .field("zeta", 2);
        assert_eq!(
            doc.compact(),
            r#"{"version":1,"command":"demo","diagnostics":[],"zeta":2,"b":{"y":"a,\"}","x":[]},"a":[true]}"#
        );
    }

    #[test]
    fn pretty_indents_as_serde_json_does() {
        let value = serde_json::json!({"a": [1, {"b": "x:,{"}], "c": {}, "d": [], "e": null});
        let compact = serde_json::to_string(&value).unwrap();
        assert_eq!(
            pretty(&compact),
            serde_json::to_string_pretty(&value).unwrap()
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&pretty(&compact)).unwrap(),
            value
        );
    }
}
