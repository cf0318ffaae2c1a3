//! Settling by hand what the rules leave failing (`syncmap resolve`), over both sandboxes with
//! the standard customers mapping (`on conflict: fail`, `on delete: fail`): `errors` shows both
//! sides' values, a dry run shows the field-level difference and writes nothing, one command
//! settles a conflict or a deleted partner, and the next run finds nothing left to write.

use super::support::wire::multiset;
use super::*;

/// `syncmap …`, which must succeed; its standard output as JSON.
fn json_of(env: &Env, args: &[&str]) -> Json {
    let (code, doc) = json_out(env, args);
    assert_eq!(code, Some(0), "syncmap {args:?}: {doc}");
    doc
}

/// A modified-only run of the customers; whether it went through without a failure.
fn customers_run(env: &Env) -> bool {
    let args = [
        "run",
        "--json",
        "--mode",
        "modified",
        "--table",
        "customers",
    ];
    env.syncmap(&args).status.success()
}

/// The failures `syncmap errors` lists, as JSON.
fn errors(env: &Env) -> Vec<Json> {
    json_of(env, &["errors", "--json"])
        .as_array()
        .unwrap()
        .clone()
}

/// Asserts a run wrote nothing and failed nothing in any pass.
fn assert_quiet(report: &Json) {
    for p in report["tables"].as_array().unwrap() {
        let moved = ["inserted", "modified", "deleted", "failed", "conflicts"]
            .iter()
            .map(|f| n(p, f))
            .sum::<u64>();
        assert_eq!(moved, 0, "{p}");
    }
}

fn row_of(env: &Env, dv: bool, table: &str, key_field: &str, key: &str) -> Option<Json> {
    env.rows(dv, table)
        .into_iter()
        .find(|r| r[key_field] == key)
}

