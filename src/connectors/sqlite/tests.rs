//! Tests of the SQLite connector, on files in a temporary directory and in memory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::str::FromStr;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use jiff::civil::Date;
use jiff::Timestamp;
use rusqlite::Connection;
use rust_decimal::Decimal;

use super::{codec, ddl, SqliteConnector, VERSION_COLUMN};
use crate::connectors::{
    Connector, ConnectorError, Cursor, ReadRequest, Row, TableRef, WriteOp, WriteOutcome,
};
use crate::plan::{ColumnInfo, TableInfo};
use crate::schema::{self, SystemSchema, TableSchema};
use crate::value::{ColumnKind, Value};

mod threads;

/// Runs a connector future to its end; a page is read, and a sync's writes are made, on a
/// thread of their own.
fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

const ITEMS: &str = r#"{
  "format_version": 1,
  "source": "test items",
  "tables": [{
    "name": "items",
    "entity_type": "item",
    "key": "id",
    "modified_on": "modifiedon",
    "columns": [
      {"name": "id", "type": "guid", "nullable": false, "read_only": true},
      {"name": "name", "type": "string", "max_length": 50, "description": "A name."},
      {"name": "note", "type": "string"},
      {"name": "kind", "type": "enum", "members": ["Company", "Person"]},
      {"name": "count", "type": "int"},
      {"name": "choice", "type": "option", "options": [{"value": 1, "label": "One"}]},
      {"name": "amount", "type": "decimal"},
      {"name": "active", "type": "bool"},
      {"name": "born", "type": "date"},
      {"name": "seen", "type": "datetime"},
      {"name": "parent", "type": "lookup", "targets": ["items"]},
      {"name": "modifiedon", "type": "datetime", "read_only": true}
    ]
  }, {
    "name": "numbers",
    "key": "n",
    "modified_on": "modified_on",
    "columns": [
      {"name": "n", "type": "int", "nullable": false},
      {"name": "label", "type": "string"},
      {"name": "modified_on", "type": "datetime"}
    ]
  }]
}"#;

fn items_schema() -> SystemSchema {
    schema::load(ITEMS).unwrap()
}

/// The plan's view of a snapshot table: every column.
fn info_of(t: &TableSchema) -> TableInfo {
    TableInfo {
        entity_type: t.entity_type.clone(),
        key: t.key.clone(),
        modified_on: t.modified_on.clone(),
        columns: t
            .columns
            .iter()
            .map(|c| {
                let info = ColumnInfo {
                    ty: c.ty.kind(),
                    targets: vec![],
                    ..Default::default()
                };
                (c.name.clone(), info)
            })
            .collect(),
    }
}

struct Db {
    conn: SqliteConnector,
    items: TableInfo,
    numbers: TableInfo,
    path: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    fn file() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("system.db");
        let conn = SqliteConnector::open(&path).unwrap();
        Db::with(conn, Some(path), Some(dir))
    }

    fn memory() -> Db {
        Db::with(SqliteConnector::open_in_memory().unwrap(), None, None)
    }

    fn with(conn: SqliteConnector, path: Option<PathBuf>, dir: Option<tempfile::TempDir>) -> Db {
        let schema = items_schema();
        conn.create_tables(&schema).unwrap();
        Db {
            conn,
            items: info_of(&schema.tables[0]),
            numbers: info_of(&schema.tables[1]),
            path,
            _dir: dir,
        }
    }

    fn items(&self) -> TableRef<'_> {
        TableRef {
            name: "items",
            info: &self.items,
        }
    }

    fn numbers(&self) -> TableRef<'_> {
        TableRef {
            name: "numbers",
            info: &self.numbers,
        }
    }

    fn write(
        &self,
        table: TableRef<'_>,
        ops: &[WriteOp],
    ) -> Vec<Result<WriteOutcome, ConnectorError>> {
        run(self.conn.write(table, ops))
    }

    fn write_one(&self, table: TableRef<'_>, op: WriteOp) -> Result<WriteOutcome, ConnectorError> {
        self.write(table, &[op]).pop().unwrap()
    }

    fn create(&self, key: &str, fields: &[(&str, Value)]) -> WriteOutcome {
        self.write_one(self.items(), create(Some(key), fields))
            .unwrap()
    }

    fn get(&self, key: &str) -> Option<Row> {
        run(self.conn.get(self.items(), &[key.to_string()]))
            .unwrap()
            .pop()
    }

    /// Runs SQL on the connector's own connection, as a test's back door.
    fn sql(&self, sql: &str, params: impl rusqlite::Params) {
        self.conn.lock().execute(sql, params).unwrap();
    }

    fn read_all(&self, table: TableRef<'_>, since: Option<Cursor>, page_size: usize) -> Vec<Row> {
        let req = ReadRequest {
            table,
            filter: None,
            since,
            page_size,
            tracking: crate::connectors::Tracking::Off,
        };
        let mut rows = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..10_000 {
            let page = run(self.conn.read_page(&req, next.as_deref())).unwrap();
            assert!(page.rows.len() <= page_size.max(1));
            rows.extend(page.rows);
            match page.next {
                Some(n) => next = Some(n),
                None => return rows,
            }
        }
        panic!("paging did not end");
    }
}

