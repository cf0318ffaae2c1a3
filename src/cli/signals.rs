//! Stopping on SIGINT and SIGTERM, shared by the commands that run until stopped (`schedule`,
//! `sandbox`) and by `run`, so each finishes its work in flight the same way.

use syncmap::schedule::Stop;

use super::CliError;

/// The first SIGINT or SIGTERM asks `stop` to stop, logging `stopping` (a run: after the batch in flight); a second
/// one ends the process at once (the state store's durability makes that safe, if slower to
/// resume). The handlers are installed before this returns, so no early signal is lost.
pub fn stop_on_signals(stop: Stop, stopping: &'static str) -> Result<(), CliError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let io = |e: std::io::Error| CliError::Io(format!("cannot listen for signals: {e}"));
        let mut term = signal(SignalKind::terminate()).map_err(io)?;
        let mut int = signal(SignalKind::interrupt()).map_err(io)?;
        tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                if stop.requested() {
                    tracing::warn!(signal = %name, "second signal: stopping now");
                    std::process::exit(130);
                }
                tracing::info!(signal = %name, "{stopping}");
                stop.request();
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if stop.requested() {
                std::process::exit(130);
            }
            tracing::info!("{stopping}");
            stop.request();
        }
    });
    Ok(())
}
