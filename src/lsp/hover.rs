//! Hover: what a name at the cursor is — a column's type and constraints from the schema
//! snapshot, a function's signature and documentation, a table mapping's sides and direction —
//! and the explanation page of any diagnostic under the cursor. The Markdown pieces are shared
//! with completion, which shows the same text as item documentation.

use crate::check::types::Ty;
use crate::diagnostics::Code;
use crate::functions::{self, Builtin};
use crate::plan::Side;
use crate::schema::{ColumnSchema, ColumnType, TableSchema};
use crate::source::FileId;
use crate::syntax::ast::{self, Direction, Span};

use super::workspace::Analysis;
use crate::check::locate::{self, Target};

/// Hover text at an offset of a file of the analysis, and the span it is about.
pub fn hover(analysis: &Analysis, file: FileId, offset: usize) -> Option<(String, Option<Span>)> {
    let text = analysis.text(file);
    let map_file = analysis.project.files.iter().find(|f| f.id == file)?;
    let target = locate::at(&map_file.ast, offset);
    let mut parts = Vec::new();
    let mut span = None;
    if let Some(t) = target {
        if let Some(md) = describe(analysis, &t) {
            parts.push(md);
            span = Some(t.span());
        }
    }
    let mut codes: Vec<Code> = analysis
        .diagnostics
        .iter()
        .filter(|d| {
            d.primary.file == file
                && (d.primary.span.start as usize) <= offset
                && offset <= d.primary.span.end as usize
        })
        .map(|d| d.code)
        .collect();
    if let Some((code, word)) = code_word(text, offset) {
        codes.push(code);
        span = span.or(Some(word));
    }
    codes.sort();
    codes.dedup();
    for code in codes {
        parts.push(code.page().trim_end().to_string());
    }
    if parts.is_empty() {
        return None;
    }
    Some((parts.join("\n\n---\n\n"), span))
}

/// A diagnostic code written at the offset (in a comment, say), with its span.
fn code_word(text: &str, offset: usize) -> Option<(Code, Span)> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let offset = offset.min(text.len());
    let start = text[..offset]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let end = text[offset..]
        .char_indices()
        .find(|(_, c)| !is_word(*c))
        .map_or(text.len(), |(i, _)| offset + i);
    let code = Code::parse(&text[start..end])?;
    Some((code, Span::new(start, end)))
}

fn describe(analysis: &Analysis, target: &Target<'_>) -> Option<String> {
    // One arm per kind of name under the cursor; the longer ones are described by a function.
    match *target {
        Target::Column {
            mapping,
            side,
            name,
            ..
        } => {
            let (_, t) = analysis.table(mapping)?;
            column_hover(analysis, t, side, name)
        }
        Target::RecordField {
            mapping,
            side,
            name,
        } => {
            let (_, t) = analysis.table(mapping)?;
            let side = locate::side_named(t, &side.name)?;
            column_hover(analysis, t, side, &name.name)
        }
        Target::ViaColumn { mapping, column } => {
            via_column_doc(analysis, &mapping.name, &column.name)
        }
        Target::Call(name) => match functions::builtin(&name.name) {
            Some(b) => Some(builtin_doc(b)),
            None => {
                let (file, f) = function(analysis, &name.name)?;
                Some(function_doc(analysis.text(file), f))
            }
        },
        Target::FunctionDecl(f) => {
            let (file, _) = function(analysis, &f.name.name)?;
            Some(function_doc(analysis.text(file), f))
        }
        Target::Param { func, name, .. } => {
            let p = func.params.iter().find(|p| p.name.name == name)?;
            Some(format!(
                "```syncmap\n{name}: {}\n```\nParameter of `{}`.",
                p.ty.name, func.name.name
            ))
        }
        Target::Mapping(name) => {
            let (file, t) = analysis.table(&name.name)?;
            Some(mapping_doc(analysis.text(file), t))
        }
        Target::ValueMap(name) => value_map_doc(analysis, &name.name),
        Target::System(name) => system_doc(analysis, &name.name),
        Target::Side { mapping, name } => side_doc(analysis, mapping, &name.name),
        Target::SchemaTable { system, table } => {
            let t = analysis.schema_table(&system.name, &table.name)?;
            Some(table_doc(&system.name, t))
        }
        Target::Import(path) => Some(format!("Imports `{}`.", path.value)),
        Target::SchemaPath(path) => Some(format!("The schema snapshot `{}`.", path.value)),
    }
}

