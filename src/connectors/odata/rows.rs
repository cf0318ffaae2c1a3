//! Rows to and from OData JSON: a JSON entity becomes a [`Row`] by the plan's column types
//! (a value that does not fit marks the row invalid rather than stopping the read), and the
//! fields of a write become a JSON body, lookups bound through their navigation property.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::flavor::{bind_property, polymorphic_of, target_set, Flavor};
use crate::connectors::Row;
use crate::odata::json::{from_json, to_json};
use crate::odata::literal;
use crate::plan::TableInfo;
use crate::value::ColumnKind;
use crate::value::Value;

/// The annotation Dataverse gives a lookup's value with the logical name of its table.
pub const LOOKUP_TABLE: &str = "@Microsoft.Dynamics.CRM.lookuplogicalname";

/// An entity of the service as a row of the plan's table.
pub fn decode(flavor: Flavor, table: &TableInfo, entity: &Map<String, Json>) -> Row {
    let mut fields = BTreeMap::new();
    let mut problems: Vec<String> = Vec::new();
    for (column, info) in &table.columns {
        if let Some(lookup) = polymorphic_of(table, column).filter(|_| flavor == Flavor::Dataverse)
        {
            let property = format!("_{lookup}_value{LOOKUP_TABLE}");
            let value = match entity.get(&property) {
                Some(Json::String(s)) => Value::String(s.clone()),
                _ => Value::Null,
            };
            fields.insert(column.clone(), value);
            continue;
        }
        let name = flavor.read_name(column, Some(info));
        let Some(json) = entity.get(&name) else {
            continue;
        };
        match from_json(json, info.ty) {
            Ok(v) => {
                fields.insert(column.clone(), empty_guid_is_null(flavor, table, column, v));
            }
            Err(e) => problems.push(format!("`{name}`: {e}")),
        }
    }
    let key = match fields.get(&table.key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Int(n)) => n.to_string(),
        _ => entity
            .get(&table.key)
            .map(|k| match k {
                Json::String(s) => s.to_lowercase(),
                other => other.to_string(),
            })
            .unwrap_or_default(),
    };
    if key.is_empty() {
        problems.push(format!("the key `{}` is missing", table.key));
    }
    let modified_on = table
        .modified_on
        .as_ref()
        .and_then(|m| match fields.get(m) {
            Some(Value::DateTime(t)) => Some(*t),
            _ => None,
        });
    let etag = entity
        .get("@odata.etag")
        .and_then(Json::as_str)
        .map(str::to_string);
    Row {
        key,
        modified_on,
        etag,
        fields,
        invalid: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}

/// A client-chosen key as JSON: a number for an integer key column (an Edm.Int32 or Int64
/// property written as text is refused by strict services), text otherwise.
fn key_json(table: &TableInfo, key: &str) -> Json {
    let integer = table
        .columns
        .get(&table.key)
        .is_some_and(|c| matches!(c.ty, ColumnKind::Int | ColumnKind::Option));
    match key.trim().parse::<i64>() {
        Ok(n) if integer => Json::from(n),
        _ => Json::String(key.to_string()),
    }
}

/// The JSON body of a create or update; `key` is the client-chosen key of a create.
pub fn encode(
    flavor: Flavor,
    table: &TableInfo,
    key: Option<&str>,
    fields: &BTreeMap<String, Value>,
) -> Result<Json, String> {
    let mut body = Map::new();
    if let Some(k) = key {
        body.insert(table.key.clone(), key_json(table, k));
    }
    for (column, value) in fields {
        if matches!(value, Value::Absent) || !flavor.is_property(table, column) {
            continue;
        }
        let info = table.columns.get(column);
        match info {
            Some(info) if flavor == Flavor::Dataverse && info.ty == ColumnKind::Lookup => {
                let chosen = fields.get(&format!("{column}type")).and_then(|v| match v {
                    Value::String(s) => Some(s.as_str()),
                    _ => None,
                });
                let set = match chosen {
                    Some(logical) => target_set(&info.targets, logical).ok_or_else(|| {
                        format!(
                            "`{column}type` is `{logical}`, which is not a table `{column}` can point to ({})",
                            info.targets.join(", ")
                        )
                    })?,
                    None => info
                        .targets
                        .first()
                        .map(String::as_str)
                        .ok_or_else(|| format!("lookup `{column}` has no target table"))?,
                };
                let bound = match value {
                    Value::Null => Json::Null,
                    Value::String(id) => Json::String(format!(
                        "/{set}{}",
                        literal::key_segment(id, ColumnKind::Guid)
                    )),
                    other => {
                        return Err(format!(
                            "lookup `{column}` needs a GUID, got {}",
                            other.type_name()
                        ))
                    }
                };
                body.insert(bind_property(column, info, set), bound);
            }
            Some(info) if is_empty_guid_column(flavor, table, column, info.ty) => {
                let empty = Value::String(EMPTY_GUID.into());
                let value = if matches!(value, Value::Null) {
                    &empty
                } else {
                    value
                };
                body.insert(column.clone(), to_json(value));
            }
            _ => {
                body.insert(column.clone(), to_json(value));
            }
        }
    }
    Ok(Json::Object(body))
}

