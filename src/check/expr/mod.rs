//! Expressions: names resolved in their scope, types checked, option labels turned into values,
//! and the result lowered to the plan's expression form. Literals, binary operators and calls
//! are in the files beside.

mod binary;
mod call;
pub(super) mod literal;

use super::types::{join, Ty};
use super::{Checker, Scope};
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::model;
use crate::schema::TableSchema;
use crate::source::FileId;
use crate::syntax::ast::{self, ExprKind, Span, UnaryOp};
use literal::{lit_ty, to_literal};

/// A checked expression: its type and its compiled form.
#[derive(Debug, Clone)]
pub(crate) struct Typed {
    pub ty: Ty,
    pub expr: model::Expr,
}

impl Typed {
    fn unknown(expr: model::Expr) -> Typed {
        Typed {
            ty: Ty::Unknown,
            expr,
        }
    }
}

impl Checker<'_> {
    /// Checks an expression in a scope.
    pub(crate) fn expr(&mut self, file: FileId, e: &ast::Expr, scope: &Scope<'_>) -> Typed {
        match &e.kind {
            ExprKind::Lit(l) => Typed {
                ty: lit_ty(l),
                expr: model::Expr::Lit(to_literal(l)),
            },
            ExprKind::Column(name) => self.column(file, name, e.span, scope),
            ExprKind::Call { name, args } => self.call(file, name, args, e.span, scope),
            ExprKind::Unary { op, expr } => self.unary(file, *op, expr, scope),
            ExprKind::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => self.binary(file, *op, *op_span, lhs, rhs, scope),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => self.if_expr(file, cond, then, otherwise, scope),
        }
    }

    /// `not x` wants a bool; `-x` a number.
    fn unary(&mut self, file: FileId, op: UnaryOp, expr: &ast::Expr, scope: &Scope<'_>) -> Typed {
        let inner = self.expr(file, expr, scope);
        match op {
            UnaryOp::Not => {
                self.want(file, expr.span, &inner.ty, "bool", |t| {
                    matches!(t, Ty::Bool)
                });
                Typed {
                    ty: Ty::Bool,
                    expr: model::Expr::Not(Box::new(inner.expr)),
                }
            }
            UnaryOp::Neg => {
                self.want(file, expr.span, &inner.ty, "a number", Ty::is_numeric);
                let ty = if inner.ty.is_lenient() {
                    Ty::Unknown
                } else {
                    inner.ty
                };
                Typed {
                    ty,
                    expr: model::Expr::Neg(Box::new(inner.expr)),
                }
            }
        }
    }

    /// `if c then a else b`: a bool condition and branches of one type.
    fn if_expr(
        &mut self,
        file: FileId,
        cond: &ast::Expr,
        then: &ast::Expr,
        otherwise: &ast::Expr,
        scope: &Scope<'_>,
    ) -> Typed {
        let c = self.expr(file, cond, scope);
        self.want(file, cond.span, &c.ty, "bool", |t| matches!(t, Ty::Bool));
        let a = self.expr(file, then, scope);
        let b = self.expr(file, otherwise, scope);
        let ty = match join(&a.ty, &b.ty) {
            Some(t) => t,
            None => {
                self.push(
                    Diagnostic::new(
                        Code::E0301,
                        file,
                        otherwise.span,
                        format!("`if` branches differ: `{}` and `{}`", a.ty, b.ty),
                    )
                    .label(format!("this is `{}`", b.ty))
                    .with(file, then.span, format!("this is `{}`", a.ty))
                    .help("make both branches the same type, e.g. with `to_string(…)`"),
                );
                Ty::Unknown
            }
        };
        Typed {
            ty,
            expr: model::Expr::If {
                cond: Box::new(c.expr),
                then: Box::new(a.expr),
                otherwise: Box::new(b.expr),
            },
        }
    }

    /// Reports E0301 unless `ty` satisfies `ok` (or is already unknown).
    fn want(
        &mut self,
        file: FileId,
        span: Span,
        ty: &Ty,
        expected: &str,
        ok: impl Fn(&Ty) -> bool,
    ) -> bool {
        if ty.is_lenient() || ok(ty) {
            return true;
        }
        self.push(
            Diagnostic::new(
                Code::E0301,
                file,
                span,
                format!("expected {}, found `{ty}`", article(expected)),
            )
            .label(format!("this is `{ty}`")),
        );
        false
    }

    fn column(&mut self, file: FileId, name: &str, span: Span, scope: &Scope<'_>) -> Typed {
        match scope {
            Scope::Unknown => Typed::unknown(model::Expr::Col(name.to_string())),
            Scope::Params { func, params } => self.param(file, name, span, func, params),
            Scope::Table {
                system,
                table,
                other,
            } => self.table_column(file, name, span, system, table, *other),
        }
    }

    /// A name in a function's body: one of its parameters.
    fn param(
        &mut self,
        file: FileId,
        name: &str,
        span: Span,
        func: &str,
        params: &[(String, Ty)],
    ) -> Typed {
        if let Some(i) = params.iter().position(|(n, _)| n == name) {
            return Typed {
                ty: params[i].1.clone(),
                expr: model::Expr::Param(i),
            };
        }
        let help =
            did_you_mean(name, params.iter().map(|(n, _)| n.as_str())).unwrap_or_else(|| {
                "a function sees only its parameters; pass the column in as an argument".into()
            });
        self.push(
            Diagnostic::new(
                Code::E0203,
                file,
                span,
                format!("`{name}` is not a parameter of `{func}`"),
            )
            .label("unknown name")
            .help(help),
        );
        Typed::unknown(model::Expr::Col(name.to_string()))
    }

    /// A name in a table mapping: a column of its side, noted as used. A column of the other
    /// side is pointed out as such.
    fn table_column(
        &mut self,
        file: FileId,
        name: &str,
        span: Span,
        system: &str,
        table: &TableSchema,
        other: Option<(&str, &TableSchema)>,
    ) -> Typed {
        let col = model::Expr::Col(name.to_string());
        if let Some(c) = table.column(name) {
            self.use_column(system, table, name);
            return Typed {
                ty: Ty::of_column(&c.ty),
                expr: col,
            };
        }
        let help = match other {
            Some((osys, otable)) if otable.column(name).is_some() => format!(
                "`{name}` is a column of `{osys}.{}`, the other side of this mapping",
                otable.name
            ),
            _ => did_you_mean(name, table.columns.iter().map(|c| c.name.as_str())).unwrap_or_else(
                || format!("see the columns of `{system}.{}` in its schema", table.name),
            ),
        };
        self.push(
            Diagnostic::new(
                Code::E0203,
                file,
                span,
                format!("unknown column `{name}` in `{system}.{}`", table.name),
            )
            .label("no such column")
            .help(help),
        );
        Typed::unknown(col)
    }
}

fn article(what: &str) -> String {
    if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an `{what}`")
    } else if what.contains(' ') {
        what.to_string()
    } else {
        format!("a `{what}`")
    }
}

/// An option set type from values, for tests.
#[cfg(test)]
pub(crate) fn option_ty(values: &[(i64, &str)]) -> Ty {
    Ty::Option(std::sync::Arc::new(
        values
            .iter()
            .map(|(v, l)| crate::schema::OptionValue {
                value: *v,
                label: l.to_string(),
            })
            .collect(),
    ))
}
