//! The service's `$metadata` (CSDL), for `syncmap schema pull` and `syncmap doctor`.

use super::client::Request;
use super::ODataConnector;
use crate::connectors::ConnectorError;

impl ODataConnector {
    /// The CSDL document the service describes itself with.
    pub async fn metadata(&self) -> Result<String, ConnectorError> {
        fetch_metadata(self).await
    }
}

/// GETs `$metadata` from the service root.
pub async fn fetch_metadata(c: &ODataConnector) -> Result<String, ConnectorError> {
    let url = format!("{}/$metadata", c.endpoint.url);
    let response = c
        .client
        .send(&Request::get(url).header("Accept", "application/xml"))
        .await?;
    if !response.status.is_success() {
        return Err(ConnectorError::Fatal(format!(
            "{}: GET $metadata failed: {}",
            c.endpoint.system,
            response.error_message()
        )));
    }
    String::from_utf8(response.body).map_err(|_| {
        ConnectorError::Fatal(format!(
            "{}: $metadata is not UTF-8 text",
            c.endpoint.system
        ))
    })
}
