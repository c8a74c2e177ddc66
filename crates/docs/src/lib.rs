//! `pipec docs`: a static site documenting a checked and planned project: an index of the
//! pipelines with the DAG as SVG, a page per pipeline, a page per relation and sink (schema,
//! definition, steps, checks, tests, compiled SQL, column lineage linked both ways), a search
//! index with a small script filtering it as one types, and, when given, run history read from a
//! warehouse. No IO but [`write`]; the same input gives the same bytes.

mod html;
mod layout;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use petgraph::graph::NodeIndex;
use pipec_check::ir::{Head, Pipeline, Project, RelationKind, Schedule, SinkMode, Test};
use pipec_diag::SourceMap;
use pipec_plan::lineage::{ColumnKind, Role};
use pipec_plan::{Lineage, NodeKind, Plan};
use serde::Serialize;

use html::{esc, page, table};

/// Run history of a warehouse, as plain data (read by the caller from the `_pipec` tables).
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The newest run of every interval, by pipeline and interval start.
    pub intervals: Vec<IntervalRun>,
    /// Check results of those runs.
    pub checks: Vec<CheckResult>,
    /// Rejected source rows.
    pub rejects: Vec<Reject>,
}

/// The newest run of one interval.
#[derive(Debug, Clone)]
pub struct IntervalRun {
    /// Pipeline.
    pub pipeline: String,
    /// The interval as shown (`@ds`, or `@ds HH:MM` for intervals shorter than a day).
    pub interval: String,
    /// The interval's start in UTC.
    pub start: String,
    /// `done`, `failed` or `skipped`.
    pub status: String,
    /// Attempts of the run.
    pub attempts: i64,
    /// When it finished.
    pub finished_at: String,
    /// Rows written by the run completing the interval.
    pub rows_written: Option<i64>,
    /// The error, redacted.
    pub error: Option<String>,
}

/// One check rule's result for one interval.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// Pipeline.
    pub pipeline: String,
    /// The interval's start in UTC.
    pub start: String,
    /// Relation checked.
    pub relation: String,
    /// The rule as written.
    pub rule: String,
    /// Whether it passed.
    pub passed: bool,
    /// What failed, if anything.
    pub detail: Option<String>,
}

/// A source row rejected by a run.
#[derive(Debug, Clone)]
pub struct Reject {
    /// Pipeline.
    pub pipeline: String,
    /// The interval's start in UTC.
    pub start: String,
    /// Source relation.
    pub source: String,
    /// File read.
    pub file: Option<String>,
    /// Line in that file.
    pub line: Option<i64>,
    /// Column at fault.
    pub column: Option<String>,
    /// Why.
    pub error: String,
}

/// What the site is made of.
pub struct Input<'a> {
    /// The checked project.
    pub project: &'a Project,
    /// Its plan.
    pub plan: &'a Plan,
    /// The spec texts (definitions are shown as written).
    pub sources: &'a SourceMap,
    /// Run history, with `--warehouse`.
    pub history: Option<&'a History>,
}

/// One file of the site: its path relative to the output folder and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFile {
    /// Relative path with `/` separators.
    pub path: String,
    /// Contents.
    pub contents: String,
}

/// One entry of the search index.
#[derive(Debug, Clone, Serialize)]
struct Entry {
    kind: &'static str,
    name: String,
    label: String,
    url: String,
    text: String,
}

/// Builds every file of the site.
pub fn site(input: &Input) -> Vec<SiteFile> {
    Site::new(input).build()
}

/// Writes `files` below `dir` (created if missing).
pub fn write(dir: &Path, files: &[SiteFile]) -> std::io::Result<()> {
    for f in files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &f.contents)?;
    }
    Ok(())
}

