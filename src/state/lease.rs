//! Leases: who may write this store. A run holds the `run` lease for as long as it writes, a
//! scheduler the `scheduler` lease for as long as it runs; a second one is refused. Workers
//! share a store by units: a worker holds the lease of the unit (a table mapping) it syncs, so
//! several sync different tables at once, never one table twice; the run lease and the units'
//! exclude each other, so a manual run never writes beside a worker.
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
//! A store in PostgreSQL holds the same rows, with the same heartbeat and token, and the holder
//! keeps a session lock (an advisory lock) on the connection its heartbeat uses. A connection
//! that ended does not prove its process dead (a network cut, a server restart), and a live
//! holder may have writes in flight: so a newcomer takes over only once the heartbeat is older
//! than [`EXPIRY`]. A holder frozen past that (a paused machine) still holds its session lock;
//! the newcomer ends that session, so a frozen process cannot keep a lease for ever. Claims and
//! fence checks lock the row they read, so a takeover waits for a commit under way to end.
//!
//! A holder, for its part, stops writing once it has not renewed its lease for half the
//! expiry ([`Lease::lost`]): it may have been taken over without being told.

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

mod alive;

use super::db::{args, Arg, Db, Durability, Location, Transaction};
use super::{now, StateError, Store};
use alive::{file_identity, Alive};
use jiff::{SignedDuration, Timestamp};
use sha2::Digest as _;

/// How often a holder renews its lease.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a lease lives without a heartbeat.
pub const EXPIRY: SignedDuration = SignedDuration::from_secs(10);
/// How long a holder goes on writing without renewing its lease: half the expiry, so it has
/// stopped well before anyone may take the lease over.
const STALE: Duration = Duration::from_secs(5);

/// What a lease is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseKind {
    /// Writing the store: a run (full, modified-only, one record, couple, uncouple, match).
    Run,
    /// Running the jobs of a plan until stopped.
    Scheduler,
    /// Syncing one unit of a worker's share of the jobs: a company's table mapping, by its
    /// unit's name (see [`unit_name`](super::units::unit_name)).
    Unit(String),
}

/// The start of every unit lease's name.
const UNIT_PREFIX: &str = "unit:";

impl LeaseKind {
    /// The name of its row.
    pub fn name(&self) -> String {
        match self {
            LeaseKind::Run => "run".into(),
            LeaseKind::Scheduler => "scheduler".into(),
            LeaseKind::Unit(mapping) => format!("{UNIT_PREFIX}{mapping}"),
        }
    }

    /// The key of the lease's PostgreSQL session lock, as SQL of its one argument: a fixed
    /// number for the store's own leases, a hash of the name for a unit (the server's hash, so
    /// every worker computes the same key).
    fn session_key(&self) -> (&'static str, Arg<'static>) {
        match self {
            LeaseKind::Run => ("?1", Arg::Int(7_405_322_918)),
            LeaseKind::Scheduler => ("?1", Arg::Int(7_405_322_919)),
            LeaseKind::Unit(_) => (
                "hashtextextended(?1, 7405322920)",
                Arg::Text(self.name().into()),
            ),
        }
    }

    fn lock_suffix(&self) -> String {
        match self {
            LeaseKind::Run => "lock".into(),
            LeaseKind::Scheduler => "schedule.lock".into(),
            LeaseKind::Unit(unit) => {
                let safe: String = unit
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                if safe == *unit {
                    format!("unit-{safe}.lock")
                } else {
                    // Names that differ only where characters were replaced keep files apart.
                    let digest = sha2::Sha256::digest(unit.as_bytes());
                    let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
                    format!("unit-{safe}-{tag}.lock")
                }
            }
        }
    }

    /// Whether a holder found alive is waited for a moment (it may be ending): a run is, a
    /// unit is not, since a worker goes on to another unit and comes back later.
    fn waits(&self) -> bool {
        !matches!(self, LeaseKind::Unit(_))
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
    /// The lease's name.
    pub name: String,
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
    renewals: Arc<Renewals>,
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

    /// Whether another process took the lease over, or may have: this one has not renewed it
    /// for a while (a paused process, a store out of reach), and must not write on.
    pub fn lost(&self) -> bool {
        self.watch().lost()
    }

    /// What tells whether the lease is lost, for other threads (a connector about to write).
    pub fn watch(&self) -> LeaseWatch {
        LeaseWatch {
            lost: self.lost.clone(),
            renewals: self.renewals.clone(),
        }
    }

    /// A flag that turns true when the lease is lost, for a run to stop on.
    pub fn lost_flag(&self) -> Arc<AtomicBool> {
        self.lost.clone()
    }
}

/// Whether a lease is lost, as [`Lease::lost`] says, from any thread.
#[derive(Debug, Clone)]
pub struct LeaseWatch {
    lost: Arc<AtomicBool>,
    renewals: Arc<Renewals>,
}

impl LeaseWatch {
    /// See [`Lease::lost`].
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed) || self.renewals.stale()
    }
}

