//! Bounds how deeply a text nests before the parser sees it. The parser, the checker, the
//! formatter and the plan all recurse over expressions, so 100,000 nested parentheses would
//! overflow the stack; and a plan nested deeper than serde_json reads (128 levels) could be
//! written by `compile` but not read by `run`. One linear pass without recursion finds the
//! first item that nests deeper than [`MAX_DEPTH`].

/// How deeply brackets and operators may nest. Each level is at most three levels of plan
/// JSON (a call: the variant, its fields, the argument list), so the deepest expression stays
/// well under serde_json's limit of 128 with the plan's own levels around it.
pub const MAX_DEPTH: usize = 32;

/// One open bracket (or the top level) during the scan.
#[derive(Default)]
struct Level {
    /// Operators and `if`s since the last separator at this level.
    ops: usize,
    /// The deepest bracket closed since the last separator, counting itself.
    child: usize,
}

impl Level {
    /// An upper bound of the depth of the syntax tree of the current segment.
    fn bound(&self) -> usize {
        self.ops + self.child
    }
}

/// The byte offset of the first place nested deeper than [`MAX_DEPTH`], if any.
///
/// The bound is generous but never too small: an expression's tree is no deeper than its
/// operators (`if` included) plus the depth of its deepest bracket. Segments end at commas and
/// arrows, so the field mappings of a table are not added together.
pub(crate) fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut scan = Scan {
        levels: vec![Level::default()],
        open_ops: 0,
    };
    let mut i = 0;
    while i < bytes.len() {
        let (token, last) = token(bytes, i);
        i = last;
        let fits = match token {
            Token::Open => {
                scan.levels.push(Level::default());
                true
            }
            Token::Close => scan.close(),
            Token::Separator => {
                scan.separate();
                true
            }
            Token::Operator => {
                scan.operator();
                true
            }
            Token::Other => true,
        };
        if !fits || scan.levels.len() - 1 + scan.open_ops > MAX_DEPTH {
            return Some(i.min(text.len().saturating_sub(1)));
        }
        i += 1;
    }
    None
}

/// What a scan step found.
enum Token {
    Open,
    Close,
    /// A comma or an arrow: a new field mapping, argument or arm starts.
    Separator,
    /// An infix or prefix operator, or `if`.
    Operator,
    /// Anything else: names, literals, strings and comments included.
    Other,
}

/// The token at `i` and the offset of its last byte.
fn token(bytes: &[u8], i: usize) -> (Token, usize) {
    let next = bytes.get(i + 1).copied();
    match bytes[i] {
        b'"' => (Token::Other, skip_string(bytes, i)),
        b'`' => (Token::Other, skip_until(bytes, i + 1, b"`")),
        b'@' => {
            let end = skip_while(bytes, i + 1, |c| {
                c.is_ascii_alphanumeric() || b":+-.".contains(&c)
            });
            (Token::Other, end - 1)
        }
        b'/' if next == Some(b'/') => (Token::Other, skip_until(bytes, i, b"\n")),
        b'/' if next == Some(b'*') => (Token::Other, skip_until(bytes, i + 2, b"*/") + 1),
        b'(' | b'[' | b'{' => (Token::Open, i),
        b')' | b']' | b'}' => (Token::Close, i),
        b',' => (Token::Separator, i),
        b'-' | b'=' if next == Some(b'>') => (Token::Separator, i + 1),
        b'<' if next == Some(b'-') => {
            let long = bytes.get(i + 2) == Some(&b'>');
            (Token::Separator, i + 1 + usize::from(long))
        }
        b'?' if next == Some(b'?') => (Token::Operator, i + 1),
        b'=' | b'!' | b'<' | b'>' if next == Some(b'=') => (Token::Operator, i + 1),
        b'<' | b'>' | b'+' | b'-' | b'*' | b'/' | b'%' => (Token::Operator, i),
        c if c.is_ascii_alphabetic() || c == b'_' => {
            let end = skip_while(bytes, i, |c| c.is_ascii_alphanumeric() || c == b'_');
            let word = &bytes[i..end];
            let kind = if matches!(word, b"and" | b"or" | b"not" | b"if") {
                Token::Operator
            } else {
                Token::Other
            };
            (kind, end - 1)
        }
        _ => (Token::Other, i),
    }
}

