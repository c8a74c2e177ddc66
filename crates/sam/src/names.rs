//! Names in the stack: CloudFormation logical ids (PascalCase from pipeline and relation names),
//! Glue database and table names (lowercase `[a-z0-9_]`, as Athena wants them) and S3 keys.
//! Shared by the template and the state machines, so both spell every name the same way.

use std::collections::BTreeMap;

use pipec_check::ir::{Pipeline, Project};

/// Logical id of the raw-zone bucket (sources land here).
pub(crate) const RAW_BUCKET: &str = "RawBucket";
/// Logical id of the curated-zone bucket (sink tables, file sinks).
pub(crate) const CURATED_BUCKET: &str = "CuratedBucket";
/// Logical id of the bucket of Athena results and staging tables.
pub(crate) const RESULTS_BUCKET: &str = "AthenaResultsBucket";
/// Logical id of the Athena workgroup every query runs in.
pub(crate) const WORKGROUP: &str = "AthenaWorkGroup";
/// Glue database of the raw zone's tables (file, http, postgres and stream sources).
pub(crate) const RAW_DATABASE: &str = "pipec_raw";
/// Glue database of the staging tables (CTAS per execution, dropped at the end).
pub(crate) const STAGE_DATABASE: &str = "pipec_stage";
/// Key prefix of staging tables in the results bucket.
pub(crate) const STAGE_PREFIX: &str = "stage/";
/// Key prefix of query results in the results bucket.
pub(crate) const RESULTS_PREFIX: &str = "results/";

/// Every name of the stack of one project.
pub(crate) struct Names {
    /// Pipeline name → PascalCase prefix of its logical ids (unique in the stack).
    prefixes: BTreeMap<String, String>,
}

impl Names {
    /// The names of `project`'s pipelines.
    pub(crate) fn of(project: &Project) -> Names {
        let mut prefixes = BTreeMap::new();
        let mut taken: Vec<String> = Vec::new();
        for p in &project.pipelines {
            let base = pascal(&p.name);
            let mut id = base.clone();
            let mut n = 2;
            while taken.iter().any(|t| t.eq_ignore_ascii_case(&id)) {
                id = format!("{base}{n}");
                n += 1;
            }
            taken.push(id.clone());
            prefixes.insert(p.name.clone(), id);
        }
        Names { prefixes }
    }

    /// The PascalCase prefix of pipeline `p`'s logical ids, e.g. `BlogVisits`.
    pub(crate) fn prefix(&self, p: &Pipeline) -> String {
        self.prefix_of(&p.name)
    }

    /// The prefix of the pipeline named `name`.
    pub(crate) fn prefix_of(&self, name: &str) -> String {
        self.prefixes
            .get(name)
            .cloned()
            .unwrap_or_else(|| pascal(name))
    }

    /// `<P>StateMachine`.
    pub(crate) fn state_machine(&self, p: &Pipeline) -> String {
        format!("{}StateMachine", self.prefix(p))
    }

    /// The state machine of the pipeline named `name`.
    pub(crate) fn state_machine_of(&self, name: &str) -> String {
        format!("{}StateMachine", self.prefix_of(name))
    }

    /// `<P>StateMachineRole`.
    pub(crate) fn state_machine_role(&self, p: &Pipeline) -> String {
        format!("{}StateMachineRole", self.prefix(p))
    }

    /// `<P>IntervalFunction`: turns the trigger's input into the run's interval (`$.run`).
    pub(crate) fn interval_function(&self, p: &Pipeline) -> String {
        format!("{}IntervalFunction", self.prefix(p))
    }

    /// `<P><Relation>Function`: the Lambda of an `http` or `postgres` source.
    pub(crate) fn source_function(&self, p: &Pipeline, relation: &str) -> String {
        format!("{}{}Function", self.prefix(p), pascal(relation))
    }

    /// `<P>AlertTopic`: the SNS topic failures are published to (when the pipeline has alerts).
    pub(crate) fn alert_topic(&self, p: &Pipeline) -> String {
        format!("{}AlertTopic", self.prefix(p))
    }

