//! Cross-engine conformance: every spec of `tests/engines/` and every example the targets
//! support is run with `pipec run` (DuckDB) and through `pipec emit` on the real engines
//! (Spark SQL, Airflow 3 on DuckDB and PostgreSQL) by `scripts/engines.py`, which compares
//! every sink table as a multiset of rows. The engines come from the cached venv of
//! `scripts/pyenv.sh`; PostgreSQL from `scripts/postgres.sh` (`PIPEC_TEST_PG_URL`).
//! One test per spec and target; they take turns, as each starts Spark or Airflow.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One engine run at a time: the machine has two cores and Spark uses both.
static ENGINES: Mutex<()> = Mutex::new(());

/// The venv holding Airflow, PySpark and DuckDB for Python (created once by scripts/pyenv.sh).
fn venv() -> PathBuf {
    pyenv(
        None,
        "apache-airflow, pyspark and duckdb",
        &["python", "airflow", "spark-sql"],
    )
}

/// A fresh work folder for one test, kept after the run for inspection.
fn work_dir(name: &str) -> PathBuf {
    suite_dir("engines", name)
}

/// `--target` and `--profile` of an engines.py target name.
fn emit_args(target: &str) -> Vec<&'static str> {
    match target {
        "spark" => vec!["--target", "spark"],
        "airflow-duckdb" => vec!["--target", "airflow", "--profile", "duckdb"],
        "airflow-postgres" => vec!["--target", "airflow", "--profile", "postgres"],
        other => panic!("unknown target {other}"),
    }
}

