//! Column values across the JSON boundary: reading a written value against its column
//! (type, option values, enum members, length, nullability) and writing stored values back.
//! The checks are shared; each service words the errors its own way.

use crate::runtime::value::Value;
use crate::schema::{ColumnSchema, ColumnType};

use super::store::type_of;

pub(crate) use crate::odata::json::{from_json, to_json};

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

/// Reads a written JSON value for a column and checks it against the column.
pub(crate) fn read(c: &ColumnSchema, j: &serde_json::Value) -> Result<Value, Problem> {
    let ty = type_of(c);
    // Strict types: JSON text is not a number, a number is not text (services reject both).
    let shape_ok = match (&c.ty, j) {
        (_, serde_json::Value::Null) => true,
        (ColumnType::Int | ColumnType::Option { .. } | ColumnType::Decimal { .. }, v) => {
            v.is_number()
        }
        (ColumnType::Bool, v) => v.is_boolean(),
        (_, v) => v.is_string(),
    };
    if !shape_ok {
        return Err(Problem::Type(edm_type(c)));
    }
    let v = from_json(j, ty).map_err(|_| Problem::Type(edm_type(c)))?;
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
        (ColumnType::Option { options }, Value::Int(i))
            if !options.is_empty() && !options.iter().any(|o| o.value == *i) =>
        {
            return Err(Problem::NotAnOption(*i));
        }
        (ColumnType::Enum { members }, Value::String(s))
            if !members.is_empty() && !members.contains(s) =>
        {
            return Err(Problem::NotAMember(s.clone()));
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

/// The label of an option value, for formatted-value annotations.
pub(crate) fn option_label(c: &ColumnSchema, v: &Value) -> Option<String> {
    match (&c.ty, v) {
        (ColumnType::Option { options }, Value::Int(i)) => options
            .iter()
            .find(|o| o.value == *i)
            .map(|o| o.label.clone()),
        _ => None,
    }
}
