//! `pipec-lsp` driven over stdio as an editor drives it: initialize with a temp copy of a small
//! project (an `import` of `std.dedupe` and of a local file, a `table(...)` reader in a second
//! pipeline), then notifications and requests, asserting the JSON-RPC answers.

mod support;

use serde_json::{json, Value};
use support::*;

fn doc(uri: &str, text: &str, needle: &str, nth: usize) -> Value {
    json!({ "textDocument": { "uri": uri }, "position": pos(text, needle, nth, 1) })
}

fn hover_text(c: &mut Client, uri: &str, text: &str, needle: &str, nth: usize) -> String {
    let r = c.request("textDocument/hover", doc(uri, text, needle, nth));
    assert_eq!(r["contents"]["kind"], "markdown");
    r["contents"]["value"].as_str().unwrap().to_string()
}

/// Applies LSP text edits (ranges in UTF-16 positions of ASCII text) to `text`.
fn apply(text: &str, edits: &[Value]) -> String {
    let offset = |p: &Value| {
        let line = p["line"].as_u64().unwrap() as usize;
        let ch = p["character"].as_u64().unwrap() as usize;
        text.split_inclusive('\n')
            .take(line)
            .map(str::len)
            .sum::<usize>()
            + ch
    };
    let mut edits: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|e| {
            (
                offset(&e["range"]["start"]),
                offset(&e["range"]["end"]),
                e["newText"].as_str().unwrap(),
            )
        })
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    for (s, e, t) in edits {
        out.replace_range(s..e, t);
    }
    out
}

#[test]
fn diagnostics_on_open_and_downstream_of_a_change_in_another_file() {
    let p = Project::new();
    let mut c = Client::start(&p);
    let rides = p.uri("rides.pipe");
    let report = p.uri("report.pipe");
    c.open(&rides, RIDES);
    assert_eq!(c.diagnostics(&rides, |_| true), Vec::<Value>::new());

    // Renaming the aggregate `n` upstream breaks the `table(...)` reader of report.pipe.
    c.change(&rides, 2, &RIDES.replace("n = count()", "cnt = count()"));
    let diags = c.diagnostics(&report, |d| !d.is_empty());
    assert_eq!(diags.len(), 2, "{diags:#?}");
    let first = &diags[0];
    assert_eq!(first["code"], "E0102");
    assert_eq!(first["severity"], 1);
    assert_eq!(first["source"], "pipec");
    assert_eq!(
        first["message"],
        "unknown column `n`\nhelp: available columns: station, cnt, total"
    );
    assert_eq!(
        first["range"],
        json!({ "start": { "line": 7, "character": 11 }, "end": { "line": 7, "character": 12 } })
    );
    assert_eq!(first["relatedInformation"][0]["message"], "no such column");
    assert_eq!(first["relatedInformation"][0]["location"]["uri"], report);
    assert_eq!(
        diags[1]["range"],
        json!({ "start": { "line": 8, "character": 20 }, "end": { "line": 8, "character": 21 } })
    );
    // The code links to its page, written into the cache.
    let href = first["codeDescription"]["href"].as_str().unwrap();
    let page = p.cache.join(format!(
        "pipec/docs/{}/errors/E0102.md",
        env!("CARGO_PKG_VERSION")
    ));
    assert_eq!(href, uri(&page));
    assert!(std::fs::read_to_string(&page)
        .unwrap()
        .starts_with("# E0102: unknown column"));

    // Undoing the change clears report.pipe.
    c.change(&rides, 3, RIDES);
    assert_eq!(
        c.diagnostics(&report, |d| d.is_empty()),
        Vec::<Value>::new()
    );

    // An error in the file itself, with the checker's did-you-mean as a quick fix.
    let typo = RIDES.replace("filter minutes", "filter minuts");
    c.change(&rides, 4, &typo);
    let diags = c.diagnostics(&rides, |d| !d.is_empty());
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0]["code"], "E0102");
    assert_eq!(
        diags[0]["message"],
        "unknown column `minuts`\nhelp: did you mean `minutes`?"
    );
    assert_eq!(diags[0]["range"], range(&typo, "minuts", 0));
    let actions = c.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": rides },
            "range": range(&typo, "minuts", 0),
            "context": { "diagnostics": diags },
        }),
    );
    let actions = actions.as_array().unwrap();
    assert_eq!(actions.len(), 1, "{actions:#?}");
    assert_eq!(actions[0]["title"], "Replace `minuts` with `minutes`");
    assert_eq!(actions[0]["kind"], "quickfix");
    let edits = actions[0]["edit"]["changes"][&rides].as_array().unwrap();
    assert_eq!(apply(&typo, edits), RIDES);
    // No quick fix away from the diagnostic.
    let none = c.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": rides },
            "range": range(&typo, "pipeline rides", 0),
            "context": { "diagnostics": [] },
        }),
    );
    assert_eq!(none, json!([]));

    // A SQL habit: the checker's machine-applicable fix is offered as the quick fix.
    let habit = RIDES.replace("filter minutes is not null", "filter minutes IS NOT NULL");
    c.change(&rides, 5, &habit);
    let diags = c.diagnostics(&rides, |d| !d.is_empty());
    assert_eq!(diags[0]["code"], "E0001", "{diags:#?}");
    let actions = c.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": rides },
            "range": diags[0]["range"],
            "context": { "diagnostics": diags },
        }),
    );
    let actions = actions.as_array().unwrap();
    assert_eq!(actions.len(), 1, "{actions:#?}");
    assert!(
        actions[0]["title"].as_str().unwrap().starts_with("Fix: "),
        "{actions:#?}"
    );
    let edits = actions[0]["edit"]["changes"][&rides].as_array().unwrap();
    assert_eq!(apply(&habit, edits), RIDES);
    assert!(c.shutdown().success());
}

