//! Schema drift: how a live system's schema differs from the snapshot a plan was compiled
//! against, for the tables and columns the plan uses. A plan checked against a snapshot that no
//! longer describes the system fails at run time, record by record; `syncmap doctor` compares
//! before that happens. The comparison is pure (two [`SystemSchema`]s in, findings out);
//! [`diagnose`] turns findings into diagnostics with spans.

pub mod diagnose;

use std::collections::BTreeMap;

use crate::diagnostics::Code;
use crate::plan::{ColumnKind, Plan, Side};
use crate::schema::choices::split_choice_name;
use crate::schema::{ColumnType, SystemSchema};

/// What the plan uses of one table of a system.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsedTable {
    /// The table (entity set) name.
    pub name: String,
    /// Its columns the plan uses, each with whether the plan writes it.
    pub columns: BTreeMap<String, bool>,
}

/// The tables and columns a plan reads or writes of one system, in name order.
pub fn used_by(plan: &Plan, system: &str) -> Vec<UsedTable> {
    let Some(sys) = plan.systems.get(system) else {
        return Vec::new();
    };
    let mut used: BTreeMap<&str, UsedTable> = sys
        .tables
        .iter()
        .map(|(name, info)| {
            let columns = info.columns.keys().map(|c| (c.clone(), false)).collect();
            (
                name.as_str(),
                UsedTable {
                    name: name.clone(),
                    columns,
                },
            )
        })
        .collect();
    for t in &plan.tables {
        for side in [Side::Left, Side::Right] {
            let ts = t.side(side);
            if ts.system != system {
                continue;
            }
            let (Some(u), Some(pass)) = (used.get_mut(ts.table.as_str()), t.pass_to(side)) else {
                continue;
            };
            for op in &pass.ops {
                u.columns.insert(op.target.clone(), true);
            }
        }
    }
    // The options of a choice are no entity set: what the service must have is the table
    // and its choice column.
    let choices: Vec<&str> = used
        .keys()
        .copied()
        .filter(|name| split_choice_name(name).is_some())
        .collect();
    for name in choices {
        used.remove(name);
        if let Some((table, column)) = split_choice_name(name) {
            let parent = used.entry(table).or_insert_with(|| UsedTable {
                name: table.to_string(),
                columns: BTreeMap::new(),
            });
            parent.columns.entry(column.to_string()).or_insert(false);
        }
    }
    used.into_values().collect()
}

/// What a plan file itself records of a system's tables, as a snapshot: the tables and columns
/// it uses with their types and maximum lengths (no option values, enum members or read-only
/// marks). The stand-in when the snapshot the plan was compiled from cannot be read.
pub fn snapshot_of_plan(system: &crate::plan::System) -> SystemSchema {
    use crate::schema::{ColumnSchema, TableSchema, SCHEMA_FORMAT_VERSION};
    let column = |name: &str, c: &crate::plan::ColumnInfo| ColumnSchema {
        name: name.to_string(),
        ty: match c.ty {
            ColumnKind::Int => ColumnType::Int,
            ColumnKind::Decimal => ColumnType::Decimal {
                precision: c.precision,
                scale: c.scale,
            },
            ColumnKind::Bool => ColumnType::Bool,
            ColumnKind::Date => ColumnType::Date,
            ColumnKind::Datetime => ColumnType::Datetime,
            ColumnKind::Guid => ColumnType::Guid,
            ColumnKind::Option => ColumnType::Option {
                options: Vec::new(),
            },
            ColumnKind::Enum => ColumnType::Enum {
                members: Vec::new(),
            },
            ColumnKind::Lookup => ColumnType::Lookup {
                targets: c.targets.clone(),
            },
            ColumnKind::String => ColumnType::String {
                max_length: c.max_length,
            },
        },
        nullable: true,
        read_only: false,
        required_on_create: false,
        time_zone_independent: c.time_zone_independent,
        default: None,
        description: None,
    };
    SystemSchema {
        format_version: SCHEMA_FORMAT_VERSION,
        source: Some("the plan file".into()),
        tables: system
            .tables
            .iter()
            .map(|(name, t)| TableSchema {
                name: name.clone(),
                entity_type: t.entity_type.clone(),
                key: t.key.clone(),
                modified_on: t.modified_on.clone(),
                columns: t.columns.iter().map(|(n, c)| column(n, c)).collect(),
            })
            .collect(),
    }
}

/// One difference between the snapshot and the live system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The table.
    pub table: String,
    /// The column, unless the whole table is concerned.
    pub column: Option<String>,
    /// What differs.
    pub kind: DriftKind,
}

