//! The requests: hover, definition, references, rename, completion, formatting, symbols and
//! code actions.

use std::collections::HashMap;

use lsp_server::ErrorCode;
use lsp_types as lsp;
use pipec_check::ir::{self, same_name};
use pipec_diag::{FileId, Span};
use pipec_syntax::ast::{self, Item, StepKind};

use crate::nav::{self, At, Db, Occ};
use crate::{convert, functions, Server};

type Failure = (ErrorCode, String);

impl Server {
    /// The file and byte offset of a document position.
    fn at(&self, doc: &lsp::TextDocumentPositionParams) -> Option<(FileId, usize)> {
        let file = self.file_of(&doc.text_document.uri)?;
        let text = &self.ws.sources().get(file).text;
        Some((file, convert::offset(text, doc.position)))
    }

    fn text(&self, span: Span) -> &str {
        &self.ws.sources().get(span.file).text[span.start as usize..span.end as usize]
    }

    fn range(&self, span: Span) -> lsp::Range {
        let text = &self.ws.sources().get(span.file).text;
        convert::range(text, span.start as usize, span.end as usize)
    }

    pub(crate) fn hover(&self, p: lsp::HoverParams) -> Option<lsp::Hover> {
        let (file, offset) = self.at(&p.text_document_position_params)?;
        let roots = self.ws.roots();
        let db = Db {
            ws: &self.ws,
            roots: &roots,
        };
        let o = nav::occurrence_at(&db, file, offset)?;
        let name = self.text(o.span).trim_matches('`').to_string();
        let value = match &o.occ {
            Occ::RelationDecl(n) | Occ::RelationRef(n) => relation_hover(&db, file, n)?,
            Occ::ColumnRef { at, right } => {
                let at = match right {
                    Some(r) => At {
                        relation: r.clone(),
                        step: usize::MAX,
                        within: None,
                        ..at.clone()
                    },
                    None => at.clone(),
                };
                column_hover(&db, &at, &name, false)?
            }
            Occ::ColumnDecl { at } => column_hover(&db, at, &name, true)?,
            Occ::Function(n) => {
                let d = functions::doc(n)?;
                let kind = match d.kind {
                    ir::FnKind::Scalar => "scalar function",
                    ir::FnKind::Aggregate => "aggregate function",
                    ir::FnKind::Window => "window function",
                };
                format!(
                    "```pipe\n{}\n```\n{kind}: {}",
                    d.signatures.join("\n"),
                    d.result
                )
            }
            Occ::DefineDecl => {
                let (f, d) = nav::define(&db, file, &name)?;
                self.define_hover(f, d)
            }
            Occ::DefineRef(n) => {
                let (f, d) = nav::define(&db, file, n)?;
                self.define_hover(f, d)
            }
            Occ::Import(f) => format!("module `{}`", self.ws.sources().get((*f)?).name),
            Occ::SourceKind(kind) => {
                let opts = pipec_check::vocab::source_options(kind);
                let mut s = format!("source kind `{kind}`");
                if !opts.is_empty() {
                    s.push_str("\n\noptions:\n");
                    for (name, example) in opts {
                        s.push_str(&format!("- `{name}`: `{example}`\n"));
                    }
                }
                s
            }
        };
        Some(lsp::Hover {
            contents: lsp::HoverContents::Markup(lsp::MarkupContent {
                kind: lsp::MarkupKind::Markdown,
                value,
            }),
            range: Some(self.range(o.span)),
        })
    }

    fn define_hover(&self, file: FileId, d: &ast::DefineDecl) -> String {
        let text = &self.ws.sources().get(file).text;
        let params: Vec<String> = d
            .params
            .iter()
            .map(|p| format!("{}: {}", p.name.name, type_text(&p.ty)))
            .collect();
        let check = if matches!(d.body, ast::DefineBody::Check(_)) {
            "check "
        } else {
            ""
        };
        let mut out = format!(
            "```pipe\ndefine {check}{}({})\n```",
            d.name.name,
            params.join(", ")
        );
        let doc = leading_comments(text, d.span.start as usize);
        if !doc.is_empty() {
            out.push_str("\n\n");
            out.push_str(&doc);
        }
        out.push_str(&format!("\n\nfrom `{}`", self.ws.sources().get(file).name));
        out
    }

