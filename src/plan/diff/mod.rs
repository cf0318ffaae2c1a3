//! What a change to the mappings does, computed from two compiled plans (`syncmap diff`): table
//! mappings, fields, filters, directions, rules, jobs, functions, systems and source files added,
//! removed or changed, for code review.
//!
//! Things are matched by what a reviewer would call them, never by position or id: tables, jobs,
//! functions and systems by name, field operations by their pass and destination column (ids count
//! field lines and shift when one is inserted). Origins (`file:line:column`) are left out: moving
//! a line changes nothing a run does.
//!
//! This file holds the entries, the entry point, jobs and functions, and the text rendering;
//! tables, fields and systems are compared in the files named after them.

mod fields;
mod systems;
mod tables;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::display;
use super::model::{Function, Job, Plan, SyncMode};
use crate::syntax::format::duration;
use systems::{sources, systems};
use tables::tables;

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
    use crate::plan::model::{
        ConflictRule, DeleteRule, Expr, FieldOp, Flow, Literal, Pass, Phase, Side, Table,
    };

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
            on_conflict: None,
        }
    }

    fn plan(ops: Vec<FieldOp>, flow: Flow) -> Plan {
        let side = |system: &str, table: &str| crate::plan::model::TableSide {
            system: system.into(),
            table: table.into(),
            filter: None,
            company: None,
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
            compiled: None,
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
