//! The sandbox's own reading of JSON values and writing of stored ones, per EDM type.
//!
//! Deliberately independent of the connectors' codecs (`crate::odata::json`, `Value::to_json`):
//! a service and its client that decode with the same code would agree on the same mistakes,
//! and a test between them would prove nothing. Decimals go from the JSON number's literal text
//! to an exact decimal and back to a JSON number with the same digits, never through `f64`;
//! with `IEEE754Compatible=true` (OData JSON Format §4.5.7.1: Int64 and Decimal as strings)
//! they are read from strings (only) and written as strings.
//!
//! `crate::value::Value` stays the in-memory cell: its decimal keeps up to 28
//! significant digits and its scale, which covers `Edm.Decimal` as Dataverse and Business
//! Central define it.

use std::str::FromStr;

use jiff::civil::Date;
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde_json::{Number, Value as Json};

use crate::schema::{ColumnSchema, ColumnType};
use crate::value::Value;

/// How a request or answer spells numbers that do not fit an IEEE 754 double.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Numbers {
    /// `IEEE754Compatible=true`: decimals as JSON strings.
    pub as_strings: bool,
}

impl Numbers {
    /// The numbers a media type asks for: `application/json;IEEE754Compatible=true`.
    pub fn of_media_type(media_type: Option<&str>) -> Numbers {
        let as_strings = media_type.is_some_and(|m| {
            m.split(';').skip(1).any(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("IEEE754Compatible")
                        && v.trim().trim_matches('"').eq_ignore_ascii_case("true")
                })
            })
        });
        Numbers { as_strings }
    }
}

/// An exact decimal from its text: plain (`-12.3400`) or with an exponent (`1.5E+3`).
pub(crate) fn decimal(text: &str) -> Option<Decimal> {
    let t = text.trim();
    if t.contains(['e', 'E']) {
        Decimal::from_scientific(t).ok()
    } else {
        Decimal::from_str_exact(t).ok()
    }
}

/// A JSON value written for a column, read as the column's type; `None` when it is not a
/// value of that type (the caller words the error). `null` reads as [`Value::Null`].
pub(crate) fn read(c: &ColumnSchema, j: &Json, numbers: Numbers) -> Option<Value> {
    Some(match (&c.ty, j) {
        (_, Json::Null) => Value::Null,
        (ColumnType::Int | ColumnType::Option { .. }, Json::Number(n)) => {
            Value::Int(n.to_string().parse().ok()?)
        }
        // `IEEE754Compatible=true` says decimals are strings; a number then is a client that
        // did not mean what its media type says (a strict service refuses it).
        (ColumnType::Decimal { .. }, Json::Number(n)) if !numbers.as_strings => {
            Value::Decimal(decimal(&n.to_string())?)
        }
        (ColumnType::Decimal { .. }, Json::String(s)) if numbers.as_strings => {
            Value::Decimal(decimal(s)?)
        }
        (ColumnType::Bool, Json::Bool(b)) => Value::Bool(*b),
        (ColumnType::Date, Json::String(s)) => Value::Date(Date::from_str(s).ok()?),
        (ColumnType::Datetime, Json::String(s)) => Value::DateTime(Timestamp::from_str(s).ok()?),
        (
            ColumnType::String { .. }
            | ColumnType::Enum { .. }
            | ColumnType::Guid
            | ColumnType::Lookup { .. },
            Json::String(s),
        ) => Value::String(s.clone()),
        _ => return None,
    })
}

/// A stored value as JSON for its column: decimals as JSON numbers with the stored digits (or
/// strings, for `IEEE754Compatible=true`), date-times in UTC with `Z`.
pub(crate) fn write(v: &Value, numbers: Numbers) -> Json {
    match v {
        Value::Absent | Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Decimal(d) => {
            let text = d.to_string();
            if numbers.as_strings {
                return Json::String(text);
            }
            // A decimal's text is always a valid JSON number; with `arbitrary_precision` the
            // number keeps exactly that text.
            Number::from_str(&text).map_or(Json::String(text), Json::Number)
        }
        Value::String(s) => Json::String(s.clone()),
        Value::Date(d) => Json::String(d.to_string()),
        Value::DateTime(t) => Json::String(t.to_string()),
    }
}

