//! What may be written at the cursor, read from the tokens before it. Completion works on
//! half-typed lines that do not parse, so this follows the grammar loosely: it finds the item
//! around the cursor (an item keyword at the top level, or in the first column, as the parser's
//! recovery does), then the clause within the item (a table mapping's lines, a test's steps), then
//! the position within the clause.
//!
//! This file holds the contexts, the entry point and how items are found; table mappings, the
//! other items, and strings are read in the files named after them.

mod items;
mod strings;
mod table;

use crate::plan::Side;
use crate::syntax::ast::Direction;

use super::tokens::{self, Kind, Token};
use items::{function, job, system, test};
use strings::string;
use table::table;

/// A table mapping's header as written: its name and the `system.table` of each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The table mapping's name.
    pub name: String,
    /// The left side's system alias and table.
    pub left: (String, String),
    /// The right side's system alias and table.
    pub right: (String, String),
    /// The flow of records.
    pub direction: Direction,
}

impl Header {
    /// The side a system alias (or `left` / `right`) names, as the checker resolves it.
    pub fn side_named(&self, name: &str) -> Option<Side> {
        crate::check::locate::side_of_systems(&self.left.0, &self.right.0, name)
    }

    /// The system and table of a side.
    pub fn side(&self, side: Side) -> (&str, &str) {
        let (s, t) = match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        };
        (s, t)
    }
}

/// What completion should offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    /// Nothing useful (a comment, a name being declared, a literal).
    Nothing,
    /// Top-level item keywords.
    Items,
    /// System kinds, after `system NAME:`.
    Kinds,
    /// System settings.
    Settings,
    /// Declared systems, in a table mapping's header.
    Systems,
    /// The tables of a system, after `system.`.
    Tables {
        /// The system alias.
        system: String,
    },
    /// The columns of one side of a table mapping.
    Columns {
        /// The table mapping.
        header: Header,
        /// Whose columns.
        side: Side,
        /// Whether functions may be called here.
        functions: bool,
        /// Keywords that may also start here.
        keywords: &'static [&'static str],
    },
    /// Columns of the tables of the table mapping a `via` goes through.
    ViaColumns {
        /// The table mapping named after `via`.
        mapping: String,
    },
    /// The sides of a table mapping, by system alias.
    Sides {
        /// The table mapping.
        header: Header,
        /// Keywords that may also stand here.
        keywords: &'static [&'static str],
    },
    /// Table mapping names.
    Mappings {
        /// The mapping being written, which cannot name itself.
        exclude: Option<String>,
        /// Keywords that may also stand here.
        keywords: &'static [&'static str],
    },
    /// Value map names, after `using`.
    ValueMaps,
    /// Just these keywords.
    Keywords(&'static [&'static str]),
    /// A function body: its parameters, functions and expression keywords.
    FunctionBody {
        /// Parameter names and types.
        params: Vec<(String, String)>,
    },
    /// Type names, in a function signature.
    Types,
    /// Option labels or enum members of a column, inside a string literal.
    Labels {
        /// The table mapping.
        header: Header,
        /// The column's side.
        side: Side,
        /// The column.
        column: String,
        /// The byte range of the string's contents, which a label replaces.
        replace: (usize, usize),
    },
}

/// Keywords that start a top-level item.
pub const ITEMS: [&str; 7] = ["import", "system", "table", "map", "fn", "job", "test"];
/// Keywords that start a table mapping's clauses other than field mappings.
pub const CLAUSES: &[&str] = &["filter", "match", "create", "on", "only", "after"];
/// Modifiers of a field mapping.
pub const MODIFIERS: &[&str] = &[
    "create only",
    "update only",
    "clear on failure",
    "not null",
    "truncate",
    "on conflict: ",
];
/// Keywords that may start an operand.
pub const OPERAND: &[&str] = &["if", "not", "null", "true", "false"];

/// The context at a byte offset. `lookup` finds table mappings declared elsewhere (tests name
/// them).
pub fn at(text: &str, offset: usize, lookup: &dyn Fn(&str) -> Option<Header>) -> Context {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let all = tokens::lex(text);
    if let Some(t) = all.iter().find(|t| t.start < offset && offset <= t.end) {
        match t.kind {
            Kind::Comment if t.text.starts_with("//") || offset < t.end => return Context::Nothing,
            Kind::Str if offset < t.end || !closed(t) => {
                return string(text, &all, t, lookup).unwrap_or(Context::Nothing);
            }
            _ => {}
        }
    }
    let word = word_start(text, offset);
    let before: Vec<Token<'_>> = all
        .iter()
        .filter(|t| t.kind != Kind::Comment && t.end <= word)
        .copied()
        .collect();
    let Some(item) = item_start(text, &before) else {
        return Context::Items;
    };
    let it = &before[item..];
    let finished = match it[0].text {
        "import" => it.len() >= 2,
        _ => it.len() > 1 && it.last().is_some_and(|t| t.is("}")) && depth(it) == 0,
    };
    if finished {
        return Context::Items;
    }
    match it[0].text {
        "table" => table(text, it, word),
        "system" => system(it),
        "fn" => function(it),
        "job" => job(it),
        "test" => test(it, lookup),
        _ => Context::Nothing,
    }
}

