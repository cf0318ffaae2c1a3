//! `syncmap worker`: one of any number of processes, on any machines, that share a plan's jobs
//! through one state store. The unit of work is a company's job's table mapping. The store keeps each
//! unit's due time and last outcome ([`Unit`]); a worker takes a due unit's lease (never
//! waiting for one another worker holds), runs it through the engine under that lease and
//! moves its due time by the job's timing, inside a transaction the lease fences.
//!
//! A worker killed mid-run leaves its unit due: once its lease expired (at once on a SQLite
//! store's machine, whose lock file proves the worker dead), another worker takes it, closes
//! the dead run and settles its open intents, and goes on from the last committed watermark.
//! A worker that only paused past its lease finds the lease taken over and commits nothing
//! more.
//!
//! Dependency order holds per unit: a unit whose table looks up another's couplings (its
//! `depends_on`) waits while a unit of that table (of its company) is due or running, and sits
//! out its cycle when that table's run failed since the unit became due.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::runner::{judged, tell};
use super::timing::{Outcome, Timer};
use super::{Health, Metrics, ScheduleError, Stop, Summary};
use crate::plan::{Plan, SyncMode};
use crate::runtime::engine::{Engine, Mode, Options, RunRequest};
use crate::runtime::systems::Systems;
use crate::state::{unit_name, Lease, LeaseKind, StateError, Store, Unit, UnitRun};

/// The trigger recorded with a worker's runs.
pub const TRIGGER: &str = "worker";

/// How often a worker looks again while due units are held by others or wait for their
/// dependencies; also the longest it sleeps, so units another worker added are seen.
const LOOK_AGAIN: SignedDuration = SignedDuration::from_secs(1);
const LONGEST_SLEEP: SignedDuration = SignedDuration::from_secs(60);
/// How long a worker waits before asking a store it could not read again.
const STORE_RETRY: SignedDuration = SignedDuration::from_secs(5);

/// One company whose units a worker runs: its plan (with its company's conditions) and its
/// connections.
pub struct WorkerCompany {
    /// Its name in the state store (`""`: a profile's one company).
    pub company: String,
    /// The plan its runs run.
    pub plan: Plan,
    /// Its systems.
    pub systems: Systems,
}

/// The key of a unit among the store's: its company, job and table mapping.
type UnitKey = (String, String, String);

/// One unit as this worker knows it from the plan.
struct PlanUnit {
    /// Its company, by index.
    company: usize,
    /// Its company's name in the store.
    company_name: String,
    job: String,
    spec: crate::plan::Job,
    mapping: String,
    /// The table's place in the plan's dependency order.
    position: usize,
    /// The tables whose couplings it looks up, directly or not.
    needs: BTreeSet<String>,
}

impl PlanUnit {
    fn label(&self) -> String {
        unit_name(
            &self.company_name,
            &format!("{}/{}", self.job, self.mapping),
        )
    }

    fn key(&self) -> UnitKey {
        (
            self.company_name.clone(),
            self.job.clone(),
            self.mapping.clone(),
        )
    }
}

/// What stands between a due unit and its run.
enum Blocked {
    /// A table it needs is due or running: it waits.
    Waits,
    /// A table it needs failed since the unit became due: it sits out this cycle.
    SitsOut(String),
}

/// A worker of a plan's jobs.
pub struct Worker<'a> {
    companies: &'a [WorkerCompany],
    store: &'a Store,
    options: Options,
    units: Vec<PlanUnit>,
    tz: TimeZone,
    stop: Stop,
    health: Arc<Health>,
    metrics: Option<Arc<Metrics>>,
    /// Whether each unit's run is kept in the summary (`--until-idle`: a worker that runs
    /// until stopped would grow it without end).
    keep_runs: bool,
}

