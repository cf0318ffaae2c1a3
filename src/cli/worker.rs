//! `syncmap worker`: takes due units of the plan's jobs from the shared state store until
//! SIGINT or SIGTERM, serving `/metrics` and `/healthz`; `--until-idle` exits once nothing is
//! due.

use std::process::ExitCode;
use std::sync::Arc;

use jiff::tz::TimeZone;
use syncmap::schedule::{Health, Stop, Summary, Worker};
use syncmap::state::{LeaseKind, StateError};

use super::runtime::{self, Target};
use super::schedule::{as_service, exit_code, http_stats, metrics_addr, serve_metrics};
use super::CliError;

/// `syncmap worker`.
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// A plan file, or `.map` files and folders compiled on the fly (the same as `--plan`).
    paths: Vec<std::path::PathBuf>,
    #[command(flatten)]
    target: Target,
    /// Where to serve `/metrics` and `/healthz` (`HOST:PORT`; port 0 picks one), or `off`.
    /// 127.0.0.1:9464 by default; off by default with `--until-idle`.
    #[arg(long, value_name = "ADDR|off")]
    metrics: Option<String>,
    /// Run due units until none is due (none held by another worker either), then exit: 0
    /// when all went well, 1 when records failed, 2 when a run failed.
    #[arg(long)]
    until_idle: bool,
    // `json` needs `--until-idle`: a summary of the units run.
    #[command(flatten)]
    output: super::output::OutputArgs,
}

/// Runs the worker until stopped (or idle).
pub fn run(mut args: WorkerArgs) -> Result<ExitCode, CliError> {
    if !args.paths.is_empty() {
        args.target.plan = std::mem::take(&mut args.paths);
    }
    if args.output.json() && !args.until_idle {
        return Err(CliError::Usage(
            "--format json needs --until-idle: a worker that runs until stopped reports in its \
             log (--log-format json) and on /metrics, not in one document"
                .into(),
        ));
    }
    let metrics_addr = metrics_addr(args.metrics.as_deref(), args.until_idle)?;
    let (rt, companies) = runtime::open_for_workers(&args.target)?;
    // A scheduler runs every job itself: workers beside it would only wait for its runs.
    if let Some(holder) = rt
        .store
        .holder(&LeaseKind::Scheduler)
        .map_err(|e| CliError::Io(e.to_string()))?
    {
        return Err(CliError::Usage(
            StateError::SchedulerBusy {
                path: rt.store.label(),
                holder: Some(holder),
            }
            .to_string(),
        ));
    }
    let until_idle = args.until_idle;
    let summary = as_service(|stop| async {
        serve_and_work(&rt, &companies, until_idle, metrics_addr, stop).await
    })?;
    if args.output.json() {
        runtime::print_json(&summary);
    }
    Ok(exit_code(&summary, until_idle))
}

/// Serves metrics while the worker runs.
async fn serve_and_work(
    rt: &runtime::Runtime,
    companies: &[syncmap::schedule::WorkerCompany],
    until_idle: bool,
    metrics_addr: Option<std::net::SocketAddr>,
    stop: Stop,
) -> Result<Summary, CliError> {
    let health = Arc::new(Health::default());
    let stats = companies
        .iter()
        .flat_map(|c| http_stats(&c.company, &c.systems))
        .collect();
    let metrics = Arc::new(syncmap::schedule::Metrics::new(stats));
    let server = serve_metrics(metrics_addr, &metrics, &health).await?;
    let worker = Worker::new(
        companies,
        &rt.store,
        rt.options.clone(),
        stop,
        TimeZone::system(),
    );
    let outcome = match worker {
        Ok(w) => {
            w.with_health(health)
                .with_metrics(metrics)
                .run(until_idle)
                .await
        }
        Err(e) => Err(e),
    };
    if let Some(s) = server {
        s.stop().await;
    }
    outcome.map_err(|e| CliError::Io(e.to_string()))
}
