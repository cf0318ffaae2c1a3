//! How soon a change reaches the other system while `syncmap schedule` runs, and what a quiet
//! system costs; the figures go in docs/benchmarks.md.
//!
//! The release binary runs `schedule --listen` against the demo sandboxes with one job whose
//! interval is an hour, so only Business Central's webhook notifications and the probes of
//! Dataverse's change tracking can bring its runs forward. A person changes a customer's phone
//! in Business Central, waits until Dataverse holds it, then renames an account in Dataverse
//! and waits until Business Central holds it, and so on: each latency is from the person's
//! write being answered to the sandbox answering the sync's write (an event, not a poll), and
//! the value is then read back, so a loss fails the bench. The sandbox notifies 1 s after a
//! change (Business Central online waits 30 s; on-premises the delay is a setting).
//!
//! Then the cost of quiet: requests to both services over the same quiet two minutes, twice
//! (while the waits grow, then once they have), by a scheduler with only its interval (`every 5s idle 40s`, time-scaled from the reference's
//! `every 30m idle 12h`), and by one that also listens and probes; both read Dataverse by its
//! change tracking, so only the waking differs.
//!
//! `cargo bench --bench events` (changes per direction from `SYNCMAP_BENCH_CHANGES`, default
//! 20; each quiet window from `SYNCMAP_BENCH_QUIET_SECS`, default 120); `cargo test --benches` runs it with 2 changes and a short quiet window as a smoke test.

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use syncmap::sandbox::person::{Person, Service};
use syncmap::sandbox::{AuthConfig, Sandbox, SandboxConfig, Seed};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const SECRET_ENV: &str = "SYNCMAP_BENCH_SECRET";

/// The longest a change may take before the bench gives up on it.
const GIVE_UP: Duration = Duration::from_secs(120);

