//! Check rules as SQL: one query per rule giving a number `n`, and the condition on `n` under
//! which the rule fails. `pipec run` and every emitter read checks from here.

use pipec_check::ir::Rule;

use crate::Ctx;

/// When a rule's number `n` means failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailsWhen {
    /// `n > 0`: `n` counts offending rows or keys.
    Positive,
    /// `n` outside `[min, max]`: `n` is the row count.
    Outside(Option<i64>, Option<i64>),
}

/// One rule as a query over the checked relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckQuery {
    /// `SELECT ... AS n FROM <table> ...`: one row, one BIGINT column `n`.
    pub sql: String,
    /// When `n` fails the rule.
    pub fails: FailsWhen,
}

impl CheckQuery {
    /// The SQL condition on column `n` that is true when the rule fails.
    pub fn failed_condition(&self) -> String {
        match self.fails {
            FailsWhen::Positive => "n > 0".into(),
            FailsWhen::Outside(min, max) => {
                let mut c: Vec<String> = Vec::new();
                if let Some(m) = min {
                    c.push(format!("n < {m}"));
                }
                if let Some(m) = max {
                    c.push(format!("n > {m}"));
                }
                if c.is_empty() {
                    "FALSE".into()
                } else {
                    c.join(" OR ")
                }
            }
        }
    }

    /// Whether `n` fails the rule.
    pub fn failed(&self, n: i64) -> bool {
        match self.fails {
            FailsWhen::Positive => n > 0,
            FailsWhen::Outside(min, max) => {
                min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m)
            }
        }
    }
}

impl Ctx<'_> {
    /// The query of check `rule` on the (already quoted) table `t`.
    pub fn check(&self, rule: &Rule, t: &str) -> CheckQuery {
        let d = self.dialect;
        let cols = |cs: &[String]| cs.iter().map(|c| d.ident(c)).collect::<Vec<_>>().join(", ");
        let positive = |sql: String| CheckQuery {
            sql,
            fails: FailsWhen::Positive,
        };
        match rule {
            Rule::NotNull { columns } => {
                let cond = columns
                    .iter()
                    .map(|c| format!("{} IS NULL", d.ident(c)))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                positive(format!("SELECT count(*) AS n FROM {t} WHERE {cond}"))
            }
            Rule::Unique { columns } => positive(format!(
                "SELECT count(*) AS n FROM (SELECT {0} FROM {t} GROUP BY {0} HAVING count(*) > 1) AS dup",
                cols(columns)
            )),
            Rule::AcceptedValues { column, values } => {
                let list = values
                    .iter()
                    .map(|v| d.literal(v))
                    .collect::<Vec<_>>()
                    .join(", ");
                positive(format!(
                    "SELECT count(*) AS n FROM {t} WHERE {0} IS NOT NULL AND {0} NOT IN ({list})",
                    d.ident(column)
                ))
            }
            Rule::InRange { column, min, max } => {
                let mut conds = Vec::new();
                if let Some(m) = min {
                    conds.push(format!("{} < {}", d.ident(column), self.expr(m)));
                }
                if let Some(m) = max {
                    conds.push(format!("{} > {}", d.ident(column), self.expr(m)));
                }
                if conds.is_empty() {
                    conds.push("FALSE".into());
                }
                positive(format!(
                    "SELECT count(*) AS n FROM {t} WHERE {}",
                    conds.join(" OR ")
                ))
            }
            Rule::RowCount { min, max } => CheckQuery {
                sql: format!("SELECT count(*) AS n FROM {t}"),
                fails: FailsWhen::Outside(*min, *max),
            },
            Rule::Row { expr } => positive(format!(
                "SELECT count(*) AS n FROM {t} WHERE ({}) IS NOT TRUE",
                self.expr(expr)
            )),
            Rule::Aggregate { expr } => positive(format!(
                "SELECT CASE WHEN ({}) IS TRUE THEN 0 ELSE 1 END AS n FROM {t}",
                self.expr(expr)
            )),
        }
    }
}
