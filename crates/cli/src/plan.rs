//! `pipec plan`: the spec compared with what the warehouse last ran, per relation and sink,
//! with the intervals a breaking change affects and the run that redoes them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pipec_plan::fingerprint::{compare, Change, Status};
use pipec_runner::DoneInterval;

use crate::DiagFormat;

/// Exit code of `pipec plan` when the warehouse does not match the spec.
const CHANGES_PENDING: u8 = 3;

/// What `pipec plan` was asked.
#[derive(clap::Args)]
pub struct Args {
    /// Files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The DuckDB warehouse file (default: as `pipec run`).
    #[arg(long)]
    pub warehouse: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiagFormat,
}

/// What one pipeline needs.
struct Need<'a> {
    pipeline: &'a str,
    /// The worst status of its relations and sinks.
    status: Status,
    done: &'a [DoneInterval],
    /// Intervals done that read upstream tables republished since (see [`stale`]).
    stale: Vec<DoneInterval>,
    /// The `pipec run` that redoes (rebuild, stale) or backfills (non-breaking) its intervals.
    command: Option<String>,
}

/// `pipec plan`.
pub fn plan(args: Args) -> ExitCode {
    let (compiled, plan) = match crate::compile_and_plan(&args.paths, args.format, "plan") {
        Ok(x) => x,
        Err(code) => return code,
    };
    let project = &compiled.checked.project;
    let warehouse = match crate::warehouse_path(args.warehouse.clone()) {
        Ok(w) => w,
        Err(e) => return crate::usage_error(&e),
    };
    let (recorded, done) = match pipec_runner::recorded(&warehouse) {
        Ok(r) => r,
        Err(e) => {
            crate::report_one(&e.diagnostic, &compiled.sources, args.format, "plan");
            return ExitCode::from(1);
        }
    };
    let mut changes = compare(project, &plan, &recorded);
    let order = pipeline_order(project, &plan);
    let mut stale = stale(&order, &plan, &done);
    mark_stale(&mut changes, &stale);
    let no_intervals: Vec<DoneInterval> = Vec::new();
    let needs: Vec<Need> = order
        .into_iter()
        .map(|p| {
            let status = worst(changes.iter().filter(|c| c.pipeline == p.name));
            let done = done.get(&p.name).map_or(&no_intervals[..], Vec::as_slice);
            let stale = stale
                .remove(&p.name)
                .map(|s| s.intervals)
                .unwrap_or_default();
            let command = match status {
                s if s.needs_rebuild() => Some(("--full-refresh", done)),
                Status::NonBreaking => Some(("--force", done)),
                Status::Stale => Some(("--force", &stale[..])),
                _ => None,
            }
            .filter(|(_, intervals)| !intervals.is_empty())
            .map(|(flag, intervals)| command(&args, &p.name, intervals, flag));
            Need {
                pipeline: &p.name,
                status,
                done,
                stale,
                command,
            }
        })
        .collect();
    let pending = changes.iter().any(|c| c.status != Status::Unchanged);
    match args.format {
        DiagFormat::Json => {
            #[derive(serde::Serialize)]
            struct Pipeline<'a> {
                pipeline: &'a str,
                status: Status,
                intervals_done: &'a [DoneInterval],
                intervals_stale: &'a [DoneInterval],
                command: &'a Option<String>,
            }
            let pipelines: Vec<_> = needs
                .iter()
                .map(|n| Pipeline {
                    pipeline: n.pipeline,
                    status: n.status,
                    intervals_done: n.done,
                    intervals_stale: &n.stale,
                    command: &n.command,
                })
                .collect();
            crate::json::Doc::new("plan")
                .diagnostics(&compiled.checked.diagnostics, &compiled.sources)
                .field("warehouse", warehouse.display().to_string())
                .field("pending", pending)
                .field("changes", &changes)
                .field("pipelines", pipelines)
                .print();
        }
        DiagFormat::Text => print!("{}", text(&warehouse, &changes, &needs, pending)),
    }
    if pending {
        ExitCode::from(CHANGES_PENDING)
    } else {
        ExitCode::SUCCESS
    }
}

