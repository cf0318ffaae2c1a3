//! Completion: what [`context::at`] says may stand at the cursor, filled in from the project —
//! systems, the tables of a schema snapshot, the columns of the side in scope with their types,
//! functions with their signatures, value maps, table mappings, keywords, and option labels inside
//! strings.

use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionTextEdit, Documentation, MarkupContent,
    MarkupKind, Range, TextEdit,
};

use crate::check::types::Ty;
use crate::functions::BUILTINS;
use crate::plan::Side;
use crate::plan::SystemKind;
use crate::schema::{ColumnType, TableSchema};
use crate::syntax::ast;
use crate::syntax::format;

use super::context::{self, Context, Header};
use super::convert::{Encoding, LineIndex};
use super::hover;
use super::workspace::Analysis;

/// Where completion happens: the buffer's text, with the project checked last, if any.
pub struct Request<'a> {
    /// The buffer as typed.
    pub text: &'a str,
    /// The cursor, a byte offset.
    pub offset: usize,
    /// The buffer's line index.
    pub index: &'a LineIndex,
    /// The client's position encoding.
    pub encoding: Encoding,
    /// The last check of the buffer's project.
    pub analysis: Option<&'a Analysis>,
}

/// The completion items at the cursor, in the order they are best offered.
pub fn complete(req: &Request<'_>) -> Vec<CompletionItem> {
    let local = context::headers(req.text);
    let lookup = |name: &str| {
        local.iter().find(|h| h.name == name).cloned().or_else(|| {
            req.analysis
                .and_then(|a| a.table(name))
                .map(|(_, t)| header_of(t))
        })
    };
    let ctx = context::at(req.text, req.offset, &lookup);
    let mut out = Items::default();
    // One arm per kind of place the cursor can be; the longer ones fill in through a function.
    match ctx {
        Context::Nothing => {}
        Context::Items => out.keywords(&context::ITEMS),
        Context::Kinds => out.keywords(&SystemKind::ALL.map(SystemKind::as_str)),
        Context::Settings => out.keywords(&["schema", "time_zone", "modified_on"]),
        Context::Systems => systems(req.analysis, &mut out),
        Context::Tables { system } => tables(req.analysis, &system, &mut out),
        Context::Columns {
            header,
            side,
            functions,
            keywords,
        } => {
            if let Some(t) = schema_table(req.analysis, &header, side) {
                columns(t, &mut out);
            }
            if functions {
                self::functions(req.analysis, &mut out);
            }
            out.keywords(keywords);
        }
        Context::ViaColumns { mapping } => {
            if let Some(h) = lookup(&mapping) {
                for side in [Side::Left, Side::Right] {
                    if let Some(t) = schema_table(req.analysis, &h, side) {
                        columns(t, &mut out);
                    }
                }
            }
        }
        Context::Sides { header, keywords } => sides(&header, keywords, &mut out),
        Context::Mappings { exclude, keywords } => {
            mappings(req.analysis, &local, exclude.as_deref(), &mut out);
            out.keywords(keywords);
        }
        Context::ValueMaps => value_maps(req.analysis, &mut out),
        Context::Keywords(k) => out.keywords(k),
        Context::FunctionBody { params } => function_body(req.analysis, params, &mut out),
        Context::Types => out.keywords(&Ty::NAMES),
        Context::Labels {
            header,
            side,
            column,
            replace,
        } => labels(req, &header, side, &column, replace, &mut out),
    }
    out.0
}

/// Inside a function body: its parameters, the functions, and what may start an operand.
fn function_body(analysis: Option<&Analysis>, params: Vec<(String, String)>, out: &mut Items) {
    for (name, ty) in params {
        out.push(
            format::ident(&name),
            CompletionItemKind::VARIABLE,
            Some(ty),
            None,
        );
    }
    functions(analysis, out);
    out.keywords(context::OPERAND);
}

/// The tables of a system's schema snapshot.
fn tables(analysis: Option<&Analysis>, system: &str, out: &mut Items) {
    let Some(loaded) = analysis.and_then(|a| a.project.schemas.get(system)) else {
        return;
    };
    for t in &loaded.schema.tables {
        out.push(
            format::ident(&t.name),
            CompletionItemKind::STRUCT,
            Some(format!("{} columns, key {}", t.columns.len(), t.key)),
            None,
        );
    }
}

/// The sides of a table mapping: their aliases, or `left` and `right` when both are one system.
fn sides(header: &Header, keywords: &[&str], out: &mut Items) {
    let (l, r) = (&header.left.0, &header.right.0);
    if l == r {
        out.keywords(&["left", "right"]);
    } else {
        for (alias, (sys, table)) in [(l, &header.left), (r, &header.right)] {
            out.push(
                format::ident(alias),
                CompletionItemKind::MODULE,
                Some(format!("{sys}.{table}")),
                None,
            );
        }
    }
    out.keywords(keywords);
}

/// The table mappings of the buffer and of the project, but `exclude` (the one being written).
fn mappings(analysis: Option<&Analysis>, local: &[Header], exclude: Option<&str>, out: &mut Items) {
    let mut names: Vec<Header> = local.to_vec();
    if let Some(a) = analysis {
        for (_, item) in a.items() {
            if let ast::Item::Table(t) = item {
                if !names.iter().any(|h| h.name == t.name.name) {
                    names.push(header_of(t));
                }
            }
        }
    }
    for h in names.iter().filter(|h| Some(h.name.as_str()) != exclude) {
        out.push(
            format::ident(&h.name),
            CompletionItemKind::CLASS,
            Some(format!(
                "{}.{} {} {}.{}",
                h.left.0,
                h.left.1,
                h.direction.arrow(),
                h.right.0,
                h.right.1
            )),
            None,
        );
    }
}

