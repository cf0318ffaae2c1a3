//! `syncmap report`: the mappings and their recent runs as one self-contained HTML page.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use syncmap::plan::Plan;
use syncmap::schema::SystemSchema;

use super::runtime::{self, Target};
use super::CliError;

/// `syncmap report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A plan file, or `.map` files and folders compiled on the fly (the same as `--plan`).
    paths: Vec<PathBuf>,
    #[command(flatten)]
    target: Target,
    /// How many runs to show, latest first.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Where to write the page.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

/// Writes the report; without a profile file it shows the mappings only.
pub fn run(mut args: ReportArgs) -> Result<ExitCode, CliError> {
    if !args.paths.is_empty() {
        args.target.plan = std::mem::take(&mut args.paths);
    }
    // The report only reads: the state store is opened read-only (a missing one is empty) and
    // no system is contacted, so making a report never changes what a run will do.
    let opened = if args.target.profile.exists() {
        let rt = runtime::open_with(
            &args.target,
            runtime::Needs {
                systems: false,
                dry_run: true,
            },
        )?;
        (rt.plan, Some(rt.store))
    } else {
        eprintln!(
            "note: no profile at `{}`: the report shows the mappings without runs",
            args.target.profile.display()
        );
        (runtime::load_plan(&args.target.plan)?, None)
    };
    let (plan, store) = opened;
    let schemas = schemas(&plan, &args.target.plan);
    let generated_at = jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    let report = syncmap::report::build(&syncmap::report::Inputs {
        plan: &plan,
        schemas: &schemas,
        store: store.as_ref(),
        runs: args.runs,
        generated_at,
    })
    .map_err(|e| CliError::Io(e.to_string()))?;
    let page = syncmap::report::html::page(&report);
    std::fs::write(&args.output, page)
        .map_err(|e| CliError::Io(format!("cannot write `{}`: {e}", args.output.display())))?;
    eprintln!(
        "wrote {} ({} table mappings, {} runs)",
        args.output.display(),
        report.tables.len(),
        report.runs.as_ref().map_or(0, Vec::len)
    );
    Ok(ExitCode::SUCCESS)
}

/// The schema snapshots the plan names, where they can be found next to its inputs: they give
/// option values their labels (`statecode is Active` rather than `statecode is 0`). A plan file
/// moved away from its snapshots still makes a report, with the values.
fn schemas(plan: &Plan, inputs: &[PathBuf]) -> BTreeMap<String, SystemSchema> {
    let bases: Vec<&Path> = inputs
        .iter()
        .map(|p| {
            if p.is_dir() {
                p.as_path()
            } else {
                p.parent().unwrap_or(Path::new("."))
            }
        })
        .collect();
    plan.systems
        .iter()
        .filter_map(|(alias, system)| {
            bases.iter().find_map(|base| {
                let text = std::fs::read_to_string(base.join(&system.schema)).ok()?;
                let schema = syncmap::schema::load(&text).ok()?;
                Some((alias.clone(), schema))
            })
        })
        .collect()
}
