//! What syncmap promises, shown over the wire — against the Dataverse and Business Central
//! sandboxes, where the SQLite stand-in would hide the services' own behaviour: a person's change
//! to a row the sync also writes is not lost; deleting a lock file admits no second run or
//! scheduler; a new state store against populated systems couples what is there (and, with no
//! match rule, refuses to copy it); signals stop a run with the shell's exit codes; a first
//! modified-only run says what it left alone; a frozen holder's late create makes no second
//! account.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{json, Value as Json};
use syncmap::sandbox::person::Service;
use syncmap::sandbox::Seed;

use crate::support::wire::{field, multiset, text, totals, Wire};

/// How long an awaited event may take before the test fails (a guard, not a wait).
const DEADLINE: Duration = Duration::from_secs(120);

/// Waits until the sandboxes have processed `n` more write operations than now.
fn wait_for_writes(w: &Wire, n: u64) {
    let control = w.sandbox().control();
    let target = control.writes() + n;
    w.rt.block_on(async { tokio::time::timeout(DEADLINE, control.writes_reach(target)).await })
        .expect("the run went on writing");
}

/// `n` active customer accounts in Dataverse, named `Account 00000`, …; their names.
fn accounts(w: &Wire, n: usize) -> BTreeMap<String, usize> {
    let bodies = (0..n)
        .map(|i| {
            json!({
                "name": format!("Account {i:05}"),
                "customertypecode": 3,
                "statecode": 0,
                "emailaddress1": format!("a{i}@example.org"),
            })
        })
        .collect();
    let made = w.create_many(Service::Dataverse, "accounts", bodies);
    multiset(made.iter().map(|r| field(r, "name")))
}

/// The names of every Business Central customer, as a multiset.
fn customer_names(w: &Wire) -> BTreeMap<String, usize> {
    multiset(
        w.rows(Service::BusinessCentral, "customers")
            .iter()
            .map(|r| field(r, "displayName")),
    )
}

