//! The HTTP connectors against the sandbox; the figures go in docs/benchmarks.md.
//!
//! For each row count: a full sync of Business Central customers → Dataverse accounts (the
//! standard customers mapping, `--table customers`) against freshly seeded sandboxes, once with
//! writes in `$batch` requests sent concurrently, once with one request per record (same
//! concurrency), next to the sandbox's own raw ingest rate — account creates posted straight
//! to its `$batch` endpoint, no sync engine — which is the ceiling a sync can reach.
//!
//! `cargo bench --bench http` (rows from `SYNCMAP_BENCH_ROWS`, default `100000`; variants from
//! `SYNCMAP_BENCH_VARIANTS`, default `raw,batched,single`);
//! `cargo test --benches` runs it once with 300 rows as a smoke test.

use std::error::Error;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use syncmap::connectors::odata::flavor::Flavor;
use syncmap::connectors::odata::ODataConnector;
use syncmap::odata::batch::{self, HttpRequest, Part};
use syncmap::odata::json_batch;
use syncmap::plan::Plan;
use syncmap::profile::{Profile, Secret};
use syncmap::project::FsLoader;
use syncmap::runtime::engine::{Engine, Mode, Options, RunRequest};
use syncmap::runtime::systems::{AnyConnector, Systems};
use syncmap::sandbox::{AuthConfig, Sandbox, SandboxConfig, Seed};
use syncmap::state::Store;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Requests the loaders keep in flight.
const LANES: usize = 4;

fn main() -> Result<()> {
    let bench = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = if bench {
        std::env::var("SYNCMAP_BENCH_ROWS")
            .unwrap_or_else(|_| "100000".into())
            .split(',')
            .map(|s| s.trim().replace('_', "").parse::<usize>())
            .collect::<std::result::Result<_, _>>()?
    } else {
        vec![300]
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut table = String::from(
        "| rows | what | time | rows/s | requests to Dataverse |\n|---:|---|---:|---:|---:|\n",
    );
    // `SYNCMAP_BENCH_VARIANTS=batched` (say) measures only some of `raw,batched,single`, to
    // profile one of them.
    let variants = std::env::var("SYNCMAP_BENCH_VARIANTS").unwrap_or_default();
    let wanted = |v: &str| variants.is_empty() || variants.split(',').any(|w| w.trim() == v);
    for n in sizes {
        if wanted("raw") {
            let raw = rt.block_on(raw_ingest(n))?;
            table.push_str(&line(
                n,
                "raw ingest: account creates in `$batch` of 1000, 4 in flight (ceiling)",
                raw,
            ));
        }
        if wanted("batched") {
            let batched = rt.block_on(sync(n, None))?;
            table.push_str(&line(
                n,
                "full sync, `$batch` writes (1000 per batch), 4 in flight",
                batched,
            ));
        }
        if wanted("single") {
            let single = rt.block_on(sync(n, Some(1)))?;
            table.push_str(&line(
                n,
                "full sync, one request per record, 4 in flight",
                single,
            ));
        }
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("\nMeasured on {cores} cores, {build} build, sandbox and sync in one process (`cargo bench --bench http`).\n\n{table}");
    Ok(())
}

/// Elapsed time and Dataverse requests of one measurement.
struct Measured {
    time: Duration,
    requests: u64,
}

fn line(n: usize, what: &str, m: Measured) -> String {
    format!(
        "| {n} | {what} | {:.2} s | {:.0} | {} |\n",
        m.time.as_secs_f64(),
        n as f64 / m.time.as_secs_f64().max(1e-9),
        m.requests
    )
}

async fn start(secret: &str) -> Result<Sandbox> {
    Ok(Sandbox::start(SandboxConfig {
        seed: Seed::Empty,
        auth: AuthConfig {
            client_secret: secret.to_string(),
            ..AuthConfig::default()
        },
        ..SandboxConfig::default()
    })
    .await?)
}

async fn token(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    url: &str,
    secret: &str,
) -> Result<String> {
    let r: Json = http
        .post(url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", sandbox.auth().client_id.as_str()),
            ("client_secret", secret),
        ])
        .send()
        .await?
        .json()
        .await?;
    Ok(r["access_token"].as_str().ok_or("no token")?.to_string())
}

/// Posts account creates straight to Dataverse's `$batch`: what the service can take at most.
async fn raw_ingest(n: usize) -> Result<Measured> {
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let sandbox = start(&secret).await?;
    let http = reqwest::Client::new();
    let token = token(&http, &sandbox, &sandbox.dv_token_url(), &secret).await?;
    let url = format!("{}/$batch", sandbox.dv_url());
    let accounts = format!("{}/accounts", sandbox.dv_url());
    let started = Instant::now();
    let chunks: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(1000)
        .map(<[usize]>::to_vec)
        .collect();
    for wave in chunks.chunks(LANES) {
        let sends = wave.iter().map(|chunk| {
            let parts: Vec<Part<HttpRequest>> = chunk
                .iter()
                .map(|i| {
                    Part::Single(HttpRequest {
                        method: "POST".into(),
                        url: accounts.clone(),
                        headers: vec![("Content-Type".into(), "application/json".into())],
                        body: json!({ "name": format!("Raw account {i}"), "customertypecode": 3 })
                            .to_string()
                            .into_bytes(),
                    })
                })
                .collect();
            let boundary = batch::new_boundary("batch_");
            http.post(&url)
                .bearer_auth(&token)
                .header("Content-Type", batch::content_type(&boundary))
                .header("Prefer", "odata.continue-on-error")
                .body(batch::encode_requests(&boundary, &parts))
                .send()
        });
        for r in futures_util::future::join_all(sends).await {
            let r = r?;
            if !r.status().is_success() {
                return Err(format!("raw ingest: {}", r.status()).into());
            }
        }
    }
    let time = started.elapsed();
    let requests = sandbox.control().stats().dv.requests;
    sandbox.shutdown().await;
    Ok(Measured { time, requests })
}

/// Loads `n` customers into Business Central through its JSON `$batch`.
async fn load_customers(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    secret: &str,
    n: usize,
) -> Result<()> {
    let token = token(http, sandbox, &sandbox.bc_token_url(), secret).await?;
    let companies: Json = http
        .get(format!("{}/companies", sandbox.bc_url()))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let company = companies["value"]
        .as_array()
        .and_then(|v| v.iter().find(|c| c["name"] == sandbox.company_name()))
        .and_then(|c| c["id"].as_str())
        .ok_or("no company")?
        .to_string();
    let url = format!("{}/$batch", sandbox.bc_url());
    let chunks: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(100)
        .map(<[usize]>::to_vec)
        .collect();
    for wave in chunks.chunks(LANES) {
        let sends = wave.iter().map(|chunk| {
            let requests = chunk
                .iter()
                .map(|i| json_batch::Request {
                    id: i.to_string(),
                    method: "POST".into(),
                    url: format!("companies({company})/customers"),
                    headers: [("Content-Type".to_string(), "application/json".to_string())].into(),
                    body: Some(json!({
                        "displayName": format!("Customer {i:06}"),
                        "city": "Lyon",
                        "phoneNumber": format!("+33 4 {i:08}"),
                        "email": format!("c{i}@example.com"),
                        "blocked": " ",
                    })),
                    atomicity_group: None,
                    depends_on: Vec::new(),
                })
                .collect();
            http.post(&url)
                .bearer_auth(&token)
                .json(&json_batch::BatchRequest { requests })
                .send()
        });
        for r in futures_util::future::join_all(sends).await {
            let r = r?;
            if !r.status().is_success() {
                return Err(format!("loading customers: {}", r.status()).into());
            }
        }
    }
    Ok(())
}

fn standard_plan() -> Result<Plan> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "map"))
        .collect();
    files.sort();
    syncmap::compile(&files, &FsLoader)?
        .plan
        .ok_or_else(|| "the standard mappings do not compile".into())
}

