//! Recording what each write of a batch did, in the batch's one transaction: the coupling with
//! its versions and base, the record's result or failure, its intent cleared or kept, the
//! write log and the pass's counts.

use super::execute::{pending_change, Outcome, Planned};
use super::PendingKind;
use crate::connectors::{ConnectorError, Row, WriteOutcome};
use crate::runtime::engine::report::PassReport;
use crate::runtime::engine::{Engine, EngineError, Mode, Pass, Resolution};
use crate::state::{Coupling, WriteAction};

impl<'a> Engine<'a> {
    /// Commits what one write did: couplings, versions, results, failures and counts.
    pub(super) fn record_outcome(
        &self,
        pass: &Pass<'a>,
        p: &Planned,
        outcome: Outcome,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let row = &p.pending.row;
        // What the two-way fields hold on both sides once this write went through.
        let old_base = match &p.pending.kind {
            PendingKind::Update { coupling, .. } => coupling.base.as_deref(),
            _ => None,
        };
        let base = super::base::synced_base(pass, old_base, row, p.written());
        match (&p.pending.kind, outcome) {
            (PendingKind::Update { coupling, dest, .. }, done) if pass.back_only => {
                self.record_followed_up(pass, row, coupling, dest, done, pr)
            }
            (
                PendingKind::Update {
                    coupling,
                    dest,
                    new_coupling,
                },
                Outcome::Nothing,
            ) => {
                let mut c = coupling.clone();
                c.base = base;
                self.record_in_step(pass, row, &c, dest, *new_coupling, pr)
            }
            (
                PendingKind::Update {
                    coupling,
                    new_coupling,
                    dest,
                },
                Outcome::Done { out, untouched },
            ) => {
                let pair = (coupling, dest, *new_coupling);
                self.record_updated(pass, row, pair, (&out, untouched, base), pr)
            }
            (PendingKind::Create { replaces, .. }, Outcome::Done { out, untouched }) => {
                self.record_created(pass, row, replaces.as_ref(), (&out, untouched, base), pr)
            }
            (PendingKind::DeleteSource { coupling }, Outcome::Done { .. }) => {
                self.record_deleted(pass, row, coupling, pr)
            }
            (kind, Outcome::Undecided(why)) => self.record_undecided(pass, row, kind, &why, pr),
            (kind, Outcome::Failed(e)) => self.record_failed(pass, row, kind, &e, pr),
            (_, Outcome::Nothing) => Ok(()),
        }
    }

    /// An update that went through: the pair is in step on the source's side, and on the
    /// destination's unless it holds a change of its own the sync has not taken yet.
    fn record_updated(
        &self,
        pass: &Pass<'a>,
        row: &Row,
        (coupling, dest, new_coupling): (&Coupling, &Row, bool),
        (out, untouched, base): (&WriteOutcome, bool, Option<Vec<u8>>),
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let (s, d) = (pass.dir.source(), pass.dir.dest());
        let mut c = coupling.clone();
        c.base = base;
        c.set_in_step(s, row.modified_on, row.etag.as_deref());
        // Our write is synced; a change the destination had before it (or got since) is not: it
        // stays pending, so the reverse pass (or the next run) still takes it.
        if pending_change(pass, coupling, dest, new_coupling) || !untouched {
            c.set_pending(d, out.modified_on);
        } else {
            c.set_in_step(d, out.modified_on, out.etag.as_deref());
        }
        self.commit_coupling(pass, &mut c, new_coupling, pr)?;
        let keys = (row.key.as_str(), Some(dest.key.as_str()));
        let why = why_modified(pass, new_coupling);
        self.log_write(
            self.store,
            pass,
            WriteAction::Modified,
            keys,
            why.as_deref(),
        )?;
        pr.counts.modified += 1;
        if pass.mode == Mode::Modified {
            pr.note_latency(row.modified_on);
        }
        Ok(())
    }

    /// A write whose outcome cannot be told: the intent stays open, with why, until the record
    /// is coupled by hand; the record is failed meanwhile.
    fn record_undecided(
        &self,
        pass: &Pass<'a>,
        row: &Row,
        kind: &PendingKind,
        why: &str,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        self.store
            .note_intent(&pass.table.name, pass.dir, &row.key, why)?;
        let dest = match kind {
            PendingKind::Update { dest, .. } => Some(dest.key.as_str()),
            _ => None,
        };
        self.fail(pass, pr, &row.key, dest, why)
    }

