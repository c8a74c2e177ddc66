//! The golden corpus: every case under `tests/cases/` is compiled; its diagnostics must be exactly
//! the codes written inline as `# expect: CODE`, and its full output must match the reviewed
//! snapshot in `tests/cases/snapshots/`. Review changes with `cargo insta review`, or accept them
//! with `INSTA_UPDATE=always`.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn cases() -> Vec<PathBuf> {
    let dir = root().join("tests/cases");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir() && p.file_name().is_some_and(|n| n != "snapshots")
                || p.extension().is_some_and(|x| x == "pipe")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn golden_cases() {
    let root = root();
    let mut failures = Vec::new();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root.join("tests/cases/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    for case in cases() {
        let files = pipec_golden::read_case(&root, &case);
        let outcome = pipec_golden::compile(&files);
        let mut got = outcome.codes.clone();
        got.sort();
        let want = pipec_golden::expected_codes(&files);
        let name = case.file_stem().unwrap().to_string_lossy().to_string();
        if got != want {
            failures.push(format!(
                "{name}: expected codes {want:?}, got {got:?}\n{}",
                outcome.snapshot
            ));
        }
        settings.set_input_file(&case);
        settings.bind(|| insta::assert_snapshot!(name.clone(), outcome.snapshot));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_code_has_a_case_and_a_docs_page() {
    let root = root();
    let mut declared = Vec::new();
    for case in cases() {
        declared.extend(pipec_golden::expected_codes(&pipec_golden::read_case(
            &root, &case,
        )));
    }
    let mut missing = Vec::new();
    for code in pipec_diag::codes::ALL {
        if code.id.starts_with("E05") || code.id.starts_with("E06") || code.id == "E0006" {
            continue; // run-time and emit codes and E0006 (file loading): the CLI's and emitters' tests
        }
        if !declared.iter().any(|d| d == code.id) {
            missing.push(format!(
                "{}: no golden case with `# expect: {}`",
                code.id, code.id
            ));
        }
    }
    for code in pipec_diag::codes::ALL {
        if !root.join(format!("docs/errors/{}.md", code.id)).exists() {
            missing.push(format!("{}: no docs/errors/{}.md", code.id, code.id));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn examples_and_std_docs_check_clean() {
    let root = root();
    let mut folders: Vec<_> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    folders.push(root.join("std/examples"));
    folders.sort();
    assert!(
        folders.len() >= 5,
        "expected the four examples and the std examples"
    );
    for folder in folders.into_iter().filter(|f| f.exists()) {
        // A folder is one project: its pipelines may depend on each other.
        let case = pipec_golden::read_case(&root, &folder);
        let outcome = pipec_golden::compile(&case);
        assert!(
            outcome.codes.is_empty(),
            "{}:\n{}",
            folder.display(),
            outcome.snapshot
        );
    }
}