    pub(crate) fn definition(
        &self,
        p: lsp::GotoDefinitionParams,
    ) -> Option<lsp::GotoDefinitionResponse> {
        let (file, offset) = self.at(&p.text_document_position_params)?;
        let roots = self.ws.roots();
        let db = Db {
            ws: &self.ws,
            roots: &roots,
        };
        let o = nav::occurrence_at(&db, file, offset)?;
        let span = match &o.occ {
            Occ::RelationDecl(n) | Occ::RelationRef(n) => {
                let module = db.module(file)?;
                nav::relations(module).find(|r| r.name == *n)?.span
            }
            Occ::ColumnRef { at, right } => {
                let name = self.text(o.span).trim_matches('`').to_string();
                nav::column_origin(&db, at, right.as_deref(), &name)?
            }
            Occ::ColumnDecl { .. } | Occ::DefineDecl => o.span,
            Occ::DefineRef(n) => nav::define(&db, file, n)?.1.name.span,
            Occ::Import(f) => Span::new((*f)?, 0, 0),
            Occ::Function(_) | Occ::SourceKind(_) => return None,
        };
        Some(lsp::GotoDefinitionResponse::Scalar(self.location(span)))
    }

    pub(crate) fn references(&self, p: lsp::ReferenceParams) -> Option<Vec<lsp::Location>> {
        let (file, offset) = self.at(&p.text_document_position)?;
        let spans = self.occurrences_of(file, offset, p.context.include_declaration)?;
        Some(spans.into_iter().map(|s| self.location(s)).collect())
    }

    /// Every occurrence of the relation, column or define at `offset` of `file`.
    fn occurrences_of(&self, file: FileId, offset: usize, declaration: bool) -> Option<Vec<Span>> {
        let roots = self.ws.roots();
        let db = Db {
            ws: &self.ws,
            roots: &roots,
        };
        let o = nav::occurrence_at(&db, file, offset)?;
        let name = self.text(o.span).trim_matches('`').to_string();
        let mut spans = match &o.occ {
            Occ::RelationDecl(n) | Occ::RelationRef(n) => {
                let decl = nav::relations(db.module(file)?)
                    .find(|r| r.name == *n)?
                    .span;
                nav::relation_occurrences(&db, file, n)
                    .into_iter()
                    .filter(|s| declaration || *s != decl)
                    .collect()
            }
            Occ::ColumnRef { at, right } => {
                let origin = nav::column_origin(&db, at, right.as_deref(), &name)?;
                column_spans(&db, origin, declaration)
            }
            Occ::ColumnDecl { .. } => column_spans(&db, o.span, declaration),
            Occ::DefineDecl | Occ::DefineRef(_) => {
                let target = match &o.occ {
                    Occ::DefineRef(n) => nav::define(&db, file, n)?,
                    _ => nav::define(&db, file, &name)?,
                };
                let mut out = Vec::new();
                if declaration {
                    out.push(target.1.name.span);
                }
                for &f in &roots {
                    for occ in nav::occurrences(&db, f) {
                        if let Occ::DefineRef(n) = &occ.occ {
                            if nav::define(&db, f, n).map(|(f, d)| (f, d.name.span))
                                == Some((target.0, target.1.name.span))
                            {
                                out.push(occ.span);
                            }
                        }
                    }
                }
                out
            }
            _ => return None,
        };
        spans.sort();
        spans.dedup();
        Some(spans)
    }

