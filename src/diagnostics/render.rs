//! Renders diagnostics for people (miette), for scripts (JSON) and for CI code scanning (SARIF).

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan};
use serde_json::{json, Value};
use std::fmt;

use super::excerpt::Excerpt;
use super::{Code, Diagnostic, Diagnostics, Label, Severity};
use crate::source::SourceMap;

/// Adapts one diagnostic, with its primary source, to miette's reporting trait.
struct Report {
    code: Code,
    message: String,
    help: Option<String>,
    source: Excerpt,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
    severity: miette::Severity,
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("code", &self.code)
            .field("message", &self.message)
            .finish()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}

fn labeled(excerpt: &Excerpt, label: &Label, primary: bool) -> LabeledSpan {
    let span = excerpt.span(label.span.start as usize, label.span.end as usize);
    let text = (!label.message.is_empty()).then(|| shortened(&label.message));
    if primary {
        LabeledSpan::new_primary_with_span(text, span)
    } else {
        LabeledSpan::new_with_span(text, span)
    }
}

/// Longest message or label printed whole: one may quote a name of any length.
const MAX_MESSAGE: usize = 1000;

fn shortened(text: &str) -> String {
    if text.len() <= MAX_MESSAGE {
        return text.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn range(label: &Label) -> (usize, usize) {
    (label.span.start as usize, label.span.end as usize)
}

fn report(d: &Diagnostic, sources: &SourceMap) -> Report {
    let same_file: Vec<&Label> = std::iter::once(&d.primary)
        .chain(d.secondary.iter().filter(|l| l.file == d.primary.file))
        .collect();
    let spans: Vec<(usize, usize)> = same_file.iter().map(|l| range(l)).collect();
    let source = Excerpt::new(sources.get(d.primary.file), &spans);
    let labels = same_file
        .iter()
        .enumerate()
        .map(|(i, l)| labeled(&source, l, i == 0))
        .collect();
    let related = d
        .secondary
        .iter()
        .filter(|l| l.file != d.primary.file)
        .map(|l| {
            let other = Excerpt::new(sources.get(l.file), &[range(l)]);
            let unlabelled = Label {
                message: String::new(),
                ..l.clone()
            };
            Report {
                code: d.code,
                message: shortened(&l.message),
                help: None,
                labels: vec![labeled(&other, &unlabelled, false)],
                source: other,
                related: Vec::new(),
                severity: miette::Severity::Advice,
            }
        })
        .collect();
    Report {
        code: d.code,
        message: shortened(&d.message),
        help: d.help.as_deref().map(shortened),
        source,
        labels,
        related,
        severity: match d.severity() {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        },
    }
}

/// Renders for a terminal or a log: source excerpts with labels, then a summary line.
/// `color` is for terminals; tests render without it at a fixed width so output is stable.
pub fn human(diags: &Diagnostics, sources: &SourceMap, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for d in diags.iter() {
        let r = report(d, sources);
        if handler.render_report(&mut out, &r).is_err() {
            out.push_str(&format!("{}: {}\n", d.code, d.message));
        }
        out.push('\n');
    }
    out.push_str(&summary(diags));
    out
}

/// "2 errors, 1 warning" or "no problems".
pub fn summary(diags: &Diagnostics) -> String {
    let (e, w) = (diags.error_count(), diags.warning_count());
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (e, w) {
        (0, 0) => "no problems found\n".to_string(),
        (0, w) => format!("{} found\n", plural(w, "warning")),
        (e, 0) => format!("{} found\n", plural(e, "error")),
        (e, w) => format!(
            "{} and {} found\n",
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}

fn position(sources: &SourceMap, label: &Label) -> Value {
    let file = sources.get(label.file);
    let (line, column) = file.line_col(label.span.start as usize);
    let (end_line, end_column) = file.line_col(label.span.end as usize);
    json!({
        "file": file.name,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "span": { "start": label.span.start, "end": label.span.end },
    })
}

/// One JSON object per diagnostic, in an array: code, severity, message, file, line, column,
/// span (byte offsets), help, the context labels, and the fix where the help is one edit (its
/// place, `replacement` and whether `check --fix` applies it: `safe`).
pub fn json(diags: &Diagnostics, sources: &SourceMap) -> Value {
    let items = diags
        .iter()
        .map(|d| {
            let mut obj = json!({
                "code": d.code.as_str(),
                "severity": d.severity(),
                "message": d.message,
            });
            if let (Value::Object(o), Value::Object(p)) = (&mut obj, position(sources, &d.primary))
            {
                o.extend(p);
                o.insert("label".into(), json!(d.primary.message));
                o.insert("help".into(), json!(d.help));
                let related: Vec<Value> = d
                    .secondary
                    .iter()
                    .map(|l| {
                        let mut v = position(sources, l);
                        if let Value::Object(m) = &mut v {
                            m.insert("message".into(), json!(l.message));
                        }
                        v
                    })
                    .collect();
                o.insert("related".into(), json!(related));
                if let Some(fix) = &d.fix {
                    let label = Label {
                        file: fix.file,
                        span: fix.span,
                        message: String::new(),
                    };
                    let mut at = position(sources, &label);
                    if let Value::Object(m) = &mut at {
                        m.insert("replacement".into(), json!(fix.replacement));
                        m.insert("safe".into(), json!(fix.safe));
                    }
                    o.insert("fix".into(), at);
                }
            }
            obj
        })
        .collect();
    Value::Array(items)
}

fn sarif_location(sources: &SourceMap, label: &Label) -> Value {
    let file = sources.get(label.file);
    let (start_line, start_column) = file.line_col(label.span.start as usize);
    let (end_line, end_column) = file.line_col(label.span.end as usize);
    let mut loc = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": file.name, "uriBaseId": "%SRCROOT%" },
            "region": {
                "startLine": start_line,
                "startColumn": start_column,
                "endLine": end_line,
                "endColumn": end_column,
            }
        }
    });
    if !label.message.is_empty() {
        loc["message"] = json!({ "text": label.message });
    }
    loc
}

/// A fix as SARIF writes one: the region deleted and the text put in its place.
fn sarif_fix(sources: &SourceMap, fix: &crate::diagnostics::Fix, help: &str) -> Value {
    let label = Label {
        file: fix.file,
        span: fix.span,
        message: String::new(),
    };
    let location = sarif_location(sources, &label);
    json!({
        "description": { "text": help },
        "artifactChanges": [{
            "artifactLocation": location["physicalLocation"]["artifactLocation"],
            "replacements": [{
                "deletedRegion": location["physicalLocation"]["region"],
                "insertedContent": { "text": fix.replacement },
            }],
        }],
    })
}

/// A SARIF 2.1.0 log with one run, every code as a rule, and one result per diagnostic, so CI
/// systems can annotate the lines of a pull request.
pub fn sarif(diags: &Diagnostics, sources: &SourceMap) -> Value {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "name": c.title(),
                "shortDescription": { "text": c.title() },
                "help": { "text": c.page(), "markdown": c.page() },
                "defaultConfiguration": { "level": level(c.severity()) },
            })
        })
        .collect();
    let results: Vec<Value> = diags.iter().map(|d| sarif_result(sources, d)).collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "syncmap",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// One diagnostic as a SARIF result: its rule, level, message with the help, locations, and
