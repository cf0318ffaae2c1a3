//! The parsed form of a `$filter` expression, and its canonical OData text.

use std::fmt;

use jiff::civil::Date;
use jiff::Timestamp;
use rust_decimal::Decimal;

/// A parsed `$filter` expression.
///
/// Operators keep their operands in source order. `and` and `or` are associative, so a chain
/// of them is one node with every operand (`a and b and (c and d)` is `And([a, b, c, d])`):
/// a filter of thousands of conditions then stays shallow, and evaluating, printing and
/// dropping it needs no deep recursion. [`fmt::Display`] writes the expression back as OData
/// text with only the parentheses precedence needs, which parses to the same tree.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterExpr {
    /// A constant such as `'x'`, `42` or `null`.
    Literal(Literal),
    /// A property of the entity, by the name the request used (`_parentcustomerid_value`).
    Property(String),
    /// `not x`.
    Not(Box<FilterExpr>),
    /// `a and b and …`: two or more operands; in a parsed tree none of them is an `And`.
    And(Vec<FilterExpr>),
    /// `a or b or …`: two or more operands; in a parsed tree none of them is an `Or`.
    Or(Vec<FilterExpr>),
    /// `a eq b`, `a lt b`, ….
    Compare(CompareOp, Box<FilterExpr>, Box<FilterExpr>),
    /// `a in (v1, v2, …)`: true when `a` equals one of the listed constants.
    In(Box<FilterExpr>, Vec<Literal>),
    /// A canonical function call with its arguments; the arity is checked when parsing.
    Call(Function, Vec<FilterExpr>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `eq`.
    Eq,
    /// `ne`.
    Ne,
    /// `lt`.
    Lt,
    /// `le`.
    Le,
    /// `gt`.
    Gt,
    /// `ge`.
    Ge,
}

impl CompareOp {
    /// The operator as OData writes it (`eq`).
    pub fn keyword(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
        }
    }

    /// The operator kind as Microsoft's OData library names it in error messages
    /// (`GreaterThan`), so the emulators' messages read like the real services'.
    pub fn kind_name(self) -> &'static str {
        match self {
            CompareOp::Eq => "Equal",
            CompareOp::Ne => "NotEqual",
            CompareOp::Lt => "LessThan",
            CompareOp::Le => "LessThanOrEqual",
            CompareOp::Gt => "GreaterThan",
            CompareOp::Ge => "GreaterThanOrEqual",
        }
    }

    pub(crate) fn from_keyword(s: &str) -> Option<CompareOp> {
        Some(match s {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            _ => return None,
        })
    }
}

/// A canonical function the emulators evaluate: the ones syncmap's plans push down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `contains(s, sub)`: whether `sub` occurs in `s`.
    Contains,
    /// `startswith(s, prefix)`.
    StartsWith,
    /// `endswith(s, suffix)`.
    EndsWith,
    /// `tolower(s)`: lower case by Unicode rules.
    ToLower,
    /// `toupper(s)`: upper case by Unicode rules.
    ToUpper,
    /// `trim(s)`: without leading and trailing Unicode whitespace.
    Trim,
    /// `length(s)`: the number of characters.
    Length,
    /// `year(d)` of a date or date-time (in UTC).
    Year,
    /// `month(d)`, 1 to 12.
    Month,
    /// `day(d)`, 1 to 31.
    Day,
}

impl Function {
    /// Every supported function, for lookups by name.
    pub const ALL: [Function; 10] = [
        Function::Contains,
        Function::StartsWith,
        Function::EndsWith,
        Function::ToLower,
        Function::ToUpper,
        Function::Trim,
        Function::Length,
        Function::Year,
        Function::Month,
        Function::Day,
    ];

    /// The function's name as OData writes it.
    pub fn name(self) -> &'static str {
        match self {
            Function::Contains => "contains",
            Function::StartsWith => "startswith",
            Function::EndsWith => "endswith",
            Function::ToLower => "tolower",
            Function::ToUpper => "toupper",
            Function::Trim => "trim",
            Function::Length => "length",
            Function::Year => "year",
            Function::Month => "month",
            Function::Day => "day",
        }
    }

    /// How many arguments the function takes.
    pub fn arity(self) -> usize {
        match self {
            Function::Contains | Function::StartsWith | Function::EndsWith => 2,
            _ => 1,
        }
    }

    /// The signatures an error message lists when the arguments do not fit.
    pub fn signatures(self) -> &'static str {
        match self {
            Function::Contains => "contains(Edm.String, Edm.String)",
            Function::StartsWith => "startswith(Edm.String, Edm.String)",
            Function::EndsWith => "endswith(Edm.String, Edm.String)",
            Function::ToLower => "tolower(Edm.String)",
            Function::ToUpper => "toupper(Edm.String)",
            Function::Trim => "trim(Edm.String)",
            Function::Length => "length(Edm.String)",
            Function::Year => "year(Edm.Date); year(Edm.DateTimeOffset)",
            Function::Month => "month(Edm.Date); month(Edm.DateTimeOffset)",
            Function::Day => "day(Edm.Date); day(Edm.DateTimeOffset)",
        }
    }

    /// The function with this exact (lower-case) name.
    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A constant of the expression language; also the type of the values evaluation produces.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`, and any missing value.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number without fraction, exponent or `m` suffix that fits 64 bits.
    Int(i64),
    /// Any other number, exactly (`1000.50` keeps its scale).
    Decimal(Decimal),
    /// Text, with `''` already turned into `'`.
    String(String),
    /// A GUID literal, lower case; it compares with text case-insensitively.
    Guid(String),
    /// A date.
    Date(Date),
    /// An instant.
    DateTime(Timestamp),
}

