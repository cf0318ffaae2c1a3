//! The endpoint Business Central's webhooks call, `POST {url}/notifications/{system}`:
//!
//! - With `?validationToken=…` (the service checking the URL, when a subscription is made or
//!   renewed): answers 200 with the token as plain text.
//! - With a notification (`{"value":[{subscriptionId, clientState, resource, changeType, …}]}`):
//!   checks each entry's `clientState` against the one this process gave its subscriptions, in
//!   constant time, wakes the jobs of the tables the genuine entries name (`collection`, "many
//!   changed", included) and answers 202. A request with neither a genuine entry nor one of this
//!   process's subscriptions is answered 401.
//!
//! Entries of another state are ignored rather than refused with the batch: the service
//! deletes every subscription of a batch answered with an error. A batch may mix this
//! process's entries with a stale subscription's to the same URL (a refusal of a batch of its
//! own alone then removes that one), or carry the state a subscription had before this process
//! took it over (what such entries report was made before, and the first run reads it).
//!
//! The notification's content is not trusted beyond the table it names: the job reads the
//! changes by its own watermark, so a forged or replayed notification costs one run at most.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use super::server::Server;
use super::wake::Wakeups;
use crate::profile::Secret;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What the endpoint checks notifications against and whom it wakes.
#[derive(Debug)]
pub struct Hooks {
    /// The client state given to each system's subscriptions, by system alias.
    states: BTreeMap<String, Secret>,
    /// The ids of the subscriptions this process keeps, by system alias.
    ids: Mutex<BTreeMap<String, BTreeSet<String>>>,
    wakeups: Arc<Wakeups>,
}

impl Hooks {
    /// Hooks for these systems, each with a fresh client state.
    pub fn new(systems: impl IntoIterator<Item = String>, wakeups: Arc<Wakeups>) -> Hooks {
        let states = systems
            .into_iter()
            .map(|alias| (alias, fresh_client_state()))
            .collect();
        Hooks {
            states,
            ids: Mutex::default(),
            wakeups,
        }
    }

    /// Sets the subscriptions this process keeps for a system.
    pub fn know(&self, system: &str, ids: BTreeSet<String>) {
        let mut known = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        known.insert(system.to_string(), ids);
    }

    /// Whether this process keeps the subscription `id` of `system`.
    fn keeps(&self, system: &str, id: &str) -> bool {
        let known = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        known.get(system).is_some_and(|ids| ids.contains(id))
    }

    /// The client state of a system's subscriptions.
    pub fn client_state(&self, system: &str) -> Option<&Secret> {
        self.states.get(system)
    }

    /// The systems listened for.
    pub fn systems(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }
}

/// A client state no one can guess: 256 random bits, new for each process, so none is kept
/// anywhere (a restart renews its subscriptions with its own).
fn fresh_client_state() -> Secret {
    Secret::new(format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    ))
}

/// Serves the notification endpoint on `addr` (port 0 picks one), on the current runtime.
pub async fn serve(addr: SocketAddr, hooks: Arc<Hooks>) -> std::io::Result<Server> {
    let app = Router::new()
        .route("/notifications/{system}", any(notified))
        .with_state(hooks);
    Server::serve(addr, app, "the notification endpoint").await
}

async fn notified(
    State(hooks): State<Arc<Hooks>>,
    Path(system): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let Some(state) = hooks.client_state(&system) else {
        return (StatusCode::NOT_FOUND, "no such system").into_response();
    };
    if let Some(token) = validation_token(&uri) {
        tracing::debug!(system = %system, "answering the service's check of the notification URL");
        return ([(header::CONTENT_TYPE, "text/plain")], token).into_response();
    }
    let entries = match serde_json::from_slice::<Json>(&body) {
        Ok(Json::Object(mut o)) => match o.remove("value") {
            Some(Json::Array(entries)) => entries,
            _ => return bad_request(&system, "a notification without `value`"),
        },
        _ => return bad_request(&system, "a notification that is not a JSON object"),
    };
    let expected = Sha256::digest(state.expose().as_bytes());
    let genuine: Vec<&Json> = entries
        .iter()
        .filter(|e| {
            let given = e.get("clientState").and_then(Json::as_str).unwrap_or("");
            // Digests compared in constant time: neither the state's bytes nor its length
            // show in how long a wrong guess takes to refuse.
            bool::from(Sha256::digest(given.as_bytes()).ct_eq(&expected))
        })
        .collect();
    if genuine.is_empty() {
        let ours = entries.iter().any(|e| {
            let id = e.get("subscriptionId").and_then(Json::as_str).unwrap_or("");
            hooks.keeps(&system, id)
        });
        if ours {
            tracing::info!(system = %system, entries = entries.len(), "ignored a notification with the client state a subscription had before this process took it over");
            return StatusCode::ACCEPTED.into_response();
        }
        tracing::warn!(system = %system, entries = entries.len(), "refused a notification whose client state is not this process's");
        return (StatusCode::UNAUTHORIZED, "unknown client state").into_response();
    }
    if genuine.len() < entries.len() {
        tracing::warn!(system = %system, ignored = entries.len() - genuine.len(), "ignored notification entries whose client state is not this process's");
    }
    let mut tables: Vec<String> = genuine
        .iter()
        .filter_map(|e| e.get("resource").and_then(Json::as_str))
        .filter_map(table_of_resource)
        .collect();
    tables.sort();
    tables.dedup();
    for table in &tables {
        hooks.wakeups.wake(&system, table);
    }
    tracing::info!(
        system = %system,
        entries = entries.len(),
        tables = %tables.join(","),
        "notified of changes"
    );
    StatusCode::ACCEPTED.into_response()
}

