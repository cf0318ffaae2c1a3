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
    /// With `--dry-run`: write every write it would make, with the versions of the rows it
    /// saw, to this change set, for `syncmap show` and `syncmap apply`.
    #[arg(short = 'o', long = "out", value_name = "FILE", requires = "dry_run")]
    out: Option<std::path::PathBuf>,
    #[command(flatten)]
    output: super::output::OutputArgs,
    /// Create partners in populated tables this state store has no couplings for even where
    /// no match rule can find the rows already there. Without it, such a run stops rather than
    /// risk copying every record a second time (a new, deleted or replaced state store).
    #[arg(long)]
    create_without_match: bool,
}

/// Runs the sync; exit 0 when every record synced, 1 when the run completed with failures (the
/// records that failed are logged and retried by the next run), 2 when the run could not start
/// or was stopped by a system error, 130 or 143 when SIGINT or SIGTERM stopped it (after its
/// batch in flight; the run is recorded `interrupted`).
pub fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    let json = args.output.json();
    let printed = std::cell::Cell::new(false);
    let outcome = sync(args, &printed);
    // A script reading standard output gets one document however the run ended.
    if let (true, false, Err(e)) = (json, printed.get(), &outcome) {
        runtime::print_json(&serde_json::json!({
            "status": "failed",
            "error": e.to_string(),
        }));
    }
    outcome
}

fn sync(mut args: RunArgs, printed: &std::cell::Cell<bool>) -> Result<ExitCode, CliError> {
    if !args.paths.is_empty() {
        args.target.plan = std::mem::take(&mut args.paths);
    }
    let every = every_company(&args.target)?;
    let stop = syncmap::schedule::Stop::default();
    if every.is_empty() {
        let print = Some(args.output.json());
        return sync_one(&args, (&stop, None), print, printed).map(|done| done.code);
    }
    if args.out.is_some() {
        return Err(CliError::Usage(
            "--out writes one company's change set: name it with --company".into(),
        ));
    }
    sync_every(args, every, &stop, printed)
}

/// Syncs each company in turn, as a run of its own; one that cannot run does not keep the next
/// from theirs. The exit code is the worst of theirs; JSON is one document, a report per
/// company.
fn sync_every(
    mut args: RunArgs,
    every: Vec<String>,
    stop: &syncmap::schedule::Stop,
    printed: &std::cell::Cell<bool>,
) -> Result<ExitCode, CliError> {
    let json = args.output.json();
    let mut worst = (0u8, ExitCode::SUCCESS);
    let mut documents = Vec::new();
    let signals = runtime::signal_runtime(stop)?;
    for company in every {
        if stop.requested() {
            // Stopped between companies: the rest wait for the next run, and say so.
            if !json {
                println!("company {company}: not run (stopped)");
            }
            documents.push(serde_json::json!({ "company": company, "status": "not_run" }));
            continue;
        }
        args.target.company = Some(company.clone());
        if !json {
            println!("company {company}:");
        }
        let print = (!json).then_some(false);
        let (rank, code, document) = match sync_one(&args, (stop, Some(&signals)), print, printed) {
            Ok(done) => {
                let mut doc = serde_json::to_value(&done.report).unwrap_or_default();
                doc["company"] = company.clone().into();
                (done.rank, done.code, doc)
            }
            // Mappings that do not compile are every company's: reported once.
            Err(CliError::Reported) => return Err(CliError::Reported),
            Err(e) => {
                eprintln!(
                    "company {company}: {}",
                    syncmap::redact::redact(&e.to_string())
                );
                let doc = serde_json::json!({ "company": company, "status": "failed", "error": e.to_string() });
                (2, ExitCode::from(2), doc)
            }
        };
        documents.push(document);
        if rank > worst.0 {
            worst = (rank, code);
        }
    }
    if json {
        runtime::print_json(&serde_json::json!({ "companies": documents }));
        printed.set(true);
    }
    // A signal's code wins over any company's: the run was stopped.
    if let Some(s) = stop.signal() {
        return Ok(ExitCode::from(super::signals::exit_code(s)));
    }
    Ok(worst.1)
}

impl RunArgs {
    /// The run these arguments ask for.
    fn request(&self) -> RunRequest {
        let mode = match self.mode {
            ModeArg::Full => Mode::Full,
            ModeArg::Modified => Mode::Modified,
        };
        RunRequest {
            tables: self.tables.clone(),
            dry_run: self.dry_run,
            create_without_match: self.create_without_match,
            ..RunRequest::new(mode)
        }
    }
}

