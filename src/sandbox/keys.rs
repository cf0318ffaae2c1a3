//! Keys by the key column's type, as a strict OData service reads them: in a key segment
//! (`numbers(42)`, `accounts(00000000-…)`), in a request body, and in `$filter` comparisons.
//! An integer key written as text (`numbers('42')`, `id eq '42'`, `"id": "42"`) is a type
//! error (400), not a match: clients that quote every key must find out here, not in
//! production. Also the sandbox's plain OData table with an integer key, served beside
//! Dataverse's tables when [`super::SandboxConfig::integer_keys`] is set.

use serde_json::Value as Json;

use crate::schema::{ColumnSchema, ColumnType, SystemSchema, TableSchema, SCHEMA_FORMAT_VERSION};

use super::query::{FilterExpr, Literal, QueryError};
use super::request::guid_key;
use super::values::edm_type;

/// The name of the integer-keyed table.
pub const NUMBERS: &str = "numbers";

/// A schema snapshot of the table the sandbox serves with `integer_keys`: `numbers`, keyed by
/// an `Edm.Int32` `id` the client chooses, with a name, an exact amount (Decimal(19,4)), a
/// `ratio` (a decimal without facets) and the `modifiedon` the service stamps. Mappings use it as the snapshot of that system.
pub fn integer_keyed_schema() -> SystemSchema {
    let column = |name: &str, ty: ColumnType, nullable: bool, read_only: bool| ColumnSchema {
        name: name.into(),
        ty,
        nullable,
        read_only,
        required_on_create: false,
        time_zone_independent: false,
        default: None,
        description: None,
    };
    SystemSchema {
        format_version: SCHEMA_FORMAT_VERSION,
        source: Some("syncmap sandbox: a plain OData table with an integer key".into()),
        tables: vec![TableSchema {
            name: NUMBERS.into(),
            entity_type: Some("number".into()),
            key: "id".into(),
            modified_on: Some("modifiedon".into()),
            columns: vec![
                column("id", ColumnType::Int, false, false),
                column(
                    "name",
                    ColumnType::String {
                        max_length: Some(100),
                    },
                    true,
                    false,
                ),
                column(
                    "amount",
                    ColumnType::Decimal {
                        precision: Some(19),
                        scale: Some(4),
                    },
                    true,
                    false,
                ),
                // A decimal without facets: any number of digits on either side of the point.
                column("ratio", ColumnType::DECIMAL, true, false),
                column("modifiedon", ColumnType::Datetime, true, true),
            ],
        }],
    }
}

fn is_integer(c: &ColumnSchema) -> bool {
    matches!(c.ty, ColumnType::Int | ColumnType::Option { .. })
}

/// The key of a key segment (what is inside the parentheses), as stored; `Err` with the
/// service's message when it is not a literal of the key's type.
pub(crate) fn url_key(t: &TableSchema, text: &str) -> Result<String, String> {
    let Some(c) = t.column(&t.key) else {
        return guid_key(text).ok_or_else(|| format!("the key '{text}' is not a GUID."));
    };
    let inner = text.trim();
    let inner = inner.strip_prefix(&format!("{}=", t.key)).unwrap_or(inner);
    match &c.ty {
        ColumnType::Int | ColumnType::Option { .. } => integer(inner)
            .ok_or_else(|| format!("the key '{text}' is not an {} literal.", edm_type(c))),
        ColumnType::String { .. } | ColumnType::Enum { .. } => inner
            .strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
            .map(|s| s.replace("''", "'"))
            .ok_or_else(|| format!("the key '{text}' is not an Edm.String literal.")),
        _ => guid_key(inner).ok_or_else(|| format!("the key '{text}' is not a GUID.")),
    }
}

/// Bare decimal digits with an optional sign, within i64, as the stored text.
fn integer(text: &str) -> Option<String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok().map(|n| n.to_string())
}

