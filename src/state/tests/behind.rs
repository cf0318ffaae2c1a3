//! Commits behind the engine (see `state/behind.rs`): a batch's outcome and intents made by
//! the store's thread, in the order sent, checked and fenced as on the engine's connection,
//! and read by every transaction of the engine's connection made after them; a closure that
//! makes a statement, or a small batch with nothing pending, commits on the engine's
//! connection instead, all or nothing.

use super::*;

/// A SQLite file store committing behind the engine.
fn behind() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let store = Store::open(&url).unwrap();
    store.commit_behind();
    (dir, store)
}

fn made(committing: Committing) -> Result<(), StateError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(committing.made())
}

const DIR: Direction = Direction::LeftToRight;

/// Records in a batch big enough to be committed behind the engine.
const BIG: usize = 1000;

/// Intents for `L{from}`…: a batch of them big enough to be sent behind the engine.
fn intents(from: usize) -> Vec<Intent> {
    (from..from + BIG)
        .map(|n| intent(&format!("L{n}")))
        .collect()
}

#[test]
fn an_outcome_sent_behind_is_read_by_the_next_transaction_of_the_engine() {
    let (_dir, s) = behind();
    s.add_intents("m", DIR, &[intent("L1")], 1).unwrap();
    let ((), committing) = s
        .transaction_behind(BIG, |st| {
            st.couple(&Coupling::new("m", "L1", "R1"))?;
            st.clear_intent("m", DIR, "L1")
        })
        .unwrap();
    assert!(matches!(committing, Committing::Sent(_)));
    // Waits for the commit sent before it.
    let (coupled, open) = s
        .transaction(|st| {
            Ok::<_, StateError>((st.coupling("m", Side::Left, "L1")?, st.intents("m", DIR)?))
        })
        .unwrap();
    assert_eq!(coupled.map(|c| c.right_key), Some("R1".to_string()));
    assert!(open.is_empty());
    made(committing).unwrap();
}

#[test]
fn an_outcome_refused_behind_commits_nothing_of_its_batch() {
    let (_dir, s) = behind();
    s.add_intents("m", DIR, &[intent("L2")], 1).unwrap();
    s.couple(&Coupling::new("m", "L1", "R1")).unwrap();
    let ((), committing) = s
        .transaction_behind(BIG, |st| {
            st.clear_intent("m", DIR, "L2")?;
            // R1 is coupled to L1: refused as `couple` refuses it, on the thread.
            st.couple(&Coupling::new("m", "L2", "R1"))
        })
        .unwrap();
    let refused = made(committing).unwrap_err();
    assert!(
        matches!(refused, StateError::AlreadyCoupled { .. }),
        "{refused}"
    );
    assert_eq!(s.intents("m", DIR).unwrap().len(), 1, "the intent stays");
    assert!(s.coupling("m", Side::Left, "L2").unwrap().is_none());
}

#[test]
fn a_closure_that_makes_a_statement_commits_on_the_engines_connection_all_or_nothing() {
    let (_dir, s) = behind();
    s.couple(&Coupling::new("m", "L9", "R9")).unwrap();
    let ((), committing) = s
        .transaction_behind(BIG, |st| {
            st.couple(&Coupling::new("m", "L1", "R1"))?;
            // A statement: the transaction begins on the engine's connection.
            st.uncouple("m", Side::Left, "L9")?;
            Ok::<(), StateError>(())
        })
        .unwrap();
    assert!(matches!(committing, Committing::Made));
    assert!(s.coupling("m", Side::Left, "L1").unwrap().is_some());
    assert!(s.coupling("m", Side::Left, "L9").unwrap().is_none());
    let failed = s.transaction_behind(BIG, |st| {
        st.couple(&Coupling::new("m", "L2", "R2"))?;
        st.uncouple("m", Side::Left, "L1")?;
        Err::<(), StateError>(StateError::Db("the batch failed".into()))
    });
    assert!(failed.is_err());
    assert!(
        s.coupling("m", Side::Left, "L1").unwrap().is_some(),
        "rolled back"
    );
    assert!(s.coupling("m", Side::Left, "L2").unwrap().is_none());
    // The engine's connection commits again as before, and behind the engine after it.
    let ((), committing) = s
        .transaction_behind(BIG, |st| st.couple(&Coupling::new("m", "L3", "R3")))
        .unwrap();
    made(committing).unwrap();
    assert!(s.coupling("m", Side::Left, "L3").unwrap().is_some());
}

#[test]
fn intents_sent_behind_are_fenced_by_the_runs_lease() {
    let (_dir, s) = behind();
    let sent = s.add_intents_behind("m", DIR, intents(0), 1).unwrap();
    assert!(matches!(sent, Committing::Sent(_)));
    made(sent).unwrap();
    assert_eq!(s.intents("m", DIR).unwrap().len(), BIG);
    s.stop_committing_behind();
    let lease = s.take_lease(LeaseKind::Run).unwrap().unwrap();
    // A fence whose token is not the lease's: a run that lost its lease to another.
    s.set_fence(Some(Fence {
        token: lease.fence().token + 1,
        ..lease.fence()
    }));
    s.commit_behind();
    let sent = s.add_intents_behind("m", DIR, intents(BIG), 1).unwrap();
    assert!(matches!(made(sent), Err(StateError::LeaseLost(_))));
    s.stop_committing_behind();
    s.set_fence(None);
    assert_eq!(s.intents("m", DIR).unwrap().len(), BIG);
}

#[test]
fn a_small_batch_commits_on_the_engines_connection_unless_commits_are_pending_behind() {
    let (_dir, s) = behind();
    let small = s
        .add_intents_behind("m", DIR, vec![intent("L1")], 1)
        .unwrap();
    assert!(
        matches!(small, Committing::Made),
        "nothing pending: made at once"
    );
    assert_eq!(s.intents("m", DIR).unwrap().len(), 1);
    let big = s.add_intents_behind("m", DIR, intents(100), 1).unwrap();
    assert!(matches!(big, Committing::Sent(_)));
    // Pending behind it, or just made: either way the small one comes after it.
    let ((), small) = s
        .transaction_behind(1, |st| st.clear_intent("m", DIR, "L100"))
        .unwrap();
    made(big).unwrap();
    made(small).unwrap();
    s.stop_committing_behind();
    let open = s.intents("m", DIR).unwrap();
    assert_eq!(open.len(), BIG, "L1 and all the big batch's but L100");
    assert!(open.iter().all(|i| i.source_key != "L100"));
}

#[test]
fn the_log_is_checkpointed_beside_the_connection_that_commits_not_by_it() {
    use crate::state::db::{Checkpointer, Db};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let db = Db::open(&Location::File(path.clone()), false).unwrap();
    db.execute_script("CREATE TABLE t (b BLOB)").unwrap();
    // 400 pages a commit: three take the log past the 1,000 pages at which the connection
    // would have checkpointed by itself.
    let commit = || {
        db.execute_script(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) \
             INSERT INTO t SELECT randomblob(4000) FROM n",
        )
        .unwrap();
    };
    let file_size = || std::fs::metadata(&path).unwrap().len();
    let checkpoints = Checkpointer::beside(&db, &path).unwrap();
    let before = file_size();
    for _ in 0..3 {
        commit();
        checkpoints.committed();
    }
    // In WAL mode only a checkpoint writes to the database file.
    assert_eq!(file_size(), before, "checkpointed before the fourth commit");
    commit();
    checkpoints.committed();
    drop(checkpoints);
    assert!(
        file_size() >= before + 1200 * 4000,
        "{} bytes after the checkpoint, {before} before",
        file_size()
    );
}
