//! Business Central webhook subscriptions over HTTP: the handshake, renewal, deletion and
//! expiry of subscriptions, and the notifications a subscriber receives, read by a small
//! receiver on loopback that hands every notification to the test as it arrives.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use tokio::sync::mpsc;

use super::*;

/// The wait of notifications in these tests.
const DELAY: Duration = Duration::from_millis(50);

/// One notification as the receiver got it, and the status it answered.
#[derive(Debug)]
struct Notification {
    json: Json,
    raw: Vec<u8>,
    content_type: String,
    answered: u16,
}

impl Notification {
    /// Its entries as (subscription, resource, change type), sorted: a multiset.
    fn entries(&self) -> Vec<(String, String, String)> {
        let mut out: Vec<_> = self.json["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap().to_string();
                (s("subscriptionId"), s("resource"), s("changeType"))
            })
            .collect();
        out.sort();
        out
    }
}

/// What the receiver answers.
#[derive(Clone)]
struct Script {
    /// Whether handshakes get the token back (or something else).
    echo: Arc<Mutex<bool>>,
    /// The statuses of the next notifications; 200 when none is left.
    statuses: Arc<Mutex<VecDeque<u16>>>,
    handshakes: Arc<AtomicUsize>,
    tx: mpsc::UnboundedSender<Notification>,
}

/// A subscriber on loopback.
struct Receiver {
    url: String,
    script: Script,
    rx: mpsc::UnboundedReceiver<Notification>,
}

async fn receive(
    State(script): State<Script>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let query = uri.query().unwrap_or_default();
    let token = query
        .split('&')
        .find_map(|p| p.strip_prefix("validationToken="));
    if let Some(token) = token {
        script.handshakes.fetch_add(1, Ordering::SeqCst);
        assert!(body.is_empty(), "a handshake has no body");
        return if *script.echo.lock().unwrap() {
            (StatusCode::OK, format!("{token}\n"))
        } else {
            (StatusCode::OK, "not-the-token".into())
        };
    }
    let answered = script.statuses.lock().unwrap().pop_front().unwrap_or(200);
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    // Handed over before the answer: the service counts a delivery only once answered.
    let _ = script.tx.send(Notification {
        json: serde_json::from_slice(&body).unwrap_or(Json::Null),
        raw: body.to_vec(),
        content_type,
        answered,
    });
    (StatusCode::from_u16(answered).unwrap(), String::new())
}

impl Receiver {
    async fn start() -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let script = Script {
            echo: Arc::new(Mutex::new(true)),
            statuses: Arc::default(),
            handshakes: Arc::default(),
            tx,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(script.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hooks/bc?source=sandbox"),
            script,
            rx,
        }
    }

    /// The next notification (the test fails when none comes within ten seconds).
    async fn next(&mut self) -> Notification {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("no notification came")
            .unwrap()
    }

    /// Fails when a notification came that the test did not read.
    fn nothing_more(&mut self) {
        if let Ok(n) = self.rx.try_recv() {
            panic!("an unexpected notification: {}", n.json);
        }
    }

    fn answer_with(&self, statuses: &[u16]) {
        self.script.statuses.lock().unwrap().extend(statuses);
    }

    fn echo(&self, echo: bool) {
        *self.script.echo.lock().unwrap() = echo;
    }

    fn handshakes(&self) -> usize {
        self.script.handshakes.load(Ordering::SeqCst)
    }
}

fn company() -> String {
    seed::companies(0)[0].id.clone()
}

/// The resource of an entity set of the company, as a client subscribes to it.
fn resource(set: &str) -> String {
    format!("/api/v2.0/companies({})/{set}", company())
}

/// The resource notifications name a row by.
fn row(set: &str, id: &str) -> String {
    format!("api/v2.0/companies({})/{set}({id})", company())
}

async fn start_notifying(limits: Limits) -> Harness {
    start_with(SandboxConfig {
        limits: Limits {
            notify_delay: DELAY,
            ..limits
        },
        ..SandboxConfig::default()
    })
    .await
}

impl Harness {
    fn subscriptions(&self) -> String {
        format!("{}/subscriptions", self.sb.bc_url())
    }

    fn subscription(&self, id: &str) -> String {
        format!("{}('{id}')", self.subscriptions())
    }

    async fn renew(&self, id: &str, tag: Option<&str>, body: Json) -> Answer {
        let headers: Vec<(&str, &str)> = tag.map(|t| ("If-Match", t)).into_iter().collect();
        self.send(Method::PATCH, &self.subscription(id), &headers, Some(&body))
            .await
    }

