//! Leases: who may write this store. A run holds the `run` lease for as long as it writes, a
//! scheduler the `scheduler` lease for as long as it runs; a second one is refused.
//!
//! A lease is a row of the store, not a file's presence, so deleting a file cannot let a second
//! writer in. Its holder renews it every second from a thread of its own (the heartbeat) and
//! every lease taken gets the next fencing token; the batches a run commits check that token
//! inside their transaction, so a run whose lease was taken over writes nothing more to the
//! store. A holder that dies stops renewing: its lease expires [`EXPIRY`] after the last
//! heartbeat. Waiting that long after a crash is not needed on the holder's own machine: the
//! holder also keeps an operating-system lock on a file beside the store (released by the kernel
//! when the process dies), and the row names that file; a newcomer that gets the lock on the very
//! file the row names knows the holder is gone and takes over at once. A lock file deleted and
//! made anew is another file, so it proves nothing and the newcomer waits for the expiry.
//!
//! A store in PostgreSQL holds the same rows, with the same heartbeat and token. In place of the
//! file, the holder keeps a session lock (an advisory lock) on the connection its heartbeat
//! uses: the server releases it when that connection ends, so a newcomer on any machine that
//! gets it knows the holder is gone. Claims and fence checks lock the row they read, so a
//! takeover waits for a commit under way to end.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::db::{args, Db, Location};
use super::{now, StateError, Store, LOCK_GRACE};
use jiff::{SignedDuration, Timestamp};

/// How often a holder renews its lease.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a lease lives without a heartbeat.
pub const EXPIRY: SignedDuration = SignedDuration::from_secs(10);

/// What a lease is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseKind {
    /// Writing the store: a run (full, modified-only, one record, couple, uncouple, match).
    Run,
    /// Running the jobs of a plan until stopped.
    Scheduler,
}

impl LeaseKind {
    /// The name of its row.
    pub fn name(self) -> &'static str {
        match self {
            LeaseKind::Run => "run",
            LeaseKind::Scheduler => "scheduler",
        }
    }

    /// The key of the lease's PostgreSQL session lock (any fixed number, one per lease).
    fn session_key(self) -> i64 {
        match self {
            LeaseKind::Run => 7_405_322_918,
            LeaseKind::Scheduler => 7_405_322_919,
        }
    }

    fn lock_suffix(self) -> &'static str {
        match self {
            LeaseKind::Run => "lock",
            LeaseKind::Scheduler => "schedule.lock",
        }
    }
}

/// Who holds a lease, as the store says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// Its machine.
    pub host: String,
    /// When it took the lease (RFC 3339).
    pub since: String,
    /// Its last heartbeat (RFC 3339).
    pub heartbeat: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let age = self
            .heartbeat
            .parse::<Timestamp>()
            .map(|t| Timestamp::now().duration_since(t).as_secs_f64().max(0.0))
            .unwrap_or(0.0);
        write!(
            f,
            "process {} on {}, since {}, last heartbeat {age:.1} s ago",
            self.pid, self.host, self.since
        )
    }
}

/// The token a lease's holder checks its commits against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease.
    pub name: &'static str,
    /// The holder's id.
    pub holder: String,
    /// The fencing token it took the lease with.
    pub token: i64,
}

/// A lease held: renewed until dropped, released when dropped.
#[derive(Debug)]
pub struct Lease {
    fence: Fence,
    lost: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
    /// The operating-system lock beside the store (a file's), held as long as the lease.
    _lock: Option<File>,
}

impl Lease {
    /// What the holder's commits are checked against.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// Whether another process took the lease over (after this one stopped renewing it).
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// A flag that turns true when the lease is lost, for a run to stop on.
    pub fn lost_flag(&self) -> Arc<AtomicBool> {
        self.lost.clone()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // The heartbeat thread releases the row on its way out; the file lock goes with `_lock`.
        drop(self.stop.take());
        if let Some(t) = self.heartbeat.take() {
            let _ = t.join();
        }
    }
}

/// What proves a lease's holder alive (see [`Store::proof_of_life`]).
enum Alive {
    File(File),
    Session(Box<Db>),
}

/// Who claims a lease, and what proves any holder before it gone.
struct Claim<'c> {
    holder: &'c str,
    /// The lock file's identity, beside a SQLite store.
    lock_id: Option<&'c str>,
    /// Whether the claimer holds the PostgreSQL session lock of the lease.
    session: bool,
}

/// The row of a lease as read.
struct Row {
    holder: Option<String>,
    token: i64,
    pid: u32,
    host: String,
    since: String,
    heartbeat: String,
    lock_id: Option<String>,
}