/// The pipelines of `project`, each after the pipelines whose tables it reads (the plan's data
/// edges between pipelines), otherwise in file order: the order to redo them in.
fn pipeline_order<'a>(
    project: &'a pipec_check::ir::Project,
    plan: &pipec_plan::Plan,
) -> Vec<&'a pipec_check::ir::Pipeline> {
    let g = &plan.graph;
    let at = |name: &str| project.pipelines.iter().position(|p| p.name == name);
    let mut upstream: Vec<Vec<usize>> = vec![Vec::new(); project.pipelines.len()];
    for e in g.raw_edges() {
        let (from, to) = (&g[e.source()].pipeline, &g[e.target()].pipeline);
        if from != to {
            if let (Some(f), Some(t)) = (at(from), at(to)) {
                upstream[t].push(f);
            }
        }
    }
    let mut placed = vec![false; project.pipelines.len()];
    let mut out = Vec::new();
    while out.len() < project.pipelines.len() {
        // The first pipeline whose upstreams are placed (any unplaced one in a cycle).
        let next = (0..placed.len())
            .find(|&i| !placed[i] && upstream[i].iter().all(|&u| placed[u] || u == i))
            .or_else(|| (0..placed.len()).find(|&i| !placed[i]))
            .expect("an unplaced pipeline");
        placed[next] = true;
        out.push(&project.pipelines[next]);
    }
    out
}

/// A pipeline's intervals done that read stale upstream data.
struct Stale {
    intervals: Vec<DoneInterval>,
    /// Per relation of the pipeline reading another pipeline's table: why it is stale.
    reasons: Vec<(String, String)>,
}

/// The intervals done of each pipeline (in `order`, upstream first) that read data an upstream
/// pipeline changed after they ran: an interval I reading (through a `table(...)` source) a
/// pipeline U is stale when U published an interval starting before I's end after I published
/// (e.g. `run --full-refresh` or `--force` of U alone), or when such an interval of U is stale.
fn stale(
    order: &[&pipec_check::ir::Pipeline],
    plan: &pipec_plan::Plan,
    done: &HashMap<String, Vec<DoneInterval>>,
) -> HashMap<String, Stale> {
    let g = &plan.graph;
    let mut out: HashMap<String, Stale> = HashMap::new();
    for p in order {
        let Some(mine) = done.get(&p.name) else {
            continue;
        };
        // (upstream pipeline, the relation of `p` reading it)
        let mut reads: Vec<(&str, &str)> = Vec::new();
        for e in g.raw_edges() {
            let (from, to) = (&g[e.source()], &g[e.target()]);
            if e.weight == pipec_plan::EdgeKind::Data
                && to.pipeline == p.name
                && from.pipeline != p.name
            {
                let read = (from.pipeline.as_str(), to.name.as_str());
                if !reads.contains(&read) {
                    reads.push(read);
                }
            }
        }
        let mut intervals = Vec::new();
        let mut reasons: Vec<(String, String)> = Vec::new();
        for i in mine {
            let mut hit = false;
            for &(up, relation) in &reads {
                let republished = done
                    .get(up)
                    .into_iter()
                    .flatten()
                    .any(|j| j.start < i.end && j.finished_at > i.finished_at);
                let upstream_stale = out
                    .get(up)
                    .is_some_and(|s| s.intervals.iter().any(|j| j.start < i.end));
                let why = if republished {
                    format!("reads `{up}`, which republished intervals it read after they ran")
                } else if upstream_stale {
                    format!("reads `{up}`, whose intervals it read are stale")
                } else {
                    continue;
                };
                hit = true;
                if !reasons.iter().any(|(r, w)| r == relation && *w == why) {
                    reasons.push((relation.to_string(), why));
                }
            }
            if hit {
                intervals.push(i.clone());
            }
        }
        if !intervals.is_empty() {
            out.insert(p.name.clone(), Stale { intervals, reasons });
        }
    }
    out
}

/// Marks the unchanged relations reading stale data [`Status::Stale`], with the reason.
fn mark_stale(changes: &mut [Change], stale: &HashMap<String, Stale>) {
    for (pipeline, s) in stale {
        let n = s.intervals.len();
        for (relation, why) in &s.reasons {
            let change = changes
                .iter_mut()
                .find(|c| &c.pipeline == pipeline && &c.name == relation && c.kind == "relation");
            if let Some(c) = change.filter(|c| c.status == Status::Unchanged) {
                c.status = Status::Stale;
                c.reasons.push(format!("{why}: {n} interval(s) to redo"));
            }
        }
    }
}

/// The status that decides what a pipeline needs: rebuild over non-breaking over the others.
fn worst<'a>(changes: impl Iterator<Item = &'a Change>) -> Status {
    let rank = |s: Status| match s {
        Status::Breaking => 7,
        Status::Rebuild => 6,
        Status::NonBreaking | Status::Removed => 5,
        Status::Stale => 4,
        Status::Unrecorded => 3,
        Status::Added => 2,
        Status::Unchanged => 1,
    };
    changes
        .map(|c| c.status)
        .max_by_key(|s| rank(*s))
        .unwrap_or(Status::Unchanged)
}