/// A column a lookup matches by or takes: it may be on either side of the mapping it goes
/// through, so both are shown.
fn via_column_doc(analysis: &Analysis, mapping: &str, column: &str) -> Option<String> {
    let (_, t) = analysis.table(mapping)?;
    let found: Vec<String> = [Side::Left, Side::Right]
        .into_iter()
        .filter_map(|side| column_hover(analysis, t, side, column))
        .collect();
    (!found.is_empty()).then(|| found.join("\n\n---\n\n"))
}

/// A value map: its source and doc comment.
fn value_map_doc(analysis: &Analysis, name: &str) -> Option<String> {
    let (file, m) = analysis.items().find_map(|(f, i)| match i {
        ast::Item::ValueMap(m) if m.name.name == name => Some((f, m)),
        _ => None,
    })?;
    let text = analysis.text(file);
    let source = text.get(m.span.start as usize..m.span.end as usize)?;
    let doc = doc_comment(text, m.span.start as usize);
    Some(format!("```syncmap\n{source}\n```{}", paragraph(&doc)))
}

/// A side of a table mapping named by its alias: which table it is, under its system's doc.
fn side_doc(analysis: &Analysis, mapping: &str, name: &str) -> Option<String> {
    let (_, t) = analysis.table(mapping)?;
    let side = locate::side_named(t, name)?;
    let r = side_ref(t, side);
    let words = match side {
        Side::Left => "left",
        Side::Right => "right",
    };
    let mut md = format!(
        "The {words} side of `{mapping}`: `{}.{}`.",
        r.system.name, r.table.name
    );
    if let Some(sys) = system_doc(analysis, &r.system.name) {
        md = format!("{sys}\n\n{md}");
    }
    Some(md)
}

/// The `system.table` reference of one side of a table mapping.
pub fn side_ref(t: &ast::Table, side: Side) -> &ast::TableRef {
    match side {
        Side::Left => &t.left,
        Side::Right => &t.right,
    }
}

fn function<'a>(analysis: &'a Analysis, name: &str) -> Option<(FileId, &'a ast::Function)> {
    analysis.items().find_map(|(file, i)| match i {
        ast::Item::Function(f) if f.name.name == name => Some((file, f)),
        _ => None,
    })
}

fn column_hover(analysis: &Analysis, t: &ast::Table, side: Side, name: &str) -> Option<String> {
    let r = side_ref(t, side);
    let table = analysis.schema_table(&r.system.name, &r.table.name)?;
    let c = table.column(name)?;
    Some(format!(
        "```syncmap\n{}.{}.{}: {}\n```\n{}",
        r.system.name,
        r.table.name,
        crate::syntax::format::ident(&c.name),
        Ty::of_column(&c.ty),
        column_doc(table, c)
    ))
}

/// What a column's snapshot says beyond its type: its constraints, values and description.
pub fn column_doc(table: &TableSchema, c: &ColumnSchema) -> String {
    let mut facts = Vec::new();
    if let ColumnType::String {
        max_length: Some(n),
    } = c.ty
    {
        facts.push(format!("max length {n}"));
    }
    if table.key == c.name {
        facts.push("key".to_string());
    }
    if table.modified_on.as_deref() == Some(c.name.as_str()) {
        facts.push("modified-on stamp".to_string());
    }
    facts.push(
        if c.nullable {
            "nullable"
        } else {
            "not nullable"
        }
        .to_string(),
    );
    if c.read_only {
        facts.push("read-only".to_string());
    }
    if c.required_on_create {
        facts.push("required on create".to_string());
    }
    let mut md = facts.join(" · ");
    match &c.ty {
        ColumnType::Option { options } => {
            md.push_str("\n\nOptions:\n");
            for o in options {
                md.push_str(&format!("\n- `{}` {}", o.value, o.label));
            }
        }
        ColumnType::Enum { members } => {
            md.push_str("\n\nMembers:\n");
            for m in members {
                md.push_str(&format!("\n- `{}`", crate::syntax::format::string(m)));
            }
        }
        ColumnType::Lookup { targets } => {
            md.push_str(&format!(
                "\n\nRefers to a row of `{}`.",
                targets.join("` or `")
            ));
        }
        _ => {}
    }
    if let Some(d) = &c.description {
        md.push_str("\n\n");
        md.push_str(d);
    }
    md
}

