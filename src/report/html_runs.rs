//! The "Recent runs" section of the page: a summary line per run, then each run's counts per
//! table mapping and direction, its record errors and what it decided.

use std::fmt::Write as _;

use super::escape::html as e;
use super::{CountsView, RecordView, RunView};
use crate::state::Counts;

/// The columns of a counts table, in the order `syncmap log` prints them.
const COLUMNS: [&str; 9] = [
    "inserted",
    "modified",
    "unchanged",
    "skipped",
    "failed",
    "conflicts",
    "deleted",
    "coupled",
    "uncoupled",
];

fn values(c: &Counts) -> [u64; 9] {
    [
        c.inserted,
        c.modified,
        c.unchanged,
        c.skipped,
        c.failed,
        c.conflicts,
        c.deleted,
        c.coupled,
        c.uncoupled,
    ]
}

/// The counts of the runs summary, where a table as wide as the page must fit: what changed and
/// what needs a look.
const SUMMARY: [usize; 6] = [0, 1, 2, 3, 4, 5];

/// The section; `None` when no state store was read.
pub fn section(runs: Option<&[RunView]>, out: &mut String) {
    out.push_str("<section id=\"runs\">\n<h2>Recent runs</h2>\n");
    let runs = match runs {
        None => {
            out.push_str("<p class=\"muted\">No state store was read (no profile), so this report shows the mappings only. Give <code>--profile syncmap.toml</code> to add the runs.</p>\n</section>\n");
            return;
        }
        Some([]) => {
            out.push_str("<p class=\"muted\">The state store holds no runs yet.</p>\n</section>\n");
            return;
        }
        Some(runs) => runs,
    };
    out.push_str("<table class=\"runs\">\n<thead><tr><th class=\"num\">run</th><th>started</th><th>mode</th><th>trigger</th><th>status</th><th class=\"num\">duration</th>");
    for i in SUMMARY {
        let _ = write!(out, "<th class=\"num\">{}</th>", COLUMNS[i]);
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for r in runs {
        let mut total = Counts::default();
        for c in &r.counts {
            total.add(&c.counts);
        }
        let _ = write!(
            out,
            "<tr><td class=\"num\"><a href=\"#run-{id}\">{id}</a></td><td class=\"when\">{started}</td><td>{mode}</td><td>{trigger}</td><td>{status}</td><td class=\"num duration\">{duration}</td>",
            id = r.id,
            started = e(&r.started),
            mode = e(&mode(r)),
            trigger = e(&r.trigger),
            status = status(&r.status),
            duration = e(r.duration.as_deref().unwrap_or("")),
        );
        let all = values(&total);
        number_cells(&SUMMARY.map(|i| all[i]), out);
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    super::charts::section(runs, out);
    for r in runs {
        run(r, out);
    }
    out.push_str("</section>\n");
}

fn mode(r: &RunView) -> String {
    let mode = match r.mode.as_str() {
        "modified" => "modified only",
        other => other,
    };
    if r.dry_run {
        format!("{mode} (dry run)")
    } else {
        mode.to_string()
    }
}

fn status(s: &str) -> String {
    format!(
        "<span class=\"tag status-{}\">{}</span>",
        e(&s.replace(|c: char| !c.is_ascii_alphanumeric(), "-")),
        e(&crate::runtime::engine::status_words(s))
    )
}

fn number_cells(values: &[u64], out: &mut String) {
    for &v in values {
        let class = if v == 0 { "num zero" } else { "num" };
        let _ = write!(out, "<td class=\"{class}\">{v}</td>");
    }
}

fn run(r: &RunView, out: &mut String) {
    let _ = write!(
        out,
        "<article class=\"run\" id=\"run-{id}\">\n<h3>Run {id} {status}<span class=\"when\">{started}{duration} · {mode} · {trigger}</span></h3>\n",
        id = r.id,
        status = status(&r.status),
        started = e(&r.started),
        duration = r
            .duration
            .as_deref()
            .map(|d| format!(", took <span class=\"duration\">{}</span>", e(d)))
            .unwrap_or_default(),
        mode = e(&mode(r)),
        trigger = e(&r.trigger),
    );
    if let Some(m) = &r.message {
        let _ = writeln!(out, "<p><strong>Message:</strong> {}</p>", e(m));
    }
    counts(&r.counts, out);
    records("Record errors", &r.errors, out);
    records(
        "Decisions (conflicts, deletions, couplings)",
        &r.events,
        out,
    );
    if r.left_out > 0 {
        let _ = writeln!(
            out,
            "<p class=\"muted\">More records were left out; <code>syncmap log --run {}</code> lists them all.</p>",
            r.id
        );
    }
    out.push_str("</article>\n");
}

fn counts(rows: &[CountsView], out: &mut String) {
    if rows.is_empty() {
        out.push_str("<p class=\"muted\">No table mapping was synced.</p>\n");
        return;
    }
    out.push_str("<table class=\"counts\">\n<thead><tr><th>table mapping</th><th>direction</th>");
    for c in COLUMNS {
        let _ = write!(out, "<th class=\"num\">{c}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for c in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td>",
            e(&c.mapping),
            e(&c.direction)
        );
        number_cells(&values(&c.counts), out);
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

fn records(title: &str, rows: &[RecordView], out: &mut String) {
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<h4>{}</h4>\n<table class=\"records\">\n<thead><tr><th>table mapping</th><th>direction</th><th>what</th><th>record</th><th>partner</th><th>details</th></tr></thead>\n<tbody>\n",
        e(title)
    );
    for r in rows {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td><span class=\"tag kind-{}\">{}</span></td><td>{}<code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
            e(&r.mapping),
            e(&r.direction),
            e(&r.kind.replace(|c: char| !c.is_ascii_alphanumeric(), "-")),
            e(&r.kind),
            r.label
                .as_deref()
                .map(|l| format!("{}<br>", e(l)))
                .unwrap_or_default(),
            e(&r.source_key),
            e(r.dest_key.as_deref().unwrap_or("")),
            e(&r.message),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}
