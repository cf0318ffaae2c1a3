//! Carrying out a batch: diff against the destination, record create intents, write in batches
//! the system accepts, then commit couplings and results in one transaction per batch. A dry run
//! stops before the writes and reports what they would have been.

use std::collections::BTreeMap;

use super::{Pending, PendingKind};
use crate::connectors::{Connector, ConnectorError, WriteOp, WriteOutcome};
use crate::plan::Side;
use crate::runtime::engine::report::{Change, FieldChange, PassReport};
use crate::runtime::engine::{Engine, EngineError, Pass};
use crate::runtime::value::Value;
use crate::state::{Coupling, Intent, IntentKind, WriteAction};

/// A write and the record it belongs to.
struct Planned {
    pending: Pending,
    op: Option<WriteOp>,
    /// Where the write goes: the destination, or the source (a propagated deletion).
    on_source: bool,
}

impl<'a> Engine<'a> {
    /// Writes what the batch needs and records the outcome.
    pub(super) async fn execute(
        &self,
        pass: &Pass<'a>,
        pending: Vec<Pending>,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let mut planned = Vec::with_capacity(pending.len());
        for p in pending {
            planned.push(self.plan_write(pass, p, pr));
        }
        let planned: Vec<Planned> = planned.into_iter().flatten().collect();
        if self.dry_run {
            for p in &planned {
                self.report_dry(pass, p, pr);
            }
            return Ok(());
        }
        // Intents first, for every write: a write that reaches the system but whose outcome
        // does not reach the state store (the run is killed in between) is settled by the next
        // run from what the system holds. A create is found again by its key instead of being
        // made twice; an update is told apart from a change made after it, instead of being
        // taken for one (a conflict, or an echo written back).
        let intents: Vec<Intent> = planned
            .iter()
            .filter_map(|p| {
                let (kind, dest_key, fields) = match &p.op {
                    Some(WriteOp::Create {
                        key: Some(k),
                        fields,
                    }) => (IntentKind::Create, k, Some(fields)),
                    Some(WriteOp::Update { key, fields, .. }) => {
                        (IntentKind::Update, key, Some(fields))
                    }
                    Some(WriteOp::Delete { key, .. }) => (IntentKind::Delete, key, None),
                    _ => return None,
                };
                let json = |values: &mut dyn Iterator<Item = (&String, &Value)>| {
                    let map: serde_json::Map<String, serde_json::Value> =
                        values.map(|(k, v)| (k.clone(), v.to_json())).collect();
                    serde_json::Value::Object(map).to_string()
                };
                // What an update leaves as it was: the row's other columns, but its key and
                // modified-on.
                let kept = match (&p.pending.kind, fields) {
                    (PendingKind::Update { dest, .. }, Some(written)) => {
                        let info = pass.dst.info;
                        Some(json(&mut dest.fields.iter().filter(|(k, v)| {
                            !v.is_absent()
                                && !written.contains_key(*k)
                                && **k != info.key
                                && info.modified_on.as_ref() != Some(*k)
                        })))
                    }
                    _ => None,
                };
                Some(Intent {
                    source_key: p.pending.row.key.clone(),
                    dest_key: dest_key.clone(),
                    kind,
                    source_modified_on: p.pending.row.modified_on,
                    fields: fields.map(|f| json(&mut f.iter())),
                    kept,
                })
            })
            .collect();
        if !intents.is_empty() {
            self.store
                .add_intents(&pass.table.name, pass.dir, &intents, self.run)?;
        }
        let results = self.write_all(pass, &planned).await?;
        // The write log commits with the couplings: after a crash it lists exactly the writes
        // the store knows of (a write whose outcome was lost is settled, and not logged, by the
        // next run).
        self.store.transaction(|st| {
            for (p, result) in planned.iter().zip(results) {
                self.record_outcome(pass, p, result, pr)?;
            }
            self.flush_skips(st)?;
            Ok(())
        })
    }

