//! `pipec lineage` and the column and `--select` forms of `pipec graph`.

use std::path::PathBuf;
use std::process::ExitCode;

use pipec_plan::{Lineage, Plan, Towards};

use crate::{load, report, DiagFormat, GraphFormat};

/// Output of `pipec lineage`.
#[derive(Copy, Clone, clap::ValueEnum, PartialEq, Eq)]
pub enum LineageFormat {
    /// An indented tree per direction, each column with the step computing it.
    Text,
    /// The column, the columns up- and downstream, and the edges between them.
    Json,
}

/// Checks and plans `paths`, reporting errors (exit 1) when there are any.
fn planned(paths: &[PathBuf]) -> Result<(pipec_check::ir::Project, Plan), ExitCode> {
    let compiled = load(paths)?;
    if compiled.checked.has_errors() {
        report(
            &compiled.checked.diagnostics,
            &compiled.sources,
            DiagFormat::Text,
        );
        return Err(ExitCode::from(1));
    }
    match pipec_plan::plan(&compiled.checked.project) {
        Ok(plan) => Ok((compiled.checked.project, plan)),
        Err(errs) => {
            report(&errs, &compiled.sources, DiagFormat::Text);
            Err(ExitCode::from(1))
        }
    }
}

fn not_found(e: &pipec_plan::LookupError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(1)
}

/// `pipec graph --columns` and/or `--select`.
pub fn graph(
    paths: &[PathBuf],
    format: GraphFormat,
    schemas: bool,
    columns: bool,
    select: Option<&str>,
) -> ExitCode {
    let (project, plan) = match planned(paths) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let lineage = pipec_plan::lineage(&project);
    let keep = match select {
        Some(name) => match pipec_plan::find_node(&plan, name) {
            Ok(node) => Some(pipec_plan::around(&plan, node, &lineage)),
            Err(e) => return not_found(&e),
        },
        None => None,
    };
    let out = if columns {
        let mask = keep.map(|k| relation_mask(&lineage, &plan, &k));
        let mask = mask.as_deref();
        match format {
            GraphFormat::Dot => pipec_plan::columns_dot(&lineage, mask),
            GraphFormat::Mermaid => pipec_plan::columns_mermaid(&lineage, mask),
            GraphFormat::Json => pipec_plan::columns_json(&lineage, mask) + "\n",
        }
    } else {
        let plan = match &keep {
            Some(k) => pipec_plan::subplan(&plan, k),
            None => plan,
        };
        match format {
            GraphFormat::Dot => pipec_plan::to_dot(&plan, schemas),
            GraphFormat::Mermaid => pipec_plan::to_mermaid(&plan, schemas),
            GraphFormat::Json => pipec_plan::to_json(&plan),
        }
    };
    print!("{out}");
    ExitCode::SUCCESS
}

/// The lineage relations whose plan node is marked in `keep` (ids are the plan's node ids).
fn relation_mask(lineage: &Lineage, plan: &Plan, keep: &[bool]) -> Vec<bool> {
    let ids: std::collections::HashSet<String> = plan
        .graph
        .node_indices()
        .filter(|i| keep[i.index()])
        .map(|i| plan.graph[i].id())
        .collect();
    lineage
        .relations
        .iter()
        .map(|r| ids.contains(&r.id))
        .collect()
}

/// `pipec lineage <paths>... <relation>.<column>`.
pub fn lineage(
    paths: &[PathBuf],
    column: &str,
    upstream: bool,
    downstream: bool,
    format: LineageFormat,
) -> ExitCode {
    let (project, _) = match planned(paths) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let lineage = pipec_plan::lineage(&project);
    let c = match lineage.find(column) {
        Ok(c) => c,
        Err(e) => return not_found(&e),
    };
    let towards = match (upstream, downstream) {
        (true, false) => Towards::Upstream,
        (false, true) => Towards::Downstream,
        _ => Towards::Both,
    };
    match format {
        LineageFormat::Text => print!("{}", pipec_plan::lineage_text(&lineage, c, towards)),
        LineageFormat::Json => println!("{}", pipec_plan::lineage_json(&lineage, c, towards)),
    }
    ExitCode::SUCCESS
}
