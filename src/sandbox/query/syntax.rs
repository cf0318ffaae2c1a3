//! The pest parser for `grammar/odata.pest`, the building of [`FilterExpr`] trees from it, and
//! the translation of its failures into the messages an OData service gives.

use std::str::FromStr;
use std::sync::OnceLock;

use jiff::civil::Date;
use jiff::Timestamp;
use pest::error::InputLocation;
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser;
use rust_decimal::Decimal;

use super::ast::{CompareOp, FilterExpr, Function, Literal};
use super::QueryError;

/// The parser generated from `grammar/odata.pest`.
#[derive(pest_derive::Parser)]
#[grammar = "../grammar/odata.pest"]
struct ODataParser;

/// How deeply parentheses and `not`s may nest. Parsing recurses per level, so this bounds the
/// stack a hostile filter can take; no filter a connector writes comes near it.
const MAX_DEPTH: usize = 100;

/// Canonical OData functions and operators the emulators do not evaluate. Naming them in the
/// error tells a caller the filter is valid OData the sandbox lacks, not a typo.
const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "concat",
    "indexof",
    "substring",
    "matchespattern",
    "hour",
    "minute",
    "second",
    "fractionalseconds",
    "totalseconds",
    "date",
    "time",
    "totaloffsetminutes",
    "mindatetime",
    "maxdatetime",
    "now",
    "round",
    "floor",
    "ceiling",
    "cast",
    "isof",
    "case",
    "hassubset",
    "hassubsequence",
];
const UNSUPPORTED_OPERATORS: &[&str] = &["add", "sub", "mul", "div", "divby", "mod", "has"];

/// Parses a `$filter` value (already percent-decoded) into an expression tree.
pub(super) fn parse_filter(text: &str) -> Result<FilterExpr, QueryError> {
    prescan(text)?;
    let mut pairs = ODataParser::parse(Rule::filter, text).map_err(|e| syntax_error(text, &e))?;
    let filter = pairs.next().ok_or_else(|| expected(text, 0))?;
    let b = Builder { text };
    let expr = filter
        .into_inner()
        .find(|p| p.as_rule() == Rule::expr)
        .ok_or_else(|| expected(text, 0))?;
    b.expr(expr)
}

/// Parses a `$select` value into its items; `*` is kept as an item.
pub(super) fn parse_select(text: &str) -> Result<Vec<String>, QueryError> {
    let mut pairs = ODataParser::parse(Rule::select, text).map_err(|e| syntax_error(text, &e))?;
    let select = pairs.next().ok_or_else(|| expected(text, 0))?;
    Ok(select
        .into_inner()
        .filter(|p| p.as_rule() == Rule::select_item)
        .map(|p| p.as_str().to_string())
        .collect())
}

/// Parses an `$orderby` value into `(property, descending)` pairs.
pub(super) fn parse_orderby(text: &str) -> Result<Vec<(String, bool)>, QueryError> {
    let mut pairs = ODataParser::parse(Rule::orderby, text).map_err(|e| syntax_error(text, &e))?;
    let orderby = pairs.next().ok_or_else(|| expected(text, 0))?;
    Ok(orderby
        .into_inner()
        .filter(|p| p.as_rule() == Rule::orderby_item)
        .map(|item| {
            let mut name = String::new();
            let mut desc = false;
            for part in item.into_inner() {
                match part.as_rule() {
                    Rule::property => name = part.as_str().to_string(),
                    Rule::direction => desc = part.as_str() == "desc",
                    _ => {}
                }
            }
            (name, desc)
        })
        .collect())
}

/// Checks what is easier to see on the raw text than in a pest error: an unterminated string
/// (pest would only report where it gave up) and nesting deep enough to exhaust the stack,
/// counted as open parentheses plus the `not`s stacked in front of one operand.
fn prescan(text: &str) -> Result<(), QueryError> {
    let mut in_string: Option<usize> = None;
    let mut depth = 0usize;
    let mut nots = 0usize;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match in_string {
            Some(_) if c == '\'' && chars.get(i + 1) == Some(&'\'') => i += 1,
            Some(_) if c == '\'' => in_string = None,
            Some(_) => {}
            None if is_word_at(&chars, i, "not") => {
                nots += 1;
                i += 2;
            }
            None => match c {
                '\'' => {
                    in_string = Some(i);
                    nots = 0;
                }
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ' ' | '\t' => {}
                _ => nots = 0,
            },
        }
        if depth + nots > MAX_DEPTH {
            return Err(QueryError::TooDeep);
        }
        i += 1;
    }
    match in_string {
        Some(position) => Err(QueryError::UnterminatedString {
            position,
            text: text.to_string(),
        }),
        None => Ok(()),
    }
}

