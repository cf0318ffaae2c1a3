//! The SQLite connector: a system whose tables live in one SQLite file, one SQLite table per
//! schema table. Used for local systems, tests, benchmarks and the sandbox.
//!
//! Design:
//! - **Sync inside async.** rusqlite is synchronous; the trait's async methods run lookups and
//!   writes inline on the caller's task: they are short, and a caller that waits for their
//!   answer has nothing else to do meanwhile. Two kinds of call run on threads, because the
//!   engine has work to do while they run: a page read after a read's first (`read`), asked for
//!   before the engine processes the page before it, and a sync's batches of writes that are
//!   not small (`writer`), made while the engine decides its next batch. The returned futures
//!   are `Send`.
//! - **One connection** behind a `Mutex`, so `&self` methods work and calls from one connector
//!   never interleave; a page read takes it on its thread. The file is opened in WAL mode with
//!   a busy timeout, so readers never block the writer and other processes wait for the lock
//!   instead of failing. A connector opened for a sync ([`SqliteConnector::open_for_sync`])
//!   writes with a second connection, on the thread that writes, and asks the run's write gate
//!   once a batch holds the write lock.
//! - **Values** are stored by plan column type (see `codec`): exact decimals as normalized text,
//!   date-times as fixed-width UTC text with microseconds, so text order is time order.
//! - **Modified-on and ETags** are maintained here: every create and update stamps the table's
//!   modified-on column with the current UTC time in microseconds, strictly increasing within
//!   the process, and bumps a hidden `_version` column whose value is the row's ETag. Stamps
//!   are taken after the write lock is held (`BEGIN IMMEDIATE`), so on one machine writes
//!   commit in stamp order and a `(modified_on, key)` cursor never passes a row that commits
//!   later with a smaller stamp.
//! - **Reads** page by keyset over the `(modified_on, key)` index, never by offset, and select
//!   only the key, the modified-on column and the plan's columns (like `$select` in the OData
//!   connectors); other columns of the table are not read.

// The sandbox stores its emulated tables with the same codec and DDL.
pub(crate) mod codec;
pub(crate) mod ddl;
mod read;
mod write;
mod writer;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::Duration;

use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, ErrorCode};

use crate::connectors::{
    Capabilities, Connector, ConnectorError, Page, ReadRequest, Row, TableRef, WriteGate, WriteOp,
    WriteOutcome,
};
use crate::schema::SystemSchema;
use crate::value::{ColumnKind, Value};

/// How long a call waits for a lock another connection holds before it fails as transient.
/// Long enough for another `syncmap` process to finish a batch of writes.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The hidden column `create_tables` adds to every table: the row's version, its ETag.
pub const VERSION_COLUMN: &str = "_version";

/// The most keys bound in one `IN (...)` by `get`.
const GET_CHUNK: usize = 500;

/// The largest batch of writes, and of rows per page, the connector announces.
const MAX_BATCH: usize = 500;
const MAX_PAGE: usize = 5000;

/// Below this many writes a sync's batch is written inline (see `WritesApart::inline`): the
/// few changes of a run since a cursor, while the small batches of the kill tests (20 and
/// 25 records) still go through the thread.
const SMALL_BATCH: usize = 16;

/// Name of the SQL function `find` uses to compare text without case, the way the runtime's
/// evaluator does (Unicode lower case, not SQLite's ASCII-only `NOCASE`).
const LOWER_FN: &str = "syncmap_lower";

/// A system whose tables live in a SQLite file: the connector for `kind: sqlite` systems, and
/// the stand-in for the HTTP systems in tests, benchmarks and the sandbox.
pub struct SqliteConnector {
    conn: Arc<Mutex<Connection>>,
    /// For the systems of a sync: the file its writes go to on a thread of their own, which
    /// starts with the first write.
    writes_apart: Option<WritesApart>,
    /// Asked before each batch is written (see [`WriteGate`]).
    write_gate: RwLock<Option<WriteGate>>,
    /// The file's name, for the `source` of introspected snapshots.
    label: Option<String>,
    /// Whether the file is in WAL mode, where a second connection can write while this one
    /// reads.
    wal: bool,
}

