//! The doctor's report as text for people, as JSON, or as SARIF for code scanning.

use serde_json::{json, Value};
use syncmap::diagnostics::{render, Diagnostics};
use syncmap::source::SourceMap;

use super::checks::{Status, SystemReport};

fn word(s: Status) -> &'static str {
    match s {
        Status::Passed => "ok  ",
        Status::Failed => "FAIL",
        Status::Skipped => "skip",
    }
}

/// One block per system, a line per check, then the drift diagnostics and a summary.
pub fn human(reports: &[SystemReport], diags: &Diagnostics, sources: &SourceMap) -> String {
    let mut out = String::new();
    for r in reports {
        out.push_str(&format!("system {} ({})", r.system, r.kind));
        if let Some(at) = &r.location {
            out.push_str(&format!(" at {at}"));
        }
        out.push('\n');
        for c in &r.checks {
            out.push_str(&format!(
                "  {}  {:<15} {}\n",
                word(c.status),
                c.check,
                c.message
            ));
        }
        out.push('\n');
    }
    if !diags.is_empty() {
        out.push_str(&render::human(diags, sources, false));
        out.push('\n');
    }
    let all: Vec<_> = reports.iter().flat_map(|r| &r.checks).collect();
    let failed = all.iter().filter(|c| c.status == Status::Failed).count();
    let passed = all.iter().filter(|c| c.status == Status::Passed).count();
    if failed == 0 {
        out.push_str(&format!("all {passed} checks passed\n"));
    } else {
        out.push_str(&format!(
            "{failed} check{} failed, {passed} passed\n",
            if failed == 1 { "" } else { "s" }
        ));
    }
    out
}

/// `{ "ok", "systems": [{ system, kind, location, checks }], "diagnostics": [...] }`.
pub fn json(reports: &[SystemReport], diags: &Diagnostics, sources: &SourceMap) -> Value {
    let systems: Vec<Value> = reports
        .iter()
        .map(|r| {
            json!({
                "system": r.system,
                "kind": r.kind,
                "location": r.location,
                "checks": r.checks,
            })
        })
        .collect();
    let ok = !diags.has_errors()
        && reports
            .iter()
            .flat_map(|r| &r.checks)
            .all(|c| c.status != Status::Failed);
    json!({
        "ok": ok,
        "systems": systems,
        "diagnostics": render::json(diags, sources),
    })
}

/// SARIF 2.1.0: the drift diagnostics as results (as `syncmap check` writes them); checks that
/// failed, which have no place in a file, as notifications of the invocation.
pub fn sarif(reports: &[SystemReport], diags: &Diagnostics, sources: &SourceMap) -> Value {
    let mut doc = render::sarif(diags, sources);
    let failed: Vec<Value> = reports
        .iter()
        .flat_map(|r| r.checks.iter().map(move |c| (r, c)))
        .filter(|(_, c)| c.status == Status::Failed)
        .map(|(r, c)| {
            json!({
                "level": "error",
                "descriptor": { "id": format!("doctor/{}", c.check) },
                "message": { "text": format!("system `{}`: {}: {}", r.system, c.check, c.message) },
            })
        })
        .collect();
    let ok = failed.is_empty() && !diags.has_errors();
    if let Some(run) = doc.get_mut("runs").and_then(|r| r.get_mut(0)) {
        run["invocations"] = json!([{
            "executionSuccessful": ok,
            "toolExecutionNotifications": failed,
        }]);
    }
    doc
}
