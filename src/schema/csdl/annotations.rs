//! What the Core vocabulary's annotations say of properties and entity sets: whether a
//! property can be written, its description, and which properties an entity set's ETag is
//! computed from.

use roxmltree::Node;

use super::document::{is, EntitySet, Member, Model};

const CORE: &str = "Org.OData.Core.V1";

/// What a member's annotations say.
#[derive(Default)]
pub(super) struct Facts {
    pub read_only: bool,
    pub description: Option<String>,
}

impl<'a, 'input> Model<'a, 'input> {
    /// The annotations of an element: inline, then in `Annotations` elements aimed at
    /// `target` (already de-aliased).
    fn annotations_of(&self, node: Node<'a, 'input>, target: &str) -> Vec<Node<'a, 'input>> {
        let inline = node.children().filter(|n| is(n, "Annotation"));
        let external = self
            .annotations
            .get(target)
            .into_iter()
            .flatten()
            .flat_map(|a| a.children().filter(|n| is(n, "Annotation")));
        inline.chain(external).collect()
    }

    /// The name of an annotation's term within the Core vocabulary (`Computed`), whatever
    /// alias the document gives the vocabulary; `None` for other vocabularies.
    fn core_term(&self, annotation: Node<'_, '_>) -> Option<String> {
        let term = self.qualify(annotation.attribute("Term")?);
        term.strip_prefix(CORE)
            .and_then(|t| t.strip_prefix('.'))
            .map(str::to_string)
    }

    /// What a member's annotations say, inline or in `Annotations` elements targeting it.
    pub fn facts(&self, member: &Member<'a, 'input>) -> Facts {
        let target = format!("{}/{}", member.owner, member.name);
        let mut facts = Facts::default();
        for annotation in self.annotations_of(member.node, &target) {
            let Some(term) = self.core_term(annotation) else {
                continue;
            };
            match term.as_str() {
                // Tag terms: present means true unless they say otherwise. An immutable
                // property takes a value on create only; a sync writes its columns on update
                // too, so to the snapshot it is one the system refuses writes to.
                "Computed" | "Immutable" => {
                    facts.read_only |= bool_value(annotation) != Some(false);
                }
                "Permissions" => facts.read_only |= is_read_only(&enum_members(annotation)),
                "Description" if facts.description.is_none() => {
                    facts.description = string_value(annotation);
                }
                _ => {}
            }
        }
        facts
    }

    /// The properties `Core.OptimisticConcurrency` on an entity set names: those the service
    /// computes the ETag from, so changed on every write. Paths into complex properties are
    /// left out, as no column stands for them.
    pub fn concurrency_properties(&self, set: &EntitySet<'a, 'input>) -> Vec<&'a str> {
        let target = format!("{}/{}", set.container, set.name);
        self.annotations_of(set.node, &target)
            .into_iter()
            .filter(|a| self.core_term(*a).as_deref() == Some("OptimisticConcurrency"))
            .flat_map(|a| a.descendants().filter(|n| is(n, "PropertyPath")))
            .filter_map(|n| n.text())
            .map(str::trim)
            .filter(|path| !path.is_empty() && !path.contains('/'))
            .collect()
    }
}

/// An annotation's boolean, from a `Bool` attribute or element.
fn bool_value(annotation: Node<'_, '_>) -> Option<bool> {
    let text = annotation.attribute("Bool").or_else(|| {
        annotation
            .children()
            .find(|n| is(n, "Bool"))
            .and_then(|n| n.text())
    })?;
    match text.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// An annotation's string, from a `String` attribute or element.
fn string_value(annotation: Node<'_, '_>) -> Option<String> {
    annotation
        .attribute("String")
        .or_else(|| {
            annotation
                .children()
                .find(|n| is(n, "String"))
                .and_then(|n| n.text())
        })
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The enum members an annotation holds, from an `EnumMember` attribute or elements (possibly
/// inside a `Collection`). Flags may be space-separated.
fn enum_members<'a>(annotation: Node<'a, '_>) -> Vec<&'a str> {
    let mut texts: Vec<&'a str> = annotation.attribute("EnumMember").into_iter().collect();
    texts.extend(
        annotation
            .descendants()
            .filter(|n| is(n, "EnumMember"))
            .filter_map(|n| n.text()),
    );
    texts.into_iter().flat_map(str::split_whitespace).collect()
}

/// Whether `Core.Permissions` members grant reading only. Dataverse writes
/// `Org.OData.Core.V1.PermissionType/Read`, the vocabulary `Org.OData.Core.V1.Permission/Read`.
fn is_read_only(members: &[&str]) -> bool {
    let granted: Vec<&str> = members
        .iter()
        .map(|m| m.rsplit_once('/').map_or(*m, |(_, p)| p))
        .collect();
    granted.contains(&"Read") && !granted.iter().any(|p| *p == "Write" || *p == "ReadWrite")
}
