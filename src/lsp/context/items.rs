//! Inside systems, functions, jobs and tests: settings, parameters and types, job clauses, and
//! the steps of a test with the columns of their records.

use super::{Context, Header};
use crate::lsp::tokens::{Kind, Token};

const JOB_CLAUSES: &[&str] = &["every", "idle", "at"];

pub(super) fn system(it: &[Token<'_>]) -> Context {
    let last = it[it.len() - 1];
    if !it.iter().any(|t| t.is("{")) {
        return if last.is(":") {
            Context::Kinds
        } else {
            Context::Nothing
        };
    }
    if last.is("{") || last.is(",") || last.kind == Kind::Str {
        Context::Settings
    } else {
        Context::Nothing
    }
}

pub(super) fn function(it: &[Token<'_>]) -> Context {
    let last = it[it.len() - 1];
    let Some(brace) = it.iter().position(|t| t.is("{")) else {
        return if last.is(":") || last.is("->") {
            Context::Types
        } else {
            Context::Nothing
        };
    };
    if last.ends_operand() {
        return Context::Nothing;
    }
    let sig = &it[..brace];
    let params = sig
        .windows(3)
        .filter(|w| w[0].kind == Kind::Ident && w[1].is(":") && w[2].kind == Kind::Ident)
        .map(|w| {
            let s = |t: &Token<'_>| t.name().unwrap_or_default().to_string();
            (s(&w[0]), s(&w[2]))
        })
        .collect();
    Context::FunctionBody { params }
}

pub(super) fn job(it: &[Token<'_>]) -> Context {
    let Some(brace) = it.iter().position(|t| t.is("{")) else {
        return Context::Nothing;
    };
    let body = &it[brace + 1..];
    let Some(last) = body.last() else {
        return Context::Keywords(&["sync"]);
    };
    if last.is("sync") {
        Context::Keywords(&["full", "modified"])
    } else if last.is("full") || last.is("modified") || last.is(",") {
        Context::Mappings {
            exclude: None,
            keywords: JOB_CLAUSES,
        }
    } else if (last.kind == Kind::Ident && !JOB_CLAUSES.contains(&last.text))
        || last.kind == Kind::Number
    {
        Context::Keywords(JOB_CLAUSES)
    } else {
        Context::Nothing
    }
}

pub(super) fn test(it: &[Token<'_>], lookup: &dyn Fn(&str) -> Option<Header>) -> Context {
    if it.len() == 1 {
        return Context::Mappings {
            exclude: None,
            keywords: &[],
        };
    }
    let Some(brace) = it.iter().position(|t| t.is("{")) else {
        return Context::Nothing;
    };
    let header = it[1].name().and_then(lookup);
    let body = &it[brace + 1..];
    let (depth, record_side) = open_record(body);
    let last = body.last();
    if depth > 0 {
        let (Some(header), Some(side)) = (header, record_side) else {
            return Context::Nothing;
        };
        let Some(side) = header.side_named(side) else {
            return Context::Nothing;
        };
        return match last {
            Some(t) if t.is("{") || t.is(",") => Context::Columns {
                header,
                side,
                functions: false,
                keywords: &[],
            },
            _ => Context::Nothing,
        };
    }
    if depth < 0 {
        return Context::Nothing;
    }
    test_step(header, last)
}

/// How deep in braces the end of a test's body is, and the side of the record last opened
/// (`given SIDE {` or `expect SIDE [on update] {`).
fn open_record<'t>(body: &[Token<'t>]) -> (i32, Option<&'t str>) {
    let mut depth = 0;
    let mut record_side = None;
    for (i, t) in body.iter().enumerate() {
        if t.is("{") {
            depth += 1;
            if depth == 1 {
                record_side = body[..i]
                    .iter()
                    .rposition(|t| t.is("given") || t.is("expect"))
                    .and_then(|k| body.get(k + 1))
                    .and_then(Token::name);
            }
        } else if t.is("}") {
            depth -= 1;
        }
    }
    (depth, record_side)
}

/// Between the steps of a test: a step keyword, or what follows one.
fn test_step(header: Option<Header>, last: Option<&Token<'_>>) -> Context {
    const STEPS: &[&str] = &["given", "couple", "expect"];
    match last {
        None => Context::Keywords(STEPS),
        Some(t) if t.is("}") || t.is("filtered") || t.is("fails") || t.kind == Kind::Str => {
            Context::Keywords(STEPS)
        }
        Some(t) if t.is("given") || t.is("expect") => match header {
            Some(header) => Context::Sides {
                header,
                keywords: if t.is("expect") {
                    &["filtered", "fails"]
                } else {
                    &[]
                },
            },
            None => Context::Nothing,
        },
        Some(t) if t.is("couple") => Context::Mappings {
            exclude: None,
            keywords: &[],
        },
        _ => Context::Nothing,
    }
}