impl Store {
    /// Takes a lease of this store: `Ok(None)` for a store in memory (no other process can
    /// reach it), `Busy` / `SchedulerBusy` when a live holder has it.
    pub fn take_lease(&self, kind: LeaseKind) -> Result<Option<Lease>, StateError> {
        if self.path == ":memory:" {
            return Ok(None);
        }
        let busy = |holder: Option<Holder>| match kind {
            LeaseKind::Run => StateError::Busy {
                path: self.path.clone(),
                holder,
            },
            LeaseKind::Scheduler => StateError::SchedulerBusy {
                path: self.path.clone(),
                holder,
            },
        };
        let Some(alive) = self.proof_of_life(kind)? else {
            return Err(busy(self.holder(kind)?));
        };
        let (file, session) = match alive {
            Alive::File(file) => (Some(file), None),
            Alive::Session(db) => (None, Some(*db)),
        };
        let lock_id = file.as_ref().and_then(file_identity);
        let holder = uuid::Uuid::new_v4().to_string();
        let claimed = Claim {
            holder: &holder,
            lock_id: lock_id.as_deref(),
            session: session.is_some(),
        };
        let token = self.transaction(|st| st.claim(kind, &claimed, &busy))?;
        let fence = Fence {
            name: kind.name(),
            holder,
            token,
        };
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel();
        let heartbeat = {
            let (at, fence, lost) = (self.location.clone(), fence.clone(), lost.clone());
            std::thread::Builder::new()
                .name(format!("lease-{}", kind.name()))
                .spawn(move || renew(&at, session, &fence, &lost, &stopped))
                .map_err(|e| StateError::Io(format!("cannot start the lease heartbeat: {e}")))?
        };
        Ok(Some(Lease {
            fence,
            lost,
            stop: Some(stop),
            heartbeat: Some(heartbeat),
            _lock: file,
        }))
    }

    /// What proves this process alive while it holds a lease of `kind`, and any holder before
    /// it gone once this process has it; `None` while another process has it.
    /// - Beside a SQLite file, an operating-system lock on a file (see [`lock_file`]).
    /// - In PostgreSQL, a session's advisory lock, which the server releases when the
    ///   session's connection ends, whichever machine the holder ran on.
    fn proof_of_life(&self, kind: LeaseKind) -> Result<Option<Alive>, StateError> {
        match &self.location {
            Location::File(_) => {
                let lock_path = format!("{}.{}", self.path, kind.lock_suffix());
                Ok(lock_file(&lock_path)?.map(Alive::File))
            }
            Location::Server(_) => {
                let session = Db::open_session(&self.location)?;
                let mut waited = Duration::ZERO;
                let step = Duration::from_millis(50);
                // A holder just killed: its server notices the closed connection in a moment.
                loop {
                    let got = session
                        .query_row(
                            "SELECT pg_try_advisory_lock(?1)",
                            &args![kind.session_key()],
                        )?
                        .map(|r| r.get::<bool>(0))
                        .transpose()?
                        .unwrap_or(false);
                    if got {
                        return Ok(Some(Alive::Session(Box::new(session))));
                    }
                    if waited >= LOCK_GRACE {
                        return Ok(None);
                    }
                    std::thread::sleep(step);
                    waited += step;
                }
            }
        }
    }

    /// Writes this holder into the lease's row (inside the caller's transaction) and returns its
    /// fencing token; `busy` when a live holder has it. A holder is gone when this process holds
    /// the lock on the very file its row names, on the same machine, or the PostgreSQL session
    /// lock every holder keeps, or when its heartbeat is older than [`EXPIRY`] (measured by this
    /// machine's clock: hosts sharing a store keep their clocks in step).
    fn claim(
        &self,
        kind: LeaseKind,
        claim: &Claim<'_>,
        busy: &dyn Fn(Option<Holder>) -> StateError,
    ) -> Result<i64, StateError> {
        let (holder, lock_id) = (claim.holder, claim.lock_id);
        let row = self.lease_row(kind, true)?;
        if let Some(r) = row.as_ref().filter(|r| r.holder.is_some()) {
            let gone = claim.session
                || (lock_id.is_some() && r.lock_id.as_deref() == lock_id && r.host == host_name());
            let expired = r
                .heartbeat
                .parse::<Timestamp>()
                .is_ok_and(|t| Timestamp::now().duration_since(t) > EXPIRY);
            if !gone && !expired {
                return Err(busy(Some(r.into())));
            }
            tracing::warn!(
                lease = kind.name(),
                pid = r.pid,
                host = %r.host,
                why = if gone { "process_gone" } else { "expired" },
                "lease taken over"
            );
        }
        let token = row.map_or(1, |r| r.token + 1);
        self.conn()?.execute(
            "INSERT INTO leases (name, holder, token, pid, host, acquired_at, heartbeat_at, lock_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, pid = excluded.pid,
               host = excluded.host, acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at,
               lock_id = excluded.lock_id",
            &args![kind.name(), holder, token, std::process::id(), host_name(), now(), lock_id],
        )?;
        Ok(token)
    }

    /// Who holds a lease now, if anyone does (and has renewed it lately).
    pub fn holder(&self, kind: LeaseKind) -> Result<Option<Holder>, StateError> {
        let row = self.lease_row(kind, false)?;
        Ok(row
            .filter(|r| r.holder.is_some())
            .filter(|r| {
                r.heartbeat
                    .parse::<Timestamp>()
                    .is_ok_and(|t| Timestamp::now().duration_since(t) <= EXPIRY)
            })
            .map(|r| (&r).into()))
    }