/// Whether `word` stands alone at `i`: not inside a longer name.
fn is_word_at(chars: &[char], i: usize, word: &str) -> bool {
    let ident = |c: &char| c.is_alphanumeric() || *c == '_';
    let len = word.chars().count();
    let matches = chars
        .get(i..i + len)
        .is_some_and(|s| s.iter().copied().eq(word.chars()));
    let before = i == 0 || !chars.get(i - 1).is_some_and(ident);
    let after = !chars.get(i + len).is_some_and(ident);
    matches && before && after
}

/// `Expression expected` at a character position.
fn expected(text: &str, position: usize) -> QueryError {
    QueryError::ExpressionExpected {
        position,
        text: text.to_string(),
    }
}

/// Turns a pest failure into the message an OData service gives: where it stopped, counted in
/// characters from 0 as Microsoft's OData library does, with the kind of problem when it can be
/// told from the text there.
fn syntax_error(text: &str, e: &pest::error::Error<Rule>) -> QueryError {
    let byte = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let byte = byte.min(text.len());
    let position = text.get(..byte).map_or(0, |s| s.chars().count());
    if let Some(space) = plus_as_space(text) {
        return QueryError::Syntax {
            position: space,
            text: text.to_string(),
        };
    }
    let chars: Vec<char> = text.chars().collect();
    let Some(&c) = chars.get(position) else {
        return expected(text, position);
    };
    // The whole word the failure is in, so `geo.distance` is named when pest stops at its dot.
    let word_char = |c: &char| c.is_alphanumeric() || *c == '_' || *c == '.';
    let start = chars[..position]
        .iter()
        .rposition(|c| !word_char(c))
        .map_or(0, |i| i + 1);
    let word: String = chars[start..].iter().take_while(|c| word_char(c)).collect();
    if UNSUPPORTED_OPERATORS.contains(&word.as_str()) {
        return QueryError::Unsupported {
            what: "operator",
            name: word,
            position: start,
            text: text.to_string(),
        };
    }
    if word.starts_with("geo.") {
        return QueryError::Unsupported {
            what: "function",
            name: word,
            position: start,
            text: text.to_string(),
        };
    }
    let valid = c.is_alphanumeric()
        || matches!(
            c,
            '_' | '\'' | '(' | ')' | ',' | '-' | '+' | '.' | ':' | '/' | ' ' | '\t' | '*'
        );
    if valid {
        QueryError::Syntax {
            position,
            text: text.to_string(),
        }
    } else {
        QueryError::InvalidCharacter {
            character: c,
            position,
            text: text.to_string(),
        }
    }
}

/// The operator precedence of Part 2 §5.1.1.16, lowest first; operators in one `op` call have
/// equal precedence and group to the left. `in` is a primary-level postfix, so `not a in (1)`
/// negates the membership test, and `not` binds tighter than every binary operator.
fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::op_or, Assoc::Left))
            .op(Op::infix(Rule::op_and, Assoc::Left))
            .op(Op::infix(Rule::op_eq, Assoc::Left) | Op::infix(Rule::op_ne, Assoc::Left))
            .op(Op::infix(Rule::op_lt, Assoc::Left)
                | Op::infix(Rule::op_le, Assoc::Left)
                | Op::infix(Rule::op_gt, Assoc::Left)
                | Op::infix(Rule::op_ge, Assoc::Left))
            .op(Op::prefix(Rule::prefix_not))
            .op(Op::postfix(Rule::in_list))
    })
}

/// The position of a space that stands where a time-zone offset's `+` belongs, as in
/// `2024-01-01T08:00:00 02:00`: the commonest way a filter breaks in transit, because a `+`
/// sent unencoded in a query string decodes to a space. Pest would report the failure at the
/// start of the date; pointing at the space shows what happened.
fn plus_as_space(text: &str) -> Option<usize> {
    let chars: Vec<char> = text.chars().collect();
    let digits = |at: usize, n: usize| {
        chars
            .get(at..at + n)
            .is_some_and(|s| s.iter().all(char::is_ascii_digit))
    };
    let is = |at: usize, c: char| chars.get(at) == Some(&c);
    // Text inside string literals is data, whatever it looks like.
    let mut quoted = Vec::with_capacity(chars.len());
    let mut inside = false;
    for c in &chars {
        if *c == '\'' {
            inside = !inside;
        }
        quoted.push(inside);
    }
    (0..chars.len()).find_map(|t| {
        if quoted.get(t).copied().unwrap_or(true) {
            return None;
        }
        // `YYYY-MM-DD` `T` `hh:mm`
        let date = t >= 10 && digits(t - 10, 4) && is(t - 6, '-') && digits(t - 5, 2);
        let date = date && is(t - 3, '-') && digits(t - 2, 2);
        if !(date && (is(t, 'T') || is(t, 't')) && digits(t + 1, 2) && is(t + 3, ':')) {
            return None;
        }
        let mut end = t + 6;
        if is(end, ':') && digits(end + 1, 2) {
            end += 3;
            if is(end, '.') {
                end += 1;
                while chars.get(end).is_some_and(char::is_ascii_digit) {
                    end += 1;
                }
            }
        }
        let offset = is(end, ' ') && digits(end + 1, 2) && is(end + 3, ':') && digits(end + 4, 2);
        (digits(t + 4, 2) && offset).then_some(end)
    })
}

