//! Charts of the recent runs, drawn as inline SVG like the diagram (no scripts, nothing
//! fetched): what each run wrote, what it left for a person to look at, and how long it took,
//! the oldest run on the left. Every bar carries its numbers in a `<title>`, which browsers show
//! on hover, and in `data-` attributes, which the tests read.

use std::fmt::Write as _;

use super::escape::html as e;
use super::RunView;
use crate::state::Counts;

/// The drawing area of one chart, in SVG units (the chart scales to the page's width).
const WIDTH: u64 = 720;
const HEIGHT: u64 = 170;
/// Room for the value labels on the left and the run numbers below.
const LEFT: u64 = 64;
const BOTTOM: u64 = 24;
const TOP: u64 = 26;

/// One stacked part of a bar: its class (which picks its colour) and how it is counted.
struct Series {
    name: &'static str,
    count: fn(&Counts) -> u64,
}

/// What a run changed in the destination systems.
const WRITTEN: [Series; 3] = [
    Series {
        name: "inserted",
        count: |c| c.inserted,
    },
    Series {
        name: "modified",
        count: |c| c.modified,
    },
    Series {
        name: "deleted",
        count: |c| c.deleted,
    },
];

/// What a run left for a person: records that failed, conflicted or were skipped.
const ATTENTION: [Series; 3] = [
    Series {
        name: "failed",
        count: |c| c.failed,
    },
    Series {
        name: "conflicts",
        count: |c| c.conflicts,
    },
    Series {
        name: "skipped",
        count: |c| c.skipped,
    },
];

/// The charts of `runs` (latest first, as the report lists them); nothing for no runs.
pub fn section(runs: &[RunView], out: &mut String) {
    if runs.is_empty() {
        return;
    }
    let oldest_first: Vec<&RunView> = runs.iter().rev().collect();
    let totals: Vec<Counts> = oldest_first.iter().map(|r| total(r)).collect();
    out.push_str("<div class=\"charts\">\n");
    stacked(
        "written",
        "Records written per run",
        &WRITTEN,
        &oldest_first,
        &totals,
        out,
    );
    stacked(
        "attention",
        "Records that need a look per run",
        &ATTENTION,
        &oldest_first,
        &totals,
        out,
    );
    durations(&oldest_first, out);
    out.push_str("</div>\n");
}

fn total(r: &RunView) -> Counts {
    let mut t = Counts::default();
    for c in &r.counts {
        t.add(&c.counts);
    }
    t
}

/// A chart of bars, one per run, stacked from `series`.
fn stacked(
    id: &str,
    caption: &str,
    series: &[Series],
    runs: &[&RunView],
    totals: &[Counts],
    out: &mut String,
) {
    let values: Vec<Vec<u64>> = totals
        .iter()
        .map(|t| series.iter().map(|s| (s.count)(t)).collect())
        .collect();
    let top = nice_ceiling(values.iter().map(|v| v.iter().sum()).max().unwrap_or(0));
    open(id, caption, top, &|v| v.to_string(), out);
    let geometry = Bars::new(runs.len());
    for (i, (run, vals)) in runs.iter().zip(&values).enumerate() {
        let said: Vec<String> = series
            .iter()
            .zip(vals)
            .map(|(s, v)| format!("{} {v}", s.name))
            .collect();
        let _ = write!(
            out,
            "<g class=\"bar\" data-run=\"{}\"><title>Run {} · {} · {}</title>",
            run.id,
            run.id,
            e(&run.started),
            said.join(", ")
        );
        let mut base = 0;
        for (s, v) in series.iter().zip(vals) {
            if *v > 0 {
                // Heights from the running sum, so rounding leaves no gap between segments.
                let y = scale(base + v, top);
                let h = y - scale(base, top);
                let _ = write!(
                    out,
                    "<rect class=\"s-{}\" data-value=\"{v}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{h}\"/>",
                    s.name,
                    geometry.x(i),
                    TOP + (plot_height() - y),
                    geometry.width
                );
            }
            base += v;
        }
        out.push_str("</g>");
        run_label(&geometry, i, run.id, runs.len(), out);
    }
    legend(series.iter().map(|s| s.name), out);
    close(caption, out);
}