fn bad_request(system: &str, what: &str) -> Response {
    tracing::warn!(system = %system, "refused {what}");
    (
        StatusCode::BAD_REQUEST,
        format!("expected {{\"value\": [...]}}, got {what}"),
    )
        .into_response()
}

/// The `validationToken` of the service's check, if the request is one.
fn validation_token(uri: &Uri) -> Option<String> {
    let query = uri.query()?;
    let url = reqwest::Url::parse(&format!("http://localhost/?{query}")).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "validationToken")
        .map(|(_, v)| v.into_owned())
}

/// The table a notification's resource names: `api/v2.0/companies(…)/customers(…)` and
/// `…/customers?$filter=…` name `customers`.
pub fn table_of_resource(resource: &str) -> Option<String> {
    let path = resource.split('?').next()?;
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    let name = last.split('(').next()?;
    (!name.is_empty() && !name.eq_ignore_ascii_case("companies")).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::{serve, table_of_resource, Hooks, Wakeups};

    #[tokio::test]
    async fn genuine_entries_wake_their_tables_and_stale_ones_beside_them_are_ignored() {
        let wakeups = Arc::new(Wakeups::default());
        let hooks = Arc::new(Hooks::new(["bc".to_string()], wakeups.clone()));
        let state = hooks
            .client_state("bc")
            .map(|s| s.expose().to_string())
            .unwrap_or_default();
        let listener = serve(([127, 0, 0, 1], 0).into(), hooks)
            .await
            .unwrap_or_else(|e| panic!("listen: {e}"));
        let url = format!("http://{}/notifications/bc", listener.addr);
        let entry = |state: &str, table: &str| {
            json!({
                "subscriptionId": "5f1c",
                "clientState": state,
                "resource": format!("api/v2.0/companies(1f2e)/{table}(9a8b)"),
                "changeType": "updated",
            })
        };
        let post = |body: serde_json::Value| {
            let url = url.clone();
            async move {
                let r = reqwest::Client::new().post(url).json(&body).send().await;
                r.map(|r| r.status().as_u16()).unwrap_or(0)
            }
        };
        let mixed = json!({ "value": [entry("stale", "vendors"), entry(&state, "customers")] });
        assert_eq!(post(mixed).await, 202);
        let woken: Vec<_> = wakeups.take().into_iter().collect();
        assert_eq!(woken, [("bc".to_string(), "customers".to_string())]);
        let stale = json!({ "value": [entry("stale", "customers")] });
        assert_eq!(post(stale).await, 401);
        assert!(wakeups.take().is_empty());
        let unknown = format!("http://{}/notifications/dv", listener.addr);
        let r = reqwest::Client::new()
            .post(unknown)
            .json(&json!({}))
            .send()
            .await;
        assert_eq!(r.map(|r| r.status().as_u16()).unwrap_or(0), 404);
        listener.stop().await;
    }

    #[test]
    fn a_resource_names_its_table() {
        let cases = [
            ("api/v2.0/companies(1f2e)/customers(9a8b)", Some("customers")),
            ("/api/v2.0/companies(1f2e)/customers", Some("customers")),
            (
                "/api/v2.0/companies(1f2e)/salesInvoices?$filter=lastModifiedDateTime%20gt%202026-01-01T00:00:00Z",
                Some("salesInvoices"),
            ),
            ("api/v2.0/companies(1f2e)", None),
            ("", None),
        ];
        for (resource, table) in cases {
            assert_eq!(table_of_resource(resource).as_deref(), table, "{resource}");
        }
    }
}
