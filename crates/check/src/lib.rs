//! The check stage: untyped ASTs of a project's files → typed [`ir::Project`].
//!
//! Resolves every name (relations, columns, functions, imports, pipelines), infers column types
//! and nullability through every step, validates schedules and options, and reports every
//! problem of every file at once, in source order. Does no IO: files outside the [`SourceMap`]
//! are read through the caller's [`Loader`].

mod expand;
mod expr;
pub mod functions;
pub mod ir;
mod items;
mod pipeline;
mod relation;
pub mod retention;
pub mod schedule;
mod session;
pub mod stdlib;

/// Words of the language beyond keywords and builtins, for tools (the editor grammars are
/// tested against them in `crates/golden/tests/grammars.rs`).
pub mod vocab {
    pub use crate::items::{CHECK_BUILTINS, MODES};
    pub use crate::relation::{source_options, SOURCE_KINDS, TEMPLATE_VARS};
}

use std::collections::HashMap;

use pipec_diag::{codes, did_you_mean, Diagnostic, FileId, SourceMap, Span};
use pipec_syntax::ast::{self, ImportTarget, Item};

pub use ir::Project;
pub use session::{Session, Update};

/// Reads files named by `import "path"`. Paths are already joined to the importing file's folder.
pub trait Loader {
    /// The text of `path`, or `None` when it cannot be read.
    fn load(&self, path: &str) -> Option<String>;
}

/// A loader that knows no files (only `std` imports work).
pub struct NoFiles;

impl Loader for NoFiles {
    fn load(&self, _path: &str) -> Option<String> {
        None
    }
}

/// The result of checking: the typed project (complete only when there are no errors) and all
/// diagnostics in source order.
#[derive(Debug, Default)]
pub struct Checked {
    /// Pipelines that checked (possibly partially, when there are errors).
    pub project: Project,
    /// Errors and warnings, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// True when any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// A parsed file with what it imports.
pub(crate) struct Unit {
    pub module: ast::Module,
    pub broken: Vec<String>,
    /// The parser reported errors: declarations may be missing, so nothing is "never used".
    pub syntax_errors: bool,
    /// The name of the file's `pipeline` block when that block failed to parse.
    pub broken_pipeline: Option<ast::Ident>,
    /// Namespace → imported file, with the `import` that names it.
    pub imports: Vec<(String, FileId, Span)>,
}

/// The schema of a warehouse table, from the sink of a checked pipeline that writes it.
#[derive(PartialEq)]
pub(crate) struct TableSchema {
    /// Columns of the relation the sink writes.
    pub schema: ir::Schema,
    /// The writing pipeline.
    pub pipeline: String,
    /// The sink declaration.
    pub sink: Span,
}

/// Everything the per-pipeline checker needs to look up.
pub(crate) struct World<'a> {
    pub units: &'a HashMap<FileId, Unit>,
    pub sources: &'a SourceMap,
    /// Tables written by sinks of the files checked so far (keys as [`table_key`]); `None` when
    /// the writing sink did not check.
    pub tables: &'a HashMap<String, Option<std::sync::Arc<TableSchema>>>,
    /// Every table a sink of the project writes (keys as [`table_key`]).
    pub written: &'a std::collections::HashSet<String>,
}

