//! The scheduler's webhook subscriptions: one per Business Central table its woken jobs read.
//! At start it takes over those an earlier process left at the same URL (so a restart never
//! doubles them), renews each halfway to its expiry, makes one again where the service lost
//! it, retries what failed a minute later, and deletes them all when it stops. A table the
//! service refuses to notify about is synced by its job's interval alone.
//!
//! Every call to the service is bounded ([`CALL_LIMIT`]): the scheduler's loop waits for them,
//! and a slow service must not hold its jobs up for long.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::listen::Hooks;
use super::timing::Timer;
use crate::connectors::odata::subscriptions::Subscription;
use crate::connectors::odata::ODataConnector;
use crate::connectors::ConnectorError;
use crate::plan::Plan;
use crate::profile::Secret;
use crate::runtime::engine::directions;
use crate::runtime::systems::{AnyConnector, Systems};

/// The shortest wait before a renewal, so a service that gives short lives is not asked in a
/// loop.
const MIN_RENEWAL: SignedDuration = SignedDuration::from_secs(1);

/// How long after a failure a subscription is tried again.
const RETRY: SignedDuration = SignedDuration::from_mins(1);

/// The longest wait before a table the service refused is tried again (the wait doubles from
/// [`RETRY`] with each refusal in a row): a refusal may be the service's for good (a table it
/// does not notify about) or passing (the handshake with a proxy not ready yet).
const MAX_RETRY: SignedDuration = SignedDuration::from_hours(1);

/// The longest one call to the service may take (its own retries included).
pub const CALL_LIMIT: Duration = Duration::from_secs(20);

/// One table's subscription, or the want of one.
#[derive(Debug, Clone)]
struct Kept {
    system: String,
    table: String,
    /// None while it is still to be made (a call failed).
    subscription: Option<Subscription>,
    /// When to renew it, or to try again.
    due: Timestamp,
    /// Refusals in a row to make it.
    refusals: u32,
}

/// The subscriptions kept, and when each is renewed.
#[derive(Debug, Default)]
pub struct Webhooks {
    kept: Vec<Kept>,
    /// Where notifications go, by system alias.
    urls: BTreeMap<String, String>,
}

/// The tables to watch, by system alias: those the woken jobs ([`Timer::wakes`]) read from
/// (source sides) on systems that offer webhooks.
pub fn tables_to_watch(plan: &Plan, systems: &Systems) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let in_jobs: BTreeSet<&str> = plan
        .jobs
        .values()
        .filter(|j| Timer::wakes(j))
        .flat_map(|j| j.tables.iter().map(String::as_str))
        .collect();
    for t in plan
        .tables
        .iter()
        .filter(|t| in_jobs.contains(t.name.as_str()))
    {
        for dir in directions(t.flow) {
            let side = t.side(dir.source());
            let webhooks = matches!(systems.get(&side.system), Ok(AnyConnector::OData(c)) if c.offers_webhooks());
            // A choice's options (`accounts.paymenttermscode`) are Dataverse's, never here.
            if webhooks && !side.table.contains('.') {
                out.entry(side.system.clone())
                    .or_default()
                    .insert(side.table.clone());
            }
        }
    }
    out
}

/// `call`, given up after [`CALL_LIMIT`].
async fn bounded<T>(
    call: impl Future<Output = Result<T, ConnectorError>>,
) -> Result<T, ConnectorError> {
    tokio::time::timeout(CALL_LIMIT, call)
        .await
        .unwrap_or_else(|_| {
            Err(ConnectorError::Transient(format!(
                "no answer within {} s",
                CALL_LIMIT.as_secs()
            )))
        })
}

