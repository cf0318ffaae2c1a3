//! The sync engine against real SQLite databases on disk, shaped like the standard Business
//! Central and Dataverse tables, driven by the standard mappings (and small mappings of its own
//! where a rule needs one).

// Test helpers may panic on broken fixtures: that is a test failure with a clear message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use support::*;
use syncmap::plan::Side;
use syncmap::runtime::engine::Mode;
use syncmap::runtime::value::Value;

#[test]
fn full_sync_creates_and_couples_in_dependency_order() {
    let w = World::standard();
    w.seed_standard();
    let r = w.run(Mode::Full);
    let order: Vec<&str> = r.tables.iter().map(|p| p.mapping.as_str()).collect();
    assert_eq!(
        order,
        [
            "currencies",
            "salespeople",
            "customers",
            "customers",
            "vendors",
            "vendors",
            "contacts",
            "contacts"
        ]
    );
    assert_eq!(w.count("dv", "transactioncurrencies"), 2);
    assert_eq!(
        w.count("bc", "salespeoplePurchasers"),
        1,
        "only the licensed, enabled user"
    );
    let accounts = w.rows("dv", "accounts");
    assert_eq!(
        accounts.len(),
        2,
        "the blocked customer stays out: {accounts:?}"
    );
    let contoso = accounts
        .iter()
        .find(|a| a.fields["name"] == s("Contoso Ltd."))
        .expect("Contoso synced");
    let eur = w
        .rows("dv", "transactioncurrencies")
        .into_iter()
        .find(|c| c.fields["isocurrencycode"] == s("EUR"))
        .unwrap();
    assert_eq!(
        contoso.fields["transactioncurrencyid"],
        s(&eur.key),
        "lookup through the currency coupling"
    );
    let alicia = w
        .rows("dv", "systemusers")
        .into_iter()
        .find(|u| u.fields["fullname"] == s("Alicia Thomber"))
        .unwrap();
    assert_eq!(
        contoso.fields["ownerid"],
        s(&alicia.key),
        "lookup by salesperson code through the salespeople coupling"
    );
    assert_eq!(contoso.fields["customertypecode"], Value::Int(3));
    assert_eq!(w.couplings("customers"), 2);
    let totals = r.totals();
    assert_eq!(totals.failed, 0, "{r:#?}");
}

#[test]
fn a_modified_only_run_right_after_writes_nothing() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    let again = w.run(Mode::Modified);
    let t = again.totals();
    assert_eq!(
        (t.inserted, t.modified, t.deleted, t.failed),
        (0, 0, 0, 0),
        "{again:#?}"
    );
}

#[test]
fn changes_flow_both_ways_and_only_changed_records_are_written() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    let contoso = w.find("bc", "customers", "displayName", "Contoso Ltd.");
    w.update(
        "bc",
        "customers",
        &contoso,
        &[("phoneNumber", s("+33 1 00 00 00 01"))],
    );
    let account = w.partner("customers", Side::Left, &contoso);
    w.update(
        "dv",
        "accounts",
        &w.find("dv", "accounts", "name", "Fabrikam Inc."),
        &[("address1_city", s("Lyon"))],
    );
    let r = w.run(Mode::Modified);
    let ltr = r.pass("customers", "left_to_right").unwrap();
    let rtl = r.pass("customers", "right_to_left").unwrap();
    assert_eq!(ltr.counts.modified, 1, "{r:#?}");
    assert_eq!(rtl.counts.modified, 1, "{r:#?}");
    assert_eq!(
        w.get("dv", "accounts", &account).fields["telephone1"],
        s("+33 1 00 00 00 01")
    );
    let fabrikam = w.find("bc", "customers", "displayName", "Fabrikam Inc.");
    assert_eq!(
        w.get("bc", "customers", &fabrikam).fields["city"],
        s("Lyon")
    );
    let quiet = w.run(Mode::Modified).totals();
    assert_eq!(
        quiet.modified + quiet.inserted,
        0,
        "the sync's own writes do not come back"
    );
}
