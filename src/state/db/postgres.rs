//! A store's connection to PostgreSQL.
//!
//! The store is synchronous (its callers run it between awaits, as they run SQLite), so the
//! connection's socket is driven by a thread of its own (`pg-io`, with a small runtime of its
//! own), and the calling thread waits for each answer by parking: no runtime is ever started
//! inside another, whichever runtime (if any) the caller runs on.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::BytesMut;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, Socket, Statement};

use super::tls::{MakeRustls, Tls};
use super::{numbered_placeholders, Arg, Reuse, Row, Val};
use crate::state::{StateError, RELAXED_FOR_BENCHMARKS};

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// How long connecting may take, unless the URL says (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Statements kept prepared, at most; the cache starts over past it.
const KEPT_STATEMENTS: usize = 256;

pub(in crate::state) struct Postgres {
    client: RefCell<Client>,
    config: tokio_postgres::Config,
    tls: Tls,
    read_only: bool,
    /// Whether a connection the server closed is made again before the next statement outside
    /// a transaction (not for a lease's session, whose lock went with it).
    reconnects: bool,
    /// Prepared statements by the SQL they were written in.
    statements: RefCell<HashMap<String, Statement>>,
    in_tx: Cell<bool>,
    /// A statement of the open transaction failed: PostgreSQL has undone it, and its `COMMIT`
    /// would only say `ROLLBACK`.
    aborted: Cell<bool>,
    /// A statement failed because the connection ended; the client may not have seen the
    /// socket close yet, so this, not only `is_closed`, calls for a new connection.
    ended: Cell<bool>,
}

/// The name every session of this process gives the server (`application_name`), so another
/// process taking over a lease from this one, frozen, can end all of them: a frozen session
/// inside a transaction holds the rows it locked.
pub(in crate::state) fn session_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        format!(
            "syncmap-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        )
    })
}

fn db_error(e: impl std::fmt::Display) -> StateError {
    // A server's message may quote what it was sent; the registered secrets stop here.
    StateError::Db(crate::redact::redact(&e.to_string()))
}

/// What the client says went wrong, with the server's own message where it sent one (the
/// client's says only "db error").
fn client_error(e: tokio_postgres::Error) -> StateError {
    match e.as_db_error() {
        Some(db) => db_error(db),
        None => match std::error::Error::source(&e) {
            Some(cause) => db_error(format!("{e}: {cause}")),
            None => db_error(e),
        },
    }
}

impl Postgres {
    /// Connects to the database a `postgres://` URL names (its password is never shown).
    pub(super) fn connect(
        url: &str,
        read_only: bool,
        reconnects: bool,
    ) -> Result<Postgres, StateError> {
        let (url, tls) = super::tls::options(url)?;
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StateError::Db(format!(
                "the state store's URL is not a PostgreSQL URL: {}",
                crate::redact::redact(&format!("{e}"))
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A server gone from the network is noticed in a minute, not in two hours.
        config.keepalives_idle(Duration::from_secs(30));
        config.tcp_user_timeout(Duration::from_secs(60));
        config.application_name(session_tag());
        let client = spawn_connection(config.clone(), tls.clone())?;
        let db = Postgres {
            client: RefCell::new(client),
            config,
            tls,
            read_only,
            reconnects,
            statements: RefCell::default(),
            in_tx: Cell::new(false),
            aborted: Cell::new(false),
            ended: Cell::new(false),
        };
        db.execute_script(&session_settings(read_only))?;
        Ok(db)
    }

    /// The client, connected again first when the server closed its connection (a restart, a
    /// failover) and no transaction was open: what was under way failed, what comes next runs.
    fn client(&self) -> Result<std::cell::Ref<'_, Client>, StateError> {
        let ended = self.ended.get() || self.client.borrow().is_closed();
        if self.reconnects && !self.in_tx.get() && ended {
            tracing::warn!("the state store's connection ended; connecting again");
            let client = spawn_connection(self.config.clone(), self.tls.clone())?;
            *self.client.borrow_mut() = client;
            self.ended.set(false);
            self.statements.borrow_mut().clear();
            let settings = session_settings(self.read_only);
            let fresh = self.client.borrow();
            self.watch(wait(fresh.batch_execute(&settings)))?;
        }
        Ok(self.client.borrow())
    }

    /// The statement prepared on `client`, which must be the current one: the cache is emptied
    /// whenever the store connects again, so a kept statement never outlives its session.
    fn statement(&self, client: &Client, sql: &str) -> Result<Statement, StateError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let prepared = self.watch(wait(client.prepare(&numbered_placeholders(sql))))?;
        let mut kept = self.statements.borrow_mut();
        if kept.len() >= KEPT_STATEMENTS {
            kept.clear();
        }
        kept.insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }

