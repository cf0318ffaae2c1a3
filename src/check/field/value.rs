//! The value of a field without `via` or `using`, and what its destination can hold: types that
//! must fit or round-trip, and lengths that may be cut.

use super::modifiers::Mods;
use super::{Dest, FieldDir};
use crate::check::expr::Typed;
use crate::check::types::{assignable, round_trips, Ty};
use crate::check::Checker;
use crate::diagnostics::{Code, Diagnostic};
use crate::model::{self, Side};
use crate::source::FileId;
use crate::syntax::ast::{self, Direction, FieldMap};

impl<'p> Checker<'p> {
    /// The value of a field without `via` or `using`: literals are resolved against the
    /// destination type; expressions must fit it.
    pub(super) fn plain_value(
        &mut self,
        d: FieldDir<'_, 'p>,
        src_e: &ast::Expr,
        src: &Typed,
        dest: Dest<'_>,
    ) -> Option<model::Expr> {
        let (file, f, src_side) = (d.file, d.field, d.src);
        let (dst_ty, target) = (dest.ty, dest.target);
        if let ast::ExprKind::Lit(lit) = &src_e.kind {
            let l = self.coerce_literal(file, lit, src_e.span, dst_ty, &format!("`{target}`"))?;
            return Some(model::Expr::Lit(l));
        }
        if f.arrow.dir == Direction::Both && !self.round_trip(file, f, &src.ty, dst_ty, src_side) {
            return None;
        }
        if src.ty.is_key() && matches!(dst_ty, Ty::Lookup(_)) && src_e.as_column().is_some() {
            self.push(
                Diagnostic::new(Code::E0308, file, f.span, format!("a key cannot be copied into lookup `{target}` as is"))
                    .label("keys differ between systems")
                    .help("translate it through the couplings of the table mapping it refers to: `… via TABLE`"),
            );
            return None;
        }
        if !assignable(&src.ty, dst_ty) {
            self.not_assignable(file, f, src_e, &src.ty, dst_ty, target);
            return None;
        }
        Some(src.expr.clone())
    }

    /// Whether the two columns of a two-way field keep their values both ways (E0304 if not).
    fn round_trip(
        &mut self,
        file: FileId,
        f: &FieldMap,
        src: &Ty,
        dst_ty: &Ty,
        src_side: Side,
    ) -> bool {
        let (l, r) = match src_side {
            Side::Left => (src, dst_ty),
            Side::Right => (dst_ty, src),
        };
        if round_trips(l, r) || l.is_key() && r.is_key() {
            return true;
        }
        // Both passes of a two-way field see the same pair of types: the left-to-right
        // pass reports, the other only stops, so the mismatch is not reported as E0301.
        if src_side == Side::Left {
            self.push(
                Diagnostic::new(Code::E0304, file, f.arrow.span, format!("`{l}` and `{r}` do not round-trip unchanged"))
                    .label("two-way here")
                    .with(file, f.left.span, format!("this is `{l}`"))
                    .with(file, f.right.span, format!("this is `{r}`"))
                    .help("map the field one way, or translate it with an invertible value map (`using { … }`)"),
            );
        }
        false
    }

    /// E0301, with a conversion to suggest for the usual pairs of types.
    fn not_assignable(
        &mut self,
        file: FileId,
        f: &FieldMap,
        src_e: &ast::Expr,
        src: &Ty,
        dst_ty: &Ty,
        target: &str,
    ) {
        let help = match (src, dst_ty) {
            (Ty::Option(_), Ty::String { .. }) => {
                "use `label(…)` for the label, or a value map".to_string()
            }
            (Ty::String { .. }, Ty::Option(_)) => {
                "translate text to choices with a value map: `using { \"A\" => \"Label\", _ => … }`"
                    .to_string()
            }
            (Ty::Decimal, Ty::Int) => "round it first: `to_int(round(x, 0))`".to_string(),
            (t, Ty::String { .. }) if !t.is_textual() => {
                "convert it with `to_string(…)`".to_string()
            }
            _ => format!("convert the value to `{dst_ty}`"),
        };
        self.push(
            Diagnostic::new(
                Code::E0301,
                file,
                src_e.span,
                format!("expected `{dst_ty}`, found `{src}`"),
            )
            .label(format!("this is `{src}`"))
            .with(file, f.span, format!("written to `{target}`"))
            .help(help),
        );
    }

    /// What may not fit the destination: `truncate` with nothing to cut (W0003), values longer
    /// than it holds (W0001) and decimals it cannot hold. Returns its maximum length, for
    /// `truncate`.
    pub(super) fn length_checks(
        &mut self,
        d: FieldDir<'_, 'p>,
        src_ty: &Ty,
        dest: Dest<'_>,
        mods: Mods,
    ) -> Option<u32> {
        let FieldDir {
            file,
            sides,
            field: f,
            src,
            dst,
            ..
        } = d;
        let (dst_ty, target) = (dest.ty, dest.target);
        let (src_e, _) = super::ends(f, src);
        let dst_max = dst_ty
            .max_len()
            .filter(|_| matches!(dst_ty, Ty::String { .. }));
        // An unknown destination (its table or schema is already reported) has no known length.
        if mods.truncate && dst_max.is_none() && !matches!(dst_ty, Ty::Unknown) {
            self.push(
                Diagnostic::new(
                    Code::W0003,
                    file,
                    f.span,
                    format!("`truncate` has no effect: `{target}` has no maximum length"),
                )
                .label("nothing to cut")
                .help("remove `truncate`"),
            );
        }
        if !mods.truncate && f.transform.is_none() {
            self.truncation(file, src_e, src_ty, dst_ty, target);
        }
        if f.transform.is_none() {
            self.decimal_fit(file, sides, src_e, src, dst, target);
        }
        dst_max
    }

    fn truncation(&mut self, file: FileId, src_e: &ast::Expr, src: &Ty, dst: &Ty, target: &str) {
        let (Some(s), Some(d)) = (src.max_len(), dst.max_len()) else {
            return;
        };
        if !matches!(dst, Ty::String { .. }) || s <= d {
            return;
        }
        let what = src_e
            .as_column()
            .map_or("values".to_string(), |c| format!("`{c}`"));
        self.push(
            Diagnostic::new(
                Code::W0001,
                file,
                src_e.span,
                format!("{what} may hold {s} characters but `{target}` holds {d}"),
            )
            .label("may be truncated")
            .help(format!(
                "cut it explicitly with `left(…, {d})`, or add `[truncate]` to accept the cut"
            )),
        );
    }
}
