//! SQLite storage of one service's emulated tables.
//!
//! Tables are made from the service's schema snapshot by [`tables`] (with the hidden row
//! version and company columns); values are encoded by the sandbox's own [`storage`] codec
//! (exact decimals, fixed-width UTC date-times), and modified-on stamps come from the
//! service's own clock.
//!
//! One connection behind a mutex serves all requests: writes are serialized, so modified-on
//! stamps (strictly increasing) and row versions (one counter for
//! the whole service, as Dataverse's `versionnumber` is) increase in commit order, and a
//! keyset cursor over `(modified_on, key)` never passes a row that commits later. Handlers run
//! inside a transaction the server opens; operations inside it use savepoints, which is how a
//! `$batch` change set rolls back as a whole.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, OptionalExtension};

use jiff::Timestamp;

use crate::schema::{SystemSchema, TableSchema};
use crate::value::Value;

use super::storage;
use super::tables::{self, ident, SCOPE, VERSION};
use super::SandboxError;

mod changes;
mod held;
mod options;

pub(crate) use held::Held;

pub(crate) use changes::{Change, Span};
pub(crate) use options::{user_label, Choice, LiveOption, Localized};

/// One row as stored: its key, version and every column (null where empty).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    /// The key's text (a lower-case GUID).
    pub key: String,
    /// The row version, the service-wide counter at its last write.
    pub version: i64,
    /// Every column of the table.
    pub fields: BTreeMap<String, Value>,
}

impl Row {
    /// A column's value, null when the table has no such column.
    pub fn get(&self, column: &str) -> Value {
        self.fields.get(column).cloned().unwrap_or(Value::Null)
    }
}

/// Why a write failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StoreError {
    /// A row with this key exists already.
    Duplicate,
    /// No row with this key.
    NotFound,
    /// A value the column cannot hold, or a constraint the table has.
    Invalid(String),
    /// SQLite failed.
    Internal(String),
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// The tables of one service.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Db>,
    /// How long the store has been held, in nanoseconds of wall time: a service whose store
    /// is held all the time answers no faster, whoever calls it.
    held: AtomicU64,
    /// The service's schema snapshot.
    pub schema: SystemSchema,
}

/// The locked store: what handlers read and write through.
#[derive(Debug)]
pub(crate) struct Db {
    conn: Connection,
    /// The last row version handed out.
    version: i64,
    /// The last modified-on stamp handed out, in microseconds since the epoch.
    last_stamp: i64,
    /// Whether writes of rows are logged for change tracking (Dataverse's, once seeded).
    tracking: bool,
}

impl Store {
    /// Opens the database at `path` (in memory when `None`) and creates the schema's tables.
    pub fn open(path: Option<&Path>, schema: SystemSchema) -> Result<Store, SandboxError> {
        let mut conn = connect(path)?;
        tables::create(&mut conn, &schema)?;
        let (mut version, mut last_stamp) = (0, i64::MIN);
        for t in &schema.tables {
            version = version.max(last_version(&conn, t)?);
            last_stamp = last_stamp.max(newest_stamp(&conn, t)?);
        }
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS _sandbox_series \
             (scope TEXT NOT NULL, series TEXT NOT NULL, last INTEGER NOT NULL, \
              PRIMARY KEY (scope, series))",
        )
        .map_err(fail)?;
        conn.execute_batch(options::CREATE).map_err(fail)?;
        Ok(Store {
            inner: Mutex::new(Db {
                conn,
                version,
                last_stamp,
                tracking: false,
            }),
            held: AtomicU64::new(0),
            schema,
        })
    }

    /// The store, locked; a panic while it was held leaves SQLite consistent (the server rolls
    /// back what it began), so a poisoned lock is taken over.
    pub fn lock(&self) -> Held<'_> {
        let guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Held::new(guard, &self.held)
    }

    /// How long the store has been held since it opened.
    pub fn held(&self) -> Duration {
        Duration::from_nanos(self.held.load(Ordering::Relaxed))
    }

    /// Logs every write of a row from now on, in the change log change tracking reads. Rows
    /// written before (the seed) are in no entry: a first tracked read reads every row anyway.
    pub fn track_changes(&self) -> Result<(), SandboxError> {
        let mut db = self.lock();
        db.conn.execute_batch(changes::CREATE).map_err(fail)?;
        db.tracking = true;
        Ok(())
    }

    /// The table of the snapshot with this name.
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.schema.table(name)
    }
}

