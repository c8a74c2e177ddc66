//! `pipec check` and `pipec graph` as a user runs them: exit codes, rendered and JSON diagnostics.

use std::process::Command;

mod common;
use common::{in_root as pipec, root, stderr};

#[test]
fn the_examples_check_clean() {
    let out = pipec(&["check", "examples/"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_misspelled_column_fails_with_code_span_and_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("examples/bike_share/bike_share.pipe"))
        .unwrap()
        .replace(
            "filter returned_at > rented_at",
            "filter retuned_at > rented_at",
        );
    let file = dir.path().join("bike.pipe");
    std::fs::write(&file, &text).unwrap();
    let out = pipec(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("E0102") && err.contains("unknown column `retuned_at`"),
        "{err}"
    );
    assert!(err.contains("did you mean `returned_at`?"), "{err}");

    let json = pipec(&["check", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (doc["version"].as_u64(), doc["command"].as_str()),
        (Some(1), Some("check"))
    );
    assert_eq!(doc["errors"], 1, "{doc:#}");
    let d = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "E0102")
        .expect("E0102 in JSON");
    let line = text.lines().position(|l| l.contains("retuned_at")).unwrap() + 1;
    assert_eq!(d["severity"], "error");
    assert_eq!(d["line"], line);
    assert_eq!(d["column"], 12);
    assert_eq!(d["end_column"], 22);
    assert_eq!(d["help"], "did you mean `returned_at`?");
    assert!(d["file"].as_str().unwrap().ends_with("bike.pipe"));
}

#[test]
fn files_that_are_not_text_get_e0006() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junk.pipe");
    std::fs::write(&file, b"pipeline p {}\n\xff\xfe\x00garbage").unwrap();
    let out = pipec(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("E0006"), "{}", stderr(&out));
}

#[test]
fn usage_errors_exit_with_2() {
    assert_eq!(pipec(&["check"]).status.code(), Some(2));
    assert_eq!(
        pipec(&["check", "no/such/path.pipe"]).status.code(),
        Some(2)
    );
    assert_eq!(pipec(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in ["check", "graph", "run", "runs", "test"] {
        let out = pipec(&[cmd, "--help"]);
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Example"),
            "`pipec {cmd} --help` has no example:\n{text}"
        );
    }
}

#[test]
fn graphs_render_as_dot_and_mermaid_with_schemas() {
    let dot = pipec(&[
        "graph",
        "examples/bike_share",
        "--format",
        "dot",
        "--schemas",
    ]);
    assert!(dot.status.success(), "{}", stderr(&dot));
    let dot = String::from_utf8_lossy(&dot.stdout);
    assert!(
        dot.starts_with("digraph pipec {")
            && dot.contains("station_id: int")
            && dot.contains("label=\"gate\""),
        "{dot}"
    );
    let mermaid = pipec(&["graph", "examples/", "--format", "mermaid"]);
    assert!(mermaid.status.success(), "{}", stderr(&mermaid));
    let mermaid = String::from_utf8_lossy(&mermaid.stdout);
    assert!(
        mermaid.starts_with("flowchart LR") && mermaid.contains("mart.station_daily"),
        "{mermaid}"
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_in_a_folder_checks_each_real_file_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("days.pipe"),
        "pipeline days { schedule daily }\n\
         source days = calendar(from = 2024-01-01, to = 2024-01-31) { day: date }\n\
         sink days -> mart.days\n",
    )
    .unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    // `sub/up` leads back to the folder itself; `sub/again.pipe` is a second path to the file.
    std::os::unix::fs::symlink(dir.path(), sub.join("up")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("days.pipe"), sub.join("again.pipe")).unwrap();
    let out = pipec(&["check", dir.path().to_str().unwrap()]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("E0104") && !err.contains("twice"), "{err}");
    assert!(err.contains("checked 1 pipeline: no problems"), "{err}");
}

#[test]
fn json_diagnostics_carry_machine_applicable_fixes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("habits.pipe");
    let text = "pipeline p {}\n\
                source s = csv(\"a.csv\", header = true) { id: int, name: string }\n\
                transform t = s | filter id > 1 AND name == 'x'\n";
    std::fs::write(&file, text).unwrap();
    let out = pipec(&["check", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags = doc["diagnostics"].as_array().unwrap();
    // A syntax error: no "never used" warning for `s`.
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = &diags[0];
    assert_eq!(d["code"], "E0001");
    assert_eq!(d["message"], "`AND` is written `and` in pipec");
    let fix = &d["fixes"][0];
    assert_eq!(fix["replacement"], "and");
    assert_eq!(fix["span"]["start"]["line"], 3);
    assert_eq!(fix["span"]["start"]["column"], 33);
    assert_eq!(fix["span"]["end"]["column"], 36);
    let (start, end) = (
        fix["span"]["byte_start"].as_u64().unwrap() as usize,
        fix["span"]["byte_end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[start..end], "AND");
    assert!(fix["span"]["file"]
        .as_str()
        .unwrap()
        .ends_with("habits.pipe"));
}

#[cfg(unix)]
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    // A project with many diagnostics, so the JSON is far larger than the pipe's buffer.
    let dir = tempfile::tempdir().unwrap();
    let spec: String = (0..2000)
        .map(|i| format!("transform t{i} = nowhere{i}\n"))
        .collect();
    std::fs::write(
        dir.path().join("big.pipe"),
        format!("pipeline p {{}}\n{spec}"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args(["check", "--format", "json"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The read end is dropped here: the next write gets EPIPE / SIGPIPE.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}
