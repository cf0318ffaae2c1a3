//! The sync engine against real SQLite databases on disk, shaped like the standard Business
//! Central and Dataverse tables, driven by the standard mappings (and small mappings of its own
//! where a rule needs one), and the runtime commands through the real binary.

// Test helpers may panic on broken fixtures: that is a test failure with a clear message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::cell::Cell;

use support::*;
use syncmap::plan::Side;
use syncmap::runtime::engine::{EngineError, Mode, PassReport, RunReport};
use syncmap::state::{Counts, Direction};
use syncmap::value::Value;

const LTR: &str = "left_to_right";
const RTL: &str = "right_to_left";

fn pass<'r>(r: &'r RunReport, mapping: &str, dir: &str) -> &'r PassReport {
    r.pass(mapping, dir)
        .unwrap_or_else(|| panic!("no {mapping} {dir} pass in {r:#?}"))
}

fn counts(r: &RunReport, mapping: &str, dir: &str) -> Counts {
    pass(r, mapping, dir).counts.clone()
}

/// Counts built from `(name, n)` pairs, the rest zero.
fn c(pairs: &[(&str, u64)]) -> Counts {
    let mut c = Counts::default();
    for (k, n) in pairs {
        let slot = match *k {
            "inserted" => &mut c.inserted,
            "modified" => &mut c.modified,
            "unchanged" => &mut c.unchanged,
            "skipped" => &mut c.skipped,
            "failed" => &mut c.failed,
            "conflicts" => &mut c.conflicts,
            "deleted" => &mut c.deleted,
            "uncoupled" => &mut c.uncoupled,
            "coupled" => &mut c.coupled,
            other => panic!("no count {other}"),
        };
        *slot = *n;
    }
    c
}

fn text(v: &Value) -> String {
    v.to_text().unwrap_or_else(|| "null".into())
}

fn nothing_written(r: &RunReport) {
    let t = r.totals();
    assert_eq!(
        (
            t.inserted,
            t.modified,
            t.deleted,
            t.uncoupled,
            t.coupled,
            t.failed
        ),
        (0, 0, 0, 0, 0, 0),
        "{r:#?}"
    );
}

/// A customers ↔ accounts mapping without lookups, with the given rules.
fn customers_map(rules: &str) -> String {
    format!(
        r#"
table customers: bc.customers <-> dv.accounts {{
    filter bc: blocked == " "
    filter dv: statecode == "Active" and customertypecode == "Customer"
{rules}

    displayName <-> name [truncate]
    number       -> accountnumber [truncate]
    phoneNumber <-> telephone1 [truncate]
    city        <-> address1_city [truncate]
    email       <-> emailaddress1 [truncate]
    creditLimit  -> creditlimit
    "Customer"   -> customertypecode [create only]
}}
"#
    )
}

/// A world with [`customers_map`], two customers synced and coupled, and every row aged.
fn coupled_pair(rules: &str) -> (World, String, String, String, String) {
    let w = World::with_mappings(&customers_map(rules));
    let a = w.add_customer(
        "C-A",
        "Alpha",
        &[("phoneNumber", s("100")), ("city", s("Oslo"))],
    );
    let b = w.add_customer(
        "C-B",
        "Beta",
        &[("phoneNumber", s("200")), ("city", s("Bergen"))],
    );
    let r = w.run(Mode::Full);
    assert_eq!(counts(&r, "customers", LTR).inserted, 2, "{r:#?}");
    let a2 = w.partner("customers", Side::Left, &a);
    let b2 = w.partner("customers", Side::Left, &b);
    w.age();
    (w, a, a2, b, b2)
}

// ───────────── option mappings ─────────────

/// Payment terms become options of the account's payment terms: a code matching an option's
/// label (without case) couples to it, a new code adds an option numbered after the largest,
/// and customers carry the option both ways through those couplings.
#[test]
fn option_mappings_add_options_and_customers_carry_them() {
    let w = World::standard();
    w.seed_standard();
    let terms = |code: &str, name: &str| {
        w.insert(
            "bc",
            "paymentTerms",
            &[("code", s(code)), ("displayName", s(name))],
        )
    };
    let net30 = terms("NET 30", "Net 30 days");
    let days14 = terms("14 DAYS", "Net 14 days");
    let contoso = w.find("bc", "customers", "displayName", "Contoso Ltd.");
    let fabrikam = w.find("bc", "customers", "displayName", "Fabrikam Inc.");
    w.update(
        "bc",
        "customers",
        &contoso,
        &[("paymentTermsId", s(&days14))],
    );
    w.update(
        "bc",
        "customers",
        &fabrikam,
        &[("paymentTermsId", s(&net30))],
    );
    let r = w.run(Mode::Full);
    let c = counts(&r, "payment_terms", LTR);
    // One option matched, one added: both coupled.
    assert_eq!((c.inserted, c.coupled, c.failed), (1, 2, 0), "{r:#?}");
    let options: Vec<(Value, Value, Value)> = w
        .rows("dv", "accounts.paymenttermscode")
        .into_iter()
        .map(|o| {
            let f = |c: &str| o.fields.get(c).cloned().unwrap_or(Value::Null);
            (f("value"), f("label"), f("description"))
        })
        .collect();
    assert_eq!(
        options,
        [
            (Value::Int(1), s("NET 30"), s("Net 30 days")),
            (Value::Int(2), s("2% 10, Net 30"), Value::Null),
            (Value::Int(3), s("Net 45"), Value::Null),
            (Value::Int(4), s("Net 60"), Value::Null),
            (Value::Int(5), s("14 DAYS"), s("Net 14 days")),
        ],
        "the matched option takes the code as written in Business Central, the new one is numbered after the largest"
    );
    let account = |bc_key: &str| w.partner("customers", Side::Left, bc_key);
    let term_of = |bc_key: &str| w.field("dv", "accounts", &account(bc_key), "paymenttermscode");
    assert_eq!(term_of(&contoso), Value::Int(5));
    assert_eq!(term_of(&fabrikam), Value::Int(1));

    // An account moved to another coupled option moves its customer to that payment term.
    w.age();
    w.update(
        "dv",
        "accounts",
        &account(&contoso),
        &[("paymenttermscode", Value::Int(1))],
    );
    let r = w.run(Mode::Modified);
    assert_eq!(counts(&r, "customers", RTL).modified, 1, "{r:#?}");
    assert_eq!(
        w.field("bc", "customers", &contoso, "paymentTermsId"),
        s(&net30)
    );
    // A modified-only run after it writes nothing: the pair is in step both ways.
    w.age();
    let r = w.run(Mode::Modified);
    for dir in [LTR, RTL] {
        let c = counts(&r, "customers", dir);
        assert_eq!(
            (c.inserted, c.modified, c.failed),
            (0, 0, 0),
            "{dir}: {r:#?}"
        );
    }
}

// ───────────── modes ─────────────

#[test]
fn full_sync_creates_and_couples_in_dependency_order() {
    let w = World::standard();
    w.seed_standard();
    let r = w.run(Mode::Full);
    let order: Vec<(&str, &str)> = r
        .tables
        .iter()
        .map(|p| (p.mapping.as_str(), p.direction.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("currencies", LTR),
            ("payment_terms", LTR),
            ("shipment_methods", LTR),
            ("salespeople", RTL),
            ("customers", LTR),
            ("customers", RTL),
            ("vendors", LTR),
            ("vendors", RTL),
            ("contacts", LTR),
            ("contacts", RTL),
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
    assert_eq!(contoso.fields["owneridtype"], s("systemuser"));
    assert_eq!(w.couplings("customers"), 2);
    assert_eq!(w.couplings("currencies"), 2);
    assert_eq!(w.couplings("salespeople"), 1);
    // `only coupled: true` does not stop a full sync from creating.
    assert_eq!(
        counts(&r, "currencies", LTR),
        c(&[("inserted", 2), ("coupled", 2)])
    );
    assert_eq!(
        counts(&r, "salespeople", RTL),
        c(&[("inserted", 1), ("coupled", 1)])
    );
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("inserted", 2), ("coupled", 2)])
    );
    assert_eq!(
        counts(&r, "customers", RTL),
        c(&[("unchanged", 2)]),
        "the accounts just made are coupled and in step"
    );
    assert_eq!(counts(&r, "vendors", LTR), Counts::default());
    // The run is recorded with the same counts.
    let store = w.store();
    let run = store.run(r.run_id.unwrap()).unwrap().unwrap();
    assert_eq!(run.mode, "full");
    assert_eq!(run.status, "succeeded");
    let stored = run
        .counts
        .iter()
        .find(|c| c.mapping == "customers" && c.direction == LTR)
        .unwrap();
    assert_eq!(stored.counts, counts(&r, "customers", LTR));
    assert!(
        stored.cursor_after.is_some(),
        "the full sync sets the watermark"
    );
}

#[test]
fn full_sync_applies_the_filters_of_both_sides_and_creates_both_ways() {
    let w = World::standard();
    w.seed_standard();
    let dv_customer = w.add_account("Adatum", &[("address1_city", s("Madrid"))]);
    let inactive = w.add_account("Gone Corp", &[("statecode", Value::Int(1))]);
    let vendor = w.add_account("Northwind", &[("customertypecode", Value::Int(11))]);
    let r = w.run(Mode::Full);
    assert_eq!(
        counts(&r, "customers", RTL),
        c(&[("inserted", 1), ("coupled", 1), ("unchanged", 2)]),
        "{r:#?}"
    );
    let adatum = w.partner("customers", Side::Right, &dv_customer);
    let row = w.get("bc", "customers", &adatum);
    assert_eq!(row.fields["displayName"], s("Adatum"));
    assert_eq!(row.fields["city"], s("Madrid"));
    assert!(w.coupling("customers", Side::Right, &inactive).is_none());
    assert!(w.coupling("customers", Side::Right, &vendor).is_none());
    assert!(w.coupling("vendors", Side::Right, &inactive).is_none());
    // The vendor account becomes a Business Central vendor, not a customer.
    let v = w.partner("vendors", Side::Right, &vendor);
    assert_eq!(w.field("bc", "vendors", &v, "displayName"), s("Northwind"));
    assert_eq!(w.count("bc", "customers"), 4, "3 seeded + Adatum");
    // The blocked customer stays out of Dataverse.
    let litware = w.find("bc", "customers", "displayName", "Litware");
    assert!(w.coupling("customers", Side::Left, &litware).is_none());
}

#[test]
fn a_modified_only_run_processes_only_what_changed() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    w.age();
    let contoso = w.find("bc", "customers", "displayName", "Contoso Ltd.");
    let account = w.partner("customers", Side::Left, &contoso);
    let fabrikam = w.find("bc", "customers", "displayName", "Fabrikam Inc.");
    let fab_account = w.partner("customers", Side::Left, &fabrikam);
    let fab_version = w.version("dv", "accounts", &fab_account);
    w.update("bc", "customers", &contoso, &[("city", s("Lyon"))]);
    let r = w.run(Mode::Modified);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("modified", 1)]),
        "{r:#?}"
    );
    for (m, d) in [
        ("currencies", LTR),
        ("salespeople", RTL),
        ("vendors", LTR),
        ("vendors", RTL),
        ("contacts", LTR),
        ("contacts", RTL),
    ] {
        assert_eq!(counts(&r, m, d), Counts::default(), "{m} {d}: {r:#?}");
    }
    // The account written by this run is read back by the right-to-left pass and found in step.
    assert_eq!(counts(&r, "customers", RTL), c(&[("unchanged", 1)]));
    assert_eq!(
        w.field("dv", "accounts", &account, "address1_city"),
        s("Lyon")
    );
    assert_eq!(
        w.version("dv", "accounts", &fab_account),
        fab_version,
        "Fabrikam did not change and was not written"
    );
    assert_eq!(
        w.store().run(r.run_id.unwrap()).unwrap().unwrap().mode,
        "modified"
    );
}

#[test]
fn only_coupled_true_skips_new_records_in_modified_mode() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    w.age();
    let new = w.add_customer("C-NEW", "Newcomer", &[]);
    let new_account = w.add_account("Newcomer Account", &[]);
    let r = w.run(Mode::Modified);
    assert_eq!(counts(&r, "customers", LTR), c(&[("skipped", 1)]), "{r:#?}");
    assert_eq!(counts(&r, "customers", RTL), c(&[("skipped", 1)]), "{r:#?}");
    assert!(w.coupling("customers", Side::Left, &new).is_none());
    assert!(w.coupling("customers", Side::Right, &new_account).is_none());
    assert_eq!(w.count("dv", "accounts"), 3, "2 synced + the new one");
    // A full sync takes them whatever `only coupled` says.
    let r = w.run(Mode::Full);
    assert_eq!(counts(&r, "customers", LTR).inserted, 1, "{r:#?}");
    assert_eq!(counts(&r, "customers", RTL).inserted, 1, "{r:#?}");
    let made = w.partner("customers", Side::Left, &new);
    assert_eq!(w.field("dv", "accounts", &made, "name"), s("Newcomer"));
    let made = w.partner("customers", Side::Right, &new_account);
    assert_eq!(
        w.field("bc", "customers", &made, "displayName"),
        s("Newcomer Account")
    );
}

#[test]
fn only_coupled_false_creates_new_records_in_modified_mode() {
    let w = World::with_mappings(&customers_map("    only coupled: false"));
    w.add_customer("C-1", "First", &[]);
    w.run(Mode::Full);
    w.age();
    let new = w.add_customer("C-2", "Second", &[("email", s("x@second.example"))]);
    let new_account = w.add_account("Third", &[]);
    let r = w.run(Mode::Modified);
    // Left to right also follows up the customer the second pass made, as its number would flow
    // back to the account (`number -> accountnumber`): here it has none, so nothing is written
    // (and a follow-up counts only what it writes).
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("inserted", 1), ("coupled", 1)]),
        "{r:#?}"
    );
    // Right to left: the account made by the first pass is read back and in step.
    assert_eq!(
        counts(&r, "customers", RTL),
        c(&[("inserted", 1), ("coupled", 1), ("unchanged", 1)]),
        "{r:#?}"
    );
    let made = w.partner("customers", Side::Left, &new);
    assert_eq!(
        w.field("dv", "accounts", &made, "emailaddress1"),
        s("x@second.example")
    );
    let made = w.partner("customers", Side::Right, &new_account);
    assert_eq!(w.field("bc", "customers", &made, "displayName"), s("Third"));
    assert_eq!(w.count("bc", "customers"), 3);
    assert_eq!(w.count("dv", "accounts"), 3);
}

