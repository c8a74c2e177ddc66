//! Secrets never reach emitted files: every example is emitted for every target (Spark, Airflow
//! with both profiles, SAM) with its secrets set to distinctive values, and no emitted file (nor
//! emit's output) contains them.

mod common;
use common::*;

use std::path::{Path, PathBuf};

/// Distinctive secret values; each holds `SEKRIT`, which no emitted file may contain either.
const SECRETS: &[(&str, &str)] = &[
    ("SLACK_WEBHOOK", "https://hooks.example/SEKRIT-9f3"),
    (
        "NPS_DB_URL",
        "postgres://nps_reader:SEKRIT-pw-77a@db.example:5432/nps",
    ),
    ("API_TOKEN", "tok-SEKRIT-c0ffee"),
];

const TARGETS: &[&[&str]] = &[
    &["--target", "spark"],
    &["--target", "airflow", "--profile", "duckdb"],
    &["--target", "airflow", "--profile", "postgres"],
    &["--target", "sam"],
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_secret_value_in_any_emitted_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut scanned = 0;
    let mut emitted = Vec::new();
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    examples.sort();
    assert!(examples.len() >= 4, "examples found: {examples:?}");
    for ex in &examples {
        for (i, target) in TARGETS.iter().enumerate() {
            let name = ex.file_name().unwrap().to_string_lossy().to_string();
            let out_dir = tmp.path().join(format!("{name}-{i}"));
            let mut cmd = pipec();
            cmd.arg("emit")
                .arg(ex)
                .args(*target)
                .arg("--out")
                .arg(&out_dir)
                .current_dir(root());
            for (k, v) in SECRETS {
                cmd.env(k, v);
            }
            let out = cmd.output().unwrap();
            let log = text(&out);
            for (k, v) in SECRETS {
                assert!(
                    !log.contains(v),
                    "emit {name} {target:?} printed the value of {k}:\n{log}"
                );
            }
            if out.status.success() {
                emitted.push(format!("{name} {}", target.join(" ")));
            }
            let mut all = Vec::new();
            files(&out_dir, &mut all);
            for f in all {
                let bytes = std::fs::read(&f).unwrap();
                let body = String::from_utf8_lossy(&bytes);
                for (k, v) in SECRETS {
                    assert!(
                        !body.contains(v),
                        "{} (emit {name} {target:?}) contains the value of {k}",
                        f.display()
                    );
                }
                assert!(
                    !body.contains("SEKRIT"),
                    "{} (emit {name} {target:?}) contains part of a secret value",
                    f.display()
                );
                scanned += 1;
            }
        }
    }
    for ex in &examples {
        let name = ex.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            emitted.contains(&format!("{name} --target sam")),
            "every example must emit for SAM; {name} did not (emitted: {emitted:?})"
        );
    }
    assert!(
        scanned > 0 && !emitted.is_empty(),
        "no example could be emitted for any target, so nothing was checked"
    );
    println!("scanned {scanned} files of: {}", emitted.join(", "));
}
