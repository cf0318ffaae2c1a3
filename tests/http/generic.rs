//! A plain OData service (`kind odata`) that pages as it likes — next links relative to the
//! request, pages of its own size whatever `odata.maxpagesize` asks, keyset `$skiptoken`s or
//! `$skip` offsets — keys its table by integers and is strict about their literals, and takes
//! no JSON `$batch`. Synced into SQLite, every row arrives exactly once, and a modified-only run
//! carries exactly the rows changed since. The service is the Dataverse sandbox serving its
//! extra `numbers` table (`integer_keys`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use serde_json::{json, Value as Json};
use syncmap::connectors::odata::flavor::Flavor;
use syncmap::connectors::odata::ODataConnector;
use syncmap::connectors::sqlite::SqliteConnector;
use syncmap::connectors::{Connector, ReadRequest, TableRef, WriteOp};
use syncmap::cursor::Cursor;
use syncmap::odata::batch::{self, HttpRequest, Part};
use syncmap::plan::Plan;
use syncmap::profile::{Profile, Secret};
use syncmap::sandbox::person::Service;
use syncmap::sandbox::{integer_keyed_schema, Limits, SandboxConfig, NUMBERS};
use syncmap::value::Value;

use crate::support::wire::{multiset, totals, Wire};

/// The service's page whatever the client asks.
const SERVED_PAGE: usize = 1000;

/// The sandbox with `numbers`, paging as `tune` says, and a project syncing `dv.numbers`
/// (the service, as `kind odata`) one way into `copy.numbers` (a SQLite database).
fn start(tune: impl FnOnce(&mut SandboxConfig)) -> (Wire, PathBuf) {
    let w = Wire::start(|c| {
        c.integer_keys = true;
        tune(c);
    });
    let snapshot = serde_json::to_string_pretty(&integer_keyed_schema()).unwrap();
    let plan = w.project(
        "numbers",
        &[
            ("schemas/numbers.json", snapshot.as_str()),
            (
                "systems.map",
                "system dv: odata { schema = \"schemas/numbers.json\" }\n\
                 system copy: odata { schema = \"schemas/numbers.json\" }\n",
            ),
            (
                "numbers.map",
                "table numbers: dv.numbers -> copy.numbers {\n    id -> id\n    name -> name\n    amount -> amount\n}\n",
            ),
        ],
    );
    let copy = SqliteConnector::open(&w.path().join("copy.db")).unwrap();
    copy.create_tables(&integer_keyed_schema()).unwrap();
    // Pages asked for are smaller than the service's: it answers with its own size anyway.
    w.write_profile("\n[systems.copy]\nurl = \"sqlite://copy.db\"\n\n[run]\npage_size = 300\n");
    (w, plan)
}

/// Row `i`: ids spread so their text order differs from their numeric order, amounts with
/// four decimals, some negative, as JSON numbers with their exact digits.
fn row(i: i64) -> Json {
    let amount = format!(
        "{}{}.{:04}",
        if i % 3 == 0 { "-" } else { "" },
        i * 7919,
        i % 10_000
    );
    json!({
        "id": i * 37 + 5,
        "name": format!("Number {i}"),
        "amount": Json::Number(serde_json::Number::from_str(&amount).unwrap()),
    })
}

/// A row as compared: id, name and the amount normalised (`1.5000` and `1.5` are one value).
fn shown(id: i64, name: &str, amount: &str) -> String {
    let amount = rust_decimal::Decimal::from_str_exact(amount)
        .unwrap()
        .normalize();
    format!("{id}|{name}|{amount}")
}

fn shown_json(r: &Json) -> String {
    shown(
        r["id"].as_i64().unwrap(),
        r["name"].as_str().unwrap(),
        &r["amount"].to_string(),
    )
}

/// A token of the Dataverse sandbox.
async fn token(w: &Wire, http: &reqwest::Client) -> String {
    w.token(http, Service::Dataverse).await
}

/// GETs a URL of the Dataverse sandbox: the status and the body's text.
pub(crate) fn get(w: &Wire, url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    w.rt.block_on(async {
        let http = reqwest::Client::new();
        let mut req = http.get(url).bearer_auth(token(w, &http).await);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let answer = req.send().await.unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    })
}

