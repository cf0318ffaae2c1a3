//! Connectors: one interface to every system the runtime syncs — paged reads with a pushed-down
//! filter and a tie-safe modified-since cursor, reads by key, lookups by column, batched writes —
//! and one module per system kind. The runtime picks the connector by the system's `kind`.

pub mod odata;
pub mod sqlite;

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::cursor::Cursor;
use crate::plan;
use crate::value::Value;

/// A row as a system returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The key column's value, as text (GUIDs in lower case).
    pub key: String,
    /// When the system last wrote the row, if the table tracks it.
    pub modified_on: Option<Timestamp>,
    /// The concurrency token to send back on update and delete, where the system has one.
    pub etag: Option<String>,
    /// Column values (the key and modified-on columns included).
    pub fields: BTreeMap<String, Value>,
    /// Why some value of the row could not be read (those columns are absent from `fields`):
    /// the runtime fails this record, with this reason, instead of syncing part of it or
    /// stopping the run.
    pub invalid: Option<String>,
}

/// One table of a system, as the plan describes it.
#[derive(Debug, Clone, Copy)]
pub struct TableRef<'a> {
    /// The table's name in the system (entity set).
    pub name: &'a str,
    /// Key, modified-on and column types.
    pub info: &'a plan::TableInfo,
}

/// What to read.
#[derive(Debug, Clone)]
pub struct ReadRequest<'a> {
    /// The table.
    pub table: TableRef<'a>,
    /// The side's filter; a connector pushes down what it can (`odata`). The runtime still
    /// evaluates the whole filter on every row, so pushing down is only an optimisation.
    pub filter: Option<&'a plan::Filter>,
    /// Only rows after this cursor, in `(modified_on, key)` order; all rows when absent.
    pub since: Option<Cursor>,
    /// Rows per page.
    pub page_size: usize,
    /// Whether the read follows the system's own record of changes.
    pub tracking: Tracking,
}

/// How a read follows a system's own record of changes (Dataverse change tracking), instead
/// of a modified-since cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracking {
    /// A plain read.
    Off,
    /// A whole read that starts tracking: its last page tells where the changes after it
    /// begin ([`Page::delta`]), when the table's changes are tracked.
    Start,
    /// The rows changed since this point, which a tracked read's last page gave, and the
    /// keys of those deleted since ([`Page::removed`]).
    Since(String),
}

/// One page of rows and where the next one starts.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Rows in `(modified_on, key)` order when a cursor was given, key order otherwise.
    pub rows: Vec<Row>,
    /// The continuation for the next page; none after the last page.
    pub next: Option<String>,
    /// In a tracked read, the keys of the rows deleted since the point read from.
    pub removed: Vec<String>,
    /// On a tracked read's last page, where the changes after this read begin; none where the
    /// system does not track the table's changes.
    pub delta: Option<String>,
}

/// A write to a system.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Create a row, with a key chosen by the caller where the system accepts one (so a create
    /// interrupted by a crash can be recognised and is not repeated).
    Create {
        /// The key to create the row with, if the system takes client keys.
        key: Option<String>,
        /// The column values.
        fields: BTreeMap<String, Value>,
    },
    /// Change some columns of a row.
    Update {
        /// The row.
        key: String,
        /// The token the row was read with; a stale one fails with [`ConnectorError::Conflict`].
        etag: Option<String>,
        /// The new values.
        fields: BTreeMap<String, Value>,
    },
    /// Delete a row.
    Delete {
        /// The row.
        key: String,
        /// The token the row was read with.
        etag: Option<String>,
    },
}

/// What a successful write left behind.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOutcome {
    /// The row's key.
    pub key: String,
    /// Its modified-on after the write (none after a delete).
    pub modified_on: Option<Timestamp>,
    /// Its new concurrency token.
    pub etag: Option<String>,
}

/// Whether writes may still be sent, asked right before each request that writes leaves
/// (after any wait for a place in flight or for the service's budget): a run that may have
/// lost its lease of the state store must send nothing more, since another process may be
/// settling its writes.
pub type WriteGate = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// Why a connector call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectorError {
    /// The row does not exist.
    #[error("{table} row `{key}` does not exist")]
    NotFound {
        /// The table.
        table: String,
        /// The key.
        key: String,
    },
    /// The row changed since it was read (stale concurrency token).
    #[error("{table} row `{key}` was changed by someone else since it was read")]
    Conflict {
        /// The table.
        table: String,
        /// The key.
        key: String,
    },
    /// The system refused the data (validation, constraint); retrying the same data fails again.
    #[error("{0}")]
    Rejected(String),
    /// A passing problem (throttling, timeout, connection); the same call may succeed later.
    #[error("{0}")]
    Transient(String),
    /// No connection could be opened to the system (nothing listens, the name does not
    /// resolve): the call was not sent. Passing like [`ConnectorError::Transient`], but worth
    /// telling a person at once, with what to check.
    #[error("{0}")]
    Unreachable(String),
    /// The connector cannot work at all (configuration, missing table, I/O).
    #[error("{0}")]
    Fatal(String),
    /// The point a tracked read asked for changes since is no longer known to the system (it
    /// expired): the changes must be read another way.
    #[error("{0}")]
    Expired(String),
}