impl World<'_> {
    /// The define visible from `file` under `name` (own defines unqualified, imports as `ns.name`).
    pub fn define(&self, file: FileId, name: &str) -> Option<(FileId, &ast::DefineDecl)> {
        let unit = self.units.get(&file)?;
        let find = |f: FileId, n: &str| {
            self.units.get(&f).and_then(|u| {
                u.module.items.iter().find_map(|i| match i {
                    Item::Define(d) if d.name.name == n => Some((f, d)),
                    _ => None,
                })
            })
        };
        match name.rsplit_once('.') {
            None => find(file, name),
            Some((ns, n)) => unit
                .imports
                .iter()
                .find(|(alias, _, _)| alias == ns)
                .and_then(|(_, f, _)| find(*f, n)),
        }
    }

    /// Every define name visible from `file` (for "did you mean").
    pub fn define_names(&self, file: FileId) -> Vec<String> {
        let mut out = Vec::new();
        let Some(unit) = self.units.get(&file) else {
            return out;
        };
        let defines = |f: FileId| -> Vec<String> {
            self.units
                .get(&f)
                .map(|u| {
                    u.module
                        .items
                        .iter()
                        .filter_map(|i| match i {
                            Item::Define(d) => Some(d.name.name.clone()),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        out.extend(defines(file));
        for (ns, f, _) in &unit.imports {
            out.extend(defines(*f).into_iter().map(|d| format!("{ns}.{d}")));
        }
        out
    }
}

/// Checks the project made of `roots` (files already in `sources`). Imports are parsed and added
/// to `sources` as they are found; `std.*` modules come from the embedded standard library.
pub fn check(sources: &mut SourceMap, roots: &[FileId], loader: &dyn Loader) -> Checked {
    let mut session = Session::new();
    session.update(sources, roots, &[], loader);
    session.into_checked()
}

/// The checks over the whole project once each file's pipeline is known: tables written by two
/// pipelines, unknown `after` pipelines, intervals of `after` pipelines, partitions of intervals
/// shorter than a day. Sorts `diags` (stably, by position) and drops repeats.
fn project_passes(
    project: &mut Project,
    after_refs: &[(String, ast::Ident)],
    diags: &mut Vec<Diagnostic>,
) {
    let mut writers: HashMap<String, (&str, Span)> = HashMap::new();
    for p in &project.pipelines {
        for sink in &p.sinks {
            let target = sink.name();
            // Table names ignore case on every engine: `mart.T` and `mart.t` are one table.
            let key = match sink.target {
                ir::SinkTarget::Table { .. } => target.to_lowercase(),
                ir::SinkTarget::File { .. } => target.clone(),
            };
            match writers.get(&key) {
                Some((other, first)) if *other != p.name => diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_NAME,
                        sink.span,
                        format!(
                            "`{target}` is written by pipelines `{other}` and `{}`",
                            p.name
                        ),
                        "second writer",
                    )
                    .with_label(*first, "first writer")
                    .with_help(
                        "give each table one writing pipeline; others read it with `table(...)`",
                    ),
                ),
                Some(_) => {}
                None => {
                    writers.insert(key, (&p.name, sink.span));
                }
            }
        }
    }
    let names: Vec<String> = project.pipelines.iter().map(|p| p.name.clone()).collect();
    for (_, upstream) in after_refs {
        if !names.contains(&upstream.name) {
            let s = did_you_mean(&upstream.name, names.iter().map(String::as_str));
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_PIPELINE,
                    upstream.span,
                    format!("unknown pipeline `{}`", upstream.name),
                    "no pipeline of this name in the project",
                )
                .with_suggestion(s, "check the pipelines together: `pipec check <folder>`"),
            );
        }
    }
    after_intervals(project, after_refs, diags);
    partitions_of_days(project, diags);
    pipec_diag::sort(diags);
    diags.dedup();
}

/// Gives each `after` pipeline the interval rule of its upstreams (through chains of `after`);
/// upstreams with different rules are E0314. Pipelines in a cycle (E0402) keep UTC days.
fn after_intervals(
    project: &mut Project,
    refs: &[(String, ast::Ident)],
    diags: &mut Vec<Diagnostic>,
) {
    use ir::{IntervalRule, Schedule};
    let names: Vec<String> = project.pipelines.iter().map(|p| p.name.clone()).collect();
    let mut resolved: HashMap<String, IntervalRule> = project
        .pipelines
        .iter()
        .filter(|p| !matches!(p.schedule, Schedule::After { .. }))
        .map(|p| (p.name.clone(), p.interval.clone()))
        .collect();
    loop {
        let mut progress = false;
        for p in &project.pipelines {
            let Schedule::After { pipelines } = &p.schedule else {
                continue;
            };
            if resolved.contains_key(&p.name) {
                continue;
            }
            let ups: Vec<&String> = pipelines.iter().filter(|u| names.contains(u)).collect();
            if !ups.iter().all(|u| resolved.contains_key(*u)) {
                continue;
            }
            let rule = ups
                .first()
                .map_or_else(IntervalRule::utc_days, |u| resolved[*u].clone());
            if let Some(other) = ups.iter().find(|u| resolved[**u] != rule) {
                let span_of = |name: &str| {
                    refs.iter()
                        .find(|(down, up)| *down == p.name && up.name == name)
                        .map_or(p.span, |(_, up)| up.span)
                };
                diags.push(
                    Diagnostic::error(
                        codes::AFTER_INTERVALS_DIFFER,
                        span_of(other),
                        format!(
                            "`{}` runs after `{}` and `{other}`, whose intervals differ",
                            p.name, ups[0]
                        ),
                        format!("intervals: {}", resolved[*other]),
                    )
                    .with_label(span_of(ups[0]), format!("intervals: {rule}"))
                    .with_help("an `after` pipeline processes its upstreams' interval: wait only for pipelines with the same intervals, or give it its own schedule and read their tables with `table(...)`"),
                );
            }
            resolved.insert(p.name.clone(), rule);
            progress = true;
        }
        if !progress {
            break;
        }
    }
    for p in &mut project.pipelines {
        if let Some(rule) = resolved.remove(&p.name) {
            p.interval = rule;
        }
    }
}

