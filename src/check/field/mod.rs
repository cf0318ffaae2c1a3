//! Field mappings: arrows against the table's flow, destinations, read-only columns, columns
//! written twice, and required columns never written on create. How a value is computed
//! (plainly, through a lookup or through a value map) and the modifiers are in the files beside.

mod lookup;
mod modifiers;
mod value;
mod value_map;

use std::collections::BTreeMap;

use super::expr::Typed;
use super::table::Sides;
use super::types::Ty;
use super::Checker;
use crate::diagnostics::{Code, Diagnostic};
use crate::model::{self, Flow, Phase, Side};
use crate::source::FileId;
use crate::syntax::ast::{self, Direction, FieldMap, Span, Transform};
use modifiers::Mods;

/// One direction of one field mapping: the file and table it is written in, the sides it
/// flows between and which way. Every check of the field needs all of it to point its
/// diagnostics at the right text.
#[derive(Clone, Copy)]
pub(super) struct FieldDir<'a, 'p> {
    file: FileId,
    table: &'a ast::Table,
    sides: &'a Sides<'p>,
    field: &'a FieldMap,
    src: Side,
    dst: Side,
}

/// The column a field writes, and its type.
#[derive(Clone, Copy)]
pub(super) struct Dest<'a> {
    target: &'a str,
    ty: &'a Ty,
}

/// Where a destination column was first written, per phase, for E0306.
type Written = BTreeMap<(Side, String), Vec<(Phase, Span)>>;

/// The passes a field of this arrow contributes to, as (source, destination).
fn directions(dir: Direction) -> &'static [(Side, Side)] {
    match dir {
        Direction::ToRight => &[(Side::Left, Side::Right)],
        Direction::ToLeft => &[(Side::Right, Side::Left)],
        Direction::Both => &[(Side::Left, Side::Right), (Side::Right, Side::Left)],
    }
}

/// The source and destination expressions of a field read from `src`.
fn ends(f: &FieldMap, src: Side) -> (&ast::Expr, &ast::Expr) {
    match src {
        Side::Left => (&f.left, &f.right),
        Side::Right => (&f.right, &f.left),
    }
}

