#![cfg(unix)]
//! The warehouse lock, with real processes: one lock per real file, whatever path reaches it,
//! and `pipec runs` during a run says the warehouse is busy and by whom.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An HTTP API that holds every request until the gate opens: a run fetching from it holds
/// the warehouse for as long as the test wants.
struct Gate {
    port: u16,
    open: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
}

impl Gate {
    fn new() -> Gate {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let open = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let (o, h) = (open.clone(), hits.clone());
        std::thread::spawn(move || {
            for req in server.incoming_requests() {
                h.fetch_add(1, Ordering::SeqCst);
                let o = o.clone();
                std::thread::spawn(move || {
                    while !o.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    let body = r#"{"items": [{"id": 1}, {"id": 2}]}"#;
                    let _ = req.respond(tiny_http::Response::from_string(body));
                });
            }
        });
        Gate { port, open, hits }
    }

    /// Waits until a run is fetching, so holding its warehouse's lock.
    fn wait_for_request(&self) {
        let t0 = Instant::now();
        while self.hits.load(Ordering::SeqCst) == 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the slow run never fetched"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn release(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.release();
    }
}

/// Writes a spec whose run fetches from `gate` and one that runs at once; returns their paths.
fn specs(dir: &Path, gate: &Gate) -> (PathBuf, PathBuf) {
    let slow = dir.join("slow.pipe");
    std::fs::write(
        &slow,
        format!(
            r#"pipeline slow {{ retries 0 }}
source s = http("http://127.0.0.1:{}/slow", rows = "items", retries = 0, timeout = 120s) {{ id: int }}
sink s -> mart.slow
"#,
            gate.port
        ),
    )
    .unwrap();
    let fast = dir.join("fast.pipe");
    std::fs::write(
        &fast,
        r#"pipeline fast {}
source days = calendar(from = 2024-01-01, to = 2024-01-02) { day: date }
sink days -> mart.days
"#,
    )
    .unwrap();
    (slow, fast)
}

fn start_run(spec: &Path, warehouse: &Path, extra: &[&str]) -> Child {
    pipec()
        .args(["run", spec.to_str().unwrap(), "--date", "2024-01-01"])
        .args(extra)
        .arg("--warehouse")
        .arg(warehouse)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn runs(warehouse: &Path, format: &str) -> Output {
    pipec()
        .args(["runs", "--format", format, "--warehouse"])
        .arg(warehouse)
        .output()
        .unwrap()
}

/// Asserts that `child` is still running after a while: it waits instead of failing.
fn assert_still_running(child: &mut Child, what: &str) {
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "{what} ended instead of waiting"
    );
}

#[test]
fn a_run_through_a_symlink_waits_for_the_run_on_the_real_file() {
    let gate = Gate::new();
    let dir = tempfile::tempdir().unwrap();
    let (slow, fast) = specs(dir.path(), &gate);
    let real = dir.path().join("real").join("w.duckdb");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    let link = dir.path().join("link.duckdb");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let holder = start_run(&slow, &real, &[]);
    let holder_pid = holder.id();
    gate.wait_for_request();
    let mut waiter = start_run(&fast, &link, &["--wait"]);
    assert_still_running(&mut waiter, "the --wait run through the symlink");
    gate.release();
    let held = holder.wait_with_output().unwrap();
    assert!(held.status.success(), "{}", text(&held));
    let waited = waiter.wait_with_output().unwrap();
    let t = text(&waited);
    assert!(waited.status.success(), "{t}");
    assert!(
        t.contains(&format!(
            "waiting for another pipec run (pid {holder_pid}) to release"
        )),
        "{t}"
    );
    // Both wrote the one real file, and the link still leads to it.
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let out = runs(&link, "json");
    assert!(out.status.success(), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = &doc["runs"];
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pipeline"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fast", "slow"], "{rows}");
    assert!(
        !dir.path().join("link.duckdb.wal").exists()
            && !dir.path().join("link.duckdb.lock").exists(),
        "nothing is created beside the link"
    );
}

#[test]
fn warehouses_differing_only_in_extension_run_concurrently() {
    let gate = Gate::new();
    let dir = tempfile::tempdir().unwrap();
    let (slow, fast) = specs(dir.path(), &gate);
    let db = dir.path().join("a.db");
    let duckdb = dir.path().join("a.duckdb");
    let holder = start_run(&slow, &db, &[]);
    gate.wait_for_request();
    let other = start_run(&fast, &duckdb, &[]).wait_with_output().unwrap();
    assert!(
        other.status.success(),
        "a.duckdb is not a.db: {}",
        text(&other)
    );
    gate.release();
    let held = holder.wait_with_output().unwrap();
    assert!(held.status.success(), "{}", text(&held));
    assert!(dir.path().join("a.db.lock").exists());
    assert!(dir.path().join("a.duckdb.lock").exists());
}

#[test]
fn pipec_runs_during_a_run_says_the_warehouse_is_busy_then_reads_it() {
    let gate = Gate::new();
    let dir = tempfile::tempdir().unwrap();
    let (slow, fast) = specs(dir.path(), &gate);
    let wh = dir.path().join("w.duckdb");
    let first = start_run(&fast, &wh, &[]).wait_with_output().unwrap();
    assert!(first.status.success(), "{}", text(&first));
    let holder = start_run(&slow, &wh, &["--force"]);
    gate.wait_for_request();
    let link = dir.path().join("link.duckdb");
    std::os::unix::fs::symlink(&wh, &link).unwrap();
    for path in [&wh, &link] {
        for format in ["text", "json"] {
            let out = runs(path, format);
            let t = text(&out);
            assert_eq!(out.status.code(), Some(1), "{t}");
            let code = match format {
                "text" => "error[E0508]",
                _ => "\"code\": \"E0508\"",
            };
            assert!(
                t.contains(code)
                    && t.contains("is busy: a pipec run is in progress (pid ")
                    && t.contains(&format!("(pid {})", holder.id())),
                "{t}"
            );
            assert!(
                !t.contains("Could not set lock"),
                "no raw DuckDB error: {t}"
            );
        }
    }
    // A second run is refused, naming the running one.
    let refused = start_run(&fast, &wh, &["--force"])
        .wait_with_output()
        .unwrap();
    let t = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{t}");
    assert!(
        t.contains("E0508")
            && t.contains(&format!(
                "in use by another pipec run (pid {})",
                holder.id()
            )),
        "{t}"
    );
    gate.release();
    let held = holder.wait_with_output().unwrap();
    assert!(held.status.success(), "{}", text(&held));
    let out = runs(&wh, "text");
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("fast") && t.contains("slow") && t.contains("done"),
        "{t}"
    );
}
