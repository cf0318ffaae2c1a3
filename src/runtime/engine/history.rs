//! What the engine tells the run history: every record it wrote, coupled, uncoupled or left
//! alone, with the reason for the last. Writes are logged inside the transaction that commits
//! their couplings; records left alone are gathered and logged with the next commit, so logging
//! adds no transaction of its own per record.

use super::{Engine, Pass, PassReport};
use crate::state::{StateError, Store, WriteAction};

/// A record left alone, waiting for the next commit.
pub(crate) struct Skip {
    mapping: String,
    dir: crate::state::Direction,
    source_key: String,
    dest_key: Option<String>,
    reason: String,
}

impl Engine<'_> {
    /// Whether this engine records history (not a dry run, and inside a run).
    fn logs(&self) -> bool {
        !self.dry_run && self.run != 0
    }

    /// Drops the write logs of runs older than the newest `history_runs`; called in the
    /// transaction that records a run's start (not a dry run's), so the log stays bounded
    /// however often syncs run.
    pub(crate) fn prune_history(&self, st: &Store) -> Result<(), StateError> {
        st.prune_run_writes(self.options.history_runs)?;
        Ok(())
    }

    /// Records a decision of the pass (a conflict, a deletion, a coupling) as an event of the
    /// run, for `syncmap log --run` and the report.
    pub(crate) fn event(
        &self,
        st: &Store,
        pass: &Pass<'_>,
        kind: &str,
        (source_key, dest_key): (Option<&str>, Option<&str>),
        message: &str,
    ) -> Result<(), StateError> {
        st.log_event(
            self.run,
            &pass.table.name,
            pass.dir,
            kind,
            source_key,
            dest_key,
            message,
        )
    }

    /// Logs a record the pass wrote, coupled or uncoupled (inside the batch's transaction).
    pub(crate) fn log_write(
        &self,
        st: &Store,
        pass: &Pass<'_>,
        action: WriteAction,
        (source_key, dest_key): (&str, Option<&str>),
        reason: Option<&str>,
    ) -> Result<(), StateError> {
        if !self.logs() {
            return Ok(());
        }
        st.log_write(
            self.run,
            &pass.table.name,
            pass.dir,
            action,
            source_key,
            dest_key,
            reason,
        )
    }

    /// Counts a record the pass leaves alone, and keeps why for the history.
    pub(crate) fn skip(
        &self,
        pass: &Pass<'_>,
        pr: &mut PassReport,
        (source_key, dest_key): (&str, Option<&str>),
        reason: impl Into<String>,
    ) {
        pr.counts.skipped += 1;
        if self.logs() {
            self.skips.borrow_mut().push(Skip {
                mapping: pass.table.name.clone(),
                dir: pass.dir,
                source_key: source_key.to_string(),
                dest_key: dest_key.map(str::to_string),
                reason: reason.into(),
            });
        }
    }

    /// Logs the records left alone since the last commit (inside a transaction).
    pub(crate) fn flush_skips(&self, st: &Store) -> Result<(), StateError> {
        let skips = std::mem::take(&mut *self.skips.borrow_mut());
        for s in skips {
            st.log_write(
                self.run,
                &s.mapping,
                s.dir,
                WriteAction::Skipped,
                &s.source_key,
                s.dest_key.as_deref(),
                Some(&s.reason),
            )?;
        }
        Ok(())
    }

    /// Logs the records left alone in a transaction of their own, when no batch commit took
    /// them (a batch with nothing to write).
    pub(crate) fn flush_skips_now(&self) -> Result<(), StateError> {
        if self.skips.borrow().is_empty() {
            return Ok(());
        }
        self.store.transaction(|st| self.flush_skips(st))
    }
}