#[test]
fn one_table_runs_only_that_mapping() {
    let w = World::standard();
    w.seed_standard();
    let r = w.run_tables(Mode::Full, &["currencies"]);
    assert_eq!(r.tables.len(), 1, "{r:#?}");
    assert_eq!(
        counts(&r, "currencies", LTR),
        c(&[("inserted", 2), ("coupled", 2)])
    );
    assert_eq!(w.count("dv", "transactioncurrencies"), 2);
    assert_eq!(w.count("dv", "accounts"), 0, "customers did not run");
    assert_eq!(w.count("bc", "salespeoplePurchasers"), 0);
    let store = w.store();
    assert!(store
        .watermark("customers", Direction::LeftToRight)
        .unwrap()
        .is_none());
    assert!(store
        .watermark("currencies", Direction::LeftToRight)
        .unwrap()
        .is_some());
    let run = store.run(r.run_id.unwrap()).unwrap().unwrap();
    assert_eq!(run.tables, ["currencies"]);
    // Two tables in plan (dependency) order, whatever order they were asked in.
    let r = w.run_tables(Mode::Full, &["customers", "salespeople"]);
    let order: Vec<&str> = r.tables.iter().map(|p| p.mapping.as_str()).collect();
    assert_eq!(order, ["salespeople", "customers", "customers"]);
    assert_eq!(w.count("dv", "accounts"), 2);
    // An unknown table is a clear error, and nothing runs.
    let e = w
        .try_run(&request(Mode::Full, &["customer"], false))
        .unwrap_err();
    assert!(matches!(e, EngineError::Request(_)), "{e:?}");
    assert!(
        e.to_string().contains("no table mapping `customer`")
            && e.to_string().contains("customers"),
        "{e}"
    );
}

#[test]
fn one_record_syncs_an_uncoupled_and_a_coupled_record() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    w.age();
    // Uncoupled: coupled by creating its partner, although `only coupled` is true; another
    // new customer is left alone.
    let one = w.add_customer("C-ONE", "Only This One", &[("currencyCode", s("USD"))]);
    let other = w.add_customer("C-TWO", "Not This One", &[]);
    let r = w.sync_record("customers", Side::Left, &one).unwrap();
    assert_eq!(r.mode, "record");
    assert_eq!(r.tables.len(), 1);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("inserted", 1), ("coupled", 1)]),
        "{r:#?}"
    );
    let account = w.partner("customers", Side::Left, &one);
    let usd = w.find("dv", "transactioncurrencies", "isocurrencycode", "USD");
    assert_eq!(
        w.field("dv", "accounts", &account, "name"),
        s("Only This One")
    );
    assert_eq!(
        w.field("dv", "accounts", &account, "transactioncurrencyid"),
        s(&usd)
    );
    assert!(w.coupling("customers", Side::Left, &other).is_none());
    assert_eq!(w.count("dv", "accounts"), 3);
    // Coupled: only that record is brought up to date.
    let contoso = w.find("bc", "customers", "displayName", "Contoso Ltd.");
    let fabrikam = w.find("bc", "customers", "displayName", "Fabrikam Inc.");
    w.update("bc", "customers", &contoso, &[("city", s("Nice"))]);
    w.update("bc", "customers", &fabrikam, &[("city", s("Bonn"))]);
    let r = w.sync_record("customers", Side::Left, &contoso).unwrap();
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("modified", 1)]),
        "{r:#?}"
    );
    let contoso_account = w.partner("customers", Side::Left, &contoso);
    let fabrikam_account = w.partner("customers", Side::Left, &fabrikam);
    assert_eq!(
        w.field("dv", "accounts", &contoso_account, "address1_city"),
        s("Nice")
    );
    assert_eq!(
        w.field("dv", "accounts", &fabrikam_account, "address1_city"),
        s("Berlin")
    );
    // From the right side, through the right-to-left pass.
    w.update(
        "dv",
        "accounts",
        &contoso_account,
        &[("telephone1", s("+33 9"))],
    );
    let r = w
        .sync_record("customers", Side::Right, &contoso_account)
        .unwrap();
    assert_eq!(
        counts(&r, "customers", RTL),
        c(&[("modified", 1)]),
        "{r:#?}"
    );
    assert_eq!(
        w.field("bc", "customers", &contoso, "phoneNumber"),
        s("+33 9")
    );
    assert_eq!(w.field("bc", "customers", &contoso, "city"), s("Nice"));
    assert_eq!(
        w.field("bc", "customers", &fabrikam, "city"),
        s("Bonn"),
        "the other record's unsynced change is left alone"
    );
    // A coupled record that did not change is still brought in line with it (the reference's
    // ForceModify): only the fields that differ are written.
    let eur = w.find("bc", "currencies", "code", "EUR");
    let dv_eur = w.partner("currencies", Side::Left, &eur);
    w.update(
        "dv",
        "transactioncurrencies",
        &dv_eur,
        &[("currencyname", s("Edited By Hand"))],
    );
    let r = w.sync_record("currencies", Side::Left, &eur).unwrap();
    assert_eq!(
        counts(&r, "currencies", LTR),
        c(&[("modified", 1)]),
        "{r:#?}"
    );
    assert_eq!(
        w.field("dv", "transactioncurrencies", &dv_eur, "currencyname"),
        s("Euro")
    );
    let version = w.version("dv", "transactioncurrencies", &dv_eur);
    let r = w.sync_record("currencies", Side::Left, &eur).unwrap();
    assert_eq!(
        counts(&r, "currencies", LTR),
        c(&[("unchanged", 1)]),
        "{r:#?}"
    );
    assert_eq!(w.version("dv", "transactioncurrencies", &dv_eur), version);
    // Two-way: a change made only in Dataverse is undone by syncing the customer by hand; with
    // no change on the customer's side, that is no conflict.
    w.update(
        "dv",
        "accounts",
        &contoso_account,
        &[("address1_city", s("Marseille"))],
    );
    let r = w.sync_record("customers", Side::Left, &contoso).unwrap();
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("modified", 1)]),
        "{r:#?}"
    );
    assert_eq!(
        w.field("dv", "accounts", &contoso_account, "address1_city"),
        s("Nice")
    );
    // Records of a one-way mapping never flow from its destination side.
    let e = w
        .sync_record("currencies", Side::Right, &dv_eur)
        .unwrap_err();
    assert!(matches!(e, EngineError::Request(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "records of `currencies` never flow from the right side (dv)"
    );
    let e = w.sync_record("customers", Side::Left, "nope").unwrap_err();
    assert!(e.to_string().contains("no row `nope`"), "{e}");
}

#[test]
fn couple_by_hand_then_the_next_run_syncs_the_pair() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    let customer = w.add_customer("C-NW", "Northwind", &[("phoneNumber", s("555"))]);
    let account = w.add_account("Northwind Traders", &[]);
    // Both rows are old news to a modified-only run: only the coupling is new.
    w.age();
    let r = w.couple("customers", &customer, &account).unwrap();
    assert_eq!(r.mode, "couple");
    assert_eq!(r.totals().coupled, 1);
    let cp = w.coupling("customers", Side::Left, &customer).unwrap();
    assert_eq!(cp.right_key, account);
    let events = w.store().events(r.run_id.unwrap()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "coupled");
    let r = w.run(Mode::Modified);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("modified", 1)]),
        "{r:#?}"
    );
    assert_eq!(w.field("dv", "accounts", &account, "name"), s("Northwind"));
    assert_eq!(w.field("dv", "accounts", &account, "telephone1"), s("555"));
    assert_eq!(w.count("dv", "accounts"), 3, "no account was created");
    // The same for a right-to-left mapping: the pair syncs from the right side.
    let user = w.find("dv", "systemusers", "fullname", "Alicia Thomber");
    let sp = w.partner("salespeople", Side::Right, &user);
    w.uncouple("salespeople", Some((Side::Right, &user)))
        .unwrap();
    w.update(
        "bc",
        "salespeoplePurchasers",
        &sp,
        &[("displayName", s("Someone Else"))],
    );
    w.age();
    w.couple("salespeople", &sp, &user).unwrap();
    let r = w.run(Mode::Modified);
    assert_eq!(
        counts(&r, "salespeople", RTL),
        c(&[("modified", 1)]),
        "{r:#?}"
    );
    assert_eq!(
        w.field("bc", "salespeoplePurchasers", &sp, "displayName"),
        s("Alicia Thomber")
    );
    // Refusals: a missing row, a record coupled already.
    let e = w.couple(
        "customers",
        &customer,
        "00000000-0000-0000-0000-000000000001",
    );
    assert!(e
        .unwrap_err()
        .to_string()
        .contains("dv.accounts has no row"));
    let other = w.add_account("Other", &[]);
    let e = w.couple("customers", &customer, &other).unwrap_err();
    assert!(e.to_string().contains("already coupled"), "{e}");
    assert_eq!(
        w.coupling("customers", Side::Left, &customer)
            .unwrap()
            .right_key,
        account
    );
}

#[test]
fn uncouple_one_record_and_all_records() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    let contoso = w.find("bc", "customers", "displayName", "Contoso Ltd.");
    let r = w
        .uncouple("customers", Some((Side::Left, &contoso)))
        .unwrap();
    assert_eq!(r.totals().uncoupled, 1);
    assert!(w.coupling("customers", Side::Left, &contoso).is_none());
    assert_eq!(w.couplings("customers"), 1);
    let events = w.store().events(r.run_id.unwrap()).unwrap();
    assert_eq!(events[0].kind, "uncoupled");
    assert_eq!(events[0].source_key.as_deref(), Some(contoso.as_str()));
    let e = w
        .uncouple("customers", Some((Side::Left, &contoso)))
        .unwrap_err();
    assert!(e.to_string().contains("is not coupled"), "{e}");
    // Nothing was deleted.
    assert_eq!(w.count("dv", "accounts"), 2);
    // All, with the watermarks: the next modified-only run looks at every row again.
    let store = w.store();
    assert!(store
        .watermark("customers", Direction::LeftToRight)
        .unwrap()
        .is_some());
    let r = w.uncouple("customers", None).unwrap();
    assert_eq!(r.totals().uncoupled, 1);
    assert_eq!(w.couplings("customers"), 0);
    assert_eq!(w.couplings("currencies"), 2, "other mappings keep theirs");
    for d in [Direction::LeftToRight, Direction::RightToLeft] {
        assert!(store.watermark("customers", d).unwrap().is_none());
    }
    assert!(store
        .watermark("currencies", Direction::LeftToRight)
        .unwrap()
        .is_some());
    w.age();
    let r = w.run(Mode::Modified);
    // Every row is read again (none is newer than the aged stamps); being uncoupled, they are
    // skipped by `only coupled: true`.
    assert_eq!(counts(&r, "customers", LTR), c(&[("skipped", 2)]), "{r:#?}");
    assert_eq!(counts(&r, "customers", RTL), c(&[("skipped", 2)]), "{r:#?}");
    assert_eq!(counts(&r, "currencies", LTR), Counts::default());
}

#[test]
fn match_couples_by_the_rules_in_priority_order_and_writes_nothing() {
    let map = customers_map(
        "    match number == accountnumber\n    match email == emailaddress1 [case sensitive]",
    );
    let w = World::with_mappings(&map);
    // Rule 1, ignoring case.
    let c1 = w.add_customer("C-001", "One", &[]);
    let a1 = w.add_account("Account One", &[("accountnumber", s("c-001"))]);
    // Rule 2 when rule 1 finds nothing.
    let c2 = w.add_customer("C-002", "Two", &[("email", s("two@example.com"))]);
    let a2 = w.add_account("Account Two", &[("emailaddress1", s("two@example.com"))]);
    // Rule 2 is case sensitive: no match.
    let c3 = w.add_customer("C-003", "Three", &[("email", s("Three@Example.com"))]);
    let a3 = w.add_account(
        "Account Three",
        &[("emailaddress1", s("three@example.com"))],
    );
    // Two rows match rule 1: the record fails.
    let c4 = w.add_customer("C-004", "Four", &[]);
    w.add_account("Account Four A", &[("accountnumber", s("C-004"))]);
    w.add_account("Account Four B", &[("accountnumber", s("C-004"))]);
    // Both rules would match different rows: the first rule wins.
    let c5 = w.add_customer("C-005", "Five", &[("email", s("five@example.com"))]);
    let a5 = w.add_account("Account Five", &[("accountnumber", s("C-005"))]);
    let a5b = w.add_account(
        "Account Five B",
        &[("emailaddress1", s("five@example.com"))],
    );
    // A row the other side's filter leaves out is no candidate.
    let c6 = w.add_customer("C-006", "Six", &[]);
    w.add_account(
        "Account Six",
        &[("accountnumber", s("C-006")), ("statecode", Value::Int(1))],
    );
    // Coupled already: not matched again.
    let c7 = w.add_customer("C-007", "Seven", &[]);
    let a7 = w.add_account("Account Seven", &[]);
    w.add_account("Account Seven Twin", &[("accountnumber", s("C-007"))]);
    w.couple("customers", &c7, &a7).unwrap();
    let before = w.dump();
    let r = w.match_table("customers", false).unwrap();
    assert_eq!(r.mode, "match");
    let p = pass(&r, "customers", LTR);
    assert_eq!(
        p.counts,
        c(&[("coupled", 3), ("failed", 1), ("skipped", 2)]),
        "{r:#?}"
    );
    assert_eq!(w.partner("customers", Side::Left, &c1), a1);
    assert_eq!(w.partner("customers", Side::Left, &c2), a2);
    assert_eq!(w.partner("customers", Side::Left, &c5), a5);
    assert!(w.coupling("customers", Side::Right, &a5b).is_none());
    assert!(w.coupling("customers", Side::Left, &c3).is_none());
    assert!(w.coupling("customers", Side::Right, &a3).is_none());
    assert!(w.coupling("customers", Side::Left, &c4).is_none());
    assert!(w.coupling("customers", Side::Left, &c6).is_none());
    assert_eq!(w.partner("customers", Side::Left, &c7), a7);
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].source_key, c4);
    assert!(
        p.errors[0]
            .message
            .contains("finds 2 uncoupled `accounts` rows"),
        "{}",
        p.errors[0].message
    );
    let logged = w.store().errors(r.run_id, None, 10).unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].source_key, c4);
    assert_eq!(w.dump(), before, "matching writes nothing to either system");
    // A dry run of it couples nothing; a second match finds nothing new.
    let state = w.state_dump();
    let r = w.match_table("customers", true).unwrap();
    assert_eq!(w.state_dump(), state);
    assert_eq!(r.run_id, None);
    let r = w.match_table("customers", false).unwrap();
    assert_eq!(counts(&r, "customers", LTR).coupled, 0, "{r:#?}");
    assert_eq!(w.couplings("customers"), 4);
    // The second match failed the ambiguous record the same way again: it is skipped now.
    let f = w.store().failures(Some("customers")).unwrap();
    assert_eq!((f.len(), f[0].skipped), (1, true));
    // The next run syncs the matched pairs, however old their rows.
    w.age();
    let r = w.run(Mode::Modified);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("modified", 4), ("skipped", 3)]),
        "{r:#?}"
    );
    assert_eq!(w.field("dv", "accounts", &a1, "name"), s("One"));
    assert_eq!(w.field("dv", "accounts", &a5, "accountnumber"), s("C-005"));
    // A mapping without match rules cannot be matched.
    let w = World::with_mappings(&customers_map(""));
    let e = w.match_table("customers", false).unwrap_err();
    assert!(e.to_string().contains("has no `match` rules"), "{e}");
}

