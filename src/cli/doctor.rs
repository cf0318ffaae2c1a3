//! `syncmap doctor`: is everything in place to run this plan? For each system the plan uses it
//! checks, one step after the other, the profile's section and secret, the connection, the
//! credentials, the company, the tables, and how far the live schema drifted from the snapshot
//! the plan was compiled against; then the state store, and for each table mapping whether a
//! first full sync would couple the rows already there or stop rather than copy them. Exit 0 when every check passed (drift warnings allowed), 1
//! when one failed, 2 when the plan or profile cannot be read at all.

mod checks;
mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use syncmap::diagnostics::Diagnostics;
use syncmap::plan::Plan;
use syncmap::profile::Profile;
use syncmap::project::MapFile;
use syncmap::source::SourceMap;

use super::{inputs, runtime, CliError, Format};

/// `syncmap doctor`.
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// A plan file, or `.map` files and folders compiled on the fly (the same as `--plan`);
    /// when absent, `plan.json` if the folder has one, else `mappings/`, else the current folder.
    #[arg(value_name = "PLAN|PATH")]
    paths: Vec<PathBuf>,
    /// The same as the positional paths, spelled as `run` and the other commands spell it.
    #[arg(long = "plan", value_name = "PLAN|PATH", num_args = 1.., conflicts_with = "paths")]
    plan: Vec<PathBuf>,
    /// The profile: where the systems are and how to authenticate.
    #[arg(long, default_value = "syncmap.toml")]
    profile: PathBuf,
    /// The named profile (`[profiles.NAME]`); `$SYNCMAP_ENV`, then `default`, when absent.
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
    /// How to print the checks and the drift diagnostics.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// The company to check, of those the profile's `companies` names; the first when absent.
    #[arg(long, value_name = "NAME")]
    company: Option<String>,
}

/// The plan and what it was compiled from: the sources that drift diagnostics point into.
pub struct Inputs {
    /// The plan.
    pub plan: Plan,
    /// The `.map` files and snapshots (compiled), or the plan file and the snapshots found
    /// beside it.
    pub sources: SourceMap,
    /// The parsed `.map` files; empty for a plan file.
    pub maps: Vec<MapFile>,
    /// Per system: the snapshot and its source, or the plan file standing in for it.
    pub snapshots: std::collections::BTreeMap<String, checks::Snapshot>,
    /// The profile's file name, for messages.
    pub profile_name: String,
}

/// Runs every check and prints them.
pub fn run(args: DoctorArgs) -> Result<ExitCode, CliError> {
    let paths = match (args.paths.is_empty(), args.plan.is_empty()) {
        (false, _) => args.paths.clone(),
        (true, false) => args.plan.clone(),
        (true, true) => inputs::default_plan(),
    };
    let mut inputs = load(&paths)?;
    inputs.profile_name = args.profile.display().to_string();
    let whole = Profile::load_env(&args.profile, args.env.as_deref())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    runtime::know_secrets(&whole);
    let (profile, company) = one_company(&whole, &mut inputs, args.company.as_deref())?;
    let reports = runtime::block_on(async {
        let mut reports = checks::all(&inputs, &profile).await;
        let state = checks::state(&inputs, &profile, &company, &reports).await;
        reports.push(state);
        reports
    })?;
    let mut diagnostics = Diagnostics::new();
    for r in &reports {
        diagnostics.extend(r.drift.clone());
    }
    diagnostics.sort();
    let failed = reports
        .iter()
        .flat_map(|r| &r.checks)
        .any(|c| c.status == checks::Status::Failed);
    match args.format {
        Format::Human => print!(
            "{}",
            syncmap::redact::redact(&output::human(&reports, &diagnostics, &inputs.sources))
        ),
        Format::Json => runtime::print_json(&output::json(&reports, &diagnostics, &inputs.sources)),
        Format::Sarif => {
            runtime::print_json(&output::sarif(&reports, &diagnostics, &inputs.sources))
        }
    }
    Ok(if failed || diagnostics.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The profile and plan of the company checked, and its name in the state store (`""` for a
/// profile of one company): `--company`, else the first the profile names.
fn one_company(
    whole: &Profile,
    inputs: &mut Inputs,
    asked: Option<&str>,
) -> Result<(Profile, String), CliError> {
    let company = match (asked, whole.companies().first()) {
        (None, None) => return Ok((whole.clone(), String::new())),
        (Some(_), _) => super::companies::chosen(whole, asked)?,
        (None, Some(first)) => {
            eprintln!(
                "note: checking company `{}`, the profile's first; name another with --company",
                first.name
            );
            Some(first.clone())
        }
    };
    let Some(company) = company else {
        return Ok((whole.clone(), String::new()));
    };
    let (profile, plan) = super::companies::scoped(whole, &company, inputs.plan.clone());
    inputs.plan = plan;
    Ok((profile, company.name))
}

/// Reads a plan file (with the snapshots beside it, when its paths lead to them) or compiles
/// `.map` files; mappings with errors are reported as `check` reports them (exit 1).
fn load(paths: &[PathBuf]) -> Result<Inputs, CliError> {
    if let [one] = paths {
        if one.extension().is_some_and(|e| e == "json") {
            return load_plan_file(one);
        }
    }
    let c = inputs::compile(paths)?;
    let Some(plan) = c.plan.filter(|_| !c.diagnostics.has_errors()) else {
        eprint!(
            "{}",
            syncmap::diagnostics::render::human(
                &c.diagnostics,
                &c.project.sources,
                inputs::stderr_color()
            )
        );
        return Err(CliError::Reported);
    };
    let snapshots = c
        .project
        .schemas
        .iter()
        .map(|(alias, s)| {
            let snapshot = checks::Snapshot {
                schema: s.schema.clone(),
                file: s.file,
                is_plan: false,
            };
            (alias.clone(), snapshot)
        })
        .collect();
    Ok(Inputs {
        plan,
        sources: c.project.sources,
        maps: c.project.files,
        snapshots,
        profile_name: String::new(),
    })
}

fn load_plan_file(path: &Path) -> Result<Inputs, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Io(format!("cannot read `{}`: {e}", path.display())))?;
    let plan = syncmap::plan::from_json(&text)
        .map_err(|e| CliError::Usage(format!("`{}`: {e}", path.display())))?;
    let mut sources = SourceMap::new();
    let plan_file = sources.add(path.display().to_string(), text);
    let base = path.parent().unwrap_or(Path::new(""));
    let mut snapshots = std::collections::BTreeMap::new();
    for (alias, system) in &plan.systems {
        // The plan names each snapshot relative to the folder it was compiled in; a plan kept
        // beside its mappings finds them, another falls back to what the plan records.
        let found = std::fs::read_to_string(base.join(&system.schema))
            .ok()
            .and_then(|t| syncmap::schema::load(&t).ok().map(|s| (t, s)));
        let snapshot = match found {
            Some((text, schema)) => checks::Snapshot {
                schema,
                file: sources.add(system.schema.clone(), text),
                is_plan: false,
            },
            None => checks::Snapshot {
                schema: syncmap::drift::snapshot_of_plan(system),
                file: plan_file,
                is_plan: true,
            },
        };
        snapshots.insert(alias.clone(), snapshot);
    }
    Ok(Inputs {
        plan,
        sources,
        maps: Vec::new(),
        snapshots,
        profile_name: String::new(),
    })
}
