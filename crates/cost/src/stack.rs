//! What the estimate reads from the SAM template (`template.yaml` as a JSON value): resources by
//! type, each state machine's states on a successful execution, Lambda memory and timeout,
//! Kinesis shards, Firehose buffering, bucket lifecycle rules, API Gateway APIs.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

/// The parts of a template that cost money.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stack {
    /// Number of resources per CloudFormation/SAM type.
    pub resource_counts: BTreeMap<String, usize>,
    /// S3 buckets.
    pub buckets: Vec<Bucket>,
    /// Logical ids of `AWS::Glue::Table` resources, with whether they have partition keys.
    pub glue_tables: Vec<(String, bool)>,
    /// Number of `AWS::Glue::Database` resources.
    pub glue_databases: usize,
    /// State machines.
    pub state_machines: Vec<StateMachine>,
    /// Lambda functions.
    pub functions: Vec<Function>,
    /// Kinesis data streams.
    pub streams: Vec<Stream>,
    /// Firehose delivery streams.
    pub firehoses: Vec<Firehose>,
    /// SNS topics (logical ids) with their email subscriptions.
    pub topics: Vec<(String, usize)>,
    /// API Gateway APIs: logical id and whether it is an HTTP API (else REST).
    pub apis: Vec<(String, bool)>,
    /// Logical ids of `AWS::Scheduler::Schedule` resources.
    pub schedules: Vec<String>,
    /// Logical ids of `AWS::Events::Rule` resources (`after` and `on file` triggers).
    pub rules: Vec<String>,
}

/// An S3 bucket and its lifecycle.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// Logical id.
    pub id: String,
    /// Versioning enabled.
    pub versioned: bool,
    /// Enabled lifecycle rules.
    pub rules: Vec<LifecycleRule>,
}

/// One enabled lifecycle rule.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LifecycleRule {
    /// Key prefix it applies to (empty: the whole bucket).
    pub prefix: String,
    /// `(days, storage class)` transitions in day order.
    pub transitions: Vec<(f64, String)>,
    /// Days after which objects expire.
    pub expiration_days: Option<f64>,
}

/// How one state of an execution is billed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StateKind {
    /// `athena:startQueryExecution`; `billed` is false for DDL (DROP, ALTER, ...), which is free.
    Athena {
        /// Scans data (not DDL).
        billed: bool,
        /// Writes data files (CTAS, INSERT, MERGE, DELETE, UPDATE).
        writes: bool,
    },
    /// A Lambda invocation of the function with this logical id (when it could be told).
    Lambda {
        /// Logical id of the function.
        function: Option<String>,
    },
    /// An SNS publish.
    Sns,
    /// Anything else (Pass, Choice, getQueryResults, Succeed, ...).
    Other,
}

/// A state machine and the states of one successful execution.
#[derive(Debug, Clone, Serialize)]
pub struct StateMachine {
    /// Logical id.
    pub id: String,
    /// `EXPRESS` workflow (else standard).
    pub express: bool,
    /// States entered by a successful execution, in order: each is one billed transition.
    pub executed: Vec<(String, StateKind)>,
    /// Types of its SAM `Events` (`ScheduleV2`, `EventBridgeRule`, ...).
    pub events: Vec<String>,
}

impl StateMachine {
    /// Athena queries that scan data, per execution.
    pub fn billed_queries(&self) -> usize {
        self.executed
            .iter()
            .filter(|(_, k)| matches!(k, StateKind::Athena { billed: true, .. }))
            .count()
    }

    /// Athena queries that write data files, per execution.
    pub fn writing_queries(&self) -> usize {
        self.executed
            .iter()
            .filter(|(_, k)| matches!(k, StateKind::Athena { writes: true, .. }))
            .count()
    }

    /// Lambda invocations per execution, by function logical id (`?` when not told).
    pub fn lambda_calls(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (_, k) in &self.executed {
            if let StateKind::Lambda { function } = k {
                *out.entry(function.clone().unwrap_or_else(|| "?".into()))
                    .or_insert(0) += 1;
            }
        }
        out
    }
}

