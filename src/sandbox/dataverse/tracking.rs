//! Dataverse change tracking, as a client meets it over the Web API.
//!
//! A read of a collection with `Prefer: odata.track-changes` is the ordinary listing, paged
//! as usual, whose last page carries an `@odata.deltaLink`: the same URL with a
//! `$deltatoken` holding the change log's position when the read began. Reading that link
//! answers every row changed since, once each and as it is now, and every row deleted since
//! as a `$deletedEntity`, then links to the next delta. Since the position is taken when a
//! read begins, a write made while its pages are read is in the next delta: seen twice at
//! worst, never lost.
//!
//! `$filter`, `$orderby`, `$top` and `$expand` cannot be combined with tracking (Dataverse
//! refuses them), a table listed in [`Limits::untracked`] ignores the preference, and a
//! token older than [`Limits::delta_token_ttl`] or than [`Control::expire_delta_tokens`] is
//! refused with the error that tells a client to read everything again.
//!
//! [`Limits::untracked`]: crate::sandbox::Limits::untracked
//! [`Limits::delta_token_ttl`]: crate::sandbox::Limits::delta_token_ttl
//! [`Control::expire_delta_tokens`]: crate::sandbox::Control::expire_delta_tokens

use std::time::Duration;

use serde_json::{json, Map, Value as Json};

use super::{code, query_error, store_error, Annotations, Dv, Reading, PREFIX};
use crate::sandbox::collection::{self, Next, Paging};
use crate::sandbox::query::{parse_query, Query};
use crate::sandbox::request::{Req, Resp};
use crate::sandbox::store::{Change, Db, Span};
use crate::sandbox::Limits;
use crate::schema::TableSchema;
use token::{Continuation, DeltaToken, TrackedQuery};

mod metadata;
mod token;

pub(super) use metadata::is_entity_definition;

/// Which tables track changes, and for how long a token holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Tracking {
    /// Entity sets without change tracking.
    pub untracked: Vec<String>,
    /// How long a token stays valid.
    pub ttl: Option<Duration>,
}

impl Tracking {
    /// The tracking the sandbox's limits set.
    pub fn of(limits: &Limits) -> Tracking {
        Tracking {
            untracked: limits.untracked.clone(),
            ttl: limits.delta_token_ttl,
        }
    }

    /// Whether a table tracks its changes.
    pub fn tracks(&self, t: &TableSchema) -> bool {
        !self.untracked.contains(&t.name)
    }
}

/// What kind of tracked read a collection `GET` is.
enum Mode {
    /// A first tracked read: the listing, from the plain skiptoken `after` on, ending with a
    /// link to `token`.
    Initial {
        token: DeltaToken,
        after: Option<String>,
    },
    /// A delta read.
    Delta(Delta),
}

/// A page of a delta read: the changes of a span of the log, ending with a link to `token`
/// (whose position ends the span).
struct Delta {
    span: Span,
    token: DeltaToken,
}

/// One page of a tracked read, ready to answer.
struct Page {
    rows: Vec<Json>,
    /// The continuation of the next page, when there is one.
    next: Option<Continuation>,
    /// The token the read ends with.
    token: DeltaToken,
    /// The page size, and whether it honoured `Prefer: odata.maxpagesize`.
    size: (usize, bool),
}

impl Dv {
    /// A collection `GET`: ordinary, a first tracked read, or a delta read.
    pub(super) fn read_collection(
        &self,
        db: &Db,
        req: &Req,
        t: &TableSchema,
        reading: &Reading,
    ) -> Resp {
        let split = TrackedQuery::of(&req.query);
        let mode = match self.mode(db, req, t, &split, &reading.tracking) {
            Ok(Some(m)) => m,
            Ok(None) => return self.list(db, req, t, reading.paging),
            Err(r) => return r,
        };
        let mut q = match parse_query(&split.rest) {
            Ok(q) => q,
            Err(e) => return query_error(e),
        };
        // A tracked read always pages by keyset: an offset cannot carry its token.
        let paging = Paging {
            skip: false,
            ..reading.paging
        };
        match mode {
            Mode::Initial { token, after } => {
                q.skiptoken = after;
                self.first_read(db, req, t, &q, token, paging)
            }
            Mode::Delta(delta) => self.delta_read(db, req, t, &q, delta, paging),
        }
    }

