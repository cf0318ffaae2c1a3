//! When to ask Dataverse whether a job's tracked tables changed since its last run: a probe
//! costs one request of one row per table, so it can be made every few seconds after a change,
//! and its wait doubles while nothing changes, up to a ceiling (the job's own wait unless the
//! profile gives one), so a quiet table costs no more requests than its job's runs.

use jiff::{SignedDuration, Timestamp};

use crate::profile::PollConfig;
use crate::state::Direction;

/// A job's probe: what it asks about and when.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The passes asked about, as `(mapping, direction)`.
    pub passes: Vec<(String, Direction)>,
    base: SignedDuration,
    ceiling: Option<SignedDuration>,
    wait: SignedDuration,
    due: Timestamp,
}

impl Probe {
    /// The probe of these passes, first due one short wait after `now`; none when there is
    /// nothing to ask about or the profile turns probes off.
    pub fn new(
        passes: Vec<(String, Direction)>,
        poll: &PollConfig,
        now: Timestamp,
    ) -> Option<Probe> {
        if passes.is_empty() || poll.seconds == 0 {
            return None;
        }
        let secs = |s: u64| SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX));
        let base = secs(poll.seconds);
        Some(Probe {
            passes,
            base,
            ceiling: poll.idle_seconds.map(|s| secs(s).max(base)),
            wait: base,
            due: now.saturating_add(base).unwrap_or(now),
        })
    }

    /// When the probe is next due.
    pub fn due(&self) -> Timestamp {
        self.due
    }

    /// The current wait between probes.
    pub fn wait(&self) -> SignedDuration {
        self.wait
    }

    /// A probe at `now` found nothing: the wait doubles, up to the ceiling or, without one,
    /// the job's current wait (`job_wait`).
    pub fn quiet(&mut self, now: Timestamp, job_wait: Option<SignedDuration>) {
        let ceiling = self
            .ceiling
            .or(job_wait)
            .unwrap_or(self.base)
            .max(self.base);
        self.wait = self.wait.checked_mul(2).unwrap_or(ceiling).min(ceiling);
        self.due = now.saturating_add(self.wait).unwrap_or(now);
    }

    /// A change was seen at `now` (by a probe, a notification or a run): probes are frequent
    /// again.
    pub fn busy(&mut self, now: Timestamp) {
        self.wait = self.base;
        self.due = now.saturating_add(self.base).unwrap_or(now);
    }

    /// The job's run failed or could not start: no probe before it is tried again at `due`
    /// (none while it is never due).
    pub fn hold_until(&mut self, due: Option<Timestamp>) {
        self.due = due.unwrap_or(Timestamp::MAX).max(self.due);
    }

    /// The job ran at `now` without change: the run read what there was, so the next probe
    /// waits its current wait from here.
    pub fn ran(&mut self, now: Timestamp) {
        self.due = now.saturating_add(self.wait).unwrap_or(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(idle: Option<u64>) -> (Probe, Timestamp) {
        let now = Timestamp::UNIX_EPOCH;
        let poll = PollConfig {
            seconds: 2,
            idle_seconds: idle,
        };
        let passes = vec![("customers".to_string(), Direction::RightToLeft)];
        (
            Probe::new(passes, &poll, now).unwrap_or_else(|| panic!("a probe")),
            now,
        )
    }

    #[test]
    fn quiet_probes_back_off_to_the_ceiling_and_a_change_brings_them_back() {
        let (mut p, now) = probe(Some(10));
        assert_eq!(p.due().duration_since(now).as_secs(), 2);
        let waits: Vec<i64> = (0..4)
            .map(|_| {
                p.quiet(now, None);
                p.wait().as_secs()
            })
            .collect();
        assert_eq!(waits, [4, 8, 10, 10]);
        p.busy(now);
        assert_eq!(p.wait().as_secs(), 2);
    }

    #[test]
    fn without_a_ceiling_probes_follow_the_jobs_wait() {
        let (mut p, now) = probe(None);
        let job_wait = Some(SignedDuration::from_secs(1800));
        for _ in 0..20 {
            p.quiet(now, job_wait);
        }
        assert_eq!(p.wait().as_secs(), 1800);
        // A job without an interval: probes keep their base.
        let (mut p, _) = probe(None);
        p.quiet(now, None);
        assert_eq!(p.wait().as_secs(), 2);
    }

    #[test]
    fn probes_can_be_turned_off() {
        let poll = PollConfig {
            seconds: 0,
            idle_seconds: None,
        };
        let passes = vec![("customers".to_string(), Direction::RightToLeft)];
        assert!(Probe::new(passes, &poll, Timestamp::UNIX_EPOCH).is_none());
        assert!(Probe::new(Vec::new(), &PollConfig::default(), Timestamp::UNIX_EPOCH).is_none());
    }
}
