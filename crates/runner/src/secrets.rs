//! Secrets: read from environment variables at run time, never printed.

use std::collections::BTreeMap;
use std::sync::Mutex;

use pipec_check::ir::Value;
use pipec_diag::{codes, Diagnostic, Span};

use crate::RunError;

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Resolves secrets by name and redacts every resolved value from text.
#[derive(Default)]
pub struct Secrets {
    lookup: Option<Lookup>,
    seen: Mutex<BTreeMap<String, String>>,
}

impl Secrets {
    /// Secrets from the process environment (`NAME` is read from `$NAME`).
    pub fn from_env() -> Self {
        Secrets {
            lookup: Some(Box::new(|n| std::env::var(n).ok())),
            seen: Mutex::default(),
        }
    }

    /// Secrets from a function (tests).
    pub fn from_fn(f: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Secrets {
            lookup: Some(Box::new(f)),
            seen: Mutex::default(),
        }
    }

    /// The value of secret `name`, remembered for redaction.
    pub fn get(&self, name: &str, span: Span) -> Result<String, RunError> {
        let value = self
            .lookup
            .as_ref()
            .and_then(|f| f(name))
            .filter(|v| !v.is_empty());
        match value {
            Some(v) => {
                self.seen
                    .lock()
                    .expect("secrets lock")
                    .insert(name.to_string(), v.clone());
                Ok(v)
            }
            None => Err(RunError::new(
                codes::MISSING_SECRET,
                span,
                format!("secret `{name}` is not set"),
                "needs this secret",
                format!("set the environment variable {name} before running"),
            )),
        }
    }

    /// A string option or the value of a secret.
    pub fn value(&self, v: &Value, span: Span) -> Result<String, RunError> {
        match v {
            Value::Secret(name) => self.get(name, span),
            Value::Str(s) => Ok(s.clone()),
            other => Ok(format!("{other:?}")),
        }
    }

    /// `text` with every resolved secret value replaced by `***`, in whatever rendering it
    /// appears: raw, Rust-Debug- or JSON-escaped (also twice, as an escaped JSON text is),
    /// percent-encoded (`%20` or `+`, either hex case), HTML-escaped, or any mix of these.
    pub fn redact(&self, text: &str) -> String {
        let mut values: Vec<String> = self
            .seen
            .lock()
            .expect("secrets lock")
            .values()
            .filter(|v| v.chars().count() >= 3)
            .cloned()
            .collect();
        // A secret containing another is replaced first.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        let mut out = text.to_string();
        for v in values {
            out = redact_one(&out, &v);
        }
        out
    }

    /// Redacts the message, labels and help of `d` (see [`Secrets::redact`]).
    pub fn redact_diagnostic(&self, d: &mut Diagnostic) {
        d.message = self.redact(&d.message);
        for l in &mut d.labels {
            l.message = self.redact(&l.message);
        }
        if let Some(h) = &mut d.help {
            *h = self.redact(h);
        }
    }
}

/// `text` with every occurrence of `secret`, each character in any of its [`renderings`],
/// replaced by `***`.
fn redact_one(text: &str, secret: &str) -> String {
    let alternatives: Vec<Vec<String>> = secret.chars().map(renderings).collect();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while at < text.len() {
        // The ends reachable from `at` after matching the secret's first characters.
        let mut ends = vec![at];
        for alts in &alternatives {
            let mut next: Vec<usize> = Vec::new();
            for &e in &ends {
                for a in alts {
                    if text[e..].starts_with(a.as_str()) && !next.contains(&(e + a.len())) {
                        next.push(e + a.len());
                    }
                }
            }
            ends = next;
            if ends.is_empty() {
                break;
            }
        }
        match ends.iter().max() {
            Some(&end) => {
                out.push_str("***");
                at = end;
            }
            None => {
                let c = text[at..].chars().next().expect("at a char boundary");
                out.push(c);
                at += c.len_utf8();
            }
        }
    }
    out
}

/// The ways one escaping scheme writes a character.
#[derive(Clone, Copy)]
enum Scheme {
    /// Rust's `{:?}` of a string.
    Debug,
    /// JSON string escapes (`\"`, `\/`, `\u00XX`).
    Json,
    /// Percent-encoding with upper-case hex.
    Url,
}

