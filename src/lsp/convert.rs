//! Conversions between the compiler's world (byte offsets, paths, [`Diagnostic`]s) and the
//! protocol's (line/character positions in UTF-16 or UTF-8 code units, `file:` URIs).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use lsp_types::{
    DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Position, Range,
    Uri,
};

use crate::diagnostics::{Diagnostic, Severity};
use crate::syntax::ast::Span;

/// The unit in which positions count characters within a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 code units (bytes): what the compiler uses, offered by some clients.
    Utf8,
    /// UTF-16 code units: the protocol's default, and all VS Code speaks.
    Utf16,
}

/// Where each line of a text starts, to turn byte offsets into positions and back.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes a text.
    pub fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { starts }
    }

    /// The position of a byte offset. Offsets past the end or inside a character are moved back
    /// to the nearest character boundary.
    pub fn position(&self, text: &str, offset: usize, enc: Encoding) -> Position {
        let offset = floor_boundary(text, offset);
        let line = match self.starts.binary_search(&offset) {
            Ok(l) => l,
            Err(l) => l.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0).min(offset);
        let before = text.get(start..offset).unwrap_or("");
        let character = match enc {
            Encoding::Utf8 => before.len(),
            Encoding::Utf16 => before.chars().map(char::len_utf16).sum(),
        };
        Position::new(line as u32, character as u32)
    }

    /// The byte offset of a position. A line past the end gives the end of the text; a character
    /// past the end of its line gives the end of the line (before its line break), as the
    /// protocol asks.
    pub fn offset(&self, text: &str, pos: Position, enc: Encoding) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return text.len();
        };
        let end = self
            .starts
            .get(pos.line as usize + 1)
            .map_or(text.len(), |&next| next - 1);
        let line = text.get(start..end).unwrap_or("");
        let line = line.strip_suffix('\r').unwrap_or(line);
        let want = pos.character as usize;
        match enc {
            Encoding::Utf8 => start + floor_boundary(line, want.min(line.len())),
            Encoding::Utf16 => {
                let mut units = 0;
                for (i, c) in line.char_indices() {
                    if units >= want {
                        return start + i;
                    }
                    units += c.len_utf16();
                }
                start + line.len()
            }
        }
    }

    /// The range of a span.
    pub fn range(&self, text: &str, span: Span, enc: Encoding) -> Range {
        Range::new(
            self.position(text, span.start as usize, enc),
            self.position(text, span.end as usize, enc),
        )
    }
}

/// The greatest character boundary at or before `offset`.
fn floor_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The path of a `file:` URI, or `None` for other schemes (unsaved `untitled:` buffers).
pub fn path_of(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    let slash = rest.find('/')?;
    let (authority, path) = rest.split_at(slash);
    if !authority.is_empty() && authority != "localhost" {
        return None; // a network share: not a path this process can read directly
    }
    let decoded = percent_decode(path)?;
    // `file:///c:/x` names `c:/x` on Windows.
    let decoded = if cfg!(windows) && decoded.get(2..3) == Some(":") {
        decoded[1..].to_string()
    } else {
        decoded
    };
    Some(PathBuf::from(decoded))
}

/// The `file:` URI of an absolute path.
pub fn uri_of(path: &Path) -> Option<Uri> {
    let text = path.to_string_lossy().replace('\\', "/");
    let text = if text.starts_with('/') {
        text
    } else {
        format!("/{text}")
    };
    let mut out = String::from("file://");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&out).ok()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// What [`diagnostic`] needs to know of the files a diagnostic points into.
pub trait FileLocator {
    /// The URI, text and line index of a file of the analysis.
    fn locate(&self, file: crate::source::FileId) -> Option<(Uri, &str, &LineIndex)>;
}

/// A compiler diagnostic as the protocol shows it: the message with the help line under it (so
/// "did you mean …" shows wherever the editor shows messages), the code, and the secondary
/// labels as related information.
pub fn diagnostic(
    d: &Diagnostic,
    files: &dyn FileLocator,
    enc: Encoding,
) -> Option<lsp_types::Diagnostic> {
    let (_, text, index) = files.locate(d.primary.file)?;
    let range = index.range(text, d.primary.span, enc);
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .filter_map(|l| {
            let (uri, text, index) = files.locate(l.file)?;
            Some(DiagnosticRelatedInformation {
                location: Location::new(uri, index.range(text, l.span, enc)),
                message: if l.message.is_empty() {
                    "related".to_string()
                } else {
                    l.message.clone()
                },
            })
        })
        .collect();
    Some(lsp_types::Diagnostic {
        range,
        severity: Some(match d.severity() {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_string())),
        code_description: None,
        source: Some("syncmap".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units_or_bytes() {
        let text = "ab\n\"é𝄞\" x\r\nlast";
        let index = LineIndex::new(text);
        // `x` sits after a quote, é (2 bytes, 1 unit), 𝄞 (4 bytes, 2 units), a quote and a space.
        let x = text.find('x').unwrap();
        assert_eq!(
            index.position(text, x, Encoding::Utf16),
            Position::new(1, 6)
        );
        assert_eq!(index.position(text, x, Encoding::Utf8), Position::new(1, 9));
        assert_eq!(index.offset(text, Position::new(1, 6), Encoding::Utf16), x);
        assert_eq!(index.offset(text, Position::new(1, 9), Encoding::Utf8), x);
        // Past the end of a line: its end, before `\r\n`.
        assert_eq!(
            index.offset(text, Position::new(1, 99), Encoding::Utf16),
            x + 1
        );
        assert_eq!(
            index.offset(text, Position::new(9, 0), Encoding::Utf16),
            text.len()
        );
        assert_eq!(
            index.position(text, text.len(), Encoding::Utf16),
            Position::new(2, 4)
        );
    }

    #[test]
    fn file_uris_round_trip() {
        let path = Path::new("/tmp/my maps/é.map");
        let uri = uri_of(path).unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/my%20maps/%C3%A9.map");
        assert_eq!(path_of(&uri).unwrap(), path);
        let other = Uri::from_str("untitled:Untitled-1").unwrap();
        assert_eq!(path_of(&other), None);
    }
}