impl<'a> Worker<'a> {
    /// A worker of the plan's jobs for each company, whose times of day are in `tz`.
    pub fn new(
        companies: &'a [WorkerCompany],
        store: &'a Store,
        options: Options,
        stop: Stop,
        tz: TimeZone,
    ) -> Result<Worker<'a>, ScheduleError> {
        if companies.iter().all(|c| c.plan.jobs.is_empty()) {
            return Err(ScheduleError::NoJobs);
        }
        let mut units = Vec::new();
        for (index, company) in companies.iter().enumerate() {
            units.extend(plan_units(index, company)?);
        }
        // Companies take turns: each table in dependency order, for every company in turn.
        units.sort_by_key(|u| (u.position, u.company));
        Ok(Worker {
            companies,
            store,
            options,
            units,
            tz,
            stop,
            health: Arc::new(Health::default()),
            metrics: None,
            keep_runs: false,
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

    /// Runs due units until a stop is asked for; with `until_idle`, until no unit is due (nor
    /// held by another worker, which may die before it is done).
    pub async fn run(&mut self, until_idle: bool) -> Result<Summary, ScheduleError> {
        self.health.set_alive(true);
        self.keep_runs = until_idle;
        let outcome = self.run_loop(until_idle).await;
        self.health.set_alive(false);
        outcome
    }

    async fn run_loop(&mut self, until_idle: bool) -> Result<Summary, ScheduleError> {
        self.seed()?;
        let mut summary = Summary::default();
        loop {
            if self.stop.requested() {
                summary.stopped = true;
                return Ok(summary);
            }
            let now = Timestamp::now();
            // A store out of reach for a moment (a restart, a failover) is asked again.
            let rows = match self.rows() {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the units; trying again shortly");
                    self.stop.sleep_until(now + STORE_RETRY).await;
                    continue;
                }
            };
            let mut due = false;
            let mut ran = false;
            for i in 0..self.units.len() {
                let Some(row) = rows.get(&self.key(i)).filter(|r| r.due(now)) else {
                    continue;
                };
                due = true;
                if self.try_unit(i, row, &rows, &mut summary).await? {
                    ran = true;
                    break;
                }
            }
            if ran {
                continue;
            }
            if !due && until_idle {
                return Ok(summary);
            }
            let next = if due {
                now + LOOK_AGAIN
            } else {
                self.next_due(&rows).unwrap_or(now + LONGEST_SLEEP)
            };
            self.stop.sleep_until(next.min(now + LONGEST_SLEEP)).await;
        }
    }

    /// Adds the plan's units the store lacks, due as the scheduler would first run them.
    fn seed(&self) -> Result<(), ScheduleError> {
        let now = Timestamp::now();
        let mut seeds = Vec::new();
        for u in &self.units {
            let timer =
                Timer::new(&u.spec, now, &self.tz).map_err(|source| ScheduleError::Time {
                    job: u.job.clone(),
                    source,
                })?;
            seeds.push((
                u.company_name.clone(),
                u.job.clone(),
                u.mapping.clone(),
                timer.due(),
            ));
        }
        self.store.seed_units(&seeds)?;
        for u in &self.units {
            tracing::info!(unit = %u.label(), "unit known");
        }
        Ok(())
    }

    fn key(&self, i: usize) -> UnitKey {
        self.units[i].key()
    }

    /// The store's units of this worker's plan, by company, job and table mapping (those of
    /// jobs a plan no longer has would wait for ever).
    fn rows(&self) -> Result<BTreeMap<UnitKey, Unit>, ScheduleError> {
        let known: BTreeSet<UnitKey> = (0..self.units.len()).map(|i| self.key(i)).collect();
        Ok(self
            .store
            .units()?
            .into_iter()
            .map(|u| ((u.company.clone(), u.job.clone(), u.mapping.clone()), u))
            .filter(|(k, _)| known.contains(k))
            .collect())
    }

    /// When the first of this worker's units is next due.
    fn next_due(&self, rows: &BTreeMap<UnitKey, Unit>) -> Option<Timestamp> {
        (0..self.units.len())
            .filter_map(|i| rows.get(&self.key(i)).and_then(|r| r.due_at))
            .min()
    }

    /// Runs unit `i` if nothing stands in its way and its lease is free; whether it ran (or
    /// sat out its cycle).
    async fn try_unit(
        &self,
        i: usize,
        row: &Unit,
        rows: &BTreeMap<UnitKey, Unit>,
        summary: &mut Summary,
    ) -> Result<bool, ScheduleError> {
        let unit = &self.units[i];
        let blocked = self.blocked(unit, row, rows);
        if matches!(blocked, Some(Blocked::Waits)) {
            return Ok(false);
        }
        let name = unit_name(&unit.company_name, &unit.mapping);
        let lease = match self.store.take_lease(LeaseKind::Unit(name)) {
            Ok(lease) => lease,
            Err(StateError::Busy { .. } | StateError::WorkerBusy { .. }) => return Ok(false),
            // A store too busy to answer in time now (a lock held by a frozen worker, say) is
            // asked again at the next look.
            Err(e) => {
                tracing::warn!(unit = %unit.label(), error = %e, "unit not taken; trying again shortly");
                return Ok(false);
            }
        };
        // What follows reads and writes this company's state.
        self.store.set_company(&unit.company_name);
        // Under the lease, as it is now: another worker may have just run it.
        let now = self.store.unit(&unit.job, &unit.mapping);
        let Some(row) = now.ok().flatten().filter(|r| r.due(Timestamp::now())) else {
            return Ok(false);
        };
        match blocked {
            Some(Blocked::SitsOut(needed)) => {
                tracing::warn!(unit = %unit.label(), needs = %needed, "unit sits out this cycle: a table it looks up failed");
                self.record(unit, &row, lease, Outcome::Failed, "skipped", None)?;
            }
            _ => self.run_unit(unit, &row, lease, summary).await?,
        }
        Ok(true)
    }

    /// Whether a table the unit needs keeps it from running now.
    fn blocked(
        &self,
        unit: &PlanUnit,
        row: &Unit,
        rows: &BTreeMap<UnitKey, Unit>,
    ) -> Option<Blocked> {
        let now = Timestamp::now();
        let needed = rows
            .values()
            .filter(|r| r.company == unit.company_name && unit.needs.contains(&r.mapping));
        let mut sits_out = None;
        for r in needed {
            if r.due(now) {
                return Some(Blocked::Waits);
            }
            let failed_since_due = r.last_status.as_deref() == Some("failed")
                && r.finished_at
                    .zip(row.due_at)
                    .is_some_and(|(failed, due)| failed >= due);
            if failed_since_due {
                sits_out = Some(Blocked::SitsOut(r.mapping.clone()));
            }
        }
        sits_out
    }

    /// Runs a unit under its lease, and records how it went and when it is next due.
    async fn run_unit(
        &self,
        unit: &PlanUnit,
        row: &Unit,
        lease: Option<Lease>,
        summary: &mut Summary,
    ) -> Result<(), ScheduleError> {
        let mode = match unit.spec.mode {
            SyncMode::Full => Mode::Full,
            SyncMode::Modified => Mode::Modified,
        };
        let req = RunRequest {
            tables: vec![unit.mapping.clone()],
            trigger: TRIGGER.into(),
            ..RunRequest::new(mode)
        };
        let label = unit.label();
        tracing::info!(unit = %label, mode = %mode.as_str(), "unit started");
        let company = &self.companies[unit.company];
        let mut engine = Engine::new(
            &company.plan,
            &company.systems,
            self.store,
            self.options.clone(),
        )?
        .with_cancel(self.stop.flag())
        .holding(lease);
        let result = engine.run(&req).await;
        let lease = engine.give_back();
        let (outcome, status, report) = judged(result, mode, &label);
        summary.tally(&label, status, &report, self.keep_runs);
        let reporting = (self.metrics.as_deref(), self.health.as_ref());
        tell(
            reporting,
            (TRIGGER, &unit.company_name),
            &label,
            status,
            &report,
        );
        match outcome {
            // Stopped or taken over part-way: the unit stays due, for whoever runs it next.
            None => {
                tracing::info!(unit = %label, run = report.run_id, "unit stopped after the batch in flight")
            }
            Some(o) => self.record(unit, row, lease, o, status, report.run_id)?,
        }
        Ok(())
    }

    /// Moves a unit's due time by its job's timing after `outcome`, under its lease.
    fn record(
        &self,
        unit: &PlanUnit,
        row: &Unit,
        lease: Option<Lease>,
        outcome: Outcome,
        status: &str,
        run: Option<i64>,
    ) -> Result<(), ScheduleError> {
        let wait = row.wait_seconds.map(SignedDuration::from_secs);
        let mut timer =
            Timer::resumed(&unit.spec, row.due_at, wait, &self.tz).map_err(|source| {
                ScheduleError::Time {
                    job: unit.job.clone(),
                    source,
                }
            })?;
        let finished = Timestamp::now();
        let reason = timer.after(outcome, finished, &self.tz);
        let ran = UnitRun {
            due_at: timer.due(),
            wait_seconds: timer.wait().map(|w| w.as_secs()),
            status: status.into(),
            run,
            finished_at: finished,
        };
        self.store.set_fence(lease.as_ref().map(Lease::fence));
        let recorded = self.store.unit_ran(&unit.job, &unit.mapping, &ran);
        self.store.set_fence(None);
        drop(lease);
        match recorded {
            Ok(()) => {}
            // Taken over meanwhile: the new holder decides when it is due.
            Err(StateError::LeaseLost(_)) => {
                tracing::warn!(unit = %unit.label(), "unit taken over before its run was recorded");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        let label = unit.label();
        let next_due = ran
            .due_at
            .map_or_else(|| "never".to_string(), |d| d.to_string());
        tracing::info!(unit = %label, reason = %reason.as_str(), next_due = %next_due, "unit scheduled");
        self.health.job(&label, ran.due_at, ran.wait_seconds);
        if let Some(m) = &self.metrics {
            m.job(&label, ran.wait_seconds, ran.due_at.map(|d| d.as_second()));
        }
        Ok(())
    }
}

/// The units of one company's plan.
fn plan_units(index: usize, company: &WorkerCompany) -> Result<Vec<PlanUnit>, ScheduleError> {
    let plan = &company.plan;
    let mut units = Vec::new();
    for (job, spec) in &plan.jobs {
        for mapping in &spec.tables {
            let position = plan
                .tables
                .iter()
                .position(|t| &t.name == mapping)
                .ok_or_else(|| ScheduleError::UnknownTable {
                    job: job.clone(),
                    table: mapping.clone(),
                })?;
            units.push(PlanUnit {
                company: index,
                company_name: company.company.clone(),
                job: job.clone(),
                spec: spec.clone(),
                mapping: mapping.clone(),
                position,
                needs: needs(plan, mapping),
            });
        }
    }
    Ok(units)
}

/// The tables whose couplings `mapping` looks up, directly or through another.
fn needs(plan: &Plan, mapping: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![mapping.to_string()];
    while let Some(t) = todo.pop() {
        for d in plan
            .table(&t)
            .map(|t| t.depends_on.clone())
            .unwrap_or_default()
        {
            if d != mapping && out.insert(d.clone()) {
                todo.push(d);
            }
        }
    }
    out
}
