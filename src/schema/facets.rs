//! How many digits a decimal has before and after its point, and whether a value fits a
//! decimal column's precision and scale (OData's facets). Shared by the checker, which judges
//! expressions, and the runtime, which judges each value before it is sent.

use rust_decimal::Decimal;

use crate::schema::ColumnType;

/// What is known of the digits of the values an expression yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digits {
    /// The most digits after the point.
    pub scale: Option<u32>,
    /// The most digits before the point.
    pub integer: Option<u32>,
}

impl Digits {
    /// Nothing known.
    pub const UNKNOWN: Digits = Digits {
        scale: None,
        integer: None,
    };

    /// What a column's type says of its values: a decimal's facets, nothing for other types
    /// (an integer column's width is the system's business, and warning on every `int ->
    /// decimal(…)` would drown the warnings that matter).
    pub fn of_column(ty: &ColumnType) -> Digits {
        match ty {
            ColumnType::Decimal { precision, scale } => Digits {
                scale: *scale,
                integer: precision.zip(*scale).map(|(p, s)| p.saturating_sub(s)),
            },
            _ => Digits::UNKNOWN,
        }
    }

    /// The digits of one value: trailing zeros after the point do not count (`1.50` fits a
    /// scale of 1).
    pub fn of_value(d: Decimal) -> Digits {
        let n = d.normalize();
        Digits {
            scale: Some(n.scale()),
            integer: Some(integer_digits(n)),
        }
    }

    /// The larger of two, known only when both are.
    pub fn widest(self, other: Digits) -> Digits {
        Digits {
            scale: self.scale.zip(other.scale).map(|(a, b)| a.max(b)),
            integer: self.integer.zip(other.integer).map(|(a, b)| a.max(b)),
        }
    }
}

/// How many digits a decimal has before its point (`0` for `0.5`).
pub fn integer_digits(d: Decimal) -> u32 {
    let whole = d.trunc().abs();
    if whole.is_zero() {
        0
    } else {
        u32::try_from(whole.to_string().len()).unwrap_or(u32::MAX)
    }
}

/// How a value or an expression exceeds a decimal column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfit {
    /// More digits after the point than the column's scale.
    Scale {
        /// The digits there are (or may be).
        have: u32,
        /// The scale.
        holds: u32,
    },
    /// More digits before the point than precision minus scale.
    Integer {
        /// The digits there are (or may be).
        have: u32,
        /// Precision minus scale.
        holds: u32,
    },
}

impl Misfit {
    /// What is in excess, e.g. "5 digits after the point".
    pub fn have(&self) -> String {
        match *self {
            Misfit::Scale { have, .. } => format!("{have} digit{} after the point", plural(have)),
            Misfit::Integer { have, .. } => {
                format!("{have} digit{} before the point", plural(have))
            }
        }
    }

    /// How many digits the column holds there.
    pub fn holds(&self) -> u32 {
        match *self {
            Misfit::Scale { holds, .. } | Misfit::Integer { holds, .. } => holds,
        }
    }
}

/// How a value does not fit a decimal column of these facets, if it does not.
pub fn decimal_misfit(d: Decimal, precision: Option<u32>, scale: Option<u32>) -> Option<Misfit> {
    let want = Digits {
        scale,
        integer: precision.zip(scale).map(|(p, s)| p.saturating_sub(s)),
    };
    misfit(Digits::of_value(d), want)
}

/// The first way `have` can exceed `want`: the scale, then the integer digits.
pub fn misfit(have: Digits, want: Digits) -> Option<Misfit> {
    if let (Some(h), Some(w)) = (have.scale, want.scale) {
        if h > w {
            return Some(Misfit::Scale { have: h, holds: w });
        }
    }
    match (have.integer, want.integer) {
        (Some(h), Some(w)) if h > w => Some(Misfit::Integer { have: h, holds: w }),
        _ => None,
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn values_fit_by_their_significant_digits() {
        let fits = |s: &str| decimal_misfit(dec(s), Some(19), Some(4));
        assert_eq!(fits("12345678901234.5678"), None);
        assert_eq!(fits("-98765432109876.5432"), None);
        assert_eq!(fits("1.23450000"), None, "trailing zeros are not digits");
        assert_eq!(fits("1.23456"), Some(Misfit::Scale { have: 5, holds: 4 }));
        assert_eq!(
            fits("-1234567890123456"),
            Some(Misfit::Integer {
                have: 16,
                holds: 15
            })
        );
        assert_eq!(fits("999999999999999.9999"), None);
        assert_eq!(decimal_misfit(dec("1.23456"), None, None), None);
        let half = decimal_misfit(dec("0.5"), Some(3), Some(0)).unwrap();
        assert_eq!(half.have(), "1 digit after the point");
        assert_eq!(half.holds(), 0);
    }

    #[test]
    fn integer_digits_ignore_sign_and_fraction() {
        assert_eq!(integer_digits(dec("0.999")), 0);
        assert_eq!(integer_digits(dec("-10.5")), 2);
        assert_eq!(integer_digits(dec("79228162514264337593543950335")), 29);
    }
}
