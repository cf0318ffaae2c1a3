//! Builds the plan from the checked model: lowers each table mapping (origins as text,
//! filters pushed down to OData where possible), describes the columns the runtime reads and
//! writes, and digests the sources and the plan itself, so the same input always gives the
//! same bytes and an edited plan is noticed.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::model::*;
use super::odata;
use crate::model;
use crate::schema::{ColumnSchema, ColumnType};

/// The sources a plan is built from: root-relative path and text, for the digest.
pub struct SourceText<'a> {
    /// Root-relative, `/`-separated path.
    pub path: String,
    /// The text.
    pub text: &'a str,
}

/// Builds the plan.
pub fn build(model: &model::Model, sources: &[SourceText<'_>]) -> Plan {
    let systems: BTreeMap<String, System> = model
        .systems
        .iter()
        .map(|(alias, s)| (alias.clone(), system(s)))
        .collect();
    let tables = model.tables.iter().map(|t| table(t, &systems)).collect();
    let mut digests: Vec<SourceDigest> = sources
        .iter()
        .map(|s| SourceDigest {
            path: s.path.clone(),
            sha256: sha256(s.text.as_bytes()),
        })
        .collect();
    digests.sort_by(|a, b| a.path.cmp(&b.path));
    digests.dedup_by(|a, b| a.path == b.path);
    let mut plan = Plan {
        format_version: 1,
        compiler: format!("syncmap {}", env!("CARGO_PKG_VERSION")),
        digest: String::new(),
        sources: digests,
        systems,
        tables,
        functions: model.functions.clone(),
        jobs: model.jobs.clone(),
        compiled: None,
    };
    plan.format_version = plan.required_format();
    plan.digest = digest(&plan);
    plan
}

/// What the runtime is told of a system: its kind, zone, and the tables the mappings use.
fn system(s: &model::System) -> System {
    let tables = s
        .tables
        .iter()
        .map(|(name, used)| (name.clone(), table_info(used)))
        .collect();
    System {
        kind: s.kind,
        schema: s.schema.clone(),
        time_zone: s.time_zone.clone(),
        tables,
    }
}

/// The columns the mappings name, fully described, and the key and modified-on columns the
/// runtime always reads, by kind at least.
fn table_info(used: &model::UsedTable) -> TableInfo {
    let t = &used.schema;
    let mut columns: BTreeMap<String, ColumnInfo> = used
        .columns
        .iter()
        .filter_map(|name| Some((name.clone(), column_info(t.column(name)?))))
        .collect();
    for always in std::iter::once(&t.key).chain(t.modified_on.iter()) {
        if let Some(c) = t.column(always) {
            columns.entry(always.clone()).or_insert(ColumnInfo {
                ty: c.ty.kind(),
                ..Default::default()
            });
        }
    }
    TableInfo {
        entity_type: t.entity_type.clone(),
        key: t.key.clone(),
        modified_on: t.modified_on.clone(),
        columns,
    }
}

/// A column as the runtime reads and writes it: kind, lookup targets, length, decimal facets.
fn column_info(c: &ColumnSchema) -> ColumnInfo {
    let (precision, scale) = match c.ty {
        ColumnType::Decimal { precision, scale } => (precision, scale),
        _ => (None, None),
    };
    ColumnInfo {
        ty: c.ty.kind(),
        targets: match &c.ty {
            ColumnType::Lookup { targets } => targets.clone(),
            _ => Vec::new(),
        },
        max_length: match c.ty {
            ColumnType::String { max_length } => max_length,
            _ => None,
        },
        precision,
        scale,
        time_zone_independent: c.time_zone_independent,
    }
}

/// A table mapping as the runtime runs it.
fn table(t: &model::Table, systems: &BTreeMap<String, System>) -> Table {
    let side = |s: &model::TableSide| TableSide {
        system: s.system.clone(),
        table: s.table.clone(),
        filter: s.filter.as_ref().map(|expr| filter(expr, s, systems)),
        company: None,
    };
    let pass = |p: &model::Pass| Pass {
        source: p.source,
        dest: p.dest,
        ops: p.ops.iter().map(field_op).collect(),
    };
    Table {
        name: t.name.clone(),
        origin: t.origin.to_string(),
        left: side(&t.left),
        right: side(&t.right),
        flow: t.flow,
        depends_on: t.depends_on.clone(),
        match_rules: t.match_rules.clone(),
        create: t.create.clone(),
        only_coupled: t.only_coupled,
        on_conflict: t.on_conflict,
        on_delete: t.on_delete,
        left_to_right: t.left_to_right.as_ref().map(pass),
        right_to_left: t.right_to_left.as_ref().map(pass),
    }
}

/// A side's filter, split into what its server can evaluate (`$filter`) and the rest.
fn filter(expr: &Expr, side: &model::TableSide, systems: &BTreeMap<String, System>) -> Filter {
    let system = systems.get(&side.system);
    let columns = system
        .and_then(|s| s.tables.get(&side.table))
        .map(|t| t.columns.clone())
        .unwrap_or_default();
    let (odata, residual) = match system {
        Some(s) => odata::split(expr, s.kind, &columns),
        None => (None, None),
    };
    Filter {
        expr: expr.clone(),
        odata,
        residual,
    }
}

fn field_op(op: &model::FieldOp) -> FieldOp {
    FieldOp {
        id: op.id.clone(),
        origin: op.origin.to_string(),
        target: op.target.clone(),
        value: op.value.clone(),
        phase: op.phase,
        not_null: op.not_null,
        clear_on_failure: op.clear_on_failure,
        two_way: op.two_way,
        truncate: op.truncate,
        on_conflict: op.on_conflict,
    }
}

/// `sha256:…` of the plan's compact JSON with an empty digest and compiler: what the plan
/// does, and through the digests of its sources where it came from. The runtime checks it, so
/// a plan edited by hand after review is refused instead of run.
pub fn digest(plan: &Plan) -> String {
    let mut hasher = Sha256::new();
    // The compiler's version is left out: the same plan from the next release is the same plan,
    // and a version bump does not change every digest recorded in run histories and reviews.
    let blank = Plan {
        digest: String::new(),
        compiler: String::new(),
        ..plan.clone()
    };
    // Writing to a hasher cannot fail, and the plan is plain data.
    let _ = serde_json::to_writer(HashWriter(&mut hasher), &blank);
    format!("sha256:{}", hex(&hasher.finalize()))
}

/// Feeds serde_json's output to the hasher without building the text.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why a plan file cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The text is not a plan of this format.
    #[error("not a syncmap plan: {0}")]
    Json(#[from] serde_json::Error),
    /// The plan's digest does not match its content (E0701).
    #[error(
        "syncmap::E0701: the plan was changed after it was compiled (it records {recorded}, its content gives {actual}); compile it again from the mappings"
    )]
    Digest {
        /// The digest written in the plan.
        recorded: String,
        /// The digest of what the plan holds.
        actual: String,
    },
}

/// Reads a plan that `compile` wrote, refusing one whose content no longer matches its
/// digest.
pub fn from_json(text: &str) -> Result<Plan, PlanError> {
    let plan: Plan = serde_json::from_str(text)?;
    let actual = digest(&plan);
    if actual != plan.digest {
        return Err(PlanError::Digest {
            recorded: plan.digest,
            actual,
        });
    }
    Ok(plan)
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The plan as the bytes `compile` writes: pretty JSON with a final line break.
pub fn to_json(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).unwrap_or_default();
    s.push('\n');
    s
}
