//! `pipec watch`: re-checks a project on every save, printing the diagnostics of the files a
//! change affects and a status line; optionally re-runs the affected pipelines' tests or their
//! latest due interval.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pipec_diag::{Diagnostic, FileId, RenderOptions};
use pipec_workspace::{Change, Workspace};

/// Events closer together than this are one change (an editor's save is a burst of writes and
/// renames microseconds apart)...
const QUIET: Duration = Duration::from_millis(10);
/// ... up to this long after the burst's first event (a long burst is handled in parts).
const BURST: Duration = Duration::from_millis(50);

/// The switches of `pipec watch`.
pub struct Options {
    /// Files or folders watched.
    pub paths: Vec<PathBuf>,
    /// Run the latest due interval of the affected pipelines after each clean change.
    pub run: bool,
    /// Run the affected pipelines' tests after each clean change.
    pub test: bool,
    /// The warehouse of `--run` (default as `pipec run`).
    pub warehouse: Option<PathBuf>,
    /// Print NDJSON events (docs/json.md) instead of text.
    pub json: bool,
}

enum Msg {
    Fs(notify::Result<notify::Event>),
    Quit,
}

/// One watched path: as the user gave it (files are named from it, as `pipec check` names them),
/// and the absolute forms event paths may take.
struct Root {
    given: PathBuf,
    forms: Vec<PathBuf>,
    is_dir: bool,
}

impl Root {
    fn new(given: &Path) -> Root {
        let mut forms = Vec::new();
        if let Ok(abs) = std::path::absolute(given) {
            forms.push(abs);
        }
        if let Ok(real) = std::fs::canonicalize(given) {
            if !forms.contains(&real) {
                forms.push(real);
            }
        }
        Root {
            given: given.to_path_buf(),
            forms,
            is_dir: given.is_dir(),
        }
    }

    /// `event` (an absolute path) named as `pipec check` names it, when it is under this root;
    /// `None` otherwise. The bool says whether it is a `.pipe` file `pipec check` would take.
    fn name(&self, event: &Path) -> Option<(PathBuf, bool)> {
        self.forms.iter().find_map(|form| {
            let rel = event.strip_prefix(form).ok()?;
            if !self.is_dir {
                return rel
                    .as_os_str()
                    .is_empty()
                    .then(|| (self.given.clone(), true));
            }
            let pipe = pipec_workspace::is_pipe_file(rel);
            Some((self.given.join(rel), pipe))
        })
    }
}