    /// A follow-up (see [`Engine::follow_up`]) touches only what it wrote: the destination's
    /// version when it wrote the values its source's system set, and the mark. The source's own
    /// state — a change not synced yet, a failure, a result — is the other pass's business.
    fn record_followed_up(
        &self,
        pass: &Pass<'a>,
        row: &Row,
        coupling: &Coupling,
        dest: &Row,
        outcome: Outcome,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let d = pass.dir.dest();
        let mut c = coupling.clone();
        match outcome {
            Outcome::Nothing => {}
            Outcome::Done { out, untouched } => {
                let dest_changed = c
                    .changed(d, dest.etag.as_deref(), dest.modified_on)
                    .unwrap_or(false);
                if dest_changed || !untouched {
                    c.set_pending(d, out.modified_on);
                } else {
                    c.set_in_step(d, out.modified_on, out.etag.as_deref());
                }
                let keys = (row.key.as_str(), Some(dest.key.as_str()));
                let why = "values its system set on the row the sync created flowed back";
                self.log_write(self.store, pass, WriteAction::Modified, keys, Some(why))?;
                pr.counts.modified += 1;
            }
            Outcome::Failed(e) => {
                let kind = PendingKind::Update {
                    coupling: coupling.clone(),
                    dest: dest.clone(),
                    new_coupling: false,
                };
                // The mark stays: the next run follows the row up again.
                return self.record_failed(pass, row, &kind, &e, pr);
            }
            Outcome::Undecided(_) => return Ok(()),
        }
        c.follow_up = None;
        self.store.save_coupling(&c)?;
        self.store
            .clear_intent(&pass.table.name, pass.dir, &row.key)?;
        Ok(())
    }

    /// Nothing differed: the pair is in step — unless the destination has a change of its own
    /// not synced yet (a field flowing only the other way): then its version stays, so the
    /// reverse pass still takes that change.
    fn record_in_step(
        &self,
        pass: &Pass<'a>,
        row: &Row,
        coupling: &Coupling,
        dest: &Row,
        new_coupling: bool,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let (s, d) = (pass.dir.source(), pass.dir.dest());
        let mut c = coupling.clone();
        c.set_in_step(s, row.modified_on, row.etag.as_deref());
        if !pending_change(pass, coupling, dest, new_coupling) {
            c.set_in_step(d, dest.modified_on, dest.etag.as_deref());
        }
        self.commit_coupling(pass, &mut c, new_coupling, pr)?;
        if new_coupling {
            let why = "matched an equal partner; nothing to write";
            let keys = (row.key.as_str(), Some(dest.key.as_str()));
            self.log_write(self.store, pass, WriteAction::Coupled, keys, Some(why))?;
        }
        pr.counts.unchanged += 1;
        Ok(())
    }

    /// Saves a pair synced in this pass (coupling it when new) and clears its intent and failure.
    fn commit_coupling(
        &self,
        pass: &Pass<'a>,
        c: &mut Coupling,
        new_coupling: bool,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let mapping = pass.table.name.as_str();
        let source_key = c.key(pass.dir.source()).to_string();
        c.set_result(pass.dir, true, self.run);
        if pass.remember_written {
            pass.written.borrow_mut().note(pass.dir, c);
        }
        if new_coupling {
            self.store.couple(c)?;
            pr.counts.coupled += 1;
            if self.kept_in_use.done(pass, &source_key) {
                self.store
                    .release_create_key(mapping, pass.dir, &source_key)?;
            }
        } else {
            self.store.save_coupling(c)?;
        }
        self.store.clear_intent(mapping, pass.dir, &source_key)?;
        self.store.clear_failure(mapping, pass.dir, &source_key)?;
        Ok(())
    }