    // `WorkspaceEdit` keys its edits by `Uri`, whose cell is a parse cache: hashing is by text.
    #[allow(clippy::mutable_key_type)]
    pub(crate) fn rename(
        &self,
        p: lsp::RenameParams,
    ) -> Result<Option<lsp::WorkspaceEdit>, Failure> {
        let fail = |m: String| (ErrorCode::RequestFailed, m);
        let Some((file, offset)) = self.at(&p.text_document_position) else {
            return Ok(None);
        };
        let new = p.new_name.as_str();
        if !valid_name(new) {
            return Err(fail(format!(
                "`{new}` is not a valid name: use letters, digits and `_`, not starting with a digit, and not a reserved word"
            )));
        }
        let roots = self.ws.roots();
        let db = Db {
            ws: &self.ws,
            roots: &roots,
        };
        let Some(o) = nav::occurrence_at(&db, file, offset) else {
            return Err(fail("nothing to rename here".into()));
        };
        let old = self.text(o.span).trim_matches('`').to_string();
        let mut edits: Vec<(Span, String)> = Vec::new();
        match &o.occ {
            Occ::RelationDecl(n) | Occ::RelationRef(n) => {
                let module = db
                    .module(file)
                    .ok_or_else(|| fail("file not parsed".into()))?;
                if !nav::relations(module).any(|r| r.name == *n) {
                    return Err(fail(format!("`{n}` is not declared in this file")));
                }
                if let Some(other) =
                    nav::relations(module).find(|r| same_name(&r.name, new) && r.name != *n)
                {
                    return Err(fail(format!(
                        "`{}` already names a relation of this file",
                        other.name
                    )));
                }
                for s in nav::relation_occurrences(&db, file, n) {
                    edits.push((s, new.to_string()));
                }
                edits.extend(sql_placeholders(&db, file, n, new));
            }
            Occ::ColumnRef { .. } | Occ::ColumnDecl { .. } => {
                let origin = match &o.occ {
                    Occ::ColumnRef { at, right } => {
                        nav::column_origin(&db, at, right.as_deref(), &old)
                            .ok_or_else(|| fail(format!("cannot tell where `{old}` comes from")))?
                    }
                    _ => o.span,
                };
                if self.ws.path(origin.file).is_none() {
                    return Err(fail(format!(
                        "`{old}` is introduced by the standard library, which cannot be edited"
                    )));
                }
                let occ = nav::column_occurrences(&db, origin);
                for (_, at) in &occ {
                    if let Some(schema) = nav::schema_at(&db, at) {
                        if let Some(c) = schema
                            .columns
                            .iter()
                            .find(|c| same_name(&c.name, new) && !same_name(&c.name, &old))
                        {
                            return Err(fail(format!(
                                "`{}` is already a column of `{}` there",
                                c.name, at.relation
                            )));
                        }
                    }
                }
                for (s, _) in occ {
                    edits.push((s, new.to_string()));
                }
                if !edits.iter().any(|(s, _)| *s == origin)
                    && self.text(origin).trim_matches('`') == old
                {
                    edits.push((origin, new.to_string()));
                }
            }
            _ => return Err(fail("only relations and columns can be renamed".into())),
        }
        let mut changes: HashMap<lsp::Uri, Vec<lsp::TextEdit>> = HashMap::new();
        edits.sort();
        edits.dedup();
        for (span, text) in edits {
            changes
                .entry(self.uri(span.file))
                .or_default()
                .push(lsp::TextEdit {
                    range: self.range(span),
                    new_text: text,
                });
        }
        Ok(Some(lsp::WorkspaceEdit {
            changes: Some(changes),
            ..Default::default()
        }))
    }

