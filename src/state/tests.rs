use super::conformance::on_both_stores;
use super::*;

mod behind;

on_both_stores!(
    couplings_are_one_to_one_and_timestamps_only_move_forward,
    writes_deferred_in_a_transaction_read_as_made_and_check_as_couple_does,
    deferred_writes_free_moved_partners_and_never_commit_past_an_error,
    watermarks_never_go_back,
    a_conflict_keeps_its_kind_and_both_values_until_it_fails_another_way,
    the_same_error_twice_skips_until_retried,
    messages_are_stored_redacted_and_equal_across_tokens,
    runs_keep_their_counts_and_interrupted_runs_are_closed,
    the_latest_plan_is_that_of_the_newest_run_that_kept_one,
    intents_survive_until_cleared,
    a_kept_create_key_is_found_until_released,
    passing_errors_never_skip_a_record,
    write_logs_are_pruned_to_the_newest_runs_and_runs_filter,
);

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn couplings_are_one_to_one_and_timestamps_only_move_forward(s: &Store) {
    let mut c = Coupling::new("customers", "L1", "R1");
    c.set_synced(Side::Left, Some(t("2024-01-02T00:00:00Z")));
    c.set_synced(Side::Left, Some(t("2024-01-01T00:00:00Z")));
    assert_eq!(c.left_synced, Some(t("2024-01-02T00:00:00Z")));
    s.couple(&c).unwrap();
    let again = s
        .couple(&Coupling::new("customers", "L1", "R2"))
        .unwrap_err();
    assert!(
        again.to_string().contains("already coupled to `R1`"),
        "{again}"
    );
    let other = s
        .couple(&Coupling::new("customers", "L2", "R1"))
        .unwrap_err();
    assert!(matches!(
        other,
        StateError::AlreadyCoupled { side: "right", .. }
    ));
    // The same pair may be coupled again (idempotent), and another mapping is independent.
    s.couple(&Coupling::new("customers", "L1", "R1")).unwrap();
    s.couple(&Coupling::new("vendors", "L1", "R9")).unwrap();
    let found = s.coupling("customers", Side::Right, "R1").unwrap().unwrap();
    assert_eq!(found.left_key, "L1");
    let many = s
        .couplings("customers", Side::Left, &["L1".into(), "L9".into()])
        .unwrap();
    assert_eq!(many.len(), 1);
    assert!(s.uncouple("customers", Side::Left, "L1").unwrap());
    assert!(s.coupling("customers", Side::Left, "L1").unwrap().is_none());
}

