//! Import of OData CSDL `$metadata` documents into schema snapshots.
//!
//! What an import keeps of the model, and from where:
//!
//! * **Tables**: the entity sets, in document order, with the properties of their entity type
//!   and its base types as columns. A table has one key column; sets keyed by several
//!   properties cannot be described and are left out (see [`Skipped`]).
//! * **Types**: primitive types by their snapshot names (integer keys stay `int`, GUID keys
//!   `guid`, string keys `string`); `EnumType`s, from any schema of the document, as `enum`
//!   columns of their member names; `Edm.Decimal` with its `Precision` and `Scale`; strings with
//!   their `MaxLength`. Types the snapshot format has no name for become text.
//! * **Lookups**: Dataverse lookup properties (`_transactioncurrencyid_value`), and GUID
//!   foreign keys that a single-valued navigation property constrains to the key of the entity
//!   set it is bound to.
//! * **Flags**: `nullable` from `Nullable`; `read_only` for keys, the columns services stamp,
//!   and properties annotated `Core.Computed`, `Core.Immutable` or read-only `Core.Permissions`;
//!   `required_on_create` for a writable, non-key property that may not be null and has no
//!   `DefaultValue`.
//! * **Modified-on**: the date-time property `Core.OptimisticConcurrency` names on the entity
//!   set, else a property with one of the names services give that column.
//!
//! CSDL does not carry Dataverse choice labels (choices are plain `Edm.Int32` there); those are
//! added to a snapshot by hand after import.

mod annotations;
mod document;
mod lookups;
mod table;
mod types;

#[cfg(test)]
mod tests;

use std::collections::HashSet;

use roxmltree::Document;

use crate::schema::{SystemSchema, TableSchema, SCHEMA_FORMAT_VERSION};

use document::Model;

/// Why a `$metadata` document could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum CsdlError {
    /// The text is not well-formed XML.
    #[error("the $metadata document is not well-formed XML: {message}")]
    Xml {
        /// What the XML parser reported.
        message: String,
        /// 1-based line of the problem, when the parser knows it.
        line: Option<u32>,
        /// 1-based column of the problem, when the parser knows it.
        column: Option<u32>,
    },
    /// The document declares no `EntityContainer`, so it has no entity sets to import.
    #[error("the $metadata document has no EntityContainer, so it lists no entity sets")]
    MissingEntityContainer,
    /// An element lacks an attribute CSDL requires of it.
    #[error("line {line}: <{element}> has no `{attribute}` attribute")]
    MissingAttribute {
        /// The element's local name.
        element: String,
        /// The missing attribute.
        attribute: String,
        /// 1-based line of the element.
        line: u32,
    },
    /// `only` names entity sets the document does not have.
    #[error("the $metadata document has no entity set {}", quoted_list(.names))]
    UnknownEntitySets {
        /// The names not found, in the order they were asked for.
        names: Vec<String>,
    },
    /// An entity set's type, or one of its base types, is not defined in the document.
    #[error(
        "entity set `{set}` uses entity type `{entity_type}`, which the document does not define"
    )]
    UnknownEntityType {
        /// The entity set.
        set: String,
        /// The qualified name of the missing type.
        entity_type: String,
    },
    /// An entity type's `BaseType` chain leads back to itself.
    #[error("entity set `{set}`: entity type `{entity_type}` derives from itself")]
    BaseTypeCycle {
        /// The entity set.
        set: String,
        /// The qualified name of the type where the cycle was found.
        entity_type: String,
    },
    /// Neither an entity type nor any of its base types declares a key.
    #[error("entity set `{set}`: entity type `{entity_type}` has no key")]
    MissingKey {
        /// The entity set.
        set: String,
        /// The qualified name of the entity type.
        entity_type: String,
    },
    /// The key has several properties; snapshots describe single-column keys only.
    #[error(
        "entity set `{set}` has a key of several properties ({}); only single-column keys are \
         supported",
        .key.join(", ")
    )]
    CompositeKey {
        /// The entity set.
        set: String,
        /// The key's properties.
        key: Vec<String>,
    },
    /// The key names a property the entity type does not declare.
    #[error("entity set `{set}` names key `{key}`, which is not a property of its entity type")]
    KeyNotAProperty {
        /// The entity set.
        set: String,
        /// The key property's name.
        key: String,
    },
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An entity set an import of the whole document left out, and why.
#[derive(Debug)]
pub struct Skipped {
    /// The entity set's name.
    pub set: String,
    /// What keeps it from being described; the same error asking for it by name gives.
    pub reason: CsdlError,
}

