//! Option mappings over both sandboxes with the standard mappings: Business Central's payment
//! terms and shipment methods become options of the account's choice columns through
//! Dataverse's metadata API (read back here as any Web API client reads them, not with the
//! connector), customers carry them both ways, and an insert whose answer was lost adds its
//! option once.

use std::collections::BTreeMap;

use super::support::wire::multiset;
use super::*;

/// `(value, label)` of each option of an account's choice column.
fn options(env: &Env, column: &str) -> Vec<(i64, String)> {
    env.rt
        .block_on(env.person().options("account", column))
        .unwrap()
}

/// The label of each option value of an account's choice column.
fn labels(env: &Env, column: &str) -> BTreeMap<i64, String> {
    options(env, column).into_iter().collect()
}

/// The code of each row of a Business Central code table, by id.
fn codes(env: &Env, table: &str) -> BTreeMap<String, String> {
    env.rows(false, table)
        .iter()
        .map(|r| (text(r, "id"), text(r, "code")))
        .collect()
}

/// For every open customer, the code of its term or method (`bc_column` into `table`) and
/// the label of the option its account holds in `dv_column`: they must agree.
fn assert_carried(env: &Env, bc_column: &str, table: &str, dv_column: &str) {
    let codes = codes(env, table);
    let labels = labels(env, dv_column);
    let accounts = env.rows(true, "accounts");
    let mut checked = 0;
    for c in env
        .rows(false, "customers")
        .iter()
        .filter(|c| c["blocked"] == " ")
    {
        let account = accounts
            .iter()
            .find(|a| a["accountnumber"] == c["number"])
            .unwrap_or_else(|| panic!("no account for {c}"));
        // Business Central's empty GUID refers to nothing.
        let code = c[bc_column]
            .as_str()
            .filter(|id| *id != "00000000-0000-0000-0000-000000000000")
            .map(|id| codes[id].clone());
        let label = account[dv_column].as_i64().map(|v| labels[&v].clone());
        assert_eq!(label, code, "{} of customer {}", dv_column, c["number"]);
        checked += usize::from(code.is_some());
    }
    assert!(checked >= 3, "too few customers carry a {bc_column}");
}

#[test]
fn payment_terms_created_in_business_central_appear_as_choice_values() {
    let env = Env::start(Seed::Demo, |_| {});
    let before = labels(&env, "paymenttermscode");
    let report = env.run(&["--mode", "full"]);
    for (mapping, made) in [("payment_terms", 5), ("shipment_methods", 3)] {
        let c = counts(&report, mapping, "left_to_right");
        assert_eq!(
            (c["inserted"].as_u64(), c["failed"].as_u64()),
            (Some(made), Some(0)),
            "{c}"
        );
    }
    // Every code once, beside the options the column had; Dataverse chose the new values.
    let after = options(&env, "paymenttermscode");
    let expected = before
        .values()
        .cloned()
        .chain(codes(&env, "paymentTerms").into_values());
    assert_eq!(
        multiset(after.iter().map(|(_, l)| l.clone())),
        multiset(expected)
    );
    assert!(after
        .iter()
        .filter(|(v, _)| !before.contains_key(v))
        .all(|(v, _)| *v >= 100_000_000));
    // Published once per written batch of each choice, so apps show the options.
    let routes = env.sandbox().control().stats().dv.routes;
    assert_eq!(routes.get("POST PublishXml"), Some(&2), "{routes:?}");
    assert_carried(&env, "paymentTermsId", "paymentTerms", "paymenttermscode");
    assert_carried(
        &env,
        "shipmentMethodId",
        "shipmentMethods",
        "address1_freighttermscode",
    );

    // A term made in Business Central and given to a customer: one option more, on its account.
    let person = env.person();
    let made = env
        .rt
        .block_on(person.create(
            Service::BusinessCentral,
            "paymentTerms",
            json!({"code": "60 DAYS", "displayName": "Net 60 days", "dueDateCalculation": "60D"}),
        ))
        .unwrap();
    let customers = env.rows(false, "customers");
    let open: Vec<&Json> = customers.iter().filter(|c| c["blocked"] == " ").collect();
    env.patch(
        false,
        "customers",
        &text(open[0], "id"),
        json!({"paymentTermsId": made["id"]}),
    );
    let report = env.run(&["--mode", "modified"]);
    assert_eq!(
        counts(&report, "payment_terms", "left_to_right")["inserted"],
        1,
        "{report}"
    );
    assert_eq!(counts(&report, "customers", "left_to_right")["modified"], 1);
    let sixty: Vec<(i64, String)> = options(&env, "paymenttermscode")
        .into_iter()
        .filter(|(_, l)| l == "60 DAYS")
        .collect();
    assert_eq!(sixty.len(), 1, "{sixty:?}");
    assert_carried(&env, "paymentTermsId", "paymentTerms", "paymenttermscode");

    // An account given another coupled option moves its customer to that term.
    let cm = options(&env, "paymenttermscode")
        .into_iter()
        .find(|(_, l)| l == "CM")
        .unwrap();
    let account = env
        .rows(true, "accounts")
        .into_iter()
        .find(|a| a["accountnumber"] == open[1]["number"])
        .unwrap();
    env.patch(
        true,
        "accounts",
        &text(&account, "accountid"),
        json!({"paymenttermscode": cm.0}),
    );
    let report = env.run(&["--mode", "modified"]);
    assert_eq!(counts(&report, "customers", "right_to_left")["modified"], 1);
    assert_carried(&env, "paymentTermsId", "paymentTerms", "paymenttermscode");

    // Nothing is left to write: a last run changes nothing anywhere.
    let report = env.run(&["--mode", "modified"]);
    for p in report["tables"].as_array().unwrap() {
        for key in ["inserted", "modified", "deleted", "failed", "conflicts"] {
            assert_eq!(p[key], 0, "{key} in {p}");
        }
    }
}

