//! Column values across the JSON boundary: reading a written value against its column
//! (type, option values, enum members, length, decimal precision and scale, nullability) with
//! the sandbox's own [`codec`](super::codec). The checks are shared; each service words the
//! errors its own way.

use crate::schema::{ColumnSchema, ColumnType};
use crate::value::Value;

use super::codec::{self, Numbers, Overflow};

/// Why a written value does not fit its column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    /// Not of the column's type; the EDM type expected.
    Type(&'static str),
    /// Null in a column that cannot be empty.
    Null,
    /// Text longer than the column's maximum.
    TooLong {
        /// The maximum.
        max: u32,
        /// The length written.
        len: usize,
    },
    /// An integer that is not one of the option set's values.
    NotAnOption(i64),
    /// Text that is not one of the enum's members.
    NotAMember(String),
    /// A decimal with more digits than the column holds.
    Digits(Overflow),
}

/// The EDM type name of a column, for messages and `$metadata`.
pub(crate) fn edm_type(c: &ColumnSchema) -> &'static str {
    match &c.ty {
        ColumnType::String { .. } | ColumnType::Enum { .. } => "Edm.String",
        ColumnType::Int | ColumnType::Option { .. } => "Edm.Int32",
        ColumnType::Decimal { .. } => "Edm.Decimal",
        ColumnType::Bool => "Edm.Boolean",
        ColumnType::Date => "Edm.Date",
        ColumnType::Datetime => "Edm.DateTimeOffset",
        ColumnType::Guid | ColumnType::Lookup { .. } => "Edm.Guid",
    }
}

/// Reads a written JSON value for a column and checks it against the column, a choice's value
/// against the snapshot's options.
pub(crate) fn read(
    c: &ColumnSchema,
    j: &serde_json::Value,
    numbers: Numbers,
) -> Result<Value, Problem> {
    let v = read_any_option(c, j, numbers)?;
    if let (ColumnType::Option { options }, Value::Int(i)) = (&c.ty, &v) {
        // An empty list is a snapshot that does not know the options (a CSDL import).
        if !options.is_empty() && !options.iter().any(|o| o.value == *i) {
            return Err(Problem::NotAnOption(*i));
        }
    }
    Ok(v)
}

/// [`read`], leaving a choice's value to the caller to check: for a service whose options
/// change while it runs (Dataverse's live options).
pub(crate) fn read_any_option(
    c: &ColumnSchema,
    j: &serde_json::Value,
    numbers: Numbers,
) -> Result<Value, Problem> {
    // Strict types: JSON text is not a number (unless the request said IEEE754Compatible), a
    // number is not text (services reject both).
    let v = codec::read(c, j, numbers).ok_or(Problem::Type(edm_type(c)))?;
    if v.is_missing() {
        return if c.nullable {
            Ok(Value::Null)
        } else {
            Err(Problem::Null)
        };
    }
    match (&c.ty, &v) {
        (
            ColumnType::String {
                max_length: Some(max),
            },
            Value::String(s),
        ) => {
            let len = s.chars().count();
            if len > usize::try_from(*max).unwrap_or(usize::MAX) {
                return Err(Problem::TooLong { max: *max, len });
            }
        }
        (ColumnType::Enum { members }, Value::String(s))
            if !members.is_empty() && !members.contains(s) =>
        {
            return Err(Problem::NotAMember(s.clone()));
        }
        (ColumnType::Decimal { precision, scale }, Value::Decimal(d)) => {
            codec::fits(d, *precision, *scale).map_err(Problem::Digits)?;
        }
        (ColumnType::Guid | ColumnType::Lookup { .. }, Value::String(s)) => {
            if uuid::Uuid::parse_str(s).is_err() {
                return Err(Problem::Type("Edm.Guid"));
            }
            return Ok(Value::String(s.to_ascii_lowercase()));
        }
        _ => {}
    }
    Ok(v)
}

/// What a Business Central GUID field holds when it refers to nothing.
pub(crate) const EMPTY_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// A row's value as a filter compares it: Business Central (`bc`) has no null GUID, and a
/// GUID field that refers to nothing holds all zeros, as its answers show it.
pub(crate) fn as_filtered(
    table: &crate::schema::TableSchema,
    bc: bool,
    column: &str,
    v: Value,
) -> Value {
    let guid = table
        .column(column)
        .is_some_and(|c| c.ty == ColumnType::Guid && c.name != table.key);
    match v {
        Value::Null if bc && guid => Value::String(EMPTY_GUID.to_string()),
        v => v,
    }
}
