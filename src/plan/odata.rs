//! Translates the part of a compiled filter that an OData v4 server can evaluate into a
//! `$filter` string. The filter's top-level conjuncts are translated one by one; those that
//! cannot be (arithmetic, lookups, user functions) stay in the residual the runtime evaluates.

use std::collections::BTreeMap;

use super::model::{BinOp, ColumnInfo, ColumnKind, Expr, Literal, SystemKind};

/// The pushed-down `$filter` and the residual expression, either possibly absent.
pub fn split(
    expr: &Expr,
    kind: SystemKind,
    columns: &BTreeMap<String, ColumnInfo>,
) -> (Option<String>, Option<Expr>) {
    let mut conjuncts = Vec::new();
    flatten_and(expr, &mut conjuncts);
    let t = Translator { kind, columns };
    let mut pushed = Vec::new();
    let mut residual: Option<Expr> = None;
    for c in conjuncts {
        match t.bool_expr(c) {
            Some(s) => pushed.push(s),
            None => {
                residual = Some(match residual {
                    Some(r) => Expr::Bin {
                        op: BinOp::And,
                        lhs: Box::new(r),
                        rhs: Box::new(c.clone()),
                    },
                    None => c.clone(),
                })
            }
        }
    }
    let odata = (!pushed.is_empty()).then(|| pushed.join(" and "));
    (odata, residual)
}

fn flatten_and<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::Bin {
            op: BinOp::And,
            lhs,
            rhs,
        } => {
            flatten_and(lhs, out);
            flatten_and(rhs, out);
        }
        other => out.push(other),
    }
}

struct Translator<'a> {
    kind: SystemKind,
    columns: &'a BTreeMap<String, ColumnInfo>,
}

impl Translator<'_> {
    fn is_key(&self, col: &str) -> bool {
        self.columns.get(col).is_some_and(|c| c.ty.is_guid())
    }

    /// The property name a server filters on: Dataverse lookups are `_name_value`.
    fn property(&self, col: &str) -> String {
        let lookup = self
            .columns
            .get(col)
            .is_some_and(|c| c.ty == ColumnKind::Lookup);
        if lookup && self.kind == SystemKind::Dataverse {
            format!("_{col}_value")
        } else {
            col.to_string()
        }
    }

    fn bool_expr(&self, e: &Expr) -> Option<String> {
        match e {
            Expr::Bin {
                op: op @ (BinOp::And | BinOp::Or),
                lhs,
                rhs,
            } => {
                let (l, r) = (self.bool_expr(lhs)?, self.bool_expr(rhs)?);
                let word = if *op == BinOp::And { "and" } else { "or" };
                Some(format!("({l} {word} {r})"))
            }
            Expr::Not(inner) => Some(format!("not ({})", self.bool_expr(inner)?)),
            Expr::Bin { op, lhs, rhs } => {
                let word = match op {
                    BinOp::Eq => "eq",
                    BinOp::Ne => "ne",
                    BinOp::Lt => "lt",
                    BinOp::Le => "le",
                    BinOp::Gt => "gt",
                    BinOp::Ge => "ge",
                    _ => return None,
                };
                let key = [lhs, rhs]
                    .iter()
                    .any(|x| matches!(&***x, Expr::Col(c) if self.is_key(c)));
                let (l, r) = (self.operand(lhs, key)?, self.operand(rhs, key)?);
                Some(format!("{l} {word} {r}"))
            }
            Expr::Call { func, args } => {
                let name = match func.as_str() {
                    "contains" => "contains",
                    "starts_with" => "startswith",
                    "ends_with" => "endswith",
                    _ => return None,
                };
                let a: Option<Vec<String>> = args.iter().map(|x| self.operand(x, false)).collect();
                Some(format!("{name}({})", a?.join(",")))
            }
            Expr::Col(c)
                if self
                    .columns
                    .get(c)
                    .is_some_and(|i| i.ty == ColumnKind::Bool) =>
            {
                Some(format!("{} eq true", self.property(c)))
            }
            Expr::Lit(Literal::Bool(b)) => Some(if *b { "true".into() } else { "false".into() }),
            _ => None,
        }
    }

    fn operand(&self, e: &Expr, key: bool) -> Option<String> {
        match e {
            Expr::Col(c) => Some(self.property(c)),
            // Business Central has no null GUID: a GUID field that refers to nothing holds
            // all zeros, which the connector reads as null.
            Expr::Lit(Literal::Null) if key && self.kind == SystemKind::BusinessCentral => {
                Some("00000000-0000-0000-0000-000000000000".into())
            }
            Expr::Lit(l) => Some(literal(l, key)),
            Expr::Call { func, args } if args.len() == 1 => {
                let name = match func.as_str() {
                    "lower" => "tolower",
                    "upper" => "toupper",
                    "trim" => "trim",
                    "len" => "length",
                    "year" => "year",
                    "month" => "month",
                    "day" => "day",
                    _ => return None,
                };
                Some(format!("{name}({})", self.operand(&args[0], false)?))
            }
            _ => None,
        }
    }
}

