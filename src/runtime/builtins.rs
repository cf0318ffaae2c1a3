//! The built-in functions of [`crate::functions::BUILTINS`], resolved by name once when an
//! expression is prepared and then applied to evaluated arguments.

use jiff::civil::Date;
use jiff::fmt::strtime;
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Span, Timestamp};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::functions;
use crate::runtime::error::{overflow, type_err, EvalError};
use crate::value::{parse_decimal, Value};

/// A built-in function, resolved from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Abs,
    AddDays,
    Ceil,
    Concat,
    Contains,
    Day,
    EndsWith,
    Floor,
    FormatDate,
    IsNull,
    Label,
    Left,
    Len,
    Lower,
    Month,
    Now,
    PadLeft,
    ParseDate,
    ParseDatetime,
    Replace,
    Right,
    Round,
    SplitPart,
    StartsWith,
    Substring,
    ToDecimal,
    ToInt,
    ToNumber,
    ToString,
    Today,
    Trim,
    TrimEnd,
    TrimStart,
    Upper,
    Year,
}

/// Every function with its name, in catalogue order.
pub(crate) const ALL: &[(Func, &str)] = &[
    (Func::Abs, "abs"),
    (Func::AddDays, "add_days"),
    (Func::Ceil, "ceil"),
    (Func::Concat, "concat"),
    (Func::Contains, "contains"),
    (Func::Day, "day"),
    (Func::EndsWith, "ends_with"),
    (Func::Floor, "floor"),
    (Func::FormatDate, "format_date"),
    (Func::IsNull, "is_null"),
    (Func::Label, "label"),
    (Func::Left, "left"),
    (Func::Len, "len"),
    (Func::Lower, "lower"),
    (Func::Month, "month"),
    (Func::Now, "now"),
    (Func::PadLeft, "pad_left"),
    (Func::ParseDate, "parse_date"),
    (Func::ParseDatetime, "parse_datetime"),
    (Func::Replace, "replace"),
    (Func::Right, "right"),
    (Func::Round, "round"),
    (Func::SplitPart, "split_part"),
    (Func::StartsWith, "starts_with"),
    (Func::Substring, "substring"),
    (Func::ToDecimal, "to_decimal"),
    (Func::ToInt, "to_int"),
    (Func::ToNumber, "to_number"),
    (Func::ToString, "to_string"),
    (Func::Today, "today"),
    (Func::Trim, "trim"),
    (Func::TrimEnd, "trim_end"),
    (Func::TrimStart, "trim_start"),
    (Func::Upper, "upper"),
    (Func::Year, "year"),
];

impl Func {
    fn name(self) -> &'static str {
        ALL.iter().find(|(f, _)| *f == self).map_or("?", |(_, n)| n)
    }

    fn what(self) -> String {
        format!("`{}`", self.name())
    }
}

/// The function called `name` with `argc` arguments, checked against the catalogue.
/// `label` is refused: the checker turns it into a value map.
pub(crate) fn resolve(name: &str, argc: usize) -> Result<Func, EvalError> {
    let unknown = || EvalError::UnknownFunction {
        name: name.to_string(),
    };
    let entry = functions::builtin(name).ok_or_else(unknown)?;
    let func = ALL
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(f, _)| *f)
        .ok_or_else(unknown)?;
    if func == Func::Label {
        return Err(EvalError::LabelAtRuntime);
    }
    let listed = entry.params.len();
    let fits = if entry.variadic {
        argc + 1 >= listed
    } else {
        argc == listed
    };
    if !fits {
        let expected = if entry.variadic {
            format!("at least {}", listed.saturating_sub(1))
        } else {
            listed.to_string()
        };
        return Err(EvalError::Arity {
            func: name.to_string(),
            expected,
            found: argc,
        });
    }
    Ok(func)
}

