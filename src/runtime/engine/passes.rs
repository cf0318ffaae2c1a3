//! One pass of a table mapping in one direction: settle what earlier runs left open, retry the
//! records that failed, then read the source page by page (all of it, or what changed since the
//! watermark), process it in batches and move the watermark.

use std::cell::RefCell;
use std::collections::HashSet;
use std::pin::pin;

use futures_util::FutureExt;

use super::overlap::Writing;
use super::report::{PassReport, RunReport};
use super::tracked::{self, Tracked};
use super::versions_first::versions_only;
use super::{Engine, EngineError, Mode, Pass};
use crate::connectors::{Connector, ConnectorError, ReadRequest, Row, TableRef, Tracking};
use crate::cursor::Cursor;
use crate::plan;
use crate::state::Direction;

impl<'a> Engine<'a> {
    /// Runs one pass. `false` when cancellation cut it short after a batch: its batches are
    /// committed, its counts saved, and its watermark left where it was (rows past the cut were
    /// not processed, and in a full sync rows come in key order, so no cursor covers exactly
    /// those that were).
    pub(crate) async fn run_pass(
        &self,
        pass: &Pass<'a>,
        pr: &mut PassReport,
    ) -> Result<bool, EngineError> {
        let mapping = &pass.table.name;
        if !self.dry_run && self.reconcile_table(pass.table, pass.mode, pr).await? > 0 {
            // Settling may have changed pairs the pass before synced: the store judges them.
            pass.echoes.versions.judge_none();
        }
        let (completed, retried) = self.retry_failed(pass, pr).await?;
        // Latency is that of the changes read past the watermark, not of records tried again
        // or settled (whose modified-on may be days old).
        pr.latencies.clear();
        let before = self.store.watermark(mapping, pass.dir)?;
        let since = match pass.mode {
            Mode::Modified => before.as_ref().map(|c| Cursor {
                modified_on: c.modified_on - self.options.overlap,
                key: String::new(),
            }),
            Mode::Full => None,
        };
        let tracking = self.tracking(pass)?;
        let (completed, newest, tracked) = if completed {
            self.read_changes(pass, since, &retried, &tracking, pr)
                .await?
        } else {
            (false, None, Tracked::default())
        };
        if completed {
            let read = pr.latencies.len();
            self.partners_removed(pass, &tracked.removed, pr).await?;
            pr.latencies.truncate(read);
        }
        // The watermark moves to the newest row seen (synced or not), capped at the run's start
        // so rows changed while the run went on are read again next time; it never goes back.
        let after = newest.map(|n| {
            if n.modified_on > self.started {
                Cursor {
                    modified_on: self.started,
                    key: String::new(),
                }
            } else {
                n
            }
        });
        if !self.dry_run {
            let link = (completed && tracking != Tracking::Off)
                .then(|| tracked::kept_link(&tracking, tracked.delta.as_deref()));
            let watermark = after.filter(|_| completed);
            self.commit_pass(pass, pr, before.as_ref(), watermark.as_ref(), link)?;
        }
        Ok(completed)
    }

    /// Ends a pass in one transaction: the watermark moves (where the pass read to its end),
    /// the link to the system's record of changes is kept or forgotten (`link`, where the
    /// pass followed one), and its counts are saved.
    fn commit_pass(
        &self,
        pass: &Pass<'a>,
        pr: &PassReport,
        before: Option<&Cursor>,
        after: Option<&Cursor>,
        link: Option<Option<&str>>,
    ) -> Result<(), EngineError> {
        let mapping = &pass.table.name;
        // Durable with the next intents, or the run's end: lost with power before then, the
        // pass is read again from the last watermark on disk.
        self.store.transaction_durable_with_next(|st| {
            self.flush_skips(st)?;
            if let Some(c) = after {
                st.advance_watermark(mapping, pass.dir, c, self.run)?;
            }
            if let Some(link) = link {
                st.set_delta(mapping, pass.dir, link, self.run)?;
            }
            let stored = st.watermark(mapping, pass.dir)?;
            st.save_counts(
                self.run,
                mapping,
                pass.dir,
                &pr.counts,
                before,
                stored.as_ref(),
            )?;
            Ok::<(), EngineError>(())
        })
    }