/// Whether a row holds a lookup's values (text compared without case when asked), as a
/// system's `find` would have it: for connectors that fetch several lookups at once and must
/// tell which rows answer which.
pub fn row_matches(row: &Row, equal: &[(String, Value)], ignore_case: bool) -> bool {
    equal.iter().all(|(column, want)| {
        let have = row.fields.get(column).unwrap_or(&Value::Absent);
        match (want, have) {
            (Value::String(a), Value::String(b)) if ignore_case => {
                a.to_lowercase() == b.to_lowercase()
            }
            (Value::String(a), Value::String(b)) => {
                a == b || a.eq_ignore_ascii_case(b) && is_guid(a)
            }
            _ => want.same_as(have),
        }
    })
}

/// GUIDs compare without case whatever the lookup asks: services print them as they like.
fn is_guid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

/// What a connector can do, so the runtime sizes batches and creates safely.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// Whether creates accept a key chosen by the caller.
    pub client_keys: bool,
    /// The most writes one batch may carry.
    pub max_batch: usize,
    /// The largest page the system serves.
    pub max_page: usize,
    /// Whether a write runs on the caller's thread to its end (a local database): nothing
    /// else could go on meanwhile, so batches are not overlapped.
    pub writes_block: bool,
    /// Write requests the connector keeps in flight at once.
    pub requests_at_once: usize,
    /// The most writes one request carries.
    pub writes_per_request: usize,
    /// Whether reads follow the system's record of changes ([`Tracking`]) where it keeps one.
    pub tracks_changes: bool,
}

/// The interface every system kind implements.
#[allow(async_fn_in_trait)] // connectors are chosen by kind through `AnyConnector`, not `dyn`
pub trait Connector {
    /// What the connector can do.
    fn capabilities(&self) -> Capabilities;
    /// One page of rows; `continuation` is the previous page's `next`.
    async fn read_page(
        &self,
        req: &ReadRequest<'_>,
        continuation: Option<&str>,
    ) -> Result<Page, ConnectorError>;
    /// The rows with these keys; keys with no row are left out.
    async fn get(&self, table: TableRef<'_>, keys: &[String]) -> Result<Vec<Row>, ConnectorError>;
    /// The rows whose columns equal these values (text compared without case when asked).
    async fn find(
        &self,
        table: TableRef<'_>,
        equal: &[(String, Value)],
        ignore_case: bool,
    ) -> Result<Vec<Row>, ConnectorError>;
    /// The rows of each of several lookups at once (as [`Connector::find`], one answer per
    /// lookup, in order). Connectors that can send them together do (one `$filter` of
    /// alternatives), so matching a batch of records costs a request or two, not one per record.
    async fn find_many(
        &self,
        table: TableRef<'_>,
        lookups: &[Vec<(String, Value)>],
        ignore_case: bool,
    ) -> Result<Vec<Vec<Row>>, ConnectorError> {
        let mut out = Vec::with_capacity(lookups.len());
        for equal in lookups {
            out.push(self.find(table, equal, ignore_case).await?);
        }
        Ok(out)
    }
    /// Carries out writes in order; one result per write, so one bad row does not stop the rest.
    async fn write(
        &self,
        table: TableRef<'_>,
        ops: &[WriteOp],
    ) -> Vec<Result<WriteOutcome, ConnectorError>>;
    /// As [`Connector::write`], for a caller that needs no version of the rows its creates
    /// make: a connector may then create in bulk and answer their keys only (Dataverse's
    /// `CreateMultiple`), with `modified_on` and `etag` left empty.
    async fn write_keys_only(
        &self,
        table: TableRef<'_>,
        ops: &[WriteOp],
    ) -> Vec<Result<WriteOutcome, ConnectorError>> {
        self.write(table, ops).await
    }
    /// As [`Connector::write`] (or [`Connector::write_keys_only`], `keys_only`), the writes
    /// handed over and handed back beside their results: a connector that writes on a thread
    /// of its own moves them there and back instead of copying every row. None come back only
    /// where the results are all fatal (what became of them is not known: their intents tell
    /// the next run).
    async fn write_handed(
        &self,
        table: TableRef<'_>,
        ops: Vec<WriteOp>,
        keys_only: bool,
    ) -> (Vec<WriteOp>, Vec<Result<WriteOutcome, ConnectorError>>) {
        let results = if keys_only {
            self.write_keys_only(table, &ops).await
        } else {
            self.write(table, &ops).await
        };
        (ops, results)
    }
}
