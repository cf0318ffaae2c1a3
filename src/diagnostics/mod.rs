//! Diagnostics as plain data: a code, a message about the user's program, a primary label on the
//! exact span, context labels and a help line. They are rendered only at the edge (`render`), as
//! human text through miette, as JSON, or as SARIF.

mod codes;
mod excerpt;
pub mod render;

pub use codes::{Code, Severity};

use crate::source::FileId;
use crate::source::Span;

/// A labelled span in one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// The file the span is in.
    pub file: FileId,
    /// The span.
    pub span: Span,
    /// What the label says, if anything.
    pub message: String,
}

/// One problem found in the user's program.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The stable code.
    pub code: Code,
    /// A short, lower-case sentence about the program.
    pub message: String,
    /// Where the problem is.
    pub primary: Label,
    /// Other places that explain it ("table declared here").
    pub secondary: Vec<Label>,
    /// How to fix it, when a fix is known.
    pub help: Option<String>,
    /// The edit the help describes, where it is one edit of the text (boxed: most diagnostics
    /// have none, and they travel in `Result`s).
    pub fix: Option<Box<Fix>>,
}

/// An edit that resolves a diagnostic: `span` of `file` replaced by `replacement`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    /// The file to edit.
    pub file: FileId,
    /// What to replace.
    pub span: Span,
    /// What to write instead (empty to delete).
    pub replacement: String,
    /// Whether the edit is surely what was meant and cannot change what valid code means (as
    /// rustc's `MachineApplicable`): only these are applied by `syncmap check --fix`; the others
    /// are offered to a person (editors' quick fixes).
    pub safe: bool,
}

impl Diagnostic {
    /// A diagnostic whose primary label carries no text of its own.
    pub fn new(code: Code, file: FileId, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            primary: Label {
                file,
                span,
                message: String::new(),
            },
            secondary: Vec::new(),
            help: None,
            fix: None,
        }
    }

    /// Sets the primary label's text.
    pub fn label(mut self, text: impl Into<String>) -> Self {
        self.primary.message = text.into();
        self
    }

    /// Adds a context label.
    pub fn with(mut self, file: FileId, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            file,
            span,
            message: text.into(),
        });
        self
    }

    /// Sets the help line. A help of the form "did you mean `x`?" names what the primary span
    /// (the misspelt name or string) should read: it brings that edit as its fix.
    pub fn help(mut self, text: impl Into<String>) -> Self {
        let text = text.into();
        if let Some((name, rest)) = text
            .strip_prefix("did you mean `")
            .and_then(|rest| rest.split_once("`?"))
        {
            let plain = is_name_or_string(name);
            self.fix = Some(Box::new(Fix {
                file: self.primary.file,
                span: self.primary.span,
                // A name that is not plain is written in backquotes.
                replacement: if plain {
                    name.to_string()
                } else {
                    format!("`{name}`")
                },
                // Sure only when no other candidate was as close ("… (or `y`)").
                safe: plain && rest.is_empty(),
            }));
        }
        self.help = Some(text);
        self
    }

    /// Sets the fix of the help line.
    pub fn fix(mut self, span: Span, replacement: impl Into<String>, safe: bool) -> Self {
        self.fix = Some(Box::new(Fix {
            file: self.primary.file,
            span,
            replacement: replacement.into(),
            safe,
        }));
        self
    }

    /// Sets the help line when there is one.
    pub fn maybe_help(self, text: Option<String>) -> Self {
        match text {
            Some(t) => self.help(t),
            None => self,
        }
    }

    /// Error or warning, from the code.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
}

/// A collection of diagnostics, kept in a stable order for output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// No diagnostics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Adds all of another collection.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity() == Severity::Error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.0
            .iter()
            .filter(|d| d.severity() == Severity::Error)
            .count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.0
            .iter()
            .filter(|d| d.severity() == Severity::Warning)
            .count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sorts by file, position and code, and drops exact duplicates, so output is deterministic.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (
                a.primary.file,
                a.primary.span.start,
                a.primary.span.end,
                a.code,
            )
                .cmp(&(
                    b.primary.file,
                    b.primary.span.start,
                    b.primary.span.end,
                    b.code,
                ))
        });
        self.0.dedup();
    }

    /// Iterates in order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}

/// `text` with the fixes applied; a fix overlapping one before it is left out. Also how many
/// were applied.
pub fn apply_fixes<'f>(text: &str, fixes: impl IntoIterator<Item = &'f Fix>) -> (String, usize) {
    let mut fixes: Vec<&Fix> = fixes.into_iter().collect();
    fixes.sort_by_key(|f| (f.span.start, f.span.end));
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    let mut applied = 0;
    for f in fixes {
        let (start, end) = (f.span.start as usize, f.span.end as usize);
        let fits = done <= start && text.is_char_boundary(start) && text.is_char_boundary(end);
        if !fits || end < start {
            continue;
        }
        out.push_str(&text[done..start]);
        out.push_str(&f.replacement);
        done = end;
        applied += 1;
    }
    out.push_str(&text[done..]);
    (out, applied)
}

