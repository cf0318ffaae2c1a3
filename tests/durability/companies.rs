//! Many companies from one plan, shared by workers: the standard mappings for six Business
//! Central companies into one Dataverse, from three `syncmap worker` processes, each its own
//! application user, sharing a PostgreSQL store. One is killed with SIGKILL while it syncs a
//! company's customers. Every company holds the same customers (names and numbers), so only
//! the company scope keeps one company's account from being matched by another's customer:
//! each company must end with each of its customers exactly once in Dataverse, as an account
//! of its own company (multisets), and nothing of another's.

use std::collections::BTreeMap;
use std::process::Child;
use std::time::Duration;

use serde_json::json;
use syncmap::sandbox::person::Service;

use super::workers::{
    assert_every_unit_done, customers_under_way, log_of, second_secret, wait, worker_with,
    SECOND_SECRET_ENV,
};
use crate::support::postgres::TestDatabase;
use crate::support::wire::{field, multiset, Wire};

/// Companies besides the sandbox's first.
const MORE_COMPANIES: usize = 5;
/// Customers seeded in each company: enough batches for a kill to land mid-run.
const CUSTOMERS: usize = 100;

/// Each company's customers' names, by company.
type Names = BTreeMap<String, BTreeMap<String, usize>>;

/// The sandboxes with six companies and three application users; `syncmap-N.toml` syncs every
/// company as user N, into the store `db`; the standard jobs made full syncs.
fn setup(db: &TestDatabase) -> (Wire, Names) {
    let w = Wire::start(|c| {
        c.more_companies = MORE_COMPANIES;
        c.auth.more_clients = vec![
            ("syncmap-worker-2".into(), second_secret()),
            ("syncmap-worker-3".into(), second_secret()),
        ];
    });
    for n in 0..3 {
        // The first user's secret is the test's; the others share one of their own.
        let secret_env = match n {
            0 => crate::support::wire::SECRET_ENV,
            _ => SECOND_SECRET_ENV,
        };
        let profile = w
            .sandbox()
            .companies_profile_toml_as(n, secret_env)
            .expect("the user")
            .replace("sqlite://.syncmap/state.db", &db.url);
        std::fs::write(
            w.path().join(format!("syncmap-{n}.toml")),
            format!("{profile}\n[run]\nbatch_size = 10\n"),
        )
        .unwrap();
    }
    let mut names = Names::new();
    for company in w.sandbox().company_names() {
        let bodies = (0..CUSTOMERS)
            .map(|i| json!({ "displayName": format!("Customer {i:03}"), "blocked": " " }))
            .collect();
        let made = w.create_many_in(&company, "customers", bodies);
        names.insert(
            company,
            multiset(made.iter().map(|r| field(r, "displayName"))),
        );
    }
    let jobs = w.maps().join("jobs.map");
    let text = std::fs::read_to_string(&jobs).unwrap();
    std::fs::write(&jobs, text.replace("sync modified", "sync full")).unwrap();
    (w, names)
}

/// Each company's Dataverse accounts are its customers, once each, and no account is left
/// without its company.
fn assert_each_company_synced_once(w: &Wire, db: &TestDatabase, names: &Names) {
    let accounts = w.rows(Service::Dataverse, "accounts");
    let mut by_company: Names = BTreeMap::new();
    for a in &accounts {
        let company = field(a, "_bcbi_companyid_value");
        let name = w
            .sandbox()
            .company_names()
            .into_iter()
            .find(|n| w.sandbox().dataverse_company_id(n).as_deref() == Some(company.as_str()))
            .unwrap_or_else(|| panic!("an account of no seeded company: {a}"));
        *by_company
            .entry(name)
            .or_default()
            .entry(field(a, "name"))
            .or_default() += 1;
    }
    assert_eq!(&by_company, names, "each company's accounts, once each");
    for (company, expected) in names {
        let customers = w.rows_in(company, "customers");
        assert_eq!(
            &multiset(customers.iter().map(|r| field(r, "displayName"))),
            expected,
            "{company}'s customers"
        );
        let coupled = db.number(&format!(
            "SELECT count(*) FROM couplings WHERE mapping = 'customers' AND company = '{company}'"
        ));
        assert_eq!(coupled, CUSTOMERS as i64, "{company}'s couplings");
    }
    assert_every_unit_done(db);
    assert_eq!(
        db.number("SELECT count(DISTINCT company) FROM units"),
        (MORE_COMPANIES + 1) as i64
    );
}

