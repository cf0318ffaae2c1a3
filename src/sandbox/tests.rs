//! Tests of the sandbox over HTTP: a real [`Sandbox`] on port 0, called with reqwest.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value as Json};

use super::*;

mod bulk;
mod choices;
mod subscriptions;
mod tracking;

/// A running sandbox and a client with a valid token for each service.
struct Harness {
    sb: Sandbox,
    http: reqwest::Client,
    /// Dataverse's.
    token: String,
    /// Business Central's.
    bc_token: String,
}

/// An answer: status, headers, JSON body (null when empty or not JSON), raw body.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    json: Json,
    raw: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

async fn start(seed: Seed) -> Harness {
    start_with(SandboxConfig {
        seed,
        ..SandboxConfig::default()
    })
    .await
}

async fn start_with(config: SandboxConfig) -> Harness {
    let sb = Sandbox::start(config).await.unwrap();
    let http = reqwest::Client::new();
    let token = token(&http, &sb.dv_token_url(), &sb.auth().client_secret).await;
    let bc_token = token_of(&http, &sb.bc_token_url(), &sb.auth().client_secret).await;
    Harness {
        sb,
        http,
        token,
        bc_token,
    }
}

async fn token_of(http: &reqwest::Client, url: &str, secret: &str) -> String {
    token(http, url, secret).await
}

async fn token(http: &reqwest::Client, url: &str, secret: &str) -> String {
    let r = form(http, url, secret).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn form(http: &reqwest::Client, url: &str, secret: &str) -> Answer {
    let body = format!(
        "grant_type=client_credentials&client_id=syncmap-sandbox&client_secret={secret}&scope=x"
    );
    let r = http
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    answer(r).await
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let raw = r.bytes().await.unwrap().to_vec();
    let json = serde_json::from_slice(&raw).unwrap_or(Json::Null);
    Answer {
        status,
        headers,
        json,
        raw,
    }
}

impl Harness {
    /// The token of the service a URL goes to.
    fn token_for(&self, url: &str) -> &str {
        if url.contains(&self.sb.bc.addr.to_string()) {
            &self.bc_token
        } else {
            &self.token
        }
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&Json>,
    ) -> Answer {
        let mut rb = self
            .http
            .request(method, url)
            .bearer_auth(self.token_for(url))
            .header("Accept", "application/json");
        for (n, v) in headers {
            rb = rb.header(*n, *v);
        }
        if let Some(b) = body {
            rb = rb
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(b).unwrap());
        }
        answer(rb.send().await.unwrap()).await
    }

    async fn get(&self, url: &str) -> Answer {
        self.send(Method::GET, url, &[], None).await
    }

    fn dv(&self, rest: &str) -> String {
        format!("{}/{rest}", self.sb.dv_url())
    }

    fn bc(&self, rest: &str) -> String {
        format!(
            "{}/companies({})/{rest}",
            self.sb.bc_url(),
            seed::companies(0)[0].id
        )
    }

    /// Every row of a collection, following `@odata.nextLink` with the page size.
    async fn all(&self, url: &str, page: usize) -> (Vec<Json>, usize) {
        let prefer = format!("odata.maxpagesize={page}");
        let mut rows = Vec::new();
        let mut pages = 0;
        let mut next = Some(url.to_string());
        while let Some(u) = next {
            let r = self
                .send(Method::GET, &u, &[("Prefer", &prefer)], None)
                .await;
            assert_eq!(r.status, 200, "{u}: {}", r.json);
            let value = r.json["value"].as_array().unwrap().clone();
            assert!(value.len() <= page);
            rows.extend(value);
            pages += 1;
            next = r.json["@odata.nextLink"].as_str().map(str::to_string);
        }
        (rows, pages)
    }

    /// Creates Dataverse accounts through one `$batch` change set.
    async fn dv_accounts(&self, names: &[String]) {
        let ops: Vec<Json> = names
            .iter()
            .map(|n| json!({"name": n, "customertypecode": 3}))
            .collect();
        let r = self
            .dv_batch(
                &ops.iter()
                    .map(|b| ("POST", "accounts", b.clone()))
                    .collect::<Vec<_>>(),
                true,
                true,
            )
            .await;
        assert_eq!(r.status, 200);
        assert!(!String::from_utf8_lossy(&r.raw).contains("HTTP/1.1 4"));
    }

    /// A Dataverse `$batch` of operations, in one change set or as single parts.
    async fn dv_batch(
        &self,
        ops: &[(&str, &str, Json)],
        change_set: bool,
        continue_on_error: bool,
    ) -> Answer {
        use crate::odata::batch::{self as mp, HttpRequest, Part};
        let requests: Vec<HttpRequest> = ops
            .iter()
            .enumerate()
            .map(|(i, (m, u, b))| HttpRequest {
                method: m.to_string(),
                url: format!("{}/{u}", self.sb.dv_url()),
                headers: vec![
                    ("Content-Type".into(), "application/json".into()),
                    ("Content-ID".into(), (i + 1).to_string()),
                ],
                body: if b.is_null() {
                    Vec::new()
                } else {
                    serde_json::to_vec(b).unwrap()
                },
            })
            .collect();
        let parts = if change_set {
            vec![Part::ChangeSet(requests)]
        } else {
            requests.into_iter().map(Part::Single).collect()
        };
        let boundary = mp::new_boundary("batch_");
        let mut rb = self
            .http
            .post(self.dv("$batch"))
            .bearer_auth(&self.token)
            .header("Content-Type", mp::content_type(&boundary))
            .body(mp::encode_requests(&boundary, &parts));
        if continue_on_error {
            rb = rb.header("Prefer", "odata.continue-on-error");
        }
        answer(rb.send().await.unwrap()).await
    }

    /// The statuses of a multipart batch answer, flattened.
    fn statuses(r: &Answer) -> Vec<u16> {
        use crate::odata::batch::{self as mp, Part};
        let ct = r.header("content-type").unwrap();
        mp::decode_responses(&ct, &r.raw)
            .unwrap()
            .into_iter()
            .flat_map(|p| match p {
                Part::Single(x) => vec![x.status],
                Part::ChangeSet(xs) => xs.into_iter().map(|x| x.status).collect(),
            })
            .collect()
    }
}

