//! Pairs → syntax tree. Literal checks that the grammar leaves open (escapes, number ranges,
//! dates, durations, repeated clauses) are made here, and every problem is collected. This file
//! holds the walk's state, the helpers every construct uses (spans, content, names, strings) and
//! the top-level items; each kind of item is lowered in the file named after it.

mod expr;
mod items;
mod table;
mod test;

use pest::iterators::Pair;

use super::ast::*;
use super::parser::Rule;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::FileId;

struct Lower {
    file: FileId,
    diags: Diagnostics,
}

/// The span of a pair without the whitespace and comments pest lets trail into it when an
/// optional or repeated part at its end did not match: the end of its last token.
fn span(p: &Pair<'_, Rule>) -> Span {
    Span::new(p.as_span().start(), real_end(p))
}

fn real_end(p: &Pair<'_, Rule>) -> usize {
    if p.as_rule() == Rule::string {
        return p.as_span().end();
    }
    match p.clone().into_inner().last() {
        Some(last) => real_end(&last),
        None => p.as_span().end(),
    }
}

/// Whether a rule is a keyword or punctuation token that carries no content of its own.
fn is_token(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        kw_import
            | kw_system
            | kw_table
            | kw_filter
            | kw_match
            | kw_create
            | kw_update
            | kw_only
            | kw_clear
            | kw_failure
            | kw_truncate
            | kw_case
            | kw_sensitive
            | kw_on
            | kw_conflict
            | kw_delete
            | kw_prefer
            | kw_coupled
            | kw_after
            | kw_via
            | kw_using
            | kw_map
            | kw_fn
            | kw_job
            | kw_sync
            | kw_every
            | kw_idle
            | kw_at
            | kw_test
            | kw_given
            | kw_couple
            | kw_expect
            | kw_if
            | kw_then
            | kw_else
            | colon
            | comma
            | dot
            | assign
            | lbrace
            | rbrace
            | lparen
            | rparen
            | lbracket
            | rbracket
            | fat_arrow
            | EOI
    )
}

/// The children of a pair that carry content.
fn content<'i>(p: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    p.into_inner().filter(|c| !is_token(c.as_rule()))
}

/// Lowers the `file` pair of one source. Malformed literals are reported and replaced, so the
/// tree is complete even when there are diagnostics.
pub(crate) fn lower_file(file: FileId, pair: Pair<'_, Rule>) -> (File, Diagnostics) {
    let mut l = Lower {
        file,
        diags: Diagnostics::new(),
    };
    let items = content(pair).filter_map(|p| l.item(p)).collect();
    l.diags.sort();
    (File { items }, l.diags)
}

impl Lower {
    fn error(
        &mut self,
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: &str,
        help: Option<&str>,
    ) {
        let mut d = Diagnostic::new(code, self.file, span, message).label(label);
        if let Some(h) = help {
            d = d.help(h);
        }
        self.diags.push(d);
    }

    fn item(&mut self, p: Pair<'_, Rule>) -> Option<Item> {
        Some(match p.as_rule() {
            Rule::import => {
                let s = span(&p);
                let path = self.string(content(p).next()?);
                Item::Import(Import { path, span: s })
            }
            Rule::system => Item::System(self.system(p)?),
            Rule::table => Item::Table(self.table(p)?),
            Rule::value_map => {
                let s = span(&p);
                let mut it = content(p);
                let name = self.ident(it.next()?);
                let body = self.map_body(it.next()?);
                Item::ValueMap(ValueMap {
                    name,
                    body,
                    span: s,
                })
            }
            Rule::function => Item::Function(self.function(p)?),
            Rule::job => Item::Job(self.job(p)?),
            Rule::test => Item::Test(self.test(p)?),
            _ => return None,
        })
    }

    fn ident(&mut self, p: Pair<'_, Rule>) -> Ident {
        let text = p.as_str();
        let name = text
            .strip_prefix('`')
            .and_then(|t| t.strip_suffix('`'))
            .unwrap_or(text);
        Ident {
            name: name.to_string(),
            span: span(&p),
        }
    }

    /// A setting's name as one identifier; `modified_on.orders` keeps its dot.
    fn setting_key(&mut self, p: Pair<'_, Rule>) -> Ident {
        let s = span(&p);
        let parts: Vec<String> = content(p).map(|i| self.ident(i).name).collect();
        Ident {
            name: parts.join("."),
            span: s,
        }
    }

    fn string(&mut self, p: Pair<'_, Rule>) -> StrLit {
        let s = span(&p);
        let inner = p.into_inner().next();
        let (raw, start) = match &inner {
            Some(i) => (i.as_str(), i.as_span().start()),
            None => ("", s.start as usize + 1),
        };
        let value = self.unescape(raw, start);
        StrLit { value, span: s }
    }

    /// Decodes `\"`, `\\`, `\n`, `\r`, `\t` and `\u{…}`; reports anything else at its position.
    fn unescape(&mut self, raw: &str, start: usize) -> String {
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((j, e)) = chars.next() else { break };
            match e {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let rest = &raw[j + 1..];
                    let decoded = rest
                        .strip_prefix('{')
                        .and_then(|r| r.find('}').map(|end| &r[..end]))
                        .filter(|hex| !hex.is_empty() && hex.len() <= 6)
                        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                        .and_then(char::from_u32);
                    match decoded {
                        Some(ch) => {
                            out.push(ch);
                            let consumed = rest.find('}').map_or(0, |e| e + 1);
                            while chars.peek().is_some_and(|(k, _)| *k <= j + consumed) {
                                chars.next();
                            }
                        }
                        None => self.error(
                            Code::E0102,
                            Span::new(start + i, start + j + 1),
                            "invalid unicode escape",
                            "not a code point",
                            Some("write a code point as `\\u{1F600}` (1 to 6 hex digits)"),
                        ),
                    }
                }
                other => self.error(
                    Code::E0102,
                    Span::new(start + i, start + j + other.len_utf8()),
                    format!("unknown escape `\\{other}`"),
                    "not an escape",
                    Some("the escapes are `\\\"`, `\\\\`, `\\n`, `\\r`, `\\t` and `\\u{…}`"),
                ),
            }
        }
        out
    }
}
