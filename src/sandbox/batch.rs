//! `$batch`, server side: Dataverse's multipart format with change sets, and Business
//! Central's JSON format with atomicity groups.
//!
//! A batch holds the store for its whole run, inside one transaction: every operation runs in
//! a savepoint of its own (undone alone when it fails), a change set or atomicity group in a
//! savepoint around its operations (undone together), and the batch commits once at the end,
//! which is what makes ingest through `$batch` fast. Operations go through the same handlers
//! as requests sent alone; a batch counts as one request for throttling and faults.

use std::collections::{BTreeMap, HashSet};

use crate::odata::batch::{self as multipart, HttpRequest, HttpResponse, Part};
use crate::odata::json_batch::{
    BatchRequest, BatchResponse, Request as JsonRequest, Response as JsonResponse,
};

use super::business_central::{self, split_api, Bc, RowChange};
use super::collection::Paging;
use super::dataverse::{self, Dv, Reading, PREFIX};
use super::faults::Monitor;
use super::request::{Req, Resp};
use super::store::Db;

/// A batch operation's URL as a path and query: absolute URLs lose their origin; relative
/// ones are taken from the service root `root`.
fn locate(url: &str, root: &str) -> (String, String) {
    let without_origin = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    };
    let (path, query) = without_origin
        .split_once('?')
        .unwrap_or((without_origin, ""));
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{root}/{path}")
    };
    let path = super::query::percent_decode(&path.replace('+', "%2B"));
    (path, query.to_string())
}