const SCHEMES: [Scheme; 3] = [Scheme::Debug, Scheme::Json, Scheme::Url];

/// Writes `s` in `scheme`'s canonical form.
fn escape(s: &str, scheme: Scheme) -> String {
    match scheme {
        Scheme::Debug => {
            let d = format!("{s:?}");
            d[1..d.len() - 1].to_string()
        }
        Scheme::Json => {
            let j = serde_json::to_string(s).expect("a string is JSON");
            j[1..j.len() - 1].to_string()
        }
        Scheme::Url => s
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect(),
    }
}

/// Every way character `c` of a secret may be written in text that echoes it: itself, escaped
/// once by any scheme (in any of its forms), or an escaped form escaped again.
fn renderings(c: char) -> Vec<String> {
    fn add(list: &mut Vec<String>, s: String) {
        if !list.contains(&s) {
            list.push(s);
        }
    }
    let mut once: Vec<String> = vec![c.to_string()];
    let raw = c.to_string();
    for scheme in SCHEMES {
        add(&mut once, escape(&raw, scheme));
    }
    let mut utf16 = [0u16; 2];
    let units = c.encode_utf16(&mut utf16);
    let upper: String = units.iter().map(|u| format!("\\u{u:04X}")).collect();
    add(&mut once, upper.clone());
    add(&mut once, upper.to_lowercase());
    let json_short = match c {
        '/' => Some("\\/"),
        '\u{8}' => Some("\\b"),
        '\u{c}' => Some("\\f"),
        '\'' => Some("\\'"),
        _ => None,
    };
    if let Some(s) = json_short {
        add(&mut once, s.to_string());
    }
    add(&mut once, format!("\\u{{{:x}}}", c as u32));
    let url = escape(&raw, Scheme::Url);
    add(&mut once, url.to_lowercase());
    if c == ' ' {
        add(&mut once, "+".to_string());
    }
    let html = match c {
        '"' => Some("&quot;"),
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        _ => None,
    };
    if let Some(h) = html {
        add(&mut once, h.to_string());
    }
    add(&mut once, format!("&#{};", c as u32));
    add(&mut once, format!("&#x{:x};", c as u32));
    let mut all = once.clone();
    for s in once.iter().filter(|s| **s != raw) {
        for scheme in SCHEMES {
            add(&mut all, escape(s, scheme));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(secret: &'static str) -> Secrets {
        let s = Secrets::from_fn(move |_| Some(secret.to_string()));
        s.get("S", Span::default()).unwrap();
        s
    }

    #[test]
    fn every_rendering_of_a_secret_is_redacted() {
        let secret = "odd\"\\tok &%2F+x/é";
        let s = with(secret);
        let debug = format!("{secret:?}");
        let json = serde_json::to_string(secret).unwrap();
        let debug_json = format!("{json:?}");
        let ascii_json = "odd\\u0022\\u005ctok\\u0020\\u0026%2F+x\\/\\u00e9";
        let renderings = [
            secret.to_string(),
            debug.clone(),
            json.clone(),
            debug_json,
            escape(secret, Scheme::Url),
            escape(secret, Scheme::Url).to_lowercase(),
            escape(secret, Scheme::Url).replace("%20", "+"),
            ascii_json.to_string(),
            "odd&quot;\\tok &amp;%2F+x/é".to_string(),
        ];
        for r in renderings {
            let text = format!("before {r} after");
            let red = s.redact(&text);
            assert!(!red.contains("odd") && !red.contains("tok"), "{r} -> {red}");
            assert!(
                red.starts_with("before ") && red.ends_with(" after"),
                "{red}"
            );
        }
        assert_eq!(s.redact("odd\"\\to"), "odd\"\\to", "a part is no match");
        assert_eq!(s.redact("Bearer odd\"\\tok &%2F+x/é."), "Bearer ***.");
    }

    #[test]
    fn diagnostics_are_redacted_everywhere() {
        let s = with("abc\"def");
        let mut d = Diagnostic::error(
            codes::BAD_ROW,
            Span::default(),
            "m abc\\\"def",
            "l abc\"def",
        )
        .with_help("h abc%22def");
        s.redact_diagnostic(&mut d);
        assert_eq!(d.message, "m ***");
        assert_eq!(d.labels[0].message, "l ***");
        assert_eq!(d.help.as_deref(), Some("h ***"));
    }
}
