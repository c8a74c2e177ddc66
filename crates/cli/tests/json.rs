//! Every JSON document pipec prints has the one documented shape (docs/json.md): the commands
//! are found in clap's definition (each subcommand whose help lists `--format` with the value
//! `json`), each is run on a real project, and every document it prints is validated against
//! docs/json/<command>.schema.json (JSON Schema 2020-12, with Python's `jsonschema` from
//! `bash scripts/pyenv.sh json`). A command printing JSON without a case and a schema here fails.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The subcommands of `pipec --help` whose `-h` lists `--format` with a `json` value.
fn json_commands() -> Vec<String> {
    let help = stdout(&in_root(&["--help"]));
    let listed = help
        .split("Commands:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no command list in `pipec --help`:\n{help}"));
    let names: Vec<String> = listed
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|n| n != "help")
        .collect();
    assert!(names.len() > 10, "commands of `pipec --help`: {names:?}");
    names
        .into_iter()
        .filter(|name| {
            let help = stdout(&in_root(&[name, "-h"]));
            help.split("--format <FORMAT>")
                .nth(1)
                .map(|rest| rest.split("\n  -").next().unwrap_or_default())
                .is_some_and(|option| option.contains("json"))
        })
        .collect()
}

/// One invocation and what it must print.
struct Case {
    command: &'static str,
    args: Vec<String>,
    stdin: Option<&'static str>,
    /// The exit code it must end with.
    exit: i32,
}

fn case(command: &'static str, args: &[&str], exit: i32) -> Case {
    let mut all = vec![command.to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.extend(["--format".to_string(), "json".to_string()]);
    Case {
        command,
        args: all,
        stdin: None,
        exit,
    }
}

/// A project from `pipec init` that has run one day, and a spec with an error beside it.
fn project(dir: &Path) -> PathBuf {
    let out = pipec()
        .args(["init", "shop"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let shop = dir.join("shop");
    let run = pipec()
        .args(["run", ".", "--date", "2024-01-01"])
        .current_dir(&shop)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    write(
        dir,
        "broken/broken.pipe",
        "pipeline p {}\nsource s = csv(\"a.csv\") { id: int }\ntransform t = s | filter id > 1 AND id < 3\n",
    );
    shop
}

/// The invocations, per command, run in the project folder (`../broken` has an error).
fn cases() -> Vec<Case> {
    let mut fmt_stdin = case("fmt", &["-"], 0);
    fmt_stdin.stdin = Some("pipeline x {schedule daily}\n");
    vec![
        case("check", &["."], 0),
        case("check", &["../broken"], 1),
        case("fmt", &["--check", "."], 0),
        fmt_stdin,
        case("run", &[".", "--date", "2024-01-02"], 0),
        case("run", &["../broken", "--date", "2024-01-02"], 1),
        case("runs", &[], 0),
        case("test", &["."], 0),
        case(
            "show",
            &[".", "daily_revenue", "--date", "2024-01-01", "--limit", "1"],
            0,
        ),
        case(
            "show",
            &[".", "daily_revenue", "--sql", "--target", "spark"],
            0,
        ),
        case("show", &[".", "daily_revnue"], 1),
        case("plan", &["."], 0),
        case("emit", &[".", "--target", "airflow", "--out", "dags"], 0),
        case(
            "emit",
            &[".", "--target", "airflow", "--out", "dags", "--check"],
            0,
        ),
        case(
            "emit",
            &["../broken", "--target", "spark", "--out", "spark"],
            1,
        ),
        case("cost", &["."], 0),
        case("graph", &["."], 0),
        case("graph", &[".", "--columns", "--select", "daily_revenue"], 0),
        case("graph", &["../broken"], 1),
        case("lineage", &[".", "daily_revenue.revenue"], 0),
        case("lineage", &[".", "daily_revenue.revenu"], 1),
        case("explain", &["E0102"], 0),
        case("explain", &["--list"], 0),
        case(
            "docs",
            &[".", "--out", "site", "--warehouse", "warehouse.duckdb"],
            0,
        ),
    ]
}

/// Runs `pipec watch . --format json` in `dir`, breaks and mends `shop.pipe`, and returns the
/// NDJSON lines it printed: `checked`, `watching`, `rechecked` (an error), `rechecked` (clean)
/// and the `test` event of `--test`.
fn watch_lines(dir: &Path) -> Vec<String> {
    let mut child = pipec()
        .args(["watch", ".", "--test", "--format", "json"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let wait_for = |event: &str, lines: &mut Vec<String>| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                let found = line.contains(&format!("\"event\":\"{event}\""));
                lines.push(line);
                if found {
                    return;
                }
            }
        }
        panic!("no `{event}` event from `pipec watch --format json`: {lines:#?}");
    };
    wait_for("watching", &mut lines);
    let spec = dir.join("shop.pipe");
    let good = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, format!("{good}\ntransform broken = nowhere\n")).unwrap();
    wait_for("rechecked", &mut lines);
    std::fs::write(&spec, &good).unwrap();
    wait_for("test", &mut lines);
    let _ = child.kill();
    let _ = child.wait();
    lines
}

/// Validates `cases` (what, schema, document) with scripts/json_schema_check.py.
fn validate(cases: &[(String, String, serde_json::Value)]) {
    let setup = std::process::Command::new("bash")
        .arg(root().join("scripts/pyenv.sh"))
        .arg("json")
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "cannot make the jsonschema venv (`bash scripts/pyenv.sh json` needs python3 -m venv and pip reaching PyPI):\n{}",
        text(&setup)
    );
    let venv = stdout(&setup).trim().to_string();
    let input: Vec<serde_json::Value> = cases
        .iter()
        .map(|(what, schema, doc)| serde_json::json!({"what": what, "schema": schema, "document": doc}))
        .collect();
    let out = output_with_stdin(
        std::process::Command::new(Path::new(&venv).join("bin/python"))
            .arg(root().join("scripts/json_schema_check.py"))
            .arg(root().join("docs/json")),
        serde_json::to_string(&input).unwrap().as_bytes(),
    );
    assert!(
        out.status.success(),
        "documents that do not match docs/json/*.schema.json:\n{}",
        text(&out)
    );
    assert!(
        stdout(&out).contains(&format!("{} documents checked, 0 violations", cases.len())),
        "{}",
        text(&out)
    );
}

