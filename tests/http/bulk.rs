//! Creates in bulk: a mapping that flows one way makes its Dataverse rows with
//! `CreateMultiple`, and still loses, doubles and hides nothing.

use std::time::Duration;

use syncmap::sandbox::person::Service;
use syncmap::sandbox::{Faults, Limits};

use super::support::wire::{field, multiset, totals, Wire};

/// Customers → accounts, one way. A customer in Atlantis makes an account without the name
/// Dataverse requires: the service refuses it (the sync does not check that itself).
const ONE_WAY: &str = "table customers: bc.customers -> dv.accounts {
    filter bc: blocked == \" \"
    number -> accountnumber
    (if city == \"Atlantis\" then null else displayName) -> name
    city -> address1_city
    \"Customer\" -> customertypecode [create only]
}
";

/// The same records both ways.
const TWO_WAY: &str = "table customers: bc.customers <-> dv.accounts {
    filter bc: blocked == \" \"
    number -> accountnumber
    displayName <-> name [truncate]
    city <-> address1_city [truncate]
}
";

/// `n` customers in Business Central, `Customer 0000` and on, in Lyon.
fn customers(w: &Wire, n: usize) {
    let bodies = (0..n)
        .map(|i| {
            serde_json::json!({
                "displayName": format!("Customer {i:04}"),
                "city": "Lyon",
                "blocked": " ",
            })
        })
        .collect();
    w.create_many(Service::BusinessCentral, "customers", bodies);
}

/// `name @ city` of every account, as a multiset.
fn accounts(w: &Wire) -> std::collections::BTreeMap<String, usize> {
    multiset(
        w.rows(Service::Dataverse, "accounts")
            .iter()
            .map(|a| format!("{} @ {}", field(a, "name"), field(a, "address1_city"))),
    )
}

fn expected(names: impl Iterator<Item = String>) -> std::collections::BTreeMap<String, usize> {
    multiset(names.map(|n| format!("{n} @ Lyon")))
}

#[test]
fn a_one_way_mapping_creates_in_bulk_and_an_unchanged_run_writes_nothing() {
    let w = Wire::start(|_| {});
    w.write_profile("\n[run]\nbatch_size = 40\n");
    let plan = w.project("one-way", &[("customers.map", ONE_WAY)]);
    customers(&w, 100);
    let control = w.sandbox().control();
    control.reset_stats();
    let r = w.run_with(&plan, &["--mode", "full"]);
    assert_eq!((totals(&r).inserted, totals(&r).failed), (100, 0), "{r}");
    let stats = control.stats().dv;
    // Three batches of the engine, a request each; no `$batch`, no create one by one.
    let bulk = stats.routes.get("POST accounts/CreateMultiple").copied();
    assert_eq!(bulk, Some(3), "{:?}", stats.routes);
    assert_eq!((stats.batches, stats.writes), (0, 100), "{stats:?}");
    assert_eq!(
        accounts(&w),
        expected((0..100).map(|i| format!("Customer {i:04}")))
    );

    // The keys the sync kept are the rows' own: an unchanged run writes nothing, and a
    // change reaches the account that was made for it.
    for mode in ["full", "modified"] {
        let t = totals(&w.run_with(&plan, &["--mode", mode]));
        assert_eq!(
            (t.inserted, t.modified, t.failed),
            (0, 0, 0),
            "{mode}: {t:?}"
        );
    }
    let customer = w
        .rows(Service::BusinessCentral, "customers")
        .into_iter()
        .find(|c| c["displayName"] == "Customer 0007")
        .unwrap();
    w.patch(
        Service::BusinessCentral,
        "customers",
        &field(&customer, "id"),
        serde_json::json!({ "displayName": "Customer 0007 renamed" }),
    );
    let t = totals(&w.run_with(&plan, &["--mode", "modified"]));
    assert_eq!((t.inserted, t.modified, t.failed), (0, 1, 0), "{t:?}");
    let names = (0..100).map(|i| match i {
        7 => "Customer 0007 renamed".to_string(),
        i => format!("Customer {i:04}"),
    });
    assert_eq!(accounts(&w), expected(names));
}