    fn record_created(
        &self,
        pass: &Pass<'a>,
        row: &Row,
        replaces: Option<&Coupling>,
        (out, untouched, base): (&WriteOutcome, bool, Option<Vec<u8>>),
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let (s, d) = (pass.dir.source(), pass.dir.dest());
        let mapping = pass.table.name.as_str();
        if let Some(old) = replaces {
            self.store.uncouple(mapping, s, old.key(s))?;
            self.event(
                self.store,
                pass,
                "deletion",
                (Some(&row.key), Some(&out.key)),
                &format!(
                    "its coupled row `{}` was deleted; restored as `{}`",
                    old.key(d),
                    out.key
                ),
            )?;
        }
        let mut c = pass.coupling(&row.key, &out.key);
        c.base = base;
        c.set_in_step(s, row.modified_on, row.etag.as_deref());
        if untouched {
            c.set_in_step(d, out.modified_on, out.etag.as_deref());
        } else {
            c.set_pending(d, out.modified_on);
        }
        // A new row may hold values its system set that flow back (`x <- y`, `y` set by the
        // service): the other direction's one-way fields follow it up.
        if pass.flows_back() {
            c.follow_up = Some(d);
        }
        self.commit_coupling(pass, &mut c, true, pr)?;
        let why = replaces.map(|old| format!("restores its deleted partner `{}`", old.key(d)));
        let keys = (row.key.as_str(), Some(out.key.as_str()));
        self.log_write(
            self.store,
            pass,
            WriteAction::Inserted,
            keys,
            why.as_deref(),
        )?;
        pr.counts.inserted += 1;
        if pass.mode == Mode::Modified {
            pr.note_latency(row.modified_on);
        }
        Ok(())
    }

    fn record_deleted(
        &self,
        pass: &Pass<'a>,
        row: &Row,
        coupling: &Coupling,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let (s, d) = (pass.dir.source(), pass.dir.dest());
        let mapping = pass.table.name.as_str();
        self.store.uncouple(mapping, s, &row.key)?;
        self.store.clear_intent(mapping, pass.dir, &row.key)?;
        self.store.clear_failure(mapping, pass.dir, &row.key)?;
        self.event(
            self.store,
            pass,
            "deletion",
            (Some(&row.key), Some(coupling.key(d))),
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
        Ok(())
    }

    fn record_failed(
        &self,
        pass: &Pass<'a>,
        row: &Row,
        kind: &PendingKind,
        e: &ConnectorError,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let d = pass.dir.dest();
        let passing = matches!(
            e,
            ConnectorError::Transient(_) | ConnectorError::Unreachable(_)
        );
        let refused_create = matches!(kind, PendingKind::Create { .. }) && !passing;
        let mut reason = e.to_string();
        let dest_key = match kind {
            PendingKind::Update { dest, .. } => Some(dest.key.clone()),
            // A refused create made no row: its key is drawn afresh on every attempt, so it is
            // left out of the message (and the error), or the same refusal would read as a new
            // error each time and the record would never be skipped.
            PendingKind::Create { key: Some(k), .. } if refused_create => {
                reason = reason.replace(k.as_str(), "(new)");
                None
            }
            PendingKind::Create { key, .. } => key.clone(),
            PendingKind::DeleteSource { coupling } => Some(coupling.key(d).to_string()),
        };
        // A refused write did not happen; a passing error may have (the system may still be
        // working on it): keep the intent then, so the next run looks at the row again before
        // deciding.
        if !passing {
            self.store
                .clear_intent(&pass.table.name, pass.dir, &row.key)?;
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
        // A passing error (throttling, a timeout, a locked database) is retried by the next run
        // however often it repeats; only lasting errors skip a record.
        self.fail_as(
            pass,
            pr,
            (&row.key, dest_key.as_deref()),
            &format!("{what} the {table} row failed: {reason}"),
            !passing,
        )
    }
}

/// Why an update was written, where it is not the source's change: a conflict settled by
/// hand, or a partner the match rules found.
fn why_modified(pass: &Pass<'_>, new_coupling: bool) -> Option<String> {
    if let Some(Resolution::Take(side)) = pass.resolution {
        let system = &pass.table.side(side).system;
        return Some(format!(
            "a conflict settled by hand: {system}'s values taken"
        ));
    }
    new_coupling.then(|| "matched, then brought up to date".to_string())
}