impl Webhooks {
    /// Subscribes `{base_url}/notifications/{system}` to each table, taking over the
    /// subscriptions to that URL the service holds.
    pub async fn start(
        systems: &Systems,
        watch: &BTreeMap<String, BTreeSet<String>>,
        base_url: &str,
        hooks: &Hooks,
    ) -> Webhooks {
        let mut w = Webhooks::default();
        let now = Timestamp::now();
        for (alias, tables) in watch {
            let url = format!("{}/notifications/{alias}", base_url.trim_end_matches('/'));
            w.urls.insert(alias.clone(), url);
            for table in tables {
                w.kept.push(Kept {
                    system: alias.clone(),
                    table: table.clone(),
                    subscription: None,
                    due: now,
                    refusals: 0,
                });
            }
        }
        w.attach_missing(systems, hooks).await;
        w.tell(hooks);
        w
    }

    /// Tells the endpoint which subscriptions are this process's.
    fn tell(&self, hooks: &Hooks) {
        for alias in self.urls.keys() {
            let ids = self
                .kept
                .iter()
                .filter(|k| &k.system == alias)
                .filter_map(|k| k.subscription.as_ref().map(|s| s.id.clone()))
                .collect();
            hooks.know(alias, ids);
        }
    }

    /// When the next renewal (or retry) is due.
    pub fn next_renewal(&self) -> Option<Timestamp> {
        self.kept.iter().map(|k| k.due).min()
    }

    /// Renews the subscriptions due, and makes those still missing. Returns the tables whose
    /// subscriptions were made anew: their changes in between may not have been notified.
    pub async fn renew_due(&mut self, systems: &Systems, hooks: &Hooks) -> Vec<(String, String)> {
        let now = Timestamp::now();
        let mut made = Vec::new();
        for i in 0..self.kept.len() {
            let k = self.kept[i].clone();
            let (Some(s), true) = (&k.subscription, k.due <= now) else {
                continue;
            };
            // Tried again later whatever happens, so a failure never makes a loop.
            self.kept[i].due = later(now);
            let (Ok(AnyConnector::OData(c)), Some(state)) =
                (systems.get(&k.system), hooks.client_state(&k.system))
            else {
                continue;
            };
            let renewed = renew(c, s, state).await;
            self.kept[i].due = later(Timestamp::now());
            match renewed {
                Ok(s) => self.keep(i, s, "renewed the webhook subscription"),
                Err(ConnectorError::NotFound { .. }) => {
                    tracing::warn!(system = %k.system, table = %k.table, "the service no longer has the webhook subscription; making it again");
                    self.kept[i].subscription = None;
                    self.kept[i].due = now;
                }
                Err(e) => {
                    tracing::warn!(system = %k.system, table = %k.table, error = %e, "cannot renew the webhook subscription; trying again in a minute");
                }
            }
        }
        made.extend(self.attach_missing(systems, hooks).await);
        self.tell(hooks);
        made
    }

    /// For each system with tables still to subscribe whose time has come: lists the
    /// subscriptions to its URL, renews one per table (with this process's client state),
    /// makes the missing ones and deletes the rest (doubles, tables no job reads now).
    /// Returns the tables subscribed to.
    async fn attach_missing(&mut self, systems: &Systems, hooks: &Hooks) -> Vec<(String, String)> {
        let now = Timestamp::now();
        let due: BTreeSet<String> = self
            .kept
            .iter()
            .filter(|k| k.subscription.is_none() && k.due <= now)
            .map(|k| k.system.clone())
            .collect();
        let mut made = Vec::new();
        for alias in due {
            let (Ok(AnyConnector::OData(c)), Some(state), Some(url)) = (
                systems.get(&alias),
                hooks.client_state(&alias),
                self.urls.get(&alias).cloned(),
            ) else {
                self.retry_missing(&alias, now);
                continue;
            };
            let found: Vec<Subscription> = match bounded(c.subscriptions()).await {
                Ok(all) => all
                    .into_iter()
                    .filter(|s| s.notification_url == url)
                    .collect(),
                Err(e) => {
                    // Made blindly, a subscription could double one the service holds.
                    tracing::warn!(system = %alias, error = %e, "cannot list the webhook subscriptions; trying again in a minute");
                    self.retry_missing(&alias, now);
                    continue;
                }
            };
            // Before any is renewed with this process's state: a notification the service
            // made before carries the old one, and must not be refused (which would make the
            // service delete the subscription).
            let mut ids: BTreeSet<String> = found.iter().map(|s| s.id.clone()).collect();
            ids.extend(
                self.kept
                    .iter()
                    .filter(|k| k.system == alias)
                    .filter_map(|k| k.subscription.as_ref().map(|s| s.id.clone())),
            );
            hooks.know(&alias, ids);
            made.extend(self.take_over(c, &alias, &url, found, state).await);
            self.tell(hooks);
        }
        made
    }

