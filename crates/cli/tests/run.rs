//! End-to-end tests of `pipec run`, `pipec runs` and `pipec test` on real DuckDB warehouses,
//! a real local HTTP server and (with `PIPEC_TEST_PG_URL`) a real PostgreSQL server.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[test]
fn examples_run_and_reruns_leave_counts_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    for example in ["bike_share", "blog_visits", "artist_collector"] {
        let wh = dir.path().join(format!("{example}.duckdb"));
        let path = format!("examples/{example}");
        let first = run(&["run", &path, "--date", "2024-01-02"], &wh);
        assert!(first.status.success(), "{example}: {}", text(&first));
        let after_first = table_counts(&wh);
        assert!(
            after_first.iter().any(|(_, n)| *n > 0),
            "{example} wrote nothing: {after_first:?}"
        );
        let again = run(&["run", &path, "--date", "2024-01-02"], &wh);
        assert!(again.status.success(), "{}", text(&again));
        assert!(text(&again).contains("skipped"), "{}", text(&again));
        let forced = run(&["run", &path, "--date", "2024-01-02", "--force"], &wh);
        assert!(forced.status.success(), "{}", text(&forced));
        assert_eq!(
            table_counts(&wh),
            after_first,
            "{example}: a forced re-run changed row counts"
        );
    }
}

#[test]
fn unit_tests_of_the_examples_and_std_examples_pass() {
    let out = pipec()
        .args(["test", "examples/", "std/examples/"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(" 0 failed"),
        "{}",
        text(&out)
    );
}

/// A project with one CSV per day for `days` days, `rows` rows each.
fn daily_project(dir: &Path, days: u32, rows: u32, extra_check: &str) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for d in 1..=days {
        let mut csv = String::from("order_id,customer,amount,ordered_at\n");
        for r in 0..rows {
            csv.push_str(&format!(
                "{d}-{r},c{},{}.5,2024-01-{d:02} 10:{:02}:00\n",
                r % 7,
                r % 100,
                r % 60
            ));
        }
        std::fs::write(data.join(format!("2024-01-{d:02}.csv")), csv).unwrap();
    }
    let spec = format!(
        r#"pipeline shop {{
  schedule daily at 02:00 "UTC"
  start 2024-01-01
}}
source orders = csv("data/{{ds}}.csv", header = true) {{
  order_id: string, customer: string, amount: float, ordered_at: timestamp
}}
transform daily = orders
  | derive ds = @ds
  | group ds, customer {{ orders = count(), revenue = sum(amount) }}
sink daily -> mart.daily_revenue {{ mode replace partition by ds }}
sink orders -> raw.orders {{ mode append }}
check daily {{ unique(ds, customer)  revenue >= 0 {extra_check} }}
"#
    );
    let file = dir.join("shop.pipe");
    std::fs::write(&file, spec).unwrap();
    file
}

#[test]
fn backfill_runs_only_undone_intervals_and_force_converges() {
    let dir = tempfile::tempdir().unwrap();
    let spec = daily_project(dir.path(), 30, 20, "");
    let wh = dir.path().join("w.duckdb");
    let spec = spec.to_str().unwrap();
    let first = run(&["run", spec, "--date", "2024-01-05"], &wh);
    assert!(first.status.success(), "{}", text(&first));
    let out = run(
        &[
            "run",
            spec,
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-30",
            "--format",
            "json",
        ],
        &wh,
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<&str> = report["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 30);
    assert_eq!(
        statuses.iter().filter(|s| **s == "skipped").count(),
        1,
        "2024-01-05 was already done"
    );
    assert_eq!(statuses.iter().filter(|s| **s == "done").count(), 29);
    let clean = tables(&wh);
    let raw = clean.iter().find(|(n, _)| n == "raw.orders").unwrap();
    assert_eq!(raw.1.len(), 600, "30 days x 20 rows, no duplicates");
    let forced = run(
        &[
            "run",
            spec,
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-30",
            "--force",
        ],
        &wh,
    );
    assert!(forced.status.success(), "{}", text(&forced));
    assert_eq!(
        tables(&wh),
        clean,
        "a forced backfill converges to the same tables"
    );
    let history = pipec()
        .args(["runs", "--warehouse"])
        .arg(&wh)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&history.stdout).contains("2024-01-30"),
        "{}",
        text(&history)
    );
}