#[test]
fn three_users_sync_six_companies_and_a_killed_worker_loses_and_duplicates_nothing() {
    let db = TestDatabase::new("companies");
    let (w, names) = setup(&db);
    let mut workers: Vec<Child> = (0..3)
        .map(|n| worker_with(&w, n, &format!("syncmap-{n}.toml")))
        .collect();
    let victim = customers_under_way(&w, &db, 120);
    let killed = workers
        .iter()
        .position(|c| c.id() == victim)
        .expect("one of the workers holds it");
    workers[killed].kill().unwrap();
    for (n, child) in workers.iter_mut().enumerate() {
        let status = wait(child, Duration::from_secs(300));
        if n != killed {
            assert_eq!(status.code(), Some(0), "worker {n}:\n{}", log_of(&w, n));
        }
    }
    assert_eq!(
        db.number("SELECT count(*) FROM runs WHERE status = 'interrupted'"),
        1,
        "the killed worker's run was closed by the worker that took its unit over"
    );
    assert_each_company_synced_once(&w, &db, &names);
    // Each company's state is read by naming it.
    let status = w.syncmap_in(
        "syncmap-0.toml",
        &["status", "--json", "--company", "CRONUS 3"],
    );
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        doc["units"].as_array().map(Vec::len),
        Some(8 * (MORE_COMPANIES + 1)),
        "{doc}"
    );
    assert_eq!(doc["last_run"]["company"], "CRONUS 3", "{doc}");
}