    pub(crate) fn completion(&self, p: lsp::CompletionParams) -> Option<lsp::CompletionResponse> {
        let (file, offset) = self.at(&p.text_document_position)?;
        let text = &self.ws.sources().get(file).text;
        let roots = self.ws.roots();
        let db = Db {
            ws: &self.ws,
            roots: &roots,
        };
        let before = &text[..offset];
        let word_start = before
            .trim_end_matches(|c: char| c.is_alphanumeric() || c == '_')
            .len();
        let lead = before[..word_start].trim_end();
        let item_start = item_start(text, word_start);
        let decl = &text[item_start..word_start];
        let first_word = decl.split_whitespace().next().unwrap_or("");
        let mut items: Vec<lsp::CompletionItem> = Vec::new();
        let relations = |items: &mut Vec<lsp::CompletionItem>| {
            if let Some(m) = db.module(file) {
                for r in nav::relations(m) {
                    let detail = nav::pipeline(&db, file)
                        .and_then(|p| p.relation(&r.name))
                        .map(|rel| rel.schema.to_string());
                    items.push(completion_item(
                        &r.name,
                        lsp::CompletionItemKind::CLASS,
                        detail,
                        None,
                    ));
                }
            }
        };
        if let Some((kind, _)) = open_call(decl) {
            if first_word == "source" && pipec_check::vocab::SOURCE_KINDS.contains(&kind) {
                for (name, example) in pipec_check::vocab::source_options(kind) {
                    items.push(completion_item(
                        name,
                        lsp::CompletionItemKind::PROPERTY,
                        Some(example.to_string()),
                        Some(format!("{name} = ")),
                    ));
                }
                return Some(lsp::CompletionResponse::Array(items));
            }
        }
        if first_word == "source" && lead.ends_with('=') {
            for kind in pipec_check::vocab::SOURCE_KINDS {
                let opts: Vec<String> = pipec_check::vocab::source_options(kind)
                    .iter()
                    .map(|(n, _)| n.to_string())
                    .collect();
                let detail = (!opts.is_empty()).then(|| format!("options: {}", opts.join(", ")));
                items.push(completion_item(
                    kind,
                    lsp::CompletionItemKind::CONSTRUCTOR,
                    detail,
                    None,
                ));
            }
            return Some(lsp::CompletionResponse::Array(items));
        }
        if lead.ends_with('|') {
            for k in pipec_syntax::STEP_KEYWORDS {
                items.push(completion_item(
                    k,
                    lsp::CompletionItemKind::KEYWORD,
                    None,
                    None,
                ));
            }
            for (name, (f, d)) in defines_in_scope(&db, file) {
                let params: Vec<String> = d
                    .params
                    .iter()
                    .skip(1)
                    .map(|p| format!("{}: {}", p.name.name, type_text(&p.ty)))
                    .collect();
                let detail = format!("define from {}", self.ws.sources().get(f).name);
                items.push(completion_item(
                    &name,
                    lsp::CompletionItemKind::FUNCTION,
                    Some(format!("{name}({})  {detail}", params.join(", "))),
                    None,
                ));
            }
            return Some(lsp::CompletionResponse::Array(items));
        }
        let last_word = lead
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("");
        let wants_relation = matches!(
            last_word,
            "join" | "union" | "for" | "given" | "left" | "right" | "full" | "inner"
        ) || (matches!(first_word, "sink" | "check")
            && decl.split_whitespace().count() == 1)
            || (first_word == "transform" && lead.ends_with('='));
        if wants_relation {
            relations(&mut items);
            return Some(lsp::CompletionResponse::Array(items));
        }
        let columns: Option<ir::Schema> = match first_word {
            "transform" => {
                let rel = decl.split_whitespace().nth(1).unwrap_or("");
                let pipes = top_level_pipes(decl);
                let step = pipes.saturating_sub(1);
                let at = At {
                    file,
                    relation: rel.to_string(),
                    step,
                    within: None,
                };
                nav::schema_at(&db, &at)
                    .filter(|_| pipes > 0 && step_count(&db, file, rel) > step)
                    .or_else(|| {
                        let known = self.last_good.get(&file)?;
                        let head = decl.split_once('=')?.1.split_whitespace().next()?;
                        known.get(rel).or_else(|| known.get(head)).cloned()
                    })
            }
            "check" | "sink" => {
                let rel = decl.split_whitespace().nth(1).unwrap_or("");
                nav::pipeline(&db, file)
                    .and_then(|p| p.relation(rel))
                    .map(|r| r.schema.clone())
                    .or_else(|| self.last_good.get(&file)?.get(rel).cloned())
            }
            _ => None,
        };
        let Some(schema) = columns else {
            for k in pipec_syntax::ITEM_KEYWORDS {
                items.push(completion_item(
                    k,
                    lsp::CompletionItemKind::KEYWORD,
                    None,
                    None,
                ));
            }
            return Some(lsp::CompletionResponse::Array(items));
        };
        for c in &schema.columns {
            let detail = format!("{}{}", c.ty, if c.nullable { "?" } else { "" });
            items.push(completion_item(
                &c.name,
                lsp::CompletionItemKind::FIELD,
                Some(detail),
                None,
            ));
        }
        for b in ir::Builtin::ALL {
            if let Some(d) = functions::doc(b.name()) {
                let mut it = completion_item(
                    b.name(),
                    lsp::CompletionItemKind::FUNCTION,
                    Some(d.signatures.join(" | ")),
                    None,
                );
                it.documentation = Some(lsp::Documentation::String(d.result));
                items.push(it);
            }
        }
        Some(lsp::CompletionResponse::Array(items))
    }

