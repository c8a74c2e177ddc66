//! End-to-end tests of `pipec plan` and of how `pipec run` treats changed specs, on a real
//! DuckDB warehouse: unchanged, non-breaking (a new column, added by `run`) and breaking (a
//! changed type, refused by `run` unless `--full-refresh`, which rebuilds the tables).

mod common;

use common::*;
use std::path::Path;

const SHOP: &str = r#"pipeline shop { schedule daily start 2024-01-01 }

source orders = csv("data/orders/{ds}.csv") {
  id: int,
  amount: float,
  status: string,
}

transform daily = orders
  | derive ds = @ds
  | group ds, status { total = sum(amount), n = count() }

sink daily -> mart.daily { mode replace partition by ds }
"#;

const REPORT: &str = r#"pipeline report { schedule daily start 2024-01-01 }

source d = table("mart.daily")

transform big = d | filter n > 1

sink big -> mart.big { mode replace }
"#;

fn project(dir: &Path, shop: &str) {
    write_all(dir, &[("shop.pipe", shop), ("report.pipe", REPORT)]);
    for day in 1..=4 {
        let mut csv = String::from("id,amount,status\n");
        for i in 0..5 {
            let status = if i % 2 == 0 { "paid" } else { "open" };
            csv.push_str(&format!("{i},{day}.{i}5,{status}\n"));
        }
        write(dir, &format!("data/orders/2024-01-0{day}.csv"), &csv);
    }
}

fn plan(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["plan", "shop.pipe", "report.pipe"];
    args.extend(extra);
    pipec_in(dir, &args)
}

fn run(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", "shop.pipe", "report.pipe"];
    args.extend(extra);
    pipec_in(dir, &args)
}

fn column_type(dir: &Path, table: &str, column: &str) -> Vec<String> {
    query_strings_in(
        dir,
        &format!(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = 'mart' AND table_name = '{table}' AND column_name = '{column}'"
        ),
    )
}

