//! The Amazon States Language definition of each pipeline's state machine, and the Athena SQL
//! of its states (pipec-sql's `Dialect::Athena`).
//!
//! Interface with the template (template.rs):
//! `pub(crate) fn definition(p: &Pipeline, project: &Project, names: &Names, options: &Options)
//!     -> Result<Machine, Vec<Diagnostic>>`
//! - `Machine.definition` is the inline `Definition`. ARNs and names of stack resources are
//!   written as `${LogicalId}`; the template adds one `DefinitionSubstitutions` entry per id in
//!   `Machine.needs`: a function → its ARN (`Fn::GetAtt [Id, Arn]`), a topic → its ARN (`Ref`),
//!   `AthenaWorkGroup` → the workgroup's name (`Ref`) when `needs.athena`, a bucket → its
//!   name (`Ref`).
//! - `Machine.needs` lists what the machine uses; the role gets exactly those permissions.
//! - [`raw_partitions`] gives the partition keys of each source's raw Glue table (all `string`);
//!   the template declares them and the machine reads a run's partition by equality on each.
//!   Raw CSV and NDJSON columns are `string`: the first statement of a source converts them.
//!
//! The machine, in order: `Interval` (the interval Lambda → `$.run`, values of fixed shapes),
//! `Run values` (the execution's staging suffix and the bucket names, `$.params`), then per
//! relation (sources, then transforms, in dependency order) a `DROP TABLE IF EXISTS` and a CTAS
//! into an Iceberg staging table of this execution; every check rule and publish guard (a
//! query, its result, a `Choice`); the publishes (DELETE + INSERT, or MERGE, on the Iceberg sink
//! tables, as `SinkPlan` says, then `expire after`'s DELETE; a parquet file sink's folder
//! emptied and `UNLOAD`ed); the staging tables dropped; `Succeed`. Run values reach the SQL as
//! `States.Format` arguments ([`Builder::query_parameters`]), never as Athena's `?`. A failure (a caught error
//! or a failed rule) drops the staging tables, publishes to the alert topic when there is one,
//! and ends in `Fail`. docs/targets.md ("SAM state machines") describes it.

use std::collections::BTreeSet;

use pipec_check::ir::{
    FileFormat, Head, Pipeline, Project, Relation, RelationKind, Schema, SinkTarget, Source, Type,
};
use pipec_diag::Diagnostic;
use pipec_emit::Options;
use pipec_sql::checks::CheckQuery;
use pipec_sql::sinks::{Replaces, SinkPlan};
use pipec_sql::{template_pieces, Ctx, Dialect, Interval, Piece, MARK};
use serde_json::{json, Map, Value};

use crate::names::{self, Names};

/// The dialect of every statement.
const D: Dialect = Dialect::Athena;
/// The target's name in diagnostics.
const TARGET: &str = "SAM";
/// Longest state name (Step Functions allows 80 characters).
const MAX_NAME: usize = 80;

/// A pipeline's state machine.
pub(crate) struct Machine {
    /// The ASL definition (`StartAt`, `States`, ...).
    pub definition: Value,
    /// What it uses.
    pub needs: Needs,
    /// Each relation's staging statement (Athena, run values as marked variables).
    pub stages: Vec<(String, String)>,
}

/// What a state machine uses: the template grants its role exactly these.
#[derive(Default)]
pub(crate) struct Needs {
    /// Logical ids of the Lambda functions it invokes.
    pub functions: BTreeSet<String>,
    /// Logical ids of the SNS topics it publishes to.
    pub topics: BTreeSet<String>,
    /// Glue databases (names) whose tables it reads.
    pub read_databases: BTreeSet<String>,
    /// Glue databases (names) whose tables it creates, writes or drops.
    pub write_databases: BTreeSet<String>,
    /// Logical ids of the buckets it reads.
    pub read_buckets: BTreeSet<String>,
    /// Logical ids of the buckets it writes (and deletes in).
    pub write_buckets: BTreeSet<String>,
    /// Whether it runs Athena queries (in `AthenaWorkGroup`).
    pub athena: bool,
}

