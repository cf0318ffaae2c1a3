//! Go to definition: table mappings, value maps, functions and systems to their declarations,
//! imports to the imported file, a schema path to the snapshot, and tables and columns to their
//! entries in the snapshot.

use std::path::{Path, PathBuf};

use crate::plan::Side;
use crate::project;
use crate::source::FileId;
use crate::syntax::ast::{self, Span};

use super::hover::side_ref;
use super::workspace::Analysis;
use crate::check::locate::{self, Target};

/// Where a definition is: a span of a source of the analysis, or the start of a file that is not
/// one (an import that could not be read).
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    /// A span in a source the analysis read.
    Source(FileId, Span),
    /// The start of a file.
    File(PathBuf),
}

/// The definition of the name at an offset.
pub fn definition(analysis: &Analysis, file: FileId, offset: usize) -> Option<Place> {
    let map_file = analysis.project.files.iter().find(|f| f.id == file)?;
    // One arm per kind of name under the cursor; the longer ones resolve in a function.
    match locate::at(&map_file.ast, offset)? {
        Target::Mapping(name) => {
            let (f, t) = analysis.table(&name.name)?;
            Some(Place::Source(f, t.name.span))
        }
        Target::ValueMap(name) => analysis.items().find_map(|(f, i)| match i {
            ast::Item::ValueMap(m) if m.name.name == name.name => {
                Some(Place::Source(f, m.name.span))
            }
            _ => None,
        }),
        Target::Call(name) => function(analysis, &name.name),
        Target::FunctionDecl(f) => function(analysis, &f.name.name),
        Target::Param { func, name, .. } => {
            let p = func.params.iter().find(|p| p.name.name == name)?;
            Some(Place::Source(file, p.name.span))
        }
        Target::System(name) => system(analysis, &name.name),
        Target::Side { mapping, name } => side(analysis, mapping, &name.name),
        Target::Import(path) => Some(Place::File(beside(analysis, file, &path.value)?)),
        Target::SchemaPath(path) => schema_file(analysis, file, &path.value),
        Target::SchemaTable { system, table } => {
            schema_entry(analysis, &system.name, &table.name, None)
        }
        Target::Column {
            mapping,
            side,
            name,
            ..
        } => column(analysis, mapping, side, name),
        Target::RecordField {
            mapping,
            side,
            name,
        } => {
            let (_, t) = analysis.table(mapping)?;
            let side = locate::side_named(t, &side.name)?;
            column(analysis, mapping, side, &name.name)
        }
        Target::ViaColumn { mapping, column: c } => [Side::Left, Side::Right]
            .into_iter()
            .find_map(|side| column(analysis, &mapping.name, side, &c.name)),
    }
}

/// A side of a table mapping: the system, when named by its alias, or else the `system.table`
/// reference of that side.
fn side(analysis: &Analysis, mapping: &str, name: &str) -> Option<Place> {
    let (f, t) = analysis.table(mapping)?;
    let side = locate::side_named(t, name)?;
    let r = side_ref(t, side);
    if name == r.system.name {
        system(analysis, name)
    } else {
        Some(Place::Source(f, r.span))
    }
}

/// A schema snapshot's path: the snapshot as a source of the analysis when it was read, or
/// else the file.
fn schema_file(analysis: &Analysis, file: FileId, written: &str) -> Option<Place> {
    let target = beside(analysis, file, written)?;
    let id = analysis
        .project
        .sources
        .iter()
        .find(|(id, _)| analysis.path(*id).as_deref() == Some(target.as_path()))
        .map(|(id, _)| id);
    Some(match id {
        Some(id) => Place::Source(id, Span::new(0, 0)),
        None => Place::File(target),
    })
}

/// A path written in a file, relative to that file's folder.
fn beside(analysis: &Analysis, file: FileId, written: &str) -> Option<PathBuf> {
    let path = analysis.path(file)?;
    let dir = path.parent().unwrap_or(Path::new(""));
    Some(project::normalize(&dir.join(written)))
}

fn function(analysis: &Analysis, name: &str) -> Option<Place> {
    analysis.items().find_map(|(f, i)| match i {
        ast::Item::Function(func) if func.name.name == name => {
            Some(Place::Source(f, func.name.span))
        }
        _ => None,
    })
}

fn system(analysis: &Analysis, alias: &str) -> Option<Place> {
    let (f, s) = analysis.system(alias)?;
    Some(Place::Source(f, s.name.span))
}

fn column(analysis: &Analysis, mapping: &str, side: Side, name: &str) -> Option<Place> {
    let (_, t) = analysis.table(mapping)?;
    let r = side_ref(t, side);
    schema_entry(analysis, &r.system.name, &r.table.name, Some(name))
}

/// The name of a table, or of one of its columns, in the system's schema snapshot.
fn schema_entry(
    analysis: &Analysis,
    system: &str,
    table: &str,
    column: Option<&str>,
) -> Option<Place> {
    let loaded = analysis.project.schemas.get(system)?;
    let text = analysis.text(loaded.file);
    let span = json_entry(text, table, column)?;
    Some(Place::Source(loaded.file, span))
}

/// The span of the `"name"` value of a table entry of a snapshot, or of a column entry in it.
/// Serde keeps no positions, so this scans the text: an object whose `"name"` is followed by
/// `"type"` is a column, any other is a table (the layout `schema import` writes).
fn json_entry(text: &str, table: &str, column: Option<&str>) -> Option<Span> {
    let mut in_table = false;
    for (name, span, next_key) in names(text) {
        let is_column = next_key == "type";
        if !is_column {
            if in_table {
                return None; // the next table: the column is not listed
            }
            in_table = name == table;
            if in_table && column.is_none() {
                return Some(span);
            }
        } else if in_table && Some(name) == column {
            return Some(span);
        }
    }
    None
}

/// Every `"name": "value"` of a JSON text: the value, its span, and the key after it.
fn names(text: &str) -> impl Iterator<Item = (&str, Span, &str)> + '_ {
    text.match_indices("\"name\"").filter_map(move |(i, key)| {
        let rest = &text[i + key.len()..];
        let after_colon = rest.trim_start().strip_prefix(':')?.trim_start();
        let value = after_colon.strip_prefix('"')?;
        let end = value.find('"')?;
        let start = text.len() - value.len();
        let tail = value[end + 1..].trim_start();
        let next_key = tail
            .strip_prefix(',')
            .map(str::trim_start)
            .and_then(|t| t.strip_prefix('"'))
            .and_then(|t| t.find('"').map(|e| &t[..e]))
            .unwrap_or("");
        Some((
            &value[..end],
            Span::new(start - 1, start + end + 1),
            next_key,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_entries_are_found_by_table_then_column() {
        let text = r#"{"tables": [
            {"name": "a", "key": "id", "columns": [{"name": "id", "type": "int"}]},
            {"name": "b", "key": "id", "columns": [{"name": "id", "type": "int"}, {"name": "x", "type": "int"}]}
        ]}"#;
        let slice = |s: Span| &text[s.start as usize..s.end as usize];
        let b = json_entry(text, "b", None).unwrap();
        assert_eq!(slice(b), "\"b\"");
        let x = json_entry(text, "b", Some("x")).unwrap();
        assert_eq!(slice(x), "\"x\"");
        assert!(x.start > b.start);
        assert_eq!(json_entry(text, "a", Some("x")), None);
    }
}
