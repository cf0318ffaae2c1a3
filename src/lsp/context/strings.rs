//! Inside a string: the option labels or enum members of the column the string is compared with
//! or written to, in a table mapping or a test's record.

use crate::plan::Side;

use super::table::clause;
use super::{closed, header, item_start, Context, Header};
use crate::lsp::tokens::{Kind, Token};

/// Inside a string: the option labels or enum members of the column the string is compared
/// with or written to, if any.
pub(super) fn string(
    text: &str,
    all: &[Token<'_>],
    s: &Token<'_>,
    lookup: &dyn Fn(&str) -> Option<Header>,
) -> Option<Context> {
    let replace = (
        s.start + 1,
        if closed(s) { s.end - 1 } else { s.end }.max(s.start + 1),
    );
    let before: Vec<Token<'_>> = all
        .iter()
        .filter(|t| t.kind != Kind::Comment && t.end <= s.start)
        .copied()
        .collect();
    let after: Vec<Token<'_>> = all
        .iter()
        .filter(|t| t.kind != Kind::Comment && t.start >= s.end)
        .take(2)
        .copied()
        .collect();
    let it = &before[item_start(text, &before)?..];
    let (header, side, column) = match it[0].text {
        "table" => table_string(text, it, &after, s)?,
        "test" => test_string(it, lookup)?,
        _ => return None,
    };
    Some(Context::Labels {
        header,
        side,
        column: column.to_string(),
        replace,
    })
}

/// A string in a table mapping: compared with a column in a filter or field, or written to (or
/// from) a column by a field. Gives the mapping, the column's side and the column.
fn table_string<'t>(
    text: &str,
    it: &[Token<'t>],
    after: &[Token<'t>],
    s: &Token<'_>,
) -> Option<(Header, Side, &'t str)> {
    let n = it.len();
    let brace = it.iter().position(|t| t.is("{"))?;
    let header = header(&it[..brace])?;
    let line = clause(text, &it[brace + 1..], s.start);
    let words: Vec<&str> = line.iter().map(|t| t.text).collect();
    let compared =
        n >= 2 && (it[n - 1].is("==") || it[n - 1].is("!=")) && it[n - 2].kind == Kind::Ident;
    if let ["filter", side, ":", ..] = words.as_slice() {
        let side = header.side_named(side.trim_matches('`'))?;
        return compared.then(|| (header, side, it[n - 2].name().unwrap_or("")));
    }
    let arrow = line.iter().find(|t| t.is_arrow());
    if compared {
        let side = if arrow.is_some() {
            Side::Right
        } else {
            Side::Left
        };
        return Some((header, side, it[n - 2].name().unwrap_or("")));
    }
    match (line, arrow, after) {
        // `"Customer" -> customertypecode`
        ([], None, [a, col, ..]) if a.is_arrow() && col.kind == Kind::Ident => {
            Some((header, Side::Right, col.name().unwrap_or("")))
        }
        // `type <- "Person"`
        ([col, a], Some(_), _) if col.kind == Kind::Ident && a.is_arrow() => {
            Some((header, Side::Left, col.name().unwrap_or("")))
        }
        _ => None,
    }
}

/// `column: "…"` inside `given SIDE { … }` or `expect SIDE { … }` of a test.
fn test_string<'t>(
    it: &[Token<'t>],
    lookup: &dyn Fn(&str) -> Option<Header>,
) -> Option<(Header, Side, &'t str)> {
    let n = it.len();
    if n < 2 || !it[n - 1].is(":") || it[n - 2].kind != Kind::Ident {
        return None;
    }
    let header = it.get(1).and_then(Token::name).and_then(lookup)?;
    let open = it.iter().rposition(|t| t.is("{"))?;
    let kw = it[..open]
        .iter()
        .rposition(|t| t.is("given") || t.is("expect"))?;
    let side = header.side_named(it.get(kw + 1)?.name()?)?;
    Some((header, side, it[n - 2].name().unwrap_or("")))
}
