//! The HTTP connectors over loopback: each test starts the Dataverse and Business Central
//! sandboxes in this process and drives the real `syncmap` binary against them with the
//! standard mappings, then looks at both systems through their APIs. `guarantees` shows what
//! syncmap promises (no lost change, no second writer, no copied table, honest exits) there.

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../support/mod.rs"]
mod support;

mod bulk;
mod changes;
mod gate;
mod generic;
mod guarantees;
mod options;
mod resolve;
mod secrets;
mod throughput;
mod tracking;
mod values;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use syncmap::connectors::odata::client::WaitCause;
use syncmap::connectors::odata::flavor::Flavor;
use syncmap::connectors::odata::ODataConnector;
use syncmap::connectors::{Connector, ConnectorError, TableRef, WriteOp};
use syncmap::plan::Plan;
use syncmap::profile::{Profile, Secret};
use syncmap::sandbox::person::Service;
use syncmap::sandbox::{Faults, Limits, SandboxConfig, Seed};
use syncmap::value::Value;

use support::wire::{Wire, SECRET_ENV};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Both sandboxes, a folder with a profile for them and the standard mappings, and a runtime
/// serving them while the test thread waits on the binary (see [`Wire`]), with the shorthands
/// these tests use.
struct Env(Wire);

impl std::ops::Deref for Env {
    type Target = Wire;

    fn deref(&self) -> &Wire {
        &self.0
    }
}

impl Env {
    fn start(seed: Seed, tune: impl FnOnce(&mut SandboxConfig)) -> Env {
        Env::start_with_profile(seed, tune, "")
    }

    fn start_with_profile(seed: Seed, tune: impl FnOnce(&mut SandboxConfig), extra: &str) -> Env {
        let w = Wire::start(|c| {
            c.seed = seed;
            tune(c);
        });
        w.write_profile(extra);
        Env(w)
    }

    /// `syncmap run … --json`, which must succeed; its report.
    fn run(&self, args: &[&str]) -> Json {
        let mut all = vec!["run", "--json"];
        all.extend_from_slice(args);
        let out = self.syncmap(&all);
        assert!(
            out.status.success(),
            "syncmap {all:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn service(dv: bool) -> Service {
        if dv {
            Service::Dataverse
        } else {
            Service::BusinessCentral
        }
    }

    /// Every row of a table of a service, following next links.
    fn rows(&self, dv: bool, table: &str) -> Vec<Json> {
        self.0.rows(Env::service(dv), table)
    }

    /// Changes a row the way a person would.
    fn patch(&self, dv: bool, table: &str, key: &str, body: Json) {
        self.0.patch(Env::service(dv), table, key, body);
    }

    fn delete(&self, dv: bool, table: &str, key: &str) {
        self.rt
            .block_on(self.person().delete(Env::service(dv), table, key))
            .unwrap();
    }

    fn plan(&self) -> Plan {
        let files = vec![repo().join("mappings")];
        let files = syncmap_files(&files);
        syncmap::compile(&files, &syncmap::project::FsLoader)
            .unwrap()
            .plan
            .unwrap()
    }

    fn profile(&self) -> Profile {
        Profile::load(&self.path().join("syncmap.toml")).unwrap()
    }
}

fn syncmap_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        for e in std::fs::read_dir(p).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "map") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Open customers with their coupled accounts (by name), after a full sync.
fn synced_customers(env: &Env, n: usize) -> Vec<(String, String)> {
    env.run(&["--mode", "full"]);
    let accounts = env.rows(true, "accounts");
    let pairs: Vec<(String, String)> = env
        .rows(false, "customers")
        .iter()
        .filter(|c| c["blocked"] == " ")
        .filter_map(|c| {
            let a = accounts.iter().find(|a| a["name"] == c["displayName"])?;
            Some((text(c, "id"), text(a, "accountid")))
        })
        .take(n)
        .collect();
    assert_eq!(pairs.len(), n);
    pairs
}

