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
    // A JSON string is a valid Python string literal: the same escapes (`\"`, `\\`, `\n`,
    // `\uXXXX` for control characters), other characters as UTF-8.
    serde_json::to_string(s).expect("a string serializes")
}

fn write(v: &Value, out: &mut String, indent: usize) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&py_str(s)),
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
                out.push_str(&py_str(k));
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
}