#[test]
fn a_conflict_is_settled_by_one_resolve_after_which_a_run_writes_nothing() {
    let env = Env::start(Seed::Demo, |_| {});
    let (customer, account) = synced_customers(&env, 1).remove(0);
    env.patch(
        false,
        "customers",
        &customer,
        json!({ "phoneNumber": "+1 555 0199" }),
    );
    env.patch(
        true,
        "accounts",
        &account,
        json!({ "telephone1": "+33 1 00 00 00 00" }),
    );
    assert!(!customers_run(&env));

    // `errors` shows the conflict with both sides' values, in each direction it failed.
    let failed = errors(&env);
    assert_eq!(failed.len(), 2, "{failed:?}");
    for f in &failed {
        assert_eq!(f["kind"], "conflict", "{f}");
        assert_eq!(
            f["differences"],
            json!([{ "left_field": "phoneNumber", "left": "+1 555 0199",
                     "right_field": "telephone1", "right": "+33 1 00 00 00 00" }]),
            "{f}"
        );
    }
    let human = env.syncmap(&["errors"]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.contains("bc phoneNumber: \"+1 555 0199\"  |  dv telephone1: \"+33 1 00 00 00 00\""),
        "{human}"
    );

    // A dry run shows what taking Dataverse's values would write, and writes nothing.
    let dry = json_of(
        &env,
        &[
            "resolve",
            "customers",
            "--left",
            &customer,
            "--take",
            "right",
            "--dry-run",
            "--json",
        ],
    );
    let change = &counts(&dry, "customers", "right_to_left")["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "update")
        .cloned()
        .unwrap_or_else(|| panic!("no update listed: {dry}"));
    assert_eq!(
        change["fields"],
        json!([{ "column": "phoneNumber", "before": "\"+1 555 0199\"", "after": "\"+33 1 00 00 00 00\"" }]),
        "{change}"
    );
    let still = row_of(&env, false, "customers", "id", &customer).unwrap();
    assert_eq!(still["phoneNumber"], "+1 555 0199");
    assert_eq!(errors(&env).len(), 2);

    // One command settles it: both sides hold Dataverse's value, nothing is left failing.
    let done = json_of(
        &env,
        &[
            "resolve",
            "customers",
            "--left",
            &customer,
            "--take",
            "right",
            "--json",
        ],
    );
    let pass = counts(&done, "customers", "right_to_left");
    assert_eq!(n(&pass, "modified"), 1);
    // It lists what it wrote, field by field, once the write went through.
    let kinds: Vec<&str> = pass["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["conflict", "update"], "{pass}");
    let c = row_of(&env, false, "customers", "id", &customer).unwrap();
    let a = row_of(&env, true, "accounts", "accountid", &account).unwrap();
    assert_eq!(c["phoneNumber"], "+33 1 00 00 00 00");
    assert_eq!(a["telephone1"], "+33 1 00 00 00 00");
    assert!(errors(&env).is_empty());

    // Settled, the pair is not failing: taking a side of it again is refused.
    let again = env.syncmap(&[
        "resolve",
        "customers",
        "--left",
        &customer,
        "--take",
        "left",
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not failing"));

    // The next modified-only run finds the pair in step, and so does a full one.
    assert_quiet(&env.run(&["--mode", "modified", "--table", "customers"]));
    assert_quiet(&env.run(&["--mode", "full", "--table", "customers"]));

    // It is in the run history: a run of its own, its write logged with why, and an event.
    // (The refused one is in the history too, as a failed run.)
    let runs = |status: &str| {
        env.state_count(&format!(
            "SELECT COUNT(*) FROM runs WHERE mode = 'resolve' AND status = '{status}'"
        ))
    };
    assert_eq!((runs("succeeded"), runs("failed")), (1, 1));
    let logged = env.state_count(
        "SELECT COUNT(*) FROM run_writes WHERE action = 'modified' AND reason LIKE 'a conflict settled by hand%'",
    );
    assert_eq!(logged, 1);
    assert_eq!(
        env.state_count("SELECT COUNT(*) FROM events WHERE kind = 'resolved'"),
        1
    );
}

#[test]
fn a_deleted_partner_is_restored_deleted_or_uncoupled_by_hand() {
    let env = Env::start(Seed::Demo, |_| {});
    let pairs = synced_customers(&env, 3);
    for (_, account) in &pairs {
        env.delete(true, "accounts", account);
    }
    assert!(!customers_run(&env));
    let failed = errors(&env);
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(
        failed.iter().all(|f| f["kind"] == "partner_deleted"),
        "{failed:?}"
    );

    // Taking a side is refused where a row of the pair is gone, with what to do instead.
    let (restored, deleted, uncoupled) = (&pairs[0].0, &pairs[1].0, &pairs[2].0);
    let out = env.syncmap(&["resolve", "customers", "--left", restored, "--take", "left"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--restore|--delete|--uncouple"), "{err}");

    let names_before = multiset(env.rows(true, "accounts").iter().map(|a| text(a, "name")));
    let customer = row_of(&env, false, "customers", "id", restored).unwrap();
    // A dry run shows the account it would create, and creates nothing.
    let dry = json_of(
        &env,
        &[
            "resolve",
            "customers",
            "--left",
            restored,
            "--restore",
            "--dry-run",
            "--json",
        ],
    );
    let listed = &counts(&dry, "customers", "left_to_right")["changes"][0];
    assert_eq!(
        (listed["kind"].as_str(), listed["source_key"].as_str()),
        (Some("insert"), Some(restored.as_str()))
    );
    let unchanged = multiset(env.rows(true, "accounts").iter().map(|a| text(a, "name")));
    assert_eq!(unchanged, names_before);
    assert_eq!(errors(&env).len(), 3);
    json_of(
        &env,
        &[
            "resolve",
            "customers",
            "--left",
            restored,
            "--restore",
            "--json",
        ],
    );
    json_of(
        &env,
        &[
            "resolve",
            "customers",
            "--left",
            deleted,
            "--delete",
            "--json",
        ],
    );
    json_of(
        &env,
        &[
            "resolve",
            "customers",
            "--left",
            uncoupled,
            "--uncouple",
            "--json",
        ],
    );

    // Restored: exactly one new account of the customer's name, coupled.
    let names_after = multiset(env.rows(true, "accounts").iter().map(|a| text(a, "name")));
    let mut expected = names_before.clone();
    *expected.entry(text(&customer, "displayName")).or_default() += 1;
    assert_eq!(names_after, expected);
    // Deleted: the customer is gone too. Uncoupled: the customer stays, coupled to nothing.
    assert!(row_of(&env, false, "customers", "id", deleted).is_none());
    assert!(row_of(&env, false, "customers", "id", uncoupled).is_some());
    let coupled = |key: &str| {
        env.state_count(&format!(
            "SELECT COUNT(*) FROM couplings WHERE mapping = 'customers' AND left_key = '{key}'"
        ))
    };
    assert_eq!(
        (coupled(restored), coupled(deleted), coupled(uncoupled)),
        (1, 0, 0)
    );
    assert!(errors(&env).is_empty());
    assert_quiet(&env.run(&["--mode", "modified", "--table", "customers"]));
}

#[test]
fn a_pair_whose_rows_are_both_gone_is_uncoupled_by_hand() {
    let env = Env::start(Seed::Demo, |_| {});
    let (customer, account) = synced_customers(&env, 1).remove(0);
    env.delete(true, "accounts", &account);
    customers_run(&env);
    assert_eq!(errors(&env).len(), 1);
    env.delete(false, "customers", &customer);
    // Nothing can be restored from a record that is gone too; uncoupling forgets the pair.
    let out = env.syncmap(&["resolve", "customers", "--left", &customer, "--restore"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`--uncouple` forgets it"));
    let done = json_of(
        &env,
        &[
            "resolve",
            "customers",
            "--left",
            &customer,
            "--uncouple",
            "--json",
        ],
    );
    assert_eq!(
        n(&counts(&done, "customers", "left_to_right"), "uncoupled"),
        1,
        "{done}"
    );
    let coupled = env.state_count(&format!(
        "SELECT COUNT(*) FROM couplings WHERE mapping = 'customers' AND left_key = '{customer}'"
    ));
    assert_eq!(coupled, 0);
    assert!(errors(&env).is_empty());
    assert_quiet(&env.run(&["--mode", "modified", "--table", "customers"]));
}

#[test]
fn resolve_all_settles_only_the_conflicts_in_the_fields_named() {
    let env = Env::start(Seed::Demo, |_| {});
    let pairs = synced_customers(&env, 2);
    let (phone, city) = (&pairs[0], &pairs[1]);
    env.patch(
        false,
        "customers",
        &phone.0,
        json!({ "phoneNumber": "+1 555 0101" }),
    );
    env.patch(
        true,
        "accounts",
        &phone.1,
        json!({ "telephone1": "+1 555 0202" }),
    );
    env.patch(false, "customers", &city.0, json!({ "city": "Redmond" }));
    env.patch(
        true,
        "accounts",
        &city.1,
        json!({ "address1_city": "Bellevue" }),
    );
    customers_run(&env);
    assert_eq!(errors(&env).len(), 4);

    // A pair picked by the fields its failure named, where another field differs since, is
    // left as it was: the person did not choose for that field.
    env.patch(
        true,
        "accounts",
        &city.1,
        json!({ "telephone1": "+1 555 0303" }),
    );
    let out = env.syncmap(&[
        "resolve",
        "customers",
        "--all",
        "--take",
        "left",
        "--field",
        "city",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a pair left as it was fails the run"
    );
    let left_alone: Json = serde_json::from_slice(&out.stdout).unwrap();
    let pass = counts(&left_alone, "customers", "left_to_right");
    assert_eq!(
        (n(&pass, "failed"), n(&pass, "modified")),
        (1, 0),
        "{left_alone}"
    );
    let why = text(&pass["errors"][0], "message");
    assert!(why.starts_with("left as it was: "), "{why}");
    let a = row_of(&env, true, "accounts", "accountid", &city.1).unwrap();
    assert_eq!(
        (text(&a, "address1_city"), text(&a, "telephone1")),
        ("Bellevue".into(), "+1 555 0303".into())
    );
    assert_eq!(errors(&env).len(), 4);

    let done = json_of(
        &env,
        &[
            "resolve",
            "customers",
            "--all",
            "--take",
            "left",
            "--field",
            "telephone1",
            "--json",
        ],
    );
    assert_eq!(
        n(&counts(&done, "customers", "left_to_right"), "modified"),
        1,
        "{done}"
    );
    let a = row_of(&env, true, "accounts", "accountid", &phone.1).unwrap();
    assert_eq!(a["telephone1"], "+1 555 0101");
    // The city conflict is left for a person: both directions still fail, values untouched.
    let left: Vec<Json> = errors(&env);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left
        .iter()
        .all(|f| f["differences"][0]["left_field"] == "city"));
    let a = row_of(&env, true, "accounts", "accountid", &city.1).unwrap();
    assert_eq!(a["address1_city"], "Bellevue");

    // Without a field named, `--all` takes the rest.
    json_of(
        &env,
        &["resolve", "customers", "--all", "--take", "left", "--json"],
    );
    assert!(errors(&env).is_empty());
    let a = row_of(&env, true, "accounts", "accountid", &city.1).unwrap();
    assert_eq!(a["address1_city"], "Redmond");
    assert_quiet(&env.run(&["--mode", "modified", "--table", "customers"]));
}

#[test]
fn per_field_rules_merge_a_change_on_each_side_with_both_kept() {
    let env = Env::start(Seed::Demo, |_| {});
    // The standard mappings, with the ERP winning the credit limit (made two-way) and the CRM
    // the phone number.
    let mut files: Vec<(String, String)> = Vec::new();
    for e in std::fs::read_dir(env.maps()).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".map") && name != "systems.map" {
            files.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    for (name, text) in &mut files {
        if name == "customers.map" {
            let before = text.clone();
            *text = text
                .replace(
                    "creditLimit       -> creditlimit",
                    "creditLimit      <-> creditlimit [on conflict: prefer bc]",
                )
                .replace(
                    "phoneNumber      <-> telephone1 [truncate]",
                    "phoneNumber      <-> telephone1 [truncate, on conflict: prefer dv]",
                );
            assert_ne!(*text, before);
        }
    }
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let plan = env.project("per-field", &borrowed);
    env.run_with(&plan, &["--mode", "full"]);
    let (customer, account) = {
        let accounts = env.rows(true, "accounts");
        let c = env
            .rows(false, "customers")
            .into_iter()
            .find(|c| c["blocked"] == " ")
            .unwrap();
        let a = accounts
            .into_iter()
            .find(|a| a["name"] == c["displayName"])
            .unwrap();
        (text(&c, "id"), text(&a, "accountid"))
    };
    env.patch(
        false,
        "customers",
        &customer,
        json!({ "creditLimit": 12345.67 }),
    );
    env.patch(
        true,
        "accounts",
        &account,
        json!({ "telephone1": "+1 555 0777" }),
    );
    // The credit limit and the phone number, the same on both sides.
    let both_hold = |credit: &str, phone: &str| {
        let c = row_of(&env, false, "customers", "id", &customer).unwrap();
        let a = row_of(&env, true, "accounts", "accountid", &account).unwrap();
        let expected = (credit.to_string(), json!(phone));
        assert_eq!(
            (c["creditLimit"].to_string(), c["phoneNumber"].clone()),
            expected
        );
        assert_eq!(
            (a["creditlimit"].to_string(), a["telephone1"].clone()),
            expected
        );
    };
    let merged = env.run_with(&plan, &["--mode", "modified", "--table", "customers"]);
    let (ltr, rtl) = (
        counts(&merged, "customers", "left_to_right"),
        counts(&merged, "customers", "right_to_left"),
    );
    assert_eq!(n(&ltr, "failed") + n(&rtl, "failed"), 0, "{merged}");
    // Each field changed on one side only: a merge, not a conflict.
    assert_eq!(n(&ltr, "conflicts") + n(&rtl, "conflicts"), 0, "{merged}");
    assert_eq!(ltr["changes"][0]["kind"], "merge", "{merged}");
    both_hold("12345.67", "+1 555 0777");
    // Merged, the pair is in step.
    assert_quiet(&env.run_with(&plan, &["--mode", "modified", "--table", "customers"]));

    // Both sides change both fields: each field's own rule decides it (the table's rule,
    // `fail`, would fail the record).
    env.patch(
        false,
        "customers",
        &customer,
        json!({ "creditLimit": 1000, "phoneNumber": "+1 555 0001" }),
    );
    env.patch(
        true,
        "accounts",
        &account,
        json!({ "creditlimit": 2000, "telephone1": "+1 555 0002" }),
    );
    let decided = env.run_with(&plan, &["--mode", "modified", "--table", "customers"]);
    let failed: u64 = ["left_to_right", "right_to_left"]
        .iter()
        .map(|d| n(&counts(&decided, "customers", d), "failed"))
        .sum();
    assert_eq!(failed, 0, "{decided}");
    both_hold("1000", "+1 555 0002");
    assert_quiet(&env.run_with(&plan, &["--mode", "modified", "--table", "customers"]));
}
