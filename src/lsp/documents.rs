//! The buffers the editor has open: their text as typed (saved or not), kept in step with
//! `didChange` edits. The compiler reads these instead of the files on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lsp_types::{TextDocumentContentChangeEvent, Uri};

use super::convert::{self, Encoding, LineIndex};

/// One open buffer.
#[derive(Debug, Clone)]
pub struct Document {
    /// Its path, for `file:` URIs.
    pub path: Option<PathBuf>,
    /// The text as the editor has it.
    pub text: String,
    /// The editor's version number, echoed in diagnostics.
    pub version: i32,
    /// Line starts of `text`.
    pub index: LineIndex,
}

impl Document {
    /// A buffer as opened.
    pub fn new(uri: &Uri, text: String, version: i32) -> Self {
        Document {
            path: convert::path_of(uri),
            index: LineIndex::new(&text),
            text,
            version,
        }
    }

    /// Applies the edits of one `didChange`, in order: each range is relative to the text left by
    /// the edits before it.
    pub fn apply(&mut self, changes: Vec<TextDocumentContentChangeEvent>, enc: Encoding) {
        for change in changes {
            match change.range {
                Some(range) => {
                    let start = self.index.offset(&self.text, range.start, enc);
                    let end = self.index.offset(&self.text, range.end, enc).max(start);
                    self.text.replace_range(start..end, &change.text);
                }
                None => self.text = change.text,
            }
            self.index = LineIndex::new(&self.text);
        }
    }
}

/// Every open buffer, by URI.
#[derive(Debug, Default)]
pub struct Documents {
    docs: HashMap<Uri, Document>,
}

impl Documents {
    /// Opens (or reopens) a buffer.
    pub fn open(&mut self, uri: Uri, text: String, version: i32) {
        let doc = Document::new(&uri, text, version);
        self.docs.insert(uri, doc);
    }

    /// Closes a buffer; its file is read from disk again.
    pub fn close(&mut self, uri: &Uri) -> Option<Document> {
        self.docs.remove(uri)
    }

    /// The buffer of a URI.
    pub fn get(&self, uri: &Uri) -> Option<&Document> {
        self.docs.get(uri)
    }

    /// The buffer of a URI, to edit.
    pub fn get_mut(&mut self, uri: &Uri) -> Option<&mut Document> {
        self.docs.get_mut(uri)
    }

    /// The URI and buffer open for a path, if any.
    pub fn by_path(&self, path: &Path) -> Option<(&Uri, &Document)> {
        self.docs
            .iter()
            .find(|(_, d)| d.path.as_deref() == Some(path))
    }

    /// Every open buffer that is a file.
    pub fn files(&self) -> impl Iterator<Item = (&Uri, &Document, &Path)> {
        self.docs
            .iter()
            .filter_map(|(u, d)| d.path.as_deref().map(|p| (u, d, p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_types::{Position, Range};
    use std::str::FromStr;

    #[test]
    fn incremental_edits_apply_in_order() {
        let uri = Uri::from_str("file:///a.map").unwrap();
        let mut doc = Document::new(&uri, "ab\ncé d\n".into(), 1);
        let edit = |l1, c1, l2, c2, t: &str| TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(l1, c1), Position::new(l2, c2))),
            range_length: None,
            text: t.into(),
        };
        // Replace `d` (after the two-byte é), then insert at the start of the first line.
        doc.apply(
            vec![edit(1, 3, 1, 4, "XY"), edit(0, 0, 0, 0, "// ")],
            Encoding::Utf16,
        );
        assert_eq!(doc.text, "// ab\ncé XY\n");
        assert_eq!(doc.path.as_deref(), Some(Path::new("/a.map")));
    }
}
