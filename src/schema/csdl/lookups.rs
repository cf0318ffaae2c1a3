//! Lookups: columns that hold the key of a row of another table, found through navigation
//! properties and their referential constraints.

use std::collections::HashSet;

use roxmltree::Node;

use crate::schema::ColumnType;

use super::document::{is, EntitySet, Member, Model};

/// One Dataverse lookup: a `_x_value` property and where its navigation properties lead.
pub(super) struct DataverseLookup<'a> {
    pub property: &'a str,
    /// The lookup's column name: the property without `_` and `_value`.
    pub stem: &'a str,
    pub targets: Vec<String>,
    pub read_only: bool,
}

/// A foreign-key property a navigation property is constrained to, and the entity sets it
/// points into.
pub(super) struct ForeignKey<'a> {
    pub property: &'a str,
    pub targets: Vec<String>,
}

impl<'a, 'input> Model<'a, 'input> {
    /// Finds Dataverse lookups: single-valued navigation properties bound to a `_x_value`
    /// property, by a referential constraint or, lacking one, by name. Polymorphic lookups
    /// bind several navigation properties (`parentcustomerid_account`,
    /// `parentcustomerid_contact`) to one property; their targets are merged.
    pub fn dataverse_lookups(
        &self,
        properties: &[Member<'a, 'input>],
        navigations: &[Member<'a, 'input>],
    ) -> Vec<DataverseLookup<'a>> {
        let declared: HashSet<&str> = properties.iter().map(|p| p.name).collect();
        let mut lookups: Vec<DataverseLookup<'a>> = Vec::new();
        for nav in navigations {
            let Some(ty) = single_valued_type(nav.node) else {
                continue;
            };
            let constrained: Vec<&'a str> = constraints(nav.node)
                .filter_map(|n| n.attribute("Property"))
                .collect();
            let by_name = format!("_{}_value", nav.name);
            let property = if constrained.is_empty() {
                properties.iter().map(|p| p.name).find(|p| *p == by_name)
            } else {
                constrained
                    .into_iter()
                    .find(|p| declared.contains(p) && lookup_stem(p).is_some())
            };
            let Some((property, stem)) = property.and_then(|p| Some((p, lookup_stem(p)?))) else {
                continue;
            };
            let index = match lookups.iter().position(|l| l.property == property) {
                Some(i) => i,
                None => {
                    lookups.push(DataverseLookup {
                        property,
                        stem,
                        targets: Vec::new(),
                        read_only: false,
                    });
                    lookups.len() - 1
                }
            };
            let read_only = self.facts(nav).read_only;
            let lookup = &mut lookups[index];
            lookup.read_only |= read_only;
            merge(&mut lookup.targets, self.sets_of(&self.qualify(ty)));
        }
        lookups
    }

    /// Finds foreign keys of other services: a single-valued navigation property with one
    /// referential constraint from a GUID property (not the key) to the key of its target type
    /// makes that property a lookup into the entity set the navigation is bound to, or, with no
    /// binding, the only entity set of that type.
    ///
    /// Left as they are:
    /// * containment navigation properties (Business Central's `currency` → `currencyId`):
    ///   their targets belong to no entity set, and the foreign-key property itself is what a
    ///   client writes;
    /// * foreign keys of other types than GUID: lookups carry GUID keys everywhere (the checker
    ///   types them as 36-character keys, OData connectors write and filter them as GUID
    ///   literals), so an integer or text foreign key stays the plain column it is;
    /// * constraints to another property than the target's key (an alternate key), whose
    ///   values are not the keys couplings hold.
    pub fn foreign_keys(
        &self,
        set: &EntitySet<'a, 'input>,
        key: &str,
        properties: &[Member<'a, 'input>],
        navigations: &[Member<'a, 'input>],
    ) -> Vec<ForeignKey<'a>> {
        let mut keys: Vec<ForeignKey<'a>> = Vec::new();
        for nav in navigations {
            if nav.node.attribute("ContainsTarget") == Some("true") {
                continue;
            }
            let Some(ty) = single_valued_type(nav.node) else {
                continue;
            };
            let constraint: Vec<Node<'a, 'input>> = constraints(nav.node).collect();
            let [constraint] = constraint.as_slice() else {
                continue;
            };
            let (Some(dependent), Some(principal)) = (
                constraint.attribute("Property"),
                constraint.attribute("ReferencedProperty"),
            ) else {
                continue;
            };
            if dependent == key || lookup_stem(dependent).is_some() {
                continue;
            }
            let Some(prop) = properties.iter().find(|p| p.name == dependent) else {
                continue;
            };
            let target_type = self.qualify(ty);
            if self.column_type(prop.node) != ColumnType::Guid
                || self.single_key_of(&target_type).as_deref() != Some(principal)
            {
                continue;
            }
            let Some(target) = self.bound_set(set, nav.name).or_else(|| {
                let sets = self.sets_of(&target_type);
                (sets.len() == 1).then(|| sets[0])
            }) else {
                continue;
            };
            match keys.iter_mut().find(|k| k.property == dependent) {
                Some(k) => merge(&mut k.targets, [target]),
                None => keys.push(ForeignKey {
                    property: dependent,
                    targets: vec![target.to_string()],
                }),
            }
        }
        keys
    }

    /// The entity set an entity set's `NavigationPropertyBinding` binds a navigation property
    /// of its own type to. Bindings through complex properties or containment paths are not
    /// this one's; targets in other containers are named `Namespace.Container/set`.
    fn bound_set(&self, set: &EntitySet<'a, 'input>, navigation: &str) -> Option<&'a str> {
        let binding = set
            .node
            .children()
            .filter(|n| is(n, "NavigationPropertyBinding"))
            .find(|b| {
                b.attribute("Path").is_some_and(|path| {
                    let mut segments = path.rsplit('/');
                    // Any segment before the last is a type cast (`Namespace.Derived/nav`).
                    segments.next() == Some(navigation) && segments.all(|s| s.contains('.'))
                })
            })?;
        let target = binding.attribute("Target")?;
        let name = match target.split_once('/') {
            None => target,
            Some((_, rest)) if !rest.contains('/') => rest,
            Some(_) => return None,
        };
        self.has_set(name).then_some(name)
    }
}

/// The entity type of a single-valued navigation property; `None` for collections.
fn single_valued_type<'a>(nav: Node<'a, '_>) -> Option<&'a str> {
    nav.attribute("Type")
        .filter(|ty| !ty.starts_with("Collection("))
}

fn constraints<'a, 'input>(nav: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    nav.children().filter(|n| is(n, "ReferentialConstraint"))
}

fn merge<'s>(targets: &mut Vec<String>, sets: impl IntoIterator<Item = &'s str>) {
    for set in sets {
        if !targets.iter().any(|t| t == set) {
            targets.push(set.to_string());
        }
    }
}

/// `_transactioncurrencyid_value` → `transactioncurrencyid`.
pub(super) fn lookup_stem(property: &str) -> Option<&str> {
    property
        .strip_prefix('_')
        .and_then(|p| p.strip_suffix("_value"))
        .filter(|stem| !stem.is_empty())
}
