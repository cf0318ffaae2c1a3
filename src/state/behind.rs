//! Commits made behind the engine: a batch's intents and its outcome committed by a thread of
//! the store's own, with a connection of its own to the same SQLite file, while the engine
//! decides the next batch. Made on the engine's thread they were about half of a sync between
//! two SQLite systems, on one core of two.
//!
//! What does not change:
//! - **Order.** One thread takes the commits in the order they are sent. A batch's writes
//!   wait for its intents' commit to be answered; its outcome is sent once its answers came,
//!   and the batch is done when that commit is answered. Batches under way touch different
//!   records (the engine's overlap rules), so a batch decided before the last one's outcome
//!   commits reads nothing that outcome changes, as over HTTP, where that outcome waits for
//!   the service's answer.
//! - **Every other transaction comes after them.** A transaction of the engine's own
//!   connection first waits until every commit sent before it is made
//!   ([`Store::wait_behind`]), so it reads them and writes after them (a pass's watermark
//!   after its batches' outcomes), and never waits for the thread's lock. A single statement
//!   outside a transaction (rare while batches are under way) may still wait for it, as it
//!   would for any other connection's, through SQLite's busy timeout.
//! - **Durability.** Intents commit durably, outcomes with the next durable commit, as on the
//!   engine's connection: one log file takes both connections' commits, and syncing it makes
//!   every commit before durable.
//! - **The lease.** The thread's store checks the run's fence in every transaction.
//!
//! One thing the thread does not do: copy the log back into the file (SQLite's automatic
//! checkpoint, with its sync). A thread of its own does that beside it (`db/checkpoint.rs`),
//! so no commit waits for it.
//!
//! Only SQLite stores commit behind: a PostgreSQL store's commits are made by the server, and
//! its round trips are not the engine's CPU.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::db::Checkpointer;
use super::deferred::Deferred;
use super::{Db, Direction, Fence, Intent, Location, StateError, Store};

/// Below this many records a batch's intents or outcome are committed on the engine's
/// connection (see `Behind::inline`): the few changes of a run since a cursor, while the
/// small batches of the kill tests (20 and 25 records) still go behind the engine.
const SMALL_BATCH: usize = 16;

/// A commit's answer.
type Answer = oneshot::Sender<Result<(), StateError>>;

/// What the thread is sent.
enum Job {
    Intents {
        mapping: String,
        dir: Direction,
        intents: Vec<Intent>,
        run: i64,
        answer: Answer,
    },
    Outcome {
        writes: Deferred,
        answer: Answer,
    },
    /// Answered once every commit sent before it is made.
    Done(mpsc::Sender<()>),
}

/// Where commits go behind the engine: the thread is started by the first (a run that writes
/// nothing opens no second connection).
pub(super) struct Behind {
    path: std::path::PathBuf,
    company: String,
    fence: Option<Fence>,
    started: OnceCell<Result<Started, String>>,
}

/// The thread that commits, and the way to it.
struct Started {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// Commits sent and not made yet.
    pending: Arc<AtomicUsize>,
}

/// A commit sent behind the engine, or made already.
#[must_use = "a commit behind the engine is made only once its answer says so"]
pub enum Committing {
    /// Made on the engine's connection.
    Made,
    /// Sent to the thread that commits.
    Sent(oneshot::Receiver<Result<(), StateError>>),
}

impl Committing {
    /// Once the commit is made: its error, if it failed.
    pub async fn made(self) -> Result<(), StateError> {
        match self {
            Committing::Made => Ok(()),
            Committing::Sent(answer) => answer.await.unwrap_or_else(|_| {
                Err(StateError::Db(
                    "the thread that commits to the state store stopped before it answered".into(),
                ))
            }),
        }
    }
}

