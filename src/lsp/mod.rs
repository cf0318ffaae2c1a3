//! `syncmap lsp`: a language server for `.map` files over standard input and output.
//!
//! It shows the diagnostics `syncmap check` gives as you type (across the whole project of the
//! opened file's folder, imports and schema snapshots included), completes systems, tables,
//! columns, functions, value maps, table mappings and keywords, explains names and diagnostic
//! codes on hover, jumps to definitions, formats through the formatter and outlines files.
//!
//! [`server::Server`] holds the state and answers one message at a time; [`run`] feeds it from a
//! connection. The compiler is reused as is: a workspace reads open buffers through a
//! [`crate::project::Loader`], and keeps parses and schema snapshots that did not change.

mod actions;
mod completion;
mod context;
pub mod convert;
mod definition;
pub mod documents;
mod hover;
mod references;
mod semantic;
pub mod server;
mod symbols;
mod tokens;
pub mod workspace;

use lsp_server::{Connection, Message};
use lsp_types::InitializeParams;

pub use server::Server;

/// Why the server stopped other than by `shutdown` and `exit`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client broke the protocol or went away.
    #[error("{0}")]
    Protocol(#[from] lsp_server::ProtocolError),
    /// A message could not be read or written.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// Standard input or output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The connection closed before `exit`.
    #[error("the client closed the connection")]
    Disconnected,
}

/// Serves one client over standard input and output until it sends `exit`. Returns whether
/// `shutdown` came first, as the protocol's exit code wants (0 if it did, 1 otherwise).
pub fn run_stdio() -> Result<bool, Error> {
    let (connection, io_threads) = Connection::stdio();
    let clean = run(&connection)?;
    drop(connection);
    io_threads.join()?;
    Ok(clean)
}

/// Serves one client over a connection until it sends `exit`. Returns whether `shutdown` came
/// first.
pub fn run(connection: &Connection) -> Result<bool, Error> {
    let (id, params) = connection.initialize_start()?;
    let params: InitializeParams = serde_json::from_value(params)?;
    let mut server = Server::new(&params);
    connection.initialize_finish(id, serde_json::to_value(server.initialize_result())?)?;
    server.initialized();
    send(connection, &mut server)?;
    loop {
        let msg = if server.is_dirty() {
            // Check only once the client has nothing more to say: a burst of keystrokes is
            // checked once, after the last.
            match connection.receiver.try_recv() {
                Ok(msg) => msg,
                Err(e) if e.is_empty() => {
                    server.flush();
                    send(connection, &mut server)?;
                    continue;
                }
                Err(_) => return Err(Error::Disconnected),
            }
        } else {
            connection
                .receiver
                .recv()
                .map_err(|_| Error::Disconnected)?
        };
        if let Message::Notification(n) = &msg {
            if n.method == "exit" {
                return Ok(server.is_shut_down());
            }
        }
        server.handle(msg);
        send(connection, &mut server)?;
    }
}

fn send(connection: &Connection, server: &mut Server) -> Result<(), Error> {
    for msg in server.take_messages() {
        connection
            .sender
            .send(msg)
            .map_err(|_| Error::Disconnected)?;
    }
    Ok(())
}