/// Inside a transaction the per-record writes are deferred to its end: they must still read
/// as made (by the transaction's own statements), refuse what `couple` refuses — against the
/// store and against couplings saved earlier in the transaction — and vanish with a rollback.
fn writes_deferred_in_a_transaction_read_as_made_and_check_as_couple_does(s: &Store) {
    let dir = Direction::LeftToRight;
    s.couple(&Coupling::new("customers", "L0", "R0")).unwrap();
    s.add_intents("customers", dir, &[intent("L1"), intent("L2")], 1)
        .unwrap();
    s.transaction(|st| {
        st.couple(&Coupling::new("customers", "L1", "R1"))?;
        st.clear_intent("customers", dir, "L1")?;
        st.log_write(
            1,
            "customers",
            dir,
            WriteAction::Inserted,
            "L1",
            Some("R1"),
            None,
        )?;
        // A read in the transaction sees them.
        assert_eq!(
            st.coupling("customers", Side::Right, "R1")?
                .unwrap()
                .left_key,
            "L1"
        );
        assert_eq!(st.intents("customers", dir)?.len(), 1);
        st.couple(&Coupling::new("customers", "L2", "R2"))?;
        st.clear_intent("customers", dir, "L2")?;
        st.log_write(
            1,
            "customers",
            dir,
            WriteAction::Inserted,
            "L2",
            Some("R2"),
            None,
        )?;
        Ok::<(), StateError>(())
    })
    .unwrap();
    assert!(s.intents("customers", dir).unwrap().is_empty());
    let logged: Vec<String> = s
        .run_writes(1)
        .unwrap()
        .into_iter()
        .map(|w| w.source_key)
        .collect();
    assert_eq!(logged, ["L1", "L2"]);
    // Refused against the store, and against a pair saved earlier in the same transaction.
    for (left, right, taken) in [("L3", "R0", "right"), ("L0", "R3", "left")] {
        let e = s
            .transaction(|st| st.couple(&Coupling::new("customers", left, right)))
            .unwrap_err();
        assert!(
            matches!(e, StateError::AlreadyCoupled { side, .. } if side == taken),
            "{e}"
        );
    }
    let e = s
        .transaction(|st| {
            st.couple(&Coupling::new("customers", "L4", "R4"))?;
            st.log_write(
                2,
                "customers",
                dir,
                WriteAction::Inserted,
                "L4",
                Some("R4"),
                None,
            )?;
            st.couple(&Coupling::new("customers", "L5", "R4"))
        })
        .unwrap_err();
    assert!(
        matches!(e, StateError::AlreadyCoupled { side: "right", .. }),
        "{e}"
    );
    // The refused transaction left nothing behind.
    assert!(s.coupling("customers", Side::Left, "L4").unwrap().is_none());
    assert!(s.run_writes(2).unwrap().is_empty());
    assert_eq!(s.coupling_counts("customers").unwrap(), (3, 0));
}

/// Held writes keep `couple`'s meaning at the edges: a coupling moved to another partner frees
/// the one it left; an error met when they are made fails the transaction even if its caller
/// went on; a panic inside it leaves the store writing at once again.
fn deferred_writes_free_moved_partners_and_never_commit_past_an_error(s: &Store) {
    s.couple(&Coupling::new("m", "L1", "R1")).unwrap();
    s.transaction(|st| {
        st.save_coupling(&Coupling::new("m", "L1", "R2"))?;
        st.couple(&Coupling::new("m", "L3", "R1"))
    })
    .unwrap();
    assert_eq!(
        s.coupling("m", Side::Right, "R1")
            .unwrap()
            .unwrap()
            .left_key,
        "L3"
    );
    // A refused pair surfaces at the next statement; the caller ignores it, yet nothing
    // commits.
    let dir = Direction::LeftToRight;
    let e = s
        .transaction(|st| {
            st.couple(&Coupling::new("m", "L4", "R3"))?;
            st.couple(&Coupling::new("m", "L5", "R3"))?;
            let _ignored = st.intents("m", dir);
            st.log_write(9, "m", dir, WriteAction::Inserted, "L6", None, None)
        })
        .unwrap_err();
    assert!(
        e.to_string().contains("nothing of the batch was committed"),
        "{e}"
    );
    assert!(s.coupling("m", Side::Left, "L4").unwrap().is_none());
    assert!(s.run_writes(9).unwrap().is_empty());
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = s.transaction(|st| {
            st.save_coupling(&Coupling::new("m", "LP", "RP"))?;
            panic!("inside a transaction");
            #[allow(unreachable_code)]
            Ok::<(), StateError>(())
        });
    }));
    assert!(panicked.is_err());
    s.save_coupling(&Coupling::new("m", "L7", "R7")).unwrap();
    assert!(s.coupling("m", Side::Left, "LP").unwrap().is_none());
    assert!(s.coupling("m", Side::Left, "L7").unwrap().is_some());
}

fn intent(key: &str) -> Intent {
    Intent::create(key, &format!("R{}", &key[1..]))
}

