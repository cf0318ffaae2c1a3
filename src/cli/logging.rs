//! Structured logs on standard error, so standard output stays the command's own (a `--json`
//! report stays parseable): lines for people by default, one JSON object per line with
//! `--log-format json`. `SYNCMAP_LOG` filters them (`info`, `syncmap=debug`, …); without it
//! `schedule` logs at `info` (its log is its output) and every other command not at all: it
//! reports in its own output, so a one-off run prints its report and nothing else.

use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// The variable holding the log filter.
pub const FILTER_ENV: &str = "SYNCMAP_LOG";

/// How log lines look.
#[derive(Clone, Copy, Debug, Default, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// One line per event, for people.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global subscriber; `default_level` applies when `SYNCMAP_LOG` is unset.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = match std::env::var(FILTER_ENV) {
        Ok(spec) if !spec.trim().is_empty() => {
            EnvFilter::try_new(spec.trim()).unwrap_or_else(|e| {
                eprintln!("warning: {FILTER_ENV}: {e}; logging at {default_level}");
                EnvFilter::new(default_level)
            })
        }
        _ => EnvFilter::new(default_level),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Redacting(Vec::new()));
    // A second installation (never in the binary) is not worth failing a command over.
    let _ = match format {
        LogFormat::Human => builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

/// Standard error for one log line, redacted as a whole when the line is done: a service's
/// message in a field may echo a secret, and a line is the unit the rules can see whole.
struct Redacting(Vec<u8>);

impl Write for Redacting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let line = syncmap::redact::redact(&String::from_utf8_lossy(&self.0));
        self.0.clear();
        std::io::stderr().lock().write_all(line.as_bytes())
    }
}

impl Drop for Redacting {
    fn drop(&mut self) {
        // Nowhere to report a failed write of a log line.
        let _ = self.flush();
    }
}
