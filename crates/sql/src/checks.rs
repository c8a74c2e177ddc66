//! Check rules as SQL: one query per rule giving a number `n`, and the condition on `n` under
//! which the rule fails. `pipec run` and every emitter read checks from here.

use pipec_check::ir::Rule;

use crate::{Ctx, Dialect};

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
    /// `(cond) IS TRUE` (or `IS NOT TRUE` when `!holds`); Trino has no `IS TRUE`, so Athena
    /// reads a null as false with `coalesce`.
    fn is_true(&self, cond: &str, holds: bool) -> String {
        match (self.dialect, holds) {
            (Dialect::Athena, true) => format!("coalesce(({cond}), FALSE)"),
            (Dialect::Athena, false) => format!("(NOT coalesce(({cond}), FALSE))"),
            (_, true) => format!("({cond}) IS TRUE"),
            (_, false) => format!("({cond}) IS NOT TRUE"),
        }
    }

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
                "SELECT count(*) AS n FROM {t} WHERE {}",
                self.is_true(&self.expr(expr), false)
            )),
            Rule::Aggregate { expr } => positive(format!(
                "SELECT CASE WHEN {} THEN 0 ELSE 1 END AS n FROM {t}",
                self.is_true(&self.expr(expr), true)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipec_check::ir::{Expr, ExprKind, Type};
    use pipec_syntax::ast::Literal;

    #[test]
    fn athena_reads_a_null_condition_as_false_without_is_true() {
        let cond = Expr {
            kind: ExprKind::Literal(Literal::Bool(true)),
            ty: Type::Bool,
            nullable: true,
        };
        let row = Rule::Row { expr: cond.clone() };
        let agg = Rule::Aggregate { expr: cond };
        let athena = Ctx::vars(Dialect::Athena);
        assert_eq!(
            athena.check(&row, "t").sql,
            "SELECT count(*) AS n FROM t WHERE (NOT coalesce((TRUE), FALSE))"
        );
        assert_eq!(
            athena.check(&agg, "t").sql,
            "SELECT CASE WHEN coalesce((TRUE), FALSE) THEN 0 ELSE 1 END AS n FROM t"
        );
        assert_eq!(
            Ctx::vars(Dialect::DuckDb).check(&row, "t").sql,
            "SELECT count(*) AS n FROM t WHERE (TRUE) IS NOT TRUE"
        );
    }
}