#[tokio::test]
async fn tokens_are_required_checked_and_expire() {
    let h = start_with(SandboxConfig {
        auth: AuthConfig {
            token_ttl: Duration::from_secs(1),
            ..AuthConfig::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let r = answer(h.http.get(h.dv("accounts")).send().await.unwrap()).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Authorization"));
    let bad = form(&h.http, &h.sb.bc_token_url(), "wrong").await;
    // Bodies are read only from callers with a token, and token forms are small.
    let big = vec![b'x'; 256 * 1024];
    let unread = h.http.post(h.dv("accounts")).body(big.clone()).send().await;
    assert_eq!(unread.unwrap().status(), 401);
    let form_too_big = h.http.post(h.sb.dv_token_url()).body(big).send().await;
    assert_eq!(form_too_big.unwrap().status(), 413);
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json["error"], "invalid_client");
    let ok = h.get(&h.dv("accounts")).await;
    assert_eq!(ok.status, 200);
    let bc = h.get(&format!("{}/companies", h.sb.bc_url())).await;
    assert_eq!(bc.status, 200);
    let elsewhere = answer(
        h.http
            .get(format!("{}/companies", h.sb.bc_url()))
            .bearer_auth(&h.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        elsewhere.status, 401,
        "a Dataverse token is refused by Business Central"
    );
    assert!(elsewhere.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("another service"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = h.get(&h.dv("accounts")).await;
    assert_eq!(expired.status, 401);
    assert!(expired.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    assert_eq!(h.sb.control().stats().unauthorized, 4);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn dataverse_pages_lose_and_repeat_nothing_under_concurrent_writes() {
    let h = start(Seed::Empty).await;
    let t0 = jiff::Timestamp::now();
    let names: Vec<String> = (0..230).map(|i| format!("Account {i:03}")).collect();
    h.dv_accounts(&names).await;
    // Incremental read as a connector does it, writing between pages.
    let url = h.dv(&format!(
        "accounts?$select=name,modifiedon&$filter=modifiedon gt {t0}&$orderby=modifiedon asc,accountid asc"
    ));
    let mut seen = Vec::new();
    let mut next = Some(url);
    let mut pages = 0;
    while let Some(u) = next {
        let r = h
            .send(Method::GET, &u, &[("Prefer", "odata.maxpagesize=40")], None)
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(
            r.header("preference-applied").as_deref(),
            Some("odata.maxpagesize=40")
        );
        for row in r.json["value"].as_array().unwrap() {
            seen.push(row["name"].as_str().unwrap().to_string());
            assert!(
                row.get("telephone1").is_none(),
                "$select keeps other columns out"
            );
        }
        if pages == 1 {
            h.dv_accounts(&["Late 1".into(), "Late 2".into()]).await;
        }
        pages += 1;
        next = r.json["@odata.nextLink"].as_str().map(str::to_string);
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    for n in &names {
        assert!(unique.contains(n), "{n} missing");
    }
    assert!(
        unique.contains(&"Late 1".to_string()),
        "rows written later come at the end"
    );
    assert_eq!(pages, 6, "232 rows in pages of 40");
    // Any other order pages correctly too, with $top.
    let (rows, pages) = h
        .all(
            &h.dv("accounts?$orderby=name desc&$select=name&$top=100"),
            30,
        )
        .await;
    assert_eq!(rows.len(), 100);
    assert_eq!(pages, 4);
    assert_eq!(rows[0]["name"], "Late 2");
    let sorted: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    let mut expected = sorted.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(sorted, expected);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn business_central_pages_and_filters() {
    let h = start(Seed::Demo).await;
    let t0 = jiff::Timestamp::now();
    let requests: Vec<Json> = (0..90)
        .map(|i| json!({"id": format!("r{i}"), "method": "POST", "url": format!("companies({})/vendors", seed::companies(0)[0].id), "body": {"displayName": format!("Vendor {i}")}}))
        .collect();
    let r = h
        .send(
            Method::POST,
            &format!("{}/$batch", h.sb.bc_url()),
            &[],
            Some(&json!({"requests": requests})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let responses = r.json["responses"].as_array().unwrap();
    assert!(
        responses.iter().all(|x| x["status"] == 201),
        "{}",
        responses[0]
    );
    assert_eq!(
        responses[0]["body"]["number"], "V00060",
        "numbers continue the series"
    );
    let (rows, pages) = h
        .all(&h.bc(&format!("vendors?$filter=lastModifiedDateTime gt {t0}&$orderby=lastModifiedDateTime asc,id asc")), 25)
        .await;
    assert_eq!(rows.len(), 90);
    assert_eq!(pages, 4);
    let ids: HashSet<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 90);
    assert!(rows[0]["@odata.etag"]
        .as_str()
        .unwrap()
        .starts_with("W/\"Jz"));
    // The standard customer filter, with $select.
    let r = h
        .get(&h.bc("customers?$filter=blocked eq ' '&$select=number,displayName"))
        .await;
    let value = r.json["value"].as_array().unwrap();
    assert_eq!(value.len(), 7, "the blocked customer is filtered out");
    assert!(value[0].get("city").is_none());
    assert!(value
        .iter()
        .all(|c| c["number"].as_str().unwrap().starts_with('C')));
    let bad = h.get(&h.bc("customers?$filter=nosuch eq 1")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nosuch"));
    // The custom API route serves the same tables; companies can be chosen by name.
    let custom = h
        .get(&format!(
            "{}/companies?$filter=name eq 'My Company'",
            h.sb.bc_url()
                .replace("api/v2.0", "api/syncmap/sandbox/v1.0")
        ))
        .await;
    assert_eq!(custom.json["value"].as_array().unwrap().len(), 1);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn etags_guard_writes_on_both_services() {
    let h = start(Seed::Demo).await;
    let r = h.get(&h.bc("customers?$top=1")).await;
    let c = r.json["value"][0].clone();
    let url = h.bc(&format!("customers({})", c["id"].as_str().unwrap()));
    let etag = c["@odata.etag"].as_str().unwrap().to_string();
    let body = json!({"phoneNumber": "+1 555 9999"});
    let none = h.send(Method::PATCH, &url, &[], Some(&body)).await;
    assert_eq!(none.status, 400);
    assert_eq!(none.json["error"]["code"], "BadRequest_InvalidToken");
    assert!(none.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("CorrelationId"));
    let ok = h
        .send(Method::PATCH, &url, &[("If-Match", &etag)], Some(&body))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    assert_ne!(ok.json["@odata.etag"].as_str().unwrap(), etag);
    assert_ne!(ok.json["lastModifiedDateTime"], c["lastModifiedDateTime"]);
    let stale = h
        .send(Method::PATCH, &url, &[("If-Match", &etag)], Some(&body))
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(stale.json["error"]["code"], "Request_EntityChanged");
    let id_write = h
        .send(
            Method::POST,
            &h.bc("customers"),
            &[],
            Some(&json!({"id": c["id"], "displayName": "X"})),
        )
        .await;
    assert_eq!(id_write.status, 400, "id is read-only");
    let deleted = h
        .send(Method::DELETE, &url, &[("If-Match", "*")], None)
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        h.get(&url).await.json["error"]["code"],
        "BadRequest_NotFound"
    );
    // Dataverse: versionnumber drives the ETag.
    let r = h
        .get(&h.dv("accounts?$top=1&$select=name,versionnumber"))
        .await;
    let a = r.json["value"][0].clone();
    assert_eq!(a["@odata.etag"], format!("W/\"{}\"", a["versionnumber"]));
    let url = h.dv(&format!("accounts({})", a["accountid"].as_str().unwrap()));
    let etag = a["@odata.etag"].as_str().unwrap().to_string();
    let first = h
        .send(
            Method::PATCH,
            &url,
            &[("If-Match", &etag)],
            Some(&json!({"telephone1": "1"})),
        )
        .await;
    assert_eq!(first.status, 204);
    let stale = h
        .send(
            Method::PATCH,
            &url,
            &[("If-Match", &etag)],
            Some(&json!({"telephone1": "2"})),
        )
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(stale.json["error"]["code"], "0x80060882");
    let stale_delete = h
        .send(Method::DELETE, &url, &[("If-Match", &etag)], None)
        .await;
    assert_eq!(stale_delete.status, 412);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn dataverse_creates_upserts_and_validates() {
    let h = start(Seed::Empty).await;
    let key = "11111111-2222-4333-8444-555555555555";
    let body = json!({"accountid": key, "name": "Client Key Ltd."});
    let r = h
        .send(Method::POST, &h.dv("accounts"), &[], Some(&body))
        .await;
    assert_eq!(r.status, 204);
    assert!(r
        .header("odata-entityid")
        .unwrap()
        .ends_with(&format!("/accounts({key})")));
    let dup = h
        .send(Method::POST, &h.dv("accounts"), &[], Some(&body))
        .await;
    assert_eq!(dup.status, 412);
    assert_eq!(dup.json["error"]["code"], "0x80040237");
    let got = h.get(&h.dv(&format!("accounts({key})"))).await;
    assert_eq!(got.json["statecode"], 0, "defaults apply");
    assert_eq!(got.json["_createdby_value"], seed::app_user().id);
    let who = h.get(&h.dv("WhoAmI")).await;
    assert_eq!(who.json["UserId"], seed::app_user().id);
    // PATCH without If-Match creates; If-None-Match: * refuses an existing row.
    let new = "21111111-2222-4333-8444-555555555555";
    let up = h
        .send(
            Method::PATCH,
            &h.dv(&format!("accounts({new})")),
            &[("Prefer", "return=representation")],
            Some(&json!({"name": "Upserted"})),
        )
        .await;
    assert_eq!(up.status, 201, "{}", up.json);
    assert_eq!(up.json["accountid"], new);
    let again = h
        .send(
            Method::PATCH,
            &h.dv(&format!("accounts({new})")),
            &[("If-None-Match", "*")],
            Some(&json!({"name": "Again"})),
        )
        .await;
    assert_eq!(again.status, 412);
    let missing = h
        .send(
            Method::PATCH,
            &h.dv("accounts(31111111-2222-4333-8444-555555555555)"),
            &[("If-Match", "*")],
            Some(&json!({"name": "No"})),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json["error"]["code"], "0x80040217");
    let required = h
        .send(
            Method::POST,
            &h.dv("contacts"),
            &[],
            Some(&json!({"firstname": "No Last"})),
        )
        .await;
    assert_eq!(required.status, 400);
    assert!(required.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("lastname"));
    let long = h
        .send(
            Method::POST,
            &h.dv("accounts"),
            &[],
            Some(&json!({"name": "x".repeat(161)})),
        )
        .await;
    assert_eq!(long.status, 400);
    assert!(long.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("160"));
    let ro = h
        .send(
            Method::POST,
            &h.dv("accounts"),
            &[],
            Some(&json!({"name": "A", "createdon": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(ro.status, 400);
    let option = h
        .send(
            Method::POST,
            &h.dv("accounts"),
            &[],
            Some(&json!({"name": "A", "customertypecode": 99})),
        )
        .await;
    assert_eq!(option.status, 400);
    let gone = h
        .send(
            Method::DELETE,
            &h.dv("accounts(31111111-2222-4333-8444-555555555555)"),
            &[],
            None,
        )
        .await;
    assert_eq!(gone.status, 404);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn dataverse_lookups_bind_and_read_back() {
    let h = start(Seed::Demo).await;
    let usd = h
        .get(&h.dv("transactioncurrencies?$filter=isocurrencycode eq 'USD'"))
        .await
        .json["value"][0]["transactioncurrencyid"]
        .clone();
    let team = h.get(&h.dv("teams")).await.json["value"][0]["teamid"].clone();
    let body = json!({
        "name": "Bound Ltd.",
        "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({})", usd.as_str().unwrap()),
        "ownerid@odata.bind": format!("{}/teams({})", h.sb.dv_url(), team.as_str().unwrap()),
    });
    let r = h
        .send(
            Method::POST,
            &h.dv("accounts"),
            &[("Prefer", "return=representation")],
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["_transactioncurrencyid_value"], usd);
    assert_eq!(r.json["_ownerid_value"], team);
    assert_eq!(r.json["owneridtype"], "team");
    let account = r.json["accountid"].as_str().unwrap().to_string();
    let contact = json!({"lastname": "Child", "parentcustomerid_account@odata.bind": format!("accounts({account})")});
    let c = h
        .send(
            Method::POST,
            &h.dv("contacts"),
            &[("Prefer", "return=representation")],
            Some(&contact),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.json);
    assert_eq!(c.json["fullname"], "Child");
    let url = h.dv(&format!(
        "contacts({})?$select=_parentcustomerid_value",
        c.json["contactid"].as_str().unwrap()
    ));
    let read = h
        .send(
            Method::GET,
            &url,
            &[("Prefer", "odata.include-annotations=\"*\"")],
            None,
        )
        .await;
    assert_eq!(read.json["_parentcustomerid_value"], account);
    assert_eq!(
        read.json["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        "account"
    );
    let plain = h.get(&url).await;
    assert!(plain
        .json
        .get("_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname")
        .is_none());
    let filtered = h
        .get(&h.dv("contacts?$filter=_parentcustomerid_value ne null and statecode eq 0"))
        .await;
    assert_eq!(filtered.json["value"].as_array().unwrap().len(), 5);
    let dangling = json!({"name": "X", "primarycontactid@odata.bind": "/contacts(41111111-2222-4333-8444-555555555555)"});
    let bad = h
        .send(Method::POST, &h.dv("accounts"), &[], Some(&dangling))
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Does Not Exist"));
    let wrong_set =
        json!({"name": "X", "primarycontactid@odata.bind": format!("/accounts({account})")});
    assert_eq!(
        h.send(Method::POST, &h.dv("accounts"), &[], Some(&wrong_set))
            .await
            .status,
        400
    );
    let direct = h
        .send(
            Method::POST,
            &h.dv("accounts"),
            &[],
            Some(&json!({"name": "X", "owneridtype": "team"})),
        )
        .await;
    assert_eq!(direct.status, 400, "type columns follow the bind");
    let cleared = h
        .send(
            Method::PATCH,
            &h.dv(&format!("accounts({account})")),
            &[("If-Match", "*"), ("Prefer", "return=representation")],
            Some(&json!({"ownerid@odata.bind": null})),
        )
        .await;
    assert_eq!(cleared.json["_ownerid_value"], Json::Null);
    assert_eq!(cleared.json["owneridtype"], Json::Null);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn dataverse_batches_roll_back_change_sets_and_keep_limits() {
    let h = start(Seed::Empty).await;
    let ops = [
        ("POST", "accounts", json!({"name": "Rolled back"})),
        ("POST", "contacts", json!({"firstname": "no last name"})),
    ];
    let r = h.dv_batch(&ops, true, false).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        Harness::statuses(&r),
        vec![400],
        "a failed change set answers its failure"
    );
    let none = h.get(&h.dv("accounts?$filter=name eq 'Rolled back'")).await;
    assert_eq!(none.json["value"].as_array().unwrap().len(), 0);
    // `$1` refers to the account the change set created.
    let ops = [
        ("POST", "accounts", json!({"name": "Parent"})),
        (
            "POST",
            "contacts",
            json!({"lastname": "Kid", "parentcustomerid_account@odata.bind": "$1"}),
        ),
    ];
    let r = h.dv_batch(&ops, true, false).await;
    assert_eq!(Harness::statuses(&r), vec![204, 204]);
    let kid = h.get(&h.dv("contacts?$filter=lastname eq 'Kid'")).await;
    assert!(kid.json["value"][0]["_parentcustomerid_value"].is_string());
    // Outside change sets: stop at the first failure unless asked to continue.
    let singles = [
        ("POST", "accounts", json!({"name": "One"})),
        ("POST", "accounts", json!({"nosuch": 1})),
        ("POST", "accounts", json!({"name": "Three"})),
    ];
    assert_eq!(
        Harness::statuses(&h.dv_batch(&singles, false, false).await),
        vec![204, 400]
    );
    assert_eq!(
        Harness::statuses(&h.dv_batch(&singles, false, true).await),
        vec![204, 400, 204]
    );
    h.sb.control().set_limits(Limits {
        dv_batch_max: 2,
        ..Limits::default()
    });
    let over = h.dv_batch(&singles, false, true).await;
    assert_eq!(over.status, 400);
    let stats = h.sb.control().stats();
    assert_eq!(stats.dv.batches, 5, "the refused batch arrived too");
    assert_eq!(stats.dv.batch_operations, 2 + 2 + 3 + 3 + 3);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn business_central_batches_are_atomic_per_group_and_limited() {
    let h = start(Seed::Demo).await;
    let company = &seed::companies(0)[0].id;
    let req = |id: &str, body: Json, group: Option<&str>| {
        let mut r = json!({"id": id, "method": "POST", "url": format!("companies({company})/currencies"), "body": body});
        if let Some(g) = group {
            r["atomicityGroup"] = json!(g);
        }
        r
    };
    let batch = json!({"requests": [
        req("1", json!({"code": "NOK", "displayName": "Krone"}), Some("g")),
        req("2", json!({"code": "EUR"}), Some("g")),
        req("3", json!({"code": "SEK", "displayName": "Krona"}), None),
    ]});
    let r = h
        .send(
            Method::POST,
            &format!("{}/$batch", h.sb.bc_url()),
            &[],
            Some(&batch),
        )
        .await;
    let by_id = |id: &str| {
        r.json["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(by_id("2"), 400, "EUR exists: {}", r.json);
    assert_eq!(by_id("1"), 424, "undone with its group");
    assert_eq!(by_id("3"), 201);
    let codes = h
        .get(&h.bc("currencies?$filter=code eq 'NOK' or code eq 'SEK'&$select=code"))
        .await;
    assert_eq!(codes.json["value"].as_array().unwrap().len(), 1);
    let many: Vec<Json> = (0..101)
        .map(|i| req(&i.to_string(), json!({"code": format!("Z{i}")}), None))
        .collect();
    let over = h
        .send(
            Method::POST,
            &format!("{}/$batch", h.sb.bc_url()),
            &[],
            Some(&json!({"requests": many})),
        )
        .await;
    assert_eq!(over.status, 400);
    // JSON batch is OData 4.01: a request limited to 4.0 is refused, one allowing 4.01 runs.
    let one =
        json!({"requests": [req("1", json!({"code": "XQZ", "displayName": "Test money"}), None)]});
    let url = format!("{}/$batch", h.sb.bc_url());
    let old = [("OData-Version", "4.0"), ("OData-MaxVersion", "4.0")];
    let refused = h.send(Method::POST, &url, &old, Some(&one)).await;
    assert_eq!(refused.status, 400, "{}", refused.json);
    assert!(refused.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("4.01"));
    let new = [("OData-Version", "4.01"), ("OData-MaxVersion", "4.01")];
    let ran = h.send(Method::POST, &url, &new, Some(&one)).await;
    assert_eq!(ran.json["responses"][0]["status"], 201, "{}", ran.json);
    h.sb.shutdown().await;
}

/// Each application user has a budget of its own: one user throttled leaves another's
/// requests through, and a user the directory lacks (or a wrong secret) gets no token.
#[tokio::test]
async fn each_application_user_is_throttled_on_its_own_budget() {
    let mut config = SandboxConfig::default();
    config.auth.more_clients = vec![("worker-2".into(), "second-secret".into())];
    let h = start_with(config).await;
    h.sb.control().set_limits(Limits {
        requests_per_window: Some((2, Duration::from_secs(30))),
        ..Limits::default()
    });
    let second = |secret: &str| {
        let body = format!(
            "grant_type=client_credentials&client_id=worker-2&client_secret={secret}&scope=x"
        );
        h.http
            .post(h.sb.dv_token_url())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let refused = answer(second("the-first-users-secret").await.unwrap()).await;
    assert_eq!(refused.status, 401, "{}", refused.json);
    let granted = answer(second("second-secret").await.unwrap()).await;
    let token2 = granted.json["access_token"].as_str().unwrap().to_string();
    let get_as = |token: String| {
        let req = h.http.get(h.dv("accounts")).bearer_auth(token).send();
        async move { req.await.unwrap().status().as_u16() }
    };
    for _ in 0..2 {
        assert_eq!(get_as(h.token.clone()).await, 200);
    }
    assert_eq!(
        get_as(h.token.clone()).await,
        429,
        "the first user's budget is spent"
    );
    for _ in 0..2 {
        assert_eq!(
            get_as(token2.clone()).await,
            200,
            "the second user's is its own"
        );
    }
    assert_eq!(get_as(token2.clone()).await, 429);
    let profile = h.sb.profile_toml_as(1, "SECRET").expect("a second user");
    assert!(profile.contains("client_id = \"worker-2\""), "{profile}");
    assert_eq!(h.sb.profile_toml_as(2, "SECRET"), None, "no third user");
    h.sb.shutdown().await;
}

#[tokio::test]
async fn throttling_and_faults_answer_and_count() {
    let h = start(Seed::Empty).await;
    let control = h.sb.control();
    control.set_limits(Limits {
        requests_per_window: Some((2, Duration::from_secs(30))),
        ..Limits::default()
    });
    assert_eq!(h.get(&h.dv("accounts")).await.status, 200);
    assert_eq!(h.get(&h.dv("accounts")).await.status, 200);
    let r = h.get(&h.dv("accounts")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json["error"]["code"], "0x80072322");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait));
    assert_eq!(control.stats().throttled, 1);
    control.set_limits(Limits::default());
    control.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let r = h.get(&h.dv("accounts")).await;
    assert_eq!(r.status, 503);
    control.set_faults(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    });
    let dropped = h
        .http
        .get(h.dv("accounts"))
        .bearer_auth(&h.token)
        .send()
        .await;
    assert!(dropped.is_err(), "the connection closes without an answer");
    control.set_faults(Faults::default());
    let stats = control.stats();
    assert_eq!(stats.faults_injected, 2);
    assert_eq!(stats.dv.dropped, 1);
    // The same control over HTTP, for a sandbox in another process, with a token as the API.
    let anonymous = h
        .http
        .put(format!("http://{}/_sandbox/faults", h.sb.bc.addr))
        .body(r#"{"error_rate": 1.0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let put = h
        .http
        .put(format!("http://{}/_sandbox/faults", h.sb.bc.addr))
        .bearer_auth(&h.bc_token)
        .body(r#"{"error_rate": 1.0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    assert_eq!(
        h.get(&format!("{}/companies", h.sb.bc_url())).await.status,
        503
    );
    let stats: Json = serde_json::from_slice(
        &h.http
            .get(format!("http://{}/_sandbox/stats", h.sb.bc.addr))
            .bearer_auth(&h.bc_token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stats["faults_injected"], 1);
    assert_eq!(stats["routes"]["GET companies"], 1);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn metadata_round_trips_through_the_csdl_import() {
    let h = start(Seed::Empty).await;
    for (url, snapshot) in [
        (
            h.dv("$metadata"),
            include_str!("../../mappings/schemas/dataverse.json"),
        ),
        (
            format!("{}/$metadata", h.sb.bc_url()),
            include_str!("../../mappings/schemas/business-central.json"),
        ),
    ] {
        let r = h.get(&url).await;
        assert_eq!(r.status, 200);
        let expected = crate::schema::load(snapshot).unwrap();
        let names: Vec<String> = expected.tables.iter().map(|t| t.name.clone()).collect();
        let xml = String::from_utf8(r.raw).unwrap();
        let imported = crate::schema::csdl::import(&xml, Some(&names)).unwrap();
        assert_eq!(imported.tables.len(), expected.tables.len());
        for (a, b) in imported.tables.iter().zip(&expected.tables) {
            assert_eq!(
                (&a.name, &a.key, &a.modified_on, &a.entity_type),
                (&b.name, &b.key, &b.modified_on, &b.entity_type)
            );
            let cols = |t: &crate::schema::TableSchema| -> Vec<_> {
                t.columns
                    .iter()
                    .map(|c| {
                        // CSDL carries choices as integers and nothing about required columns.
                        let ty = match &c.ty {
                            crate::schema::ColumnType::Option { .. } => {
                                crate::schema::ColumnType::Int
                            }
                            other => other.clone(),
                        };
                        (
                            c.name.clone(),
                            ty,
                            c.nullable,
                            c.read_only,
                            c.default.clone(),
                            c.description.clone(),
                        )
                    })
                    .collect()
            };
            assert_eq!(cols(a), cols(b), "table {}", a.name);
        }
    }
    h.sb.shutdown().await;
}

#[tokio::test]
async fn business_centrals_empty_guid_is_all_zeros_in_answers_and_filters() {
    let h = start(Seed::Demo).await;
    let empty = "00000000-0000-0000-0000-000000000000";
    let all = h.get(&h.bc("customers")).await.json["value"].clone();
    let all = all.as_array().unwrap();
    let without: Vec<&Json> = all
        .iter()
        .filter(|c| c["paymentTermsId"] == empty)
        .collect();
    assert!(!without.is_empty() && without.len() < all.len(), "{all:?}");
    assert!(
        all.iter().all(|c| !c["paymentTermsId"].is_null()),
        "never null"
    );
    let filtered = h
        .get(&h.bc(&format!("customers?$filter=paymentTermsId eq {empty}")))
        .await
        .json["value"]
        .clone();
    assert_eq!(filtered.as_array().unwrap().len(), without.len());
    h.sb.shutdown().await;
}

#[tokio::test]
async fn the_demo_world_passes_the_standard_filters() {
    let h = start(Seed::Demo).await;
    let count = |r: Answer| r.json["value"].as_array().map_or(0, Vec::len);
    let bc_people = count(
        h.get(&h.bc("contacts?$filter=type eq 'Person' and companyNumber ne ''"))
            .await,
    );
    assert_eq!(bc_people, 6);
    assert_eq!(count(h.get(&h.bc("currencies")).await), 4);
    let users = count(h.get(&h.dv("systemusers?$filter=isdisabled eq false and islicensed eq true and isintegrationuser eq false")).await);
    assert_eq!(
        users, 4,
        "the disabled user and the integration user stay out"
    );
    let customers = count(
        h.get(&h.dv("accounts?$filter=statecode eq 0 and customertypecode eq 3"))
            .await,
    );
    assert_eq!(customers, 3);
    let vendors = count(
        h.get(&h.dv("accounts?$filter=statecode eq 0 and customertypecode eq 11"))
            .await,
    );
    assert_eq!(vendors, 2);
    let contacts = count(
        h.get(&h.dv("contacts?$filter=_parentcustomerid_value ne null and statecode eq 0"))
            .await,
    );
    assert_eq!(contacts, 4);
    let profile =
        crate::profile::Profile::parse(&h.sb.profile_toml("SYNCMAP_SANDBOX_SECRET")).unwrap();
    assert_eq!(profile.systems["bc"].company.as_deref(), Some(COMPANY));
    assert_eq!(profile.systems["dv"].url, h.sb.dv_url());
    h.sb.shutdown().await;
}

const COMPANY: &str = seed::COMPANY_NAME;

#[tokio::test]
async fn key_filters_seek_the_rows_they_name_and_keep_other_conditions() {
    let h = start(Seed::Demo).await;
    let (all, _) = h.all(&h.bc("customers"), 100).await;
    let ids: Vec<String> = all
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() >= 4);
    let blocked: Vec<&Json> = all.iter().filter(|c| c["blocked"] != " ").collect();
    assert!(!blocked.is_empty());
    // Two named customers, in key order, paged one at a time; an unknown key names nothing.
    let filter = format!(
        "id eq {} or id eq {} or id eq 00000000-0000-0000-0000-00000000dead",
        ids[2], ids[0]
    );
    let (two, pages) = h
        .all(
            &h.bc(&format!("customers?$filter={}", filter.replace(' ', "%20"))),
            1,
        )
        .await;
    let got: Vec<&str> = two.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let mut want = vec![ids[0].as_str(), ids[2].as_str()];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(pages, 2);
    // A key list `and` another condition keeps only the rows passing both.
    let blocked_id = blocked[0]["id"].as_str().unwrap();
    let filter = format!(
        "(id eq {blocked_id} or id eq {}) and blocked eq ' '",
        ids[0]
    );
    let (open, _) = h
        .all(
            &h.bc(&format!("customers?$filter={}", filter.replace(' ', "%20"))),
            100,
        )
        .await;
    let open_ids: Vec<&str> = open.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let expected: Vec<&str> = [ids[0].as_str()]
        .into_iter()
        .filter(|id| *id != blocked_id)
        .collect();
    assert_eq!(open_ids, expected);
}

#[tokio::test]
async fn text_filters_seek_their_column_without_case_and_keep_other_conditions() {
    let h = start(Seed::Demo).await;
    let (all, _) = h.all(&h.bc("customers"), 100).await;
    let numbers: Vec<String> = all
        .iter()
        .map(|c| c["number"].as_str().unwrap().to_string())
        .collect();
    assert!(numbers.len() >= 3);
    // Numbers in another case, an unknown one, and two pages of one row: the same rows a scan
    // with the services' case-blind comparison finds, in key order.
    let filter = format!(
        "number eq '{}' or number eq '{}' or number eq 'NOSUCH'",
        numbers[0].to_lowercase(),
        numbers[2]
    );
    let (two, pages) = h
        .all(
            &h.bc(&format!("customers?$filter={}", filter.replace(' ', "%20"))),
            1,
        )
        .await;
    let mut got: Vec<&str> = two.iter().map(|c| c["number"].as_str().unwrap()).collect();
    got.sort();
    let mut want = vec![numbers[0].as_str(), numbers[2].as_str()];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(pages, 2);
    // Another condition `and`-ed still applies to what the column finds.
    let blocked: Vec<&Json> = all.iter().filter(|c| c["blocked"] != " ").collect();
    let b = blocked[0]["number"].as_str().unwrap();
    let filter = format!(
        "(number eq '{b}' or number eq '{}') and blocked eq ' '",
        numbers[0]
    );
    let (open, _) = h
        .all(
            &h.bc(&format!("customers?$filter={}", filter.replace(' ', "%20"))),
            100,
        )
        .await;
    let open: Vec<&str> = open.iter().map(|c| c["number"].as_str().unwrap()).collect();
    let want: Vec<&str> = [numbers[0].as_str()]
        .into_iter()
        .filter(|n| *n != b)
        .collect();
    assert_eq!(open, want);
}

#[tokio::test]
async fn more_companies_are_seeded_like_the_first_with_rows_of_their_own() {
    let h = start_with(SandboxConfig {
        seed: Seed::Demo,
        more_companies: 2,
        ..SandboxConfig::default()
    })
    .await;
    let names = h.sb.company_names();
    assert_eq!(names, [seed::COMPANY_NAME, "CRONUS 2", "CRONUS 3"]);
    let secret = h.sb.auth().client_secret.clone();
    let mut keys = std::collections::BTreeSet::new();
    let mut counts = Vec::new();
    for name in &names {
        let person = crate::sandbox::person::Person::new(&h.sb, &secret).in_company(name);
        let customers = person
            .rows(
                crate::sandbox::person::Service::BusinessCentral,
                "customers",
            )
            .await
            .unwrap();
        counts.push(customers.len());
        keys.extend(customers.iter().map(|c| c["id"].to_string()));
        assert!(
            h.sb.dataverse_company_id(name).is_some(),
            "{name} has its Dataverse company"
        );
    }
    assert!(
        counts[0] > 0 && counts.iter().all(|n| *n == counts[0]),
        "{counts:?}"
    );
    assert_eq!(
        keys.len(),
        counts.iter().sum::<usize>(),
        "every row has a key of its own"
    );
}