impl Literal {
    /// The EDM type name error messages use for the value (`Edm.String`).
    pub fn edm_type(&self) -> &'static str {
        match self {
            Literal::Null => "null",
            Literal::Bool(_) => "Edm.Boolean",
            Literal::Int(i) if i32::try_from(*i).is_ok() => "Edm.Int32",
            Literal::Int(_) => "Edm.Int64",
            Literal::Decimal(_) => "Edm.Decimal",
            Literal::String(_) => "Edm.String",
            Literal::Guid(_) => "Edm.Guid",
            Literal::Date(_) => "Edm.Date",
            Literal::DateTime(_) => "Edm.DateTimeOffset",
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            // A decimal without a fraction would read back as an integer.
            Literal::Decimal(d) if d.scale() == 0 => write!(f, "{d}.0"),
            Literal::Decimal(d) => write!(f, "{d}"),
            Literal::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Literal::Guid(g) => f.write_str(g),
            Literal::Date(d) => write!(f, "{d}"),
            Literal::DateTime(t) => write!(f, "{t}"),
        }
    }
}

impl FilterExpr {
    /// The names of the properties the expression reads, each once, in order of appearance.
    ///
    /// A server checks them against the entity type before scanning rows, so an unknown
    /// property is an error even when no row is evaluated (see
    /// [`super::QueryError::unknown_property`]).
    pub fn properties(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_properties(&mut out);
        out
    }

    fn collect_properties<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            FilterExpr::Literal(_) => {}
            FilterExpr::Property(p) => {
                if !out.contains(&p.as_str()) {
                    out.push(p);
                }
            }
            FilterExpr::Not(x) | FilterExpr::In(x, _) => x.collect_properties(out),
            FilterExpr::Compare(_, a, b) => {
                a.collect_properties(out);
                b.collect_properties(out);
            }
            FilterExpr::And(xs) | FilterExpr::Or(xs) | FilterExpr::Call(_, xs) => {
                xs.iter().for_each(|x| x.collect_properties(out))
            }
        }
    }

    /// Binding strength, as in the grammar: higher binds tighter.
    fn precedence(&self) -> u8 {
        match self {
            FilterExpr::Or(..) => 1,
            FilterExpr::And(..) => 2,
            FilterExpr::Compare(CompareOp::Eq | CompareOp::Ne, ..) => 3,
            FilterExpr::Compare(..) => 4,
            FilterExpr::Not(_) => 5,
            FilterExpr::Literal(_)
            | FilterExpr::Property(_)
            | FilterExpr::In(..)
            | FilterExpr::Call(..) => 6,
        }
    }
}

/// Writes `e`, in parentheses when it binds looser than `min`.
fn operand(f: &mut fmt::Formatter<'_>, e: &FilterExpr, min: u8) -> fmt::Result {
    if e.precedence() < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl fmt::Display for FilterExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.precedence();
        match self {
            FilterExpr::Literal(l) => write!(f, "{l}"),
            FilterExpr::Property(name) => f.write_str(name),
            FilterExpr::Not(x) => {
                f.write_str("not ")?;
                operand(f, x, p)
            }
            FilterExpr::And(xs) | FilterExpr::Or(xs) => {
                let word = if matches!(self, FilterExpr::And(_)) {
                    " and "
                } else {
                    " or "
                };
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(word)?;
                    }
                    // A parsed tree has no operand of the same operator; one built by hand
                    // keeps its grouping.
                    operand(f, x, p + 1)?;
                }
                Ok(())
            }
            // Left-associative: the right operand needs parentheses at equal precedence.
            FilterExpr::Compare(op, a, b) => {
                operand(f, a, p)?;
                write!(f, " {} ", op.keyword())?;
                operand(f, b, p + 1)
            }
            FilterExpr::In(x, items) => {
                // `in` is primary-level and takes one primary on its left, which must not be
                // another `in`.
                if matches!(**x, FilterExpr::In(..)) {
                    write!(f, "({x})")?;
                } else {
                    operand(f, x, 6)?;
                }
                f.write_str(" in (")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str(")")
            }
            FilterExpr::Call(func, args) => {
                write!(f, "{}(", func.name())?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}
