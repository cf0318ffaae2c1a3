//! Business Central's writes: a body read into column values, number series, the
//! user-facing key kept unique within a company, and `If-Match` required on updates and
//! deletes.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::schema::{ColumnSchema, ColumnType, TableSchema};
use crate::value::Value;

use super::{
    digits_message, entity_name, error, etag, json_object, not_found, store_error, Bc, Place,
    NAMESPACE,
};
use crate::sandbox::codec::Numbers;
use crate::sandbox::request::{etag_core, Req, Resp};
use crate::sandbox::store::{Db, Row};
use crate::sandbox::values::{self, Problem};

impl Bc {
    /// Reads a write's body into column values.
    fn fields(&self, t: &TableSchema, req: &Req) -> Result<BTreeMap<String, Value>, Resp> {
        let numbers = Numbers::of_media_type(req.header("content-type"));
        let obj = json_object(req)?;
        let mut fields = BTreeMap::new();
        for (name, v) in &obj {
            if name.starts_with('@') || name.contains('@') {
                continue;
            }
            let Some(c) = t.column(name) else {
                return Err(error(400, "BadRequest_PropertyNotFound", &format!(
                    "The property '{name}' does not exist on type '{NAMESPACE}.{}'. Make sure to only use property names that are defined by the type.",
                    entity_name(t)
                )));
            };
            if c.read_only {
                return Err(error(
                    400,
                    "BadRequest",
                    &format!(
                        "The property '{name}' is read-only and cannot be set on '{}'.",
                        entity_name(t)
                    ),
                ));
            }
            // The all-zero GUID is how clients empty a GUID field.
            let value = match values::read(c, v, numbers).map_err(|p| problem(c, v, p))? {
                Value::String(g) if c.ty == ColumnType::Guid && g == super::EMPTY_GUID => {
                    Value::Null
                }
                value => value,
            };
            fields.insert(name.clone(), value);
        }
        Ok(fields)
    }

    /// Checks that the user-facing key (number or code) stays unique within the company.
    fn unique(
        &self,
        db: &Db,
        at: &Place<'_>,
        key: Option<&str>,
        fields: &BTreeMap<String, Value>,
    ) -> Result<(), Resp> {
        let Some(col) = user_key(at.table) else {
            return Ok(());
        };
        let Some(v @ Value::String(s)) = fields.get(col) else {
            return Ok(());
        };
        match db.find_key(at.table, at.company, col, v) {
            Ok(Some(other)) if Some(other.as_str()) != key => Err(error(
                400,
                "Internal_EntityWithSameKeyExists",
                &format!(
                    "The record already exists. Identification fields and values: {col}='{s}'"
                ),
            )),
            Ok(_) => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }

    pub(super) fn create(&self, db: &mut Db, req: &Req, at: &Place<'_>) -> Resp {
        let t = at.table;
        let mut fields = match self.fields(t, req) {
            Ok(f) => f,
            Err(r) => return r,
        };
        if let Err(r) = number(db, at, &mut fields) {
            return r;
        }
        if let Err(r) = required(t, &fields) {
            return r;
        }
        if let Err(r) = self.unique(db, at, None, &fields) {
            return r;
        }
        let key = uuid::Uuid::new_v4().to_string();
        match db.insert(t, at.company, &key, &fields) {
            Ok(row) => self.created(req, at, &row),
            Err(e) => store_error(e),
        }
    }

    /// The answer to a successful create: the row, its ETag and its URL.
    fn created(&self, req: &Req, at: &Place<'_>, row: &Row) -> Resp {
        let t = at.table;
        let mut body = self.represent(req, t, row, None);
        body.insert(
            "@odata.context".into(),
            Json::String(self.context(req, at, true)),
        );
        Resp::json(201, &Json::Object(body))
            .with_header("ETag", etag(row.version))
            .with_header(
                "Location",
                format!(
                    "{}{}/companies({})/{}({})",
                    req.origin, at.root, at.company, t.name, row.key
                ),
            )
    }

    /// The row a `PATCH` or `DELETE` may change: it exists and `If-Match` matches.
    fn precondition(&self, db: &Db, req: &Req, at: &Place<'_>, key: &str) -> Result<Row, Resp> {
        let Some(tag) = req.header("if-match") else {
            return Err(error(400, "BadRequest_InvalidToken", "Could not validate the client concurrency token required by the service. Please provide a valid token in the client request."));
        };
        let row = match db.get(at.table, at.company, key) {
            Ok(Some(r)) => r,
            Ok(None) => return Err(not_found(at.table, key)),
            Err(e) => return Err(store_error(e)),
        };
        if tag.trim() != "*" && etag_core(tag) != etag_core(&etag(row.version)) {
            return Err(error(
                412,
                "Request_EntityChanged",
                "Another user has already changed the record.",
            ));
        }
        Ok(row)
    }

    pub(super) fn patch(&self, db: &mut Db, req: &Req, at: &Place<'_>, key: &str) -> Resp {
        if let Err(r) = self.precondition(db, req, at, key) {
            return r;
        }
        let fields = match self.fields(at.table, req) {
            Ok(f) => f,
            Err(r) => return r,
        };
        if let Some(col) = user_key(at.table) {
            if fields
                .get(col)
                .is_some_and(|v| v.to_text().is_none_or(|s| s.trim().is_empty()))
            {
                return error(
                    400,
                    "Application_FieldValidationException",
                    &format!("'{col}' must have a value."),
                );
            }
        }
        if let Err(r) = self.unique(db, at, Some(key), &fields) {
            return r;
        }
        match db.update(at.table, at.company, key, &fields) {
            Ok(row) => {
                let mut body = self.represent(req, at.table, &row, None);
                body.insert(
                    "@odata.context".into(),
                    Json::String(self.context(req, at, true)),
                );
                Resp::json(200, &Json::Object(body)).with_header("ETag", etag(row.version))
            }
            Err(e) => store_error(e),
        }
    }

    pub(super) fn delete(&self, db: &mut Db, req: &Req, at: &Place<'_>, key: &str) -> Resp {
        if let Err(r) = self.precondition(db, req, at, key) {
            return r;
        }
        match db.delete(at.table, at.company, key) {
            Ok(_) => Resp::empty(204),
            Err(e) => store_error(e),
        }
    }
}

/// The number series of a table: the column, prefix and digits (`C00010`).
fn series(t: &TableSchema) -> Option<(&'static str, &'static str, usize)> {
    match t.name.as_str() {
        "customers" => Some(("number", "C", 5)),
        "vendors" => Some(("number", "V", 5)),
        "contacts" => Some(("number", "CT", 6)),
        _ => None,
    }
}

/// The column that identifies a row to users, unique within a company.
fn user_key(t: &TableSchema) -> Option<&'static str> {
    if t.column("number").is_some() {
        Some("number")
    } else if t.column("code").is_some() {
        Some("code")
    } else {
        None
    }
}

