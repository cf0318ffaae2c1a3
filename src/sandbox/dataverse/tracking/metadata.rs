//! `GET EntityDefinitions(LogicalName='account')`: an entity's definition, as far as a client
//! asks it whether the table tracks changes (`$select=ChangeTrackingEnabled`).

use serde_json::{Map, Value as Json};

use super::super::choices::{by_logical_name, stable_guid};
use super::super::{query_error, Dv, PREFIX};
use super::Tracking;
use crate::sandbox::query::parse_query;
use crate::sandbox::request::{split_key, Req, Resp};

/// The properties of an entity definition the sandbox answers.
const PROPERTIES: [&str; 4] = [
    "LogicalName",
    "EntitySetName",
    "ChangeTrackingEnabled",
    "MetadataId",
];

/// Whether a path under the API root is one entity's definition itself (not one of its
/// attributes).
pub(in super::super) fn is_entity_definition(rest: &str) -> bool {
    !rest.contains('/')
        && split_key(rest).is_some_and(|(set, key)| set == "EntityDefinitions" && key.is_some())
}

impl Dv {
    /// An entity's definition: its names, its id, and whether it tracks changes. `$select`
    /// picks among them; the logical name and the id always come.
    pub(in super::super) fn entity_definition(
        &self,
        req: &Req,
        rest: &str,
        tracking: &Tracking,
    ) -> Resp {
        let entity = match by_logical_name(rest, "EntityDefinitions") {
            Ok(e) => e,
            Err(r) => return r,
        };
        let table = match self.entity_table(entity) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let select = match parse_query(&req.query) {
            Ok(q) => q.select,
            Err(e) => return query_error(e),
        };
        if let Some(unknown) = select
            .iter()
            .flatten()
            .find(|s| !PROPERTIES.contains(&s.as_str()))
        {
            return query_error(format!(
                "Could not find a property named '{unknown}' on type 'Microsoft.Dynamics.CRM.EntityMetadata'."
            ));
        }
        let wanted = |p: &str| select.as_ref().is_none_or(|s| s.iter().any(|x| x == p));
        let mut body = Map::new();
        let shape = select
            .as_ref()
            .map(|s| format!("({})", s.join(",")))
            .unwrap_or_default();
        body.insert(
            "@odata.context".into(),
            Json::String(format!(
                "{}{PREFIX}/$metadata#EntityDefinitions{shape}/$entity",
                req.origin
            )),
        );
        if wanted("ChangeTrackingEnabled") {
            body.insert(
                "ChangeTrackingEnabled".into(),
                Json::Bool(tracking.tracks(table)),
            );
        }
        if wanted("EntitySetName") {
            body.insert("EntitySetName".into(), Json::String(table.name.clone()));
        }
        body.insert("MetadataId".into(), Json::String(stable_guid(&[entity])));
        body.insert("LogicalName".into(), Json::String(entity.to_string()));
        Resp::json(200, &Json::Object(body))
    }
}
