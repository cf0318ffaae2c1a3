//! Creates in bulk: a mapping that flows one way makes its Dataverse rows with
//! `CreateMultiple`, and still loses, doubles and hides nothing.

use std::time::Duration;

use syncmap::sandbox::person::Service;
use syncmap::sandbox::Faults;

use super::support::wire::{field, multiset, totals, Wire};

/// Customers → accounts, one way.
const ONE_WAY: &str = "table customers: bc.customers -> dv.accounts {
    filter bc: blocked == \" \"
    number -> accountnumber
    displayName -> name
    city -> address1_city
    creditLimit -> creditlimit
    \"Customer\" -> customertypecode [create only]
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
    // A credit limit of 16 digits before the point: Dataverse's money column holds 15, so it
    // refuses the account, and with it the whole `CreateMultiple` it came in.
    w.create_many(
        Service::BusinessCentral,
        "customers",
        vec![serde_json::json!({
            "displayName": "Too rich",
            "city": "Lyon",
            "blocked": " ",
            "creditLimit": 1_234_567_890_123_456_i64,
        })],
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
    // Requests refused as a whole (the rich customer's, and resent ones meeting the rows their
    // lost first attempt made) went again as `$batch`, each create on its own.
    assert!(stats.batches > 0, "{stats:?}");
    // That customer failed, with Dataverse's reason, and is skipped until it changes; the
    // others are each one account.
    assert!(
        reports.iter().any(|r| r.contains("creditlimit")),
        "{reports:?}"
    );
    let t = totals(&last);
    assert_eq!((t.inserted, t.failed, t.skipped), (0, 0, 1), "{last}");
    assert_eq!(
        accounts(&w),
        expected((0..99).map(|i| format!("Customer {i:04}")))
    );
}