#[test]
fn plan_unchanged_non_breaking_and_breaking_against_a_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let wh = dir.join("w.duckdb");
    project(dir, SHOP);

    // A warehouse that never ran: everything is new, changes pending.
    let fresh = plan(dir, &[]);
    assert_eq!(fresh.status.code(), Some(3), "{}", text(&fresh));
    assert!(
        stdout(&fresh).contains("never ran on this warehouse"),
        "{}",
        text(&fresh)
    );

    let first = run(dir, &["--from", "2024-01-01", "--to", "2024-01-02"]);
    assert!(first.status.success(), "{}", text(&first));

    // Unchanged, also after `pipec fmt` rewrote the file.
    let same = plan(dir, &[]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(stdout(&same).starts_with("no changes"), "{}", text(&same));
    let fmt = pipec()
        .args(["fmt", "shop.pipe", "report.pipe"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(fmt.status.success(), "{}", text(&fmt));
    let same = plan(dir, &[]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));

    // A new column: non-breaking, for the mart and the pipeline reading it.
    let with_top = SHOP.replace("n = count() }", "n = count(), top = max(amount) }");
    project(dir, &with_top);
    let added = plan(dir, &[]);
    assert_eq!(added.status.code(), Some(3), "{}", text(&added));
    let out = stdout(&added);
    for needle in [
        "non-breaking  relation  daily",
        "new column `top` (float?)",
        "non-breaking  sink      mart.daily",
        "non-breaking  sink      mart.big",
        "2 interval(s) done: 2024-01-01 to 2024-01-02",
        &format!(
            "pipec run shop.pipe report.pipe --warehouse {} --pipeline shop --from 2024-01-01 --to 2024-01-02 --force",
            wh.display()
        ),
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    // `run` adds the column (E0510 before) and fills it for its interval.
    let third = run(dir, &["--date", "2024-01-03"]);
    assert!(third.status.success(), "{}", text(&third));
    assert_eq!(
        query_in(
            dir,
            "SELECT ds, status, top FROM mart.daily WHERE status = 'paid' ORDER BY ds"
        ),
        [
            "{'ds': 2024-01-01, 'status': paid, 'top': NULL}",
            "{'ds': 2024-01-02, 'status': paid, 'top': NULL}",
            "{'ds': 2024-01-03, 'status': paid, 'top': 3.45}"
        ]
    );
    assert_eq!(column_type(dir, "big", "top"), ["DOUBLE"]);
    let same = plan(dir, &[]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));

    // A changed type: breaking, downstream rebuilt, across pipelines.
    let decimal = with_top.replace("amount: float,", "amount: decimal(12, 2),");
    project(dir, &decimal);
    let breaking = plan(dir, &[]);
    assert_eq!(breaking.status.code(), Some(3), "{}", text(&breaking));
    let out = stdout(&breaking);
    for needle in [
        "breaking      relation  orders",
        "column `amount` changed type from float to decimal(12, 2)",
        "sink      mart.daily",
        "sink      mart.big",
        "3 interval(s) done: 2024-01-01 to 2024-01-03",
        &format!(
            "pipec run shop.pipe report.pipe --warehouse {} --pipeline shop --from 2024-01-01 --to 2024-01-03 --full-refresh",
            wh.display()
        ),
        &format!(
            "pipec run shop.pipe report.pipe --warehouse {} --pipeline report --from 2024-01-01 --to 2024-01-03 --full-refresh",
            wh.display()
        ),
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let mut breaking_lines = out.lines().filter(|l| l.contains("mart.daily"));
    assert!(
        breaking_lines.any(
            |l| l.trim_start().starts_with("breaking") || l.trim_start().starts_with("rebuild")
        ),
        "{out}"
    );

    // `run` refuses, explaining, and changes nothing.
    let refused = run(dir, &["--date", "2024-01-04"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    // The message as one line: the renderer wraps it in a frame.
    let err = stderr(&refused)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(err.contains("E0540"), "{err}");
    assert!(
        err.contains("column `amount` changed type from float to decimal(12, 2)"),
        "{err}"
    );
    assert!(err.contains("--full-refresh"), "{err}");
    assert_eq!(
        query_strings_in(
            dir,
            "SELECT CAST(count(DISTINCT ds) AS VARCHAR) FROM mart.daily"
        ),
        ["3"]
    );
    assert_eq!(column_type(dir, "daily", "total"), ["DOUBLE"]);

    // `--full-refresh` rebuilds the tables from the command's intervals.
    let rebuilt = run(
        dir,
        &[
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-03",
            "--full-refresh",
        ],
    );
    assert!(rebuilt.status.success(), "{}", text(&rebuilt));
    assert!(
        column_type(dir, "daily", "total")[0].starts_with("DECIMAL"),
        "{:?}",
        column_type(dir, "daily", "total")
    );
    assert!(column_type(dir, "big", "total")[0].starts_with("DECIMAL"));
    assert_eq!(
        query_in(
            dir,
            "SELECT ds, top FROM mart.daily WHERE status = 'paid' ORDER BY ds"
        ),
        [
            "{'ds': 2024-01-01, 'top': 1.45}",
            "{'ds': 2024-01-02, 'top': 2.45}",
            "{'ds': 2024-01-03, 'top': 3.45}"
        ]
    );
    let same = plan(dir, &[]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    let fourth = run(dir, &["--date", "2024-01-04"]);
    assert!(fourth.status.success(), "{}", text(&fourth));
}

#[test]
fn plan_json_shape() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    project(dir, SHOP);
    let first = run(dir, &["--date", "2024-01-01"]);
    assert!(first.status.success(), "{}", text(&first));
    let changed = SHOP.replace("sum(amount)", "sum(amount * 2.0)");
    project(dir, &changed);
    let out = plan(dir, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let v = json(&out);
    assert_eq!(v["version"], 1);
    assert_eq!(v["pending"], true);
    let changes = v["changes"].as_array().unwrap();
    let daily = changes
        .iter()
        .find(|c| c["pipeline"] == "shop" && c["name"] == "daily")
        .unwrap();
    assert_eq!(daily["kind"], "relation");
    assert_eq!(daily["status"], "breaking");
    assert_eq!(
        daily["reasons"][0],
        "column `total` is computed differently"
    );
    let orders = changes.iter().find(|c| c["name"] == "orders").unwrap();
    assert_eq!(orders["status"], "unchanged");
    let big = changes.iter().find(|c| c["name"] == "mart.big").unwrap();
    assert_eq!(big["status"], "rebuild");
    let pipelines = v["pipelines"].as_array().unwrap();
    assert_eq!(pipelines[0]["pipeline"], "shop");
    assert_eq!(pipelines[0]["status"], "breaking");
    assert_eq!(pipelines[0]["intervals_done"][0]["ds"], "2024-01-01");
    assert!(pipelines[0]["command"]
        .as_str()
        .unwrap()
        .ends_with("--pipeline shop --from 2024-01-01 --to 2024-01-01 --full-refresh"));
}

/// After `run --full-refresh` (or `--force`) of an upstream pipeline alone, its readers ran on
/// the data it replaced: `plan` reports them stale with the run that redoes the intervals that
/// read it, and is clean once that ran.
#[test]
fn a_reader_of_an_upstream_rebuilt_after_it_ran_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let wh = dir.join("w.duckdb");
    project(dir, SHOP);
    let first = run(dir, &["--from", "2024-01-01", "--to", "2024-01-04"]);
    assert!(first.status.success(), "{}", text(&first));
    let same = plan(dir, &[]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));

    // A breaking change, redone for `shop` alone.
    project(dir, &SHOP.replace("sum(amount)", "sum(amount * 2.0)"));
    let upstream = run(
        dir,
        &[
            "--pipeline",
            "shop",
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-04",
            "--full-refresh",
        ],
    );
    assert!(upstream.status.success(), "{}", text(&upstream));
    let stale = plan(dir, &[]);
    assert_eq!(stale.status.code(), Some(3), "{}", text(&stale));
    let out = stdout(&stale);
    let redo = format!(
        "pipec run shop.pipe report.pipe --warehouse {} --pipeline report --from 2024-01-01 --to 2024-01-04 --force",
        wh.display()
    );
    for needle in [
        "shop: unchanged",
        "stale         relation  d  reads `shop`, which republished intervals it read after they ran: 4 interval(s) to redo",
        "4 interval(s) read upstream data republished after they ran; redo them:",
        &redo,
        "0 breaking, 0 to rebuild, 1 stale,",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let json = json(&plan(dir, &["--format", "json"]));
    let report = &json["pipelines"][1];
    assert_eq!(report["pipeline"], "report", "{json:#}");
    assert_eq!(report["status"], "stale", "{json:#}");
    assert_eq!(report["intervals_stale"].as_array().unwrap().len(), 4);
    assert_eq!(json["pipelines"][0]["status"], "unchanged", "{json:#}");

    // The printed command makes the reader current.
    let args: Vec<&str> = redo.split(' ').skip(1).collect();
    let redone = pipec().args(&args).current_dir(dir).output().unwrap();
    assert!(redone.status.success(), "{}", text(&redone));
    let clean = plan(dir, &[]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));

    // One upstream interval redone: the reader's intervals from that day on read it.
    let forced = run(
        dir,
        &["--pipeline", "shop", "--date", "2024-01-03", "--force"],
    );
    assert!(forced.status.success(), "{}", text(&forced));
    let out = stdout(&plan(dir, &[]));
    assert!(
        out.contains("--pipeline report --from 2024-01-03 --to 2024-01-04 --force"),
        "{out}"
    );
}
