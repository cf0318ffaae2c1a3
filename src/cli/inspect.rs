//! `syncmap status`, `log` and `errors`: what the state store knows.

use std::process::ExitCode;

use super::runtime::{self, Target};
use super::CliError;

/// `syncmap status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    target: Target,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
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
    if args.json {
        runtime::print_json(&serde_json::json!({ "tables": status, "last_run": last.first() }));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<14} {:>8} {:<15} {:>7} {:>8}  watermark",
        "table", "coupled", "direction", "failed", "skipped"
    );
    for t in &status {
        for (i, d) in t.directions.iter().enumerate() {
            let (name, coupled) = if i == 0 {
                (t.mapping.as_str(), t.coupled.to_string())
            } else {
                ("", String::new())
            };
            println!(
                "{name:<14} {coupled:>8} {:<15} {:>7} {:>8}  {}",
                d.direction,
                d.failed,
                d.skipped,
                d.watermark.as_deref().unwrap_or("-")
            );
        }
    }
    match last.first() {
        Some(r) => println!(
            "last run: {} ({} {}, {}, started {})",
            r.id, r.mode, r.trigger, r.status, r.started_at
        ),
        None => println!("no run yet"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `syncmap log`.
#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// Explain one run: its counts, events and errors.
    #[arg(long)]
    run: Option<i64>,
    /// How many runs to list.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[command(flatten)]
    target: Target,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

/// Lists runs, or explains one.
pub fn log(args: LogArgs) -> Result<ExitCode, CliError> {
    let rt = runtime::open_with(
        &args.target,
        runtime::Needs {
            systems: false,
            dry_run: false,
        },
    )?;
    let io = |e: syncmap::state::StateError| CliError::Io(e.to_string());
    let Some(id) = args.run else {
        let runs = rt.store.runs(args.limit).map_err(io)?;
        if args.json {
            runtime::print_json(&runs);
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{:>5}  {:<27} {:<9} {:<7} {:<11} {:>8} {:>8} {:>9} {:>6} {:>9}",
            "run",
            "started",
            "mode",
            "trigger",
            "status",
            "inserted",
            "modified",
            "unchanged",
            "failed",
            "conflicts"
        );
        for r in &runs {
            let mut t = syncmap::state::Counts::default();
            for c in &r.counts {
                t.add(&c.counts);
            }
            println!(
                "{:>5}  {:<27} {:<9} {:<7} {:<11} {:>8} {:>8} {:>9} {:>6} {:>9}",
                r.id,
                r.started_at,
                r.mode,
                r.trigger,
                r.status,
                t.inserted,
                t.modified,
                t.unchanged,
                t.failed,
                t.conflicts
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    let run = rt
        .store
        .run(id)
        .map_err(io)?
        .ok_or_else(|| CliError::Usage(format!("no run {id} in the state store")))?;
    let events = rt.store.events(id).map_err(io)?;
    let errors = rt.store.errors(Some(id), None, usize::MAX).map_err(io)?;
    if args.json {
        runtime::print_json(&serde_json::json!({ "run": run, "events": events, "errors": errors }));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "run {}: {} sync ({}), {}",
        run.id, run.mode, run.trigger, run.status
    );
    println!(
        "  started {}, finished {}",
        run.started_at,
        run.finished_at.as_deref().unwrap_or("-")
    );
    println!("  plan {}", run.plan_digest);
    if let Some(m) = &run.message {
        println!("  {m}");
    }
    for c in &run.counts {
        let n = &c.counts;
        println!(
            "  {} {}: {} inserted, {} modified, {} unchanged, {} skipped, {} failed, {} conflicts, {} deleted, {} uncoupled, {} coupled",
            c.mapping, c.direction, n.inserted, n.modified, n.unchanged, n.skipped, n.failed, n.conflicts, n.deleted, n.uncoupled, n.coupled
        );
        if c.cursor_before.is_some() || c.cursor_after.is_some() {
            println!(
                "    watermark {} → {}",
                c.cursor_before.as_deref().unwrap_or("-"),
                c.cursor_after.as_deref().unwrap_or("-")
            );
        }
    }
    for e in &events {
        println!(
            "  {} {} {}: record `{}`: {}",
            e.kind,
            e.mapping,
            e.direction,
            e.source_key.as_deref().unwrap_or("-"),
            e.message
        );
    }
    for e in errors.iter().rev() {
        println!(
            "  failed {} {} `{}`: {}",
            e.mapping, e.direction, e.source_key, e.message
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `syncmap errors`.
#[derive(clap::Args, Debug)]
pub struct ErrorsArgs {
    /// Only this table mapping.
    table: Option<String>,
    #[command(flatten)]
    target: Target,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
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
    if args.json {
        let rows: Vec<serde_json::Value> = failures
            .iter()
            .map(|f| {
                serde_json::json!({
                    "mapping": f.mapping, "direction": f.direction.as_str(), "source_key": f.source_key,
                    "dest_key": f.dest_key, "message": f.message, "attempts": f.attempts, "skipped": f.skipped, "at": f.at,
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
            "{} {} `{}`{}: {} (failed {} time{}{})",
            f.mapping,
            f.direction.as_str(),
            f.source_key,
            f.dest_key
                .as_deref()
                .map(|k| format!(" → `{k}`"))
                .unwrap_or_default(),
            f.message,
            f.attempts,
            if f.attempts == 1 { "" } else { "s" },
            if f.skipped {
                "; skipped until `syncmap retry`"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
