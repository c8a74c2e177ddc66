//! `pipec show`: the rows one relation produces for an interval, computed on a scratch in-memory
//! DuckDB by the staging code of `run` (same loaders, schema enforcement and rejects), with only
//! the relation's ancestors staged and nothing written anywhere: the warehouse, when it exists,
//! is attached read-only for `table(...)` sources.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use duckdb::Connection;
use pipec_check::ir::{Pipeline, RelationKind, Type};
use pipec_sql::{ident, string};

use crate::intervals::Run;
use crate::secrets::Secrets;
use crate::state::db_error;
use crate::{deadline, load, report, RunError};

/// A column of a preview.
#[derive(Debug, Clone)]
pub struct PreviewColumn {
    /// Name.
    pub name: String,
    /// Declared type.
    pub ty: Type,
    /// Whether it may hold nulls.
    pub nullable: bool,
}

/// The rows of one relation for one interval.
#[derive(Debug, Clone)]
pub struct Preview {
    /// Pipeline.
    pub pipeline: String,
    /// Relation.
    pub relation: String,
    /// The interval computed.
    pub run: Run,
    /// Columns, as declared.
    pub columns: Vec<PreviewColumn>,
    /// The first rows (at most the limit asked for), each value as DuckDB writes it as text
    /// (`None`: null), in the relation's order.
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows the relation has.
    pub total: u64,
    /// Rows the relation's ancestor sources moved aside (`on_error = "reject"`), by source.
    pub rejected: Vec<(String, u64)>,
}

/// The relations `relation` is computed from, itself included.
fn ancestors(p: &Pipeline, relation: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![relation.to_string()];
    while let Some(name) = todo.pop() {
        if !out.insert(name.clone()) {
            continue;
        }
        if let Some(r) = p.relation(&name) {
            todo.extend(r.inputs().iter().map(|i| i.to_string()));
        }
    }
    out
}

/// The scratch database and the folder it may spill to (outside the project): when dropped,
/// the database is closed, then the folder removed.
struct Scratch {
    conn: Option<Connection>,
    spill: PathBuf,
    /// The alias of the attached warehouse.
    warehouse: Option<String>,
}

impl Scratch {
    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("open until dropped")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        drop(self.conn.take());
        let _ = std::fs::remove_dir_all(&self.spill);
    }
}

/// Opens the scratch database: in memory, with the warehouse at `warehouse` (when that file
/// exists) attached read-only as the default database, so that `table(...)` sources read it as
/// `run` does. Without one, `table(...)` sources fail as they do on an empty warehouse.
fn scratch(warehouse: Option<&Path>) -> Result<Scratch, RunError> {
    let mut scratch = Scratch {
        conn: Some(Connection::open_in_memory().map_err(db_error)?),
        spill: std::env::temp_dir().join(format!("pipec-show-{}", std::process::id())),
        warehouse: None,
    };
    let mut alias_of = None;
    let conn = scratch.conn();
    conn.execute_batch(&format!(
        "SET temp_directory = {}",
        string(&scratch.spill.to_string_lossy())
    ))
    .map_err(db_error)?;
    match warehouse.filter(|w| w.exists()) {
        Some(w) => {
            let real = crate::state::real_path(w)?;
            let alias = real
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| {
                    !s.is_empty()
                        && !s.starts_with("_pipec")
                        && !["memory", "temp", "system", "main"].contains(&s.to_lowercase().as_str())
                })
                .unwrap_or_else(|| "_pipec_warehouse".into());
            conn.execute_batch(&format!(
                "ATTACH {} AS {} (READ_ONLY); USE {}",
                string(&real.to_string_lossy()),
                ident(&alias),
                ident(&alias)
            ))
            .map_err(|e| {
                let msg = e.to_string();
                if msg.contains("Could not set lock") {
                    crate::state::held_open(w, &msg)
                } else {
                    db_error(msg)
                }
            })?;
            alias_of = Some(alias);
        }
        // Incremental `postgres` sources read their watermark from here: none yet.
        None => conn
            .execute_batch(
                "CREATE SCHEMA _pipec; CREATE TABLE _pipec.watermarks (pipeline VARCHAR, name VARCHAR, value VARCHAR)",
            )
            .map_err(db_error)?,
    }
    crate::tally::TALLIES.register(conn).map_err(db_error)?;
    crate::exact::register(conn).map_err(db_error)?;
    crate::zones::register(conn).map_err(db_error)?;
    scratch.warehouse = alias_of;
    Ok(scratch)
}