/// A schema table: its key, stamp and size.
pub fn table_doc(system: &str, t: &TableSchema) -> String {
    let mut md = format!("```syncmap\n{system}.{}\n```\nKey `{}`", t.name, t.key);
    if let Some(m) = &t.modified_on {
        md.push_str(&format!(" · modified-on `{m}`"));
    }
    if let Some(e) = &t.entity_type {
        md.push_str(&format!(" · entity type `{e}`"));
    }
    md.push_str(&format!(" · {} columns", t.columns.len()));
    md
}

/// A built-in function: its signature and documentation.
pub fn builtin_doc(b: &Builtin) -> String {
    format!("```syncmap\n{}\n```\n{}", b.signature(), b.doc)
}

/// `fn name(a: string) -> string`.
pub fn function_signature(f: &ast::Function) -> String {
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name.name, p.ty.name))
        .collect();
    let ret = f
        .ret
        .as_ref()
        .map_or(String::new(), |r| format!(" -> {}", r.name));
    format!("fn {}({}){ret}", f.name.name, params.join(", "))
}

/// A user-defined function: its signature and the comment above it.
pub fn function_doc(text: &str, f: &ast::Function) -> String {
    let doc = doc_comment(text, f.span.start as usize);
    format!(
        "```syncmap\n{}\n```{}",
        function_signature(f),
        paragraph(&doc)
    )
}

/// `table name: a.t <-> b.u`.
pub fn mapping_signature(t: &ast::Table) -> String {
    format!(
        "{}.{} {} {}.{}",
        t.left.system.name,
        t.left.table.name,
        t.arrow.dir.arrow(),
        t.right.system.name,
        t.right.table.name
    )
}

/// What an arrow means for records.
pub fn flow_words(dir: Direction) -> &'static str {
    match dir {
        Direction::Both => "Records flow both ways: left to right first, then right to left.",
        Direction::ToRight => "Records flow from left to right.",
        Direction::ToLeft => "Records flow from right to left.",
    }
}

/// A table mapping: its sides, its direction and the comment above it.
pub fn mapping_doc(text: &str, t: &ast::Table) -> String {
    let doc = doc_comment(text, t.span.start as usize);
    format!(
        "```syncmap\ntable {}: {}\n```\n{}{}",
        crate::syntax::format::ident(&t.name.name),
        mapping_signature(t),
        flow_words(t.arrow.dir),
        paragraph(&doc)
    )
}

fn system_doc(analysis: &Analysis, alias: &str) -> Option<String> {
    let (_, s) = analysis.system(alias)?;
    let mut md = format!("```syncmap\nsystem {}: {}\n```", s.name.name, s.kind.name);
    if let Some(setting) = s.settings.iter().find(|st| st.key.name == "schema") {
        md.push_str(&format!("\nSchema snapshot `{}`", setting.value.value));
        if let Some(loaded) = analysis.project.schemas.get(alias) {
            md.push_str(&format!(": {} tables", loaded.schema.tables.len()));
        }
        md.push('.');
    }
    Some(md)
}

fn paragraph(doc: &str) -> String {
    if doc.is_empty() {
        String::new()
    } else {
        format!("\n{doc}")
    }
}

/// The comment lines right above an item (`///` or `//`), without their slashes.
pub fn doc_comment(text: &str, item_start: usize) -> String {
    let before = &text[..item_start.min(text.len())];
    // Whole lines only: the item's own line may start with indentation.
    let before = &before[..before.rfind('\n').map_or(0, |n| n + 1)];
    let mut lines: Vec<&str> = Vec::new();
    for line in before.lines().rev() {
        let Some(rest) = line.trim().strip_prefix("//") else {
            break;
        };
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        lines.push(rest.strip_prefix(' ').unwrap_or(rest));
    }
    lines.reverse();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_comments_are_the_comment_lines_right_above() {
        let text = "// other\n\n/// Line one.\n/// Line two.\nfn f() { 1 }";
        let start = text.find("fn").unwrap();
        assert_eq!(doc_comment(text, start), "Line one.\nLine two.");
        assert_eq!(doc_comment("fn f() { 1 }", 0), "");
        assert_eq!(doc_comment("// apart\n\nfn f() { 1 }", 10), "");
    }

    #[test]
    fn codes_are_found_in_words() {
        let text = "// see E0203 here";
        let (code, span) = code_word(text, 9).unwrap();
        assert_eq!(code, Code::E0203);
        assert_eq!(&text[span.start as usize..span.end as usize], "E0203");
        assert!(code_word(text, 3).is_none());
    }
}