/// Whether a suggestion can be written as it stands: a plain name (`telephone1`) or a string
/// literal (`"Customer"`). Anything else (a name needing backquotes) is left to a person.
fn is_name_or_string(text: &str) -> bool {
    let quoted = text.len() >= 2 && text.starts_with('"') && text.ends_with('"');
    let name = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    quoted || name
}

/// Suggests the candidate closest to `name` by edit distance, if one is close enough to be a
/// likely typo ("did you mean `telephone1`?").
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    // Fewest edits first; among equally close names, the most similar by Jaro-Winkler.
    let mut best: Option<(&str, usize, f64)> = None;
    for candidate in candidates {
        let cand_lower = candidate.to_lowercase();
        if cand_lower == lower {
            return Some(candidate);
        }
        let score = strsim::jaro_winkler(&lower, &cand_lower);
        let distance = strsim::levenshtein(&lower, &cand_lower);
        let close = distance <= (name.chars().count().max(3) / 3).max(1) || score >= 0.88;
        let better = best.is_none_or(|(_, d, s)| distance < d || (distance == d && score > s));
        if close && better {
            best = Some((candidate, distance, score));
        }
    }
    best.map(|(c, _, _)| c)
}

/// "did you mean `x`?" for a suggestion, if any.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let all: Vec<&str> = candidates.into_iter().collect();
    suggestion_help(name, &all, str::to_string).map(|(_, help)| help)
}

/// The closest candidate to `name` and the help naming it as `show` writes it: "did you mean
/// `x`?", or "did you mean `x`? (or `y`)" when another is as close — a guess, which
/// [`Diagnostic::help`] then offers to a person but does not apply on its own.
pub fn suggestion_help<'a>(
    name: &str,
    candidates: &[&'a str],
    show: impl Fn(&str) -> String,
) -> Option<(&'a str, String)> {
    let best = suggest(name, candidates.iter().copied())?;
    let edits = |c: &str| strsim::levenshtein(&name.to_lowercase(), &c.to_lowercase());
    let tied = candidates.iter().find(|c| {
        !c.eq_ignore_ascii_case(best) && edits(c) == edits(best) && !best.eq_ignore_ascii_case(name)
    });
    let help = match tied {
        Some(other) => format!("did you mean `{}`? (or `{}`)", show(best), show(other)),
        None => format!("did you mean `{}`?", show(best)),
    };
    Some((best, help))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suggestion_as_close_as_another_is_offered_not_applied() {
        let file = FileId(0);
        let d = |help: String| Diagnostic::new(Code::E0203, file, Span::new(0, 9), "x").help(help);
        let tied = did_you_mean("telephone", ["telephone1", "telephone2", "name"]).unwrap();
        assert_eq!(tied, "did you mean `telephone1`? (or `telephone2`)");
        assert_eq!(
            d(tied).fix.map(|f| (f.replacement, f.safe)),
            Some(("telephone1".into(), false))
        );
        let sure = did_you_mean("telephon", ["telephone1", "name"]).unwrap();
        assert_eq!(d(sure).fix.map(|f| f.safe), Some(true));
        let quoted = d("did you mean `No.`?".into()).fix.unwrap();
        assert_eq!((quoted.replacement.as_str(), quoted.safe), ("`No.`", false));
    }

    #[test]
    fn fixes_apply_in_order_and_overlapping_ones_are_left_out() {
        let fix = |start: usize, end: usize, text: &str| Fix {
            file: FileId(0),
            span: Span::new(start, end),
            replacement: text.into(),
            safe: true,
        };
        let fixes = [
            fix(6, 9, "Y"),
            fix(0, 3, "X"),
            fix(1, 4, "Z"),
            fix(9, 9, "!"),
        ];
        assert_eq!(apply_fixes("abc + def", &fixes), ("X + Y!".to_string(), 3));
        assert_eq!(apply_fixes("ab", &[fix(1, 5, "x")]).1, 0, "beyond the text");
    }

    #[test]
    fn suggests_close_names_only() {
        let cols = ["telephone1", "name", "emailaddress1", "accountnumber"];
        assert_eq!(suggest("telephone", cols), Some("telephone1"));
        assert_eq!(suggest("acountnumber", cols), Some("accountnumber"));
        assert_eq!(suggest("Name", cols), Some("name"));
        assert_eq!(suggest("zzzz", cols), None);
        assert_eq!(
            suggest("statcode", ["statuscode", "statecode"]),
            Some("statecode")
        );
    }

    #[test]
    fn every_code_has_a_page_that_names_it() {
        for code in Code::ALL {
            let page = code.page();
            assert!(
                page.starts_with(&format!("# {}", code.as_str())),
                "{code} page heading"
            );
            assert!(
                page.len() > 200,
                "{code} page is too short to explain anything"
            );
            assert_eq!(Code::parse(code.as_str()), Some(*code));
        }
    }
}
