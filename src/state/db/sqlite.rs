//! A store's connection to a SQLite file (WAL mode, every commit on disk when it returns, but
//! those that may wait for the next durable one: `Durability`).

use std::cell::Cell;
use std::path::Path;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};

use super::{Arg, Durability, Reuse, Row, Val};
use crate::state::{StateError, RELAXED_FOR_BENCHMARKS};

pub(in crate::state) struct Sqlite {
    conn: Connection,
    /// How commits reach the disk unless a transaction says otherwise (`synchronous`).
    synchronous: &'static str,
    /// Whether a transaction lowered it, and it is not put back yet.
    lowered: Cell<bool>,
}

impl From<rusqlite::Error> for StateError {
    fn from(e: rusqlite::Error) -> Self {
        StateError::Db(e.to_string())
    }
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Arg::Null => ValueRef::Null,
            Arg::Int(i) => ValueRef::Integer(*i),
            Arg::Text(s) => ValueRef::Text(s.as_bytes()),
            Arg::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl Sqlite {
    pub(super) fn open(path: &Path, read_only: bool) -> Result<Sqlite, StateError> {
        let conn = if read_only {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(path, flags)?
        } else {
            Connection::open(path)?
        };
        Self::setup(conn, read_only)
    }

    pub(super) fn in_memory() -> Result<Sqlite, StateError> {
        Self::setup(Connection::open_in_memory()?, false)
    }

    fn setup(conn: Connection, read_only: bool) -> Result<Sqlite, StateError> {
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        // A commit is on disk when it returns, power loss included (WAL's NORMAL survives a
        // crash of the process, not of the machine): intents must be there before their
        // writes go out. Transactions that only record work done may wait for the next
        // durable commit and say so (`Durability`): what a power loss rolls back of them,
        // intents on disk settle. Only the benchmark that measures the cost turns FULL off
        // for all.
        let synchronous = if std::env::var_os(RELAXED_FOR_BENCHMARKS).is_some() {
            "NORMAL"
        } else {
            "FULL"
        };
        if !read_only {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", synchronous)?;
        }
        // Statements run once per record are prepared once and reused; rusqlite keeps 16.
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Sqlite {
            conn,
            synchronous,
            lowered: Cell::new(false),
        })
    }

    /// Begins a transaction that takes the write lock at once. One whose commit may wait for
    /// the next durable one is committed with `synchronous = NORMAL`: written to the log, not
    /// synced; the next commit with `FULL` syncs the log, and so everything before it. The
    /// level cannot change inside a transaction, so it is set before and put back after.
    pub(super) fn begin(&self, durability: Durability) -> Result<(), StateError> {
        let lower = durability == Durability::WithNextDurable && self.synchronous == "FULL";
        if lower {
            self.lowered.set(true);
            self.conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        } else if self.lowered.get() {
            // The level was not put back after the last such transaction: now or never.
            self.restore()?;
        }
        self.execute_script("BEGIN IMMEDIATE")
    }

    /// Puts back the connection's own level after a transaction of `durability` ended (a
    /// failure is retried before the next durable transaction begins).
    pub(super) fn ended(&self, durability: Durability) {
        if durability == Durability::WithNextDurable && self.lowered.get() {
            let _ = self.restore();
        }
    }

    fn restore(&self) -> Result<(), StateError> {
        self.conn
            .pragma_update(None, "synchronous", self.synchronous)?;
        self.lowered.set(false);
        Ok(())
    }

    /// The schema version SQLite keeps in its header.
    pub(in crate::state) fn user_version(&self) -> Result<u32, StateError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub(in crate::state) fn set_user_version(&self, v: u32) -> Result<(), StateError> {
        Ok(self.conn.pragma_update(None, "user_version", v)?)
    }

    fn statement(&self, sql: &str, reuse: Reuse) -> Result<Statement<'_>, StateError> {
        Ok(match reuse {
            Reuse::Kept => Statement::Cached(self.conn.prepare_cached(sql)?),
            Reuse::Once => Statement::Once(self.conn.prepare(sql)?),
        })
    }

    pub(super) fn execute(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        reuse: Reuse,
    ) -> Result<usize, StateError> {
        let mut stmt = self.statement(sql, reuse)?;
        Ok(stmt.get().execute(rusqlite::params_from_iter(args))?)
    }

    pub(super) fn query(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        reuse: Reuse,
    ) -> Result<Vec<Row>, StateError> {
        let mut stmt = self.statement(sql, reuse)?;
        let stmt = stmt.get();
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match r.get_ref(i)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(i) => Val::Int(i),
                    ValueRef::Real(f) => Val::Text(f.to_string()),
                    ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Val::Blob(b.to_vec()),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    pub(super) fn execute_script(&self, sql: &str) -> Result<(), StateError> {
        Ok(self.conn.execute_batch(sql)?)
    }

    pub(super) fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    /// The connection itself, for what only SQLite has (the query planner's report in tests).
    #[cfg(test)]
    pub(in crate::state) fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// A statement prepared for reuse or for once.
enum Statement<'c> {
    Cached(rusqlite::CachedStatement<'c>),
    Once(rusqlite::Statement<'c>),
}

impl<'c> Statement<'c> {
    fn get(&mut self) -> &mut rusqlite::Statement<'c> {
        match self {
            Statement::Cached(s) => s,
            Statement::Once(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    /// `.cargo/config.toml` compiles the bundled SQLite without the process-wide mutexes of
    /// memory statistics and a shared page cache; a build without it is a tenth slower.
    #[test]
    fn the_bundled_sqlite_takes_no_process_wide_lock_per_allocation_or_page() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
    }
}
