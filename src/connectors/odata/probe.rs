//! What `syncmap doctor` asks a service, one step at a time, so that each failure is told apart
//! from the others: does anything answer at the URL, does the token endpoint give a token, does
//! the service accept it, is the company there, does each table answer a read.

use std::time::Duration;

use super::client::Request;
use super::failure;
use super::flavor::Flavor;
use super::ODataConnector;
use crate::connectors::ConnectorError;

impl ODataConnector {
    /// Whether anything answers at the service URL: a GET without credentials, whose status
    /// (401 included) is returned. The error explains a connection that failed: a host name
    /// that does not resolve, nothing listening, no answer in time, a TLS problem — or a
    /// redirect, which syncmap would not follow.
    pub async fn reachable(&self) -> Result<u16, String> {
        let timeout = Duration::from_secs(self.endpoint.http.timeout_secs.clamp(1, 30));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| failure::describe_reqwest(&e))?;
        let url = &self.endpoint.url;
        match http.get(url).send().await {
            Ok(r) if r.status().is_redirection() => {
                let to = r
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .map_or("no Location", failure::without_query);
                Err(crate::redact::redact(&format!(
                    "the service answers HTTP {} redirecting to {to}; syncmap does not follow redirects: use the final URL in the profile",
                    r.status().as_u16()
                )))
            }
            Ok(r) => Ok(r.status().as_u16()),
            Err(e) => Err(failure::explain_connection(&e, url, Some(timeout))),
        }
    }

    /// Obtains a token from the token endpoint (client credentials), or does nothing for a
    /// fixed token, basic authentication or none.
    pub async fn authorize(&self) -> Result<(), ConnectorError> {
        self.client.authorize().await
    }

    /// Whether the service accepts the credentials: Dataverse's `WhoAmI`, Business Central's
    /// list of companies, another service's root. A 401 or 403 is an error naming the status.
    pub async fn accepts_credentials(&self) -> Result<(), ConnectorError> {
        let url = match self.endpoint.flavor {
            Flavor::Dataverse => format!("{}/WhoAmI", self.endpoint.url),
            Flavor::BusinessCentral => format!("{}/companies", self.endpoint.url),
            _ => self.endpoint.url.clone(),
        };
        self.get_json(&url).await.map(|_| ())
    }

    /// The URL of the company the profile names (Business Central), or `None` for a service
    /// without companies. The error lists the companies the service has.
    pub async fn company(&self) -> Result<Option<String>, ConnectorError> {
        if self.endpoint.flavor != Flavor::BusinessCentral {
            return Ok(None);
        }
        self.scope().await.map(|s| Some(s.to_string()))
    }

    /// Whether Dataverse keeps a record of the changes of an entity (its
    /// `ChangeTrackingEnabled` metadata), which `changes = "tracking"` reads.
    pub async fn tracks_changes_of(&self, entity: &str) -> Result<bool, ConnectorError> {
        let plain = !entity.is_empty()
            && entity
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plain {
            return Err(ConnectorError::Fatal(format!(
                "`{entity}` is not a Dataverse logical name"
            )));
        }
        let url = format!(
            "{}/EntityDefinitions(LogicalName='{entity}')?$select=ChangeTrackingEnabled",
            self.endpoint.url
        );
        let body = self.get_json(&url).await?;
        Ok(body
            .get("ChangeTrackingEnabled")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false))
    }

    /// Whether a table (entity set) answers a read of one row's key: `false` when the service
    /// says it does not know the table (404).
    pub async fn table_answers(&self, table: &str, key: &str) -> Result<bool, ConnectorError> {
        let url = format!("{}?$top=1&$select={key}", self.collection(table).await?);
        let response = self.client.send(&Request::get(url.clone())).await?;
        match response.status.as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(ConnectorError::Fatal(format!(
                "{}: GET {} failed: {}",
                self.endpoint.system,
                failure::without_query(&url),
                response.error_message()
            ))),
        }
    }
}
