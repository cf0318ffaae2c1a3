//! The expression evaluator: computes field values and filter results of a compiled plan over
//! one row. Pure (no I/O): lookups and the clock come in through [`Context`], so the runtime and
//! `syncmap test` get the same answers from the same plan.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;
use rust_decimal::Decimal;

use crate::plan::{self, BinOp, Side};
use crate::runtime::builtins::{self, Func};
use crate::runtime::error::{overflow, type_err};
pub use crate::runtime::error::{EvalError, MAX_CALL_DEPTH};
use crate::value::Value;

/// A record the evaluator reads columns from; the runtime's rows and test fixtures both fit.
pub trait Row {
    /// The column's value, or [`Value::Absent`] when the record does not have the column.
    fn get(&self, column: &str) -> Value;
}

impl Row for BTreeMap<String, Value> {
    fn get(&self, column: &str) -> Value {
        BTreeMap::get(self, column)
            .cloned()
            .unwrap_or(Value::Absent)
    }
}

impl Row for crate::connectors::Row {
    fn get(&self, column: &str) -> Value {
        self.fields.get(column).cloned().unwrap_or(Value::Absent)
    }
}

impl<S: BuildHasher> Row for HashMap<String, Value, S> {
    fn get(&self, column: &str) -> Value {
        HashMap::get(self, column).cloned().unwrap_or(Value::Absent)
    }
}

/// Resolves lookups; the runtime answers through its coupling store, tests with fixed pairs.
pub trait Lookups {
    /// The value `value` translates to through `lookup.via`'s couplings. `value` is never null
    /// or absent. A value with no coupled row should give [`EvalError::LookupNotFound`].
    fn lookup(&self, lookup: &plan::Lookup, value: &Value) -> Result<Value, EvalError>;
}

/// For expressions evaluated where no couplings exist: every lookup fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLookups;

impl Lookups for NoLookups {
    fn lookup(&self, lookup: &plan::Lookup, _value: &Value) -> Result<Value, EvalError> {
        Err(EvalError::Lookup {
            via: lookup.via.clone(),
            message: "no couplings are available here".into(),
        })
    }
}

/// Lookups answered from pairs given up front, as `syncmap test` cases and unit tests state
/// them: (table mapping, side of the value, value) → result. `by` and `take` of the lookup are
/// not consulted; the pairs already say what the lookup yields.
#[derive(Debug, Clone, Default)]
pub struct PairLookups {
    pairs: Vec<(String, Side, Value, Value)>,
}

impl PairLookups {
    /// No pairs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// States that `value` on side `from` of table mapping `via` translates to `result`.
    pub fn insert(&mut self, via: &str, from: Side, value: Value, result: Value) {
        self.pairs.push((via.to_string(), from, value, result));
    }
}

impl Lookups for PairLookups {
    fn lookup(&self, lookup: &plan::Lookup, value: &Value) -> Result<Value, EvalError> {
        self.pairs
            .iter()
            .find(|(via, from, v, _)| {
                *via == lookup.via
                    && *from == lookup.from
                    && compare(v, value) == Some(Ordering::Equal)
            })
            .map(|p| p.3.clone())
            .ok_or_else(|| EvalError::LookupNotFound {
                via: lookup.via.clone(),
                value: value.to_string(),
            })
    }
}

/// The plan's user functions, compiled once so calls do not re-read literals.
#[derive(Debug, Clone, Default)]
pub struct UserFunctions {
    by_name: HashMap<String, (usize, Node)>,
}

impl UserFunctions {
    /// Compiles every function of a plan; fails on a body the evaluator cannot run.
    pub fn new(defs: &BTreeMap<String, plan::Function>) -> Result<Self, EvalError> {
        let mut by_name = HashMap::with_capacity(defs.len());
        for (name, f) in defs {
            let body = compile(&f.body, Some(f.params.len()))?;
            by_name.insert(name.clone(), (f.params.len(), body));
        }
        Ok(UserFunctions { by_name })
    }
}

/// What evaluation needs besides the row: the same for every record of a run.
pub struct Context<'a> {
    /// The plan's user functions.
    pub functions: &'a UserFunctions,
    /// How lookups are resolved.
    pub lookups: &'a dyn Lookups,
    /// What `now()` returns: the start of the run, so all records of it agree.
    pub now: Timestamp,
    /// The time zone that gives date-times their calendar day: the destination system's, where
    /// the value will be read (`today()`, `year(…)`, `format_date(…)` of a date-time).
    pub zone: TimeZone,
}

/// An expression prepared for evaluating over many rows: literals parsed, built-in names and
/// arities checked once. Build it once per plan expression, then call [`Compiled::eval`].
#[derive(Debug, Clone)]
pub struct Compiled {
    node: Node,
}

impl Compiled {
    /// Prepares an expression; fails on malformed literals, unknown built-ins, wrong arities,
    /// `label` calls and parameters outside function bodies.
    pub fn new(expr: &plan::Expr) -> Result<Self, EvalError> {
        Ok(Compiled {
            node: compile(expr, None)?,
        })
    }

    /// The expression's value for `row`; see [`eval`] for the rules.
    pub fn eval(&self, row: &dyn Row, ctx: &Context<'_>) -> Result<Value, EvalError> {
        let env = Env {
            row,
            ctx,
            params: &[],
            depth: 0,
        };
        eval_node(&self.node, &env)
    }

    /// Whether `row` passes this filter; see [`eval_filter`].
    pub fn eval_filter(&self, row: &dyn Row, ctx: &Context<'_>) -> Result<bool, EvalError> {
        filter_result(self.eval(row, ctx)?)
    }
}

