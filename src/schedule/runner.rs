//! The scheduler loop: sleeps until the next job is due (or a change wakes one, see
//! [`events`]), runs it through the engine (trigger `schedule`), tells its timer how the run
//! went, and repeats until asked to stop; between runs it probes tracked tables and renews
//! webhook subscriptions when those are due. One job runs at a time; jobs due together run in
//! the plan's dependency order.

use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::listen::Hooks;
use super::probe::Probe;
use super::timing::{BadTime, Outcome, Reason, Timer};
use super::wake::Wakeups;
use super::webhooks::Webhooks;
use super::{Health, Metrics, Stop};
use crate::plan::{self, Plan, SyncMode};
use crate::profile::PollConfig;
use crate::runtime::engine::{
    tracked_passes, Engine, EngineError, Mode, Options, RunReport, RunRequest, RunStatus,
};

mod events;
use crate::runtime::systems::Systems;
use crate::state::{StateError, Store};
use events::Events;

/// The trigger recorded with the scheduler's runs.
pub const TRIGGER: &str = "schedule";

/// How many recent runs are read for each table mapping's last success at start.
const RUNS_LOOKED_AT: usize = 500;

/// Why the scheduler cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// There is nothing to schedule.
    #[error("the plan has no jobs: add one to the mappings, e.g. `job customers {{ sync modified customers every 30m idle 12h }}` (docs/language.md, Jobs)")]
    NoJobs,
    /// A job's time of day cannot be read.
    #[error("job `{job}`: {source}")]
    Time {
        /// The job.
        job: String,
        /// What is wrong.
        source: BadTime,
    },
    /// A job names a table mapping the plan lacks.
    #[error("job `{job}` names table mapping `{table}`, which the plan does not have")]
    UnknownTable {
        /// The job.
        job: String,
        /// The table mapping.
        table: String,
    },
    /// The engine cannot be set up for the plan.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The state store failed outside a run.
    #[error(transparent)]
    State(#[from] StateError),
}

/// What the scheduler did, when it ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Runs made (recorded in the store).
    pub runs: u64,
    /// Runs that failed (a system or the store could not be used).
    pub failed_runs: u64,
    /// Records that failed, over all runs.
    pub failed_records: u64,
    /// Whether it ended because a stop was asked for.
    pub stopped: bool,
    /// Each job run, in order: kept with `once` only, since a scheduler that runs until
    /// stopped would grow this without end.
    pub jobs: Vec<JobRun>,
}

impl Summary {
    /// Counts a job's run (and keeps it in `jobs` with `keep`).
    pub(super) fn tally(&mut self, name: &str, status: &str, report: &RunReport, keep: bool) {
        let counts = report.totals();
        self.runs += 1;
        self.failed_runs += u64::from(status == "failed");
        self.failed_records += counts.failed;
        if keep {
            self.jobs.push(JobRun {
                name: name.into(),
                run_id: report.run_id,
                status: status.into(),
                counts,
            });
        }
    }
}

/// One job's run, as `schedule --once` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct JobRun {
    /// The job's name.
    pub name: String,
    /// The run's id in the state store; none when no run was recorded.
    pub run_id: Option<i64>,
    /// How it ended: a run status (`succeeded`, `completed_with_failures`, `failed`,
    /// `interrupted`), or `busy` when another run held the store and none was made.
    pub status: String,
    /// The counts over its table mappings and directions.
    pub counts: crate::state::Counts,
}

impl JobRun {
    /// A job that did not run: another run held the store.
    fn busy(name: String) -> JobRun {
        JobRun {
            name,
            status: "busy".into(),
            ..JobRun::default()
        }
    }
}

struct Scheduled {
    name: String,
    job: plan::Job,
    timer: Timer,
    /// The position of its last table in the plan (dependency) order: a job that syncs the
    /// tables a record needs before the record (option mappings before customers) runs after
    /// the jobs of the record's other dependencies.
    order: usize,
    /// Asks the system whether the job's tracked tables changed, between runs.
    probe: Option<Probe>,
}

/// What the loop does next.
enum Next {
    /// Run this job.
    Job(usize),
    /// Probe this job's tracked tables.
    Probe(usize),
    /// Renew webhook subscriptions.
    Renew,
    /// Nothing until then (or a wake, or a stop).
    Sleep(Timestamp),
    /// Nothing is ever due again.
    Done,
}

