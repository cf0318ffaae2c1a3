//! Values: what a column holds while a record is being synchronized, and how values cross the
//! JSON boundary of the connectors without losing precision or type. A leaf of the crate: the
//! connectors, the state store, the sandbox and the runtime share it, and it imports none of
//! them.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;
use rust_decimal::Decimal;

/// A value that cannot be read: a malformed constant, or JSON that does not fit the column's
/// type. Messages are shown to users as the reason a field or record failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// A constant of the plan is malformed (the compiler writes only valid ones).
    #[error("invalid {kind} literal {}: {reason}", quote(.text))]
    BadLiteral {
        /// `decimal`, `date` or `datetime`.
        kind: &'static str,
        /// The literal's text.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A JSON value from a system does not fit the column's type.
    #[error("expected {expected}, got {found}")]
    BadValue {
        /// What the column type calls for.
        expected: &'static str,
        /// The JSON received, shortened.
        found: String,
    },
}

/// What a column holds, as schema snapshots and plans name it (`string`, `datetime`…). The
/// connectors read and write values by it, so it lives with the values.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Text.
    #[default]
    String,
    /// A whole number.
    Int,
    /// An exact decimal.
    Decimal,
    /// True or false.
    Bool,
    /// A calendar day.
    Date,
    /// An instant.
    Datetime,
    /// A GUID, held as lower-case text.
    Guid,
    /// An option set: integers with labels.
    Option,
    /// An enum: members by name.
    Enum,
    /// A reference to a row of another table, by its GUID.
    Lookup,
}

impl ColumnKind {
    /// The name snapshots and plans use.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::String => "string",
            ColumnKind::Int => "int",
            ColumnKind::Decimal => "decimal",
            ColumnKind::Bool => "bool",
            ColumnKind::Date => "date",
            ColumnKind::Datetime => "datetime",
            ColumnKind::Guid => "guid",
            ColumnKind::Option => "option",
            ColumnKind::Enum => "enum",
            ColumnKind::Lookup => "lookup",
        }
    }

    /// Whether the column holds a GUID, its own or another row's.
    pub fn is_guid(self) -> bool {
        matches!(self, ColumnKind::Guid | ColumnKind::Lookup)
    }
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value of a row or of an expression.
///
/// `Absent` and `Null` are kept apart because "the source did not send this field" must not
/// overwrite a destination column, while "the source says it is empty" must clear it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// The field is not in the record at all (not selected, or not sent by the system).
    Absent,
    /// The field is in the record and empty.
    Null,
    /// A boolean.
    Bool(bool),
    /// A whole number; also option-set values.
    Int(i64),
    /// An exact decimal, keeping the scale it was written with (`12.50` stays `12.50`).
    Decimal(Decimal),
    /// Text; also GUIDs (lower case) and enum members.
    String(String),
    /// A calendar date without time zone.
    Date(Date),
    /// An instant, shown in UTC.
    DateTime(Timestamp),
}

