//! The resources of the stack: buckets, the Glue catalog, the Athena workgroup and, per
//! pipeline, its state machine with role and triggers, Lambda functions, alert topic and stream
//! ingestion. Built as a `serde_json::Value` (CloudFormation's JSON form; intrinsics in their
//! long form, `{"Ref": ...}`, `{"Fn::Sub": ...}`), rendered to YAML by `yaml.rs`.

use std::collections::{BTreeMap, BTreeSet};

use pipec_check::ir::{
    Alert, FileFormat, Pipeline, Project, RelationKind, Retention, Schedule, Sink, SinkTarget,
    Source, StorageClass, Type, Value as IrValue,
};
use pipec_diag::{codes, Diagnostic, Span};
use pipec_emit::{Options, Upload};
use pipec_sql::sinks::SinkPlan;
use serde_json::{json, Map, Value};

use crate::names::{self, Names};
use crate::statemachine;
use crate::{Ingest, Settings, TARGET};

/// The Lambda runtime of every function.
const RUNTIME: &str = "python3.12";

/// What the template needs besides its JSON: the Lambda kinds used and each pipeline's uploads.
pub(crate) struct Stack {
    /// The template.
    pub template: Value,
    /// Function kinds (`interval`, `http`, `postgres`, `slack`) used, per pipeline.
    pub kinds: BTreeMap<String, BTreeSet<&'static str>>,
    /// Files each pipeline's file sources read, as a deployment uploads them.
    pub uploads: BTreeMap<String, Vec<Upload>>,
}

/// Builds the stack of `project`'s pipelines (`pipelines` in emit order).
pub(crate) fn stack(
    project: &Project,
    pipelines: &[&Pipeline],
    options: &Options,
    settings: &Settings,
) -> Result<Stack, Vec<Diagnostic>> {
    let names = Names::of(project);
    let mut b = Builder {
        names: &names,
        options,
        settings,
        resources: Map::new(),
        outputs: Map::new(),
        diags: Vec::new(),
        databases: BTreeSet::new(),
        raw_rules: Vec::new(),
        curated_rules: Vec::new(),
        raw_events: false,
        kinds: BTreeMap::new(),
        uploads: BTreeMap::new(),
    };
    b.databases.insert(names::RAW_DATABASE.to_string());
    b.databases.insert(names::STAGE_DATABASE.to_string());
    for p in pipelines {
        b.pipeline(p, project);
    }
    if !b.diags.is_empty() {
        return Err(b.diags);
    }
    b.shared();
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": format!(
            "pipec stack: {}",
            pipelines.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
        "Resources": Value::Object(b.resources),
        "Outputs": Value::Object(b.outputs),
    });
    Ok(Stack {
        template,
        kinds: b.kinds,
        uploads: b.uploads,
    })
}

/// Collects resources while walking the pipelines.
struct Builder<'a> {
    names: &'a Names,
    options: &'a Options,
    settings: &'a Settings,
    resources: Map<String, Value>,
    outputs: Map<String, Value>,
    diags: Vec<Diagnostic>,
    /// Glue databases to declare.
    databases: BTreeSet<String>,
    /// Lifecycle rules of the raw and curated buckets.
    raw_rules: Vec<Value>,
    curated_rules: Vec<Value>,
    /// Whether the raw bucket sends events to EventBridge (an `on file` schedule).
    raw_events: bool,
    kinds: BTreeMap<String, BTreeSet<&'static str>>,
    uploads: BTreeMap<String, Vec<Upload>>,
}

/// `Fn::Sub` of `text` (which may use `${Logical}` and `${AWS::...}`).
fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

/// `text` as literal text inside an `Fn::Sub` string: `${` becomes `${!`.
fn lit(text: &str) -> String {
    text.replace("${", "${!")
}

/// `Ref` of a logical id.
fn r#ref(id: &str) -> Value {
    json!({ "Ref": id })
}

/// `Fn::GetAtt` of a logical id's attribute.
fn get_att(id: &str, attr: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attr] })
}

/// An IAM policy statement allowing `actions` on `resources`.
fn allow(sid: &str, actions: &[&str], resources: Vec<Value>) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// The ARN of the secret named `name` (any version suffix Secrets Manager adds).
fn secret_arn(name: &str) -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{}-??????",
        lit(name)
    ))
}

/// The Glue (Hive) type of a column type, `None` for types Glue has none for.
fn glue_type(t: Type) -> Option<String> {
    Some(match t {
        Type::Int => "int".into(),
        Type::BigInt => "bigint".into(),
        Type::Float => "double".into(),
        Type::Decimal(p, s) => format!("decimal({p},{s})"),
        Type::Bool => "boolean".into(),
        Type::String | Type::Json | Type::Null => "string".into(),
        Type::Date => "date".into(),
        Type::Timestamp => "timestamp".into(),
        Type::Interval => return None,
    })
}

/// A column name as Glue stores it (lowercase), or `None` when Glue's name pattern refuses it
/// (control characters other than tab, or empty).
fn glue_column(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c == '\t' || (c >= ' ' && !matches!(c as u32, 0xfffe | 0xffff)));
    ok.then(|| name.to_lowercase())
}

/// Placeholders of a path template in order of first occurrence (`ds`, `hh`, ...).
fn placeholders(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        let Some(j) = rest[i..].find('}') else { break };
        let name = &rest[i + 1..i + j];
        if !name.is_empty() && !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
        rest = &rest[i + j + 1..];
    }
    out
}

/// Partition projection settings of a placeholder used as the partition key `pipec_<name>`.
fn projection(name: &str, params: &mut Map<String, Value>) {
    let key = format!("projection.pipec_{name}");
    let mut set = |k: &str, v: &str| {
        params.insert(format!("{key}.{k}"), json!(v));
    };
    match name {
        "ds" | "ds_nodash" => {
            set("type", "date");
            set(
                "format",
                if name == "ds" {
                    "yyyy-MM-dd"
                } else {
                    "yyyyMMdd"
                },
            );
            set("range", "2000-01-01,NOW+1DAYS");
            set("interval", "1");
            set("interval.unit", "DAYS");
            if name == "ds_nodash" {
                params.insert(format!("{key}.range"), json!("20000101,NOW+1DAYS"));
            }
        }
        "yyyy" => {
            set("type", "integer");
            set("range", "2000,2999");
            set("digits", "4");
        }
        "mm" => {
            set("type", "integer");
            set("range", "1,12");
            set("digits", "2");
        }
        "dd" => {
            set("type", "integer");
            set("range", "1,31");
            set("digits", "2");
        }
        "hh" => {
            set("type", "integer");
            set("range", "0,23");
            set("digits", "2");
        }
        _ => set("type", "injected"),
    }
}

/// The key prefix of a path template up to its first placeholder or glob character, cut back
/// to a whole folder.
fn static_prefix(path: &str) -> String {
    let end = path.find(['{', '*', '?', '[']).unwrap_or(path.len());
    match path[..end].rfind('/') {
        Some(i) => path[..=i].to_string(),
        None => String::new(),
    }
}

/// A path as a key in a stack bucket: `./`, `/` and a `scheme://bucket/` prefix removed.
pub(crate) fn path_key(path: &str) -> String {
    let p = match path.find("://") {
        Some(i) => match path[i + 3..].find('/') {
            Some(j) => &path[i + 3 + j + 1..],
            None => "",
        },
        None => path,
    };
    let p = p.trim_start_matches("./").trim_start_matches('/');
    p.to_string()
}