#[test]
fn a_failing_check_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = daily_project(dir.path(), 3, 10, "row_count(max = 5)");
    let wh = dir.path().join("w.duckdb");
    let ok_spec = daily_project(&dir.path().join("ok"), 3, 10, "");
    let seeded = run(
        &["run", ok_spec.to_str().unwrap(), "--date", "2024-01-01"],
        &wh,
    );
    assert!(seeded.status.success(), "{}", text(&seeded));
    let before = tables(&wh);
    let out = run(
        &["run", spec.to_str().unwrap(), "--date", "2024-01-02"],
        &wh,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("E0504"), "{}", text(&out));
    assert!(text(&out).contains("row_count(max = 5)"), "{}", text(&out));
    assert_eq!(tables(&wh), before, "published tables must be unchanged");
}

#[test]
fn a_bad_row_names_file_and_line_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = daily_project(dir.path(), 3, 10, "");
    let wh = dir.path().join("w.duckdb");
    assert!(run(
        &["run", spec.to_str().unwrap(), "--date", "2024-01-01"],
        &wh
    )
    .status
    .success());
    let before = tables(&wh);
    let bad = dir.path().join("data/2024-01-02.csv");
    let mut csv = std::fs::read_to_string(&bad).unwrap();
    csv = csv.replacen("2-3,c3,3.5", "2-3,c3,lots", 1);
    std::fs::write(&bad, csv).unwrap();
    let out = run(
        &["run", spec.to_str().unwrap(), "--date", "2024-01-02"],
        &wh,
    );
    assert_failed_with(&out, &["E0501", "2024-01-02.csv", "line 5", "amount"]);
    assert_eq!(tables(&wh), before);
}

/// A CSV source read by one transform is streamed into it, not staged: every row and every
/// declared column is still checked, including rows the transform filters out and columns it
/// never reads, and the report still counts the rows read.
#[test]
fn a_streamed_source_still_enforces_its_schema_on_every_row() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let days = [
        ("2024-01-01", "r1,1,20,1\nr2,1,30,\nr3,2,40,3\n"),
        // A null ride_id in a row the filter drops.
        ("2024-01-02", "r1,1,20,1\n,1,5,\n"),
        // A bad value in a column the transform never reads, in a row the filter drops.
        ("2024-01-03", "r1,1,20,1\nr2,1,5,lots\n"),
    ];
    for (day, rows) in days {
        let csv = format!("ride_id,station_id,minutes,score\n{rows}");
        std::fs::write(dir.path().join(format!("data/{day}.csv")), csv).unwrap();
    }
    let spec = r#"pipeline s {}
source rides = csv("data/{ds}.csv", header = true) {
  ride_id: string, station_id: int, minutes: int, score: int?
}
transform long_rides = rides | filter minutes > 10 | group station_id { n = count() }
sink long_rides -> mart.long_rides { mode replace }
"#;
    let (out, wh) = run_spec_from_root(dir.path(), spec, "2024-01-01");
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let rides = t
        .lines()
        .find(|l| l.contains("source") && l.contains("rides"));
    let cells: Vec<&str> = rides.expect("rides row").split_whitespace().collect();
    assert_eq!(cells[2], "3", "rows read: {t}");
    let before = tables(&wh);

    let (out, _) = run_spec_from_root(dir.path(), spec, "2024-01-02");
    assert_failed_with(&out, &["E0502", "2024-01-02.csv line 3", "ride_id"]);
    assert_eq!(tables(&wh), before);

    let (out, _) = run_spec_from_root(dir.path(), spec, "2024-01-03");
    assert_failed_with(&out, &["E0501", "2024-01-03.csv line 3", "score"]);
    assert_eq!(tables(&wh), before);
}

