//! The editor grammars (`editors/`) against the language: every keyword of the parser, every
//! builtin, type, source kind, mode, check rule, storage class and placeholder of the checker,
//! and every word of the docs' keyword appendix is known to the TextMate grammar and the Vim
//! syntax file; the grammar samples are valid `.pipe` (parsed and checked); the snippets parse;
//! the annotated samples pass `vscode-tmgrammar-test` (`scripts/grammar_test.sh`), and Vim
//! highlights chosen words of the samples as expected (`scripts/vim_syntax_test.sh`). The
//! tree-sitter grammar (`editors/tree-sitter-pipe`) knows the same words, its corpus and
//! highlight test inputs are accepted (or, marked `:error`, rejected) by pipec's parser, and
//! `scripts/tree_sitter_test.sh` passes (generation, corpus and highlight tests, real files).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pipec_check::ir::{Builtin, StorageClass, Type};
use pipec_check::{vocab, Loader};
use pipec_diag::SourceMap;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The words (runs of `[A-Za-z0-9_]`) of `text`.
fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Words of every regex (`match`, `begin`, `end`) of the TextMate grammar.
fn textmate_words() -> BTreeSet<String> {
    fn walk(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    if matches!(k.as_str(), "match" | "begin" | "end") {
                        if let Some(s) = v.as_str() {
                            // `\b`, `\s`, `\d` ... are not words of the language.
                            out.push_str(&s.replace('\\', " \\"));
                            out.push(' ');
                        }
                    }
                    walk(v, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let json: serde_json::Value =
        serde_json::from_str(&read("editors/vscode/syntaxes/pipe.tmLanguage.json"))
            .expect("the TextMate grammar is JSON");
    let mut text = String::new();
    walk(&json, &mut text);
    words(&text)
        .into_iter()
        .filter(|w| !w.starts_with(|c: char| c.is_ascii_uppercase()))
        .collect()
}

/// Words of the `syn` lines of the Vim syntax file.
fn vim_words() -> BTreeSet<String> {
    let text = read("editors/vim/syntax/pipe.vim");
    let syn: String = text
        .lines()
        .filter(|l| l.starts_with("syn "))
        .map(|l| l.replace('\\', " \\") + "\n")
        .collect();
    words(&syn)
}

/// Keywords of the parser's grammar: every `kw_x` rule and the reserved words.
fn parser_keywords() -> BTreeSet<String> {
    let pest = read("grammar/pipe.pest");
    let mut kws: BTreeSet<String> = pest
        .lines()
        .filter_map(|l| l.strip_prefix("kw_"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let reserved = pest
        .split("reserved = _{")
        .nth(1)
        .and_then(|r| r.split('}').next())
        .expect("the `reserved` rule");
    kws.extend(reserved.split('"').skip(1).step_by(2).map(str::to_string));
    assert!(
        kws.len() > 60,
        "keywords found in grammar/pipe.pest: {kws:?}"
    );
    kws
}

/// The backticked words of the docs' keyword appendix.
fn appendix_words() -> BTreeSet<String> {
    let docs = read("docs/language.md");
    let appendix = docs
        .split("## Appendix: keywords")
        .nth(1)
        .expect("docs/language.md has a keyword appendix");
    let mut out = BTreeSet::new();
    for code in appendix.split('`').skip(1).step_by(2) {
        out.extend(words(code));
    }
    assert!(out.len() > 60, "appendix words: {out:?}");
    out
}

/// Every word the grammars must know, with where it comes from.
fn vocabulary() -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = Vec::new();
    v.extend(
        parser_keywords()
            .into_iter()
            .map(|k| (k, "keyword (grammar/pipe.pest)")),
    );
    v.extend(
        appendix_words()
            .into_iter()
            .map(|k| (k, "docs/language.md appendix")),
    );
    v.extend(
        Builtin::ALL
            .iter()
            .map(|b| (b.name().to_string(), "builtin (ir::Builtin)")),
    );
    v.extend(
        Type::NAMES
            .iter()
            .map(|t| (t.to_string(), "type (ir::Type::NAMES)")),
    );
    v.extend(
        ["relation", "column", "columns"]
            .into_iter()
            .map(|t| (t.to_string(), "define parameter kind")),
    );
    v.extend(
        vocab::SOURCE_KINDS
            .iter()
            .map(|k| (k.to_string(), "source kind")),
    );
    v.extend(vocab::MODES.iter().map(|k| (k.to_string(), "sink mode")));
    v.extend(
        vocab::CHECK_BUILTINS
            .iter()
            .map(|k| (k.to_string(), "check rule")),
    );
    v.extend(
        vocab::TEMPLATE_VARS
            .iter()
            .map(|k| (k.to_string(), "placeholder")),
    );
    v.extend(
        StorageClass::ALL
            .iter()
            .map(|c| (c.name().to_string(), "storage class")),
    );
    v.extend(
        ["secret", "slack", "email", "true", "false", "null"]
            .into_iter()
            .map(|k| (k.to_string(), "alert / literal")),
    );
    v
}

fn missing(known: &BTreeSet<String>) -> Vec<String> {
    vocabulary()
        .into_iter()
        .filter(|(w, _)| !known.contains(w))
        .map(|(w, from)| format!("{w} ({from})"))
        .collect()
}

#[test]
fn textmate_grammar_knows_every_word() {
    let gaps = missing(&textmate_words());
    assert!(
        gaps.is_empty(),
        "editors/vscode/syntaxes/pipe.tmLanguage.json lacks: {gaps:?}"
    );
}

#[test]
fn vim_syntax_knows_every_word() {
    let gaps = missing(&vim_words());
    assert!(
        gaps.is_empty(),
        "editors/vim/syntax/pipe.vim lacks: {gaps:?}"
    );
}

#[test]
fn textmate_type_names_are_types() {
    // The other direction for types: every type the grammar highlights is accepted.
    let json = read("editors/vscode/syntaxes/pipe.tmLanguage.json");
    let list = json
        .split("\\\\b(?:int|")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("the builtin type list of the TextMate grammar");
    for t in std::iter::once("int").chain(list.split('|')) {
        let known =
            Type::from_name(t, &[]).is_some() || matches!(t, "relation" | "column" | "columns");
        assert!(
            known,
            "the TextMate grammar highlights `{t}`, which is no type"
        );
    }
}

/// Reads `import "x.pipe"` targets from disk (names are full paths).
struct Disk;

impl Loader for Disk {
    fn load(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
}

#[test]
fn grammar_samples_are_valid_pipe() {
    let dir = root().join("editors/vscode/tests");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("editors/vscode/tests")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pipe"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 5, "samples: {paths:?}");
    let mut sources = SourceMap::new();
    let roots: Vec<_> = paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("sample");
            assert!(
                text.starts_with("# SYNTAX TEST \"source.pipe\""),
                "{p:?} needs the vscode-tmgrammar-test header"
            );
            sources.add(p.display().to_string(), text)
        })
        .collect();
    let checked = pipec_check::check(&mut sources, &roots, &Disk);
    let rendered = pipec_diag::render_all(
        &checked.diagnostics,
        &sources,
        pipec_diag::RenderOptions {
            color: false,
            width: 100,
        },
    );
    assert!(
        checked.diagnostics.is_empty(),
        "the grammar samples must check clean:\n{rendered}"
    );
    assert!(checked.project.pipelines.len() >= 5);
}

/// A snippet body with each placeholder replaced by its default (`${1:x}` → `x`,
/// `${1|a,b|}` → `a`, `$1` → the default given elsewhere, `$0` → nothing).
fn expand_snippet(body: &str) -> String {
    fn defaults(s: &str, out: &mut std::collections::HashMap<String, String>) {
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            let after = &rest[i + 2..];
            let n: String = after.chars().take_while(char::is_ascii_digit).collect();
            let tail = &after[n.len()..];
            let value = if let Some(t) = tail.strip_prefix(':') {
                // Up to the matching `}` (defaults may nest `${..}` or hold `{ds}`).
                let mut depth = 1;
                let mut end = 0;
                for (j, c) in t.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = j;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                t[..end].to_string()
            } else if let Some(t) = tail.strip_prefix('|') {
                t.split([',', '|']).next().unwrap_or("").to_string()
            } else {
                String::new()
            };
            out.entry(n).or_insert(value);
            rest = &rest[i + 2..];
        }
    }
    let mut map = std::collections::HashMap::new();
    defaults(body, &mut map);
    // Replace innermost placeholders first until none is left.
    let mut text = body.to_string();
    for _ in 0..10 {
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let braced = after.starts_with('{');
            let digits_from = if braced { &after[1..] } else { after };
            let n: String = digits_from
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if braced {
                // Skip to the end of this placeholder.
                let mut depth = 0;
                let mut end = after.len();
                for (j, c) in after.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = j + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                out.push_str(map.get(&n).map(String::as_str).unwrap_or(""));
                rest = &after[end..];
            } else {
                out.push_str(map.get(&n).map(String::as_str).unwrap_or(""));
                rest = &digits_from[n.len()..];
            }
        }
        out.push_str(rest);
        if out == text {
            break;
        }
        text = out;
    }
    text
}

