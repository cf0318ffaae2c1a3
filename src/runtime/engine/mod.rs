//! The sync engine: runs a compiled plan against two systems, in dependency order, left to
//! right before right to left, remembering couplings, watermarks, runs and failures in the state
//! store. Rows stream page by page; every batch's writes and its coupling updates are committed
//! before the next batch, so a run killed at any moment resumes without losing or duplicating a
//! record.

mod batch;
mod history;
mod lookups;
mod manual;
pub mod report;

pub use manual::{DirectionStatus, TableStatus};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::connectors::{Connector, ConnectorError, Cursor, ReadRequest, Row, TableRef};
use crate::plan::{self, Flow, Plan, Side};
use crate::runtime::eval::{Compiled, Context, EvalError, UserFunctions};
use crate::runtime::systems::Systems;
use crate::runtime::value::Value;
use crate::state::{Coupling, Direction, Intent, IntentKind, StateError, Store};
pub use report::{Change, FieldChange, PassReport, RecordFailure, RunReport};

/// Why a run could not go on. Per-record problems are not errors: they are logged and the run
/// continues.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A system cannot be used at all.
    #[error("{0}")]
    Connector(ConnectorError),
    /// The plan contradicts itself or is of another version.
    #[error("plan: {0}")]
    Plan(String),
    /// The profile is missing something the plan needs.
    #[error("profile: {0}")]
    Config(String),
    /// A request names a table or record that does not exist.
    #[error("{0}")]
    Request(String),
}

impl EngineError {
    /// A connector error that stops the run (everything but per-record problems).
    pub fn from_connector(e: ConnectorError) -> EngineError {
        EngineError::Connector(e)
    }
}

impl From<EvalError> for EngineError {
    fn from(e: EvalError) -> Self {
        EngineError::Plan(e.to_string())
    }
}

/// Full or modified-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every row passing the filters; uncoupled rows are matched or created whatever
    /// `only coupled` says.
    Full,
    /// Rows changed since the last run.
    Modified,
}

impl Mode {
    /// The name stored with the run.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Modified => "modified",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Full or modified-only.
    pub mode: Mode,
    /// Table mappings to run, in plan order; all when empty.
    pub tables: Vec<String>,
    /// Read both sides, write nothing (to the systems or the state), report what would change.
    pub dry_run: bool,
    /// `manual` or `schedule`.
    pub trigger: String,
}

/// Tuning.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rows per page read.
    pub page_size: usize,
    /// Rows per batch processed and written.
    pub batch_size: usize,
    /// How far before the watermark modified-only reads start, against clock precision.
    pub overlap: SignedDuration,
    /// How many runs' write logs the state store keeps (the newest; older ones are pruned as
    /// a run starts).
    pub history_runs: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            page_size: 1000,
            batch_size: 200,
            overlap: SignedDuration::from_millis(999),
            history_runs: 50,
        }
    }
}

/// One table mapping in one direction, with what the passes need at hand.
pub(crate) struct Pass<'a> {
    pub table: &'a plan::Table,
    pub dir: Direction,
    pub ops: Vec<(&'a plan::FieldOp, Compiled)>,
    pub src_system: &'a str,
    pub dst_system: &'a str,
    pub src: TableRef<'a>,
    pub dst: TableRef<'a>,
    pub filter: Option<Compiled>,
    pub dst_filter: Option<Compiled>,
    pub mode: Mode,
    /// Uncoupled rows are matched or created even in modified-only mode (full sync, one record).
    pub ignore_only_coupled: bool,
    /// Only couple uncoupled rows by the match rules; write nothing (match-based coupling).
    pub match_only: bool,
    /// Coupled rows count as changed whatever their timestamps, so the partner is brought in
    /// line (the reference's ForceModify when one record is synchronized by hand).
    pub force: bool,
}

/// Told how a run advances, to show progress; the engine does not care how.
pub trait Progress {
    /// A pass of a table mapping starts.
    fn pass(&self, mapping: &str, direction: &str);
    /// Some source rows were read.
    fn rows(&self, n: u64);
    /// The pass ended.
    fn pass_done(&self);
}

