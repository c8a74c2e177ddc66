//! `pipec lineage` and the column and `--select` forms of `pipec graph`.

use std::path::PathBuf;
use std::process::ExitCode;

use pipec_plan::{Lineage, Plan, Towards};

use crate::project::Compiled;
use crate::{json, load, report, DiagFormat, GraphFormat};

/// Output of `pipec lineage`.
#[derive(Copy, Clone, clap::ValueEnum, PartialEq, Eq)]
pub enum LineageFormat {
    /// An indented tree per direction, each column with the step computing it.
    Text,
    /// The column, the columns up- and downstream, and the edges between them (docs/json.md).
    Json,
}

/// Checks and plans `paths`, reporting errors (exit 1) in `format` when there are any.
pub(crate) fn planned(
    paths: &[PathBuf],
    format: DiagFormat,
    command: &'static str,
) -> Result<(Compiled, Plan), ExitCode> {
    let compiled = load(paths)?;
    if compiled.checked.has_errors() {
        report(
            &compiled.checked.diagnostics,
            &compiled.sources,
            format,
            command,
        );
        return Err(ExitCode::from(1));
    }
    match pipec_plan::plan(&compiled.checked.project) {
        Ok(plan) => Ok((compiled, plan)),
        Err(mut errs) => {
            errs.splice(0..0, compiled.checked.diagnostics.iter().cloned());
            report(&errs, &compiled.sources, format, command);
            Err(ExitCode::from(1))
        }
    }
}

/// An unknown relation or column: exit 1, as text or in `command`'s JSON document.
fn not_found(
    e: &pipec_plan::LookupError,
    compiled: &Compiled,
    format: DiagFormat,
    command: &'static str,
) -> ExitCode {
    match format {
        DiagFormat::Text => eprintln!("error: {e}"),
        DiagFormat::Json => {
            let code = match e {
                pipec_plan::LookupError::UnknownColumn { .. } => pipec_diag::codes::UNKNOWN_COLUMN,
                _ => pipec_diag::codes::UNKNOWN_RELATION,
            };
            let d =
                pipec_diag::Diagnostic::error(code, pipec_diag::Span::default(), e.to_string(), "");
            let mut diags = compiled.checked.diagnostics.clone();
            diags.push(d);
            report(&diags, &compiled.sources, format, command);
        }
    }
    ExitCode::from(1)
}

/// Prints the `graph` document: `view` (`relations` or `columns`) and the keys of `payload`, a
/// JSON object rendered by `pipec-plan`.
pub(crate) fn graph_doc(compiled: &Compiled, view: &str, payload: &str) {
    json::Doc::new("graph")
        .diagnostics(&compiled.checked.diagnostics, &compiled.sources)
        .field("view", view)
        .fields_text(payload)
        .print();
}

/// `pipec graph --columns` and/or `--select`.
pub fn graph(
    paths: &[PathBuf],
    format: GraphFormat,
    schemas: bool,
    columns: bool,
    select: Option<&str>,
) -> ExitCode {
    let (compiled, plan) = match planned(paths, format.diag(), "graph") {
        Ok(p) => p,
        Err(code) => return code,
    };
    let lineage = pipec_plan::lineage(&compiled.checked.project);
    let keep = match select {
        Some(name) => match pipec_plan::find_node(&plan, name) {
            Ok(node) => Some(pipec_plan::around(&plan, node, &lineage)),
            Err(e) => return not_found(&e, &compiled, format.diag(), "graph"),
        },
        None => None,
    };
    let (view, out) = if columns {
        let mask = keep.map(|k| relation_mask(&lineage, &plan, &k));
        let mask = mask.as_deref();
        let out = match format {
            GraphFormat::Dot => pipec_plan::columns_dot(&lineage, mask),
            GraphFormat::Mermaid => pipec_plan::columns_mermaid(&lineage, mask),
            GraphFormat::Json => pipec_plan::columns_json(&lineage, mask),
        };
        ("columns", out)
    } else {
        let plan = match &keep {
            Some(k) => pipec_plan::subplan(&plan, k),
            None => plan,
        };
        let out = match format {
            GraphFormat::Dot => pipec_plan::to_dot(&plan, schemas),
            GraphFormat::Mermaid => pipec_plan::to_mermaid(&plan, schemas),
            GraphFormat::Json => pipec_plan::to_json(&plan),
        };
        ("relations", out)
    };
    match format {
        GraphFormat::Json => graph_doc(&compiled, view, &out),
        _ => print!("{out}"),
    }
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
    let diag_format = match format {
        LineageFormat::Text => DiagFormat::Text,
        LineageFormat::Json => DiagFormat::Json,
    };
    let (compiled, _) = match planned(paths, diag_format, "lineage") {
        Ok(p) => p,
        Err(code) => return code,
    };
    let lineage = pipec_plan::lineage(&compiled.checked.project);
    let c = match lineage.find(column) {
        Ok(c) => c,
        Err(e) => return not_found(&e, &compiled, diag_format, "lineage"),
    };
    let towards = match (upstream, downstream) {
        (true, false) => Towards::Upstream,
        (false, true) => Towards::Downstream,
        _ => Towards::Both,
    };
    match format {
        LineageFormat::Text => print!("{}", pipec_plan::lineage_text(&lineage, c, towards)),
        LineageFormat::Json => {
            json::Doc::new("lineage")
                .diagnostics(&compiled.checked.diagnostics, &compiled.sources)
                .fields_text(&pipec_plan::lineage_json(&lineage, c, towards))
                .print();
        }
    }
    ExitCode::SUCCESS
}