#[test]
fn a_stopped_match_ends_after_its_batch_as_an_interrupted_run() {
    let w = World::standard();
    for i in 1..=3 {
        w.add_customer(&format!("C-00{i}"), &format!("Customer {i}"), &[]);
    }
    let (systems, store) = (w.systems(), w.store());
    let options = syncmap::runtime::engine::Options {
        batch_size: 1,
        ..Default::default()
    };
    // Asked to stop before it starts: the pass still finishes the batch it is in, as runs do.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut engine = syncmap::runtime::engine::Engine::new(&w.plan, &systems, &store, options)
        .unwrap()
        .with_cancel(stop);
    let r = tokio_block(engine.match_table("customers", false)).unwrap();
    assert!(r.interrupted, "{r:#?}");
    assert_eq!(r.status, "interrupted");
    let p = pass(&r, "customers", LTR);
    let c = &p.counts;
    let handled = c.coupled + c.skipped + c.failed + c.unchanged;
    assert_eq!(handled, 1, "one batch of one record: {r:#?}");
    let stored = store.run(r.run_id.unwrap()).unwrap().unwrap();
    assert_eq!(stored.status, "interrupted");
}

// ───────────── directions ─────────────

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
    let ltr = r.pass("customers", LTR).unwrap();
    let rtl = r.pass("customers", RTL).unwrap();
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

#[test]
fn one_way_mappings_flow_only_their_way() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    w.age();
    // Currencies: left to right only.
    let eur = w.find("bc", "currencies", "code", "EUR");
    let dv_eur = w.partner("currencies", Side::Left, &eur);
    w.update(
        "dv",
        "transactioncurrencies",
        &dv_eur,
        &[("currencyname", s("Euro (DV)"))],
    );
    // Salespeople: right to left only.
    let alicia = w.find("dv", "systemusers", "fullname", "Alicia Thomber");
    let sp = w.partner("salespeople", Side::Right, &alicia);
    w.update(
        "bc",
        "salespeoplePurchasers",
        &sp,
        &[("displayName", s("Alicia (BC)"))],
    );
    let r = w.run(Mode::Modified);
    assert!(r.pass("currencies", RTL).is_none() && r.pass("salespeople", LTR).is_none());
    assert_eq!(counts(&r, "currencies", LTR), Counts::default(), "{r:#?}");
    assert_eq!(counts(&r, "salespeople", RTL), Counts::default(), "{r:#?}");
    assert_eq!(w.field("bc", "currencies", &eur, "displayName"), s("Euro"));
    assert_eq!(
        w.field("dv", "systemusers", &alicia, "fullname"),
        s("Alicia Thomber")
    );
    // Changes on the source side flow, and overwrite the destination's own edits (no conflict
    // on a one-way mapping).
    w.update("bc", "currencies", &eur, &[("symbol", s("EUR€"))]);
    w.update(
        "dv",
        "systemusers",
        &alicia,
        &[("internalemailaddress", s("alicia@new.example"))],
    );
    let r = w.run(Mode::Modified);
    assert_eq!(
        counts(&r, "currencies", LTR),
        c(&[("modified", 1)]),
        "{r:#?}"
    );
    assert_eq!(
        counts(&r, "salespeople", RTL),
        c(&[("modified", 1)]),
        "{r:#?}"
    );
    assert_eq!(
        w.field("dv", "transactioncurrencies", &dv_eur, "currencysymbol"),
        s("EUR€")
    );
    assert_eq!(
        w.field("dv", "transactioncurrencies", &dv_eur, "currencyname"),
        s("Euro"),
        "the left side's value is written back over the right side's edit"
    );
    assert_eq!(
        w.field("bc", "salespeoplePurchasers", &sp, "email"),
        s("alicia@new.example")
    );
    assert_eq!(
        w.field("bc", "salespeoplePurchasers", &sp, "displayName"),
        s("Alicia Thomber")
    );
    assert_eq!(r.totals().conflicts, 0);
    // `[create only]`: the code made on create is not rewritten from the new name.
    w.update(
        "dv",
        "systemusers",
        &alicia,
        &[("fullname", s("Alicia Smith"))],
    );
    w.run(Mode::Modified);
    assert_eq!(
        w.field("bc", "salespeoplePurchasers", &sp, "code"),
        s("ALICIATHOMBER")
    );
    assert_eq!(
        w.field("bc", "salespeoplePurchasers", &sp, "displayName"),
        s("Alicia Smith")
    );
}

// ───────────── conflicts ─────────────

/// Both sides change the two-way phone number of Alpha; returns the run.
fn phone_conflict(w: &World, a: &str, a2: &str) -> RunReport {
    w.update("bc", "customers", a, &[("phoneNumber", s("111-bc"))]);
    w.update("dv", "accounts", a2, &[("telephone1", s("111-dv"))]);
    w.run(Mode::Modified)
}

#[test]
fn conflict_prefer_left_side_writes_the_left_values() {
    let (w, a, a2, _, b2) = coupled_pair("    on conflict: prefer bc");
    let r = phone_conflict(&w, &a, &a2);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("modified", 1), ("conflicts", 1)]),
        "{r:#?}"
    );
    assert_eq!(
        counts(&r, "customers", RTL),
        c(&[("unchanged", 1)]),
        "{r:#?}"
    );
    assert_eq!(w.field("dv", "accounts", &a2, "telephone1"), s("111-bc"));
    assert_eq!(w.field("bc", "customers", &a, "phoneNumber"), s("111-bc"));
    let events = w.store().events(r.run_id.unwrap()).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, "conflict");
    assert_eq!(events[0].source_key.as_deref(), Some(a.as_str()));
    assert!(
        events[0].message.contains("`telephone1`") && events[0].message.contains("prefer bc"),
        "{}",
        events[0].message
    );
    assert_eq!(w.field("dv", "accounts", &b2, "telephone1"), s("200"));
    assert!(w.store().failures(None).unwrap().is_empty());
}

#[test]
fn conflict_prefer_right_side_writes_the_right_values() {
    let (w, a, a2, _, _) = coupled_pair("    on conflict: prefer right");
    let r = phone_conflict(&w, &a, &a2);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("skipped", 1), ("conflicts", 1)]),
        "{r:#?}"
    );
    assert_eq!(
        counts(&r, "customers", RTL),
        c(&[("modified", 1), ("conflicts", 1)]),
        "{r:#?}"
    );
    assert_eq!(w.field("bc", "customers", &a, "phoneNumber"), s("111-dv"));
    assert_eq!(w.field("dv", "accounts", &a2, "telephone1"), s("111-dv"));
    let events = w.store().events(r.run_id.unwrap()).unwrap();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.direction.as_str()))
        .collect();
    assert_eq!(kinds, [("conflict", LTR), ("conflict", RTL)]);
    assert!(
        events[0].message.contains("skipped"),
        "{}",
        events[0].message
    );
    // Settled: the next run has nothing to do.
    w.age();
    nothing_written(&w.run(Mode::Modified));
}

#[test]
fn conflict_newest_takes_the_side_changed_last() {
    let (w, a, a2, b, b2) = coupled_pair("    on conflict: newest");
    // Alpha: Business Central first, Dataverse last → Dataverse wins.
    w.update("bc", "customers", &a, &[("phoneNumber", s("a-bc"))]);
    w.update("dv", "accounts", &a2, &[("telephone1", s("a-dv"))]);
    // Beta: Dataverse first, Business Central last → Business Central wins.
    w.update("dv", "accounts", &b2, &[("telephone1", s("b-dv"))]);
    w.update("bc", "customers", &b, &[("phoneNumber", s("b-bc"))]);
    let r = w.run(Mode::Modified);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("modified", 1), ("skipped", 1), ("conflicts", 2)]),
        "{r:#?}"
    );
    assert_eq!(
        counts(&r, "customers", RTL),
        c(&[("modified", 1), ("unchanged", 1), ("conflicts", 1)]),
        "{r:#?}"
    );
    assert_eq!(w.field("bc", "customers", &a, "phoneNumber"), s("a-dv"));
    assert_eq!(w.field("dv", "accounts", &a2, "telephone1"), s("a-dv"));
    assert_eq!(w.field("bc", "customers", &b, "phoneNumber"), s("b-bc"));
    assert_eq!(w.field("dv", "accounts", &b2, "telephone1"), s("b-bc"));
    let events = w.store().events(r.run_id.unwrap()).unwrap();
    assert_eq!(events.len(), 3);
    assert!(events
        .iter()
        .all(|e| e.kind == "conflict" && e.message.contains("newest")));
}

#[test]
fn conflict_fail_fails_the_record_until_resolved() {
    let (w, a, a2, b, b2) = coupled_pair("    on conflict: fail");
    // Beta changes on one side only: it syncs while Alpha fails.
    w.update("bc", "customers", &b, &[("city", s("Tromsø"))]);
    let r = phone_conflict(&w, &a, &a2);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("modified", 1), ("failed", 1), ("conflicts", 1)]),
        "{r:#?}"
    );
    assert_eq!(
        counts(&r, "customers", RTL),
        c(&[("failed", 1), ("conflicts", 1), ("unchanged", 1)]),
        "{r:#?}"
    );
    assert_eq!(w.field("dv", "accounts", &b2, "address1_city"), s("Tromsø"));
    // Neither side is overwritten.
    assert_eq!(w.field("bc", "customers", &a, "phoneNumber"), s("111-bc"));
    assert_eq!(w.field("dv", "accounts", &a2, "telephone1"), s("111-dv"));
    let errors = w.store().errors(r.run_id, None, 10).unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for e in &errors {
        // Each pass names the differing columns of the side it writes.
        let column = if e.direction == LTR {
            "`telephone1`"
        } else {
            "`phoneNumber`"
        };
        assert!(
            e.message.contains("both sides changed since the last sync")
                && e.message.contains(column)
                && e.message.contains("syncmap resolve customers --")
                && e.message.contains("--take left|right"),
            "{}",
            e.message
        );
    }
    // Logged as events too, one per pass that met it.
    let events = w.store().events(r.run_id.unwrap()).unwrap();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.direction.as_str()))
        .collect();
    assert_eq!(kinds, [("conflict", LTR), ("conflict", RTL)]);
    assert!(
        events[0].message.contains("rule fail"),
        "{}",
        events[0].message
    );
    // It is retried: resolve it by hand (same value both sides) and the retry goes through.
    w.update("dv", "accounts", &a2, &[("telephone1", s("111-bc"))]);
    let r = w.run(Mode::Modified);
    assert_eq!(r.totals().failed, 0, "{r:#?}");
    assert_eq!(r.totals().conflicts, 0, "{r:#?}");
    assert!(w.store().failures(None).unwrap().is_empty());
    let cp = w.coupling("customers", Side::Left, &a).unwrap();
    assert_eq!(cp.ltr_result.as_deref(), Some("success"));
    assert_eq!(cp.rtl_result.as_deref(), Some("success"));
    assert!(!cp.skipped);
}

#[test]
fn both_sides_changed_without_a_differing_two_way_field_is_no_conflict() {
    let (w, a, a2, b, b2) = coupled_pair("    on conflict: fail");
    // Alpha: the same new value on both sides.
    w.update("bc", "customers", &a, &[("phoneNumber", s("same"))]);
    w.update("dv", "accounts", &a2, &[("telephone1", s("same"))]);
    // Beta: a one-way field on the left, a column no mapping reads on the right.
    w.update("bc", "customers", &b, &[("creditLimit", Value::Int(9000))]);
    w.update("dv", "accounts", &b2, &[("fax", s("fax-1"))]);
    let r = w.run(Mode::Modified);
    assert_eq!(r.totals().conflicts, 0, "{r:#?}");
    assert_eq!(r.totals().failed, 0, "{r:#?}");
    assert_eq!(counts(&r, "customers", LTR).modified, 1, "{r:#?}");
    assert_eq!(text(&w.field("dv", "accounts", &b2, "creditlimit")), "9000");
    assert_eq!(w.field("dv", "accounts", &b2, "fax"), s("fax-1"));
    assert_eq!(w.field("bc", "customers", &a, "phoneNumber"), s("same"));
    assert!(w.store().events(r.run_id.unwrap()).unwrap().is_empty());
}

// ───────────── deletions ─────────────

#[test]
fn deleted_partner_with_uncouple_drops_the_coupling() {
    let (w, a, a2, _, _) = coupled_pair("    on delete: uncouple");
    w.delete("dv", "accounts", &a2);
    w.update("bc", "customers", &a, &[("city", s("Molde"))]);
    let r = w.run(Mode::Modified);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("uncoupled", 1)]),
        "{r:#?}"
    );
    assert!(w.coupling("customers", Side::Left, &a).is_none());
    assert!(w.exists("bc", "customers", &a), "the survivor stays");
    assert_eq!(w.count("dv", "accounts"), 1, "nothing re-created");
    let events = w.store().events(r.run_id.unwrap()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "deletion");
    assert!(
        events[0].message.contains("uncoupled"),
        "{}",
        events[0].message
    );
    assert_eq!(events[0].dest_key.as_deref(), Some(a2.as_str()));
}

