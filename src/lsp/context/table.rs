//! Inside a table mapping: which line (clause) the cursor is on, and what may stand at its
//! position in a filter, a match rule, a setting or a field mapping.

use crate::plan::Side;

use super::{depth, header, in_brackets, Context, Header, CLAUSES, MODIFIERS, OPERAND};
use crate::lsp::tokens::{Kind, Token};

pub(super) fn table(text: &str, it: &[Token<'_>], cursor: usize) -> Context {
    let Some(brace) = it.iter().position(|t| t.is("{")) else {
        let n = it.len();
        return match it.last() {
            Some(t) if t.is(".") && n >= 2 && it[n - 2].kind == Kind::Ident => Context::Tables {
                system: it[n - 2].name().unwrap_or_default().to_string(),
            },
            Some(t) if t.is(":") || t.is_arrow() => Context::Systems,
            _ => Context::Nothing,
        };
    };
    let Some(header) = header(&it[..brace]) else {
        return Context::Nothing;
    };
    let body = &it[brace + 1..];
    if depth(body) != 0 {
        return Context::Nothing; // inside an inline value map's braces: literals only
    }
    let line = clause(text, body, cursor);
    table_clause(header, line)
}

/// The tokens of the clause the cursor is in: those of its line, and of the lines before it
/// when they end in the middle of an expression (after an operator, an arrow, a comma).
pub(super) fn clause<'t, 'a>(text: &str, body: &'t [Token<'a>], cursor: usize) -> &'t [Token<'a>] {
    let line_start = |pos: usize| text[..pos].rfind('\n').map_or(0, |n| n + 1);
    let from = |start: usize| {
        body.iter()
            .position(|t| t.start >= start)
            .unwrap_or(body.len())
    };
    let mut first = from(line_start(cursor));
    while first > 0 {
        let prev = &body[first - 1];
        let open = body[..first]
            .iter()
            .fold(0i32, |d, t| d + i32::from(t.is("(")) - i32::from(t.is(")")));
        let continues = open > 0
            || (prev.kind == Kind::Punct && !prev.is(")") && !prev.is("]") && !prev.is("}"))
            || [
                "and", "or", "not", "if", "then", "else", "via", "using", "filter", "match",
            ]
            .contains(&prev.text);
        if !continues {
            break;
        }
        let earlier = from(line_start(prev.start));
        if earlier >= first {
            break;
        }
        first = earlier;
    }
    &body[first..]
}

fn table_clause(header: Header, line: &[Token<'_>]) -> Context {
    if line.is_empty() {
        return Context::Columns {
            header,
            side: Side::Left,
            functions: true,
            keywords: CLAUSES,
        };
    }
    let last = line[line.len() - 1];
    let words: Vec<&str> = line.iter().map(|t| t.text).collect();
    match words.as_slice() {
        ["filter"] => Context::Sides {
            header,
            keywords: &[],
        },
        ["filter", side, ":", ..] => filter_clause(header, side, last),
        ["match", ..] => match_clause(header, line, last),
        ["create", ":", ..] if !last.is("none") => Context::Sides {
            header,
            keywords: &["none"],
        },
        ["on"] => Context::Keywords(&["conflict", "delete"]),
        ["on", "conflict", ":"] => Context::Keywords(&["prefer", "newest", "fail"]),
        ["on", "conflict", ":", "prefer"] => Context::Sides {
            header,
            keywords: &[],
        },
        ["on", "delete", ":"] => Context::Keywords(&["uncouple", "restore", "propagate", "fail"]),
        ["only"] => Context::Keywords(&["coupled"]),
        ["only", "coupled", ":"] => Context::Keywords(&["true", "false"]),
        ["after", ..] if last.is("after") || last.is(",") => Context::Mappings {
            exclude: Some(header.name),
            keywords: &[],
        },
        ["create" | "on" | "only" | "after", ..] => Context::Nothing,
        _ => field(header, line),
    }
}

/// `filter SIDE: …`: the columns of that side and what may start an operand, or `and`/`or`
/// after a complete one.
fn filter_clause(header: Header, side: &str, last: Token<'_>) -> Context {
    let Some(side) = header.side_named(side.trim_matches('`')) else {
        return Context::Nothing;
    };
    if last.ends_operand() {
        Context::Keywords(&["and", "or"])
    } else {
        Context::Columns {
            header,
            side,
            functions: true,
            keywords: OPERAND,
        }
    }
}

/// `match left == right and …`: a left column, then a right one after `==`.
fn match_clause(header: Header, line: &[Token<'_>], last: Token<'_>) -> Context {
    if in_brackets(line) {
        Context::Keywords(&["case sensitive"])
    } else if last.is("==") {
        Context::Columns {
            header,
            side: Side::Right,
            functions: false,
            keywords: &[],
        }
    } else if last.is("match") || last.is("and") {
        Context::Columns {
            header,
            side: Side::Left,
            functions: false,
            keywords: &[],
        }
    } else {
        Context::Nothing
    }
}

fn field(header: Header, line: &[Token<'_>]) -> Context {
    let n = line.len();
    let last = line[n - 1];
    if in_brackets(line) {
        return Context::Keywords(MODIFIERS);
    }
    if last.is("via") {
        return Context::Mappings {
            exclude: Some(header.name),
            keywords: &[],
        };
    }
    if last.is(".") && n >= 3 && line[n - 3].is("via") {
        return Context::ViaColumns {
            mapping: line[n - 2].name().unwrap_or_default().to_string(),
        };
    }
    if last.is("using") {
        return Context::ValueMaps;
    }
    if line.iter().any(|t| t.is("via") || t.is("using")) {
        return Context::Nothing;
    }
    let mut parens = 0i32;
    let mut arrow = None;
    for t in line {
        parens += i32::from(t.is("(")) - i32::from(t.is(")"));
        if parens == 0 && t.is_arrow() {
            arrow = Some(*t);
        }
    }
    if last.ends_operand() {
        // After a whole source and destination, only a transform may follow.
        return match arrow {
            Some(_) => Context::Keywords(&["via", "using"]),
            None => Context::Nothing,
        };
    }
    match arrow {
        Some(a) => Context::Columns {
            header,
            side: Side::Right,
            // The right of `<-` is the source, an expression; of `->` and `<->`, a column.
            functions: a.is("<-"),
            keywords: &[],
        },
        None => Context::Columns {
            header,
            side: Side::Left,
            functions: true,
            keywords: &[],
        },
    }
}
