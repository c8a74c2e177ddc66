//! Names in a Spark SQL job: the views relations are cached as, names Spark cannot take
//! (`E0603`), and text safe in comments and folder names.

use std::collections::BTreeMap;

use pipec_check::ir::{Pipeline, RelationKind, SinkTarget};
use pipec_diag::{codes, Diagnostic};

use crate::D;

/// The view each relation of a pipeline is cached as: its own name when Spark's catalog takes
/// it (ASCII letters, digits and `_`), else `_pipec_rel_<n>`.
pub(crate) struct Names {
    views: BTreeMap<String, String>,
}

impl Names {
    /// The views of `p`'s relations.
    pub(crate) fn of(p: &Pipeline) -> Self {
        let views = p
            .relations
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let plain = !r.name.is_empty()
                    && r.name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !r.name.to_ascii_lowercase().starts_with("_pipec");
                let view = if plain {
                    D.ident(&r.name)
                } else {
                    format!("`_pipec_rel_{i}`")
                };
                (r.name.clone(), view)
            })
            .collect();
        Names { views }
    }

    /// The quoted view of relation `name`.
    pub(crate) fn view(&self, name: &str) -> String {
        self.views
            .get(name)
            .cloned()
            .unwrap_or_else(|| D.ident(name))
    }
}

/// `E0603` for names a Spark SQL job cannot hold: a column name containing `${` (spark-sql
/// substitutes variables in the job's text before parsing it, inside quoted names too), and a
/// table or schema name that is not a folder name (`/`, `:`, `.`, `..`, empty).
pub(crate) fn problems(p: &Pipeline) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for r in &p.relations {
        let mut seen: Vec<&str> = Vec::new();
        let steps = match &r.kind {
            RelationKind::Transform(t) => t.steps.as_slice(),
            RelationKind::Source(_) => &[],
        };
        let names = r
            .schema
            .names()
            .chain(steps.iter().flat_map(|s| s.schema.names()));
        for n in names {
            if n.contains("${") && !seen.contains(&n) {
                seen.push(n);
                out.push(
                    Diagnostic::error(
                        codes::NAME_UNSUPPORTED,
                        r.span,
                        format!(
                            "the column `{n}` of `{}` cannot be written in a Spark SQL job",
                            r.name
                        ),
                        "has a column whose name holds `${`",
                    )
                    .with_help(
                        "spark-sql replaces `${name}` with its variables everywhere in a job's text, quoted names included; rename the column (e.g. in a `select`) or emit for another target",
                    ),
                );
            }
        }
    }
    for s in &p.sinks {
        if let SinkTarget::Table { schema, table } = &s.target {
            for part in [schema, table] {
                let bad = part.is_empty()
                    || part == "."
                    || part == ".."
                    || part.contains(['/', ':', '\\'])
                    || part.contains("${");
                if bad {
                    out.push(
                        Diagnostic::error(
                            codes::NAME_UNSUPPORTED,
                            s.span,
                            format!(
                                "the table `{schema}.{table}` cannot be written by a Spark SQL job"
                            ),
                            "its name is not a folder name",
                        )
                        .with_help(
                            "Spark stores a table in the folder <warehouse>/<schema>/<table>/: a schema or table name for Spark holds no `/`, `\\`, `:` or `${` and is not `.` or `..`",
                        ),
                    );
                    break;
                }
            }
        }
    }
    out
}

/// `text` on one line, safe inside a `--` comment.
pub(crate) fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A folder name for `name`: ASCII letters, digits, `_` and `-` kept, other bytes as `_XX` (hex).
pub(crate) fn folder(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else {
            for b in c.to_string().bytes() {
                out.push_str(&format!("_{b:02X}"));
            }
        }
    }
    out
}
