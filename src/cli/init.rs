//! `syncmap init --defaults`: writes the standard mappings afresh, like Business Central's
//! "Use Default Synchronization Setup".

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::CliError;

/// The standard mapping files, compiled in so `init` works anywhere.
const FILES: &[(&str, &str)] = &[
    ("systems.map", include_str!("../../mappings/systems.map")),
    (
        "currencies.map",
        include_str!("../../mappings/currencies.map"),
    ),
    (
        "salespeople.map",
        include_str!("../../mappings/salespeople.map"),
    ),
    (
        "customers.map",
        include_str!("../../mappings/customers.map"),
    ),
    ("options.map", include_str!("../../mappings/options.map")),
    ("vendors.map", include_str!("../../mappings/vendors.map")),
    ("contacts.map", include_str!("../../mappings/contacts.map")),
    ("jobs.map", include_str!("../../mappings/jobs.map")),
    (
        "schemas/business-central.json",
        include_str!("../../mappings/schemas/business-central.json"),
    ),
    (
        "schemas/dataverse.json",
        include_str!("../../mappings/schemas/dataverse.json"),
    ),
];

/// Writes the files; refuses to overwrite unless `force`. With `json`, says what it wrote as
/// `{"dir", "files"}` on standard output instead of sentences on standard error.
pub fn run(dir: &Path, force: bool, json: bool) -> Result<ExitCode, CliError> {
    if !force {
        let existing: Vec<String> = FILES
            .iter()
            .map(|(p, _)| dir.join(p))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(CliError::Usage(format!(
                "{} already exist{}: {}; pass --force to overwrite them",
                if existing.len() == 1 {
                    "a file"
                } else {
                    "files"
                },
                if existing.len() == 1 { "s" } else { "" },
                existing.join(", ")
            )));
        }
    }
    let written = write_defaults(dir)?;
    if json {
        let files: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        super::runtime::print_json(&serde_json::json!({
            "dir": dir.display().to_string(),
            "files": files,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "wrote the standard mappings ({} files) to {}",
        written.len(),
        dir.display()
    );
    eprintln!("next: syncmap check {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes the standard mappings into `dir`, overwriting what is there; returns the paths
/// written, in the order written.
pub fn write_defaults(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut written = Vec::with_capacity(FILES.len());
    for (rel, text) in FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| CliError::Io(format!("cannot create `{}`: {e}", parent.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| CliError::Io(format!("cannot write `{}`: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}
