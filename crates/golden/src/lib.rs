//! Test support for the golden corpus under `tests/cases/`: compiles a case (a `.pipe` file or a
//! folder of them) through syntax → check → plan and renders every stage's result as text. A
//! case with a `# golden: sql` line also shows the DuckDB SQL of each of its transforms, one
//! with `# golden: options` every source with its typed options.

use std::fmt::Write;
use std::path::Path;

use pipec_check::ir::{FileOptions, RelationKind, Source};
use pipec_check::NoFiles;
use pipec_diag::{RenderOptions, SourceMap};

/// The outcome of compiling one case.
pub struct Outcome {
    /// Rendered snapshot text: diagnostics, or typed schemas and plan order when clean.
    pub snapshot: String,
    /// Codes of all diagnostics, in source order.
    pub codes: Vec<String>,
}

/// Compiles `files` (name, text) as one project and renders the result.
pub fn compile(files: &[(String, String)]) -> Outcome {
    compile_with(files, true)
}

/// [`compile`], showing the diagnostics' fixes and what applying them leaves when `show_fixes`.
fn compile_with(files: &[(String, String)], show_fixes: bool) -> Outcome {
    let mut sources = SourceMap::new();
    let roots: Vec<_> = files
        .iter()
        .map(|(n, t)| sources.add(n.clone(), t.clone()))
        .collect();
    let checked = pipec_check::check(&mut sources, &roots, &NoFiles);
    let mut diags = checked.diagnostics.clone();
    let plan = if checked.has_errors() {
        None
    } else {
        match pipec_plan::plan(&checked.project) {
            Ok(p) => Some(p),
            Err(e) => {
                diags.extend(e);
                None
            }
        }
    };
    let mut out = String::new();
    if !diags.is_empty() {
        out.push_str("--- diagnostics ---\n");
        out.push_str(&pipec_diag::render_all(
            &diags,
            &sources,
            RenderOptions {
                color: false,
                width: 100,
            },
        ));
    }
    if show_fixes && diags.iter().any(|d| !d.fixes.is_empty()) {
        out.push_str(&fixes(files, &roots, &sources, &diags));
    }
    if let Some(plan) = plan {
        out.push_str("--- typed schemas ---\n");
        for p in &checked.project.pipelines {
            let _ = writeln!(
                out,
                "pipeline {} ({:?}) intervals: {}",
                p.name, p.schedule, p.interval
            );
            for r in &p.relations {
                let kind = match r.kind {
                    RelationKind::Source(_) => "source",
                    RelationKind::Transform(_) => "transform",
                };
                let _ = writeln!(out, "  {kind} {} {}", r.name, r.schema);
                if let RelationKind::Source(Source::File {
                    options:
                        FileOptions {
                            retention: Some(ret),
                            ..
                        },
                    ..
                }) = &r.kind
                {
                    let _ = writeln!(out, "    retention: {ret}");
                }
            }
            for s in &p.sinks {
                let _ = writeln!(
                    out,
                    "  sink {} <- {} {:?} partition={:?}",
                    s.name(),
                    s.relation,
                    s.mode,
                    s.partition_by
                );
                if let Some(r) = &s.retention {
                    let _ = writeln!(out, "    retention: {r}");
                }
            }
            for c in &p.checks {
                for r in &c.rules {
                    let _ = writeln!(out, "  check {}: {}", c.relation, r.text);
                }
            }
            for t in &p.tests {
                let _ = writeln!(out, "  test {} for {}", t.name, t.relation);
            }
        }
        if files.iter().any(|(_, t)| t.contains("# golden: sql")) {
            out.push_str(&transform_sql(&checked.project));
        }
        if files.iter().any(|(_, t)| t.contains("# golden: options")) {
            out.push_str(&source_options(&checked.project));
        }
        out.push_str("--- plan ---\n");
        for (n, level) in plan.levels.iter().enumerate() {
            let names: Vec<String> = level.iter().map(|&i| plan.graph[i].id()).collect();
            let _ = writeln!(out, "  level {n}: {}", names.join(", "));
        }
    }
    let codes = diags.iter().map(|d| d.code.id.to_string()).collect();
    Outcome {
        snapshot: out,
        codes,
    }
}

/// The machine-applicable fixes of `diags`, each as `file:line:col: `old` -> `new``, then the
/// codes left when every fix is applied to its file and the case compiled again.
fn fixes(
    files: &[(String, String)],
    roots: &[pipec_diag::FileId],
    sources: &SourceMap,
    diags: &[pipec_diag::Diagnostic],
) -> String {
    let mut out = String::from("--- fixes ---\n");
    let all: Vec<&pipec_diag::Fix> = diags.iter().flat_map(|d| &d.fixes).collect();
    for fix in &all {
        let f = sources.get(fix.span.file);
        let at = f.line_col(fix.span.start as usize);
        let old = &f.text[fix.span.start as usize..fix.span.end as usize];
        let edit = if old.is_empty() {
            format!("insert `{}`", fix.replacement)
        } else {
            format!("`{old}` -> `{}`", fix.replacement)
        };
        let _ = writeln!(out, "{}:{}:{}: {edit}", f.name, at.line, at.column);
    }
    let fixed: Vec<(String, String)> = files
        .iter()
        .zip(roots)
        .map(|((name, text), &id)| {
            let mine = all.iter().copied().filter(|f| f.span.file == id);
            (name.clone(), pipec_diag::apply_fixes(text, mine))
        })
        .collect();
    let again = compile_with(&fixed, false);
    out.push_str("--- after fixes ---\n");
    if again.codes.is_empty() {
        out.push_str("  no diagnostics\n");
    } else {
        let _ = writeln!(out, "  {}", again.codes.join(" "));
    }
    out
}

