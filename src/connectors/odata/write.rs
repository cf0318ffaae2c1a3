//! Writes: each operation becomes an HTTP request (POST, PATCH with `If-Match`, DELETE with
//! `If-Match`); they travel in `$batch` requests of the service's size — or one by one when the
//! profile says `batch_size = 1` — sent concurrently, and every answer becomes one outcome, so
//! one refused row does not fail its neighbours.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::Value as Json;

use super::client::Request;
use super::flavor::{BatchFormat, Flavor};
use super::{bulk, read, rows, ODataConnector};
use crate::connectors::{ConnectorError, TableRef, WriteOp, WriteOutcome};
use crate::odata::batch::{self, HttpRequest, HttpResponse, Part};
use crate::odata::error::{classify, ErrorBody, ErrorClass};
use crate::odata::json_batch;
use crate::odata::literal;

/// Dataverse's error code for a create whose key is taken.
const DUPLICATE_KEY: &str = "0x80040237";

/// One operation as an HTTP request.
struct Prepared {
    method: Method,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    /// The row's key where known before sending (updates, deletes, keyed creates).
    key: Option<String>,
    idempotent: bool,
}

/// One operation's answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The part's error message, redacted: a service may echo what it was sent.
    fn message(&self) -> String {
        match ErrorBody::parse(&self.body) {
            Some(b) => crate::redact::redact(&b.describe()),
            None => format!("HTTP {}", self.status),
        }
    }

    fn code(&self) -> String {
        ErrorBody::parse(&self.body)
            .map(|b| b.error.code)
            .unwrap_or_default()
    }
}

/// What became of each operation's request: its answer or why there is none; `None` when it
/// was not sent.
type Answers = Vec<Option<Result<Answer, ConnectorError>>>;

/// Carries out writes; one result per operation, in order. With `keys_only` (the caller needs
/// no version of the rows creates make), creates may go in bulk (see [`bulk`]).
pub async fn write(
    c: &ODataConnector,
    table: TableRef<'_>,
    ops: &[WriteOp],
    keys_only: bool,
) -> Vec<Result<WriteOutcome, ConnectorError>> {
    if !(keys_only && bulk::offered(c, table.name)) {
        let all: Vec<&WriteOp> = ops.iter().collect();
        return write_each(c, table, &all).await;
    }
    let mut settled = bulk::create(c, table, ops, per_batch(c)).await;
    let rest: Vec<&WriteOp> = ops
        .iter()
        .zip(&settled)
        .filter(|(_, s)| s.is_none())
        .map(|(op, _)| op)
        .collect();
    let mut rest = write_each(c, table, &rest).await.into_iter();
    settled
        .iter_mut()
        .map(|s| match s.take() {
            Some(outcome) => outcome,
            None => rest.next().unwrap_or_else(|| {
                Err(ConnectorError::Fatal(
                    "a write was left without an outcome".into(),
                ))
            }),
        })
        .collect()
}

/// Carries out writes, each its own request or a part of a `$batch`; one result per
/// operation, in order.
async fn write_each(
    c: &ODataConnector,
    table: TableRef<'_>,
    ops: &[&WriteOp],
) -> Vec<Result<WriteOutcome, ConnectorError>> {
    let mut prepared = Vec::with_capacity(ops.len());
    for op in ops {
        prepared.push(prepare(c, table, op).await);
    }
    let sendable: Vec<usize> = (0..ops.len()).filter(|i| prepared[*i].is_ok()).collect();
    let per_batch = per_batch(c);
    let format = c.endpoint.batch_format().filter(|_| per_batch > 1);
    let answers = match format {
        Some(format) => send_batched(c, format, per_batch, &prepared, &sendable).await,
        None => send_singly(c, &prepared, &sendable).await,
    };
    let mut outcomes = Vec::with_capacity(ops.len());
    for ((op, p), answer) in ops.iter().zip(prepared).zip(answers) {
        outcomes.push(match (p, answer) {
            (Err(e), _) => Err(e),
            (Ok(_), None) => Err(ConnectorError::Transient("not sent".into())),
            (Ok(_), Some(Err(e))) => Err(e),
            (Ok(p), Some(Ok(a))) => outcome(c, table, op, &p, a).await,
        });
    }
    outcomes
}