impl std::fmt::Debug for SqliteConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteConnector")
            .field("label", &self.label)
            .field("wal", &self.wal)
            .field("writes_apart", &self.writes_apart)
            .finish_non_exhaustive()
    }
}

impl SqliteConnector {
    /// Opens (creating if missing) the database at `path` in WAL mode, with
    /// [`DEFAULT_BUSY_TIMEOUT`] so concurrent processes wait for each other instead of failing.
    pub fn open(path: &Path) -> Result<Self, ConnectorError> {
        let fail = |e: rusqlite::Error| {
            ConnectorError::Fatal(format!(
                "cannot open SQLite database {}: {e}",
                path.display()
            ))
        };
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(DEFAULT_BUSY_TIMEOUT).map_err(fail)?;
        // WAL lets readers run while one connection writes. Where the file system cannot do WAL
        // SQLite keeps its rollback journal, which is slower under contention but as correct.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(fail)?;
        let label = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let mut connector = Self::setup(conn, label).map_err(fail)?;
        connector.wal = mode.eq_ignore_ascii_case("wal");
        Ok(connector)
    }

    /// Opens the database at `path` as [`Self::open`] does, for a system of a sync: in WAL
    /// mode, its writes are made on a thread of their own (see `writer`), so the engine goes
    /// on while they are made.
    pub fn open_for_sync(path: &Path) -> Result<Self, ConnectorError> {
        let mut connector = Self::open(path)?;
        if connector.wal {
            connector.writes_apart = Some(WritesApart {
                path: path.to_path_buf(),
                writer: OnceLock::new(),
            });
        }
        Ok(connector)
    }

    /// A private in-memory database, gone when the connector is dropped; for tests.
    pub fn open_in_memory() -> Result<Self, ConnectorError> {
        let fail = |e: rusqlite::Error| {
            ConnectorError::Fatal(format!("cannot open an in-memory SQLite database: {e}"))
        };
        let conn = Connection::open_in_memory().map_err(fail)?;
        Self::setup(conn, None).map_err(fail)
    }

    fn setup(conn: Connection, label: Option<String>) -> Result<Self, rusqlite::Error> {
        let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
        conn.create_scalar_function(LOWER_FN, 1, flags, |ctx| {
            Ok(match ctx.get::<SqlValue>(0)? {
                SqlValue::Text(s) => SqlValue::Text(s.to_lowercase()),
                other => other,
            })
        })?;
        Ok(SqliteConnector {
            conn: Arc::new(Mutex::new(conn)),
            writes_apart: None,
            write_gate: RwLock::new(None),
            wal: false,
            label,
        })
    }

