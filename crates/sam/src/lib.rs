//! The AWS SAM target of `pipec emit`: one serverless stack for every pipeline emitted
//! together, `template.yaml` (`Transform: AWS::Serverless-2016-10-31`), with the Lambda code
//! beside it under `functions/<kind>/` and `manifest.json`.
//!
//! The stack: three buckets (raw zone, curated zone, Athena results), a Glue database per
//! warehouse schema plus `pipec_raw` and `pipec_stage`, one Glue table per file, HTTP,
//! PostgreSQL and stream source (raw zone) and one Iceberg table per table sink, an Athena
//! workgroup; per pipeline a Step Functions state machine running Athena queries
//! (`statemachine.rs`), its role (exactly what the definition uses), its triggers (EventBridge
//! Scheduler, or EventBridge rules for `after` and `on file`), Lambda functions (interval,
//! `http`/`postgres` ingestion, Slack alerts), an SNS alert topic and Kinesis + Firehose for
//! stream sources. docs/targets.md describes the mapping and what was verified.

pub mod asl;
mod names;
mod statemachine;
mod template;
mod yaml;

use std::collections::BTreeSet;

use pipec_check::ir::{Pipeline, Project, SinkTarget};
use pipec_diag::Diagnostic;
use pipec_emit::{File, Manifest, Options, Output, PipelineEntry};
use pipec_plan::Plan;
use pipec_sql::Dialect;

pub use yaml::to_yaml;

/// The target's name in diagnostics.
pub(crate) const TARGET: &str = "AWS SAM";

/// The stack name the manifest's run commands look the state machines up in.
pub const DEFAULT_STACK: &str = "pipec";

/// How records reach a `kinesis` source's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ingest {
    /// Producers call Kinesis `PutRecord(s)` with the AWS SDK.
    #[default]
    Direct,
    /// A REST API (`PUT /records`, SigV4) puts each request body into the stream.
    ApiGateway,
}

/// Settings of the SAM target.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// How stream records are ingested.
    pub ingest: Ingest,
}

/// The Lambda packages: kind, file name, contents (copied unchanged to `functions/<kind>/`).
const FUNCTIONS: &[(&str, &str, &str)] = &[
    ("http", "app.py", include_str!("../functions/http/app.py")),
    (
        "interval",
        "app.py",
        include_str!("../functions/interval/app.py"),
    ),
    (
        "interval",
        "requirements.txt",
        include_str!("../functions/interval/requirements.txt"),
    ),
    (
        "postgres",
        "app.py",
        include_str!("../functions/postgres/app.py"),
    ),
    (
        "postgres",
        "requirements.txt",
        include_str!("../functions/postgres/requirements.txt"),
    ),
    ("slack", "app.py", include_str!("../functions/slack/app.py")),
];

/// The stack of `project` as CloudFormation JSON (what `template.yaml` holds), for tools that
/// read it (`pipec cost`).
pub fn template(
    project: &Project,
    plan: &Plan,
    options: &Options,
    settings: &Settings,
) -> Result<serde_json::Value, Vec<Diagnostic>> {
    let order = pipec_emit::pipeline_order(project, plan);
    template::stack(project, &order, options, settings).map(|s| s.template)
}

/// The Athena statement the state machine of `p` stages relation `relation` (a source or
/// transform) with, as `emit` writes it, with run values as marked variables
/// ([`pipec_sql::MARK`]; [`pipec_sql::parameters`] turns them into `?` parameters). `None` for
/// an unknown name.
pub fn relation_sql(
    project: &Project,
    p: &Pipeline,
    relation: &str,
    options: &Options,
) -> Option<Result<String, Vec<Diagnostic>>> {
    p.relation(relation)?;
    let names = names::Names::of(project);
    let machine = match statemachine::definition(p, project, &names, options) {
        Ok(m) => m,
        Err(d) => return Some(Err(d)),
    };
    machine
        .stages
        .into_iter()
        .find(|(name, _)| name == relation)
        .map(|(_, sql)| Ok(sql))
}

/// Rewrites each upload's local absolute `from` as a path relative to `out_dir` (the emit
/// folder, absolute), where the manifest's commands run; URIs (`--base s3://...`) stay.
pub fn relative_uploads(manifest: &mut Manifest, out_dir: &str) {
    for p in &mut manifest.pipelines {
        for u in &mut p.uploads {
            if u.from.starts_with('/') {
                u.from = relative_path(out_dir, &u.from);
            }
        }
    }
}

/// The `/`-separated path from absolute folder `from` to absolute path `to`, lexically.
fn relative_path(from: &str, to: &str) -> String {
    let parts = |p: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in p.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    out.pop();
                }
                c => out.push(c.to_string()),
            }
        }
        out
    };
    let (a, b) = (parts(from), parts(to));
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut rel: Vec<&str> = vec![".."; a.len() - common];
    rel.extend(b[common..].iter().map(String::as_str));
    if rel.is_empty() {
        ".".into()
    } else {
        rel.join("/")
    }
}

