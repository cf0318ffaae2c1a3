//! Starting and stopping the two services: the listener, the axum router, and the pipeline
//! every request goes through — statistics, injected delay and faults, the bearer token,
//! throttling — before the service's own handler.
//!
//! Routing is done by the services themselves from the path, not by axum's router: OData
//! paths put keys in parentheses inside segments (`companies(…)/customers(…)`), and `$batch`
//! parts must reach the same handlers as requests sent alone.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use axum::serve::IncomingStream;
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::auth::{Check, Tokens};
use super::business_central::webhooks::Webhooks;
use super::business_central::Bc;
use super::dataverse::Dv;
use super::dispatch::Api;
use super::faults::{Fault, FaultsPatch, Monitor, Throttle, Writes};
use super::query::percent_decode;
use super::request::{Req, Resp};
use super::store::Store;
use super::{seed, SandboxConfig, SandboxError};

/// The largest request body read from a caller with a valid token (a `$batch` of 1000 large
/// records fits easily).
const MAX_BODY: usize = 256 * 1024 * 1024;
/// The largest token request read: a form of four short fields. Other requests without a valid
/// token are answered without reading their body at all.
const MAX_TOKEN_FORM: usize = 64 * 1024;

/// Schema snapshots embedded so the binary works anywhere.
const BC_SCHEMA: &str = include_str!("../../mappings/schemas/business-central.json");
const DV_SCHEMA: &str = include_str!("../../mappings/schemas/dataverse.json");

/// Everything one server needs.
#[derive(Debug)]
pub(crate) struct ServiceState {
    pub api: Api,
    pub monitor: Arc<Monitor>,
    pub tokens: Arc<Tokens>,
}

/// Both services' states, Dataverse's store (whose delta tokens [`super::Control`] expires)
/// and Business Central's webhook subscriptions.
pub(crate) type States = (
    Arc<ServiceState>,
    Arc<ServiceState>,
    Arc<Store>,
    Arc<Webhooks>,
);

/// Opens, creates and seeds both stores and builds both services' states.
pub(crate) fn states(config: &SandboxConfig, tokens: Arc<Tokens>) -> Result<States, SandboxError> {
    let schema =
        |text: &str| crate::schema::load(text).map_err(|e| SandboxError::Schema(e.to_string()));
    if let Some(dir) = &config.data {
        std::fs::create_dir_all(dir)
            .map_err(|e| SandboxError::Storage(format!("cannot create {}: {e}", dir.display())))?;
    }
    let file = |name: &str| config.data.as_ref().map(|d| d.join(name));
    let bc_store = Store::open(file("business-central.db").as_deref(), schema(BC_SCHEMA)?)?;
    let mut dv_schema = schema(DV_SCHEMA)?;
    if config.integer_keys {
        dv_schema
            .tables
            .extend(super::keys::integer_keyed_schema().tables);
    }
    let dv_store = Store::open(file("dataverse.db").as_deref(), dv_schema)?;
    let webhooks = Arc::new(Webhooks::new());
    let bc = Bc::new(
        bc_store,
        seed::companies(config.more_companies),
        webhooks.clone(),
    );
    let dv = Dv::new(dv_store, seed::app_user());
    seed::seed(&bc, &dv, config.seed, config.more_companies).map_err(SandboxError::Storage)?;
    // After the seed: a first tracked read reads the seeded rows anyway.
    dv.store.track_changes()?;
    let dv_store = dv.store.clone();
    let writes = Arc::new(Writes::default());
    let state = |api| {
        Arc::new(ServiceState {
            api,
            monitor: Arc::new(Monitor::sharing(
                config.limits.clone(),
                config.faults.clone(),
                writes.clone(),
            )),
            tokens: tokens.clone(),
        })
    };
    Ok((state(Api::Bc(bc)), state(Api::Dv(dv)), dv_store, webhooks))
}

/// A running server.
#[derive(Debug)]
pub(crate) struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish (for up to a second: the sandbox's
    /// requests are short, and clients that keep idle connections open must not hold it up).
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Binds the port and starts serving.
pub(crate) async fn serve(
    ip: IpAddr,
    port: u16,
    state: Arc<ServiceState>,
) -> Result<Running, SandboxError> {
    let addr = SocketAddr::new(ip, port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| SandboxError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SandboxError::Bind { addr, source })?;
    let app = Router::new().fallback(handle).with_state(state);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<Conn>();
        let _ = axum::serve(Droppable(listener), service)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Running {
        addr,
        stop: Some(tx),
        task: Some(task),
    })
}