/// Why a decimal does not fit `Edm.Decimal(precision, scale)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// More digits after the point than the scale.
    Scale {
        /// The column's scale.
        scale: u32,
    },
    /// More digits before the point than `precision - scale`.
    Precision {
        /// The column's precision.
        precision: u32,
        /// The column's scale.
        scale: u32,
    },
}

/// Checks a decimal against its column's facets, as SQL Server's `DECIMAL(p, s)` would:
/// trailing zeros after the point do not count.
pub(crate) fn fits(
    d: &Decimal,
    precision: Option<u32>,
    scale: Option<u32>,
) -> Result<(), Overflow> {
    let n = d.normalize();
    if let Some(s) = scale {
        if n.scale() > s {
            return Err(Overflow::Scale { scale: s });
        }
    }
    if let Some(p) = precision {
        let s = scale.unwrap_or(0);
        let integer_digits = n.trunc().abs().to_string().trim_start_matches('0').len();
        if integer_digits > usize::try_from(p.saturating_sub(s)).unwrap_or(usize::MAX) {
            return Err(Overflow::Precision {
                precision: p,
                scale: s,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn column(ty: ColumnType) -> ColumnSchema {
        ColumnSchema::new("amount", ty)
    }

    #[test]
    fn decimals_keep_their_literal_text_both_ways() {
        let c = column(ColumnType::DECIMAL);
        for text in crate::sandbox::exact_tests::HURTING {
            let j: Json = serde_json::from_str(text).unwrap();
            let v = read(&c, &j, Numbers::default()).unwrap();
            assert_eq!(
                serde_json::to_string(&write(&v, Numbers::default())).unwrap(),
                text
            );
            let ieee = Numbers { as_strings: true };
            assert_eq!(write(&v, ieee), Json::String(text.into()));
            assert_eq!(read(&c, &Json::String(text.into()), ieee), Some(v));
        }
        // Text is a decimal only when the request said IEEE754Compatible=true, and then only
        // text is.
        let one: Json = serde_json::from_str("1.5").unwrap();
        assert_eq!(read(&c, &one, Numbers { as_strings: true }), None);
        assert_eq!(
            read(&c, &Json::String("1.5".into()), Numbers::default()),
            None
        );
        let exp: Json = serde_json::from_str("1.5E+3").unwrap();
        assert_eq!(
            read(&c, &exp, Numbers::default()),
            Some(Value::Decimal(Decimal::from(1500)))
        );
    }

    #[test]
    fn media_types_ask_for_numbers_as_strings() {
        for (m, yes) in [
            ("application/json;IEEE754Compatible=true", true),
            (
                "application/json; odata.metadata=minimal; ieee754compatible=\"true\"",
                true,
            ),
            ("application/json;IEEE754Compatible=false", false),
            ("application/json", false),
        ] {
            assert_eq!(Numbers::of_media_type(Some(m)).as_strings, yes, "{m}");
        }
        assert!(!Numbers::of_media_type(None).as_strings);
    }

    #[test]
    fn decimals_are_checked_against_precision_and_scale() {
        let d = |s: &str| decimal(s).unwrap();
        let (p, s) = (Some(19), Some(4));
        assert_eq!(fits(&d("-98765432109876.5432"), p, s), Ok(()));
        assert_eq!(fits(&d("123456789012345.0000"), p, s), Ok(()));
        assert_eq!(fits(&d("1.50000"), p, s), Ok(()));
        assert_eq!(fits(&d("0.00001"), p, s), Err(Overflow::Scale { scale: 4 }));
        assert_eq!(
            fits(&d("1234567890123456"), p, s),
            Err(Overflow::Precision {
                precision: 19,
                scale: 4
            })
        );
        assert_eq!(
            fits(&d("0.0000000000000000000000000001"), None, None),
            Ok(())
        );
        assert_eq!(
            fits(&d("0.0000000000000000000000000001"), Some(38), Some(10)),
            Err(Overflow::Scale { scale: 10 })
        );
    }
}