/// An OData literal: strings single-quoted with quotes doubled, GUIDs bare.
pub fn literal(l: &Literal, key: bool) -> String {
    match l {
        Literal::Null => "null".into(),
        Literal::Bool(b) => b.to_string(),
        Literal::Int(n) => n.to_string(),
        Literal::Decimal(d) => d.clone(),
        Literal::String(s) if key => s.clone(),
        Literal::String(s) => format!("'{}'", s.replace('\'', "''")),
        Literal::Date(d) => d.clone(),
        Literal::Datetime(d) => d.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(n: &str) -> Box<Expr> {
        Box::new(Expr::Col(n.into()))
    }
    fn lit(l: Literal) -> Box<Expr> {
        Box::new(Expr::Lit(l))
    }
    fn info(ty: ColumnKind) -> ColumnInfo {
        ColumnInfo {
            ty,
            targets: vec![],
            ..Default::default()
        }
    }

    #[test]
    fn a_null_guid_is_business_centrals_empty_guid() {
        let columns = BTreeMap::from([("currencyId".to_string(), info(ColumnKind::Guid))]);
        let e = Expr::Bin {
            op: BinOp::Eq,
            lhs: col("currencyId"),
            rhs: lit(Literal::Null),
        };
        let (bc, _) = split(&e, SystemKind::BusinessCentral, &columns);
        assert_eq!(
            bc.as_deref(),
            Some("currencyId eq 00000000-0000-0000-0000-000000000000")
        );
        let (dv, _) = split(&e, SystemKind::Dataverse, &columns);
        assert_eq!(dv.as_deref(), Some("currencyId eq null"));
    }

    #[test]
    fn pushes_comparisons_and_keeps_arithmetic_local() {
        let cols: BTreeMap<String, ColumnInfo> = [
            ("name".to_string(), info(ColumnKind::String)),
            ("parentcustomerid".to_string(), info(ColumnKind::Lookup)),
            ("n".to_string(), info(ColumnKind::Int)),
        ]
        .into();
        let cmp = Expr::Bin {
            op: BinOp::Eq,
            lhs: col("name"),
            rhs: lit(Literal::String("O'Brien".into())),
        };
        let key = Expr::Bin {
            op: BinOp::Ne,
            lhs: col("parentcustomerid"),
            rhs: lit(Literal::Null),
        };
        let arith = Expr::Bin {
            op: BinOp::Gt,
            lhs: Box::new(Expr::Bin {
                op: BinOp::Add,
                lhs: col("n"),
                rhs: lit(Literal::Int(1)),
            }),
            rhs: lit(Literal::Int(3)),
        };
        let all = Expr::Bin {
            op: BinOp::And,
            lhs: Box::new(Expr::Bin {
                op: BinOp::And,
                lhs: Box::new(cmp),
                rhs: Box::new(arith.clone()),
            }),
            rhs: Box::new(key),
        };
        let (odata, residual) = split(&all, crate::plan::SystemKind::Dataverse, &cols);
        assert_eq!(
            odata.as_deref(),
            Some("name eq 'O''Brien' and _parentcustomerid_value ne null")
        );
        assert_eq!(residual, Some(arith));
    }
}
