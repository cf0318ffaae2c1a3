//! The Business Central API v2.0 emulator (`/v2.0/{tenant}/{environment}/api/v2.0/…`):
//! companies, and under each the entity sets of the Business Central snapshot, with
//! server-assigned ids, number series, opaque ETags that `PATCH` and `DELETE` must send back,
//! `$batch` and `$metadata`. The same tables are also served under the custom API route
//! `api/syncmap/sandbox/v1.0`, so custom-route settings can be tried.
//!
//! Webhook subscriptions (`…/subscriptions`) are served too: [`subscriptions`] answers them,
//! [`webhooks`] keeps them, and [`notify`] sends their notifications of the rows written.

use std::sync::Arc;

use serde_json::{json, Map, Value as Json};

use crate::schema::{ColumnType, TableSchema};
use crate::value::Value;

use super::codec::{self, Numbers, Overflow};
use super::collection::{self, ListError, ListRequest, Paging};
use super::faults::Monitor;
use super::query::{parse_query, QueryError};
use super::request::{guid_key, split_key, Req, Resp, Whole};
use super::store::{Db, Row, Store, StoreError};

/// The namespace of the entity types.
pub(crate) const NAMESPACE: &str = "Microsoft.NAV";
pub(crate) use super::values::EMPTY_GUID;
/// Business Central's largest page.
const MAX_PAGE: usize = 20_000;

mod companies;
mod notify;
mod subscriptions;
pub(crate) mod webhooks;
mod window;
mod write;

use webhooks::Webhooks;
pub(crate) use window::RowChange;

/// The custom API route the sandbox also serves: publisher, group, version.
pub(crate) const CUSTOM_ROUTE: [&str; 3] = ["syncmap", "sandbox", "v1.0"];

/// One company.
#[derive(Debug, Clone)]
pub(crate) struct Company {
    /// Its id (SystemId).
    pub id: String,
    /// Its name, which clients choose it by.
    pub name: String,
    /// Its display name.
    pub display_name: String,
}

/// The Business Central service.
#[derive(Debug)]
pub(crate) struct Bc {
    /// Its tables; a row's scope is its company id.
    pub store: Store,
    /// The companies.
    pub companies: Vec<Company>,
    /// The webhook subscriptions, and the notifications of the rows written.
    pub webhooks: Arc<Webhooks>,
}

/// An error the way Business Central writes it: the message ends with a correlation id.
pub(crate) fn error(status: u16, code: &str, message: &str) -> Resp {
    Resp::error(
        status,
        code,
        &format!("{message}  CorrelationId:  {}.", uuid::Uuid::new_v4()),
    )
}

fn store_error(e: StoreError) -> Resp {
    match e {
        StoreError::Duplicate => error(
            400,
            "Internal_EntityWithSameKeyExists",
            "The record already exists.",
        ),
        StoreError::NotFound => error(404, "BadRequest_NotFound", "The record does not exist."),
        StoreError::Invalid(m) => error(400, "BadRequest", &m),
        StoreError::Internal(m) => error(500, "Internal_ServerError", &m),
    }
}

/// A request's body as a JSON object, or the 400 the service answers.
pub(crate) fn json_object(req: &Req) -> Result<Map<String, Json>, Resp> {
    let json: Json = serde_json::from_slice(&req.body).map_err(|e| {
        error(
            400,
            "BadRequest",
            &format!("The request body is not valid JSON: {e}"),
        )
    })?;
    match json {
        Json::Object(fields) => Ok(fields),
        _ => Err(error(
            400,
            "BadRequest",
            "The request body must be a JSON object.",
        )),
    }
}

fn query_error(e: impl std::fmt::Display) -> Resp {
    error(400, "BadRequest", &e.to_string())
}

/// The entity type's name (`customer`).
fn entity_name(t: &TableSchema) -> &str {
    t.entity_type.as_deref().unwrap_or(&t.name)
}

