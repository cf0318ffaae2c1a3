//! `syncmap status`, `log` and `errors`: what the state store knows.

mod log;

pub use log::{log, LogArgs};

use std::process::ExitCode;

use syncmap::state::{LeaseKind, StateError};

use super::runtime::{self, Target};
use super::CliError;

/// `syncmap status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    output: super::output::OutputArgs,
}

/// Per table mapping: couplings, skipped and failed records, watermarks, last run.
pub fn status(args: StatusArgs) -> Result<ExitCode, CliError> {
    let rt = runtime::open_with(
        &args.target,
        runtime::Needs {
            systems: false,
            dry_run: false,
        },
    )?;
    let engine = rt.engine()?;
    let status = engine.status().map_err(runtime::engine_error)?;
    let last = rt.store.runs(1).map_err(|e| CliError::Io(e.to_string()))?;
    let units = units(&rt.store).map_err(|e| CliError::Io(e.to_string()))?;
    if args.output.json() {
        let mut doc = serde_json::json!({ "tables": status, "last_run": last.first() });
        // Only where workers share the store.
        if !units.is_empty() {
            doc["units"] = serde_json::Value::Array(units);
        }
        runtime::print_json(&doc);
        return Ok(ExitCode::SUCCESS);
    }
    // As wide as the longest table mapping's name, so the columns line up whatever the names.
    let w = status
        .iter()
        .map(|t| t.mapping.chars().count())
        .fold(14, usize::max);
    println!(
        "{:<w$} {:>8} {:<15} {:>7} {:>8}  watermark",
        "table", "coupled", "direction", "failed", "skipped"
    );
    let words = |mapping: &str, d: &str| rt.plan.direction_words(mapping, d);
    for t in &status {
        for (i, d) in t.directions.iter().enumerate() {
            let (name, coupled) = if i == 0 {
                (t.mapping.as_str(), t.coupled.to_string())
            } else {
                ("", String::new())
            };
            println!(
                "{name:<w$} {coupled:>8} {:<15} {:>7} {:>8}  {}",
                words(&t.mapping, &d.direction),
                d.failed,
                d.skipped,
                d.watermark.as_deref().unwrap_or("-")
            );
        }
    }
    print_units(&units);
    match last.first() {
        Some(r) => println!(
            "last run: {} ({} {}, {}, started {})",
            r.id,
            r.mode,
            r.trigger,
            syncmap::runtime::engine::status_words(&r.status),
            r.started_at
        ),
        None => println!("no run yet"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The units workers share (none unless workers ran): each with when it is next due, how its
/// last run went and which worker holds it now.
fn units(store: &syncmap::state::Store) -> Result<Vec<serde_json::Value>, StateError> {
    let mut out = Vec::new();
    for u in store.units()? {
        let holder = store.holder(&LeaseKind::Unit(u.name()))?;
        out.push(serde_json::json!({
            "company": u.company,
            "job": u.job,
            "mapping": u.mapping,
            "due_at": u.due_at.map(|t| t.to_string()),
            "wait_seconds": u.wait_seconds,
            "last_status": u.last_status,
            "last_run_id": u.last_run,
            "finished_at": u.finished_at.map(|t| t.to_string()),
            "held_by": holder.map(|h| serde_json::json!({
                "pid": h.pid, "host": h.host, "since": h.since, "heartbeat": h.heartbeat,
            })),
        }));
    }
    Ok(out)
}

fn print_units(units: &[serde_json::Value]) {
    if units.is_empty() {
        return;
    }
    println!(
        "\n{:<32} {:<28} {:<24} held by",
        "unit ([company/]job/table)", "next due", "last run"
    );
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    for u in units {
        let name = syncmap::state::unit_name(
            u["company"].as_str().unwrap_or_default(),
            &format!("{}/{}", text(&u["job"]), text(&u["mapping"])),
        );
        let held = match &u["held_by"] {
            serde_json::Value::Null => "-".to_string(),
            h => format!("process {} on {}", h["pid"], text(&h["host"])),
        };
        println!(
            "{name:<32} {:<28} {:<24} {held}",
            text(&u["due_at"]),
            text(&u["last_status"])
        );
    }
    println!();
}

/// `syncmap errors`.
#[derive(clap::Args, Debug)]
pub struct ErrorsArgs {
    /// Only this table mapping.
    table: Option<String>,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    output: super::output::OutputArgs,
}

/// The records that failed and are waiting for a retry, or skipped.
pub fn errors(args: ErrorsArgs) -> Result<ExitCode, CliError> {
    let rt = runtime::open_with(
        &args.target,
        runtime::Needs {
            systems: false,
            dry_run: false,
        },
    )?;
    let failures = rt
        .store
        .failures(args.table.as_deref())
        .map_err(|e| CliError::Io(e.to_string()))?;
    if args.output.json() {
        let rows: Vec<serde_json::Value> = failures
            .iter()
            .map(|f| {
                serde_json::json!({
                    "mapping": f.mapping, "direction": f.direction.as_str(), "source_key": f.source_key,
                    "label": f.label, "dest_key": f.dest_key, "message": f.message, "attempts": f.attempts, "skipped": f.skipped, "at": f.at,
                    "kind": f.kind, "differences": f.differences,
                })
            })
            .collect();
        runtime::print_json(&rows);
        return Ok(ExitCode::SUCCESS);
    }
    if failures.is_empty() {
        println!("no failed records");
    }
    for f in &failures {
        println!(
            "{} {} `{}`{}{}: {} (failed {} time{}{})",
            f.mapping,
            rt.plan.direction_words(&f.mapping, f.direction.as_str()),
            f.source_key,
            f.label
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default(),
            f.dest_key
                .as_deref()
                .map(|k| format!(" → `{k}`"))
                .unwrap_or_default(),
            syncmap::redact::redact(&f.message),
            f.attempts,
            if f.attempts == 1 { "" } else { "s" },
            if f.skipped {
                "; skipped until `syncmap retry`"
            } else {
                ""
            }
        );
        print!("{}", differences(&rt.plan, f));
    }
    Ok(ExitCode::SUCCESS)
}

/// A conflict's differing fields, one line each, as each side holds them.
fn differences(plan: &syncmap::plan::Plan, f: &syncmap::state::Failure) -> String {
    let system = |side| {
        plan.table(&f.mapping)
            .map(|t| t.side(side).system.clone())
            .unwrap_or_default()
    };
    let (left, right) = (
        system(syncmap::plan::Side::Left),
        system(syncmap::plan::Side::Right),
    );
    f.differences
        .iter()
        .map(|d| {
            format!(
                "    {left} {}: {}  |  {right} {}: {}\n",
                d.left_field, d.left, d.right_field, d.right
            )
        })
        .collect()
}
