//! `pipec fmt`: rewrites `.pipe` files in the canonical layout (`pipec_fmt::format`), or with
//! `--check` lists the files that would change.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::{json, project, DiagFormat};
use pipec_diag::{RenderOptions, SourceMap};

/// Lines of each side shown for the first difference of a file under `--check`.
const DIFF_LINES: usize = 6;

/// One file's outcome in the JSON report.
#[derive(serde::Serialize)]
struct Entry {
    path: String,
    /// `unchanged`, `reformatted`, `would-reformat` (with `--check`) or `failed`.
    status: &'static str,
    /// The first difference, when it changes.
    diff: Option<String>,
    /// The formatted text of `-` (stdin) without `--check`.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

fn entry(path: &str, status: &'static str, diff: Option<String>) -> Entry {
    Entry {
        path: path.to_string(),
        status,
        diff,
        text: None,
    }
}

/// The JSON report of `pipec fmt`.
fn doc(
    check: bool,
    files: Vec<Entry>,
    diags: &[pipec_diag::Diagnostic],
    sources: &SourceMap,
) -> json::Doc {
    let count = |status: &str| files.iter().filter(|f| f.status == status).count();
    let (changed, failed) = (
        count(if check {
            "would-reformat"
        } else {
            "reformatted"
        }),
        count("failed"),
    );
    json::Doc::new("fmt")
        .diagnostics(diags, sources)
        .field("check", check)
        .field("changed", changed)
        .field("failed", failed)
        .field("files", files)
}

/// Formats `paths` (files, folders searched recursively, or `-` for stdin to stdout).
pub fn run(paths: &[PathBuf], check: bool, format: DiagFormat) -> ExitCode {
    let json = format == DiagFormat::Json;
    if paths.iter().any(|p| p.as_os_str() == "-") {
        if paths.len() > 1 {
            eprintln!("error: `-` (stdin) cannot be combined with other paths");
            return ExitCode::from(2);
        }
        return stdin(check, json);
    }
    let files = match project::collect(paths) {
        Ok(f) if f.is_empty() => {
            eprintln!("error: no .pipe files found");
            return ExitCode::from(2);
        }
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut sources = SourceMap::new();
    let mut diags = Vec::new();
    let (mut changed, mut failed) = (0usize, 0usize);
    let mut report = Vec::new();
    for path in &files {
        let shown = path.display().to_string();
        let (text, bad) = match pipec_workspace::read_text(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {shown}: {e}");
                failed += 1;
                report.push(entry(&shown, "failed", None));
                continue;
            }
        };
        let id = sources.add(pipec_workspace::source_name(path), text.clone());
        if let Some(at) = bad {
            diags.push(pipec_workspace::not_text(id, at));
            failed += 1;
            report.push(entry(&shown, "failed", None));
            continue;
        }
        match pipec_fmt::format(id, &text) {
            Err(errs) => {
                diags.extend(errs);
                failed += 1;
                report.push(entry(&shown, "failed", None));
            }
            Ok(out) if out == text => report.push(entry(&shown, "unchanged", None)),
            Ok(out) => {
                changed += 1;
                let diff = first_difference(&text, &out);
                if check {
                    if !json {
                        println!("{shown}");
                        print!("{diff}");
                    }
                    report.push(entry(&shown, "would-reformat", Some(diff)));
                } else if let Err(e) = write_atomically(path, &out) {
                    eprintln!("error: cannot write {shown}: {e}");
                    failed += 1;
                    changed -= 1;
                    report.push(entry(&shown, "failed", None));
                } else {
                    if !json {
                        println!("formatted {shown}");
                    }
                    report.push(entry(&shown, "reformatted", Some(diff)));
                }
            }
        }
    }
    if json {
        doc(check, report, &diags, &sources).print();
        return if failed > 0 || (check && changed > 0) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        };
    }
    if !diags.is_empty() {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!(
            "{}",
            pipec_diag::render_all(&diags, &sources, RenderOptions { color, width: 100 })
        );
    }
    let n = files.len();
    let files_word = |k: usize| if k == 1 { "file" } else { "files" };
    if check {
        eprintln!(
            "{changed} of {n} {} would be reformatted{}",
            files_word(n),
            not_formatted(failed)
        );
    } else {
        eprintln!(
            "{changed} of {n} {} reformatted{}",
            files_word(n),
            not_formatted(failed)
        );
    }
    if failed > 0 || (check && changed > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn not_formatted(failed: usize) -> String {
    match failed {
        0 => String::new(),
        1 => ", 1 could not be formatted".into(),
        n => format!(", {n} could not be formatted"),
    }
}

/// `pipec fmt -`: stdin to stdout (`--check`: nothing written, exit 1 if it would change).
/// With `json`, the report's one entry (`<stdin>`) carries the formatted text as `text`.
fn stdin(check: bool, json: bool) -> ExitCode {
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("error: cannot read stdin: {e}");
        return ExitCode::from(2);
    }
    let mut sources = SourceMap::new();
    let (text, bad) = match String::from_utf8(bytes) {
        Ok(t) => (t, None),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(at))
        }
    };
    let id = sources.add("<stdin>".to_string(), text.clone());
    let result = match bad {
        Some(at) => Err(vec![pipec_workspace::not_text(id, at)]),
        None => pipec_fmt::format(id, &text),
    };
    if json {
        let (file, diags, code) = match &result {
            Err(diags) => (entry("<stdin>", "failed", None), diags.clone(), 1),
            Ok(out) if *out == text => (entry("<stdin>", "unchanged", None), Vec::new(), 0),
            Ok(out) => {
                let status = if check {
                    "would-reformat"
                } else {
                    "reformatted"
                };
                let e = entry("<stdin>", status, Some(first_difference(&text, out)));
                (e, Vec::new(), u8::from(check))
            }
        };
        let mut file = file;
        if let (Ok(out), false) = (&result, check) {
            file.text = Some(out.clone());
        }
        doc(check, vec![file], &diags, &sources).print();
        return ExitCode::from(code);
    }
    match result {
        Err(diags) => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            eprint!(
                "{}",
                pipec_diag::render_all(&diags, &sources, RenderOptions { color, width: 100 })
            );
            ExitCode::from(1)
        }
        Ok(out) if check => {
            if out == text {
                ExitCode::SUCCESS
            } else {
                println!("<stdin>");
                print!("{}", first_difference(&text, &out));
                ExitCode::from(1)
            }
        }
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(out.as_bytes()).is_err() {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
    }
}

