//! What a change to the mappings does, computed from two compiled plans (`syncmap diff`): table
//! mappings, fields, filters, directions, rules, jobs, functions, systems and source files added,
//! removed or changed, for code review.
//!
//! Things are matched by what a reviewer would call them, never by position or id: tables, jobs,
//! functions and systems by name, field operations by their pass and destination column (ids count
//! field lines and shift when one is inserted). Origins (`file:line:column`) are left out: moving
//! a line changes nothing a run does.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::display;
use super::model::{
    ColumnInfo, ConflictRule, DeleteRule, FieldOp, Filter, Flow, Function, Job, MatchRule, Pass,
    Phase, Plan, Side, SyncMode, System, Table, TableInfo,
};
use crate::syntax::format::duration;

/// Whether something was added, removed or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only in the new plan (`+`).
    Added,
    /// Only in the old plan (`-`).
    Removed,
    /// In both, different (`~`).
    Changed,
}

impl Change {
    /// The sign of a line of the human summary.
    pub fn sigil(self) -> char {
        match self {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Changed => '~',
        }
    }
}

/// One difference, with finer differences under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Added, removed or changed.
    pub change: Change,
    /// What it is: `table`, `field`, `filter`, `flow`, `job`, `source`, …
    pub kind: String,
    /// Which one, where there can be several: a table's name, a field's destination column, a
    /// filter's system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// For fields and passes: the direction, `left_to_right` or `right_to_left`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// The old value as readable text (absent for additions and for changes shown by details).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The new value as readable text (absent for removals and for changes shown by details).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// Finer differences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Entry>,
}

impl Entry {
    fn new(change: Change, kind: &str, name: Option<&str>) -> Entry {
        Entry {
            change,
            kind: kind.into(),
            name: name.map(str::to_string),
            pass: None,
            old: None,
            new: None,
            details: Vec::new(),
        }
    }

    fn added(kind: &str, name: Option<&str>, new: String) -> Entry {
        Entry {
            new: Some(new),
            ..Entry::new(Change::Added, kind, name)
        }
    }

    fn removed(kind: &str, name: Option<&str>, old: String) -> Entry {
        Entry {
            old: Some(old),
            ..Entry::new(Change::Removed, kind, name)
        }
    }

    fn changed(kind: &str, name: Option<&str>, old: String, new: String) -> Entry {
        Entry {
            old: Some(old),
            new: Some(new),
            ..Entry::new(Change::Changed, kind, name)
        }
    }

    fn with_pass(mut self, pass: &str) -> Entry {
        self.pass = Some(pass.into());
        self
    }

    fn with_details(mut self, details: Vec<Entry>) -> Entry {
        self.details = details;
        self
    }
}

/// Counts for the last line of the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Table mappings added.
    pub tables_added: usize,
    /// Table mappings removed.
    pub tables_removed: usize,
    /// Table mappings changed.
    pub tables_changed: usize,
    /// Field operations added, in changed table mappings.
    pub fields_added: usize,
    /// Field operations removed, in changed table mappings.
    pub fields_removed: usize,
    /// Field operations changed.
    pub fields_changed: usize,
}

/// Everything that differs between two plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanDiff {
    /// The old plan's digest.
    pub old_digest: String,
    /// The new plan's digest.
    pub new_digest: String,
    /// Whether anything differs.
    pub changed: bool,
    /// Totals.
    pub counts: Counts,
    /// Table mappings, in the new plan's order (removed ones where they were in the old).
    pub tables: Vec<Entry>,
    /// Scheduled jobs, by name.
    pub jobs: Vec<Entry>,
    /// User-defined functions, by name.
    pub functions: Vec<Entry>,
    /// Systems: kind, schema snapshot, what the plan uses of their tables.
    pub systems: Vec<Entry>,
    /// Source files and schema snapshots whose digest differs.
    pub sources: Vec<Entry>,
    /// The compiler version, when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compiler: Option<Entry>,
}

/// Compares two plans.
pub fn diff(old: &Plan, new: &Plan) -> PlanDiff {
    let tables = tables(old, new);
    let mut counts = Counts::default();
    for t in &tables {
        match t.change {
            Change::Added => counts.tables_added += 1,
            Change::Removed => counts.tables_removed += 1,
            Change::Changed => {
                counts.tables_changed += 1;
                count_fields(&t.details, &mut counts);
            }
        }
    }
    let compiler = (old.compiler != new.compiler)
        .then(|| Entry::changed("compiler", None, old.compiler.clone(), new.compiler.clone()));
    let mut d = PlanDiff {
        old_digest: old.digest.clone(),
        new_digest: new.digest.clone(),
        changed: false,
        counts,
        tables,
        jobs: by_name(&old.jobs, &new.jobs, "job", |_, j| job(j)),
        functions: by_name(&old.functions, &new.functions, "function", function),
        systems: systems(old, new),
        sources: sources(old, new),
        compiler,
    };
    d.changed = !(d.tables.is_empty()
        && d.jobs.is_empty()
        && d.functions.is_empty()
        && d.systems.is_empty()
        && d.sources.is_empty()
        && d.compiler.is_none());
    d
}

