//! What wakes jobs between their runs: a notification that a table changed (Business Central's
//! webhooks) or a probe that found changes waiting (Dataverse's change tracking). A wake only
//! brings a job's run forward; what the run reads is still decided by its watermarks, so a
//! wake lost or doubled delays or repeats a run, never a record.

use std::collections::BTreeSet;
use std::sync::Mutex;

use tokio::sync::Notify;

/// A table of a system: the system alias and the table's name there.
pub type TableOf = (String, String);

/// The tables woken since the scheduler last looked, shared by the listener and the loop.
#[derive(Debug, Default)]
pub struct Wakeups {
    pending: Mutex<BTreeSet<TableOf>>,
    ready: Notify,
}

impl Wakeups {
    /// Notes that `table` of `system` changed, and wakes the loop.
    pub fn wake(&self, system: &str, table: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.insert((system.to_string(), table.to_string()));
        drop(pending);
        // A permit is kept when the loop is not waiting yet, so no wake falls between its
        // look and its wait.
        self.ready.notify_one();
    }

    /// The tables woken since the last call, each once however often it was woken.
    pub fn take(&self) -> BTreeSet<TableOf> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut pending)
    }

    /// Waits until a table is woken.
    pub async fn woken(&self) {
        self.ready.notified().await;
    }
}
