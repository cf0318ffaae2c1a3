//! The HTTP connectors against the sandbox; the figures go in docs/benchmarks.md.
//!
//! For each row count: a full sync of Business Central customers → Dataverse accounts (the
//! standard customers mapping, `--table customers`) against freshly seeded sandboxes, once with
//! writes in `$batch` requests sent concurrently, once with one request per record (same
//! concurrency), next to the sandbox's own raw ingest rate — account creates posted straight
//! to its `$batch` endpoint, no sync engine — which is the ceiling a sync can reach. Each row
//! also says how long Dataverse's store was held (the sandbox takes one request's reads and
//! writes at a time, so a store held the whole time bounds the measurement; held time is wall
//! time, which counts moments the holding thread waited for a core the client was using) and
//! the CPU time of the services' threads and of all the others (the sync, or the raw loader).
//!
//! `cargo bench --bench http` (rows from `SYNCMAP_BENCH_ROWS`, default `100000`; variants from
//! `SYNCMAP_BENCH_VARIANTS`, default all of
//! `raw,raw-bulk,raw-like,batched,whole,one-way,one-way-batch,single,match,latency,throttled`);
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
use syncmap::sandbox::person::{Person, Service};
use syncmap::sandbox::{AuthConfig, Faults, Limits, Sandbox, SandboxConfig, Seed};
use syncmap::state::Store;

#[path = "shared/cpu.rs"]
mod cpu;

/// The allocator the `syncmap` binary uses (see `src/main.rs`), so the figures are the tool's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        "| rows | what | time | rows/s | requests to Dataverse | MB from Dataverse | 429s | Dataverse's store held | services' CPU | client's CPU |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut notes = String::new();
    // `SYNCMAP_BENCH_VARIANTS=batched` (say) measures only some of
    // `raw,raw-bulk,raw-like,batched,whole,one-way,one-way-batch,single,match,latency,throttled`, to profile one of them.
    let variants = std::env::var("SYNCMAP_BENCH_VARIANTS").unwrap_or_default();
    let wanted = |v: &str| variants.is_empty() || variants.split(',').any(|w| w.trim() == v);
    for n in sizes {
        if wanted("raw") {
            let raw = rt.block_on(raw_ingest(n, Ingest::Batch))?;
            let what = "raw ingest: account creates in `$batch` of 1000, 4 in flight (ceiling)";
            table.push_str(&line(n, what, &raw));
        }
        if wanted("raw-bulk") {
            let raw = rt.block_on(raw_ingest(n, Ingest::Bulk))?;
            let what = "raw ingest: account creates in `CreateMultiple` of 1000, 4 in flight";
            table.push_str(&line(n, what, &raw));
        }
        if wanted("raw-like") {
            let raw = rt.block_on(raw_ingest(n, Ingest::LikeTheSync))?;
            let what =
                "raw ingest of accounts like the sync's (six fields, key and version answered)";
            table.push_str(&line(n, what, &raw));
        }
        for (name, setup, what) in sync_variants() {
            if wanted(name) {
                let measured = rt.block_on(sync(n, setup))?;
                table.push_str(&line(n, what, &measured));
            }
        }
        if wanted("latency") {
            notes.push_str(&latency(&rt, n, &mut table)?);
        }
        if wanted("throttled") {
            notes.push_str(&throttled(&rt, n, &mut table)?);
        }
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("\nMeasured on {cores} cores, {build} build, sandbox and sync in one process (`cargo bench --bench http`).\n\n{table}\n{notes}");
    Ok(())
}

/// Elapsed time, Dataverse requests, what Dataverse's answers weighed and 429 answers of one
/// measurement, and the CPU time the services' threads and all the others (the sync, or the
/// raw loader) spent meanwhile: which of them kept the cores busy.
struct Measured {
    time: Duration,
    requests: u64,
    bytes: u64,
    throttled: u64,
    /// How long Dataverse's store was held: it takes one request at a time.
    held: Duration,
    /// CPU time of the services' threads.
    services_cpu: Duration,
    /// CPU time of all the other threads: the sync, or the raw loader.
    client_cpu: Duration,
}

fn line(n: usize, what: &str, m: &Measured) -> String {
    format!(
        "| {n} | {what} | {:.2} s | {:.0} | {} | {:.1} | {} | {:.2} s | {:.2} s | {:.2} s |\n",
        m.time.as_secs_f64(),
        n as f64 / m.time.as_secs_f64().max(1e-9),
        m.requests,
        m.bytes as f64 / 1e6,
        m.throttled,
        m.held.as_secs_f64(),
        m.services_cpu.as_secs_f64(),
        m.client_cpu.as_secs_f64()
    )
}