/// Counts field entries, also those under a pass that appeared.
fn count_fields(entries: &[Entry], counts: &mut Counts) {
    for e in entries {
        if e.kind == "field" {
            match e.change {
                Change::Added => counts.fields_added += 1,
                Change::Removed => counts.fields_removed += 1,
                Change::Changed => counts.fields_changed += 1,
            }
        } else {
            count_fields(&e.details, counts);
        }
    }
}

/// Items of two maps compared by name; each is rendered as one line of text.
fn by_name<T>(
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
    kind: &str,
    render: impl Fn(&str, &T) -> String,
) -> Vec<Entry> {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let (o, n) = (
            old.get(name).map(|v| render(name, v)),
            new.get(name).map(|v| render(name, v)),
        );
        if let Some(e) = compare(kind, Some(name), o, n) {
            out.push(e);
        }
    }
    out
}

/// An entry for a value present in either plan, or nothing when equal.
fn compare(
    kind: &str,
    name: Option<&str>,
    old: Option<String>,
    new: Option<String>,
) -> Option<Entry> {
    match (old, new) {
        (Some(o), Some(n)) if o == n => None,
        (Some(o), Some(n)) => Some(Entry::changed(kind, name, o, n)),
        (Some(o), None) => Some(Entry::removed(kind, name, o)),
        (None, Some(n)) => Some(Entry::added(kind, name, n)),
        (None, None) => None,
    }
}

fn job(j: &Job) -> String {
    let mode = match j.mode {
        SyncMode::Full => "full",
        SyncMode::Modified => "modified",
    };
    let mut s = format!("sync {mode}");
    if !j.tables.is_empty() {
        s.push(' ');
        s.push_str(&j.tables.join(", "));
    }
    if let Some(e) = j.every_seconds {
        s.push_str(&format!(" every {}", duration(e)));
    }
    if let Some(i) = j.idle_seconds {
        s.push_str(&format!(" idle {}", duration(i)));
    }
    if let Some(at) = &j.at {
        s.push_str(&format!(" at {at}"));
    }
    s
}

fn function(name: &str, f: &Function) -> String {
    format!(
        "fn {name}({}) = {}",
        f.params.join(", "),
        display::expr(&f.body, &f.params)
    )
}

fn sources(old: &Plan, new: &Plan) -> Vec<Entry> {
    let o: BTreeMap<String, String> = old
        .sources
        .iter()
        .map(|s| (s.path.clone(), s.sha256.clone()))
        .collect();
    let n: BTreeMap<String, String> = new
        .sources
        .iter()
        .map(|s| (s.path.clone(), s.sha256.clone()))
        .collect();
    by_name(&o, &n, "source", |_, d| d.clone())
}

fn systems(old: &Plan, new: &Plan) -> Vec<Entry> {
    let names: BTreeSet<&String> = old.systems.keys().chain(new.systems.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        match (old.systems.get(name), new.systems.get(name)) {
            (Some(o), None) => out.push(Entry::removed("system", Some(name), system_line(o))),
            (None, Some(n)) => out.push(Entry::added("system", Some(name), system_line(n))),
            (Some(o), Some(n)) => {
                let details = system_details(old, o, new, n);
                if !details.is_empty() {
                    out.push(
                        Entry::new(Change::Changed, "system", Some(name)).with_details(details),
                    );
                }
            }
            (None, None) => {}
        }
    }
    out
}

fn system_line(s: &System) -> String {
    format!("{} (schema {})", s.kind, s.schema)
}

fn schema_digest<'a>(plan: &'a Plan, path: &str) -> Option<&'a str> {
    plan.sources
        .iter()
        .find(|s| s.path == path)
        .map(|s| s.sha256.as_str())
}

