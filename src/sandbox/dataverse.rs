//! The Dataverse Web API emulator (`/api/data/v9.2/…`): entity sets from the Dataverse
//! snapshot, rows with `@odata.etag` from `versionnumber`, lookups read as `_x_value` and
//! written with `x@odata.bind`, conditional writes, upserts, `WhoAmI`, `$metadata`, and
//! change tracking (delta links, in [`tracking`]).

use std::sync::Arc;

use serde_json::{json, Map, Value as Json};

use crate::schema::{ColumnSchema, ColumnType, TableSchema};
use crate::value::Value;

use super::codec::{self, Numbers};
use super::collection::{self, ListError, ListRequest, Listing, Paging};
use super::faults::Monitor;
use super::keys;
use super::query::{parse_query, Query};
use super::request::{etag_core, split_key, Req, Resp, Whole};
use super::store::{Db, Row, Store, StoreError};
use bulk::Bulk;
use choices::{Labels, OptionAction};
use tracking::Tracking;

/// Where the API lives on the server.
pub(crate) const PREFIX: &str = "/api/data/v9.2";
/// The namespace of the entity types.
pub(crate) const NAMESPACE: &str = "Microsoft.Dynamics.CRM";
/// Dataverse's default and largest page.
const MAX_PAGE: usize = 5000;

mod bulk;
mod choices;
mod tracking;
mod write;

/// The application user the sandbox's clients act as, and its organization.
#[derive(Debug, Clone)]
pub(crate) struct AppUser {
    /// Its `systemuserid`.
    pub id: String,
    /// Its business unit.
    pub business_unit: String,
    /// The organization.
    pub organization: String,
}

/// The Dataverse service.
#[derive(Debug)]
pub(crate) struct Dv {
    /// Its tables (shared with [`super::Control`], which expires delta tokens).
    pub store: Arc<Store>,
    /// Who callers are.
    pub app_user: AppUser,
}

/// Error codes Dataverse answers with.
mod code {
    pub const NOT_FOUND: &str = "0x80040217";
    pub const DUPLICATE: &str = "0x80040237";
    pub const STALE: &str = "0x80060882";
    pub const QUERY: &str = "0x80060888";
    pub const PAYLOAD: &str = "0x80048d19";
    pub const VALIDATION: &str = "0x80044331";
    pub const INTERNAL: &str = "0x80040216";
    pub const EXPIRED: &str = "0x80044352";
}

/// Which annotations `Prefer: odata.include-annotations` asked for.
#[derive(Debug, Clone, Copy, Default)]
struct Annotations {
    lookup: bool,
    formatted: bool,
    /// How the answer writes decimals (`Accept: …;IEEE754Compatible=true`).
    numbers: Numbers,
}

impl Annotations {
    fn of(req: &Req) -> Annotations {
        let numbers = Numbers::of_media_type(req.header("accept"));
        let Some(list) = req.preference("odata.include-annotations") else {
            return Annotations {
                numbers,
                ..Annotations::default()
            };
        };
        let wants = |term: &str| {
            list.split(',').map(str::trim).any(|p| {
                p == "*"
                    || p == term
                    || p.strip_suffix('*')
                        .is_some_and(|prefix| term.starts_with(prefix))
            })
        };
        Annotations {
            lookup: wants("Microsoft.Dynamics.CRM.lookuplogicalname"),
            formatted: wants("OData.Community.Display.V1.FormattedValue"),
            numbers,
        }
    }
}

/// The entity type's logical name (`account`).
pub(crate) fn logical_name(t: &TableSchema) -> &str {
    t.entity_type.as_deref().unwrap_or(&t.name)
}

/// The property name a column has on the wire: `_x_value` for lookups.
pub(crate) fn wire_name(c: &ColumnSchema) -> String {
    match c.ty {
        ColumnType::Lookup { .. } => format!("_{}_value", c.name),
        _ => c.name.clone(),
    }
}

/// The column a property name of a query stands for.
fn resolve(t: &TableSchema, name: &str) -> Option<String> {
    if let Some(stem) = name
        .strip_prefix('_')
        .and_then(|n| n.strip_suffix("_value"))
    {
        return t
            .column(stem)
            .filter(|c| matches!(c.ty, ColumnType::Lookup { .. }))
            .map(|c| c.name.clone());
    }
    t.column(name)
        .filter(|c| !matches!(c.ty, ColumnType::Lookup { .. }))
        .map(|c| c.name.clone())
}