/// Operations per `$batch`: the profile's `batch_size`, at most the service's limit, at
/// least one.
fn per_batch(c: &ODataConnector) -> usize {
    let limit = c.endpoint.flavor.max_batch();
    c.endpoint
        .http
        .batch_size
        .unwrap_or(limit)
        .min(limit)
        .max(1)
}

/// Sends the sendable operations in concurrent `$batch` requests; the answers by operation.
async fn send_batched(
    c: &ODataConnector,
    format: BatchFormat,
    per_batch: usize,
    prepared: &[Result<Prepared, ConnectorError>],
    sendable: &[usize],
) -> Answers {
    let mut answers: Answers = (0..prepared.len()).map(|_| None).collect();
    // Batches are filled before more are sent side by side: a request is what the services
    // budget (6,000 per five minutes), and a service runs a batch's operations one by one
    // whether they come in one request or are spread over several.
    let sent = join_all(sendable.chunks(per_batch.max(1)).map(|chunk| async move {
        let parts: Vec<&Prepared> = chunk
            .iter()
            .filter_map(|i| prepared[*i].as_ref().ok())
            .collect();
        (chunk, send_batch(c, format, &parts).await)
    }))
    .await;
    for (chunk, result) in sent {
        match result {
            Ok(list) => {
                let mut list = list.into_iter();
                for i in chunk {
                    answers[*i] = Some(list.next().unwrap_or_else(|| {
                        Err(ConnectorError::Transient(
                            "not run: the batch stopped at an earlier failure".into(),
                        ))
                    }));
                }
            }
            Err(e) => {
                for i in chunk {
                    answers[*i] = Some(Err(e.clone()));
                }
            }
        }
    }
    answers
}

/// Sends the sendable operations one request each, concurrently; the answers by operation.
async fn send_singly(
    c: &ODataConnector,
    prepared: &[Result<Prepared, ConnectorError>],
    sendable: &[usize],
) -> Answers {
    let mut answers: Answers = (0..prepared.len()).map(|_| None).collect();
    let sent = join_all(sendable.iter().map(|i| async {
        let Ok(p) = &prepared[*i] else {
            return (*i, Err(ConnectorError::Fatal("not prepared".into())));
        };
        (*i, send_one(c, p).await)
    }))
    .await;
    for (i, a) in sent {
        answers[i] = Some(a);
    }
    answers
}

/// The request of one operation; a value that cannot be sent fails only its own row.
async fn prepare(
    c: &ODataConnector,
    table: TableRef<'_>,
    op: &WriteOp,
) -> Result<Prepared, ConnectorError> {
    let flavor = c.endpoint.flavor;
    let json = |key: Option<&str>, fields| {
        let mut body =
            rows::encode(flavor, table.info, key, fields).map_err(ConnectorError::Rejected)?;
        if c.endpoint.http.ieee754_compatible {
            rows::numbers_as_strings(table.info, &mut body);
        }
        Ok(body.to_string().into_bytes())
    };
    let if_match = |etag: &Option<String>| etag.clone().unwrap_or_else(|| "*".into());
    let returned = returned_select(flavor, table);
    Ok(match op {
        WriteOp::Create { key, fields } => Prepared {
            method: Method::POST,
            url: format!("{}{returned}", c.collection(table.name).await?),
            headers: vec![("Prefer", "return=representation".into())],
            body: Some(json(key.as_deref(), fields)?),
            key: key.clone(),
            // A create with a key of ours is recognised if it ran; one without could run twice.
            idempotent: key.is_some(),
        },
        WriteOp::Update { key, etag, fields } => Prepared {
            method: Method::PATCH,
            url: format!("{}{returned}", c.entity(table, key).await?),
            // `If-Match` also keeps an update of a vanished row from creating it (upsert).
            headers: vec![
                ("Prefer", "return=representation".into()),
                ("If-Match", if_match(etag)),
            ],
            body: Some(json(None, fields)?),
            key: Some(key.clone()),
            idempotent: true,
        },
        WriteOp::Delete { key, etag } => Prepared {
            method: Method::DELETE,
            url: c.entity(table, key).await?,
            headers: vec![("If-Match", if_match(etag))],
            body: None,
            key: Some(key.clone()),
            idempotent: true,
        },
    })
}