    /// Subscribes this system's missing tables, reusing what `found` holds.
    async fn take_over(
        &mut self,
        c: &ODataConnector,
        alias: &str,
        url: &str,
        mut found: Vec<Subscription>,
        state: &Secret,
    ) -> Vec<(String, String)> {
        let mut made = Vec::new();
        // Not to be deleted: the subscriptions kept already, and those a renewal failed on
        // (one may still be the table's).
        let mut spared: BTreeSet<String> = self
            .kept
            .iter()
            .filter(|k| k.system == alias)
            .filter_map(|k| k.subscription.as_ref().map(|s| s.id.clone()))
            .collect();
        let mut failed = false;
        for i in 0..self.kept.len() {
            let k = self.kept[i].clone();
            if k.system != alias || k.subscription.is_some() {
                continue;
            }
            let attached = attach(c, &k.table, url, &mut found, &mut spared, state).await;
            let now = Timestamp::now();
            self.kept[i].due = later(now);
            match attached {
                Ok(s) => {
                    self.kept[i].refusals = 0;
                    self.keep(i, s, "subscribed to the table's changes");
                    made.push((k.system, k.table));
                }
                Err(e @ (ConnectorError::Rejected(_) | ConnectorError::Fatal(_))) => {
                    failed = true;
                    let n = self.kept[i].refusals.saturating_add(1);
                    let wait = RETRY
                        .checked_mul(1 << (n - 1).min(6))
                        .unwrap_or(MAX_RETRY)
                        .min(MAX_RETRY);
                    self.kept[i].refusals = n;
                    self.kept[i].due = now.saturating_add(wait).unwrap_or(now);
                    tracing::warn!(system = %alias, table = %k.table, error = %e, retry_in_seconds = wait.as_secs(), "the service refused to notify about this table: its job finds its changes by its interval meanwhile");
                }
                Err(e) => {
                    failed = true;
                    tracing::warn!(system = %alias, table = %k.table, error = %e, "cannot subscribe to the table's changes; trying again in a minute");
                }
            }
        }
        // Left over: doubles, and subscriptions of this URL to tables no job reads now. After
        // a failure, one of them may be the failed table's: nothing is deleted this time.
        if !failed {
            for s in found.iter().filter(|s| !spared.contains(&s.id)) {
                unsubscribe(c, alias, s).await;
            }
        }
        made
    }

    fn retry_missing(&mut self, alias: &str, now: Timestamp) {
        for k in self.kept.iter_mut().filter(|k| k.system == alias) {
            if k.subscription.is_none() {
                k.due = later(now);
            }
        }
    }

    /// Keeps the subscription of `kept[i]` as the service answered it.
    fn keep(&mut self, i: usize, subscription: Subscription, what: &str) {
        let k = &mut self.kept[i];
        let expires = subscription.expires.map(|t| t.to_string());
        tracing::info!(system = %k.system, table = %k.table, id = %subscription.id, expires = ?expires, "{what}");
        k.due = renewal_time(Timestamp::now(), subscription.expires);
        k.subscription = Some(subscription);
    }

    /// Deletes every subscription kept, so the service stops calling a process that is gone;
    /// bounded as a whole, since a service manager waits only so long for a stop.
    pub async fn stop(self, systems: &Systems) {
        let all = async {
            for k in &self.kept {
                let (Ok(AnyConnector::OData(c)), Some(s)) =
                    (systems.get(&k.system), &k.subscription)
                else {
                    continue;
                };
                unsubscribe(c, &k.system, s).await;
            }
        };
        if tokio::time::timeout(CALL_LIMIT, all).await.is_err() {
            tracing::warn!("gave up deleting the webhook subscriptions; they expire by themselves, and the next start takes them over");
        }
    }
}

