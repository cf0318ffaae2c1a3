//! Table mappings: sides, filters, match rules, creation, conflict and deletion rules, and the
//! dependencies they declare. Field mappings are in `field/`.

use super::types::{comparable, Ty};
use super::{Checker, Decl, Scope};
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::model::{self, Flow, Side};
use crate::schema::TableSchema;
use crate::source::FileId;
use crate::syntax::ast::{self, ModifierKind, TableItem};

/// The resolved sides of a table mapping being checked.
#[derive(Clone, Copy)]
pub(crate) struct Sides<'p> {
    pub left: Option<&'p TableSchema>,
    pub right: Option<&'p TableSchema>,
    pub left_sys: &'p str,
    pub right_sys: &'p str,
}

impl<'p> Sides<'p> {
    pub fn table(&self, side: Side) -> Option<&'p TableSchema> {
        match side {
            Side::Left => self.left,
            Side::Right => self.right,
        }
    }

    pub fn system(&self, side: Side) -> &'p str {
        match side {
            Side::Left => self.left_sys,
            Side::Right => self.right_sys,
        }
    }

    /// The scope of one side's columns.
    pub fn scope(&self, side: Side) -> Scope<'p> {
        match self.table(side) {
            Some(table) => Scope::Table {
                system: self.system(side),
                table,
                other: self
                    .table(side.other())
                    .map(|t| (self.system(side.other()), t)),
            },
            None => Scope::Unknown,
        }
    }
}

/// The flow of an arrow.
pub(crate) fn flow_of(dir: ast::Direction) -> Flow {
    match dir {
        ast::Direction::Both => Flow::Both,
        ast::Direction::ToRight => Flow::LeftToRight,
        ast::Direction::ToLeft => Flow::RightToLeft,
    }
}

/// What the items of a table mapping other than its fields declare, gathered in source order.
struct Rules<'p> {
    filters: [Option<model::Expr>; 2],
    match_rules: Vec<model::MatchRule>,
    create: Option<Vec<Side>>,
    on_conflict: model::ConflictRule,
    on_delete: model::DeleteRule,
    only_coupled: bool,
    fields: Vec<&'p ast::FieldMap>,
}

impl Rules<'_> {
    /// The rules of a table mapping that declares none.
    fn new() -> Self {
        Rules {
            filters: [None, None],
            match_rules: Vec::new(),
            create: None,
            on_conflict: model::ConflictRule::Fail,
            on_delete: model::DeleteRule::Fail,
            only_coupled: true,
            fields: Vec::new(),
        }
    }
}

/// The sides records are written to under a flow.
pub(crate) fn destinations(flow: Flow) -> Vec<Side> {
    match flow {
        Flow::LeftToRight => vec![Side::Right],
        Flow::RightToLeft => vec![Side::Left],
        Flow::Both => vec![Side::Right, Side::Left],
    }
}

impl<'p> Checker<'p> {
    /// Checks every table mapping, in source order.
    pub(super) fn check_tables(&mut self) -> Vec<model::Table> {
        let decls = self.tables.clone();
        decls.into_iter().map(|d| self.table(d)).collect()
    }

