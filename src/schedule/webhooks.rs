//! The scheduler's webhook subscriptions: one per Business Central table its jobs read, made
//! when it starts (taking over those an earlier process left, so a restart never doubles
//! them), renewed halfway to their expiry, and deleted when it stops. A table the service
//! cannot notify about is synced by its job's interval alone.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};

use super::listen::Hooks;
use crate::connectors::odata::subscriptions::Subscription;
use crate::connectors::odata::ODataConnector;
use crate::connectors::ConnectorError;
use crate::plan::Plan;
use crate::runtime::engine::directions;
use crate::runtime::systems::{AnyConnector, Systems};

/// The shortest wait before a renewal, so a service that gives short lives is not asked in a
/// loop.
const MIN_RENEWAL: SignedDuration = SignedDuration::from_secs(1);

/// One subscription the scheduler keeps.
#[derive(Debug, Clone)]
struct Kept {
    system: String,
    table: String,
    subscription: Subscription,
    renew_at: Timestamp,
}

/// The subscriptions kept, and when each is renewed.
#[derive(Debug, Default)]
pub struct Webhooks {
    kept: Vec<Kept>,
    /// Where notifications go, by system alias.
    urls: BTreeMap<String, String>,
}

/// The Business Central tables each system's jobs read from (source sides), by system alias.
pub fn tables_to_watch(plan: &Plan, systems: &Systems) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let in_jobs: BTreeSet<&str> = plan
        .jobs
        .values()
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

impl Webhooks {
    /// Subscribes `{base_url}/notifications/{system}` to each table, renewing (with this
    /// process's client state) the subscriptions to that URL it finds, deleting doubles and
    /// those to tables no job reads now.
    pub async fn start(
        systems: &Systems,
        watch: &BTreeMap<String, BTreeSet<String>>,
        base_url: &str,
        hooks: &Hooks,
    ) -> Webhooks {
        let mut w = Webhooks::default();
        for (alias, tables) in watch {
            let (Ok(AnyConnector::OData(c)), Some(state)) =
                (systems.get(alias), hooks.client_state(alias))
            else {
                continue;
            };
            let url = format!("{}/notifications/{alias}", base_url.trim_end_matches('/'));
            w.urls.insert(alias.clone(), url.clone());
            let found = match c.subscriptions().await {
                Ok(all) => all
                    .into_iter()
                    .filter(|s| s.notification_url == url)
                    .collect(),
                Err(e) => {
                    tracing::warn!(system = %alias, error = %e, "cannot list webhook subscriptions; making new ones");
                    Vec::new()
                }
            };
            w.take_over(c, alias, tables, found, state).await;
        }
        w
    }

    /// Keeps one subscription per table among those found (renewed), makes the missing ones
    /// and deletes the rest.
    async fn take_over(
        &mut self,
        c: &ODataConnector,
        alias: &str,
        tables: &BTreeSet<String>,
        mut found: Vec<Subscription>,
        state: &crate::profile::Secret,
    ) {
        let url = self.urls.get(alias).cloned().unwrap_or_default();
        for table in tables {
            let resource = match c.subscription_resource(table).await {
                Ok(r) => r,
                Err(e) => {
                    warn_unwatched(alias, table, &e);
                    continue;
                }
            };
            let mut same: Vec<Subscription> = Vec::new();
            found.retain(|s| {
                let mine = same_resource(&s.resource, &resource);
                if mine {
                    same.push(s.clone());
                }
                !mine
            });
            let mut made = None;
            for s in same {
                if made.is_none() {
                    made = c.renew(&s, state).await.ok();
                    if made.is_some() {
                        continue;
                    }
                }
                unsubscribe(c, alias, &s).await;
            }
            let made = match made {
                Some(s) => Ok(s),
                None => c.subscribe(&url, &resource, state).await,
            };
            match made {
                Ok(s) => self.keep(alias, table, s, false),
                Err(e) => warn_unwatched(alias, table, &e),
            }
        }
        // Left over: subscriptions of this URL to tables no job reads any more.
        for s in found {
            unsubscribe(c, alias, &s).await;
        }
    }