/// A sub-request in the handlers' form.
fn sub_request(
    outer: &Req,
    method: &str,
    url: &str,
    root: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> Req {
    let (path, query) = locate(url, root);
    Req {
        method: method.to_ascii_uppercase(),
        path,
        query,
        headers,
        body,
        origin: outer.origin.clone(),
    }
}

fn to_http(r: Resp) -> HttpResponse {
    HttpResponse {
        status: r.status,
        headers: r.headers,
        body: r.body,
    }
}

/// Dataverse: `POST /api/data/v9.2/$batch` with a multipart body.
pub(crate) fn dataverse(dv: &Dv, req: &Req, monitor: &Monitor) -> Resp {
    let content_type = req.header("content-type").unwrap_or_default();
    let parts = match multipart::decode_requests(content_type, &req.body) {
        Ok(p) => p,
        Err(e) => return Resp::error(400, "0x80048d19", &e.to_string()),
    };
    let (operations, writes) = dv_counts(&parts);
    monitor.count_batch(operations);
    let max = monitor.limits().dv_batch_max;
    if operations > max {
        return Resp::error(
            400,
            "0x80048d19",
            &format!("The batch holds {operations} requests; a batch may hold at most {max}."),
        );
    }
    let continue_on_error = req.preference("odata.continue-on-error").is_some();
    let reading = dataverse::reading(monitor);
    let mut out: Vec<Part<HttpResponse>> = Vec::new();
    let mut db = dv.store.lock();
    db.transaction(
        |db| {
            for part in parts {
                let ok = run_dv_part(dv, db, req, part, &reading, &mut out);
                if !ok && !continue_on_error {
                    break;
                }
            }
        },
        |_| true,
    );
    drop(db);
    monitor.count_writes(writes);
    multipart_answer(&out)
}

/// How many operations a multipart batch holds, and how many of them are writes.
fn dv_counts(parts: &[Part<HttpRequest>]) -> (usize, usize) {
    let operations: usize = parts
        .iter()
        .map(|p| match p {
            Part::Single(_) => 1,
            Part::ChangeSet(ops) => ops.len(),
        })
        .sum();
    let writes: usize = parts
        .iter()
        .map(|p| match p {
            Part::Single(op) => usize::from(op.method != "GET"),
            Part::ChangeSet(ops) => ops.iter().filter(|op| op.method != "GET").count(),
        })
        .sum();
    (operations, writes)
}

/// Runs one part of a multipart batch and adds its answer to `out`; whether it succeeded.
fn run_dv_part(
    dv: &Dv,
    db: &mut Db,
    req: &Req,
    part: Part<HttpRequest>,
    reading: &Reading,
    out: &mut Vec<Part<HttpResponse>>,
) -> bool {
    match part {
        Part::Single(op) => {
            let r = run_dv(dv, db, req, op, reading, &BTreeMap::new());
            let ok = r.ok();
            out.push(Part::Single(to_http(r)));
            ok
        }
        Part::ChangeSet(ops) => {
            let answers = db.savepoint(
                "changeset",
                |db| change_set(dv, db, req, ops, reading),
                |a| a.iter().all(Resp::ok),
            );
            if let Some(failed) = answers.iter().find(|r| !r.ok()) {
                // A failed change set answers with the failing response alone.
                out.push(Part::ChangeSet(vec![to_http(failed.clone())]));
                false
            } else {
                out.push(Part::ChangeSet(answers.into_iter().map(to_http).collect()));
                true
            }
        }
    }
}

/// The multipart answer to a Dataverse batch.
fn multipart_answer(out: &[Part<HttpResponse>]) -> Resp {
    let boundary = multipart::new_boundary("batchresponse_");
    Resp {
        status: 200,
        headers: vec![
            ("Content-Type".into(), multipart::content_type(&boundary)),
            ("OData-Version".into(), "4.0".into()),
        ],
        body: multipart::encode_responses(&boundary, out),
    }
}

/// The operations of a change set, `$n` references resolved, until one fails.
fn change_set(
    dv: &Dv,
    db: &mut Db,
    outer: &Req,
    ops: Vec<HttpRequest>,
    reading: &Reading,
) -> Vec<Resp> {
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut answers = Vec::new();
    for op in ops {
        let content_id = op.header("content-id").map(str::to_string);
        let r = run_dv(dv, db, outer, op, reading, &ids);
        let ok = r.ok();
        if let (Some(id), Some(entity)) = (&content_id, r.header("odata-entityid")) {
            ids.insert(id.clone(), entity.to_string());
        }
        let r = match content_id {
            Some(id) => r.with_header("Content-ID", id),
            None => r,
        };
        answers.push(r);
        if !ok {
            break;
        }
    }
    answers
}

/// One Dataverse operation, in a savepoint, with `$n` replaced by the entity it created.
fn run_dv(
    dv: &Dv,
    db: &mut Db,
    outer: &Req,
    op: HttpRequest,
    reading: &Reading,
    ids: &BTreeMap<String, String>,
) -> Resp {
    let mut url = op.url.clone();
    let mut body = op.body.clone();
    for (id, entity) in ids.iter().rev() {
        let reference = format!("${id}");
        if url == reference || url.starts_with(&format!("{reference}/")) {
            url = url.replacen(&reference, entity, 1);
        }
        let quoted = format!("\"{reference}\"");
        let text = String::from_utf8_lossy(&body);
        if text.contains(&quoted) {
            body = text.replace(&quoted, &format!("\"{entity}\"")).into_bytes();
        }
    }
    let sub = sub_request(outer, &op.method, &url, PREFIX, op.headers, body);
    if !sub.path.starts_with(PREFIX) {
        return Resp::error(
            400,
            "0x80060888",
            &format!("The batch operation URL '{url}' is not under {PREFIX}."),
        );
    }
    if sub.path.ends_with("/$batch") {
        return Resp::error(400, "0x80060888", "A batch cannot contain another batch.");
    }
    db.savepoint("op", |db| dv.operation(db, &sub, reading), Resp::ok)
}

/// Business Central: `POST …/api/v2.0/$batch` with a JSON body.
pub(crate) fn business_central(bc: &Bc, req: &Req, monitor: &Monitor) -> Resp {
    let batch = match read_bc_batch(req, monitor) {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    let root = split_api(&req.path)
        .map(|(root, _)| root)
        .unwrap_or_default();
    let mut run = BcRun {
        bc,
        outer: req,
        root: &root,
        paging: Paging::of(&monitor.limits(), 20_000),
        responses: Vec::new(),
        failed: HashSet::new(),
        watching: bc.webhooks.watching(),
        changes: Vec::new(),
    };
    let mut done_groups: HashSet<String> = HashSet::new();
    let mut db = bc.store.lock();
    db.transaction(
        |db| {
            for (i, r) in batch.requests.iter().enumerate() {
                match &r.atomicity_group {
                    None => run.single(db, r),
                    Some(g) if done_groups.contains(g) => {}
                    Some(g) => {
                        done_groups.insert(g.clone());
                        let members: Vec<_> = batch.requests[i..]
                            .iter()
                            .filter(|m| m.atomicity_group.as_ref() == Some(g))
                            .collect();
                        run.group(db, g, &members);
                    }
                }
            }
        },
        |_| true,
    );
    drop(db);
    monitor.count_writes(batch.requests.iter().filter(|r| r.method != "GET").count());
    // The batch has committed: what its operations wrote is notified now.
    bc.notify(&run.changes, monitor);
    match serde_json::to_value(BatchResponse {
        responses: run.responses,
    }) {
        Ok(body) => Resp::json(200, &body),
        Err(e) => business_central::error(500, "Internal_ServerError", &e.to_string()),
    }
}

/// The JSON batch a request carries, counted for throttling; or the answer refusing it.
fn read_bc_batch(req: &Req, monitor: &Monitor) -> Result<BatchRequest, Resp> {
    // JSON `$batch` is OData 4.01: a request that says it speaks only 4.0 cannot mean one.
    if let Some(v) = req
        .header("odata-maxversion")
        .or(req.header("odata-version"))
    {
        if v.trim() == "4.0" {
            return Err(business_central::error(
                400,
                "BadRequest",
                "A JSON batch request needs OData-Version 4.01; the request allows only 4.0.",
            ));
        }
    }
    let batch: BatchRequest = serde_json::from_slice(&req.body).map_err(|e| {
        business_central::error(
            400,
            "BadRequest",
            &format!("The batch body is not a JSON batch: {e}"),
        )
    })?;
    monitor.count_batch(batch.requests.len());
    let max = monitor.limits().bc_batch_max;
    if batch.requests.len() > max {
        return Err(business_central::error(
            400,
            "BadRequest",
            &format!(
                "The batch holds {} operations; a batch may hold at most {max}.",
                batch.requests.len()
            ),
        ));
    }
    Ok(batch)
}

/// A JSON batch under way: its answers so far, and the ids of operations and groups that
/// failed, which the operations depending on them are refused for.
struct BcRun<'a> {
    bc: &'a Bc,
    outer: &'a Req,
    root: &'a str,
    paging: Paging,
    responses: Vec<JsonResponse>,
    failed: HashSet<String>,
    /// Whether a webhook subscription may want the rows written.
    watching: bool,
    /// The rows written by operations that stay committed.
    changes: Vec<RowChange>,
}

impl BcRun<'_> {
    /// Notes the row a successful operation changed, for the webhook subscriptions.
    fn changed(&mut self, sub: Option<&Req>, answer: &Resp) {
        if !self.watching || !answer.ok() {
            return;
        }
        if let Some(change) = sub.and_then(|s| self.bc.row_change(s, answer)) {
            self.changes.push(change);
        }
    }

    /// An operation outside any atomicity group.
    fn single(&mut self, db: &mut Db, r: &JsonRequest) {
        let (answer, sub) = run_bc(
            self.bc,
            db,
            self.outer,
            self.root,
            r,
            &self.failed,
            self.paging,
        );
        if !answer.ok() {
            self.failed.insert(r.id.clone());
        }
        self.changed(sub.as_ref(), &answer);
        self.responses.push(json_response(&r.id, answer));
    }

    /// The operations of atomicity group `g`, undone together when one fails.
    fn group(&mut self, db: &mut Db, g: &str, members: &[&JsonRequest]) {
        let answers = db.savepoint(
            "atomicity",
            |db| {
                let mut answers = Vec::new();
                for m in members {
                    let a = run_bc(
                        self.bc,
                        db,
                        self.outer,
                        self.root,
                        m,
                        &self.failed,
                        self.paging,
                    );
                    let ok = a.0.ok();
                    answers.push(a);
                    if !ok {
                        break;
                    }
                }
                answers
            },
            |a| a.iter().all(|(r, _)| r.ok()),
        );
        let group_ok = answers.iter().all(|(r, _)| r.ok());
        if group_ok {
            for (answer, sub) in &answers {
                self.changed(sub.as_ref(), answer);
            }
        }
        if !group_ok {
            self.failed.insert(g.to_string());
        }
        for (k, m) in members.iter().enumerate() {
            let answer = match answers.get(k) {
                Some((a, _)) if !group_ok && a.ok() => failed_dependency(&m.id),
                Some((a, _)) => a.clone(),
                None => failed_dependency(&m.id),
            };
            if !group_ok {
                self.failed.insert(m.id.clone());
            }
            self.responses.push(json_response(&m.id, answer));
        }
    }
}