fn main() -> Result<()> {
    let bench = std::env::args().any(|a| a == "--bench");
    let changes: usize = match bench {
        true => std::env::var("SYNCMAP_BENCH_CHANGES")
            .unwrap_or_else(|_| "20".into())
            .parse()?,
        false => 2,
    };
    let quiet = match bench {
        true => std::env::var("SYNCMAP_BENCH_QUIET_SECS")
            .unwrap_or_else(|_| "120".into())
            .parse()?,
        false => 5,
    };
    let quiet = Duration::from_secs(quiet);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (to_dv, to_bc) = rt.block_on(latencies(changes, true))?;
    let (hooks_alone, _) = rt.block_on(latencies(changes, false))?;
    println!("| direction | changes | median | p90 | max |\n|---|---:|---:|---:|---:|");
    for (what, l) in [
        ("Business Central → Dataverse", &to_dv),
        ("Dataverse → Business Central", &to_bc),
        (
            "Business Central → Dataverse, webhooks alone (no probes)",
            &hooks_alone,
        ),
    ] {
        println!(
            "| {what} | {} | {:.2} s | {:.2} s | {:.2} s |",
            l.len(),
            quantile(l, 0.5),
            quantile(l, 0.9),
            quantile(l, 1.0)
        );
    }
    for (what, l) in [("to Dataverse", &to_dv), ("to Business Central", &to_bc)] {
        let each: Vec<String> = l.iter().map(|t| format!("{t:.2}")).collect();
        println!("\n{what}, each (s): {}", each.join(" "));
    }
    let [(alone_ramp, alone_steady), (events_ramp, events_steady)] =
        rt.block_on(quiet_cost(quiet))?;
    let ratio = |a: u64, b: u64| b as f64 / a.max(1) as f64;
    println!(
        "\n| quiet, {} s each | interval alone | listening and probing | ratio |\n|---|---:|---:|---:|",
        quiet.as_secs()
    );
    println!(
        "| while the waits grow | {alone_ramp} | {events_ramp} | {:.2}× |",
        ratio(alone_ramp, events_ramp)
    );
    println!(
        "| once they have grown | {alone_steady} | {events_steady} | {:.2}× |",
        ratio(alone_steady, events_steady)
    );
    Ok(())
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

/// A demo sandbox that notifies a second after a change, with a folder holding a profile for
/// it (`profile` appended) and the standard mappings with `jobs`.
struct World {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    secret: String,
}

impl World {
    async fn start(profile: &str, jobs: &str) -> Result<World> {
        let secret = format!("bench-{}", uuid::Uuid::new_v4().simple());
        let mut config = SandboxConfig {
            seed: Seed::Demo,
            auth: AuthConfig {
                client_secret: secret.clone(),
                ..AuthConfig::default()
            },
            ..SandboxConfig::default()
        };
        config.limits.notify_delay = Duration::from_secs(1);
        let sandbox = Sandbox::start(config).await?;
        let dir = tempfile::tempdir()?;
        let text = format!("{}\n{profile}", sandbox.profile_toml(SECRET_ENV));
        std::fs::write(dir.path().join("syncmap.toml"), text)?;
        let w = World {
            sandbox,
            dir,
            secret,
        };
        w.syncmap(&["init", "--defaults", "maps"])?;
        std::fs::write(w.dir.path().join("maps/jobs.map"), jobs)?;
        w.syncmap(&["run", "--mode", "full", "--plan", "maps"])?;
        Ok(w)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_syncmap"));
        c.args(args)
            .env(SECRET_ENV, &self.secret)
            .env_remove("SYNCMAP_ENV")
            .env_remove("SYNCMAP_LOG")
            .current_dir(self.dir.path());
        c
    }

    fn syncmap(&self, args: &[&str]) -> Result<()> {
        let out = self.command(args).output()?;
        if !out.status.success() {
            return Err(
                format!("syncmap {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into(),
            );
        }
        Ok(())
    }

    /// `syncmap schedule ARGS`, once it logged `ready`.
    fn schedule(&self, args: &[&str], ready: &str) -> Result<Child> {
        let mut child = self
            .command(&[
                "schedule",
                "--plan",
                "maps",
                "--metrics",
                "off",
                "--log-format",
                "json",
            ])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        loop {
            let line = lines
                .next()
                .ok_or("the scheduler ended before it was ready")??;
            if line.contains(ready) {
                break;
            }
        }
        // The rest of the log is read (and dropped) so the scheduler never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(child)
    }

    fn person(&self) -> Person<'_> {
        Person::new(&self.sandbox, &self.secret)
    }
}

fn stop(mut child: Child) -> Result<()> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    child.wait()?;
    Ok(())
}

/// Seconds each change took, sorted, per direction; with `probes` off, Dataverse is not
/// probed (only webhooks wake the job) and only Business Central's changes are made.
async fn latencies(changes: usize, probes: bool) -> Result<(Vec<f64>, Vec<f64>)> {
    let poll = if probes {
        "seconds = 1\nidle_seconds = 2"
    } else {
        "seconds = 0"
    };
    let w = World::start(
        &format!("changes = \"tracking\"\n\n[poll]\n{poll}\n"),
        "job customers { sync modified customers every 1h }\n",
    )
    .await?;
    let child = w.schedule(
        &["--listen", "127.0.0.1:0"],
        "subscribed to the table's changes",
    )?;
    let person = w.person();
    let (cid, aid, name) = coupled_pair(&person).await?;
    let (mut to_dv, mut to_bc) = (Vec::new(), Vec::new());
    for k in 0..changes {
        let phone = format!("+1 555 {:04}", 1000 + k);
        let took = change_and_wait(
            &w,
            Service::BusinessCentral,
            ("customers", &cid),
            json!({ "phoneNumber": phone }),
            || async {
                let rows = person.rows(Service::Dataverse, "accounts").await?;
                Ok(rows
                    .iter()
                    .any(|a| a["accountid"] == aid.as_str() && a["telephone1"] == phone.as_str()))
            },
        )
        .await?;
        to_dv.push(took);
        // Not in the instant the last change arrived: the run that wrote it may still be
        // reading the other way, and would take a change made then at once.
        tokio::time::sleep(pause(k)).await;
        if !probes {
            continue;
        }
        let renamed = format!("{name} ({k})");
        let took = change_and_wait(
            &w,
            Service::Dataverse,
            ("accounts", &aid),
            json!({ "name": renamed }),
            || async {
                let rows = person.rows(Service::BusinessCentral, "customers").await?;
                Ok(rows
                    .iter()
                    .any(|c| c["id"] == cid.as_str() && c["displayName"] == renamed.as_str()))
            },
        )
        .await?;
        to_bc.push(took);
        tokio::time::sleep(pause(k + 1)).await;
    }
    stop(child)?;
    to_dv.sort_by(f64::total_cmp);
    to_bc.sort_by(f64::total_cmp);
    Ok((to_dv, to_bc))
}

