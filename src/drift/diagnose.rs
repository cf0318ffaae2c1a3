//! Drift findings as diagnostics: the primary label on the `.map` text that uses the table or
//! column (where the plan's sources are at hand), a second one on the snapshot entry that
//! describes it, and a help line saying what to do.

use super::{DriftKind, Finding};
use crate::check::locate::{self, Target};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::project::MapFile;
use crate::source::{FileId, SourceMap};
use crate::syntax::ast::{self, Item, Span};

/// Where one system's drift is reported.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The system alias.
    pub system: &'a str,
    /// Every source text: the snapshot and the `.map` files.
    pub sources: &'a SourceMap,
    /// The snapshot the plan was compiled against (or the plan file, lacking one).
    pub snapshot: FileId,
    /// The parsed `.map` files of the plan; empty for a plan file.
    pub maps: &'a [MapFile],
    /// Whether `snapshot` is the plan file standing in for a snapshot that could not be read.
    pub snapshot_is_plan: bool,
}

/// One diagnostic per finding.
pub fn diagnostics(findings: &[Finding], cx: &Context<'_>) -> Diagnostics {
    let mut out = Diagnostics::new();
    for f in findings {
        out.push(diagnostic(f, cx));
    }
    out
}

fn diagnostic(f: &Finding, cx: &Context<'_>) -> Diagnostic {
    let (sys, t) = (cx.system, &f.table);
    let Words {
        message,
        label,
        snap_label,
        help,
    } = words(f, cx);
    let snap_span = snapshot_span(&cx.sources.get(cx.snapshot).text, t, f.column.as_deref());
    let used = match &f.column {
        Some(c) => column_use(cx.sources, cx.maps, sys, t, c),
        None => table_use(cx.maps, sys, t),
    };
    match used {
        Some((file, span)) => Diagnostic::new(f.kind.code(), file, span, message)
            .label(label)
            .with(cx.snapshot, snap_span, snap_label)
            .help(help),
        None => Diagnostic::new(f.kind.code(), cx.snapshot, snap_span, message)
            .label(label)
            .help(help),
    }
}

/// What a finding's diagnostic says: its message, its labels on the use and on the snapshot,
/// and its help.
struct Words {
    message: String,
    label: String,
    snap_label: String,
    help: String,
}

fn words(f: &Finding, cx: &Context<'_>) -> Words {
    let sys = cx.system;
    let t = &f.table;
    let col = f.column.as_deref().unwrap_or_default();
    let what = match &f.column {
        Some(c) => format!("`{c}` of `{sys}.{t}`"),
        None => format!("table `{sys}.{t}`"),
    };
    let refresh = refresh(cx);
    let pull = format!("{refresh} and run `syncmap check`");
    let (message, label, snap_label, help) = match &f.kind {
        DriftKind::TableMissing => (
            format!("{what} does not exist in the live system"),
            "not in the live system".to_string(),
            "the snapshot describes it".to_string(),
            format!("check that the profile points at the right environment and company; if the table was removed or renamed, {pull}"),
        ),
        DriftKind::ColumnMissing => (
            format!("{what} does not exist in the live system"),
            "not in the live system".to_string(),
            "the snapshot describes it".to_string(),
            format!("if the column was removed or renamed, {pull}"),
        ),
        DriftKind::TypeDiffers { snapshot, live } => (
            format!("{what} is `{live}` in the live system, but `{snapshot}` in the snapshot"),
            format!("`{live}` in the live system"),
            format!("`{snapshot}` in the snapshot"),
            format!("values would be read and written as `{snapshot}`: {pull}"),
        ),
        DriftKind::BecameReadOnly => (
            format!("{what} is read-only in the live system, and the plan writes it"),
            "written here, refused by the live system".to_string(),
            "writable in the snapshot".to_string(),
            format!("every write of `{col}` would fail: read it one way only, or {pull}"),
        ),
        DriftKind::MaxLengthShorter { snapshot, live } => (
            format!(
                "{what} takes at most {live} characters in the live system, but {} in the snapshot",
                snapshot.map_or("any number".to_string(), |n| n.to_string())
            ),
            format!("at most {live} characters live"),
            "the snapshot's maximum length".to_string(),
            format!("longer values would be refused: {refresh}, so that `[truncate]` cuts at the live length"),
        ),
        DriftKind::ValueMissing { value } => (
            format!("{what} no longer has `{value}` in the live system"),
            format!("`{value}` is gone"),
            format!("the snapshot lists `{value}`"),
            format!("records with `{value}` would fail to sync: {pull}"),
        ),
    };
    Words {
        message,
        label,
        snap_label,
        help,
    }
}

/// The command that writes the snapshot again, to the file it was read from when there is one.
fn refresh(cx: &Context<'_>) -> String {
    let sys = cx.system;
    let file = cx.sources.get(cx.snapshot).name.as_str();
    let to = if file.ends_with(".json") && !cx.snapshot_is_plan {
        file
    } else {
        "<snapshot>"
    };
    format!("refresh the snapshot with `syncmap schema pull {sys} -o {to}`")
}