/// A value problem in Business Central's words, about the column in `target` (the message
/// alone does not always name it).
fn problem(c: &ColumnSchema, v: &Json, p: Problem) -> Resp {
    let (code, message) = match p {
        Problem::Type(edm) => ("BadRequest", format!(
            "Cannot convert a primitive value to the expected type '{edm}' for '{}': {v}.", c.name
        )),
        Problem::Null => ("BadRequest", format!("'{}' cannot be null.", c.name)),
        Problem::TooLong { max, len } => ("Application_StringExceededLength", format!(
            "The length of the string is {len}, but it must be less than or equal to {max} characters. Value: {}",
            v.as_str().unwrap_or_default()
        )),
        Problem::NotAnOption(i) => ("BadRequest", format!("{i} is not a valid value of '{}'.", c.name)),
        Problem::NotAMember(s) => ("BadRequest", format!(
            "Cannot convert the literal '{s}' to the expected type of '{}'.", c.name
        )),
        Problem::Digits(o) => ("Application_DecimalOverflow", digits_message(v, &o)),
    };
    let message = format!("{message}  CorrelationId:  {}.", uuid::Uuid::new_v4());
    Resp::error_at(400, code, &message, &c.name)
}

/// Gives a create without a number (or a blank one) the next of the table's number series.
fn number(db: &mut Db, at: &Place<'_>, fields: &mut BTreeMap<String, Value>) -> Result<(), Resp> {
    let Some((col, prefix, width)) = series(at.table) else {
        return Ok(());
    };
    let blank = fields
        .get(col)
        .is_none_or(|v| v.to_text().is_none_or(|s| s.trim().is_empty()));
    if blank {
        let n = db.next_number(at.company, prefix).map_err(store_error)?;
        fields.insert(
            col.to_string(),
            Value::String(format!("{prefix}{n:0width$}")),
        );
    }
    Ok(())
}

/// Checks that a create sets every column it must, and not to blanks.
fn required(t: &TableSchema, fields: &BTreeMap<String, Value>) -> Result<(), Resp> {
    for c in t
        .columns
        .iter()
        .filter(|c| c.required_on_create && c.name != t.key)
    {
        if fields
            .get(&c.name)
            .is_none_or(|v| v.to_text().is_none_or(|s| s.trim().is_empty()))
        {
            return Err(error(
                400,
                "Application_FieldValidationException",
                &format!("'{}' must have a value.", c.name),
            ));
        }
    }
    Ok(())
}