/// Evaluates a compiled plan expression over one row.
///
/// For many rows prefer [`Compiled`], which does the preparation once. The rules:
///
/// * **Columns** — `Col(name)` is the row's value, `absent` when the record lacks the column.
///   `Param(i)` is the i-th argument of the user function being evaluated.
/// * **User functions** — arguments are evaluated first, then the body with them as
///   parameters. Calls nest at most [`MAX_CALL_DEPTH`] deep.
/// * **Absent** propagates: an operator or built-in with an absent operand gives absent.
///   Exceptions: `??`, `is_null`, `concat`, `and`/`or` (absent counts as null there) and `if`
///   (an absent condition counts as false).
/// * **Null** is SQL-like: arithmetic, comparison, `not`, `-x` and built-ins with a null operand
///   give null (absent wins over null). Except `==`/`!=`: `null == null` is true and
///   `x == null` is false for any non-null `x`, so `parentcustomerid != null` filters work.
///   An absent operand still makes `==`/`!=` absent, so such a filter excludes a record that
///   lacks the column rather than guessing.
/// * **and/or** use three-valued logic: `false and null` is false, `true or null` is true, other
///   combinations with null are null. They short-circuit: `false and x` and `true or x` do not
///   evaluate `x`, so `d != 0 and n / d > 1` is safe.
/// * **`a ?? b`** is `a` unless it is null or absent, else `b` (evaluated only then).
/// * **`if c then a else b`** evaluates only the branch taken; a null or absent `c` takes `else`.
/// * **Numbers** — int op int stays int with checked arithmetic (overflow is an error); mixing
///   int and decimal gives decimal, keeping the larger scale for `+`/`-` (`1.10 + 1` is
///   `2.10`); `/` always gives a decimal (up to 28 significant digits); `%` works on ints and
///   decimals and takes the sign of the dividend; `/` and `%` by zero are errors.
/// * **Comparison** works across int and decimal by value; text compares by code point, with
///   case; booleans `false < true`; dates and date-times chronologically, and a date against a
///   date-time compares with the date-time's UTC date. Comparing other mixes is an error.
/// * **`+` on text** (`Concat`) joins both sides as text (`to_string` rules); null gives null.
/// * **Value maps** — the first arm whose pattern equals the value wins (int and decimal by
///   value, text with case unless the map ignores case), else the default arm, else an error.
///   A null or absent value takes an arm whose pattern is `null` if there is one, else stays
///   as it is (the default arm does not apply).
/// * **Lookups** — null gives null and absent absent without asking; other values go to
///   [`Lookups::lookup`].
/// * **Built-ins** behave as documented in [`crate::functions::BUILTINS`]; text functions count
///   characters, not bytes.
pub fn eval(expr: &plan::Expr, row: &dyn Row, ctx: &Context<'_>) -> Result<Value, EvalError> {
    Compiled::new(expr)?.eval(row, ctx)
}

/// Whether a row passes a filter: true passes; false, null and absent do not. A filter that is
/// not boolean is an error.
pub fn eval_filter(expr: &plan::Expr, row: &dyn Row, ctx: &Context<'_>) -> Result<bool, EvalError> {
    filter_result(eval(expr, row, ctx)?)
}

fn filter_result(v: Value) -> Result<bool, EvalError> {
    match v {
        Value::Bool(b) => Ok(b),
        Value::Null | Value::Absent => Ok(false),
        other => Err(type_err("a filter", "bool", &other)),
    }
}