/// Builds expression trees from pest pairs, with the text for error positions.
struct Builder<'t> {
    text: &'t str,
}

impl Builder<'_> {
    /// The character position of a pair, for messages.
    fn position(&self, pair: &Pair<'_, Rule>) -> usize {
        let byte = pair.as_span().start();
        self.text.get(..byte).map_or(0, |s| s.chars().count())
    }

    /// An `expr` pair: operands and operators, grouped by precedence.
    fn expr(&self, pair: Pair<'_, Rule>) -> Result<FilterExpr, QueryError> {
        Ok(self.tree(pair)?.0)
    }

    /// An `expr` pair as a tree and its depth. The depth is bounded because evaluating and
    /// printing recurse over it; chains of `and`/`or` add no depth, being one node.
    fn tree(&self, pair: Pair<'_, Rule>) -> Result<(FilterExpr, usize), QueryError> {
        pratt()
            .map_primary(|p| self.primary(p))
            .map_prefix(|_not, operand| {
                let (x, d) = operand?;
                bounded(FilterExpr::Not(Box::new(x)), d + 1)
            })
            .map_postfix(|lhs, in_list| {
                let (x, d) = lhs?;
                let items = in_list
                    .into_inner()
                    .filter(|p| p.as_rule() == Rule::list)
                    .flat_map(|list| list.into_inner())
                    .map(|l| self.literal(l))
                    .collect::<Result<Vec<_>, _>>()?;
                bounded(FilterExpr::In(Box::new(x), items), d + 1)
            })
            .map_infix(|lhs, op, rhs| {
                let ((l, ld), (r, rd)) = (lhs?, rhs?);
                // An operand merged into the same operator's list adds no level.
                let is_or = op.as_rule() == Rule::op_or;
                let level = |e: &FilterExpr, d: usize| match e {
                    FilterExpr::Or(_) if is_or => d,
                    FilterExpr::And(_) if !is_or => d,
                    _ => d + 1,
                };
                let (lj, rj) = (level(&l, ld), level(&r, rd));
                match op.as_rule() {
                    Rule::op_or => bounded(FilterExpr::Or(join(l, r, true)), lj.max(rj)),
                    Rule::op_and => bounded(FilterExpr::And(join(l, r, false)), lj.max(rj)),
                    _ => {
                        let op = CompareOp::from_keyword(op.as_str()).ok_or_else(|| {
                            QueryError::Syntax {
                                position: self.position(&op),
                                text: self.text.to_string(),
                            }
                        })?;
                        let depth = ld.max(rd) + 1;
                        bounded(FilterExpr::Compare(op, Box::new(l), Box::new(r)), depth)
                    }
                }
            })
            .parse(pair.into_inner().filter(|p| p.as_rule() != Rule::rws))
    }

    /// A primary expression and its depth: parentheses, a call, a property or a literal.
    fn primary(&self, pair: Pair<'_, Rule>) -> Result<(FilterExpr, usize), QueryError> {
        let pos = self.position(&pair);
        match pair.as_rule() {
            Rule::paren => {
                let inner = pair
                    .into_inner()
                    .next()
                    .ok_or_else(|| expected(self.text, pos))?;
                self.tree(inner)
            }
            Rule::call => self.call(pair),
            Rule::property => Ok((FilterExpr::Property(pair.as_str().to_string()), 1)),
            _ => Ok((FilterExpr::Literal(self.literal(pair)?), 1)),
        }
    }

    /// A function call and its depth.
    fn call(&self, pair: Pair<'_, Rule>) -> Result<(FilterExpr, usize), QueryError> {
        let pos = self.position(&pair);
        let mut parts = pair.into_inner();
        let name = parts.next().ok_or_else(|| expected(self.text, pos))?;
        let name = name.as_str();
        let Some(func) = Function::from_name(name) else {
            if UNSUPPORTED_FUNCTIONS.contains(&name) {
                return Err(QueryError::Unsupported {
                    what: "function",
                    name: name.to_string(),
                    position: pos,
                    text: self.text.to_string(),
                });
            }
            return Err(QueryError::UnknownFunction {
                name: name.to_string(),
            });
        };
        let args = parts.map(|a| self.tree(a)).collect::<Result<Vec<_>, _>>()?;
        if args.len() != func.arity() {
            return Err(QueryError::NoMatchingSignature {
                name: func.name(),
                signatures: func.signatures(),
            });
        }
        let depth = args.iter().map(|(_, d)| d + 1).max().unwrap_or(1);
        let args = args.into_iter().map(|(a, _)| a).collect();
        Ok((FilterExpr::Call(func, args), depth))
    }

    fn literal(&self, pair: Pair<'_, Rule>) -> Result<Literal, QueryError> {
        let pos = self.position(&pair);
        let s = pair.as_str();
        let bad = |edm_type: &'static str| QueryError::BadLiteral {
            edm_type,
            literal: s.to_string(),
            position: pos,
            text: self.text.to_string(),
        };
        Ok(match pair.as_rule() {
            Rule::null => Literal::Null,
            Rule::boolean => Literal::Bool(s == "true"),
            Rule::guid => Literal::Guid(s.to_ascii_lowercase()),
            Rule::date => Literal::Date(Date::from_str(s).map_err(|_| bad("Edm.Date"))?),
            Rule::datetime => {
                Literal::DateTime(parse_datetime(s).ok_or_else(|| bad("Edm.DateTimeOffset"))?)
            }
            Rule::number => number(s).ok_or_else(|| bad("Edm.Decimal"))?,
            Rule::string => {
                let inner = s.get(1..s.len().saturating_sub(1)).unwrap_or("");
                Literal::String(inner.replace("''", "'"))
            }
            _ => {
                return Err(QueryError::Syntax {
                    position: pos,
                    text: self.text.to_string(),
                })
            }
        })
    }
}

