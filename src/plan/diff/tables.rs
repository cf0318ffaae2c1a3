//! Table mappings compared by name: added and removed ones in a line each, changed ones by
//! their sides, direction, filters, rules, dependencies and passes.

use std::collections::BTreeSet;

use super::fields::{field, pass, pass_name};
use super::{compare, Change, Entry};
use crate::plan::display;
use crate::plan::model::{ConflictRule, DeleteRule, Filter, Flow, MatchRule, Plan, Side, Table};

pub(super) fn tables(old: &Plan, new: &Plan) -> Vec<Entry> {
    let mut out = Vec::new();
    // Removed tables first, in their old order, then the new plan's tables in its order: a
    // stable order that follows the dependency order a reader knows from the plan.
    for o in &old.tables {
        if new.table(&o.name).is_none() {
            // What a removed mapping held is in the old sources; its fields one by one would
            // bury the rest of the summary.
            out.push(Entry::removed("table", Some(&o.name), removed_header(o)));
        }
    }
    for n in &new.tables {
        match old.table(&n.name) {
            None => {
                out.push(Entry::added("table", Some(&n.name), header(n)).with_details(contents(n)))
            }
            Some(o) => {
                let details = table(o, n);
                if details.is_empty() {
                    continue;
                }
                let mut e = Entry::new(Change::Changed, "table", Some(&n.name));
                if header(o) == header(n) {
                    // Unchanged ends are shown for orientation, as the new value alone.
                    e.new = Some(header(n));
                } else {
                    (e.old, e.new) = (Some(header(o)), Some(header(n)));
                }
                out.push(e.with_details(details));
            }
        }
    }
    out
}

fn arrow(flow: Flow) -> &'static str {
    match flow {
        Flow::LeftToRight => "->",
        Flow::RightToLeft => "<-",
        Flow::Both => "<->",
    }
}

/// `bc.vendors <-> dv.accounts (25 fields)`.
fn removed_header(t: &Table) -> String {
    let n: usize = [Side::Right, Side::Left]
        .iter()
        .filter_map(|d| t.pass_to(*d))
        .map(|p| p.ops.len())
        .sum();
    format!("{} ({n} field operations)", header(t))
}

/// `bc.customers <-> dv.accounts`.
fn header(t: &Table) -> String {
    format!(
        "{}.{} {} {}.{}",
        t.left.system,
        t.left.table,
        arrow(t.flow),
        t.right.system,
        t.right.table
    )
}

fn side_alias(t: &Table, side: Side) -> &str {
    &t.side(side).system
}

fn filter(f: &Option<Filter>) -> Option<String> {
    f.as_ref().map(|f| display::expr(&f.expr, &[]))
}

fn odata(f: &Option<Filter>) -> String {
    match f.as_ref().and_then(|f| f.odata.as_deref()) {
        Some(o) => o.to_string(),
        None => "none (evaluated locally)".into(),
    }
}

fn match_rule(r: &MatchRule) -> String {
    let terms: Vec<String> = r
        .terms
        .iter()
        .map(|t| format!("{} == {}", t.left, t.right))
        .collect();
    let case = if r.case_sensitive {
        " [case sensitive]"
    } else {
        ""
    };
    format!("{}{case}", terms.join(" and "))
}

fn conflict(t: &Table) -> String {
    match t.on_conflict {
        ConflictRule::Prefer(side) => format!("prefer {}", side_alias(t, side)),
        ConflictRule::Newest => "newest".into(),
        ConflictRule::Fail => "fail".into(),
    }
}

fn deletion(rule: DeleteRule) -> String {
    match rule {
        DeleteRule::Uncouple => "uncouple",
        DeleteRule::Restore => "restore",
        DeleteRule::Propagate => "propagate",
        DeleteRule::Fail => "fail",
    }
    .into()
}

