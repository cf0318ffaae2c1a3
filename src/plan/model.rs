//! The compiled plan: plain serde data, the only thing the runtime reads from the compiler.
//! Maps are sorted and ids are stable so the same sources always give the same bytes.
//!
//! The rules and expressions of the checked model are stored as the checker resolved them
//! (re-exported here); what the plan adds is its own: pushed-down filters, origins as text,
//! the columns' descriptions the runtime reads and writes by, digests. A plan that needs
//! another shape for a rule or an expression defines its own type and lowers into it in
//! `build`, without touching the checker.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::model::{
    BinOp, ConflictRule, DeleteRule, Expr, Flow, Function, Job, Literal, Lookup, MatchRule,
    MatchTerm, Phase, Side, SyncMode, SystemKind,
};
pub use crate::value::ColumnKind;

/// The newest plan format this syncmap writes and reads; it reads every older one. A plan is
/// written in the oldest format that holds what it says, so runtimes that know no newer one
/// still run it, and refuse (rather than misread) one that needs more.
pub const PLAN_FORMAT_VERSION: u32 = 2;

impl Plan {
    /// The oldest plan format that holds this plan: 2 where it syncs a choice's options or
    /// gives a field a conflict rule of its own (which format 1 runtimes would ignore), else 1.
    pub fn required_format(&self) -> u32 {
        let choices = self.tables.iter().any(|t| {
            [&t.left.table, &t.right.table]
                .iter()
                .any(|name| crate::schema::choices::split_choice_name(name).is_some())
        });
        let field_rules = self.tables.iter().any(|t| {
            [&t.left_to_right, &t.right_to_left]
                .into_iter()
                .flatten()
                .any(|p| p.ops.iter().any(|op| op.on_conflict.is_some()))
        });
        if choices || field_rules {
            2
        } else {
            1
        }
    }

    /// Whether this syncmap reads the plan's format.
    pub fn format_is_known(&self) -> bool {
        (1..=PLAN_FORMAT_VERSION).contains(&self.format_version)
    }
}

/// A whole compiled project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The plan's format: [`Plan::required_format`], at most [`PLAN_FORMAT_VERSION`].
    pub format_version: u32,
    /// The syncmap version that compiled it.
    pub compiler: String,
    /// `sha256:…` of the plan's compact JSON with this field and `compiler` empty
    /// ([`crate::plan::digest`]), which covers the sources' digests too.
    pub digest: String,
    /// Every source file with its own digest, paths relative to the project root.
    pub sources: Vec<SourceDigest>,
    /// Systems by alias.
    pub systems: BTreeMap<String, System>,
    /// Table mappings in dependency order (a table comes after everything it depends on).
    pub tables: Vec<Table>,
    /// User-defined functions by name.
    pub functions: BTreeMap<String, Function>,
    /// Scheduled jobs by name.
    pub jobs: BTreeMap<String, Job>,
    /// The plan as compiled, when this one is a company's (see
    /// [`company`](super::company)): what the state store keeps and the digest covers.
    #[serde(skip)]
    pub compiled: Option<Box<Plan>>,
}

impl Plan {
    /// The plan as compiled: this one, or the one a company's plan was made from.
    pub fn as_compiled(&self) -> &Plan {
        self.compiled.as_deref().unwrap_or(self)
    }

    /// The table mapping with this name.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// A stored direction (`left_to_right`, `right_to_left`) in the words every output uses:
    /// the systems of the table mapping, `bc → dv`; for a table mapping this plan no longer
    /// has, the direction's own words.
    pub fn direction_words(&self, mapping: &str, direction: &str) -> String {
        let (from, to) = match direction {
            "left_to_right" => (Side::Left, Side::Right),
            "right_to_left" => (Side::Right, Side::Left),
            other => return other.replace('_', " "),
        };
        match self.table(mapping) {
            Some(t) => format!("{} → {}", t.side(from).system, t.side(to).system),
            None => direction.replace('_', " "),
        }
    }