/// The query a write's URL ends with: what the engine keeps of the row a write returns is
/// its key and version, so where the service allows, only those come back (`?$select=…`).
fn returned_select(flavor: Flavor, table: TableRef<'_>) -> String {
    if !flavor.selects_written() {
        return String::new();
    }
    let info = table.info;
    let mut names = vec![info.key.as_str()];
    names.extend(info.modified_on.as_deref());
    format!("?{}", literal::query(&[("$select", &names.join(","))]))
}

async fn send_one(c: &ODataConnector, p: &Prepared) -> Result<Answer, ConnectorError> {
    let request = Request {
        method: p.method.clone(),
        url: p.url.clone(),
        headers: p.headers.clone(),
        body: p.body.clone(),
        idempotent: p.idempotent,
    };
    let r = c.client.send(&request).await?;
    Ok(Answer {
        status: r.status.as_u16(),
        headers: r
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        body: r.body,
    })
}

/// Sends operations in one `$batch`; the answers in order (fewer when the service stopped).
async fn send_batch(
    c: &ODataConnector,
    format: BatchFormat,
    parts: &[&Prepared],
) -> Result<Vec<Result<Answer, ConnectorError>>, ConnectorError> {
    let idempotent = parts.iter().all(|p| p.idempotent);
    match format {
        BatchFormat::Multipart => send_multipart(c, parts, idempotent).await,
        BatchFormat::Json => send_json(c, parts, idempotent).await,
    }
}

/// A multipart `$batch` (Dataverse's), every operation a part of its own.
async fn send_multipart(
    c: &ODataConnector,
    parts: &[&Prepared],
    idempotent: bool,
) -> Result<Vec<Result<Answer, ConnectorError>>, ConnectorError> {
    let system = &c.endpoint.system;
    let boundary = batch::new_boundary("batch_");
    let requests: Vec<Part<HttpRequest>> = parts.iter().map(|p| multipart_part(c, p)).collect();
    let request = Request {
        method: Method::POST,
        url: format!("{}/$batch", c.endpoint.url),
        headers: vec![
            ("Content-Type", batch::content_type(&boundary)),
            ("Prefer", "odata.continue-on-error".into()),
        ],
        body: Some(batch::encode_requests(&boundary, &requests)),
        idempotent,
    };
    let r = c.client.send(&request).await?;
    if !r.status.is_success() {
        return Err(batch_refused(system, r.status.as_u16(), r.error_message()));
    }
    let ct = r.header("content-type").unwrap_or_default().to_string();
    let responses = batch::decode_responses(&ct, &r.body).map_err(|e| {
        ConnectorError::Transient(format!("{system}: the $batch answer is unreadable: {e}"))
    })?;
    let mut out = Vec::new();
    for part in responses {
        let list = match part {
            Part::Single(one) => vec![one],
            Part::ChangeSet(many) => many,
        };
        out.extend(list.into_iter().map(|r: HttpResponse| {
            Ok(Answer {
                status: r.status,
                headers: r.headers,
                body: r.body,
            })
        }));
    }
    Ok(out)
}

/// One operation as a part of a multipart `$batch`.
fn multipart_part(c: &ODataConnector, p: &Prepared) -> Part<HttpRequest> {
    let mut headers: Vec<(String, String)> = p
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    if p.body.is_some() {
        headers.push(("Content-Type".into(), c.client.media_type().into()));
    }
    Part::Single(HttpRequest {
        method: p.method.to_string(),
        url: p.url.clone(),
        headers,
        body: p.body.clone().unwrap_or_default(),
    })
}