/// The full syncs measured at the full row count: variant name, setup, and what the row says.
fn sync_variants() -> Vec<(&'static str, Setup, &'static str)> {
    let default = Setup::default;
    vec![
        ("batched", default(), "full sync, `$batch` writes (1000 per batch), 4 in flight"),
        (
            "whole",
            Setup { whole_rows: true, ..default() },
            "full sync, `$batch` writes, every row read whole (`versions_first_from = 0`)",
        ),
        (
            "one-way",
            Setup { one_way: true, ..default() },
            "full sync one way (customers → accounts), creates in `CreateMultiple`",
        ),
        (
            "one-way-batch",
            Setup { one_way: true, no_bulk: true, ..default() },
            "full sync one way, creates in `$batch` (`bulk_creates = false`)",
        ),
        (
            "single",
            one_per_record(Duration::ZERO),
            "full sync, one request per record, 4 in flight",
        ),
        (
            "match",
            Setup { accounts_first: true, ..default() },
            "full sync, every customer's account already there: matched, coupled and brought up to date",
        ),
    ]
}

/// One request per record, with this latency.
fn one_per_record(latency: Duration) -> Setup {
    Setup {
        batch_size: Some(1),
        latency,
        ..Setup::default()
    }
}

/// Services 20 ms away: `$batch` writes against one request per record, on at most 5,000
/// rows (one per record takes a request each). Returns the note on their ratio.
fn latency(rt: &tokio::runtime::Runtime, n: usize, table: &mut String) -> Result<String> {
    let n = n.min(5000);
    let latency = Duration::from_millis(20);
    let batched = rt.block_on(sync(
        n,
        Setup {
            latency,
            ..Setup::default()
        },
    ))?;
    table.push_str(&line(n, "20 ms away: full sync, `$batch` writes", &batched));
    let single = rt.block_on(sync(n, one_per_record(latency)))?;
    table.push_str(&line(
        n,
        "20 ms away: full sync, one request per record",
        &single,
    ));
    let one_way = |no_bulk, batch_size| Setup {
        latency,
        one_way: true,
        no_bulk,
        batch_size,
        ..Setup::default()
    };
    let bulk = rt.block_on(sync(n, one_way(false, None)))?;
    table.push_str(&line(
        n,
        "20 ms away: one way, creates in `CreateMultiple`",
        &bulk,
    ));
    let batch = rt.block_on(sync(n, one_way(true, None)))?;
    table.push_str(&line(n, "20 ms away: one way, creates in `$batch`", &batch));
    let each = rt.block_on(sync(n, one_way(true, Some(1))))?;
    table.push_str(&line(
        n,
        "20 ms away: one way, one request per record",
        &each,
    ));
    let times = |m: &Measured| m.time.as_secs_f64().max(1e-9);
    Ok(format!(
        "- {n} rows 20 ms away: `$batch` writes are {:.1}× as fast as one request per record.\n\
         - One way, 20 ms away: `CreateMultiple` is {:.1}× as fast as `$batch` and {:.1}× as fast as one request per record.\n",
        times(&single) / times(&batched),
        times(&batch) / times(&bulk),
        times(&each) / times(&bulk),
    ))
}

/// Both services throttled to 200 requests per 10 s (the real 6,000 per 300 s, time-scaled),
/// Dataverse writes 5 per `$batch` so that its budget binds, on at most 4,000 rows: paced to
/// the budget against meeting it as 429s. Returns the note on how much of what the budget
/// permits each reached.
fn throttled(rt: &tokio::runtime::Runtime, n: usize, table: &mut String) -> Result<String> {
    let n = n.min(4000);
    let (budget, window) = (200u32, Duration::from_secs(10));
    let setup = |paced| Setup {
        batch_size: Some(5),
        throttle: Some((budget, window)),
        paced,
        ..Setup::default()
    };
    let mut notes = String::new();
    for (paced, what) in [
        (
            true,
            "200 requests / 10 s: full sync, 5 writes per `$batch`, paced to the budget",
        ),
        (
            false,
            "200 requests / 10 s: full sync, 5 writes per `$batch`, not paced (429s)",
        ),
    ] {
        let m = rt.block_on(sync(n, setup(paced)))?;
        table.push_str(&line(n, what, &m));
        // A sliding window lets `budget` requests go at once and the next only when the
        // first has left the window: request `i` (from 0) cannot go before `i / budget`
        // windows have passed. The least time the requests sent could take:
        let windows = m.requests.saturating_sub(1) / u64::from(budget);
        let least = window.as_secs_f64() * windows as f64;
        notes.push_str(&format!(
            "- {n} rows, {}paced: {:.0} % of what the budget permits ({} requests to Dataverse in {:.1} s; {:.1} s at the least).\n",
            if paced { "" } else { "not " },
            100.0 * least / m.time.as_secs_f64().max(1e-9),
            m.requests,
            m.time.as_secs_f64(),
            least
        ));
    }
    Ok(notes)
}