/// Creates rows in `numbers` through the service's `$batch`, a thousand at a time.
fn create(w: &Wire, rows: &[Json]) {
    let s = w.sandbox();
    w.rt.block_on(async {
        let http = reqwest::Client::new();
        let token = token(w, &http).await;
        for chunk in rows.chunks(1000) {
            let parts: Vec<Part<HttpRequest>> = chunk
                .iter()
                .map(|r| {
                    Part::Single(HttpRequest {
                        method: "POST".into(),
                        url: format!("{}/{NUMBERS}", s.dv_url()),
                        headers: vec![("Content-Type".into(), "application/json".into())],
                        body: r.to_string().into_bytes(),
                    })
                })
                .collect();
            let boundary = batch::new_boundary("batch_");
            let answer = http
                .post(format!("{}/$batch", s.dv_url()))
                .bearer_auth(&token)
                .header("Content-Type", batch::content_type(&boundary))
                .body(batch::encode_requests(&boundary, &parts))
                .send()
                .await
                .unwrap();
            assert!(answer.status().is_success(), "{}", answer.status());
            let text = answer.text().await.unwrap();
            assert_eq!(text.matches("HTTP/1.1 204").count(), chunk.len(), "{text}");
        }
    });
}

/// Asserts two multisets are equal, showing only where they differ (10,000 rows do not fit
/// in a message).
fn assert_same(actual: &BTreeMap<String, usize>, expected: &BTreeMap<String, usize>) {
    let differ = |a: &BTreeMap<String, usize>, b: &BTreeMap<String, usize>| -> Vec<String> {
        a.iter()
            .filter(|(k, n)| b.get(*k) != Some(n))
            .map(|(k, n)| format!("{k} ×{n} (expected ×{})", b.get(k).copied().unwrap_or(0)))
            .take(20)
            .collect()
    };
    assert!(
        actual == expected,
        "unexpected: {:?}\nmissing: {:?}",
        differ(actual, expected),
        differ(expected, actual)
    );
}