/// The per-request pipeline.
async fn handle(
    State(state): State<Arc<ServiceState>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    request: Request<Body>,
) -> Response<Body> {
    // The token is checked before the body is read, so a caller without one cannot make the
    // server hold a large body in memory.
    let access = state.tokens.check(
        request
            .headers()
            .get_all(axum::http::header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        state.api.audience(),
    );
    let limit = if Tokens::is_token_path(request.uri().path()) {
        Some(MAX_TOKEN_FORM)
    } else {
        matches!(access, Check::Ok(_)).then_some(MAX_BODY)
    };
    let req = match read(request, limit).await {
        Ok(req) => req,
        Err(resp) => return respond(resp),
    };
    let mut answer = answer(&state, &conn, &req, access).await;
    if state.monitor.faults().echo_secrets && (answer.status >= 400 || req.path.ends_with("$batch"))
    {
        super::echo::into_answer(&mut answer, &super::echo::credentials(&req));
    }
    respond(answer)
}

/// The pipeline after the request is read: control, token and API requests.
async fn answer(state: &ServiceState, conn: &Conn, req: &Req, access: Check) -> Resp {
    if let Some(rest) = req.path.strip_prefix("/_sandbox/") {
        // The controls change what every caller gets: they need a token as the API does.
        return match access {
            Check::Ok(_) => control(state, rest, req),
            Check::Rejected(why) => state.api.unauthorized(why),
        };
    }
    if Tokens::is_token_path(&req.path) {
        return state.tokens.token(req, state.api.audience());
    }
    let monitor = &state.monitor;
    monitor.count(&req.method, &state.api.route(req));
    let _answering = Answering::begin(monitor, req.method != "GET");
    if let Some(faulty) = injected_fault(state, conn).await {
        return faulty;
    }
    let caller = match access {
        Check::Ok(caller) => caller,
        Check::Rejected(why) => {
            monitor.count_unauthorized();
            return state.api.unauthorized(why);
        }
    };
    let remaining = match monitor.throttle(caller) {
        Throttle::Refused { retry_after } => return state.api.throttled(retry_after, monitor),
        Throttle::Admitted { remaining } => Some(remaining),
        Throttle::Unlimited => None,
    };
    // Subscriptions are answered apart: their handshake waits on the subscriber. They are not
    // records, so the refusal of records does not touch them.
    let subscription = match &state.api {
        Api::Bc(bc) => bc.subscriptions(req, monitor).await,
        Api::Dv(_) => None,
    };
    let refused =
        monitor.faults().refuse_writes && req.method != "GET" && !req.path.ends_with("$batch");
    let mut answer = match subscription {
        Some(answer) => answer,
        None if refused => {
            return state.api.error(
                400,
                "BadRequest",
                "The record was refused (a fault injected by the sandbox).",
            )
        }
        None => state.api.handle(req, monitor),
    };
    monitor.count_sent(answer.body.len());
    if let Some(remaining) = remaining {
        answer = state.api.with_budget_left(answer, remaining);
    }
    if monitor.limits().refusals_as_500 && answer.status == 400 && names_a_target(&answer) {
        // Some services answer a value they refuse with 500 and the same error body.
        answer.status = 500;
    }
    if req.method != "GET" && monitor.lose_answer() {
        // Processed and committed; the answer never arrives.
        conn.kill.store(true, Ordering::SeqCst);
        return Resp::empty(503);
    }
    answer
}

/// An API request being answered (and whether it could write), counted as such until it is
/// dropped.
struct Answering<'m>(&'m Monitor, bool);

impl<'m> Answering<'m> {
    fn begin(monitor: &'m Monitor, write: bool) -> Self {
        monitor.began(write);
        Answering(monitor, write)
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0.ended(self.1);
    }
}

/// The delay and fault drawn for a request: the answer a fault gives instead of the API's.
async fn injected_fault(state: &ServiceState, conn: &Conn) -> Option<Resp> {
    let (delay, fault) = state.monitor.draw();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match fault {
        Fault::Drop => {
            // The connection refuses every write from now on, so hyper closes it without a
            // byte of this answer reaching the client.
            conn.kill.store(true, Ordering::SeqCst);
            Some(Resp::empty(503))
        }
        Fault::Unavailable => Some(state.api.error(
            503,
            "ServiceUnavailable",
            "The service is temporarily unavailable (a fault injected by the sandbox).",
        )),
        Fault::None => None,
    }
}

/// Whether an answer is an OData error about one property (a refused value).
fn names_a_target(answer: &Resp) -> bool {
    serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .is_some_and(|b| b["error"]["target"].is_string())
}