/// A full sync of `n` customers into an empty Dataverse; `batch_size = Some(1)` sends one
/// request per record.
async fn sync(n: usize, batch_size: Option<usize>) -> Result<Measured> {
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let sandbox = start(&secret).await?;
    let http = reqwest::Client::new();
    load_customers(&http, &sandbox, &secret, n).await?;
    let mut text = sandbox.profile_toml("UNUSED");
    if let Some(b) = batch_size {
        text = text.replace(
            "[systems.dv]\n",
            &format!("[systems.dv]\nbatch_size = {b}\n"),
        );
    }
    let profile = Profile::parse(&text)?;
    let plan = standard_plan()?;
    let mut systems = Systems::default();
    for (alias, system) in &plan.systems {
        let flavor = Flavor::of_kind(system.kind).ok_or("no connector")?;
        let c = ODataConnector::open(
            &profile.systems[alias],
            flavor,
            Some(Secret::new(secret.clone())),
        )?;
        systems
            .0
            .insert(alias.clone(), AnyConnector::OData(Box::new(c)));
    }
    let dir = tempfile::tempdir()?;
    let store = Store::open(&format!(
        "sqlite://{}",
        dir.path().join("state.db").display()
    ))?;
    let options = Options {
        page_size: 5000,
        batch_size: 1000,
        ..Options::default()
    };
    sandbox.control().reset_stats();
    let started = Instant::now();
    let report = Engine::new(&plan, &systems, &store, options)?
        .run(&RunRequest {
            tables: vec!["customers".into()],
            trigger: "bench".into(),
            ..RunRequest::new(Mode::Full)
        })
        .await?;
    let time = started.elapsed();
    let inserted = report
        .pass("customers", "left_to_right")
        .map_or(0, |p| p.counts.inserted);
    if inserted != n as u64 {
        return Err(format!("expected {n} accounts created, the run made {inserted}").into());
    }
    let requests = sandbox.control().stats().dv.requests;
    sandbox.shutdown().await;
    Ok(Measured { time, requests })
}
