//! Progress of a long run on a terminal: a spinner per pass with the rows read so far, and the
//! wait under way when a service asked to slow down. Off when standard error is not a terminal,
//! so logs and scripts stay clean.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use syncmap::connectors::odata::client::{Stats, WaitCause, Waiting};
use syncmap::runtime::engine::Progress;
use syncmap::runtime::systems::Systems;

/// An indicatif spinner fed by the engine.
pub struct Bar {
    bar: ProgressBar,
    /// For the directions' words (`bc → dv`), as every other output spells them.
    plan: syncmap::plan::Plan,
}

impl Bar {
    /// A spinner on standard error, or `None` when it is not a terminal.
    pub fn on_terminal(plan: &syncmap::plan::Plan, systems: &Systems) -> Option<Bar> {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return None;
        }
        // Hidden until a pass starts: before it there is no table to name and nothing read.
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        let traffic = traffic(plan, systems);
        let style = ProgressStyle::with_template("{spinner} {msg}: {pos} rows read ({rate}){wait}")
            .map(|s| {
                s.with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0} rows/s", state.per_sec());
                    },
                )
                .with_key(
                    "wait",
                    move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                        if let Some(words) = waiting_words(&traffic) {
                            let _ = write!(w, " — {words}");
                        }
                    },
                )
            })
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        Some(Bar {
            bar,
            plan: plan.clone(),
        })
    }
}

impl Progress for Bar {
    fn pass(&self, mapping: &str, direction: &str) {
        self.bar.reset();
        self.bar.set_draw_target(ProgressDrawTarget::stderr());
        self.bar.set_message(format!(
            "{mapping} {}",
            self.plan.direction_words(mapping, direction)
        ));
        self.bar
            .enable_steady_tick(std::time::Duration::from_millis(120));
    }

    fn rows(&self, n: u64) {
        self.bar.inc(n);
    }

    fn pass_done(&self) {
        self.bar.disable_steady_tick();
        self.bar.finish_and_clear();
    }
}

/// Each HTTP system's traffic counters, by the name people call the system.
fn traffic(plan: &syncmap::plan::Plan, systems: &Systems) -> Vec<(String, Arc<Stats>)> {
    systems
        .0
        .iter()
        .filter_map(|(alias, connector)| {
            let kind = plan
                .systems
                .get(alias)
                .map_or(alias.as_str(), |s| s.kind.as_str());
            let name = syncmap::report::kind_name(kind);
            connector.http_stats().map(|stats| (name, stats))
        })
        .collect()
}

/// The longest wait under way, in words: "waiting 4 s: Dataverse asked to slow down (429)".
fn waiting_words(traffic: &[(String, Arc<Stats>)]) -> Option<String> {
    let (name, wait) = traffic
        .iter()
        .filter_map(|(name, stats)| stats.waiting().map(|w| (name, w)))
        .max_by_key(|(_, w)| w.until)?;
    Some(describe_wait(name, wait, std::time::Instant::now()))
}

fn describe_wait(system: &str, wait: Waiting, now: std::time::Instant) -> String {
    let secs = wait
        .until
        .saturating_duration_since(now)
        .as_secs_f64()
        .ceil() as u64;
    let why = match wait.cause {
        WaitCause::Answer(429) => format!("{system} asked to slow down (429)"),
        WaitCause::Answer(status) => format!("{system} is unavailable ({status})"),
        WaitCause::Broken => format!("the connection to {system} broke"),
        WaitCause::Budget => format!("keeping within {system}'s request budget"),
    };
    format!("waiting {secs} s: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_wait_is_told_in_words_with_whole_seconds_left() {
        let now = Instant::now();
        let wait = |secs: f64, cause| Waiting {
            until: now + Duration::from_secs_f64(secs),
            cause,
        };
        assert_eq!(
            describe_wait("Dataverse", wait(3.2, WaitCause::Answer(429)), now),
            "waiting 4 s: Dataverse asked to slow down (429)"
        );
        assert_eq!(
            describe_wait("Business Central", wait(1.0, WaitCause::Answer(503)), now),
            "waiting 1 s: Business Central is unavailable (503)"
        );
        assert_eq!(
            describe_wait("Dataverse", wait(0.5, WaitCause::Broken), now),
            "waiting 1 s: the connection to Dataverse broke"
        );
        assert_eq!(
            describe_wait("Dataverse", wait(2.5, WaitCause::Budget), now),
            "waiting 3 s: keeping within Dataverse's request budget"
        );
    }
}
