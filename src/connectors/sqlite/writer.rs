//! Writes on a thread of their own, with a connection of their own, for the systems of a
//! sync: the engine decides its next batch (reads its partners, transforms it, records its
//! intents) while SQLite inserts the last one, as it does while an HTTP service takes its
//! writes. Made inline, the writes would wait on the engine and the engine on them, on one
//! core of two. Reads stay on the connector's connection; in WAL mode they see every write
//! committed before they begin and never wait for one under way, which is why the thread is
//! only started on a file in WAL mode.
//!
//! One thread takes the batches in the order they are sent, each in its own transaction, as
//! the connector makes them inline, and asks the run's write gate once that transaction holds
//! the write lock: a batch queued behind one that waited for another process's lock is not
//! written by a run that may have lost its lease meanwhile. A batch whose caller stopped
//! waiting before it began is not written (its intents tell the next run so), and a small
//! batch with none under way is written inline by the connector (see `WritesApart::inline`):
//! a run since a cursor pays no hand-over between threads.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::write;
use crate::connectors::{ConnectorError, TableRef, WriteGate, WriteOp, WriteOutcome};
use crate::plan::TableInfo;

type Results = Vec<Result<WriteOutcome, ConnectorError>>;

/// What the thread is sent.
enum Job {
    Write(Batch),
    /// Answered once every batch sent before it is written or dropped.
    Done(mpsc::Sender<()>),
}

/// A batch of writes, owned: the caller's borrow may end (a dropped future) before the thread
/// is done with it. The writes go back with their results.
struct Batch {
    table: String,
    info: TableInfo,
    ops: Vec<WriteOp>,
    gate: Option<WriteGate>,
    answer: oneshot::Sender<(Vec<WriteOp>, Results)>,
}

impl Batch {
    fn write(self, conn: &mut Connection, in_flight: &AtomicUsize) {
        // A caller that stopped waiting before the batch began (a run that stopped or
        // failed) finds it not written, as its intents will tell the next run; one that began
        // is finished, the write gate asked as it holds the lock.
        if self.answer.is_closed() {
            in_flight.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let table = TableRef {
            name: &self.table,
            info: &self.info,
        };
        let results = write::write(conn, table, &self.ops, self.gate.as_ref());
        in_flight.fetch_sub(1, Ordering::AcqRel);
        let _ = self.answer.send((self.ops, results));
    }
}

/// The thread that writes, and the way to it.
#[derive(Debug)]
pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// Batches sent and not yet written or dropped.
    in_flight: Arc<AtomicUsize>,
}

impl Writer {
    /// Opens a connection of its own to the database at `path` (in WAL mode, its tables made)
    /// and starts the thread.
    pub(super) fn start(path: &Path, busy_timeout: Duration) -> Result<Writer, String> {
        let mut conn = Connection::open(path).map_err(|e| e.to_string())?;
        conn.busy_timeout(busy_timeout).map_err(|e| e.to_string())?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&in_flight);
        let thread = std::thread::Builder::new()
            .name("syncmap-sqlite-writes".into())
            .spawn(move || {
                for job in queue {
                    match job {
                        Job::Write(batch) => batch.write(&mut conn, &counted),
                        Job::Done(answer) => {
                            let _ = answer.send(());
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start the thread that writes: {e}"))?;
        Ok(Writer {
            jobs: Some(jobs),
            thread: Some(thread),
            in_flight,
        })
    }

    /// Carries out `ops` on the thread, in order, one result per op, once the batches sent
    /// before them are done; the ops come back with their results (see
    /// [`crate::connectors::Connector::write_handed`]).
    pub(super) async fn write(
        &self,
        table: TableRef<'_>,
        ops: Vec<WriteOp>,
        gate: Option<WriteGate>,
    ) -> (Vec<WriteOp>, Results) {
        let writes = ops.len();
        let (answer, answered) = oneshot::channel();
        let job = Job::Write(Batch {
            table: table.name.to_string(),
            info: table.info.clone(),
            ops,
            gate,
            answer,
        });
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        if !sent {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            let gone = ConnectorError::Fatal(format!(
                "cannot write to table `{}`: the thread that writes has stopped",
                table.name
            ));
            return (Vec::new(), vec![Err(gone); writes]);
        }
        match answered.await {
            Ok(handed_back) => handed_back,
            // The thread ended in the middle of the batch, the writes with it: what it wrote
            // is not known, and the run stops; their intents tell the next run.
            Err(_) => {
                let unknown = ConnectorError::Fatal(format!(
                    "writing to table `{}` stopped before it answered; the next run settles its writes",
                    table.name
                ));
                (Vec::new(), vec![Err(unknown); writes])
            }
        }
    }
}

impl Writer {
    /// Whether every batch sent is written or dropped: a write made elsewhere now comes after
    /// them.
    pub(super) fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Returns once every batch sent so far is written or dropped: a run lets its lease go
    /// only after that, so no write of its own lands while another run holds the lease.
    pub(super) fn wait_for_writes(&self) {
        let (answer, answered) = mpsc::channel();
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(Job::Done(answer)).is_ok());
        if sent {
            // An error means the thread ended: nothing more will be written.
            let _ = answered.recv();
        }
    }
}

impl Drop for Writer {
    /// Lets the thread finish the batches sent (those still awaited), then waits for it.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
