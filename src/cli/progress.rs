//! Progress of a long run on a terminal: a spinner per pass with the rows read so far. Off when
//! standard error is not a terminal, so logs and scripts stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use syncmap::runtime::engine::Progress;

/// An indicatif spinner fed by the engine.
pub struct Bar {
    bar: ProgressBar,
    /// For the directions' words (`bc → dv`), as every other output spells them.
    plan: syncmap::plan::Plan,
}

impl Bar {
    /// A spinner on standard error, or `None` when it is not a terminal.
    pub fn on_terminal(plan: &syncmap::plan::Plan) -> Option<Bar> {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return None;
        }
        // Hidden until a pass starts: before it there is no table to name and nothing read.
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template("{spinner} {msg}: {pos} rows read ({rate})")
            .map(|s| {
                s.with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0} rows/s", state.per_sec());
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