#[test]
fn deleted_partner_with_restore_recreates_and_recouples() {
    let (w, a, a2, _, _) = coupled_pair("    on delete: restore");
    w.delete("dv", "accounts", &a2);
    w.update("bc", "customers", &a, &[("city", s("Molde"))]);
    let r = w.run(Mode::Modified);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("inserted", 1), ("coupled", 1)]),
        "{r:#?}"
    );
    let new = w.partner("customers", Side::Left, &a);
    assert_ne!(new, a2);
    let row = w.get("dv", "accounts", &new);
    assert_eq!(row.fields["name"], s("Alpha"));
    assert_eq!(row.fields["address1_city"], s("Molde"));
    assert_eq!(row.fields["accountnumber"], s("C-A"));
    assert_eq!(
        row.fields["customertypecode"],
        Value::Int(3),
        "create-only fields too"
    );
    assert_eq!(w.count("dv", "accounts"), 2);
    assert!(w.coupling("customers", Side::Right, &a2).is_none());
    let events = w.store().events(r.run_id.unwrap()).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, "deletion");
    assert!(
        events[0].message.contains("restored"),
        "{}",
        events[0].message
    );
    w.age();
    nothing_written(&w.run(Mode::Modified));
}

#[test]
fn deleted_partner_with_propagate_deletes_the_survivor_both_ways() {
    let (w, a, a2, b, b2) = coupled_pair("    on delete: propagate");
    // Dataverse row deleted: the customer goes.
    w.delete("dv", "accounts", &a2);
    w.update("bc", "customers", &a, &[("city", s("Molde"))]);
    // Business Central row deleted: the account goes.
    w.delete("bc", "customers", &b);
    w.update("dv", "accounts", &b2, &[("address1_city", s("Alta"))]);
    let r = w.run(Mode::Modified);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("deleted", 1), ("uncoupled", 1)]),
        "{r:#?}"
    );
    assert_eq!(
        counts(&r, "customers", RTL),
        c(&[("deleted", 1), ("uncoupled", 1)]),
        "{r:#?}"
    );
    assert!(!w.exists("bc", "customers", &a));
    assert!(!w.exists("dv", "accounts", &b2));
    assert_eq!(w.count("bc", "customers"), 0);
    assert_eq!(w.count("dv", "accounts"), 0);
    assert_eq!(w.couplings("customers"), 0);
    let events = w.store().events(r.run_id.unwrap()).unwrap();
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e.kind == "deletion" && e.message.contains("propagated")));
}

#[test]
fn deleted_partner_with_fail_fails_the_record() {
    let (w, a, a2, _, _) = coupled_pair("    on delete: fail");
    w.delete("dv", "accounts", &a2);
    w.update("bc", "customers", &a, &[("city", s("Molde"))]);
    let r = w.run(Mode::Modified);
    assert_eq!(counts(&r, "customers", LTR), c(&[("failed", 1)]), "{r:#?}");
    assert!(w.coupling("customers", Side::Left, &a).is_some(), "kept");
    assert_eq!(w.count("dv", "accounts"), 1, "not re-created");
    let errors = w.store().errors(r.run_id, None, 10).unwrap();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains(&format!("`{a2}` was deleted"))
            && errors[0].message.contains("`fail`"),
        "{}",
        errors[0].message
    );
    let cp = w.coupling("customers", Side::Left, &a).unwrap();
    assert_eq!(cp.ltr_result.as_deref(), Some("failure"));
    // Retried by the next run (failing the same way again: now skipped).
    let r = w.run(Mode::Modified);
    assert_eq!(counts(&r, "customers", LTR).failed, 1, "{r:#?}");
    let f = w.store().failures(Some("customers")).unwrap();
    assert_eq!(f.len(), 1);
    assert!(f[0].skipped);
}

// ───────────── lookups ─────────────

#[test]
fn lookups_translate_keys_through_couplings_both_ways() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    let fabrikam = w.find("bc", "customers", "displayName", "Fabrikam Inc.");
    let account = w.partner("customers", Side::Left, &fabrikam);
    let usd = w.find("dv", "transactioncurrencies", "isocurrencycode", "USD");
    let eur = w.find("dv", "transactioncurrencies", "isocurrencycode", "EUR");
    assert_eq!(
        w.field("dv", "accounts", &account, "transactioncurrencyid"),
        s(&usd)
    );
    assert_eq!(
        w.field("dv", "accounts", &account, "ownerid"),
        Value::Null,
        "an empty salesperson code refers to nobody"
    );
    // Right to left: the account's currency becomes the customer's currency code.
    w.update(
        "dv",
        "accounts",
        &account,
        &[("transactioncurrencyid", s(&eur))],
    );
    let r = w.run(Mode::Modified);
    assert_eq!(counts(&r, "customers", RTL).modified, 1, "{r:#?}");
    assert_eq!(
        w.field("bc", "customers", &fabrikam, "currencyCode"),
        s("EUR")
    );
    // Left to right: a salesperson code becomes the coupled user.
    let alicia = w.find("dv", "systemusers", "fullname", "Alicia Thomber");
    w.update(
        "bc",
        "customers",
        &fabrikam,
        &[("salespersonCode", s("ALICIATHOMBER"))],
    );
    w.run(Mode::Modified);
    assert_eq!(w.field("dv", "accounts", &account, "ownerid"), s(&alicia));
    // An empty currency code clears the currency.
    w.update("bc", "customers", &fabrikam, &[("currencyCode", s(""))]);
    w.run(Mode::Modified);
    assert_eq!(
        w.field("dv", "accounts", &account, "transactioncurrencyid"),
        Value::Null
    );
    // `[not null]`: an empty salesperson code leaves the owner as it is.
    w.update("bc", "customers", &fabrikam, &[("salespersonCode", s(""))]);
    let r = w.run(Mode::Modified);
    assert_eq!(r.totals().failed, 0, "{r:#?}");
    assert_eq!(w.field("dv", "accounts", &account, "ownerid"), s(&alicia));
}

#[test]
fn an_unresolvable_lookup_fails_the_record_unless_clear_on_failure() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    w.age();
    // No coupled currency JPY: `[clear on failure]` writes null.
    let yen = w.add_customer("C-JP", "Nippon", &[("currencyCode", s("JPY"))]);
    // No salesperson NOBODY: the owner lookup has no `[clear on failure]`, the record fails.
    let nobody = w.add_customer("C-NB", "Nobody's", &[("salespersonCode", s("NOBODY"))]);
    let r = w.run(Mode::Full);
    let p = pass(&r, "customers", LTR);
    assert_eq!(p.counts.inserted, 1, "{r:#?}");
    assert_eq!(p.counts.failed, 1, "{r:#?}");
    let made = w.partner("customers", Side::Left, &yen);
    assert_eq!(
        w.field("dv", "accounts", &made, "transactioncurrencyid"),
        Value::Null
    );
    assert!(w.coupling("customers", Side::Left, &nobody).is_none());
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].source_key, nobody);
    assert!(
        p.errors[0].message.contains("`ownerid`") && p.errors[0].message.contains("NOBODY"),
        "{}",
        p.errors[0].message
    );
    // Fix the cause: a user whose code is NOBODY. The salespeople pass runs first, so the
    // retried customer finds it in the same run (a full one: new users are only taken by
    // full syncs, salespeople being `only coupled` by default).
    let user = w.insert(
        "dv",
        "systemusers",
        &[
            ("fullname", s("No Body")),
            ("isdisabled", Value::Bool(false)),
            ("islicensed", Value::Bool(true)),
            ("isintegrationuser", Value::Bool(false)),
        ],
    );
    // A modified-only run does not take the new user, so the retried customer (retried although
    // `only coupled` is true) fails the same way again and is skipped.
    let r = w.run(Mode::Modified);
    assert_eq!(
        counts(&r, "salespeople", RTL),
        c(&[("skipped", 1)]),
        "{r:#?}"
    );
    let p = pass(&r, "customers", LTR);
    assert_eq!(p.counts.failed, 1, "{r:#?}");
    assert!(p.errors[0].skipped, "{r:#?}");
    assert_eq!(w.store().retry(Some("customers")).unwrap(), 1);
    let r = w.run(Mode::Full);
    assert_eq!(counts(&r, "salespeople", RTL).inserted, 1, "{r:#?}");
    let p = counts(&r, "customers", LTR);
    assert_eq!((p.inserted, p.failed), (1, 0), "{r:#?}");
    let made = w.partner("customers", Side::Left, &nobody);
    assert_eq!(w.field("dv", "accounts", &made, "ownerid"), s(&user));
    assert!(w.store().failures(None).unwrap().is_empty());
}

#[test]
fn full_sync_couples_an_existing_currency_by_its_iso_code() {
    let w = World::standard();
    w.seed_standard();
    let existing = w.insert(
        "dv",
        "transactioncurrencies",
        &[
            ("isocurrencycode", s("eur")),
            ("currencyname", s("Euro (old)")),
            ("currencysymbol", s("€")),
            ("exchangerate", dec("1.08")),
        ],
    );
    let r = w.run(Mode::Full);
    assert_eq!(
        counts(&r, "currencies", LTR),
        c(&[("inserted", 1), ("modified", 1), ("coupled", 2)]),
        "{r:#?}"
    );
    assert_eq!(
        w.count("dv", "transactioncurrencies"),
        2,
        "EUR is not duplicated"
    );
    let eur = w.find("bc", "currencies", "code", "EUR");
    assert_eq!(w.partner("currencies", Side::Left, &eur), existing);
    let row = w.get("dv", "transactioncurrencies", &existing);
    assert_eq!(row.fields["currencyname"], s("Euro"));
    assert_eq!(row.fields["isocurrencycode"], s("EUR"));
    assert_eq!(
        text(&row.fields["exchangerate"]),
        "1.08",
        "the create-only rate is not written on a matched row"
    );
    // The customers' currency lookups go to the matched row.
    let contoso = w.find("dv", "accounts", "name", "Contoso Ltd.");
    assert_eq!(
        w.field("dv", "accounts", &contoso, "transactioncurrencyid"),
        s(&existing)
    );
}

// ───────────── echo suppression ─────────────

#[test]
fn a_modified_only_run_right_after_any_run_writes_nothing() {
    let w = World::standard();
    w.seed_standard();
    let quiet = |after: &str| {
        let before = w.dump();
        let r = w.run(Mode::Modified);
        nothing_written(&r);
        assert_eq!(w.dump(), before, "a run right after {after} changed a row");
    };
    w.run(Mode::Full);
    quiet("a full sync");
    let contoso = w.find("bc", "customers", "displayName", "Contoso Ltd.");
    let account = w.partner("customers", Side::Left, &contoso);
    let fabrikam = w.find("bc", "customers", "displayName", "Fabrikam Inc.");
    let fab_account = w.partner("customers", Side::Left, &fabrikam);
    w.update(
        "bc",
        "customers",
        &contoso,
        &[("email", s("a@contoso.example"))],
    );
    w.update(
        "dv",
        "accounts",
        &fab_account,
        &[("websiteurl", s("fabrikam.example"))],
    );
    let alicia = w.find("dv", "systemusers", "fullname", "Alicia Thomber");
    w.update(
        "dv",
        "systemusers",
        &alicia,
        &[("mobilephone", s("+1 555"))],
    );
    w.add_customer("C-N", "New One", &[]);
    let r = w.run(Mode::Full);
    assert_eq!(r.totals().modified, 3, "{r:#?}");
    assert_eq!(r.totals().inserted, 1, "{r:#?}");
    assert_eq!(r.totals().failed, 0, "{r:#?}");
    assert_eq!(
        w.field("bc", "customers", &fabrikam, "website"),
        s("fabrikam.example")
    );
    quiet("a full sync with changes both ways");
    w.update("bc", "customers", &contoso, &[("city", s("Lille"))]);
    w.run(Mode::Modified);
    quiet("a modified-only run");
    w.update(
        "dv",
        "accounts",
        &account,
        &[("address1_line1", s("1 rue"))],
    );
    w.sync_record("customers", Side::Right, &account).unwrap();
    quiet("a one-record sync");
    assert_eq!(
        w.field("bc", "customers", &contoso, "addressLine1"),
        s("1 rue")
    );
}

// ───────────── failures ─────────────

