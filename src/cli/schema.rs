//! `syncmap schema import`: OData CSDL `$metadata` → schema snapshot.

use std::path::Path;
use std::process::ExitCode;

use super::CliError;

/// Imports a CSDL document and writes the snapshot.
pub fn import(file: &Path, output: Option<&Path>, tables: &[String]) -> Result<ExitCode, CliError> {
    let xml = std::fs::read_to_string(file)
        .map_err(|e| CliError::Io(format!("cannot read `{}`: {e}", file.display())))?;
    let only = (!tables.is_empty()).then_some(tables);
    let schema = syncmap::schema::csdl::import(&xml, only)
        .map_err(|e| CliError::Usage(format!("cannot import `{}`: {e}", file.display())))?;
    let json = syncmap::schema::to_json(&schema);
    match output {
        Some(path) => {
            std::fs::write(path, json)
                .map_err(|e| CliError::Io(format!("cannot write `{}`: {e}", path.display())))?;
            eprintln!("wrote {} ({} tables)", path.display(), schema.tables.len());
        }
        None => print!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}
