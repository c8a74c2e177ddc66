//! What a sink's write means (docs/language.md section 11), computed once from the IR and
//! rendered for any dialect: which rows of the table a run replaces, which rows it adds, and
//! the conditions that stop a publish. The DuckDB runner and every emitter read it from here.

use pipec_check::ir::{Column, Schema, Sink, SinkMode, Type};

use crate::checks::{CheckQuery, FailsWhen};
use crate::Ctx;
use pipec_check::ir::RunParam;

/// The hidden column of an unpartitioned `append` table: the start (UTC) of the interval that
/// wrote the row, so that a re-run of the interval replaces its rows instead of adding them twice.
pub const INTERVAL_COLUMN: &str = "_pipec_interval";

/// The rows of the target table one run replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaces {
    /// Every row (`replace` without `partition by`).
    All,
    /// The rows of the run's partition (`replace`/`append` with `partition by`).
    Partition,
    /// The rows the same interval wrote before (`append` without `partition by`).
    Interval,
    /// Rows whose keys match a new row (`merge`), within the run's partition when partitioned.
    Keys(Vec<String>),
    /// None (`incremental`: only rows newer than the watermark are added).
    Nothing,
}

/// One sink's write, engine-neutral.
#[derive(Debug, Clone)]
pub struct SinkPlan<'a> {
    /// The sink.
    pub sink: &'a Sink,
    /// The relation's columns, as written.
    pub columns: Vec<Column>,
    /// Whether the table carries [`INTERVAL_COLUMN`] after the relation's columns.
    pub interval_column: bool,
    /// The partition column a run owns (its value is the run's `@ds`), if any.
    pub partition: Option<String>,
    /// The rows a run replaces.
    pub replaces: Replaces,
    /// The watermark column of an `incremental` sink: only rows above the table's largest
    /// value are added.
    pub watermark: Option<String>,
}

impl<'a> SinkPlan<'a> {
    /// The write of `sink`, whose relation has `schema`.
    pub fn of(sink: &'a Sink, schema: &Schema) -> Self {
        let partition = match sink.mode {
            SinkMode::Incremental { .. } => None,
            _ => sink.partition_by.clone(),
        };
        let (replaces, interval_column, watermark) = match (&sink.mode, &partition) {
            (SinkMode::Replace, None) => (Replaces::All, false, None),
            (SinkMode::Replace | SinkMode::Append, Some(_)) => (Replaces::Partition, false, None),
            (SinkMode::Append, None) => (Replaces::Interval, true, None),
            (SinkMode::Merge { keys }, _) => (Replaces::Keys(keys.clone()), false, None),
            (SinkMode::Incremental { column }, _) => {
                (Replaces::Nothing, false, Some(column.clone()))
            }
        };
        SinkPlan {
            sink,
            columns: schema.columns.clone(),
            interval_column,
            partition,
            replaces,
            watermark,
        }
    }

    /// The table's columns: the relation's, then [`INTERVAL_COLUMN`] when it has one.
    pub fn table_columns(&self) -> Vec<Column> {
        let mut cols = self.columns.clone();
        if self.interval_column {
            cols.push(Column {
                name: INTERVAL_COLUMN.into(),
                ty: Type::Timestamp,
                nullable: false,
            });
        }
        cols
    }

    /// The condition, over rows of the target referred to as `target` (a quoted name or alias),
    /// that a row is replaced by this run; `None` when no row is.
    pub fn replaced(&self, ctx: &Ctx, staged: &str, target: &str) -> Option<String> {
        let d = ctx.dialect;
        let part = self
            .partition
            .as_ref()
            .map(|p| format!("{target}.{} = {}", d.ident(p), ctx.param(RunParam::Ds)));
        match &self.replaces {
            Replaces::All => Some("TRUE".into()),
            Replaces::Partition => part,
            Replaces::Interval => Some(format!(
                "{target}.{} = {}",
                d.ident(INTERVAL_COLUMN),
                ctx.param(RunParam::Start)
            )),
            Replaces::Keys(keys) => {
                let on = keys
                    .iter()
                    .map(|k| format!("{target}.{0} IS NOT DISTINCT FROM s.{0}", d.ident(k)))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let exists = format!("EXISTS (SELECT 1 FROM {staged} AS s WHERE {on})");
                Some(match part {
                    Some(p) => format!("{p} AND {exists}"),
                    None => exists,
                })
            }
            Replaces::Nothing => None,
        }
    }

    /// The new rows, in [`Self::table_columns`] order, from the staged relation `staged`;
    /// `target` is the table (read for an incremental sink's watermark).
    pub fn new_rows(&self, ctx: &Ctx, staged: &str, target: &str) -> String {
        let d = ctx.dialect;
        let mut cols: Vec<String> = self.columns.iter().map(|c| d.ident(&c.name)).collect();
        if self.interval_column {
            cols.push(format!(
                "{} AS {}",
                ctx.param(RunParam::Start),
                d.ident(INTERVAL_COLUMN)
            ));
        }
        let filter = match &self.watermark {
            Some(w) => {
                let w = d.ident(w);
                format!(
                    " WHERE (SELECT max({w}) FROM {target}) IS NULL OR {w} > (SELECT max({w}) FROM {target})"
                )
            }
            None => String::new(),
        };
        format!("SELECT {} FROM {staged}{filter}", cols.join(", "))
    }