/// `pipec.json` in the working folder names the warehouse (relative to itself); a flag wins; a
/// config that is not valid stops the run instead of being ignored.
#[test]
fn the_project_config_names_the_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("p.pipe"),
        "pipeline p {}\nsource s = csv(\"data/{ds}.csv\", header = true) { a: int }\nsink s -> raw.s { mode replace }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("data/2024-01-01.csv"), "a\n1\n2\n").unwrap();
    let pipec_in = |args: &[&str]| pipec().args(args).current_dir(dir.path()).output().unwrap();
    std::fs::write(
        dir.path().join("pipec.json"),
        r#"{"warehouse": "wh/dev.duckdb"}"#,
    )
    .unwrap();
    let out = pipec_in(&["run", "p.pipe", "--date", "2024-01-01"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        table_counts(&dir.path().join("wh/dev.duckdb")),
        [("raw.s".to_string(), 2)]
    );
    assert!(!dir.path().join("warehouse.duckdb").exists());

    let out = pipec_in(&[
        "run",
        "p.pipe",
        "--date",
        "2024-01-01",
        "--warehouse",
        "other.duckdb",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        table_counts(&dir.path().join("other.duckdb")),
        [("raw.s".to_string(), 2)]
    );

    std::fs::write(
        dir.path().join("pipec.json"),
        r#"{"warehuose": "x.duckdb"}"#,
    )
    .unwrap();
    let out = pipec_in(&["run", "p.pipe", "--date", "2024-01-01"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("unknown setting `warehuose` in pipec.json"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("did you mean `warehouse`?"),
        "{}",
        text(&out)
    );

    std::fs::write(dir.path().join("pipec.json"), "{\"warehouse\": ").unwrap();
    let out = pipec_in(&["runs"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("pipec.json is not valid JSON"),
        "{}",
        text(&out)
    );
}

/// A run longer than the pipeline's `timeout` is interrupted inside DuckDB, publishes nothing,
/// and reports `E0513`.
#[test]
fn a_run_past_its_timeout_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let spec = r#"pipeline slow { timeout 1s }
source days = calendar(from = 2024-01-01, to = 2024-01-02) { day: date }
transform big = sql """
  select count(*) as n from {days}, range(5000000000) a(i) where i % 7 = 3
""" { n: bigint }
sink big -> mart.big { mode replace }
"#;
    let started = std::time::Instant::now();
    let (out, wh) = run_spec_from_root(dir.path(), spec, "2024-01-01");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("E0513") && t.contains("timeout (1s)"), "{t}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped near its timeout, not after the query: {:?}",
        started.elapsed()
    );
    assert!(tables(&wh).is_empty(), "nothing published");
}

#[test]
fn rejected_rows_are_quarantined_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let spec = daily_project(dir.path(), 1, 10, "");
    let text_spec = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("header = true)", "header = true, on_error = \"reject\")");
    std::fs::write(&spec, text_spec).unwrap();
    let f = dir.path().join("data/2024-01-01.csv");
    let csv = std::fs::read_to_string(&f)
        .unwrap()
        .replacen("1-3,c3,3.5", "1-3,c3,oops", 1);
    std::fs::write(&f, csv).unwrap();
    let wh = dir.path().join("w.duckdb");
    let out = run(
        &[
            "run",
            spec.to_str().unwrap(),
            "--date",
            "2024-01-01",
            "--format",
            "json",
        ],
        &wh,
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let orders = report["intervals"][0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "orders")
        .unwrap()
        .clone();
    assert_eq!(orders["rows"], 9);
    assert_eq!(orders["rejected"], 1);
    let conn = duckdb::Connection::open(&wh).unwrap();
    let (line, col): (i64, String) = conn
        .query_row("SELECT line, column_name FROM _pipec.rejects", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((line, col.as_str()), (5, "amount"));
}

#[test]
fn sigkill_at_any_point_leaves_published_tables_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let spec = daily_project(dir.path(), 2, 200_000, "");
    let spec = spec.to_str().unwrap().to_string();
    let clean_wh = dir.path().join("clean.duckdb");
    let clean_run = run(
        &["run", &spec, "--from", "2024-01-01", "--to", "2024-01-02"],
        &clean_wh,
    );
    assert!(clean_run.status.success(), "{}", text(&clean_run));
    let clean = tables(&clean_wh);
    let wh = dir.path().join("w.duckdb");
    assert!(run(&["run", &spec, "--date", "2024-01-01"], &wh)
        .status
        .success());
    let before = tables(&wh);
    let mut killed_before_publish = 0;
    for delay_ms in [50u64, 150, 300, 500, 800, 1200, 2000] {
        let mut child = pipec()
            .args([
                "run",
                &spec,
                "--date",
                "2024-01-02",
                "--force",
                "--warehouse",
            ])
            .arg(&wh)
            .current_dir(root())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let now = tables(&wh);
        // All or nothing: a kill leaves either the old tables or the fully published interval.
        if now == clean {
            break;
        }
        assert!(
            now == before,
            "killed after {delay_ms} ms: published tables are half-written"
        );
        killed_before_publish += 1;
    }
    assert!(
        killed_before_publish > 0,
        "no kill landed before the publish; use more rows"
    );
    let rerun = run(&["run", &spec, "--date", "2024-01-02", "--force"], &wh);
    assert!(rerun.status.success(), "{}", text(&rerun));
    assert!(
        tables(&wh) == clean,
        "after kills, a rerun converges to the clean result"
    );
}

#[test]
fn a_second_run_on_a_busy_warehouse_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let spec = daily_project(dir.path(), 1, 5, "");
    let wh = dir.path().join("w.duckdb");
    let lock = std::fs::File::create(dir.path().join("w.duckdb.lock")).unwrap();
    lock.lock().unwrap();
    let out = run(
        &["run", spec.to_str().unwrap(), "--date", "2024-01-01"],
        &wh,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("E0508"), "{}", text(&out));
    assert!(text(&out).contains("--wait"), "{}", text(&out));
}

#[test]
fn quoted_names_and_tricky_strings_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "id,a\"b\n1,x\n").unwrap();
    let spec = r#"pipeline quoting {}
