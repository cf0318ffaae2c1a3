//! Finds, before the parser, the mistakes a parser reports far from where they were made: a
//! string left open (the parser would list a dozen tokens and show the rest of the line), and a
//! bracket left open or closed twice (the parser would blame the next item's name, or the end
//! of the file). One linear pass over the text, which knows strings and comments and nothing
//! else, so what it finds is what a person sees: the quote or the bracket itself.

/// A mistake the scan found, by byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A string whose closing quote never comes on its line.
    UnterminatedString {
        /// The opening quote.
        open: usize,
        /// The end of its line.
        line_end: usize,
    },
    /// A bracket still open where the next item starts (`before`), or at the end of the file.
    Unclosed {
        /// The bracket.
        open: usize,
        /// `{`, `(` or `[`.
        bracket: char,
        /// Where its closing bracket was due at the latest.
        before: usize,
        /// Whether `before` is the end of the file rather than the start of an item.
        at_end: bool,
    },
    /// A closing bracket with nothing open of its kind.
    Unopened {
        /// The bracket.
        at: usize,
        /// `}`, `)` or `]`.
        bracket: char,
    },
}

impl Problem {
    /// Where the problem is reported: the quote or bracket at fault.
    pub(crate) fn position(&self) -> usize {
        match self {
            Problem::UnterminatedString { open, .. } | Problem::Unclosed { open, .. } => *open,
            Problem::Unopened { at, .. } => *at,
        }
    }
}

/// The closing bracket of an opening one.
pub(crate) fn closing(open: char) -> char {
    match open {
        '{' => '}',
        '(' => ')',
        _ => ']',
    }
}

/// The mistakes of `text`, in order. `item_starts` are the offsets where top-level items begin
/// (a line starting with an item keyword): a bracket open there was never closed.
pub(crate) fn problems(text: &str, item_starts: &[usize]) -> Vec<Problem> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut open: Vec<(usize, char)> = Vec::new();
    let mut starts = item_starts.iter().copied().peekable();
    let mut i = 0;
    while i < bytes.len() {
        while starts.next_if(|&s| s <= i).is_some() {
            if let Some(&(at, bracket)) = open.last() {
                let before = i;
                found.push(Problem::Unclosed {
                    open: at,
                    bracket,
                    before,
                    at_end: false,
                });
                open.clear();
            }
        }
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = line_end(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                // A block comment: brackets, quotes and item keywords in it are text.
                i = comment_end(bytes, i);
                while starts.next_if(|&s| s <= i).is_some() {}
            }
            b'"' => match string_end(bytes, i) {
                Ok(end) => i = end,
                Err(line_end) => {
                    found.push(Problem::UnterminatedString { open: i, line_end });
                    i = line_end;
                }
            },
            b'`' => i = name_end(bytes, i),
            b @ (b'{' | b'(' | b'[') => open.push((i, char::from(b))),
            b @ (b'}' | b')' | b']') => close(&mut open, &mut found, i, char::from(b)),
            _ => {}
        }
        i += 1;
    }
    if let Some(&(at, bracket)) = open.last() {
        found.push(Problem::Unclosed {
            open: at,
            bracket,
            before: text.len(),
            at_end: true,
        });
    }
    found
}

/// A closing bracket: it closes the innermost bracket of its kind. Brackets opened inside that
/// one were left open (reported at this bracket); with none of its kind open, it is a stray.
fn close(open: &mut Vec<(usize, char)>, found: &mut Vec<Problem>, at: usize, bracket: char) {
    let Some(depth) = open.iter().rposition(|&(_, o)| closing(o) == bracket) else {
        found.push(Problem::Unopened { at, bracket });
        return;
    };
    if let Some(&(inner, inner_bracket)) = open.get(depth + 1) {
        found.push(Problem::Unclosed {
            open: inner,
            bracket: inner_bracket,
            before: at,
            at_end: false,
        });
    }
    open.truncate(depth);
}

/// The offset of the `/` closing the block comment opened at `open` (or the end of the text).
fn comment_end(bytes: &[u8], open: usize) -> usize {
    bytes[open + 2..]
        .windows(2)
        .position(|w| w == b"*/")
        .map_or(bytes.len(), |n| open + 2 + n + 1)
}

/// The offset of the newline ending the line `i` is on (or the end of the text).
fn line_end(bytes: &[u8], i: usize) -> usize {
    bytes[i..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |n| i + n)
}

/// The offset of the closing quote of the string opened at `open`, or, when the line ends
/// first, the end of the line.
fn string_end(bytes: &[u8], open: usize) -> Result<usize, usize> {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if bytes.get(i + 1).is_some_and(|&b| b != b'\n') => i += 2,
            b'"' => return Ok(i),
            b'\n' => return Err(i),
            _ => i += 1,
        }
    }
    Err(bytes.len())
}

/// The offset of the closing backquote of a quoted name (`` `odd name` ``), or the end of its
/// line: brackets inside it are part of the name.
fn name_end(bytes: &[u8], open: usize) -> usize {
    bytes[open + 1..]
        .iter()
        .position(|&b| b == b'`' || b == b'\n')
        .map_or(bytes.len(), |n| open + 1 + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(text: &str) -> Vec<usize> {
        std::iter::once(0)
            .chain(text.match_indices("\ntable").map(|(i, _)| i + 1))
            .collect()
    }

    #[test]
    fn balanced_text_strings_and_comments_have_no_problem() {
        let text = "table a: x.y -> z.w {\n    \"}(\" -> b // ) {\n    f(\"a\\\"]\") -> c\n}\n";
        assert_eq!(problems(text, &starts(text)), Vec::new());
    }

    #[test]
    fn block_comments_hold_any_text() {
        let text = "/* 1) a 12\" pipe {\ntable old: x.y -> z.w {\n*/\ntable a: x.y -> z.w {\n}\n";
        let starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices("\ntable").map(|(i, _)| i + 1))
            .collect();
        assert_eq!(problems(text, &starts), Vec::new());
    }

    #[test]
    fn an_open_string_is_found_at_its_quote() {
        let text = "table a: x.y -> z.w {\n    filter x: y == \" \n}\n";
        let quote = text.find('"').unwrap();
        assert_eq!(
            problems(text, &starts(text)),
            vec![Problem::UnterminatedString {
                open: quote,
                line_end: text[quote..].find('\n').unwrap() + quote
            }]
        );
    }

    #[test]
    fn a_brace_open_at_the_next_item_is_unclosed_there() {
        let text = "table a: x.y -> z.w {\n    b -> c\n\ntable d: x.y -> z.w {\n}\n";
        let second = text.rfind("table").unwrap();
        assert_eq!(
            problems(text, &starts(text)),
            vec![Problem::Unclosed {
                open: text.find('{').unwrap(),
                bracket: '{',
                before: second,
                at_end: false
            }]
        );
    }

    #[test]
    fn brackets_left_open_and_closed_twice_are_told_apart() {
        let text = "table a: x.y -> z.w {\n    f(b -> c\n}\n}\n";
        let paren = text.find('(').unwrap();
        let first_close = text.find('}').unwrap();
        assert_eq!(
            problems(text, &starts(text)),
            vec![
                Problem::Unclosed {
                    open: paren,
                    bracket: '(',
                    before: first_close,
                    at_end: false
                },
                Problem::Unopened {
                    at: text.rfind('}').unwrap(),
                    bracket: '}'
                }
            ]
        );
        let text = "table a: x.y -> z.w {\n    b -> c\n";
        assert!(matches!(
            problems(text, &starts(text))[..],
            [Problem::Unclosed { at_end: true, .. }]
        ));
    }
}
