//! Carrying out a batch: diff against the destination, record an intent for every write, write
//! in batches the system accepts, settle the writes whose answer was lost (from what the system
//! holds), then commit couplings and results in one transaction per batch (`outcome`). A dry
//! run stops before the writes and reports what they would have been.

use std::collections::{BTreeMap, HashMap};

use super::{Pending, PendingKind};
use crate::connectors::{Connector, ConnectorError, Row, WriteOp, WriteOutcome};
use crate::runtime::engine::report::PassReport;
use crate::runtime::engine::settle::Found;
use crate::runtime::engine::{Engine, EngineError, Pass};
use crate::state::{Committing, Coupling, Intent, IntentKind};
use crate::value::{AsJson, Value};

/// How one write ended.
pub(super) enum Outcome {
    /// Nothing needed writing.
    Nothing,
    /// It went through: what the system answered, or (when the answer was lost) what the row
    /// holds now; `untouched` whether the row holds only what the write left.
    Done { out: WriteOutcome, untouched: bool },
    /// It failed, or its answer was lost and the system shows it did not happen.
    Failed(ConnectorError),
    /// A create whose answer was lost, whose row cannot be told apart from others: why.
    Undecided(String),
}

/// A write and the record it belongs to.
pub(super) struct Planned {
    pub(super) pending: Pending,
    pub(super) op: Option<WriteOp>,
    /// Where the write goes: the destination, or the source (a propagated deletion).
    on_source: bool,
}

impl Planned {
    /// The destination values the record's write carries in full: a create's, which moved
    /// into its write, or those the update was decided on (it writes the ones that differ).
    pub(super) fn written(&self) -> &BTreeMap<String, Value> {
        match &self.op {
            Some(WriteOp::Create { fields, .. }) => fields,
            _ => &self.pending.fields,
        }
    }
}

impl<'a> Engine<'a> {
    /// Writes what the batch needs and records the outcome.
    pub(crate) async fn execute(
        &self,
        pass: &Pass<'a>,
        pending: Vec<Pending>,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let mut planned = Vec::with_capacity(pending.len());
        for p in pending {
            planned.push(self.plan_write(pass, p, pr));
        }
        let mut planned: Vec<Planned> = planned.into_iter().flatten().collect();
        if self.dry_run {
            for p in &planned {
                self.report_dry(pass, p, pr);
            }
            return Ok(());
        }
        // Intents first, for every write: a write that reaches the system but whose outcome
        // does not reach the state store (the run is killed in between, or the answer is lost)
        // is settled from what the system holds. A create is found again (by its key, or by the
        // values it wrote where the system chooses the key) instead of being made twice; an
        // update is told apart from a change made after it, instead of being taken for one (a
        // conflict, or an echo written back).
        // Committed behind the engine where the store does that (the engine decides the next
        // batch meanwhile); the writes wait for the commit.
        let intents: Vec<Option<Intent>> = planned.iter().map(|p| intent_of(pass, p)).collect();
        let recorded: Vec<Intent> = intents.iter().flatten().cloned().collect();
        if !recorded.is_empty() {
            let committing =
                self.store
                    .add_intents_behind(&pass.table.name, pass.dir, recorded, self.run)?;
            // Made on the engine's connection, their commit is durable, and with it every
            // commit before it (behind the engine, the thread's store commits them durably).
            debug_assert!(
                !matches!(committing, Committing::Made) || !self.store.awaits_durable_commit()
            );
            committing.made().await?;
        }
        let results = self.write_all(pass, &mut planned).await?;
        let outcomes = self
            .settle_unsure(pass, &planned, &intents, results)
            .await?;
        let went_through: Vec<bool> = outcomes
            .iter()
            .map(|o| matches!(o, Outcome::Done { .. } | Outcome::Nothing))
            .collect();
        // The write log commits with the couplings: after a crash it lists exactly the writes
        // the store knows of (a write whose outcome was lost is settled, and not logged, by the
        // next run). Durable with the next intents, or the run's end: a power loss before then
        // leaves this batch's intents to settle, as a kill before this commit does.
        // Behind the engine where the store commits there; the batch is done once it is made.
        let ((), committing) = self.store.transaction_behind(planned.len(), |st| {
            for (p, outcome) in planned.iter().zip(outcomes) {
                self.record_outcome(pass, p, outcome, pr)?;
            }
            self.flush_skips(st)?;
            Ok::<(), EngineError>(())
        })?;
        committing.made().await?;
        // A record settled by hand shows what it changed, as a dry run of it would have.
        if pass.resolution.is_some() {
            for (p, _) in planned.iter().zip(went_through).filter(|(_, ok)| *ok) {
                self.list_planned(pass, p, pr);
            }
        }
        Ok(())
    }

