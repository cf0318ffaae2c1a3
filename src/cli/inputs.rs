//! Turns the paths given on the command line into the `.map` files to read.

use std::path::{Path, PathBuf};

use super::CliError;

/// The sources every command reads when given none: `mappings/` when the folder has one (what
/// `syncmap init` writes), else the current folder.
pub fn default_sources() -> Vec<PathBuf> {
    let mappings = PathBuf::from("mappings");
    vec![if mappings.is_dir() {
        mappings
    } else {
        PathBuf::from(".")
    }]
}

/// What a command that runs a plan reads when given none: `plan.json` when the folder has one
/// (a production folder holds the reviewed plan and the profile), else [`default_sources`].
pub fn default_plan() -> Vec<PathBuf> {
    let plan = PathBuf::from("plan.json");
    if plan.is_file() {
        vec![plan]
    } else {
        default_sources()
    }
}

/// Whether [`default_plan`] finds anything to read: `plan.json`, or at least one `.map` file.
pub fn default_plan_found() -> bool {
    Path::new("plan.json").is_file() || map_files(&default_sources()).is_ok()
}

/// Compiles the `.map` files under the given paths ([`default_sources`] when none), reading
/// nothing outside their project folder ([`project_root`]; the current folder when defaulted).
pub fn compile(paths: &[PathBuf]) -> Result<syncmap::Compilation, CliError> {
    let files = map_files(paths)?;
    let root = project_root(paths);
    Ok(syncmap::compile_within(
        &files,
        &root,
        &syncmap::project::FsLoader,
    )?)
}

/// The folder imports and schemas must stay in: the folder given, or the folder of the file
/// given; with several paths, the folder that holds them all.
pub fn project_root(paths: &[PathBuf]) -> PathBuf {
    let absolute = paths.iter().any(|p| p.is_absolute());
    let folders = paths.iter().map(|p| {
        let p = if absolute {
            std::path::absolute(p).unwrap_or_else(|_| p.clone())
        } else {
            p.clone()
        };
        let folder = if p.is_dir() {
            p
        } else {
            p.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        syncmap::project::normalize(&folder)
    });
    syncmap::project::common_folder(folders)
}

/// Every `.map` file under the given paths, sorted; [`default_sources`] when none is given.
/// Hidden folders and `target` are skipped.
pub fn map_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let defaults = default_sources();
    let paths = if paths.is_empty() {
        &defaults[..]
    } else {
        paths
    };
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| CliError::Io(format!("cannot read `{}`: {e}", p.display())))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(CliError::Usage(format!(
            "no .map files found in {}",
            shown.join(", ")
        )));
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CliError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CliError::Io(format!("cannot read `{}`: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.is_dir() {
            if !name.starts_with('.') && name != "target" {
                walk(&p, out)?;
            }
        } else if p.extension().is_some_and(|e| e == "map") {
            out.push(p);
        }
    }
    Ok(())
}

/// Whether standard error is a terminal that wants colour.
pub fn stderr_color() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
