//! TLS to a PostgreSQL server, over rustls (the TLS library the HTTP connectors use).
//!
//! A URL asks for it as libpq's do: `sslmode=require` or `sslmode=verify-full`. Both verify
//! the server's certificate and its host name, stricter than libpq's `require` (which only
//! encrypts): against the public roots, or against the certificate authority `sslrootcert`
//! names. Without `sslmode`, or with `disable` or `prefer`, the connection is not encrypted.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use super::super::StateError;

/// How a URL asks to connect.
#[derive(Clone)]
pub(super) enum Tls {
    /// In the clear.
    Off,
    /// Encrypted, the server's certificate verified with this configuration.
    Verified(Arc<rustls::ClientConfig>),
}

/// The URL tokio-postgres parses (without the options it does not know) and how to connect.
pub(super) fn options(url: &str) -> Result<(String, Tls), StateError> {
    let (mut url, mode, root) = split(url);
    let tls = match mode.as_deref() {
        None | Some("disable" | "prefer") if root.is_some() => {
            return Err(StateError::Db(
                "the state store's URL names an sslrootcert but does not ask for TLS: add \
                 `sslmode=verify-full`"
                    .into(),
            ))
        }
        None | Some("disable" | "prefer") => Tls::Off,
        Some("require" | "verify-full") => Tls::Verified(Arc::new(client_config(root)?)),
        Some(other) => {
            return Err(StateError::Db(format!(
                "the state store's URL asks `sslmode={other}`: use `sslmode=verify-full` (or \
                 `require`, which verifies the server's certificate too), with `sslrootcert=PATH` \
                 for a private certificate authority"
            )))
        }
    };
    // tokio-postgres speaks TLS only when asked; the mode it needs is `require`.
    if matches!(tls, Tls::Verified(_)) {
        let has_query = crate::redact::split_query(&url).is_some();
        url.push(if has_query { '&' } else { '?' });
        url.push_str("sslmode=require");
    }
    Ok((url, tls))
}

/// A URL without its TLS options, for tokio-postgres (which knows `sslmode=require` only) and
/// for messages.
pub(in crate::state) fn without_tls_options(url: &str) -> String {
    split(url).0
}

/// The URL without `sslmode` and `sslrootcert`, and their values.
fn split(url: &str) -> (String, Option<String>, Option<String>) {
    let Some((base, query)) = crate::redact::split_query(url) else {
        return (url.to_string(), None, None);
    };
    let (mut kept, mut mode, mut root) = (Vec::new(), None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", m)) => mode = Some(m.to_string()),
            Some(("sslrootcert", path)) => root = Some(decoded(path)),
            _ => kept.push(pair),
        }
    }
    let url = match kept.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", kept.join("&")),
    };
    (url, mode, root)
}

fn decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Verifies against the certificates in `root` (PEM), or the public roots without one.
fn client_config(root: Option<String>) -> Result<rustls::ClientConfig, StateError> {
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(path) => {
            let pem = std::fs::read(&path).map_err(|e| {
                StateError::Db(format!(
                    "cannot read the state store's sslrootcert {path}: {e}"
                ))
            })?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| {
                    StateError::Db(format!("the sslrootcert {path} is not PEM: {e}"))
                })?;
                roots.add(cert).map_err(|e| {
                    StateError::Db(format!("the sslrootcert {path} cannot be used: {e}"))
                })?;
            }
            if roots.is_empty() {
                return Err(StateError::Db(format!(
                    "the sslrootcert {path} holds no certificate"
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StateError::Db(format!("cannot set up TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Makes the TLS session of each connection.
#[derive(Clone)]
pub(super) struct MakeRustls(pub(super) Arc<rustls::ClientConfig>);

/// The TLS session of one connection to `name`.
pub(super) struct Rustls {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type TlsConnect = Rustls;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Rustls, io::Error> {
        let name = ServerName::try_from(domain.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Rustls {
            config: self.0.clone(),
            name,
        })
    }
}

impl<S> TlsConnect<S> for Rustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move { Ok(Stream(connector.connect(self.name, stream).await?)) })
    }
}

/// A connection inside its TLS session.
pub(super) struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> tokio_postgres::tls::TlsStream for Stream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> ChannelBinding {
        // None: the client logs in with SCRAM without binding it to the session, which the
        // server accepts. The server's certificate is verified, which is what binding would
        // otherwise guard; a URL asking `channel_binding=require` is refused by the client.
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_are_taken_out_of_the_url_and_the_rest_kept() {
        let (url, tls) = options("postgres://u:p@h/db?connect_timeout=5").unwrap();
        assert_eq!(url, "postgres://u:p@h/db?connect_timeout=5");
        assert!(matches!(tls, Tls::Off));
        let (url, tls) =
            options("postgres://u:p@h/db?sslmode=verify-full&&connect_timeout=5&").unwrap();
        assert_eq!(url, "postgres://u:p@h/db?connect_timeout=5&sslmode=require");
        assert!(matches!(tls, Tls::Verified(_)));
        // A `?` in the password is the password's, not the start of the query.
        let (url, tls) = options("postgres://u:p?x@h/db?sslmode=require").unwrap();
        assert_eq!(url, "postgres://u:p?x@h/db?sslmode=require");
        assert!(matches!(tls, Tls::Verified(_)));
    }

    #[test]
    fn a_url_that_cannot_be_kept_to_its_word_is_refused() {
        for url in [
            "postgres://h/db?sslrootcert=/ca.pem",
            "postgres://h/db?sslmode=prefer&sslrootcert=/ca.pem",
            "postgres://h/db?sslmode=verify-ca",
            "postgres://h/db?sslmode=verify-full&sslrootcert=/no/such/ca.pem",
        ] {
            assert!(options(url).is_err(), "{url}");
        }
    }
}
