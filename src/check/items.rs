//! Top-level names: systems, table mappings, value maps, functions, jobs; duplicates between
//! them; function signatures and bodies; jobs.

use std::collections::BTreeMap;

use super::types::Ty;
use super::{Checker, Decl, FnSig, Scope};
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::model;
use crate::source::FileId;
use crate::syntax::ast::{self, Span};
use crate::syntax::format::duration;

impl<'p> Checker<'p> {
    /// Gathers every top-level declaration and reports names defined twice.
    pub(super) fn collect(&mut self) {
        let project = self.project;
        let mut first: BTreeMap<(u8, String), (FileId, Span, &str)> = BTreeMap::new();
        for f in &project.files {
            for item in &f.ast.items {
                let (ns, name, what) = match item {
                    ast::Item::System(s) => (0, &s.name, "system"),
                    ast::Item::Table(t) => (1, &t.name, "table mapping"),
                    ast::Item::ValueMap(m) => (2, &m.name, "value map"),
                    ast::Item::Function(x) => (2, &x.name, "function"),
                    ast::Item::Job(j) => (3, &j.name, "job"),
                    ast::Item::Import(_) | ast::Item::Test(_) => {
                        if let ast::Item::Test(t) = item {
                            self.tests.push(Decl {
                                file: f.id,
                                node: t,
                            });
                        }
                        continue;
                    }
                };
                if let Some(&earlier) = first.get(&(ns, name.name.clone())) {
                    self.defined_twice(f.id, name, what, earlier);
                    continue;
                }
                if ns == 2 && crate::functions::builtin(&name.name).is_some() {
                    self.builtin_name(f.id, name);
                    continue;
                }
                first.insert((ns, name.name.clone()), (f.id, name.span, what));
                self.declare(f.id, item);
            }
        }
    }

    /// E0207: a name already given to a declaration of the same namespace.
    fn defined_twice(
        &mut self,
        file: FileId,
        name: &ast::Ident,
        what: &str,
        (ffile, fspan, first_what): (FileId, Span, &str),
    ) {
        let message = if first_what == what {
            format!("{what} `{}` is defined twice", name.name)
        } else {
            format!("{what} `{}` has the name of a {first_what}", name.name)
        };
        self.push(
            Diagnostic::new(Code::E0207, file, name.span, message)
                .label("defined again here")
                .with(
                    ffile,
                    fspan,
                    if first_what == what {
                        "first defined here".to_string()
                    } else {
                        format!("the {first_what} is defined here")
                    },
                )
                .help("rename one of them"),
        );
    }

    /// E0207: a value map or function named like a built-in function.
    fn builtin_name(&mut self, file: FileId, name: &ast::Ident) {
        self.push(
            Diagnostic::new(
                Code::E0207,
                file,
                name.span,
                format!("`{}` is the name of a built-in function", name.name),
            )
            .label("defined here")
            .help("choose another name"),
        );
    }

    /// E0214 unless a `time_zone` setting names a zone of the IANA database (or `UTC`).
    fn time_zone_setting(&mut self, file: FileId, setting: &ast::Setting) {
        let name = &setting.value.value;
        if let Err(e) = jiff::tz::TimeZone::get(name) {
            self.push(
                Diagnostic::new(
                    Code::E0214,
                    file,
                    setting.value.span,
                    format!("unknown time zone `{name}`"),
                )
                .label(e.to_string())
                .help(
                    "name an IANA time zone, such as `Europe/Berlin`, `America/New_York` or `UTC`",
                ),
            );
        }
    }