/// The name of the services' threads.
const SERVICE_THREADS: &str = "services";

/// The services' own threads: a sandbox answering on the sync's threads would take turns
/// with it on them, as no real service does.
fn services() -> &'static tokio::runtime::Runtime {
    static SERVICES: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    SERVICES.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(SERVICE_THREADS)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("the services' runtime: {e}"))
    })
}

async fn start(secret: &str) -> Result<Sandbox> {
    let config = SandboxConfig {
        seed: Seed::Empty,
        auth: AuthConfig {
            client_secret: secret.to_string(),
            ..AuthConfig::default()
        },
        ..SandboxConfig::default()
    };
    Ok(services()
        .spawn(async move { Sandbox::start(config).await })
        .await??)
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

/// How the raw ingest posts its accounts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ingest {
    /// Accounts of two fields in `$batch` requests, nothing answered: what the service can
    /// take at most.
    Batch,
    /// The same accounts through `CreateMultiple`, which answers their keys.
    Bulk,
    /// Accounts carrying what the sync's do (a number, a name, a city, a phone and an email)
    /// in `$batch` requests, each create answering its key and version, as the sync asks.
    LikeTheSync,
}

/// Posts account creates straight to Dataverse, no sync engine.
async fn raw_ingest(n: usize, how: Ingest) -> Result<Measured> {
    let like_the_sync = how == Ingest::LikeTheSync;
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let sandbox = start(&secret).await?;
    let http = reqwest::Client::new();
    let bodies: Vec<Json> = (0..n)
        .map(|i| match like_the_sync {
            false => json!({ "name": format!("Raw account {i}"), "customertypecode": 3 }),
            true => json!({
                "name": format!("Customer {i:06}"),
                "accountnumber": format!("C{i:06}"),
                "address1_city": "Lyon",
                "telephone1": format!("+33 4 {i:08}"),
                "emailaddress1": format!("c{i}@example.com"),
                "customertypecode": 3,
            }),
        })
        .collect();
    let (threads, held) = (cpu::Threads::now(), sandbox.control().dv_store_held());
    let started = Instant::now();
    let returned = like_the_sync.then_some("?$select=accountid,modifiedon");
    if how == Ingest::Bulk {
        create_multiple(&http, &sandbox, &secret, bodies).await?;
    } else {
        post_accounts(&http, &sandbox, &secret, (bodies, returned)).await?;
    }
    let time = started.elapsed();
    let (services_cpu, client_cpu) = cpu::Threads::now().since(&threads, SERVICE_THREADS);
    let held = sandbox.control().dv_store_held().saturating_sub(held);
    let dv = sandbox.control().stats().dv;
    sandbox.shutdown().await;
    Ok(Measured {
        time,
        requests: dv.requests,
        bytes: dv.bytes_sent,
        throttled: 0,
        held,
        services_cpu,
        client_cpu,
    })
}

/// Creates these accounts through Dataverse's `$batch`, 1000 a request, 4 in flight; with a
/// `$select` to return, each create answers those columns of its row.
async fn post_accounts(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    secret: &str,
    (bodies, returned): (Vec<Json>, Option<&str>),
) -> Result<()> {
    let token = token(http, sandbox, &sandbox.dv_token_url(), secret).await?;
    let url = format!("{}/$batch", sandbox.dv_url());
    let accounts = format!("{}/accounts{}", sandbox.dv_url(), returned.unwrap_or(""));
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    if returned.is_some() {
        headers.push(("Prefer".into(), "return=representation".into()));
    }
    in_waves(&bodies, |chunk| {
        let parts: Vec<Part<HttpRequest>> = chunk
            .iter()
            .map(|body| {
                Part::Single(HttpRequest {
                    method: "POST".into(),
                    url: accounts.clone(),
                    headers: headers.clone(),
                    body: body.to_string().into_bytes(),
                })
            })
            .collect();
        let boundary = batch::new_boundary("batch_");
        http.post(&url)
            .bearer_auth(&token)
            .header("Content-Type", batch::content_type(&boundary))
            .header("Prefer", "odata.continue-on-error")
            .body(batch::encode_requests(&boundary, &parts))
    })
    .await
}