fn fields(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn create(key: Option<&str>, pairs: &[(&str, Value)]) -> WriteOp {
    WriteOp::Create {
        key: key.map(str::to_string),
        fields: fields(pairs),
    }
}

fn update(key: &str, etag: Option<&str>, pairs: &[(&str, Value)]) -> WriteOp {
    WriteOp::Update {
        key: key.to_string(),
        etag: etag.map(str::to_string),
        fields: fields(pairs),
    }
}

fn delete(key: &str, etag: Option<&str>) -> WriteOp {
    WriteOp::Delete {
        key: key.to_string(),
        etag: etag.map(str::to_string),
    }
}

fn s(text: &str) -> Value {
    Value::String(text.to_string())
}

fn dec(text: &str) -> Value {
    Value::Decimal(Decimal::from_str_exact(text).unwrap())
}

fn date(text: &str) -> Value {
    Value::Date(Date::from_str(text).unwrap())
}

fn ts(text: &str) -> Timestamp {
    Timestamp::from_str(text).unwrap()
}

fn guid(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn rejected(r: &Result<WriteOutcome, ConnectorError>) -> String {
    match r {
        Err(ConnectorError::Rejected(m)) => m.clone(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn every_type_round_trips_through_a_file() {
    let db = Db::file();
    let values = [
        ("name", s("Müller & Co \"quoted\"")),
        ("note", s("")),
        ("kind", s("Person")),
        ("count", Value::Int(-9_000_000_000)),
        ("choice", Value::Int(1)),
        ("amount", dec("12.34")),
        ("active", Value::Bool(true)),
        ("born", date("1999-12-31")),
        ("seen", Value::DateTime(ts("2024-02-29T23:59:59.123456Z"))),
        ("parent", s(&guid(7))),
    ];
    let out = db.create(&guid(1), &values);
    assert_eq!(out.key, guid(1));
    assert_eq!(out.etag.as_deref(), Some("1"));
    let row = db.get(&guid(1)).unwrap();
    assert_eq!(row.key, guid(1));
    assert_eq!(row.etag.as_deref(), Some("1"));
    assert_eq!(row.modified_on, out.modified_on);
    for (name, value) in &values {
        assert_eq!(row.fields[*name], *value, "{name}");
    }
    assert_eq!(row.fields["id"], s(&guid(1)));
    assert_eq!(
        row.fields["modifiedon"],
        Value::DateTime(out.modified_on.unwrap())
    );
    assert!(!row.fields.contains_key(VERSION_COLUMN));
    // Every plan column is in the row; those never written are null.
    assert_eq!(row.fields.len(), 12);

    // False, zero and extreme values survive too, and a fresh connector reads them.
    let extremes = [
        ("count", Value::Int(i64::MIN)),
        ("choice", Value::Int(0)),
        ("active", Value::Bool(false)),
        ("born", date("0001-01-01")),
        ("seen", Value::DateTime(ts("1969-12-31T23:59:59.999999Z"))),
    ];
    db.create(&guid(2), &extremes);
    let again = SqliteConnector::open(db.path.as_deref().unwrap()).unwrap();
    let row = run(again.get(db.items(), &[guid(2)]))
        .unwrap()
        .pop()
        .unwrap();
    for (name, value) in &extremes {
        assert_eq!(row.fields[*name], *value, "{name}");
    }
    assert_eq!(row.fields["name"], Value::Null);
}

#[test]
fn decimals_are_exact_and_stored_normalized() {
    let db = Db::memory();
    let cases = [
        (
            "79228162514264337593543950335",
            "79228162514264337593543950335",
        ),
        (
            "-79228162514264337593543950335",
            "-79228162514264337593543950335",
        ),
        (
            "0.0000000000000000000000000001",
            "0.0000000000000000000000000001",
        ),
        ("0.1", "0.1"),
        ("12.50", "12.5"),
        ("100.000", "100"),
        ("-0.00", "0"),
        (
            "1234567890.123456789012345678",
            "1234567890.123456789012345678",
        ),
    ];
    for (i, (input, stored)) in cases.iter().enumerate() {
        db.create(&guid(i), &[("amount", dec(input))]);
        let text: String = db
            .conn
            .lock()
            .query_row("SELECT amount FROM items WHERE id = ?1", [guid(i)], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(text, *stored);
        let Value::Decimal(back) = db.get(&guid(i)).unwrap().fields["amount"].clone() else {
            panic!("not a decimal");
        };
        assert_eq!(back, Decimal::from_str_exact(input).unwrap());
        assert_eq!(back.to_string(), *stored);
    }
    // Equality is exact: 12.500 finds the row written as 12.50, 12.5000000001 does not.
    let find = |v: &str| {
        run(db
            .conn
            .find(db.items(), &[("amount".into(), dec(v))], false))
        .unwrap()
    };
    assert_eq!(find("12.500").len(), 1);
    assert_eq!(find("12.5000000000000000000000001").len(), 0);
    // An int goes into a decimal column as its number.
    db.create(&guid(100), &[("amount", Value::Int(7))]);
    assert_eq!(db.get(&guid(100)).unwrap().fields["amount"], dec("7"));
}

#[test]
fn null_clears_and_absent_leaves_alone() {
    let db = Db::memory();
    db.create(
        &guid(1),
        &[
            ("name", s("a")),
            ("count", Value::Int(1)),
            ("note", Value::Null),
        ],
    );
    assert_eq!(db.get(&guid(1)).unwrap().fields["note"], Value::Null);
    db.write_one(
        db.items(),
        update(
            &guid(1),
            None,
            &[("name", Value::Absent), ("count", Value::Null)],
        ),
    )
    .unwrap();
    let row = db.get(&guid(1)).unwrap();
    assert_eq!(row.fields["name"], s("a"));
    assert_eq!(row.fields["count"], Value::Null);
}

#[test]
fn values_are_stored_in_canonical_text() {
    let db = Db::memory();
    db.create(
        &guid(1).to_uppercase(),
        &[
            ("active", Value::Bool(true)),
            ("born", date("2024-01-02")),
            ("seen", Value::DateTime(ts("2024-01-02T03:04:05.5+01:00"))),
            ("parent", s("KEPT-AS-IS")),
        ],
    );
    let (id, active, born, seen, modified): (String, i64, String, String, String) = db
        .conn
        .lock()
        .query_row(
            "SELECT id, active, born, seen, modifiedon FROM items",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(id, guid(1));
    assert_eq!(active, 1);
    assert_eq!(born, "2024-01-02");
    assert_eq!(seen, "2024-01-02T02:04:05.500000Z");
    assert_eq!(modified.len(), "2024-01-02T02:04:05.500000Z".len());
    assert!(modified.ends_with('Z'));
    // Lookups are text as given; GUID keys are lower case whatever case the caller used.
    assert_eq!(db.get(&guid(1)).unwrap().fields["parent"], s("KEPT-AS-IS"));
    assert!(db.get(&guid(1).to_uppercase()).is_some());
}

#[test]
fn timestamps_have_fixed_width_and_sort_as_text() {
    let cases = [
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999999Z",
        "1970-01-01T00:00:00Z",
        "2024-01-01T00:00:00.000001Z",
        "2024-01-01T00:00:00.1Z",
        "9999-12-30T00:00:00.999999Z",
    ];
    let texts: Vec<String> = cases
        .iter()
        .map(|c| codec::format_timestamp(ts(c)))
        .collect();
    assert!(texts.iter().all(|t| t.len() == 27), "{texts:?}");
    assert!(texts.windows(2).all(|w| w[0] < w[1]), "{texts:?}");
    assert_eq!(texts[4], "2024-01-01T00:00:00.100000Z");
    for (c, t) in cases.iter().zip(&texts) {
        assert_eq!(ts(t), ts(c));
    }
    // Nanoseconds are cut to microseconds.
    assert_eq!(
        codec::format_timestamp(ts("2024-01-01T00:00:00.123456789Z")),
        "2024-01-01T00:00:00.123456Z"
    );
}

#[test]
fn stamps_strictly_increase() {
    let mut last = codec::next_stamp().unwrap();
    for _ in 0..20_000 {
        let next = codec::next_stamp().unwrap();
        assert!(next > last, "{next} after {last}");
        assert_eq!(next.subsec_nanosecond() % 1000, 0);
        last = next;
    }
    // Writes: every create and update gets a later stamp than the write before, in one batch
    // and across batches, and the row shows the stamp the write returned.
    let db = Db::memory();
    let ops: Vec<WriteOp> = (0..300).map(|i| create(Some(&guid(i)), &[])).collect();
    let mut stamps: Vec<Timestamp> = db
        .write(db.items(), &ops)
        .into_iter()
        .map(|r| r.unwrap().modified_on.unwrap())
        .collect();
    for i in 0..300 {
        let out = db
            .write_one(
                db.items(),
                update(&guid(i), None, &[("count", Value::Int(1))]),
            )
            .unwrap();
        assert_eq!(db.get(&guid(i)).unwrap().modified_on, out.modified_on);
        stamps.push(out.modified_on.unwrap());
    }
    assert!(stamps.windows(2).all(|w| w[0] < w[1]));
    let now = Timestamp::now();
    assert!(stamps[0] > now - jiff::SignedDuration::from_secs(60));
}

/// Sets rows' modified-on directly, the way another process with the same clock reading could.
fn force_stamp(db: &Db, keys: &[String], stamp: &str) {
    for k in keys {
        db.sql("UPDATE items SET modifiedon = ?1 WHERE id = ?2", (stamp, k));
    }
}

#[test]
fn keyset_paging_with_tied_stamps_skips_and_repeats_nothing() {
    let db = Db::file();
    let keys: Vec<String> = (0..61).map(|i| guid(i * 7919 % 1000)).collect();
    let ops: Vec<WriteOp> = keys.iter().map(|k| create(Some(k), &[])).collect();
    assert!(db.write(db.items(), &ops).iter().all(Result::is_ok));
    // Four stamps shared by many rows each; the last rows keep their own stamps.
    let stamps = [
        "2024-01-01T00:00:00.000000Z",
        "2024-01-01T00:00:00.000001Z",
        "2024-01-02T00:00:00.000000Z",
        "2024-03-01T12:00:00.500000Z",
    ];
    for (group, stamp) in keys.chunks(15).zip(stamps) {
        force_stamp(&db, group, stamp);
    }
    let all = db.read_all(db.items(), None, 1000);
    let mut expected: Vec<(Timestamp, String)> = all
        .iter()
        .map(|r| (r.modified_on.unwrap(), r.key.clone()))
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 61);
    let origin = Cursor {
        modified_on: ts("2000-01-01T00:00:00Z"),
        key: String::new(),
    };
    for page_size in [1, 2, 3, 4, 5, 7, 14, 15, 16, 30, 60, 61, 62, 5000, 100_000] {
        let rows = db.read_all(db.items(), Some(origin.clone()), page_size);
        let got: Vec<(Timestamp, String)> = rows
            .iter()
            .map(|r| (r.modified_on.unwrap(), r.key.clone()))
            .collect();
        assert_eq!(got, expected, "page size {page_size}");
    }
    // From a cursor inside a tie: the rest of the tie, then everything later.
    let (m, k) = expected[20].clone();
    for page_size in [1, 4, 100] {
        let cursor = Cursor {
            modified_on: m,
            key: k.clone(),
        };
        let rows = db.read_all(db.items(), Some(cursor), page_size);
        let got: Vec<(Timestamp, String)> = rows
            .iter()
            .map(|r| (r.modified_on.unwrap(), r.key.clone()))
            .collect();
        assert_eq!(got, expected[21..], "page size {page_size}");
    }
    // From the last row: nothing, and no continuation.
    let (m, k) = expected[60].clone();
    let req = ReadRequest {
        table: db.items(),
        filter: None,
        since: Some(Cursor {
            modified_on: m,
            key: k,
        }),
        page_size: 10,
        tracking: crate::connectors::Tracking::Off,
    };
    let page = run(db.conn.read_page(&req, None)).unwrap();
    assert!(page.rows.is_empty() && page.next.is_none());
    // A write after the cursor shows up in the next read from it.
    db.write_one(db.items(), update(&expected[3].1, None, &[]))
        .unwrap();
    let later = db.read_all(db.items(), req.since.clone(), 10);
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].key, expected[3].1);
}

#[test]
fn full_reads_page_in_key_order() {
    let db = Db::memory();
    // Integer keys order as numbers (9 before 10), not as text.
    let ops: Vec<WriteOp> = (1..=25)
        .map(|i| create(Some(&i.to_string()), &[("label", s(&format!("n{i}")))]))
        .collect();
    assert!(db.write(db.numbers(), &ops).iter().all(Result::is_ok));
    let expected: Vec<String> = (1..=25).map(|i: i32| i.to_string()).collect();
    for page_size in [1, 2, 3, 10, 24, 25, 26, 1000] {
        let keys: Vec<String> = db
            .read_all(db.numbers(), None, page_size)
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(keys, expected, "page size {page_size}");
    }
    // Since a time, with no key: every row stamped at or after it, integer keys included.
    db.sql(
        "UPDATE numbers SET modified_on = '2024-05-05T00:00:00.000000Z'",
        (),
    );
    for (stamp, count) in [
        ("2024-05-05T00:00:00Z", 25),
        ("2024-05-05T00:00:00.000001Z", 0),
    ] {
        let since = Cursor {
            modified_on: ts(stamp),
            key: String::new(),
        };
        for page_size in [1, 7, 100] {
            let keys: Vec<String> = db
                .read_all(db.numbers(), Some(since.clone()), page_size)
                .into_iter()
                .map(|r| r.key)
                .collect();
            assert_eq!(
                keys,
                expected[..count],
                "since {stamp}, page size {page_size}"
            );
        }
    }
    let since = Cursor {
        modified_on: ts("2024-05-05T00:00:00Z"),
        key: "9".into(),
    };
    let keys: Vec<String> = db
        .read_all(db.numbers(), Some(since), 3)
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, expected[9..]);
    let row = db.read_all(db.numbers(), None, 1).remove(9);
    assert_eq!(row.fields["n"], Value::Int(10));
    assert_eq!(row.fields["label"], s("n10"));

    // Text keys order as text; an empty table is one empty page.
    let empty = db.read_all(db.items(), None, 10);
    assert!(empty.is_empty());
    let keys: Vec<String> = (0..30).map(|i| guid(i * 31 % 30)).collect();
    let ops: Vec<WriteOp> = keys.iter().map(|k| create(Some(k), &[])).collect();
    db.write(db.items(), &ops);
    let mut sorted = keys.clone();
    sorted.sort();
    let got: Vec<String> = db
        .read_all(db.items(), None, 4)
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(got, sorted);
}

#[test]
fn stale_etags_conflict() {
    let db = Db::memory();
    let created = db.create(&guid(1), &[("count", Value::Int(1))]);
    assert_eq!(created.etag.as_deref(), Some("1"));
    let first = db
        .write_one(
            db.items(),
            update(&guid(1), Some("1"), &[("count", Value::Int(2))]),
        )
        .unwrap();
    assert_eq!(first.etag.as_deref(), Some("2"));
    assert!(first.modified_on > created.modified_on);
    assert_eq!(db.get(&guid(1)).unwrap().etag.as_deref(), Some("2"));
    // The same etag again is stale now; so is a malformed one.
    for stale in ["1", "W/\"2\"", ""] {
        let r = db.write_one(
            db.items(),
            update(&guid(1), Some(stale), &[("count", Value::Int(3))]),
        );
        assert_eq!(
            r,
            Err(ConnectorError::Conflict {
                table: "items".into(),
                key: guid(1)
            })
        );
    }
    let r = db.write_one(db.items(), delete(&guid(1), Some("1")));
    assert!(matches!(r, Err(ConnectorError::Conflict { .. })), "{r:?}");
    let row = db.get(&guid(1)).unwrap();
    assert_eq!(row.fields["count"], Value::Int(2));
    assert_eq!(row.etag.as_deref(), Some("2"));
    // Without an etag writes are unconditional.
    let out = db
        .write_one(
            db.items(),
            update(&guid(1), None, &[("count", Value::Int(4))]),
        )
        .unwrap();
    assert_eq!(out.etag.as_deref(), Some("3"));
    db.write_one(db.items(), delete(&guid(1), Some("3")))
        .unwrap();
    assert!(db.get(&guid(1)).is_none());
}

#[test]
fn writes_to_missing_rows_are_not_found() {
    let db = Db::memory();
    let not_found = |key: &str| {
        Err(ConnectorError::NotFound {
            table: "items".into(),
            key: key.into(),
        })
    };
    let k = guid(404);
    assert_eq!(
        db.write_one(db.items(), update(&k, None, &[("count", Value::Int(1))])),
        not_found(&k)
    );
    assert_eq!(
        db.write_one(db.items(), update(&k, Some("1"), &[])),
        not_found(&k)
    );
    assert_eq!(db.write_one(db.items(), delete(&k, None)), not_found(&k));
    assert_eq!(
        db.write_one(db.items(), delete(&k, Some("1"))),
        not_found(&k)
    );
    // A key that cannot be an integer is no row of an integer-keyed table.
    let r = db.write_one(db.numbers(), delete("abc", None));
    assert!(matches!(r, Err(ConnectorError::NotFound { .. })), "{r:?}");
    assert!(run(db.conn.get(db.numbers(), &["abc".into()]))
        .unwrap()
        .is_empty());
}

#[test]
fn bad_writes_are_rejected_alone() {
    let db = Db::file();
    db.create(&guid(1), &[("name", s("first"))]);
    let ops = [
        create(Some(&guid(2)), &[("name", s("ok before"))]),
        create(Some(&guid(3)), &[("name", s("x")), ("colour", s("red"))]),
        create(Some(&guid(1)), &[("name", s("duplicate"))]),
        create(Some(&guid(4)), &[("count", s("not a number"))]),
        update(&guid(1), None, &[("shoe size", Value::Int(42))]),
        update(&guid(1), None, &[(VERSION_COLUMN, Value::Int(99))]),
        update(&guid(1), None, &[("id", s(&guid(9)))]),
        create(
            Some(&guid(5)),
            &[("amount", dec("1.5")), ("choice", dec("1.5"))],
        ),
        create(Some("not-a-guid-but-text"), &[("name", s("ok after"))]),
    ];
    let results = db.write(db.items(), &ops);
    assert_eq!(results.len(), ops.len());
    assert!(results[0].is_ok());
    assert!(
        rejected(&results[1]).contains("no column `colour`"),
        "{:?}",
        results[1]
    );
    assert!(
        rejected(&results[2]).contains("already exists"),
        "{:?}",
        results[2]
    );
    assert!(rejected(&results[2]).contains(&guid(1)));
    let m = rejected(&results[3]);
    assert!(m.contains("`count`") && m.contains("whole number"), "{m}");
    assert!(rejected(&results[4]).contains("no column `shoe size`"));
    assert!(rejected(&results[5]).contains(VERSION_COLUMN));
    assert!(rejected(&results[6]).contains("cannot be changed"));
    assert!(rejected(&results[7]).contains("`choice`"));
    assert!(results[8].is_ok());
    // The good writes are there, the bad ones left nothing behind.
    let keys: Vec<String> = db
        .read_all(db.items(), None, 100)
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, [guid(1), guid(2), "not-a-guid-but-text".to_string()]);
    assert_eq!(db.get(&guid(1)).unwrap().fields["name"], s("first"));
    assert_eq!(db.get(&guid(1)).unwrap().etag.as_deref(), Some("1"));

    // A NOT NULL column left empty is the database refusing the row.
    let strict = r#"{"format_version": 1, "tables": [{"name": "strict", "key": "id",
        "columns": [{"name": "id", "type": "guid", "nullable": false},
                    {"name": "name", "type": "string", "nullable": false}]}]}"#;
    let strict = schema::load(strict).unwrap();
    db.conn.create_tables(&strict).unwrap();
    let info = info_of(&strict.tables[0]);
    let table = TableRef {
        name: "strict",
        info: &info,
    };
    let results = db.write(
        table,
        &[
            create(None, &[("name", s("before"))]),
            create(None, &[]),
            create(None, &[("name", s("n"))]),
        ],
    );
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        rejected(&results[1]).contains("NOT NULL"),
        "{:?}",
        results[1]
    );
    assert!(results[2].is_ok());
    // The strict table has no modified-on column: writes carry no stamp.
    assert_eq!(results[2].as_ref().unwrap().modified_on, None);
    // The refused statement was undone alone: the writes around it are there, once each.
    let mut names: Vec<Value> = db
        .read_all(table, None, 100)
        .into_iter()
        .map(|r| r.fields["name"].clone())
        .collect();
    names.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(names, [s("before"), s("n")]);
}

