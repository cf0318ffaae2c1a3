//! Binary operators: `??`, `and`/`or`, comparisons (with literals resolved against the value
//! they are compared with), text concatenation and arithmetic.

use super::Typed;
use crate::check::types::{comparable, join, Ty};
use crate::check::{Checker, Scope};
use crate::diagnostics::{Code, Diagnostic};
use crate::model::{self, BinOp};
use crate::source::FileId;
use crate::syntax::ast::{self, BinaryOp, ExprKind, LitKind, Span};

/// An operation of two checked operands, with where each is written for messages.
struct Operands<'e> {
    file: FileId,
    op_span: Span,
    lhs: &'e ast::Expr,
    rhs: &'e ast::Expr,
    l: Typed,
    r: Typed,
}

impl Operands<'_> {
    /// The compiled operation, of type `ty`.
    fn bin(self, op: BinOp, ty: Ty) -> Typed {
        Typed {
            ty,
            expr: model::Expr::Bin {
                op,
                lhs: Box::new(self.l.expr),
                rhs: Box::new(self.r.expr),
            },
        }
    }

    /// E0301 at the operator, naming both operands' types.
    fn mismatch(&self, what: String) -> Diagnostic {
        let (file, l, r) = (self.file, &self.l.ty, &self.r.ty);
        Diagnostic::new(Code::E0301, file, self.op_span, what)
            .label(format!("`{l}` and `{r}`"))
            .with(file, self.lhs.span, format!("this is `{l}`"))
            .with(file, self.rhs.span, format!("this is `{r}`"))
    }
}

/// A string literal that was meant as a value of type `want` written without quotes: the help
/// and the literal to write instead (`"false"` → `false`, `"2024-01-01"` → `@2024-01-01`,
/// `"42"` → `42`).
fn unquoted(e: &ast::Expr, want: &Ty) -> Option<(String, String)> {
    let ExprKind::Lit(LitKind::String(text)) = &e.kind else {
        return None;
    };
    let literal = match want {
        Ty::Bool if text == "true" || text == "false" => text.clone(),
        Ty::Date | Ty::DateTime if text.parse::<jiff::civil::Date>().is_ok() => format!("@{text}"),
        Ty::DateTime if text.parse::<jiff::Timestamp>().is_ok() => format!("@{text}"),
        Ty::Int if text.parse::<i64>().is_ok() => text.clone(),
        Ty::Decimal if text.parse::<rust_decimal::Decimal>().is_ok() => text.clone(),
        _ => return None,
    };
    if !crate::syntax::is_literal(&literal) {
        return None;
    }
    let what = match want {
        Ty::Bool => "a boolean is written without quotes",
        Ty::Date | Ty::DateTime => "a date or time is written as a literal after `@`",
        _ => "a number is written without quotes",
    };
    Some((format!("{what}: `{literal}`"), literal))
}

/// The plan's comparison operator for a comparison of the syntax.
fn comparison(op: BinaryOp) -> BinOp {
    match op {
        BinaryOp::Eq => BinOp::Eq,
        BinaryOp::Ne => BinOp::Ne,
        BinaryOp::Lt => BinOp::Lt,
        BinaryOp::Le => BinOp::Le,
        BinaryOp::Gt => BinOp::Gt,
        _ => BinOp::Ge,
    }
}