/// Sends one request per 1000 bodies, `LANES` at a time; an answer other than a success fails
/// the load.
async fn in_waves(
    bodies: &[Json],
    request: impl Fn(&[Json]) -> reqwest::RequestBuilder,
) -> Result<()> {
    let chunks: Vec<&[Json]> = bodies.chunks(1000).collect();
    for wave in chunks.chunks(LANES) {
        let sends = wave.iter().map(|chunk| request(chunk).send());
        for r in futures_util::future::join_all(sends).await {
            let r = r?;
            if !r.status().is_success() {
                return Err(format!("creating accounts: {}", r.status()).into());
            }
        }
    }
    Ok(())
}

/// Creates these accounts through Dataverse's `CreateMultiple`, 1000 a request, 4 in flight.
async fn create_multiple(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    secret: &str,
    bodies: Vec<Json>,
) -> Result<()> {
    let token = token(http, sandbox, &sandbox.dv_token_url(), secret).await?;
    let url = format!(
        "{}/accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        sandbox.dv_url()
    );
    let typed: Vec<Json> = bodies
        .into_iter()
        .map(|mut b| {
            b["@odata.type"] = json!("Microsoft.Dynamics.CRM.account");
            b
        })
        .collect();
    in_waves(&typed, |chunk| {
        http.post(&url)
            .bearer_auth(&token)
            .header("Content-Type", "application/json")
            .body(json!({ "Targets": chunk }).to_string())
    })
    .await
}

/// An account for each customer, with its number and name but not its city or phone: what
/// a Dataverse already holding the records looks like before its first sync.
async fn accounts_for_customers(
    http: &reqwest::Client,
    sandbox: &Sandbox,
    secret: &str,
) -> Result<()> {
    let customers = Person::new(sandbox, secret)
        .rows(Service::BusinessCentral, "customers")
        .await?;
    let bodies = customers
        .iter()
        .map(|c| {
            json!({
                "name": c["displayName"],
                "accountnumber": c["number"],
                "customertypecode": 3,
            })
        })
        .collect();
    post_accounts(http, sandbox, secret, (bodies, None)).await
}

/// Every customer became exactly one account with its name, city and phone: speed never
/// hides a lost or doubled record.
async fn complete_and_exact(sandbox: &Sandbox, secret: &str, n: usize) -> Result<()> {
    let person = Person::new(sandbox, secret);
    let mut accounts: Vec<(String, String, String)> = person
        .rows(Service::Dataverse, "accounts")
        .await?
        .iter()
        .filter(|a| {
            a["name"]
                .as_str()
                .is_some_and(|s| s.starts_with("Customer "))
        })
        .map(|a| {
            let text = |f: &str| a[f].as_str().unwrap_or_default().to_string();
            (text("name"), text("address1_city"), text("telephone1"))
        })
        .collect();
    accounts.sort();
    let expected: Vec<(String, String, String)> = (0..n)
        .map(|i| {
            (
                format!("Customer {i:06}"),
                "Lyon".to_string(),
                format!("+33 4 {i:08}"),
            )
        })
        .collect();
    if accounts != expected {
        let extra = accounts.len() as i64 - n as i64;
        return Err(format!(
            "the accounts are not the customers: {} accounts for {n} customers ({extra:+})",
            accounts.len()
        )
        .into());
    }
    Ok(())
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

/// The standard mappings; with `one_way`, customers flow only to Dataverse.
fn standard_plan(one_way: bool) -> Result<Plan> {
    let standard = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let copy = tempfile::tempdir()?;
    std::fs::create_dir_all(copy.path().join("schemas"))?;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&standard)?.chain(std::fs::read_dir(standard.join("schemas"))?) {
        let from = entry?.path();
        if from.is_dir() {
            continue;
        }
        let relative = from.strip_prefix(&standard)?;
        let mut text = std::fs::read_to_string(&from)?;
        if one_way && relative == std::path::Path::new("customers.map") {
            // The table mapping alone (its tests sync both ways), every arrow one way.
            let table = text.split("\ntest ").next().unwrap_or_default();
            text = table
                .replace(" <-> ", " -> ")
                .replace("on conflict: fail\n", "");
        }
        let to = copy.path().join(relative);
        std::fs::write(&to, text)?;
        if to.extension().is_some_and(|x| x == "map") {
            files.push(to);
        }
    }
    files.sort();
    syncmap::compile(&files, &FsLoader)?
        .plan
        .ok_or_else(|| "the standard mappings do not compile".into())
}