/// Schedule as words, e.g. `daily at 03:00`.
pub fn schedule_text(s: &Schedule) -> String {
    match s {
        Schedule::Manual => "manual (started by hand)".into(),
        Schedule::Daily { hour, minute, .. } => format!("daily at {hour:02}:{minute:02}"),
        Schedule::Hourly { minute, .. } => format!("hourly at :{minute:02}"),
        Schedule::Cron { expr, .. } => format!("cron \"{expr}\""),
        Schedule::Every { minutes, .. } => {
            if minutes % 60 == 0 {
                format!("every {} h", minutes / 60)
            } else {
                format!("every {minutes} min")
            }
        }
        Schedule::After { pipelines } => format!("after {}", pipelines.join(", ")),
        Schedule::OnFile { path } => format!("when \"{path}\" appears"),
        Schedule::Continuous => "continuous (stream)".into(),
    }
}

/// The schedule's time zone, if it has one.
pub fn schedule_tz(s: &Schedule) -> Option<&str> {
    match s {
        Schedule::Daily { tz, .. }
        | Schedule::Hourly { tz, .. }
        | Schedule::Cron { tz, .. }
        | Schedule::Every { tz, .. } => Some(tz),
        _ => None,
    }
}

struct Site<'a> {
    input: &'a Input<'a>,
    lineage: Lineage,
    /// Page path of each lineage relation.
    pages: Vec<String>,
    /// Lineage relation of each plan node that has a page.
    node_page: BTreeMap<NodeIndex, usize>,
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn pipeline_page(name: &str) -> String {
    format!("pipelines/{}.html", slug(name))
}