/// `None` when `pipec emit` writes `spec` for `target`; `Some(reason)` when it refuses it only
/// with registered "not supported on this target" codes. Any other failure fails the test.
fn unsupported(spec: &Path, target: &str, work: &Path) -> Option<String> {
    let out = pipec()
        .arg("emit")
        .arg(spec)
        .args(emit_args(target))
        .arg("--out")
        .arg(work.join("probe"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(work.join("probe"));
    if out.status.success() {
        return None;
    }
    let diags = diagnostics(&out, "`pipec emit --format json`");
    let errors: Vec<&serde_json::Value> =
        diags.iter().filter(|d| d["severity"] == "error").collect();
    let codes: Vec<String> = errors
        .iter()
        .map(|d| d["code"].as_str().unwrap_or_default().to_string())
        .collect();
    let allowed = unsupported_codes();
    assert!(
        !codes.is_empty() && codes.iter().all(|c| allowed.contains(c)),
        "`pipec emit {} {}` failed with codes {codes:?}, not only the registered \
         not-supported codes {allowed:?}:\n{}",
        spec.display(),
        emit_args(target).join(" "),
        text(&out)
    );
    let messages: Vec<String> = errors
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["code"].as_str().unwrap_or_default(),
                d["message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    Some(messages.join("; "))
}

/// Runs scripts/engines.py over `specs` (paths inside the work folder) for one target and
/// fails with its whole output unless every sink table is equal on every engine.
fn conform(
    work: &Path,
    specs: &[PathBuf],
    dates: &str,
    rerun: &str,
    target: &str,
    env: &[(&str, &str)],
) {
    let python = venv().join("bin").join("python");
    let mut cmd = Command::new(&python);
    cmd.arg(root().join("scripts/engines.py"))
        .arg("--pipec")
        .arg(env!("CARGO_BIN_EXE_pipec"))
        .args(["--dates", dates, "--rerun", rerun, "--targets", target])
        .arg("--work")
        .arg(work.join("run"));
    for s in specs {
        cmd.arg("--spec").arg(s);
    }
    for (k, v) in env {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    if target == "airflow-postgres" {
        cmd.args(["--pg-url", &pg_url()]);
    }
    let out = cmd.current_dir(work).env("NO_COLOR", "1").output().unwrap();
    let log = text(&out);
    println!("{log}");
    assert!(
        out.status.success(),
        "engines.py found differences or failures for {target} (rows above):\n{}",
        log.lines()
            .filter(|l| l.starts_with("DIFF") || l.starts_with("FAIL") || l.starts_with("summary"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        log.lines().any(|l| l.starts_with("OK ")),
        "engines.py compared no table:\n{log}"
    );
}

/// A spec of tests/engines/ (with its data) on one target.
fn corpus(name: &str, specs: &[&str], dates: &str, rerun: &str, target: &str) {
    let _turn = ENGINES.lock().unwrap_or_else(|e| e.into_inner());
    let work = work_dir(&format!("{name}-{target}"));
    copy_tree(&root().join("tests/engines"), &work.join("src"));
    let specs: Vec<PathBuf> = specs.iter().map(|s| work.join("src").join(s)).collect();
    conform(&work, &specs, dates, rerun, target, &[]);
}

/// An example folder on one target, unless the target refuses it with a not-supported code.
fn example(name: &str, dates: &str, rerun: &str, target: &str) {
    let _turn = ENGINES.lock().unwrap_or_else(|e| e.into_inner());
    let work = work_dir(&format!("example-{name}-{target}"));
    let src = work.join("src").join(name);
    copy_tree(&root().join("examples").join(name), &src);
    if let Some(reason) = unsupported(&src, target, &work) {
        let note = format!("SKIPPED example {name} on {target}: {reason}");
        println!("{note}");
        return;
    }
    let mut env = vec![("SLACK_WEBHOOK", SLACK_WEBHOOK.to_string())];
    if name == "nps" {
        // The nps example copies answers out of PostgreSQL: load them into the test server.
        let url = pg_url();
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let sql = std::fs::read_to_string(src.join("data/survey_answers.sql")).unwrap();
        client.batch_execute(&sql).unwrap();
        env.push(("NPS_DB_URL", url));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    conform(
        &work,
        std::slice::from_ref(&src),
        dates,
        rerun,
        target,
        &env,
    );
}

const DAYS: &str = "2024-01-01,2024-01-02,2024-01-03";

#[test]
fn semantics_spark() {
    corpus(
        "semantics",
        &["semantics.pipe"],
        DAYS,
        "2024-01-02",
        "spark",
    );
}

#[test]
fn semantics_airflow_duckdb() {
    corpus(
        "semantics",
        &["semantics.pipe"],
        DAYS,
        "2024-01-02",
        "airflow-duckdb",
    );
}

#[test]
fn semantics_airflow_postgres() {
    corpus(
        "semantics",
        &["semantics.pipe"],
        DAYS,
        "2024-01-02",
        "airflow-postgres",
    );
}

#[test]
fn modes_spark() {
    corpus("modes", &["modes.pipe"], DAYS, "2024-01-02", "spark");
}

#[test]
fn modes_airflow_duckdb() {
    corpus(
        "modes",
        &["modes.pipe"],
        DAYS,
        "2024-01-02",
        "airflow-duckdb",
    );
}

#[test]
fn modes_airflow_postgres() {
    corpus(
        "modes",
        &["modes.pipe"],
        DAYS,
        "2024-01-02",
        "airflow-postgres",
    );
}

const SEOUL_DAYS: &str = "2024-01-30,2024-01-31,2024-02-29";
const BERLIN_DAYS: &str = "2024-03-30,2024-03-31,2024-04-01";

#[test]
fn time_seoul_spark() {
    corpus(
        "time_seoul",
        &["time_seoul.pipe"],
        SEOUL_DAYS,
        "2024-01-31",
        "spark",
    );
}

#[test]
fn time_seoul_airflow_duckdb() {
    corpus(
        "time_seoul",
        &["time_seoul.pipe"],
        SEOUL_DAYS,
        "2024-01-31",
        "airflow-duckdb",
    );
}

#[test]
fn time_berlin_spark() {
    corpus(
        "time_berlin",
        &["time_berlin.pipe"],
        BERLIN_DAYS,
        "2024-03-31",
        "spark",
    );
}

#[test]
fn time_berlin_airflow_duckdb() {
    corpus(
        "time_berlin",
        &["time_berlin.pipe"],
        BERLIN_DAYS,
        "2024-03-31",
        "airflow-duckdb",
    );
}

#[test]
fn hostile_spark() {
    corpus("hostile", &["hostile.pipe"], DAYS, "2024-01-02", "spark");
}

#[test]
fn hostile_airflow_duckdb() {
    corpus(
        "hostile",
        &["hostile.pipe"],
        DAYS,
        "2024-01-02",
        "airflow-duckdb",
    );
}

#[test]
fn hostile_airflow_postgres() {
    corpus(
        "hostile",
        &["hostile.pipe"],
        DAYS,
        "2024-01-02",
        "airflow-postgres",
    );
}

#[test]
fn example_blog_visits_spark() {
    example("blog_visits", DAYS, "2024-01-02", "spark");
}

#[test]
fn example_blog_visits_airflow_duckdb() {
    example("blog_visits", DAYS, "2024-01-02", "airflow-duckdb");
}

#[test]
fn example_blog_visits_airflow_postgres() {
    example("blog_visits", DAYS, "2024-01-02", "airflow-postgres");
}

#[test]
fn example_bike_share_spark() {
    example("bike_share", DAYS, "2024-01-02", "spark");
}

#[test]
fn example_bike_share_airflow_duckdb() {
    example("bike_share", DAYS, "2024-01-02", "airflow-duckdb");
}

#[test]
fn example_bike_share_airflow_postgres() {
    example("bike_share", DAYS, "2024-01-02", "airflow-postgres");
}

#[test]
fn example_nps_spark() {
    example("nps", DAYS, "2024-01-02", "spark");
}

#[test]
fn example_nps_airflow_duckdb() {
    example("nps", DAYS, "2024-01-02", "airflow-duckdb");
}

/// Hourly: three intervals of 2024-01-02 (UTC) and a re-run of the second.
const HOURS: &str = "2024-01-02T00:00Z..2024-01-02T01:00Z,2024-01-02T02:00Z..2024-01-02T02:00Z";

#[test]
fn example_artist_collector_spark() {
    example(
        "artist_collector",
        HOURS,
        "2024-01-02T01:00Z..2024-01-02T01:00Z",
        "spark",
    );
}

#[test]
fn example_artist_collector_airflow_duckdb() {
    example(
        "artist_collector",
        HOURS,
        "2024-01-02T01:00Z..2024-01-02T01:00Z",
        "airflow-duckdb",
    );
}
