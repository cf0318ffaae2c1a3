//! The report page: one HTML document with its style and diagram inline, no scripts and nothing
//! fetched, so it can be mailed, attached to a ticket or opened offline.

use std::fmt::Write as _;

use super::escape::html as e;
use super::{arrow, diagram, html_runs, FieldLine, Report, SideView, TableView};

const STYLE: &str = include_str!("style.css");

/// The whole page.
pub fn page(r: &Report) -> String {
    let mut out = String::new();
    let systems: Vec<String> = r
        .systems
        .iter()
        .map(|s| format!("{} (<code>{}</code>)", e(&s.kind), e(&s.alias)))
        .collect();
    let _ = write!(
        out,
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="syncmap">
<title>syncmap report</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<header>
<h1>Synchronization report</h1>
<p class="meta">Generated <span id="generated">{generated}</span> · plan <code>{digest}</code> · compiled by {compiler} from {sources}</p>
<p>{n} table mapping{s} between {systems}.</p>
<nav><a href="#diagram">Diagram</a><a href="#mappings">Table mappings</a><a href="#runs">Recent runs</a></nav>
</header>
"##,
        generated = e(&r.generated_at),
        digest = e(&r.digest),
        compiler = e(&r.compiler),
        sources = e(&r.sources.join(", ")),
        n = r.tables.len(),
        s = if r.tables.len() == 1 { "" } else { "s" },
        systems = systems.join(" and "),
    );
    diagram_section(r, &mut out);
    out.push_str("<section id=\"mappings\">\n<h2>Table mappings</h2>\n");
    for t in &r.tables {
        mapping(t, &mut out);
    }
    out.push_str("</section>\n");
    html_runs::section(r.runs.as_deref(), &mut out);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn diagram_section(r: &Report, out: &mut String) {
    out.push_str("<section id=\"diagram\">\n<h2>How records flow</h2>\n<figure>\n");
    out.push_str(&diagram::svg(r));
    out.push_str(
        "\n<figcaption>Each row is a table mapping; the arrow shows which way records flow (→ left to right, ← right to left, ↔ both ways). Rows are numbered in the order they sync; a grey curve on the left joins a table mapping to one that must sync before it (its lookups need that one's couplings).</figcaption>\n</figure>\n<h3>Sync order</h3>\n<ol class=\"order\">\n",
    );
    for t in &r.tables {
        let _ = writeln!(
            out,
            r##"<li><a href="#t-{id}">{name}</a>: <code>{l}</code> {arrow} <code>{rt}</code>{after}</li>"##,
            id = e(&t.name),
            name = e(&t.name),
            l = e(&format!("{}.{}", t.left.system, t.left.table)),
            arrow = arrow(t.flow),
            rt = e(&format!("{}.{}", t.right.system, t.right.table)),
            after = if t.depends_on.is_empty() {
                String::new()
            } else {
                format!(", after {}", e(&t.depends_on.join(", ")))
            },
        );
    }
    out.push_str("</ol>\n</section>\n");
}

fn mapping(t: &TableView, out: &mut String) {
    let _ = write!(
        out,
        r#"<article class="mapping" id="t-{id}">
<h3>{order}. {name}<span class="sides"><code>{l}</code> {arrow} <code>{r}</code></span></h3>
<dl class="facts">
"#,
        id = e(&t.name),
        order = t.order,
        name = e(&t.name),
        l = e(&format!("{}.{}", t.left.system, t.left.table)),
        arrow = arrow(t.flow),
        r = e(&format!("{}.{}", t.right.system, t.right.table)),
    );
    let mut fact = |label: &str, html: String| {
        let _ = writeln!(out, "<dt>{}</dt><dd>{html}</dd>", e(label));
    };
    fact(&format!("Rows of {}", t.left.system), filter(&t.left));
    fact(&format!("Rows of {}", t.right.system), filter(&t.right));
    fact(
        "Syncs after",
        if t.depends_on.is_empty() {
            "nothing: it can go first".into()
        } else {
            e(&t.depends_on.join(", "))
        },
    );
    fact(
        "Matching",
        if t.match_rules.is_empty() {
            "no match rules: uncoupled records are created, not matched".into()
        } else {
            let rules: Vec<String> = t
                .match_rules
                .iter()
                .map(|m| format!("<code>{}</code>", e(m)))
                .collect();
            format!(
                "first rule finding exactly one record: {}",
                rules.join(", then ")
            )
        },
    );
    fact("New records", e(&format!("created {}", t.create)));
    fact("Uncoupled records", e(&t.uncoupled));
    fact("Both sides changed", e(&t.on_conflict));
    fact("A record deleted", e(&t.on_delete));
    fact(
        "Scheduled by",
        if t.jobs.is_empty() {
            "no job: runs by hand or when a run names it".into()
        } else {
            e(&t.jobs.join("; "))
        },
    );
    fact("Declared at", format!("<code>{}</code>", e(&t.origin)));
    out.push_str("</dl>\n");
    fields(t, out);
    out.push_str("</article>\n");
}

/// A side's filter: in words, then as written and how it is evaluated.
fn filter(s: &SideView) -> String {
    let Some(f) = &s.filter else {
        return format!("every row of <code>{}</code>", e(&s.table));
    };
    let mut html = format!(
        "only where {} <span class=\"muted\">(<code>{}</code>",
        e(&f.words),
        e(&f.expr)
    );
    match (&f.odata, &f.residual) {
        (Some(o), None) => {
            let _ = write!(html, "; the system filters: <code>$filter={}</code>", e(o));
        }
        (Some(o), Some(r)) => {
            let _ = write!(
                html,
                "; the system filters <code>$filter={}</code>, syncmap checks <code>{}</code>",
                e(o),
                e(r)
            );
        }
        (None, _) => html.push_str("; syncmap checks every row read"),
    }
    html.push_str(")</span>");
    html
}

fn fields(t: &TableView, out: &mut String) {
    let _ = write!(
        out,
        "<table class=\"fields\">\n<thead><tr><th>{l}</th><th></th><th>{r}</th><th>transform</th><th>modifiers</th></tr></thead>\n<tbody>\n",
        l = e(&format!("{}.{}", t.left.system, t.left.table)),
        r = e(&format!("{}.{}", t.right.system, t.right.table)),
    );
    for f in &t.fields {
        field(f, out);
    }
    out.push_str("</tbody>\n</table>\n");
}

fn field(f: &FieldLine, out: &mut String) {
    let modifiers: Vec<String> = f
        .modifiers
        .iter()
        .map(|m| format!("<span class=\"tag\">{}</span>", e(m)))
        .collect();
    let _ = writeln!(
        out,
        "<tr><td><code>{}</code></td><td class=\"arrow\">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
        e(&f.left),
        arrow(f.flow),
        e(&f.right),
        f.transform
            .as_deref()
            .map(|t| format!("<code>{}</code>", e(t)))
            .unwrap_or_default(),
        modifiers.join(""),
    );
}
