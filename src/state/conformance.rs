//! The store's conformance suite: the same cases run against a SQLite file and a PostgreSQL
//! database, so both keep the same promises. `on_both_stores!` makes each case a test on each.
//!
//! The PostgreSQL cases connect to `$SYNCMAP_TEST_POSTGRES` (by default the cluster `.ci/postgres`
//! starts) and make a database of their own. They fail, never skip, when it cannot be reached:
//! a skipped case would let a machine without PostgreSQL pass.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::db::{Db, Location};
use super::*;

mod companies;
mod durability;
mod units;

/// Where the tests' PostgreSQL is when `SYNCMAP_TEST_POSTGRES` does not say.
const DEFAULT_SERVER: &str = "postgres://syncmap@127.0.0.1:54329/postgres";

/// Makes each case (a `fn(&Store)`) a test on SQLite and one on PostgreSQL.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    let s = $crate::state::conformance::TestStore::sqlite();
                    super::$case(&s);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $case() {
                    let s = $crate::state::conformance::TestStore::postgres();
                    super::$case(&s);
                }
            )*
        }
    };
}
pub(super) use on_both_stores;

/// A store of its own for one test: a SQLite file in a folder of its own, or a PostgreSQL
/// database made for it and dropped after it.
pub(in crate::state) struct TestStore {
    store: Option<Store>,
    /// The server and the database to drop.
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    pub(in crate::state) fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        TestStore {
            store: Some(Store::open(&url).expect("a new SQLite store")),
            postgres: None,
            _dir: Some(dir),
        }
    }

    pub(in crate::state) fn postgres() -> TestStore {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let server =
            std::env::var("SYNCMAP_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.into());
        let admin = admin(&server);
        let name = format!(
            "syncmap_t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // One statement a call: a database is not made inside a transaction.
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            admin.execute_script(&sql).expect("a database for the test");
        }
        let url = database_url(&server, &name);
        TestStore {
            store: Some(Store::open(&url).expect("a new PostgreSQL store")),
            postgres: Some((server, name)),
            _dir: None,
        }
    }
}