/// The project's value maps, with their doc comments.
fn value_maps(analysis: Option<&Analysis>, out: &mut Items) {
    for (file, item) in analysis.into_iter().flat_map(Analysis::items) {
        if let ast::Item::ValueMap(m) = item {
            let doc = analysis.map(|a| hover::doc_comment(a.text(file), m.span.start as usize));
            out.push(
                format::ident(&m.name.name),
                CompletionItemKind::ENUM,
                Some(format!("value map, {} arms", m.body.arms.len())),
                doc.filter(|d| !d.is_empty()),
            );
        }
    }
}

/// The labels of an option set or the members of an enum, inside the string being typed: each
/// replaces what is between the quotes.
fn labels(
    req: &Request<'_>,
    header: &Header,
    side: Side,
    column: &str,
    replace: (usize, usize),
    out: &mut Items,
) {
    let range = Range::new(
        req.index.position(req.text, replace.0, req.encoding),
        req.index.position(req.text, replace.1, req.encoding),
    );
    let values: Vec<(String, String)> = schema_table(req.analysis, header, side)
        .and_then(|t| t.column(column))
        .map(|c| match &c.ty {
            ColumnType::Option { options } => options
                .iter()
                .map(|o| (o.label.clone(), format!("{} = {}", o.label, o.value)))
                .collect(),
            ColumnType::Enum { members } => members
                .iter()
                .map(|m| (m.clone(), format!("member of `{column}`")))
                .collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default();
    for (label, detail) in values {
        // Escapes as the formatter writes them; the quotes are already there.
        let quoted = format::string(&label);
        let inner = quoted[1..quoted.len() - 1].to_string();
        let mut item = out.item(label, CompletionItemKind::ENUM_MEMBER, Some(detail), None);
        item.text_edit = Some(CompletionTextEdit::Edit(TextEdit::new(range, inner)));
        out.0.push(item);
    }
}

/// The header of a parsed table mapping.
fn header_of(t: &ast::Table) -> Header {
    Header {
        name: t.name.name.clone(),
        left: (t.left.system.name.clone(), t.left.table.name.clone()),
        right: (t.right.system.name.clone(), t.right.table.name.clone()),
        direction: t.arrow.dir,
    }
}

fn schema_table<'a>(
    analysis: Option<&'a Analysis>,
    header: &Header,
    side: Side,
) -> Option<&'a TableSchema> {
    let (system, table) = header.side(side);
    analysis?.schema_table(system, table)
}

fn systems(analysis: Option<&Analysis>, out: &mut Items) {
    for (_, item) in analysis.into_iter().flat_map(Analysis::items) {
        if let ast::Item::System(s) = item {
            out.push(
                format::ident(&s.name.name),
                CompletionItemKind::MODULE,
                Some(s.kind.name.clone()),
                None,
            );
        }
    }
}

fn columns(t: &TableSchema, out: &mut Items) {
    for c in &t.columns {
        out.push(
            format::ident(&c.name),
            CompletionItemKind::FIELD,
            Some(Ty::of_column(&c.ty).to_string()),
            Some(hover::column_doc(t, c)),
        );
    }
}

fn functions(analysis: Option<&Analysis>, out: &mut Items) {
    for (file, item) in analysis.into_iter().flat_map(Analysis::items) {
        if let ast::Item::Function(f) = item {
            let doc = analysis.map(|a| hover::doc_comment(a.text(file), f.span.start as usize));
            out.push(
                f.name.name.clone(),
                CompletionItemKind::FUNCTION,
                Some(hover::function_signature(f)),
                doc.filter(|d| !d.is_empty()),
            );
        }
    }
    for b in BUILTINS {
        out.push(
            b.name.to_string(),
            CompletionItemKind::FUNCTION,
            Some(b.signature()),
            Some(b.doc.to_string()),
        );
    }
}

/// Items in the order they are added: editors sort by `sort_text`, so it records that order.
#[derive(Default)]
struct Items(Vec<CompletionItem>);

impl Items {
    fn item(
        &self,
        label: String,
        kind: CompletionItemKind,
        detail: Option<String>,
        doc: Option<String>,
    ) -> CompletionItem {
        CompletionItem {
            label,
            kind: Some(kind),
            detail,
            documentation: doc.map(|d| {
                Documentation::MarkupContent(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: d,
                })
            }),
            sort_text: Some(format!("{:04}", self.0.len())),
            ..CompletionItem::default()
        }
    }

    fn push(
        &mut self,
        label: String,
        kind: CompletionItemKind,
        detail: Option<String>,
        doc: Option<String>,
    ) {
        if self.0.iter().any(|i| i.label == label) {
            return; // a column on both sides of a `via`, a function shadowing nothing
        }
        let item = self.item(label, kind, detail, doc);
        self.0.push(item);
    }

    fn keywords(&mut self, words: &[&str]) {
        for w in words {
            self.push(w.to_string(), CompletionItemKind::KEYWORD, None, None);
        }
    }
}
