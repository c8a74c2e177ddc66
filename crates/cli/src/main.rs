//! `pipec`: the command line of the pipec toolchain.

mod docs;
mod fmt;
mod init;
mod json;
mod lineage;
#[cfg(feature = "runner")]
mod plan;
mod project;
#[cfg(feature = "runner")]
mod show;
mod watch;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use pipec_diag::{Diagnostic, RenderOptions, SourceMap};
#[cfg(feature = "runner")]
use pipec_runner::{Bound, Dates, Secrets};

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
    /// One JSON document (docs/json.md): version, command, diagnostics (code, severity,
    /// message, file, line/column span, help, fixes), then the command's payload.
    Json,
}

#[derive(Copy, Clone, ValueEnum, PartialEq, Eq)]
enum GraphFormat {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
    /// JSON nodes, edges and levels (docs/json.md).
    Json,
}

impl GraphFormat {
    /// How errors are reported in this format.
    fn diag(self) -> DiagFormat {
        match self {
            GraphFormat::Json => DiagFormat::Json,
            _ => DiagFormat::Text,
        }
    }
}

#[derive(Copy, Clone, ValueEnum, PartialEq, Eq)]
enum EmitTarget {
    /// One Spark SQL job per pipeline, for `spark-sql -f`.
    Spark,
    /// One Airflow 3 DAG file per pipeline.
    Airflow,
    /// One AWS SAM stack (`template.yaml`) for all pipelines: S3, Glue, Athena, Step Functions.
    Sam,
}

#[derive(Copy, Clone, ValueEnum, PartialEq, Eq)]
enum SamIngest {
    /// Producers put records into Kinesis with the AWS SDK.
    Direct,
    /// A REST API (API Gateway) puts each request body into the Kinesis stream.
    ApiGateway,
}

#[derive(Copy, Clone, ValueEnum, PartialEq, Eq)]
enum CostTarget {
    /// The AWS SAM stack of `pipec emit --target sam`.
    Sam,
}

#[derive(Copy, Clone, ValueEnum, PartialEq, Eq)]
enum AirflowProfile {
    /// A DuckDB warehouse file.
    Duckdb,
    /// A PostgreSQL database.
    Postgres,
}