/// The `"name": "…"` entries of a JSON text: the value's span and text.
fn names(text: &str) -> Vec<(Span, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("\"name\"") {
        let at = from + i + "\"name\"".len();
        from = at;
        let rest = &text[at..];
        let Some(colon) = rest.find(|c: char| !c.is_whitespace()) else {
            break;
        };
        if !rest[colon..].starts_with(':') {
            continue;
        }
        let after = &rest[colon + 1..];
        let Some(q) = after.find(|c: char| !c.is_whitespace()) else {
            break;
        };
        if !after[q..].starts_with('"') {
            continue;
        }
        let start = at + colon + 1 + q;
        let Some(len) = after[q + 1..].find('"') else {
            break;
        };
        let end = start + len + 2;
        out.push((Span::new(start, end), &text[start + 1..end - 1]));
    }
    out
}

/// The span of a table's name in a snapshot (a `"name"` entry followed by `"key"` and
/// `"columns"` before the next `"name"`), or of a column's name among its columns; the start of
/// the text when neither is found (a plan file).
fn snapshot_span(text: &str, table: &str, column: Option<&str>) -> Span {
    let entries = names(text);
    let is_table = |i: usize| {
        let end = entries
            .get(i + 1)
            .map_or(text.len(), |(s, _)| s.start as usize);
        let between = &text[entries[i].0.end as usize..end];
        between.contains("\"key\"") && between.contains("\"columns\"")
    };
    let Some(pos) = (0..entries.len()).find(|i| entries[*i].1 == table && is_table(*i)) else {
        return Span::new(0, 0);
    };
    let Some(column) = column else {
        return entries[pos].0;
    };
    (pos + 1..entries.len())
        .take_while(|i| !is_table(*i))
        .find(|i| entries[*i].1 == column)
        .map_or(entries[pos].0, |i| entries[i].0)
}

/// The table mapping declared with this name, in any file.
fn mapping<'a>(maps: &'a [MapFile], name: &str) -> Option<&'a ast::Table> {
    maps.iter()
        .flat_map(|m| &m.ast.items)
        .find_map(|i| match i {
            Item::Table(t) if t.name.name == name => Some(t),
            _ => None,
        })
}

/// Whether a table mapping's side is `system.table`.
fn is(t: &ast::Table, side: crate::plan::Side, system: &str, table: &str) -> bool {
    let r = match side {
        crate::plan::Side::Left => &t.left,
        crate::plan::Side::Right => &t.right,
    };
    r.system.name == system && r.table.name == table
}

/// The first place a table mapping names `system.table`.
fn table_use(maps: &[MapFile], system: &str, table: &str) -> Option<(FileId, Span)> {
    maps.iter().find_map(|m| {
        m.ast.items.iter().find_map(|i| match i {
            Item::Table(t) => [&t.left, &t.right]
                .into_iter()
                .find(|r| r.system.name == system && r.table.name == table)
                .map(|r| (m.id, r.span)),
            _ => None,
        })
    })
}

/// The first place a `.map` file uses a column of `system.table`: a field, filter or match
/// rule of a table mapping with that side, or a `via` through such a mapping.
fn column_use(
    sources: &SourceMap,
    maps: &[MapFile],
    system: &str,
    table: &str,
    column: &str,
) -> Option<(FileId, Span)> {
    let sides = [crate::plan::Side::Left, crate::plan::Side::Right];
    for m in maps {
        let text = &sources.get(m.id).text;
        for (offset, _) in text.match_indices(column) {
            let whole = |i: usize| {
                text[..i]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
                    && text[i + column.len()..]
                        .chars()
                        .next()
                        .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            };
            if !whole(offset) {
                continue;
            }
            let found = match locate::at(&m.ast, offset) {
                Some(Target::Column {
                    mapping: name,
                    side,
                    name: c,
                    span,
                }) if c == column => mapping(maps, name)
                    .is_some_and(|t| is(t, side, system, table))
                    .then_some(span),
                Some(Target::ViaColumn {
                    mapping: via,
                    column: c,
                }) if c.name == column => mapping(maps, &via.name)
                    .is_some_and(|t| sides.iter().any(|s| is(t, *s, system, table)))
                    .then_some(c.span),
                _ => None,
            };
            if let Some(span) = found {
                return Some((m.id, span));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_column_under_its_own_table_not_a_namesake_elsewhere() {
        let text = r#"{
  "tables": [
    { "name": "a", "key": "id", "columns": [ { "name": "name", "type": "string" }, { "name": "x", "type": "int" } ] },
    { "name": "b", "key": "id", "columns": [ { "name": "id", "type": "int" }, { "name": "name", "type": "string" } ] }
  ]
}"#;
        let span = snapshot_span(text, "b", Some("name"));
        let at = text.rfind("\"name\": \"name\"").unwrap() + "\"name\": ".len();
        assert_eq!(span.start as usize, at);
        assert_eq!(&text[span.start as usize..span.end as usize], "\"name\"");
        let t = snapshot_span(text, "b", None);
        assert_eq!(&text[t.start as usize..t.end as usize], "\"b\"");
        assert_eq!(snapshot_span(text, "zz", None), Span::new(0, 0));
        let x = snapshot_span(text, "a", Some("x"));
        assert_eq!(&text[x.start as usize..x.end as usize], "\"x\"");
        // A column the table lacks points at the table.
        let a = snapshot_span(text, "a", Some("id"));
        assert_eq!(&text[a.start as usize..a.end as usize], "\"a\"");
    }
}
