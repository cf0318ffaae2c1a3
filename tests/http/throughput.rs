//! Spending requests well without losing or doubling a record: reads of keys and versions
//! first, and batches decided while the ones before are written.

use std::cell::Cell;
use std::time::Duration;

use serde_json::{json, Value as Json};
use syncmap::runtime::engine::{Engine, Mode, Options, RunRequest};
use syncmap::runtime::systems::{AnyConnector, Systems};
use syncmap::sandbox::person::Service;
use syncmap::sandbox::{Faults, Seed};
use syncmap::state::Store;

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

#[test]
fn an_account_changed_between_the_passes_is_read_whole_and_synced_back_once() {
    // The pass back judges the pairs the first pass synced by the versions it left them at,
    // in memory: an account someone changes between the passes must still read as changed.
    let env = Env::start(Seed::Empty, |_| {});
    add_customers(&env, 12);
    let plan = env.plan();
    let mut systems = Systems::default();
    for alias in ["bc", "dv"] {
        let (c, _) = crate::connector(&env, alias);
        systems
            .0
            .insert(alias.into(), AnyConnector::OData(Box::new(c)));
    }
    let dir = tempfile::tempdir().unwrap();
    let state = format!("sqlite://{}", dir.path().join("state.db").display());
    let store = Store::open(&state).unwrap();
    let changed = Cell::new(false);
    let hook = crate::support::OnPass(|mapping: &str, direction: &str| {
        if mapping != "customers" || direction != "right_to_left" || changed.get() {
            return;
        }
        // The engine's thread waits while someone changes an account it just made.
        std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let person = env.person();
                    let accounts = person.rows(Service::Dataverse, "accounts").await.unwrap();
                    let a = accounts
                        .iter()
                        .find(|a| text(a, "name") == "Bulk customer 0005")
                        .unwrap();
                    let phone = json!({ "telephone1": "+1 555 0199" });
                    let key = text(a, "accountid");
                    person
                        .patch(Service::Dataverse, "accounts", &key, phone)
                        .await
                        .unwrap();
                });
            })
            .join()
            .unwrap();
        });
        changed.set(true);
    });
    let options = Options {
        versions_first_from: 1,
        ..Options::default()
    };
    let request = RunRequest {
        tables: vec!["customers".into()],
        ..RunRequest::new(Mode::Full)
    };
    let report = env.rt.block_on(async {
        Engine::new(&plan, &systems, &store, options)
            .unwrap()
            .with_progress(&hook)
            .run(&request)
            .await
            .unwrap()
    });
    assert!(changed.get());
    let pass = |dir: &str| report.pass("customers", dir).unwrap().counts.clone();
    let (ltr, rtl) = (pass("left_to_right"), pass("right_to_left"));
    assert_eq!(ltr.inserted, 12, "{report:?}");
    assert_eq!((rtl.modified, rtl.unchanged), (1, 11), "{report:?}");
    // Each customer once on each side, the changed phone on both.
    let side = |dv: bool, name: &str, phone: &str| {
        let mut rows: Vec<(String, String)> = env
            .rows(dv, if dv { "accounts" } else { "customers" })
            .iter()
            .map(|r| (text(r, name), text(r, phone)))
            .filter(|(name, _)| name.starts_with("Bulk"))
            .collect();
        rows.sort();
        rows
    };
    let expected: Vec<(String, String)> = (0..12)
        .map(|i| {
            let phone = if i == 5 { "+1 555 0199" } else { "" };
            (format!("Bulk customer {i:04}"), phone.to_string())
        })
        .collect();
    assert_eq!(side(false, "displayName", "phoneNumber"), expected);
    assert_eq!(side(true, "name", "telephone1"), expected);
}
