//! Dataverse's change tracking (`changes = "tracking"` in the profile) over both sandboxes
//! with the standard mappings: a full sync keeps the delta link of each Dataverse source, a
//! modified-only run reads the changes since it, a deletion in Dataverse reaches the table's
//! deletion rule without the surviving record changing, an expired link falls back to a
//! modified-on read and says so, and an untracked table is read by modified-on.

use super::*;

/// Both sandboxes, with the profile asking Dataverse for its record of changes.
fn tracked(tune: impl FnOnce(&mut SandboxConfig)) -> Env {
    let env = Env::start(Seed::Demo, tune);
    let path = env.path().join("syncmap.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen(
        "[systems.dv]\n",
        "[systems.dv]\nchanges = \"tracking\"\n",
        1,
    );
    assert!(text.contains("changes = \"tracking\""));
    std::fs::write(&path, text).unwrap();
    env
}

/// The delta link kept for the customers read from Dataverse, if any.
fn customers_link(env: &Env) -> Option<String> {
    env.state()
        .query_row(
            "SELECT link FROM deltas WHERE mapping = 'customers' AND direction = 'right_to_left'",
            [],
            |r| r.get(0),
        )
        .ok()
}

/// A customer's phone number in Business Central.
fn phone(env: &Env, customer: &str) -> Json {
    env.rows(false, "customers")
        .into_iter()
        .find(|c| text(c, "id") == customer)
        .map(|c| c["phoneNumber"].clone())
        .unwrap_or(Json::Null)
}

/// An open customer and its account, after a full sync.
fn a_pair(env: &Env) -> (String, String) {
    synced_customers(env, 1).remove(0)
}

#[test]
fn changes_and_deletions_in_dataverse_come_from_its_record_of_changes() {
    let env = tracked(|_| {});
    let (customer, account) = a_pair(&env);
    let first = customers_link(&env).expect("a full sync keeps the delta link");
    assert!(first.contains("$deltatoken="), "{first}");

    // A change in Dataverse is read from the link, and a new link is kept.
    env.patch(
        true,
        "accounts",
        &account,
        json!({"telephone1": "+1 555 0777"}),
    );
    let report = env.run(&["--mode", "modified"]);
    let rtl = counts(&report, "customers", "right_to_left");
    assert_eq!(n(&rtl, "modified"), 1, "{rtl}");
    // Read from the link: the changed account, and those the sync itself wrote after the link
    // was taken (vendors' accounts, met in step), not every customer account, as a whole read
    // would.
    let customer_accounts = env
        .rows(true, "accounts")
        .iter()
        .filter(|a| a["customertypecode"] == 3)
        .count() as u64;
    assert!(
        n(&rtl, "modified") + n(&rtl, "unchanged") < customer_accounts,
        "{rtl}, of {customer_accounts} customer accounts"
    );
    assert_eq!(phone(&env, &customer), "+1 555 0777");
    let second = customers_link(&env).unwrap();
    assert_ne!(second, first);

    // A deletion in Dataverse reaches the deletion rule (`fail`) though the customer did not
    // change: the pair is failing, with what settles it.
    env.delete(true, "accounts", &account);
    let out = env.syncmap(&["run", "--json", "--mode", "modified"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, errors) = json_out(&env, &["errors", "--json"]);
    let failing: Vec<&Json> = errors
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "partner_deleted")
        .collect();
    assert_eq!(failing.len(), 1, "{errors}");
    assert_eq!(text(failing[0], "source_key"), customer, "{errors}");
}

#[test]
fn an_expired_link_is_read_by_modified_on_and_said() {
    let env = tracked(|_| {});
    let (customer, account) = a_pair(&env);
    env.sandbox().control().expire_delta_tokens().unwrap();
    env.patch(
        true,
        "accounts",
        &account,
        json!({"telephone1": "+1 555 0888"}),
    );
    let report = env.run(&["--mode", "modified"]);
    assert_eq!(
        n(&counts(&report, "customers", "right_to_left"), "modified"),
        1
    );
    let hints = report["hints"].to_string();
    assert!(
        hints.contains("could not be followed") && hints.contains("expired"),
        "{hints}"
    );
    assert_eq!(phone(&env, &customer), "+1 555 0888");
    assert_eq!(customers_link(&env), None, "the expired link is forgotten");
    // The next read starts over, whole, and keeps a link again; nothing is left to write.
    let report = env.run(&["--mode", "modified"]);
    assert_eq!(
        n(&counts(&report, "customers", "right_to_left"), "modified"),
        0
    );
    assert!(customers_link(&env).is_some_and(|l| l.contains("$deltatoken=")));
}

#[test]
fn a_table_dataverse_does_not_track_is_read_by_modified_on() {
    let env = tracked(|c| c.limits.untracked = vec!["accounts".into()]);
    let (customer, account) = a_pair(&env);
    assert_eq!(
        customers_link(&env).as_deref(),
        Some(""),
        "marked untracked"
    );
    env.patch(
        true,
        "accounts",
        &account,
        json!({"telephone1": "+1 555 0999"}),
    );
    let report = env.run(&["--mode", "modified"]);
    assert_eq!(
        n(&counts(&report, "customers", "right_to_left"), "modified"),
        1
    );
    assert_eq!(phone(&env, &customer), "+1 555 0999");
}