#[test]
fn a_failing_record_is_retried_then_skipped_until_retried_by_hand() {
    let w = World::with_mappings(&customers_map(
        "    only coupled: false\n    match number == accountnumber",
    ));
    let good = w.add_customer("C-1", "Good", &[]);
    // Business Central refuses a customer without a display name.
    let nameless = w.add_account("placeholder", &[("name", Value::Null)]);
    let r = w.run(Mode::Full);
    let p = pass(&r, "customers", RTL);
    assert_eq!(p.counts.failed, 1, "{r:#?}");
    assert_eq!(p.errors[0].source_key, nameless);
    assert!(!p.errors[0].skipped);
    let message = p.errors[0].message.clone();
    assert!(
        message.contains("creating the customers row failed") && message.contains("displayName"),
        "{message}"
    );
    assert!(w.coupling("customers", Side::Left, &good).is_some());
    let store = w.store();
    let logged = store.errors(r.run_id, None, 10).unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].direction, RTL);
    assert_eq!(logged[0].source_key, nameless);
    assert_eq!(
        store
            .failed_not_skipped("customers", Direction::RightToLeft)
            .unwrap(),
        std::slice::from_ref(&nameless)
    );
    // Retried at the start of the next run although nothing changed; the same error twice
    // marks it skipped.
    w.age();
    let r = w.run(Mode::Modified);
    let p = pass(&r, "customers", RTL);
    assert_eq!(p.counts.failed, 1, "{r:#?}");
    assert!(p.errors[0].skipped, "{r:#?}");
    let f = store.failures(None).unwrap();
    assert_eq!(f.len(), 1);
    assert!(f[0].skipped);
    assert_eq!(f[0].attempts, 2);
    // Left alone by later runs, even when it changes.
    w.update("dv", "accounts", &nameless, &[("telephone1", s("1"))]);
    let r = w.run(Mode::Modified);
    assert_eq!(counts(&r, "customers", RTL), c(&[("skipped", 1)]), "{r:#?}");
    let r = w.run(Mode::Full);
    assert_eq!(counts(&r, "customers", RTL).failed, 0, "{r:#?}");
    assert_eq!(counts(&r, "customers", RTL).skipped, 1, "{r:#?}");
    assert_eq!(
        store.errors(None, None, 100).unwrap().len(),
        2,
        "no new error logged"
    );
    // `syncmap retry`: the next run tries again (and fails again, not yet skipped).
    assert_eq!(store.retry(None).unwrap(), 1);
    assert_eq!(
        store
            .failed_not_skipped("customers", Direction::RightToLeft)
            .unwrap()
            .len(),
        1
    );
    w.age();
    let r = w.run(Mode::Modified);
    let p = pass(&r, "customers", RTL);
    assert_eq!(p.counts.failed, 1, "{r:#?}");
    assert!(
        !p.errors[0].skipped,
        "one failure after a retry is not yet two: {r:#?}"
    );
    // The cause is fixed: the retry syncs it and its failure is cleared.
    w.update("dv", "accounts", &nameless, &[("name", s("Named At Last"))]);
    w.age();
    let r = w.run(Mode::Modified);
    assert_eq!(
        counts(&r, "customers", RTL),
        c(&[("inserted", 1), ("coupled", 1)]),
        "{r:#?}"
    );
    let made = w.partner("customers", Side::Right, &nameless);
    assert_eq!(
        w.field("bc", "customers", &made, "displayName"),
        s("Named At Last")
    );
    assert!(store.failures(None).unwrap().is_empty());
}

#[test]
fn a_bad_record_does_not_stop_the_others_in_its_batch() {
    let w = World::with_mappings(&customers_map(""));
    // Dataverse refuses account names containing BAD.
    w.sql(
        "dv",
        "CREATE TRIGGER no_bad BEFORE INSERT ON accounts WHEN NEW.name LIKE '%BAD%'
         BEGIN SELECT RAISE(ABORT, 'account names may not contain BAD'); END;
         CREATE TRIGGER no_bad_update BEFORE UPDATE ON accounts WHEN NEW.name LIKE '%BAD%'
         BEGIN SELECT RAISE(ABORT, 'account names may not contain BAD'); END;",
    );
    let keys: Vec<String> = ["One", "Two BAD", "Three", "Four", "Five"]
        .iter()
        .enumerate()
        .map(|(i, n)| w.add_customer(&format!("C-{i}"), n, &[]))
        .collect();
    let r = w.run(Mode::Full);
    let p = pass(&r, "customers", LTR);
    assert_eq!(
        p.counts,
        c(&[("inserted", 4), ("coupled", 4), ("failed", 1)]),
        "{r:#?}"
    );
    assert_eq!(w.count("dv", "accounts"), 4);
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(
            w.coupling("customers", Side::Left, k).is_some(),
            i != 1,
            "{i}"
        );
    }
    assert!(
        p.errors[0].message.contains("may not contain BAD"),
        "{r:#?}"
    );
    // The same in updates: one refused, the others written.
    for (i, k) in keys.iter().enumerate() {
        let name = if i == 2 {
            "Three BAD".to_string()
        } else {
            format!("Renamed {i}")
        };
        w.update("bc", "customers", k, &[("displayName", s(&name))]);
    }
    let r = w.run(Mode::Modified);
    let p = pass(&r, "customers", LTR);
    assert_eq!(
        p.counts,
        c(&[
            ("modified", 3),
            ("failed", 1),
            ("inserted", 1),
            ("coupled", 1)
        ]),
        "the failed create, renamed, goes through on its retry: {r:#?}"
    );
    assert_eq!(p.errors[0].source_key, keys[2]);
    let two = w.partner("customers", Side::Left, &keys[1]);
    assert_eq!(w.field("dv", "accounts", &two, "name"), s("Renamed 1"));
    let three = w.partner("customers", Side::Left, &keys[2]);
    assert_eq!(w.field("dv", "accounts", &three, "name"), s("Three"));
    let four = w.partner("customers", Side::Left, &keys[3]);
    assert_eq!(w.field("dv", "accounts", &four, "name"), s("Renamed 3"));
}

// ───────────── dry run ─────────────

#[test]
fn a_dry_run_writes_nothing_and_reports_what_would_change() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    let contoso = w.find("bc", "customers", "displayName", "Contoso Ltd.");
    let account = w.partner("customers", Side::Left, &contoso);
    let fabrikam = w.find("bc", "customers", "displayName", "Fabrikam Inc.");
    let fab_account = w.partner("customers", Side::Left, &fabrikam);
    w.update("bc", "customers", &contoso, &[("city", s("Lyon"))]);
    // A conflict: both sides change Fabrikam's phone.
    w.update("bc", "customers", &fabrikam, &[("phoneNumber", s("1-bc"))]);
    w.update("dv", "accounts", &fab_account, &[("telephone1", s("1-dv"))]);
    w.insert(
        "bc",
        "currencies",
        &[
            ("code", s("GBP")),
            ("displayName", s("Pound")),
            ("symbol", s("£")),
        ],
    );
    let before = w.dump();
    let state = w.state_dump();
    let runs = w.store().runs(100).unwrap().len();
    for mode in [Mode::Modified, Mode::Full] {
        let r = w.dry_run(mode);
        assert!(r.dry_run);
        assert_eq!(r.run_id, None);
        assert_eq!(w.dump(), before, "a dry run changed a system");
        assert_eq!(w.state_dump(), state, "a dry run changed the state store");
        // What would happen, with the fields before and after.
        let cur = pass(&r, "currencies", LTR);
        if mode == Mode::Full {
            assert_eq!(cur.counts.inserted, 1, "{r:#?}");
            let insert = cur.changes.iter().find(|c| c.kind == "insert").unwrap();
            let f = insert
                .fields
                .iter()
                .find(|f| f.column == "isocurrencycode")
                .unwrap();
            assert_eq!((f.before.as_deref(), f.after.as_str()), (None, "\"GBP\""));
        } else {
            assert_eq!(cur.counts.skipped, 1, "`only coupled`: {r:#?}");
        }
        let cus = pass(&r, "customers", LTR);
        assert_eq!(cus.counts.modified, 1, "{r:#?}");
        assert_eq!(cus.counts.conflicts, 1, "{r:#?}");
        assert_eq!(cus.counts.failed, 1, "`on conflict: fail`: {r:#?}");
        let update = cus.changes.iter().find(|c| c.kind == "update").unwrap();
        assert_eq!(update.source_key, contoso);
        assert_eq!(update.dest_key.as_deref(), Some(account.as_str()));
        // Named as people know it: number · name.
        let update_label = update.label.clone().unwrap_or_default();
        assert!(update_label.ends_with(" · Contoso Ltd."), "{update:?}");
        assert_eq!(update.fields.len(), 1, "{update:?}");
        assert_eq!(update.fields[0].column, "address1_city");
        // Values are shown as the language writes them (text quoted, so null stands out).
        assert_eq!(update.fields[0].before.as_deref(), Some("\"Paris\""));
        assert_eq!(update.fields[0].after, "\"Lyon\"");
        assert!(
            cus.errors[0].message.contains("both sides changed"),
            "{r:#?}"
        );
        let conflict = cus.changes.iter().find(|c| c.kind == "conflict").unwrap();
        assert_eq!(conflict.source_key, fabrikam);
        let label = conflict.label.as_deref().unwrap_or_default();
        assert!(label.ends_with(" · Fabrikam Inc."), "{conflict:?}");
        assert!(
            conflict.note.as_deref().unwrap().contains("`telephone1`"),
            "{conflict:?}"
        );
        assert!(!cus.errors[0].skipped);
        let human = syncmap::runtime::engine::report::human(&r);
        assert!(human.contains("dry run (nothing written)"), "{human}");
        assert!(
            human.contains(&format!("← `{contoso}` ({update_label})\n")),
            "{human}"
        );
        assert!(
            human.contains("address1_city: \"Paris\" → \"Lyon\""),
            "{human}"
        );
    }
    // One record, dry: reported, not written.
    let r = w
        .with_engine(Default::default(), None, |e| {
            tokio_block(e.sync_record("customers", Side::Left, &contoso, true))
        })
        .unwrap();
    assert_eq!(counts(&r, "customers", LTR).modified, 1, "{r:#?}");
    assert_eq!(w.dump(), before);
    assert_eq!(w.state_dump(), state);
    assert_eq!(w.store().runs(100).unwrap().len(), runs, "no run recorded");
    assert!(w.store().failures(None).unwrap().is_empty());
    // A conflict the rule resolves is listed as such.
    let (w, a, a2, _, _) = coupled_pair("    on conflict: prefer dv");
    w.update("bc", "customers", &a, &[("phoneNumber", s("x-bc"))]);
    w.update("dv", "accounts", &a2, &[("telephone1", s("x-dv"))]);
    let before = w.dump();
    let r = w.dry_run(Mode::Modified);
    assert_eq!(w.dump(), before);
    let rtl = pass(&r, "customers", RTL);
    let conflict = rtl.changes.iter().find(|c| c.kind == "conflict").unwrap();
    assert!(
        conflict.note.as_deref().unwrap().contains("prefer dv"),
        "{conflict:?}"
    );
    let update = rtl.changes.iter().find(|c| c.kind == "update").unwrap();
    assert_eq!(update.fields[0].before.as_deref(), Some("\"x-bc\""));
    assert_eq!(update.fields[0].after, "\"x-dv\"");
    assert!(w.store().events(r.run_id.unwrap_or(0)).unwrap().is_empty());
}

// ───────────── modifiers and unchanged records ─────────────

#[test]
fn constants_create_only_update_only_and_not_null_are_honoured() {
    let w = World::with_mappings(
        r#"
table customers: bc.customers -> dv.accounts {
    filter bc: blocked == " "
    displayName   -> name [truncate]
    number        -> accountnumber [create only, truncate]
    email         -> emailaddress1 [update only, truncate]
    phoneNumber   -> telephone1 [not null, truncate]
    if creditLimit > 0 then creditLimit else null -> creditlimit [not null]
    "systemuser"  -> owneridtype
    "Customer"    -> customertypecode [create only]
}
"#,
    );
    let k = w.add_customer(
        "C-1",
        "Contoso",
        &[
            ("email", s("first@contoso.example")),
            ("phoneNumber", s("123")),
            ("creditLimit", Value::Int(700)),
        ],
    );
    w.run(Mode::Full);
    let a = w.partner("customers", Side::Left, &k);
    let row = w.get("dv", "accounts", &a);
    assert_eq!(row.fields["accountnumber"], s("C-1"));
    assert_eq!(
        row.fields["emailaddress1"],
        Value::Null,
        "update only: not on create"
    );
    assert_eq!(row.fields["telephone1"], s("123"));
    assert_eq!(text(&row.fields["creditlimit"]), "700");
    assert_eq!(row.fields["owneridtype"], s("systemuser"));
    assert_eq!(row.fields["customertypecode"], Value::Int(3));
    // Dataverse edits of its own, then changes in Business Central.
    w.update(
        "dv",
        "accounts",
        &a,
        &[
            ("owneridtype", s("team")),
            ("customertypecode", Value::Int(12)),
        ],
    );
    w.update(
        "bc",
        "customers",
        &k,
        &[
            ("number", s("C-2")),
            ("email", s("second@contoso.example")),
            ("phoneNumber", Value::Null),
            ("creditLimit", Value::Int(0)),
        ],
    );
    let r = w.run(Mode::Modified);
    assert_eq!(counts(&r, "customers", LTR).modified, 1, "{r:#?}");
    let row = w.get("dv", "accounts", &a);
    assert_eq!(
        row.fields["accountnumber"],
        s("C-1"),
        "create only: kept on update"
    );
    assert_eq!(
        row.fields["emailaddress1"],
        s("second@contoso.example"),
        "update only"
    );
    assert_eq!(
        row.fields["telephone1"],
        s("123"),
        "not null: a null is not written"
    );
    assert_eq!(text(&row.fields["creditlimit"]), "700", "not null");
    assert_eq!(
        row.fields["owneridtype"],
        s("systemuser"),
        "a constant is restored"
    );
    assert_eq!(
        row.fields["customertypecode"],
        Value::Int(12),
        "create only"
    );
}

#[test]
fn unchanged_records_are_not_written() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    let contoso = w.find("bc", "customers", "displayName", "Contoso Ltd.");
    let account = w.partner("customers", Side::Left, &contoso);
    let before = w.get("dv", "accounts", &account);
    // A second full sync reads everything and writes nothing.
    let dump = w.dump();
    let r = w.run(Mode::Full);
    nothing_written(&r);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("unchanged", 2)]),
        "{r:#?}"
    );
    assert_eq!(w.dump(), dump);
    // A change to a column no mapping reads: the record is read, no field differs, no write.
    w.age();
    let aged = w.get("dv", "accounts", &account);
    w.update(
        "bc",
        "customers",
        &contoso,
        &[("taxRegistrationNumber", s("FR123"))],
    );
    let r = w.run(Mode::Modified);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("unchanged", 1)]),
        "{r:#?}"
    );
    let after = w.get("dv", "accounts", &account);
    assert_eq!(after.modified_on, aged.modified_on, "modified-on unchanged");
    assert_eq!(after.etag, before.etag, "version unchanged");
    // The same value written in Business Central: still nothing to write.
    w.update("bc", "customers", &contoso, &[("city", s("Paris"))]);
    let r = w.run(Mode::Modified);
    assert_eq!(
        counts(&r, "customers", LTR),
        c(&[("unchanged", 1)]),
        "{r:#?}"
    );
    assert_eq!(w.get("dv", "accounts", &account).etag, before.etag);
}

// ───────────── watermarks ─────────────

/// Currencies that modified-only runs create too.
const OPEN_CURRENCIES: &str = r#"
table currencies: bc.currencies -> dv.transactioncurrencies {
    only coupled: false
    code        -> isocurrencycode [truncate]
    displayName -> currencyname
    symbol      -> currencysymbol
    1           -> exchangerate [create only]
}
"#;

