//! Runtime values to and from OData JSON (OData JSON Format v4.01 §7), typed by the plan's
//! column type.
//!
//! Reading is stricter than [`Value::from_json`]: an OData service states its types in its
//! metadata, so a number where a string column is expected means the schema snapshot is
//! stale, and that must surface as an error rather than be converted silently. The two
//! liberties taken are the ones OData itself allows: numbers sent as strings (the
//! `IEEE754Compatible=true` format parameter) and date-times with any offset.
//!
//! Decimals never pass through a binary float: serde_json is built with
//! `arbitrary_precision`, so a JSON number keeps the digits the service wrote and reading
//! parses them exactly (`12.50` reads as `12.50`, scale kept; 28 significant digits survive).
//! Writing emits the decimal's own digits, normalized (`12.50` is sent as `12.5`).

use std::str::FromStr;

use jiff::civil::Date;
use serde_json::Value as J;

use crate::value::{parse_decimal, parse_timestamp, ColumnKind, Value};

/// The OData JSON of a runtime value. `Absent` gives `null` too; writers must skip absent
/// fields rather than send them, because `null` would clear the column.
///
/// Dates are `YYYY-MM-DD`, date-times RFC 3339 in UTC with `Z`, GUIDs the text as held
/// (the runtime keeps them lower case), decimals numbers as described in the module docs.
pub fn to_json(v: &Value) -> J {
    // The runtime's own JSON already spells every type the way OData JSON does (decimals
    // through their normalized text); the tests below pin that down for the wire.
    v.to_json()
}