#[test]
fn a_lost_answer_to_insert_option_value_adds_the_option_once() {
    let env = Env::start(Seed::Demo, |_| {});
    env.run(&["--mode", "full"]);
    env.rt
        .block_on(env.person().create(
            Service::BusinessCentral,
            "paymentTerms",
            json!({"code": "90 DAYS", "displayName": "Net 90 days"}),
        ))
        .unwrap();
    let control = env.sandbox().control();
    control.set_faults(Faults {
        lost_answer_rate: 1.0,
        ..Faults::default()
    });
    // The option is added, but its answer never comes: the run looks for it by the label it
    // wrote, finds it among the options no code is coupled to, and couples it.
    let out = env.syncmap(&[
        "run",
        "--json",
        "--mode",
        "modified",
        "--table",
        "payment_terms",
    ]);
    control.set_faults(Faults::default());
    assert_eq!(
        control.stats().dv.answers_lost,
        1,
        "the fault hit the insert"
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    let c = counts(&report, "payment_terms", "left_to_right");
    assert_eq!(
        (c["inserted"].as_u64(), c["failed"].as_u64()),
        (Some(1), Some(0)),
        "{c}"
    );
    let ninety = |env: &Env| {
        options(env, "paymenttermscode")
            .into_iter()
            .filter(|(_, l)| l == "90 DAYS")
            .count()
    };
    assert_eq!(ninety(&env), 1, "added once, though its answer was lost");
    assert_eq!(
        env.state_count("SELECT count(*) FROM couplings WHERE mapping = 'payment_terms'"),
        6
    );
    assert_eq!(env.state_count("SELECT count(*) FROM intents"), 0);

    // The next run has nothing left to do for it.
    let report = env.run(&["--mode", "modified", "--table", "payment_terms"]);
    let c = counts(&report, "payment_terms", "left_to_right");
    assert_eq!(
        (
            c["inserted"].as_u64(),
            c["modified"].as_u64(),
            c["failed"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{c}"
    );
    assert_eq!(ninety(&env), 1);
}

/// Someone relabels an option's description in Dataverse, as an admin would in the maker portal.
fn describe_option(env: &Env, value: i64, description: &str) {
    env.rt.block_on(async {
        let http = reqwest::Client::new();
        let token = env.token(&http, Service::Dataverse).await;
        let body = json!({
            "EntityLogicalName": "account",
            "AttributeLogicalName": "paymenttermscode",
            "Value": value,
            "Description": {"LocalizedLabels": [{"Label": description, "LanguageCode": 1033}]},
            "MergeLabels": true,
        });
        let r = http
            .post(format!("{}/UpdateOptionValue", env.sandbox().dv_url()))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    });
}

#[test]
fn a_reviewed_change_set_of_options_refuses_an_option_changed_since() {
    let env = Env::start(Seed::Demo, |_| {});
    env.run(&["--mode", "full"]);
    let cm_term = env
        .rows(false, "paymentTerms")
        .into_iter()
        .find(|t| t["code"] == "CM")
        .unwrap();
    env.patch(
        false,
        "paymentTerms",
        &text(&cm_term, "id"),
        json!({"displayName": "Current month, end"}),
    );
    env.rt
        .block_on(env.person().create(
            Service::BusinessCentral,
            "paymentTerms",
            json!({"code": "45 DAYS", "displayName": "Net 45 days"}),
        ))
        .unwrap();
    let set_path = review(&env, "modified", "payment_terms");
    let set_arg = set_path.to_str().unwrap();
    let before = options(&env, "paymenttermscode");
    let cm = before.iter().find(|(_, l)| l == "CM").unwrap().0;
    describe_option(&env, cm, "Edited in Dataverse");

    // The insert goes through; the update of the option edited since the review is refused.
    let (code, applied) = json_out(&env, &["apply", set_arg, "--json"]);
    assert_eq!(code, Some(1), "{applied}");
    let pass = counts(&applied, "payment_terms", "left_to_right");
    assert_eq!(
        (
            n(&pass, "inserted"),
            n(&pass, "modified"),
            n(&pass, "failed")
        ),
        (1, 0, 1),
        "{pass}"
    );
    let why = text(&pass["errors"][0], "message");
    assert!(
        why.contains("partner row changed since the review"),
        "{why}"
    );
    let after = options(&env, "paymenttermscode");
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after.iter().filter(|(_, l)| l == "45 DAYS").count(), 1);
    // Applying the set again writes nothing twice.
    let (_, again) = json_out(&env, &["apply", set_arg, "--json"]);
    let pass = counts(&again, "payment_terms", "left_to_right");
    assert_eq!(n(&pass, "inserted"), 0, "{pass}");
    assert_eq!(options(&env, "paymenttermscode").len(), after.len());
}