/// Runs `pipec watch` until Ctrl-C.
pub fn watch(opts: Options) -> ExitCode {
    #[cfg(not(feature = "runner"))]
    if opts.run || opts.test {
        return crate::usage_error(
            "--run and --test need DuckDB, and this pipec was built without it (the cargo feature `runner`); `pipec watch` without them still checks",
        );
    }
    #[cfg(feature = "runner")]
    let warehouse = if opts.run {
        match crate::warehouse_path(opts.warehouse.clone()) {
            Ok(w) => Some(w),
            Err(e) => return crate::usage_error(&e),
        }
    } else {
        None
    };
    let start = Instant::now();
    let mut ws = match Workspace::load(&opts.paths) {
        Ok(ws) => ws,
        Err(e) => return crate::usage_error(&e),
    };
    let roots: Vec<Root> = opts.paths.iter().map(|p| Root::new(p)).collect();
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let all: Vec<FileId> = ws.sources().iter().map(|(id, _)| id).collect();
    let outcome = print_diagnostics(&ws, &all, color, false, opts.json);
    print_status(
        &ws,
        &outcome,
        "checked",
        ws.roots().len(),
        start.elapsed(),
        opts.json,
    );

    let (tx, rx) = mpsc::channel();
    let quit = tx.clone();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = quit.send(Msg::Quit);
    }) {
        return crate::usage_error(&format!("cannot handle Ctrl-C: {e}"));
    }
    let mut watcher = match notify::recommended_watcher(move |ev| {
        let _ = tx.send(Msg::Fs(ev));
    }) {
        Ok(w) => w,
        Err(e) => return crate::usage_error(&format!("cannot watch files: {e}")),
    };
    use notify::Watcher;
    for root in &roots {
        // A single file is watched through its folder: editors replace the file on save.
        let (target, mode) = if root.is_dir {
            (root.given.clone(), notify::RecursiveMode::Recursive)
        } else {
            let parent = root
                .given
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            (parent.to_path_buf(), notify::RecursiveMode::NonRecursive)
        };
        if let Err(e) = watcher.watch(&target, mode) {
            return crate::usage_error(&format!("cannot watch {}: {e}", target.display()));
        }
    }
    let watched: Vec<String> = opts.paths.iter().map(|p| p.display().to_string()).collect();
    if opts.json {
        event("watching").field("paths", &watched).print_line();
    } else {
        println!("watching {} (Ctrl-C to stop)", watched.join(" "));
    }
    let _ = std::io::stdout().flush();

    loop {
        let mut events = Vec::new();
        match rx.recv() {
            Ok(Msg::Fs(ev)) => events.push(ev),
            Ok(Msg::Quit) | Err(_) => return ExitCode::SUCCESS,
        }
        // Coalesce a burst: wait until the events stop for QUIET, at most BURST in all.
        let first = Instant::now();
        loop {
            let wait = QUIET.min(BURST.saturating_sub(first.elapsed()));
            match rx.recv_timeout(wait) {
                Ok(Msg::Fs(ev)) => events.push(ev),
                Ok(Msg::Quit) => return ExitCode::SUCCESS,
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return ExitCode::SUCCESS,
            }
        }
        let mut files = BTreeSet::new();
        let mut rescan = false;
        for ev in events {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    eprintln!("warning: {e}");
                    rescan = true;
                    continue;
                }
            };
            if ev.need_rescan() {
                rescan = true;
            }
            // Reading a file (as the checker does) is an event too: only writes count.
            use notify::event::{EventKind, ModifyKind};
            if matches!(
                ev.kind,
                EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_))
            ) {
                continue;
            }
            for p in &ev.paths {
                match roots.iter().find_map(|r| r.name(p)) {
                    Some((name, true)) => {
                        files.insert(name);
                    }
                    // A folder added, removed or renamed: its files are found by a rescan
                    // (not for editors' hidden or other files with an extension).
                    Some((name, false)) => {
                        let base = name
                            .file_name()
                            .map_or(String::new(), |b| b.to_string_lossy().into_owned());
                        let other_file =
                            base.starts_with('.') || (name.extension().is_some() && !name.is_dir());
                        rescan |= !other_file && (name.is_dir() || !name.exists());
                    }
                    None => {}
                }
            }
        }
        let before = Instant::now();
        let mut changes: Vec<Change> = files.iter().map(|f| ws.reload(f)).collect();
        if rescan {
            changes.extend(rescan_roots(&mut ws, &opts.paths));
        }
        if changes.iter().all(|c| c.affected.is_empty()) {
            continue;
        }
        let mut affected = Vec::new();
        let mut rechecked = Vec::new();
        for c in &changes {
            for f in &c.affected {
                if !affected.contains(f) {
                    affected.push(*f);
                }
            }
            for f in &c.rechecked_files {
                if !rechecked.contains(f) {
                    rechecked.push(*f);
                }
            }
        }
        let outcome = print_diagnostics(&ws, &affected, color, opts.run, opts.json);
        let n = changes.iter().map(|c| c.rechecked).sum();
        print_status(&ws, &outcome, "re-checked", n, before.elapsed(), opts.json);
        let _ = std::io::stdout().flush();
        #[cfg(feature = "runner")]
        if outcome.clean {
            let names: Vec<String> = rechecked
                .iter()
                .filter_map(|&f| {
                    let name = &ws.sources().get(f).name;
                    let p = ws.checked().project.pipelines.iter();
                    p.filter(|p| &p.file == name).map(|p| p.name.clone()).next()
                })
                .collect();
            if opts.test {
                run_tests(&ws, &names, opts.json);
            }
            if let (Some(warehouse), Some(plan)) = (&warehouse, &outcome.plan) {
                run_latest(&ws, plan, warehouse, names, opts.json);
            }
            let _ = std::io::stdout().flush();
        }
        #[cfg(not(feature = "runner"))]
        let _ = (outcome.clean, rechecked, &opts.warehouse);
    }
}

/// Adds the files a walk of the roots finds that the workspace lacks, removes the ones it no
/// longer finds.
fn rescan_roots(ws: &mut Workspace, paths: &[PathBuf]) -> Vec<Change> {
    let Ok(found) = pipec_workspace::collect(paths) else {
        return Vec::new();
    };
    let known: Vec<PathBuf> = ws
        .roots()
        .iter()
        .filter_map(|&f| ws.path(f).map(Path::to_path_buf))
        .collect();
    let mut changes = Vec::new();
    for gone in known.iter().filter(|k| !found.contains(k)) {
        changes.push(ws.remove(gone));
    }
    for new in found.iter().filter(|f| !known.contains(f)) {
        changes.push(ws.reload(new));
    }
    changes
}

/// A line of the NDJSON stream of `pipec watch --format json`.
fn event(name: &str) -> crate::json::Doc {
    crate::json::Doc::new("watch").field("event", name)
}