/// Every source as the IR holds it, typed options with defaults applied (for cases marked
/// `# golden: options`).
fn source_options(project: &pipec_check::ir::Project) -> String {
    let mut out = String::from("--- sources ---\n");
    for p in &project.pipelines {
        for r in &p.relations {
            if let RelationKind::Source(s) = &r.kind {
                let _ = writeln!(out, "{}.{} = {s:#?}", p.name, r.name);
            }
        }
    }
    out
}

/// The DuckDB SQL of every transform (for cases marked `# golden: sql`), for each pipeline's
/// first interval of 2024-01-01 under its schedule, relations named by their own names.
fn transform_sql(project: &pipec_check::ir::Project) -> String {
    use pipec_check::ir::Head;
    let mut out = String::from("--- sql (duckdb, ds 2024-01-01) ---\n");
    let tables = |n: &str| pipec_sql::ident(n);
    let day = "2024-01-01".parse().expect("a date");
    for p in &project.pipelines {
        let run = pipec_check::schedule::Rule::new(&p.interval)
            .and_then(|r| r.day(day).first().map(pipec_sql::Interval::from))
            .unwrap_or_else(|| pipec_sql::Interval::daily("2024-01-01", "2024-01-02"));
        for r in &p.relations {
            let RelationKind::Transform(t) = &r.kind else {
                continue;
            };
            let head = match &t.head {
                Head::Relation(n) => p.relation(n).map(|r| r.schema.clone()).unwrap_or_default(),
                Head::Sql { .. } => Default::default(),
            };
            let _ = writeln!(out, "-- {}.{}", p.name, r.name);
            let _ = writeln!(out, "{}", pipec_sql::transform(t, &head, &tables, &run));
        }
    }
    // The emit dialects, with run values as the variables each target fills in (a DuckDB,
    // PostgreSQL or Athena variable mark is shown as `§`).
    for dialect in [
        pipec_sql::Dialect::Spark,
        pipec_sql::Dialect::Postgres,
        pipec_sql::Dialect::Athena,
    ] {
        let ctx = pipec_sql::Ctx::vars(dialect);
        let _ = writeln!(
            out,
            "--- sql ({}, run values as variables) ---",
            dialect.name()
        );
        let tables = |n: &str| dialect.ident(n);
        for p in &project.pipelines {
            for r in &p.relations {
                let RelationKind::Transform(t) = &r.kind else {
                    continue;
                };
                let head = match &t.head {
                    Head::Relation(n) => {
                        p.relation(n).map(|r| r.schema.clone()).unwrap_or_default()
                    }
                    Head::Sql { .. } => Default::default(),
                };
                let _ = writeln!(out, "-- {}.{}", p.name, r.name);
                for (b, why) in ctx.unsupported(t) {
                    let _ = writeln!(out, "-- not supported: {b}: {why}");
                }
                let sql = ctx
                    .transform(t, &head, &tables)
                    .replace(pipec_sql::MARK, "§");
                let _ = writeln!(out, "{sql}");
            }
        }
    }
    out
}

/// Reads a case: a `.pipe` file, or every `.pipe` file of a folder (sorted). Names are relative
/// to `root` so snapshots do not depend on where the repository lives.
pub fn read_case(root: &Path, case: &Path) -> Vec<(String, String)> {
    let mut paths = Vec::new();
    if case.is_dir() {
        for e in std::fs::read_dir(case).expect("case folder").flatten() {
            if e.path().extension().is_some_and(|x| x == "pipe") {
                paths.push(e.path());
            }
        }
        paths.sort();
    } else {
        paths.push(case.to_path_buf());
    }
    paths
        .into_iter()
        .map(|p| {
            let name = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            (name, std::fs::read_to_string(&p).expect("case file"))
        })
        .collect()
}

/// Codes a case declares with `# expect: E0102` comments, sorted.
pub fn expected_codes(files: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (_, text) in files {
        for line in text.lines() {
            if let Some((_, rest)) = line.split_once("# expect:") {
                out.extend(
                    rest.split([',', ' '])
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                );
            }
        }
    }
    out.sort();
    out
}

