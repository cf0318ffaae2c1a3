//! The checked model: what a project's mappings mean once `check` has resolved every name
//! against the schemas and accepted every rule. `check` builds it; `plan::build` lowers it to
//! the plan, deciding what the runtime is told (pushed-down filters, column descriptions,
//! origins as text, digests). Neither imports the other's types, so the plan can change its
//! shape without touching the checker.
//!
//! Rules and resolved expressions (`rules`, `expr`) are shared words: the plan stores them
//! as they are.

mod expr;
mod literal;
mod rules;
mod test_case;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::schema::TableSchema;

pub use expr::{BinOp, Expr, Function, Literal, Lookup};
pub use rules::{
    ConflictRule, DeleteRule, Flow, Job, MatchRule, MatchTerm, Phase, Side, SyncMode, SystemKind,
};
pub use test_case::{Expected, TestCase};

/// The checked project.
#[derive(Debug, Clone)]
pub struct Model {
    /// Systems by alias, with the tables the mappings use.
    pub systems: BTreeMap<String, System>,
    /// Table mappings in dependency order (a table comes after everything it depends on).
    pub tables: Vec<Table>,
    /// User-defined functions by name.
    pub functions: BTreeMap<String, Function>,
    /// Jobs by name.
    pub jobs: BTreeMap<String, Job>,
    /// Inline tests, in source order.
    pub tests: Vec<TestCase>,
}

/// A declared system and what the mappings use of it.
#[derive(Debug, Clone)]
pub struct System {
    /// Which kind of system it is.
    pub kind: SystemKind,
    /// Root-relative path of its schema snapshot.
    pub schema: String,
    /// The IANA time zone its dates are days in, when declared.
    pub time_zone: Option<String>,
    /// The tables the mappings read or write, by name.
    pub tables: BTreeMap<String, UsedTable>,
}

/// A table some mapping reads or writes.
#[derive(Debug, Clone)]
pub struct UsedTable {
    /// Its schema, as the snapshot describes it.
    pub schema: TableSchema,
    /// The columns the mappings name (filters, matches, field mappings, lookups).
    pub columns: BTreeSet<String>,
}

/// Where a declaration is: root-relative path, line and column, both from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Root-relative, `/`-separated path.
    pub path: String,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path, self.line, self.column)
    }
}

/// A checked table mapping.
#[derive(Debug, Clone)]
pub struct Table {
    /// The mapping's name.
    pub name: String,
    /// Where it is declared.
    pub origin: Origin,
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
    /// The left-to-right field operations, when records flow that way.
    pub left_to_right: Option<Pass>,
    /// The right-to-left field operations, when records flow that way.
    pub right_to_left: Option<Pass>,
}

/// One side of a checked table mapping.
#[derive(Debug, Clone)]
pub struct TableSide {
    /// The system alias.
    pub system: String,
    /// The table name in that system.
    pub table: String,
    /// Which rows take part, when the side is filtered.
    pub filter: Option<Expr>,
}

/// The field operations of one direction.
#[derive(Debug, Clone)]
pub struct Pass {
    /// The side read.
    pub source: Side,
    /// The side written.
    pub dest: Side,
    /// Field operations in source order.
    pub ops: Vec<FieldOp>,
}

/// Writes one destination column.
#[derive(Debug, Clone)]
pub struct FieldOp {
    /// Stable id: `table#n`, n counting field mappings from 1 in source order.
    pub id: String,
    /// Where the field mapping is.
    pub origin: Origin,
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
    pub truncate: Option<u32>,
    /// What wins this field when both sides changed it, over the table's rule.
    pub on_conflict: Option<ConflictRule>,
}
