//! Dataverse's change log, in the hidden table `_sandbox_changes`: what change tracking reads.
//!
//! Every write of a row appends an entry in the write's own transaction, so a write that is
//! rolled back (a failed change set, a refused bulk target) leaves none, and an entry is there
//! exactly when its write committed. Entries are numbered by one sequence across all tables:
//! a delta token is a position in it. Nothing is ever removed; tokens are expired by moving
//! the oldest position still valid (`_sandbox_change_floor`) instead, so a `--data` folder
//! keeps both across restarts.

use jiff::Timestamp;
use rusqlite::{params, OptionalExtension};

use super::{internal, Db, StoreError};
use crate::sandbox::storage::timestamp_text;

/// The tables, made when a store starts tracking changes.
pub(super) const CREATE: &str = "CREATE TABLE IF NOT EXISTS _sandbox_changes \
     (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, key TEXT NOT NULL, \
      deleted INTEGER NOT NULL, at TEXT NOT NULL); \
     CREATE INDEX IF NOT EXISTS _sandbox_changes_by_table ON _sandbox_changes (tbl, seq); \
     CREATE TABLE IF NOT EXISTS _sandbox_change_floor \
     (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL)";

/// The latest change of one row within a span of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    /// The row's key.
    pub key: String,
    /// The position of its latest change in the span.
    pub seq: i64,
    /// Whether that change deleted it.
    pub deleted: bool,
}

/// The part of a table's log a delta read reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Changes after this position (the client's token).
    pub after: i64,
    /// Rows whose latest change is at or before this position (where the read began).
    pub upto: i64,
    /// Rows whose latest change is after this position (the last one a previous page sent).
    pub cursor: i64,
}

impl Db {
    /// Appends a change of row `key` of `table` to the log, when the store tracks changes.
    pub(super) fn log_change(
        &self,
        table: &str,
        key: &str,
        deleted: bool,
    ) -> Result<(), StoreError> {
        if !self.tracking {
            return Ok(());
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO _sandbox_changes (tbl, key, deleted, at) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(internal)?;
        stmt.execute(params![
            table,
            key.to_ascii_lowercase(),
            deleted,
            timestamp_text(Timestamp::now())
        ])
        .map(|_| ())
        .map_err(internal)
    }

    /// The position of the latest change (0 before any): what a token issued now holds.
    pub fn change_position(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM _sandbox_changes",
                [],
                |r| r.get(0),
            )
            .map_err(internal)
    }

    /// The oldest position a token may hold and still be valid.
    pub fn change_floor(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT seq FROM _sandbox_change_floor WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map(|seq| seq.unwrap_or(0))
            .map_err(internal)
    }

    /// Expires every token issued so far. A marker entry moves the log past every position a
    /// token could hold now (even with no write since the last one was issued), and becomes
    /// the floor.
    pub fn expire_changes(&mut self) -> Result<(), StoreError> {
        self.transaction(
            |db| {
                db.conn
                    .execute(
                        "INSERT INTO _sandbox_changes (tbl, key, deleted, at) VALUES ('', '', 0, ?1)",
                        [timestamp_text(Timestamp::now())],
                    )
                    .map_err(internal)?;
                let floor = db.conn.last_insert_rowid();
                db.conn
                    .execute(
                        "INSERT INTO _sandbox_change_floor (id, seq) VALUES (1, ?1) \
                         ON CONFLICT (id) DO UPDATE SET seq = ?1",
                        [floor],
                    )
                    .map(|_| ())
                    .map_err(internal)
            },
            Result::is_ok,
        )
    }

    /// The rows of `table` changed in `span`, each once with its latest change, in the order
    /// of those changes; at most `limit`.
    pub fn changes(
        &self,
        table: &str,
        span: Span,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError> {
        // SQLite takes `deleted` from the row holding the `MAX(seq)` of each group.
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT key, MAX(seq) AS last, deleted FROM _sandbox_changes \
                 WHERE tbl = ?1 AND seq > ?2 GROUP BY key \
                 HAVING last <= ?3 AND last > ?4 ORDER BY last LIMIT ?5",
            )
            .map_err(internal)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(
                params![table, span.after, span.upto, span.cursor, limit],
                |r| {
                    Ok(Change {
                        key: r.get(0)?,
                        seq: r.get(1)?,
                        deleted: r.get(2)?,
                    })
                },
            )
            .map_err(internal)?;
        rows.collect::<Result<_, _>>().map_err(internal)
    }
}