/// `arg` as the shell reads it: quoted when it holds anything but plain path characters.
fn shell(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=+@%,".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// The `pipec run` redoing the intervals `done` of pipeline `name` with `flag`: from the first
/// to the last, as dates when each interval is a whole `@ds`, else as UTC instants.
fn command(args: &Args, name: &str, done: &[DoneInterval], flag: &str) -> String {
    let mut parts = vec!["pipec".to_string(), "run".to_string()];
    parts.extend(args.paths.iter().map(|p| shell(&p.display().to_string())));
    if let Some(w) = &args.warehouse {
        parts.push("--warehouse".into());
        parts.push(shell(&w.display().to_string()));
    }
    parts.push("--pipeline".into());
    parts.push(shell(name));
    let by_day = done.iter().all(|d| d.label == d.ds);
    let bound = |d: &DoneInterval| {
        if by_day {
            d.ds.clone()
        } else {
            format!("{}Z", d.start.replacen(' ', "T", 1))
        }
    };
    if let (Some(first), Some(last)) = (done.first(), done.last()) {
        parts.extend(["--from".into(), bound(first), "--to".into(), bound(last)]);
    }
    parts.push(flag.into());
    parts.join(" ")
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Unchanged => "unchanged",
        Status::Added => "added",
        Status::Removed => "removed",
        Status::NonBreaking => "non-breaking",
        Status::Breaking => "breaking",
        Status::Rebuild => "rebuild",
        Status::Stale => "stale",
        Status::Unrecorded => "unrecorded",
    }
}

fn text(warehouse: &Path, changes: &[Change], needs: &[Need], pending: bool) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if !pending {
        let _ = writeln!(
            out,
            "no changes: the spec matches what {} last ran",
            warehouse.display()
        );
        return out;
    }
    let _ = writeln!(
        out,
        "pipec plan: the spec compared with what {} last ran\n",
        warehouse.display()
    );
    for n in needs {
        let shown: Vec<&Change> = changes
            .iter()
            .filter(|c| c.pipeline == n.pipeline && c.status != Status::Unchanged)
            .collect();
        if shown.is_empty() {
            let _ = writeln!(out, "{}: unchanged\n", n.pipeline);
            continue;
        }
        let _ = writeln!(out, "{}", n.pipeline);
        let width = shown.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &shown {
            let _ = writeln!(
                out,
                "  {:<12}  {:<8}  {:<width$}  {}",
                status_word(c.status),
                c.kind,
                c.name,
                c.reasons.join("; ")
            );
        }
        let range = match (n.done.first(), n.done.last()) {
            (Some(a), Some(b)) if n.done.len() > 1 => format!(": {} to {}", a.label, b.label),
            (Some(a), _) => format!(": {}", a.label),
            _ => String::new(),
        };
        let _ = writeln!(out, "  {} interval(s) done{range}", n.done.len());
        match (&n.command, n.status) {
            (Some(cmd), Status::Stale) => {
                let _ = writeln!(
                    out,
                    "  {} interval(s) read upstream data republished after they ran; redo them:\n    {cmd}",
                    n.stale.len()
                );
            }
            (Some(cmd), s) if s.needs_rebuild() => {
                let _ = writeln!(
                    out,
                    "  `pipec run` refuses this change; redo the intervals done, rebuilding the changed tables:\n    {cmd}"
                );
            }
            (Some(cmd), _) => {
                let _ = writeln!(
                    out,
                    "  `pipec run` adds the new columns; intervals done keep them null until redone:\n    {cmd}"
                );
            }
            (None, Status::Added) if n.done.is_empty() => {
                let _ = writeln!(out, "  never ran on this warehouse");
            }
            _ => {}
        }
        out.push('\n');
    }
    let count = |s: Status| changes.iter().filter(|c| c.status == s).count();
    let _ = writeln!(
        out,
        "{} breaking, {} to rebuild, {} stale, {} non-breaking, {} added, {} removed, {} unrecorded: changes pending (exit {CHANGES_PENDING})",
        count(Status::Breaking),
        count(Status::Rebuild),
        count(Status::Stale),
        count(Status::NonBreaking),
        count(Status::Added),
        count(Status::Removed),
        count(Status::Unrecorded),
    );
    out
}
