//! Plan expressions printed back as `.map`-like text, for people reading a plan (`syncmap diff`).
//! The text is what a person would write, not necessarily the exact source: option labels are
//! already values in a plan (`statecode == 0`), and lookups and value maps print in their
//! field-line form (`code via currencies.code`, `blocked using { " " => 0 }`).

use super::model::{BinOp, Expr, Literal, Lookup};
use crate::syntax::format::{ident, string};

/// An expression as `.map`-like text with the fewest parentheses that keep its meaning.
/// `params` names the parameters of the user function whose body is printed (empty elsewhere).
pub fn expr(e: &Expr, params: &[String]) -> String {
    Printer { params }.expr(e)
}

/// A field's value split as a `.map` field line writes it: the source expression, and the
/// `via …` or `using { … }` clause that goes after the destination column, if any
/// (`code <-> transactioncurrencyid via currencies.code`).
pub fn field_value(e: &Expr) -> (String, Option<String>) {
    let p = Printer { params: &[] };
    match e {
        Expr::Lookup(l) => {
            let full = p.lookup(l);
            let arg = p.wrap(&l.arg, 1);
            let clause = full.get(arg.len() + 1..).unwrap_or_default().to_string();
            (arg, Some(clause))
        }
        Expr::Map { arg, .. } => {
            let full = p.expr(e);
            let arg = p.wrap(arg, 1);
            let clause = full.get(arg.len() + 1..).unwrap_or_default().to_string();
            (arg, Some(clause))
        }
        _ => (p.expr(e), None),
    }
}

/// A literal as source text.
pub fn literal(l: &Literal) -> String {
    match l {
        Literal::Null => "null".into(),
        Literal::Bool(b) => b.to_string(),
        Literal::Int(n) => n.to_string(),
        Literal::Decimal(d) => d.clone(),
        Literal::String(s) => string(s),
        Literal::Date(d) | Literal::Datetime(d) => format!("@{d}"),
    }
}

/// Binding strength, as in the language reference: higher binds tighter. `if`, value maps and
/// lookups take everything to their right, so they rank below every operator.
fn precedence(e: &Expr) -> u8 {
    match e {
        Expr::If { .. } | Expr::Map { .. } | Expr::Lookup(_) => 0,
        Expr::Bin { op, .. } => op_precedence(*op),
        Expr::Not(_) => 4,
        Expr::Neg(_) => 8,
        Expr::Lit(_) | Expr::Col(_) | Expr::Param(_) | Expr::Call { .. } | Expr::Fn { .. } => 9,
    }
}

fn op_precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Coalesce => 1,
        BinOp::Or => 2,
        BinOp::And => 3,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 5,
        BinOp::Add | BinOp::Concat | BinOp::Sub => 6,
        BinOp::Mul | BinOp::Div | BinOp::Rem => 7,
    }
}

struct Printer<'a> {
    params: &'a [String],
}

