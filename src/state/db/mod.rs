//! The one connection a store talks to, SQLite or PostgreSQL, behind one small interface: run a
//! statement, read rows, open and end a transaction. The store's SQL is written once, in the
//! part of SQL both databases share, with `?` / `?N` placeholders (made `$N` for PostgreSQL);
//! the few places the two differ ask [`Dialect`].
//!
//! Values cross it as [`Arg`] (bound) and [`Val`] (read): integers, text, bytes and null, which
//! is all the store keeps. Flags are integers 0 and 1 in both databases, so the same SQL counts
//! and compares them.

mod checkpoint;
mod postgres;
mod sqlite;
mod tls;

use std::borrow::Cow;

use super::StateError;

pub(super) use checkpoint::Checkpointer;

/// Which database a connection is to, for the few statements written differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// What locks the rows a read finds against other writers until the transaction ends:
    /// nothing in SQLite, whose transactions take the write lock when they begin.
    pub(super) fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// What keeps the rows a read finds from changing until the transaction ends, while others
    /// may read them too (the fence's check: a takeover waits for the commit it would fence).
    pub(super) fn for_share(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR SHARE",
        }
    }

    /// The column that orders a table's rows as they were inserted, where it has no id.
    pub(super) fn insertion_order(self) -> &'static str {
        match self {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "seq",
        }
    }

    /// A condition true when the JSON array of text in `column` holds the text bound as `arg`.
    pub(super) fn json_array_holds(self, column: &str, arg: &str) -> String {
        match self {
            Dialect::Sqlite => format!("EXISTS (SELECT 1 FROM json_each({column}) WHERE value = {arg})"),
            Dialect::Postgres => format!(
                "EXISTS (SELECT 1 FROM jsonb_array_elements_text({column}::jsonb) AS v(value) WHERE v.value = {arg})"
            ),
        }
    }
}

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Arg<'a> {
    Null,
    Int(i64),
    Text(Cow<'a, str>),
    Blob(Cow<'a, [u8]>),
}

impl Arg<'_> {
    /// The same value, borrowed: binding it needs no copy of its text.
    pub(super) fn lent(&self) -> Arg<'_> {
        match self {
            Arg::Null => Arg::Null,
            Arg::Int(i) => Arg::Int(*i),
            Arg::Text(t) => Arg::Text(Cow::Borrowed(t)),
            Arg::Blob(b) => Arg::Blob(Cow::Borrowed(b)),
        }
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(Cow::Borrowed(s))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Text(Cow::Borrowed(s))
    }
}

impl From<String> for Arg<'_> {
    fn from(s: String) -> Self {
        Arg::Text(Cow::Owned(s))
    }
}

impl From<i64> for Arg<'_> {
    fn from(i: i64) -> Self {
        Arg::Int(i)
    }
}

impl From<u32> for Arg<'_> {
    fn from(i: u32) -> Self {
        Arg::Int(i64::from(i))
    }
}

impl From<bool> for Arg<'_> {
    fn from(b: bool) -> Self {
        Arg::Int(i64::from(b))
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(b: &'a [u8]) -> Self {
        Arg::Blob(Cow::Borrowed(b))
    }
}

impl From<Vec<u8>> for Arg<'_> {
    fn from(b: Vec<u8>) -> Self {
        Arg::Blob(Cow::Owned(b))
    }
}

impl<'a, T: Into<Arg<'a>>> From<Option<T>> for Arg<'a> {
    fn from(o: Option<T>) -> Self {
        o.map_or(Arg::Null, Into::into)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(o: &'a Option<String>) -> Self {
        o.as_deref().into()
    }
}

/// The arguments of a statement, each turned into an [`Arg`].
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        [$($crate::state::db::Arg::from($a)),*]
    };
}
pub(super) use args;
pub(super) use postgres::session_tag;
pub(super) use tls::without_tls_options;

/// A value read.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// A row read: its values in the order of the statement's columns.
#[derive(Debug)]
pub(super) struct Row(Vec<Val>);

impl Row {
    /// The value of column `i` as a `T`; a value of another type is an error, not a guess.
    pub(super) fn get<T: FromVal>(&self, i: usize) -> Result<T, StateError> {
        let v = self.0.get(i).unwrap_or(&Val::Null);
        T::from_val(v).ok_or_else(|| {
            StateError::Db(format!(
                "column {i} holds {v:?}, not {}",
                std::any::type_name::<T>()
            ))
        })
    }
}

/// A Rust value read from a [`Val`].
pub(super) trait FromVal: Sized {
    fn from_val(v: &Val) -> Option<Self>;
}

