//! Creates in bulk: Dataverse's `CreateMultiple` action makes up to a `$batch`'s worth of rows
//! in one request, the fastest way Microsoft documents to write many rows. It answers the new
//! rows' keys and nothing else of them, and on a standard table it is one transaction: a row
//! the service refuses fails the whole request, and nothing is written. So only creates whose
//! key the sync chose go this way — a request resent after a lost answer meets its own rows
//! as taken keys, and those rows are read back instead of made twice — and a request refused
//! for any other reason is sent again as a `$batch`, where every create gets its own outcome.
use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::future::join_all;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::client::Request;
use super::flavor::{logical_of, Flavor};
use super::{read, rows, ODataConnector};
use crate::connectors::{ConnectorError, TableRef, WriteOp, WriteOutcome};
use crate::odata::error::ErrorBody;
use crate::value::Value;

/// Dataverse's error code for a create whose key is taken.
const DUPLICATE_KEY: &str = "0x80040237";

/// What became of each write: its outcome where the bulk action settled it, `None` where it
/// is left to `$batch` (not a keyed create, or its request was refused as a whole).
pub(super) type Settled = Vec<Option<Result<WriteOutcome, ConnectorError>>>;

/// Whether creates may go in bulk to this table: a Dataverse table, keys chosen by the sync,
/// writes batched, bulk creates not turned off in the profile, and the action not found
/// missing on the table.
pub(super) fn offered(c: &ODataConnector, table: &str) -> bool {
    let http = &c.endpoint.http;
    c.endpoint.flavor == Flavor::Dataverse
        && http.bulk_creates.unwrap_or(true)
        && http.client_keys.unwrap_or(c.endpoint.flavor.client_keys())
        && c.endpoint.batch_format().is_some()
        && !c.lacks_bulk(table)
}

/// One keyed create on its way: its place among the writes, its key, and its row as a target.
type Target<'o> = (usize, &'o str, Map<String, Json>);