impl Printer<'_> {
    fn expr(&self, e: &Expr) -> String {
        match e {
            Expr::Lit(l) => literal(l),
            Expr::Col(c) => ident(c),
            Expr::Param(i) => match self.params.get(*i) {
                Some(name) => ident(name),
                // A parameter outside a function body cannot come from the compiler; show it
                // rather than fail, since this only prints.
                None => format!("${i}"),
            },
            Expr::Call { func, args } => format!("{}({})", ident(func), self.args(args)),
            Expr::Fn { name, args } => format!("{}({})", ident(name), self.args(args)),
            Expr::Not(inner) => format!("not {}", self.wrap(inner, 4)),
            Expr::Neg(inner) => format!("-{}", self.wrap(inner, 9)),
            Expr::Bin { op, lhs, rhs } => self.binary(*op, lhs, rhs),
            Expr::If {
                cond,
                then,
                otherwise,
            } => format!(
                "if {} then {} else {}",
                self.expr(cond),
                self.expr(then),
                self.expr(otherwise)
            ),
            Expr::Map {
                arg,
                arms,
                default,
                ignore_case,
            } => self.map(arg, arms, default.as_ref(), *ignore_case),
            Expr::Lookup(l) => self.lookup(l),
        }
    }

    /// `a op b`, each operand in parentheses only where precedence needs them.
    fn binary(&self, op: BinOp, lhs: &Expr, rhs: &Expr) -> String {
        let p = op_precedence(op);
        // `??` groups to the right, comparisons do not chain, the rest group left.
        let (lmin, rmin) = match p {
            1 => (p + 1, p),
            5 => (p + 1, p + 1),
            _ => (p, p + 1),
        };
        format!(
            "{} {} {}",
            self.wrap(lhs, lmin),
            op.symbol(),
            self.wrap(rhs, rmin)
        )
    }

    /// `x using { a => b, _ => c }`, as an inline value map.
    fn map(
        &self,
        arg: &Expr,
        arms: &[(Literal, Literal)],
        default: Option<&Literal>,
        ignore_case: bool,
    ) -> String {
        let mut parts: Vec<String> = arms
            .iter()
            .map(|(p, v)| format!("{} => {}", literal(p), literal(v)))
            .collect();
        if let Some(d) = default {
            parts.push(format!("_ => {}", literal(d)));
        }
        let case = if ignore_case { " ignoring case" } else { "" };
        format!(
            "{} using {{ {} }}{case}",
            self.wrap(arg, 1),
            parts.join(", ")
        )
    }

    fn lookup(&self, l: &Lookup) -> String {
        let mut s = format!("{} via {}", self.wrap(&l.arg, 1), ident(&l.via));
        match (&l.by, &l.take) {
            (Some(by), None) => s.push_str(&format!(".{}", ident(by))),
            (None, Some(take)) => s.push_str(&format!(".{}", ident(take))),
            (Some(by), Some(take)) => s.push_str(&format!(".{} taking {}", ident(by), ident(take))),
            (None, None) => {}
        }
        s
    }

    fn args(&self, args: &[Expr]) -> String {
        args.iter()
            .map(|a| self.expr(a))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `e`, in parentheses when it binds looser than `min`.
    fn wrap(&self, e: &Expr, min: u8) -> String {
        let s = self.expr(e);
        if precedence(e) < min {
            format!("({s})")
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::model::Side;

    fn col(c: &str) -> Expr {
        Expr::Col(c.into())
    }
    fn lit_s(s: &str) -> Expr {
        Expr::Lit(Literal::String(s.into()))
    }
    fn bin(op: BinOp, l: Expr, r: Expr) -> Expr {
        Expr::Bin {
            op,
            lhs: Box::new(l),
            rhs: Box::new(r),
        }
    }
    fn call(f: &str, args: Vec<Expr>) -> Expr {
        Expr::Call {
            func: f.into(),
            args,
        }
    }

    #[test]
    fn calls_and_comparisons_read_like_source() {
        let e = call(
            "upper",
            vec![call(
                "left",
                vec![col("fullname"), Expr::Lit(Literal::Int(20))],
            )],
        );
        assert_eq!(expr(&e, &[]), "upper(left(fullname, 20))");
        let e = bin(
            BinOp::And,
            bin(
                BinOp::Eq,
                col("customertypecode"),
                Expr::Lit(Literal::Int(3)),
            ),
            bin(BinOp::Ne, col("parentcustomerid"), Expr::Lit(Literal::Null)),
        );
        assert_eq!(
            expr(&e, &[]),
            "customertypecode == 3 and parentcustomerid != null"
        );
    }

    #[test]
    fn parentheses_only_where_meaning_needs_them() {
        // (a or b) and c keeps its parentheses; a or (b and c) loses them.
        let e = bin(BinOp::And, bin(BinOp::Or, col("a"), col("b")), col("c"));
        assert_eq!(expr(&e, &[]), "(a or b) and c");
        let e = bin(BinOp::Or, col("a"), bin(BinOp::And, col("b"), col("c")));
        assert_eq!(expr(&e, &[]), "a or b and c");
        // a - (b - c) is not a - b - c.
        let e = bin(BinOp::Sub, col("a"), bin(BinOp::Sub, col("b"), col("c")));
        assert_eq!(expr(&e, &[]), "a - (b - c)");
        // ?? groups right.
        let e = bin(
            BinOp::Coalesce,
            col("a"),
            bin(BinOp::Coalesce, col("b"), col("c")),
        );
        assert_eq!(expr(&e, &[]), "a ?? b ?? c");
        let e = bin(
            BinOp::Ne,
            bin(BinOp::Coalesce, col("phone"), lit_s("")),
            lit_s(""),
        );
        assert_eq!(expr(&e, &[]), r#"(phone ?? "") != """#);
        let e = Expr::Not(Box::new(bin(BinOp::Eq, col("a"), col("b"))));
        assert_eq!(expr(&e, &[]), "not a == b");
        let e = Expr::Neg(Box::new(bin(BinOp::Add, col("a"), col("b"))));
        assert_eq!(expr(&e, &[]), "-(a + b)");
    }

    #[test]
    fn functions_maps_and_lookups() {
        let body = call("trim", vec![Expr::Param(0)]);
        assert_eq!(expr(&body, &["full".into()]), "trim(full)");
        let m = Expr::Map {
            arg: Box::new(col("blocked")),
            arms: vec![(Literal::String(" ".into()), Literal::Int(0))],
            default: Some(Literal::Int(1)),
            ignore_case: false,
        };
        assert_eq!(expr(&m, &[]), r#"blocked using { " " => 0, _ => 1 }"#);
        let l = Expr::Lookup(Box::new(Lookup {
            via: "customers".into(),
            from: Side::Left,
            by: Some("number".into()),
            take: None,
            arg: col("companyNumber"),
        }));
        assert_eq!(expr(&l, &[]), "companyNumber via customers.number");
        assert_eq!(
            field_value(&l),
            ("companyNumber".into(), Some("via customers.number".into()))
        );
        assert_eq!(
            field_value(&m),
            (
                "blocked".into(),
                Some(r#"using { " " => 0, _ => 1 }"#.into())
            )
        );
        assert_eq!(field_value(&col("x")), ("x".into(), None));
        // Keywords and odd names are quoted as the formatter does; dates keep their `@`.
        let e = bin(
            BinOp::Ge,
            col("and"),
            Expr::Lit(Literal::Date("2024-01-31".into())),
        );
        assert_eq!(expr(&e, &[]), "`and` >= @2024-01-31");
    }
}
