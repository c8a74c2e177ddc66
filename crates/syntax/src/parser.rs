//! pest parse tree → [`ast`](crate::ast). `Pair<Rule>` never leaves this module.

use pest::iterators::Pair;
use pest::Parser as _;
use pipec_diag::{codes, Diagnostic, FileId, Span};

use crate::ast::*;
use crate::errors;

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/pipe.pest"]
pub(crate) struct PipeParser;

/// Deepest bracket nesting accepted; deeper input gets `E0003` instead of exhausting the stack.
pub const MAX_NESTING: usize = 100;

/// The result of parsing one file.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Everything that parsed.
    pub module: Module,
    /// Syntax diagnostics, in source order.
    pub diagnostics: Vec<Diagnostic>,
    /// Names declared by items that failed to parse, so later stages do not report them as unknown.
    pub broken_names: Vec<String>,
    /// The header of a `pipeline` block that failed to parse (its name and the name's span), so
    /// the rest of the file can still be checked as that pipeline.
    pub broken_pipeline: Option<Ident>,
    /// The span of every parenthesised expression (without its parentheses), once per pair of
    /// parentheses: the AST drops them, and the formatter keeps them as written.
    pub parens: Vec<Span>,
}

/// Parses one file. Never panics; reports every broken top-level item.
pub fn parse(file: FileId, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    if let Some(d) = errors::check_nesting(file, text) {
        parsed.diagnostics.push(d);
        return parsed;
    }
    match PipeParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let mut b = Builder {
                file,
                base: 0,
                diags: Vec::new(),
                parens: Vec::new(),
            };
            parsed.module = b.file(pairs.next().expect("file rule"));
            parsed.diagnostics = b.diags;
            parsed.parens = b.parens;
        }
        Err(_) => recover(file, text, &mut parsed),
    }
    pipec_diag::sort(&mut parsed.diagnostics);
    parsed
}

/// Serialises detailed parses: pest's error-detail switch is process-global, and a file parsed
/// on another thread must not turn it off under a detailed parse (its diagnostics would then
/// depend on timing). Plain parses ignore the switch's value except for speed.
static DETAIL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Parses `chunk` collecting error details (the tokens tried at the failure). They cost time, so
/// only broken files pay.
fn parse_detailed(
    chunk: &str,
) -> Result<pest::iterators::Pairs<'_, Rule>, pest::error::Error<Rule>> {
    let _alone = DETAIL.lock().unwrap_or_else(|e| e.into_inner());
    pest::set_error_detail(true);
    let result = PipeParser::parse(Rule::file, chunk);
    pest::set_error_detail(false);
    result
}

/// Splits the text at top-level keywords that start a line and parses each chunk on its own,
/// so that one broken item does not hide the errors of the others.
fn recover(file: FileId, text: &str, parsed: &mut Parsed) {
    let mut starts = vec![0];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if offset > 0 && errors::starts_item(line) {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts.push(text.len());
    for w in starts.windows(2) {
        let chunk = &text[w[0]..w[1]];
        match parse_detailed(chunk) {
            Ok(mut pairs) => {
                let mut b = Builder {
                    file,
                    base: w[0],
                    diags: Vec::new(),
                    parens: Vec::new(),
                };
                let m = b.file(pairs.next().expect("file rule"));
                parsed.module.items.extend(m.items);
                parsed.diagnostics.extend(b.diags);
                parsed.parens.extend(b.parens);
            }
            Err(e) => {
                parsed
                    .diagnostics
                    .push(errors::from_pest(file, text, w[0], chunk, &e));
                if let Some(name) = errors::declared_name(chunk) {
                    if chunk.starts_with("pipeline") && parsed.broken_pipeline.is_none() {
                        let at = w[0] + chunk.find(name.as_str()).unwrap_or(0);
                        let span = Span::new(file, at, at + name.len());
                        parsed.broken_pipeline = Some(Ident {
                            name: name.clone(),
                            span,
                        });
                    }
                    parsed.broken_names.push(name);
                }
            }
        }
    }
}

fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_after
            | Rule::kw_aggregate
            | Rule::kw_alert
            | Rule::kw_and
            | Rule::kw_archive
            | Rule::kw_as
            | Rule::kw_asc
            | Rule::kw_at
            | Rule::kw_backoff
            | Rule::kw_by
            | Rule::kw_case
            | Rule::kw_catchup
            | Rule::kw_check
            | Rule::kw_continuous
            | Rule::kw_cron
            | Rule::kw_daily
            | Rule::kw_defaults
            | Rule::kw_define
            | Rule::kw_derive
            | Rule::kw_desc
            | Rule::kw_description
            | Rule::kw_distinct
            | Rule::kw_ds
            | Rule::kw_else
            | Rule::kw_end
            | Rule::kw_every
            | Rule::kw_expire
            | Rule::kw_except
            | Rule::kw_expect
            | Rule::kw_file
            | Rule::kw_filter
            | Rule::kw_for
            | Rule::kw_full
            | Rule::kw_given
            | Rule::kw_group
            | Rule::kw_hourly
            | Rule::kw_import
            | Rule::kw_in
            | Rule::kw_incremental
            | Rule::kw_inner
            | Rule::kw_is
            | Rule::kw_join
            | Rule::kw_left
            | Rule::kw_merge
            | Rule::kw_mode
            | Rule::kw_not
            | Rule::kw_null
            | Rule::kw_on
            | Rule::kw_or
            | Rule::kw_order
            | Rule::kw_owner
            | Rule::kw_partition
            | Rule::kw_pipeline
            | Rule::kw_retries
            | Rule::kw_right
            | Rule::kw_schedule
            | Rule::kw_select
            | Rule::kw_sink
            | Rule::kw_sort
            | Rule::kw_source
            | Rule::kw_sql
            | Rule::kw_start
            | Rule::kw_tags
            | Rule::kw_take
            | Rule::kw_test
            | Rule::kw_then
            | Rule::kw_timeout
            | Rule::kw_to
            | Rule::kw_transform
            | Rule::kw_union
            | Rule::kw_using
            | Rule::kw_when
            | Rule::kw_window
    )
}

