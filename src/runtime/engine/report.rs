//! What a run did, per table mapping and direction: counts, and (for dry runs) every change it
//! would make with field-level before and after.

use serde::Serialize;

use crate::state::{Counts, FailureKind, FieldDifference};
use crate::value::Value;

/// The outcome of a run, as `syncmap run --json` prints it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RunReport {
    /// The run's id in the state store (none for a dry run, which records nothing).
    pub run_id: Option<i64>,
    /// `full`, `modified`, `record`, `resolve`, …
    pub mode: String,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// How long it took.
    pub duration_ms: u64,
    /// How it ended: `succeeded`, `completed_with_failures` (some records failed; they are
    /// retried by the next run), `interrupted` or `failed`.
    pub status: String,
    /// What the run left undone that a person may expect done, and how to do it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    /// Whether it was stopped (by a signal) before every pass finished; the passes cut short
    /// or not started are left to the next run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Per table mapping and direction, in the order they ran.
    pub tables: Vec<PassReport>,
}

impl RunReport {
    /// The counts of all passes added up.
    pub fn totals(&self) -> Counts {
        let mut t = Counts::default();
        for p in &self.tables {
            t.add(&p.counts);
        }
        t
    }

    /// The pass of a table mapping and direction.
    pub fn pass(&self, mapping: &str, direction: &str) -> Option<&PassReport> {
        self.tables
            .iter()
            .find(|p| p.mapping == mapping && p.direction == direction)
    }
}

impl PassReport {
    /// The pass's direction as every output words it: the systems, `bc → dv`.
    pub fn route(&self) -> String {
        format!(
            "{} → {}",
            self.source.split('.').next().unwrap_or(""),
            self.dest.split('.').next().unwrap_or("")
        )
    }
}

/// One table mapping in one direction.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PassReport {
    /// The table mapping.
    pub mapping: String,
    /// `left_to_right` or `right_to_left`.
    pub direction: String,
    /// `system.table` read.
    pub source: String,
    /// `system.table` written.
    pub dest: String,
    /// What happened.
    #[serde(flatten)]
    pub counts: Counts,
    /// Of the skipped, records left alone because they are not coupled and the run syncs
    /// coupled records only (a modified-only run of a mapping with `only coupled`).
    #[serde(skip_serializing_if = "is_zero")]
    pub not_coupled: u64,
    /// Changes made (dry run: that would be made), up to [`MAX_CHANGES`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Changes beyond [`MAX_CHANGES`] that were counted but not listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub changes_not_listed: u64,
    /// Per-record errors of this pass.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<RecordFailure>,
    /// How the source was read, where it was not the usual way (a record of changes that
    /// could not be followed); also among the run's hints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_note: Option<String>,
    /// Seconds from each change's modified-on at its source to its write at the destination,
    /// in modified-only runs (up to [`MAX_CHANGES`]), for the scheduler's latency metric.
    #[serde(skip)]
    pub latencies: Vec<f64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Changes listed per pass; the rest are only counted, so memory stays bounded.
pub const MAX_CHANGES: usize = 1000;

impl PassReport {
    /// Adds what another part of the same pass did: its counts, changes and failures.
    pub(crate) fn absorb(&mut self, other: PassReport) {
        self.counts.add(&other.counts);
        self.not_coupled += other.not_coupled;
        for c in other.changes {
            self.change(c);
        }
        self.changes_not_listed += other.changes_not_listed;
        let room = MAX_CHANGES.saturating_sub(self.latencies.len());
        self.latencies
            .extend(other.latencies.into_iter().take(room));
        let room = MAX_CHANGES.saturating_sub(self.errors.len());
        self.errors.extend(other.errors.into_iter().take(room));
    }

    /// Notes how long a change written now took to come across since its source's
    /// modified-on (a clock ahead of this one counts as no time).
    pub(crate) fn note_latency(&mut self, modified_on: Option<jiff::Timestamp>) {
        let Some(at) = modified_on else {
            return;
        };
        if self.latencies.len() < MAX_CHANGES {
            let secs = jiff::Timestamp::now().duration_since(at).as_secs_f64();
            self.latencies.push(secs.max(0.0));
        }
    }

    /// Adds a change to the list, or counts it when the list is full.
    pub fn change(&mut self, c: Change) {
        if self.changes.len() < MAX_CHANGES {
            self.changes.push(c);
        } else {
            self.changes_not_listed += 1;
        }
    }
}

/// One change to a destination record.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    /// `insert`, `update`, `delete`, `couple`, `uncouple`, `conflict`.
    pub kind: String,
    /// The source record.
    pub source_key: String,
    /// The source record as a person knows it (number · name), when it has such columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The destination record (none for an insert whose key the system chooses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest_key: Option<String>,
    /// Fields written, with the destination's value before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Why, for conflicts and deletions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Change {
    /// A change of `kind` to the partner `dest_key` of `source_key`, without fields or note.
    pub fn new(kind: &str, source_key: &str, dest_key: Option<&str>) -> Change {
        Change {
            kind: kind.into(),
            source_key: source_key.into(),
            label: None,
            dest_key: dest_key.map(Into::into),
            fields: Vec::new(),
            note: None,
        }
    }

    /// With the fields written.
    pub fn fields(mut self, fields: Vec<FieldChange>) -> Change {
        self.fields = fields;
        self
    }

    /// With why.
    pub fn note(mut self, note: impl Into<String>) -> Change {
        self.note = Some(note.into());
        self
    }
}

/// A field's value before and after.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldChange {
    /// The destination column.
    pub column: String,
    /// Its value before (none on insert).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Its value after.
    pub after: String,
}