/// `partition by` on a pipeline whose intervals are shorter than a day is E0315: a partition is
/// a date, so each run would replace the whole day with its own rows.
fn partitions_of_days(project: &Project, diags: &mut Vec<Diagnostic>) {
    for p in &project.pipelines {
        if !schedule::shorter_than_a_day(&p.interval) {
            continue;
        }
        for s in &p.sinks {
            let Some(col) = &s.partition_by else { continue };
            diags.push(
                Diagnostic::error(
                    codes::PARTITION_SHORTER_THAN_DAY,
                    s.span,
                    format!(
                        "`{}` is partitioned by the date `{col}`, but `{}` runs intervals shorter than a day ({}): each run would replace the whole day's partition with its own rows",
                        s.relation, p.name, p.interval
                    ),
                    format!("partition by `{col}`"),
                )
                .with_help("drop `partition by`: with `mode append` each run replaces only its own interval's rows, with `mode merge on (...)` only the keys it writes; or schedule the pipeline `daily`"),
            );
        }
    }
}

/// `schema.table` as the engines compare it: lowercased, `main` when no schema is given.
pub(crate) fn table_key(name: &str) -> String {
    let name = name.to_lowercase();
    if name.contains('.') {
        name
    } else {
        format!("main.{name}")
    }
}

/// Warehouse tables written by the sinks of `module` (keys as [`table_key`]).
fn written_tables(module: &ast::Module) -> Vec<String> {
    module
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Sink(s) => match &s.target {
                ast::SinkTarget::Table(q) => Some(table_key(&q.dotted())),
                ast::SinkTarget::Call(_) => None,
            },
            _ => None,
        })
        .collect()
}

