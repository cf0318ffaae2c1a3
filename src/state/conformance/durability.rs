//! Commits durable with the next durable one, on both stores: SQLite makes them at the lower
//! level and puts the connection's own back however they end (PostgreSQL commits them durably),
//! and intents, which must be on disk before their writes go out, are refused in them.

use super::super::db::Db;
use super::super::*;
use super::on_both_stores;

on_both_stores!(
    a_commit_durable_with_the_next_is_made_so_and_the_level_put_back,
    intents_are_refused_in_a_commit_durable_with_the_next,
);

/// How a commit made now reaches the disk: SQLite's `synchronous` (2 is FULL, the log synced at
/// each commit; 1 NORMAL), PostgreSQL's `synchronous_commit` (`on`, or `off`: flushed by a later
/// commit that waits; the tests' server runs with `off`, nothing of it being durable).
fn level(s: &Store) -> String {
    let sql = match s.db {
        Db::Sqlite(_) => "SELECT CAST(synchronous AS TEXT) FROM pragma_synchronous",
        Db::Postgres(_) => "SELECT current_setting('synchronous_commit')",
    };
    let row = s.db.query_row(sql, &[]).unwrap().expect("one row");
    row.get::<String>(0).unwrap()
}

/// The level of a commit that waits for the next durable one: SQLite's NORMAL; PostgreSQL
/// commits it as it commits any other (`own`: a server that restarts mid-run would lose it).
fn lowered(s: &Store, own: &str) -> String {
    match s.db {
        Db::Sqlite(_) => "1".into(),
        Db::Postgres(_) => own.into(),
    }
}

fn a_commit_durable_with_the_next_is_made_so_and_the_level_put_back(s: &Store) {
    let dir = Direction::LeftToRight;
    let at = |key: &str| Cursor {
        modified_on: "2026-01-01T00:00:00Z".parse().unwrap(),
        key: key.into(),
    };
    let own = level(s);
    if let Db::Sqlite(_) = s.db {
        assert_eq!(own, "2", "a SQLite store commits with FULL");
    }
    assert!(!s.awaits_durable_commit());
    s.transaction_durable_with_next(|st| {
        assert_eq!(
            level(st),
            lowered(st, &own),
            "the commit waits for the next durable one"
        );
        st.advance_watermark("m", dir, &at("a"), 1)
    })
    .unwrap();
    assert_eq!(level(s), own, "the connection's own level is back");
    assert_eq!(s.awaits_durable_commit(), matches!(s.db, Db::Sqlite(_)));
    assert_eq!(s.watermark("m", dir).unwrap(), Some(at("a")));

    // One that fails rolls back, and puts the level back too.
    let failed: Result<(), StateError> = s.transaction_durable_with_next(|st| {
        st.advance_watermark("m", dir, &at("b"), 1)?;
        Err(StateError::Db("the batch failed".into()))
    });
    assert!(failed.is_err());
    assert_eq!(level(s), own);
    assert_eq!(s.watermark("m", dir).unwrap(), Some(at("a")));

    // A durable commit makes everything before it durable.
    s.transaction(|st| st.advance_watermark("m", dir, &at("c"), 1))
        .unwrap();
    assert!(!s.awaits_durable_commit());
}

fn intents_are_refused_in_a_commit_durable_with_the_next(s: &Store) {
    let dir = Direction::LeftToRight;
    let own = level(s);
    let refused = s.transaction_durable_with_next(|st| {
        st.add_intents("m", dir, &[Intent::create("a", "x")], 1)
    });
    let err = refused.unwrap_err();
    assert!(
        err.to_string().contains("intents must commit durably"),
        "{err}"
    );
    assert!(
        s.intents("m", dir).unwrap().is_empty(),
        "nothing of it committed"
    );
    assert_eq!(level(s), own);
    // Inside a durable transaction they are kept, and committed with it.
    s.transaction(|st| st.add_intents("m", dir, &[Intent::create("a", "x")], 1))
        .unwrap();
    assert_eq!(s.intents("m", dir).unwrap().len(), 1);
    assert!(!s.awaits_durable_commit());
}

#[test]
fn a_commit_durable_with_the_next_that_cannot_begin_puts_the_level_back() {
    let s = super::TestStore::sqlite();
    let Db::Sqlite(db) = &s.db else {
        unreachable!("a SQLite store")
    };
    db.connection()
        .busy_timeout(std::time::Duration::from_millis(20))
        .unwrap();
    // Another connection holds the write lock: the transaction cannot begin.
    let other = rusqlite::Connection::open(&s.path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let refused: Result<(), StateError> = s.transaction_durable_with_next(|_| Ok(()));
    assert!(refused.is_err(), "the write lock is held elsewhere");
    assert_eq!(level(&s), "2", "FULL again for the next commit");
    assert!(!s.awaits_durable_commit(), "nothing was committed");
    other.execute_batch("ROLLBACK").unwrap();
    s.transaction_durable_with_next(|_| Ok::<(), StateError>(()))
        .unwrap();
    assert_eq!(level(&s), "2");
}
