//! Builds the plan from the checked model: pushes filters down to OData where possible and
//! digests the sources and the plan itself, so the same input always gives the same bytes and
//! an edited plan is noticed.

use sha2::{Digest, Sha256};

use super::model::*;
use super::odata;
use crate::check::Model;

/// The sources a plan is built from: root-relative path and text, for the digest.
pub struct SourceText<'a> {
    /// Root-relative, `/`-separated path.
    pub path: String,
    /// The text.
    pub text: &'a str,
}

/// Builds the plan.
pub fn build(model: &Model, sources: &[SourceText<'_>]) -> Plan {
    let mut tables = model.tables.clone();
    for t in &mut tables {
        for side in [&mut t.left, &mut t.right] {
            let Some(filter) = &mut side.filter else {
                continue;
            };
            let Some(system) = model.systems.get(&side.system) else {
                continue;
            };
            let columns = system
                .tables
                .get(&side.table)
                .map(|i| i.columns.clone())
                .unwrap_or_default();
            let (pushed, residual) = odata::split(&filter.expr, system.kind, &columns);
            filter.odata = pushed;
            filter.residual = residual;
        }
    }
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
        format_version: PLAN_FORMAT_VERSION,
        compiler: format!("syncmap {}", env!("CARGO_PKG_VERSION")),
        digest: String::new(),
        sources: digests,
        systems: model.systems.clone(),
        tables,
        functions: model.functions.clone(),
        jobs: model.jobs.clone(),
    };
    plan.digest = digest(&plan);
    plan
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