    /// Notes a failed statement inside a transaction (see `aborted`) and one that failed
    /// because the connection ended (see `ended`).
    fn watch<T>(&self, r: Result<T, tokio_postgres::Error>) -> Result<T, StateError> {
        r.map_err(|e| {
            if self.in_tx.get() {
                self.aborted.set(true);
            }
            self.note_ended(&e);
            client_error(e)
        })
    }

    fn note_ended(&self, e: &tokio_postgres::Error) {
        // A FATAL error is the server ending the session (`pg_terminate_backend`, a shutdown).
        let fatal = e
            .as_db_error()
            .is_some_and(|db| matches!(db.severity(), "FATAL" | "PANIC"));
        let io = std::error::Error::source(e).is_some_and(|c| c.is::<std::io::Error>());
        if e.is_closed() || fatal || io {
            self.ended.set(true);
        }
    }

    pub(super) fn execute(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        reuse: Reuse,
    ) -> Result<usize, StateError> {
        let params = params(args);
        let n = match reuse {
            Reuse::Kept => {
                let client = self.client()?;
                let stmt = self.statement(&client, sql)?;
                self.watch(wait(client.execute(&stmt, &params)))?
            }
            Reuse::Once => {
                let sql = numbered_placeholders(sql);
                self.watch(wait(self.client()?.execute(sql.as_str(), &params)))?
            }
        };
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) fn query(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        reuse: Reuse,
    ) -> Result<Vec<Row>, StateError> {
        let params = params(args);
        let rows = match reuse {
            Reuse::Kept => {
                let client = self.client()?;
                let stmt = self.statement(&client, sql)?;
                self.watch(wait(client.query(&stmt, &params)))?
            }
            Reuse::Once => {
                let sql = numbered_placeholders(sql);
                self.watch(wait(self.client()?.query(sql.as_str(), &params)))?
            }
        };
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<_, Val>(i).map_err(client_error))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row)
            })
            .collect()
    }

    pub(super) fn execute_script(&self, sql: &str) -> Result<(), StateError> {
        self.watch(wait(self.client()?.batch_execute(sql)))
    }

    /// Runs `BEGIN`, `COMMIT` or `ROLLBACK`; `open` is whether a transaction is open after it.
    pub(super) fn set_transaction(&self, sql: &str, open: bool) -> Result<(), StateError> {
        if sql == "BEGIN" && self.in_tx.get() {
            // PostgreSQL would only warn, and the inner commit would end the outer transaction.
            return Err(StateError::Db("a transaction is already open".into()));
        }
        if sql == "COMMIT" && self.aborted.get() {
            let _ = self.set_transaction("ROLLBACK", false);
            return Err(StateError::Db(
                "a statement of this transaction failed; nothing of it was committed".into(),
            ));
        }
        let r = self.client().and_then(|c| {
            wait(c.batch_execute(sql)).map_err(|e| {
                self.note_ended(&e);
                client_error(e)
            })
        });
        // However it went, a transaction ended by COMMIT or ROLLBACK is over (a failed COMMIT
        // rolls back).
        if r.is_ok() || !open {
            self.in_tx.set(open);
            self.aborted.set(false);
        }
        r
    }

    pub(super) fn in_transaction(&self) -> bool {
        self.in_tx.get()
    }

    /// Whether the connection to the server has ended, or a statement learnt that it is
    /// ending (a FATAL error such as `pg_terminate_backend`'s arrives before the client has
    /// seen the connection close).
    pub(super) fn is_closed(&self) -> bool {
        self.ended.get() || self.client.borrow().is_closed()
    }
}

