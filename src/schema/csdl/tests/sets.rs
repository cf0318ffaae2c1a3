//! Which entity sets an import keeps, and the errors it reports.

use super::*;

/// Three sets, the middle one unusable (composite key).
fn mixed() -> String {
    edmx(
        r#"
  <EntityType Name="a">
    <Key><PropertyRef Name="id" /></Key>
    <Property Name="id" Type="Edm.Guid" />
  </EntityType>
  <EntityType Name="pair">
    <Key><PropertyRef Name="left" /><PropertyRef Name="right" /></Key>
    <Property Name="left" Type="Edm.String" />
    <Property Name="right" Type="Edm.String" />
  </EntityType>
  <EntityType Name="b">
    <Key><PropertyRef Name="id" /></Key>
    <Property Name="id" Type="Edm.Guid" />
  </EntityType>
  <EntityContainer Name="c">
    <EntitySet Name="zs" EntityType="t.b" />
    <EntitySet Name="pairs" EntityType="t.pair" />
    <EntitySet Name="as" EntityType="t.a" />
  </EntityContainer>"#,
    )
}

#[test]
fn keeps_document_order_and_skips_unusable_sets() {
    let schema = import_ok(&mixed());
    let tables: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tables, ["zs", "as"]);
}

#[test]
fn only_keeps_the_named_sets_in_document_order() {
    let only = strings(&["as", "zs"]);
    let schema = match import(&mixed(), Some(&only)) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let tables: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tables, ["zs", "as"]);
}

#[test]
fn only_lists_unknown_sets() {
    let only = strings(&["as", "nope", "missing", "nope"]);
    match import(&mixed(), Some(&only)) {
        Err(CsdlError::UnknownEntitySets { names }) => {
            assert_eq!(names, ["nope", "missing"]);
        }
        other => panic!("expected UnknownEntitySets, got {other:?}"),
    }
    let err = import(&mixed(), Some(&only)).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("the $metadata document has no entity set `nope`, `missing`")
    );
}

#[test]
fn asking_for_an_unusable_set_says_why() {
    let only = strings(&["pairs"]);
    match import(&mixed(), Some(&only)) {
        Err(CsdlError::CompositeKey { set, key }) => {
            assert_eq!(set, "pairs");
            assert_eq!(key, ["left", "right"]);
        }
        other => panic!("expected CompositeKey, got {other:?}"),
    }
}

#[test]
fn reports_unusable_types() {
    let xml = edmx(
        r#"
  <EntityType Name="nokey">
    <Property Name="id" Type="Edm.Guid" />
  </EntityType>
  <EntityType Name="loop1" BaseType="t.loop2">
    <Key><PropertyRef Name="id" /></Key>
  </EntityType>
  <EntityType Name="loop2" BaseType="t.loop1" />
  <EntityType Name="badkey">
    <Key><PropertyRef Name="id" /></Key>
    <Property Name="other" Type="Edm.Guid" />
  </EntityType>
  <EntityContainer Name="c">
    <EntitySet Name="nokeys" EntityType="t.nokey" />
    <EntitySet Name="loops" EntityType="t.loop1" />
    <EntitySet Name="badkeys" EntityType="t.badkey" />
    <EntitySet Name="ghosts" EntityType="Elsewhere.ghost" />
  </EntityContainer>"#,
    );
    assert!(import_ok(&xml).tables.is_empty());
    let one = |set: &str| import(&xml, Some(&strings(&[set]))).err();
    assert!(matches!(one("nokeys"), Some(CsdlError::MissingKey { .. })));
    assert!(matches!(
        one("loops"),
        Some(CsdlError::BaseTypeCycle { .. })
    ));
    assert!(matches!(
        one("badkeys"),
        Some(CsdlError::KeyNotAProperty { .. })
    ));
    match one("ghosts") {
        Some(CsdlError::UnknownEntityType { set, entity_type }) => {
            assert_eq!(
                (set.as_str(), entity_type.as_str()),
                ("ghosts", "Elsewhere.ghost")
            );
        }
        other => panic!("expected UnknownEntityType, got {other:?}"),
    }
}

#[test]
fn reports_xml_errors_with_their_position() {
    let xml = "<edmx:Edmx xmlns:edmx=\"x\">\n  <Schema>\n  </Schem>\n</edmx:Edmx>";
    match import(xml, None) {
        Err(CsdlError::Xml { line, column, .. }) => {
            assert_eq!(line, Some(3));
            assert!(column.is_some());
        }
        other => panic!("expected an XML error, got {other:?}"),
    }
    match import("", None) {
        Err(CsdlError::Xml { line, column, .. }) => assert_eq!((line, column), (None, None)),
        other => panic!("expected an XML error, got {other:?}"),
    }
}

#[test]
fn reports_a_missing_container() {
    let xml = r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
<Schema Namespace="Test.Model" xmlns="http://docs.oasis-open.org/odata/ns/edm" />
  </edmx:DataServices>
</edmx:Edmx>"#;
    assert!(matches!(
        import(xml, None),
        Err(CsdlError::MissingEntityContainer)
    ));
}

#[test]
fn reports_missing_attributes_with_their_line() {
    let xml = edmx(
        r#"
  <EntityContainer Name="c">
    <EntitySet EntityType="t.a" />
  </EntityContainer>"#,
    );
    match import(&xml, None) {
        Err(CsdlError::MissingAttribute {
            element,
            attribute,
            line,
        }) => {
            assert_eq!(
                (element.as_str(), attribute.as_str(), line),
                ("EntitySet", "Name", 7)
            );
        }
        other => panic!("expected MissingAttribute, got {other:?}"),
    }
}