/// A prepared expression node.
#[derive(Debug, Clone)]
enum Node {
    Const(Value),
    Col(Box<str>),
    Param(usize),
    Call(Func, Vec<Node>),
    Fn(Box<str>, Vec<Node>),
    Not(Box<Node>),
    Neg(Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    If(Box<[Node; 3]>),
    Map(Box<MapNode>),
    Lookup(Box<plan::Lookup>, Box<Node>),
}

#[derive(Debug, Clone)]
struct MapNode {
    arg: Node,
    /// Patterns other than `null`; text patterns are lowered when `ignore_case`.
    arms: Vec<(Value, Value)>,
    null_arm: Option<Value>,
    default: Option<Value>,
    ignore_case: bool,
}

/// `params`: how many parameters are in scope (`None` outside a function body).
fn compile(expr: &plan::Expr, params: Option<usize>) -> Result<Node, EvalError> {
    use plan::Expr as E;
    let all = |args: &[plan::Expr]| -> Result<Vec<Node>, EvalError> {
        args.iter().map(|a| compile(a, params)).collect()
    };
    let boxed = |e: &plan::Expr| compile(e, params).map(Box::new);
    Ok(match expr {
        E::Lit(l) => Node::Const(l.to_value()?),
        E::Col(c) => Node::Col(c.as_str().into()),
        E::Param(i) => {
            let available = params.unwrap_or(0);
            if *i >= available {
                return Err(EvalError::BadParam {
                    index: *i,
                    available,
                });
            }
            Node::Param(*i)
        }
        E::Call { func, args } => Node::Call(builtins::resolve(func, args.len())?, all(args)?),
        E::Fn { name, args } => Node::Fn(name.as_str().into(), all(args)?),
        E::Not(x) => Node::Not(boxed(x)?),
        E::Neg(x) => Node::Neg(boxed(x)?),
        E::Bin { op, lhs, rhs } => Node::Bin(*op, boxed(lhs)?, boxed(rhs)?),
        E::If {
            cond,
            then,
            otherwise,
        } => Node::If(Box::new([
            compile(cond, params)?,
            compile(then, params)?,
            compile(otherwise, params)?,
        ])),
        E::Map {
            arg,
            arms,
            default,
            ignore_case,
        } => Node::Map(Box::new(compile_map(
            compile(arg, params)?,
            arms,
            default.as_ref(),
            *ignore_case,
        )?)),
        E::Lookup(l) => Node::Lookup(l.clone(), boxed(&l.arg)?),
    })
}

/// A value map with its constants read once: text patterns lowered when compared without
/// case, and the `null` arm set apart (it matches what no other pattern can).
fn compile_map(
    arg: Node,
    arms: &[(plan::Literal, plan::Literal)],
    default: Option<&plan::Literal>,
    ignore_case: bool,
) -> Result<MapNode, EvalError> {
    let mut map = MapNode {
        arg,
        arms: Vec::with_capacity(arms.len()),
        null_arm: None,
        default: default.map(plan::Literal::to_value).transpose()?,
        ignore_case,
    };
    for (pattern, value) in arms {
        let value = value.to_value()?;
        match pattern.to_value()? {
            Value::Null => {
                map.null_arm.get_or_insert(value);
            }
            Value::String(s) if ignore_case => {
                map.arms.push((Value::String(s.to_lowercase()), value));
            }
            p => map.arms.push((p, value)),
        }
    }
    Ok(map)
}

struct Env<'e, 'c> {
    row: &'e dyn Row,
    ctx: &'e Context<'c>,
    params: &'e [Value],
    depth: usize,
}

fn eval_node(node: &Node, env: &Env<'_, '_>) -> Result<Value, EvalError> {
    match node {
        Node::Const(v) => Ok(v.clone()),
        Node::Col(c) => Ok(env.row.get(c)),
        Node::Param(i) => env.params.get(*i).cloned().ok_or(EvalError::BadParam {
            index: *i,
            available: env.params.len(),
        }),
        Node::Call(f, args) => eval_call(*f, args, env),
        Node::Fn(name, args) => call_user(name, args, env),
        Node::Not(x) => match eval_node(x, env)? {
            Value::Bool(b) => Ok(Value::Bool(!b)),
            v @ (Value::Null | Value::Absent) => Ok(v),
            other => Err(type_err("`not`", "bool", &other)),
        },
        Node::Neg(x) => match eval_node(x, env)? {
            Value::Int(i) => i
                .checked_neg()
                .map(Value::Int)
                .ok_or_else(|| overflow("`-`")),
            Value::Decimal(d) => Ok(Value::Decimal(-d)),
            v @ (Value::Null | Value::Absent) => Ok(v),
            other => Err(type_err("`-`", "a number", &other)),
        },
        Node::Bin(op, lhs, rhs) => eval_binary(*op, lhs, rhs, env),
        Node::If(parts) => {
            let [cond, then, otherwise] = &**parts;
            if truth("`if`", &eval_node(cond, env)?)? == Some(true) {
                eval_node(then, env)
            } else {
                eval_node(otherwise, env)
            }
        }
        Node::Map(map) => eval_map(map, eval_node(&map.arg, env)?),
        Node::Lookup(lookup, arg) => {
            let v = eval_node(arg, env)?;
            if v.is_missing() {
                Ok(v)
            } else {
                env.ctx.lookups.lookup(lookup, &v)
            }
        }
    }
}

/// A built-in call; the arguments of short calls stay on the stack (most calls have three
/// or fewer, and a field is evaluated per record).
fn eval_call(f: Func, args: &[Node], env: &Env<'_, '_>) -> Result<Value, EvalError> {
    let (now, zone) = (env.ctx.now, &env.ctx.zone);
    match args {
        [] => builtins::call(f, &[], now, zone),
        [a] => builtins::call(f, &[eval_node(a, env)?], now, zone),
        [a, b] => {
            let vals = [eval_node(a, env)?, eval_node(b, env)?];
            builtins::call(f, &vals, now, zone)
        }
        [a, b, c] => {
            let vals = [eval_node(a, env)?, eval_node(b, env)?, eval_node(c, env)?];
            builtins::call(f, &vals, now, zone)
        }
        _ => {
            let vals = args
                .iter()
                .map(|a| eval_node(a, env))
                .collect::<Result<Vec<_>, _>>()?;
            builtins::call(f, &vals, now, zone)
        }
    }
}

/// A binary operator: `??`, `and` and `or` look at their right operand only when the left
/// does not decide; the others are strict.
fn eval_binary(op: BinOp, lhs: &Node, rhs: &Node, env: &Env<'_, '_>) -> Result<Value, EvalError> {
    match op {
        BinOp::Coalesce => {
            let l = eval_node(lhs, env)?;
            if l.is_missing() {
                eval_node(rhs, env)
            } else {
                Ok(l)
            }
        }
        BinOp::And | BinOp::Or => {
            let short = op == BinOp::Or; // the value that decides alone
            let what = if short { "`or`" } else { "`and`" };
            let l = truth(what, &eval_node(lhs, env)?)?;
            if l == Some(short) {
                return Ok(Value::Bool(short));
            }
            let r = truth(what, &eval_node(rhs, env)?)?;
            Ok(match (l, r) {
                (_, Some(b)) if b == short => Value::Bool(short),
                (Some(_), Some(_)) => Value::Bool(!short),
                _ => Value::Null,
            })
        }
        _ => binary(op, eval_node(lhs, env)?, eval_node(rhs, env)?),
    }
}

fn call_user(name: &str, args: &[Node], env: &Env<'_, '_>) -> Result<Value, EvalError> {
    let Some((arity, body)) = env.ctx.functions.by_name.get(name) else {
        return Err(EvalError::UnknownUserFunction {
            name: name.to_string(),
        });
    };
    if *arity != args.len() {
        return Err(EvalError::Arity {
            func: name.to_string(),
            expected: arity.to_string(),
            found: args.len(),
        });
    }
    if env.depth >= MAX_CALL_DEPTH {
        return Err(EvalError::RecursionLimit {
            name: name.to_string(),
        });
    }
    let params = args
        .iter()
        .map(|a| eval_node(a, env))
        .collect::<Result<Vec<_>, _>>()?;
    let inner = Env {
        row: env.row,
        ctx: env.ctx,
        params: &params,
        depth: env.depth + 1,
    };
    eval_node(body, &inner)
}

fn eval_map(map: &MapNode, v: Value) -> Result<Value, EvalError> {
    if v.is_missing() {
        return Ok(map.null_arm.clone().unwrap_or(v));
    }
    let lowered = match (&v, map.ignore_case) {
        (Value::String(s), true) => Some(Value::String(s.to_lowercase())),
        _ => None,
    };
    let probe = lowered.as_ref().unwrap_or(&v);
    for (pattern, result) in &map.arms {
        if compare(probe, pattern) == Some(Ordering::Equal) {
            return Ok(result.clone());
        }
    }
    map.default.clone().ok_or_else(|| EvalError::NoMapArm {
        value: v.to_string(),
    })
}

/// A condition's truth: `None` for null and absent.
fn truth(what: &str, v: &Value) -> Result<Option<bool>, EvalError> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Null | Value::Absent => Ok(None),
        other => Err(type_err(what, "bool", other)),
    }
}

