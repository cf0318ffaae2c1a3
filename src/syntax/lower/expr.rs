//! Expressions and literals: operator precedence (a Pratt parser over the grammar's flat
//! operator lists), primaries, and literal values checked for range and calendar validity.

use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::sync::OnceLock;

use super::{content, span, Lower};
use crate::diagnostics::{Code, Diagnostics};
use crate::syntax::ast::*;
use crate::syntax::parser::Rule;

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::coalesce, Assoc::Right))
            .op(Op::infix(Rule::kw_or, Assoc::Left))
            .op(Op::infix(Rule::kw_and, Assoc::Left))
            .op(Op::prefix(Rule::kw_not))
            .op(Op::infix(Rule::eq, Assoc::Left)
                | Op::infix(Rule::ne, Assoc::Left)
                | Op::infix(Rule::lt, Assoc::Left)
                | Op::infix(Rule::le, Assoc::Left)
                | Op::infix(Rule::gt, Assoc::Left)
                | Op::infix(Rule::ge, Assoc::Left))
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left)
                | Op::infix(Rule::div, Assoc::Left)
                | Op::infix(Rule::rem, Assoc::Left))
            .op(Op::prefix(Rule::neg))
    })
}

impl Lower {
    pub(super) fn literal(&mut self, p: Pair<'_, Rule>) -> Literal {
        let s = span(&p);
        let inner = if p.as_rule() == Rule::literal {
            p.into_inner().next()
        } else {
            Some(p)
        };
        let kind = match inner {
            Some(i) => self.lit_kind(i),
            None => LitKind::Null,
        };
        Literal { kind, span: s }
    }

    fn lit_kind(&mut self, p: Pair<'_, Rule>) -> LitKind {
        let s = span(&p);
        let text = p.as_str();
        match p.as_rule() {
            Rule::string => LitKind::String(self.string(p).value),
            Rule::number if text.contains('.') => LitKind::Decimal(text.to_string()),
            Rule::number => match text.parse::<i64>() {
                Ok(n) => LitKind::Int(n),
                Err(_) => {
                    self.error(
                        Code::E0103,
                        s,
                        format!("`{text}` does not fit in a 64-bit integer"),
                        "out of range",
                        Some("write it as a decimal (`…0.0`) or a string"),
                    );
                    LitKind::Int(0)
                }
            },
            Rule::boolean => LitKind::Bool(text == "true"),
            Rule::date => {
                let body = &text[1..];
                if body.parse::<jiff::civil::Date>().is_err() {
                    self.error(
                        Code::E0104,
                        s,
                        format!("`{text}` is not a valid date"),
                        "no such date",
                        Some("dates are written `@YYYY-MM-DD`, e.g. `@2024-02-29`"),
                    );
                }
                LitKind::Date(body.to_string())
            }
            Rule::datetime => {
                let body = &text[1..];
                let with_seconds = if body.len() >= 16 && body.as_bytes().get(16) != Some(&b':') {
                    format!("{}:00{}", &body[..16], &body[16..])
                } else {
                    body.to_string()
                };
                if with_seconds.parse::<jiff::Timestamp>().is_err() {
                    self.error(
                        Code::E0104,
                        s,
                        format!("`{text}` is not a valid date and time"),
                        "no such date and time",
                        Some("write `@YYYY-MM-DDTHH:MM:SSZ` or with an offset such as `+02:00`"),
                    );
                }
                LitKind::DateTime(body.to_string())
            }
            _ => LitKind::Null,
        }
    }

    pub(super) fn expr(&mut self, p: Pair<'_, Rule>) -> Expr {
        let pairs = p.into_inner();
        // The closures below cannot borrow `self` mutably at once, so literal problems are
        // gathered in a local list and merged after the walk.
        let file = self.file;
        let cell = std::cell::RefCell::new(std::mem::take(&mut self.diags));
        let result = pratt()
            .map_primary(|prim| {
                let mut sub = Lower {
                    file,
                    diags: Diagnostics::new(),
                };
                let e = sub.primary(prim);
                cell.borrow_mut().extend(sub.diags);
                e
            })
            .map_prefix(|op, rhs| {
                let op_span = span(&op);
                let op = if op.as_rule() == Rule::neg {
                    UnaryOp::Neg
                } else {
                    UnaryOp::Not
                };
                let s = op_span.to(rhs.span);
                Expr {
                    kind: ExprKind::Unary {
                        op,
                        expr: Box::new(rhs),
                    },
                    span: s,
                }
            })
            .map_infix(|lhs, op, rhs| {
                let op_span = span(&op);
                let op = binary_op(op.as_rule());
                let s = lhs.span.to(rhs.span);
                Expr {
                    kind: ExprKind::Binary {
                        op,
                        op_span,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                    span: s,
                }
            })
            .parse(pairs);
        self.diags = cell.into_inner();
        result
    }

    fn primary(&mut self, p: Pair<'_, Rule>) -> Expr {
        let s = span(&p);
        let kind = match p.as_rule() {
            Rule::literal => {
                let lit = self.literal(p);
                return Expr {
                    kind: ExprKind::Lit(lit.kind),
                    span: s,
                };
            }
            Rule::column => {
                let id = match p.into_inner().next() {
                    Some(i) => self.ident(i),
                    None => Ident {
                        name: String::new(),
                        span: s,
                    },
                };
                ExprKind::Column(id.name)
            }
            Rule::paren => match content(p).next() {
                Some(inner) => {
                    let mut e = self.expr(inner);
                    // Keep the parentheses in the span so labels cover what the user wrote.
                    e.span = s;
                    return e;
                }
                None => ExprKind::Lit(LitKind::Null),
            },
            Rule::call => {
                let mut it = content(p);
                let name = match it.next() {
                    Some(n) => self.ident(n),
                    None => Ident {
                        name: String::new(),
                        span: s,
                    },
                };
                let args = it.map(|a| self.expr(a)).collect();
                ExprKind::Call { name, args }
            }
            Rule::if_expr => {
                let mut it = content(p).map(|c| self.expr(c));
                match (it.next(), it.next(), it.next()) {
                    (Some(c), Some(t), Some(o)) => ExprKind::If {
                        cond: Box::new(c),
                        then: Box::new(t),
                        otherwise: Box::new(o),
                    },
                    _ => ExprKind::Lit(LitKind::Null),
                }
            }
            _ => ExprKind::Lit(LitKind::Null),
        };
        Expr { kind, span: s }
    }
}

fn binary_op(rule: Rule) -> BinaryOp {
    match rule {
        Rule::coalesce => BinaryOp::Coalesce,
        Rule::kw_or => BinaryOp::Or,
        Rule::kw_and => BinaryOp::And,
        Rule::eq => BinaryOp::Eq,
        Rule::ne => BinaryOp::Ne,
        Rule::lt => BinaryOp::Lt,
        Rule::le => BinaryOp::Le,
        Rule::gt => BinaryOp::Gt,
        Rule::ge => BinaryOp::Ge,
        Rule::add => BinaryOp::Add,
        Rule::sub => BinaryOp::Sub,
        Rule::mul => BinaryOp::Mul,
        Rule::div => BinaryOp::Div,
        _ => BinaryOp::Rem,
    }
}
