//! Stopping on SIGINT and SIGTERM, shared by the commands that run until stopped (`schedule`,
//! `sandbox`) and by `run`, so each finishes its work in flight the same way.

use syncmap::schedule::Stop;

use super::CliError;

/// SIGINT's number: a run it stops exits 128 + 2 = 130.
pub const SIGINT: i32 = 2;
/// SIGTERM's number: a run it stops exits 128 + 15 = 143.
pub const SIGTERM: i32 = 15;

/// The exit code of a process a signal stopped, as shells report one killed by it.
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(1)
}

/// The first SIGINT or SIGTERM asks `stop` to stop (remembering which signal), logging
/// `stopping`, and tells a person at the terminal `tell` when given; a second one ends the
/// process at once with 128 + its number (the state store's durability makes that safe, if
/// slower to resume). The handlers are installed before this returns, so no early signal is lost.
pub fn stop_on_signals(
    stop: Stop,
    stopping: &'static str,
    tell: Option<&'static str>,
) -> Result<(), CliError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let io = |e: std::io::Error| CliError::Io(format!("cannot listen for signals: {e}"));
        let mut term = signal(SignalKind::terminate()).map_err(io)?;
        let mut int = signal(SignalKind::interrupt()).map_err(io)?;
        tokio::spawn(async move {
            loop {
                let (name, number) = tokio::select! {
                    _ = term.recv() => ("SIGTERM", SIGTERM),
                    _ = int.recv() => ("SIGINT", SIGINT),
                };
                if stop.requested() {
                    tracing::warn!(signal = %name, "second signal: stopping now");
                    std::process::exit(i32::from(exit_code(number)));
                }
                tracing::info!(signal = %name, "{stopping}");
                if let Some(t) = tell {
                    eprintln!("{t}");
                }
                stop.request_by(number);
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if stop.requested() {
                std::process::exit(i32::from(exit_code(SIGINT)));
            }
            tracing::info!("{stopping}");
            if let Some(t) = tell {
                eprintln!("{t}");
            }
            stop.request_by(SIGINT);
        }
    });
    Ok(())
}