    /// Changes how long calls wait for another connection's lock (tests use short waits).
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), ConnectorError> {
        self.lock()
            .busy_timeout(timeout)
            .map_err(|e| sql_error("cannot set the busy timeout", e))
    }

    /// Creates every table of a snapshot that does not exist yet — columns typed as the
    /// connector stores them, the key as primary key, the hidden [`VERSION_COLUMN`] and a
    /// `(modified_on, key)` index — and records the snapshot's details so [`Self::introspect`]
    /// gives the same snapshot back. For tests, benchmarks and the sandbox, which need
    /// databases shaped like the real systems' tables.
    pub fn create_tables(&self, schema: &SystemSchema) -> Result<(), ConnectorError> {
        ddl::create_tables(&mut self.lock(), schema)
    }

    /// A schema snapshot of the database, for `syncmap schema pull` on a SQLite system: every
    /// table with a single-column primary key, typed from declared column types and the
    /// details [`Self::create_tables`] recorded; modified-on is the recorded column or one
    /// named `modifiedon`, `lastModifiedDateTime` or `modified_on`.
    pub fn introspect(&self) -> Result<SystemSchema, ConnectorError> {
        ddl::introspect(&self.lock(), self.label.as_deref())
    }

    /// The connection; a panic while it was held leaves SQLite consistent (an open transaction
    /// rolls back when its guard drops), so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    /// Asks `gate` before each batch is written from now on (`None`: writes them all).
    pub fn set_write_gate(&self, gate: Option<WriteGate>) {
        if let Ok(mut g) = self.write_gate.write() {
            *g = gate;
        }
    }

    /// The thread a batch of `writes` goes to: none for a file written inline, or for a small
    /// batch with nothing under way (see `WritesApart::inline`).
    fn writer_for(&self, writes: usize) -> Option<&writer::Writer> {
        self.writes_apart
            .as_ref()
            .filter(|a| !a.inline(writes))
            .and_then(WritesApart::writer)
    }

    /// Returns once every batch sent to the thread that writes is written or dropped (see
    /// `writer`); at once when writes are made inline.
    pub fn wait_for_writes(&self) {
        if let Some(writer) = self
            .writes_apart
            .as_ref()
            .and_then(|w| w.writer.get())
            .and_then(Option::as_ref)
        {
            writer.wait_for_writes();
        }
    }

    fn write_gate(&self) -> Option<WriteGate> {
        self.write_gate.read().ok().and_then(|g| g.clone())
    }

    fn get_sync(&self, table: TableRef<'_>, keys: &[String]) -> Result<Vec<Row>, ConnectorError> {
        let conn = self.lock();
        let shape = Shape::new(&conn, table)?;
        let select = shape.select_list()?;
        let params: Vec<SqlValue> = keys
            .iter()
            .filter_map(|k| codec::key_param(shape.key.ty, k))
            .collect();
        let mut rows = Vec::new();
        for chunk in params.chunks(GET_CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT {select} FROM {} WHERE {} IN ({marks}) ORDER BY {}",
                ident(shape.table),
                ident(&shape.key.name),
                ident(&shape.key.name)
            );
            rows.extend(shape.query(&conn, &sql, chunk.to_vec())?);
        }
        Ok(rows)
    }

    fn find_sync(
        &self,
        table: TableRef<'_>,
        equal: &[(String, Value)],
        ignore_case: bool,
    ) -> Result<Vec<Row>, ConnectorError> {
        if equal.is_empty() {
            return Err(ConnectorError::Fatal(format!(
                "a lookup in table `{}` names no column",
                table.name
            )));
        }
        // An absent value equals nothing (the evaluator's `==` gives absent, not true).
        if equal.iter().any(|(_, v)| v.is_absent()) {
            return Ok(Vec::new());
        }
        let conn = self.lock();
        let shape = Shape::new(&conn, table)?;
        let select = shape.select_list()?;
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        for (column, value) in equal {
            let ty = shape.column_type(column).ok_or_else(|| {
                ConnectorError::Fatal(format!(
                    "table `{}` has no column `{column}` to look rows up by",
                    shape.table
                ))
            })?;
            let stored = codec::encode(ty, value).map_err(|why| {
                ConnectorError::Rejected(format!(
                    "cannot look up {} rows by `{column}`: {why}",
                    shape.table
                ))
            })?;
            let col = ident(column);
            match stored {
                SqlValue::Null => conditions.push(format!("{col} IS NULL")),
                SqlValue::Text(s) if ignore_case && ty != ColumnKind::Guid => {
                    args.push(SqlValue::Text(s.to_lowercase()));
                    conditions.push(format!("{LOWER_FN}({col}) = ?{}", args.len()));
                }
                other => {
                    args.push(other);
                    conditions.push(format!("{col} = ?{}", args.len()));
                }
            }
        }
        let sql = format!(
            "SELECT {select} FROM {} WHERE {} ORDER BY {}",
            ident(shape.table),
            conditions.join(" AND "),
            ident(&shape.key.name)
        );
        shape.query(&conn, &sql, args)
    }
}

