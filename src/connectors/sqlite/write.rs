//! Batched writes: one `BEGIN IMMEDIATE` transaction per batch, in which a failed write is
//! undone alone and the others still commit. Each write changes the table with one statement
//! (the reads before it change nothing), and SQLite undoes a failed statement by itself while
//! its transaction goes on, so a write needs no savepoint of its own. Statements are prepared
//! once per shape of write and reused.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, OptionalExtension, TransactionBehavior};

use super::{codec, ident, push_ident, sql_error, Shape, VERSION_COLUMN};
use crate::connectors::{ConnectorError, TableRef, WriteGate, WriteOp, WriteOutcome};
use crate::value::{ColumnKind, Value};

/// Carries out `ops` in order, one result per op; none when `gate`, asked once the batch holds
/// the write lock, is shut.
pub(super) fn write(
    conn: &mut Connection,
    table: TableRef<'_>,
    ops: &[WriteOp],
    gate: Option<&WriteGate>,
) -> Vec<Result<WriteOutcome, ConnectorError>> {
    let all = |e: ConnectorError| ops.iter().map(|_| Err(e.clone())).collect();
    if ops.is_empty() {
        return Vec::new();
    }
    let shape = match Shape::new(conn, table) {
        Ok(shape) => shape,
        Err(e) => return all(e),
    };
    let context = format!("cannot write to table `{}`", table.name);
    // IMMEDIATE takes the write lock now (waiting up to the busy timeout), so modified-on stamps
    // are handed out while no other connection can commit: commit order is stamp order.
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return all(sql_error(&context, e)),
    };
    // The lock may have taken up to the busy timeout, in which the run may have lost its
    // lease: then nothing is written (the transaction rolls back as it drops).
    if gate.is_some_and(|open| !open()) {
        return all(ConnectorError::Fatal(format!(
            "{context}: write not made: the run may no longer hold its lease of the state store"
        )));
    }
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let result = apply(&tx, &shape, op);
        let failed = result.is_err();
        results.push(result);
        // Some errors (a full disk, an I/O error) end the whole transaction: what was written
        // is rolled back, and what followed would commit alone. Nothing more is written then.
        if failed && tx.is_autocommit() {
            let lost = ConnectorError::Transient(format!(
                "{context}: the transaction ended early; nothing of this batch was written"
            ));
            return ops.iter().map(|_| Err(lost.clone())).collect();
        }
    }
    match tx.commit() {
        Ok(()) => results,
        Err(e) => {
            let e = sql_error(&context, e);
            results
                .into_iter()
                .map(|r| r.and_then(|_| Err(e.clone())))
                .collect()
        }
    }
}

fn apply(
    conn: &Connection,
    shape: &Shape<'_>,
    op: &WriteOp,
) -> Result<WriteOutcome, ConnectorError> {
    match op {
        WriteOp::Create { key, fields } => create(conn, shape, key.as_deref(), fields),
        WriteOp::Update { key, etag, fields } => update(conn, shape, key, etag.as_deref(), fields),
        WriteOp::Delete { key, etag } => delete(conn, shape, key, etag.as_deref()),
    }
}

/// Encoded column values of a write, without absent fields, the modified-on column (the
/// connector sets it) and the key column (returned apart).
struct Assignments<'v> {
    columns: Vec<(&'v str, SqlValue)>,
    key: Option<&'v Value>,
}

fn assignments<'v>(
    shape: &Shape<'_>,
    fields: &'v std::collections::BTreeMap<String, Value>,
) -> Result<Assignments<'v>, ConnectorError> {
    let mut out = Assignments {
        columns: Vec::new(),
        key: None,
    };
    for (name, value) in fields {
        if value.is_absent() || shape.modified.as_ref().is_some_and(|m| m.name == *name) {
            continue;
        }
        if *name == shape.key.name {
            out.key = Some(value);
            continue;
        }
        if name == VERSION_COLUMN {
            return Err(ConnectorError::Rejected(format!(
                "column `{VERSION_COLUMN}` of table `{}` is the row version, kept by the connector",
                shape.table
            )));
        }
        let ty = shape.column_type(name).ok_or_else(|| {
            ConnectorError::Rejected(format!("table `{}` has no column `{name}`", shape.table))
        })?;
        let stored = codec::encode(ty, value).map_err(|why| {
            ConnectorError::Rejected(format!("{} column `{name}`: {why}", shape.table))
        })?;
        out.columns.push((name, stored));
    }
    Ok(out)
}

