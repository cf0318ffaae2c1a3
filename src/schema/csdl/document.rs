//! The parts of a `$metadata` document an import needs, indexed by qualified name, and the
//! walks over them: aliases, base-type chains, keys, the entity sets of a type.

use std::collections::{HashMap, HashSet};

use roxmltree::{Document, Node};

use super::CsdlError;

/// One `EntitySet` of an entity container.
pub(super) struct EntitySet<'a, 'input> {
    pub name: &'a str,
    /// The qualified name of its entity type.
    pub entity_type: String,
    /// The qualified name of its container, as `Annotations` targets name it
    /// (`Namespace.Container/set`).
    pub container: String,
    pub node: Node<'a, 'input>,
}

/// A property or navigation property, with the qualified name of the type declaring it.
pub(super) struct Member<'a, 'input> {
    pub node: Node<'a, 'input>,
    pub name: &'a str,
    pub owner: String,
}

/// The parts of a document the import needs, indexed by qualified name.
pub(super) struct Model<'a, 'input> {
    /// Alias → namespace, from `Schema` and `edmx:Include` elements.
    aliases: HashMap<&'a str, &'a str>,
    entity_types: HashMap<String, Node<'a, 'input>>,
    pub enum_types: HashMap<String, Node<'a, 'input>>,
    pub type_definitions: HashMap<String, Node<'a, 'input>>,
    /// `Annotations` elements by normalized target (`Namespace.Type/Property`).
    pub annotations: HashMap<String, Vec<Node<'a, 'input>>>,
    pub sets: Vec<EntitySet<'a, 'input>>,
    /// The namespace of the schema holding the first entity container.
    pub namespace: Option<&'a str>,
}

impl<'a, 'input> Model<'a, 'input> {
    pub fn read(doc: &'a Document<'input>) -> Result<Self, CsdlError> {
        let mut model = Model {
            aliases: HashMap::new(),
            entity_types: HashMap::new(),
            enum_types: HashMap::new(),
            type_definitions: HashMap::new(),
            annotations: HashMap::new(),
            sets: Vec::new(),
            namespace: None,
        };
        for node in doc
            .descendants()
            .filter(|n| is(n, "Include") || is(n, "Schema"))
        {
            if let (Some(ns), Some(alias)) = (node.attribute("Namespace"), node.attribute("Alias"))
            {
                model.aliases.insert(alias, ns);
            }
        }
        model.index_types(doc)?;

        for node in doc.descendants().filter(|n| is(n, "Annotations")) {
            let target = model.qualify_target(attr(doc, node, "Target")?);
            model.annotations.entry(target).or_default().push(node);
        }

        for container in doc.descendants().filter(|n| is(n, "EntityContainer")) {
            let container_name = qualified_name(container);
            for set in container.children().filter(|n| is(n, "EntitySet")) {
                model.sets.push(EntitySet {
                    name: attr(doc, set, "Name")?,
                    entity_type: model.qualify(attr(doc, set, "EntityType")?),
                    container: container_name.clone(),
                    node: set,
                });
            }
        }
        Ok(model)
    }

    /// Indexes the entity, enum and type definitions of every schema by qualified name.
    fn index_types(&mut self, doc: &'a Document<'input>) -> Result<(), CsdlError> {
        let mut containers = 0;
        for schema in doc.descendants().filter(|n| is(n, "Schema")) {
            let ns = attr(doc, schema, "Namespace")?;
            for child in schema.children().filter(Node::is_element) {
                let index = match child.tag_name().name() {
                    "EntityType" => &mut self.entity_types,
                    "EnumType" => &mut self.enum_types,
                    "TypeDefinition" => &mut self.type_definitions,
                    "EntityContainer" => {
                        containers += 1;
                        if self.namespace.is_none() {
                            self.namespace = Some(ns);
                        }
                        continue;
                    }
                    _ => continue,
                };
                let name = attr(doc, child, "Name")?;
                index.entry(format!("{ns}.{name}")).or_insert(child);
            }
        }
        if containers == 0 {
            return Err(CsdlError::MissingEntityContainer);
        }
        Ok(())
    }

    /// Replaces an alias prefix by its namespace: `mscrm.account` becomes
    /// `Microsoft.Dynamics.CRM.account`.
    pub fn qualify(&self, name: &str) -> String {
        match name.rsplit_once('.') {
            Some((prefix, local)) => match self.aliases.get(prefix) {
                Some(ns) => format!("{ns}.{local}"),
                None => name.to_string(),
            },
            None => name.to_string(),
        }
    }

