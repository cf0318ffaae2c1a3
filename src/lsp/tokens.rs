//! A forgiving tokenizer for completion. While a line is being typed the file rarely parses,
//! and the parser's recovery drops the whole item around the error, so completion reads the
//! tokens before the cursor instead of the syntax tree. Nothing here fails: any character the
//! language does not know becomes a one-character token.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A plain or backticked name (keywords included).
    Ident,
    /// A string literal; it may lack its closing quote.
    Str,
    /// A number, a duration (`30m`) or part of a time of day.
    Number,
    /// A date or date-time literal (`@2024-01-31`).
    Date,
    /// Punctuation and operators, arrows included.
    Punct,
    /// A line or block comment.
    Comment,
}

/// One token and where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What it is.
    pub kind: Kind,
    /// The text as written.
    pub text: &'a str,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset after its last character.
    pub end: usize,
}

impl<'a> Token<'a> {
    /// The name of an identifier, without backticks.
    pub fn name(&self) -> Option<&'a str> {
        if self.kind != Kind::Ident {
            return None;
        }
        let t = self.text;
        Some(
            t.strip_prefix('`')
                .map_or(t, |t| t.strip_suffix('`').unwrap_or(t)),
        )
    }

    /// Whether this is the keyword or punctuation `s`.
    pub fn is(&self, s: &str) -> bool {
        matches!(self.kind, Kind::Ident | Kind::Punct) && self.text == s
    }

    /// Whether this is one of the three arrows.
    pub fn is_arrow(&self) -> bool {
        self.is("->") || self.is("<-") || self.is("<->")
    }

    /// Whether this ends an operand: a name, a literal or a closing parenthesis.
    pub fn ends_operand(&self) -> bool {
        match self.kind {
            Kind::Ident => !OPERATOR_WORDS.contains(&self.text),
            Kind::Str | Kind::Number | Kind::Date => true,
            Kind::Punct => self.text == ")",
            Kind::Comment => false,
        }
    }
}

/// Words that join or start operands rather than being one.
const OPERATOR_WORDS: [&str; 6] = ["and", "or", "not", "if", "then", "else"];

/// Punctuation, longest first so that `<->` is not read as `<` `-` `>`.
const PUNCT: [&str; 10] = ["<->", "->", "<-", "=>", "==", "!=", "<=", ">=", "??", "//"];

/// Splits a text into tokens.
pub fn lex(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text.as_bytes()[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let (kind, end) = token_at(text, i);
        out.push(Token {
            kind,
            text: &text[i..end],
            start: i,
            end,
        });
        i = end;
    }
    out
}

/// The kind and end of the token that starts at `i`, which is not whitespace.
fn token_at(text: &str, i: usize) -> (Kind, usize) {
    let bytes = text.as_bytes();
    let c = bytes[i];
    let rest = &text[i..];
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if rest.starts_with("//") {
        (Kind::Comment, rest.find('\n').map_or(text.len(), |n| i + n))
    } else if rest.starts_with("/*") {
        let end = text[i + 2..]
            .find("*/")
            .map_or(text.len(), |n| i + 2 + n + 2);
        (Kind::Comment, end)
    } else if c == b'"' {
        (Kind::Str, string_end(bytes, i))
    } else if c == b'`' {
        (Kind::Ident, quoted_ident_end(bytes, i))
    } else if c.is_ascii_alphabetic() || c == b'_' {
        (Kind::Ident, scan(bytes, i, word))
    } else if c.is_ascii_digit() {
        (Kind::Number, scan(bytes, i, |b| word(b) || b == b'.'))
    } else if c == b'@' {
        let date = |b: u8| b.is_ascii_alphanumeric() || b":.+-".contains(&b);
        (Kind::Date, scan(bytes, i + 1, date))
    } else if let Some(p) = PUNCT.iter().find(|p| rest.starts_with(**p)) {
        (Kind::Punct, i + p.len())
    } else {
        (
            Kind::Punct,
            i + rest.chars().next().map_or(1, char::len_utf8),
        )
    }
}

/// The first position from `i` whose byte does not satisfy `ok`.
fn scan(bytes: &[u8], mut i: usize, ok: impl Fn(u8) -> bool) -> usize {
    while i < bytes.len() && ok(bytes[i]) {
        i += 1;
    }
    i
}

/// The end of a string starting at `i`: after its closing quote, or at the end of the line
/// when it is still being typed. Escaped quotes do not close it.
fn string_end(bytes: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
        i += if bytes[i] == b'\\' && i + 1 < bytes.len() && bytes[i + 1] != b'\n' {
            2
        } else {
            1
        };
    }
    if i < bytes.len() && bytes[i] == b'"' {
        i += 1;
    }
    i
}

/// The end of a `` `quoted` `` name starting at `i`, or of its line when it is not closed.
fn quoted_ident_end(bytes: &[u8], i: usize) -> usize {
    let end = scan(bytes, i + 1, |b| b != b'`' && b != b'\n');
    if end < bytes.len() && bytes[end] == b'`' {
        end + 1
    } else {
        end
    }
}

/// Whether the token stands in the first column of its line.
pub fn in_first_column(text: &str, t: &Token<'_>) -> bool {
    t.start == 0 || text.as_bytes().get(t.start - 1) == Some(&b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows_strings_and_comments() {
        let text = "a <-> `b c` // x\n\"s\\\"t\" -> @2024-01-01 30m <- \"open";
        let toks: Vec<(Kind, &str)> = lex(text).iter().map(|t| (t.kind, t.text)).collect();
        assert_eq!(
            toks,
            vec![
                (Kind::Ident, "a"),
                (Kind::Punct, "<->"),
                (Kind::Ident, "`b c`"),
                (Kind::Comment, "// x"),
                (Kind::Str, "\"s\\\"t\""),
                (Kind::Punct, "->"),
                (Kind::Date, "@2024-01-01"),
                (Kind::Number, "30m"),
                (Kind::Punct, "<-"),
                (Kind::Str, "\"open"),
            ]
        );
        assert_eq!(lex(text)[2].name(), Some("b c"));
    }
}