/// The strict operators (everything but `??`, `and`, `or`) on evaluated operands.
fn binary(op: BinOp, l: Value, r: Value) -> Result<Value, EvalError> {
    if l.is_absent() || r.is_absent() {
        return Ok(Value::Absent);
    }
    let sym = op.symbol();
    let operands = |l: &Value, r: &Value| EvalError::Operands {
        op: sym,
        left: l.type_name(),
        right: r.type_name(),
    };
    if let BinOp::Eq | BinOp::Ne = op {
        let equal = match (&l, &r) {
            (Value::Null, Value::Null) => true,
            (Value::Null, _) | (_, Value::Null) => false,
            _ => compare(&l, &r).ok_or_else(|| operands(&l, &r))? == Ordering::Equal,
        };
        return Ok(Value::Bool(equal == (op == BinOp::Eq)));
    }
    if l == Value::Null || r == Value::Null {
        return Ok(Value::Null);
    }
    let ord = || compare(&l, &r).ok_or_else(|| operands(&l, &r));
    Ok(match op {
        BinOp::Lt => Value::Bool(ord()?.is_lt()),
        BinOp::Le => Value::Bool(ord()?.is_le()),
        BinOp::Gt => Value::Bool(ord()?.is_gt()),
        BinOp::Ge => Value::Bool(ord()?.is_ge()),
        BinOp::Concat => match (l.to_text(), r.to_text()) {
            (Some(a), Some(b)) => Value::String(a + &b),
            _ => Value::Null,
        },
        _ => return arithmetic(op, sym, &l, &r).ok_or_else(|| operands(&l, &r))?,
    })
}

/// Numeric operators; `None` when the operands are not both numbers.
fn arithmetic(op: BinOp, sym: &str, l: &Value, r: &Value) -> Option<Result<Value, EvalError>> {
    let of = || overflow(&format!("`{sym}`"));
    if let (Value::Int(a), Value::Int(b)) = (l, r) {
        let (a, b) = (*a, *b);
        let int = |v: Option<i64>| Some(v.map(Value::Int).ok_or_else(of));
        match op {
            BinOp::Add => return int(a.checked_add(b)),
            BinOp::Sub => return int(a.checked_sub(b)),
            BinOp::Mul => return int(a.checked_mul(b)),
            BinOp::Rem if b == 0 => return Some(Err(EvalError::DivisionByZero)),
            BinOp::Rem => return int(a.checked_rem(b)),
            _ => {}
        }
    }
    let (a, b) = (as_decimal(l)?, as_decimal(r)?);
    let dec = |v: Option<Decimal>| Some(v.map(Value::Decimal).ok_or_else(of));
    match op {
        BinOp::Add => dec(a.checked_add(b)),
        BinOp::Sub => dec(a.checked_sub(b)),
        BinOp::Mul => dec(a.checked_mul(b)),
        BinOp::Div | BinOp::Rem if b.is_zero() => Some(Err(EvalError::DivisionByZero)),
        BinOp::Div => dec(a.checked_div(b)),
        BinOp::Rem => dec(a.checked_rem(b)),
        _ => None,
    }
}

fn as_decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Int(i) => Some(Decimal::from(*i)),
        Value::Decimal(d) => Some(*d),
        _ => None,
    }
}

pub(crate) fn utc_date(t: Timestamp) -> Date {
    Offset::UTC.to_datetime(t).date()
}

