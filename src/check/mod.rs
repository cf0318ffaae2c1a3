//! Stage 3: name resolution, type checking and the mapping rules (directions, lookups,
//! dependencies, writes) over every file of a project at once. It collects every independent
//! error, suppresses knock-on errors (a column of an unknown table is not reported again), and
//! produces the typed model the plan is built from.

mod choices;
mod deps;
mod expr;
mod facets;
mod field;
mod items;
pub(crate) mod locate;
mod table;
mod test_blocks;
pub mod types;

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::model::{self, Model};
use crate::project::Project;
use crate::schema::TableSchema;
use crate::source::FileId;
use crate::syntax::ast::{self, Span};
use types::Ty;

/// Checks a loaded project. The model is returned only when there is no error; warnings come
/// with it.
pub fn check(project: &Project) -> (Option<Model>, Diagnostics) {
    let mut c = Checker::new(project);
    c.collect();
    c.check_functions();
    let tables = c.check_tables();
    let order = c.dependency_order(&tables);
    let jobs = c.check_jobs(&order);
    let tests = c.check_tests(&order);
    c.unused();
    let mut diags = std::mem::take(&mut c.diags);
    diags.sort();
    if diags.has_errors() {
        return (None, diags);
    }
    let model = Model {
        systems: c.model_systems(),
        tables: order,
        functions: std::mem::take(&mut c.compiled_fns),
        jobs,
        tests,
    };
    (Some(model), diags)
}

/// A declaration and the file it is in.
#[derive(Debug)]
pub(crate) struct Decl<'p, T> {
    pub file: FileId,
    pub node: &'p T,
}

impl<T> Clone for Decl<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Decl<'_, T> {}

/// The signature of a user-defined function once checked.
#[derive(Debug, Clone)]
pub(crate) struct FnSig {
    pub params: Vec<Ty>,
    pub ret: Ty,
}

/// Where names in an expression resolve.
#[derive(Clone, Copy)]
pub(crate) enum Scope<'a> {
    /// The columns of one side of a table mapping.
    Table {
        /// The system alias of this side.
        system: &'a str,
        /// Its table.
        table: &'a TableSchema,
        /// The other side, to hint at columns written on the wrong side.
        other: Option<(&'a str, &'a TableSchema)>,
    },
    /// The parameters of a function.
    Params {
        /// The function's name.
        func: &'a str,
        /// Parameter names and types.
        params: &'a [(String, Ty)],
    },
    /// The side could not be resolved (already reported): every name is accepted as unknown.
    Unknown,
}

pub(crate) struct Checker<'p> {
    pub project: &'p Project,
    pub diags: Diagnostics,
    pub systems: BTreeMap<String, Decl<'p, ast::System>>,
    pub tables: Vec<Decl<'p, ast::Table>>,
    pub table_index: BTreeMap<String, usize>,
    pub maps: BTreeMap<String, Decl<'p, ast::ValueMap>>,
    pub fns: BTreeMap<String, Decl<'p, ast::Function>>,
    pub fn_sigs: BTreeMap<String, Option<FnSig>>,
    pub fn_in_progress: BTreeSet<String>,
    pub compiled_fns: BTreeMap<String, model::Function>,
    pub jobs: Vec<Decl<'p, ast::Job>>,
    pub tests: Vec<Decl<'p, ast::Test>>,
    /// Columns used, by system and table.
    pub used: BTreeMap<(String, String), BTreeSet<String>>,
    /// Value maps and functions referenced somewhere.
    pub referenced: BTreeSet<String>,
    /// Table mappings whose sides did not resolve (already reported).
    pub broken_tables: BTreeSet<String>,
    /// Dependencies of each table mapping (`after` and lookups), with where they are declared.
    pub deps: BTreeMap<String, Vec<(String, FileId, Span)>>,
}

