//! Expressions: names resolved in their scope, types checked, option labels turned into values,
//! and the result lowered to the plan's expression form.

use super::types::{assignable, comparable, join, Ty};
use super::{Checker, Scope};
use crate::diagnostics::{did_you_mean, suggest, Code, Diagnostic};
use crate::functions::{builtin, ArgKind, Returns, BUILTINS};
use crate::plan::{self, BinOp, Literal};
use crate::source::FileId;
use crate::syntax::ast::{self, BinaryOp, ExprKind, LitKind, Span, UnaryOp};

/// A checked expression: its type and its compiled form.
#[derive(Debug, Clone)]
pub(crate) struct Typed {
    pub ty: Ty,
    pub expr: plan::Expr,
}

impl Typed {
    fn unknown(expr: plan::Expr) -> Typed {
        Typed {
            ty: Ty::Unknown,
            expr,
        }
    }
}

/// The plan form of a literal.
pub(crate) fn lit_plan(l: &LitKind) -> Literal {
    match l {
        LitKind::String(s) => Literal::String(s.clone()),
        LitKind::Int(n) => Literal::Int(*n),
        LitKind::Decimal(d) => Literal::Decimal(d.clone()),
        LitKind::Bool(b) => Literal::Bool(*b),
        LitKind::Null => Literal::Null,
        LitKind::Date(d) => Literal::Date(d.clone()),
        LitKind::DateTime(d) => Literal::Datetime(normalize_datetime(d)),
    }
}

/// `2024-01-31T08:00+02:00` → `2024-01-31T06:00:00Z`, so plans compare equal.
fn normalize_datetime(text: &str) -> String {
    let with_seconds = if text.len() >= 16 && text.as_bytes().get(16) != Some(&b':') {
        format!("{}:00{}", &text[..16], &text[16..])
    } else {
        text.to_string()
    };
    with_seconds
        .parse::<jiff::Timestamp>()
        .map_or(text.to_string(), |t| t.to_string())
}

/// The type of a literal.
pub(crate) fn lit_ty(l: &LitKind) -> Ty {
    match l {
        LitKind::String(s) => Ty::String {
            max: Some(s.chars().count() as u32),
        },
        LitKind::Int(_) => Ty::Int,
        LitKind::Decimal(_) => Ty::Decimal,
        LitKind::Bool(_) => Ty::Bool,
        LitKind::Null => Ty::Null,
        LitKind::Date(_) => Ty::Date,
        LitKind::DateTime(_) => Ty::DateTime,
    }
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    lens == [8, 4, 4, 4, 12]
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| format!("`{s}`")).collect();
    if v.len() > 12 {
        format!("{}, …", v[..12].join(", "))
    } else {
        v.join(", ")
    }
}

