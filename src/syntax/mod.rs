//! Stage 1: `.map` text → syntax tree with byte spans, and the formatter that prints a tree back
//! as canonical text. Nothing after this stage sees pest's pairs or rules.

pub mod ast;
mod comments;
mod delimiters;
mod depth;
pub mod format;
mod lower;
mod parser;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::FileId;

pub use comments::{comments, Comment};
pub use depth::MAX_DEPTH;

/// Whether `text` is one literal of the language, whole: a fix that writes a literal checks
/// it with the grammar, not with a looser parser.
pub fn is_literal(text: &str) -> bool {
    parser::is_literal(text)
}

/// Parses one file strictly: any problem and there is no tree. The formatter uses this, since a
/// file with errors cannot be printed faithfully.
pub fn parse(file: FileId, text: &str) -> Result<ast::File, Diagnostics> {
    let parsed = parse_recovering(file, text);
    if parsed.diagnostics.has_errors() {
        Err(parsed.diagnostics)
    } else {
        Ok(parsed.file)
    }
}

/// A file parsed as far as possible.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The items that parsed.
    pub file: ast::File,
    /// Every syntax problem found, one per broken item.
    pub diagnostics: Diagnostics,
    /// Names declared by items that did not parse, so later stages stay quiet about them.
    pub broken_names: Vec<String>,
}

/// The keywords that start a top-level item; recovery resumes at a line starting with one.
const ITEM_KEYWORDS: [&str; 7] = ["import", "system", "table", "map", "fn", "job", "test"];

/// Parses one file, recovering from syntax errors item by item: the item holding an error is
/// blanked out (newlines kept, so every span stays valid) and the rest is parsed again. Each
/// broken item gives one diagnostic; the other items are checked as usual.
pub fn parse_recovering(file: FileId, text: &str) -> Parsed {
    let mut diagnostics = Diagnostics::new();
    let mut broken_names = Vec::new();
    if text.len() > u32::MAX as usize {
        diagnostics.push(Diagnostic::new(
            Code::E0101,
            file,
            ast::Span::new(0, 0),
            "file is larger than 4 GiB",
        ));
        return Parsed {
            file: ast::File { items: Vec::new() },
            diagnostics,
            broken_names,
        };
    }
    let mut work = text.to_string();
    blank_unbalanced(file, &mut work, &mut diagnostics, &mut broken_names);
    blank_too_deep(file, &mut work, &mut diagnostics, &mut broken_names);
    loop {
        match parser::parse_file(file, &work) {
            Ok(pair) => {
                let (tree, lowered) = lower::lower_file(file, pair);
                diagnostics.extend(lowered);
                diagnostics.sort();
                return Parsed {
                    file: tree,
                    diagnostics,
                    broken_names,
                };
            }
            Err(errors) => {
                let pos = errors
                    .iter()
                    .next()
                    .map_or(0, |d| d.primary.span.start as usize);
                diagnostics.extend(errors);
                let (start, end) = broken_item(&work, pos);
                if let Some(name) = item_name(&work[start..end]) {
                    broken_names.push(name);
                }
                let blanked = blank(&work[start..end]);
                if blanked == work[start..end] {
                    // Nothing left to blank: give up on the rest of the file.
                    diagnostics.sort();
                    return Parsed {
                        file: ast::File { items: Vec::new() },
                        diagnostics,
                        broken_names,
                    };
                }
                work.replace_range(start..end, &blanked);
            }
        }
    }
}

/// Reports (E0107, E0108) and blanks out every item with a string left open or a bracket left
/// open or closed twice, which the parser would report far from the mistake.
fn blank_unbalanced(
    file: FileId,
    work: &mut String,
    diagnostics: &mut Diagnostics,
    broken_names: &mut Vec<String>,
) {
    let starts: Vec<usize> = item_starts(work).collect();
    let mut blanked_to = 0;
    for problem in delimiters::problems(work, &starts) {
        // One diagnostic per broken item: a string left open can leave a bracket unbalanced
        // too, and the item's text is blanked once it is reported.
        if problem.position() < blanked_to {
            continue;
        }
        diagnostics.push(unbalanced(file, work, &problem));
        blanked_to = blank_item(work, problem.position(), broken_names);
    }
}