/// The rows of the SQLite copy.
fn copied(w: &Wire) -> BTreeMap<String, usize> {
    let conn = rusqlite::Connection::open(w.path().join("copy.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, name, CAST(amount AS TEXT) FROM numbers")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok(shown(
                r.get(0)?,
                &r.get::<_, String>(1)?,
                &r.get::<_, String>(2)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap);
    multiset(rows)
}

/// 10,005 rows synced in full, then seven changed and synced modified-only: the copy equals
/// the source as a multiset after each run, and the second run wrote exactly the seven.
/// `paged_by` is what the service's next links carry.
/// `paged_by` is what the service's next links carry; `None` when it sends every row at once.
fn syncs_every_row_once(tune: impl FnOnce(&mut SandboxConfig), paged_by: Option<&str>) {
    let (w, plan) = start(tune);
    let mut source: Vec<Json> = (0..10_005).map(row).collect();
    create(&w, &source);
    // The service pages as configured: its own size, a relative link.
    let url = format!("{}/{NUMBERS}?$select=id", w.sandbox().dv_url());
    let (status, body) = get(&w, &url, &[("Prefer", "odata.maxpagesize=300")]);
    assert_eq!(status, 200, "{body}");
    let page: Json = serde_json::from_str(&body).unwrap();
    let served_page = page["value"].as_array().unwrap().len();
    match paged_by {
        Some(paged_by) => {
            assert_eq!(served_page, SERVED_PAGE);
            let next = page["@odata.nextLink"].as_str().unwrap();
            assert!(
                next.starts_with("numbers?") && next.contains(paged_by),
                "{next}"
            );
        }
        None => {
            assert_eq!(served_page, source.len());
            assert!(page.get("@odata.nextLink").is_none());
        }
    }
    let served = w.rows(Service::Dataverse, NUMBERS);
    assert_same(
        &multiset(served.iter().map(shown_json)),
        &multiset(source.iter().map(shown_json)),
    );

    let report = w.run_with(&plan, &["--mode", "full"]);
    let t = totals(&report);
    assert_eq!((t.inserted, t.failed), (10_005, 0), "{report}");
    assert_same(&copied(&w), &multiset(source.iter().map(shown_json)));

    let changed = [0_usize, 1, 999, 1000, 1001, 5003, 10_004];
    for i in changed {
        let amount = format!("-98765432109876.{:04}", i % 10_000);
        let body = json!({
            "name": format!("Changed {i}"),
            "amount": Json::Number(serde_json::Number::from_str(&amount).unwrap()),
        });
        let id = source[i]["id"].as_i64().unwrap();
        w.patch(Service::Dataverse, NUMBERS, &id.to_string(), body.clone());
        source[i]["name"] = body["name"].clone();
        source[i]["amount"] = body["amount"].clone();
    }
    let report = w.run_with(&plan, &["--mode", "modified"]);
    let t = totals(&report);
    assert_eq!(
        (t.modified, t.inserted, t.failed),
        (changed.len() as u64, 0, 0),
        "{report}"
    );
    assert_same(&copied(&w), &multiset(source.iter().map(shown_json)));
}

#[test]
fn relative_next_links_and_pages_of_the_services_size_bring_every_row_once() {
    syncs_every_row_once(
        |c| {
            c.limits.relative_links = true;
            c.limits.ignore_page_size = Some(SERVED_PAGE);
        },
        Some("$skiptoken="),
    );
}

#[test]
fn a_service_answering_everything_in_one_page_is_read_once() {
    syncs_every_row_once(|c| c.limits.ignore_page_size = Some(20_000), None);
}

#[test]
fn next_links_by_offset_bring_every_row_once() {
    syncs_every_row_once(
        |c| {
            c.limits.relative_links = true;
            c.limits.ignore_page_size = Some(SERVED_PAGE);
            c.limits.skip_paging = true;
        },
        Some("$skip=1000"),
    );
}

/// The plan of the project in `plan` and a connector to its `dv` system (the service, read as
/// `kind odata`).
fn connector(w: &Wire, plan: &std::path::Path) -> (ODataConnector, Plan) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(plan)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "map"))
        .collect();
    files.sort();
    let plan = syncmap::compile(&files, &syncmap::project::FsLoader)
        .unwrap()
        .plan
        .unwrap();
    let profile = Profile::load(&w.path().join("syncmap.toml")).unwrap();
    let c = ODataConnector::open(
        &profile.systems["dv"],
        Flavor::Generic,
        Some(Secret::new(w.secret.clone())),
    )
    .unwrap();
    (c, plan)
}

/// Every row a read brings, page after page, the way the engine asks for them; `between`
/// runs after the first page.
fn read_all(
    w: &Wire,
    c: &ODataConnector,
    req: &ReadRequest<'_>,
    between: impl FnOnce(),
) -> Vec<syncmap::connectors::Row> {
    let mut between = Some(between);
    let mut out = Vec::new();
    let mut continuation: Option<String> = None;
    loop {
        let page =
            w.rt.block_on(c.read_page(req, continuation.as_deref()))
                .unwrap();
        out.extend(page.rows);
        if let Some(f) = between.take() {
            f();
        }
        match page.next {
            Some(n) => continuation = Some(n),
            None => return out,
        }
    }
}

