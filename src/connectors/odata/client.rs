//! Sending one OData request: the protocol headers, authentication, a bound on requests in
//! flight, timeouts, and retries — throttling (429) and unavailability (503, 504, 408) wait as
//! long as `Retry-After` says or back off exponentially; a refused token is fetched anew once.
//! A request that may have changed data (a create without a client key) is not sent again after
//! an answer that leaves unclear whether it ran.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use tokio::sync::Semaphore;

use super::auth::Authenticator;
use super::failure::{describe_reqwest, explain_connection, without_query};
use super::gate;
use super::pacing::{Pacer, RateLimit};
use crate::connectors::{ConnectorError, WriteGate};
use crate::odata::error::ErrorBody;

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: String,
    /// Extra headers (`Prefer`, `If-Match`, a batch's `Content-Type`).
    pub headers: Vec<(&'static str, String)>,
    /// The body, if any; JSON unless a `Content-Type` header says otherwise.
    pub body: Option<Vec<u8>>,
    /// Whether sending it twice does no harm: reads, updates and deletes by key, creates with a
    /// client key. Others are retried only after an answer that says they did not run.
    pub idempotent: bool,
}

impl Request {
    /// A GET.
    pub fn get(url: String) -> Request {
        Request {
            method: Method::GET,
            url,
            headers: Vec::new(),
            body: None,
            idempotent: true,
        }
    }

    /// With one more header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The service's error message: the OData error body's `code: message`, else the status;
    /// redacted, since a service may echo what it was sent.
    pub fn error_message(&self) -> String {
        crate::redact::redact(&self.raw_error_message())
    }

    fn raw_error_message(&self) -> String {
        match ErrorBody::parse(&self.body) {
            Some(b) => b.describe(),
            None => {
                let text = String::from_utf8_lossy(&self.body);
                let text = text.trim();
                if text.is_empty() || text.len() > 300 {
                    format!("HTTP {}", self.status)
                } else {
                    format!("HTTP {}: {text}", self.status)
                }
            }
        }
    }
}

/// Counters of a client's traffic, for the run report and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests sent (each attempt counts).
    pub requests: AtomicU64,
    /// Attempts that were repeated after a passing failure.
    pub retries: AtomicU64,
    /// Answers of 429 (throttled).
    pub throttled: AtomicU64,
    /// Milliseconds spent waiting before retries.
    pub waited_ms: AtomicU64,
    /// Of those, milliseconds spent waiting after a 429 (throttled) answer.
    pub throttled_ms: AtomicU64,
    /// Milliseconds requests waited before leaving, to stay within the service's budget.
    pub paced_ms: AtomicU64,
    /// The wait under way, if any, for a progress display to show.
    waiting: std::sync::Mutex<Option<Waiting>>,
}

/// A wait before a request leaves: until when, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    /// When the request leaves.
    pub until: std::time::Instant,
    /// Why it waits.
    pub cause: WaitCause,
}

/// Why a request waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCause {
    /// A retry after this answer (429 when the service asked to slow down).
    Answer(u16),
    /// A retry after the connection broke.
    Broken,
    /// The service's request budget is spent for now (see [`super::pacing`]).
    Budget,
}

impl Stats {
    /// The wait under way, if any; of several requests waiting at once, the latest to start.
    pub fn waiting(&self) -> Option<Waiting> {
        let wait = *self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        wait.filter(|w| w.until > std::time::Instant::now())
    }

    fn start_waiting(&self, wait: Waiting) {
        *self.waiting.lock().unwrap_or_else(|p| p.into_inner()) = Some(wait);
    }

    /// Ends `wait`, unless another request's wait took its place.
    fn stop_waiting(&self, wait: Waiting) {
        let mut current = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if *current == Some(wait) {
            *current = None;
        }
    }
}

/// How many times a request is tried again when no connection can be opened at all: a service
/// that is not listening seldom starts within a second, and the person waiting deserves the
/// reason (and doctor's hint) at once rather than after minutes of backing off.
const UNREACHABLE_RETRIES: u32 = 2;

/// How long to wait before retry `attempt` (from 0) when the service does not say.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(250).saturating_mul(1u32 << attempt.min(7));
    // Up to a quarter more, so clients that failed together do not retry together.
    let jitter = base.as_millis() as u64 * u64::from(uuid::Uuid::new_v4().as_bytes()[0]) / 1024;
    (base + Duration::from_millis(jitter)).min(Duration::from_secs(30))
}

/// `Retry-After` as seconds or an HTTP date, capped at five minutes.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
        _ => {
            let at = jiff::fmt::rfc2822::parse(text).ok()?.timestamp();
            let secs = (at - jiff::Timestamp::now()).get_seconds().max(0);
            Duration::from_secs(secs as u64)
        }
    };
    Some(wait.min(Duration::from_secs(300)))
}