    /// Tells the kind of tracked read (`None`: an ordinary one), before the query is parsed:
    /// the options tracking refuses are refused as such, not as options the sandbox does not
    /// serve.
    fn mode(
        &self,
        db: &Db,
        req: &Req,
        t: &TableSchema,
        split: &TrackedQuery,
        tracking: &Tracking,
    ) -> Result<Option<Mode>, Resp> {
        let going_on = split.skiptoken.as_deref().and_then(Continuation::decode);
        let asked = req.preference("odata.track-changes").is_some();
        if split.deltatoken.is_none() && going_on.is_none() && !(asked && tracking.tracks(t)) {
            // Untracked tables ignore the preference, as OData lets a service do.
            return Ok(None);
        }
        if !tracking.tracks(t) {
            return Err(not_tracked(t));
        }
        if let Some(option) = &split.refused {
            return Err(Resp::error(
                400,
                code::QUERY,
                &format!("The query option '{option}' cannot be combined with change tracking (Prefer: odata.track-changes or $deltatoken)."),
            ));
        }
        let token = match &going_on {
            Some(c) => DeltaToken::parse(&c.token).ok_or_else(|| bad_skiptoken(&c.token))?,
            None => DeltaToken::now(db.change_position().map_err(store_error)?),
        };
        let Some(text) = &split.deltatoken else {
            let after = match going_on.map(|c| c.cursor) {
                Some(Json::String(s)) => Some(s),
                None => None,
                Some(other) => return Err(bad_skiptoken(&other.to_string())),
            };
            return Ok(Some(Mode::Initial { token, after }));
        };
        let since = valid_token(db, text, tracking.ttl)?;
        let cursor = match going_on.map(|c| c.cursor) {
            Some(c) => c.as_i64().ok_or_else(|| bad_skiptoken(&c.to_string()))?,
            None => since,
        };
        let span = Span {
            after: since,
            upto: token.seq,
            cursor,
        };
        Ok(Some(Mode::Delta(Delta { span, token })))
    }

    /// A page of the first tracked read: the ordinary listing's rows.
    fn first_read(
        &self,
        db: &Db,
        req: &Req,
        t: &TableSchema,
        q: &Query,
        token: DeltaToken,
        paging: Paging,
    ) -> Resp {
        let size = paging.size(req.preference("odata.maxpagesize"));
        let (listing, rows) = match self.page_of_rows(db, req, t, q, size.0, paging) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let next = match listing.next {
            Some(Next::Token(after)) => Some(Continuation {
                token: token.text(),
                cursor: Json::String(after),
            }),
            _ => None,
        };
        let page = Page {
            rows,
            next,
            token,
            size,
        };
        answer(
            req,
            self.context(req, t, q.select.as_deref(), false),
            page,
            paging,
        )
    }

    /// A page of a delta read: each row changed in `span` once, as it is now, or as deleted.
    fn delta_read(
        &self,
        db: &Db,
        req: &Req,
        t: &TableSchema,
        q: &Query,
        Delta { span, token }: Delta,
        paging: Paging,
    ) -> Resp {
        if let Err(r) = self.select(t, q) {
            return r;
        }
        let size = paging.size(req.preference("odata.maxpagesize"));
        let mut changes = match db.changes(&t.name, span, size.0.saturating_add(1)) {
            Ok(c) => c,
            Err(e) => return store_error(e),
        };
        let more = changes.len() > size.0;
        changes.truncate(size.0);
        let rows = match self.changed_rows(db, req, t, q, &changes) {
            Ok(rows) => rows,
            Err(r) => return r,
        };
        let next = changes.last().filter(|_| more).map(|last| Continuation {
            token: token.text(),
            cursor: json!(last.seq),
        });
        let page = Page {
            rows,
            next,
            token,
            size,
        };
        answer(
            req,
            self.context(req, t, q.select.as_deref(), false),
            page,
            paging,
        )
    }
}