    pub(crate) fn formatting(
        &self,
        p: lsp::DocumentFormattingParams,
    ) -> Result<Option<Vec<lsp::TextEdit>>, Failure> {
        let Some(file) = self.file_of(&p.text_document.uri) else {
            return Ok(None);
        };
        let text = &self.ws.sources().get(file).text;
        match format_text(file, text) {
            Ok(formatted) if formatted == *text => Ok(Some(Vec::new())),
            Ok(formatted) => Ok(Some(vec![lsp::TextEdit {
                range: convert::range(text, 0, text.len()),
                new_text: formatted,
            }])),
            Err(message) => Err((ErrorCode::RequestFailed, message)),
        }
    }

    pub(crate) fn symbols(
        &self,
        p: lsp::DocumentSymbolParams,
    ) -> Option<lsp::DocumentSymbolResponse> {
        let file = self.file_of(&p.text_document.uri)?;
        let module = self.ws.module(file)?;
        let mut out = Vec::new();
        for it in &module.items {
            use lsp::SymbolKind as K;
            let (name, detail, kind, span, sel, children) = match it {
                Item::Import(i) => (
                    self.text(i.span)
                        .trim_start_matches("import")
                        .trim()
                        .to_string(),
                    "import".to_string(),
                    K::MODULE,
                    i.span,
                    i.span,
                    Vec::new(),
                ),
                Item::Pipeline(p) => (
                    p.name.name.clone(),
                    "pipeline".into(),
                    K::NAMESPACE,
                    p.span,
                    p.name.span,
                    Vec::new(),
                ),
                Item::Source(s) => {
                    let fields = s
                        .schema
                        .iter()
                        .flatten()
                        .map(|f| {
                            self.symbol(
                                &f.name.name,
                                type_text(&f.ty),
                                K::FIELD,
                                f.name.span.to(f.ty.span),
                                f.name.span,
                                Vec::new(),
                            )
                        })
                        .collect();
                    (
                        s.name.name.clone(),
                        format!("source {}", s.origin.name.dotted()),
                        K::CLASS,
                        s.span,
                        s.name.span,
                        fields,
                    )
                }
                Item::Transform(t) => (
                    t.name.name.clone(),
                    "transform".into(),
                    K::FUNCTION,
                    t.span,
                    t.name.span,
                    Vec::new(),
                ),
                Item::Sink(s) => (
                    s.relation.dotted(),
                    format!(
                        "sink -> {}",
                        match &s.target {
                            ast::SinkTarget::Table(q) => q.dotted(),
                            ast::SinkTarget::Call(c) => self.text(c.span).to_string(),
                        }
                    ),
                    K::EVENT,
                    s.span,
                    s.relation.span,
                    Vec::new(),
                ),
                Item::Check(c) => (
                    c.relation.dotted(),
                    format!("check ({} rules)", c.rules.len()),
                    K::PROPERTY,
                    c.span,
                    c.relation.span,
                    Vec::new(),
                ),
                Item::Test(t) => (
                    t.name.name.clone(),
                    format!("test for {}", t.relation.dotted()),
                    K::METHOD,
                    t.span,
                    t.name.span,
                    Vec::new(),
                ),
                Item::Define(d) => (
                    d.name.name.clone(),
                    "define".into(),
                    K::INTERFACE,
                    d.span,
                    d.name.span,
                    Vec::new(),
                ),
            };
            out.push(self.symbol(&name, detail, kind, span, sel, children));
        }
        Some(lsp::DocumentSymbolResponse::Nested(out))
    }

