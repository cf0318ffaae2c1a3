//! The types of the language and the rules that relate them: what may be written where, what
//! may be compared, and what round-trips unchanged.

use std::fmt;
use std::sync::Arc;

use crate::schema::{ColumnType, OptionValue};

/// The type of an expression or column.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// Text, with a known maximum length when there is one.
    String {
        /// Longest possible value in characters.
        max: Option<u32>,
    },
    /// A whole number.
    Int,
    /// A decimal.
    Decimal,
    /// A boolean.
    Bool,
    /// A date.
    Date,
    /// A date-time.
    DateTime,
    /// A GUID.
    Guid,
    /// A Dataverse choice.
    Option(Arc<Vec<OptionValue>>),
    /// A Business Central enum.
    Enum(Arc<Vec<String>>),
    /// A reference to a row of one of these tables.
    Lookup(Arc<Vec<String>>),
    /// The type of `null`: fits anywhere.
    Null,
    /// An error was already reported here: fits anywhere, so no knock-on errors follow.
    Unknown,
}

impl Ty {
    /// The type of a schema column.
    pub fn of_column(t: &ColumnType) -> Ty {
        match t {
            ColumnType::String { max_length } => Ty::String { max: *max_length },
            ColumnType::Int => Ty::Int,
            ColumnType::Decimal { .. } => Ty::Decimal,
            ColumnType::Bool => Ty::Bool,
            ColumnType::Date => Ty::Date,
            ColumnType::Datetime => Ty::DateTime,
            ColumnType::Guid => Ty::Guid,
            ColumnType::Option { options } => Ty::Option(Arc::new(options.clone())),
            ColumnType::Enum { members } => Ty::Enum(Arc::new(members.clone())),
            ColumnType::Lookup { targets } => Ty::Lookup(Arc::new(targets.clone())),
        }
    }

    /// A type named in a function signature (`string`, `int`, …).
    pub fn from_name(name: &str) -> Option<Ty> {
        Some(match name {
            "string" => Ty::String { max: None },
            "int" => Ty::Int,
            "decimal" => Ty::Decimal,
            "bool" => Ty::Bool,
            "date" => Ty::Date,
            "datetime" => Ty::DateTime,
            "guid" => Ty::Guid,
            _ => return None,
        })
    }

    /// The names `from_name` accepts.
    pub const NAMES: [&'static str; 7] = [
        "string", "int", "decimal", "bool", "date", "datetime", "guid",
    ];

    /// Whether errors about this type should be suppressed.
    pub fn is_lenient(&self) -> bool {
        matches!(self, Ty::Unknown | Ty::Null)
    }

    /// Whether values of this type are text at run time.
    pub fn is_textual(&self) -> bool {
        matches!(
            self,
            Ty::String { .. } | Ty::Enum(_) | Ty::Guid | Ty::Lookup(_)
        )
    }

    /// Whether values of this type are numbers.
    pub fn is_numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Decimal)
    }

    /// Whether values are dates or date-times.
    pub fn is_temporal(&self) -> bool {
        matches!(self, Ty::Date | Ty::DateTime)
    }

    /// Whether the value is a row key (GUID or lookup).
    pub fn is_key(&self) -> bool {
        matches!(self, Ty::Guid | Ty::Lookup(_))
    }

    /// The longest text a value of this type can have, when known.
    pub fn max_len(&self) -> Option<u32> {
        match self {
            Ty::String { max } => *max,
            Ty::Enum(m) => m.iter().map(|s| s.chars().count() as u32).max(),
            Ty::Guid | Ty::Lookup(_) => Some(36),
            Ty::Option(o) => o.iter().map(|v| v.label.chars().count() as u32).max(),
            _ => None,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::String { max: Some(n) } => write!(f, "string({n})"),
            Ty::String { max: None } => f.write_str("string"),
            Ty::Int => f.write_str("int"),
            Ty::Decimal => f.write_str("decimal"),
            Ty::Bool => f.write_str("bool"),
            Ty::Date => f.write_str("date"),
            Ty::DateTime => f.write_str("datetime"),
            Ty::Guid => f.write_str("guid"),
            Ty::Option(_) => f.write_str("option set"),
            Ty::Enum(_) => f.write_str("enum"),
            // No backticks inside: messages quote the whole type as `…`.
            Ty::Lookup(t) => write!(f, "lookup to {}", t.join("/")),
            Ty::Null => f.write_str("null"),
            Ty::Unknown => f.write_str("unknown"),
        }
    }
}