    /// The row of a lease; `lock` to keep it from changing until the transaction ends.
    fn lease_row(&self, kind: LeaseKind, lock: bool) -> Result<Option<Row>, StateError> {
        let db = self.conn()?;
        let lock = if lock { db.dialect().for_update() } else { "" };
        let sql = format!(
            "SELECT holder, token, pid, host, acquired_at, heartbeat_at, lock_id FROM leases WHERE name = ?1{lock}"
        );
        db.query_row(&sql, &args![kind.name()])?
            .map(|r| {
                Ok(Row {
                    holder: r.get(0)?,
                    token: r.get(1)?,
                    pid: r.get(2)?,
                    host: r.get(3)?,
                    since: r.get(4)?,
                    heartbeat: r.get(5)?,
                    lock_id: r.get(6)?,
                })
            })
            .transpose()
    }

    /// Makes every transaction of this store check that `fence` still holds its lease (see
    /// [`Store::transaction`]); `None` stops checking.
    pub fn set_fence(&self, fence: Option<Fence>) {
        *self.fence.borrow_mut() = fence;
    }

    /// `LeaseLost` unless the fence's holder still holds its lease.
    pub(super) fn check_fence(&self) -> Result<(), StateError> {
        let Some(f) = self.fence.borrow().clone() else {
            return Ok(());
        };
        let db = self.conn()?;
        // Shared: a takeover's update waits for this transaction's commit, which it fences.
        let sql = format!(
            "SELECT holder, token FROM leases WHERE name = ?1{}",
            db.dialect().for_share()
        );
        let held: Option<(Option<String>, i64)> = db
            .query_row(&sql, &args![f.name])?
            .map(|r| Ok::<_, StateError>((r.get(0)?, r.get(1)?)))
            .transpose()?;
        match held {
            Some((Some(h), t)) if h == f.holder && t == f.token => Ok(()),
            _ => Err(StateError::LeaseLost(self.path.clone())),
        }
    }
}

impl From<&Row> for Holder {
    fn from(r: &Row) -> Holder {
        Holder {
            pid: r.pid,
            host: r.host.clone(),
            since: r.since.clone(),
            heartbeat: r.heartbeat.clone(),
        }
    }
}

/// The heartbeat: renews the lease every [`HEARTBEAT`] until told to stop (the sender dropped),
/// then releases it. A renewal that finds the lease taken over sets `lost` and stops.
fn renew(
    at: &Location,
    session: Option<Db>,
    fence: &Fence,
    lost: &AtomicBool,
    stop: &mpsc::Receiver<()>,
) {
    // A connection of its own (the store's may be inside a transaction): in PostgreSQL the
    // session holding the lease's lock, which ends with this thread.
    let Some(conn) = session.or_else(|| Db::open(at, false).ok()) else {
        lost.store(true, Ordering::Relaxed);
        return;
    };
    let ours = args![fence.name, &fence.holder, fence.token];
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(HEARTBEAT) {
        let renewed = conn.execute(
            "UPDATE leases SET heartbeat_at = ?4 WHERE name = ?1 AND holder = ?2 AND token = ?3",
            &args![fence.name, &fence.holder, fence.token, now()],
        );
        match renewed {
            Ok(0) => {
                tracing::error!(
                    lease = fence.name,
                    "lease lost: another process took it over"
                );
                lost.store(true, Ordering::Relaxed);
                return;
            }
            Ok(_) => {}
            // The session's lock went with its connection: a newcomer may hold the lease now.
            Err(e) if conn.is_closed() => {
                tracing::error!(lease = fence.name, error = %e, "lease lost: its connection to the store ended");
                lost.store(true, Ordering::Relaxed);
                return;
            }
            // A store too busy to renew for a moment is renewed at the next beat.
            Err(e) => tracing::warn!(lease = fence.name, error = %e, "lease not renewed"),
        }
    }
    let _ = conn.execute(
        "UPDATE leases SET holder = NULL WHERE name = ?1 AND holder = ?2 AND token = ?3",
        &ours,
    );
}

/// Takes the operating-system lock on `path` (creating the file), or `None` when another
/// process holds it. A lock just released can still look held for a moment: a process this one
/// starts holds a copy of the descriptor until it executes its program. A short grace period
/// tells that apart from another run really holding it.
fn lock_file(path: &str) -> Result<Option<File>, StateError> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    // Private like the store beside it.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(path)
        .map_err(|e| StateError::Io(format!("{path}: {e}")))?;
    let mut waited = Duration::ZERO;
    let step = Duration::from_millis(50);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) if waited < LOCK_GRACE => {
                std::thread::sleep(step);
                waited += step;
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StateError::Io(format!("{path}: {e}")))
            }
        }
    }
}

/// Which file a lock is on (device and inode), so a lock on a file made anew under the same name
/// is not taken for the lock on the old one.
#[cfg(unix)]
fn file_identity(file: &File) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata().ok()?;
    Some(format!("{}:{}", m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_identity(_file: &File) -> Option<String> {
    None
}

/// This machine's name, for messages about who holds a lease.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "this machine".into())
}