#[test]
fn get_reads_many_keys_in_chunks() {
    let db = Db::file();
    let ops: Vec<WriteOp> = (0..1200)
        .map(|i| create(Some(&guid(i)), &[("count", Value::Int(i as i64))]))
        .collect();
    for chunk in ops.chunks(500) {
        assert!(db.write(db.items(), chunk).iter().all(Result::is_ok));
    }
    let mut keys: Vec<String> = (100..1200).map(guid).collect();
    keys.extend((5000..5050).map(guid)); // missing
    keys[0] = keys[0].to_uppercase(); // GUID keys match whatever their case
    let rows = run(db.conn.get(db.items(), &keys)).unwrap();
    assert_eq!(rows.len(), 1100);
    let got: BTreeSet<String> = rows.iter().map(|r| r.key.clone()).collect();
    let want: BTreeSet<String> = (100..1200).map(guid).collect();
    assert_eq!(got, want);
    for r in &rows {
        let n = i64::from_str_radix(&r.key[24..], 16).unwrap();
        assert_eq!(r.fields["count"], Value::Int(n));
    }
    assert!(run(db.conn.get(db.items(), &[])).unwrap().is_empty());
}

#[test]
fn find_matches_equal_columns() {
    let db = Db::memory();
    db.create(
        &guid(1),
        &[
            ("name", s("MÜLLER")),
            ("kind", s("Person")),
            ("count", Value::Int(1)),
        ],
    );
    db.create(
        &guid(2),
        &[
            ("name", s("müller")),
            ("kind", s("Company")),
            ("count", Value::Int(1)),
        ],
    );
    db.create(&guid(3), &[("name", s("Mueller")), ("kind", s("Person"))]);
    let find = |equal: &[(&str, Value)], ignore_case: bool| -> Vec<String> {
        let equal: Vec<(String, Value)> = equal
            .iter()
            .map(|(c, v)| (c.to_string(), v.clone()))
            .collect();
        run(db.conn.find(db.items(), &equal, ignore_case))
            .unwrap()
            .into_iter()
            .map(|r| r.key)
            .collect()
    };
    assert_eq!(find(&[("name", s("Müller"))], false), Vec::<String>::new());
    assert_eq!(find(&[("name", s("müller"))], false), [guid(2)]);
    // Without case, beyond ASCII, the way the evaluator lowers text.
    assert_eq!(find(&[("name", s("Müller"))], true), [guid(1), guid(2)]);
    assert_eq!(
        find(&[("name", s("müller")), ("kind", s("PERSON"))], true),
        [guid(1)]
    );
    assert_eq!(
        find(&[("name", s("müller")), ("count", Value::Int(1))], true),
        [guid(1), guid(2)]
    );
    // Null equals null, as in the language; absent equals nothing.
    assert_eq!(find(&[("count", Value::Null)], false), [guid(3)]);
    assert_eq!(
        find(&[("count", Value::Absent)], false),
        Vec::<String>::new()
    );
    // GUID columns compare without case anyway.
    assert_eq!(
        find(&[("id", s(&guid(3).to_uppercase()))], false),
        [guid(3)]
    );
    let r = run(db
        .conn
        .find(db.items(), &[("nope".into(), Value::Int(1))], false));
    assert!(matches!(r, Err(ConnectorError::Fatal(m)) if m.contains("`nope`")));
    let r = run(db.conn.find(db.items(), &[("count".into(), s("x"))], false));
    assert!(matches!(r, Err(ConnectorError::Rejected(_))), "{r:?}");
}

