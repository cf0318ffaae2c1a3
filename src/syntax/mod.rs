//! Stage 1: `.map` text → syntax tree with byte spans, and the formatter that prints a tree back
//! as canonical text. Nothing after this stage sees pest's pairs or rules.

pub mod ast;
mod comments;
pub mod format;
mod lower;
mod parser;

use crate::diagnostics::Diagnostics;
use crate::source::FileId;

pub use comments::{comments, Comment};

/// Parses one file. On failure the diagnostics say every problem the parser could find: the
/// first syntax error, or every malformed literal when the structure itself parsed.
pub fn parse(file: FileId, text: &str) -> Result<ast::File, Diagnostics> {
    if text.len() > u32::MAX as usize {
        let mut d = Diagnostics::new();
        d.push(crate::diagnostics::Diagnostic::new(
            crate::diagnostics::Code::E0101,
            file,
            ast::Span::new(0, 0),
            "file is larger than 4 GiB",
        ));
        return Err(d);
    }
    let pairs = parser::parse_file(file, text)?;
    lower::lower_file(file, pairs)
}
