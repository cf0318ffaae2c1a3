//! The state store: which records are coupled to which, the watermarks of modified-only sync,
//! the runs, and the records that failed. It lives in SQLite (one file, WAL mode) and every
//! change is committed before the runtime moves on, so a run killed at any moment resumes.

mod schema;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};

use crate::connectors::Cursor;
use crate::plan::Side;

/// Why the state store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// SQLite reported a problem.
    #[error("state store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Another process is running a sync with this store.
    #[error("another syncmap run is using the state store at {0}; wait for it to finish (it holds {0}.lock)")]
    Busy(String),
    /// The store was written by a newer syncmap.
    #[error("the state store at {path} has schema version {found}, newer than this syncmap understands ({supported}); use a newer syncmap")]
    TooNew {
        /// Where the store is.
        path: String,
        /// Its version.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The URL names a store this build cannot open.
    #[error("unsupported state store URL scheme `{0}`: use `sqlite://PATH`")]
    Url(String),
    /// A record would be coupled twice.
    #[error("{mapping}: {side} record `{key}` is already coupled to `{partner}`")]
    AlreadyCoupled {
        /// The table mapping.
        mapping: String,
        /// The side of the key.
        side: &'static str,
        /// The key.
        key: String,
        /// Its current partner.
        partner: String,
    },
    /// A file or folder could not be created.
    #[error("state store: cannot create {0}")]
    Io(String),
}

/// Which way a pass writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Left to right.
    LeftToRight,
    /// Right to left.
    RightToLeft,
}

impl Direction {
    /// The side read.
    pub fn source(self) -> Side {
        match self {
            Direction::LeftToRight => Side::Left,
            Direction::RightToLeft => Side::Right,
        }
    }

    /// The side written.
    pub fn dest(self) -> Side {
        self.source().other()
    }

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::LeftToRight => "left_to_right",
            Direction::RightToLeft => "right_to_left",
        }
    }

    /// The direction from a stored name.
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "left_to_right" => Some(Direction::LeftToRight),
            "right_to_left" => Some(Direction::RightToLeft),
            _ => None,
        }
    }
}

/// A coupled pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Coupling {
    /// The table mapping.
    pub mapping: String,
    /// The left record's key.
    pub left_key: String,
    /// The right record's key.
    pub right_key: String,
    /// The left record's modified-on when last synced.
    pub left_synced: Option<Timestamp>,
    /// The right record's modified-on when last synced.
    pub right_synced: Option<Timestamp>,
    /// The last result left to right (`success` / `failure`).
    pub ltr_result: Option<String>,
    /// The run that last synced left to right.
    pub ltr_run: Option<i64>,
    /// The last result right to left.
    pub rtl_result: Option<String>,
    /// The run that last synced right to left.
    pub rtl_run: Option<i64>,
    /// Excluded from automatic sync until retried by hand.
    pub skipped: bool,
}

impl Coupling {
    /// A fresh coupling with no sync history.
    pub fn new(mapping: &str, left_key: &str, right_key: &str) -> Self {
        Coupling {
            mapping: mapping.into(),
            left_key: left_key.into(),
            right_key: right_key.into(),
            left_synced: None,
            right_synced: None,
            ltr_result: None,
            ltr_run: None,
            rtl_result: None,
            rtl_run: None,
            skipped: false,
        }
    }

    /// The key on one side.
    pub fn key(&self, side: Side) -> &str {
        match side {
            Side::Left => &self.left_key,
            Side::Right => &self.right_key,
        }
    }

    /// The last-synced modified-on of one side.
    pub fn synced(&self, side: Side) -> Option<Timestamp> {
        match side {
            Side::Left => self.left_synced,
            Side::Right => self.right_synced,
        }
    }

    /// Moves one side's last-synced time forward (never back).
    pub fn set_synced(&mut self, side: Side, t: Option<Timestamp>) {
        let slot = match side {
            Side::Left => &mut self.left_synced,
            Side::Right => &mut self.right_synced,
        };
        if let Some(t) = t {
            if slot.is_none_or(|old| t > old) {
                *slot = Some(t);
            }
        }
    }

    /// Records the result of a pass.
    pub fn set_result(&mut self, dir: Direction, ok: bool, run: i64) {
        let r = Some(if ok { "success" } else { "failure" }.to_string());
        match dir {
            Direction::LeftToRight => {
                self.ltr_result = r;
                self.ltr_run = Some(run);
            }
            Direction::RightToLeft => {
                self.rtl_result = r;
                self.rtl_run = Some(run);
            }
        }
    }
}

