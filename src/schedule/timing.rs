//! When a job is due: pure functions of the job, the outcome of its last run and the time, so
//! they are tested with a made-up clock.
//!
//! - `every D`: the first run is due when the scheduler starts; each next one `D` after the
//!   last run ended.
//! - `idle I` (the reference's inactivity timeout): a run that finds nothing to do doubles the
//!   wait, up to `I`; a run that sees a change brings it back to `D`.
//! - `at HH:MM` (local time): the first run is due at the next `HH:MM`; the next ones follow
//!   every `D` from there (every day without `every`), so runs stay on the clock's grid.
//! - Neither: the job runs once, when the scheduler starts.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

use crate::plan;

/// How long to wait before trying again when another process holds the store's run lock.
pub const BUSY_RETRY: SignedDuration = SignedDuration::from_secs(5);

/// What a job's run came to, as far as its timing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The run wrote, coupled, failed or met a conflict: there is work about.
    Changed,
    /// The run found nothing to do.
    Idle,
    /// The run could not complete (a system or the store failed).
    Failed,
    /// The run could not start: another process was syncing with the store.
    Busy,
}

/// Why a job is due when it is, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The scheduler started.
    Start,
    /// The last run saw a change: back to the interval.
    Changed,
    /// The last run found nothing to do: the wait grew (up to the idle timeout).
    Idle,
    /// The last run failed: tried again after the interval.
    Failed,
    /// The store was busy: tried again shortly.
    Busy,
    /// The job has no interval and no time of day: it ran once.
    Done,
    /// A table of the job changed (a webhook notification, or a probe of the system's change
    /// tracking): it runs shortly.
    Woken,
}

impl Reason {
    /// The word logged (`reason` of the `job scheduled` event).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Start => "start",
            Reason::Changed => "changed",
            Reason::Idle => "idle",
            Reason::Failed => "failed",
            Reason::Busy => "busy",
            Reason::Done => "done",
            Reason::Woken => "woken",
        }
    }
}

/// A job's timing: its settings, the current wait and when it is next due.
#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    every: Option<SignedDuration>,
    idle: Option<SignedDuration>,
    at: Option<Time>,
    wait: Option<SignedDuration>,
    due: Option<Timestamp>,
    /// Whether the run now due was brought forward by a wake.
    woken: bool,
    /// Whether the last run failed or could not start: wakes then leave the retry where it is.
    holding: bool,
}

/// Why a job's settings cannot be scheduled (the compiler rejects these; a hand-edited plan
/// may not).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`at {0}` is not a time of day (HH:MM)")]
pub struct BadTime(pub String);