fn query_error(e: impl std::fmt::Display) -> Resp {
    Resp::error(400, code::QUERY, &e.to_string())
}

fn store_error(e: StoreError) -> Resp {
    match e {
        StoreError::Duplicate => Resp::error(
            412,
            code::DUPLICATE,
            "A record with matching key values already exists.",
        ),
        StoreError::NotFound => Resp::error(404, code::NOT_FOUND, "The record does not exist."),
        StoreError::Invalid(m) => Resp::error(400, code::VALIDATION, &m),
        StoreError::Internal(m) => Resp::error(500, code::INTERNAL, &m),
    }
}

fn payload_error(t: &TableSchema, why: &str) -> Resp {
    Resp::error(
        400,
        code::PAYLOAD,
        &format!(
            "Error identified in Payload provided by the user for Entity :'{}', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ----> InnerException : Microsoft.OData.ODataException: {why}",
            logical_name(t)
        ),
    )
}

fn not_found(t: &TableSchema, key: &str) -> Resp {
    Resp::error(
        404,
        code::NOT_FOUND,
        &format!(
            "Entity '{}' With Id = {key} Does Not Exist",
            logical_name(t)
        ),
    )
}

impl Dv {
    /// The service over these tables, acting for this user.
    pub fn new(store: Store, app_user: AppUser) -> Dv {
        Dv {
            store: Arc::new(store),
            app_user,
        }
    }

    /// The route name of a request for statistics: the entity set, and the bulk action
    /// bound to it (`accounts/CreateMultiple`), or the unbound action (`InsertOptionValue`).
    pub fn route(&self, req: &Req) -> String {
        let rest = req.path.strip_prefix(PREFIX).unwrap_or(&req.path);
        if let Some(action) = OptionAction::named(rest.trim_start_matches('/')) {
            return action.name().to_string();
        }
        let mut segments = rest.trim_start_matches('/').split('/');
        let first = segments.next().unwrap_or("");
        let set = split_key(first).map_or(first, |(set, _)| set);
        match segments.next().and_then(Bulk::named) {
            Some(action) => format!("{set}/{}", action.name()),
            None => set.to_string(),
        }
    }

    /// Whether the request's path names a bulk action.
    fn names_a_bulk_action(&self, req: &Req) -> bool {
        req.path
            .rsplit_once('/')
            .is_some_and(|(_, last)| Bulk::named(last).is_some())
    }

    /// Whether the request is to the service as a whole (answered by the dispatch).
    pub(crate) fn whole_service(&self, req: &Req) -> Option<Whole> {
        let rest = req.path.strip_prefix(PREFIX)?.trim_start_matches('/');
        match (req.method.as_str(), rest) {
            ("GET", "$metadata") => Some(Whole::Metadata),
            ("POST", "$batch") => Some(Whole::Batch),
            _ => None,
        }
    }

    /// The tables the service serves.
    pub(crate) fn schema(&self) -> &crate::schema::SystemSchema {
        &self.store.schema
    }

    /// Answers a request to a table (or the service document, or `WhoAmI`).
    pub fn handle(&self, req: &Req, monitor: &Monitor) -> Resp {
        let Some(rest) = req.path.strip_prefix(PREFIX) else {
            return Resp::error(
                404,
                code::QUERY,
                &format!("Resource not found for the segment '{}'.", req.path),
            );
        };
        match (req.method.as_str(), rest.trim_start_matches('/')) {
            ("GET", "") => self.service_document(req),
            ("GET", "WhoAmI" | "WhoAmI()") => Resp::json(
                200,
                &json!({
                    "@odata.context": format!("{}{PREFIX}/$metadata#{NAMESPACE}.WhoAmIResponse", req.origin),
                    "BusinessUnitId": self.app_user.business_unit,
                    "UserId": self.app_user.id,
                    "OrganizationId": self.app_user.organization,
                }),
            ),
            ("GET", r) if tracking::is_entity_definition(r) => {
                self.entity_definition(req, r, &Tracking::of(&monitor.limits()))
            }
            _ if monitor.limits().no_bulk_actions && self.names_a_bulk_action(req) => {
                let segment = req.path.rsplit('/').next().unwrap_or_default();
                let message = format!("Resource not found for the segment '{segment}'.");
                Resp::error(404, code::QUERY, &message)
            }
            _ => {
                let reading = reading(monitor);
                let mut db = self.store.lock();
                let mut writes = usize::from(req.method != "GET");
                let rest = rest.trim_start_matches('/');
                let answer = db.transaction(
                    |db| match self.choices(db, req, rest) {
                        Some(answer) => answer,
                        None => self.operation_counted(db, req, &reading, &mut writes),
                    },
                    Resp::ok,
                );
                monitor.count_writes(writes);
                answer
            }
        }
    }

