//! The part of a source a diagnostic shows. miette finds lines by scanning its source from the
//! start up to each label, so handing it the whole file made rendering quadratic: 20,000
//! diagnostics in a 20,000-line file took a minute. An excerpt holds the labelled lines and
//! their context only (not the lines between two labels far apart), with overlong lines cut
//! around the labels (a 50 MB string literal is not printed), and tells miette the number of
//! each line.

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

use crate::source::SourceFile;

/// Longest line shown whole, in bytes; a longer line is cut around the first label on it.
const MAX_LINE: usize = 240;
/// Bytes kept before the first label on a cut line.
const LEAD: usize = 60;
/// Lines kept around the labels: more than miette shows (one), since it shows the lines
/// between two labels as well when their contexts (almost) meet; lines kept and not shown
/// cost nothing.
const CONTEXT: usize = 3;
/// Marks where a line was cut.
const CUT: char = '…';

/// One source line of an excerpt.
#[derive(Debug)]
struct Kept {
    /// Its 0-based number in the source.
    number: usize,
    /// Where the line starts and ends (before its break) in the source.
    start: usize,
    end: usize,
    /// The part of the line that was kept, in the source.
    from: usize,
    to: usize,
    /// Where the kept part starts, and where the line ends, in the excerpt.
    at: usize,
    end_at: usize,
    /// Bytes cut from the start of the line, less the cut mark's (miette counts columns in
    /// bytes).
    shift: usize,
}

/// The lines of one source a diagnostic shows.
#[derive(Debug)]
pub(super) struct Excerpt {
    name: String,
    text: String,
    lines: Vec<Kept>,
}

impl Excerpt {
    /// The lines of `file` that hold the byte ranges `spans`, with context. A cut line keeps
    /// the part around the first span that touches it.
    pub(super) fn new(file: &SourceFile, spans: &[(usize, usize)]) -> Excerpt {
        let len = file.text.len();
        let mut numbers: Vec<(usize, usize)> = spans
            .iter()
            .map(|&(s, e)| {
                let first = file.line_index(s.min(len)).saturating_sub(CONTEXT);
                let last = file.line_index(e.min(len)) + CONTEXT;
                (first, last.min(file.line_count() - 1))
            })
            .collect();
        numbers.sort_unstable();
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for (first, last) in numbers {
            match ranges.last_mut() {
                Some(prev) if first <= prev.1 + 1 => prev.1 = prev.1.max(last),
                _ => ranges.push((first, last)),
            }
        }
        let mut text = String::new();
        let mut lines: Vec<Kept> = Vec::new();
        for line in ranges.into_iter().flat_map(|(first, last)| first..=last) {
            let (start, end) = file.line_range(line);
            let (from, to) = if end - start <= MAX_LINE {
                (start, end)
            } else {
                window(&file.text, start, end, spans)
            };
            let mut shift = 0;
            if from > start {
                text.push(CUT);
                shift = from - start - CUT.len_utf8();
            }
            let at = text.len();
            text.push_str(&file.text[from..to]);
            if to < end {
                text.push(CUT);
            }
            let end_at = text.len();
            if end < len {
                text.push('\n');
            }
            lines.push(Kept {
                number: line,
                start,
                end,
                from,
                to,
                at,
                end_at,
                shift,
            });
        }
        Excerpt {
            name: file.name.clone(),
            text,
            lines,
        }
    }

    /// The excerpt's span for a byte range of the source.
    pub(super) fn span(&self, start: usize, end: usize) -> SourceSpan {
        let (s, e) = (self.map(start), self.map(end));
        SourceSpan::new(s.into(), e.saturating_sub(s))
    }

    /// How many bytes miette is given.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.text.len()
    }

    fn map(&self, offset: usize) -> usize {
        let i = self
            .lines
            .partition_point(|k| k.start <= offset)
            .saturating_sub(1);
        let Some(k) = self.lines.get(i) else {
            return 0;
        };
        if offset > k.end {
            return k.end_at;
        }
        k.at + (offset.clamp(k.from, k.to) - k.from)
    }
}

/// The part of the overlong line `start..end` to keep: from a little before the first label
/// point on it, at most [`MAX_LINE`] bytes.
fn window(text: &str, start: usize, end: usize, spans: &[(usize, usize)]) -> (usize, usize) {
    let point = spans
        .iter()
        .flat_map(|&(s, e)| [s, e])
        .find(|p| (start..=end).contains(p))
        .unwrap_or(start);
    let from = floor_boundary(text, point.saturating_sub(LEAD).max(start));
    let to = floor_boundary(text, (from + MAX_LINE).min(end));
    (from, to)
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner =
            self.text
                .as_str()
                .read_span(span, context_lines_before, context_lines_after)?;
        let kept = self.lines.get(inner.line());
        let mut column = inner.column();
        // miette reads a label without context for the `file:line:column` header: count the
        // bytes cut from the start of the line there.
        if context_lines_before == 0 && context_lines_after == 0 {
            column += kept.map_or(0, |k| k.shift);
        }
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            kept.map_or(inner.line(), |k| k.number),
            column,
            inner.line_count(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{render, Code, Diagnostic, Diagnostics};
    use crate::source::Span;
    use crate::source::{FileId, SourceMap};

    /// Rendering was quadratic because every diagnostic handed miette the whole file, which it
    /// scans from the start. Without timing anything: what each of 40,000 diagnostics between
    /// the first and the last line of a 40,000-line file hands over must not grow with the file.
    #[test]
    fn what_a_diagnostic_shows_does_not_grow_with_the_file() {
        let line = "fn f(x: int) -> int { x }\n";
        let file = SourceFile::new("d.map", line.repeat(40_000));
        let mut most = 0;
        for n in (0..40_000).step_by(7) {
            let at = n * line.len() + 3;
            let excerpt = Excerpt::new(&file, &[(at, at + 1), (3, 4)]);
            most = most.max(excerpt.len());
        }
        assert!(most <= 2 * (2 * CONTEXT + 1) * line.len(), "{most} bytes");
    }

    #[test]
    fn an_overlong_line_is_cut_around_the_label_and_keeps_its_column() {
        let mut sources = SourceMap::new();
        let text = format!(
            "table t {{\n    \"{}\" + 1 -> y\n}}\n",
            "x".repeat(1_000_000)
        );
        let plus = text.find(" + 1").unwrap() + 1;
        let id = sources.add("big.map", text);
        let mut diags = Diagnostics::new();
        diags.push(
            Diagnostic::new(
                Code::E0301,
                FileId(0),
                Span::new(plus, plus + 1),
                "mismatch",
            )
            .label("here")
            .with(id, Span::new(4, plus + 3), "all of it"),
        );
        let out = render::human(&diags, &sources, false);
        assert!(out.len() < 4_000, "{} bytes:\n{out}", out.len());
        assert!(
            out.contains(&format!("big.map:2:{}", plus - 10 + 1)),
            "{out}"
        );
        assert_eq!(out.matches('x').count(), LEAD - 2, "{out}");
        assert!(out.contains("here"), "{out}");
    }
}
