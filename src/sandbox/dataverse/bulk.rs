//! Dataverse's bulk actions, bound to an entity set: `CreateMultiple` and `UpdateMultiple`
//! (`POST /accounts/Microsoft.Dynamics.CRM.CreateMultiple` with `{"Targets": [...]}`). On a
//! standard table they are one transaction: a target the service refuses fails the whole
//! request with that target's error, and nothing is written. `CreateMultiple` answers the keys
//! of the rows it made (`{"Ids": [...]}`) and nothing else of them; `UpdateMultiple` answers
//! `204`. Neither takes a condition (`If-Match`) per row.

use std::collections::HashSet;

use serde_json::{json, Map, Value as Json};

use super::{code, logical_name, not_found, payload_error, store_error, Dv, NAMESPACE, PREFIX};
use crate::sandbox::codec::Numbers;
use crate::sandbox::request::{Req, Resp};
use crate::sandbox::store::Db;
use crate::schema::TableSchema;

/// The most targets one bulk request may carry: the sandbox holds them to what a `$batch`
/// may carry.
const MAX_TARGETS: usize = 1000;

/// A bulk action the service knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bulk {
    Create,
    Update,
}

impl Bulk {
    /// The action a path segment names (`Microsoft.Dynamics.CRM.CreateMultiple`).
    pub(super) fn named(segment: &str) -> Option<Bulk> {
        match segment.strip_prefix(NAMESPACE)?.strip_prefix('.')? {
            "CreateMultiple" => Some(Bulk::Create),
            "UpdateMultiple" => Some(Bulk::Update),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Bulk::Create => "CreateMultiple",
            Bulk::Update => "UpdateMultiple",
        }
    }
}

impl Dv {
    /// Runs a bulk action on table `t`, inside the request's transaction (rolled back when
    /// the answer is an error); `writes` becomes the number of targets it carried.
    pub(super) fn bulk(
        &self,
        db: &mut Db,
        req: &Req,
        t: &TableSchema,
        action: Bulk,
        writes: &mut usize,
    ) -> Resp {
        let targets = match targets(t, req, action) {
            Ok(list) => list,
            Err(r) => return r,
        };
        *writes = targets.len();
        let caller = match self.caller(db, req) {
            Ok(c) => c,
            Err(r) => return r,
        };
        let numbers = Numbers::of_media_type(req.header("content-type"));
        let mut ids = Vec::with_capacity(targets.len());
        let mut seen = HashSet::with_capacity(targets.len());
        for target in &targets {
            let id = match action {
                Bulk::Create => self.create_target(db, t, &caller, target, numbers),
                Bulk::Update => self.update_target(db, t, &caller, target, numbers),
            };
            match id {
                Ok(id) if !seen.insert(id.clone()) => return duplicate_target(t, action, &id),
                Ok(id) => ids.push(id),
                Err(r) => return r,
            }
        }
        match action {
            Bulk::Create => Resp::json(
                200,
                &json!({
                    "@odata.context": format!("{}{PREFIX}/$metadata#{NAMESPACE}.CreateMultipleResponse", req.origin),
                    "Ids": ids,
                }),
            ),
            Bulk::Update => Resp::empty(204),
        }
    }

    fn create_target(
        &self,
        db: &mut Db,
        t: &TableSchema,
        caller: &str,
        target: &Map<String, Json>,
        numbers: Numbers,
    ) -> Result<String, Resp> {
        let (key, fields) = self.fields_of(db, t, target, numbers, None)?;
        let key = self.new_key(t, key)?;
        Ok(self.insert_row(db, t, caller, &key, fields)?.key)
    }

    fn update_target(
        &self,
        db: &mut Db,
        t: &TableSchema,
        caller: &str,
        target: &Map<String, Json>,
        numbers: Numbers,
    ) -> Result<String, Resp> {
        let (key, mut fields) = self.fields_of(db, t, target, numbers, None)?;
        let key = key.ok_or_else(|| {
            payload_error(
                t,
                &format!(
                    "Each target of UpdateMultiple must set the key property '{}'.",
                    t.key
                ),
            )
        })?;
        let old = match db.get(t, "", &key) {
            Ok(Some(row)) => row,
            Ok(None) => return Err(not_found(t, &key)),
            Err(e) => return Err(store_error(e)),
        };
        self.derive(t, Some(&old), caller, &mut fields);
        db.update(t, "", &key, &fields).map_err(store_error)?;
        Ok(key)
    }
}

/// The targets of a bulk request: a JSON object whose `Targets` holds 1 to [`MAX_TARGETS`]
/// entities, each typed as the table's entity type.
fn targets(t: &TableSchema, req: &Req, action: Bulk) -> Result<Vec<Map<String, Json>>, Resp> {
    let name = action.name();
    let mut body: Json = serde_json::from_slice(&req.body)
        .map_err(|e| payload_error(t, &format!("The request body is not valid JSON: {e}")))?;
    let targets = body.as_object_mut().and_then(|o| o.remove("Targets"));
    let Some(Json::Array(list)) = targets else {
        return Err(payload_error(
            t,
            &format!("{name} expects a body with a 'Targets' array of entities."),
        ));
    };
    if list.is_empty() || list.len() > MAX_TARGETS {
        return Err(Resp::error(
            400,
            code::VALIDATION,
            &format!(
                "{name} takes 1 to {MAX_TARGETS} targets; the request has {}.",
                list.len()
            ),
        ));
    }
    let entity_type = format!("{NAMESPACE}.{}", logical_name(t));
    list.into_iter()
        .map(|target| match target {
            Json::Object(obj)
                if obj.get("@odata.type").and_then(Json::as_str) == Some(&entity_type) =>
            {
                Ok(obj)
            }
            Json::Object(_) => Err(payload_error(
                t,
                &format!("Each target of {name} on '{}' must be annotated \"@odata.type\": \"{entity_type}\".", t.name),
            )),
            _ => Err(payload_error(t, &format!("The targets of {name} must be entities."))),
        })
        .collect()
}

fn duplicate_target(t: &TableSchema, action: Bulk, id: &str) -> Resp {
    Resp::error(
        400,
        code::VALIDATION,
        &format!(
            "{} has more than one target for {} With Id = {id}.",
            action.name(),
            logical_name(t)
        ),
    )
}
