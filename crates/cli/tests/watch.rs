//! `pipec watch` as a user runs it: a real process on a copy of an example, edited on disk the
//! way people and editors edit, its stdout read line by line with timeouts.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// Generous: the machine running the tests may be busy.
const TIMEOUT: Duration = Duration::from_secs(60);

struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Everything read so far, for failure messages.
    seen: Vec<String>,
}

impl Watch {
    fn start(dir: &Path, extra: &[&str]) -> Watch {
        let mut child = pipec()
            .arg("watch")
            .arg("nps")
            .args(extra)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut w = Watch {
            child,
            lines,
            seen: Vec::new(),
        };
        w.until(|l| l.starts_with("watching "));
        w
    }

    /// Reads lines until one satisfies `done`; returns the lines read (that one included).
    #[track_caller]
    fn until(&mut self, done: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    got.push(line.clone());
                    if done(&line) {
                        return got;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("timed out; pipec watch printed:\n{}", self.seen.join("\n"));
                }
            }
        }
    }

    /// Reads up to the next status line; returns the lines and the status line.
    #[track_caller]
    fn status(&mut self) -> (String, String) {
        let lines = self.until(|l| l.starts_with("ok: ") || l.starts_with("failed: "));
        let status = lines.last().unwrap().clone();
        (lines.join("\n"), status)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn copy_example(to: &Path) {
    let from = root().join("examples/nps");
    let dir = to.join("nps");
    fs::create_dir_all(dir.join("data")).unwrap();
    for f in ["nps.pipe", "nps_ingest.pipe"] {
        fs::copy(from.join(f), dir.join(f)).unwrap();
    }
}

/// Lets a burst of events settle into its own change before the next edit.
fn pause() {
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn watch_reports_each_change_and_survives_adds_renames_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    copy_example(tmp.path());
    let spec = tmp.path().join("nps/nps.pipe");
    let good = fs::read_to_string(&spec).unwrap();
    assert!(good.contains("derive answered_on = answered_at::date"));

    let mut w = Watch::start(tmp.path(), &[]);
    assert!(
        w.seen
            .iter()
            .any(|l| l.starts_with("ok: 2 files checked in ")),
        "{:?}",
        w.seen
    );

    // An unknown column: E0102, rendered as `pipec check` renders it.
    fs::write(
        &spec,
        good.replace(
            "derive answered_on = answered_at::date",
            "derive answered_on = answerd_at::date",
        ),
    )
    .unwrap();
    let (out, status) = w.status();
    assert!(out.contains("E0102"), "{out}");
    assert!(out.contains("unknown column `answerd_at`"), "{out}");
    assert!(out.contains("[nps/nps.pipe:"), "{out}");
    assert!(
        status.starts_with("failed: 1 file re-checked in "),
        "{status}"
    );
    assert!(status.ends_with(", 2 files, 1 error"), "{status}");
    let check = pipec()
        .args(["check", "nps"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let rendered = String::from_utf8_lossy(&check.stderr);
    let first = rendered
        .split("\n\n")
        .take(2)
        .collect::<Vec<_>>()
        .join("\n\n");
    assert!(out.contains(&first), "watch:\n{out}\ncheck:\n{rendered}");

    // Fixed: the ok line.
    pause();
    fs::write(&spec, &good).unwrap();
    let (out, status) = w.status();
    assert!(!out.contains("E0102"), "{out}");
    assert!(status.starts_with("ok: 1 file re-checked in "), "{status}");
    assert!(status.ends_with(", 2 files, 0 errors"), "{status}");

    // A cycle between pipelines: the plan's E0402.
    pause();
    let ingest = tmp.path().join("nps/nps_ingest.pipe");
    let ingest_good = fs::read_to_string(&ingest).unwrap();
    let cyclic = ingest_good.replace(
        "schedule    daily at 01:00 \"Asia/Seoul\"",
        "schedule    after nps_daily",
    );
    assert_ne!(cyclic, ingest_good);
    fs::write(&ingest, cyclic).unwrap();
    let (out, status) = w.status();
    assert!(out.contains("E0402"), "{out}");
    assert!(status.starts_with("failed: "), "{status}");
    pause();
    fs::write(&ingest, &ingest_good).unwrap();
    let (out, status) = w.status();
    assert!(!out.contains("E0402"), "{out}");
    assert!(status.ends_with(", 2 files, 0 errors"), "{status}");

    // A new file.
    pause();
    fs::write(
        tmp.path().join("nps/extra.pipe"),
        "pipeline extra { schedule daily }\nsource s = table(\"mart.nps_daily\")\nsink s -> mart.extra\n",
    )
    .unwrap();
    let (_, status) = w.status();
    assert!(status.starts_with("ok: "), "{status}");
    assert!(status.ends_with(", 3 files, 0 errors"), "{status}");

    // Renamed.
    pause();
    fs::rename(
        tmp.path().join("nps/extra.pipe"),
        tmp.path().join("nps/renamed.pipe"),
    )
    .unwrap();
    let (_, status) = w.status();
    assert!(status.ends_with(", 3 files, 0 errors"), "{status}");

    // Deleted.
    pause();
    fs::remove_file(tmp.path().join("nps/renamed.pipe")).unwrap();
    let (_, status) = w.status();
    assert!(status.ends_with(", 2 files, 0 errors"), "{status}");

    // An editor's save: write a temporary file, then rename it over the spec.
    pause();
    let temp = tmp.path().join("nps/.nps.pipe.swp");
    fs::write(
        &temp,
        good.replace(
            "| nps.score_by(day = answered_on",
            "| nps.score_by(day = answered_onn",
        ),
    )
    .unwrap();
    fs::rename(&temp, &spec).unwrap();
    let (out, status) = w.status();
    assert!(out.contains("answered_onn"), "{out}");
    assert!(status.starts_with("failed: "), "{status}");

    // A new folder with a file, then the folder removed.
    pause();
    fs::create_dir(tmp.path().join("nps/more")).unwrap();
    fs::write(
        tmp.path().join("nps/more/m.pipe"),
        "pipeline m { schedule daily }\nsource s = csv(\"m.csv\") { a: int }\nsink s -> mart.m\n",
    )
    .unwrap();
    let (_, status) = w.status();
    assert!(status.contains(", 3 files, "), "{status}");
    pause();
    fs::remove_dir_all(tmp.path().join("nps/more")).unwrap();
    let (_, status) = w.status();
    assert!(status.contains(", 2 files, "), "{status}");

    // Ctrl-C: exit 0.
    let pid = w.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = w.child.try_wait().unwrap() {
            assert!(status.success(), "exit status after Ctrl-C: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "pipec watch ignored Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn watch_test_reruns_the_tests_of_the_changed_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    copy_example(tmp.path());
    let spec = tmp.path().join("nps/nps.pipe");
    let good = fs::read_to_string(&spec).unwrap();
    let mut w = Watch::start(tmp.path(), &["--test"]);

    // A comment edit: the pipeline re-checks and its two tests run and pass.
    fs::write(&spec, format!("{good}\n# edited\n")).unwrap();
    let (_, status) = w.status();
    assert!(status.starts_with("ok: 1 file re-checked"), "{status}");
    let out = w.until(|l| l.starts_with("tests: ")).join("\n");
    assert!(
        out.contains("test nps_daily::nps_of_one_day ... ok"),
        "{out}"
    );
    assert!(out.contains("tests: 2 passed, 0 failed"), "{out}");
    assert!(
        !out.contains("nps_ingest"),
        "only the changed pipeline: {out}"
    );

    // A change of meaning the tests catch: NPS computed from the wrong day.
    pause();
    let broken = good.replace(
        "| nps.score_by(day = answered_on, score = score)",
        "| filter score > 0 | nps.score_by(day = answered_on, score = score)",
    );
    assert_ne!(broken, good);
    fs::write(&spec, broken).unwrap();
    let (_, status) = w.status();
    assert!(status.starts_with("ok: "), "{status}");
    let out = w.until(|l| l.starts_with("tests: ")).join("\n");
    assert!(out.contains("FAILED"), "{out}");
}
