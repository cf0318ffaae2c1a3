//! The compiled plan: plain serde data, the only thing the runtime reads from the compiler.
//! Maps are sorted and ids are stable so the same sources always give the same bytes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::value::ColumnKind;

/// The version of the plan format; the runtime refuses plans of another major version.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// A whole compiled project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Always [`PLAN_FORMAT_VERSION`].
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
}

impl Plan {
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

/// The kinds of system syncmap connects to, as `.map` files and plans name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemKind {
    /// Business Central's API v2.0 (or a custom API page).
    BusinessCentral,
    /// Dataverse's Web API.
    Dataverse,
    /// Another OData v4 service.
    Odata,
    /// A SQLite database file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl SystemKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [SystemKind; 5] = [
        SystemKind::BusinessCentral,
        SystemKind::Dataverse,
        SystemKind::Odata,
        SystemKind::Sqlite,
        SystemKind::Postgres,
    ];

    /// The name `.map` files and plans use.
    pub fn as_str(self) -> &'static str {
        match self {
            SystemKind::BusinessCentral => "business_central",
            SystemKind::Dataverse => "dataverse",
            SystemKind::Odata => "odata",
            SystemKind::Sqlite => "sqlite",
            SystemKind::Postgres => "postgres",
        }
    }

    /// The kind a name means, if any.
    pub fn parse(name: &str) -> Option<SystemKind> {
        SystemKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for SystemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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

/// One side of a table mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The first system named.
    Left,
    /// The second system named.
    Right,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// Which way records flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Left to right only.
    LeftToRight,
    /// Right to left only.
    RightToLeft,
    /// Both ways: left to right first, then right to left.
    Both,
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

/// One match rule: every term must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchRule {
    /// 1 for the first rule tried.
    pub priority: u32,
    /// Compare text with case.
    pub case_sensitive: bool,
    /// Column pairs.
    pub terms: Vec<MatchTerm>,
}

/// A pair of columns that must be equal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchTerm {
    /// Left column.
    pub left: String,
    /// Right column.
    pub right: String,
}

impl MatchTerm {
    /// The column of one side.
    pub fn column(&self, side: Side) -> &str {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }
}

/// The conflict rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule", content = "side")]
pub enum ConflictRule {
    /// This side's values win.
    Prefer(Side),
    /// The side modified last wins.
    Newest,
    /// The record fails and is retried later.
    Fail,
}

/// The deletion rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteRule {
    /// Drop the coupling.
    Uncouple,
    /// Re-create the partner and re-couple.
    Restore,
    /// Delete the surviving row too.
    Propagate,
    /// Log the record as failed.
    Fail,
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

/// When a field operation applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// On create and on update.
    Always,
    /// Only when the destination row is created.
    Create,
    /// Only when an existing destination row is updated.
    Update,
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
}

/// A user-defined function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    /// Parameter names; the body refers to them as `{"param": index}`.
    pub params: Vec<String>,
    /// The body.
    pub body: Expr,
}

/// A scheduled job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// `full` or `modified`.
    pub mode: SyncMode,
    /// Table mappings, in dependency order; every table when the job names none.
    pub tables: Vec<String>,
    /// Seconds between runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_seconds: Option<u64>,
    /// The longest wait, in seconds, when runs find nothing to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<u64>,
    /// A daily time of day, `HH:MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// Full or modified-only synchronization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Every row passing the filters.
    Full,
    /// Rows changed since the last run.
    Modified,
}

/// A constant in a compiled expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Literal {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A whole number (also option-set values).
    Int(i64),
    /// A decimal, as text so no precision is lost.
    Decimal(String),
    /// Text (also GUIDs and enum members).
    String(String),
    /// `YYYY-MM-DD`.
    Date(String),
    /// RFC 3339 with seconds.
    Datetime(String),
}

/// Infix operators of compiled expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinOp {
    /// `??`
    Coalesce,
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+` on numbers
    Add,
    /// `+` on text: concatenation
    Concat,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinOp {
    /// The operator as written in `.map` files (`Concat` is `+` on text).
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Coalesce => "??",
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add | BinOp::Concat => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
}

/// A compiled expression. Types were checked by the compiler; option labels are values here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// A constant.
    Lit(Literal),
    /// A column of the row in scope.
    Col(String),
    /// A parameter of the user function being evaluated.
    Param(usize),
    /// A built-in function (see `crate::functions`).
    Call {
        /// Its name.
        func: String,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// A user-defined function of [`Plan::functions`].
    Fn {
        /// Its name.
        name: String,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// `not x`
    Not(Box<Expr>),
    /// `-x`
    Neg(Box<Expr>),
    /// `a op b`
    Bin {
        /// The operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `if c then a else b`
    If {
        /// Condition.
        cond: Box<Expr>,
        /// Value when true.
        then: Box<Expr>,
        /// Value otherwise.
        otherwise: Box<Expr>,
    },
    /// A value map applied to a value.
    Map {
        /// The value looked up.
        arg: Box<Expr>,
        /// `(pattern, value)` pairs, first match wins.
        arms: Vec<(Literal, Literal)>,
        /// The default arm; without one an unmatched value fails the field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<Literal>,
        /// Compare text patterns without case.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ignore_case: bool,
    },
    /// A key translated through another table mapping's couplings.
    Lookup(Box<Lookup>),
}

/// Translates a value through the couplings of table mapping `via`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lookup {
    /// The table mapping whose couplings are used.
    pub via: String,
    /// The side of `via` the value belongs to.
    pub from: Side,
    /// The column of `via`'s `from` table the value equals; its key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The column of the coupled row to produce; its key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take: Option<String>,
    /// The value to translate.
    pub arg: Expr,
}