impl Checker<'_> {
    /// Converts a literal to a value for a column (or expression) of type `target`, resolving
    /// option labels and checking enum members. `what` names the target in messages.
    pub(crate) fn coerce_literal(
        &mut self,
        file: FileId,
        lit: &LitKind,
        span: Span,
        target: &Ty,
        what: &str,
    ) -> Option<Literal> {
        match (lit, target) {
            (LitKind::String(s), Ty::Option(opts)) => {
                let found = opts
                    .iter()
                    .find(|o| &o.label == s)
                    .or_else(|| opts.iter().find(|o| o.label.eq_ignore_ascii_case(s)));
                match found {
                    Some(o) => Some(Literal::Int(o.value)),
                    None => {
                        // Labels are written as strings, so they are shown quoted.
                        let labels = opts.iter().map(|o| o.label.as_str());
                        let help = suggest(s, labels).map_or_else(
                            || {
                                format!(
                                    "the labels are {}",
                                    list(opts.iter().map(|o| format!("{:?}", o.label)))
                                )
                            },
                            |l| format!("did you mean `{l:?}`?"),
                        );
                        self.push(
                            Diagnostic::new(
                                Code::E0210,
                                file,
                                span,
                                format!("`{s:?}` is not a label of the option set of {what}"),
                            )
                            .label("unknown label")
                            .help(help),
                        );
                        None
                    }
                }
            }
            (LitKind::Int(n), Ty::Option(opts)) => {
                if opts.iter().any(|o| o.value == *n) {
                    Some(Literal::Int(*n))
                } else {
                    self.push(
                        Diagnostic::new(
                            Code::E0210,
                            file,
                            span,
                            format!("`{n}` is not a value of the option set of {what}"),
                        )
                        .label("unknown value")
                        .help(format!(
                            "the values are {}",
                            list(opts.iter().map(|o| format!("{} ({})", o.value, o.label)))
                        )),
                    );
                    None
                }
            }
            (LitKind::String(s), Ty::Enum(members)) => {
                if members.iter().any(|m| m == s) {
                    Some(Literal::String(s.clone()))
                } else {
                    // Members are written as strings (one may be `" "`), so they are shown quoted.
                    let help = suggest(s, members.iter().map(String::as_str)).map_or_else(
                        || {
                            let quoted = members.iter().map(|m| format!("{m:?}"));
                            format!("the members are {}", list(quoted))
                        },
                        |m| format!("did you mean `{m:?}`?"),
                    );
                    self.push(
                        Diagnostic::new(
                            Code::E0210,
                            file,
                            span,
                            format!("`{s:?}` is not a member of the enum of {what}"),
                        )
                        .label("unknown member")
                        .help(help),
                    );
                    None
                }
            }
            (LitKind::String(s), Ty::Guid | Ty::Lookup(_)) => {
                if is_guid(s) {
                    Some(Literal::String(s.to_lowercase()))
                } else {
                    self.push(
                        Diagnostic::new(Code::E0301, file, span, format!("`{s}` is not a GUID"))
                            .label(format!("{what} holds GUIDs"))
                            .help("write a GUID as `\"00000000-0000-0000-0000-000000000000\"`"),
                    );
                    None
                }
            }
            (LitKind::Int(n), Ty::Decimal) => Some(Literal::Decimal(n.to_string())),
            (LitKind::Date(d), Ty::DateTime) => Some(Literal::Datetime(format!("{d}T00:00:00Z"))),
            (l, t) => {
                let from = lit_ty(l);
                if assignable(&from, t) {
                    Some(lit_plan(l))
                } else {
                    let help = match (l, t) {
                        (LitKind::String(_), Ty::Date | Ty::DateTime) => {
                            "write dates as `@2024-01-31` and date-times as `@2024-01-31T08:00:00Z`"
                                .to_string()
                        }
                        (_, Ty::String { .. }) => "write the value in quotes".to_string(),
                        _ => format!("write a `{t}` value"),
                    };
                    self.push(
                        Diagnostic::new(
                            Code::E0301,
                            file,
                            span,
                            format!("expected `{t}`, found `{from}`"),
                        )
                        .label(format!("{what} is `{t}`"))
                        .help(help),
                    );
                    None
                }
            }
        }
    }

    /// Checks an expression in a scope.
    pub(crate) fn expr(&mut self, file: FileId, e: &ast::Expr, scope: &Scope<'_>) -> Typed {
        match &e.kind {
            ExprKind::Lit(l) => Typed {
                ty: lit_ty(l),
                expr: plan::Expr::Lit(lit_plan(l)),
            },
            ExprKind::Column(name) => self.column(file, name, e.span, scope),
            ExprKind::Call { name, args } => self.call(file, name, args, e.span, scope),
            ExprKind::Unary { op, expr } => {
                let inner = self.expr(file, expr, scope);
                match op {
                    UnaryOp::Not => {
                        self.want(file, expr.span, &inner.ty, "bool", |t| {
                            matches!(t, Ty::Bool)
                        });
                        Typed {
                            ty: Ty::Bool,
                            expr: plan::Expr::Not(Box::new(inner.expr)),
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
                            expr: plan::Expr::Neg(Box::new(inner.expr)),
                        }
                    }
                }
            }
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
            } => {
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
                    expr: plan::Expr::If {
                        cond: Box::new(c.expr),
                        then: Box::new(a.expr),
                        otherwise: Box::new(b.expr),
                    },
                }
            }
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
        let col = plan::Expr::Col(name.to_string());
        match scope {
            Scope::Unknown => Typed::unknown(col),
            Scope::Params { func, params } => {
                if let Some(i) = params.iter().position(|(n, _)| n == name) {
                    return Typed {
                        ty: params[i].1.clone(),
                        expr: plan::Expr::Param(i),
                    };
                }
                let help = did_you_mean(name, params.iter().map(|(n, _)| n.as_str()))
                    .unwrap_or_else(|| {
                        "a function sees only its parameters; pass the column in as an argument"
                            .into()
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
                Typed::unknown(col)
            }
            Scope::Table {
                system,
                table,
                other,
            } => {
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
                    _ => did_you_mean(name, table.columns.iter().map(|c| c.name.as_str()))
                        .unwrap_or_else(|| {
                            format!("see the columns of `{system}.{}` in its schema", table.name)
                        }),
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
    }

    fn binary(
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
        let bin = |op: BinOp, l: Typed, r: Typed, ty: Ty| Typed {
            ty,
            expr: plan::Expr::Bin {
                op,
                lhs: Box::new(l.expr),
                rhs: Box::new(r.expr),
            },
        };
        let mismatch = |c: &mut Self, what: String| {
            c.push(
                Diagnostic::new(Code::E0301, file, op_span, what)
                    .label(format!("`{}` and `{}`", l.ty, r.ty))
                    .with(file, lhs.span, format!("this is `{}`", l.ty))
                    .with(file, rhs.span, format!("this is `{}`", r.ty)),
            );
        };
        match op {
            BinaryOp::Coalesce => match join(&l.ty, &r.ty) {
                Some(ty) => bin(BinOp::Coalesce, l.clone(), r.clone(), ty),
                None => {
                    mismatch(
                        self,
                        format!(
                            "`??` needs both sides of one type, found `{}` and `{}`",
                            l.ty, r.ty
                        ),
                    );
                    bin(BinOp::Coalesce, l.clone(), r.clone(), Ty::Unknown)
                }
            },
            BinaryOp::And | BinaryOp::Or => {
                self.want(file, lhs.span, &l.ty, "bool", |t| matches!(t, Ty::Bool));
                self.want(file, rhs.span, &r.ty, "bool", |t| matches!(t, Ty::Bool));
                let o = if op == BinaryOp::And {
                    BinOp::And
                } else {
                    BinOp::Or
                };
                bin(o, l, r, Ty::Bool)
            }
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => {
                let ordering = !matches!(op, BinaryOp::Eq | BinaryOp::Ne);
                let bad_order = ordering && (matches!(l.ty, Ty::Bool) || matches!(r.ty, Ty::Bool));
                if !comparable(&l.ty, &r.ty) || bad_order {
                    mismatch(self, format!("cannot compare `{}` with `{}`", l.ty, r.ty));
                }
                let o = match op {
                    BinaryOp::Eq => BinOp::Eq,
                    BinaryOp::Ne => BinOp::Ne,
                    BinaryOp::Lt => BinOp::Lt,
                    BinaryOp::Le => BinOp::Le,
                    BinaryOp::Gt => BinOp::Gt,
                    _ => BinOp::Ge,
                };
                bin(o, l, r, Ty::Bool)
            }
            BinaryOp::Add => {
                if l.ty.is_textual() || r.ty.is_textual() {
                    let ok = |t: &Ty| t.is_textual() || t.is_lenient();
                    if !(ok(&l.ty) && ok(&r.ty)) {
                        mismatch(self, format!("cannot add `{}` and `{}`", l.ty, r.ty));
                        return bin(BinOp::Concat, l.clone(), r.clone(), Ty::Unknown);
                    }
                    let max = l.ty.max_len().zip(r.ty.max_len()).map(|(a, b)| a + b);
                    return bin(BinOp::Concat, l, r, Ty::String { max });
                }
                self.arithmetic(file, BinOp::Add, l, r, op_span, lhs.span, rhs.span)
            }
            BinaryOp::Sub => self.arithmetic(file, BinOp::Sub, l, r, op_span, lhs.span, rhs.span),
            BinaryOp::Mul => self.arithmetic(file, BinOp::Mul, l, r, op_span, lhs.span, rhs.span),
            BinaryOp::Rem => self.arithmetic(file, BinOp::Rem, l, r, op_span, lhs.span, rhs.span),
            BinaryOp::Div => {
                let mut t = self.arithmetic(file, BinOp::Div, l, r, op_span, lhs.span, rhs.span);
                if !t.ty.is_lenient() {
                    t.ty = Ty::Decimal;
                }
                t
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // spans of both operands and the operator are all labelled
    fn arithmetic(
        &mut self,
        file: FileId,
        op: BinOp,
        l: Typed,
        r: Typed,
        op_span: Span,
        ls: Span,
        rs: Span,
    ) -> Typed {
        let ok = |t: &Ty| t.is_numeric() || t.is_lenient();
        let ty = if ok(&l.ty) && ok(&r.ty) {
            match (&l.ty, &r.ty) {
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
            let help = if l.ty.is_temporal() || r.ty.is_temporal() {
                "move dates with `add_days(date, n)`"
            } else {
                "arithmetic needs numbers; convert text with `to_decimal(…)`"
            };
            self.push(
                Diagnostic::new(
                    Code::E0301,
                    file,
                    op_span,
                    format!("`{sym}` needs numbers, found `{}` and `{}`", l.ty, r.ty),
                )
                .label("here")
                .with(file, ls, format!("this is `{}`", l.ty))
                .with(file, rs, format!("this is `{}`", r.ty))
                .help(help),
            );
            Ty::Unknown
        };
        Typed {
            ty,
            expr: plan::Expr::Bin {
                op,
                lhs: Box::new(l.expr),
                rhs: Box::new(r.expr),
            },
        }
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
                typed.expr = plan::Expr::Lit(l);
            }
            None => typed.ty = Ty::Unknown,
        }
    }

    fn call(
        &mut self,
        file: FileId,
        name: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        scope: &Scope<'_>,
    ) -> Typed {
        let typed: Vec<Typed> = args.iter().map(|a| self.expr(file, a, scope)).collect();
        if name.name == "label" {
            return self.label_call(file, name, args, typed, span);
        }
        if let Some(b) = builtin(&name.name) {
            let min = if b.variadic {
                b.params.len().saturating_sub(1)
            } else {
                b.params.len()
            };
            let max = if b.variadic {
                usize::MAX
            } else {
                b.params.len()
            };
            if typed.len() < min || typed.len() > max {
                self.arity(file, &name.name, span, min, max, typed.len(), b.signature());
                return Typed::unknown(plan::Expr::Call {
                    func: name.name.clone(),
                    args: typed.into_iter().map(|t| t.expr).collect(),
                });
            }
            for (i, (t, a)) in typed.iter().zip(args).enumerate() {
                let (pname, kind) = b.params[i.min(b.params.len() - 1)];
                let ok = t.ty.is_lenient()
                    || match kind {
                        ArgKind::Text => t.ty.is_textual(),
                        ArgKind::Int => matches!(t.ty, Ty::Int),
                        ArgKind::Number => t.ty.is_numeric(),
                        ArgKind::Temporal => t.ty.is_temporal(),
                        ArgKind::Any => true,
                    };
                if !ok {
                    let expected = match kind {
                        ArgKind::Text => "string",
                        ArgKind::Int => "int",
                        ArgKind::Number => "number",
                        ArgKind::Temporal => "date or datetime",
                        ArgKind::Any => "value",
                    };
                    let help = match (&t.ty, kind) {
                        (Ty::Option(_), ArgKind::Text) => {
                            "use `label(…)` for an option's label".to_string()
                        }
                        (t, ArgKind::Text) if t.is_numeric() => {
                            "convert it with `to_string(…)`".to_string()
                        }
                        _ => format!("`{}`", b.signature()),
                    };
                    self.push(
                        Diagnostic::new(
                            Code::E0301,
                            file,
                            a.span,
                            format!(
                                "`{}` expects {} for `{pname}`, found `{}`",
                                b.name,
                                article(expected),
                                t.ty
                            ),
                        )
                        .label(format!("this is `{}`", t.ty))
                        .help(help),
                    );
                }
            }
            let ty = builtin_result(b.name, b.returns, &typed, args);
            return Typed {
                ty,
                expr: plan::Expr::Call {
                    func: name.name.clone(),
                    args: typed.into_iter().map(|t| t.expr).collect(),
                },
            };
        }
        if self.fns.contains_key(&name.name) {
            self.referenced.insert(name.name.clone());
            let sig = self.fn_signature(&name.name, Some((file, name.span)));
            let exprs: Vec<plan::Expr> = typed.iter().map(|t| t.expr.clone()).collect();
            let call = plan::Expr::Fn {
                name: name.name.clone(),
                args: exprs,
            };
            let Some(sig) = sig else {
                return Typed::unknown(call);
            };
            if sig.params.len() != typed.len() {
                let decl = self.fns[&name.name];
                let params: Vec<String> = decl
                    .node
                    .params
                    .iter()
                    .map(|p| format!("{}: {}", p.name.name, p.ty.name))
                    .collect();
                let signature = format!("{}({})", name.name, params.join(", "));
                self.arity(
                    file,
                    &name.name,
                    span,
                    sig.params.len(),
                    sig.params.len(),
                    typed.len(),
                    signature,
                );
                return Typed::unknown(call);
            }
            for ((t, a), p) in typed.iter().zip(args).zip(&sig.params) {
                if !assignable(&t.ty, p) {
                    self.push(
                        Diagnostic::new(
                            Code::E0301,
                            file,
                            a.span,
                            format!("expected `{p}`, found `{}`", t.ty),
                        )
                        .label(format!("this is `{}`", t.ty))
                        .help(format!("`{}` takes `{p}` here", name.name)),
                    );
                }
            }
            return Typed {
                ty: sig.ret,
                expr: call,
            };
        }
        if self.project.broken_names.contains(&name.name) {
            return Typed::unknown(plan::Expr::Call {
                func: name.name.clone(),
                args: typed.into_iter().map(|t| t.expr).collect(),
            });
        }
        let mut candidates: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
        let user: Vec<String> = self.fns.keys().cloned().collect();
        candidates.extend(user.iter().map(String::as_str));
        let suggestion = suggest(&name.name, candidates.iter().copied()).map(str::to_string);
        // A user function suggested is the one meant: W0005 would only repeat this error.
        if let Some(s) = suggestion
            .as_ref()
            .filter(|s| self.fns.contains_key(s.as_str()))
        {
            self.referenced.insert(s.clone());
        }
        let help = suggestion.map_or_else(
            || "see `syncmap explain E0204` for the built-in functions".to_string(),
            |s| format!("did you mean `{s}`?"),
        );
        self.push(
            Diagnostic::new(
                Code::E0204,
                file,
                name.span,
                format!("unknown function `{}`", name.name),
            )
            .label("not a built-in or user-defined function")
            .help(help),
        );
        Typed::unknown(plan::Expr::Call {
            func: name.name.clone(),
            args: typed.into_iter().map(|t| t.expr).collect(),
        })
    }

    #[allow(clippy::too_many_arguments)] // every part of the message is needed
    fn arity(
        &mut self,
        file: FileId,
        name: &str,
        span: Span,
        min: usize,
        max: usize,
        found: usize,
        signature: String,
    ) {
        let expected = if min == max {
            format!("{min} argument{}", if min == 1 { "" } else { "s" })
        } else if max == usize::MAX {
            format!("at least {min} argument{}", if min == 1 { "" } else { "s" })
        } else {
            format!("{min} to {max} arguments")
        };
        self.push(
            Diagnostic::new(
                Code::E0302,
                file,
                span,
                format!("`{name}` takes {expected}, found {found}"),
            )
            .label(format!("{found} given"))
            .help(format!("the signature is `{signature}`")),
        );
    }

    /// `label(x)`: an option value's label, compiled to a value map over the option set.
    fn label_call(
        &mut self,
        file: FileId,
        name: &ast::Ident,
        args: &[ast::Expr],
        mut typed: Vec<Typed>,
        span: Span,
    ) -> Typed {
        if typed.len() != 1 {
            self.arity(
                file,
                "label",
                span,
                1,
                1,
                typed.len(),
                "label(value: option set) -> string".into(),
            );
            return Typed::unknown(plan::Expr::Lit(Literal::Null));
        }
        let arg = typed.remove(0);
        match &arg.ty {
            Ty::Option(opts) => {
                let arms = opts
                    .iter()
                    .map(|o| (Literal::Int(o.value), Literal::String(o.label.clone())))
                    .collect();
                let max = opts.iter().map(|o| o.label.chars().count() as u32).max();
                Typed {
                    ty: Ty::String { max },
                    expr: plan::Expr::Map {
                        arg: Box::new(arg.expr),
                        arms,
                        default: None,
                        ignore_case: false,
                    },
                }
            }
            Ty::Enum(_) => Typed {
                ty: Ty::String {
                    max: arg.ty.max_len(),
                },
                expr: arg.expr,
            },
            t if t.is_lenient() => Typed::unknown(arg.expr),
            t => {
                self.push(
                    Diagnostic::new(
                        Code::E0301,
                        file,
                        args[0].span,
                        format!("`label` expects an option set, found `{t}`"),
                    )
                    .label(format!("this is `{t}`"))
                    .help("`label` turns an option-set value into its label"),
                );
                let _ = name;
                Typed::unknown(arg.expr)
            }
        }
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

/// The result type of a built-in, tracking text lengths where the arguments make them known.
fn builtin_result(name: &str, returns: Returns, args: &[Typed], raw: &[ast::Expr]) -> Ty {
    let int_lit = |i: usize| match raw.get(i).map(|e| &e.kind) {
        Some(ExprKind::Lit(LitKind::Int(n))) if *n >= 0 => Some(*n as u32),
        _ => None,
    };
    let arg_max = |i: usize| args.get(i).and_then(|a| a.ty.max_len());
    match returns {
        Returns::Text => {
            let max = match name {
                "trim" | "trim_start" | "trim_end" | "upper" | "lower" | "split_part" => arg_max(0),
                "left" | "right" => match (arg_max(0), int_lit(1)) {
                    (Some(a), Some(n)) => Some(a.min(n)),
                    (a, n) => n.or(a),
                },
                "substring" => int_lit(2).or(arg_max(0)),
                "pad_left" => match (arg_max(0), int_lit(1)) {
                    (Some(a), Some(n)) => Some(a.max(n)),
                    _ => None,
                },
                "concat" => args
                    .iter()
                    .try_fold(0u32, |acc, a| a.ty.max_len().map(|m| acc + m)),
                "to_string" => match args.first().map(|a| &a.ty) {
                    Some(Ty::Int) => Some(20),
                    Some(Ty::Bool) => Some(5),
                    Some(Ty::Date) => Some(10),
                    Some(t) => t.max_len(),
                    None => None,
                },
                _ => None,
            };
            Ty::String { max }
        }
        Returns::Int => Ty::Int,
        Returns::Decimal => Ty::Decimal,
        Returns::Bool => Ty::Bool,
        Returns::Date => Ty::Date,
        Returns::DateTime => Ty::DateTime,
        Returns::SameAs(i) => match args.get(i).map(|a| a.ty.clone()) {
            Some(t) if t.is_lenient() => Ty::Unknown,
            Some(t) => t,
            None => Ty::Unknown,
        },
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

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn guids_are_recognised() {
        assert!(is_guid("6a1c0000-aaaa-bbbb-cccc-0123456789ab"));
        assert!(!is_guid("not-a-guid"));
    }

    #[test]
    fn datetimes_normalise_to_utc_with_seconds() {
        assert_eq!(
            normalize_datetime("2024-01-31T08:00+02:00"),
            "2024-01-31T06:00:00Z"
        );
        let _ = option_ty(&[(1, "A")]);
    }
}
