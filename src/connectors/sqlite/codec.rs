//! Values to and from SQLite storage, by plan column type, and the modified-on clock.
//!
//! Storage: text-like types (`string`, `enum`, `lookup`, `guid`) as TEXT (GUIDs lower case);
//! `int`/`option` as INTEGER; `bool` as INTEGER 0/1; `decimal` as TEXT holding the normalized
//! exact decimal (`12.50` is stored `12.5`, so equal numbers are equal text); `date` as TEXT
//! `YYYY-MM-DD`; `datetime` as fixed-width TEXT `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC, so text
//! order is time order. NULL for null.

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::civil::Date;
use jiff::Timestamp;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::value::{parse_decimal, parse_timestamp, ColumnKind, Value};

/// Text of an instant as stored: UTC, microseconds, `Z`, fixed width for years 0 to 9999 (other
/// years, which jiff allows down to -9999, fall back to jiff's RFC 3339 text). Sub-microsecond
/// digits are dropped.
pub(crate) fn format_timestamp(t: Timestamp) -> String {
    crate::value::utc_micros(t).unwrap_or_else(|| t.to_string())
}

/// The last modified-on stamp handed out in this process, in microseconds since the epoch.
static LAST_STAMP: AtomicI64 = AtomicI64::new(i64::MIN);

/// A modified-on stamp: now in UTC with microsecond precision, but always at least 1 µs after
/// the previous stamp of this process (whatever the connector or file), so stamps never repeat
/// within a process even when the clock is coarse or steps back.
pub(crate) fn next_stamp() -> Result<Timestamp, String> {
    let now = Timestamp::now().as_microsecond();
    let step = |last: i64| Some(now.max(last.saturating_add(1)));
    let last = match LAST_STAMP.fetch_update(Ordering::AcqRel, Ordering::Acquire, step) {
        Ok(last) | Err(last) => last,
    };
    let micros = now.max(last.saturating_add(1));
    Timestamp::from_microsecond(micros).map_err(|e| format!("cannot stamp a write: {e}"))
}