impl Checker<'_> {
    pub(super) fn binary(
        &mut self,
        file: FileId,
        op: BinaryOp,
        op_span: Span,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        scope: &Scope<'_>,
    ) -> Typed {
        let mut l = self.expr(file, lhs, scope);
        let mut r = self.expr(file, rhs, scope);
        if op.is_comparison() {
            // A label or member compared with an option set or enum is resolved here.
            self.resolve_against(file, rhs, &mut r, lhs, &l.ty);
            self.resolve_against(file, lhs, &mut l, rhs, &r.ty);
        }
        let o = Operands {
            file,
            op_span,
            lhs,
            rhs,
            l,
            r,
        };
        match op {
            BinaryOp::Coalesce => self.coalesce(o),
            BinaryOp::And | BinaryOp::Or => {
                self.want(file, lhs.span, &o.l.ty, "bool", |t| matches!(t, Ty::Bool));
                self.want(file, rhs.span, &o.r.ty, "bool", |t| matches!(t, Ty::Bool));
                let bop = if op == BinaryOp::And {
                    BinOp::And
                } else {
                    BinOp::Or
                };
                o.bin(bop, Ty::Bool)
            }
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => self.compare(op, o),
            BinaryOp::Add => self.add(o),
            BinaryOp::Sub => self.arithmetic(BinOp::Sub, o),
            BinaryOp::Mul => self.arithmetic(BinOp::Mul, o),
            BinaryOp::Rem => self.arithmetic(BinOp::Rem, o),
            BinaryOp::Div => {
                let mut t = self.arithmetic(BinOp::Div, o);
                if !t.ty.is_lenient() {
                    t.ty = Ty::Decimal;
                }
                t
            }
        }
    }

    /// `a ?? b`: both sides of one type.
    fn coalesce(&mut self, o: Operands) -> Typed {
        match join(&o.l.ty, &o.r.ty) {
            Some(ty) => o.bin(BinOp::Coalesce, ty),
            None => {
                let d = o.mismatch(format!(
                    "`??` needs both sides of one type, found `{}` and `{}`",
                    o.l.ty, o.r.ty
                ));
                // `phoneNumber ?? 0`: a text's fallback is text. Only likely what was meant
                // (`"0"` may be), so left to a person.
                let d = match (&o.rhs.kind, o.l.ty.is_textual()) {
                    (ExprKind::Lit(LitKind::Int(_) | LitKind::Decimal(_)), true) => d
                        .help("a text's fallback is text: the empty text `\"\"`, say")
                        .fix(o.rhs.span, "\"\"", false),
                    _ => d,
                };
                self.push(d);
                o.bin(BinOp::Coalesce, Ty::Unknown)
            }
        }
    }

    /// `=`, `!=`, `<`, …: comparable operands; booleans have no order.
    fn compare(&mut self, op: BinaryOp, o: Operands) -> Typed {
        let ordering = !matches!(op, BinaryOp::Eq | BinaryOp::Ne);
        let bad_order = ordering && (matches!(o.l.ty, Ty::Bool) || matches!(o.r.ty, Ty::Bool));
        if !comparable(&o.l.ty, &o.r.ty) || bad_order {
            let mut d = o.mismatch(format!("cannot compare `{}` with `{}`", o.l.ty, o.r.ty));
            let unquoted = unquoted(o.rhs, &o.l.ty)
                .map(|fix| (o.rhs.span, fix))
                .or_else(|| unquoted(o.lhs, &o.r.ty).map(|fix| (o.lhs.span, fix)));
            if let Some((span, (help, text))) = unquoted.filter(|_| !bad_order) {
                d = d.help(help).fix(span, text, true);
            }
            self.push(d);
        }
        o.bin(comparison(op), Ty::Bool)
    }

    /// `+` concatenates when either side is text, and adds numbers otherwise.
    fn add(&mut self, o: Operands) -> Typed {
        if !(o.l.ty.is_textual() || o.r.ty.is_textual()) {
            return self.arithmetic(BinOp::Add, o);
        }
        let ok = |t: &Ty| t.is_textual() || t.is_lenient();
        if !(ok(&o.l.ty) && ok(&o.r.ty)) {
            self.push(o.mismatch(format!("cannot add `{}` and `{}`", o.l.ty, o.r.ty)));
            return o.bin(BinOp::Concat, Ty::Unknown);
        }
        let max = o.l.ty.max_len().zip(o.r.ty.max_len()).map(|(a, b)| a + b);
        o.bin(BinOp::Concat, Ty::String { max })
    }

    fn arithmetic(&mut self, op: BinOp, o: Operands) -> Typed {
        let ok = |t: &Ty| t.is_numeric() || t.is_lenient();
        let ty = if ok(&o.l.ty) && ok(&o.r.ty) {
            match (&o.l.ty, &o.r.ty) {
                (Ty::Int, Ty::Int) => Ty::Int,
                (a, b) if a.is_lenient() && b.is_lenient() => Ty::Unknown,
                (Ty::Int, t) | (t, Ty::Int) if t.is_lenient() => Ty::Int,
                _ => Ty::Decimal,
            }
        } else {
            let sym = match op {
                BinOp::Add => "+",
                BinOp::Sub => "-",
                BinOp::Mul => "*",
                BinOp::Div => "/",
                _ => "%",
            };
            let (l, r) = (&o.l.ty, &o.r.ty);
            let help = if l.is_temporal() || r.is_temporal() {
                "move dates with `add_days(date, n)`"
            } else {
                "arithmetic needs numbers; convert text with `to_decimal(…)`"
            };
            let file = o.file;
            self.push(
                Diagnostic::new(
                    Code::E0301,
                    file,
                    o.op_span,
                    format!("`{sym}` needs numbers, found `{l}` and `{r}`"),
                )
                .label("here")
                .with(file, o.lhs.span, format!("this is `{l}`"))
                .with(file, o.rhs.span, format!("this is `{r}`"))
                .help(help),
            );
            Ty::Unknown
        };
        o.bin(op, ty)
    }

    /// When `e` is a literal compared with an option set, enum, GUID or lookup, resolves it against
    /// that type (labels become values, GUIDs are checked and lower-cased).
    fn resolve_against(
        &mut self,
        file: FileId,
        e: &ast::Expr,
        typed: &mut Typed,
        other_e: &ast::Expr,
        other: &Ty,
    ) {
        let ExprKind::Lit(lit) = &e.kind else { return };
        let needs = matches!(
            (lit, other),
            (LitKind::String(_) | LitKind::Int(_), Ty::Option(_))
                | (LitKind::String(_), Ty::Enum(_) | Ty::Guid | Ty::Lookup(_))
        );
        if !needs {
            return;
        }
        // Name what the literal is compared with: "the other side" would read as the other
        // system of the table mapping.
        let what = match other_e.as_column() {
            Some(c) => format!("`{c}`"),
            None => "the value it is compared with".to_string(),
        };
        match self.coerce_literal(file, lit, e.span, other, &what) {
            Some(l) => {
                typed.ty = other.clone();
                typed.expr = model::Expr::Lit(l);
            }
            None => typed.ty = Ty::Unknown,
        }
    }
}
