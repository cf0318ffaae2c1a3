//! The commands that read and write the state store — `run`, `status`, `log`, `errors`, `retry`
//! and `report` — through the real binary, with the store in SQLite and in PostgreSQL: each
//! says the same about the same runs, whichever store holds them.

use crate::support;

use serde_json::Value as Json;
use support::postgres::TestDatabase;
use support::{s, World};

/// What each command said, as JSON, in the order they ran.
type Said = Vec<(String, Json)>;

/// The standard mappings through a full sync, a conflict met twice (so skipped), its retry and
/// a run after it; every command's answer along the way.
fn scenario(w: &World) -> Said {
    let mut said = Said::new();
    let mut ask = |args: &[&str], codes: &[i32]| {
        let r = w.cli(args);
        assert!(
            codes.contains(&r.code),
            "{args:?} exited {}\n{}{}",
            r.code,
            r.stdout,
            r.stderr
        );
        if args.contains(&"--json") {
            said.push((args.join(" "), normalized(r.json())));
        }
    };
    w.seed_standard();
    ask(&["run", "--mode", "full", "--json"], &[0, 1]);
    let contoso = w.find("bc", "customers", "displayName", "Contoso Ltd.");
    // Found by its name, not by the store: the test reads no store directly.
    let account = w.find("dv", "accounts", "name", "Contoso Ltd.");
    w.update("bc", "customers", &contoso, &[("city", s("Lyon"))]);
    w.update(
        "dv",
        "accounts",
        &account,
        &[("address1_city", s("Marseille"))],
    );
    ask(&["run", "--json"], &[1]);
    ask(&["run", "--json"], &[1]);
    ask(&["status", "--json"], &[0]);
    ask(&["errors", "--json"], &[0]);
    ask(&["log", "--json"], &[0]);
    ask(&["retry"], &[0]);
    ask(&["errors", "--json"], &[0]);
    ask(&["run", "--json"], &[1]);
    ask(&["log", "--json"], &[0]);
    // The filters, each of which is its own SQL: by table (the JSON list of a run's tables),
    // status, trigger and start.
    ask(
        &[
            "log",
            "--table",
            "customers",
            "--status",
            "completed-with-failures",
            "--trigger",
            "manual",
            "--since",
            "1h",
            "--json",
        ],
        &[0],
    );
    ask(&["log", "--run", "2", "--json"], &[0]);
    ask(&["report", "-o", "report.html"], &[0]);
    said
}

/// `j` with what differs between two worlds replaced: the keys the systems chose, instants and
/// durations.
fn normalized(mut j: Json) -> Json {
    fn walk(j: &mut Json) {
        match j {
            Json::String(t) => {
                if t.parse::<jiff::Timestamp>().is_ok() {
                    *t = "[time]".into();
                } else if t
                    .split('|')
                    .next()
                    .is_some_and(|a| a.parse::<jiff::Timestamp>().is_ok())
                {
                    *t = "[cursor]".into();
                } else {
                    *t = redact_keys(t);
                }
            }
            Json::Array(items) => items.iter_mut().for_each(walk),
            Json::Object(fields) => {
                for (name, v) in fields.iter_mut() {
                    if name.contains("duration") || name.ends_with("_ms") {
                        *v = Json::Null;
                    } else {
                        walk(v);
                    }
                }
            }
            _ => {}
        }
    }
    walk(&mut j);
    j
}

/// Replaces every `8-4-4-4-12` hex GUID with `[key]`.
fn redact_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let candidate = rest
            .get(..36)
            .filter(|c| uuid::Uuid::parse_str(c).is_ok() && c.as_bytes()[8] == b'-');
        match candidate {
            Some(_) => {
                out.push_str("[key]");
                rest = &rest[36..];
            }
            None => {
                let c = rest.chars().next().expect("not empty");
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

#[test]
fn every_command_says_the_same_with_the_store_in_postgresql_as_in_sqlite() {
    let in_sqlite = World::standard();
    let expected = scenario(&in_sqlite);

    let db = TestDatabase::new("commands");
    let in_postgres = World::standard();
    in_postgres.use_state(&db.url);
    let said = scenario(&in_postgres);
    assert!(
        !in_postgres.path().join("state.db").exists(),
        "the store is not a file"
    );

    for ((command, e), (_, got)) in expected.iter().zip(&said) {
        assert_eq!(e, got, "`syncmap {command}` differs");
    }
    assert_eq!(expected.len(), said.len());
    // What they say is what happened, not two equal silences.
    let answer = |command: &str, nth: usize| -> &Json {
        &said
            .iter()
            .filter(|(c, _)| c == command)
            .nth(nth)
            .expect(command)
            .1
    };
    let conflict = &answer("errors --json", 0)[0];
    assert_eq!(
        (
            &conflict["kind"],
            &conflict["attempts"],
            &conflict["skipped"]
        ),
        (&Json::from("conflict"), &Json::from(2), &Json::from(true))
    );
    let retried = &answer("errors --json", 1)[0];
    assert_eq!(retried["skipped"], Json::from(false));
    let runs = answer("log --json", 1).as_array().expect("a list of runs");
    let ids: Vec<&Json> = runs.iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, [4, 3, 2, 1].map(Json::from).iter().collect::<Vec<_>>());
    let filtered = answer(
        "log --table customers --status completed-with-failures --trigger manual --since 1h --json",
        0,
    );
    assert_eq!(filtered.as_array().map(Vec::len), Some(3));
    let page = std::fs::read_to_string(in_postgres.path().join("report.html")).expect("a report");
    assert!(page.contains("Contoso Ltd."));
}
