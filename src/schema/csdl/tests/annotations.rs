//! What annotations say: read-only properties, descriptions, the modified-on column.

use super::*;

#[test]
fn reads_read_only_annotations_in_every_form() {
    let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:Reference
Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml">
<edmx:Include Namespace="Org.OData.Core.V1" Alias="Core" />
  </edmx:Reference>
  <edmx:DataServices>
<Schema Namespace="Test.Model" Alias="t" xmlns="http://docs.oasis-open.org/odata/ns/edm">
  <EntityType Name="row">
    <Key><PropertyRef Name="id" /></Key>
    <Property Name="id" Type="Edm.Int32" />
    <Property Name="computed_tag" Type="Edm.Decimal">
      <Annotation Term="Org.OData.Core.V1.Computed" />
    </Property>
    <Property Name="computed_false" Type="Edm.Decimal">
      <Annotation Term="Core.Computed" Bool="false" />
    </Property>
    <Property Name="computed_element" Type="Edm.Decimal">
      <Annotation Term="Core.Computed"><Bool>true</Bool></Annotation>
    </Property>
    <Property Name="permission_attribute" Type="Edm.String">
      <Annotation Term="Core.Permissions" EnumMember="Core.Permission/Read" />
    </Property>
    <Property Name="permission_collection" Type="Edm.String">
      <Annotation Term="Org.OData.Core.V1.Permissions">
        <Collection><EnumMember>Org.OData.Core.V1.Permission/Read</EnumMember></Collection>
      </Annotation>
    </Property>
    <Property Name="permission_dataverse" Type="Edm.String">
      <Annotation Term="Org.OData.Core.V1.Permissions">
        <EnumMember>Org.OData.Core.V1.PermissionType/Read</EnumMember>
      </Annotation>
    </Property>
    <Property Name="read_write" Type="Edm.String">
      <Annotation Term="Core.Permissions"
        EnumMember="Core.Permission/Read Core.Permission/Write" />
    </Property>
    <Property Name="targeted" Type="Edm.String" />
    <Property Name="plain" Type="Edm.String">
      <Annotation Term="Core.Description"><String>  What it is.  </String></Annotation>
      <Annotation Term="Some.Other.Term" Bool="true" />
    </Property>
  </EntityType>
  <EntityContainer Name="c">
    <EntitySet Name="rows" EntityType="t.row" />
  </EntityContainer>
  <Annotations Target="t.row/targeted">
    <Annotation Term="Core.Computed" Bool="true" />
    <Annotation Term="Core.Description" String="Set by the server." />
  </Annotations>
</Schema>
  </edmx:DataServices>
</edmx:Edmx>"#;
    let schema = import_ok(xml);
    let rows = table(&schema, "rows");
    let read_only = |name: &str| column(rows, name).read_only;
    assert!(read_only("id"), "keys are read-only");
    assert!(read_only("computed_tag"));
    assert!(!read_only("computed_false"));
    assert!(read_only("computed_element"));
    assert!(read_only("permission_attribute"));
    assert!(read_only("permission_collection"));
    assert!(read_only("permission_dataverse"));
    assert!(!read_only("read_write"));
    assert!(read_only("targeted"));
    assert!(!read_only("plain"));
    assert_eq!(
        column(rows, "plain").description.as_deref(),
        Some("What it is.")
    );
    assert_eq!(
        column(rows, "targeted").description.as_deref(),
        Some("Set by the server.")
    );
}

#[test]
fn immutable_properties_are_read_only() {
    let xml = edmx(
        r#"
      <EntityType Name="row">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.Int32" />
        <Property Name="tagged" Type="Edm.String" Nullable="false">
          <Annotation Term="Org.OData.Core.V1.Immutable" />
        </Property>
        <Property Name="untagged" Type="Edm.String">
          <Annotation Term="Org.OData.Core.V1.Immutable" Bool="false" />
        </Property>
      </EntityType>
      <EntityContainer Name="c">
        <EntitySet Name="rows" EntityType="t.row" />
      </EntityContainer>"#,
    );
    let schema = import_ok(&xml);
    let rows = table(&schema, "rows");
    let tagged = column(rows, "tagged");
    assert!(tagged.read_only);
    assert!(
        !tagged.required_on_create,
        "a column the sync cannot write is never required of it"
    );
    assert!(!column(rows, "untagged").read_only);
}