#[test]
fn hover_shows_schemas_and_types_at_each_step() {
    let p = Project::new();
    let mut c = Client::start(&p);
    let rides = p.uri("rides.pipe");
    let report = p.uri("report.pipe");
    c.open(&rides, RIDES);

    assert_eq!(
        hover_text(&mut c, &rides, RIDES, "raw_rides", 1),
        "source `raw_rides` = csv(…): 4 columns\n\n| column | type | null |\n|---|---|---|\n\
         | `ride_id` | `int` | not null |\n| `station` | `string` | not null |\n\
         | `minutes` | `int` | nullable |\n| `updated_at` | `timestamp` | not null |\n"
    );
    // `minutes` is nullable where `filter` reads it, and not null after the filter.
    assert_eq!(
        hover_text(&mut c, &rides, RIDES, "minutes", 1),
        "```pipe\nminutes: int?\n```\nnullable at step 2 (`filter`) of `rides`"
    );
    assert_eq!(
        hover_text(&mut c, &rides, RIDES, "minutes", 2),
        "```pipe\nminutes: int\n```\nnot null at step 3 (`derive`) of `rides`"
    );
    // A column of another pipeline's table, read through `table(...)`.
    assert_eq!(
        hover_text(&mut c, &report, REPORT, "n > 10", 0),
        "```pipe\nn: bigint\n```\nnot null at step 1 (`filter`) of `busy`"
    );
    let count = hover_text(&mut c, &rides, RIDES, "count", 0);
    assert!(
        count.starts_with("```pipe\ncount()\ncount(*)\ncount(x)\n```\naggregate function: "),
        "{count}"
    );
    assert_eq!(
        hover_text(&mut c, &rides, RIDES, "long_rides", 0),
        format!(
            "```pipe\ndefine long_rides(rel: relation, col: column)\n```\n\nRides of at least ten minutes.\n\nfrom `{}`",
            p.root.join("shared.pipe").display()
        )
    );
    assert!(c.shutdown().success());
}

