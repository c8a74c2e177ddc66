//! The SAM target judged by real tools: every example and every spec of `tests/engines/` is
//! emitted with `pipec emit --target sam` and checked by `scripts/sam_check.py` (cfn-lint,
//! aws-sam-translator + cfn-lint, the state-machine graph, sqlglot's Athena parser, and the
//! semantic check: the state machines interpreted with their Athena SQL translated to DuckDB,
//! every sink compared with `pipec run`'s rows). The tools come from the cached venv of
//! `scripts/pyenv.sh sam`; PostgreSQL (nps, the Lambda tests) from `scripts/postgres.sh`
//! (`PIPEC_TEST_PG_URL`). One test per spec; they take turns (two cores).

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One check at a time: cfn-lint and the simulation each use a core.
static TURN: Mutex<()> = Mutex::new(());

/// The venv holding cfn-lint, aws-sam-translator, sqlglot, duckdb and moto (created once).
fn venv() -> PathBuf {
    pyenv(
        Some("sam"),
        "cfn-lint, aws-sam-translator, sqlglot, duckdb, boto3, moto and pg8000",
        &["python", "cfn-lint"],
    )
}

/// A fresh work folder for one test, kept after the run for inspection.
fn work_dir(name: &str) -> PathBuf {
    suite_dir("sam", name)
}

