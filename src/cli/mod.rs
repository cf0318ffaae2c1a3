//! The command line: argument parsing and one module per command. Exit codes: 0 success (warnings
//! allowed), 1 errors in the user's files (or a formatting difference under `--check`), 2 usage or
//! I/O problems.

mod changes;
mod check;
mod companies;
mod compile;
mod demo;
mod diff;
mod doctor;
mod explain;
mod fmt;
mod help;
mod init;
mod inputs;
mod inspect;
mod logging;
mod lsp;
pub mod out;
mod output;
mod progress;
mod records;
mod report;
mod run;
mod runtime;
mod sandbox;
mod schedule;
mod schema;
mod signals;
mod test;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "syncmap",
    version,
    about = "Keep records of two business systems in step, driven by typed .map files",
    after_help = help::TOP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines on standard error look: `human` or `json` (one object per line). Filter
    /// them with `SYNCMAP_LOG` (e.g. `debug`, `syncmap=info`). Said once, under `syncmap
    /// --help`, rather than under every command.
    #[arg(long, global = true, value_enum, default_value = "human", hide = true)]
    log_format: logging::LogFormat,
}

/// Output formats of `check`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// Source excerpts with labels, for people.
    Human,
    /// One JSON object per diagnostic, in an array.
    Json,
    /// SARIF 2.1.0, for CI code scanning.
    Sarif,
}

#[derive(Subcommand)]
enum Command {
    /// Type-check .map files against their schema snapshots and run their inline tests.
    #[command(after_help = help::CHECK)]
    Check {
        /// Files or folders (searched for *.map); `mappings/`, else the current folder, when
        /// absent.
        paths: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Apply the fixes that are surely what was meant (a misspelt name with one close
        /// match, a stray comma), then check again.
        #[arg(long)]
        fix: bool,
        /// With `--fix`: show the changes as a diff instead of writing them.
        #[arg(long, requires = "fix")]
        diff: bool,
    },
    /// Compile .map files into a plan (deterministic JSON).
    #[command(after_help = help::COMPILE)]
    Compile {
        /// Files or folders (searched for *.map); `mappings/`, else the current folder, when
        /// absent.
        paths: Vec<PathBuf>,
        /// Where to write the plan; standard output when absent.
        #[arg(short, long)]
        output: Option<PathBuf>,
        // Without `-o` the plan is standard output's only content, whatever the format.
        #[command(flatten)]
        format: output::OutputArgs,
    },
    /// Summarise what changed between two plans: tables, fields, filters, directions, jobs.
    /// Exit 0 when they agree, 1 when they differ, 2 when a file is not a plan.
    #[command(after_help = help::DIFF)]
    Diff(diff::DiffArgs),
    /// Rewrite .map files in canonical form (`-` formats standard input to standard output).
    #[command(after_help = help::FMT)]
    Fmt {
        /// Files or folders (`mappings/`, else the current folder, when absent); `-` reads
        /// standard input and writes standard output.
        paths: Vec<PathBuf>,
        /// Change nothing; show the differences and exit 1 if any file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Explain a diagnostic code, e.g. `syncmap explain E0203`; list all codes without one.
    #[command(after_help = help::EXPLAIN)]
    Explain {
        /// The code.
        code: Option<String>,
    },
    /// Run the inline `test` blocks.
    #[command(after_help = help::TEST)]
    Test {
        /// Files or folders (searched for *.map); `mappings/`, else the current folder, when
        /// absent.
        paths: Vec<PathBuf>,
    },
    /// Write the standard Business Central ↔ Dataverse mappings ("use default synchronization setup").
    #[command(after_help = help::INIT)]
    Init {
        /// Write the standard mappings and their schema snapshots.
        #[arg(long, required = true)]
        defaults: bool,
        /// The folder to write into.
        dir: PathBuf,
        /// Overwrite files that exist.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        format: output::OutputArgs,
    },
    /// Run a plan: a full or modified-only sync, or a dry run.
    #[command(after_help = help::RUN)]
    Run(run::RunArgs),
    /// Run the plan's jobs until SIGINT or SIGTERM (which finish the batch in flight), serving
    /// /metrics and /healthz; `--once` runs each job once and exits.
    #[command(after_help = help::SCHEDULE)]
    Schedule(schedule::ScheduleArgs),
    /// Share the plan's jobs with other workers through one state store (PostgreSQL for
    /// several machines): take due units (a job's table mapping) one at a time, under a
    /// lease, until SIGINT or SIGTERM; `--until-idle` stops when nothing is due.
    #[command(after_help = help::WORKER)]
    Worker(worker::WorkerArgs),
    /// Try it all on local sandboxes: start both, seed them, run the standard mappings, change
    /// records on both sides (a conflict and a deletion among them), sync again, and report.
    #[command(after_help = help::DEMO)]
    Demo(demo::DemoArgs),
    /// Print a change set (`run --dry-run -o FILE`) for review: each write with its fields
    /// before → after.
    #[command(after_help = help::SHOW)]
    Show(changes::ShowArgs),
    /// Make exactly the writes of a reviewed change set; records whose rows moved on either
    /// side since the review are refused and reported (exit 1).
    #[command(after_help = help::APPLY)]
    Apply(changes::ApplyArgs),
    /// Couple (if needed) and sync one record.
    #[command(after_help = help::RECORD)]
    Record(records::RecordArgs),
    /// Couple two records by hand.
    #[command(after_help = help::COUPLE)]
    Couple(records::CoupleArgs),
    /// Remove couplings.
    #[command(after_help = help::UNCOUPLE)]
    Uncouple(records::UncoupleArgs),
    /// Couple the uncoupled records of a table mapping by its match rules.
    #[command(after_help = help::MATCH)]
    Match(records::MatchArgs),
    /// Per table mapping: couplings, failed and skipped records, watermarks, last run.
    #[command(after_help = help::STATUS)]
    Status(inspect::StatusArgs),
    /// List runs, or explain one with `--run ID`.
    #[command(after_help = help::LOG)]
    Log(inspect::LogArgs),
    /// Records that failed, waiting for a retry or skipped.
    #[command(after_help = help::ERRORS)]
    Errors(inspect::ErrorsArgs),
    /// Retry skipped records in the next run.
    #[command(after_help = help::RETRY)]
    Retry(records::RetryArgs),
    /// Settle a record the rules left failing: a conflict by taking one side's values
    /// (`--take left|right`), a deleted partner by `--restore`, `--delete` or `--uncouple`;
    /// one pair, or `--all` of a table mapping. Shows the field-level difference it writes
    /// (`--dry-run` writes nothing).
    #[command(after_help = help::RESOLVE)]
    Resolve(records::ResolveArgs),
    /// Write the mappings and their recent runs as one self-contained HTML page.
    #[command(after_help = help::REPORT)]
    Report(report::ReportArgs),
    /// Check that a plan can run: profile, secrets, connections, credentials, company, tables,
    /// and drift of the live schemas from the snapshots. Exit 0 when all pass, 1 when one fails.
    #[command(after_help = help::DOCTOR)]
    Doctor(doctor::DoctorArgs),
    /// Run the language server over standard input and output (for editors).
    Lsp,
    /// Run local emulators of the Business Central and Dataverse APIs until Ctrl-C.
    #[command(after_help = help::SANDBOX)]
    Sandbox(sandbox::SandboxArgs),
    /// Work with schema snapshots.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Write the schema snapshot of a live system named in a profile: an OData service's
    /// `$metadata` (the tables the mappings use) or a SQLite database's tables.
    #[command(after_help = help::SCHEMA_PULL)]
    Pull(schema::PullArgs),
    /// Turn an OData CSDL $metadata document into a schema snapshot.
    #[command(after_help = help::SCHEMA_IMPORT)]
    Import {
        /// The CSDL XML file.
        file: PathBuf,
        /// Where to write the snapshot; standard output when absent.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Keep only these entity sets (comma-separated).
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
    },
}

/// A problem that is not in the user's files: bad arguments, unreadable paths.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The arguments do not make sense.
    #[error("{0}")]
    Usage(String),
    /// The user's `.map` files have errors, already printed as diagnostics: exit 1.
    #[error("the mappings have errors")]
    Reported,
}

impl From<syncmap::project::LoadError> for CliError {
    fn from(e: syncmap::project::LoadError) -> Self {
        CliError::Io(e.to_string())
    }
}

/// Parses arguments, runs the command, and turns its outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A service's log is its output; a one-off command reports in its own output, so its log
    // is there only when asked for (`SYNCMAP_LOG=info syncmap run …`).
    let level = match cli.command {
        Command::Schedule(_) | Command::Worker(_) => "info",
        _ => "off",
    };
    logging::init(cli.log_format, level);
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(CliError::Reported) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {}", syncmap::redact::redact(&e.to_string()));
            ExitCode::from(2)
        }
    }
}

