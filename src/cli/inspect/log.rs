//! `syncmap log`: the runs, filtered; or one run explained — its header, counts and watermarks
//! per table mapping and direction, what it wrote where, and why records were skipped or failed.

use std::collections::BTreeMap;
use std::process::ExitCode;

use jiff::{SignedDuration, Timestamp};
use syncmap::plan::Plan;
use syncmap::redact::redact;
use syncmap::runtime::engine::status_words;
use syncmap::state::{Counts, Event, RecordError, Run, RunFilter, RunWrite, StateError};

use super::super::runtime::{self, Target};
use super::super::CliError;

/// Lines of writes (and of skipped records) shown per pass before "and N more".
const SHOWN_PER_PASS: usize = 50;

/// A run's status, to filter by.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum StatusFilter {
    /// Ended with every pass done and every record synced.
    Succeeded,
    /// Ended with every pass done, but some records failed (retried by the next run).
    CompletedWithFailures,
    /// Stopped by an error.
    Failed,
    /// The process ended before the run did.
    Interrupted,
    /// Under way (or killed and not yet noticed).
    Running,
}

/// What started a run, to filter by.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum TriggerFilter {
    /// A command.
    Manual,
    /// The scheduler.
    Schedule,
    /// `syncmap demo`.
    Demo,
}

/// `syncmap log`.
#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// Explain one run: counts, watermarks, what it wrote where, why records were skipped or
    /// failed.
    #[arg(long)]
    run: Option<i64>,
    /// Only runs that covered this table mapping.
    #[arg(long, value_name = "NAME")]
    table: Option<String>,
    /// Only runs with this status.
    #[arg(long, value_enum)]
    status: Option<StatusFilter>,
    /// Only runs started this way.
    #[arg(long, value_enum)]
    trigger: Option<TriggerFilter>,
    /// Only runs started since a date (`2026-11-01`, midnight UTC), an instant
    /// (`2026-11-01T08:00:00Z`), or a time ago (`90s`, `30m`, `2h`, `7d`, `2w`).
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// How many runs to list, newest first.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    output: crate::cli::output::OutputArgs,
}

fn io(e: StateError) -> CliError {
    CliError::Io(e.to_string())
}

/// Lists runs, or explains one.
pub fn log(args: LogArgs) -> Result<ExitCode, CliError> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let rt = runtime::open_with(
        &args.target,
        runtime::Needs {
            systems: false,
            dry_run: false,
        },
    )?;
    if let Some(id) = args.run {
        return explain(&rt.store, &rt.plan, id, args.output.json());
    }
    let runs = rt.store.runs_where(&run_filter(&args, since)).map_err(io)?;
    if args.output.json() {
        runtime::print_json(&runs);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!("no runs match");
        return Ok(ExitCode::SUCCESS);
    }
    print_runs(&runs);
    Ok(ExitCode::SUCCESS)
}

/// The store's filter for the options given.
fn run_filter(args: &LogArgs, since: Option<Timestamp>) -> RunFilter {
    RunFilter {
        table: args.table.clone(),
        status: args.status.map(|s| {
            match s {
                StatusFilter::Succeeded => "succeeded",
                StatusFilter::CompletedWithFailures => "completed_with_failures",
                StatusFilter::Failed => "failed",
                StatusFilter::Interrupted => "interrupted",
                StatusFilter::Running => "running",
            }
            .to_string()
        }),
        trigger: args.trigger.map(|t| format!("{t:?}").to_lowercase()),
        since,
        limit: args.limit,
    }
}

/// One line per run, with its counts summed over its passes.
fn print_runs(runs: &[Run]) {
    println!(
        "{:>5}  {:<27} {:>9}  {:<9} {:<8} {:<23} {:>8} {:>8} {:>9} {:>7} {:>6} {:>9}",
        "run",
        "started",
        "duration",
        "mode",
        "trigger",
        "status",
        "inserted",
        "modified",
        "unchanged",
        "skipped",
        "failed",
        "conflicts"
    );
    for r in runs {
        let mut t = Counts::default();
        for c in &r.counts {
            t.add(&c.counts);
        }
        println!(
            "{:>5}  {:<27} {:>9}  {:<9} {:<8} {:<23} {:>8} {:>8} {:>9} {:>7} {:>6} {:>9}",
            r.id,
            r.started_at,
            duration(r),
            r.mode,
            r.trigger,
            status_words(&r.status),
            t.inserted,
            t.modified,
            t.unchanged,
            t.skipped,
            t.failed,
            t.conflicts
        );
    }
}

