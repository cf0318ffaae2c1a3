//! OData error bodies (OData JSON Format v4.01 §21): `{"error": {"code": …, "message": …,
//! "target": …, "details": [{"code", "message", "target"}]}}`.
//!
//! Both services answer a failed request with this shape, and the connectors decide what to
//! do from the code (Dataverse's `0x80040217` "record not found", Business Central's
//! `Request_EntityChanged` on a stale ETag), so the sandbox must produce exactly this shape
//! and the connectors must read it out of whatever else a service adds (`innererror`,
//! annotations), which is ignored here. `target` and `details` name the property a message
//! is about ("the value is not a valid String(80)" says which column only there), so they
//! reach the user's record error through [`ErrorBody::describe`]. [`classify`] tells a
//! record's own problem from a passing one by the body, whatever the status.

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
    /// What the error is about: a property, usually.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Further errors, each maybe about its own property.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorItem>,
}

/// One entry of an error's `details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorItem {
    /// Its code (may be empty).
    #[serde(default)]
    pub code: String,
    /// Its message.
    #[serde(default)]
    pub message: String,
    /// What it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// What an error answer says of the request that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The record itself is refused (a constraint, a validation): sending it again changes
    /// nothing until the record or the mapping changes.
    Record,
    /// A passing problem (throttling, a timeout, a service briefly down): try again later.
    Transient,
}

/// Words of an error's code or message that say the service is briefly unable, not that the
/// record is wrong.
const PASSING: [&str; 8] = [
    "timeout",
    "timed out",
    "deadlock",
    "temporarily",
    "unavailable",
    "try again",
    "throttl",
    "too many requests",
];

/// Words that say the record is wrong.
const RECORD: [&str; 12] = [
    "constraint",
    "violation",
    "validation",
    "duplicate",
    "foreign key",
    "unique",
    "not valid",
    "invalid",
    "required",
    "cannot be null",
    "exceeded the maximum",
    "out of range",
];

/// How an error answer is to be taken: 408, 429, 502, 503 and 504 are passing whatever they
/// say; other 5xx are passing unless their body says the record is wrong (services answer
/// constraint violations with 500 too, and retrying those only repeats them); 4xx are the
/// record's own.
pub fn classify(status: u16, body: Option<&ErrorBody>) -> ErrorClass {
    match status {
        408 | 429 | 502..=504 => ErrorClass::Transient,
        500..=599 => match body {
            Some(b) if b.is_about_the_record() => ErrorClass::Record,
            _ => ErrorClass::Transient,
        },
        _ => ErrorClass::Record,
    }
}

impl ErrorBody {
    /// An error body with that code and message.
    pub fn new(code: &str, message: &str) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message: message.to_string(),
                target: None,
                details: Vec::new(),
            },
        }
    }

    /// The message for people: `message (code)`, led by the target when the message does not
    /// name it, then every detail that adds something (`target: message`).
    pub fn describe(&self) -> String {
        let e = &self.error;
        let named = |target: &Option<String>, message: &str| match target {
            Some(t) if !t.is_empty() && !message.contains(t.as_str()) => {
                format!("`{t}`: {message}")
            }
            _ => message.to_string(),
        };
        let mut out = named(&e.target, &e.message);
        if !e.code.is_empty() {
            out.push_str(&format!(" ({})", e.code));
        }
        for d in &e.details {
            let adds = d.message != e.message || (d.target.is_some() && d.target != e.target);
            if adds && !d.message.is_empty() {
                out.push_str(&format!("; {}", named(&d.target, &d.message)));
            }
        }
        out
    }

    /// Whether the error says the record is wrong (and nothing says the service is busy).
    fn is_about_the_record(&self) -> bool {
        let e = &self.error;
        let mut text = format!("{} {}", e.code, e.message);
        for d in &e.details {
            text.push_str(&format!(" {} {}", d.code, d.message));
        }
        let text = text.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
        !has(&PASSING) && (has(&RECORD) || e.target.is_some())
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
    fn targets_and_details_name_the_column() {
        let body = br#"{"error":{"code":"BadRequest","message":"The value is not a valid String(80).","target":"name","details":[{"code":"BadRequest","message":"The value is not a valid String(80).","target":"name"},{"code":"x","message":"Too long by 3.","target":"name2"}]}}"#;
        let e = ErrorBody::parse(body).unwrap();
        assert_eq!(e.error.target.as_deref(), Some("name"));
        assert_eq!(
            e.describe(),
            "`name`: The value is not a valid String(80). (BadRequest); `name2`: Too long by 3."
        );
        // A message that names its target already is not prefixed; details may lack fields.
        let body = br#"{"error":{"code":"c","message":"'amount' has too many digits","target":"amount","details":[{"message":"m"}]}}"#;
        assert_eq!(
            ErrorBody::parse(body).unwrap().describe(),
            "'amount' has too many digits (c); m"
        );
        assert_eq!(ErrorBody::new("", "plain").describe(), "plain");
    }

    #[test]
    fn errors_are_classified_by_their_body_not_only_their_status() {
        let body = |code: &str, message: &str| ErrorBody::new(code, message);
        let violation = body(
            "Internal_ServerError",
            "Violation of UNIQUE KEY constraint 'UQ_Item_No'. Cannot insert duplicate key.",
        );
        assert_eq!(classify(500, Some(&violation)), ErrorClass::Record);
        let mut targeted = body("0x80040216", "An unexpected error occurred.");
        targeted.error.target = Some("amount".into());
        assert_eq!(classify(500, Some(&targeted)), ErrorClass::Record);
        for (status, b) in [
            (
                500,
                Some(body("0x80040216", "An unexpected error occurred.")),
            ),
            (
                500,
                Some(body(
                    "x",
                    "SQL timeout expired: the validation could not run",
                )),
            ),
            (500, None),
            (503, Some(violation.clone())),
            (429, None),
            (504, None),
            (408, None),
        ] {
            assert_eq!(
                classify(status, b.as_ref()),
                ErrorClass::Transient,
                "{status} {b:?}"
            );
        }
        assert_eq!(classify(400, None), ErrorClass::Record);
        assert_eq!(classify(422, Some(&violation)), ErrorClass::Record);
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