/// Runs a plan.
pub struct Engine<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) systems: &'a Systems,
    pub(crate) store: &'a Store,
    pub(crate) functions: UserFunctions,
    pub(crate) options: Options,
    pub(crate) run: i64,
    pub(crate) dry_run: bool,
    pub(crate) started: Timestamp,
    pub(crate) progress: Option<&'a dyn Progress>,
    /// The store's run lock while a run that writes is under way.
    pub(crate) lock: Option<std::fs::File>,
    /// Set from outside (a signal) to stop the run after the batch in flight.
    pub(crate) cancel: Option<Arc<AtomicBool>>,
    /// Records left alone since the last commit, logged with the next one.
    pub(crate) skips: std::cell::RefCell<Vec<history::Skip>>,
}

impl<'a> Engine<'a> {
    /// Reports progress to `p` from now on.
    pub fn with_progress(mut self, p: &'a dyn Progress) -> Self {
        self.progress = Some(p);
        self
    }

    /// Stops runs once `flag` is set: the batch in flight finishes and is committed, no further
    /// batch or pass starts, the cut pass keeps its watermark, and the run is recorded
    /// `interrupted` with its counts. Checked between batches and pages, so it costs nothing.
    pub fn with_cancel(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Whether the run was asked to stop.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// An engine over a plan, its systems and a state store.
    pub fn new(
        plan: &'a Plan,
        systems: &'a Systems,
        store: &'a Store,
        options: Options,
    ) -> Result<Engine<'a>, EngineError> {
        if plan.format_version != plan::PLAN_FORMAT_VERSION {
            return Err(EngineError::Plan(format!(
                "format version {} is not supported (this syncmap runs version {})",
                plan.format_version,
                plan::PLAN_FORMAT_VERSION
            )));
        }
        let functions = UserFunctions::new(&plan.functions)?;
        Ok(Engine {
            plan,
            systems,
            store,
            functions,
            options,
            run: 0,
            dry_run: false,
            started: Timestamp::now(),
            progress: None,
            lock: None,
            cancel: None,
            skips: std::cell::RefCell::default(),
        })
    }

