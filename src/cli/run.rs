//! `syncmap run`: a full or modified-only sync of a plan, or a dry run of one.

use std::process::ExitCode;

use clap::ValueEnum;
use syncmap::runtime::engine::{report, Mode, RunRequest};

use super::runtime::{self, Target};
use super::CliError;

/// The sync mode.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModeArg {
    /// Every row passing the filters.
    Full,
    /// Rows changed since the last run.
    Modified,
}

/// `syncmap run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A plan file, or `.map` files and folders compiled on the fly (the same as `--plan`).
    paths: Vec<std::path::PathBuf>,
    #[command(flatten)]
    target: Target,
    /// Full or modified-only.
    #[arg(long, value_enum, default_value = "modified")]
    mode: ModeArg,
    /// Only these table mappings (repeat for several).
    #[arg(long = "table", value_name = "NAME")]
    tables: Vec<String>,
    /// Read both sides and show what would change; write nothing, to the systems or the state.
    #[arg(long)]
    dry_run: bool,
    /// Print the outcome as one JSON document.
    #[arg(long)]
    json: bool,
}

/// Runs the sync; exit 0 when every record synced, 1 when some failed (they are logged and
/// retried by the next run), 2 when the run could not start or was stopped by a system error.
pub fn run(mut args: RunArgs) -> Result<ExitCode, CliError> {
    if !args.paths.is_empty() {
        args.target.plan = std::mem::take(&mut args.paths);
    }
    let rt = runtime::open_with(
        &args.target,
        runtime::Needs {
            systems: true,
            dry_run: args.dry_run,
        },
    )?;
    let mode = match args.mode {
        ModeArg::Full => Mode::Full,
        ModeArg::Modified => Mode::Modified,
    };
    let req = RunRequest {
        mode,
        tables: args.tables,
        dry_run: args.dry_run,
        trigger: "manual".into(),
    };
    let bar = super::progress::Bar::on_terminal();
    let mut engine = rt.engine()?;
    if let Some(b) = &bar {
        engine = engine.with_progress(b);
    }
    // Ctrl-C or SIGTERM: the batch in flight is finished and the run recorded as interrupted.
    let stop = syncmap::schedule::Stop::default();
    engine = engine.with_cancel(stop.flag());
    let report = runtime::block_on(async {
        super::signals::stop_on_signals(
            stop,
            "stopping: finishing the batch in flight and recording the run",
        )?;
        engine.run(&req).await.map_err(runtime::engine_error)
    })??;
    if args.json {
        runtime::print_json(&report);
    } else {
        print!("{}", report::human(&report));
    }
    Ok(if report.totals().failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
