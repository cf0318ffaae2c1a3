//! Business Central's webhook subscriptions (`…/api/v2.0/subscriptions`): the service calls a
//! URL when rows of a table change. Creating or renewing one makes the service call that URL
//! with a `validationToken` first, which the listener must echo, so these calls return only
//! once the listener answered. A subscription lasts three days unless renewed (`PATCH` with its
//! ETag); the `clientState` given comes back in every notification, and is a secret: it is
//! never written in an error, whatever the service answers.

use jiff::Timestamp;
use reqwest::Method;
use serde_json::{json, Value as Json};

use super::client::{Request, Response};
use super::flavor::Flavor;
use super::ODataConnector;
use crate::connectors::ConnectorError;
use crate::odata::literal;
use crate::profile::Secret;
use crate::value::ColumnKind;

/// A subscription as the service keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Its id.
    pub id: String,
    /// Where the service sends notifications.
    pub notification_url: String,
    /// The collection whose changes are notified, as given when it was made
    /// (`/api/v2.0/companies(…)/customers`).
    pub resource: String,
    /// When it ends unless renewed.
    pub expires: Option<Timestamp>,
    /// The token a renewal or deletion sends back.
    pub etag: Option<String>,
}

impl ODataConnector {
    /// Whether the service offers webhook subscriptions (Business Central does).
    pub fn offers_webhooks(&self) -> bool {
        self.endpoint.flavor == Flavor::BusinessCentral
    }

    /// The resource a subscription to a table names: its collection's path from `/api/` on
    /// (`/api/v2.0/companies(…)/customers`), as the service's documentation writes it.
    pub async fn subscription_resource(&self, table: &str) -> Result<String, ConnectorError> {
        let collection = self.collection(table).await?;
        // The service root ends in `/api/v2.0` (or a custom `/api/publisher/group/version`):
        // what comes before its last `/api/` is the host and the tenant's prefix.
        let root = &self.endpoint.url;
        let at = root.rfind("/api/").ok_or_else(|| {
            ConnectorError::Fatal(format!(
                "{}: the URL does not end in an /api/ route, so no webhook resource can be named",
                self.endpoint.system
            ))
        })?;
        Ok(collection[at..].to_string())
    }

    /// The subscriptions the service holds for this application (every one, whoever made it).
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, ConnectorError> {
        let body = self.get_json(&self.subscriptions_url()).await?;
        let values = body.get("value").and_then(Json::as_array);
        Ok(values.into_iter().flatten().filter_map(decode).collect())
    }

    /// Subscribes `notification_url` to the changes of `resource`; the service first calls the
    /// URL with a token to echo.
    pub async fn subscribe(
        &self,
        notification_url: &str,
        resource: &str,
        client_state: &Secret,
    ) -> Result<Subscription, ConnectorError> {
        let body = json!({
            "notificationUrl": notification_url,
            "resource": resource,
            "clientState": client_state.expose(),
        });
        let request = Request {
            method: Method::POST,
            url: self.subscriptions_url(),
            headers: Vec::new(),
            body: Some(body.to_string().into_bytes()),
            // Sent twice, it would make two subscriptions: a lost answer is settled by
            // listing them at the next start instead.
            idempotent: false,
        };
        let response = self.client.send(&request).await?;
        self.subscription_answer("subscribing to", resource, &response)
    }

    /// One subscription, as the service holds it now; none when it is gone.
    pub async fn subscription(&self, id: &str) -> Result<Option<Subscription>, ConnectorError> {
        let response = self
            .client
            .send(&Request::get(self.subscription_url(id)))
            .await?;
        if response.status.as_u16() == 404 {
            return Ok(None);
        }
        self.subscription_answer("reading the subscription", id, &response)
            .map(Some)
    }

    /// Renews a subscription for three more days (and sets its client state); the service
    /// calls its URL with a token to echo again. A subscription the service no longer has is
    /// [`ConnectorError::NotFound`]; one changed since it was read (its ETag),
    /// [`ConnectorError::Conflict`].
    pub async fn renew(
        &self,
        s: &Subscription,
        client_state: &Secret,
    ) -> Result<Subscription, ConnectorError> {
        // The whole subscription, as the service's own example renews it.
        let body = json!({
            "notificationUrl": s.notification_url,
            "resource": s.resource,
            "clientState": client_state.expose(),
        });
        let request = Request {
            method: Method::PATCH,
            url: self.subscription_url(&s.id),
            headers: vec![("If-Match", s.etag.clone().unwrap_or_else(|| "*".into()))],
            body: Some(body.to_string().into_bytes()),
            idempotent: true,
        };
        let response = self.client.send(&request).await?;
        let gone = |table: &str| (table.to_string(), s.id.clone());
        match response.status.as_u16() {
            404 => {
                let (table, key) = gone("subscriptions");
                Err(ConnectorError::NotFound { table, key })
            }
            412 => {
                let (table, key) = gone("subscriptions");
                Err(ConnectorError::Conflict { table, key })
            }
            _ => self.subscription_answer("renewing the subscription to", &s.resource, &response),
        }
    }

    /// Ends a subscription, whatever it became since it was read; one already gone is not an
    /// error.
    pub async fn unsubscribe(&self, s: &Subscription) -> Result<(), ConnectorError> {
        let request = Request {
            method: Method::DELETE,
            url: self.subscription_url(&s.id),
            headers: vec![("If-Match", "*".into())],
            body: None,
            idempotent: true,
        };
        let response = self.client.send(&request).await?;
        if response.status.is_success() || response.status.as_u16() == 404 {
            return Ok(());
        }
        Err(ConnectorError::Transient(format!(
            "{}: deleting the subscription to {} failed: {}",
            self.endpoint.system,
            s.resource,
            response.error_message()
        )))
    }

    fn subscriptions_url(&self) -> String {
        format!("{}/subscriptions", self.endpoint.url)
    }

    fn subscription_url(&self, id: &str) -> String {
        format!(
            "{}{}",
            self.subscriptions_url(),
            literal::key_segment(id, ColumnKind::String)
        )
    }

    /// The subscription a create or renewal answered, or why it failed (the client state,
    /// a [`Secret`], is redacted from the service's message should it echo it).
    fn subscription_answer(
        &self,
        doing: &str,
        resource: &str,
        response: &Response,
    ) -> Result<Subscription, ConnectorError> {
        if !response.status.is_success() {
            let message = format!(
                "{}: {doing} {resource} failed: {}",
                self.endpoint.system,
                response.error_message()
            );
            return Err(match response.status.as_u16() {
                400..=499 => ConnectorError::Rejected(message),
                _ => ConnectorError::Transient(message),
            });
        }
        serde_json::from_slice::<Json>(&response.body)
            .ok()
            .as_ref()
            .and_then(decode)
            .ok_or_else(|| {
                ConnectorError::Transient(format!(
                    "{}: {doing} {resource} answered without a subscription",
                    self.endpoint.system
                ))
            })
    }
}

fn decode(v: &Json) -> Option<Subscription> {
    let text = |k: &str| v.get(k).and_then(Json::as_str).map(str::to_string);
    Some(Subscription {
        id: text("subscriptionId")?,
        notification_url: text("notificationUrl")?,
        resource: text("resource")?,
        expires: text("expirationDateTime").and_then(|t| t.parse().ok()),
        etag: text("@odata.etag"),
    })
}