/// A record that failed and will be retried (or was skipped after failing twice the same way).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The table mapping.
    pub mapping: String,
    /// The direction it failed in.
    pub direction: Direction,
    /// The source record's key.
    pub source_key: String,
    /// The destination record's key, when known.
    pub dest_key: Option<String>,
    /// The last error.
    pub message: String,
    /// How many times in a row it failed.
    pub attempts: i64,
    /// Whether automatic runs leave it alone.
    pub skipped: bool,
    /// When it last failed.
    pub at: String,
}

/// A write about to be made, recorded before it is sent: a run that ends between the write and
/// the commit of its outcome leaves it behind, and the next run settles it from what the system
/// then holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// The source record.
    pub source_key: String,
    /// The row written: the key the destination row is created with, the destination row
    /// updated, or (for a propagated deletion) the source row deleted.
    pub dest_key: String,
    /// What the write does.
    pub kind: IntentKind,
    /// The source row's modified-on when it was read for the write.
    pub source_modified_on: Option<Timestamp>,
    /// The values written, as a JSON object (`None` for deletions, and for intents recorded by
    /// versions that did not keep them).
    pub fields: Option<String>,
    /// For an update, the values of the row's other columns as read before the write, which the
    /// update leaves as they are (a JSON object).
    pub kept: Option<String>,
}

impl Intent {
    /// The intent of a create with a client key, with nothing else known (tests, old stores).
    pub fn create(source_key: &str, dest_key: &str) -> Intent {
        Intent {
            source_key: source_key.into(),
            dest_key: dest_key.into(),
            kind: IntentKind::Create,
            source_modified_on: None,
            fields: None,
            kept: None,
        }
    }
}

/// What an [`Intent`]'s write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentKind {
    /// Creates the destination row with a key chosen beforehand.
    Create,
    /// Updates the coupled destination row.
    Update,
    /// Deletes the source row (its partner was deleted and the rule propagates deletions).
    Delete,
}

impl IntentKind {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            IntentKind::Create => "create",
            IntentKind::Update => "update",
            IntentKind::Delete => "delete",
        }
    }

    fn parse(s: &str) -> IntentKind {
        match s {
            "update" => IntentKind::Update,
            "delete" => IntentKind::Delete,
            _ => IntentKind::Create,
        }
    }
}

/// Counts of one table mapping and direction in one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Rows created.
    pub inserted: u64,
    /// Rows changed.
    pub modified: u64,
    /// Rows read that needed no write.
    pub unchanged: u64,
    /// Rows left alone (not coupled, skipped after failures, losing side of a conflict).
    pub skipped: u64,
    /// Rows that failed.
    pub failed: u64,
    /// Conflicts met (whatever the rule decided).
    pub conflicts: u64,
    /// Rows deleted.
    pub deleted: u64,
    /// Couplings removed.
    pub uncoupled: u64,
    /// Couplings made (by matching or creating).
    pub coupled: u64,
}

impl Counts {
    /// Adds another count.
    pub fn add(&mut self, o: &Counts) {
        self.inserted += o.inserted;
        self.modified += o.modified;
        self.unchanged += o.unchanged;
        self.skipped += o.skipped;
        self.failed += o.failed;
        self.conflicts += o.conflicts;
        self.deleted += o.deleted;
        self.uncoupled += o.uncoupled;
        self.coupled += o.coupled;
    }

    /// Whether anything was written or coupled.
    pub fn wrote(&self) -> bool {
        self.inserted + self.modified + self.deleted + self.uncoupled + self.coupled > 0
    }
}

/// One run as listed by `syncmap log`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Run {
    /// The run id.
    pub id: i64,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended, if it did.
    pub finished_at: Option<String>,
    /// `full`, `modified`, `record`, `couple`, `uncouple`, `match`.
    pub mode: String,
    /// `manual` or `schedule`.
    pub trigger: String,
    /// The plan's digest.
    pub plan_digest: String,
    /// The table mappings it covered.
    pub tables: Vec<String>,
    /// Whether it wrote nothing by design.
    pub dry_run: bool,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub status: String,
    /// Why it failed, if it did.
    pub message: Option<String>,
    /// Counts per table mapping and direction.
    pub counts: Vec<RunCounts>,
}

/// Counts of one table mapping and direction.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunCounts {
    /// The table mapping.
    pub mapping: String,
    /// The direction.
    pub direction: String,
    /// The counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// The watermark before the run.
    pub cursor_before: Option<String>,
    /// The watermark after it.
    pub cursor_after: Option<String>,
}

/// A logged record error.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecordError {
    /// The run.
    pub run: i64,
    /// The table mapping.
    pub mapping: String,
    /// The direction.
    pub direction: String,
    /// The source record.
    pub source_key: String,
    /// The destination record, when known.
    pub dest_key: Option<String>,
    /// What went wrong.
    pub message: String,
    /// When.
    pub at: String,
}

