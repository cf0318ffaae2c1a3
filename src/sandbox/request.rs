//! The services' own view of an HTTP exchange: a request with its body read, an answer with its
//! body built. Both `$batch` parts and top-level requests go through the same handlers in this
//! form, so a batched operation behaves exactly like the same request sent alone.

use serde_json::Value as Json;

/// A request as the handlers see it.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    /// `GET`, `POST`, … in upper case.
    pub method: String,
    /// The path, percent-decoded, without the query.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Headers in order; names compare without case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// `scheme://host:port` of the request, for absolute links (`@odata.nextLink`).
    pub origin: String,
}

impl Req {
    /// The first header of that name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every `Prefer` preference, lower-cased names with their values, from all `Prefer`
    /// headers (`odata.maxpagesize=50, return=representation`).
    pub fn preferences(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("prefer"))
            .flat_map(|(_, v)| split_preferences(v))
            .collect()
    }

    /// The value of one preference, if the client sent it.
    pub fn preference(&self, name: &str) -> Option<String> {
        self.preferences()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

/// Splits a `Prefer` value at commas outside quotes.
fn split_preferences(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in value.chars().chain(std::iter::once(',')) {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => {
                let item = current.trim();
                if !item.is_empty() {
                    let (name, v) = item.split_once('=').unwrap_or((item, ""));
                    out.push((
                        name.trim().to_ascii_lowercase(),
                        v.trim().trim_matches('"').to_string(),
                    ));
                }
                current.clear();
            }
            _ => current.push(c),
        }
    }
    out
}

/// An answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resp {
    /// The status code.
    pub status: u16,
    /// Headers, `Content-Type` included when there is a body.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Resp {
    /// A JSON answer, with the OData headers the services send.
    pub fn json(status: u16, body: &Json) -> Resp {
        Resp {
            status,
            headers: vec![
                (
                    "Content-Type".into(),
                    "application/json; odata.metadata=minimal".into(),
                ),
                ("OData-Version".into(), "4.0".into()),
            ],
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }

    /// An answer without body.
    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: vec![("OData-Version".into(), "4.0".into())],
            body: Vec::new(),
        }
    }

    /// An OData error: `{"error":{"code":…,"message":…}}`.
    pub fn error(status: u16, code: &str, message: &str) -> Resp {
        let body = crate::odata::error::ErrorBody::new(code, message);
        Resp::json(status, &serde_json::to_value(body).unwrap_or_default())
    }

    /// An OData error about one property, named as real services name it: in `target`, and
    /// in a `details` entry with the same code and message.
    pub fn error_at(status: u16, code: &str, message: &str, target: &str) -> Resp {
        let detail = serde_json::json!({"code": code, "message": message, "target": target});
        let body = serde_json::json!({"error": {
            "code": code,
            "message": message,
            "target": target,
            "details": [detail],
        }});
        Resp::json(status, &body)
    }

    /// The same answer with one more header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Whether the operation succeeded (a change set commits only when all did).
    pub fn ok(&self) -> bool {
        self.status < 400
    }

    /// The first header of that name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The key inside `name(key)`: `accounts(0000…)` gives `("accounts", Some("0000…"))`; a
/// segment without parentheses gives the name alone. `None` when the parentheses are broken.
pub(crate) fn split_key(segment: &str) -> Option<(&str, Option<&str>)> {
    match segment.find('(') {
        None => Some((segment, None)),
        Some(open) => {
            let inner = segment[open + 1..].strip_suffix(')')?;
            Some((&segment[..open], Some(inner)))
        }
    }
}

/// A GUID key as the services accept it: bare or quoted, any case; lower case back.
pub(crate) fn guid_key(text: &str) -> Option<String> {
    let t = text.trim().trim_matches('\'');
    let t = t.strip_prefix("id=").unwrap_or(t).trim_matches('\'');
    uuid::Uuid::parse_str(t)
        .ok()
        .filter(|_| t.len() == 36)
        .map(|u| u.hyphenated().to_string())
}

/// An ETag from an `If-Match` value: without the weak prefix and quotes, so `W/"12"`, `"12"`
/// and `12` compare equal.
pub(crate) fn etag_core(value: &str) -> &str {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn preferences_split_outside_quotes() {
        let p = split_preferences(
            r#"odata.include-annotations="OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.lookuplogicalname", odata.maxpagesize=10"#,
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].0, "odata.include-annotations");
        assert!(p[0].1.contains("lookuplogicalname"));
        assert_eq!(p[1], ("odata.maxpagesize".into(), "10".into()));
    }

    #[test]
    fn keys_and_etags() {
        assert_eq!(split_key("accounts(x)"), Some(("accounts", Some("x"))));
        assert_eq!(split_key("accounts"), Some(("accounts", None)));
        assert_eq!(split_key("accounts(x"), None);
        let g = "6F9619FF-8B86-D011-B42D-00C04FC964FF";
        assert_eq!(
            guid_key(g).as_deref(),
            Some("6f9619ff-8b86-d011-b42d-00c04fc964ff")
        );
        assert_eq!(guid_key("C10000"), None);
        assert_eq!(etag_core("W/\"12\""), "12");
    }
}

/// A request to a service as a whole rather than to one of its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whole {
    /// `GET $metadata`.
    Metadata,
    /// `POST $batch`.
    Batch,
}