    /// Writes that may have happened although no success came back (a lost answer, a timeout,
    /// a resent update refused as "changed since", a resent deletion finding nothing) are
    /// looked up at once: what happened is taken as done, so neither this pass nor the reverse
    /// one meets its row as a stranger (and makes it a second partner).
    async fn settle_unsure(
        &self,
        pass: &Pass<'a>,
        planned: &[Planned],
        intents: &[Option<Intent>],
        results: Vec<Option<Result<WriteOutcome, ConnectorError>>>,
    ) -> Result<Vec<Outcome>, EngineError> {
        let unsure: Vec<usize> = (0..planned.len())
            .filter(|i| intents[*i].is_some() && may_have_happened(&planned[*i].op, &results[*i]))
            .collect();
        let mut found: HashMap<usize, Found> = HashMap::new();
        if !unsure.is_empty() {
            let list: Vec<Intent> = unsure.iter().filter_map(|i| intents[*i].clone()).collect();
            let looked = self
                .look(pass, &list, &taken_keys(planned, &results))
                .await?;
            found.extend(unsure.iter().copied().zip(looked));
        }
        Ok(results
            .into_iter()
            .enumerate()
            .map(|(i, r)| match (r, found.remove(&i)) {
                (None, _) => Outcome::Nothing,
                (Some(Ok(out)), _) => Outcome::Done {
                    out,
                    untouched: true,
                },
                (Some(Err(_)), Some(Found::Written { row, untouched })) => {
                    tracing::info!(
                        run = self.run,
                        table = %pass.table.name,
                        key = %planned[i].pending.row.key,
                        "a write whose answer was lost had happened"
                    );
                    let key = intents[i]
                        .as_ref()
                        .map(|t| t.dest_key.clone())
                        .unwrap_or_default();
                    Outcome::Done {
                        out: match row {
                            Some(r) => WriteOutcome {
                                key: r.key,
                                modified_on: r.modified_on,
                                etag: r.etag,
                            },
                            None => WriteOutcome {
                                key,
                                modified_on: None,
                                etag: None,
                            },
                        },
                        untouched,
                    }
                }
                (Some(Err(_)), Some(Found::Undecided(why))) => Outcome::Undecided(why),
                (Some(Err(e)), _) => Outcome::Failed(e),
            })
            .collect())
    }

