//! Builds the plan from the checked model: pushes filters down to OData where possible and
//! digests the sources, so the same input always gives the same bytes.

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
            let (pushed, residual) = odata::split(&filter.expr, &system.kind, &columns);
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
    let mut all = Sha256::new();
    for d in &digests {
        all.update(d.path.as_bytes());
        all.update([0]);
        all.update(d.sha256.as_bytes());
        all.update([0]);
    }
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        compiler: format!("syncmap {}", env!("CARGO_PKG_VERSION")),
        digest: format!("sha256:{}", hex(&all.finalize())),
        sources: digests,
        systems: model.systems.clone(),
        tables,
        functions: model.functions.clone(),
        jobs: model.jobs.clone(),
    }
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