/// the fix where there is one.
fn sarif_result(sources: &SourceMap, d: &crate::diagnostics::Diagnostic) -> Value {
    let mut text = d.message.clone();
    if let Some(h) = &d.help {
        text.push_str("\nhelp: ");
        text.push_str(h);
    }
    let index = Code::ALL.iter().position(|c| *c == d.code).unwrap_or(0);
    let mut result = json!({
        "ruleId": d.code.as_str(),
        "ruleIndex": index,
        "level": level(d.severity()),
        "message": { "text": text },
        "locations": [sarif_location(sources, &d.primary)],
    });
    if !d.secondary.is_empty() {
        let related: Vec<Value> = d
            .secondary
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut v = sarif_location(sources, l);
                v["id"] = json!(i + 1);
                v
            })
            .collect();
        result["relatedLocations"] = json!(related);
    }
    if let (Some(fix), Some(help)) = (&d.fix, &d.help) {
        result["fixes"] = json!([sarif_fix(sources, fix, help)]);
    }
    result
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;
    use crate::source::Span;

    /// Rendering 40,000 diagnostics of a 40,000-line file, each pointing at its own line and at
    /// the first: what miette is handed in all must grow with the number of diagnostics, not
    /// with diagnostics times lines (it scans what it is handed from the start).
    #[test]
    fn reports_hand_miette_a_bounded_part_of_the_file() {
        let line = "fn f(x: int) -> int { x }\n";
        let n = 40_000;
        let mut sources = SourceMap::new();
        let file = sources.add("d.map", line.repeat(n));
        let mut handed = 0;
        for i in 1..n {
            let at = i * line.len() + 3;
            let d = Diagnostic::new(Code::E0207, file, Span::new(at, at + 1), "twice")
                .label("again")
                .with(FileId(0), Span::new(3, 4), "first");
            handed += report(&d, &sources).source.len();
        }
        assert!(
            handed <= n * 20 * line.len(),
            "{handed} bytes for {n} reports"
        );
    }
}
