//! Tests of `syncmap schedule` (written with the feature): the real binary runs short jobs
//! (`every 1s idle 4s`) of the standard mappings against both sandboxes started in this process,
//! while a person changes records on both sides; its JSON logs, `/metrics`, `/healthz`, exit
//! codes and the runs it recorded (`syncmap log --json`) are what is checked.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use syncmap::runtime::engine::{Engine, Mode, Progress};
use syncmap::sandbox::person::Service;
use syncmap::sandbox::{Faults, SandboxConfig, Seed};
use syncmap::state::Direction;

/// Two SQLite systems shaped like the standard tables, for the engine's stop without timing.
use crate::support;
use crate::support::wire::Wire;

/// How long anything awaited may take before the test fails (generous: three builds may share
/// the machine's two cores).
const DEADLINE: Duration = Duration::from_secs(90);

/// Both sandboxes, a folder with a profile for them and the standard mappings in `maps/` with
/// the test's jobs (see [`Wire`]).
pub(crate) struct Env(pub(crate) Wire);

impl std::ops::Deref for Env {
    type Target = Wire;

    fn deref(&self) -> &Wire {
        &self.0
    }
}

impl Env {
    /// `run` is added to the profile (a `[run]` section); `jobs` replaces `maps/jobs.map`.
    pub(crate) fn start(tune: impl FnOnce(&mut SandboxConfig), run: &str, jobs: &str) -> Env {
        let w = Wire::start(|c| {
            c.seed = Seed::Demo;
            tune(c);
        });
        w.write_profile(run);
        std::fs::write(w.maps().join("jobs.map"), jobs).unwrap();
        Env(w)
    }