source src = csv("in.csv", header = true) { id: int, `a"b`: string }
transform t = src | derive `it's` = "it's \"quoted\"\n{{ not a template }} 한국어", `a"b` = `a"b` ++ "'"
sink t -> mart.`we"ird`
"#;
    let (out, wh) = run_spec_from_root(dir.path(), spec, "2024-01-01");
    assert!(out.status.success(), "{}", text(&out));
    let conn = duckdb::Connection::open(&wh).unwrap();
    let (ab, s): (String, String) = conn
        .query_row(
            "SELECT \"a\"\"b\", \"it's\" FROM mart.\"we\"\"ird\"",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(ab, "x'");
    assert_eq!(s, "it's \"quoted\"\n{{ not a template }} 한국어");
}

fn serve(
    responses: Vec<(String, String)>,
    hits: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
) -> u16 {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let url = req.url().to_string();
            hits.lock().unwrap().push((url.clone(), body));
            let reply = responses
                .iter()
                .find(|(prefix, _)| url.starts_with(prefix.as_str()))
                .map(|(_, r)| r.clone());
            let resp = match reply {
                Some(r) => tiny_http::Response::from_string(r).with_status_code(200),
                None => tiny_http::Response::from_string("not found").with_status_code(404),
            };
            let _ = req.respond(resp);
        }
    });
    port
}

