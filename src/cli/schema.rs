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

/// Introspects a system of a profile and writes its snapshot.
pub fn pull(
    system: &str,
    profile: &Path,
    env: Option<&str>,
    output: Option<&Path>,
) -> Result<ExitCode, CliError> {
    let p = syncmap::profile::Profile::load_env(profile, env)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let config = p.systems.get(system).ok_or_else(|| {
        CliError::Usage(format!(
            "profile `{}` has no [systems.{system}] section",
            profile.display()
        ))
    })?;
    let Some(path) = config.url.strip_prefix("sqlite://") else {
        return Err(CliError::Usage(format!(
            "`schema pull` reads SQLite systems (`sqlite://PATH`); `{}` is not one — import its `$metadata` with `schema import`",
            config.url
        )));
    };
    let path = p.base.join(path);
    if !path.exists() {
        return Err(CliError::Io(format!("`{}` does not exist", path.display())));
    }
    let conn = syncmap::connectors::sqlite::SqliteConnector::open(&path)
        .map_err(|e| CliError::Io(e.to_string()))?;
    let schema = conn.introspect().map_err(|e| CliError::Io(e.to_string()))?;
    let json = syncmap::schema::to_json(&schema);
    match output {
        Some(out) => {
            std::fs::write(out, json)
                .map_err(|e| CliError::Io(format!("cannot write `{}`: {e}", out.display())))?;
            eprintln!("wrote {} ({} tables)", out.display(), schema.tables.len());
        }
        None => print!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}
