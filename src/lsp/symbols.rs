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
    let sym = |name: String, detail: Option<String>, kind, span: Span, name_span: Span| {
        #[allow(deprecated)] // `deprecated` is a required field of the struct
        DocumentSymbol {
            name,
            detail,
            kind,
            tags: None,
            deprecated: None,
            range: index.range(text, span, enc),
            selection_range: index.range(text, name_span, enc),
            children: None,
        }
    };
    let slice = |s: Span| text.get(s.start as usize..s.end as usize).unwrap_or("");
    let mut out = Vec::new();
    for item in &file.items {
        let symbol = match item {
            Item::Import(_) => continue,
            Item::System(s) => sym(
                s.name.name.clone(),
                Some(s.kind.name.clone()),
                SymbolKind::MODULE,
                s.span,
                s.name.span,
            ),
            Item::Table(t) => {
                let fields: Vec<DocumentSymbol> = t
                    .items
                    .iter()
                    .filter_map(|i| match i {
                        TableItem::Field(f) => Some(sym(
                            format!(
                                "{} {} {}",
                                slice(f.left.span),
                                f.arrow.dir.arrow(),
                                slice(f.right.span)
                            ),
                            None,
                            SymbolKind::FIELD,
                            f.span,
                            f.left.span.to(f.right.span),
                        )),
                        _ => None,
                    })
                    .collect();
                let mut s = sym(
                    format::ident(&t.name.name),
                    Some(mapping_signature(t)),
                    SymbolKind::CLASS,
                    t.span,
                    t.name.span,
                );
                s.children = Some(fields);
                s
            }
            Item::ValueMap(m) => sym(
                m.name.name.clone(),
                Some(format!("{} arms", m.body.arms.len())),
                SymbolKind::ENUM,
                m.span,
                m.name.span,
            ),
            Item::Function(f) => sym(
                f.name.name.clone(),
                Some(function_signature(f)),
                SymbolKind::FUNCTION,
                f.span,
                f.name.span,
            ),
            Item::Job(j) => sym(
                j.name.name.clone(),
                Some(job_detail(j)),
                SymbolKind::EVENT,
                j.span,
                j.name.span,
            ),
            Item::Test(t) => sym(
                t.description
                    .as_ref()
                    .map_or_else(|| format!("test {}", t.table.name), |d| d.value.clone()),
                Some(format!("test of {}", t.table.name)),
                SymbolKind::METHOD,
                t.span,
                t.description.as_ref().map_or(t.table.span, |d| d.span),
            ),
        };
        out.push(symbol);
    }
    out
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