#[test]
fn creates_take_client_keys_or_make_them() {
    let db = Db::memory();
    // A client key, in any case, is stored lower case.
    let out = db
        .write_one(
            db.items(),
            create(Some("6F9619FF-8B86-D011-B42D-00C04FC964FF"), &[]),
        )
        .unwrap();
    assert_eq!(out.key, "6f9619ff-8b86-d011-b42d-00c04fc964ff");
    // The key may come as a field instead, or as both if they agree.
    let out = db
        .write_one(db.items(), create(None, &[("id", s(&guid(2)))]))
        .unwrap();
    assert_eq!(out.key, guid(2));
    let out = db
        .write_one(db.items(), create(Some(&guid(3)), &[("id", s(&guid(3)))]))
        .unwrap();
    assert_eq!(out.key, guid(3));
    let r = db.write_one(db.items(), create(Some(&guid(4)), &[("id", s(&guid(5)))]));
    assert!(rejected(&r).contains("cannot set its key column"));
    // No key: a time-ordered UUID (v7) in lower case, each after the one made before it, so
    // new rows go to the end of the key order.
    let out = db.write_one(db.items(), create(None, &[])).unwrap();
    let id = uuid::Uuid::parse_str(&out.key).unwrap();
    assert_eq!(id.get_version_num(), 7);
    assert_eq!(out.key, out.key.to_lowercase());
    assert!(db.get(&out.key).is_some());
    let made: Vec<String> = (0..50)
        .map(|_| db.write_one(db.items(), create(None, &[])).unwrap().key)
        .collect();
    let mut sorted = made.clone();
    sorted.sort();
    assert_eq!(made, sorted);
    assert!(made[0] > out.key);
    // Integer keys: the next number, or the one given.
    let results = db.write(
        db.numbers(),
        &[
            create(None, &[]),
            create(None, &[]),
            create(Some("10"), &[]),
            create(None, &[]),
        ],
    );
    let keys: Vec<String> = results.into_iter().map(|r| r.unwrap().key).collect();
    assert_eq!(keys, ["1", "2", "10", "11"]);
    // An integer key that exists is refused as a text one is, the row left as it was.
    let r = db.write_one(db.numbers(), create(Some("10"), &[]));
    assert!(rejected(&r).contains("already exists"), "{r:?}");
    let r = db.write_one(db.numbers(), create(Some("ten"), &[]));
    assert!(rejected(&r).contains("cannot be a key"));
}

