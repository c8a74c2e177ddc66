//! `pipec lsp`: a language server over stdio (JSON-RPC with `Content-Length` framing) on
//! rust-analyzer's `lsp-server` and `lsp-types` crates, synchronous, on a
//! [`pipec_workspace::Workspace`] of every `.pipe` file below the editor's workspace folder, with
//! open buffers overlaying the files on disk.
//!
//! Diagnostics are the checker's (code, message, labels, help, a link to the code's page);
//! hover, definition, references and rename follow names through the syntax trees ([`nav`]) and
//! types through the checked IR.

mod convert;
mod features;
pub mod functions;
pub mod nav;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types as lsp;
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use pipec_diag::{FileId, Severity};
use pipec_workspace::Workspace;
use serde_json::Value;

pub use convert::{path_of, uri_of};

/// Serves one editor session on stdin/stdout until `shutdown` and `exit`.
pub fn serve_stdio() -> Result<(), String> {
    let (connection, io) = Connection::stdio();
    run(&connection)?;
    drop(connection);
    io.join().map_err(|e| format!("stdio: {e}"))
}

/// Serves one session on `connection` (stdio, or an in-memory pair in tests and benchmarks).
pub fn run(connection: &Connection) -> Result<(), String> {
    let (id, params) = connection
        .initialize_start()
        .map_err(|e| format!("initialize: {e}"))?;
    let params: lsp::InitializeParams =
        serde_json::from_value(params).map_err(|e| format!("initialize params: {e}"))?;
    connection
        .initialize_finish(
            id,
            serde_json::json!({
                "capabilities": capabilities(),
                "serverInfo": { "name": "pipec", "version": env!("CARGO_PKG_VERSION") },
            }),
        )
        .map_err(|e| format!("initialize: {e}"))?;
    let mut server = Server::new(root_of(&params), cache_dir());
    server.publish(connection, None);
    for msg in &connection.receiver {
        match msg {
            Message::Request(req) => {
                if connection
                    .handle_shutdown(&req)
                    .map_err(|e| format!("shutdown: {e}"))?
                {
                    return Ok(());
                }
                let resp = server.request(req);
                send(connection, Message::Response(resp));
            }
            Message::Notification(n) => {
                if n.method == lsp::notification::Exit::METHOD {
                    return Ok(());
                }
                if let Some(changed) = server.notification(n) {
                    server.publish(connection, Some(changed));
                }
            }
            Message::Response(_) => {}
        }
    }
    Ok(())
}

fn send(connection: &Connection, msg: Message) {
    // The client hanging up ends the receive loop; nothing to do here.
    let _ = connection.sender.send(msg);
}

fn capabilities() -> lsp::ServerCapabilities {
    lsp::ServerCapabilities {
        text_document_sync: Some(lsp::TextDocumentSyncCapability::Options(
            lsp::TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(lsp::TextDocumentSyncKind::FULL),
                save: Some(lsp::TextDocumentSyncSaveOptions::SaveOptions(
                    lsp::SaveOptions {
                        include_text: Some(true),
                    },
                )),
                ..Default::default()
            },
        )),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        definition_provider: Some(lsp::OneOf::Left(true)),
        references_provider: Some(lsp::OneOf::Left(true)),
        rename_provider: Some(lsp::OneOf::Left(true)),
        completion_provider: Some(lsp::CompletionOptions {
            trigger_characters: Some(vec!["|".into(), ".".into(), "(".into(), " ".into()]),
            ..Default::default()
        }),
        document_formatting_provider: Some(lsp::OneOf::Left(true)),
        document_symbol_provider: Some(lsp::OneOf::Left(true)),
        code_action_provider: Some(lsp::CodeActionProviderCapability::Simple(true)),
        ..Default::default()
    }
}

/// The workspace folder of `initialize` (else the deprecated root URI).
#[allow(deprecated)]
fn root_of(params: &lsp::InitializeParams) -> Option<PathBuf> {
    params
        .workspace_folders
        .as_ref()
        .and_then(|f| f.first())
        .map(|f| f.uri.clone())
        .or_else(|| params.root_uri.clone())
        .and_then(|u| path_of(&u))
}

/// `$XDG_CACHE_HOME/pipec`, else `~/.cache/pipec`, else a folder under the temp dir.
fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("pipec")
}

/// The session: the project, the open buffers and what was last published.
pub(crate) struct Server {
    pub ws: Workspace,
    /// `<cache>/std/<version>`: the embedded standard library written out for go-to-definition.
    pub std_dir: PathBuf,
    /// `<cache>/docs/<version>/errors`: the code pages diagnostics link to.
    pub docs_dir: PathBuf,
    /// Diagnostics last published per URI.
    published: HashMap<String, (lsp::Uri, Vec<lsp::Diagnostic>)>,
    /// The last schema of each relation that checked, per file (completion inside a
    /// half-typed step, while the relation does not parse).
    pub last_good: HashMap<FileId, HashMap<String, pipec_check::ir::Schema>>,
}