    /// Turns a decision into a write; an update with nothing to change needs none.
    fn plan_write(&self, pass: &Pass<'a>, mut p: Pending, pr: &mut PassReport) -> Option<Planned> {
        let (op, on_source) = match &p.kind {
            // A create's values move into its write (see [`Planned::written`]).
            PendingKind::Create { key, .. } => (
                Some(WriteOp::Create {
                    key: key.clone(),
                    fields: std::mem::take(&mut p.fields),
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
        planned: &mut [Planned],
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
                // A holder that could not renew its lease for a while may have been taken
                // over, and its successor settles these intents: no write goes out after that.
                self.still_holding()?;
                // The writes are handed to the connector and handed back (moved, not copied,
                // where it writes on a thread): what happened to each is settled from them.
                let ops: Vec<WriteOp> =
                    chunk.iter().filter_map(|i| planned[*i].op.take()).collect();
                let sent = ops.len();
                let keys_only = !on_source && pass.creates_keys_only();
                let (ops, outcomes) = conn.write_handed(table, ops, keys_only).await;
                for (i, op) in chunk.iter().zip(ops) {
                    planned[*i].op = Some(op);
                }
                if outcomes.len() != sent {
                    return Err(EngineError::Connector(ConnectorError::Fatal(format!(
                        "{system}: {} results for {sent} writes",
                        outcomes.len(),
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
}

/// The destination rows this batch made or matched: some other record's, though not coupled
/// yet, so a lost write's row is not looked for among them.
fn taken_keys(
    planned: &[Planned],
    results: &[Option<Result<WriteOutcome, ConnectorError>>],
) -> std::collections::HashSet<String> {
    planned
        .iter()
        .zip(results)
        .filter_map(|(p, r)| match (&p.pending.kind, r) {
            (_, Some(Ok(out))) => Some(out.key.clone()),
            (PendingKind::Update { dest, .. }, _) => Some(dest.key.clone()),
            _ => None,
        })
        .collect()
}

/// Whether the destination row changed since the pair was last synced (a change of its own the
/// sync has not taken yet) in a mapping whose records also flow back.
pub(super) fn pending_change(
    pass: &Pass<'_>,
    coupling: &Coupling,
    dest: &Row,
    new_coupling: bool,
) -> bool {
    !new_coupling
        && pass.table.flow == crate::plan::Flow::Both
        && coupling
            .changed(pass.dir.dest(), dest.etag.as_deref(), dest.modified_on)
            .unwrap_or(false)
}

/// Whether a write may have happened although no success came back: an answer lost (a passing
/// error), or a resent request meeting its own first attempt's effect (an update refused as
/// changed since, a deletion finding nothing).
fn may_have_happened(
    op: &Option<WriteOp>,
    result: &Option<Result<WriteOutcome, ConnectorError>>,
) -> bool {
    matches!(
        (op, result),
        // An unreachable system was sent nothing, but the connector's word is not taken for it:
        // looking the record up costs one read, a duplicate costs a person's afternoon.
        (
            Some(_),
            Some(Err(
                ConnectorError::Transient(_) | ConnectorError::Unreachable(_)
            ))
        ) | (
            Some(WriteOp::Update { .. }),
            Some(Err(ConnectorError::Conflict { .. }))
        ) | (
            Some(WriteOp::Delete { .. }),
            Some(Err(ConnectorError::NotFound { .. }))
        )
    )
}

/// The intent of a planned write: what it writes and where, and what it found there.
fn intent_of(pass: &Pass<'_>, p: &Planned) -> Option<Intent> {
    // Written as it is walked: no map of copied names is built first.
    let json = |values: &mut dyn Iterator<Item = (&String, &Value)>| {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::new(&mut out);
        let _ = serde::Serializer::collect_map(&mut ser, values.map(|(k, v)| (k, AsJson(v))));
        String::from_utf8(out).unwrap_or_default()
    };
    let (kind, dest_key, fields) = match p.op.as_ref()? {
        WriteOp::Create { key, fields } => (
            IntentKind::Create,
            key.clone().unwrap_or_default(),
            Some(fields),
        ),
        WriteOp::Update { key, fields, .. } => (IntentKind::Update, key.clone(), Some(fields)),
        WriteOp::Delete { key, .. } => (IntentKind::Delete, key.clone(), None),
    };
    let dest_pending = match &p.pending.kind {
        PendingKind::Update {
            coupling,
            dest,
            new_coupling,
        } => pending_change(pass, coupling, dest, *new_coupling),
        _ => false,
    };
    // What an update leaves as it was: the row's other columns, but its key and modified-on.
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
        dest_key,
        kind,
        source_modified_on: p.pending.row.modified_on,
        source_version: p.pending.row.etag.clone(),
        fields: fields.map(|f| json(&mut f.iter())),
        kept,
        note: None,
        dest_pending,
    })
}
