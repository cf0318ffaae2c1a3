//! Values in OData URLs: literals in `$filter`, key segments (`accounts(…)`), and query
//! options percent-encoded for the query string.
//!
//! The spelling of each literal is the compile-time one of [`crate::plan::odata::literal`],
//! reached by turning the runtime value into a plan literal, so a filter the compiler pushed
//! down and a filter built from a row at run time cannot disagree. On top of it this module
//! guards the URL: text that should be a GUID but is not one is quoted rather than written
//! bare, so a bad value can only fail to match, never change the shape of the filter or path.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::plan::odata::literal as plan_literal;
use crate::plan::Literal;
use crate::value::{ColumnKind, Value};

/// What stays literal in a query option value. `'`, `(`, `)`, `,`, `$`, `:` and `/` are left
/// alone so filters stay readable in logs and match what OData services and their docs show;
/// everything with a meaning in a query string (`&`, `=`, `#`, `+`, `?`, `%`) or outside ASCII
/// is encoded, and space is `%20` because OData servers do not all read `+` as space.
const OPTION: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b'$')
    .remove(b':')
    .remove(b'/')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What stays literal in a key inside a path segment: unreserved characters and the
/// sub-delimiters a key literal needs. `/`, `?`, `#`, `%`, `&`, `=`, `+` and non-ASCII are
/// encoded so a key can neither leave its segment nor be misread by a proxy.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b'$')
    .remove(b':')
    .remove(b'@')
    .remove(b'!')
    .remove(b'*')
    .remove(b';')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An OData string literal: single-quoted, quotes doubled (`'O''Brien'`). Not URL-encoded.
pub fn string(s: &str) -> String {
    plan_literal(&Literal::String(s.to_string()), false)
}

/// The OData literal of a runtime value for a column of plan type `ty`, as written in a
/// `$filter`; not URL-encoded (see [`encode_option`]).
///
/// `guid` and `lookup` values that are GUIDs are bare and lower case, text holding an integer
/// is bare for `int` and `option` columns (keys travel as text); any other text is quoted, so
/// a bad value can only fail to match. Numbers are plain digits (decimals keep their scale, `12.50`), booleans
/// `true`/`false`, dates `YYYY-MM-DD`, date-times RFC 3339 in UTC with `Z`. The value is first
/// coerced to the column type (an int for a decimal column, a date for a date-time column).
/// `Null` is `null`; `Absent` has no literal.
pub fn value(v: &Value, ty: ColumnKind) -> Option<String> {
    use ColumnKind as K;
    let lit = match v.clone().coerce_to(ty) {
        Value::Absent => return None,
        Value::Null => Literal::Null,
        Value::Bool(b) => Literal::Bool(b),
        Value::Int(i) => Literal::Int(i),
        Value::Decimal(d) => Literal::Decimal(d.to_string()),
        Value::String(s) => match ty {
            K::Guid | K::Lookup => match guid(&s) {
                Some(g) => return Some(plan_literal(&Literal::String(g), true)),
                None => Literal::String(s),
            },
            // A key kept as text (couplings store keys as text) is a number again for an
            // integer column: strict services refuse `code eq '1'` for an Edm.Int32 `code`.
            K::Int | K::Option => match s.trim().parse::<i64>() {
                Ok(n) => Literal::Int(n),
                Err(_) => Literal::String(s),
            },
            _ => Literal::String(s),
        },
        Value::Date(d) => Literal::Date(d.to_string()),
        Value::DateTime(t) => Literal::Datetime(t.to_string()),
    };
    Some(plan_literal(&lit, false))
}

/// A key as the parenthesized path segment after an entity set, percent-encoded for a path:
/// `(00000000-0000-0000-0000-000000000001)` for `guid`/`lookup`, `(42)` for `int`/`option`,
/// `('A''B')` for anything else.
///
/// A key that is not valid for its type (text in an int key, a non-GUID in a guid key) is
/// written as a quoted string, so the service answers "not found" or "bad request" instead
/// of the key reaching another segment.
pub fn key_segment(key: &str, ty: ColumnKind) -> String {
    use ColumnKind as K;
    let inner = match ty {
        K::Guid | K::Lookup => guid(key),
        K::Int | K::Option => key.trim().parse::<i64>().ok().map(|n| n.to_string()),
        _ => None,
    }
    .unwrap_or_else(|| string(key));
    format!("({})", utf8_percent_encode(&inner, SEGMENT))
}

/// A query option value percent-encoded for the query string: space as `%20` (never `+`),
/// `&`, `=`, `#`, `%`, `+`, `?` and non-ASCII encoded; `'`, `(`, `)`, `,`, `$`, `:`, `/`,
/// `-`, `.`, `_`, `~` and ASCII letters and digits kept.
pub fn encode_option(value: &str) -> String {
    utf8_percent_encode(value, OPTION).to_string()
}

