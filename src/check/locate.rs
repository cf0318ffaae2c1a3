//! What name stands at an offset of a parsed file, and what it refers to: the syntax tree's
//! walk that hover and go-to-definition share. Columns come with the side of the table mapping
//! whose columns are in scope there, resolved as the checker resolves them.

use crate::model::Side;
use crate::syntax::ast::{self, Expr, ExprKind, Ident, Item, Span, StrLit, TableItem, TestStep};

/// A name at the cursor.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A column of one side of a table mapping (in a field, filter or match rule).
    Column {
        /// The table mapping.
        mapping: &'a str,
        /// Which side.
        side: Side,
        /// The column as written.
        name: &'a str,
        /// Where it is written.
        span: Span,
    },
    /// A field of a test record: a column of the side the record is on, which the caller
    /// resolves against the table mapping's declaration (it may be in another file).
    RecordField {
        /// The table mapping under test.
        mapping: &'a str,
        /// The side as written (`bc`, `left`).
        side: &'a Ident,
        /// The column.
        name: &'a Ident,
    },
    /// `via t.column`: a column of one of `t`'s tables.
    ViaColumn {
        /// The table mapping `t`.
        mapping: &'a Ident,
        /// The column.
        column: &'a Ident,
    },
    /// A function name in a call.
    Call(&'a Ident),
    /// A parameter used in a function body.
    Param {
        /// The function.
        func: &'a ast::Function,
        /// The name.
        name: &'a str,
        /// Where it is written.
        span: Span,
    },
    /// The name of a declared function.
    FunctionDecl(&'a ast::Function),
    /// A table mapping's name, declared or referred to.
    Mapping(&'a Ident),
    /// A value map's name, declared or referred to.
    ValueMap(&'a Ident),
    /// A system alias, declared or referred to.
    System(&'a Ident),
    /// A side named in a table mapping or test (`filter dv`, `given bc`, `prefer left`).
    Side {
        /// The table mapping.
        mapping: &'a str,
        /// The name as written.
        name: &'a Ident,
    },
    /// The table of `system.table`.
    SchemaTable {
        /// The system alias.
        system: &'a Ident,
        /// The table.
        table: &'a Ident,
    },
    /// The path of an import.
    Import(&'a StrLit),
    /// The schema path of a system.
    SchemaPath(&'a StrLit),
}

impl Target<'_> {
    /// The span of the name.
    pub fn span(&self) -> Span {
        match self {
            Target::Column { span, .. } | Target::Param { span, .. } => *span,
            Target::ViaColumn { column, .. } => column.span,
            Target::RecordField { name, .. } => name.span,
            Target::Call(i)
            | Target::Mapping(i)
            | Target::ValueMap(i)
            | Target::System(i)
            | Target::Side { name: i, .. } => i.span,
            Target::FunctionDecl(f) => f.name.span,
            Target::SchemaTable { table, .. } => table.span,
            Target::Import(s) | Target::SchemaPath(s) => s.span,
        }
    }
}

fn hit(span: Span, offset: usize) -> bool {
    (span.start as usize) <= offset && offset <= span.end as usize
}

/// The name at `offset` in a file, if any.
pub fn at(file: &ast::File, offset: usize) -> Option<Target<'_>> {
    let item = file.items.iter().find(|i| hit(i.span(), offset))?;
    let ident = |i: &Ident| hit(i.span, offset);
    match item {
        Item::Import(i) => hit(i.path.span, offset).then_some(Target::Import(&i.path)),
        Item::System(s) => {
            if ident(&s.name) {
                return Some(Target::System(&s.name));
            }
            s.settings
                .iter()
                .find(|st| st.key.name == "schema" && hit(st.value.span, offset))
                .map(|st| Target::SchemaPath(&st.value))
        }
        Item::Table(t) => table(t, offset),
        Item::ValueMap(m) => ident(&m.name).then_some(Target::ValueMap(&m.name)),
        Item::Function(f) => {
            if ident(&f.name) {
                return Some(Target::FunctionDecl(f));
            }
            expr(&f.body, offset, &|name, span| {
                f.params
                    .iter()
                    .any(|p| p.name.name == name)
                    .then_some(Target::Param {
                        func: f,
                        name,
                        span,
                    })
            })
        }
        Item::Job(j) => j.tables.iter().find(|i| ident(i)).map(Target::Mapping),
        Item::Test(t) => test(t, offset),
    }
}

fn table<'a>(t: &'a ast::Table, offset: usize) -> Option<Target<'a>> {
    let ident = |i: &Ident| hit(i.span, offset);
    if ident(&t.name) {
        return Some(Target::Mapping(&t.name));
    }
    for r in [&t.left, &t.right] {
        if ident(&r.system) {
            return Some(Target::System(&r.system));
        }
        if ident(&r.table) {
            return Some(Target::SchemaTable {
                system: &r.system,
                table: &r.table,
            });
        }
    }
    let item = t.items.iter().find(|i| hit(i.span(), offset))?;
    table_item(t, item, offset)
}

/// What the cursor is on in one item of table mapping `t`.
fn table_item<'a>(t: &'a ast::Table, item: &'a TableItem, offset: usize) -> Option<Target<'a>> {
    let ident = |i: &Ident| hit(i.span, offset);
    let mapping = t.name.name.as_str();
    let side_of = |name: &'a Ident| Target::Side { mapping, name };
    match item {
        TableItem::Filter(f) => {
            if ident(&f.side) {
                return Some(side_of(&f.side));
            }
            let side = side_named(t, &f.side.name)?;
            expr(&f.expr, offset, &|name, span| {
                Some(Target::Column {
                    mapping,
                    side,
                    name,
                    span,
                })
            })
        }
        TableItem::Match(m) => m.terms.iter().find_map(|term| {
            [(Side::Left, &term.left), (Side::Right, &term.right)]
                .into_iter()
                .find(|(_, i)| ident(i))
                .map(|(side, i)| Target::Column {
                    mapping,
                    side,
                    name: &i.name,
                    span: i.span,
                })
        }),
        TableItem::Create(c) => c.sides.iter().find(|i| ident(i)).map(side_of),
        TableItem::OnConflict(c) => match &c.rule {
            ast::ConflictRule::Prefer(i) if ident(i) => Some(side_of(i)),
            _ => None,
        },
        TableItem::After(a) => a.tables.iter().find(|i| ident(i)).map(Target::Mapping),
        TableItem::Field(f) => field(mapping, f, offset),
        TableItem::OnDelete(_) | TableItem::OnlyCoupled(_) => None,
    }
}

/// What the cursor is on in a field mapping of `mapping`: a column of either side, or the table
/// mapping or value map its transform names.
fn field<'a>(mapping: &'a str, f: &'a ast::FieldMap, offset: usize) -> Option<Target<'a>> {
    let ident = |i: &Ident| hit(i.span, offset);
    if let Some(ast::ConflictRule::Prefer(i)) = f.on_conflict.as_ref().map(|c| &c.rule) {
        if ident(i) {
            return Some(Target::Side { mapping, name: i });
        }
    }
    for (side, e) in [(Side::Left, &f.left), (Side::Right, &f.right)] {
        if hit(e.span, offset) {
            return expr(e, offset, &|name, span| {
                Some(Target::Column {
                    mapping,
                    side,
                    name,
                    span,
                })
            });
        }
    }
    match &f.transform {
        Some(ast::Transform::Via {
            table: via, column, ..
        }) => {
            if ident(via) {
                return Some(Target::Mapping(via));
            }
            column
                .as_ref()
                .filter(|c| ident(c))
                .map(|c| Target::ViaColumn {
                    mapping: via,
                    column: c,
                })
        }
        Some(ast::Transform::UsingMap(m)) if ident(m) => Some(Target::ValueMap(m)),
        _ => None,
    }
}

fn test(t: &ast::Test, offset: usize) -> Option<Target<'_>> {
    let ident = |i: &Ident| hit(i.span, offset);
    let mapping = t.table.name.as_str();
    if ident(&t.table) {
        return Some(Target::Mapping(&t.table));
    }
    for step in &t.steps {
        let (side, rec) = match step {
            TestStep::Given { side, record, .. } => (side, record),
            TestStep::Expect {
                expect: ast::Expectation::Record { side, record, .. },
                ..
            } => (side, record),
            TestStep::Couple { table, .. } if ident(table) => {
                return Some(Target::Mapping(table));
            }
            _ => continue,
        };
        if ident(side) {
            return Some(Target::Side {
                mapping,
                name: side,
            });
        }
        if let Some((name, _)) = rec.fields.iter().find(|(n, _)| ident(n)) {
            return Some(Target::RecordField {
                mapping,
                side,
                name,
            });
        }
    }
    None
}

/// The side a name gives in a table mapping, as the checker resolves it.
pub fn side_named(t: &ast::Table, name: &str) -> Option<Side> {
    side_of_systems(&t.left.system.name, &t.right.system.name, name)
}

/// The side `name` gives between the systems `l` and `r`: a system's alias (when the two
/// differ), or `left` / `right`.
pub fn side_of_systems(l: &str, r: &str, name: &str) -> Option<Side> {
    match name {
        n if n == l && n != r => Some(Side::Left),
        n if n == r && n != l => Some(Side::Right),
        "left" => Some(Side::Left),
        "right" => Some(Side::Right),
        _ => None,
    }
}

/// The column or call at `offset` in an expression; `column` says what a bare name is there.
fn expr<'a>(
    e: &'a Expr,
    offset: usize,
    column: &dyn Fn(&'a str, Span) -> Option<Target<'a>>,
) -> Option<Target<'a>> {
    if !hit(e.span, offset) {
        return None;
    }
    match &e.kind {
        ExprKind::Column(name) => column(name, e.span),
        ExprKind::Lit(_) => None,
        ExprKind::Call { name, args } => {
            if hit(name.span, offset) {
                return Some(Target::Call(name));
            }
            args.iter().find_map(|a| expr(a, offset, column))
        }
        ExprKind::Unary { expr: inner, .. } => expr(inner, offset, column),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr(lhs, offset, column).or_else(|| expr(rhs, offset, column))
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => expr(cond, offset, column)
            .or_else(|| expr(then, offset, column))
            .or_else(|| expr(otherwise, offset, column)),
    }
}