/// What the diagnostics printed after a change say.
struct Outcome {
    /// The diagnostics of the affected files, then the plan's.
    diagnostics: Vec<Diagnostic>,
    /// No errors, the plan's included.
    clean: bool,
    /// Errors of the plan (a cycle between pipelines).
    plan_errors: usize,
    /// The plan, when asked for and the project is clean.
    plan: Option<pipec_plan::Plan>,
}

/// Prints the diagnostics of `files` as `pipec check` renders them, then, when the project
/// checks, the plan's (whose only error is a cycle between pipelines, `E0402`). The plan is built
/// only when `want_plan` or when the pipelines' edges may form a cycle: it costs more than
/// re-checking a file.
/// With `json` nothing is printed: the status event carries the diagnostics.
fn print_diagnostics(
    ws: &Workspace,
    files: &[FileId],
    color: bool,
    want_plan: bool,
    json: bool,
) -> Outcome {
    let options = RenderOptions { color, width: 100 };
    let mut out = String::new();
    let mut all = Vec::new();
    for &f in files {
        let diags: Vec<Diagnostic> = ws.diagnostics(f).into_iter().cloned().collect();
        out.push_str(&pipec_diag::render_all(&diags, ws.sources(), options));
        all.extend(diags);
    }
    let checked = ws.checked();
    let mut outcome = Outcome {
        diagnostics: Vec::new(),
        clean: !checked.has_errors(),
        plan_errors: 0,
        plan: None,
    };
    if outcome.clean && (want_plan || may_have_cycle(&checked.project)) {
        match pipec_plan::plan(&checked.project) {
            Ok(plan) => outcome.plan = Some(plan),
            Err(errs) => {
                out.push_str(&pipec_diag::render_all(&errs, ws.sources(), options));
                outcome.plan_errors = errs.len();
                outcome.clean = false;
                all.extend(errs);
            }
        }
    }
    if !json {
        print!("{out}");
    }
    outcome.diagnostics = all;
    outcome
}

/// Prints the status line, or with `json` the `checked`/`re-checked` event: the diagnostics of
/// the affected files, the files re-checked, the time taken and the project's counts.
fn print_status(
    ws: &Workspace,
    outcome: &Outcome,
    verb: &'static str,
    n: usize,
    elapsed: Duration,
    json: bool,
) {
    if !json {
        println!("{}", status(ws, outcome, verb, n, elapsed));
        return;
    }
    let diags = &ws.checked().diagnostics;
    let errors = diags.iter().filter(|d| d.is_error()).count() + outcome.plan_errors;
    event(if verb == "checked" {
        "checked"
    } else {
        "rechecked"
    })
    .diagnostics(&outcome.diagnostics, ws.sources())
    .field("ok", errors == 0)
    .field("rechecked", n)
    .field("millis", elapsed.as_secs_f64() * 1000.0)
    .field("files", ws.roots().len())
    .field("errors", errors)
    .field("warnings", diags.iter().filter(|d| !d.is_error()).count())
    .print_line();
}

/// False when the edges between pipelines (`schedule after`, and a `table(...)` source reading a
/// table another pipeline's sink writes: the plan's cross-pipeline edges, without the steps
/// between them) form no cycle. Within a pipeline the steps form no cycle, so then the plan's
/// finer graph has none either and `pipec_plan::plan` cannot fail.
fn may_have_cycle(project: &pipec_check::Project) -> bool {
    use pipec_check::ir::{RelationKind, Schedule, SinkTarget, Source};
    let index: std::collections::HashMap<&str, usize> = project
        .pipelines
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut writers: std::collections::HashMap<String, Vec<usize>> = Default::default();
    for (i, p) in project.pipelines.iter().enumerate() {
        for s in &p.sinks {
            if let SinkTarget::Table { .. } = s.target {
                writers.entry(s.name().to_lowercase()).or_default().push(i);
            }
        }
    }
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); project.pipelines.len()];
    for (i, p) in project.pipelines.iter().enumerate() {
        for r in &p.relations {
            if let RelationKind::Source(Source::Table { table }) = &r.kind {
                let key = if table.contains('.') {
                    table.to_lowercase()
                } else {
                    format!("main.{}", table.to_lowercase())
                };
                for &w in writers.get(&key).into_iter().flatten() {
                    if w != i {
                        edges[w].push(i);
                    }
                }
            }
        }
        if let Schedule::After { pipelines } = &p.schedule {
            for up in pipelines {
                if let Some(&u) = index.get(up.as_str()) {
                    edges[u].push(i);
                }
            }
        }
    }
    let mut indegree = vec![0usize; edges.len()];
    for e in edges.iter().flatten() {
        indegree[*e] += 1;
    }
    let mut ready: Vec<usize> = (0..edges.len()).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(n) = ready.pop() {
        seen += 1;
        for &t in &edges[n] {
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.push(t);
            }
        }
    }
    seen < edges.len()
}

