//! Workers sharing a plan's jobs, each authenticating as its own application user, against
//! sandboxes that throttle each user to the real services' rate (6,000 requests per 300 s,
//! time-scaled to 20 per second): records per second with 1, 2 and 3 workers, and each as a
//! ratio to one worker's, measured in the same run. The figures go in docs/benchmarks.md.
//!
//! The plan is the standard mappings with two jobs, full syncs of customers and of vendors
//! (both from Business Central to Dataverse accounts), for six Business Central companies
//! into one Dataverse: twelve units to share.
//!
//! `SYNCMAP_BENCH_POSTGRES=$(.ci/postgres) cargo bench --bench workers` (rows per table and
//! company from `SYNCMAP_BENCH_ROWS`, default 300).

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
/// Companies besides the first.
const MORE_COMPANIES: usize = 5;
/// Tables synced per company.
const TABLES: usize = 2;

fn main() -> Result<()> {
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize = match bench {
        true => std::env::var("SYNCMAP_BENCH_ROWS").map_or(Ok(300), |s| s.parse())?,
        false => 10,
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
        "| workers (users) | records (6 companies) | time | records/s | vs 1 worker | 429s |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    let records = n * TABLES * (MORE_COMPANIES + 1);
    let mut first = None;
    for workers in 1..=3 {
        let m = measure(&rt, &server, workers, n)?;
        let base = *first.get_or_insert(m.secs);
        table.push_str(&format!(
            "| {workers} | {records} | {:.2} s | {:.0} | {:.2} | {} |\n",
            m.secs,
            records as f64 / m.secs,
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
        more_companies: MORE_COMPANIES,
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
                .stderr(std::fs::File::create(
                    dir.path().join(format!("worker-{i}.log")),
                )?)
                .spawn()
        })
        .collect::<std::result::Result<_, _>>()?;
    for (i, mut c) in children.into_iter().enumerate() {
        let status = c.wait()?;
        if !status.success() {
            let log = std::fs::read_to_string(dir.path().join(format!("worker-{i}.log")))?;
            let tail: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .take(20)
                .collect();
            return Err(format!(
                "worker {i} failed: {status}; its warnings:\n{}",
                tail.join("\n")
            )
            .into());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let throttled = control.stats().throttled;
    control.set_limits(Limits::default());
    let accounts =
        rt.block_on(Person::new(&sandbox, &secrets[0]).rows(Service::Dataverse, "accounts"))?;
    check_accounts(&sandbox, &accounts, n)?;
    rt.block_on(sandbox.shutdown());
    db.drop_now(rt)?;
    Ok(Measured { secs, throttled })
}

/// Each company's `n` customers and `n` vendors are its accounts, once each, beside the two
/// it had: speed never hides a record lost or doubled.
fn check_accounts(sandbox: &Sandbox, accounts: &[serde_json::Value], n: usize) -> Result<()> {
    let company_of = |a: &serde_json::Value| {
        a["_bcbi_companyid_value"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_default()
    };
    let mut expected: Vec<String> = Vec::new();
    for name in sandbox.company_names() {
        let id = sandbox
            .dataverse_company_id(&name)
            .ok_or("a company's id")?;
        expected.extend(std::iter::repeat_n(id, TABLES * n + 2));
    }
    let mut found: Vec<String> = accounts.iter().map(company_of).collect();
    expected.sort();
    found.sort();
    let mut names: Vec<(String, String)> = accounts
        .iter()
        .map(|a| {
            (
                company_of(a),
                a["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let before = names.len();
    names.sort();
    names.dedup();
    if found != expected || names.len() != before {
        return Err(format!(
            "{} accounts, {} distinct by company and name, for {} records and two a company",
            accounts.len(),
            names.len(),
            expected.len()
        )
        .into());
    }
    Ok(())
}

/// In each company `n` customers and `n` vendors in Business Central, and in Dataverse a
/// customer account and a vendor account of the company already there. A destination that holds rows makes a first full sync match before it creates
/// (see docs/runtime.md, "No table copied by a new store"): with it there from the start, every
/// unit does that work however the workers' runs fall, as with a real Dataverse.
async fn seed(sandbox: &Sandbox, secret: &str, n: usize) -> Result<()> {
    let person = Person::new(sandbox, secret);
    for company in sandbox.company_names() {
        let id = sandbox
            .dataverse_company_id(&company)
            .ok_or("a company's id")?;
        for (name, kind) in [
            ("An account already there", 3),
            ("A vendor already there", 11),
        ] {
            let body = json!({
                "name": name, "customertypecode": kind, "statecode": 0,
                "bcbi_companyid@odata.bind": format!("/bcbi_companies({id})"),
            });
            person.create(Service::Dataverse, "accounts", body).await?;
        }
    }
    for company in sandbox.company_names() {
        let person = Person::new(sandbox, secret).in_company(&company);
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
    }
    Ok(())
}

/// The standard mappings with the two jobs, and a profile per user that syncs every company.
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
            .companies_profile_toml_as(i, "BENCH_SECRET")
            .ok_or("a user of the sandbox")?
            .replace("sqlite://.syncmap/state.db", state);
        std::fs::write(
            dir.join(format!("syncmap-{i}.toml")),
            format!("{profile}\n[run]\nbatch_size = {BATCH}\n"),
        )?;
    }
    Ok(())
}