/// One company's run, as it ended.
struct Done {
    report: report::RunReport,
    code: ExitCode,
    /// How bad it was: 0 all synced, 1 records failed or the run was cut short, 2 stopped
    /// by a signal.
    rank: u8,
}

/// The companies `run` syncs one after another: every one the profile names, unless
/// `--company` names one (or the profile names none). A store every company would refuse is
/// refused once.
fn every_company(target: &Target) -> Result<Vec<String>, CliError> {
    if target.company.is_some() {
        return Ok(Vec::new());
    }
    let profile = syncmap::profile::Profile::load_env(&target.profile, target.env.as_deref())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if profile.companies().is_empty() {
        return Ok(Vec::new());
    }
    // A store that cannot be opened yet is left to each company's run to report.
    if let Ok(store) = syncmap::state::Store::open_read_only(&profile.state_url()) {
        super::companies::check_store(&profile, &store)?;
    }
    Ok(profile.companies().into_iter().map(|c| c.name).collect())
}

/// Runs one company's sync (or the profile's one company's) until its end or `stop` (asked by
/// the signals `signals` listens to, else by handlers of its own); prints its report as it
/// ends when `print` says how (JSON or not).
fn sync_one(
    args: &RunArgs,
    (stop, signals): (&syncmap::schedule::Stop, Option<&tokio::runtime::Runtime>),
    print: Option<bool>,
    printed: &std::cell::Cell<bool>,
) -> Result<Done, CliError> {
    let rt = runtime::open_with(
        &args.target,
        runtime::Needs {
            systems: true,
            dry_run: args.dry_run,
        },
    )?;
    let req = args.request();
    let bar = super::progress::Bar::on_terminal(&rt.plan, &rt.systems);
    let mut engine = rt.engine()?;
    if let Some(b) = &bar {
        engine = engine.with_progress(b);
    }
    // Ctrl-C or SIGTERM: the batch in flight is finished and the run recorded as interrupted.
    engine = engine.with_cancel(stop.flag());
    if args.out.is_some() {
        engine = engine.with_change_set();
    }
    let work = async { engine.run(&req).await.map_err(runtime::engine_error) };
    let report = match signals {
        Some(rt) => rt.block_on(work)?,
        None => runtime::until_stopped(stop, work)?,
    };
    if let Some(json) = print {
        runtime::print_report(&report, json);
        printed.set(json);
    }
    if let Some(path) = &args.out {
        if report.interrupted {
            eprintln!(
                "the dry run was stopped before its end: `{}` was not written (an older file there is left as it was)",
                path.display()
            );
        } else {
            save_change_set(path, &engine, &report, &rt.targets)?;
        }
    }
    Ok(Done::of(report, stop.signal()))
}

impl Done {
    /// How a run that went through ended, `signal` the one that stopped it, if one did.
    fn of(report: report::RunReport, signal: Option<i32>) -> Done {
        let rank = match (signal, report.interrupted, report.totals().failed > 0) {
            (Some(_), true, _) => 2,
            (_, true, _) | (_, _, true) => 1,
            _ => 0,
        };
        Done {
            code: exit_code(&report, signal),
            rank,
            report,
        }
    }
}

/// Writes the change set of a dry run that went to its end (one cut short would leave out
/// writes a reviewer would take as none).
fn save_change_set(
    path: &std::path::Path,
    engine: &syncmap::runtime::engine::Engine<'_>,
    report: &report::RunReport,
    targets: &std::collections::BTreeMap<String, String>,
) -> Result<(), CliError> {
    let mut set = engine
        .take_change_set(report)
        .ok_or_else(|| CliError::Io("the dry run collected no change set".into()))?;
    set.targets = targets.clone();
    let failed = report.totals().failed;
    if failed > 0 {
        eprintln!(
            "note: {failed} record{} failed in the dry run: the change set holds no write for {}",
            if failed == 1 { "" } else { "s" },
            if failed == 1 { "it" } else { "them" }
        );
    }
    super::changes::write(path, &set)
}

/// The exit code of a run that went through: 128 + the signal that stopped it, 1 when some
/// records failed, else 0.
pub fn exit_code(report: &report::RunReport, signal: Option<i32>) -> ExitCode {
    match signal {
        Some(s) if report.interrupted => ExitCode::from(super::signals::exit_code(s)),
        _ if report.interrupted || report.totals().failed > 0 => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}