/// Sends the keyed creates among `ops` in `CreateMultiple` requests of `per_request`, side by
/// side; the outcomes they settled, by operation.
pub(super) async fn create(
    c: &ODataConnector,
    table: TableRef<'_>,
    ops: &[WriteOp],
    per_request: usize,
) -> Settled {
    let mut settled: Settled = (0..ops.len()).map(|_| None).collect();
    let mut targets: Vec<Target<'_>> = Vec::new();
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
        // Left to `$batch`, which meets the same failure and reports it per write.
        Err(_) => return settled,
    };
    let url = &url;
    let sent = join_all(
        targets
            .chunks(per_request.max(1))
            .map(|chunk| async move { (chunk, create_chunk(c, table, url, chunk).await) }),
    )
    .await;
    for (chunk, outcomes) in sent {
        for ((i, _, _), outcome) in chunk.iter().zip(outcomes) {
            settled[*i] = outcome;
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
    fields: &BTreeMap<String, Value>,
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

/// Sends one chunk of creates as a `CreateMultiple`; the outcome of each, or `None` for those
/// left to `$batch`.
async fn create_chunk(
    c: &ODataConnector,
    table: TableRef<'_>,
    url: &str,
    chunk: &[Target<'_>],
) -> Vec<Option<Result<WriteOutcome, ConnectorError>>> {
    let keys: Vec<&str> = chunk.iter().map(|(_, k, _)| *k).collect();
    let all = |r: Option<Result<WriteOutcome, ConnectorError>>| vec![r; keys.len()];
    let body = Body {
        targets: chunk.iter().map(|(_, _, t)| t).collect(),
    };
    let request = match serde_json::to_vec(&body) {
        Ok(bytes) => Request {
            method: Method::POST,
            url: url.to_string(),
            headers: Vec::new(),
            body: Some(bytes),
            // Every target carries its key: run twice, the request makes nothing twice.
            idempotent: true,
        },
        Err(_) => return all(None),
    };
    let r = match c.client.send(&request).await {
        Ok(r) => r,
        // No answer (lost, unreachable, throttled or failing past the retries) or not
        // allowed: each create's fate is the request's, and the engine looks for the rows of
        // creates that may have run.
        Err(e) => return all(Some(Err(e))),
    };
    let status = r.status.as_u16();
    let error = ErrorBody::parse(&r.body);
    let system = &c.endpoint.system;
    match status {
        200..=299 => match made(system, &keys, &r.body) {
            Ok(()) => keys.iter().map(|k| Some(Ok(written_key(k)))).collect(),
            Err(e) => all(Some(Err(e))),
        },
        404 | 405 | 501 if error.as_ref().is_some_and(names_the_action) => {
            // This table (or this service, older or on premises) has no such action.
            c.mark_lacks_bulk(table.name);
            tracing::info!(system = %system, table = table.name, "CreateMultiple is not offered; creates go in $batch");
            all(None)
        }
        // A resent request meeting the rows its first attempt made (its answer was lost),
        // or a create of an earlier run whose answer was lost: the rows there are settled as
        // made, the others sent again in `$batch`.
        409 | 412 => found_or_left(c, table, &keys).await,
        _ if error
            .as_ref()
            .is_some_and(|e| e.error.code == DUPLICATE_KEY) =>
        {
            found_or_left(c, table, &keys).await
        }
        // Any other refusal — a row the service refuses, a plugin failing, a time limit —
        // wrote nothing: every create is sent again on its own, to learn which it was.
        _ => all(None),
    }
}

/// What a create the service answered made, all the engine keeps of it: its key.
fn written_key(key: &str) -> WriteOutcome {
    WriteOutcome {
        key: key.to_string(),
        modified_on: None,
        etag: None,
    }
}

/// Whether an error is about the action's name: a service without `CreateMultiple` answers
/// "Resource not found for the segment 'Microsoft.Dynamics.CRM.CreateMultiple'".
fn names_the_action(e: &ErrorBody) -> bool {
    e.error.message.contains("CreateMultiple")
}

/// After a request refused for a key already taken: the rows with these keys that exist
/// (made by a first attempt whose answer was lost) as made; the others left to `$batch`.
async fn found_or_left(
    c: &ODataConnector,
    table: TableRef<'_>,
    keys: &[&str],
) -> Vec<Option<Result<WriteOutcome, ConnectorError>>> {
    let wanted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    let Ok(rows) = read::by_keys(c, table, &wanted).await else {
        return vec![None; keys.len()];
    };
    let mut found: HashMap<String, WriteOutcome> = rows
        .into_iter()
        .map(|r| {
            let outcome = WriteOutcome {
                key: r.key.clone(),
                modified_on: r.modified_on,
                etag: r.etag,
            };
            (r.key.to_lowercase(), outcome)
        })
        .collect();
    keys.iter()
        .map(|k| found.remove(&k.to_lowercase()).map(Ok))
        .collect()
}

/// Whether a successful answer names exactly the keys sent. An unreadable one leaves what was
/// made unknown, which the engine settles by looking the rows up by key; one naming other
/// keys means the service does not keep the keys it is sent, and rows the sync cannot find
/// again would be made on every run.
fn made(system: &str, keys: &[&str], body: &[u8]) -> Result<(), ConnectorError> {
    let ids: Option<Vec<String>> = serde_json::from_slice::<Json>(body).ok().and_then(|b| {
        b.get("Ids")?
            .as_array()?
            .iter()
            .map(|id| id.as_str().map(str::to_lowercase))
            .collect()
    });
    let Some(ids) = ids else {
        return Err(ConnectorError::Transient(format!(
            "{system}: CreateMultiple answered without the keys of the rows it made"
        )));
    };
    let sent: HashSet<String> = keys.iter().map(|k| k.to_lowercase()).collect();
    let answered: HashSet<String> = ids.iter().cloned().collect();
    if answered == sent && ids.len() == keys.len() {
        Ok(())
    } else {
        Err(ConnectorError::Fatal(format!(
            "{system}: CreateMultiple made rows under other keys than the ones it was sent; set `bulk_creates = false` for this system"
        )))
    }
}
