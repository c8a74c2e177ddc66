//! `pipec fmt` over every `.pipe` file of the repository: formatting is idempotent, keeps every
//! comment in order and changes no meaning (the typed IR and the diagnostics' codes and
//! messages are the same before and after); the standard library, the examples, the editor
//! samples and every case without syntax errors are already in the canonical layout.

use std::path::{Path, PathBuf};

use pipec_check::NoFiles;
use pipec_diag::{FileId, SourceMap};

/// Cases kept in a layout of their own (still checked for idempotence, comments and meaning).
const SKIP_CANONICAL: &[(&str, &str)] = &[
    (
        "tests/cases/sinks_all_modes.pipe",
        "the corpus's one `mode merge on key` without parentheses",
    ),
    (
        "tests/cases/tests_with_fixtures.pipe",
        "fixture rows without commas and with aligned columns",
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn pipe_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "pipe") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Groups of files checked together (a case folder or an example folder is one project), and
/// whether their files must already be canonical.
fn groups() -> Vec<(Vec<PathBuf>, bool)> {
    let root = root();
    let mut out = Vec::new();
    let cases = root.join("tests/cases");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&cases)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() && p.file_name().is_some_and(|n| n != "snapshots") {
            out.push((pipe_files(&p), true));
        } else if p.extension().is_some_and(|x| x == "pipe") {
            out.push((vec![p], true));
        }
    }
    for f in pipe_files(&root.join("std")) {
        out.push((vec![f], true));
    }
    let examples = root.join("examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        out.push((pipe_files(&d), true));
    }
    for f in pipe_files(&root.join("editors/vscode/tests")) {
        out.push((vec![f], true));
    }
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root())
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

fn comments(text: &str) -> Vec<&str> {
    pipec_fmt::scan_comments(text)
        .iter()
        .map(|c| &text[c.start..c.end])
        .collect()
}

/// The typed IR as JSON (spans are not serialised) and the diagnostics' codes and messages.
fn meaning(files: &[(String, String)]) -> (String, Vec<(String, String)>) {
    let mut sources = SourceMap::new();
    let roots: Vec<FileId> = files
        .iter()
        .map(|(n, t)| sources.add(n.clone(), t.clone()))
        .collect();
    let checked = pipec_check::check(&mut sources, &roots, &NoFiles);
    let mut ir = serde_json::to_value(&checked.project).unwrap();
    blank_rule_text(&mut ir);
    let ir = ir.to_string();
    let diags = checked
        .diagnostics
        .iter()
        .map(|d| (d.code.id.to_string(), d.message.clone()))
        .collect();
    (ir, diags)
}

/// A check rule keeps its source text for reports (`CheckRule::text`), which formatting may
/// respace (`a >1` becomes `a > 1`): compared without blanks.
fn blank_rule_text(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if map.contains_key("rule") {
                if let Some(serde_json::Value::String(t)) = map.get_mut("text") {
                    t.retain(|c| !c.is_whitespace());
                }
            }
            map.values_mut().for_each(blank_rule_text);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(blank_rule_text),
        _ => {}
    }
}

#[test]
fn the_ir_does_not_depend_on_positions() {
    let text = "pipeline p { schedule daily }\nsource s = csv(\"x\") { a: int }\ntransform t = s | filter a > 1\nsink t -> mart.t\n";
    let a = meaning(&[("a.pipe".into(), text.into())]);
    let b = meaning(&[("a.pipe".into(), format!("\n\n# moved\n{text}"))]);
    assert!(a.0.len() > 100, "{}", a.0);
    assert_eq!(a, b);
}

