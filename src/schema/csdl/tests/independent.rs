//! A service that is neither Dataverse nor Business Central: integer and text keys, an enum
//! type in a second schema, decimal facets, a foreign key behind a bound navigation property,
//! a modified-on column found by annotation or by name, and a set with a composite key.

use super::*;

const SALES: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:Reference
    Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml">
    <edmx:Include Namespace="Org.OData.Core.V1" Alias="Core" />
  </edmx:Reference>
  <edmx:DataServices>
    <Schema Namespace="Contoso.Reference" Alias="ref" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EnumType Name="Category">
        <Member Name="Standard" Value="0" />
        <Member Name="Preferred" Value="1" />
        <Member Name="OnHold" Value="2" />
      </EnumType>
      <EnumType Name="Channels" IsFlags="true">
        <Member Name="Web" Value="1" />
        <Member Name="Phone" Value="2" />
        <Member Name="Store" Value="4" />
      </EnumType>
    </Schema>
    <Schema Namespace="Contoso.Sales" Alias="sales" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="Customer">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.Guid" Nullable="false" />
        <Property Name="name" Type="Edm.String" Nullable="false" MaxLength="100" />
        <Property Name="category" Type="ref.Category" Nullable="false" DefaultValue="Standard" />
        <Property Name="creditLimit" Type="Edm.Decimal" Precision="19" Scale="4" />
        <Property Name="modifiedAt" Type="Edm.DateTimeOffset" Nullable="false" />
        <NavigationProperty Name="orders" Type="Collection(sales.Order)" Partner="customer" />
      </EntityType>
      <EntityType Name="Order">
        <Key><PropertyRef Name="orderNo" /></Key>
        <Property Name="orderNo" Type="Edm.Int32" Nullable="false">
          <Annotation Term="Core.Computed" />
        </Property>
        <Property Name="customerId" Type="Edm.Guid" Nullable="false" />
        <Property Name="warehouseCode" Type="Edm.String" MaxLength="10" />
        <Property Name="reference" Type="Edm.String" Nullable="false" />
        <Property Name="currency" Type="Edm.String" MaxLength="3">
          <Annotation Term="Core.Immutable" />
        </Property>
        <Property Name="channels" Type="Contoso.Reference.Channels" />
        <Property Name="total" Type="Edm.Decimal" Precision="19" Scale="4">
          <Annotation Term="Org.OData.Core.V1.Computed" Bool="true" />
        </Property>
        <Property Name="weight" Type="Edm.Double" />
        <Property Name="changedAt" Type="Edm.DateTimeOffset" />
        <NavigationProperty Name="customer" Type="sales.Customer" Nullable="false"
          Partner="orders">
          <ReferentialConstraint Property="customerId" ReferencedProperty="id" />
        </NavigationProperty>
        <NavigationProperty Name="warehouse" Type="sales.Warehouse">
          <ReferentialConstraint Property="warehouseCode" ReferencedProperty="code" />
        </NavigationProperty>
        <NavigationProperty Name="lines" Type="Collection(sales.OrderLine)" />
      </EntityType>
      <EntityType Name="OrderLine">
        <Key><PropertyRef Name="orderNo" /><PropertyRef Name="lineNo" /></Key>
        <Property Name="orderNo" Type="Edm.Int32" Nullable="false" />
        <Property Name="lineNo" Type="Edm.Int32" Nullable="false" />
        <Property Name="quantity" Type="Edm.Decimal" Precision="9" />
      </EntityType>
      <EntityType Name="Warehouse">
        <Key><PropertyRef Name="code" /></Key>
        <Property Name="code" Type="Edm.String" Nullable="false" MaxLength="10" />
        <Property Name="description" Type="Edm.String" />
        <Property Name="SystemModifiedAt" Type="Edm.DateTimeOffset" />
      </EntityType>
      <EntityContainer Name="Service">
        <EntitySet Name="customers" EntityType="sales.Customer">
          <NavigationPropertyBinding Path="orders" Target="orders" />
        </EntitySet>
        <EntitySet Name="orders" EntityType="Contoso.Sales.Order">
          <NavigationPropertyBinding Path="customer" Target="customers" />
          <NavigationPropertyBinding Path="warehouse" Target="warehouses" />
          <NavigationPropertyBinding Path="lines" Target="orderLines" />
          <Annotation Term="Core.OptimisticConcurrency">
            <Collection><PropertyPath>changedAt</PropertyPath></Collection>
          </Annotation>
        </EntitySet>
        <EntitySet Name="orderLines" EntityType="sales.OrderLine" />
        <EntitySet Name="warehouses" EntityType="sales.Warehouse" />
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>"#;

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
