//! OAuth2 client credentials as Microsoft Entra answers them, and bearer-token checks.
//!
//! Each server answers `POST /{tenant}/oauth2/v2.0/token`; tokens are random, remembered with
//! their expiry, their audience — the server whose endpoint issued them — and the application
//! user they were issued to, and valid on that server only, as a token for one resource is
//! refused by another. The user is who a request's throttling counts against.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::json;

use super::query::percent_decode;
use super::request::{Req, Resp};
use super::AuthConfig;

/// The tokens handed out, and the credentials that earn one.
#[derive(Debug)]
pub(crate) struct Tokens {
    config: AuthConfig,
    issued: Mutex<HashMap<String, (Instant, Audience, Caller)>>,
}

/// Which application user a request comes from: 0 for [`AuthConfig::client_id`], `i` for the
/// `i`-th of [`AuthConfig::more_clients`] (from 1). Requests are throttled per caller.
pub(crate) type Caller = usize;

/// The service a token was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// Business Central.
    Bc,
    /// Dataverse.
    Dv,
}

/// The outcome of checking a request's `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// A valid token of this caller, or auth is not required (caller 0).
    Ok(Caller),
    /// No token, a token never issued, or one that expired; the text says which.
    Rejected(&'static str),
}

impl Tokens {
    /// A registry for these credentials.
    pub fn new(config: AuthConfig) -> Tokens {
        Tokens {
            config,
            issued: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a path is a token endpoint: `/{tenant}/oauth2/v2.0/token`.
    pub fn is_token_path(path: &str) -> bool {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        matches!(parts.as_slice(), [_, "oauth2", "v2.0", "token"])
    }

    /// Answers a token request.
    pub fn token(&self, req: &Req, audience: Audience) -> Resp {
        let caller = match self.check_client(req) {
            Ok(caller) => caller,
            Err(refused) => return refused,
        };
        let token = self.issue(audience, caller);
        Resp::json(
            200,
            &json!({
                "token_type": "Bearer",
                "expires_in": self.config.token_ttl.as_secs(),
                "ext_expires_in": self.config.token_ttl.as_secs(),
                "access_token": token,
            }),
        )
    }

    /// Checks that a token request is a client-credentials `POST` with the credentials of one
    /// of the application users; which one.
    fn check_client(&self, req: &Req) -> Result<Caller, Resp> {
        if req.method != "POST" {
            return Err(entra_error(
                405,
                "invalid_request",
                "AADSTS900561",
                "The endpoint only accepts POST requests.",
            ));
        }
        let form = String::from_utf8_lossy(&req.body);
        let field = |name: &str| {
            form.split('&')
                .filter_map(|p| p.split_once('='))
                .find(|(n, _)| percent_decode(n) == name)
                .map(|(_, v)| percent_decode(v))
        };
        if field("grant_type").as_deref() != Some("client_credentials") {
            return Err(entra_error(
                400,
                "unsupported_grant_type",
                "AADSTS70003",
                "The app requested an unsupported grant type; this endpoint issues client_credentials tokens.",
            ));
        }
        let clients = std::iter::once((&self.config.client_id, &self.config.client_secret)).chain(
            self.config
                .more_clients
                .iter()
                .map(|(id, secret)| (id, secret)),
        );
        let id = field("client_id");
        let Some((caller, (_, secret))) = clients
            .enumerate()
            .find(|(_, (known, _))| id.as_deref() == Some(known.as_str()))
        else {
            return Err(entra_error(
                401,
                "invalid_client",
                "AADSTS700016",
                "Application with the given identifier was not found in the directory.",
            ));
        };
        if field("client_secret").as_deref() != Some(secret.as_str()) {
            return Err(entra_error(
                401,
                "invalid_client",
                "AADSTS7000215",
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
            ));
        }
        Ok(caller)
    }

    /// A new token for `audience` and `caller`, registered until it expires; expired ones are
    /// forgotten.
    fn issue(&self, audience: Audience, caller: Caller) -> String {
        let token = format!(
            "sbx.{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let expires = Instant::now() + self.config.token_ttl;
        let mut issued = self
            .issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        issued.retain(|_, (expires, _, _)| *expires > now);
        issued.insert(token.clone(), (expires, audience, caller));
        token
    }

    /// Checks the `Authorization` headers of a request to the `audience` service: one valid
    /// bearer token among them is enough (a client may also send a URL's user-info as basic).
    pub fn check<'a>(
        &self,
        authorizations: impl IntoIterator<Item = &'a str>,
        audience: Audience,
    ) -> Check {
        if !self.config.required {
            return Check::Ok(0);
        }
        let mut why = Check::Rejected("The request has no Authorization header.");
        for value in authorizations {
            match self.check_one(value, audience) {
                ok @ Check::Ok(_) => return ok,
                rejected => why = rejected,
            }
        }
        why
    }

    fn check_one(&self, value: &str, audience: Audience) -> Check {
        let token = match value.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
            _ => return Check::Rejected("The Authorization header is not a bearer token."),
        };
        let issued = self
            .issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match issued.get(token) {
            None => Check::Rejected("The bearer token is not valid."),
            Some((expires, _, _)) if *expires <= Instant::now() => {
                Check::Rejected("The bearer token has expired.")
            }
            Some((_, issued_for, _)) if *issued_for != audience => {
                Check::Rejected("The bearer token was issued for another service.")
            }
            Some((_, _, caller)) => Check::Ok(*caller),
        }
    }
}

/// An error as Entra's token endpoint writes it.
fn entra_error(status: u16, error: &str, code: &str, text: &str) -> Resp {
    let trace = uuid::Uuid::new_v4();
    let number: u64 = code
        .trim_start_matches("AADSTS")
        .parse()
        .unwrap_or_default();
    Resp::json(
        status,
        &json!({
            "error": error,
            "error_description": format!("{code}: {text} Trace ID: {trace}"),
            "error_codes": [number],
            "timestamp": jiff::Timestamp::now().to_string(),
            "trace_id": trace.to_string(),
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        }),
    )
}
