//! Workers sharing the standard mappings' jobs through one PostgreSQL store, against the
//! Business Central and Dataverse sandboxes: three `syncmap worker` processes, one killed with
//! SIGKILL while it syncs customers, and the survivors take its unit over and finish every
//! unit; then a worker frozen mid-run (SIGSTOP) past its lease, whose unit another worker
//! takes over, and whose late commit is refused when it wakes. Both systems must end with every
//! record exactly once (multisets).

use std::collections::BTreeMap;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use serde_json::json;
use syncmap::sandbox::person::Service;

use crate::support::postgres::TestDatabase;
use crate::support::wire::{field, multiset, Wire};

/// Customers seeded in Business Central: enough batches for a kill to land mid-run.
const CUSTOMERS: usize = 300;

/// The second application user's client id, and the variable holding its secret.
const SECOND_USER: &str = "syncmap-worker-2";
pub(crate) const SECOND_SECRET_ENV: &str = "SYNCMAP_TEST_SECOND_SECRET";

/// The sandboxes with a profile whose state store is `db`, `CUSTOMERS` customers, and the
/// standard mappings with their jobs made full syncs (a modified-only sync leaves records
/// never coupled alone).
///
/// `syncmap-2.toml` is the same profile as a second application user, whose budget the
/// sandbox counts apart.
fn setup(db: &TestDatabase) -> (Wire, BTreeMap<String, usize>) {
    let w = Wire::start(|c| {
        c.auth.more_clients = vec![(SECOND_USER.into(), second_secret())];
    });
    let profiles = [
        (
            "syncmap.toml",
            w.sandbox().profile_toml(crate::support::wire::SECRET_ENV),
        ),
        (
            "syncmap-2.toml",
            w.sandbox()
                .profile_toml_as(1, SECOND_SECRET_ENV)
                .expect("the second user"),
        ),
    ];
    for (file, profile) in profiles {
        let profile = profile.replace("sqlite://.syncmap/state.db", &db.url);
        assert!(profile.contains(&db.url), "the profile names the store");
        std::fs::write(
            w.path().join(file),
            format!("{profile}\n[run]\nbatch_size = 10\n"),
        )
        .unwrap();
    }
    let bodies = (0..CUSTOMERS)
        .map(|i| json!({ "displayName": format!("Customer {i:04}"), "blocked": " " }))
        .collect();
    let made = w.create_many(Service::BusinessCentral, "customers", bodies);
    let jobs = w.maps().join("jobs.map");
    let text = std::fs::read_to_string(&jobs).unwrap();
    assert!(text.contains("sync modified"), "the standard jobs");
    std::fs::write(&jobs, text.replace("sync modified", "sync full")).unwrap();
    let names = multiset(made.iter().map(|r| field(r, "displayName")));
    (w, names)
}

pub(crate) fn second_secret() -> String {
    format!("second-{}", std::process::id())
}

/// A worker that runs until nothing is due, its log in a file of its own; worker 2
/// authenticates as the second application user.
fn worker(w: &Wire, n: usize) -> Child {
    let profile = if n == 2 {
        "syncmap-2.toml"
    } else {
        "syncmap.toml"
    };
    worker_with(w, n, profile)
}

/// Worker `n` with a profile of the test's folder, as [`worker`].
pub(crate) fn worker_with(w: &Wire, n: usize, profile: &str) -> Child {
    let log = std::fs::File::create(w.path().join(format!("worker-{n}.log"))).unwrap();
    let summary = std::fs::File::create(w.path().join(format!("worker-{n}.json"))).unwrap();
    w.command(&[
        "worker",
        "--until-idle",
        "--metrics",
        "off",
        "--format",
        "json",
    ])
    .args(["--plan", "maps", "--profile", profile])
    .env(SECOND_SECRET_ENV, second_secret())
    .stdout(summary)
    .stderr(log)
    .spawn()
    .unwrap()
}

pub(crate) fn log_of(w: &Wire, n: usize) -> String {
    std::fs::read_to_string(w.path().join(format!("worker-{n}.log"))).unwrap_or_default()
}

