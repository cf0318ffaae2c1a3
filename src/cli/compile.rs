//! `syncmap compile`: writes the plan, or the diagnostics that prevent it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{json, Value};
use syncmap::diagnostics::render;
use syncmap::Compilation;

use super::{inputs, runtime, CliError};

/// Compiles and writes the plan (to a file or standard output); exit 1 on errors. With `json`,
/// diagnostics go to standard output as `check --format json` prints them: inside a summary
/// object when the plan goes to a file, alone when it would have gone to standard output.
pub fn run(paths: &[PathBuf], output: Option<&Path>, json: bool) -> Result<ExitCode, CliError> {
    let c = inputs::compile(paths)?;
    // Standard output is the plan's when there is no `-o`, so only then can warnings not be
    // JSON on it.
    let diagnostics_on_stdout = json && (output.is_some() || c.plan.is_none());
    if !c.diagnostics.is_empty() && !diagnostics_on_stdout {
        eprint!(
            "{}",
            render::human(&c.diagnostics, &c.project.sources, inputs::stderr_color())
        );
    }
    let Some(plan) = &c.plan else {
        if json {
            let diagnostics = diagnostics_json(&c);
            match output {
                Some(_) => runtime::print_json(&summary(None, None, diagnostics)),
                None => runtime::print_json(&diagnostics),
            }
        }
        return Ok(ExitCode::from(1));
    };
    let text = syncmap::plan::to_json(plan);
    let Some(path) = output else {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::write(path, text)
        .map_err(|e| CliError::Io(format!("cannot write `{}`: {e}", path.display())))?;
    if json {
        runtime::print_json(&summary(Some(path), Some(plan), diagnostics_json(&c)));
    } else {
        eprintln!(
            "wrote {} ({} table mappings, {})",
            path.display(),
            plan.tables.len(),
            plan.digest
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn diagnostics_json(c: &Compilation) -> Value {
    render::json(&c.diagnostics, &c.project.sources)
}

/// What `compile -o FILE --format json` prints; `output`, `digest` and `table_mappings` are
/// null when errors kept the plan from being written.
fn summary(output: Option<&Path>, plan: Option<&syncmap::plan::Plan>, diagnostics: Value) -> Value {
    json!({
        "output": output.map(|p| p.display().to_string()),
        "digest": plan.map(|p| p.digest.clone()),
        "table_mappings": plan.map(|p| p.tables.len()),
        "diagnostics": diagnostics,
    })
}
