//! What proves a lease's holder alive, and any holder before it gone: beside a SQLite store an
//! operating-system lock on a file, in PostgreSQL a session's advisory lock.

use std::fs::File;
use std::time::Duration;

use super::super::db::{Arg, Db, Location};
use super::super::{StateError, Store, LOCK_GRACE};
use super::{expired, LeaseKind, Lock};

/// What proves a lease's holder alive (see [`Store::proof_of_life`]).
pub(super) enum Alive {
    File(File),
    Session(Box<Db>),
}

impl Store {
    /// What proves this process alive while it holds a lease of `kind`, and any holder before
    /// it gone once this process has it; `None` while another process has it.
    /// - Beside a SQLite file, an operating-system lock on a file (see [`lock_file`]).
    /// - In PostgreSQL, a session's advisory lock, held as long as the holder's heartbeat
    ///   session lives (a session that ended does not prove its process dead, so a claim still
    ///   waits for the expiry).
    pub(super) fn proof_of_life(&self, kind: &LeaseKind) -> Result<Option<Alive>, StateError> {
        let grace = if kind.waits() {
            LOCK_GRACE
        } else {
            Duration::ZERO
        };
        match &self.location {
            Location::File(_) => {
                let lock_path = format!("{}.{}", self.path, kind.lock_suffix());
                Ok(lock_file(&lock_path, grace)?.map(Alive::File))
            }
            Location::Server(_) => self.session_lock(kind, grace),
        }
    }

    /// The lease's PostgreSQL session lock, on a session of its own; `None` while a live
    /// holder's session has it. A holder whose heartbeat is older than [`EXPIRY`] but whose
    /// session still has the lock is frozen: its session is ended (the server allows that
    /// between sessions of one user), so the lease can be taken over.
    fn session_lock(&self, kind: &LeaseKind, grace: Duration) -> Result<Option<Alive>, StateError> {
        let session = Db::open_session(&self.location)?;
        let (key, arg) = kind.session_key();
        let take = format!("SELECT pg_try_advisory_lock({key})");
        let (mut waited, mut grace) = (Duration::ZERO, grace);
        let mut ended_frozen = false;
        let step = Duration::from_millis(50);
        loop {
            let got = session
                .query_row(&take, std::slice::from_ref(&arg))?
                .map(|r| r.get::<bool>(0))
                .transpose()?
                .unwrap_or(false);
            if got {
                return Ok(Some(Alive::Session(Box::new(session))));
            }
            if waited >= grace {
                let frozen = match ended_frozen {
                    true => None,
                    false => self.frozen(kind)?,
                };
                let Some(tag) = frozen else {
                    return Ok(None);
                };
                tracing::warn!(lease = %kind.name(), "ending the sessions of a holder that stopped renewing its lease");
                end_sessions(&session, key, &arg, &tag)?;
                // The server ends them in a moment, and their locks with them.
                (ended_frozen, waited, grace) = (true, Duration::ZERO, FROZEN_END);
                continue;
            }
            // A holder just released: its server notices in a moment.
            std::thread::sleep(step);
            waited += step;
        }
    }

    /// When the lease's row names a holder that stopped renewing it more than [`EXPIRY`] ago,
    /// the name its process's sessions gave the server (empty when unknown).
    fn frozen(&self, kind: &LeaseKind) -> Result<Option<String>, StateError> {
        let row = self.lease_row(&kind.name(), Lock::None)?;
        Ok(row
            .filter(|r| r.holder.is_some() && expired(r))
            .map(|r| r.lock_id.unwrap_or_default()))
    }
}

/// How long the sessions of a frozen holder are given to end.
const FROZEN_END: Duration = Duration::from_secs(5);

/// Ends the sessions of the frozen holder of the lease whose session-lock key is `key`: those
/// its process named `tag` (one may be inside a transaction holding the lease's row), or, when
/// the row named none, the one holding the lock. Never another process's: a live newcomer may
/// hold the lock by now.
fn end_sessions(session: &Db, key: &str, arg: &Arg<'_>, tag: &str) -> Result<(), StateError> {
    let ours = "datname = current_database() AND pid <> pg_backend_pid()";
    if tag.is_empty() {
        session.query_row(
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {ours} \
                 AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 AND ((classid::bigint << 32) | objid::bigint) = {key})"
            ),
            std::slice::from_ref(arg),
        )?;
    } else {
        session.query_row(
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {ours} \
                 AND application_name = ?1"
            ),
            &[Arg::Text(tag.to_string().into())],
        )?;
    }
    Ok(())
}

/// Takes the operating-system lock on `path` (creating the file), or `None` when another
/// process holds it. A lock just released can still look held for a moment: a process this one
/// starts holds a copy of the descriptor until it executes its program. A short grace period
/// tells that apart from another run really holding it.
pub(super) fn lock_file(path: &str, grace: Duration) -> Result<Option<File>, StateError> {
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
            Err(std::fs::TryLockError::WouldBlock) if waited < grace => {
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
pub(super) fn file_identity(file: &File) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata().ok()?;
    Some(format!("{}:{}", m.dev(), m.ino()))
}

#[cfg(not(unix))]
pub(super) fn file_identity(_file: &File) -> Option<String> {
    None
}