/// Runs a plan's jobs.
pub struct Scheduler<'a> {
    plan: &'a Plan,
    systems: &'a Systems,
    store: &'a Store,
    options: Options,
    jobs: Vec<Scheduled>,
    tz: TimeZone,
    stop: Stop,
    health: Arc<Health>,
    metrics: Option<Arc<Metrics>>,
    events: Option<Events>,
}

impl<'a> Scheduler<'a> {
    /// A scheduler of the plan's jobs, starting now in the local time zone.
    pub fn new(
        plan: &'a Plan,
        systems: &'a Systems,
        store: &'a Store,
        options: Options,
        stop: Stop,
    ) -> Result<Scheduler<'a>, ScheduleError> {
        Scheduler::starting(plan, systems, store, options, stop, TimeZone::system())
    }

    /// A scheduler whose times of day are in `tz`.
    pub fn starting(
        plan: &'a Plan,
        systems: &'a Systems,
        store: &'a Store,
        options: Options,
        stop: Stop,
        tz: TimeZone,
    ) -> Result<Scheduler<'a>, ScheduleError> {
        if plan.jobs.is_empty() {
            return Err(ScheduleError::NoJobs);
        }
        let now = Timestamp::now();
        let mut jobs = Vec::new();
        for (name, job) in &plan.jobs {
            let mut order = 0;
            for table in &job.tables {
                let pos = plan
                    .tables
                    .iter()
                    .position(|t| &t.name == table)
                    .ok_or_else(|| ScheduleError::UnknownTable {
                        job: name.clone(),
                        table: table.clone(),
                    })?;
                order = order.max(pos);
            }
            let timer = Timer::new(job, now, &tz).map_err(|source| ScheduleError::Time {
                job: name.clone(),
                source,
            })?;
            jobs.push(Scheduled {
                name: name.clone(),
                job: job.clone(),
                timer,
                order,
                probe: None,
            });
        }
        jobs.sort_by_key(|j| j.order);
        Ok(Scheduler {
            plan,
            systems,
            store,
            options,
            jobs,
            tz,
            stop,
            health: Arc::new(Health::default()),
            metrics: None,
            events: None,
        })
    }

    /// Reports to this health state.
    pub fn with_health(mut self, health: Arc<Health>) -> Self {
        self.health = health;
        self
    }

    /// Counts runs and records in these metrics.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Runs a job early when one of its tables changes: when `wakeups` names it (the
    /// notification endpoint of `hooks`, whose subscriptions the scheduler makes at the URL
    /// given, wakes it), and when a probe of the system's change tracking finds changes, as
    /// often as `poll` says.
    pub fn with_events(
        mut self,
        wakeups: Arc<Wakeups>,
        hooks: Option<(Arc<Hooks>, String)>,
        poll: &PollConfig,
    ) -> Self {
        let now = Timestamp::now();
        for j in self.jobs.iter_mut().filter(|j| Timer::wakes(&j.job)) {
            let passes = tracked_passes(self.plan, self.systems, &j.job.tables);
            j.probe = Probe::new(passes, poll, now);
        }
        self.events = Some(Events {
            wakeups,
            hooks,
            webhooks: Webhooks::default(),
        });
        self
    }

    /// Runs due jobs until a stop is asked for (or no job is ever due again); with `once`,
    /// runs every job once, in dependency order, and returns.
    pub async fn run(&mut self, once: bool) -> Result<Summary, ScheduleError> {
        self.health.set_alive(true);
        if !once {
            self.subscribe().await;
        }
        let outcome = self.run_loop(once).await;
        if let Some(e) = self.events.as_mut() {
            std::mem::take(&mut e.webhooks).stop(self.systems).await;
        }
        self.health.set_alive(false);
        outcome
    }

    async fn run_loop(&mut self, once: bool) -> Result<Summary, ScheduleError> {
        let mut summary = Summary::default();
        self.seed_last_success()?;
        for i in 0..self.jobs.len() {
            self.announce(i, Reason::Start);
        }
        if once {
            for i in 0..self.jobs.len() {
                if self.stop.requested() || !self.run_job(i, &mut summary, true).await? {
                    summary.stopped = true;
                    break;
                }
            }
            return Ok(summary);
        }
        loop {
            if self.stop.requested() {
                summary.stopped = true;
                return Ok(summary);
            }
            self.take_wakes();
            match self.next() {
                Next::Done => {
                    tracing::info!("no job is due again; the scheduler ends");
                    return Ok(summary);
                }
                Next::Sleep(until) => self.sleep_until(until).await,
                Next::Renew => self.renew().await,
                Next::Probe(i) => self.probe(i).await,
                Next::Job(i) => {
                    if !self.run_job(i, &mut summary, false).await? {
                        summary.stopped = true;
                        return Ok(summary);
                    }
                }
            }
        }
    }

    /// What is due first: a job (among jobs due together, in the plan's dependency order),
    /// else a renewal, else a probe; or how long to sleep.
    fn next(&self) -> Next {
        let now = Timestamp::now();
        let job = self
            .jobs
            .iter()
            .enumerate()
            .filter_map(|(i, j)| j.timer.due().map(|d| (d, j.order, i)))
            .min();
        let renewal = self.events.as_ref().and_then(|e| e.webhooks.next_renewal());
        // A probe due no sooner than its job's run is not made: the run reads the changes
        // anyway (and moves the probe on), so a quiet table costs its job's runs and no more.
        let probe = self
            .jobs
            .iter()
            .enumerate()
            .filter_map(|(i, j)| j.probe.as_ref().map(|p| (p.due(), i, j.timer.due())))
            .filter(|(due, _, run)| run.is_none_or(|run| *due < run))
            .map(|(due, i, _)| (due, i))
            .min();
        // Probes and renewals keep a scheduler alive whose jobs run only when woken.
        let first = [job.map(|j| j.0), renewal, probe.map(|p| p.0)]
            .into_iter()
            .flatten()
            .min();
        match (first, job, renewal, probe) {
            (None, ..) => Next::Done,
            (Some(t), ..) if t > now => Next::Sleep(t),
            (_, Some((due, _, i)), _, _) if due <= now => Next::Job(i),
            (_, _, Some(due), _) if due <= now => Next::Renew,
            (_, _, _, Some((_, i))) => Next::Probe(i),
            (Some(t), ..) => Next::Sleep(t),
        }
    }

    /// Runs one job and moves its timer; `false` when the run was stopped part-way. With
    /// `keep`, the run is added to the summary's jobs.
    async fn run_job(
        &mut self,
        i: usize,
        summary: &mut Summary,
        keep: bool,
    ) -> Result<bool, ScheduleError> {
        let (name, job) = (self.jobs[i].name.clone(), self.jobs[i].job.clone());
        let mode = match job.mode {
            SyncMode::Full => Mode::Full,
            SyncMode::Modified => Mode::Modified,
        };
        let req = RunRequest {
            tables: job.tables.clone(),
            trigger: TRIGGER.into(),
            ..RunRequest::new(mode)
        };
        tracing::info!(job = %name, mode = %mode.as_str(), tables = %job.tables.join(","), "job started");
        let mut engine = Engine::new(self.plan, self.systems, self.store, self.options.clone())?
            .with_cancel(self.stop.flag());
        let result = engine.run(&req).await;
        let finished = Timestamp::now();
        if let Err(EngineError::State(StateError::Busy { .. } | StateError::WorkerBusy { .. })) =
            &result
        {
            // Not a run (none was recorded): someone else is syncing with the store.
            tracing::warn!(job = %name, "another syncmap run holds the state store; trying again shortly");
            if keep {
                summary.jobs.push(JobRun::busy(name));
            }
            self.after_run(i, Outcome::Busy, finished);
            return Ok(true);
        }
        let (outcome, status, report) = judged(result, mode, &name);
        summary.tally(&name, status, &report, keep);
        let reporting = (self.metrics.as_deref(), self.health.as_ref());
        tell(reporting, (TRIGGER, ""), &name, status, &report);
        let Some(outcome) = outcome else {
            tracing::info!(job = %name, run = report.run_id, "job stopped after the batch in flight");
            return Ok(false);
        };
        self.after_run(i, outcome, finished);
        Ok(true)
    }

    /// Moves job `i`'s timer and probe on after a run (or a try) that ended at `finished`.
    fn after_run(&mut self, i: usize, outcome: Outcome, finished: Timestamp) {
        let reason = self.jobs[i].timer.after(outcome, finished, &self.tz);
        let due = self.jobs[i].timer.due();
        if let Some(p) = self.jobs[i].probe.as_mut() {
            match outcome {
                Outcome::Changed => p.busy(finished),
                Outcome::Idle => p.ran(finished),
                // Retried when the timer says: probing meanwhile would only find the same
                // changes again.
                Outcome::Failed | Outcome::Busy => p.hold_until(due),
            }
        }
        self.announce(i, reason);
    }

    /// Sets each table mapping's last success from the runs the store remembers, so the gauge
    /// does not start empty (and alerts on its age do not reset) when the scheduler restarts.
    fn seed_last_success(&self) -> Result<(), ScheduleError> {
        let Some(m) = &self.metrics else {
            return Ok(());
        };
        let mut seen = std::collections::HashSet::new();
        // Newest first: the first success met for a table is its last.
        for run in self.store.runs(RUNS_LOOKED_AT)? {
            let finished = run
                .finished_at
                .as_deref()
                .and_then(|t| t.parse::<Timestamp>().ok());
            let Some(at) = finished.filter(|_| run.status == "succeeded" && !run.dry_run) else {
                continue;
            };
            for table in run.tables {
                if seen.insert(table.clone()) {
                    m.table_succeeded(&table, at.as_second());
                }
            }
        }
        Ok(())
    }

    /// Logs (and shows in metrics and health) when a job is next due, and why.
    fn announce(&self, i: usize, reason: Reason) {
        let j = &self.jobs[i];
        let due = j.timer.due();
        let wait = j.timer.wait().map(|w| w.as_secs());
        match due {
            Some(due) => tracing::info!(
                job = %j.name,
                reason = %reason.as_str(),
                wait_seconds = wait,
                next_due = %due,
                "job scheduled"
            ),
            None => tracing::info!(job = %j.name, reason = %reason.as_str(), "job not due again"),
        }
        self.health.job(&j.name, due, wait);
        if let Some(m) = &self.metrics {
            m.job(&j.name, wait, due.map(|d| d.as_second()));
        }
    }
}

