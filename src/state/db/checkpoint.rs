//! Checkpoints made beside the thread that commits behind the engine. In WAL mode SQLite copies
//! the log back into the database file from time to time (a checkpoint, ending with a sync of
//! the file), by default on the connection whose commit took the log past 1,000 pages. On the
//! committing thread, which a sync between two SQLite systems waits on for every batch, that
//! copy and its sync came between one batch's commit and the next.
//!
//! So that connection makes none (`wal_autocheckpoint = 0`), and a thread of its own, with a
//! connection of its own, makes them as the commits come: a checkpoint in `PASSIVE` mode takes
//! no lock a writer needs, so the commits go on meanwhile. What a commit guarantees does not
//! change: a commit that must be durable syncs the log itself, and a checkpoint, which syncs the
//! log before it copies it, can only make others durable sooner, as the connection's own
//! checkpoints did.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::Connection;

use super::Db;
use crate::state::StateError;

/// Commits between two checkpoints: a batch of a sync commits twice (its intents, its outcome).
/// Every commit took as long, for twice the syncs of the file; every eighth, longer (four
/// alternating rounds each, docs/benchmarks.md, thirteenth part).
const COMMITS_PER_CHECKPOINT: usize = 4;

/// The thread that checkpoints a store's file, told of each commit.
pub(in crate::state) struct Checkpointer {
    commits: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Stops `db` (a connection to the SQLite file at `path`) making checkpoints, and starts
    /// the thread that makes them beside it.
    pub(in crate::state) fn beside(db: &Db, path: &Path) -> Result<Checkpointer, StateError> {
        let conn = Connection::open(path)?;
        db.execute_script("PRAGMA wal_autocheckpoint = 0")?;
        let (commits, told) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("syncmap-state-checkpoints".into())
            .spawn(move || {
                let mut since = 0;
                while told.recv().is_ok() {
                    since += 1;
                    // Commits made while the last checkpoint ran count towards the next.
                    while told.try_recv().is_ok() {
                        since += 1;
                    }
                    if since < COMMITS_PER_CHECKPOINT {
                        continue;
                    }
                    since = 0;
                    // A checkpoint that cannot copy everything (a reader still needs the older
                    // pages, another checkpoint runs) copies the rest the next time.
                    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::debug!("the state store's checkpoint: {e}");
                    }
                }
            })
            .map_err(|e| {
                StateError::Io(format!("cannot start the thread that checkpoints: {e}"))
            })?;
        Ok(Checkpointer {
            commits: Some(commits),
            thread: Some(thread),
        })
    }

    /// Tells the thread of a commit: every few, it checkpoints what the log holds.
    pub(in crate::state) fn committed(&self) {
        if let Some(c) = &self.commits {
            let _ = c.send(());
        }
    }
}

impl Drop for Checkpointer {
    /// Lets the thread finish the checkpoint it makes, then waits for it. The commits since
    /// its last are copied by the next connection's checkpoint (the last to close makes one).
    fn drop(&mut self) {
        drop(self.commits.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
