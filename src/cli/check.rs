//! `syncmap check`: diagnostics for every file, in the format asked for.

use std::path::PathBuf;
use std::process::ExitCode;

use syncmap::diagnostics::render;

use super::{inputs, CliError, Format};

/// Checks the project, runs its inline tests, prints the diagnostics; exit 1 on any error.
pub fn run(paths: &[PathBuf], format: Format) -> Result<ExitCode, CliError> {
    let mut c = inputs::compile(paths)?;
    if let (Some(model), Some(plan)) = (&c.model, &c.plan) {
        let results = syncmap::testing::run_all(model, plan);
        c.diagnostics
            .extend(syncmap::testing::diagnostics(&results));
        c.diagnostics.sort();
    }
    let sources = &c.project.sources;
    match format {
        Format::Human => eprint!(
            "{}",
            render::human(&c.diagnostics, sources, inputs::stderr_color())
        ),
        Format::Json => println!("{}", pretty(&render::json(&c.diagnostics, sources))),
        Format::Sarif => println!("{}", pretty(&render::sarif(&c.diagnostics, sources))),
    }
    Ok(if c.diagnostics.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}
