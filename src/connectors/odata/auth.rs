//! Authentication of OData requests: OAuth 2.0 client credentials (the token is cached and
//! fetched anew shortly before it expires, or when the service refuses it), a fixed bearer token,
//! HTTP basic, or nothing. Secrets stay in [`Secret`]s: they are sent, never formatted into a
//! message.

use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

use crate::connectors::ConnectorError;
use crate::profile::{Auth, Secret};

/// How a system's requests are authenticated, with the secret already read.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// No `Authorization` header.
    None,
    /// `Authorization: Bearer <token>` with a fixed token.
    Bearer(Secret),
    /// `Authorization: Basic …`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// Tokens from an OAuth 2.0 token endpoint.
    ClientCredentials {
        /// The token endpoint.
        token_url: String,
        /// The application (client) id.
        client_id: String,
        /// The client secret.
        secret: Secret,
        /// The scope asked for.
        scope: Option<String>,
    },
}

impl Credentials {
    /// The credentials a profile's `auth` describes, with its secret.
    pub fn from_profile(auth: &Auth, secret: Option<Secret>) -> Result<Credentials, String> {
        let need = |s: Option<Secret>| s.ok_or_else(|| "the secret was not given".to_string());
        Ok(match auth {
            Auth::None => Credentials::None,
            Auth::Bearer { .. } => Credentials::Bearer(need(secret)?),
            Auth::Basic { username, .. } => {
                let password = need(secret)?;
                // A service may echo the header, which carries `user:password` in base64.
                crate::redact::register_basic(username, password.expose());
                Credentials::Basic {
                    username: username.clone(),
                    password,
                }
            }
            Auth::ClientCredentials {
                token_url,
                client_id,
                scope,
                ..
            } => Credentials::ClientCredentials {
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                secret: need(secret)?,
                scope: scope.clone(),
            },
        })
    }
}

/// A token and when to stop using it.
struct Cached {
    token: Secret,
    renew_at: Instant,
}

/// Gives each request its `Authorization` header.
pub struct Authenticator {
    system: String,
    credentials: Credentials,
    cached: Mutex<Option<Cached>>,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The token endpoint's refusal (RFC 6749 §5.2); its description is redacted before use.
#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl Authenticator {
    /// An authenticator for a system's requests.
    pub fn new(system: &str, credentials: Credentials) -> Authenticator {
        Authenticator {
            system: system.to_string(),
            credentials,
            cached: Mutex::new(None),
        }
    }

    /// `request` with its `Authorization` header (marked sensitive, so it is never logged).
    pub async fn apply(
        &self,
        http: &reqwest::Client,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, ConnectorError> {
        Ok(match &self.credentials {
            Credentials::None => request,
            Credentials::Bearer(token) => request.bearer_auth(token.expose()),
            Credentials::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
            Credentials::ClientCredentials {
                token_url,
                client_id,
                secret,
                scope,
            } => {
                let mut cached = self.cached.lock().await;
                let token = match cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
                    Some(c) => c.token.clone(),
                    None => {
                        let fresh = self
                            .fetch(http, token_url, client_id, secret, scope.as_deref())
                            .await?;
                        let token = fresh.token.clone();
                        *cached = Some(fresh);
                        token
                    }
                };
                request.bearer_auth(token.expose())
            }
        })
    }

    /// Forgets the cached token after the service refused it, so the next request gets a new one.
    /// Returns whether there was a token to forget (a refused fixed token stays refused).
    pub async fn invalidate(&self) -> bool {
        matches!(self.credentials, Credentials::ClientCredentials { .. })
            && self.cached.lock().await.take().is_some()
    }

    /// A new token from the token endpoint, for the client credentials.
    async fn fetch(
        &self,
        http: &reqwest::Client,
        token_url: &str,
        client_id: &str,
        secret: &Secret,
        scope: Option<&str>,
    ) -> Result<Cached, ConnectorError> {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret.expose()),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let asked = Instant::now();
        let response = self.post_form(http, token_url, &form).await?;
        let status = response.status();
        if status.is_redirection() {
            return Err(self.redirected(&response));
        }
        let body = response.bytes().await.map_err(|e| {
            ConnectorError::Transient(format!(
                "system `{}`: reading the token endpoint's answer failed: {}",
                self.system,
                super::failure::describe_reqwest(&e)
            ))
        })?;
        if !status.is_success() {
            return Err(self.refused(status, &body, client_id));
        }
        let token: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            ConnectorError::Fatal(format!(
                "system `{}`: the token endpoint's answer is not a token response: {e}",
                self.system
            ))
        })?;
        // Renewed a little before it runs out (a tenth of its life, at most five minutes), so
        // a request never leaves with a token that expires on the way.
        let life = Duration::from_secs(token.expires_in.unwrap_or(3600));
        let margin = (life / 10).min(Duration::from_secs(300));
        Ok(Cached {
            token: Secret::new(token.access_token),
            renew_at: asked + life - margin,
        })
    }

    /// Posts the token request's form.
    async fn post_form(
        &self,
        http: &reqwest::Client,
        token_url: &str,
        form: &[(&str, &str)],
    ) -> Result<reqwest::Response, ConnectorError> {
        // reqwest's own error text names the URL, never the form body.
        http.post(token_url).form(form).send().await.map_err(|e| {
            if e.is_connect() {
                // Without the system's name: the client, which sent nothing, adds it.
                return ConnectorError::Unreachable(format!(
                    "cannot reach the token endpoint: {}",
                    super::failure::explain_connection(&e, token_url, None)
                ));
            }
            ConnectorError::Transient(format!(
                "system `{}`: cannot reach the token endpoint: {}",
                self.system,
                super::failure::describe_reqwest(&e)
            ))
        })
    }

    /// The error for a token endpoint's redirect, which is never followed.
    fn redirected(&self, response: &reqwest::Response) -> ConnectorError {
        let to = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map_or("no Location", super::failure::without_query);
        ConnectorError::Fatal(crate::redact::redact(&format!(
            "system `{}`: the token endpoint answered HTTP {} redirecting to {to}; syncmap does not follow redirects (the client secret would go with it): use the final token URL in the profile",
            self.system,
            response.status().as_u16()
        )))
    }

    /// The error for a token endpoint's refusal: passing when the endpoint is overloaded.
    fn refused(&self, status: reqwest::StatusCode, body: &[u8], client_id: &str) -> ConnectorError {
        let why = serde_json::from_slice::<TokenError>(body)
            .map(|e| match e.error_description {
                Some(d) => format!("{}: {}", e.error, first_line(&d)),
                None => e.error,
            })
            .unwrap_or_else(|_| format!("HTTP {status}"));
        // The description is the endpoint's own text, which may echo the secret.
        let message = crate::redact::redact(&format!(
            "system `{}`: the token endpoint refused the client credentials of `{client_id}` ({why})",
            self.system
        ));
        if status.is_server_error() || status.as_u16() == 429 {
            ConnectorError::Transient(message)
        } else {
            ConnectorError::Fatal(message)
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
