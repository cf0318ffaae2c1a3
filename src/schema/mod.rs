//! System schemas: tables, columns, types, keys and option sets, read from JSON snapshots or
//! imported from OData CSDL `$metadata`. Loading works on text; reading files is the caller's.

pub mod choices;
pub mod csdl;
pub mod facets;
mod model;

pub use model::*;

/// Why a schema snapshot could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The text is not valid snapshot JSON.
    #[error("{message}")]
    Json {
        /// What serde reported.
        message: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
    },
    /// The snapshot is of a format this version does not read.
    #[error("schema format version {found} is not supported (this syncmap reads version {SCHEMA_FORMAT_VERSION})")]
    Version {
        /// The version in the file.
        found: u32,
    },
    /// The snapshot contradicts itself.
    #[error("{0}")]
    Invalid(String),
}

/// Parses and validates a snapshot.
pub fn load(text: &str) -> Result<SystemSchema, SchemaError> {
    let schema: SystemSchema = serde_json::from_str(text).map_err(|e| SchemaError::Json {
        message: e.to_string(),
        line: e.line(),
        column: e.column(),
    })?;
    if schema.format_version != SCHEMA_FORMAT_VERSION {
        return Err(SchemaError::Version {
            found: schema.format_version,
        });
    }
    type_names_only(text)?;
    validate(&schema)?;
    Ok(schema)
}

/// serde reads a variant by its index as well as by its name, so `"type": 5` was silently the
/// sixth type; a snapshot must name every type.
fn type_names_only(text: &str) -> Result<(), SchemaError> {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let tables = value.get("tables").and_then(|t| t.as_array());
    for table in tables.into_iter().flatten() {
        let columns = table.get("columns").and_then(|c| c.as_array());
        for column in columns.into_iter().flatten() {
            match column.get("type") {
                Some(serde_json::Value::String(_)) | None => {}
                Some(other) => {
                    return Err(SchemaError::Invalid(format!(
                        "column `{}` of table `{}` has type {other}: write the name of a type, such as \"string\"",
                        column.get("name").and_then(|n| n.as_str()).unwrap_or("?"),
                        table.get("name").and_then(|n| n.as_str()).unwrap_or("?"),
                    )))
                }
            }
        }
    }
    Ok(())
}

/// Checks what serde cannot: keys and modified-on columns exist, names are unique.
pub fn validate(schema: &SystemSchema) -> Result<(), SchemaError> {
    let mut seen = std::collections::BTreeSet::new();
    for t in &schema.tables {
        if !seen.insert(t.name.as_str()) {
            return Err(SchemaError::Invalid(format!(
                "table `{}` is listed twice",
                t.name
            )));
        }
        let mut cols = std::collections::BTreeSet::new();
        for c in &t.columns {
            if !cols.insert(c.name.as_str()) {
                return Err(SchemaError::Invalid(format!(
                    "column `{}` of table `{}` is listed twice",
                    c.name, t.name
                )));
            }
        }
        if t.column(&t.key).is_none() {
            return Err(SchemaError::Invalid(format!(
                "table `{}` names key `{}`, which is not one of its columns",
                t.name, t.key
            )));
        }
        if let Some(m) = &t.modified_on {
            if t.column(m).is_none() {
                return Err(SchemaError::Invalid(format!(
                    "table `{}` names modified-on column `{m}`, which is not one of its columns",
                    t.name
                )));
            }
        }
    }
    Ok(())
}

/// Serializes a snapshot the way the project commits them: pretty, with a final line break.
pub fn to_json(schema: &SystemSchema) -> String {
    let mut s = serde_json::to_string_pretty(schema).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_type(ty: &str) -> String {
        format!(
            r#"{{"format_version": 1, "tables": [{{"name": "t", "key": "id", "columns": [
                {{"name": "id", "type": "int"}}, {{"name": "x", "type": {ty}}}]}}]}}"#
        )
    }

    #[test]
    fn a_type_must_be_named() {
        assert!(load(&with_type("\"string\"")).is_ok());
        let by_index = load(&with_type("5")).unwrap_err().to_string();
        assert!(
            by_index.contains("column `x` of table `t` has type 5"),
            "{by_index}"
        );
        assert!(load(&with_type("\"sixth\"")).is_err());
        assert!(load(&with_type("null")).is_err());
    }
}
