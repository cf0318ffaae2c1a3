//! The snapshot type of a property: primitive types with their facets, type definitions, and
//! enum types.

use roxmltree::Node;

use crate::schema::ColumnType;

use super::document::{is, Model};

impl<'a, 'input> Model<'a, 'input> {
    /// The column type of a `Property`. Facets on the property win over those of the type
    /// definition it uses.
    pub fn column_type(&self, prop: Node<'a, 'input>) -> ColumnType {
        let Some(ty) = prop.attribute("Type") else {
            return ColumnType::String { max_length: None };
        };
        let ty = self.qualify(ty);
        if let Some(t) = primitive(&ty, &Facets::of(prop, None)) {
            return t;
        }
        if let Some(def) = self.type_definitions.get(&ty) {
            let underlying = def.attribute("UnderlyingType").unwrap_or_default();
            if let Some(t) = primitive(underlying, &Facets::of(prop, Some(*def))) {
                return t;
            }
        }
        if let Some(enum_type) = self.enum_types.get(&ty) {
            return enum_column(*enum_type);
        }
        // Streams, binaries, complex and collection types have no snapshot type; text is the
        // closest, and an import must not fail on a type it does not know.
        ColumnType::String { max_length: None }
    }
}

/// The facet attributes of a property, or of the type definition it uses.
struct Facets<'a> {
    max_length: Option<&'a str>,
    precision: Option<&'a str>,
    scale: Option<&'a str>,
}

impl<'a> Facets<'a> {
    fn of(prop: Node<'a, '_>, definition: Option<Node<'a, '_>>) -> Self {
        let facet = |name: &str| {
            prop.attribute(name)
                .or_else(|| definition.and_then(|d| d.attribute(name)))
        };
        Facets {
            max_length: facet("MaxLength"),
            precision: facet("Precision"),
            scale: facet("Scale"),
        }
    }
}

fn primitive(ty: &str, facets: &Facets<'_>) -> Option<ColumnType> {
    Some(match ty {
        "Edm.String" => ColumnType::String {
            // `max` (unbounded) parses as no number, which is what it means.
            max_length: facets.max_length.and_then(|m| m.trim().parse().ok()),
        },
        "Edm.Int16" | "Edm.Int32" | "Edm.Int64" | "Edm.Byte" | "Edm.SByte" => ColumnType::Int,
        "Edm.Decimal" => decimal(facets.precision, facets.scale),
        // Binary floating point: neither facet describes it.
        "Edm.Double" | "Edm.Single" => ColumnType::DECIMAL,
        "Edm.Boolean" => ColumnType::Bool,
        "Edm.Date" => ColumnType::Date,
        // `Edm.DateTime` is OData 2 and 3's name for a point in time; older services still
        // write it.
        "Edm.DateTimeOffset" | "Edm.DateTime" => ColumnType::Datetime,
        "Edm.Guid" => ColumnType::Guid,
        _ => return None,
    })
}

/// An `Edm.Decimal` with its facets.
///
/// CSDL (XML representation 4.01, §7.2.4) says an absent `Scale` is zero, and that `variable`
/// and `floating` (any case) mean digits after the point may vary. Zero is applied when the
/// document states a `Precision`: it then describes the number's shape and leaves the scale to
/// the default. A decimal with neither facet keeps an unknown scale: services that write a bare
/// `Edm.Decimal` commonly hold fractions there all the same, and a scale of zero taken from
/// the letter of the default would judge every fraction written there not to fit.
pub(super) fn decimal(precision: Option<&str>, scale: Option<&str>) -> ColumnType {
    let precision: Option<u32> = precision.and_then(|p| p.trim().parse().ok());
    let scale = match scale.map(str::trim) {
        Some(s) if s.eq_ignore_ascii_case("variable") || s.eq_ignore_ascii_case("floating") => None,
        Some(s) => s.parse().ok(),
        None if precision.is_some() => Some(0),
        None => None,
    };
    ColumnType::Decimal { precision, scale }
}

/// An `EnumType` as the member names OData JSON writes its values as.
///
/// A flags enum (`IsFlags="true"`) lists its members the same way, though a value may combine
/// several, written `"Red,Blue"`: the snapshot's enum type holds single members only, so a
/// mapping writes one member at a time to such a column.
fn enum_column(enum_type: Node<'_, '_>) -> ColumnType {
    let members = enum_type
        .children()
        .filter(|n| is(n, "Member"))
        .filter_map(|n| n.attribute("Name"))
        .map(decode_name)
        .collect();
    ColumnType::Enum { members }
}

/// Decodes the `_xHHHH_` escapes XML names use for characters they cannot hold: Business
/// Central writes the blank enum member as `_x0020_` and `Bank Account` as `Bank_x0020_Account`.
pub(super) fn decode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find("_x") {
        out.push_str(&rest[..i]);
        let escape = &rest[i..];
        match decode_escape(escape) {
            Some((c, len)) => {
                out.push(c);
                rest = &escape[len..];
            }
            None => {
                out.push_str("_x");
                rest = &escape[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character an escape at the start of `s` (`_x0020_`, or `_xHHHHHHHH_`) stands for, and
/// the escape's length.
fn decode_escape(s: &str) -> Option<(char, usize)> {
    [4, 8].into_iter().find_map(|digits| {
        let end = 2 + digits;
        let hex = s.get(2..end)?;
        if s.get(end..=end) != Some("_") || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let c = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)?;
        Some((c, end + 1))
    })
}

/// A CSDL `DefaultValue` as JSON: numbers and booleans as such, anything else as text.
pub(super) fn default_value(text: &str) -> serde_json::Value {
    match text {
        "true" => serde_json::Value::Bool(true),
        "false" => serde_json::Value::Bool(false),
        t => t
            .parse::<i64>()
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| serde_json::Value::String(t.to_string())),
    }
}
