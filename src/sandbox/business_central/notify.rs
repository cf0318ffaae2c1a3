//! Webhook notifications: every row a write created, updated or deleted under a company —
//! sent alone or in a `$batch`, by whoever — is queued for each live subscription to its
//! entity set, and sent to the subscription's notification URL as the real service sends it.
//!
//! The first change queued for a URL starts a wait of [`Limits::notify_delay`]; when it ends,
//! everything queued for that URL goes out in one `POST`, one entry per subscription and row
//! (a row created then updated is `created`; a row deleted is `deleted`, whatever came
//! before), or a single `collection` entry for a subscription with more than
//! [`Limits::notify_max`] rows. A subscriber answering 408, 429 or 5xx, or not reachable, is
//! tried again after the same wait, five times in all; any other status deletes every
//! subscription the notification was for.
//!
//! [`Limits::notify_delay`]: crate::sandbox::Limits::notify_delay
//! [`Limits::notify_max`]: crate::sandbox::Limits::notify_max

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{json, Value as Json};
use tokio::sync::watch;

use super::webhooks::{Registry, Webhooks, CALL_TIMEOUT};
use super::window::{ChangeType, Entry, RowChange, Window};
use super::{split_api, target, Bc, Target};
use crate::sandbox::faults::Monitor;
use crate::sandbox::request::{guid_key, Req, Resp};

/// How many times a notification is sent before it is given up.
const TRIES: u32 = 5;

impl Bc {
    /// The row a successful write changed, from its request and answer.
    pub(crate) fn row_change(&self, req: &Req, answer: &Resp) -> Option<RowChange> {
        let (_, rest) = split_api(&req.path)?;
        let Target::Entity { company, set, key } = target(rest)? else {
            return None;
        };
        let table = self.store.table(set)?;
        let body = || serde_json::from_slice::<Json>(&answer.body).ok();
        let stamp = |body: &Json| {
            let modified = table
                .modified_on
                .as_deref()
                .unwrap_or("lastModifiedDateTime");
            body[modified].as_str().and_then(|s| s.parse().ok())
        };
        let (kind, key, at) = match (req.method.as_str(), answer.status, key) {
            ("POST", 201, None) => {
                let body = body()?;
                let at = stamp(&body);
                (
                    ChangeType::Created,
                    guid_key(body[&table.key].as_str()?)?,
                    at,
                )
            }
            ("PATCH", 200, Some(k)) => (ChangeType::Updated, guid_key(k)?, stamp(&body()?)),
            ("DELETE", 204, Some(k)) => (ChangeType::Deleted, guid_key(k)?, None),
            _ => return None,
        };
        Some(RowChange {
            company: guid_key(company)?,
            set: table.name.clone(),
            key,
            kind,
            at: at.unwrap_or_else(Timestamp::now),
        })
    }

    /// Queues the notifications of committed writes.
    pub(crate) fn notify(&self, changes: &[RowChange], monitor: &Monitor) {
        if !changes.is_empty() {
            let limits = monitor.limits();
            self.webhooks
                .record(changes, limits.notify_delay, limits.notify_max);
        }
    }
}