#[test]
fn every_json_document_has_the_documented_versioned_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let shop = project(tmp.path());
    let commands = json_commands();
    let cases = cases();
    let covered: Vec<&str> = cases.iter().map(|c| c.command).chain(["watch"]).collect();
    for c in &commands {
        assert!(
            covered.contains(&c.as_str()),
            "`pipec {c}` prints JSON but has no case in tests/json.rs (nor, perhaps, a schema docs/json/{c}.schema.json and a section in docs/json.md)"
        );
        assert!(
            root().join(format!("docs/json/{c}.schema.json")).is_file(),
            "no docs/json/{c}.schema.json"
        );
        assert!(
            std::fs::read_to_string(root().join("docs/json.md"))
                .unwrap()
                .contains(&format!("## `pipec {c}`")),
            "docs/json.md has no section `## `pipec {c}``"
        );
    }
    for c in &covered {
        assert!(
            commands.iter().any(|n| n == c),
            "`pipec {c}` has a case but no `--format json` in its help: {commands:?}"
        );
    }

    let mut documents = Vec::new();
    for c in &cases {
        let mut cmd = pipec();
        cmd.args(&c.args).current_dir(&shop);
        let out = match c.stdin {
            Some(input) => output_with_stdin(&mut cmd, input.as_bytes()),
            None => cmd.output().unwrap(),
        };
        let what = format!("pipec {}", c.args.join(" "));
        assert_eq!(out.status.code(), Some(c.exit), "{what}:\n{}", text(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{what} printed no JSON document ({e}):\n{}", text(&out)));
        assert_eq!(doc["version"], 1, "{what}: {doc:#}");
        assert_eq!(doc["command"], c.command, "{what}: {doc:#}");
        let start = format!(
            "{{\n  \"version\": 1,\n  \"command\": \"{}\",\n  \"diagnostics\": [",
            c.command
        );
        assert!(
            stdout(&out).starts_with(&start),
            "{what}: the document does not start with version, command, diagnostics:\n{}",
            stdout(&out)
        );
        let errors = doc["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["severity"] == "error")
            .count();
        assert_eq!(
            errors > 0,
            c.exit == 1,
            "{what}: errors iff exit 1: {doc:#}"
        );
        documents.push((what, c.command.to_string(), doc));
    }
    // What the documents say, beyond their shape.
    let find = |what: &str| {
        &documents
            .iter()
            .find(|(w, _, _)| w.starts_with(what))
            .unwrap_or_else(|| panic!("no case {what}"))
            .2
    };
    let broken = find("pipec check ../broken");
    assert_eq!(broken["errors"], 1, "{broken:#}");
    assert_eq!(
        broken["diagnostics"][0]["fixes"][0]["replacement"], "and",
        "diagnostics keep their machine-applicable fixes: {broken:#}"
    );
    assert_eq!(find("pipec run . --date")["tally"]["done"], 1);
    assert_eq!(find("pipec runs")["runs"].as_array().unwrap().len(), 2);
    assert_eq!(find("pipec test")["passed"], 1);
    assert_eq!(find("pipec plan")["pending"], false);
    assert_eq!(find("pipec show . daily_revenue --date")["shown"], 1);

    let lines = watch_lines(&shop);
    for (i, line) in lines.iter().enumerate() {
        let doc: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("watch line {i} is not one JSON object ({e}): {line}"));
        assert_eq!(doc["command"], "watch", "{line}");
        documents.push((format!("pipec watch, line {i}"), "watch".into(), doc));
    }
    let events: Vec<String> = documents
        .iter()
        .filter(|(_, s, _)| s == "watch")
        .map(|(_, _, d)| d["event"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(events[..2], ["checked", "watching"], "{lines:#?}");
    assert!(events.contains(&"test".to_string()), "{lines:#?}");

    validate(&documents);
}
