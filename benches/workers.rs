//! Workers sharing a plan's jobs, each authenticating as its own application user, against
//! sandboxes that throttle each user to the real services' rate (6,000 requests per 300 s,
//! time-scaled to 20 per second): records per second with 1, 2 and 3 workers, and each as a
//! ratio to one worker's, measured in the same run. The figures go in docs/benchmarks.md.
//!
//! The plan is the standard mappings with two jobs, full syncs of customers and of vendors
//! (both from Business Central to Dataverse accounts), so there are two units to share.
//!
//! `SYNCMAP_BENCH_POSTGRES=$(.ci/postgres) cargo bench --bench workers` (rows per table from
//! `SYNCMAP_BENCH_ROWS`, default 1000).

#[path = "shared/database.rs"]
mod database;

use std::error::Error;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use database::Database;
use serde_json::json;
use syncmap::sandbox::person::{Person, Service};
use syncmap::sandbox::{AuthConfig, Limits, Sandbox, SandboxConfig, Seed};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The real services' budget per user, 6,000 requests per 300 s, time-scaled to one second.
const BUDGET: (u32, Duration) = (20, Duration::from_secs(1));
/// Writes per `$batch`: the requests per record a sync makes, so the budget is what limits it.
const BATCH: usize = 20;
const JOBS: &str = "job customers { sync full customers every 1h }\n\
                    job vendors { sync full vendors every 1h }\n";

fn main() -> Result<()> {
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize = match bench {
        true => std::env::var("SYNCMAP_BENCH_ROWS").map_or(Ok(1000), |s| s.parse())?,
        false => 40,
    };
    // `cargo test --benches` runs it once, small, on the tests' server.
    let server = std::env::var("SYNCMAP_BENCH_POSTGRES")
        .or_else(|_| std::env::var("SYNCMAP_TEST_POSTGRES"))
        .map_err(|_| "SYNCMAP_BENCH_POSTGRES must name a PostgreSQL server: $(.ci/postgres)")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut table = String::from(
        "| workers (users) | rows | time | records/s | vs 1 worker | 429s |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut first = None;
    for workers in 1..=3 {
        let m = measure(&rt, &server, workers, n)?;
        let base = *first.get_or_insert(m.secs);
        table.push_str(&format!(
            "| {workers} | {} | {:.2} s | {:.0} | {:.2} | {} |\n",
            2 * n,
            m.secs,
            (2 * n) as f64 / m.secs,
            base / m.secs,
            m.throttled
        ));
    }
    println!("{table}");
    Ok(())
}

struct Measured {
    secs: f64,
    throttled: u64,
}

/// One measurement: fresh sandboxes and a fresh store, `workers` workers each its own user.
fn measure(
    rt: &tokio::runtime::Runtime,
    server: &str,
    workers: usize,
    n: usize,
) -> Result<Measured> {
    let secrets: Vec<String> = (0..3)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    let config = SandboxConfig {
        seed: Seed::Empty,
        auth: AuthConfig {
            client_secret: secrets[0].clone(),
            more_clients: vec![
                ("bench-user-2".into(), secrets[1].clone()),
                ("bench-user-3".into(), secrets[2].clone()),
            ],
            ..AuthConfig::default()
        },
        ..SandboxConfig::default()
    };
    let sandbox = rt.block_on(Sandbox::start(config))?;
    rt.block_on(seed(&sandbox, &secrets[0], n))?;
    let control = sandbox.control();
    control.set_limits(Limits {
        requests_per_window: Some(BUDGET),
        ..Limits::default()
    });
    let db = Database::new(rt, server, "workers", workers as u64)?;
    let dir = tempfile::tempdir()?;
    write_project(dir.path(), &sandbox, &db.url())?;
    let started = Instant::now();
    let children: Vec<_> = (0..workers)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_syncmap"))
                .args([
                    "worker",
                    "--until-idle",
                    "--metrics",
                    "off",
                    "--plan",
                    "maps",
                ])
                .args(["--profile", &format!("syncmap-{i}.toml")])
                .env("BENCH_SECRET", &secrets[i])
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        })
        .collect::<std::result::Result<_, _>>()?;
    for mut c in children {
        let status = c.wait()?;
        if !status.success() {
            return Err(format!("a worker failed: {status}").into());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let throttled = control.stats().throttled;
    control.set_limits(Limits::default());
    let accounts =
        rt.block_on(Person::new(&sandbox, &secrets[0]).rows(Service::Dataverse, "accounts"))?;
    if accounts.len() != 2 * n + 2 {
        return Err(format!("{} accounts for {} records and two", accounts.len(), 2 * n).into());
    }
    rt.block_on(sandbox.shutdown());
    db.drop_now(rt)?;
    Ok(Measured { secs, throttled })
}

/// `n` customers and `n` vendors in Business Central, and in Dataverse a customer account and
/// a vendor account already there. A destination that holds rows makes a first full sync match before it creates
/// (see docs/runtime.md, "No table copied by a new store"): with it there from the start, every
/// unit does that work however the workers' runs fall, as with a real Dataverse.
async fn seed(sandbox: &Sandbox, secret: &str, n: usize) -> Result<()> {
    let person = Person::new(sandbox, secret);
    for (name, kind) in [
        ("An account already there", 3),
        ("A vendor already there", 11),
    ] {
        let body = json!({ "name": name, "customertypecode": kind, "statecode": 0 });
        person.create(Service::Dataverse, "accounts", body).await?;
    }
    for (table, name) in [("customers", "Customer"), ("vendors", "Vendor")] {
        for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
            let made = futures_util::future::join_all(chunk.iter().map(|i| {
                let body = json!({ "displayName": format!("{name} {i:06}"), "blocked": " " });
                person.create(Service::BusinessCentral, table, body)
            }))
            .await;
            for m in made {
                m?;
            }
        }
    }
    Ok(())
}

/// The standard mappings with the two jobs, and a profile per user.
fn write_project(dir: &Path, sandbox: &Sandbox, state: &str) -> Result<()> {
    let init = Command::new(env!("CARGO_BIN_EXE_syncmap"))
        .args(["init", "--defaults", "maps"])
        .current_dir(dir)
        .output()?;
    if !init.status.success() {
        return Err(String::from_utf8_lossy(&init.stderr).into_owned().into());
    }
    std::fs::write(dir.join("maps/jobs.map"), JOBS)?;
    for i in 0..3 {
        let profile = sandbox
            .profile_toml_as(i, "BENCH_SECRET")
            .ok_or("a user of the sandbox")?
            .replace("sqlite://.syncmap/state.db", state);
        std::fs::write(
            dir.join(format!("syncmap-{i}.toml")),
            format!("{profile}\n[run]\nbatch_size = {BATCH}\n"),
        )?;
    }
    Ok(())
}
