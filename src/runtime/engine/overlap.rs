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

use std::collections::HashSet;
use std::pin::pin;

use futures_util::future::{FutureExt, LocalBoxFuture};
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::batch::Pending;
use super::report::PassReport;
use super::{Engine, EngineError, Pass};
use crate::connectors::{Connector, Row};

/// What a batch's writes did: the source keys of its rows, what makes it exclusive, its own
/// report and its outcome.
type Written = (Vec<String>, Exclusive, PassReport, Result<(), EngineError>);

/// What in a batch under way keeps the next batch from being decided meanwhile.
#[derive(Debug, Clone, Copy, Default)]
struct Exclusive {
    /// It gives records new partners (creates, or couples what a match rule found), which a
    /// match rule could find before they are coupled.
    partners: bool,
    /// It creates rows whose keys the system chooses: an answer lost in the next batch is
    /// settled by looking for rows like the ones it wrote, which could be these.
    keyless: bool,
}

/// Batches whose writes are under way.
#[derive(Default)]
pub(crate) struct Writing<'w> {
    batches: FuturesUnordered<LocalBoxFuture<'w, Written>>,
    /// The source keys of their rows: a row met again (changed while the pass goes on, or
    /// repeated by a service paging by offset) waits for its batch.
    keys: HashSet<String>,
    /// How many give records new partners.
    partnering: usize,
    /// How many create rows whose keys the system chooses.
    keyless: usize,
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
            let keys: Vec<String> = batch.iter().map(|r| r.key.clone()).collect();
            if at_once < 2 || !self.overlaps(pass, writing, &keys) {
                self.written(writing, pr).await?;
            }
            let mut report = PassReport::default();
            let deciding = self.decide_batch(pass, batch, false, &mut report);
            let decided = self.driving(writing, pr, deciding).await;
            self.label_changes(&mut report.changes);
            let pending = decided?;
            let exclusive = Exclusive {
                partners: pending.iter().any(Pending::new_partner),
                keyless: pending.iter().any(Pending::keyless_create),
            };
            writing.partnering += usize::from(exclusive.partners);
            writing.keyless += usize::from(exclusive.keyless);
            writing.keys.extend(keys.iter().cloned());
            let write = self.write_batch(pass, (keys, exclusive), report, pending);
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

    /// Runs `work` while recording the batches under way as they finish: they are never left
    /// waiting on something that waits on them (a request slot of the client one of them
    /// holds, say), and their answers are taken as they come.
    pub(crate) async fn driving<T>(
        &self,
        writing: &mut Writing<'_>,
        pr: &mut PassReport,
        work: impl std::future::Future<Output = Result<T, EngineError>>,
    ) -> Result<T, EngineError> {
        let mut work = pin!(work);
        let mut failed = None;
        let done = loop {
            tokio::select! {
                biased;
                done = &mut work => break done,
                Some(written) = writing.batches.next(), if !writing.batches.is_empty() => {
                    failed = failed.or(self.record_written(written, writing, pr).err());
                }
            }
        };
        failed.map_or(done, Err)
    }

    /// Writes a decided batch, with a report of its own (batches under way at once cannot
    /// share one), which starts with what deciding it found.
    async fn write_batch(
        &self,
        pass: &Pass<'a>,
        (keys, exclusive): (Vec<String>, Exclusive),
        mut report: PassReport,
        pending: Vec<Pending>,
    ) -> Written {
        let result = self.execute(pass, pending, &mut report).await;
        (keys, exclusive, report, result)
    }

    /// Waits for one batch under way and records what it did.
    async fn one_written(
        &self,
        writing: &mut Writing<'_>,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        match writing.batches.next().await {
            Some(done) => self.record_written(done, writing, pr),
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
        (keys, exclusive, mut done, result): Written,
        writing: &mut Writing<'_>,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        writing.partnering -= usize::from(exclusive.partners);
        writing.keyless -= usize::from(exclusive.keyless);
        for k in &keys {
            writing.keys.remove(k);
        }
        self.label_changes(&mut done.changes);
        self.forget_labels_of(&keys);
        pr.absorb(done);
        result
    }

    /// How many batches' writes may be under way at once, by what the destination (which
    /// takes nearly all of them) keeps in flight: one where a write blocks until done;
    /// else enough batches to fill its request slots, at least two (one answered while the
    /// next is sent) and at most [`MOST_BATCHES_AT_ONCE`]. With only two, batches that fit in
    /// one request each (Dataverse's default: 500 rows, 1,000 a request) leave slots idle, and
    /// the service waits whenever a batch takes the engine longer than usual; batches that
    /// need several requests each (Business Central's 100) fill the slots already, and more of
    /// them would only queue for the slots ahead of the next batch's reads.
    fn batches_at_once(&self, pass: &Pass<'a>) -> Result<usize, EngineError> {
        let dest = self.systems.get(pass.dst_system)?.capabilities();
        if dest.writes_block {
            return Ok(1);
        }
        Ok(batches_at_once(
            dest.requests_at_once,
            dest.writes_per_request,
            self.options.batch_size,
        ))
    }

    /// Whether the next batch, of rows with these keys, may be decided while the ones under
    /// way are written: a run that writes; none of its rows in a batch under way; no match
    /// rule that would ask the destination (none, or the destination was found empty for
    /// this pass) while a batch under way gives records new partners; no batch under way
    /// creating rows whose keys the system chooses; and no lookup through this table
    /// mapping's couplings.
    fn overlaps(&self, pass: &Pass<'a>, writing: &Writing<'_>, keys: &[String]) -> bool {
        if writing.batches.is_empty() {
            return true;
        }
        let met_again = keys.iter().any(|k| writing.keys.contains(k));
        let asks_destination = writing.partnering > 0
            && !pass.table.match_rules.is_empty()
            && pass.dest_has_rows.get() != Some(false);
        let looks_up_itself = pass.ops.iter().any(|(op, _)| {
            op.value
                .looks_up_via(&self.plan.functions, &pass.table.name)
        });
        !self.dry_run
            && !pass.match_only
            && !met_again
            && !asks_destination
            && writing.keyless == 0
            && !looks_up_itself
    }
}

