//! Stage 4: the compiled, versioned, serializable plan, built from the checked model.

mod build;
pub mod company;
pub mod diff;
pub mod display;
mod model;
pub mod odata;

pub use build::{build, digest, from_json, to_json, PlanError, SourceText};
pub use model::*;

/// The plan of the standard mappings (`mappings/`), for tests.
#[cfg(test)]
pub(crate) fn standard_plan() -> Plan {
    use std::path::PathBuf;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "map"))
        .collect();
    files.sort();
    crate::compile(&files, &crate::project::FsLoader)
        .ok()
        .and_then(|c| c.plan)
        .unwrap_or_else(|| panic!("the standard mappings compile"))
}