    /// The time zones the systems declare, by alias (systems without one are left out: UTC).
    /// The error names a zone this machine's time zone database does not know.
    pub fn time_zones(&self) -> Result<BTreeMap<String, jiff::tz::TimeZone>, String> {
        let mut out = BTreeMap::new();
        for (alias, s) in &self.systems {
            if let Some(name) = &s.time_zone {
                let zone = jiff::tz::TimeZone::get(name)
                    .map_err(|e| format!("system `{alias}`: time zone `{name}`: {e}"))?;
                out.insert(alias.clone(), zone);
            }
        }
        Ok(out)
    }
}

/// A source file and its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceDigest {
    /// Relative, `/`-separated path.
    pub path: String,
    /// `sha256:…` of the file's bytes.
    pub sha256: String,
}

/// A system: its kind and what the plan uses of its schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct System {
    /// Which kind of system it is.
    pub kind: SystemKind,
    /// Relative path of the schema snapshot.
    pub schema: String,
    /// The IANA time zone the system's dates are days in (`Europe/Berlin`); UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Tables the plan reads or writes, by name.
    pub tables: BTreeMap<String, TableInfo>,
}

/// What the runtime needs of one table of a system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableInfo {
    /// The entity type's logical name where it differs from the table name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_type: Option<String>,
    /// The key column.
    pub key: String,
    /// The modified-on column, if the table has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_on: Option<String>,
    /// Columns the plan reads or writes, by name, with their types.
    pub columns: BTreeMap<String, ColumnInfo>,
}

impl TableInfo {
    /// A key of this table as the value a column holding it takes: a number where the key
    /// column is one (an option's value, an integer key), else the key's text.
    pub fn key_value(&self, key: String) -> crate::value::Value {
        use crate::value::{ColumnKind, Value};
        let numeric = self
            .columns
            .get(&self.key)
            .is_some_and(|c| matches!(c.ty, ColumnKind::Int | ColumnKind::Option));
        match key.parse::<i64>() {
            Ok(n) if numeric => Value::Int(n),
            _ => Value::String(key),
        }
    }

    /// The polymorphic lookup a `<lookup>type` column names the target table of, if it is
    /// one (`owneridtype` → `ownerid`, when `ownerid` points to several tables).
    pub fn lookup_typed_by(&self, column: &str) -> Option<&str> {
        let lookup = column.strip_suffix("type")?;
        let (name, info) = self.columns.get_key_value(lookup)?;
        (info.ty == crate::value::ColumnKind::Lookup && info.targets.len() > 1)
            .then_some(name.as_str())
    }
}

/// A column the plan uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// What the column holds.
    #[serde(rename = "type")]
    pub ty: ColumnKind,
    /// For lookups, the target tables, default first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// For strings, the maximum length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// For decimals, the most significant digits the column holds, when stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<u32>,
    /// For decimals, the most digits after the point the column holds, when fixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    /// For date-times, whether values are wall-clock times written as UTC rather than
    /// instants (see the schema's `time_zone_independent`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub time_zone_independent: bool,
}

/// A compiled table mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// The mapping's name.
    pub name: String,
    /// `file:line:column` of its declaration, for runtime messages.
    pub origin: String,
    /// The left side.
    pub left: TableSide,
    /// The right side.
    pub right: TableSide,
    /// Which way records flow.
    pub flow: Flow,
    /// Table mappings that must sync first (explicit `after` and implied by lookups).
    pub depends_on: Vec<String>,
    /// Match rules in priority order.
    pub match_rules: Vec<MatchRule>,
    /// Sides on which uncoupled rows may be created.
    pub create: Vec<Side>,
    /// Whether modified-only runs skip uncoupled rows.
    pub only_coupled: bool,
    /// What wins when both sides changed.
    pub on_conflict: ConflictRule,
    /// What happens when a coupled partner is gone.
    pub on_delete: DeleteRule,
    /// The left-to-right pass, when records flow that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_to_right: Option<Pass>,
    /// The right-to-left pass, when records flow that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right_to_left: Option<Pass>,
}