#[test]
fn introspect_gives_back_the_standard_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/schemas");
    for name in ["business-central.json", "dataverse.json"] {
        let text = std::fs::read_to_string(root.join(name)).unwrap();
        let snapshot = schema::load(&text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("system.db");
        let conn = SqliteConnector::open(&path).unwrap();
        conn.create_tables(&snapshot).unwrap();
        conn.create_tables(&snapshot).unwrap(); // again: nothing changes
        assert_eq!(conn.introspect().unwrap(), snapshot, "{name}");
        // A new connector on the file sees the same, and the result passes validation.
        let back = SqliteConnector::open(&path).unwrap().introspect().unwrap();
        schema::validate(&back).unwrap();
        assert_eq!(schema::to_json(&back), schema::to_json(&snapshot), "{name}");
    }
    let db = Db::memory();
    assert_eq!(db.conn.introspect().unwrap(), items_schema());
}

#[test]
fn introspect_reads_tables_it_did_not_create() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.sqlite");
    {
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch(
            r#"
            CREATE TABLE people (
                person_id INTEGER PRIMARY KEY,
                full_name VARCHAR(80) NOT NULL,
                bio TEXT,
                score REAL,
                price NUMERIC(10, 2),
                vip BOOLEAN,
                birthday DATE,
                modifiedon DATETIME,
                external_ref UUID,
                _private TEXT,
                blob_data BLOB
            );
            CREATE TABLE log (line TEXT);
            CREATE TABLE pairs (a TEXT, b TEXT, PRIMARY KEY (a, b));
            CREATE TABLE "odd ""name""" ("the key" TEXT PRIMARY KEY, lastModifiedDateTime TIMESTAMP);
            "#,
        )
        .unwrap();
    }
    let got = SqliteConnector::open(&path).unwrap().introspect().unwrap();
    let want = r#"{
      "format_version": 1,
      "source": "SQLite database foreign.sqlite",
      "tables": [
        {"name": "people", "key": "person_id", "modified_on": "modifiedon", "columns": [
          {"name": "person_id", "type": "int"},
          {"name": "full_name", "type": "string", "max_length": 80, "nullable": false},
          {"name": "bio", "type": "string"},
          {"name": "score", "type": "decimal"},
          {"name": "price", "type": "decimal", "precision": 10, "scale": 2},
          {"name": "vip", "type": "bool"},
          {"name": "birthday", "type": "date"},
          {"name": "modifiedon", "type": "datetime"},
          {"name": "external_ref", "type": "guid"},
          {"name": "_private", "type": "string"},
          {"name": "blob_data", "type": "string"}
        ]},
        {"name": "odd \"name\"", "key": "the key", "modified_on": "lastModifiedDateTime",
         "columns": [
          {"name": "the key", "type": "string"},
          {"name": "lastModifiedDateTime", "type": "datetime"}
        ]}
      ]
    }"#;
    assert_eq!(got, schema::load(want).unwrap());
}

