//! `syncmap doctor` against the sandboxes (healthy, a missing or wrong secret, a wrong company,
//! a service that is down, a snapshot that drifted from the live schema), `syncmap log` after
//! real runs (what was written where, why records failed or were skipped, filters, retention),
//! and the CI example on this repository's own mappings.

#[path = "support_doctor.rs"]
mod support_doctor;

use crate::support as world;

use serde_json::Value as Json;
use support_doctor::{repo, syncmap, Env, SECRET_ENV};
use syncmap::plan::Side;
use syncmap::schema::{self, ColumnSchema, ColumnType};
use syncmap::value::Value;

const CHECKS_BC: [&str; 7] = [
    "profile",
    "secret",
    "connection",
    "authentication",
    "company",
    "tables",
    "schema",
];

/// The status of each check of one system in `doctor --format json`.
fn statuses(report: &Json, system: &str) -> Vec<(String, String)> {
    report["systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["system"] == system)
        .unwrap_or_else(|| panic!("no system {system} in {report}"))["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The line of a check of a system in the human report.
fn line<'a>(out: &'a str, system: &str, check: &str) -> &'a str {
    let block = out
        .split("\nsystem ")
        .find(|b| {
            b.trim_start_matches("system ")
                .starts_with(&format!("{system} "))
        })
        .unwrap_or_else(|| panic!("no system {system} in:\n{out}"));
    block
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(check))
        .unwrap_or_else(|| panic!("no check {check} of {system} in:\n{out}"))
}