#[test]
fn a_row_leaving_the_order_between_offset_pages_costs_no_other_row() {
    let (w, plan) = start(|c| {
        c.limits.ignore_page_size = Some(SERVED_PAGE);
        c.limits.skip_paging = true;
    });
    let source: Vec<Json> = (0..3_003).map(row).collect();
    create(&w, &source);
    let (c, plan) = connector(&w, &plan);
    let info = &plan.systems["dv"].tables[NUMBERS];
    let table = TableRef {
        name: NUMBERS,
        info,
    };
    let id = |i: usize| source[i]["id"].as_i64().unwrap().to_string();

    // A full read, by key: a row of the first page is deleted before the second is read. Paged
    // by offset, the first row of the second page would slide into the first and be lost.
    let full = ReadRequest {
        table,
        filter: None,
        since: None,
        page_size: 300,
        tracking: syncmap::connectors::Tracking::Off,
    };
    let gone = id(10);
    let read = read_all(&w, &c, &full, || {
        w.rt.block_on(w.person().delete(Service::Dataverse, NUMBERS, &gone))
            .unwrap()
    });
    let all: Vec<String> = (0..source.len()).map(id).collect();
    assert_same(
        &multiset(read.iter().map(|r| r.key.clone())),
        &multiset(all.iter().cloned()),
    );

    // A modified-since read: a row of the first page changes before the second is read, and
    // moves to the end of the order. No other row is lost or read twice; the changed one is
    // read again, with its change, last.
    let since = Cursor {
        modified_on: read.iter().filter_map(|r| r.modified_on).min().unwrap(),
        key: String::new(),
    };
    let modified = ReadRequest {
        since: Some(since),
        ..full
    };
    let moved = id(20);
    let read = read_all(&w, &c, &modified, || {
        w.patch(
            Service::Dataverse,
            NUMBERS,
            &moved,
            json!({ "name": "Moved" }),
        )
    });
    let mut expected: Vec<String> = all.into_iter().filter(|k| *k != gone).collect();
    expected.push(moved.clone());
    assert_same(
        &multiset(read.iter().map(|r| r.key.clone())),
        &multiset(expected),
    );
    let last = read.last().unwrap();
    assert_eq!(
        (last.key.as_str(), &last.fields["name"]),
        (moved.as_str(), &Value::String("Moved".into()))
    );
}

#[test]
fn integer_keys_are_bare_literals_and_quoted_ones_are_refused() {
    let (w, plan_dir) = start(|_| {});
    let source: Vec<Json> = (0..5).map(row).collect();
    create(&w, &source);
    let root = format!("{}/{NUMBERS}", w.sandbox().dv_url());
    let id = source[3]["id"].as_i64().unwrap();

    // The service is strict, as real ones are: text is not an Edm.Int32.
    for quoted in [
        format!("{root}('{id}')"),
        format!("{root}?$filter=id%20eq%20'{id}'"),
    ] {
        let (status, body) = get(&w, &quoted, &[]);
        assert_eq!(status, 400, "{quoted}: {body}");
        assert!(body.contains("Edm.Int32"), "{body}");
    }
    let (status, body) = get(&w, &format!("{root}({id})"), &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Json>(&body).unwrap()["id"], id);
    let (status, body) = get(&w, &format!("{root}?$filter=id%20eq%20{id}"), &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Json>(&body).unwrap()["value"][0]["id"],
        id
    );

    // The connector writes integer keys bare: by key (in a filter), and in a key segment.
    let (c, plan) = connector(&w, &plan_dir);
    let info = &plan.systems["dv"].tables[NUMBERS];
    let table = TableRef {
        name: NUMBERS,
        info,
    };
    let keys = [
        id.to_string(),
        source[0]["id"].as_i64().unwrap().to_string(),
    ];
    let rows = w.rt.block_on(c.get(table, &keys)).unwrap();
    assert_eq!(
        multiset(rows.iter().map(|r| r.key.clone())),
        multiset(keys.iter().cloned())
    );
    // Its default JSON `$batch` is refused by this service (Dataverse takes multipart only);
    // the profile chooses multipart, or single requests.
    let rename = |c: &ODataConnector, name: &str| {
        let mut fields = BTreeMap::new();
        fields.insert("name".to_string(), Value::String(name.into()));
        let ops: Vec<WriteOp> = keys
            .iter()
            .map(|k| WriteOp::Update {
                key: k.clone(),
                etag: None,
                fields: fields.clone(),
            })
            .collect();
        w.rt.block_on(c.write(table, &ops))
    };
    let refused = rename(&c, "Renamed");
    assert!(refused.iter().all(Result::is_err), "{refused:?}");
    let profile = std::fs::read_to_string(w.path().join("syncmap.toml")).unwrap();
    for mode in ["multipart", "none"] {
        let with = profile.replace(
            "[systems.dv]\n",
            &format!("[systems.dv]\nbatch = \"{mode}\"\n"),
        );
        std::fs::write(w.path().join("syncmap.toml"), with).unwrap();
        let (c, _) = connector(&w, &plan_dir);
        let name = format!("Renamed by {mode}");
        let outcome = rename(&c, &name);
        assert!(outcome.iter().all(Result::is_ok), "{mode}: {outcome:?}");
        for k in &keys {
            let (_, body) = get(&w, &format!("{root}({k})"), &[]);
            assert_eq!(serde_json::from_str::<Json>(&body).unwrap()["name"], name);
        }
    }
}

