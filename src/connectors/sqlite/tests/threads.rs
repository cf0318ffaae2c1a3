//! The connector's threads: a connector opened for a sync writes on a thread of its own —
//! batches written in the order they were sent, each with its own results (the writes handed
//! back beside them); one whose caller stopped waiting before it began not written; none once
//! the run's write gate is shut; a run able to wait until what it sent is done — and every
//! connector reads pages on a thread, which a caller that stopped waiting leaves usable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;

/// A connector on a file of its own, opened as a sync opens its systems.
fn for_sync() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("system.db");
    let conn = SqliteConnector::open_for_sync(&path).unwrap();
    Db::with(conn, Some(path), Some(dir))
}

/// `ops` and creates of keys from 10,000 on: a batch big enough to be written on the thread.
fn big(ops: &[WriteOp]) -> Vec<WriteOp> {
    let padding = (10_000..10_000 + super::super::SMALL_BATCH)
        .map(|n| create(Some(&n.to_string()), &[("label", s("padding"))]));
    ops.iter().cloned().chain(padding).collect()
}

/// The keys of the table's rows below 10,000 (not a batch's padding).
fn keys_below_padding(db: &Db) -> Vec<String> {
    db.read_all(db.numbers(), None, 100_000)
        .into_iter()
        .map(|r| r.key)
        .filter(|k| k.parse::<u32>().unwrap() < 10_000)
        .collect()
}

/// Whether the connector started its thread that writes.
fn writes_on_a_thread(db: &Db) -> bool {
    db.conn
        .writes_apart
        .as_ref()
        .is_some_and(|a| a.writer.get().is_some_and(Option::is_some))
}

/// Polls a future once, then drops it: its caller stopped waiting.
fn give_up<F: Future>(f: F) {
    let mut f = pin!(f);
    let _ = f.as_mut().poll(&mut Context::from_waker(Waker::noop()));
}

/// A gate that stays open until `shut` is set.
fn gate(shut: &Arc<AtomicBool>) -> crate::connectors::WriteGate {
    let shut = Arc::clone(shut);
    Arc::new(move || !shut.load(Ordering::SeqCst))
}

#[test]
fn a_connector_for_a_sync_lets_its_caller_go_on_while_it_writes() {
    assert!(!for_sync().conn.capabilities().writes_block);
    assert!(Db::file().conn.capabilities().writes_block);
    assert!(Db::memory().conn.capabilities().writes_block);
}

#[test]
fn batches_sent_together_are_written_in_the_order_sent_each_with_its_results() {
    let db = for_sync();
    let made = big(&[
        create(Some("1"), &[("label", s("one"))]),
        create(Some("2"), &[("label", s("two"))]),
    ]);
    // The second batch updates a row of the first and creates a key the first made: sent
    // before the first is answered, it only holds if the first is written before it.
    let next = [
        update("1", None, &[("label", s("uno"))]),
        create(Some("2"), &[("label", s("again"))]),
        create(Some("3"), &[("label", s("three"))]),
    ];
    let (first, second) = run(async {
        futures_util::future::join(
            db.conn.write(db.numbers(), &made),
            db.conn.write(db.numbers(), &next),
        )
        .await
    });
    assert!(first.iter().all(Result::is_ok), "{first:?}");
    assert!(second[0].is_ok() && second[2].is_ok(), "{second:?}");
    assert!(second[1].is_err(), "a key taken fails alone: {second:?}");
    assert!(writes_on_a_thread(&db));
    let labels: Vec<(String, Value)> = db
        .read_all(db.numbers(), None, 100_000)
        .into_iter()
        .filter(|r| r.key.parse::<u32>().unwrap() < 10_000)
        .map(|r| (r.key.clone(), r.fields["label"].clone()))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("1".to_string(), s("uno")),
            ("2".to_string(), s("two")),
            ("3".to_string(), s("three")),
        ]
    );
}

#[test]
fn writes_handed_to_the_thread_come_back_in_order_beside_their_results() {
    let db = for_sync();
    let ops = big(&[
        create(Some("1"), &[("label", s("one"))]),
        create(Some("1"), &[("label", s("again"))]),
    ]);
    let (back, results) = run(db.conn.write_handed(db.numbers(), ops.clone(), false));
    assert!(writes_on_a_thread(&db));
    assert_eq!(back, ops, "every write back, as sent and in order");
    assert_eq!(results.len(), ops.len());
    assert!(results[0].is_ok() && results[1].is_err(), "{results:?}");
    assert!(results[2..].iter().all(Result::is_ok), "{results:?}");
}

