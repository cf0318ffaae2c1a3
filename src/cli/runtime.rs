//! What every runtime command needs: the plan (from a plan file or compiled on the fly), the
//! profile, the state store and a connector per system.

use std::collections::BTreeMap;
use std::path::PathBuf;

use syncmap::diagnostics::render;
use syncmap::plan::Plan;
use syncmap::profile::Profile;
use syncmap::runtime::engine::{Engine, EngineError, Options};
use syncmap::runtime::systems::{AnyConnector, Systems};
use syncmap::state::Store;

use super::{companies, inputs, CliError};

/// The plan, systems and store of a command.
pub struct Runtime {
    /// The compiled plan.
    pub plan: Plan,
    /// Connectors by system alias.
    pub systems: Systems,
    /// The state store.
    pub store: Store,
    /// Run tuning from the profile.
    pub options: Options,
    /// Where each system is, as the profile says (URL and company, without credentials): what
    /// a change set is reviewed against.
    pub targets: BTreeMap<String, String>,
    /// Where `schedule` serves webhook notifications, as the profile says.
    pub listen: Option<syncmap::profile::ListenConfig>,
    /// How often `schedule` probes tracked tables, as the profile says.
    pub poll: syncmap::profile::PollConfig,
    /// The profile, as loaded.
    pub profile: Profile,
}

/// Where a system is, as a reviewer would recognise it: its URL without credentials, and its
/// company.
fn target_of(config: &syncmap::profile::SystemConfig) -> String {
    let url = match reqwest::Url::parse(&config.url) {
        Ok(mut u) if u.has_host() => {
            // Credentials never go in a file meant for review.
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => config.url.clone(),
    };
    match &config.company {
        Some(c) => format!("{url} (company {c})"),
        None => url,
    }
}

/// Where the plan comes from and which profile to use.
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// A plan file, or `.map` files and folders compiled on the fly; when absent, `plan.json`
    /// if the folder has one, else `mappings/` if it has one, else the current folder; when
    /// none of those holds a plan or a `.map` file, commands that read only the state store
    /// (`status`, `log`, `errors`, `retry`, `uncouple`) use the plan its latest run kept.
    #[arg(long = "plan", value_name = "PLAN|PATH", num_args = 1..)]
    pub plan: Vec<PathBuf>,
    /// The profile: where the systems and the state store are.
    #[arg(long, default_value = "syncmap.toml")]
    pub profile: PathBuf,
    /// The named profile (`[profiles.NAME]`) of a file that holds several; `$SYNCMAP_ENV`, then
    /// `default`, when absent.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// The company, of those the profile's `companies` names, whose records and state to
    /// work on.
    #[arg(long, value_name = "NAME")]
    pub company: Option<String>,
}

impl Target {
    /// The plan or sources to read: those given, else [`inputs::default_plan`].
    pub fn plan_paths(&self) -> Vec<PathBuf> {
        if self.plan.is_empty() {
            inputs::default_plan()
        } else {
            self.plan.clone()
        }
    }
}

/// Loads a plan file or compiles sources ([`inputs::default_plan`] when none are given).
pub fn load_plan(paths: &[PathBuf]) -> Result<Plan, CliError> {
    if paths.is_empty() {
        return load_plan(&inputs::default_plan());
    }
    if let [one] = paths {
        if one.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(one)
                .map_err(|e| CliError::Io(format!("cannot read `{}`: {e}", one.display())))?;
            return syncmap::plan::from_json(&text)
                .map_err(|e| CliError::Usage(format!("`{}`: {e}", one.display())));
        }
    }
    let c = inputs::compile(paths)?;
    if c.diagnostics.has_errors() || c.plan.is_none() {
        eprint!(
            "{}",
            render::human(&c.diagnostics, &c.project.sources, inputs::stderr_color())
        );
        return Err(CliError::Reported);
    }
    c.plan.ok_or(CliError::Reported)
}

/// Opens everything a command needs.
pub fn open(target: &Target) -> Result<Runtime, CliError> {
    open_with(
        target,
        Needs {
            systems: true,
            dry_run: false,
        },
    )
}

/// What a command needs opened.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    /// Connectors to the systems (commands that only read the state store need none).
    pub systems: bool,
    /// A dry run: the state store is opened read-only and nothing is created.
    pub dry_run: bool,
}

/// Opens what a command needs: the profile and the state store first, so a command that
/// reads only the store can fall back to the plan its last run kept there.
pub fn open_with(target: &Target, needs: Needs) -> Result<Runtime, CliError> {
    open_as(target, needs, false)
}

/// Opens what a worker needs: the runtime without connections, and every company's plan and
/// connections (one company's with `--company`).
pub fn open_for_workers(
    target: &Target,
) -> Result<(Runtime, Vec<syncmap::schedule::WorkerCompany>), CliError> {
    let needs = Needs {
        systems: true,
        dry_run: false,
    };
    let rt = open_as(target, needs, true)?;
    let companies = companies::all(target, &rt.profile, &rt.plan)?;
    Ok((rt, companies))
}