fn not_found(t: &TableSchema, key: &str) -> Resp {
    let mut name = entity_name(t).to_string();
    if let Some(first) = name.get(0..1) {
        name.replace_range(0..1, &first.to_uppercase());
    }
    error(
        404,
        "BadRequest_NotFound",
        &format!("The {name} does not exist. Identification fields and values: Id='{key}'"),
    )
}

/// Standard base64, for ETags shaped like Business Central's.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A row's ETag: opaque, changes with every write, `W/"JzE5Oz…Jyc="` like the real ones.
pub(crate) fn etag(version: i64) -> String {
    let digits = format!(
        "{:019}",
        version
            .unsigned_abs()
            .wrapping_mul(7_919)
            .wrapping_add(1_000_000_007)
    );
    let inner = format!("'{};{digits};00;'", digits.len());
    format!("W/\"{}\"", base64(inner.as_bytes()))
}

/// Where a request's path points under the API root.
enum Target<'p> {
    /// The service document.
    Root,
    Metadata,
    Batch,
    /// `companies` or `companies(id)`.
    Companies(Option<&'p str>),
    /// `companies(id)/set` or `companies(id)/set(key)`.
    Entity {
        company: &'p str,
        set: &'p str,
        key: Option<&'p str>,
    },
}

/// The part of a path under `…/api/v2.0/` (or the custom route), and the API root path.
pub(crate) fn split_api(path: &str) -> Option<(String, &str)> {
    let trimmed = path.trim_start_matches('/');
    let mut parts = trimmed.splitn(5, '/');
    let (v, tenant, env, api) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if v != "v2.0" || api != "api" {
        return None;
    }
    let rest = parts.next().unwrap_or("");
    let root = format!("/v2.0/{tenant}/{env}/api");
    if let Some(r) = rest.strip_prefix("v2.0") {
        if r.is_empty() || r.starts_with('/') {
            return Some((format!("{root}/v2.0"), r.trim_start_matches('/')));
        }
    }
    let custom = CUSTOM_ROUTE.join("/");
    if let Some(r) = rest.strip_prefix(custom.as_str()) {
        if r.is_empty() || r.starts_with('/') {
            return Some((format!("{root}/{custom}"), r.trim_start_matches('/')));
        }
    }
    None
}

fn target(rest: &str) -> Option<Target<'_>> {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    Some(match segments.as_slice() {
        [] => Target::Root,
        ["$metadata"] => Target::Metadata,
        ["$batch"] => Target::Batch,
        [c] => match split_key(c)? {
            ("companies", id) => Target::Companies(id),
            _ => return None,
        },
        [c, e] => match (split_key(c)?, split_key(e)?) {
            (("companies", Some(company)), (set, key)) => Target::Entity { company, set, key },
            _ => return None,
        },
        _ => return None,
    })
}

impl Bc {
    /// The service over these tables and companies, notifying the subscriptions of
    /// `webhooks`.
    pub fn new(store: Store, companies: Vec<Company>, webhooks: Arc<Webhooks>) -> Bc {
        Bc {
            store,
            companies,
            webhooks,
        }
    }

    /// The route name of a request for statistics: method and entity set.
    pub fn route(&self, req: &Req) -> String {
        let rest = split_api(&req.path).map_or("", |(_, r)| r);
        let last = rest.rsplit('/').next().unwrap_or("");
        split_key(last).map_or(last, |(set, _)| set).to_string()
    }

    /// Whether the request is to the service as a whole (answered by the dispatch).
    pub(crate) fn whole_service(&self, req: &Req) -> Option<Whole> {
        let (_, rest) = split_api(&req.path)?;
        match (req.method.as_str(), target(rest)?) {
            ("GET", Target::Metadata) => Some(Whole::Metadata),
            ("POST", Target::Batch) => Some(Whole::Batch),
            _ => None,
        }
    }

    /// The tables the service serves.
    pub(crate) fn schema(&self) -> &crate::schema::SystemSchema {
        &self.store.schema
    }