fn create(t: &Table) -> String {
    if t.create.is_empty() {
        return "none".into();
    }
    t.create
        .iter()
        .map(|s| side_alias(t, *s).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an added table mapping holds.
fn contents(t: &Table) -> Vec<Entry> {
    let one = Entry::added;
    let mut out = Vec::new();
    for side in [Side::Left, Side::Right] {
        if let Some(f) = filter(&t.side(side).filter) {
            out.push(one("filter", Some(side_alias(t, side)), f));
        }
    }
    for r in &t.match_rules {
        out.push(one("match", None, match_rule(r)));
    }
    for dest in [Side::Right, Side::Left] {
        if let Some(p) = t.pass_to(dest) {
            for op in &p.ops {
                out.push(one("field", Some(&op.target), field(p, op)).with_pass(pass_name(dest)));
            }
        }
    }
    out
}

/// The differences between two versions of one table mapping.
fn table(o: &Table, n: &Table) -> Vec<Entry> {
    let mut out = Vec::new();
    out.extend(compare(
        "flow",
        None,
        Some(arrow(o.flow).into()),
        Some(arrow(n.flow).into()),
    ));
    for (kind, os, ns) in [("left", &o.left, &n.left), ("right", &o.right, &n.right)] {
        out.extend(compare(
            kind,
            None,
            Some(format!("{}.{}", os.system, os.table)),
            Some(format!("{}.{}", ns.system, ns.table)),
        ));
    }
    out.extend(filters(o, n));
    out.extend(match_rules(o, n));
    out.extend(compare("create", None, Some(create(o)), Some(create(n))));
    out.extend(compare(
        "only coupled",
        None,
        Some(o.only_coupled.to_string()),
        Some(n.only_coupled.to_string()),
    ));
    out.extend(compare(
        "on conflict",
        None,
        Some(conflict(o)),
        Some(conflict(n)),
    ));
    out.extend(compare(
        "on delete",
        None,
        Some(deletion(o.on_delete)),
        Some(deletion(n.on_delete)),
    ));
    out.extend(dependencies(o, n));
    for dest in [Side::Right, Side::Left] {
        out.extend(pass(o, n, dest));
    }
    out
}

/// Filters changed on either side; a changed pushdown is shown under its filter.
fn filters(o: &Table, n: &Table) -> Vec<Entry> {
    let mut out = Vec::new();
    for side in [Side::Left, Side::Right] {
        let (of, nf) = (&o.side(side).filter, &n.side(side).filter);
        if of == nf {
            continue;
        }
        let alias = side_alias(n, side);
        let mut e = match compare("filter", Some(alias), filter(of), filter(nf)) {
            Some(e) => e,
            // Same condition, different pushdown (a compiler change): still worth a line.
            None => Entry::new(Change::Changed, "filter", Some(alias)),
        };
        if odata(of) != odata(nf) {
            e.details
                .push(Entry::changed("odata", None, odata(of), odata(nf)));
        }
        out.push(e);
    }
    out
}

/// `after` dependencies dropped and added.
fn dependencies(o: &Table, n: &Table) -> Vec<Entry> {
    let mut out = Vec::new();
    let od: BTreeSet<&String> = o.depends_on.iter().collect();
    let nd: BTreeSet<&String> = n.depends_on.iter().collect();
    for d in od.difference(&nd) {
        out.push(Entry::removed("after", None, d.to_string()));
    }
    for d in nd.difference(&od) {
        out.push(Entry::added("after", None, d.to_string()));
    }
    out
}

fn match_rules(o: &Table, n: &Table) -> Vec<Entry> {
    let ol: Vec<String> = o.match_rules.iter().map(match_rule).collect();
    let nl: Vec<String> = n.match_rules.iter().map(match_rule).collect();
    let mut out = Vec::new();
    for r in ol.iter().filter(|r| !nl.contains(r)) {
        out.push(Entry::removed("match", None, r.clone()));
    }
    for r in nl.iter().filter(|r| !ol.contains(r)) {
        out.push(Entry::added("match", None, r.clone()));
    }
    // The same rules in another order try them in another priority.
    if out.is_empty() && ol != nl {
        out.push(Entry::changed(
            "match order",
            None,
            ol.join("; "),
            nl.join("; "),
        ));
    }
    out
}