#[test]
fn a_refused_row_fails_alone_and_lost_answers_double_nothing() {
    let w = Wire::start(|_| {});
    w.write_profile("\n[run]\nbatch_size = 25\n");
    let plan = w.project("one-way", &[("customers.map", ONE_WAY)]);
    customers(&w, 99);
    // Dataverse refuses this customer's account, and with it the whole `CreateMultiple` it
    // came in.
    w.create_many(
        Service::BusinessCentral,
        "customers",
        vec![serde_json::json!({ "displayName": "Sunk", "city": "Atlantis", "blocked": " " })],
    );
    let control = w.sandbox().control();
    control.set_faults(Faults {
        lost_answer_rate: 0.3,
        delay: Duration::from_millis(2),
        seed: 5,
        ..Faults::default()
    });
    // A lost answer the run cannot settle at once fails its record for the run; the next
    // runs retry it.
    let reports: Vec<String> = (0..5)
        .map(|_| w.run_with(&plan, &["--mode", "full"]).to_string())
        .collect();
    let stats = control.stats().dv;
    control.set_faults(Faults::default());
    let last = w.run_with(&plan, &["--mode", "full"]);
    assert!(stats.answers_lost > 0, "{stats:?}");
    assert!(
        stats.routes.get("POST accounts/CreateMultiple").copied() > Some(0),
        "{:?}",
        stats.routes
    );
    // The request refused as a whole went again as `$batch`, each create on its own.
    assert!(stats.batches > 0, "{stats:?}");
    // That customer failed, with Dataverse's reason, and is skipped until it changes; the
    // others are each one account.
    assert!(
        reports
            .iter()
            .any(|r| r.contains("'name'") && r.contains("required")),
        "{reports:?}"
    );
    let t = totals(&last);
    assert_eq!((t.inserted, t.failed, t.skipped), (0, 0, 1), "{last}");
    assert_eq!(
        accounts(&w),
        expected((0..99).map(|i| format!("Customer {i:04}")))
    );
}

#[test]
fn a_service_without_the_action_and_a_two_way_mapping_create_in_batch() {
    let w = Wire::start(|_| {});
    w.write_profile("\n[run]\nbatch_size = 20\n");
    let plan = w.project("one-way", &[("customers.map", ONE_WAY)]);
    customers(&w, 200);
    let control = w.sandbox().control();
    control.set_limits(Limits {
        no_bulk_actions: true,
        ..Limits::default()
    });
    control.reset_stats();
    let r = w.run_with(&plan, &["--mode", "full"]);
    assert_eq!((totals(&r).inserted, totals(&r).failed), (200, 0), "{r}");
    let stats = control.stats().dv;
    // The first answer says the action is not there: that batch, and every batch after it,
    // goes in `$batch`. Those sent while the first was under way (batches of 20 take one
    // request each, so as many as the default `concurrency`, 4) were refused too; at least
    // six of the ten never tried it.
    let bulk = stats.routes.get("POST accounts/CreateMultiple").copied();
    assert!(matches!(bulk, Some(1..=4)), "{:?}", stats.routes);
    assert_eq!(stats.batches, 10, "{stats:?}");
    assert_eq!(
        accounts(&w),
        expected((0..200).map(|i| format!("Customer {i:04}")))
    );

    // Records that flow both ways keep `$batch`, whose creates answer each row's version.
    let two_way = Wire::start(|_| {});
    let plan = two_way.project("two-way", &[("customers.map", TWO_WAY)]);
    customers(&two_way, 30);
    let control = two_way.sandbox().control();
    control.reset_stats();
    let r = two_way.run_with(&plan, &["--mode", "full"]);
    assert_eq!((totals(&r).inserted, totals(&r).failed), (30, 0), "{r}");
    let stats = control.stats().dv;
    assert_eq!(stats.routes.get("POST accounts/CreateMultiple"), None);
    assert!(stats.batches > 0, "{stats:?}");
}