/// A query string without the `?`: `$select=a,b&$filter=…`, values encoded with
/// [`encode_option`]; names are written as given (they are `$select`-like identifiers the
/// caller controls). No options give the empty string.
pub fn query(options: &[(&str, &str)]) -> String {
    options
        .iter()
        .map(|(name, value)| format!("{name}={}", encode_option(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical (lower-case, hyphenated) text of a GUID, or `None` when it is not one.
fn guid(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s.trim())
        .ok()
        .map(|u| u.hyphenated().to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::str::FromStr;

    use super::*;

    const G: &str = "00000000-0000-0000-0000-000000000001";

    #[test]
    fn strings_double_their_quotes() {
        assert_eq!(string("O'Brien"), "'O''Brien'");
        assert_eq!(string(""), "''");
        assert_eq!(string("''"), "''''''");
        assert_eq!(string("Zoë & Co"), "'Zoë & Co'");
    }

    #[test]
    fn values_by_column_type() {
        let v = |v: Value, ty: ColumnKind| value(&v, ty);
        assert_eq!(v(Value::Absent, ColumnKind::String), None);
        assert_eq!(v(Value::Null, ColumnKind::Guid).as_deref(), Some("null"));
        assert_eq!(
            v(Value::String(G.to_uppercase()), ColumnKind::Guid).as_deref(),
            Some(G)
        );
        assert_eq!(
            v(Value::String(G.into()), ColumnKind::Lookup).as_deref(),
            Some(G)
        );
        // Not a GUID: quoted, so it cannot change the filter's shape.
        assert_eq!(
            v(Value::String("x) or (1 eq 1".into()), ColumnKind::Guid).as_deref(),
            Some("'x) or (1 eq 1'")
        );
        assert_eq!(
            v(Value::String("it's".into()), ColumnKind::String).as_deref(),
            Some("'it''s'")
        );
        assert_eq!(
            v(Value::String(G.into()), ColumnKind::String),
            Some(format!("'{G}'"))
        );
        assert_eq!(
            v(Value::String("Open".into()), ColumnKind::Enum).as_deref(),
            Some("'Open'")
        );
        assert_eq!(v(Value::Int(-42), ColumnKind::Int).as_deref(), Some("-42"));
        assert_eq!(v(Value::Int(3), ColumnKind::Option).as_deref(), Some("3"));
        // Keys travel as text: an integer key's text is a bare number, a string key's quoted.
        assert_eq!(
            v(Value::String("1".into()), ColumnKind::Int).as_deref(),
            Some("1")
        );
        assert_eq!(
            v(Value::String(" -9 ".into()), ColumnKind::Option).as_deref(),
            Some("-9")
        );
        assert_eq!(
            v(Value::String("1".into()), ColumnKind::String).as_deref(),
            Some("'1'")
        );
        assert_eq!(
            v(Value::String("1 or 1 eq 1".into()), ColumnKind::Int).as_deref(),
            Some("'1 or 1 eq 1'")
        );
        let dec = |s: &str| Value::Decimal(rust_decimal::Decimal::from_str_exact(s).unwrap());
        assert_eq!(
            v(dec("12.50"), ColumnKind::Decimal).as_deref(),
            Some("12.50")
        );
        assert_eq!(
            v(dec("-0.0000001"), ColumnKind::Decimal).as_deref(),
            Some("-0.0000001")
        );
        assert_eq!(v(Value::Int(7), ColumnKind::Decimal).as_deref(), Some("7"));
        assert_eq!(
            v(Value::Bool(false), ColumnKind::Bool).as_deref(),
            Some("false")
        );
        let date = jiff::civil::Date::from_str("2024-02-29").unwrap();
        assert_eq!(
            v(Value::Date(date), ColumnKind::Date).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(
            v(Value::Date(date), ColumnKind::Datetime).as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        let t = jiff::Timestamp::from_str("2024-02-29T10:00:00.5+02:00").unwrap();
        assert_eq!(
            v(Value::DateTime(t), ColumnKind::Datetime).as_deref(),
            Some("2024-02-29T08:00:00.5Z")
        );
    }

    #[test]
    fn key_segments() {
        assert_eq!(key_segment(G, ColumnKind::Guid), format!("({G})"));
        assert_eq!(
            key_segment(&format!(" {} ", G.to_uppercase()), ColumnKind::Lookup),
            format!("({G})")
        );
        assert_eq!(key_segment("42", ColumnKind::Int), "(42)");
        assert_eq!(key_segment("-7", ColumnKind::Option), "(-7)");
        assert_eq!(key_segment("A'B", ColumnKind::String), "('A''B')");
        assert_eq!(
            key_segment("C 10/2#x?é%", ColumnKind::String),
            "('C%2010%2F2%23x%3F%C3%A9%25')"
        );
        assert_eq!(
            key_segment("a&b=c+d", ColumnKind::String),
            "('a%26b%3Dc%2Bd')"
        );
        // Invalid for the type: quoted and encoded, never bare.
        assert_eq!(key_segment("1)/x", ColumnKind::Int), "('1)%2Fx')");
        assert_eq!(key_segment("nope", ColumnKind::Guid), "('nope')");
    }

    #[test]
    fn option_encoding() {
        assert_eq!(
            encode_option("name eq 'O''Brien & Sons'"),
            "name%20eq%20'O''Brien%20%26%20Sons'"
        );
        assert_eq!(encode_option("a+b=c#d?e%f"), "a%2Bb%3Dc%23d%3Fe%25f");
        assert_eq!(encode_option("Zoë"), "Zo%C3%AB");
        assert_eq!(encode_option("(a,b):$x/y-z.w_v~u"), "(a,b):$x/y-z.w_v~u");
        assert_eq!(
            encode_option("\"<>[]{}|\\^`@;!*"),
            "%22%3C%3E%5B%5D%7B%7D%7C%5C%5E%60%40%3B%21%2A"
        );
    }

    #[test]
    fn query_strings() {
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[
                ("$select", "name,accountid"),
                ("$filter", "name eq 'A&B'"),
                ("$top", "10"),
            ]),
            "$select=name,accountid&$filter=name%20eq%20'A%26B'&$top=10"
        );
        let filter = format!(
            "modifiedon gt {} and name eq {}",
            value(
                &Value::DateTime(jiff::Timestamp::from_str("2024-01-31T08:00:00Z").unwrap()),
                ColumnKind::Datetime
            )
            .unwrap(),
            string("x y")
        );
        assert_eq!(
            query(&[("$filter", &filter)]),
            "$filter=modifiedon%20gt%202024-01-31T08:00:00Z%20and%20name%20eq%20'x%20y'"
        );
    }
}
