//! `via table[.column]`: translating a value through the couplings of another table mapping —
//! which of its sides each end is, which tables those are, and which column, if any, the value
//! is matched by or taken from.

use super::{Dest, FieldDir};
use crate::check::expr::Typed;
use crate::check::table::Sides;
use crate::check::types::{assignable, comparable, Ty};
use crate::check::{Checker, Scope};
use crate::diagnostics::{Code, Diagnostic};
use crate::model::{self, Side};
use crate::schema::TableSchema;
use crate::source::FileId;
use crate::syntax::ast::{self, Span};

/// The table mapping a lookup goes through, and the tables of it the value comes from and goes
/// to, with their systems.
struct Via<'a, 'p> {
    name: &'a ast::Ident,
    span: Span,
    src: (&'p str, &'p TableSchema),
    dst: (&'p str, &'p TableSchema),
    /// The table and column the value is, when it is a column.
    value_column: Option<(&'a str, &'a str)>,
    /// The table and column written.
    dest_column: Option<(&'a str, &'a str)>,
}

/// Which side of a table mapping between `left` and `right` system `sys` is; `fallback` when
/// both sides are the same system.
fn side_of(left: &str, right: &str, sys: &str, fallback: Side) -> Option<Side> {
    if left == right {
        (left == sys).then_some(fallback)
    } else if left == sys {
        Some(Side::Left)
    } else if right == sys {
        Some(Side::Right)
    } else {
        None
    }
}

/// Whether a table holds the options of a choice column.
fn is_choice(table: &TableSchema) -> bool {
    crate::schema::choices::split_choice_name(&table.name).is_some()
}

/// Whether values of `ty`, held by `column` (table and column, where the value is one), are
/// keys of `table`, so a lookup translates them through couplings without a column: GUIDs and
/// lookups are keys; an option is one of the table of that very choice column's options (an
/// option mapping), whose key is the option's value. Another choice with the same options
/// holds other values once options are added, so it is not.
fn is_key_of(ty: &Ty, table: &TableSchema, column: Option<(&str, &str)>) -> bool {
    match ty {
        Ty::Option(_) => {
            column.is_some() && crate::schema::choices::split_choice_name(&table.name) == column
        }
        ty => ty.is_key() || ty.is_lenient(),
    }
}

impl<'p> Checker<'p> {
    /// Compiles `via table[.column]` for one direction.
    pub(super) fn lookup(
        &mut self,
        d: FieldDir<'_, 'p>,
        value: &Typed,
        dest: Dest<'_>,
        via: &ast::Ident,
        column: Option<&ast::Ident>,
        span: Span,
    ) -> Option<model::Expr> {
        let FieldDir {
            file,
            table: this,
            sides,
            src,
            dst,
            ..
        } = d;
        let (dst_ty, target) = (dest.ty, dest.target);
        let idx = self.resolve_table_name(file, via)?;
        self.add_dependency(&this.name.name, &via.name, file, via.span);
        if self.broken_tables.contains(&via.name) {
            return None;
        }
        let other = self.tables[idx].node;
        let (v_src, v_dst) = self.via_sides(file, via, other, sides, src, dst)?;
        let end = |s: Side| match s {
            Side::Left => (other.left.system.name.as_str(), &other.left.table.name),
            Side::Right => (other.right.system.name.as_str(), &other.right.table.name),
        };
        let (vs_sys, vs_table) = end(v_src);
        let (vd_sys, vd_table) = end(v_dst);
        let vs = self.schema_table(vs_sys, vs_table)?;
        let vd = self.schema_table(vd_sys, vd_table)?;
        let value_column = match (&value.expr, sides.table(src)) {
            (model::Expr::Col(c), Some(t)) => Some((t.name.as_str(), c.as_str())),
            _ => None,
        };
        let v = Via {
            name: via,
            span,
            src: (vs_sys, vs),
            dst: (vd_sys, vd),
            value_column,
            dest_column: sides.table(dst).map(|t| (t.name.as_str(), target)),
        };
        if !self.lookup_targets_agree(file, &v, value, dst_ty) {
            return None;
        }
        if matches!(value.ty, Ty::Unknown) || matches!(dst_ty, Ty::Unknown) {
            return None; // an error about one of the ends is already reported
        }
        let (by, take) = self.lookup_columns(file, &v, value, dst_ty, target, column)?;
        Some(model::Expr::Lookup(Box::new(model::Lookup {
            via: via.name.clone(),
            from: v_src,
            by,
            take,
            arg: value.expr.clone(),
        })))
    }

    /// The sides of the table mapping `other` that the field's source and destination systems
    /// are (E0308 when it couples other systems).
    fn via_sides(
        &mut self,
        file: FileId,
        via: &ast::Ident,
        other: &ast::Table,
        sides: &Sides<'p>,
        src: Side,
        dst: Side,
    ) -> Option<(Side, Side)> {
        let (src_sys, dst_sys) = (sides.system(src), sides.system(dst));
        let (l, r) = (&other.left.system.name, &other.right.system.name);
        let found = (side_of(l, r, src_sys, src), side_of(l, r, dst_sys, dst));
        let (Some(v_src), Some(v_dst)) = found else {
            self.push(
                Diagnostic::new(
                    Code::E0308,
                    file,
                    via.span,
                    format!(
                        "`{}` pairs `{}` with `{}`, not `{src_sys}` with `{dst_sys}`",
                        via.name, other.left.system.name, other.right.system.name
                    ),
                )
                .label("couples other systems")
                .help("look up through a table mapping between the same two systems"),
            );
            return None;
        };
        Some((v_src, v_dst))
    }