impl Builder<'_> {
    fn error(&mut self, code: pipec_diag::Code, span: Span, msg: String, help: &str) {
        self.diags.push(
            Diagnostic::error(code, span, msg, "not expressible on AWS SAM")
                .with_help(help.to_string()),
        );
    }

    fn add(&mut self, id: &str, resource: Value) {
        self.resources.insert(id.to_string(), resource);
    }

    /// Glue columns of `schema`'s columns (`all_string`: every column `string`, as raw text).
    fn columns(
        &mut self,
        cols: &[pipec_check::ir::Column],
        all_string: bool,
        span: Span,
        what: &str,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        for c in cols {
            let Some(name) = glue_column(&c.name) else {
                self.error(
                    codes::SAM_NAME,
                    span,
                    format!("column {:?} of {what} cannot be a Glue column name", c.name),
                    "Glue column names cannot hold line breaks or other control characters; rename the column",
                );
                continue;
            };
            let ty = if all_string {
                Some("string".to_string())
            } else {
                glue_type(c.ty)
            };
            match ty {
                Some(ty) => out.push(json!({ "Name": name, "Type": ty })),
                None => self.error(
                    codes::SAM_TYPE,
                    span,
                    format!("column `{}` of {what} has type `{}`, which Glue and Athena tables cannot hold", c.name, c.ty),
                    "cast the column to a string or a number (e.g. seconds) before writing it",
                ),
            }
        }
        out
    }

    /// Lifecycle rules for data under `prefix` with `retention`.
    fn lifecycle(&mut self, id: &str, prefix: &str, retention: &Retention) -> Value {
        let mut rule = Map::new();
        rule.insert("Id".into(), json!(id));
        rule.insert("Status".into(), json!("Enabled"));
        rule.insert("Prefix".into(), json!(prefix));
        if let Some(a) = &retention.archive {
            rule.insert(
                "Transitions".into(),
                json!([{ "StorageClass": a.class.s3_name(), "TransitionInDays": a.after_days }]),
            );
        }
        if let Some(days) = retention.expire_after_days {
            rule.insert("ExpirationInDays".into(), json!(days));
        }
        Value::Object(rule)
    }

    /// Everything of one pipeline.
    fn pipeline(&mut self, p: &Pipeline, project: &Project) {
        let names = self.names;
        let prefix = names.prefix(p);
        let kinds = self.kinds.entry(p.name.clone()).or_default();
        kinds.insert("interval");

        // Sources.
        for rel in &p.relations {
            let RelationKind::Source(src) = &rel.kind else {
                continue;
            };
            match src {
                Source::File {
                    format,
                    path,
                    options,
                } => self.file_source(p, rel, *format, path, options),
                Source::Http { url, options } => {
                    let Ok(Value::Object(mut cfg)) = serde_json::to_value(options) else {
                        unreachable!("HttpOptions serializes to an object")
                    };
                    cfg.remove("fallback");
                    cfg.insert("pipeline".into(), json!(p.name));
                    cfg.insert("source".into(), json!(rel.name));
                    cfg.insert("url".into(), json!(url));
                    let raw = names.raw_prefix(p, &rel.name);
                    let fallback_key = options.fallback.as_ref().map(|f| {
                        let key = format!("{raw}_fallback/{}", f.rsplit('/').next().unwrap_or(f));
                        self.uploads.entry(p.name.clone()).or_default().push(Upload {
                            from: self.options.resolve(&p.file, f),
                            to: key.clone(),
                            table: String::new(),
                        });
                        key
                    });
                    cfg.insert("fallback_key".into(), json!(fallback_key));
                    cfg.insert("columns".into(), json!(rel.schema.names().collect::<Vec<_>>()));
                    cfg.insert("key".into(), json!(format!("{raw}pipec_run={{start}}/rows.ndjson")));
                    let secrets: Vec<String> = [&options.bearer, &options.api_key]
                        .into_iter()
                        .flatten()
                        .filter_map(|v| match v {
                            IrValue::Secret(n) => Some(n.clone()),
                            _ => None,
                        })
                        .collect();
                    let mut reads = vec![];
                    if let Some(k) = &fallback_key {
                        reads.push(k.clone());
                    }
                    self.ingest_function(p, &rel.name, "http", Value::Object(cfg), &secrets, &raw, &reads);
                    self.lambda_raw_table(p, rel);
                    self.kinds.entry(p.name.clone()).or_default().insert("http");
                }
                Source::Postgres {
                    dsn,
                    read,
                    incremental,
                } => {
                    let raw = names.raw_prefix(p, &rel.name);
                    let mut cfg = Map::new();
                    cfg.insert("pipeline".into(), json!(p.name));
                    cfg.insert("source".into(), json!(rel.name));
                    cfg.insert("dsn".into(), json!(dsn));
                    cfg.insert("read".into(), json!(read));
                    cfg.insert("columns".into(), json!(rel.schema.names().collect::<Vec<_>>()));
                    cfg.insert("incremental".into(), json!(incremental));
                    cfg.insert("key".into(), json!(format!("{raw}pipec_run={{start}}/rows.ndjson")));
                    cfg.insert("watermark_key".into(), json!(format!("{raw}_watermark.json")));
                    let secrets: Vec<String> = match dsn {
                        IrValue::Secret(n) => vec![n.clone()],
                        _ => vec![],
                    };
                    let reads = vec![format!("{raw}_watermark.json")];
                    self.ingest_function(p, &rel.name, "postgres", Value::Object(cfg), &secrets, &raw, &reads);
                    self.lambda_raw_table(p, rel);
                    self.kinds.entry(p.name.clone()).or_default().insert("postgres");
                }
                Source::Stream { system, topic, .. } if system == "kinesis" => {
                    self.stream_source(p, rel, topic);
                }
                Source::Stream { system, .. } => self.diags.push(pipec_emit::unsupported(
                    rel.span,
                    &format!("a `{system}` source"),
                    TARGET,
                    "the SAM target ingests streams with Kinesis; read the topic with a `kinesis(...)` source",
                )),
                Source::Table { table } => {
                    // Read from the Iceberg table its writer declares; a table no pipeline of
                    // the project writes is declared here with the source's columns.
                    let (schema, t) = table.split_once('.').unwrap_or(("main", table));
                    let written = project.pipelines.iter().any(|q| {
                        q.sinks.iter().any(|s| matches!(&s.target, SinkTarget::Table { schema: s2, table: t2 } if s2.eq_ignore_ascii_case(schema) && t2.eq_ignore_ascii_case(t)))
                    });
                    if !written {
                        let cols = self.columns(&rel.schema.columns, false, rel.span, &format!("source `{}`", rel.name));
                        self.iceberg_table(schema, t, cols, None);
                    }
                }
                Source::Calendar { .. } => {}
            }
        }

        // Sinks.
        for sink in &p.sinks {
            self.sink(p, sink);
        }

        // Alerts.
        let topic = names.alert_topic(p);
        if !p.alerts.is_empty() {
            self.add(
                &topic,
                json!({
                    "Type": "AWS::SNS::Topic",
                    "Properties": {
                        "DisplayName": format!("pipec {}", p.name).chars().take(100).collect::<String>(),
                        "KmsMasterKeyId": "alias/aws/sns",
                    }
                }),
            );
            let mut slack = 0;
            for (i, a) in p.alerts.iter().enumerate() {
                match a {
                    Alert::Email { to } => {
                        self.add(
                            &format!("{topic}Email{}", i + 1),
                            json!({
                                "Type": "AWS::SNS::Subscription",
                                "Properties": {
                                    "Protocol": "email",
                                    "Endpoint": to,
                                    "TopicArn": r#ref(&topic),
                                }
                            }),
                        );
                    }
                    Alert::Slack { url } => {
                        slack += 1;
                        let id = names.slack_function(p, slack);
                        let cfg = json!({ "pipeline": p.name, "webhook": url });
                        let mut statements = vec![];
                        if let IrValue::Secret(n) = url {
                            statements.push(allow(
                                "ReadWebhookSecret",
                                &["secretsmanager:GetSecretValue"],
                                vec![secret_arn(n)],
                            ));
                        }
                        let mut props = function_props("slack", &cfg, 128, 30, statements);
                        props.insert(
                            "Events".into(),
                            json!({ "Alert": { "Type": "SNS", "Properties": { "Topic": r#ref(&topic) } } }),
                        );
                        self.add(
                            &id,
                            json!({ "Type": "AWS::Serverless::Function", "Properties": props }),
                        );
                        self.kinds
                            .entry(p.name.clone())
                            .or_default()
                            .insert("slack");
                    }
                }
            }
        }

        // Interval function.
        let interval_id = names.interval_function(p);
        let on_file_key = match &p.schedule {
            Schedule::OnFile { path } => Some(self.on_file_key(p, path)),
            _ => None,
        };
        let cfg = json!({
            "pipeline": p.name,
            "schedule": p.schedule,
            "interval": p.interval,
            "on_file_key": on_file_key,
            "start": p.start,
            "end": p.end,
        });
        let props = function_props("interval", &cfg, 128, 30, vec![]);
        self.add(
            &interval_id,
            json!({ "Type": "AWS::Serverless::Function", "Properties": props }),
        );

        // State machine.
        let machine = match statemachine::definition(p, project, names, self.options) {
            Ok(m) => m,
            Err(d) => {
                self.diags.extend(d);
                return;
            }
        };
        let sm = names.state_machine(p);
        let role = names.state_machine_role(p);
        let needs = &machine.needs;
        let mut subs = Map::new();
        for f in &needs.functions {
            subs.insert(f.clone(), get_att(f, "Arn"));
        }
        for t in &needs.topics {
            subs.insert(t.clone(), r#ref(t));
        }
        for bkt in needs.read_buckets.iter().chain(&needs.write_buckets) {
            subs.insert(bkt.clone(), r#ref(bkt));
        }
        if needs.athena {
            subs.insert(names::WORKGROUP.into(), r#ref(names::WORKGROUP));
        }
        // A plain `AWS::StepFunctions::StateMachine` (not SAM's): its `Definition` stays an
        // object that cfn-lint validates against the States Language schema (SAM would turn it
        // into an `Fn::Join` of lines), so the triggers are written out as well.
        let mut props = Map::new();
        props.insert("StateMachineType".into(), json!("STANDARD"));
        props.insert("Definition".into(), machine.definition.clone());
        if !subs.is_empty() {
            props.insert("DefinitionSubstitutions".into(), Value::Object(subs));
        }
        props.insert("RoleArn".into(), get_att(&role, "Arn"));
        let mut tags = vec![json!({ "Key": "pipec:pipeline", "Value": tag_value(&p.name) })];
        if let Some(o) = &p.owner {
            tags.push(json!({ "Key": "pipec:owner", "Value": tag_value(o) }));
        }
        props.insert("Tags".into(), Value::Array(tags));
        self.add(
            &sm,
            json!({ "Type": "AWS::StepFunctions::StateMachine", "Properties": props }),
        );
        self.triggers(p, &sm);
        let role_doc = state_machine_role(needs);
        self.add(&role, role_doc);
        self.outputs.insert(
            format!("{prefix}StateMachineArn"),
            json!({ "Description": format!("state machine of pipeline {}", p.name), "Value": r#ref(&sm) }),
        );
    }

    /// The key template a file source's files are uploaded to, and its Glue table.
    fn file_source(
        &mut self,
        p: &Pipeline,
        rel: &pipec_check::ir::Relation,
        format: FileFormat,
        path: &str,
        options: &pipec_check::ir::FileOptions,
    ) {
        let names = self.names;
        let raw = names.raw_prefix(p, &rel.name);
        let keys = placeholders(path);
        let mut folder = raw.clone();
        for k in &keys {
            folder.push_str(&format!("pipec_{k}={{{k}}}/"));
        }
        let file_name = path.rsplit('/').next().unwrap_or(path);
        let globbed = options.glob && file_name.contains(['*', '?', '[']);
        let to = if globbed {
            folder.clone()
        } else {
            format!("{folder}{file_name}")
        };
        let table = names.raw_table(p, &rel.name);
        self.uploads
            .entry(p.name.clone())
            .or_default()
            .push(Upload {
                from: self.options.resolve(&p.file, path),
                to,
                table: format!("{}.{table}", names::RAW_DATABASE),
            });
        let what = format!("source `{}`", rel.name);
        let all_string = format != FileFormat::Parquet;
        let cols = self.columns(&rel.schema.columns, all_string, rel.span, &what);
        let mut params = Map::new();
        let (serde, serde_params, input, output, classification) = match format {
            FileFormat::Csv => {
                let csv = options.csv.clone().unwrap_or_default();
                let skip = csv.skip + u64::from(csv.header);
                if skip > 0 {
                    params.insert("skip.header.line.count".into(), json!(skip.to_string()));
                }
                (
                    "org.apache.hadoop.hive.serde2.OpenCSVSerde",
                    json!({
                        "separatorChar": csv.delimiter.to_string(),
                        "quoteChar": csv.quote.to_string(),
                        // A backslash is data in pipec's CSV: the escape is a character that
                        // never occurs in text (a doubled quote is read as one quote).
                        "escapeChar": "\u{1}",
                    }),
                    "org.apache.hadoop.mapred.TextInputFormat",
                    "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    "csv",
                )
            }
            FileFormat::Ndjson => (
                "org.openx.data.jsonserde.JsonSerDe",
                json!({ "ignore.malformed.json": "false" }),
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "json",
            ),
            FileFormat::Parquet => (
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                json!({ "serialization.format": "1" }),
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "parquet",
            ),
        };
        params.insert("classification".into(), json!(classification));
        let mut partition_keys = Vec::new();
        if !keys.is_empty() {
            params.insert("projection.enabled".into(), json!("true"));
            let mut template = format!("s3://${{{}}}/{}", names::RAW_BUCKET, lit(&raw));
            for k in &keys {
                projection(k, &mut params);
                partition_keys.push(json!({ "Name": format!("pipec_{k}"), "Type": "string" }));
                template.push_str(&format!("pipec_{k}=${{!pipec_{k}}}/"));
            }
            params.insert("storage.location.template".into(), sub(&template));
        }
        let location = sub(&format!("s3://${{{}}}/{}", names::RAW_BUCKET, lit(&raw)));
        self.glue_table(
            names::RAW_DATABASE,
            &table,
            json!({
                "Name": table,
                "Description": description(&format!("raw files of source {} of pipeline {}", rel.name, p.name)),
                "TableType": "EXTERNAL_TABLE",
                "Parameters": params,
                "PartitionKeys": partition_keys,
                "StorageDescriptor": {
                    "Columns": cols,
                    "Location": location,
                    "InputFormat": input,
                    "OutputFormat": output,
                    "SerdeInfo": { "SerializationLibrary": serde, "Parameters": serde_params },
                }
            }),
        );
        if let Some(r) = &options.retention {
            let rule = self.lifecycle(
                &format!("{}-{}", names.prefix(p), names::pascal(&rel.name)),
                &raw,
                r,
            );
            self.raw_rules.push(rule);
        }
    }

    /// The raw NDJSON table a source's Lambda writes (one `pipec_run` partition per run).
    fn lambda_raw_table(&mut self, p: &Pipeline, rel: &pipec_check::ir::Relation) {
        let names = self.names;
        let raw = names.raw_prefix(p, &rel.name);
        let table = names.raw_table(p, &rel.name);
        let cols = self.columns(
            &rel.schema.columns,
            true,
            rel.span,
            &format!("source `{}`", rel.name),
        );
        let template = format!(
            "s3://${{{}}}/{}pipec_run=${{!pipec_run}}/",
            names::RAW_BUCKET,
            lit(&raw)
        );
        self.glue_table(
            names::RAW_DATABASE,
            &table,
            json!({
                "Name": table,
                "Description": description(&format!("rows fetched by source {} of pipeline {}", rel.name, p.name)),
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {
                    "classification": "json",
                    "projection.enabled": "true",
                    "projection.pipec_run.type": "injected",
                    "storage.location.template": sub(&template),
                },
                "PartitionKeys": [{ "Name": "pipec_run", "Type": "string" }],
                "StorageDescriptor": {
                    "Columns": cols,
                    "Location": sub(&format!("s3://${{{}}}/{}", names::RAW_BUCKET, lit(&raw))),
                    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    "SerdeInfo": {
                        "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
                        "Parameters": { "ignore.malformed.json": "false" },
                    },
                }
            }),
        );
    }

    /// The Lambda of an `http` or `postgres` source: writes NDJSON under `raw` in the raw bucket.
    #[allow(clippy::too_many_arguments)]
    fn ingest_function(
        &mut self,
        p: &Pipeline,
        relation: &str,
        kind: &str,
        cfg: Value,
        secrets: &[String],
        raw: &str,
        reads: &[String],
    ) {
        let id = self.names.source_function(p, relation);
        let bucket = names::RAW_BUCKET;
        let mut st = vec![allow(
            "WriteRawObjects",
            &["s3:PutObject", "s3:AbortMultipartUpload"],
            vec![sub(&format!(
                "arn:${{AWS::Partition}}:s3:::${{{bucket}}}/{}*",
                lit(raw)
            ))],
        )];
        if !reads.is_empty() {
            st.push(allow(
                "ReadRawObjects",
                &["s3:GetObject"],
                reads
                    .iter()
                    .map(|k| {
                        sub(&format!(
                            "arn:${{AWS::Partition}}:s3:::${{{bucket}}}/{}",
                            lit(k)
                        ))
                    })
                    .collect(),
            ));
            // Without ListBucket a missing object reads as 403 instead of 404.
            st.push(json!({
                "Sid": "ListRawPrefix",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [sub(&format!("arn:${{AWS::Partition}}:s3:::${{{bucket}}}"))],
                "Condition": { "StringLike": { "s3:prefix": [format!("{raw}*")] } },
            }));
        }
        if !secrets.is_empty() {
            st.push(allow(
                "ReadSourceSecrets",
                &["secretsmanager:GetSecretValue"],
                secrets.iter().map(|s| secret_arn(s)).collect(),
            ));
        }
        let mut props = function_props(kind, &cfg, 512, 900, st);
        if let Some(Value::Object(env)) = props
            .get_mut("Environment")
            .and_then(|e| e.get_mut("Variables"))
        {
            env.insert("RAW_BUCKET".into(), r#ref(bucket));
        }
        self.add(
            &id,
            json!({ "Type": "AWS::Serverless::Function", "Properties": props }),
        );
    }

    /// A `kinesis` source: the stream, a Firehose delivery stream writing it to the raw zone
    /// by arrival date (UTC), and its Glue table; with `--ingest api-gateway`, a REST API
    /// putting records into the stream.
    fn stream_source(&mut self, p: &Pipeline, rel: &pipec_check::ir::Relation, topic: &str) {
        let names = self.names;
        let ok = !topic.is_empty()
            && topic.len() <= 128
            && topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok {
            self.error(
                codes::SAM_NAME,
                rel.span,
                format!("{topic:?} cannot be a Kinesis stream name"),
                "Kinesis stream names are 1-128 ASCII letters, digits, `_`, `-` and `.`",
            );
            return;
        }
        let stream = names.stream(p, &rel.name);
        let delivery = format!("{stream}Delivery");
        let role = format!("{stream}DeliveryRole");
        let raw = names.raw_prefix(p, &rel.name);
        self.add(
            &stream,
            json!({
                "Type": "AWS::Kinesis::Stream",
                "Properties": {
                    "Name": topic,
                    "ShardCount": 1,
                    "RetentionPeriodHours": 24,
                    "StreamEncryption": { "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis" },
                }
            }),
        );
        self.add(
            &role,
            json!({
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": assume("firehose.amazonaws.com"),
                    "Policies": [{
                        "PolicyName": "deliver",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                allow("ReadStream", &["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"], vec![get_att(&stream, "Arn")]),
                                allow("WriteRawObjects", &["s3:PutObject", "s3:AbortMultipartUpload"], vec![sub(&format!("arn:${{AWS::Partition}}:s3:::${{{}}}/{}*", names::RAW_BUCKET, lit(&raw)))]),
                                allow("RawBucket", &["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], vec![get_att(names::RAW_BUCKET, "Arn")]),
                            ]
                        }
                    }]
                }
            }),
        );
        self.add(
            &delivery,
            json!({
                "Type": "AWS::KinesisFirehose::DeliveryStream",
                "Properties": {
                    "DeliveryStreamType": "KinesisStreamAsSource",
                    "KinesisStreamSourceConfiguration": {
                        "KinesisStreamARN": get_att(&stream, "Arn"),
                        "RoleARN": get_att(&role, "Arn"),
                    },
                    "ExtendedS3DestinationConfiguration": {
                        "BucketARN": get_att(names::RAW_BUCKET, "Arn"),
                        "RoleARN": get_att(&role, "Arn"),
                        "Prefix": format!("{raw}pipec_ds=!{{timestamp:yyyy-MM-dd}}/"),
                        "ErrorOutputPrefix": format!("{raw}_errors/!{{firehose:error-output-type}}/pipec_ds=!{{timestamp:yyyy-MM-dd}}/"),
                        "BufferingHints": { "IntervalInSeconds": 300, "SizeInMBs": 64 },
                        "CompressionFormat": "GZIP",
                    }
                }
            }),
        );
        let table = names.raw_table(p, &rel.name);
        let cols = self.columns(
            &rel.schema.columns,
            true,
            rel.span,
            &format!("source `{}`", rel.name),
        );
        let mut params = Map::new();
        params.insert("classification".into(), json!("json"));
        params.insert("projection.enabled".into(), json!("true"));
        projection("ds", &mut params);
        params.insert(
            "storage.location.template".into(),
            sub(&format!(
                "s3://${{{}}}/{}pipec_ds=${{!pipec_ds}}/",
                names::RAW_BUCKET,
                lit(&raw)
            )),
        );
        self.glue_table(
            names::RAW_DATABASE,
            &table,
            json!({
                "Name": table,
                "Description": description(&format!("records of stream {} (source {} of pipeline {}) by arrival date (UTC)", topic, rel.name, p.name)),
                "TableType": "EXTERNAL_TABLE",
                "Parameters": params,
                "PartitionKeys": [{ "Name": "pipec_ds", "Type": "string" }],
                "StorageDescriptor": {
                    "Columns": cols,
                    "Location": sub(&format!("s3://${{{}}}/{}", names::RAW_BUCKET, lit(&raw))),
                    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    "SerdeInfo": {
                        "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
                        "Parameters": { "ignore.malformed.json": "false" },
                    },
                }
            }),
        );
        if self.settings.ingest == Ingest::ApiGateway {
            self.api_gateway(&stream, topic);
        }
    }

    /// A REST API whose `PUT /records` puts the request body (plus a newline) into `stream`.
    fn api_gateway(&mut self, stream: &str, topic: &str) {
        let api = format!("{stream}Api");
        let role = format!("{stream}ApiRole");
        self.add(
            &role,
            json!({
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": assume("apigateway.amazonaws.com"),
                    "Policies": [{
                        "PolicyName": "put-records",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [allow("PutRecord", &["kinesis:PutRecord"], vec![get_att(stream, "Arn")])]
                        }
                    }]
                }
            }),
        );
        let template = format!(
            "{{\"StreamName\": \"{}\", \"PartitionKey\": \"$context.requestId\", \"Data\": \"$util.base64Encode(\"$input.body\n\")\"}}",
            topic
        );
        self.add(
            &api,
            json!({
                "Type": "AWS::Serverless::Api",
                "Properties": {
                    "StageName": "v1",
                    "EndpointConfiguration": { "Type": "REGIONAL" },
                    "DefinitionBody": {
                        "openapi": "3.0.1",
                        "info": { "title": format!("pipec ingest {topic}"), "version": "1" },
                        "paths": {
                            "/records": {
                                "put": {
                                    "security": [{ "sigv4": [] }],
                                    "responses": { "200": { "description": "record stored" } },
                                    "x-amazon-apigateway-integration": {
                                        "type": "aws",
                                        "httpMethod": "POST",
                                        "uri": sub("arn:${AWS::Partition}:apigateway:${AWS::Region}:kinesis:action/PutRecord"),
                                        "credentials": get_att(&role, "Arn"),
                                        "requestTemplates": { "application/json": template },
                                        "responses": { "default": { "statusCode": "200" } },
                                        "passthroughBehavior": "never",
                                    }
                                }
                            }
                        },
                        "components": {
                            "securitySchemes": {
                                "sigv4": {
                                    "type": "apiKey",
                                    "name": "Authorization",
                                    "in": "header",
                                    "x-amazon-apigateway-authtype": "awsSigv4",
                                }
                            }
                        }
                    }
                }
            }),
        );
        self.outputs.insert(
            format!("{api}Url"),
            json!({
                "Description": format!("PUT records of stream {topic} here (SigV4-signed)"),
                "Value": sub(&format!("https://${{{api}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/v1/records")),
            }),
        );
    }

    /// A sink: its Iceberg table (table sinks) and lifecycle rules.
    fn sink(&mut self, p: &Pipeline, sink: &Sink) {
        let Some(rel) = p.relation(&sink.relation) else {
            return;
        };
        match &sink.target {
            SinkTarget::Table { schema, table } => {
                let db = self.names.sink_table(schema, table).0;
                if db == names::RAW_DATABASE || db == names::STAGE_DATABASE {
                    self.error(
                        codes::SAM_NAME,
                        sink.span,
                        format!("schema `{schema}` of sink `{}` is the stack's own Glue database `{db}`", sink.name()),
                        "`pipec_raw` holds the raw zone's tables and `pipec_stage` the staging tables: write to another schema",
                    );
                    return;
                }
                let plan = SinkPlan::of(sink, &rel.schema);
                let mut cols = plan.table_columns();
                let mut part = None;
                if let Some(pcol) = &plan.partition {
                    if let Some(i) = cols.iter().position(|c| c.name.eq_ignore_ascii_case(pcol)) {
                        part = Some(cols.remove(i));
                    }
                }
                let what = format!("sink `{}`", sink.name());
                let glue_cols = self.columns(&cols, false, sink.span, &what);
                let glue_part = part.map(|c| self.columns(&[c], false, sink.span, &what));
                // `expire after N` is a DELETE of old partitions in the state machine's publish
                // (statemachine.rs): S3 lifecycle rules would delete an Iceberg table's files
                // under its metadata.
                if let Some(r) = &sink.retention {
                    if let Some(a) = &r.archive {
                        if a.class != StorageClass::GlacierIr {
                            self.error(
                                codes::SAM_RETENTION,
                                sink.span,
                                format!(
                                    "`archive after {}d to {}` on table sink `{}`: Athena cannot read objects in {}",
                                    a.after_days,
                                    a.class.name(),
                                    sink.name(),
                                    a.class.s3_name()
                                ),
                                "archive a table to `glacier_ir` (Glacier Instant Retrieval, which Athena reads), or archive a file sink instead",
                            );
                        } else {
                            let (db, t) = self.names.sink_table(schema, table);
                            let prefix = self.names.sink_prefix(schema, table);
                            let rule = self.lifecycle(
                                &format!("{}-{}", names::pascal(&db), names::pascal(&t)),
                                &format!("{prefix}data/"),
                                &Retention {
                                    archive: Some(*a),
                                    expire_after_days: None,
                                },
                            );
                            self.curated_rules.push(rule);
                        }
                    }
                }
                self.iceberg_table(schema, table, glue_cols, glue_part);
            }
            SinkTarget::File { path, .. } => {
                if let Some(r) = &sink.retention {
                    let key = self.names.file_sink_key(p, path);
                    let prefix = static_prefix(&key);
                    let rule = self.lifecycle(
                        &format!("{}-{}", self.names.prefix(p), names::pascal(&sink.relation)),
                        &prefix,
                        r,
                    );
                    self.curated_rules.push(rule);
                }
            }
        }
    }

    /// The Iceberg table `schema.table` in the curated bucket (declared once).
    fn iceberg_table(
        &mut self,
        schema: &str,
        table: &str,
        cols: Vec<Value>,
        part: Option<Vec<Value>>,
    ) {
        let (db, t) = self.names.sink_table(schema, table);
        let prefix = self.names.sink_prefix(schema, table);
        self.databases.insert(db.clone());
        let mut input = json!({
            "Name": t,
            "Description": description(&format!("warehouse table {schema}.{table}")),
            "TableType": "EXTERNAL_TABLE",
            "StorageDescriptor": {
                "Columns": cols,
                "Location": sub(&format!("s3://${{{}}}/{}", names::CURATED_BUCKET, lit(&prefix))),
            }
        });
        if let Some(part) = part {
            input["PartitionKeys"] = json!(part);
        }
        let id = self.names.table_id(&db, &t);
        if self.resources.contains_key(&id) {
            return;
        }
        let db_id = self.names.database_id(&db);
        self.add(
            &id,
            json!({
                "Type": "AWS::Glue::Table",
                "Properties": {
                    "CatalogId": r#ref("AWS::AccountId"),
                    "DatabaseName": r#ref(&db_id),
                    "OpenTableFormatInput": { "IcebergInput": { "MetadataOperation": "CREATE", "Version": "2" } },
                    "TableInput": input,
                }
            }),
        );
    }

    /// An `AWS::Glue::Table` in database `db`.
    fn glue_table(&mut self, db: &str, table: &str, input: Value) {
        self.databases.insert(db.to_string());
        let id = self.names.table_id(db, table);
        let db_id = self.names.database_id(db);
        self.add(
            &id,
            json!({
                "Type": "AWS::Glue::Table",
                "Properties": {
                    "CatalogId": r#ref("AWS::AccountId"),
                    "DatabaseName": r#ref(&db_id),
                    "TableInput": input,
                }
            }),
        );
    }

    /// The raw-zone key template an `on file` schedule waits for: the upload key of the file
    /// source reading that path, else `<pipeline>/_on_file/<path>`.
    fn on_file_key(&mut self, p: &Pipeline, path: &str) -> String {
        self.raw_events = true;
        let resolved = self.options.resolve(&p.file, path);
        self.uploads
            .get(&p.name)
            .and_then(|ups| {
                ups.iter()
                    .find(|u| u.from == resolved && !u.table.is_empty())
            })
            .map(|u| u.to.clone())
            .unwrap_or_else(|| {
                format!(
                    "{}_on_file/{}",
                    self.names.raw_prefix(p, "_"),
                    path_key(path)
                )
            })
    }

    /// The triggers of `p`'s state machine `sm`: EventBridge Scheduler schedules, or EventBridge
    /// rules (`after`, `on file`), with the role they start executions with.
    fn triggers(&mut self, p: &Pipeline, sm: &str) {
        let prefix = self.names.prefix(p);
        let role = format!("{prefix}TriggerRole");
        let mut added = false;
        // No `StartDate`/`EndDate`: AWS refuses a recurring schedule whose StartDate is more
        // than 5 minutes past, so the interval function clips to `start`/`end` instead.
        let schedule = |b: &mut Self, n: usize, expr: String, tz: &str| {
            b.add(
                &format!("{prefix}Schedule{}", if n <= 1 { String::new() } else { n.to_string() }),
                json!({
                    "Type": "AWS::Scheduler::Schedule",
                    "Properties": {
                        "Description": format!("pipeline {}", p.name).chars().take(512).collect::<String>(),
                        "ScheduleExpression": expr,
                        "ScheduleExpressionTimezone": tz,
                        "FlexibleTimeWindow": { "Mode": "OFF" },
                        "State": "ENABLED",
                        "Target": {
                            "Arn": r#ref(sm),
                            "RoleArn": get_att(&role, "Arn"),
                            "Input": "{\"scheduled_time\": \"<aws.scheduler.scheduled-time>\"}",
                        }
                    }
                }),
            );
        };
        let rule = |b: &mut Self, id: String, pattern: Value| {
            b.add(
                &id,
                json!({
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "Description": format!("starts pipeline {}", p.name).chars().take(512).collect::<String>(),
                        "State": "ENABLED",
                        "EventPattern": pattern,
                        "Targets": [{ "Id": "StateMachine", "Arn": r#ref(sm), "RoleArn": get_att(&role, "Arn") }],
                    }
                }),
            );
        };
        match &p.schedule {
            Schedule::Manual => {}
            Schedule::Daily { hour, minute, tz } => {
                schedule(self, 1, format!("cron({minute} {hour} * * ? *)"), tz);
                added = true;
            }
            Schedule::Hourly { minute, tz } => {
                schedule(self, 1, format!("cron({minute} * * * ? *)"), tz);
                added = true;
            }
            Schedule::Every { minutes, tz } => {
                for (i, e) in every_crons(*minutes).into_iter().enumerate() {
                    schedule(self, i + 1, e, tz);
                }
                added = true;
            }
            Schedule::Cron { expr, tz } => match eventbridge_cron(expr) {
                Ok(e) => {
                    schedule(self, 1, e, tz);
                    added = true;
                }
                Err(why) => self.error(
                    codes::SAM_SCHEDULE,
                    p.span,
                    format!("`cron \"{expr}\"` of pipeline `{}` cannot be an EventBridge Scheduler cron: {why}", p.name),
                    "EventBridge cron expressions restrict either the day of the month or the day of the week, not both; split the pipeline or use one of the two fields",
                ),
            },
            Schedule::After { pipelines } => {
                if pipelines.len() > 1 {
                    self.error(
                        codes::SAM_SCHEDULE,
                        p.span,
                        format!("`after {}`: an EventBridge rule starts the state machine once per upstream success, not once all of them have succeeded", pipelines.join(", ")),
                        "depend on one pipeline (chain them: `b` after `a`, `c` after `b`)",
                    );
                } else {
                    for up in pipelines {
                        let pattern = json!({
                            "source": ["aws.states"],
                            "detail-type": ["Step Functions Execution Status Change"],
                            "detail": {
                                "status": ["SUCCEEDED"],
                                "stateMachineArn": [r#ref(&self.names.state_machine_of(up))],
                            }
                        });
                        rule(self, format!("{prefix}AfterRule"), pattern);
                        added = true;
                    }
                }
            }
            Schedule::OnFile { path } => {
                let key = self.on_file_key(p, path);
                let pattern = json!({
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created"],
                    "detail": {
                        "bucket": { "name": [r#ref(names::RAW_BUCKET)] },
                        "object": { "key": [{ "prefix": static_prefix(&key) }] },
                    }
                });
                rule(self, format!("{prefix}FileRule"), pattern);
                added = true;
            }
            Schedule::Continuous => self.error(
                codes::SAM_SCHEDULE,
                p.span,
                format!("`continuous` pipeline `{}`: Step Functions runs batches", p.name),
                "a `kinesis` source lands in the raw zone through Firehose either way; schedule the pipeline `hourly` or `every 15m` to process it in micro-batches",
            ),
        }
        if added {
            let service = match p.schedule {
                Schedule::After { .. } | Schedule::OnFile { .. } => "events.amazonaws.com",
                _ => "scheduler.amazonaws.com",
            };
            self.add(
                &role,
                json!({
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "AssumeRolePolicyDocument": assume(service),
                        "Policies": [{
                            "PolicyName": "start-execution",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [allow("StartExecution", &["states:StartExecution"], vec![r#ref(sm)])],
                            }
                        }]
                    }
                }),
            );
        }
    }

    /// Buckets, their policies, Glue databases and the Athena workgroup.
    fn shared(&mut self) {
        let encryption = json!({
            "ServerSideEncryptionConfiguration": [{ "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }]
        });
        let block = json!({
            "BlockPublicAcls": true,
            "BlockPublicPolicy": true,
            "IgnorePublicAcls": true,
            "RestrictPublicBuckets": true,
        });
        let ownership = json!({ "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] });
        let mut raw = json!({
            "BucketEncryption": encryption,
            "PublicAccessBlockConfiguration": block,
            "OwnershipControls": ownership,
        });
        if self.raw_events {
            raw["NotificationConfiguration"] =
                json!({ "EventBridgeConfiguration": { "EventBridgeEnabled": true } });
        }
        if !self.raw_rules.is_empty() {
            raw["LifecycleConfiguration"] = json!({ "Rules": self.raw_rules });
        }
        let mut curated_rules = vec![json!({
            "Id": "NoncurrentVersions",
            "Status": "Enabled",
            "NoncurrentVersionExpiration": { "NoncurrentDays": 30 },
            "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 7 },
        })];
        curated_rules.append(&mut self.curated_rules);
        let curated = json!({
            "BucketEncryption": encryption,
            "PublicAccessBlockConfiguration": block,
            "OwnershipControls": ownership,
            "VersioningConfiguration": { "Status": "Enabled" },
            "LifecycleConfiguration": { "Rules": curated_rules },
        });
        let results = json!({
            "BucketEncryption": encryption,
            "PublicAccessBlockConfiguration": block,
            "OwnershipControls": ownership,
            "LifecycleConfiguration": { "Rules": [
                { "Id": "QueryResults", "Status": "Enabled", "Prefix": names::RESULTS_PREFIX, "ExpirationInDays": 7 },
                { "Id": "Staging", "Status": "Enabled", "Prefix": names::STAGE_PREFIX, "ExpirationInDays": 2 },
            ] },
        });
        for (id, props) in [
            (names::RAW_BUCKET, raw),
            (names::CURATED_BUCKET, curated),
            (names::RESULTS_BUCKET, results),
        ] {
            self.add(
                id,
                json!({
                    "Type": "AWS::S3::Bucket",
                    "DeletionPolicy": "Retain",
                    "UpdateReplacePolicy": "Retain",
                    "Properties": props,
                }),
            );
            self.add(
                &format!("{id}Policy"),
                json!({
                    "Type": "AWS::S3::BucketPolicy",
                    "Properties": {
                        "Bucket": r#ref(id),
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{
                                "Sid": "TlsOnly",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [get_att(id, "Arn"), sub(&format!("${{{id}.Arn}}/*"))],
                                "Condition": { "Bool": { "aws:SecureTransport": "false" } },
                            }]
                        }
                    }
                }),
            );
        }
        for db in self.databases.clone() {
            let description = if db == names::RAW_DATABASE {
                "pipec raw zone: files, API and database extracts, stream records".to_string()
            } else if db == names::STAGE_DATABASE {
                "pipec staging tables of running executions".to_string()
            } else {
                format!("pipec warehouse schema {db}")
            };
            self.add(
                &self.names.database_id(&db),
                json!({
                    "Type": "AWS::Glue::Database",
                    "Properties": {
                        "CatalogId": r#ref("AWS::AccountId"),
                        "DatabaseInput": { "Name": db, "Description": description },
                    }
                }),
            );
        }
        self.add(
            names::WORKGROUP,
            json!({
                "Type": "AWS::Athena::WorkGroup",
                "Properties": {
                    "Name": sub("${AWS::StackName}-pipec"),
                    "Description": "pipec pipelines",
                    "State": "ENABLED",
                    "RecursiveDeleteOption": true,
                    "WorkGroupConfiguration": {
                        "EnforceWorkGroupConfiguration": true,
                        "PublishCloudWatchMetricsEnabled": true,
                        "EngineVersion": { "SelectedEngineVersion": "Athena engine version 3" },
                        "ResultConfiguration": {
                            "OutputLocation": sub(&format!("s3://${{{}}}/{}", names::RESULTS_BUCKET, names::RESULTS_PREFIX)),
                            "EncryptionConfiguration": { "EncryptionOption": "SSE_S3" },
                        }
                    }
                }
            }),
        );
    }
}

/// A Glue description: control characters (which Glue refuses) as spaces, at most 2048
/// characters.
fn description(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(2048)
        .collect()
}

/// A tag value AWS accepts: letters, digits, spaces and `_.:/=+-@` kept, anything else `_`, at
/// most 256 characters.
fn tag_value(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
}

/// The trust policy of a role assumed by `service`.
fn assume(service: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": [service] }, "Action": ["sts:AssumeRole"] }]
    })
}

/// Properties of a Lambda function of `kind` with `config` as `PIPEC_CONFIG` and `statements`
/// as its only permissions (besides logging).
fn function_props(
    kind: &str,
    config: &Value,
    memory: u32,
    timeout: u32,
    statements: Vec<Value>,
) -> Map<String, Value> {
    let mut props = Map::new();
    props.insert("CodeUri".into(), json!(format!("functions/{kind}/")));
    props.insert("Handler".into(), json!("app.handler"));
    props.insert("Runtime".into(), json!(RUNTIME));
    props.insert("MemorySize".into(), json!(memory));
    props.insert("Timeout".into(), json!(timeout));
    props.insert(
        "Environment".into(),
        json!({ "Variables": { "PIPEC_CONFIG": serde_json::to_string(config).expect("config serializes") } }),
    );
    if !statements.is_empty() {
        props.insert(
            "Policies".into(),
            json!([{ "Version": "2012-10-17", "Statement": statements }]),
        );
    }
    props
}

/// The role of a state machine: exactly what its definition uses.
fn state_machine_role(needs: &statemachine::Needs) -> Value {
    let mut st = Vec::new();
    let arn = |service: &str, rest: &str| {
        sub(&format!(
            "arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{rest}"
        ))
    };
    if !needs.functions.is_empty() {
        st.push(allow(
            "InvokeFunctions",
            &["lambda:InvokeFunction"],
            needs.functions.iter().map(|f| get_att(f, "Arn")).collect(),
        ));
    }
    if !needs.topics.is_empty() {
        st.push(allow(
            "PublishAlerts",
            &["sns:Publish"],
            needs.topics.iter().map(|t| r#ref(t)).collect(),
        ));
    }
    if needs.athena {
        st.push(allow(
            "RunQueries",
            &[
                "athena:StartQueryExecution",
                "athena:StopQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:GetWorkGroup",
            ],
            vec![arn(
                "athena",
                &format!("workgroup/${{{}}}", names::WORKGROUP),
            )],
        ));
        // Athena reads the catalog and S3 with the caller's permissions.
        st.push(json!({
            "Sid": "LakeFormationData",
            "Effect": "Allow",
            "Action": ["lakeformation:GetDataAccess"],
            "Resource": "*",
        }));
    }
    let dbs: BTreeSet<&String> = needs
        .read_databases
        .iter()
        .chain(&needs.write_databases)
        .collect();
    if !dbs.is_empty() {
        let mut res = vec![arn("glue", "catalog")];
        for db in &dbs {
            res.push(arn("glue", &format!("database/{}", lit(db))));
            res.push(arn("glue", &format!("table/{}/*", lit(db))));
        }
        st.push(allow(
            "ReadCatalog",
            &[
                "glue:GetDatabase",
                "glue:GetDatabases",
                "glue:GetTable",
                "glue:GetTables",
                "glue:GetPartition",
                "glue:GetPartitions",
                "glue:BatchGetPartition",
            ],
            res,
        ));
    }
    if !needs.write_databases.is_empty() {
        let mut res = vec![arn("glue", "catalog")];
        for db in &needs.write_databases {
            res.push(arn("glue", &format!("database/{}", lit(db))));
            res.push(arn("glue", &format!("table/{}/*", lit(db))));
        }
        st.push(allow(
            "WriteCatalog",
            &[
                "glue:CreateTable",
                "glue:UpdateTable",
                "glue:DeleteTable",
                "glue:CreatePartition",
                "glue:BatchCreatePartition",
                "glue:UpdatePartition",
                "glue:DeletePartition",
                "glue:BatchDeletePartition",
            ],
            res,
        ));
    }
    let buckets: BTreeSet<&String> = needs
        .read_buckets
        .iter()
        .chain(&needs.write_buckets)
        .collect();
    if !buckets.is_empty() {
        st.push(allow(
            "ListBuckets",
            &[
                "s3:ListBucket",
                "s3:GetBucketLocation",
                "s3:ListBucketMultipartUploads",
            ],
            buckets.iter().map(|b| get_att(b, "Arn")).collect(),
        ));
        st.push(allow(
            "ReadObjects",
            &["s3:GetObject"],
            buckets
                .iter()
                .map(|b| sub(&format!("${{{b}.Arn}}/*")))
                .collect(),
        ));
    }
    if !needs.write_buckets.is_empty() {
        st.push(allow(
            "WriteObjects",
            &[
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            needs
                .write_buckets
                .iter()
                .map(|b| sub(&format!("${{{b}.Arn}}/*")))
                .collect(),
        ));
    }
    let mut props = json!({ "AssumeRolePolicyDocument": assume("states.amazonaws.com") });
    if !st.is_empty() {
        props["Policies"] = json!([{
            "PolicyName": "pipeline",
            "PolicyDocument": { "Version": "2012-10-17", "Statement": st }
        }]);
    }
    json!({ "Type": "AWS::IAM::Role", "Properties": props })
}

/// EventBridge Scheduler crons firing at the end of each `minutes`-long slot from local
/// midnight: one expression per set of hours sharing the same minutes.
pub(crate) fn every_crons(minutes: u32) -> Vec<String> {
    // minute of the hour → hours it fires in
    let mut by_minute: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    let step = minutes.max(1);
    let mut t = 0;
    while t < 1440 {
        by_minute.entry(t % 60).or_default().insert(t / 60);
        t += step;
    }
    // hours set → minutes
    let mut by_hours: BTreeMap<Vec<u32>, Vec<u32>> = BTreeMap::new();
    for (m, hs) in by_minute {
        by_hours
            .entry(hs.into_iter().collect())
            .or_default()
            .push(m);
    }
    let list = |v: &[u32]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut out: Vec<String> = by_hours
        .into_iter()
        .map(|(hours, mins)| {
            let h = if hours.len() == 24 {
                "*".to_string()
            } else {
                list(&hours)
            };
            format!("cron({} {h} * * ? *)", list(&mins))
        })
        .collect();
    out.sort();
    out
}

/// A five-field cron (`m h dom mon dow`, Unix: Sunday = 0 or 7) as an EventBridge cron
/// (`m h dom mon dow year`, Sunday = 1, `?` in one of the day fields).
pub(crate) fn eventbridge_cron(expr: &str) -> Result<String, String> {
    let f: Vec<&str> = expr.split_whitespace().collect();
    if f.len() != 5 {
        return Err("it does not have 5 fields".into());
    }
    let step0 = |s: &str, first: &str| {
        s.strip_prefix("*/")
            .map(|n| format!("{first}/{n}"))
            .unwrap_or_else(|| s.to_string())
    };
    let minute = step0(f[0], "0");
    let hour = step0(f[1], "0");
    let month = step0(f[3], "1");
    let (dom, dow) = match (f[2], f[4]) {
        (dom, "*") => (step0(dom, "1"), "?".to_string()),
        ("*", dow) => ("?".to_string(), weekdays(dow)?),
        _ => return Err("it restricts both the day of the month and the day of the week".into()),
    };
    Ok(format!("cron({minute} {hour} {dom} {month} {dow} *)"))
}

/// A Unix day-of-week field as EventBridge's (1 = Sunday ... 7 = Saturday), as a list.
fn weekdays(field: &str) -> Result<String, String> {
    const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let day = |s: &str| -> Result<u32, String> {
        if let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32);
        }
        match s.parse::<u32>() {
            Ok(7) => Ok(0),
            Ok(n) if n < 7 => Ok(n),
            _ => Err(format!("`{s}` is not a day of the week")),
        }
    };
    let mut days = BTreeSet::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .map_err(|_| format!("bad step in `{part}`"))?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (0, 6)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (day(a)?, if b == "7" { 7 } else { day(b)? });
            (a, b)
        } else {
            let d = day(range)?;
            (d, if step > 1 { 6 } else { d })
        };
        let mut d = lo;
        while d <= hi {
            days.insert(d % 7);
            d += step.max(1);
        }
    }
    Ok(days
        .into_iter()
        .map(|d| (d + 1).to_string())
        .collect::<Vec<_>>()
        .join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_period_crons() {
        assert_eq!(every_crons(15), vec!["cron(0,15,30,45 * * * ? *)"]);
        assert_eq!(every_crons(60), vec!["cron(0 * * * ? *)"]);
        assert_eq!(
            every_crons(120),
            vec!["cron(0 0,2,4,6,8,10,12,14,16,18,20,22 * * ? *)"]
        );
        assert_eq!(
            every_crons(90),
            vec![
                "cron(0 0,3,6,9,12,15,18,21 * * ? *)",
                "cron(30 1,4,7,10,13,16,19,22 * * ? *)"
            ]
        );
    }

    #[test]
    fn unix_crons_to_eventbridge() {
        assert_eq!(eventbridge_cron("0 3 * * *").unwrap(), "cron(0 3 * * ? *)");
        assert_eq!(
            eventbridge_cron("*/10 8-18 * * 1-5").unwrap(),
            "cron(0/10 8-18 ? * 2,3,4,5,6 *)"
        );
        assert_eq!(eventbridge_cron("0 0 1 * *").unwrap(), "cron(0 0 1 * ? *)");
        assert_eq!(
            eventbridge_cron("0 0 * * 0,7").unwrap(),
            "cron(0 0 ? * 1 *)"
        );
        assert_eq!(
            eventbridge_cron("0 0 * * 5-7").unwrap(),
            "cron(0 0 ? * 1,6,7 *)"
        );
        assert_eq!(
            eventbridge_cron("0 0 * * sat").unwrap(),
            "cron(0 0 ? * 7 *)"
        );
        assert!(eventbridge_cron("0 0 1 * 1").is_err());
    }

    #[test]
    fn tag_values_keep_what_aws_accepts() {
        assert_eq!(tag_value("o'brien \"ops\" 한국"), "o_brien _ops_ 한국");
    }

    #[test]
    fn keys_and_prefixes() {
        assert_eq!(placeholders("a/{ds}/{hh}/{ds}.csv"), vec!["ds", "hh"]);
        assert_eq!(static_prefix("a/b/{ds}/x.csv"), "a/b/");
        assert_eq!(static_prefix("x.csv"), "");
        assert_eq!(path_key("s3://bkt/a/b.csv"), "a/b.csv");
        assert_eq!(path_key("./lake/x.parquet"), "lake/x.parquet");
    }
}