/// How long the person waits before the next change: 0.5 to 3 s, spread evenly (a fixed
/// sequence), so the changes fall anywhere in the service's notification windows and between
/// probes rather than always at the same point of them.
fn pause(k: usize) -> Duration {
    Duration::from_millis(500 + (k as u64 * 737) % 2500)
}

/// A customer, its account and its name.
async fn coupled_pair(person: &Person<'_>) -> Result<(String, String, String)> {
    let customers = person.rows(Service::BusinessCentral, "customers").await?;
    let customer = customers
        .iter()
        .find(|c| c["blocked"] == " ")
        .ok_or("no open customer")?;
    let (cid, name) = (text(customer, "id")?, text(customer, "displayName")?);
    let accounts = person.rows(Service::Dataverse, "accounts").await?;
    let account = accounts
        .iter()
        .find(|a| a["name"] == name.as_str())
        .ok_or("the customer's account is not there")?;
    Ok((cid, text(account, "accountid")?, name))
}

/// Makes a change as a person, then waits for the sandbox's next writes until `arrived` says
/// the other side holds it; the seconds in between.
async fn change_and_wait<F, Fut>(
    w: &World,
    service: Service,
    (table, key): (&str, &str),
    body: Json,
    arrived: F,
) -> Result<f64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<bool, String>>,
{
    let control = w.sandbox.control();
    w.person().patch(service, table, key, body).await?;
    let start = Instant::now();
    let mut seen = control.writes();
    loop {
        seen += 1;
        tokio::time::timeout(GIVE_UP, control.writes_reach(seen))
            .await
            .map_err(|_| "a change did not arrive")?;
        // The time of the write's answer; reading it back is not part of it.
        let took = start.elapsed().as_secs_f64();
        if arrived().await? {
            return Ok(took);
        }
    }
}

fn text(row: &Json, name: &str) -> Result<String> {
    Ok(row[name]
        .as_str()
        .ok_or_else(|| format!("no `{name}` in {row}"))?
        .to_string())
}

/// Requests both services answered over two windows of `quiet` each (while the waits grow,
/// then once they have), by a scheduler that has only its interval and by one that also
/// listens and probes, side by side.
async fn quiet_cost(quiet: Duration) -> Result<[(u64, u64); 2]> {
    let (alone, events) = tokio::join!(quiet_world(false, quiet), quiet_world(true, quiet));
    Ok([alone?, events?])
}

/// Requests answered in each window of `quiet`, from the scheduler's first run on.
async fn quiet_world(events: bool, quiet: Duration) -> Result<(u64, u64)> {
    let jobs = "job customers { sync modified customers every 5s idle 40s }\n";
    let profile = if events {
        "changes = \"tracking\"\n"
    } else {
        "changes = \"tracking\"\n\n[poll]\nseconds = 0\n"
    };
    let w = World::start(profile, jobs).await?;
    let args: &[&str] = if events {
        &["--listen", "127.0.0.1:0"]
    } else {
        &[]
    };
    // Counted from the first run on: subscribing costs two requests once, at start.
    let child = w.schedule(args, "job scheduled")?;
    let control = w.sandbox.control();
    control.reset_stats();
    tokio::time::sleep(quiet).await;
    let ramp = control.stats().requests;
    tokio::time::sleep(quiet).await;
    let steady = control.stats().requests - ramp;
    stop(child)?;
    w.sandbox.shutdown().await;
    Ok((ramp, steady))
}