/// Applies `f` to evaluated arguments (as many as [`resolve`] allowed).
///
/// Absent and null arguments propagate (absent first) except for `concat` and `is_null`.
/// `now` is the run's start; `zone` gives date-times their calendar day (`today()`, `year`,
/// `format_date`).
pub(crate) fn call(
    f: Func,
    args: &[Value],
    now: Timestamp,
    zone: &TimeZone,
) -> Result<Value, EvalError> {
    let strict = !matches!(
        f,
        Func::Concat | Func::IsNull | Func::Now | Func::Today | Func::Label
    );
    if strict && args.iter().any(Value::is_absent) {
        return Ok(Value::Absent);
    }
    if strict && args.contains(&Value::Null) {
        return Ok(Value::Null);
    }
    let a = Args { f, values: args };
    match f {
        Func::Abs
        | Func::Ceil
        | Func::Floor
        | Func::Round
        | Func::ToDecimal
        | Func::ToNumber
        | Func::ToInt => number(&a),
        Func::AddDays
        | Func::Day
        | Func::Month
        | Func::Year
        | Func::FormatDate
        | Func::ParseDate
        | Func::ParseDatetime
        | Func::Now
        | Func::Today => date(&a, now, zone),
        Func::Left
        | Func::Right
        | Func::Substring
        | Func::PadLeft
        | Func::Replace
        | Func::SplitPart => cut(&a),
        Func::Contains
        | Func::StartsWith
        | Func::EndsWith
        | Func::Len
        | Func::Lower
        | Func::Upper
        | Func::Trim
        | Func::TrimStart
        | Func::TrimEnd
        | Func::ToString
        | Func::Concat
        | Func::IsNull => text(&a),
        // The checker replaces `label(x)` with a value map.
        Func::Label => Err(EvalError::LabelAtRuntime),
    }
}

/// The evaluated arguments of a call, read as its function needs them.
struct Args<'v> {
    f: Func,
    values: &'v [Value],
}

impl<'v> Args<'v> {
    /// The `i`th argument; null when the call has fewer.
    fn arg(&self, i: usize) -> &'v Value {
        self.values.get(i).unwrap_or(&Value::Null)
    }

    fn text(&self, i: usize) -> Result<&'v str, EvalError> {
        as_text(self.f, self.arg(i))
    }

    fn int(&self, i: usize) -> Result<i64, EvalError> {
        as_int(self.f, self.arg(i))
    }

    /// A non-negative count argument, named in its error.
    fn count(&self, i: usize, what: &'static str) -> Result<usize, EvalError> {
        count(self.f, what, self.int(i)?)
    }
}

fn string(t: String) -> Result<Value, EvalError> {
    Ok(Value::String(t))
}

/// `abs`, `ceil`, `floor`, `round` and the conversions to numbers.
fn number(a: &Args<'_>) -> Result<Value, EvalError> {
    let f = a.f;
    match f {
        Func::Abs => match a.arg(0) {
            Value::Int(i) => i
                .checked_abs()
                .map(Value::Int)
                .ok_or_else(|| overflow("`abs`")),
            Value::Decimal(d) => Ok(Value::Decimal(d.abs())),
            other => Err(type_err(&f.what(), "a number", other)),
        },
        Func::Ceil | Func::Floor => match a.arg(0) {
            Value::Int(i) => Ok(Value::Int(*i)),
            Value::Decimal(d) if f == Func::Ceil => Ok(Value::Decimal(d.ceil())),
            Value::Decimal(d) => Ok(Value::Decimal(d.floor())),
            other => Err(type_err(&f.what(), "a number", other)),
        },
        Func::Round => round(a.arg(0), a.int(1)?),
        Func::ToInt => match a.arg(0) {
            Value::Int(i) => Ok(Value::Int(*i)),
            other => {
                let d = to_decimal(f, other)?;
                d.trunc()
                    .to_i64()
                    .map(Value::Int)
                    .ok_or_else(|| overflow("`to_int`"))
            }
        },
        _ => to_decimal(f, a.arg(0)).map(Value::Decimal),
    }
}

/// Dates and date-times: arithmetic, parts, formats, and the clock.
fn date(a: &Args<'_>, now: Timestamp, zone: &TimeZone) -> Result<Value, EvalError> {
    let f = a.f;
    match f {
        Func::AddDays => add_days(a.arg(0), a.int(1)?),
        Func::Day | Func::Month | Func::Year => {
            let d = match a.arg(0) {
                Value::Date(d) => *d,
                Value::DateTime(t) => t.to_zoned(zone.clone()).date(),
                other => return Err(type_err(&f.what(), "a date or date-time", other)),
            };
            let n = match f {
                Func::Day => i64::from(d.day()),
                Func::Month => i64::from(d.month()),
                _ => i64::from(d.year()),
            };
            Ok(Value::Int(n))
        }
        Func::FormatDate => format_date(a.arg(0), a.text(1)?, zone),
        Func::ParseDate => {
            let (t, fmt) = (a.text(0)?, a.text(1)?);
            Date::strptime(fmt, t)
                .map(Value::Date)
                .map_err(|e| date_format(f, t, fmt, e))
        }
        Func::ParseDatetime => parse_datetime(a.text(0)?, a.text(1)?),
        Func::Now => Ok(Value::DateTime(now)),
        _ => Ok(Value::Date(now.to_zoned(zone.clone()).date())),
    }
}