/// The partition keys of source `src`'s raw Glue table, each `(key, run value)`: a file
/// source's path placeholders in order (`{ds}` → `("pipec_ds", "ds")`), `pipec_run` (the
/// interval's start) for what a Lambda (`http`, `postgres`) writes, `pipec_ds` for a Firehose
/// stream.
/// Keys are `string`; a run reads the partition whose keys equal its values.
pub(crate) fn raw_partitions(src: &Source) -> Vec<(String, String)> {
    let names: Vec<String> = match src {
        Source::File { path, .. } => {
            let mut out: Vec<String> = Vec::new();
            for piece in template_pieces(path, |n| {
                Interval::NAMES
                    .contains(&n)
                    .then(|| Piece::Var(n.to_string()))
            }) {
                if let Piece::Var(v) = piece {
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
            }
            out
        }
        // What a Lambda writes: one partition per run, keyed by the interval's start.
        Source::Http { .. } | Source::Postgres { .. } => vec!["run".into()],
        Source::Stream { .. } => vec!["ds".into()],
        Source::Table { .. } | Source::Calendar { .. } => Vec::new(),
    };
    names
        .into_iter()
        .map(|v| {
            let value = if v == "run" {
                "start".to_string()
            } else {
                v.clone()
            };
            (format!("pipec_{v}"), value)
        })
        .collect()
}

/// One Athena statement: SQL with run values, the execution's staging suffix and the results
/// bucket as pipec-sql's marks ([`pipec_sql::MARK`]); [`Builder::query_parameters`] turns
/// them into the holes of a `States.Format` of the query text.
struct Stmt {
    sql: String,
}

/// The run variable holding the execution's staging suffix (`$.params.stage`).
const STAGE_VAR: &str = "stage";

/// The variable holding the results bucket's name (`$.params.bucket`, which the template's
/// `DefinitionSubstitutions` fill in: a `${AthenaResultsBucket}` inside the escaped
/// `States.Format` template would not be substituted).
const BUCKET_VAR: &str = "bucket";

/// The variable holding the curated bucket's name (`$.params.curated`), like [`BUCKET_VAR`].
const CURATED_VAR: &str = "curated";

/// The variables of `$.params` (set by the `Run values` state), with the bucket each names
/// (`None`: the staging suffix).
const PARAMS: [(&str, Option<&str>); 3] = [
    (STAGE_VAR, None),
    (BUCKET_VAR, Some(names::RESULTS_BUCKET)),
    (CURATED_VAR, Some(names::CURATED_BUCKET)),
];

/// One step of the publish: an Athena statement, or a file sink's folder emptied (`prefix`:
/// its key as a `States.Format` call) before its `UNLOAD`.
enum Publish {
    Query(String, Stmt),
    Empty {
        label: String,
        prefix: String,
    },
    /// An `UNLOAD`, not retried: a failed one may leave files behind, and Athena unloads into
    /// empty folders only (the next execution empties it first).
    Unload(String, Stmt),
}

/// The choice after `Interval` of a pipeline with `start`/`end` dates, and where it ends a
/// triggered execution whose interval is outside them.
const WITHIN_DATES: &str = "Within start and end?";
/// See [`WITHIN_DATES`].
const OUTSIDE_DATES: &str = "Outside start and end";

/// The alert message of a failure before the interval is known (no `ds` yet).
const INTERVAL_ALERT: &str = "Alert message without interval";

/// The states being built, chained in order: each new chained state becomes the `Next` (or
/// `Default`) of the states waiting for one.
struct Builder {
    states: Map<String, Value>,
    taken: BTreeSet<String>,
    /// (state, field) waiting for the next chained state's name.
    pending: Vec<(String, &'static str)>,
    retry: Option<Value>,
    /// Where a task's `Catch` goes: the cleanup after staging began, else the alert (or `Failed`).
    on_error: String,
    /// Run values used by any query.
    used: BTreeSet<String>,
    /// Staged tables, in creation order (dropped at the end, and after a failure).
    staged: Vec<String>,
}

impl Builder {
    /// A fresh state name from `base` (control characters dropped, at most [`MAX_NAME`]
    /// characters, a number added when taken).
    fn name(&mut self, base: &str) -> String {
        let clean: String = base
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_NAME - 5)
            .collect();
        let mut name = clean.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{clean} #{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// Adds a chained state: the waiting states point at it; `then` lists its own field that
    /// waits for the next one (`Next`, `Default`, or none).
    fn chain(&mut self, name: String, state: Value, then: Option<&'static str>) -> String {
        for (s, field) in std::mem::take(&mut self.pending) {
            if let Some(obj) = self.states.get_mut(&s).and_then(Value::as_object_mut) {
                if field == "Catch" {
                    // The first catcher of a state goes on to the next state too.
                    obj["Catch"][0]["Next"] = Value::String(name.clone());
                } else {
                    obj.insert(field.into(), Value::String(name.clone()));
                }
            }
        }
        self.states.insert(name.clone(), state);
        if let Some(f) = then {
            self.pending.push((name.clone(), f));
        }
        name
    }

    /// A task state with the pipeline's `Retry` and a `Catch` of every error (its error and
    /// cause kept at `$.error`).
    fn task(&self, resource: &str, parameters: Value) -> Value {
        let mut t = json!({"Type": "Task", "Resource": resource, "Parameters": parameters});
        if let Some(r) = &self.retry {
            t["Retry"] = r.clone();
        }
        t["Catch"] = json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": self.on_error}]);
        t
    }

    /// The `Parameters` of an Athena query running `stmt`. Each marked variable becomes a
    /// `{}` hole of a `States.Format` template, filled by an argument: a run value
    /// (`$.run.<name>`, inside an SQL string literal: `'{}'` where the mark stands alone),
    /// the staging suffix or the results bucket (`$.params.<name>`). Every other character is
    /// escaped for `States.Format`, so user text is never a hole; the values are safe because
    /// the interval Lambda only returns fixed shapes (dates, UTC times, digits) and the suffix
    /// is a hash. Athena's `?` parameters are not used: they are refused outside `WHERE`
    /// clauses and in `DELETE`/`MERGE`.
    fn query_parameters(&mut self, stmt: &Stmt) -> Value {
        let sql = &stmt.sql;
        let mut template = String::with_capacity(sql.len() + 16);
        let mut args: Vec<String> = Vec::new();
        let mut quote: Option<char> = None;
        let mut chars = sql.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == MARK && quote != Some('"') {
                if let Some(len) = sql[i + 1..].find(MARK) {
                    let name = &sql[i + 1..i + 1 + len];
                    for _ in 0..=len {
                        chars.next();
                    }
                    let arg = if PARAMS.iter().any(|(v, _)| *v == name) {
                        format!("$.params.{name}")
                    } else {
                        format!("$.run.{name}")
                    };
                    // A run value standing alone becomes a string literal; a name part (the
                    // suffix, the bucket) and a value inside a literal are spliced as they are.
                    if quote.is_none() && !arg.starts_with("$.params.") {
                        template.push_str("\\'{}\\'");
                    } else {
                        template.push_str("{}");
                    }
                    self.used.insert(name.to_string());
                    args.push(arg);
                    continue;
                }
            }
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (None, '\'' | '"') => quote = Some(c),
                _ => {}
            }
            template.push_str(&format_escape(&c.to_string()));
        }
        let mut params = json!({"WorkGroup": format!("${{{}}}", names::WORKGROUP)});
        if args.is_empty() && !sql.contains("${") {
            params["QueryString"] = json!(sql);
        } else {
            let mut call = format!("States.Format('{template}'");
            for a in &args {
                call.push_str(", ");
                call.push_str(a);
            }
            call.push(')');
            params["QueryString.$"] = json!(call);
        }
        params
    }

    /// An Athena query state (`startQueryExecution.sync`) running `stmt`.
    fn query(&mut self, stmt: &Stmt, result: Option<&str>) -> Value {
        let params = self.query_parameters(stmt);
        let mut t = self.task("arn:aws:states:::athena:startQueryExecution.sync", params);
        t["ResultPath"] = match result {
            Some(r) => json!(r),
            None => Value::Null,
        };
        t
    }

    /// Chains a query state named from `base`.
    fn run(&mut self, base: &str, stmt: Stmt) {
        let name = self.name(base);
        let state = self.query(&stmt, None);
        self.chain(name, state, Some("Next"));
    }

    /// Chains the emptying of a file sink's folder in the curated bucket (`prefix`: its key, a
    /// `States.Format` call): its objects listed (at most 100 at a time, so that the state's
    /// data stays small), deleted by a `Map`, and listed again until none is left.
    fn empty_folder(&mut self, label: &str, prefix: &str) {
        let bucket = format!("${{{}}}", names::CURATED_BUCKET);
        let list = self.name(&format!("List old files {label}"));
        let mut state = self.task(
            "arn:aws:states:::aws-sdk:s3:listObjectsV2",
            json!({"Bucket": bucket, "Prefix.$": prefix, "MaxKeys": 100}),
        );
        // Kept whole: a `ResultSelector` would fail on an empty folder (no `Contents`).
        state["ResultPath"] = json!("$.listed");
        self.chain(list.clone(), state, Some("Next"));
        let delete = self.name(&format!("Delete old files {label}"));
        let choice = self.name(&format!("Old files {label}?"));
        self.chain(
            choice,
            json!({
                "Type": "Choice",
                "Choices": [{"Variable": "$.listed.Contents", "IsPresent": true, "Next": delete}],
            }),
            Some("Default"),
        );
        let mut remove = json!({
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:s3:deleteObject",
            "Parameters": {"Bucket": bucket, "Key.$": "$.Key"},
            "End": true,
        });
        if let Some(r) = &self.retry {
            remove["Retry"] = r.clone();
        }
        let mut map = json!({
            "Type": "Map",
            "ItemsPath": "$.listed.Contents",
            "MaxConcurrency": 10,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Delete",
                "States": {"Delete": remove},
            },
            "ResultPath": null,
            "Next": list,
        });
        map["Catch"] = json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": self.on_error}]);
        self.states.insert(delete, map);
    }

    /// Chains a rule: its query (one row: `outcome` is `failed` or `passed`), the result, and a
    /// `Choice` failing the execution with `message` when it failed.
    fn rule(&mut self, base: &str, q: &CheckQuery, message: &str) {
        let sql = format!(
            "SELECT CASE WHEN {} THEN 'failed' ELSE 'passed' END AS outcome, n FROM ({}) AS c",
            q.failed_condition(),
            q.sql
        );
        let name = self.name(base);
        let state = self.query(&Stmt { sql }, Some("$.query"));
        self.chain(name, state, Some("Next"));
        let name = self.name(&format!("{base}: result"));
        let mut state = self.task(
            "arn:aws:states:::athena:getQueryResults",
            json!({"QueryExecutionId.$": "$.query.QueryExecution.QueryExecutionId", "MaxResults": 2}),
        );
        state["ResultSelector"] = json!({"outcome.$": "$.ResultSet.Rows[1].Data[0].VarCharValue"});
        state["ResultPath"] = json!("$.check");
        self.chain(name, state, Some("Next"));
        let failed = self.name(&format!("{base}: failed"));
        let choice = self.name(&format!("{base}: passed?"));
        let state = json!({
            "Type": "Choice",
            "Choices": [{"Variable": "$.check.outcome", "StringEquals": "failed", "Next": failed}],
        });
        self.chain(choice, state, Some("Default"));
        // User text holding `${` is written through `States.Format` (braces escaped), so that
        // the template's `DefinitionSubstitutions` never read it as a placeholder.
        let result = if message.contains("${") {
            json!({"Error": "pipec.CheckFailed", "Cause.$": format!("States.Format('{}')", format_escape(message))})
        } else {
            json!({"Error": "pipec.CheckFailed", "Cause": message})
        };
        let key = if message.contains("${") {
            "Parameters"
        } else {
            "Result"
        };
        let mut state = json!({"Type": "Pass", "ResultPath": "$.error", "Next": self.on_error});
        state[key] = result;
        self.states.insert(failed, state);
    }
}