/// A chart of how long each run took; runs still going (or never ended) have no bar.
fn durations(runs: &[&RunView], out: &mut String) {
    let top = nice_ceiling(runs.iter().filter_map(|r| r.duration_ms).max().unwrap_or(0));
    open(
        "duration",
        "How long each run took",
        top,
        &seconds_label,
        out,
    );
    let geometry = Bars::new(runs.len());
    for (i, run) in runs.iter().enumerate() {
        if let Some(ms) = run.duration_ms {
            let h = scale(ms, top);
            let _ = write!(
                out,
                "<g class=\"bar\" data-run=\"{}\"><title>Run {} · {} · {}</title><rect class=\"s-duration\" data-value=\"{ms}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{h}\"/></g>",
                run.id,
                run.id,
                e(&run.started),
                e(run.duration.as_deref().unwrap_or("")),
                geometry.x(i),
                TOP + (plot_height() - h),
                geometry.width
            );
        }
        run_label(&geometry, i, run.id, runs.len(), out);
    }
    close("How long each run took", out);
}

/// The `<figure>`, the `<svg>` and its two grid lines (the top value and half of it).
fn open(id: &str, caption: &str, top: u64, label: &dyn Fn(u64) -> String, out: &mut String) {
    let _ = write!(
        out,
        "<figure class=\"chart\" id=\"chart-{id}\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        e(caption)
    );
    // Half of an odd top (5, 1) is not a whole number: the line is labelled exactly.
    let half = if !top.is_multiple_of(2) && top < 1_000 {
        format!("{}.5", top / 2)
    } else {
        label(top / 2)
    };
    for (text, y) in [(label(top), TOP), (half, TOP + plot_height() / 2)] {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{y}\" x2=\"{WIDTH}\" y2=\"{y}\"/><text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LEFT - 6,
            y + 5,
            e(&text)
        );
    }
    let base = TOP + plot_height();
    let _ = write!(
        out,
        "<line class=\"base\" x1=\"{LEFT}\" y1=\"{base}\" x2=\"{WIDTH}\" y2=\"{base}\"/>"
    );
}

fn close(caption: &str, out: &mut String) {
    let _ = writeln!(
        out,
        "</svg><figcaption>{}</figcaption></figure>",
        e(caption)
    );
}

/// The run's number under its bar; with many runs only every few, so they do not overlap.
fn run_label(geometry: &Bars, i: usize, id: i64, n: usize, out: &mut String) {
    let every = n.div_ceil(24).max(1);
    if !i.is_multiple_of(every) && i + 1 != n {
        return;
    }
    let _ = write!(
        out,
        "<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{id}</text>",
        geometry.x(i) + geometry.width / 2,
        HEIGHT - 6
    );
}

/// A legend in the top right corner: a swatch and a name per series.
fn legend<'n>(names: impl Iterator<Item = &'n str>, out: &mut String) {
    let names: Vec<&str> = names.collect();
    let mut x = WIDTH - 100 * names.len() as u64;
    for name in names {
        let _ = write!(
            out,
            "<rect class=\"s-{name}\" x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\"/><text class=\"axis\" x=\"{}\" y=\"{}\">{name}</text>",
            TOP - 20,
            x + 14,
            TOP - 10
        );
        x += 100;
    }
}

/// Where the bars go: `n` evenly spaced slots across the plot.
struct Bars {
    slot: u64,
    width: u64,
}

impl Bars {
    fn new(n: usize) -> Bars {
        let slot = (WIDTH - LEFT) / (n.max(1) as u64);
        Bars {
            slot,
            width: (slot * 7 / 10).clamp(1, 40),
        }
    }

    fn x(&self, i: usize) -> u64 {
        LEFT + self.slot * i as u64 + (self.slot - self.width) / 2
    }
}

fn plot_height() -> u64 {
    HEIGHT - TOP - BOTTOM
}

/// The height of `value` on a plot whose top is `top`.
fn scale(value: u64, top: u64) -> u64 {
    (value.min(top) * plot_height())
        .checked_div(top)
        .unwrap_or(0)
}

/// The smallest 1, 2 or 5 times a power of ten at least `n` (at least 1), so the grid lines
/// fall on round numbers.
fn nice_ceiling(n: u64) -> u64 {
    let mut power = 1u64;
    loop {
        for step in [1, 2, 5] {
            match power.checked_mul(step) {
                Some(candidate) if candidate >= n.max(1) => return candidate,
                Some(_) => {}
                None => return n,
            }
        }
        match power.checked_mul(10) {
            Some(p) => power = p,
            None => return n,
        }
    }
}

/// An axis label for milliseconds: `500 ms`, `20 s`, `5 min`.
fn seconds_label(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=119_999 => format!("{} s", ms / 1000),
        _ => format!("{} min", ms / 60_000),
    }
}