/// The rows relation `relation` of `p` produces for interval `ds` (at most `limit` of them, and
/// how many there are), computed on a scratch in-memory DuckDB exactly as `run` stages it:
/// only the relation and the relations it reads, nothing checked, published or recorded. The
/// warehouse `warehouse`, when that file exists, is attached read-only for `table(...)`
/// sources (no pipec lock is taken); nothing is written there or anywhere else.
pub fn preview(
    p: &Pipeline,
    relation: &str,
    ds: &Run,
    warehouse: Option<&Path>,
    limit: usize,
    secrets: &Secrets,
) -> Result<Preview, RunError> {
    let Some(rel) = p.relation(relation) else {
        return Err(load::exec_error(
            p.span,
            &format!("pipeline `{}` has no relation `{relation}`", p.name),
        ));
    };
    let scratch = scratch(warehouse)?;
    let conn = scratch.conn();
    let wanted = ancestors(p, relation);
    let levels: Vec<Vec<usize>> = load::levels(p)
        .into_iter()
        .map(|level| {
            level
                .into_iter()
                .filter(|&i| wanted.contains(&p.relations[i].name))
                .collect::<Vec<_>>()
        })
        .filter(|level| !level.is_empty())
        .collect();
    let cache = std::sync::Arc::new(load::Cache::default());
    let stage = load::Stage::for_preview(p, &cache, relation, scratch.warehouse.clone());
    stage.reset(conn)?;
    let run = ds.params();
    let deadline = deadline::Deadline::default();
    let progress = report::Progress::new(false, p, &ds.label);
    let (nodes, _) = crate::stage_levels(
        conn,
        p,
        &ds.label,
        levels,
        (&stage, &run),
        secrets,
        &deadline,
        &progress,
    )
    .map_err(|(mut e, _)| {
        secrets.redact_diagnostic(&mut e.diagnostic);
        e
    })?;
    let table = stage.table(relation);
    let read = |e: duckdb::Error| load::exec_error(rel.span, &e.to_string());
    let total: i64 = conn
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .map_err(read)?;
    let texts: Vec<String> = rel
        .schema
        .columns
        .iter()
        .map(|c| format!("CAST({} AS VARCHAR)", ident(&c.name)))
        .collect();
    let n = texts.len();
    let mut rows = Vec::new();
    if n > 0 && limit > 0 {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {} FROM {table} LIMIT {limit}",
                texts.join(", ")
            ))
            .map_err(read)?;
        let mut result = stmt.query([]).map_err(read)?;
        while let Some(row) = result.next().map_err(read)? {
            let values: Vec<Option<String>> = (0..n)
                .map(|i| row.get::<_, Option<String>>(i))
                .collect::<Result<_, _>>()
                .map_err(read)?;
            rows.push(values);
        }
    }
    let _ = stage.drop_all(conn);
    cache.close(conn);
    let rejected = nodes
        .iter()
        .filter(|node| node.rejected > 0)
        .filter(|node| {
            p.relation(&node.name)
                .is_some_and(|r| matches!(r.kind, RelationKind::Source(_)))
        })
        .map(|node| (node.name.clone(), node.rejected))
        .collect();
    Ok(Preview {
        pipeline: p.name.clone(),
        relation: relation.to_string(),
        run: ds.clone(),
        columns: rel
            .schema
            .columns
            .iter()
            .map(|c| PreviewColumn {
                name: c.name.clone(),
                ty: c.ty,
                nullable: c.nullable,
            })
            .collect(),
        rows,
        total: total as u64,
        rejected,
    })
}

/// The DuckDB statement `run` stages transform `relation` of `p` with, for interval `ds`, or
/// with run values as marked variables (see [`pipec_sql::Params::Vars`]) without one. `None`
/// for a source (loaded by pipec's readers, not one statement) or an unknown name.
pub fn relation_sql(p: &Pipeline, relation: &str, ds: Option<&Run>) -> Option<String> {
    let rel = p.relation(relation)?;
    let RelationKind::Transform(t) = &rel.kind else {
        return None;
    };
    let stage = load::Stage::new(&p.name);
    let params = ds.map(Run::params);
    let ctx = match &params {
        Some(run) => pipec_sql::Ctx::duckdb(run),
        None => pipec_sql::Ctx::vars(pipec_sql::Dialect::DuckDb),
    };
    Some(load::transform_sql(p, rel, t, &stage, ctx))
}
