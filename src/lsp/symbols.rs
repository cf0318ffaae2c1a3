//! The outline of a file: systems, table mappings with their field mappings as children, value
//! maps, functions, jobs and tests.

use lsp_types::{DocumentSymbol, SymbolKind};

use crate::syntax::ast::{self, Item, Span, TableItem};
use crate::syntax::format;

use super::convert::{Encoding, LineIndex};
use super::hover::{function_signature, mapping_signature};

/// The outline of a parsed file (items that did not parse are left out).
pub fn symbols(
    text: &str,
    file: &ast::File,
    index: &LineIndex,
    enc: Encoding,
) -> Vec<DocumentSymbol> {
    let outline = Outline { text, index, enc };
    file.items.iter().filter_map(|i| outline.item(i)).collect()
}

/// The buffer symbols are made for, and how its positions are counted.
struct Outline<'a> {
    text: &'a str,
    index: &'a LineIndex,
    enc: Encoding,
}

impl Outline<'_> {
    /// A symbol without children.
    fn sym(
        &self,
        name: String,
        detail: Option<String>,
        kind: SymbolKind,
        span: Span,
        name_span: Span,
    ) -> DocumentSymbol {
        #[allow(deprecated)] // `deprecated` is a required field of the struct
        DocumentSymbol {
            name,
            detail,
            kind,
            tags: None,
            deprecated: None,
            range: self.index.range(self.text, span, self.enc),
            selection_range: self.index.range(self.text, name_span, self.enc),
            children: None,
        }
    }

    /// The source text of a span, as written.
    fn slice(&self, s: Span) -> &str {
        self.text
            .get(s.start as usize..s.end as usize)
            .unwrap_or("")
    }

    fn item(&self, item: &Item) -> Option<DocumentSymbol> {
        Some(match item {
            Item::Import(_) => return None,
            Item::System(s) => self.sym(
                s.name.name.clone(),
                Some(s.kind.name.clone()),
                SymbolKind::MODULE,
                s.span,
                s.name.span,
            ),
            Item::Table(t) => self.table(t),
            Item::ValueMap(m) => self.sym(
                m.name.name.clone(),
                Some(format!("{} arms", m.body.arms.len())),
                SymbolKind::ENUM,
                m.span,
                m.name.span,
            ),
            Item::Function(f) => self.sym(
                f.name.name.clone(),
                Some(function_signature(f)),
                SymbolKind::FUNCTION,
                f.span,
                f.name.span,
            ),
            Item::Job(j) => self.sym(
                j.name.name.clone(),
                Some(job_detail(j)),
                SymbolKind::EVENT,
                j.span,
                j.name.span,
            ),
            Item::Test(t) => self.sym(
                t.description
                    .as_ref()
                    .map_or_else(|| format!("test {}", t.table.name), |d| d.value.clone()),
                Some(format!("test of {}", t.table.name)),
                SymbolKind::METHOD,
                t.span,
                t.description.as_ref().map_or(t.table.span, |d| d.span),
            ),
        })
    }

    /// A table mapping, with its field mappings as children.
    fn table(&self, t: &ast::Table) -> DocumentSymbol {
        let fields: Vec<DocumentSymbol> = t
            .items
            .iter()
            .filter_map(|i| match i {
                TableItem::Field(f) => Some(self.sym(
                    format!(
                        "{} {} {}",
                        self.slice(f.left.span),
                        f.arrow.dir.arrow(),
                        self.slice(f.right.span)
                    ),
                    None,
                    SymbolKind::FIELD,
                    f.span,
                    f.left.span.to(f.right.span),
                )),
                _ => None,
            })
            .collect();
        let mut s = self.sym(
            format::ident(&t.name.name),
            Some(mapping_signature(t)),
            SymbolKind::CLASS,
            t.span,
            t.name.span,
        );
        s.children = Some(fields);
        s
    }
}

fn job_detail(j: &ast::Job) -> String {
    let mode = match j.mode {
        ast::SyncMode::Full => "full",
        ast::SyncMode::Modified => "modified",
    };
    let mut s = format!("sync {mode}");
    if !j.tables.is_empty() {
        let names: Vec<&str> = j.tables.iter().map(|t| t.name.as_str()).collect();
        s.push(' ');
        s.push_str(&names.join(", "));
    }
    if let Some(e) = j.every {
        s.push_str(&format!(" every {}", format::duration(e.seconds)));
    }
    s
}
