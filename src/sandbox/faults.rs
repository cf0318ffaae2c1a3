//! Throttling, injected faults and statistics, per service, and the [`Control`] handle that
//! changes them while the services run.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::business_central::webhooks::Webhooks;
use super::store::Store;
use super::{Faults, Limits, SandboxError};

/// What one service counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStats {
    /// API requests received (a `$batch` is one), token requests and control calls excluded.
    pub requests: u64,
    /// Requests by HTTP method.
    pub by_method: BTreeMap<String, u64>,
    /// `$batch` requests.
    pub batches: u64,
    /// Operations inside `$batch` requests.
    pub batch_operations: u64,
    /// Requests answered 429.
    pub throttled: u64,
    /// Requests answered 503 or dropped on purpose.
    pub faults_injected: u64,
    /// Of those, connections closed without an answer.
    pub dropped: u64,
    /// Requests that wrote, were processed, and whose answer was then lost on purpose.
    pub answers_lost: u64,
    /// Write operations processed (each operation of a `$batch` counts), whatever their answer.
    pub writes: u64,
    /// Requests refused 401 for want of a valid token.
    pub unauthorized: u64,
    /// Requests by route: method and entity set (`GET accounts`, `PATCH customers`, `POST $batch`).
    pub routes: BTreeMap<String, u64>,
    /// Bytes of the answers' bodies to API requests: what the answers weighed.
    #[serde(default)]
    pub bytes_sent: u64,
    /// The most API requests that were being answered at once.
    #[serde(default)]
    pub most_at_once: u64,
    /// Of those, the most that could write (not `GET`s) at once.
    #[serde(default)]
    pub most_writes_at_once: u64,
}

/// What both services counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// API requests of both services.
    pub requests: u64,
    /// `$batch` requests.
    pub batches: u64,
    /// Operations inside them.
    pub batch_operations: u64,
    /// Requests answered 429.
    pub throttled: u64,
    /// Requests answered 503 or dropped on purpose.
    pub faults_injected: u64,
    /// Requests processed whose answer was then lost on purpose.
    pub answers_lost: u64,
    /// Write operations processed by both services.
    pub writes: u64,
    /// Requests refused 401.
    pub unauthorized: u64,
    /// Business Central's own counts.
    pub bc: ServiceStats,
    /// Dataverse's own counts.
    pub dv: ServiceStats,
}

/// What the throttling window decided for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Throttle {
    /// No window is set.
    Unlimited,
    /// The request fits; the window has this many places left.
    Admitted {
        /// Places left after this request.
        remaining: u32,
    },
    /// Over the allowance: answered 429 with `Retry-After`.
    Refused {
        /// Seconds to wait.
        retry_after: u64,
    },
}

/// What the fault draw decided for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Answer normally.
    None,
    /// Answer 503.
    Unavailable,
    /// Close the connection without answering.
    Drop,
}

#[derive(Debug)]
struct FaultState {
    faults: Faults,
    rng: u64,
}

/// One service's limits, faults, throttling window and counters.
#[derive(Debug)]
pub(crate) struct Monitor {
    limits: Mutex<Limits>,
    faults: Mutex<FaultState>,
    /// Each caller's requests in the throttling window (see [`super::auth::Caller`]).
    window: Mutex<HashMap<usize, VecDeque<Instant>>>,
    stats: Mutex<ServiceStats>,
    /// API requests being answered now, and of those the ones that could write.
    at_once: [std::sync::atomic::AtomicU64; 2],
    /// Write operations of both services, for tests to wait on.
    writes: Arc<Writes>,
}

/// Write operations processed by both services, and a wake-up for whoever waits for a number
/// of them (a test that must act while a client is in the middle of its writes).
#[derive(Debug, Default)]
pub(crate) struct Writes {
    count: std::sync::atomic::AtomicU64,
    changed: tokio::sync::Notify,
}

