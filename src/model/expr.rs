//! Resolved expressions: names are columns, parameters, built-ins or user functions; option
//! labels are their values; lookups name the table mapping whose couplings translate a key.
//! The plan stores them as they are, and the runtime evaluates them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Side;

/// A constant in a compiled expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Literal {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A whole number (also option-set values).
    Int(i64),
    /// A decimal, as text so no precision is lost.
    Decimal(String),
    /// Text (also GUIDs and enum members).
    String(String),
    /// `YYYY-MM-DD`.
    Date(String),
    /// RFC 3339 with seconds.
    Datetime(String),
}

/// Infix operators of compiled expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinOp {
    /// `??`
    Coalesce,
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+` on numbers
    Add,
    /// `+` on text: concatenation
    Concat,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinOp {
    /// The operator as written in `.map` files (`Concat` is `+` on text).
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Coalesce => "??",
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add | BinOp::Concat => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
}

/// A compiled expression. Types were checked by the compiler; option labels are values here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// A constant.
    Lit(Literal),
    /// A column of the row in scope.
    Col(String),
    /// A parameter of the user function being evaluated.
    Param(usize),
    /// A built-in function (see `crate::functions`).
    Call {
        /// Its name.
        func: String,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// A user-defined function, by name.
    Fn {
        /// Its name.
        name: String,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// `not x`
    Not(Box<Expr>),
    /// `-x`
    Neg(Box<Expr>),
    /// `a op b`
    Bin {
        /// The operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `if c then a else b`
    If {
        /// Condition.
        cond: Box<Expr>,
        /// Value when true.
        then: Box<Expr>,
        /// Value otherwise.
        otherwise: Box<Expr>,
    },
    /// A value map applied to a value.
    Map {
        /// The value looked up.
        arg: Box<Expr>,
        /// `(pattern, value)` pairs, first match wins.
        arms: Vec<(Literal, Literal)>,
        /// The default arm; without one an unmatched value fails the field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<Literal>,
        /// Compare text patterns without case.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ignore_case: bool,
    },
    /// A key translated through another table mapping's couplings.
    Lookup(Box<Lookup>),
}

impl Expr {
    /// Adds the columns of the row in scope the expression reads to `out`. (A user function's
    /// body reads only its parameters, so its arguments say all it reads.)
    pub fn columns_read(&self, out: &mut std::collections::BTreeSet<String>) {
        match self {
            Expr::Col(c) => {
                out.insert(c.clone());
            }
            Expr::Lit(_) | Expr::Param(_) => {}
            Expr::Call { args, .. } | Expr::Fn { args, .. } => {
                args.iter().for_each(|a| a.columns_read(out));
            }
            Expr::Not(x) | Expr::Neg(x) => x.columns_read(out),
            Expr::Bin { lhs, rhs, .. } => {
                lhs.columns_read(out);
                rhs.columns_read(out);
            }
            Expr::If {
                cond,
                then,
                otherwise,
            } => {
                for e in [cond, then, otherwise] {
                    e.columns_read(out);
                }
            }
            Expr::Map { arg, .. } => arg.columns_read(out),
            Expr::Lookup(l) => l.arg.columns_read(out),
        }
    }

    /// Whether evaluating the expression may translate a value through couplings: a lookup
    /// in it, or in a user function it calls.
    pub fn looks_up(&self, functions: &BTreeMap<String, Function>) -> bool {
        self.looks_up_where(functions, &|_| true)
    }

    /// Whether evaluating the expression may translate a value through the couplings of the
    /// table mapping `via`.
    pub fn looks_up_via(&self, functions: &BTreeMap<String, Function>, via: &str) -> bool {
        self.looks_up_where(functions, &|l| l.via == via)
    }

    /// Whether the expression, or a user function it calls, holds a lookup that `wanted` says
    /// is one.
    fn looks_up_where(
        &self,
        functions: &BTreeMap<String, Function>,
        wanted: &dyn Fn(&Lookup) -> bool,
    ) -> bool {
        self.looks_up_within(functions, wanted, &mut Vec::new())
    }

    fn looks_up_within<'f>(
        &'f self,
        functions: &'f BTreeMap<String, Function>,
        wanted: &dyn Fn(&Lookup) -> bool,
        called: &mut Vec<&'f str>,
    ) -> bool {
        let any = |exprs: &mut dyn Iterator<Item = &'f Expr>, called: &mut Vec<&'f str>| {
            for e in exprs {
                if e.looks_up_within(functions, wanted, called) {
                    return true;
                }
            }
            false
        };
        match self {
            Expr::Lookup(l) => wanted(l) || l.arg.looks_up_within(functions, wanted, called),
            Expr::Lit(_) | Expr::Col(_) | Expr::Param(_) => false,
            Expr::Call { args, .. } => any(&mut args.iter(), called),
            Expr::Fn { name, args } => {
                if any(&mut args.iter(), called) {
                    return true;
                }
                // A function calling itself (or round a loop) is looked into once.
                if called.contains(&name.as_str()) {
                    return false;
                }
                called.push(name);
                functions
                    .get(name)
                    .is_some_and(|f| f.body.looks_up_within(functions, wanted, called))
            }
            Expr::Not(x) | Expr::Neg(x) => x.looks_up_within(functions, wanted, called),
            Expr::Bin { lhs, rhs, .. } => any(&mut [&**lhs, &**rhs].into_iter(), called),
            Expr::If {
                cond,
                then,
                otherwise,
            } => any(&mut [&**cond, &**then, &**otherwise].into_iter(), called),
            Expr::Map { arg, .. } => arg.looks_up_within(functions, wanted, called),
        }
    }
}

/// Translates a value through the couplings of table mapping `via`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lookup {
    /// The table mapping whose couplings are used.
    pub via: String,
    /// The side of `via` the value belongs to.
    pub from: Side,
    /// The column of `via`'s `from` table the value equals; its key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The column of the coupled row to produce; its key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take: Option<String>,
    /// The value to translate.
    pub arg: Expr,
}

/// A user-defined function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    /// Parameter names; the body refers to them as `{"param": index}`.
    pub params: Vec<String>,
    /// The body.
    pub body: Expr,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup() -> Expr {
        Expr::Lookup(Box::new(Lookup {
            via: "currencies".into(),
            from: Side::Left,
            by: Some("code".into()),
            take: None,
            arg: Expr::Col("currencyCode".into()),
        }))
    }

    fn call(name: &str) -> Expr {
        Expr::Fn {
            name: name.into(),
            args: vec![Expr::Col("x".into())],
        }
    }

    #[test]
    fn a_lookup_is_found_wherever_it_is_even_inside_a_function() {
        let plain = Expr::Bin {
            op: BinOp::Concat,
            lhs: Box::new(Expr::Col("a".into())),
            rhs: Box::new(Expr::Lit(Literal::String("b".into()))),
        };
        let nested = Expr::If {
            cond: Box::new(Expr::Lit(Literal::Bool(true))),
            then: Box::new(Expr::Lit(Literal::Null)),
            otherwise: Box::new(Expr::Not(Box::new(lookup()))),
        };
        let functions = BTreeMap::from([
            (
                "currency".to_string(),
                Function {
                    params: vec!["x".into()],
                    body: lookup(),
                },
            ),
            // Calls itself, and looks nothing up: looked into once, and the answer is no.
            (
                "again".to_string(),
                Function {
                    params: vec!["x".into()],
                    body: call("again"),
                },
            ),
        ]);
        assert!(!plain.looks_up(&functions));
        assert!(nested.looks_up(&functions));
        assert!(call("currency").looks_up(&functions));
        assert!(!call("again").looks_up(&functions));
    }
}
