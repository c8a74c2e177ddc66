//! `pipec lsp`: the language server answers `initialize` over stdio (Content-Length framing)
//! with a project folder, publishes the diagnostics of an opened file, and exits with status 0
//! after `shutdown` and `exit`. The conversation itself is tested in crates/lsp/tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn frame(v: &Value) -> Vec<u8> {
    let body = v.to_string();
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

#[test]
fn lsp_answers_initialize_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.pipe");
    let text = "pipeline demo { schedule daily }\n\nsource s = csv(\"s.csv\") { id: int }\n\ntransform t = s | filter idd > 0\n\nsink t -> mart.t { mode replace }\n";
    std::fs::write(&file, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipec"))
        .arg("lsp")
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pipec lsp");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel::<Value>();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        loop {
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.trim().strip_prefix("Content-Length: ") {
                    len = v.parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                return;
            }
        }
    });
    let next = |want: &dyn Fn(&Value) -> bool| -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = rx.recv_timeout(left).expect("an answer within 30 s");
            if want(&v) {
                return v;
            }
        }
    };
    let root = format!("file://{}", dir.path().display());
    stdin
        .write_all(&frame(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": { "processId": null, "rootUri": root, "capabilities": {} },
        })))
        .unwrap();
    let init = next(&|v| v["id"] == 1);
    assert_eq!(init["result"]["serverInfo"]["name"], "pipec");
    assert_eq!(init["result"]["capabilities"]["renameProvider"], true);
    let uri = format!("file://{}", file.display());
    for msg in [
        json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }),
        json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": { "uri": uri, "languageId": "pipe", "version": 1, "text": text } } }),
    ] {
        stdin.write_all(&frame(&msg)).unwrap();
    }
    let published = next(&|v| {
        v["method"] == "textDocument/publishDiagnostics" && v["params"]["uri"] == uri.as_str()
    });
    let diags = published["params"]["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 1, "{published}");
    assert_eq!(diags[0]["code"], "E0102");
    assert_eq!(
        diags[0]["message"],
        "unknown column `idd`\nhelp: did you mean `id`?"
    );
    stdin
        .write_all(&frame(
            &json!({ "jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": null }),
        ))
        .unwrap();
    assert_eq!(next(&|v| v["id"] == 2)["result"], Value::Null);
    stdin
        .write_all(&frame(
            &json!({ "jsonrpc": "2.0", "method": "exit", "params": null }),
        ))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "pipec lsp did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
