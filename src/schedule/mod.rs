//! `syncmap schedule`: runs a plan's jobs until stopped, as the reference's job queue does.
//!
//! [`timing`] decides when each job is due (intervals, idle backoff, times of day) as pure
//! functions of a clock; [`runner`] is the loop that runs due jobs one at a time through the
//! engine and stops between batches when asked; [`metrics`] and [`server`] expose what it does
//! over HTTP (`/metrics`, `/healthz`). Between runs, changes wake jobs: [`listen`] serves
//! Business Central's webhook notifications, [`webhooks`] keeps the subscriptions that bring
//! them, [`probe`] times the probes of Dataverse's change tracking, and [`wake`] carries what
//! woke to the loop.
//!
//! Jobs run one after another, never side by side: runs of one state store are serialised by
//! its run lock anyway, and so no table is ever synced by two jobs at once. [`worker`] shares
//! the jobs between processes instead, a table mapping at a time each.

pub mod health;
pub mod listen;
pub mod metrics;
pub mod probe;
pub mod runner;
pub mod server;
pub mod timing;
pub mod wake;
pub mod webhooks;
pub mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::Notify;

pub use health::Health;
pub use metrics::Metrics;
pub use runner::{JobRun, ScheduleError, Scheduler, Summary};
pub use worker::{Worker, WorkerCompany};

/// A request to stop, shared by whoever asks (a signal handler) and the loop and engine that
/// heed it.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    wake: Arc<Notify>,
    /// The number of the signal that asked, 0 when none did.
    signal: Arc<std::sync::atomic::AtomicI32>,
}

impl Stop {
    /// Asks to stop on behalf of a signal (SIGINT 2, SIGTERM 15), remembered for the exit code.
    pub fn request_by(&self, signal: i32) {
        self.signal.store(signal, Ordering::SeqCst);
        self.request();
    }

    /// The signal that asked to stop, if one did.
    pub fn signal(&self) -> Option<i32> {
        Some(self.signal.load(Ordering::SeqCst)).filter(|s| *s != 0)
    }

    /// Asks everything holding this to stop: the engine after its batch in flight, the loop
    /// before starting another run, a wait at once.
    pub fn request(&self) {
        self.flag.store(true, Ordering::SeqCst);
        // A permit is kept if nobody waits yet, so a request just before a wait is not lost.
        self.wake.notify_one();
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The flag the engine checks between batches.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }

    /// Waits until a stop is asked for.
    pub async fn wait(&self) {
        while !self.requested() {
            self.wake.notified().await;
        }
    }

    /// Waits until `deadline`, or less if a stop is asked for.
    pub async fn sleep_until(&self, deadline: Timestamp) {
        if self.requested() {
            return;
        }
        let left = deadline.duration_since(Timestamp::now());
        let left = std::time::Duration::try_from(left).unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(left) => {}
            _ = self.wake.notified() => {}
        }
    }
}