/// The first differing run of lines, as a unified-diff hunk (`-` old, `+` formatted).
fn first_difference(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a_end, b_end) = resync(&a, &b, prefix).unwrap_or((a.len() - suffix, b.len() - suffix));
    let (a_run, b_run) = (&a[prefix..a_end], &b[prefix..b_end]);
    let mut out = format!(
        "@@ -{},{} +{},{} @@\n",
        prefix + 1,
        a_run.len(),
        prefix + 1,
        b_run.len()
    );
    for (sign, run) in [('-', a_run), ('+', b_run)] {
        for line in run.iter().take(DIFF_LINES) {
            out.push(sign);
            out.push_str(line.trim_end_matches('\n'));
            out.push('\n');
        }
        if run.len() > DIFF_LINES {
            out.push_str(&format!(
                "{sign} ... {} more lines\n",
                run.len() - DIFF_LINES
            ));
        }
    }
    out
}

/// Where the two texts agree again after their first difference at line `from`: the first
/// two equal lines within a few lines of it.
fn resync(a: &[&str], b: &[&str], from: usize) -> Option<(usize, usize)> {
    const WINDOW: usize = 40;
    for d in 1..=WINDOW {
        for i in 0..=d {
            let (x, y) = (from + i, from + d - i);
            if x + 1 < a.len() && y + 1 < b.len() && a[x..x + 2] == b[y..y + 2] {
                return Some((x, y));
            }
        }
    }
    None
}

/// Writes `text` to a temporary file beside `path` and renames it over `path`, keeping the
/// file's permissions: readers see the old or the new file, never a part.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp_name = format!(".{name}.pipec-fmt-{}", std::process::id());
    let tmp = match dir {
        Some(d) => d.join(tmp_name),
        None => PathBuf::from(tmp_name),
    };
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_difference_is_a_hunk() {
        let d = first_difference("a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(d, "@@ -2,1 +2,1 @@\n-b\n+B\n");
        let old = "a\nb\nc\nd\ne\nf\ng\nX\n";
        let new = "a\nB1\nB2\nc\nd\ne\nf\ng\nY\n";
        let d = first_difference(old, new);
        assert_eq!(d, "@@ -2,1 +2,2 @@\n-b\n+B1\n+B2\n");
    }
}
