//! Workers' units on both stores: their leases exclude each other and the run lease, a unit
//! taken over records nothing more, and the units keep their times whoever seeds them.

use super::super::db::{args, Db};
use super::super::*;
use super::{on_both_stores, reopen, t, TestStore};

on_both_stores!(
    a_unit_lease_excludes_the_run_lease_and_the_same_unit_not_another,
    a_run_takes_over_the_units_of_workers_that_stopped_renewing,
    a_worker_takes_over_a_run_that_stopped_renewing,
    a_unit_taken_over_records_nothing_more,
    units_keep_their_times_whoever_seeds_them,
);

fn unit(name: &str) -> LeaseKind {
    LeaseKind::Unit(name.into())
}

fn a_unit_lease_excludes_the_run_lease_and_the_same_unit_not_another(s: &Store) {
    let other = reopen(s);
    let customers = s.take_lease(unit("customers")).unwrap().expect("a lease");
    let busy = other.take_lease(unit("customers")).unwrap_err();
    assert!(
        matches!(&busy, StateError::WorkerBusy { unit, holder: Some(_), .. } if unit == "customers"),
        "{busy}"
    );
    let contacts = other.take_lease(unit("contacts")).unwrap();
    assert!(contacts.is_some(), "another unit is free");
    let busy = other.take_lease(LeaseKind::Run).unwrap_err();
    assert!(matches!(busy, StateError::WorkerBusy { .. }), "{busy}");
    drop((customers, contacts));
    let run = other.take_lease(LeaseKind::Run).unwrap().expect("a lease");
    let busy = s.take_lease(unit("customers")).unwrap_err();
    assert!(matches!(busy, StateError::Busy { .. }), "{busy}");
    drop(run);
    assert!(s.take_lease(unit("customers")).unwrap().is_some());
}

fn a_run_takes_over_the_units_of_workers_that_stopped_renewing(s: &Store) {
    // A worker that stopped renewing a minute ago (paused, or on a machine cut off).
    s.db.execute(
        "INSERT INTO leases (name, holder, token, pid, host, acquired_at, heartbeat_at) \
         VALUES ('unit:customers', 'paused', 3, 1, 'elsewhere', ?1, ?1)",
        &args![ts(Some(
            Timestamp::now() - jiff::SignedDuration::from_secs(60)
        ))],
    )
    .unwrap();
    let run = s.take_lease(LeaseKind::Run).unwrap().expect("a lease");
    let row =
        s.db.query_row(
            "SELECT holder, token FROM leases WHERE name = 'unit:customers'",
            &[],
        )
        .unwrap()
        .expect("the unit's row");
    let (holder, token): (Option<String>, i64) = (row.get(0).unwrap(), row.get(1).unwrap());
    assert_eq!(
        (holder.as_deref(), token),
        (Some("paused"), 4),
        "its token moves on, so it commits nothing more; it stays named, expired"
    );
    drop(run);
}

fn a_worker_takes_over_a_run_that_stopped_renewing(s: &Store) {
    // A manual run that stopped renewing a minute ago (a laptop closed mid-run).
    s.db.execute(
        "INSERT INTO leases (name, holder, token, pid, host, acquired_at, heartbeat_at) \
         VALUES ('run', 'paused', 7, 1, 'elsewhere', ?1, ?1) ON CONFLICT (name) DO UPDATE \
         SET holder = excluded.holder, token = excluded.token, heartbeat_at = excluded.heartbeat_at",
        &args![ts(Some(Timestamp::now() - jiff::SignedDuration::from_secs(60)))],
    )
    .unwrap();
    let unit = s.take_lease(unit("customers")).unwrap().expect("a lease");
    let row =
        s.db.query_row("SELECT token FROM leases WHERE name = 'run'", &[])
            .unwrap()
            .expect("the run lease's row");
    assert_eq!(
        row.get::<i64>(0).unwrap(),
        8,
        "the run, if it wakes, commits nothing more"
    );
    drop(unit);
}