/// The diagnostic of a string or bracket left open, or a bracket closing nothing.
fn unbalanced(file: FileId, text: &str, problem: &delimiters::Problem) -> Diagnostic {
    use delimiters::Problem;
    let at = |pos: usize| ast::Span::new(pos, pos + 1);
    match *problem {
        Problem::UnterminatedString { open, line_end } => Diagnostic::new(
            Code::E0107,
            file,
            at(open),
            "unterminated string",
        )
        .label("this string is never closed")
        .with(
            file,
            ast::Span::new(line_end, line_end),
            "the line ends here",
        )
        .help("close it with `\"` on the same line; a quote inside a string is written `\\\"`"),
        Problem::Unclosed {
            open,
            bracket,
            before,
            at_end,
        } => {
            let close = delimiters::closing(bracket);
            let (found, span) = parser::token_at(text, before);
            let label = if at_end {
                "the file ends inside it".to_string()
            } else if text[before..].starts_with(['}', ')', ']']) {
                format!("expected `{close}` before this {found}")
            } else {
                format!("expected `{close}` before this item")
            };
            let help = match bracket {
                '{' => "add `}` at the end of the body it opens, on a line of its own",
                '(' => "add `)` where the parenthesised part ends",
                _ => "add `]` after the last modifier",
            };
            let d = Diagnostic::new(Code::E0108, file, at(open), format!("unclosed `{bracket}`"))
                .label("opened here and never closed")
                .with(file, span, label)
                .help(help);
            match item_body_close(text, open, bracket, before) {
                Some(end) => d.fix(ast::Span::new(end, end), "\n}", true),
                None => d,
            }
        }
        Problem::Unopened { at: pos, bracket } => Diagnostic::new(
            Code::E0108,
            file,
            at(pos),
            format!("`{bracket}` closes nothing"),
        )
        .label("nothing is open here")
        .help("remove it, or open what it was meant to close"),
    }
}

/// Where the `}` of an item's body goes when it was left out: after the body's last line, when
/// the `{` left open is the one on the item's first line (`table t: … {`) and its close was due
/// before the next item or the end of the file. Anywhere else (a `{` inside the body) the place
/// is a guess, so there is no fix.
fn item_body_close(text: &str, open: usize, bracket: char, before: usize) -> Option<usize> {
    let line_start = text[..open].rfind('\n').map_or(0, |i| i + 1);
    let first_line = &text[line_start..open];
    let opens_item = bracket == '{'
        && ITEM_KEYWORDS
            .iter()
            .any(|k| first_line.starts_with(k) && first_line[k.len()..].starts_with(' '));
    let due_at_item = !text[before..].starts_with(['}', ')', ']']);
    // With another `{` in the body, the `}` written may be that one's, and the one missing
    // inside: the place is a guess.
    let alone = !text[open + 1..before].contains('{');
    (opens_item && due_at_item && alone).then(|| text[..before].trim_end().len())
}

/// Blanks out the item around `pos` (newlines kept, so every span stays valid), noting the
/// name it declares.
fn blank_item(work: &mut String, pos: usize, broken_names: &mut Vec<String>) -> usize {
    let (start, end) = broken_item(work, pos);
    if let Some(name) = item_name(&work[start..end]) {
        if !broken_names.contains(&name) {
            broken_names.push(name);
        }
    }
    let blanked = blank(&work[start..end]);
    work.replace_range(start..end, &blanked);
    end
}

/// `text` as spaces, newlines kept, byte for byte: every span into the text stays valid (a
/// character of several bytes becomes as many spaces).
fn blank(text: &str) -> String {
    text.bytes()
        .map(|b| if b == b'\n' { '\n' } else { ' ' })
        .collect()
}

/// Reports (E0106) and blanks out every item nested deeper than [`MAX_DEPTH`], before the
/// parser, which recurses at each level, sees it.
fn blank_too_deep(
    file: FileId,
    work: &mut String,
    diagnostics: &mut Diagnostics,
    broken_names: &mut Vec<String>,
) {
    let mut from = 0;
    while let Some(found) = work.get(from..).and_then(depth::too_deep) {
        let mut pos = from + found;
        while !work.is_char_boundary(pos) {
            pos -= 1;
        }
        let end = work[pos..]
            .chars()
            .next()
            .map_or(pos, |c| pos + c.len_utf8());
        diagnostics.push(
            Diagnostic::new(
                Code::E0106,
                file,
                ast::Span::new(pos, end),
                format!("nested more than {MAX_DEPTH} levels deep"),
            )
            .label("too deep here")
            .help("every bracket, and every operator of a chain such as `a + b + c`, is a level: split the expression with a user function (`fn`) or a value map"),
        );
        let item_end = blank_item(work, pos, broken_names);
        from = item_end.max(end);
    }
}

