//! The machine-output flag every reporting command shares: `--format human|json`, with
//! `--json` kept as a short alias, so scripts spell it one way whatever the command.

use clap::{Args, ValueEnum};

/// How a command prints what it reports.
#[derive(Clone, Copy, Debug, Default, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    /// Tables and sentences, for people.
    #[default]
    Human,
    /// One JSON document on standard output.
    Json,
}

/// `--format human|json` (and `--json`).
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct OutputArgs {
    /// How to print the outcome: `human`, or `json` (one document on standard output).
    #[arg(long, value_enum, default_value = "human")]
    format: OutputFormat,
    /// The same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    json: bool,
}

impl OutputArgs {
    /// Whether the command prints JSON.
    pub fn json(&self) -> bool {
        self.json || self.format == OutputFormat::Json
    }
}
