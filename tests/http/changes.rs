//! Reviewed change sets over both sandboxes: a dry run writes every write it would make
//! (`run --dry-run -o`), `show` prints it, and `apply` makes exactly those writes, refusing a
//! record changed on either side after the review and writing nothing twice.

use super::support::wire::multiset;
use super::*;

/// Two open customers with their accounts, after a full sync.
fn two_pairs(env: &Env) -> [(String, String); 2] {
    synced_customers(env, 2).try_into().unwrap()
}

fn account(env: &Env, key: &str) -> Json {
    env.rows(true, "accounts")
        .into_iter()
        .find(|a| a["accountid"] == key)
        .unwrap()
}

#[test]
fn apply_makes_the_reviewed_writes_and_refuses_a_record_changed_since() {
    let env = Env::start(Seed::Demo, |_| {});
    let [(c1, a1), (c2, a2)] = two_pairs(&env);
    env.patch(
        false,
        "customers",
        &c1,
        json!({ "phoneNumber": "+1 555 0111" }),
    );
    env.patch(
        false,
        "customers",
        &c2,
        json!({ "phoneNumber": "+1 555 0222" }),
    );
    let set_path = env.path().join("changes.json");
    let set_arg = set_path.to_str().unwrap();
    let (code, dry) = json_out(
        &env,
        &[
            "run",
            "--dry-run",
            "--json",
            "--mode",
            "modified",
            "--table",
            "customers",
            "-o",
            set_arg,
        ],
    );
    assert_eq!(code, Some(0), "{dry}");

    // The change set holds the two updates, each with the partner's value before and after.
    let set: Json = serde_json::from_str(&std::fs::read_to_string(&set_path).unwrap()).unwrap();
    let writes = set["writes"].as_array().unwrap();
    let mut seen: Vec<(String, String, Json)> = writes
        .iter()
        .map(|w| (text(w, "action"), text(w, "dest_key"), w["fields"].clone()))
        .collect();
    seen.sort_by(|a, b| a.1.cmp(&b.1));
    let before = |a: &str| account(&env, a)["telephone1"].clone();
    let mut expected = vec![
        (
            "update".to_string(),
            a1.clone(),
            json!([{ "column": "telephone1", "before": before(&a1), "after": "+1 555 0111" }]),
        ),
        (
            "update".to_string(),
            a2.clone(),
            json!([{ "column": "telephone1", "before": before(&a2), "after": "+1 555 0222" }]),
        ),
    ];
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(seen, expected);
    // Nothing was written by the dry run.
    assert_ne!(account(&env, &a1)["telephone1"], "+1 555 0111");

    // `show` prints it for review.
    let shown = env.syncmap(&["show", set_arg]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("2 writes"), "{shown}");
    assert!(
        shown.contains("telephone1:") && shown.contains("→ \"+1 555 0111\""),
        "{shown}"
    );

    // It says which systems it was reviewed against, and is refused against others.
    let bc_url = set["targets"]["bc"].as_str().unwrap().to_string();
    assert!(
        bc_url.contains("/api/v2.0") && bc_url.contains("(company "),
        "{bc_url}"
    );
    assert!(shown.contains(&bc_url), "{shown}");
    let elsewhere_path = env.path().join("elsewhere.json");
    let mut elsewhere = set.clone();
    elsewhere["targets"]["bc"] = json!("https://production.example/api/v2.0 (company CRONUS)");
    std::fs::write(&elsewhere_path, elsewhere.to_string()).unwrap();
    let out = env.syncmap(&["apply", elsewhere_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(
        why.contains("reviewed with system `bc` at https://production.example"),
        "{why}"
    );
    assert_ne!(
        account(&env, &a1)["telephone1"],
        "+1 555 0111",
        "nothing written"
    );

    // After the review, someone changes the second account: its write is refused.
    env.patch(
        true,
        "accounts",
        &a2,
        json!({ "websiteurl": "https://changed.example" }),
    );
    let (code, applied) = json_out(&env, &["apply", set_arg, "--json"]);
    assert_eq!(code, Some(1), "{applied}");
    let pass = counts(&applied, "customers", "left_to_right");
    assert_eq!((n(&pass, "modified"), n(&pass, "failed")), (1, 1), "{pass}");
    let refused = &pass["errors"][0];
    assert_eq!(text(refused, "source_key"), c2);
    assert!(
        text(refused, "message").contains("partner row changed since the review"),
        "{refused}"
    );
    assert_eq!(account(&env, &a1)["telephone1"], "+1 555 0111");
    let a2_now = account(&env, &a2);
    assert_ne!(a2_now["telephone1"], "+1 555 0222");
    assert_eq!(a2_now["websiteurl"], "https://changed.example");

    // Applied again, it writes nothing: the row it wrote moved since the review.
    let (code, again) = json_out(&env, &["apply", set_arg, "--json"]);
    assert_eq!(code, Some(1));
    let pass = counts(&again, "customers", "left_to_right");
    assert_eq!((n(&pass, "modified"), n(&pass, "failed")), (0, 2), "{pass}");
    // It is a run of its own in the history, its write logged.
    assert_eq!(
        env.state_count("SELECT COUNT(*) FROM runs WHERE mode = 'apply'"),
        2
    );
    let logged = env.state_count(
        "SELECT COUNT(*) FROM run_writes WHERE action = 'modified' \
         AND run = (SELECT MIN(id) FROM runs WHERE mode = 'apply')",
    );
    assert_eq!(logged, 1);
}

#[test]
fn a_record_changed_at_its_source_after_the_review_is_refused() {
    let env = Env::start(Seed::Demo, |_| {});
    let [(c1, a1), _] = two_pairs(&env);
    let phone_before = account(&env, &a1)["telephone1"].clone();
    env.patch(
        false,
        "customers",
        &c1,
        json!({ "phoneNumber": "+1 555 0333" }),
    );
    let set_path = review(&env, "modified", "customers");
    let set_arg = set_path.to_str().unwrap();
    env.patch(
        false,
        "customers",
        &c1,
        json!({ "phoneNumber": "+1 555 0444" }),
    );
    let (code, applied) = json_out(&env, &["apply", set_arg, "--json"]);
    assert_eq!(code, Some(1), "{applied}");
    let pass = counts(&applied, "customers", "left_to_right");
    assert_eq!((n(&pass, "modified"), n(&pass, "failed")), (0, 1), "{pass}");
    let why = text(&pass["errors"][0], "message");
    assert!(why.contains("source row changed since the review"), "{why}");
    assert_eq!(account(&env, &a1)["telephone1"], phone_before);
    // The next run syncs the record's latest value as usual.
    env.run(&["--mode", "modified", "--table", "customers"]);
    assert_eq!(account(&env, &a1)["telephone1"], "+1 555 0444");
}

#[test]
fn an_applied_insert_creates_its_row_once() {
    let env = Env::start(Seed::Demo, |_| {});
    env.run(&["--mode", "full"]);
    let new = env.create_many(
        Service::BusinessCentral,
        "customers",
        vec![json!({ "displayName": "Reviewed Traders", "number": "C99001" })],
    );
    let key = text(&new[0], "id");
    let set_path = review(&env, "full", "customers");
    let set_arg = set_path.to_str().unwrap();
    let set: Json = serde_json::from_str(&std::fs::read_to_string(&set_path).unwrap()).unwrap();
    let inserts: Vec<&Json> = set["writes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["action"] == "insert")
        .collect();
    assert_eq!(inserts.len(), 1, "{set}");
    assert_eq!(text(inserts[0], "source_key"), key);

    let names = || multiset(env.rows(true, "accounts").iter().map(|a| text(a, "name")));
    let before = names();
    let (code, applied) = json_out(&env, &["apply", set_arg, "--json"]);
    assert_eq!(code, Some(0), "{applied}");
    let mut expected = before.clone();
    *expected.entry("Reviewed Traders".into()).or_default() += 1;
    assert_eq!(names(), expected);

    // Applied again: the record is coupled now, so nothing is created a second time.
    let (code, again) = json_out(&env, &["apply", set_arg, "--json"]);
    assert_eq!(code, Some(1), "{again}");
    assert_eq!(names(), expected);
    // The next run finds the new pair in step.
    let after = env.run(&["--mode", "modified", "--table", "customers"]);
    let pass = counts(&after, "customers", "left_to_right");
    assert_eq!(n(&pass, "inserted") + n(&pass, "modified"), 0, "{pass}");
}

#[test]
fn a_change_set_of_another_plan_is_refused() {
    let env = Env::start(Seed::Demo, |_| {});
    env.run(&["--mode", "full"]);
    let set_path = env.path().join("changes.json");
    let set_arg = set_path.to_str().unwrap();
    env.syncmap(&["run", "--dry-run", "--mode", "full", "-o", set_arg]);
    let text_of = std::fs::read_to_string(&set_path).unwrap();
    let mut set: Json = serde_json::from_str(&text_of).unwrap();
    set["plan_digest"] = json!("0000");
    std::fs::write(&set_path, set.to_string()).unwrap();
    let out = env.syncmap(&["apply", set_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another plan"));
}