/// The text of a bound key, as rows show it.
fn key_of(stored: &SqlValue) -> String {
    match stored {
        SqlValue::Integer(i) => i.to_string(),
        SqlValue::Text(s) => s.clone(),
        SqlValue::Real(f) => f.to_string(),
        SqlValue::Null | SqlValue::Blob(_) => String::new(),
    }
}

fn bad_key(shape: &Shape<'_>, key: &str) -> ConnectorError {
    ConnectorError::Rejected(format!(
        "`{key}` cannot be a key of table `{}`, whose key column `{}` is of type {}",
        shape.table, shape.key.name, shape.key.ty
    ))
}

fn exists(conn: &Connection, shape: &Shape<'_>, key: &SqlValue) -> Result<bool, ConnectorError> {
    let sql = format!(
        "SELECT 1 FROM {} WHERE {} = ?1",
        ident(shape.table),
        ident(&shape.key.name)
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.query_row([key], |_| Ok(())).optional())
        .map(|found| found.is_some())
        .map_err(|e| sql_error(&format!("cannot read table `{}`", shape.table), e))
}

/// The modified-on assignment of a create or update, if the table has the column.
fn stamp<'s>(shape: &'s Shape<'_>) -> Result<Option<(&'s str, jiff::Timestamp)>, ConnectorError> {
    match &shape.modified {
        Some(m) => {
            let t = codec::next_stamp().map_err(ConnectorError::Fatal)?;
            Ok(Some((m.name.as_str(), t)))
        }
        None => Ok(None),
    }
}

fn create(
    conn: &Connection,
    shape: &Shape<'_>,
    key: Option<&str>,
    fields: &std::collections::BTreeMap<String, Value>,
) -> Result<WriteOutcome, ConnectorError> {
    let values = assignments(shape, fields)?;
    let key_value = create_key(conn, shape, key, values.key)?;
    let key_text = key_of(&key_value);
    let mut names = Vec::with_capacity(values.columns.len() + 3);
    let mut args = Vec::with_capacity(values.columns.len() + 3);
    names.push(shape.key.name.as_str());
    args.push(key_value);
    for (name, value) in values.columns {
        names.push(name);
        args.push(value);
    }
    let stamp = stamp(shape)?;
    if let Some((name, t)) = &stamp {
        names.push(name);
        args.push(SqlValue::Text(codec::format_timestamp(*t)));
    }
    if shape.has_version {
        names.push(VERSION_COLUMN);
        args.push(SqlValue::Integer(1));
    }
    insert(conn, shape, &key_text, &names, args)?;
    Ok(WriteOutcome {
        key: key_text,
        modified_on: stamp.map(|(_, t)| t),
        etag: shape.has_version.then(|| "1".to_string()),
    })
}

/// The key of a new row: the caller's `key`, which a key column among the fields must agree
/// with; else that column's value; else a new one.
fn create_key(
    conn: &Connection,
    shape: &Shape<'_>,
    key: Option<&str>,
    in_fields: Option<&Value>,
) -> Result<SqlValue, ConnectorError> {
    let key_ty = shape.key.ty;
    let from_fields = match in_fields {
        Some(Value::Null) | None => None,
        Some(v) => Some(codec::key_text(v).unwrap_or_default()),
    };
    let key_text = match (key, from_fields) {
        (Some(k), Some(f)) if codec::key_param(key_ty, k) != codec::key_param(key_ty, &f) => {
            return Err(ConnectorError::Rejected(format!(
                "a new {} row with key `{k}` cannot set its key column `{}` to `{f}`",
                shape.table, shape.key.name
            )))
        }
        (Some(k), _) => Some(k.to_string()),
        (None, f) => f,
    };
    match key_text {
        Some(k) => codec::key_param(key_ty, &k).ok_or_else(|| bad_key(shape, &k)),
        None => new_key(conn, shape),
    }
}