/// The key a request body writes, as stored: a JSON number for an integer key, a GUID string
/// for a GUID key; `Err` with the EDM type expected.
pub(crate) fn body_key(t: &TableSchema, v: &Json) -> Result<String, &'static str> {
    match t.column(&t.key) {
        Some(c) if is_integer(c) => v.as_i64().map(|n| n.to_string()).ok_or(edm_type(c)),
        _ => v.as_str().and_then(guid_key).ok_or("Edm.Guid"),
    }
}

/// Refuses comparisons of an integer column with a text or GUID literal (`id eq '1'`), as
/// strict services do before reading a row; `column` names the column a property stands for.
pub(crate) fn check_literals(
    f: &FilterExpr,
    t: &TableSchema,
    column: &dyn Fn(&str) -> Option<String>,
) -> Result<(), QueryError> {
    let integer_property = |e: &FilterExpr| match e {
        FilterExpr::Property(p) => column(p)
            .and_then(|c| t.column(&c))
            .filter(|c| is_integer(c))
            .map(edm_type),
        _ => None,
    };
    let text = |l: &Literal| matches!(l, Literal::String(_) | Literal::Guid(_));
    let mismatch = |edm: &'static str, l: &Literal, operator: &'static str| {
        Err(QueryError::IncompatibleOperands {
            left: edm,
            right: l.edm_type(),
            operator,
        })
    };
    match f {
        FilterExpr::Compare(op, a, b) => match (a.as_ref(), b.as_ref()) {
            (p, FilterExpr::Literal(l)) | (FilterExpr::Literal(l), p) if text(l) => {
                match integer_property(p) {
                    Some(edm) => mismatch(edm, l, op.kind_name()),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        },
        FilterExpr::In(p, lits) => match (integer_property(p), lits.iter().find(|l| text(l))) {
            (Some(edm), Some(l)) => mismatch(edm, l, "In"),
            _ => Ok(()),
        },
        FilterExpr::And(xs) | FilterExpr::Or(xs) => {
            xs.iter().try_for_each(|x| check_literals(x, t, column))
        }
        FilterExpr::Not(x) => check_literals(x, t, column),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sandbox::query::parse_filter;

    fn numbers() -> TableSchema {
        integer_keyed_schema().tables.remove(0)
    }

    #[test]
    fn integer_keys_are_bare_numbers_only() {
        let t = numbers();
        assert_eq!(url_key(&t, "42").unwrap(), "42");
        assert_eq!(url_key(&t, "-7").unwrap(), "-7");
        assert_eq!(url_key(&t, "id=5").unwrap(), "5");
        for bad in ["'42'", "4 2", "", "x", "99999999999999999999", "1.5"] {
            let e = url_key(&t, bad).unwrap_err();
            assert!(e.contains("Edm.Int32"), "{bad}: {e}");
        }
        assert_eq!(body_key(&t, &serde_json::json!(42)).unwrap(), "42");
        assert_eq!(body_key(&t, &serde_json::json!("42")), Err("Edm.Int32"));
    }

    #[test]
    fn filters_comparing_an_integer_key_with_text_are_refused() {
        let t = numbers();
        let column = |p: &str| t.column(p).map(|c| c.name.clone());
        for bad in [
            "id eq '1'",
            "'1' eq id",
            "name eq 'a' or id eq '1'",
            "id in ('1', '2')",
        ] {
            let f = parse_filter(bad).unwrap();
            let e = check_literals(&f, &t, &column).unwrap_err();
            assert!(
                e.to_string().contains("'Edm.Int32' and 'Edm.String'"),
                "{bad}: {e}"
            );
        }
        for good in [
            "id eq 1",
            "id in (1, 2)",
            "name eq '1'",
            "id ge 1 and name ne 'x'",
        ] {
            let f = parse_filter(good).unwrap();
            assert!(check_literals(&f, &t, &column).is_ok(), "{good}");
        }
    }
}