#[test]
fn snippets_parse() {
    let json: serde_json::Value =
        serde_json::from_str(&read("editors/vscode/snippets/pipe.json")).expect("snippets JSON");
    let snippets = json.as_object().expect("snippets object");
    let declarations = [
        "pipeline",
        "source",
        "transform",
        "sink",
        "check",
        "test",
        "define",
        "import",
        "secret",
    ];
    for d in declarations {
        assert!(
            snippets.keys().any(|k| k.starts_with(d)),
            "no snippet for `{d}`"
        );
    }
    for (name, s) in snippets {
        let body: Vec<&str> = s["body"]
            .as_array()
            .expect("body")
            .iter()
            .map(|l| l.as_str().expect("line"))
            .collect();
        let text = expand_snippet(&body.join("\n"));
        // Steps and expressions are parsed inside a transform or a pipeline setting.
        let file = if text.starts_with('|') {
            format!("transform t = r\n  {text}\n")
        } else if text.starts_with("secret(") {
            format!("pipeline p {{ alert slack({text}) }}\n")
        } else if text.starts_with("archive") {
            format!("sink r -> mart.r {{ partition by ds\n{text}\n}}\n")
        } else {
            text.clone() + "\n"
        };
        let parsed = pipec_syntax::parse(pipec_diag::FileId::default(), &file);
        assert!(
            parsed.diagnostics.is_empty(),
            "snippet `{name}` does not parse:\n{file}\n{:?}",
            parsed.diagnostics
        );
    }
}