/// Starts `syncmap ARGS` of the standard mappings, its outputs piped.
fn spawn(w: &Wire, args: &[&str]) -> Child {
    w.syncmap_command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, name: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[test]
fn a_persons_change_to_a_row_the_sync_also_writes_is_read_and_synced_back() {
    let w = Wire::start(|_| {});
    // Each side changes a field that flows only from it: both changes must arrive, in one run.
    let plan = w.project(
        "lost-update",
        &[(
            "customers.map",
            "table customers: bc.customers <-> dv.accounts {\n    displayName <-> name [truncate]\n    creditLimit  -> creditlimit\n    city         <- address1_city [truncate]\n}\n",
        )],
    );
    let made = w.create_many(
        Service::BusinessCentral,
        "customers",
        vec![
            json!({ "displayName": "Oslo AS", "city": "Oslo", "creditLimit": 100, "blocked": " " }),
        ],
    );
    let customer = field(&made[0], "id");
    w.run_with(&plan, &["--mode", "full"]);
    let account = w
        .rows(Service::Dataverse, "accounts")
        .into_iter()
        .find(|a| a["name"] == "Oslo AS")
        .map(|a| field(&a, "accountid"))
        .expect("the account was made");
    w.patch(
        Service::BusinessCentral,
        "customers",
        &customer,
        json!({ "creditLimit": 900 }),
    );
    // A person in Dataverse (not the integration user) moves the account to Bergen.
    w.patch(
        Service::Dataverse,
        "accounts",
        &account,
        json!({ "address1_city": "Bergen" }),
    );
    // The left-to-right pass writes the credit limit to that same account; the right-to-left
    // pass must still see the person's change, although the account's last writer is the sync.
    let r = w.run_with(&plan, &["--mode", "modified"]);
    assert_eq!(totals(&r).failed, 0, "{r}");
    let account_now = w
        .rows(Service::Dataverse, "accounts")
        .into_iter()
        .find(|a| field(a, "accountid") == account)
        .unwrap();
    assert_eq!(
        account_now["creditlimit"].as_f64(),
        Some(900.0),
        "{account_now}"
    );
    let customer_now = w
        .rows(Service::BusinessCentral, "customers")
        .into_iter()
        .find(|c| field(c, "id") == customer)
        .unwrap();
    assert_eq!(
        customer_now["city"], "Bergen",
        "the change flowing back arrived"
    );
    // And the sync's own writes do not come back as changes.
    let quiet = totals(&w.run_with(&plan, &["--mode", "modified"]));
    assert_eq!(quiet.inserted + quiet.modified, 0, "{quiet:?}");
}

#[test]
fn deleting_the_lock_files_admits_no_second_run_and_no_second_scheduler() {
    let w = Wire::start(|_| {});
    w.write_profile("[run]\nbatch_size = 20\n");
    let names = accounts(&w, 1500);
    let mut first = spawn(&w, &["run", "--mode", "full", "--table", "customers"]);
    wait_for_writes(&w, 60);
    std::fs::remove_file(w.path().join(".syncmap/state.db.lock")).unwrap();
    let second = w.syncmap(&["run", "--mode", "full", "--table", "customers"]);
    let err = text(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains("another syncmap run is using the state store")
            && err.contains(&format!("process {} ", first.id())),
        "the second run is refused, naming the first: {err}"
    );

    // The same for schedulers: the first holds the scheduler lease once it starts a job.
    let mut scheduler = w
        .syncmap_command(&["schedule", "--metrics", "off", "--log-format", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(scheduler.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("job started") {
        line.clear();
        assert!(log.read_line(&mut line).unwrap() > 0, "the scheduler ended");
    }
    std::fs::remove_file(w.path().join(".syncmap/state.db.schedule.lock")).unwrap();
    let other = w.syncmap(&["schedule", "--once", "--metrics", "off"]);
    let err = text(&other.stderr);
    assert_eq!(other.status.code(), Some(2), "{err}");
    assert!(
        err.contains("another `syncmap schedule` is running")
            && err.contains(&format!("process {} ", scheduler.id())),
        "{err}"
    );
    signal(&scheduler, "TERM");
    assert!(scheduler.wait().unwrap().success());

    let status = first.wait().unwrap();
    assert!(matches!(status.code(), Some(0 | 1)), "{status}");
    w.run(&["--mode", "full", "--table", "customers"]);
    assert_eq!(
        customer_names(&w),
        names,
        "every account once in Business Central"
    );
}

/// Every row of the tables the standard mappings sync, by table and name, as multisets.
fn world(w: &Wire) -> BTreeMap<String, BTreeMap<String, usize>> {
    let tables = [
        (Service::BusinessCentral, "currencies", "code"),
        (Service::BusinessCentral, "salespeoplePurchasers", "code"),
        (Service::BusinessCentral, "customers", "displayName"),
        (Service::BusinessCentral, "vendors", "displayName"),
        (Service::BusinessCentral, "contacts", "displayName"),
        (
            Service::Dataverse,
            "transactioncurrencies",
            "isocurrencycode",
        ),
        (Service::Dataverse, "systemusers", "fullname"),
        (Service::Dataverse, "accounts", "name"),
        (Service::Dataverse, "contacts", "fullname"),
    ];
    tables
        .into_iter()
        .map(|(service, table, name)| {
            let rows = w.rows(service, table);
            (
                table.to_string(),
                multiset(rows.iter().map(|r| field(r, name))),
            )
        })
        .collect()
}

fn couplings(w: &Wire) -> i64 {
    w.state_count("SELECT COUNT(*) FROM couplings")
}

/// Removes the state store, as a person starting over (or another machine) would.
fn new_store(w: &Wire) {
    std::fs::remove_dir_all(w.path().join(".syncmap")).unwrap();
}

#[test]
fn a_new_state_store_against_two_synced_systems_couples_what_is_there_and_creates_nothing() {
    let w = Wire::start(|c| c.seed = Seed::Demo);
    let r = w.run(&["--mode", "full"]);
    assert_eq!(totals(&r).failed, 0, "{r}");
    let before = world(&w);
    let coupled = couplings(&w);
    assert!(coupled > 20, "{coupled}");

    new_store(&w);
    let r = w.run(&["--mode", "full"]);
    let t = totals(&r);
    assert_eq!((t.inserted, t.failed), (0, 0), "{r}");
    assert_eq!(t.coupled, coupled as u64, "every pair is coupled again");
    assert_eq!(world(&w), before, "no row added or lost on either side");
    assert_eq!(couplings(&w), coupled);
    let quiet = totals(&w.run(&["--mode", "modified"]));
    assert_eq!(quiet.inserted + quiet.modified, 0, "{quiet:?}");
}

#[test]
fn without_match_rules_a_new_store_refuses_to_copy_a_populated_table_and_says_how_to_go_on() {
    let w = Wire::start(|c| c.seed = Seed::Demo);
    let customers = std::fs::read_to_string(w.maps().join("customers.map")).unwrap();
    let without = customers.replace("    match number == accountnumber\n", "");
    assert_ne!(without, customers);
    let mut files: Vec<(String, String)> = Vec::new();
    for f in [
        "currencies",
        "options",
        "salespeople",
        "vendors",
        "contacts",
        "jobs",
    ] {
        let name = format!("{f}.map");
        files.push((
            name.clone(),
            std::fs::read_to_string(w.maps().join(&name)).unwrap(),
        ));
    }
    files.push(("customers.map".into(), without));
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let plan = w.project("no-match", &files);
    w.run(&["--mode", "full"]);
    let before = world(&w);

    new_store(&w);
    let out = w.syncmap_with(&plan, &["run", "--mode", "full", "--table", "customers"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in [
        "the state store holds no couplings for this table mapping",
        "dv.accounts already has rows",
        "would duplicate records",
        "match rule",
        "--create-without-match",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from: {err}");
    }
    assert_eq!(world(&w), before, "nothing was created");
    let log = w.syncmap(&["log", "--json"]);
    let runs: Json = serde_json::from_slice(&log.stdout).unwrap();
    assert_eq!(runs[0]["status"], "failed", "{runs}");
}

/// Stops a full sync with a signal once it is writing; its exit code, report and stderr.
fn stopped_by(signal_name: &str) -> (Wire, BTreeMap<String, usize>, i32, Json, String) {
    let w = Wire::start(|_| {});
    w.write_profile("[run]\nbatch_size = 10\n");
    let names = accounts(&w, 400);
    let child = spawn(
        &w,
        &["run", "--json", "--mode", "full", "--table", "customers"],
    );
    wait_for_writes(&w, 20);
    signal(&child, signal_name);
    let out = child.wait_with_output().unwrap();
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    let code = out.status.code().unwrap_or(-1);
    (w, names, code, report, text(&out.stderr))
}

#[test]
fn sigint_and_sigterm_stop_after_the_batch_in_flight_with_exits_130_and_143() {
    for (name, exit) in [("INT", 130), ("TERM", 143)] {
        let (w, names, code, report, err) = stopped_by(name);
        assert_eq!(code, exit, "SIG{name}: {err}");
        assert!(
            err.contains("stopping after the batch in flight — press Ctrl-C again to abort"),
            "{err}"
        );
        assert_eq!(report["interrupted"], true, "{report}");
        assert_eq!(report["status"], "interrupted", "{report}");
        assert!(totals(&report).inserted > 0, "{report}");
        let log = w.syncmap(&["log", "--json"]);
        let runs: Json = serde_json::from_slice(&log.stdout).unwrap();
        assert_eq!(runs[0]["status"], "interrupted", "{runs}");
        // The next run finishes the job: every account once.
        w.run(&["--mode", "full", "--table", "customers"]);
        assert_eq!(customer_names(&w), names);
    }
}

#[test]
fn a_first_modified_only_run_says_what_it_left_alone_and_how_to_couple_it() {
    let w = Wire::start(|c| c.seed = Seed::Demo);
    let human = w.syncmap(&["run", "--mode", "modified", "--dry-run"]);
    assert!(
        text(&human.stdout).contains("hint: "),
        "{}",
        text(&human.stdout)
    );
    let r = w.run(&["--mode", "modified"]);
    let hints = r["hints"].as_array().cloned().unwrap_or_default();
    assert_eq!(hints.len(), 1, "{r}");
    let hint = hints[0].as_str().unwrap();
    assert!(
        hint.contains("not coupled") && hint.contains("syncmap run --mode full"),
        "{hint}"
    );
    let left: u64 = r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["not_coupled"].as_u64().unwrap_or(0))
        .sum();
    assert!(left > 0 && hint.starts_with(&left.to_string()), "{r}");
}

#[test]
fn a_plain_odata_service_that_takes_client_keys_gets_every_record_once_through_lost_answers() {
    let w = Wire::start(|_| {});
    // Dataverse spoken to as a plain OData service, told that it takes the keys creates carry.
    // Small batches, so that some answers are lost and others arrive.
    w.write_profile("batch = \"multipart\"\nbatch_size = 5\nclient_keys = true\n");
    let plan = w.project(
        "plain-odata",
        &[
            (
                "systems.map",
                "system bc: business_central { schema = \"schemas/business-central.json\" }\n\
                 system dv: odata { schema = \"schemas/dataverse.json\" }\n",
            ),
            (
                "customers.map",
                "table customers: bc.customers -> dv.accounts {\n    match number == accountnumber\n    \
                 number -> accountnumber\n    displayName -> name [truncate]\n}\n",
            ),
        ],
    );
    let names: Vec<String> = (0..150).map(|i| format!("Keyed {i:03}")).collect();
    w.create_many(
        Service::BusinessCentral,
        "customers",
        names.iter().map(|n| json!({ "displayName": n })).collect(),
    );
    w.sandbox().control().set_faults(syncmap::sandbox::Faults {
        lost_answer_rate: 0.3,
        seed: 11,
        ..syncmap::sandbox::Faults::default()
    });
    let first = totals(&w.run_with(&plan, &["--mode", "full"]));
    assert!(first.inserted > 0, "{first:?}");
    let lost = w.sandbox().control().stats().answers_lost;
    assert!(lost > 3, "the run met lost answers: {lost}");
    w.sandbox()
        .control()
        .set_faults(syncmap::sandbox::Faults::default());
    // Whatever lost its answer is settled by the key it was sent with; the rest is created now.
    let second = totals(&w.run_with(&plan, &["--mode", "full"]));
    assert_eq!(second.failed, 0, "{second:?}");
    let accounts = multiset(
        w.rows(Service::Dataverse, "accounts")
            .iter()
            .map(|a| field(a, "name")),
    );
    assert_eq!(
        accounts,
        multiset(names.iter().cloned()),
        "each customer once"
    );
    let quiet = totals(&w.run_with(&plan, &["--mode", "full"]));
    assert_eq!((quiet.inserted, quiet.modified), (0, 0), "{quiet:?}");
}

/// A create a holder frozen past its lease had let go, not yet carried out when the next run
/// looked: that run makes the record's account under the key the create was given, so the late
/// write, when it comes, meets a taken key (Dataverse's `0x80040237`) and no account is made
/// twice.
#[test]
fn a_frozen_holders_late_create_meets_the_account_made_under_its_key() {
    let w = Wire::start(|_| {});
    // A first run makes the store; then a customer, and the intent of an account for it that
    // the frozen holder recorded and let go.
    w.run(&["--mode", "full"]);
    let made = w.create_many(
        Service::BusinessCentral,
        "customers",
        vec![json!({ "displayName": "Late Customer", "blocked": " " })],
    );
    let customer = field(&made[0], "id");
    let key = uuid::Uuid::new_v4().to_string();
    w.state()
        .execute(
            "INSERT INTO intents (mapping, direction, source_key, dest_key, at, kind)
             VALUES ('customers', 'left_to_right', ?1, ?2, '2026-12-05T00:00:00Z', 'create')",
            [&customer, &key],
        )
        .unwrap();
    let r = w.run(&["--mode", "full"]);
    assert_eq!(totals(&r).inserted, 1, "{r}");
    let accounts = w.rows(Service::Dataverse, "accounts");
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        field(&accounts[0], "accountid"),
        key,
        "made under the create's key"
    );
    assert_eq!(w.state_count("SELECT count(*) FROM create_keys"), 0);
    // The late write arrives: refused, the account already there.
    let late = w.rt.block_on(w.person().create(
        Service::Dataverse,
        "accounts",
        json!({ "accountid": key, "name": "Late Customer" }),
    ));
    assert!(late.is_err_and(|e| e.contains("0x80040237")));
    assert_eq!(w.rows(Service::Dataverse, "accounts").len(), 1);
}
