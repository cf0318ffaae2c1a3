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
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if text[i..].starts_with("//") {
            i = text[i..].find('\n').map_or(text.len(), |n| i + n);
            Kind::Comment
        } else if text[i..].starts_with("/*") {
            i = text[i + 2..]
                .find("*/")
                .map_or(text.len(), |n| i + 2 + n + 2);
            Kind::Comment
        } else if c == b'"' {
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
            Kind::Str
        } else if c == b'`' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'`' && bytes[i] != b'\n' {
                i += 1;
            }
            if i < bytes.len() && bytes[i] == b'`' {
                i += 1;
            }
            Kind::Ident
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            Kind::Ident
        } else if c.is_ascii_digit() {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
            {
                i += 1;
            }
            Kind::Number
        } else if c == b'@' {
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || b":.+-".contains(&bytes[i]))
            {
                i += 1;
            }
            Kind::Date
        } else if let Some(p) = PUNCT.iter().find(|p| text[i..].starts_with(**p)) {
            i += p.len();
            Kind::Punct
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            Kind::Punct
        };
        out.push(Token {
            kind,
            text: &text[start..i],
            start,
            end: i,
        });
    }
    out
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