    /// Turns a decision into a write; an update with nothing to change needs none.
    fn plan_write(&self, pass: &Pass<'a>, p: Pending, pr: &mut PassReport) -> Option<Planned> {
        let (op, on_source) = match &p.kind {
            PendingKind::Create { key, .. } => (
                Some(WriteOp::Create {
                    key: key.clone(),
                    fields: p.fields.clone(),
                }),
                false,
            ),
            PendingKind::Update { dest, .. } => {
                let changed: BTreeMap<String, Value> = p
                    .fields
                    .iter()
                    .filter(|(k, v)| !dest.fields.get(*k).is_some_and(|dv| dv.same_as(v)))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if changed.is_empty() {
                    (None, false)
                } else {
                    (
                        Some(WriteOp::Update {
                            key: dest.key.clone(),
                            etag: dest.etag.clone(),
                            fields: changed,
                        }),
                        false,
                    )
                }
            }
            PendingKind::DeleteSource { .. } => (
                Some(WriteOp::Delete {
                    key: p.row.key.clone(),
                    etag: p.row.etag.clone(),
                }),
                true,
            ),
        };
        let _ = pr;
        let _ = pass;
        Some(Planned {
            pending: p,
            op,
            on_source,
        })
    }

    async fn write_all(
        &self,
        pass: &Pass<'a>,
        planned: &[Planned],
    ) -> Result<Vec<Option<Result<WriteOutcome, ConnectorError>>>, EngineError> {
        let mut results: Vec<Option<Result<WriteOutcome, ConnectorError>>> =
            (0..planned.len()).map(|_| None).collect();
        for on_source in [false, true] {
            let (system, table) = if on_source {
                (pass.src_system, pass.src)
            } else {
                (pass.dst_system, pass.dst)
            };
            let indexes: Vec<usize> = planned
                .iter()
                .enumerate()
                .filter(|(_, p)| p.op.is_some() && p.on_source == on_source)
                .map(|(i, _)| i)
                .collect();
            if indexes.is_empty() {
                continue;
            }
            let conn = self.systems.get(system)?;
            let max = conn.capabilities().max_batch.max(1);
            for chunk in indexes.chunks(max) {
                let ops: Vec<WriteOp> = chunk
                    .iter()
                    .filter_map(|i| planned[*i].op.clone())
                    .collect();
                let outcomes = conn.write(table, &ops).await;
                if outcomes.len() != ops.len() {
                    return Err(EngineError::Connector(ConnectorError::Fatal(format!(
                        "{system}: {} results for {} writes",
                        outcomes.len(),
                        ops.len()
                    ))));
                }
                for (i, outcome) in chunk.iter().zip(outcomes) {
                    if let Err(ConnectorError::Fatal(m)) = &outcome {
                        return Err(EngineError::Connector(ConnectorError::Fatal(m.clone())));
                    }
                    results[*i] = Some(outcome);
                }
            }
        }
        Ok(results)
    }

    fn new_coupling(&self, pass: &Pass<'a>, source_key: &str, dest_key: &str) -> Coupling {
        match pass.dir.source() {
            Side::Left => Coupling::new(&pass.table.name, source_key, dest_key),
            Side::Right => Coupling::new(&pass.table.name, dest_key, source_key),
        }
    }