impl<'a> Site<'a> {
    fn new(input: &'a Input<'a>) -> Self {
        let lineage = pipec_plan::lineage(input.project);
        let mut used: BTreeSet<String> = BTreeSet::new();
        let pages: Vec<String> = lineage
            .relations
            .iter()
            .map(|r| {
                let base = slug(&r.id);
                let mut name = format!("relations/{base}.html");
                let mut n = 2;
                while !used.insert(name.to_lowercase()) {
                    name = format!("relations/{base}-{n}.html");
                    n += 1;
                }
                name
            })
            .collect();
        let by_id: BTreeMap<(&str, &str), usize> = lineage
            .relations
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.pipeline.as_str(), r.name.as_str()), i))
            .collect();
        let mut node_page = BTreeMap::new();
        for n in input.plan.graph.node_indices() {
            let node = &input.plan.graph[n];
            let name = match node.kind {
                NodeKind::Check => node.name.strip_prefix("check:").unwrap_or(&node.name),
                _ => node.name.as_str(),
            };
            if let Some(&i) = by_id.get(&(node.pipeline.as_str(), name)) {
                node_page.insert(n, i);
            }
        }
        Site {
            input,
            lineage,
            pages,
            node_page,
        }
    }

    fn build(&self) -> Vec<SiteFile> {
        let mut files = vec![
            SiteFile {
                path: "index.html".into(),
                contents: self.index(),
            },
            SiteFile {
                path: "assets/site.css".into(),
                contents: html::CSS.into(),
            },
            SiteFile {
                path: "assets/site.js".into(),
                contents: html::JS.into(),
            },
        ];
        let entries = self.search_entries();
        let json = serde_json::to_string(&entries).expect("entries serialize");
        files.push(SiteFile {
            path: "search.json".into(),
            contents: format!("{json}\n"),
        });
        files.push(SiteFile {
            path: "assets/search-index.js".into(),
            contents: format!("window.PIPEC_SEARCH = {json};\n"),
        });
        for p in &self.input.project.pipelines {
            files.push(SiteFile {
                path: pipeline_page(&p.name),
                contents: self.pipeline(p),
            });
        }
        for (i, path) in self.pages.iter().enumerate() {
            files.push(SiteFile {
                path: path.clone(),
                contents: self.relation(i),
            });
        }
        files
    }

    fn pipeline_of(&self, name: &str) -> Option<&'a Pipeline> {
        self.input.project.pipelines.iter().find(|p| p.name == name)
    }

    /// A link (from a page one folder deep) to column `c`.
    fn column_link(&self, c: usize) -> String {
        let col = &self.lineage.columns[c];
        let rel = &self.lineage.relations[col.relation];
        format!(
            "<a class=\"col-link\" href=\"../{}#col-{}\">{}.{}</a>",
            esc(&self.pages[col.relation]),
            esc(&col.column),
            esc(&rel.id),
            esc(&col.column)
        )
    }

    fn dag(&self, keep: &dyn Fn(NodeIndex) -> bool, root: &str) -> String {
        let plan = self.input.plan;
        let parts = layout::layout(plan, keep);
        let href = |n: NodeIndex| {
            self.node_page.get(&n).map(|&i| {
                let anchor = if plan.graph[n].kind == NodeKind::Check {
                    "#checks"
                } else {
                    ""
                };
                format!("{root}{}{anchor}", self.pages[i])
            })
        };
        format!(
            "<div class=\"dag-wrap\">{}</div>\n<p class=\"muted\">Sources green, transforms blue, checks orange, sinks violet; dashed: a check gates a sink; dotted: <code>schedule after</code>. Click a node for its page.</p>\n",
            layout::svg(plan, &parts, &href)
        )
    }

    fn index(&self) -> String {
        let project = self.input.project;
        let mut body = String::from("<h1>Pipelines</h1>\n");
        let rows: Vec<Vec<String>> = project
            .pipelines
            .iter()
            .map(|p| {
                vec![
                    format!(
                        "<a href=\"{}\">{}</a>",
                        esc(&pipeline_page(&p.name)),
                        esc(&p.name)
                    ),
                    esc(&schedule_text(&p.schedule)),
                    esc(schedule_tz(&p.schedule).unwrap_or("—")),
                    esc(p.owner.as_deref().unwrap_or("—")),
                    tags(&p.tags),
                    esc(p.description.as_deref().unwrap_or("")),
                ]
            })
            .collect();
        body.push_str(&table(
            "pipelines",
            &[
                "pipeline",
                "schedule",
                "time zone",
                "owner",
                "tags",
                "description",
            ],
            &rows,
        ));
        body.push_str("<h2>Graph</h2>\n");
        body.push_str(&self.dag(&|_| true, ""));
        if let Some(h) = self.input.history {
            body.push_str("<h2>Run history</h2>\n");
            let rows: Vec<Vec<String>> = project
                .pipelines
                .iter()
                .map(|p| {
                    let runs: Vec<&IntervalRun> = h
                        .intervals
                        .iter()
                        .filter(|r| r.pipeline == p.name)
                        .collect();
                    let done = runs.iter().filter(|r| r.status == "done").count();
                    let failed = runs.iter().filter(|r| r.status == "failed").count();
                    let last = runs.iter().max_by(|a, b| a.start.cmp(&b.start));
                    vec![
                        format!(
                            "<a href=\"{}#history\">{}</a>",
                            esc(&pipeline_page(&p.name)),
                            esc(&p.name)
                        ),
                        runs.len().to_string(),
                        done.to_string(),
                        failed.to_string(),
                        last.map(|r| esc(&r.interval)).unwrap_or_default(),
                    ]
                })
                .collect();
            body.push_str(&table(
                "history-summary",
                &["pipeline", "intervals", "done", "failed", "latest"],
                &rows,
            ));
        }
        page("Pipelines", "", "", &body)
    }

    fn pipeline(&self, p: &Pipeline) -> String {
        let mut body = format!("<h1>Pipeline {}</h1>\n", esc(&p.name));
        if let Some(d) = &p.description {
            let _ = writeln!(body, "<p>{}</p>", esc(d));
        }
        let mut facts: Vec<Vec<String>> = vec![
            vec!["schedule".into(), esc(&schedule_text(&p.schedule))],
            vec![
                "time zone".into(),
                esc(schedule_tz(&p.schedule).unwrap_or("—")),
            ],
            vec!["intervals".into(), esc(&p.interval.to_string())],
            vec!["owner".into(), esc(p.owner.as_deref().unwrap_or("—"))],
            vec!["tags".into(), tags(&p.tags)],
            vec!["file".into(), format!("<code>{}</code>", esc(&p.file))],
        ];
        if let Some(s) = &p.start {
            facts.push(vec!["start".into(), esc(s)]);
        }
        if let Some(e) = &p.end {
            facts.push(vec!["end".into(), esc(e)]);
        }
        facts.push(vec!["catchup".into(), p.catchup.to_string()]);
        facts.push(vec![
            "retries".into(),
            format!("{} (backoff {} s)", p.retries, p.retry_backoff_seconds),
        ]);
        if let Some(t) = p.timeout_seconds {
            facts.push(vec!["timeout".into(), format!("{t} s")]);
        }
        body.push_str(&table("facts", &["", ""], &facts));
        body.push_str("<h2>Graph</h2>\n");
        let plan = self.input.plan;
        body.push_str(&self.dag(&|n| plan.graph[n].pipeline == p.name, "../"));
        body.push_str("<h2>Relations and sinks</h2>\n");
        let rows: Vec<Vec<String>> = self
            .lineage
            .relations
            .iter()
            .enumerate()
            .filter(|(_, r)| r.pipeline == p.name)
            .map(|(i, r)| {
                vec![
                    format!(
                        "<a href=\"../{}\">{}</a>",
                        esc(&self.pages[i]),
                        esc(&r.name)
                    ),
                    role(r.role).into(),
                    format!("<code>{}</code>", esc(&r.origin)),
                    r.columns.len().to_string(),
                ]
            })
            .collect();
        body.push_str(&table(
            "relations",
            &["name", "role", "from", "columns"],
            &rows,
        ));
        if let Some(h) = self.input.history {
            body.push_str(&history_section(h, &p.name));
        }
        page(&p.name, "../", &format!(" / {}", esc(&p.name)), &body)
    }

    fn relation(&self, i: usize) -> String {
        let r = &self.lineage.relations[i];
        let p = self.pipeline_of(&r.pipeline);
        let mut body = format!(
            "<h1>{} <span class=\"muted\">{}</span></h1>\n<p>In pipeline <a href=\"../{}\">{}</a>. From <code>{}</code>.</p>\n",
            esc(&r.name),
            role(r.role),
            esc(&pipeline_page(&r.pipeline)),
            esc(&r.pipeline),
            esc(&r.origin)
        );
        // Sinks writing this relation, or the relation a sink writes.
        let ir_relation = p.and_then(|p| p.relation(&r.name));
        if let Some(p) = p {
            let sinks: Vec<String> = match r.role {
                Role::Sink => p
                    .sinks
                    .iter()
                    .filter(|s| s.name() == r.name)
                    .map(|s| {
                        let target = self.relation_link(&p.name, &s.relation);
                        format!(
                            "Writes {target} with mode <code>{}</code>{}.",
                            mode_text(&s.mode),
                            s.partition_by
                                .as_ref()
                                .map(|c| format!(", partitioned by <code>{}</code>", esc(c)))
                                .unwrap_or_default()
                        )
                    })
                    .collect(),
                _ => p
                    .sinks
                    .iter()
                    .filter(|s| s.relation == r.name)
                    .map(|s| {
                        format!(
                            "Written by sink {}.",
                            self.relation_link(&p.name, &s.name())
                        )
                    })
                    .collect(),
            };
            for s in sinks {
                let _ = writeln!(body, "<p>{s}</p>");
            }
        }
        body.push_str("<h2 id=\"schema\">Schema and column lineage</h2>\n");
        let rows: Vec<Vec<String>> = r
            .columns
            .iter()
            .map(|&c| {
                let col = &self.lineage.columns[c];
                let (ty, nullable) = match col.ty.strip_suffix('?') {
                    Some(t) => (t, true),
                    None => (col.ty.as_str(), false),
                };
                let ups: Vec<String> = self
                    .lineage
                    .inputs(c)
                    .map(|e| {
                        format!(
                            "{} <span class=\"how\">{}</span>",
                            self.column_link(e.from),
                            esc(e.how.name())
                        )
                    })
                    .collect();
                let downs: Vec<String> = self
                    .lineage
                    .outputs(c)
                    .map(|e| {
                        format!(
                            "{} <span class=\"how\">{}</span>",
                            self.column_link(e.to),
                            esc(e.how.name())
                        )
                    })
                    .collect();
                let kind = match col.kind {
                    ColumnKind::Source => "source",
                    ColumnKind::Derived => "derived",
                    ColumnKind::Opaque => "opaque (raw sql)",
                };
                vec![
                    format!(
                        "<code id=\"col-{}\">{}</code>",
                        esc(&col.column),
                        esc(&col.column)
                    ),
                    format!("<code>{}</code>", esc(ty)),
                    if nullable { "yes" } else { "no" }.into(),
                    format!(
                        "{}{}",
                        kind,
                        col.step
                            .as_ref()
                            .map(|s| format!("<br><code>{}</code>", esc(s)))
                            .unwrap_or_default()
                    ),
                    lineage_cell(&ups, "upstream"),
                    lineage_cell(&downs, "downstream"),
                ]
            })
            .collect();
        body.push_str(&table(
            "schema",
            &[
                "column",
                "type",
                "nullable",
                "computed",
                "upstream (direct inputs)",
                "downstream (direct uses)",
            ],
            &rows,
        ));
        if !r.rows.is_empty() {
            body.push_str("<h3>Row conditions</h3>\n<ul>\n");
            for rc in &r.rows {
                let cols: Vec<String> = rc.columns.iter().map(|&c| self.column_link(c)).collect();
                let _ = writeln!(
                    body,
                    "<li><code>{}</code>{}{}</li>",
                    esc(&rc.step),
                    if cols.is_empty() {
                        String::new()
                    } else {
                        format!(" reads {}", cols.join(", "))
                    },
                    if rc.opaque { " (reads raw sql)" } else { "" }
                );
            }
            body.push_str("</ul>\n");
        }
        if let Some(rel) = ir_relation.filter(|_| r.role != Role::Sink) {
            if let RelationKind::Transform(t) = &rel.kind {
                body.push_str("<h2 id=\"steps\">Steps</h2>\n");
                let mut rows: Vec<Vec<String>> = Vec::new();
                let head = match &t.head {
                    Head::Relation(n) => self.relation_link(&r.pipeline, n),
                    Head::Sql { .. } => "raw <code>sql</code> block".into(),
                };
                rows.push(vec!["0".into(), format!("from {head}"), String::new()]);
                for (n, s) in t.steps.iter().enumerate() {
                    let text = self
                        .text(s.span)
                        .map(|t| format!("<code>{}</code>", esc(t.trim())))
                        .unwrap_or_default();
                    let cols: Vec<String> = s.schema.columns.iter().map(|c| esc(&c.name)).collect();
                    rows.push(vec![(n + 1).to_string(), text, cols.join(", ")]);
                }
                body.push_str(&table("steps", &["#", "step", "columns after"], &rows));
                body.push_str(&self.sql_section(p.expect("relation of a pipeline"), &rel.name));
            }
        }
        if let Some(p) = p.filter(|_| r.role != Role::Sink) {
            let rules: Vec<Vec<String>> = p
                .checks
                .iter()
                .filter(|c| c.relation == r.name)
                .flat_map(|c| c.rules.iter())
                .map(|rule| vec![format!("<code>{}</code>", esc(&rule.text))])
                .collect();
            body.push_str("<h2 id=\"checks\">Checks</h2>\n");
            if rules.is_empty() {
                body.push_str("<p class=\"muted\">No checks.</p>\n");
            } else {
                body.push_str("<p>Run on the staged rows before anything is published; any failure publishes nothing.</p>\n");
                body.push_str(&table("checks", &["rule"], &rules));
            }
            let tests: Vec<&Test> = p.tests.iter().filter(|t| t.relation == r.name).collect();
            body.push_str("<h2 id=\"tests\">Tests</h2>\n");
            if tests.is_empty() {
                body.push_str("<p class=\"muted\">No tests.</p>\n");
            }
            for t in tests {
                body.push_str(&test_html(t, self, &p.name));
            }
            if let Some(h) = self.input.history {
                let checks: Vec<Vec<String>> = h
                    .checks
                    .iter()
                    .filter(|c| c.pipeline == p.name && c.relation == r.name)
                    .map(|c| {
                        vec![
                            esc(&c.start),
                            format!("<code>{}</code>", esc(&c.rule)),
                            if c.passed {
                                "<span class=\"pass\">passed</span>".into()
                            } else {
                                "<span class=\"fail\">failed</span>".into()
                            },
                            esc(c.detail.as_deref().unwrap_or("")),
                        ]
                    })
                    .collect();
                if !checks.is_empty() {
                    body.push_str("<h2 id=\"check-results\">Check results</h2>\n");
                    body.push_str(&table(
                        "check-results",
                        &["interval start (UTC)", "rule", "result", "detail"],
                        &checks,
                    ));
                }
            }
        }
        page(
            &r.id,
            "../",
            &format!(
                " / <a href=\"../{}\">{}</a> / {}",
                esc(&pipeline_page(&r.pipeline)),
                esc(&r.pipeline),
                esc(&r.name)
            ),
            &body,
        )
    }

    fn relation_link(&self, pipeline: &str, name: &str) -> String {
        match self
            .lineage
            .relations
            .iter()
            .position(|r| r.pipeline == pipeline && r.name == name)
        {
            Some(i) => format!("<a href=\"../{}\">{}</a>", esc(&self.pages[i]), esc(name)),
            None => format!("<code>{}</code>", esc(name)),
        }
    }

    fn text(&self, span: pipec_diag::Span) -> Option<&'a str> {
        let (_, file) = self.input.sources.iter().find(|(id, _)| *id == span.file)?;
        file.text.get(span.start as usize..span.end as usize)
    }

    fn sql_section(&self, p: &Pipeline, relation: &str) -> String {
        let mut out = String::from("<h2 id=\"sql\">Compiled SQL</h2>\n");
        if let Some(sql) = duckdb_sql(p, relation) {
            out.push_str("<h3>DuckDB (<code>pipec run</code>)</h3>\n");
            let _ = writeln!(
                out,
                "<pre><code class=\"sql duckdb\">{}</code></pre>",
                esc(&sql)
            );
        }
        let options = pipec_emit::Options::default();
        match pipec_spark::relation_sql(self.input.project, p, relation, &options) {
            Some(Ok(statements)) if !statements.is_empty() => {
                out.push_str("<h3>Spark SQL (<code>pipec emit --target spark</code>)</h3>\n");
                let _ = writeln!(
                    out,
                    "<pre><code class=\"sql spark\">{}</code></pre>",
                    esc(&pipec_sql::readable_marks(&statements.join("\n\n")))
                );
            }
            Some(Err(diags)) => {
                out.push_str("<h3>Spark SQL</h3>\n<p class=\"muted\">Not available: ");
                let msgs: Vec<String> = diags.iter().map(|d| esc(&d.message)).collect();
                out.push_str(&msgs.join("; "));
                out.push_str("</p>\n");
            }
            _ => {}
        }
        match pipec_sam::relation_sql(self.input.project, p, relation, &options) {
            Some(Ok(sql)) if !sql.is_empty() => {
                out.push_str("<h3>Athena (<code>pipec emit --target sam</code>)</h3>\n");
                let _ = writeln!(
                    out,
                    "<pre><code class=\"sql athena\">{}</code></pre>",
                    esc(&pipec_sql::readable_marks(&sql))
                );
            }
            Some(Err(diags)) => {
                out.push_str("<h3>Athena</h3>\n<p class=\"muted\">Not available: ");
                let msgs: Vec<String> = diags.iter().map(|d| esc(&d.message)).collect();
                out.push_str(&msgs.join("; "));
                out.push_str("</p>\n");
            }
            _ => {}
        }
        out
    }

    fn search_entries(&self) -> Vec<Entry> {
        let mut out = Vec::new();
        for p in &self.input.project.pipelines {
            out.push(Entry {
                kind: "pipeline",
                name: p.name.clone(),
                label: p.name.clone(),
                url: pipeline_page(&p.name),
                text: format!(
                    "{} {} {} {}",
                    p.name,
                    p.owner.as_deref().unwrap_or(""),
                    p.tags.join(" "),
                    p.description.as_deref().unwrap_or("")
                ),
            });
        }
        for (i, r) in self.lineage.relations.iter().enumerate() {
            out.push(Entry {
                kind: role(r.role),
                name: r.name.clone(),
                label: r.id.clone(),
                url: self.pages[i].clone(),
                text: r.id.clone(),
            });
        }
        for (i, r) in self.lineage.relations.iter().enumerate() {
            for &c in &r.columns {
                let col = &self.lineage.columns[c];
                out.push(Entry {
                    kind: "column",
                    name: col.column.clone(),
                    label: format!("{}.{} : {}", r.id, col.column, col.ty),
                    url: format!("{}#col-{}", self.pages[i], col.column),
                    text: format!("{} {}", col.column, r.id),
                });
            }
        }
        out
    }
}

