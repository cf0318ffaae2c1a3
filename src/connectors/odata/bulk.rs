//! Creates in bulk: Dataverse's `CreateMultiple` action makes up to a `$batch`'s worth of rows
//! in one request, the fastest way Microsoft documents to write many rows. It answers the new
//! rows' keys and nothing else of them, and on a standard table it is one transaction: a row
//! the service refuses fails the whole request, and nothing is written. So only creates whose
//! key the sync chose go this way (a resent request meets its own rows as duplicates instead
//! of making them twice), and a refused request is sent again as a `$batch`, where every
//! create gets its own outcome.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use futures_util::future::join_all;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::client::Request;
use super::flavor::{logical_of, Flavor};
use super::{rows, ODataConnector};
use crate::connectors::{ConnectorError, TableRef, WriteOp, WriteOutcome};
use crate::odata::error::{ErrorBody, ErrorClass};

/// Dataverse's code for a path segment it does not know (an action it does not offer).
const UNKNOWN_SEGMENT: &str = "0x80060888";

/// What became of each write: its outcome where the bulk action settled it, `None` where it
/// is left to `$batch` (not a keyed create, or its request was refused as a whole).
pub(super) type Settled = Vec<Option<Result<WriteOutcome, ConnectorError>>>;

/// Whether creates may go in bulk to this connector's service: Dataverse, keys chosen by
/// the sync, and not turned off in the profile nor found missing on the service.
pub(super) fn offered(c: &ODataConnector) -> bool {
    c.endpoint.flavor == Flavor::Dataverse
        && c.endpoint.http.bulk_creates.unwrap_or(true)
        && c.endpoint.http.client_keys.unwrap_or(true)
        && !c.bulk_missing.load(Ordering::Relaxed)
}

/// Sends the keyed creates among `ops` in `CreateMultiple` requests of `per_request`, side by
/// side; the outcomes they settled, by operation.
pub(super) async fn create(
    c: &ODataConnector,
    table: TableRef<'_>,
    ops: &[WriteOp],
    per_request: usize,
) -> Settled {
    let mut settled: Settled = (0..ops.len()).map(|_| None).collect();
    let mut targets = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let WriteOp::Create {
            key: Some(key),
            fields,
        } = op
        else {
            continue;
        };
        match target(c, table, key, fields) {
            Ok(t) => targets.push((i, key.as_str(), t)),
            Err(e) => settled[i] = Some(Err(e)),
        }
    }
    let url = match c.collection(table.name).await {
        Ok(set) => format!("{set}/Microsoft.Dynamics.CRM.CreateMultiple"),
        Err(e) => {
            for (i, _, _) in &targets {
                settled[*i] = Some(Err(e.clone()));
            }
            return settled;
        }
    };
    let url = &url;
    let sent = join_all(targets.chunks(per_request.max(1)).map(|chunk| async move {
        let body = Body {
            targets: chunk.iter().map(|(_, _, t)| t).collect(),
        };
        let answer = match serde_json::to_vec(&body) {
            Ok(bytes) => send(c, url, bytes).await,
            Err(e) => Err(ConnectorError::Fatal(format!("CreateMultiple: {e}"))),
        };
        (chunk, answer)
    }))
    .await;
    for (chunk, answer) in sent {
        let keys: Vec<&str> = chunk.iter().map(|(_, k, _)| *k).collect();
        for ((i, key, _), outcome) in chunk.iter().zip(outcomes(c, &keys, answer)) {
            settled[*i] = outcome.map(|o| {
                o.map(|()| WriteOutcome {
                    key: key.to_string(),
                    modified_on: None,
                    etag: None,
                })
            });
        }
    }
    settled
}

/// A `CreateMultiple` request's body.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "Targets")]
    targets: Vec<&'a Map<String, Json>>,
}