/// Inserts row `key_text` with the columns `names` set to `args`.
fn insert(
    conn: &Connection,
    shape: &Shape<'_>,
    key_text: &str,
    names: &[&str],
    args: Vec<SqlValue>,
) -> Result<(), ConnectorError> {
    // Written into one string: it is built for every row, to find the prepared statement.
    let mut sql = String::with_capacity(64 + 24 * names.len());
    // OR ABORT: a conflict clause the table declares on its key (REPLACE, IGNORE, ROLLBACK)
    // would overwrite or keep the existing row, or end the batch, where a create must be refused.
    sql.push_str("INSERT OR ABORT INTO ");
    push_ident(&mut sql, shape.table);
    sql.push_str(" (");
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        push_ident(&mut sql, name);
    }
    sql.push_str(") VALUES (");
    for i in 1..=args.len() {
        if i > 1 {
            sql.push_str(", ");
        }
        sql.push('?');
        sql.push_str(&i.to_string());
    }
    sql.push(')');
    // No read first: the primary key refuses a row that exists, at no extra cost.
    let exists =
        || ConnectorError::Rejected(format!("{} row `{key_text}` already exists", shape.table));
    let inserted = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| stmt.execute(params_from_iter(args)))
        .map_err(|e| match e.sqlite_error() {
            Some(se) if se.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => exists(),
            _ => sql_error(
                &format!("cannot create {} row `{key_text}`", shape.table),
                e,
            ),
        })?;
    // A trigger may still leave the row unmade (`RAISE(IGNORE)`): refused, not taken as made.
    if inserted != 1 {
        return Err(ConnectorError::Rejected(format!(
            "{} row `{key_text}` was not created: the table's triggers left it out",
            shape.table
        )));
    }
    Ok(())
}

/// A key for a new row the caller gave none: the next integer for integer keys (the write
/// lock is held, so no other connection takes it first), a [time-ordered](time_ordered_key)
/// UUID for text keys.
fn new_key(conn: &Connection, shape: &Shape<'_>) -> Result<SqlValue, ConnectorError> {
    match shape.key.ty {
        ColumnKind::Int | ColumnKind::Option => {
            let sql = format!(
                "SELECT coalesce(max({}), 0) + 1 FROM {}",
                ident(&shape.key.name),
                ident(shape.table)
            );
            let next: i64 = conn
                .query_row(&sql, [], |r| r.get(0))
                .map_err(|e| sql_error(&format!("cannot number a new {} row", shape.table), e))?;
            Ok(SqlValue::Integer(next))
        }
        ColumnKind::Decimal | ColumnKind::Bool | ColumnKind::Date | ColumnKind::Datetime => {
            Err(ConnectorError::Rejected(format!(
                "a new {} row needs a key: its key column `{}` is of type {}",
                shape.table, shape.key.name, shape.key.ty
            )))
        }
        _ => Ok(SqlValue::Text(time_ordered_key())),
    }
}

/// The row version an ETag stands for; `Err(())` when the ETag cannot match any version.
fn expected_version(shape: &Shape<'_>, etag: Option<&str>) -> Result<Option<i64>, ()> {
    match etag {
        Some(e) if shape.has_version => e.trim().parse().map(Some).map_err(|_| ()),
        // Without a version column there is nothing to check against.
        _ => Ok(None),
    }
}

/// The error for a write that matched no row: the row changed, or it is gone.
fn missed(conn: &Connection, shape: &Shape<'_>, key: &SqlValue) -> ConnectorError {
    let (table, key_text) = (shape.table.to_string(), key_of(key));
    match exists(conn, shape, key) {
        Ok(true) => ConnectorError::Conflict {
            table,
            key: key_text,
        },
        Ok(false) => ConnectorError::NotFound {
            table,
            key: key_text,
        },
        Err(e) => e,
    }
}

fn update(
    conn: &Connection,
    shape: &Shape<'_>,
    key: &str,
    etag: Option<&str>,
    fields: &std::collections::BTreeMap<String, Value>,
) -> Result<WriteOutcome, ConnectorError> {
    let not_found = || ConnectorError::NotFound {
        table: shape.table.to_string(),
        key: key.to_string(),
    };
    let key_value = codec::key_param(shape.key.ty, key).ok_or_else(not_found)?;
    let key_text = key_of(&key_value);
    let values = assignments(shape, fields)?;
    if let Some(v) = values.key {
        let same = codec::key_text(v).and_then(|t| codec::key_param(shape.key.ty, &t));
        if same.as_ref() != Some(&key_value) {
            return Err(ConnectorError::Rejected(format!(
                "{} row `{key_text}`: its key column `{}` cannot be changed",
                shape.table, shape.key.name
            )));
        }
    }
    let Ok(version) = expected_version(shape, etag) else {
        return Err(missed(conn, shape, &key_value));
    };
    let stamp = stamp(shape)?;
    let (sets, args) = set_clauses(shape, values.columns, stamp.as_ref());
    if sets.is_empty() {
        // Nothing to change and nothing to stamp: the row only has to exist.
        return if exists(conn, shape, &key_value)? {
            Ok(WriteOutcome {
                key: key_text,
                modified_on: None,
                etag: None,
            })
        } else {
            Err(missed(conn, shape, &key_value))
        };
    }
    let new_version = run_update(conn, shape, &key_value, version, sets, args)?;
    Ok(WriteOutcome {
        key: key_text,
        modified_on: stamp.map(|(_, t)| t),
        etag: new_version.map(|v| v.to_string()),
    })
}

