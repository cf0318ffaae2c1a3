//! The catalogue of built-in functions: names, signatures and documentation. The checker types
//! calls with it, the runtime evaluator implements every entry, the language server completes
//! and explains them. A test keeps the three in step.

/// What an argument accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// Text (strings, GUIDs, enum members).
    Text,
    /// A whole number.
    Int,
    /// An int or a decimal.
    Number,
    /// A date or a date-time.
    Temporal,
    /// Anything.
    Any,
}

/// What a function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// Text.
    Text,
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
    /// The type of the argument at this index.
    SameAs(usize),
}

/// One built-in function.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// The name users call.
    pub name: &'static str,
    /// Parameter names and kinds.
    pub params: &'static [(&'static str, ArgKind)],
    /// Whether the last parameter may repeat (zero or more times beyond the listed ones).
    pub variadic: bool,
    /// The result type.
    pub returns: Returns,
    /// One line on what it does, including how it treats null.
    pub doc: &'static str,
}

impl Builtin {
    /// `name(param: kind, …) -> type`, for hover and help lines.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .enumerate()
            .map(|(i, (n, k))| {
                let dots = if self.variadic && i + 1 == self.params.len() {
                    "…"
                } else {
                    ""
                };
                format!("{n}{dots}: {}", kind_name(*k))
            })
            .collect();
        let ret = match self.returns {
            Returns::Text => "string".to_string(),
            Returns::Int => "int".into(),
            Returns::Decimal => "decimal".into(),
            Returns::Bool => "bool".into(),
            Returns::Date => "date".into(),
            Returns::DateTime => "datetime".into(),
            Returns::SameAs(i) => format!("type of `{}`", self.params.get(i).map_or("?", |p| p.0)),
        };
        format!("{}({}) -> {ret}", self.name, params.join(", "))
    }
}

fn kind_name(k: ArgKind) -> &'static str {
    match k {
        ArgKind::Text => "string",
        ArgKind::Int => "int",
        ArgKind::Number => "number",
        ArgKind::Temporal => "date|datetime",
        ArgKind::Any => "any",
    }
}

use ArgKind::*;