/// A Lambda function.
#[derive(Debug, Clone, Serialize)]
pub struct Function {
    /// Logical id.
    pub id: String,
    /// The `<kind>` of `CodeUri: functions/<kind>/`.
    pub kind: String,
    /// `MemorySize` in MB (template, else `Globals.Function`, else 128).
    pub memory_mb: f64,
    /// `Timeout` in seconds (template, else `Globals.Function`, else 3).
    pub timeout_s: f64,
}

/// A Kinesis data stream.
#[derive(Debug, Clone, Serialize)]
pub struct Stream {
    /// Logical id.
    pub id: String,
    /// `ShardCount` (1 when not given).
    pub shards: f64,
    /// `StreamModeDetails.StreamMode` is `ON_DEMAND`.
    pub on_demand: bool,
}

/// A Firehose delivery stream.
#[derive(Debug, Clone, Serialize)]
pub struct Firehose {
    /// Logical id.
    pub id: String,
    /// Dynamic partitioning enabled.
    pub dynamic_partitioning: bool,
    /// `BufferingHints.IntervalInSeconds` (300 when not given).
    pub buffer_seconds: f64,
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true") || s == "Enabled",
        _ => false,
    }
}

impl Stack {
    /// Reads a template (the JSON value of `template.yaml`).
    pub fn read(template: &Value) -> Stack {
        let mut stack = Stack::default();
        let globals = template.pointer("/Globals/Function");
        let empty = serde_json::Map::new();
        let resources = template
            .get("Resources")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let function_ids: BTreeSet<&str> = resources
            .iter()
            .filter(|(_, r)| {
                matches!(
                    r.get("Type").and_then(Value::as_str),
                    Some("AWS::Serverless::Function" | "AWS::Lambda::Function")
                )
            })
            .map(|(id, _)| id.as_str())
            .collect();
        for (id, r) in resources {
            let ty = r.get("Type").and_then(Value::as_str).unwrap_or("");
            *stack.resource_counts.entry(ty.to_string()).or_insert(0) += 1;
            let props = r.get("Properties").unwrap_or(&Value::Null);
            match ty {
                "AWS::S3::Bucket" => stack.buckets.push(Bucket {
                    id: id.clone(),
                    versioned: props.pointer("/VersioningConfiguration/Status")
                        == Some(&Value::String("Enabled".into())),
                    rules: lifecycle(props),
                }),
                "AWS::Glue::Database" => stack.glue_databases += 1,
                "AWS::Glue::Table" => stack.glue_tables.push((
                    id.clone(),
                    props
                        .pointer("/TableInput/PartitionKeys")
                        .and_then(Value::as_array)
                        .is_some_and(|a| !a.is_empty()),
                )),
                "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine" => {
                    let definition = props
                        .get("Definition")
                        .cloned()
                        .or_else(|| {
                            props
                                .get("DefinitionString")
                                .and_then(Value::as_str)
                                .and_then(|s| serde_json::from_str(s).ok())
                        })
                        .unwrap_or(Value::Null);
                    let events = props
                        .get("Events")
                        .and_then(Value::as_object)
                        .map(|e| {
                            e.values()
                                .filter_map(|v| v.get("Type").and_then(Value::as_str))
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    stack.state_machines.push(StateMachine {
                        id: id.clone(),
                        express: props
                            .get("Type")
                            .or_else(|| props.get("StateMachineType"))
                            .and_then(Value::as_str)
                            == Some("EXPRESS"),
                        executed: executed_states(&definition, &function_ids),
                        events,
                    });
                }
                "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                    let code = props
                        .get("CodeUri")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .trim_end_matches('/');
                    let kind = code.rsplit('/').next().unwrap_or("").to_string();
                    let setting = |k: &str, default: f64| {
                        num(props.get(k))
                            .or_else(|| num(globals.and_then(|g| g.get(k))))
                            .unwrap_or(default)
                    };
                    stack.functions.push(Function {
                        id: id.clone(),
                        kind,
                        memory_mb: setting("MemorySize", 128.0),
                        timeout_s: setting("Timeout", 3.0),
                    });
                }
                "AWS::Kinesis::Stream" => stack.streams.push(Stream {
                    id: id.clone(),
                    shards: num(props.get("ShardCount")).unwrap_or(1.0),
                    on_demand: props.pointer("/StreamModeDetails/StreamMode")
                        == Some(&Value::String("ON_DEMAND".into())),
                }),
                "AWS::KinesisFirehose::DeliveryStream" => {
                    let dest = props
                        .get("ExtendedS3DestinationConfiguration")
                        .or_else(|| props.get("S3DestinationConfiguration"))
                        .unwrap_or(&Value::Null);
                    stack.firehoses.push(Firehose {
                        id: id.clone(),
                        dynamic_partitioning: truthy(
                            dest.pointer("/DynamicPartitioningConfiguration/Enabled"),
                        ),
                        buffer_seconds: num(dest.pointer("/BufferingHints/IntervalInSeconds"))
                            .unwrap_or(300.0),
                    });
                }
                "AWS::SNS::Topic" => {
                    let emails = props
                        .get("Subscription")
                        .and_then(Value::as_array)
                        .map(|s| {
                            s.iter()
                                .filter(|x| {
                                    x.get("Protocol").and_then(Value::as_str) == Some("email")
                                })
                                .count()
                        })
                        .unwrap_or(0);
                    stack.topics.push((id.clone(), emails));
                }
                "AWS::Serverless::Api" | "AWS::ApiGateway::RestApi" => {
                    stack.apis.push((id.clone(), false))
                }
                "AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api" => {
                    stack.apis.push((id.clone(), true))
                }
                "AWS::Scheduler::Schedule" => stack.schedules.push(id.clone()),
                "AWS::Events::Rule" => stack.rules.push(id.clone()),
                _ => {}
            }
        }
        // Email subscriptions declared as their own resources count for their topic.
        for r in resources.values() {
            if r.get("Type").and_then(Value::as_str) == Some("AWS::SNS::Subscription")
                && r.pointer("/Properties/Protocol").and_then(Value::as_str) == Some("email")
            {
                let topic = r
                    .pointer("/Properties/TopicArn/Ref")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if let Some(t) = stack.topics.iter_mut().find(|(id, _)| id == topic) {
                    t.1 += 1;
                }
            }
        }
        stack
    }
}

fn lifecycle(props: &Value) -> Vec<LifecycleRule> {
    let Some(rules) = props
        .pointer("/LifecycleConfiguration/Rules")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    rules
        .iter()
        .filter(|r| r.get("Status").and_then(Value::as_str) != Some("Disabled"))
        .map(|r| {
            let prefix = r
                .get("Prefix")
                .or_else(|| r.pointer("/Filter/Prefix"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let mut transitions: Vec<(f64, String)> = r
                .get("Transitions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .chain(r.get("Transition"))
                .filter_map(|t| {
                    Some((
                        num(t.get("TransitionInDays"))?,
                        t.get("StorageClass")?.as_str()?.to_string(),
                    ))
                })
                .collect();
            transitions.sort_by(|a, b| a.0.total_cmp(&b.0));
            LifecycleRule {
                prefix,
                transitions,
                expiration_days: num(r.get("ExpirationInDays")),
            }
        })
        .collect()
}

/// Every string inside `v`, for finding the function a task names (`Ref`, `Fn::GetAtt`,
/// `${Fn.Arn}` substitutions).
fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn classify(state: &Value, functions: &BTreeSet<&str>) -> StateKind {
    let resource = state.get("Resource").and_then(Value::as_str).unwrap_or("");
    if resource.contains("athena:startQueryExecution") {
        let query = state
            .pointer("/Parameters/QueryString")
            .or_else(|| state.pointer("/Arguments/QueryString"))
            .map(|q| {
                let mut s = Vec::new();
                strings(q, &mut s);
                s.concat()
            })
            .unwrap_or_default();
        let head = query.trim_start().to_ascii_uppercase();
        let ddl = ["DROP", "ALTER", "MSCK", "SHOW", "DESCRIBE"]
            .iter()
            .any(|k| head.starts_with(k))
            || (head.starts_with("CREATE") && !head.contains(" AS ") && !head.contains(" AS\n"));
        let writes = !ddl
            && ["CREATE", "INSERT", "MERGE", "DELETE", "UPDATE"]
                .iter()
                .any(|k| head.starts_with(k));
        return StateKind::Athena {
            billed: !ddl,
            writes,
        };
    }
    if resource.contains(":lambda:") || resource.contains("lambda:invoke") {
        let mut s = Vec::new();
        strings(state.get("Parameters").unwrap_or(&Value::Null), &mut s);
        strings(state.get("Arguments").unwrap_or(&Value::Null), &mut s);
        let function = functions
            .iter()
            .find(|f| {
                s.iter().any(|x| {
                    *x == **f
                        || x.contains(&format!("${{{f}}}"))
                        || x.contains(&format!("${{{f}.Arn}}"))
                })
            })
            .map(|f| f.to_string());
        return StateKind::Lambda { function };
    }
    if resource.contains(":sns:publish") {
        return StateKind::Sns;
    }
    StateKind::Other
}

/// The states a successful execution of `definition` enters, in order: from `StartAt`
/// following `Next`; at a `Choice`, the first target that is not a `Fail` state (checks pass);
/// the branches of a `Parallel` and the iterator of a `Map` once each. `Catch` targets are not
/// entered (nothing fails).
fn executed_states(definition: &Value, functions: &BTreeSet<&str>) -> Vec<(String, StateKind)> {
    let mut out = Vec::new();
    walk(definition, functions, &mut out, 0);
    out
}

fn walk(
    definition: &Value,
    functions: &BTreeSet<&str>,
    out: &mut Vec<(String, StateKind)>,
    depth: usize,
) {
    let Some(states) = definition.get("States").and_then(Value::as_object) else {
        return;
    };
    if depth > 16 {
        return;
    }
    let is_fail = |name: &str| {
        states
            .get(name)
            .and_then(|s| s.get("Type"))
            .and_then(Value::as_str)
            == Some("Fail")
    };
    let mut seen = BTreeSet::new();
    let mut current = definition
        .get("StartAt")
        .and_then(Value::as_str)
        .map(str::to_string);
    while let Some(name) = current.take() {
        // A loop would bill forever; a successful execution enters each state once here.
        if !seen.insert(name.clone()) {
            break;
        }
        let Some(state) = states.get(&name) else {
            break;
        };
        let ty = state.get("Type").and_then(Value::as_str).unwrap_or("");
        out.push((name.clone(), classify(state, functions)));
        match ty {
            "Parallel" => {
                for b in state
                    .get("Branches")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    walk(b, functions, out, depth + 1);
                }
            }
            "Map" => {
                if let Some(it) = state.get("ItemProcessor").or_else(|| state.get("Iterator")) {
                    walk(it, functions, out, depth + 1);
                }
            }
            "Choice" => {
                let targets = state
                    .get("Choices")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.get("Next").and_then(Value::as_str))
                    .chain(state.get("Default").and_then(Value::as_str));
                let mut ok: Vec<&str> = targets.filter(|t| !is_fail(t)).collect();
                // Prefer the default branch when several targets go on.
                if let Some(d) = state.get("Default").and_then(Value::as_str) {
                    if ok.contains(&d) {
                        ok = vec![d];
                    }
                }
                current = ok.first().map(|s| s.to_string());
                continue;
            }
            _ => {}
        }
        if state.get("End").and_then(Value::as_bool) == Some(true) {
            break;
        }
        current = state
            .get("Next")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
}

/// `blog_visits` → `BlogVisits`: the prefix of a pipeline's logical ids.
pub fn pascal(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}