    fn side(&mut self, file: FileId, r: &'p ast::TableRef) -> Option<&'p TableSchema> {
        let sys = &r.system.name;
        if !self.systems.contains_key(sys) && self.project.broken_names.contains(sys) {
            return None;
        }
        // The system may be declared in the import that could not be read.
        if !self.systems.contains_key(sys) && self.project.unread_imports {
            return None;
        }
        if !self.systems.contains_key(sys) {
            self.unknown_system(file, r);
            return None;
        }
        if let Some(choice) = crate::schema::choices::split_choice_name(&r.table.name) {
            return self.choice_side(file, r, choice);
        }
        let loaded = self.project.schemas.get(sys)?;
        let found = loaded.schema.table(&r.table.name);
        if found.is_none() {
            self.unknown_table(file, r);
        }
        found
    }

    /// E0201, pointing at the alias when the system's kind was written instead.
    fn unknown_system(&mut self, file: FileId, r: &ast::TableRef) {
        let sys = &r.system.name;
        let names: Vec<&str> = self.systems.keys().map(String::as_str).collect();
        let help = self
            .alias_of_kind(sys)
            .map(|alias| {
                format!(
                    "`{sys}` is the kind of system `{alias}`; name a system by its alias: \
                     `{alias}.{}`",
                    r.table.name
                )
            })
            .or_else(|| did_you_mean(sys, names.iter().copied()))
            .unwrap_or_else(|| {
                format!("declare it: `system {sys}: KIND {{ schema = \"….json\" }}`")
            });
        self.push(
            Diagnostic::new(
                Code::E0201,
                file,
                r.system.span,
                format!("unknown system `{sys}`"),
            )
            .label("not declared")
            .help(help),
        );
    }

    /// E0202: the system's schema has no such table.
    fn unknown_table(&mut self, file: FileId, r: &ast::TableRef) {
        let sys = &r.system.name;
        let Some(loaded) = self.project.schemas.get(sys) else {
            return;
        };
        let help = did_you_mean(
            &r.table.name,
            loaded.schema.tables.iter().map(|t| t.name.as_str()),
        )
        .unwrap_or_else(|| format!("the schema of `{sys}` lists the tables it knows"));
        let decl = self.systems[sys];
        self.push(
            Diagnostic::new(
                Code::E0202,
                file,
                r.table.span,
                format!("unknown table `{}` in system `{sys}`", r.table.name),
            )
            .label("not in the schema")
            .with(decl.file, decl.node.name.span, "system declared here")
            .help(help),
        );
    }

    /// The alias of the one declared system of kind `kind`, for users who write the kind where
    /// the alias belongs (`dataverse.accounts` for `dv.accounts`).
    fn alias_of_kind(&self, kind: &str) -> Option<String> {
        let mut of_kind = self
            .systems
            .iter()
            .filter(|(_, d)| d.node.kind.name == kind);
        match (of_kind.next(), of_kind.next()) {
            (Some((alias, _)), None) => Some(alias.clone()),
            _ => None,
        }
    }

    /// Which side a system alias (or `left` / `right`) names in a table mapping.
    pub(crate) fn side_named(
        &mut self,
        file: FileId,
        id: &ast::Ident,
        t: &ast::Table,
    ) -> Option<Side> {
        let (l, r) = (&t.left.system.name, &t.right.system.name);
        match id.name.as_str() {
            n if n == l && n != r => return Some(Side::Left),
            n if n == r && n != l => return Some(Side::Right),
            "left" => return Some(Side::Left),
            "right" => return Some(Side::Right),
            _ => {}
        }
        let msg = if l == r && id.name == *l {
            format!("`{}` is both sides of `{}`", id.name, t.name.name)
        } else {
            format!("system `{}` is not a side of `{}`", id.name, t.name.name)
        };
        let help = if l == r {
            "both sides are the same system: write `left` or `right`".to_string()
        } else {
            let alias = self.alias_of_kind(&id.name).filter(|a| a == l || a == r);
            match alias {
                Some(a) => format!(
                    "`{}` is the kind of system `{a}`; name the side by its alias: `{a}`",
                    id.name
                ),
                None => did_you_mean(&id.name, [l.as_str(), r.as_str()])
                    .unwrap_or_else(|| format!("the sides are `{l}` and `{r}`")),
            }
        };
        self.push(
            Diagnostic::new(Code::E0212, file, id.span, msg)
                .label("not a side")
                .with(
                    file,
                    t.left.span.to(t.right.span),
                    "the sides are declared here",
                )
                .help(help),
        );
        None
    }

    fn table(&mut self, decl: Decl<'p, ast::Table>) -> model::Table {
        let (file, t) = (decl.file, decl.node);
        let sides = self.table_sides(t, file);
        self.choice_flow(file, t, &sides);
        let flow = flow_of(t.arrow.dir);
        let mut rules = Rules::new();
        for item in &t.items {
            self.table_item(file, t, &sides, flow, item, &mut rules);
        }
        let create = rules.create.take().unwrap_or_else(|| destinations(flow));
        let passes = self.fields(file, t, &sides, flow, &rules.fields, &create);
        let [left_filter, right_filter] = rules.filters;
        let side = |r: &ast::TableRef, filter: Option<model::Expr>| model::TableSide {
            system: r.system.name.clone(),
            table: r.table.name.clone(),
            filter,
        };
        model::Table {
            name: t.name.name.clone(),
            origin: self.origin(file, t.name.span),
            left: side(&t.left, left_filter),
            right: side(&t.right, right_filter),
            flow,
            depends_on: Vec::new(),
            match_rules: rules.match_rules,
            create,
            only_coupled: rules.only_coupled,
            on_conflict: rules.on_conflict,
            on_delete: rules.on_delete,
            left_to_right: passes.0,
            right_to_left: passes.1,
        }
    }

    /// Resolves both sides of a table mapping; a side that does not resolve marks it broken.
    /// The keys of both sides are always read.
    fn table_sides(&mut self, t: &'p ast::Table, file: FileId) -> Sides<'p> {
        let left = self.side(file, &t.left);
        let right = self.side(file, &t.right);
        if left.is_none() || right.is_none() {
            self.broken_tables.insert(t.name.name.clone());
        }
        let sides = Sides {
            left,
            right,
            left_sys: &t.left.system.name,
            right_sys: &t.right.system.name,
        };
        for (s, tbl) in [(Side::Left, left), (Side::Right, right)] {
            if let Some(tbl) = tbl {
                self.use_column(sides.system(s), tbl, &tbl.key.clone());
            }
        }
        sides
    }

    /// Checks one item of a table mapping into `rules`.
    fn table_item(
        &mut self,
        file: FileId,
        t: &'p ast::Table,
        sides: &Sides<'p>,
        flow: Flow,
        item: &'p TableItem,
        rules: &mut Rules<'p>,
    ) {
        match item {
            TableItem::Filter(f) => self.table_filter(file, t, sides, f, &mut rules.filters),
            TableItem::Match(m) => {
                let priority = rules.match_rules.len() as u32 + 1;
                if let Some(rule) = self.match_rule(file, m, sides, priority) {
                    rules.match_rules.push(rule);
                }
            }
            TableItem::Create(c) => rules.create = Some(self.create_sides(file, c, t, flow)),
            TableItem::OnConflict(c) => rules.on_conflict = self.on_conflict(file, c, t, flow),
            TableItem::OnDelete(d) => {
                rules.on_delete = match d.rule {
                    ast::DeleteRule::Uncouple => model::DeleteRule::Uncouple,
                    ast::DeleteRule::Restore => model::DeleteRule::Restore,
                    ast::DeleteRule::Propagate => model::DeleteRule::Propagate,
                    ast::DeleteRule::Fail => model::DeleteRule::Fail,
                }
            }
            TableItem::OnlyCoupled(o) => rules.only_coupled = o.value,
            TableItem::After(a) => {
                for dep in &a.tables {
                    if self.resolve_table_name(file, dep).is_some() {
                        self.add_dependency(&t.name.name, &dep.name, file, dep.span);
                    }
                }
            }
            TableItem::Field(f) => rules.fields.push(f),
        }
    }

    /// A `filter SIDE: expr` line: a bool over that side's columns, joined with `and` to the
    /// side's earlier filters.
    fn table_filter(
        &mut self,
        file: FileId,
        t: &ast::Table,
        sides: &Sides<'p>,
        f: &ast::Filter,
        filters: &mut [Option<model::Expr>; 2],
    ) {
        let Some(side) = self.side_named(file, &f.side, t) else {
            return;
        };
        let typed = self.expr(file, &f.expr, &sides.scope(side));
        if !typed.ty.is_lenient() && !matches!(typed.ty, Ty::Bool) {
            self.push(
                Diagnostic::new(
                    Code::E0301,
                    file,
                    f.expr.span,
                    format!("a filter must be `bool`, found `{}`", typed.ty),
                )
                .label(format!("this is `{}`", typed.ty))
                .help("compare it with something, e.g. `blocked == \" \"`"),
            );
        }
        let slot = &mut filters[side as usize];
        *slot = Some(match slot.take() {
            Some(prev) => model::Expr::Bin {
                op: model::BinOp::And,
                lhs: Box::new(prev),
                rhs: Box::new(typed.expr),
            },
            None => typed.expr,
        });
    }

    /// `on conflict`: the rule, and W0003 when the mapping is one-way and so never conflicts.
    fn on_conflict(
        &mut self,
        file: FileId,
        c: &ast::OnConflict,
        t: &ast::Table,
        flow: Flow,
    ) -> model::ConflictRule {
        let rule = match &c.rule {
            ast::ConflictRule::Prefer(side) => match self.side_named(file, side, t) {
                Some(s) => model::ConflictRule::Prefer(s),
                None => model::ConflictRule::Fail,
            },
            ast::ConflictRule::Newest => model::ConflictRule::Newest,
            ast::ConflictRule::Fail => model::ConflictRule::Fail,
        };
        if flow != Flow::Both {
            self.push(
                Diagnostic::new(Code::W0003, file, c.span, "`on conflict` has no effect on a one-way table mapping")
                    .label("never applies")
                    .with(file, t.arrow.span, "records flow one way here")
                    .help("conflicts arise only when both sides change a two-way field; remove the line or make the mapping `<->`"),
            );
        }
        rule
    }

    fn match_rule(
        &mut self,
        file: FileId,
        m: &ast::MatchRule,
        sides: &Sides<'p>,
        priority: u32,
    ) -> Option<model::MatchRule> {
        let mut case_sensitive = false;
        for md in &m.modifiers {
            if md.kind == ModifierKind::CaseSensitive {
                case_sensitive = true;
            } else {
                self.push(
                    Diagnostic::new(
                        Code::E0314,
                        file,
                        md.span,
                        format!("`{}` does not apply to a match rule", md.kind.text()),
                    )
                    .label("not allowed here")
                    .help("a match rule takes only `[case sensitive]`"),
                );
            }
        }
        let mut terms = Vec::new();
        let mut ok = true;
        for term in &m.terms {
            let l = self.column_of(file, &term.left, sides, Side::Left);
            let r = self.column_of(file, &term.right, sides, Side::Right);
            match (l, r) {
                (Some(lt), Some(rt)) => {
                    let bad = !comparable(&lt, &rt)
                        || matches!(lt, Ty::Lookup(_))
                        || matches!(rt, Ty::Lookup(_));
                    if bad {
                        ok = false;
                        self.push(
                            Diagnostic::new(Code::E0312, file, term.span, format!("cannot match `{lt}` with `{rt}`"))
                                .label("these columns cannot be compared")
                                .help("match on columns holding the same kind of value, such as codes or names; lookups are keys of different systems"),
                        );
                    }
                    terms.push(model::MatchTerm {
                        left: term.left.name.clone(),
                        right: term.right.name.clone(),
                    });
                }
                _ => ok = false,
            }
        }
        ok.then_some(model::MatchRule {
            priority,
            case_sensitive,
            terms,
        })
    }

    /// Resolves a plain column of one side, reporting it when unknown.
    pub(crate) fn column_of(
        &mut self,
        file: FileId,
        id: &ast::Ident,
        sides: &Sides<'p>,
        side: Side,
    ) -> Option<Ty> {
        let expr = ast::Expr {
            kind: ast::ExprKind::Column(id.name.clone()),
            span: id.span,
        };
        let typed = self.expr(file, &expr, &sides.scope(side));
        sides.table(side)?;
        (!matches!(typed.ty, Ty::Unknown)).then_some(typed.ty)
    }

    fn create_sides(
        &mut self,
        file: FileId,
        c: &ast::Create,
        t: &ast::Table,
        flow: Flow,
    ) -> Vec<Side> {
        let mut out = Vec::new();
        for id in &c.sides {
            if id.name == "none" {
                if c.sides.len() > 1 {
                    self.push(
                        Diagnostic::new(
                            Code::E0310,
                            file,
                            id.span,
                            "`none` cannot be combined with sides",
                        )
                        .label("contradicts the other sides listed")
                        .help("write `create: none` alone, or list the sides"),
                    );
                }
                continue;
            }
            let Some(side) = self.side_named(file, id, t) else {
                continue;
            };
            if !destinations(flow).contains(&side) {
                self.push(
                    Diagnostic::new(
                        Code::W0003,
                        file,
                        id.span,
                        format!(
                            "`create: {}` has no effect: records never flow to `{}`",
                            id.name, id.name
                        ),
                    )
                    .label("never written")
                    .with(file, t.arrow.span, "the direction is declared here")
                    .help("create rows only on a side records flow to"),
                );
                continue;
            }
            if !out.contains(&side) {
                out.push(side);
            }
        }
        out.sort();
        out
    }

    pub(crate) fn add_dependency(&mut self, table: &str, dep: &str, file: FileId, span: ast::Span) {
        let list = self.deps.entry(table.to_string()).or_default();
        if !list.iter().any(|(d, _, _)| d == dep) {
            list.push((dep.to_string(), file, span));
        }
    }
}
