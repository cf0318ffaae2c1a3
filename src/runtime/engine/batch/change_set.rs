//! Reviewed change sets, a Terraform plan for data: a dry run writes every write it would make
//! (`syncmap run --dry-run -o changes.json`) with the versions of both rows it saw; a person
//! reviews it (`syncmap show`); `syncmap apply` then makes exactly those writes, with the
//! values reviewed, and refuses each record whose row moved on either side since — its version
//! (or modified-on) differs, a coupling appeared or went — reporting it instead.
//!
//! Applying goes through the same batches as a run: intents first, lost answers settled,
//! couplings and the write log committed with the outcome. A change set applied twice writes
//! nothing the second time: every row it wrote has moved since the review.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::execute::Planned;
use super::{Pending, PendingKind};
use crate::connectors::{Connector, Row, TableRef, WriteOp};
use crate::runtime::engine::report::{self, PassReport, RecordFailure, RunReport};
use crate::runtime::engine::{Engine, EngineError, Mode, Pass};
use crate::state::{Coupling, Direction, FailureKind};
use crate::value::Value;

/// The version of the change-set format this build writes and reads.
pub const CHANGE_SET_FORMAT: u32 = 1;

/// Every write a dry run would make, for review and `apply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeSet {
    /// [`CHANGE_SET_FORMAT`].
    pub format: u32,
    /// The digest of the plan the dry run ran: `apply` refuses another plan's change set.
    pub plan_digest: String,
    /// Where each system was, by alias (URL and company, without credentials): `apply`
    /// refuses to write a change set reviewed against other systems.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, String>,
    /// When the dry run started (RFC 3339).
    pub created_at: String,
    /// `full` or `modified`.
    pub mode: String,
    /// The writes, in the order the run would have made them.
    pub writes: Vec<PlannedWrite>,
}

/// One write of a change set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedWrite {
    /// The table mapping.
    pub table: String,
    /// `left_to_right` or `right_to_left`.
    pub direction: String,
    /// `insert` (a partner created), `update` (the partner brought up to date), `delete` (the
    /// source deleted, as its partner was).
    pub action: String,
    /// The source record's key.
    pub source_key: String,
    /// The source row's version when reviewed.
    pub source_version: RowVersion,
    /// The partner: the row updated, the key an insert creates its row with (none where the
    /// system chooses it), the deleted partner of a deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_key: Option<String>,
    /// The partner row's version when reviewed (updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_version: Option<RowVersion>,
    /// An update of a partner the match rules found: applying it couples the pair.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub matched: bool,
    /// An insert that restores this deleted partner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restores: Option<String>,
    /// The values written, with the partner's before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldWrite>,
}

/// A row's version as its system states it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RowVersion {
    /// Its ETag, where the system has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Its modified-on (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_on: Option<String>,
    /// Where the system gives neither (a choice's options), a fingerprint of every value of
    /// the row (`sha256:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<String>,
}

impl RowVersion {
    fn of(row: &Row) -> RowVersion {
        let versionless = row.etag.is_none() && row.modified_on.is_none();
        RowVersion {
            etag: row.etag.clone(),
            modified_on: row.modified_on.map(|t| t.to_string()),
            values: versionless.then(|| fingerprint(row)),
        }
    }

    /// Whether the row is as it was reviewed: same ETag where there was one, else the same
    /// modified-on, else the same values. A row reviewed without any of them cannot be told
    /// unchanged, and is refused.
    fn holds_for(&self, row: &Row) -> bool {
        match (&self.etag, &self.modified_on, &self.values) {
            (Some(etag), _, _) => row.etag.as_ref() == Some(etag),
            (None, Some(_), _) => RowVersion::of(row).modified_on == self.modified_on,
            (None, None, Some(values)) => fingerprint(row) == *values,
            (None, None, None) => false,
        }
    }
}

/// A fingerprint of every value of a row, for rows whose system gives them no version.
fn fingerprint(row: &Row) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (column, value) in &row.fields {
        hash.update(format!("{column}={value}\n").as_bytes());
    }
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// One column written (values as JSON, decimals exact).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldWrite {
    /// The partner's column.
    pub column: String,
    /// Its value before (absent for an insert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    /// Its value after.
    pub after: serde_json::Value,
}

/// Where a dry run collects its writes when asked for a change set.
pub(crate) type Collected = RefCell<Option<Vec<PlannedWrite>>>;