impl Connector for SqliteConnector {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            client_keys: true,
            max_batch: MAX_BATCH,
            max_page: MAX_PAGE,
            // Written on the caller's thread, a batch blocks it until done.
            writes_block: self.writes_apart.is_none(),
            requests_at_once: 1,
            writes_per_request: MAX_BATCH,
            tracks_changes: false,
        }
    }

    async fn read_page(
        &self,
        req: &ReadRequest<'_>,
        continuation: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        read::page_on_thread(&self.conn, req, continuation).await
    }

    async fn get(&self, table: TableRef<'_>, keys: &[String]) -> Result<Vec<Row>, ConnectorError> {
        self.get_sync(table, keys)
    }

    async fn find(
        &self,
        table: TableRef<'_>,
        equal: &[(String, Value)],
        ignore_case: bool,
    ) -> Result<Vec<Row>, ConnectorError> {
        self.find_sync(table, equal, ignore_case)
    }

    async fn write(
        &self,
        table: TableRef<'_>,
        ops: &[WriteOp],
    ) -> Vec<Result<WriteOutcome, ConnectorError>> {
        let gate = self.write_gate();
        match self.writer_for(ops.len()) {
            Some(writer) => writer.write(table, ops.to_vec(), gate).await.1,
            None => write::write(&mut self.lock(), table, ops, gate.as_ref()),
        }
    }

    /// Its creates answer their rows' versions anyway: `keys_only` changes nothing here.
    async fn write_handed(
        &self,
        table: TableRef<'_>,
        ops: Vec<WriteOp>,
        _keys_only: bool,
    ) -> (Vec<WriteOp>, Vec<Result<WriteOutcome, ConnectorError>>) {
        let gate = self.write_gate();
        match self.writer_for(ops.len()) {
            Some(writer) => writer.write(table, ops, gate).await,
            None => {
                let results = write::write(&mut self.lock(), table, &ops, gate.as_ref());
                (ops, results)
            }
        }
    }
}

/// Where a sync's writes to a file go: a thread of their own, started with the first write.
#[derive(Debug)]
struct WritesApart {
    path: PathBuf,
    /// `None` when the thread could not be started: the writes are then made inline.
    writer: OnceLock<Option<writer::Writer>>,
}

impl WritesApart {
    /// Whether a batch of `writes` is written inline: a small one (most batches of a run
    /// since a cursor), with nothing under way on the thread to come after. There is nothing
    /// to overlap it with, and a thread's hand-over would only add its wake-up.
    fn inline(&self, writes: usize) -> bool {
        writes < SMALL_BATCH
            && self
                .writer
                .get()
                .and_then(Option::as_ref)
                .is_none_or(writer::Writer::idle)
    }

    fn writer(&self) -> Option<&writer::Writer> {
        self.writer
            .get_or_init(
                || match writer::Writer::start(&self.path, DEFAULT_BUSY_TIMEOUT) {
                    Ok(w) => Some(w),
                    Err(why) => {
                        tracing::warn!(
                            database = %self.path.display(),
                            "writes are made on the engine's thread: {why}"
                        );
                        None
                    }
                },
            )
            .as_ref()
    }
}

/// A connection's lock; a poisoned one is taken over (see [`SqliteConnector::lock`]).
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A SQL identifier, quoted so any name (spaces, quotes, keywords) is taken literally.
pub(crate) fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    push_ident(&mut out, name);
    out
}

/// Appends [`ident`]`(name)` to `sql`.
pub(crate) fn push_ident(sql: &mut String, name: &str) {
    sql.push('"');
    for c in name.chars() {
        if c == '"' {
            sql.push('"');
        }
        sql.push(c);
    }
    sql.push('"');
}

/// A rusqlite error as a connector error: lock waits that timed out are transient (the same
/// call may succeed later), constraint violations rejections, anything else fatal.
pub(super) fn sql_error(context: &str, e: rusqlite::Error) -> ConnectorError {
    let message = format!("{context}: {e}");
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            ConnectorError::Transient(message)
        }
        Some(ErrorCode::ConstraintViolation) => ConnectorError::Rejected(message),
        _ => ConnectorError::Fatal(message),
    }
}

