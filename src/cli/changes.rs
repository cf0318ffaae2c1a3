//! `syncmap show` and `syncmap apply`: reviewing a change set a dry run wrote
//! (`syncmap run --dry-run -o changes.json`), and making exactly its writes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use syncmap::plan::Plan;
use syncmap::runtime::engine::{ChangeSet, PlannedWrite};

use super::runtime::{self, Target};
use super::CliError;

/// `syncmap show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The change set (`syncmap run --dry-run -o FILE` wrote it).
    file: PathBuf,
    /// The plan, which names each direction by its systems and says whether `apply` would
    /// take the change set (the profile is not read).
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    output: super::output::OutputArgs,
}

/// `syncmap apply`.
#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// The reviewed change set.
    file: PathBuf,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    output: super::output::OutputArgs,
}

/// Reads a change set.
pub fn read(path: &Path) -> Result<ChangeSet, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Io(format!("cannot read `{}`: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "`{}` is not a change set of `syncmap run --dry-run -o FILE`: {e}",
            path.display()
        ))
    })
}

/// Writes a change set, all or nothing (a temporary file renamed into place).
pub fn write(path: &Path, set: &ChangeSet) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::Io(format!("cannot write `{}`: {e}", path.display()));
    let text = serde_json::to_string_pretty(set)
        .map_err(|e| CliError::Io(format!("cannot encode the change set: {e}")))?;
    let tmp = path.with_extension("json.partial");
    let written = (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(io)
}

/// Prints a change set for review.
pub fn show(args: ShowArgs) -> Result<ExitCode, CliError> {
    let set = read(&args.file)?;
    if args.output.json() {
        runtime::print_json(&set);
        return Ok(ExitCode::SUCCESS);
    }
    // Without a plan at hand the change set is still shown, by side.
    let plan = runtime::load_plan(&args.target.plan_paths()).ok();
    print!("{}", syncmap::redact::redact(&human(&set, plan.as_ref())));
    if let Some(p) = plan.filter(|p| p.digest != set.plan_digest) {
        println!(
            "note: it was made with another plan than this one ({}): `syncmap apply` refuses it",
            short(&p.digest)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A change set in words: a heading, then each write with its fields before → after.
fn human(set: &ChangeSet, plan: Option<&Plan>) -> String {
    let n = set.writes.len();
    let mut out = format!(
        "change set of plan {}, from a {} dry run at {}: {n} write{}\n",
        short(&set.plan_digest),
        set.mode,
        set.created_at,
        if n == 1 { "" } else { "s" }
    );
    for (alias, target) in &set.targets {
        out.push_str(&format!("reviewed against {alias} at {target}\n"));
    }
    for w in &set.writes {
        out.push_str(&line(w, plan));
        for f in &w.fields {
            match &f.before {
                Some(b) => out.push_str(&format!("    {}: {b} → {}\n", f.column, f.after)),
                None => out.push_str(&format!("    {}: {}\n", f.column, f.after)),
            }
        }
    }
    out
}

/// Refuses a change set reviewed against other systems than the profile's: its writes were
/// decided from those systems' rows (a test environment's set applied to production would
/// write what nobody reviewed for it).
fn same_targets(
    set: &ChangeSet,
    now: &std::collections::BTreeMap<String, String>,
) -> Result<(), CliError> {
    if set.targets.is_empty() {
        return Err(CliError::Usage(
            "the change set does not say which systems it was reviewed against (an older syncmap wrote it): make it again with `syncmap run --dry-run -o`".into(),
        ));
    }
    for (alias, reviewed) in &set.targets {
        let here = now
            .get(alias)
            .map_or("nowhere (no such system)", String::as_str);
        if here != reviewed {
            return Err(CliError::Usage(format!(
                "the change set was reviewed with system `{alias}` at {reviewed}, but the profile puts it at {here}: apply it with the profile it was reviewed with (--profile, --env)"
            )));
        }
    }
    Ok(())
}

/// A plan digest as people compare it: twelve hex digits.
fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..12).unwrap_or(hex)
}

/// The heading line of one write.
fn line(w: &PlannedWrite, plan: Option<&Plan>) -> String {
    let arrow = match plan {
        Some(p) => p.direction_words(&w.table, &w.direction),
        None if w.direction == "right_to_left" => "right → left".into(),
        None => "left → right".into(),
    };
    let partner = w.dest_key.as_deref().unwrap_or("(new)");
    let why = match (w.action.as_str(), w.matched, &w.restores) {
        ("update", true, _) => " (a partner the match rules found; couples them)".to_string(),
        ("insert", _, Some(gone)) => format!(" (restores the deleted partner `{gone}`)"),
        ("delete", ..) => " (its partner was deleted)".to_string(),
        _ => String::new(),
    };
    format!(
        "{} {} ({arrow}): {} `{partner}` ← `{}`{why}\n",
        w.action,
        w.table,
        if w.action == "delete" {
            "source of"
        } else {
            "partner"
        },
        w.source_key
    )
}

/// Makes exactly the writes of a reviewed change set; exit 1 when some were refused because
/// their rows moved since the review, 130 or 143 when a signal stopped it after a batch.
pub fn apply(args: ApplyArgs) -> Result<ExitCode, CliError> {
    let json = args.output.json();
    let outcome = apply_set(args);
    // A script reading standard output gets a document however it ended, as from `run`.
    if let (true, Err(e)) = (json, &outcome) {
        runtime::print_json(&serde_json::json!({ "status": "failed", "error": e.to_string() }));
    }
    outcome
}

fn apply_set(args: ApplyArgs) -> Result<ExitCode, CliError> {
    let set = read(&args.file)?;
    let rt = runtime::open_with(
        &args.target,
        runtime::Needs {
            systems: true,
            dry_run: false,
        },
    )?;
    same_targets(&set, &rt.targets)?;
    // Ctrl-C or SIGTERM: the batch in flight is finished and the run recorded as interrupted.
    let stop = syncmap::schedule::Stop::default();
    let mut engine = rt.engine()?.with_cancel(stop.flag());
    let r = runtime::until_stopped(&stop, async {
        engine.apply(&set).await.map_err(runtime::engine_error)
    })?;
    runtime::print_report(&r, args.output.json());
    Ok(super::run::exit_code(&r, stop.signal()))
}