/// `/_sandbox/stats` (GET, DELETE resets), `/_sandbox/faults` (GET, PUT) and, on Dataverse,
/// `/_sandbox/expire-delta-tokens` (POST).
fn control(state: &ServiceState, rest: &str, req: &Req) -> Resp {
    match (req.method.as_str(), rest) {
        ("POST", "expire-delta-tokens") => match &state.api {
            Api::Dv(dv) => match dv.store.lock().expire_changes() {
                Ok(()) => Resp::empty(204),
                Err(e) => Resp::error(500, "Internal", &format!("{e:?}")),
            },
            Api::Bc(_) => Resp::error(404, "NotFound", "Business Central has no delta tokens"),
        },
        ("GET", "stats") => match serde_json::to_value(state.monitor.stats()) {
            Ok(v) => Resp::json(200, &v),
            Err(e) => Resp::error(500, "Internal", &e.to_string()),
        },
        ("DELETE", "stats") => {
            state.monitor.reset_stats();
            Resp::empty(204)
        }
        ("GET", "faults") => {
            let f = state.monitor.faults();
            let l = state.monitor.limits();
            Resp::json(
                200,
                &serde_json::json!({
                    "error_rate": f.error_rate,
                    "drop_rate": f.drop_rate,
                    "lost_answer_rate": f.lost_answer_rate,
                    "delay_ms": u64::try_from(f.delay.as_millis()).unwrap_or(u64::MAX),
                    "seed": f.seed,
                    "throttle": l.requests_per_window.map(|(n, w)| (n, w.as_secs())),
                    "untracked": l.untracked,
                    "delta_token_ttl_secs": l.delta_token_ttl.map(|d| d.as_secs()),
                }),
            )
        }
        ("PUT", "faults") => match serde_json::from_slice::<FaultsPatch>(&req.body) {
            Ok(patch) => match patch.apply(&state.monitor) {
                Ok(()) => Resp::empty(204),
                Err(e) => Resp::error(400, "BadRequest", &e),
            },
            Err(e) => Resp::error(400, "BadRequest", &e.to_string()),
        },
        _ => Resp::error(404, "NotFound", "unknown sandbox control endpoint"),
    }
}

/// Reads a request into the handlers' form, its body up to `limit` bytes (none: left unread).
async fn read(request: Request<Body>, limit: Option<usize>) -> Result<Req, Resp> {
    let (parts, body) = request.into_parts();
    let body = match limit {
        Some(limit) => axum::body::to_bytes(body, limit)
            .await
            .map_err(|e| Resp::error(413, "RequestEntityTooLarge", &e.to_string()))?,
        None => axum::body::Bytes::new(),
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    Ok(Req {
        method: parts.method.as_str().to_ascii_uppercase(),
        // `+` is literal in a path; only the query uses it for spaces.
        path: percent_decode(&parts.uri.path().replace('+', "%2B")),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers,
        body: body.to_vec(),
        origin: format!("http://{host}"),
    })
}

/// An answer in axum's form.
fn respond(resp: Resp) -> Response<Body> {
    let mut out = Response::new(Body::from(resp.body));
    *out.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (n, v) in resp.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(n), HeaderValue::try_from(v)) {
            out.headers_mut().append(n, v);
        }
    }
    out
}

/// What a handler knows of its connection: the peer, and the switch that kills it.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    #[allow(dead_code)] // kept for debugging output
    peer: SocketAddr,
    kill: Arc<AtomicBool>,
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, Droppable>> for Conn {
    fn connect_info(stream: IncomingStream<'_, Droppable>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP listener whose connections can be killed by their handler.
pub(crate) struct Droppable(TcpListener);

impl axum::serve::Listener for Droppable {
    type Io = KillableStream;
    type Addr = Conn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, peer)) => {
                    // Small requests and answers: Nagle's algorithm would hold them back for
                    // the peer's delayed ACK.
                    let _ = stream.set_nodelay(true);
                    let kill = Arc::new(AtomicBool::new(false));
                    return (
                        KillableStream {
                            stream,
                            kill: kill.clone(),
                        },
                        Conn { peer, kill },
                    );
                }
                // Out of file descriptors and the like: wait rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Conn {
            peer: self.0.local_addr()?,
            kill: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A TCP stream that fails every write once killed.
pub(crate) struct KillableStream {
    stream: TcpStream,
    kill: Arc<AtomicBool>,
}

impl KillableStream {
    fn killed(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }
}

fn broken() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "connection dropped by the sandbox",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(broken()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(broken()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