impl<'a> Engine<'a> {
    /// Collects, in a dry run, every write it would make (see [`Engine::take_change_set`]).
    pub fn with_change_set(self) -> Self {
        self.change_set.replace(Some(Vec::new()));
        self
    }

    /// The change set of the dry run just made, when one was asked for.
    pub fn take_change_set(&self, report: &RunReport) -> Option<ChangeSet> {
        let mut writes = self.change_set.borrow_mut().take()?;
        // A row met twice (a service paging by offset repeats rows) keeps its last write.
        let mut last = HashMap::new();
        for (i, w) in writes.iter().enumerate() {
            last.insert(
                (w.table.clone(), w.direction.clone(), w.source_key.clone()),
                i,
            );
        }
        let mut i = 0;
        writes.retain(|w| {
            i += 1;
            last.get(&(w.table.clone(), w.direction.clone(), w.source_key.clone()))
                == Some(&(i - 1))
        });
        Some(ChangeSet {
            format: CHANGE_SET_FORMAT,
            plan_digest: self.plan.digest.clone(),
            targets: BTreeMap::new(),
            created_at: report.started_at.clone(),
            mode: report.mode.clone(),
            writes,
        })
    }

    /// Adds a dry run's planned write to the change set, when one is collected.
    pub(super) fn collect_write(&self, pass: &Pass<'a>, p: &Planned) {
        let mut collected = self.change_set.borrow_mut();
        let Some(writes) = collected.as_mut() else {
            return;
        };
        let row = &p.pending.row;
        let mut w = PlannedWrite {
            table: pass.table.name.clone(),
            direction: pass.dir.as_str().to_string(),
            action: String::new(),
            source_key: row.key.clone(),
            source_version: RowVersion::of(row),
            dest_key: None,
            dest_version: None,
            matched: false,
            restores: None,
            fields: Vec::new(),
        };
        match (&p.pending.kind, &p.op) {
            (PendingKind::Create { key, replaces }, Some(WriteOp::Create { fields, .. })) => {
                w.action = "insert".into();
                w.dest_key = key.clone();
                w.restores = replaces
                    .as_ref()
                    .map(|c| c.key(pass.dir.dest()).to_string());
                w.fields = field_writes(fields, None);
            }
            (
                PendingKind::Update {
                    dest,
                    new_coupling: true,
                    ..
                },
                None,
            ) => {
                w.action = "couple".into();
                w.dest_key = Some(dest.key.clone());
                w.dest_version = Some(RowVersion::of(dest));
                w.matched = true;
            }
            (
                PendingKind::Update {
                    dest, new_coupling, ..
                },
                Some(WriteOp::Update { fields, .. }),
            ) => {
                w.action = "update".into();
                w.dest_key = Some(dest.key.clone());
                w.dest_version = Some(RowVersion::of(dest));
                w.matched = *new_coupling;
                w.fields = field_writes(fields, Some(dest));
            }
            (PendingKind::DeleteSource { coupling }, _) => {
                w.action = "delete".into();
                w.dest_key = Some(coupling.key(pass.dir.dest()).to_string());
            }
            _ => return,
        }
        writes.push(w);
    }

    /// Makes exactly the writes of a reviewed change set, refusing each record that moved on
    /// either side since the review.
    pub async fn apply(&mut self, set: &ChangeSet) -> Result<RunReport, EngineError> {
        if set.format != CHANGE_SET_FORMAT {
            return Err(EngineError::Request(format!(
                "the change set is of format {}; this syncmap reads format {CHANGE_SET_FORMAT}",
                set.format
            )));
        }
        if set.plan_digest != self.plan.digest {
            return Err(EngineError::Request(format!(
                "the change set was made with another plan (digest {}, this one {}); review a new one with `syncmap run --dry-run -o FILE`",
                set.plan_digest, self.plan.digest
            )));
        }
        let groups = groups(&set.writes)?;
        let tables: Vec<String> = groups.iter().map(|g| g.0.to_string()).collect();
        let mut report = self.begin("apply", "manual", &tables, false)?;
        let mut reports = Vec::new();
        let outcome = async {
            for (table, dir, writes) in &groups {
                let mut pr = PassReport::default();
                let completed = self.apply_group(table, *dir, writes, &mut pr).await;
                reports.push(pr);
                if !completed? {
                    return Ok(false);
                }
            }
            Ok::<bool, EngineError>(true)
        }
        .await;
        report.tables.extend(reports);
        report.interrupted = matches!(outcome, Ok(false));
        self.end(&mut report, outcome.map(|_| ()))?;
        Ok(report)
    }