impl Table {
    /// The side description.
    pub fn side(&self, side: Side) -> &TableSide {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }

    /// The pass that writes to `dest`.
    pub fn pass_to(&self, dest: Side) -> Option<&Pass> {
        match dest {
            Side::Right => self.left_to_right.as_ref(),
            Side::Left => self.right_to_left.as_ref(),
        }
    }
}

/// One side of a table mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSide {
    /// The system alias.
    pub system: String,
    /// The table name in that system.
    pub table: String,
    /// Which rows take part, if filtered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// The company whose rows alone this side's rows may be, when one company of many runs
    /// (see [`company`](super::company)); never in a compiled plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<CompanyScope>,
}

/// Which rows of a shared system belong to one company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyScope {
    /// The column that names a row's company.
    pub column: String,
    /// The company's id there (lower case).
    pub id: String,
}

impl CompanyScope {
    /// The condition a row of the company (or of none) meets: `column == id or column == null`.
    pub fn condition(&self) -> Expr {
        let is = |value: Literal| Expr::Bin {
            op: BinOp::Eq,
            lhs: Box::new(Expr::Col(self.column.clone())),
            rhs: Box::new(Expr::Lit(value)),
        };
        Expr::Bin {
            op: BinOp::Or,
            lhs: Box::new(is(Literal::String(self.id.clone()))),
            rhs: Box::new(is(Literal::Null)),
        }
    }

    /// Whether a row's value of the column leaves it to this company: its id, or none.
    /// Compared as text, case aside, so any spelling of the GUID counts.
    pub fn admits(&self, value: Option<&crate::value::Value>) -> bool {
        match value {
            None | Some(crate::value::Value::Null | crate::value::Value::Absent) => true,
            Some(crate::value::Value::String(s)) => s.eq_ignore_ascii_case(&self.id),
            Some(_) => false,
        }
    }

    /// Why a row is not this company's, to say in a message (`bcbi_companyid is …`); `None`
    /// when it is (its company's or of none).
    pub fn foreign(&self, fields: &BTreeMap<String, crate::value::Value>) -> Option<String> {
        let held = fields.get(&self.column);
        (!self.admits(held)).then(|| {
            let value = held.map_or_else(String::new, |v| v.to_string());
            format!("{} is {value}", self.column)
        })
    }
}

impl TableSide {
    /// Whether a row of this side may be a partner of this company's records: always, unless
    /// the side keeps to one company's rows and the row is another's.
    pub fn admits(&self, fields: &BTreeMap<String, crate::value::Value>) -> bool {
        self.company
            .as_ref()
            .is_none_or(|s| s.foreign(fields).is_none())
    }
}

/// A compiled row filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// The whole condition; the runtime may evaluate it locally on any row.
    pub expr: Expr,
    /// The OData `$filter` for the part a server can evaluate, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odata: Option<String>,
    /// The part the server cannot evaluate; rows must pass it locally too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual: Option<Expr>,
}

/// The field operations of one direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pass {
    /// The side read.
    pub source: Side,
    /// The side written.
    pub dest: Side,
    /// Field operations in source order.
    pub ops: Vec<FieldOp>,
}

/// Writes one destination column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldOp {
    /// Stable id: `table#n`, n counting field mappings from 1 in source order.
    pub id: String,
    /// `file:line:column` of the field mapping.
    pub origin: String,
    /// The destination column.
    pub target: String,
    /// The value, over the source row's columns.
    pub value: Expr,
    /// When it applies.
    pub phase: Phase,
    /// Skip the write when the value is null.
    pub not_null: bool,
    /// Write null instead of failing the record when the value cannot be computed.
    pub clear_on_failure: bool,
    /// Whether the field flows both ways (a difference in it is a conflict).
    pub two_way: bool,
    /// Cut text values to this many characters (`[truncate]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<u32>,
    /// What wins this field when both sides changed it (`[on conflict: …]`), over the table's
    /// `on conflict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_conflict: Option<ConflictRule>,
}
