//! didChange → publishDiagnostics latency of the language server on the generated
//! 10,000-node project (`pipec_golden::generate_project(10_000)`, written to a temp folder):
//! one file is opened, then changed `CHANGES` times, alternating a clean edit and an edit that
//! introduces an unknown column; p50 and p95 of the time from sending each change to receiving
//! that file's diagnostics. Run: `cargo run --release -p pipec-lsp --example latency`.

use std::time::{Duration, Instant};

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::json;

const CHANGES: usize = 60;

fn main() {
    let nodes: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let files = pipec_golden::generate_project(nodes);
    for (name, text) in &files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let (client, server) = Connection::memory();
    let thread = std::thread::spawn(move || pipec_lsp::run(&server));
    let root = format!("file://{}", dir.path().display());
    let started = Instant::now();
    client
        .sender
        .send(Message::Request(Request::new(
            RequestId::from(1),
            "initialize".into(),
            json!({ "processId": null, "rootUri": null, "capabilities": {},
                    "workspaceFolders": [{ "uri": root, "name": "gen" }] }),
        )))
        .unwrap();
    wait(&client, |m| matches!(m, Message::Response(_)));
    notify(&client, "initialized", json!({}));
    let (name, text) = &files[files.len() / 2];
    let uri = format!("file://{}", dir.path().join(name).display());
    notify(
        &client,
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "pipe", "version": 0, "text": text } }),
    );
    wait(&client, |m| is_diagnostics(m, &uri));
    println!(
        "{} files: initialize, load, check and open one file: {:.0} ms",
        files.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let broken = text.replace("filter amount is not null", "filter amont is not null");
    assert_ne!(&broken, text);
    let mut times = Vec::new();
    for i in 1..=CHANGES {
        let body = if i % 2 == 1 { &broken } else { text };
        let sent = Instant::now();
        notify(
            &client,
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": i }, "contentChanges": [{ "text": body }] }),
        );
        let diags = wait(&client, |m| is_diagnostics(m, &uri));
        times.push(sent.elapsed());
        let n = match diags {
            Message::Notification(n) => n.params["diagnostics"].as_array().unwrap().len(),
            _ => unreachable!(),
        };
        assert_eq!(
            n,
            i % 2,
            "change {i}: the typo is reported, the fix clears it"
        );
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).min(times.len()) - 1];
    println!(
        "didChange -> publishDiagnostics over {CHANGES} changes: p50 {:.1} ms, p95 {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(pct(0.50)),
        ms(pct(0.95)),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    client
        .sender
        .send(Message::Request(Request::new(
            RequestId::from(2),
            "shutdown".into(),
            json!(null),
        )))
        .unwrap();
    wait(&client, |m| matches!(m, Message::Response(_)));
    notify(&client, "exit", json!(null));
    thread.join().unwrap().unwrap();
}

fn notify(c: &Connection, method: &str, params: serde_json::Value) {
    c.sender
        .send(Message::Notification(Notification::new(
            method.into(),
            params,
        )))
        .unwrap();
}

fn is_diagnostics(m: &Message, uri: &str) -> bool {
    matches!(m, Message::Notification(n)
        if n.method == "textDocument/publishDiagnostics" && n.params["uri"] == uri)
}

fn wait(c: &Connection, want: impl Fn(&Message) -> bool) -> Message {
    loop {
        let m = c
            .receiver
            .recv_timeout(Duration::from_secs(600))
            .expect("the server answers");
        if want(&m) {
            return m;
        }
    }
}
