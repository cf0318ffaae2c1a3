//! Business Central webhook subscriptions as the service keeps them, and what [`Control`]
//! reads and changes of them.
//!
//! Subscriptions live in memory only: unlike the rows, they do not survive a restart of the
//! sandbox, even with a `--data` folder (a client registers again, as it must when a real
//! subscription expired). A subscription past its `expirationDateTime` is gone: not listed,
//! not notified, answered 404.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{watch, Notify};

use super::window::Window;
use crate::sandbox::Control;

/// A live subscription as [`Control::subscriptions`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionInfo {
    /// Its `subscriptionId`: 32 lower-case hex digits.
    pub id: String,
    /// Where its notifications go.
    pub notification_url: String,
    /// What it watches, as the client wrote it.
    pub resource: String,
    /// When it expires unless renewed.
    pub expires: Timestamp,
    /// How many times it was renewed with a `PATCH`.
    pub renewals: u32,
}

/// The entity set a subscription watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Watched {
    /// The API route it was made on, as notifications name resources: `api/v2.0` or the
    /// custom route's `api/syncmap/sandbox/v1.0`.
    pub prefix: String,
    /// The company's id, lower case.
    pub company: String,
    /// The entity set (`customers`).
    pub set: String,
}

/// One subscription.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    /// `subscriptionId`.
    pub id: String,
    /// `notificationUrl`.
    pub notification_url: String,
    /// `resource`, as the client wrote it.
    pub resource: String,
    /// What `resource` names.
    pub watched: Watched,
    /// `clientState`, empty when none was given.
    pub client_state: String,
    /// When it was created.
    pub created: Timestamp,
    /// When it was last created or renewed.
    pub modified: Timestamp,
    /// When it expires.
    pub expires: Timestamp,
    /// Its version, which its ETag and `timestamp` show; new at every renewal.
    pub version: i64,
    /// Renewals so far.
    pub renewals: u32,
}

impl Subscription {
    /// Whether it has not expired at `now`.
    pub fn live(&self, now: Timestamp) -> bool {
        self.expires > now
    }

    fn info(&self) -> SubscriptionInfo {
        SubscriptionInfo {
            id: self.id.clone(),
            notification_url: self.notification_url.clone(),
            resource: self.resource.clone(),
            expires: self.expires,
            renewals: self.renewals,
        }
    }
}

/// What the hub guards with one lock: the subscriptions and the changes queued for them.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Every subscription, in the order they were made; expired ones until next purged.
    pub subscriptions: Vec<Subscription>,
    /// The last subscription version handed out.
    pub version: i64,
    /// The changes waiting to be sent, by notification URL.
    pub windows: HashMap<String, Window>,
}

impl Registry {
    /// Forgets the subscriptions that expired by `now`.
    pub fn purge(&mut self, now: Timestamp) {
        self.subscriptions.retain(|s| s.live(now));
    }

    /// The live subscription with this id.
    pub fn find(&mut self, id: &str) -> Option<&mut Subscription> {
        self.purge(Timestamp::now());
        self.subscriptions.iter_mut().find(|s| s.id == id)
    }

    /// A version not handed out before.
    pub fn next_version(&mut self) -> i64 {
        self.version += 1;
        self.version
    }
}

/// The service's subscriptions, the notifications under way, and what they came to.
#[derive(Debug)]
pub(crate) struct Webhooks {
    state: Mutex<Registry>,
    /// The client handshakes and notifications go out with.
    pub(super) http: reqwest::Client,
    /// Notifications answered 2xx.
    sent: AtomicU64,
    /// Subscriptions deleted because their subscriber refused a notification.
    deleted: AtomicU64,
    /// Notifications still to be lost on purpose.
    to_drop: AtomicU32,
    /// Windows queued or being delivered.
    busy: AtomicU64,
    /// Woken whenever a count above changes.
    changed: Notify,
    /// Set once the sandbox stops: every delivery gives up.
    stop: watch::Sender<bool>,
}

/// How long a handshake or a notification may take before the subscriber counts as
/// unreachable.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(5);

