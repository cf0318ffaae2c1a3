//! The HTTP connectors: Dataverse (`kind dataverse`), Business Central (`kind
//! business_central`) and any OData v4 service (`kind odata`), one implementation with the
//! differences in [`flavor`]. Reads page by `@odata.nextLink` with the plan's `$filter` pushed
//! down; writes go in `$batch` requests (multipart for Dataverse, JSON for Business Central)
//! sent concurrently within the profile's bound; `If-Match` carries the ETag a row was read with.

pub mod auth;
mod bulk;
mod choices;
pub mod client;
pub mod failure;
pub mod flavor;
mod gate;
mod metadata;
pub mod pacing;
pub mod paging;
mod probe;
mod read;
pub mod rows;
pub mod subscriptions;
mod tracking;
mod write;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value as Json;
use tokio::sync::OnceCell;

use self::auth::{Authenticator, Credentials};
use self::client::{Client, Request};
use self::flavor::{BatchFormat, Flavor};
use self::pacing::RateLimit;
use super::{
    Capabilities, Connector, ConnectorError, Page, ReadRequest, Row, TableRef, Tracking, WriteOp,
    WriteOutcome,
};
use crate::odata::literal;
use crate::profile::{self, BatchMode, ChangeReads, HttpSettings, Secret, SystemConfig};
use crate::value::ColumnKind;
use crate::value::Value;

pub use metadata::fetch_metadata;

/// Where and how to reach one service.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The system alias, for messages.
    pub system: String,
    /// The kind of service.
    pub flavor: Flavor,
    /// The service root (`…/api/data/v9.2`, `…/api/v2.0`), without a trailing `/`.
    pub url: String,
    /// The company, by name or id (Business Central).
    pub company: Option<String>,
    /// Tuning.
    pub http: HttpSettings,
}

impl Endpoint {
    /// The budget requests are paced to: the profile's `rate_limit`, else the kind's own.
    pub fn request_budget(&self) -> Option<RateLimit> {
        match self.http.rate_limit {
            None => self.flavor.request_budget(),
            Some(profile::RateLimit::Off) => None,
            Some(profile::RateLimit::Budget { requests, seconds }) => Some(RateLimit {
                requests,
                window: Duration::from_secs(seconds),
            }),
        }
    }

    /// How writes travel: the profile's `batch`, else the kind's own format; `None` sends
    /// one request per write.
    pub fn batch_format(&self) -> Option<BatchFormat> {
        match self.http.batch {
            None => Some(self.flavor.batch_format()),
            Some(BatchMode::Json) => Some(BatchFormat::Json),
            Some(BatchMode::Multipart) => Some(BatchFormat::Multipart),
            Some(BatchMode::None) => None,
        }
    }

    /// The endpoint a profile's system section describes.
    pub fn from_profile(config: &SystemConfig, flavor: Flavor) -> Result<Endpoint, ConnectorError> {
        let mut url = config.url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConnectorError::Fatal(format!(
                "system `{}`: the URL must start with https:// (or http:// for a local sandbox)",
                config.name
            )));
        }
        if let Some(route) = &config.http.api {
            // A custom API lives beside API v2.0: `…/api/{publisher}/{group}/{version}`.
            let Some(base) = url.strip_suffix("/api/v2.0") else {
                return Err(ConnectorError::Fatal(format!(
                    "system `{}`: `api = \"{route}\"` needs the URL of API v2.0 (ending in /api/v2.0) to find the custom route beside it",
                    config.name
                )));
            };
            url = format!("{base}/api/{}", route.trim_matches('/'));
        }
        let http = &config.http;
        if http.bulk_creates == Some(true) {
            let why = if flavor != Flavor::Dataverse {
                Some("this kind of service does not offer it")
            } else if http.client_keys == Some(false) {
                Some("it needs `client_keys`, which is off")
            } else if http.batch == Some(BatchMode::None) {
                Some("`batch = \"none\"` sends one request per write")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(ConnectorError::Fatal(format!(
                    "system `{}`: `bulk_creates = true` asks for Dataverse's `CreateMultiple`, but {why}",
                    config.name
                )));
            }
        }
        if http.changes == ChangeReads::Tracking && flavor != Flavor::Dataverse {
            return Err(ConnectorError::Fatal(format!(
                "system `{}`: `changes = \"tracking\"` follows Dataverse's change tracking, which this kind of service does not offer",
                config.name
            )));
        }
        if flavor == Flavor::BusinessCentral && config.company.is_none() {
            return Err(ConnectorError::Fatal(format!(
                "system `{}`: Business Central needs `company = \"…\"` (its name or id) in the profile",
                config.name
            )));
        }
        Ok(Endpoint {
            system: config.name.clone(),
            flavor,
            url,
            company: config.company.clone(),
            http: config.http.clone(),
        })
    }
}