/// Waits for a child to end, failing the test after `limit`.
pub(crate) fn wait(child: &mut Child, limit: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "a worker did not end in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the sandbox has processed `writes` more writes and a worker holds a customers
/// unit (of any company) while that unit's run is under way, not between its end and the
/// lease's release; that worker's process.
pub(crate) fn customers_under_way(w: &Wire, db: &TestDatabase, writes: u64) -> u32 {
    let control = w.sandbox().control();
    let target = control.writes() + writes;
    let reached = w.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(180), control.writes_reach(target)).await
    });
    assert!(
        reached.is_ok(),
        "the workers wrote fewer than {writes} records"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pid = db.number(
            "SELECT COALESCE(MAX(l.pid), 0) FROM leases l \
             WHERE l.name LIKE 'unit:%customers' AND l.holder IS NOT NULL \
               AND EXISTS (SELECT 1 FROM runs r WHERE r.status = 'running' \
                 AND r.tables LIKE '%\"customers\"%' \
                 AND l.name = 'unit:' || CASE WHEN r.company = '' THEN '' \
                                              ELSE r.company || '/' END || 'customers')",
        );
        if let Some(pid) = u32::try_from(pid).ok().filter(|p| *p > 0) {
            return pid;
        }
        assert!(Instant::now() < deadline, "no worker syncs customers");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Both sides hold every seeded customer exactly once, coupled once, nothing left intended,
/// and every unit ran to success and is not due.
fn assert_synced_once(w: &Wire, db: &TestDatabase, names: &BTreeMap<String, usize>) {
    let accounts = w.rows(Service::Dataverse, "accounts");
    assert_eq!(&multiset(accounts.iter().map(|r| field(r, "name"))), names);
    let customers = w.rows(Service::BusinessCentral, "customers");
    assert_eq!(
        &multiset(customers.iter().map(|r| field(r, "displayName"))),
        names
    );
    assert_eq!(
        db.number("SELECT count(*) FROM couplings WHERE mapping = 'customers'"),
        CUSTOMERS as i64
    );
    assert_every_unit_done(db);
}

/// Nothing left intended or running, and every unit ran to success and is not due.
pub(crate) fn assert_every_unit_done(db: &TestDatabase) {
    assert_eq!(
        db.number("SELECT count(*) FROM intents"),
        0,
        "every intent settled"
    );
    assert_eq!(
        db.number("SELECT count(*) FROM runs WHERE status = 'running'"),
        0
    );
    assert_eq!(
        db.number(
            "SELECT count(*) FROM units WHERE last_status IS DISTINCT FROM 'succeeded' \
             OR due_at IS NULL OR due_at::timestamptz <= now()"
        ),
        0,
        "every unit ran to success and waits for its next time"
    );
}

#[test]
fn three_workers_share_the_jobs_and_finish_the_unit_of_one_killed_mid_run() {
    let db = TestDatabase::new("workers");
    let (w, names) = setup(&db);
    let mut workers: Vec<Child> = (0..3).map(|n| worker(&w, n)).collect();
    let victim = customers_under_way(&w, &db, 60);
    let running = db.number("SELECT count(*) FROM runs WHERE status = 'running'");
    assert!(running >= 1, "the kill lands in a run");
    let killed = workers
        .iter()
        .position(|c| c.id() == victim)
        .expect("one of the workers holds it");
    // SIGKILL: the worker gets no chance to release its unit or record its run.
    workers[killed].kill().unwrap();
    let mut survivors_ran = 0;
    for (n, child) in workers.iter_mut().enumerate() {
        let status = wait(child, Duration::from_secs(240));
        if n == killed {
            continue;
        }
        assert_eq!(status.code(), Some(0), "worker {n}:\n{}", log_of(&w, n));
        // Its summary lists each unit it ran, with the run's id and status.
        let text = std::fs::read_to_string(w.path().join(format!("worker-{n}.json"))).unwrap();
        let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
        let jobs = summary["jobs"].as_array().unwrap();
        assert_eq!(
            jobs.len() as u64,
            summary["runs"].as_u64().unwrap(),
            "{summary}"
        );
        for job in jobs {
            assert_eq!(job["status"], "succeeded", "{job}");
            assert!(job["name"].as_str().unwrap().contains('/'), "{job}");
        }
        survivors_ran += usize::from(!jobs.is_empty());
    }
    assert!(
        survivors_ran >= 1 && log_of(&w, killed).contains("unit started"),
        "the units were shared"
    );
    assert_eq!(
        db.number("SELECT count(*) FROM runs WHERE status = 'interrupted'"),
        1,
        "the killed worker's run was closed by the worker that took its unit over"
    );
    assert_synced_once(&w, &db, &names);
    // `status` shows the units: the standard jobs make eight, all done, none held.
    let status = w.syncmap(&["status", "--json"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let units = doc["units"].as_array().expect("units in the status");
    assert_eq!(units.len(), 8, "{units:?}");
    for u in units {
        assert_eq!(u["last_status"], "succeeded", "{u}");
        assert!(u["held_by"].is_null() && u["due_at"].is_string(), "{u}");
    }
}

#[test]
fn a_worker_frozen_past_its_lease_loses_its_unit_and_its_late_commit_is_refused() {
    let db = TestDatabase::new("frozen");
    let (w, names) = setup(&db);
    let mut frozen = worker(&w, 0);
    let pid = customers_under_way(&w, &db, 40);
    assert_eq!(pid, frozen.id());
    signal("STOP", pid);
    // Another worker waits out the lease, ends the frozen worker's session and takes over.
    let mut other = worker(&w, 1);
    let status = wait(&mut other, Duration::from_secs(240));
    assert_eq!(status.code(), Some(0), "{}", log_of(&w, 1));
    assert!(log_of(&w, 1).contains("ending the sessions of a holder"));
    signal("CONT", pid);
    let status = wait(&mut frozen, Duration::from_secs(120));
    let log = log_of(&w, 0);
    assert!(status.code().is_some(), "it ended by itself: {status}");
    for line in log
        .lines()
        .filter(|l| l.contains("lost") || l.contains("unit "))
    {
        println!("frozen worker: {line}");
    }
    assert!(
        log.contains("lease lost") || log.contains("lost its lease"),
        "the woken worker knows it lost its unit: {log}"
    );
    assert_synced_once(&w, &db, &names);
}

fn signal(name: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} {pid}");
}
