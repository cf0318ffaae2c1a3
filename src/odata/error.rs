//! OData error bodies (OData JSON Format v4.01 §21): `{"error": {"code": …, "message": …}}`.
//!
//! Both services answer a failed request with this shape, and the connectors decide what to
//! do from the code (Dataverse's `0x80040217` "record not found", Business Central's
//! `Request_EntityChanged` on a stale ETag), so the sandbox must produce exactly this shape
//! and the connectors must read it out of whatever else a service adds (`innererror`,
//! `details`, `target`, annotations), which is ignored here.

use serde::{Deserialize, Serialize};

/// An OData error response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// The code and message of an OData error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A service-defined code: `0x80040217` (Dataverse), `BadRequest_NotFound` (Business
    /// Central). May be empty.
    pub code: String,
    /// A human-readable message.
    pub message: String,
}

impl ErrorBody {
    /// An error body with that code and message.
    pub fn new(code: &str, message: &str) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message: message.to_string(),
            },
        }
    }

    /// The error in a response body; `None` when the body is not an OData error (not JSON,
    /// or JSON without an `error` object carrying string `code` and `message`).
    pub fn parse(body: &[u8]) -> Option<ErrorBody> {
        // Some gateways prefix a UTF-8 byte order mark; JSON parsers reject it.
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        serde_json::from_slice(body).ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn writes_the_odata_shape() {
        let body = serde_json::to_string(&ErrorBody::new("0x80040217", "not found")).unwrap();
        assert_eq!(
            body,
            r#"{"error":{"code":"0x80040217","message":"not found"}}"#
        );
        assert_eq!(
            ErrorBody::parse(body.as_bytes()),
            Some(ErrorBody::new("0x80040217", "not found"))
        );
    }

    #[test]
    fn reads_dataverse_errors() {
        let body = br#"{"error":{"code":"0x80040217","message":"account With Id = 00000000-0000-0000-0000-000000000001 Does Not Exist","@Microsoft.PowerApps.CDS.ErrorDetails.HttpStatusCode":"404","@Microsoft.PowerApps.CDS.TraceText":"x","innererror":{"message":"m","type":"System.ServiceModel.FaultException","stacktrace":"..."}}}"#;
        let e = ErrorBody::parse(body).unwrap();
        assert_eq!(e.error.code, "0x80040217");
        assert!(e.error.message.starts_with("account With Id"));
    }

    #[test]
    fn reads_business_central_errors() {
        let body = "\u{feff}{\"error\":{\"code\":\"Request_EntityChanged\",\"message\":\"Another user has already changed the record.  CorrelationId:  1f1e\"}}";
        let e = ErrorBody::parse(body.as_bytes()).unwrap();
        assert_eq!(
            e,
            ErrorBody::new(
                "Request_EntityChanged",
                "Another user has already changed the record.  CorrelationId:  1f1e"
            )
        );
        let body = br#"{"error":{"code":"BadRequest_NotFound","message":"The customer does not exist.","target":"customers","details":[]}}"#;
        assert_eq!(
            ErrorBody::parse(body).unwrap().error.code,
            "BadRequest_NotFound"
        );
    }

    #[test]
    fn other_bodies_are_not_errors() {
        for body in [
            &br#"{"value":[]}"#[..],
            br#"{"@odata.context":"x","id":"1"}"#,
            br#"{"error":"boom"}"#,
            br#"{"error":{"code":404,"message":"m"}}"#,
            br#"{"error":{"message":"no code"}}"#,
            b"[]",
            b"",
            b"<html>Service Unavailable</html>",
            b"\xff\xfe",
        ] {
            assert_eq!(
                ErrorBody::parse(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