    /// Keeps a subscription made (or taken over) now, or renewed (`renewal`).
    fn keep(&mut self, system: &str, table: &str, subscription: Subscription, renewal: bool) {
        let expires = subscription.expires.map(|t| t.to_string());
        let id = &subscription.id;
        if renewal {
            tracing::info!(system = %system, table = %table, id = %id, expires = ?expires, "renewed the webhook subscription");
        } else {
            tracing::info!(system = %system, table = %table, id = %id, expires = ?expires, "subscribed to the table's changes");
        }
        let renew_at = renewal_time(Timestamp::now(), subscription.expires);
        self.kept
            .retain(|k| !(k.system == system && k.table == table));
        self.kept.push(Kept {
            system: system.to_string(),
            table: table.to_string(),
            subscription,
            renew_at,
        });
    }

    /// The tables subscribed to, as `(system, table)`.
    pub fn watched(&self) -> BTreeSet<(String, String)> {
        self.kept
            .iter()
            .map(|k| (k.system.clone(), k.table.clone()))
            .collect()
    }

    /// When the next renewal is due.
    pub fn next_renewal(&self) -> Option<Timestamp> {
        self.kept.iter().map(|k| k.renew_at).min()
    }

    /// Renews the subscriptions due; one the service no longer has is made again. Returns the
    /// tables whose subscriptions were made again: their changes in between may not have been
    /// notified.
    pub async fn renew_due(&mut self, systems: &Systems, hooks: &Hooks) -> Vec<(String, String)> {
        let now = Timestamp::now();
        let due: Vec<Kept> = self
            .kept
            .iter()
            .filter(|k| k.renew_at <= now)
            .cloned()
            .collect();
        let mut touched = Vec::new();
        for k in due {
            let (Ok(AnyConnector::OData(c)), Some(state)) =
                (systems.get(&k.system), hooks.client_state(&k.system))
            else {
                continue;
            };
            let (renewed, made_again) = match c.renew(&k.subscription, state).await {
                Ok(s) => (Ok(s), false),
                Err(e) => {
                    tracing::warn!(system = %k.system, table = %k.table, error = %e, "cannot renew the webhook subscription; making a new one");
                    let url = self.urls.get(&k.system).cloned().unwrap_or_default();
                    (
                        c.subscribe(&url, &k.subscription.resource, state).await,
                        true,
                    )
                }
            };
            match renewed {
                Ok(s) => {
                    self.keep(&k.system, &k.table, s, !made_again);
                    if made_again {
                        touched.push((k.system, k.table));
                    }
                }
                Err(e) => {
                    // Tried again shortly; the job's interval keeps the table synced meanwhile.
                    tracing::warn!(system = %k.system, table = %k.table, error = %e, "cannot subscribe to the table's changes; trying again in a minute");
                    if let Some(kept) = self
                        .kept
                        .iter_mut()
                        .find(|x| x.system == k.system && x.table == k.table)
                    {
                        kept.renew_at = now
                            .saturating_add(SignedDuration::from_mins(1))
                            .unwrap_or(now);
                    }
                }
            }
        }
        touched
    }

    /// Deletes every subscription kept, so the service stops calling a process that is gone.
    pub async fn stop(self, systems: &Systems) {
        for k in self.kept {
            if let Ok(AnyConnector::OData(c)) = systems.get(&k.system) {
                unsubscribe(c, &k.system, &k.subscription).await;
            }
        }
    }
}

/// Halfway from now to the expiry (at least a second away); a day from now when the service
/// gave none.
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
    match c.unsubscribe(s).await {
        Ok(()) => {
            tracing::info!(system = %alias, id = %s.id, resource = %s.resource, "deleted a webhook subscription")
        }
        Err(e) => {
            tracing::warn!(system = %alias, id = %s.id, error = %e, "cannot delete a webhook subscription")
        }
    }
}

fn warn_unwatched(alias: &str, table: &str, e: &ConnectorError) {
    tracing::warn!(
        system = %alias,
        table = %table,
        error = %e,
        "no webhook for this table: its job finds its changes by its interval"
    );
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