impl<'p> Checker<'p> {
    /// Checks the field mappings of a table and builds its passes.
    pub(super) fn fields(
        &mut self,
        file: FileId,
        t: &'p ast::Table,
        sides: &Sides<'p>,
        flow: Flow,
        fields: &[&'p FieldMap],
        create: &[Side],
    ) -> (Option<model::Pass>, Option<model::Pass>) {
        let mut ltr = Vec::new();
        let mut rtl = Vec::new();
        let mut written = Written::new();
        // A field mapping dropped for an error may be the one meant to set a required column, so
        // W0004 waits until every field mapping checks.
        let mut dropped = false;
        for (n, f) in fields.iter().enumerate() {
            let id = format!("{}#{}", t.name.name, n + 1);
            if self.swapped_ends(file, sides, f, flow) || !self.arrow_agrees(file, t, f, flow) {
                dropped = true;
                continue;
            }
            let mut mods = self.modifiers(file, f);
            mods.on_conflict = self.field_conflict_rule(file, t, f, mods);
            if f.arrow.dir == Direction::Both && !self.two_way_shape(file, f) {
                dropped = true;
                continue;
            }
            let mut reported_read_only = false;
            for &(src, dst) in directions(f.arrow.dir) {
                let d = FieldDir {
                    file,
                    table: t,
                    sides,
                    field: f,
                    src,
                    dst,
                };
                let Some(op) = self.field_op(d, mods, &id, &mut reported_read_only) else {
                    dropped = true;
                    continue;
                };
                self.note_write(file, &mut written, dst, &op, f.span);
                if dst == Side::Right {
                    ltr.push(op);
                } else {
                    rtl.push(op);
                }
            }
        }
        if !dropped {
            self.required_on_create(file, t, sides, create, &ltr, &rtl);
        }
        passes(flow, ltr, rtl)
    }

    /// E0203 once for a field mapping whose two columns each belong to the other side
    /// (`telephone1 -> phoneNumber` in `bc.customers <-> dv.accounts`), with the mapping written
    /// the right way round, flowing as meant (`phoneNumber <- telephone1`). Sure to be meant
    /// where the table lets records flow that way.
    fn swapped_ends(&mut self, file: FileId, sides: &Sides<'p>, f: &FieldMap, flow: Flow) -> bool {
        let (Some(l), Some(r)) = (f.left.as_column(), f.right.as_column()) else {
            return false;
        };
        let has = |side: Side, c: &str| sides.table(side).is_some_and(|t| t.column(c).is_some());
        let swapped = !has(Side::Left, l)
            && has(Side::Right, l)
            && !has(Side::Right, r)
            && has(Side::Left, r);
        if !swapped {
            return false;
        }
        let reversed = match f.arrow.dir {
            Direction::Both => Direction::Both,
            Direction::ToRight => Direction::ToLeft,
            Direction::ToLeft => Direction::ToRight,
        };
        let ident = crate::syntax::format::ident;
        let written = format!("{} {} {}", ident(r), reversed.arrow(), ident(l));
        let span = Span::new(f.left.span.start as usize, f.right.span.end as usize);
        let named = |side: Side| {
            let table = sides.table(side).map_or("", |t| t.name.as_str());
            format!("{}.{table}", sides.system(side))
        };
        let (ls, rs) = (named(Side::Left), named(Side::Right));
        self.push(
            Diagnostic::new(
                Code::E0203,
                file,
                span,
                "the two ends of this field mapping seem swapped",
            )
            .label(format!("`{l}` is a column of `{rs}`, `{r}` one of `{ls}`"))
            .help(format!(
                "the left end is a column of `{ls}`, the right end one of `{rs}`: write `{written}`"
            ))
            .fix(
                span,
                written,
                f.arrow.dir == Direction::Both || flow == Flow::Both,
            ),
        );
        true
    }

    fn arrow_agrees(&mut self, file: FileId, t: &ast::Table, f: &FieldMap, flow: Flow) -> bool {
        let ok = match flow {
            Flow::Both => true,
            Flow::LeftToRight => f.arrow.dir == Direction::ToRight,
            Flow::RightToLeft => f.arrow.dir == Direction::ToLeft,
        };
        if !ok {
            let table_arrow = t.arrow.dir.arrow();
            self.push(
                Diagnostic::new(
                    Code::E0303,
                    file,
                    f.arrow.span,
                    format!(
                        "field flows `{}` but table `{}` flows only `{table_arrow}`",
                        f.arrow.dir.arrow(),
                        t.name.name
                    ),
                )
                .label("against the table's direction")
                .with(file, t.arrow.span, "table direction declared here")
                .help(format!(
                    "write `{table_arrow}`, or make the table two-way with `<->`"
                )),
            );
        }
        ok
    }

    /// A two-way field must be `column <-> column`.
    fn two_way_shape(&mut self, file: FileId, f: &FieldMap) -> bool {
        for e in [&f.left, &f.right] {
            if e.as_column().is_none() {
                self.push(
                    Diagnostic::new(
                        Code::E0304,
                        file,
                        e.span,
                        "a two-way field must map a column to a column",
                    )
                    .label("a computed value cannot flow back")
                    .with(file, f.arrow.span, "two-way here")
                    .help("computed values flow one way: use `->` or `<-`"),
                );
                return false;
            }
        }
        true
    }

    /// Checks one direction of a field mapping and compiles it to a field operation.
    fn field_op(
        &mut self,
        d: FieldDir<'_, 'p>,
        mods: Mods,
        id: &str,
        reported_read_only: &mut bool,
    ) -> Option<model::FieldOp> {
        let FieldDir {
            file,
            sides,
            field: f,
            src,
            dst,
            ..
        } = d;
        let (src_e, dst_e) = ends(f, src);
        let target = self.destination(file, sides, f, dst_e, dst)?;
        let dst_ty = self.destination_type(file, sides, dst_e, dst, target)?;
        let read_only = sides
            .table(dst)
            .and_then(|tb| tb.column(target))
            .is_some_and(|col| col.read_only);
        if read_only {
            // Both columns of a two-way field may be read-only (`id <-> accountid`): one report.
            if !*reported_read_only {
                self.read_only(d, src_e, dst_e, target);
            }
            *reported_read_only = true;
            return None;
        }
        let src_typed = self.expr(file, src_e, &sides.scope(src));
        let dest = Dest {
            target,
            ty: &dst_ty,
        };
        let value = self.field_value(d, &src_typed, dest)?;
        let dst_max = self.length_checks(d, &src_typed.ty, dest, mods);
        Some(model::FieldOp {
            id: id.to_string(),
            origin: self.origin(file, f.span),
            target: target.to_string(),
            value,
            phase: mods.phase(),
            not_null: mods.not_null,
            clear_on_failure: mods.clear_on_failure,
            two_way: f.arrow.dir == Direction::Both,
            truncate: if mods.truncate { dst_max } else { None },
            on_conflict: mods.on_conflict,
        })
    }

    /// The column a field writes, or E0307 when its destination is an expression.
    fn destination<'f>(
        &mut self,
        file: FileId,
        sides: &Sides<'p>,
        f: &FieldMap,
        dst_e: &'f ast::Expr,
        dst: Side,
    ) -> Option<&'f str> {
        let target = dst_e.as_column();
        if target.is_none() {
            let dst_sys = sides.system(dst);
            self.push(
                Diagnostic::new(
                    Code::E0307,
                    file,
                    dst_e.span,
                    format!(
                        "the destination of `{}` must be a column of `{dst_sys}`",
                        f.arrow.dir.arrow()
                    ),
                )
                .label("an expression cannot be written to")
                .help("computations go on the source side, e.g. `upper(code) -> isocurrencycode`"),
            );
        }
        target
    }

    /// The type of the destination column; unknown when its side did not resolve.
    fn destination_type(
        &mut self,
        file: FileId,
        sides: &Sides<'p>,
        dst_e: &ast::Expr,
        dst: Side,
        target: &str,
    ) -> Option<Ty> {
        Some(match sides.table(dst) {
            Some(_) => {
                let id = ast::Ident {
                    name: target.to_string(),
                    span: dst_e.span,
                };
                self.column_of(file, &id, sides, dst)?
            }
            None => Ty::Unknown,
        })
    }

    /// E0305: the destination is computed by its system. A two-way field is told how to read
    /// it one way instead.
    fn read_only(
        &mut self,
        d: FieldDir<'_, 'p>,
        src_e: &ast::Expr,
        dst_e: &ast::Expr,
        target: &str,
    ) {
        let FieldDir {
            file,
            sides,
            field: f,
            dst,
            ..
        } = d;
        let tname = sides.table(dst).map_or("", |x| x.name.as_str());
        let help = match (f.arrow.dir, src_e.as_column()) {
            (Direction::Both, Some(source)) => {
                let (left, arrow, right) = if dst == Side::Right {
                    (source, "<-", target)
                } else {
                    (target, "->", source)
                };
                format!(
                    "the system computes `{target}`; read it one way instead: \
                     `{left} {arrow} {right}`"
                )
            }
            _ => format!(
                "the system computes `{target}`, so it can only be read; remove this \
                 field mapping"
            ),
        };
        self.push(
            Diagnostic::new(
                Code::E0305,
                file,
                dst_e.span,
                format!("`{target}` of `{}.{tname}` is read-only", sides.system(dst)),
            )
            .label("cannot be written")
            .help(help),
        );
    }

    /// The value written, by the field's transform: a lookup, a value map, or the source itself.
    fn field_value(
        &mut self,
        d: FieldDir<'_, 'p>,
        src_typed: &Typed,
        dest: Dest<'_>,
    ) -> Option<model::Expr> {
        let (f, src) = (d.field, d.src);
        match &f.transform {
            Some(Transform::Via {
                table,
                column,
                span,
            }) => self.lookup(d, src_typed, dest, table, column.as_ref(), *span),
            Some(Transform::UsingMap(name)) => self.using_map(d, name, src_typed, dest),
            Some(Transform::UsingInline(body)) => self.using_inline(d, body, src_typed, dest),
            None => {
                let (src_e, _) = ends(f, src);
                self.plain_value(d, src_e, src_typed, dest)
            }
        }
    }

    fn note_write(
        &mut self,
        file: FileId,
        written: &mut Written,
        dst: Side,
        op: &model::FieldOp,
        span: Span,
    ) {
        let entry = written.entry((dst, op.target.clone())).or_default();
        let clash = entry
            .iter()
            .find(|(p, _)| *p == Phase::Always || op.phase == Phase::Always || *p == op.phase);
        if let Some((_, first)) = clash {
            if *first != span {
                self.push(
                    Diagnostic::new(
                        Code::E0306,
                        file,
                        span,
                        format!("`{}` is written by two field mappings", op.target),
                    )
                    .label("written again here")
                    .with(file, *first, "first written here")
                    .help("keep one, or split them with `[create only]` and `[update only]`"),
                );
                return;
            }
        }
        entry.push((op.phase, span));
    }

    fn required_on_create(
        &mut self,
        file: FileId,
        t: &ast::Table,
        sides: &Sides<'p>,
        create: &[Side],
        ltr: &[model::FieldOp],
        rtl: &[model::FieldOp],
    ) {
        for &side in create {
            let Some(table) = sides.table(side) else {
                continue;
            };
            let ops = if side == Side::Right { ltr } else { rtl };
            for col in &table.columns {
                if !col.required_on_create || col.read_only || col.name == table.key {
                    continue;
                }
                let set = ops
                    .iter()
                    .any(|o| o.target == col.name && o.phase != Phase::Update);
                if !set {
                    self.push(
                        Diagnostic::new(
                            Code::W0004,
                            file,
                            t.name.span,
                            format!("`{}` of `{}.{}` is required to create a row, but no field mapping sets it", col.name, sides.system(side), table.name),
                        )
                        .label("creates rows without it")
                        .help(format!("map a value to it, e.g. `… -> {} [create only]`, or stop creating rows there with `create:`", col.name)),
                    );
                }
            }
        }
    }
}

/// The passes of a table: only those its flow runs, even when empty.
fn passes(
    flow: Flow,
    ltr: Vec<model::FieldOp>,
    rtl: Vec<model::FieldOp>,
) -> (Option<model::Pass>, Option<model::Pass>) {
    let pass =
        |source: Side, dest: Side, ops: Vec<model::FieldOp>| model::Pass { source, dest, ops };
    let ltr =
        matches!(flow, Flow::LeftToRight | Flow::Both).then(|| pass(Side::Left, Side::Right, ltr));
    let rtl =
        matches!(flow, Flow::RightToLeft | Flow::Both).then(|| pass(Side::Right, Side::Left, rtl));
    (ltr, rtl)
}
