//! A service that is neither Dataverse nor Business Central: integer and text keys, an enum
//! type in a second schema, decimal facets, a foreign key behind a bound navigation property,
//! a modified-on column found by annotation or by name, and a set with a composite key.

use super::*;

/// Also read by the command-line tests (`schema import`, then `check`).
const SALES: &str = include_str!("../../../../tests/fixtures/csdl/independent-sales.xml");

#[test]
#[allow(clippy::unwrap_used)]
fn imports_an_independent_service_whole() {
    let imported = import_noting_skipped(SALES, None).unwrap();
    let expected = serde_json::json!({
        "format_version": 1,
        "source": "CSDL import of Contoso.Sales",
        "tables": [
            {
                "name": "customers",
                "entity_type": "Customer",
                "key": "id",
                "modified_on": "modifiedAt",
                "columns": [
                    { "name": "id", "type": "guid", "nullable": false, "read_only": true },
                    {
                        "name": "name", "type": "string", "max_length": 100,
                        "nullable": false, "required_on_create": true
                    },
                    {
                        "name": "category", "type": "enum",
                        "members": ["Standard", "Preferred", "OnHold"],
                        "nullable": false, "default": "Standard"
                    },
                    { "name": "creditLimit", "type": "decimal", "precision": 19, "scale": 4 },
                    {
                        "name": "modifiedAt", "type": "datetime",
                        "nullable": false, "read_only": true
                    }
                ]
            },
            {
                "name": "orders",
                "entity_type": "Order",
                "key": "orderNo",
                "modified_on": "changedAt",
                "columns": [
                    { "name": "orderNo", "type": "int", "nullable": false, "read_only": true },
                    {
                        "name": "customerId", "type": "lookup", "targets": ["customers"],
                        "nullable": false, "required_on_create": true
                    },
                    { "name": "warehouseCode", "type": "string", "max_length": 10 },
                    {
                        "name": "reference", "type": "string",
                        "nullable": false, "required_on_create": true
                    },
                    { "name": "currency", "type": "string", "max_length": 3, "read_only": true },
                    { "name": "channels", "type": "enum", "members": ["Web", "Phone", "Store"] },
                    {
                        "name": "total", "type": "decimal", "precision": 19, "scale": 4,
                        "read_only": true
                    },
                    { "name": "weight", "type": "decimal" },
                    { "name": "changedAt", "type": "datetime", "read_only": true }
                ]
            },
            {
                "name": "warehouses",
                "entity_type": "Warehouse",
                "key": "code",
                "modified_on": "SystemModifiedAt",
                "columns": [
                    {
                        "name": "code", "type": "string", "max_length": 10,
                        "nullable": false, "read_only": true
                    },
                    { "name": "description", "type": "string" },
                    { "name": "SystemModifiedAt", "type": "datetime", "read_only": true }
                ]
            }
        ]
    });
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap();
    assert_eq!(
        pretty(&serde_json::to_value(&imported.schema).unwrap()),
        pretty(&expected)
    );
    assert!(validate(&imported.schema).is_ok());

    let skipped: Vec<(&str, String)> = imported
        .skipped
        .iter()
        .map(|s| (s.set.as_str(), s.reason.to_string()))
        .collect();
    assert_eq!(
        skipped,
        [(
            "orderLines",
            "entity set `orderLines` has a key of several properties (orderNo, lineNo); only \
             single-column keys are supported"
                .to_string()
        )]
    );
}

#[test]
fn asking_for_the_composite_keyed_set_is_an_error() {
    let only = strings(&["orders", "orderLines"]);
    match import_noting_skipped(SALES, Some(&only)) {
        Err(CsdlError::CompositeKey { set, key }) => {
            assert_eq!(set, "orderLines");
            assert_eq!(key, ["orderNo", "lineNo"]);
        }
        other => panic!("expected CompositeKey, got {other:?}"),
    }
}

#[test]
#[allow(clippy::unwrap_used)]
fn naming_the_sets_skips_nothing() {
    let only = strings(&["warehouses"]);
    let imported = import_noting_skipped(SALES, Some(&only)).unwrap();
    assert!(imported.skipped.is_empty());
    assert_eq!(imported.schema.tables.len(), 1);
}
