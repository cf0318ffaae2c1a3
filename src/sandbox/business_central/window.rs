//! The changes queued for the subscriptions of one notification URL while its wait runs, one
//! entry per subscription and row however often the row changed.

use std::collections::BTreeMap;

use jiff::Timestamp;

/// What a write did to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeType {
    Created,
    Updated,
    Deleted,
}

impl ChangeType {
    /// The `changeType` a notification names it by.
    pub(super) fn name(self) -> &'static str {
        match self {
            ChangeType::Created => "created",
            ChangeType::Updated => "updated",
            ChangeType::Deleted => "deleted",
        }
    }

    /// What a row that changed `self` and then `later` in one window is notified as.
    fn then(self, later: ChangeType) -> ChangeType {
        match (self, later) {
            (ChangeType::Created, ChangeType::Updated) => ChangeType::Created,
            (_, later) => later,
        }
    }
}

/// A committed write of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowChange {
    /// The company's id, lower case.
    pub company: String,
    /// The entity set.
    pub set: String,
    /// The row's `id` (its SystemId).
    pub key: String,
    pub kind: ChangeType,
    /// The row's `lastModifiedDateTime` after the write; the time of a delete.
    pub at: Timestamp,
}

/// A row's entry in a window.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// The order rows first changed in.
    pub seq: u64,
    pub kind: ChangeType,
    pub at: Timestamp,
}

/// What one subscription has queued in a window.
#[derive(Debug, Clone)]
pub(super) struct Queued {
    pub id: String,
    pub rows: BTreeMap<String, Entry>,
    /// More rows changed than a notification lists: one `collection` entry instead, and the
    /// rows are no longer kept.
    pub overflow: bool,
    pub earliest: Timestamp,
    pub latest: Timestamp,
}

/// The changes queued for one notification URL since its wait began.
#[derive(Debug, Clone, Default)]
pub(crate) struct Window {
    /// What each subscription queued, in the order they first had a change.
    pub(super) subscriptions: Vec<Queued>,
    seq: u64,
}

impl Window {
    /// Queues a change for subscription `id`, which lists at most `max` rows one by one.
    pub(super) fn add(&mut self, id: &str, change: &RowChange, max: usize) {
        self.seq += 1;
        let seq = self.seq;
        let i = match self.subscriptions.iter().position(|q| q.id == id) {
            Some(i) => i,
            None => {
                self.subscriptions.push(Queued {
                    id: id.to_string(),
                    rows: BTreeMap::new(),
                    overflow: false,
                    earliest: change.at,
                    latest: change.at,
                });
                self.subscriptions.len() - 1
            }
        };
        let Some(q) = self.subscriptions.get_mut(i) else {
            return;
        };
        q.earliest = q.earliest.min(change.at);
        q.latest = q.latest.max(change.at);
        if q.overflow {
            return;
        }
        let entry = q.rows.entry(change.key.clone()).or_insert(Entry {
            seq,
            kind: change.kind,
            at: change.at,
        });
        entry.kind = entry.kind.then(change.kind);
        entry.at = entry.at.max(change.at);
        if q.rows.len() > max {
            q.overflow = true;
            q.rows.clear();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn change(key: &str, kind: ChangeType, second: i64) -> RowChange {
        RowChange {
            company: "c".into(),
            set: "customers".into(),
            key: key.into(),
            kind,
            at: Timestamp::from_second(second).unwrap(),
        }
    }

    /// The (row, change, time) of a subscription's entries, in the order rows first changed.
    fn rows(w: &Window, id: &str) -> Vec<(String, ChangeType, i64)> {
        let q = w.subscriptions.iter().find(|q| q.id == id).unwrap();
        let mut rows: Vec<_> = q.rows.iter().collect();
        rows.sort_by_key(|(_, e)| e.seq);
        rows.into_iter()
            .map(|(k, e)| (k.clone(), e.kind, e.at.as_second()))
            .collect()
    }

    #[test]
    fn a_row_changed_several_times_in_a_window_is_one_entry() {
        use ChangeType::{Created, Deleted, Updated};
        let mut w = Window::default();
        for (key, kind, at) in [
            ("a", Created, 1),
            ("b", Updated, 2),
            ("a", Updated, 3),
            ("c", Created, 4),
            ("b", Updated, 5),
            ("c", Deleted, 6),
            ("d", Updated, 7),
            ("d", Deleted, 8),
        ] {
            w.add("s", &change(key, kind, at), 10);
        }
        let want = [
            ("a", Created, 3),
            ("b", Updated, 5),
            ("c", Deleted, 6),
            ("d", Deleted, 8),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(k, c, t)| (k.to_string(), *c, *t))
            .collect();
        assert_eq!(rows(&w, "s"), want);
    }

    #[test]
    fn more_rows_than_the_most_overflow_into_a_collection() {
        let mut w = Window::default();
        for (i, key) in ["a", "b", "a", "c"].iter().enumerate() {
            w.add("s", &change(key, ChangeType::Updated, 10 - i as i64), 2);
            w.add("t", &change(key, ChangeType::Updated, 10), 3);
        }
        let s = &w.subscriptions[0];
        assert!(s.overflow && s.rows.is_empty());
        assert_eq!((s.earliest.as_second(), s.latest.as_second()), (7, 10));
        assert!(
            !w.subscriptions[1].overflow,
            "three rows are not more than three"
        );
    }
}
