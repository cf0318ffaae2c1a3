//! `syncmap lsp`: the language server, for editors (see `editors/README.md`).

use std::process::ExitCode;

use super::CliError;

/// Serves one editor over standard input and output until it exits. Exit code 0 after a
/// `shutdown` request, 1 when the editor exits without one, as the protocol asks.
pub fn run() -> Result<ExitCode, CliError> {
    match syncmap::lsp::run_stdio() {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::from(1)),
        Err(e) => Err(CliError::Io(format!("language server: {e}"))),
    }
}