    async fn subscribe(&self, url: &str, resource: &str, state: &str) -> Answer {
        let body = json!({"notificationUrl": url, "resource": resource, "clientState": state});
        self.send(Method::POST, &self.subscriptions(), &[], Some(&body))
            .await
    }

    /// A subscription made, its id.
    async fn subscribed(&self, url: &str, set: &str, state: &str) -> String {
        let r = self.subscribe(url, &resource(set), state).await;
        assert_eq!(r.status, 201, "{}", r.json);
        r.json["subscriptionId"].as_str().unwrap().to_string()
    }

    /// A Business Central `$batch` of (method, URL under the company, If-Match, body).
    async fn bc_batch(&self, ops: &[(&str, String, Json)]) -> Vec<Json> {
        let requests: Vec<Json> = ops
            .iter()
            .enumerate()
            .map(|(i, (method, url, body))| {
                let mut r = json!({"id": i.to_string(), "method": method, "url": format!("companies({})/{url}", company()), "headers": {"If-Match": "*"}});
                if !body.is_null() {
                    r["body"] = body.clone();
                }
                r
            })
            .collect();
        let url = format!("{}/$batch", self.sb.bc_url());
        let r = self
            .send(
                Method::POST,
                &url,
                &[],
                Some(&json!({ "requests": requests })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        let responses = r.json["responses"].as_array().unwrap().clone();
        assert!(
            responses.iter().all(|x| x["status"].as_u64() < Some(300)),
            "{}",
            r.json
        );
        responses
    }

    /// A customer made alone, as the service answered it.
    async fn customer(&self, name: &str) -> Json {
        let body = json!({ "displayName": name });
        let r = self
            .send(Method::POST, &self.bc("customers"), &[], Some(&body))
            .await;
        assert_eq!(r.status, 201, "{}", r.json);
        r.json
    }
}

fn id_of(row: &Json) -> String {
    row["id"].as_str().unwrap().to_string()
}

fn triple(sub: &str, resource: String, change: &str) -> (String, String, String) {
    (sub.to_string(), resource, change.to_string())
}

#[tokio::test]
async fn a_subscription_is_made_after_the_handshake_and_read_back() {
    let h = start_notifying(Limits::default()).await;
    let mut receiver = Receiver::start().await;
    let before = jiff::Timestamp::now();
    let r = h
        .subscribe(&receiver.url, &resource("customers"), "s3cret")
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(receiver.handshakes(), 1);
    let id = r.json["subscriptionId"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert!(id
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(r.json["notificationUrl"], json!(receiver.url));
    assert_eq!(r.json["resource"], json!(resource("customers")));
    assert_eq!(r.json["clientState"], "s3cret");
    uuid::Uuid::parse_str(r.json["userId"].as_str().unwrap()).unwrap();
    let expires: jiff::Timestamp = r.json["expirationDateTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let three_days = jiff::SignedDuration::from_hours(72);
    assert!(
        expires >= before.checked_add(three_days).unwrap() - jiff::SignedDuration::from_millis(1)
    );
    assert!(expires <= jiff::Timestamp::now().checked_add(three_days).unwrap());
    let etag = r.json["@odata.etag"].as_str().unwrap().to_string();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(r.header("etag").as_deref(), Some(etag.as_str()));
    // Read back: alone, and in the list; an unknown id is not found.
    let one = h.get(&h.subscription(&id)).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json["@odata.etag"], json!(etag));
    let list = h.get(&h.subscriptions()).await;
    assert_eq!(list.json["value"].as_array().unwrap().len(), 1);
    assert_eq!(list.json["value"][0]["subscriptionId"], json!(id));
    assert_eq!(h.get(&h.subscription(&"0".repeat(32))).await.status, 404);
    let info = h.sb.control().subscriptions();
    assert_eq!(info.len(), 1);
    assert_eq!((info[0].id.as_str(), info[0].renewals), (id.as_str(), 0));
    assert_eq!(info[0].expires, expires);
    receiver.nothing_more();
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_failed_handshake_makes_no_subscription() {
    let h = start_notifying(Limits::default()).await;
    let mut receiver = Receiver::start().await;
    h.subscribed(&receiver.url, "customers", "").await;
    receiver.echo(false);
    let refused = h.subscribe(&receiver.url, &resource("vendors"), "").await;
    assert_eq!(refused.status, 400, "{}", refused.json);
    let message = refused.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("handshake"), "{message}");
    assert!(message.contains("CorrelationId"), "{message}");
    assert_eq!(receiver.handshakes(), 2);
    assert_eq!(
        h.get(&h.subscriptions()).await.json["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    receiver.nothing_more();
    h.sb.shutdown().await;
}

#[tokio::test]
async fn subscriptions_are_checked_before_the_handshake() {
    let h = start_notifying(Limits::default()).await;
    let receiver = Receiver::start().await;
    let url = receiver.url.as_str();
    let custom_api =
        h.sb.bc_url()
            .replace("api/v2.0", "api/syncmap/sandbox/v1.0");
    let absolute = format!("{}/companies({})/customers", h.sb.bc_url(), company());
    let unknown = resource("customers").replace(&company(), &uuid::Uuid::new_v4().to_string());
    let refused = [
        ("not a URL", "/hooks", resource("customers"), String::new()),
        (
            "not http",
            "ftp://127.0.0.1/x",
            resource("customers"),
            String::new(),
        ),
        ("an unknown company", url, unknown, String::new()),
        (
            "no webhooks on contacts",
            url,
            resource("contacts"),
            String::new(),
        ),
        ("no such set", url, resource("nosuch"), String::new()),
        (
            "one row",
            url,
            format!("{}({})", resource("customers"), company()),
            String::new(),
        ),
        (
            "another route",
            url,
            resource("customers").replace("v2.0", "v1.0"),
            String::new(),
        ),
        ("a long state", url, resource("customers"), "x".repeat(2049)),
    ];
    for (why, url, resource, state) in refused {
        let r = h.subscribe(url, &resource, &state).await;
        assert_eq!(r.status, 400, "{why}: {}", r.json);
        assert!(r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CorrelationId"));
    }
    assert_eq!(receiver.handshakes(), 0, "refused before any handshake");
    let unknown_property =
        json!({"notificationUrl": url, "resource": resource("customers"), "nosuch": 1});
    let r = h
        .send(
            Method::POST,
            &h.subscriptions(),
            &[],
            Some(&unknown_property),
        )
        .await;
    assert_eq!(r.status, 400);
    // Relative without the slash, absolute, the longest state, and the custom route's own
    // tables under its own subscriptions.
    let relative = resource("customers").trim_start_matches('/').to_string();
    for resource in [relative, absolute] {
        let r = h.subscribe(url, &resource, &"x".repeat(2048)).await;
        assert_eq!(r.status, 201, "{resource}: {}", r.json);
        assert_eq!(r.json["resource"], json!(resource));
    }
    let contacts = format!(
        "/api/syncmap/sandbox/v1.0/companies({})/contacts",
        company()
    );
    let body = json!({"notificationUrl": url, "resource": contacts});
    let r = h
        .send(
            Method::POST,
            &format!("{custom_api}/subscriptions"),
            &[],
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["clientState"], "");
    assert_eq!(receiver.handshakes(), 3);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_renewal_needs_the_current_etag_and_a_handshake() {
    let h = start_notifying(Limits::default()).await;
    let first = Receiver::start().await;
    let made = h.subscribe(&first.url, &resource("customers"), "a").await;
    let id = made.json["subscriptionId"].as_str().unwrap().to_string();
    let etag = made.json["@odata.etag"].as_str().unwrap().to_string();
    let missing = h.renew(&id, None, json!({})).await;
    assert_eq!(missing.status, 400, "no If-Match: {}", missing.json);
    let stale = h.renew(&id, Some("W/\"JzE7MTsn\""), json!({})).await;
    assert_eq!(stale.status, 412);
    assert_eq!(first.handshakes(), 1, "no handshake for a refused renewal");
    // The handshake fails: nothing changes.
    first.echo(false);
    let failed = h.renew(&id, Some(&etag), json!({"clientState": "b"})).await;
    assert_eq!(failed.status, 400, "{}", failed.json);
    assert_eq!(first.handshakes(), 2);
    let unchanged = h.get(&h.subscription(&id)).await;
    assert_eq!(unchanged.json["@odata.etag"], json!(etag));
    assert_eq!(unchanged.json["clientState"], "a");
    assert_eq!(h.sb.control().subscriptions()[0].renewals, 0);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_renewal_handshakes_with_the_new_url_and_moves_the_expiry() {
    let h = start_notifying(Limits {
        subscription_ttl: Duration::from_secs(3600),
        ..Limits::default()
    })
    .await;
    let first = Receiver::start().await;
    let second = Receiver::start().await;
    let made = h.subscribe(&first.url, &resource("customers"), "a").await;
    let id = made.json["subscriptionId"].as_str().unwrap().to_string();
    let etag = made.json["@odata.etag"].as_str().unwrap().to_string();
    let expires = |j: &Json| -> jiff::Timestamp {
        j["expirationDateTime"].as_str().unwrap().parse().unwrap()
    };
    // The lifetime of renewals is the one in force when they are made.
    h.sb.control().set_limits(Limits {
        subscription_ttl: Duration::from_secs(3 * 24 * 3600),
        notify_delay: DELAY,
        ..Limits::default()
    });
    let renewed = h
        .renew(
            &id,
            Some(&etag),
            json!({"notificationUrl": second.url, "clientState": "b"}),
        )
        .await;
    assert_eq!(renewed.status, 200, "{}", renewed.json);
    assert_eq!((first.handshakes(), second.handshakes()), (1, 1));
    assert_ne!(renewed.json["@odata.etag"], json!(etag));
    assert_eq!(renewed.json["notificationUrl"], json!(second.url));
    assert_eq!(renewed.json["clientState"], "b");
    assert!(
        expires(&renewed.json)
            > expires(&made.json)
                .checked_add(jiff::SignedDuration::from_hours(24))
                .unwrap()
    );
    let info = &h.sb.control().subscriptions()[0];
    assert_eq!(
        (info.renewals, info.notification_url.as_str()),
        (1, second.url.as_str())
    );
    // The old ETag no longer matches; the resource cannot change.
    assert_eq!(h.renew(&id, Some(&etag), json!({})).await.status, 412);
    let new_tag = renewed.json["@odata.etag"].as_str().unwrap().to_string();
    let moved = h
        .renew(
            &id,
            Some(&new_tag),
            json!({"resource": resource("vendors")}),
        )
        .await;
    assert_eq!(moved.status, 400);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_deletion_honours_if_match_when_sent() {
    let h = start_notifying(Limits::default()).await;
    let receiver = Receiver::start().await;
    let a = h.subscribed(&receiver.url, "customers", "").await;
    let b = h.subscribed(&receiver.url, "customers", "").await;
    let stale = [("If-Match", "W/\"JzE7MTsn\"")];
    let refused = h
        .send(Method::DELETE, &h.subscription(&a), &stale, None)
        .await;
    assert_eq!(refused.status, 412);
    let tag = h.get(&h.subscription(&a)).await.json["@odata.etag"]
        .as_str()
        .unwrap()
        .to_string();
    let deleted = h
        .send(
            Method::DELETE,
            &h.subscription(&a),
            &[("If-Match", tag.as_str())],
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        h.send(Method::DELETE, &h.subscription(&a), &[], None)
            .await
            .status,
        404
    );
    assert_eq!(h.get(&h.subscription(&a)).await.status, 404);
    assert_eq!(
        h.send(Method::DELETE, &h.subscription(&b), &[], None)
            .await
            .status,
        204
    );
    assert!(h.sb.control().subscriptions().is_empty());
    h.sb.shutdown().await;
}

#[tokio::test]
async fn an_expired_subscription_is_gone_and_not_notified() {
    let h = start_notifying(Limits::default()).await;
    let mut receiver = Receiver::start().await;
    let expired = h.subscribed(&receiver.url, "customers", "").await;
    h.sb.control().expire_subscriptions();
    assert!(h.sb.control().subscriptions().is_empty());
    assert!(h.get(&h.subscriptions()).await.json["value"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(h.get(&h.subscription(&expired)).await.status, 404);
    let renew = h
        .send(
            Method::PATCH,
            &h.subscription(&expired),
            &[("If-Match", "*")],
            Some(&json!({})),
        )
        .await;
    assert_eq!(renew.status, 404);
    // A live subscription of the same URL: the one notification of the batch is its alone.
    let live = h.subscribed(&receiver.url, "vendors", "").await;
    let made = h
        .bc_batch(&[
            ("POST", "customers".into(), json!({"displayName": "Gone"})),
            ("POST", "vendors".into(), json!({"displayName": "Kept"})),
        ])
        .await;
    let vendor = id_of(&made[1]["body"]);
    let n = receiver.next().await;
    assert_eq!(
        n.entries(),
        vec![triple(&live, row("vendors", &vendor), "created")]
    );
    h.sb.control().notifications_idle().await;
    receiver.nothing_more();
    h.sb.shutdown().await;
}

#[tokio::test]
async fn shutting_down_gives_up_the_notifications_waiting() {
    let h = start_with(SandboxConfig {
        limits: Limits {
            notify_delay: Duration::from_secs(3600),
            ..Limits::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let receiver = Receiver::start().await;
    h.subscribed(&receiver.url, "customers", "").await;
    h.customer("Never notified").await;
    let control = h.sb.control();
    tokio::time::timeout(Duration::from_secs(5), h.sb.shutdown())
        .await
        .expect("the shutdown waited for the notification");
    tokio::time::timeout(Duration::from_secs(5), control.notifications_idle())
        .await
        .expect("the notification outlived the sandbox");
    assert_eq!(control.notifications_sent(), 0);
}

mod notifications;
