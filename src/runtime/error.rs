//! Why an expression could not be evaluated: the evaluator's and the built-in functions' one
//! error type, apart from both so neither imports the other for it.

use crate::value::{quote, Value, ValueError};

/// How deeply user functions may call each other before evaluation gives up, so a recursive
/// function fails the field instead of overflowing the stack.
pub const MAX_CALL_DEPTH: usize = 64;

/// Why an expression could not be evaluated. Messages are shown to users as the reason a field
/// or record failed, so they name the function or operator and quote the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// A constant of the plan, or a value a system sent, cannot be read.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// A function or operator got a value of a type it does not take.
    #[error("{what} expects {expected}, got {found}")]
    Type {
        /// The function or operator, e.g. "`upper`" or "a filter".
        what: String,
        /// The types it accepts.
        expected: &'static str,
        /// The type it got.
        found: &'static str,
    },
    /// A binary operator got operands it cannot combine.
    #[error("`{op}` cannot combine {left} and {right}")]
    Operands {
        /// The operator as written.
        op: &'static str,
        /// The left operand's type.
        left: &'static str,
        /// The right operand's type.
        right: &'static str,
    },
    /// `/` or `%` by zero.
    #[error("division by zero")]
    DivisionByZero,
    /// A result does not fit its type (`i64` for ints, 96-bit mantissa for decimals, the
    /// supported date range for dates).
    #[error("overflow in {op}: the result is out of range")]
    Overflow {
        /// The operator or function.
        op: String,
    },
    /// A value map without default arm met a value none of its arms has.
    #[error("no value-map arm matches {value} and the map has no default arm")]
    NoMapArm {
        /// The unmatched value, as shown by [`Value`]'s `Display`.
        value: String,
    },
    /// A lookup found no coupling for the value.
    #[error("lookup through `{via}` found no coupled row for {value}")]
    LookupNotFound {
        /// The table mapping looked through.
        via: String,
        /// The value, as shown by [`Value`]'s `Display`.
        value: String,
    },
    /// A lookup could not be carried out at all.
    #[error("lookup through `{via}` failed: {message}")]
    Lookup {
        /// The table mapping looked through.
        via: String,
        /// Why.
        message: String,
    },
    /// `parse_date`/`parse_datetime` got text that does not fit the format.
    #[error("`{func}`: {} does not match format {} ({reason})", quote(.text), quote(.format))]
    DateFormat {
        /// The function.
        func: &'static str,
        /// The text.
        text: String,
        /// The strftime format.
        format: String,
        /// The parser's explanation.
        reason: String,
    },
    /// A conversion got text that is not a number.
    #[error("`{func}`: {} is not a number", quote(.text))]
    NotANumber {
        /// The function.
        func: &'static str,
        /// The text.
        text: String,
    },
    /// An argument has the right type but an unusable value (a negative count, an empty fill).
    #[error("`{func}`: {message}")]
    Argument {
        /// The function.
        func: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A call names no built-in function.
    #[error("unknown function `{name}`")]
    UnknownFunction {
        /// The name called.
        name: String,
    },
    /// A call names a user function the plan does not define.
    #[error("unknown user function `{name}`: the plan defines no function of that name")]
    UnknownUserFunction {
        /// The name called.
        name: String,
    },
    /// A call has the wrong number of arguments.
    #[error("`{func}` takes {expected} argument(s), got {found}")]
    Arity {
        /// The function.
        func: String,
        /// How many it takes, e.g. "2" or "at least 1".
        expected: String,
        /// How many it got.
        found: usize,
    },
    /// User functions nested deeper than [`MAX_CALL_DEPTH`].
    #[error(
        "calling `{name}` nests user functions more than {MAX_CALL_DEPTH} deep; is it recursive?"
    )]
    RecursionLimit {
        /// The function whose call went too deep.
        name: String,
    },
    /// `{"param": i}` outside a function body or beyond its parameters (a compiler bug).
    #[error("internal: parameter {index} used where there are only {available}")]
    BadParam {
        /// The index.
        index: usize,
        /// How many parameters are in scope.
        available: usize,
    },
    /// The checker replaces `label(x)` with a value map; meeting it here is a compiler bug.
    #[error("internal: label() reached the evaluator")]
    LabelAtRuntime,
}

pub(crate) fn type_err(what: &str, expected: &'static str, found: &Value) -> EvalError {
    EvalError::Type {
        what: what.to_string(),
        expected,
        found: found.type_name(),
    }
}

pub(crate) fn overflow(op: &str) -> EvalError {
    EvalError::Overflow { op: op.to_string() }
}