/// One column of a real SQLite table, from `pragma_table_info`.
#[derive(Debug, Clone)]
pub(super) struct ColumnDef {
    pub(super) name: String,
    pub(super) declared: String,
    pub(super) not_null: bool,
    /// 1-based position in the primary key, 0 when not part of it.
    pub(super) pk: i64,
}

/// The columns of a real SQLite table, in table order.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub(super) columns: Vec<ColumnDef>,
}

impl Layout {
    /// The table's columns; none when the table does not exist.
    pub(super) fn load(conn: &Connection, table: &str) -> Result<Layout, ConnectorError> {
        let fail = |e| sql_error(&format!("cannot read the columns of table `{table}`"), e);
        let mut stmt = conn
            .prepare_cached(r#"SELECT name, type, "notnull", pk FROM pragma_table_info(?1)"#)
            .map_err(fail)?;
        let rows = stmt
            .query_map([table], |r| {
                Ok(ColumnDef {
                    name: r.get(0)?,
                    declared: r.get(1)?,
                    not_null: r.get(2)?,
                    pk: r.get(3)?,
                })
            })
            .map_err(fail)?;
        let columns = rows.collect::<Result<_, _>>().map_err(fail)?;
        Ok(Layout { columns })
    }

    pub(super) fn get(&self, name: &str) -> Option<&ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The primary key column when the key is one column.
    pub(super) fn primary_key(&self) -> Option<&ColumnDef> {
        let mut pk = self.columns.iter().filter(|c| c.pk > 0);
        match (pk.next(), pk.next()) {
            (Some(c), None) => Some(c),
            _ => None,
        }
    }
}

/// The plan type of a column of the table: the plan's, else the one its declared type stands
/// for; `None` when the table has no such column.
fn column_type(layout: &Layout, info: &crate::plan::TableInfo, column: &str) -> Option<ColumnKind> {
    let def = layout.get(column)?;
    Some(match info.columns.get(column) {
        Some(c) => c.ty,
        None => ddl::inferred_type(&def.declared).kind(),
    })
}

/// A column a call reads or writes, with its plan type.
#[derive(Debug, Clone)]
pub(super) struct TypedColumn {
    pub(super) name: String,
    pub(super) ty: ColumnKind,
}

/// A table as one call sees it: the plan's description checked against the real table.
pub(super) struct Shape<'a> {
    pub(super) table: &'a str,
    pub(super) info: &'a crate::plan::TableInfo,
    pub(super) layout: Layout,
    pub(super) key: TypedColumn,
    pub(super) modified: Option<TypedColumn>,
    pub(super) has_version: bool,
}

