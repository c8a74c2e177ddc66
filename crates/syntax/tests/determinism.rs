//! Parsing broken files on several threads at once gives the same diagnostics as parsing them
//! one by one. pest's error-detail switch is process-global (see `parser::parse_detailed`): a
//! thread turning it off while another parses a broken file used to change that file's
//! diagnostics (where the error is and what was expected).
use pipec_diag::{Diagnostic, FileId};

/// Broken declarations whose diagnostics depend on the error details: without them the error
/// is reported at the start of the declaration instead of at the token that broke it.
const BROKEN: &[&str] = &[
    "sink visits raw.visits\n",
    "source s = csv(\"a\") {\n  rental_id string,\n}\n",
    "source s = csv(\"a\") {\n  user_id: string\n  signed_up_at: timestamp,\n}\n",
    "transform t = s\n  | filtr station_id > 100\n",
    "transform t = s\n  | sort views descending\n",
];

fn broken_cases() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/cases");
    let mut out: Vec<String> = BROKEN.iter().map(|s| s.to_string()).collect();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pipe"))
        .collect();
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p).unwrap();
        if !pipec_syntax::parse(FileId(0), &text).diagnostics.is_empty() {
            out.push(text);
        }
    }
    out
}

fn render(diags: &[Diagnostic]) -> String {
    format!("{diags:?}")
}

#[test]
fn parallel_parses_of_broken_files_report_the_same_diagnostics() {
    let texts = broken_cases();
    assert!(texts.len() >= 10, "expected the broken golden cases");
    let expected: Vec<String> = texts
        .iter()
        .map(|t| render(&pipec_syntax::parse(FileId(0), t).diagnostics))
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|worker| {
                let (texts, expected) = (&texts, &expected);
                scope.spawn(move || {
                    for round in 0..400 {
                        // Mostly the small declarations (many parses, many switches), and
                        // every file now and then, each worker from its own starting point.
                        let n = if round % 10 == 0 {
                            texts.len()
                        } else {
                            BROKEN.len()
                        };
                        for i in 0..n {
                            let k = (i + worker * 3) % n;
                            let got =
                                render(&pipec_syntax::parse(FileId(0), &texts[k]).diagnostics);
                            assert_eq!(got, expected[k], "file {k} parsed differently");
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("parsing thread");
        }
    });
}