/// When a lease was taken and last renewed, by two clocks: a virtual machine paused and woken
/// may find its monotonic clock did not count the pause, while its wall clock (set right on
/// waking) did. Each clock is judged against its own reading of the last renewal, so a wall
/// clock set forward or back costs at most one heartbeat's doubt.
#[derive(Debug)]
struct Renewals {
    taken: Instant,
    taken_wall: SystemTime,
    /// How long after it was taken the lease was last renewed (ms), by each clock.
    monotonic_ms: AtomicU64,
    wall_ms: AtomicU64,
}

impl Renewals {
    fn new() -> Renewals {
        Renewals {
            taken: Instant::now(),
            taken_wall: SystemTime::now(),
            monotonic_ms: AtomicU64::new(0),
            wall_ms: AtomicU64::new(0),
        }
    }

    fn renewed_now(&self) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let wall = self.taken_wall.elapsed().unwrap_or_default();
        self.monotonic_ms
            .store(ms(self.taken.elapsed()), Ordering::Relaxed);
        self.wall_ms.store(ms(wall), Ordering::Relaxed);
    }

    /// Whether either clock says the last renewal is older than [`STALE`].
    fn stale(&self) -> bool {
        let since = |now: Duration, at: &AtomicU64| {
            now.saturating_sub(Duration::from_millis(at.load(Ordering::Relaxed)))
        };
        // A wall clock set back before the lease was taken reads as no time at all.
        let wall = self.taken_wall.elapsed().unwrap_or_default();
        since(self.taken.elapsed(), &self.monotonic_ms) > STALE
            || since(wall, &self.wall_ms) > STALE
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

/// Who claims a lease, and what proves any holder before it gone.
struct Claim<'c> {
    holder: &'c str,
    /// Beside a SQLite store, the lock file's identity; in PostgreSQL, the name this process's
    /// sessions give the server.
    lock_id: Option<&'c str>,
    /// Whether `lock_id` names a lock file (whose lock proves a holder that named it gone).
    file: bool,
}

/// How a lease's row is read in a transaction.
enum Lock {
    None,
    /// About to be written, or kept from changing until the claim ends.
    Update,
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
    /// reach it), `Busy` / `SchedulerBusy` / `WorkerBusy` when a live holder has it (or, for
    /// the run lease and a unit's, the other kind).
    pub fn take_lease(&self, kind: LeaseKind) -> Result<Option<Lease>, StateError> {
        if self.path == ":memory:" {
            return Ok(None);
        }
        let Some(alive) = self.proof_of_life(&kind)? else {
            let holder = self.holder(&kind)?;
            return Err(self.busy(&kind, holder));
        };
        let (file, session) = match alive {
            Alive::File(file) => (Some(file), None),
            Alive::Session(db) => (None, Some(*db)),
        };
        let lock_id = match &file {
            Some(f) => file_identity(f),
            None => Some(super::db::session_tag().to_string()),
        };
        let holder = uuid::Uuid::new_v4().to_string();
        let claimed = Claim {
            holder: &holder,
            lock_id: lock_id.as_deref(),
            file: file.is_some(),
        };
        // Durable with the run's first intents (in SQLite; PostgreSQL commits it durably): a
        // power loss before them ends every process that could hold the lease, and finds
        // nothing written under it.
        let token = self.transaction_durable_with_next(|st| st.claim(&kind, &claimed))?;
        let fence = Fence {
            name: kind.name(),
            holder,
            token,
        };
        let lost = Arc::new(AtomicBool::new(false));
        let renewals = Arc::new(Renewals::new());
        let (stop, stopped) = mpsc::channel();
        let heartbeat = {
            let (at, fence) = (self.location.clone(), fence.clone());
            let beat = Beat {
                lost: lost.clone(),
                renewals: renewals.clone(),
            };
            std::thread::Builder::new()
                .name("lease".into())
                .spawn(move || renew(&at, session, &fence, &beat, &stopped))
                .map_err(|e| StateError::Io(format!("cannot start the lease heartbeat: {e}")))?
        };
        Ok(Some(Lease {
            fence,
            lost,
            renewals,
            stop: Some(stop),
            heartbeat: Some(heartbeat),
            _lock: file,
        }))
    }

