//! Find references and rename for the names a project declares: table mappings, value maps,
//! user functions and systems. Every name of every `.map` file of the analysis is read with the
//! walk go-to-definition uses, so a reference is whatever that walk resolves to the same
//! declaration — `via currencies.code`, `after currencies`, `sync currencies`, `couple
//! currencies …` and `test currencies …` alike; for a system, `bc.customers`, `filter bc:`,
//! `given bc` and `prefer bc` too.

use std::collections::HashMap;

use lsp_types::{Location, TextEdit, Uri, WorkspaceEdit};

use crate::check::locate::{self, Target};
use crate::source::FileId;
use crate::syntax::ast::{self, Span};

use super::tokens::{self, Kind as TokenKind};
use super::workspace::Analysis;

/// What kind of declaration a name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A table mapping.
    Mapping,
    /// A value map.
    ValueMap,
    /// A user function.
    Function,
    /// A system alias.
    System,
}

/// A declared name: its kind and the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// What it names.
    pub kind: Kind,
    /// The name.
    pub name: String,
}

/// The declared name at `offset` of `file`, if the name there is one a project declares (a
/// built-in function is not).
pub fn symbol_at(analysis: &Analysis, file: FileId, offset: usize) -> Option<Symbol> {
    let map_file = analysis.project.files.iter().find(|f| f.id == file)?;
    let target = locate::at(&map_file.ast, offset)?;
    symbol_of(analysis, &target)
}

fn symbol_of(analysis: &Analysis, target: &Target<'_>) -> Option<Symbol> {
    let (kind, name) = match target {
        Target::Mapping(i) => (Kind::Mapping, i.name.as_str()),
        Target::ValueMap(i) => (Kind::ValueMap, i.name.as_str()),
        Target::FunctionDecl(f) => (Kind::Function, f.name.name.as_str()),
        Target::Call(i) if is_user_function(analysis, &i.name) => (Kind::Function, i.name.as_str()),
        Target::System(i) => (Kind::System, i.name.as_str()),
        // A side named by its system's alias (`filter bc:`), not by `left`/`right`.
        Target::Side { name, .. } if analysis.system(&name.name).is_some() => {
            (Kind::System, name.name.as_str())
        }
        _ => return None,
    };
    Some(Symbol {
        kind,
        name: name.to_string(),
    })
}

fn is_user_function(analysis: &Analysis, name: &str) -> bool {
    analysis
        .items()
        .any(|(_, i)| matches!(i, ast::Item::Function(f) if f.name.name == name))
}

/// Every place the symbol is written, its declaration included, by file, in order.
pub fn occurrences(analysis: &Analysis, symbol: &Symbol) -> Vec<(FileId, Span)> {
    let mut out = Vec::new();
    for map_file in &analysis.project.files {
        let text = analysis.text(map_file.id);
        for token in tokens::lex(text) {
            if token.kind != TokenKind::Ident || token.name() != Some(symbol.name.as_str()) {
                continue;
            }
            let Some(target) = locate::at(&map_file.ast, token.start) else {
                continue;
            };
            let span = target.span();
            let same_place = span.start as usize == token.start && span.end as usize == token.end;
            if same_place && symbol_of(analysis, &target).as_ref() == Some(symbol) {
                out.push((map_file.id, span));
            }
        }
    }
    out
}

/// Where the symbol is declared.
pub fn declaration(analysis: &Analysis, symbol: &Symbol) -> Option<(FileId, Span)> {
    let name = symbol.name.as_str();
    analysis.items().find_map(|(f, item)| {
        let declared = match (symbol.kind, item) {
            (Kind::Mapping, ast::Item::Table(t)) => &t.name,
            (Kind::ValueMap, ast::Item::ValueMap(m)) => &m.name,
            (Kind::Function, ast::Item::Function(func)) => &func.name,
            (Kind::System, ast::Item::System(s)) => &s.name,
            _ => return None,
        };
        (declared.name == name).then_some((f, declared.span))
    })
}

/// Why renaming the symbol to `new_name` is refused, if it is. A table mapping's couplings and
/// watermarks are kept in the state store under its name, and a system's connection in the
/// profile under its alias: renamed in the files alone, the next run would meet every record
/// as new. A name must also be one the files can hold and not already taken.
pub fn rename_refused(analysis: &Analysis, symbol: &Symbol, new_name: &str) -> Option<String> {
    let taken = Symbol {
        kind: symbol.kind,
        name: new_name.to_string(),
    };
    let builtin = crate::functions::BUILTINS
        .iter()
        .any(|b| b.name == new_name);
    match symbol.kind {
        Kind::Mapping => Some("a table mapping's couplings are kept in the state store under its name: renamed here, the next run would sync every record as new; rename it by hand, with its state".into()),
        Kind::System => Some("a system's connection is kept in the profile under its alias (`[systems.NAME]`), and its couplings in the state store: rename it by hand".into()),
        _ if new_name.is_empty() || new_name.contains(['`', '\n', '\r']) => {
            Some(format!("`{new_name}` cannot be written as a name"))
        }
        _ if declaration(analysis, &taken).is_some() || (symbol.kind == Kind::Function && builtin) => {
            Some(format!("`{new_name}` is taken"))
        }
        _ => None,
    }
}

/// The edits that rename the symbol everywhere it is written, the new name written as the
/// formatter writes names; why not, when renaming it is refused; `None` when a place cannot be
/// shown to the client.
#[allow(clippy::mutable_key_type)] // the protocol's own map: `WorkspaceEdit` keys by `Uri`
pub fn rename(
    analysis: &Analysis,
    symbol: &Symbol,
    new_name: &str,
    location: impl Fn(FileId, Span) -> Option<Location>,
) -> Result<Option<WorkspaceEdit>, String> {
    if let Some(why) = rename_refused(analysis, symbol, new_name) {
        return Err(why);
    }
    let written = crate::syntax::format::ident(new_name);
    let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
    for (id, span) in occurrences(analysis, symbol) {
        let Some(place) = location(id, span) else {
            return Ok(None);
        };
        let edit = TextEdit::new(place.range, written.clone());
        changes.entry(place.uri).or_default().push(edit);
    }
    Ok(Some(WorkspaceEdit {
        changes: Some(changes),
        ..WorkspaceEdit::default()
    }))
}
