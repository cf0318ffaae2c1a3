//! The state store: which records are coupled to which, the watermarks of modified-only sync,
//! the runs, and the records that failed. It lives in SQLite (one file, WAL mode), the embedded
//! default, or in PostgreSQL, and every change is committed before the runtime moves on, so a
//! run killed at any moment resumes.

mod among;
mod behind;
mod couplings;
mod create_keys;
mod db;
mod deferred;
mod events;
mod failures;
mod history;
mod intents;
pub mod lease;
mod open;
mod runs;
mod schema;
mod units;
mod watermarks;

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;

use db::{args, Arg, Db, Location};

use crate::cursor::Cursor;
use crate::plan::Side;

pub use behind::Committing;
pub use db::Durability;
pub use failures::{FailureKind, FieldDifference};
pub use history::{RunFilter, RunWrite, WriteAction};
pub use lease::{Fence, Holder, Lease, LeaseKind, LeaseWatch};
pub use units::{unit_name, NewUnit, Unit, UnitRun};

/// The variable that makes stores commit with `synchronous=NORMAL` (durable against a crash of
/// the process, not of the machine), for `cargo bench --bench engine` to measure what power-loss
/// durability costs. Not for use: a commit lost to a power cut can duplicate records.
#[doc(hidden)]
pub const RELAXED_FOR_BENCHMARKS: &str = "SYNCMAP_BENCHMARK_ONLY_RELAXED_STATE";

/// How long taking a lock retries before it reports the store busy.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Why the state store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database reported a problem.
    #[error("state store: {0}")]
    Db(String),
    /// Another `syncmap schedule` is running with this store.
    #[error("another `syncmap schedule` is running with the state store at {path}{}; stop it first, or give this one another state store", holder_text(.holder))]
    SchedulerBusy {
        /// Where the store is.
        path: String,
        /// Who holds the scheduler lease, when the store says.
        holder: Option<Holder>,
    },
    /// Another process is running a sync with this store.
    #[error("another syncmap run is using the state store at {path}{}; wait for it to finish", holder_text(.holder))]
    Busy {
        /// Where the store is.
        path: String,
        /// Who holds the run lease, when the store says.
        holder: Option<Holder>,
    },
    /// A worker is syncing a unit of this store: a manual run waits for it, and so does
    /// another worker for that unit.
    #[error("a syncmap worker is syncing `{unit}` with the state store at {path}{}; wait for it to finish, or stop the workers", holder_text(.holder))]
    WorkerBusy {
        /// Where the store is.
        path: String,
        /// The unit: the table mapping it syncs.
        unit: String,
        /// Who holds the unit's lease, when the store says (boxed: errors stay small).
        holder: Option<Box<Holder>>,
    },
    /// Another process took over this run's lease (this one stopped renewing it for too long).
    #[error("this run lost its lease of the state store at {0} to another process and stopped; nothing more was written")]
    LeaseLost(String),
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
    #[error("unsupported state store URL scheme `{0}`: use `sqlite://PATH` or `postgres://USER@HOST/DATABASE`")]
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