    /// Whether the lookups among the ends refer to the tables the lookup goes through, and
    /// the choices among them to the choice it couples (E0308 if not).
    fn lookup_targets_agree(&mut self, file: FileId, v: &Via, value: &Typed, dst_ty: &Ty) -> bool {
        for (ty, tbl, column, what) in [
            (&value.ty, v.src.1, v.value_column, "value"),
            (dst_ty, v.dst.1, v.dest_column, "destination"),
        ] {
            if matches!(ty, Ty::Option(_)) && is_choice(tbl) && !is_key_of(ty, tbl, column) {
                // Once for a two-way field: both directions meet the same two choices.
                self.push_once(
                    Diagnostic::new(
                        Code::E0308,
                        file,
                        v.span,
                        format!(
                            "`{}` couples the options of `{}`, not of this choice",
                            v.name.name, tbl.name
                        ),
                    )
                    .label("options of another choice")
                    .help("look up through the option mapping of the same choice column"),
                );
                return false;
            }
            if let Ty::Lookup(targets) = ty {
                if !targets.iter().any(|x| x == &tbl.name) {
                    self.push(
                        Diagnostic::new(
                            Code::E0308,
                            file,
                            v.span,
                            format!("the {what} refers to `{}`, but `{}` couples `{}`", targets.join("`/`"), v.name.name, tbl.name),
                        )
                        .label("wrong table mapping")
                        .help("look up through the table mapping that couples the table the lookup refers to"),
                    );
                    return false;
                }
            }
        }
        true
    }

    /// The column the value is matched by (`by`) or the one taken (`take`), by which ends are
    /// keys: a key translates to a key directly, anything else needs a column.
    fn lookup_columns(
        &mut self,
        file: FileId,
        v: &Via<'_, 'p>,
        value: &Typed,
        dst_ty: &Ty,
        target: &str,
        column: Option<&ast::Ident>,
    ) -> Option<(Option<String>, Option<String>)> {
        let (src_key, dst_key) = (
            is_key_of(&value.ty, v.src.1, v.value_column),
            is_key_of(dst_ty, v.dst.1, v.dest_column),
        );
        match (src_key, dst_key, column) {
            (true, true, None) => Some((None, None)),
            (true, true, Some(c)) => {
                self.push(
                    Diagnostic::new(
                        Code::E0308,
                        file,
                        c.span,
                        "both ends are keys: the column is not needed",
                    )
                    .label("not needed")
                    .help(format!("write `via {}`", v.name.name)),
                );
                None
            }
            (false, true, Some(c)) => self.match_by(file, v, c, value).map(|by| (Some(by), None)),
            (true, false, Some(c)) => self
                .take_column(file, v, c, dst_ty, target)
                .map(|take| (None, Some(take))),
            (s, d, None) if s != d => {
                self.column_needed(file, v, s, target);
                None
            }
            _ => {
                self.push(
                    Diagnostic::new(
                        Code::E0308,
                        file,
                        v.span,
                        "a lookup translates keys, but neither end is a key",
                    )
                    .label("nothing to translate")
                    .help("map the value directly, without `via`"),
                );
                None
            }
        }
    }

    /// `via T.c` from a plain value to a key: `c` of the source table must hold the value.
    fn match_by(
        &mut self,
        file: FileId,
        v: &Via<'_, 'p>,
        c: &ast::Ident,
        value: &Typed,
    ) -> Option<String> {
        let cty = self.via_column(file, c, v.src.0, v.src.1)?;
        if !comparable(&value.ty, &cty) {
            self.push(
                Diagnostic::new(
                    Code::E0301,
                    file,
                    c.span,
                    format!("`{}` is `{cty}`, the value is `{}`", c.name, value.ty),
                )
                .label("cannot hold the value looked up")
                .help("look up by a column of the same type"),
            );
            return None;
        }
        Some(c.name.clone())
    }

    /// `via T.c` from a key to a plain value: `c` of the destination table must fit it.
    fn take_column(
        &mut self,
        file: FileId,
        v: &Via<'_, 'p>,
        c: &ast::Ident,
        dst_ty: &Ty,
        target: &str,
    ) -> Option<String> {
        let cty = self.via_column(file, c, v.dst.0, v.dst.1)?;
        if !assignable(&cty, dst_ty) {
            self.push(
                Diagnostic::new(
                    Code::E0301,
                    file,
                    c.span,
                    format!("`{}` is `{cty}`, but `{target}` is `{dst_ty}`", c.name),
                )
                .label("does not fit the destination")
                .help("take a column of the destination's type"),
            );
            return None;
        }
        Some(c.name.clone())
    }

    /// E0308: one end is a key and the other is not, and no column says what they match.
    fn column_needed(&mut self, file: FileId, v: &Via, src_key: bool, target: &str) {
        let (plain, tname) = if src_key {
            (target.to_string(), v.dst.1.name.clone())
        } else {
            ("the value".to_string(), v.src.1.name.clone())
        };
        self.push(
            Diagnostic::new(
                Code::E0308,
                file,
                v.span,
                format!("{plain} is not a key of `{tname}`: say which column it matches"),
            )
            .label("needs a column")
            .help(format!(
                "write `via {}.COLUMN`, e.g. the code column of `{tname}`",
                v.name.name
            )),
        );
    }

    fn via_column(
        &mut self,
        file: FileId,
        c: &ast::Ident,
        sys: &'p str,
        table: &'p TableSchema,
    ) -> Option<Ty> {
        let scope = Scope::Table {
            system: sys,
            table,
            other: None,
        };
        let e = ast::Expr {
            kind: ast::ExprKind::Column(c.name.clone()),
            span: c.span,
        };
        let typed = self.expr(file, &e, &scope);
        (!matches!(typed.ty, Ty::Unknown)).then_some(typed.ty)
    }
}
