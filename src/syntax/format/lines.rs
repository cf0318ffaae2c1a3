//! The one-line texts of the parts of items: settings, table references and settings, field
//! mappings with their modifiers, map patterns, jobs and test records.

use super::{duration, expr, ident, literal, string, INDENT};
use crate::syntax::ast::*;

/// Records that would make a line longer than this are printed one field per line.
const RECORD_WIDTH: usize = 100;

pub(super) fn setting(s: &Setting) -> String {
    // `modified_on.orders`: a setting about one table keeps its dot outside the quotes.
    let key = match s.key.name.split_once('.') {
        Some((name, table)) => format!("{}.{}", ident(name), ident(table)),
        None => ident(&s.key.name),
    };
    format!("{key} = {}", string(&s.value.value))
}

pub(super) fn table_ref(t: &TableRef) -> String {
    // The options of a choice column, `table.column`, keep their dot outside the quotes.
    let table = match t.table.name.split_once('.') {
        Some((table, column)) => format!("{}.{}", ident(table), ident(column)),
        None => ident(&t.table.name),
    };
    format!("{}.{table}", ident(&t.system.name))
}

pub(super) fn table_setting(item: &TableItem) -> String {
    match item {
        TableItem::Filter(f) => format!("filter {}: {}", ident(&f.side.name), expr(&f.expr)),
        TableItem::Match(m) => {
            let terms: Vec<String> = m
                .terms
                .iter()
                .map(|t| format!("{} == {}", ident(&t.left.name), ident(&t.right.name)))
                .collect();
            format!("match {}{}", terms.join(" and "), modifiers(&m.modifiers))
        }
        TableItem::Create(c) => {
            let sides: Vec<String> = c.sides.iter().map(|s| ident(&s.name)).collect();
            format!("create: {}", sides.join(", "))
        }
        TableItem::OnConflict(c) => conflict_rule(&c.rule),
        TableItem::OnDelete(d) => format!("on delete: {}", d.rule.keyword()),
        TableItem::OnlyCoupled(o) => format!("only coupled: {}", o.value),
        TableItem::After(a) => {
            let names: Vec<String> = a.tables.iter().map(|t| ident(&t.name)).collect();
            format!("after {}", names.join(", "))
        }
        TableItem::Field(f) => field(f, (0, 0)),
    }
}

pub(super) fn field(f: &FieldMap, (left_width, arrow_width): (usize, usize)) -> String {
    let left = expr(&f.left);
    let pad = left_width.saturating_sub(left.chars().count());
    let arrow = f.arrow.dir.arrow();
    let arrow_pad = arrow_width.saturating_sub(arrow.len());
    let mut line = format!(
        "{left}{} {}{arrow} {}",
        " ".repeat(pad),
        " ".repeat(arrow_pad),
        expr(&f.right)
    );
    match &f.transform {
        Some(Transform::Via { table, column, .. }) => {
            line.push_str(&format!(" via {}", ident(&table.name)));
            if let Some(c) = column {
                line.push_str(&format!(".{}", ident(&c.name)));
            }
        }
        Some(Transform::UsingMap(m)) => line.push_str(&format!(" using {}", ident(&m.name))),
        Some(Transform::UsingInline(body)) => {
            let arms: Vec<String> = body
                .arms
                .iter()
                .map(|a| format!("{} => {}", pattern(a), literal(&a.value.kind)))
                .collect();
            line.push_str(&format!(" using {{ {} }}", arms.join(", ")));
        }
        None => {}
    }
    if !f.modifiers.is_empty() {
        let names: Vec<String> = f
            .modifiers
            .iter()
            .map(|m| match (m.kind, &f.on_conflict) {
                (ModifierKind::OnConflict, Some(c)) => conflict_rule(&c.rule),
                (kind, _) => kind.text().to_string(),
            })
            .collect();
        line.push_str(&format!(" [{}]", names.join(", ")));
    }
    line
}

/// `on conflict: …`, of a table or a field mapping.
fn conflict_rule(rule: &ConflictRule) -> String {
    match rule {
        ConflictRule::Prefer(side) => format!("on conflict: prefer {}", ident(&side.name)),
        ConflictRule::Newest => "on conflict: newest".into(),
        ConflictRule::Fail => "on conflict: fail".into(),
    }
}

fn modifiers(mods: &[Modifier]) -> String {
    if mods.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = mods.iter().map(|m| m.kind.text()).collect();
    format!(" [{}]", names.join(", "))
}

pub(super) fn pattern(arm: &MapArm) -> String {
    arm.pattern
        .as_ref()
        .map_or("_".to_string(), |p| literal(&p.kind))
}

pub(super) fn job(j: &Job) -> String {
    let mode = match j.mode {
        SyncMode::Full => "full",
        SyncMode::Modified => "modified",
    };
    let mut s = format!("job {} {{ sync {mode}", ident(&j.name.name));
    if !j.tables.is_empty() {
        // `every`, `idle` and `at` would start the timing clauses: keep them quoted.
        let names: Vec<String> = j
            .tables
            .iter()
            .map(|t| match t.name.as_str() {
                n @ ("every" | "idle" | "at") => format!("`{n}`"),
                n => ident(n),
            })
            .collect();
        s.push(' ');
        s.push_str(&names.join(", "));
    }
    if let Some(d) = j.every {
        s.push_str(&format!(" every {}", duration(d.seconds)));
    }
    if let Some(d) = j.idle {
        s.push_str(&format!(" idle {}", duration(d.seconds)));
    }
    if let Some(t) = j.at {
        s.push_str(&format!(" at {:02}:{:02}", t.minutes / 60, t.minutes % 60));
    }
    s.push_str(" }");
    s
}

pub(super) fn record_text(r: &Record, lead: &str) -> String {
    let fields: Vec<String> = r
        .fields
        .iter()
        .map(|(n, v)| format!("{}: {}", ident(&n.name), literal(&v.kind)))
        .collect();
    if fields.is_empty() {
        return "{}".into();
    }
    let one_line = format!("{{ {} }}", fields.join(", "));
    if INDENT.len() + lead.len() + one_line.len() <= RECORD_WIDTH {
        return one_line;
    }
    let mut s = String::from("{\n");
    for f in fields {
        s.push_str(&format!("{INDENT}{INDENT}{f},\n"));
    }
    s.push_str(INDENT);
    s.push('}');
    s
}