    /// The error that says a live holder has the lease of `kind`.
    fn busy(&self, kind: &LeaseKind, holder: Option<Holder>) -> StateError {
        let path = self.path.clone();
        match kind {
            LeaseKind::Run => StateError::Busy { path, holder },
            LeaseKind::Scheduler => StateError::SchedulerBusy { path, holder },
            LeaseKind::Unit(unit) => StateError::WorkerBusy {
                path,
                unit: unit.clone(),
                holder: holder.map(Box::new),
            },
        }
    }

    /// Writes this holder into the lease's row (inside the caller's transaction) and returns its
    /// fencing token; busy when a live holder has it. A holder is gone when this process holds
    /// the lock on the very file its row names, on the same machine, or when its heartbeat is
    /// older than [`EXPIRY`] (measured by this machine's clock: hosts sharing a store keep
    /// their clocks in step).
    ///
    /// The run lease and the units' exclude each other. Rows are locked in one order (the run
    /// lease's first), so two claims never wait for each other in a circle.
    fn claim(&self, kind: &LeaseKind, claim: &Claim<'_>) -> Result<i64, StateError> {
        let (holder, lock_id) = (claim.holder, claim.lock_id);
        match kind {
            LeaseKind::Unit(_) => {
                let run = self.lease_row("run", Lock::Update)?;
                if let Some(run) = live(&run) {
                    return Err(self.busy(&LeaseKind::Run, Some(run)));
                }
                // A run that stopped renewing (frozen) must not wake to write beside this one.
                if run.is_some_and(|r| r.holder.is_some()) {
                    self.take_over_expired("name = 'run'")?;
                }
            }
            LeaseKind::Run => {
                self.lease_row("run", Lock::Update)?;
                self.take_over_units()?;
            }
            LeaseKind::Scheduler => {}
        }
        let name = kind.name();
        let row = self.lease_row(&name, Lock::Update)?;
        if let Some(r) = row.as_ref().filter(|r| r.holder.is_some()) {
            let gone = claim.file
                && lock_id.is_some()
                && r.lock_id.as_deref() == lock_id
                && r.host == host_name();
            if !gone && !expired(r) {
                return Err(self.busy(kind, Some(r.into())));
            }
            tracing::warn!(
                lease = %name,
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
            &args![&name, holder, token, std::process::id(), host_name(), now(), lock_id],
        )?;
        Ok(token)
    }

    /// For a run about to take the run lease (whose row it has locked): busy while a worker
    /// syncs a unit; the units of workers that stopped renewing are taken over (their tokens
    /// move on), so a worker that only paused commits nothing more once it wakes.
    fn take_over_units(&self) -> Result<(), StateError> {
        let db = self.conn()?;
        let sql = format!(
            "SELECT name, holder, token, pid, host, acquired_at, heartbeat_at, lock_id FROM leases \
             WHERE name LIKE '{UNIT_PREFIX}%' AND holder IS NOT NULL ORDER BY name{}",
            db.dialect().for_update()
        );
        for r in db.query(&sql, &[])? {
            let (name, row) = (r.get::<String>(0)?, lease_row_of(&r, 1)?);
            if let Some(holder) = live(&Some(row)) {
                let unit = name.trim_start_matches(UNIT_PREFIX).to_string();
                return Err(self.busy(&LeaseKind::Unit(unit), Some(holder)));
            }
        }
        self.take_over_expired(&format!("name LIKE '{UNIT_PREFIX}%'"))
    }

    /// Moves on the tokens of the expired leases `which` selects, so their holders commit
    /// nothing more. The holders stay named, expired: whoever claims one of those leases next
    /// may end a frozen holder's sessions (see `alive.rs`).
    fn take_over_expired(&self, which: &str) -> Result<(), StateError> {
        self.conn()?.execute(
            &format!("UPDATE leases SET token = token + 1 WHERE {which} AND holder IS NOT NULL"),
            &[],
        )?;
        Ok(())
    }

    /// Who holds a lease now, if anyone does (and has renewed it lately).
    pub fn holder(&self, kind: &LeaseKind) -> Result<Option<Holder>, StateError> {
        Ok(live(&self.lease_row(&kind.name(), Lock::None)?))
    }

    /// The row of a lease, locked as asked until the transaction ends.
    fn lease_row(&self, name: &str, lock: Lock) -> Result<Option<Row>, StateError> {
        let db = self.conn()?;
        let lock = match lock {
            Lock::None => "",
            Lock::Update => db.dialect().for_update(),
        };
        let sql = format!(
            "SELECT holder, token, pid, host, acquired_at, heartbeat_at, lock_id FROM leases WHERE name = ?1{lock}"
        );
        db.query_row(&sql, &args![name])?
            .map(|r| lease_row_of(&r, 0))
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
            .query_row(&sql, &args![&f.name])?
            .map(|r| Ok::<_, StateError>((r.get(0)?, r.get(1)?)))
            .transpose()?;
        match held {
            Some((Some(h), t)) if h == f.holder && t == f.token => Ok(()),
            _ => Err(StateError::LeaseLost(self.path.clone())),
        }
    }
}

/// A lease's row from the columns of a query, the first at `at`.
fn lease_row_of(r: &super::db::Row, at: usize) -> Result<Row, StateError> {
    Ok(Row {
        holder: r.get(at)?,
        token: r.get(at + 1)?,
        pid: r.get(at + 2)?,
        host: r.get(at + 3)?,
        since: r.get(at + 4)?,
        heartbeat: r.get(at + 5)?,
        lock_id: r.get(at + 6)?,
    })
}

/// The holder of a lease's row, when it has one that renewed it lately.
fn live(row: &Option<Row>) -> Option<Holder> {
    row.as_ref()
        .filter(|r| r.holder.is_some() && !expired(r))
        .map(Holder::from)
}

/// Whether the holder of a lease stopped renewing it more than [`EXPIRY`] ago.
fn expired(r: &Row) -> bool {
    r.heartbeat
        .parse::<Timestamp>()
        .is_ok_and(|t| Timestamp::now().duration_since(t) > EXPIRY)
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
    beat: &Beat,
    stop: &mpsc::Receiver<()>,
) {
    let lost = &beat.lost;
    // A connection of its own (the store's may be inside a transaction): in PostgreSQL the
    // session holding the lease's lock, which ends with this thread.
    let Some(conn) = session.or_else(|| Db::open(at, false).ok()) else {
        lost.store(true, Ordering::Relaxed);
        return;
    };
    let ours = args![&fence.name, &fence.holder, fence.token];
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(HEARTBEAT) {
        let renewed = conn.execute(
            "UPDATE leases SET heartbeat_at = ?4 WHERE name = ?1 AND holder = ?2 AND token = ?3",
            &args![&fence.name, &fence.holder, fence.token, now()],
        );
        match renewed {
            Ok(0) => {
                tracing::error!(
                    lease = %fence.name,
                    "lease lost: another process took it over"
                );
                lost.store(true, Ordering::Relaxed);
                return;
            }
            Ok(_) => {
                beat.renewals.renewed_now();
            }
            // The session's lock went with its connection: a newcomer may hold the lease now.
            Err(e) if conn.is_closed() => {
                tracing::error!(lease = %fence.name, error = %e, "lease lost: its connection to the store ended");
                lost.store(true, Ordering::Relaxed);
                return;
            }
            // A store too busy to renew for a moment is renewed at the next beat.
            Err(e) => tracing::warn!(lease = %fence.name, error = %e, "lease not renewed"),
        }
    }
    // Durable with the next durable commit to the store, or as its last connection closes
    // (which checkpoints the log): a release lost with power leaves a holder whose process is
    // gone, which the next one takes over from. PostgreSQL commits it durably.
    let _ = Transaction::begin_as(&conn, Durability::WithNextDurable).and_then(|tx| {
        conn.execute(
            "UPDATE leases SET holder = NULL WHERE name = ?1 AND holder = ?2 AND token = ?3",
            &ours,
        )?;
        tx.commit()
    });
}

/// What the heartbeat tells its lease.
struct Beat {
    lost: Arc<AtomicBool>,
    renewals: Arc<Renewals>,
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
