//! The life of a run, the same for every mode (full, modified-only, one record, couple,
//! uncouple, match): take the store's run lease, close the runs a dead process left `running`,
//! record the start, prune old history; at the end record how it went, with one status
//! everywhere (exit code, `syncmap log`, `status`, the report), and let the lease go.

use jiff::Timestamp;

use super::report::RunReport;
use super::{log_run_end, Engine, EngineError, Pass};
use crate::state::LeaseKind;

/// How a run ended, as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Every record synced.
    Succeeded,
    /// The run went through, but some records failed (logged, retried by the next run).
    CompletedWithFailures,
    /// Stopped (a signal, a lost lease) after its batch in flight; the next run goes on.
    Interrupted,
    /// A system or the store could not be used; the run stopped.
    Failed,
}

impl RunStatus {
    /// The name stored with the run.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::CompletedWithFailures => "completed_with_failures",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed => "failed",
        }
    }

    /// How a run with this report and outcome ended.
    pub fn of(report: &RunReport, outcome: &Result<(), EngineError>) -> RunStatus {
        match outcome {
            Err(_) => RunStatus::Failed,
            Ok(()) if report.interrupted => RunStatus::Interrupted,
            Ok(()) if report.totals().failed > 0 => RunStatus::CompletedWithFailures,
            Ok(()) => RunStatus::Succeeded,
        }
    }
}

impl<'a> Engine<'a> {
    /// Runs `work` (a pass, or a manual mode's reading) with the progress display told when
    /// it starts and ends, whatever its outcome.
    pub(crate) async fn shown<T>(
        &self,
        pass: &Pass<'a>,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        if let Some(p) = self.progress {
            p.pass(&pass.table.name, pass.dir.as_str());
        }
        let outcome = work.await;
        if let Some(p) = self.progress {
            p.pass_done();
        }
        outcome
    }

    /// Starts a run: outside dry runs, takes the run lease (refused while another process holds
    /// it), fences the store's transactions with it and records the run.
    pub(crate) fn begin(
        &mut self,
        mode: &str,
        trigger: &str,
        tables: &[String],
        dry_run: bool,
    ) -> Result<RunReport, EngineError> {
        self.dry_run = dry_run;
        self.started = Timestamp::now();
        if !dry_run {
            if !self.unit {
                self.lease = self.store.take_lease(LeaseKind::Run)?;
            }
            self.store.set_fence(self.lease.as_ref().map(|l| l.fence()));
            // A batch's intents and outcome are committed behind the engine, under the fence.
            self.store.commit_behind();
            // Under the fence: a holder that lost its lease closes no one's run. Durable with
            // the first intents: until something is written, a power loss has nothing to lose.
            self.run = self.store.transaction_durable_with_next(|st| {
                if self.unit {
                    for t in tables {
                        st.close_interrupted_runs_of(t)?;
                    }
                } else {
                    st.close_interrupted_runs()?;
                }
                let run = st.begin_run(mode, trigger, &self.plan.digest, tables, false)?;
                self.prune_history(st)?;
                Ok::<i64, EngineError>(run)
            })?;
        }
        // Writes stop going out the moment the lease may be lost, even those waiting for a
        // place in flight or for the service's budget.
        let gate = self.lease.as_ref().map(|l| {
            let watch = l.watch();
            std::sync::Arc::new(move || !watch.lost()) as crate::connectors::WriteGate
        });
        self.systems.set_write_gate(gate);
        tracing::info!(
            run = self.run,
            mode,
            trigger,
            tables = %tables.join(","),
            dry_run,
            "run started"
        );
        Ok(RunReport {
            run_id: (!dry_run).then_some(self.run),
            mode: mode.into(),
            dry_run,
            started_at: self.started.to_string(),
            ..RunReport::default()
        })
    }

    /// Ends a run: records its status and message, logs how it went and lets the lease go.
    /// Returns the run's own outcome (an error of the run wins over one of recording it).
    pub(crate) fn finish(
        &mut self,
        report: &mut RunReport,
        outcome: Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        report.duration_ms = Timestamp::now()
            .duration_since(self.started)
            .as_millis()
            .max(0) as u64;
        let status = RunStatus::of(report, &outcome);
        report.status = status.as_str().to_string();
        // Hints found as the run began (a plan that added fields) come after those of how it went.
        let early = std::mem::take(&mut report.hints);
        report.hints = hints(report);
        report.hints.extend(early);
        let recorded = if self.dry_run {
            Ok(())
        } else {
            self.record_end(report, status, outcome.as_ref().err())
        };
        log_run_end(self.run, status.as_str(), report, outcome.as_ref().err());
        // A write sent before the run stopped may still be on its way (a database file's,
        // on a thread of its own): done or dropped before the gate opens and the lease goes.
        self.systems.wait_for_writes();
        self.store.stop_committing_behind();
        self.store.set_fence(None);
        self.systems.set_write_gate(None);
        if !self.unit {
            self.lease = None;
        }
        outcome.and(recorded)
    }

    fn record_end(
        &self,
        report: &RunReport,
        status: RunStatus,
        error: Option<&EngineError>,
    ) -> Result<(), EngineError> {
        // The run's end is recorded even when its last skips cannot be (a lost lease, say).
        let flushed = self.flush_skips_now();
        let failed = report.totals().failed;
        let message = match status {
            RunStatus::Failed => error.map(ToString::to_string),
            RunStatus::Interrupted => Some(
                "stopped before the run finished; the next run goes on from the last watermarks"
                    .to_string(),
            ),
            RunStatus::CompletedWithFailures if report.mode == "apply" => Some(format!(
                "{failed} reviewed write{} not made: {} row moved since the review (the run's report says how); the next run syncs {} as usual",
                if failed == 1 { "" } else { "s" },
                if failed == 1 { "its" } else { "their" },
                if failed == 1 { "it" } else { "them" },
            )),
            RunStatus::CompletedWithFailures => Some(format!(
                "{failed} record{} failed; the next run retries {} (`syncmap errors` lists {})",
                if failed == 1 { "" } else { "s" },
                if failed == 1 { "it" } else { "them" },
                if failed == 1 { "it" } else { "them" },
            )),
            RunStatus::Succeeded => None,
        };
        // Fenced: a run whose lease was taken over leaves its record to the new holder.
        self.store
            .fenced(|st| st.finish_run(self.run, status.as_str(), message.as_deref()))?;
        Ok(flushed?)
    }
}

/// What a person should know about a run that did less than they may expect.
fn hints(report: &RunReport) -> Vec<String> {
    let mut out = Vec::new();
    let left: u64 = report.tables.iter().map(|p| p.not_coupled).sum();
    if left > 0 {
        let tables: std::collections::BTreeSet<&str> = report
            .tables
            .iter()
            .filter(|p| p.not_coupled > 0)
            .map(|p| p.mapping.as_str())
            .collect();
        out.push(format!(
            "{left} record{} of {} {} not coupled and {} left alone: a modified-only run syncs coupled records only (`only coupled`); `syncmap run --mode full` couples them, by the match rules or by creating their partners",
            if left == 1 { "" } else { "s" },
            tables.into_iter().collect::<Vec<_>>().join(", "),
            if left == 1 { "is" } else { "are" },
            if left == 1 { "was" } else { "were" },
        ));
    }
    out.extend(report.tables.iter().filter_map(|p| p.read_note.clone()));
    out
}
