//! The rules of a mapping, as the checker resolved them: sides, flows, match and conflict
//! rules, phases, jobs. The plan stores them as they are, under the names `.map` files use.

use serde::{Deserialize, Serialize};

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