impl<'a> Shape<'a> {
    /// Checks that the table exists, that the plan's key is its primary key (keyset paging
    /// needs a unique key) and that the modified-on column exists.
    pub(super) fn new(conn: &Connection, table: TableRef<'a>) -> Result<Shape<'a>, ConnectorError> {
        let layout = Layout::load(conn, table.name)?;
        if layout.columns.is_empty() {
            return Err(ConnectorError::Fatal(format!(
                "the SQLite database has no table `{}`",
                table.name
            )));
        }
        let info = table.info;
        match layout.primary_key() {
            Some(pk) if pk.name == info.key => {}
            _ => {
                return Err(ConnectorError::Fatal(format!(
                    "the primary key of SQLite table `{}` is not its key column `{}`",
                    table.name, info.key
                )))
            }
        }
        let key = TypedColumn {
            name: info.key.clone(),
            ty: column_type(&layout, info, &info.key).unwrap_or_default(),
        };
        let modified = match &info.modified_on {
            Some(m) if layout.get(m).is_some() => Some(TypedColumn {
                name: m.clone(),
                // The connector writes it as a date-time whatever the declared type says.
                ty: ColumnKind::Datetime,
            }),
            Some(m) => {
                return Err(ConnectorError::Fatal(format!(
                    "SQLite table `{}` has no modified-on column `{m}`",
                    table.name
                )))
            }
            None => None,
        };
        let has_version = layout.get(VERSION_COLUMN).is_some();
        Ok(Shape {
            table: table.name,
            info,
            layout,
            key,
            modified,
            has_version,
        })
    }

    /// The plan type of a column of the table: the plan's, else the one its declared type
    /// stands for; `None` when the table has no such column.
    pub(super) fn column_type(&self, column: &str) -> Option<ColumnKind> {
        column_type(&self.layout, self.info, column)
    }

    /// The columns rows are read with: key, modified-on, the plan's columns.
    fn read_columns(&self) -> Result<Vec<TypedColumn>, ConnectorError> {
        let mut cols = vec![self.key.clone()];
        cols.extend(self.modified.clone());
        for name in self.info.columns.keys() {
            if cols.iter().any(|c| c.name == *name) {
                continue;
            }
            let ty = self.column_type(name).ok_or_else(|| {
                ConnectorError::Fatal(format!(
                    "SQLite table `{}` has no column `{name}`",
                    self.table
                ))
            })?;
            cols.push(TypedColumn {
                name: name.clone(),
                ty,
            });
        }
        Ok(cols)
    }

    /// The `SELECT` list matching [`Self::query`]'s decoding.
    fn select_list(&self) -> Result<String, ConnectorError> {
        let mut names: Vec<String> = self
            .read_columns()?
            .iter()
            .map(|c| ident(&c.name))
            .collect();
        if self.has_version {
            names.push(ident(VERSION_COLUMN));
        }
        Ok(names.join(", "))
    }

    /// Runs a `SELECT` of [`Self::select_list`] and decodes its rows.
    fn query(
        &self,
        conn: &Connection,
        sql: &str,
        args: Vec<SqlValue>,
    ) -> Result<Vec<Row>, ConnectorError> {
        let cols = self.read_columns()?;
        let fail = |e| sql_error(&format!("cannot read table `{}`", self.table), e);
        let mut stmt = conn.prepare_cached(sql).map_err(fail)?;
        let mut rows = stmt.query(params_from_iter(args)).map_err(fail)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(fail)? {
            out.push(self.decode_row(&cols, r)?);
        }
        Ok(out)
    }

    fn decode_row(
        &self,
        cols: &[TypedColumn],
        r: &rusqlite::Row<'_>,
    ) -> Result<Row, ConnectorError> {
        let fail = |e| sql_error(&format!("cannot read table `{}`", self.table), e);
        let mut fields = std::collections::BTreeMap::new();
        let mut invalid: Vec<String> = Vec::new();
        for (i, c) in cols.iter().enumerate() {
            let raw = r.get_ref(i).map_err(fail)?;
            // A value the column cannot hold fails this one record (never read as null, which
            // would clear the other system's value); the rest of the table still syncs.
            match codec::decode(c.ty, raw) {
                Ok(value) => {
                    fields.insert(c.name.clone(), value);
                }
                Err(why) if c.name != self.key.name => {
                    invalid.push(format!("column `{}` of {} holds {why}", c.name, self.table));
                }
                Err(why) => {
                    return Err(ConnectorError::Fatal(format!(
                        "{}: a key in column `{}` holds {why}",
                        self.table, c.name
                    )))
                }
            }
        }
        let key = fields
            .get(&self.key.name)
            .and_then(codec::key_text)
            .ok_or_else(|| {
                ConnectorError::Fatal(format!("{} has a row without a key", self.table))
            })?;
        let modified_on = self
            .modified
            .as_ref()
            .and_then(|m| match fields.get(&m.name) {
                Some(Value::DateTime(t)) => Some(*t),
                _ => None,
            });
        let etag = if self.has_version {
            let v: i64 = r.get(cols.len()).map_err(fail)?;
            Some(v.to_string())
        } else {
            None
        };
        Ok(Row {
            key,
            modified_on,
            etag,
            invalid: (!invalid.is_empty()).then(|| invalid.join("; ")),
            fields,
        })
    }
}