#[cfg(test)]
mod tests {
    use super::super::CountsView;
    use super::*;

    fn run(id: i64, duration_ms: Option<u64>, counts: &[Counts]) -> RunView {
        RunView {
            id,
            started: format!("2026-12-0{id} 10:00:00 UTC"),
            duration: duration_ms.map(|ms| format!("{ms} ms")),
            duration_ms,
            mode: "full".into(),
            trigger: "manual".into(),
            status: "succeeded".into(),
            dry_run: false,
            message: None,
            counts: counts
                .iter()
                .map(|c| CountsView {
                    mapping: "customers".into(),
                    direction: "bc → dv".into(),
                    counts: c.clone(),
                })
                .collect(),
            errors: Vec::new(),
            events: Vec::new(),
            left_out: 0,
        }
    }

    /// `(run, class, value)` of every bar segment of one chart, in drawing order.
    fn segments(html: &str, chart: &str) -> Vec<(i64, String, u64)> {
        let start = html.find(&format!("id=\"chart-{chart}\"")).unwrap();
        let end = start + html[start..].find("</figure>").unwrap();
        let mut out = Vec::new();
        let mut run = 0;
        for piece in html[start..end].split('<') {
            let attr = |name: &str| {
                let at = piece.find(&format!("{name}=\""))? + name.len() + 2;
                Some(piece[at..at + piece[at..].find('"')?].to_string())
            };
            if piece.starts_with("g class=\"bar\"") {
                run = attr("data-run").unwrap().parse().unwrap();
            } else if let (true, Some(value)) = (piece.starts_with("rect"), attr("data-value")) {
                out.push((run, attr("class").unwrap(), value.parse().unwrap()));
            }
        }
        out
    }

    #[test]
    fn each_run_is_a_bar_of_its_totals_oldest_first() {
        let c = |inserted, modified, failed, skipped| Counts {
            inserted,
            modified,
            failed,
            skipped,
            ..Counts::default()
        };
        // Latest first, as the report lists them; two directions in run 3.
        let runs = [
            run(3, Some(2_500), &[c(0, 4, 1, 0), c(1, 0, 0, 2)]),
            run(2, None, &[c(0, 0, 0, 0)]),
            run(1, Some(40_000), &[c(120, 0, 3, 0)]),
        ];
        let mut html = String::new();
        section(&runs, &mut html);
        assert_eq!(
            segments(&html, "written"),
            [
                (1, "s-inserted".into(), 120),
                (3, "s-inserted".into(), 1),
                (3, "s-modified".into(), 4)
            ]
        );
        assert_eq!(
            segments(&html, "attention"),
            [
                (1, "s-failed".into(), 3),
                (3, "s-failed".into(), 1),
                (3, "s-skipped".into(), 2)
            ]
        );
        // A run that has not ended has no duration bar.
        assert_eq!(
            segments(&html, "duration"),
            [
                (1, "s-duration".into(), 40_000),
                (3, "s-duration".into(), 2_500)
            ]
        );
        assert!(html.contains(
            "<title>Run 3 · 2026-12-03 10:00:00 UTC · inserted 1, modified 4, deleted 0</title>"
        ));
        // The tallest bar reaches the top grid line, which is a round number above it.
        assert!(html.contains(">200</text>"), "{html}");
        let mut none = String::new();
        section(&[], &mut none);
        assert_eq!(none, "");
    }

    #[test]
    fn grid_lines_fall_on_round_numbers() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(101), 200);
        assert_eq!(nice_ceiling(100_000), 100_000);
        assert_eq!(nice_ceiling(u64::MAX), u64::MAX);
    }

    #[test]
    fn bars_are_as_tall_as_their_share_of_the_top() {
        assert_eq!(scale(0, 10), 0);
        assert_eq!(scale(10, 10), plot_height());
        assert_eq!(scale(5, 10), plot_height() / 2);
        assert_eq!(scale(3, 0), 0);
        let many = Bars::new(500);
        assert!(many.width >= 1 && many.x(499) + many.width <= WIDTH);
        let one = Bars::new(1);
        assert_eq!(one.width, 40);
    }

    #[test]
    fn durations_are_labelled_as_people_read_them() {
        assert_eq!(seconds_label(500), "500 ms");
        assert_eq!(seconds_label(20_000), "20 s");
        assert_eq!(seconds_label(300_000), "5 min");
    }
}