/// Sends requests to one service.
pub struct Client {
    /// The JSON media type of requests and answers (see [`Client::ieee754_compatible`]).
    media_type: &'static str,
    system: String,
    http: reqwest::Client,
    auth: Authenticator,
    in_flight: Semaphore,
    pacer: Pacer,
    max_retries: u32,
    /// Asked before each request that writes (see [`WriteGate`]).
    write_gate: std::sync::RwLock<Option<WriteGate>>,
    /// Traffic counters, shared so metrics can read them while requests go on.
    pub stats: Arc<Stats>,
}

/// JSON as OData 4.0 speaks it.
const JSON: &str = "application/json";
/// JSON with Int64 and Decimal values as strings (OData JSON Format §4.5.7.1).
const JSON_IEEE754: &str = "application/json;IEEE754Compatible=true";

impl Client {
    /// The same client speaking `IEEE754Compatible=true` (in `Accept` and `Content-Type`) when
    /// `on`: the service answers decimals as strings, and takes them as strings.
    pub fn ieee754_compatible(mut self, on: bool) -> Client {
        self.media_type = if on { JSON_IEEE754 } else { JSON };
        self
    }

    /// The same client keeping its requests within `budget` (see [`super::pacing`]).
    pub fn paced(mut self, budget: Option<RateLimit>) -> Client {
        self.pacer = Pacer::new(budget);
        self
    }