#[test]
fn declared_types_map_both_ways() {
    use crate::schema::ColumnType;
    let types = [
        ColumnType::String { max_length: None },
        ColumnType::String {
            max_length: Some(20),
        },
        ColumnType::Int,
        ColumnType::DECIMAL,
        ColumnType::Decimal {
            precision: Some(19),
            scale: Some(4),
        },
        ColumnType::Bool,
        ColumnType::Date,
        ColumnType::Datetime,
        ColumnType::Guid,
        ColumnType::Option { options: vec![] },
        ColumnType::Enum { members: vec![] },
        ColumnType::Lookup { targets: vec![] },
    ];
    for ty in types {
        assert_eq!(ddl::inferred_type(&ddl::declared_type(&ty)), ty);
    }
    assert_eq!(ddl::inferred_type("bigint"), ColumnType::Int);
    assert_eq!(
        ddl::inferred_type("nvarchar(12)"),
        ColumnType::String {
            max_length: Some(12)
        }
    );
    assert_eq!(ddl::inferred_type("double precision"), ColumnType::DECIMAL);
    assert_eq!(
        ddl::inferred_type("numeric(10)"),
        ColumnType::Decimal {
            precision: Some(10),
            scale: Some(0)
        }
    );
    assert_eq!(
        ddl::inferred_type("timestamp with time zone"),
        ColumnType::Datetime
    );
    assert_eq!(
        ddl::inferred_type("json"),
        ColumnType::String { max_length: None }
    );
}

