//! Evaluation of a parsed `$filter` over one row, and the `$orderby` ordering, with the
//! semantics of OData v4.01 Part 2 §5.1.1 and the Protocol's `$orderby` rules.

use std::cmp::Ordering;

use jiff::civil::{DateTime, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use rust_decimal::Decimal;

use super::ast::{CompareOp, FilterExpr, Function, Literal};
use super::QueryError;
use crate::value::Value;

/// Choices a service makes that the standard leaves open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvalOptions {
    /// Compare text without regard to case in `eq`, `ne`, `lt`…, `in`, `contains`,
    /// `startswith`, `endswith` and `$orderby`.
    ///
    /// The standard's comparisons are case-sensitive (`false`, the default). Services that
    /// evaluate filters in SQL Server under a case-insensitive collation (Dataverse's default
    /// one is) match text regardless of case; an emulator that wants to behave like one sets
    /// this.
    pub ignore_case: bool,
}

/// Whether `row` passes the filter, with the standard's case-sensitive text comparisons.
///
/// `row` returns a property's value by name, `Some(Value::Absent)` or `Some(Value::Null)` for a
/// property the entity has but this row leaves empty, and `None` for a name the entity type
/// does not have, which fails with [`QueryError::UnknownProperty`] (add the type name with
/// [`QueryError::in_type`]). See [`eval_filter_with`] for the semantics.
pub fn eval_filter(
    expr: &FilterExpr,
    row: &dyn Fn(&str) -> Option<Value>,
) -> Result<bool, QueryError> {
    eval_filter_with(expr, row, &EvalOptions::default())
}

/// Whether `row` passes the filter, with the given options.
///
/// The semantics are OData's:
/// - A row passes only when the expression is `true`; `false` and `null` both exclude it.
/// - `eq` and `ne` treat `null` as a value equal only to itself, so `x eq null` is true exactly
///   when `x` is null. `lt`, `le`, `gt` and `ge` are false when either side is null.
/// - `and`, `or` and `not` follow three-valued logic: `null and false` is false,
///   `null or true` is true, other combinations with null are null, `not null` is null.
/// - Functions return null when an argument is null, so `not contains(x,'a')` excludes rows
///   where `x` is null.
/// - Integers and decimals compare by value; text compares by code point (case-sensitively
///   unless [`EvalOptions::ignore_case`]); GUIDs compare case-insensitively, also with text;
///   dates and date-times compare chronologically, a date standing for midnight UTC of its day.
/// - Operands of types that cannot be compared (text with a number, a number with a boolean)
///   fail with [`QueryError::IncompatibleOperands`] when a row brings them together; a service
///   knows the types statically and rejects such a filter up front, which an emulator
///   approximates by evaluating every operand of every row, without short-circuits.
/// - A filter whose value is not a boolean (`$filter=name`) fails with
///   [`QueryError::NotBoolean`].
pub fn eval_filter_with(
    expr: &FilterExpr,
    row: &dyn Fn(&str) -> Option<Value>,
    options: &EvalOptions,
) -> Result<bool, QueryError> {
    let eval = Eval { row, options };
    match eval.value(expr)? {
        Literal::Bool(b) => Ok(b),
        Literal::Null => Ok(false),
        _ => Err(QueryError::NotBoolean),
    }
}

/// The order `$orderby` sorts two values in, ascending: null (and absent) first, then values by
/// the same comparison `lt` uses. Values of types that do not compare (which a typed column
/// never mixes) are ordered by type so that sorting stays total.
pub fn compare_for_orderby(a: &Value, b: &Value, options: &EvalOptions) -> Ordering {
    let (a, b) = (from_value(a), from_value(b));
    match (&a, &b) {
        (Literal::Null, Literal::Null) => Ordering::Equal,
        (Literal::Null, _) => Ordering::Less,
        (_, Literal::Null) => Ordering::Greater,
        _ => order(&a, &b, options).unwrap_or_else(|| type_rank(&a).cmp(&type_rank(&b))),
    }
}

/// A row value as the expression language sees it: absent and null are both null.
fn from_value(v: &Value) -> Literal {
    match v {
        Value::Absent | Value::Null => Literal::Null,
        Value::Bool(b) => Literal::Bool(*b),
        Value::Int(i) => Literal::Int(*i),
        Value::Decimal(d) => Literal::Decimal(*d),
        Value::String(s) => Literal::String(s.clone()),
        Value::Date(d) => Literal::Date(*d),
        Value::DateTime(t) => Literal::DateTime(*t),
    }
}