/// Runs one command.
fn dispatch(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Check {
            paths,
            format,
            fix,
            diff,
        } => match (fix, diff) {
            (true, true) => check::show_fixes(&paths),
            (true, false) => check::fix(&paths).and_then(|_| check::run(&paths, format)),
            _ => check::run(&paths, format),
        },
        Command::Compile {
            paths,
            output,
            format,
        } => compile::run(&paths, output.as_deref(), format.json()),
        Command::Diff(args) => diff::run(args),
        Command::Fmt { paths, check } => fmt::run(&paths, check),
        Command::Explain { code } => explain::run(code.as_deref()),
        Command::Test { paths } => test::run(&paths),
        Command::Init {
            defaults: _,
            dir,
            force,
            format,
        } => init::run(&dir, force, format.json()),
        Command::Run(args) => run::run(args),
        Command::Schedule(args) => schedule::run(args),
        Command::Worker(args) => worker::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Record(args) => records::record(args),
        Command::Couple(args) => records::couple(args),
        Command::Uncouple(args) => records::uncouple(args),
        Command::Match(args) => records::matching(args),
        Command::Status(args) => inspect::status(args),
        Command::Log(args) => inspect::log(args),
        Command::Errors(args) => inspect::errors(args),
        Command::Retry(args) => records::retry(args),
        Command::Resolve(args) => records::resolve(args),
        Command::Show(args) => changes::show(args),
        Command::Apply(args) => changes::apply(args),
        Command::Report(args) => report::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Lsp => lsp::run(),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Schema {
            command: SchemaCommand::Pull(args),
        } => schema::pull(&args),
        Command::Schema {
            command:
                SchemaCommand::Import {
                    file,
                    output,
                    tables,
                },
        } => schema::import(&file, output.as_deref(), &tables),
    }
}