/// Whether a value of type `from` may be written to a column of type `to` as is. Lookups are
/// judged elsewhere (they need `via`).
#[allow(clippy::match_like_matches_macro)] // one arm per rule reads as a table of conversions
pub fn assignable(from: &Ty, to: &Ty) -> bool {
    if from.is_lenient() || matches!(to, Ty::Unknown) {
        return true;
    }
    match (from, to) {
        (Ty::String { .. }, Ty::String { .. }) => true,
        (Ty::Enum(_), Ty::String { .. }) => true,
        (Ty::Guid | Ty::Lookup(_), Ty::String { .. }) => true,
        (Ty::String { .. } | Ty::Enum(_), Ty::Enum(_)) => true,
        (Ty::Int, Ty::Int | Ty::Decimal) => true,
        (Ty::Decimal, Ty::Decimal) => true,
        (Ty::Bool, Ty::Bool) => true,
        (Ty::Date | Ty::DateTime, Ty::Date | Ty::DateTime) => true,
        (Ty::Guid | Ty::Lookup(_), Ty::Guid | Ty::Lookup(_)) => true,
        (Ty::Option(_) | Ty::Int, Ty::Option(_)) => true,
        (Ty::Option(_), Ty::Int | Ty::Decimal) => true,
        _ => false,
    }
}

/// Whether two types can be compared with `==`, `<` and friends.
pub fn comparable(a: &Ty, b: &Ty) -> bool {
    if a.is_lenient() || b.is_lenient() {
        return true;
    }
    (a.is_textual() && b.is_textual())
        || (a.is_numeric() && b.is_numeric())
        || (a.is_temporal() && b.is_temporal())
        || matches!((a, b), (Ty::Bool, Ty::Bool))
        || matches!(
            (a, b),
            (Ty::Option(_), Ty::Option(_) | Ty::Int) | (Ty::Int, Ty::Option(_))
        )
}

/// Whether a value survives a trip `a → b → a` unchanged (ignoring lengths, which warn).
pub fn round_trips(a: &Ty, b: &Ty) -> bool {
    if a.is_lenient() || b.is_lenient() {
        return true;
    }
    match (a, b) {
        (Ty::String { .. }, Ty::String { .. }) => true,
        (Ty::Option(x), Ty::Option(y)) => same_options(x, y),
        (Ty::Enum(x), Ty::Enum(y)) => {
            let (mut x, mut y) = (x.to_vec(), y.to_vec());
            x.sort();
            y.sort();
            x == y
        }
        (Ty::Int, Ty::Int) | (Ty::Decimal, Ty::Decimal) | (Ty::Bool, Ty::Bool) => true,
        (Ty::Date, Ty::Date) | (Ty::DateTime, Ty::DateTime) => true,
        (Ty::Guid, Ty::Guid) => true,
        _ => false,
    }
}

fn same_options(x: &[OptionValue], y: &[OptionValue]) -> bool {
    let mut a: Vec<i64> = x.iter().map(|o| o.value).collect();
    let mut b: Vec<i64> = y.iter().map(|o| o.value).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// The common type of two branches (`if`, `??`), if they have one.
pub fn join(a: &Ty, b: &Ty) -> Option<Ty> {
    Some(match (a, b) {
        (Ty::Unknown, t) | (t, Ty::Unknown) => t.clone(),
        (Ty::Null, t) | (t, Ty::Null) => t.clone(),
        (Ty::String { max: x }, Ty::String { max: y }) => Ty::String {
            max: x.zip(*y).map(|(x, y)| x.max(y)),
        },
        (x, y) if x.is_textual() && y.is_textual() => {
            if x == y {
                x.clone()
            } else {
                Ty::String {
                    max: x.max_len().zip(y.max_len()).map(|(a, b)| a.max(b)),
                }
            }
        }
        (Ty::Int, Ty::Decimal) | (Ty::Decimal, Ty::Int) => Ty::Decimal,
        (Ty::Date, Ty::DateTime) | (Ty::DateTime, Ty::Date) => Ty::DateTime,
        (Ty::Option(x), Ty::Option(_)) => Ty::Option(x.clone()),
        (Ty::Option(_), Ty::Int) | (Ty::Int, Ty::Option(_)) => Ty::Int,
        (x, y) if x == y => x.clone(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(values: &[i64]) -> Ty {
        Ty::Option(Arc::new(
            values
                .iter()
                .map(|v| OptionValue {
                    value: *v,
                    label: format!("L{v}"),
                })
                .collect(),
        ))
    }

    #[test]
    fn numbers_widen_but_do_not_narrow() {
        assert!(assignable(&Ty::Int, &Ty::Decimal));
        assert!(!assignable(&Ty::Decimal, &Ty::Int));
        assert!(!assignable(&Ty::Int, &Ty::String { max: None }));
    }

    #[test]
    fn option_sets_round_trip_only_with_the_same_values() {
        assert!(round_trips(&opts(&[1, 2]), &opts(&[2, 1])));
        assert!(!round_trips(&opts(&[1, 2]), &opts(&[1, 2, 3])));
        assert!(!round_trips(&Ty::Int, &Ty::Decimal));
    }

    #[test]
    fn join_finds_common_types() {
        assert_eq!(join(&Ty::Int, &Ty::Decimal), Some(Ty::Decimal));
        assert_eq!(join(&Ty::Null, &Ty::Bool), Some(Ty::Bool));
        assert_eq!(join(&Ty::Bool, &Ty::Int), None);
        assert_eq!(
            join(&Ty::String { max: Some(3) }, &Ty::String { max: Some(9) }),
            Some(Ty::String { max: Some(9) })
        );
    }
}