/// An arbitrary but fixed order of types, for sorting values that do not compare.
fn type_rank(l: &Literal) -> u8 {
    match l {
        Literal::Null => 0,
        Literal::Bool(_) => 1,
        Literal::Int(_) | Literal::Decimal(_) => 2,
        Literal::String(_) | Literal::Guid(_) => 3,
        Literal::Date(_) | Literal::DateTime(_) => 4,
    }
}

/// The civil date-time in UTC of an instant, to compare with dates.
fn utc(t: &Timestamp) -> DateTime {
    t.to_zoned(TimeZone::UTC).datetime()
}

/// How two non-null values compare, or `None` when their types do not compare.
fn order(l: &Literal, r: &Literal, options: &EvalOptions) -> Option<Ordering> {
    use Literal as L;
    let text = |a: &str, b: &str| {
        if options.ignore_case {
            a.to_lowercase().cmp(&b.to_lowercase())
        } else {
            a.cmp(b)
        }
    };
    Some(match (l, r) {
        (L::Bool(a), L::Bool(b)) => a.cmp(b),
        (L::Int(a), L::Int(b)) => a.cmp(b),
        (L::Int(a), L::Decimal(b)) => Decimal::from(*a).cmp(b),
        (L::Decimal(a), L::Int(b)) => a.cmp(&Decimal::from(*b)),
        (L::Decimal(a), L::Decimal(b)) => a.cmp(b),
        (L::String(a), L::String(b)) => text(a, b),
        // GUID literals are stored lower case; text holding a GUID may be in either case.
        (L::Guid(a), L::Guid(b)) => a.cmp(b),
        (L::Guid(a), L::String(b)) => a.as_str().cmp(b.to_ascii_lowercase().as_str()),
        (L::String(a), L::Guid(b)) => a.to_ascii_lowercase().as_str().cmp(b.as_str()),
        (L::Date(a), L::Date(b)) => a.cmp(b),
        (L::DateTime(a), L::DateTime(b)) => a.cmp(b),
        (L::Date(a), L::DateTime(b)) => a.to_datetime(Time::midnight()).cmp(&utc(b)),
        (L::DateTime(a), L::Date(b)) => utc(a).cmp(&b.to_datetime(Time::midnight())),
        _ => return None,
    })
}

/// One evaluation: the row and the options.
struct Eval<'a> {
    row: &'a dyn Fn(&str) -> Option<Value>,
    options: &'a EvalOptions,
}

