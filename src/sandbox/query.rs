//! The query layer of the sandbox's emulated OData services: it reads the query string of a
//! collection request (`$filter`, `$select`, `$orderby`, `$top`, `$skip`, `$skiptoken`, `$count`) and
//! evaluates `$filter` over rows, with the semantics and error messages of a real OData v4
//! service, so the connectors meet in the sandbox what they meet in Dataverse and Business
//! Central.
//!
//! ```
//! # use syncmap::sandbox::query::{eval_filter, parse_query};
//! # use syncmap::value::Value;
//! let q = parse_query("$filter=statecode%20eq%200%20and%20customertypecode%20eq%203&$top=10")
//!     .unwrap();
//! let row = |name: &str| match name {
//!     "statecode" => Some(Value::Int(0)),
//!     "customertypecode" => Some(Value::Int(3)),
//!     _ => None,
//! };
//! assert!(eval_filter(q.filter.as_ref().unwrap(), &row).unwrap());
//! assert_eq!(q.top, Some(10));
//! ```
//!
//! The `$filter` language is OData's for what syncmap's plans push down
//! (`crate::plan::odata`), plus what a client may reasonably add: comparisons (`eq ne lt le gt
//! ge`), `and`, `or`, `not`, `in (…)`, parentheses, the functions `contains`, `startswith`,
//! `endswith`, `tolower`, `toupper`, `trim`, `length`, `year`, `month` and `day`, and literals:
//! strings in single quotes with `''` for a quote, bare GUIDs, integers and decimals (an `m`
//! suffix tolerated), `true`, `false`, `null`, dates and date-times. Other valid OData
//! (arithmetic, `has`, other canonical functions, lambda operators, parameter aliases) is
//! rejected with [`QueryError::Unsupported`] where it can be recognised. The grammar is
//! `grammar/odata.pest`.

mod ast;
mod eval;
mod syntax;
#[cfg(test)]
mod tests;

pub use ast::{CompareOp, FilterExpr, Function, Literal};
pub use eval::{compare_for_orderby, eval_filter, eval_filter_with, EvalOptions};

