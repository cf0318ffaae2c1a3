//! Property types: primitives and their facets, type definitions, enum types.

use super::*;

#[test]
fn maps_primitive_types_and_facets() {
    let xml = edmx(
        r#"
  <EntityType Name="thing">
    <Key><PropertyRef Name="id" /></Key>
    <Property Name="id" Type="Edm.Guid" Nullable="false" />
    <Property Name="code" Type="Edm.String" Nullable="false" MaxLength="20" />
    <Property Name="notes" Type="Edm.String" MaxLength="max" />
    <Property Name="small" Type="Edm.Int16" />
    <Property Name="count" Type="Edm.Int32" />
    <Property Name="big" Type="Edm.Int64" />
    <Property Name="tiny" Type="Edm.Byte" />
    <Property Name="price" Type="Edm.Decimal" Scale="Variable" />
    <Property Name="ratio" Type="Edm.Double" />
    <Property Name="share" Type="Edm.Single" />
    <Property Name="active" Type="Edm.Boolean" />
    <Property Name="born" Type="Edm.Date" />
    <Property Name="seen" Type="Edm.DateTimeOffset" />
    <Property Name="photo" Type="Edm.Stream" />
    <Property Name="spot" Type="Edm.GeographyPoint" />
    <Property Name="tags" Type="Collection(Edm.String)" />
  </EntityType>
  <EntityContainer Name="c">
    <EntitySet Name="things" EntityType="Test.Model.thing" />
  </EntityContainer>"#,
    );
    let schema = import_ok(&xml);
    assert_eq!(schema.format_version, SCHEMA_FORMAT_VERSION);
    assert_eq!(schema.source.as_deref(), Some("CSDL import of Test.Model"));
    let things = table(&schema, "things");
    assert_eq!(things.key, "id");
    assert_eq!(things.entity_type.as_deref(), Some("thing"));
    assert_eq!(things.modified_on, None);

    let ty = |name: &str| column(things, name).ty.clone();
    assert_eq!(ty("id"), ColumnType::Guid);
    assert_eq!(
        ty("code"),
        ColumnType::String {
            max_length: Some(20)
        }
    );
    assert_eq!(ty("notes"), ColumnType::String { max_length: None });
    for int in ["small", "count", "big", "tiny"] {
        assert_eq!(ty(int), ColumnType::Int, "{int}");
    }
    for decimal in ["price", "ratio", "share"] {
        assert_eq!(ty(decimal), ColumnType::DECIMAL, "{decimal}");
    }
    assert_eq!(ty("active"), ColumnType::Bool);
    assert_eq!(ty("born"), ColumnType::Date);
    assert_eq!(ty("seen"), ColumnType::Datetime);
    for unknown in ["photo", "spot", "tags"] {
        assert_eq!(
            ty(unknown),
            ColumnType::String { max_length: None },
            "{unknown}"
        );
    }

    let id = column(things, "id");
    assert!(!id.nullable && id.read_only);
    let code = column(things, "code");
    assert!(!code.nullable && !code.read_only);
    assert!(
        code.required_on_create,
        "not null, no default: a create must set it"
    );
    assert!(!column(things, "id").required_on_create, "keys are never");
    assert!(column(things, "count").nullable);
    assert!(validate(&schema).is_ok());
}

#[test]
fn follows_base_types_for_key_and_properties() {
    let xml = edmx(
        r#"
  <EntityType Name="root" Abstract="true" />
  <EntityType Name="base" BaseType="t.root">
    <Key><PropertyRef Name="id" /></Key>
    <Property Name="id" Type="Edm.Guid" />
    <Property Name="createdon" Type="Edm.DateTimeOffset" />
  </EntityType>
  <EntityType Name="derived" BaseType="Test.Model.base">
    <Property Name="name" Type="Edm.String" />
    <Property Name="modifiedon" Type="Edm.DateTimeOffset" />
  </EntityType>
  <EntityContainer Name="c">
    <EntitySet Name="derived" EntityType="t.derived" />
  </EntityContainer>"#,
    );
    let schema = import_ok(&xml);
    let derived = table(&schema, "derived");
    assert_eq!(derived.key, "id");
    assert_eq!(derived.entity_type, None, "the type is named like the set");
    assert_eq!(names(derived), ["id", "createdon", "name", "modifiedon"]);
    assert_eq!(derived.modified_on.as_deref(), Some("modifiedon"));
    assert!(column(derived, "createdon").read_only);
    assert!(column(derived, "modifiedon").read_only);
    assert!(!column(derived, "name").read_only);
}

