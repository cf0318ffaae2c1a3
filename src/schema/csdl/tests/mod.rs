//! Tests of the CSDL import, by construct.

use super::types::{decimal, decode_name};
use super::*;
use crate::schema::{
    load, to_json, validate, ColumnSchema, ColumnType, OptionValue, SystemSchema, TableSchema,
    SCHEMA_FORMAT_VERSION,
};

mod annotations;
mod independent;
mod lookups;
mod samples;
mod sets;
mod types;

/// Wraps a schema body in the edmx envelope.
fn edmx(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
<Schema Namespace="Test.Model" Alias="t" xmlns="http://docs.oasis-open.org/odata/ns/edm">
{body}
</Schema>
  </edmx:DataServices>
</edmx:Edmx>"#
    )
}

fn import_ok(xml: &str) -> SystemSchema {
    match import(xml, None) {
        Ok(schema) => schema,
        Err(e) => panic!("import failed: {e}"),
    }
}

fn table<'s>(schema: &'s SystemSchema, name: &str) -> &'s TableSchema {
    match schema.table(name) {
        Some(t) => t,
        None => panic!("no table `{name}`"),
    }
}

fn column<'t>(table: &'t TableSchema, name: &str) -> &'t ColumnSchema {
    match table.column(name) {
        Some(c) => c,
        None => panic!("table `{}` has no column `{name}`", table.name),
    }
}

fn names(table: &TableSchema) -> Vec<&str> {
    table.columns.iter().map(|c| c.name.as_str()).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}