/// Every built-in function, sorted by name.
pub const BUILTINS: &[Builtin] = &[
    Builtin { name: "abs", params: &[("value", Number)], variadic: false, returns: Returns::SameAs(0), doc: "The absolute value. Null gives null." },
    Builtin { name: "add_days", params: &[("value", Temporal), ("days", Int)], variadic: false, returns: Returns::SameAs(0), doc: "The date or date-time moved by a number of days (negative moves back). Null gives null." },
    Builtin { name: "ceil", params: &[("value", Number)], variadic: false, returns: Returns::SameAs(0), doc: "The smallest whole number not below the value. Null gives null." },
    Builtin { name: "concat", params: &[("parts", Any)], variadic: true, returns: Returns::Text, doc: "The parts as text, joined; null parts count as empty text." },
    Builtin { name: "contains", params: &[("text", Text), ("part", Text)], variadic: false, returns: Returns::Bool, doc: "Whether the text contains the part (with case). Null gives null." },
    Builtin { name: "day", params: &[("value", Temporal)], variadic: false, returns: Returns::Int, doc: "The day of the month, 1 to 31 (UTC for date-times). Null gives null." },
    Builtin { name: "ends_with", params: &[("text", Text), ("suffix", Text)], variadic: false, returns: Returns::Bool, doc: "Whether the text ends with the suffix (with case). Null gives null." },
    Builtin { name: "floor", params: &[("value", Number)], variadic: false, returns: Returns::SameAs(0), doc: "The largest whole number not above the value. Null gives null." },
    Builtin { name: "format_date", params: &[("value", Temporal), ("format", Text)], variadic: false, returns: Returns::Text, doc: "The date as text in a strftime format such as \"%d.%m.%Y\" (UTC for date-times). Null gives null." },
    Builtin { name: "is_null", params: &[("value", Any)], variadic: false, returns: Returns::Bool, doc: "Whether the value is null or absent." },
    Builtin { name: "label", params: &[("value", Any)], variadic: false, returns: Returns::Text, doc: "The label of an option-set value, e.g. 3 → \"Customer\". Null gives null." },
    Builtin { name: "left", params: &[("text", Text), ("count", Int)], variadic: false, returns: Returns::Text, doc: "The first `count` characters. Null gives null." },
    Builtin { name: "len", params: &[("text", Text)], variadic: false, returns: Returns::Int, doc: "The number of characters. Null gives null." },
    Builtin { name: "lower", params: &[("text", Text)], variadic: false, returns: Returns::Text, doc: "The text in lower case. Null gives null." },
    Builtin { name: "month", params: &[("value", Temporal)], variadic: false, returns: Returns::Int, doc: "The month, 1 to 12 (UTC for date-times). Null gives null." },
    Builtin { name: "now", params: &[], variadic: false, returns: Returns::DateTime, doc: "The time the run (or test) started, the same for every record of it." },
    Builtin { name: "pad_left", params: &[("text", Text), ("width", Int), ("fill", Text)], variadic: false, returns: Returns::Text, doc: "The text padded on the left with `fill` to `width` characters. Null gives null." },
    Builtin { name: "parse_date", params: &[("text", Text), ("format", Text)], variadic: false, returns: Returns::Date, doc: "A date read with a strftime format such as \"%d.%m.%Y\"; text that does not fit fails the field. Null gives null." },
    Builtin { name: "parse_datetime", params: &[("text", Text), ("format", Text)], variadic: false, returns: Returns::DateTime, doc: "A date-time read with a strftime format (with an offset, or taken as UTC); text that does not fit fails the field. Null gives null." },
    Builtin { name: "replace", params: &[("text", Text), ("from", Text), ("to", Text)], variadic: false, returns: Returns::Text, doc: "The text with every `from` replaced by `to`. Null gives null." },
    Builtin { name: "right", params: &[("text", Text), ("count", Int)], variadic: false, returns: Returns::Text, doc: "The last `count` characters. Null gives null." },
    Builtin { name: "round", params: &[("value", Number), ("digits", Int)], variadic: false, returns: Returns::Decimal, doc: "The value rounded half away from zero to `digits` decimals. Null gives null." },
    Builtin { name: "split_part", params: &[("text", Text), ("separator", Text), ("index", Int)], variadic: false, returns: Returns::Text, doc: "The index-th piece (from 1; negative counts from the end) of the text split at the separator, or \"\" past the end. Null gives null." },
    Builtin { name: "starts_with", params: &[("text", Text), ("prefix", Text)], variadic: false, returns: Returns::Bool, doc: "Whether the text starts with the prefix (with case). Null gives null." },
    Builtin { name: "substring", params: &[("text", Text), ("start", Int), ("length", Int)], variadic: false, returns: Returns::Text, doc: "`length` characters from position `start`, counting from 1. Null gives null." },
    Builtin { name: "to_decimal", params: &[("value", Any)], variadic: false, returns: Returns::Decimal, doc: "The value as a decimal; text that is not a number fails the field. Null gives null." },
    Builtin { name: "to_int", params: &[("value", Any)], variadic: false, returns: Returns::Int, doc: "The value as a whole number, decimals truncated toward zero; text that is not a number fails the field. Null gives null." },
    Builtin { name: "to_number", params: &[("value", Any)], variadic: false, returns: Returns::Decimal, doc: "The same as `to_decimal`." },
    Builtin { name: "to_string", params: &[("value", Any)], variadic: false, returns: Returns::Text, doc: "The value as text (dates as ISO 8601, decimals as written). Null gives null." },
    Builtin { name: "today", params: &[], variadic: false, returns: Returns::Date, doc: "The date of `now()` in the destination system's time zone (UTC unless its declaration names one)." },
    Builtin { name: "trim", params: &[("text", Text)], variadic: false, returns: Returns::Text, doc: "The text without leading and trailing white space. Null gives null." },
    Builtin { name: "trim_end", params: &[("text", Text)], variadic: false, returns: Returns::Text, doc: "The text without trailing white space. Null gives null." },
    Builtin { name: "trim_start", params: &[("text", Text)], variadic: false, returns: Returns::Text, doc: "The text without leading white space. Null gives null." },
    Builtin { name: "upper", params: &[("text", Text)], variadic: false, returns: Returns::Text, doc: "The text in upper case. Null gives null." },
    Builtin { name: "year", params: &[("value", Temporal)], variadic: false, returns: Returns::Int, doc: "The year (UTC for date-times). Null gives null." },
];

/// The built-in with this name.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_sorted_and_unique() {
        let names: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn signature_reads_like_the_docs() {
        assert_eq!(
            builtin("left").map(|b| b.signature()).as_deref(),
            Some("left(text: string, count: int) -> string")
        );
        assert_eq!(
            builtin("concat").map(|b| b.signature()).as_deref(),
            Some("concat(parts…: any) -> string")
        );
    }
}
