//! End-to-end tests of how `pipec run` orders and isolates intervals over several pipelines,
//! how it retries (and says so), and how it reports a warehouse held open by another program.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// `up` loads events per day into `raw.events`; `down` counts every event published so far
/// (through `table(...)`, no `schedule after`) per run date; `other` is independent.
fn lineage_project(dir: &Path) -> PathBuf {
    write_all(
        dir,
        &[
            (
                "specs/up.pipe",
                r#"pipeline up {}
source events = csv("../data/up/{ds}.csv", header = true) { id: string }
transform e = events | derive day = @ds
sink e -> raw.events { mode append }
"#,
            ),
            (
                "specs/down.pipe",
                r#"pipeline down {}
source ev = table("raw.events") { id: string, day: date }
transform c = ev | derive ds = @ds | group ds { n = count() }
sink c -> mart.counts { mode append }
"#,
            ),
            (
                "specs/z_other.pipe",
                r#"pipeline other {}
source o = csv("../data/other/{ds}.csv", header = true) { id: string }
sink o -> raw.other { mode append }
"#,
            ),
            ("data/up/2024-01-01.csv", "id\na\nb\n"),
            ("data/up/2024-01-02.csv", "id\nc\nd\ne\n"),
            ("data/up/2024-01-03.csv", "id\nf\ng\nh\ni\n"),
            ("data/other/2024-01-01.csv", "id\nx\n"),
            ("data/other/2024-01-02.csv", "id\ny\n"),
            ("data/other/2024-01-03.csv", "id\nz\n"),
        ],
    );
    dir.join("specs")
}

/// Defect 1: a backfill runs interval by interval, upstream before downstream, so the
/// downstream's day 1 sees only what the upstream had published up to day 1.
#[test]
fn a_backfill_runs_each_interval_upstream_first() {
    let dir = tempfile::tempdir().unwrap();
    let specs = lineage_project(dir.path());
    let out = pipec_in(
        dir.path(),
        &[
            "run",
            specs.to_str().unwrap(),
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-03",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    let order: Vec<String> = report["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["pipeline"].as_str().unwrap(),
                i["ds"].as_str().unwrap()
            )
        })
        .collect();
    let pos = |s: &str| order.iter().position(|o| o == s).unwrap();
    for day in ["2024-01-01", "2024-01-02", "2024-01-03"] {
        assert!(
            pos(&format!("up {day}")) < pos(&format!("down {day}")),
            "{order:?}"
        );
    }
    assert!(pos("down 2024-01-01") < pos("up 2024-01-02"), "{order:?}");
    assert_eq!(
        mart_counts(&dir.path().join("w.duckdb")),
        [
            ("2024-01-01".to_string(), 2),
            ("2024-01-02".to_string(), 5),
            ("2024-01-03".to_string(), 9)
        ],
        "each day counts the events published up to that day"
    );
    assert_eq!(
        report["tally"],
        serde_json::json!({"done": 9, "skipped": 0, "failed": 0})
    );
}