impl Timer {
    /// The timing of a job when the scheduler starts at `now`.
    pub fn new(job: &plan::Job, now: Timestamp, tz: &TimeZone) -> Result<Timer, BadTime> {
        let secs = |s: Option<u64>| {
            s.filter(|s| *s > 0)
                .map(|s| SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX)))
        };
        let at = job
            .at
            .as_deref()
            .map(|a| parse_time(a).ok_or_else(|| BadTime(a.to_string())))
            .transpose()?;
        let every = secs(job.every_seconds);
        let mut t = Timer {
            every,
            // An idle timeout shorter than the interval (a warning when compiled) never
            // shortens it.
            idle: secs(job.idle_seconds).map(|i| every.map_or(i, |e| i.max(e))),
            at,
            wait: every,
            due: None,
            woken: false,
            holding: false,
        };
        t.due = Some(match at {
            Some(at) => next_time_of_day(now, at, tz),
            None => now,
        });
        Ok(t)
    }

    /// The timing of one of a job's units as the store keeps it, for workers that share it:
    /// due at `due`, with the wait its runs have come to.
    pub fn resumed(
        job: &plan::Job,
        due: Option<Timestamp>,
        wait: Option<SignedDuration>,
        tz: &TimeZone,
    ) -> Result<Timer, BadTime> {
        let mut t = Timer::new(job, due.unwrap_or_else(Timestamp::now), tz)?;
        t.due = due;
        if wait.is_some() {
            t.wait = wait;
        }
        Ok(t)
    }

    /// When the job is next due; `None` when it never is again.
    pub fn due(&self) -> Option<Timestamp> {
        self.due
    }

    /// The current wait between runs (the interval, or longer while runs find nothing to do).
    pub fn wait(&self) -> Option<SignedDuration> {
        self.wait
    }

    /// Whether a change seen between runs may bring the job's run forward: a modified-only
    /// sync on an interval, not on a time of day (its grid stays), nor a full sync.
    pub fn wakes(job: &plan::Job) -> bool {
        job.mode == plan::SyncMode::Modified
            && job.at.is_none()
            && job.every_seconds.is_some_and(|s| s > 0)
    }

    /// A table of the job changed at `now`: the job is due after `settle` (or sooner, if it
    /// already was), so the changes of one burst are taken by one run. Its wait is left as it
    /// is, and a run that failed is retried when its interval says, not sooner. Returns
    /// whether the run was brought forward.
    pub fn wake(&mut self, now: Timestamp, settle: SignedDuration) -> bool {
        if self.holding {
            return false;
        }
        let soon = add(now, settle);
        if self.due.is_some_and(|d| d <= soon) {
            return false;
        }
        self.due = Some(soon);
        self.woken = true;
        true
    }

    /// Takes in how a run that ended at `finished` went, and moves the due time.
    pub fn after(&mut self, outcome: Outcome, finished: Timestamp, tz: &TimeZone) -> Reason {
        let reason = match outcome {
            Outcome::Busy => {
                // Not a run: the wait it was due with stands.
                let retry = self.wait.map_or(BUSY_RETRY, |w| w.min(BUSY_RETRY));
                self.due = Some(add(finished, retry));
                self.holding = true;
                return Reason::Busy;
            }
            Outcome::Changed => Reason::Changed,
            Outcome::Failed => Reason::Failed,
            Outcome::Idle => Reason::Idle,
        };
        // A woken run that found nothing (the echo of the sync's own write, say) says nothing
        // about how quiet the table is: the wait stays.
        let woken = std::mem::take(&mut self.woken);
        self.holding = outcome == Outcome::Failed;
        self.wait = match (outcome, self.every, self.idle, self.wait) {
            (Outcome::Idle, _, _, wait) if woken => wait,
            (Outcome::Idle, Some(every), Some(idle), Some(wait)) => {
                Some(wait.checked_mul(2).unwrap_or(idle).clamp(every, idle))
            }
            _ => self.every,
        };
        self.due = match (self.at, self.wait, self.due) {
            // On the grid that starts at the time of day: the first step past the run's end.
            (Some(_), Some(wait), Some(due)) => Some(next_step(due, wait, finished)),
            (Some(at), None, _) => Some(next_time_of_day(finished, at, tz)),
            (None, Some(wait), _) => Some(add(finished, wait)),
            _ => None,
        };
        if self.due.is_none() {
            return Reason::Done;
        }
        reason
    }
}

fn add(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// `HH:MM` as a time of day.
fn parse_time(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    let (h, m) = (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?);
    Time::new(h, m, 0, 0).ok()
}

/// The first `at` in `tz` strictly after `t` (today's, or tomorrow's once it has passed).
pub fn next_time_of_day(t: Timestamp, at: Time, tz: &TimeZone) -> Timestamp {
    let today = t.to_zoned(tz.clone()).date();
    let on = |d: jiff::civil::Date| {
        d.to_datetime(at)
            .to_zoned(tz.clone())
            .map(|z| z.timestamp())
            .ok()
    };
    match on(today) {
        Some(ts) if ts > t => ts,
        _ => today
            .checked_add(1.day())
            .ok()
            .and_then(on)
            .unwrap_or(Timestamp::MAX),
    }
}

/// The first `due + k·step` (k ≥ 1) after `after`.
fn next_step(due: Timestamp, step: SignedDuration, after: Timestamp) -> Timestamp {
    let step_s = step.as_secs().max(1);
    let behind = after.duration_since(due).as_secs().max(0);
    let k = behind / step_s + 1;
    add(due, SignedDuration::from_secs(step_s.saturating_mul(k)))
}

#[cfg(test)]
mod tests;
