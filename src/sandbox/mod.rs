//! Local emulators of the Dataverse Web API and the Business Central API v2.0, so syncmap can be
//! tried and tested without a cloud tenant.
//!
//! [`Sandbox::start`] runs two HTTP services on loopback: Dataverse under `/api/data/v9.2` and
//! Business Central under `/v2.0/{tenant}/{environment}/api/v2.0`. Their tables and columns come
//! from the schema snapshots in `mappings/schemas/`, their rows live in SQLite (in memory or in
//! two files), and they answer what the real services answer for what a connector does: OAuth2
//! client-credentials tokens, collection reads with `$filter`/`$select`/`$orderby`/`$top` and
//! server-driven paging, ETags and conditional writes, Dataverse lookups and binds, `$batch` in
//! both formats, `$metadata`, throttling with `Retry-After`, and injected faults. Business
//! Central also takes webhook subscriptions (`…/api/v2.0/subscriptions`), makes their
//! handshake and sends their notifications of changed rows, as the real service does but
//! after [`Limits::notify_delay`]; subscriptions are kept in memory only.
//!
//! ```no_run
//! # async fn demo() -> Result<(), syncmap::sandbox::SandboxError> {
//! use syncmap::sandbox::{Sandbox, SandboxConfig, Seed};
//! let sandbox = Sandbox::start(SandboxConfig { seed: Seed::Demo, ..SandboxConfig::default() }).await?;
//! println!("{}", sandbox.profile_toml("SYNCMAP_SANDBOX_SECRET"));
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! [`query`] is their OData query layer: it parses the query string of a collection request and
//! evaluates `$filter` over rows the way a real OData v4 service does.

mod auth;
mod batch;
mod business_central;
mod codec;
mod collection;
mod dataverse;
mod dispatch;
mod echo;
mod faults;
mod keys;
mod metadata;
pub mod person;
pub mod query;
mod request;
mod seed;
mod server;
mod storage;
mod store;
mod tables;
mod values;

#[cfg(test)]
mod exact_tests;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use business_central::webhooks::SubscriptionInfo;
pub use faults::{Control, ServiceStats, Stats};
pub use keys::{integer_keyed_schema, NUMBERS};

/// Everything [`Sandbox::start`] needs.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The address both services listen on; loopback unless the user asks otherwise.
    pub bind: IpAddr,
    /// The Business Central port; 0 picks any free port.
    pub bc_port: u16,
    /// The Dataverse port; 0 picks any free port.
    pub dv_port: u16,
    /// A folder for the two SQLite files (`business-central.db`, `dataverse.db`); `None` keeps
    /// the data in memory.
    pub data: Option<PathBuf>,
    /// What the services hold at start.
    pub seed: Seed,
    /// Who may call the services.
    pub auth: AuthConfig,
    /// Page sizes, throttling and batch sizes.
    pub limits: Limits,
    /// Failures injected on purpose.
    pub faults: Faults,
    /// Whether the Dataverse server also serves a plain OData table keyed by integers
    /// ([`integer_keyed_schema`]: `numbers`), which a profile reaches as a system of `kind =
    /// "odata"` at the Dataverse URL. Dataverse itself keys every table by GUID; this is how
    /// clients meet `numbers(42)` and `id eq 42` without a third server.
    pub integer_keys: bool,
    /// Companies seeded like the first, besides it (`CRONUS 2`, `CRONUS 3`…), each with its
    /// row in Dataverse's `bcbi_companies`: what a profile that syncs many companies meets.
    pub more_companies: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            bc_port: 0,
            dv_port: 0,
            data: None,
            seed: Seed::Empty,
            auth: AuthConfig::default(),
            limits: Limits::default(),
            faults: Faults::default(),
            integer_keys: false,
            more_companies: 0,
        }
    }
}

/// The data the services start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    /// Only what the services always have: the Business Central companies, and Dataverse's
    /// application user, default team, base currency, company row and the options of its
    /// choice columns.
    Empty,
    /// A small consistent world for the standard mappings: currencies, payment terms and
    /// shipment methods, salespeople and users, customers, vendors, accounts and contacts. Seeded rows whose ids exist already are left
    /// alone, so a `--data` folder keeps its edits across restarts.
    Demo,
}