fn role(r: Role) -> &'static str {
    match r {
        Role::Source => "source",
        Role::Transform => "transform",
        Role::Sink => "sink",
    }
}

fn tags(tags: &[String]) -> String {
    tags.iter()
        .map(|t| format!("<span class=\"tag\">{}</span>", esc(t)))
        .collect()
}

fn lineage_cell(links: &[String], class: &str) -> String {
    if links.is_empty() {
        return "<span class=\"muted\">—</span>".into();
    }
    format!(
        "<ul class=\"lineage {class}\">{}</ul>",
        links
            .iter()
            .map(|l| format!("<li>{l}</li>"))
            .collect::<String>()
    )
}

fn mode_text(m: &SinkMode) -> String {
    match m {
        SinkMode::Append => "append".into(),
        SinkMode::Replace => "replace".into(),
        SinkMode::Merge { keys } => format!("merge on ({})", esc(&keys.join(", "))),
        SinkMode::Incremental { column } => format!("incremental on {}", esc(column)),
    }
}

/// The `SELECT` that `pipec run` stages for `relation` (the runner wraps it in
/// `CREATE TABLE … AS`), from the generator every backend uses, relations named as in the spec
/// and run values written `{ds}`.
fn duckdb_sql(p: &Pipeline, relation: &str) -> Option<String> {
    let rel = p.relation(relation)?;
    let RelationKind::Transform(t) = &rel.kind else {
        return None;
    };
    let head_schema = match &t.head {
        Head::Relation(n) => p.relation(n).map(|r| r.schema.clone()).unwrap_or_default(),
        Head::Sql { .. } => Default::default(),
    };
    let tables = |n: &str| pipec_sql::ident(n);
    let ctx = pipec_sql::Ctx::vars(pipec_sql::Dialect::DuckDb);
    let select = ctx.transform(t, &head_schema, &tables);
    let cols = pipec_sql::Dialect::DuckDb.cast_columns(&rel.schema);
    Some(pipec_sql::readable_marks(&format!(
        "SELECT {cols} FROM ({select}) AS t"
    )))
}