/// A query the service cannot run, with the message an OData service would send back in its
/// error body. Every variant is a client error (HTTP 400).
///
/// Positions count characters from 0 in the option's percent-decoded value, as Microsoft's
/// OData library counts them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The text breaks the syntax at `position`.
    #[error("Syntax error at position {position} in '{text}'.")]
    Syntax {
        /// Where parsing stopped.
        position: usize,
        /// The whole option value.
        text: String,
    },
    /// A character that cannot start any token, such as `=` or `"`.
    #[error(
        "Syntax error: character '{character}' is not valid at position {position} in '{text}'."
    )]
    InvalidCharacter {
        /// The character.
        character: char,
        /// Its position.
        position: usize,
        /// The whole option value.
        text: String,
    },
    /// A string literal whose closing quote is missing.
    #[error("There is an unterminated string literal at position {position} in '{text}'.")]
    UnterminatedString {
        /// The position of the opening quote.
        position: usize,
        /// The whole option value.
        text: String,
    },
    /// The text ends (or is empty) where an operand should follow, as in `name eq`.
    #[error("Expression expected at position {position} in '{text}'.")]
    ExpressionExpected {
        /// Where an operand was expected.
        position: usize,
        /// The whole option value.
        text: String,
    },
    /// A literal of the right shape with an impossible value, such as `2023-02-30`.
    #[error("Unrecognized '{edm_type}' literal '{literal}' at '{position}' in '{text}'.")]
    BadLiteral {
        /// The EDM type the literal was read as (`Edm.Date`).
        edm_type: &'static str,
        /// The literal's text.
        literal: String,
        /// Its position.
        position: usize,
        /// The whole option value.
        text: String,
    },
    /// A call of a function OData does not define.
    #[error(
        "An unknown function with name '{name}' was found. This may also be a function import \
         or a key lookup on a navigation property, which is not allowed."
    )]
    UnknownFunction {
        /// The name called.
        name: String,
    },
    /// A function called with the wrong number or types of arguments.
    #[error(
        "No function signature for the function with name '{name}' matches the specified \
         arguments. The function signatures considered are: {signatures}."
    )]
    NoMatchingSignature {
        /// The function.
        name: &'static str,
        /// Its signatures, for the message.
        signatures: &'static str,
    },
    /// Valid OData the emulators do not implement: an arithmetic operator, `has`, or a
    /// canonical function other than the supported ones.
    #[error("The {what} '{name}' at position {position} in '{text}' is not supported.")]
    Unsupported {
        /// `operator` or `function`.
        what: &'static str,
        /// The operator or function name.
        name: String,
        /// Its position.
        position: usize,
        /// The whole option value.
        text: String,
    },
    /// Parentheses and `not`s nested deeper than any real filter, refused before they can
    /// exhaust the parser's stack.
    #[error("The recursion limit has been exceeded.")]
    TooDeep,
    /// A property the entity type does not have.
    #[error("Could not find a property named '{property}'{}.", on_type(type_name))]
    UnknownProperty {
        /// The name as the request spelled it.
        property: String,
        /// The qualified entity type, such as `Microsoft.Dynamics.CRM.account`, when known.
        type_name: Option<String>,
    },
    /// A binary operator applied to values of types it cannot combine (`name eq 5`).
    #[error(
        "A binary operator with incompatible types was detected. Found operand types '{left}' \
         and '{right}' for operator kind '{operator}'."
    )]
    IncompatibleOperands {
        /// The left operand's EDM type.
        left: &'static str,
        /// The right operand's EDM type.
        right: &'static str,
        /// The operator kind (`Equal`, `And`, `In`).
        operator: &'static str,
    },
    /// `not` applied to something other than a boolean.
    #[error(
        "A unary operator with an incompatible type was detected. Found operand type \
         '{operand}' for operator kind '{operator}'."
    )]
    IncompatibleOperand {
        /// The operand's EDM type.
        operand: &'static str,
        /// The operator kind (`Not`).
        operator: &'static str,
    },
    /// A `$filter` whose value is not a boolean, such as `$filter=name`.
    #[error("The $filter expression must evaluate to a single boolean value.")]
    NotBoolean,
    /// A `$`-option the emulators do not support (`$expand`, `$search`, a misspelling).
    #[error("The query parameter '{0}' is not supported.")]
    UnsupportedOption(String),
    /// The same system query option given twice.
    #[error(
        "Query option '{0}' was specified more than once, but it must be specified at most once."
    )]
    DuplicateOption(String),
    /// A `$top` that is not a non-negative integer.
    #[error(
        "Invalid value '{0}' for $top query option found. The $top query option requires a \
         non-negative integer value."
    )]
    InvalidTop(String),
    /// A `$skip` that is not a non-negative integer.
    #[error(
        "Invalid value '{0}' for $skip query option found. The $skip query option requires a \
         non-negative integer value."
    )]
    InvalidSkip(String),
    /// A `$count` other than `true` or `false`.
    #[error("Invalid value '{0}' for $count query option found. Valid values are 'true, false'.")]
    InvalidCount(String),
    /// An empty `$skiptoken`.
    #[error("The $skiptoken query option requires a non-empty value.")]
    EmptySkipToken,
}

/// The `on type '…'` part of the unknown-property message.
fn on_type(type_name: &Option<String>) -> String {
    type_name
        .as_deref()
        .map(|t| format!(" on type '{t}'"))
        .unwrap_or_default()
}

impl QueryError {
    /// The error for a property `type_name` does not have, for callers that check
    /// [`FilterExpr::properties`], `$select` and `$orderby` against their schema.
    pub fn unknown_property(property: &str, type_name: Option<&str>) -> QueryError {
        QueryError::UnknownProperty {
            property: property.to_string(),
            type_name: type_name.map(str::to_string),
        }
    }

    /// The same error naming the entity type, when it is about an unknown property; other
    /// errors are returned unchanged. [`eval_filter`] does not know the type, so its caller
    /// adds it: `eval_filter(..).map_err(|e| e.in_type("Microsoft.Dynamics.CRM.account"))`.
    pub fn in_type(self, type_name: &str) -> QueryError {
        match self {
            QueryError::UnknownProperty { property, .. } => QueryError::UnknownProperty {
                property,
                type_name: Some(type_name.to_string()),
            },
            other => other,
        }
    }

    /// Where in the option value the problem is, when the error is about a place in it.
    pub fn position(&self) -> Option<usize> {
        match self {
            QueryError::Syntax { position, .. }
            | QueryError::InvalidCharacter { position, .. }
            | QueryError::UnterminatedString { position, .. }
            | QueryError::ExpressionExpected { position, .. }
            | QueryError::BadLiteral { position, .. }
            | QueryError::Unsupported { position, .. } => Some(*position),
            _ => None,
        }
    }
}