fn closed(t: &Token<'_>) -> bool {
    t.text.len() >= 2 && t.text.ends_with('"') && !t.text.ends_with("\\\"")
}

/// Where the name the cursor is in (or just after) starts.
fn word_start(text: &str, offset: usize) -> usize {
    let before = &text[..offset];
    let plain = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
        .map_or(offset, |(i, _)| i);
    // Inside an unclosed backticked name, the name starts at the backtick.
    let line = &before[before.rfind('\n').map_or(0, |n| n + 1)..];
    if line.matches('`').count() % 2 == 1 {
        return before.rfind('`').unwrap_or(plain);
    }
    plain
}

/// The index of the token that starts the item around the end of `toks`.
fn item_start(text: &str, toks: &[Token<'_>]) -> Option<usize> {
    let mut depth = 0i32;
    let mut item = None;
    for (i, t) in toks.iter().enumerate() {
        if t.kind == Kind::Ident
            && ITEMS.contains(&t.text)
            && (depth == 0 || tokens::in_first_column(text, t))
        {
            depth = 0;
            item = Some(i);
        } else if t.is("{") {
            depth += 1;
        } else if t.is("}") {
            depth = (depth - 1).max(0);
        }
    }
    item
}

/// Braces opened and not closed in `toks`.
fn depth(toks: &[Token<'_>]) -> i32 {
    toks.iter().fold(0, |d, t| {
        if t.is("{") {
            d + 1
        } else if t.is("}") {
            d - 1
        } else {
            d
        }
    })
}

/// Whether a `[` is open at the end of `toks`.
fn in_brackets(toks: &[Token<'_>]) -> bool {
    toks.iter()
        .rev()
        .find(|t| t.is("[") || t.is("]"))
        .is_some_and(|t| t.is("["))
}

/// `table NAME : a . b ARROW c . d` at the start of `toks`.
pub fn header(toks: &[Token<'_>]) -> Option<Header> {
    let [kw, name, colon, ls, dot1, lt, arrow, rs, dot2, rt, ..] = toks else {
        return None;
    };
    let ok = kw.is("table")
        && colon.is(":")
        && dot1.is(".")
        && dot2.is(".")
        && arrow.is_arrow()
        && [name, ls, lt, rs, rt].iter().all(|t| t.kind == Kind::Ident);
    if !ok {
        return None;
    }
    let direction = match arrow.text {
        "<->" => Direction::Both,
        "->" => Direction::ToRight,
        _ => Direction::ToLeft,
    };
    let s = |t: &Token<'_>| t.name().unwrap_or_default().to_string();
    Some(Header {
        name: s(name),
        left: (s(ls), s(lt)),
        right: (s(rs), s(rt)),
        direction,
    })
}

/// Every table mapping header in a text.
pub fn headers(text: &str) -> Vec<Header> {
    let toks: Vec<Token<'_>> = tokens::lex(text)
        .into_iter()
        .filter(|t| t.kind != Kind::Comment)
        .collect();
    (0..toks.len())
        .filter(|&i| toks[i].is("table"))
        .filter_map(|i| header(&toks[i..]))
        .collect()
}

// One arm per clause of a table mapping, matched on the words typed so far; the clauses that
// take expressions or columns decide in their own function.
#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "table customers: bc.customers <-> dv.accounts {\n";

    fn ctx(text: &str) -> Context {
        let offset = text.find('|').unwrap();
        let text = text.replace('|', "");
        let headers = headers(&text);
        at(&text, offset, &|n| {
            headers.iter().find(|h| h.name == n).cloned()
        })
    }

    fn columns(c: &Context) -> Option<(Side, bool)> {
        match c {
            Context::Columns {
                side, functions, ..
            } => Some((*side, *functions)),
            _ => None,
        }
    }

    #[test]
    fn field_sides_follow_the_arrow() {
        assert_eq!(
            columns(&ctx(&format!("{HEAD}    disp|"))),
            Some((Side::Left, true))
        );
        assert_eq!(
            columns(&ctx(&format!("{HEAD}    displayName <-> |\n}}"))),
            Some((Side::Right, false))
        );
        assert_eq!(
            columns(&ctx(&format!("{HEAD}    code <- upper(full|"))),
            Some((Side::Right, true))
        );
        assert_eq!(
            columns(&ctx(&format!("{HEAD}    filter dv: statecode == 0 and |"))),
            Some((Side::Right, true))
        );
        assert_eq!(
            columns(&ctx(&format!("{HEAD}    match number == |"))),
            Some((Side::Right, false))
        );
    }

    #[test]
    fn names_after_keywords() {
        assert_eq!(
            ctx("table t: bc.|"),
            Context::Tables {
                system: "bc".into()
            }
        );
        assert_eq!(ctx("table t: |"), Context::Systems);
        assert_eq!(
            ctx(&format!("{HEAD}    a -> b using |")),
            Context::ValueMaps
        );
        assert!(matches!(
            ctx(&format!("{HEAD}    a -> b via |")),
            Context::Mappings { .. }
        ));
        assert!(matches!(
            ctx(&format!("{HEAD}    after |")),
            Context::Mappings { .. }
        ));
        assert_eq!(
            ctx(&format!("{HEAD}    a -> b [trunc|")),
            Context::Keywords(MODIFIERS)
        );
        assert_eq!(ctx(&format!("{HEAD}}}\n\n|")), Context::Items);
        assert_eq!(ctx("// table |"), Context::Nothing);
    }

    #[test]
    fn tests_complete_the_sides_columns() {
        let text =
            format!("{HEAD}}}\ntest customers {{\n    given bc {{ displayName: \"x\", | }}\n}}");
        assert_eq!(columns(&ctx(&text)), Some((Side::Left, false)));
        let text =
            format!("{HEAD}}}\ntest customers {{\n    expect dv {{ statecode: \"Ac|\" }}\n}}");
        assert!(matches!(
            ctx(&text),
            Context::Labels {
                side: Side::Right,
                ..
            }
        ));
    }

    #[test]
    fn clauses_jobs_and_functions() {
        let after_line = format!("{HEAD}    filter bc: blocked == \" \"\n    |");
        assert_eq!(
            columns(&ctx(&after_line)),
            Some((Side::Left, true)),
            "a new line starts a field mapping or a clause"
        );
        let continued = format!("{HEAD}    displayName <->\n        |");
        assert_eq!(columns(&ctx(&continued)), Some((Side::Right, false)));
        assert_eq!(
            ctx(&format!("{HEAD}    on conflict: |")),
            Context::Keywords(&["prefer", "newest", "fail"])
        );
        assert!(matches!(
            ctx(&format!("{HEAD}    on conflict: prefer |")),
            Context::Sides { .. }
        ));
        assert_eq!(
            ctx("job j { sync |"),
            Context::Keywords(&["full", "modified"])
        );
        assert!(matches!(
            ctx("job j { sync full currencies, |"),
            Context::Mappings { .. }
        ));
        assert_eq!(ctx("fn f(a: |"), Context::Types);
        assert_eq!(
            ctx("fn f(a: string, b: int) -> string { upper(|"),
            Context::FunctionBody {
                params: vec![("a".into(), "string".into()), ("b".into(), "int".into())]
            }
        );
        assert_eq!(ctx("system s: |"), Context::Kinds);
        assert_eq!(ctx("system s: sqlite { |"), Context::Settings);
        let test = format!("{HEAD}}}\ntest customers {{\n    given bc {{ a: 1 }}\n    |");
        assert_eq!(
            ctx(&test),
            Context::Keywords(&["given", "couple", "expect"])
        );
        let test = format!("{HEAD}}}\ntest customers {{\n    expect |");
        assert!(matches!(ctx(&test), Context::Sides { .. }));
        assert!(matches!(ctx("test |"), Context::Mappings { .. }));
    }

    #[test]
    fn strings_compared_with_columns_complete_labels() {
        let c = ctx(&format!("{HEAD}    filter dv: statecode == \"Act|\"\n}}"));
        let Context::Labels {
            column, replace, ..
        } = c
        else {
            panic!("{c:?}")
        };
        assert_eq!(column, "statecode");
        let text = format!("{HEAD}    filter dv: statecode == \"Act\"\n}}");
        assert_eq!(&text[replace.0..replace.1], "Act");
        assert!(matches!(
            ctx(&format!("{HEAD}    \"Cust|\" -> customertypecode\n}}")),
            Context::Labels {
                side: Side::Right,
                ..
            }
        ));
    }
}