/// One table's subscription: the first of `found` to its collection, renewed (a double of it
/// is left in `found`, to be deleted), else a new one.
async fn attach(
    c: &ODataConnector,
    table: &str,
    url: &str,
    found: &mut Vec<Subscription>,
    spared: &mut BTreeSet<String>,
    state: &Secret,
) -> Result<Subscription, ConnectorError> {
    let resource = bounded(c.subscription_resource(table)).await?;
    while let Some(at) = found
        .iter()
        .position(|s| same_resource(&s.resource, &resource) && !spared.contains(&s.id))
    {
        let s = found.remove(at);
        match renew(c, &s, state).await {
            Ok(renewed) => return Ok(renewed),
            Err(ConnectorError::NotFound { .. }) => {
                // Gone, or so the service says: deleted all the same, so it cannot double
                // the one made instead.
                let _ = bounded(c.unsubscribe(&s)).await;
                continue;
            }
            Err(e) => {
                // Not deleted, not doubled: the table is tried again later.
                spared.insert(s.id);
                return Err(e);
            }
        }
    }
    bounded(c.subscribe(url, &resource, state)).await
}

/// Renews `s`; one changed since it was read is read again and renewed once more.
async fn renew(
    c: &ODataConnector,
    s: &Subscription,
    state: &Secret,
) -> Result<Subscription, ConnectorError> {
    match bounded(c.renew(s, state)).await {
        Err(ConnectorError::Conflict { table, key }) => {
            let Some(now) = bounded(c.subscription(&s.id)).await? else {
                return Err(ConnectorError::NotFound { table, key });
            };
            bounded(c.renew(&now, state)).await
        }
        other => other,
    }
}

fn later(now: Timestamp) -> Timestamp {
    now.saturating_add(RETRY).unwrap_or(now)
}

/// Halfway from now to the expiry (at least a second away); two days from now when the
/// service gave none.
fn renewal_time(now: Timestamp, expires: Option<Timestamp>) -> Timestamp {
    let left = expires.map_or(SignedDuration::from_hours(48), |e| e.duration_since(now));
    let half = (left / 2).max(MIN_RENEWAL);
    now.saturating_add(half).unwrap_or(now)
}

/// Whether a subscription's resource is this one: the service may give it back absolute, or
/// without its leading `/`.
fn same_resource(given: &str, wanted: &str) -> bool {
    let trim = |s: &str| {
        let path = s.find("/api/").map_or(s, |at| &s[at..]);
        path.trim_start_matches('/').to_ascii_lowercase()
    };
    trim(given) == trim(wanted)
}

async fn unsubscribe(c: &ODataConnector, alias: &str, s: &Subscription) {
    match bounded(c.unsubscribe(s)).await {
        Ok(()) => {
            tracing::info!(system = %alias, id = %s.id, resource = %s.resource, "deleted a webhook subscription")
        }
        Err(e) => {
            tracing::warn!(system = %alias, id = %s.id, error = %e, "cannot delete a webhook subscription")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_halfway_to_expiry_and_never_at_once() {
        let now: Timestamp = "2026-12-05T00:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let in_3_days = now.saturating_add(SignedDuration::from_hours(72)).ok();
        assert_eq!(
            renewal_time(now, in_3_days).duration_since(now),
            SignedDuration::from_hours(36)
        );
        let gone = now.saturating_sub(SignedDuration::from_hours(1)).ok();
        assert_eq!(renewal_time(now, gone).duration_since(now), MIN_RENEWAL);
    }

    #[test]
    fn resources_compare_whatever_the_form() {
        let wanted = "/api/v2.0/companies(1f)/customers";
        assert!(same_resource("api/v2.0/companies(1F)/customers", wanted));
        assert!(same_resource(
            "https://bc.example/v2.0/t/p/api/v2.0/companies(1f)/customers",
            wanted
        ));
        assert!(!same_resource("/api/v2.0/companies(1f)/vendors", wanted));
    }
}