fn watermarks_never_go_back(s: &Store) {
    let dir = Direction::LeftToRight;
    assert_eq!(s.watermark("m", dir).unwrap(), None);
    let a = Cursor {
        modified_on: t("2024-05-01T10:00:00Z"),
        key: "b".into(),
    };
    let earlier = Cursor {
        modified_on: t("2024-05-01T10:00:00Z"),
        key: "a".into(),
    };
    s.advance_watermark("m", dir, &a, 1).unwrap();
    s.advance_watermark("m", dir, &earlier, 2).unwrap();
    assert_eq!(s.watermark("m", dir).unwrap(), Some(a));
    assert_eq!(s.watermark("m", Direction::RightToLeft).unwrap(), None);
}

fn a_conflict_keeps_its_kind_and_both_values_until_it_fails_another_way(s: &Store) {
    let dir = Direction::LeftToRight;
    let differences = vec![FieldDifference {
        left_field: "phoneNumber".into(),
        left: serde_json::json!("+1 555 0100"),
        right_field: "telephone1".into(),
        right: serde_json::json!(null),
    }];
    s.record_failure(1, "m", dir, "L", Some("R"), "both changed")
        .unwrap();
    s.describe_failure("m", dir, "L", FailureKind::Conflict, &differences)
        .unwrap();
    let f = &s.failures(Some("m")).unwrap()[0];
    assert_eq!(
        (f.kind, &f.differences),
        (FailureKind::Conflict, &differences)
    );
    // Failing again some other way is a plain error again, without the conflict's values.
    s.record_failure(2, "m", dir, "L", Some("R"), "refused")
        .unwrap();
    let f = &s.failures(Some("m")).unwrap()[0];
    assert_eq!(f.kind, FailureKind::Error);
    assert!(f.differences.is_empty());
}

fn the_same_error_twice_skips_until_retried(s: &Store) {
    let dir = Direction::RightToLeft;
    s.couple(&Coupling::new("m", "L", "R")).unwrap();
    assert!(!s
        .record_failure(1, "m", dir, "R", Some("L"), "boom")
        .unwrap());
    assert_eq!(
        s.failed_not_skipped("m", dir).unwrap(),
        vec!["R".to_string()]
    );
    assert!(!s
        .record_failure(2, "m", dir, "R", Some("L"), "different")
        .unwrap());
    assert!(s
        .record_failure(3, "m", dir, "R", Some("L"), "different")
        .unwrap());
    assert!(s.failed_not_skipped("m", dir).unwrap().is_empty());
    assert!(s.is_skipped("m", dir, "R").unwrap());
    assert!(s.coupling("m", Side::Left, "L").unwrap().unwrap().skipped);
    assert_eq!(s.errors(None, Some("m"), 10).unwrap().len(), 3);
    assert_eq!(s.retry(Some("m")).unwrap(), 1);
    assert_eq!(
        s.failed_not_skipped("m", dir).unwrap(),
        vec!["R".to_string()]
    );
    assert!(!s.coupling("m", Side::Left, "L").unwrap().unwrap().skipped);
    s.clear_failure("m", dir, "R").unwrap();
    assert!(s.failures(None).unwrap().is_empty());
}

fn messages_are_stored_redacted_and_equal_across_tokens(s: &Store) {
    let dir = Direction::LeftToRight;
    let run = s
        .begin_run("full", "manual", "sha256:x", &["m".into()], false)
        .unwrap();
    // The same refusal echoing two different tokens is the same error: the second skips.
    assert!(!s
        .record_failure(
            run,
            "m",
            dir,
            "k",
            None,
            "401: Bearer tok-one-0123456789ab refused"
        )
        .unwrap());
    assert!(s
        .record_failure(
            run,
            "m",
            dir,
            "k",
            None,
            "401: Bearer tok-two-0123456789ab refused"
        )
        .unwrap());
    s.finish_run(
        run,
        "failed",
        Some("GET https://u:pw@host/x: Bearer tok-three-0123456789ab"),
    )
    .unwrap();
    let r = s.run(run).unwrap().unwrap();
    assert_eq!(
        r.message.as_deref(),
        Some("GET https://[redacted]@host/x: Bearer [redacted]")
    );
    let errors = s.errors(Some(run), None, 10).unwrap();
    assert!(errors
        .iter()
        .all(|e| e.message == "401: Bearer [redacted] refused"));
}

