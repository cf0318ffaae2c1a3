//! Dataverse's choice columns as metadata: a column's options read through
//! `EntityDefinitions(LogicalName='account')/Attributes(LogicalName='paymenttermscode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`,
//! and changed with the unbound actions `InsertOptionValue`, `UpdateOptionValue` and
//! `DeleteOptionValue` (in [`actions`]). The options live in the store, so a row's choice is
//! checked against them, and formatted values show their labels, as on the real service.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value as Json};

use super::{code, logical_name, store_error, Annotations, Dv, NAMESPACE, PREFIX};
use crate::sandbox::request::{split_key, Req, Resp};
use crate::sandbox::store::{user_label, Choice, Db, LiveOption, Localized};
use crate::schema::{ColumnSchema, ColumnType, TableSchema};

mod actions;

/// The cast that makes an attribute's metadata carry its option set.
const PICKLIST: &str = "PicklistAttributeMetadata";

/// The actions on a choice column's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OptionAction {
    Insert,
    Update,
    Delete,
}

impl OptionAction {
    /// The action a path under the API root names (`InsertOptionValue`, or with the
    /// namespace: `Microsoft.Dynamics.CRM.InsertOptionValue`).
    pub(super) fn named(rest: &str) -> Option<OptionAction> {
        let name = rest
            .strip_prefix(NAMESPACE)
            .and_then(|r| r.strip_prefix('.'))
            .unwrap_or(rest);
        match name {
            "InsertOptionValue" => Some(OptionAction::Insert),
            "UpdateOptionValue" => Some(OptionAction::Update),
            "DeleteOptionValue" => Some(OptionAction::Delete),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            OptionAction::Insert => "InsertOptionValue",
            OptionAction::Update => "UpdateOptionValue",
            OptionAction::Delete => "DeleteOptionValue",
        }
    }
}

/// Whether a path under the API root is metadata: an entity definition or an action on
/// options.
pub(super) fn is_metadata(rest: &str) -> bool {
    let first = rest.split('/').next().unwrap_or_default();
    OptionAction::named(rest).is_some()
        || rest == "PublishXml"
        || split_key(first).is_some_and(|(set, _)| set == "EntityDefinitions")
}

/// `PublishXml`: publishes customizations. The sandbox keeps no unpublished layer, so this
/// only checks the request is one the service would take.
fn publish(req: &Req) -> Resp {
    let body: Result<serde_json::Value, _> = serde_json::from_slice(&req.body);
    match body
        .as_ref()
        .ok()
        .and_then(|b| b.get("ParameterXml")?.as_str())
    {
        Some(xml) if xml.contains("<importexportxml>") => Resp::empty(204),
        _ => Resp::error(
            400,
            "0x80040203",
            "PublishXml needs a ParameterXml naming what to publish (<importexportxml>…).",
        ),
    }
}

/// The live labels of a table's choice columns by column and value, for formatted values.
#[derive(Debug, Default)]
pub(super) struct Labels(HashMap<String, BTreeMap<i64, String>>);

impl Labels {
    /// The label a user sees for a column's value.
    pub(super) fn get(&self, column: &str, value: i64) -> Option<&str> {
        self.0.get(column)?.get(&value).map(String::as_str)
    }
}

/// A GUID that is the same for the same names in every sandbox, as metadata ids are stable
/// on the real service: FNV-1a over the names, twice with different offsets for 128 bits.
pub(super) fn stable_guid(parts: &[&str]) -> String {
    let hash = |offset: u64| {
        parts
            .iter()
            .flat_map(|p| p.bytes().chain([0]))
            .fold(offset, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
    };
    let bits =
        (u128::from(hash(0xcbf2_9ce4_8422_2325)) << 64) | u128::from(hash(0x8422_2325_cbf2_9ce4));
    uuid::Builder::from_random_bytes(bits.to_be_bytes())
        .into_uuid()
        .to_string()
}

/// The key of `Set(LogicalName='name')`, when `segment` is one of `set`.
pub(super) fn by_logical_name<'s>(segment: &'s str, set: &str) -> Result<&'s str, Resp> {
    let shape = || {
        Resp::error(
            501,
            code::QUERY,
            &format!("The sandbox finds {set} by logical name only, as {set}(LogicalName='name'); not '{segment}'."),
        )
    };
    match split_key(segment) {
        Some((s, Some(key))) if s == set => key
            .strip_prefix("LogicalName=")
            .and_then(|k| k.strip_prefix('\''))
            .and_then(|k| k.strip_suffix('\''))
            .ok_or_else(shape),
        _ => Err(shape()),
    }
}

impl Dv {
    /// Answers a request to metadata (`EntityDefinitions…`, `InsertOptionValue`, …), or
    /// `None` when the path names something else.
    pub(super) fn choices(&self, db: &mut Db, req: &Req, rest: &str) -> Option<Resp> {
        if rest == "PublishXml" {
            return Some(match req.method.as_str() {
                "POST" => publish(req),
                m => not_allowed(m, rest),
            });
        }
        if let Some(action) = OptionAction::named(rest) {
            return Some(match req.method.as_str() {
                "POST" => self.option_action(db, req, action),
                m => not_allowed(m, rest),
            });
        }
        if !is_metadata(rest) {
            return None;
        }
        Some(match req.method.as_str() {
            "GET" => self.read_options(db, req, rest).unwrap_or_else(|r| r),
            m => not_allowed(m, rest),
        })
    }

    /// The table of an entity, or the 404 the service answers.
    pub(super) fn entity_table(&self, entity: &str) -> Result<&TableSchema, Resp> {
        self.store
            .schema
            .tables
            .iter()
            .find(|t| logical_name(t) == entity)
            .ok_or_else(|| {
                Resp::error(
                    404,
                    code::NOT_FOUND,
                    &format!("Could not find an entity with name '{entity}'."),
                )
            })
    }