    #[allow(deprecated)]
    fn symbol(
        &self,
        name: &str,
        detail: String,
        kind: lsp::SymbolKind,
        span: Span,
        selection: Span,
        children: Vec<lsp::DocumentSymbol>,
    ) -> lsp::DocumentSymbol {
        lsp::DocumentSymbol {
            name: name.to_string(),
            detail: Some(detail),
            kind,
            tags: None,
            deprecated: None,
            range: self.range(span),
            selection_range: self.range(selection),
            children: (!children.is_empty()).then_some(children),
        }
    }

    pub(crate) fn code_actions(&self, p: lsp::CodeActionParams) -> Option<lsp::CodeActionResponse> {
        let file = self.file_of(&p.text_document.uri)?;
        let text = &self.ws.sources().get(file).text;
        let want = (
            convert::offset(text, p.range.start),
            convert::offset(text, p.range.end),
        );
        let mut out = Vec::new();
        for d in self.ws.diagnostics(file) {
            let span = d.span();
            if (span.end as usize) < want.0 || (span.start as usize) > want.1 {
                continue;
            }
            // The checker's machine-applicable fixes (SQL habits and the like), applied together.
            if !d.fixes.is_empty() {
                let edits = d
                    .fixes
                    .iter()
                    .map(|f| lsp::TextEdit {
                        range: self.range(f.span),
                        new_text: f.replacement.clone(),
                    })
                    .collect();
                let title = match d.help.as_deref() {
                    Some(help) => format!("Fix: {help}"),
                    None => format!("Fix: {}", d.message),
                };
                out.push(lsp::CodeActionOrCommand::CodeAction(lsp::CodeAction {
                    title,
                    kind: Some(lsp::CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![self.diagnostic(d)]),
                    edit: Some(lsp::WorkspaceEdit {
                        changes: Some(HashMap::from([(p.text_document.uri.clone(), edits)])),
                        ..Default::default()
                    }),
                    is_preferred: Some(true),
                    ..Default::default()
                }));
                continue;
            }
            let Some(suggestion) = d
                .help
                .as_deref()
                .and_then(|h| h.strip_prefix("did you mean `"))
                .and_then(|h| h.strip_suffix("`?"))
            else {
                continue;
            };
            let edit = lsp::TextEdit {
                range: self.range(span),
                new_text: suggestion.to_string(),
            };
            out.push(lsp::CodeActionOrCommand::CodeAction(lsp::CodeAction {
                title: format!("Replace `{}` with `{suggestion}`", self.text(span)),
                kind: Some(lsp::CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![self.diagnostic(d)]),
                edit: Some(lsp::WorkspaceEdit {
                    changes: Some(HashMap::from([(p.text_document.uri.clone(), vec![edit])])),
                    ..Default::default()
                }),
                is_preferred: Some(true),
                ..Default::default()
            }));
        }
        Some(out)
    }
}

fn completion_item(
    label: &str,
    kind: lsp::CompletionItemKind,
    detail: Option<String>,
    insert: Option<String>,
) -> lsp::CompletionItem {
    lsp::CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail,
        insert_text: insert,
        ..Default::default()
    }
}

/// Occurrences of the column introduced at `origin`, without it unless `declaration`.
fn column_spans(db: &Db<'_>, origin: Span, declaration: bool) -> Vec<Span> {
    let mut spans: Vec<Span> = nav::column_occurrences(db, origin)
        .into_iter()
        .map(|(s, _)| s)
        .filter(|s| declaration || *s != origin)
        .collect();
    if declaration && !spans.contains(&origin) {
        spans.push(origin);
    }
    spans
}

fn relation_hover(db: &Db<'_>, file: FileId, name: &str) -> Option<String> {
    let module = db.module(file)?;
    let kind = match nav::relation_item(module, name)? {
        Item::Source(s) => format!("source `{name}` = {}(…)", s.origin.name.dotted()),
        _ => format!("transform `{name}`"),
    };
    let Some(rel) = nav::pipeline(db, file).and_then(|p| p.relation(name)) else {
        return Some(format!("{kind}\n\n(not checked: see its errors)"));
    };
    let mut s = format!(
        "{kind}: {} column{}\n\n| column | type | null |\n|---|---|---|\n",
        rel.schema.columns.len(),
        if rel.schema.columns.len() == 1 {
            ""
        } else {
            "s"
        }
    );
    for c in &rel.schema.columns {
        s.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            c.name,
            c.ty,
            if c.nullable { "nullable" } else { "not null" }
        ));
    }
    Some(s)
}