    /// Commits what one write did: couplings, timestamps, results, failures and counts.
    fn record_outcome(
        &self,
        pass: &Pass<'a>,
        p: &Planned,
        result: Option<Result<WriteOutcome, ConnectorError>>,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let (s, d) = (pass.dir.source(), pass.dir.dest());
        let mapping = pass.table.name.as_str();
        let row = &p.pending.row;
        match (&p.pending.kind, result) {
            (
                PendingKind::Update {
                    coupling,
                    dest,
                    new_coupling,
                },
                None,
            ) => {
                // Nothing differs: the pair is in step — unless the destination has a change of
                // its own not synced yet (a field flowing only the other way): then its synced
                // time stays, so the reverse pass still takes that change.
                let mut c = coupling.clone();
                c.set_synced(s, row.modified_on);
                if !pending_change(pass, coupling, dest, *new_coupling) {
                    c.set_synced(d, dest.modified_on);
                }
                c.set_result(pass.dir, true, self.run);
                if *new_coupling {
                    self.store.couple(&c)?;
                    self.store.clear_intent(mapping, pass.dir, &row.key)?;
                    let why = "matched an equal partner; nothing to write";
                    let keys = (row.key.as_str(), Some(dest.key.as_str()));
                    self.log_write(self.store, pass, WriteAction::Coupled, keys, Some(why))?;
                    pr.counts.coupled += 1;
                } else {
                    self.store.save_coupling(&c)?;
                }
                self.store.clear_failure(mapping, pass.dir, &row.key)?;
                pr.counts.unchanged += 1;
            }
            (
                PendingKind::Update {
                    coupling,
                    new_coupling,
                    dest,
                },
                Some(Ok(out)),
            ) => {
                let mut c = coupling.clone();
                c.set_synced(s, row.modified_on);
                // Our write is synced; a change the destination had before it is not: stamp just
                // before the write so the reverse pass (or the next run) still takes it.
                let synced = if pending_change(pass, coupling, dest, *new_coupling) {
                    out.modified_on
                        .and_then(|m| m.checked_sub(jiff::SignedDuration::from_micros(1)).ok())
                } else {
                    out.modified_on
                };
                c.set_synced(d, synced);
                c.set_result(pass.dir, true, self.run);
                if *new_coupling {
                    self.store.couple(&c)?;
                    pr.counts.coupled += 1;
                } else {
                    self.store.save_coupling(&c)?;
                }
                self.store.clear_intent(mapping, pass.dir, &row.key)?;
                self.store.clear_failure(mapping, pass.dir, &row.key)?;
                let why = new_coupling.then_some("matched, then brought up to date");
                let keys = (row.key.as_str(), Some(dest.key.as_str()));
                self.log_write(self.store, pass, WriteAction::Modified, keys, why)?;
                pr.counts.modified += 1;
            }
            (PendingKind::Create { replaces, .. }, Some(Ok(out))) => {
                if let Some(old) = replaces {
                    self.store.uncouple(mapping, s, old.key(s))?;
                    self.store.log_event(
                        self.run,
                        mapping,
                        pass.dir,
                        "deletion",
                        Some(&row.key),
                        Some(&out.key),
                        &format!(
                            "its coupled row `{}` was deleted; restored as `{}`",
                            old.key(d),
                            out.key
                        ),
                    )?;
                }
                let mut c = self.new_coupling(pass, &row.key, &out.key);
                c.set_synced(s, row.modified_on);
                c.set_synced(d, out.modified_on);
                c.set_result(pass.dir, true, self.run);
                self.store.couple(&c)?;
                self.store.clear_intent(mapping, pass.dir, &row.key)?;
                self.store.clear_failure(mapping, pass.dir, &row.key)?;
                let why = replaces
                    .as_ref()
                    .map(|old| format!("restores its deleted partner `{}`", old.key(d)));
                let keys = (row.key.as_str(), Some(out.key.as_str()));
                self.log_write(
                    self.store,
                    pass,
                    WriteAction::Inserted,
                    keys,
                    why.as_deref(),
                )?;
                pr.counts.inserted += 1;
                pr.counts.coupled += 1;
            }
            (PendingKind::DeleteSource { coupling }, Some(Ok(_))) => {
                self.store.uncouple(mapping, s, &row.key)?;
                self.store.clear_intent(mapping, pass.dir, &row.key)?;
                self.store.clear_failure(mapping, pass.dir, &row.key)?;
                self.store.log_event(
                    self.run,
                    mapping,
                    pass.dir,
                    "deletion",
                    Some(&row.key),
                    Some(coupling.key(d)),
                    &format!(
                        "its coupled {} row was deleted; the deletion was propagated",
                        pass.dst.name
                    ),
                )?;
                let why = format!(
                    "its partner `{}` in {} was deleted; the deletion was propagated to {}",
                    coupling.key(d),
                    pass.dst.name,
                    pass.src.name
                );
                let keys = (row.key.as_str(), Some(coupling.key(d)));
                self.log_write(self.store, pass, WriteAction::Deleted, keys, Some(&why))?;
                pr.counts.deleted += 1;
                pr.counts.uncoupled += 1;
            }
            (kind, Some(Err(e))) => {
                let refused_create = matches!(kind, PendingKind::Create { .. })
                    && !matches!(e, ConnectorError::Transient(_));
                let mut reason = e.to_string();
                let dest_key = match kind {
                    PendingKind::Update { dest, .. } => Some(dest.key.clone()),
                    // A refused create made no row: its key is drawn afresh on every attempt, so
                    // it is left out of the message (and the error), or the same refusal would
                    // read as a new error each time and the record would never be skipped.
                    PendingKind::Create { key: Some(k), .. } if refused_create => {
                        reason = reason.replace(k.as_str(), "(new)");
                        None
                    }
                    PendingKind::Create { key, .. } => key.clone(),
                    PendingKind::DeleteSource { coupling } => Some(coupling.key(d).to_string()),
                };
                // A refused write did not happen; a passing error may have: keep the intent
                // then, so the next run looks at the row before deciding again.
                if !matches!(e, ConnectorError::Transient(_)) {
                    self.store.clear_intent(mapping, pass.dir, &row.key)?;
                }
                let what = match kind {
                    PendingKind::Create { .. } => "creating",
                    PendingKind::Update { .. } => "updating",
                    PendingKind::DeleteSource { .. } => "deleting",
                };
                let table = if matches!(kind, PendingKind::DeleteSource { .. }) {
                    pass.src.name
                } else {
                    pass.dst.name
                };
                // A passing error (throttling, a timeout, a locked database) is retried by the
                // next run however often it repeats; only lasting errors skip a record.
                self.fail_as(
                    pass,
                    pr,
                    (&row.key, dest_key.as_deref()),
                    &format!("{what} the {table} row failed: {reason}"),
                    !matches!(e, ConnectorError::Transient(_)),
                )?;
            }
            (_, None) => {}
        }
        Ok(())
    }