#[test]
fn watermarks_are_tie_safe_across_pages() {
    let w = World::with_mappings(OPEN_CURRENCIES);
    w.insert(
        "bc",
        "currencies",
        &[
            ("code", s("AAA")),
            ("displayName", s("First")),
            ("symbol", s("a")),
        ],
    );
    let opts = || small_pages(3, 2);
    w.run_with(opts(), &request(Mode::Modified, &["currencies"], false))
        .unwrap();
    let first = w
        .store()
        .watermark("currencies", Direction::LeftToRight)
        .unwrap()
        .unwrap();
    // Ten currencies sharing one modified-on, read three to a page.
    let tie = stamp(jiff::Timestamp::now());
    for i in 0..10 {
        w.insert(
            "bc",
            "currencies",
            &[
                ("code", s(&format!("T{i:02}"))),
                ("displayName", s("Tie")),
                ("symbol", s("t")),
            ],
        );
    }
    w.set_all_modified("bc", "currencies", &tie);
    // The first currency is long synced: only the tied ones are read.
    w.set_modified(
        "bc",
        "currencies",
        &w.find("bc", "currencies", "code", "AAA"),
        LONG_AGO,
    );
    assert!(stamp(first.modified_on) < tie);
    let r = w
        .run_with(opts(), &request(Mode::Modified, &["currencies"], false))
        .unwrap();
    let p = counts(&r, "currencies", LTR);
    assert_eq!(p.inserted, 10, "{r:#?}");
    assert_eq!(p.failed + p.skipped, 0, "{r:#?}");
    let codes: std::collections::BTreeSet<String> = w
        .rows("dv", "transactioncurrencies")
        .iter()
        .map(|r| text(&r.fields["isocurrencycode"]))
        .collect();
    assert_eq!(codes.len(), 11);
    assert_eq!(w.count("dv", "transactioncurrencies"), 11, "no duplicate");
    let wm = w
        .store()
        .watermark("currencies", Direction::LeftToRight)
        .unwrap()
        .unwrap();
    assert_eq!(stamp(wm.modified_on), tie);
    // Again: every tied row is read again (they sit on the watermark) and none is written.
    let r = w
        .run_with(opts(), &request(Mode::Modified, &["currencies"], false))
        .unwrap();
    assert_eq!(
        counts(&r, "currencies", LTR),
        c(&[("unchanged", 10)]),
        "{r:#?}"
    );
    // Full sync pages by key: the same, with small pages.
    let r = w
        .run_with(opts(), &request(Mode::Full, &["currencies"], false))
        .unwrap();
    assert_eq!(
        counts(&r, "currencies", LTR),
        c(&[("unchanged", 11)]),
        "{r:#?}"
    );
}

#[test]
fn the_watermark_is_capped_at_the_run_start_and_only_moves_forward() {
    let w = World::with_mappings(OPEN_CURRENCIES);
    w.seed_standard();
    let eur = w.find("bc", "currencies", "code", "EUR");
    w.set_modified("bc", "currencies", &eur, "2100-01-01T00:00:00.000000Z");
    let r = w.run(Mode::Modified);
    let started: jiff::Timestamp = r.started_at.parse().unwrap();
    let store = w.store();
    let wm = store
        .watermark("currencies", Direction::LeftToRight)
        .unwrap()
        .unwrap();
    assert!(wm.modified_on <= jiff::Timestamp::now());
    assert_eq!(
        wm.modified_on.as_microsecond(),
        started.as_microsecond(),
        "capped at the run's start"
    );
    // A currency made afterwards is still picked up.
    w.insert(
        "bc",
        "currencies",
        &[
            ("code", s("GBP")),
            ("displayName", s("Pound")),
            ("symbol", s("£")),
        ],
    );
    let r = w.run(Mode::Modified);
    assert_eq!(counts(&r, "currencies", LTR).inserted, 1, "{r:#?}");
    let wm = store
        .watermark("currencies", Direction::LeftToRight)
        .unwrap()
        .unwrap();
    // Rows stamped back in time do not move it back, even in a full sync that reads them all.
    w.set_all_modified("bc", "currencies", LONG_AGO);
    let r = w.run(Mode::Full);
    assert_eq!(counts(&r, "currencies", LTR).unchanged, 3, "{r:#?}");
    assert_eq!(
        store
            .watermark("currencies", Direction::LeftToRight)
            .unwrap()
            .unwrap(),
        wm,
        "never back"
    );
    let run = store.run(r.run_id.unwrap()).unwrap().unwrap();
    let rc = run
        .counts
        .iter()
        .find(|c| c.mapping == "currencies")
        .unwrap();
    assert_eq!(rc.cursor_before, rc.cursor_after);
    let r = w.run(Mode::Modified);
    assert_eq!(counts(&r, "currencies", LTR), Counts::default(), "{r:#?}");
}

#[test]
fn a_row_changed_during_a_run_is_picked_up_by_the_next_one() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    w.age();
    let contoso = w.find("bc", "customers", "displayName", "Contoso Ltd.");
    let fabrikam = w.find("bc", "customers", "displayName", "Fabrikam Inc.");
    let contoso_account = w.partner("customers", Side::Left, &contoso);
    let fabrikam_account = w.partner("customers", Side::Left, &fabrikam);
    w.update("bc", "customers", &contoso, &[("city", s("Lyon"))]);
    let changed = Cell::new(false);
    let hook = OnPass(|mapping: &str, direction: &str| {
        // After the customers' left-to-right pass has read Business Central.
        if mapping == "customers" && direction == RTL && !changed.get() {
            w.update("bc", "customers", &fabrikam, &[("city", s("Hamburg"))]);
            changed.set(true);
        }
    });
    let r = w.run_observed(&request(Mode::Modified, &[], false), &hook);
    assert!(changed.get());
    assert_eq!(counts(&r, "customers", LTR).modified, 1, "{r:#?}");
    assert_eq!(
        w.field("dv", "accounts", &fabrikam_account, "address1_city"),
        s("Berlin"),
        "not in this run"
    );
    assert_eq!(
        w.field("dv", "accounts", &contoso_account, "address1_city"),
        s("Lyon")
    );
    let r = w.run(Mode::Modified);
    assert_eq!(counts(&r, "customers", LTR).modified, 1, "{r:#?}");
    assert_eq!(
        w.field("dv", "accounts", &fabrikam_account, "address1_city"),
        s("Hamburg")
    );
}

#[test]
fn a_row_changed_between_the_passes_of_a_run_is_read_whole_and_brought_back() {
    // The pass back reads versions first and judges the pairs the first pass synced by the
    // versions that pass left them at, without the state store: a row changed in between must
    // still read as changed.
    let w = World::standard();
    w.seed_standard();
    let changed = Cell::new(None);
    let hook = OnPass(|mapping: &str, direction: &str| {
        if mapping == "customers" && direction == RTL && changed.get().is_none() {
            let account = w.find("dv", "accounts", "name", "Fabrikam Inc.");
            w.update(
                "dv",
                "accounts",
                &account,
                &[("address1_city", s("Hamburg"))],
            );
            changed.set(Some(()));
        }
    });
    let options = syncmap::runtime::engine::Options {
        versions_first_from: 1,
        ..Default::default()
    };
    let req = request(Mode::Full, &[], false);
    let r = w
        .with_engine(options, Some(&hook), |e| tokio_block(e.run(&req)))
        .unwrap();
    assert!(changed.get().is_some());
    let (ltr, rtl) = (counts(&r, "customers", LTR), counts(&r, "customers", RTL));
    assert!(ltr.inserted > 1, "{r:#?}");
    assert_eq!(rtl.modified, 1, "{r:#?}");
    assert_eq!(rtl.unchanged, ltr.inserted - 1, "{r:#?}");
    let fabrikam = w.find("bc", "customers", "displayName", "Fabrikam Inc.");
    assert_eq!(w.field("bc", "customers", &fabrikam, "city"), s("Hamburg"));
    // Nothing is left for the next run to write either way: the change was taken, once.
    let again = w.run(Mode::Modified);
    nothing_written(&again);
    assert_eq!(again.totals().conflicts, 0, "{again:#?}");
}

// ───────────── the command line ─────────────