/// Functions that cut, pad or rewrite text by position or pattern.
fn cut(a: &Args<'_>) -> Result<Value, EvalError> {
    match a.f {
        Func::Left => string(a.text(0)?.chars().take(a.count(1, "count")?).collect()),
        Func::Right => {
            let (t, n) = (a.text(0)?, a.count(1, "count")?);
            let skip = t.chars().count().saturating_sub(n);
            string(t.chars().skip(skip).collect())
        }
        Func::Substring => {
            let start = a.int(1)?;
            if start < 1 {
                let message = format!("start counts from 1, got {start}");
                return Err(EvalError::Argument {
                    func: "substring",
                    message,
                });
            }
            let len = a.count(2, "length")?;
            let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
            string(a.text(0)?.chars().skip(skip).take(len).collect())
        }
        Func::Replace => {
            let (t, from, to) = (a.text(0)?, a.text(1)?, a.text(2)?);
            string(if from.is_empty() {
                t.to_string()
            } else {
                t.replace(from, to)
            })
        }
        Func::SplitPart => split_part(a.text(0)?, a.text(1)?, a.int(2)?),
        _ => pad_left(a),
    }
}

fn pad_left(a: &Args<'_>) -> Result<Value, EvalError> {
    let (t, width, fill) = (a.text(0)?, a.count(1, "width")?, a.text(2)?);
    if fill.is_empty() {
        let message = "fill must not be empty".to_string();
        return Err(EvalError::Argument {
            func: "pad_left",
            message,
        });
    }
    let missing = width.saturating_sub(t.chars().count());
    let mut out: String = fill.chars().cycle().take(missing).collect();
    out.push_str(t);
    string(out)
}

/// The other text functions and tests on values.
fn text(a: &Args<'_>) -> Result<Value, EvalError> {
    match a.f {
        Func::Contains => Ok(Value::Bool(a.text(0)?.contains(a.text(1)?))),
        Func::StartsWith => Ok(Value::Bool(a.text(0)?.starts_with(a.text(1)?))),
        Func::EndsWith => Ok(Value::Bool(a.text(0)?.ends_with(a.text(1)?))),
        Func::Len => Ok(Value::Int(a.text(0)?.chars().count() as i64)),
        Func::Lower => string(a.text(0)?.to_lowercase()),
        Func::Upper => string(a.text(0)?.to_uppercase()),
        Func::Trim => string(a.text(0)?.trim().to_string()),
        Func::TrimStart => string(a.text(0)?.trim_start().to_string()),
        Func::TrimEnd => string(a.text(0)?.trim_end().to_string()),
        Func::ToString => Ok(a.arg(0).to_text().map_or(Value::Null, Value::String)),
        Func::Concat => string(a.values.iter().filter_map(Value::to_text).collect()),
        _ => Ok(Value::Bool(a.arg(0).is_missing())),
    }
}

fn as_text(f: Func, v: &Value) -> Result<&str, EvalError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(type_err(&f.what(), "a string", other)),
    }
}

fn as_int(f: Func, v: &Value) -> Result<i64, EvalError> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(type_err(&f.what(), "an int", other)),
    }
}

