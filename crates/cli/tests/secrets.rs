//! Secrets echoed back by an API, raw or encoded, never leave pipec unredacted: not on stdout or
//! stderr, not in `pipec runs`, not in the warehouse file, not in the Slack alert.

mod common;

use common::*;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The bearer token and API key: quotes, backslashes, spaces, `&`, `%` and `+`, around
/// distinctive words that no encoding changes, so a leak in any rendering shows them.
const TOKEN: &str = r#"tokALPHA"tokBRAVO\tokCHARLIE tokDELTA&tokECHO%2FtokFOXTROT+tokGOLF"#;
const KEY: &str = r#"keyALPHA"keyBRAVO\keyCHARLIE keyDELTA&keyECHO%keyFOXTROT+keyGOLF"#;
const HOOK_WORD: &str = "hookSECRETWORD";

/// `s` percent-encoded: every byte but ASCII letters and digits as `%XX`, a space as `+` with
/// `plus`.
fn percent(s: &str, plus: bool) -> String {
    s.bytes()
        .map(|b| match b {
            b' ' if plus => "+".to_string(),
            b if b.is_ascii_alphanumeric() => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Every rendering of `secret` that must not appear: raw, Rust-Debug-escaped, JSON-escaped,
/// both at once, and URL-encoded (`%20` and `+` forms), plus its distinctive words.
fn renderings(secret: &str) -> Vec<String> {
    let debug = format!("{secret:?}");
    let json = serde_json::to_string(secret).unwrap();
    let debug_of_json = format!("{json:?}");
    let mut out = vec![
        secret.to_string(),
        debug[1..debug.len() - 1].to_string(),
        json[1..json.len() - 1].to_string(),
        debug_of_json[3..debug_of_json.len() - 3].to_string(),
        percent(secret, false),
        percent(secret, true),
    ];
    out.extend(
        secret
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| w.len() >= 6)
            .map(String::from),
    );
    out
}

fn assert_no_secret(what: &str, haystack: &[u8]) {
    let hay = String::from_utf8_lossy(haystack);
    for secret in [TOKEN, KEY] {
        for r in renderings(secret) {
            assert!(
                !hay.contains(&r),
                "{what} holds the secret as {r:?}:\n{}",
                hay.chars().take(4000).collect::<String>()
            );
        }
    }
    assert!(!hay.contains(HOOK_WORD), "{what} holds the webhook URL");
}

type Hits = Arc<Mutex<Vec<(String, String)>>>;

/// A hostile API on a local port: it echoes the `Authorization` header and the URL it was called
/// with back into a 401 body, into rows whose values do not fit their columns (raw, inside a
/// JSON object, URL- and form-encoded), and through a redirect that carries them in its URL.
fn serve(hits: Hits) -> u16 {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let url = req.url().to_string();
            let auth = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.to_string())
                .unwrap_or_default();
            hits.lock().unwrap().push((url.clone(), body));
            let rows =
                |id: serde_json::Value| serde_json::json!({ "items": [{ "id": id }] }).to_string();
            let (status, body, location) = match url.split('?').next().unwrap() {
                "/deny" => (
                    401,
                    serde_json::json!({ "error": format!("bad credentials {auth} for {url}") })
                        .to_string(),
                    None,
                ),
                "/echo-header" => (200, rows(auth.clone().into()), None),
                "/echo-object" => (200, rows(serde_json::json!({ "token": auth })), None),
                "/redirect" => {
                    let query = url.split_once('?').map_or("", |(_, q)| q);
                    (302, String::new(), Some(format!("/echo-url?{query}")))
                }
                "/echo-url" => (200, rows(url.clone().into()), None),
                "/echo-form" => (
                    200,
                    rows(format!("key={}", percent(KEY, true)).into()),
                    None,
                ),
                p if p.starts_with("/hook/") => (200, "ok".to_string(), None),
                _ => (404, "not found".to_string(), None),
            };
            let mut resp = tiny_http::Response::from_string(body).with_status_code(status);
            if let Some(l) = location {
                resp.add_header(tiny_http::Header::from_bytes("Location", l).unwrap());
            }
            let _ = req.respond(resp);
        }
    });
    port
}