impl Server {
    fn new(root: Option<PathBuf>, cache: PathBuf) -> Server {
        let version = env!("CARGO_PKG_VERSION");
        let std_dir = cache.join("std").join(version);
        let docs_dir = cache.join("docs").join(version).join("errors");
        write_cache(&std_dir, &docs_dir);
        let ws = root
            .filter(|r| r.is_dir())
            .and_then(|r| Workspace::load(&[r]).ok())
            .unwrap_or_default();
        let mut server = Server {
            ws,
            std_dir,
            docs_dir,
            published: HashMap::new(),
            last_good: HashMap::new(),
        };
        server.remember_pipelines(None);
        server
    }

    /// Records the relation schemas of `only` (every file when `None`) for [`Self::last_good`].
    fn remember_pipelines(&mut self, only: Option<FileId>) {
        let ids: HashMap<&str, FileId> = match only {
            Some(id) => HashMap::from([(self.ws.sources().get(id).name.as_str(), id)]),
            None => self
                .ws
                .sources()
                .iter()
                .map(|(id, f)| (f.name.as_str(), id))
                .collect(),
        };
        for p in &self.ws.checked().project.pipelines {
            if let Some(&id) = ids.get(p.file.as_str()) {
                let known = self.last_good.entry(id).or_default();
                for r in &p.relations {
                    known.insert(r.name.clone(), r.schema.clone());
                }
            }
        }
    }

    /// The file an editor URI names: a project file, or an embedded `std/` module in the cache.
    pub fn file_of(&self, uri: &lsp::Uri) -> Option<FileId> {
        let path = path_of(uri)?;
        if let Ok(rel) = path.strip_prefix(&self.std_dir) {
            return self
                .ws
                .sources()
                .find(&format!("std/{}", rel.to_string_lossy()));
        }
        self.ws.file_id(&path)
    }

    /// The URI of a file: its path, or its copy in the cache for `std/` modules.
    pub fn uri(&self, file: FileId) -> lsp::Uri {
        match self.ws.path(file) {
            Some(p) => uri_of(p),
            None => {
                let name = &self.ws.sources().get(file).name;
                uri_of(&self.std_dir.join(name.strip_prefix("std/").unwrap_or(name)))
            }
        }
    }

    /// The LSP location of a span.
    pub fn location(&self, span: pipec_diag::Span) -> lsp::Location {
        let text = &self.ws.sources().get(span.file).text;
        lsp::Location {
            uri: self.uri(span.file),
            range: convert::range(text, span.start as usize, span.end as usize),
        }
    }

    /// Handles a notification; returns the changed file's URI when diagnostics may change.
    fn notification(&mut self, n: Notification) -> Option<lsp::Uri> {
        use lsp::notification as N;
        let changed = match n.method.as_str() {
            N::DidOpenTextDocument::METHOD => {
                let p: lsp::DidOpenTextDocumentParams = serde_json::from_value(n.params).ok()?;
                self.set_text(&p.text_document.uri, p.text_document.text)
            }
            N::DidChangeTextDocument::METHOD => {
                let p: lsp::DidChangeTextDocumentParams = serde_json::from_value(n.params).ok()?;
                let text = p.content_changes.into_iter().last()?.text;
                self.set_text(&p.text_document.uri, text)
            }
            N::DidSaveTextDocument::METHOD => {
                let p: lsp::DidSaveTextDocumentParams = serde_json::from_value(n.params).ok()?;
                match p.text {
                    Some(text) => self.set_text(&p.text_document.uri, text),
                    None => self.reload(&p.text_document.uri),
                }
            }
            N::DidCloseTextDocument::METHOD => {
                let p: lsp::DidCloseTextDocumentParams = serde_json::from_value(n.params).ok()?;
                self.reload(&p.text_document.uri)
            }
            N::DidChangeWatchedFiles::METHOD => {
                let p: lsp::DidChangeWatchedFilesParams = serde_json::from_value(n.params).ok()?;
                let mut last = None;
                for change in p.changes {
                    last = self.reload(&change.uri).or(last);
                }
                last
            }
            _ => None,
        };
        if let Some(file) = changed.as_ref().and_then(|u| self.file_of(u)) {
            self.remember_pipelines(Some(file));
        }
        changed
    }

    fn project_path(&self, uri: &lsp::Uri) -> Option<PathBuf> {
        let path = path_of(uri)?;
        let is_pipe = path.extension().is_some_and(|e| e == "pipe");
        (is_pipe && !path.starts_with(&self.std_dir)).then_some(path)
    }

    fn set_text(&mut self, uri: &lsp::Uri, text: String) -> Option<lsp::Uri> {
        let path = self.project_path(uri)?;
        if self.ws.file_id(&path).is_some_and(|f| {
            self.ws.sources().get(f).text == text && !self.ws.sources().is_removed(f)
        }) {
            return Some(uri.clone());
        }
        self.ws.set_text(&path, text);
        Some(uri.clone())
    }

