//! Talking to the outside: HTTP JSON APIs, PostgreSQL, and failure alerts.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use pipec_check::ir::{Alert, HttpOptions, Paginate, Pipeline, PostgresRead, Relation};
use pipec_diag::{codes, Diagnostic};
use pipec_sql::ident;

use crate::load::TempFile;
use crate::secrets::Secrets;
use crate::RunError;

fn fetch_error(rel: &Relation, url: &str, msg: impl std::fmt::Display) -> RunError {
    RunError::new(
        codes::FETCH_FAILED,
        rel.span,
        format!("fetching `{}` from {url} failed: {msg}", rel.name),
        "this HTTP source",
        "check the URL and the network; add `fallback = \"local.json\"` to run offline",
    )
}

/// Follows a dotted path (`data.items`) into a JSON document.
fn at_path<'a>(doc: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut cur = doc;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = match cur {
            serde_json::Value::Object(m) => m.get(part)?,
            serde_json::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn rows_of(
    rel: &Relation,
    url: &str,
    body: &str,
    rows_path: &str,
) -> Result<Vec<serde_json::Value>, RunError> {
    let doc: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| fetch_error(rel, url, format!("the response is not JSON: {e}")))?;
    match at_path(&doc, rows_path) {
        Some(serde_json::Value::Array(items)) => Ok(items.clone()),
        Some(serde_json::Value::Null) | None if !rows_path.is_empty() => Err(fetch_error(
            rel,
            url,
            format!("the response has no array at `{rows_path}`"),
        )),
        Some(other) => Ok(vec![other.clone()]),
        None => Ok(Vec::new()),
    }
}

/// Fetches all pages of an HTTP JSON source into an NDJSON file of its rows.
pub(crate) fn http_to_ndjson(
    rel: &Relation,
    url: &str,
    options: &HttpOptions,
    base: &Path,
    secrets: &Secrets,
) -> Result<TempFile, RunError> {
    let rows_path = options.rows.as_str();
    let retries = options.retries;
    let page_size = options.page_size;
    let paginate = options.paginate;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(options.timeout_seconds)))
        .build()
        .into();
    let bearer = options
        .bearer
        .as_ref()
        .map(|v| secrets.value(v, rel.span))
        .transpose()?;
    let api_key = options
        .api_key
        .as_ref()
        .map(|v| secrets.value(v, rel.span))
        .transpose()?;
    let key_param = options.api_key_param.as_str();
    let has_fallback = options.fallback.is_some();
    let refused = std::cell::Cell::new(false);

    let fetch_page = |page: u64| -> Result<Vec<serde_json::Value>, RunError> {
        let mut attempt = 0;
        loop {
            let mut req = agent.get(url);
            if let Some(mode) = paginate {
                let value = match mode {
                    Paginate::Offset => page * page_size,
                    Paginate::Page => page + 1,
                };
                req = req.query(&options.page_param, value.to_string());
                req = req.query(&options.size_param, page_size.to_string());
            }
            if let Some(key) = &api_key {
                req = req.query(key_param, key);
            }
            if let Some(token) = &bearer {
                req = req.header("Authorization", format!("Bearer {token}"));
            }
            let result: Result<String, ureq::Error> = match req.call() {
                Ok(mut resp) => resp
                    .body_mut()
                    .with_config()
                    .limit(options.max_bytes)
                    .read_to_string(),
                Err(e) => Err(e),
            };
            match result {
                Ok(body) => return rows_of(rel, url, &body, rows_path),
                // Not retried: the same request would be as large.
                Err(ureq::Error::BodyExceedsLimit(limit)) => {
                    let msg = format!("the response is larger than `max_bytes` ({limit} bytes); raise `max_bytes` or page through the API");
                    return Err(fetch_error(rel, url, msg));
                }
                // Nothing listens there: with a fallback, use it now instead of waiting.
                Err(ureq::Error::Io(e))
                    if has_fallback && e.kind() == std::io::ErrorKind::ConnectionRefused =>
                {
                    refused.set(true);
                    return Err(fetch_error(rel, url, secrets.redact(&e.to_string())));
                }
                Err(e) if attempt < retries => {
                    attempt += 1;
                    let wait = 200 * (1 << attempt);
                    eprintln!(
                        "retry: fetching `{}` from {url} attempt {attempt} of {} failed: {}; next attempt in {:.1}s",
                        rel.name,
                        retries + 1,
                        secrets.redact(&e.to_string()),
                        wait as f64 / 1000.0
                    );
                    std::thread::sleep(Duration::from_millis(wait));
                }
                Err(e) => return Err(fetch_error(rel, url, secrets.redact(&e.to_string()))),
            }
        }
    };
    let mut rows = Vec::new();
    let fetched = (|| -> Result<(), RunError> {
        for page in 0..options.max_pages {
            let batch = fetch_page(page)?;
            let n = batch.len() as u64;
            rows.extend(batch);
            if paginate.is_none() || n == 0 || n < page_size {
                break;
            }
        }
        Ok(())
    })();
    if let Err(e) = fetched {
        let Some(fallback) = &options.fallback else {
            return Err(e);
        };
        let path = base.join(fallback);
        let body = std::fs::read_to_string(&path).map_err(|io| {
            fetch_error(
                rel,
                url,
                format!(
                    "{}; the fallback {} cannot be read either: {io}",
                    e.diagnostic.message,
                    path.display()
                ),
            )
        })?;
        if refused.get() {
            eprintln!(
                "note: `{}` could not be fetched: the connection was refused; using the fallback {} without retrying",
                rel.name,
                path.display()
            );
        } else {
            eprintln!(
                "note: `{}` could not be fetched; using the fallback {}",
                rel.name,
                path.display()
            );
        }
        rows = rows_of(rel, &path.to_string_lossy(), &body, rows_path)?;
    }
    write_ndjson(rel, url, rows.iter().map(|r| r.to_string()))
}

