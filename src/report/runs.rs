//! The recent runs of a state store, as the report shows them.

use jiff::Timestamp;

use super::{CountsView, RecordView, RunView};
use crate::plan::Plan;
use crate::redact::redact;
use crate::state::{Event, Failure, RecordError, Run, StateError, Store};

/// The most errors and events shown per run: a first full sync can couple thousands of
/// records, and the page is for reading, not a dump (`syncmap log --run ID` has them all).
pub const RECORDS_PER_RUN: usize = 50;

/// The latest `limit` runs, latest first.
pub fn views(plan: &Plan, store: &Store, limit: usize) -> Result<Vec<RunView>, StateError> {
    let skipped: Vec<_> = store
        .failures(None)?
        .into_iter()
        .filter(|f| f.skipped)
        .collect();
    // Records already shown as skipped: only their latest error is (runs and errors come latest
    // first), so an earlier run's error of the same record still reads as the error it was then.
    let mut marked: Vec<(String, String, String)> = Vec::new();
    let mut out = Vec::new();
    for run in store.runs(limit)? {
        // One more than shown, to know whether some were left out.
        let errors = store.errors(Some(run.id), None, RECORDS_PER_RUN + 1)?;
        let events = store.events(run.id)?;
        let mut left_out = errors.len().saturating_sub(RECORDS_PER_RUN)
            + events.len().saturating_sub(RECORDS_PER_RUN);
        if errors.len() > RECORDS_PER_RUN {
            // `errors` stops at the limit; say "more" rather than a wrong count.
            left_out = left_out.max(1);
        }
        let errors = errors
            .into_iter()
            .take(RECORDS_PER_RUN)
            .map(|e| error_view(plan, e, &skipped, &mut marked))
            .collect();
        let events = events
            .into_iter()
            .take(RECORDS_PER_RUN)
            .map(|e| event_view(plan, e))
            .collect();
        out.push(run_view(plan, run, errors, events, left_out));
    }
    Ok(out)
}

/// A record error of a run, marked `skipped` the first time it is shown for a record now
/// skipped.
fn error_view(
    plan: &Plan,
    e: RecordError,
    skipped: &[Failure],
    marked: &mut Vec<(String, String, String)>,
) -> RecordView {
    // A record error whose record is now skipped (it failed twice the same way)
    // is the one a person must act on: say so.
    let id = (e.mapping.clone(), e.direction.clone(), e.source_key.clone());
    let now_skipped = !marked.contains(&id)
        && skipped.iter().any(|f| {
            f.mapping == e.mapping
                && f.direction.as_str() == e.direction
                && f.source_key == e.source_key
                && f.message == e.message
        });
    if now_skipped {
        marked.push(id);
    }
    RecordView {
        direction: direction(plan, &e.mapping, &e.direction),
        mapping: e.mapping,
        kind: if now_skipped { "skipped" } else { "error" }.into(),
        source_key: e.source_key,
        label: e.label,
        dest_key: e.dest_key,
        message: redact(&e.message),
    }
}

fn event_view(plan: &Plan, e: Event) -> RecordView {
    RecordView {
        direction: direction(plan, &e.mapping, &e.direction),
        mapping: e.mapping,
        kind: e.kind,
        source_key: e.source_key.unwrap_or_default(),
        label: None,
        dest_key: e.dest_key,
        message: redact(&e.message),
    }
}

fn run_view(
    plan: &Plan,
    run: Run,
    errors: Vec<RecordView>,
    events: Vec<RecordView>,
    left_out: usize,
) -> RunView {
    RunView {
        id: run.id,
        started: when(&run.started_at),
        duration: run
            .finished_at
            .as_deref()
            .and_then(|f| duration(&run.started_at, f)),
        duration_ms: run
            .finished_at
            .as_deref()
            .and_then(|f| millis(&run.started_at, f)),
        counts: run
            .counts
            .into_iter()
            .map(|c| CountsView {
                direction: direction(plan, &c.mapping, &c.direction),
                mapping: c.mapping,
                counts: c.counts,
            })
            .collect(),
        mode: run.mode,
        trigger: run.trigger,
        status: run.status,
        dry_run: run.dry_run,
        // Redacted when stored; a store written before is redacted here, before escaping.
        message: run.message.as_deref().map(redact),
        errors,
        events,
        left_out,
    }
}

/// A stored direction in words, with the systems of the table mapping: `bc → dv`.
fn direction(plan: &Plan, mapping: &str, stored: &str) -> String {
    plan.direction_words(mapping, stored)
}

/// A stored time as `YYYY-MM-DD HH:MM:SS UTC`; text that is not one is shown as stored.
fn when(stored: &str) -> String {
    match stored.parse::<Timestamp>() {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => stored.to_string(),
    }
}

/// The milliseconds between two stored times (0 when the clock stepped back).
fn millis(start: &str, end: &str) -> Option<u64> {
    let (a, b) = (
        start.parse::<Timestamp>().ok()?,
        end.parse::<Timestamp>().ok()?,
    );
    Some(u64::try_from(b.duration_since(a).as_millis()).unwrap_or(0))
}

/// The time between two stored times: `420 ms`, `12.0 s`, `3 min 5 s`, `2 h 10 min`.
fn duration(start: &str, end: &str) -> Option<String> {
    let ms = millis(start, end)?;
    let secs = ms / 1000;
    Some(if secs < 1 {
        format!("{ms} ms")
    } else if secs < 60 {
        format!("{}.{} s", secs, (ms % 1000) / 100)
    } else if secs < 3600 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else {
        super::seconds(secs - secs % 60)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        let d = |a, b| duration(a, b);
        assert_eq!(
            d("2025-01-01T10:00:00.000000Z", "2025-01-01T10:00:00.420000Z").as_deref(),
            Some("420 ms")
        );
        assert_eq!(
            d("2025-01-01T10:00:00Z", "2025-01-01T10:03:05Z").as_deref(),
            Some("3 min 5 s")
        );
        assert_eq!(
            d("2025-01-01T10:00:00Z", "2025-01-01T10:00:12.250Z").as_deref(),
            Some("12.2 s")
        );
        assert_eq!(
            d("2025-01-01T10:00:00Z", "2025-01-01T12:10:30Z").as_deref(),
            Some("2 h 10 min")
        );
        assert_eq!(d("never", "2025-01-01T12:10:30Z"), None);
        assert_eq!(
            when("2025-01-01T10:00:00.123456Z"),
            "2025-01-01 10:00:00 UTC"
        );
    }
}