/// OAuth2 client credentials the token endpoints accept.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Whether the API needs a bearer token at all.
    pub required: bool,
    /// The client id the token endpoints accept.
    pub client_id: String,
    /// The client secret they accept.
    pub client_secret: String,
    /// How long a token is valid.
    pub token_ttl: Duration,
    /// Further application users (client id, client secret): each has a request budget of its
    /// own, as the services count their limits per user, so workers that authenticate as
    /// different users add up their budgets.
    pub more_clients: Vec<(String, String)>,
}

impl Default for AuthConfig {
    /// Required, client `syncmap-sandbox`, a random secret (so a default sandbox cannot be
    /// called by anyone who did not configure it), tokens valid one hour.
    fn default() -> Self {
        AuthConfig {
            required: true,
            client_id: "syncmap-sandbox".into(),
            client_secret: uuid::Uuid::new_v4().simple().to_string(),
            token_ttl: Duration::from_secs(3600),
            more_clients: Vec::new(),
        }
    }
}

/// Service limits, the real services' by default.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The largest page the server returns; `None` means the service's own cap (Dataverse
    /// 5000, Business Central 20000). `Prefer: odata.maxpagesize` asks for less, never more.
    pub max_page: Option<usize>,
    /// At most this many requests per sliding window and service; more are answered 429 with
    /// `Retry-After`. A `$batch` counts as one. `None` never throttles.
    pub requests_per_window: Option<(u32, Duration)>,
    /// The most operations in a Dataverse `$batch` (the real limit is 1000).
    pub dv_batch_max: usize,
    /// The most operations in a Business Central `$batch` (the real limit is 100).
    pub bc_batch_max: usize,
    /// Pages of this many rows whatever `Prefer: odata.maxpagesize` asks (and no
    /// `Preference-Applied`), as services that ignore the preference answer.
    pub ignore_page_size: Option<usize>,
    /// `@odata.nextLink` relative to the request URL (`accounts?$skiptoken=…`), as OData
    /// allows, instead of absolute.
    pub relative_links: bool,
    /// `@odata.nextLink` with `$skip=N` (paging by offset) instead of a keyset `$skiptoken`.
    pub skip_paging: bool,
    /// Refused values (the 400s naming a column in `error.target`) answered with status 500
    /// and the same body, as some services answer constraint and validation errors.
    pub refusals_as_500: bool,
    /// Dataverse answers its bulk actions (`CreateMultiple`, `UpdateMultiple`) 404 "Resource
    /// not found for the segment", as a service older than them does.
    pub no_bulk_actions: bool,
    /// Dataverse entity sets (`accounts`) without change tracking: their `EntityDefinitions`
    /// say `ChangeTrackingEnabled: false`, a read with `Prefer: odata.track-changes` gets no
    /// delta link, and a `$deltatoken` is refused. Every other table tracks changes.
    pub untracked: Vec<String>,
    /// How long a Dataverse delta token stays valid after it was issued; `None`: for ever
    /// (until [`Control::expire_delta_tokens`]). An expired token is refused with
    /// `0x80044352`, which tells the client to read everything again.
    pub delta_token_ttl: Option<Duration>,
    /// How long a Business Central webhook subscription lives unless renewed with a `PATCH`
    /// (the real service: three days).
    pub subscription_ttl: Duration,
    /// How long Business Central waits after the first change queued for a notification URL
    /// before it sends everything queued for that URL in one notification (the real service:
    /// 30 seconds); also the wait before a notification the subscriber answered 408, 429 or
    /// 5xx (or did not answer) is sent again, five tries in all.
    pub notify_delay: Duration,
    /// The most rows of one subscription a notification lists one by one (the real service:
    /// 1000); when more changed during one wait, the subscription gets a single `collection`
    /// entry, whose resource filters on `lastModifiedDateTime`, instead.
    pub notify_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_page: None,
            requests_per_window: None,
            dv_batch_max: 1000,
            bc_batch_max: 100,
            ignore_page_size: None,
            relative_links: false,
            skip_paging: false,
            refusals_as_500: false,
            no_bulk_actions: false,
            untracked: Vec::new(),
            delta_token_ttl: None,
            subscription_ttl: Duration::from_secs(3 * 24 * 3600),
            notify_delay: Duration::from_secs(30),
            notify_max: 1000,
        }
    }
}

