//! The Dataverse Web API emulator (`/api/data/v9.2/…`): entity sets from the Dataverse
//! snapshot, rows with `@odata.etag` from `versionnumber`, lookups read as `_x_value` and
//! written with `x@odata.bind`, conditional writes, upserts, `WhoAmI` and `$metadata`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value as Json};

use crate::schema::{ColumnSchema, ColumnType, TableSchema};
use crate::value::Value;

use super::codec::{self, Numbers};
use super::collection::{self, ListError, ListRequest, Paging};
use super::faults::Monitor;
use super::keys;
use super::query::{parse_query, Query};
use super::request::{etag_core, guid_key, split_key, Req, Resp, Whole};
use super::store::{Db, Row, Store, StoreError};
use super::values::{self, option_label, Problem};

/// Where the API lives on the server.
pub(crate) const PREFIX: &str = "/api/data/v9.2";
/// The namespace of the entity types.
pub(crate) const NAMESPACE: &str = "Microsoft.Dynamics.CRM";
/// Dataverse's default and largest page.
const MAX_PAGE: usize = 5000;

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
    /// Its tables.
    pub store: Store,
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
        Dv { store, app_user }
    }

    /// The route name of a request for statistics: method and entity set.
    pub fn route(&self, req: &Req) -> String {
        let rest = req.path.strip_prefix(PREFIX).unwrap_or(&req.path);
        let first = rest.trim_start_matches('/').split('/').next().unwrap_or("");
        split_key(first).map_or(first, |(set, _)| set).to_string()
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
            _ => {
                let paging = paging(monitor);
                let mut db = self.store.lock();
                let answer = db.transaction(|db| self.operation(db, req, paging), Resp::ok);
                if req.method != "GET" {
                    monitor.count_writes(1);
                }
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

    /// One data operation on an entity set, inside the caller's transaction (a `$batch` runs
    /// its operations through here too).
    pub fn operation(&self, db: &mut Db, req: &Req, paging: Paging) -> Resp {
        let rest = req.path.strip_prefix(PREFIX).unwrap_or(&req.path);
        let rest = rest.trim_start_matches('/');
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
            ("GET", None) => self.list(db, req, table, paging),
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

    /// A row as JSON: the selected properties (the key always), lookups as `_x_value`.
    fn represent(
        &self,
        t: &TableSchema,
        row: &Row,
        select: Option<&[String]>,
        a: Annotations,
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
            if a.formatted {
                if let Some(label) = option_label(c, &v) {
                    out.insert(
                        format!("{wire}@OData.Community.Display.V1.FormattedValue"),
                        Json::String(label),
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
        let type_name = format!("{NAMESPACE}.{}", logical_name(t));
        let resolver = |name: &str| resolve(t, name);
        let listing = match collection::list(
            db,
            &ListRequest {
                table: t,
                scope: "",
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
        let a = Annotations::of(req);
        let rows: Vec<Json> = listing
            .rows
            .iter()
            .map(|r| Json::Object(self.represent(t, r, q.select.as_deref(), a)))
            .collect();
        collection::page_response(
            req,
            self.context(req, t, q.select.as_deref(), false),
            &listing,
            rows,
            page,
            paging,
        )
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
                let mut body = self.represent(t, &row, q.select.as_deref(), Annotations::of(req));
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

    /// Reads a write's body into column values; `key` is the key of the URL (PATCH).
    fn fields(
        &self,
        db: &Db,
        t: &TableSchema,
        req: &Req,
        key: Option<&str>,
    ) -> Result<(Option<String>, BTreeMap<String, Value>), Resp> {
        let numbers = Numbers::of_media_type(req.header("content-type"));
        let json: Json = serde_json::from_slice(&req.body)
            .map_err(|e| payload_error(t, &format!("The request body is not valid JSON: {e}")))?;
        let Json::Object(obj) = json else {
            return Err(payload_error(t, "The request body must be a JSON object."));
        };
        let entity = logical_name(t);
        let mut body_key = None;
        let mut fields = BTreeMap::new();
        for (name, v) in &obj {
            if name.starts_with('@') {
                continue;
            }
            if let Some((nav, annotation)) = name.split_once('@') {
                if annotation == "odata.bind" {
                    self.bind(db, t, nav, v, &mut fields)?;
                }
                continue;
            }
            let Some(c) = t
                .column(name)
                .filter(|c| !matches!(c.ty, ColumnType::Lookup { .. }))
            else {
                return Err(payload_error(t, &format!(
                    "The property '{name}' does not exist on type '{NAMESPACE}.{entity}'. Make sure to only use property names that are defined by the type or mark the type as open type."
                )));
            };
            if *name == t.key {
                let k = keys::body_key(t, v).map_err(|edm| {
                    payload_error(
                        t,
                        &format!("Cannot convert the literal '{v}' to the expected type '{edm}'."),
                    )
                })?;
                if key.is_some_and(|u| u != k) {
                    return Err(Resp::error(
                        400,
                        code::PAYLOAD,
                        "The key in the request body does not match the key in the URL.",
                    ));
                }
                body_key = Some(k);
                continue;
            }
            if c.read_only || is_lookup_type(t, name) {
                return Err(Resp::error(
                    400,
                    code::VALIDATION,
                    &format!("The property '{name}' of entity '{entity}' cannot be set: it is read-only (set lookups with '@odata.bind')."),
                ));
            }
            let value = values::read(c, v, numbers).map_err(|p| problem(t, c, v, p))?;
            fields.insert(name.clone(), value);
        }
        Ok((body_key, fields))
    }

    /// Applies `nav@odata.bind`: the lookup column (and its type column) from a reference.
    fn bind(
        &self,
        db: &Db,
        t: &TableSchema,
        nav: &str,
        v: &Json,
        fields: &mut BTreeMap<String, Value>,
    ) -> Result<(), Resp> {
        let entity = logical_name(t);
        let undeclared = || {
            payload_error(t, &format!(
            "An undeclared property '{nav}' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values."
        ))
        };
        let lookup = |name: &str| {
            t.column(name)
                .filter(|c| matches!(c.ty, ColumnType::Lookup { .. }))
        };
        // `parentcustomerid_account`: the lookup, restricted to one target entity.
        let (column, only) = match lookup(nav) {
            Some(c) => (c, None),
            None => {
                let (stem, suffix) = nav.rsplit_once('_').ok_or_else(undeclared)?;
                (lookup(stem).ok_or_else(undeclared)?, Some(suffix))
            }
        };
        let ColumnType::Lookup { targets } = &column.ty else {
            return Err(undeclared());
        };
        if column.read_only {
            return Err(Resp::error(400, code::VALIDATION, &format!(
                "The property '{}' of entity '{entity}' is set by the system and cannot be bound.", column.name
            )));
        }
        let type_column = format!("{}type", column.name);
        let has_type = t.column(&type_column).is_some();
        if v.is_null() {
            fields.insert(column.name.clone(), Value::Null);
            if has_type {
                fields.insert(type_column, Value::Null);
            }
            return Ok(());
        }
        let text = v.as_str().ok_or_else(|| {
            payload_error(t, &format!("The value of '{nav}@odata.bind' must be an entity reference such as '/accounts(00000000-0000-0000-0000-000000000001)'."))
        })?;
        let reference = match text.rfind(PREFIX) {
            Some(i) => &text[i + PREFIX.len()..],
            None => text,
        };
        let reference = reference.trim_start_matches('/');
        let bad_reference = || {
            payload_error(
                t,
                &format!("'{text}' is not a valid entity reference for '{nav}'."),
            )
        };
        let (set, key) = split_key(reference).ok_or_else(bad_reference)?;
        let key = key.and_then(guid_key).ok_or_else(bad_reference)?;
        let target = self
            .store
            .table(set)
            .filter(|target| targets.iter().any(|x| x == set) && only.is_none_or(|o| o == logical_name(target)))
            .ok_or_else(|| Resp::error(400, code::PAYLOAD, &format!(
                "'{nav}' of entity '{entity}' cannot refer to the entity set '{set}'; it refers to {}.", targets.join(" or ")
            )))?;
        match db.get(target, "", &key) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(Resp::error(
                    400,
                    code::NOT_FOUND,
                    &format!(
                        "{} With Id = {key} Does Not Exist (bound by '{nav}' of {entity})",
                        logical_name(target)
                    ),
                ))
            }
            Err(e) => return Err(store_error(e)),
        }
        fields.insert(column.name.clone(), Value::String(key));
        if has_type {
            fields.insert(type_column, Value::String(logical_name(target).to_string()));
        }
        Ok(())
    }

    /// Whom a write is made by: the user an `MSCRMCallerID` header impersonates (as Dataverse
    /// lets an application act for a person), else the application user itself.
    fn caller(&self, db: &mut Db, req: &Req) -> Result<String, Resp> {
        let Some(id) = req.header("mscrmcallerid") else {
            return Ok(self.app_user.id.clone());
        };
        let users = self.store.table("systemusers");
        let found = match (guid_key(id), users) {
            (Some(key), Some(users)) => db.get(users, "", &key).ok().flatten().map(|_| key),
            _ => None,
        };
        found.ok_or_else(|| {
            Resp::error(
                400,
                code::NOT_FOUND,
                &format!("systemuser With Id = {id} Does Not Exist (MSCRMCallerID)"),
            )
        })
    }

    /// Fills what the platform computes: full names, and who created and modified the row.
    fn derive(
        &self,
        t: &TableSchema,
        old: Option<&Row>,
        caller: &str,
        fields: &mut BTreeMap<String, Value>,
    ) {
        if t.column("fullname").is_some()
            && t.column("firstname").is_some()
            && t.column("lastname").is_some()
            && (fields.contains_key("firstname") || fields.contains_key("lastname"))
        {
            let part = |name: &str| match fields.get(name) {
                Some(v) => v.to_text(),
                None => old.and_then(|r| r.get(name).to_text()),
            };
            let full: Vec<String> = [part("firstname"), part("lastname")]
                .into_iter()
                .flatten()
                .filter(|s| !s.trim().is_empty())
                .collect();
            fields.insert("fullname".into(), Value::String(full.join(" ")));
        }
        let me = Value::String(caller.to_string());
        if old.is_none() && t.column("createdby").is_some() {
            fields.insert("createdby".into(), me.clone());
        }
        if t.column("modifiedby").is_some() {
            fields.insert("modifiedby".into(), me);
        }
    }

    /// Checks that a create sets every column it must.
    fn required(&self, t: &TableSchema, fields: &BTreeMap<String, Value>) -> Result<(), Resp> {
        for c in t
            .columns
            .iter()
            .filter(|c| c.required_on_create && c.name != t.key)
        {
            if fields.get(&c.name).is_none_or(Value::is_missing) {
                return Err(Resp::error(400, code::VALIDATION, &format!(
                    "A validation error occurred. The value of '{}' on record of type '{}' is required.",
                    c.name, logical_name(t)
                )));
            }
        }
        Ok(())
    }

    fn entity_id(&self, req: &Req, t: &TableSchema, key: &str) -> String {
        format!("{}{PREFIX}/{}({key})", req.origin, t.name)
    }

    /// The answer to a successful create or update.
    fn written(&self, req: &Req, t: &TableSchema, row: &Row, created: bool) -> Resp {
        let id = self.entity_id(req, t, &row.key);
        if req.preference("return").as_deref() == Some("representation") {
            let select = parse_query(&req.query).ok().and_then(|q| q.select);
            let mut body = self.represent(t, row, select.as_deref(), Annotations::of(req));
            body.insert(
                "@odata.context".into(),
                Json::String(self.context(req, t, select.as_deref(), true)),
            );
            Resp::json(if created { 201 } else { 200 }, &Json::Object(body))
                .with_header("OData-EntityId", id)
                .with_header("Preference-Applied", "return=representation")
        } else {
            Resp::empty(204).with_header("OData-EntityId", id)
        }
    }

    fn insert(
        &self,
        db: &mut Db,
        req: &Req,
        t: &TableSchema,
        key: String,
        mut fields: BTreeMap<String, Value>,
    ) -> Resp {
        if let Err(r) = self.required(t, &fields) {
            return r;
        }
        let caller = match self.caller(db, req) {
            Ok(c) => c,
            Err(r) => return r,
        };
        self.derive(t, None, &caller, &mut fields);
        match db.insert(t, "", &key, &fields) {
            Ok(row) => self.written(req, t, &row, true),
            Err(e) => store_error(e),
        }
    }

    fn create(&self, db: &mut Db, req: &Req, t: &TableSchema) -> Resp {
        let (key, fields) = match self.fields(db, t, req, None) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let key = match key {
            Some(k) => k,
            // A table keyed by GUIDs makes one up; any other key is the client's to choose.
            None if t
                .column(&t.key)
                .is_none_or(|c| matches!(c.ty, ColumnType::Guid)) =>
            {
                uuid::Uuid::new_v4().to_string()
            }
            None => return payload_error(t, &format!("The key property '{}' must be set.", t.key)),
        };
        self.insert(db, req, t, key, fields)
    }

    fn patch(&self, db: &mut Db, req: &Req, t: &TableSchema, key: &str) -> Resp {
        let existing = match db.get(t, "", key) {
            Ok(r) => r,
            Err(e) => return store_error(e),
        };
        let create_only = req.header("if-none-match").is_some_and(|v| v.trim() == "*");
        if create_only && existing.is_some() {
            return store_error(StoreError::Duplicate);
        }
        if let Some(tag) = req.header("if-match") {
            let Some(row) = &existing else {
                return not_found(t, key);
            };
            if tag.trim() != "*" && etag_core(tag) != row.version.to_string() {
                return Resp::error(412, code::STALE, "The version of the existing record doesn't match the RowVersion property provided.");
            }
        }
        let (_, mut fields) = match self.fields(db, t, req, Some(key)) {
            Ok(x) => x,
            Err(r) => return r,
        };
        match existing {
            None => self.insert(db, req, t, key.to_string(), fields),
            Some(old) => {
                let caller = match self.caller(db, req) {
                    Ok(c) => c,
                    Err(r) => return r,
                };
                self.derive(t, Some(&old), &caller, &mut fields);
                match db.update(t, "", key, &fields) {
                    Ok(row) => self.written(req, t, &row, false),
                    Err(e) => store_error(e),
                }
            }
        }
    }

    fn delete(&self, db: &mut Db, req: &Req, t: &TableSchema, key: &str) -> Resp {
        let row = match db.get(t, "", key) {
            Ok(Some(r)) => r,
            Ok(None) => return not_found(t, key),
            Err(e) => return store_error(e),
        };
        if let Some(tag) = req.header("if-match") {
            if tag.trim() != "*" && etag_core(tag) != row.version.to_string() {
                return Resp::error(412, code::STALE, "The version of the existing record doesn't match the RowVersion property provided.");
            }
        }
        match db.delete(t, "", key) {
            Ok(_) => Resp::empty(204),
            Err(e) => store_error(e),
        }
    }
}

/// How the service pages: the configured cap, else Dataverse's 5000.
pub(crate) fn paging(monitor: &Monitor) -> Paging {
    Paging::of(&monitor.limits(), MAX_PAGE)
}

/// Whether a column is the type column of a polymorphic lookup (`owneridtype`), which the
/// service fills from the bound entity set.
fn is_lookup_type(t: &TableSchema, name: &str) -> bool {
    name.strip_suffix("type")
        .and_then(|stem| t.column(stem))
        .is_some_and(|c| matches!(c.ty, ColumnType::Lookup { .. }))
}

/// A value problem in Dataverse's words, about the column in `target`.
fn problem(t: &TableSchema, c: &ColumnSchema, v: &Json, p: Problem) -> Resp {
    let entity = logical_name(t);
    let (code, message) = match p {
        Problem::Type(edm) => {
            let text = format!("Cannot convert the literal '{v}' to the expected type '{edm}'.");
            return payload_error(t, &text);
        }
        Problem::Null => (code::VALIDATION, format!("A validation error occurred. The value of '{}' on record of type '{entity}' cannot be null.", c.name)),
        Problem::TooLong { max, .. } => (code::VALIDATION, format!(
            "A validation error occurred.  The length of the '{}' attribute of the '{entity}' entity exceeded the maximum allowed length of '{max}'.", c.name
        )),
        Problem::NotAnOption(i) => (code::VALIDATION, format!(
            "A validation error occurred. The value {i} of '{}' on record of type '{entity}' is outside the valid range.", c.name
        )),
        Problem::NotAMember(s) => (code::VALIDATION, format!("'{s}' is not a valid value of '{}'.", c.name)),
        Problem::Digits(o) => (code::VALIDATION, super::business_central::digits_message(v, &o)),
    };
    Resp::error_at(400, code, &message, &c.name)
}