/// What Business Central holds in a GUID field that refers to nothing: it has no null GUID.
const EMPTY_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// Whether a column is a Business Central GUID field other than the key, whose empty value
/// is [`EMPTY_GUID`]: read as null, and null written as it.
fn is_empty_guid_column(flavor: Flavor, table: &TableInfo, column: &str, ty: ColumnKind) -> bool {
    flavor == Flavor::BusinessCentral && ty == ColumnKind::Guid && column != table.key
}

/// A value read, with Business Central's empty GUID as null.
fn empty_guid_is_null(flavor: Flavor, table: &TableInfo, column: &str, v: Value) -> Value {
    match v {
        Value::String(g)
            if g == EMPTY_GUID
                && table
                    .columns
                    .get(column)
                    .is_some_and(|i| is_empty_guid_column(flavor, table, column, i.ty)) =>
        {
            Value::Null
        }
        v => v,
    }
}

/// A body for a service spoken to with `IEEE754Compatible=true`: decimal columns as JSON
/// strings with the same digits (OData JSON Format §4.5.7.1), so a service or proxy that
/// parses numbers as doubles cannot round them.
pub fn numbers_as_strings(table: &TableInfo, body: &mut Json) {
    let Json::Object(map) = body else {
        return;
    };
    for (column, info) in &table.columns {
        if info.ty != ColumnKind::Decimal {
            continue;
        }
        if let Some(v) = map.get_mut(column) {
            if let Json::Number(n) = v {
                *v = Json::String(n.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_centrals_empty_guid_is_null_both_ways() {
        let mut t = TableInfo {
            entity_type: Some("customer".into()),
            key: "id".into(),
            modified_on: None,
            columns: Default::default(),
        };
        t.columns.insert("id".into(), col(ColumnKind::Guid, &[]));
        t.columns
            .insert("paymentTermsId".into(), col(ColumnKind::Guid, &[]));
        let read = |flavor| {
            let entity = serde_json::json!({"id": EMPTY_GUID, "paymentTermsId": EMPTY_GUID});
            decode(flavor, &t, entity.as_object().unwrap()).fields
        };
        let bc = read(Flavor::BusinessCentral);
        assert_eq!(bc["paymentTermsId"], Value::Null);
        assert_eq!(bc["id"], Value::String(EMPTY_GUID.into()), "a key is a key");
        let dv = read(Flavor::Dataverse);
        assert_eq!(dv["paymentTermsId"], Value::String(EMPTY_GUID.into()));
        let fields = BTreeMap::from([("paymentTermsId".to_string(), Value::Null)]);
        let body = encode(Flavor::BusinessCentral, &t, None, &fields).unwrap();
        assert_eq!(body["paymentTermsId"], EMPTY_GUID);
        let body = encode(Flavor::Generic, &t, None, &fields).unwrap();
        assert_eq!(body["paymentTermsId"], Json::Null);
    }
    use crate::plan::ColumnInfo;
    use crate::value::ColumnKind;

    fn col(ty: ColumnKind, targets: &[&str]) -> ColumnInfo {
        ColumnInfo {
            ty,
            targets: targets.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }
    }

    fn accounts() -> TableInfo {
        let mut t = TableInfo {
            entity_type: Some("account".into()),
            key: "accountid".into(),
            modified_on: Some("modifiedon".into()),
            columns: Default::default(),
        };
        t.columns
            .insert("accountid".into(), col(ColumnKind::Guid, &[]));
        t.columns
            .insert("name".into(), col(ColumnKind::String, &[]));
        t.columns
            .insert("modifiedon".into(), col(ColumnKind::Datetime, &[]));
        t.columns
            .insert("statecode".into(), col(ColumnKind::Option, &[]));
        t.columns.insert(
            "ownerid".into(),
            col(ColumnKind::Lookup, &["systemusers", "teams"]),
        );
        t.columns
            .insert("owneridtype".into(), col(ColumnKind::String, &[]));
        t
    }

    #[test]
    fn decimals_become_strings_for_ieee754_compatible_services() {
        let mut t = accounts();
        t.columns
            .insert("creditlimit".into(), col(ColumnKind::Decimal, &[]));
        let mut fields = BTreeMap::new();
        let d = rust_decimal::Decimal::from_str_exact("-98765432109876.5432").unwrap();
        fields.insert("creditlimit".to_string(), Value::Decimal(d));
        fields.insert("statecode".to_string(), Value::Int(1));
        let mut body = encode(Flavor::Dataverse, &t, None, &fields).unwrap();
        numbers_as_strings(&t, &mut body);
        assert_eq!(
            body["creditlimit"],
            Json::String("-98765432109876.5432".into())
        );
        assert_eq!(body["statecode"], Json::from(1));
    }

    #[test]
    fn a_dataverse_entity_becomes_a_row_with_lookups_and_their_tables() {
        let entity: Json = serde_json::json!({
            "@odata.etag": "W/\"1234\"",
            "accountid": "6A1C0000-0000-0000-0000-00000000E0E0",
            "name": "Contoso",
            "statecode": 0,
            "modifiedon": "2026-01-02T03:04:05Z",
            "_ownerid_value": "7b2d0000-0000-0000-0000-0000000000a1",
            "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "systemuser"
        });
        let row = decode(Flavor::Dataverse, &accounts(), entity.as_object().unwrap());
        assert_eq!(row.key, "6a1c0000-0000-0000-0000-00000000e0e0");
        assert_eq!(row.etag.as_deref(), Some("W/\"1234\""));
        assert_eq!(row.invalid, None);
        assert_eq!(
            row.fields["ownerid"],
            Value::String("7b2d0000-0000-0000-0000-0000000000a1".into())
        );
        assert_eq!(
            row.fields["owneridtype"],
            Value::String("systemuser".into())
        );
        assert_eq!(row.fields["statecode"], Value::Int(0));
        assert!(row.modified_on.is_some());
    }

    #[test]
    fn a_value_of_the_wrong_type_marks_the_row_invalid_and_names_the_property() {
        let entity = serde_json::json!({
            "accountid": "6a1c0000-0000-0000-0000-00000000e0e0",
            "statecode": "active",
        });
        let row = decode(Flavor::Dataverse, &accounts(), entity.as_object().unwrap());
        let why = row.invalid.unwrap();
        assert!(why.contains("`statecode`"), "{why}");
        assert!(!row.fields.contains_key("statecode"));
    }

    #[test]
    fn writes_bind_lookups_to_the_table_their_type_column_names() {
        let mut fields = BTreeMap::new();
        fields.insert("name".to_string(), Value::String("Contoso".into()));
        fields.insert(
            "ownerid".to_string(),
            Value::String("7b2d0000-0000-0000-0000-0000000000a1".into()),
        );
        fields.insert("owneridtype".to_string(), Value::String("team".into()));
        fields.insert("statecode".to_string(), Value::Absent);
        let body = encode(Flavor::Dataverse, &accounts(), Some("k-1"), &fields).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "accountid": "k-1",
                "name": "Contoso",
                "ownerid@odata.bind": "/teams(7b2d0000-0000-0000-0000-0000000000a1)",
            })
        );
        fields.insert("owneridtype".to_string(), Value::String("account".into()));
        let err = encode(Flavor::Dataverse, &accounts(), None, &fields).unwrap_err();
        assert!(err.contains("not a table `ownerid` can point to"), "{err}");
        fields.insert(
            "owneridtype".to_string(),
            Value::String("systemuser".into()),
        );
        fields.insert("ownerid".to_string(), Value::Null);
        let body = encode(Flavor::Dataverse, &accounts(), None, &fields).unwrap();
        assert_eq!(body["ownerid@odata.bind"], Json::Null);
    }

    #[test]
    fn other_services_get_plain_properties() {
        let mut fields = BTreeMap::new();
        fields.insert("ownerid".to_string(), Value::String("x".into()));
        let body = encode(Flavor::BusinessCentral, &accounts(), None, &fields).unwrap();
        assert_eq!(body, serde_json::json!({ "ownerid": "x" }));
    }
}
