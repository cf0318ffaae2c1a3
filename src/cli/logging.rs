//! Structured logs on standard error, so standard output stays the command's own (a `--json`
//! report stays parseable): lines for people by default, one JSON object per line with
//! `--log-format json`. `SYNCMAP_LOG` filters them (`info`, `syncmap=debug`, …); without it
//! `schedule` logs at `info` (its log is its output) and every other command not at all: it
//! reports in its own output, so a one-off run prints its report and nothing else.

use std::io::IsTerminal;

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
        .with_writer(std::io::stderr);
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
