//! Python literals: every value that reaches a DAG file (SQL, names, paths, user text) is written
//! as a Python literal here, never through a template engine, so `{{ }}`, `${}` and `%` in user
//! text stay inert.

use serde_json::Value;

/// `v` as a Python literal (`None`, `True`, numbers, `"..."`, lists, dicts with sorted keys).
pub fn py(v: &Value) -> String {
    let mut out = String::new();
    write(v, &mut out, 0);
    out
}

/// A Python string literal holding exactly `s`.
pub fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_str_lit(&mut out, s);
    out
}

/// Appends the Python string literal of `s` to `out`: the literal JSON writes (`serde_json`),
/// which Python reads the same (`\"`, `\\`, `\n`, `\t`, `\r`, `\b`, `\f`, `\u00xx` for other
/// control characters), other characters as UTF-8.
pub(crate) fn push_str_lit(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.push_str(&s[start..i]);
        start = i + 1;
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn write(v: &Value, out: &mut String, indent: usize) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => push_str_lit(out, s),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push_str("[\n");
            for item in items {
                pad(out, indent + 1);
                write(item, out, indent + 1);
                out.push_str(",\n");
            }
            pad(out, indent);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            out.push_str("{\n");
            for (k, item) in map {
                pad(out, indent + 1);
                push_str_lit(out, k);
                out.push_str(": ");
                write(item, out, indent + 1);
                out.push_str(",\n");
            }
            pad(out, indent);
            out.push('}');
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("    ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_templates_stay_text() {
        assert_eq!(
            py_str("a\"b\\c\n{{ ds }} ${x} %s \u{1}ds\u{1} 한국"),
            "\"a\\\"b\\\\c\\n{{ ds }} ${x} %s \\u0001ds\\u0001 한국\""
        );
        let v = serde_json::json!({"b": [1, true, null], "a": "x"});
        assert_eq!(
            py(&v),
            "{\n    \"a\": \"x\",\n    \"b\": [\n        1,\n        True,\n        None,\n    ],\n}"
        );
    }

    #[test]
    fn string_literals_are_what_json_writes() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é 한국 \u{2028} \u{7f}\u{80} 🦀");
        for s in [all.as_str(), "", "plain", "\"", "\\\\", "end\u{1}"] {
            assert_eq!(py_str(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
        // Each escaped byte at many offsets.
        for c in ['"', '\\', '\n', '\u{1f}', '\u{0}'] {
            for k in 0..20 {
                let s = format!("{}{c}{}é", "x".repeat(k), "y".repeat(20 - k));
                assert_eq!(py_str(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
            }
        }
    }
}