    /// The table mappings a request names, in plan (dependency) order.
    fn selected(&self, names: &[String]) -> Result<Vec<&'a plan::Table>, EngineError> {
        for n in names {
            if self.plan.table(n).is_none() {
                let all: Vec<&str> = self.plan.tables.iter().map(|t| t.name.as_str()).collect();
                return Err(EngineError::Request(format!(
                    "no table mapping `{n}` in the plan (it has {})",
                    all.join(", ")
                )));
            }
        }
        Ok(self
            .plan
            .tables
            .iter()
            .filter(|t| names.is_empty() || names.contains(&t.name))
            .collect())
    }

    /// Runs a full or modified-only sync.
    pub async fn run(&mut self, req: &RunRequest) -> Result<RunReport, EngineError> {
        let tables = self.selected(&req.tables)?;
        self.dry_run = req.dry_run;
        self.started = Timestamp::now();
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        if !self.dry_run {
            // One run at a time per store: a second process waits for nothing and says so.
            self.lock = self.store.lock_runs()?;
            self.store.close_interrupted_runs()?;
            self.run = self.store.begin_run(
                req.mode.as_str(),
                &req.trigger,
                &self.plan.digest,
                &names,
                false,
            )?;
            self.prune_history()?;
        }
        tracing::info!(
            run = self.run,
            mode = %req.mode.as_str(),
            trigger = %req.trigger,
            tables = %names.join(","),
            dry_run = self.dry_run,
            "run started"
        );
        let mut report = RunReport {
            run_id: (!self.dry_run).then_some(self.run),
            mode: req.mode.as_str().into(),
            dry_run: self.dry_run,
            started_at: self.started.to_string(),
            ..RunReport::default()
        };
        let outcome = self.run_tables(&tables, req.mode, &mut report).await;
        report.duration_ms = Timestamp::now()
            .duration_since(self.started)
            .as_millis()
            .max(0) as u64;
        let status = match &outcome {
            Ok(()) if report.interrupted => "interrupted",
            Ok(()) => "succeeded",
            Err(_) => "failed",
        };
        if !self.dry_run {
            match &outcome {
                Ok(()) if report.interrupted => self.store.finish_run(
                    self.run,
                    status,
                    Some("stopped before the run finished; the next run goes on from the last watermarks"),
                )?,
                Ok(()) => self.store.finish_run(self.run, status, None)?,
                Err(e) => self
                    .store
                    .finish_run(self.run, status, Some(&e.to_string()))?,
            }
        }
        log_run_end(self.run, status, &report, outcome.as_ref().err());
        self.lock = None;
        outcome.map(|()| report)
    }

    async fn run_tables(
        &self,
        tables: &[&'a plan::Table],
        mode: Mode,
        report: &mut RunReport,
    ) -> Result<(), EngineError> {
        // Writes interrupted in the table mappings this run leaves out are settled too (those
        // it runs are, as each pass starts): their couplings serve this run's lookups, which
        // would fail on a partner created but never coupled (twice the same way: skipped).
        if !self.dry_run {
            let run_now = |t: &plan::Table| tables.iter().any(|s| s.name == t.name);
            for t in self.plan.tables.iter().filter(|t| !run_now(t)) {
                self.reconcile_table(t, mode, &mut PassReport::default())
                    .await?;
            }
        }
        for t in tables {
            for dir in directions(t.flow) {
                // A pass not started is left whole to the next run.
                if self.cancelled() {
                    report.interrupted = true;
                    return Ok(());
                }
                let pass = self.pass(t, dir, mode, mode == Mode::Full)?;
                let mut pr = PassReport {
                    mapping: t.name.clone(),
                    direction: dir.as_str().into(),
                    source: format!("{}.{}", pass.src_system, pass.src.name),
                    dest: format!("{}.{}", pass.dst_system, pass.dst.name),
                    ..PassReport::default()
                };
                if let Some(p) = self.progress {
                    p.pass(&t.name, dir.as_str());
                }
                let outcome = self.run_pass(&pass, &mut pr).await;
                if let Some(p) = self.progress {
                    p.pass_done();
                }
                let completed = outcome?;
                log_pass(self.run, &pr, completed);
                report.tables.push(pr);
                if !completed {
                    report.interrupted = true;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Prepares a pass: compiled filters and field operations, connectors, table descriptions.
    pub(crate) fn pass(
        &self,
        t: &'a plan::Table,
        dir: Direction,
        mode: Mode,
        ignore_only_coupled: bool,
    ) -> Result<Pass<'a>, EngineError> {
        let (s, d) = (dir.source(), dir.dest());
        let pass = t.pass_to(d).ok_or_else(|| {
            EngineError::Plan(format!("`{}` has no {} pass", t.name, dir.as_str()))
        })?;
        let info = |side: Side| {
            let ts = t.side(side);
            self.plan
                .systems
                .get(&ts.system)
                .and_then(|sys| sys.tables.get(&ts.table))
                .map(|info| TableRef {
                    name: &ts.table,
                    info,
                })
                .ok_or_else(|| {
                    EngineError::Plan(format!(
                        "the plan does not describe table `{}.{}`",
                        ts.system, ts.table
                    ))
                })
        };
        let compile_filter = |side: Side| {
            t.side(side)
                .filter
                .as_ref()
                .map(|f| Compiled::new(&f.expr))
                .transpose()
        };
        let ops = pass
            .ops
            .iter()
            .map(|op| Ok((op, Compiled::new(&op.value)?)))
            .collect::<Result<Vec<_>, EvalError>>()?;
        Ok(Pass {
            table: t,
            dir,
            ops,
            src_system: &t.side(s).system,
            dst_system: &t.side(d).system,
            src: info(s)?,
            dst: info(d)?,
            filter: compile_filter(s)?,
            dst_filter: compile_filter(d)?,
            mode,
            ignore_only_coupled,
            match_only: false,
            force: false,
        })
    }

    pub(crate) fn context<'c>(
        &'c self,
        lookups: &'c dyn crate::runtime::eval::Lookups,
    ) -> Context<'c> {
        Context {
            functions: &self.functions,
            lookups,
            now: self.started,
        }
    }

    /// One pass: retry failed records, reconcile interrupted creates, then read the source (all
    /// of it, or what changed since the watermark) page by page, and move the watermark.
    /// `false` when cancellation cut it short after a batch: its batches are committed, its
    /// counts saved, and its watermark left where it was (rows past the cut were not processed,
    /// and in a full sync rows come in key order, so no cursor covers exactly those that were).
    async fn run_pass(&self, pass: &Pass<'a>, pr: &mut PassReport) -> Result<bool, EngineError> {
        let src_conn = self.systems.get(pass.src_system)?;
        let mapping = &pass.table.name;
        if !self.dry_run {
            self.reconcile_table(pass.table, pass.mode, pr).await?;
        }
        // Failed records first, as the reference does: they are read by key whatever their
        // modified-on, so a fix on the other side (or a deployed mapping fix) lets them through.
        let mut failed = self.store.failed_not_skipped(mapping, pass.dir)?;
        let mut retried: std::collections::HashSet<String> = failed.iter().cloned().collect();
        // So are pairs coupled by hand or by matching and never synced from this side: their
        // rows may be older than the watermark, and a coupling promises the next run syncs it.
        for key in self.store.never_synced(mapping, pass.dir.source())? {
            if retried.insert(key.clone()) {
                failed.push(key);
            }
        }
        let mut completed = true;
        for chunk in failed.chunks(self.options.batch_size.max(1)) {
            if self.cancelled() {
                completed = false;
                break;
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
        let before = self.store.watermark(mapping, pass.dir)?;
        let since = match pass.mode {
            Mode::Modified => before.as_ref().map(|c| Cursor {
                modified_on: c.modified_on - self.options.overlap,
                key: String::new(),
            }),
            Mode::Full => None,
        };
        let page_size = self
            .options
            .page_size
            .min(src_conn.capabilities().max_page)
            .max(1);
        let req = ReadRequest {
            table: pass.src,
            filter: pass.table.side(pass.dir.source()).filter.as_ref(),
            since,
            page_size,
        };
        let mut continuation: Option<String> = None;
        let mut newest: Option<Cursor> = None;
        'pages: while completed {
            let page = src_conn
                .read_page(&req, continuation.as_deref())
                .await
                .map_err(EngineError::from_connector)?;
            if let Some(p) = self.progress {
                p.rows(page.rows.len() as u64);
            }
            for row in &page.rows {
                if let Some(m) = row.modified_on {
                    let c = Cursor {
                        modified_on: m,
                        key: row.key.clone(),
                    };
                    if newest.as_ref().is_none_or(|n| &c > n) {
                        newest = Some(c);
                    }
                }
            }
            let mut batch: Vec<Row> = Vec::with_capacity(self.options.batch_size);
            for row in page.rows {
                // A failed record retried above is not processed twice in one pass.
                if retried.contains(&row.key) {
                    continue;
                }
                batch.push(row);
                if batch.len() >= self.options.batch_size {
                    self.process(pass, std::mem::take(&mut batch), false, pr)
                        .await?;
                    if self.cancelled() {
                        completed = false;
                        break 'pages;
                    }
                }
            }
            if !batch.is_empty() {
                self.process(pass, batch, false, pr).await?;
            }
            match page.next {
                Some(_) if self.cancelled() => completed = false,
                Some(n) => continuation = Some(n),
                None => break,
            }
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
            self.flush_skips_now()?;
            if let Some(c) = after.as_ref().filter(|_| completed) {
                self.store
                    .advance_watermark(mapping, pass.dir, c, self.run)?;
            }
            let stored = self.store.watermark(mapping, pass.dir)?;
            self.store.save_counts(
                self.run,
                mapping,
                pass.dir,
                &pr.counts,
                before.as_ref(),
                stored.as_ref(),
            )?;
        }
        Ok(completed)
    }

    /// Settles the intents of every direction of a table mapping (see
    /// [`Engine::reconcile_intents`]), the other direction's too: its interrupted writes left
    /// rows on this pass's source side that it would otherwise take for new records (and create
    /// partners for them: duplicates) or for changes made by someone (conflicts, echoes).
    pub(crate) async fn reconcile_table(
        &self,
        t: &'a plan::Table,
        mode: Mode,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        for dir in directions(t.flow) {
            let pass = self.pass(t, dir, mode, false)?;
            self.reconcile_intents(&pass, pr).await?;
        }
        Ok(())
    }

    /// Writes recorded as intended by a run that ended before committing their outcome (it was
    /// killed, or lost the state store), settled from what the systems now hold. What did not
    /// happen is forgotten: the record is decided again. What happened is committed as the batch
    /// would have: a created row is coupled, an updated pair's synced times move past the sync's
    /// own write, a propagated deletion is uncoupled.
    async fn reconcile_intents(
        &self,
        pass: &Pass<'a>,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let intents = self.store.intents(&pass.table.name, pass.dir)?;
        if intents.is_empty() {
            return Ok(());
        }
        let dst_conn = self.systems.get(pass.dst_system)?;
        let src_conn = self.systems.get(pass.src_system)?;
        for chunk in intents.chunks(self.options.batch_size.max(1)) {
            let keys = |deletes: bool| -> Vec<String> {
                chunk
                    .iter()
                    .filter(|i| (i.kind == IntentKind::Delete) == deletes)
                    .map(|i| i.dest_key.clone())
                    .collect()
            };
            let (dest_keys, deleted_keys) = (keys(false), keys(true));
            let mut dest_rows: HashMap<String, Row> = HashMap::new();
            if !dest_keys.is_empty() {
                for r in dst_conn
                    .get(pass.dst, &dest_keys)
                    .await
                    .map_err(EngineError::from_connector)?
                {
                    dest_rows.insert(r.key.clone(), r);
                }
            }
            let mut still_there: HashSet<String> = HashSet::new();
            if !deleted_keys.is_empty() {
                for r in src_conn
                    .get(pass.src, &deleted_keys)
                    .await
                    .map_err(EngineError::from_connector)?
                {
                    still_there.insert(r.key);
                }
            }
            self.store.transaction(|st| {
                for i in chunk {
                    let gone = !still_there.contains(&i.dest_key);
                    self.settle(st, pass, i, dest_rows.get(&i.dest_key), gone, pr)?;
                }
                Ok::<(), EngineError>(())
            })?;
        }
        Ok(())
    }

    /// Settles one intent and forgets it. `row` is the destination row it wrote to, if there is
    /// one; `source_gone` whether its source row is gone (for a propagated deletion).
    fn settle(
        &self,
        st: &Store,
        pass: &Pass<'a>,
        i: &Intent,
        row: Option<&Row>,
        source_gone: bool,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let mapping = &pass.table.name;
        let (s, d) = (pass.dir.source(), pass.dir.dest());
        match (i.kind, row) {
            (IntentKind::Create, Some(row)) => self.settle_create(st, pass, i, row, pr)?,
            (IntentKind::Update, Some(row)) => match st.coupling(mapping, s, &i.source_key)? {
                // The row still holds what the update wrote: it reached the system, and the row
                // is in step with the source as it was then. Left stale, the coupling would make
                // the next pass take the sync's own write for someone's change: a conflict if
                // the source changed again (with rule `fail`, the record skipped for good). If
                // the row's other columns changed since, that change is someone's: synced as of
                // an instant before it, the row counts as changed after the sync.
                Some(mut c) if c.key(d) == i.dest_key && holds(pass, i.fields.as_deref(), row) => {
                    c.set_synced(s, i.source_modified_on);
                    c.set_synced(d, synced_before(row, holds(pass, i.kept.as_deref(), row)));
                    st.save_coupling(&c)?;
                }
                // A pair the match rules found in that batch, written to but not coupled:
                // coupled as the batch would have.
                None if holds(pass, i.fields.as_deref(), row) => {
                    self.settle_create(st, pass, i, row, pr)?
                }
                // It did not, or the row changed again since: the pass decides anew.
                _ => {}
            },
            (IntentKind::Delete, _) => {
                let uncoupled = source_gone && st.uncouple(mapping, s, &i.source_key)?;
                if uncoupled {
                    st.log_event(
                        self.run,
                        mapping,
                        pass.dir,
                        "deletion",
                        Some(&i.source_key),
                        None,
                        "a propagated deletion interrupted by the end of an earlier run had happened; uncoupled",
                    )?;
                    pr.counts.uncoupled += 1;
                }
            }
            // Not written: forgotten, the record is read and decided again.
            _ => {}
        }
        st.clear_intent(mapping, pass.dir, &i.source_key)?;
        Ok(())
    }

    /// Couples a row an interrupted create made (or an interrupted update of a pair just
    /// matched wrote to), as the batch would have.
    fn settle_create(
        &self,
        st: &Store,
        pass: &Pass<'a>,
        i: &Intent,
        row: &Row,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let mapping = &pass.table.name;
        let (s, d) = (pass.dir.source(), pass.dir.dest());
        if let Some(other) = st.coupling(mapping, d, &i.dest_key)? {
            if other.key(s) != i.source_key {
                let msg = format!("a write interrupted by the end of an earlier run had reached this row, but it is coupled to `{}` since; left alone", other.key(s));
                st.log_event(
                    self.run,
                    mapping,
                    pass.dir,
                    "coupled",
                    Some(&i.source_key),
                    Some(&i.dest_key),
                    &msg,
                )?;
            }
            return Ok(());
        }
        // A restore's create replaces the coupling to the deleted partner.
        st.uncouple(mapping, s, &i.source_key)?;
        let mut c = match s {
            Side::Left => Coupling::new(mapping, &i.source_key, &i.dest_key),
            Side::Right => Coupling::new(mapping, &i.dest_key, &i.source_key),
        };
        c.set_synced(s, i.source_modified_on);
        // A row changed since it was created (it no longer holds what the create wrote) counts
        // as changed after the sync: synced as of an instant before its last change, its change
        // is synced back (or meets a change of the source as a conflict) rather than being
        // overwritten by the source's values as if it were the sync's own.
        let untouched =
            holds(pass, i.fields.as_deref(), row) && holds(pass, i.kept.as_deref(), row);
        c.set_synced(d, synced_before(row, untouched));
        c.set_result(pass.dir, true, self.run);
        st.save_coupling(&c)?;
        st.log_event(
            self.run,
            mapping,
            pass.dir,
            "coupled",
            Some(&i.source_key),
            Some(&i.dest_key),
            "a write interrupted by the end of an earlier run had reached the row; coupled",
        )?;
        pr.counts.coupled += 1;
        Ok(())
    }
}

/// Logs a pass's counts.
fn log_pass(run: i64, pr: &PassReport, completed: bool) {
    let c = &pr.counts;
    tracing::info!(
        run,
        table = %pr.mapping,
        direction = %pr.direction,
        inserted = c.inserted,
        modified = c.modified,
        unchanged = c.unchanged,
        skipped = c.skipped,
        failed = c.failed,
        conflicts = c.conflicts,
        deleted = c.deleted,
        coupled = c.coupled,
        uncoupled = c.uncoupled,
        completed,
        "pass finished"
    );
}

/// Logs how a run ended, with its counts added up.
fn log_run_end(run: i64, status: &str, report: &RunReport, error: Option<&EngineError>) {
    let c = report.totals();
    let mut tables: Vec<&str> = report.tables.iter().map(|p| p.mapping.as_str()).collect();
    tables.dedup();
    match error {
        None => tracing::info!(
            run,
            status = %status,
            mode = %report.mode,
            duration_ms = report.duration_ms,
            inserted = c.inserted,
            modified = c.modified,
            unchanged = c.unchanged,
            skipped = c.skipped,
            failed = c.failed,
            conflicts = c.conflicts,
            deleted = c.deleted,
            tables = %tables.join(","),
            "run finished"
        ),
        Some(e) => tracing::error!(
            run,
            status = %status,
            mode = %report.mode,
            duration_ms = report.duration_ms,
            error = %e,
            "run failed"
        ),
    }
}

/// The synced time of a row the sync wrote: its modified-on when it is as the sync left it
/// (`untouched`), else an instant before, so that its last change counts as made after the sync.
fn synced_before(row: &Row, untouched: bool) -> Option<Timestamp> {
    if untouched {
        row.modified_on
    } else {
        row.modified_on
            .and_then(|m| m.checked_sub(SignedDuration::from_micros(1)).ok())
    }
}

/// Whether a destination row still holds the values an intent recorded (a JSON object; `true`
/// when none were, as by older versions). A column not read back is no evidence either way.
fn holds(pass: &Pass<'_>, values: Option<&str>, row: &Row) -> bool {
    let Some(text) = values else {
        return true;
    };
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(text) else {
        return false;
    };
    fields.iter().all(|(k, json)| {
        let ty = pass.dst.info.columns.get(k).map(|c| c.ty.as_str());
        match (Value::from_json(json, ty), row.fields.get(k)) {
            (Ok(want), Some(have)) if !have.is_absent() => want.same_as(have),
            (Ok(_), _) => true,
            (Err(_), _) => false,
        }
    })
}

/// The directions a flow runs, left to right first.
pub fn directions(flow: Flow) -> Vec<Direction> {
    match flow {
        Flow::LeftToRight => vec![Direction::LeftToRight],
        Flow::RightToLeft => vec![Direction::RightToLeft],
        Flow::Both => vec![Direction::LeftToRight, Direction::RightToLeft],
    }
}
