//! A connector opened for a sync writes on a thread of its own: batches are written in the
//! order they were sent, each with its own results, reads see what was answered, and a batch
//! whose caller stopped waiting is still written (and found in the database, as after a lost
//! answer).

use super::*;

/// A connector on a file of its own, opened as a sync opens its systems.
fn for_sync() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("system.db");
    let conn = SqliteConnector::open_for_sync(&path).unwrap();
    Db::with(conn, Some(path), Some(dir))
}

/// Runs futures that wait for the thread that writes.
fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
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
    let made = [
        create(Some("1"), &[("label", s("one"))]),
        create(Some("2"), &[("label", s("two"))]),
    ];
    // The second batch updates a row of the first and creates a key the first made: sent
    // before the first is answered, it only holds if the first is written before it.
    let next = [
        update("1", None, &[("label", s("uno"))]),
        create(Some("2"), &[("label", s("again"))]),
        create(Some("3"), &[("label", s("three"))]),
    ];
    let (first, second) = block_on(async {
        futures_util::future::join(
            db.conn.write(db.numbers(), &made),
            db.conn.write(db.numbers(), &next),
        )
        .await
    });
    assert!(first.iter().all(Result::is_ok), "{first:?}");
    assert!(second[0].is_ok() && second[2].is_ok(), "{second:?}");
    assert!(second[1].is_err(), "a key taken fails alone: {second:?}");
    let labels: Vec<(String, Value)> = db
        .read_all(db.numbers(), None, 10)
        .into_iter()
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
fn a_batch_whose_caller_stopped_waiting_is_still_written() {
    let db = for_sync();
    let ops = [create(Some("7"), &[("label", s("seven"))])];
    {
        let mut write = pin!(db.conn.write(db.numbers(), &ops));
        // Sent to the thread on its first poll, then given up.
        let waker = Waker::noop();
        let _ = write.as_mut().poll(&mut Context::from_waker(waker));
    }
    let path = db.path.clone().unwrap();
    let numbers = db.numbers.clone();
    // Closing the connector lets the thread finish what it was sent.
    drop(db.conn);
    let reopened = SqliteConnector::open(&path).unwrap();
    let table = TableRef {
        name: "numbers",
        info: &numbers,
    };
    let rows = run(reopened.get(table, &["7".to_string()])).unwrap();
    assert_eq!(rows.len(), 1, "the row the lost answer was about is there");
    assert_eq!(rows[0].fields["label"], s("seven"));
}
