//! Exact decimals over HTTP, read on the raw body text the sandbox serves (never through a
//! JSON decoder, which could hide a lost digit), both plain and `IEEE754Compatible=true`, and
//! the precision and scale of `Edm.Decimal(19,4)` enforced with the column named in the error.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use serde_json::Value as Json;

use super::{Sandbox, SandboxConfig, NUMBERS};

/// Values that break anything going through `f64`: 18 to 29 significant digits, negative
/// amounts of scale 4, the smallest positive decimal.
pub(super) const HURTING: [&str; 7] = [
    "-98765432109876.5432",
    "12345678901234.5678",
    "0.0000000000000000000000000001",
    "123456789012345678",
    "1234567890123456789012345678",
    "-0.1000",
    "79228162514264337593543950335",
];

const IEEE: &str = "application/json;IEEE754Compatible=true";

struct Harness {
    sb: Sandbox,
    http: reqwest::Client,
    token: String,
}

impl Harness {
    async fn start() -> Harness {
        let sb = Sandbox::start(SandboxConfig {
            integer_keys: true,
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let r: Json = http
            .post(sb.dv_token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", sb.auth().client_id.as_str()),
                ("client_secret", sb.auth().client_secret.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = r["access_token"].as_str().unwrap().to_string();
        Harness { sb, http, token }
    }

    /// Sends `body` (raw text) with these content and accept types; status and raw answer.
    async fn send(
        &self,
        method: reqwest::Method,
        rest: &str,
        media: (&str, &str),
        body: Option<String>,
    ) -> (u16, String) {
        let mut rb = self
            .http
            .request(method, format!("{}/{rest}", self.sb.dv_url()))
            .bearer_auth(&self.token)
            .header("Accept", media.1);
        if let Some(b) = body {
            rb = rb.header("Content-Type", media.0).body(b);
        }
        let r = rb.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn create(&self, body: String, content_type: &str) -> (u16, String) {
        let media = (content_type, "application/json");
        self.send(reqwest::Method::POST, NUMBERS, media, Some(body))
            .await
    }

    async fn read(&self, id: usize, accept: &str) -> String {
        let rest = format!("{NUMBERS}({id})?$select=amount,ratio");
        let (status, body) = self
            .send(reqwest::Method::GET, &rest, ("", accept), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

#[tokio::test]
async fn decimals_are_served_with_the_digits_written() {
    let h = Harness::start().await;
    for (id, text) in HURTING.iter().enumerate() {
        let (status, body) = h
            .create(
                format!(r#"{{"id": {id}, "ratio": {text}}}"#),
                "application/json",
            )
            .await;
        assert_eq!(status, 204, "{text}: {body}");
        let served = h.read(id, "application/json").await;
        assert!(served.contains(&format!(r#""ratio":{text}"#)), "{served}");
        // IEEE754Compatible=true: the same digits, as a string.
        let served = h.read(id, IEEE).await;
        assert!(served.contains(&format!(r#""ratio":"{text}""#)), "{served}");
    }
    // Written as strings, with the parameter; refused as strings without it.
    let (status, body) = h
        .create(
            r#"{"id": 100, "ratio": "-0.0000000000000000000000000001"}"#.into(),
            IEEE,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let served = h.read(100, "application/json").await;
    assert!(
        served.contains(r#""ratio":-0.0000000000000000000000000001"#),
        "{served}"
    );
    let (status, body) = h
        .create(r#"{"id": 101, "ratio": "1.5"}"#.into(), "application/json")
        .await;
    assert_eq!(status, 400, "{body}");
    h.sb.shutdown().await;
}

#[tokio::test]
async fn decimals_beyond_precision_or_scale_are_refused_naming_the_column() {
    let h = Harness::start().await;
    for (id, text) in ["-98765432109876.5432", "12345678901234.5678", "1.50000"]
        .iter()
        .enumerate()
    {
        let (status, body) = h
            .create(
                format!(r#"{{"id": {id}, "amount": {text}}}"#),
                "application/json",
            )
            .await;
        assert_eq!(status, 204, "{text}: {body}");
    }
    let served = h.read(0, "application/json").await;
    assert!(
        served.contains(r#""amount":-98765432109876.5432"#),
        "{served}"
    );
    for (id, text) in [
        (10, "0.00001"),
        (11, "1234567890123456"),
        (12, "-98765432109876.54321"),
    ] {
        let (status, body) = h
            .create(
                format!(r#"{{"id": {id}, "amount": {text}}}"#),
                "application/json",
            )
            .await;
        assert_eq!(status, 400, "{text}: {body}");
        let e: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(e["error"]["target"], "amount", "{body}");
        assert_eq!(e["error"]["details"][0]["target"], "amount", "{body}");
        assert!(body.contains(text), "{body}");
    }
    h.sb.shutdown().await;
}