/// A runtime value from OData JSON for a column of plan type `ty`.
///
/// `string`/`enum` take JSON strings; `guid` takes a string and lower-cases it, `lookup` a
/// string lower-cased when it is a GUID (lookups to Business Central codes keep their case);
/// `int`/`option` a whole number; `decimal` a number or numeric string, parsed exactly from
/// its text; `bool` a boolean; `date` a `YYYY-MM-DD` string; `datetime` an RFC 3339 string,
/// any offset converted to UTC (no offset is taken as UTC). `int`/`option` also accept
/// integer strings, as `IEEE754Compatible` services send Int64. `null` is [`Value::Null`] for
/// every type. Another type name maps JSON types naturally, like [`Value::from_json`]
/// without a hint.
///
/// The error is `expected …, got …`, naming the JSON found.
pub fn from_json(j: &J, ty: ColumnKind) -> Result<Value, String> {
    use ColumnKind as K;
    let wrong = |expected: &str| Err(format!("expected {expected}, got {}", describe(j)));
    match (ty, j) {
        (_, J::Null) => Ok(Value::Null),
        (K::String | K::Enum, J::String(s)) => Ok(Value::String(s.clone())),
        (K::String | K::Enum, _) => wrong("a string"),
        (K::Guid, J::String(s)) => Ok(Value::String(s.to_ascii_lowercase())),
        (K::Lookup, J::String(s)) => Ok(Value::String(if uuid::Uuid::parse_str(s).is_ok() {
            s.to_ascii_lowercase()
        } else {
            s.clone()
        })),
        (K::Guid, _) => wrong("a GUID string"),
        (K::Lookup, _) => wrong("a string"),
        (K::Int | K::Option, J::Number(n)) => match whole(&n.to_string()) {
            Some(i) => Ok(Value::Int(i)),
            None => wrong("a whole number"),
        },
        (K::Int | K::Option, J::String(s)) => match s.trim().parse() {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => wrong("a whole number"),
        },
        (K::Int | K::Option, _) => wrong("a whole number"),
        (K::Decimal, J::Number(n)) => match parse_decimal(&n.to_string()) {
            Some(d) => Ok(Value::Decimal(d)),
            None => wrong("a decimal in range"),
        },
        (K::Decimal, J::String(s)) => match parse_decimal(s.trim()) {
            Some(d) => Ok(Value::Decimal(d)),
            None => wrong("a decimal"),
        },
        (K::Decimal, _) => wrong("a decimal"),
        (K::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
        (K::Bool, _) => wrong("true or false"),
        (K::Date, J::String(s)) => match Date::from_str(s) {
            Ok(d) => Ok(Value::Date(d)),
            Err(_) => wrong("a date like 2024-01-31"),
        },
        (K::Date, _) => wrong("a date string"),
        (K::Datetime, J::String(s)) => match parse_timestamp(s) {
            Ok(t) => Ok(Value::DateTime(t)),
            Err(_) => wrong("a date-time like 2024-01-31T08:00:00Z"),
        },
        (K::Datetime, _) => wrong("a date-time string"),
    }
}

/// An `i64` from a JSON number's text, accepting `3.0` and `3e2` but not `3.5`.
fn whole(text: &str) -> Option<i64> {
    if let Ok(i) = text.parse() {
        return Some(i);
    }
    let d = parse_decimal(text)?;
    if d.fract().is_zero() {
        rust_decimal::prelude::ToPrimitive::to_i64(&d)
    } else {
        None
    }
}

/// The JSON found, for messages: its kind and, for scalars, a short form of its text.
fn describe(j: &J) -> String {
    let text = j.to_string();
    let short = if text.chars().count() > 40 {
        format!("{}...", text.chars().take(37).collect::<String>())
    } else {
        text
    };
    match j {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(_) => format!("number {short}"),
        J::String(_) => format!("string {short}"),
        J::Array(_) => "an array".into(),
        J::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use jiff::Timestamp;
    use rust_decimal::Decimal;
    use serde_json::json;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    /// to_json then from_json gives a value equal to the original (by `same_as` for
    /// decimals, whose scale JSON does not carry).
    fn round_trip(v: Value, ty: ColumnKind) -> Value {
        let j = to_json(&v);
        let back = from_json(&j, ty).unwrap();
        assert!(back.same_as(&v), "{v} as {ty} became {j} and {back}");
        back
    }

    #[test]
    fn every_type_round_trips() {
        round_trip(Value::Null, ColumnKind::String);
        round_trip(Value::Null, ColumnKind::Datetime);
        round_trip(Value::String("Zoë \"x\"".into()), ColumnKind::String);
        round_trip(Value::String("Open".into()), ColumnKind::Enum);
        round_trip(
            Value::String("3f2504e0-4f89-11d3-9a0c-0305e82c3301".into()),
            ColumnKind::Guid,
        );
        round_trip(Value::String("C00010".into()), ColumnKind::Lookup);
        round_trip(Value::Int(i64::MIN), ColumnKind::Int);
        round_trip(Value::Int(i64::MAX), ColumnKind::Option);
        round_trip(Value::Bool(true), ColumnKind::Bool);
        round_trip(
            Value::Date(Date::from_str("2024-02-29").unwrap()),
            ColumnKind::Date,
        );
        round_trip(
            Value::DateTime(Timestamp::from_str("2024-02-29T23:59:59.123456Z").unwrap()),
            ColumnKind::Datetime,
        );
        for d in [
            "12.50",
            "0.1",
            "-0.1",
            "0",
            "5000.00",
            "123456789.123456",
            "0.0000001",
            "18446744073709551615",
            "-9223372036854775808",
        ] {
            let back = round_trip(Value::Decimal(dec(d)), ColumnKind::Decimal);
            assert_eq!(back, Value::Decimal(dec(d).normalize()), "{d}");
        }
    }

    #[test]
    fn decimals_are_written_as_their_digits() {
        assert_eq!(to_json(&Value::Decimal(dec("12.50"))).to_string(), "12.5");
        assert_eq!(to_json(&Value::Decimal(dec("0.1"))).to_string(), "0.1");
        assert_eq!(to_json(&Value::Decimal(dec("5000.00"))).to_string(), "5000");
        assert_eq!(
            to_json(&Value::Decimal(dec("18446744073709551615"))).to_string(),
            "18446744073709551615"
        );
        // Beyond what an f64 holds: every digit goes out, and comes back.
        for text in [
            "12345678901234.5678",
            "-98765432109876.5432",
            "1234567890.1234567891",
            "79228162514264337593543950335",
            "-0.0000000000000000000000000001",
        ] {
            let sent = to_json(&Value::Decimal(dec(text)));
            assert_eq!(sent.to_string(), text);
            let body: J = serde_json::from_str(&format!("{{\"amount\": {text}}}")).unwrap();
            assert_eq!(
                from_json(&body["amount"], ColumnKind::Decimal)
                    .unwrap()
                    .to_text(),
                Some(text.to_string())
            );
        }
    }

    #[test]
    fn other_values_to_json() {
        assert_eq!(to_json(&Value::Absent), J::Null);
        assert_eq!(to_json(&Value::Int(-3)), json!(-3));
        let t = Timestamp::from_str("2024-01-31T09:00:00+01:00").unwrap();
        assert_eq!(to_json(&Value::DateTime(t)), json!("2024-01-31T08:00:00Z"));
        let d = Date::from_str("2024-01-31").unwrap();
        assert_eq!(to_json(&Value::Date(d)), json!("2024-01-31"));
        assert_eq!(
            to_json(&Value::String(
                "3f2504e0-4f89-11d3-9a0c-0305e82c3301".into()
            )),
            json!("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
        );
    }

    #[test]
    fn reading_by_type() {
        assert_eq!(
            from_json(
                &json!("3F2504E0-4F89-11D3-9A0C-0305E82C3301"),
                ColumnKind::Guid
            )
            .unwrap(),
            Value::String("3f2504e0-4f89-11d3-9a0c-0305e82c3301".into())
        );
        assert_eq!(
            from_json(
                &json!("3F2504E0-4F89-11D3-9A0C-0305E82C3301"),
                ColumnKind::Lookup
            )
            .unwrap(),
            Value::String("3f2504e0-4f89-11d3-9a0c-0305e82c3301".into())
        );
        assert_eq!(
            from_json(&json!("C-10"), ColumnKind::Lookup).unwrap(),
            Value::String("C-10".into())
        );
        assert_eq!(
            from_json(&json!(3.0), ColumnKind::Int).unwrap(),
            Value::Int(3)
        );
        assert_eq!(
            from_json(&json!("-12"), ColumnKind::Int).unwrap(),
            Value::Int(-12)
        );
        assert_eq!(
            from_json(&json!("12.50"), ColumnKind::Decimal).unwrap(),
            Value::Decimal(dec("12.50"))
        );
        assert_eq!(
            from_json(&json!(12.50), ColumnKind::Decimal).unwrap(),
            Value::Decimal(dec("12.5"))
        );
        assert_eq!(
            from_json(&json!(0.1), ColumnKind::Decimal).unwrap(),
            Value::Decimal(dec("0.1"))
        );
        assert_eq!(
            from_json(&json!(1.5e-7), ColumnKind::Decimal).unwrap(),
            Value::Decimal(dec("0.00000015"))
        );
        // Numbers parsed from JSON text, as a connector receives them.
        let body: J = serde_json::from_str(r#"{"a": 12.50, "b": 0.1, "c": 7}"#).unwrap();
        // The scale the service wrote is kept.
        assert_eq!(
            from_json(&body["a"], ColumnKind::Decimal)
                .unwrap()
                .to_text()
                .as_deref(),
            Some("12.50")
        );
        assert_eq!(
            from_json(&body["b"], ColumnKind::Decimal).unwrap(),
            Value::Decimal(dec("0.1"))
        );
        assert_eq!(
            from_json(&body["c"], ColumnKind::Decimal).unwrap(),
            Value::Decimal(dec("7"))
        );
    }

    #[test]
    fn datetimes_with_offsets_become_utc() {
        let utc = Timestamp::from_str("2024-03-31T01:30:00Z").unwrap();
        for text in [
            "2024-03-31T03:30:00+02:00",
            "2024-03-30T20:30:00-05:00",
            "2024-03-31T01:30:00Z",
            "2024-03-31T01:30:00",
            "2024-03-31T01:30:00.000Z",
        ] {
            assert_eq!(
                from_json(&json!(text), ColumnKind::Datetime).unwrap(),
                Value::DateTime(utc),
                "{text}"
            );
        }
        assert_eq!(
            to_json(&from_json(&json!("2024-03-31T03:30:00+02:00"), ColumnKind::Datetime).unwrap()),
            json!("2024-03-31T01:30:00Z")
        );
    }

    #[test]
    fn wrong_json_types_are_errors() {
        let e = |j: J, ty: ColumnKind| from_json(&j, ty).unwrap_err();
        assert_eq!(
            e(json!(5), ColumnKind::String),
            "expected a string, got number 5"
        );
        assert_eq!(
            e(json!(true), ColumnKind::Guid),
            "expected a GUID string, got true"
        );
        assert_eq!(
            e(json!(3.5), ColumnKind::Int),
            "expected a whole number, got number 3.5"
        );
        assert_eq!(
            e(json!("x"), ColumnKind::Int),
            "expected a whole number, got string \"x\""
        );
        assert_eq!(
            e(json!(1e30), ColumnKind::Int),
            "expected a whole number, got number 1e+30"
        );
        assert_eq!(
            e(json!("1,5"), ColumnKind::Decimal),
            "expected a decimal, got string \"1,5\""
        );
        assert_eq!(
            e(json!([1]), ColumnKind::Decimal),
            "expected a decimal, got an array"
        );
        assert_eq!(
            e(json!("true"), ColumnKind::Bool),
            "expected true or false, got string \"true\""
        );
        assert_eq!(
            e(json!("2023-02-29"), ColumnKind::Date),
            "expected a date like 2024-01-31, got string \"2023-02-29\""
        );
        assert_eq!(
            e(json!(20240131), ColumnKind::Date),
            "expected a date string, got number 20240131"
        );
        assert_eq!(
            e(json!("yesterday"), ColumnKind::Datetime),
            "expected a date-time like 2024-01-31T08:00:00Z, got string \"yesterday\""
        );
        assert_eq!(
            e(json!({"a": 1}), ColumnKind::Datetime),
            "expected a date-time string, got an object"
        );
        let long = "x".repeat(100);
        assert!(e(json!(long), ColumnKind::Int).ends_with("xxx..."));
        assert_eq!(
            e(json!(1), ColumnKind::Lookup),
            "expected a string, got number 1"
        );
    }
}
