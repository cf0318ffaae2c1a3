//! The sync engine: runs a compiled plan against two systems, in dependency order, left to
//! right before right to left, remembering couplings, watermarks, runs and failures in the state
//! store. Rows stream page by page; every batch's writes and its coupling updates are committed
//! before the next batch, so a run killed at any moment resumes without losing or duplicating a
//! record.

mod batch;
mod history;
mod kept_keys;
mod labels;
mod lifecycle;
mod lookups;
mod manual;
mod matching;
mod overlap;
mod passes;
mod plan_change;
pub mod report;
mod resolve;
mod settle;
mod tracked;
mod versions_first;

pub use batch::change_set::{ChangeSet, FieldWrite, PlannedWrite, RowVersion, CHANGE_SET_FORMAT};
pub use lifecycle::RunStatus;
pub use manual::{DirectionStatus, TableStatus};
pub use matching::Outlook;
pub use resolve::{Pick, Resolution};
pub use tracked::{changes_waiting, tracked_passes};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::connectors::{ConnectorError, TableRef};
use crate::plan::{self, Flow, Plan, Side};
use crate::runtime::eval::{Compiled, Context, EvalError, UserFunctions};
use crate::runtime::systems::Systems;
use crate::state::{Direction, Lease, StateError, Store};
pub use report::{status_words, Change, FieldChange, PassReport, RecordFailure, RunReport};

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
    /// A full sync would create records in a populated table it has no couplings for, with no
    /// match rule to find the rows that are already there.
    #[error("{0}")]
    WouldDuplicate(String),
}

impl EngineError {
    /// A connector error that stops the run (everything but per-record problems).
    pub fn from_connector(e: ConnectorError) -> EngineError {
        EngineError::Connector(e)
    }
}

impl From<crate::runtime::systems::UnknownSystem> for EngineError {
    fn from(e: crate::runtime::systems::UnknownSystem) -> Self {
        EngineError::Config(e.to_string())
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
    /// Create partners in populated tables the state store has no couplings for even where no
    /// match rule can find the rows already there (by default such a run stops rather than
    /// duplicate them).
    pub create_without_match: bool,
}

impl RunRequest {
    /// A request of a mode, every table mapping, written for real, by hand.
    pub fn new(mode: Mode) -> RunRequest {
        RunRequest {
            mode,
            tables: Vec::new(),
            dry_run: false,
            trigger: "manual".into(),
            create_without_match: false,
        }
    }
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
    /// The fewest rows the other direction must have written in this run before a pass reads
    /// versions first (see `versions_first`); 0 never does.
    pub versions_first_from: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            page_size: 1000,
            batch_size: 500,
            overlap: SignedDuration::from_millis(999),
            history_runs: 50,
            versions_first_from: 1000,
        }
    }
}

/// One table mapping in one direction, with what the passes need at hand.
pub(crate) struct Pass<'a> {
    pub table: &'a plan::Table,
    pub dir: Direction,
    pub ops: Vec<(&'a plan::FieldOp, Compiled)>,
    /// The two-way fields among `ops`, as the coupling's base knows them.
    pub base_fields: Vec<batch::BaseField<'a>>,
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
    /// Only the one-way fields run: the pass brings back the values a system set on rows the
    /// sync created there (see [`Engine::follow_up`]).
    pub back_only: bool,
    /// Whether the guard against duplicating a populated table was checked in this pass.
    pub guarded: std::cell::Cell<bool>,
    /// Whether the destination holds any row at all, once asked: match rules are not asked of
    /// an empty table (a first load would otherwise spend a request per batch and rule).
    pub dest_has_rows: std::cell::Cell<Option<bool>>,
    /// Whether the store keeps any key for this pass's creates, once asked (after the pass's
    /// open writes were settled, the only time keys are kept): nearly always none, and then
    /// no batch asks which.
    pub kept_keys_exist: std::cell::Cell<Option<bool>>,
    /// Source rows matched to a destination row outside the destination's filter: taken as
    /// partners only if that row already holds every value the pass would write.
    pub outside_filter: std::cell::RefCell<std::collections::HashSet<String>>,
    /// What lookups through other table mappings found, for the whole pass.
    pub lookups: lookups::PassCache,
    /// What the other direction did in this run, when it ran first.
    pub echoes: versions_first::Echoes,
    /// The versions this pass leaves the pairs it syncs at, for the pass that follows it.
    pub written: std::cell::RefCell<versions_first::WrittenVersions>,
    /// Whether the other direction follows this pass in this run: only then is `written`
    /// noted.
    pub remember_written: bool,
    /// How a person settles the pass's record, overriding the conflict or deletion rule
    /// (`syncmap resolve`).
    pub resolution: Option<Resolution>,
    /// With a side taken for every conflict of a table mapping: the only fields that may
    /// differ (either side's column); a pair where others differ now is left as it was.
    pub settle_fields: Vec<String>,
}