    /// Answers a request to a table (or the service document, or the companies).
    pub fn handle(&self, req: &Req, monitor: &Monitor) -> Resp {
        let Some((root, rest)) = split_api(&req.path) else {
            return error(
                404,
                "BadRequest_NotFound",
                &format!("No API is served at '{}'.", req.path),
            );
        };
        match (req.method.as_str(), target(rest)) {
            ("GET", Some(Target::Root)) => self.service_document(req, &root),
            _ => {
                let paging = Paging::of(&monitor.limits(), MAX_PAGE);
                let watching = self.webhooks.watching();
                let answer = self
                    .store
                    .lock()
                    .transaction(|db| self.operation(db, req, paging), Resp::ok);
                if req.method != "GET" {
                    monitor.count_writes(1);
                    if let Some(change) = watching.then(|| self.row_change(req, &answer)).flatten()
                    {
                        self.notify(std::slice::from_ref(&change), monitor);
                    }
                }
                answer
            }
        }
    }

    fn service_document(&self, req: &Req, root: &str) -> Resp {
        let mut sets = vec![json!({"name": "companies", "kind": "EntitySet", "url": "companies"})];
        sets.extend(
            self.store
                .schema
                .tables
                .iter()
                .map(|t| json!({"name": t.name, "kind": "EntitySet", "url": t.name})),
        );
        Resp::json(
            200,
            &json!({"@odata.context": format!("{}{root}/$metadata", req.origin), "value": sets}),
        )
    }

    /// One data operation, inside the caller's transaction (a `$batch` runs its operations
    /// through here too).
    pub fn operation(&self, db: &mut Db, req: &Req, paging: Paging) -> Resp {
        let Some((root, rest)) = split_api(&req.path) else {
            return error(
                404,
                "BadRequest_NotFound",
                &format!("No API is served at '{}'.", req.path),
            );
        };
        let Some(target) = target(rest) else {
            return error(
                404,
                "BadRequest_NotFound",
                &format!("Resource not found for the segment '{rest}'."),
            );
        };
        let (company, set, key) = match target {
            Target::Companies(id) if req.method == "GET" => {
                return self.list_companies(req, &root, id)
            }
            Target::Entity { company, set, key } => (company, set, key),
            _ => {
                return error(
                    405,
                    "BadRequest_MethodNotAllowed",
                    &format!("'{}' is not allowed on '{rest}'.", req.method),
                )
            }
        };
        let (at, key) = match self.place(&root, company, set, key) {
            Ok(x) => x,
            Err(r) => return r,
        };
        match (req.method.as_str(), key) {
            ("GET", None) => self.list(db, req, &at, paging),
            ("GET", Some(k)) => self.get(db, req, &at, &k),
            ("POST", None) => self.create(db, req, &at),
            ("PATCH", Some(k)) => self.patch(db, req, &at, &k),
            ("DELETE", Some(k)) => self.delete(db, req, &at, &k),
            (m, _) => error(
                405,
                "BadRequest_MethodNotAllowed",
                &format!("'{m}' is not allowed on '{rest}'."),
            ),
        }
    }

    /// The company a path's id names, when it exists.
    fn company(&self, id: &str) -> Option<&Company> {
        guid_key(id).and_then(|id| self.companies.iter().find(|c| c.id == id))
    }