impl Writes {
    fn add(&self, n: u64) {
        self.count.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn get(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn reach(&self, n: u64) {
        loop {
            let changed = self.changed.notified();
            if self.get() >= n {
                return;
            }
            changed.await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// splitmix64: small, fast, and the same sequence for the same seed everywhere.
fn next_random(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // The top 53 bits as a fraction in [0, 1).
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl Monitor {
    /// A monitor with these settings and zero counts.
    #[cfg(test)]
    pub fn new(limits: Limits, faults: Faults) -> Monitor {
        Monitor::sharing(limits, faults, Arc::default())
    }

    /// A monitor that adds the writes it sees to `writes`, shared with the other service's.
    pub fn sharing(limits: Limits, faults: Faults, writes: Arc<Writes>) -> Monitor {
        Monitor {
            limits: Mutex::new(limits),
            faults: Mutex::new(FaultState {
                rng: faults.seed,
                faults,
            }),
            window: Mutex::new(HashMap::new()),
            stats: Mutex::new(ServiceStats::default()),
            at_once: Default::default(),
            writes,
        }
    }

    /// Counts write operations processed (committed or refused).
    pub fn count_writes(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        lock(&self.stats).writes += n;
        self.writes.add(n);
    }

    /// Whether the answer to a request that wrote is to be lost (drawn after it was processed).
    pub fn lose_answer(&self) -> bool {
        let mut f = lock(&self.faults);
        let rate = f.faults.lost_answer_rate;
        if rate <= 0.0 {
            return false;
        }
        let lost = next_random(&mut f.rng) < rate;
        drop_guard(f);
        if lost {
            lock(&self.stats).answers_lost += 1;
        }
        lost
    }

    /// The current limits.
    pub fn limits(&self) -> Limits {
        lock(&self.limits).clone()
    }

    /// Counts an API request.
    pub fn count(&self, method: &str, route: &str) {
        let mut s = lock(&self.stats);
        s.requests += 1;
        *s.by_method.entry(method.to_string()).or_default() += 1;
        *s.routes.entry(format!("{method} {route}")).or_default() += 1;
    }

    /// Counts an API request as begun (`write`: one that could write); [`Monitor::ended`]
    /// when it is answered.
    pub fn began(&self, write: bool) {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.at_once[0].fetch_add(1, SeqCst) + 1;
        let writes = self.at_once[1].fetch_add(u64::from(write), SeqCst) + u64::from(write);
        let mut s = lock(&self.stats);
        s.most_at_once = s.most_at_once.max(now);
        s.most_writes_at_once = s.most_writes_at_once.max(writes);
    }

    /// Counts an API request begun with [`Monitor::began`] as answered.
    pub fn ended(&self, write: bool) {
        use std::sync::atomic::Ordering::SeqCst;
        self.at_once[0].fetch_sub(1, SeqCst);
        self.at_once[1].fetch_sub(u64::from(write), SeqCst);
    }

    /// Counts the body of an answer to an API request.
    pub fn count_sent(&self, bytes: usize) {
        lock(&self.stats).bytes_sent += u64::try_from(bytes).unwrap_or(u64::MAX);
    }

    /// Counts a `$batch` and its operations.
    pub fn count_batch(&self, operations: usize) {
        let mut s = lock(&self.stats);
        s.batches += 1;
        s.batch_operations += u64::try_from(operations).unwrap_or(u64::MAX);
    }

    /// Counts a 401.
    pub fn count_unauthorized(&self) {
        lock(&self.stats).unauthorized += 1;
    }

    /// The delay to add and the fault to inject for the next request.
    pub fn draw(&self) -> (Duration, Fault) {
        let mut f = lock(&self.faults);
        let delay = f.faults.delay;
        let (drop, error) = (f.faults.drop_rate, f.faults.error_rate);
        if drop <= 0.0 && error <= 0.0 {
            return (delay, Fault::None);
        }
        let u = next_random(&mut f.rng);
        drop_guard(f);
        let fault = if u < drop {
            Fault::Drop
        } else if u < drop + error {
            Fault::Unavailable
        } else {
            Fault::None
        };
        if fault != Fault::None {
            let mut s = lock(&self.stats);
            s.faults_injected += 1;
            if fault == Fault::Drop {
                s.dropped += 1;
            }
        }
        (delay, fault)
    }

    /// Whether a request of `caller` fits the caller's allowance in the window (each
    /// application user has its own, as the services count): [`Throttle::Admitted`] (counted
    /// in the window) with what the window has left, or [`Throttle::Refused`] (counted as
    /// throttled) with the seconds to wait.
    pub fn throttle(&self, caller: usize) -> Throttle {
        let Some((max, window)) = lock(&self.limits).requests_per_window else {
            return Throttle::Unlimited;
        };
        let now = Instant::now();
        let mut windows = lock(&self.window);
        let w = windows.entry(caller).or_default();
        while w.front().is_some_and(|t| now.duration_since(*t) >= window) {
            w.pop_front();
        }
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if w.len() < max {
            w.push_back(now);
            return Throttle::Admitted {
                remaining: u32::try_from(max - w.len()).unwrap_or(u32::MAX),
            };
        }
        let oldest = w.front().copied().unwrap_or(now);
        drop_guard(windows);
        lock(&self.stats).throttled += 1;
        let wait = window.saturating_sub(now.duration_since(oldest));
        // Whole seconds, rounded up, at least 1: `Retry-After: 0` would invite a busy loop.
        Throttle::Refused {
            retry_after: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
        }
    }

    /// Replaces the faults; the draws restart from their seed.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = FaultState {
            rng: faults.seed,
            faults,
        };
    }

    /// Replaces the limits; the throttling window starts empty.
    pub fn set_limits(&self, limits: Limits) {
        *lock(&self.limits) = limits;
        lock(&self.window).clear();
    }

    /// The current faults.
    pub fn faults(&self) -> Faults {
        lock(&self.faults).faults.clone()
    }

    /// The counts so far.
    pub fn stats(&self) -> ServiceStats {
        lock(&self.stats).clone()
    }

    /// Sets every count to zero.
    pub fn reset_stats(&self) {
        *lock(&self.stats) = ServiceStats::default();
    }
}

/// Releases a guard early, naming why at the call site.
fn drop_guard<T>(guard: T) {
    drop(guard);
}

/// Changes limits and faults of both services at run time and reads their statistics. Cheap
/// to clone; every clone controls the same services.
#[derive(Debug, Clone)]
pub struct Control {
    bc: Arc<Monitor>,
    dv: Arc<Monitor>,
    dv_store: Arc<Store>,
    webhooks: Arc<Webhooks>,
}

impl Control {
    pub(crate) fn new(
        bc: Arc<Monitor>,
        dv: Arc<Monitor>,
        dv_store: Arc<Store>,
        webhooks: Arc<Webhooks>,
    ) -> Control {
        Control {
            bc,
            dv,
            dv_store,
            webhooks,
        }
    }

    /// Business Central's webhook subscriptions, which the methods in that module control.
    pub(crate) fn webhooks(&self) -> &Webhooks {
        &self.webhooks
    }

    /// How long Dataverse's store has been held since the sandbox started: it takes one
    /// request's reads and writes at a time, so held for a whole measurement, it bounded it.
    pub fn dv_store_held(&self) -> std::time::Duration {
        self.dv_store.held()
    }

    /// Expires every Dataverse delta token issued so far, as a service that cleaned up its
    /// change history does: a delta read with one is refused with `0x80044352` ("perform a
    /// full sync"); tokens issued from now on are valid. Kept in a `--data` folder.
    pub fn expire_delta_tokens(&self) -> Result<(), SandboxError> {
        self.dv_store
            .lock()
            .expire_changes()
            .map_err(|e| SandboxError::Storage(format!("cannot expire the delta tokens: {e:?}")))
    }

    /// Waits until both services together have processed `n` write operations since they
    /// started (each operation of a `$batch` counts): an event to act on while a client is in
    /// the middle of its writes, instead of guessing with a sleep.
    pub async fn writes_reach(&self, n: u64) {
        self.bc.writes.reach(n).await;
    }

    /// Write operations both services processed since they started (not reset with the stats).
    pub fn writes(&self) -> u64 {
        self.bc.writes.get()
    }

    /// Injects these faults into both services (the draws restart from the seed).
    pub fn set_faults(&self, faults: Faults) {
        self.bc.set_faults(faults.clone());
        self.dv.set_faults(faults);
    }

    /// The limits both services apply.
    pub fn limits(&self) -> Limits {
        self.dv.limits()
    }

    /// Applies these limits to both services.
    pub fn set_limits(&self, limits: Limits) {
        self.bc.set_limits(limits.clone());
        self.dv.set_limits(limits);
    }

    /// The counts of both services, with totals.
    pub fn stats(&self) -> Stats {
        let (bc, dv) = (self.bc.stats(), self.dv.stats());
        Stats {
            requests: bc.requests + dv.requests,
            batches: bc.batches + dv.batches,
            batch_operations: bc.batch_operations + dv.batch_operations,
            throttled: bc.throttled + dv.throttled,
            faults_injected: bc.faults_injected + dv.faults_injected,
            answers_lost: bc.answers_lost + dv.answers_lost,
            writes: bc.writes + dv.writes,
            unauthorized: bc.unauthorized + dv.unauthorized,
            bc,
            dv,
        }
    }

    /// Sets every count of both services to zero.
    pub fn reset_stats(&self) {
        self.bc.reset_stats();
        self.dv.reset_stats();
    }
}

/// The JSON of `PUT /_sandbox/faults`: every field optional, missing ones keep their value.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultsPatch {
    error_rate: Option<f64>,
    drop_rate: Option<f64>,
    lost_answer_rate: Option<f64>,
    delay_ms: Option<u64>,
    seed: Option<u64>,
    echo_secrets: Option<bool>,
    refuse_writes: Option<bool>,
    /// `[requests, seconds]` to throttle, or `null` to stop.
    #[serde(default, with = "double_option")]
    throttle: Option<Option<(u32, u64)>>,
    /// Dataverse entity sets without change tracking.
    untracked: Option<Vec<String>>,
    /// How long a delta token stays valid, or `null` for ever.
    #[serde(default, with = "double_option")]
    delta_token_ttl_secs: Option<Option<u64>>,
}

/// Tells a field set to `null` from one left out.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

impl FaultsPatch {
    /// Applies the patch to a monitor; an error names a rate outside 0..=1.
    pub fn apply(self, m: &Monitor) -> Result<(), String> {
        let mut f = m.faults();
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
            ("lost_answer_rate", self.lost_answer_rate),
        ] {
            if let Some(r) = rate {
                if !(0.0..=1.0).contains(&r) {
                    return Err(format!("{name} must be between 0 and 1, not {r}"));
                }
            }
        }
        f.error_rate = self.error_rate.unwrap_or(f.error_rate);
        f.drop_rate = self.drop_rate.unwrap_or(f.drop_rate);
        f.lost_answer_rate = self.lost_answer_rate.unwrap_or(f.lost_answer_rate);
        f.delay = self.delay_ms.map_or(f.delay, Duration::from_millis);
        f.seed = self.seed.unwrap_or(f.seed);
        f.echo_secrets = self.echo_secrets.unwrap_or(f.echo_secrets);
        f.refuse_writes = self.refuse_writes.unwrap_or(f.refuse_writes);
        m.set_faults(f);
        if self.throttle.is_none()
            && self.untracked.is_none()
            && self.delta_token_ttl_secs.is_none()
        {
            // Setting the limits empties the throttling window: only when asked to.
            return Ok(());
        }
        let mut l = m.limits();
        if let Some(throttle) = self.throttle {
            l.requests_per_window = throttle.map(|(n, s)| (n, Duration::from_secs(s)));
        }
        l.untracked = self.untracked.unwrap_or(l.untracked);
        if let Some(ttl) = self.delta_token_ttl_secs {
            l.delta_token_ttl = ttl.map(Duration::from_secs);
        }
        m.set_limits(l);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_deterministic_and_near_the_rate() {
        let faults = Faults {
            error_rate: 0.2,
            drop_rate: 0.1,
            seed: 42,
            ..Faults::default()
        };
        let run = || {
            let m = Monitor::new(Limits::default(), faults.clone());
            (0..1000).map(|_| m.draw().1).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let errors = a.iter().filter(|f| **f == Fault::Unavailable).count();
        let drops = a.iter().filter(|f| **f == Fault::Drop).count();
        assert!((150..250).contains(&errors), "{errors}");
        assert!((60..140).contains(&drops), "{drops}");
    }

    #[test]
    fn the_window_throttles_and_says_how_long_to_wait() {
        let limits = Limits {
            requests_per_window: Some((2, Duration::from_secs(10))),
            ..Limits::default()
        };
        let m = Monitor::new(limits, Faults::default());
        assert_eq!(m.throttle(0), Throttle::Admitted { remaining: 1 });
        assert_eq!(m.throttle(0), Throttle::Admitted { remaining: 0 });
        // Another application user has a budget of its own.
        assert_eq!(m.throttle(1), Throttle::Admitted { remaining: 1 });
        let Throttle::Refused { retry_after } = m.throttle(0) else {
            panic!("a third request in the window was let through");
        };
        assert!((9..=10).contains(&retry_after), "{retry_after}");
        assert_eq!(m.stats().throttled, 1);
    }
}