#[test]
fn decodes_enum_members() {
    let xml = edmx(
        r#"
  <EnumType Name="blocked">
    <Member Name="_x0020_" Value="0" />
    <Member Name="Ship" Value="1" />
    <Member Name="Bank_x0020_Account" Value="2" />
    <Member Name="Charge_x0020__x0028_Item_x0029_" Value="3" />
  </EnumType>
  <EntityType Name="customer">
    <Key><PropertyRef Name="id" /></Key>
    <Property Name="id" Type="Edm.Guid" />
    <Property Name="blocked" Type="t.blocked" />
    <Property Name="lastModifiedDateTime" Type="Edm.DateTimeOffset" />
  </EntityType>
  <EntityContainer Name="c">
    <EntitySet Name="customers" EntityType="t.customer" />
  </EntityContainer>"#,
    );
    let schema = import_ok(&xml);
    let customers = table(&schema, "customers");
    assert_eq!(
        column(customers, "blocked").ty,
        ColumnType::Enum {
            members: strings(&[" ", "Ship", "Bank Account", "Charge (Item)"])
        }
    );
    assert_eq!(
        customers.modified_on.as_deref(),
        Some("lastModifiedDateTime")
    );
    assert!(column(customers, "lastModifiedDateTime").read_only);
}

#[test]
fn decode_name_leaves_non_escapes_alone() {
    assert_eq!(decode_name("_x0020_"), " ");
    assert_eq!(decode_name("G_x002F_L_x0020_Account"), "G/L Account");
    assert_eq!(decode_name("Expired_x0020_"), "Expired ");
    assert_eq!(decode_name("_x0001F600_"), "\u{1F600}");
    assert_eq!(decode_name("tax_x"), "tax_x");
    assert_eq!(decode_name("_x00zz_"), "_x00zz_");
    assert_eq!(decode_name("_x0020"), "_x0020");
    assert_eq!(
        decode_name("_xD800_"),
        "_xD800_",
        "a lone surrogate is no character"
    );
    assert_eq!(decode_name("plain"), "plain");
}

#[test]
fn resolves_type_definitions() {
    let xml = edmx(
        r#"
  <TypeDefinition Name="code" UnderlyingType="Edm.String" MaxLength="10" />
  <TypeDefinition Name="amount" UnderlyingType="Edm.Decimal" />
  <EntityType Name="item">
    <Key><PropertyRef Name="no" /></Key>
    <Property Name="no" Type="t.code" />
    <Property Name="longer" Type="t.code" MaxLength="20" />
    <Property Name="price" Type="t.amount" />
  </EntityType>
  <EntityContainer Name="c">
    <EntitySet Name="items" EntityType="t.item" />
  </EntityContainer>"#,
    );
    let schema = import_ok(&xml);
    let items = table(&schema, "items");
    assert_eq!(
        column(items, "no").ty,
        ColumnType::String {
            max_length: Some(10)
        }
    );
    assert_eq!(
        column(items, "longer").ty,
        ColumnType::String {
            max_length: Some(20)
        }
    );
    assert_eq!(column(items, "price").ty, ColumnType::DECIMAL);
}

#[test]
fn decimal_scale_follows_the_csdl_defaults() {
    let shape =
        |precision: Option<u32>, scale: Option<u32>| ColumnType::Decimal { precision, scale };
    assert_eq!(decimal(Some("19"), Some("4")), shape(Some(19), Some(4)));
    assert_eq!(
        decimal(Some("19"), None),
        shape(Some(19), Some(0)),
        "a stated precision leaves the scale at its default, zero"
    );
    for symbolic in ["variable", "Variable", "floating", "FLOATING"] {
        assert_eq!(
            decimal(Some("7"), Some(symbolic)),
            shape(Some(7), None),
            "{symbolic}"
        );
    }
    assert_eq!(decimal(None, Some("2")), shape(None, Some(2)));
    assert_eq!(
        decimal(None, None),
        ColumnType::DECIMAL,
        "no facet at all: nothing is known of the number's shape"
    );
    assert_eq!(decimal(Some("lots"), None), ColumnType::DECIMAL);
}

