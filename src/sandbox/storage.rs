//! How the sandbox stores values in SQLite, per column type — its own, not the SQLite
//! connector's, so a client test against the sandbox and a sync into SQLite exercise two
//! codecs rather than one twice.
//!
//! Text-like columns as TEXT; whole numbers and booleans as INTEGER; decimals as TEXT with the
//! digits written (`12.5000` stays `12.5000`: a column's scale is the service's, not ours to
//! normalise away); dates as `YYYY-MM-DD`; date-times as fixed-width UTC text with
//! microseconds, so text order is time order for the keyset scans. Files written by earlier
//! versions (normalised decimals, the same date-time text) read back unchanged.

use std::str::FromStr;

use jiff::civil::Date;
use jiff::tz::Offset;
use jiff::Timestamp;
use rusqlite::types::{Value as SqlValue, ValueRef};

use crate::schema::{ColumnSchema, ColumnType};
use crate::value::Value;

use super::codec::decimal;

/// An instant as stored: UTC, microseconds, `Z`, fixed width for years 0 to 9999.
pub(crate) fn timestamp_text(t: Timestamp) -> String {
    let dt = Offset::UTC.to_datetime(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.subsec_nanosecond() / 1000
    )
}

/// A value as stored in column `c`; the error says why it does not fit.
pub(crate) fn encode(c: &ColumnSchema, v: &Value) -> Result<SqlValue, String> {
    let wrong = || Err(format!("{v:?} is not a value of column `{}`", c.name));
    Ok(match (&c.ty, v) {
        (_, Value::Absent | Value::Null) => SqlValue::Null,
        (ColumnType::Int | ColumnType::Option { .. }, Value::Int(i)) => SqlValue::Integer(*i),
        (ColumnType::Bool, Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
        (ColumnType::Decimal { .. }, Value::Decimal(d)) => SqlValue::Text(d.to_string()),
        (ColumnType::Decimal { .. }, Value::Int(i)) => SqlValue::Text(i.to_string()),
        (ColumnType::Date, Value::Date(d)) => SqlValue::Text(d.to_string()),
        (ColumnType::Datetime, Value::DateTime(t)) => SqlValue::Text(timestamp_text(*t)),
        (ColumnType::Guid, Value::String(s)) => SqlValue::Text(s.to_ascii_lowercase()),
        (
            ColumnType::String { .. } | ColumnType::Enum { .. } | ColumnType::Lookup { .. },
            Value::String(s),
        ) => SqlValue::Text(s.clone()),
        _ => return wrong(),
    })
}

/// A stored value of column `c` read back; text that is not a value of the column's type is
/// an error (a corrupt file), never null.
pub(crate) fn decode(c: &ColumnSchema, raw: ValueRef<'_>) -> Result<Value, String> {
    let text = || match raw {
        ValueRef::Text(b) => std::str::from_utf8(b).ok(),
        _ => None,
    };
    let wrong = || Err(format!("column `{}` holds {raw:?}", c.name));
    Ok(match (&c.ty, raw) {
        (_, ValueRef::Null) => Value::Null,
        (ColumnType::Int | ColumnType::Option { .. }, ValueRef::Integer(i)) => Value::Int(i),
        (ColumnType::Bool, ValueRef::Integer(i)) => Value::Bool(i != 0),
        (ColumnType::Decimal { .. }, ValueRef::Integer(i)) => Value::Decimal(i.into()),
        (ColumnType::Decimal { .. }, ValueRef::Text(_)) => match text().and_then(decimal) {
            Some(d) => Value::Decimal(d),
            None => return wrong(),
        },
        (ColumnType::Date, ValueRef::Text(_)) => match text().map(Date::from_str) {
            Some(Ok(d)) => Value::Date(d),
            _ => return wrong(),
        },
        (ColumnType::Datetime, ValueRef::Text(_)) => match text().map(Timestamp::from_str) {
            Some(Ok(t)) => Value::DateTime(t),
            _ => return wrong(),
        },
        // A key of an integer-keyed table is bound as text and stored as an integer by the
        // column's affinity; text columns hold only text.
        (
            ColumnType::String { .. }
            | ColumnType::Enum { .. }
            | ColumnType::Guid
            | ColumnType::Lookup { .. },
            ValueRef::Text(_),
        ) => match text() {
            Some(s) => Value::String(s.to_string()),
            None => return wrong(),
        },
        _ => return wrong(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn column(ty: ColumnType) -> ColumnSchema {
        ColumnSchema::new("c", ty)
    }

    #[test]
    fn decimals_are_stored_as_their_exact_text() {
        let c = column(ColumnType::Decimal {
            precision: Some(38),
            scale: Some(28),
        });
        for text in [
            "-98765432109876.5432",
            "12345678901234.5678",
            "0.0000000000000000000000000001",
            "1234567890123456789012345678",
            "12.5000",
        ] {
            let v = Value::Decimal(decimal(text).unwrap());
            let stored = encode(&c, &v).unwrap();
            assert_eq!(stored, SqlValue::Text(text.into()));
            let back = decode(&c, ValueRef::Text(text.as_bytes())).unwrap();
            assert_eq!(back, v);
            match back {
                Value::Decimal(d) => assert_eq!(d.to_string(), text),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn every_type_round_trips_and_date_times_sort_as_text() {
        let t1 = Timestamp::from_str("2024-02-29T08:00:00.000001Z").unwrap();
        let t2 = Timestamp::from_str("2024-02-29T08:00:00.00001Z").unwrap();
        let (a, b) = (timestamp_text(t1), timestamp_text(t2));
        assert!(a < b, "{a} {b}");
        for (ty, v) in [
            (ColumnType::Int, Value::Int(-7)),
            (ColumnType::Bool, Value::Bool(true)),
            (ColumnType::Datetime, Value::DateTime(t1)),
            (
                ColumnType::Date,
                Value::Date(Date::from_str("2024-02-29").unwrap()),
            ),
            (
                ColumnType::String { max_length: None },
                Value::String("x".into()),
            ),
            (
                ColumnType::Guid,
                Value::String("00000000-0000-0000-0000-00000000000a".into()),
            ),
        ] {
            let c = column(ty);
            let stored = encode(&c, &v).unwrap();
            let raw = match &stored {
                SqlValue::Integer(i) => ValueRef::Integer(*i),
                SqlValue::Text(s) => ValueRef::Text(s.as_bytes()),
                other => panic!("{other:?}"),
            };
            assert_eq!(decode(&c, raw).unwrap(), v);
        }
        let c = column(ColumnType::Int);
        assert!(encode(&c, &Value::String("1".into())).is_err());
        assert!(decode(&c, ValueRef::Text(b"x")).is_err());
    }
}