    fn reload(&mut self, uri: &lsp::Uri) -> Option<lsp::Uri> {
        let path = self.project_path(uri)?;
        self.ws.reload(&path);
        Some(uri.clone())
    }

    /// Publishes the diagnostics of every file whose list changed (and of `changed` always).
    fn publish(&mut self, connection: &Connection, changed: Option<lsp::Uri>) {
        let mut now: HashMap<String, (lsp::Uri, Vec<lsp::Diagnostic>)> = HashMap::new();
        for d in &self.ws.checked().diagnostics {
            let file = d.span().file;
            if self.ws.sources().is_removed(file) {
                continue;
            }
            let uri = self.uri(file);
            now.entry(uri.as_str().to_string())
                .or_insert_with(|| (uri, Vec::new()))
                .1
                .push(self.diagnostic(d));
        }
        let mut uris: Vec<(String, lsp::Uri)> = now
            .iter()
            .chain(self.published.iter())
            .filter(|(k, _)| now.get(*k).map(|v| &v.1) != self.published.get(*k).map(|v| &v.1))
            .map(|(k, (u, _))| (k.clone(), u.clone()))
            .collect();
        if let Some(c) = changed {
            uris.push((c.as_str().to_string(), c));
        }
        uris.sort_by(|a, b| a.0.cmp(&b.0));
        uris.dedup_by(|a, b| a.0 == b.0);
        for (key, uri) in uris {
            let diagnostics = now.get(&key).map(|v| v.1.clone()).unwrap_or_default();
            let params = lsp::PublishDiagnosticsParams {
                uri,
                diagnostics,
                version: None,
            };
            send(
                connection,
                Message::Notification(Notification::new(
                    lsp::notification::PublishDiagnostics::METHOD.to_string(),
                    params,
                )),
            );
        }
        self.published = now;
    }

    /// A checker diagnostic as LSP: range of the primary label, code with a link to its page,
    /// the headline and help as the message, every label as related information.
    pub fn diagnostic(&self, d: &pipec_diag::Diagnostic) -> lsp::Diagnostic {
        let span = d.span();
        let text = &self.ws.sources().get(span.file).text;
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let related: Vec<lsp::DiagnosticRelatedInformation> = d
            .labels
            .iter()
            .filter(|l| !l.message.is_empty())
            .map(|l| lsp::DiagnosticRelatedInformation {
                location: self.location(l.span),
                message: l.message.clone(),
            })
            .collect();
        lsp::Diagnostic {
            range: convert::range(text, span.start as usize, span.end as usize),
            severity: Some(match d.severity {
                Severity::Error => lsp::DiagnosticSeverity::ERROR,
                Severity::Warning => lsp::DiagnosticSeverity::WARNING,
            }),
            code: Some(lsp::NumberOrString::String(d.code.id.to_string())),
            code_description: Some(lsp::CodeDescription {
                href: uri_of(&self.docs_dir.join(format!("{}.md", d.code.id))),
            }),
            source: Some("pipec".into()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            tags: None,
            data: None,
        }
    }

    fn request(&mut self, req: Request) -> Response {
        use lsp::request as R;
        let id = req.id.clone();
        let result: Result<Value, (ErrorCode, String)> = match req.method.as_str() {
            R::HoverRequest::METHOD => params(req).map(|p| to_json(self.hover(p))),
            R::GotoDefinition::METHOD => params(req).map(|p| to_json(self.definition(p))),
            R::References::METHOD => params(req).map(|p| to_json(self.references(p))),
            R::Rename::METHOD => params(req).and_then(|p| self.rename(p).map(to_json)),
            R::Completion::METHOD => params(req).map(|p| to_json(self.completion(p))),
            R::Formatting::METHOD => params(req).and_then(|p| self.formatting(p).map(to_json)),
            R::DocumentSymbolRequest::METHOD => params(req).map(|p| to_json(self.symbols(p))),
            R::CodeActionRequest::METHOD => params(req).map(|p| to_json(self.code_actions(p))),
            _ => Err((
                ErrorCode::MethodNotFound,
                format!("pipec lsp does not implement `{}`", req.method),
            )),
        };
        match result {
            Ok(v) => Response::new_ok(id, v),
            Err((code, message)) => Response::new_err(id, code as i32, message),
        }
    }
}

fn params<P: serde::de::DeserializeOwned>(req: Request) -> Result<P, (ErrorCode, String)> {
    serde_json::from_value(req.params).map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
}

fn to_json<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("LSP types serialize")
}

/// Writes the standard library and the code pages into the cache (files already equal are
/// left alone). Failures are not fatal: definition into `std/` then points at a missing file.
fn write_cache(std_dir: &Path, docs_dir: &Path) {
    let write = |path: PathBuf, text: &str| {
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(&path, text);
        }
    };
    for (name, text) in pipec_check::stdlib::MODULES {
        write(std_dir.join(format!("{name}.pipe")), text);
    }
    for code in pipec_diag::codes::ALL {
        if let Some(page) = pipec_diag::docs_page(code.id) {
            write(docs_dir.join(format!("{}.md", code.id)), page);
        }
    }
}