#[test]
fn textmate_samples_pass_vscode_tmgrammar_test() {
    let (ok, text) = pipec_golden::run_script("grammar_test.sh");
    assert!(
        ok,
        "scripts/grammar_test.sh failed (it needs Node.js and npm: apt-get install nodejs npm):\n{text}"
    );
    assert!(text.contains("tokens.pipe run successfuly"), "{text}");
}

#[test]
fn vim_syntax_highlights_the_samples() {
    let (ok, text) = pipec_golden::run_script("vim_syntax_test.sh");
    assert!(
        ok,
        "scripts/vim_syntax_test.sh failed (it needs Vim: apt-get install vim):\n{text}"
    );
}

const TREE_SITTER: &str = "editors/tree-sitter-pipe";

/// The texts between double quotes of `text` (no escapes: the query files have none).
fn double_quoted(text: &str) -> Vec<&str> {
    text.split('"').skip(1).step_by(2).collect()
}

/// The literal strings of grammar.js (`'start'`) that are tokens, not field or grammar names.
fn tree_sitter_tokens() -> BTreeSet<String> {
    let js = read(&format!("{TREE_SITTER}/grammar.js"));
    let mut out = BTreeSet::new();
    for line in js.lines().map(str::trim_start) {
        if line.starts_with("//") || line.starts_with('*') {
            continue;
        }
        let parts: Vec<&str> = line.split('\'').collect();
        for (i, literal) in parts.iter().enumerate().skip(1).step_by(2) {
            let before = parts[i - 1].trim_end();
            if !(before.ends_with("field(") || before.ends_with("name:")) {
                out.insert(literal.to_string());
            }
        }
    }
    out
}

/// The words highlight.scm highlights by name: its double-quoted strings (captured tokens,
/// `#any-of?` words; placeholders without their braces), and the words of the one-line token
/// rules of grammar.js whose node it captures (`distinct_step: (_) => 'distinct'` and
/// `(distinct_step) @keyword`).
fn tree_sitter_highlight_words() -> BTreeSet<String> {
    let scm = read(&format!("{TREE_SITTER}/queries/highlights.scm"));
    let code: String = scm
        .lines()
        .filter(|l| !l.trim_start().starts_with(';'))
        .map(|l| l.to_string() + "\n")
        .collect();
    let mut words: BTreeSet<String> = double_quoted(&code)
        .into_iter()
        .map(|w| w.trim_start_matches('{').trim_end_matches('}').to_string())
        .collect();
    let js = read(&format!("{TREE_SITTER}/grammar.js"));
    for line in js.lines() {
        let Some((name, body)) = line.trim_start().split_once(": (_) => ") else {
            continue;
        };
        if code.contains(&format!("({name})")) {
            words.extend(body.split('\'').skip(1).step_by(2).map(str::to_string));
        }
    }
    words
}

