//! `syncmap fmt`: rewrites files in canonical form, or with `--check` shows what would change.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use similar::TextDiff;
use syncmap::diagnostics::{render, Diagnostics};
use syncmap::source::SourceMap;
use syncmap::syntax;

use super::{inputs, CliError};

/// Formats each file (or standard input for `-`).
pub fn run(paths: &[PathBuf], check: bool) -> Result<ExitCode, CliError> {
    if paths.len() == 1 && paths[0].as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Io(format!("cannot read standard input: {e}")))?;
        return Ok(match format_text("<stdin>", &text) {
            Ok(out) if check && out != text => {
                print!("{}", diff("<stdin>", &text, &out));
                ExitCode::from(1)
            }
            Ok(out) if check => {
                let _ = out;
                ExitCode::SUCCESS
            }
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(()) => ExitCode::from(1),
        });
    }
    let files = inputs::map_files(paths)?;
    let mut failed = false;
    let mut changed = 0;
    for path in &files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Io(format!("cannot read `{}`: {e}", path.display())))?;
        let name = path.display().to_string();
        let Ok(out) = format_text(&name, &text) else {
            failed = true;
            continue;
        };
        if out == text {
            continue;
        }
        changed += 1;
        if check {
            print!("{}", diff(&name, &text, &out));
            failed = true;
        } else {
            std::fs::write(path, out)
                .map_err(|e| CliError::Io(format!("cannot write `{name}`: {e}")))?;
            eprintln!("formatted {name}");
        }
    }
    if check && changed > 0 {
        eprintln!(
            "{changed} file{} not formatted; run `syncmap fmt` to fix",
            if changed == 1 { " is" } else { "s are" }
        );
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Formats one text, printing its syntax errors when it does not parse.
fn format_text(name: &str, text: &str) -> Result<String, ()> {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    match syntax::parse(id, text) {
        Ok(ast) => Ok(syntax::format::format(text, &ast)),
        Err(d) => {
            let d: Diagnostics = d;
            eprint!("{}", render::human(&d, &sources, inputs::stderr_color()));
            Err(())
        }
    }
}

fn diff(name: &str, old: &str, new: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(name, &format!("{name} (formatted)"))
        .to_string()
}