fn system_details(old_plan: &Plan, o: &System, new_plan: &Plan, n: &System) -> Vec<Entry> {
    let mut out = Vec::new();
    out.extend(compare(
        "kind",
        None,
        Some(o.kind.clone()),
        Some(n.kind.clone()),
    ));
    out.extend(compare(
        "schema",
        None,
        Some(o.schema.clone()),
        Some(n.schema.clone()),
    ));
    if o.schema == n.schema {
        let (od, nd) = (
            schema_digest(old_plan, &o.schema),
            schema_digest(new_plan, &n.schema),
        );
        if od != nd {
            out.push(Entry::changed(
                "schema contents",
                Some(&n.schema),
                od.unwrap_or("?").to_string(),
                nd.unwrap_or("?").to_string(),
            ));
        }
    }
    // Tables and columns the plan starts or stops using follow from field changes, shown under
    // the table mappings; here only what the schema says about the ones used in both.
    for (name, ot) in &o.tables {
        if let Some(nt) = n.tables.get(name) {
            let details = table_info(ot, nt);
            if !details.is_empty() {
                out.push(Entry::new(Change::Changed, "table", Some(name)).with_details(details));
            }
        }
    }
    out
}

fn table_info(o: &TableInfo, n: &TableInfo) -> Vec<Entry> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    let mut out = Vec::new();
    out.extend(compare(
        "key",
        None,
        Some(o.key.clone()),
        Some(n.key.clone()),
    ));
    out.extend(compare(
        "modified on",
        None,
        Some(opt(&o.modified_on)),
        Some(opt(&n.modified_on)),
    ));
    out.extend(compare(
        "entity type",
        None,
        Some(opt(&o.entity_type)),
        Some(opt(&n.entity_type)),
    ));
    for (name, oc) in &o.columns {
        if let Some(nc) = n.columns.get(name) {
            out.extend(compare(
                "column",
                Some(name),
                Some(column(oc)),
                Some(column(nc)),
            ));
        }
    }
    out
}

fn column(c: &ColumnInfo) -> String {
    let mut s = c.ty.clone();
    if let Some(m) = c.max_length {
        s.push_str(&format!("({m})"));
    }
    if !c.targets.is_empty() {
        s.push_str(&format!(" → {}", c.targets.join(" | ")));
    }
    s
}

// ---- table mappings --------------------------------------------------------------------

