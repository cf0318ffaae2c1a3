use super::*;
use crate::plan::{Job, SyncMode};

fn job(every: Option<u64>, idle: Option<u64>, at: Option<&str>) -> Job {
    Job {
        mode: SyncMode::Modified,
        tables: vec!["customers".into()],
        every_seconds: every,
        idle_seconds: idle,
        at: at.map(Into::into),
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

#[test]
fn an_interval_job_is_due_at_start_then_an_interval_after_each_run() {
    let tz = TimeZone::UTC;
    let start = t("2025-03-01T10:00:00Z");
    let mut timer = Timer::new(&job(Some(1800), None, None), start, &tz).unwrap();
    assert_eq!(timer.due(), Some(start));
    let end = t("2025-03-01T10:00:07Z");
    assert_eq!(timer.after(Outcome::Changed, end, &tz), Reason::Changed);
    assert_eq!(timer.due(), Some(t("2025-03-01T10:30:07Z")));
    // Without an idle timeout, nothing to do changes nothing.
    let end = t("2025-03-01T10:30:08Z");
    timer.after(Outcome::Idle, end, &tz);
    assert_eq!(timer.due(), Some(t("2025-03-01T11:00:08Z")));
}

#[test]
fn idle_runs_double_the_wait_up_to_the_idle_timeout_and_a_change_resets_it() {
    let tz = TimeZone::UTC;
    // The reference's default: every 30 minutes, idle up to 12 hours.
    let mut now = t("2025-03-01T00:00:00Z");
    let mut timer = Timer::new(&job(Some(1800), Some(43_200), None), now, &tz).unwrap();
    let mut waits = Vec::new();
    for _ in 0..7 {
        assert_eq!(timer.after(Outcome::Idle, now, &tz), Reason::Idle);
        let wait = timer.wait().unwrap();
        assert_eq!(timer.due(), Some(now.checked_add(wait).unwrap()));
        waits.push(wait.as_secs() / 60);
        now = timer.due().unwrap();
    }
    assert_eq!(waits, [60, 120, 240, 480, 720, 720, 720]);
    assert_eq!(timer.after(Outcome::Changed, now, &tz), Reason::Changed);
    assert_eq!(timer.wait(), Some(secs(1800)));
    assert_eq!(timer.due(), Some(now.checked_add(secs(1800)).unwrap()));
}

#[test]
fn a_failed_run_comes_back_at_the_interval_and_a_busy_store_is_retried_soon() {
    let tz = TimeZone::UTC;
    let now = t("2025-03-01T00:00:00Z");
    let mut timer = Timer::new(&job(Some(60), Some(600), None), now, &tz).unwrap();
    timer.after(Outcome::Idle, now, &tz);
    timer.after(Outcome::Idle, now, &tz);
    assert_eq!(timer.wait(), Some(secs(240)));
    // Busy is not a run: the grown wait stands, the retry comes within seconds.
    assert_eq!(timer.after(Outcome::Busy, now, &tz), Reason::Busy);
    assert_eq!(timer.wait(), Some(secs(240)));
    assert_eq!(timer.due(), Some(now.checked_add(BUSY_RETRY).unwrap()));
    assert_eq!(timer.after(Outcome::Failed, now, &tz), Reason::Failed);
    assert_eq!(timer.wait(), Some(secs(60)));
    assert_eq!(timer.due(), Some(now.checked_add(secs(60)).unwrap()));
}

#[test]
fn short_intervals_retry_a_busy_store_within_the_interval() {
    let tz = TimeZone::UTC;
    let now = t("2025-03-01T00:00:00Z");
    let mut timer = Timer::new(&job(Some(1), Some(4), None), now, &tz).unwrap();
    timer.after(Outcome::Busy, now, &tz);
    assert_eq!(timer.due(), Some(now.checked_add(secs(1)).unwrap()));
}

#[test]
fn an_idle_timeout_shorter_than_the_interval_never_shortens_it() {
    let tz = TimeZone::UTC;
    let now = t("2025-03-01T00:00:00Z");
    let mut timer = Timer::new(&job(Some(600), Some(60), None), now, &tz).unwrap();
    timer.after(Outcome::Idle, now, &tz);
    assert_eq!(timer.wait(), Some(secs(600)));
}

#[test]
fn a_daily_job_is_due_at_its_time_of_day_in_the_local_zone() {
    // Paris, without needing a time zone database on the machine.
    let tz = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
    // 01:30 UTC is 02:30 in Paris in winter: today's 02:00 has passed.
    let now = t("2025-01-10T01:30:00Z");
    let mut timer = Timer::new(&job(None, None, Some("02:00")), now, &tz).unwrap();
    assert_eq!(timer.due(), Some(t("2025-01-11T01:00:00Z")));
    let end = t("2025-01-11T01:00:42Z");
    timer.after(Outcome::Changed, end, &tz);
    assert_eq!(timer.due(), Some(t("2025-01-12T01:00:00Z")));
    // Across the change to summer time, still 02:00… which does not exist on 30 March: the
    // hour after the gap.
    let end = t("2025-03-29T01:00:05Z");
    timer.after(Outcome::Idle, end, &tz);
    assert_eq!(timer.due(), Some(t("2025-03-30T01:00:00Z")));
    let end = t("2025-03-30T01:00:05Z");
    timer.after(Outcome::Idle, end, &tz);
    assert_eq!(timer.due(), Some(t("2025-03-31T00:00:00Z")));
}

#[test]
fn an_interval_with_a_time_of_day_stays_on_its_grid() {
    let tz = TimeZone::UTC;
    let now = t("2025-03-03T09:00:00Z");
    // Weekly at 03:30, as in the language reference.
    let mut timer = Timer::new(&job(Some(604_800), None, Some("03:30")), now, &tz).unwrap();
    assert_eq!(timer.due(), Some(t("2025-03-04T03:30:00Z")));
    timer.after(Outcome::Changed, t("2025-03-04T03:41:00Z"), &tz);
    assert_eq!(timer.due(), Some(t("2025-03-11T03:30:00Z")));
    // Hourly from 08:00: a run that overran two slots goes to the next one on the grid.
    let mut timer = Timer::new(&job(Some(3600), None, Some("08:00")), now, &tz).unwrap();
    assert_eq!(timer.due(), Some(t("2025-03-04T08:00:00Z")));
    timer.after(Outcome::Changed, t("2025-03-04T10:20:00Z"), &tz);
    assert_eq!(timer.due(), Some(t("2025-03-04T11:00:00Z")));
}

#[test]
fn a_job_without_interval_or_time_runs_once() {
    let tz = TimeZone::UTC;
    let now = t("2025-03-01T00:00:00Z");
    let mut timer = Timer::new(&job(None, None, None), now, &tz).unwrap();
    assert_eq!(timer.due(), Some(now));
    assert_eq!(timer.after(Outcome::Changed, now, &tz), Reason::Done);
    assert_eq!(timer.due(), None);
}

#[test]
fn a_malformed_time_of_day_is_refused() {
    let now = t("2025-03-01T00:00:00Z");
    let err = Timer::new(&job(None, None, Some("25:00")), now, &TimeZone::UTC).unwrap_err();
    assert_eq!(err, BadTime("25:00".into()));
    assert!(Timer::new(&job(None, None, Some("noon")), now, &TimeZone::UTC).is_err());
}

#[test]
fn a_wake_brings_the_run_forward_and_keeps_the_wait() {
    let tz = TimeZone::UTC;
    let start = t("2025-03-01T10:00:00Z");
    let mut timer = Timer::new(&job(Some(1800), Some(43200), None), start, &tz).unwrap();
    timer.after(Outcome::Idle, t("2025-03-01T10:00:01Z"), &tz);
    assert_eq!(timer.wait(), Some(secs(3600)));
    let settle = SignedDuration::from_millis(250);
    assert!(timer.wake(t("2025-03-01T10:05:00Z"), settle));
    assert_eq!(timer.due(), Some(t("2025-03-01T10:05:00.25Z")));
    assert_eq!(timer.wait(), Some(secs(3600)));
    // A second notice of the same burst does not put the run off.
    assert!(!timer.wake(t("2025-03-01T10:05:00.2Z"), settle));
    assert_eq!(timer.due(), Some(t("2025-03-01T10:05:00.25Z")));
    // The woken run found nothing (an echo of the sync's own write): the wait does not grow.
    timer.after(Outcome::Idle, t("2025-03-01T10:05:01Z"), &tz);
    assert_eq!(timer.wait(), Some(secs(3600)));
    assert_eq!(timer.due(), Some(t("2025-03-01T11:05:01Z")));
    // A run that came by its interval and found nothing still doubles it.
    timer.after(Outcome::Idle, t("2025-03-01T11:05:01Z"), &tz);
    assert_eq!(timer.wait(), Some(secs(7200)));
    // A woken run that found the change: back to the interval.
    assert!(timer.wake(t("2025-03-01T11:10:00Z"), settle));
    timer.after(Outcome::Changed, t("2025-03-01T11:10:01Z"), &tz);
    assert_eq!(timer.due(), Some(t("2025-03-01T11:40:01Z")));
}

#[test]
fn a_failed_or_busy_run_is_tried_again_by_its_timer_whatever_wakes_it() {
    let tz = TimeZone::UTC;
    let start = t("2025-03-01T10:00:00Z");
    let settle = SignedDuration::from_millis(250);
    let mut timer = Timer::new(&job(Some(1800), None, None), start, &tz).unwrap();
    timer.after(Outcome::Failed, t("2025-03-01T10:00:01Z"), &tz);
    assert!(!timer.wake(t("2025-03-01T10:00:02Z"), settle));
    assert_eq!(timer.due(), Some(t("2025-03-01T10:30:01Z")));
    timer.after(Outcome::Busy, t("2025-03-01T10:30:01Z"), &tz);
    assert!(!timer.wake(t("2025-03-01T10:30:02Z"), settle));
    assert_eq!(timer.due(), Some(t("2025-03-01T10:30:06Z")));
    // Once a run went through, wakes count again.
    timer.after(Outcome::Idle, t("2025-03-01T10:30:07Z"), &tz);
    assert!(timer.wake(t("2025-03-01T10:31:00Z"), settle));
}

#[test]
fn only_modified_syncs_on_an_interval_are_woken() {
    assert!(Timer::wakes(&job(Some(1800), Some(43200), None)));
    assert!(!Timer::wakes(&job(None, None, None)));
    assert!(!Timer::wakes(&job(Some(86400), None, Some("03:00"))));
    let full = Job {
        mode: SyncMode::Full,
        ..job(Some(1800), None, None)
    };
    assert!(!Timer::wakes(&full));
}