/// A connector to an OData v4 service.
pub struct ODataConnector {
    endpoint: Endpoint,
    client: Client,
    /// `…/companies(id)` for Business Central, else the service root; found on first use.
    scope: OnceCell<String>,
    /// The tables found not to offer `CreateMultiple`.
    lacking_bulk: Mutex<HashSet<String>>,
}

impl ODataConnector {
    /// A connector; nothing is sent until the first call.
    pub fn new(
        endpoint: Endpoint,
        credentials: Credentials,
    ) -> Result<ODataConnector, ConnectorError> {
        let client = Client::new(
            &endpoint.system,
            Authenticator::new(&endpoint.system, credentials),
            endpoint.http.concurrency,
            Duration::from_secs(endpoint.http.timeout_secs),
            endpoint.http.max_retries,
        )?
        .ieee754_compatible(endpoint.http.ieee754_compatible)
        .paced(endpoint.request_budget());
        Ok(ODataConnector {
            endpoint,
            client,
            scope: OnceCell::new(),
            lacking_bulk: Mutex::default(),
        })
    }

    /// A connector for a profile's system, its secret read from the environment (or given).
    pub fn open(
        config: &SystemConfig,
        flavor: Flavor,
        secret: Option<Secret>,
    ) -> Result<ODataConnector, ConnectorError> {
        let secret = match secret {
            Some(s) => Some(s),
            None => config
                .secret()
                .map_err(|e| ConnectorError::Fatal(e.to_string()))?,
        };
        let credentials = Credentials::from_profile(&config.auth, secret)
            .map_err(|e| ConnectorError::Fatal(format!("system `{}`: {e}", config.name)))?;
        ODataConnector::new(Endpoint::from_profile(config, flavor)?, credentials)
    }

    /// Whether a table was found not to offer `CreateMultiple`.
    fn lacks_bulk(&self, table: &str) -> bool {
        let lacking = self.lacking_bulk.lock().unwrap_or_else(|e| e.into_inner());
        lacking.contains(table)
    }

    /// Remembers for the connector's life that a table does not offer `CreateMultiple`.
    fn mark_lacks_bulk(&self, table: &str) {
        let mut lacking = self.lacking_bulk.lock().unwrap_or_else(|e| e.into_inner());
        lacking.insert(table.to_string());
    }

    /// The HTTP client (its traffic counters).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The URL tables hang under: the company's for Business Central.
    async fn scope(&self) -> Result<&str, ConnectorError> {
        self.scope
            .get_or_try_init(|| async {
                match (&self.endpoint.company, self.endpoint.flavor) {
                    (Some(company), Flavor::BusinessCentral) => self.company_scope(company).await,
                    _ => Ok(self.endpoint.url.clone()),
                }
            })
            .await
            .map(String::as_str)
    }

    /// `…/companies(id)` of the company a profile names by name, display name or id.
    async fn company_scope(&self, company: &str) -> Result<String, ConnectorError> {
        let url = format!("{}/companies", self.endpoint.url);
        let body = self.get_json(&url).await?;
        let companies = body
            .get("value")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let text = |c: &Json, k: &str| c.get(k).and_then(Json::as_str).map(str::to_string);
        let found = companies.iter().find(|c| {
            ["id", "name", "displayName"]
                .iter()
                .any(|k| text(c, k).is_some_and(|v| v.eq_ignore_ascii_case(company)))
        });
        match found.and_then(|c| text(c, "id")) {
            Some(id) => Ok(format!(
                "{}/companies{}",
                self.endpoint.url,
                literal::key_segment(&id, ColumnKind::Guid)
            )),
            None => {
                let names: Vec<String> = companies.iter().filter_map(|c| text(c, "name")).collect();
                Err(ConnectorError::Fatal(format!(
                    "system `{}`: no company `{company}`; the service has: {}",
                    self.endpoint.system,
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                )))
            }
        }
    }

    /// The collection URL of a table.
    async fn collection(&self, table: &str) -> Result<String, ConnectorError> {
        Ok(format!("{}/{table}", self.scope().await?))
    }