impl Value {
    /// The type's name as the language spells it, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Absent => "absent",
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Decimal(_) => "decimal",
            Value::String(_) => "string",
            Value::Date(_) => "date",
            Value::DateTime(_) => "datetime",
        }
    }

    /// Equality as a sync sees it: numbers by value (`5000` equals `5000.00`), a date equals the
    /// midnight-UTC date-time of that day, text exactly, and empty text the same as null —
    /// Business Central has no null text (a blank Code is `""`) and Dataverse stores an empty
    /// string as null, so telling them apart would rewrite the same blank on every run and
    /// report it as a conflict. Used to decide whether a field changed.
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => s.is_empty(),
            (Value::Int(a), Value::Decimal(b)) | (Value::Decimal(b), Value::Int(a)) => {
                Decimal::from(*a) == *b
            }
            (Value::Decimal(a), Value::Decimal(b)) => a == b,
            (Value::Date(d), Value::DateTime(t)) | (Value::DateTime(t), Value::Date(d)) => {
                t.to_zoned(jiff::tz::TimeZone::UTC).date() == *d && t.as_second() % 86_400 == 0
            }
            _ => self == other,
        }
    }

    /// The value in the representation a column of type `ty` stores, with dates and
    /// date-times taken in UTC; see [`Value::coerce_between`].
    pub fn coerce_to(self, ty: ColumnKind) -> Value {
        self.coerce_between(ty, &TimeZone::UTC, &TimeZone::UTC)
    }

    /// The value in the representation a column of type `ty` stores: `int` into a `decimal`
    /// column becomes a decimal; a date into a `datetime` column becomes the first instant of
    /// that day in `from`, the zone of the system the date comes from; a date-time into a
    /// `date` column becomes its day in `to`, the zone of the system that will hold the date.
    /// Anything else is returned as is; the connector rejects what the column cannot hold.
    pub fn coerce_between(self, ty: ColumnKind, from: &TimeZone, to: &TimeZone) -> Value {
        use ColumnKind as K;
        match (self, ty) {
            (Value::Int(n), K::Decimal) => Value::Decimal(Decimal::from(n)),
            // A day that starts inside a DST gap starts at the gap's end, as jiff resolves it.
            (Value::Date(d), K::Datetime) => match d.to_zoned(from.clone()) {
                Ok(z) => Value::DateTime(z.timestamp()),
                Err(_) => Value::Date(d),
            },
            (Value::DateTime(t), K::Date) => Value::Date(t.to_zoned(to.clone()).date()),
            (Value::String(s), K::Guid | K::Lookup) if s.len() == 36 => {
                Value::String(s.to_lowercase())
            }
            (v, _) => v,
        }
    }

    /// Whether the value is null or absent, the two "no value" states most rules treat alike.
    pub fn is_missing(&self) -> bool {
        matches!(self, Value::Absent | Value::Null)
    }

    /// Whether the field was not in the record, so writers can leave the column untouched.
    pub fn is_absent(&self) -> bool {
        matches!(self, Value::Absent)
    }

    /// The value as text the way `to_string` and `concat` show it; `None` for null and absent.
    ///
    /// Decimals keep their scale (`12.50`), dates are `YYYY-MM-DD`, date-times RFC 3339 in UTC
    /// with `Z`, booleans `true`/`false`.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Value::Absent | Value::Null => return None,
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Decimal(d) => d.to_string(),
            Value::String(s) => s.clone(),
            Value::Date(d) => d.to_string(),
            Value::DateTime(t) => t.to_string(),
        })
    }

    /// Reads a JSON value a connector received, typed by the column's plan type when known.
    ///
    /// `hint` is the column's kind ([`ColumnKind`]). Numbers never pass through binary
    /// floating point on the way to a decimal beyond what the JSON parser already did: the
    /// number's shortest text is parsed. With hint `date`/`datetime` strings become dates or
    /// instants (a date-time without offset is taken as UTC); `guid` strings are lowered so
    /// keys compare equal whatever case a system sends; `int`/`option` and `decimal` also
    /// accept numbers sent as strings (OData's IEEE754Compatible mode); `string` accepts
    /// numbers and booleans as their text. Without a hint (or with `enum`, `lookup`) JSON
    /// types map naturally: whole numbers that fit `i64` become ints, other numbers decimals.
    /// Arrays and objects are errors: no column holds them.
    pub fn from_json(
        json: &serde_json::Value,
        hint: Option<ColumnKind>,
    ) -> Result<Value, ValueError> {
        use serde_json::Value as J;
        use ColumnKind as K;
        let mismatch = |expected: &'static str| ValueError::BadValue {
            expected,
            found: compact_json(json),
        };
        Ok(match (hint, json) {
            (_, J::Null) => Value::Null,
            (_, J::Array(_) | J::Object(_)) => return Err(mismatch("a single value")),
            (Some(K::Int | K::Option), J::Number(n)) => {
                Value::Int(json_int(n).ok_or_else(|| mismatch("a whole number"))?)
            }
            (Some(K::Int | K::Option), J::String(s)) => {
                Value::Int(s.trim().parse().map_err(|_| mismatch("a whole number"))?)
            }
            (Some(K::Decimal), J::Number(n)) => {
                Value::Decimal(json_decimal(n).ok_or_else(|| mismatch("a decimal"))?)
            }
            (Some(K::Decimal), J::String(s)) => {
                Value::Decimal(parse_decimal(s.trim()).ok_or_else(|| mismatch("a decimal"))?)
            }
            (Some(K::Bool), J::Bool(b)) => Value::Bool(*b),
            (Some(K::Bool), _) => return Err(mismatch("true or false")),
            (Some(K::Date), J::String(s)) => {
                Value::Date(Date::from_str(s).map_err(|_| mismatch("a date like 2024-01-31"))?)
            }
            (Some(K::Datetime), J::String(s)) => Value::DateTime(
                parse_timestamp(s)
                    .map_err(|_| mismatch("a date-time like 2024-01-31T08:00:00Z"))?,
            ),
            (Some(K::Guid), J::String(s)) => Value::String(s.to_ascii_lowercase()),
            (Some(K::String), J::Number(n)) => Value::String(n.to_string()),
            (Some(K::String), J::Bool(b)) => Value::String(b.to_string()),
            (Some(K::Int | K::Option | K::Decimal), _) => return Err(mismatch("a number")),
            (Some(K::Date | K::Datetime | K::Guid), _) => return Err(mismatch("text")),
            (_, J::Bool(b)) => Value::Bool(*b),
            (_, J::Number(n)) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Decimal(json_decimal(n).ok_or_else(|| mismatch("a number"))?),
            },
            (_, J::String(s)) => Value::String(s.clone()),
        })
    }

    /// The value as JSON for a connector to send.
    ///
    /// Decimals become JSON numbers holding their normalized digits exactly (serde_json keeps
    /// a number's text: `arbitrary_precision`). Dates are `YYYY-MM-DD` and
    /// date-times RFC 3339 in UTC. `Absent` gives JSON `null` too; writers should skip absent
    /// fields ([`Value::is_absent`]) rather than send them.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Absent | Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Decimal(d) => match serde_json::from_str::<J>(&d.normalize().to_string()) {
                Ok(n @ J::Number(_)) => n,
                _ => J::String(d.to_string()),
            },
            Value::String(s) => J::String(s.clone()),
            Value::Date(d) => J::String(d.to_string()),
            Value::DateTime(t) => J::String(t.to_string()),
        }
    }
}