type P<'i> = Pair<'i, Rule>;

/// The binary operator spelled `text` (an `infix` token) and its precedence (higher binds
/// tighter), following PostgreSQL.
pub(crate) fn binary_op(text: &str) -> Option<(BinaryOp, u8)> {
    Some(match text {
        "or" => (BinaryOp::Or, 1),
        "and" => (BinaryOp::And, 2),
        "==" => (BinaryOp::Eq, 5),
        "!=" => (BinaryOp::Ne, 5),
        "<=" => (BinaryOp::Le, 5),
        ">=" => (BinaryOp::Ge, 5),
        "<" => (BinaryOp::Lt, 5),
        ">" => (BinaryOp::Gt, 5),
        "??" => (BinaryOp::Coalesce, 7),
        "+" => (BinaryOp::Add, 8),
        "-" => (BinaryOp::Sub, 8),
        "++" => (BinaryOp::Concat, 8),
        "*" => (BinaryOp::Mul, 9),
        "/" => (BinaryOp::Div, 9),
        "%" => (BinaryOp::Rem, 9),
        _ => return None,
    })
}

/// Operands of an expression with the depth of each tree; trees deeper than [`MAX_NESTING`]
/// are replaced by a placeholder (and reported), so later stages never recurse too deep.
#[derive(Default)]
struct Operands {
    items: Vec<(Expr, usize)>,
    too_deep: Option<Span>,
}

impl Operands {
    fn push(&mut self, e: Expr, depth: usize) {
        if depth > MAX_NESTING {
            let span = e.span;
            self.too_deep.get_or_insert(span);
            // Dismantle the deep tree iteratively so dropping it cannot overflow the stack.
            let mut stack = vec![e];
            while let Some(mut x) = stack.pop() {
                match &mut x.kind {
                    ExprKind::Binary(_, a, b) => {
                        let null = || {
                            Box::new(Expr {
                                kind: ExprKind::Literal(Literal::Null),
                                span,
                            })
                        };
                        stack.push(*std::mem::replace(a, null()));
                        stack.push(*std::mem::replace(b, null()));
                    }
                    ExprKind::Unary(_, a)
                    | ExprKind::Cast(a, _)
                    | ExprKind::IsNull { value: a, .. }
                    | ExprKind::InList(a, _) => {
                        stack.push(*std::mem::replace(
                            a,
                            Box::new(Expr {
                                kind: ExprKind::Literal(Literal::Null),
                                span,
                            }),
                        ));
                    }
                    _ => {}
                }
            }
            self.items.push((
                Expr {
                    kind: ExprKind::Literal(Literal::Null),
                    span,
                },
                1,
            ));
        } else {
            self.items.push((e, depth));
        }
    }

    fn pop(&mut self) -> (Expr, usize) {
        self.items.pop().expect("operand")
    }
}

struct Builder {
    file: FileId,
    base: usize,
    diags: Vec<Diagnostic>,
    parens: Vec<Span>,
}