/// Something a run decided: a conflict, a deletion, a coupling.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Event {
    /// The table mapping.
    pub mapping: String,
    /// The direction.
    pub direction: String,
    /// `conflict`, `deletion`, `coupled`, `uncoupled`.
    pub kind: String,
    /// The source record.
    pub source_key: Option<String>,
    /// The destination record.
    pub dest_key: Option<String>,
    /// What happened.
    pub message: String,
    /// When.
    pub at: String,
}

/// The state store.
pub struct Store {
    conn: Connection,
    path: String,
}

fn ts(t: Option<Timestamp>) -> Option<String> {
    t.map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

fn parse_ts(s: Option<String>) -> Option<Timestamp> {
    s.and_then(|s| s.parse().ok())
}

fn now() -> String {
    Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

impl Store {
    /// Opens (creating if needed) the store at a `sqlite://PATH` URL or a plain path.
    pub fn open(url: &str) -> Result<Store, StateError> {
        let path = Self::path_of(url)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StateError::Io(format!("{}: {e}", dir.display())))?;
        }
        let conn = Connection::open(&path)?;
        Self::setup(conn, &path)
    }

    /// Opens a store for reading only, for dry runs: nothing is created, migrated or written.
    /// A store that does not exist yet is an empty one in memory; a store of an older version
    /// is refused (a real run upgrades it).
    pub fn open_read_only(url: &str) -> Result<Store, StateError> {
        let path = Self::path_of(url)?;
        if !path.exists() {
            return Self::in_memory();
        }
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let store = Store {
            conn,
            path: path.display().to_string(),
        };
        let found = store.version()?;
        let supported = schema::MIGRATIONS.len() as u32;
        if found > supported {
            return Err(StateError::TooNew {
                path: store.path.clone(),
                found,
                supported,
            });
        }
        if found < supported {
            return Err(StateError::Io(format!(
                "{} was written by an older syncmap and needs an upgrade, which a dry run does not make; run once without --dry-run",
                store.path
            )));
        }
        Ok(store)
    }

    fn path_of(url: &str) -> Result<PathBuf, StateError> {
        Ok(if let Some(p) = url.strip_prefix("sqlite://") {
            PathBuf::from(p)
        } else if url.contains("://") {
            // Only the scheme: the rest may hold credentials expanded from the environment.
            return Err(StateError::Url(
                url.split("://").next().unwrap_or("").to_string(),
            ));
        } else {
            PathBuf::from(url)
        })
    }

    /// A store that lives in memory (tests, dry runs without a store).
    pub fn in_memory() -> Result<Store, StateError> {
        Self::setup(Connection::open_in_memory()?, Path::new(":memory:"))
    }

    fn setup(conn: Connection, path: &Path) -> Result<Store, StateError> {
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Statements run once per record are prepared once and reused; rusqlite keeps 16.
        conn.set_prepared_statement_cache_capacity(64);
        let store = Store {
            conn,
            path: path.display().to_string(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&self) -> Result<(), StateError> {
        let version: u32 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let supported = schema::MIGRATIONS.len() as u32;
        if version > supported {
            return Err(StateError::TooNew {
                path: self.path.clone(),
                found: version,
                supported,
            });
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = rusqlite::Transaction::new_unchecked(
                &self.conn,
                rusqlite::TransactionBehavior::Immediate,
            )?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as u32)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Takes the exclusive run lock of this store (a lock on `<store>.lock`, released when the
    /// returned file is dropped or the process dies), so two runs never sync with one store at
    /// once. `Busy` when another process holds it.
    pub fn lock_runs(&self) -> Result<Option<std::fs::File>, StateError> {
        if self.path == ":memory:" {
            return Ok(None);
        }
        let lock_path = format!("{}.lock", self.path);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StateError::Io(format!("{lock_path}: {e}")))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Err(StateError::Busy(self.path.clone())),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(StateError::Io(format!("{lock_path}: {e}")))
            }
        }
    }

    /// The schema version of the store.
    pub fn version(&self) -> Result<u32, StateError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Runs `f` in one transaction: all of its changes or none (an error rolls back).
    pub fn transaction<T, E: From<StateError>>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| E::from(e.into()))?;
        let out = f(self)?;
        tx.commit().map_err(|e| E::from(e.into()))?;
        Ok(out)
    }

    // ───────────── runs ─────────────

    /// Records the start of a run and returns its id.
    pub fn begin_run(
        &self,
        mode: &str,
        trigger: &str,
        digest: &str,
        tables: &[String],
        dry_run: bool,
    ) -> Result<i64, StateError> {
        let tables = serde_json::to_string(tables).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "INSERT INTO runs (started_at, mode, trigger, plan_digest, tables, dry_run, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running')",
            params![now(), mode, trigger, digest, tables, dry_run],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Stores the counts of one table mapping and direction of a run.
    pub fn save_counts(
        &self,
        run: i64,
        mapping: &str,
        dir: Direction,
        c: &Counts,
        before: Option<&Cursor>,
        after: Option<&Cursor>,
    ) -> Result<(), StateError> {
        let cur = |c: Option<&Cursor>| {
            c.map(|c| format!("{}|{}", ts(Some(c.modified_on)).unwrap_or_default(), c.key))
        };
        self.conn.execute(
            "INSERT INTO run_counts (run, mapping, direction, inserted, modified, unchanged, skipped, failed, conflicts, deleted, uncoupled, coupled, cursor_before, cursor_after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (run, mapping, direction) DO UPDATE SET inserted = excluded.inserted, modified = excluded.modified,
               unchanged = excluded.unchanged, skipped = excluded.skipped, failed = excluded.failed, conflicts = excluded.conflicts,
               deleted = excluded.deleted, uncoupled = excluded.uncoupled, coupled = excluded.coupled,
               cursor_before = excluded.cursor_before, cursor_after = excluded.cursor_after",
            params![
                run, mapping, dir.as_str(), c.inserted as i64, c.modified as i64, c.unchanged as i64, c.skipped as i64,
                c.failed as i64, c.conflicts as i64, c.deleted as i64, c.uncoupled as i64, c.coupled as i64,
                cur(before), cur(after)
            ],
        )?;
        Ok(())
    }

    /// Records how a run ended.
    pub fn finish_run(
        &self,
        run: i64,
        status: &str,
        message: Option<&str>,
    ) -> Result<(), StateError> {
        self.conn.execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, message = ?4 WHERE id = ?1",
            params![run, now(), status, message],
        )?;
        Ok(())
    }

    /// Marks runs left `running` by a process that died as interrupted.
    pub fn close_interrupted_runs(&self) -> Result<usize, StateError> {
        Ok(self.conn.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = COALESCE(finished_at, ?1), message = 'the process ended before the run finished' WHERE status = 'running'",
            params![now()],
        )?)
    }

    /// The most recent runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<Run>, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM runs ORDER BY id DESC LIMIT ?1")?;
        let ids: Vec<i64> = stmt
            .query_map([limit as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ids.into_iter()
            .filter_map(|id| self.run(id).transpose())
            .collect()
    }

    /// One run with its counts.
    pub fn run(&self, id: i64) -> Result<Option<Run>, StateError> {
        let run = self
            .conn
            .query_row(
                "SELECT id, started_at, finished_at, mode, trigger, plan_digest, tables, dry_run, status, message FROM runs WHERE id = ?1",
                [id],
                |r| {
                    let tables: String = r.get(6)?;
                    Ok(Run {
                        id: r.get(0)?,
                        started_at: r.get(1)?,
                        finished_at: r.get(2)?,
                        mode: r.get(3)?,
                        trigger: r.get(4)?,
                        plan_digest: r.get(5)?,
                        tables: serde_json::from_str(&tables).unwrap_or_default(),
                        dry_run: r.get(7)?,
                        status: r.get(8)?,
                        message: r.get(9)?,
                        counts: Vec::new(),
                    })
                },
            )
            .optional()?;
        let Some(mut run) = run else { return Ok(None) };
        let mut stmt = self.conn.prepare(
            "SELECT mapping, direction, inserted, modified, unchanged, skipped, failed, conflicts, deleted, uncoupled, coupled, cursor_before, cursor_after
             FROM run_counts WHERE run = ?1 ORDER BY rowid",
        )?;
        run.counts = stmt
            .query_map([id], |r| {
                let n = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
                Ok(RunCounts {
                    mapping: r.get(0)?,
                    direction: r.get(1)?,
                    counts: Counts {
                        inserted: n(2)?,
                        modified: n(3)?,
                        unchanged: n(4)?,
                        skipped: n(5)?,
                        failed: n(6)?,
                        conflicts: n(7)?,
                        deleted: n(8)?,
                        uncoupled: n(9)?,
                        coupled: n(10)?,
                    },
                    cursor_before: r.get(11)?,
                    cursor_after: r.get(12)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Some(run))
    }

    // ───────────── couplings ─────────────

    fn coupling_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Coupling> {
        Ok(Coupling {
            mapping: r.get(0)?,
            left_key: r.get(1)?,
            right_key: r.get(2)?,
            left_synced: parse_ts(r.get(3)?),
            right_synced: parse_ts(r.get(4)?),
            ltr_result: r.get(5)?,
            ltr_run: r.get(6)?,
            rtl_result: r.get(7)?,
            rtl_run: r.get(8)?,
            skipped: r.get(9)?,
        })
    }

    const COUPLING_COLUMNS: &'static str =
        "mapping, left_key, right_key, left_synced, right_synced, ltr_result, ltr_run, rtl_result, rtl_run, skipped";

    /// The coupling of a record, if it has one.
    pub fn coupling(
        &self,
        mapping: &str,
        side: Side,
        key: &str,
    ) -> Result<Option<Coupling>, StateError> {
        let col = if side == Side::Left {
            "left_key"
        } else {
            "right_key"
        };
        let sql = format!(
            "SELECT {} FROM couplings WHERE mapping = ?1 AND {col} = ?2",
            Self::COUPLING_COLUMNS
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![mapping, key], Self::coupling_from)
            .optional()?)
    }

    /// The couplings of many records of one side, by key.
    pub fn couplings(
        &self,
        mapping: &str,
        side: Side,
        keys: &[String],
    ) -> Result<HashMap<String, Coupling>, StateError> {
        let col = if side == Side::Left {
            "left_key"
        } else {
            "right_key"
        };
        let mut out = HashMap::new();
        for chunk in keys.chunks(400) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT {} FROM couplings WHERE mapping = ? AND {col} IN ({marks})",
                Self::COUPLING_COLUMNS
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let args = std::iter::once(mapping.to_string()).chain(chunk.iter().cloned());
            for c in stmt.query_map(rusqlite::params_from_iter(args), Self::coupling_from)? {
                let c = c?;
                out.insert(c.key(side).to_string(), c);
            }
        }
        Ok(out)
    }

    /// Every coupling of a table mapping, in left-key order, a page at a time.
    pub fn couplings_page(
        &self,
        mapping: &str,
        after_left_key: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Coupling>, StateError> {
        let sql = format!(
            "SELECT {} FROM couplings WHERE mapping = ?1 AND left_key > ?2 ORDER BY left_key LIMIT ?3",
            Self::COUPLING_COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![mapping, after_left_key.unwrap_or(""), limit as i64],
            Self::coupling_from,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Couples two records; refuses when either is already coupled to another.
    pub fn couple(&self, c: &Coupling) -> Result<(), StateError> {
        for side in [Side::Left, Side::Right] {
            if let Some(existing) = self.coupling(&c.mapping, side, c.key(side))? {
                if existing.key(side.other()) != c.key(side.other()) {
                    return Err(StateError::AlreadyCoupled {
                        mapping: c.mapping.clone(),
                        side: if side == Side::Left { "left" } else { "right" },
                        key: c.key(side).to_string(),
                        partner: existing.key(side.other()).to_string(),
                    });
                }
            }
        }
        self.save_coupling(c)
    }

    /// Writes a coupling's timestamps, results and flag (inserting it if new).
    pub fn save_coupling(&self, c: &Coupling) -> Result<(), StateError> {
        self.conn.prepare_cached(
            "INSERT INTO couplings (mapping, left_key, right_key, left_synced, right_synced, ltr_result, ltr_run, rtl_result, rtl_run, skipped, coupled_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (mapping, left_key) DO UPDATE SET right_key = excluded.right_key, left_synced = excluded.left_synced,
               right_synced = excluded.right_synced, ltr_result = excluded.ltr_result, ltr_run = excluded.ltr_run,
               rtl_result = excluded.rtl_result, rtl_run = excluded.rtl_run, skipped = excluded.skipped",
        )?.execute(
            params![
                c.mapping, c.left_key, c.right_key, ts(c.left_synced), ts(c.right_synced), c.ltr_result, c.ltr_run,
                c.rtl_result, c.rtl_run, c.skipped, now()
            ],
        )?;
        Ok(())
    }

    /// Removes the coupling of a record; true when there was one.
    pub fn uncouple(&self, mapping: &str, side: Side, key: &str) -> Result<bool, StateError> {
        let col = if side == Side::Left {
            "left_key"
        } else {
            "right_key"
        };
        let n = self.conn.execute(
            &format!("DELETE FROM couplings WHERE mapping = ?1 AND {col} = ?2"),
            params![mapping, key],
        )?;
        Ok(n > 0)
    }

    /// Removes every coupling of a table mapping; returns how many.
    pub fn uncouple_all(&self, mapping: &str) -> Result<usize, StateError> {
        self.conn
            .execute("DELETE FROM failures WHERE mapping = ?1", [mapping])?;
        Ok(self
            .conn
            .execute("DELETE FROM couplings WHERE mapping = ?1", [mapping])?)
    }

    /// Number of couplings and of skipped couplings of a table mapping.
    pub fn coupling_counts(&self, mapping: &str) -> Result<(u64, u64), StateError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(skipped), 0) FROM couplings WHERE mapping = ?1",
            [mapping],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    // ───────────── watermarks ─────────────

    /// The watermark of a table mapping and direction.
    pub fn watermark(&self, mapping: &str, dir: Direction) -> Result<Option<Cursor>, StateError> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT modified_on, key FROM watermarks WHERE mapping = ?1 AND direction = ?2",
                params![mapping, dir.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(m, key)| {
            m.parse()
                .ok()
                .map(|modified_on| Cursor { modified_on, key })
        }))
    }

    /// Moves a watermark forward; a cursor at or before the stored one changes nothing.
    pub fn advance_watermark(
        &self,
        mapping: &str,
        dir: Direction,
        cursor: &Cursor,
        run: i64,
    ) -> Result<(), StateError> {
        if self
            .watermark(mapping, dir)?
            .is_some_and(|old| &old >= cursor)
        {
            return Ok(());
        }
        self.conn.execute(
            "INSERT INTO watermarks (mapping, direction, modified_on, key, run) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (mapping, direction) DO UPDATE SET modified_on = excluded.modified_on, key = excluded.key, run = excluded.run",
            params![mapping, dir.as_str(), ts(Some(cursor.modified_on)), cursor.key, run],
        )?;
        Ok(())
    }

    /// Forgets the watermarks of a table mapping (the next modified-only run reads everything).
    pub fn reset_watermarks(&self, mapping: &str) -> Result<(), StateError> {
        self.conn
            .execute("DELETE FROM watermarks WHERE mapping = ?1", [mapping])?;
        Ok(())
    }

    // ───────────── failures and errors ─────────────

    /// Logs a failed record and tracks it for retry; a record failing twice in a row with the
    /// same message is skipped. Returns whether it is now skipped.
    #[allow(clippy::too_many_arguments)] // every part is stored
    pub fn record_failure(
        &self,
        run: i64,
        mapping: &str,
        dir: Direction,
        source_key: &str,
        dest_key: Option<&str>,
        message: &str,
    ) -> Result<bool, StateError> {
        self.record_failure_as(run, mapping, dir, (source_key, dest_key), message, true)
    }

    /// Logs a failed record; `may_skip` false for passing problems (throttling, timeouts, a
    /// locked database), which must not skip a record however often they repeat.
    pub fn record_failure_as(
        &self,
        run: i64,
        mapping: &str,
        dir: Direction,
        (source_key, dest_key): (&str, Option<&str>),
        message: &str,
        may_skip: bool,
    ) -> Result<bool, StateError> {
        let at = now();
        self.conn.execute(
            "INSERT INTO record_errors (run, mapping, direction, source_key, dest_key, message, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![run, mapping, dir.as_str(), source_key, dest_key, message, at],
        )?;
        let previous: Option<String> = self
            .conn
            .query_row(
                "SELECT message FROM failures WHERE mapping = ?1 AND direction = ?2 AND source_key = ?3",
                params![mapping, dir.as_str(), source_key],
                |r| r.get(0),
            )
            .optional()?;
        let skipped = may_skip && previous.as_deref() == Some(message);
        self.conn.execute(
            "INSERT INTO failures (mapping, direction, source_key, dest_key, message, attempts, skipped, run, at) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8)
             ON CONFLICT (mapping, direction, source_key) DO UPDATE SET dest_key = COALESCE(excluded.dest_key, dest_key),
               message = excluded.message, attempts = attempts + 1, skipped = excluded.skipped, run = excluded.run, at = excluded.at",
            params![mapping, dir.as_str(), source_key, dest_key, message, skipped, run, at],
        )?;
        if skipped {
            let col = if dir.source() == Side::Left {
                "left_key"
            } else {
                "right_key"
            };
            self.conn.execute(
                &format!("UPDATE couplings SET skipped = 1 WHERE mapping = ?1 AND {col} = ?2"),
                params![mapping, source_key],
            )?;
        }
        Ok(skipped)
    }

    /// Clears the failure of a record that has now synced.
    pub fn clear_failure(
        &self,
        mapping: &str,
        dir: Direction,
        source_key: &str,
    ) -> Result<(), StateError> {
        self.conn
            .prepare_cached(
                "DELETE FROM failures WHERE mapping = ?1 AND direction = ?2 AND source_key = ?3",
            )?
            .execute(params![mapping, dir.as_str(), source_key])?;
        Ok(())
    }

    /// Source keys of records that failed and are not skipped: retried first by every run.
    pub fn failed_not_skipped(
        &self,
        mapping: &str,
        dir: Direction,
    ) -> Result<Vec<String>, StateError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source_key FROM failures WHERE mapping = ?1 AND direction = ?2 AND skipped = 0 ORDER BY source_key",
        )?;
        let rows = stmt.query_map(params![mapping, dir.as_str()], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Source keys of the couplings never synced from `side`: pairs coupled by hand or by the
    /// match rules. Their rows may be older than the watermark, so every run reads them by key
    /// (as it does failed records) until they have synced.
    pub fn never_synced(&self, mapping: &str, side: Side) -> Result<Vec<String>, StateError> {
        let (key, synced) = match side {
            Side::Left => ("left_key", "left_synced"),
            Side::Right => ("right_key", "right_synced"),
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {key} FROM couplings WHERE mapping = ?1 AND {synced} IS NULL AND skipped = 0 ORDER BY {key}"
        ))?;
        let rows = stmt.query_map([mapping], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Which of these source records are skipped in a direction: one query for a batch of
    /// records instead of one per record.
    pub fn skipped_among(
        &self,
        mapping: &str,
        dir: Direction,
        source_keys: &[String],
    ) -> Result<HashSet<String>, StateError> {
        let mut out = HashSet::new();
        for chunk in source_keys.chunks(400) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT source_key FROM failures WHERE mapping = ? AND direction = ? AND skipped = 1 AND source_key IN ({marks})"
            ))?;
            let args = [mapping, dir.as_str()]
                .into_iter()
                .chain(chunk.iter().map(String::as_str));
            for key in stmt.query_map(rusqlite::params_from_iter(args), |r| r.get(0))? {
                out.insert(key?);
            }
        }
        Ok(out)
    }

    /// Whether a record is skipped in a direction.
    pub fn is_skipped(
        &self,
        mapping: &str,
        dir: Direction,
        source_key: &str,
    ) -> Result<bool, StateError> {
        let s: Option<bool> = self
            .conn
            .prepare_cached(
                "SELECT skipped FROM failures WHERE mapping = ?1 AND direction = ?2 AND source_key = ?3",
            )?
            .query_row(params![mapping, dir.as_str(), source_key], |r| r.get(0))
            .optional()?;
        Ok(s.unwrap_or(false))
    }

    /// Every tracked failure, optionally of one table mapping.
    pub fn failures(&self, mapping: Option<&str>) -> Result<Vec<Failure>, StateError> {
        let mut stmt = self.conn.prepare(
            "SELECT mapping, direction, source_key, dest_key, message, attempts, skipped, at FROM failures
             WHERE ?1 IS NULL OR mapping = ?1 ORDER BY mapping, direction, source_key",
        )?;
        let rows = stmt.query_map([mapping], |r| {
            let d: String = r.get(1)?;
            Ok(Failure {
                mapping: r.get(0)?,
                direction: Direction::parse(&d).unwrap_or(Direction::LeftToRight),
                source_key: r.get(2)?,
                dest_key: r.get(3)?,
                message: r.get(4)?,
                attempts: r.get(5)?,
                skipped: r.get(6)?,
                at: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Un-skips failed records (all, or of one table mapping) so the next run retries them;
    /// returns how many.
    pub fn retry(&self, mapping: Option<&str>) -> Result<usize, StateError> {
        let n = self.conn.execute(
            "UPDATE failures SET skipped = 0, attempts = 0, message = '' WHERE skipped = 1 AND (?1 IS NULL OR mapping = ?1)",
            [mapping],
        )?;
        self.conn.execute(
            "UPDATE couplings SET skipped = 0 WHERE skipped = 1 AND (?1 IS NULL OR mapping = ?1)",
            [mapping],
        )?;
        Ok(n)
    }

    /// The errors logged by one run, or the latest ones.
    pub fn errors(
        &self,
        run: Option<i64>,
        mapping: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecordError>, StateError> {
        let mut stmt = self.conn.prepare(
            "SELECT run, mapping, direction, source_key, dest_key, message, at FROM record_errors
             WHERE (?1 IS NULL OR run = ?1) AND (?2 IS NULL OR mapping = ?2) ORDER BY id DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![run, mapping, limit as i64], |r| {
            Ok(RecordError {
                run: r.get(0)?,
                mapping: r.get(1)?,
                direction: r.get(2)?,
                source_key: r.get(3)?,
                dest_key: r.get(4)?,
                message: r.get(5)?,
                at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ───────────── events ─────────────

    /// Logs something a run decided that is not an error: a conflict and how it was resolved, a
    /// deletion handled, a coupling made by matching.
    #[allow(clippy::too_many_arguments)] // every part is stored
    pub fn log_event(
        &self,
        run: i64,
        mapping: &str,
        dir: Direction,
        kind: &str,
        source_key: Option<&str>,
        dest_key: Option<&str>,
        message: &str,
    ) -> Result<(), StateError> {
        self.conn.execute(
            "INSERT INTO events (run, mapping, direction, kind, source_key, dest_key, message, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![run, mapping, dir.as_str(), kind, source_key, dest_key, message, now()],
        )?;
        Ok(())
    }

    /// The events of one run, in order.
    pub fn events(&self, run: i64) -> Result<Vec<Event>, StateError> {
        let mut stmt = self.conn.prepare(
            "SELECT mapping, direction, kind, source_key, dest_key, message, at FROM events WHERE run = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([run], |r| {
            Ok(Event {
                mapping: r.get(0)?,
                direction: r.get(1)?,
                kind: r.get(2)?,
                source_key: r.get(3)?,
                dest_key: r.get(4)?,
                message: r.get(5)?,
                at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ───────────── write intents ─────────────

    /// Records the writes a batch is about to make, before it makes them (in one transaction).
    pub fn add_intents(
        &self,
        mapping: &str,
        dir: Direction,
        intents: &[Intent],
        run: i64,
    ) -> Result<(), StateError> {
        let at = now();
        // One commit for the batch, unless the caller's transaction already holds them.
        let tx = if self.conn.is_autocommit() {
            Some(rusqlite::Transaction::new_unchecked(
                &self.conn,
                rusqlite::TransactionBehavior::Immediate,
            )?)
        } else {
            None
        };
        {
            let mut stmt = self.conn.prepare_cached(
                "INSERT INTO intents (mapping, direction, source_key, dest_key, run, at, kind, source_modified_on, fields, kept)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (mapping, direction, source_key) DO UPDATE SET dest_key = excluded.dest_key, run = excluded.run,
                   at = excluded.at, kind = excluded.kind, source_modified_on = excluded.source_modified_on, fields = excluded.fields,
                   kept = excluded.kept",
            )?;
            for i in intents {
                stmt.execute(params![
                    mapping,
                    dir.as_str(),
                    i.source_key,
                    i.dest_key,
                    run,
                    at,
                    i.kind.as_str(),
                    ts(i.source_modified_on),
                    i.fields,
                    i.kept
                ])?;
            }
        }
        if let Some(tx) = tx {
            tx.commit()?;
        }
        Ok(())
    }

    /// Writes that were intended but not confirmed (a run ended between the write and the
    /// commit of its outcome): settled at the start of the next run.
    pub fn intents(&self, mapping: &str, dir: Direction) -> Result<Vec<Intent>, StateError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source_key, dest_key, kind, source_modified_on, fields, kept FROM intents WHERE mapping = ?1 AND direction = ?2 ORDER BY source_key",
        )?;
        let rows = stmt.query_map(params![mapping, dir.as_str()], |r| {
            Ok(Intent {
                source_key: r.get(0)?,
                dest_key: r.get(1)?,
                kind: IntentKind::parse(&r.get::<_, String>(2)?),
                source_modified_on: parse_ts(r.get(3)?),
                fields: r.get(4)?,
                kept: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The intended key for a source record, if a create is pending.
    pub fn intent(
        &self,
        mapping: &str,
        dir: Direction,
        source_key: &str,
    ) -> Result<Option<String>, StateError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT dest_key FROM intents WHERE mapping = ?1 AND direction = ?2 AND source_key = ?3 AND kind = 'create'",
            )?
            .query_row(params![mapping, dir.as_str(), source_key], |r| r.get(0))
            .optional()?)
    }

    /// The keys pending creates of these source records were to be made with (as
    /// [`Store::intent`]), by source key: one query for a batch of records instead of one per
    /// record.
    pub fn create_intents_among(
        &self,
        mapping: &str,
        dir: Direction,
        source_keys: &[String],
    ) -> Result<HashMap<String, String>, StateError> {
        let mut out = HashMap::new();
        for chunk in source_keys.chunks(400) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT source_key, dest_key FROM intents WHERE mapping = ? AND direction = ? AND kind = 'create' AND source_key IN ({marks})"
            ))?;
            let args = [mapping, dir.as_str()]
                .into_iter()
                .chain(chunk.iter().map(String::as_str));
            let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            for pair in rows {
                let (source, dest) = pair?;
                out.insert(source, dest);
            }
        }
        Ok(out)
    }

    /// Forgets an intent once its write's outcome is committed (or known not to have happened).
    pub fn clear_intent(
        &self,
        mapping: &str,
        dir: Direction,
        source_key: &str,
    ) -> Result<(), StateError> {
        self.conn
            .prepare_cached(
                "DELETE FROM intents WHERE mapping = ?1 AND direction = ?2 AND source_key = ?3",
            )?
            .execute(params![mapping, dir.as_str(), source_key])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