/// `None` when `pipec emit --target sam` writes `spec`; `Some(reason)` when it refuses it only
/// with registered "not supported" codes. Any other failure fails the test.
fn unsupported(spec: &Path, work: &Path) -> Option<String> {
    let out = pipec()
        .arg("emit")
        .arg(spec)
        .args(["--target", "sam", "--out"])
        .arg(work.join("probe"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(work.join("probe"));
    if out.status.success() {
        return None;
    }
    let diags = diagnostics(&out, "`pipec emit --target sam --format json`");
    let errors: Vec<&serde_json::Value> =
        diags.iter().filter(|d| d["severity"] == "error").collect();
    let codes: Vec<String> = errors
        .iter()
        .map(|d| d["code"].as_str().unwrap_or_default().to_string())
        .collect();
    let allowed = unsupported_codes();
    assert!(
        !codes.is_empty() && codes.iter().all(|c| allowed.contains(c)),
        "`pipec emit {} --target sam` failed with codes {codes:?}, not only the registered \
         not-supported codes {allowed:?}:\n{}",
        spec.display(),
        text(&out)
    );
    Some(
        errors
            .iter()
            .map(|d| {
                format!(
                    "{} {}",
                    d["code"].as_str().unwrap_or_default(),
                    d["message"].as_str().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Runs scripts/sam_check.py over `specs` and fails with its output unless every check passed;
/// returns the output.
fn judge(
    work: &Path,
    specs: &[PathBuf],
    dates: &str,
    rerun: &str,
    env: &[(&str, String)],
    known_diffs: &[&str],
) -> String {
    let python = venv().join("bin").join("python");
    let mut cmd = Command::new(&python);
    cmd.arg(root().join("scripts/sam_check.py"))
        .arg("--pipec")
        .arg(env!("CARGO_BIN_EXE_pipec"))
        .args(["--dates", dates, "--rerun", rerun])
        .arg("--work")
        .arg(work.join("run"));
    for s in specs {
        cmd.arg("--spec").arg(s);
    }
    for (k, v) in env {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    for k in known_diffs {
        cmd.arg("--known-diff").arg(k);
    }
    let out = cmd.current_dir(work).env("NO_COLOR", "1").output().unwrap();
    let log = text(&out);
    println!("{log}");
    assert!(
        out.status.success(),
        "sam_check.py found problems (output above):\n{}",
        log.lines()
            .filter(|l| l.starts_with("FAIL") || l.starts_with("DIFF") || l.starts_with("summary"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for check in [
        "emit",
        "cfn-lint",
        "sam-translate",
        "graph",
        "sqlglot",
        "semantic",
    ] {
        assert!(
            log.lines()
                .any(|l| l.starts_with("summary:") && l.contains(check)),
            "sam_check.py did not run the {check} check:\n{log}"
        );
    }
    log
}

/// A spec of tests/engines/ (with its data), unless the SAM target refuses it with a registered
/// not-supported code (printed as SKIPPED).
fn corpus(name: &str, dates: &str, rerun: &str, known_diffs: &[&str]) {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let work = work_dir(name);
    copy_tree(&root().join("tests/engines"), &work.join("src"));
    let spec = work.join("src").join(format!("{name}.pipe"));
    if let Some(reason) = unsupported(&spec, &work) {
        println!("SKIPPED {name}.pipe on sam: {reason}");
        return;
    }
    judge(&work, &[spec], dates, rerun, &[], known_diffs);
}

/// An example folder: every example must pass (none may be refused).
fn example(name: &str, dates: &str, rerun: &str) {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let work = work_dir(&format!("example-{name}"));
    let src = work.join("src").join(name);
    copy_tree(&root().join("examples").join(name), &src);
    let mut env = vec![("SLACK_WEBHOOK", SLACK_WEBHOOK.to_string())];
    if name == "nps" {
        // The nps example copies answers out of PostgreSQL: load them into the test server.
        let url = pg_url();
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let sql = std::fs::read_to_string(src.join("data/survey_answers.sql")).unwrap();
        client.batch_execute(&sql).unwrap();
        env.push(("NPS_DB_URL", url));
    }
    judge(&work, std::slice::from_ref(&src), dates, rerun, &env, &[]);
}

const DAYS: &str = "2024-01-01,2024-01-02,2024-01-03";

#[test]
fn example_blog_visits() {
    example("blog_visits", DAYS, "2024-01-02");
}

#[test]
fn example_bike_share() {
    example("bike_share", DAYS, "2024-01-02");
}

#[test]
fn example_nps() {
    example("nps", DAYS, "2024-01-02");
}

/// Hourly: three intervals of 2024-01-02 (UTC) and a re-run of the second.
const HOURS: &str = "2024-01-02T00:00Z..2024-01-02T01:00Z,2024-01-02T02:00Z..2024-01-02T02:00Z";

#[test]
fn example_artist_collector() {
    example(
        "artist_collector",
        HOURS,
        "2024-01-02T01:00Z..2024-01-02T01:00Z",
    );
}

#[test]
fn semantics() {
    // OpenCSVSerde reads the quoted empty fields of strings.csv's row 5 like unquoted ones, so
    // `nulls = [""]` makes them null (docs/targets.md, "How SAM is verified").
    corpus(
        "semantics",
        DAYS,
        "2024-01-02",
        &["sem.strings=id=5", "sem.union_str=key=5"],
    );
}

#[test]
fn modes() {
    corpus("modes", DAYS, "2024-01-02", &[]);
}

#[test]
fn time_seoul() {
    corpus(
        "time_seoul",
        "2024-01-30,2024-01-31,2024-02-29",
        "2024-01-31",
        &[],
    );
}

#[test]
fn time_berlin() {
    corpus(
        "time_berlin",
        "2024-03-30,2024-03-31,2024-04-01",
        "2024-03-31",
        &[],
    );
}

/// Names and values that generated code must quote and never evaluate. Glue column names are
/// one line, so the SAM target refuses the column named with a line break (`E0650`, asserted);
/// the same spec with that one column renamed (its value, with `\n`, `\t`, `\r`, unchanged)
/// must pass every check, its values arriving unchanged.
#[test]
fn hostile() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let work = work_dir("hostile");
    copy_tree(&root().join("tests/engines"), &work.join("src"));
    let spec = work.join("src").join("hostile.pipe");
    let out = pipec()
        .arg("emit")
        .arg(&spec)
        .args(["--target", "sam", "--out"])
        .arg(work.join("probe"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let diags = diagnostics(&out, "`pipec emit --target sam --format json`");
    let errors: Vec<(String, String)> = diags
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                d["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        !out.status.success()
            && errors.len() == 1
            && errors[0].0 == "E0650"
            && errors[0].1.contains("new\\nline"),
        "expected only E0650 on the column named with a line break, got {errors:?}"
    );
    let body = std::fs::read_to_string(&spec).unwrap();
    assert!(body.contains("`new\nline` ="), "hostile.pipe changed");
    let variant = work.join("src").join("hostile_sam.pipe");
    std::fs::write(&variant, body.replace("`new\nline` =", "`new line` =")).unwrap();
    judge(&work, &[variant], DAYS, "2024-01-02", &[], &[]);
}

/// `schedule on file`: for each day, the S3 "Object Created" event of the file the manifest's
/// `uploads` put in the raw bucket must match the EventBridge rule and make the interval
/// function compute that day's interval as `pipec run` does (then the tables must agree).
#[test]
fn on_file() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let work = work_dir("on_file");
    let src = work.join("src");
    std::fs::create_dir_all(src.join("landing")).unwrap();
    std::fs::copy(
        root().join("crates/sam/tests/specs/on_file.pipe"),
        src.join("on_file.pipe"),
    )
    .unwrap();
    for (i, day) in DAYS.split(',').enumerate() {
        std::fs::write(
            src.join("landing").join(format!("{day}.csv")),
            format!(
                "order_id;amount;ordered_at\n{i}1;12.50;{day} 08:00:00\n{i}2;7.25;{day} 17:30:00\n"
            ),
        )
        .unwrap();
    }
    let log = judge(
        &work,
        &[src.join("on_file.pipe")],
        DAYS,
        "2024-01-02",
        &[],
        &[],
    );
    assert!(
        log.contains("EventBridgeRule SamOnFileFileRule gives pipec's intervals"),
        "the on-file rule was not simulated:\n{log}"
    );
}

/// The Lambda functions' unit tests (local HTTP server, local PostgreSQL, moto), in the venv.
#[test]
fn lambdas() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let venv = venv();
    let script = root().join("scripts/sam_lambdas.sh");
    assert!(
        script.exists(),
        "{} is missing: it runs the Lambda unit tests of crates/sam/functions/tests",
        script.display()
    );
    let out = Command::new("bash")
        .arg(&script)
        .current_dir(root())
        .env("PIPEC_LAMBDA_PYENV", &venv)
        .env("PIPEC_BIN", env!("CARGO_BIN_EXE_pipec"))
        .env("PIPEC_PG_URL", pg_url())
        .output()
        .unwrap();
    let log = text(&out);
    println!("{log}");
    assert!(out.status.success(), "the Lambda unit tests failed:\n{log}");
}

/// The checker itself: a small valid state machine passes its graph and sqlglot checks, and
/// each broken variant (a dangling `Next`/`Catch`, an unreachable state, a loop with no way
/// out, `?` and `ExecutionParameters` that disagree, SQL that does not parse, a parameter that
/// is not one literal) fails.
#[test]
fn checker_self_test() {
    let python = venv().join("bin").join("python");
    let out = Command::new(&python)
        .arg(root().join("scripts/sam_check.py"))
        .arg("--self-test")
        .output()
        .unwrap();
    let log = text(&out);
    println!("{log}");
    assert!(
        out.status.success() && log.contains("self-test passed"),
        "{log}"
    );
}