/// What differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftKind {
    /// The live system has no such table.
    TableMissing,
    /// The live table has no such column.
    ColumnMissing,
    /// The column's type differs (as the snapshot format names types).
    TypeDiffers {
        /// The snapshot's type.
        snapshot: String,
        /// The live type.
        live: String,
    },
    /// The plan writes the column, and the live system refuses writes to it.
    BecameReadOnly,
    /// Text longer than the live maximum length is refused; the snapshot allowed more.
    MaxLengthShorter {
        /// The snapshot's maximum (none: unbounded).
        snapshot: Option<u32>,
        /// The live maximum.
        live: u32,
    },
    /// An option value, enum member or lookup target the snapshot lists is gone.
    ValueMissing {
        /// The value as the snapshot lists it.
        value: String,
    },
}

impl DriftKind {
    /// The diagnostic code of this kind of drift.
    pub fn code(&self) -> Code {
        match self {
            DriftKind::TableMissing => Code::E0601,
            DriftKind::ColumnMissing => Code::E0602,
            DriftKind::TypeDiffers { .. } => Code::E0603,
            DriftKind::BecameReadOnly => Code::E0604,
            DriftKind::MaxLengthShorter { .. } => Code::W0601,
            DriftKind::ValueMissing { .. } => Code::W0602,
        }
    }
}

/// Whether a live type stands for the snapshot's: the same kind, or an option set read as the
/// integers it stores (CSDL `$metadata` carries no option sets, so Dataverse's choices import
/// as `int`).
fn same_kind(snapshot: &ColumnType, live: &ColumnType) -> bool {
    // A GUID foreign key that a newer import recognises as a lookup (by its navigation
    // property) is the same column on the wire, and the plan written against it still works.
    snapshot.name() == live.name()
        || matches!(
            (snapshot, live),
            (ColumnType::Option { .. }, ColumnType::Int)
                | (ColumnType::Guid, ColumnType::Lookup { .. })
        )
}

/// The differences between `snapshot` and `live` for what `used` names, in the order of
/// `used` (tables, then columns by name). Only what can break the plan is reported: a column
/// the live system added, or a longer maximum length, cannot.
pub fn compare(snapshot: &SystemSchema, live: &SystemSchema, used: &[UsedTable]) -> Vec<Finding> {
    let mut out = Vec::new();
    for u in used {
        let finding = |column: Option<&str>, kind| Finding {
            table: u.name.clone(),
            column: column.map(str::to_string),
            kind,
        };
        let Some(lt) = live.table(&u.name) else {
            out.push(finding(None, DriftKind::TableMissing));
            continue;
        };
        let st = snapshot.table(&u.name);
        for (name, written) in &u.columns {
            let Some(lc) = lt.column(name) else {
                out.push(finding(Some(name), DriftKind::ColumnMissing));
                continue;
            };
            // A column the snapshot does not describe (the plan came from elsewhere) can only
            // be checked for presence.
            let Some(sc) = st.and_then(|t| t.column(name)) else {
                continue;
            };
            if !same_kind(&sc.ty, &lc.ty) {
                out.push(finding(
                    Some(name),
                    DriftKind::TypeDiffers {
                        snapshot: sc.ty.name().into(),
                        live: lc.ty.name().into(),
                    },
                ));
                continue;
            }
            if *written && lc.read_only && !sc.read_only {
                out.push(finding(Some(name), DriftKind::BecameReadOnly));
            }
            for kind in value_drift(&sc.ty, &lc.ty) {
                out.push(finding(Some(name), kind));
            }
        }
    }
    out
}

/// Narrower values within one kind of type: a shorter maximum length, and option values,
/// enum members or lookup targets the live system no longer has.
fn value_drift(snapshot: &ColumnType, live: &ColumnType) -> Vec<DriftKind> {
    let missing = |have: &[String], want: &[String]| -> Vec<DriftKind> {
        want.iter()
            .filter(|v| !have.contains(v))
            .map(|v| DriftKind::ValueMissing { value: v.clone() })
            .collect()
    };
    match (snapshot, live) {
        (
            ColumnType::String { max_length: s },
            ColumnType::String {
                max_length: Some(l),
            },
        ) if s.is_none_or(|s| *l < s) => vec![DriftKind::MaxLengthShorter {
            snapshot: *s,
            live: *l,
        }],
        (ColumnType::Option { options: s }, ColumnType::Option { options: l }) => {
            let have: Vec<String> = l.iter().map(|o| o.value.to_string()).collect();
            s.iter()
                .filter(|o| !have.contains(&o.value.to_string()))
                .map(|o| DriftKind::ValueMissing {
                    value: format!("{} ({})", o.label, o.value),
                })
                .collect()
        }
        (ColumnType::Enum { members: s }, ColumnType::Enum { members: l }) => missing(l, s),
        (ColumnType::Lookup { targets: s }, ColumnType::Lookup { targets: l }) => missing(l, s),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
