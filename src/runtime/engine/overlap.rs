//! A pass's batches with their writes overlapped: while a service takes the writes of one
//! batch (as many as its connector says are worth it), the engine reads the next batch's partners, matches, transforms and decides
//! it, and sends its writes as soon as they are decided, instead of each side waiting on the
//! other; writes under way go on across pages. Every batch still records its intents before
//! its writes and commits its outcomes when its answer comes, so a kill or a lost answer
//! leaves what it always left: writes whose intents say what they were. Only batches whose
//! decisions cannot depend on the writes before them overlap: a match rule must not ask the
//! destination for rows while a batch under way gives records new partners (it could find one
//! made or matched a moment ago and not yet coupled), and no lookup may go through the table
//! mapping's own couplings (which a batch under way could be saving). Batches touch different records, so the order
//! in which their writes land does not matter.

use std::pin::pin;

use futures_util::future::{FutureExt, LocalBoxFuture};
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::batch::Pending;
use super::report::PassReport;
use super::{Engine, EngineError, Pass};
use crate::connectors::{Connector, Row};

/// What a batch's writes did: the source keys of its rows, whether it gave records new
/// partners, its own report and its outcome.
type Written = (Vec<String>, bool, PassReport, Result<(), EngineError>);

/// Batches whose writes are under way.
#[derive(Default)]
pub(crate) struct Writing<'w> {
    batches: FuturesUnordered<LocalBoxFuture<'w, Written>>,
    /// How many of them give records new partners.
    partnering: usize,
}

impl<'a> Engine<'a> {
    /// Processes a page's rows in batches, each decided while the batches before it are
    /// written where it may, and leaves its last writes under way; `false` when a stop ended
    /// the page early. The caller waits for what is under way ([`Engine::written`]).
    pub(crate) async fn process_batches<'w>(
        &'w self,
        pass: &'w Pass<'a>,
        rows: Vec<Row>,
        last_page: bool,
        writing: &mut Writing<'w>,
        pr: &mut PassReport,
    ) -> Result<bool, EngineError> {
        let size = self.options.batch_size.max(1);
        let at_once = self.batches_at_once(pass)?;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let batch: Vec<Row> = rows.by_ref().take(size).collect();
            if at_once < 2 || !self.overlaps(pass, writing.partnering) {
                self.written(writing, pr).await?;
            }
            let keys: Vec<String> = batch.iter().map(|r| r.key.clone()).collect();
            let mut report = PassReport::default();
            let decided = {
                let mut deciding = pin!(self.decide_batch(pass, batch, false, &mut report));
                // Answers that come while the batch is decided are recorded as they come.
                let mut failed = None;
                let decided = loop {
                    tokio::select! {
                        biased;
                        decided = &mut deciding => break decided,
                        Some(done) = writing.batches.next(), if !writing.batches.is_empty() => {
                            failed = failed.or(self.record_written(done, &mut writing.partnering, pr).err());
                        }
                    }
                };
                failed.map_or(decided, Err)
            };
            self.label_changes(&mut report.changes);
            let pending = decided?;
            let partners = pending.iter().any(Pending::new_partner);
            writing.partnering += usize::from(partners);
            let write = self.write_batch(pass, (keys, partners), report, pending);
            writing.batches.push(write.boxed_local());
            while writing.batches.len() >= at_once {
                self.one_written(writing, pr).await?;
            }
            let last = rows.peek().is_none();
            if self.cancelled() && !(last && last_page) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes a decided batch, with a report of its own (batches under way at once cannot
    /// share one), which starts with what deciding it found.
    async fn write_batch(
        &self,
        pass: &Pass<'a>,
        (keys, partners): (Vec<String>, bool),
        mut report: PassReport,
        pending: Vec<Pending>,
    ) -> Written {
        let result = self.execute(pass, pending, &mut report).await;
        (keys, partners, report, result)
    }

    /// Waits for one batch under way and records what it did.
    async fn one_written(
        &self,
        writing: &mut Writing<'_>,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        match writing.batches.next().await {
            Some(done) => self.record_written(done, &mut writing.partnering, pr),
            None => Ok(()),
        }
    }

    /// Waits for every batch under way; the first failure, once all are done.
    pub(crate) async fn written(
        &self,
        writing: &mut Writing<'_>,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let mut failed = None;
        while !writing.batches.is_empty() {
            if let Err(e) = self.one_written(writing, pr).await {
                failed = failed.or(Some(e));
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Adds what a written batch did to the pass, its changes labelled, and forgets its
    /// labels; its outcome.
    fn record_written(
        &self,
        (keys, partnered, mut done, result): Written,
        partnering: &mut usize,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        *partnering -= usize::from(partnered);
        self.label_changes(&mut done.changes);
        self.forget_labels_of(&keys);
        pr.absorb(done);
        result
    }

    /// How many batches' writes may be under way at once: what the destination, which takes
    /// nearly all of them, says is worth it.
    fn batches_at_once(&self, pass: &Pass<'a>) -> Result<usize, EngineError> {
        let dest = self.systems.get(pass.dst_system)?.capabilities();
        Ok(dest.batches_at_once.max(1))
    }

    /// Whether the next batch may be decided while the ones under way are written: a run
    /// that writes, with no match rule that would ask the destination (none, or the
    /// destination was found empty for this pass) while `partnering` batches under way give
    /// records new partners, and no lookup through this table mapping's couplings.
    fn overlaps(&self, pass: &Pass<'a>, partnering: usize) -> bool {
        let asks_destination = partnering > 0
            && !pass.table.match_rules.is_empty()
            && pass.dest_has_rows.get() != Some(false);
        let looks_up_itself = pass.ops.iter().any(|(op, _)| {
            op.value
                .looks_up_via(&self.plan.functions, &pass.table.name)
        });
        !self.dry_run && !pass.match_only && !asks_destination && !looks_up_itself
    }
}
