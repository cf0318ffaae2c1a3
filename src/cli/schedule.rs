//! `syncmap schedule`: runs the plan's jobs until SIGINT or SIGTERM, serving `/metrics` and
//! `/healthz`; `--once` runs every job once and exits (for cron).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use syncmap::schedule::listen::{self, Hooks};
use syncmap::schedule::server::Server;
use syncmap::schedule::wake::Wakeups;
use syncmap::schedule::webhooks::tables_to_watch;
use syncmap::schedule::{Health, Metrics, Scheduler, Stop, Summary};
use syncmap::state::LeaseKind;

use super::runtime::{self, Target};
use super::CliError;

/// Where metrics are served unless told otherwise (the port Prometheus exporters commonly
/// take for applications).
const DEFAULT_METRICS: &str = "127.0.0.1:9464";

/// `syncmap schedule`.
#[derive(clap::Args, Debug)]
pub struct ScheduleArgs {
    /// A plan file, or `.map` files and folders compiled on the fly (the same as `--plan`).
    paths: Vec<std::path::PathBuf>,
    #[command(flatten)]
    target: Target,
    /// Where to serve `/metrics` and `/healthz` (`HOST:PORT`; port 0 picks one), or `off`.
    /// 127.0.0.1:9464 by default; off by default with `--once`.
    #[arg(long, value_name = "ADDR|off")]
    metrics: Option<String>,
    /// Run every job once, in dependency order, and exit: 0 when all went well, 1 when records
    /// failed, 2 when a run failed.
    #[arg(long)]
    once: bool,
    /// Serve Business Central's webhook notifications on this address (`HOST:PORT`), and
    /// subscribe to the changes of the tables the jobs read, so a change wakes its job within
    /// seconds; the profile's `[listen] addr` when absent.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The URL the service calls to reach the endpoint (behind a proxy or a public host
    /// name); the profile's `[listen] url`, else `http://ADDR`.
    #[arg(long, value_name = "URL")]
    listen_url: Option<String>,
    // `json` needs `--once`: a summary of the jobs run (name, run id, status, counts).
    #[command(flatten)]
    output: super::output::OutputArgs,
}

/// Runs the scheduler until stopped.
pub fn run(mut args: ScheduleArgs) -> Result<ExitCode, CliError> {
    if !args.paths.is_empty() {
        args.target.plan = std::mem::take(&mut args.paths);
    }
    if args.output.json() && !args.once {
        return Err(CliError::Usage(
            "--format json needs --once: a scheduler that runs until stopped reports in its log \
             (--log-format json) and on /metrics, not in one document"
                .into(),
        ));
    }
    let metrics_addr = metrics_addr(args.metrics.as_deref(), args.once)?;
    let profile =
        syncmap::profile::Profile::load_env(&args.target.profile, args.target.env.as_deref())
            .map_err(|e| CliError::Usage(e.to_string()))?;
    if !profile.companies().is_empty() {
        return Err(CliError::Usage(
            "the profile syncs several companies: `syncmap worker` runs their jobs (one or \
             more workers share them), `syncmap schedule` runs the jobs of a profile of one \
             company"
                .into(),
        ));
    }
    let rt = runtime::open(&args.target)?;
    // `--once` runs each job once and listens for nothing.
    let listen = match args.once {
        true => None,
        false => listen_config(&args, &rt)?,
    };
    // Held until the process ends: a second scheduler on this store refuses to start.
    let scheduler_lease = rt
        .store
        .take_lease(LeaseKind::Scheduler)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let once = args.once;
    let summary = as_service(|stop| async {
        if let Some(lost) = scheduler_lease.as_ref().map(|l| l.lost_flag()) {
            watch_lease(lost, stop.clone());
        }
        serve_and_run(&rt, once, metrics_addr, listen, stop).await
    })?;
    if args.output.json() {
        runtime::print_json(&summary);
    }
    Ok(exit_code(&summary, once))
}

/// Runs `work` as a service: on several threads (the endpoints answer on one while the loop,
/// whose state store is not shared between threads, runs on this one), stopped after its batch
/// in flight by SIGINT or SIGTERM.
pub(super) fn as_service<T, F: std::future::Future<Output = Result<T, CliError>>>(
    work: impl FnOnce(Stop) -> F,
) -> Result<T, CliError> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Io(format!("cannot start the async runtime: {e}")))?;
    tokio.block_on(async {
        let stop = Stop::default();
        super::signals::stop_on_signals(
            stop.clone(),
            "stopping: finishing the batch in flight and recording the run",
            None,
        )?;
        work(stop).await
    })
}

/// Serves metrics (and notifications, when listening) while the scheduler runs.
async fn serve_and_run(
    rt: &runtime::Runtime,
    once: bool,
    metrics_addr: Option<SocketAddr>,
    listen: Option<(SocketAddr, Option<String>)>,
    stop: Stop,
) -> Result<Summary, CliError> {
    let health = Arc::new(Health::default());
    let metrics = Arc::new(http_metrics(rt));
    let server = serve_metrics(metrics_addr, &metrics, &health).await?;
    let wakeups = Arc::new(Wakeups::default());
    let (listener, hooks) = match listen.filter(|_| !once) {
        Some(l) => listen_for_changes(&l, rt, &wakeups).await?,
        None => (None, None),
    };
    let scheduler = Scheduler::new(&rt.plan, &rt.systems, &rt.store, rt.options.clone(), stop);
    let outcome = match scheduler {
        Ok(s) => {
            s.with_health(health)
                .with_metrics(metrics)
                .with_events(wakeups, hooks, &rt.poll)
                .run(once)
                .await
        }
        Err(e) => Err(e),
    };
    if let Some(l) = listener {
        l.stop().await;
    }
    if let Some(s) = server {
        s.stop().await;
    }
    outcome.map_err(|e| CliError::Io(e.to_string()))
}