    fn service_document(&self, req: &Req) -> Resp {
        let sets: Vec<Json> = self
            .store
            .schema
            .tables
            .iter()
            .map(|t| json!({"name": t.name, "kind": "EntitySet", "url": t.name}))
            .collect();
        Resp::json(
            200,
            &json!({"@odata.context": format!("{}{PREFIX}/$metadata", req.origin), "value": sets}),
        )
    }

    /// One data operation on an entity set, inside the caller's transaction: how a `$batch`
    /// runs its operations. Metadata (entity definitions, the actions on options) is served
    /// to requests sent alone only.
    pub fn operation(&self, db: &mut Db, req: &Req, reading: &Reading) -> Resp {
        let rest = req.path.strip_prefix(PREFIX).unwrap_or(&req.path);
        if choices::is_metadata(rest.trim_start_matches('/')) {
            return Resp::error(
                501,
                code::QUERY,
                &format!("The sandbox does not serve metadata requests such as '{}' inside a $batch; send them alone.", rest.trim_start_matches('/')),
            );
        }
        self.operation_counted(db, req, reading, &mut 0)
    }

    /// [`Dv::operation`], telling how many rows a bulk action wrote.
    fn operation_counted(
        &self,
        db: &mut Db,
        req: &Req,
        reading: &Reading,
        writes: &mut usize,
    ) -> Resp {
        let rest = req.path.strip_prefix(PREFIX).unwrap_or(&req.path);
        let rest = rest.trim_start_matches('/');
        if let Some((set, action)) = rest.split_once('/') {
            let bulk = Bulk::named(action).filter(|_| req.method == "POST");
            if let (Some(table), Some(bulk)) = (self.store.table(set), bulk) {
                return self.bulk(db, req, table, bulk, writes);
            }
        }
        if rest.contains('/') {
            return Resp::error(
                501,
                code::QUERY,
                &format!("The sandbox does not serve navigation paths such as '{rest}'."),
            );
        }
        let Some((set, key)) = split_key(rest) else {
            return query_error(format!("Bad Request - Error in query syntax: '{rest}'."));
        };
        let Some(table) = self.store.table(set) else {
            return Resp::error(
                404,
                code::QUERY,
                &format!("Resource not found for the segment '{set}'."),
            );
        };
        let key = match key.map(|k| keys::url_key(table, k)).transpose() {
            Ok(k) => k,
            Err(why) => return query_error(format!("Bad Request - Error in query syntax: {why}")),
        };
        match (req.method.as_str(), key) {
            ("GET", None) => self.read_collection(db, req, table, reading),
            ("GET", Some(k)) => self.get(db, req, table, &k),
            ("POST", None) => self.create(db, req, table),
            ("PATCH", Some(k)) => self.patch(db, req, table, &k),
            ("DELETE", Some(k)) => self.delete(db, req, table, &k),
            (m, _) => Resp::error(
                405,
                code::QUERY,
                &format!("The HTTP method '{m}' is not allowed on '{rest}'."),
            ),
        }
    }

    fn context(
        &self,
        req: &Req,
        t: &TableSchema,
        select: Option<&[String]>,
        entity: bool,
    ) -> String {
        let sel = select
            .map(|s| format!("({})", s.join(",")))
            .unwrap_or_default();
        let suffix = if entity { "/$entity" } else { "" };
        format!("{}{PREFIX}/$metadata#{}{sel}{suffix}", req.origin, t.name)
    }