/// The children of `pair` that carry meaning (keywords dropped).
fn kids(pair: P<'_>) -> impl Iterator<Item = P<'_>> {
    pair.into_inner().filter(|p| !is_keyword(p.as_rule()))
}

impl Builder {
    fn span(&self, pair: &P<'_>) -> Span {
        let s = pair.as_span();
        let text = pair.as_str();
        let end = s.start() + text.trim_end().len();
        Span::new(self.file, self.base + s.start(), self.base + end)
    }

    fn file(&mut self, pair: P<'_>) -> Module {
        let mut items = Vec::new();
        for p in kids(pair) {
            let item = match p.as_rule() {
                Rule::import => Item::Import(self.import(p)),
                Rule::pipeline => Item::Pipeline(self.pipeline(p)),
                Rule::source => Item::Source(self.source(p)),
                Rule::transform => Item::Transform(self.transform(p)),
                Rule::sink => Item::Sink(self.sink(p)),
                Rule::check => Item::Check(self.check(p)),
                Rule::test => Item::Test(self.test(p)),
                Rule::define => Item::Define(self.define(p)),
                _ => continue,
            };
            items.push(item);
        }
        Module { items }
    }

    fn ident(&mut self, pair: P<'_>) -> Ident {
        let span = self.span(&pair);
        let text = pair.as_str();
        let name = text
            .strip_prefix('`')
            .and_then(|t| t.strip_suffix('`'))
            .unwrap_or(text);
        Ident {
            name: name.to_string(),
            span,
        }
    }

    fn qname(&mut self, pair: P<'_>) -> QName {
        let span = self.span(&pair);
        let parts = kids(pair).map(|p| self.ident(p)).collect();
        QName { parts, span }
    }

    fn string(&mut self, pair: P<'_>) -> StrLit {
        let span = self.span(&pair);
        let raw = pair.as_str();
        let value = if let Some(inner) = raw
            .strip_prefix("\"\"\"")
            .and_then(|r| r.strip_suffix("\"\"\""))
        {
            inner.to_string()
        } else {
            let inner = &raw[1..raw.len() - 1];
            match errors::unescape(inner) {
                Ok(v) => v,
                Err((at, len, msg)) => {
                    let start = span.start as usize + 1 + at;
                    self.diags.push(
                        Diagnostic::error(
                            codes::BAD_ESCAPE,
                            Span::new(self.file, start, start + len),
                            "invalid escape sequence in a string",
                            msg,
                        )
                        .with_help("valid escapes are \\n \\t \\r \\\\ \\\" and \\u{XXXX}"),
                    );
                    inner.to_string()
                }
            }
        };
        if value.contains('\0') {
            self.diags.push(
                Diagnostic::error(
                    codes::NUL_IN_STRING,
                    span,
                    "a string cannot contain a NUL character",
                    "holds a NUL (`\\0`)",
                )
                .with_help("remove it: databases, paths and URLs cannot carry NUL characters"),
            );
        }
        StrLit { value, span }
    }

    fn import(&mut self, pair: P<'_>) -> Import {
        let span = self.span(&pair);
        let mut it = kids(pair);
        let t = it.next().expect("import target");
        let target = match t.as_rule() {
            Rule::string => ImportTarget::File(self.string(t)),
            _ => {
                let s = self.span(&t);
                ImportTarget::Module(QName {
                    parts: kids(t).map(|p| self.ident(p)).collect(),
                    span: s,
                })
            }
        };
        let alias = it.next().map(|p| self.ident(p));
        Import {
            target,
            alias,
            span,
        }
    }

    fn pipeline(&mut self, pair: P<'_>) -> PipelineDecl {
        let span = self.span(&pair);
        let mut it = kids(pair);
        let name = self.ident(it.next().expect("pipeline name"));
        let settings = it.map(|p| self.setting(p)).collect();
        PipelineDecl {
            name,
            settings,
            span,
        }
    }

    fn setting(&mut self, pair: P<'_>) -> Setting {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut it = kids(pair);
        let kind = match rule {
            Rule::schedule => {
                SettingKind::Schedule(self.schedule(it.next().expect("schedule spec")))
            }
            Rule::start_setting => SettingKind::Start(self.expr(it.next().expect("value"))),
            Rule::end_setting => SettingKind::End(self.expr(it.next().expect("value"))),
            Rule::catchup_setting => SettingKind::Catchup(self.expr(it.next().expect("value"))),
            Rule::retries_setting => {
                let count = self.expr(it.next().expect("count"));
                let backoff = it.next().map(|p| self.expr(p));
                SettingKind::Retries { count, backoff }
            }
            Rule::timeout_setting => SettingKind::Timeout(self.expr(it.next().expect("value"))),
            Rule::alert_setting => SettingKind::Alert(self.expr(it.next().expect("value"))),
            Rule::owner_setting => SettingKind::Owner(self.expr(it.next().expect("value"))),
            Rule::tags_setting => SettingKind::Tags(self.expr(it.next().expect("value"))),
            Rule::description_setting => {
                SettingKind::Description(self.expr(it.next().expect("value")))
            }
            _ => {
                let name = self.ident(it.next().expect("name"));
                let value = it.next().map(|p| self.expr(p));
                SettingKind::Unknown { name, value }
            }
        };
        Setting { kind, span }
    }

    fn text_lit(&mut self, pair: P<'_>) -> StrLit {
        StrLit {
            value: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn schedule(&mut self, pair: P<'_>) -> Schedule {
        let rule = pair.as_rule();
        let parts: Vec<P<'_>> = kids(pair).collect();
        match rule {
            Rule::sched_daily => {
                let mut at = None;
                let mut tz = None;
                for p in parts {
                    match p.as_rule() {
                        Rule::time_of_day => at = Some(self.text_lit(p)),
                        _ => tz = Some(self.string(p)),
                    }
                }
                Schedule::Daily { at, tz }
            }
            Rule::sched_hourly => {
                let mut at = None;
                let mut tz = None;
                for p in parts {
                    match p.as_rule() {
                        Rule::minute_mark => at = Some(self.text_lit(p)),
                        _ => tz = Some(self.string(p)),
                    }
                }
                Schedule::Hourly { at, tz }
            }
            Rule::sched_cron => {
                let mut it = parts.into_iter();
                let expr = self.string(it.next().expect("cron expr"));
                let tz = it.next().map(|p| self.string(p));
                Schedule::Cron { expr, tz }
            }
            Rule::sched_every => {
                let mut it = parts.into_iter();
                let period = self.expr_atom(it.next().expect("duration"));
                let tz = it.next().map(|p| self.string(p));
                Schedule::Every { period, tz }
            }
            Rule::sched_after => {
                Schedule::After(parts.into_iter().map(|p| self.ident(p)).collect())
            }
            Rule::sched_on_file => {
                Schedule::OnFile(self.string(parts.into_iter().next().expect("path")))
            }
            _ => Schedule::Continuous,
        }
    }

    fn schema(&mut self, pair: P<'_>) -> Vec<Field> {
        kids(pair)
            .map(|f| {
                let mut it = kids(f);
                let name = self.ident(it.next().expect("field name"));
                let ty = self.type_expr(it.next().expect("field type"));
                Field { name, ty }
            })
            .collect()
    }

    fn type_expr(&mut self, pair: P<'_>) -> TypeExpr {
        let span = self.span(&pair);
        let mut name = None;
        let mut params = Vec::new();
        let mut nullable = false;
        for p in kids(pair) {
            match p.as_rule() {
                Rule::type_name => {
                    name = Some(Ident {
                        name: p.as_str().to_string(),
                        span: self.span(&p),
                    })
                }
                Rule::type_params => {
                    for n in kids(p) {
                        match n.as_str().parse::<u32>() {
                            Ok(v) => params.push(v),
                            Err(_) => self
                                .bad_literal(&n, "this number is too large for a type parameter"),
                        }
                    }
                }
                _ => nullable = true,
            }
        }
        TypeExpr {
            name: name.expect("type name"),
            params,
            nullable,
            span,
        }
    }

    fn source(&mut self, pair: P<'_>) -> SourceDecl {
        let span = self.span(&pair);
        let mut it = kids(pair);
        let name = self.ident(it.next().expect("name"));
        let origin = self.call(it.next().expect("origin"));
        let mut schema = None;
        let mut retention = Vec::new();
        for p in it {
            match p.as_rule() {
                Rule::schema_block => schema = Some(self.schema(p)),
                _ => retention.push(self.retention_line(p)),
            }
        }
        SourceDecl {
            name,
            origin,
            schema,
            retention,
            span,
        }
    }

    /// `expire after AGE` or `archive after AGE [to CLASS]`.
    fn retention_line(&mut self, pair: P<'_>) -> RetentionLine {
        let span = self.span(&pair);
        let action = match pair.as_rule() {
            Rule::archive_option => RetentionAction::Archive,
            _ => RetentionAction::Expire,
        };
        let mut it = kids(pair);
        let age = it.next().expect("age");
        let age = Ident {
            name: age.as_str().to_string(),
            span: self.span(&age),
        };
        let class = it.next().map(|c| self.ident(c));
        RetentionLine {
            action,
            age,
            class,
            span,
        }
    }

    fn transform(&mut self, pair: P<'_>) -> TransformDecl {
        let span = self.span(&pair);
        let mut it = kids(pair);
        let name = self.ident(it.next().expect("name"));
        let body = self.rel_expr(it.next().expect("body"));
        TransformDecl { name, body, span }
    }

    fn define(&mut self, pair: P<'_>) -> DefineDecl {
        let span = self.span(&pair);
        let mut name = None;
        let mut params = Vec::new();
        let mut body = None;
        for p in kids(pair) {
            match p.as_rule() {
                Rule::define_kind => {}
                Rule::ident => name = Some(self.ident(p)),
                Rule::params => {
                    for param in kids(p) {
                        let mut it = kids(param);
                        let pname = self.ident(it.next().expect("param name"));
                        let ty_pair = it.next().expect("param type");
                        let ty = self.type_expr(kids(ty_pair).next().expect("type"));
                        params.push(Param { name: pname, ty });
                    }
                }
                Rule::relation_expr => body = Some(DefineBody::Relation(self.rel_expr(p))),
                _ => body = Some(DefineBody::Check(kids(p).map(|r| self.expr(r)).collect())),
            }
        }
        let body = body.expect("define body");
        DefineDecl {
            name: name.expect("define name"),
            params,
            body,
            span,
        }
    }

    fn rel_expr(&mut self, pair: P<'_>) -> RelExpr {
        let span = self.span(&pair);
        let mut it = kids(pair);
        let head_pair = it.next().expect("relation head");
        let head = match head_pair.as_rule() {
            Rule::sql_relation => {
                let mut h = kids(head_pair);
                let sql = self.string(h.next().expect("sql"));
                let schema = self.schema(h.next().expect("schema"));
                RelHead::Sql { sql, schema }
            }
            Rule::call => RelHead::Call(self.call(head_pair)),
            _ => RelHead::Ref(self.qname(head_pair)),
        };
        let steps = it.map(|p| self.step(p)).collect();
        RelExpr { head, steps, span }
    }

    fn assignments(&mut self, pair: P<'_>) -> Vec<Assign> {
        kids(pair).map(|a| self.assign(a)).collect()
    }

    fn assign(&mut self, pair: P<'_>) -> Assign {
        let mut it = kids(pair);
        let name = self.ident(it.next().expect("name"));
        let value = self.expr(it.next().expect("value"));
        Assign { name, value }
    }

    fn sort_key(&mut self, pair: P<'_>) -> SortKey {
        let mut it = kids(pair);
        let value = self.expr(it.next().expect("key"));
        let descending = it.next().is_some_and(|d| d.as_str().starts_with("desc"));
        SortKey { value, descending }
    }

    fn step(&mut self, pair: P<'_>) -> Step {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut it = kids(pair);
        let kind = match rule {
            Rule::filter_step => StepKind::Filter(self.expr(it.next().expect("cond"))),
            Rule::derive_step => {
                StepKind::Derive(self.assignments(it.next().expect("assignments")))
            }
            Rule::select_step => {
                let inner = it.next().expect("select body");
                match inner.as_rule() {
                    Rule::select_except => {
                        StepKind::SelectExcept(kids(inner).map(|p| self.ident(p)).collect())
                    }
                    _ => StepKind::Select(
                        kids(inner)
                            .map(|item| {
                                let parts: Vec<_> = kids(item).collect();
                                if parts.len() == 2 {
                                    let mut p = parts.into_iter();
                                    let name = Some(self.ident(p.next().expect("name")));
                                    SelectItem {
                                        name,
                                        value: self.expr(p.next().expect("value")),
                                    }
                                } else {
                                    let value = self.expr(parts.into_iter().next().expect("value"));
                                    SelectItem { name: None, value }
                                }
                            })
                            .collect(),
                    ),
                }
            }
            Rule::join_step => {
                let mut kind = JoinKind::Inner;
                let mut relation = None;
                let mut alias = None;
                let mut cond = None;
                for p in it {
                    match p.as_rule() {
                        Rule::join_kind => {
                            kind = match p.as_str() {
                                "left" => JoinKind::Left,
                                "right" => JoinKind::Right,
                                "full" => JoinKind::Full,
                                _ => JoinKind::Inner,
                            }
                        }
                        Rule::qualified_name => relation = Some(self.qname(p)),
                        Rule::ident => alias = Some(self.ident(p)),
                        Rule::join_on => {
                            cond = Some(JoinCond::On(self.expr(kids(p).next().expect("cond"))))
                        }
                        _ => cond = Some(JoinCond::Using(kids(p).map(|i| self.ident(i)).collect())),
                    }
                }
                StepKind::Join {
                    kind,
                    relation: relation.expect("join relation"),
                    alias,
                    cond: cond.expect("join condition"),
                }
            }
            Rule::group_step => {
                let keys = kids(it.next().expect("keys"))
                    .map(|e| self.expr(e))
                    .collect();
                let aggregates = self.assignments(it.next().expect("aggregates"));
                StepKind::Group { keys, aggregates }
            }
            Rule::aggregate_step => {
                StepKind::Aggregate(self.assignments(it.next().expect("aggregates")))
            }
            Rule::sort_step => StepKind::Sort(it.map(|k| self.sort_key(k)).collect()),
            Rule::take_step => StepKind::Take(self.expr(it.next().expect("count"))),
            Rule::distinct_step => StepKind::Distinct,
            Rule::union_step => StepKind::Union(self.qname(it.next().expect("relation"))),
            Rule::window_step => {
                let mut partition = Vec::new();
                let mut order = Vec::new();
                let mut frame = None;
                let mut functions = Vec::new();
                for p in it {
                    match p.as_rule() {
                        Rule::expr_list => partition = kids(p).map(|e| self.expr(e)).collect(),
                        Rule::sort_key => order.push(self.sort_key(p)),
                        Rule::window_frame => frame = self.window_frame(p),
                        _ => functions = self.assignments(p),
                    }
                }
                StepKind::Window {
                    partition,
                    order,
                    frame,
                    functions,
                }
            }
            _ => {
                let name = self.qname(it.next().expect("name"));
                let args = it.next().map(|a| self.args(a)).unwrap_or_default();
                StepKind::Apply(Call { name, args, span })
            }
        };
        Step { kind, span }
    }

    /// `rows between a and b`; `None` (after an error) when a row count does not fit.
    fn window_frame(&mut self, pair: P<'_>) -> Option<WindowFrame> {
        let span = self.span(&pair);
        let mut bounds = Vec::new();
        for b in kids(pair).filter(|b| {
            matches!(
                b.as_rule(),
                Rule::frame_unbounded_preceding
                    | Rule::frame_unbounded_following
                    | Rule::frame_current
                    | Rule::frame_preceding
                    | Rule::frame_following
            )
        }) {
            let rule = b.as_rule();
            let count = kids(b)
                .find(|k| k.as_rule() == Rule::integer)
                .map(|k| (self.span(&k), k.as_str().parse::<i64>().map(|n| n as u64)));
            let n = match count {
                Some((_, Ok(n))) => n,
                Some((nspan, Err(_))) => {
                    self.diags.push(Diagnostic::error(
                        codes::BAD_LITERAL,
                        nspan,
                        "row count out of range",
                        "too large",
                    ));
                    return None;
                }
                None => 0,
            };
            bounds.push(match rule {
                Rule::frame_unbounded_preceding => FrameBound::UnboundedPreceding,
                Rule::frame_unbounded_following => FrameBound::UnboundedFollowing,
                Rule::frame_current => FrameBound::CurrentRow,
                Rule::frame_preceding => FrameBound::Preceding(n),
                _ => FrameBound::Following(n),
            });
        }
        let [start, end] = bounds[..] else {
            return None;
        };
        Some(WindowFrame { start, end, span })
    }

    fn sink(&mut self, pair: P<'_>) -> SinkDecl {
        let span = self.span(&pair);
        let mut it = kids(pair);
        let relation = self.qname(it.next().expect("relation"));
        let target_pair = kids(it.next().expect("target"))
            .next()
            .expect("target kind");
        let target = match target_pair.as_rule() {
            Rule::call => SinkTarget::Call(self.call(target_pair)),
            _ => SinkTarget::Table(self.qname(target_pair)),
        };
        let mut options = Vec::new();
        if let Some(block) = it.next() {
            for opt in kids(block) {
                let ospan = self.span(&opt);
                let rule = opt.as_rule();
                let opt_pair = opt.clone();
                let mut o = kids(opt);
                let kind = match rule {
                    Rule::mode_option => {
                        let m = o.next().expect("mode");
                        match m.as_rule() {
                            Rule::mode_merge => {
                                let keys = kids(kids(m).next().expect("keys"))
                                    .map(|k| self.ident(k))
                                    .collect();
                                SinkOptionKind::Merge(keys)
                            }
                            Rule::mode_incremental => SinkOptionKind::Incremental(
                                self.ident(kids(m).next().expect("col")),
                            ),
                            _ => {
                                SinkOptionKind::Mode(self.ident(kids(m).next().expect("mode name")))
                            }
                        }
                    }
                    Rule::partition_option => {
                        SinkOptionKind::PartitionBy(self.ident(o.next().expect("col")))
                    }
                    Rule::expire_option | Rule::archive_option => {
                        SinkOptionKind::Retention(self.retention_line(opt_pair))
                    }
                    _ => {
                        let name = self.ident(o.next().expect("name"));
                        let value = o.next().map(|v| self.expr(v));
                        SinkOptionKind::Unknown { name, value }
                    }
                };
                options.push(SinkOption { kind, span: ospan });
            }
        }
        SinkDecl {
            relation,
            target,
            options,
            span,
        }
    }

    fn check(&mut self, pair: P<'_>) -> CheckDecl {
        let span = self.span(&pair);
        let mut it = kids(pair);
        let relation = self.qname(it.next().expect("relation"));
        let rules = kids(it.next().expect("rules"))
            .map(|r| self.expr(r))
            .collect();
        CheckDecl {
            relation,
            rules,
            span,
        }
    }

    fn fixture(&mut self, pair: P<'_>) -> Fixture {
        let span = self.span(&pair);
        let mut columns = Vec::new();
        let mut rows = Vec::new();
        let mut defaults = Vec::new();
        for p in kids(pair) {
            match p.as_rule() {
                Rule::ident => columns.push(self.ident(p)),
                Rule::fixture_defaults => defaults = kids(p).map(|a| self.assign(a)).collect(),
                _ => {
                    let rspan = self.span(&p);
                    rows.push(Row {
                        values: kids(p).map(|v| self.expr(v)).collect(),
                        span: rspan,
                    });
                }
            }
        }
        Fixture {
            columns,
            rows,
            defaults,
            span,
        }
    }

    fn test(&mut self, pair: P<'_>) -> TestDecl {
        let span = self.span(&pair);
        let mut it = kids(pair);
        let name = self.ident(it.next().expect("name"));
        let relation = self.qname(it.next().expect("relation"));
        let mut test = TestDecl {
            name,
            relation,
            ds: None,
            given: Vec::new(),
            expect: None,
            span,
        };
        for p in it {
            match p.as_rule() {
                Rule::test_ds => test.ds = Some(self.expr(kids(p).next().expect("ds"))),
                Rule::given => {
                    let mut g = kids(p);
                    let rel = self.qname(g.next().expect("relation"));
                    let fx = self.fixture(g.next().expect("fixture"));
                    test.given.push((rel, fx));
                }
                _ => test.expect = Some(self.fixture(kids(p).next().expect("fixture"))),
            }
        }
        test
    }

    fn call(&mut self, pair: P<'_>) -> Call {
        let span = self.span(&pair);
        let mut it = kids(pair);
        let name = self.qname(it.next().expect("name"));
        let args = it.next().map(|a| self.args(a)).unwrap_or_default();
        Call { name, args, span }
    }

    fn args(&mut self, pair: P<'_>) -> Vec<Arg> {
        kids(pair)
            .map(|arg| {
                let parts: Vec<_> = kids(arg).collect();
                let mut it = parts.into_iter();
                let first = it.next().expect("arg");
                match it.next() {
                    Some(value) => Arg {
                        name: Some(self.ident(first)),
                        value: self.expr(value),
                    },
                    None if first.as_rule() == Rule::star => Arg {
                        name: None,
                        value: Expr {
                            kind: ExprKind::Star,
                            span: self.span(&first),
                        },
                    },
                    None => Arg {
                        name: None,
                        value: self.expr(first),
                    },
                }
            })
            .collect()
    }

    fn bad_literal(&mut self, pair: &P<'_>, why: &str) {
        self.diags.push(
            Diagnostic::error(codes::BAD_LITERAL, self.span(pair), format!("invalid literal `{}`", pair.as_str()), why)
                .with_help("dates are written YYYY-MM-DD, timestamps YYYY-MM-DD HH:MM[:SS], durations like 30s, 5m, 2h, 1d"),
        );
    }

    /// Parses an `expr` pair: operands and operators are combined by precedence climbing without
    /// recursion, so long operator chains cannot exhaust the stack. Precedence follows
    /// PostgreSQL: `or` < `and` < `not` < `is [not] null` < comparisons < `in` < `??` < `+ - ++`
    /// < `* / %` < unary `-` < `::`.
    fn expr(&mut self, pair: P<'_>) -> Expr {
        if pair.as_rule() != Rule::expr {
            return self.expr_atom(pair);
        }
        enum Op {
            Bin(BinaryOp),
            Not(Span),
        }
        const NOT: u8 = 3;
        const IS: u8 = 4;
        const IN: u8 = 6;
        let mut operands = Operands::default();
        let mut ops: Vec<(Op, u8)> = Vec::new();
        let mut negs: Vec<Span> = Vec::new();
        let mut current: Option<Expr> = None;

        fn reduce(operands: &mut Operands, op: Op) {
            match op {
                Op::Bin(op) => {
                    let (rhs, dr) = operands.pop();
                    let (lhs, dl) = operands.pop();
                    let span = lhs.span.to(rhs.span);
                    let kind = ExprKind::Binary(op, Box::new(lhs), Box::new(rhs));
                    operands.push(Expr { kind, span }, dl.max(dr) + 1);
                }
                Op::Not(at) => {
                    let (x, d) = operands.pop();
                    let span = at.to(x.span);
                    let kind = ExprKind::Unary(UnaryOp::Not, Box::new(x));
                    operands.push(Expr { kind, span }, d + 1);
                }
            }
        }
        fn reduce_above(operands: &mut Operands, ops: &mut Vec<(Op, u8)>, prec: u8) {
            while ops.last().is_some_and(|(_, p)| *p >= prec) {
                let (op, _) = ops.pop().expect("op");
                reduce(operands, op);
            }
        }
        fn finish(current: &mut Option<Expr>, negs: &mut Vec<Span>, operands: &mut Operands) {
            if let Some(mut e) = current.take() {
                let mut depth = 1;
                while let Some(span) = negs.pop() {
                    let s = span.to(e.span);
                    depth += 1;
                    if depth > MAX_NESTING {
                        operands.too_deep.get_or_insert(s);
                        e = Expr {
                            kind: ExprKind::Literal(Literal::Null),
                            span: s,
                        };
                        depth = 1;
                        continue;
                    }
                    let kind = ExprKind::Unary(UnaryOp::Neg, Box::new(e));
                    e = Expr { kind, span: s };
                }
                operands.push(e, depth);
            }
        }

        for p in pair.into_inner() {
            let span = self.span(&p);
            match p.as_rule() {
                Rule::neg => negs.push(span),
                Rule::not => ops.push((Op::Not(span), NOT)),
                Rule::cast => {
                    let ty = self.type_expr(kids(p).next().expect("type"));
                    let e = current.take().unwrap_or_else(|| operands.pop().0);
                    let s = e.span.to(span);
                    current = Some(Expr {
                        kind: ExprKind::Cast(Box::new(e), ty),
                        span: s,
                    });
                }
                Rule::is_null | Rule::is_not_null | Rule::in_list => {
                    let prec = if p.as_rule() == Rule::in_list { IN } else { IS };
                    finish(&mut current, &mut negs, &mut operands);
                    reduce_above(&mut operands, &mut ops, prec + 1);
                    let (e, depth) = operands.pop();
                    let s = e.span.to(span);
                    let kind = match p.as_rule() {
                        Rule::in_list => {
                            let list = kids(kids(p).next().expect("list"))
                                .map(|x| self.expr(x))
                                .collect();
                            ExprKind::InList(Box::new(e), list)
                        }
                        r => ExprKind::IsNull {
                            value: Box::new(e),
                            negated: r == Rule::is_not_null,
                        },
                    };
                    operands.push(Expr { kind, span: s }, depth + 1);
                }
                Rule::call_args => {
                    let callee = current.take().unwrap_or_else(|| operands.pop().0);
                    let name = match callee.kind {
                        ExprKind::Name(name) => name,
                        _ => unreachable!("the grammar puts call arguments after a name only"),
                    };
                    let args = kids(p).next().map(|a| self.args(a)).unwrap_or_default();
                    let span = callee.span.to(span);
                    current = Some(Expr {
                        kind: ExprKind::Call(Call { name, args, span }),
                        span,
                    });
                }
                Rule::tuple_rest => {
                    let first = current.take().unwrap_or_else(|| operands.pop().0);
                    // The tuple's parentheses were recorded as the first item's.
                    if self.parens.last() == Some(&first.span) {
                        self.parens.pop();
                    }
                    let mut items = vec![first];
                    items.extend(kids(p).map(|x| self.expr(x)));
                    let s = items[0].span.to(span);
                    current = Some(Expr {
                        kind: ExprKind::Tuple(items),
                        span: s,
                    });
                }
                Rule::infix => {
                    finish(&mut current, &mut negs, &mut operands);
                    let (op, prec) = binary_op(p.as_str()).expect("binary operator");
                    reduce_above(&mut operands, &mut ops, prec);
                    ops.push((Op::Bin(op), prec));
                }
                _ => current = Some(self.expr_atom(p)),
            }
        }
        finish(&mut current, &mut negs, &mut operands);
        reduce_above(&mut operands, &mut ops, 0);
        if let Some(at) = operands.too_deep {
            self.diags.push(
                Diagnostic::error(
                    codes::TOO_DEEP,
                    at,
                    format!("expression nests more than {MAX_NESTING} operators deep"),
                    "too deep",
                )
                .with_help("split the expression into several `derive` steps"),
            );
        }
        operands.pop().0
    }

    fn expr_atom(&mut self, pair: P<'_>) -> Expr {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::expr => {
                // Only a parenthesised expression reaches here as an `expr` pair.
                let e = self.expr(pair);
                self.parens.push(e.span);
                return e;
            }
            Rule::number => {
                let text = pair.as_str();
                if text.contains(['.', 'e', 'E']) {
                    match text.parse::<f64>() {
                        Ok(v) if v.is_finite() => ExprKind::Literal(Literal::Float(v)),
                        _ => {
                            self.bad_literal(&pair, "this number is out of range");
                            ExprKind::Literal(Literal::Null)
                        }
                    }
                } else {
                    match text.parse::<i64>() {
                        Ok(v) => ExprKind::Literal(Literal::Int(v)),
                        Err(_) => {
                            self.bad_literal(&pair, "this integer does not fit in 64 bits");
                            ExprKind::Literal(Literal::Int(0))
                        }
                    }
                }
            }
            Rule::string => ExprKind::Literal(Literal::Str(self.string(pair).value)),
            Rule::boolean => ExprKind::Literal(Literal::Bool(pair.as_str() == "true")),
            Rule::null => ExprKind::Literal(Literal::Null),
            Rule::date => {
                let text = pair.as_str();
                if !errors::valid_date(text) {
                    self.bad_literal(&pair, "no such calendar date");
                }
                ExprKind::Literal(Literal::Date(text.to_string()))
            }
            Rule::timestamp => {
                let text = pair.as_str().replace('T', " ");
                let (d, t) = text.split_at(10);
                if !errors::valid_date(d) || !errors::valid_clock(t.trim()) {
                    self.bad_literal(&pair, "no such date or time of day");
                }
                let ts = if t.trim().len() == 5 {
                    format!("{text}:00")
                } else {
                    text
                };
                ExprKind::Literal(Literal::Timestamp(ts))
            }
            Rule::duration => match errors::duration_micros(pair.as_str()) {
                Some(us) => ExprKind::Literal(Literal::Duration(us)),
                None => {
                    self.bad_literal(&pair, "this duration is too long");
                    ExprKind::Literal(Literal::Duration(0))
                }
            },
            Rule::param_ref => {
                let ident_pair = pair.into_inner().next().expect("param name");
                ExprKind::Param(self.ident(ident_pair))
            }
            Rule::list => ExprKind::List(kids(pair).map(|e| self.expr(e)).collect()),
            Rule::call => ExprKind::Call(self.call(pair)),
            Rule::qualified_name => ExprKind::Name(self.qname(pair)),
            Rule::case_expr => {
                let mut arms = Vec::new();
                let mut otherwise = None;
                for p in kids(pair) {
                    match p.as_rule() {
                        Rule::case_arm => {
                            let mut a = kids(p);
                            let c = self.expr(a.next().expect("when"));
                            let v = self.expr(a.next().expect("then"));
                            arms.push((c, v));
                        }
                        _ => otherwise = Some(Box::new(self.expr(p))),
                    }
                }
                ExprKind::Case { arms, otherwise }
            }
            Rule::star => ExprKind::Star,
            _ => ExprKind::Literal(Literal::Null),
        };
        Expr { kind, span }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(src: &str) -> String {
        let text = format!("pipeline p {{}}\ncheck t {{ {src} }}");
        let parsed = parse(FileId(0), &text);
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        let Item::Check(c) = &parsed.module.items[1] else {
            panic!()
        };
        fn show(e: &Expr) -> String {
            match &e.kind {
                ExprKind::Name(q) => q.dotted(),
                ExprKind::Literal(Literal::Int(n)) => n.to_string(),
                ExprKind::Unary(UnaryOp::Not, x) => format!("(not {})", show(x)),
                ExprKind::Unary(UnaryOp::Neg, x) => format!("(-{})", show(x)),
                ExprKind::Binary(op, a, b) => format!("({} {} {})", show(a), op.symbol(), show(b)),
                ExprKind::IsNull { value, negated } => format!(
                    "({} is {}null)",
                    show(value),
                    if *negated { "not " } else { "" }
                ),
                ExprKind::InList(x, l) => format!(
                    "({} in [{}])",
                    show(x),
                    l.iter().map(show).collect::<Vec<_>>().join(", ")
                ),
                ExprKind::Cast(x, t) => format!("({}::{})", show(x), t.name.name),
                _ => "?".into(),
            }
        }
        show(&c.rules[0])
    }

    #[test]
    fn precedence_follows_sql() {
        assert_eq!(shape("not a == b"), "(not (a == b))");
        assert_eq!(shape("not a and b"), "((not a) and b)");
        assert_eq!(shape("a + b is null"), "((a + b) is null)");
        assert_eq!(shape("a or b and c"), "(a or (b and c))");
        assert_eq!(shape("a - b - c"), "((a - b) - c)");
        assert_eq!(shape("-a * b + c"), "(((-a) * b) + c)");
        assert_eq!(shape("a ++ b ++ c"), "((a ++ b) ++ c)");
        assert_eq!(shape("a + 1 in [1, 2]"), "((a + 1) in [1, 2])");
        assert_eq!(shape("a::int + 1"), "((a::int) + 1)");
        assert_eq!(shape("x ?? 0 > 1"), "((x ?? 0) > 1)");
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn missing_punctuation_is_named() {
        let p = parse(
            FileId(0),
            "pipeline p {}\nsource s = csv(\"x\") { a int }\n",
        );
        let label = &p.diagnostics[0].labels[0].message;
        assert!(label.contains("`:`"), "{label}");
    }
}