#[test]
fn doctor_passes_every_check_against_healthy_sandboxes() {
    let env = Env::start();
    let mappings = repo().join("mappings");
    let m = mappings.to_str().unwrap();
    let out = env.run(&["doctor", m]);
    assert_eq!(out.code, 0, "{}", out.all());
    for check in CHECKS_BC {
        assert!(line(&out.stdout, "bc", check)
            .trim_start()
            .starts_with("ok"));
    }
    for check in [
        "profile",
        "secret",
        "connection",
        "authentication",
        "tables",
        "schema",
    ] {
        assert!(line(&out.stdout, "dv", check)
            .trim_start()
            .starts_with("ok"));
    }
    // Dataverse has no companies: no such check.
    assert!(!out
        .stdout
        .split("system dv")
        .nth(1)
        .unwrap()
        .contains("company"));
    assert!(line(&out.stdout, "bc", "secret").contains(SECRET_ENV));
    assert!(line(&out.stdout, "bc", "company").contains("CRONUS USA, Inc."));
    assert!(line(&out.stdout, "dv", "tables").contains("accounts"));
    assert!(line(&out.stdout, "dv", "schema").contains("no drift"));
    // The state store: not created yet, and both systems hold rows the match rules couple.
    assert!(line(&out.stdout, "state", "store").contains("opens"));
    let customers = out
        .stdout
        .lines()
        .find(|l| l.contains("couplings") && l.contains("customers:"))
        .unwrap();
    assert!(
        customers.trim_start().starts_with("ok")
            && customers.contains("dv.accounts and bc.customers already hold rows")
            && customers.contains("number == accountnumber"),
        "{customers}"
    );
    assert!(
        out.stdout.contains("all 21 checks passed"),
        "{}",
        out.stdout
    );

    let json = env.run(&["doctor", m, "--format", "json"]).json();
    assert_eq!(json["ok"], true);
    let bc = statuses(&json, "bc");
    assert_eq!(
        bc.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        CHECKS_BC
    );
    assert!(bc.iter().all(|(_, s)| s == "passed"), "{bc:?}");
    assert!(statuses(&json, "dv").iter().all(|(_, s)| s == "passed"));
    assert_eq!(json["diagnostics"], serde_json::json!([]));

    // A plan file whose snapshots are not beside it: the plan's own record of the columns
    // it uses stands in for them, and shows no drift either.
    let plan = env.path().join("plan.json");
    let out = env.run(&["compile", m, "-o", plan.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = env.run(&["doctor", "plan.json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let schema = line(&out.stdout, "dv", "schema");
    assert!(schema.contains("no drift from `plan.json`"), "{schema}");
}

#[test]
fn doctor_says_when_a_first_full_sync_would_stop_rather_than_copy_a_populated_table() {
    let env = Env::start();
    let maps = env.path().join("maps");
    std::fs::create_dir_all(maps.join("schemas")).unwrap();
    for entry in std::fs::read_dir(repo().join("mappings")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, maps.join(path.file_name().unwrap())).unwrap();
        }
    }
    for f in ["business-central.json", "dataverse.json"] {
        std::fs::copy(
            repo().join("mappings/schemas").join(f),
            maps.join("schemas").join(f),
        )
        .unwrap();
    }
    let customers = maps.join("customers.map");
    let text = std::fs::read_to_string(&customers).unwrap();
    std::fs::write(
        &customers,
        text.replace("    match number == accountnumber\n", ""),
    )
    .unwrap();
    let out = env.run(&["doctor", "maps"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let failed = out
        .stdout
        .lines()
        .find(|l| l.contains("couplings") && l.contains("customers:"))
        .unwrap();
    assert!(failed.trim_start().starts_with("FAIL"), "{failed}");
    for needle in [
        "no match rule",
        "stops rather than copy",
        "--create-without-match",
    ] {
        assert!(failed.contains(needle), "{needle:?} missing: {failed}");
    }
    // After a first sync the store knows the pairs, and the check passes.
    let synced = env.run(&[
        "run",
        "--plan",
        "maps",
        "--mode",
        "full",
        "--create-without-match",
    ]);
    assert!(matches!(synced.code, 0 | 1), "{}", synced.all());
    let out = env.run(&["doctor", "maps"]);
    let coupled = out
        .stdout
        .lines()
        .find(|l| l.contains("couplings") && l.contains("customers:"))
        .unwrap();
    assert!(
        coupled.trim_start().starts_with("ok") && coupled.contains("coupled pairs"),
        "{coupled}"
    );
}

#[test]
fn doctor_names_an_unset_secret_and_prints_no_value() {
    let env = Env::start();
    let m = repo().join("mappings");
    let out = env.run_with_secret(&["doctor", m.to_str().unwrap()], None);
    assert_eq!(out.code, 1, "{}", out.all());
    let secret = line(&out.stdout, "bc", "secret");
    assert!(secret.trim_start().starts_with("FAIL"), "{secret}");
    assert!(
        secret.contains(&format!("`{SECRET_ENV}` is not set")),
        "{secret}"
    );
    // What needs the secret is skipped, not failed again.
    for check in [
        "connection",
        "authentication",
        "company",
        "tables",
        "schema",
    ] {
        assert!(line(&out.stdout, "bc", check)
            .trim_start()
            .starts_with("skip"));
    }
    assert!(out.stdout.contains("2 checks failed"), "{}", out.stdout);
}

#[test]
fn doctor_explains_a_wrong_secret_as_an_authentication_failure() {
    let env = Env::start();
    let m = repo().join("mappings");
    let wrong = "not-the-secret-42";
    let out = env.run_with_secret(&["doctor", m.to_str().unwrap()], Some(wrong));
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(!out.all().contains(wrong), "the wrong secret was printed");
    for system in ["bc", "dv"] {
        assert!(line(&out.stdout, system, "secret")
            .trim_start()
            .starts_with("ok"));
        assert!(line(&out.stdout, system, "connection")
            .trim_start()
            .starts_with("ok"));
        let auth = line(&out.stdout, system, "authentication");
        assert!(auth.trim_start().starts_with("FAIL"), "{auth}");
        assert!(
            auth.contains("refused the client credentials") && auth.contains(SECRET_ENV),
            "{auth}"
        );
    }
}

#[test]
fn doctor_lists_the_companies_when_the_profile_names_another() {
    let env = Env::start();
    env.edit_profile(|t| t.replace("CRONUS USA, Inc.", "Northwind Traders"));
    let m = repo().join("mappings");
    let out = env.run(&["doctor", m.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.all());
    let company = line(&out.stdout, "bc", "company");
    assert!(company.trim_start().starts_with("FAIL"), "{company}");
    assert!(
        company.contains("Northwind Traders")
            && company.contains("CRONUS USA, Inc.")
            && company.contains("My Company"),
        "{company}"
    );
    assert!(line(&out.stdout, "dv", "schema")
        .trim_start()
        .starts_with("ok"));
}

#[test]
fn doctor_explains_a_service_that_does_not_answer() {
    let env = Env::start();
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.edit_profile(|t| {
        let dv = t.split("[systems.dv]").nth(1).unwrap().to_string();
        let old = dv
            .split("http://127.0.0.1:")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .unwrap()
            .to_string();
        t.replace(&format!("127.0.0.1:{old}"), &format!("127.0.0.1:{port}"))
    });
    let m = repo().join("mappings");
    let out = env.run(&["doctor", m.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.all());
    let conn = line(&out.stdout, "dv", "connection");
    assert!(
        conn.contains("FAIL") && conn.contains("nothing accepts connections"),
        "{conn}"
    );
    assert!(conn.contains(&port.to_string()), "{conn}");
    assert!(line(&out.stdout, "bc", "schema")
        .trim_start()
        .starts_with("ok"));
}

fn col(name: &str, ty: ColumnType) -> ColumnSchema {
    serde_json::from_value(serde_json::json!({ "name": name, "type": "string" }))
        .map(|c: ColumnSchema| ColumnSchema { ty, ..c })
        .unwrap()
}

/// The standard mappings in a folder, with a Dataverse snapshot that no longer matches the
/// sandbox: a key typed `string` (live `guid`), a longer `name`, and a column the live system
/// lacks that a field writes.
fn drifted_mappings(env: &Env) -> std::path::PathBuf {
    let dir = env.path().join("mappings");
    let out = env.run(&["init", "--defaults", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    let path = dir.join("schemas/dataverse.json");
    let mut dv = schema::load(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let accounts = dv.tables.iter_mut().find(|t| t.name == "accounts").unwrap();
    for c in &mut accounts.columns {
        match c.name.as_str() {
            "accountid" => c.ty = ColumnType::String { max_length: None },
            "name" => {
                c.ty = ColumnType::String {
                    max_length: Some(500),
                }
            }
            _ => {}
        }
    }
    accounts.columns.push(col(
        "syncmap_region",
        ColumnType::String {
            max_length: Some(100),
        },
    ));
    std::fs::write(&path, schema::to_json(&dv)).unwrap();
    let customers = dir.join("customers.map");
    let text = std::fs::read_to_string(&customers).unwrap();
    let text = text.replacen(
        "    displayName      <-> name [truncate]\n",
        "    displayName      <-> name [truncate]\n    city              -> syncmap_region [truncate]\n",
        1,
    );
    std::fs::write(&customers, text).unwrap();
    let check = env.run(&["check", dir.to_str().unwrap()]);
    assert_eq!(
        check.code,
        0,
        "the drifted mappings still compile: {}",
        check.all()
    );
    dir
}

#[test]
fn doctor_reports_schema_drift_as_diagnostics_with_codes() {
    let env = Env::start();
    let dir = drifted_mappings(&env);
    let out = env.run(&["doctor", "mappings"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let schema_line = line(&out.stdout, "dv", "schema");
    assert!(
        schema_line.contains("FAIL") && schema_line.contains("2 errors and 1 warning"),
        "{schema_line}"
    );
    assert!(line(&out.stdout, "bc", "schema")
        .trim_start()
        .starts_with("ok"));
    // The diagnostics, as people read them: stable (relative paths, no ports).
    let start = out.stdout.find("syncmap::").unwrap();
    let end = out.stdout.rfind("\n\n").unwrap();
    insta::assert_snapshot!("doctor_drift_human", &out.stdout[start..end]);

    let json = env.run(&["doctor", "mappings", "--format", "json"]);
    assert_eq!(json.code, 1);
    let json = json.json();
    assert_eq!(json["ok"], false);
    let diags = json["diagnostics"].as_array().unwrap();
    let codes: Vec<&str> = diags.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes.len(), 3, "{diags:?}");
    for code in ["E0602", "E0603", "W0601"] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    let missing = diags.iter().find(|d| d["code"] == "E0602").unwrap();
    // Labelled where the mappings write the column, with the snapshot entry beside it.
    assert_eq!(missing["file"], "mappings/customers.map");
    assert_eq!(missing["line"], 19);
    assert_eq!(
        missing["related"][0]["file"],
        "mappings/schemas/dataverse.json"
    );
    let key = diags.iter().find(|d| d["code"] == "E0603").unwrap();
    assert!(
        key["message"]
            .as_str()
            .unwrap()
            .contains("`guid` in the live system"),
        "{key}"
    );
    assert!(key["help"]
        .as_str()
        .unwrap()
        .contains("syncmap schema pull dv"));
    // The JSON as syncmap prints it: insta's own JSON serializer would spell out serde_json's
    // exact numbers (`arbitrary_precision`) as internal maps.
    insta::assert_snapshot!(
        "doctor_drift_json",
        serde_json::to_string_pretty(&diags).unwrap()
    );

    let sarif = env.run(&["doctor", "mappings", "--format", "sarif"]);
    assert_eq!(sarif.code, 1);
    let sarif = sarif.json();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "syncmap");
    let rules: Vec<&str> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(rules.len(), 3, "{rules:?}");
    assert!(rules.contains(&"E0602") && rules.contains(&"W0601"));
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    let note = &run["invocations"][0]["toolExecutionNotifications"][0];
    assert_eq!(note["descriptor"]["id"], "doctor/schema");
    drop(dir);
}

// ---- syncmap log ---------------------------------------------------------------------------

const CUSTOMERS: &str = r#"
table currencies: bc.currencies -> dv.transactioncurrencies {
    code -> isocurrencycode
    displayName -> currencyname [truncate]
    code -> currencysymbol [truncate]
    1.0 -> exchangerate [create only]
    match code == isocurrencycode
}

table customers: bc.customers <-> dv.accounts {
    filter bc: blocked == " "
    filter dv: statecode == "Active" and customertypecode == "Customer"

    displayName <-> name [truncate]
    number       -> accountnumber [truncate]
    city        <-> address1_city [truncate]
    "Customer"   -> customertypecode [create only]
}
"#;

fn log(w: &world::World, args: &[&str]) -> world::CliRun {
    let mut all = vec!["log"];
    all.extend_from_slice(args);
    let out = w.cli(&all);
    assert_eq!(out.code, 0, "{out:?}");
    out
}

fn run_ids(w: &world::World, args: &[&str]) -> Vec<i64> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    log(w, &all)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn log_explains_what_a_run_wrote_where_and_why_records_failed_or_were_skipped() {
    let w = world::World::with_mappings(CUSTOMERS);
    let good = w.add_customer("C-1", "Good", &[]);
    let nameless = w.add_account("x", &[("name", Value::Null)]);
    // Both sides hold rows and the mapping has no match rule: only asked to, a run creates
    // partners for them (they are not copies of each other).
    let out = w.cli(&["run", "--mode", "full", "--json"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--create-without-match"), "{out:?}");
    let out = w.cli(&["run", "--mode", "full", "--json", "--create-without-match"]);
    assert_eq!(out.code, 1, "a record failed: {out:?}");
    let first = out.json()["run_id"].as_i64().unwrap();
    let partner = w.partner("customers", Side::Left, &good);

    let text = log(&w, &["--run", &first.to_string()]).stdout;
    assert!(
        text.contains(&format!(
            "run {first}: full sync (manual), completed with failures, took "
        )),
        "{text}"
    );
    assert!(
        text.contains("bc.customers → dv.accounts, watermark - → "),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("inserted")
            && l.contains(&format!("{good} → {partner}"))),
        "the insert with both keys:\n{text}"
    );
    let failed = text
        .lines()
        .find(|l| l.contains(&format!("failed customers dv → bc `{nameless}`")))
        .unwrap_or_else(|| panic!("no failure line:\n{text}"));
    assert!(failed.contains("displayName"), "the reason: {failed}");

    let j = log(&w, &["--run", &first.to_string(), "--json"]).json();
    let writes = j["writes"].as_array().unwrap();
    let insert = writes
        .iter()
        .find(|x| x["source_key"] == good.as_str())
        .unwrap();
    assert_eq!(
        (insert["action"].as_str(), insert["dest_key"].as_str()),
        (Some("inserted"), Some(partner.as_str()))
    );
    assert_eq!(insert["mapping"], "customers");
    assert_eq!(insert["direction"], "left_to_right");
    assert!(j["run"]["duration_ms"].is_u64());
    assert_eq!(j["errors"][0]["source_key"], nameless.as_str());

    // A modified-only run: an edit flows, a new uncoupled customer is left to a full sync.
    w.update("bc", "customers", &good, &[("city", world::s("Lyon"))]);
    let newcomer = w.add_customer("C-2", "Newcomer", &[]);
    let out = w.cli(&["run", "--json"]);
    let second = out.json()["run_id"].as_i64().unwrap();
    let text = log(&w, &["--run", &second.to_string()]).stdout;
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("modified")
            && l.contains(&format!("{good} → {partner}"))),
        "{text}"
    );
    let skipped = text
        .lines()
        .find(|l| l.contains(&format!("skipped customers bc → dv `{newcomer}`")))
        .unwrap_or_else(|| panic!("no skipped line:\n{text}"));
    assert!(skipped.contains("not coupled"), "{skipped}");
    // The failed record is now skipped (the same error twice), and says so.
    let third = {
        let out = w.cli(&["run", "--json"]);
        out.json()["run_id"].as_i64().unwrap()
    };
    let text = log(&w, &["--run", &third.to_string()]).stdout;
    assert!(
        text.contains(&format!("skipped customers dv → bc `{nameless}`"))
            && text.contains("`syncmap retry`"),
        "{text}"
    );
}

#[test]
fn log_filters_narrow_the_list_of_runs() {
    let w = world::World::with_mappings(CUSTOMERS);
    w.seed_standard();
    // A run a killed process left `running`: the next run marks it interrupted.
    let _ = w.cli(&["status"]); // creates the store
    w.sql(
        "state",
        "INSERT INTO runs (started_at, mode, trigger, plan_digest, tables, status) VALUES ('2020-01-01T00:00:00.000000Z', 'full', 'schedule', 'sha256:old', '[\"customers\"]', 'running')",
    );
    let out = w.cli(&["run", "--mode", "full", "--table", "currencies"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = w.cli(&["run", "--mode", "full"]);
    assert_eq!(out.code, 0, "{out:?}");
    let all = run_ids(&w, &[]);
    assert_eq!(all.len(), 3, "{all:?}");
    let (killed, currencies, both) = (all[2], all[1], all[0]);

    assert_eq!(run_ids(&w, &["--table", "customers"]), vec![both, killed]);
    assert_eq!(
        run_ids(&w, &["--table", "currencies"]),
        vec![both, currencies]
    );
    assert_eq!(run_ids(&w, &["--status", "interrupted"]), vec![killed]);
    assert_eq!(
        run_ids(&w, &["--status", "succeeded"]),
        vec![both, currencies]
    );
    assert!(run_ids(&w, &["--status", "failed"]).is_empty());
    assert_eq!(run_ids(&w, &["--trigger", "schedule"]), vec![killed]);
    assert_eq!(
        run_ids(&w, &["--trigger", "manual"]),
        vec![both, currencies]
    );
    assert_eq!(run_ids(&w, &["--since", "2h"]), vec![both, currencies]);
    assert_eq!(run_ids(&w, &["--since", "2019-12-31"]), all);
    assert!(run_ids(&w, &["--since", "2999-01-01"]).is_empty());
    assert_eq!(run_ids(&w, &["--limit", "1"]), vec![both]);
    assert_eq!(
        run_ids(
            &w,
            &[
                "--table",
                "customers",
                "--since",
                "1h",
                "--trigger",
                "manual"
            ]
        ),
        vec![both]
    );
    let text = log(&w, &["--status", "interrupted"]).stdout;
    assert!(
        text.contains("interrupted") && text.contains("duration"),
        "{text}"
    );
    assert!(log(&w, &["--trigger", "demo"])
        .stdout
        .contains("no runs match"));
    let bad = w.cli(&["log", "--since", "yesterday-ish"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("--since"), "{bad:?}");
}

#[test]
fn write_logs_are_kept_for_the_last_history_runs_only() {
    let w = world::World::with_mappings(CUSTOMERS);
    let profile = w.path().join("syncmap.toml");
    let text = std::fs::read_to_string(&profile).unwrap();
    std::fs::write(&profile, format!("{text}[run]\nhistory_runs = 2\n")).unwrap();
    let key = w.add_customer("C-1", "First", &[]);
    let mut ids = Vec::new();
    for city in ["Oslo", "Bergen", "Tromsø"] {
        w.update("bc", "customers", &key, &[("city", world::s(city))]);
        let out = w.cli(&["run", "--mode", "full", "--json"]);
        assert_eq!(out.code, 0, "{out:?}");
        ids.push(out.json()["run_id"].as_i64().unwrap());
    }
    let writes = |id: i64| {
        log(&w, &["--run", &id.to_string(), "--json"]).json()["writes"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(writes(ids[0]), 0, "the oldest run's write log is pruned");
    assert!(writes(ids[1]) > 0 && writes(ids[2]) > 0);
    // The runs themselves, with their counts, stay.
    assert_eq!(run_ids(&w, &[]), vec![ids[2], ids[1], ids[0]]);
    let first = log(&w, &["--run", &ids[0].to_string(), "--json"]).json();
    let customers = first["run"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["mapping"] == "customers" && c["direction"] == "left_to_right")
        .cloned()
        .unwrap();
    assert_eq!(customers["inserted"], 1);
}

// ---- CI ------------------------------------------------------------------------------------

#[test]
fn the_ci_example_runs_green_on_this_repository() {
    let workflow = std::fs::read_to_string(repo().join("examples/ci/github-actions.yml")).unwrap();
    // The workflow runs the script the test runs, uploads what it writes, and diffs on PRs.
    let runs: Vec<&str> = workflow
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("examples/ci/check.sh"))
        .collect();
    assert!(
        runs.iter().any(|l| l.ends_with("check.sh mappings")),
        "{runs:?}"
    );
    assert!(
        runs.iter().any(|l| l.contains("check.sh diff ")),
        "{runs:?}"
    );
    assert!(workflow.contains("uses: github/codeql-action/upload-sarif@"));
    assert!(workflow.contains("sarif_file: syncmap.sarif"));
    assert!(workflow.contains("security-events: write"));

    let out_dir = tempfile::tempdir().unwrap();
    let script = repo().join("examples/ci/check.sh");
    let sh = |args: &[&str]| {
        let out = std::process::Command::new("sh")
            .arg(&script)
            .args(args)
            .current_dir(repo())
            .env("SYNCMAP", env!("CARGO_BIN_EXE_syncmap"))
            .env("SYNCMAP_OUT", out_dir.path())
            .env_remove("GITHUB_STEP_SUMMARY")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    };
    let (code, text) = sh(&["mappings"]);
    assert_eq!(code, 0, "check.sh mappings:\n{text}");
    for step in [
        "syncmap check",
        "syncmap fmt --check",
        "syncmap test",
        "syncmap compile",
    ] {
        assert!(
            text.contains(&format!("$ {step}")),
            "{step} did not run:\n{text}"
        );
    }
    let sarif: Json = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("syncmap.sarif")).unwrap(),
    )
    .unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    assert_eq!(sarif["runs"][0]["tool"]["driver"]["name"], "syncmap");
    assert!(sarif["runs"][0]["results"].is_array());

    // The pull-request step: the same mappings on both sides compile to the same bytes, and
    // the diff says there is nothing to review.
    let (code, text) = sh(&["diff", "mappings", "mappings"]);
    assert_eq!(code, 0, "check.sh diff:\n{text}");
    let base = std::fs::read(out_dir.path().join("plan-base.json")).unwrap();
    let head = std::fs::read(out_dir.path().join("plan-head.json")).unwrap();
    assert!(!base.is_empty());
    assert_eq!(base, head, "compile is not deterministic");
    let diff = syncmap(
        &repo(),
        &[
            "diff",
            out_dir.path().join("plan-base.json").to_str().unwrap(),
            out_dir.path().join("plan-head.json").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(diff.code, 0, "{diff:?}");
    // A base without mappings (their first pull request) is not a failure.
    let (code, text) = sh(&["diff", "no-such-folder", "mappings"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("every table mapping is new"), "{text}");
}

#[test]
fn doctor_checks_sqlite_systems_against_their_databases() {
    let w = world::World::standard();
    let out = w.cli(&["doctor", "mappings"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        line(&out.stdout, "dv", "connection").contains("dv.db` opens"),
        "{}",
        out.stdout
    );
    assert!(
        line(&out.stdout, "bc", "schema").contains("no drift"),
        "{}",
        out.stdout
    );
    // No secret, authentication or company for a database.
    assert!(!out.stdout.contains("secret"), "{}", out.stdout);

    w.sql("dv", "ALTER TABLE accounts DROP COLUMN telephone1;");
    let out = w.cli(&["doctor", "mappings", "--format", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let j = out.json();
    let diags = j["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "E0602");
    assert!(diags[0]["message"]
        .as_str()
        .unwrap()
        .contains("`telephone1` of `dv.accounts`"));
    assert!(diags[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("customers.map"));

    std::fs::remove_file(w.path().join("bc.db")).unwrap();
    let out = w.cli(&["doctor", "mappings"]);
    assert_eq!(out.code, 1, "{out:?}");
    let conn = line(&out.stdout, "bc", "connection");
    assert!(
        conn.contains("FAIL") && conn.contains("does not exist"),
        "{conn}"
    );
}