/// A time bound: a date (midnight UTC), an RFC 3339 instant, or an amount of time ago.
fn parse_since(text: &str) -> Result<Timestamp, CliError> {
    let t = text.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(date) = t.parse::<jiff::civil::Date>() {
        if let Ok(z) = date.to_zoned(jiff::tz::TimeZone::UTC) {
            return Ok(z.timestamp());
        }
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let secs = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => 0,
    };
    match n.parse::<i64>() {
        Ok(n) if secs > 0 => Timestamp::now()
            .checked_sub(SignedDuration::from_secs(n.saturating_mul(secs)))
            .map_err(|e| CliError::Usage(format!("--since {text}: {e}"))),
        _ => Err(CliError::Usage(format!(
            "--since `{text}` is not a date (2026-11-01), an instant (2026-11-01T08:00:00Z) or a time ago (30m, 2h, 7d)"
        ))),
    }
}

/// A run's duration for people: `850 ms`, `12.3 s`, `4 min 5 s`; `-` while it runs.
fn duration(r: &Run) -> String {
    let Some(ms) = r.duration_ms else {
        return "-".into();
    };
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// `source → destination` of a pass, from the plan when it still has the table mapping.
fn route(plan: &Plan, mapping: &str, direction: &str) -> String {
    let Some(t) = plan.table(mapping) else {
        return direction.to_string();
    };
    let side = |s: syncmap::plan::Side| format!("{}.{}", t.side(s).system, t.side(s).table);
    let (l, r) = (
        side(syncmap::plan::Side::Left),
        side(syncmap::plan::Side::Right),
    );
    match direction {
        "right_to_left" => format!("{r} → {l}"),
        _ => format!("{l} → {r}"),
    }
}

/// One run: header, counts and watermarks, writes, skipped and failed records, events.
fn explain(
    store: &syncmap::state::Store,
    plan: &Plan,
    id: i64,
    json: bool,
) -> Result<ExitCode, CliError> {
    let run = store
        .run(id)
        .map_err(io)?
        .ok_or_else(|| CliError::Usage(format!("no run {id} in the state store")))?;
    let writes = store.run_writes(id).map_err(io)?;
    let events = store.events(id).map_err(io)?;
    let mut errors = store.errors(Some(id), None, usize::MAX).map_err(io)?;
    errors.reverse();
    if json {
        runtime::print_json(&serde_json::json!({
            "run": run, "writes": writes, "events": events, "errors": errors,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    print_header(&run);
    print_counts(plan, &run);
    let (done, skipped): (Vec<&RunWrite>, Vec<&RunWrite>) =
        writes.iter().partition(|w| w.action != "skipped");
    let mut cut = print_written(plan, &done);
    if !skipped.is_empty() || !errors.is_empty() {
        println!("\nskipped and failed");
    }
    cut |= print_skipped(plan, &skipped);
    cut |= print_failed(plan, &errors);
    print_events(plan, &events);
    if cut {
        println!("\n(`syncmap log --run {id} --json` lists every record)");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_header(run: &Run) {
    println!(
        "run {}: {} sync ({}), {}, took {}",
        run.id,
        run.mode,
        run.trigger,
        status_words(&run.status),
        duration(run)
    );
    println!(
        "  started {}, finished {}",
        run.started_at,
        run.finished_at.as_deref().unwrap_or("-")
    );
    println!("  plan {}", run.plan_digest);
    // What the store holds was redacted when written; a store written before is redacted here.
    if let Some(m) = &run.message {
        println!("  {}", redact(m));
    }
}

/// The counts and the watermark move of each pass.
fn print_counts(plan: &Plan, run: &Run) {
    println!("\ncounts");
    for c in &run.counts {
        let n = &c.counts;
        println!(
            "  {} {}: {} inserted, {} modified, {} unchanged, {} skipped, {} failed, {} conflicts, {} deleted, {} uncoupled, {} coupled",
            c.mapping, plan.direction_words(&c.mapping, &c.direction), n.inserted, n.modified, n.unchanged, n.skipped, n.failed, n.conflicts, n.deleted, n.uncoupled, n.coupled
        );
        println!(
            "    {}, watermark {} → {}",
            route(plan, &c.mapping, &c.direction),
            c.cursor_before.as_deref().unwrap_or("-"),
            c.cursor_after.as_deref().unwrap_or("-")
        );
    }
}

/// What the run wrote, by pass; true when some were left out.
fn print_written(plan: &Plan, done: &[&RunWrite]) -> bool {
    let mut cut = false;
    println!("\nwritten");
    if done.is_empty() {
        println!("  nothing");
    }
    for ((mapping, direction), ws) in by_pass(done) {
        println!(
            "  {mapping} {} ({})",
            plan.direction_words(&mapping, &direction),
            route(plan, &mapping, &direction)
        );
        for w in ws.iter().take(SHOWN_PER_PASS) {
            let reason = w
                .reason
                .as_deref()
                .map(|r| format!("  ({})", redact(r)))
                .unwrap_or_default();
            println!(
                "    {:<9} {} → {}{reason}",
                w.action,
                w.source_key,
                w.dest_key.as_deref().unwrap_or("-")
            );
        }
        cut |= more(ws.len());
    }
    cut
}

/// The records the run skipped, by pass; true when some were left out.
fn print_skipped(plan: &Plan, skipped: &[&RunWrite]) -> bool {
    let mut cut = false;
    for ((mapping, direction), ws) in by_pass(skipped) {
        for w in ws.iter().take(SHOWN_PER_PASS) {
            let why = redact(w.reason.as_deref().unwrap_or("-"));
            println!(
                "  skipped {mapping} {} `{}`: {why}",
                plan.direction_words(&mapping, &direction),
                w.source_key
            );
        }
        cut |= more(ws.len());
    }
    cut
}

/// The records that failed, by pass; true when some were left out.
fn print_failed(plan: &Plan, errors: &[RecordError]) -> bool {
    let mut cut = false;
    let mut failed: BTreeMap<(String, String), Vec<_>> = BTreeMap::new();
    for e in errors {
        failed
            .entry((e.mapping.clone(), e.direction.clone()))
            .or_default()
            .push(e);
    }
    for ((mapping, direction), es) in &failed {
        for e in es.iter().take(SHOWN_PER_PASS) {
            let to = e
                .dest_key
                .as_deref()
                .map(|k| format!(" → `{k}`"))
                .unwrap_or_default();
            let known = e
                .label
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            println!(
                "  failed {mapping} {} `{}`{known}{to}: {}",
                plan.direction_words(mapping, direction),
                e.source_key,
                redact(&e.message)
            );
        }
        cut |= more(es.len());
    }
    cut
}

fn print_events(plan: &Plan, events: &[Event]) {
    if !events.is_empty() {
        println!("\nevents");
    }
    for e in events {
        println!(
            "  {} {} {}: record `{}`: {}",
            e.kind,
            e.mapping,
            plan.direction_words(&e.mapping, &e.direction),
            e.source_key.as_deref().unwrap_or("-"),
            redact(&e.message)
        );
    }
}

/// Prints "and N more" past the cap; true when something was left out.
fn more(total: usize) -> bool {
    if total > SHOWN_PER_PASS {
        println!("    … and {} more", total - SHOWN_PER_PASS);
        true
    } else {
        false
    }
}

/// Writes grouped by table mapping and direction, in the order the passes logged them.
fn by_pass<'a>(writes: &[&'a RunWrite]) -> Vec<((String, String), Vec<&'a RunWrite>)> {
    let mut out: Vec<((String, String), Vec<&RunWrite>)> = Vec::new();
    for w in writes {
        let key = (w.mapping.clone(), w.direction.clone());
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(w),
            None => out.push((key, vec![w])),
        }
    }
    out
}