/// Parses a `$filter` value, already percent-decoded, into an expression.
///
/// `not` binds tighter than the comparisons, as OData's precedence table says: `not a eq b`
/// is `(not a) eq b`; write `not (a eq b)` to negate a comparison.
pub fn parse_filter(text: &str) -> Result<FilterExpr, QueryError> {
    syntax::parse_filter(text)
}

/// The system query options of a collection request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// `$filter`, parsed.
    pub filter: Option<FilterExpr>,
    /// `$select`: the properties to return, in request order without repeats; `None` when
    /// absent or when it includes `*`, both meaning every property.
    pub select: Option<Vec<String>>,
    /// `$orderby`: properties with `true` for descending, in priority order; empty when absent.
    pub orderby: Vec<(String, bool)>,
    /// `$top`: at most this many rows in total.
    pub top: Option<usize>,
    /// `$skip`: leave out this many matching rows, in order, before the first one returned
    /// (how services that page by offset write their next links).
    pub skip: Option<usize>,
    /// `$skiptoken`: the opaque continuation a previous page's `@odata.nextLink` carried.
    pub skiptoken: Option<String>,
    /// `$count=true`: include `@odata.count`.
    pub count: bool,
}

/// The system query options this layer reads.
const OPTIONS: [&str; 7] = [
    "$filter",
    "$select",
    "$orderby",
    "$top",
    "$skip",
    "$skiptoken",
    "$count",
];

/// A non-negative integer option value (`$top`, `$skip`): digits only.
fn count(value: &str) -> Option<usize> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| value.parse::<usize>().ok()).flatten()
}

/// Reads the query string of a request URL (with or without its leading `?`).
///
/// Parameters are split on `&` and at their first `=`, then names and values are
/// percent-decoded. A `+` decodes to a space: that is what the form-urlencoded convention
/// every HTTP stack applies to query strings does (`url`'s `query_pairs`, which reqwest uses,
/// writes spaces as `+`), and what the ASP.NET-based services behind Dataverse and Business
/// Central do, so a literal plus (as in a `+02:00` offset) must be sent as `%2B`, on a real
/// service as here. A `%` not followed by two hex digits is kept as it is, and bytes that do
/// not form UTF-8 become U+FFFD, as lenient servers do.
///
/// Option names are matched exactly, in lower case with the `$`, as OData 4.0 requires of
/// clients. Each may appear once. A `$` name other than the seven this layer reads is refused
/// with [`QueryError::UnsupportedOption`]; names without `$` (custom options, `@` aliases) are
/// ignored. Property names in `$select` and `$orderby` are checked for syntax only; whether the
/// entity type has them is the caller's check (see [`QueryError::unknown_property`]).
pub fn parse_query(raw_query: &str) -> Result<Query, QueryError> {
    let raw = raw_query.strip_prefix('?').unwrap_or(raw_query);
    let mut query = Query::default();
    let mut seen: Vec<String> = Vec::new();
    for param in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        let name = percent_decode(name);
        if !name.starts_with('$') {
            continue;
        }
        if !OPTIONS.contains(&name.as_str()) {
            return Err(QueryError::UnsupportedOption(name));
        }
        if seen.contains(&name) {
            return Err(QueryError::DuplicateOption(name));
        }
        let value = percent_decode(value);
        match name.as_str() {
            "$filter" => query.filter = Some(parse_filter(&value)?),
            "$select" => {
                let items = syntax::parse_select(&value)?;
                if !items.iter().any(|i| i == "*") {
                    let mut unique: Vec<String> = Vec::new();
                    for item in items {
                        if !unique.contains(&item) {
                            unique.push(item);
                        }
                    }
                    query.select = Some(unique);
                }
            }
            "$orderby" => query.orderby = syntax::parse_orderby(&value)?,
            "$top" => {
                query.top =
                    Some(count(&value).ok_or_else(|| QueryError::InvalidTop(value.clone()))?)
            }
            "$skip" => {
                query.skip =
                    Some(count(&value).ok_or_else(|| QueryError::InvalidSkip(value.clone()))?)
            }
            "$skiptoken" if value.is_empty() => return Err(QueryError::EmptySkipToken),
            "$skiptoken" => query.skiptoken = Some(value),
            "$count" => {
                query.count = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(QueryError::InvalidCount(value)),
                }
            }
            _ => {}
        }
        seen.push(name);
    }
    Ok(query)
}

/// Decodes one name or value of a query string: `+` is a space and `%XX` the byte `XX`.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of one hexadecimal digit.
fn hex(b: Option<&u8>) -> Option<u8> {
    let c = char::from(*b?);
    c.to_digit(16).and_then(|d| u8::try_from(d).ok())
}