/// What a run's result comes to for the timing of its job or unit `name` (none when it was
/// stopped part-way), the status it is told with, and its report.
pub(super) fn judged(
    result: Result<RunReport, EngineError>,
    mode: Mode,
    name: &str,
) -> (Option<Outcome>, &'static str, RunReport) {
    match result {
        Ok(r) if r.interrupted => (None, "interrupted", r),
        Ok(r) if changed(&r) => (Some(Outcome::Changed), status_of(&r), r),
        Ok(r) => (Some(Outcome::Idle), status_of(&r), r),
        Err(e) => {
            tracing::error!(job = %name, error = %e, "job failed");
            let report = RunReport {
                mode: mode.as_str().into(),
                ..RunReport::default()
            };
            (Some(Outcome::Failed), "failed", report)
        }
    }
}

/// Tells the metrics and the health state how a run of `name` (by `trigger`) ended.
pub(super) fn tell(
    (metrics, health): (Option<&Metrics>, &Health),
    (trigger, company): (&str, &str),
    name: &str,
    status: &str,
    report: &RunReport,
) {
    let finished = Timestamp::now();
    if let Some(m) = metrics {
        m.company_run(report, company, (trigger, status), finished.as_second());
    }
    health.run(name, report.run_id, status, finished);
}

/// Whether a run saw something to do: wrote, coupled, deleted, failed or met a conflict.
/// Rows read and found unchanged, or left alone, are nothing to do.
fn changed(r: &RunReport) -> bool {
    let c = r.totals();
    c.inserted + c.modified + c.deleted + c.coupled + c.uncoupled + c.conflicts + c.failed > 0
}

/// How a run that went through ended: `succeeded`, or `completed_with_failures`.
fn status_of(r: &RunReport) -> &'static str {
    RunStatus::of(r, &Ok(())).as_str()
}
