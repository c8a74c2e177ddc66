//! Signatures and meanings of the builtin functions, read from the function tables of
//! `docs/language.md` (embedded), so that hover and completion say what the language reference says.

use pipec_check::ir::{Builtin, FnKind};

const LANGUAGE: &str = include_str!("../../../docs/language.md");

/// One builtin as documented.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDoc {
    /// Its name.
    pub name: &'static str,
    /// Every documented call form, e.g. `substr(s, start [, len])`.
    pub signatures: Vec<String>,
    /// The table's result column for it.
    pub result: String,
    /// Scalar, aggregate or window.
    pub kind: FnKind,
}

/// The documentation of builtin `name`.
pub fn doc(name: &str) -> Option<FunctionDoc> {
    let b = Builtin::from_name(name)?;
    let mut out = FunctionDoc {
        name: b.name(),
        signatures: Vec::new(),
        result: String::new(),
        kind: b.kind(),
    };
    for (sigs, result) in rows() {
        for sig in sigs {
            if sig.split('(').next() == Some(name) {
                out.signatures.push(sig.to_string());
                if !out.result.is_empty() {
                    out.result.push_str("; ");
                }
                out.result.push_str(&format!("`{sig}`: {result}"));
            }
        }
    }
    if out.signatures.is_empty() {
        return None;
    }
    if out.signatures.len() == 1 {
        out.result = out
            .result
            .split_once(": ")
            .map_or(out.result.clone(), |(_, r)| r.to_string());
    }
    Some(out)
}

/// Rows of the function tables in the "Functions" section: the call forms of the first column and
/// the result column.
fn rows() -> impl Iterator<Item = (Vec<&'static str>, &'static str)> {
    let section = LANGUAGE
        .split_once("### Functions")
        .map_or("", |(_, rest)| rest);
    let section = section.split("\n## ").next().unwrap_or("");
    section.lines().filter_map(|line| {
        let line = line.strip_prefix("| `")?;
        let (first, rest) = line.split_once(" | ")?;
        let result = rest.trim_end_matches('|').trim();
        let sigs: Vec<&'static str> = first
            .split('`')
            .filter(|s| s.contains('(') && s.ends_with(')'))
            .collect();
        Some((sigs, result))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_documented_with_a_signature() {
        let missing: Vec<&str> = Builtin::ALL
            .iter()
            .map(|b| b.name())
            .filter(|n| doc(n).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "no row in docs/language.md: {missing:?}"
        );
        let substr = doc("substr").unwrap();
        assert_eq!(substr.signatures, ["substr(s, start [, len])"]);
        assert_eq!(substr.result, "`string`, 1-based `start`");
        assert_eq!(doc("count").unwrap().signatures.len(), 3);
        assert_eq!(doc("secret"), None);
    }
}