#[derive(Subcommand)]
enum Command {
    /// Type-check files or folders of `.pipe` files and report every problem at once.
    #[command(
        after_help = "Examples:\n  pipec check examples/\n  pipec check examples/bike_share/bike_share.pipe --format json\n\nExit codes: 0 clean (warnings allowed), 1 errors in the input, 2 usage errors."
    )]
    Check {
        /// Files or folders (searched recursively for `*.pipe`).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: DiagFormat,
    },
    /// Rewrite `.pipe` files in the canonical layout (comments kept, meaning unchanged).
    #[command(
        after_help = "Examples:\n  pipec fmt examples/\n  pipec fmt --check std examples\n  pipec fmt - < spec.pipe\n\nFiles are rewritten atomically; unchanged files are left untouched. A file with syntax errors is reported, not formatted.\nExit codes: 0 done (or, with --check, nothing to change), 1 files would change or have syntax errors, 2 usage errors."
    )]
    Fmt {
        /// Files or folders (searched recursively for `*.pipe`), or `-` for stdin to stdout.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Change nothing: list the files that would change with their first difference, and
        /// exit 1 if there are any.
        #[arg(long)]
        check: bool,
        /// Output format of the report (the files, their status and first difference).
        #[arg(long, value_enum, default_value = "text")]
        format: DiagFormat,
    },
    #[cfg(feature = "runner")]
    /// Run pipelines on the local DuckDB warehouse: one interval, a backfill range, or the latest due.
    #[command(
        after_help = "Examples:\n  pipec run examples/bike_share --date 2024-01-02\n  pipec run examples/ --from 2024-01-01 --to 2024-01-31\n  pipec run examples/nps --date 2024-01-03 --force --format json\n  pipec run hourly/ --at 2024-03-10T05:30:00Z\n  pipec run hourly/ --from 2024-03-10T00:00Z --to 2024-03-10T05:00Z\n\n--date runs every interval of that day in each schedule's time zone (24 for an hourly schedule).\nEach interval is staged, checked, then published in one transaction: a failure publishes nothing.\nExit codes: 0 success, 1 a run or the input failed, 2 usage errors."
    )]
    Run {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Run every interval of this date (YYYY-MM-DD) in each schedule's time zone.
        #[arg(long, conflicts_with_all = ["from", "to", "at"])]
        date: Option<chrono::NaiveDate>,
        /// Run the one interval containing this instant (YYYY-MM-DDTHH:MM[:SS], UTC unless it
        /// has an offset such as +09:00).
        #[arg(long, conflicts_with_all = ["from", "to"])]
        at: Option<Bound>,
        /// First date or instant of a backfill: intervals starting at or after it.
        #[arg(long, requires = "to")]
        from: Option<Bound>,
        /// Last date (inclusive) or instant of a backfill: intervals starting at or before it.
        #[arg(long, requires = "from")]
        to: Option<Bound>,
        /// Re-run intervals that are already done.
        #[arg(long)]
        force: bool,
        /// Run breaking changes (see `pipec plan`): rebuild the changed sinks' tables from
        /// scratch with the selected intervals, which all run (as with --force).
        #[arg(long)]
        full_refresh: bool,
        /// Only this pipeline (repeatable).
        #[arg(long = "pipeline")]
        pipelines: Vec<String>,
        /// The DuckDB warehouse file (default: `warehouse` in pipec.json, else ./warehouse.duckdb).
        #[arg(long)]
        warehouse: Option<PathBuf>,
        /// Wait for another run on the same warehouse instead of refusing.
        #[arg(long)]
        wait: bool,
        /// Make one attempt per interval, whatever the pipelines' `retries`.
        #[arg(long)]
        no_retry: bool,
        /// Run up to N intervals at once: independent pipelines, and an upstream's next interval
        /// while its dependants run the one before (default: the number of CPUs; 1 runs them
        /// one after another). The summary lists them in the same order whatever N.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// Output format of the summary.
        #[arg(long, value_enum, default_value = "text")]
        format: DiagFormat,
    },
    #[cfg(feature = "runner")]
    /// Show the history and state of intervals in the warehouse.
    #[command(after_help = "Example:\n  pipec runs --warehouse warehouse.duckdb")]
    Runs {
        /// The DuckDB warehouse file.
        #[arg(long)]
        warehouse: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: DiagFormat,
    },
    #[cfg(feature = "runner")]
    /// Show the rows a relation produces for an interval (computed on a scratch in-memory
    /// DuckDB, nothing written), or with --sql the statement it compiles to for a target.
    #[command(
        after_help = "Examples:\n  pipec show examples/bike_share station_daily --date 2024-01-02\n  pipec show examples/bike_share bike_share.rentals --limit 5 --format json\n  pipec show examples/nps mart.nps_daily --warehouse warehouse.duckdb\n  pipec show examples/bike_share station_daily --sql --target spark\n\nThe relation is a source, a transform, `pipeline.relation`, or a sink's name (its relation).\nRows: sources are read as `pipec run` reads them; `table(...)` sources read the warehouse,\nattached read-only. Nothing is written: no warehouse, state, lock, sink or cache file.\nExit codes: 0 success, 1 errors, 2 usage errors."
    )]
    Show(show::Args),
    #[cfg(feature = "runner")]
    /// Compare the specs with what the warehouse last ran: per relation and sink unchanged,
    /// non-breaking or breaking, the intervals to redo and the run that redoes them.
    #[command(
        after_help = "Examples:\n  pipec plan examples/bike_share --warehouse warehouse.duckdb\n  pipec plan specs/ --format json\n\nExit codes: 0 no changes, 1 errors, 2 usage errors, 3 changes pending (docs/language.md, `pipec plan`)."
    )]
    Plan(plan::Args),
    #[cfg(feature = "runner")]
    /// Run the specs' unit tests (fixture rows in, expected rows out) on an in-memory DuckDB.
    #[command(after_help = "Example:\n  pipec test examples/")]
    Test {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: DiagFormat,
    },
    /// Write deployable artifacts for another engine: Spark SQL jobs, Airflow DAGs or an AWS SAM
    /// stack, with a `manifest.json` saying how to run one interval of each pipeline.
    #[command(
        after_help = "Examples:\n  pipec emit examples/blog_visits --target spark --out build/spark\n  pipec emit examples/ --target airflow --out dags/\n  pipec emit examples/ --target airflow --profile postgres --out dags/ --check\n  pipec emit examples/ --target sam --out stack/ --base s3://lake/specs\n\nRelative paths in a spec resolve to the spec's folder; --base maps them under a URI instead\n(e.g. s3://bucket/prefix/<spec folder>/...). --check writes nothing and exits 1 when DIR differs\nfrom what emit would write (E0604). Exit codes: 0 success, 1 errors, 2 usage errors."
    )]
    Emit {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The target engine.
        #[arg(long, value_enum)]
        target: EmitTarget,
        /// The warehouse the Airflow DAGs write to.
        #[arg(long, value_enum, default_value = "duckdb")]
        profile: AirflowProfile,
        /// The output folder.
        #[arg(long)]
        out: PathBuf,
        /// Map relative paths of the specs under this URI (or folder) instead of the specs' folders.
        #[arg(long)]
        base: Option<String>,
        /// How records reach the Kinesis streams of `kinesis` sources (SAM target).
        #[arg(long, value_enum, default_value = "direct")]
        ingest: SamIngest,
        /// Write nothing; exit 1 when OUT is not what emit would write.
        #[arg(long)]
        check: bool,
        /// Output format of diagnostics.
        #[arg(long, value_enum, default_value = "text")]
        format: DiagFormat,
    },
    /// Estimate the monthly AWS bill of the stack `pipec emit --target sam` writes.
    #[command(
        after_help = "Examples:\n  pipec cost examples/bike_share --target sam\n  pipec cost examples/blog_visits --target sam --volume volumes.toml --format json\n  pipec cost clicks/ --target sam --compare api-gateway,direct\n  pipec cost examples/nps --target sam --warehouse warehouse.duckdb\n\nEvery figure is printed as quantity × unit price = cost, with the assumptions and the dated\nprice table (ap-northeast-2) and its sources; docs/cost.md describes the model.\nExit codes: 0 success, 1 errors (E0670, E0671), 2 usage errors."
    )]
    Cost {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The target whose stack is priced.
        #[arg(long, value_enum, default_value = "sam")]
        target: CostTarget,
        /// Declared volumes (TOML, or JSON for a `.json` file): rows/bytes per interval per
        /// source, events per second per stream.
        #[arg(long)]
        volume: Option<PathBuf>,
        /// A DuckDB warehouse `pipec run` wrote: rows per interval measured there.
        #[arg(long)]
        warehouse: Option<PathBuf>,
        /// Show ingestion variants of stream sources side by side: `api-gateway,direct`.
        #[arg(long, value_delimiter = ',')]
        compare: Vec<String>,
        /// How the stack ingests stream records (as `pipec emit --ingest`).
        #[arg(long, value_enum, default_value = "direct")]
        ingest: SamIngest,
        /// As `pipec emit --base`.
        #[arg(long)]
        base: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: DiagFormat,
    },
    /// Start a project: a pipeline with sample data, `pipec.json`, `.gitignore` and a README, which
    /// checks, tests and runs as written.
    #[command(
        after_help = "Examples:\n  pipec init shop\n  pipec init bikes --example bike_share\n\nExisting files are never overwritten. Exit codes: 0 success, 1 errors, 2 usage errors."
    )]
    Init {
        /// The project folder (created if missing).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Start from one of the repository's examples instead of the starter.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(init::example_names()))]
        example: Option<String>,
    },
    /// Serve the language server protocol on stdin/stdout (what editors start).
    #[command(
        after_help = "Editors start it; the workspace folder the editor opens is the project. See editors/vscode."
    )]
    Lsp,
    /// Re-check on every save: print the diagnostics of the files a change affects and a status
    /// line; optionally re-run the affected pipelines' tests or latest interval.
    #[command(
        after_help = "Examples:\n  pipec watch examples/\n  pipec watch shop/ --test\n  pipec watch shop/ --run --warehouse dev.duckdb\n\nOnly the changed files, their importers and the readers of their tables are re-checked.\n--run re-runs (forced) the latest due interval of each re-checked pipeline. Ctrl-C exits 0."
    )]
    Watch {
        /// Files or folders (searched recursively for `*.pipe`).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// After each change without errors, run the latest due interval of the re-checked
        /// pipelines into the warehouse.
        #[arg(long)]
        run: bool,
        /// After each change without errors, run the re-checked pipelines' tests.
        #[arg(long)]
        test: bool,
        /// The warehouse of `--run` (default: as `pipec run`).
        #[arg(long, requires = "run")]
        warehouse: Option<PathBuf>,
        /// Output format: `json` prints one JSON object per line (NDJSON), each with an `event`.
        #[arg(long, value_enum, default_value = "text")]
        format: DiagFormat,
    },
    /// Print the documentation page of a diagnostic code: what it means, an example, the fix.
    #[command(
        after_help = "Examples:\n  pipec explain E0102\n  pipec explain e102\n  pipec explain --list"
    )]
    Explain {
        /// The code, e.g. `E0102` (case and leading zeros do not matter).
        #[arg(required_unless_present = "list")]
        code: Option<String>,
        /// List every code with its title.
        #[arg(long)]
        list: bool,
        /// Output format (JSON: the code, its title and its page as Markdown).
        #[arg(long, value_enum, default_value = "text")]
        format: DiagFormat,
    },
    /// Print a shell completion script: `pipec completions bash > ~/.local/share/bash-completion/completions/pipec`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the DAG of sources, transforms, checks and sinks.
    #[command(
        after_help = "Examples:\n  pipec graph examples/bike_share --format mermaid\n  pipec graph examples/ --format dot --schemas | dot -Tsvg > dag.svg\n  pipec graph examples/ --columns --format mermaid\n  pipec graph examples/ --select station_daily --columns --format json\n\n--columns draws a node per column and an edge per column it is computed from (see `pipec lineage`).\n--select keeps a relation, every node it reads from and every node reading it (across pipelines)."
    )]
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
        /// Column-level lineage: a node per column, edges from the columns each is computed from.
        #[arg(long)]
        columns: bool,
        /// Only this relation or sink (`name` or `pipeline.name`), its ancestors and descendants.
        #[arg(long, value_name = "RELATION")]
        select: Option<String>,
    },
    /// Where a column comes from and where it goes: column-level lineage across pipelines.
    #[command(
        after_help = "Examples:\n  pipec lineage examples/bike_share station_daily.avg_minutes\n  pipec lineage examples/ blog_visits.visits.url --downstream\n  pipec lineage examples/ mart.station_daily.rides --upstream --format json\n\nThe column is `relation.column`: a relation or sink name (`station_daily`, `mart.station_daily`),\nqualified by its pipeline when several pipelines have one of that name (`bike_share.station_daily.rides`);\nnames ignore case. Each line shows how the column is used ([copy], [expression], [aggregate],\n[join key], [group key], [window], [table], [file]) and the step computing it. Filters and join\nconditions choose rows without computing values: they are listed under `rows chosen by`.\nColumns of raw `sql` blocks are opaque. What is tracked: docs/lineage.md.\nExit codes: 0 shown, 1 errors in the input or an unknown relation or column, 2 usage errors."
    )]
    Lineage {
        /// Files or folders (searched recursively for `*.pipe`), then the column.
        #[arg(required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        /// The column: `relation.column`.
        #[arg(value_name = "RELATION.COLUMN")]
        column: String,
        /// Only the columns it is computed from.
        #[arg(long, conflicts_with = "downstream")]
        upstream: bool,
        /// Only the columns computed from it.
        #[arg(long)]
        downstream: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: lineage::LineageFormat,
    },
    /// Write a static documentation site: pipelines, the DAG, relations with schema, checks,
    /// tests, compiled SQL and clickable column lineage, search; with --warehouse, run history.
    #[command(
        after_help = "Examples:\n  pipec docs examples/ --out site\n  pipec docs examples/bike_share --out site --warehouse warehouse.duckdb\n\nThe site is static files (no network needed to view): open site/index.html or publish the folder.\nWhat it contains: docs/docs-site.md.\nExit codes: 0 written, 1 errors in the input or an unreadable warehouse, 2 usage errors."
    )]
    Docs {
        /// Files or folders (searched recursively for `*.pipe`).
        #[arg(required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        /// Folder to write the site into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// DuckDB warehouse whose run history (`_pipec` tables) the site shows.
        #[arg(long, value_name = "W")]
        warehouse: Option<PathBuf>,
        /// Output format of the report (the files written).
        #[arg(long, value_enum, default_value = "text")]
        format: DiagFormat,
    },
}