    /// `<P>SlackFunction<n>`: the Lambda posting alerts to the `n`-th Slack webhook.
    pub(crate) fn slack_function(&self, p: &Pipeline, n: usize) -> String {
        format!("{}SlackFunction{}", self.prefix(p), suffix(n))
    }

    /// `<P><Relation>Stream` / `...DeliveryStream`: a `kinesis` source's stream and Firehose.
    pub(crate) fn stream(&self, p: &Pipeline, relation: &str) -> String {
        format!("{}{}Stream", self.prefix(p), pascal(relation))
    }

    /// The Glue table of a source in the raw zone (`RAW_DATABASE`).
    pub(crate) fn raw_table(&self, p: &Pipeline, relation: &str) -> String {
        glue_name(&format!("{}__{}", p.name, relation))
    }

    /// The key prefix (in the raw bucket) of a source's objects: `<pipeline>/<relation>/`.
    pub(crate) fn raw_prefix(&self, p: &Pipeline, relation: &str) -> String {
        format!("{}/{}/", key_part(&p.name), key_part(relation))
    }

    /// The key (template) in the curated bucket of file sink `path` of `p`:
    /// `files/<pipeline>/<path>` (`./`, a leading `/` and a `scheme://bucket/` removed).
    pub(crate) fn file_sink_key(&self, p: &Pipeline, path: &str) -> String {
        format!(
            "files/{}/{}",
            key_part(&p.name),
            crate::template::path_key(path)
        )
    }

    /// The Glue (Iceberg) table of warehouse table `schema.table`: (database, table).
    pub(crate) fn sink_table(&self, schema: &str, table: &str) -> (String, String) {
        (glue_name(schema), glue_name(table))
    }

    /// The key prefix (in the curated bucket) of warehouse table `schema.table`.
    pub(crate) fn sink_prefix(&self, schema: &str, table: &str) -> String {
        let (db, t) = self.sink_table(schema, table);
        format!("{db}/{t}/")
    }

    /// The logical id of the `AWS::Glue::Database` named `db`.
    pub(crate) fn database_id(&self, db: &str) -> String {
        format!("{}Database", pascal(db))
    }

    /// The logical id of the Glue table `db.table`.
    pub(crate) fn table_id(&self, db: &str, table: &str) -> String {
        format!("{}Db{}Table", pascal(db), pascal(table))
    }
}

/// `1` → "", else the number: `SlackFunction`, `SlackFunction2`.
fn suffix(n: usize) -> String {
    if n <= 1 {
        String::new()
    } else {
        n.to_string()
    }
}

/// PascalCase of a name: ASCII letters and digits kept, words split at anything else and at
/// `_`; other characters dropped. A name that keeps nothing (or starts with a digit) gets a
/// prefix and a hash, so that the id is a valid, stable logical id.
pub(crate) fn pascal(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    let lossy = name
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ' '));
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) || lossy {
        out = format!("N{out}{:08X}", hash(name));
    }
    out
}

/// A Glue/Athena name: lowercase ASCII letters, digits and `_`. Other names are rewritten
/// (other characters become `_`) and get `_` and a hash of the original, so two names never
/// meet.
pub(crate) fn glue_name(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        return name.to_string();
    }
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    out.truncate(200);
    format!("{out}_{:08x}", hash(name))
}

/// A key segment: ASCII letters, digits, `_`, `-` and `.` kept, anything else `_` plus a hash.
fn key_part(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        name.to_string()
    } else {
        glue_name(name)
    }
}

/// FNV-1a (32 bits): stable across platforms and releases.
fn hash(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_ids_and_glue_names() {
        assert_eq!(pascal("blog_visits"), "BlogVisits");
        assert_eq!(pascal("nps-daily"), "NpsDaily");
        assert!(pascal("결과").starts_with('N'));
        assert_ne!(pascal("결과"), pascal("결과2"));
        assert_eq!(glue_name("mart"), "mart");
        assert_eq!(glue_name("Mart").len(), "mart_".len() + 8);
        assert!(glue_name("it's a \"table\"")
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        assert_ne!(glue_name("a b"), glue_name("a_b"));
    }
}
