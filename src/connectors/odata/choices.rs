//! The options of a Dataverse choice column as rows (see [`crate::schema::choices`]): read
//! from the attribute's metadata (`EntityDefinitions(…)/Attributes(…)/…PicklistAttributeMetadata`
//! with its `OptionSet` expanded) and written with the metadata actions `InsertOptionValue`,
//! `UpdateOptionValue` and `DeleteOptionValue`. Dataverse chooses a new option's value and
//! answers it; options carry no modified-on or version, so every read is whole (a column has
//! a few dozen options) and the engine compares values to see what changed.
//!
//! `InsertOptionValue` is not idempotent and the service accepts a label twice, so a create
//! is sent once; if its answer is lost, the engine's intent is settled by finding the option
//! by the label it wrote, as for any create whose key the service chooses.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value as Json};

use super::client::Request;
use super::ODataConnector;
use crate::connectors::{row_matches, ConnectorError, Page, Row, TableRef, WriteOp, WriteOutcome};
use crate::schema::choices::{split_choice_name, DESCRIPTION, LABEL, VALUE};
use crate::value::Value;

/// The language labels are written in when the choice shows none: English, the base language
/// Dataverse organizations are most often made with. Otherwise they are written in the
/// caller's own language, the one they are read in, so what is matched is what was written.
const LANGUAGE: i64 = 1033;

/// The entity and attribute whose options a table holds.
struct Choice<'a> {
    entity: &'a str,
    attribute: &'a str,
}

/// The choice a table stands for; none for an ordinary table.
fn choice_of<'a>(table: TableRef<'a>) -> Option<Choice<'a>> {
    let (set, attribute) = split_choice_name(table.name)?;
    let entity = table.info.entity_type.as_deref().unwrap_or(set);
    Some(Choice { entity, attribute })
}

/// Whether a table holds a choice's options.
pub(super) fn is_choice(table: TableRef<'_>) -> bool {
    split_choice_name(table.name).is_some()
}

/// A logical name as it may stand in a metadata URL: Dataverse's are lower-case letters,
/// digits and underscores.
fn logical(name: &str) -> Result<&str, ConnectorError> {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Ok(name)
    } else {
        Err(ConnectorError::Fatal(format!(
            "`{name}` is not a Dataverse logical name"
        )))
    }
}

/// Every option of the choice, in value order.
pub(super) async fn options(
    c: &ODataConnector,
    table: TableRef<'_>,
) -> Result<Vec<Row>, ConnectorError> {
    let body = metadata(c, table).await?;
    let Some(list) = body.pointer("/OptionSet/Options").and_then(Json::as_array) else {
        return Err(ConnectorError::Transient(format!(
            "{}: the metadata of {} came without its options",
            c.endpoint.system, table.name
        )));
    };
    let mut rows: Vec<Row> = list.iter().filter_map(option_row).collect();
    rows.sort_by_key(|r| match r.fields.get(VALUE) {
        Some(Value::Int(v)) => *v,
        _ => i64::MAX,
    });
    Ok(rows)
}

/// The language the caller reads the choice's labels in: that of the first option's label
/// in the caller's language, else [`LANGUAGE`].
fn user_language(metadata: &Json) -> i64 {
    metadata
        .pointer("/OptionSet/Options/0/Label/UserLocalizedLabel/LanguageCode")
        .and_then(Json::as_i64)
        .unwrap_or(LANGUAGE)
}

/// The choice column's metadata with its options.
async fn metadata(c: &ODataConnector, table: TableRef<'_>) -> Result<Json, ConnectorError> {
    let choice = choice_of(table).ok_or_else(|| not_a_choice(table))?;
    let url = format!(
        "{}/EntityDefinitions(LogicalName='{}')/Attributes(LogicalName='{}')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)",
        c.endpoint.url,
        logical(choice.entity)?,
        logical(choice.attribute)?
    );
    // Metadata reads may come from a cache; an option this connector just added (or a lost
    // answer's option, looked for right after) must be seen.
    c.send_for_json(&Request::get(url).header("Consistency", "Strong"))
        .await
}

/// One option as a row; none for an entry without a value.
fn option_row(o: &Json) -> Option<Row> {
    let value = o.get("Value")?.as_i64()?;
    let text = |label: &str| {
        o.pointer(&format!("/{label}/UserLocalizedLabel/Label"))
            .or_else(|| o.pointer(&format!("/{label}/LocalizedLabels/0/Label")))
            .and_then(Json::as_str)
            .map_or(Value::Null, |s| Value::String(s.to_string()))
    };
    let fields = BTreeMap::from([
        (VALUE.to_string(), Value::Int(value)),
        (LABEL.to_string(), text("Label")),
        (DESCRIPTION.to_string(), text("Description")),
    ]);
    Some(Row {
        key: value.to_string(),
        modified_on: None,
        etag: None,
        fields,
        invalid: None,
    })
}