/// The open levels of a scan.
struct Scan {
    levels: Vec<Level>,
    /// Operators counted in every open level, for an early stop.
    open_ops: usize,
}

impl Scan {
    /// Closes the innermost bracket; `false` when that makes its level too deep. A closing
    /// bracket without an opening one is the parser's to report.
    fn close(&mut self) -> bool {
        if self.levels.len() < 2 {
            return true;
        }
        let closed = self.levels.pop().unwrap_or_default();
        self.open_ops -= closed.ops;
        let Some(top) = self.levels.last_mut() else {
            return true;
        };
        top.child = top.child.max(closed.bound() + 1);
        top.bound() <= MAX_DEPTH
    }

    /// Ends the segment of the innermost level.
    fn separate(&mut self) {
        if let Some(top) = self.levels.last_mut() {
            self.open_ops -= top.ops;
            *top = Level::default();
        }
    }

    fn operator(&mut self) {
        if let Some(top) = self.levels.last_mut() {
            top.ops += 1;
        }
        self.open_ops += 1;
    }
}

/// The offset of the closing quote of the string opening at `start`.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    i.min(bytes.len())
}

/// The offset of the last byte before `end` is found from `from`, or the end of the text.
fn skip_until(bytes: &[u8], from: usize, end: &[u8]) -> usize {
    let mut i = from;
    while i < bytes.len() && !bytes[i..].starts_with(end) {
        i += 1;
    }
    i.min(bytes.len())
}

/// The offset of the first byte from `from` on that `keep` refuses.
fn skip_while(bytes: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    while i < bytes.len() && keep(bytes[i]) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> String {
        format!(
            "table t: a.p -> b.q {{\n    {}x{} -> y\n}}\n",
            "(".repeat(n),
            ")".repeat(n)
        )
    }

    #[test]
    fn the_limit_counts_brackets_and_operators() {
        // The table body is one level, so MAX_DEPTH - 1 parentheses fit.
        assert_eq!(too_deep(&nested(MAX_DEPTH - 1)), None);
        assert!(too_deep(&nested(MAX_DEPTH)).is_some());
        assert!(too_deep(&nested(100_000)).is_some());
        let chain =
            |n: usize| format!("fn f(x: int) -> int {{ {} }}", vec!["x"; n + 1].join(" + "));
        assert_eq!(too_deep(&chain(MAX_DEPTH - 1)), None);
        assert!(too_deep(&chain(MAX_DEPTH)).is_some());
        let nots = format!("{{ {}true }}", "not ".repeat(MAX_DEPTH));
        assert!(too_deep(&nots).is_some());
    }

    #[test]
    fn operators_after_a_deep_bracket_add_to_it() {
        let half = MAX_DEPTH / 2;
        let text = format!(
            "{{ {}x{}{} }}",
            "(".repeat(half),
            ")".repeat(half),
            " + x".repeat(half)
        );
        assert!(too_deep(&text).is_some());
    }

    #[test]
    fn separate_mappings_strings_and_comments_do_not_add_up() {
        let line = "    a + b + c + d -> e\n";
        let text = format!("table t: a.p -> b.q {{\n{}}}\n", line.repeat(1000));
        assert_eq!(too_deep(&text), None);
        let noise = format!(
            "{{ \"{}\" // {}\n /* {} */ `{}` -> x }}",
            "(+".repeat(100),
            "(".repeat(100),
            "(".repeat(100),
            "(".repeat(100)
        );
        assert_eq!(too_deep(&noise), None);
        let arms = format!("map m {{ {} }}", "\"a\" => \"b\", ".repeat(1000));
        assert_eq!(too_deep(&arms), None);
    }
}
