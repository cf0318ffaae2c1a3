//! `syncmap test`: runs every inline test and reports failures with a diff.

use std::path::PathBuf;
use std::process::ExitCode;

use syncmap::diagnostics::render;
use syncmap::testing::{self, Outcome};

use super::{inputs, CliError};

/// Runs the tests; exit 1 when the project does not compile or a test fails.
pub fn run(paths: &[PathBuf]) -> Result<ExitCode, CliError> {
    let c = inputs::compile(paths)?;
    let (Some(model), Some(plan)) = (&c.model, &c.plan) else {
        eprint!(
            "{}",
            render::human(&c.diagnostics, &c.project.sources, inputs::stderr_color())
        );
        return Ok(ExitCode::from(1));
    };
    let results = testing::run_all(model, plan);
    let mut failed = 0;
    for r in &results {
        let file = c.project.sources.get(r.case.file);
        let (line, _) = file.line_col(r.case.span.start as usize);
        match &r.outcome {
            Outcome::Passed => println!("test {} ... ok", r.case.name),
            Outcome::Failed { message, diff } => {
                failed += 1;
                println!("test {} ... FAILED", r.case.name);
                println!("  at {}:{line}", file.name);
                println!("  {message}");
                if !diff.is_empty() {
                    println!("  expected (-) and actual (+) fields of the written record:");
                    for l in testing::render_diff(diff).lines() {
                        println!("    {l}");
                    }
                }
            }
        }
    }
    println!();
    println!("{} passed, {failed} failed", results.len() - failed);
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