impl Eval<'_> {
    fn value(&self, expr: &FilterExpr) -> Result<Literal, QueryError> {
        Ok(match expr {
            FilterExpr::Literal(l) => l.clone(),
            FilterExpr::Property(name) => match (self.row)(name) {
                Some(v) => from_value(&v),
                None => return Err(QueryError::unknown_property(name, None)),
            },
            FilterExpr::Not(x) => self.not(x)?,
            FilterExpr::And(xs) => self.logical(true, xs)?,
            FilterExpr::Or(xs) => self.logical(false, xs)?,
            FilterExpr::Compare(op, a, b) => {
                let (l, r) = (self.value(a)?, self.value(b)?);
                Literal::Bool(self.compare(*op, &l, &r, op.kind_name())?)
            }
            FilterExpr::In(x, items) => {
                let v = self.value(x)?;
                let mut found = false;
                for item in items {
                    found |= self.compare(CompareOp::Eq, &v, item, "In")?;
                }
                Literal::Bool(found)
            }
            FilterExpr::Call(func, args) => {
                let args = args
                    .iter()
                    .map(|a| self.value(a))
                    .collect::<Result<Vec<_>, _>>()?;
                self.call(*func, &args)?
            }
        })
    }

    /// `not x`, null staying null.
    fn not(&self, x: &FilterExpr) -> Result<Literal, QueryError> {
        Ok(match self.value(x)? {
            Literal::Bool(b) => Literal::Bool(!b),
            Literal::Null => Literal::Null,
            other => {
                return Err(QueryError::IncompatibleOperand {
                    operand: other.edm_type(),
                    operator: "Not",
                })
            }
        })
    }

    /// `and` (when `is_and`) or `or` over the operands `xs`.
    fn logical(&self, is_and: bool, xs: &[FilterExpr]) -> Result<Literal, QueryError> {
        let values = xs
            .iter()
            .map(|x| self.value(x))
            .collect::<Result<Vec<_>, _>>()?;
        let boolean = |v: &Literal| matches!(v, Literal::Bool(_) | Literal::Null);
        if let Some(bad) = values.iter().position(|v| !boolean(v)) {
            // Name the offending operand and its neighbour, as a binary operator would.
            let (l, r) = if bad == 0 { (0, 1) } else { (bad - 1, bad) };
            let edm = |i: usize| match values.get(i) {
                Some(Literal::Null) | None => "Edm.Boolean",
                Some(v) => v.edm_type(),
            };
            return Err(QueryError::IncompatibleOperands {
                left: edm(l),
                right: edm(r),
                operator: if is_and { "And" } else { "Or" },
            });
        }
        // Three-valued logic: one operand with the deciding value (false for `and`,
        // true for `or`) decides; otherwise a null makes the result null.
        let decisive = !is_and;
        Ok(if values.contains(&Literal::Bool(decisive)) {
            Literal::Bool(decisive)
        } else if values.contains(&Literal::Null) {
            Literal::Null
        } else {
            Literal::Bool(!decisive)
        })
    }

    /// A comparison of two evaluated operands; `kind` names the operator in type errors.
    fn compare(
        &self,
        op: CompareOp,
        l: &Literal,
        r: &Literal,
        kind: &'static str,
    ) -> Result<bool, QueryError> {
        let (l_null, r_null) = (*l == Literal::Null, *r == Literal::Null);
        if l_null || r_null {
            let both = l_null && r_null;
            return Ok(match op {
                CompareOp::Eq => both,
                CompareOp::Ne => !both,
                _ => false,
            });
        }
        let ord = order(l, r, self.options).ok_or(QueryError::IncompatibleOperands {
            left: l.edm_type(),
            right: r.edm_type(),
            operator: kind,
        })?;
        Ok(match op {
            CompareOp::Eq => ord == Ordering::Equal,
            CompareOp::Ne => ord != Ordering::Equal,
            CompareOp::Lt => ord == Ordering::Less,
            CompareOp::Le => ord != Ordering::Greater,
            CompareOp::Gt => ord == Ordering::Greater,
            CompareOp::Ge => ord != Ordering::Less,
        })
    }

    fn call(&self, func: Function, args: &[Literal]) -> Result<Literal, QueryError> {
        use Literal as L;
        if args.contains(&L::Null) {
            return Ok(L::Null);
        }
        let mismatch = || QueryError::NoMatchingSignature {
            name: func.name(),
            signatures: func.signatures(),
        };
        let fold = |s: &str| {
            if self.options.ignore_case {
                s.to_lowercase()
            } else {
                s.to_string()
            }
        };
        Ok(match (func, args) {
            (Function::Contains, [L::String(s), L::String(t)]) => {
                L::Bool(fold(s).contains(fold(t).as_str()))
            }
            (Function::StartsWith, [L::String(s), L::String(t)]) => {
                L::Bool(fold(s).starts_with(fold(t).as_str()))
            }
            (Function::EndsWith, [L::String(s), L::String(t)]) => {
                L::Bool(fold(s).ends_with(fold(t).as_str()))
            }
            (Function::ToLower, [L::String(s)]) => L::String(s.to_lowercase()),
            (Function::ToUpper, [L::String(s)]) => L::String(s.to_uppercase()),
            (Function::Trim, [L::String(s)]) => L::String(s.trim().to_string()),
            (Function::Length, [L::String(s)]) => {
                L::Int(i64::try_from(s.chars().count()).unwrap_or(i64::MAX))
            }
            (Function::Year | Function::Month | Function::Day, [date]) => {
                let d = match date {
                    L::Date(d) => *d,
                    L::DateTime(t) => utc(t).date(),
                    _ => return Err(mismatch()),
                };
                L::Int(match func {
                    Function::Year => i64::from(d.year()),
                    Function::Month => i64::from(d.month()),
                    _ => i64::from(d.day()),
                })
            }
            _ => return Err(mismatch()),
        })
    }
}