    fn declare(&mut self, file: FileId, item: &'p ast::Item) {
        match item {
            ast::Item::System(s) => {
                if crate::model::SystemKind::parse(&s.kind.name).is_none() {
                    let kinds = crate::model::SystemKind::ALL.map(crate::model::SystemKind::as_str);
                    self.push(
                        Diagnostic::new(
                            Code::E0211,
                            file,
                            s.kind.span,
                            format!("unknown system kind `{}`", s.kind.name),
                        )
                        .label("not a kind syncmap connects to")
                        .help(
                            did_you_mean(&s.kind.name, kinds).unwrap_or_else(|| {
                                format!(
                                    "the kinds are {}",
                                    kinds.map(|k| format!("`{k}`")).join(", ")
                                )
                            }),
                        ),
                    );
                }
                for setting in &s.settings {
                    if setting.key.name == "time_zone" {
                        self.time_zone_setting(file, setting);
                    } else if setting.key.name != "schema"
                        && !setting.key.name.starts_with("modified_on.")
                    {
                        self.push(
                            Diagnostic::new(
                                Code::W0003,
                                file,
                                setting.key.span,
                                format!("setting `{}` has no effect", setting.key.name),
                            )
                            .label("unknown setting")
                            .help("a system declares its `schema`, `time_zone` and `modified_on.TABLE`; connection details belong in the profile (syncmap.toml)"),
                        );
                    }
                }
                self.systems
                    .insert(s.name.name.clone(), Decl { file, node: s });
            }
            ast::Item::Table(t) => {
                self.table_index
                    .insert(t.name.name.clone(), self.tables.len());
                self.tables.push(Decl { file, node: t });
            }
            ast::Item::ValueMap(m) => {
                self.maps
                    .insert(m.name.name.clone(), Decl { file, node: m });
            }
            ast::Item::Function(x) => {
                self.fns.insert(x.name.name.clone(), Decl { file, node: x });
            }
            ast::Item::Job(j) => self.jobs.push(Decl { file, node: j }),
            ast::Item::Import(_) | ast::Item::Test(_) => {}
        }
    }

    /// Checks every function, so errors in unused ones are reported too.
    pub(super) fn check_functions(&mut self) {
        let names: Vec<String> = self.fns.keys().cloned().collect();
        for n in names {
            self.fn_signature(&n, None);
        }
    }

    /// The signature of a user function, checking its body on first use. `call` is the call
    /// site that asked, to report recursion there.
    pub(crate) fn fn_signature(
        &mut self,
        name: &str,
        call: Option<(FileId, Span)>,
    ) -> Option<FnSig> {
        if let Some(sig) = self.fn_sigs.get(name) {
            return sig.clone();
        }
        let decl = *self.fns.get(name)?;
        if self.fn_in_progress.contains(name) {
            self.recursion(name, decl, call);
            return None;
        }
        self.fn_in_progress.insert(name.to_string());
        let f = decl.node;
        let mut params = Vec::new();
        for p in &f.params {
            let ty = self.type_name(decl.file, &p.ty);
            params.push((p.name.name.clone(), ty.unwrap_or(Ty::Unknown)));
        }
        let declared = f.ret.as_ref().map(|r| self.type_name(decl.file, r));
        let scope = Scope::Params {
            func: &f.name.name,
            params: &params,
        };
        let body = self.expr(decl.file, &f.body, &scope);
        let ret = match declared {
            Some(Some(t)) => {
                self.fn_result(decl, &body.ty, &t);
                t
            }
            Some(None) => Ty::Unknown,
            None => body.ty.clone(),
        };
        self.fn_in_progress.remove(name);
        let sig = FnSig {
            params: params.iter().map(|(_, t)| t.clone()).collect(),
            ret,
        };
        self.compiled_fns.insert(
            name.to_string(),
            model::Function {
                params: params.into_iter().map(|(n, _)| n).collect(),
                body: body.expr,
            },
        );
        self.fn_sigs.insert(name.to_string(), Some(sig.clone()));
        Some(sig)
    }

    /// E0313: a function reached again while its body is being checked.
    fn recursion(
        &mut self,
        name: &str,
        decl: Decl<'p, ast::Function>,
        call: Option<(FileId, Span)>,
    ) {
        let (file, span) = call.unwrap_or((decl.file, decl.node.name.span));
        self.push(
            Diagnostic::new(
                Code::E0313,
                file,
                span,
                format!("function `{name}` calls itself"),
            )
            .label("recursive call")
            .with(decl.file, decl.node.name.span, "function defined here")
            .help("functions cannot recurse; write the repetition out or use a value map"),
        );
    }

    /// E0301 unless a function's body fits its declared result type `t`.
    fn fn_result(&mut self, decl: Decl<'p, ast::Function>, body: &Ty, t: &Ty) {
        if super::types::assignable(body, t) {
            return;
        }
        let f = decl.node;
        let r = f.ret.as_ref().map_or(f.name.span, |r| r.span);
        self.push(
            Diagnostic::new(
                Code::E0301,
                decl.file,
                f.body.span,
                format!("expected `{t}`, found `{body}`"),
            )
            .label(format!("this is `{body}`"))
            .with(decl.file, r, "result type declared here")
            .help("change the declared result type or convert the value"),
        );
    }