    /// Lists what a dry run would do, with the destination's values before.
    fn report_dry(&self, pass: &Pass<'a>, p: &Planned, pr: &mut PassReport) {
        let row = &p.pending.row;
        match (&p.pending.kind, &p.op) {
            (PendingKind::Create { key, replaces }, Some(WriteOp::Create { fields, .. })) => {
                pr.counts.inserted += 1;
                pr.counts.coupled += 1;
                let note = replaces
                    .as_ref()
                    .map(|c| format!("restores the deleted partner `{}`", c.key(pass.dir.dest())));
                pr.change(Change {
                    kind: "insert".into(),
                    source_key: row.key.clone(),
                    dest_key: key.clone(),
                    fields: fields
                        .iter()
                        .map(|(k, v)| FieldChange::new(k, None, v))
                        .collect(),
                    note,
                });
            }
            (
                PendingKind::Update {
                    dest, new_coupling, ..
                },
                op,
            ) => {
                if *new_coupling {
                    pr.counts.coupled += 1;
                    pr.change(Change {
                        kind: "couple".into(),
                        source_key: row.key.clone(),
                        dest_key: Some(dest.key.clone()),
                        fields: Vec::new(),
                        note: Some("matched".into()),
                    });
                }
                match op {
                    Some(WriteOp::Update { fields, .. }) => {
                        pr.counts.modified += 1;
                        pr.change(Change {
                            kind: "update".into(),
                            source_key: row.key.clone(),
                            dest_key: Some(dest.key.clone()),
                            fields: fields
                                .iter()
                                .map(|(k, v)| FieldChange::new(k, dest.fields.get(k), v))
                                .collect(),
                            note: None,
                        });
                    }
                    _ => pr.counts.unchanged += 1,
                }
            }
            (PendingKind::DeleteSource { coupling }, _) => {
                pr.counts.deleted += 1;
                pr.counts.uncoupled += 1;
                pr.change(Change {
                    kind: "delete".into(),
                    source_key: row.key.clone(),
                    dest_key: Some(coupling.key(pass.dir.dest()).to_string()),
                    fields: Vec::new(),
                    note: Some(format!(
                        "its partner in {} was deleted; the deletion propagates to {}",
                        pass.dst.name, pass.src.name
                    )),
                });
            }
            _ => {}
        }
    }
}

/// Whether the destination row changed since the pair was last synced (a change of its own the
/// sync has not taken yet) in a mapping whose records also flow back.
fn pending_change(
    pass: &Pass<'_>,
    coupling: &Coupling,
    dest: &crate::connectors::Row,
    new_coupling: bool,
) -> bool {
    !new_coupling
        && pass.table.flow == crate::plan::Flow::Both
        && matches!((coupling.synced(pass.dir.dest()), dest.modified_on), (Some(t), Some(m)) if m > t)
}
