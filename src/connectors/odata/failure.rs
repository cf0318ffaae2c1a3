//! HTTP failures in words a person can act on: the URL without its query string (which may
//! carry filter values), the cause at the bottom of the error chain, and for a connection that
//! could not be opened, what to check. The client, the token endpoint and `doctor`'s probes
//! all speak of failures through here.

use std::time::Duration;

/// A URL without its query string (which may carry filter values) and fragment.
pub fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// A reqwest error in words, without the query string of the URL (it may carry filter values).
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else if e.is_request() {
        "the request failed"
    } else {
        "failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        what.to_string()
    } else {
        crate::redact::redact(&format!("{what}: {detail}"))
    }
}

/// A failed connection in words a person can act on.
pub(crate) fn explain_connection(
    e: &reqwest::Error,
    url: &str,
    timeout: Option<Duration>,
) -> String {
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    let lower = chain.to_lowercase();
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                format!(
                    "{h}{}",
                    u.port().map(|p| format!(":{p}")).unwrap_or_default()
                )
            })
        })
        .unwrap_or_else(|| without_query(url).to_string());
    let why = if lower.contains("dns") || lower.contains("lookup") || lower.contains("resolve") {
        format!("the host name in `{host}` cannot be resolved (DNS): check the URL's spelling and the network's name service")
    } else if lower.contains("refused") {
        format!("nothing accepts connections at `{host}`: is the service running, and is the port right?")
    } else if e.is_timeout() {
        let within = timeout.map_or("in time".to_string(), |t| {
            format!("within {} s", t.as_secs())
        });
        format!("`{host}` did not answer {within}: a firewall, a proxy or an overloaded service")
    } else if lower.contains("certificate") || lower.contains("tls") {
        format!("the TLS connection to `{host}` failed: the certificate is not trusted or does not match the host name")
    } else {
        format!("cannot connect to `{host}`")
    };
    format!("{why} ({})", describe_reqwest(e))
}
