//! A small YAML writer for CloudFormation templates: block style, every string double-quoted
//! with escapes (so no user text is ever read as a number, a boolean, a tag or a comment), keys
//! plain only when they are plain identifiers. Key order: the usual template order for the
//! well-known keys (`AWSTemplateFormatVersion`, `Transform`, ..., `Type` before `Properties`),
//! the rest sorted, so the bytes are deterministic.

use serde_json::Value;

/// Keys written first, in this order, in every mapping that has them.
const FIRST: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Transform",
    "Description",
    "Parameters",
    "Conditions",
    "Resources",
    "Outputs",
    "Type",
    "Condition",
    "DependsOn",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "Properties",
    "Comment",
    "StartAt",
    "TimeoutSeconds",
    "States",
];

/// `value` as a YAML document (a mapping at the top), ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

/// The keys of `m` in output order.
fn ordered(m: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut items: Vec<(&String, &Value)> = m.iter().collect();
    items.sort_by_key(|(k, _)| {
        (
            FIRST.iter().position(|f| f == k).unwrap_or(FIRST.len()),
            k.as_str(),
        )
    });
    items
}

/// Writes the entries of a non-empty mapping, each line indented by `indent` spaces.
fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize) {
    for (i, (k, v)) in ordered(m).into_iter().enumerate() {
        // The first key of a mapping inside a sequence item follows its `- ` (written by the caller).
        if i > 0 || !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&key(k));
        out.push(':');
        write_value(out, v, indent);
    }
}

/// Writes a value after `key:` (a space and a scalar, or a nested block on the next lines).
fn write_value(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, indent + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// Writes the items of a non-empty sequence at `indent`.
fn write_seq(out: &mut String, a: &[Value], indent: usize) {
    for v in a {
        out.push_str(&" ".repeat(indent));
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push_str("- ");
                write_map(out, m, indent + 2);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push_str("-\n");
                write_seq(out, inner, indent + 2);
            }
            other => {
                out.push_str("- ");
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

/// A scalar (or an empty collection) in flow form.
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A mapping key: plain when it is an identifier YAML cannot read as anything but a string,
/// else quoted.
fn key(k: &str) -> String {
    const RESERVED: &[&str] = &[
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    ];
    let plain = k.starts_with(|c: char| c.is_ascii_alphabetic())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':'))
        && !k.ends_with(':')
        && !RESERVED.contains(&k.to_ascii_lowercase().as_str());
    if plain {
        k.to_string()
    } else {
        quote(k)
    }
}

/// A double-quoted YAML string: `"` and `\` escaped, control characters, line and paragraph
/// separators, NEL, BOM and non-characters as `\uXXXX` escapes; all other text as it is.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20
                || (0x7f..=0x9f).contains(&(c as u32))
                || matches!(c as u32, 0x2028 | 0x2029 | 0xfeff | 0xfffe | 0xffff) =>
            {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_quoting_and_order() {
        let v = json!({
            "Resources": {"B": {"Properties": {"Tags": [{"Key": "k", "Value": "yes"}], "N": 3, "E": []}, "Type": "AWS::S3::Bucket"}},
            "AWSTemplateFormatVersion": "2010-09-09",
            "on": [["a"], {}],
            "x y": "line\none \"q\" \\ # not a comment: {{ }} ${ds}\u{2028}",
        });
        let y = to_yaml(&v);
        assert_eq!(
            y,
            concat!(
                "AWSTemplateFormatVersion: \"2010-09-09\"\n",
                "Resources:\n",
                "  B:\n",
                "    Type: \"AWS::S3::Bucket\"\n",
                "    Properties:\n",
                "      E: []\n",
                // `N` is a boolean in YAML 1.1.
                "      \"N\": 3\n",
                "      Tags:\n",
                "        - Key: \"k\"\n",
                "          Value: \"yes\"\n",
                "\"on\":\n",
                "  -\n",
                "    - \"a\"\n",
                "  - {}\n",
                "\"x y\": \"line\\none \\\"q\\\" \\\\ # not a comment: {{ }} ${ds}\\u2028\"\n",
            )
        );
    }
}