#[test]
fn definition_and_references_follow_columns_across_files_and_into_std() {
    let p = Project::new();
    let mut c = Client::start(&p);
    let rides = p.uri("rides.pipe");
    let report = p.uri("report.pipe");
    c.open(&rides, RIDES);
    c.open(&report, REPORT);

    // `n` in report.pipe comes from the aggregate in rides.pipe, through the table sink.
    let def = c.request("textDocument/definition", doc(&report, REPORT, "n > 10", 0));
    assert_eq!(
        def,
        json!({ "uri": rides, "range": {
            "start": pos(RIDES, "n = count()", 0, 0),
            "end": pos(RIDES, "n = count()", 0, 1),
        } })
    );
    // A relation to its declaration.
    let def = c.request(
        "textDocument/definition",
        doc(&rides, RIDES, "raw_rides", 1),
    );
    assert_eq!(def["uri"], rides);
    assert_eq!(def["range"], range(RIDES, "raw_rides", 0));
    // A column through `derive`, `filter` and a define to the source's field.
    let def = c.request("textDocument/definition", doc(&rides, RIDES, "station", 1));
    assert_eq!(def["range"], range(RIDES, "station", 0));
    // A define of the standard library: the embedded module written into the cache.
    let def = c.request("textDocument/definition", doc(&rides, RIDES, "latest", 0));
    let std_file = p.cache.join(format!(
        "pipec/std/{}/dedupe.pipe",
        env!("CARGO_PKG_VERSION")
    ));
    assert_eq!(def["uri"], uri(&std_file));
    let std_text = std::fs::read_to_string(&std_file).unwrap();
    assert_eq!(
        def["range"],
        json!({
            "start": pos(&std_text, "define latest(", 0, 7),
            "end": pos(&std_text, "define latest(", 0, 13),
        })
    );
    assert!(std_text.contains("define latest(rel: relation"));
    // `import std.dedupe` to the module's cached copy.
    let def = c.request(
        "textDocument/definition",
        doc(&rides, RIDES, "std.dedupe", 0),
    );
    assert_eq!(def["uri"], uri(&std_file));
    assert_eq!(
        def["range"],
        json!({ "start": { "line": 0, "character": 0 }, "end": { "line": 0, "character": 0 } })
    );
    // An import to its file.
    let def = c.request(
        "textDocument/definition",
        doc(&rides, RIDES, "shared.pipe", 0),
    );
    assert_eq!(def["uri"], p.uri("shared.pipe"));

    // References of `n`: its introduction and both reads in report.pipe.
    let refs = c.request(
        "textDocument/references",
        json!({
            "textDocument": { "uri": report },
            "position": pos(REPORT, "n > 10", 0, 0),
            "context": { "includeDeclaration": true },
        }),
    );
    let mut got: Vec<(String, Value)> = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["uri"].as_str().unwrap().to_string(), l["range"].clone()))
        .collect();
    got.sort_by_key(|(u, r)| (u.clone(), r.to_string()));
    let mut want = vec![
        (report.clone(), range(REPORT, "n > 10", 0)),
        (report.clone(), range(REPORT, "n\n", 0)),
        (rides.clone(), range(RIDES, "n = count()", 0)),
    ];
    for w in &mut want {
        w.1["end"] = json!({ "line": w.1["start"]["line"], "character": w.1["start"]["character"].as_u64().unwrap() + 1 });
    }
    want.sort_by_key(|(u, r)| (u.clone(), r.to_string()));
    assert_eq!(got, want);
    // Without the declaration.
    let refs = c.request(
        "textDocument/references",
        json!({
            "textDocument": { "uri": report },
            "position": pos(REPORT, "n > 10", 0, 0),
            "context": { "includeDeclaration": false },
        }),
    );
    assert_eq!(refs.as_array().unwrap().len(), 2);
    assert!(c.shutdown().success());
}