/// A value written as JSON just as [`Value::to_json`] gives it, without building that JSON
/// value first (text is not copied): intents hold the values of every write a sync makes.
pub(crate) struct AsJson<'v>(pub &'v Value);

impl serde::Serialize for AsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Absent | Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::String(t) => s.serialize_str(t),
            Value::Date(d) => s.collect_str(d),
            Value::DateTime(t) => s.collect_str(t),
            // Exact digits: the number as `to_json` reads it back.
            Value::Decimal(_) => self.0.to_json().serialize(s),
        }
    }
}

/// Shown in test output and diffs: text quoted, so `"12"` and `12` look different.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Absent => f.write_str("absent"),
            Value::Null => f.write_str("null"),
            Value::String(s) => write!(f, "{}", quote(s)),
            other => match other.to_text() {
                Some(t) => f.write_str(&t),
                None => Ok(()),
            },
        }
    }
}

/// An instant as fixed-width UTC text to the microsecond, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, for
/// years 0 to 9999 (`None` for others, which each caller writes its own way). Written by hand:
/// the state store and the SQLite connector stamp every record they write, and a strftime
/// pattern is read again each time.
pub(crate) fn utc_micros(t: Timestamp) -> Option<String> {
    use std::fmt::Write;
    let dt = Offset::UTC.to_datetime(t);
    if !(0..=9999).contains(&dt.year()) {
        return None;
    }
    let mut out = String::with_capacity(27);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.subsec_nanosecond() / 1000
    );
    Some(out)
}

/// Text in double quotes with JSON escapes, for messages that must show where text ends.
pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// A decimal from plain (`-12.50`) or scientific (`1.5e-7`) notation, without rounding.
pub(crate) fn parse_decimal(s: &str) -> Option<Decimal> {
    if s.contains(['e', 'E']) {
        Decimal::from_scientific(s).ok()
    } else {
        Decimal::from_str_exact(s).ok()
    }
}