    /// A row as JSON: the selected properties (the key always), lookups as `_x_value`, and
    /// choices' formatted values from `labels`.
    fn represent(
        &self,
        t: &TableSchema,
        row: &Row,
        select: Option<&[String]>,
        a: Annotations,
        labels: &Labels,
    ) -> Map<String, Json> {
        let mut out = Map::new();
        out.insert(
            "@odata.etag".into(),
            Json::String(format!("W/\"{}\"", row.version)),
        );
        for c in &t.columns {
            let wire = wire_name(c);
            if c.name != t.key && select.is_some_and(|s| !s.contains(&wire)) {
                continue;
            }
            let v = row.get(&c.name);
            if let (true, Value::Int(i)) = (a.formatted, &v) {
                if let Some(label) = labels.get(&c.name, *i) {
                    out.insert(
                        format!("{wire}@OData.Community.Display.V1.FormattedValue"),
                        Json::String(label.to_string()),
                    );
                }
            }
            if let (ColumnType::Lookup { targets }, Value::String(_)) = (&c.ty, &v) {
                if a.lookup {
                    let kind = row.get(&format!("{}type", c.name));
                    let logical = match kind {
                        Value::String(s) if !s.is_empty() => Some(s),
                        _ => targets
                            .first()
                            .and_then(|s| self.store.table(s))
                            .map(|t| logical_name(t).to_string()),
                    };
                    if let Some(l) = logical {
                        out.insert(
                            format!("{wire}@Microsoft.Dynamics.CRM.lookuplogicalname"),
                            Json::String(l),
                        );
                    }
                }
            }
            out.insert(wire, codec::write(&v, a.numbers));
        }
        out
    }

    fn select(&self, t: &TableSchema, q: &Query) -> Result<(), Resp> {
        for s in q.select.iter().flatten() {
            if resolve(t, s).is_none() {
                return Err(query_error(format!(
                    "Could not find a property named '{s}' on type '{NAMESPACE}.{}'.",
                    logical_name(t)
                )));
            }
        }
        Ok(())
    }

    fn list(&self, db: &Db, req: &Req, t: &TableSchema, paging: Paging) -> Resp {
        let q = match parse_query(&req.query) {
            Ok(q) => q,
            Err(e) => return query_error(e),
        };
        let page = paging.size(req.preference("odata.maxpagesize"));
        match self.page_of_rows(db, req, t, &q, page.0, paging) {
            Ok((listing, rows)) => collection::page_response(
                req,
                self.context(req, t, q.select.as_deref(), false),
                &listing,
                rows,
                page,
                paging,
            ),
            Err(r) => r,
        }
    }

    /// One page of a listing: what was read, and its rows as the answer shows them.
    fn page_of_rows(
        &self,
        db: &Db,
        req: &Req,
        t: &TableSchema,
        q: &Query,
        page_size: usize,
        paging: Paging,
    ) -> Result<(Listing, Vec<Json>), Resp> {
        let type_name = format!("{NAMESPACE}.{}", logical_name(t));
        let resolver = |name: &str| resolve(t, name);
        let listing = collection::list(
            db,
            &ListRequest {
                table: t,
                scope: "",
                query: q,
                page_size,
                skip_paging: paging.skip,
                resolve: &resolver,
                type_name: &type_name,
            },
        )
        .map_err(|e| match e {
            ListError::Query(e) => query_error(e),
            ListError::Store(e) => store_error(e),
        })?;
        let a = Annotations::of(req);
        let labels = self.labels(db, t, a)?;
        let rows: Vec<Json> = listing
            .rows
            .iter()
            .map(|r| Json::Object(self.represent(t, r, q.select.as_deref(), a, &labels)))
            .collect();
        Ok((listing, rows))
    }

    fn get(&self, db: &Db, req: &Req, t: &TableSchema, key: &str) -> Resp {
        let q = match parse_query(&req.query) {
            Ok(q) => q,
            Err(e) => return query_error(e),
        };
        if let Err(r) = self.select(t, &q) {
            return r;
        }
        match db.get(t, "", key) {
            Ok(Some(row)) => {
                if req
                    .header("if-none-match")
                    .is_some_and(|e| etag_core(e) == row.version.to_string())
                {
                    return Resp::empty(304);
                }
                let a = Annotations::of(req);
                let labels = match self.labels(db, t, a) {
                    Ok(l) => l,
                    Err(r) => return r,
                };
                let mut body = self.represent(t, &row, q.select.as_deref(), a, &labels);
                body.insert(
                    "@odata.context".into(),
                    Json::String(self.context(req, t, q.select.as_deref(), true)),
                );
                Resp::json(200, &Json::Object(body))
            }
            Ok(None) => not_found(t, key),
            Err(e) => store_error(e),
        }
    }
}

/// How the service reads collections under the sandbox's limits.
#[derive(Debug, Clone)]
pub(crate) struct Reading {
    /// How it pages: the configured cap, else Dataverse's 5000.
    pub paging: Paging,
    /// Which tables track changes.
    pub tracking: Tracking,
}

/// How the service reads collections now.
pub(crate) fn reading(monitor: &Monitor) -> Reading {
    let limits = monitor.limits();
    Reading {
        paging: Paging::of(&limits, MAX_PAGE),
        tracking: Tracking::of(&limits),
    }
}
