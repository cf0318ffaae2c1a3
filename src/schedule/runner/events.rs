//! How the scheduler learns of changes between runs: the tables notifications name, the
//! webhook subscriptions that bring them, and probes of the systems' change tracking.

use std::sync::Arc;

use jiff::Timestamp;

use super::Scheduler;
use crate::runtime::engine::changes_waiting;
use crate::schedule::listen::Hooks;
use crate::schedule::timing::Reason;
use crate::schedule::wake::Wakeups;
use crate::schedule::webhooks::{tables_to_watch, Webhooks};

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
            let reads = |(system, table): &(String, String)| {
                self.jobs[i].job.tables.iter().any(|name| {
                    self.plan.tables.iter().any(|t| {
                        &t.name == name
                            && [&t.left, &t.right]
                                .iter()
                                .any(|side| &side.system == system && &side.table == table)
                    })
                })
            };
            if woken.iter().any(reads) {
                self.wake(i, now, "notification");
            }
        }
    }

    /// Brings a job's run forward, because of `cause`.
    fn wake(&mut self, i: usize, now: Timestamp, cause: &str) {
        self.jobs[i].timer.wake(now, SETTLE);
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
        events.webhooks = Webhooks::start(self.systems, &watch, &url, &hooks).await;
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
        let touched = events.webhooks.renew_due(self.systems, &hooks).await;
        for (system, table) in touched {
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
            match changes_waiting(self.plan, self.systems, self.store, mapping, *dir).await {
                Ok(c) => changed |= c,
                Err(e) => {
                    tracing::warn!(job = %self.jobs[i].name, table = %mapping, error = %e, "cannot ask for the table's changes; its job runs by its interval");
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
