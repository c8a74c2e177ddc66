//! `pipec test`: a transform's unit tests on an in-memory DuckDB, fixture rows in, expected rows out.

use chrono::NaiveDate;
use duckdb::Connection;
use pipec_check::ir::{Fixture, Pipeline, RelationKind, Schema, Test};
use pipec_diag::{codes, Diagnostic};
use pipec_sql::{ident, literal, type_sql};
use serde::Serialize;

use crate::load::Stage;
use crate::RunError;

/// The outcome of one test.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    /// Pipeline.
    pub pipeline: String,
    /// Test name.
    pub name: String,
    /// Whether the rows matched.
    pub passed: bool,
    /// Expected rows that were not produced.
    pub missing: Vec<String>,
    /// Produced rows that were not expected.
    pub unexpected: Vec<String>,
    /// The failure, as a diagnostic.
    #[serde(skip)]
    pub error: Option<Diagnostic>,
}

fn create(conn: &Connection, table: &str, schema: &Schema) -> Result<(), duckdb::Error> {
    let cols: Vec<String> = schema
        .columns
        .iter()
        .map(|c| format!("{} {}", ident(&c.name), type_sql(c.ty)))
        .collect();
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TABLE {table} ({})",
        cols.join(", ")
    ))
}

fn insert(conn: &Connection, table: &str, f: &Fixture) -> Result<(), duckdb::Error> {
    if f.rows.is_empty() {
        return Ok(());
    }
    let cols: Vec<String> = f.columns.iter().map(|c| ident(&c.name)).collect();
    let rows: Vec<String> = f
        .rows
        .iter()
        .map(|r| {
            format!(
                "({})",
                r.iter()
                    .zip(&f.columns)
                    .map(|(v, c)| format!("CAST({} AS {})", literal(v), type_sql(c.ty)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    conn.execute_batch(&format!(
        "INSERT INTO {table} ({}) VALUES {}",
        cols.join(", "),
        rows.join(", ")
    ))
}

fn run_one(p: &Pipeline, t: &Test) -> Result<TestReport, RunError> {
    let fail = |e: duckdb::Error| crate::load::exec_error(t.span, &e.to_string());
    let conn = Connection::open_in_memory().map_err(fail)?;
    crate::zones::register(&conn).map_err(fail)?;
    let stage = Stage::new(&p.name);
    stage.reset(&conn)?;
    let ds =
        t.ds.as_deref()
            .and_then(|d| d.parse::<NaiveDate>().ok())
            .unwrap_or_else(|| NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"));
    let run = crate::intervals::first_of_day(p, ds).params();
    for rel in &p.relations {
        let table = stage.table(&rel.name);
        if let Some(f) = t.given.iter().find(|g| g.relation == rel.name) {
            create(&conn, &table, &rel.schema).map_err(fail)?;
            insert(&conn, &table, f).map_err(fail)?;
            continue;
        }
        match &rel.kind {
            RelationKind::Source(_) => create(&conn, &table, &rel.schema).map_err(fail)?,
            RelationKind::Transform(tr) => {
                crate::load::transform(&conn, p, rel, tr, &stage, &run, &Default::default())?;
            }
        }
    }
    let expect = t
        .expect
        .as_ref()
        .expect("checked: tests have an expect block");
    let schema = Schema {
        columns: expect.columns.clone(),
    };
    create(&conn, "_expected", &schema).map_err(fail)?;
    insert(&conn, "_expected", expect).map_err(fail)?;
    let cols: Vec<String> = expect.columns.iter().map(|c| ident(&c.name)).collect();
    let render = |c: &str| format!("CAST(row({}) AS VARCHAR)", c);
    let actual = format!(
        "SELECT {} FROM {}",
        cols.join(", "),
        stage.table(&t.relation)
    );
    let expected = format!("SELECT {} FROM _expected", cols.join(", "));
    let rows = |sql: String| -> Result<Vec<String>, RunError> {
        let mut stmt = conn.prepare(&sql).map_err(fail)?;
        let v = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|r| r.collect::<Result<Vec<_>, _>>())
            .map_err(fail)?;
        Ok(v)
    };
    let list = cols.join(", ");
    let missing = rows(format!(
        "SELECT {} FROM ({expected} EXCEPT ALL {actual}) ORDER BY ALL",
        render(&list)
    ))?;
    let unexpected = rows(format!(
        "SELECT {} FROM ({actual} EXCEPT ALL {expected}) ORDER BY ALL",
        render(&list)
    ))?;
    let passed = missing.is_empty() && unexpected.is_empty();
    let error = (!passed).then(|| {
        let mut msg = format!(
            "test `{}` failed: `{}` produced different rows",
            t.name, t.relation
        );
        for m in &missing {
            msg.push_str(&format!("\n  - expected, not produced: {m}"));
        }
        for u in &unexpected {
            msg.push_str(&format!("\n  + produced, not expected: {u}"));
        }
        Diagnostic::error(codes::TEST_FAILED, t.span, msg, "this test").with_help(format!(
            "columns compared: ({list}); rows are compared as a multiset, in any order"
        ))
    });
    Ok(TestReport {
        pipeline: p.name.clone(),
        name: t.name.clone(),
        passed,
        missing,
        unexpected,
        error,
    })
}

/// Runs every unit test of the given pipelines.
pub fn run_tests(pipelines: &[Pipeline]) -> Vec<TestReport> {
    let mut out = Vec::new();
    for p in pipelines {
        for t in &p.tests {
            out.push(run_one(p, t).unwrap_or_else(|e| TestReport {
                pipeline: p.name.clone(),
                name: t.name.clone(),
                passed: false,
                missing: Vec::new(),
                unexpected: Vec::new(),
                error: Some(e.diagnostic),
            }));
        }
    }
    out
}