fn write_ndjson(
    rel: &Relation,
    origin: &str,
    lines: impl Iterator<Item = String>,
) -> Result<TempFile, RunError> {
    let file = TempFile::new(".ndjson");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(file.path()).map_err(|e| fetch_error(rel, origin, e))?,
    );
    for line in lines {
        out.write_all(line.as_bytes())
            .and_then(|_| out.write_all(b"\n"))
            .map_err(|e| fetch_error(rel, origin, e))?;
    }
    out.flush().map_err(|e| fetch_error(rel, origin, e))?;
    Ok(file)
}

/// Copies a PostgreSQL table or query (rows newer than the watermark) into an NDJSON file.
pub(crate) fn postgres_to_ndjson(
    rel: &Relation,
    dsn: &str,
    read: &PostgresRead,
    incremental: Option<&str>,
    watermark: Option<&str>,
) -> Result<TempFile, RunError> {
    let db_error = |e: &postgres::Error| {
        let detail = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .or_else(|| std::error::Error::source(e).map(|s| s.to_string()));
        let e = match detail {
            Some(d) => format!("{e}: {d}"),
            None => e.to_string(),
        };
        RunError::new(
            codes::DATABASE_FAILED,
            rel.span,
            format!("reading `{}` from PostgreSQL failed: {e}", rel.name),
            "this database source",
            "check the connection string secret and that the table and columns exist",
        )
    };
    let mut client = postgres::Client::connect(dsn, postgres::NoTls).map_err(|e| db_error(&e))?;
    client
        .batch_execute("SET TIME ZONE 'UTC'")
        .map_err(|e| db_error(&e))?;
    let cols: Vec<String> = rel.schema.columns.iter().map(|c| ident(&c.name)).collect();
    let from = match read {
        PostgresRead::Table(t) => t.split('.').map(ident).collect::<Vec<_>>().join("."),
        PostgresRead::Query(q) => format!("({q}) AS q"),
    };
    let mut sql = format!(
        "SELECT row_to_json(t)::text FROM (SELECT {} FROM {from}",
        cols.join(", ")
    );
    if let Some(col) = incremental {
        if let Some(w) = watermark {
            sql.push_str(&format!(" WHERE {} > {}", ident(col), pipec_sql::string(w)));
        }
        sql.push_str(&format!(" ORDER BY {}", ident(col)));
    }
    sql.push_str(") AS t");
    let messages = client.simple_query(&sql).map_err(|e| db_error(&e))?;
    let lines = messages.into_iter().filter_map(|m| match m {
        postgres::SimpleQueryMessage::Row(r) => r.get(0).map(String::from),
        _ => None,
    });
    write_ndjson(rel, "postgres", lines)
}

/// A delivered (or not delivered) alert.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AlertReport {
    /// `slack` or `email`.
    pub kind: String,
    /// What happened.
    pub outcome: String,
}

/// Sends the pipeline's alerts about a final failure. Secret URLs are never printed.
pub(crate) fn send_alerts(
    p: &Pipeline,
    ds: &str,
    diag: &Diagnostic,
    secrets: &Secrets,
) -> Vec<AlertReport> {
    let text = format!(
        ":red_circle: pipec: pipeline `{}` failed for {ds}: [{}] {}",
        p.name,
        diag.code.id,
        secrets.redact(&diag.message)
    );
    p.alerts
        .iter()
        .map(|a| match a {
            Alert::Slack { url } => {
                let outcome = match secrets.value(url, p.span) {
                    Err(e) => format!("not sent: {}", e.diagnostic.message),
                    Ok(url) => {
                        let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
                        let body = serde_json::json!({ "text": text, "pipeline": p.name, "ds": ds.to_string(), "code": diag.code.id });
                        match agent.post(&url).header("Content-Type", "application/json").send(body.to_string()) {
                            Ok(_) => "sent".to_string(),
                            Err(e) => format!("not sent: {}", secrets.redact(&e.to_string())),
                        }
                    }
                };
                AlertReport { kind: "slack".into(), outcome }
            }
            Alert::Email { to } => AlertReport {
                kind: "email".into(),
                outcome: format!("not sent to {to}: local runs deliver webhook alerts only; email is delivered by the deployed targets"),
            },
        })
        .collect()
}