#[test]
fn ieee754_compatible_systems_write_and_read_decimals_as_strings_with_every_digit() {
    let (w, plan_dir) = start(|_| {});
    create(&w, &[row(1)]);
    let id = row(1)["id"].as_i64().unwrap().to_string();
    let profile = std::fs::read_to_string(w.path().join("syncmap.toml")).unwrap();
    let configured = profile.replace(
        "[systems.dv]\n",
        "[systems.dv]\nbatch = \"multipart\"\nieee754_compatible = true\n",
    );
    std::fs::write(w.path().join("syncmap.toml"), configured).unwrap();
    let (c, plan) = connector(&w, &plan_dir);
    let info = &plan.systems["dv"].tables[NUMBERS];
    let table = TableRef {
        name: NUMBERS,
        info,
    };
    let amount = "-98765432109876.5432";
    let mut fields = BTreeMap::new();
    fields.insert(
        "amount".to_string(),
        Value::Decimal(rust_decimal::Decimal::from_str_exact(amount).unwrap()),
    );
    // The sandbox takes decimals as strings only under IEEE754Compatible=true, and numbers
    // only without it: the write goes through only if the client says it and does it.
    let ops = [WriteOp::Update {
        key: id.clone(),
        etag: None,
        fields,
    }];
    let outcome = w.rt.block_on(c.write(table, &ops));
    assert!(outcome[0].is_ok(), "{outcome:?}");
    let url = format!("{}/{NUMBERS}({id})", w.sandbox().dv_url());
    let (_, plain) = get(&w, &url, &[]);
    assert!(plain.contains(&format!(r#""amount":{amount}"#)), "{plain}");
    // Read back as the service answers it (strings), to the same exact value.
    let (_, strings) = get(
        &w,
        &url,
        &[("Accept", "application/json;IEEE754Compatible=true")],
    );
    assert!(
        strings.contains(&format!(r#""amount":"{amount}""#)),
        "{strings}"
    );
    let rows = w.rt.block_on(c.get(table, &[id])).unwrap();
    assert_eq!(
        rows[0].fields["amount"].to_text().as_deref(),
        Some(amount),
        "{:?}",
        rows[0]
    );
}

#[test]
fn a_refused_value_is_a_record_error_that_names_its_column() {
    let (w, plan_dir) = start(|_| {});
    create(&w, &[row(1)]);
    let configured = std::fs::read_to_string(w.path().join("syncmap.toml"))
        .unwrap()
        .replace("[systems.dv]\n", "[systems.dv]\nbatch = \"none\"\n");
    std::fs::write(w.path().join("syncmap.toml"), configured).unwrap();
    let (c, plan) = connector(&w, &plan_dir);
    let table = TableRef {
        name: NUMBERS,
        info: &plan.systems["dv"].tables[NUMBERS],
    };
    let mut fields = BTreeMap::new();
    // Five digits after the point, for a Decimal(19,4): the message alone does not say which
    // column; the error's target does.
    let d = rust_decimal::Decimal::from_str_exact("0.00001").unwrap();
    fields.insert("amount".to_string(), Value::Decimal(d));
    let ops = [WriteOp::Update {
        key: row(1)["id"].as_i64().unwrap().to_string(),
        etag: None,
        fields,
    }];
    // Answered 400, or 500 as some services answer a refused value: the record's own error
    // either way, never a passing one to retry, and sent once.
    for as_500 in [false, true] {
        let control = w.sandbox().control();
        control.set_limits(Limits {
            refusals_as_500: as_500,
            ..Limits::default()
        });
        let before = control.stats().dv.requests;
        let outcome = w.rt.block_on(c.write(table, &ops));
        match &outcome[0] {
            Err(syncmap::connectors::ConnectorError::Rejected(m)) => {
                assert!(m.starts_with("`amount`: "), "{m}");
                assert!(m.contains("0.00001"), "{m}");
            }
            other => panic!("500: {as_500}: {other:?}"),
        }
        assert_eq!(control.stats().dv.requests, before + 1, "500: {as_500}");
    }
}