/// Failures injected into answers, to test how clients cope. Draws are deterministic for a
/// seed and the order requests arrive in.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// The fraction of requests answered 503 Service Unavailable.
    pub error_rate: f64,
    /// The fraction of requests whose connection is closed without an answer, before they are
    /// processed.
    pub drop_rate: f64,
    /// The fraction of requests that write (`POST`, `PATCH`, `DELETE`, `$batch`) that are
    /// processed — committed — and whose answer is then lost: the connection closes before a
    /// byte of it reaches the client, as when a connection drops or a client times out after
    /// the service did the work.
    pub lost_answer_rate: f64,
    /// Added before every answer.
    pub delay: Duration,
    /// The seed of the draws.
    pub seed: u64,
    /// Every error answer echoes what the caller sent that it must never print: its
    /// `Authorization` headers, the bare bearer token and a posted `client_secret`, in the
    /// error's message (`error_description` at the token endpoint) — as careless services do.
    pub echo_secrets: bool,
    /// Every write sent alone (not in a `$batch`) is answered 400, as a service refusing the
    /// record: the record's own error, for tests of what becomes of a service's message.
    pub refuse_writes: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            error_rate: 0.0,
            drop_rate: 0.0,
            lost_answer_rate: 0.0,
            delay: Duration::ZERO,
            seed: 0,
            echo_secrets: false,
            refuse_writes: false,
        }
    }
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// The data folder or a database could not be used.
    #[error("{0}")]
    Storage(String),
    /// An embedded schema snapshot is broken (a build problem, not a user's).
    #[error("embedded schema snapshot: {0}")]
    Schema(String),
}

/// The tenant and environment in the Business Central URLs the sandbox gives out; any tenant
/// and environment are accepted.
const BC_TENANT: &str = "sandbox-tenant";
const BC_ENVIRONMENT: &str = "production";

/// Two running services. Dropping it without [`Sandbox::shutdown`] stops them too, abruptly.
#[derive(Debug)]
pub struct Sandbox {
    bc: server::Running,
    dv: server::Running,
    control: Control,
    company: String,
    more_companies: usize,
    auth: AuthConfig,
    /// Stops the webhook notifications when the sandbox goes.
    webhooks: business_central::webhooks::Stopper,
}