/// `syncmap run --dry-run --mode MODE --table TABLE -o changes.json`, which must succeed: a
/// change set for review; its path.
fn review(env: &Env, mode: &str, table: &str) -> PathBuf {
    let path = env.path().join("changes.json");
    let out = env.syncmap(&[
        "run",
        "--dry-run",
        "--mode",
        mode,
        "--table",
        table,
        "-o",
        path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// `syncmap …`; its exit code and standard output as JSON.
fn json_out(env: &Env, args: &[&str]) -> (Option<i32>, Json) {
    let out = env.syncmap(args);
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "syncmap {args:?}: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), doc)
}

/// The counts of one pass of a run report.
fn counts(report: &Json, mapping: &str, direction: &str) -> Json {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["mapping"] == mapping && p["direction"] == direction)
        .cloned()
        .unwrap_or_else(|| panic!("no pass {mapping} {direction} in {report}"))
}

fn n(v: &Json, field: &str) -> u64 {
    v[field].as_u64().unwrap_or(0)
}

fn text(v: &Json, field: &str) -> String {
    v[field].as_str().unwrap_or_default().to_string()
}

/// What the standard mappings promise after a full sync, checked in both systems: every
/// unblocked customer has a customer account of its name and back, every currency a
/// transaction currency, every enabled licensed user a salesperson.
fn assert_in_step(env: &Env) {
    let accounts = env.rows(true, "accounts");
    let customers = env.rows(false, "customers");
    let customer_accounts: BTreeSet<String> = accounts
        .iter()
        .filter(|a| a["customertypecode"] == 3 && a["statecode"] == 0)
        .map(|a| text(a, "name"))
        .collect();
    let open_customers: BTreeSet<String> = customers
        .iter()
        .filter(|c| c["blocked"] == " ")
        .map(|c| text(c, "displayName"))
        .collect();
    assert!(!open_customers.is_empty());
    assert_eq!(customer_accounts, open_customers);
    let currencies: BTreeSet<String> = env
        .rows(false, "currencies")
        .iter()
        .map(|c| text(c, "code"))
        .collect();
    let transaction: BTreeSet<String> = env
        .rows(true, "transactioncurrencies")
        .iter()
        .map(|c| text(c, "isocurrencycode"))
        .collect();
    assert!(
        currencies.is_subset(&transaction),
        "{currencies:?} ⊄ {transaction:?}"
    );
    let users: BTreeSet<String> = env
        .rows(true, "systemusers")
        .iter()
        .filter(|u| {
            u["isdisabled"] == false && u["islicensed"] == true && u["isintegrationuser"] == false
        })
        .map(|u| text(u, "fullname"))
        .collect();
    let salespeople: BTreeSet<String> = env
        .rows(false, "salespeoplePurchasers")
        .iter()
        .map(|s| text(s, "displayName"))
        .collect();
    assert!(!users.is_empty());
    assert!(users.is_subset(&salespeople), "{users:?} ⊄ {salespeople:?}");
}

#[test]
fn the_standard_mappings_sync_both_ways_in_every_mode() {
    let env = Env::start(Seed::Demo, |_| {});
    let first = env.run(&["--mode", "full"]);
    assert!(n(&counts(&first, "customers", "left_to_right"), "inserted") > 0);
    assert!(n(&counts(&first, "salespeople", "right_to_left"), "inserted") > 0);
    assert!(n(&counts(&first, "currencies", "left_to_right"), "inserted") > 0);
    assert_in_step(&env);

    // A second full sync finds nothing to do.
    let again = env.run(&["--mode", "full"]);
    for p in again["tables"].as_array().unwrap() {
        assert_eq!(
            n(p, "inserted") + n(p, "modified") + n(p, "failed"),
            0,
            "{p}"
        );
    }

    // A change on each side flows to the other on a modified-only run.
    let customer = env
        .rows(false, "customers")
        .into_iter()
        .find(|c| c["blocked"] == " ")
        .unwrap();
    env.patch(
        false,
        "customers",
        customer["id"].as_str().unwrap(),
        json!({ "phoneNumber": "+1 555 0100" }),
    );
    let account = env
        .rows(true, "accounts")
        .into_iter()
        .find(|a| a["customertypecode"] == 3 && a["name"] != customer["displayName"])
        .unwrap();
    env.patch(
        true,
        "accounts",
        account["accountid"].as_str().unwrap(),
        json!({ "name": "Renamed in Dataverse" }),
    );
    let modified = env.run(&["--mode", "modified"]);
    assert_eq!(
        n(&counts(&modified, "customers", "left_to_right"), "modified"),
        1
    );
    assert_eq!(
        n(&counts(&modified, "customers", "right_to_left"), "modified"),
        1
    );
    assert!(env
        .rows(true, "accounts")
        .iter()
        .any(|a| a["name"] == customer["displayName"] && a["telephone1"] == "+1 555 0100"));
    assert!(env
        .rows(false, "customers")
        .iter()
        .any(|c| c["displayName"] == "Renamed in Dataverse"));

    // One table only; a dry run writes nothing.
    let before = env.sandbox().control().stats();
    let dry = env.run(&["--mode", "full", "--table", "customers", "--dry-run"]);
    assert!(dry["tables"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["mapping"] == "customers"));
    let after = env.sandbox().control().stats();
    for method in ["POST", "PATCH", "DELETE"] {
        assert_eq!(
            before.dv.by_method.get(method),
            after.dv.by_method.get(method),
            "a dry run sent {method} to Dataverse"
        );
    }

    // One record, by its Business Central key.
    env.patch(
        false,
        "customers",
        customer["id"].as_str().unwrap(),
        json!({ "city": "Springfield" }),
    );
    let out = env.syncmap(&[
        "record",
        "customers",
        "--left",
        customer["id"].as_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(env
        .rows(true, "accounts")
        .iter()
        .any(|a| a["name"] == customer["displayName"] && a["address1_city"] == "Springfield"));

    // Both sides changed: the customers mapping's rule is `on conflict: fail`.
    let id = customer["id"].as_str().unwrap();
    let partner = env
        .rows(true, "accounts")
        .into_iter()
        .find(|a| a["name"] == customer["displayName"])
        .unwrap();
    env.patch(
        false,
        "customers",
        id,
        json!({ "phoneNumber": "+1 555 0199" }),
    );
    env.patch(
        true,
        "accounts",
        partner["accountid"].as_str().unwrap(),
        json!({ "telephone1": "+33 1 00 00 00 00" }),
    );
    let out = env.syncmap(&["run", "--json", "--mode", "modified"]);
    let conflicted: Json = serde_json::from_slice(&out.stdout).unwrap();
    let conflicts: u64 = conflicted["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["mapping"] == "customers")
        .map(|p| n(p, "conflicts"))
        .sum();
    assert!(conflicts >= 1, "{conflicted}");

    // A contact deleted in Dataverse: the contacts mapping's rule is `fail` until someone
    // decides; uncoupling it by hand settles it.
    let contact = env
        .rows(true, "contacts")
        .into_iter()
        .find(|c| !c["_parentcustomerid_value"].is_null())
        .unwrap();
    let gone = contact["contactid"].as_str().unwrap().to_string();
    env.delete(true, "contacts", &gone);
    let out = env.syncmap(&["run", "--json", "--mode", "modified", "--table", "contacts"]);
    assert!(!out.status.success());
    let after_delete: Json = serde_json::from_slice(&out.stdout).unwrap();
    let pass = counts(&after_delete, "contacts", "left_to_right");
    assert_eq!(n(&pass, "failed"), 1, "{after_delete}");
    assert!(pass["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("was deleted"));
    let out = env.syncmap(&["uncouple", "contacts", "--right", &gone]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let settled = env.run(&["--mode", "modified", "--table", "contacts"]);
    assert_eq!(
        n(&counts(&settled, "contacts", "left_to_right"), "failed"),
        0,
        "{settled}"
    );
}

#[test]
fn reads_page_through_many_small_pages_without_losing_rows() {
    let env = Env::start_with_profile(
        Seed::Demo,
        |c| c.limits.max_page = Some(2),
        "\n[run]\npage_size = 3\n",
    );
    env.run(&["--mode", "full"]);
    assert_in_step(&env);
    let stats = env.sandbox().control().stats();
    let customers = env.rows(false, "customers").len() as u64;
    assert!(
        stats.bc.routes.get("GET customers").copied().unwrap_or(0) >= customers / 2,
        "{:?}",
        stats.bc.routes
    );
}

/// `n` new customers in Business Central, through its API.
fn add_customers(env: &Env, n: usize) {
    env.rt.block_on(async {
        let person = env.person();
        for i in 0..n {
            let body = json!({ "displayName": format!("Bulk customer {i:04}"), "blocked": " " });
            person
                .create(Service::BusinessCentral, "customers", body)
                .await
                .unwrap();
        }
    });
}

#[test]
fn the_reverse_pass_does_not_read_back_what_the_first_pass_just_synced() {
    let env = Env::start_with_profile(Seed::Empty, |_| {}, "\n[run]\npage_size = 1000\n");
    add_customers(&env, 130);
    env.sandbox().control().reset_stats();
    let report = env.run(&["--mode", "full", "--table", "customers"]);
    let ltr = counts(&report, "customers", "left_to_right");
    let rtl = counts(&report, "customers", "right_to_left");
    assert_eq!(n(&ltr, "inserted"), 130, "{report}");
    assert_eq!(n(&rtl, "unchanged"), 130, "{report}");
    // The customers were read once, as one page; none was asked for again by key to learn
    // that the accounts just made from them are in step.
    let stats = env.sandbox().control().stats();
    assert_eq!(
        stats.bc.routes.get("GET customers").copied(),
        Some(1),
        "{:?}",
        stats.bc.routes
    );
    // An account changed since is still compared with its customer, and synced back.
    let account = env
        .rows(true, "accounts")
        .into_iter()
        .find(|a| text(a, "name") == "Bulk customer 0007")
        .unwrap();
    let id = text(&account, "accountid");
    env.rt.block_on(async {
        env.person()
            .patch(
                Service::Dataverse,
                "accounts",
                &id,
                json!({ "telephone1": "+1 555 0107" }),
            )
            .await
            .unwrap();
    });
    let again = env.run(&["--mode", "full", "--table", "customers"]);
    let rtl = counts(&again, "customers", "right_to_left");
    assert_eq!(n(&rtl, "modified"), 1, "{again}");
    let customer = env
        .rows(false, "customers")
        .into_iter()
        .find(|c| text(c, "displayName") == "Bulk customer 0007")
        .unwrap();
    assert_eq!(text(&customer, "phoneNumber"), "+1 555 0107");
}

#[test]
fn lookups_are_fetched_once_per_batch_and_kept_for_the_pass() {
    let env = Env::start_with_profile(Seed::Demo, |_| {}, "\n[run]\nbatch_size = 20\n");
    // Currencies coupled first: the customers' currency lookups go through their couplings.
    env.run(&["--mode", "full"]);
    env.rt.block_on(async {
        let person = env.person();
        for i in 0..130 {
            let currency = ["EUR", "GBP"][i % 2];
            let body = json!({
                "displayName": format!("Priced customer {i:04}"),
                "blocked": " ",
                "currencyCode": currency,
            });
            person
                .create(Service::BusinessCentral, "customers", body)
                .await
                .unwrap();
        }
    });
    env.sandbox().control().reset_stats();
    let report = env.run(&["--mode", "full", "--table", "customers"]);
    let ltr = counts(&report, "customers", "left_to_right");
    assert_eq!(n(&ltr, "inserted"), 130, "{report}");
    // Seven batches ask for the same two codes: one request found both, the rest of the pass
    // took them from what it found (one request per code and batch before: fourteen).
    let stats = env.sandbox().control().stats();
    assert_eq!(
        stats.bc.routes.get("GET currencies").copied(),
        Some(1),
        "{:?}",
        stats.bc.routes
    );
    let currencies: std::collections::HashMap<String, String> = env
        .rows(true, "transactioncurrencies")
        .iter()
        .map(|c| (text(c, "transactioncurrencyid"), text(c, "isocurrencycode")))
        .collect();
    let mut priced: Vec<(String, String)> = env
        .rows(true, "accounts")
        .iter()
        .filter(|a| text(a, "name").starts_with("Priced customer"))
        .map(|a| {
            let currency = &currencies[&text(a, "_transactioncurrencyid_value")];
            (text(a, "name"), currency.clone())
        })
        .collect();
    priced.sort();
    let expected: Vec<(String, String)> = (0..130)
        .map(|i| {
            (
                format!("Priced customer {i:04}"),
                ["EUR", "GBP"][i % 2].to_string(),
            )
        })
        .collect();
    assert_eq!(priced, expected);
    // Again, nothing changed: records that did not change are not transformed, so they ask
    // for no lookup at all.
    env.sandbox().control().reset_stats();
    let again = env.run(&["--mode", "full", "--table", "customers"]);
    let ltr = counts(&again, "customers", "left_to_right");
    assert_eq!(n(&ltr, "modified"), 0, "{again}");
    let routes = env.sandbox().control().stats().bc.routes;
    assert_eq!(routes.get("GET currencies"), None, "{routes:?}");
}

#[test]
fn writes_are_split_into_batches_at_the_limit() {
    let env = Env::start_with_profile(
        Seed::Empty,
        |c| c.limits.dv_batch_max = 40,
        "\n[run]\nbatch_size = 200\n",
    );
    // The profile says 40 per batch for Dataverse, as the service allows.
    let profile = std::fs::read_to_string(env.path().join("syncmap.toml")).unwrap();
    let profile = profile.replace("[systems.dv]\n", "[systems.dv]\nbatch_size = 40\n");
    std::fs::write(env.path().join("syncmap.toml"), profile).unwrap();
    add_customers(&env, 130);
    env.sandbox().control().reset_stats();
    let report = env.run(&["--mode", "full", "--table", "customers"]);
    assert_eq!(
        n(&counts(&report, "customers", "left_to_right"), "inserted"),
        130
    );
    let stats = env.sandbox().control().stats();
    assert!(stats.dv.batches >= 4, "{:?}", stats.dv);
    assert_eq!(stats.dv.batch_operations, 130);
    assert_eq!(
        env.rows(true, "accounts")
            .iter()
            .filter(|a| text(a, "name").starts_with("Bulk customer"))
            .count(),
        130
    );
}

#[test]
fn a_batch_over_the_service_limit_fails_the_run_clearly() {
    let env = Env::start(Seed::Empty, |c| c.limits.dv_batch_max = 10);
    // Four batches in flight of 15 each: over the service's 10.
    add_customers(&env, 60);
    let out = env.syncmap(&["run", "--mode", "full", "--table", "customers"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("$batch"), "{err}");
}

#[test]
fn throttling_is_waited_out_as_retry_after_says() {
    let env = Env::start(Seed::Demo, |c| {
        c.limits.requests_per_window = Some((15, Duration::from_secs(1)))
    });
    env.without_pacing();
    let started = Instant::now();
    env.run(&["--mode", "full"]);
    assert!(env.sandbox().control().stats().throttled > 0);
    assert!(started.elapsed() >= Duration::from_secs(1));
    // Looking at the result is not part of the test: without throttling.
    env.sandbox().control().set_limits(Limits::default());
    assert_in_step(&env);
}

#[test]
fn a_run_paced_to_the_budget_meets_no_429_and_stays_within_it() {
    // The sandbox's profile declares its budget: 15 requests in any second.
    let env = Env::start(Seed::Demo, |c| {
        c.limits.requests_per_window = Some((15, Duration::from_secs(1)))
    });
    let profile = std::fs::read_to_string(env.path().join("syncmap.toml")).unwrap();
    assert!(
        profile.contains("rate_limit = { requests = 15, seconds = 1 }"),
        "{profile}"
    );
    env.run(&["--mode", "full"]);
    let stats = env.sandbox().control().stats();
    assert_eq!(stats.throttled, 0, "{stats:?}");
    // Enough requests that an unpaced run would have met the limit.
    assert!(
        stats.bc.requests > 15 && stats.dv.requests > 15,
        "{stats:?}"
    );
    env.sandbox().control().set_limits(Limits::default());
    assert_in_step(&env);
}

#[test]
fn a_throttled_wait_is_told_while_it_lasts() {
    let env = Env::start(Seed::Demo, |c| {
        c.limits.requests_per_window = Some((2, Duration::from_secs(2)))
    });
    env.without_pacing();
    let (c, _) = connector(&env, "dv");
    let stats = c.client().stats.clone();
    let url = format!("{}/accounts?$top=1", env.profile().systems["dv"].url);
    let reads = env.rt.spawn(async move {
        for _ in 0..4 {
            let request = syncmap::connectors::odata::client::Request::get(url.clone());
            c.client().send(&request).await.unwrap();
        }
    });
    // The event: the client starts waiting on the service's word.
    let deadline = Instant::now() + Duration::from_secs(20);
    let wait = loop {
        if let Some(w) = stats.waiting() {
            break w;
        }
        assert!(Instant::now() < deadline, "no wait was ever told");
        std::thread::yield_now();
    };
    assert_eq!(wait.cause, WaitCause::Answer(429));
    env.rt.block_on(reads).unwrap();
    assert_eq!(stats.waiting(), None, "a finished wait is still told");
}

#[test]
fn a_service_nobody_listens_on_is_told_at_once_with_doctors_hint() {
    let env = Env::start(Seed::Demo, |_| {});
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    // Dataverse's data URL on a port nothing listens on; its token endpoint stays right.
    let dv = env.profile().systems["dv"].url.clone();
    let wrong = format!("http://127.0.0.1:{port}/api/data/v9.2");
    let profile = std::fs::read_to_string(env.path().join("syncmap.toml")).unwrap();
    let profile = profile.replace(&format!("url = \"{dv}\""), &format!("url = \"{wrong}\""));
    std::fs::write(env.path().join("syncmap.toml"), profile).unwrap();
    let out = env
        .syncmap_command(&["run", "--mode", "full"])
        .env("SYNCMAP_LOG", "info")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains(&format!(
            "nothing accepts connections at `127.0.0.1:{port}`"
        )),
        "{err}"
    );
    assert!(last.contains("`syncmap doctor`"), "{last}");
    assert_eq!(last.matches("system `dv`").count(), 1, "{last}");
    // A short bounded retry, not a minute of backing off: the request was tried three times.
    assert_eq!(err.matches("retrying request").count(), 2, "{err}");
}

/// What a person would compare after a sync: names and key fields, not ids or timestamps.
fn world(env: &Env) -> Vec<String> {
    let mut out = Vec::new();
    for a in env.rows(true, "accounts") {
        out.push(format!(
            "account {} {} {} {}",
            text(&a, "name"),
            a["customertypecode"],
            text(&a, "address1_city"),
            text(&a, "telephone1")
        ));
    }
    for c in env.rows(false, "customers") {
        out.push(format!(
            "customer {} {} {}",
            text(&c, "displayName"),
            text(&c, "city"),
            text(&c, "phoneNumber")
        ));
    }
    for c in env.rows(true, "contacts") {
        out.push(format!(
            "contact {} {}",
            text(&c, "fullname"),
            text(&c, "emailaddress1")
        ));
    }
    for c in env.rows(false, "contacts") {
        out.push(format!(
            "bc-contact {} {}",
            text(&c, "displayName"),
            text(&c, "email")
        ));
    }
    for s in env.rows(false, "salespeoplePurchasers") {
        out.push(format!(
            "salesperson {} {}",
            text(&s, "code"),
            text(&s, "displayName")
        ));
    }
    out.sort();
    out
}

#[test]
fn injected_faults_end_in_the_same_state_as_a_clean_run() {
    let clean = Env::start(Seed::Demo, |_| {});
    clean.run(&["--mode", "full"]);
    let faulty = Env::start(Seed::Demo, |c| {
        c.faults = Faults {
            error_rate: 0.15,
            drop_rate: 0.05,
            lost_answer_rate: 0.05,
            delay: Duration::from_millis(2),
            seed: 7,
            ..Faults::default()
        }
    });
    // Faults beyond the retries fail records for this run; later runs retry them.
    let mut clean_run = false;
    for _ in 0..8 {
        let out = faulty.syncmap(&["run", "--json", "--mode", "full"]);
        if out.status.success() {
            let r: Json = serde_json::from_slice(&out.stdout).unwrap();
            if r["tables"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| n(p, "failed") == 0)
            {
                clean_run = true;
                break;
            }
        }
    }
    assert!(clean_run, "no run got through the faults");
    assert!(faulty.sandbox().control().stats().faults_injected > 0);
    faulty.sandbox().control().set_faults(Faults::default());
    assert_eq!(world(&faulty), world(&clean));
}

/// A connector of the test's profile, outside the binary.
fn connector(env: &Env, alias: &str) -> (ODataConnector, Plan) {
    let plan = env.plan();
    let profile = env.profile();
    let kind = plan.systems[alias].kind;
    let c = ODataConnector::open(
        &profile.systems[alias],
        Flavor::of_kind(kind).unwrap(),
        Some(Secret::new(env.secret.clone())),
    )
    .unwrap();
    (c, plan)
}

#[test]
fn a_stale_etag_is_refused_and_the_newer_change_kept() {
    let env = Env::start(Seed::Demo, |_| {});
    for (alias, table, column) in [
        ("bc", "customers", "phoneNumber"),
        ("dv", "accounts", "telephone1"),
    ] {
        let (c, plan) = connector(&env, alias);
        let info = &plan.systems[alias].tables[table];
        let t = TableRef { name: table, info };
        let rows = env.rows(alias == "dv", table);
        let key = text(&rows[0], &info.key);
        let read = env
            .rt
            .block_on(c.get(t, std::slice::from_ref(&key)))
            .unwrap();
        let old_etag = read[0].etag.clone();
        assert!(old_etag.is_some());
        env.patch(
            alias == "dv",
            table,
            &key,
            json!({ column: "changed by a person" }),
        );
        let mut fields = std::collections::BTreeMap::new();
        fields.insert(
            column.to_string(),
            Value::String("written by the sync".into()),
        );
        let outcome = env.rt.block_on(c.write(
            t,
            &[WriteOp::Update {
                key: key.clone(),
                etag: old_etag,
                fields,
            }],
        ));
        assert!(
            matches!(outcome[0], Err(ConnectorError::Conflict { .. })),
            "{alias}: {outcome:?}"
        );
        let now = env.rt.block_on(c.get(t, &[key])).unwrap();
        assert_eq!(
            now[0].fields[column],
            Value::String("changed by a person".into())
        );
    }
}

#[test]
fn a_token_that_expires_during_a_run_is_renewed() {
    let env = Env::start_with_profile(
        Seed::Demo,
        |c| {
            c.auth.token_ttl = Duration::from_secs(1);
            c.faults.delay = Duration::from_millis(40);
        },
        "\n[run]\npage_size = 2\nbatch_size = 2\n",
    );
    let started = Instant::now();
    env.run(&["--mode", "full"]);
    // The run outlived several tokens.
    assert!(
        started.elapsed() > Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_in_step(&env);
}

#[test]
fn wrong_credentials_fail_clearly_and_never_show_the_secret() {
    let env = Env::start(Seed::Demo, |_| {});
    let out = Command::new(env!("CARGO_BIN_EXE_syncmap"))
        .args(["run", "--mode", "full", "--plan"])
        .arg(repo().join("mappings"))
        .arg("--profile")
        .arg(env.path().join("syncmap.toml"))
        .env(SECRET_ENV, "not-the-secret-0123456789")
        .current_dir(env.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the client credentials"), "{err}");
    assert!(!err.contains("not-the-secret-0123456789"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_syncmap"))
        .args(["run", "--plan"])
        .arg(repo().join("mappings"))
        .arg("--profile")
        .arg(env.path().join("syncmap.toml"))
        .env_remove(SECRET_ENV)
        .current_dir(env.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(SECRET_ENV), "{err}");
}

#[test]
fn no_secret_reaches_outputs_logs_or_the_state_store() {
    let env = Env::start(Seed::Demo, |_| {});
    env.run(&["--mode", "full"]);
    for args in [
        &["status"][..],
        &["log"][..],
        &["errors"][..],
        &["run", "--dry-run", "--mode", "full"][..],
    ] {
        // `syncmap` asserts the secret is absent from what each command prints.
        let out = env.syncmap(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut stored = Vec::new();
    for e in walk(env.path()) {
        stored.extend(std::fs::read(e).unwrap());
    }
    assert!(!stored.is_empty());
    let needle = env.secret.as_bytes();
    assert!(
        !stored.windows(needle.len()).any(|w| w == needle),
        "the secret was written to a file"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn schema_pull_reads_the_live_metadata_of_the_tables_the_mappings_use() {
    let env = Env::start(Seed::Empty, |_| {});
    let plan = env.plan();
    for alias in ["bc", "dv"] {
        let out_file = env.path().join(format!("{alias}.json"));
        let out = Command::new(env!("CARGO_BIN_EXE_syncmap"))
            .args(["schema", "pull", alias, "--plan"])
            .arg(repo().join("mappings"))
            .arg("--profile")
            .arg(env.path().join("syncmap.toml"))
            .arg("-o")
            .arg(&out_file)
            .env(SECRET_ENV, &env.secret)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pulled: Json =
            serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
        let names: BTreeSet<String> = pulled["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| text(t, "name"))
            .collect();
        // A choice's options come with their table (`accounts.paymenttermscode`: `accounts`).
        let used: BTreeSet<String> = plan.systems[alias]
            .tables
            .keys()
            .map(|t| t.split('.').next().unwrap_or(t).to_string())
            .collect();
        assert_eq!(names, used, "{alias}");
        for t in pulled["tables"].as_array().unwrap() {
            let info = &plan.systems[alias].tables[&text(t, "name")];
            assert_eq!(text(t, "key"), info.key);
            assert_eq!(t["modified_on"].as_str(), info.modified_on.as_deref());
        }
    }
}

#[test]
fn the_demo_syncs_seeds_and_shows_a_conflict_and_a_deletion() {
    let out = Command::new(env!("CARGO_BIN_EXE_syncmap"))
        .args(["demo", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Json = serde_json::from_slice(&out.stdout).unwrap();
    let full = r["full"]["tables"].as_array().unwrap();
    assert!(
        full.iter().map(|p| n(p, "inserted")).sum::<u64>() > 10,
        "{r}"
    );
    let modified = r["modified"]["tables"].as_array().unwrap();
    assert!(
        modified.iter().map(|p| n(p, "modified")).sum::<u64>() >= 2,
        "{r}"
    );
    assert!(
        modified.iter().map(|p| n(p, "conflicts")).sum::<u64>() >= 1,
        "{r}"
    );
    let deletion = modified
        .iter()
        .flat_map(|p| p["errors"].as_array().cloned().unwrap_or_default())
        .any(|e| {
            e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("was deleted")
        });
    assert!(deletion, "{r}");
    assert!(r["changes"].as_array().unwrap().len() >= 4);
    // The conflict and the deletion are settled by hand, one command each, and the run after
    // finds nothing left to write or failing.
    let settled = r["settled"].as_array().unwrap();
    assert_eq!(settled.len(), 2, "{r}");
    for s in settled {
        assert!(s["command"]
            .as_str()
            .unwrap()
            .starts_with("syncmap resolve "));
        let tables = s["report"]["tables"].as_array().unwrap();
        assert_eq!(tables.iter().map(|p| n(p, "failed")).sum::<u64>(), 0, "{s}");
        assert_eq!(
            tables
                .iter()
                .map(|p| n(p, "inserted") + n(p, "modified"))
                .sum::<u64>(),
            1,
            "{s}"
        );
    }
    for p in r["after"]["tables"].as_array().unwrap() {
        let moved = ["inserted", "modified", "deleted", "failed", "conflicts"]
            .iter()
            .map(|f| n(p, f))
            .sum::<u64>();
        assert_eq!(moved, 0, "{p}");
    }
}

/// Adds settings to a system's section of the test's profile.
fn configure(env: &Env, system: &str, lines: &str) {
    let path = env.path().join("syncmap.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let header = format!("[systems.{system}]\n");
    assert!(text.contains(&header));
    std::fs::write(&path, text.replace(&header, &format!("{header}{lines}\n"))).unwrap();
}

#[test]
fn business_central_is_reached_through_a_custom_api_route_when_configured() {
    let env = Env::start(Seed::Demo, |_| {});
    configure(&env, "bc", "api = \"syncmap/sandbox/v1.0\"");
    env.run(&["--mode", "full"]);
    assert_in_step(&env);

    // The route is really used: one the service does not have fails the run.
    let wrong = Env::start(Seed::Demo, |_| {});
    configure(&wrong, "bc", "api = \"contoso/nothing/v9.9\"");
    let out = wrong.syncmap(&["run", "--mode", "full"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("companies"), "{err}");
}

#[test]
fn any_odata_service_is_read_with_the_key_and_modified_on_of_its_snapshot() {
    let env = Env::start(Seed::Demo, |_| {});
    // Business Central read as a plain OData v4 service: its company is part of the URL.
    let plan = env.path().join("generic");
    std::fs::create_dir_all(plan.join("schemas")).unwrap();
    for f in [
        "schemas/business-central.json",
        "schemas/dataverse.json",
        "currencies.map",
    ] {
        std::fs::copy(repo().join("mappings").join(f), plan.join(f)).unwrap();
    }
    std::fs::write(
        plan.join("systems.map"),
        "system bc: odata { schema = \"schemas/business-central.json\" }\n\
         system dv: dataverse { schema = \"schemas/dataverse.json\" }\n",
    )
    .unwrap();
    let company = env.rt.block_on(async {
        let s = env.sandbox();
        let http = reqwest::Client::new();
        let token = env.token(&http, Service::BusinessCentral).await;
        let companies: Json = http
            .get(format!("{}/companies", s.bc_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        companies["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == s.company_name())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    });
    let path = env.path().join("syncmap.toml");
    let profile = std::fs::read_to_string(&path).unwrap();
    let bc_url = env.sandbox().bc_url();
    let profile = profile
        .replace(
            &format!("url = \"{bc_url}\""),
            &format!("url = \"{bc_url}/companies({company})\""),
        )
        .replace("company = \"CRONUS USA, Inc.\"\n", "");
    std::fs::write(&path, profile).unwrap();

    let out = env.syncmap_with(&plan, &["run", "--json", "--mode", "full"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let codes: BTreeSet<String> = env
        .rows(false, "currencies")
        .iter()
        .map(|c| text(c, "code"))
        .collect();
    let iso: BTreeSet<String> = env
        .rows(true, "transactioncurrencies")
        .iter()
        .map(|c| text(c, "isocurrencycode"))
        .collect();
    assert!(codes.len() >= 3);
    assert!(codes.is_subset(&iso), "{codes:?} ⊄ {iso:?}");
}