/// A JSON `$batch` (Business Central's), operations numbered from 1.
async fn send_json(
    c: &ODataConnector,
    parts: &[&Prepared],
    idempotent: bool,
) -> Result<Vec<Result<Answer, ConnectorError>>, ConnectorError> {
    let system = &c.endpoint.system;
    let root = format!("{}/", c.endpoint.url);
    let requests = parts
        .iter()
        .enumerate()
        .map(|(i, p)| json_part(c, &root, i + 1, p))
        .collect();
    let body = serde_json::to_vec(&json_batch::BatchRequest { requests })
        .map_err(|e| ConnectorError::Fatal(format!("{system}: {e}")))?;
    let request = Request {
        method: Method::POST,
        url: format!("{}/$batch", c.endpoint.url),
        // JSON `$batch` is OData 4.01: a 4.0 request would be refused by strict services.
        headers: vec![
            ("Content-Type", json_batch::CONTENT_TYPE.into()),
            ("OData-Version", "4.01".into()),
            ("OData-MaxVersion", "4.01".into()),
        ],
        body: Some(body),
        idempotent,
    };
    let r = c.client.send(&request).await?;
    if !r.status.is_success() {
        return Err(batch_refused(system, r.status.as_u16(), r.error_message()));
    }
    let answer: json_batch::BatchResponse = serde_json::from_slice(&r.body).map_err(|e| {
        ConnectorError::Transient(format!("{system}: the $batch answer is unreadable: {e}"))
    })?;
    Ok(json_answers(system, answer, parts.len()))
}

/// Operation `id` of a JSON `$batch`, its URL relative to the service `root`.
fn json_part(c: &ODataConnector, root: &str, id: usize, p: &Prepared) -> json_batch::Request {
    let mut headers: std::collections::BTreeMap<String, String> = p
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect();
    if p.body.is_some() {
        headers.insert("Content-Type".into(), c.client.media_type().into());
    }
    json_batch::Request {
        id: id.to_string(),
        method: p.method.to_string(),
        url: p.url.strip_prefix(root).unwrap_or(&p.url).to_string(),
        headers,
        body: p
            .body
            .as_ref()
            .and_then(|b| serde_json::from_slice::<Json>(b).ok()),
        atomicity_group: None,
        depends_on: Vec::new(),
    }
}

/// The answers of a JSON `$batch` to operations 1 to `count`, in order.
fn json_answers(
    system: &str,
    answer: json_batch::BatchResponse,
    count: usize,
) -> Vec<Result<Answer, ConnectorError>> {
    let mut by_id: std::collections::HashMap<String, json_batch::Response> = answer
        .responses
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    (1..=count)
        .map(|i| match by_id.remove(&i.to_string()) {
            Some(r) => Ok(Answer {
                status: r.status,
                headers: r.headers.into_iter().collect(),
                body: r
                    .body
                    .map(|b| b.to_string().into_bytes())
                    .unwrap_or_default(),
            }),
            None => Err(ConnectorError::Transient(format!(
                "{system}: the $batch answer has no response for operation {i}"
            ))),
        })
        .collect()
}

fn batch_refused(system: &str, status: u16, message: String) -> ConnectorError {
    let message = format!("{system}: the $batch request was refused: {message}");
    match status {
        // The batch as a whole is wrong (too large, malformed): no retry mends that.
        400 | 413 => ConnectorError::Fatal(message),
        _ => ConnectorError::Transient(message),
    }
}