/// What every session of the store sets: bounds, so a stuck statement or an abandoned
/// transaction cannot hold the store's rows for ever, and durability.
fn session_settings(read_only: bool) -> String {
    let mut sql = String::from(
        "SET statement_timeout = '5min'; SET lock_timeout = '30s'; \
         SET idle_in_transaction_session_timeout = '5min'; SET client_min_messages = warning;",
    );
    // Commits are on disk when they return, as with SQLite, unless the benchmark that measures
    // what that costs says otherwise.
    if std::env::var_os(RELAXED_FOR_BENCHMARKS).is_some() {
        sql.push_str(" SET synchronous_commit = off;");
    }
    if read_only {
        sql.push_str(" SET default_transaction_read_only = on;");
    }
    sql
}

/// Connects on a thread of its own, which then drives the connection until the client is
/// dropped; the client comes back to the caller.
fn spawn_connection(config: tokio_postgres::Config, tls: Tls) -> Result<Client, StateError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("pg-io".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(db_error(e)));
                    return;
                }
            };
            runtime.block_on(async move {
                match tls {
                    Tls::Off => drive(&config, NoTls, tx).await,
                    Tls::Verified(c) => drive(&config, MakeRustls(c), tx).await,
                }
            });
        })
        .map_err(|e| StateError::Io(format!("cannot start the state store's connection: {e}")))?;
    rx.recv()
        .map_err(|_| StateError::Db("the state store's connection ended while connecting".into()))?
}

/// Connects, hands the client over `tx`, and drives the connection until it ends.
async fn drive<T>(
    config: &tokio_postgres::Config,
    tls: T,
    tx: std::sync::mpsc::Sender<Result<Client, StateError>>,
) where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    // The connect timeout covers the TCP connection only: a server that stalls the TLS
    // handshake or the start-up must not hold the store (or a lease's heartbeat) for ever.
    let limit = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(CONNECT_TIMEOUT)
        * 3;
    let connected = match tokio::time::timeout(limit, config.connect(tls)).await {
        Ok(connected) => connected,
        Err(_) => {
            let why = format!(
                "the server did not finish the start-up in {} s",
                limit.as_secs()
            );
            let _ = tx.send(Err(StateError::Db(format!(
                "cannot connect to the state store: {why}"
            ))));
            return;
        }
    };
    match connected {
        Ok((client, connection)) => {
            let _ = tx.send(Ok(client));
            if let Err(e) = connection.await {
                tracing::warn!(error = %crate::redact::redact(&e.to_string()), "state store connection ended");
            }
        }
        Err(e) => {
            let _ = tx.send(Err(match client_error(e) {
                StateError::Db(why) => {
                    let hint = match why.contains("UnknownIssuer") {
                        true => "; a server whose certificate comes from a private authority needs it named: `sslrootcert=PATH` in the URL",
                        false => "",
                    };
                    StateError::Db(format!("cannot connect to the state store: {why}{hint}"))
                }
                other => other,
            }));
        }
    }
}

fn params<'a>(args: &'a [Arg<'_>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

/// Wakes the waiting thread.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future of the client to its end on this thread, parking while it waits: the
/// client's futures only exchange messages with the `pg-io` thread.
fn wait<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

impl ToSql for Arg<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => Err(format!("an integer cannot be bound to a {ty} parameter").into()),
            },
            Arg::Text(s) if s.contains('\0') => {
                Err("text holding a NUL character (U+0000) cannot be kept in PostgreSQL".into())
            }
            Arg::Text(s) if <&str as ToSql>::accepts(ty) => s.as_ref().to_sql(ty, out),
            Arg::Blob(b) if *ty == Type::BYTEA => b.as_ref().to_sql(ty, out),
            Arg::Text(_) | Arg::Blob(_) => {
                Err(format!("this value cannot be bound to a {ty} parameter").into())
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Val {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT8 => Val::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Val::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Val::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Val::Int(bool::from_sql(ty, raw)?.into()),
            Type::BYTEA => Val::Blob(<Vec<u8>>::from_sql(ty, raw)?),
            _ if <String as FromSql>::accepts(ty) => Val::Text(String::from_sql(ty, raw)?),
            _ => return Err(format!("the state store does not read {ty} values").into()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Val::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
