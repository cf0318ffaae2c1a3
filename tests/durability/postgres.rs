//! Runs killed with SIGKILL at random moments with the state store in PostgreSQL: the next runs
//! resume from what the store committed, and nothing is lost or made twice. The engine's logic
//! is the one `sqlite` tests at length; this proves the PostgreSQL store keeps its promises
//! (intents committed before writes, outcomes with their couplings, the lease taken over from a
//! killed holder once it expired).

use crate::support;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::postgres::TestDatabase;
use support::{kill_seed, Rng, World};

const CUSTOMERS_A_ROUND: usize = 40;
const ACCOUNTS_A_ROUND: usize = 20;
const RENAMED_A_ROUND: usize = 10;
/// Kills that must land after a run has begun.
const LANDED: usize = 6;

/// Every name in one table of one system, sorted (a multiset: a record made twice shows).
fn names(w: &World, sys: &str, table: &str, column: &str) -> Vec<String> {
    let mut all: Vec<String> = w
        .rows(sys, table)
        .iter()
        .filter_map(|r| match r.fields.get(column) {
            Some(syncmap::value::Value::String(t)) => Some(t.clone()),
            _ => None,
        })
        .collect();
    all.sort();
    all
}

#[test]
fn runs_killed_at_random_moments_with_the_store_in_postgresql_lose_and_duplicate_nothing() {
    let seed = kill_seed();
    println!("seed: {seed} (replay the choices with SYNCMAP_KILL_SEED={seed})");
    let mut rng = Rng::new(seed);
    let db = TestDatabase::new("kills");
    let w = World::standard();
    w.use_state(&db.url);
    let profile = std::fs::read_to_string(w.path().join("syncmap.toml")).unwrap();
    // Small pages and batches: many commit points for the kills to fall between.
    std::fs::write(
        w.path().join("syncmap.toml"),
        format!("{profile}[run]\npage_size = 40\nbatch_size = 10\n"),
    )
    .unwrap();
    // Customers by key with their names, and the accounts' names: both sides must end with
    // all of them, once each.
    let mut customers: Vec<(String, String)> = Vec::new();
    let mut accounts: Vec<String> = Vec::new();
    let mut add = |w: &World, round: usize, customers: &mut Vec<(String, String)>| {
        for i in 0..CUSTOMERS_A_ROUND {
            let name = format!("Customer {round:02}-{i:02}");
            let key = w.add_customer(&format!("K{round:02}{i:02}"), &name, &[]);
            customers.push((key, name));
        }
        for i in 0..ACCOUNTS_A_ROUND {
            let name = format!("Account {round:02}-{i:02}");
            w.add_account(&name, &[]);
            accounts.push(name);
        }
    };
    add(&w, 0, &mut customers);

    // Kill delays are drawn up to the longest time a run was seen to take.
    let mut longest = Duration::from_secs(2);
    // Kills before the run has begun (the process still compiles the mappings) test little:
    // delays start after the longest such kill seen, less a margin.
    let mut startup = Duration::ZERO;
    let (mut landed, mut with_open_intents, mut rounds) = (0, 0, 0);
    while landed < LANDED {
        rounds += 1;
        assert!(
            rounds <= 60,
            "only {landed} kills landed in a run (seed {seed})"
        );
        // New records and renamed ones: every run has creates and updates to make.
        add(&w, rounds, &mut customers);
        for _ in 0..RENAMED_A_ROUND {
            let i = rng.below(customers.len());
            let (key, name) = &mut customers[i];
            *name = format!("{name} r{rounds}");
            w.update("bc", "customers", key, &[("displayName", support::s(name))]);
        }
        let runs_before = runs(&db);
        let from = startup.min(longest / 2);
        let delay = from
            + Duration::from_millis(rng.below((longest - from).as_millis() as usize + 1) as u64);
        let mut child = Command::new(env!("CARGO_BIN_EXE_syncmap"))
            .args(["run", "--mode", "full"])
            .current_dir(w.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let spawned = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                longest = longest.max(spawned.elapsed());
                break status;
            }
            if spawned.elapsed() >= delay {
                // SIGKILL: the process gets no chance to clean up.
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        if status.signal() == Some(9) {
            lease_expired(&db);
            if runs(&db) > runs_before {
                landed += 1;
                if count(&db, "intents") > 0 {
                    with_open_intents += 1;
                }
            } else {
                startup = startup.max(delay * 3 / 4);
            }
        }
    }
    let mut expected: Vec<String> = customers.into_iter().map(|(_, n)| n).collect();
    expected.extend(accounts);
    expected.sort();
    println!("{landed} kills landed in a run in {rounds} rounds, {with_open_intents} with writes intended and not settled");

    let last = w.cli(&["run", "--mode", "full", "--json"]);
    assert_eq!(last.code, 0, "{}{}", last.stdout, last.stderr);
    assert_eq!(
        db.number("SELECT count(*) FROM intents"),
        0,
        "every intent settled"
    );
    assert_eq!(names(&w, "bc", "customers", "displayName"), expected);
    assert_eq!(names(&w, "dv", "accounts", "name"), expected);
    // Every record is coupled once, and a run after it finds nothing to do.
    assert_eq!(
        db.number("SELECT count(*) FROM couplings WHERE mapping = 'customers'"),
        expected.len() as i64
    );
    let quiet = w.cli(&["run", "--mode", "full", "--json"]).json();
    for t in quiet["tables"].as_array().unwrap() {
        assert_eq!(
            (t["inserted"].as_u64(), t["modified"].as_u64()),
            (Some(0), Some(0)),
            "{t}"
        );
    }
}

/// Waits until the run lease a killed run held has expired: a session gone does not prove a
/// process dead in PostgreSQL, so the next run takes over only then.
fn lease_expired(db: &TestDatabase) {
    let started = Instant::now();
    while count(db, "leases") > 0
        && db.number(
            "SELECT count(*) FROM leases WHERE name = 'run' AND holder IS NOT NULL \
             AND heartbeat_at::timestamptz > now() - interval '10.1 seconds'",
        ) > 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the lease never expired"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn runs(db: &TestDatabase) -> i64 {
    count(db, "runs")
}

/// The rows of one of the store's tables; 0 before the store made it.
fn count(db: &TestDatabase, table: &str) -> i64 {
    if db.number(&format!(
        "SELECT count(*) FROM pg_tables WHERE tablename = '{table}'"
    )) == 0
    {
        return 0;
    }
    db.number(&format!("SELECT count(*) FROM {table}"))
}
