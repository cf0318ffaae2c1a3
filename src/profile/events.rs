//! `[listen]` and `[poll]`: how `syncmap schedule` learns of changes between its runs, from
//! Business Central's webhooks and by probing Dataverse's change tracking.

use serde::Deserialize;

/// `[listen]`: where `syncmap schedule` serves the endpoint Business Central sends its webhook
/// notifications to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// The address to listen on (`HOST:PORT`; port 0 picks one).
    pub addr: String,
    /// The URL the service calls, when it reaches this process another way (a reverse proxy,
    /// a public host name): notifications for system `bc` go to `{url}/notifications/bc`.
    /// `http://{addr}` when absent.
    #[serde(default)]
    pub url: Option<String>,
}

/// `[poll]`: how often `syncmap schedule` asks Dataverse whether a tracked table changed since
/// its last run (one request of one row per table), between the runs of its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollConfig {
    /// Seconds between probes after a change was seen; 0 never probes.
    #[serde(default = "default_poll_seconds")]
    pub seconds: u64,
    /// The longest wait between probes: it doubles while nothing changes, up to this. The
    /// job's own wait when absent, so a quiet table is probed no more often than its job runs.
    #[serde(default)]
    pub idle_seconds: Option<u64>,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            seconds: default_poll_seconds(),
            idle_seconds: None,
        }
    }
}

fn default_poll_seconds() -> u64 {
    2
}