/// The answer for an operation undone or skipped because another failed.
fn failed_dependency(id: &str) -> Resp {
    business_central::error(
        424,
        "BadRequest_FailedDependency",
        &format!(
            "The operation '{id}' was not applied because another operation it depends on failed."
        ),
    )
}

/// One Business Central operation, in a savepoint, and the request it made of the service
/// (none when it was refused before it could be made).
fn run_bc(
    bc: &Bc,
    db: &mut Db,
    outer: &Req,
    root: &str,
    r: &JsonRequest,
    failed: &HashSet<String>,
    paging: Paging,
) -> (Resp, Option<Req>) {
    if r.depends_on.iter().any(|d| failed.contains(d)) {
        return (failed_dependency(&r.id), None);
    }
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let body = match &r.body {
        Some(b) => {
            headers.push(("Content-Type".into(), "application/json".into()));
            serde_json::to_vec(b).unwrap_or_default()
        }
        None => Vec::new(),
    };
    let sub = sub_request(outer, &r.method, &r.url, root, headers, body);
    if sub.path.ends_with("/$batch") {
        let nested =
            business_central::error(400, "BadRequest", "A batch cannot contain another batch.");
        return (nested, None);
    }
    let answer = db.savepoint("op", |db| bc.operation(db, &sub, paging), Resp::ok);
    (answer, Some(sub))
}

fn json_response(id: &str, r: Resp) -> JsonResponse {
    let headers: BTreeMap<String, String> = r
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("odata-version"))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    JsonResponse {
        id: id.to_string(),
        status: r.status,
        headers,
        body: if r.body.is_empty() {
            None
        } else {
            serde_json::from_slice(&r.body).ok()
        },
    }
}
