//! Calls: `label(…)`, built-in functions (arity, argument kinds, result types with text
//! lengths), user-defined functions, and unknown names.

use super::{article, Typed};
use crate::check::types::{assignable, Ty};
use crate::check::{Checker, Scope};
use crate::diagnostics::{suggestion_help, Code, Diagnostic};
use crate::functions::{builtin, ArgKind, Builtin, Returns, BUILTINS};
use crate::model::{self, Literal};
use crate::schema::OptionValue;
use crate::source::FileId;
use crate::syntax::ast::{self, ExprKind, LitKind, Span};

/// A call of a built-in by name, compiled as is.
fn call_expr(name: &ast::Ident, typed: Vec<Typed>) -> model::Expr {
    model::Expr::Call {
        func: name.name.clone(),
        args: typed.into_iter().map(|t| t.expr).collect(),
    }
}

/// Whether a value of type `ty` may be passed where a built-in expects `kind`.
fn fits(ty: &Ty, kind: ArgKind) -> bool {
    ty.is_lenient()
        || match kind {
            ArgKind::Text => ty.is_textual(),
            ArgKind::Int => matches!(ty, Ty::Int),
            ArgKind::Number => ty.is_numeric(),
            ArgKind::Temporal => ty.is_temporal(),
            ArgKind::Any => true,
        }
}

impl Checker<'_> {
    pub(super) fn call(
        &mut self,
        file: FileId,
        name: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        scope: &Scope<'_>,
    ) -> Typed {
        let typed: Vec<Typed> = args.iter().map(|a| self.expr(file, a, scope)).collect();
        if name.name == "label" {
            return self.label_call(file, args, typed, span);
        }
        if let Some(b) = builtin(&name.name) {
            return self.builtin_call(file, name, b, args, typed, span);
        }
        if self.fns.contains_key(&name.name) {
            return self.user_call(file, name, args, typed, span);
        }
        if !self.project.broken_names.contains(&name.name) {
            self.unknown_function(file, name);
        }
        Typed::unknown(call_expr(name, typed))
    }

    /// A built-in: its number of arguments, their kinds, and its result type.
    fn builtin_call(
        &mut self,
        file: FileId,
        name: &ast::Ident,
        b: &Builtin,
        args: &[ast::Expr],
        typed: Vec<Typed>,
        span: Span,
    ) -> Typed {
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
            return Typed::unknown(call_expr(name, typed));
        }
        for (i, (t, a)) in typed.iter().zip(args).enumerate() {
            let (pname, kind) = b.params[i.min(b.params.len() - 1)];
            if !fits(&t.ty, kind) {
                self.builtin_argument(file, b, pname, kind, t, a.span);
            }
        }
        let ty = builtin_result(b.name, b.returns, &typed, args);
        Typed {
            ty,
            expr: call_expr(name, typed),
        }
    }

    /// E0301 for an argument of the wrong kind, with a conversion to suggest where one helps.
    fn builtin_argument(
        &mut self,
        file: FileId,
        b: &Builtin,
        pname: &str,
        kind: ArgKind,
        t: &Typed,
        span: Span,
    ) {
        let expected = match kind {
            ArgKind::Text => "string",
            ArgKind::Int => "int",
            ArgKind::Number => "number",
            ArgKind::Temporal => "date or datetime",
            ArgKind::Any => "value",
        };
        let help = match (&t.ty, kind) {
            (Ty::Option(_), ArgKind::Text) => "use `label(…)` for an option's label".to_string(),
            (t, ArgKind::Text) if t.is_numeric() => "convert it with `to_string(…)`".to_string(),
            _ => format!("`{}`", b.signature()),
        };
        self.push(
            Diagnostic::new(
                Code::E0301,
                file,
                span,
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

    /// A user-defined function: its signature is checked first (once), then the arguments
    /// against it.
    fn user_call(
        &mut self,
        file: FileId,
        name: &ast::Ident,
        args: &[ast::Expr],
        typed: Vec<Typed>,
        span: Span,
    ) -> Typed {
        self.referenced.insert(name.name.clone());
        let sig = self.fn_signature(&name.name, Some((file, name.span)));
        let exprs: Vec<model::Expr> = typed.iter().map(|t| t.expr.clone()).collect();
        let call = model::Expr::Fn {
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
            let n = sig.params.len();
            self.arity(file, &name.name, span, n, n, typed.len(), signature);
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
        Typed {
            ty: sig.ret,
            expr: call,
        }
    }

    /// E0204, suggesting a built-in or user function by spelling.
    fn unknown_function(&mut self, file: FileId, name: &ast::Ident) {
        let mut candidates: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
        let user: Vec<String> = self.fns.keys().cloned().collect();
        candidates.extend(user.iter().map(String::as_str));
        let suggestion = suggestion_help(&name.name, &candidates, str::to_string)
            .map(|(s, help)| (s.to_string(), help));
        // A user function suggested is the one meant: W0005 would only repeat this error.
        if let Some((s, _)) = suggestion
            .as_ref()
            .filter(|(s, _)| self.fns.contains_key(s.as_str()))
        {
            self.referenced.insert(s.clone());
        }
        let help = suggestion.map_or_else(
            || "see `syncmap explain E0204` for the built-in functions".to_string(),
            |(_, help)| help,
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
            return Typed::unknown(model::Expr::Lit(Literal::Null));
        }
        let arg = typed.remove(0);
        match &arg.ty {
            Ty::Option(opts) => option_labels(arg.expr, opts),
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
                Typed::unknown(arg.expr)
            }
        }
    }
}

/// The labels of an option set's values, as a value map over `arg`.
fn option_labels(arg: model::Expr, opts: &[OptionValue]) -> Typed {
    let arms = opts
        .iter()
        .map(|o| (Literal::Int(o.value), Literal::String(o.label.clone())))
        .collect();
    let max = opts.iter().map(|o| o.label.chars().count() as u32).max();
    Typed {
        ty: Ty::String { max },
        expr: model::Expr::Map {
            arg: Box::new(arg),
            arms,
            default: None,
            ignore_case: false,
        },
    }
}

/// The result type of a built-in, tracking text lengths where the arguments make them known.
fn builtin_result(name: &str, returns: Returns, args: &[Typed], raw: &[ast::Expr]) -> Ty {
    match returns {
        Returns::Text => Ty::String {
            max: text_max(name, args, raw),
        },
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

/// The longest text a text built-in can return, where its arguments make it known.
fn text_max(name: &str, args: &[Typed], raw: &[ast::Expr]) -> Option<u32> {
    let int_lit = |i: usize| match raw.get(i).map(|e| &e.kind) {
        Some(ExprKind::Lit(LitKind::Int(n))) if *n >= 0 => Some(*n as u32),
        _ => None,
    };
    let arg_max = |i: usize| args.get(i).and_then(|a| a.ty.max_len());
    match name {
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
    }
}