/// The `SET` clauses of an update and their parameters (`?1`, `?2`, …): the columns, the
/// modified-on stamp, and the row version counting up.
fn set_clauses(
    shape: &Shape<'_>,
    columns: Vec<(&str, SqlValue)>,
    stamp: Option<&(&str, jiff::Timestamp)>,
) -> (Vec<String>, Vec<SqlValue>) {
    let mut sets = Vec::new();
    let mut args = Vec::new();
    for (name, value) in columns {
        args.push(value);
        sets.push(format!("{} = ?{}", ident(name), args.len()));
    }
    if let Some((name, t)) = stamp {
        args.push(SqlValue::Text(codec::format_timestamp(*t)));
        sets.push(format!("{} = ?{}", ident(name), args.len()));
    }
    if shape.has_version {
        let v = ident(VERSION_COLUMN);
        sets.push(format!("{v} = {v} + 1"));
    }
    (sets, args)
}

/// Runs an update of row `key_value`, only at row version `version` when one is expected;
/// the new row version when the table keeps one.
fn run_update(
    conn: &Connection,
    shape: &Shape<'_>,
    key_value: &SqlValue,
    version: Option<i64>,
    sets: Vec<String>,
    mut args: Vec<SqlValue>,
) -> Result<Option<i64>, ConnectorError> {
    args.push(key_value.clone());
    let mut sql = format!(
        "UPDATE {} SET {} WHERE {} = ?{}",
        ident(shape.table),
        sets.join(", "),
        ident(&shape.key.name),
        args.len()
    );
    if let Some(v) = version {
        args.push(SqlValue::Integer(v));
        sql.push_str(&format!(" AND {} = ?{}", ident(VERSION_COLUMN), args.len()));
    }
    let fail = |e| {
        sql_error(
            &format!("cannot update {} row `{}`", shape.table, key_of(key_value)),
            e,
        )
    };
    if shape.has_version {
        sql.push_str(&format!(" RETURNING {}", ident(VERSION_COLUMN)));
        let mut stmt = conn.prepare_cached(&sql).map_err(fail)?;
        match stmt
            .query_row(params_from_iter(args), |r| r.get(0))
            .optional()
            .map_err(fail)?
        {
            Some(v) => Ok(Some(v)),
            None => Err(missed(conn, shape, key_value)),
        }
    } else {
        let changed = conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| stmt.execute(params_from_iter(args)))
            .map_err(fail)?;
        if changed == 0 {
            return Err(missed(conn, shape, key_value));
        }
        Ok(None)
    }
}

fn delete(
    conn: &Connection,
    shape: &Shape<'_>,
    key: &str,
    etag: Option<&str>,
) -> Result<WriteOutcome, ConnectorError> {
    let key_value =
        codec::key_param(shape.key.ty, key).ok_or_else(|| ConnectorError::NotFound {
            table: shape.table.to_string(),
            key: key.to_string(),
        })?;
    let key_text = key_of(&key_value);
    let Ok(version) = expected_version(shape, etag) else {
        return Err(missed(conn, shape, &key_value));
    };
    let mut sql = format!(
        "DELETE FROM {} WHERE {} = ?1",
        ident(shape.table),
        ident(&shape.key.name)
    );
    let mut args = vec![key_value.clone()];
    if let Some(v) = version {
        args.push(SqlValue::Integer(v));
        sql.push_str(&format!(" AND {} = ?2", ident(VERSION_COLUMN)));
    }
    let deleted = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| stmt.execute(params_from_iter(args)))
        .map_err(|e| {
            sql_error(
                &format!("cannot delete {} row `{key_text}`", shape.table),
                e,
            )
        })?;
    if deleted == 0 {
        return Err(missed(conn, shape, &key_value));
    }
    Ok(WriteOutcome {
        key: key_text,
        modified_on: None,
        etag: None,
    })
}

/// A new lower-case UUID that sorts after those made before it (v7: the time first, then a
/// counter), so new rows go to the end of the table's key order: inserting many touches a few
/// pages at the end instead of one anywhere in the table for each row, which a page cache
/// cannot hold once the table is large.
fn time_ordered_key() -> String {
    uuid::Uuid::now_v7().to_string()
}