fn column_hover(db: &Db<'_>, at: &At, name: &str, introduced: bool) -> Option<String> {
    let schema = nav::schema_at(db, at)?;
    let c = schema.get(name)?;
    let module = db.module(at.file)?;
    let where_ = match nav::relation_item(module, &at.relation) {
        Some(Item::Transform(t)) if at.step > 0 && at.step <= t.body.steps.len() && introduced => {
            format!(
                "introduced by step {} (`{}`) of `{}`",
                at.step,
                step_name(&t.body.steps[at.step - 1].kind),
                at.relation
            )
        }
        Some(Item::Transform(t)) if at.step < t.body.steps.len() => format!(
            "at step {} (`{}`) of `{}`",
            at.step + 1,
            step_name(&t.body.steps[at.step].kind),
            at.relation
        ),
        _ => format!("in `{}`", at.relation),
    };
    Some(format!(
        "```pipe\n{}: {}{}\n```\n{} {where_}",
        c.name,
        c.ty,
        if c.nullable { "?" } else { "" },
        if c.nullable { "nullable" } else { "not null" },
    ))
}

fn step_name(k: &StepKind) -> &'static str {
    match k {
        StepKind::Filter(_) => "filter",
        StepKind::Derive(_) => "derive",
        StepKind::Select(_) => "select",
        StepKind::SelectExcept(_) => "select except",
        StepKind::Join { .. } => "join",
        StepKind::Group { .. } => "group",
        StepKind::Aggregate(_) => "aggregate",
        StepKind::Sort(_) => "sort",
        StepKind::Take(_) => "take",
        StepKind::Distinct => "distinct",
        StepKind::Union(_) => "union",
        StepKind::Window { .. } => "window",
        StepKind::Apply(_) => "apply",
    }
}

fn type_text(t: &ast::TypeExpr) -> String {
    let params = if t.params.is_empty() {
        String::new()
    } else {
        let p: Vec<String> = t.params.iter().map(u32::to_string).collect();
        format!("({})", p.join(", "))
    };
    format!(
        "{}{params}{}",
        t.name.name,
        if t.nullable { "?" } else { "" }
    )
}

/// The comment lines (`#` or `//`) right above byte `start`, without their markers.
fn leading_comments(text: &str, start: usize) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for line in text[..start].lines().rev() {
        let t = line.trim();
        let body = t
            .strip_prefix("//")
            .or_else(|| t.strip_prefix('#'))
            .map(str::trim);
        match body {
            Some(b) => lines.push(b),
            None => break,
        }
    }
    lines.reverse();
    lines.join("\n")
}

/// Valid as a plain name: an ASCII identifier that is not a reserved word.
fn valid_name(name: &str) -> bool {
    const RESERVED: &[&str] = &[
        "and", "or", "not", "null", "true", "false", "case", "when", "then", "else", "is", "in",
    ];
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&name)
}

/// `{old}` placeholders in the `sql` heads of `file`, renamed.
fn sql_placeholders(db: &Db<'_>, file: FileId, old: &str, new: &str) -> Vec<(Span, String)> {
    let Some(module) = db.module(file) else {
        return Vec::new();
    };
    let text = &db.sources().get(file).text;
    let mut out = Vec::new();
    for it in &module.items {
        let Item::Transform(t) = it else { continue };
        let ast::RelHead::Sql { sql, .. } = &t.body.head else {
            continue;
        };
        let raw = &text[sql.span.start as usize..sql.span.end as usize];
        let needle = format!("{{{old}}}");
        for (i, _) in raw.match_indices(&needle) {
            let start = sql.span.start as usize + i + 1;
            out.push((Span::new(file, start, start + old.len()), new.to_string()));
        }
    }
    out
}