/// Every option as one page: a choice has no paging, and no modified-on to read from.
pub(super) async fn page(c: &ODataConnector, table: TableRef<'_>) -> Result<Page, ConnectorError> {
    Ok(Page {
        rows: options(c, table).await?,
        ..Page::default()
    })
}

/// The options with these values.
pub(super) async fn by_keys(
    c: &ODataConnector,
    table: TableRef<'_>,
    keys: &[String],
) -> Result<Vec<Row>, ConnectorError> {
    let mut rows = options(c, table).await?;
    rows.retain(|r| keys.contains(&r.key));
    Ok(rows)
}

/// The options of each lookup, from one read.
pub(super) async fn find_many(
    c: &ODataConnector,
    table: TableRef<'_>,
    lookups: &[Vec<(String, Value)>],
    ignore_case: bool,
) -> Result<Vec<Vec<Row>>, ConnectorError> {
    let rows = options(c, table).await?;
    Ok(lookups
        .iter()
        .map(|equal| {
            rows.iter()
                .filter(|r| row_matches(r, equal, ignore_case))
                .cloned()
                .collect()
        })
        .collect())
}

/// Carries out writes one action at a time: the metadata actions take one option each.
pub(super) async fn write(
    c: &ODataConnector,
    table: TableRef<'_>,
    ops: &[WriteOp],
) -> Vec<Result<WriteOutcome, ConnectorError>> {
    // The labels' language comes from the choice: one that cannot be read now is not written
    // to (a label in another language would not be found again, and inserts are not resent).
    let language = match metadata(c, table).await {
        Ok(m) => user_language(&m),
        Err(e) => return ops.iter().map(|_| Err(e.clone())).collect(),
    };
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        out.push(write_one(c, table, op, language).await);
    }
    if out.iter().any(Result::is_ok) {
        publish(c, table).await;
    }
    out
}

/// Publishes the entity's customizations, so apps show the options as written. The options
/// are written already: a failure here is told, not a failure of the records.
async fn publish(c: &ODataConnector, table: TableRef<'_>) {
    let Some(entity) = choice_of(table).and_then(|c| logical(c.entity).ok()) else {
        return;
    };
    let xml = format!(
        "<importexportxml><entities><entity>{entity}</entity></entities></importexportxml>"
    );
    let request = Request {
        method: Method::POST,
        url: format!("{}/PublishXml", c.endpoint.url),
        headers: Vec::new(),
        body: Some(json!({ "ParameterXml": xml }).to_string().into_bytes()),
        idempotent: true,
    };
    let failed = match c.client.send(&request).await {
        Ok(r) if r.status.is_success() => return,
        Ok(r) => r.error_message(),
        Err(e) => e.to_string(),
    };
    tracing::warn!(
        system = %c.endpoint.system,
        entity,
        "the options were written but could not be published: {failed}"
    );
}

async fn write_one(
    c: &ODataConnector,
    table: TableRef<'_>,
    op: &WriteOp,
    language: i64,
) -> Result<WriteOutcome, ConnectorError> {
    let choice = choice_of(table).ok_or_else(|| not_a_choice(table))?;
    let mut body = json!({
        "EntityLogicalName": choice.entity,
        "AttributeLogicalName": choice.attribute,
    });
    let (action, key) = match op {
        WriteOp::Create { fields, .. } => {
            if !fields
                .get(LABEL)
                .is_some_and(|l| matches!(l, Value::String(t) if !t.is_empty()))
            {
                return Err(ConnectorError::Rejected(format!(
                    "a new option of {} needs a label",
                    table.name
                )));
            }
            labels(&mut body, fields, language);
            ("InsertOptionValue", None)
        }
        WriteOp::Update { key, fields, .. } => {
            body["Value"] = json!(option_value(table, key)?);
            body["MergeLabels"] = json!(true);
            labels(&mut body, fields, language);
            ("UpdateOptionValue", Some(key))
        }
        WriteOp::Delete { key, .. } => {
            body["Value"] = json!(option_value(table, key)?);
            ("DeleteOptionValue", Some(key))
        }
    };
    let request = Request {
        method: Method::POST,
        url: format!("{}/{action}", c.endpoint.url),
        headers: Vec::new(),
        body: Some(body.to_string().into_bytes()),
        // An insert sent twice adds the option twice; an update or delete by value does not.
        idempotent: key.is_some(),
    };
    let response = c.client.send(&request).await?;
    if !response.status.is_success() {
        let message = format!(
            "{}: {action} for {}.{}: {}",
            c.endpoint.system,
            choice.entity,
            choice.attribute,
            response.error_message()
        );
        return Err(refused(table, key, response.status.as_u16(), message));
    }
    let key = match key {
        Some(k) => k.clone(),
        None => new_value(c, &response.body)?,
    };
    Ok(WriteOutcome {
        key,
        modified_on: None,
        etag: None,
    })
}