/// Defect 2: a failure stops only what depends on it; what is not run is listed as skipped
/// with the reason, in the summary, the JSON and `pipec runs`.
#[test]
fn a_failure_skips_only_its_dependants_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let specs = lineage_project(dir.path());
    std::fs::remove_file(dir.path().join("data/up/2024-01-02.csv")).unwrap();
    let args = [
        "run",
        specs.to_str().unwrap(),
        "--from",
        "2024-01-01",
        "--to",
        "2024-01-03",
    ];
    let out = pipec_in(dir.path(), &[&args[..], &["--format", "json"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = json(&out);
    let status = |p: &str, ds: &str| interval(&report, p, ds)["status"].as_str().unwrap();
    let reason = |p: &str, ds: &str| interval(&report, p, ds)["reason"].as_str().unwrap();
    assert_eq!(status("up", "2024-01-01"), "done");
    assert_eq!(status("down", "2024-01-01"), "done");
    assert_eq!(status("up", "2024-01-02"), "failed");
    let failed = interval(&report, "up", "2024-01-02");
    assert_eq!(failed["code"], "E0503", "{failed:#}");
    assert!(
        failed["error"].as_str().unwrap().contains("2024-01-02.csv"),
        "{failed:#}"
    );
    for ds in ["2024-01-02", "2024-01-03"] {
        assert_eq!(status("down", ds), "skipped");
        assert_eq!(reason("down", ds), "upstream `up` failed 2024-01-02");
    }
    assert_eq!(status("up", "2024-01-03"), "skipped");
    assert_eq!(reason("up", "2024-01-03"), "`up` failed 2024-01-02");
    for ds in ["2024-01-01", "2024-01-02", "2024-01-03"] {
        assert_eq!(
            status("other", ds),
            "done",
            "the independent pipeline runs on"
        );
    }
    assert_eq!(
        report["tally"],
        serde_json::json!({"done": 5, "skipped": 3, "failed": 1})
    );
    assert_eq!(
        mart_counts(&dir.path().join("w.duckdb")),
        [("2024-01-01".to_string(), 2)]
    );

    let history = pipec_in(dir.path(), &["runs", "--format", "json"]);
    assert!(history.status.success(), "{}", text(&history));
    let doc: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    let rows = &doc["runs"];
    let row = |p: &str, ds: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["pipeline"] == p && r["ds"] == ds)
            .unwrap_or_else(|| panic!("no history row {p} {ds}: {rows:#}"))
            .clone()
    };
    let skipped = row("down", "2024-01-03");
    assert_eq!(skipped["status"], "skipped", "{skipped:#}");
    assert_eq!(skipped["error"], "upstream `up` failed 2024-01-02");
    assert_eq!(row("up", "2024-01-02")["status"], "failed");
    let history = pipec_in(dir.path(), &["runs"]);
    assert!(
        String::from_utf8_lossy(&history.stdout)
            .lines()
            .any(|l| l.starts_with("down")
                && l.contains("skipped")
                && l.contains("upstream `up` failed 2024-01-02")),
        "{}",
        text(&history)
    );

    // The human summary names the reason and ends with the tally. Done intervals are skipped
    // as such; the failed day is run again and fails again.
    let out = pipec_in(dir.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("down 2024-01-02  skipped: upstream `up` failed 2024-01-02"),
        "{stdout}"
    );
    assert!(
        stdout.contains("up 2024-01-01  skipped: already done; --force to rerun"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().last(),
        Some("0 done, 8 skipped, 1 failed"),
        "{stdout}"
    );

    // Intervals skipped for a failure are not done: once the file is there, they run.
    write_all(dir.path(), &[("data/up/2024-01-02.csv", "id\nc\nd\ne\n")]);
    let out = pipec_in(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some("4 done, 5 skipped, 0 failed"),
        "{stdout}"
    );
    assert_eq!(
        mart_counts(&dir.path().join("w.duckdb")),
        [
            ("2024-01-01".to_string(), 2),
            ("2024-01-02".to_string(), 5),
            ("2024-01-03".to_string(), 9)
        ]
    );
}

/// A pipeline reading its own missing file for `date`, retrying `retries` times.
fn missing_file_spec(dir: &Path, retries: &str) -> PathBuf {
    let spec = format!(
        "pipeline late {{ {retries} }}\nsource s = csv(\"data/{{ds}}.csv\", header = true) {{ a: int }}\nsink s -> raw.s {{ mode replace }}\n"
    );
    write_all(dir, &[("late.pipe", &spec)]);
    dir.join("late.pipe")
}

/// Defect 12: a file missing for an interval that ended long ago is not retried, and the run
/// says so.
#[test]
fn a_missing_file_of_an_old_interval_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let spec = missing_file_spec(dir.path(), "retries 2 backoff 1s");
    let out = pipec_in(
        dir.path(),
        &[
            "run",
            spec.to_str().unwrap(),
            "--date",
            "2024-01-02",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = json(&out);
    let i = interval(&report, "late", "2024-01-02");
    assert_eq!(i["attempts"], 1, "{i:#}");
    assert_eq!(i["code"], "E0503", "{i:#}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`late` 2024-01-02: not retried: the input file is missing for an interval that ended over a day ago"),
        "{stderr}"
    );
    assert!(!stderr.contains("retry:"), "{stderr}");
    assert!(
        i["reason"].as_str().unwrap().starts_with("not retried"),
        "{i:#}"
    );
}

/// Defect 12: every retry is printed (stderr is not a terminal here), and `--no-retry` makes
/// one attempt.
#[test]
fn retries_are_printed_and_no_retry_makes_one_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let spec = missing_file_spec(dir.path(), "retries 1 backoff 1s");
    // Today's interval has not ended: its missing file may still arrive, so it is retried.
    let today = chrono::Utc::now().date_naive().to_string();
    let spec = spec.to_str().unwrap();
    let out = pipec_in(
        dir.path(),
        &["run", spec, "--date", &today, "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(interval(&json(&out), "late", &today)["attempts"], 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("retry:"))
        .unwrap_or_else(|| panic!("no retry line in:\n{stderr}"));
    assert!(
        line.contains(&format!("`late` {today} attempt 1 of 2 failed: [E0503]"))
            && line.contains("next attempt in 1s (at "),
        "{line}"
    );

    let out = pipec_in(
        dir.path(),
        &[
            "run",
            spec,
            "--date",
            &today,
            "--no-retry",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = json(&out);
    let i = interval(&report, "late", &today);
    assert_eq!(i["attempts"], 1, "{i:#}");
    assert_eq!(i["code"], "E0503", "{i:#}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("retry:"),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not retried (--no-retry"),
        "{}",
        text(&out)
    );
}

/// Defect 12: an HTTP source whose server refuses the connection goes straight to its
/// `fallback`, without retrying, and says so.
#[test]
fn a_refused_connection_goes_straight_to_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let spec = format!(
        "pipeline api {{}}\nsource s = http(\"http://127.0.0.1:{port}/x\", rows = \"items\", retries = 5, fallback = \"local.json\") {{ a: int }}\nsink s -> raw.s {{ mode replace }}\n"
    );
    write_all(
        dir.path(),
        &[
            ("api.pipe", &spec),
            ("local.json", r#"{"items": [{"a": 1}, {"a": 2}]}"#),
        ],
    );
    let out = pipec_in(dir.path(), &["run", "api.pipe", "--date", "2024-01-01"]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the connection was refused; using the fallback"),
        "{stderr}"
    );
    assert!(stderr.contains("without retrying"), "{stderr}");
}

/// Defect 13: another program holding the warehouse file open gets its own diagnostic naming
/// the file, the program and its PID, and what to do.
#[test]
fn a_warehouse_held_open_by_another_program_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let spec = missing_file_spec(dir.path(), "");
    write_all(dir.path(), &[("data/2024-01-01.csv", "a\n1\n")]);
    let wh = dir.path().join("w.duckdb");
    // This test process holds DuckDB's lock on the file while pipec, a child process, runs.
    let held = duckdb::Connection::open(&wh).unwrap();
    let out = pipec_in(
        dir.path(),
        &["run", spec.to_str().unwrap(), "--date", "2024-01-01"],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("error[E0520]"), "{t}");
    assert!(t.contains(&wh.display().to_string()), "{t}");
    assert!(t.contains(&format!(", PID {})", std::process::id())), "{t}");
    assert!(t.contains("duckdb -readonly"), "{t}");
    assert!(!t.contains("E0512"), "{t}");
    let runs = pipec_in(dir.path(), &["runs"]);
    assert!(text(&runs).contains("error[E0520]"), "{}", text(&runs));
    drop(held);
    let out = pipec_in(
        dir.path(),
        &["run", spec.to_str().unwrap(), "--date", "2024-01-01"],
    );
    assert!(out.status.success(), "{}", text(&out));
}

/// The lineage project of [`lineage_project`] over five days, plus `after_down` (scheduled
/// after `down`, reading `mart.counts`), and a file link: `files` writes `out/{ds}.csv`, which
/// `reader` reads back and counts per day with everything `files` wrote so far.
fn wider_project(dir: &Path) -> PathBuf {
    let specs = lineage_project(dir);
    let mut files: Vec<(String, String)> = vec![
        (
            "specs/after_down.pipe".into(),
            r#"pipeline after_down { schedule after down }
source c = table("mart.counts") { ds: date, n: bigint }
transform t = c | aggregate { days = count(), total = sum(n) } | derive ds = @ds
sink t -> mart.totals { mode append }
"#
            .into(),
        ),
        (
            "specs/files.pipe".into(),
            r#"pipeline files {}
source f = csv("../data/up/{ds}.csv", header = true) { id: string }
transform g = f | derive day = @ds
sink g -> csv("../out/{ds}.csv")
"#
            .into(),
        ),
        (
            "specs/reader.pipe".into(),
            r#"pipeline reader {}
source r = csv("../out/*.csv", header = true, glob = true) { id: string, day: date }
transform k = r | filter day <= @ds | aggregate { n = count() } | derive ds = @ds
sink k -> mart.read_back { mode append }
"#
            .into(),
        ),
    ];
    for d in 4..=5 {
        files.push((
            format!("data/up/2024-01-0{d}.csv"),
            format!("id\nu{d}a\nu{d}b\n"),
        ));
        files.push((
            format!("data/other/2024-01-0{d}.csv"),
            format!("id\no{d}\n"),
        ));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_all(dir, &files);
    specs
}

/// What a run leaves, apart from times and run ids: the JSON report's intervals (pipeline,
/// interval, status, reason, code, rows per node), the published tables, and the statuses and
/// errors in `_pipec.intervals` and `_pipec.runs`.
fn outcome(dir: &Path, out: &std::process::Output) -> Vec<String> {
    let report = json(out);
    let mut lines: Vec<String> = report["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let nodes: Vec<String> = i["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| format!("{}={}", n["name"], n["rows"]))
                .collect();
            format!(
                "{} {} {} {} {} [{}]",
                i["pipeline"],
                i["interval"],
                i["status"],
                i["reason"],
                i["code"],
                nodes.join(" ")
            )
        })
        .collect();
    lines.push(format!("tally {}", report["tally"]));
    let wh = dir.join("w.duckdb");
    for (table, rows) in tables(&wh) {
        lines.push(format!("{table}: {}", rows.join("; ")));
    }
    lines.extend(query_strings_in(
        dir,
        "SELECT pipeline || ' ' || label || ' ' || status FROM _pipec.intervals ORDER BY ALL",
    ));
    lines.extend(query_strings_in(
        dir,
        "SELECT pipeline || ' ' || label || ' ' || status || ' ' || coalesce(error, '') FROM _pipec.runs ORDER BY ALL",
    ));
    // Errors name files by their path.
    let dir = dir.to_string_lossy();
    lines.iter().map(|l| l.replace(&*dir, "<dir>")).collect()
}

/// `pipec run <specs> --from 2024-01-01 --to 2024-01-05 --jobs <jobs> --format json` in `dir`.
fn backfill(dir: &Path, specs: &Path, jobs: &str) -> std::process::Output {
    pipec_in(
        dir,
        &[
            "run",
            specs.to_str().unwrap(),
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-05",
            "--jobs",
            jobs,
            "--format",
            "json",
        ],
    )
}

/// Issue 7, defect 1: with several jobs, the intervals, their outcomes and the rows published
/// are those of one job: dependent chains (through `table(...)`, `schedule after` and a file
/// sink read back), an independent pipeline, a failure and the intervals it skips.
#[test]
fn several_jobs_publish_what_one_job_publishes() {
    for missing in [None, Some("data/up/2024-01-03.csv")] {
        let mut outcomes = Vec::new();
        for jobs in ["1", "4"] {
            let dir = tempfile::tempdir().unwrap();
            let specs = wider_project(dir.path());
            if let Some(f) = missing {
                std::fs::remove_file(dir.path().join(f)).unwrap();
            }
            let out = backfill(dir.path(), &specs, jobs);
            assert_eq!(
                out.status.code(),
                Some(if missing.is_some() { 1 } else { 0 }),
                "--jobs {jobs}: {}",
                text(&out)
            );
            outcomes.push(outcome(dir.path(), &out));
        }
        assert_eq!(outcomes[0], outcomes[1], "--jobs 1 vs --jobs 4");
        let one = outcomes[0].join("\n");
        match missing {
            None => assert!(
                one.contains("tally {\"done\":30,\"failed\":0,\"skipped\":0}"),
                "{one}"
            ),
            Some(_) => {
                for skipped in [
                    "\"down\" \"2024-01-03\" \"skipped\" \"upstream `up` failed 2024-01-03\"",
                    "\"after_down\" \"2024-01-05\" \"skipped\" \"upstream `up` failed 2024-01-03\"",
                    "\"reader\" \"2024-01-03\" \"skipped\" \"upstream `files` failed 2024-01-03\"",
                    "\"up\" \"2024-01-04\" \"skipped\" \"`up` failed 2024-01-03\"",
                    "\"other\" \"2024-01-05\" \"done\"",
                ] {
                    assert!(one.contains(skipped), "{skipped} in\n{one}");
                }
            }
        }
        // Each day counts what was published up to that day, however many jobs ran.
        assert!(
            one.contains("mart.counts: {'ds': 2024-01-01, 'n': 2, '_pipec_interval': '2024-01-01 00:00:00'}; {'ds': 2024-01-02, 'n': 5, "),
            "{one}"
        );
    }
}

/// Issue 7, defect 1: two independent pipelines run at the same time with `--jobs 2`. Each
/// fetches from a local HTTP server that answers a request only once a second one has come in:
/// one at a time, the first request times out (and that interval fails); at once, both succeed.
#[test]
fn independent_pipelines_run_at_the_same_time() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Pairs up requests: each is answered when the one after it arrives.
    std::thread::spawn(move || {
        let mut held: Vec<std::net::TcpStream> = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            held.push(stream);
            if held.len() == 2 {
                let body = r#"{"items": [{"n": 1}, {"n": 2}]}"#;
                for mut s in held.drain(..) {
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let spec = |name: &str| {
        format!(
            "pipeline {name} {{}}\nsource s = http(\"http://127.0.0.1:{port}/{name}?day={{ds}}\", rows = \"items\", retries = 0, timeout = 4s) {{ n: int }}\nsink s -> raw.{name} {{ mode replace }}\n"
        )
    };
    write_all(
        dir.path(),
        &[("specs/a.pipe", &spec("a")), ("specs/b.pipe", &spec("b"))],
    );
    let run = |jobs: &str, day: &str| {
        pipec_in(
            dir.path(),
            &[
                "run", "specs", "--date", day, "--jobs", jobs, "--format", "json",
            ],
        )
    };
    let statuses = |out: &std::process::Output, day: &str| {
        let report = json(out);
        ["a", "b"].map(|p| {
            let i = interval(&report, p, day);
            format!("{} {}", i["status"], i["code"]).replace('"', "")
        })
    };
    // One at a time: `a` waits alone until its 4 s timeout; `b`'s request then completes a pair.
    let out = run("1", "2024-01-01");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let one = statuses(&out, "2024-01-01");
    assert!(one[0].starts_with("failed E05"), "{one:?}\n{}", text(&out));
    assert_eq!(one[1], "done null", "{}", text(&out));
    // Two at a time: both requests are in, both answered.
    let out = run("2", "2024-01-02");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(statuses(&out, "2024-01-02"), ["done null", "done null"]);
    assert_eq!(
        query_strings_in(dir.path(), "SELECT CAST(count(*) AS VARCHAR) FROM raw.b"),
        ["2"]
    );
}

/// `--jobs` takes a positive number.
#[test]
fn jobs_must_be_positive() {
    let dir = tempfile::tempdir().unwrap();
    let specs = lineage_project(dir.path());
    let out = pipec_in(
        dir.path(),
        &[
            "run",
            specs.to_str().unwrap(),
            "--date",
            "2024-01-01",
            "--jobs",
            "0",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--jobs"), "{}", text(&out));
}
