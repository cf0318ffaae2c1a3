//! How the scheduler learns of changes between runs: the tables notifications name, the
//! webhook subscriptions that bring them, and probes of the systems' change tracking.

use std::sync::Arc;

use jiff::Timestamp;

use super::Scheduler;
use crate::runtime::engine::{changes_waiting, directions};
use crate::schedule::listen::Hooks;
use crate::schedule::timing::{Reason, Timer};
use crate::schedule::wake::Wakeups;
use crate::schedule::webhooks::{tables_to_watch, Webhooks};

/// The longest a probe may take: it holds the loop up while it waits.
const PROBE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a woken job waits before it runs, so that the notifications of one burst of
/// changes (several tables, several deliveries) are taken by one run.
const SETTLE: jiff::SignedDuration = jiff::SignedDuration::from_millis(250);

/// How the scheduler learns of changes between runs.
pub(super) struct Events {
    /// The tables notifications named since the loop last looked.
    pub wakeups: Arc<Wakeups>,
    /// The notification endpoint's hooks and the URL the service calls it at.
    pub hooks: Option<(Arc<Hooks>, String)>,
    /// The subscriptions made, when listening.
    pub webhooks: Webhooks,
}

impl Scheduler<'_> {
    /// Sleeps until `until`, or less if a stop is asked for or a table is woken.
    pub(super) async fn sleep_until(&self, until: Timestamp) {
        match self.events.as_ref() {
            Some(e) => {
                tokio::select! {
                    _ = self.stop.sleep_until(until) => {}
                    _ = e.wakeups.woken() => {}
                }
            }
            None => self.stop.sleep_until(until).await,
        }
    }

    /// Brings forward the jobs whose tables were woken since the loop last looked.
    pub(super) fn take_wakes(&mut self) {
        let Some(woken) = self.events.as_ref().map(|e| e.wakeups.take()) else {
            return;
        };
        if woken.is_empty() {
            return;
        }
        let now = Timestamp::now();
        for i in 0..self.jobs.len() {
            if woken.iter().any(|t| self.reads_from(i, t)) {
                self.wake(i, now, "notification");
            }
        }
    }

    /// Whether job `i` reads records from `table` of `system` (a mapping's source side).
    fn reads_from(&self, i: usize, (system, table): &(String, String)) -> bool {
        let j = &self.jobs[i].job;
        self.plan
            .tables
            .iter()
            .filter(|t| j.tables.contains(&t.name))
            .any(|t| {
                directions(t.flow).into_iter().any(|dir| {
                    let side = t.side(dir.source());
                    &side.system == system && &side.table == table
                })
            })
    }

    /// Brings a job's run forward, because of `cause`, if it wakes and is not due sooner.
    fn wake(&mut self, i: usize, now: Timestamp, cause: &str) {
        if !Timer::wakes(&self.jobs[i].job) || !self.jobs[i].timer.wake(now, SETTLE) {
            return;
        }
        if let Some(m) = &self.metrics {
            m.woken(&self.jobs[i].name, cause);
        }
        self.announce(i, Reason::Woken);
    }

    /// Makes the webhook subscriptions of the tables the jobs read.
    pub(super) async fn subscribe(&mut self) {
        let Some(events) = self.events.as_mut() else {
            return;
        };
        let Some((hooks, url)) = events.hooks.clone() else {
            return;
        };
        let watch = tables_to_watch(self.plan, self.systems);
        tokio::select! {
            w = Webhooks::start(self.systems, &watch, &url, &hooks) => events.webhooks = w,
            _ = self.stop.wait() => {}
        }
    }

    /// Renews the subscriptions due; a table whose subscription had to be made again may
    /// have changed unnoticed, so its jobs run.
    pub(super) async fn renew(&mut self) {
        let Some(events) = self.events.as_mut() else {
            return;
        };
        let Some((hooks, _)) = events.hooks.clone() else {
            return;
        };
        let made = tokio::select! {
            made = events.webhooks.renew_due(self.systems, &hooks) => made,
            _ = self.stop.wait() => Vec::new(),
        };
        for (system, table) in made {
            events.wakeups.wake(&system, &table);
        }
    }

    /// Asks the system whether the job's tracked tables changed; the job runs if so.
    pub(super) async fn probe(&mut self, i: usize) {
        let Some(probe) = self.jobs[i].probe.clone() else {
            return;
        };
        let mut changed = false;
        for (mapping, dir) in &probe.passes {
            let asked = changes_waiting(self.plan, self.systems, self.store, mapping, *dir);
            let answer = tokio::select! {
                a = tokio::time::timeout(PROBE_LIMIT, asked) => a,
                _ = self.stop.wait() => return,
            };
            match answer {
                Ok(Ok(c)) => changed |= c,
                Ok(Err(e)) => {
                    tracing::warn!(job = %self.jobs[i].name, table = %mapping, error = %e, "cannot ask for the table's changes; its job runs by its interval");
                }
                Err(_) => {
                    tracing::warn!(job = %self.jobs[i].name, table = %mapping, "no answer to a probe of the table's changes in time; its job runs by its interval");
                }
            }
            if changed {
                break;
            }
        }
        let now = Timestamp::now();
        let job_wait = self.jobs[i].timer.wait();
        if let Some(p) = self.jobs[i].probe.as_mut() {
            if changed {
                p.busy(now);
            } else {
                p.quiet(now, job_wait);
            }
        }
        if changed {
            self.wake(i, now, "probe");
        }
    }
}
