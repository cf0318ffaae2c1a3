//! Spending requests well without losing or doubling a record: reads of keys and versions
//! first, and batches decided while the ones before are written.

use std::time::Duration;

use serde_json::{json, Value as Json};
use syncmap::sandbox::person::Service;
use syncmap::sandbox::{Faults, Seed};

use crate::{add_customers, counts, n, text, Env};

#[test]
fn a_pass_after_many_writes_reads_versions_first_and_the_rest_whole() {
    let profile = "\n[run]\npage_size = 1000\nversions_first_from = 5\n";
    let env = Env::start_with_profile(Seed::Empty, |_| {}, profile);
    add_customers(&env, 12);
    env.run(&["--mode", "full", "--table", "customers"]);
    let account_of = |name: &str| {
        let accounts = env.rows(true, "accounts");
        let a = accounts.iter().find(|a| text(a, "name") == name).unwrap();
        text(a, "accountid")
    };
    let last_account = account_of("Bulk customer 0011");
    env.rt.block_on(async {
        let person = env.person();
        // Ten of twelve customers change in Business Central: the left-to-right pass writes
        // ten accounts, so the pass back reads versions first.
        for c in person
            .rows(Service::BusinessCentral, "customers")
            .await
            .unwrap()
        {
            let name = text(&c, "displayName");
            let i: usize = name["Bulk customer ".len()..].parse().unwrap();
            if i < 10 {
                let phone = json!({ "phoneNumber": format!("+1 555 01{i:02}") });
                person
                    .patch(
                        Service::BusinessCentral,
                        "customers",
                        &text(&c, "id"),
                        phone,
                    )
                    .await
                    .unwrap();
            }
        }
        // Meanwhile in Dataverse: one account of a customer that did not change is changed,
        // and three accounts are made there: those are among the rows read whole.
        let city = json!({ "address1_city": "Lyon" });
        person
            .patch(Service::Dataverse, "accounts", &last_account, city)
            .await
            .unwrap();
        for j in 0..3 {
            let body = json!({
                "name": format!("Direct account {j}"),
                "telephone1": format!("+1 555 090{j}"),
                "customertypecode": 3,
            });
            person
                .create(Service::Dataverse, "accounts", body)
                .await
                .unwrap();
        }
    });
    env.sandbox().control().reset_stats();
    let report = env.run(&["--mode", "full", "--table", "customers"]);
    let (ltr, rtl) = (
        counts(&report, "customers", "left_to_right"),
        counts(&report, "customers", "right_to_left"),
    );
    // Ten changed customers, and the numbers Business Central gave the three customers made
    // from the new accounts, brought back to them.
    assert_eq!(n(&ltr, "modified"), 13, "{report}");
    assert_eq!(
        (
            n(&rtl, "inserted"),
            n(&rtl, "modified"),
            n(&rtl, "unchanged")
        ),
        (3, 1, 11),
        "{report}"
    );
    // Accounts were asked for four times: the partners of the changed customers by key, the
    // pass back's keys and versions, the five rows it needed whole (three new accounts, one
    // changed, one whose pair this run did not sync) by key, and the three new accounts again
    // as their numbers were brought back.
    let routes = env.sandbox().control().stats().dv.routes;
    assert_eq!(routes.get("GET accounts"), Some(&4), "{routes:?}");
    // Both sides hold the same fifteen records, each once.
    let phone = |i: usize| {
        if i < 10 {
            format!("+1 555 01{i:02}")
        } else {
            String::new()
        }
    };
    let mut expected: Vec<(String, String, String)> = (0..12)
        .map(|i| {
            let city = if i == 11 { "Lyon" } else { "" };
            (format!("Bulk customer {i:04}"), phone(i), city.to_string())
        })
        .chain((0..3).map(|j| {
            (
                format!("Direct account {j}"),
                format!("+1 555 090{j}"),
                String::new(),
            )
        }))
        .collect();
    expected.sort();
    let side = |dv: bool, fields: [&str; 3]| {
        let mut rows: Vec<(String, String, String)> = env
            .rows(dv, if dv { "accounts" } else { "customers" })
            .iter()
            .map(|r| (text(r, fields[0]), text(r, fields[1]), text(r, fields[2])))
            .filter(|(name, _, _)| name.starts_with("Bulk") || name.starts_with("Direct"))
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(
        side(false, ["displayName", "phoneNumber", "city"]),
        expected
    );
    assert_eq!(
        side(true, ["name", "telephone1", "address1_city"]),
        expected
    );
}

#[test]
fn batches_written_while_the_next_is_decided_lose_and_double_nothing() {
    let env = Env::start_with_profile(Seed::Empty, |_| {}, "\n[run]\nbatch_size = 20\n");
    add_customers(&env, 200);
    let control = env.sandbox().control();
    control.reset_stats();
    control.set_faults(Faults {
        lost_answer_rate: 0.2,
        delay: Duration::from_millis(3),
        seed: 11,
        ..Faults::default()
    });
    // A lost answer the run cannot settle at once fails its record for the run; the next
    // run retries it.
    let clean = (0..6).any(|_| {
        let out = env.syncmap(&["run", "--json", "--mode", "full", "--table", "customers"]);
        let report: Json = serde_json::from_slice(&out.stdout).unwrap_or_default();
        out.status.success() && n(&counts(&report, "customers", "left_to_right"), "failed") == 0
    });
    assert!(clean, "no run got through the lost answers");
    let stats = control.stats();
    control.set_faults(Faults::default());
    assert!(stats.dv.answers_lost > 0, "{stats:?}");
    // Ten batches of twenty, a `$batch` each: Dataverse was writing two at once.
    assert!(stats.dv.most_writes_at_once >= 2, "{stats:?}");
    let mut names: Vec<String> = env
        .rows(true, "accounts")
        .iter()
        .map(|a| text(a, "name"))
        .filter(|name| name.starts_with("Bulk customer"))
        .collect();
    names.sort();
    let expected: Vec<String> = (0..200).map(|i| format!("Bulk customer {i:04}")).collect();
    assert_eq!(names, expected, "every customer is exactly one account");
}