    /// The media type of JSON bodies, for the parts of a `$batch`.
    pub fn media_type(&self) -> &'static str {
        self.media_type
    }

    /// A client for a system's service.
    pub fn new(
        system: &str,
        auth: Authenticator,
        concurrency: usize,
        timeout: Duration,
        max_retries: u32,
    ) -> Result<Client, ConnectorError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(15)))
            .pool_max_idle_per_host(concurrency.max(1))
            .user_agent(concat!("syncmap/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the request — the token endpoint's form with the client
            // secret, a bearer token — to a host the profile never named.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                ConnectorError::Fatal(format!(
                    "system `{system}`: cannot set up HTTP: {}",
                    describe_reqwest(&e)
                ))
            })?;
        Ok(Client {
            media_type: JSON,
            system: system.to_string(),
            http,
            auth,
            in_flight: Semaphore::new(concurrency.max(1)),
            pacer: Pacer::new(None),
            max_retries,
            write_gate: std::sync::RwLock::new(None),
            stats: Arc::new(Stats::default()),
        })
    }

    /// Asks `gate` before each request that writes from now on (`None`: sends them all).
    pub fn set_write_gate(&self, gate: Option<WriteGate>) {
        if let Ok(mut g) = self.write_gate.write() {
            *g = gate;
        }
    }

    /// `Fatal` when the write gate is shut: the request is not sent.
    fn gate_open(&self, request: &Request) -> Result<(), ConnectorError> {
        if request.method == Method::GET {
            return Ok(());
        }
        match self.write_gate() {
            Some(open) if !open() => Err(self.gate_shut()),
            _ => Ok(()),
        }
    }

    fn write_gate(&self) -> Option<WriteGate> {
        self.write_gate.read().ok().and_then(|g| g.clone())
    }

    fn gate_shut(&self) -> ConnectorError {
        ConnectorError::Fatal(format!(
            "system `{}`: write not sent: the run may no longer hold its lease of the state store",
            self.system
        ))
    }

    /// A request's body; a write's is handed over only while the write gate is open, asked
    /// again when its connection sends it (see [`gate`]).
    fn gated_body(&self, request: &Request, body: Vec<u8>) -> reqwest::Body {
        match self.write_gate() {
            Some(open) if request.method != Method::GET => {
                reqwest::Body::wrap(gate::GatedBody::new(body, open))
            }
            _ => reqwest::Body::from(body),
        }
    }

    /// The system's alias, for messages.
    pub fn system(&self) -> &str {
        &self.system
    }

    /// Obtains the credentials' token now (from the token endpoint, for client credentials)
    /// without sending a request, so that `syncmap doctor` can tell a refused secret from a
    /// service that refuses the token.
    pub async fn authorize(&self) -> Result<(), ConnectorError> {
        // A request built but never sent: only its `Authorization` header is wanted.
        let unsent = self.http.get("http://localhost/");
        self.auth.apply(&self.http, unsent).await.map(|_| ())
    }

    /// Sends a request, retrying passing failures; any answer the service gives on purpose
    /// (including 4xx) comes back as `Ok` for the caller to read.
    pub async fn send(&self, request: &Request) -> Result<Response, ConnectorError> {
        let mut attempt = 0u32;
        let mut token_renewed = false;
        loop {
            let outcome = self.attempt_in_turn(request).await?;
            let (wait, status) = match outcome {
                Ok(r) if r.status == StatusCode::UNAUTHORIZED && !token_renewed => {
                    // A token can be revoked or expire early; one fresh token settles it.
                    token_renewed = true;
                    if self.auth.invalidate().await {
                        continue;
                    }
                    return Err(self.refused(&r));
                }
                Ok(r) => match self.after_answer(request, attempt, r) {
                    Decision::Return(result) => return result,
                    Decision::Retry { wait, status } => (wait, status),
                },
                Err(failure) => match self.after_failure(request, attempt, failure) {
                    Decision::Return(result) => return result,
                    Decision::Retry { wait, status } => (wait, status),
                },
            };
            attempt += 1;
            self.wait_to_retry(request, attempt, wait, status).await;
        }
    }

    /// One attempt, when one of the client's places in flight is free.
    async fn attempt_in_turn(
        &self,
        request: &Request,
    ) -> Result<Result<Response, Failure>, ConnectorError> {
        let _permit = self.in_flight.acquire().await.map_err(|_| {
            ConnectorError::Fatal(format!("system `{}`: client closed", self.system))
        })?;
        if let Some(wait) = self.pacer.admit() {
            self.wait_for_budget(request, wait).await;
        }
        self.gate_open(request)?;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let outcome = self.attempt(request).await;
        if let Ok(r) = &outcome {
            self.pacer.observe(&r.headers);
        }
        Ok(outcome)
    }

    /// Waits `wait` before a request leaves, to stay within the service's budget: counted,
    /// shown while it lasts, and logged when long enough for someone to wonder.
    async fn wait_for_budget(&self, request: &Request, wait: Duration) {
        let wait_ms = wait.as_millis() as u64;
        self.stats.paced_ms.fetch_add(wait_ms, Ordering::Relaxed);
        if wait >= Duration::from_secs(1) {
            tracing::info!(
                system = %self.system,
                method = %request.method,
                url = without_query(&request.url),
                wait_ms,
                "pacing to the service's request budget"
            );
        }
        let waiting = Waiting {
            until: std::time::Instant::now() + wait,
            cause: WaitCause::Budget,
        };
        self.stats.start_waiting(waiting);
        tokio::time::sleep(wait).await;
        self.stats.stop_waiting(waiting);
    }

    /// What follows an answer (other than a first 401, which renews the token): the answer
    /// itself, an error, or another attempt after a wait.
    fn after_answer(&self, request: &Request, attempt: u32, r: Response) -> Decision {
        match r {
            r if r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::FORBIDDEN => {
                Decision::Return(Err(self.refused(&r)))
            }
            r if is_passing(r.status) => {
                if r.status == StatusCode::TOO_MANY_REQUESTS {
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                }
                // A throttled or unavailable service did not run the request; a gateway
                // timeout leaves it unknown.
                let ran_maybe = matches!(r.status.as_u16(), 504 | 408);
                if attempt >= self.max_retries || (ran_maybe && !request.idempotent) {
                    return Decision::Return(Err(ConnectorError::Transient(format!(
                        "{} after {} attempt(s): {}",
                        self.system,
                        attempt + 1,
                        r.error_message()
                    ))));
                }
                Decision::Retry {
                    status: Some(r.status.as_u16()),
                    wait: retry_after(&r.headers).unwrap_or_else(|| backoff(attempt)),
                }
            }
            r if r.status.is_redirection() => Decision::Return(Err(redirected(&self.system, &r))),
            r => Decision::Return(Ok(r)),
        }
    }

    /// What follows an attempt that got no answer: an error, or another attempt after a wait.
    fn after_failure(&self, request: &Request, attempt: u32, failure: Failure) -> Decision {
        let wait = match failure {
            Failure::Fatal(e) => return Decision::Return(Err(e)),
            Failure::Unreachable(why) => {
                // Nothing was sent, so even a create may be tried again.
                if attempt >= self.max_retries.min(UNREACHABLE_RETRIES) {
                    return Decision::Return(Err(ConnectorError::Unreachable(format!(
                        "system `{}`: {why}; `syncmap doctor` checks the URL, credentials and tables of each system",
                        self.system
                    ))));
                }
                backoff(attempt)
            }
            Failure::Broken(e) => {
                // The request may have reached the service before the connection broke.
                if attempt >= self.max_retries || !request.idempotent {
                    return Decision::Return(Err(ConnectorError::Transient(
                        crate::redact::redact(&format!(
                            "{}: {} {} {e}",
                            self.system,
                            request.method,
                            without_query(&request.url)
                        )),
                    )));
                }
                backoff(attempt)
            }
        };
        Decision::Retry { wait, status: None }
    }

    /// Counts and logs a retry, then waits `wait` before attempt number `attempt`; `status`
    /// is the answer that made the request wait (none for a broken connection).
    async fn wait_to_retry(
        &self,
        request: &Request,
        attempt: u32,
        wait: Duration,
        status: Option<u16>,
    ) {
        let wait_ms = wait.as_millis() as u64;
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        self.stats.waited_ms.fetch_add(wait_ms, Ordering::Relaxed);
        if status == Some(429) {
            self.stats
                .throttled_ms
                .fetch_add(wait_ms, Ordering::Relaxed);
        }
        let waiting = Waiting {
            until: std::time::Instant::now() + wait,
            cause: status.map_or(WaitCause::Broken, WaitCause::Answer),
        };
        // The path only: a query string may carry filter values.
        tracing::info!(
            system = %self.system,
            method = %request.method,
            url = without_query(&request.url),
            attempt,
            status,
            wait_ms,
            "retrying request"
        );
        self.stats.start_waiting(waiting);
        tokio::time::sleep(wait).await;
        self.stats.stop_waiting(waiting);
    }

    fn refused(&self, r: &Response) -> ConnectorError {
        ConnectorError::Fatal(format!(
            "system `{}`: the service refused the credentials (HTTP {}): {}",
            self.system,
            r.status.as_u16(),
            r.error_message()
        ))
    }

    async fn attempt(&self, request: &Request) -> Result<Response, Failure> {
        let named = |h: &str| {
            request
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(h))
        };
        let mut builder = self.http.request(request.method.clone(), &request.url);
        if !named("odata-version") {
            // OData 4.0 unless the request needs more (a JSON `$batch` is 4.01).
            builder = builder
                .header("OData-Version", "4.0")
                .header("OData-MaxVersion", "4.0");
        }
        if !named("accept") {
            builder = builder.header(ACCEPT, HeaderValue::from_static(self.media_type));
        }
        let typed = named("content-type");
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        if let Some(body) = &request.body {
            if !typed {
                let content_type = if self.media_type == JSON {
                    "application/json; charset=utf-8"
                } else {
                    self.media_type
                };
                builder = builder.header(CONTENT_TYPE, content_type);
            }
            builder = builder.body(self.gated_body(request, body.clone()));
        }
        let builder = match self.auth.apply(&self.http, builder).await {
            Ok(b) => b,
            // A refused secret stays refused: asking again only locks the account sooner.
            Err(e @ ConnectorError::Fatal(_)) => return Err(Failure::Fatal(e)),
            Err(ConnectorError::Unreachable(why)) => return Err(Failure::Unreachable(why)),
            Err(e) => return Err(Failure::Broken(e.to_string())),
        };
        let broken = |e: reqwest::Error| Failure::Broken(describe_reqwest(&e));
        let response = builder.send().await.map_err(|e| {
            if gate::shut(&e) {
                Failure::Fatal(self.gate_shut())
            } else if e.is_connect() {
                Failure::Unreachable(explain_connection(&e, &request.url, None))
            } else {
                broken(e)
            }
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(broken)?;
        Ok(Response {
            status,
            headers,
            body: body.to_vec(),
        })
    }
}