impl Behind {
    /// The thread, started the first time: with a store of its own on the file at `path` for
    /// `company`, fenced by `fence`.
    fn started(&self) -> Result<&Started, StateError> {
        self.started
            .get_or_init(|| {
                Started::start(self.path.clone(), self.company.clone(), self.fence.clone())
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| StateError::Io(e.clone()))
    }

    /// Sends a batch's intents, to be committed durably.
    fn intents(
        &self,
        mapping: &str,
        dir: Direction,
        intents: Vec<Intent>,
        run: i64,
    ) -> Result<Committing, StateError> {
        let (answer, answered) = oneshot::channel();
        self.started()?.send(Job::Intents {
            mapping: mapping.to_string(),
            dir,
            intents,
            run,
            answer,
        });
        Ok(Committing::Sent(answered))
    }

    /// Sends a batch's outcome: the per-record writes its transaction deferred, to be
    /// committed with the next durable commit.
    fn outcome(&self, writes: Deferred) -> Result<Committing, StateError> {
        let (answer, answered) = oneshot::channel();
        self.started()?.send(Job::Outcome { writes, answer });
        Ok(Committing::Sent(answered))
    }

    /// Returns once every commit sent so far is made.
    fn wait(&self) {
        if let Some(Ok(started)) = self.started.get() {
            started.wait();
        }
    }

    /// Whether a commit of `records` is made on the engine's connection: a small one (most
    /// batches of a run since a cursor), with none sent here still to make. There is nothing
    /// to overlap it with, and a thread's hand-over would only add its wake-up.
    fn inline(&self, records: usize) -> bool {
        records < SMALL_BATCH
            && self.started.get().is_none_or(|s| {
                s.as_ref()
                    .map_or(true, |s| s.pending.load(Ordering::Acquire) == 0)
            })
    }
}

impl Started {
    /// Starts the thread, with a store of its own on the file at `path` for `company`,
    /// fenced by `fence`; answers once its store is open.
    fn start(
        path: std::path::PathBuf,
        company: String,
        fence: Option<Fence>,
    ) -> Result<Started, StateError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let pending = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&pending);
        let (opened, open) = mpsc::channel::<Result<(), StateError>>();
        let thread = std::thread::Builder::new()
            .name("syncmap-state-commits".into())
            .spawn(move || {
                let location = Location::File(path.clone());
                let opening = Db::open(&location, false)
                    .and_then(|db| Ok((Checkpointer::beside(&db, &path)?, db)));
                let (checkpoints, store) = match opening {
                    Ok((checkpoints, db)) => (checkpoints, Store::with(db, location)),
                    Err(e) => {
                        let _ = opened.send(Err(e));
                        return;
                    }
                };
                store.set_company(&company);
                store.set_fence(fence);
                let _ = opened.send(Ok(()));
                for job in queue {
                    if store.commit_job(job, &counted) {
                        checkpoints.committed();
                    }
                }
            })
            .map_err(|e| StateError::Io(format!("cannot start the thread that commits: {e}")))?;
        let started = Started {
            jobs: Some(jobs),
            thread: Some(thread),
            pending,
        };
        match open.recv() {
            Ok(Ok(())) => Ok(started),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StateError::Io(
                "the thread that commits stopped as it opened the state store".into(),
            )),
        }
    }

    /// Returns once every commit sent so far is made.
    fn wait(&self) {
        let (answer, answered) = mpsc::channel();
        if self
            .jobs
            .as_ref()
            .is_some_and(|j| j.send(Job::Done(answer)).is_ok())
        {
            // An error means the thread ended: nothing more will be committed.
            let _ = answered.recv();
        }
    }

    /// A job the thread cannot take (it ended) drops its answer, which its receiver reads as
    /// the thread stopped.
    fn send(&self, job: Job) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        let sent = self.jobs.as_ref().map(|jobs| jobs.send(job));
        if !matches!(sent, Some(Ok(()))) {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Started {
    /// Lets the thread make the commits sent, then waits for it.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Store {
    /// Commits a batch's intents and outcomes behind the engine from now on, where the store
    /// is a SQLite file (see `behind`); with this store's company and fence, which must not
    /// change until [`Store::stop_committing_behind`].
    pub fn commit_behind(&self) {
        let Location::File(path) = &self.location else {
            return;
        };
        if path.as_os_str() == ":memory:" || self.behind.borrow().is_some() {
            return;
        }
        *self.behind.borrow_mut() = Some(Behind {
            path: path.clone(),
            company: self.company(),
            fence: self.fence.borrow().clone(),
            started: OnceCell::new(),
        });
    }

    /// Makes every commit sent behind the engine, and commits on the engine's connection
    /// from then on.
    pub fn stop_committing_behind(&self) {
        let behind = self.behind.borrow_mut().take();
        drop(behind);
    }

    /// Returns once every commit sent behind the engine is made.
    pub(super) fn wait_behind(&self) {
        if let Some(b) = self.behind.borrow().as_ref() {
            b.wait();
        }
    }

    /// Records the writes a batch is about to make, as [`Store::add_intents`] does: behind
    /// the engine where it commits there (the writes wait for the answer).
    pub fn add_intents_behind(
        &self,
        mapping: &str,
        dir: Direction,
        intents: Vec<Intent>,
        run: i64,
    ) -> Result<Committing, StateError> {
        if let Some(b) = self
            .behind
            .borrow()
            .as_ref()
            .filter(|b| !b.inline(intents.len()))
        {
            return b.intents(mapping, dir, intents, run);
        }
        self.add_intents(mapping, dir, &intents, run)?;
        Ok(Committing::Made)
    }

    /// Runs `f` as [`Store::transaction_durable_with_next`] does, for the outcome of a batch
    /// of `records`: where the store commits behind the engine and `f` only made per-record
    /// writes (which a transaction defers), those are sent there; else, from `f`'s first
    /// statement on, it runs in a transaction of the engine's connection.
    pub fn transaction_behind<T, E: From<StateError>>(
        &self,
        records: usize,
        f: impl FnOnce(&Store) -> Result<T, E>,
    ) -> Result<(T, Committing), E> {
        let inline = self
            .behind
            .borrow()
            .as_ref()
            .is_none_or(|b| b.inline(records));
        if inline || self.db.in_transaction() {
            return self
                .transaction_durable_with_next(f)
                .map(|out| (out, Committing::Made));
        }
        let (out, collected) = self.collecting_in(f)?;
        let Some(writes) = collected else {
            return Ok((out, Committing::Made));
        };
        match self.behind.borrow().as_ref() {
            Some(b) => Ok((out, b.outcome(writes)?)),
            None => Err(E::from(StateError::Db(
                "the thread that commits to the state store stopped".into(),
            ))),
        }
    }

    /// Makes a job on the thread's own store; its answer goes back to the engine. Whether it
    /// committed.
    fn commit_job(&self, job: Job, pending: &AtomicUsize) -> bool {
        let made = |answer: Answer, result: Result<(), StateError>| {
            let committed = result.is_ok();
            pending.fetch_sub(1, Ordering::AcqRel);
            let _ = answer.send(result);
            committed
        };
        match job {
            Job::Intents {
                mapping,
                dir,
                intents,
                run,
                answer,
            } => made(answer, self.add_intents(&mapping, dir, &intents, run)),
            Job::Outcome { writes, answer } => {
                let result = self.transaction_durable_with_next(|st| {
                    st.put_deferred(writes);
                    Ok::<(), StateError>(())
                });
                made(answer, result)
            }
            Job::Done(answer) => {
                let _ = answer.send(());
                false
            }
        }
    }
}
