//! One entity set as a table: its key, its columns with their flags, and its modified-on
//! column.

use std::collections::HashSet;

use roxmltree::Node;

use crate::schema::{ColumnSchema, ColumnType, TableSchema};

use super::document::{key_refs, members, EntitySet, Member, Model};
use super::lookups::{DataverseLookup, ForeignKey};
use super::types::default_value;
use super::CsdlError;

/// Columns the services maintain themselves, whatever the annotations say.
const SYSTEM_STAMPED: &[&str] = &[
    "modifiedon",
    "createdon",
    "versionnumber",
    "lastModifiedDateTime",
];

/// Dataverse lookups the platform sets. Their `_x_value` annotations cannot tell them apart:
/// Dataverse marks every lookup property computed, because writes go through the navigation
/// property instead.
const SYSTEM_LOOKUPS: &[&str] = &[
    "createdby",
    "modifiedby",
    "createdonbehalfby",
    "modifiedonbehalfby",
    "createdbyexternalparty",
    "modifiedbyexternalparty",
    "owningbusinessunit",
    "owninguser",
    "owningteam",
];

/// Names services give the date-time column they stamp on every write, compared without
/// regard to case. Few documents say which column that is (`Core.OptimisticConcurrency`), and
/// a table without a modified-on column cannot be read for its changes only: every run that
/// asks for them re-reads the whole table. Dataverse and Business Central first, then the
/// names common ORMs and platforms give it.
const MODIFIED_ON_NAMES: &[&str] = &[
    "modifiedon",
    "lastModifiedDateTime",
    "SystemModifiedAt",
    "modifiedAt",
    "lastModifiedAt",
    "LastModified",
    "ModifiedDate",
    "DateModified",
    "updatedAt",
    "updated_at",
    "modified_at",
];

/// The lookups found among a table's properties.
struct Lookups<'a> {
    dataverse: Vec<DataverseLookup<'a>>,
    foreign_keys: Vec<ForeignKey<'a>>,
    declared: HashSet<&'a str>,
}

impl<'a, 'input> Model<'a, 'input> {
    pub fn table(&self, set: &EntitySet<'a, 'input>) -> Result<TableSchema, CsdlError> {
        let chain = self.chain(set.name, &set.entity_type)?;
        let key = single_key(set, &chain)?;

        let (properties, navigations) = members(&chain);
        let lookups = Lookups {
            dataverse: self.dataverse_lookups(&properties, &navigations),
            foreign_keys: self.foreign_keys(set, &key, &properties, &navigations),
            declared: properties.iter().map(|p| p.name).collect(),
        };
        let mut columns: Vec<ColumnSchema> = Vec::new();
        for prop in &properties {
            let column = self.column(prop, &key, &lookups);
            if !columns.iter().any(|c| c.name == column.name) {
                columns.push(column);
            }
        }
        if !columns.iter().any(|c| c.name == key) {
            return Err(CsdlError::KeyNotAProperty {
                set: set.name.to_string(),
                key,
            });
        }

        let modified_on = self.modified_on(set, &columns);
        if let Some(stamped) = columns
            .iter_mut()
            .find(|c| Some(&c.name) == modified_on.as_ref())
        {
            // The service writes it on every change; a write of the client's would be lost.
            stamped.read_only = true;
            stamped.required_on_create = false;
        }
        let entity_type = chain
            .first()
            .and_then(|t| t.attribute("Name"))
            .filter(|n| *n != set.name)
            .map(str::to_string);

        Ok(TableSchema {
            name: set.name.to_string(),
            entity_type,
            key,
            modified_on,
            columns,
        })
    }

    /// A property as a column: itself (a lookup when it is a foreign key), or the Dataverse
    /// lookup it holds the value of.
    fn column(&self, prop: &Member<'a, 'input>, key: &str, lookups: &Lookups<'a>) -> ColumnSchema {
        let facts = self.facts(prop);
        let is_key = prop.name == key;
        // Keys are never null, though Dataverse leaves the facet out.
        let nullable = prop.node.attribute("Nullable") != Some("false") && !is_key;
        let dataverse = lookups
            .dataverse
            .iter()
            .find(|l| l.property == prop.name)
            .filter(|l| !l.targets.is_empty() && !lookups.declared.contains(l.stem));
        let (name, ty, read_only, default) = match dataverse {
            Some(lookup) => (
                lookup.stem.to_string(),
                ColumnType::Lookup {
                    targets: lookup.targets.clone(),
                },
                lookup.read_only || SYSTEM_LOOKUPS.contains(&lookup.stem),
                None,
            ),
            None => (
                prop.name.to_string(),
                match lookups
                    .foreign_keys
                    .iter()
                    .find(|k| k.property == prop.name)
                {
                    Some(fk) => ColumnType::Lookup {
                        targets: fk.targets.clone(),
                    },
                    None => self.column_type(prop.node),
                },
                // Keys stay read-only whether or not the service says it computes them: the
                // key is how syncmap tells rows apart, not a field it maps, and the Dataverse and
                // Business Central documents do not annotate the keys they fill in, while their
                // committed snapshots (which the sandbox's `$metadata` must import back to)
                // hold those keys read-only.
                facts.read_only || is_key || SYSTEM_STAMPED.contains(&prop.name),
                prop.node.attribute("DefaultValue").map(default_value),
            ),
        };
        ColumnSchema {
            name,
            ty,
            nullable,
            read_only,
            // A create that leaves out a property the service neither fills in nor allows to be
            // null is refused.
            required_on_create: !nullable && default.is_none() && !read_only && !is_key,
            // CSDL does not carry Dataverse's date-time behaviour; a snapshot states it by hand.
            time_zone_independent: false,
            default,
            description: facts.description,
        }
    }

    /// The column the service stamps on every write: the first date-time property
    /// `Core.OptimisticConcurrency` names on the entity set, else one with a known name.
    fn modified_on(&self, set: &EntitySet<'a, 'input>, columns: &[ColumnSchema]) -> Option<String> {
        let datetime = |c: &&ColumnSchema| c.ty == ColumnType::Datetime;
        let annotated = self
            .concurrency_properties(set)
            .into_iter()
            .find_map(|p| columns.iter().filter(datetime).find(|c| c.name == p));
        let named = || {
            MODIFIED_ON_NAMES.iter().find_map(|n| {
                columns
                    .iter()
                    .filter(datetime)
                    .find(|c| c.name.eq_ignore_ascii_case(n))
            })
        };
        annotated.or_else(named).map(|c| c.name.clone())
    }
}

/// The key property of an entity set's type: the snapshot names one column, and inventing one
/// for a key of several would make rows the service tells apart look the same.
fn single_key(set: &EntitySet<'_, '_>, chain: &[Node<'_, '_>]) -> Result<String, CsdlError> {
    let refs = key_refs(chain);
    match refs.as_slice() {
        [] => Err(CsdlError::MissingKey {
            set: set.name.to_string(),
            entity_type: set.entity_type.clone(),
        }),
        [one] => Ok(one.clone()),
        _ => Err(CsdlError::CompositeKey {
            set: set.name.to_string(),
            key: refs,
        }),
    }
}