    /// Starts `syncmap schedule ARGS` with JSON logs going to `NAME.log`.
    pub(crate) fn schedule(&self, name: &str, args: &[&str]) -> Scheduler {
        let log = self.path().join(format!("{name}.log"));
        let child = self
            .command(&["schedule", "--log-format", "json"])
            .args(args)
            .args(["--plan", "maps", "--profile", "syncmap.toml"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Scheduler {
            child,
            log,
            secret: self.secret.clone(),
        }
    }

    /// The runs recorded, newest first.
    fn runs(&self) -> Vec<Json> {
        let out = self.syncmap(&["log", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<Json>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// One run with its counts.
    fn run_detail(&self, id: i64) -> Json {
        let out = self.syncmap(&["log", "--json", "--run", &id.to_string()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<Json>(&out.stdout).unwrap()["run"].clone()
    }

    /// `GET http://ADDR/PATH`: status and body.
    pub(crate) fn get(&self, addr: &str, path: &str) -> (u16, String) {
        self.rt.block_on(async {
            let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A running `syncmap schedule`, killed if the test ends before it does.
pub(crate) struct Scheduler {
    pub(crate) child: Child,
    log: PathBuf,
    secret: String,
}

impl Scheduler {
    /// The log so far, one JSON object per line (a line being written is left out).
    pub(crate) fn events(&self) -> Vec<Json> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(
            !log.contains(&self.secret),
            "the secret appeared in the log"
        );
        log.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub(crate) fn raw_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for an event the predicate accepts, among those from index `from` on; its index
    /// and the event.
    pub(crate) fn wait_for(
        &mut self,
        what: &str,
        from: usize,
        pred: impl Fn(&Json) -> bool,
    ) -> (usize, Json) {
        let start = Instant::now();
        loop {
            if let Some(found) = self
                .events()
                .into_iter()
                .enumerate()
                .skip(from)
                .find(|(_, e)| pred(e))
            {
                return found;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the scheduler ended ({status}) before {what}:\n{}",
                    self.raw_log()
                );
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no {what} within {DEADLINE:?}:\n{}",
                self.raw_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM, as a service manager stopping it would, and waits for the exit.
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(kill.success());
        self.wait()
    }

    pub(crate) fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "still running {DEADLINE:?} later:\n{}",
                self.raw_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) fn is(e: &Json, message: &str) -> bool {
    e["message"] == message
}

/// The value of the sample `name{labels}` in a Prometheus text page.
pub(crate) fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{series}` in\n{page}"))
        .trim()
        .parse()
        .unwrap()
}

pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "not {what} within {DEADLINE:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A customer job that backs off quickly, and a nightly one that must not run during the test.
const JOBS: &str = "job customers { sync modified customers every 1s idle 4s }\n\
                    job nightly { sync full at 03:00 }\n";

#[test]
fn a_scheduler_keeps_both_sides_in_step_backs_off_when_idle_serves_metrics_and_stops_on_sigterm() {
    let env = Env::start(|_| {}, "", JOBS);
    // A full sync couples everything first; the job then syncs what changes.
    let full = env.syncmap(&["run", "--mode", "full"]);
    assert!(full.status.success(), "{}", text(&full.stderr));
    let mut s = env.schedule("schedule", &["--metrics", "127.0.0.1:0"]);
    let (_, serving) = s.wait_for("the metrics address", 0, |e| {
        is(e, "serving /metrics and /healthz")
    });
    let addr = serving["addr"].as_str().unwrap().to_string();

    // Nothing changes: the wait doubles up to the idle timeout.
    let scheduled = |e: &Json, reason: &str, wait: u64| {
        is(e, "job scheduled")
            && e["job"] == "customers"
            && e["reason"] == reason
            && e["wait_seconds"] == wait
    };
    let (i2, _) = s.wait_for("an idle wait of 2 s", 0, |e| scheduled(e, "idle", 2));
    let (i4, _) = s.wait_for("an idle wait of 4 s", i2, |e| scheduled(e, "idle", 4));
    assert!(i2 < i4);
    // The nightly job is announced for 03:00 and does not run now.
    let nightly = s
        .events()
        .into_iter()
        .find(|e| is(e, "job scheduled") && e["job"] == "nightly")
        .expect("the nightly job's due time is logged");
    assert_eq!(nightly["reason"], "start");
    let due: jiff::Timestamp = nightly["next_due"].as_str().unwrap().parse().unwrap();
    assert!(due > jiff::Timestamp::now(), "{nightly}");

    // A person changes a customer in Business Central and another in Dataverse.
    let customer = env
        .rows(Service::BusinessCentral, "customers")
        .into_iter()
        .find(|c| c["blocked"] == " ")
        .unwrap();
    let name = customer["displayName"].as_str().unwrap().to_string();
    env.patch(
        Service::BusinessCentral,
        "customers",
        customer["id"].as_str().unwrap(),
        json!({ "phoneNumber": "+1 555 0142" }),
    );
    let account = env
        .rows(Service::Dataverse, "accounts")
        .into_iter()
        .find(|a| a["customertypecode"] == 3 && a["statecode"] == 0 && a["name"] != name.as_str())
        .unwrap();
    env.patch(
        Service::Dataverse,
        "accounts",
        account["accountid"].as_str().unwrap(),
        json!({ "name": "Renamed while scheduled" }),
    );
    let changed_from = s.events().len();
    wait_until("in step", || {
        let phone_arrived = env
            .rows(Service::Dataverse, "accounts")
            .iter()
            .any(|a| a["name"] == name.as_str() && a["telephone1"] == "+1 555 0142");
        let name_arrived = env
            .rows(Service::BusinessCentral, "customers")
            .iter()
            .any(|c| c["displayName"] == "Renamed while scheduled");
        phone_arrived && name_arrived
    });
    // The change brought the job back to its interval, and idleness grows it again from there.
    let (ic, _) = s.wait_for("a run that saw the changes", changed_from, |e| {
        scheduled(e, "changed", 1)
    });
    s.wait_for("the wait growing again", ic, |e| scheduled(e, "idle", 2));
    assert!(
        !s.events()
            .iter()
            .any(|e| is(e, "job started") && e["job"] == "nightly"),
        "the nightly job ran"
    );

    let (status, page) = env.get(&addr, "/metrics");
    assert_eq!(status, 200);
    let runs = sample(
        &page,
        "syncmap_runs_total{mode=\"modified\",trigger=\"schedule\",status=\"succeeded\"}",
    );
    assert!(runs >= 3.0, "{runs}");
    for dir in ["left_to_right", "right_to_left"] {
        let series = format!(
            "syncmap_records_total{{table=\"customers\",direction=\"{dir}\",outcome=\"modified\"}}"
        );
        assert!(sample(&page, &series) >= 1.0, "{series}");
    }
    for system in ["bc", "dv"] {
        let series = format!("syncmap_http_requests_total{{system=\"{system}\"}}");
        assert!(sample(&page, &series) > 0.0, "{series}");
    }
    let success = sample(
        &page,
        "syncmap_table_last_success_timestamp_seconds{table=\"customers\"}",
    );
    assert!(success > 1.7e9, "{success}");
    // Vendors were synced only by the full sync before the scheduler started: their last
    // success comes from the store's runs.
    let vendors = sample(
        &page,
        "syncmap_table_last_success_timestamp_seconds{table=\"vendors\"}",
    );
    assert!(vendors > 1.7e9 && vendors <= success, "{vendors}");

    let (status, body) = env.get(&addr, "/healthz");
    assert_eq!(status, 200, "{body}");
    let health: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["last_run"]["status"], "succeeded", "{health}");
    assert!(health["last_run"]["finished_at"].is_string(), "{health}");
    assert!(
        health["jobs"]["customers"]["next_due"].is_string(),
        "{health}"
    );

    // SIGTERM: the run in flight (if any) is finished and recorded, and the exit is clean.
    let status = s.terminate();
    assert_eq!(status.code(), Some(0), "{}", s.raw_log());
    assert!(s.events().iter().any(|e| is(
        e,
        "stopping: finishing the batch in flight and recording the run"
    ) && e["signal"] == "SIGTERM"));
    let last = &env.runs()[0];
    assert_eq!(last["trigger"], "schedule", "{last}");
    assert!(
        last["status"] == "succeeded" || last["status"] == "interrupted",
        "{last}"
    );
    assert!(last["finished_at"].is_string(), "{last}");
}

#[test]
fn a_second_scheduler_on_the_same_store_refuses_to_start_while_one_off_runs_still_fit_between() {
    let env = Env::start(|_| {}, "", "job everything { sync modified every 1h }\n");
    let mut first = env.schedule("first", &["--metrics", "off"]);
    first.wait_for("the first run", 0, |e| is(e, "run finished"));

    let second = env.syncmap(&["schedule", "--once"]);
    assert_eq!(second.status.code(), Some(2), "{}", text(&second.stderr));
    let err = text(&second.stderr);
    assert!(
        err.contains("another `syncmap schedule` is running with the state store"),
        "{err}"
    );
    assert!(err.contains("last heartbeat"), "it names the holder: {err}");

    // The scheduler holds the run lock only while it runs: a one-off run goes in between.
    let manual = env.syncmap(&["run", "--mode", "modified"]);
    assert!(manual.status.success(), "{}", text(&manual.stderr));
    assert_eq!(env.runs()[0]["trigger"], "manual");

    // A stop wakes it from its hour-long wait at once.
    let status = first.terminate();
    assert_eq!(status.code(), Some(0), "{}", first.raw_log());

    // With the first gone, another may start; a plan without jobs is refused clearly.
    let once = env.syncmap(&["schedule", "--once"]);
    assert_eq!(once.status.code(), Some(0), "{}", text(&once.stderr));
    std::fs::remove_file(env.maps().join("jobs.map")).unwrap();
    let none = env.syncmap(&["schedule", "--once"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        text(&none.stderr).contains("the plan has no jobs"),
        "{}",
        text(&none.stderr)
    );
}

#[test]
fn sigterm_mid_run_finishes_the_batch_records_the_run_interrupted_and_the_next_run_completes_it() {
    // Slow answers and one-row batches make the first full sync take many seconds.
    let env = Env::start(
        |c| {
            c.faults = Faults {
                delay: Duration::from_millis(60),
                ..Faults::default()
            }
        },
        "[run]\nbatch_size = 1\npage_size = 2\n",
        "job everything { sync full every 1h }\n",
    );
    let mut s = env.schedule("schedule", &["--metrics", "off"]);
    let (_, pass) = s.wait_for("a finished pass", 0, |e| is(e, "pass finished"));
    let run = pass["run"].as_i64().unwrap();
    let status = s.terminate();
    assert_eq!(status.code(), Some(0), "{}", s.raw_log());
    s.wait_for("the job stopping", 0, |e| {
        is(e, "job stopped after the batch in flight")
    });

    let recorded = env.run_detail(run);
    assert_eq!(recorded["status"], "interrupted", "{recorded}");
    assert_eq!(recorded["trigger"], "schedule", "{recorded}");
    assert!(recorded["finished_at"].is_string(), "{recorded}");
    // The standard mappings have 8 passes; a stopped run did not get through them all, and what
    // it did is counted.
    let counts = recorded["counts"].as_array().unwrap();
    assert!(!counts.is_empty() && counts.len() < 8, "{recorded}");
    let inserted: u64 = counts.iter().map(|c| c["inserted"].as_u64().unwrap()).sum();
    assert!(inserted > 0, "{recorded}");
    // A pass cut short keeps its watermark: rows after the cut were not processed.
    let cut: Vec<Json> = s
        .events()
        .into_iter()
        .filter(|e| is(e, "pass finished") && e["completed"] == false)
        .collect();
    for e in &cut {
        let c = counts
            .iter()
            .find(|c| c["mapping"] == e["table"] && c["direction"] == e["direction"])
            .unwrap_or_else(|| panic!("the cut pass {e} has no counts in {recorded}"));
        assert_eq!(c["cursor_after"], c["cursor_before"], "{c}");
    }

    // The next run (at full speed, once, as from cron) finishes the work.
    env.sandbox().control().set_faults(Faults::default());
    let once = env.syncmap(&["schedule", "--once"]);
    assert_eq!(once.status.code(), Some(0), "{}", text(&once.stderr));
    let last = &env.runs()[0];
    assert_eq!(last["status"], "succeeded", "{last}");
    assert_eq!(last["trigger"], "schedule", "{last}");
    let open: Vec<String> = env
        .rows(Service::BusinessCentral, "customers")
        .iter()
        .filter(|c| c["blocked"] == " ")
        .map(|c| c["displayName"].as_str().unwrap().to_string())
        .collect();
    let accounts = env.rows(Service::Dataverse, "accounts");
    for name in &open {
        let n = accounts
            .iter()
            .filter(|a| a["customertypecode"] == 3 && a["name"] == name.as_str())
            .count();
        assert_eq!(n, 1, "customer {name} has {n} accounts");
    }
}

#[test]
fn throttled_requests_are_logged_with_their_wait_and_counted_per_system() {
    let env = Env::start(
        |c| c.limits.requests_per_window = Some((1, Duration::from_secs(1))),
        "",
        "job currencies { sync full currencies every 1h }\n",
    );
    env.without_pacing();
    let mut s = env.schedule("schedule", &["--metrics", "127.0.0.1:0"]);
    let (_, serving) = s.wait_for("the metrics address", 0, |e| {
        is(e, "serving /metrics and /healthz")
    });
    let addr = serving["addr"].as_str().unwrap().to_string();
    let (_, retry) = s.wait_for("a throttled retry", 0, |e| {
        is(e, "retrying request") && e["status"] == 429
    });
    assert!(retry["attempt"].as_u64().unwrap() >= 1, "{retry}");
    // The sandbox asks for a second at least (`Retry-After: 1`).
    assert!(retry["wait_ms"].as_u64().unwrap() >= 1000, "{retry}");
    let url = retry["url"].as_str().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.contains('?'),
        "{retry}"
    );
    s.wait_for("the run's end", 0, |e| is(e, "run finished"));

    let (_, page) = env.get(&addr, "/metrics");
    let throttled: f64 = ["bc", "dv"]
        .iter()
        .map(|sys| {
            sample(
                &page,
                &format!("syncmap_http_throttled_total{{system=\"{sys}\"}}"),
            )
        })
        .sum();
    assert!(throttled >= 1.0, "{page}");
    let waited: f64 = ["bc", "dv"]
        .iter()
        .map(|sys| {
            sample(
                &page,
                &format!("syncmap_http_throttled_wait_seconds_total{{system=\"{sys}\"}}"),
            )
        })
        .sum();
    assert!(waited >= 1.0, "{page}");
    assert!(
        sample(&page, "syncmap_http_retries_total{system=\"bc\"}")
            + sample(&page, "syncmap_http_retries_total{system=\"dv\"}")
            >= throttled
    );
    assert_eq!(s.terminate().code(), Some(0));
}

/// Asks the engine to stop as soon as a given pass has read its first page: the batch it is
/// then working on is the one in flight.
struct StopIn {
    mapping: &'static str,
    direction: &'static str,
    armed: AtomicBool,
    stop: Arc<AtomicBool>,
}

impl Progress for StopIn {
    fn pass(&self, mapping: &str, direction: &str) {
        let it = mapping == self.mapping && direction == self.direction;
        self.armed.store(it, Ordering::SeqCst);
    }
    fn rows(&self, _: u64) {
        if self.armed.load(Ordering::SeqCst) {
            self.stop.store(true, Ordering::SeqCst);
        }
    }
    fn pass_done(&self) {}
}

#[test]
fn a_stopped_engine_finishes_its_batch_keeps_the_cut_pass_watermark_and_the_next_run_completes() {
    let w = support::World::standard();
    w.seed_standard();
    // Keys are random, so the blocked customer could come first and be the one row the cut
    // pass reads before stopping (filtered, so nothing inserted): only open customers here.
    for row in w.rows("bc", "customers") {
        if row.fields.get("blocked") != Some(&support::s(" ")) {
            w.delete("bc", "customers", &row.key);
        }
    }
    for n in 0..5 {
        w.insert(
            "bc",
            "customers",
            &[
                ("number", support::s(&format!("C-X{n}"))),
                ("displayName", support::s(&format!("Extra {n}"))),
                ("blocked", support::s(" ")),
            ],
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let hook = StopIn {
        mapping: "customers",
        direction: "left_to_right",
        armed: AtomicBool::new(false),
        stop: stop.clone(),
    };
    let systems = w.systems();
    let store = w.store();
    let mut engine = Engine::new(&w.plan, &systems, &store, support::small_pages(100, 1))
        .unwrap()
        .with_progress(&hook)
        .with_cancel(stop.clone());
    let report =
        support::tokio_block(engine.run(&support::request(Mode::Full, &[], false))).unwrap();
    assert!(report.interrupted);
    // Passes before the cut ran whole; the cut one wrote its one-row batch in flight and no
    // more; none after it started.
    let cut = report.pass("customers", "left_to_right").unwrap();
    assert_eq!(cut.counts.inserted, 1, "{report:?}");
    assert!(report.pass("currencies", "left_to_right").is_some());
    assert!(report.pass("customers", "right_to_left").is_none());
    assert!(report.pass("vendors", "left_to_right").is_none());
    let run = store.run(report.run_id.unwrap()).unwrap().unwrap();
    assert_eq!(run.status, "interrupted");
    assert!(run.message.is_some());
    let saved = run
        .counts
        .iter()
        .find(|c| c.mapping == "customers" && c.direction == "left_to_right")
        .expect("the cut pass's counts are saved");
    assert_eq!(saved.counts.inserted, 1);
    assert!(store
        .watermark("currencies", Direction::LeftToRight)
        .unwrap()
        .is_some());
    assert!(store
        .watermark("customers", Direction::LeftToRight)
        .unwrap()
        .is_none());
    assert_eq!(w.count("dv", "accounts"), 1);
    drop(engine);

    // Without a stop, the next run does the rest: every open customer once in Dataverse.
    let next = w.run(Mode::Full);
    assert!(!next.interrupted);
    assert_eq!(
        next.pass("customers", "left_to_right")
            .unwrap()
            .counts
            .inserted,
        6,
        "{next:?}"
    );
    assert_eq!(w.count("dv", "accounts"), 7);

    // A stop asked before a run starts leaves every pass to the next run.
    stop.store(true, Ordering::SeqCst);
    let mut engine = Engine::new(&w.plan, &systems, &store, support::small_pages(100, 1))
        .unwrap()
        .with_cancel(stop);
    let report =
        support::tokio_block(engine.run(&support::request(Mode::Full, &[], false))).unwrap();
    assert!(report.interrupted && report.tables.is_empty(), "{report:?}");
    let run = store.run(report.run_id.unwrap()).unwrap().unwrap();
    assert_eq!(run.status, "interrupted");
}