fn fail(e: rusqlite::Error) -> SandboxError {
    SandboxError::Storage(format!("SQLite: {e}"))
}

/// The connection to the database at `path`, or to a new one in memory.
fn connect(path: Option<&Path>) -> Result<Connection, SandboxError> {
    let Some(p) = path else {
        return Connection::open_in_memory().map_err(fail);
    };
    let conn = Connection::open(p)
        .map_err(|e| SandboxError::Storage(format!("cannot open {}: {e}", p.display())))?;
    let _mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(fail)?;
    // The sandbox is a test double: durability against power loss is not worth the
    // fsyncs, which would dominate a benchmark's ingest.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(fail)?;
    Ok(conn)
}

/// The highest row version a table holds (0 when empty), so versions keep rising across
/// restarts.
fn last_version(conn: &Connection, t: &TableSchema) -> Result<i64, SandboxError> {
    let max: Option<i64> = conn
        .query_row(
            &format!("SELECT MAX({VERSION}) FROM {}", ident(&t.name)),
            [],
            |r| r.get(0),
        )
        .map_err(fail)?;
    Ok(max.unwrap_or(0))
}

/// The newest modified-on stamp a table holds, in microseconds (`i64::MIN` when none), so
/// stamps keep rising across restarts even when the clock stepped back meanwhile.
fn newest_stamp(conn: &Connection, t: &TableSchema) -> Result<i64, SandboxError> {
    let Some(m) = &t.modified_on else {
        return Ok(i64::MIN);
    };
    let max: Option<String> = conn
        .query_row(
            &format!("SELECT MAX({}) FROM {}", ident(m), ident(&t.name)),
            [],
            |r| r.get(0),
        )
        .map_err(fail)?;
    // Stamps are stored as fixed-width UTC text, so the greatest text is the newest instant.
    Ok(max
        .and_then(|text| text.parse::<Timestamp>().ok())
        .map_or(i64::MIN, Timestamp::as_microsecond))
}

/// The order of a scan: columns with `true` for descending; all in one direction.
pub(crate) type Order = [(String, bool)];

