//! Dataverse's writes: a body read into column values, `@odata.bind` references checked
//! against their targets, what the platform fills in (full names, who created and modified a
//! row), and creates, upserts, updates and deletes with their conditions.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::schema::{ColumnSchema, ColumnType, TableSchema};
use crate::value::Value;

use super::{
    code, logical_name, not_found, payload_error, store_error, Annotations, Dv, NAMESPACE, PREFIX,
};
use crate::sandbox::codec::Numbers;
use crate::sandbox::keys;
use crate::sandbox::query::parse_query;
use crate::sandbox::request::{etag_core, guid_key, split_key, Req, Resp};
use crate::sandbox::store::{Choice, Db, Row, StoreError};
use crate::sandbox::values::{self, Problem};

impl Dv {
    /// Reads a write's body into column values; `key` is the key of the URL (PATCH).
    fn fields(
        &self,
        db: &Db,
        t: &TableSchema,
        req: &Req,
        key: Option<&str>,
    ) -> Result<(Option<String>, BTreeMap<String, Value>), Resp> {
        let numbers = Numbers::of_media_type(req.header("content-type"));
        let obj = body_object(t, req)?;
        self.fields_of(db, t, &obj, numbers, key)
    }

    /// Reads one entity's properties into column values: its key (which must be `key` when
    /// given) and what it sets.
    pub(super) fn fields_of(
        &self,
        db: &Db,
        t: &TableSchema,
        obj: &Map<String, Json>,
        numbers: Numbers,
        key: Option<&str>,
    ) -> Result<(Option<String>, BTreeMap<String, Value>), Resp> {
        let mut body_key = None;
        let mut fields = BTreeMap::new();
        for (name, v) in obj {
            if name.starts_with('@') {
                continue;
            }
            if let Some((nav, annotation)) = name.split_once('@') {
                if annotation == "odata.bind" {
                    self.bind(db, t, nav, v, &mut fields)?;
                }
                continue;
            }
            let c = body_column(t, name)?;
            if *name == t.key {
                body_key = Some(key_in_body(t, v, key)?);
                continue;
            }
            if c.read_only || is_lookup_type(t, name) {
                return Err(Resp::error(
                    400,
                    code::VALIDATION,
                    &format!("The property '{name}' of entity '{}' cannot be set: it is read-only (set lookups with '@odata.bind').", logical_name(t)),
                ));
            }
            let value = values::read_any_option(c, v, numbers).map_err(|p| problem(t, c, v, p))?;
            self.check_choice(db, t, c, &value, v)?;
            fields.insert(name.clone(), value);
        }
        Ok((body_key, fields))
    }

    /// Checks a choice's value against the column's options as they are now: options added
    /// with `InsertOptionValue` count, deleted ones no longer do.
    fn check_choice(
        &self,
        db: &Db,
        t: &TableSchema,
        c: &ColumnSchema,
        value: &Value,
        v: &Json,
    ) -> Result<(), Resp> {
        let (ColumnType::Option { options }, Value::Int(i)) = (&c.ty, value) else {
            return Ok(());
        };
        let choice = Choice {
            entity: logical_name(t),
            attribute: &c.name,
        };
        if db.option(choice, *i).map_err(store_error)?.is_some() {
            return Ok(());
        }
        // A snapshot without the column's options (a CSDL import) says nothing of its values:
        // any is taken, as before options were live, until a client adds some.
        if options.is_empty() && !db.has_options(choice).map_err(store_error)? {
            return Ok(());
        }
        Err(problem(t, c, v, Problem::NotAnOption(*i)))
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
        let (column, targets, only) = bound_lookup(t, nav)?;
        let type_column = format!("{}type", column.name);
        let has_type = t.column(&type_column).is_some();
        if v.is_null() {
            fields.insert(column.name.clone(), Value::Null);
            if has_type {
                fields.insert(type_column, Value::Null);
            }
            return Ok(());
        }
        let (set, key) = reference(t, nav, v)?;
        let target = self.bound_target(db, t, nav, (targets, only), set, &key)?;
        fields.insert(column.name.clone(), Value::String(key));
        if has_type {
            fields.insert(type_column, Value::String(logical_name(target).to_string()));
        }
        Ok(())
    }