fn runs_keep_their_counts_and_interrupted_runs_are_closed(s: &Store) {
    let run = s
        .begin_run("modified", "manual", "sha256:x", &["m".into()], false)
        .unwrap();
    let counts = Counts {
        inserted: 2,
        modified: 1,
        ..Counts::default()
    };
    let cur = Cursor {
        modified_on: t("2024-01-01T00:00:00Z"),
        key: "k".into(),
    };
    s.save_counts(run, "m", Direction::LeftToRight, &counts, None, Some(&cur))
        .unwrap();
    assert_eq!(s.close_interrupted_runs().unwrap(), 1);
    let r = s.run(run).unwrap().unwrap();
    assert_eq!(r.status, "interrupted");
    assert_eq!(r.counts[0].counts, counts);
    assert_eq!(
        r.counts[0].cursor_after.as_deref(),
        Some("2024-01-01T00:00:00.000000Z|k")
    );
    assert_eq!(s.runs(10).unwrap().len(), 1);
}

fn the_latest_plan_is_that_of_the_newest_run_that_kept_one(s: &Store) {
    assert_eq!(s.latest_plan().unwrap(), None);
    s.save_plan("sha256:a", "plan a").unwrap();
    s.save_plan("sha256:b", "plan b").unwrap();
    s.begin_run("full", "manual", "sha256:b", &[], false)
        .unwrap();
    s.begin_run("full", "manual", "sha256:a", &[], false)
        .unwrap();
    assert_eq!(s.latest_plan().unwrap().as_deref(), Some("plan a"));
    // A dry run keeps no plan: the newest run with one still answers.
    s.begin_run("full", "manual", "sha256:dry", &[], true)
        .unwrap();
    assert_eq!(s.latest_plan().unwrap().as_deref(), Some("plan a"));
}

fn intents_survive_until_cleared(s: &Store) {
    let dir = Direction::LeftToRight;
    s.add_intents("m", dir, &[Intent::create("a", "x")], 1)
        .unwrap();
    let open = s.create_intents_among("m", dir, &["a".into()]).unwrap();
    assert_eq!(open["a"].dest_key, "x");
    assert_eq!(s.intents("m", dir).unwrap().len(), 1);
    s.clear_intent("m", dir, "a").unwrap();
    assert!(s.intents("m", dir).unwrap().is_empty());
}

fn a_kept_create_key_is_found_until_released(s: &Store) {
    let dir = Direction::LeftToRight;
    assert!(!s.keeps_create_keys("m", dir).unwrap());
    s.keep_create_key("m", dir, "a", "x").unwrap();
    assert!(s.keeps_create_keys("m", dir).unwrap());
    // Kept again (a later create of it was not found either): the newer key.
    s.keep_create_key("m", dir, "a", "y").unwrap();
    let kept_in = |mapping: &str, dir: Direction, keys: &[&str]| {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        s.kept_create_keys_among(mapping, dir, &keys).unwrap()
    };
    let among = |keys: &[&str]| kept_in("m", dir, keys);
    assert_eq!(
        among(&["a", "b"]),
        HashMap::from([("a".into(), "y".into())])
    );
    // Another direction, mapping or record keeps none.
    assert!(kept_in("m", Direction::RightToLeft, &["a"]).is_empty());
    assert!(kept_in("n", dir, &["a"]).is_empty());
    s.release_create_key("m", dir, "a").unwrap();
    assert!(among(&["a"]).is_empty());
    // Uncoupling a pair lets go of the keys kept for either record's create, and of no other.
    s.couple(&Coupling::new("m", "a", "r")).unwrap();
    s.keep_create_key("m", dir, "a", "x").unwrap();
    s.keep_create_key("m", Direction::RightToLeft, "r", "z")
        .unwrap();
    s.keep_create_key("m", dir, "b", "w").unwrap();
    assert!(s.uncouple("m", Side::Left, "a").unwrap());
    assert_eq!(
        among(&["a", "b"]),
        HashMap::from([("b".into(), "w".into())])
    );
    assert!(kept_in("m", Direction::RightToLeft, &["r"]).is_empty());
    // Uncoupling a whole table mapping lets go of all of its.
    s.uncouple_all("m").unwrap();
    assert!(among(&["b"]).is_empty());
    assert!(!s.keeps_create_keys("m", dir).unwrap());
}