fn holder_text<H: std::fmt::Display>(h: &Option<H>) -> String {
    h.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
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
    /// The direction records take from `side`.
    pub fn from_source(side: Side) -> Direction {
        match side {
            Side::Left => Direction::LeftToRight,
            Side::Right => Direction::RightToLeft,
        }
    }

    /// The other direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::LeftToRight => Direction::RightToLeft,
            Direction::RightToLeft => Direction::LeftToRight,
        }
    }

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
    /// The left record's version (ETag) when last synced: what the sync's own write left, or
    /// the row as read when it needed no write. `None` when unknown, or when the row holds a
    /// change not synced yet.
    pub left_version: Option<String>,
    /// The right record's version when last synced.
    pub right_version: Option<String>,
    /// The side whose row the sync created and whose values set by its system (a number it
    /// chose) still have to flow back through the other direction's one-way fields.
    pub follow_up: Option<Side>,
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
    /// What each two-way field held on each side when the pair last synced, as fingerprints
    /// (20 bytes a field, see the engine's `base`): which side changed a field since is told
    /// from them, so a conflict is settled field by field.
    pub base: Option<Vec<u8>>,
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
            left_version: None,
            right_version: None,
            follow_up: None,
            ltr_result: None,
            ltr_run: None,
            rtl_result: None,
            rtl_run: None,
            skipped: false,
            base: None,
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

    /// One side's version when last synced.
    pub fn version(&self, side: Side) -> Option<&str> {
        match side {
            Side::Left => self.left_version.as_deref(),
            Side::Right => self.right_version.as_deref(),
        }
    }

    /// Records one side's version as the sync left it; `None` forgets it, so the row's next read
    /// counts as a change (by its modified-on) — for a row holding a change not synced yet.
    pub fn set_version(&mut self, side: Side, v: Option<&str>) {
        let slot = match side {
            Side::Left => &mut self.left_version,
            Side::Right => &mut self.right_version,
        };
        *slot = v.map(str::to_string);
    }

    /// Records that one side was synced as the row stands: its modified-on and its version.
    pub fn set_in_step(
        &mut self,
        side: Side,
        modified_on: Option<Timestamp>,
        version: Option<&str>,
    ) {
        self.set_synced(side, modified_on);
        self.set_version(side, version);
    }

    /// Records that one side holds a change the sync has not taken yet (someone's, or a value
    /// the system computed when the sync wrote): synced as of an instant before `modified_on`,
    /// with no version, so the row's next read counts as changed.
    pub fn set_pending(&mut self, side: Side, modified_on: Option<Timestamp>) {
        // Back before the row's modified-on even if the last sync was stamped with the same
        // instant (a service counting whole seconds): the change must read as later.
        if let Some(before) =
            modified_on.and_then(|m| m.checked_sub(jiff::SignedDuration::from_micros(1)).ok())
        {
            let slot = match side {
                Side::Left => &mut self.left_synced,
                Side::Right => &mut self.right_synced,
            };
            *slot = Some(slot.map_or(before, |old| old.min(before)));
        }
        self.set_version(side, None);
    }

    /// Whether a side's row changed since the pair was last synced: by its version when both
    /// the coupling and the row have one (exact, whatever the clock's precision), else by its
    /// modified-on. `None` when neither tells.
    pub fn changed(
        &self,
        side: Side,
        version: Option<&str>,
        modified_on: Option<Timestamp>,
    ) -> Option<bool> {
        match (self.version(side), version) {
            (Some(ours), Some(theirs)) => Some(ours != theirs),
            _ => match (self.synced(side), modified_on) {
                (Some(t), Some(m)) => Some(m > t),
                _ => None,
            },
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

    /// The last result of a direction (`success` / `failure`) and the run that got it.
    pub fn last_result(&self, dir: Direction) -> (Option<&str>, Option<i64>) {
        match dir {
            Direction::LeftToRight => (self.ltr_result.as_deref(), self.ltr_run),
            Direction::RightToLeft => (self.rtl_result.as_deref(), self.rtl_run),
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
    /// What a person knows the record by (`C00010 · Contoso Ltd.`), when the run knew it.
    pub label: Option<String>,
    /// What kind of failure it is.
    pub kind: FailureKind,
    /// For a conflict: both sides' values of each two-way field that differs.
    pub differences: Vec<FieldDifference>,
}

/// A write about to be made, recorded before it is sent: a run that ends between the write and
/// the commit of its outcome (or gets no answer to it) leaves it behind, and it is settled from
/// what the system then holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Intent {
    /// The source record.
    pub source_key: String,
    /// The row written: the key the destination row is created with (empty when the system
    /// chooses the key: the row is then found again by the values written), the destination row
    /// updated, or (for a propagated deletion) the source row deleted.
    pub dest_key: String,
    /// What the write does.
    pub kind: IntentKind,
    /// The source row's modified-on when it was read for the write.
    pub source_modified_on: Option<Timestamp>,
    /// The source row's version when it was read for the write.
    pub source_version: Option<String>,
    /// The values written, as a JSON object (`None` for deletions, and for intents recorded by
    /// versions that did not keep them).
    pub fields: Option<String>,
    /// For an update, the values of the row's other columns as read before the write, which the
    /// update leaves as they are (a JSON object).
    pub kept: Option<String>,
    /// Why it could not be settled (a create whose row cannot be told apart from others), for
    /// the record's failure; `None` while it is simply open.
    pub note: Option<String>,
    /// For an update, whether the destination row held a change of its own not synced yet
    /// (which the update leaves pending, to flow back).
    pub dest_pending: bool,
}

impl Intent {
    /// The intent of a create with a client key, with nothing else known (tests, old stores).
    pub fn create(source_key: &str, dest_key: &str) -> Intent {
        Intent {
            source_key: source_key.into(),
            dest_key: dest_key.into(),
            ..Intent::default()
        }
    }

    /// Whether the system chooses the key of the row this create makes.
    pub fn keyless(&self) -> bool {
        self.kind == IntentKind::Create && self.dest_key.is_empty()
    }
}

/// What an [`Intent`]'s write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntentKind {
    /// Creates the destination row (with a key chosen beforehand where the system takes one).
    #[default]
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
    /// `running`, `succeeded`, `completed_with_failures`, `failed` or `interrupted`.
    pub status: String,
    /// Why it failed, if it did.
    pub message: Option<String>,
    /// The company it synced; empty for a profile's one company.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub company: String,
    /// How long it took (finished minus started), once it ended.
    pub duration_ms: Option<u64>,
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
    /// What a person knows the record by, when the run knew it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
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
    /// The connection; statements go through [`Store::conn`], which makes deferred writes first.
    db: Db,
    /// Per-record writes of the open transaction not made yet (see `deferred`).
    deferred: std::cell::RefCell<deferred::Deferred>,
    mode: std::cell::Cell<deferred::Mode>,
    /// Where the database is (a PostgreSQL URL may hold a password: see `path`).
    location: Location,
    /// Where the store is, as messages say it: a file's path, or a server's URL without its
    /// password.
    path: String,
    /// The lease the transactions of this store check they still hold (see [`Store::set_fence`]).
    fence: std::cell::RefCell<Option<Fence>>,
    /// The company whose state this store reads and writes (see [`Store::set_company`]).
    company: std::cell::RefCell<String>,
    /// When the open transaction's commit is on disk.
    durability: std::cell::Cell<Durability>,
    /// Whether the last commit waits for the next durable one (see
    /// [`Store::awaits_durable_commit`]).
    awaiting_durable: std::cell::Cell<bool>,
    /// The thread that commits batches behind the engine, while a run has it (see `behind`).
    behind: std::cell::RefCell<Option<behind::Behind>>,
}

fn ts(t: Option<Timestamp>) -> Option<String> {
    t.map(stamp)
}

/// An instant as the store keeps it: UTC text to the microsecond, so text order is time order.
fn stamp(t: Timestamp) -> String {
    crate::value::utc_micros(t).unwrap_or_else(|| t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

fn parse_ts(s: Option<String>) -> Option<Timestamp> {
    s.and_then(|s| s.parse().ok())
}

fn now() -> String {
    stamp(Timestamp::now())
}

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;
