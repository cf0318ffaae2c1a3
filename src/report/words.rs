//! Row filters in plain words, for readers who never open a `.map` file:
//! `statecode == 0 and parentcustomerid != null` reads "statecode is Active and
//! parentcustomerid is not empty". Comparisons of a column with a constant, `and`, `or` and `not`
//! are put in words; anything else (function calls, arithmetic) is printed as the plan's
//! expression text by [`crate::plan::display`], which is already close to plain.

use std::collections::BTreeMap;

use crate::plan::display;
use crate::plan::{BinOp, Expr, Literal};

/// Option-set labels of one table's columns: column → value → label. Plans hold option values
/// only; the labels come from the schema snapshots when they can be read.
pub type Labels = BTreeMap<String, BTreeMap<i64, String>>;

/// A filter condition in words.
pub fn condition(e: &Expr, labels: &Labels) -> String {
    Words { labels }.expr(e)
}

struct Words<'a> {
    labels: &'a Labels,
}

impl Words<'_> {
    fn expr(&self, e: &Expr) -> String {
        match e {
            Expr::Bin { op, lhs, rhs } => match op {
                BinOp::And => format!("{} and {}", self.operand(lhs), self.operand(rhs)),
                BinOp::Or => format!("{} or {}", self.expr(lhs), self.expr(rhs)),
                _ => self.comparison(*op, lhs, rhs),
            },
            Expr::Not(inner) => format!("not ({})", self.expr(inner)),
            _ => display::expr(e, &[]),
        }
    }

    /// An operand of `and`: an `or` inside keeps its grouping.
    fn operand(&self, e: &Expr) -> String {
        match e {
            Expr::Bin { op: BinOp::Or, .. } => format!("({})", self.expr(e)),
            _ => self.expr(e),
        }
    }

    fn comparison(&self, op: BinOp, lhs: &Expr, rhs: &Expr) -> String {
        let (Expr::Col(column), Expr::Lit(value)) = (lhs, rhs) else {
            return display::expr(
                &Expr::Bin {
                    op,
                    lhs: Box::new(lhs.clone()),
                    rhs: Box::new(rhs.clone()),
                },
                &[],
            );
        };
        let column_text = display::expr(lhs, &[]);
        let verb = match op {
            BinOp::Eq => "is",
            BinOp::Ne => "is not",
            BinOp::Lt => "is less than",
            BinOp::Le => "is at most",
            BinOp::Gt => "is more than",
            BinOp::Ge => "is at least",
            // Arithmetic or text operators over a column and a constant are not a condition on
            // their own; print them as written.
            _ => return format!("{column_text} {} {}", op.symbol(), display::literal(value)),
        };
        format!("{column_text} {verb} {}", self.value(column, value))
    }

    fn value(&self, column: &str, value: &Literal) -> String {
        match value {
            Literal::Null => "empty".into(),
            Literal::String(s) if s.is_empty() => "blank".into(),
            Literal::Int(n) => match self.labels.get(column).and_then(|l| l.get(n)) {
                Some(label) => label.clone(),
                None => n.to_string(),
            },
            other => display::literal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(c: &str) -> Box<Expr> {
        Box::new(Expr::Col(c.into()))
    }
    fn lit(l: Literal) -> Box<Expr> {
        Box::new(Expr::Lit(l))
    }
    fn bin(op: BinOp, lhs: Box<Expr>, rhs: Box<Expr>) -> Box<Expr> {
        Box::new(Expr::Bin { op, lhs, rhs })
    }

    #[test]
    fn comparisons_read_as_words_with_option_labels() {
        let labels: Labels = [("statecode".to_string(), [(0, "Active".to_string())].into())].into();
        let e = bin(
            BinOp::And,
            bin(BinOp::Eq, col("statecode"), lit(Literal::Int(0))),
            bin(BinOp::Ne, col("parentcustomerid"), lit(Literal::Null)),
        );
        assert_eq!(
            condition(&e, &labels),
            "statecode is Active and parentcustomerid is not empty"
        );
        let e = bin(
            BinOp::Ne,
            col("companyNumber"),
            lit(Literal::String(String::new())),
        );
        assert_eq!(condition(&e, &labels), "companyNumber is not blank");
    }

    #[test]
    fn grouping_is_kept_and_the_rest_is_printed_as_written() {
        let e = bin(
            BinOp::And,
            bin(
                BinOp::Or,
                bin(BinOp::Ge, col("a"), lit(Literal::Int(1))),
                bin(BinOp::Eq, col("b"), lit(Literal::String("x".into()))),
            ),
            Box::new(Expr::Call {
                func: "contains".into(),
                args: vec![
                    Expr::Col("c".into()),
                    Expr::Lit(Literal::String("y".into())),
                ],
            }),
        );
        assert_eq!(
            condition(&e, &Labels::new()),
            r#"(a is at least 1 or b is "x") and contains(c, "y")"#
        );
    }
}