/// `text` as the inside of a string literal of an intrinsic function: `'`, `{`, `}` and `\`
/// escaped with `\`.
fn format_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\'' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The definition of `p`'s state machine.
pub(crate) fn definition(
    p: &Pipeline,
    project: &Project,
    names: &Names,
    _options: &Options,
) -> Result<Machine, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let ctx = Ctx::vars(D);
    let mut needs = Needs {
        athena: true,
        ..Needs::default()
    };
    needs
        .write_databases
        .insert(names::STAGE_DATABASE.to_string());
    needs
        .write_buckets
        .insert(names::RESULTS_BUCKET.to_string());
    needs.read_buckets.insert(names::RESULTS_BUCKET.to_string());
    let interval = names.interval_function(p);
    needs.functions.insert(interval.clone());
    let alert = !p.alerts.is_empty();
    if alert {
        needs.topics.insert(names.alert_topic(p));
    }
    // Where failures end: the alert (when there is one), then `Failed`.
    let report = if alert { "Alert message" } else { "Failed" };
    let retry = (p.retries > 0).then(|| {
        json!([{
            "ErrorEquals": ["States.ALL"],
            "IntervalSeconds": p.retry_backoff_seconds.max(1),
            "MaxAttempts": p.retries,
            "BackoffRate": 2.0,
        }])
    });
    let mut b = Builder {
        states: Map::new(),
        taken: [
            "Alert message",
            INTERVAL_ALERT,
            WITHIN_DATES,
            OUTSIDE_DATES,
            "Alert",
            "Failed",
            "Done",
            "Run values",
            "Interval",
            "Clean up",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        pending: Vec::new(),
        retry,
        // Before `$.run` exists, the alert names the execution's input instead of its `ds`.
        on_error: if alert { INTERVAL_ALERT } else { report }.to_string(),
        used: BTreeSet::new(),
        staged: Vec::new(),
    };

    // The interval: the Lambda turns the execution's input into the run's values.
    let mut state = b.task(
        "arn:aws:states:::lambda:invoke",
        json!({"FunctionName": format!("${{{interval}}}"), "Payload.$": "$"}),
    );
    let mut selector: Map<String, Value> = Interval::NAMES
        .iter()
        .map(|n| (format!("{n}.$"), json!(format!("$.Payload.{n}"))))
        .collect();
    let dated = p.start.is_some() || p.end.is_some();
    if dated {
        selector.insert("due.$".into(), json!("$.Payload.due"));
    }
    state["ResultSelector"] = Value::Object(selector);
    state["ResultPath"] = json!("$.run");
    b.chain("Interval".into(), state, Some("Next"));
    if dated {
        // A trigger's interval before `start` or after `end` runs nothing (the interval
        // function says `due: "no"`), as pipec clips scheduled runs to those dates.
        b.chain(
            WITHIN_DATES.into(),
            json!({
                "Type": "Choice",
                "Choices": [{"Variable": "$.run.due", "StringEquals": "no", "Next": OUTSIDE_DATES}],
            }),
            Some("Default"),
        );
        b.states.insert(
            OUTSIDE_DATES.into(),
            json!({"Type": "Succeed", "Comment": "the interval is outside the pipeline's start..end"}),
        );
    }
    // Filled in once every query is known.
    b.chain("Run values".into(), json!({}), Some("Next"));
    // From here on a failure first drops the execution's staging tables.
    b.on_error = "Clean up".into();

    let stage = |rel: &str| stage_table(p, rel);
    let mut stages = Vec::new();
    for rel in &p.relations {
        if let Some(c) = rel.schema.columns.iter().find(|c| c.ty == Type::Interval) {
            diags.push(pipec_emit::unsupported(
                rel.span,
                &format!(
                    "the `interval` column `{}` of `{}` (Athena cannot store intervals in a table)",
                    c.name, rel.name
                ),
                TARGET,
                "keep the length as a number (e.g. seconds: `bigint`) in relations; compute with intervals inside one transform",
            ));
            continue;
        }
        let select = match &rel.kind {
            RelationKind::Source(src) => {
                match source(p, rel, src, project, names, &mut b, &mut needs) {
                    Ok(s) => s,
                    Err(d) => {
                        diags.push(d);
                        continue;
                    }
                }
            }
            RelationKind::Transform(t) => {
                let head_schema = match &t.head {
                    Head::Relation(n) => {
                        p.relation(n).map(|r| r.schema.clone()).unwrap_or_default()
                    }
                    Head::Sql { .. } => Schema::default(),
                };
                let tables = |n: &str| stage(n);
                let select = ctx.transform(t, &head_schema, &tables);
                Stmt {
                    sql: format!(
                        "SELECT {} FROM ({select}) AS t",
                        D.cast_columns(&rel.schema)
                    ),
                }
            }
        };
        let table = stage(&rel.name);
        b.run(
            &format!("Drop old {}", label(&rel.name)),
            Stmt {
                sql: format!("DROP TABLE IF EXISTS {table}"),
            },
        );
        let create = format!(
            "CREATE TABLE {table} WITH (table_type = 'ICEBERG', is_external = false, location = '{}', format = 'PARQUET') AS {}",
            stage_location(p, &rel.name),
            select.sql
        );
        stages.push((rel.name.clone(), create.clone()));
        b.run(&format!("Stage {}", label(&rel.name)), Stmt { sql: create });
        b.staged.push(table);
    }

    // Checks, then the publish guards: all before anything is written.
    let mut k = 0;
    for c in &p.checks {
        let table = stage(&c.relation);
        for r in &c.rules {
            k += 1;
            let q = ctx.check(&r.rule, &table);
            b.rule(
                &format!("Check {k} {}", label(&c.relation)),
                &q,
                &format!("check on `{}` failed: {}", c.relation, r.text),
            );
        }
    }
    let mut publish: Vec<Publish> = Vec::new();
    for s in &p.sinks {
        let Some(rel) = p.relation(&s.relation) else {
            continue;
        };
        let (schema, table) = match &s.target {
            SinkTarget::Table { schema, table } => (schema, table),
            SinkTarget::File { format, path } => {
                match file_sink(p, rel, *format, path, names, &stage(&s.relation)) {
                    Ok((prefix, unload)) => {
                        let what = label(&s.relation);
                        needs
                            .write_buckets
                            .insert(names::CURATED_BUCKET.to_string());
                        needs.read_buckets.insert(names::CURATED_BUCKET.to_string());
                        publish.push(Publish::Empty {
                            label: what.clone(),
                            prefix,
                        });
                        publish.push(Publish::Unload(format!("Unload {what}"), unload));
                    }
                    Err(why) => diags.push(pipec_emit::unsupported(s.span, &why.0, TARGET, why.1)),
                }
                continue;
            }
        };
        let plan = SinkPlan::of(s, &rel.schema);
        let staged = stage(&s.relation);
        for (what, q) in plan.guards(&ctx, &staged) {
            k += 1;
            b.rule(
                &format!("Guard {k} {}", label(&s.relation)),
                &q,
                &format!("publish guard failed: {what}"),
            );
        }
        let (db, t) = names.sink_table(schema, table);
        needs.write_databases.insert(db.clone());
        needs.read_databases.insert(db.clone());
        needs
            .write_buckets
            .insert(names::CURATED_BUCKET.to_string());
        needs.read_buckets.insert(names::CURATED_BUCKET.to_string());
        let target = D.table(&db, &t);
        let what = label(&format!("{db}.{t}"));
        match &plan.replaces {
            Replaces::Keys(keys) => {
                publish.push(Publish::Query(
                    format!("Merge into {what}"),
                    Stmt {
                        sql: merge(&ctx, &plan, keys, &staged, &target),
                    },
                ));
            }
            _ => {
                for sql in plan.delete_insert(&ctx, &staged, &target) {
                    let verb = if sql.starts_with("DELETE") {
                        "Delete from"
                    } else {
                        "Insert into"
                    };
                    publish.push(Publish::Query(format!("{verb} {what}"), Stmt { sql }));
                }
            }
        }
        // `expire after N`, as `pipec run` does it: after the sink's write, the partitions
        // dated before `@ds - N days` are deleted (an S3 lifecycle rule would delete an Iceberg
        // table's files under its metadata).
        if let Some(days) = s.retention.and_then(|r| r.expire_after_days) {
            match &plan.partition {
                Some(col) => publish.push(Publish::Query(
                    format!("Expire old {what}"),
                    Stmt {
                        sql: expire(&ctx, &target, col, days),
                    },
                )),
                None => diags.push(pipec_emit::unsupported(
                    s.span,
                    &format!("`expire after {days}d` on a sink without a run partition"),
                    TARGET,
                    "only whole partitions expire: use `mode replace` or `mode append` with `partition by <date column>`",
                )),
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    for step in publish {
        match step {
            Publish::Query(name, stmt) => b.run(&name, stmt),
            Publish::Empty { label, prefix } => b.empty_folder(&label, &prefix),
            Publish::Unload(name, stmt) => {
                let retry = b.retry.take();
                b.run(&name, stmt);
                b.retry = retry;
            }
        }
    }
    let staged = std::mem::take(&mut b.staged);
    for (i, table) in staged.iter().enumerate() {
        b.run(
            &format!("Drop staged {}", i + 1),
            Stmt {
                sql: format!("DROP TABLE IF EXISTS {table}"),
            },
        );
    }
    b.chain("Done".into(), json!({"Type": "Succeed"}), None);

    // After a failure: the staging tables dropped (a failed drop does not stop the others),
    // then the alert and `Failed`, with the first error kept at `$.error`.
    b.on_error = report.to_string();
    b.retry = None;
    b.pending.clear();
    b.chain(
        "Clean up".into(),
        json!({"Type": "Pass", "Comment": "drop this execution's staging tables", "ResultPath": null}),
        Some("Next"),
    );
    for (i, table) in staged.iter().enumerate() {
        let name = b.name(&format!("Clean up {}", i + 1));
        let mut state = b.query(
            &Stmt {
                sql: format!("DROP TABLE IF EXISTS {table}"),
            },
            None,
        );
        state["Catch"] =
            json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.cleanup", "Next": "next"}]);
        b.chain(name.clone(), state, Some("Next"));
        // A failed drop goes on with the next one, like success.
        b.pending.push((name, "Catch"));
    }

    // The suffix of this execution's staging tables (a hash of its name: letters and digits)
    // and the results bucket's name (substituted by the template).
    let mut values: Map<String, Value> = Map::new();
    if b.used.contains(STAGE_VAR) {
        values.insert(
            format!("{STAGE_VAR}.$"),
            json!("States.Hash($$.Execution.Name, 'MD5')"),
        );
    }
    for (var, bucket) in PARAMS {
        if let (Some(bucket), true) = (bucket, b.used.contains(var)) {
            values.insert(var.into(), json!(format!("${{{bucket}}}")));
        }
    }
    let next = b.states["Run values"]["Next"].clone();
    b.states.insert(
        "Run values".into(),
        json!({"Type": "Pass", "Parameters": values, "ResultPath": "$.params", "Next": next}),
    );

    if alert {
        let topic = names.alert_topic(p);
        let message = |ds: bool| {
            let mut m = json!({
                "pipeline": p.name,
                "execution.$": "$$.Execution.Id",
                "input.$": "$$.Execution.Input",
                "error.$": "$.error.Error",
                "cause.$": "$.error.Cause",
            });
            if ds {
                // The interval's `ds`, as `pipec run`'s alert names it.
                m["ds.$"] = json!("$.run.ds");
            }
            json!({"Type": "Pass", "Parameters": m, "ResultPath": "$.alert"})
        };
        b.chain("Alert message".into(), message(true), Some("Next"));
        let mut early = message(false);
        early["Next"] = json!("Alert");
        b.states.insert(INTERVAL_ALERT.into(), early);
        b.chain(
            "Alert".into(),
            json!({
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": format!("${{{topic}}}"),
                    "Message.$": "States.JsonToString($.alert)",
                },
                "ResultPath": null,
            }),
            Some("Next"),
        );
    }
    b.chain(
        "Failed".into(),
        json!({"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}),
        None,
    );
    let mut definition = json!({
        "Comment": format!("pipec pipeline {}: one interval per execution", p.name),
        "StartAt": "Interval",
        "States": b.states,
    });
    if let Some(t) = p.timeout_seconds {
        definition["TimeoutSeconds"] = json!(t);
    }
    Ok(Machine {
        definition,
        needs,
        stages,
    })
}

/// The staging table of relation `rel` of `p` in this execution:
/// `pipec_stage.<pipeline>__<relation>_<suffix>` (plain Glue names, unquoted, so that Athena's
/// DDL and DML both read them; the suffix, a hash of the execution's name, is a marked run
/// variable that [`Builder::query_parameters`] splices in).
fn stage_table(p: &Pipeline, rel: &str) -> String {
    format!(
        "{}.{}_{}",
        names::STAGE_DATABASE,
        names::glue_name(&format!("{}__{}", p.name, rel)),
        D.var(STAGE_VAR)
    )
}

/// The S3 folder of relation `rel`'s staging table in this execution (an Iceberg table, so that
/// timestamps keep microseconds; dropping it deletes the folder): under `stage/` in the results
/// bucket, its last part ending in the execution's suffix.
fn stage_location(p: &Pipeline, rel: &str) -> String {
    format!(
        "s3://{}/{}{}_{}/",
        D.var(BUCKET_VAR),
        names::STAGE_PREFIX,
        names::glue_name(&format!("{}__{}", p.name, rel)),
        D.var(STAGE_VAR)
    )
}

/// A relation name in a state name.
fn label(name: &str) -> String {
    name.chars().take(40).collect()
}

/// A file sink on Athena: the key of its folder in the curated bucket, as a `States.Format`
/// call, and the `UNLOAD` of the staged rows into it. `Err`: what cannot be written, and the
/// help.
fn file_sink(
    p: &Pipeline,
    rel: &Relation,
    format: FileFormat,
    path: &str,
    names: &Names,
    staged: &str,
) -> Result<(String, Stmt), (String, &'static str)> {
    if format != FileFormat::Parquet {
        let name = if format == FileFormat::Csv {
            "csv"
        } else {
            "ndjson"
        };
        return Err((
            format!("a `{name}` file sink"),
            "Athena's UNLOAD writes CSV as text without a header or quoting, and JSON in its own text forms of timestamps and decimals, so the file would not be pipec's: write the sink as `parquet(...)` (unloaded with the relation's types), or as a table sink",
        ));
    }
    let key = names.file_sink_key(p, path);
    let pieces = template_pieces(&key, |n| {
        Interval::NAMES
            .contains(&n)
            .then(|| Piece::Var(n.to_string()))
    });
    // The folder's key, literal text and run values, for the listing (`States.Format`) and in
    // the `UNLOAD` (an SQL string literal with marks, which become holes).
    let mut format_text = String::new();
    let mut args: Vec<String> = Vec::new();
    let mut literal = format!("s3://{}/", D.var(CURATED_VAR));
    for piece in &pieces {
        match piece {
            Piece::Text(t) => {
                if t.chars().any(|c| c.is_control()) {
                    return Err((
                        "a file sink path with control characters".into(),
                        "write the path without control characters",
                    ));
                }
                format_text.push_str(&format_escape(t));
                literal.push_str(&t.replace('\'', "''"));
            }
            Piece::Var(v) => {
                format_text.push_str("{}");
                args.push(format!("$.run.{v}"));
                literal.push_str(&D.var(v));
            }
        }
    }
    format_text.push('/');
    literal.push('/');
    let mut prefix = format!("States.Format('{format_text}'");
    for a in &args {
        prefix.push_str(", ");
        prefix.push_str(a);
    }
    prefix.push(')');
    let cols: Vec<String> = rel
        .schema
        .columns
        .iter()
        .map(|c| D.ident(&c.name))
        .collect();
    let unload = Stmt {
        sql: format!(
            "UNLOAD (SELECT {} FROM {staged}) TO '{literal}' WITH (format = 'PARQUET', compression = 'SNAPPY')",
            cols.join(", ")
        ),
    };
    Ok((prefix, unload))
}

/// The `DELETE` of `expire after days` on table `target` partitioned by `col`: the rows dated
/// before the run's `ds` minus `days` days.
fn expire(ctx: &Ctx, target: &str, col: &str, days: u32) -> String {
    format!(
        "DELETE FROM {target} WHERE {} < date_add('day', -{days}, {})",
        D.ident(col),
        ctx.param(pipec_check::ir::RunParam::Ds)
    )
}

/// `MERGE INTO` of a `merge` sink: a run row replaces the target row with the same keys (null
/// matching null) in the run's partition, when partitioned; the other run rows are inserted.
fn merge(ctx: &Ctx, plan: &SinkPlan, keys: &[String], staged: &str, target: &str) -> String {
    let cols = plan.table_columns();
    let mut on: Vec<String> = keys
        .iter()
        .map(|k| format!("t.{0} IS NOT DISTINCT FROM s.{0}", D.ident(k)))
        .collect();
    if let Some(part) = &plan.partition {
        on.push(format!(
            "t.{} = {}",
            D.ident(part),
            ctx.param(pipec_check::ir::RunParam::Ds)
        ));
    }
    let fixed = |c: &str| keys.iter().any(|k| k == c) || plan.partition.as_deref() == Some(c);
    let mut set: Vec<String> = cols
        .iter()
        .filter(|c| !fixed(&c.name))
        .map(|c| format!("{0} = s.{0}", D.ident(&c.name)))
        .collect();
    if set.is_empty() {
        set.push(format!("{0} = s.{0}", D.ident(&keys[0])));
    }
    let names: Vec<String> = cols.iter().map(|c| D.ident(&c.name)).collect();
    let values: Vec<String> = names.iter().map(|n| format!("s.{n}")).collect();
    format!(
        "MERGE INTO {target} AS t USING ({}) AS s ON ({}) WHEN MATCHED THEN UPDATE SET {} WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})",
        plan.new_rows(ctx, staged, target),
        on.join(" AND "),
        set.join(", "),
        names.join(", "),
        values.join(", ")
    )
}

/// The `SELECT` of source `rel`: its rows of the run, converted to the declared types.
fn source(
    p: &Pipeline,
    rel: &Relation,
    src: &Source,
    project: &Project,
    names: &Names,
    b: &mut Builder,
    needs: &mut Needs,
) -> Result<Stmt, Diagnostic> {
    let unsupported =
        |what: &str, help: &str| pipec_emit::unsupported(rel.span, what, TARGET, help);
    let raw = || {
        format!(
            "{}.{}",
            D.ident(names::RAW_DATABASE),
            D.ident(&names.raw_table(p, &rel.name))
        )
    };
    // The raw table restricted to the run's partition (each key equal to its run value).
    let from_raw = |src: &Source| {
        let filter: Vec<String> = raw_partitions(src)
            .iter()
            .map(|(k, v)| format!("{} = {}", D.ident(k), D.var(v)))
            .collect();
        if filter.is_empty() {
            raw()
        } else {
            format!("{} WHERE {}", raw(), filter.join(" AND "))
        }
    };
    let text_stmt = |src: &Source, text: &dyn Fn(&str) -> String| Stmt {
        sql: text_select(rel, &from_raw(src), text),
    };
    match src {
        Source::File {
            format, options: fo, ..
        } => {
            needs.read_databases.insert(names::RAW_DATABASE.to_string());
            needs.read_buckets.insert(names::RAW_BUCKET.to_string());
            if fo.on_error == pipec_check::ir::OnError::Reject {
                return Err(unsupported(
                    "`on_error = \"reject\"`",
                    "Athena cannot set rows aside while reading: fix the data upstream, or read the column as `string` and filter the bad rows out in a transform",
                ));
            }
            if let Some(csv) = &fo.csv {
                if csv.skip > 0 {
                    return Err(unsupported(
                        "`skip` in a csv source",
                        "the raw table skips the header line only: remove the other lines upstream",
                    ));
                }
            }
            Ok(match format {
                FileFormat::Csv => {
                    let nulls = fo.csv.clone().unwrap_or_default().nulls;
                    text_stmt(src, &|c: &str| csv_text(c, &nulls))
                }
                FileFormat::Ndjson => text_stmt(src, &|c: &str| c.to_string()),
                FileFormat::Parquet => Stmt {
                    sql: typed_select(rel, &from_raw(src)),
                },
            })
        }
        Source::Http { .. } | Source::Postgres { .. } => {
            needs.read_databases.insert(names::RAW_DATABASE.to_string());
            needs.read_buckets.insert(names::RAW_BUCKET.to_string());
            let function = names.source_function(p, &rel.name);
            needs.functions.insert(function.clone());
            let name = b.name(&format!("Fetch {}", label(&rel.name)));
            let mut state = b.task(
                "arn:aws:states:::lambda:invoke",
                json!({"FunctionName": format!("${{{function}}}"), "Payload": {"run.$": "$.run"}}),
            );
            state["ResultPath"] = Value::Null;
            b.chain(name, state, Some("Next"));
            Ok(text_stmt(src, &|c: &str| c.to_string()))
        }
        Source::Stream { system, .. } if system == "kinesis" => {
            needs.read_databases.insert(names::RAW_DATABASE.to_string());
            needs.read_buckets.insert(names::RAW_BUCKET.to_string());
            Ok(text_stmt(src, &|c: &str| c.to_string()))
        }
        Source::Stream { system, .. } => Err(unsupported(
            &format!("a `{system}` stream source"),
            "on AWS, read events from a `kinesis` source (a Kinesis stream landed in the raw bucket by Firehose)",
        )),
        Source::Table { table } => {
            let (schema, name) = project.sink_table_name(table);
            let (db, t) = names.sink_table(&schema, &name);
            needs.read_databases.insert(db.clone());
            needs.read_buckets.insert(names::CURATED_BUCKET.to_string());
            Ok(Stmt {
                sql: typed_select(rel, &D.table(&db, &t)),
            })
        }
        Source::Calendar { from, to } => {
            let day = rel
                .schema
                .columns
                .first()
                .map_or("day".to_string(), |c| c.name.clone());
            Ok(Stmt {
                sql: format!(
                    "SELECT d AS {} FROM UNNEST(sequence(DATE {}, DATE {}, INTERVAL '1' DAY)) AS u (d)",
                    D.ident(&day),
                    D.string(from),
                    D.string(to)
                ),
            })
        }
    }
}

/// The text of a CSV column (every raw CSV column is `string`; the serde reads an empty field
/// as the empty string): null when it is one of the source's null texts.
fn csv_text(c: &str, nulls: &[String]) -> String {
    if nulls.is_empty() {
        return c.to_string();
    }
    let list: Vec<String> = nulls.iter().map(|n| D.string(n)).collect();
    format!(
        "CASE WHEN {c} IN ({}) THEN NULL ELSE {c} END",
        list.join(", ")
    )
}

/// A failure of the query naming `message` when evaluated: the text cannot be cast to an
/// integer (the row's value is part of it, so that no optimizer evaluates it ahead of time).
fn failure(message: &str, row_value: &str) -> String {
    format!(
        "CAST(concat({}, coalesce(CAST({row_value} AS VARCHAR), '')) AS INTEGER)",
        D.string(message)
    )
}

/// A regular expression matching the texts `pipec run` reads as a number with at most `scale`
/// fractional digits besides trailing zeros.
fn exact_pattern(scale: u8) -> String {
    let ws = "[ \\t\\n\\f\\r]*";
    let fraction = if scale == 0 {
        "\\.0+".to_string()
    } else {
        format!("\\.[0-9]{{1,{scale}}}0*")
    };
    format!("^{ws}[+-]?([0-9]+(\\.[0-9]{{0,{scale}}}0*)?|{fraction}){ws}$")
}

/// Text `t` as type `ty`, exactly as `pipec run` reads it: a text that does not convert fails
/// the query (Athena's casts fail on bad text; integers and decimals are first matched against
/// [`exact_pattern`], since a cast would round `3.7`).
fn convert(t: &str, ty: Type, what: &str) -> String {
    let exact = |scale: u8, target: String| {
        format!(
            "CASE WHEN {t} IS NULL THEN NULL WHEN regexp_like({t}, {}) THEN CAST(CAST(trim({t}) AS DECIMAL(38, {scale})) AS {target}) ELSE {} END",
            D.string(&exact_pattern(scale)),
            failure(&format!("pipec [E0501] a value that does not fit {what}: "), t)
        )
    };
    match ty {
        Type::Int | Type::BigInt => exact(0, D.type_sql(ty)),
        Type::Decimal(_, s) => exact(s, D.type_sql(ty)),
        // ISO 8601 with `T` or a space between date and time.
        Type::Timestamp => format!(
            "CAST(CASE WHEN substr({t}, 11, 1) = 'T' THEN concat(substr({t}, 1, 10), ' ', substr({t}, 12)) ELSE {t} END AS {})",
            D.type_sql(ty)
        ),
        Type::Float | Type::Bool | Type::Date => format!("CAST({t} AS {})", D.type_sql(ty)),
        Type::String | Type::Json | Type::Null | Type::Interval => t.to_string(),
    }
}

/// `SELECT` of the rows `from` (a table and filter) of a raw table whose columns are text
/// (`text` gives a column's text from its quoted name): each converted to its type; a null in a
/// non-null column fails the query.
fn text_select(rel: &Relation, from: &str, text: impl Fn(&str) -> String) -> String {
    let cols = &rel.schema.columns;
    let texts: Vec<String> = cols
        .iter()
        .map(|c| {
            let n = D.ident(&c.name);
            format!("{} AS {n}", text(&n))
        })
        .collect();
    let values: Vec<String> = cols
        .iter()
        .map(|c| {
            let n = D.ident(&c.name);
            let what = format!("the column {} ({}) of source `{}`", c.name, c.ty, rel.name);
            format!("{} AS {n}", convert(&n, c.ty, &what))
        })
        .collect();
    checked(
        rel,
        &format!(
            "SELECT {} FROM (SELECT {} FROM {from}) AS r",
            values.join(", "),
            texts.join(", ")
        ),
    )
}

/// `SELECT` of the rows `from` of a typed table (Parquet, an Iceberg table): each declared
/// column cast to its type, a null in a non-null column failing the query.
fn typed_select(rel: &Relation, from: &str) -> String {
    let values: Vec<String> = rel
        .schema
        .columns
        .iter()
        .map(|c| {
            let n = D.ident(&c.name);
            format!("CAST({n} AS {}) AS {n}", D.type_sql(c.ty))
        })
        .collect();
    checked(rel, &format!("SELECT {} FROM {from}", values.join(", ")))
}

/// The rows of `values` (typed columns of `rel`), failing the query on a null in a non-null
/// column.
fn checked(rel: &Relation, values: &str) -> String {
    let cols: Vec<String> = rel
        .schema
        .columns
        .iter()
        .map(|c| {
            let n = D.ident(&c.name);
            if c.nullable {
                return n;
            }
            let fail = failure(
                &format!(
                    "pipec [E0502] null in the non-null column {} ({}) of source `{}`",
                    c.name, c.ty, rel.name
                ),
                &n,
            );
            format!(
                "CASE WHEN {n} IS NULL THEN CAST({fail} AS {}) ELSE {n} END AS {n}",
                D.type_sql(c.ty)
            )
        })
        .collect();
    format!("SELECT {} FROM ({values}) AS v", cols.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_partitions_follow_path_placeholders() {
        let src = Source::File {
            format: FileFormat::Csv,
            path: "data/{ds}/{hh}/x-{ds}.csv".into(),
            options: pipec_check::ir::FileOptions {
                on_error: Default::default(),
                compression: Default::default(),
                glob: false,
                allow_empty: false,
                csv: None,
                retention: None,
            },
        };
        assert_eq!(
            raw_partitions(&src),
            vec![
                ("pipec_ds".to_string(), "ds".to_string()),
                ("pipec_hh".to_string(), "hh".to_string())
            ]
        );
    }

    fn builder() -> Builder {
        Builder {
            states: Map::new(),
            taken: BTreeSet::new(),
            pending: Vec::new(),
            retry: None,
            on_error: "Failed".into(),
            used: BTreeSet::new(),
            staged: Vec::new(),
        }
    }

    #[test]
    fn run_values_and_stage_names_are_format_arguments() {
        let mut b = builder();
        let stage = format!("pipec_stage.p__x_{}", D.var(STAGE_VAR));
        let sql = format!(
            "SELECT 'it''s {{x}} ${{AthenaResultsBucket}} ? \\', {} FROM {stage} WHERE d = {} AND l = 's3://{}/a_{}/'",
            D.quote(&[Piece::Text("a/".into()), Piece::Var("ds".into())]),
            Ctx::vars(D).param(pipec_check::ir::RunParam::Start),
            D.var(BUCKET_VAR),
            D.var(STAGE_VAR)
        );
        let params = b.query_parameters(&Stmt { sql });
        assert!(params.get("ExecutionParameters").is_none());
        assert!(params.get("ExecutionParameters.$").is_none());
        let f = params["QueryString.$"].as_str().unwrap();
        assert_eq!(
            f,
            "States.Format('SELECT \\'it\\'\\'s \\{x\\} $\\{AthenaResultsBucket\\} ? \\\\\\', (\\'a/\\' || \\'{}\\') FROM pipec_stage.p__x_{} WHERE d = CAST(\\'{}\\' AS TIMESTAMP(6)) AND l = \\'s3://{}/a_{}/\\'', $.run.ds, $.params.stage, $.run.start, $.params.bucket, $.params.stage)"
        );
        let state = json!({"Resource": "arn:aws:states:::athena:startQueryExecution.sync", "Parameters": params});
        let q = crate::asl::athena_query(&state).unwrap();
        assert_eq!(crate::asl::placeholders(&q), 0);
        let filled = ["2024-01-01", "abc", "2024-01-01 05:00:00", "bkt", "abc"]
            .iter()
            .fold(q, |q, v| q.replacen("{}", v, 1));
        assert_eq!(
            filled,
            "SELECT 'it''s {x} ${AthenaResultsBucket} ? \\', ('a/' || '2024-01-01') FROM pipec_stage.p__x_abc WHERE d = CAST('2024-01-01 05:00:00' AS TIMESTAMP(6)) AND l = 's3://bkt/a_abc/'"
        );
        assert!(
            crate::asl::graph_problems(&json!({"StartAt": "A", "States": {"A": {
            "Type": "Task", "Resource": "arn:aws:states:::athena:startQueryExecution.sync",
            "Parameters": state["Parameters"], "End": true}}}))
            .is_empty()
        );
        assert_eq!(
            b.used.iter().collect::<Vec<_>>(),
            ["bucket", "ds", "stage", "start"]
        );
    }

    #[test]
    fn user_text_never_reaches_definition_substitutions() {
        let mut b = Builder {
            states: Map::new(),
            taken: BTreeSet::new(),
            pending: Vec::new(),
            retry: None,
            on_error: "Failed".into(),
            used: BTreeSet::new(),
            staged: Vec::new(),
        };
        let q = CheckQuery {
            sql: "SELECT count(*) AS n FROM t".into(),
            fails: pipec_sql::checks::FailsWhen::Positive,
        };
        b.rule(
            "Check 1 s",
            &q,
            "check on `s` failed: accepted_values(v, [\"${ds}\"])",
        );
        let failed = &b.states["Check 1 s: failed"];
        assert_eq!(
            failed["Parameters"]["Cause.$"],
            "States.Format('check on `s` failed: accepted_values(v, [\"$\\{ds\\}\"])')"
        );
        assert!(!serde_json::to_string(&b.states).unwrap().contains("${ds"));
    }

    #[test]
    fn exact_numbers() {
        assert_eq!(
            exact_pattern(2),
            "^[ \\t\\n\\f\\r]*[+-]?([0-9]+(\\.[0-9]{0,2}0*)?|\\.[0-9]{1,2}0*)[ \\t\\n\\f\\r]*$"
        );
        assert!(exact_pattern(0).contains("|\\.0+)"));
    }
}
