//! Field operations compared pass by pass: a direction appearing or going away is one entry,
//! otherwise fields are paired by destination column (and phase) and compared value by value.

use super::{compare, Change, Entry};
use crate::plan::display;
use crate::plan::model::{ConflictRule, FieldOp, Pass, Phase, Side, Table};

pub(super) fn pass_name(dest: Side) -> &'static str {
    match dest {
        Side::Right => "left_to_right",
        Side::Left => "right_to_left",
    }
}

/// `bc -> dv`: a pass as the systems and arrow of the `.map` line.
fn pass_label(t: &Table, dest: Side) -> String {
    match dest {
        Side::Right => format!("{} -> {}", t.left.system, t.right.system),
        Side::Left => format!("{} <- {}", t.left.system, t.right.system),
    }
}

/// Field operations of the pass writing `dest`, matched by destination column.
pub(super) fn pass(o: &Table, n: &Table, dest: Side) -> Vec<Entry> {
    let name = pass_name(dest);
    match (o.pass_to(dest), n.pass_to(dest)) {
        (None, None) => Vec::new(),
        // A whole direction appearing or going away: one line, not one per field.
        (Some(op), None) => {
            vec![
                Entry::removed("pass", Some(&pass_label(o, dest)), fields_count(op))
                    .with_pass(name),
            ]
        }
        (None, Some(np)) => {
            vec![
                Entry::added("pass", Some(&pass_label(n, dest)), fields_count(np))
                    .with_pass(name)
                    .with_details(
                        np.ops
                            .iter()
                            .map(|f| {
                                Entry::added("field", Some(&f.target), field(np, f)).with_pass(name)
                            })
                            .collect(),
                    ),
            ]
        }
        (Some(op), Some(np)) => fields(op, np, name),
    }
}

fn fields_count(p: &Pass) -> String {
    match p.ops.len() {
        1 => "1 field".into(),
        k => format!("{k} fields"),
    }
}

fn fields(op: &Pass, np: &Pass, pass: &str) -> Vec<Entry> {
    // A column may be written twice in one pass (once `[create only]`, once `[update only]`):
    // within one destination column, pair operations of the same phase first, then the rest in
    // source order.
    let mut targets: Vec<&str> = Vec::new();
    for f in op.ops.iter().chain(&np.ops) {
        if !targets.contains(&f.target.as_str()) {
            targets.push(&f.target);
        }
    }
    let mut out = Vec::new();
    for target in targets {
        let mut olds: Vec<&FieldOp> = op.ops.iter().filter(|f| f.target == target).collect();
        let mut news: Vec<&FieldOp> = np.ops.iter().filter(|f| f.target == target).collect();
        let mut pairs: Vec<(&FieldOp, &FieldOp)> = Vec::new();
        olds.retain(|of| match news.iter().position(|nf| nf.phase == of.phase) {
            Some(i) => {
                pairs.push((of, news.remove(i)));
                false
            }
            None => true,
        });
        while !olds.is_empty() && !news.is_empty() {
            pairs.push((olds.remove(0), news.remove(0)));
        }
        for (of, nf) in pairs {
            let details = field_details(of, nf);
            if !details.is_empty() {
                out.push(
                    Entry::new(Change::Changed, "field", Some(target))
                        .with_pass(pass)
                        .with_details(details),
                );
            }
        }
        for of in olds {
            out.push(Entry::removed("field", Some(target), field(op, of)).with_pass(pass));
        }
        for nf in news {
            out.push(Entry::added("field", Some(target), field(np, nf)).with_pass(pass));
        }
    }
    out
}

/// The field line as in a `.map` file: `upper(x) -> col [create only]`, the left table's side
/// first whatever the direction.
pub(super) fn field(p: &Pass, f: &FieldOp) -> String {
    let (value, clause) = display::field_value(&f.value);
    let mut line = match (p.dest, f.two_way) {
        (Side::Right, false) => format!("{value} -> {}", f.target),
        (Side::Right, true) => format!("{value} <-> {}", f.target),
        (Side::Left, false) => format!("{} <- {value}", f.target),
        (Side::Left, true) => format!("{} <-> {value}", f.target),
    };
    if let Some(c) = clause {
        line.push(' ');
        line.push_str(&c);
    }
    let mods = modifiers(f);
    if !mods.is_empty() {
        line.push_str(&format!(" [{mods}]"));
    }
    line
}

fn modifiers(f: &FieldOp) -> String {
    let mut m: Vec<String> = Vec::new();
    match f.phase {
        Phase::Always => {}
        Phase::Create => m.push("create only".into()),
        Phase::Update => m.push("update only".into()),
    }
    if f.not_null {
        m.push("not null".into());
    }
    if f.clear_on_failure {
        m.push("clear on failure".into());
    }
    if let Some(n) = f.truncate {
        m.push(format!("truncate {n}"));
    }
    match f.on_conflict {
        Some(ConflictRule::Prefer(Side::Left)) => m.push("on conflict: prefer left".into()),
        Some(ConflictRule::Prefer(Side::Right)) => m.push("on conflict: prefer right".into()),
        Some(ConflictRule::Newest) => m.push("on conflict: newest".into()),
        Some(ConflictRule::Fail) => m.push("on conflict: fail".into()),
        None => {}
    }
    m.join(", ")
}

fn field_details(o: &FieldOp, n: &FieldOp) -> Vec<Entry> {
    let mut out = Vec::new();
    if o.value != n.value {
        out.push(Entry::changed(
            "value",
            None,
            display::expr(&o.value, &[]),
            display::expr(&n.value, &[]),
        ));
    }
    let (om, nm) = (modifiers(o), modifiers(n));
    let bracket = |m: String| {
        if m.is_empty() {
            "none".into()
        } else {
            format!("[{m}]")
        }
    };
    if om != nm {
        out.push(Entry::changed("modifiers", None, bracket(om), bracket(nm)));
    }
    out.extend(compare(
        "two-way",
        None,
        Some(o.two_way.to_string()),
        Some(n.two_way.to_string()),
    ));
    out
}