/// `pipec --version`: the toolchain's version and the embedded DuckDB's.
fn version_text() -> String {
    #[cfg(feature = "runner")]
    let engine = match pipec_runner::duckdb_version() {
        Ok(v) => format!("DuckDB {v}"),
        Err(e) => format!("DuckDB version unknown: {e}"),
    };
    #[cfg(not(feature = "runner"))]
    let engine = "built without DuckDB (no `run`, `runs`, `test`)".to_string();
    format!("{} ({engine})", env!("CARGO_PKG_VERSION"))
}

/// Restores the default action of SIGPIPE, so `pipec check --format json | head` ends quietly
/// like other Unix tools instead of panicking in `println!` (Rust ignores SIGPIPE by default).
#[cfg(unix)]
#[allow(unsafe_code)]
fn die_quietly_on_closed_pipe() {
    // SAFETY: called first thing in `main`, before any thread exists; `signal` with `SIG_DFL`
    // only resets the disposition of one signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    #[cfg(unix)]
    die_quietly_on_closed_pipe();
    let mut command = Cli::command();
    // Opening DuckDB to ask its version costs milliseconds: only for `--version`.
    if std::env::args()
        .skip(1)
        .any(|a| a == "--version" || a == "-V")
    {
        command = command.version(version_text());
    }
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Init { dir, example } => match init::init(&dir, example.as_deref()) {
            Ok(files) => {
                for f in &files {
                    println!("created {}", f.display());
                }
                let cd = if dir == Path::new(".") {
                    String::new()
                } else {
                    format!("cd {} && ", dir.display())
                };
                println!(
                    "next: {cd}pipec check . && pipec test . && pipec run . --date 2024-01-01"
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Watch {
            paths,
            run,
            test,
            warehouse,
            format,
        } => watch::watch(watch::Options {
            paths,
            run,
            test,
            warehouse,
            json: format == DiagFormat::Json,
        }),
        Command::Lsp => match pipec_lsp::serve_stdio() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Explain { code, list, format } => explain(code.as_deref(), list, format),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "pipec", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Check { paths, format } => check(&paths, format),
        Command::Fmt {
            paths,
            check,
            format,
        } => fmt::run(&paths, check, format),
        Command::Emit {
            paths,
            target,
            profile,
            out,
            base,
            ingest,
            check,
            format,
        } => emit(
            &paths,
            target,
            profile,
            &out,
            base.as_deref(),
            ingest,
            check,
            format,
        ),
        Command::Graph {
            paths,
            format,
            schemas,
            columns,
            select,
        } => {
            if columns || select.is_some() {
                lineage::graph(&paths, format, schemas, columns, select.as_deref())
            } else {
                graph(&paths, format, schemas)
            }
        }
        Command::Lineage {
            paths,
            column,
            upstream,
            downstream,
            format,
        } => lineage::lineage(&paths, &column, upstream, downstream, format),
        Command::Docs {
            paths,
            out,
            warehouse,
            format,
        } => docs::docs(&paths, &out, warehouse.as_deref(), format),
        Command::Cost {
            paths,
            target: CostTarget::Sam,
            volume,
            warehouse,
            compare,
            ingest,
            base,
            format,
        } => cost(
            &paths,
            CostArgs {
                volume,
                warehouse,
                compare,
                ingest,
                base,
                format,
            },
        ),
        #[cfg(feature = "runner")]
        Command::Run {
            paths,
            date,
            at,
            from,
            to,
            force,
            full_refresh,
            pipelines,
            warehouse,
            wait,
            no_retry,
            jobs,
            format,
        } => {
            let at = match at {
                Some(Bound::Day(d)) => Some(d.and_time(chrono::NaiveTime::MIN).and_utc()),
                Some(Bound::At(t)) => Some(t),
                None => None,
            };
            let dates = match (date, at, from, to) {
                (Some(d), ..) => Dates::One(d),
                (None, Some(t), ..) => Dates::At(t),
                (None, None, Some(a), Some(b)) if !bounds_ordered(a, b) => {
                    return usage_error("--from must not be after --to")
                }
                (None, None, Some(a), Some(b)) => Dates::Range(a, b),
                _ => Dates::Latest,
            };
            let flags = RunFlags {
                force,
                full_refresh,
                wait,
                retry: !no_retry,
                jobs: jobs.map_or_else(
                    || std::thread::available_parallelism().map_or(1, |n| n.get()),
                    usize::from,
                ),
            };
            run(&paths, dates, flags, pipelines, warehouse, format)
        }
        #[cfg(feature = "runner")]
        Command::Runs { warehouse, format } => runs(warehouse, format),
        #[cfg(feature = "runner")]
        Command::Test { paths, format } => test(&paths, format),
        #[cfg(feature = "runner")]
        Command::Show(args) => show::show(args),
        #[cfg(feature = "runner")]
        Command::Plan(args) => plan::plan(args),
    }
}

/// `pipec explain`: the page of a code, built into the binary.
fn explain(code: Option<&str>, list: bool, format: DiagFormat) -> ExitCode {
    use pipec_diag::codes;
    if list {
        match format {
            DiagFormat::Text => {
                for c in codes::ALL {
                    println!("{}  {}", c.id, c.title);
                }
            }
            DiagFormat::Json => json::Doc::new("explain")
                .field(
                    "codes",
                    codes::ALL
                        .iter()
                        .map(|c| serde_json::json!({"code": c.id, "title": c.title}))
                        .collect::<Vec<_>>(),
                )
                .print(),
        }
        return ExitCode::SUCCESS;
    }
    let asked = code.unwrap_or_default().trim();
    // `e102`, `E102`, `0102` and `E0102` all name E0102.
    let normal = {
        let upper = asked.to_uppercase();
        let (letter, digits) = match upper.chars().next() {
            Some(l @ ('E' | 'W')) => (l, upper[1..].to_string()),
            _ => ('E', upper.clone()),
        };
        match digits.parse::<u32>() {
            Ok(n) if digits.chars().all(|c| c.is_ascii_digit()) => format!("{letter}{n:04}"),
            _ => upper,
        }
    };
    match pipec_diag::docs_page(&normal) {
        Some(page) if format == DiagFormat::Json => {
            let title = codes::ALL.iter().find(|c| c.id == normal).map(|c| c.title);
            json::Doc::new("explain")
                .field("code", &normal)
                .field("title", title)
                .field("page", page)
                .print();
            ExitCode::SUCCESS
        }
        Some(page) => {
            print!("{page}");
            ExitCode::SUCCESS
        }
        None => {
            let hint = pipec_diag::did_you_mean(&normal, codes::ALL.iter().map(|c| c.id))
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            eprintln!(
                "error: no diagnostic code `{asked}`{hint} (`pipec explain --list` lists them)"
            );
            ExitCode::from(2)
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// Reports `diags`: as text on stderr, or as the JSON document of `command` (docs/json.md).
fn report(diags: &[Diagnostic], sources: &SourceMap, format: DiagFormat, command: &'static str) {
    match format {
        DiagFormat::Json => json::Doc::failed(command, diags, sources).print(),
        DiagFormat::Text => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            eprint!(
                "{}",
                pipec_diag::render_all(diags, sources, RenderOptions { color, width: 100 })
            );
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
        (e, w) => format!(
            "check failed: {}, {}",
            plural(e, "error"),
            plural(w, "warning")
        ),
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
    if format == DiagFormat::Json {
        let (errors, warnings) = json::counts(&diags);
        json::Doc::new("check")
            .diagnostics(&diags, &compiled.sources)
            .field("errors", errors)
            .field("warnings", warnings)
            .field("pipelines", compiled.checked.project.pipelines.len())
            .print();
    } else {
        report(&diags, &compiled.sources, format, "check");
    }
    if format == DiagFormat::Text && diags.is_empty() {
        let n = compiled.checked.project.pipelines.len();
        eprintln!(
            "checked {n} pipeline{}: no problems",
            if n == 1 { "" } else { "s" }
        );
    }
    if diags.iter().any(Diagnostic::is_error) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Options of `pipec cost`.
struct CostArgs {
    volume: Option<PathBuf>,
    warehouse: Option<PathBuf>,
    compare: Vec<String>,
    ingest: SamIngest,
    base: Option<String>,
    format: DiagFormat,
}

/// Rows per interval `pipec run` measured in `warehouse` (completed intervals only).
#[cfg(feature = "runner")]
/// `Err(Ok(d))`: the warehouse cannot be read; `Err(Err(message))`: a usage error.
fn measured_rows(warehouse: &Path) -> Result<pipec_cost::Measured, Result<Diagnostic, String>> {
    if !warehouse.exists() {
        return Err(Err(format!(
            "warehouse {} does not exist",
            warehouse.display()
        )));
    }
    let rows = pipec_runner::history(warehouse).map_err(|e| Ok(e.diagnostic))?;
    Ok(pipec_cost::Measured::from_rows(rows.iter().filter_map(
        |r| {
            (r.status == "done")
                .then_some(r.rows_written)
                .flatten()
                .map(|n| (r.pipeline.as_str(), n))
        },
    )))
}

#[cfg(not(feature = "runner"))]
fn measured_rows(_: &Path) -> Result<pipec_cost::Measured, Result<Diagnostic, String>> {
    Err(Err(
        "--warehouse needs a pipec built with the `runner` feature".into(),
    ))
}

fn cost(paths: &[PathBuf], args: CostArgs) -> ExitCode {
    let mut compare = Vec::new();
    for c in &args.compare {
        match pipec_cost::Variant::parse(c) {
            Some(v) if !compare.contains(&v) => compare.push(v),
            Some(_) => {}
            None => {
                return usage_error(&format!(
                    "--compare takes api-gateway and direct, not `{c}`"
                ))
            }
        }
    }
    let compiled = match load(paths) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut diags = compiled.checked.diagnostics.clone();
    if compiled.checked.has_errors() {
        report(&diags, &compiled.sources, args.format, "cost");
        return ExitCode::from(1);
    }
    let project = &compiled.checked.project;
    let plan = match pipec_plan::plan(project) {
        Ok(p) => p,
        Err(errs) => {
            diags.extend(errs);
            report(&diags, &compiled.sources, args.format, "cost");
            return ExitCode::from(1);
        }
    };
    let options = pipec_emit::Options {
        roots: emit_roots(project, args.base.as_deref()),
    };
    let settings = pipec_sam::Settings {
        ingest: match args.ingest {
            SamIngest::Direct => pipec_sam::Ingest::Direct,
            SamIngest::ApiGateway => pipec_sam::Ingest::ApiGateway,
        },
    };
    let template = match pipec_sam::template(project, &plan, &options, &settings) {
        Ok(t) => t,
        Err(errs) => {
            diags.extend(errs);
            report(&diags, &compiled.sources, args.format, "cost");
            return ExitCode::from(1);
        }
    };
    let volumes = match &args.volume {
        None => pipec_cost::VolumeFile::default(),
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => return usage_error(&format!("cannot read {}: {e}", path.display())),
            };
            match pipec_cost::parse_volume(&path.display().to_string(), &text) {
                Ok(v) => v,
                Err(e) => return cost_failed(&e, &compiled.sources, args.format),
            }
        }
    };
    let measured = match &args.warehouse {
        None => None,
        Some(w) => match measured_rows(w) {
            Ok(m) => Some(m),
            Err(Err(e)) => return usage_error(&e),
            Err(Ok(d)) => {
                match args.format {
                    DiagFormat::Text => eprintln!("error[{}]: {}", d.code.id, d.message),
                    DiagFormat::Json => report(&[d], &compiled.sources, args.format, "cost"),
                }
                return ExitCode::from(1);
            }
        },
    };
    let prices = pipec_cost::Prices::seoul();
    let estimate = match pipec_cost::estimate(&pipec_cost::Inputs {
        project,
        template: &template,
        volumes: &volumes,
        measured: measured.as_ref(),
        prices: &prices,
        compare: &compare,
    }) {
        Ok(e) => e,
        Err(e) => return cost_failed(&e, &compiled.sources, args.format),
    };
    match args.format {
        DiagFormat::Text => print!("{}", pipec_cost::render::text(&estimate)),
        DiagFormat::Json => json::Doc::new("cost")
            .diagnostics(&diags, &compiled.sources)
            .fields(&estimate)
            .print(),
    }
    ExitCode::SUCCESS
}

/// A `pipec cost` error (`E0670`, `E0671`) reported as text or in the JSON document.
fn cost_failed(e: &pipec_cost::CostError, sources: &SourceMap, format: DiagFormat) -> ExitCode {
    match format {
        DiagFormat::Text => eprintln!("{e}"),
        DiagFormat::Json => {
            let d = Diagnostic::error(e.code, pipec_diag::Span::default(), e.message.clone(), "");
            report(&[d], sources, format, "cost");
        }
    }
    ExitCode::from(1)
}

fn graph(paths: &[PathBuf], format: GraphFormat, schemas: bool) -> ExitCode {
    let (compiled, plan) = match lineage::planned(paths, format.diag(), "graph") {
        Ok(p) => p,
        Err(code) => return code,
    };
    match format {
        GraphFormat::Dot => print!("{}", pipec_plan::to_dot(&plan, schemas)),
        GraphFormat::Mermaid => print!("{}", pipec_plan::to_mermaid(&plan, schemas)),
        GraphFormat::Json => {
            lineage::graph_doc(&compiled, "relations", &pipec_plan::to_json(&plan))
        }
    }
    ExitCode::SUCCESS
}

/// The folder each spec's relative paths resolve to: `base` joined with the spec's folder
/// relative to the working folder, or the spec's absolute folder.
fn emit_roots(
    project: &pipec_check::ir::Project,
    base: Option<&str>,
) -> std::collections::BTreeMap<String, String> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut roots = std::collections::BTreeMap::new();
    for p in &project.pipelines {
        let dir = Path::new(&p.file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let root = match base {
            Some(b) => {
                let rel = dir.strip_prefix(".").unwrap_or(&dir).to_string_lossy();
                if rel.is_empty() {
                    b.trim_end_matches('/').to_string()
                } else {
                    format!("{}/{}", b.trim_end_matches('/'), rel)
                }
            }
            None => {
                let abs = if dir.is_absolute() {
                    dir.clone()
                } else {
                    cwd.join(&dir)
                };
                std::fs::canonicalize(&abs)
                    .unwrap_or(abs)
                    .to_string_lossy()
                    .into_owned()
            }
        };
        roots.insert(p.file.clone(), root);
    }
    roots
}

/// `dir` as an absolute path with its existing part canonicalized (it may not exist yet), so
/// that it compares with [`emit_roots`]' canonical spec folders.
fn absolute_dir(dir: &Path) -> String {
    let abs = std::env::current_dir().unwrap_or_default().join(dir);
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut out = std::fs::canonicalize(existing).unwrap_or_else(|_| existing.to_path_buf());
    out.extend(rest.iter().rev());
    out.to_string_lossy().into_owned()
}

/// The files under `dir` (relative `/`-separated path → contents), for `emit --check`.
fn read_tree(dir: &Path) -> std::collections::BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "__pycache__") {
                    continue;
                }
                walk(root, &path, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                let key = rel.to_string_lossy().replace('\\', "/");
                out.insert(key, std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[allow(clippy::too_many_arguments)]
fn emit(
    paths: &[PathBuf],
    target: EmitTarget,
    profile: AirflowProfile,
    out: &Path,
    base: Option<&str>,
    ingest: SamIngest,
    check_only: bool,
    format: DiagFormat,
) -> ExitCode {
    let compiled = match load(paths) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut diags = compiled.checked.diagnostics.clone();
    if compiled.checked.has_errors() {
        report(&diags, &compiled.sources, format, "emit");
        return ExitCode::from(1);
    }
    let project = &compiled.checked.project;
    let plan = match pipec_plan::plan(project) {
        Ok(p) => p,
        Err(errs) => {
            diags.extend(errs);
            report(&diags, &compiled.sources, format, "emit");
            return ExitCode::from(1);
        }
    };
    let options = pipec_emit::Options {
        roots: emit_roots(project, base),
    };
    let result = match target {
        EmitTarget::Spark => pipec_spark::emit(project, &plan, &options),
        EmitTarget::Airflow => pipec_airflow::emit(
            project,
            &plan,
            &options,
            match profile {
                AirflowProfile::Duckdb => pipec_airflow::Profile::DuckDb,
                AirflowProfile::Postgres => pipec_airflow::Profile::Postgres,
            },
        ),
        EmitTarget::Sam => pipec_sam::emit(
            project,
            &plan,
            &options,
            &pipec_sam::Settings {
                ingest: match ingest {
                    SamIngest::Direct => pipec_sam::Ingest::Direct,
                    SamIngest::ApiGateway => pipec_sam::Ingest::ApiGateway,
                },
            },
        ),
    };
    let mut output = match result {
        Ok(o) => o,
        Err(errs) => {
            diags.extend(errs);
            report(&diags, &compiled.sources, format, "emit");
            return ExitCode::from(1);
        }
    };
    if target == EmitTarget::Sam {
        pipec_sam::relative_uploads(&mut output.manifest, &absolute_dir(out));
    }
    let files = output.all_files();
    let doc = |diags: &[Diagnostic], drift: &[String]| {
        json::Doc::new("emit")
            .diagnostics(diags, &compiled.sources)
            .field("target", &output.manifest.target)
            .field("profile", &output.manifest.profile)
            .field("out", out.display().to_string())
            .field("check", check_only)
            .field(
                "pipelines",
                output
                    .manifest
                    .pipelines
                    .iter()
                    .map(|p| &p.name)
                    .collect::<Vec<_>>(),
            )
            .field("files", files.iter().map(|f| &f.path).collect::<Vec<_>>())
            .field("drift", drift)
    };
    if check_only {
        let drift = pipec_emit::drift(&files, &read_tree(out));
        if drift.is_empty() {
            match format {
                DiagFormat::Text => {
                    eprintln!("{} is up to date ({} files)", out.display(), files.len())
                }
                DiagFormat::Json => doc(&diags, &drift).print(),
            }
            return ExitCode::SUCCESS;
        }
        if format == DiagFormat::Json {
            diags.push(
                Diagnostic::error(
                    pipec_diag::codes::EMIT_DRIFT,
                    pipec_diag::Span::default(),
                    format!(
                        "{} differs from what `pipec emit` would write",
                        out.display()
                    ),
                    "",
                )
                .with_help("run the same command without --check to rewrite it"),
            );
            doc(&diags, &drift).print();
            return ExitCode::from(1);
        }
        eprintln!(
            "error[{}]: {} differs from what `pipec emit` would write:",
            pipec_diag::codes::EMIT_DRIFT.id,
            out.display()
        );
        for d in &drift {
            eprintln!("  {d}");
        }
        eprintln!("  help: run the same command without --check to rewrite it");
        return ExitCode::from(1);
    }
    if let Err(e) = write_emitted(out, &files) {
        return usage_error(&format!("cannot write {}: {e}", out.display()));
    }
    if format == DiagFormat::Json {
        doc(&diags, &[]).print();
        return ExitCode::SUCCESS;
    }
    report(&diags, &compiled.sources, format, "emit");
    {
        eprintln!(
            "wrote {} files for {} pipeline{} to {}",
            files.len(),
            output.manifest.pipelines.len(),
            if output.manifest.pipelines.len() == 1 {
                ""
            } else {
                "s"
            },
            out.display()
        );
    }
    ExitCode::SUCCESS
}

/// Writes the emitted files; files of an earlier emit that this one does not write are removed,
/// so the folder is exactly the emit's output.
fn write_emitted(out: &Path, files: &[pipec_emit::File]) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let stale: Vec<String> = read_tree(out)
        .into_keys()
        .filter(|k| !files.iter().any(|f| &f.path == k))
        .collect();
    let manifest = out.join("manifest.json");
    if !stale.is_empty() && !manifest.exists() {
        return Err(std::io::Error::other(
            "the folder holds files that pipec did not write (no manifest.json); choose an empty or pipec-written folder",
        ));
    }
    for f in files {
        let path = out.join(&f.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &f.contents)?;
    }
    for k in stale {
        std::fs::remove_file(out.join(k))?;
    }
    Ok(())
}

/// The project config file, read from the working folder.
#[cfg(feature = "runner")]
const CONFIG_FILE: &str = "pipec.json";

/// The warehouse: `--warehouse`, else `"warehouse"` in `./pipec.json` (relative to that file's
/// folder), else `./warehouse.duckdb`. A config file that is not valid is an error, not ignored.
#[cfg(feature = "runner")]
fn warehouse_path(flag: Option<PathBuf>) -> Result<PathBuf, String> {
    let config = read_config(Path::new(CONFIG_FILE))?;
    Ok(flag
        .or(config.warehouse)
        .unwrap_or_else(|| PathBuf::from("warehouse.duckdb")))
}

/// Settings of `pipec.json`.
#[cfg(feature = "runner")]
#[derive(Debug, Default)]
struct Config {
    warehouse: Option<PathBuf>,
}

#[cfg(feature = "runner")]
fn read_config(path: &Path) -> Result<Config, String> {
    const KEYS: [&str; 1] = ["warehouse"];
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    let Some(object) = value.as_object() else {
        return Err(format!(
            "{} must hold an object, like {{\"warehouse\": \"data/dev.duckdb\"}}",
            path.display()
        ));
    };
    let mut config = Config::default();
    for (key, value) in object {
        match (key.as_str(), value) {
            ("warehouse", serde_json::Value::String(w)) => {
                let base = path.parent().unwrap_or(Path::new(""));
                config.warehouse = Some(base.join(w));
            }
            ("warehouse", _) => {
                return Err(format!(
                    "`warehouse` in {} must be a path in a string",
                    path.display()
                ))
            }
            (other, _) => {
                let hint = pipec_diag::did_you_mean(other, KEYS.iter().copied())
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_default();
                return Err(format!(
                    "unknown setting `{other}` in {} (known: {}){hint}",
                    path.display(),
                    KEYS.join(", ")
                ));
            }
        }
    }
    Ok(config)
}

/// Reports `d`, which stopped `command`: as text on stderr, or as its JSON document.
#[cfg(feature = "runner")]
fn report_one(d: &Diagnostic, sources: &SourceMap, format: DiagFormat, command: &'static str) {
    if d.span() == pipec_diag::Span::default() && format == DiagFormat::Text {
        eprintln!("error[{}]: {}", d.code.id, d.message);
        if let Some(h) = &d.help {
            eprintln!("  help: {h}");
        }
    } else if format == DiagFormat::Text {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!(
            "{}",
            pipec_diag::render(d, sources, RenderOptions { color, width: 100 })
        );
    } else {
        report(std::slice::from_ref(d), sources, format, command);
    }
}

#[cfg(feature = "runner")]
/// Compiles and plans, reporting errors (in `format`, as `command`'s document) and, as text,
/// warnings (a JSON document carries them itself); `Err` when the input has errors.
fn compile_and_plan(
    paths: &[PathBuf],
    format: DiagFormat,
    command: &'static str,
) -> Result<(project::Compiled, pipec_plan::Plan), ExitCode> {
    let compiled = load(paths)?;
    let warnings: Vec<Diagnostic> = compiled
        .checked
        .diagnostics
        .iter()
        .filter(|d| !d.is_error())
        .cloned()
        .collect();
    if compiled.checked.has_errors() {
        report(
            &compiled.checked.diagnostics,
            &compiled.sources,
            format,
            command,
        );
        return Err(ExitCode::from(1));
    }
    if !warnings.is_empty() && format == DiagFormat::Text {
        report(&warnings, &compiled.sources, format, command);
    }
    match pipec_plan::plan(&compiled.checked.project) {
        Ok(plan) => Ok((compiled, plan)),
        Err(mut errs) => {
            if format == DiagFormat::Json {
                errs.splice(0..0, warnings);
            }
            report(&errs, &compiled.sources, format, command);
            Err(ExitCode::from(1))
        }
    }
}

/// The switches of `pipec run`.
#[cfg(feature = "runner")]
struct RunFlags {
    force: bool,
    full_refresh: bool,
    wait: bool,
    retry: bool,
    jobs: usize,
}

#[cfg(feature = "runner")]
fn run(
    paths: &[PathBuf],
    dates: Dates,
    flags: RunFlags,
    pipelines: Vec<String>,
    warehouse: Option<PathBuf>,
    format: DiagFormat,
) -> ExitCode {
    let (compiled, plan) = match compile_and_plan(paths, format, "run") {
        Ok(x) => x,
        Err(code) => return code,
    };
    let project = &compiled.checked.project;
    for name in &pipelines {
        if !project.pipelines.iter().any(|p| &p.name == name) {
            return usage_error(&format!("no pipeline named `{name}` in the given paths"));
        }
    }
    let warehouse = match warehouse_path(warehouse) {
        Ok(w) => w,
        Err(e) => return usage_error(&e),
    };
    let opts = pipec_runner::RunOptions {
        warehouse,
        dates,
        force: flags.force,
        wait: flags.wait,
        progress: format == DiagFormat::Text && std::io::stderr().is_terminal(),
        pipelines,
        retry: flags.retry,
        full_refresh: flags.full_refresh,
        jobs: flags.jobs,
    };
    let secrets = Secrets::from_env();
    match pipec_runner::run(project, &plan, &opts, &secrets) {
        Ok(report) => {
            match format {
                DiagFormat::Json => json::Doc::new("run")
                    .diagnostics(&compiled.checked.diagnostics, &compiled.sources)
                    .fields(&report)
                    .print(),
                DiagFormat::Text => {
                    if report.intervals.is_empty() {
                        eprintln!(
                            "nothing to run: no interval is due (pass --date or --from/--to)"
                        );
                    }
                    print!("{}", report.table());
                }
            }
            for i in &report.intervals {
                if let Some(d) = &i.error {
                    report_one(d, &compiled.sources, DiagFormat::Text, "run");
                }
            }
            if !report.intervals.is_empty() {
                match format {
                    DiagFormat::Text => println!("{}", report.tally),
                    DiagFormat::Json => eprintln!("{}", report.tally),
                }
            }
            if report.failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            report_one(&e.diagnostic, &compiled.sources, format, "run");
            ExitCode::from(1)
        }
    }
}

/// Whether `--from a --to b` is a range: comparing dates by date and instants by instant, a
/// date against an instant by that date's UTC day (zones move a day by at most 14 hours).
#[cfg(feature = "runner")]
fn bounds_ordered(a: Bound, b: Bound) -> bool {
    let first = |x: Bound| match x {
        Bound::Day(d) => d.and_time(chrono::NaiveTime::MIN).and_utc(),
        Bound::At(t) => t,
    };
    let last = |x: Bound| match x {
        Bound::Day(d) => (d + chrono::Duration::days(1))
            .and_time(chrono::NaiveTime::MIN)
            .and_utc(),
        Bound::At(t) => t,
    };
    first(a) <= last(b)
}

#[cfg(feature = "runner")]
fn runs(warehouse: Option<PathBuf>, format: DiagFormat) -> ExitCode {
    let path = match warehouse_path(warehouse) {
        Ok(w) => w,
        Err(e) => return usage_error(&e),
    };
    match pipec_runner::history(&path) {
        Ok(rows) => {
            match format {
                DiagFormat::Json => json::Doc::new("runs")
                    .field("warehouse", path.display().to_string())
                    .field("runs", &rows)
                    .print(),
                DiagFormat::Text => {
                    if rows.is_empty() {
                        println!("no runs recorded in {}", path.display());
                    } else {
                        println!(
                            "{:<20} {:<16} {:<19} {:<8} {:>8} {:>12}  {:<26} error",
                            "pipeline",
                            "interval",
                            "start (UTC)",
                            "status",
                            "attempts",
                            "rows",
                            "finished"
                        );
                        for r in rows {
                            println!(
                                "{:<20} {:<16} {:<19} {:<8} {:>8} {:>12}  {:<26} {}",
                                r.pipeline,
                                r.interval,
                                r.start,
                                r.status,
                                r.attempts,
                                r.rows_written.map(|n| n.to_string()).unwrap_or_default(),
                                r.finished_at,
                                r.error.unwrap_or_default().lines().next().unwrap_or("")
                            );
                        }
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            report_one(&e.diagnostic, &SourceMap::new(), format, "runs");
            ExitCode::from(1)
        }
    }
}

#[cfg(feature = "runner")]
fn test(paths: &[PathBuf], format: DiagFormat) -> ExitCode {
    let (compiled, _plan) = match compile_and_plan(paths, format, "test") {
        Ok(x) => x,
        Err(code) => return code,
    };
    let reports = pipec_runner::run_tests(&compiled.checked.project.pipelines);
    let failed = reports.iter().filter(|r| !r.passed).count();
    match format {
        DiagFormat::Json => {
            let failures: Vec<Diagnostic> =
                reports.iter().filter_map(|r| r.error.clone()).collect();
            let mut diags = compiled.checked.diagnostics.clone();
            diags.extend(failures);
            json::Doc::new("test")
                .diagnostics(&diags, &compiled.sources)
                .field("tests", &reports)
                .field("passed", reports.len() - failed)
                .field("failed", failed)
                .print()
        }
        DiagFormat::Text => {
            for r in &reports {
                println!(
                    "test {}::{} ... {}",
                    r.pipeline,
                    r.name,
                    if r.passed { "ok" } else { "FAILED" }
                );
            }
            for r in &reports {
                if let Some(d) = &r.error {
                    report_one(d, &compiled.sources, DiagFormat::Text, "test");
                }
            }
            println!("{} passed, {} failed", reports.len() - failed, failed);
        }
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