impl Webhooks {
    /// Queues `changes` for every live subscription watching their entity sets, and starts
    /// the wait of each notification URL that had nothing queued.
    pub(crate) fn record(self: &Arc<Self>, changes: &[RowChange], delay: Duration, max: usize) {
        let mut started = Vec::new();
        {
            let mut registry = self.lock();
            registry.purge(Timestamp::now());
            let Registry {
                subscriptions,
                windows,
                ..
            } = &mut *registry;
            for change in changes {
                for s in subscriptions
                    .iter()
                    .filter(|s| s.watched.company == change.company && s.watched.set == change.set)
                {
                    let url = &s.notification_url;
                    if !windows.contains_key(url) {
                        windows.insert(url.clone(), Window::default());
                        self.window_queued();
                        started.push(url.clone());
                    }
                    if let Some(w) = windows.get_mut(url) {
                        w.add(&s.id, change, max);
                    }
                }
            }
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for url in started {
            runtime.spawn(self.clone().deliver(url, delay));
        }
    }

    /// Waits, then sends what is queued for `url`, trying again while the subscriber asks.
    async fn deliver(self: Arc<Self>, url: String, delay: Duration) {
        let _done = Done(&self);
        let mut stop = self.stopped();
        if !pause(&mut stop, delay).await {
            return;
        }
        let Some(window) = self.lock().windows.remove(&url) else {
            return;
        };
        for attempt in 0..TRIES {
            if attempt > 0 && !pause(&mut stop, delay).await {
                return;
            }
            let Some((body, ids)) = self.body(&window) else {
                return;
            };
            if self.take_drop() {
                return;
            }
            let outcome = tokio::select! {
                o = self.post(&url, body) => o,
                _ = stop.wait_for(|s| *s) => return,
            };
            match outcome {
                Outcome::Delivered => return self.count_sent(),
                Outcome::Retry => continue,
                Outcome::Refused => return self.unsubscribe(&ids),
            }
        }
    }

    /// The notification of a window for the subscriptions still live, and their ids; `None`
    /// when none is.
    fn body(&self, window: &Window) -> Option<(Vec<u8>, Vec<String>)> {
        let mut registry = self.lock();
        registry.purge(Timestamp::now());
        let mut value = Vec::new();
        let mut ids = Vec::new();
        for q in &window.subscriptions {
            let Some(s) = registry.subscriptions.iter().find(|s| s.id == q.id) else {
                continue;
            };
            ids.push(s.id.clone());
            let entry = |resource: String, change: &str, at: Timestamp| {
                json!({
                    "subscriptionId": s.id,
                    "clientState": s.client_state,
                    "expirationDateTime": millis(s.expires),
                    "resource": resource,
                    "changeType": change,
                    "lastModifiedDateTime": millis(at),
                })
            };
            if q.overflow {
                let since = q
                    .earliest
                    .checked_sub(jiff::SignedDuration::from_millis(1))
                    .unwrap_or(q.earliest);
                let filter = format!("?$filter=lastModifiedDateTime%20gt%20{}", millis(since));
                value.push(entry(
                    format!("{}{filter}", s.resource),
                    "collection",
                    q.latest,
                ));
                continue;
            }
            let mut rows: Vec<(&String, &Entry)> = q.rows.iter().collect();
            rows.sort_by_key(|(_, e)| e.seq);
            let w = &s.watched;
            for (key, e) in rows {
                let resource = format!("{}/companies({})/{}({key})", w.prefix, w.company, w.set);
                value.push(entry(resource, e.kind.name(), e.at));
            }
        }
        if value.is_empty() {
            return None;
        }
        let body = serde_json::to_vec(&json!({ "value": value })).ok()?;
        Some((body, ids))
    }

    /// One `POST` of a notification, and what the subscriber's answer means.
    async fn post(&self, url: &str, body: Vec<u8>) -> Outcome {
        let sent = self
            .http
            .post(url)
            .header("Content-Type", "application/json")
            .body(body)
            .timeout(CALL_TIMEOUT)
            .send()
            .await;
        let status = match sent {
            Ok(r) => r.status().as_u16(),
            Err(_) => return Outcome::Retry,
        };
        match status {
            200..=299 => Outcome::Delivered,
            408 | 429 | 500..=599 => Outcome::Retry,
            _ => Outcome::Refused,
        }
    }

    /// Deletes the subscriptions whose subscriber refused their notification.
    fn unsubscribe(&self, ids: &[String]) {
        let removed = {
            let mut registry = self.lock();
            let before = registry.subscriptions.len();
            registry.subscriptions.retain(|s| !ids.contains(&s.id));
            before - registry.subscriptions.len()
        };
        self.count_deleted(u64::try_from(removed).unwrap_or(u64::MAX));
    }
}

/// What a subscriber's answer to a notification means.
enum Outcome {
    /// 2xx.
    Delivered,
    /// 408, 429, 5xx, or no answer: try again later.
    Retry,
    /// Anything else: the subscription is deleted.
    Refused,
}

/// Counts a window's delivery as over when it ends, however it ends.
struct Done<'a>(&'a Webhooks);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.window_done();
    }
}

/// Waits `delay`; `false` when the sandbox stopped first.
async fn pause(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}

/// A time as the service writes it: UTC, to the millisecond (jiff's own format, its
/// fraction cut to three digits).
pub(super) fn millis(t: Timestamp) -> String {
    format!("{t:.3}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_to_the_millisecond() {
        let t: Timestamp = "2024-03-05T06:07:08.123456789Z".parse().unwrap();
        assert_eq!(millis(t), "2024-03-05T06:07:08.123Z");
        let whole: Timestamp = "2024-03-05T06:07:08Z".parse().unwrap();
        assert_eq!(millis(whole), "2024-03-05T06:07:08.000Z");
    }
}