impl Pass<'_> {
    /// An empty report of this pass.
    pub(crate) fn report(&self) -> PassReport {
        PassReport {
            mapping: self.table.name.clone(),
            direction: self.dir.as_str().into(),
            source: format!("{}.{}", self.src_system, self.src.name),
            dest: format!("{}.{}", self.dst_system, self.dst.name),
            ..PassReport::default()
        }
    }

    /// A new coupling of a source record and a destination record, each on its side.
    pub(crate) fn coupling(&self, source_key: &str, dest_key: &str) -> crate::state::Coupling {
        let name = &self.table.name;
        match self.dir.source() {
            Side::Left => crate::state::Coupling::new(name, source_key, dest_key),
            Side::Right => crate::state::Coupling::new(name, dest_key, source_key),
        }
    }

    /// Whether a row this pass creates may hold values of its own that flow back the other way
    /// (`x <- y` where the system sets `y`): it is then followed up (see
    /// [`Engine::follow_up`]).
    pub(crate) fn flows_back(&self) -> bool {
        self.table.flow == Flow::Both
            && self
                .table
                .pass_to(self.dir.source())
                .is_some_and(|back| back.ops.iter().any(|op| !op.two_way))
    }

    /// Whether nothing ever asks the version of a row this pass creates: the mapping flows
    /// one way, so no reverse pass meets the row as the sync's own write and no conflict
    /// weighs a change made to it. Creates may then be made in bulk, answering keys only.
    pub(crate) fn creates_keys_only(&self) -> bool {
        self.table.flow != Flow::Both
    }
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
    /// The store's run lease while a run that writes is under way, or the lease of the unit
    /// a worker gave (see [`Engine::holding`]).
    pub(crate) lease: Option<Lease>,
    /// Whether the lease was given by a worker: the run syncs that unit's table alone, and the
    /// lease is the worker's again when the run ends.
    pub(crate) unit: bool,
    /// See [`RunRequest::create_without_match`].
    pub(crate) create_without_match: bool,
    /// Set from outside (a signal) to stop the run after the batch in flight.
    pub(crate) cancel: Option<Arc<AtomicBool>>,
    /// Records left alone since the last commit, logged with the next one.
    pub(crate) skips: std::cell::RefCell<Vec<history::Skip>>,
    /// The time zones the systems declare, by alias.
    pub(crate) zones: BTreeMap<String, TimeZone>,
    /// The labels of the batch in hand, for its failures.
    pub(crate) labels: labels::Labels,
    /// The writes a dry run would make, when a change set is asked for.
    pub(crate) change_set: batch::change_set::Collected,
    /// Records deciding with the key kept for their create, let go when they are coupled.
    pub(crate) kept_in_use: kept_keys::InUse,
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

    /// Runs as a worker's unit, under the unit's `lease` in place of the store's run lease:
    /// the runs of other units go on beside it, so only the runs of this unit's table that a
    /// dead worker left are closed, and only its own interrupted writes are settled (another
    /// worker may have writes in flight in other tables). [`Engine::give_back`] returns the
    /// lease after the run.
    pub fn holding(mut self, lease: Option<Lease>) -> Self {
        self.lease = lease;
        self.unit = true;
        self
    }

    /// The unit's lease given with [`Engine::holding`], once the run ended.
    pub fn give_back(&mut self) -> Option<Lease> {
        self.lease.take()
    }

    /// Whether the run was asked to stop, or lost its lease of the store to another process.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
            || self.lease.as_ref().is_some_and(Lease::lost)
    }

    /// `LeaseLost` once the run's lease is lost, or may be (see [`Lease::lost`]).
    pub(crate) fn still_holding(&self) -> Result<(), EngineError> {
        match &self.lease {
            Some(l) if l.lost() => Err(EngineError::State(StateError::LeaseLost(
                self.store.label(),
            ))),
            _ => Ok(()),
        }
    }

    /// An engine over a plan, its systems and a state store.
    pub fn new(
        plan: &'a Plan,
        systems: &'a Systems,
        store: &'a Store,
        options: Options,
    ) -> Result<Engine<'a>, EngineError> {
        if !plan.format_is_known() {
            return Err(EngineError::Plan(format!(
                "format version {} is not supported (this syncmap runs versions 1 to {})",
                plan.format_version,
                plan::PLAN_FORMAT_VERSION
            )));
        }
        let functions = UserFunctions::new(&plan.functions)?;
        let zones = plan.time_zones().map_err(EngineError::Plan)?;
        Ok(Engine {
            plan,
            zones,
            systems,
            store,
            functions,
            options,
            run: 0,
            dry_run: false,
            started: Timestamp::now(),
            progress: None,
            lease: None,
            unit: false,
            create_without_match: false,
            cancel: None,
            skips: std::cell::RefCell::default(),
            labels: labels::Labels::default(),
            change_set: Default::default(),
            kept_in_use: Default::default(),
        })
    }

    /// The table mapping of a name, or an error listing those the plan has.
    pub(crate) fn table(&self, name: &str) -> Result<&'a plan::Table, EngineError> {
        let plan = self.plan;
        plan.table(name).ok_or_else(|| {
            let all: Vec<&str> = plan.tables.iter().map(|t| t.name.as_str()).collect();
            EngineError::Request(format!(
                "no table mapping `{name}` in the plan (it has {})",
                all.join(", ")
            ))
        })
    }

    /// The table mappings a request names, in plan (dependency) order.
    fn selected(&self, names: &[String]) -> Result<Vec<&'a plan::Table>, EngineError> {
        for n in names {
            self.table(n)?;
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
        self.create_without_match = req.create_without_match;
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        let mut report = self.begin(req.mode.as_str(), &req.trigger, &names, req.dry_run)?;
        // A failure here ends the run like any other, so it is not left `running`.
        let outcome = match self.plan_notes(&tables, req.mode) {
            Ok(hints) => {
                report.hints = hints;
                self.run_tables(&tables, req.mode, &mut report).await
            }
            Err(e) => Err(e),
        };
        self.finish(&mut report, outcome)?;
        Ok(report)
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
        if !self.dry_run && !self.unit {
            let run_now = |t: &plan::Table| tables.iter().any(|s| s.name == t.name);
            for t in self.plan.tables.iter().filter(|t| !run_now(t)) {
                self.reconcile_table(t, mode, &mut PassReport::default())
                    .await?;
            }
        }
        for t in tables {
            let mut echoes = versions_first::Echoes::default();
            let dirs = directions(t.flow);
            for (i, &dir) in dirs.iter().enumerate() {
                // A pass not started is left whole to the next run.
                if self.cancelled() {
                    report.interrupted = true;
                    return Ok(());
                }
                let mut pass = self.pass(t, dir, mode, mode == Mode::Full)?;
                pass.echoes = std::mem::take(&mut echoes);
                pass.remember_written = i + 1 < dirs.len();
                let mut pr = pass.report();
                let completed = self.shown(&pass, self.run_pass(&pass, &mut pr)).await?;
                echoes = versions_first::Echoes::of(&pr.counts, pass.written.take());
                log_pass(self.run, &pr, completed);
                report.tables.push(pr);
                if !completed {
                    report.interrupted = true;
                    return Ok(());
                }
            }
            self.follow_up(t, mode, report).await?;
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
        let info = |side: Side| Ok::<_, EngineError>(lookups::table_ref(self.plan, t, side)?.1);
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
            base_fields: batch::base_fields(t, dir, ops.iter().map(|(op, _)| *op)),
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
            back_only: false,
            guarded: std::cell::Cell::new(false),
            dest_has_rows: std::cell::Cell::new(None),
            kept_keys_exist: std::cell::Cell::new(None),
            outside_filter: std::cell::RefCell::default(),
            lookups: lookups::PassCache::default(),
            echoes: versions_first::Echoes::default(),
            written: std::cell::RefCell::default(),
            remember_written: false,
            resolution: None,
            settle_fields: Vec::new(),
        })
    }

    /// The evaluation context of a pass: date-times become days in its destination's zone.
    pub(crate) fn context<'c>(
        &'c self,
        pass: &Pass<'_>,
        lookups: &'c dyn crate::runtime::eval::Lookups,
    ) -> Context<'c> {
        Context {
            functions: &self.functions,
            lookups,
            now: self.started,
            zone: self.zone(pass.dst_system),
        }
    }

    /// A system's time zone (UTC unless its declaration names one).
    pub(crate) fn zone(&self, system: &str) -> TimeZone {
        self.zones.get(system).cloned().unwrap_or(TimeZone::UTC)
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

/// The directions a flow runs, left to right first.
pub fn directions(flow: Flow) -> Vec<Direction> {
    match flow {
        Flow::LeftToRight => vec![Direction::LeftToRight],
        Flow::RightToLeft => vec![Direction::RightToLeft],
        Flow::Both => vec![Direction::LeftToRight, Direction::RightToLeft],
    }
}
