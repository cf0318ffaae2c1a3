//! Constants of a resolved expression as values.

use std::str::FromStr;

use jiff::civil::Date;

use super::Literal;
use crate::value::{parse_decimal, parse_timestamp, Value, ValueError};

impl Literal {
    /// The constant as a value, so literals are checked once, not per row.
    pub fn to_value(&self) -> Result<Value, ValueError> {
        let bad = |kind: &'static str, text: &str, reason: String| ValueError::BadLiteral {
            kind,
            text: text.to_string(),
            reason,
        };
        Ok(match self {
            Literal::Null => Value::Null,
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Int(i) => Value::Int(*i),
            Literal::Decimal(s) => Value::Decimal(
                parse_decimal(s).ok_or_else(|| bad("decimal", s, "not a number".into()))?,
            ),
            Literal::String(s) => Value::String(s.clone()),
            Literal::Date(s) => {
                Value::Date(Date::from_str(s).map_err(|e| bad("date", s, e.to_string()))?)
            }
            Literal::Datetime(s) => {
                Value::DateTime(parse_timestamp(s).map_err(|e| bad("datetime", s, e))?)
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::str::FromStr;

    use jiff::civil::Date;
    use jiff::Timestamp;

    use super::*;

    fn date(s: &str) -> Date {
        Date::from_str(s).unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        Timestamp::from_str(s).unwrap()
    }

    #[test]
    fn literals_become_values() {
        assert_eq!(Literal::Null.to_value().unwrap(), Value::Null);
        assert_eq!(Literal::Bool(true).to_value().unwrap(), Value::Bool(true));
        assert_eq!(Literal::Int(-4).to_value().unwrap(), Value::Int(-4));
        let d = Literal::Decimal("12.50".into()).to_value().unwrap();
        assert_eq!(d.to_text().as_deref(), Some("12.50"));
        assert_eq!(
            Literal::String("x".into()).to_value().unwrap(),
            Value::String("x".into())
        );
        assert_eq!(
            Literal::Date("2024-02-29".into()).to_value().unwrap(),
            Value::Date(date("2024-02-29"))
        );
        assert_eq!(
            Literal::Datetime("2024-02-29T10:00:00+02:00".into())
                .to_value()
                .unwrap(),
            Value::DateTime(ts("2024-02-29T08:00:00Z"))
        );
    }

    #[test]
    fn bad_literals_are_errors() {
        let e = Literal::Decimal("1.2.3".into()).to_value().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid decimal literal \"1.2.3\": not a number"
        );
        assert!(Literal::Date("2023-02-29".into()).to_value().is_err());
        assert!(Literal::Datetime("yesterday".into()).to_value().is_err());
    }
}
