//! `pipec docs`: writes the static documentation site of a project (crate `pipec-docs`); with
//! `--warehouse`, its run history read from the `_pipec` tables.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::{json, DiagFormat};

/// `pipec docs <paths> --out DIR [--warehouse W] [--format F]`.
pub fn docs(
    paths: &[PathBuf],
    out: &Path,
    warehouse: Option<&Path>,
    format: DiagFormat,
) -> ExitCode {
    let (compiled, plan) = match crate::lineage::planned(paths, format, "docs") {
        Ok(p) => p,
        Err(code) => return code,
    };
    let history = match warehouse {
        Some(w) => match history(w, &compiled.sources, format) {
            Ok(h) => Some(h),
            Err(code) => return code,
        },
        None => None,
    };
    let files = pipec_docs::site(&pipec_docs::Input {
        project: &compiled.checked.project,
        plan: &plan,
        sources: &compiled.sources,
        history: history.as_ref(),
    });
    if let Err(e) = pipec_docs::write(out, &files) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return ExitCode::from(1);
    }
    if format == DiagFormat::Json {
        json::Doc::new("docs")
            .diagnostics(&compiled.checked.diagnostics, &compiled.sources)
            .field("out", out.display().to_string())
            .field("index", out.join("index.html").display().to_string())
            .field("files", files.iter().map(|f| &f.path).collect::<Vec<_>>())
            .field("history", warehouse.is_some())
            .print();
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "wrote {} files to {} (open {})",
        files.len(),
        out.display(),
        out.join("index.html").display()
    );
    ExitCode::SUCCESS
}

#[cfg(feature = "runner")]
fn history(
    warehouse: &Path,
    sources: &pipec_diag::SourceMap,
    format: DiagFormat,
) -> Result<pipec_docs::History, ExitCode> {
    let failed = |e: pipec_runner::RunError| {
        crate::report_one(&e.diagnostic, sources, format, "docs");
        ExitCode::from(1)
    };
    let intervals = pipec_runner::history(warehouse).map_err(failed)?;
    let details = pipec_runner::history_details(warehouse).map_err(failed)?;
    Ok(pipec_docs::History {
        intervals: intervals
            .into_iter()
            .map(|r| pipec_docs::IntervalRun {
                pipeline: r.pipeline,
                interval: r.interval,
                start: r.start,
                status: r.status,
                attempts: r.attempts,
                finished_at: r.finished_at,
                rows_written: r.rows_written,
                error: r.error,
            })
            .collect(),
        checks: details
            .checks
            .into_iter()
            .map(|c| pipec_docs::CheckResult {
                pipeline: c.pipeline,
                start: c.start,
                relation: c.relation,
                rule: c.rule,
                passed: c.passed,
                detail: c.detail,
            })
            .collect(),
        rejects: details
            .rejects
            .into_iter()
            .map(|r| pipec_docs::Reject {
                pipeline: r.pipeline,
                start: r.start,
                source: r.source,
                file: r.file,
                line: r.line,
                column: r.column,
                error: r.error,
            })
            .collect(),
    })
}

#[cfg(not(feature = "runner"))]
fn history(
    _warehouse: &Path,
    _sources: &pipec_diag::SourceMap,
    _format: DiagFormat,
) -> Result<pipec_docs::History, ExitCode> {
    Err(crate::usage_error(
        "--warehouse needs a pipec built with DuckDB (the default `runner` feature)",
    ))
}