#[test]
fn reads_decimal_facets_from_properties_and_type_definitions() {
    let xml = edmx(
        r#"
      <TypeDefinition Name="money" UnderlyingType="Edm.Decimal" Precision="19" Scale="4" />
      <TypeDefinition Name="rate" UnderlyingType="Edm.Decimal" Precision="9" />
      <EntityType Name="line">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.Int64" />
        <Property Name="amount" Type="t.money" />
        <Property Name="rounded" Type="t.money" Scale="2" />
        <Property Name="rate" Type="t.rate" />
        <Property Name="quantity" Type="Edm.Decimal" Precision="12" />
        <Property Name="factor" Type="Edm.Decimal" Precision="7" Scale="floating" />
        <Property Name="ratio" Type="Edm.Single" Precision="7" />
      </EntityType>
      <EntityContainer Name="c">
        <EntitySet Name="lines" EntityType="t.line" />
      </EntityContainer>"#,
    );
    let schema = import_ok(&xml);
    let lines = table(&schema, "lines");
    let ty = |name: &str| column(lines, name).ty.clone();
    let shape =
        |precision: Option<u32>, scale: Option<u32>| ColumnType::Decimal { precision, scale };
    assert_eq!(ty("id"), ColumnType::Int, "an integer key stays an integer");
    assert_eq!(ty("amount"), shape(Some(19), Some(4)));
    assert_eq!(
        ty("rounded"),
        shape(Some(19), Some(2)),
        "the property's facet wins"
    );
    assert_eq!(ty("rate"), shape(Some(9), Some(0)));
    assert_eq!(ty("quantity"), shape(Some(12), Some(0)));
    assert_eq!(ty("factor"), shape(Some(7), None));
    assert_eq!(
        ty("ratio"),
        ColumnType::DECIMAL,
        "binary floating point has no facets"
    );
}

#[test]
fn finds_enum_types_in_other_schemas() {
    let xml = r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="Shared.Enums" Alias="e" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EnumType Name="Size" UnderlyingType="Edm.Byte">
        <Member Name="Small" />
        <Member Name="Large" />
      </EnumType>
      <EnumType Name="Features" IsFlags="true">
        <Member Name="None" Value="0" />
        <Member Name="Gift_x0020_Wrap" Value="1" />
        <Member Name="Express" Value="2" />
      </EnumType>
    </Schema>
    <Schema Namespace="Shop" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="parcel">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.String" />
        <Property Name="by_alias" Type="e.Size" />
        <Property Name="by_namespace" Type="Shared.Enums.Size" />
        <Property Name="features" Type="e.Features" />
        <Property Name="sizes" Type="Collection(e.Size)" />
        <Property Name="sent" Type="Edm.DateTime" />
      </EntityType>
      <EntityContainer Name="c">
        <EntitySet Name="parcels" EntityType="Shop.parcel" />
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>"#;
    let schema = import_ok(xml);
    let parcels = table(&schema, "parcels");
    let ty = |name: &str| column(parcels, name).ty.clone();
    let size = ColumnType::Enum {
        members: strings(&["Small", "Large"]),
    };
    assert_eq!(ty("id"), ColumnType::String { max_length: None });
    assert_eq!(ty("by_alias"), size);
    assert_eq!(ty("by_namespace"), size);
    assert_eq!(
        ty("features"),
        ColumnType::Enum {
            members: strings(&["None", "Gift Wrap", "Express"])
        },
        "a flags enum lists its members as one that is not"
    );
    assert_eq!(
        ty("sizes"),
        ColumnType::String { max_length: None },
        "collections have no snapshot type"
    );
    assert_eq!(ty("sent"), ColumnType::Datetime);
}