/// An instant from RFC 3339; a civil date-time without offset is taken as UTC.
pub(crate) fn parse_timestamp(s: &str) -> Result<Timestamp, String> {
    match Timestamp::from_str(s) {
        Ok(t) => Ok(t),
        Err(e) => match jiff::civil::DateTime::from_str(s) {
            Ok(dt) => Offset::UTC.to_timestamp(dt).map_err(|e| e.to_string()),
            Err(_) => Err(e.to_string()),
        },
    }
}

fn json_int(n: &serde_json::Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let d = json_decimal(n)?;
    if d.fract().is_zero() {
        rust_decimal::prelude::ToPrimitive::to_i64(&d)
    } else {
        None
    }
}

fn json_decimal(n: &serde_json::Number) -> Option<Decimal> {
    if let Some(i) = n.as_i64() {
        return Some(Decimal::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(Decimal::from(u));
    }
    parse_decimal(&n.to_string())
}

fn compact_json(json: &serde_json::Value) -> String {
    let s = json.to_string();
    if s.chars().count() > 60 {
        let short: String = s.chars().take(57).collect();
        format!("{short}...")
    } else {
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn a_blank_is_the_same_as_null_to_a_sync_but_not_to_the_language() {
        let blank = Value::String(String::new());
        assert!(blank.same_as(&Value::Null));
        assert!(Value::Null.same_as(&blank));
        assert!(!Value::String(" ".into()).same_as(&Value::Null));
        assert_ne!(blank, Value::Null);
    }

    #[test]
    fn instants_are_written_as_the_store_has_always_written_them() {
        let pattern = "%Y-%m-%dT%H:%M:%S%.6fZ";
        for text in [
            "2026-12-05T22:20:38.878865Z",
            "2026-01-01T00:00:00Z",
            "0001-02-03T04:05:06.000007999Z",
            "9999-12-30T21:59:59.999999Z",
            "1970-01-01T00:00:00.5+02:00",
        ] {
            let t: Timestamp = text.parse().unwrap();
            let by_hand = utc_micros(t).unwrap();
            assert_eq!(by_hand, t.strftime(pattern).to_string(), "{text}");
            assert_eq!(by_hand.len(), 27);
        }
        let before_year_zero: Timestamp = "-000001-06-01T00:00:00Z".parse().unwrap();
        assert_eq!(utc_micros(before_year_zero), None);
    }
    use serde_json::json;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn date(s: &str) -> Date {
        Date::from_str(s).unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        Timestamp::from_str(s).unwrap()
    }

    #[test]
    fn json_without_hint_maps_naturally() {
        assert_eq!(Value::from_json(&json!(null), None).unwrap(), Value::Null);
        assert_eq!(
            Value::from_json(&json!(true), None).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(Value::from_json(&json!(42), None).unwrap(), Value::Int(42));
        assert_eq!(
            Value::from_json(&json!(0.1), None).unwrap(),
            Value::Decimal(dec("0.1"))
        );
        assert_eq!(
            Value::from_json(&json!(u64::MAX), None).unwrap(),
            Value::Decimal(dec("18446744073709551615"))
        );
        assert_eq!(
            Value::from_json(&json!("A"), None).unwrap(),
            Value::String("A".into())
        );
        assert_eq!(
            Value::from_json(&json!("A"), Some(ColumnKind::Enum)).unwrap(),
            Value::String("A".into())
        );
        assert!(Value::from_json(&json!([1]), None).is_err());
        assert!(Value::from_json(&json!({"a": 1}), Some(ColumnKind::String)).is_err());
    }

    #[test]
    fn json_numbers_follow_the_hint() {
        let v = Value::from_json(&json!(5), Some(ColumnKind::Decimal)).unwrap();
        assert_eq!(v, Value::Decimal(dec("5")));
        // Parsed from the number's text: 0.1 stays exactly 0.1, not 0.1000000000000000055...
        let v = Value::from_json(&json!(0.1), Some(ColumnKind::Decimal)).unwrap();
        assert_eq!(v.to_text().as_deref(), Some("0.1"));
        let v = Value::from_json(&json!(1.5e-7), Some(ColumnKind::Decimal)).unwrap();
        assert_eq!(v, Value::Decimal(dec("0.00000015")));
        assert_eq!(
            Value::from_json(&json!("19.99"), Some(ColumnKind::Decimal)).unwrap(),
            Value::Decimal(dec("19.99"))
        );
        assert_eq!(
            Value::from_json(&json!(3), Some(ColumnKind::Option)).unwrap(),
            Value::Int(3)
        );
        assert_eq!(
            Value::from_json(&json!(3.0), Some(ColumnKind::Int)).unwrap(),
            Value::Int(3)
        );
        assert_eq!(
            Value::from_json(&json!("-7"), Some(ColumnKind::Int)).unwrap(),
            Value::Int(-7)
        );
        let e = Value::from_json(&json!(3.5), Some(ColumnKind::Int)).unwrap_err();
        assert_eq!(e.to_string(), "expected a whole number, got 3.5");
        let e = Value::from_json(&json!("abc"), Some(ColumnKind::Decimal)).unwrap_err();
        assert_eq!(e.to_string(), "expected a decimal, got \"abc\"");
        assert!(Value::from_json(&json!(true), Some(ColumnKind::Int)).is_err());
        assert_eq!(
            Value::from_json(&json!(12), Some(ColumnKind::String)).unwrap(),
            Value::String("12".into())
        );
    }

    #[test]
    fn json_strings_follow_the_hint() {
        assert_eq!(
            Value::from_json(&json!("2024-01-31"), Some(ColumnKind::Date)).unwrap(),
            Value::Date(date("2024-01-31"))
        );
        assert_eq!(
            Value::from_json(
                &json!("2024-01-31T08:00:00.5+01:00"),
                Some(ColumnKind::Datetime)
            )
            .unwrap(),
            Value::DateTime(ts("2024-01-31T07:00:00.5Z"))
        );
        assert_eq!(
            Value::from_json(&json!("2024-01-31T08:00:00"), Some(ColumnKind::Datetime)).unwrap(),
            Value::DateTime(ts("2024-01-31T08:00:00Z"))
        );
        assert_eq!(
            Value::from_json(
                &json!("6F9619FF-8B86-D011-B42D-00C04FC964FF"),
                Some(ColumnKind::Guid)
            )
            .unwrap(),
            Value::String("6f9619ff-8b86-d011-b42d-00c04fc964ff".into())
        );
        let e = Value::from_json(&json!("31.01.2024"), Some(ColumnKind::Date)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected a date like 2024-01-31, got \"31.01.2024\""
        );
        assert!(Value::from_json(&json!(20240131), Some(ColumnKind::Date)).is_err());
        assert_eq!(
            Value::from_json(&json!(false), Some(ColumnKind::Bool)).unwrap(),
            Value::Bool(false)
        );
        assert!(Value::from_json(&json!("false"), Some(ColumnKind::Bool)).is_err());
        assert_eq!(
            Value::from_json(&json!(null), Some(ColumnKind::Date)).unwrap(),
            Value::Null
        );
    }

    #[test]
    fn json_round_trips() {
        let cases = [
            (json!(null), Some(ColumnKind::String)),
            (json!(true), Some(ColumnKind::Bool)),
            (json!(-9_000_000_000_i64), Some(ColumnKind::Int)),
            (json!(12.5), Some(ColumnKind::Decimal)),
            (json!(0.001), Some(ColumnKind::Decimal)),
            (json!(100), Some(ColumnKind::Decimal)),
            (json!("Müller"), Some(ColumnKind::String)),
            (json!("2024-12-31"), Some(ColumnKind::Date)),
            (json!("2024-12-31T23:59:59Z"), Some(ColumnKind::Datetime)),
            (
                json!("6f9619ff-8b86-d011-b42d-00c04fc964ff"),
                Some(ColumnKind::Guid),
            ),
            (json!(7), None),
        ];
        for (json, hint) in cases {
            let v = Value::from_json(&json, hint).unwrap();
            assert_eq!(v.to_json(), json, "{hint:?}");
            assert_eq!(Value::from_json(&v.to_json(), hint).unwrap(), v);
            let written = serde_json::to_string(&AsJson(&v)).unwrap();
            assert_eq!(written, serde_json::to_string(&v.to_json()).unwrap());
        }
        let absent = serde_json::to_string(&AsJson(&Value::Absent)).unwrap();
        assert_eq!(absent, "null");
        let escaped = Value::String("a \"quoted\"\nline".into());
        let written = serde_json::to_string(&AsJson(&escaped)).unwrap();
        assert_eq!(written, serde_json::to_string(&escaped.to_json()).unwrap());
    }

    #[test]
    fn decimals_write_as_numbers_and_trailing_zeros_go() {
        assert_eq!(Value::Decimal(dec("12.50")).to_json(), json!(12.5));
        assert_eq!(Value::Decimal(dec("100.00")).to_json(), json!(100));
        assert_eq!(Value::Decimal(dec("-0.25")).to_json(), json!(-0.25));
        assert_eq!(Value::Absent.to_json(), json!(null));
        assert_eq!(
            Value::Date(date("2024-01-02")).to_json(),
            json!("2024-01-02")
        );
    }

    #[test]
    fn display_quotes_text_only() {
        assert_eq!(Value::String("a \"b\"".into()).to_string(), r#""a \"b\"""#);
        assert_eq!(Value::Int(12).to_string(), "12");
        assert_eq!(Value::Decimal(dec("12.50")).to_string(), "12.50");
        assert_eq!(Value::Date(date("2024-01-02")).to_string(), "2024-01-02");
        assert_eq!(
            Value::DateTime(ts("2024-01-02T03:04:05Z")).to_string(),
            "2024-01-02T03:04:05Z"
        );
        assert_eq!(Value::Null.to_string(), "null");
        assert_eq!(Value::Absent.to_string(), "absent");
        assert_eq!(Value::Bool(false).to_string(), "false");
    }

    #[test]
    fn type_names() {
        let names: Vec<&str> = [
            Value::Absent,
            Value::Null,
            Value::Bool(true),
            Value::Int(1),
            Value::Decimal(Decimal::ONE),
            Value::String(String::new()),
            Value::Date(date("2024-01-01")),
            Value::DateTime(Timestamp::UNIX_EPOCH),
        ]
        .iter()
        .map(Value::type_name)
        .collect();
        assert_eq!(
            names,
            ["absent", "null", "bool", "int", "decimal", "string", "date", "datetime"]
        );
        assert!(
            Value::Null.is_missing() && Value::Absent.is_missing() && !Value::Int(0).is_missing()
        );
    }

    #[test]
    fn dates_and_instants_cross_time_zones_where_they_are_days() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let new_york = TimeZone::get("America/New_York").unwrap();
        let day = |s: &str| Value::Date(Date::from_str(s).unwrap());
        let instant = |s: &str| Value::DateTime(Timestamp::from_str(s).unwrap());
        let into_datetime =
            |d: &str| day(d).coerce_between(ColumnKind::Datetime, &berlin, &new_york);
        let into_date = |t: &str| instant(t).coerce_between(ColumnKind::Date, &berlin, &new_york);
        // A date is the first instant of the day where it comes from, across DST and leap days.
        assert_eq!(into_datetime("2024-02-29"), instant("2024-02-28T23:00:00Z"));
        assert_eq!(into_datetime("2024-03-31"), instant("2024-03-30T23:00:00Z"));
        assert_eq!(into_datetime("2024-04-01"), instant("2024-03-31T22:00:00Z"));
        // An instant is its day where it goes to.
        assert_eq!(into_date("2024-03-31T03:30:00Z"), day("2024-03-30"));
        assert_eq!(into_date("2024-03-31T04:00:00Z"), day("2024-03-31"));
        assert_eq!(into_date("2024-03-01T04:59:59Z"), day("2024-02-29"));
        // Without zones, UTC.
        assert_eq!(
            instant("2024-03-31T03:30:00Z").coerce_to(ColumnKind::Date),
            day("2024-03-31")
        );
    }
}
