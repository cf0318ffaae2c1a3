//! Field mappings put back together from the plan's passes. A plan keeps one operation per
//! direction; a two-way field line (`name <-> name`) is two operations sharing an id. The
//! report shows each field line once, as it was written, with its arrow.

use std::collections::BTreeMap;

use super::words::Labels;
use crate::plan::display;
use crate::plan::{Expr, FieldOp, Flow, Literal, Phase, Table};

/// One field line of a table mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLine {
    /// The left side: a column, or the expression computed from right-side columns.
    pub left: String,
    /// The right side, likewise.
    pub right: String,
    /// Which way the value flows.
    pub flow: Flow,
    /// A lookup or value map applied on the way (`via currencies.code`, `using { … }`).
    pub transform: Option<String>,
    /// Modifiers in words: `create only`, `not null`, `clear on failure`, `truncate to 100`.
    pub modifiers: Vec<String>,
    /// The lookup as a phrase (`currencyCode via currencies.code`), when the field has one.
    pub lookup: Option<String>,
}

/// The field lines of a table mapping, in source order. `labels` are the option-set labels of
/// the left and the right table: a constant written to an option column reads as its label,
/// as the mappings write it (`"Customer" -> customertypecode`, not `3`).
pub fn lines(table: &Table, labels: [&Labels; 2]) -> Vec<FieldLine> {
    // Ids are `table#n`; n orders the lines as written.
    let mut by_id: BTreeMap<u64, (Option<&FieldOp>, Option<&FieldOp>)> = BTreeMap::new();
    let order = |op: &FieldOp| -> u64 {
        op.id
            .rsplit('#')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(u64::MAX)
    };
    for op in table.left_to_right.iter().flat_map(|p| &p.ops) {
        by_id.entry(order(op)).or_default().0 = Some(op);
    }
    for op in table.right_to_left.iter().flat_map(|p| &p.ops) {
        by_id.entry(order(op)).or_default().1 = Some(op);
    }
    by_id
        .into_values()
        .filter_map(|(ltr, rtl)| line(table, labels, ltr, rtl))
        .collect()
}

/// The source side of a one-way operation as text, a constant option value as its label.
fn source(op: &FieldOp, dest_labels: &Labels) -> String {
    if let Expr::Lit(Literal::Int(n)) = &op.value {
        if let Some(label) = dest_labels.get(&op.target).and_then(|l| l.get(n)) {
            return display::literal(&Literal::String(label.clone()));
        }
    }
    display::field_value(&op.value).0
}

fn line(
    table: &Table,
    [left_labels, right_labels]: [&Labels; 2],
    ltr: Option<&FieldOp>,
    rtl: Option<&FieldOp>,
) -> Option<FieldLine> {
    let (left, right, flow, main) = match (ltr, rtl) {
        (Some(l), Some(r)) => (r.target.clone(), l.target.clone(), Flow::Both, l),
        (Some(l), None) => (
            source(l, right_labels),
            l.target.clone(),
            Flow::LeftToRight,
            l,
        ),
        (None, Some(r)) => (
            r.target.clone(),
            source(r, left_labels),
            Flow::RightToLeft,
            r,
        ),
        (None, None) => return None,
    };
    let transform = display::field_value(&main.value).1;
    let lookup = match &main.value {
        Expr::Lookup(_) => Some(display::expr(&main.value, &[])),
        _ => None,
    };
    let ops: Vec<(&FieldOp, &str)> = [
        ltr.map(|o| (o, table.right.system.as_str())),
        rtl.map(|o| (o, table.left.system.as_str())),
    ]
    .into_iter()
    .flatten()
    .collect();
    Some(FieldLine {
        left,
        right,
        flow,
        transform,
        modifiers: modifiers(&ops),
        lookup,
    })
}

/// The modifiers of a line's operations, each said once.
fn modifiers(ops: &[(&FieldOp, &str)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |m: &str| {
        if !out.iter().any(|o| o == m) {
            out.push(m.to_string());
        }
    };
    for (op, _) in ops {
        match op.phase {
            Phase::Always => {}
            Phase::Create => add("create only"),
            Phase::Update => add("update only"),
        }
        if op.not_null {
            add("not null");
        }
        if op.clear_on_failure {
            add("clear on failure");
        }
    }
    let cuts: Vec<(u32, &str)> = ops
        .iter()
        .filter_map(|(op, dest)| op.truncate.map(|n| (n, *dest)))
        .collect();
    match cuts.as_slice() {
        [] => {}
        [(n, _)] => add(&format!("truncate to {n}")),
        [(a, _), rest @ ..] if rest.iter().all(|(n, _)| n == a) => add(&format!("truncate to {a}")),
        many => {
            let each: Vec<String> = many
                .iter()
                .map(|(n, dest)| format!("{n} in {dest}"))
                .collect();
            add(&format!("truncate to {}", each.join(", ")));
        }
    }
    out
}