/// Another connection to the file holding its write lock, for a batch to wait behind.
fn hold_lock(db: &Db) -> Connection {
    let other = Connection::open(db.path.as_ref().unwrap()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    other
}

#[test]
fn a_batch_whose_caller_stopped_waiting_before_it_began_is_not_written() {
    let db = for_sync();
    let other = hold_lock(&db);
    let first = big(&[create(Some("1"), &[("label", s("one"))])]);
    let given_up = [create(Some("2"), &[("label", s("two"))])];
    let done = run(async {
        let mut write = pin!(db.conn.write(db.numbers(), &first));
        // The first batch waits for the lock; the second, behind it, is given up.
        let waiting =
            std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx).is_pending())).await;
        assert!(waiting);
        give_up(db.conn.write(db.numbers(), &given_up));
        other.execute_batch("COMMIT").unwrap();
        write.await
    });
    assert!(done.iter().all(Result::is_ok), "{done:?}");
    db.conn.wait_for_writes();
    assert_eq!(
        keys_below_padding(&db),
        ["1"],
        "the batch given up before it began is not written"
    );
}

#[test]
fn waiting_for_writes_returns_once_the_batches_sent_are_written() {
    let db = for_sync();
    let other = hold_lock(&db);
    let ops = big(&[create(Some("5"), &[("label", s("five"))])]);
    let mut write = pin!(db.conn.write(db.numbers(), &ops));
    let _ = write.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    let rows_once_waited = std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            db.conn.wait_for_writes();
            let reader = Connection::open(db.path.as_ref().unwrap()).unwrap();
            reader
                .query_row("SELECT count(*) FROM numbers WHERE n = 5", [], |r| {
                    r.get::<_, i64>(0)
                })
                .unwrap()
        });
        other.execute_batch("COMMIT").unwrap();
        waiting.join().unwrap()
    });
    // Read before the write's own answer is taken: waiting for writes saw it made.
    assert_eq!(rows_once_waited, 1);
    assert!(run(write)[0].is_ok());
}

#[test]
fn nothing_is_written_once_the_write_gate_is_shut() {
    for db in [for_sync(), Db::file()] {
        let shut = Arc::new(AtomicBool::new(false));
        db.conn.set_write_gate(Some(gate(&shut)));
        let first = [create(Some("1"), &[("label", s("one"))])];
        assert!(run(db.conn.write(db.numbers(), &first))[0].is_ok());
        shut.store(true, Ordering::SeqCst);
        let next = big(&[
            create(Some("2"), &[("label", s("two"))]),
            update("1", None, &[("label", s("uno"))]),
        ]);
        let refused = run(db.conn.write(db.numbers(), &next));
        assert!(
            refused
                .iter()
                .all(|r| matches!(r, Err(ConnectorError::Fatal(m)) if m.contains("lease"))),
            "{refused:?}"
        );
        let labels: Vec<Value> = db
            .read_all(db.numbers(), None, 100_000)
            .into_iter()
            .map(|r| r.fields["label"].clone())
            .collect();
        assert_eq!(
            labels,
            vec![s("one")],
            "nothing of the batch, padding included"
        );
    }
}

#[test]
fn a_batch_waiting_for_the_lock_is_not_written_if_the_gate_shuts_meanwhile() {
    let db = for_sync();
    let shut = Arc::new(AtomicBool::new(false));
    db.conn.set_write_gate(Some(gate(&shut)));
    let other = hold_lock(&db);
    let ops = big(&[create(Some("9"), &[("label", s("nine"))])]);
    let results = run(async {
        let mut write = pin!(db.conn.write(db.numbers(), &ops));
        // Sent to the thread, which waits for the lock `other` holds.
        let waiting =
            std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx).is_pending())).await;
        assert!(waiting);
        shut.store(true, Ordering::SeqCst);
        other.execute_batch("COMMIT").unwrap();
        write.await
    });
    assert!(results.iter().all(Result::is_err), "{results:?}");
    assert!(db.read_all(db.numbers(), None, 10).is_empty());
}

#[test]
fn a_read_whose_caller_stopped_waiting_leaves_the_connector_usable() {
    let db = Db::file();
    let ops: Vec<WriteOp> = (1..=3)
        .map(|n| create(Some(&n.to_string()), &[("label", s("x"))]))
        .collect();
    assert!(run(db.conn.write(db.numbers(), &ops))
        .iter()
        .all(Result::is_ok));
    let req = ReadRequest {
        table: db.numbers(),
        filter: None,
        since: None,
        page_size: 2,
        tracking: crate::connectors::Tracking::Off,
    };
    give_up(db.conn.read_page(&req, None));
    let keys: Vec<String> = db
        .read_all(db.numbers(), None, 2)
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, ["1", "2", "3"]);
}

#[test]
fn a_small_batch_with_nothing_under_way_is_written_inline() {
    let db = for_sync();
    let small = [create(Some("1"), &[("label", s("one"))])];
    assert!(run(db.conn.write(db.numbers(), &small))[0].is_ok());
    assert!(!writes_on_a_thread(&db), "no thread for a small batch");
    let results = run(db.conn.write(db.numbers(), &big(&[])));
    assert!(results.iter().all(Result::is_ok));
    assert!(writes_on_a_thread(&db));
    let small = [update("1", None, &[("label", s("uno"))])];
    assert!(run(db.conn.write(db.numbers(), &small))[0].is_ok());
    let row = run(db.conn.get(db.numbers(), &["1".to_string()])).unwrap();
    assert_eq!(row[0].fields["label"], s("uno"));
}