/// Defines visible from `file` by the names a step applies them with.
fn defines_in_scope<'a>(db: &Db<'a>, file: FileId) -> Vec<(String, (FileId, &'a ast::DefineDecl))> {
    let Some(module) = db.module(file) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let own = |f: FileId| -> Vec<&'a ast::DefineDecl> {
        db.module(f)
            .map(|m| {
                m.items
                    .iter()
                    .filter_map(|i| match i {
                        Item::Define(d) if matches!(d.body, ast::DefineBody::Relation(_)) => {
                            Some(d)
                        }
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    for d in own(file) {
        out.push((d.name.name.clone(), (file, d)));
    }
    for (ns, f) in nav::imports(db.sources(), file, module) {
        for d in own(f) {
            out.push((format!("{ns}.{}", d.name.name), (f, d)));
        }
    }
    out
}

/// The start of the top-level item holding byte `offset`: the last line before it that starts
/// (in column 0) with an item keyword.
fn item_start(text: &str, offset: usize) -> usize {
    let mut start = 0;
    let mut line_start = 0;
    for line in text[..offset].split_inclusive('\n') {
        let first = line.split_whitespace().next().unwrap_or("");
        if !line.starts_with([' ', '\t']) && pipec_syntax::ITEM_KEYWORDS.contains(&first) {
            start = line_start;
        }
        line_start += line.len();
    }
    start
}

/// The kind and start of a call whose `(` is still open at the end of `item`.
fn open_call(item: &str) -> Option<(&str, usize)> {
    let mut depth = 0i32;
    let mut in_str = false;
    for (i, c) in item.char_indices().rev() {
        match c {
            '"' => in_str = !in_str,
            ')' if !in_str => depth += 1,
            '(' if !in_str => {
                if depth == 0 {
                    let before = item[..i].trim_end();
                    let start = before
                        .trim_end_matches(|c: char| c.is_alphanumeric() || c == '_')
                        .len();
                    return Some((&before[start..], start));
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    None
}

/// `|` outside strings and brackets in `item`.
fn top_level_pipes(item: &str) -> usize {
    let mut depth = 0i32;
    let mut in_str = false;
    let mut n = 0;
    for c in item.chars() {
        match c {
            '"' => in_str = !in_str,
            '(' | '[' | '{' if !in_str => depth += 1,
            ')' | ']' | '}' if !in_str => depth -= 1,
            '|' if !in_str && depth == 0 => n += 1,
            _ => {}
        }
    }
    n
}

fn step_count(db: &Db<'_>, file: FileId, rel: &str) -> usize {
    match db.module(file).and_then(|m| nav::relation_item(m, rel)) {
        Some(Item::Transform(t)) => t.body.steps.len(),
        _ => 0,
    }
}

/// The canonical layout of `text` (`pipec fmt`); refused while the file has syntax errors.
fn format_text(file: FileId, text: &str) -> Result<String, String> {
    pipec_fmt::format(file, text).map_err(|diags| {
        let first = diags
            .first()
            .map_or(String::new(), |d| format!(": {}", d.message));
        format!(
            "cannot format a file with {} syntax error{}{first}",
            diags.len(),
            if diags.len() == 1 { "" } else { "s" }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_calls_and_steps_seen_in_half_typed_text() {
        assert!(valid_name("rides_n") && valid_name("_x") && valid_name("start"));
        assert!(!valid_name("2n") && !valid_name("a-b") && !valid_name("null") && !valid_name(""));
        assert_eq!(
            open_call("source s = csv(\"a(b.csv\", header = true, "),
            Some(("csv", 11))
        );
        assert_eq!(open_call("source s = csv(\"a.csv\") { id: int }"), None);
        assert_eq!(
            top_level_pipes("transform t = s | filter a | derive b = f(x | y)"),
            2
        );
        assert_eq!(
            top_level_pipes("transform t = sql \"\"\"a | b\"\"\" { x: int } |"),
            1
        );
        let text = "pipeline p { schedule daily }\n\ntransform t = s\n  | filter x\n";
        assert_eq!(
            item_start(text, text.len()),
            text.find("transform").unwrap()
        );
        let text = "x\n# one\n// two\ndefine d";
        assert_eq!(
            leading_comments(text, text.find("define").unwrap()),
            "one\ntwo"
        );
    }
}