impl Sandbox {
    /// Opens the stores, seeds them, binds both ports and starts serving.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let tokens = Arc::new(auth::Tokens::new(config.auth.clone()));
        let (bc_state, dv_state, dv_store, webhooks) = server::states(&config, tokens)?;
        let control = Control::new(
            bc_state.monitor.clone(),
            dv_state.monitor.clone(),
            dv_store,
            webhooks.clone(),
        );
        let bc = server::serve(config.bind, config.bc_port, bc_state).await?;
        let dv = server::serve(config.bind, config.dv_port, dv_state).await?;
        Ok(Sandbox {
            bc,
            dv,
            control,
            company: seed::COMPANY_NAME.to_string(),
            more_companies: config.more_companies,
            auth: config.auth,
            webhooks: business_central::webhooks::Stopper(webhooks),
        })
    }

    /// The Business Central API root, with the companies under it:
    /// `http://127.0.0.1:PORT/v2.0/sandbox-tenant/production/api/v2.0`.
    pub fn bc_url(&self) -> String {
        format!(
            "http://{}/v2.0/{BC_TENANT}/{BC_ENVIRONMENT}/api/v2.0",
            self.bc.addr
        )
    }

    /// The Dataverse Web API root: `http://127.0.0.1:PORT/api/data/v9.2`.
    pub fn dv_url(&self) -> String {
        format!("http://{}/api/data/v9.2", self.dv.addr)
    }

    /// The token endpoint the Business Central server answers.
    pub fn bc_token_url(&self) -> String {
        format!("http://{}/{BC_TENANT}/oauth2/v2.0/token", self.bc.addr)
    }

    /// The token endpoint the Dataverse server answers.
    pub fn dv_token_url(&self) -> String {
        format!("http://{}/{BC_TENANT}/oauth2/v2.0/token", self.dv.addr)
    }

    /// The Dataverse user a person's changes are made by (named in `MSCRMCallerID`); the
    /// application user's own writes are the sync's echoes.
    pub fn person_user_id(&self) -> String {
        seed::person_user()
    }

    /// The name of the company the sandbox seeds ("CRONUS USA, Inc.").
    pub fn company_name(&self) -> &str {
        &self.company
    }

    /// The client credentials the token endpoints accept.
    pub fn auth(&self) -> &AuthConfig {
        &self.auth
    }

    /// A handle to change limits and faults and read statistics while the services run.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// A `syncmap.toml` for this sandbox: both systems with their URLs, the company and
    /// client-credentials auth whose secret is read from the variable `secret_env`, the
    /// request budget the sandbox throttles to (`rate_limit = false` when it does not: its
    /// services have none, unlike the real ones), and the default state store. Without
    /// required auth the systems get `kind = "none"`.
    pub fn profile_toml(&self, secret_env: &str) -> String {
        self.profile_for(&self.auth.client_id, secret_env, false)
    }

    /// The companies seeded with data, by name: the first and the [`SandboxConfig::more_companies`].
    pub fn company_names(&self) -> Vec<String> {
        seed::seeded_companies(self.more_companies)
            .into_iter()
            .map(|(name, _, _)| name)
            .collect()
    }

    /// The id of a company's row in Dataverse's `bcbi_companies`, by its name.
    pub fn dataverse_company_id(&self, name: &str) -> Option<String> {
        seed::seeded_companies(self.more_companies)
            .into_iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, id)| id)
    }

    /// [`Sandbox::profile_toml_as`] syncing every seeded company: Business Central's
    /// `companies` with their Dataverse ids, and Dataverse's `company_column` on accounts and
    /// contacts.
    pub fn companies_profile_toml_as(&self, caller: usize, secret_env: &str) -> Option<String> {
        let client_id = match caller {
            0 => Some(&self.auth.client_id),
            i => self.auth.more_clients.get(i - 1).map(|(id, _)| id),
        };
        client_id.map(|id| self.profile_for(id, secret_env, true))
    }

    /// [`Sandbox::profile_toml`] for another application user: `caller` 0 is
    /// [`AuthConfig::client_id`], `i` the `i`-th of [`AuthConfig::more_clients`] (whose secret
    /// `secret_env` must then hold); `None` for a user the sandbox does not have.
    pub fn profile_toml_as(&self, caller: usize, secret_env: &str) -> Option<String> {
        let client_id = match caller {
            0 => Some(&self.auth.client_id),
            i => self.auth.more_clients.get(i - 1).map(|(id, _)| id),
        };
        client_id.map(|id| self.profile_for(id, secret_env, false))
    }

    fn profile_for(&self, client_id: &str, secret_env: &str, companies: bool) -> String {
        let auth = |token_url: String, scope: &str| {
            if self.auth.required {
                format!(
                    "{{ kind = \"client_credentials\", token_url = \"{token_url}\", client_id = \"{client_id}\", \
                     client_secret_env = \"{secret_env}\", scope = \"{scope}\" }}"
                )
            } else {
                "{ kind = \"none\" }".to_string()
            }
        };
        let quoted = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let (company, company_column) = if companies {
            let list: Vec<String> = seed::seeded_companies(self.more_companies)
                .iter()
                .map(|(name, _, dv)| {
                    format!("{{ name = {}, dataverse_id = \"{dv}\" }}", quoted(name))
                })
                .collect();
            (
                format!("companies = [{}]", list.join(", ")),
                "company_column = { name = \"bcbi_companyid\", table = \"bcbi_companies\", on = [\"accounts\", \"contacts\"] }\n",
            )
        } else {
            (format!("company = {}", quoted(&self.company)), "")
        };
        let budget = match self.control.limits().requests_per_window {
            // Whole seconds, rounded up: a budget over a shorter window would be broken.
            Some((n, window)) => format!(
                "{{ requests = {n}, seconds = {} }}",
                (window.as_secs() + u64::from(window.subsec_nanos() > 0)).max(1)
            ),
            None => "false".to_string(),
        };
        format!(
            "[state]\nurl = \"sqlite://.syncmap/state.db\"\n\n\
             [systems.bc]\nurl = \"{}\"\n{company}\nauth = {}\nrate_limit = {budget}\n\n\
             [systems.dv]\nurl = \"{}\"\nauth = {}\nrate_limit = {budget}\n{company_column}",
            self.bc_url(),
            auth(
                self.bc_token_url(),
                "https://api.businesscentral.dynamics.com/.default"
            ),
            self.dv_url(),
            auth(
                self.dv_token_url(),
                &format!("http://{}/.default", self.dv.addr)
            ),
        )
    }

    /// Stops accepting connections, lets requests in flight finish, and closes the stores.
    /// Webhook notifications not yet sent are given up.
    pub async fn shutdown(self) {
        self.webhooks.0.stop();
        self.bc.stop().await;
        self.dv.stop().await;
    }
}