    /// Failed records first, as the reference does: they are read by key whatever their
    /// modified-on, so a fix on the other side (or a deployed mapping fix) lets them through. So
    /// are pairs coupled by hand or by matching and never synced from this side: their rows may
    /// be older than the watermark, and a coupling promises the next run syncs it. Returns
    /// whether the pass may go on (not cancelled) and the keys retried.
    async fn retry_failed(
        &self,
        pass: &Pass<'a>,
        pr: &mut PassReport,
    ) -> Result<(bool, HashSet<String>), EngineError> {
        let src_conn = self.systems.get(pass.src_system)?;
        let mapping = &pass.table.name;
        let mut failed = self.store.failed_not_skipped(mapping, pass.dir)?;
        let mut retried: HashSet<String> = failed.iter().cloned().collect();
        for key in self.store.never_synced(mapping, pass.dir.source())? {
            if retried.insert(key.clone()) {
                failed.push(key);
            }
        }
        for chunk in failed.chunks(self.options.batch_size.max(1)) {
            if self.cancelled() {
                return Ok((false, retried));
            }
            let rows = src_conn
                .get(pass.src, chunk)
                .await
                .map_err(EngineError::from_connector)?;
            // A failed record whose row is gone has nothing left to retry; its failure would
            // otherwise stay listed (and be looked for) forever.
            if !self.dry_run {
                for key in chunk.iter().filter(|k| !rows.iter().any(|r| &r.key == *k)) {
                    self.store.clear_failure(mapping, pass.dir, key)?;
                }
            }
            self.process(pass, rows, true, pr).await?;
        }
        Ok((true, retried))
    }

    /// Reads the source as `tracking` says (by its system's record of changes, or since the
    /// watermark `since`), falling back to `since` when the system no longer knows the point
    /// the changes were asked from: whether it read to the end, the newest `(modified_on,
    /// key)` seen, and what the record of changes brought besides rows.
    async fn read_changes(
        &self,
        pass: &Pass<'a>,
        since: Option<Cursor>,
        retried: &HashSet<String>,
        tracking: &Tracking,
        pr: &mut PassReport,
    ) -> Result<(bool, Option<Cursor>, Tracked), EngineError> {
        let tracked = RefCell::new(Tracked::default());
        // A whole tracked read starts over; a read since a link or by modified-on goes on.
        let from = if *tracking == Tracking::Off {
            since.clone()
        } else {
            None
        };
        match self
            .read_source_tracked(pass, from, retried, tracking, &tracked, pr)
            .await
        {
            Err(EngineError::Connector(ConnectorError::Expired(why))) => {
                pr.read_note = Some(format!(
                    "{} {}: its changes were read by modified-on, as the link to the system's record of changes could not be followed ({why}); the next read follows the record again, from a whole read",
                    pass.table.name,
                    pass.dir.as_str()
                ));
                // Deletions the pages read before the refusal brought are still applied;
                // the link is forgotten.
                let removed = std::mem::take(&mut tracked.borrow_mut().removed);
                let (done, newest) = self
                    .read_source_tracked(pass, since, retried, &Tracking::Off, &tracked, pr)
                    .await?;
                let tracked = Tracked {
                    removed,
                    delta: None,
                };
                Ok((done, newest, tracked))
            }
            Err(e) => Err(e),
            Ok((done, newest)) => Ok((done, newest, tracked.into_inner())),
        }
    }

    /// Reads the source page by page and processes it in batches; returns whether it read to
    /// the end (not cancelled) and the newest `(modified_on, key)` seen.
    pub(crate) async fn read_source(
        &self,
        pass: &Pass<'a>,
        since: Option<Cursor>,
        retried: &HashSet<String>,
        pr: &mut PassReport,
    ) -> Result<(bool, Option<Cursor>), EngineError> {
        let tracked = RefCell::new(Tracked::default());
        self.read_source_tracked(pass, since, retried, &Tracking::Off, &tracked, pr)
            .await
    }