/// The error of an action the service refused with `status`.
fn refused(
    table: TableRef<'_>,
    key: Option<&String>,
    status: u16,
    message: String,
) -> ConnectorError {
    match (status, key) {
        // The option is gone (an update or delete); an insert that finds nothing found no
        // column to add to, which no retry mends.
        (404, Some(key)) => ConnectorError::NotFound {
            table: table.name.to_string(),
            key: key.clone(),
        },
        (404 | 401 | 403, _) => ConnectorError::Fatal(message),
        (400..=499, _) => ConnectorError::Rejected(message),
        _ => ConnectorError::Transient(message),
    }
}

/// The label and description a write sets, in `language`; a column the write leaves out is
/// left as it is (`MergeLabels` keeps the other languages).
fn labels(body: &mut Json, fields: &BTreeMap<String, Value>, language: i64) {
    for (column, parameter) in [(LABEL, "Label"), (DESCRIPTION, "Description")] {
        if let Some(v) = fields.get(column) {
            let text = v.to_text().unwrap_or_default();
            body[parameter] =
                json!({"LocalizedLabels": [{"Label": text, "LanguageCode": language}]});
        }
    }
}

/// An option's value from its key.
fn option_value(table: TableRef<'_>, key: &str) -> Result<i64, ConnectorError> {
    key.parse().map_err(|_| {
        ConnectorError::Rejected(format!("`{key}` is not an option value of {}", table.name))
    })
}

/// The value `InsertOptionValue` gave the new option.
fn new_value(c: &ODataConnector, body: &[u8]) -> Result<String, ConnectorError> {
    serde_json::from_slice::<Json>(body)
        .ok()
        .and_then(|j| j.get("NewOptionValue").and_then(Json::as_i64))
        .map(|v| v.to_string())
        .ok_or_else(|| {
            ConnectorError::Transient(format!(
                "{}: InsertOptionValue answered without the new option's value",
                c.endpoint.system
            ))
        })
}

fn not_a_choice(table: TableRef<'_>) -> ConnectorError {
    ConnectorError::Fatal(format!(
        "`{}` is not the options of a choice column",
        table.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_option_reads_its_label_in_the_callers_language_else_the_first() {
        let o = json!({
            "Value": 100000002,
            "Label": {
                "LocalizedLabels": [{"Label": "Net 14", "LanguageCode": 1036}],
                "UserLocalizedLabel": {"Label": "Net 14 days", "LanguageCode": 1033}
            },
            "Description": {"LocalizedLabels": [{"Label": "Paid in 14 days", "LanguageCode": 1036}], "UserLocalizedLabel": null}
        });
        let row = option_row(&o).unwrap();
        assert_eq!(row.key, "100000002");
        assert_eq!(row.fields[VALUE], Value::Int(100000002));
        assert_eq!(row.fields[LABEL], Value::String("Net 14 days".into()));
        assert_eq!(
            row.fields[DESCRIPTION],
            Value::String("Paid in 14 days".into())
        );
        let bare = option_row(&json!({"Value": 3, "Label": {"LocalizedLabels": []}})).unwrap();
        assert_eq!(bare.fields[LABEL], Value::Null);
        assert!(
            option_row(&json!({"Label": {}})).is_none(),
            "no value, no option"
        );
    }

    #[test]
    fn a_write_sets_only_the_labels_it_was_given() {
        let mut body = json!({});
        let fields = BTreeMap::from([(LABEL.to_string(), Value::String("CM".into()))]);
        labels(&mut body, &fields, 1036);
        assert_eq!(
            body,
            json!({"Label": {"LocalizedLabels": [{"Label": "CM", "LanguageCode": 1036}]}})
        );
    }

    #[test]
    fn labels_are_written_in_the_language_they_are_read_in() {
        let french = json!({"OptionSet": {"Options": [{"Value": 1, "Label": {
            "LocalizedLabels": [{"Label": "Net 30", "LanguageCode": 1033}],
            "UserLocalizedLabel": {"Label": "Net 30", "LanguageCode": 1036}
        }}]}});
        assert_eq!(user_language(&french), 1036);
        assert_eq!(user_language(&json!({"OptionSet": {"Options": []}})), 1033);
    }
}
