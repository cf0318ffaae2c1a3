//! Which handler answers a request: the whole-service requests (`$metadata`, `$batch`) are
//! routed here, so the services' handlers never call the batch or metadata modules, which call
//! them; and the answers both services give in their own dialect (errors, throttling, refused
//! tokens).

use std::time::Duration;

use super::auth::Audience;
use super::business_central::{self, Bc};
use super::dataverse::Dv;
use super::faults::Monitor;
use super::request::{Req, Resp, Whole};
use super::{batch, metadata};

/// One service's handlers.
#[derive(Debug)]
pub(crate) enum Api {
    /// Business Central.
    Bc(Bc),
    /// Dataverse.
    Dv(Dv),
}

impl Api {
    /// Answers a request that passed the pipeline: a whole-service request (`$metadata`,
    /// `$batch`) here, anything else by the service's own handler.
    pub(crate) fn handle(&self, req: &Req, monitor: &Monitor) -> Resp {
        match self {
            Api::Bc(bc) => match bc.whole_service(req) {
                Some(Whole::Metadata) => metadata::business_central(bc.schema()),
                Some(Whole::Batch) => batch::business_central(bc, req, monitor),
                None => bc.handle(req, monitor),
            },
            Api::Dv(dv) => match dv.whole_service(req) {
                Some(Whole::Metadata) => metadata::dataverse(dv.schema()),
                Some(Whole::Batch) => batch::dataverse(dv, req, monitor),
                None => dv.handle(req, monitor),
            },
        }
    }

    pub(crate) fn audience(&self) -> Audience {
        match self {
            Api::Bc(_) => Audience::Bc,
            Api::Dv(_) => Audience::Dv,
        }
    }

    pub(crate) fn route(&self, req: &Req) -> String {
        match self {
            Api::Bc(bc) => bc.route(req),
            Api::Dv(dv) => dv.route(req),
        }
    }

    pub(crate) fn error(&self, status: u16, code: &str, message: &str) -> Resp {
        match self {
            Api::Bc(_) => business_central::error(status, code, message),
            Api::Dv(_) => Resp::error(status, code, message),
        }
    }

    /// An answer that says what the throttling window has left, as Dataverse's answers do
    /// (`x-ms-ratelimit-burst-remaining-xrm-requests`); Business Central says nothing of it.
    pub(crate) fn with_budget_left(&self, answer: Resp, remaining: u32) -> Resp {
        match self {
            Api::Dv(_) => answer.with_header(
                "x-ms-ratelimit-burst-remaining-xrm-requests",
                remaining.to_string(),
            ),
            Api::Bc(_) => answer,
        }
    }

    pub(crate) fn throttled(&self, retry_after: u64, monitor: &Monitor) -> Resp {
        let (n, window) = monitor
            .limits()
            .requests_per_window
            .unwrap_or((0, Duration::ZERO));
        let resp = match self {
            Api::Dv(_) => Resp::error(
                429,
                "0x80072322",
                &format!(
                    "Number of requests exceeded the limit of {n} over time window of {} seconds.",
                    window.as_secs()
                ),
            ),
            Api::Bc(_) => business_central::error(
                429,
                "Application_TooManyRequests",
                &format!(
                    "The request exceeded the limit of {n} requests in {} seconds; retry after {retry_after} seconds.",
                    window.as_secs()
                ),
            ),
        };
        resp.with_header("Retry-After", retry_after.to_string())
    }

    pub(crate) fn unauthorized(&self, why: &str) -> Resp {
        let resp = match self {
            Api::Dv(_) => Resp::error(401, "0x80072560", why),
            Api::Bc(_) => business_central::error(
                401,
                "Authentication_InvalidCredentials",
                &format!("The server has rejected the client credentials. {why}"),
            ),
        };
        resp.with_header(
            "WWW-Authenticate",
            "Bearer authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\"",
        )
    }
}
