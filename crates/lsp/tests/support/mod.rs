//! A JSON-RPC client that drives `pipec-lsp` over its stdin/stdout as an editor does, with
//! `Content-Length` framing and timeouts, and the small project the conversations run on.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long any one answer may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub const RIDES: &str = r#"import std.dedupe
import "shared.pipe" as shared

pipeline rides {
  schedule daily at 03:00
}

source raw_rides = csv("data/{ds}.csv", header = true) {
  ride_id: int,
  station: string,
  minutes: int?,
  updated_at: timestamp,
}

transform rides = raw_rides
  | dedupe.latest(key = ride_id, order_by = updated_at)
  | filter minutes is not null
  | derive hours = minutes / 60.0

transform daily = rides
  | shared.long_rides(minutes)
  | group station {
      n = count(),
      total = sum(minutes),
    }

sink daily -> mart.station_daily { mode replace }

check daily {
  unique(station)
}
"#;

pub const SHARED: &str = r#"# Rides of at least ten minutes.
define long_rides(rel: relation, col: column) = rel
  | filter col >= 10
"#;

pub const REPORT: &str = r#"pipeline report {
  schedule after rides
}

source daily = table("mart.station_daily")

transform busy = daily
  | filter n > 10
  | select station, n

sink busy -> mart.busy_stations { mode replace }
"#;

/// A temp copy of the project: `rides.pipe` (imports `std.dedupe` and `shared.pipe`),
/// `shared.pipe` and `report.pipe` (reads rides' table with `table(...)`).
pub struct Project {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub cache: PathBuf,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("project");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("rides.pipe"), RIDES).unwrap();
        std::fs::write(root.join("shared.pipe"), SHARED).unwrap();
        std::fs::write(root.join("report.pipe"), REPORT).unwrap();
        let cache = dir.path().join("cache");
        Project { dir, root, cache }
    }

    pub fn uri(&self, file: &str) -> String {
        uri(&self.root.join(file))
    }
}

pub fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The position of the `nth` (0-based) occurrence of `needle` in `text`, plus `shift` characters.
pub fn pos(text: &str, needle: &str, nth: usize, shift: usize) -> Value {
    let at = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("`{needle}` #{nth} not in text"))
        .0
        + shift;
    let line = text[..at].matches('\n').count();
    let col = text[..at].rsplit('\n').next().unwrap().chars().count();
    json!({ "line": line, "character": col })
}

/// The range of the `nth` occurrence of `needle`.
pub fn range(text: &str, needle: &str, nth: usize) -> Value {
    let start = pos(text, needle, nth, 0);
    let end = pos(text, needle, nth, needle.len());
    json!({ "start": start, "end": end })
}

pub struct Client {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Value>,
    next_id: i64,
    /// Notifications received while waiting for something else.
    pub pending: Vec<Value>,
}

impl Client {
    /// Spawns the server with its cache under the project's temp dir, and initializes it with
    /// the project folder as the workspace folder.
    pub fn start(project: &Project) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipec-lsp"))
            .env("XDG_CACHE_HOME", &project.cache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn pipec-lsp");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = None;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; len.expect("Content-Length header")];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let v: Value = serde_json::from_slice(&body).expect("JSON body");
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let mut c = Client {
            child,
            stdin,
            rx,
            next_id: 1,
            pending: Vec::new(),
        };
        let root_uri = uri(&project.root);
        let init = c.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": null,
                "capabilities": {},
                "workspaceFolders": [{ "uri": root_uri, "name": "project" }],
            }),
        );
        assert_eq!(init["serverInfo"]["name"], "pipec");
        assert_eq!(init["capabilities"]["hoverProvider"], true);
        c.notify("initialized", json!({}));
        c
    }

    fn send(&mut self, v: Value) {
        let body = serde_json::to_string(&v).unwrap();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn recv(&mut self, deadline: Instant) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => panic!(
                "no message from the server within {TIMEOUT:?}; pending: {:#?}",
                self.pending
            ),
            Err(RecvTimeoutError::Disconnected) => panic!("the server closed its stdout"),
        }
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// The whole response (`result` or `error`) to a request.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let v = self.recv(deadline);
            if v.get("id") == Some(&json!(id)) && v.get("method").is_none() {
                return v;
            }
            self.pending.push(v);
        }
    }

    /// The `result` of a request (panics on an error response).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let v = self.call(method, params);
        assert!(v.get("error").is_none(), "{method} failed: {v}");
        v["result"].clone()
    }

    /// The next `publishDiagnostics` for `uri` whose diagnostics satisfy `ok` (earlier ones
    /// for it are skipped).
    pub fn diagnostics(&mut self, uri: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let matches = |v: &Value| {
            v["method"] == "textDocument/publishDiagnostics"
                && v["params"]["uri"] == uri
                && ok(v["params"]["diagnostics"].as_array().unwrap())
        };
        if let Some(i) = self.pending.iter().position(matches) {
            let v = self.pending.remove(i);
            return v["params"]["diagnostics"].as_array().unwrap().clone();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let v = self.recv(deadline);
            if matches(&v) {
                return v["params"]["diagnostics"].as_array().unwrap().clone();
            }
            self.pending.push(v);
        }
    }

    pub fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "pipe", "version": 1, "text": text } }),
        );
    }

    pub fn change(&mut self, uri: &str, version: i64, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{ "text": text }],
            }),
        );
    }

    /// `shutdown`, `exit`, and the exit status (waited for with a timeout).
    pub fn shutdown(mut self) -> std::process::ExitStatus {
        let r = self.call("shutdown", Value::Null);
        assert_eq!(r["result"], Value::Null);
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("pipec-lsp did not exit after `exit`");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