fn tables(old: &Plan, new: &Plan) -> Vec<Entry> {
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

fn pass_name(dest: Side) -> &'static str {
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
    let od: BTreeSet<&String> = o.depends_on.iter().collect();
    let nd: BTreeSet<&String> = n.depends_on.iter().collect();
    for d in od.difference(&nd) {
        out.push(Entry::removed("after", None, d.to_string()));
    }
    for d in nd.difference(&od) {
        out.push(Entry::added("after", None, d.to_string()));
    }
    for dest in [Side::Right, Side::Left] {
        out.extend(pass(o, n, dest));
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

/// Field operations of the pass writing `dest`, matched by destination column.
fn pass(o: &Table, n: &Table, dest: Side) -> Vec<Entry> {
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
fn field(p: &Pass, f: &FieldOp) -> String {
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

// ---- human text ------------------------------------------------------------------------

/// The summary as lines of text: `+` added, `-` removed, `~` changed, details indented under
/// what they belong to, and a closing count. `no changes` when the plans agree.
pub fn render(d: &PlanDiff) -> String {
    if !d.changed {
        return "no changes\n".into();
    }
    let mut out = format!("plan {} → {}\n", short(&d.old_digest), short(&d.new_digest));
    let sections = [&d.tables, &d.jobs, &d.functions, &d.systems, &d.sources];
    for entries in sections {
        if entries.is_empty() {
            continue;
        }
        out.push('\n');
        for e in entries {
            line(&mut out, e, 0);
        }
    }
    if let Some(c) = &d.compiler {
        out.push('\n');
        line(&mut out, c, 0);
    }
    let c = &d.counts;
    out.push_str(&format!(
        "\ntable mappings: {} added, {} changed, {} removed; fields: {} added, {} changed, {} removed\n",
        c.tables_added,
        c.tables_changed,
        c.tables_removed,
        c.fields_added,
        c.fields_changed,
        c.fields_removed
    ));
    out
}

/// `sha256:0123456789ab`: enough of a digest to tell two apart.
fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

fn line(out: &mut String, e: &Entry, depth: usize) {
    out.push_str(&"    ".repeat(depth));
    out.push(e.change.sigil());
    out.push(' ');
    out.push_str(&e.kind);
    if let Some(name) = &e.name {
        out.push(' ');
        out.push_str(name);
    }
    if e.kind == "field" {
        if let Some(p) = &e.pass {
            out.push_str(match p.as_str() {
                "left_to_right" => " (->)",
                _ => " (<-)",
            });
        }
    }
    let digests = e.kind == "source" || e.kind == "schema contents";
    let text = |s: &String| {
        if digests {
            short(s).to_string()
        } else {
            s.clone()
        }
    };
    match (&e.old, &e.new) {
        (Some(o), Some(n)) => out.push_str(&format!(": {} → {}", text(o), text(n))),
        (Some(v), None) | (None, Some(v)) => out.push_str(&format!(": {}", text(v))),
        (None, None) => {}
    }
    out.push('\n');
    for d in &e.details {
        line(out, d, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::model::{Expr, Literal};

    fn op(id: &str, target: &str, value: Expr, phase: Phase) -> FieldOp {
        FieldOp {
            id: id.into(),
            origin: "t.map:1:1".into(),
            target: target.into(),
            value,
            phase,
            not_null: false,
            clear_on_failure: false,
            two_way: false,
            truncate: None,
        }
    }

    fn plan(ops: Vec<FieldOp>, flow: Flow) -> Plan {
        let side = |system: &str, table: &str| super::super::model::TableSide {
            system: system.into(),
            table: table.into(),
            filter: None,
        };
        Plan {
            format_version: 1,
            compiler: "syncmap 0".into(),
            digest: "sha256:0".into(),
            sources: Vec::new(),
            systems: BTreeMap::new(),
            tables: vec![Table {
                name: "t".into(),
                origin: "t.map:1:1".into(),
                left: side("bc", "a"),
                right: side("dv", "b"),
                flow,
                depends_on: Vec::new(),
                match_rules: Vec::new(),
                create: vec![Side::Right],
                only_coupled: true,
                on_conflict: ConflictRule::Fail,
                on_delete: DeleteRule::Fail,
                left_to_right: Some(Pass {
                    source: Side::Left,
                    dest: Side::Right,
                    ops,
                }),
                right_to_left: None,
            }],
            functions: BTreeMap::new(),
            jobs: BTreeMap::new(),
        }
    }

    fn col(c: &str) -> Expr {
        Expr::Col(c.into())
    }

    #[test]
    fn identical_plans_have_no_changes() {
        let p = plan(
            vec![op("t#1", "x", col("a"), Phase::Always)],
            Flow::LeftToRight,
        );
        let d = diff(&p, &p);
        assert!(!d.changed);
        assert_eq!(render(&d), "no changes\n");
    }

    #[test]
    fn fields_are_matched_by_target_not_id() {
        // Inserting a field first shifts every id; only the new one is reported.
        let old = plan(
            vec![
                op("t#1", "x", col("a"), Phase::Always),
                op("t#2", "y", col("b"), Phase::Always),
            ],
            Flow::LeftToRight,
        );
        let new = plan(
            vec![
                op("t#1", "w", col("c"), Phase::Always),
                op("t#2", "x", col("a"), Phase::Always),
                op("t#3", "y", col("b"), Phase::Create),
            ],
            Flow::LeftToRight,
        );
        let d = diff(&old, &new);
        let text = render(&d);
        assert!(text.contains("    + field w (->): c -> w\n"), "{text}");
        assert!(text.contains("    ~ field y (->)\n"), "{text}");
        assert!(
            text.contains("        ~ modifiers: none → [create only]\n"),
            "{text}"
        );
        assert!(!text.contains("field x"), "{text}");
        assert_eq!(d.counts.fields_added, 1);
        assert_eq!(d.counts.fields_changed, 1);
        assert_eq!(d.counts.fields_removed, 0);
    }

    #[test]
    fn create_and_update_ops_of_one_column_pair_by_phase() {
        let old = plan(
            vec![
                op("t#1", "x", col("a"), Phase::Create),
                op("t#2", "x", col("b"), Phase::Update),
            ],
            Flow::LeftToRight,
        );
        let new = plan(
            vec![
                op("t#1", "x", col("b"), Phase::Update),
                op("t#2", "x", col("c"), Phase::Create),
            ],
            Flow::LeftToRight,
        );
        let text = render(&diff(&old, &new));
        assert!(text.contains("        ~ value: a → c\n"), "{text}");
        assert_eq!(text.matches("~ field x").count(), 1, "{text}");
    }

    #[test]
    fn a_new_direction_is_one_pass_line_with_its_fields() {
        let old = plan(
            vec![op("t#1", "x", col("a"), Phase::Always)],
            Flow::LeftToRight,
        );
        let mut new = old.clone();
        new.tables[0].flow = Flow::Both;
        new.tables[0].right_to_left = Some(Pass {
            source: Side::Right,
            dest: Side::Left,
            ops: vec![op(
                "t#1",
                "a",
                Expr::Lit(Literal::String("k".into())),
                Phase::Always,
            )],
        });
        let text = render(&diff(&old, &new));
        assert!(
            text.contains("~ table t: bc.a -> dv.b → bc.a <-> dv.b\n"),
            "{text}"
        );
        assert!(text.contains("    ~ flow: -> → <->\n"), "{text}");
        assert!(text.contains("    + pass bc <- dv: 1 field\n"), "{text}");
        assert!(
            text.contains("        + field a (<-): a <- \"k\"\n"),
            "{text}"
        );
    }
}
