//! The scheduler's HTTP endpoint: `/metrics` in the Prometheus text format and `/healthz`,
//! 200 with a JSON status while the loop is alive (503 once it has stopped).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Health, Metrics};

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// An HTTP endpoint, serving until stopped: the metrics and health one, or the notification
/// one ([`super::listen::serve`]).
pub struct Server {
    /// Where it listens (the port chosen, when 0 was asked for).
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    /// Binds `addr` and serves on the current runtime.
    pub async fn start(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> std::io::Result<Server> {
        let app = Router::new()
            .route("/metrics", get(scrape))
            .route("/healthz", get(healthz))
            .with_state(Shared { metrics, health });
        Server::serve(addr, app, "the metrics endpoint").await
    }

    /// Binds `addr` and serves `app` on the current runtime; `what` names it in the log.
    pub(crate) async fn serve(
        addr: SocketAddr,
        app: Router,
        what: &'static str,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "{what} stopped");
            }
        });
        Ok(Server { addr, stop, task })
    }

    /// Stops serving and waits for answers in flight, a few seconds at most (a client that
    /// never finishes its request must not hold the process).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let task = self.task;
        let abort = task.abort_handle();
        if tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

async fn scrape(State(s): State<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn healthz(State(s): State<Shared>) -> impl IntoResponse {
    let status = if s.health.alive() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        s.health.json().to_string(),
    )
}
