//! Writes on a thread of their own, with a connection of their own: a sync deciding its next
//! batch (reading its partners, transforming it, recording its intents) while SQLite inserts
//! the last one uses the machine's second core, where writes made inline would wait on the
//! engine and the engine on them. Reads stay on the caller's connection; in WAL mode they see
//! every write committed before they begin, and never wait for one under way.
//!
//! One thread takes the batches in the order they are sent, each in its own transaction, as
//! the connector made them inline: what the caller sees of a batch is its results, when they
//! come.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{sql_error, write};
use crate::connectors::{ConnectorError, TableRef, WriteOp, WriteOutcome};
use crate::plan::TableInfo;

type Results = Vec<Result<WriteOutcome, ConnectorError>>;

/// A batch of writes for the thread, owned: the caller's borrow may end (a dropped future)
/// before the thread is done with it.
struct Job {
    table: String,
    info: TableInfo,
    ops: Vec<WriteOp>,
    answer: oneshot::Sender<Results>,
}

/// The thread that writes, and the way to it.
#[derive(Debug)]
pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    conn: Arc<Mutex<Connection>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Opens a connection of its own to the database at `path` (already in WAL mode, its
    /// tables made) and starts the thread.
    pub(super) fn start(path: &Path, busy_timeout: Duration) -> Result<Writer, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(busy_timeout)?;
        let conn = Arc::new(Mutex::new(conn));
        let (jobs, queue) = mpsc::channel::<Job>();
        let theirs = conn.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-writes".into())
            .spawn(move || {
                for job in queue {
                    let table = TableRef {
                        name: &job.table,
                        info: &job.info,
                    };
                    let results = write::write(&mut lock(&theirs), table, &job.ops);
                    // A caller that stopped waiting finds out from the database, as after a
                    // lost answer.
                    let _ = job.answer.send(results);
                }
            })
            .map_err(|e| {
                rusqlite::Error::ToSqlConversionFailure(
                    format!("cannot start the thread that writes: {e}").into(),
                )
            })?;
        Ok(Writer {
            jobs: Some(jobs),
            conn,
            thread: Some(thread),
        })
    }

    /// Carries out `ops` on the thread, in order, one result per op, once the batches sent
    /// before them are done.
    pub(super) async fn write(&self, table: TableRef<'_>, ops: &[WriteOp]) -> Results {
        let (answer, answered) = oneshot::channel();
        let job = Job {
            table: table.name.to_string(),
            info: table.info.clone(),
            ops: ops.to_vec(),
            answer,
        };
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        if !sent {
            let gone = ConnectorError::Fatal(format!(
                "cannot write to table `{}`: the thread that writes has stopped",
                table.name
            ));
            return ops.iter().map(|_| Err(gone.clone())).collect();
        }
        match answered.await {
            Ok(results) => results,
            // The thread ended in the middle of the batch: what it wrote is not known.
            Err(_) => {
                let unknown = ConnectorError::Transient(format!(
                    "writing to table `{}` stopped before it answered",
                    table.name
                ));
                ops.iter().map(|_| Err(unknown.clone())).collect()
            }
        }
    }

    pub(super) fn set_busy_timeout(&self, timeout: Duration) -> Result<(), ConnectorError> {
        lock(&self.conn)
            .busy_timeout(timeout)
            .map_err(|e| sql_error("cannot set the busy timeout", e))
    }
}

impl Drop for Writer {
    /// Lets the thread finish the batches sent, then waits for it.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The connection; a panic while it was held leaves SQLite consistent (an open transaction
/// rolls back when its guard drops), so a poisoned lock is taken over.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