/// `ok: 1 file re-checked in 3.1 ms, 1000 files, 0 errors`.
fn status(ws: &Workspace, outcome: &Outcome, verb: &str, n: usize, elapsed: Duration) -> String {
    let diags = &ws.checked().diagnostics;
    let check_errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - check_errors;
    let errors = check_errors + outcome.plan_errors;
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let mut line = format!(
        "{}: {} {verb} in {:.1} ms, {}, {}",
        if errors == 0 { "ok" } else { "failed" },
        plural(n, "file"),
        elapsed.as_secs_f64() * 1000.0,
        plural(ws.roots().len(), "file"),
        plural(errors, "error"),
    );
    if warnings > 0 {
        line.push_str(&format!(", {}", plural(warnings, "warning")));
    }
    line
}

/// Runs the tests of the pipelines `names` and prints their results as `pipec test` does (with
/// `json`, as a `test` event).
#[cfg(feature = "runner")]
fn run_tests(ws: &Workspace, names: &[String], json: bool) {
    let mut passed = 0;
    let mut failed = 0;
    if json {
        let reports: Vec<_> = ws
            .checked()
            .project
            .pipelines
            .iter()
            .filter(|p| names.contains(&p.name) && !p.tests.is_empty())
            .flat_map(|p| pipec_runner::run_tests(std::slice::from_ref(p)))
            .collect();
        if reports.is_empty() {
            return;
        }
        let failures: Vec<Diagnostic> = reports.iter().filter_map(|r| r.error.clone()).collect();
        let failed = reports.iter().filter(|r| !r.passed).count();
        event("test")
            .diagnostics(&failures, ws.sources())
            .field("tests", &reports)
            .field("passed", reports.len() - failed)
            .field("failed", failed)
            .print_line();
        return;
    }
    for p in &ws.checked().project.pipelines {
        if !names.contains(&p.name) || p.tests.is_empty() {
            continue;
        }
        for r in pipec_runner::run_tests(std::slice::from_ref(p)) {
            println!(
                "test {}::{} ... {}",
                r.pipeline,
                r.name,
                if r.passed { "ok" } else { "FAILED" }
            );
            if r.passed {
                passed += 1;
            } else {
                failed += 1;
            }
            if let Some(d) = &r.error {
                print_runtime(d, ws);
            }
        }
    }
    if passed + failed > 0 {
        println!("tests: {passed} passed, {failed} failed");
    }
}

/// Runs the latest due interval of the pipelines `names` into `warehouse` (with `json`, printed
/// as a `run` event).
#[cfg(feature = "runner")]
fn run_latest(
    ws: &Workspace,
    plan: &pipec_plan::Plan,
    warehouse: &Path,
    names: Vec<String>,
    json: bool,
) {
    if names.is_empty() {
        return;
    }
    let opts = pipec_runner::RunOptions {
        warehouse: warehouse.to_path_buf(),
        dates: pipec_runner::Dates::Latest,
        force: true,
        wait: true,
        progress: false,
        pipelines: names,
        retry: false,
        full_refresh: false,
        jobs: 1,
    };
    let project = &ws.checked().project;
    let result = pipec_runner::run(project, plan, &opts, &pipec_runner::Secrets::from_env());
    if json {
        match result {
            Ok(report) => event("run").fields(&report).print_line(),
            Err(e) => event("run")
                .diagnostics(std::slice::from_ref(&e.diagnostic), ws.sources())
                .print_line(),
        }
        return;
    }
    match result {
        Ok(report) => {
            if report.intervals.is_empty() {
                println!("run: no interval is due");
            } else {
                print!("{}", report.table());
                println!("{}", report.tally);
            }
            for i in &report.intervals {
                if let Some(d) = &i.error {
                    print_runtime(d, ws);
                }
            }
        }
        Err(e) => print_runtime(&e.diagnostic, ws),
    }
}

/// Prints a diagnostic of a test or run (one without a source span as a plain line).
#[cfg(feature = "runner")]
fn print_runtime(d: &Diagnostic, ws: &Workspace) {
    if d.span() == pipec_diag::Span::default() {
        println!("error[{}]: {}", d.code.id, d.message);
        if let Some(h) = &d.help {
            println!("  help: {h}");
        }
    } else {
        print!(
            "{}",
            pipec_diag::render(d, ws.sources(), RenderOptions::default())
        );
    }
}