    /// [`Engine::read_source`], following the system's record of changes as `tracking` says
    /// and gathering what it brings besides rows in `tracked`.
    async fn read_source_tracked(
        &self,
        pass: &Pass<'a>,
        since: Option<Cursor>,
        retried: &HashSet<String>,
        tracking: &Tracking,
        tracked: &RefCell<Tracked>,
        pr: &mut PassReport,
    ) -> Result<(bool, Option<Cursor>), EngineError> {
        let src_conn = self.systems.get(pass.src_system)?;
        let page_size = self
            .options
            .page_size
            .min(src_conn.capabilities().max_page)
            .max(1);
        let filter = pass.table.side(pass.dir.source()).filter.as_ref();
        // Read versions first, the table is described by its key, version and filter columns
        // alone; rows that need more are read whole by key (`widen`).
        // Not with a record of changes: a whole tracked read's delta link keeps its `$select`,
        // and the reads that follow it must bring every column.
        let narrow = (self.reads_versions_first(pass) && *tracking == Tracking::Off)
            .then(|| versions_only(pass.src.info, filter));
        let table = match &narrow {
            Some(info) => TableRef {
                name: pass.src.name,
                info,
            },
            None => pass.src,
        };
        let req = ReadRequest {
            table,
            filter,
            since,
            page_size,
            tracking: tracking.clone(),
        };
        let mut writing = Writing::default();
        let pages = Pages {
            req: &req,
            retried,
            narrow: narrow.is_some(),
            tracked,
        };
        let read = self.read_pages(pass, &pages, &mut writing, pr).await;
        // Whatever was decided is written before the pass moves on, after a stop or a
        // failure too.
        let written = self.written(&mut writing, pr).await;
        let read = read?;
        written?;
        Ok(read)
    }

