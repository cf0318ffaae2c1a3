//! The store while a request holds it, timed: how long a service's store is held says
//! whether the service, or whoever calls it, bounds a measurement.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::MutexGuard;
use std::time::Instant;

use super::Db;

/// The store while held; the time it is held counts when it is let go.
pub(crate) struct Held<'s> {
    guard: MutexGuard<'s, Db>,
    since: Instant,
    held: &'s AtomicU64,
}

impl<'s> Held<'s> {
    /// The store just taken, its time held added to `held` when let go.
    pub(super) fn new(guard: MutexGuard<'s, Db>, held: &'s AtomicU64) -> Held<'s> {
        Held {
            guard,
            since: Instant::now(),
            held,
        }
    }
}

impl std::ops::Deref for Held<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.guard
    }
}

impl std::ops::DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Db {
        &mut self.guard
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let nanos = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.held.fetch_add(nanos, Ordering::Relaxed);
    }
}