fn test_html(t: &Test, site: &Site, pipeline: &str) -> String {
    let mut out = format!("<h3 id=\"test-{}\">{}</h3>\n", esc(&t.name), esc(&t.name));
    if let Some(ds) = &t.ds {
        let _ = writeln!(out, "<p>Run date <code>{}</code>.</p>", esc(ds));
    }
    let fixture = |f: &pipec_check::ir::Fixture| {
        let head: Vec<&str> = f.columns.iter().map(|c| c.name.as_str()).collect();
        let rows: Vec<Vec<String>> = f
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|l| format!("<code>{}</code>", esc(&pipec_sql::literal(l))))
                    .collect()
            })
            .collect();
        table("fixture", &head, &rows)
    };
    for g in &t.given {
        let _ = writeln!(
            out,
            "<p>Given {}:</p>",
            site.relation_link(pipeline, &g.relation)
        );
        out.push_str(&fixture(g));
    }
    if let Some(e) = &t.expect {
        out.push_str("<p>Expect:</p>\n");
        out.push_str(&fixture(e));
    }
    out
}

/// Run history of one pipeline: a bar chart of rows written per interval, the intervals, and
/// the rejects.
fn history_section(h: &History, pipeline: &str) -> String {
    let runs: Vec<&IntervalRun> = h
        .intervals
        .iter()
        .filter(|r| r.pipeline == pipeline)
        .collect();
    let mut out = String::from("<h2 id=\"history\">Run history</h2>\n");
    if runs.is_empty() {
        out.push_str("<p class=\"muted\">No runs recorded in the warehouse.</p>\n");
        return out;
    }
    out.push_str(&bar_chart(&runs));
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                esc(&r.interval),
                esc(&r.start),
                format!(
                    "<span class=\"status-{}\">{}</span>",
                    esc(&r.status),
                    esc(&r.status)
                ),
                r.attempts.to_string(),
                esc(&r.finished_at),
                r.rows_written.map(|n| n.to_string()).unwrap_or_default(),
                esc(r.error.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    out.push_str(&table(
        "history",
        &[
            "interval",
            "start (UTC)",
            "status",
            "attempts",
            "finished",
            "rows written",
            "error",
        ],
        &rows,
    ));
    let failed: Vec<Vec<String>> = h
        .checks
        .iter()
        .filter(|c| c.pipeline == pipeline && !c.passed)
        .map(|c| {
            vec![
                esc(&c.start),
                esc(&c.relation),
                format!("<code>{}</code>", esc(&c.rule)),
                esc(c.detail.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    let total = h.checks.iter().filter(|c| c.pipeline == pipeline).count();
    let _ = writeln!(
        out,
        "<h3>Check results</h3>\n<p>{total} check results recorded, {} failed.</p>",
        failed.len()
    );
    if !failed.is_empty() {
        out.push_str(&table(
            "failed-checks",
            &["interval start (UTC)", "relation", "rule", "detail"],
            &failed,
        ));
    }
    let rejects: Vec<Vec<String>> = h
        .rejects
        .iter()
        .filter(|r| r.pipeline == pipeline)
        .map(|r| {
            vec![
                esc(&r.start),
                esc(&r.source),
                esc(r.file.as_deref().unwrap_or("")),
                r.line.map(|l| l.to_string()).unwrap_or_default(),
                esc(r.column.as_deref().unwrap_or("")),
                esc(&r.error),
            ]
        })
        .collect();
    let _ = writeln!(
        out,
        "<h3>Rejected rows</h3>\n<p>{} rejected rows.</p>",
        rejects.len()
    );
    if !rejects.is_empty() {
        out.push_str(&table(
            "rejects",
            &[
                "interval start (UTC)",
                "source",
                "file",
                "line",
                "column",
                "error",
            ],
            &rejects,
        ));
    }
    out
}

/// Rows written per interval as an inline SVG bar chart (newest 60 intervals).
fn bar_chart(runs: &[&IntervalRun]) -> String {
    let shown: Vec<&&IntervalRun> = runs.iter().rev().take(60).rev().collect();
    let max = shown
        .iter()
        .filter_map(|r| r.rows_written)
        .max()
        .unwrap_or(0)
        .max(1);
    let n = shown.len() as i64;
    let (gap, h, top, bottom) = (4i64, 120i64, 14i64, 18i64);
    let bar = (320 / n.max(1) - gap).clamp(6, 40);
    let bars_end = 40 + n * (bar + gap) - gap;
    // Room for the first and last interval's labels side by side.
    let width = bars_end.max(220);
    let mut out = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=\"img\" aria-label=\"rows written per interval\">\n<text x=\"0\" y=\"10\">{max} rows</text>\n",
        h + top + bottom
    );
    for (i, r) in shown.iter().enumerate() {
        let n = r.rows_written.unwrap_or(0);
        let bh = n * h / max;
        let x = 40 + i as i64 * (bar + gap);
        let y = top + h - bh;
        let _ = writeln!(
            out,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{bh}\"><title>{}: {} rows ({})</title></rect>",
            esc(&r.interval),
            n,
            esc(&r.status)
        );
    }
    let y = h + top + bottom - 4;
    if let Some(first) = shown.first() {
        let _ = writeln!(
            out,
            "<text x=\"40\" y=\"{y}\">{}</text>",
            esc(&first.interval)
        );
    }
    if let (true, Some(last)) = (shown.len() > 1, shown.last()) {
        let _ = writeln!(
            out,
            "<text x=\"{width}\" y=\"{y}\" text-anchor=\"end\">{}</text>",
            esc(&last.interval)
        );
    }
    out.push_str("</svg>\n");
    out
}