fn spec(port: u16) -> String {
    let mut s = String::new();
    for (name, path, auth) in [
        (
            "deny",
            "deny",
            r#"bearer = secret("TOK"), api_key = secret("KEY")"#,
        ),
        ("header", "echo-header", r#"bearer = secret("TOK")"#),
        ("object", "echo-object", r#"bearer = secret("TOK")"#),
        ("redirect", "redirect", r#"api_key = secret("KEY")"#),
        ("form", "echo-form", r#"api_key = secret("KEY")"#),
    ] {
        s.push_str(&format!(
            r#"pipeline {name} {{
  retries 0
  alert slack(secret("HOOK"))
}}
source {name}_src = http("http://127.0.0.1:{port}/{path}", rows = "items", retries = 1, {auth}) {{ id: int }}
sink {name}_src -> mart.{name}
"#
        ));
    }
    s
}

#[test]
fn secrets_echoed_by_an_api_are_redacted_in_every_rendering_and_place() {
    let hits: Hits = Arc::new(Mutex::new(Vec::new()));
    let port = serve(hits.clone());
    let dir = tempfile::tempdir().unwrap();
    for name in ["deny", "header", "object", "redirect", "form"] {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let all = spec(port);
        let own = all
            .split("pipeline ")
            .find(|p| p.starts_with(&format!("{name} ")))
            .unwrap();
        std::fs::write(sub.join("p.pipe"), format!("pipeline {own}")).unwrap();
    }
    let wh = dir.path().join("w.duckdb");
    let hook = format!("http://127.0.0.1:{port}/hook/{HOOK_WORD}");
    let run = |format: &str| {
        pipec()
            .args(["run", dir.path().to_str().unwrap(), "--date", "2024-01-01"])
            .args(["--format", format, "--warehouse"])
            .arg(&wh)
            .env("TOK", TOKEN)
            .env("KEY", KEY)
            .env("HOOK", &hook)
            .output()
            .unwrap()
    };
    for format in ["text", "json"] {
        let out = run(format);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "every pipeline fails: {t}");
        for needle in ["E0505", "E0501", "***", "alert slack: sent"] {
            assert!(
                format == "json" || t.contains(needle),
                "expected {needle:?} in:\n{t}"
            );
        }
        assert_no_secret(&format!("`pipec run --format {format}`"), t.as_bytes());
    }
    {
        let hits = hits.lock().unwrap();
        // The API really was sent the secrets, and echoed them.
        assert!(
            hits.iter()
                .any(|(u, _)| u.starts_with("/echo-url?") && u.contains("keyALPHA")),
            "the redirect carried the key: {hits:?}"
        );
        let alerts: Vec<&(String, String)> = hits
            .iter()
            .filter(|(u, _)| u.starts_with("/hook/"))
            .collect();
        assert_eq!(alerts.len(), 10, "one alert per pipeline and run: {hits:?}");
        for (_, body) in alerts {
            assert_no_secret("the Slack alert", body.as_bytes());
        }
    }
    for format in ["text", "json"] {
        let out = pipec()
            .args(["runs", "--format", format, "--warehouse"])
            .arg(&wh)
            .output()
            .unwrap();
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        assert!(t.contains("failed") && t.contains("***"), "{t}");
        assert_no_secret(&format!("`pipec runs --format {format}`"), t.as_bytes());
    }
    let conn = duckdb::Connection::open(&wh).unwrap();
    let errors: Vec<String> = conn
        .prepare("SELECT error FROM _pipec.runs ORDER BY pipeline")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(conn);
    assert_eq!(errors.len(), 10, "{errors:?}");
    assert_no_secret("_pipec.runs", errors.join("\n").as_bytes());
    for file in [wh.clone(), wh.with_extension("duckdb.wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            assert_no_secret(&file.display().to_string(), &bytes);
        }
    }
    // The search of the file's bytes is meaningful: the redacted messages are stored as text.
    let bytes = std::fs::read(&wh).unwrap();
    assert!(
        String::from_utf8_lossy(&bytes).contains("is not a int"),
        "the errors are readable in {}",
        Path::new(&wh).display()
    );
}