#[test]
fn a_link_that_reads_fewer_columns_than_the_mapping_is_not_followed() {
    let env = tracked(|_| {});
    let (customer, account) = a_pair(&env);
    // The link as an older mapping, which did not read `telephone1`, would have kept it.
    let link = customers_link(&env).unwrap();
    let narrower = link
        .replacen("telephone1,", "", 1)
        .replacen(",telephone1", "", 1);
    assert_ne!(narrower, link);
    env.state()
        .execute(
            "UPDATE deltas SET link = ?1 WHERE mapping = 'customers' AND direction = 'right_to_left'",
            [&narrower],
        )
        .unwrap();
    env.patch(
        true,
        "accounts",
        &account,
        json!({"telephone1": "+1 555 0666"}),
    );
    let report = env.run(&["--mode", "modified"]);
    let hints = report["hints"].to_string();
    assert!(hints.contains("does not read telephone1"), "{hints}");
    assert_eq!(phone(&env, &customer), "+1 555 0666");
    assert_eq!(customers_link(&env), None);
}

#[test]
fn a_whole_tracked_read_keeps_every_column_in_its_link() {
    // The reverse pass of a first full sync reads versions first from its first write on:
    // not when it keeps a delta link, whose columns every later read brings.
    let env = tracked(|_| {});
    let path = env.path().join("syncmap.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}\n[run]\nversions_first_from = 1\n")).unwrap();
    a_pair(&env);
    let link = customers_link(&env).unwrap();
    for column in ["telephone1", "address1_city", "websiteurl", "emailaddress1"] {
        assert!(link.contains(column), "{column} in {link}");
    }
}

#[test]
fn deletions_on_the_side_a_one_way_mapping_reads_are_told() {
    let env = tracked(|_| {});
    a_pair(&env);
    // Salespeople flow one way, from Dataverse's users: nothing decides for a deleted one's
    // salesperson, and the run says so.
    let coupled: String = env
        .state()
        .query_row(
            "SELECT right_key FROM couplings WHERE mapping = 'salespeople' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    env.delete(true, "systemusers", &coupled);
    let report = env.run(&["--mode", "modified"]);
    let hints = report["hints"].to_string();
    assert!(hints.contains("flows one way from it"), "{hints}");
}

#[test]
fn a_run_killed_before_its_link_is_kept_resumes_without_a_gap() {
    let env = tracked(|_| {});
    let path = env.path().join("syncmap.toml");
    let text_of = std::fs::read_to_string(&path).unwrap();
    // Small batches, so the kill lands between a batch's commit and the pass's end.
    std::fs::write(&path, format!("{text_of}\n[run]\nbatch_size = 2\n")).unwrap();
    synced_customers(&env, 1);
    let before = customers_link(&env).unwrap();
    let accounts: Vec<Json> = env
        .rows(true, "accounts")
        .into_iter()
        .filter(|a| a["customertypecode"] == 3 && a["statecode"] == 0)
        .collect();
    assert!(accounts.len() >= 6, "{}", accounts.len());
    for (i, a) in accounts.iter().enumerate() {
        let phone = format!("+1 555 2{i:03}");
        env.patch(
            true,
            "accounts",
            &text(a, "accountid"),
            json!({ "telephone1": phone }),
        );
    }
    // Killed with SIGKILL once Business Central took its first writes.
    let control = env.sandbox().control();
    let target = control.writes() + 2;
    let mut command = tokio::process::Command::from(env.syncmap_command(&[
        "run",
        "--mode",
        "modified",
        "--table",
        "customers",
    ]));
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let killed = env.rt.block_on(async {
        let mut child = command.spawn().unwrap();
        tokio::select! {
            () = control.writes_reach(target) => {
                child.kill().await.unwrap();
                true
            }
            _ = child.wait() => false,
        }
    });
    assert!(killed, "the run ended before the kill");
    assert_eq!(
        customers_link(&env).as_deref(),
        Some(before.as_str()),
        "the link is kept only at the pass's end"
    );

    // The next run reads from the same link: every change reaches Business Central, once.
    env.run(&["--mode", "modified", "--table", "customers"]);
    let phones = |dv: bool| {
        let (table, number, phone) = if dv {
            ("accounts", "accountnumber", "telephone1")
        } else {
            ("customers", "number", "phoneNumber")
        };
        super::support::wire::multiset(
            env.rows(dv, table)
                .iter()
                .filter(|r| r[phone].as_str().is_some_and(|p| p.starts_with("+1 555 2")))
                .map(|r| format!("{} {}", text(r, number), text(r, phone))),
        )
    };
    assert_eq!(phones(false), phones(true));
    assert_eq!(phones(false).len(), accounts.len());
    assert!(customers_link(&env).is_some_and(|l| l != before));
}
