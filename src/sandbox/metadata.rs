//! `$metadata`: the CSDL of a service, generated from its schema snapshot so that
//! `crate::schema::csdl::import` reads back the same tables, keys, columns and types, decimals
//! with their precision and scale. Option sets come back as integers (CSDL has no labels for
//! them), and `required_on_create` only where it follows from `Nullable="false"`.
//!
//! Dataverse lookups are a `_x_value` property with a navigation property `x` (one per target
//! for polymorphic ones: `parentcustomerid_account`, `parentcustomerid_contact`) constrained to
//! it, as Dataverse writes them. Business Central enums become `EnumType`s with members
//! escaped the way Business Central escapes them (`_x0020_` for a blank).

use std::fmt::Write;

use crate::schema::{ColumnSchema, ColumnType, SystemSchema, TableSchema};

use super::request::Resp;
use super::values::edm_type;

const CORE: &str = "Org.OData.Core.V1";

/// XML text for attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A name as an XML name: characters other than letters, digits and `_` as `_xHHHH_`.
fn xml_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_string()
            } else {
                format!("_x{:04X}_", u32::from(c))
            }
        })
        .collect()
}

fn entity(t: &TableSchema) -> &str {
    t.entity_type.as_deref().unwrap_or(&t.name)
}

/// The annotations and facets a column's property carries.
fn property(out: &mut String, name: &str, ty: &str, c: &ColumnSchema, key: bool) {
    let _ = write!(out, r#"<Property Name="{}" Type="{ty}""#, esc(name));
    match c.ty {
        ColumnType::String {
            max_length: Some(n),
        } => {
            let _ = write!(out, r#" MaxLength="{n}""#);
        }
        ColumnType::Decimal { precision, scale } => decimal_facets(out, precision, scale),
        _ => {}
    }
    if !c.nullable {
        out.push_str(r#" Nullable="false""#);
    }
    if let Some(d) = &c.default {
        let text = match d {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = write!(out, r#" DefaultValue="{}""#, esc(&text));
    }
    out.push('>');
    if c.read_only && !key {
        let _ = write!(out, r#"<Annotation Term="{CORE}.Computed" Bool="true"/>"#);
    }
    if let Some(d) = &c.description {
        let _ = write!(
            out,
            r#"<Annotation Term="{CORE}.Description" String="{}"/>"#,
            esc(d)
        );
    }
    out.push_str("</Property>");
}

/// `Precision` and `Scale` as the snapshot states them. An absent `Scale` means zero in CSDL,
/// so a scale the snapshot does not state is written `variable`, as Dataverse and Business
/// Central write theirs.
fn decimal_facets(out: &mut String, precision: Option<u32>, scale: Option<u32>) {
    if let Some(p) = precision {
        let _ = write!(out, r#" Precision="{p}""#);
    }
    match scale {
        Some(s) => {
            let _ = write!(out, r#" Scale="{s}""#);
        }
        None => out.push_str(r#" Scale="variable""#),
    }
}

fn document(namespace: &str, alias: &str, container: &str, body: &str, sets: &str) -> Resp {
    let xml = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml"><edmx:Include Namespace="{CORE}" Alias="Core"/></edmx:Reference><edmx:DataServices><Schema Namespace="{namespace}" Alias="{alias}" xmlns="http://docs.oasis-open.org/odata/ns/edm">{body}<EntityContainer Name="{container}">{sets}</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"#
    );
    Resp {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "application/xml".into()),
            ("OData-Version".into(), "4.0".into()),
        ],
        body: xml.into_bytes(),
    }
}

/// The Dataverse CSDL.
pub(crate) fn dataverse(schema: &SystemSchema) -> Resp {
    let ns = super::dataverse::NAMESPACE;
    let mut body = String::new();
    let mut sets = String::new();
    for t in &schema.tables {
        let _ = write!(
            body,
            r#"<EntityType Name="{}"><Key><PropertyRef Name="{}"/></Key>"#,
            esc(entity(t)),
            esc(&t.key)
        );
        let mut navigations = String::new();
        for c in &t.columns {
            let key = c.name == t.key;
            match &c.ty {
                ColumnType::Lookup { targets } => {
                    let wire = super::dataverse::wire_name(c);
                    property(&mut body, &wire, "Edm.Guid", c, false);
                    let polymorphic = targets.len() > 1;
                    for target in targets {
                        let Some(tt) = schema.table(target) else {
                            continue;
                        };
                        let nav = if polymorphic {
                            format!("{}_{}", c.name, entity(tt))
                        } else {
                            c.name.clone()
                        };
                        let _ = write!(
                            navigations,
                            r#"<NavigationProperty Name="{}" Type="mscrm.{}"><ReferentialConstraint Property="{}" ReferencedProperty="{}"/>"#,
                            esc(&nav),
                            esc(entity(tt)),
                            esc(&wire),
                            esc(&tt.key)
                        );
                        if c.read_only {
                            let _ = write!(
                                navigations,
                                r#"<Annotation Term="{CORE}.Computed" Bool="true"/>"#
                            );
                        }
                        navigations.push_str("</NavigationProperty>");
                    }
                }
                _ => property(&mut body, &c.name, edm_type(c), c, key),
            }
        }
        body.push_str(&navigations);
        body.push_str("</EntityType>");
        let _ = write!(
            sets,
            r#"<EntitySet Name="{}" EntityType="{ns}.{}"/>"#,
            esc(&t.name),
            esc(entity(t))
        );
    }
    document(ns, "mscrm", "System", &body, &sets)
}

/// The Business Central CSDL: `companies` and the snapshot's tables.
pub(crate) fn business_central(schema: &SystemSchema) -> Resp {
    let ns = super::business_central::NAMESPACE;
    let mut body = String::from(
        r#"<EntityType Name="company"><Key><PropertyRef Name="id"/></Key><Property Name="id" Type="Edm.Guid" Nullable="false"/><Property Name="systemVersion" Type="Edm.String"/><Property Name="timestamp" Type="Edm.Int64"/><Property Name="name" Type="Edm.String" MaxLength="30"/><Property Name="displayName" Type="Edm.String" MaxLength="250"/><Property Name="businessProfileId" Type="Edm.String" MaxLength="250"/><Property Name="systemCreatedAt" Type="Edm.DateTimeOffset"/></EntityType>"#,
    );
    let mut sets =
        String::from(r#"<EntitySet Name="companies" EntityType="Microsoft.NAV.company"/>"#);
    let mut enums = String::new();
    for t in &schema.tables {
        let _ = write!(
            body,
            r#"<EntityType Name="{}"><Key><PropertyRef Name="{}"/></Key>"#,
            esc(entity(t)),
            esc(&t.key)
        );
        for c in &t.columns {
            let ty = match &c.ty {
                ColumnType::Enum { members } => {
                    let name = format!("{}{}", entity(t), xml_name(&c.name));
                    let _ = write!(enums, r#"<EnumType Name="{}">"#, esc(&name));
                    for (i, m) in members.iter().enumerate() {
                        let _ = write!(
                            enums,
                            r#"<Member Name="{}" Value="{i}"/>"#,
                            esc(&xml_name(m))
                        );
                    }
                    enums.push_str("</EnumType>");
                    format!("{ns}.{name}")
                }
                _ => edm_type(c).to_string(),
            };
            property(&mut body, &c.name, &ty, c, c.name == t.key);
        }
        body.push_str("</EntityType>");
        let _ = write!(
            sets,
            r#"<EntitySet Name="{}" EntityType="{ns}.{}"/>"#,
            esc(&t.name),
            esc(entity(t))
        );
    }
    body.push_str(&enums);
    document(ns, "nav", "NAV", &body, &sets)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::schema::{csdl, SCHEMA_FORMAT_VERSION};

    fn decimal(name: &str, precision: Option<u32>, scale: Option<u32>) -> ColumnSchema {
        ColumnSchema::new(name, ColumnType::Decimal { precision, scale })
    }

    #[test]
    fn decimal_facets_survive_the_import() {
        let mut id = decimal("id", None, None);
        id.ty = ColumnType::Guid;
        id.nullable = false;
        id.read_only = true;
        let columns = vec![
            id,
            decimal("amount", Some(19), Some(4)),
            decimal("whole", Some(9), Some(0)),
            decimal("rate", Some(7), None),
            decimal("scaled", None, Some(2)),
            decimal("free", None, None),
        ];
        let schema = SystemSchema {
            format_version: SCHEMA_FORMAT_VERSION,
            source: None,
            tables: vec![TableSchema {
                name: "lines".into(),
                entity_type: Some("line".into()),
                key: "id".into(),
                modified_on: None,
                columns: columns.clone(),
            }],
        };
        let only = vec!["lines".to_string()];
        for resp in [dataverse(&schema), business_central(&schema)] {
            let xml = String::from_utf8(resp.body).unwrap();
            let imported = csdl::import(&xml, Some(&only)).unwrap();
            assert_eq!(imported.tables[0].columns, columns, "{xml}");
        }
    }
}