/// A value as stored in a column of plan type `ty` (a `ColumnInfo::ty` string; any other
/// string stores values by their own type). The error says why the value does not fit.
pub(crate) fn encode(ty: ColumnKind, v: &Value) -> Result<SqlValue, String> {
    let wrong = |expected: &str| Err(format!("expected {expected}, got {}", describe(v)));
    Ok(match (ty, v) {
        (_, Value::Absent | Value::Null) => SqlValue::Null,
        (ColumnKind::Guid, Value::String(s)) => SqlValue::Text(s.to_ascii_lowercase()),
        (ColumnKind::Guid, _) => return wrong("a GUID"),
        (ColumnKind::String | ColumnKind::Enum | ColumnKind::Lookup, Value::DateTime(t)) => {
            SqlValue::Text(format_timestamp(*t))
        }
        (ColumnKind::String | ColumnKind::Enum | ColumnKind::Lookup, other) => {
            match other.to_text() {
                Some(s) => SqlValue::Text(s),
                None => SqlValue::Null,
            }
        }
        (ColumnKind::Int | ColumnKind::Option, Value::Int(i)) => SqlValue::Integer(*i),
        (ColumnKind::Int | ColumnKind::Option, Value::Decimal(d)) if d.fract().is_zero() => {
            match d.to_i64() {
                Some(i) => SqlValue::Integer(i),
                None => return wrong("a whole number in range"),
            }
        }
        (ColumnKind::Int | ColumnKind::Option, _) => return wrong("a whole number"),
        (ColumnKind::Decimal, Value::Decimal(d)) => SqlValue::Text(decimal_text(*d)),
        (ColumnKind::Decimal, Value::Int(i)) => SqlValue::Text(i.to_string()),
        (ColumnKind::Decimal, _) => return wrong("a decimal"),
        (ColumnKind::Bool, Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
        (ColumnKind::Bool, _) => return wrong("true or false"),
        (ColumnKind::Date, Value::Date(d)) => SqlValue::Text(d.to_string()),
        (ColumnKind::Date, _) => return wrong("a date"),
        (ColumnKind::Datetime, Value::DateTime(t)) => SqlValue::Text(format_timestamp(*t)),
        (ColumnKind::Datetime, _) => return wrong("a date-time"),
    })
}

/// A decimal's stored text: normalized (no trailing zeros, no `-0`), never scientific.
pub(super) fn decimal_text(d: Decimal) -> String {
    d.normalize().to_string()
}

/// A stored value read back as a value of plan type `ty`. Lenient about storage classes a
/// foreign writer may have used (an INTEGER in a decimal column, `'true'` in a bool column),
/// strict about content: text that is not a valid value of the type is an error, never null,
/// so bad data cannot clear a column of the other system.
pub(crate) fn decode(ty: ColumnKind, raw: ValueRef<'_>) -> Result<Value, String> {
    let text = match raw {
        ValueRef::Null => return Ok(Value::Null),
        ValueRef::Text(bytes) => {
            Some(std::str::from_utf8(bytes).map_err(|_| "text that is not UTF-8".to_string())?)
        }
        ValueRef::Blob(_) => return Err("a BLOB, which no column type holds".into()),
        _ => None,
    };
    let value = match ty {
        ColumnKind::Int | ColumnKind::Option => whole_number(raw, text),
        ColumnKind::Decimal => decimal(raw, text),
        ColumnKind::Bool => boolean(raw, text),
        ColumnKind::Date | ColumnKind::Datetime => calendar(ty, text),
        _ => text_like(ty, raw, text),
    };
    value.map_err(|expected| format!("expected {expected}, found {}", found(raw, text)))
}

/// How an unreadable stored value is shown in the error.
fn found(raw: ValueRef<'_>, text: Option<&str>) -> String {
    match (raw, text) {
        (_, Some(t)) => format!("text {}", crate::value::quote(t)),
        (ValueRef::Integer(i), _) => format!("integer {i}"),
        (ValueRef::Real(f), _) => format!("real {f}"),
        _ => "a value".into(),
    }
}

// Each reader below takes a non-null stored value (its text when it is TEXT) and gives the
// value, or what was expected instead.

fn whole_number(raw: ValueRef<'_>, text: Option<&str>) -> Result<Value, &'static str> {
    Ok(match (raw, text) {
        (ValueRef::Integer(i), _) => Value::Int(i),
        (ValueRef::Real(f), _) if f.fract() == 0.0 && f.abs() < 9.0e18 => {
            // Checked to be whole and in range, so the conversion is exact.
            Value::Int(f as i64)
        }
        (_, Some(s)) => match s.trim().parse() {
            Ok(i) => Value::Int(i),
            Err(_) => return Err("a whole number"),
        },
        (_, _) => return Err("a whole number"),
    })
}

fn decimal(raw: ValueRef<'_>, text: Option<&str>) -> Result<Value, &'static str> {
    let parsed = match (raw, text) {
        (ValueRef::Integer(i), _) => return Ok(Value::Decimal(Decimal::from(i))),
        (ValueRef::Real(f), _) => parse_decimal(&f.to_string()),
        (_, Some(s)) => parse_decimal(s.trim()),
        // Not reached (a value without text is an INTEGER or a REAL); read as any type would.
        (_, None) => return text_like(ColumnKind::Decimal, raw, text),
    };
    parsed.map(Value::Decimal).ok_or("a decimal")
}

fn boolean(raw: ValueRef<'_>, text: Option<&str>) -> Result<Value, &'static str> {
    match (raw, text) {
        (ValueRef::Integer(i), _) => Ok(Value::Bool(i != 0)),
        (_, Some("true" | "TRUE" | "1")) => Ok(Value::Bool(true)),
        (_, Some("false" | "FALSE" | "0")) => Ok(Value::Bool(false)),
        (_, _) => Err("0 or 1"),
    }
}

/// A `date` or `datetime`, which must be stored as text.
fn calendar(ty: ColumnKind, text: Option<&str>) -> Result<Value, &'static str> {
    if ty == ColumnKind::Date {
        let expected = "a date like 2024-01-31";
        let s = text.ok_or(expected)?;
        Date::from_str(s).map(Value::Date).map_err(|_| expected)
    } else {
        let expected = "a date-time like 2024-01-31T08:00:00.000000Z";
        let s = text.ok_or(expected)?;
        parse_timestamp(s)
            .map(Value::DateTime)
            .map_err(|_| expected)
    }
}

/// Text-like types (`string`, `enum`, `lookup`, `guid`) take numbers as their text; any other
/// type keeps what is stored.
fn text_like(ty: ColumnKind, raw: ValueRef<'_>, text: Option<&str>) -> Result<Value, &'static str> {
    Ok(match (ty, raw, text) {
        (ColumnKind::Guid, _, Some(s)) => Value::String(s.to_ascii_lowercase()),
        (
            ColumnKind::String | ColumnKind::Enum | ColumnKind::Lookup | ColumnKind::Guid,
            ValueRef::Integer(i),
            _,
        ) => Value::String(i.to_string()),
        (
            ColumnKind::String | ColumnKind::Enum | ColumnKind::Lookup | ColumnKind::Guid,
            ValueRef::Real(f),
            _,
        ) => Value::String(f.to_string()),
        (_, _, Some(s)) => Value::String(s.to_string()),
        (_, ValueRef::Integer(i), _) => Value::Int(i),
        (_, ValueRef::Real(f), _) => match parse_decimal(&f.to_string()) {
            Some(d) => Value::Decimal(d),
            None => return Err("a number"),
        },
        (_, _, None) => return Err("a value"),
    })
}

/// A key as bound in a `WHERE key = ?` on a key column of plan type `ty`; `None` when the text
/// cannot be a key of that type (so no row has it).
pub(super) fn key_param(ty: ColumnKind, key: &str) -> Option<SqlValue> {
    match ty {
        ColumnKind::Int | ColumnKind::Option => key.trim().parse().ok().map(SqlValue::Integer),
        ColumnKind::Guid => Some(SqlValue::Text(key.to_ascii_lowercase())),
        _ => Some(SqlValue::Text(key.to_string())),
    }
}

/// The text of a key value read from a row (`Row::key`).
pub(super) fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::DateTime(t) => Some(format_timestamp(*t)),
        other => other.to_text(),
    }
}

/// A value's type and text for messages.
fn describe(v: &Value) -> String {
    match v {
        Value::String(_) => format!("string {v}"),
        other => format!("{} {}", other.type_name(), other),
    }
}
