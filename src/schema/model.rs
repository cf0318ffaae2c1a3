//! The schema-snapshot format: what the checker knows of a system's tables and columns. It is
//! plain JSON so teams can commit it and review changes to it.

use serde::{Deserialize, Serialize};

use crate::value::ColumnKind;

/// The current version of the snapshot format.
pub const SCHEMA_FORMAT_VERSION: u32 = 1;

/// Everything the compiler needs to know of one system, offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemSchema {
    /// Always [`SCHEMA_FORMAT_VERSION`].
    pub format_version: u32,
    /// Where the snapshot came from (a service name, or "CSDL import of …").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Tables in the order the snapshot lists them.
    pub tables: Vec<TableSchema>,
}

impl SystemSchema {
    /// The table with this name (the name `.map` files use), if any.
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// One table (entity set) of a system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSchema {
    /// The name `.map` files use: the entity set name (`accounts`, `customers`).
    pub name: String,
    /// The entity type's logical name where it differs (`account`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_type: Option<String>,
    /// The key column (`accountid`, `id`).
    pub key: String,
    /// The column the system stamps on every write (`modifiedon`, `lastModifiedDateTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_on: Option<String>,
    /// Columns in the snapshot's order.
    pub columns: Vec<ColumnSchema>,
}

impl TableSchema {
    /// The column with this name, if any.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// One column.
// No `deny_unknown_fields` here: serde cannot combine it with `flatten`, and would reject the
// `type` field the flattened `ColumnType` reads. `ColumnType` denies unknown fields instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// The column name as the API spells it.
    pub name: String,
    /// Its type.
    #[serde(flatten)]
    pub ty: ColumnType,
    /// Whether it may hold null.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub nullable: bool,
    /// Whether the system refuses writes to it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// Whether a create must set it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub required_on_create: bool,
    /// For date-times: the values are wall-clock times written as UTC, not instants
    /// (Dataverse's TimeZoneIndependent behaviour): `2024-03-31T09:00:00Z` means 09:00 wherever
    /// the system is. syncmap converts them through the system's time zone.
    #[serde(default, skip_serializing_if = "is_false")]
    pub time_zone_independent: bool,
    /// The value the system gives the column on create when none is written (Dataverse's
    /// `statecode` is 0, Active). Test and sandbox databases apply it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// A human description, shown by the language server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ColumnSchema {
    /// A nullable, writable column of this type, with nothing else said of it.
    pub fn new(name: &str, ty: ColumnType) -> ColumnSchema {
        ColumnSchema {
            name: name.to_string(),
            ty,
            nullable: true,
            read_only: false,
            required_on_create: false,
            time_zone_independent: false,
            default: None,
            description: None,
        }
    }
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
fn is_false(b: &bool) -> bool {
    !*b
}

/// The type of a column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ColumnType {
    /// Text, with the longest value the system accepts.
    String {
        /// Maximum length in characters; unbounded when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_length: Option<u32>,
    },
    /// A whole number.
    Int,
    /// A decimal number (money, rates), exact. OData's facets: `precision` is the most
    /// significant digits a value may have, `scale` the most digits after the point (absent:
    /// unknown, or variable).
    Decimal {
        /// Total significant digits, when the system states a limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        precision: Option<u32>,
        /// Digits after the decimal point, when fixed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scale: Option<u32>,
    },
    /// True or false.
    Bool,
    /// A calendar date.
    Date,
    /// A point in time.
    Datetime,
    /// A GUID.
    Guid,
    /// A Dataverse choice: integer values with labels.
    Option {
        /// The values.
        options: Vec<OptionValue>,
    },
    /// A Business Central enum: text values from a fixed list.
    Enum {
        /// The members as the API writes them.
        members: Vec<String>,
    },
    /// A reference to a row of another table (one of `targets` for polymorphic lookups).
    Lookup {
        /// Target table names, the default first.
        targets: Vec<String>,
    },
}

impl ColumnType {
    /// A decimal column without stated precision or scale.
    pub const DECIMAL: ColumnType = ColumnType::Decimal {
        precision: None,
        scale: None,
    };

    /// The type's kind, without its details (length, facets, members, targets).
    pub fn kind(&self) -> ColumnKind {
        match self {
            ColumnType::String { .. } => ColumnKind::String,
            ColumnType::Int => ColumnKind::Int,
            ColumnType::Decimal { .. } => ColumnKind::Decimal,
            ColumnType::Bool => ColumnKind::Bool,
            ColumnType::Date => ColumnKind::Date,
            ColumnType::Datetime => ColumnKind::Datetime,
            ColumnType::Guid => ColumnKind::Guid,
            ColumnType::Option { .. } => ColumnKind::Option,
            ColumnType::Enum { .. } => ColumnKind::Enum,
            ColumnType::Lookup { .. } => ColumnKind::Lookup,
        }
    }

    /// The type's name as snapshots and plans spell it (`string`, `option`, `lookup`…).
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }
}

/// One value of an option set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionValue {
    /// The stored integer.
    pub value: i64,
    /// The label users write in `.map` files.
    pub label: String,
}