/// The metrics of the run, with the HTTP statistics of each service system.
pub(super) fn http_metrics(rt: &runtime::Runtime) -> Metrics {
    Metrics::new(http_stats("", &rt.systems))
}

/// The HTTP statistics of a company's systems, by alias (after the company, when there is
/// one: `CRONUS 2/bc`).
pub(super) fn http_stats(
    company: &str,
    systems: &syncmap::runtime::systems::Systems,
) -> Vec<(String, Arc<syncmap::connectors::odata::client::Stats>)> {
    systems
        .0
        .iter()
        .filter_map(|(alias, c)| {
            let name = syncmap::state::unit_name(company, alias);
            c.http_stats().map(|s| (name, s))
        })
        .collect()
}

/// Serves `/metrics` and `/healthz` on `addr`, when metrics are wanted.
pub(super) async fn serve_metrics(
    addr: Option<SocketAddr>,
    metrics: &Arc<Metrics>,
    health: &Arc<Health>,
) -> Result<Option<Server>, CliError> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let s = Server::start(addr, metrics.clone(), health.clone())
        .await
        .map_err(|e| {
            CliError::Io(format!(
                "cannot serve metrics on {addr}: {e}; choose another address with --metrics ADDR, or --metrics off"
            ))
        })?;
    tracing::info!(addr = %s.addr, "serving /metrics and /healthz");
    Ok(Some(s))
}

/// Where to listen for notifications and the URL the service calls: the flags, else the
/// profile's `[listen]`.
fn listen_config(
    args: &ScheduleArgs,
    rt: &runtime::Runtime,
) -> Result<Option<(SocketAddr, Option<String>)>, CliError> {
    let profile_url = rt.listen.as_ref().and_then(|l| l.url.clone());
    let addr = match (&args.listen, &rt.listen) {
        (Some(a), _) => a.clone(),
        (None, Some(l)) => l.addr.clone(),
        (None, None) if args.listen_url.is_some() => {
            return Err(CliError::Usage(
                "--listen-url needs an address to listen on: --listen ADDR or [listen] addr".into(),
            ))
        }
        (None, None) => return Ok(None),
    };
    let url = args.listen_url.clone().or(profile_url);
    let addr = addr.parse::<SocketAddr>().map_err(|_| {
        CliError::Usage(format!(
            "the listen address `{addr}` is not an address like 0.0.0.0:8787 (--listen or [listen] addr)"
        ))
    })?;
    if addr.ip().is_unspecified() && url.is_none() {
        return Err(CliError::Usage(format!(
            "listening on {addr} (every interface), the service needs to be told where to call: give --listen-url URL or [listen] url"
        )));
    }
    if let Some(u) = &url {
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(CliError::Usage(format!(
                "the listen URL `{u}` must start with https:// (or http://): it is where the service sends notifications"
            )));
        }
    }
    Ok(Some((addr, url)))
}

/// Serves the notification endpoint for the systems whose tables the jobs read and which
/// offer webhooks; the hooks and the URL the scheduler subscribes with.
async fn listen_for_changes(
    (addr, url): &(SocketAddr, Option<String>),
    rt: &runtime::Runtime,
    wakeups: &Arc<Wakeups>,
) -> Result<(Option<Server>, Option<(Arc<Hooks>, String)>), CliError> {
    let watch = tables_to_watch(&rt.plan, &rt.systems);
    if watch.is_empty() {
        tracing::warn!("--listen: no job reads a table of a system that offers webhooks (Business Central); not listening");
        return Ok((None, None));
    }
    let hooks = Arc::new(Hooks::new(watch.into_keys(), wakeups.clone()));
    let listener = listen::serve(*addr, hooks.clone()).await.map_err(|e| {
        CliError::Io(format!(
            "cannot listen for notifications on {addr}: {e}; choose another address with --listen ADDR"
        ))
    })?;
    let url = url
        .clone()
        .unwrap_or_else(|| format!("http://{}", listener.addr));
    tracing::info!(addr = %listener.addr, url = %url, "serving webhook notifications");
    Ok((Some(listener), Some((hooks, url))))
}

/// The address to serve metrics on, if any.
pub(super) fn metrics_addr(arg: Option<&str>, once: bool) -> Result<Option<SocketAddr>, CliError> {
    let text = match arg {
        Some(a) if a.eq_ignore_ascii_case("off") => return Ok(None),
        Some(a) => a,
        None if once => return Ok(None),
        None => DEFAULT_METRICS,
    };
    text.parse().map(Some).map_err(|_| {
        CliError::Usage(format!(
            "--metrics `{text}` is not an address like 127.0.0.1:9464 (or `off`)"
        ))
    })
}

/// Stopped by a signal: 0, the work in flight being saved. Otherwise (`--once`, or no job due
/// again) as `run`: 1 when records failed, 2 when a run failed.
pub(super) fn exit_code(s: &Summary, once: bool) -> ExitCode {
    if s.stopped && !once {
        ExitCode::SUCCESS
    } else if s.failed_runs > 0 {
        ExitCode::from(2)
    } else if s.failed_records > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Stops the scheduler if another process takes its lease over (this one stopped renewing it,
/// say after the machine slept past the lease's expiry): two schedulers must not run one store.
fn watch_lease(lost: std::sync::Arc<std::sync::atomic::AtomicBool>, stop: Stop) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(syncmap::state::lease::HEARTBEAT);
        loop {
            tick.tick().await;
            if lost.load(std::sync::atomic::Ordering::Relaxed) {
                tracing::error!("the scheduler lease was taken over by another process; stopping");
                stop.request();
                return;
            }
        }
    });
}
