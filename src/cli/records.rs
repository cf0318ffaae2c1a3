//! The manual commands of the reference: sync one record, couple, uncouple, match-based
//! coupling, and retrying skipped records.

use std::process::ExitCode;

use syncmap::plan::Side;
use syncmap::runtime::engine::report;

use super::runtime::{self, Target};
use super::CliError;

/// Which record: by its key on the left or on the right side.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct Which {
    /// The record's key on the left side.
    #[arg(long)]
    left: Option<String>,
    /// The record's key on the right side.
    #[arg(long)]
    right: Option<String>,
}

impl Which {
    fn side_key(&self) -> Option<(Side, &str)> {
        match (&self.left, &self.right) {
            (Some(k), _) => Some((Side::Left, k.as_str())),
            (_, Some(k)) => Some((Side::Right, k.as_str())),
            _ => None,
        }
    }
}

/// `syncmap record`.
#[derive(clap::Args, Debug)]
pub struct RecordArgs {
    /// The table mapping.
    table: String,
    #[command(flatten)]
    which: Which,
    #[command(flatten)]
    target: Target,
    /// Show what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    output: super::output::OutputArgs,
}

/// Couples (if needed) and syncs one record.
pub fn record(args: RecordArgs) -> Result<ExitCode, CliError> {
    let rt = runtime::open_with(
        &args.target,
        runtime::Needs {
            systems: true,
            dry_run: args.dry_run,
        },
    )?;
    let Some((side, key)) = args.which.side_key() else {
        return Err(CliError::Usage("give --left KEY or --right KEY".into()));
    };
    let mut engine = rt.engine()?;
    let report = runtime::block_on(engine.sync_record(&args.table, side, key, args.dry_run))?
        .map_err(runtime::engine_error)?;
    show(&report, args.output.json())
}

fn show(r: &report::RunReport, json: bool) -> Result<ExitCode, CliError> {
    if json {
        runtime::print_json(r);
    } else {
        print!("{}", report::human(r));
    }
    Ok(if r.totals().failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `syncmap couple`.
#[derive(clap::Args, Debug)]
pub struct CoupleArgs {
    /// The table mapping.
    table: String,
    /// The left record's key (`--left`, as `record` and `uncouple` name it).
    #[arg(long = "left", value_name = "KEY")]
    left_key: String,
    /// The right record's key.
    #[arg(long = "right", value_name = "KEY")]
    right_key: String,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    output: super::output::OutputArgs,
}

/// Couples two records by hand.
pub fn couple(args: CoupleArgs) -> Result<ExitCode, CliError> {
    let rt = runtime::open(&args.target)?;
    let mut engine = rt.engine()?;
    let report = runtime::block_on(engine.couple(&args.table, &args.left_key, &args.right_key))?
        .map_err(runtime::engine_error)?;
    if !args.output.json() {
        println!(
            "coupled {} `{}` ↔ `{}`; the next run syncs them",
            args.table, args.left_key, args.right_key
        );
        return Ok(ExitCode::SUCCESS);
    }
    show(&report, true)
}

/// `syncmap uncouple`.
#[derive(clap::Args, Debug)]
pub struct UncoupleArgs {
    /// The table mapping.
    table: String,
    /// The record's key on the left side.
    #[arg(long, conflicts_with_all = ["right", "all"])]
    left: Option<String>,
    /// The record's key on the right side.
    #[arg(long, conflicts_with = "all")]
    right: Option<String>,
    /// Every coupling of the table mapping (and its watermarks).
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    output: super::output::OutputArgs,
}

/// Removes couplings.
pub fn uncouple(args: UncoupleArgs) -> Result<ExitCode, CliError> {
    let which = match (&args.left, &args.right, args.all) {
        (Some(k), _, _) => Some((Side::Left, k.as_str())),
        (_, Some(k), _) => Some((Side::Right, k.as_str())),
        (None, None, true) => None,
        _ => {
            return Err(CliError::Usage(
                "give --left KEY, --right KEY or --all".into(),
            ))
        }
    };
    let rt = runtime::open_with(
        &args.target,
        runtime::Needs {
            systems: false,
            dry_run: false,
        },
    )?;
    let mut engine = rt.engine()?;
    let report = engine
        .uncouple(&args.table, which)
        .map_err(runtime::engine_error)?;
    if args.output.json() {
        return show(&report, true);
    }
    println!(
        "uncoupled {} record{} of {}",
        report.totals().uncoupled,
        if report.totals().uncoupled == 1 {
            ""
        } else {
            "s"
        },
        args.table
    );
    Ok(ExitCode::SUCCESS)
}

/// `syncmap match`.
#[derive(clap::Args, Debug)]
pub struct MatchArgs {
    /// The table mapping.
    table: String,
    #[command(flatten)]
    target: Target,
    /// Show what would be coupled; couple nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    output: super::output::OutputArgs,
}

/// Match-based coupling of a whole table mapping.
pub fn matching(args: MatchArgs) -> Result<ExitCode, CliError> {
    let rt = runtime::open_with(
        &args.target,
        runtime::Needs {
            systems: true,
            dry_run: args.dry_run,
        },
    )?;
    let mut engine = rt.engine()?;
    let report = runtime::block_on(engine.match_table(&args.table, args.dry_run))?
        .map_err(runtime::engine_error)?;
    show(&report, args.output.json())
}

/// `syncmap retry`.
#[derive(clap::Args, Debug)]
pub struct RetryArgs {
    /// Only this table mapping.
    table: Option<String>,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    output: super::output::OutputArgs,
}

/// Un-skips records so the next run retries them.
pub fn retry(args: RetryArgs) -> Result<ExitCode, CliError> {
    let rt = runtime::open_with(
        &args.target,
        runtime::Needs {
            systems: false,
            dry_run: false,
        },
    )?;
    if let Some(t) = &args.table {
        if rt.plan.table(t).is_none() {
            return Err(CliError::Usage(format!(
                "no table mapping `{t}` in the plan"
            )));
        }
    }
    let n = rt
        .store
        .retry(args.table.as_deref())
        .map_err(|e| CliError::Io(e.to_string()))?;
    if args.output.json() {
        runtime::print_json(&serde_json::json!({ "table": args.table, "retried": n }));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{n} skipped record{} will be retried by the next run",
        if n == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}
