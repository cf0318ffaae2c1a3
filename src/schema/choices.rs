//! The options of a Dataverse choice column as a table of their own, so an option mapping
//! (the reference's Payment Terms → `account.paymenttermscode`) is a table mapping like any
//! other: its rows are the options, keyed by their value, which Dataverse chooses when it adds
//! one; its columns are the value, the label and the description.

use super::{ColumnSchema, ColumnType, SystemSchema, TableSchema};

/// The key column of a choice's table: the option's value.
pub const VALUE: &str = "value";
/// The option's label (in the caller's language).
pub const LABEL: &str = "label";
/// The option's description.
pub const DESCRIPTION: &str = "description";

/// The `table.column` name a choice's table goes by.
pub fn choice_name(table: &str, column: &str) -> String {
    format!("{table}.{column}")
}

/// The table and column a choice's table name stands for (`accounts.paymenttermscode`).
pub fn split_choice_name(name: &str) -> Option<(&str, &str)> {
    name.split_once('.')
}

/// The table of every choice column of a snapshot.
pub fn choice_tables(schema: &SystemSchema) -> Vec<TableSchema> {
    schema
        .tables
        .iter()
        .flat_map(|t| t.columns.iter().filter_map(move |c| choice_table(t, c)))
        .collect()
}

/// The table of one choice column; none for a column that is not a choice.
pub fn choice_table(t: &TableSchema, c: &ColumnSchema) -> Option<TableSchema> {
    let ColumnType::Option { .. } = &c.ty else {
        return None;
    };
    let value = ColumnSchema {
        nullable: false,
        read_only: true,
        description: Some(
            "The option's value; Dataverse chooses it when it adds the option.".into(),
        ),
        ..ColumnSchema::new(VALUE, c.ty.clone())
    };
    let label = ColumnSchema {
        nullable: false,
        required_on_create: true,
        description: Some("The option's label, in the caller's language.".into()),
        ..ColumnSchema::new(LABEL, ColumnType::String { max_length: None })
    };
    let mut description = ColumnSchema::new(DESCRIPTION, ColumnType::String { max_length: None });
    description.description = Some("What the option means.".into());
    Some(TableSchema {
        name: choice_name(&t.name, &c.name),
        entity_type: Some(t.entity_type.clone().unwrap_or_else(|| t.name.clone())),
        key: VALUE.into(),
        modified_on: None,
        columns: vec![value, label, description],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_column_becomes_a_table_keyed_by_value() {
        let options = ColumnType::Option {
            options: vec![super::super::OptionValue {
                value: 1,
                label: "Net 30".into(),
            }],
        };
        let t = TableSchema {
            name: "accounts".into(),
            entity_type: Some("account".into()),
            key: "accountid".into(),
            modified_on: Some("modifiedon".into()),
            columns: vec![
                ColumnSchema::new("accountid", ColumnType::Guid),
                ColumnSchema::new("paymenttermscode", options.clone()),
            ],
        };
        let schema = SystemSchema {
            format_version: 1,
            source: None,
            tables: vec![t],
        };
        let tables = choice_tables(&schema);
        assert_eq!(tables.len(), 1);
        let c = &tables[0];
        assert_eq!(c.name, "accounts.paymenttermscode");
        assert_eq!(c.entity_type.as_deref(), Some("account"));
        assert_eq!((c.key.as_str(), c.modified_on.as_deref()), ("value", None));
        let names: Vec<&str> = c.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["value", "label", "description"]);
        assert_eq!(c.columns[0].ty, options);
        assert!(c.columns[0].read_only && c.columns[1].required_on_create);
        assert_eq!(
            split_choice_name(&c.name),
            Some(("accounts", "paymenttermscode"))
        );
    }
}