#[test]
fn two_connectors_share_a_file() {
    let db = Db::file();
    let path = db.path.clone().unwrap();
    let other = SqliteConnector::open(&path).unwrap();
    // Another connection holds the write lock for a while; the write waits for it.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder_path = path.clone();
    let holder = std::thread::spawn(move || {
        let raw = Connection::open(&holder_path).unwrap();
        raw.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        raw.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    let started = Instant::now();
    let out = run(other.write(db.items(), &[create(Some(&guid(1)), &[])]));
    assert!(out[0].is_ok(), "{out:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    holder.join().unwrap();
    // Readers are not blocked by a writer (WAL).
    let raw = Connection::open(&path).unwrap();
    raw.execute_batch("BEGIN IMMEDIATE").unwrap();
    assert!(db.get(&guid(1)).is_some());
    // A lock held longer than the busy timeout: the write fails as transient, all of it.
    other.set_busy_timeout(Duration::from_millis(50)).unwrap();
    let out = run(other.write(
        db.items(),
        &[create(Some(&guid(2)), &[]), delete(&guid(1), None)],
    ));
    assert_eq!(out.len(), 2);
    assert!(
        out.iter()
            .all(|r| matches!(r, Err(ConnectorError::Transient(_)))),
        "{out:?}"
    );
    raw.execute_batch("COMMIT").unwrap();

    // Two connectors writing at once from two threads: every row arrives, stamps are unique.
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let path = path.clone();
            let info = db.items.clone();
            std::thread::spawn(move || {
                let conn = SqliteConnector::open(&path).unwrap();
                let table = TableRef {
                    name: "items",
                    info: &info,
                };
                for i in 0..100 {
                    let key = guid(1000 * (t + 1) + i);
                    let r = run(conn.write(table, &[create(Some(&key), &[])]));
                    r[0].as_ref().unwrap();
                    let r = run(conn.write(table, &[update(&key, Some("1"), &[])]));
                    r[0].as_ref().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let rows = db.read_all(db.items(), None, 64);
    assert_eq!(rows.len(), 201);
    let stamps: BTreeSet<Timestamp> = rows.iter().map(|r| r.modified_on.unwrap()).collect();
    assert_eq!(stamps.len(), 201);
    assert!(rows
        .iter()
        .filter(|r| r.key != guid(1))
        .all(|r| r.etag.as_deref() == Some("2")));
}

#[test]
fn odd_names_are_quoted() {
    let text = r#"{"format_version": 1, "tables": [{"name": "we\"ird; DROP TABLE x; --",
        "key": "the \"key\"", "modified_on": "when?",
        "columns": [{"name": "the \"key\"", "type": "string", "nullable": false},
                    {"name": "select", "type": "int"},
                    {"name": "when?", "type": "datetime"},
                    {"name": "ünïcödé column", "type": "string"}]}]}"#;
    let snapshot = schema::load(text).unwrap();
    let db = Db::memory();
    db.conn.create_tables(&snapshot).unwrap();
    let info = info_of(&snapshot.tables[0]);
    let table = TableRef {
        name: &snapshot.tables[0].name,
        info: &info,
    };
    let r = run(db.conn.write(
        table,
        &[create(
            Some("'; --"),
            &[("select", Value::Int(1)), ("ünïcödé column", s("ok"))],
        )],
    ));
    assert!(r[0].is_ok(), "{r:?}");
    let rows = db.read_all(table, None, 10);
    assert_eq!(rows[0].key, "'; --");
    assert_eq!(rows[0].fields["ünïcödé column"], s("ok"));
    let since = Cursor {
        modified_on: Timestamp::UNIX_EPOCH,
        key: String::new(),
    };
    assert_eq!(db.read_all(table, Some(since), 10).len(), 1);
    let back = db.conn.introspect().unwrap();
    assert_eq!(
        back.table(&snapshot.tables[0].name),
        Some(&snapshot.tables[0])
    );
}

#[test]
fn misconfigured_tables_are_fatal() {
    let db = Db::memory();
    let fatal = |r: Result<Vec<Row>, ConnectorError>| match r {
        Err(ConnectorError::Fatal(m)) => m,
        other => panic!("expected a fatal error, got {other:?}"),
    };
    let mut info = db.items.clone();
    let missing = TableRef {
        name: "nothing",
        info: &info,
    };
    assert!(fatal(run(db.conn.get(missing, &[guid(1)]))).contains("no table `nothing`"));
    let out = run(db
        .conn
        .write(missing, &[delete("a", None), delete("b", None)]));
    assert_eq!(out.len(), 2);
    assert!(out
        .iter()
        .all(|r| matches!(r, Err(ConnectorError::Fatal(_)))));
    info.columns.insert(
        "ghost".into(),
        ColumnInfo {
            ty: ColumnKind::String,
            targets: vec![],
            ..Default::default()
        },
    );
    let ghost = TableRef {
        name: "items",
        info: &info,
    };
    assert!(fatal(run(db.conn.get(ghost, &[guid(1)]))).contains("no column `ghost`"));
    info.columns.remove("ghost");
    info.key = "name".into();
    let wrong_key = TableRef {
        name: "items",
        info: &info,
    };
    assert!(fatal(run(db.conn.get(wrong_key, &[guid(1)]))).contains("primary key"));
    info.key = "id".into();
    info.modified_on = None;
    let unstamped = TableRef {
        name: "items",
        info: &info,
    };
    let req = ReadRequest {
        table: unstamped,
        filter: None,
        since: Some(Cursor {
            modified_on: Timestamp::UNIX_EPOCH,
            key: String::new(),
        }),
        page_size: 10,
        tracking: crate::connectors::Tracking::Off,
    };
    let r = run(db.conn.read_page(&req, None)).map(|p| p.rows);
    assert!(fatal(r).contains("no modified-on column"));
    // A continuation from another kind of read, or none at all.
    let req = ReadRequest {
        table: db.items(),
        filter: None,
        since: None,
        page_size: 10,
        tracking: crate::connectors::Tracking::Off,
    };
    for bad in ["garbage", r#"{"m":"2024-01-01T00:00:00.000000Z","k":"x"}"#] {
        let r = run(db.conn.read_page(&req, Some(bad))).map(|p| p.rows);
        assert!(fatal(r).contains("continuation"));
    }
    // Stored data that is not of the column's type fails the read, never reads as null.
    db.create(&guid(1), &[]);
    // Bad stored data fails that row alone: it comes back marked, without the bad value.
    db.sql("UPDATE items SET amount = 'lots' WHERE id = ?1", [guid(1)]);
    let rows = run(db.conn.get(db.items(), &[guid(1)])).unwrap();
    let m = rows[0].invalid.clone().unwrap_or_default();
    assert!(m.contains("`amount`") && m.contains("lots"), "{m}");
    assert!(!rows[0].fields.contains_key("amount"));
}

#[test]
fn foreign_values_read_leniently() {
    use rusqlite::types::ValueRef;
    let ok = |ty: ColumnKind, raw: ValueRef<'_>| codec::decode(ty, raw).unwrap();
    assert_eq!(ok(ColumnKind::Decimal, ValueRef::Integer(3)), dec("3"));
    assert_eq!(ok(ColumnKind::Decimal, ValueRef::Real(0.1)), dec("0.1"));
    assert_eq!(ok(ColumnKind::Int, ValueRef::Real(3.0)), Value::Int(3));
    assert_eq!(ok(ColumnKind::Int, ValueRef::Text(b" 42 ")), Value::Int(42));
    assert_eq!(
        ok(ColumnKind::Bool, ValueRef::Text(b"true")),
        Value::Bool(true)
    );
    assert_eq!(ok(ColumnKind::String, ValueRef::Integer(5)), s("5"));
    assert_eq!(ok(ColumnKind::Guid, ValueRef::Text(b"ABC")), s("abc"));
    assert_eq!(
        ok(ColumnKind::Datetime, ValueRef::Text(b"2024-01-01T10:00:00")),
        Value::DateTime(ts("2024-01-01T10:00:00Z"))
    );
    assert_eq!(ok(ColumnKind::Date, ValueRef::Null), Value::Null);
    assert!(codec::decode(ColumnKind::Int, ValueRef::Real(3.5)).is_err());
    assert!(codec::decode(ColumnKind::Date, ValueRef::Text(b"31.01.2024")).is_err());
    assert!(codec::decode(ColumnKind::String, ValueRef::Blob(b"x")).is_err());
}

#[test]
fn since_reads_use_the_modified_on_index() {
    let db = Db::memory();
    let plan: Vec<String> = {
        let conn = db.conn.lock();
        let mut stmt = conn
            .prepare(
                r#"EXPLAIN QUERY PLAN SELECT * FROM "items"
                   WHERE ("modifiedon", "id") > (?1, ?2) ORDER BY "modifiedon", "id" LIMIT 10"#,
            )
            .unwrap();
        stmt.query_map(["x", "y"], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let plan = plan.join("\n");
    assert!(plan.contains("_syncmap_items_modified"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}

#[test]
fn capabilities_and_futures() {
    fn send<T: Send>(_: &T) {}
    let db = Db::memory();
    let caps = db.conn.capabilities();
    assert!(caps.client_keys);
    assert_eq!((caps.max_batch, caps.max_page), (500, 5000));
    // The runtime may move connector futures between threads.
    let req = ReadRequest {
        table: db.items(),
        filter: None,
        since: None,
        page_size: 1,
        tracking: crate::connectors::Tracking::Off,
    };
    send(&db.conn.read_page(&req, None));
    send(&db.conn.get(db.items(), &[]));
    send(&db.conn.find(db.items(), &[], false));
    send(&db.conn.write(db.items(), &[]));
    fn sync<T: Sync + Send>(_: &T) {}
    sync(&db.conn);
}