impl FieldChange {
    /// A change shown with each value's display form.
    pub fn new(column: &str, before: Option<&Value>, after: &Value) -> Self {
        FieldChange {
            column: column.to_string(),
            before: before.map(|v| v.to_string()),
            after: after.to_string(),
        }
    }
}

/// A record that failed in a pass.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecordFailure {
    /// The source record.
    pub source_key: String,
    /// The destination record, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest_key: Option<String>,
    /// What a person knows the record by (its number and name), when the run read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What went wrong.
    pub message: String,
    /// Whether it is now skipped (failed twice the same way).
    pub skipped: bool,
    /// What kind of failure it is.
    #[serde(skip_serializing_if = "is_plain_error")]
    pub kind: FailureKind,
    /// For a conflict: both sides' values of each two-way field that differs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<FieldDifference>,
}

fn is_plain_error(kind: &FailureKind) -> bool {
    *kind == FailureKind::Error
}

/// The report as a table for people.
pub fn human(r: &RunReport) -> String {
    let mut out = heading(r);
    out.push_str(&counts_table(r));
    for p in &r.tables {
        for e in &p.errors {
            out.push_str(&format!(
                "  failed {} {} `{}`{}: {}{}\n",
                p.mapping,
                p.route(),
                e.source_key,
                known_as(e.label.as_deref()),
                e.message,
                if e.skipped {
                    " (skipped until `syncmap retry`)"
                } else {
                    ""
                }
            ));
        }
    }
    for h in &r.hints {
        out.push_str(&format!("hint: {h}\n"));
    }
    // A dry run lists what it would change; settling by hand lists what it changed.
    if r.dry_run || r.mode == "resolve" {
        for p in &r.tables {
            out.push_str(&listed_changes(p, r.dry_run));
        }
    }
    out
}

/// ` (C00010 · Contoso Ltd.)` after a key, when the record has such a label.
fn known_as(label: Option<&str>) -> String {
    label.map(|l| format!(" ({l})")).unwrap_or_default()
}

/// What ran and how it ended, on a line of its own (and why it stopped, when it did).
fn heading(r: &RunReport) -> String {
    let title = if r.dry_run {
        "dry run (nothing written)".to_string()
    } else {
        format!("run {}", r.run_id.unwrap_or(0))
    };
    let mut out = format!("{title}: {} sync, {} ms", r.mode, r.duration_ms);
    if !r.dry_run && !r.status.is_empty() {
        out.push_str(&format!(", {}", status_words(&r.status)));
    }
    out.push('\n');
    if r.interrupted {
        out.push_str(
            "interrupted: stopped after the batch in flight; the next run goes on from there\n",
        );
    }
    out
}

/// One line of counts per table mapping and direction, under a header.
fn counts_table(r: &RunReport) -> String {
    // As wide as the longest table mapping's name, so the columns line up whatever the names.
    let w = r
        .tables
        .iter()
        .map(|p| p.mapping.chars().count())
        .fold(14, usize::max);
    let line = |cells: [&dyn std::fmt::Display; 11]| {
        let [a, b, c, d, e, f, g, h, i, j, k] = cells;
        format!("{a:<w$} {b:<22} {c:>8} {d:>8} {e:>9} {f:>7} {g:>6} {h:>9} {i:>7} {j:>9} {k:>7}\n")
    };
    let mut out = line([
        &"table",
        &"direction",
        &"inserted",
        &"modified",
        &"unchanged",
        &"skipped",
        &"failed",
        &"conflicts",
        &"deleted",
        &"uncoupled",
        &"coupled",
    ]);
    for p in &r.tables {
        let c = &p.counts;
        out.push_str(&line([
            &p.mapping,
            &p.route(),
            &c.inserted,
            &c.modified,
            &c.unchanged,
            &c.skipped,
            &c.failed,
            &c.conflicts,
            &c.deleted,
            &c.uncoupled,
            &c.coupled,
        ]));
    }
    out
}

/// A dry run's changes of one pass, each with its fields before and after.
fn listed_changes(p: &PassReport, would: bool) -> String {
    let mut out = String::new();
    for c in &p.changes {
        let target = c.dest_key.as_deref().unwrap_or("(new)");
        let verb = match (would, c.kind.as_str()) {
            (true, kind) => format!("would {kind}"),
            (false, "conflict") => "conflict in".to_string(),
            (false, kind) => past(kind),
        };
        out.push_str(&format!(
            "  {verb} {} {} `{}` ← `{}`{}",
            p.mapping,
            p.dest,
            target,
            c.source_key,
            known_as(c.label.as_deref())
        ));
        if let Some(n) = &c.note {
            out.push_str(&format!(" ({n})"));
        }
        out.push('\n');
        for f in &c.fields {
            match &f.before {
                Some(b) => out.push_str(&format!("      {}: {b} → {}\n", f.column, f.after)),
                None => out.push_str(&format!("      {}: {}\n", f.column, f.after)),
            }
        }
    }
    if p.changes_not_listed > 0 {
        out.push_str(&format!(
            "  … and {} more changes in {} {}\n",
            p.changes_not_listed, p.mapping, p.direction
        ));
    }
    out
}

/// What a change did, in the past tense (`update` → `updated`).
fn past(kind: &str) -> String {
    match kind.strip_suffix('e') {
        Some(stem) => format!("{stem}ed"),
        None => format!("{kind}ed"),
    }
}

/// The words people read for a stored status (`completed_with_failures` → "completed with
/// failures").
pub fn status_words(status: &str) -> String {
    status.replace('_', " ")
}