#[test]
fn rename_a_column_across_files_and_a_relation() {
    let p = Project::new();
    let mut c = Client::start(&p);
    let rides = p.uri("rides.pipe");
    let report = p.uri("report.pipe");
    c.open(&rides, RIDES);
    c.open(&report, REPORT);

    let edit = c.request(
        "textDocument/rename",
        json!({
            "textDocument": { "uri": report },
            "position": pos(REPORT, "n > 10", 0, 0),
            "newName": "rides_n",
        }),
    );
    let changes = edit["changes"].as_object().unwrap();
    assert_eq!(changes.len(), 2, "{edit:#}");
    let new_rides = apply(RIDES, changes[&rides].as_array().unwrap());
    let new_report = apply(REPORT, changes[&report].as_array().unwrap());
    assert_eq!(new_rides, RIDES.replace("n = count()", "rides_n = count()"));
    assert_eq!(
        new_report,
        REPORT
            .replace("filter n > 10", "filter rides_n > 10")
            .replace("select station, n", "select station, rides_n")
    );
    // The renamed project checks clean.
    c.change(&rides, 2, &new_rides);
    c.change(&report, 2, &new_report);
    assert_eq!(
        c.diagnostics(&report, |d| d.is_empty()),
        Vec::<Value>::new()
    );
    assert_eq!(c.diagnostics(&rides, |d| d.is_empty()), Vec::<Value>::new());

    // Refused: a taken name and an invalid one.
    let taken = c.call(
        "textDocument/rename",
        json!({
            "textDocument": { "uri": report },
            "position": pos(&new_report, "rides_n", 0, 0),
            "newName": "station",
        }),
    );
    assert_eq!(taken["error"]["code"], -32803, "{taken}");
    assert!(
        taken["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`station` is already a column"),
        "{taken}"
    );
    let invalid = c.call(
        "textDocument/rename",
        json!({
            "textDocument": { "uri": report },
            "position": pos(&new_report, "rides_n", 0, 0),
            "newName": "2n",
        }),
    );
    assert!(
        invalid["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("`2n` is not a valid name"),
        "{invalid}"
    );

    // A relation: its declaration and every read, not the pipeline of the same name.
    let edit = c.request(
        "textDocument/rename",
        json!({
            "textDocument": { "uri": rides },
            "position": pos(&new_rides, "transform rides", 0, 11),
            "newName": "trips",
        }),
    );
    let changes = edit["changes"].as_object().unwrap();
    assert_eq!(changes.len(), 1);
    let renamed = apply(&new_rides, changes[&rides].as_array().unwrap());
    assert_eq!(
        renamed,
        new_rides
            .replace("transform rides =", "transform trips =")
            .replace("daily = rides", "daily = trips")
    );
    let taken = c.call(
        "textDocument/rename",
        json!({
            "textDocument": { "uri": rides },
            "position": pos(&new_rides, "transform rides", 0, 11),
            "newName": "Daily",
        }),
    );
    assert!(
        taken["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`daily` already names a relation"),
        "{taken}"
    );
    assert!(c.shutdown().success());
}

fn labels(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn completion_formatting_and_symbols() {
    let p = Project::new();
    let mut c = Client::start(&p);
    let rides = p.uri("rides.pipe");
    c.open(&rides, RIDES);
    c.diagnostics(&rides, |_| true);

    // A step being typed: the columns after the previous step (with `derive`'s `hours`).
    let partial = RIDES.replace(
        "  | derive hours = minutes / 60.0",
        "  | derive hours = minutes / 60.0\n  | filter ",
    );
    c.change(&rides, 2, &partial);
    let at = pos(&partial, "| filter \n", 0, 9);
    let items = c.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": rides }, "position": at }),
    );
    let got = labels(&items);
    assert_eq!(
        got[..5],
        ["ride_id", "station", "minutes", "updated_at", "hours"]
    );
    let hours = &items.as_array().unwrap()[4];
    assert_eq!(hours["detail"], "float?");
    let substr = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "substr")
        .expect("functions are offered");
    assert_eq!(substr["detail"], "substr(s, start [, len])");

    // After `|`: step keywords and the defines in scope.
    let at = pos(&partial, "| filter \n", 0, 2);
    let got = labels(&c.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": rides }, "position": at }),
    ));
    for want in [
        "filter",
        "derive",
        "window",
        "dedupe.latest",
        "shared.long_rides",
    ] {
        assert!(got.contains(&want.to_string()), "{want} in {got:?}");
    }

    // Inside a source call: its options.
    let at = pos(RIDES, "header = true", 0, 0);
    c.change(&rides, 3, RIDES);
    let got = labels(&c.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": rides }, "position": at }),
    ));
    assert!(got.contains(&"delimiter".to_string()), "{got:?}");
    assert!(got.contains(&"skip".to_string()), "{got:?}");
    // After `join`: relation names.
    let joined = RIDES.replace("  | shared.long_rides(minutes)\n", "  | join ");
    c.change(&rides, 4, &joined);
    let got = labels(&c.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": rides }, "position": pos(&joined, "| join ", 0, 7) }),
    ));
    assert!(got.contains(&"raw_rides".to_string()), "{got:?}");
    assert!(got.contains(&"rides".to_string()), "{got:?}");
    assert!(!got.contains(&"filter".to_string()), "{got:?}");

    // Formatting: the canonical layout, then nothing left to change.
    let params = json!({
        "textDocument": { "uri": rides },
        "options": { "tabSize": 2, "insertSpaces": true },
    });
    let messy = RIDES.replace("header = true", "header   =    true");
    c.change(&rides, 5, &messy);
    let edits = c.request("textDocument/formatting", params.clone());
    assert_eq!(edits.as_array().unwrap().len(), 1, "{edits}");
    let formatted = apply(&messy, edits.as_array().unwrap());
    assert_ne!(formatted, messy);
    assert!(formatted.contains("header = true"), "{formatted}");
    assert_eq!(
        formatted,
        pipec_fmt::format(pipec_diag::FileId(0), &messy).unwrap()
    );
    c.change(&rides, 6, &formatted);
    assert_eq!(
        c.request("textDocument/formatting", params.clone()),
        json!([])
    );
    // A file that does not parse is not formatted.
    c.change(&rides, 7, "pipeline rides {");
    let refused = c.call("textDocument/formatting", params);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot format a file with "),
        "{refused}"
    );
    c.change(&rides, 8, RIDES);

    // Document symbols: every item, with a source's fields as children.
    let symbols = c.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": rides } }),
    );
    let got: Vec<(String, String, u64)> = symbols
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["detail"].as_str().unwrap().to_string(),
                s["kind"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, String, u64)> = [
        ("std.dedupe", "import", 2),
        ("\"shared.pipe\" as shared", "import", 2),
        ("rides", "pipeline", 3),
        ("raw_rides", "source csv", 5),
        ("rides", "transform", 12),
        ("daily", "transform", 12),
        ("daily", "sink -> mart.station_daily", 24),
        ("daily", "check (1 rules)", 7),
    ]
    .iter()
    .map(|(a, b, k)| (a.to_string(), b.to_string(), *k))
    .collect();
    assert_eq!(got, want);
    assert_eq!(symbols[3]["children"][2]["name"], "minutes");
    assert_eq!(symbols[3]["children"][2]["detail"], "int?");
    assert_eq!(symbols[4]["selectionRange"], range(RIDES, "rides", 2));
    assert!(c.shutdown().success());
}