    /// The table of entity set `set` that a reference through `nav` may name, when row `key`
    /// exists in it: one of the lookup's `targets`, and the `only` entity a suffixed
    /// navigation property restricts it to.
    fn bound_target(
        &self,
        db: &Db,
        t: &TableSchema,
        nav: &str,
        (targets, only): (&[String], Option<&str>),
        set: &str,
        key: &str,
    ) -> Result<&TableSchema, Resp> {
        let entity = logical_name(t);
        let target = self
            .store
            .table(set)
            .filter(|target| targets.iter().any(|x| x == set) && only.is_none_or(|o| o == logical_name(target)))
            .ok_or_else(|| Resp::error(400, code::PAYLOAD, &format!(
                "'{nav}' of entity '{entity}' cannot refer to the entity set '{set}'; it refers to {}.", targets.join(" or ")
            )))?;
        match db.get(target, "", key) {
            Ok(Some(_)) => Ok(target),
            Ok(None) => Err(Resp::error(
                400,
                code::NOT_FOUND,
                &format!(
                    "{} With Id = {key} Does Not Exist (bound by '{nav}' of {entity})",
                    logical_name(target)
                ),
            )),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Whom a write is made by: the user an `MSCRMCallerID` header impersonates (as Dataverse
    /// lets an application act for a person), else the application user itself.
    pub(super) fn caller(&self, db: &mut Db, req: &Req) -> Result<String, Resp> {
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
    pub(super) fn derive(
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
    fn written(&self, db: &Db, req: &Req, t: &TableSchema, row: &Row, created: bool) -> Resp {
        let id = self.entity_id(req, t, &row.key);
        if req.preference("return").as_deref() == Some("representation") {
            let select = parse_query(&req.query).ok().and_then(|q| q.select);
            let a = Annotations::of(req);
            let labels = match self.labels(db, t, a) {
                Ok(l) => l,
                Err(r) => return r,
            };
            let mut body = self.represent(t, row, select.as_deref(), a, &labels);
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
        fields: BTreeMap<String, Value>,
    ) -> Resp {
        let made = self
            .caller(db, req)
            .and_then(|caller| self.insert_row(db, t, &caller, &key, fields));
        match made {
            Ok(row) => self.written(db, req, t, &row, true),
            Err(r) => r,
        }
    }

    /// Makes a row, made by `caller`, once it sets every column it must.
    pub(super) fn insert_row(
        &self,
        db: &mut Db,
        t: &TableSchema,
        caller: &str,
        key: &str,
        mut fields: BTreeMap<String, Value>,
    ) -> Result<Row, Resp> {
        self.required(t, &fields)?;
        self.derive(t, None, caller, &mut fields);
        db.insert(t, "", key, &fields).map_err(store_error)
    }

    /// The key a create without one gets: a new GUID in a table keyed by GUIDs; any other key
    /// is the client's to choose.
    pub(super) fn new_key(&self, t: &TableSchema, key: Option<String>) -> Result<String, Resp> {
        match key {
            Some(k) => Ok(k),
            None if t
                .column(&t.key)
                .is_none_or(|c| matches!(c.ty, ColumnType::Guid)) =>
            {
                Ok(uuid::Uuid::new_v4().to_string())
            }
            None => Err(payload_error(
                t,
                &format!("The key property '{}' must be set.", t.key),
            )),
        }
    }

    pub(super) fn create(&self, db: &mut Db, req: &Req, t: &TableSchema) -> Resp {
        let (key, fields) = match self.fields(db, t, req, None) {
            Ok(x) => x,
            Err(r) => return r,
        };
        match self.new_key(t, key) {
            Ok(key) => self.insert(db, req, t, key, fields),
            Err(r) => r,
        }
    }

    pub(super) fn patch(&self, db: &mut Db, req: &Req, t: &TableSchema, key: &str) -> Resp {
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
                    Ok(row) => self.written(db, req, t, &row, false),
                    Err(e) => store_error(e),
                }
            }
        }
    }

    pub(super) fn delete(&self, db: &mut Db, req: &Req, t: &TableSchema, key: &str) -> Resp {
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
        Problem::Digits(o) => (code::VALIDATION, crate::sandbox::business_central::digits_message(v, &o)),
    };
    Resp::error_at(400, code, &message, &c.name)
}

/// A write's body, which must be a JSON object.
fn body_object(t: &TableSchema, req: &Req) -> Result<Map<String, Json>, Resp> {
    let json: Json = serde_json::from_slice(&req.body)
        .map_err(|e| payload_error(t, &format!("The request body is not valid JSON: {e}")))?;
    let Json::Object(obj) = json else {
        return Err(payload_error(t, "The request body must be a JSON object."));
    };
    Ok(obj)
}

/// The column a property of a write's body names; lookups are written with `@odata.bind`
/// only.
fn body_column<'t>(t: &'t TableSchema, name: &str) -> Result<&'t ColumnSchema, Resp> {
    t.column(name)
        .filter(|c| !matches!(c.ty, ColumnType::Lookup { .. }))
        .ok_or_else(|| payload_error(t, &format!(
            "The property '{name}' does not exist on type '{NAMESPACE}.{}'. Make sure to only use property names that are defined by the type or mark the type as open type.",
            logical_name(t)
        )))
}

/// The key a write's body gives, which must be the URL's `key` when there is one.
fn key_in_body(t: &TableSchema, v: &Json, key: Option<&str>) -> Result<String, Resp> {
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
    Ok(k)
}

/// The lookup column `nav@odata.bind` sets, its target entity sets, and the one target a
/// suffixed name restricts it to.
fn bound_lookup<'t, 'n>(
    t: &'t TableSchema,
    nav: &'n str,
) -> Result<(&'t ColumnSchema, &'t [String], Option<&'n str>), Resp> {
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
        return Err(Resp::error(
            400,
            code::VALIDATION,
            &format!(
                "The property '{}' of entity '{}' is set by the system and cannot be bound.",
                column.name,
                logical_name(t)
            ),
        ));
    }
    Ok((column, targets, only))
}

/// The entity set and key of an `@odata.bind` reference (`/accounts(…)`, absolute or not).
fn reference<'v>(t: &TableSchema, nav: &str, v: &'v Json) -> Result<(&'v str, String), Resp> {
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
    Ok((set, key))
}