#[test]
fn tree_sitter_grammar_knows_every_word() {
    let tokens = tree_sitter_tokens();
    let highlighted = tree_sitter_highlight_words();
    // Keywords are tokens of the grammar.
    let keywords: Vec<String> = parser_keywords()
        .into_iter()
        .filter(|k| !tokens.contains(k))
        .collect();
    assert!(
        keywords.is_empty(),
        "{TREE_SITTER}/grammar.js has no token for the keywords {keywords:?}"
    );
    // Every word, keyword or name (builtins, types, source kinds, modes, check rules,
    // placeholders, storage classes), is highlighted by name.
    let gaps = missing(&highlighted);
    assert!(
        gaps.is_empty(),
        "{TREE_SITTER}/queries/highlights.scm lacks: {gaps:?}"
    );
    // And every word token of the grammar is highlighted.
    let unhighlighted: Vec<&String> = tokens
        .iter()
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .filter(|t| !highlighted.contains(*t))
        .collect();
    assert!(
        unhighlighted.is_empty(),
        "{TREE_SITTER}/queries/highlights.scm does not highlight the tokens {unhighlighted:?}"
    );
}

#[test]
fn tree_sitter_type_names_are_types() {
    // The other direction for types: every type highlights.scm calls builtin is accepted.
    let scm = read(&format!("{TREE_SITTER}/queries/highlights.scm"));
    let list = scm
        .split("(#any-of? @type.builtin")
        .nth(1)
        .and_then(|s| s.split("))").next())
        .expect("the builtin type list of highlights.scm");
    let names = double_quoted(list);
    assert!(names.len() > 20, "types: {names:?}");
    for t in names {
        let known =
            Type::from_name(t, &[]).is_some() || matches!(t, "relation" | "column" | "columns");
        assert!(known, "highlights.scm highlights `{t}`, which is no type");
    }
}

/// The tests of a tree-sitter corpus file: name, input, and whether it is marked `:error`.
fn corpus_tests(text: &str) -> Vec<(String, String, bool)> {
    let is_rule = |l: &str, c: char| l.len() >= 3 && l.chars().all(|x| x == c);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !is_rule(lines[i], '=') {
            i += 1;
            continue;
        }
        let mut header = Vec::new();
        i += 1;
        while i < lines.len() && !is_rule(lines[i], '=') {
            header.push(lines[i]);
            i += 1;
        }
        i += 1;
        let mut input = Vec::new();
        while i < lines.len() && !is_rule(lines[i], '-') {
            input.push(lines[i]);
            i += 1;
        }
        let error = header.contains(&":error");
        let name = header.first().copied().unwrap_or_default().to_string();
        out.push((name, input.join("\n").trim().to_string() + "\n", error));
        // The expected tree, up to the next header.
        while i < lines.len() && !is_rule(lines[i], '=') {
            i += 1;
        }
    }
    out
}

#[test]
fn tree_sitter_test_inputs_agree_with_pipec() {
    let corpus = root().join(TREE_SITTER).join("test/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .expect("test/corpus")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    let (mut count, mut errors) = (0, 0);
    for path in &files {
        let text = std::fs::read_to_string(path).expect("corpus file");
        for (name, input, error) in corpus_tests(&text) {
            let parsed = pipec_syntax::parse(pipec_diag::FileId::default(), &input);
            if error {
                assert!(
                    !parsed.diagnostics.is_empty(),
                    "{path:?} `{name}` is marked :error, but pipec parses it:\n{input}"
                );
                errors += 1;
            } else {
                assert!(
                    parsed.diagnostics.is_empty(),
                    "{path:?} `{name}` does not parse with pipec:\n{input}\n{:?}",
                    parsed.diagnostics
                );
            }
            count += 1;
        }
    }
    assert!(
        count >= 40 && errors >= 10,
        "{count} corpus tests, {errors} :error"
    );
    let mut samples = 0;
    for e in
        std::fs::read_dir(root().join(TREE_SITTER).join("test/highlight")).expect("test/highlight")
    {
        let path = e.expect("dir entry").path();
        let text = std::fs::read_to_string(&path).expect("highlight test");
        let parsed = pipec_syntax::parse(pipec_diag::FileId::default(), &text);
        assert!(
            parsed.diagnostics.is_empty(),
            "{path:?} does not parse with pipec: {:?}",
            parsed.diagnostics
        );
        samples += 1;
    }
    assert!(samples >= 4, "highlight tests: {samples}");
}

#[test]
fn tree_sitter_grammar_passes_its_tests() {
    let (ok, text) = pipec_golden::run_script("tree_sitter_test.sh");
    assert!(
        ok,
        "scripts/tree_sitter_test.sh failed (it installs tree-sitter-cli with cargo once and \
         builds the parser with a C compiler: apt-get install gcc):\n{text}"
    );
    assert!(text.contains("generate: src/ is up to date"), "{text}");
    assert!(text.contains("without ERROR or MISSING nodes"), "{text}");
}
