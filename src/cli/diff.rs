//! `syncmap diff OLD.json NEW.json [--json]`: what a change to the mappings does, for review.
//! Exit codes follow `diff`: 0 the plans agree, 1 they differ, 2 a file is unreadable or not a
//! plan.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use syncmap::plan::{diff, Plan, PLAN_FORMAT_VERSION};

use super::CliError;

/// Arguments of `syncmap diff`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The plan before the change (`syncmap compile -o old.json`).
    old: PathBuf,
    /// The plan after the change.
    new: PathBuf,
    #[command(flatten)]
    output: super::output::OutputArgs,
}

/// Compares two plan files and prints the summary.
pub fn run(args: DiffArgs) -> Result<ExitCode, CliError> {
    let old = read(&args.old)?;
    let new = read(&args.new)?;
    let d = diff::diff(&old, &new);
    if args.output.json() {
        super::runtime::print_json(&d);
    } else {
        print!("{}", diff::render(&d));
    }
    Ok(ExitCode::from(u8::from(d.changed)))
}

fn read(path: &Path) -> Result<Plan, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Io(format!("cannot read `{}`: {e}", path.display())))?;
    let plan: Plan = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("`{}` is not a syncmap plan: {e}", path.display())))?;
    // Plans of another format could mean other things by the same fields; comparing them would
    // report differences that are not there.
    if !plan.format_is_known() {
        return Err(CliError::Usage(format!(
            "`{}` has plan format {}; this syncmap reads formats 1 to {PLAN_FORMAT_VERSION}",
            path.display(),
            plan.format_version
        )));
    }
    Ok(plan)
}