/// A count argument: negative counts are errors; huge ones saturate (text is never that long).
fn count(f: Func, what: &str, n: i64) -> Result<usize, EvalError> {
    if n < 0 {
        let message = format!("{what} must not be negative, got {n}");
        return Err(EvalError::Argument {
            func: f.name(),
            message,
        });
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Rounds half away from zero; the result has exactly `digits` decimals when `digits` ≥ 0
/// (`round(2.5, 2)` is `2.50`, as in SQL), and negative `digits` round to tens, hundreds, ….
fn round(v: &Value, digits: i64) -> Result<Value, EvalError> {
    let d = match v {
        Value::Int(i) => Decimal::from(*i),
        Value::Decimal(d) => *d,
        other => return Err(type_err("`round`", "a number", other)),
    };
    let max = i64::from(Decimal::MAX_SCALE);
    if !(-max..=max).contains(&digits) {
        let message = format!("digits must be between -{max} and {max}, got {digits}");
        return Err(EvalError::Argument {
            func: "round",
            message,
        });
    }
    let strategy = RoundingStrategy::MidpointAwayFromZero;
    if digits >= 0 {
        let dp = u32::try_from(digits).unwrap_or(Decimal::MAX_SCALE);
        let mut r = d.round_dp_with_strategy(dp, strategy);
        if r.scale() < dp {
            r.rescale(dp);
        }
        return Ok(Value::Decimal(r));
    }
    let factor = Decimal::from_i128_with_scale(10_i128.pow(u32::try_from(-digits).unwrap_or(0)), 0);
    let scaled = d.checked_div(factor).ok_or_else(|| overflow("`round`"))?;
    let r = scaled
        .round_dp_with_strategy(0, strategy)
        .checked_mul(factor);
    r.map(Value::Decimal).ok_or_else(|| overflow("`round`"))
}

fn add_days(v: &Value, days: i64) -> Result<Value, EvalError> {
    let of = || overflow("`add_days`");
    match v {
        Value::Date(d) => {
            let span = Span::new().try_days(days).map_err(|_| of())?;
            d.checked_add(span).map(Value::Date).map_err(|_| of())
        }
        Value::DateTime(t) => {
            let secs = days.checked_mul(86_400).ok_or_else(of)?;
            t.checked_add(SignedDuration::from_secs(secs))
                .map(Value::DateTime)
                .map_err(|_| of())
        }
        other => Err(type_err("`add_days`", "a date or date-time", other)),
    }
}

fn format_date(v: &Value, fmt: &str, zone: &TimeZone) -> Result<Value, EvalError> {
    let formatted = match v {
        Value::Date(d) => strtime::format(fmt, *d),
        Value::DateTime(t) => strtime::format(fmt, &t.to_zoned(zone.clone())),
        other => return Err(type_err("`format_date`", "a date or date-time", other)),
    };
    formatted
        .map(Value::String)
        .map_err(|e| EvalError::Argument {
            func: "format_date",
            message: format!("cannot format {v} as {}: {e}", crate::value::quote(fmt)),
        })
}

fn date_format(f: Func, text: &str, format: &str, e: jiff::Error) -> EvalError {
    EvalError::DateFormat {
        func: f.name(),
        text: text.to_string(),
        format: format.to_string(),
        reason: e.to_string(),
    }
}

/// With an offset (or `%s`) in the text the instant is exact; otherwise the civil date-time
/// is taken as UTC, even when the format names an IANA zone (`%Q`), which is then honoured.
fn parse_datetime(text: &str, fmt: &str) -> Result<Value, EvalError> {
    let fail = |e| date_format(Func::ParseDatetime, text, fmt, e);
    let tm = strtime::parse(fmt, text).map_err(fail)?;
    let ts = if tm.offset().is_some() || tm.timestamp().is_some() {
        tm.to_timestamp().map_err(fail)?
    } else if tm.iana_time_zone().is_some() {
        tm.to_zoned().map_err(fail)?.timestamp()
    } else {
        let dt = tm.to_datetime().map_err(fail)?;
        Offset::UTC.to_timestamp(dt).map_err(fail)?
    };
    Ok(Value::DateTime(ts))
}

/// Index from 1, negative from the end, 0 an error; past either end gives "". An empty
/// separator does not split: the whole text is the only piece.
fn split_part(text: &str, sep: &str, index: i64) -> Result<Value, EvalError> {
    if index == 0 {
        let message = "index counts from 1 (or from -1 at the end), got 0".to_string();
        return Err(EvalError::Argument {
            func: "split_part",
            message,
        });
    }
    let pieces: Vec<&str> = if sep.is_empty() {
        vec![text]
    } else {
        text.split(sep).collect()
    };
    let at = if index > 0 {
        usize::try_from(index - 1).ok()
    } else {
        usize::try_from(index.unsigned_abs())
            .ok()
            .and_then(|back| pieces.len().checked_sub(back))
    };
    Ok(Value::String(
        at.and_then(|i| pieces.get(i))
            .copied()
            .unwrap_or("")
            .to_string(),
    ))
}

/// Ints and decimals as they are, text parsed (surrounding white space allowed, plain or
/// scientific notation), booleans as 1 and 0; dates are errors.
fn to_decimal(f: Func, v: &Value) -> Result<Decimal, EvalError> {
    match v {
        Value::Int(i) => Ok(Decimal::from(*i)),
        Value::Decimal(d) => Ok(*d),
        Value::Bool(b) => Ok(Decimal::from(u8::from(*b))),
        Value::String(s) => parse_decimal(s.trim()).ok_or_else(|| EvalError::NotANumber {
            func: f.name(),
            text: s.clone(),
        }),
        other => Err(type_err(&f.what(), "a number, text or bool", other)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use std::str::FromStr;
    use Value::{Absent, Null};

    fn now() -> Timestamp {
        Timestamp::from_str("2024-06-01T22:30:00Z").unwrap()
    }
    fn run(name: &str, args: &[Value]) -> Result<Value, EvalError> {
        call(resolve(name, args.len())?, args, now(), &TimeZone::UTC)
    }
    fn ok(name: &str, args: &[Value]) -> Value {
        run(name, args).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
    fn err(name: &str, args: &[Value]) -> String {
        run(name, args).unwrap_err().to_string()
    }
    fn s(t: &str) -> Value {
        Value::String(t.into())
    }
    fn i(n: i64) -> Value {
        Value::Int(n)
    }
    fn d(t: &str) -> Value {
        Value::Decimal(Decimal::from_str_exact(t).unwrap())
    }
    fn date(t: &str) -> Value {
        Value::Date(Date::from_str(t).unwrap())
    }
    fn dt(t: &str) -> Value {
        Value::DateTime(Timestamp::from_str(t).unwrap())
    }
    /// The result's text, so scale differences (`2.5` vs `2.50`) show.
    fn shown(v: Value) -> String {
        v.to_string()
    }

    #[test]
    fn null_and_absent_propagate_through_strict_functions() {
        assert_eq!(ok("upper", &[Null]), Null);
        assert_eq!(ok("upper", &[Absent]), Absent);
        assert_eq!(ok("left", &[s("abc"), Null]), Null);
        assert_eq!(ok("left", &[Null, Absent]), Absent);
        assert_eq!(ok("pad_left", &[s("1"), i(3), Null]), Null);
        assert_eq!(ok("round", &[Null, i(2)]), Null);
        assert_eq!(ok("to_string", &[Null]), Null);
        assert_eq!(ok("to_int", &[Absent]), Absent);
        assert_eq!(ok("year", &[Null]), Null);
    }

    #[test]
    fn abs_ceil_floor_keep_ints() {
        assert_eq!(ok("abs", &[i(-3)]), i(3));
        assert_eq!(shown(ok("abs", &[d("-2.50")])), "2.50");
        assert_eq!(
            err("abs", &[i(i64::MIN)]),
            "overflow in `abs`: the result is out of range"
        );
        assert_eq!(ok("ceil", &[i(4)]), i(4));
        assert_eq!(ok("ceil", &[d("4.1")]), d("5"));
        assert_eq!(ok("ceil", &[d("-4.9")]), d("-4"));
        assert_eq!(ok("floor", &[i(-4)]), i(-4));
        assert_eq!(ok("floor", &[d("4.9")]), d("4"));
        assert_eq!(ok("floor", &[d("-4.1")]), d("-5"));
        assert_eq!(err("abs", &[s("1")]), "`abs` expects a number, got string");
    }

    #[test]
    fn round_half_away_from_zero() {
        assert_eq!(shown(ok("round", &[d("2.345"), i(2)])), "2.35");
        assert_eq!(shown(ok("round", &[d("-2.345"), i(2)])), "-2.35");
        assert_eq!(shown(ok("round", &[d("2.5"), i(0)])), "3");
        assert_eq!(shown(ok("round", &[d("-0.5"), i(0)])), "-1");
        assert_eq!(shown(ok("round", &[d("2.5"), i(2)])), "2.50");
        assert_eq!(shown(ok("round", &[i(7), i(1)])), "7.0");
        assert_eq!(shown(ok("round", &[d("1250"), i(-2)])), "1300");
        assert_eq!(shown(ok("round", &[i(-1249), i(-2)])), "-1200");
        assert_eq!(
            err("round", &[i(1), i(29)]),
            "`round`: digits must be between -28 and 28, got 29"
        );
    }

    #[test]
    fn add_days_on_dates_and_datetimes() {
        assert_eq!(
            ok("add_days", &[date("2024-02-28"), i(1)]),
            date("2024-02-29")
        );
        assert_eq!(
            ok("add_days", &[date("2024-03-01"), i(-1)]),
            date("2024-02-29")
        );
        assert_eq!(
            ok("add_days", &[dt("2024-03-30T12:00:00Z"), i(2)]),
            dt("2024-04-01T12:00:00Z")
        );
        assert_eq!(
            err("add_days", &[date("9999-12-31"), i(1)]),
            "overflow in `add_days`: the result is out of range"
        );
        assert_eq!(
            err("add_days", &[dt("2024-01-01T00:00:00Z"), i(i64::MAX)]),
            "overflow in `add_days`: the result is out of range"
        );
        assert_eq!(ok("add_days", &[Null, i(1)]), Null);
    }

    #[test]
    fn concat_and_is_null_tolerate_missing_parts() {
        assert_eq!(
            ok(
                "concat",
                &[s("a"), Null, i(1), Absent, d("2.50"), Value::Bool(true)]
            ),
            s("a12.50true")
        );
        assert_eq!(
            ok(
                "concat",
                &[date("2024-01-02"), s(" "), dt("2024-01-02T03:04:05Z")]
            ),
            s("2024-01-02 2024-01-02T03:04:05Z")
        );
        assert_eq!(ok("concat", &[Null]), s(""));
        assert_eq!(ok("is_null", &[Null]), Value::Bool(true));
        assert_eq!(ok("is_null", &[Absent]), Value::Bool(true));
        assert_eq!(ok("is_null", &[s("")]), Value::Bool(false));
    }

    #[test]
    fn text_predicates() {
        assert_eq!(ok("contains", &[s("Contoso"), s("tos")]), Value::Bool(true));
        assert_eq!(
            ok("contains", &[s("Contoso"), s("TOS")]),
            Value::Bool(false)
        );
        assert_eq!(
            ok("starts_with", &[s("Contoso"), s("Con")]),
            Value::Bool(true)
        );
        assert_eq!(
            ok("starts_with", &[s("Contoso"), s("con")]),
            Value::Bool(false)
        );
        assert_eq!(ok("ends_with", &[s("Contoso"), s("so")]), Value::Bool(true));
        assert_eq!(ok("ends_with", &[s("x"), Null]), Null);
        assert_eq!(
            err("contains", &[i(1), s("1")]),
            "`contains` expects a string, got int"
        );
    }

    #[test]
    fn date_parts_use_utc() {
        assert_eq!(ok("day", &[date("2024-02-29")]), i(29));
        assert_eq!(ok("month", &[date("2024-02-29")]), i(2));
        assert_eq!(ok("year", &[date("2024-02-29")]), i(2024));
        let late = dt("2024-12-31T23:30:00-02:00"); // 2025-01-01T01:30Z
        assert_eq!(ok("day", std::slice::from_ref(&late)), i(1));
        assert_eq!(ok("month", std::slice::from_ref(&late)), i(1));
        assert_eq!(ok("year", &[late]), i(2025));
        assert_eq!(
            err("day", &[i(1)]),
            "`day` expects a date or date-time, got int"
        );
    }

    #[test]
    fn format_date_with_strftime() {
        assert_eq!(
            ok("format_date", &[date("2024-03-04"), s("%d.%m.%Y")]),
            s("04.03.2024")
        );
        assert_eq!(
            ok(
                "format_date",
                &[dt("2024-03-04T23:30:00-01:00"), s("%Y-%m-%d %H:%M %Z")]
            ),
            s("2024-03-05 00:30 UTC")
        );
        let e = err("format_date", &[date("2024-03-04"), s("%H:%M")]);
        assert!(
            e.starts_with("`format_date`: cannot format 2024-03-04 as \"%H:%M\": "),
            "{e}"
        );
        assert!(e.ends_with("requires time to format"), "{e}");
    }

    #[test]
    fn parse_date_and_datetime() {
        assert_eq!(
            ok("parse_date", &[s("29/02/2024"), s("%d/%m/%Y")]),
            date("2024-02-29")
        );
        let e = err("parse_date", &[s("31/02/2024"), s("%d/%m/%Y")]);
        let want = "`parse_date`: \"31/02/2024\" does not match format \"%d/%m/%Y\" (";
        assert!(e.starts_with(want), "{e}");
        assert!(e.ends_with("must be in range `1..=29`)"), "{e}");
        assert!(err("parse_date", &[s("2024-02-01"), s("%d/%m/%Y")])
            .starts_with("`parse_date`: \"2024-02-01\" does not match format \"%d/%m/%Y\" ("));
        assert_eq!(
            ok(
                "parse_datetime",
                &[s("04.03.2024 10:15"), s("%d.%m.%Y %H:%M")]
            ),
            dt("2024-03-04T10:15:00Z")
        );
        assert_eq!(
            ok(
                "parse_datetime",
                &[s("2024-03-04 10:15 +0100"), s("%Y-%m-%d %H:%M %z")]
            ),
            dt("2024-03-04T09:15:00Z")
        );
        assert_eq!(
            ok("parse_datetime", &[s("2024-03-04"), s("%Y-%m-%d")]),
            dt("2024-03-04T00:00:00Z")
        );
        assert!(err("parse_datetime", &[s("10:15"), s("%H:%M")])
            .starts_with("`parse_datetime`: \"10:15\""));
        assert_eq!(ok("parse_date", &[Null, s("%Y")]), Null);
    }

    #[test]
    fn text_length_and_case_count_characters() {
        assert_eq!(ok("len", &[s("Müller")]), i(6));
        assert_eq!(ok("len", &[s("")]), i(0));
        assert_eq!(ok("lower", &[s("ÄBC")]), s("äbc"));
        assert_eq!(ok("upper", &[s("straße")]), s("STRASSE"));
        assert_eq!(ok("trim", &[s(" \t a b \n")]), s("a b"));
        assert_eq!(ok("trim_start", &[s("  a ")]), s("a "));
        assert_eq!(ok("trim_end", &[s("  a ")]), s("  a"));
    }

    #[test]
    fn left_right_substring() {
        assert_eq!(ok("left", &[s("Müller"), i(2)]), s("Mü"));
        assert_eq!(ok("left", &[s("ab"), i(10)]), s("ab"));
        assert_eq!(ok("left", &[s("ab"), i(0)]), s(""));
        assert_eq!(
            err("left", &[s("ab"), i(-1)]),
            "`left`: count must not be negative, got -1"
        );
        assert_eq!(ok("right", &[s("Müller"), i(5)]), s("üller"));
        assert_eq!(ok("right", &[s("ab"), i(10)]), s("ab"));
        assert_eq!(
            err("right", &[s("ab"), i(-2)]),
            "`right`: count must not be negative, got -2"
        );
        assert_eq!(ok("substring", &[s("Müller"), i(2), i(3)]), s("üll"));
        assert_eq!(ok("substring", &[s("abc"), i(3), i(5)]), s("c"));
        assert_eq!(ok("substring", &[s("abc"), i(4), i(1)]), s(""));
        assert_eq!(
            err("substring", &[s("abc"), i(0), i(1)]),
            "`substring`: start counts from 1, got 0"
        );
        assert_eq!(
            err("substring", &[s("abc"), i(1), i(-1)]),
            "`substring`: length must not be negative, got -1"
        );
    }

    #[test]
    fn replace_split_pad() {
        assert_eq!(ok("replace", &[s("a-b-c"), s("-"), s("/")]), s("a/b/c"));
        assert_eq!(ok("replace", &[s("abc"), s(""), s("x")]), s("abc"));
        assert_eq!(ok("split_part", &[s("a;b;c"), s(";"), i(2)]), s("b"));
        assert_eq!(ok("split_part", &[s("a;b;c"), s(";"), i(-1)]), s("c"));
        assert_eq!(ok("split_part", &[s("a;b;c"), s(";"), i(-3)]), s("a"));
        assert_eq!(ok("split_part", &[s("a;b;c"), s(";"), i(4)]), s(""));
        assert_eq!(ok("split_part", &[s("a;b;c"), s(";"), i(-4)]), s(""));
        assert_eq!(ok("split_part", &[s("a;b"), s(""), i(1)]), s("a;b"));
        assert_eq!(
            err("split_part", &[s("a"), s(";"), i(0)]),
            "`split_part`: index counts from 1 (or from -1 at the end), got 0"
        );
        assert_eq!(ok("pad_left", &[s("42"), i(5), s("0")]), s("00042"));
        assert_eq!(ok("pad_left", &[s("7"), i(4), s("ab")]), s("aba7"));
        assert_eq!(ok("pad_left", &[s("ü"), i(2), s("·")]), s("·ü"));
        assert_eq!(ok("pad_left", &[s("123456"), i(3), s("0")]), s("123456"));
        assert_eq!(
            err("pad_left", &[s("1"), i(3), s("")]),
            "`pad_left`: fill must not be empty"
        );
        assert_eq!(
            err("pad_left", &[s("1"), i(-3), s("0")]),
            "`pad_left`: width must not be negative, got -3"
        );
    }

    #[test]
    fn conversions() {
        assert_eq!(ok("to_decimal", &[s(" 12.50 ")]), d("12.50"));
        assert_eq!(shown(ok("to_decimal", &[s("12.50")])), "12.50");
        assert_eq!(ok("to_decimal", &[s("1e3")]), d("1000"));
        assert_eq!(ok("to_decimal", &[i(3)]), d("3"));
        assert_eq!(ok("to_decimal", &[Value::Bool(true)]), d("1"));
        assert_eq!(
            err("to_decimal", &[s("abc")]),
            "`to_decimal`: \"abc\" is not a number"
        );
        assert_eq!(
            err("to_decimal", &[date("2024-01-01")]),
            "`to_decimal` expects a number, text or bool, got date"
        );
        assert_eq!(ok("to_number", &[s("-0.5")]), d("-0.5"));
        assert_eq!(
            err("to_number", &[s("")]),
            "`to_number`: \"\" is not a number"
        );
        assert_eq!(ok("to_int", &[s("42")]), i(42));
        assert_eq!(ok("to_int", &[s("12.9")]), i(12));
        assert_eq!(ok("to_int", &[d("-12.9")]), i(-12));
        assert_eq!(ok("to_int", &[Value::Bool(false)]), i(0));
        assert_eq!(ok("to_int", &[i(i64::MIN)]), i(i64::MIN));
        assert_eq!(
            err("to_int", &[s("abc")]),
            "`to_int`: \"abc\" is not a number"
        );
        assert_eq!(
            err("to_int", &[d("99999999999999999999")]),
            "overflow in `to_int`: the result is out of range"
        );
        assert_eq!(ok("to_string", &[d("12.50")]), s("12.50"));
        assert_eq!(ok("to_string", &[i(-3)]), s("-3"));
        assert_eq!(ok("to_string", &[Value::Bool(true)]), s("true"));
        assert_eq!(ok("to_string", &[s("x")]), s("x"));
        assert_eq!(ok("to_string", &[date("2024-01-02")]), s("2024-01-02"));
        assert_eq!(
            ok("to_string", &[dt("2024-01-02T03:04:05+01:00")]),
            s("2024-01-02T02:04:05Z")
        );
    }

    #[test]
    fn clock_functions() {
        assert_eq!(ok("now", &[]), dt("2024-06-01T22:30:00Z"));
        assert_eq!(ok("today", &[]), date("2024-06-01"));
    }

    #[test]
    fn days_of_instants_are_the_destinations_days() {
        // 22:30 UTC is already the next day in Berlin, and still the same one in New York.
        let in_zone = |name: &str, zone: &str, args: &[Value]| {
            let tz = TimeZone::get(zone).unwrap();
            call(resolve(name, args.len()).unwrap(), args, now(), &tz).unwrap()
        };
        assert_eq!(in_zone("today", "Europe/Berlin", &[]), date("2024-06-02"));
        assert_eq!(
            in_zone("today", "America/New_York", &[]),
            date("2024-06-01")
        );
        let new_year = dt("2024-12-31T23:30:00Z");
        assert_eq!(
            in_zone("year", "Europe/Berlin", std::slice::from_ref(&new_year)),
            i(2025)
        );
        assert_eq!(
            in_zone("year", "UTC", std::slice::from_ref(&new_year)),
            i(2024)
        );
        assert_eq!(
            in_zone(
                "format_date",
                "Europe/Berlin",
                &[new_year, s("%d.%m. %H:%M")]
            ),
            s("01.01. 00:30")
        );
    }

    #[test]
    fn resolution() {
        assert_eq!(resolve("upper", 1), Ok(Func::Upper));
        assert_eq!(resolve("concat", 5), Ok(Func::Concat));
        assert_eq!(resolve("label", 1), Err(EvalError::LabelAtRuntime));
        assert_eq!(
            call(Func::Label, &[i(3)], now(), &TimeZone::UTC),
            Err(EvalError::LabelAtRuntime)
        );
        assert_eq!(
            resolve("nope", 0),
            Err(EvalError::UnknownFunction {
                name: "nope".into()
            })
        );
        assert_eq!(
            resolve("pad_left", 2).unwrap_err().to_string(),
            "`pad_left` takes 3 argument(s), got 2"
        );
        for (f, name) in ALL {
            assert_eq!(f.name(), *name);
        }
    }
}