    fn type_name(&mut self, file: FileId, id: &ast::Ident) -> Option<Ty> {
        let ty = Ty::from_name(&id.name);
        if ty.is_none() {
            self.push(
                Diagnostic::new(
                    Code::E0213,
                    file,
                    id.span,
                    format!("unknown type `{}`", id.name),
                )
                .label("not a type")
                .help(did_you_mean(&id.name, Ty::NAMES).unwrap_or_else(|| {
                    format!(
                        "the types are {}",
                        Ty::NAMES.map(|n| format!("`{n}`")).join(", ")
                    )
                })),
            );
        }
        ty
    }

    /// Checks jobs and lists their tables in dependency order.
    pub(super) fn check_jobs(&mut self, order: &[model::Table]) -> BTreeMap<String, model::Job> {
        let mut out = BTreeMap::new();
        for decl in self.jobs.clone() {
            let j = decl.node;
            let mut named = Vec::new();
            for t in &j.tables {
                if self.resolve_table_name(decl.file, t).is_some() {
                    named.push(t.name.clone());
                }
            }
            let tables: Vec<String> = order
                .iter()
                .map(|t| t.name.clone())
                .filter(|n| named.is_empty() || named.contains(n))
                .collect();
            if let (Some(idle), None) = (j.idle, j.every) {
                self.push(
                    Diagnostic::new(Code::W0003, decl.file, idle.span, "`idle` has no effect without `every`")
                        .label("never used")
                        .help("the idle timeout stretches the interval of a job that finds nothing to do; add `every …`"),
                );
            }
            if let (Some(idle), Some(every)) = (j.idle, j.every) {
                if idle.seconds < every.seconds {
                    self.push(
                        Diagnostic::new(
                            Code::W0003,
                            decl.file,
                            idle.span,
                            format!(
                                "an idle timeout of {} is shorter than the interval of {}",
                                duration(idle.seconds),
                                duration(every.seconds)
                            ),
                        )
                        .label("has no effect")
                        .help("the idle timeout should be at least the interval, e.g. `every 30m idle 12h`"),
                    );
                }
            }
            out.insert(
                j.name.name.clone(),
                model::Job {
                    mode: match j.mode {
                        ast::SyncMode::Full => model::SyncMode::Full,
                        ast::SyncMode::Modified => model::SyncMode::Modified,
                    },
                    tables,
                    every_seconds: j.every.map(|d| d.seconds),
                    idle_seconds: j.idle.map(|d| d.seconds),
                    at: j
                        .at
                        .map(|t| format!("{:02}:{:02}", t.minutes / 60, t.minutes % 60)),
                },
            );
        }
        out
    }

    /// Resolves a table-mapping name, reporting it when unknown.
    pub(crate) fn resolve_table_name(&mut self, file: FileId, id: &ast::Ident) -> Option<usize> {
        if let Some(i) = self.table_index.get(&id.name) {
            return Some(*i);
        }
        if self.project.broken_names.contains(&id.name) {
            return None; // its declaration did not parse; that error is already reported
        }
        let names: Vec<&str> = self.table_index.keys().map(String::as_str).collect();
        // `via currencies.code` where `currencies` is a table of a system, not yet mapped.
        let system_table = self
            .project
            .schemas
            .iter()
            .find_map(|(alias, loaded)| loaded.schema.table(&id.name).map(|_| alias.as_str()));
        let help = did_you_mean(&id.name, names.iter().copied()).unwrap_or_else(|| {
            if let Some(alias) = system_table {
                let name = &id.name;
                format!("`{alias}.{name}` is a table, not a table mapping: declare one, `table {name}: {alias}.{name} <-> … {{ … }}`, and lookups go through its couplings")
            } else if names.is_empty() {
                "no table mapping is declared".to_string()
            } else {
                format!(
                    "the table mappings are {}",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        });
        self.push(
            Diagnostic::new(
                Code::E0205,
                file,
                id.span,
                format!("unknown table mapping `{}`", id.name),
            )
            .label("not declared")
            .help(help),
        );
        None
    }
}