impl FromVal for String {
    fn from_val(v: &Val) -> Option<Self> {
        match v {
            Val::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromVal for i64 {
    fn from_val(v: &Val) -> Option<Self> {
        match v {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl FromVal for u32 {
    fn from_val(v: &Val) -> Option<Self> {
        i64::from_val(v).and_then(|i| u32::try_from(i).ok())
    }
}

impl FromVal for bool {
    fn from_val(v: &Val) -> Option<Self> {
        i64::from_val(v).map(|i| i != 0)
    }
}

impl FromVal for Vec<u8> {
    fn from_val(v: &Val) -> Option<Self> {
        match v {
            Val::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl<T: FromVal> FromVal for Option<T> {
    fn from_val(v: &Val) -> Option<Self> {
        match v {
            Val::Null => Some(None),
            v => T::from_val(v).map(Some),
        }
    }
}

/// Whether a statement is kept prepared for the next time it is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reuse {
    /// Run often: kept prepared.
    Kept,
    /// Of a size that varies (a list of keys): prepared for this once, so it does not push the
    /// statements run for every batch out of the cache.
    Once,
}

/// Keys per look-up statement. Batches are a multiple of it (500, 1000), so their look-ups
/// are made of statements of this one size, each kept prepared.
pub(super) const KEYS_PER_LOOKUP: usize = 100;

impl Reuse {
    /// A look-up of [`KEYS_PER_LOOKUP`] keys is kept prepared; one of another size (the end of
    /// a list) is prepared for this once, so it does not push the statements run for every
    /// batch out of the cache.
    pub(super) fn for_keys(keys: usize) -> Reuse {
        if keys == KEYS_PER_LOOKUP {
            Reuse::Kept
        } else {
            Reuse::Once
        }
    }
}

/// A connection to the store's database.
pub(super) enum Db {
    Sqlite(sqlite::Sqlite),
    Postgres(Box<postgres::Postgres>),
}

/// Where a store's database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Location {
    /// A SQLite file, or `:memory:`.
    File(std::path::PathBuf),
    /// A PostgreSQL database by its URL (which may hold a password: never shown).
    Server(String),
}

impl Db {
    /// Connects to the database at `at`; `read_only` for a connection that writes nothing.
    pub(super) fn open(at: &Location, read_only: bool) -> Result<Db, StateError> {
        Ok(match at {
            Location::File(path) => Db::Sqlite(sqlite::Sqlite::open(path, read_only)?),
            Location::Server(url) => {
                Db::Postgres(Box::new(postgres::Postgres::connect(url, read_only, true)?))
            }
        })
    }

    /// A connection of its own for a lease's heartbeat. In PostgreSQL it holds the lease's
    /// session lock, so it is never made again: a connection the server closed took the lock
    /// with it, and the lease is lost.
    pub(super) fn open_session(at: &Location) -> Result<Db, StateError> {
        Ok(match at {
            Location::File(_) => Db::open(at, false)?,
            Location::Server(url) => {
                Db::Postgres(Box::new(postgres::Postgres::connect(url, false, false)?))
            }
        })
    }

    /// A SQLite database in memory.
    pub(super) fn in_memory() -> Result<Db, StateError> {
        Ok(Db::Sqlite(sqlite::Sqlite::in_memory()?))
    }

    pub(super) fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a statement that returns no rows; how many rows it changed.
    pub(super) fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<usize, StateError> {
        self.execute_as(sql, args, Reuse::Kept)
    }

    /// Runs a statement that returns no rows, prepared as `reuse` says.
    pub(super) fn execute_as(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        reuse: Reuse,
    ) -> Result<usize, StateError> {
        match self {
            Db::Sqlite(db) => db.execute(sql, args, reuse),
            Db::Postgres(db) => db.execute(sql, args, reuse),
        }
    }

    /// The rows a statement returns.
    pub(super) fn query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StateError> {
        self.query_as(sql, args, Reuse::Kept)
    }

    /// The rows a statement returns, prepared as `reuse` says.
    pub(super) fn query_as(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        reuse: Reuse,
    ) -> Result<Vec<Row>, StateError> {
        match self {
            Db::Sqlite(db) => db.query(sql, args, reuse),
            Db::Postgres(db) => db.query(sql, args, reuse),
        }
    }

    /// The first row a statement returns, if any.
    pub(super) fn query_row(&self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Row>, StateError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// Runs statements separated by `;` with no arguments (a migration).
    pub(super) fn execute_script(&self, sql: &str) -> Result<(), StateError> {
        match self {
            Db::Sqlite(db) => db.execute_script(sql),
            Db::Postgres(db) => db.execute_script(sql),
        }
    }

    /// Begins a transaction that writes: SQLite takes its write lock at once (another
    /// connection, such as a lease's heartbeat, may write between a read and a write
    /// otherwise); PostgreSQL locks rows as statements reach them. In SQLite its commit is on
    /// disk when it returns, or, [`Durability::WithNextDurable`], once a later durable commit
    /// is. PostgreSQL commits every transaction durably: a server that restarts while a run
    /// goes on loses what it had not flushed, and the store's connection is made again, so
    /// the run would go on from what it no longer holds.
    pub(super) fn begin(&self, durability: Durability) -> Result<(), StateError> {
        match self {
            Db::Sqlite(db) => db.begin(durability),
            Db::Postgres(db) => db.set_transaction("BEGIN", true),
        }
    }

    /// The durability a transaction asked to be `durability` has here (see [`Db::begin`]).
    pub(super) fn durability_of(&self, durability: Durability) -> Durability {
        match self {
            Db::Sqlite(_) => durability,
            Db::Postgres(_) => Durability::OnCommit,
        }
    }

    /// What a transaction of this durability leaves to undo once it has ended, however it
    /// ended.
    pub(super) fn ended(&self, durability: Durability) {
        if let Db::Sqlite(db) = self {
            db.ended(durability);
        }
    }

    /// Commits the open transaction.
    pub(super) fn commit(&self) -> Result<(), StateError> {
        match self {
            Db::Sqlite(db) => db.execute_script("COMMIT"),
            Db::Postgres(db) => db.set_transaction("COMMIT", false),
        }
    }

    /// Rolls the open transaction back.
    pub(super) fn rollback(&self) -> Result<(), StateError> {
        match self {
            Db::Sqlite(db) => db.execute_script("ROLLBACK"),
            Db::Postgres(db) => db.set_transaction("ROLLBACK", false),
        }
    }

    /// Whether the connection is gone for good (a PostgreSQL server closed it).
    pub(super) fn is_closed(&self) -> bool {
        match self {
            Db::Sqlite(_) => false,
            Db::Postgres(db) => db.is_closed(),
        }
    }

    /// Whether a transaction is open.
    pub(super) fn in_transaction(&self) -> bool {
        match self {
            Db::Sqlite(db) => db.in_transaction(),
            Db::Postgres(db) => db.in_transaction(),
        }
    }
}

/// When a transaction's commit is on disk, power loss included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// When the commit returns.
    OnCommit,
    /// In SQLite, once a later commit of [`Durability::OnCommit`] to the same file returns (or
    /// the file's last connection closes, which checkpoints the log); a crash of the process
    /// loses nothing either way (the commit is in the operating system's hands), and a power
    /// loss before then rolls back this commit and those after it, never one before it (the
    /// log is written and recovered in order). For what records work done whose intents a
    /// durable commit already holds, never for what is about to be done. PostgreSQL commits
    /// these durably too (see [`Db::begin`]).
    WithNextDurable,
}

/// A transaction begun on a [`Db`]: rolled back when dropped uncommitted, however the code
/// that holds it ends (an error, a panic).
pub(super) struct Transaction<'d> {
    db: &'d Db,
    open: bool,
    durability: Durability,
}

impl<'d> Transaction<'d> {
    pub(super) fn begin(db: &'d Db) -> Result<Self, StateError> {
        Self::begin_as(db, Durability::OnCommit)
    }

    /// Begins a transaction whose commit is as durable as asked, or more where the database
    /// commits every transaction durably ([`Transaction::durability`] says which).
    pub(super) fn begin_as(db: &'d Db, durability: Durability) -> Result<Self, StateError> {
        let durability = db.durability_of(durability);
        if let Err(e) = db.begin(durability) {
            db.ended(durability);
            return Err(e);
        }
        Ok(Transaction {
            db,
            open: true,
            durability,
        })
    }

    /// When its commit is on disk.
    pub(super) fn durability(&self) -> Durability {
        self.durability
    }

    /// Commits; a commit that fails (SQLite busy past its timeout, say) is rolled back, so the
    /// connection is left with no transaction open either way.
    pub(super) fn commit(mut self) -> Result<(), StateError> {
        self.open = false;
        let committed = self.db.commit();
        if committed.is_err() && self.db.in_transaction() {
            let _ = self.db.rollback();
        }
        self.db.ended(self.durability);
        committed
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.db.rollback();
            self.db.ended(self.durability);
        }
    }
}

/// `sql` with its `?N` and `?` placeholders written as PostgreSQL's `$N` (a bare `?` takes the
/// next number), outside quoted text.
pub(super) fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut next = 1usize;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    out.push_str(&next.to_string());
                    next += 1;
                } else {
                    out.push_str(&digits);
                }
            }
            (None, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quoted_text() {
        assert_eq!(
            numbered_placeholders(
                "SELECT a FROM t WHERE b = ?1 AND c = ?12 AND d = '?' AND \"?\" = ?2"
            ),
            "SELECT a FROM t WHERE b = $1 AND c = $12 AND d = '?' AND \"?\" = $2"
        );
        assert_eq!(
            numbered_placeholders("INSERT INTO t VALUES (?, ?), (?, ?)"),
            "INSERT INTO t VALUES ($1, $2), ($3, $4)"
        );
    }

    #[test]
    fn values_are_read_as_their_type_or_refused() {
        let row = Row(vec![
            Val::Int(3),
            Val::Text("x".into()),
            Val::Null,
            Val::Blob(vec![1]),
        ]);
        assert_eq!(row.get::<i64>(0).unwrap(), 3);
        assert!(row.get::<bool>(0).unwrap());
        assert_eq!(row.get::<String>(1).unwrap(), "x");
        assert_eq!(row.get::<Option<String>>(2).unwrap(), None);
        assert_eq!(row.get::<Option<Vec<u8>>>(3).unwrap(), Some(vec![1]));
        assert!(row.get::<i64>(1).is_err());
        assert!(row.get::<String>(2).is_err());
    }
}
