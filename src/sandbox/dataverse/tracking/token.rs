//! What change tracking puts in URLs: the delta token, the continuation of a tracked read's
//! next page, and the query options a tracked read takes apart from the others.

use std::time::Duration;

use jiff::civil::DateTime;
use jiff::tz::Offset;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::sandbox::query::percent_decode;

/// A position in the change log and when it was handed out, written as Dataverse writes its
/// tokens: `919042!08/22/2017 08:10:44` (UTC, to the second).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DeltaToken {
    /// The position: changes after it are the next delta read's.
    pub seq: i64,
    /// When it was issued.
    pub issued: Timestamp,
}

/// The date format of a token: `MM/dd/yyyy HH:mm:ss`.
const FORMAT: &str = "%m/%d/%Y %H:%M:%S";

impl DeltaToken {
    /// A token for position `seq`, issued now.
    pub fn now(seq: i64) -> DeltaToken {
        let now = Timestamp::now();
        // To the second, as written: the token read back is the token handed out.
        let issued = Timestamp::from_second(now.as_second()).unwrap_or(now);
        DeltaToken { seq, issued }
    }

    /// The token's text.
    pub fn text(&self) -> String {
        let dt = Offset::UTC.to_datetime(self.issued);
        format!("{}!{}", self.seq, dt.strftime(FORMAT))
    }

    /// The token's text as a query value: `12%2105%2f06%2f2024%2014%3a03%3a07`, as the
    /// service encodes it in a delta link.
    pub fn encoded(&self) -> String {
        self.text()
            .chars()
            .map(|c| match c {
                '!' => "%21".to_string(),
                '/' => "%2f".to_string(),
                ' ' => "%20".to_string(),
                ':' => "%3a".to_string(),
                c => c.to_string(),
            })
            .collect()
    }

    /// A token's text read back; `None` when it is not one.
    pub fn parse(text: &str) -> Option<DeltaToken> {
        let (seq, date) = text.split_once('!')?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seq = seq.parse().ok()?;
        let issued = DateTime::strptime(FORMAT, date.trim())
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp();
        Some(DeltaToken { seq, issued })
    }

    /// Whether the token is older than `ttl` now.
    pub fn outlived(&self, ttl: Option<Duration>) -> bool {
        let Some(ttl) = ttl else {
            return false;
        };
        let age = i128::from(Timestamp::now().as_millisecond())
            - i128::from(self.issued.as_millisecond());
        age >= i128::try_from(ttl.as_millis()).unwrap_or(i128::MAX)
    }
}

/// Where a tracked read goes on: the token its first page fixed (so every page answers for
/// the same position, and the last one links to it) and the position within the read. It is
/// the `$skiptoken` of the next link, so the link keeps tracking even when sent without
/// `Prefer: odata.track-changes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Continuation {
    /// The delta token the read will end with.
    #[serde(rename = "t")]
    pub token: String,
    /// A first read: the plain listing's skiptoken; a delta read: the position of the last
    /// change sent.
    #[serde(rename = "c")]
    pub cursor: serde_json::Value,
}

impl Continuation {
    /// As a `$skiptoken`: hex of its JSON, opaque like the plain listing's.
    pub fn encode(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_default()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// A `$skiptoken` read back; `None` when it is not a tracked read's.
    pub fn decode(skiptoken: &str) -> Option<Continuation> {
        let bytes: Option<Vec<u8>> = (0..skiptoken.len())
            .step_by(2)
            .map(|i| {
                skiptoken
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        serde_json::from_slice(&bytes?).ok()
    }
}

/// A collection read's query string as change tracking sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct TrackedQuery {
    /// The query without `$deltatoken`, for the ordinary query layer.
    pub rest: String,
    /// `$deltatoken`'s value, decoded.
    pub deltatoken: Option<String>,
    /// `$skiptoken`'s value, decoded (left in `rest` too).
    pub skiptoken: Option<String>,
    /// The first option given that change tracking cannot be combined with.
    pub refused: Option<String>,
}

/// The options Dataverse refuses beside change tracking.
const REFUSED: [&str; 4] = ["$filter", "$orderby", "$top", "$expand"];

impl TrackedQuery {
    /// Takes a raw query string apart.
    pub fn of(raw: &str) -> TrackedQuery {
        let mut out = TrackedQuery::default();
        let mut rest = Vec::new();
        for param in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            let name = percent_decode(name);
            if name == "$deltatoken" {
                out.deltatoken = Some(percent_decode(value));
                continue;
            }
            if name == "$skiptoken" {
                out.skiptoken = Some(percent_decode(value));
            }
            if out.refused.is_none() && REFUSED.contains(&name.as_str()) {
                out.refused = Some(name);
            }
            rest.push(param);
        }
        out.rest = rest.join("&");
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_read_back_as_written_and_encode_as_the_service_does() {
        let issued: Timestamp = "2017-08-22T08:10:44Z".parse().unwrap();
        let token = DeltaToken {
            seq: 919042,
            issued,
        };
        assert_eq!(token.text(), "919042!08/22/2017 08:10:44");
        assert_eq!(token.encoded(), "919042%2108%2f22%2f2017%2008%3a10%3a44");
        assert_eq!(DeltaToken::parse(&token.text()), Some(token.clone()));
        assert_eq!(
            DeltaToken::parse(&percent_decode(&token.encoded())),
            Some(token)
        );
        for bad in [
            "",
            "919042",
            "x!08/22/2017 08:10:44",
            "-1!08/22/2017 08:10:44",
            "1!22/08/2017 08:10:44",
            "1!yesterday",
        ] {
            assert_eq!(DeltaToken::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_token_outlives_its_ttl_only_when_one_is_set() {
        let old = DeltaToken::parse("1!01/01/2020 00:00:00").unwrap();
        assert!(!old.outlived(None));
        assert!(old.outlived(Some(Duration::from_secs(3600))));
        assert!(!DeltaToken::now(1).outlived(Some(Duration::from_secs(3600))));
    }

    #[test]
    fn continuations_round_trip_and_plain_skiptokens_are_not_one() {
        let c = Continuation {
            token: "5!01/01/2020 00:00:00".into(),
            cursor: serde_json::json!(7),
        };
        assert_eq!(Continuation::decode(&c.encode()), Some(c));
        let plain = "7b2276223a5b5d2c226e223a317d"; // {"v":[],"n":1}
        assert_eq!(Continuation::decode(plain), None);
        assert_eq!(Continuation::decode("zz"), None);
    }

    #[test]
    fn the_delta_token_is_taken_out_and_refused_options_are_named() {
        let q = TrackedQuery::of("$select=name&%24deltatoken=5%2101%2f01%2f2020%2000%3a00%3a00");
        assert_eq!(q.rest, "$select=name");
        assert_eq!(q.deltatoken.as_deref(), Some("5!01/01/2020 00:00:00"));
        assert_eq!(q.refused, None);
        let q = TrackedQuery::of("$select=name&$top=3&$filter=name eq 'a'");
        assert_eq!(q.refused.as_deref(), Some("$top"));
    }
}
