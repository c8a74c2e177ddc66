//! `pipec fmt`: rewrites files in place (only those that change), `--check` lists them with a
//! diff and exits 1, `-` formats stdin, syntax errors are reported and never formatted.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn pipec(args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

const MESSY: &str = "pipeline p {schedule daily}\nsource s = csv(\"x.csv\") {a:int}   # the input\ntransform t = s|filter a>1\n";
const TIDY: &str = "pipeline p { schedule daily }\nsource s = csv(\"x.csv\") { a: int } # the input\ntransform t = s | filter a > 1\n";

#[test]
fn fmt_rewrites_only_files_that_change() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/messy.pipe"), MESSY).unwrap();
    std::fs::write(dir.path().join("tidy.pipe"), TIDY).unwrap();
    let tidy_mtime = std::fs::metadata(dir.path().join("tidy.pipe"))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));

    let check = pipec(&["fmt", "--check", "."], dir.path());
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("messy.pipe"), "{stdout}");
    assert!(!stdout.contains("tidy.pipe"), "{stdout}");
    assert!(
        stdout.contains("@@ -1,3 +1,3 @@\n-pipeline p {schedule daily}\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n+pipeline p { schedule daily }\n"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("sub/messy.pipe")).unwrap(),
        MESSY
    );

    let fmt = pipec(&["fmt", "."], dir.path());
    assert_eq!(
        fmt.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&fmt.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("sub/messy.pipe")).unwrap(),
        TIDY
    );
    let after = std::fs::metadata(dir.path().join("tidy.pipe"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(after, tidy_mtime, "an unchanged file was rewritten");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");

    let again = pipec(&["fmt", "--check", "."], dir.path());
    assert_eq!(again.status.code(), Some(0));
}

#[test]
fn fmt_reads_stdin_and_refuses_syntax_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(MESSY.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), TIDY);

    let broken = "pipeline p {}\nsource s = csv(\"x\") { a int }\n";
    std::fs::write(dir.path().join("broken.pipe"), broken).unwrap();
    let out = pipec(&["fmt", "broken.pipe"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("E0001"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("broken.pipe")).unwrap(),
        broken
    );
}