impl Dv {
    /// The rows of changes: each as it is now, or as deleted.
    fn changed_rows(
        &self,
        db: &Db,
        req: &Req,
        t: &TableSchema,
        q: &Query,
        changes: &[Change],
    ) -> Result<Vec<Json>, Resp> {
        let a = Annotations::of(req);
        let labels = self.labels(db, t, a)?;
        let mut rows = Vec::with_capacity(changes.len());
        for change in changes {
            if change.deleted {
                rows.push(deleted_entity(req, t, &change.key));
                continue;
            }
            // A row missing although its last change wrote it has nothing to report.
            if let Some(row) = db.get(t, "", &change.key).map_err(store_error)? {
                let select = q.select.as_deref();
                rows.push(Json::Object(self.represent(t, &row, select, a, &labels)));
            }
        }
        Ok(rows)
    }
}

/// The position a client's `$deltatoken` holds, when it is still valid.
fn valid_token(db: &Db, text: &str, ttl: Option<Duration>) -> Result<i64, Resp> {
    let token = DeltaToken::parse(text).ok_or_else(|| {
        Resp::error(
            400,
            code::QUERY,
            &format!("The delta token '{text}' is not valid."),
        )
    })?;
    let floor = db.change_floor().map_err(store_error)?;
    let position = db.change_position().map_err(store_error)?;
    // A position beyond the log's end is another database's: as stale as an expired one.
    if token.seq < floor || token.seq > position || token.outlived(ttl) {
        return Err(Resp::error(
            400,
            code::EXPIRED,
            "Version stamp associated with the client has expired. Please perform a full sync.",
        ));
    }
    Ok(token.seq)
}

fn not_tracked(t: &TableSchema) -> Resp {
    Resp::error(
        400,
        code::QUERY,
        &format!(
            "The entity '{}' is not enabled for change tracking.",
            super::logical_name(t)
        ),
    )
}

fn bad_skiptoken(text: &str) -> Resp {
    Resp::error(
        400,
        code::QUERY,
        &format!("The skip token '{text}' is not valid."),
    )
}

/// A row deleted since the token.
fn deleted_entity(req: &Req, t: &TableSchema, key: &str) -> Json {
    json!({
        "@odata.context": format!("{}{PREFIX}/$metadata#{}/$deletedEntity", req.origin, t.name),
        "id": key,
        "reason": "deleted",
    })
}

/// The answer to a page of a tracked read: the rows, then the next page's link, or on the
/// last page the delta link.
fn answer(req: &Req, context: String, page: Page, paging: Paging) -> Resp {
    let mut body = Map::new();
    body.insert("@odata.context".into(), Json::String(context + "/$delta"));
    body.insert("value".into(), Json::Array(page.rows));
    match &page.next {
        Some(c) => {
            let link = collection::link(req, &Next::Token(c.encode()), paging.relative);
            body.insert("@odata.nextLink".into(), Json::String(link));
        }
        None => {
            let link = delta_link(req, &page.token);
            body.insert("@odata.deltaLink".into(), Json::String(link));
        }
    }
    let mut applied = Vec::new();
    if req.preference("odata.track-changes").is_some() {
        applied.push("odata.track-changes".to_string());
    }
    let (size, honoured) = page.size;
    if honoured && req.preference("odata.maxpagesize").is_some() {
        applied.push(format!("odata.maxpagesize={size}"));
    }
    let resp = Resp::json(200, &Json::Object(body));
    if applied.is_empty() {
        resp
    } else {
        resp.with_header("Preference-Applied", applied.join(", "))
    }
}

/// The delta link: the request's URL without paging or an earlier token, with `token`.
fn delta_link(req: &Req, token: &DeltaToken) -> String {
    let dropped = ["$skiptoken", "$skip", "$deltatoken"];
    let mut params: Vec<String> = req
        .query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let name = p.split_once('=').map_or(*p, |(n, _)| n);
            !dropped.contains(&crate::sandbox::query::percent_decode(name).as_str())
        })
        .map(str::to_string)
        .collect();
    params.push(format!("$deltatoken={}", token.encoded()));
    format!("{}{}?{}", req.origin, req.path, params.join("&"))
}