    /// The URL of one row.
    async fn entity(&self, table: TableRef<'_>, key: &str) -> Result<String, ConnectorError> {
        let ty = table
            .info
            .columns
            .get(&table.info.key)
            .map_or(ColumnKind::Guid, |c| c.ty);
        Ok(format!(
            "{}{}",
            self.collection(table.name).await?,
            literal::key_segment(key, ty)
        ))
    }

    /// GETs JSON, failing on any status but 200.
    async fn get_json(&self, url: &str) -> Result<Json, ConnectorError> {
        self.send_for_json(&Request::get(url.to_string())).await
    }

    /// Sends a GET (with whatever headers it carries) for JSON, failing on any status but 200.
    async fn send_for_json(&self, request: &Request) -> Result<Json, ConnectorError> {
        let url = request.url.as_str();
        let response = self.client.send(request).await?;
        if !response.status.is_success() {
            let message = format!(
                "{}: GET {} failed: {}",
                self.endpoint.system,
                failure::without_query(url),
                response.error_message()
            );
            return Err(match response.status.as_u16() {
                404 | 400 => ConnectorError::Fatal(message),
                _ => ConnectorError::Transient(message),
            });
        }
        serde_json::from_slice(&response.body).map_err(|e| {
            ConnectorError::Transient(format!(
                "{}: GET {} answered with invalid JSON: {e}",
                self.endpoint.system,
                failure::without_query(url)
            ))
        })
    }
}

impl Connector for ODataConnector {
    fn capabilities(&self) -> Capabilities {
        let limit = self.endpoint.flavor.max_batch();
        let per_batch = self.endpoint.http.batch_size.unwrap_or(limit).min(limit);
        Capabilities {
            client_keys: self
                .endpoint
                .http
                .client_keys
                .unwrap_or(self.endpoint.flavor.client_keys()),
            // The engine hands over as many writes as fit in the batches sent at once; the
            // connector splits them into `$batch` requests of the service's size.
            max_batch: per_batch * self.endpoint.http.concurrency.max(1),
            max_page: self.endpoint.flavor.max_page(),
            writes_block: false,
            requests_at_once: self.endpoint.http.concurrency.max(1),
            writes_per_request: per_batch,
            // Dataverse's change tracking; the other kinds read by modified-on.
            tracks_changes: self.endpoint.flavor == Flavor::Dataverse
                && self.endpoint.http.changes == ChangeReads::Tracking,
        }
    }

    async fn read_page(
        &self,
        req: &ReadRequest<'_>,
        continuation: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        if choices::is_choice(req.table) {
            return choices::page(self, req.table).await;
        }
        if req.tracking != Tracking::Off {
            return tracking::page(self, req, continuation).await;
        }
        read::page(self, req, continuation).await
    }

    async fn get(&self, table: TableRef<'_>, keys: &[String]) -> Result<Vec<Row>, ConnectorError> {
        if choices::is_choice(table) {
            return choices::by_keys(self, table, keys).await;
        }
        read::by_keys(self, table, keys).await
    }

    async fn find(
        &self,
        table: TableRef<'_>,
        equal: &[(String, Value)],
        ignore_case: bool,
    ) -> Result<Vec<Row>, ConnectorError> {
        if choices::is_choice(table) {
            let lookups = [equal.to_vec()];
            let mut found = choices::find_many(self, table, &lookups, ignore_case).await?;
            return Ok(found.pop().unwrap_or_default());
        }
        read::find(self, table, equal, ignore_case).await
    }

    async fn find_many(
        &self,
        table: TableRef<'_>,
        lookups: &[Vec<(String, Value)>],
        ignore_case: bool,
    ) -> Result<Vec<Vec<Row>>, ConnectorError> {
        if choices::is_choice(table) {
            return choices::find_many(self, table, lookups, ignore_case).await;
        }
        read::find_many(self, table, lookups, ignore_case).await
    }

    async fn write(
        &self,
        table: TableRef<'_>,
        ops: &[WriteOp],
    ) -> Vec<Result<WriteOutcome, ConnectorError>> {
        if choices::is_choice(table) {
            return choices::write(self, table, ops).await;
        }
        write::write(self, table, ops, false).await
    }

    async fn write_keys_only(
        &self,
        table: TableRef<'_>,
        ops: &[WriteOp],
    ) -> Vec<Result<WriteOutcome, ConnectorError>> {
        if choices::is_choice(table) {
            return choices::write(self, table, ops).await;
        }
        write::write(self, table, ops, true).await
    }
}