/// The most batches under way at once, whatever the destination's request slots: each holds
/// its rows and their encoded writes in memory, a stop waits for them, and a kill leaves
/// their intents to settle.
const MOST_BATCHES_AT_ONCE: usize = 8;

/// Batches under way at once for a destination keeping `requests` write requests in flight
/// of at most `per_request` writes each, with batches of `batch_size` rows.
fn batches_at_once(requests: usize, per_request: usize, batch_size: usize) -> usize {
    let requests_per_batch = batch_size.max(1).div_ceil(per_request.max(1));
    requests
        .div_ceil(requests_per_batch)
        .clamp(2, MOST_BATCHES_AT_ONCE)
}

#[cfg(test)]
mod tests {
    use super::batches_at_once;

    #[test]
    fn batches_under_way_fill_the_request_slots_within_bounds() {
        // One request in flight: one batch answered while the next is decided.
        assert_eq!(batches_at_once(1, 1000, 500), 2);
        // Dataverse, 4 requests of up to 1,000: batches of 500 or 1,000 take one each.
        assert_eq!(batches_at_once(4, 1000, 500), 4);
        assert_eq!(batches_at_once(4, 1000, 1000), 4);
        // Business Central, 100 a request: a batch of 500 fills the slots; two as before.
        assert_eq!(batches_at_once(4, 100, 500), 2);
        // Two requests in flight, or small batches among many slots: at least two, at most 8.
        assert_eq!(batches_at_once(2, 1000, 500), 2);
        assert_eq!(batches_at_once(50, 1000, 20), 8);
        assert_eq!(batches_at_once(6, 1000, 1500), 3);
    }
}