#[test]
fn http_sources_paginate_and_failures_alert_slack_without_leaking_secrets() {
    use std::sync::{Arc, Mutex};
    let hits = Arc::new(Mutex::new(Vec::new()));
    let port = serve(
        vec![
            (
                "/tracks?page=1".into(),
                r#"{"data": {"items": [{"id": 1, "title": "a"}, {"id": 2, "title": "b"}]}}"#.into(),
            ),
            (
                "/tracks?page=2".into(),
                r#"{"data": {"items": [{"id": 3, "title": "c"}]}}"#.into(),
            ),
            ("/hook/".into(), "ok".into()),
        ],
        hits.clone(),
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        r#"pipeline tracks {{
  retries 0
  alert slack(secret("TEST_HOOK"))
}}
source t = http("http://127.0.0.1:{port}/tracks", rows = "data.items", paginate = "page", page_param = "page", size_param = "per_page", page_size = 2) {{
  id: int, title: string
}}
sink t -> serving.tracks {{ mode merge on (id) }}
check t {{ row_count(min = 3)  id < 3 }}
"#
    );
    std::fs::write(dir.path().join("t.pipe"), spec).unwrap();
    let wh = dir.path().join("w.duckdb");
    let secret_url = format!("http://127.0.0.1:{port}/hook/T000-SUPERSECRET");
    let out = pipec()
        .args([
            "run",
            dir.path().join("t.pipe").to_str().unwrap(),
            "--date",
            "2024-01-01",
            "--warehouse",
        ])
        .arg(&wh)
        .env("TEST_HOOK", &secret_url)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("E0504") && t.contains("id < 3"),
        "the check `id < 3` fails on row 3: {t}"
    );
    assert!(t.contains("alert slack: sent"), "{t}");
    assert!(
        !t.contains("SUPERSECRET"),
        "a secret leaked into the output: {t}"
    );
    let hits = hits.lock().unwrap();
    assert!(
        hits.iter().any(|(u, _)| u.starts_with("/tracks?page=2")),
        "second page fetched: {hits:?}"
    );
    let hook = hits
        .iter()
        .find(|(u, _)| u.starts_with("/hook/"))
        .expect("the webhook was called");
    let body: serde_json::Value = serde_json::from_str(&hook.1).unwrap();
    assert!(body["text"].as_str().unwrap().contains("tracks"), "{body}");
    assert!(!hook.1.contains("SUPERSECRET"));
    let conn = duckdb::Connection::open(&wh).unwrap();
    let published: i64 = conn
        .query_row(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'serving'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(published, 0, "nothing is published when a check fails");
}

/// A response larger than `max_bytes` fails the fetch, without retries, instead of being read
/// into memory, and nothing is published.
#[test]
fn an_http_response_over_max_bytes_fails_the_run() {
    let hits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let big = format!(
        r#"{{"items": [{{"id": 1, "title": "{}"}}]}}"#,
        "x".repeat(4096)
    );
    let port = serve(vec![("/big".into(), big)], hits.clone());
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        r#"pipeline big {{ retries 0 }}
source t = http("http://127.0.0.1:{port}/big", rows = "items", max_bytes = 1000, retries = 1) {{
  id: int, title: string
}}
sink t -> serving.big {{ mode replace }}
"#
    );
    let (out, wh) = run_spec_from_root(dir.path(), &spec, "2024-01-01");
    assert_failed_with(&out, &["E0505", "larger than `max_bytes`"]);
    assert_eq!(
        hits.lock().unwrap().len(),
        1,
        "not retried: it would be as large again"
    );
    assert!(tables(&wh).is_empty(), "nothing published");
}

#[test]
fn postgres_nps_example_runs_incrementally() {
    let Ok(url) = std::env::var("PIPEC_TEST_PG_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide PIPEC_TEST_PG_URL (scripts/postgres.sh)"
        );
        eprintln!("PIPEC_TEST_PG_URL not set: skipping the PostgreSQL test outside CI");
        return;
    };
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute("DROP TABLE IF EXISTS public.survey_answers")
        .unwrap();
    let sql = std::fs::read_to_string(root().join("examples/nps/data/survey_answers.sql")).unwrap();
    client.batch_execute(&sql).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("nps.duckdb");
    let go = |args: &[&str]| {
        pipec()
            .args(args)
            .arg("--warehouse")
            .arg(&wh)
            .env("NPS_DB_URL", &url)
            .current_dir(root())
            .output()
            .unwrap()
    };
    let out = go(&["run", "examples/nps", "--date", "2024-01-02"]);
    assert!(out.status.success(), "{}", text(&out));
    let conn = duckdb::Connection::open(&wh).unwrap();
    let nps: f64 = conn
        .query_row(
            "SELECT nps FROM mart.nps_daily WHERE answered_on = DATE '2024-01-02'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        (nps - 25.0).abs() < 1e-9,
        "expected NPS 25.0 for 2024-01-02 (examples/nps/data/expected_nps.csv), got {nps}"
    );
    drop(conn);
    let raw_before = table_counts(&wh);
    let out = go(&["run", "examples/nps", "--date", "2024-01-03"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        table_counts(&wh)
            .iter()
            .find(|(n, _)| n == "raw.survey_answers"),
        raw_before.iter().find(|(n, _)| n == "raw.survey_answers"),
        "the incremental copy reads no new rows when the source has none"
    );
    assert!(!text(&out).contains(&url), "the connection string leaked");
}
