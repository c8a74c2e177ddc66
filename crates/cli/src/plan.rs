//! `pipec plan`: the spec compared with what the warehouse last ran, per relation and sink,
//! with the intervals a breaking change affects and the run that redoes them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pipec_plan::fingerprint::{compare, Change, Status};
use pipec_runner::DoneInterval;
use serde_json::json;

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
    /// The `pipec run` that redoes (rebuild) or backfills (non-breaking) its intervals done.
    command: Option<String>,
}

/// `pipec plan`.
pub fn plan(args: Args) -> ExitCode {
    let (compiled, plan) = match crate::compile_and_plan(&args.paths) {
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
            crate::report_one(&e.diagnostic, &compiled.sources, args.format);
            return ExitCode::from(1);
        }
    };
    let changes = compare(project, &plan, &recorded);
    let no_intervals: Vec<DoneInterval> = Vec::new();
    let needs: Vec<Need> = pipeline_order(project, &plan)
        .into_iter()
        .map(|p| {
            let status = worst(changes.iter().filter(|c| c.pipeline == p.name));
            let done = done.get(&p.name).map_or(&no_intervals[..], Vec::as_slice);
            let flag = match status {
                s if s.needs_rebuild() => Some("--full-refresh"),
                Status::NonBreaking => Some("--force"),
                _ => None,
            };
            let command = flag
                .filter(|_| !done.is_empty())
                .map(|flag| command(&args, &p.name, done, flag));
            Need {
                pipeline: &p.name,
                status,
                done,
                command,
            }
        })
        .collect();
    let pending = changes.iter().any(|c| c.status != Status::Unchanged);
    match args.format {
        DiagFormat::Json => {
            let pipelines: Vec<_> = needs
                .iter()
                .map(|n| {
                    json!({
                        "pipeline": n.pipeline,
                        "status": n.status,
                        "intervals_done": n.done,
                        "command": n.command,
                    })
                })
                .collect();
            let out = json!({
                "version": 1,
                "warehouse": warehouse.display().to_string(),
                "pending": pending,
                "changes": changes,
                "pipelines": pipelines,
            });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
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

/// The status that decides what a pipeline needs: rebuild over non-breaking over the others.
fn worst<'a>(changes: impl Iterator<Item = &'a Change>) -> Status {
    let rank = |s: Status| match s {
        Status::Breaking => 6,
        Status::Rebuild => 5,
        Status::NonBreaking | Status::Removed => 4,
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
        "{} breaking, {} to rebuild, {} non-breaking, {} added, {} removed, {} unrecorded: changes pending (exit {CHANGES_PENDING})",
        count(Status::Breaking),
        count(Status::Rebuild),
        count(Status::NonBreaking),
        count(Status::Added),
        count(Status::Removed),
        count(Status::Unrecorded),
    );
    out
}