/// What an import made of a document.
#[derive(Debug)]
pub struct Import {
    /// The snapshot.
    pub schema: SystemSchema,
    /// The entity sets left out, in document order. Empty when `only` named the sets: asking
    /// for a set that cannot be imported is an error instead.
    pub skipped: Vec<Skipped>,
}

/// Imports the entity sets of a CSDL `$metadata` document as a schema snapshot; see the module
/// documentation for what it keeps.
///
/// With `only`, just the named sets are imported, and naming a set the document lacks, or one
/// that cannot be described, is an error. Without it, sets that cannot be described (composite
/// or missing keys, undefined types) are left out, so that a whole service document imports;
/// [`import_noting_skipped`] says which.
pub fn import(xml: &str, only: Option<&[String]>) -> Result<SystemSchema, CsdlError> {
    import_noting_skipped(xml, only).map(|i| i.schema)
}

/// [`import`], also listing the entity sets it left out and why, for the user to be told.
pub fn import_noting_skipped(xml: &str, only: Option<&[String]>) -> Result<Import, CsdlError> {
    let doc = Document::parse(xml).map_err(xml_error)?;
    let model = Model::read(&doc)?;

    let requested: Option<HashSet<&str>> =
        only.map(|names| names.iter().map(String::as_str).collect());
    if let Some(names) = only {
        let known: HashSet<&str> = model.sets.iter().map(|s| s.name).collect();
        let mut unknown: Vec<String> = Vec::new();
        for name in names {
            if !known.contains(name.as_str()) && !unknown.contains(name) {
                unknown.push(name.clone());
            }
        }
        if !unknown.is_empty() {
            return Err(CsdlError::UnknownEntitySets { names: unknown });
        }
    }

    let mut tables: Vec<TableSchema> = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    for set in &model.sets {
        let explicitly_requested = match &requested {
            Some(names) if !names.contains(set.name) => continue,
            Some(_) => true,
            None => false,
        };
        if tables.iter().any(|t| t.name == set.name) || skipped.iter().any(|s| s.set == set.name) {
            continue;
        }
        match model.table(set) {
            Ok(table) => tables.push(table),
            Err(e) if explicitly_requested => return Err(e),
            Err(reason) => skipped.push(Skipped {
                set: set.name.to_string(),
                reason,
            }),
        }
    }

    Ok(Import {
        schema: SystemSchema {
            format_version: SCHEMA_FORMAT_VERSION,
            source: model.namespace.map(|ns| format!("CSDL import of {ns}")),
            tables,
        },
        skipped,
    })
}

fn xml_error(e: roxmltree::Error) -> CsdlError {
    // These errors concern the document as a whole; the parser reports them at 1:1.
    let positioned = !matches!(
        e,
        roxmltree::Error::NoRootNode
            | roxmltree::Error::UnclosedRootNode
            | roxmltree::Error::DtdDetected
            | roxmltree::Error::NodesLimitReached
            | roxmltree::Error::AttributesLimitReached
            | roxmltree::Error::NamespacesLimitReached
            | roxmltree::Error::UnexpectedEndOfStream
    );
    let pos = e.pos();
    CsdlError::Xml {
        message: e.to_string(),
        line: positioned.then_some(pos.row),
        column: positioned.then_some(pos.col),
    }
}