#[test]
fn an_old_store_is_upgraded_and_a_newer_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 0).unwrap();
    }
    let s = Store::open(&format!("sqlite://{}", path.display())).unwrap();
    assert_eq!(s.version().unwrap(), schema::MIGRATIONS.len() as u32);
    drop(s);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = Store::open(path.to_str().unwrap()).err().unwrap();
    assert!(err.to_string().contains("schema version 99"), "{err}");
    assert!(matches!(
        Store::open("mysql://x/y"),
        Err(StateError::Url(_))
    ));
}

#[test]
fn a_store_of_one_company_keeps_its_state_when_upgraded_to_many() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for m in &schema::MIGRATIONS[..11] {
            conn.execute_batch(m.sqlite).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO couplings (mapping, left_key, right_key, coupled_at) VALUES ('customers', 'L1', 'R1', 'x');
             INSERT INTO watermarks (mapping, direction, modified_on, key) VALUES ('customers', 'left_to_right', '2024-01-01T00:00:00Z', 'k');
             INSERT INTO intents (mapping, direction, source_key, dest_key, at) VALUES ('customers', 'left_to_right', 'L2', 'R2', 'x');
             INSERT INTO failures (mapping, direction, source_key, message, attempts, at) VALUES ('customers', 'left_to_right', 'L3', 'refused', 1, 'x');
             INSERT INTO runs (id, started_at, mode, trigger, plan_digest, tables, status) VALUES (1, 'x', 'full', 'manual', 'd', '[]', 'succeeded');
             INSERT INTO runs (id, started_at, mode, trigger, plan_digest, tables, status) VALUES (2, 'x', 'full', 'manual', 'd', '[]', 'succeeded');
             INSERT INTO run_writes (run, mapping, direction, action, source_key) VALUES (1, 'customers', 'left_to_right', 'inserted', 'L1');
             INSERT INTO run_writes (run, mapping, direction, action, source_key) VALUES (2, 'customers', 'left_to_right', 'inserted', 'L2');",
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 11).unwrap();
    }
    let s = Store::open(&format!("sqlite://{}", path.display())).unwrap();
    let dir = Direction::LeftToRight;
    let c = s.coupling("customers", Side::Left, "L1").unwrap();
    assert_eq!(c.map(|c| c.right_key), Some("R1".to_string()));
    assert!(s.watermark("customers", dir).unwrap().is_some());
    assert_eq!(s.intents("customers", dir).unwrap().len(), 1);
    assert_eq!(s.failures(None).unwrap().len(), 1);
    assert_eq!(
        s.runs(10).unwrap().len(),
        2,
        "its runs are the one company's"
    );
    assert_eq!(
        s.prune_run_writes(1).unwrap(),
        1,
        "its write log is pruned as its own"
    );
    assert_eq!(s.run_writes(2).unwrap().len(), 1);
    // Another company starts with nothing, and may couple the same keys.
    s.set_company("CRONUS 2");
    assert_eq!(s.coupling_counts("customers").unwrap(), (0, 0));
    s.couple(&Coupling::new("customers", "L1", "R1")).unwrap();
}