/// How one measured sync talks to the sandbox.
#[derive(Clone, Copy, Default)]
struct Setup {
    /// Writes per Dataverse request (`Some(1)`: one request per record); the service's 1000
    /// when `None`.
    batch_size: Option<usize>,
    /// Both services throttle to this many requests per window.
    throttle: Option<(u32, Duration)>,
    /// Whether the client paces itself to that budget (else it meets 429s).
    paced: bool,
    /// Added before every answer, as a service far away.
    latency: Duration,
    /// Dataverse already holds an account for every customer, which the match rule
    /// (`number == accountnumber`) must find: the state store starts empty.
    accounts_first: bool,
    /// Every pass reads whole rows (`versions_first_from = 0`).
    whole_rows: bool,
    /// Customers flow one way, to Dataverse: creates may go in `CreateMultiple`.
    one_way: bool,
    /// With `one_way`, creates go in `$batch` all the same (`bulk_creates = false`).
    no_bulk: bool,
}

/// A full sync of `n` customers into an empty Dataverse, checked complete and exact.
async fn sync(n: usize, setup: Setup) -> Result<Measured> {
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let sandbox = start(&secret).await?;
    let http = reqwest::Client::new();
    load_customers(&http, &sandbox, &secret, n).await?;
    if setup.accounts_first {
        accounts_for_customers(&http, &sandbox, &secret).await?;
    }
    let budget = match (setup.throttle, setup.paced) {
        (Some((requests, window)), true) => format!(
            "rate_limit = {{ requests = {requests}, seconds = {} }}",
            window.as_secs()
        ),
        _ => "rate_limit = false".to_string(),
    };
    let mut text = sandbox.profile_toml("UNUSED");
    text = text.replace("rate_limit = false", &budget);
    if let Some(b) = setup.batch_size {
        text = text.replace(
            "[systems.dv]\n",
            &format!("[systems.dv]\nbatch_size = {b}\n"),
        );
    }
    if setup.no_bulk {
        text = text.replace("[systems.dv]\n", "[systems.dv]\nbulk_creates = false\n");
    }
    let profile = Profile::parse(&text)?;
    let plan = standard_plan(setup.one_way)?;
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
        versions_first_from: if setup.whole_rows {
            0
        } else {
            Options::default().versions_first_from
        },
        ..Options::default()
    };
    sandbox.control().set_limits(Limits {
        requests_per_window: setup.throttle,
        ..Limits::default()
    });
    sandbox.control().set_faults(Faults {
        delay: setup.latency,
        ..Faults::default()
    });
    sandbox.control().reset_stats();
    let (threads, held) = (cpu::Threads::now(), sandbox.control().dv_store_held());
    let started = Instant::now();
    let report = Engine::new(&plan, &systems, &store, options)?
        .run(&RunRequest {
            tables: vec!["customers".into()],
            trigger: "bench".into(),
            ..RunRequest::new(Mode::Full)
        })
        .await?;
    let time = started.elapsed();
    let (services_cpu, client_cpu) = cpu::Threads::now().since(&threads, SERVICE_THREADS);
    let held = sandbox.control().dv_store_held().saturating_sub(held);
    let counts = report
        .pass("customers", "left_to_right")
        .map(|p| p.counts.clone())
        .unwrap_or_default();
    let (made, expected) = if setup.accounts_first {
        (counts.coupled, "coupled")
    } else {
        (counts.inserted, "created")
    };
    if made != n as u64 || (setup.accounts_first && counts.inserted != 0) {
        return Err(
            format!("expected {n} accounts {expected}, the run made {made}: {counts:?}").into(),
        );
    }
    let stats = sandbox.control().stats();
    sandbox.control().set_limits(Limits::default());
    sandbox.control().set_faults(Faults::default());
    complete_and_exact(&sandbox, &secret, n).await?;
    sandbox.shutdown().await;
    Ok(Measured {
        time,
        requests: stats.dv.requests,
        bytes: stats.dv.bytes_sent,
        throttled: stats.throttled,
        held,
        services_cpu,
        client_cpu,
    })
}
