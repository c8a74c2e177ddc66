//! Secrets: read from environment variables at run time, never printed.

use std::collections::BTreeMap;
use std::sync::Mutex;

use pipec_check::ir::Value;
use pipec_diag::{codes, Span};

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

    /// `text` with every resolved secret value replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in self.seen.lock().expect("secrets lock").values() {
            if v.len() >= 3 {
                out = out.replace(v.as_str(), "***");
            }
        }
        out
    }
}