/// Why an attempt got no answer.
enum Failure {
    /// The connection broke (or the token endpoint was unavailable): worth another attempt.
    Broken(String),
    /// No connection could be opened, to the service or its token endpoint: the request was
    /// not sent. Explained in words a person can act on.
    Unreachable(String),
    /// Another attempt would fail the same way (the credentials were refused).
    Fatal(ConnectorError),
}

/// What [`Client::send`] does after an attempt.
enum Decision {
    /// Gives the caller this result.
    Return(Result<Response, ConnectorError>),
    /// Tries again after `wait`; `status` is the answer that made the request wait (none for
    /// a broken connection).
    Retry { wait: Duration, status: Option<u16> },
}

/// The error for a 3xx answer, which is never followed: it names where it pointed (redacted)
/// so the profile can be corrected to the final URL.
fn redirected(system: &str, r: &Response) -> ConnectorError {
    let to = r.header("location").map_or_else(
        || "no Location".to_string(),
        |l| without_query(l).to_string(),
    );
    ConnectorError::Fatal(crate::redact::redact(&format!(
        "system `{system}`: the service answered HTTP {} redirecting to {to}; syncmap does not follow redirects (they would carry the credentials elsewhere): use the final URL in the profile",
        r.status.as_u16()
    )))
}

fn is_passing(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates_and_caps_them() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("100000"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(300)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) >= Duration::from_millis(250));
        assert!(backoff(0) < Duration::from_millis(320));
        assert!(backoff(3) >= Duration::from_secs(2));
        assert_eq!(backoff(30), Duration::from_secs(30));
    }
}