#[test]
fn required_on_create_needs_not_null_without_a_default() {
    let xml = edmx(
        r#"
      <EntityType Name="row">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.Int32" Nullable="false" />
        <Property Name="must" Type="Edm.String" Nullable="false" />
        <Property Name="defaulted" Type="Edm.Int32" Nullable="false" DefaultValue="0" />
        <Property Name="optional" Type="Edm.String" />
        <Property Name="stated" Type="Edm.String" Nullable="true" />
        <Property Name="computed" Type="Edm.Int32" Nullable="false">
          <Annotation Term="Org.OData.Core.V1.Computed" />
        </Property>
        <Property Name="createdon" Type="Edm.DateTimeOffset" Nullable="false" />
      </EntityType>
      <EntityContainer Name="c">
        <EntitySet Name="rows" EntityType="t.row" />
      </EntityContainer>"#,
    );
    let schema = import_ok(&xml);
    let rows = table(&schema, "rows");
    let required: Vec<&str> = rows
        .columns
        .iter()
        .filter(|c| c.required_on_create)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(required, ["must"]);
    assert_eq!(
        column(rows, "defaulted").default,
        Some(serde_json::json!(0))
    );
}

/// A set whose concurrency annotation names `rowChangedAt` beside a `lastModifiedDateTime`.
fn stamped(annotation: &str) -> String {
    edmx(&format!(
        r#"
      <EntityType Name="row">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.Int32" />
        <Property Name="version" Type="Edm.Int64" />
        <Property Name="lastModifiedDateTime" Type="Edm.DateTimeOffset" />
        <Property Name="rowChangedAt" Type="Edm.DateTimeOffset" />
      </EntityType>
      <EntityContainer Name="c">
        <EntitySet Name="rows" EntityType="t.row" />
      </EntityContainer>
      <Annotations Target="t.c/rows">
        <Annotation Term="Org.OData.Core.V1.OptimisticConcurrency">
          <Collection>{annotation}</Collection>
        </Annotation>
      </Annotations>"#
    ))
}

#[test]
fn the_concurrency_annotation_beats_a_known_name() {
    let schema = import_ok(&stamped("<PropertyPath>rowChangedAt</PropertyPath>"));
    let rows = table(&schema, "rows");
    assert_eq!(rows.modified_on.as_deref(), Some("rowChangedAt"));
    assert!(column(rows, "rowChangedAt").read_only);
    assert!(
        column(rows, "lastModifiedDateTime").read_only,
        "still stamped by the service"
    );
}

#[test]
fn the_concurrency_annotation_names_date_times_only() {
    let schema = import_ok(&stamped(
        "<PropertyPath>version</PropertyPath><PropertyPath>address/changed</PropertyPath>",
    ));
    let rows = table(&schema, "rows");
    assert_eq!(
        rows.modified_on.as_deref(),
        Some("lastModifiedDateTime"),
        "an ETag over a version number says nothing of when"
    );
    assert!(!column(rows, "version").read_only);
    assert!(!column(rows, "rowChangedAt").read_only);
}

#[test]
fn known_modified_on_names_match_without_case() {
    let xml = edmx(
        r#"
      <EntityType Name="a">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.Int32" />
        <Property Name="ModifiedAt" Type="Edm.DateTimeOffset" />
      </EntityType>
      <EntityType Name="b">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.Int32" />
        <Property Name="updated_at" Type="Edm.String" />
        <Property Name="DateModified" Type="Edm.Date" />
      </EntityType>
      <EntityType Name="c">
        <Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.Int32" />
        <Property Name="LastModified" Type="Edm.DateTime" />
      </EntityType>
      <EntityContainer Name="box">
        <EntitySet Name="as" EntityType="t.a" />
        <EntitySet Name="bs" EntityType="t.b" />
        <EntitySet Name="cs" EntityType="t.c" />
      </EntityContainer>"#,
    );
    let schema = import_ok(&xml);
    assert_eq!(
        table(&schema, "as").modified_on.as_deref(),
        Some("ModifiedAt")
    );
    assert_eq!(
        table(&schema, "bs").modified_on,
        None,
        "text and dates are no points in time"
    );
    assert!(!column(table(&schema, "bs"), "updated_at").read_only);
    assert_eq!(
        table(&schema, "cs").modified_on.as_deref(),
        Some("LastModified")
    );
}