#[test]
fn formatting_keeps_meaning_and_comments_and_the_repository_is_formatted() {
    let mut failures = Vec::new();
    let mut formatted_files = 0;
    for (s, _) in SKIP_CANONICAL {
        assert!(
            root().join(s).exists(),
            "skip list names a missing file: {s}"
        );
    }
    for (paths, must_be_canonical) in groups() {
        let mut before = Vec::new();
        let mut after = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            let name = rel(p);
            let written = std::fs::read_to_string(p).unwrap();
            // A file kept as written by `# pipec-fmt: off` is still formatted here, for the
            // other checks.
            let off = written
                .lines()
                .any(|l| l.trim_start().starts_with('#') && pipec_fmt::is_off_marker(l.trim()));
            let text = if off {
                written.replacen(pipec_fmt::OFF_MARKER, "pipec-fmt: on ", 1)
            } else {
                written
            };
            let out = match pipec_fmt::format(FileId(i as u32), &text) {
                Ok(out) => out,
                Err(_) => {
                    // Syntax errors: never formatted, checked as they are.
                    before.push((name.clone(), text.clone()));
                    after.push((name, text));
                    continue;
                }
            };
            formatted_files += 1;
            match pipec_fmt::format(FileId(i as u32), &out) {
                Ok(again) if again == out => {}
                Ok(again) => failures.push(format!(
                    "{name}: not idempotent:\n--- once\n{out}\n--- twice\n{again}"
                )),
                Err(d) => failures.push(format!(
                    "{name}: formatted text does not parse: {d:?}\n{out}"
                )),
            }
            if comments(&text) != comments(&out) {
                failures.push(format!(
                    "{name}: comments changed:\n{:?}\n{:?}",
                    comments(&text),
                    comments(&out)
                ));
            }
            let skipped = off || SKIP_CANONICAL.iter().any(|(s, _)| *s == name);
            if must_be_canonical && !skipped && out != text {
                let line = text
                    .lines()
                    .zip(out.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                failures.push(format!(
                    "{name}:{}: not formatted (run `pipec fmt {name}`):\n-{}\n+{}",
                    line + 1,
                    text.lines().nth(line).unwrap_or(""),
                    out.lines().nth(line).unwrap_or("")
                ));
            }
            before.push((name.clone(), text));
            after.push((name, out));
        }
        let (ir_a, diags_a) = meaning(&before);
        let (ir_b, diags_b) = meaning(&after);
        let names: Vec<&str> = before.iter().map(|(n, _)| n.as_str()).collect();
        if ir_a != ir_b {
            failures.push(format!("{names:?}: formatting changed the typed IR"));
        }
        if diags_a != diags_b {
            failures.push(format!(
                "{names:?}: formatting changed the diagnostics:\n{diags_a:?}\n{diags_b:?}"
            ));
        }
    }
    assert!(
        formatted_files > 150,
        "only {formatted_files} files formatted"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Formats `text` if it parses; then formatting must be idempotent and keep comments and
/// meaning. Returns the failure, if any.
fn fmt_property(text: &str) -> Result<(), String> {
    let Ok(out) = pipec_fmt::format(FileId(0), text) else {
        return Ok(());
    };
    match pipec_fmt::format(FileId(0), &out) {
        Ok(again) if again == out => {}
        Ok(again) => return Err(format!("not idempotent:\n{out}\n---\n{again}")),
        Err(d) => return Err(format!("formatted text does not parse: {d:?}\n{out}")),
    }
    if comments(text) != comments(&out) {
        return Err(format!("comments changed:\n{out}"));
    }
    let before = meaning(&[("f.pipe".into(), text.into())]);
    let after = meaning(&[("f.pipe".into(), out.clone())]);
    if before.0 != after.0 {
        return Err(format!("typed IR changed:\n{text}\n---\n{out}"));
    }
    if before.1 != after.1 {
        return Err(format!(
            "diagnostics changed: {:?} -> {:?}\n{text}\n---\n{out}",
            before.1, after.1
        ));
    }
    Ok(())
}

const TOKENS: &[&str] = &[
    "source",
    "transform",
    "sink",
    "check",
    "pipeline",
    "|",
    "filter",
    "derive",
    "select",
    "join",
    "group",
    "sort",
    "window",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    "==",
    "-",
    "and",
    "or",
    "not",
    "#c\n",
    "// d\n",
    "\n",
    "\n\n",
    "a",
    "b",
    "1",
    "2.50",
    "5m",
    "\"s\"",
    "\"\"\"x\n\"\"\"",
    "`n m`",
    "::int",
    "is null",
    "in",
    "case when",
    "then",
    "else",
    "end",
    "asc",
    "desc",
    "inner",
    "@ds",
];

fn bike_share() -> String {
    std::fs::read_to_string(root().join("examples/bike_share/bike_share.pipe")).unwrap()
}

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn fmt_of_random_text_never_panics(s in "\\PC{0,200}") {
        fmt_property(&s).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn fmt_of_token_soup_keeps_meaning(picks in proptest::collection::vec(0..TOKENS.len(), 0..60)) {
        let s: String = picks.iter().map(|&i| TOKENS[i]).collect::<Vec<_>>().join(" ");
        fmt_property(&s).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn fmt_of_mutated_examples_keeps_meaning(edits in proptest::collection::vec((any::<usize>(), 0..TOKENS.len(), 0..3u8), 1..6)) {
        let mut text = bike_share();
        for (at, tok, op) in edits {
            let mut pos = at % (text.len() + 1);
            while !text.is_char_boundary(pos) { pos -= 1; }
            match op {
                0 => text.insert_str(pos, TOKENS[tok]),
                1 => { let mut e = (pos + 7).min(text.len()); while !text.is_char_boundary(e) { e -= 1; } text.replace_range(pos..e, ""); }
                _ => { let mut e = (pos + 3).min(text.len()); while !text.is_char_boundary(e) { e -= 1; } text.replace_range(pos..e, TOKENS[tok]); }
            }
        }
        fmt_property(&text).map_err(TestCaseError::fail)?;
    }

    /// Comments inserted between any two characters of an example (where they are comments).
    #[test]
    fn fmt_keeps_comments_anywhere(spots in proptest::collection::vec((any::<usize>(), any::<bool>()), 1..8)) {
        let mut text = bike_share();
        for (at, own_line) in spots {
            let mut pos = at % (text.len() + 1);
            while !text.is_char_boundary(pos) { pos -= 1; }
            text.insert_str(pos, if own_line { "\n# own line\n" } else { " # end of line\n" });
        }
        fmt_property(&text).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn fmt_of_hostile_inputs_never_panics() {
    for text in [
        String::new(),
        "\u{FEFF}".to_string(),
        "(".repeat(10_000),
        format!(
            "pipeline p {{}}\nsource s = csv(\"x\") {{ a: int }}\ntransform t = s | derive b = a{}",
            " + a".repeat(90)
        ),
        format!(
            "pipeline p {{}}\nsource s = csv(\"x\") {{ a: int }}\ntransform t = s | derive b = {}a{}",
            "(".repeat(99),
            ")".repeat(99)
        ),
        format!("check t {{ {} }}", "a and ".repeat(90) + "b"),
    ] {
        fmt_property(&text).unwrap();
    }
}