    /// The page loop of [`Engine::read_source`]: each page processed while the next is read.
    async fn read_pages<'w>(
        &'w self,
        pass: &'w Pass<'a>,
        pages: &Pages<'_>,
        writing: &mut Writing<'w>,
        pr: &mut PassReport,
    ) -> Result<(bool, Option<Cursor>), EngineError> {
        let src_conn = self.systems.get(pass.src_system)?;
        let read = |continuation: Option<String>| async move {
            src_conn
                .read_page(pages.req, continuation.as_deref())
                .await
                .map_err(EngineError::from_connector)
        };
        let mut newest: Option<Cursor> = None;
        let mut page = read(None).await?;
        loop {
            if let Some(p) = self.progress {
                p.rows(page.rows.len() as u64);
            }
            newest = newest_of(newest, &page.rows);
            Tracked::absorb(pages.tracked, &mut page);
            // The next page is asked for while this one is processed: the service answers
            // while the engine works, instead of each waiting on the other. A stop or an
            // error ends the pass without waiting for it.
            let next = page.next.take();
            let last = next.is_none();
            let prefetch = async {
                match &next {
                    Some(n) => Some(read(Some(n.clone())).await),
                    None => None,
                }
            };
            let mut prefetch = pin!(prefetch);
            let rows = std::mem::take(&mut page.rows);
            let process = self.process_page(pass, rows, pages, last, writing, pr);
            let Some(got) = while_reading(&mut prefetch, process).await? else {
                return Ok((false, newest));
            };
            // Still waiting for the next page, the batches under way go on being recorded.
            let prefetched = match got {
                Some(p) => p,
                None => self.driving(writing, pr, prefetch.map(Ok)).await?,
            };
            match prefetched {
                Some(p) => page = p?,
                None => return Ok((true, newest)),
            }
        }
    }

    /// Processes one page's rows in batches, leaving out failed records retried before it
    /// (not processed twice in one pass); `false` when a stop ended it early. A page read
    /// versions first is widened first.
    async fn process_page<'w>(
        &'w self,
        pass: &'w Pass<'a>,
        rows: Vec<Row>,
        pages: &Pages<'_>,
        last_page: bool,
        writing: &mut Writing<'w>,
        pr: &mut PassReport,
    ) -> Result<bool, EngineError> {
        let mut rows: Vec<Row> = rows
            .into_iter()
            .filter(|r| !pages.retried.contains(&r.key))
            .collect();
        if pages.narrow {
            let mut widened = PassReport::default();
            let widening = self.widen(pass, rows, &mut widened);
            rows = self.driving(writing, pr, widening).await?;
            pr.absorb(widened);
        }
        if rows.is_empty() {
            // A page with nothing left to process (every pair in step) still heeds a stop.
            return Ok(!self.cancelled() || last_page);
        }
        self.process_batches(pass, rows, last_page, writing, pr)
            .await
    }

    /// Rows the sync created whose system set values that flow back through the other
    /// direction's one-way fields (`number -> accountnumber`, where Business Central chose the
    /// number of a customer made from an account): the other direction sees them unchanged, so
    /// after both passes they go through it by key, with its one-way fields only — the two-way
    /// ones were just written from the other side, and writing them back could undo a value the
    /// create could not carry (a company link cleared on failure). Rows a killed run created
    /// are followed up by the next run.
    pub(crate) async fn follow_up(
        &self,
        t: &'a plan::Table,
        mode: Mode,
        report: &mut RunReport,
    ) -> Result<(), EngineError> {
        if t.flow != plan::Flow::Both || self.dry_run {
            return Ok(());
        }
        for created in super::directions(t.flow) {
            if self.cancelled() {
                return Ok(());
            }
            let dir = created.reverse();
            let keys = self.store.follow_ups(&t.name, dir.source())?;
            if keys.is_empty() {
                continue;
            }
            let mut pass = self.pass(t, dir, mode, true)?;
            pass.back_only = true;
            pass.force = true;
            pass.ops.retain(|(op, _)| !op.two_way);
            pass.base_fields.clear();
            let conn = self.systems.get(pass.src_system)?;
            let mut pr = PassReport::default();
            for chunk in keys.chunks(self.options.batch_size.max(1)) {
                let rows = conn
                    .get(pass.src, chunk)
                    .await
                    .map_err(EngineError::from_connector)?;
                self.process(&pass, rows, false, &mut pr).await?;
            }
            self.flush_skips_now()?;
            self.add_to_pass(report, &t.name, dir, pr)?;
        }
        Ok(())
    }

    /// Adds what a follow-up did to its direction's pass in the report and the store.
    fn add_to_pass(
        &self,
        report: &mut RunReport,
        mapping: &str,
        dir: Direction,
        pr: PassReport,
    ) -> Result<(), EngineError> {
        let Some(p) = report
            .tables
            .iter_mut()
            .find(|p| p.mapping == mapping && p.direction == dir.as_str())
        else {
            return Ok(());
        };
        p.counts.add(&pr.counts);
        p.errors.extend(pr.errors);
        self.store
            .save_counts(self.run, mapping, dir, &p.counts, None, None)?;
        Ok(())
    }
}

/// How a pass reads its source.
struct Pages<'r> {
    req: &'r ReadRequest<'r>,
    /// Failed records retried before the read, left out of it.
    retried: &'r HashSet<String>,
    /// Whether the read is versions first.
    narrow: bool,
    /// What a tracked read brings besides rows.
    tracked: &'r RefCell<Tracked>,
}

/// Runs `work` while `read` goes on; `None` when the work says to stop, else what the read
/// gave if it is done (the caller waits for the rest). The read is polled first, so its
/// request is under way before the work starts, which may not yield until it is done.
async fn while_reading<R>(
    read: &mut (impl std::future::Future<Output = R> + Unpin),
    work: impl std::future::Future<Output = Result<bool, EngineError>>,
) -> Result<Option<Option<R>>, EngineError> {
    tokio::pin!(work);
    let mut got = None;
    let finished = loop {
        tokio::select! {
            biased;
            r = &mut *read, if got.is_none() => got = Some(r),
            done = &mut work => break done,
        }
    };
    Ok(finished?.then_some(got))
}

/// The newest `(modified_on, key)` among `seen` and the rows of a page.
fn newest_of(seen: Option<Cursor>, rows: &[Row]) -> Option<Cursor> {
    rows.iter()
        .filter_map(|row| {
            row.modified_on.map(|m| Cursor {
                modified_on: m,
                key: row.key.clone(),
            })
        })
        .fold(seen, |newest, c| match newest {
            Some(n) if n >= c => Some(n),
            _ => Some(c),
        })
}