/// The manifest note of a `catchup true` pipeline: neither EventBridge Scheduler nor an
/// EventBridge rule ever starts executions for intervals that passed before it existed.
fn catchup_note(p: &Pipeline) -> Option<String> {
    if !p.catchup {
        return None;
    }
    let since = p
        .start
        .as_deref()
        .map(|d| format!("from {d}"))
        .unwrap_or_else(|| "before the stack was deployed".into());
    Some(format!(
        "catchup true: AWS never runs the missed intervals ({since}) of this state machine; backfill them with `run`, once per interval, upstream pipelines first"
    ))
}

/// Emits the stack of every pipeline of `project`: `template.yaml`, the Lambda code it uses
/// and the manifest. Every problem of every pipeline is reported at once.
pub fn emit(
    project: &Project,
    plan: &Plan,
    options: &Options,
    settings: &Settings,
) -> Result<Output, Vec<Diagnostic>> {
    let order = pipec_emit::pipeline_order(project, plan);
    let mut diags = Vec::new();
    for p in &order {
        diags.extend(pipec_emit::check_functions(p, Dialect::Athena, TARGET));
    }
    let stack = match template::stack(project, &order, options, settings) {
        Ok(s) => s,
        Err(d) => {
            diags.extend(d);
            return Err(diags);
        }
    };
    if !diags.is_empty() {
        return Err(diags);
    }
    let specs: BTreeSet<&str> = order.iter().map(|p| p.file.as_str()).collect();
    let specs: Vec<&str> = specs.into_iter().collect();
    let mut text = pipec_emit::header("#", &specs.join(", ").replace('\n', " "));
    text.push_str(&to_yaml(&stack.template));
    let mut files = vec![File {
        path: "template.yaml".into(),
        contents: text,
    }];
    let used: BTreeSet<&str> = stack.kinds.values().flatten().copied().collect();
    for (kind, name, contents) in FUNCTIONS {
        if used.contains(kind) {
            let path = format!("functions/{kind}/{name}");
            // Every file says where it comes from (the Python files say it themselves).
            let contents = if contents.starts_with("# generated by pipec") {
                (*contents).to_string()
            } else {
                format!(
                    "{}{contents}",
                    pipec_emit::header("#", &format!("crates/sam/{path}"))
                )
            };
            files.push(File { path, contents });
        }
    }
    let names = names::Names::of(project);
    let mut pipelines = Vec::new();
    for p in &order {
        let mut own = vec!["template.yaml".to_string()];
        for (kind, name, _) in FUNCTIONS {
            if stack.kinds.get(&p.name).is_some_and(|k| k.contains(kind)) {
                own.push(format!("functions/{kind}/{name}"));
            }
        }
        let output = format!("{}StateMachineArn", names.prefix(p));
        let run = format!(
            "aws stepfunctions start-execution --state-machine-arn \"$(aws cloudformation describe-stacks --stack-name \"$PIPEC_STACK\" --query \"Stacks[0].Outputs[?OutputKey=='{output}'].OutputValue\" --output text)\" --input '{{\"start\":\"{{start}}\"}}'"
        );
        let mut env = std::collections::BTreeMap::new();
        env.insert("PIPEC_STACK".to_string(), DEFAULT_STACK.to_string());
        pipelines.push(PipelineEntry {
            name: p.name.clone(),
            file: p.file.clone(),
            files: own,
            sinks: p
                .sinks
                .iter()
                .filter_map(|s| match &s.target {
                    SinkTarget::Table { schema, table } => Some(format!("{schema}.{table}")),
                    SinkTarget::File { .. } => None,
                })
                .collect(),
            run,
            env,
            uploads: stack.uploads.get(&p.name).cloned().unwrap_or_default(),
            notes: catchup_note(p).into_iter().collect(),
        });
    }
    Ok(Output {
        files,
        manifest: Manifest {
            version: 1,
            target: "sam".into(),
            profile: None,
            pipelines,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_paths_relative_to_the_emit_folder() {
        assert_eq!(
            relative_path("/w/out", "/w/examples/a/{ds}.csv"),
            "../examples/a/{ds}.csv"
        );
        assert_eq!(relative_path("/w/out/", "/w/out/data/x.csv"), "data/x.csv");
        assert_eq!(relative_path("/tmp/x/../o", "/w/a.csv"), "../../w/a.csv");
        assert_eq!(relative_path("/", "/a/b"), "a/b");
        let mut m = Manifest {
            version: 1,
            target: "sam".into(),
            profile: None,
            pipelines: vec![PipelineEntry {
                name: "p".into(),
                file: "p.pipe".into(),
                files: vec![],
                sinks: vec![],
                run: String::new(),
                env: Default::default(),
                uploads: ["/w/d/{ds}.csv", "s3://lake/d/{ds}.csv"]
                    .iter()
                    .map(|f| pipec_emit::Upload {
                        from: (*f).into(),
                        to: "k".into(),
                        table: "t".into(),
                    })
                    .collect(),
                notes: vec![],
            }],
        };
        relative_uploads(&mut m, "/w/out");
        let froms: Vec<&str> = m.pipelines[0]
            .uploads
            .iter()
            .map(|u| u.from.as_str())
            .collect();
        assert_eq!(froms, ["../d/{ds}.csv", "s3://lake/d/{ds}.csv"]);
    }
}