/// [`open_with`]; for `workers`, no company is chosen nor anything connected: the worker
/// connects each company itself.
fn open_as(target: &Target, needs: Needs, workers: bool) -> Result<Runtime, CliError> {
    let whole = Profile::load_env(&target.profile, target.env.as_deref())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    know_secrets(&whole);
    let store = if needs.dry_run {
        Store::open_read_only(&whole.state_url())
    } else {
        Store::open(&whole.state_url())
    }
    .map_err(|e| CliError::Io(e.to_string()))?;
    let plan = if target.plan.is_empty() && !needs.systems && !inputs::default_plan_found() {
        stored_plan(&store, &whole.state_url())?
    } else {
        load_plan(&target.plan_paths())?
    };
    companies::check_store(&whole, &store)?;
    let chosen = if workers {
        None
    } else {
        companies::chosen(&whole, target.company.as_deref())?
    };
    let (profile, plan) = match chosen {
        Some(company) => {
            store.set_company(&company.name);
            companies::scoped(&whole, &company, plan)
        }
        None => (whole.clone(), plan),
    };
    let systems = if needs.systems && !workers {
        connect(target, &plan, &profile)?
    } else {
        Systems::default()
    };
    let options = Options {
        page_size: profile.run.page_size,
        batch_size: profile.run.batch_size,
        history_runs: profile.run.history_runs,
        versions_first_from: profile.run.versions_first_from,
        ..Options::default()
    };
    let targets = profile
        .systems
        .iter()
        .map(|(alias, config)| (alias.clone(), target_of(config)))
        .collect();
    Ok(Runtime {
        plan,
        systems,
        store,
        options,
        targets,
        listen: profile.listen.clone(),
        poll: profile.poll,
        profile: whole,
    })
}

/// The plan the newest run kept in the store, for a folder that holds only the profile and
/// the store (a production host where the mappings were never copied).
fn stored_plan(store: &Store, url: &str) -> Result<Plan, CliError> {
    let text = store
        .latest_plan()
        .map_err(|e| CliError::Io(e.to_string()))?
        .ok_or_else(|| {
            CliError::Usage(format!(
                "no plan to read: --plan was not given, there is no plan.json here nor any .map \
                 file in mappings/ or the current folder, and the state store at {url} holds no \
                 plan recorded by an earlier run; pass --plan PLAN|PATH, or run where the plan \
                 or the mappings are"
            ))
        })?;
    let plan = syncmap::plan::from_json(&text).map_err(|e| {
        CliError::Usage(format!(
            "the plan recorded in the state store at {url} cannot be used: {e}; pass --plan \
             PLAN|PATH"
        ))
    })?;
    eprintln!(
        "note: no plan.json or .map files here; using the plan of the latest run ({})",
        plan.digest
    );
    Ok(plan)
}

/// A connector per system of the plan, configured by the profile.
pub(super) fn connect(
    target: &Target,
    plan: &Plan,
    profile: &Profile,
) -> Result<Systems, CliError> {
    let mut systems = Systems::default();
    for (alias, system) in &plan.systems {
        let config = profile.systems.get(alias).ok_or_else(|| {
            CliError::Usage(format!(
                "profile `{}` has no [systems.{alias}] section; the plan needs system `{alias}` ({})",
                target.profile.display(),
                system.kind
            ))
        })?;
        let conn = AnyConnector::open(alias, system, config, &profile.base)
            .map_err(|e| CliError::Io(e.to_string()))?;
        systems.0.insert(alias.clone(), conn);
    }
    Ok(systems)
}

impl Runtime {
    /// An engine over this runtime.
    pub fn engine(&self) -> Result<Engine<'_>, CliError> {
        Engine::new(&self.plan, &self.systems, &self.store, self.options.clone())
            .map_err(engine_error)
    }
}

/// An engine error as a command error.
pub fn engine_error(e: EngineError) -> CliError {
    match e {
        EngineError::Request(m) => CliError::Usage(m),
        other => CliError::Io(other.to_string()),
    }
}

/// Runs a run's future to its end on a runtime of its own; the first SIGINT or SIGTERM asks it
/// (through `stop`) to stop after the batch in flight, a second ends the process.
pub fn until_stopped<T>(
    stop: &syncmap::schedule::Stop,
    work: impl std::future::Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    block_on(async {
        super::signals::stop_on_signals(
            stop.clone(),
            "stopping: finishing the batch in flight and recording the run",
            Some("stopping after the batch in flight — press Ctrl-C again to abort"),
        )?;
        work.await
    })
    .and_then(|r| r)
}

/// Prints a run's report: JSON, or tables and sentences for people.
pub fn print_report(report: &syncmap::runtime::engine::RunReport, json: bool) {
    if json {
        print_json(report);
    } else {
        print!(
            "{}",
            syncmap::redact::redact(&syncmap::runtime::engine::report::human(report))
        );
    }
}

/// A runtime whose signal handlers ask `stop` to stop for as long as it lives, for a command
/// that makes several runs in turn (one per company): a signal that lands between two of them
/// is kept, and seen when the next one starts.
pub fn signal_runtime(stop: &syncmap::schedule::Stop) -> Result<tokio::runtime::Runtime, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        super::signals::stop_on_signals(
            stop.clone(),
            "stopping: finishing the batch in flight and recording the run",
            Some("stopping after the batch in flight — press Ctrl-C again to abort"),
        )
    })?;
    Ok(rt)
}

/// A single-threaded tokio runtime for a command.
pub fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io(format!("cannot start the async runtime: {e}")))?;
    Ok(rt.block_on(f))
}

/// Prints a value as pretty JSON on standard output.
/// Prints JSON, redacted: reports carry the services' messages.
pub fn print_json<T: serde::Serialize>(v: &T) {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    println!("{}", syncmap::redact::redact(&text));
}

/// Makes the profile's secrets known to the redactor before anything is printed or stored:
/// each system's secret (when its variable is set) and the passwords of URLs.
pub fn know_secrets(profile: &Profile) {
    syncmap::redact::register_url(&profile.state_url());
    for system in profile.systems.values() {
        syncmap::redact::register_url(&system.url);
        // Made only to be registered; a missing secret is reported where it is needed.
        let _ = system.secret();
    }
}
