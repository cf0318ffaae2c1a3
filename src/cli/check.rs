//! `syncmap check`: diagnostics for every file, in the format asked for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use similar::TextDiff;
use syncmap::diagnostics::{apply_fixes, render, Fix};
use syncmap::project::{FsLoader, Loader};

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

/// Serves the files as fixed so far, the others from disk.
struct Fixed(BTreeMap<PathBuf, String>);

impl Loader for Fixed {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        match self.0.get(path) {
            Some(text) => Ok(text.clone()),
            None => FsLoader.load(path),
        }
    }
}

/// Each file the safe fixes change: its path, its text, and its text fixed. A fix can bring
/// others to light (a stray comma hides the names of its item), so fixing goes on, in memory,
/// until a round finds nothing more to fix.
fn fixed_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, String, String)>, CliError> {
    const ROUNDS: usize = 8;
    let files = inputs::map_files(paths)?;
    let root = inputs::project_root(paths);
    let mut fixed = Fixed(BTreeMap::new());
    let mut originals: BTreeMap<PathBuf, String> = BTreeMap::new();
    for _ in 0..ROUNDS {
        let c = syncmap::compile_within(&files, &root, &fixed)?;
        let mut by_file: BTreeMap<_, Vec<&Fix>> = BTreeMap::new();
        for fix in c.diagnostics.iter().filter_map(|d| d.fix.as_deref()) {
            if fix.safe {
                by_file.entry(fix.file).or_default().push(fix);
            }
        }
        let mut changed = false;
        for (file, fixes) in by_file {
            // Only mapping files are edited, never a schema snapshot.
            let Some(path) = c
                .project
                .path(file)
                .filter(|p| p.extension().is_some_and(|x| x == "map"))
            else {
                continue;
            };
            let text = &c.project.sources.get(file).text;
            let (after, applied) = apply_fixes(text, fixes);
            if applied > 0 && after != *text {
                originals
                    .entry(path.to_path_buf())
                    .or_insert_with(|| text.clone());
                fixed.0.insert(path.to_path_buf(), after);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    Ok(originals
        .into_iter()
        .filter_map(|(path, text)| {
            let after = fixed.0.remove(&path)?;
            let after = formatted_if_it_was(&text, after);
            (after != text).then_some((path, text, after))
        })
        .collect())
}

/// `after` formatted when `before` was, or could not be (it did not parse): a fix must not
/// leave a formatted file unformatted (a longer name moves the arrows out of line), and a file
/// repaired from a syntax error is laid out as `syncmap fmt` would. A file someone keeps
/// unformatted stays as it is, but for the fixed spans.
fn formatted_if_it_was(before: &str, after: String) -> String {
    let format = |text: &str| {
        syncmap::syntax::parse(syncmap::source::FileId(0), text)
            .ok()
            .map(|ast| syncmap::syntax::format::format(text, &ast))
    };
    match format(before) {
        Some(f) if f != before => after,
        _ => format(&after).unwrap_or(after),
    }
}

/// `check --fix`: writes the safe fixes into the files and says which changed.
pub fn fix(paths: &[PathBuf]) -> Result<ExitCode, CliError> {
    for (path, _, fixed) in fixed_files(paths)? {
        std::fs::write(&path, fixed)
            .map_err(|e| CliError::Io(format!("cannot write `{}`: {e}", path.display())))?;
        eprintln!("fixed {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `check --fix --diff`: the safe fixes as a unified diff, nothing written; exit 1 when there
/// is one.
pub fn show_fixes(paths: &[PathBuf]) -> Result<ExitCode, CliError> {
    let files = fixed_files(paths)?;
    for (path, text, fixed) in &files {
        let name = path.display().to_string();
        let diff = TextDiff::from_lines(text, fixed)
            .unified_diff()
            .context_radius(2)
            .header(&name, &format!("{name} (fixed)"))
            .to_string();
        print!("{diff}");
    }
    Ok(if files.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