/// A tree and its depth, refused when deeper than [`MAX_DEPTH`].
fn bounded(e: FilterExpr, depth: usize) -> Result<(FilterExpr, usize), QueryError> {
    if depth > MAX_DEPTH {
        Err(QueryError::TooDeep)
    } else {
        Ok((e, depth))
    }
}

/// The operands of `l or r` (`is_or`) or `l and r`, with operands of the same operator taken
/// into the one list: the operators are associative, and the flat list keeps long chains from
/// becoming deep trees.
fn join(l: FilterExpr, r: FilterExpr, is_or: bool) -> Vec<FilterExpr> {
    let mut out = Vec::new();
    for x in [l, r] {
        match x {
            FilterExpr::Or(xs) if is_or => out.extend(xs),
            FilterExpr::And(xs) if !is_or => out.extend(xs),
            other => out.push(other),
        }
    }
    out
}

/// An OData `DateTimeOffset` literal as an instant. The grammar has checked the shape; this
/// checks the values (month 13, hour 25) and fills in the seconds OData lets clients omit.
fn parse_datetime(s: &str) -> Option<Timestamp> {
    // `2024-01-01T10:00Z` has no seconds: the time part is 5 characters before the zone.
    let t = s.find(['T', 't'])?;
    let rest = s.get(t + 1..)?;
    let zone = rest.find(['Z', 'z', '+', '-'])?;
    let normalized = if zone == 5 {
        format!("{}:00{}", s.get(..t + 1 + zone)?, rest.get(zone..)?)
    } else {
        s.to_string()
    };
    Timestamp::from_str(&normalized).ok()
}

/// A number literal: an integer when it is one and fits 64 bits, otherwise an exact decimal.
fn number(s: &str) -> Option<Literal> {
    let body = s.strip_suffix(['m', 'M']);
    let suffixed = body.is_some();
    let body = body.unwrap_or(s);
    let body = body.strip_prefix('+').unwrap_or(body);
    let decimal_shape = suffixed || body.contains(['.', 'e', 'E']);
    if !decimal_shape {
        if let Ok(i) = body.parse::<i64>() {
            return Some(Literal::Int(i));
        }
    }
    let d = if body.contains(['e', 'E']) {
        Decimal::from_scientific(body).ok()?
    } else {
        Decimal::from_str_exact(body).ok()?
    };
    Some(Literal::Decimal(d))
}