    /// An annotation target with its leading qualified name de-aliased: `t.row/id` becomes
    /// `Test.Model.row/id`, `t.Container/rows` becomes `Test.Model.Container/rows`.
    pub fn qualify_target(&self, target: &str) -> String {
        match target.split_once('/') {
            Some((ty, member)) => format!("{}/{member}", self.qualify(ty)),
            None => self.qualify(target),
        }
    }

    /// The type and its base types, most derived first.
    pub fn chain(&self, set: &str, entity_type: &str) -> Result<Vec<Node<'a, 'input>>, CsdlError> {
        let mut chain = Vec::new();
        let mut seen = HashSet::new();
        let mut current = entity_type.to_string();
        loop {
            if !seen.insert(current.clone()) {
                return Err(CsdlError::BaseTypeCycle {
                    set: set.to_string(),
                    entity_type: current,
                });
            }
            let Some(node) = self.entity_types.get(&current) else {
                return Err(CsdlError::UnknownEntityType {
                    set: set.to_string(),
                    entity_type: current,
                });
            };
            chain.push(*node);
            match node.attribute("BaseType") {
                Some(base) => current = self.qualify(base),
                None => return Ok(chain),
            }
        }
    }

    /// The single key property of an entity type, if it has exactly one.
    pub fn single_key_of(&self, entity_type: &str) -> Option<String> {
        let chain = self.chain("", entity_type).ok()?;
        match key_refs(&chain).as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }

    fn derives_from(&self, entity_type: &str, base: &str) -> bool {
        let mut seen = HashSet::new();
        let mut current = entity_type.to_string();
        while seen.insert(current.clone()) {
            if current == base {
                return true;
            }
            match self
                .entity_types
                .get(&current)
                .and_then(|n| n.attribute("BaseType"))
            {
                Some(next) => current = self.qualify(next),
                None => return false,
            }
        }
        false
    }

    /// Entity sets whose type is `entity_type` or derives from it, in document order.
    pub fn sets_of(&self, entity_type: &str) -> Vec<&'a str> {
        self.sets
            .iter()
            .filter(|s| self.derives_from(&s.entity_type, entity_type))
            .map(|s| s.name)
            .collect()
    }

    /// Whether the document has an entity set of this name.
    pub fn has_set(&self, name: &str) -> bool {
        self.sets.iter().any(|s| s.name == name)
    }
}

/// The key's property names: those of the most derived type in the chain that declares one.
pub(super) fn key_refs(chain: &[Node<'_, '_>]) -> Vec<String> {
    chain
        .iter()
        .find_map(|t| t.children().find(|n| is(n, "Key")))
        .map(|key| {
            key.children()
                .filter(|n| is(n, "PropertyRef"))
                .filter_map(|r| r.attribute("Name"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The properties and navigation properties of a type chain, base types first so that
/// inherited members come before the type's own.
pub(super) fn members<'a, 'input>(
    chain: &[Node<'a, 'input>],
) -> (Vec<Member<'a, 'input>>, Vec<Member<'a, 'input>>) {
    let mut properties = Vec::new();
    let mut navigations = Vec::new();
    for ty in chain.iter().rev() {
        let owner = qualified_name(*ty);
        for child in ty.children() {
            let Some(name) = child.attribute("Name") else {
                continue;
            };
            let member = Member {
                node: child,
                name,
                owner: owner.clone(),
            };
            if is(&child, "Property") {
                properties.push(member);
            } else if is(&child, "NavigationProperty") {
                navigations.push(member);
            }
        }
    }
    (properties, navigations)
}

pub(super) fn attr<'a>(
    doc: &Document<'_>,
    node: Node<'a, '_>,
    name: &str,
) -> Result<&'a str, CsdlError> {
    node.attribute(name)
        .ok_or_else(|| CsdlError::MissingAttribute {
            element: node.tag_name().name().to_string(),
            attribute: name.to_string(),
            line: doc.text_pos_at(node.range().start).row,
        })
}

pub(super) fn is(node: &Node<'_, '_>, local_name: &str) -> bool {
    node.is_element() && node.tag_name().name() == local_name
}

/// `Namespace.Name` of a schema child (a type or a container).
fn qualified_name(node: Node<'_, '_>) -> String {
    let name = node.attribute("Name").unwrap_or_default();
    match node
        .parent()
        .and_then(|schema| schema.attribute("Namespace"))
    {
        Some(ns) => format!("{ns}.{name}"),
        None => name.to_string(),
    }
}
