//! Reading a table page by page, by keyset over the key (or the `(modified_on, key)` index when
//! reading since a cursor), never by offset.
//!
//! A page after a read's first is read on a thread of its own. The engine asks for the next
//! page before it processes the current one, and SQLite work inline would run before that
//! processing instead of beside it: reading and decoding a page's rows is about a tenth of a
//! sync between two SQLite systems, which the second core now does. The thread takes the
//! connector's one connection, so calls from one connector still never interleave: a call
//! made while a page is read waits for it.

use std::sync::{Arc, Mutex};

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::{codec, ident, lock, Shape, MAX_PAGE};
use crate::connectors::{ConnectorError, Cursor, Page, ReadRequest, TableRef};
use crate::plan::TableInfo;

/// A page read, owned, for the thread that reads it.
struct PageRead {
    table: String,
    info: TableInfo,
    since: Option<Cursor>,
    page_size: usize,
    continuation: Option<String>,
}

/// Reads a page on a thread of its own; inline when no thread can be started, and the first
/// page of a read, which the engine waits for with nothing else to do (a read since a cursor is
/// often all in its first page: a thread's hand-over would only add its wake-up).
pub(super) async fn page_on_thread(
    conn: &Arc<Mutex<Connection>>,
    req: &ReadRequest<'_>,
    continuation: Option<&str>,
) -> Result<Page, ConnectorError> {
    if continuation.is_none() {
        return page(&lock(conn), &owned(req, None));
    }
    let read = owned(req, continuation);
    let (answer, answered) = tokio::sync::oneshot::channel();
    let shared = Arc::clone(conn);
    let started = std::thread::Builder::new()
        .name("syncmap-sqlite-read".into())
        .spawn(move || {
            // The reader may be gone (a stop ended the pass): the page is dropped.
            let _ = answer.send(page(&lock(&shared), &read));
        });
    match started {
        Ok(_) => answered.await.map_err(|_| {
            ConnectorError::Fatal(format!(
                "the read of a page of table `{}` ended without an answer",
                req.table.name
            ))
        })?,
        Err(_) => page(&lock(conn), &owned(req, continuation)),
    }
}

/// The request as the reading thread owns it.
fn owned(req: &ReadRequest<'_>, continuation: Option<&str>) -> PageRead {
    PageRead {
        table: req.table.name.to_string(),
        info: req.table.info.clone(),
        since: req.since.clone(),
        page_size: req.page_size,
        continuation: continuation.map(str::to_string),
    }
}

/// One page: up to `page_size` rows after the continuation, and where the next page starts.
fn page(conn: &Connection, read: &PageRead) -> Result<Page, ConnectorError> {
    let table = TableRef {
        name: &read.table,
        info: &read.info,
    };
    let shape = Shape::new(conn, table)?;
    let select = shape.select_list()?;
    let limit = read.page_size.clamp(1, MAX_PAGE);
    let after = match &read.continuation {
        Some(text) => Some(Continuation::parse(text)?),
        None => None,
    };
    let mut args: Vec<SqlValue> = Vec::new();
    let (condition, order) = match &read.since {
        Some(since) => since_condition(&shape, since, after, read, &mut args)?,
        None => (
            key_condition(&shape, after, read, &mut args)?,
            ident(&shape.key.name),
        ),
    };
    // One row more than the page shows whether another page follows.
    args.push(SqlValue::Integer(
        i64::try_from(limit + 1).unwrap_or(i64::MAX),
    ));
    let sql = format!(
        "SELECT {select} FROM {} {condition} ORDER BY {order} LIMIT ?{}",
        ident(shape.table),
        args.len()
    );
    let mut rows = shape.query(conn, &sql, args)?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| {
            Continuation {
                modified_on: read.since.as_ref().map(|_| {
                    r.modified_on
                        .map(codec::format_timestamp)
                        .unwrap_or_default()
                }),
                key: r.key.clone(),
            }
            .to_text()
        })
    } else {
        None
    };
    Ok(Page {
        rows,
        next,
        ..Page::default()
    })
}

/// The condition and order of a read since a cursor: rows after the continuation's
/// `(modified_on, key)`, else after the cursor's.
fn since_condition(
    shape: &Shape<'_>,
    since: &Cursor,
    after: Option<Continuation>,
    read: &PageRead,
    args: &mut Vec<SqlValue>,
) -> Result<(String, String), ConnectorError> {
    let Some(modified) = &shape.modified else {
        return Err(ConnectorError::Fatal(format!(
            "table `{}` has no modified-on column, so it cannot be read since a cursor",
            shape.table
        )));
    };
    let m_col = ident(&modified.name);
    let k_col = ident(&shape.key.name);
    let (m, k) = match after {
        Some(Continuation {
            modified_on: Some(m),
            key,
        }) => (m, key),
        Some(_) => return Err(bad_continuation(read.continuation.as_deref())),
        None => (
            codec::format_timestamp(since.modified_on),
            since.key.clone(),
        ),
    };
    args.push(SqlValue::Text(m));
    let condition = match codec::key_param(shape.key.ty, &k) {
        Some(k) => {
            args.push(k);
            format!("WHERE ({m_col}, {k_col}) > (?1, ?2)")
        }
        // An empty key starts at the cursor's time whatever the key type (an integer key has
        // no value below every key, as "" is for text keys).
        None if k.is_empty() => format!("WHERE {m_col} >= ?1"),
        None => {
            return Err(ConnectorError::Fatal(format!(
                "cursor key `{k}` cannot be a key of table `{}`",
                shape.table
            )))
        }
    };
    Ok((condition, format!("{m_col}, {k_col}")))
}

/// The condition of a whole read: rows after the continuation's key, if any.
fn key_condition(
    shape: &Shape<'_>,
    after: Option<Continuation>,
    read: &PageRead,
    args: &mut Vec<SqlValue>,
) -> Result<String, ConnectorError> {
    match after {
        Some(Continuation {
            modified_on: None,
            key,
        }) => {
            let k = codec::key_param(shape.key.ty, &key)
                .ok_or_else(|| bad_continuation(read.continuation.as_deref()))?;
            args.push(k);
            Ok(format!("WHERE {} > ?1", ident(&shape.key.name)))
        }
        Some(_) => Err(bad_continuation(read.continuation.as_deref())),
        None => Ok(String::new()),
    }
}

/// Where the next page starts: after this key (and modified-on, when reading since a cursor).
#[derive(Debug, Serialize, Deserialize)]
struct Continuation {
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    modified_on: Option<String>,
    #[serde(rename = "k")]
    key: String,
}

impl Continuation {
    fn parse(text: &str) -> Result<Continuation, ConnectorError> {
        serde_json::from_str(text).map_err(|_| bad_continuation(Some(text)))
    }

    fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn bad_continuation(text: Option<&str>) -> ConnectorError {
    ConnectorError::Fatal(format!(
        "continuation {:?} was not made by this read",
        text.unwrap_or_default()
    ))
}