    /// The table of an entity and its choice column, or the 404 the service answers.
    pub(super) fn choice_column(
        &self,
        entity: &str,
        attribute: &str,
    ) -> Result<(&TableSchema, &ColumnSchema), Resp> {
        let table = self.entity_table(entity)?;
        let column = table.column(attribute).ok_or_else(|| {
            Resp::error(
                404,
                code::NOT_FOUND,
                &format!("Could not find attribute with name '{attribute}' on entity '{entity}'."),
            )
        })?;
        if !matches!(column.ty, ColumnType::Option { .. }) {
            return Err(Resp::error(
                404,
                code::NOT_FOUND,
                &format!("Could not find a choice (Picklist) attribute with name '{attribute}' on entity '{entity}': '{attribute}' is not a choice."),
            ));
        }
        Ok((table, column))
    }

    /// `GET EntityDefinitions(LogicalName='e')/Attributes(LogicalName='a')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`
    /// with any `$select` and `$expand`: the attribute's name, id and option set.
    fn read_options(&self, db: &Db, req: &Req, rest: &str) -> Result<Resp, Resp> {
        let segments: Vec<&str> = rest.split('/').collect();
        let first = segments.first().copied().unwrap_or_default();
        let entity = by_logical_name(first, "EntityDefinitions")?;
        let attribute = match segments.get(1) {
            Some(s) => by_logical_name(s, "Attributes")?,
            None => return Err(Resp::error(
                501,
                code::QUERY,
                &format!("The sandbox serves only the options of choice columns: EntityDefinitions(LogicalName='{entity}')/Attributes(LogicalName='…')/{NAMESPACE}.{PICKLIST}."),
            )),
        };
        let (table, column) = self.choice_column(entity, attribute)?;
        let cast = format!("{NAMESPACE}.{PICKLIST}");
        match segments.get(2..) {
            Some([c]) if *c == cast => {}
            Some([]) => return Err(Resp::error(
                400,
                code::QUERY,
                &format!("The options of '{attribute}' are read through the cast to {cast}: EntityDefinitions(LogicalName='{entity}')/Attributes(LogicalName='{attribute}')/{cast}?$select=LogicalName&$expand=OptionSet($select=Options)."),
            )),
            _ => return Err(Resp::error(
                501,
                code::QUERY,
                &format!("The sandbox serves an attribute's metadata only through the cast to {cast}; not '{rest}'."),
            )),
        }
        let choice = Choice {
            entity: logical_name(table),
            attribute: &column.name,
        };
        let options = db.options(choice).map_err(store_error)?;
        let options: Vec<Json> = options.iter().map(|o| option_json(choice, o)).collect();
        Ok(Resp::json(
            200,
            &json!({
                "@odata.context": format!(
                    "{}{PREFIX}/$metadata#EntityDefinitions('{}')/Attributes/{cast}(LogicalName,OptionSet,OptionSet(Options))/$entity",
                    req.origin, choice.entity
                ),
                "LogicalName": choice.attribute,
                "MetadataId": stable_guid(&[choice.entity, choice.attribute]),
                "OptionSet": {
                    "MetadataId": stable_guid(&[choice.entity, choice.attribute, "OptionSet"]),
                    "Options": options,
                },
            }),
        ))
    }

    /// The live labels of a table's choice columns, when the request asked for formatted
    /// values (else none: they cost a read per column).
    pub(super) fn labels(&self, db: &Db, t: &TableSchema, a: Annotations) -> Result<Labels, Resp> {
        let mut labels = Labels::default();
        if !a.formatted {
            return Ok(labels);
        }
        for c in t
            .columns
            .iter()
            .filter(|c| matches!(c.ty, ColumnType::Option { .. }))
        {
            let choice = Choice {
                entity: logical_name(t),
                attribute: &c.name,
            };
            let by_value = db
                .options(choice)
                .map_err(store_error)?
                .into_iter()
                .filter_map(|o| Some((o.value, user_label(&o.labels)?.text.clone())))
                .collect();
            labels.0.insert(c.name.clone(), by_value);
        }
        Ok(labels)
    }
}

fn not_allowed(method: &str, rest: &str) -> Resp {
    Resp::error(
        405,
        code::QUERY,
        &format!("The HTTP method '{method}' is not allowed on '{rest}'."),
    )
}

/// One option as `OptionMetadata`.
fn option_json(choice: Choice<'_>, o: &LiveOption) -> Json {
    let value = o.value.to_string();
    json!({
        "Value": o.value,
        "Color": null,
        "IsManaged": false,
        "ExternalValue": null,
        "ParentValues": [],
        "Tag": null,
        "MetadataId": null,
        "HasChanged": null,
        "Label": label_json(&o.labels, |lang| {
            stable_guid(&[choice.entity, choice.attribute, &value, "Label", &lang.to_string()])
        }),
        "Description": label_json(&o.descriptions, |lang| {
            stable_guid(&[choice.entity, choice.attribute, &value, "Description", &lang.to_string()])
        }),
    })
}

/// A `Label`: every language's text, and the user's own (null when there is none).
fn label_json(list: &[Localized], id: impl Fn(i64) -> String) -> Json {
    let one = |l: &Localized| {
        json!({
            "Label": l.text,
            "LanguageCode": l.language,
            "IsManaged": false,
            "MetadataId": id(l.language),
            "HasChanged": null,
        })
    };
    json!({
        "LocalizedLabels": list.iter().map(one).collect::<Vec<_>>(),
        "UserLocalizedLabel": user_label(list).map(one),
    })
}
