//! The JSON `$batch` format (OData JSON Format v4.01 §19), as Business Central speaks it.
//!
//! A request is `{"requests": [...]}`; each operation has an `id`, and may name an
//! `atomicityGroup` (operations of one group succeed or fail together, like a multipart
//! change set) and `dependsOn` ids it must run after. The response is
//! `{"responses": [...]}` with the same ids, in any order. URLs are relative to the service
//! root (or absolute); bodies are JSON values, not bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The media type of a JSON batch, request and response.
pub const CONTENT_TYPE: &str = "application/json";

/// A JSON batch request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRequest {
    /// The operations, in the order the client wants them considered.
    pub requests: Vec<Request>,
}

/// One operation of a JSON batch request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Unique within the batch; the response carries it back.
    pub id: String,
    /// `GET`, `POST`, `PATCH`, `DELETE`, ...
    pub method: String,
    /// Relative to the service root, absolute, or `$id` of an earlier operation.
    pub url: String,
    /// Request headers (`If-Match`, `Prefer`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The JSON body, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Operations sharing a group are applied all-or-nothing.
    #[serde(
        rename = "atomicityGroup",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub atomicity_group: Option<String>,
    /// Ids of operations (or groups) that must succeed before this one runs.
    #[serde(rename = "dependsOn", default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// A JSON batch response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// One response per executed operation; match them to requests by id, not position.
    pub responses: Vec<Response>,
}

/// One operation's response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The id of the request this answers.
    pub id: String,
    /// The HTTP status code.
    pub status: u16,
    /// Response headers (`ETag`, `Location`, ...).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The JSON body, if any (an entity, or an OData error body).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn request_serializes_without_empty_fields() {
        let batch = BatchRequest {
            requests: vec![
                Request {
                    id: "1".into(),
                    method: "POST".into(),
                    url: "companies(1)/customers".into(),
                    headers: [("Content-Type".to_string(), "application/json".to_string())].into(),
                    body: Some(json!({"displayName": "A"})),
                    atomicity_group: Some("g1".into()),
                    depends_on: vec![],
                },
                Request {
                    id: "2".into(),
                    method: "GET".into(),
                    url: "companies(1)/customers?$top=1".into(),
                    headers: BTreeMap::new(),
                    body: None,
                    atomicity_group: None,
                    depends_on: vec!["g1".into()],
                },
            ],
        };
        let j = serde_json::to_value(&batch).unwrap();
        assert_eq!(
            j,
            json!({"requests": [
                {"id": "1", "method": "POST", "url": "companies(1)/customers",
                 "headers": {"Content-Type": "application/json"},
                 "body": {"displayName": "A"}, "atomicityGroup": "g1"},
                {"id": "2", "method": "GET", "url": "companies(1)/customers?$top=1",
                 "dependsOn": ["g1"]}
            ]})
        );
        let back: BatchRequest = serde_json::from_value(j).unwrap();
        assert_eq!(back, batch);
    }

    #[test]
    fn reads_a_business_central_response() {
        let text = r#"{"responses":[
            {"id":"1","status":201,"headers":{"location":"https://api/customers(1)","content-type":"application/json; odata.metadata=minimal","odata-version":"4.0","etag":"W/\"JzQ0OzE7MDsn\""},
             "body":{"@odata.etag":"W/\"JzQ0OzE7MDsn\"","id":"1","displayName":"A"}},
            {"id":"2","status":412,"body":{"error":{"code":"Request_EntityChanged","message":"changed"}}},
            {"id":"3","status":204}
        ]}"#;
        let r: BatchResponse = serde_json::from_str(text).unwrap();
        assert_eq!(r.responses.len(), 3);
        assert_eq!(r.responses[0].status, 201);
        assert_eq!(r.responses[0].headers["etag"], "W/\"JzQ0OzE7MDsn\"");
        assert_eq!(r.responses[0].body.as_ref().unwrap()["displayName"], "A");
        let err = serde_json::to_vec(r.responses[1].body.as_ref().unwrap()).unwrap();
        assert_eq!(
            crate::odata::error::ErrorBody::parse(&err)
                .unwrap()
                .error
                .code,
            "Request_EntityChanged"
        );
        assert!(r.responses[2].headers.is_empty());
        assert_eq!(r.responses[2].body, None);
        let back: BatchResponse =
            serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn missing_required_fields_are_errors() {
        assert!(
            serde_json::from_str::<BatchRequest>(r#"{"requests":[{"id":"1","url":"x"}]}"#).is_err()
        );
        assert!(serde_json::from_str::<BatchResponse>(r#"{"responses":[{"id":"1"}]}"#).is_err());
        assert!(serde_json::from_str::<BatchResponse>(
            r#"{"responses":[{"id":"1","status":"200"}]}"#
        )
        .is_err());
        assert_eq!(CONTENT_TYPE, "application/json");
    }
}