    /// Applies the reviewed writes of one table mapping in one direction; false when a stop
    /// cut it short (after a batch).
    async fn apply_group(
        &self,
        table: &str,
        dir: Direction,
        writes: &[&PlannedWrite],
        pr: &mut PassReport,
    ) -> Result<bool, EngineError> {
        let t = self.table(table)?;
        let pass = self.pass(t, dir, Mode::Modified, true)?;
        *pr = pass.report();
        // Writes an interrupted run left unsettled first, as every run does; a record one of
        // them could not settle is left to a person, not written again.
        self.reconcile_table(t, Mode::Modified, pr).await?;
        let mut seen = Seen {
            open: (self.store.intents(&t.name, dir)?.into_iter())
                .map(|i| i.source_key)
                .collect(),
            ..Seen::default()
        };
        for chunk in writes.chunks(self.options.batch_size.max(1)) {
            let pending = self.reviewed(&pass, chunk, &mut seen, pr).await?;
            self.execute(&pass, pending, pr).await?;
            if self.cancelled() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The pending writes of a chunk of reviewed writes whose rows are as reviewed; the others
    /// are refused and reported.
    async fn reviewed(
        &self,
        pass: &Pass<'a>,
        chunk: &[&PlannedWrite],
        seen: &mut Seen,
        pr: &mut PassReport,
    ) -> Result<Vec<Pending>, EngineError> {
        let now = self.as_they_are(pass, chunk).await?;
        let mut pending = Vec::new();
        for w in chunk {
            let checked = seen
                .admit(w)
                .and_then(|()| self.still_as_reviewed(pass, w, &now));
            match checked {
                Ok(p) => pending.push(p),
                Err(why) => refuse(pr, w, &why),
            }
        }
        Ok(pending)
    }

    /// Both sides' rows and couplings of a chunk, as they are now.
    async fn as_they_are(
        &self,
        pass: &Pass<'a>,
        chunk: &[&PlannedWrite],
    ) -> Result<Now, EngineError> {
        let (s, d) = (pass.dir.source(), pass.dir.dest());
        let source_keys: Vec<String> = chunk.iter().map(|w| w.source_key.clone()).collect();
        let dest_keys: Vec<String> = chunk
            .iter()
            .flat_map(|w| w.dest_key.iter().chain(&w.restores))
            .cloned()
            .collect();
        let mut dests = self
            .rows_by_key(pass.dst_system, pass.dst, &dest_keys)
            .await?;
        // A partner whose absence a write acts on (a deletion propagated, a partner restored)
        // is asked for alone: only a row the system says is gone counts as gone.
        let gone = chunk.iter().filter_map(|w| match w.action.as_str() {
            "delete" => w.dest_key.as_ref(),
            _ => w.restores.as_ref(),
        });
        for key in gone
            .filter(|k| !dests.contains_key(*k))
            .cloned()
            .collect::<Vec<_>>()
        {
            let again = self
                .rows_by_key(pass.dst_system, pass.dst, std::slice::from_ref(&key))
                .await?;
            dests.extend(again);
        }
        let mapping = &pass.table.name;
        Ok(Now {
            sources: self
                .rows_by_key(pass.src_system, pass.src, &source_keys)
                .await?,
            dests,
            by_source: self.store.couplings(mapping, s, &source_keys)?,
            by_dest: self.store.couplings(mapping, d, &dest_keys)?,
            kept: self.kept_create_keys(pass, &source_keys)?,
        })
    }

    /// The rows with these keys, by key.
    async fn rows_by_key(
        &self,
        system: &str,
        table: TableRef<'_>,
        keys: &[String],
    ) -> Result<HashMap<String, Row>, EngineError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = self
            .systems
            .get(system)?
            .get(table, keys)
            .await
            .map_err(EngineError::from_connector)?;
        Ok(rows.into_iter().map(|r| (r.key.clone(), r)).collect())
    }

    /// The pending write of a reviewed write, or why its record moved since the review.
    fn still_as_reviewed(
        &self,
        pass: &Pass<'a>,
        w: &PlannedWrite,
        now: &Now,
    ) -> Result<Pending, String> {
        let d = pass.dir.dest();
        let row = now
            .sources
            .get(&w.source_key)
            .ok_or("its source row is gone")?;
        if !w.source_version.holds_for(row) {
            return Err("its source row changed since the review".into());
        }
        let coupling = now.by_source.get(&w.source_key);
        let dest_key = w.dest_key.as_deref();
        let dest = dest_key.and_then(|k| now.dests.get(k));
        let kind = match w.action.as_str() {
            "insert" => {
                let insert = reviewed_insert(pass, w, coupling, dest, now)?;
                if now.kept.contains_key(&w.source_key) {
                    // The reviewed key is the kept one (`reviewed_insert` saw to it).
                    self.kept_or_fresh_key(pass, &w.source_key, w.dest_key.clone());
                }
                insert
            }
            // A pair the match rules found with nothing to write is coupled the same way.
            "update" | "couple" => {
                let dest = dest.ok_or("its partner row is gone")?;
                reviewed_update(pass, w, coupling, dest, now)?
            }
            "delete" => match coupling {
                Some(c) if Some(c.key(d)) == dest_key && dest.is_none() => {
                    PendingKind::DeleteSource {
                        coupling: c.clone(),
                    }
                }
                _ => return Err("its partner is there again, or it was uncoupled".into()),
            },
            other => return Err(format!("`{other}` is not a write `apply` makes")),
        };
        Ok(Pending {
            row: row.clone(),
            kind,
            fields: reviewed_values(pass, w)?,
        })
    }
}

/// A reviewed insert, where its record is still uncoupled (or still coupled to the deleted
/// partner it restores) and its key still free.
fn reviewed_insert(
    pass: &Pass<'_>,
    w: &PlannedWrite,
    coupling: Option<&Coupling>,
    dest: Option<&Row>,
    now: &Now,
) -> Result<PendingKind, String> {
    let d = pass.dir.dest();
    let replaces = match (&w.restores, coupling) {
        (None, None) => None,
        (Some(gone), Some(c)) if c.key(d) == gone && !now.dests.contains_key(gone) => {
            Some(c.clone())
        }
        _ => return Err("it was coupled or uncoupled since the review".into()),
    };
    if dest.is_some() {
        return Err("its partner's key is taken since the review".into());
    }
    // An earlier create of it, not found, may still arrive under the key kept for it: made
    // under another, the record would end up twice.
    let kept = now.kept.get(&w.source_key);
    if kept.is_some_and(|k| w.dest_key.as_ref() != Some(k)) {
        return Err(
            "an earlier create of it may still arrive under another key: review it again".into(),
        );
    }
    Ok(PendingKind::Create {
        key: w.dest_key.clone(),
        replaces,
    })
}

/// A reviewed update, where its partner is as reviewed and the pair coupled as it was (or,
/// for a matched partner, both still uncoupled).
fn reviewed_update(
    pass: &Pass<'_>,
    w: &PlannedWrite,
    coupling: Option<&Coupling>,
    dest: &Row,
    now: &Now,
) -> Result<PendingKind, String> {
    let version = w.dest_version.as_ref();
    if !version.is_some_and(|v| v.holds_for(dest)) {
        return Err("its partner row changed since the review".into());
    }
    let coupling = match (w.matched, coupling) {
        (false, Some(c)) if c.key(pass.dir.dest()) == dest.key => c.clone(),
        (true, None) if !now.by_dest.contains_key(&dest.key) => {
            pass.coupling(&w.source_key, &dest.key)
        }
        _ => return Err("it was coupled or uncoupled since the review".into()),
    };
    Ok(PendingKind::Update {
        coupling,
        dest: dest.clone(),
        new_coupling: w.matched,
    })
}

/// The values a write sets, with the partner's before (an update's).
fn field_writes(fields: &BTreeMap<String, Value>, dest: Option<&Row>) -> Vec<FieldWrite> {
    fields
        .iter()
        .filter(|(_, v)| !v.is_absent())
        .map(|(k, v)| FieldWrite {
            column: k.clone(),
            before: dest.and_then(|d| d.fields.get(k)).map(Value::to_json),
            after: v.to_json(),
        })
        .collect()
}

/// What earlier writes of the same group hold: records a write to which is still unsettled,
/// and the records and partners already written, each of which a change set writes once.
#[derive(Default)]
struct Seen {
    open: std::collections::HashSet<String>,
    sources: std::collections::HashSet<String>,
    dests: std::collections::HashSet<String>,
}

impl Seen {
    fn admit(&mut self, w: &PlannedWrite) -> Result<(), String> {
        if self.open.contains(&w.source_key) {
            return Err("a write to it is still unsettled (`syncmap errors`)".into());
        }
        let partner_again = w
            .dest_key
            .as_ref()
            .is_some_and(|k| !self.dests.insert(k.clone()));
        if !self.sources.insert(w.source_key.clone()) || partner_again {
            return Err("it appears more than once in the change set".into());
        }
        Ok(())
    }
}

/// Both sides as they are now, for a chunk of reviewed writes.
struct Now {
    sources: HashMap<String, Row>,
    dests: HashMap<String, Row>,
    by_source: HashMap<String, Coupling>,
    by_dest: HashMap<String, Coupling>,
    /// The keys kept for records' creates (see `state/create_keys.rs`), by source key.
    kept: HashMap<String, String>,
}

/// The reviewed values, typed by the partner's columns.
fn reviewed_values(pass: &Pass<'_>, w: &PlannedWrite) -> Result<BTreeMap<String, Value>, String> {
    w.fields
        .iter()
        .map(|f| {
            let kind = pass.dst.info.columns.get(&f.column).map(|c| c.ty);
            let value = Value::from_json(&f.after, kind)
                .map_err(|e| format!("`{}`: its reviewed value cannot be read: {e}", f.column))?;
            Ok((f.column.clone(), value))
        })
        .collect()
}

/// Reports a reviewed write refused, with why; nothing is written for its record.
fn refuse(pr: &mut PassReport, w: &PlannedWrite, why: &str) {
    pr.counts.failed += 1;
    if pr.errors.len() < report::MAX_CHANGES {
        pr.errors.push(RecordFailure {
            source_key: w.source_key.clone(),
            dest_key: w.dest_key.clone(),
            label: None,
            message: format!("not applied: {why}"),
            skipped: false,
            kind: FailureKind::Error,
            differences: Vec::new(),
        });
    }
}

/// The writes of one table mapping in one direction.
type Group<'w> = (&'w str, Direction, Vec<&'w PlannedWrite>);

/// The writes by table mapping and direction, in the order they first appear.
fn groups(writes: &[PlannedWrite]) -> Result<Vec<Group<'_>>, EngineError> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for w in writes {
        let dir = Direction::parse(&w.direction)
            .ok_or_else(|| EngineError::Request(format!("`{}` is not a direction", w.direction)))?;
        match out.iter_mut().find(|g| g.0 == w.table && g.1 == dir) {
            Some(g) => g.2.push(w),
            None => out.push((&w.table, dir, vec![w])),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(source: &str, dest: Option<&str>) -> PlannedWrite {
        PlannedWrite {
            table: "customers".into(),
            direction: "left_to_right".into(),
            action: "update".into(),
            source_key: source.into(),
            source_version: RowVersion::default(),
            dest_key: dest.map(Into::into),
            dest_version: None,
            matched: false,
            restores: None,
            fields: Vec::new(),
        }
    }

    #[test]
    fn a_record_or_partner_is_written_once_and_never_while_a_write_to_it_is_unsettled() {
        let mut seen = Seen::default();
        seen.open.insert("open".into());
        assert!(seen.admit(&write("a", Some("x"))).is_ok());
        assert!(seen.admit(&write("a", Some("y"))).is_err());
        assert!(seen.admit(&write("b", Some("x"))).is_err());
        assert!(seen.admit(&write("c", None)).is_ok());
        assert!(seen.admit(&write("d", None)).is_ok());
        let unsettled = seen.admit(&write("open", Some("z"))).unwrap_err();
        assert!(unsettled.contains("unsettled"), "{unsettled}");
    }

    #[test]
    fn a_row_reviewed_without_a_version_is_never_taken_as_unchanged() {
        let row = Row {
            key: "k".into(),
            modified_on: None,
            etag: None,
            fields: BTreeMap::new(),
            invalid: None,
        };
        assert!(!RowVersion::default().holds_for(&row));
        let tagged = RowVersion {
            etag: Some("W/\"1\"".into()),
            ..RowVersion::default()
        };
        assert!(!tagged.holds_for(&row));
        let same = Row {
            etag: Some("W/\"1\"".into()),
            ..row
        };
        assert!(tagged.holds_for(&same));
    }

    #[test]
    fn a_row_without_versions_is_reviewed_by_its_values() {
        let option = |label: &str| Row {
            key: "100000000".into(),
            modified_on: None,
            etag: None,
            fields: BTreeMap::from([("label".to_string(), Value::String(label.into()))]),
            invalid: None,
        };
        let reviewed = RowVersion::of(&option("NET 30"));
        assert!(reviewed.values.is_some());
        assert!(reviewed.holds_for(&option("NET 30")));
        assert!(!reviewed.holds_for(&option("NET 45")), "relabelled since");
    }
}
