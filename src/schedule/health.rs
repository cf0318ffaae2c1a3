//! What `/healthz` says: whether the scheduler loop is alive, when it started, its last run and
//! when each job is next due.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use jiff::Timestamp;
use serde::Serialize;

/// The scheduler's state as health checks see it.
#[derive(Debug)]
pub struct Health {
    alive: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Serialize)]
struct State {
    started_at: String,
    runs: u64,
    last_run: Option<LastRun>,
    jobs: BTreeMap<String, JobState>,
}

/// The last run the scheduler made.
#[derive(Debug, Clone, Serialize)]
struct LastRun {
    /// Its id in the state store, when it was recorded.
    id: Option<i64>,
    job: String,
    status: String,
    finished_at: String,
}

#[derive(Debug, Clone, Default, Serialize)]
struct JobState {
    next_due: Option<String>,
    wait_seconds: Option<i64>,
    last_status: Option<String>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            alive: AtomicBool::new(false),
            state: Mutex::new(State {
                started_at: Timestamp::now().to_string(),
                runs: 0,
                last_run: None,
                jobs: BTreeMap::new(),
            }),
        }
    }
}

impl Health {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding it leaves plain data, still worth showing.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The loop started or ended.
    pub fn set_alive(&self, alive: bool) {
        self.alive.store(alive, Ordering::SeqCst);
    }

    /// Whether the loop is running.
    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// A run of a job ended at `at` (`id` when it was recorded in the store).
    pub fn run(&self, job: &str, id: Option<i64>, status: &str, at: Timestamp) {
        let mut s = self.state();
        s.runs += 1;
        s.last_run = Some(LastRun {
            id,
            job: job.into(),
            status: status.into(),
            finished_at: at.to_string(),
        });
        s.jobs.entry(job.into()).or_default().last_status = Some(status.into());
    }

    /// A job's next due time and wait.
    pub fn job(&self, job: &str, next_due: Option<Timestamp>, wait_seconds: Option<i64>) {
        let mut s = self.state();
        let j = s.jobs.entry(job.into()).or_default();
        j.next_due = next_due.map(|t| t.to_string());
        j.wait_seconds = wait_seconds;
    }

    /// The JSON document `/healthz` answers with.
    pub fn json(&self) -> serde_json::Value {
        let s = self.state().clone();
        let mut v = serde_json::to_value(&s).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            let status = if self.alive() { "ok" } else { "stopped" };
            o.insert("status".into(), status.into());
        }
        v
    }
}
