//! Decimal facets: whether the values a field mapping writes fit the precision and scale of a
//! decimal column, so a mapping that can lose digits is flagged before a run meets a record
//! that fails (the runtime refuses such a value rather than let the service reject or round it).
//!
//! Only what is known is judged: the facets of source columns from their snapshot, literals,
//! `round(…, n)` and the arithmetic that keeps digits countable. A source whose digits are not
//! known (a column without facets, a division) is not warned about; the runtime still guards it.

use std::str::FromStr;

use rust_decimal::Decimal;

use super::table::Sides;
use super::Checker;
use crate::diagnostics::{Code, Diagnostic};
use crate::model::Side;
use crate::schema::facets::{misfit, Digits, Misfit};
use crate::schema::ColumnType;
use crate::source::FileId;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, LitKind, UnaryOp};

impl<'p> Checker<'p> {
    /// W0006 when values of `src_e` (on side `src`) can have more digits than decimal column
    /// `target` (on side `dst`) holds.
    pub(super) fn decimal_fit(
        &mut self,
        file: FileId,
        sides: &Sides<'p>,
        src_e: &Expr,
        src: Side,
        dst: Side,
        target: &str,
    ) {
        let Some(col) = sides.table(dst).and_then(|t| t.column(target)) else {
            return;
        };
        if !matches!(col.ty, ColumnType::Decimal { .. }) {
            return;
        }
        let want = Digits::of_column(&col.ty);
        let have = digits(src_e, &|c| {
            sides
                .table(src)
                .and_then(|t| t.column(c))
                .map_or(Digits::UNKNOWN, |c| Digits::of_column(&c.ty))
        });
        let Some(excess) = misfit(have, want) else {
            return;
        };
        let what = src_e
            .as_column()
            .map_or("values".to_string(), |c| format!("`{c}`"));
        let help = match excess {
            Misfit::Scale { holds, .. } => format!(
                "round it to what the column holds: `round(…, {holds})`; a record whose value \
                 does not fit fails rather than be rounded silently"
            ),
            Misfit::Integer { .. } => "a record whose value does not fit fails; check that the \
                                       two columns hold the same range"
                .to_string(),
        };
        self.push(
            Diagnostic::new(
                Code::W0006,
                file,
                src_e.span,
                format!(
                    "{what} may have {}, but `{target}` holds {}",
                    excess.have(),
                    excess.holds()
                ),
            )
            .label("may not fit")
            .help(help),
        );
    }
}

/// What is known of the digits of an expression's values; `column` gives a source column's.
fn digits(e: &Expr, column: &dyn Fn(&str) -> Digits) -> Digits {
    match &e.kind {
        ExprKind::Lit(LitKind::Int(n)) => Digits::of_value(Decimal::from(*n)),
        ExprKind::Lit(LitKind::Decimal(text)) => Decimal::from_str(text)
            .map(Digits::of_value)
            .unwrap_or(Digits::UNKNOWN),
        ExprKind::Column(c) => column(c),
        ExprKind::Unary {
            op: UnaryOp::Neg,
            expr,
        } => digits(expr, column),
        ExprKind::If {
            then, otherwise, ..
        } => digits(then, column).widest(digits(otherwise, column)),
        ExprKind::Binary { op, lhs, rhs, .. } => {
            let (a, b) = (digits(lhs, column), digits(rhs, column));
            match op {
                BinaryOp::Coalesce => a.widest(b),
                // A sum has the larger scale, and may carry into one more integer digit.
                BinaryOp::Add | BinaryOp::Sub => Digits {
                    scale: a.widest(b).scale,
                    integer: a.widest(b).integer.map(|i| i + 1),
                },
                BinaryOp::Mul => Digits {
                    scale: a.scale.zip(b.scale).map(|(x, y)| x + y),
                    integer: a.integer.zip(b.integer).map(|(x, y)| x + y),
                },
                _ => Digits::UNKNOWN,
            }
        }
        ExprKind::Call { name, args } if name.name == "round" => rounded(args, column),
        _ => Digits::UNKNOWN,
    }
}

/// `round(x, n)` with a literal `n`: at most `n` digits after the point, and one more before
/// it when rounding can carry (`9.99` to one digit is `10.0`).
fn rounded(args: &[Expr], column: &dyn Fn(&str) -> Digits) -> Digits {
    let (Some(x), Some(n)) = (args.first(), args.get(1)) else {
        return Digits::UNKNOWN;
    };
    let ExprKind::Lit(LitKind::Int(n)) = n.kind else {
        return Digits::UNKNOWN;
    };
    let Ok(n) = u32::try_from(n) else {
        return Digits::UNKNOWN;
    };
    let inner = digits(x, column);
    let carries = inner.scale.is_none_or(|s| s > n);
    Digits {
        scale: Some(inner.scale.map_or(n, |s| s.min(n))),
        integer: inner.integer.map(|i| if carries { i + 1 } else { i }),
    }
}