/// Byte offsets of lines that start with an item keyword.
/// An item's first line is its keyword at the margin followed by a name (or an import's
/// path): a column named `table` or `map` written at the margin inside a body (`map -> x`) is
/// not one.
fn item_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| {
            let line = &text[i..];
            ITEM_KEYWORDS.iter().any(|k| {
                let Some(rest) = line.strip_prefix(k) else {
                    return false;
                };
                let after = rest.trim_start_matches([' ', '\t']);
                rest.len() > after.len()
                    && after.starts_with(|c: char| c.is_ascii_alphabetic() || "_`\"".contains(c))
            })
        })
}

/// The item around `pos`: from the last item start at or before it to the next one after it.
/// A stray line between items (`filter …` at the top level, after an import or a closed item)
/// is its own item: blanking the item before it would hide what that one declares.
fn broken_item(text: &str, pos: usize) -> (usize, usize) {
    let starts: Vec<usize> = item_starts(text).collect();
    let start = starts
        .iter()
        .rev()
        .find(|&&s| s <= pos)
        .copied()
        .unwrap_or(0);
    let start = stray_line(text, pos)
        .filter(|&l| l > start)
        .unwrap_or(start);
    let end = starts
        .iter()
        .find(|&&s| s > pos.max(start))
        .copied()
        .unwrap_or(text.len());
    (start, end)
}

/// The start of the line of `pos` when it is a stray line between items: it starts with a
/// word at the margin, and the line before it ends an item (an import, or a `}` at the margin).
fn stray_line(text: &str, pos: usize) -> Option<usize> {
    let line_start = text.get(..pos)?.rfind('\n').map_or(0, |i| i + 1);
    let starts_a_word = text[line_start..].starts_with(|c: char| c.is_ascii_alphabetic());
    let before = text[..line_start].trim_end();
    let last_line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let ends_an_item = last_line == "}" || last_line.starts_with("import ");
    (starts_a_word && ends_an_item).then_some(line_start)
}

/// The name an item declares, from its text (`table customers: …` → `customers`).
fn item_name(item: &str) -> Option<String> {
    let mut words = item.split(|c: char| c.is_whitespace() || c == ':' || c == '(' || c == '{');
    let keyword = words.next()?;
    if !["system", "table", "map", "fn", "job"].contains(&keyword) {
        return None;
    }
    words
        .find(|w| !w.is_empty())
        .map(|w| w.trim_matches('`').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_after_a_blanked_item_with_wide_characters_stay_exact() {
        let text = "table a: x.y -> z.w {\n    filter x: c == \"Köln – Düsseldorf\n}\n\ntable b: x.y -> z.w {\n    d ->\n}\n";
        let parsed = parse_recovering(FileId(0), text);
        let spans: Vec<&str> = parsed
            .diagnostics
            .iter()
            .map(|d| &text[d.primary.span.start as usize..d.primary.span.end as usize])
            .collect();
        assert_eq!(spans, ["\"", "}"], "{:?}", parsed.diagnostics);
    }

    #[test]
    fn a_column_named_like_an_item_keyword_at_the_margin_is_not_an_item() {
        let text = "table a: x.y -> z.w {\nmap -> b\n    c -> d\n}\n";
        assert_eq!(item_starts(text).collect::<Vec<_>>(), vec![0]);
        let parsed = parse_recovering(FileId(0), text);
        assert!(
            !parsed.diagnostics.iter().any(|d| d.code == Code::E0108),
            "{:?}",
            parsed.diagnostics
        );
    }

    #[test]
    fn recovery_reports_each_broken_item_and_keeps_the_rest() {
        let text = "table a: x.y -> z.w {\n    b ->\n}\n\ntable c: x.y -> z.w {\n    d -> e\n}\n\njob j { sync }\n";
        let parsed = parse_recovering(FileId(0), text);
        assert_eq!(
            parsed.diagnostics.error_count(),
            2,
            "{:?}",
            parsed.diagnostics
        );
        assert_eq!(parsed.file.items.len(), 1);
        assert_eq!(parsed.broken_names, vec!["a".to_string(), "j".to_string()]);
    }
}