/// Each company's status in `run --json`'s document, in the order they ran.
fn statuses(doc: &serde_json::Value) -> Vec<(&str, &str)> {
    doc["companies"]
        .as_array()
        .expect("a report per company")
        .iter()
        .map(|r| {
            (
                r["company"].as_str().unwrap_or_default(),
                r["status"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

/// The accounts of each seeded company, by name (multisets); accounts of no company under "".
fn accounts_by_company(w: &Wire) -> Names {
    let mut out = Names::new();
    for a in w.rows(Service::Dataverse, "accounts") {
        let id = field(&a, "_bcbi_companyid_value");
        let company = w
            .sandbox()
            .company_names()
            .into_iter()
            .find(|n| w.sandbox().dataverse_company_id(n).as_deref() == Some(id.as_str()))
            .unwrap_or_default();
        *out.entry(company)
            .or_default()
            .entry(field(&a, "name"))
            .or_default() += 1;
    }
    out
}

#[test]
fn run_syncs_every_company_in_turn_and_a_company_keeps_to_its_rows() {
    let w = Wire::start(|c| c.more_companies = 1);
    let mut names = Names::new();
    for (n, company) in w.sandbox().company_names().into_iter().enumerate() {
        // Three customers in the first company, two in the second: each company's counts
        // are its own.
        let bodies = (0..3 - n)
            .map(|i| json!({ "displayName": format!("Customer {i}"), "blocked": " " }))
            .collect();
        let made = w.create_many_in(&company, "customers", bodies);
        names.insert(
            company,
            multiset(made.iter().map(|r| field(r, "displayName"))),
        );
    }
    let first = w.sandbox().company_name().to_string();
    // A profile of one company syncs the first: its accounts belong to no company.
    w.run(&["--mode", "full", "--table", "customers"]);
    let none = Names::from([(String::new(), names[&first].clone())]);
    assert_eq!(accounts_by_company(&w), none);

    // Its store is refused by a profile of many companies, which would not find its couplings.
    let profile = w
        .sandbox()
        .companies_profile_toml_as(0, crate::support::wire::SECRET_ENV)
        .expect("the user");
    std::fs::write(w.path().join("syncmap.toml"), profile).unwrap();
    let refused = w.syncmap(&["run", "--mode", "full", "--table", "customers"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("holds the couplings of a profile that named one company"),
        "{err}"
    );

    // With a store of its own, each company syncs in turn. The first matches the accounts of
    // no company and makes them its own; the second, whose customers hold the same numbers,
    // no longer sees them and makes its own.
    std::fs::remove_file(w.state_path()).unwrap();
    let out = w.syncmap(&["run", "--mode", "full", "--table", "customers", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let companies: Vec<&str> = doc["companies"]
        .as_array()
        .expect("a report per company")
        .iter()
        .map(|r| r["company"].as_str().unwrap())
        .collect();
    assert_eq!(companies, [first.as_str(), "CRONUS 2"], "{doc}");
    assert_eq!(accounts_by_company(&w), names);

    // An account another company has made its own is not written from this one.
    let second = "CRONUS 2";
    let taken = w
        .rows(Service::Dataverse, "accounts")
        .into_iter()
        .find(|a| {
            field(a, "_bcbi_companyid_value") == w.sandbox().dataverse_company_id(second).unwrap()
        })
        .expect("an account of the second company");
    let first_id = w.sandbox().dataverse_company_id(&first).unwrap();
    w.patch(
        Service::Dataverse,
        "accounts",
        &field(&taken, "accountid"),
        json!({ "bcbi_companyid@odata.bind": format!("/bcbi_companies({first_id})") }),
    );
    let customer = w
        .rows_in(second, "customers")
        .into_iter()
        .find(|c| field(c, "number") == field(&taken, "accountnumber"))
        .expect("its customer");
    let person = w.person().in_company(second);
    w.rt.block_on(person.patch(
        Service::BusinessCentral,
        "customers",
        &field(&customer, "id"),
        json!({ "displayName": "Renamed in the second company" }),
    ))
    .unwrap();
    let out = w.syncmap(&[
        "run",
        "--mode",
        "full",
        "--table",
        "customers",
        "--company",
        second,
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let errors = w.syncmap(&["errors", "--company", second]);
    let text = String::from_utf8_lossy(&errors.stdout);
    assert!(text.contains("belongs to another company"), "{text}");
    let now = w
        .rows(Service::Dataverse, "accounts")
        .into_iter()
        .find(|a| field(a, "accountid") == field(&taken, "accountid"))
        .unwrap();
    assert_eq!(field(&now, "name"), field(&taken, "name"), "not written");
    assert_eq!(
        field(&now, "_bcbi_companyid_value"),
        first_id,
        "not taken back"
    );
    // Nor coupled to it by hand.
    let out = w.syncmap(&[
        "couple",
        "customers",
        "--left",
        &field(&customer, "id"),
        "--right",
        &field(&taken, "accountid"),
        "--company",
        second,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("belongs to another company"), "{err}");

    // Reading one company's state takes its name.
    let status = w.syncmap(&["status"]);
    let err = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(2), "{err}");
    assert!(
        err.contains("name one with --company (`CRONUS USA, Inc.`, `CRONUS 2`)"),
        "{err}"
    );
    let status = w.syncmap(&["status", "--json", "--company", "cronus 2"]);
    assert!(status.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let customers = doc["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["mapping"] == "customers"))
        .expect("the customers mapping");
    assert_eq!(customers["coupled"], 2, "{doc}");

    // A company that cannot run does not keep the others from theirs.
    let path = w.path().join("syncmap.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "companies = [",
        "companies = [{ name = \"No Such Company\", dataverse_id = \"00000000-0000-4000-8000-0000000000ff\" }, ",
    );
    std::fs::write(&path, text).unwrap();
    let out = w.syncmap(&["run", "--table", "customers", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses = statuses(&doc);
    assert_eq!(
        statuses,
        [
            ("No Such Company", "failed"),
            (first.as_str(), "succeeded"),
            (second, "completed_with_failures"),
        ],
        "{doc}"
    );
}

#[test]
fn a_signal_stops_the_company_under_way_and_the_next_ones_wait_for_the_next_run() {
    let w = Wire::start(|c| c.more_companies = 1);
    let profile = w
        .sandbox()
        .companies_profile_toml_as(0, crate::support::wire::SECRET_ENV)
        .expect("the user");
    std::fs::write(
        w.path().join("syncmap.toml"),
        format!("{profile}\n[run]\nbatch_size = 10\n"),
    )
    .unwrap();
    let first = w.sandbox().company_name().to_string();
    let bodies = (0..300)
        .map(|i| json!({ "displayName": format!("Customer {i}"), "blocked": " " }))
        .collect();
    w.create_many_in(&first, "customers", bodies);
    let control = w.sandbox().control();
    let target = control.writes() + 30;
    let out = std::fs::File::create(w.path().join("run.json")).unwrap();
    let mut child = w
        .syncmap_command(&["run", "--mode", "full", "--table", "customers", "--json"])
        .stdout(out)
        .spawn()
        .unwrap();
    let reached = w.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), control.writes_reach(target)).await
    });
    assert!(reached.is_ok(), "the run wrote fewer than 30 records");
    let ok = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let status = wait(&mut child, Duration::from_secs(120));
    assert_eq!(status.code(), Some(130));
    let text = std::fs::read_to_string(w.path().join("run.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let statuses = statuses(&doc);
    assert_eq!(
        statuses,
        [(first.as_str(), "interrupted"), ("CRONUS 2", "not_run")],
        "{doc}"
    );
}
