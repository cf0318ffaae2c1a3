//! Comments are silent in the grammar; the formatter needs them back. This scanner finds them in
//! the raw text, skipping over strings and backtick names so `"//"` is not a comment.

use super::ast::Span;

/// One comment as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// The comment text including `//` or `/* */`, without the line break.
    pub text: String,
    /// Where it stands.
    pub span: Span,
    /// Whether code stands before it on the same line (a trailing comment).
    pub trailing: bool,
}

/// Every comment of a source text, in order.
pub fn comments(text: &str) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut code_on_line = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                code_on_line = false;
                i += 1;
            }
            b'"' => {
                code_on_line = true;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'`' => {
                code_on_line = true;
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' && bytes[i] != b'\n' {
                    i += 1;
                }
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                let body = text[i..end].trim_end();
                out.push(Comment {
                    text: body.to_string(),
                    span: Span::new(i, i + body.len()),
                    trailing: code_on_line,
                });
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..]
                    .find("*/")
                    .map_or(text.len(), |n| i + 2 + n + 2);
                out.push(Comment {
                    text: text[i..end].to_string(),
                    span: Span::new(i, end),
                    trailing: code_on_line,
                });
                i = end;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            _ => {
                code_on_line = true;
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_line_block_and_trailing_comments_but_not_strings() {
        let src = "// head\na -> b // tail\n\"//not\" -> c /* block */\n";
        let found = comments(src);
        let texts: Vec<_> = found
            .iter()
            .map(|c| (c.text.as_str(), c.trailing))
            .collect();
        assert_eq!(
            texts,
            vec![("// head", false), ("// tail", true), ("/* block */", true)]
        );
    }
}
