//! `syncmap compile`: writes the plan, or the diagnostics that prevent it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use syncmap::diagnostics::render;

use super::{inputs, CliError};

/// Compiles and writes the plan (to a file or standard output); exit 1 on errors.
pub fn run(paths: &[PathBuf], output: Option<&Path>) -> Result<ExitCode, CliError> {
    let c = inputs::compile(paths)?;
    if !c.diagnostics.is_empty() {
        eprint!(
            "{}",
            render::human(&c.diagnostics, &c.project.sources, inputs::stderr_color())
        );
    }
    let Some(plan) = &c.plan else {
        return Ok(ExitCode::from(1));
    };
    let json = syncmap::plan::to_json(plan);
    match output {
        Some(path) => {
            std::fs::write(path, json)
                .map_err(|e| CliError::Io(format!("cannot write `{}`: {e}", path.display())))?;
            eprintln!(
                "wrote {} ({} table mappings, {})",
                path.display(),
                plan.tables.len(),
                plan.digest
            );
        }
        None => print!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}
