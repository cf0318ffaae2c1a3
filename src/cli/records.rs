//! The manual commands of the reference: sync one record, couple, uncouple, match-based
//! coupling, retrying skipped records, and settling conflicts and deleted partners by hand.

use std::process::ExitCode;

use syncmap::plan::Side;
use syncmap::runtime::engine::{report, Pick, Resolution};

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
    // As `run` prints its report: values a system answered may hold what must not be shown.
    runtime::print_report(r, json);
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

/// Which side's values settle a conflict.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum TakeSide {
    /// The left side's (the first side of the table mapping).
    Left,
    /// The right side's.
    Right,
}

/// How `resolve` settles the records.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct HowToSettle {
    /// A conflict: write this side's values to the other, whatever the conflict rule.
    #[arg(long, value_enum)]
    take: Option<TakeSide>,
    /// A deleted partner: create it again from the record, and couple them.
    #[arg(long)]
    restore: bool,
    /// A deleted partner: delete the record too.
    #[arg(long)]
    delete: bool,
    /// A deleted partner: remove the coupling and keep the record.
    #[arg(long)]
    uncouple: bool,
}

/// `syncmap resolve`.
#[derive(clap::Args, Debug)]
pub struct ResolveArgs {
    /// The table mapping.
    table: String,
    /// The record's key on the left side.
    #[arg(long, conflicts_with_all = ["right", "all"])]
    left: Option<String>,
    /// The record's key on the right side.
    #[arg(long, conflicts_with = "all")]
    right: Option<String>,
    /// Every record of the table mapping that fails this way (conflicts for `--take`,
    /// deleted partners for the others).
    #[arg(long)]
    all: bool,
    /// With `--all --take`: only conflicts in which nothing but these fields differs (either
    /// side's column name; repeat for several).
    #[arg(long = "field", value_name = "NAME", requires = "all")]
    fields: Vec<String>,
    #[command(flatten)]
    how: HowToSettle,
    #[command(flatten)]
    target: Target,
    /// Show the field-level difference it would write; write nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    output: super::output::OutputArgs,
}

/// Settles conflicts and deleted partners by hand.
pub fn resolve(args: ResolveArgs) -> Result<ExitCode, CliError> {
    let pick = match (&args.left, &args.right, args.all) {
        (Some(k), _, _) => Pick::One(Side::Left, k),
        (_, Some(k), _) => Pick::One(Side::Right, k),
        (None, None, true) => Pick::All {
            fields: &args.fields,
        },
        _ => {
            return Err(CliError::Usage(
                "give --left KEY, --right KEY or --all".into(),
            ))
        }
    };
    let h = &args.how;
    let resolution = match (h.take, h.restore, h.delete) {
        (Some(TakeSide::Left), ..) => Resolution::Take(Side::Left),
        (Some(TakeSide::Right), ..) => Resolution::Take(Side::Right),
        (None, true, _) => Resolution::Restore,
        (None, false, true) => Resolution::Delete,
        (None, false, false) => Resolution::Uncouple,
    };
    if !args.fields.is_empty() && !matches!(resolution, Resolution::Take(_)) {
        return Err(CliError::Usage(
            "--field picks conflicts; it goes with --take".into(),
        ));
    }
    let rt = runtime::open_with(
        &args.target,
        runtime::Needs {
            systems: true,
            dry_run: args.dry_run,
        },
    )?;
    let mut engine = rt.engine()?;
    let report = runtime::block_on(engine.resolve(&args.table, pick, resolution, args.dry_run))?
        .map_err(runtime::engine_error)?;
    show(&report, args.output.json())
}