fn passing_errors_never_skip_a_record(s: &Store) {
    let dir = Direction::LeftToRight;
    for run in 1..=3 {
        let skipped = s
            .record_failure_as(run, "m", dir, ("k", None), "database is locked", false)
            .unwrap();
        assert!(!skipped, "run {run}");
    }
    assert_eq!(
        s.failed_not_skipped("m", dir).unwrap(),
        vec!["k".to_string()]
    );
}

fn write_logs_are_pruned_to_the_newest_runs_and_runs_filter(s: &Store) {
    let mut ids = Vec::new();
    for (i, trigger) in ["manual", "schedule", "manual"].iter().enumerate() {
        let table = if i == 1 { "vendors" } else { "customers" };
        let id = s
            .begin_run("full", trigger, "sha256:x", &[table.to_string()], false)
            .unwrap();
        s.log_write(
            id,
            table,
            Direction::LeftToRight,
            WriteAction::Inserted,
            &format!("L{i}"),
            Some("R"),
            None,
        )
        .unwrap();
        s.finish_run(id, if i == 2 { "failed" } else { "succeeded" }, None)
            .unwrap();
        ids.push(id);
    }
    let run = s.run(ids[0]).unwrap().unwrap();
    assert!(run.duration_ms.is_some());
    let only = |f: RunFilter| -> Vec<i64> {
        s.runs_where(&RunFilter { limit: 10, ..f })
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(only(RunFilter::default()), vec![ids[2], ids[1], ids[0]]);
    let table = Some("customers".to_string());
    assert_eq!(
        only(RunFilter {
            table,
            ..RunFilter::default()
        }),
        vec![ids[2], ids[0]]
    );
    let trigger = Some("schedule".to_string());
    assert_eq!(
        only(RunFilter {
            trigger,
            ..RunFilter::default()
        }),
        vec![ids[1]]
    );
    let status = Some("failed".to_string());
    assert_eq!(
        only(RunFilter {
            status,
            ..RunFilter::default()
        }),
        vec![ids[2]]
    );
    let since = Some(Timestamp::now() + jiff::SignedDuration::from_hours(1));
    assert!(only(RunFilter {
        since,
        ..RunFilter::default()
    })
    .is_empty());

    // Keeping two runs drops the oldest run's log, not the run.
    assert_eq!(s.prune_run_writes(2).unwrap(), 1);
    assert!(s.run_writes(ids[0]).unwrap().is_empty());
    assert_eq!(s.run_writes(ids[1]).unwrap().len(), 1);
    assert!(s.run(ids[0]).unwrap().is_some());
    assert_eq!(s.prune_run_writes(10).unwrap(), 0);
    assert_eq!(s.prune_run_writes(0).unwrap(), 2);
}

#[test]
fn pruning_seeks_to_the_old_write_logs_instead_of_scanning_them_all() {
    let s = Store::in_memory().unwrap();
    let Db::Sqlite(db) = &s.db else {
        unreachable!("a store in memory is SQLite")
    };
    let plan: String = db
        .connection()
        .query_row(
            "EXPLAIN QUERY PLAN DELETE FROM run_writes WHERE run < 5",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(
        plan.contains("USING INDEX run_writes_by_run (run<?)"),
        "{plan}"
    );
}

#[cfg(unix)]
#[test]
fn the_store_is_private_to_its_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".syncmap/state.db");
    let s = Store::open(&format!("sqlite://{}", path.display())).unwrap();
    let lease = s.take_lease(super::LeaseKind::Run).unwrap();
    assert!(lease.is_some());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join(".syncmap")), 0o700);
    let files: Vec<_> = std::fs::read_dir(dir.path().join(".syncmap"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // The database, its write-ahead log and shared memory, and the run lock all exist.
    for name in ["state.db", "state.db-wal", "state.db-shm", "state.db.lock"] {
        assert!(names.iter().any(|n| n == name), "{names:?}");
    }
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
}
