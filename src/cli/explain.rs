//! `syncmap explain`: the page of a diagnostic code.

use std::process::ExitCode;

use syncmap::diagnostics::Code;

use super::CliError;

/// Prints the page of `code`, or the list of codes.
pub fn run(code: Option<&str>) -> Result<ExitCode, CliError> {
    match code {
        None => {
            for c in Code::ALL {
                println!(
                    "{}  {:<7}  {}",
                    c.as_str(),
                    format!("{:?}", c.severity()).to_lowercase(),
                    c.title()
                );
            }
        }
        Some(text) => {
            let c = Code::parse(text.trim_start_matches("syncmap::")).ok_or_else(|| {
                CliError::Usage(format!(
                    "`{text}` is not a syncmap diagnostic code; `syncmap explain` lists them"
                ))
            })?;
            print!("{}", c.page());
        }
    }
    Ok(ExitCode::SUCCESS)
}