/// Warehouse tables read by the `table("...")` sources of `module` (keys as [`table_key`]).
fn read_tables(module: &ast::Module) -> Vec<String> {
    module
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Source(s) if s.origin.name.dotted() == "table" => {
                match s.origin.args.first().map(|a| &a.value.kind) {
                    Some(ast::ExprKind::Literal(ast::Literal::Str(t))) => Some(table_key(t)),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

/// `f` over independent `items` on all cores (threads with deep stacks, as lowering recurses),
/// results in input order; fewer than 8 items run on the calling thread. Used for files here and
/// for pipelines by the emitters: parallelism changes nothing but the wall time.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    // Asked only when it matters: `available_parallelism` reads cgroup files on every call.
    if items.len() < 8 {
        return items.iter().map(&f).collect();
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if workers <= 1 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let f = &f;
                std::thread::Builder::new()
                    .stack_size(64 * 1024 * 1024)
                    .spawn_scoped(scope, move || part.iter().map(f).collect::<Vec<R>>())
                    .expect("spawn a worker thread")
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

fn resolve_import(
    file: FileId,
    imp: &ast::Import,
    sources: &mut SourceMap,
    loader: &dyn Loader,
    diags: &mut Vec<Diagnostic>,
) -> Option<(String, FileId)> {
    let (path, default_ns, span) = match &imp.target {
        ImportTarget::Module(q) if q.parts.first().is_some_and(|p| p.name == "std") => {
            let module: Vec<&str> = q.parts[1..].iter().map(|p| p.name.as_str()).collect();
            let name = module.join("/");
            let Some(text) = stdlib::get(&name) else {
                let s = did_you_mean(&name, stdlib::MODULES.iter().map(|(n, _)| *n));
                diags.push(
                    Diagnostic::error(
                        codes::UNKNOWN_MODULE,
                        q.span,
                        format!("no module `{}` in the standard library", q.dotted()),
                        "unknown module",
                    )
                    .with_suggestion(
                        s.map(|s| format!("std.{s}")).as_deref(),
                        format!(
                            "std modules: {}",
                            stdlib::MODULES
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                );
                return None;
            };
            let fname = format!("std/{name}.pipe");
            let id = sources
                .find(&fname)
                .unwrap_or_else(|| sources.add(fname, text));
            let ns = imp
                .alias
                .as_ref()
                .map(|a| a.name.clone())
                .unwrap_or_else(|| q.last().name.clone());
            return Some((ns, id));
        }
        ImportTarget::Module(q) => {
            let rel = q
                .parts
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join("/")
                + ".pipe";
            (rel, q.last().name.clone(), q.span)
        }
        ImportTarget::File(s) => {
            let stem = s
                .value
                .rsplit('/')
                .next()
                .unwrap_or(&s.value)
                .trim_end_matches(".pipe")
                .to_string();
            (s.value.clone(), stem, s.span)
        }
    };
    let base = sources.get(file).name.clone();
    let joined = join_path(&base, &path);
    let id = match sources.find(&joined) {
        Some(id) => id,
        None => match loader.load(&joined) {
            Some(text) => sources.add(joined.clone(), text),
            None => {
                diags.push(
                    Diagnostic::error(codes::UNKNOWN_MODULE, span, format!("cannot find `{joined}`"), "no such file")
                        .with_help("paths in `import` are relative to the importing file; standard modules are `std.<name>`"),
                );
                return None;
            }
        },
    };
    let ns = imp
        .alias
        .as_ref()
        .map(|a| a.name.clone())
        .unwrap_or(default_ns);
    Some((ns, id))
}

/// Joins `rel` to the folder of `base`, normalising `.` and `..`.
pub fn join_path(base: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        Vec::new()
    } else {
        let mut p: Vec<&str> = base.split('/').collect();
        p.pop();
        p
    };
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != ".." && !l.is_empty()) {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if rel.starts_with('/') || base.starts_with('/') && !joined.starts_with('/') {
        format!("/{}", joined.trim_start_matches('/'))
    } else {
        joined
    }
}

/// Reports each import cycle once, searching from the files in `order`: the roots in order, then
/// the imported files in the order they were first imported (so the report does not depend on
/// how files were numbered).
fn report_import_cycles(
    units: &HashMap<FileId, Unit>,
    order: &[FileId],
    sources: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) {
    let mut state: HashMap<FileId, u8> = HashMap::new();
    for &start in order {
        if state.get(&start).copied().unwrap_or(0) != 0 {
            continue;
        }
        let mut stack: Vec<(FileId, usize)> = vec![(start, 0)];
        state.insert(start, 1);
        while let Some(&mut (node, ref mut i)) = stack.last_mut() {
            let imports = &units[&node].imports;
            if *i >= imports.len() {
                state.insert(node, 2);
                stack.pop();
                continue;
            }
            let (_, next, span) = &imports[*i];
            *i += 1;
            match state.get(next).copied().unwrap_or(0) {
                0 if units.contains_key(next) => {
                    state.insert(*next, 1);
                    stack.push((*next, 0));
                }
                1 => {
                    // `next` is on the stack: the files from it to `node` import each other in a ring.
                    let from = stack.iter().position(|(f, _)| f == next).unwrap_or(0);
                    let mut chain: Vec<&str> = stack[from..]
                        .iter()
                        .map(|(f, _)| sources.get(*f).name.as_str())
                        .collect();
                    chain.push(sources.get(*next).name.as_str());
                    diags.push(
                        Diagnostic::error(
                            codes::IMPORT_CYCLE,
                            *span,
                            format!("import cycle: {}", chain.join(" -> ")),
                            "this import closes the cycle",
                        )
                        .with_help(
                            "move the shared defines into a module that imports neither file",
                        ),
                    );
                }
                _ => {}
            }
        }
    }
}