impl<'p> Checker<'p> {
    fn new(project: &'p Project) -> Self {
        Checker {
            project,
            diags: Diagnostics::new(),
            systems: BTreeMap::new(),
            tables: Vec::new(),
            table_index: BTreeMap::new(),
            maps: BTreeMap::new(),
            fns: BTreeMap::new(),
            fn_sigs: BTreeMap::new(),
            fn_in_progress: BTreeSet::new(),
            compiled_fns: BTreeMap::new(),
            jobs: Vec::new(),
            tests: Vec::new(),
            used: BTreeMap::new(),
            referenced: BTreeSet::new(),
            broken_tables: BTreeSet::new(),
            deps: BTreeMap::new(),
        }
    }

    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Adds a diagnostic about a literal unless one of the same code stands on it already: a
    /// value map's literal is checked once per use and direction (forwards as a pattern,
    /// backwards as a value), and one mistake is one diagnostic.
    pub(crate) fn push_once(&mut self, d: Diagnostic) {
        let same = |o: &Diagnostic| {
            o.code == d.code && o.primary.file == d.primary.file && o.primary.span == d.primary.span
        };
        if !self.diags.iter().any(same) {
            self.diags.push(d);
        }
    }

    /// Where a declaration is, for the plan's origins.
    pub(crate) fn origin(&self, file: FileId, span: Span) -> model::Origin {
        let (line, column) = self.project.sources.get(file).line_col(span.start as usize);
        model::Origin {
            path: self.project.relative_name(file),
            line,
            column,
        }
    }

    /// Records that a column is read or written, for the plan's system description.
    pub(crate) fn use_column(&mut self, system: &str, table: &TableSchema, column: &str) {
        if table.column(column).is_none() {
            return;
        }
        self.used
            .entry((system.to_string(), table.name.clone()))
            .or_default()
            .insert(column.to_string());
    }

    /// The schema table of `system.table`, when both resolve.
    pub(crate) fn schema_table(&self, system: &str, table: &str) -> Option<&'p TableSchema> {
        self.project
            .schemas
            .get(system)
            .and_then(|s| s.table(table))
    }

    /// The declared systems whose schemas loaded, with the tables the mappings use.
    fn model_systems(&self) -> BTreeMap<String, model::System> {
        let mut out = BTreeMap::new();
        for (alias, decl) in &self.systems {
            let Some(loaded) = self.project.schemas.get(alias) else {
                continue;
            };
            // An unknown kind was reported (E0211); no plan comes of it.
            let Some(kind) = model::SystemKind::parse(&decl.node.kind.name) else {
                continue;
            };
            let tables = self
                .used
                .iter()
                .filter(|((system, _), _)| system == alias)
                .filter_map(|((_, table), columns)| {
                    let schema = loaded.table(table)?.clone();
                    let columns = columns.clone();
                    Some((table.clone(), model::UsedTable { schema, columns }))
                })
                .collect();
            let time_zone = decl
                .node
                .settings
                .iter()
                .find(|s| s.key.name == "time_zone");
            out.insert(
                alias.clone(),
                model::System {
                    kind,
                    schema: self.project.relative_name(loaded.file),
                    time_zone: time_zone.map(|s| s.value.value.clone()),
                    tables,
                },
            );
        }
        out
    }

    /// W0005 for value maps and functions nobody uses.
    fn unused(&mut self) {
        let mut found = Vec::new();
        for (name, d) in &self.maps {
            if !self.referenced.contains(name) {
                found.push((
                    d.file,
                    d.node.name.span,
                    format!("value map `{name}` is never used"),
                ));
            }
        }
        for (name, d) in &self.fns {
            if !self.referenced.contains(name) {
                found.push((
                    d.file,
                    d.node.name.span,
                    format!("function `{name}` is never called"),
                ));
            }
        }
        for (file, span, msg) in found {
            self.push(
                Diagnostic::new(Code::W0005, file, span, msg)
                    .label("defined here")
                    .help("remove it, or use it in a field mapping"),
            );
        }
    }
}