    /// Where an entity path points (company and table) and its key, each checked to exist
    /// or be well formed.
    fn place<'a>(
        &'a self,
        root: &'a str,
        company: &str,
        set: &str,
        key: Option<&str>,
    ) -> Result<(Place<'a>, Option<String>), Resp> {
        let Some(company) = self.company(company) else {
            return Err(error(
                404,
                "BadRequest_NotFound",
                &format!("The company '{company}' does not exist."),
            ));
        };
        let Some(table) = self.store.table(set) else {
            return Err(error(
                404,
                "BadRequest_NotFound",
                &format!("Resource not found for the segment '{set}'."),
            ));
        };
        let key = match key {
            None => None,
            Some(k) => match guid_key(k) {
                Some(k) => Some(k),
                None => {
                    return Err(error(
                        400,
                        "BadRequest",
                        &format!(
                            "Bad Request - Error in query syntax: the key '{k}' is not a GUID."
                        ),
                    ))
                }
            },
        };
        let at = Place {
            root,
            company: &company.id,
            table,
        };
        Ok((at, key))
    }

    /// A row as JSON.
    fn represent(
        &self,
        req: &Req,
        t: &TableSchema,
        row: &Row,
        select: Option<&[String]>,
    ) -> Map<String, Json> {
        let numbers = Numbers::of_media_type(req.header("accept"));
        let mut out = Map::new();
        out.insert("@odata.etag".into(), Json::String(etag(row.version)));
        for c in &t.columns {
            if select.is_some_and(|s| !s.contains(&c.name)) {
                continue;
            }
            let v = row.get(&c.name);
            // Business Central has no empty GUID: a GUID field never set holds all zeros.
            let v = match (&c.ty, v) {
                (ColumnType::Guid, Value::Null) if c.name != t.key => {
                    Value::String(EMPTY_GUID.to_string())
                }
                (_, v) => v,
            };
            out.insert(c.name.clone(), codec::write(&v, numbers));
        }
        out
    }

    fn context(&self, req: &Req, at: &Place<'_>, entity: bool) -> String {
        format!(
            "{}{}/$metadata#companies({})/{}{}",
            req.origin,
            at.root,
            at.company,
            at.table.name,
            if entity { "/$entity" } else { "" }
        )
    }

    fn list(&self, db: &Db, req: &Req, at: &Place<'_>, paging: Paging) -> Resp {
        let q = match parse_query(&req.query) {
            Ok(q) => q,
            Err(e) => return query_error(e),
        };
        let t = at.table;
        let page = paging.size(req.preference("odata.maxpagesize"));
        let type_name = format!("{NAMESPACE}.{}", entity_name(t));
        let resolver = |name: &str| t.column(name).map(|c| c.name.clone());
        let listing = match collection::list(
            db,
            &ListRequest {
                table: t,
                scope: at.company,
                query: &q,
                page_size: page.0,
                skip_paging: paging.skip,
                resolve: &resolver,
                type_name: &type_name,
            },
        ) {
            Ok(l) => l,
            Err(ListError::Query(e)) => return query_error(e),
            Err(ListError::Store(e)) => return store_error(e),
        };
        let rows: Vec<Json> = listing
            .rows
            .iter()
            .map(|r| Json::Object(self.represent(req, t, r, q.select.as_deref())))
            .collect();
        collection::page_response(
            req,
            self.context(req, at, false),
            &listing,
            rows,
            page,
            paging,
        )
    }

    fn get(&self, db: &Db, req: &Req, at: &Place<'_>, key: &str) -> Resp {
        let q = match parse_query(&req.query) {
            Ok(q) => q,
            Err(e) => return query_error(e),
        };
        for s in q.select.iter().flatten() {
            if at.table.column(s).is_none() {
                return query_error(QueryError::unknown_property(
                    s,
                    Some(&format!("{NAMESPACE}.{}", entity_name(at.table))),
                ));
            }
        }
        match db.get(at.table, at.company, key) {
            Ok(Some(row)) => {
                let mut body = self.represent(req, at.table, &row, q.select.as_deref());
                body.insert(
                    "@odata.context".into(),
                    Json::String(self.context(req, at, true)),
                );
                Resp::json(200, &Json::Object(body)).with_header("ETag", etag(row.version))
            }
            Ok(None) => not_found(at.table, key),
            Err(e) => store_error(e),
        }
    }
}

/// Where an entity operation works: the API root, the company and the table.
struct Place<'a> {
    root: &'a str,
    company: &'a str,
    table: &'a TableSchema,
}

/// What a decimal with too many digits is told, as SQL Server words it.
pub(crate) fn digits_message(v: &Json, o: &Overflow) -> String {
    match o {
        Overflow::Scale { scale } => {
            format!("The value {v} has more than {scale} digits after the decimal point.")
        }
        Overflow::Precision { precision, scale } => {
            format!("Arithmetic overflow converting {v} to Decimal({precision},{scale}).")
        }
    }
}
