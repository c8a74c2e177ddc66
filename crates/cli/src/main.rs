//! `pipec`: the command line of the pipec toolchain.

mod project;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use pipec_diag::{Diagnostic, RenderOptions, SourceMap};

/// pipec compiles `.pipe` pipeline specs: checks them, plans their DAG, runs them on DuckDB and
/// emits Airflow, AWS SAM and Spark artifacts.
#[derive(Parser)]
#[command(name = "pipec", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, ValueEnum, PartialEq, Eq)]
enum DiagFormat {
    /// Human-readable diagnostics with source excerpts.
    Text,
    /// A JSON array: code, severity, message, file, line/column span, help.
    Json,
}

#[derive(Copy, Clone, ValueEnum, PartialEq, Eq)]
enum GraphFormat {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
    /// JSON nodes, edges and levels.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Type-check files or folders of `.pipe` files and report every problem at once.
    #[command(after_help = "Examples:\n  pipec check examples/\n  pipec check examples/bike_share/bike_share.pipe --format json\n\nExit codes: 0 clean (warnings allowed), 1 errors in the input, 2 usage errors.")]
    Check {
        /// Files or folders (searched recursively for `*.pipe`).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: DiagFormat,
    },
    /// Print the DAG of sources, transforms, checks and sinks.
    #[command(after_help = "Examples:\n  pipec graph examples/bike_share --format mermaid\n  pipec graph examples/ --format dot --schemas | dot -Tsvg > dag.svg")]
    Graph {
        /// A file or folder.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "dot")]
        format: GraphFormat,
        /// Label relations with their columns and types.
        #[arg(long)]
        schemas: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { paths, format } => check(&paths, format),
        Command::Graph { paths, format, schemas } => graph(&paths, format, schemas),
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn report(diags: &[Diagnostic], sources: &SourceMap, format: DiagFormat) {
    match format {
        DiagFormat::Json => println!("{}", pipec_diag::render_json(diags, sources)),
        DiagFormat::Text => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            eprint!("{}", pipec_diag::render_all(diags, sources, RenderOptions { color, width: 100 }));
            let errors = diags.iter().filter(|d| d.is_error()).count();
            let warnings = diags.len() - errors;
            if errors + warnings > 0 {
                eprintln!("{}", summary(errors, warnings));
            }
        }
    }
}

fn summary(errors: usize, warnings: usize) -> String {
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, w) => format!("check passed with {}", plural(w, "warning")),
        (e, 0) => format!("check failed: {}", plural(e, "error")),
        (e, w) => format!("check failed: {}, {}", plural(e, "error"), plural(w, "warning")),
    }
}

fn load(paths: &[PathBuf]) -> Result<project::Compiled, ExitCode> {
    let files = project::collect(paths).map_err(|e| usage_error(&e))?;
    if files.is_empty() {
        return Err(usage_error("no .pipe files found"));
    }
    project::compile(&files).map_err(|e| usage_error(&e))
}

fn check(paths: &[PathBuf], format: DiagFormat) -> ExitCode {
    let compiled = match load(paths) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut diags = compiled.checked.diagnostics.clone();
    if !compiled.checked.has_errors() {
        if let Err(errs) = pipec_plan::plan(&compiled.checked.project) {
            diags.extend(errs);
        }
    }
    report(&diags, &compiled.sources, format);
    if format == DiagFormat::Text && diags.is_empty() {
        let n = compiled.checked.project.pipelines.len();
        eprintln!("checked {n} pipeline{}: no problems", if n == 1 { "" } else { "s" });
    }
    if diags.iter().any(Diagnostic::is_error) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn graph(paths: &[PathBuf], format: GraphFormat, schemas: bool) -> ExitCode {
    let compiled = match load(paths) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if compiled.checked.has_errors() {
        report(&compiled.checked.diagnostics, &compiled.sources, DiagFormat::Text);
        return ExitCode::from(1);
    }
    match pipec_plan::plan(&compiled.checked.project) {
        Ok(plan) => {
            let out = match format {
                GraphFormat::Dot => pipec_plan::to_dot(&plan, schemas),
                GraphFormat::Mermaid => pipec_plan::to_mermaid(&plan, schemas),
                GraphFormat::Json => pipec_plan::to_json(&plan),
            };
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(errs) => {
            report(&errs, &compiled.sources, DiagFormat::Text);
            ExitCode::from(1)
        }
    }
}
