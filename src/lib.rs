//! syncmap compiles `.map` files into plans that keep two business systems in step, and runs
//! those plans.
//!
//! The compiler is a pipeline of pure stages: [`syntax::parse`] turns text into a syntax tree,
//! [`check::check`] resolves names against schema snapshots and checks types and mapping rules,
//! and [`plan::build`] writes the versioned plan the runtime executes. [`compile`] sequences
//! them over a project read through a [`project::Loader`]:
//!
//! ```
//! use std::path::{Path, PathBuf};
//! use syncmap::project::Loader;
//!
//! struct Memory;
//! impl Loader for Memory {
//!     fn load(&self, path: &Path) -> std::io::Result<String> {
//!         match path.to_str() {
//!             Some("demo.map") => Ok(r#"
//!                 system a: sqlite { schema = "a.json" }
//!                 system b: sqlite { schema = "b.json" }
//!                 table people: a.people -> b.contacts {
//!                     upper(name) -> fullname
//!                 }
//!             "#.into()),
//!             Some("a.json") => Ok(r#"{"format_version": 1, "tables": [{"name": "people", "key": "id",
//!                 "columns": [{"name": "id", "type": "int"}, {"name": "name", "type": "string"}]}]}"#.into()),
//!             Some("b.json") => Ok(r#"{"format_version": 1, "tables": [{"name": "contacts", "key": "id",
//!                 "columns": [{"name": "id", "type": "int"}, {"name": "fullname", "type": "string"}]}]}"#.into()),
//!             _ => Err(std::io::ErrorKind::NotFound.into()),
//!         }
//!     }
//! }
//!
//! let c = syncmap::compile(&[PathBuf::from("demo.map")], &Memory).unwrap();
//! assert!(!c.diagnostics.has_errors());
//! let plan = c.plan.unwrap();
//! assert_eq!(plan.tables[0].name, "people");
//! ```

#[cfg(test)]
mod architecture_tests;
pub mod check;
pub mod connectors;
pub mod cursor;
pub mod diagnostics;
pub mod drift;
pub mod functions;
pub mod lsp;
pub mod model;
pub mod odata;
pub mod plan;
pub mod profile;
pub mod project;
pub mod redact;
pub mod report;
pub mod runtime;
pub mod sandbox;
pub mod schedule;
pub mod schema;
pub mod source;
pub mod state;
pub mod syntax;
pub mod testing;
pub mod value;

use std::path::{Path, PathBuf};

use diagnostics::Diagnostics;
use project::{LoadError, Loader, Project};

/// The result of compiling a project.
#[derive(Debug)]
pub struct Compilation {
    /// The sources read.
    pub project: Project,
    /// The checked model, when there is no error.
    pub model: Option<model::Model>,
    /// The plan, when there is no error.
    pub plan: Option<plan::Plan>,
    /// Every diagnostic, sorted.
    pub diagnostics: Diagnostics,
}

/// Loads, parses, checks and plans the given `.map` files and what they import, wherever they
/// are. For files that may come from anyone, use [`compile_within`].
pub fn compile(inputs: &[PathBuf], loader: &dyn Loader) -> Result<Compilation, LoadError> {
    compile_project(project::load(inputs, loader)?)
}

/// [`compile`], reading no import or schema outside the folder `root` (E0215).
pub fn compile_within(
    inputs: &[PathBuf],
    root: &Path,
    loader: &dyn Loader,
) -> Result<Compilation, LoadError> {
    compile_project(project::load_within(inputs, Some(root), loader)?)
}

fn compile_project(loaded: (Project, Diagnostics)) -> Result<Compilation, LoadError> {
    let (project, mut diagnostics) = loaded;
    let (model, check_diags) = check::check(&project);
    diagnostics.extend(check_diags);
    diagnostics.sort();
    let model = model.filter(|_| !diagnostics.has_errors());
    let plan = model.as_ref().map(|m| {
        let sources: Vec<plan::SourceText<'_>> = project
            .sources
            .iter()
            .map(|(id, f)| plan::SourceText {
                path: project.relative_name(id),
                text: &f.text,
            })
            .collect();
        plan::build(m, &sources)
    });
    Ok(Compilation {
        project,
        model,
        plan,
        diagnostics,
    })
}