/// One operation's outcome from its answer.
async fn outcome(
    c: &ODataConnector,
    table: TableRef<'_>,
    op: &WriteOp,
    p: &Prepared,
    a: Answer,
) -> Result<WriteOutcome, ConnectorError> {
    match (op, a.status) {
        (WriteOp::Delete { .. }, 200..=299) => Ok(WriteOutcome {
            key: p.key.clone().unwrap_or_default(),
            modified_on: None,
            etag: None,
        }),
        (_, 200..=299) => written(c, table, p, &a).await,
        (WriteOp::Create { key: Some(k), .. }, s)
            if s == 409 || s == 412 || a.code() == DUPLICATE_KEY =>
        {
            // A create of ours that ran before (its answer was lost): the row is there.
            reread(c, table, k).await
        }
        (_, status) => Err(refusal(c, table, p, &a, status)),
    }
}

/// The outcome of a create or update the service accepted: from the representation it
/// returned, else read back.
async fn written(
    c: &ODataConnector,
    table: TableRef<'_>,
    p: &Prepared,
    a: &Answer,
) -> Result<WriteOutcome, ConnectorError> {
    if let Some(row) = serde_json::from_slice::<Json>(&a.body)
        .ok()
        .as_ref()
        .and_then(Json::as_object)
        .map(|e| rows::decode(c.endpoint.flavor, table.info, e))
        .filter(|r| !r.key.is_empty())
    {
        return Ok(WriteOutcome {
            key: row.key,
            modified_on: row.modified_on,
            etag: row.etag,
        });
    }
    // No representation: the key from `OData-EntityId`, the rest read back.
    let key = match p.key.clone() {
        Some(k) => k,
        None => a
            .header("OData-EntityId")
            .and_then(key_of_entity_id)
            .ok_or_else(|| {
                ConnectorError::Transient(format!(
                    "{}: a create answered without the new row's key",
                    c.endpoint.system
                ))
            })?,
    };
    reread(c, table, &key).await
}

/// The error of an operation the service refused with `status`.
fn refusal(
    c: &ODataConnector,
    table: TableRef<'_>,
    p: &Prepared,
    a: &Answer,
    status: u16,
) -> ConnectorError {
    let system = &c.endpoint.system;
    let key = p.key.clone().unwrap_or_default();
    match status {
        404 => ConnectorError::NotFound {
            table: table.name.to_string(),
            key,
        },
        409 | 412 => ConnectorError::Conflict {
            table: table.name.to_string(),
            key,
        },
        401 | 403 => ConnectorError::Fatal(format!(
            "{system}: not allowed to write {}: {}",
            table.name,
            a.message()
        )),
        _ => match classify(status, ErrorBody::parse(&a.body).as_ref()) {
            ErrorClass::Transient => {
                ConnectorError::Transient(format!("{system}: {}", a.message()))
            }
            ErrorClass::Record => ConnectorError::Rejected(a.message()),
        },
    }
}

async fn reread(
    c: &ODataConnector,
    table: TableRef<'_>,
    key: &str,
) -> Result<WriteOutcome, ConnectorError> {
    let rows = read::by_keys(c, table, &[key.to_string()]).await?;
    match rows.into_iter().next() {
        Some(r) => Ok(WriteOutcome {
            key: r.key,
            modified_on: r.modified_on,
            etag: r.etag,
        }),
        None => Err(ConnectorError::Transient(format!(
            "{}: the written {} row `{key}` cannot be read back",
            c.endpoint.system, table.name
        ))),
    }
}

/// The key in an `OData-EntityId` URL: `…/accounts(00000000-…)` → `00000000-…`.
fn key_of_entity_id(url: &str) -> Option<String> {
    let inside = url.rsplit_once('(')?.1.strip_suffix(')')?;
    let inside = inside.trim_matches('\'');
    (!inside.is_empty()).then(|| inside.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_ids_give_their_key() {
        assert_eq!(
            key_of_entity_id(
                "https://x/api/data/v9.2/accounts(6A1C0000-0000-0000-0000-00000000E0E0)"
            )
            .as_deref(),
            Some("6a1c0000-0000-0000-0000-00000000e0e0")
        );
        assert_eq!(key_of_entity_id("https://x/accounts"), None);
        assert_eq!(key_of_entity_id("https://x/accounts()"), None);
    }
}