    /// The old rows a run keeps, in [`Self::table_columns`] order: for engines that rewrite a
    /// table (or, when partitioned, its partition) instead of deleting from it. With a
    /// partition, only the partition's kept rows.
    pub fn kept_rows(&self, ctx: &Ctx, staged: &str, target: &str) -> String {
        let d = ctx.dialect;
        let cols: Vec<String> = self
            .table_columns()
            .iter()
            .map(|c| format!("t.{}", d.ident(&c.name)))
            .collect();
        let mut conds: Vec<String> = Vec::new();
        if let Some(p) = &self.partition {
            conds.push(format!("t.{} = {}", d.ident(p), ctx.param(RunParam::Ds)));
        }
        match (&self.replaces, self.replaced(ctx, staged, "t")) {
            (Replaces::Partition, _) => conds.push("FALSE".into()),
            (_, Some(r)) => conds.push(format!("NOT ({r})")),
            (_, None) => {}
        }
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        format!("SELECT {} FROM {target} AS t{filter}", cols.join(", "))
    }

    /// Statements for engines with transactional `DELETE` (DuckDB, PostgreSQL): delete the
    /// replaced rows, insert the new ones. Run them inside the publish transaction.
    pub fn delete_insert(&self, ctx: &Ctx, staged: &str, target: &str) -> Vec<String> {
        let d = ctx.dialect;
        let mut out = Vec::new();
        if let Some(r) = self.replaced(ctx, staged, target) {
            out.push(format!("DELETE FROM {target} WHERE {r}"));
        }
        let cols: Vec<String> = self
            .table_columns()
            .iter()
            .map(|c| d.ident(&c.name))
            .collect();
        out.push(format!(
            "INSERT INTO {target} ({}) {}",
            cols.join(", "),
            self.new_rows(ctx, staged, target)
        ));
        out
    }

    /// One `MERGE INTO` for a `merge` sink on engines that have it (Athena on Iceberg): a new
    /// row replaces the target row with the same keys (null matching null; within the run's
    /// partition when partitioned), the other new rows are inserted. `None` for other modes.
    /// The keys-unique guard ([`Self::guards`]) must pass first: MERGE fails on a target row
    /// matched twice.
    pub fn merge(&self, ctx: &Ctx, staged: &str, target: &str) -> Option<String> {
        let Replaces::Keys(keys) = &self.replaces else {
            return None;
        };
        let d = ctx.dialect;
        let mut on: Vec<String> = keys
            .iter()
            .map(|k| format!("t.{0} IS NOT DISTINCT FROM s.{0}", d.ident(k)))
            .collect();
        if let Some(p) = &self.partition {
            on.push(format!("t.{} = {}", d.ident(p), ctx.param(RunParam::Ds)));
        }
        let cols = self.table_columns();
        let fixed = |c: &str| keys.iter().any(|k| k == c) || self.partition.as_deref() == Some(c);
        let mut set: Vec<String> = cols
            .iter()
            .filter(|c| !fixed(&c.name))
            .map(|c| format!("{0} = s.{0}", d.ident(&c.name)))
            .collect();
        if set.is_empty() {
            set.push(format!("{0} = s.{0}", d.ident(&keys[0])));
        }
        let names: Vec<String> = cols.iter().map(|c| d.ident(&c.name)).collect();
        let values: Vec<String> = names.iter().map(|n| format!("s.{n}")).collect();
        Some(format!(
            "MERGE INTO {target} AS t USING ({}) AS s ON ({}) WHEN MATCHED THEN UPDATE SET {} WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})",
            self.new_rows(ctx, staged, target),
            on.join(" AND "),
            set.join(", "),
            names.join(", "),
            values.join(", ")
        ))
    }

    /// Publish guards, each a check that must pass before anything is written: no new row
    /// outside the run's partition (`E0516` locally), merge keys unique among the new rows.
    pub fn guards(&self, ctx: &Ctx, staged: &str) -> Vec<(String, CheckQuery)> {
        let d = ctx.dialect;
        let mut out = Vec::new();
        if let Some(p) = &self.partition {
            out.push((
                format!(
                    "every row of `{}` is in the run's partition ({} = @ds)",
                    self.sink.relation, p
                ),
                CheckQuery {
                    sql: format!(
                        "SELECT count(*) AS n FROM {staged} WHERE {} IS DISTINCT FROM {}",
                        d.ident(p),
                        ctx.param(RunParam::Ds)
                    ),
                    fails: FailsWhen::Positive,
                },
            ));
        }
        if let Replaces::Keys(keys) = &self.replaces {
            let list = keys
                .iter()
                .map(|k| d.ident(k))
                .collect::<Vec<_>>()
                .join(", ");
            out.push((
                format!(
                    "merge keys ({}) of `{}` are unique",
                    keys.join(", "),
                    self.sink.relation
                ),
                CheckQuery {
                    sql: format!("SELECT count(*) AS n FROM (SELECT {list} FROM {staged} GROUP BY {list} HAVING count(*) > 1) AS dup"),
                    fails: FailsWhen::Positive,
                },
            ));
        }
        out
    }
}