impl std::ops::Deref for TestStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.store
            .as_ref()
            .expect("the store lives as long as the test")
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        drop(self.store.take());
        if let Some((server, name)) = &self.postgres {
            let _ = admin(server)
                .execute_script(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

fn admin(server: &str) -> Db {
    Db::open(&Location::Server(server.to_string()), false).unwrap_or_else(|e| {
        panic!(
            "the tests' PostgreSQL is not reachable at {server} ({e}); start it with \
             `export SYNCMAP_TEST_POSTGRES=$(.ci/postgres)`"
        )
    })
}

/// The server's URL with another database.
fn database_url(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').unwrap_or((server, ""));
    let host = base.rsplit_once('/').map_or(base, |(h, _)| h);
    let host = if host.ends_with('/') || host.ends_with(':') {
        base
    } else {
        host
    };
    if query.is_empty() {
        format!("{host}/{name}")
    } else {
        format!("{host}/{name}?{query}")
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().expect("a timestamp")
}

fn cursor(at: &str, key: &str) -> Cursor {
    Cursor {
        modified_on: t(at),
        key: key.into(),
    }
}

on_both_stores!(
    a_lease_excludes_a_second_holder_and_is_free_once_dropped,
    a_lost_fence_commits_nothing,
    a_failed_transaction_commits_nothing,
    a_store_written_by_a_newer_syncmap_is_refused,
    a_record_saved_twice_in_a_batch_keeps_its_last_save,
    saves_in_a_batch_take_effect_in_their_order,
    keys_sort_and_page_byte_by_byte,
    every_error_is_listed_when_no_bound_is_given,
);

fn a_lease_excludes_a_second_holder_and_is_free_once_dropped(s: &Store) {
    let other = reopen(s);
    let lease = s.take_lease(LeaseKind::Run).unwrap().expect("a lease");
    let busy = other.take_lease(LeaseKind::Run).unwrap_err();
    assert!(
        matches!(
            busy,
            StateError::Busy {
                holder: Some(_),
                ..
            }
        ),
        "{busy}"
    );
    // The other lease is free.
    let scheduler = other.take_lease(LeaseKind::Scheduler).unwrap();
    assert!(scheduler.is_some());
    drop(lease);
    let again = other.take_lease(LeaseKind::Run).unwrap().expect("a lease");
    assert!(again.fence().token > 1, "every take gets a new token");
}

fn a_lost_fence_commits_nothing(s: &Store) {
    let dir = Direction::LeftToRight;
    let lease = s.take_lease(LeaseKind::Run).unwrap().expect("a lease");
    s.set_fence(Some(lease.fence()));
    let first = cursor("2024-01-01T00:00:00Z", "a");
    s.transaction(|st| st.advance_watermark("m", dir, &first, 1))
        .unwrap();
    // Another process takes the lease over: the row gets its token.
    reopen(s)
        .db
        .execute(
            "UPDATE leases SET token = token + 1 WHERE name = 'run'",
            &[],
        )
        .unwrap();
    let later = cursor("2024-02-01T00:00:00Z", "b");
    let lost = s
        .transaction(|st| st.advance_watermark("m", dir, &later, 2))
        .unwrap_err();
    assert!(matches!(lost, StateError::LeaseLost(_)), "{lost}");
    let lost = s
        .add_intents("m", dir, &[Intent::create("k", "x")], 2)
        .unwrap_err();
    assert!(matches!(lost, StateError::LeaseLost(_)), "{lost}");
    s.set_fence(None);
    assert_eq!(s.watermark("m", dir).unwrap(), Some(first));
    assert!(s.intents("m", dir).unwrap().is_empty());
}

fn a_failed_transaction_commits_nothing(s: &Store) {
    let dir = Direction::LeftToRight;
    let run = s.begin_run("modified", "manual", "d", &[], false).unwrap();
    let out: Result<(), StateError> = s.transaction(|st| {
        st.advance_watermark("m", dir, &cursor("2024-01-01T00:00:00Z", "a"), run)?;
        st.set_delta("m", dir, Some("link"), run)?;
        st.save_counts(run, "m", dir, &Counts::default(), None, None)?;
        st.couple(&Coupling::new("m", "L1", "R1"))?;
        Err(StateError::Io("the batch failed".into()))
    });
    assert!(out.is_err());
    // A statement the database refuses undoes the transaction too: a pair taking a record
    // coupled to another.
    s.couple(&Coupling::new("m", "L0", "R0")).unwrap();
    let refused = s.transaction(|st| {
        st.couple(&Coupling::new("m", "L2", "R2"))?;
        st.couple(&Coupling::new("m", "L3", "R0"))
    });
    assert!(matches!(refused, Err(StateError::AlreadyCoupled { .. })));
    assert_eq!(s.watermark("m", dir).unwrap(), None);
    assert_eq!(s.delta("m", dir).unwrap(), None);
    assert!(s.run(run).unwrap().unwrap().counts.is_empty());
    assert_eq!(s.coupling_counts("m").unwrap(), (1, 0));
    // The store goes on working after both.
    s.transaction(|st| st.couple(&Coupling::new("m", "L2", "R2")))
        .unwrap();
    assert_eq!(s.coupling_counts("m").unwrap(), (2, 0));
}

fn a_store_written_by_a_newer_syncmap_is_refused(s: &Store) {
    let supported = schema::MIGRATIONS.len() as u32;
    assert_eq!(s.version().unwrap(), supported);
    s.set_version(supported + 1).unwrap();
    let err = reopen_result(s).err().expect("refused");
    assert!(
        matches!(err, StateError::TooNew { found, .. } if found == supported + 1),
        "{err}"
    );
}

fn a_record_saved_twice_in_a_batch_keeps_its_last_save(s: &Store) {
    let dir = Direction::LeftToRight;
    s.transaction(|st| {
        let mut c = Coupling::new("m", "L1", "R1");
        st.couple(&c)?;
        c.set_version(Side::Right, Some("v2"));
        c.skipped = true;
        st.save_coupling(&c)?;
        st.clear_intent("m", dir, "L1")?;
        st.clear_intent("m", dir, "L1")
    })
    .unwrap();
    let c = s.coupling("m", Side::Left, "L1").unwrap().unwrap();
    assert_eq!(c.right_version.as_deref(), Some("v2"));
    assert_eq!(s.coupling_counts("m").unwrap(), (1, 1));
    // A batch of intents spans several statements and names one record twice.
    let mut intents: Vec<Intent> = (0..250)
        .map(|i| Intent::create(&format!("k{i:03}"), &format!("x{i}")))
        .collect();
    intents.push(Intent::create("k007", "again"));
    s.add_intents("m", dir, &intents, 1).unwrap();
    let open = s.intents("m", dir).unwrap();
    assert_eq!(open.len(), 250);
    assert_eq!(open[7].dest_key, "again");
}

/// A save that moves a record to another partner frees the old one for a save after it, in
/// the same batch, as when each is made alone.
fn saves_in_a_batch_take_effect_in_their_order(s: &Store) {
    s.couple(&Coupling::new("m", "L1", "R1")).unwrap();
    s.transaction(|st| {
        st.save_coupling(&Coupling::new("m", "L1", "R2"))?;
        st.couple(&Coupling::new("m", "L2", "R1"))?;
        st.save_coupling(&Coupling::new("m", "L1", "R3"))
    })
    .unwrap();
    let partner = |l: &str| s.coupling("m", Side::Left, l).unwrap().unwrap().right_key;
    assert_eq!(
        (partner("L1"), partner("L2")),
        ("R3".to_string(), "R1".to_string())
    );
    assert_eq!(s.coupling_counts("m").unwrap(), (2, 0));
}

fn keys_sort_and_page_byte_by_byte(s: &Store) {
    for key in ["b", "é", "B", "a", "_", "a b"] {
        s.couple(&Coupling::new("m", key, &format!("r-{key}")))
            .unwrap();
    }
    let page = |after: Option<&str>| -> Vec<String> {
        s.couplings_page("m", after, 3)
            .unwrap()
            .into_iter()
            .map(|c| c.left_key)
            .collect()
    };
    assert_eq!(page(None), ["B", "_", "a"]);
    assert_eq!(page(Some("a")), ["a b", "b", "é"]);
}

fn every_error_is_listed_when_no_bound_is_given(s: &Store) {
    let dir = Direction::LeftToRight;
    for k in ["a", "b", "c"] {
        s.record_failure(1, "m", dir, k, None, "refused").unwrap();
    }
    assert_eq!(s.errors(None, None, usize::MAX).unwrap().len(), 3);
    assert_eq!(s.errors(Some(1), Some("m"), 2).unwrap().len(), 2);
}

/// Another store on the test's database (the store's own location, as another process opens it).
fn reopen(s: &Store) -> Store {
    reopen_result(s).expect("the store opens again")
}

fn reopen_result(s: &Store) -> Result<Store, StateError> {
    match &s.location {
        Location::File(path) => Store::open(&format!("sqlite://{}", path.display())),
        Location::Server(url) => Store::open(url),
    }
}

/// A URL that asks for TLS gets it, the server's certificate verified: against the authority
/// `sslrootcert` names, and refused against the public roots (the tests' server has an
/// authority of its own), never connected in the clear.
#[test]
fn tls_is_verified_against_the_authority_given_and_refused_otherwise() {
    let s = TestStore::postgres();
    let Some((server, name)) = &s.postgres else {
        unreachable!("a PostgreSQL store")
    };
    let show = |what: &str| {
        admin(server)
            .query_row(&format!("SHOW {what}"), &[])
            .unwrap()
            .and_then(|r| r.get::<String>(0).ok())
            .unwrap_or_default()
    };
    assert_eq!(
        show("ssl"),
        "on",
        "the tests' PostgreSQL serves no TLS: restart it with `.ci/postgres`"
    );
    let ca = std::path::Path::new(&show("ssl_cert_file")).with_file_name("ca.crt");
    let url = database_url(server, name);
    let sep = if url.contains('?') { '&' } else { '?' };
    let verified = format!("{url}{sep}sslmode=verify-full&sslrootcert={}", ca.display());
    let store = Store::open(&verified).unwrap();
    let encrypted = store
        .db
        .query_row(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .and_then(|r| r.get::<bool>(0).ok());
    assert_eq!(encrypted, Some(true), "the session is encrypted");
    assert!(!store.label().contains("sslrootcert"), "{}", store.label());
    let err = Store::open(&format!("{url}{sep}sslmode=require"))
        .err()
        .expect("refused against the public roots");
    assert!(err.to_string().contains("certificate"), "{err}");
    let err = Store::open(&format!("{url}{sep}sslmode=verify-ca"))
        .err()
        .expect("refused");
    assert!(err.to_string().contains("verify-full"), "{err}");
}

/// A server that closes the store's connection (a restart, a failover) fails what was under
/// way; the store connects again for what comes next, with its settings.
#[test]
fn a_store_connects_again_after_the_server_closed_its_connection() {
    let s = TestStore::postgres();
    let Some((server, name)) = &s.postgres else {
        unreachable!("a PostgreSQL store")
    };
    s.couple(&Coupling::new("m", "L1", "R1")).unwrap();
    // Prepared now, so the calls below would reuse it if it outlived its session.
    assert_eq!(s.coupling_counts("m").unwrap(), (1, 0));
    admin(server)
        .execute_script(&format!(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .unwrap();
    // The server process has ended (the timeout waits for it), but the client may not have
    // read that yet: the first call may fail; the one after it must not.
    let _ = s.coupling_counts("m");
    assert_eq!(s.coupling_counts("m").unwrap(), (1, 0));
    s.couple(&Coupling::new("m", "L2", "R2")).unwrap();
    let timeout =
        s.db.query_row("SELECT current_setting('lock_timeout')", &[])
            .unwrap()
            .unwrap()
            .get::<String>(0)
            .unwrap();
    assert_eq!(timeout, "30s", "the session's settings are made again");
}

/// Text PostgreSQL cannot keep is refused with a clear error, and nothing of the batch stays.
#[test]
fn text_with_a_nul_character_is_refused_clearly_in_postgresql() {
    let s = TestStore::postgres();
    let err = s
        .transaction(|st| {
            st.couple(&Coupling::new("m", "L1", "R1"))?;
            st.couple(&Coupling::new("m", "L\u{0}2", "R2"))
        })
        .unwrap_err();
    assert!(err.to_string().contains("NUL character"), "{err}");
    assert_eq!(s.coupling_counts("m").unwrap(), (0, 0));
}