#[test]
fn cli_run_full_json_then_dry_run() {
    let w = World::standard();
    w.seed_standard();
    let out = w.cli(&["run", "--mode", "full", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let j = out.json();
    let run_id = j["run_id"].as_i64().unwrap();
    assert!(run_id > 0);
    assert_eq!(j["mode"], "full");
    assert_eq!(j["dry_run"], false);
    assert!(j["duration_ms"].is_u64());
    let tables = j["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 10);
    let cus = tables
        .iter()
        .find(|t| t["mapping"] == "customers" && t["direction"] == LTR)
        .unwrap();
    assert_eq!(cus["inserted"], 2);
    assert_eq!(cus["coupled"], 2);
    assert_eq!(cus["failed"], 0);
    assert_eq!(cus["source"], "bc.customers");
    assert_eq!(cus["dest"], "dv.accounts");
    for key in [
        "modified",
        "unchanged",
        "skipped",
        "conflicts",
        "deleted",
        "uncoupled",
    ] {
        assert!(cus[key].is_u64(), "{key} in {cus}");
    }
    assert_eq!(w.count("dv", "accounts"), 2);
    assert_eq!(w.store().run(run_id).unwrap().unwrap().status, "succeeded");
    // A dry run through the binary: a table for people, nothing written.
    let contoso = w.find("bc", "customers", "displayName", "Contoso Ltd.");
    w.update("bc", "customers", &contoso, &[("city", s("Lyon"))]);
    let before = w.dump();
    let state = w.state_dump();
    let out = w.cli(&["run", "--dry-run"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("dry run (nothing written)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("would update customers"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("address1_city: \"Paris\" → \"Lyon\""),
        "{}",
        out.stdout
    );
    assert_eq!(w.dump(), before);
    assert_eq!(w.state_dump(), state);
    // And the real thing.
    let out = w.cli(&["run", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["mode"], "modified");
    let account = w.partner("customers", Side::Left, &contoso);
    assert_eq!(
        w.field("dv", "accounts", &account, "address1_city"),
        s("Lyon")
    );
}

#[test]
fn cli_record_couple_uncouple_and_match() {
    let map = customers_map("    match number == accountnumber");
    let w = World::with_mappings(&map);
    let one = w.add_customer("C-1", "One", &[]);
    let two = w.add_customer("C-2", "Two", &[]);
    let acc_two = w.add_account("Account Two", &[("accountnumber", s("C-2"))]);
    let three = w.add_customer("C-3", "Three", &[]);
    let acc_three = w.add_account("Account Three", &[]);
    // record: creates the partner of an uncoupled record.
    let out = w.cli(&["record", "customers", "--left", &one, "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let j = out.json();
    assert_eq!(j["mode"], "record");
    assert_eq!(j["tables"][0]["inserted"], 1);
    let acc_one = w.partner("customers", Side::Left, &one);
    assert_eq!(w.field("dv", "accounts", &acc_one, "name"), s("One"));
    // match: couples Two by number, writes nothing.
    let before = w.dump();
    let out = w.cli(&["match", "customers", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["tables"][0]["coupled"], 1);
    assert_eq!(w.partner("customers", Side::Left, &two), acc_two);
    assert_eq!(w.dump(), before);
    // couple by hand.
    let out = w.cli(&[
        "couple",
        "customers",
        "--left",
        &three,
        "--right",
        &acc_three,
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("coupled customers"), "{}", out.stdout);
    assert_eq!(w.partner("customers", Side::Left, &three), acc_three);
    let runs = w.cli(&["log", "--json"]).json();
    assert_eq!(runs[0]["mode"], "couple");
    let couple_run = runs[0]["id"].as_i64().unwrap().to_string();
    let out = w.cli(&["log", "--run", &couple_run]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "coupled customers bc → dv: record `{three}`: coupled by hand"
        )),
        "{}",
        out.stdout
    );
    let out = w.cli(&["couple", "customers", "--left", &three, "--right", "nope"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("has no row `nope`"), "{}", out.stderr);
    // uncouple one, then all.
    let out = w.cli(&["uncouple", "customers", "--right", &acc_three]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("uncoupled 1 record of customers"),
        "{}",
        out.stdout
    );
    assert!(w.coupling("customers", Side::Left, &three).is_none());
    let out = w.cli(&["uncouple", "customers", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("uncoupled 2 records"), "{}", out.stdout);
    assert_eq!(w.couplings("customers"), 0);
    let out = w.cli(&["uncouple", "customers"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--all"), "{}", out.stderr);
    // A record of a side records never flow from, and an unknown table.
    let out = w.cli(&["record", "nothing", "--left", &one]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("no table mapping `nothing`"),
        "{}",
        out.stderr
    );
}

#[test]
fn cli_status_log_errors_and_retry() {
    let w = World::with_mappings(&customers_map(
        "    only coupled: false\n    match number == accountnumber",
    ));
    w.add_customer("C-1", "Good", &[]);
    let nameless = w.add_account("x", &[("name", Value::Null)]);
    let out = w.cli(&["run", "--mode", "full", "--json"]);
    assert_eq!(out.code, 1, "a record failed: {out:?}");
    let j = out.json();
    let run_id = j["run_id"].as_i64().unwrap();
    let rtl = j["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["direction"] == RTL)
        .unwrap();
    assert_eq!(rtl["failed"], 1);
    assert_eq!(rtl["errors"][0]["source_key"], nameless.as_str());
    // status
    let out = w.cli(&["status", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let j = out.json();
    let t = &j["tables"][0];
    assert_eq!(t["mapping"], "customers");
    assert_eq!(t["coupled"], 1);
    let dirs = t["directions"].as_array().unwrap();
    assert_eq!(dirs.len(), 2);
    assert!(dirs.iter().all(|d| d["watermark"].is_string()), "{dirs:?}");
    let rtl = dirs.iter().find(|d| d["direction"] == RTL).unwrap();
    assert_eq!(rtl["failed"], 1);
    assert_eq!(rtl["skipped"], 0);
    assert_eq!(j["last_run"]["id"], run_id);
    let out = w.cli(&["status"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("customers") && out.stdout.contains(&format!("last run: {run_id}")),
        "{}",
        out.stdout
    );
    // log, and one run in detail
    let out = w.cli(&["log"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.trim_start().starts_with(&run_id.to_string()) && l.contains("full")),
        "{}",
        out.stdout
    );
    let out = w.cli(&["log", "--run", &run_id.to_string()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains(&format!("run {run_id}: full sync")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("customers bc → dv: 1 inserted"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("customers dv → bc: 0 inserted"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("failed customers dv → bc `{nameless}`")),
        "{}",
        out.stdout
    );
    let out = w.cli(&["log", "--run", &run_id.to_string(), "--json"]);
    let j = out.json();
    assert_eq!(j["errors"].as_array().unwrap().len(), 1);
    assert_eq!(j["run"]["counts"].as_array().unwrap().len(), 2);
    let out = w.cli(&["log", "--run", "999"]);
    assert_eq!(out.code, 2, "{out:?}");
    // errors
    let out = w.cli(&["errors"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains(&nameless) && out.stdout.contains("failed 1 time"),
        "{}",
        out.stdout
    );
    // The second failure skips it; retry un-skips.
    let out = w.cli(&["run"]);
    assert_eq!(out.code, 1, "{out:?}");
    let out = w.cli(&["errors", "--json"]);
    let j = out.json();
    assert_eq!(j[0]["skipped"], true);
    assert_eq!(j[0]["attempts"], 2);
    let status = w.cli(&["status", "--json"]).json();
    let rtl = &status["tables"][0]["directions"][1];
    assert_eq!(
        (
            rtl["direction"].as_str(),
            rtl["failed"].as_u64(),
            rtl["skipped"].as_u64()
        ),
        (Some(RTL), Some(0), Some(1))
    );
    let out = w.cli(&["errors"]);
    assert!(
        out.stdout.contains("skipped until `syncmap retry`"),
        "{}",
        out.stdout
    );
    let out = w.cli(&["retry", "customers"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("1 skipped record will be retried"),
        "{}",
        out.stdout
    );
    assert_eq!(w.cli(&["errors", "--json"]).json()[0]["skipped"], false);
    let out = w.cli(&["retry", "nothing"]);
    assert_eq!(out.code, 2, "{out:?}");
    // Fixed: the next run syncs it, exit 0, no error left.
    w.update("dv", "accounts", &nameless, &[("name", s("Named"))]);
    let out = w.cli(&["run"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = w.cli(&["errors"]);
    assert!(out.stdout.contains("no failed records"), "{}", out.stdout);
}

#[test]
fn cli_exit_2_names_what_is_missing() {
    let w = World::standard();
    w.seed_standard();
    let out = w.cli(&["run", "--table", "customer"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("no table mapping `customer`"),
        "{}",
        out.stderr
    );
    // A profile without one of the plan's systems.
    std::fs::write(
        w.path().join("no-dv.toml"),
        "[state]\nurl = \"sqlite://state.db\"\n[systems.bc]\nurl = \"sqlite://bc.db\"\n",
    )
    .unwrap();
    let out = w.cli(&["run", "--profile", "no-dv.toml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("[systems.dv]") && out.stderr.contains("no-dv.toml"),
        "{}",
        out.stderr
    );
    // A profile that is not valid.
    std::fs::write(w.path().join("bad.toml"), "[systems.bc]\nurl = 3\n").unwrap();
    let out = w.cli(&["status", "--profile", "bad.toml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("bad.toml"), "{}", out.stderr);
    let out = w.cli(&["run", "--profile", "missing.toml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("missing.toml"), "{}", out.stderr);
    assert_eq!(w.count("dv", "accounts"), 0, "nothing ran");
    assert!(w.store().runs(10).unwrap().is_empty());
}

#[test]
fn cli_schema_pull_gives_back_the_snapshot() {
    let w = World::standard();
    let out = w.cli(&["schema", "pull", "dv", "--profile", "syncmap.toml"]);
    assert_eq!(out.code, 0, "{out:?}");
    let pulled = out.json();
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("mappings/schemas/dataverse.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(pulled["tables"], expected["tables"]);
    let out = w.cli(&["schema", "pull", "crm", "--profile", "syncmap.toml"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("[systems.crm]"), "{}", out.stderr);
}

#[test]
fn contacts_follow_their_company_through_the_customers_coupling() {
    let w = World::standard();
    w.seed_standard();
    w.run(Mode::Full);
    let contoso = w.find("dv", "accounts", "name", "Contoso Ltd.");
    let fabrikam = w.find("dv", "accounts", "name", "Fabrikam Inc.");
    // Left to right: the company number finds the customer, whose coupled account is the parent.
    let maria = w.insert(
        "bc",
        "contacts",
        &[
            ("displayName", s("Maria Garcia Lopez")),
            ("type", s("Person")),
            ("companyNumber", s("C-CON")),
            ("jobTitle", s("Buyer")),
        ],
    );
    let r = w.run(Mode::Full);
    assert_eq!(
        counts(&r, "contacts", LTR),
        c(&[("inserted", 1), ("coupled", 1)]),
        "{r:#?}"
    );
    let m = w.partner("contacts", Side::Left, &maria);
    let row = w.get("dv", "contacts", &m);
    assert_eq!(row.fields["firstname"], s("Maria Garcia"));
    assert_eq!(row.fields["lastname"], s("Lopez"));
    assert_eq!(row.fields["parentcustomerid"], s(&contoso));
    assert_eq!(row.fields["parentcustomeridtype"], s("account"));
    // Right to left: the parent account's coupled customer gives the number back. (Dataverse
    // computes `fullname`; the SQLite stand-in does not, so the test sets it.)
    w.update(
        "dv",
        "contacts",
        &m,
        &[
            ("parentcustomerid", s(&fabrikam)),
            ("fullname", s("Maria Garcia Lopez")),
        ],
    );
    let r = w.run(Mode::Modified);
    assert_eq!(counts(&r, "contacts", RTL), c(&[("modified", 1)]), "{r:#?}");
    assert_eq!(
        w.field("bc", "contacts", &maria, "companyNumber"),
        s("C-FAB")
    );
    assert_eq!(w.field("bc", "contacts", &maria, "type"), s("Person"));
    // A parent that is not coupled: `[clear on failure]` clears the number.
    let stray = w.add_account("Stray", &[("statecode", Value::Int(1))]);
    w.update("dv", "contacts", &m, &[("parentcustomerid", s(&stray))]);
    let r = w.run(Mode::Modified);
    assert_eq!(r.totals().failed, 0, "{r:#?}");
    assert_eq!(
        w.field("bc", "contacts", &maria, "companyNumber"),
        Value::Null
    );
}

#[test]
fn a_failed_record_whose_row_is_deleted_is_no_longer_retried() {
    let w = World::with_mappings(&customers_map("    only coupled: false"));
    let nameless = w.add_account("x", &[("name", Value::Null)]);
    let r = w.run(Mode::Full);
    assert_eq!(counts(&r, "customers", RTL).failed, 1, "{r:#?}");
    assert_eq!(w.store().failures(None).unwrap().len(), 1);
    w.delete("dv", "accounts", &nameless);
    let r = w.run(Mode::Modified);
    assert_eq!(r.totals().failed, 0, "{r:#?}");
    assert!(
        w.store().failures(None).unwrap().is_empty(),
        "nothing is left to retry"
    );
}

#[test]
fn a_change_flowing_back_is_not_lost_when_the_other_side_changed_too() {
    // Each side changes a field that flows only from it: both changes must arrive, in one run.
    let w = World::with_mappings(
        "table customers: bc.customers <-> dv.accounts {\n    displayName <-> name [truncate]\n    creditLimit  -> creditlimit\n    city         <- address1_city [truncate]\n}\n",
    );
    let key = w.insert(
        "bc",
        "customers",
        &[
            ("displayName", s("Oslo AS")),
            ("city", s("Oslo")),
            ("creditLimit", Value::Int(100)),
        ],
    );
    w.run(Mode::Full);
    let account = w.partner("customers", Side::Left, &key);
    w.update("bc", "customers", &key, &[("creditLimit", Value::Int(900))]);
    w.update(
        "dv",
        "accounts",
        &account,
        &[("address1_city", s("Bergen"))],
    );
    w.run(Mode::Modified);
    assert_eq!(
        w.get("dv", "accounts", &account).fields["creditlimit"],
        Value::Decimal(900.into())
    );
    assert_eq!(
        w.get("bc", "customers", &key).fields["city"],
        s("Bergen"),
        "the right-to-left change arrived"
    );
    let quiet = w.run(Mode::Modified).totals();
    assert_eq!(
        quiet.modified + quiet.inserted,
        0,
        "and nothing echoes afterwards"
    );
}

#[test]
fn a_second_run_on_the_same_state_store_is_refused_while_one_runs() {
    let w = World::standard();
    w.seed_standard();
    let store = w.store();
    let held = store.take_lease(syncmap::state::LeaseKind::Run).unwrap();
    assert!(held.is_some(), "a file-backed store has a run lease");
    let err = w
        .try_run(&syncmap::runtime::engine::RunRequest::new(Mode::Full))
        .expect_err("the second run is refused");
    assert!(
        err.to_string()
            .contains("another syncmap run is using the state store"),
        "{err}"
    );
    assert_eq!(
        w.count("dv", "accounts"),
        0,
        "the refused run wrote nothing"
    );
    drop(held);
    w.run(Mode::Full);
    assert_eq!(w.count("dv", "accounts"), 2);
}

#[test]
fn a_row_with_an_unreadable_value_fails_alone_and_the_run_goes_on() {
    let w = World::standard();
    w.seed_standard();
    let fabrikam = w.find("bc", "customers", "displayName", "Fabrikam Inc.");
    w.sql(
        "bc",
        &format!("UPDATE customers SET creditLimit = 'lots' WHERE id = '{fabrikam}'"),
    );
    let r = w.run(Mode::Full);
    let ltr = r.pass("customers", "left_to_right").unwrap();
    assert_eq!(ltr.counts.failed, 1, "{r:#?}");
    assert!(
        ltr.errors[0].message.contains("creditLimit"),
        "{:?}",
        ltr.errors
    );
    assert_eq!(w.count("dv", "accounts"), 1, "Contoso still synced");
    assert!(w
        .store()
        .errors(None, Some("customers"), 10)
        .unwrap()
        .iter()
        .any(|e| e.source_key == fabrikam));
}

#[test]
fn a_dry_run_from_the_command_line_creates_no_state_store() {
    let w = World::standard();
    w.seed_standard();
    let state = w.path().join("state.db");
    assert!(!state.exists());
    let r = w.cli(&["run", "--mode", "full", "--dry-run", "--json"]);
    // Exit 1 is allowed: lookups through couplings this very run would make fail in a dry run.
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["dry_run"], serde_json::json!(true));
    assert!(!state.exists(), "a dry run must not create the state store");
    assert_eq!(w.count("dv", "accounts"), 0);
    // Commands that only read the state store do not need the systems' databases.
    std::fs::remove_file(w.path().join("dv.db")).unwrap();
    let r = w.cli(&["errors"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_decimal_the_destination_column_cannot_hold_fails_the_record_with_the_column_named() {
    let w = World::standard();
    w.seed_standard();
    let fabrikam = w.find("bc", "customers", "displayName", "Fabrikam Inc.");
    let contoso = w.find("bc", "customers", "displayName", "Contoso Ltd.");
    // Dataverse's creditlimit is decimal(19,4): five digits after the point do not fit, and
    // neither do sixteen before it; 14 + 4 digits of an amount do.
    w.update(
        "bc",
        "customers",
        &fabrikam,
        &[("creditLimit", dec("1.23456"))],
    );
    w.update(
        "bc",
        "customers",
        &contoso,
        &[("creditLimit", dec("-12345678901234.5678"))],
    );
    let r = w.run(Mode::Full);
    let ltr = r.pass("customers", "left_to_right").unwrap();
    assert_eq!(ltr.counts.failed, 1, "{r:#?}");
    let message = &ltr.errors[0].message;
    assert!(message.starts_with("`creditlimit` ("), "{message}");
    assert!(
        message.ends_with("): 1.23456 has 5 digits after the point, but the column holds 4"),
        "{message}"
    );
    // The failure names the record as a person knows it, here and wherever it is listed.
    assert_eq!(
        ltr.errors[0].label.as_deref(),
        Some("C-FAB · Fabrikam Inc."),
        "{:?}",
        ltr.errors
    );
    let listed = w.cli(&["errors"]);
    assert!(
        listed
            .stdout
            .contains(&format!("`{fabrikam}` (C-FAB · Fabrikam Inc.)")),
        "{}",
        listed.stdout
    );
    assert_eq!(
        w.cli(&["errors", "--format", "json"]).json()[0]["label"],
        "C-FAB · Fabrikam Inc."
    );
    assert_eq!(
        w.count("dv", "accounts"),
        1,
        "the amount that fits is synced"
    );
    let synced = w.find("dv", "accounts", "name", "Contoso Ltd.");
    assert_eq!(
        w.get("dv", "accounts", &synced).fields["creditlimit"],
        dec("-12345678901234.5678")
    );
}

#[test]
fn a_production_folder_with_only_the_plan_and_the_profile_needs_no_flags() {
    let w = World::standard();
    w.seed_standard();
    let compiled = w.cli(&["compile", "mappings", "-o", "plan.json"]);
    assert_eq!(compiled.code, 0, "{}", compiled.stderr);
    // What a deployment holds: the reviewed plan, the profile, the databases and the state.
    std::fs::remove_dir_all(w.path().join("mappings")).unwrap();
    let run = w.cli(&["run", "--mode", "full", "--format", "json"]);
    assert!(run.code <= 1, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(report["tables"].as_array().is_some_and(|t| !t.is_empty()));
    for args in [
        &["status", "--format", "json"][..],
        &["status", "--json"][..],
        &["log", "--format", "json"][..],
        &["errors", "--format", "json"][..],
    ] {
        let r = w.cli(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let doc: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", r.stdout));
        assert!(!doc.is_null(), "{args:?}");
    }
    assert_eq!(
        w.cli(&["status", "--json"]).stdout,
        w.cli(&["status", "--format", "json"]).stdout,
        "--json is --format json"
    );
}

#[test]
fn a_run_that_cannot_start_still_prints_a_json_document() {
    let w = World::standard();
    w.seed_standard();
    std::fs::remove_file(w.path().join("dv.db")).unwrap();
    std::fs::create_dir(w.path().join("dv.db")).unwrap();
    let r = w.cli(&["run", "--mode", "full", "--format", "json"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("no JSON on standard output ({e}): {:?}", r.stdout));
    assert_eq!(doc["status"], "failed");
    let error = doc["error"].as_str().unwrap();
    assert!(
        !error.is_empty() && r.stderr.contains(error),
        "{doc} vs {}",
        r.stderr
    );
}

#[test]
fn a_modified_only_run_after_the_plan_added_fields_says_which_and_how_to_fill_them_in() {
    let without_phone =
        customers_map("").replace("    phoneNumber <-> telephone1 [truncate]\n", "");
    assert_ne!(without_phone, customers_map(""));
    let w = World::with_mappings(&without_phone);
    w.seed_standard();
    let hints = |args: &[&str]| -> Vec<String> {
        let r = w.cli(args);
        assert!(r.code <= 1, "{}", r.stderr);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        report["hints"]
            .as_array()
            .map(|h| h.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let json = ["--format", "json"];
    let full = [&["run", "--mode", "full"][..], &json].concat();
    let modified = [&["run", "--mode", "modified"][..], &json].concat();
    assert!(hints(&full).is_empty());
    assert!(hints(&modified).is_empty(), "the plan has not changed");

    // The phone number now flows both ways: coupled records that do not change never get it.
    std::fs::write(w.path().join("mappings/test.map"), customers_map("")).unwrap();
    let said = hints(&modified);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("`customers` writes fields its last full sync (run 1) did not: bc → dv `telephone1`; dv → bc `phoneNumber`"),
        "{}",
        said[0]
    );
    assert!(
        said[0].ends_with("`syncmap run --mode full --table customers`"),
        "{}",
        said[0]
    );
    // A full sync writes them; after it, nothing is left to say.
    assert!(hints(&full).is_empty());
    assert!(hints(&modified).is_empty());
}

#[test]
fn uncouple_and_retry_report_as_json_too() {
    let w = World::standard();
    w.seed_standard();
    let full = w.cli(&["run", "--mode", "full"]);
    assert!(full.code <= 1, "{}", full.stderr);
    let retried = w.cli(&["retry", "--format", "json"]);
    assert_eq!(retried.code, 0, "{}", retried.stderr);
    assert_eq!(retried.json()["retried"], 0);
    let status = w.cli(&["status", "--format", "json"]).json();
    let coupled = status["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["mapping"] == "customers")
        .and_then(|t| t["coupled"].as_u64())
        .unwrap();
    assert!(coupled > 0);
    let out = w.cli(&["uncouple", "customers", "--all", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    let uncoupled: u64 = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["uncoupled"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(uncoupled, coupled, "{report}");
}

// ───────────── conflict rules per field ─────────────

/// The customers mapping with a conflict rule per two-way field: the CRM wins the phone
/// number, the ERP the city, the later change the email; the name falls to the table's `fail`.
const PER_FIELD_MAP: &str = r#"
table customers: bc.customers <-> dv.accounts {
    filter bc: blocked == " "
    filter dv: statecode == "Active" and customertypecode == "Customer"
    on conflict: fail

    displayName <-> name [truncate]
    number       -> accountnumber [truncate]
    phoneNumber <-> telephone1 [truncate, on conflict: prefer dv]
    city        <-> address1_city [truncate, on conflict: prefer bc]
    email       <-> emailaddress1 [truncate, on conflict: newest]
    "Customer"   -> customertypecode [create only]
}
"#;

/// One combination of changes on both sides, and what each side must hold afterwards.
struct Merge {
    what: &'static str,
    bc: &'static [(&'static str, &'static str)],
    dv: &'static [(&'static str, &'static str)],
    /// (phone, city, email, name) on both sides after the run.
    both_hold: (&'static str, &'static str, &'static str, &'static str),
    failed: u64,
}

#[test]
fn per_field_conflict_rules_merge_changes_in_every_combination() {
    let cases = [
        Merge {
            what: "different fields changed on each side: both changes kept",
            bc: &[("city", "Tromsø")],
            dv: &[("telephone1", "555")],
            both_hold: ("555", "Tromsø", "a@x.no", "Alpha"),
            failed: 0,
        },
        Merge {
            what: "each side changed the field the other side's rule prefers: both kept",
            bc: &[("phoneNumber", "4-bc")],
            dv: &[("address1_city", "Hamar")],
            both_hold: ("4-bc", "Hamar", "a@x.no", "Alpha"),
            failed: 0,
        },
        Merge {
            what: "the same field on both sides, `prefer dv`",
            bc: &[("phoneNumber", "1-bc")],
            dv: &[("telephone1", "1-dv")],
            both_hold: ("1-dv", "Oslo", "a@x.no", "Alpha"),
            failed: 0,
        },
        Merge {
            what: "the same field on both sides, `prefer bc`",
            bc: &[("city", "Bergen")],
            dv: &[("address1_city", "Bodø")],
            both_hold: ("100", "Bergen", "a@x.no", "Alpha"),
            failed: 0,
        },
        Merge {
            what: "the same field on both sides, `newest` (Dataverse changed last)",
            bc: &[("email", "bc@x.no")],
            dv: &[("emailaddress1", "dv@x.no")],
            both_hold: ("100", "Oslo", "dv@x.no", "Alpha"),
            failed: 0,
        },
        Merge {
            what: "one side changed two fields, the other one of them",
            bc: &[("phoneNumber", "2-bc"), ("city", "Narvik")],
            dv: &[("telephone1", "2-dv")],
            both_hold: ("2-dv", "Narvik", "a@x.no", "Alpha"),
            failed: 0,
        },
        Merge {
            what: "every ruled field changed on both sides at once",
            bc: &[
                ("phoneNumber", "3-bc"),
                ("city", "Alta"),
                ("email", "bc3@x.no"),
            ],
            dv: &[
                ("telephone1", "3-dv"),
                ("address1_city", "Moss"),
                ("emailaddress1", "dv3@x.no"),
            ],
            both_hold: ("3-dv", "Alta", "dv3@x.no", "Alpha"),
            failed: 0,
        },
    ];
    for case in &cases {
        let (w, a, a2) = per_field_pair();
        w.update("bc", "customers", &a, &values(case.bc));
        w.update("dv", "accounts", &a2, &values(case.dv));
        let r = w.run(Mode::Modified);
        let failed = counts(&r, "customers", LTR).failed + counts(&r, "customers", RTL).failed;
        assert_eq!(failed, case.failed, "{}: {r:#?}", case.what);
        let (phone, city, email, name) = case.both_hold;
        let bc = ["phoneNumber", "city", "email", "displayName"]
            .map(|col| w.field("bc", "customers", &a, col));
        let dv = ["telephone1", "address1_city", "emailaddress1", "name"]
            .map(|col| w.field("dv", "accounts", &a2, col));
        let want = [s(phone), s(city), s(email), s(name)];
        assert_eq!((&bc, &dv), (&want, &want), "{}", case.what);
        // Merged, the pair is in step: the next run writes nothing.
        let again = w.run(Mode::Modified);
        for dir in [LTR, RTL] {
            let n = counts(&again, "customers", dir);
            assert_eq!(
                n.modified + n.inserted + n.failed + n.conflicts,
                0,
                "{}: {again:#?}",
                case.what
            );
        }
    }
}

#[test]
fn a_field_without_a_rule_of_its_own_falls_to_the_tables_rule() {
    let (w, a, a2) = per_field_pair();
    // The phone has a rule; the name falls to the table's `fail`, which fails the record.
    w.update(
        "bc",
        "customers",
        &a,
        &values(&[("displayName", "Alpha BC")]),
    );
    w.update(
        "dv",
        "accounts",
        &a2,
        &values(&[("name", "Alpha DV"), ("telephone1", "9")]),
    );
    let r = w.run(Mode::Modified);
    let failed = counts(&r, "customers", LTR).failed + counts(&r, "customers", RTL).failed;
    assert!(failed >= 1, "{r:#?}");
    // Neither side's name is overwritten.
    assert_eq!(w.field("bc", "customers", &a, "displayName"), s("Alpha BC"));
    assert_eq!(w.field("dv", "accounts", &a2, "name"), s("Alpha DV"));
    let errors = w.store().failures(Some("customers")).unwrap();
    assert!(
        errors
            .iter()
            .all(|f| f.message.contains("`name`") || f.message.contains("`displayName`")),
        "{errors:?}"
    );
}

/// A world with [`PER_FIELD_MAP`] and one customer synced, coupled and aged.
fn per_field_pair() -> (World, String, String) {
    let w = World::with_mappings(PER_FIELD_MAP);
    let a = w.add_customer(
        "C-A",
        "Alpha",
        &[
            ("phoneNumber", s("100")),
            ("city", s("Oslo")),
            ("email", s("a@x.no")),
        ],
    );
    let r = w.run(Mode::Full);
    assert_eq!(counts(&r, "customers", LTR).inserted, 1, "{r:#?}");
    let a2 = w.partner("customers", Side::Left, &a);
    w.age();
    (w, a, a2)
}

fn values<'k>(pairs: &[(&'k str, &str)]) -> Vec<(&'k str, Value)> {
    pairs.iter().map(|(k, v)| (*k, s(v))).collect()
}

#[test]
fn different_fields_changed_on_each_side_merge_under_any_table_rule() {
    for rules in [
        "    on conflict: fail",
        "    on conflict: prefer bc",
        "    on conflict: prefer dv",
        "    on conflict: newest",
    ] {
        let (w, a, a2, _, _) = coupled_pair(rules);
        w.update("bc", "customers", &a, &[("city", s("Tromsø"))]);
        w.update("dv", "accounts", &a2, &[("telephone1", s("555"))]);
        let r = w.run(Mode::Modified);
        for dir in [LTR, RTL] {
            let n = counts(&r, "customers", dir);
            assert_eq!((n.failed, n.conflicts), (0, 0), "{rules}: {r:#?}");
        }
        // Each side's change is kept, on both sides.
        assert_eq!(
            w.field("bc", "customers", &a, "city"),
            s("Tromsø"),
            "{rules}"
        );
        assert_eq!(
            w.field("dv", "accounts", &a2, "address1_city"),
            s("Tromsø"),
            "{rules}"
        );
        assert_eq!(
            w.field("bc", "customers", &a, "phoneNumber"),
            s("555"),
            "{rules}"
        );
        assert_eq!(
            w.field("dv", "accounts", &a2, "telephone1"),
            s("555"),
            "{rules}"
        );
        w.age();
        nothing_written(&w.run(Mode::Modified));
    }
}

/// Two field mappings write one column in different phases (the city is made from the first
/// address line, then kept from the city): a merge judges the one that updates it by its own
/// source column and base, not by the other's.
#[test]
fn a_merge_judges_the_field_mapping_that_writes_the_column_now() {
    const MAP: &str = r#"
table customers: bc.customers <-> dv.accounts {
    filter bc: blocked == " "
    filter dv: statecode == "Active" and customertypecode == "Customer"
    on conflict: fail

    displayName  <-> name [truncate]
    addressLine1 <-> address1_city [truncate, create only]
    city         <-> address1_city [truncate, update only]
    phoneNumber  <-> telephone1 [truncate]
    "Customer"    -> customertypecode [create only]
}
"#;
    let w = World::with_mappings(MAP);
    let a = w.add_customer(
        "C-A",
        "Alpha",
        &[
            ("addressLine1", s("Oslo")),
            ("city", s("Oslo")),
            ("phoneNumber", s("100")),
        ],
    );
    let r = w.run(Mode::Full);
    assert_eq!(counts(&r, "customers", LTR).inserted, 1, "{r:#?}");
    let a2 = w.partner("customers", Side::Left, &a);
    w.age();
    w.update("bc", "customers", &a, &[("city", s("Tromsø"))]);
    w.update("dv", "accounts", &a2, &[("telephone1", s("555"))]);
    let r = w.run(Mode::Modified);
    for dir in [LTR, RTL] {
        let n = counts(&r, "customers", dir);
        assert_eq!((n.failed, n.conflicts), (0, 0), "{r:#?}");
    }
    assert_eq!(w.field("dv", "accounts", &a2, "address1_city"), s("Tromsø"));
    assert_eq!(w.field("bc", "customers", &a, "city"), s("Tromsø"));
    assert_eq!(w.field("bc", "customers", &a, "phoneNumber"), s("555"));
}

#[test]
fn merges_keep_working_round_after_round_in_either_pass_order() {
    let (w, a, a2) = per_field_pair();
    type Changes = &'static [(&'static str, &'static str)];
    let rounds: [(Changes, Changes, (&str, &str)); 3] = [
        // Each side a field of its own, then the other way round, then the phone on both
        // sides (its rule prefers Dataverse).
        (
            &[("city", "Tromsø")],
            &[("telephone1", "555")],
            ("555", "Tromsø"),
        ),
        (
            &[("phoneNumber", "556")],
            &[("address1_city", "Bodø")],
            ("556", "Bodø"),
        ),
        (
            &[("phoneNumber", "557-bc")],
            &[("telephone1", "557-dv")],
            ("557-dv", "Bodø"),
        ),
    ];
    for (n, (bc, dv, (phone, city))) in rounds.into_iter().enumerate() {
        w.update("bc", "customers", &a, &values(bc));
        w.update("dv", "accounts", &a2, &values(dv));
        let r = w.run(Mode::Modified);
        let failed = counts(&r, "customers", LTR).failed + counts(&r, "customers", RTL).failed;
        assert_eq!(failed, 0, "round {n}: {r:#?}");
        let bc_now = [
            w.field("bc", "customers", &a, "phoneNumber"),
            w.field("bc", "customers", &a, "city"),
        ];
        let dv_now = [
            w.field("dv", "accounts", &a2, "telephone1"),
            w.field("dv", "accounts", &a2, "address1_city"),
        ];
        let want = [s(phone), s(city)];
        assert_eq!((&bc_now, &dv_now), (&want, &want), "round {n}");
        w.age();
        nothing_written(&w.run(Mode::Modified));
    }
}