/// One create as a target of `CreateMultiple`: the row's body, typed with its entity type.
fn target(
    c: &ODataConnector,
    table: TableRef<'_>,
    key: &str,
    fields: &std::collections::BTreeMap<String, crate::value::Value>,
) -> Result<Map<String, Json>, ConnectorError> {
    let mut body = rows::encode(c.endpoint.flavor, table.info, Some(key), fields)
        .map_err(ConnectorError::Rejected)?;
    if c.endpoint.http.ieee754_compatible {
        rows::numbers_as_strings(table.info, &mut body);
    }
    let Json::Object(mut map) = body else {
        return Err(ConnectorError::Fatal("a row encodes as an object".into()));
    };
    let logical = match &table.info.entity_type {
        Some(t) => t.clone(),
        None => logical_of(table.name),
    };
    map.insert(
        "@odata.type".into(),
        Json::String(format!("Microsoft.Dynamics.CRM.{logical}")),
    );
    Ok(map)
}

/// What one `CreateMultiple` request answered: its status and body, or why there is none.
type Answer = Result<(u16, Vec<u8>), ConnectorError>;

async fn send(c: &ODataConnector, url: &str, body: Vec<u8>) -> Answer {
    let request = Request {
        method: Method::POST,
        url: url.to_string(),
        headers: Vec::new(),
        body: Some(body),
        // Every target carries its key: run twice, the request makes nothing twice.
        idempotent: true,
    };
    let r = c.client.send(&request).await?;
    Ok((r.status.as_u16(), r.body))
}

/// The outcome of each of a request's creates (`keys`, in order): made; failed with the
/// request; or `None`, left to `$batch` because the service refused the request as a whole.
fn outcomes(
    c: &ODataConnector,
    keys: &[&str],
    answer: Answer,
) -> Vec<Option<Result<(), ConnectorError>>> {
    let system = &c.endpoint.system;
    let all = |r: Option<Result<(), ConnectorError>>| vec![r; keys.len()];
    let (status, body) = match answer {
        Ok(a) => a,
        // Lost, unreachable or not allowed: each create's fate is the request's, and the
        // engine looks for the rows of creates that may have run.
        Err(e) => return all(Some(Err(e))),
    };
    let error = ErrorBody::parse(&body);
    match status {
        200..=299 => all(Some(made(system, keys, &body))),
        404 | 405 | 501
            if error
                .as_ref()
                .is_none_or(|e| e.error.code == UNKNOWN_SEGMENT) =>
        {
            // The service has no such action (an older or on-premises Dataverse): `$batch`
            // from now on.
            c.bulk_missing.store(true, Ordering::Relaxed);
            tracing::info!(system = %system, "CreateMultiple is not offered; creates go in $batch");
            all(None)
        }
        _ => match crate::odata::error::classify(status, error.as_ref()) {
            // A row refused (or a key met again): nothing was written; each create is sent
            // again on its own to learn which.
            ErrorClass::Record => all(None),
            ErrorClass::Transient => all(Some(Err(ConnectorError::Transient(format!(
                "{system}: CreateMultiple: {}",
                error.map_or(format!("HTTP {status}"), |e| crate::redact::redact(
                    &e.describe()
                ))
            ))))),
        },
    }
}

/// Whether a successful answer names exactly the keys sent: anything else leaves what was
/// made unknown, which the engine settles by looking the rows up.
fn made(system: &str, keys: &[&str], body: &[u8]) -> Result<(), ConnectorError> {
    let ids: Option<HashSet<String>> = serde_json::from_slice::<Json>(body).ok().and_then(|b| {
        b.get("Ids")?
            .as_array()?
            .iter()
            .map(|id| id.as_str().map(str::to_lowercase))
            .collect()
    });
    let sent: HashSet<String> = keys.iter().map(|k| k.to_lowercase()).collect();
    match ids {
        Some(ids) if ids == sent && ids.len() == keys.len() => Ok(()),
        _ => Err(ConnectorError::Transient(format!(
            "{system}: CreateMultiple answered other keys than it was sent"
        ))),
    }
}