fn a_unit_taken_over_records_nothing_more(s: &Store) {
    let due = t("2030-01-01T00:00:00Z");
    s.seed_units(&[(String::new(), "j".into(), "customers".into(), Some(due))])
        .unwrap();
    let lease = s.take_lease(unit("customers")).unwrap().expect("a lease");
    s.set_fence(Some(lease.fence()));
    // Another worker takes the unit over: the row gets its token.
    reopen(s)
        .db
        .execute(
            "UPDATE leases SET token = token + 1 WHERE name = 'unit:customers'",
            &[],
        )
        .unwrap();
    let ran = UnitRun {
        due_at: Some(t("2030-01-02T00:00:00Z")),
        wait_seconds: Some(1800),
        status: "succeeded".into(),
        run: Some(7),
        finished_at: t("2030-01-01T00:05:00Z"),
    };
    let lost = s.unit_ran("j", "customers", &ran).unwrap_err();
    assert!(matches!(lost, StateError::LeaseLost(_)), "{lost}");
    s.set_fence(None);
    let now = s.unit("j", "customers").unwrap().expect("the unit");
    assert_eq!((now.due_at, now.last_status), (Some(due), None));
}

fn units_keep_their_times_whoever_seeds_them(s: &Store) {
    let first = t("2030-01-01T00:00:00Z");
    let seeds = |due| {
        [
            ("customers", "customers"),
            ("customers", "payment_terms"),
            ("vendors", "payment_terms"),
        ]
        .map(|(job, mapping)| {
            (
                String::new(),
                job.to_string(),
                mapping.to_string(),
                Some(due),
            )
        })
        .to_vec()
    };
    s.seed_units(&seeds(first)).unwrap();
    let ran = UnitRun {
        due_at: Some(t("2030-01-01T00:30:00Z")),
        wait_seconds: Some(1800),
        status: "succeeded".into(),
        run: Some(1),
        finished_at: t("2030-01-01T00:00:05Z"),
    };
    s.unit_ran("vendors", "payment_terms", &ran).unwrap();
    // A second worker starting later seeds the same units.
    reopen(s)
        .seed_units(&seeds(t("2030-06-01T00:00:00Z")))
        .unwrap();
    let units = s.units().unwrap();
    let times: Vec<(&str, &str, Option<Timestamp>, Option<&str>)> = units
        .iter()
        .map(|u| {
            (
                u.job.as_str(),
                u.mapping.as_str(),
                u.due_at,
                u.last_status.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        times,
        vec![
            ("customers", "customers", Some(first), None),
            ("customers", "payment_terms", Some(first), None),
            (
                "vendors",
                "payment_terms",
                Some(t("2030-01-01T00:30:00Z")),
                Some("succeeded")
            ),
        ]
    );
    assert!(units[2].due(t("2030-01-01T00:30:00Z")));
    assert!(!units[2].due(t("2030-01-01T00:29:59Z")));
}

/// A holder frozen past the expiry keeps its PostgreSQL session, and with it the session lock:
/// a worker that wants the unit ends that session and takes the unit over.
#[test]
fn a_frozen_holders_session_is_ended_and_its_unit_taken_over() {
    let s = TestStore::postgres();
    let frozen = Db::open_session(&s.location).unwrap();
    let locked = frozen
        .query_row(
            "SELECT pg_try_advisory_lock(hashtextextended('unit:customers', 7405322920))",
            &[],
        )
        .unwrap()
        .and_then(|r| r.get::<bool>(0).ok());
    assert_eq!(locked, Some(true));
    let busy = s.take_lease(unit("customers")).unwrap_err();
    assert!(
        matches!(busy, StateError::WorkerBusy { .. }),
        "a session holds it: {busy}"
    );
    // Its heartbeat stopped long ago.
    s.db.execute(
        "INSERT INTO leases (name, holder, token, pid, host, acquired_at, heartbeat_at) \
         VALUES ('unit:customers', 'frozen', 5, 1, 'elsewhere', ?1, ?1)",
        &args![ts(Some(
            Timestamp::now() - jiff::SignedDuration::from_secs(60)
        ))],
    )
    .unwrap();
    let lease = s
        .take_lease(unit("customers"))
        .unwrap()
        .expect("taken over");
    assert_eq!(lease.fence().token, 6);
    assert!(
        frozen.query_row("SELECT 1", &[]).is_err(),
        "the frozen holder's session was ended"
    );
}