impl Webhooks {
    /// No subscriptions yet.
    pub fn new() -> Webhooks {
        Webhooks {
            state: Mutex::new(Registry::default()),
            // Redirects off and no proxy: the service calls the subscriber itself, as given;
            // building fails only where `Client::new` would panic (no TLS backend).
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .unwrap_or_default(),
            sent: AtomicU64::new(0),
            deleted: AtomicU64::new(0),
            to_drop: AtomicU32::new(0),
            busy: AtomicU64::new(0),
            changed: Notify::new(),
            stop: watch::channel(false).0,
        }
    }

    /// The registry, locked; a panic while it was held leaves it usable.
    pub(super) fn lock(&self) -> MutexGuard<'_, Registry> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether any subscription exists, so writes need not work out what they changed when
    /// nobody listens.
    pub fn watching(&self) -> bool {
        !self.lock().subscriptions.is_empty()
    }

    /// Makes every delivery under way, and every one started later, give up.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// A receiver of the stop signal.
    pub(super) fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    fn bump(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Counts a notification answered 2xx.
    pub(super) fn count_sent(&self) {
        self.bump(&self.sent, 1);
    }

    /// Counts subscriptions deleted for a refused notification.
    pub(super) fn count_deleted(&self, n: u64) {
        self.bump(&self.deleted, n);
    }

    /// Counts a window as queued; [`Webhooks::window_done`] when its delivery ends.
    pub(super) fn window_queued(&self) {
        self.bump(&self.busy, 1);
    }

    /// Counts a window's delivery as over, however it ended.
    pub(super) fn window_done(&self) {
        self.busy.fetch_sub(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Whether the next notification is to be lost on purpose (and one fewer is, after it).
    pub(super) fn take_drop(&self) -> bool {
        self.to_drop
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Waits until `done` holds, woken by every change of the counts.
    async fn until(&self, done: impl Fn() -> bool) {
        loop {
            let changed = self.changed.notified();
            if done() {
                return;
            }
            changed.await;
        }
    }
}

/// Stops the deliveries when the sandbox is dropped or shut down, so none outlives it.
#[derive(Debug)]
pub(crate) struct Stopper(pub Arc<Webhooks>);

impl Drop for Stopper {
    fn drop(&mut self) {
        self.0.stop();
    }
}

impl Control {
    /// The live Business Central webhook subscriptions, in the order they were made.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        let mut registry = self.webhooks().lock();
        registry.purge(Timestamp::now());
        registry
            .subscriptions
            .iter()
            .map(Subscription::info)
            .collect()
    }

    /// Loses the next `n` notifications on their way: each is a whole delivery (one `POST`
    /// to a notification URL) that is neither sent nor tried again, as a notification lost
    /// in the network is.
    pub fn drop_notifications(&self, n: u32) {
        let _ = self
            .webhooks()
            .to_drop
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| {
                Some(d.saturating_add(n))
            });
    }

    /// Notifications their subscriber answered 2xx since the sandbox started.
    pub fn notifications_sent(&self) -> u64 {
        self.webhooks().sent.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` notifications were answered 2xx since the sandbox started.
    pub async fn notifications_reach(&self, n: u64) {
        let hooks = self.webhooks();
        hooks.until(|| hooks.sent.load(Ordering::SeqCst) >= n).await;
    }

    /// Waits until no change is waiting to be notified and no notification is being sent or
    /// waiting to be tried again: after it, a test can tell that a notification never came.
    /// Changes written after it was called may or may not be waited for.
    pub async fn notifications_idle(&self) {
        let hooks = self.webhooks();
        hooks.until(|| hooks.busy.load(Ordering::SeqCst) == 0).await;
    }

    /// Expires every live subscription now, as if its three days had passed without a
    /// renewal: it is no longer listed, renewed or notified.
    pub fn expire_subscriptions(&self) {
        let mut registry = self.webhooks().lock();
        registry.subscriptions.clear();
    }

    /// Subscriptions deleted since the sandbox started because their subscriber answered a
    /// notification with a status that is not retried (anything but 2xx, 408, 429 and 5xx).
    pub fn deleted_subscriptions(&self) -> u64 {
        self.webhooks().deleted.load(Ordering::SeqCst)
    }
}