impl Db {
    /// Runs `f` inside a transaction that commits when `keep` says so, else rolls back.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut Db) -> T, keep: impl Fn(&T) -> bool) -> T {
        self.savepoint("tx", f, keep)
    }

    /// Runs `f` inside a savepoint released when `keep` says so, else rolled back; savepoints
    /// nest, so an operation of a change set is undone with the change set.
    pub fn savepoint<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Db) -> T,
        keep: impl Fn(&T) -> bool,
    ) -> T {
        let began = self
            .conn
            .execute_batch(&format!("SAVEPOINT {name}"))
            .is_ok();
        let out = f(self);
        if began {
            if keep(&out) {
                let _ = self.conn.execute_batch(&format!("RELEASE {name}"));
            } else {
                let _ = self
                    .conn
                    .execute_batch(&format!("ROLLBACK TO {name}; RELEASE {name}"));
            }
        }
        out
    }

    /// A modified-on stamp: now in UTC to the microsecond, but always after the previous
    /// stamp of this service, so two writes never share one even when the clock is coarse or
    /// steps back (the services' clocks are their own, as here).
    fn next_stamp(&mut self) -> Result<Timestamp, StoreError> {
        let micros = Timestamp::now()
            .as_microsecond()
            .max(self.last_stamp.saturating_add(1));
        self.last_stamp = micros;
        Timestamp::from_microsecond(micros)
            .map_err(|e| StoreError::Internal(format!("cannot stamp a write: {e}")))
    }

    /// The next row version of the service.
    fn next_version(&mut self) -> i64 {
        self.version += 1;
        self.version
    }

    /// The `SELECT` list of a table: every column, then the version.
    fn select_list(table: &TableSchema) -> String {
        let mut cols: Vec<String> = table.columns.iter().map(|c| ident(&c.name)).collect();
        cols.push(VERSION.to_string());
        cols.join(", ")
    }

    fn decode(table: &TableSchema, r: &rusqlite::Row<'_>) -> Result<Row, StoreError> {
        let mut fields = BTreeMap::new();
        for (i, c) in table.columns.iter().enumerate() {
            let raw = r.get_ref(i).map_err(internal)?;
            let v = storage::decode(c, raw)
                .map_err(|why| StoreError::Internal(format!("{}.{}: {why}", table.name, c.name)))?;
            fields.insert(c.name.clone(), v);
        }
        let version: i64 = r.get(table.columns.len()).map_err(internal)?;
        let key = match fields.get(&table.key) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_text().unwrap_or_default(),
            None => String::new(),
        };
        Ok(Row {
            key,
            version,
            fields,
        })
    }

    /// The row with this key in this scope.
    pub fn get(
        &self,
        table: &TableSchema,
        scope: &str,
        key: &str,
    ) -> Result<Option<Row>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = ?1 AND {SCOPE} = ?2",
            Self::select_list(table),
            ident(&table.name),
            ident(&table.key)
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(internal)?;
        stmt.query_row(
            [
                SqlValue::Text(key.to_ascii_lowercase()),
                SqlValue::Text(scope.into()),
            ],
            |r| Ok(Self::decode(table, r)),
        )
        .optional()
        .map_err(internal)?
        .transpose()
    }

    /// The rows of a scope whose text `column` equals one of `values` without regard to ASCII
    /// case (a superset of what a case-insensitive filter keeps, when the values are ASCII).
    pub fn rows_with_text(
        &self,
        table: &TableSchema,
        scope: &str,
        column: &str,
        values: &[String],
    ) -> Result<Vec<Row>, StoreError> {
        if table.column(column).is_none() || values.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..values.len()).map(|i| format!("?{}", i + 2)).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE {SCOPE} = ?1 AND {} COLLATE NOCASE IN ({})",
            Self::select_list(table),
            ident(&table.name),
            ident(column),
            marks.join(", ")
        );
        let args = std::iter::once(SqlValue::Text(scope.into()))
            .chain(values.iter().map(|v| SqlValue::Text(v.clone())));
        let mut stmt = self.conn.prepare(&sql).map_err(internal)?;
        let mut rows = stmt.query(params_from_iter(args)).map_err(internal)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(internal)? {
            out.push(Self::decode(table, r)?);
        }
        Ok(out)
    }

    /// The key of a row whose `column` equals `value` (for uniqueness checks and binds).
    pub fn find_key(
        &self,
        table: &TableSchema,
        scope: &str,
        column: &str,
        value: &Value,
    ) -> Result<Option<String>, StoreError> {
        let Some(c) = table.column(column) else {
            return Ok(None);
        };
        let v = storage::encode(c, value).map_err(StoreError::Invalid)?;
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = ?1 AND {SCOPE} = ?2 LIMIT 1",
            ident(&table.key),
            ident(&table.name),
            ident(column)
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(internal)?;
        stmt.query_row([v, SqlValue::Text(scope.into())], |r| r.get::<_, String>(0))
            .optional()
            .map_err(internal)
    }

    /// Stamps, versions and encodes the columns of a write.
    fn prepare(
        &mut self,
        table: &TableSchema,
        fields: &BTreeMap<String, Value>,
        created: bool,
    ) -> Result<(Vec<(String, SqlValue)>, i64), StoreError> {
        let mut cols = Vec::new();
        for (name, v) in fields {
            if v.is_absent() || *name == table.key {
                continue;
            }
            let c = table
                .column(name)
                .ok_or_else(|| StoreError::Invalid(format!("no column `{name}`")))?;
            let stored = storage::encode(c, v)
                .map_err(|why| StoreError::Invalid(format!("{name}: {why}")))?;
            cols.push((name.clone(), stored));
        }
        let stamp = self.next_stamp()?;
        let stamp = SqlValue::Text(storage::timestamp_text(stamp));
        let version = self.next_version();
        let mut set = |name: &str, v: SqlValue| {
            cols.retain(|(n, _)| n != name);
            cols.push((name.to_string(), v));
        };
        if let Some(m) = &table.modified_on {
            set(m, stamp.clone());
        }
        if created && table.column("createdon").is_some() {
            set("createdon", stamp);
        }
        if table.column("versionnumber").is_some() {
            set("versionnumber", SqlValue::Integer(version));
        }
        set(VERSION, SqlValue::Integer(version));
        Ok((cols, version))
    }

    /// Inserts a row; stamps modified-on (and `createdon`, `versionnumber`) itself.
    pub fn insert(
        &mut self,
        table: &TableSchema,
        scope: &str,
        key: &str,
        fields: &BTreeMap<String, Value>,
    ) -> Result<Row, StoreError> {
        if self.get(table, scope, key)?.is_some() || self.exists_anywhere(table, key)? {
            return Err(StoreError::Duplicate);
        }
        let (mut cols, _) = self.prepare(table, fields, true)?;
        cols.push((table.key.clone(), SqlValue::Text(key.to_ascii_lowercase())));
        cols.push((SCOPE.to_string(), SqlValue::Text(scope.to_string())));
        let names: Vec<String> = cols.iter().map(|(n, _)| ident(n)).collect();
        let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            ident(&table.name),
            names.join(", "),
            marks.join(", ")
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(internal)?;
        stmt.execute(params_from_iter(cols.into_iter().map(|(_, v)| v)))
            .map_err(constraint)?;
        self.log_change(&table.name, key, false)?;
        self.get(table, scope, key)?.ok_or(StoreError::NotFound)
    }

    /// Whether any scope has a row with this key (keys are GUIDs, unique in the table).
    fn exists_anywhere(&self, table: &TableSchema, key: &str) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE {} = ?1",
            ident(&table.name),
            ident(&table.key)
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(internal)?;
        stmt.query_row([key.to_ascii_lowercase()], |_| Ok(()))
            .optional()
            .map(|o| o.is_some())
            .map_err(internal)
    }

    /// Changes the given columns of a row and stamps it.
    pub fn update(
        &mut self,
        table: &TableSchema,
        scope: &str,
        key: &str,
        fields: &BTreeMap<String, Value>,
    ) -> Result<Row, StoreError> {
        let (cols, _) = self.prepare(table, fields, false)?;
        let sets: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, (n, _))| format!("{} = ?{}", ident(n), i + 1))
            .collect();
        let n = cols.len();
        let sql = format!(
            "UPDATE {} SET {} WHERE {} = ?{} AND {SCOPE} = ?{}",
            ident(&table.name),
            sets.join(", "),
            ident(&table.key),
            n + 1,
            n + 2
        );
        let mut args: Vec<SqlValue> = cols.into_iter().map(|(_, v)| v).collect();
        args.push(SqlValue::Text(key.to_ascii_lowercase()));
        args.push(SqlValue::Text(scope.to_string()));
        let mut stmt = self.conn.prepare_cached(&sql).map_err(internal)?;
        let changed = stmt.execute(params_from_iter(args)).map_err(constraint)?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.log_change(&table.name, key, false)?;
        self.get(table, scope, key)?.ok_or(StoreError::NotFound)
    }

    /// Deletes a row; `false` when there was none.
    pub fn delete(
        &mut self,
        table: &TableSchema,
        scope: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "DELETE FROM {} WHERE {} = ?1 AND {SCOPE} = ?2",
            ident(&table.name),
            ident(&table.key)
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(internal)?;
        let n = stmt
            .execute([key.to_ascii_lowercase(), scope.to_string()])
            .map_err(internal)?;
        if n > 0 {
            self.log_change(&table.name, key, true)?;
        }
        Ok(n > 0)
    }

    /// Visits the rows of a scope in `order` (columns all in one direction), starting after
    /// the row whose order values are `after`, until `visit` returns `false`.
    pub fn scan(
        &self,
        table: &TableSchema,
        scope: &str,
        order: &Order,
        after: Option<&[Value]>,
        mut visit: impl FnMut(Row) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let desc = order.first().is_some_and(|(_, d)| *d);
        let dir = if desc { "DESC" } else { "ASC" };
        let cols: Vec<String> = order.iter().map(|(c, _)| ident(c)).collect();
        let mut args = vec![SqlValue::Text(scope.to_string())];
        let mut condition = String::new();
        if let Some(values) = after {
            let mut marks = Vec::new();
            for ((name, _), v) in order.iter().zip(values) {
                let c = table
                    .column(name)
                    .ok_or_else(|| StoreError::Invalid(format!("no column `{name}`")))?;
                args.push(storage::encode(c, v).map_err(StoreError::Invalid)?);
                marks.push(format!("?{}", args.len()));
            }
            let op = if desc { "<" } else { ">" };
            condition = format!(" AND ({}) {op} ({})", cols.join(", "), marks.join(", "));
        }
        let order_sql: Vec<String> = cols.iter().map(|c| format!("{c} {dir}")).collect();
        // In key order, the key's own index serves: SQLite would otherwise seek the scope in
        // another index, then sort every row of the scope for each page (`+` keeps it from
        // using an index for the scope).
        let by_key = order.len() == 1 && order[0].0 == table.key;
        let scope = if by_key { "+" } else { "" };
        let sql = format!(
            "SELECT {} FROM {} WHERE {scope}{SCOPE} = ?1{condition} ORDER BY {}",
            Self::select_list(table),
            ident(&table.name),
            order_sql.join(", ")
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(internal)?;
        let mut rows = stmt.query(params_from_iter(args)).map_err(internal)?;
        while let Some(r) = rows.next().map_err(internal)? {
            if !visit(Self::decode(table, r)?)? {
                break;
            }
        }
        Ok(())
    }

    /// The next number of a number series of a scope (`C00010`, `C00020`, …): the counter steps
    /// by 10, as Business Central's demo series do.
    pub fn next_number(&mut self, scope: &str, series: &str) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO _sandbox_series (scope, series, last) VALUES (?1, ?2, 10) \
                 ON CONFLICT (scope, series) DO UPDATE SET last = last + 10",
                [scope, series],
            )
            .map_err(internal)?;
        self.conn
            .query_row(
                "SELECT last FROM _sandbox_series WHERE scope = ?1 AND series = ?2",
                [scope, series],
                |r| r.get(0),
            )
            .map_err(internal)
    }

    /// Makes a number series continue after `last` (the seed uses it after its fixed numbers).
    pub fn set_number(&mut self, scope: &str, series: &str, last: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO _sandbox_series (scope, series, last) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (scope, series) DO UPDATE SET last = MAX(last, ?3)",
                rusqlite::params![scope, series, last],
            )
            .map(|_| ())
            .map_err(internal)
    }
}

/// A failed write statement: constraint violations are the client's (a NOT NULL column left
/// empty), anything else the server's.
fn constraint(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Invalid(e.to_string()),
        _ => internal(e),
    }
}