/// A generated project of about `nodes` DAG nodes: pipelines of ten nodes each (two sources, six
/// transforms with filter/derive/join/group/window/sort steps, a check and a sink), like a dbt
/// project of many small models.
pub fn generate_project(nodes: usize) -> Vec<(String, String)> {
    let pipelines = nodes.div_ceil(10).max(1);
    (0..pipelines)
        .map(|i| {
            let text = format!(
                r#"# generated pipeline {i}
pipeline p{i} {{
  schedule daily at 03:00 "Asia/Seoul"
  start 2024-01-01
  retries 2 backoff 1m
}}

source events = csv("data/events_{i}/{{ds}}.csv", header = true) {{
  event_id: bigint, user_id: int, kind: string, amount: float?, at: timestamp
}}

source users = parquet("lake/users_{i}.parquet") {{
  user_id: int, country: string, signed_up: date
}}

transform clean = events | filter amount is not null and kind in ["view", "buy"]
transform enriched = clean | join left users using (user_id) | derive day = @ds, big = amount > 100.0
transform by_user = enriched | group day, user_id, country {{ n = count(), total = sum(amount) }}
transform ranked = by_user | window partition country order total desc {{ rank = row_number() }}
transform top = ranked | filter rank <= 10 | sort country, rank
transform daily = by_user | group day {{ users = count_distinct(user_id), revenue = sum(total) }}

check daily {{ unique(day)  row_count(min = 1)  revenue >= 0 }}
sink top -> mart.top_{i} {{ mode merge on (day, user_id) }}
sink daily -> mart.daily_{i} {{ mode replace partition by day }}
"#
            );
            (format!("gen/p{i}.pipe"), text)
        })
        .collect()
}

/// Checks a generated project (files in memory) and plans it; panics if it does not check clean.
pub fn check_and_plan_project(
    files: &[(String, String)],
) -> (pipec_check::ir::Project, pipec_plan::Plan) {
    let mut sources = SourceMap::new();
    let roots: Vec<_> = files
        .iter()
        .map(|(n, t)| sources.add(n.clone(), t.clone()))
        .collect();
    let checked = pipec_check::check(&mut sources, &roots, &NoFiles);
    assert!(!checked.has_errors(), "generated project must check clean");
    let plan = pipec_plan::plan(&checked.project).expect("generated project plans");
    (checked.project, plan)
}

/// Checks and plans a generated project; returns the number of DAG nodes.
pub fn check_and_plan(files: &[(String, String)]) -> usize {
    check_and_plan_project(files).1.graph.node_count()
}

/// Big single-file inputs that once made `check` quadratic (issue 8): each must stay linear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BigInput {
    /// `n` repeated `import std.dates` lines: one duplicate-import diagnostic per line after the
    /// first, every one rendered as text with its excerpt.
    RepeatedImports,
    /// One `derive` with `n` assignments, each reading the column made by the one before.
    WideDerive,
    /// A schedule whose time zone is an unknown name of `n` bytes.
    LongTimeZone,
}

impl BigInput {
    /// Every shape, in benchmark order.
    pub const ALL: [BigInput; 3] = [
        BigInput::RepeatedImports,
        BigInput::WideDerive,
        BigInput::LongTimeZone,
    ];

    /// A short name for benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            BigInput::RepeatedImports => "repeated_imports",
            BigInput::WideDerive => "wide_derive",
            BigInput::LongTimeZone => "long_time_zone",
        }
    }

    /// The `.pipe` text of this shape at size `n`.
    pub fn text(self, n: usize) -> String {
        const TAIL: &str = "source rentals = csv(\"data/{ds}.csv\") { rental_id: int }\n";
        match self {
            BigInput::RepeatedImports => {
                let mut t = "import std.dates\n".repeat(n);
                t.push_str("pipeline p { schedule daily }\n");
                t.push_str(TAIL);
                t.push_str("sink rentals -> mart.r\n");
                t
            }
            BigInput::WideDerive => {
                let mut t = format!("pipeline p {{ schedule daily }}\n{TAIL}transform wide = rentals\n  | derive c0 = rental_id");
                for i in 1..n {
                    let _ = write!(t, ",\n    c{i} = c{} + 1", i - 1);
                }
                t.push_str("\nsink wide -> mart.wide\n");
                t
            }
            BigInput::LongTimeZone => {
                let zone = "Asia/Seoul".repeat(n / 10 + 1);
                format!(
                    "pipeline p {{ schedule daily at 03:00 \"{}\" }}\n{TAIL}sink rentals -> mart.r\n",
                    &zone[..n]
                )
            }
        }
    }
}

/// Parses and checks one file and renders its diagnostics as text, as `pipec check` does;
/// returns the number of diagnostics and the rendered text.
pub fn check_and_render(text: &str) -> (usize, String) {
    let mut sources = SourceMap::new();
    let root = sources.add("big.pipe", text);
    let checked = pipec_check::check(&mut sources, &[root], &NoFiles);
    let rendered = pipec_diag::render_all(
        &checked.diagnostics,
        &sources,
        RenderOptions {
            color: false,
            width: 100,
        },
    );
    (checked.diagnostics.len(), rendered)
}

/// Runs `bash scripts/<script>` in the repository root (the editor tooling tests, which install
/// their Node/tree-sitter tools themselves); its success and its stdout then stderr.
pub fn run_script(script: &str) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts").join(script))
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("bash cannot run scripts/{script}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
