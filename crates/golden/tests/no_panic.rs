//! Random and mutated inputs never panic the parser, the checker or the planner.

use proptest::prelude::*;

fn run(text: &str) {
    let files = vec![("fuzz.pipe".to_string(), text.to_string())];
    let _ = pipec_golden::compile(&files);
}

fn example() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/bike_share/bike_share.pipe");
    std::fs::read_to_string(root).unwrap()
}

const TOKENS: &[&str] = &[
    "source",
    "transform",
    "sink",
    "check",
    "test",
    "pipeline",
    "define",
    "import",
    "|",
    "filter",
    "join",
    "group",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "\"\"\"",
    "`",
    ",",
    "=",
    "==",
    "->",
    "@ds",
    "::",
    "?",
    "#",
    "\n",
    "2024-02-30",
    "99999999999999999999",
    "1e999",
    "\\u{110000}",
    "std.",
    "큰",
    "\u{0}",
    "select except",
    "window",
    "case when",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(s in "\\PC{0,300}") {
        run(&s);
    }

    #[test]
    fn token_soup_never_panics(picks in proptest::collection::vec(0..TOKENS.len(), 0..80)) {
        let s: String = picks.iter().map(|&i| TOKENS[i]).collect::<Vec<_>>().join(" ");
        run(&s);
    }

    #[test]
    fn mutated_examples_never_panic(edits in proptest::collection::vec((any::<usize>(), 0..TOKENS.len(), 0..3u8), 1..6)) {
        let mut text = example();
        for (at, tok, op) in edits {
            let mut pos = at % (text.len() + 1);
            while !text.is_char_boundary(pos) { pos -= 1; }
            match op {
                0 => text.insert_str(pos, TOKENS[tok]),
                1 => { let end = (pos + 7).min(text.len()); let mut e = end; while !text.is_char_boundary(e) { e -= 1; } text.replace_range(pos..e, ""); }
                _ => { let mut e = (pos + 3).min(text.len()); while !text.is_char_boundary(e) { e -= 1; } text.replace_range(pos..e, TOKENS[tok]); }
            }
        }
        run(&text);
    }
}

#[test]
fn hostile_inputs_never_panic() {
    run("");
    run("\u{FEFF}");
    run(&"(".repeat(100_000));
    run(&format!(
        "pipeline p {{}}\nsource s = csv(\"x\") {{ a: int }}\ntransform t = s | filter {}a > 1",
        "not ".repeat(50_000)
    ));
    run(&format!(
        "pipeline p {{}}\nsource s = csv(\"x\") {{ a: int }}\ntransform t = s | derive b = {}a",
        "- ".repeat(50_000)
    ));
    run(&format!(
        "pipeline p {{}}\nsource s = csv(\"x\") {{ a: int }}\ntransform t = s | derive b = a{}",
        " + a".repeat(50_000)
    ));
    run(&format!(
        "pipeline p {{}}\nsource s = csv(\"x\") {{ a: int }}\ntransform t = s | derive b = {}a{}",
        "(".repeat(99),
        ")".repeat(99)
    ));
    // `case` nests without brackets; `end` may also be a column name.
    for arm in [
        "case when a > 1 then ",
        "case when end > 1 then ",
        "case when a then end + ",
    ] {
        run(&format!(
            "pipeline p {{}}\nsource s = csv(\"x\") {{ a: int }}\ntransform t = s | derive b = {}1{}",
            arm.repeat(50_000),
            " end".repeat(50_000)
        ));
    }
    run(&"x".repeat(1_000_000));
    run(&String::from_utf8_lossy(
        &(0..=255u8).cycle().take(10_000).collect::<Vec<_>>(),
    ));
}
