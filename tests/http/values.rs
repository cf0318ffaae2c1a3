//! Values as the two services' wires carry them. Bodies are built from JSON text and rows read
//! back as the services wrote them (serde_json keeps a number's digits), so a number rounded
//! anywhere on the way shows as a different text.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use syncmap::sandbox::person::Service;

use super::support::wire::{field, multiset, totals, Wire};

/// A customer ↔ account mapping whose credit limit flows both ways.
const MONEY: &str = "table customers: bc.customers <-> dv.accounts {
    match number == accountnumber
    number -> accountnumber
    displayName <-> name [truncate]
    creditLimit <-> creditlimit
}
";

/// A body from JSON text: a `json!` number literal would pass through an `f64`.
fn body(text: &str) -> Json {
    serde_json::from_str(text).unwrap()
}

/// `name → number text` of every row of a table, as a multiset.
fn amounts(w: &Wire, service: Service, name: &str, amount: &str) -> BTreeMap<String, usize> {
    multiset(
        w.rows(service, table_of(service))
            .iter()
            .map(|r| format!("{} = {}", field(r, name), r[amount])),
    )
}

fn table_of(service: Service) -> &'static str {
    match service {
        Service::BusinessCentral => "customers",
        Service::Dataverse => "accounts",
    }
}

/// Each row's version as the service reports it: a write, even of the same values, changes it.
fn versions(w: &Wire, service: Service) -> Vec<String> {
    let mut out: Vec<String> = w
        .rows(service, table_of(service))
        .iter()
        .map(|r| r["@odata.etag"].to_string())
        .collect();
    out.sort();
    out
}

fn expected(rows: &[(&str, &str)]) -> BTreeMap<String, usize> {
    multiset(rows.iter().map(|(n, a)| format!("{n} = {a}")))
}

#[test]
fn money_beyond_a_float_crosses_both_ways_exactly_and_is_not_rewritten() {
    let w = Wire::start(|_| {});
    let plan = w.project("money", &[("customers.map", MONEY)]);
    let made = w.create_many(
        Service::BusinessCentral,
        "customers",
        vec![
            body(r#"{"displayName": "Exact Ltd.", "creditLimit": 12345678901234.5678}"#),
            body(r#"{"displayName": "Owing Inc.", "creditLimit": -98765432109876.5432}"#),
            body(r#"{"displayName": "Tiny plc", "creditLimit": 0.0001}"#),
        ],
    );
    assert_eq!(made[0]["creditLimit"].to_string(), "12345678901234.5678");

    let r = w.run_with(&plan, &["--mode", "full"]);
    assert_eq!((totals(&r).inserted, totals(&r).failed), (3, 0), "{r}");
    let synced = [
        ("Exact Ltd.", "12345678901234.5678"),
        ("Owing Inc.", "-98765432109876.5432"),
        ("Tiny plc", "0.0001"),
    ];
    assert_eq!(
        amounts(&w, Service::Dataverse, "name", "creditlimit"),
        expected(&synced)
    );

    // Nothing changed: neither a modified-only nor a full run writes anything, on either side.
    let (bc, dv) = (
        versions(&w, Service::BusinessCentral),
        versions(&w, Service::Dataverse),
    );
    for mode in ["modified", "full"] {
        let t = totals(&w.run_with(&plan, &["--mode", mode]));
        assert_eq!(
            (t.inserted, t.modified, t.failed),
            (0, 0, 0),
            "{mode}: {t:?}"
        );
    }
    assert_eq!(versions(&w, Service::BusinessCentral), bc);
    assert_eq!(versions(&w, Service::Dataverse), dv);

    // And back: a person changes an amount in Dataverse; Business Central gets every digit.
    let account = w
        .rows(Service::Dataverse, "accounts")
        .into_iter()
        .find(|a| a["name"] == "Exact Ltd.")
        .map(|a| field(&a, "accountid"))
        .unwrap();
    w.patch(
        Service::Dataverse,
        "accounts",
        &account,
        body(r#"{"creditlimit": -12345678901234.9999}"#),
    );
    let t = totals(&w.run_with(&plan, &["--mode", "modified"]));
    assert_eq!((t.modified, t.failed), (1, 0), "{t:?}");
    assert_eq!(
        amounts(&w, Service::BusinessCentral, "displayName", "creditLimit"),
        expected(&[
            ("Exact Ltd.", "-12345678901234.9999"),
            ("Owing Inc.", "-98765432109876.5432"),
            ("Tiny plc", "0.0001"),
        ])
    );
    let quiet = totals(&w.run_with(&plan, &["--mode", "modified"]));
    assert_eq!((quiet.inserted, quiet.modified), (0, 0), "{quiet:?}");
}