/// The order of two non-missing values; `None` when their types do not compare.
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    use Value as V;
    Some(match (a, b) {
        (V::Int(x), V::Int(y)) => x.cmp(y),
        (V::Decimal(x), V::Decimal(y)) => x.cmp(y),
        (V::Int(x), V::Decimal(y)) => Decimal::from(*x).cmp(y),
        (V::Decimal(x), V::Int(y)) => x.cmp(&Decimal::from(*y)),
        (V::String(x), V::String(y)) => x.cmp(y),
        (V::Bool(x), V::Bool(y)) => x.cmp(y),
        (V::Date(x), V::Date(y)) => x.cmp(y),
        (V::DateTime(x), V::DateTime(y)) => x.cmp(y),
        (V::Date(x), V::DateTime(y)) => x.cmp(&utc_date(*y)),
        (V::DateTime(x), V::Date(y)) => utc_date(*x).cmp(y),
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::plan::{Expr, Literal};
    use std::str::FromStr;

    fn int(i: i64) -> Expr {
        Expr::Lit(Literal::Int(i))
    }
    fn dec(s: &str) -> Expr {
        Expr::Lit(Literal::Decimal(s.into()))
    }
    fn text(s: &str) -> Expr {
        Expr::Lit(Literal::String(s.into()))
    }
    fn boolean(b: bool) -> Expr {
        Expr::Lit(Literal::Bool(b))
    }
    fn null() -> Expr {
        Expr::Lit(Literal::Null)
    }
    fn col(c: &str) -> Expr {
        Expr::Col(c.into())
    }
    fn bin(op: BinOp, l: Expr, r: Expr) -> Expr {
        Expr::Bin {
            op,
            lhs: Box::new(l),
            rhs: Box::new(r),
        }
    }
    fn call(func: &str, args: Vec<Expr>) -> Expr {
        Expr::Call {
            func: func.into(),
            args,
        }
    }
    fn user(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Fn {
            name: name.into(),
            args,
        }
    }
    fn d(s: &str) -> Value {
        Value::Decimal(Decimal::from_str_exact(s).unwrap())
    }
    fn s(t: &str) -> Value {
        Value::String(t.into())
    }

    fn row() -> BTreeMap<String, Value> {
        BTreeMap::from([
            ("name".to_string(), s("Contoso")),
            ("n".to_string(), Value::Int(7)),
            ("amount".to_string(), d("12.50")),
            ("empty".to_string(), Value::Null),
            ("flag".to_string(), Value::Bool(true)),
        ])
    }

    fn now() -> Timestamp {
        Timestamp::from_str("2024-06-01T22:30:00Z").unwrap()
    }

    fn run(e: &Expr) -> Result<Value, EvalError> {
        let functions = UserFunctions::default();
        let ctx = Context {
            functions: &functions,
            lookups: &NoLookups,
            now: now(),
            zone: TimeZone::UTC,
        };
        eval(e, &row(), &ctx)
    }

    fn ok(e: &Expr) -> Value {
        run(e).unwrap()
    }

    fn err(e: &Expr) -> String {
        run(e).unwrap_err().to_string()
    }

    #[test]
    fn columns_and_absent() {
        assert_eq!(ok(&col("name")), s("Contoso"));
        assert_eq!(ok(&col("empty")), Value::Null);
        assert_eq!(ok(&col("nope")), Value::Absent);
        let hm: HashMap<String, Value> = HashMap::from([("x".to_string(), Value::Int(1))]);
        assert_eq!(Row::get(&hm, "x"), Value::Int(1));
        assert_eq!(Row::get(&hm, "y"), Value::Absent);
    }

    #[test]
    fn three_valued_logic() {
        use Value::{Absent, Bool, Null};
        let t = boolean(true);
        let f = boolean(false);
        let cases = [
            (BinOp::And, t.clone(), t.clone(), Bool(true)),
            (BinOp::And, t.clone(), f.clone(), Bool(false)),
            (BinOp::And, f.clone(), null(), Bool(false)),
            (BinOp::And, null(), f.clone(), Bool(false)),
            (BinOp::And, t.clone(), null(), Null),
            (BinOp::And, null(), null(), Null),
            (BinOp::And, col("nope"), t.clone(), Null),
            (BinOp::And, col("nope"), f.clone(), Bool(false)),
            (BinOp::Or, f.clone(), f.clone(), Bool(false)),
            (BinOp::Or, t.clone(), null(), Bool(true)),
            (BinOp::Or, null(), t.clone(), Bool(true)),
            (BinOp::Or, f.clone(), null(), Null),
            (BinOp::Or, col("nope"), col("nope"), Null),
            (BinOp::Or, f.clone(), col("flag"), Bool(true)),
        ];
        for (op, l, r, want) in cases {
            assert_eq!(
                ok(&bin(op, l.clone(), r.clone())),
                want,
                "{op:?} {l:?} {r:?}"
            );
        }
        assert_eq!(ok(&Expr::Not(Box::new(boolean(true)))), Bool(false));
        assert_eq!(ok(&Expr::Not(Box::new(null()))), Null);
        assert_eq!(ok(&Expr::Not(Box::new(col("nope")))), Absent);
        assert_eq!(
            err(&Expr::Not(Box::new(int(1)))),
            "`not` expects bool, got int"
        );
        assert_eq!(
            err(&bin(BinOp::And, int(1), boolean(true))),
            "`and` expects bool, got int"
        );
    }

    #[test]
    fn and_or_coalesce_if_short_circuit() {
        let boom = bin(BinOp::Gt, bin(BinOp::Div, int(1), int(0)), int(1));
        assert_eq!(
            ok(&bin(BinOp::And, boolean(false), boom.clone())),
            Value::Bool(false)
        );
        assert_eq!(
            ok(&bin(BinOp::Or, boolean(true), boom.clone())),
            Value::Bool(true)
        );
        assert_eq!(
            err(&bin(BinOp::And, boolean(true), boom.clone())),
            "division by zero"
        );
        assert_eq!(
            ok(&bin(BinOp::Coalesce, int(1), boom.clone())),
            Value::Int(1)
        );
        let iff = |c: Expr, a: Expr, b: Expr| Expr::If {
            cond: Box::new(c),
            then: Box::new(a),
            otherwise: Box::new(b),
        };
        assert_eq!(ok(&iff(boolean(true), int(1), boom.clone())), Value::Int(1));
        assert_eq!(
            ok(&iff(boolean(false), boom.clone(), int(2))),
            Value::Int(2)
        );
        assert_eq!(ok(&iff(null(), int(1), int(2))), Value::Int(2));
        assert_eq!(ok(&iff(col("nope"), int(1), int(2))), Value::Int(2));
        assert_eq!(
            err(&iff(text("yes"), int(1), int(2))),
            "`if` expects bool, got string"
        );
    }

    #[test]
    fn coalesce_skips_null_and_absent() {
        assert_eq!(ok(&bin(BinOp::Coalesce, col("empty"), text("x"))), s("x"));
        assert_eq!(ok(&bin(BinOp::Coalesce, col("nope"), text("x"))), s("x"));
        assert_eq!(
            ok(&bin(BinOp::Coalesce, col("name"), text("x"))),
            s("Contoso")
        );
        assert_eq!(
            ok(&bin(BinOp::Coalesce, col("empty"), col("nope"))),
            Value::Absent
        );
    }

    #[test]
    fn equality_with_null() {
        assert_eq!(ok(&bin(BinOp::Eq, null(), null())), Value::Bool(true));
        assert_eq!(ok(&bin(BinOp::Eq, col("empty"), null())), Value::Bool(true));
        assert_eq!(ok(&bin(BinOp::Eq, int(1), null())), Value::Bool(false));
        assert_eq!(ok(&bin(BinOp::Ne, col("name"), null())), Value::Bool(true));
        assert_eq!(
            ok(&bin(BinOp::Ne, col("empty"), null())),
            Value::Bool(false)
        );
        assert_eq!(ok(&bin(BinOp::Ne, col("nope"), null())), Value::Absent);
        assert_eq!(ok(&bin(BinOp::Eq, col("nope"), int(1))), Value::Absent);
        // Ordering with null is null, not false.
        assert_eq!(ok(&bin(BinOp::Lt, null(), int(1))), Value::Null);
        assert_eq!(ok(&bin(BinOp::Ge, int(1), col("nope"))), Value::Absent);
    }

    #[test]
    fn comparisons() {
        let yes = Value::Bool(true);
        let no = Value::Bool(false);
        assert_eq!(ok(&bin(BinOp::Eq, int(2), dec("2.00"))), yes);
        assert_eq!(ok(&bin(BinOp::Lt, dec("1.5"), int(2))), yes);
        assert_eq!(ok(&bin(BinOp::Ge, col("amount"), dec("12.5"))), yes);
        assert_eq!(ok(&bin(BinOp::Gt, col("n"), int(7))), no);
        assert_eq!(ok(&bin(BinOp::Le, col("n"), int(7))), yes);
        assert_eq!(ok(&bin(BinOp::Lt, text("Z"), text("a"))), yes);
        assert_eq!(ok(&bin(BinOp::Lt, text("a"), text("ä"))), yes);
        assert_eq!(ok(&bin(BinOp::Eq, text("a"), text("A"))), no);
        assert_eq!(ok(&bin(BinOp::Lt, boolean(false), boolean(true))), yes);
        let date = |t: &str| Expr::Lit(Literal::Date(t.into()));
        let dt = |t: &str| Expr::Lit(Literal::Datetime(t.into()));
        assert_eq!(
            ok(&bin(BinOp::Lt, date("2024-01-31"), date("2024-02-01"))),
            yes
        );
        assert_eq!(
            ok(&bin(
                BinOp::Eq,
                date("2024-06-01"),
                dt("2024-06-01T23:59:00Z")
            )),
            yes
        );
        // 01:00 at +02:00 is still May 31 in UTC.
        assert_eq!(
            ok(&bin(
                BinOp::Lt,
                dt("2024-06-01T01:00:00+02:00"),
                date("2024-06-01")
            )),
            yes
        );
        assert_eq!(
            ok(&bin(
                BinOp::Gt,
                dt("2024-06-01T10:00:00Z"),
                dt("2024-06-01T11:00:00+02:00")
            )),
            yes
        );
        assert_eq!(
            err(&bin(BinOp::Eq, int(1), text("1"))),
            "`==` cannot combine int and string"
        );
        assert_eq!(
            err(&bin(BinOp::Lt, date("2024-01-01"), int(1))),
            "`<` cannot combine date and int"
        );
    }

    #[test]
    fn integer_and_decimal_arithmetic() {
        assert_eq!(ok(&bin(BinOp::Add, int(2), int(3))), Value::Int(5));
        assert_eq!(ok(&bin(BinOp::Sub, int(2), int(3))), Value::Int(-1));
        assert_eq!(ok(&bin(BinOp::Mul, col("n"), int(6))), Value::Int(42));
        assert_eq!(ok(&bin(BinOp::Add, int(1), dec("0.25"))), d("1.25"));
        assert_eq!(
            ok(&bin(BinOp::Mul, col("amount"), int(2))).to_string(),
            "25.00"
        );
        assert_eq!(
            ok(&bin(BinOp::Sub, dec("1.10"), dec("0.10"))).to_string(),
            "1.00"
        );
        assert_eq!(ok(&bin(BinOp::Div, int(7), int(2))), d("3.5"));
        assert_eq!(ok(&bin(BinOp::Div, int(6), int(3))), d("2"));
        assert_eq!(
            ok(&bin(BinOp::Div, int(1), int(3))),
            d("0.3333333333333333333333333333")
        );
        assert_eq!(ok(&bin(BinOp::Rem, int(7), int(3))), Value::Int(1));
        assert_eq!(ok(&bin(BinOp::Rem, int(-7), int(3))), Value::Int(-1));
        assert_eq!(ok(&bin(BinOp::Rem, dec("7.5"), int(2))), d("1.5"));
        assert_eq!(err(&bin(BinOp::Div, int(1), int(0))), "division by zero");
        assert_eq!(
            err(&bin(BinOp::Div, dec("1.5"), dec("0.0"))),
            "division by zero"
        );
        assert_eq!(err(&bin(BinOp::Rem, int(1), int(0))), "division by zero");
        assert_eq!(
            err(&bin(BinOp::Add, int(i64::MAX), int(1))),
            "overflow in `+`: the result is out of range"
        );
        assert_eq!(
            err(&bin(BinOp::Mul, int(i64::MIN), int(-1))),
            "overflow in `*`: the result is out of range"
        );
        assert_eq!(
            err(&bin(BinOp::Rem, int(i64::MIN), int(-1))),
            "overflow in `%`: the result is out of range"
        );
        assert_eq!(
            err(&Expr::Neg(Box::new(int(i64::MIN)))),
            "overflow in `-`: the result is out of range"
        );
        let big = dec("79228162514264337593543950335");
        assert_eq!(
            err(&bin(BinOp::Add, big.clone(), int(1))),
            "overflow in `+`: the result is out of range"
        );
        assert_eq!(ok(&Expr::Neg(Box::new(col("amount")))), d("-12.50"));
        assert_eq!(ok(&Expr::Neg(Box::new(int(3)))), Value::Int(-3));
        assert_eq!(ok(&Expr::Neg(Box::new(null()))), Value::Null);
        assert_eq!(
            err(&bin(BinOp::Add, int(1), text("x"))),
            "`+` cannot combine int and string"
        );
        assert_eq!(
            err(&Expr::Neg(Box::new(text("x")))),
            "`-` expects a number, got string"
        );
    }

    #[test]
    fn null_and_absent_propagate_through_operators() {
        assert_eq!(ok(&bin(BinOp::Add, int(1), null())), Value::Null);
        assert_eq!(ok(&bin(BinOp::Div, col("empty"), int(0))), Value::Null);
        assert_eq!(ok(&bin(BinOp::Mul, col("nope"), int(2))), Value::Absent);
        assert_eq!(ok(&bin(BinOp::Add, col("nope"), null())), Value::Absent);
        assert_eq!(ok(&bin(BinOp::Concat, text("a"), null())), Value::Null);
        assert_eq!(
            ok(&bin(BinOp::Concat, col("nope"), text("a"))),
            Value::Absent
        );
    }

    #[test]
    fn text_concatenation_operator() {
        assert_eq!(
            ok(&bin(BinOp::Concat, col("name"), text(" Ltd"))),
            s("Contoso Ltd")
        );
        assert_eq!(ok(&bin(BinOp::Concat, text("n="), col("n"))), s("n=7"));
        assert_eq!(
            ok(&bin(BinOp::Concat, col("amount"), text(" EUR"))),
            s("12.50 EUR")
        );
        assert_eq!(
            ok(&bin(BinOp::Concat, boolean(true), text("!"))),
            s("true!")
        );
    }

    fn map(arg: Expr, arms: Vec<(Literal, Literal)>, default: Option<Literal>, ic: bool) -> Expr {
        Expr::Map {
            arg: Box::new(arg),
            arms,
            default,
            ignore_case: ic,
        }
    }

    #[test]
    fn value_maps() {
        let arms = vec![
            (Literal::String("A".into()), Literal::Int(1)),
            (Literal::String("B".into()), Literal::Int(2)),
            (Literal::String("a".into()), Literal::Int(3)),
        ];
        assert_eq!(
            ok(&map(text("B"), arms.clone(), None, false)),
            Value::Int(2)
        );
        assert_eq!(
            ok(&map(text("a"), arms.clone(), None, false)),
            Value::Int(3)
        );
        // Ignoring case, the first arm wins.
        assert_eq!(ok(&map(text("a"), arms.clone(), None, true)), Value::Int(1));
        assert_eq!(ok(&map(text("b"), arms.clone(), None, true)), Value::Int(2));
        assert_eq!(
            err(&map(text("b"), arms.clone(), None, false)),
            "no value-map arm matches \"b\" and the map has no default arm"
        );
        assert_eq!(
            ok(&map(text("X"), arms.clone(), Some(Literal::Int(0)), false)),
            Value::Int(0)
        );
        // Null and absent stay as they are, even with a default arm.
        assert_eq!(
            ok(&map(null(), arms.clone(), Some(Literal::Int(0)), false)),
            Value::Null
        );
        assert_eq!(
            ok(&map(col("nope"), arms.clone(), None, false)),
            Value::Absent
        );
        // ...unless there is a null arm.
        let mut with_null = arms.clone();
        with_null.push((Literal::Null, Literal::String("none".into())));
        assert_eq!(
            ok(&map(col("empty"), with_null.clone(), None, false)),
            s("none")
        );
        assert_eq!(ok(&map(col("nope"), with_null, None, false)), s("none"));
        // Numbers compare by value; arm values may be null.
        let num = vec![
            (Literal::Int(1), Literal::Decimal("0.5".into())),
            (Literal::Decimal("2.0".into()), Literal::Null),
        ];
        assert_eq!(ok(&map(dec("1.00"), num.clone(), None, false)), d("0.5"));
        assert_eq!(ok(&map(int(2), num.clone(), None, false)), Value::Null);
        assert_eq!(
            err(&map(int(3), num.clone(), None, false)),
            "no value-map arm matches 3 and the map has no default arm"
        );
        // A value of another type matches no arm rather than failing the comparison.
        assert_eq!(
            ok(&map(text("1"), num, Some(Literal::Int(9)), false)),
            Value::Int(9)
        );
    }

    fn lookup_expr(arg: Expr) -> Expr {
        Expr::Lookup(Box::new(plan::Lookup {
            via: "salespeople".into(),
            from: Side::Left,
            by: None,
            take: None,
            arg,
        }))
    }

    #[test]
    fn lookups() {
        let mut pairs = PairLookups::new();
        pairs.insert("salespeople", Side::Left, s("AH"), s("guid-ah"));
        pairs.insert("salespeople", Side::Right, s("BD"), s("wrong side"));
        pairs.insert("customers", Side::Left, s("BD"), s("wrong table"));
        let functions = UserFunctions::default();
        let ctx = Context {
            functions: &functions,
            lookups: &pairs,
            now: now(),
            zone: TimeZone::UTC,
        };
        let r = row();
        let go = |arg: Expr| eval(&lookup_expr(arg), &r, &ctx);
        assert_eq!(go(text("AH")).unwrap(), s("guid-ah"));
        assert_eq!(
            go(text("BD")).unwrap_err().to_string(),
            "lookup through `salespeople` found no coupled row for \"BD\""
        );
        assert_eq!(go(null()).unwrap(), Value::Null);
        assert_eq!(go(col("nope")).unwrap(), Value::Absent);
        // Null never reaches the lookup implementation.
        let none = Context {
            functions: &functions,
            lookups: &NoLookups,
            now: now(),
            zone: TimeZone::UTC,
        };
        assert_eq!(eval(&lookup_expr(null()), &r, &none).unwrap(), Value::Null);
        assert_eq!(
            eval(&lookup_expr(text("AH")), &r, &none)
                .unwrap_err()
                .to_string(),
            "lookup through `salespeople` failed: no couplings are available here"
        );
    }

    fn functions() -> UserFunctions {
        let defs = BTreeMap::from([
            (
                "net".to_string(),
                plan::Function {
                    params: vec!["gross".into(), "rate".into()],
                    body: bin(
                        BinOp::Div,
                        Expr::Param(0),
                        bin(BinOp::Add, int(1), Expr::Param(1)),
                    ),
                },
            ),
            (
                "shout".to_string(),
                plan::Function {
                    params: vec!["t".into()],
                    body: bin(
                        BinOp::Concat,
                        call("upper", vec![Expr::Param(0)]),
                        text("!"),
                    ),
                },
            ),
            (
                "twice".to_string(),
                plan::Function {
                    params: vec!["t".into()],
                    body: user("shout", vec![user("shout", vec![Expr::Param(0)])]),
                },
            ),
            (
                "forever".to_string(),
                plan::Function {
                    params: vec!["x".into()],
                    body: user("forever", vec![bin(BinOp::Add, Expr::Param(0), int(1))]),
                },
            ),
            (
                "countdown".to_string(),
                plan::Function {
                    params: vec!["x".into()],
                    body: Expr::If {
                        cond: Box::new(bin(BinOp::Le, Expr::Param(0), int(0))),
                        then: Box::new(text("done")),
                        otherwise: Box::new(user(
                            "countdown",
                            vec![bin(BinOp::Sub, Expr::Param(0), int(1))],
                        )),
                    },
                },
            ),
        ]);
        UserFunctions::new(&defs).unwrap()
    }

    #[test]
    fn user_functions() {
        let functions = functions();
        let ctx = Context {
            functions: &functions,
            lookups: &NoLookups,
            now: now(),
            zone: TimeZone::UTC,
        };
        let r = row();
        let go = |e: Expr| eval(&e, &r, &ctx);
        assert_eq!(
            go(user("net", vec![dec("119"), dec("0.19")])).unwrap(),
            d("100")
        );
        assert_eq!(go(user("shout", vec![col("name")])).unwrap(), s("CONTOSO!"));
        assert_eq!(go(user("twice", vec![text("hi")])).unwrap(), s("HI!!"));
        assert_eq!(go(user("shout", vec![col("nope")])).unwrap(), Value::Absent);
        assert_eq!(go(user("countdown", vec![int(63)])).unwrap(), s("done"));
        assert_eq!(
            go(user("countdown", vec![int(64)]))
                .unwrap_err()
                .to_string(),
            "calling `countdown` nests user functions more than 64 deep; is it recursive?"
        );
        assert_eq!(
            go(user("forever", vec![int(0)])).unwrap_err(),
            EvalError::RecursionLimit {
                name: "forever".into()
            }
        );
        assert_eq!(
            go(user("missing", vec![])).unwrap_err().to_string(),
            "unknown user function `missing`: the plan defines no function of that name"
        );
        assert_eq!(
            go(user("shout", vec![])).unwrap_err().to_string(),
            "`shout` takes 1 argument(s), got 0"
        );
    }

    #[test]
    fn parameters_outside_functions_are_rejected() {
        assert_eq!(
            Compiled::new(&Expr::Param(0)).unwrap_err().to_string(),
            "internal: parameter 0 used where there are only 0"
        );
        let defs = BTreeMap::from([(
            "f".to_string(),
            plan::Function {
                params: vec!["a".into()],
                body: Expr::Param(1),
            },
        )]);
        assert_eq!(
            UserFunctions::new(&defs).unwrap_err(),
            EvalError::BadParam {
                index: 1,
                available: 1
            }
        );
    }

    #[test]
    fn compile_errors() {
        assert_eq!(
            err(&call("frobnicate", vec![])),
            "unknown function `frobnicate`"
        );
        assert_eq!(
            err(&call("label", vec![int(3)])),
            "internal: label() reached the evaluator"
        );
        assert_eq!(
            err(&call("left", vec![text("x")])),
            "`left` takes 2 argument(s), got 1"
        );
        assert_eq!(ok(&call("concat", vec![])), s(""));
        assert_eq!(
            err(&call("now", vec![int(1)])),
            "`now` takes 0 argument(s), got 1"
        );
    }

    #[test]
    fn filters() {
        let functions = UserFunctions::default();
        let ctx = Context {
            functions: &functions,
            lookups: &NoLookups,
            now: now(),
            zone: TimeZone::UTC,
        };
        let r = row();
        let f = |e: Expr| eval_filter(&e, &r, &ctx);
        assert!(f(bin(BinOp::Ne, col("name"), null())).unwrap());
        assert!(!f(bin(BinOp::Ne, col("empty"), null())).unwrap());
        assert!(!f(bin(BinOp::Ne, col("nope"), null())).unwrap());
        assert!(!f(bin(BinOp::Gt, col("empty"), int(1))).unwrap());
        assert!(f(bin(
            BinOp::And,
            col("flag"),
            bin(BinOp::Gt, col("n"), int(5))
        ))
        .unwrap());
        assert!(!f(col("nope")).unwrap());
        assert_eq!(
            f(col("n")).unwrap_err().to_string(),
            "a filter expects bool, got int"
        );
        let compiled = Compiled::new(&bin(BinOp::Eq, col("n"), int(7))).unwrap();
        assert!(compiled.eval_filter(&r, &ctx).unwrap());
        assert!(!compiled.eval_filter(&BTreeMap::new(), &ctx).unwrap());
    }

    #[test]
    fn every_catalogue_entry_is_implemented() {
        use crate::functions::{ArgKind, Returns, BUILTINS};
        let sample = |name: &str, k: ArgKind| match k {
            ArgKind::Text if name == "format" => text("%Y-%m-%d"),
            ArgKind::Text => text("2024-03-04"),
            ArgKind::Int => int(2),
            ArgKind::Number => dec("2.5"),
            ArgKind::Temporal => Expr::Lit(Literal::Date("2024-03-04".into())),
            ArgKind::Any => int(5),
        };
        for b in BUILTINS {
            let args: Vec<Expr> = b.params.iter().map(|(n, k)| sample(n, *k)).collect();
            let result = run(&call(b.name, args.clone()));
            if b.name == "label" {
                assert_eq!(result, Err(EvalError::LabelAtRuntime));
                continue;
            }
            let v = result.unwrap_or_else(|e| panic!("{}: {e}", b.name));
            let want = match b.returns {
                Returns::Text => "string",
                Returns::Int => "int",
                Returns::Decimal => "decimal",
                Returns::Bool => "bool",
                Returns::Date => "date",
                Returns::DateTime => "datetime",
                Returns::SameAs(i) => ok(&args[i]).type_name(),
            };
            assert_eq!(v.type_name(), want, "{}", b.name);
            // Absent propagates, or (for the lenient ones) is handled without error.
            if !b.params.is_empty() {
                let mut absent = args.clone();
                absent[0] = col("nope");
                let v = run(&call(b.name, absent)).unwrap();
                let lenient = matches!(b.name, "concat" | "is_null");
                assert_eq!(v == Value::Absent, !lenient, "{}", b.name);
            }
        }
        // And the evaluator knows no function the catalogue lacks.
        let names: Vec<&str> = builtins::ALL.iter().map(|(_, n)| *n).collect();
        let catalogue: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
        assert_eq!(names, catalogue);
    }

    #[test]
    fn plan_json_evaluates() {
        let json = r#"{"bin": {"op": "concat",
            "lhs": {"call": {"func": "upper", "args": [{"col": "name"}]}},
            "rhs": {"map": {"arg": {"col": "n"},
                "arms": [[{"int": 7}, {"string": " (seven)"}]],
                "default": {"string": ""}}}}}"#;
        let expr: Expr = serde_json::from_str(json).unwrap();
        assert_eq!(ok(&expr), s("CONTOSO (seven)"));
        let now_expr: Expr =
            serde_json::from_str(r#"{"call": {"func": "today", "args": []}}"#).unwrap();
        assert_eq!(
            ok(&now_expr),
            Value::Date(Date::from_str("2024-06-01").unwrap())
        );
    }

    #[test]
    fn bad_literals_fail_compilation() {
        let e = err(&Expr::Lit(Literal::Date("2024-02-30".into())));
        assert!(
            e.starts_with("invalid date literal \"2024-02-30\": "),
            "{e}"
        );
        assert!(e.ends_with("must be in range `1..=29`"), "{e}");
        assert!(Compiled::new(&dec("x")).is_err());
    }
}
