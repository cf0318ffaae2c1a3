//! The pest parser and the translation of its errors into diagnostics users can read.

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser;

use super::ast::Span;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::FileId;

/// The parser generated from `grammar/syncmap.pest`.
#[derive(pest_derive::Parser)]
#[grammar = "../grammar/syncmap.pest"]
pub(crate) struct MapParser;

/// Parses a whole file into the `file` pair.
pub(crate) fn parse_file(file: FileId, text: &str) -> Result<Pair<'_, Rule>, Diagnostics> {
    match MapParser::parse(Rule::file, text) {
        Ok(mut pairs) => match pairs.next() {
            Some(p) => Ok(p),
            None => Err(single(file, Span::new(0, 0), "empty parse".into(), None)),
        },
        Err(e) => Err(translate(file, text, e)),
    }
}

/// Whether `text` is one literal of the language, whole (`false`, `@2024-01-01`, `42`).
pub(crate) fn is_literal(text: &str) -> bool {
    MapParser::parse(Rule::literal, text)
        .ok()
        .and_then(|mut pairs| pairs.next())
        .is_some_and(|p| p.as_span().end() == text.len())
}

fn single(file: FileId, span: Span, message: String, help: Option<String>) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.push(
        Diagnostic::new(Code::E0101, file, span, message)
            .label("unexpected here")
            .maybe_help(help),
    );
    d
}

/// A comma where a line break separates: field mappings and settings of a table mapping, the
/// arms of a value map and the steps of a test stand one per line.
fn stray_comma(file: FileId, text: &str, span: Span, message: String) -> Diagnostics {
    // Sure only at the end of a line, as in a list: mid-line, what follows the comma may have
    // been meant as a line of its own, or not at all.
    let rest = text.get(span.end as usize..).unwrap_or("");
    let ends_line = rest.split('\n').next().is_some_and(|r| r.trim().is_empty());
    let mut d = Diagnostics::new();
    d.push(
        Diagnostic::new(Code::E0101, file, span, message)
            .label("not a separator here")
            .help("remove the `,`: field mappings and settings stand one per line")
            .fix(span, "", ends_line),
    );
    d
}

fn translate(file: FileId, text: &str, e: pest::error::Error<Rule>) -> Diagnostics {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let (found, span) = token_at(text, pos);
    let (message, help) = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let expected = expected_list(positives);
            let word = text
                .get(span.start as usize..span.end as usize)
                .unwrap_or("");
            if found == "`,`"
                && positives.contains(&Rule::rbrace)
                && !positives.contains(&Rule::comma)
            {
                return stray_comma(file, text, span, "unexpected `,`".into());
            }
            if let Some(d) = missing_comma(file, text, positives, span, &found) {
                return d;
            }
            let message = format!("expected {expected}, found {found}");
            let help = keyword_typo(positives, word)
                .or_else(|| misplaced_keyword(positives, word))
                // `every 5m` in a table: `every` is read as a column; `5m` is the surprise.
                .or_else(|| misplaced_keyword(positives, previous_word(text, pos)))
                .or_else(|| help_for(positives, &found));
            (message, help)
        }
        ErrorVariant::CustomError { message } => (message.clone(), None),
    };
    single(file, span, message, help)
}

/// A `,` missing at the end of a line, before an element that starts the next one (an arm of
/// a value map, a field of a record, an argument): the comma goes after the line's last
/// character. Sure to be meant unless the line ends in a comment.
fn missing_comma(
    file: FileId,
    text: &str,
    positives: &[Rule],
    span: Span,
    found: &str,
) -> Option<Diagnostics> {
    let pos = span.start as usize;
    let before = text.get(..pos)?;
    let line_start = before.rfind('\n')?;
    let starts_line = before[line_start..].trim().is_empty();
    let closes = ["`}`", "`)`", "`]`", "the end of the file"].contains(&found);
    // Settings take commas or not; a job's next line is more likely a misspelt clause.
    let elsewhere = [Rule::setting, Rule::every, Rule::kw_every]
        .iter()
        .any(|r| positives.contains(r));
    if !positives.contains(&Rule::comma) || !starts_line || closes || elsewhere {
        return None;
    }
    let end = before[..line_start].trim_end().len();
    let previous_line = &before[before[..end].rfind('\n').map_or(0, |i| i + 1)..end];
    // A line ending in a comment (or one) would take the comma into the comment.
    if previous_line.contains("//") || previous_line.contains("*/") {
        return None;
    }
    let mut d = Diagnostics::new();
    d.push(
        Diagnostic::new(
            Code::E0101,
            file,
            span,
            format!("expected `,` before {found}"),
        )
        .label("a new element starts here")
        .with(file, Span::new(end, end), "add `,` here")
        .help("separate the elements with `,` at the end of each line but the last")
        .fix(Span::new(end, end), ",", true),
    );
    Some(d)
}

/// The word just before `pos` on its line, if any.
fn previous_word(text: &str, pos: usize) -> &str {
    let before = text.get(..pos).unwrap_or("").trim_end();
    let start = before
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    &before[start..]
}

/// What stands at `pos`, for "found …", and its span.
pub(crate) fn token_at(text: &str, pos: usize) -> (String, Span) {
    let rest = text.get(pos..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return ("the end of the file".into(), Span::new(pos, pos));
    };
    if first == '\n' || first == '\r' {
        return ("the end of the line".into(), Span::new(pos, pos + 1));
    }
    let len = if first.is_alphanumeric() || first == '_' {
        rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len())
    } else if first == '"' {
        rest[1..].find(['"', '\n']).map_or(rest.len(), |i| i + 2)
    } else {
        let ops = ["<->", "->", "<-", "=>", "==", "!=", "<=", ">=", "??"];
        ops.iter()
            .find(|o| rest.starts_with(**o))
            .map_or(first.len_utf8(), |o| o.len())
    };
    let token = &rest[..len.min(rest.len())];
    (format!("`{token}`"), Span::new(pos, pos + token.len()))
}

/// Joins rule names into "`{`, `:` or a name", grouping operator alternatives.
fn expected_list(positives: &[Rule]) -> String {
    let mut names: Vec<&'static str> = Vec::new();
    for r in positives {
        let n = expected_name(*r);
        if !names.contains(&n) {
            names.push(n);
        }
    }
    trim_expected(&mut names);
    match names.len() {
        0 => "something else".into(),
        1 => names[0].into(),
        _ => {
            let last = names.pop().unwrap_or_default();
            format!("{} or {last}", names.join(", "))
        }
    }
}

/// Keeps a list of what could come next to what a person would type there. Names another
/// covers go (an expression starts a field mapping; `on` starts a table setting; a file may
/// end wherever an item may start); in a long list, ways to go on with what came before (an
/// operator, `via`, modifiers) go too: the mistake is rarely a missing operator.
fn trim_expected(names: &mut Vec<&'static str>) {
    const ITEM: &str = "`import`, `system`, `table`, `map`, `fn`, `job` or `test`";
    const TABLE_ITEM: &str = "a field mapping or table setting";
    const GOING_ON: [&str; 3] = ["an operator", "`via` or `using`", "`[`"];
    if names.contains(&TABLE_ITEM) {
        names.retain(|n| *n != "an expression" && *n != "`on`");
    }
    if names.contains(&ITEM) || names.contains(&"`table`") {
        names.retain(|n| *n != "the end of the file");
    }
    if names.len() > 3 {
        names.retain(|n| !GOING_ON.contains(n));
    }
}

/// The name users read for a rule: never an internal rule name.
pub(crate) fn expected_name(rule: Rule) -> &'static str {
    use Rule::*;
    // One arm per group of grammar rules, and no wildcard: a rule added to the grammar fails to
    // compile until it is given a name here, so the match stays one long table.
    match rule {
        EOI => "the end of the file",
        item | file => "`import`, `system`, `table`, `map`, `fn`, `job` or `test`",
        kw_import => "`import`",
        kw_system => "`system`",
        kw_table => "`table`",
        kw_map => "`map`",
        kw_fn => "`fn`",
        kw_job => "`job`",
        kw_test => "`test`",
        ident | column | type_name | job_table | call_name => "a name",
        setting_key => "a setting name",
        string | string_inner => "a string",
        expr | primary | prefix | neg | paren | call | if_expr | kw_if | kw_not => "an expression",
        literal | number | boolean | null | date | datetime | kw_true | kw_false | kw_null => {
            "a value"
        }
        infix | coalesce | kw_or | kw_and | eq | ne | le | ge | lt | gt | add | sub | mul | div
        | rem => "an operator",
        direction => "an arrow (`->`, `<-` or `<->`)",
        both_ways => "`<->`",
        to_right => "`->`",
        to_left => "`<-`",
        table_item | filter | match_rule | create | on_conflict | on_delete | only_coupled
        | after | field_map | kw_filter | kw_match | kw_create | kw_after | kw_only => {
            "a field mapping or table setting"
        }
        kw_on => "`on`",
        kw_conflict => "`conflict`",
        kw_delete => "`delete`",
        conflict_rule | kw_prefer | kw_newest => "`prefer SIDE`, `newest` or `fail`",
        delete_rule | kw_uncouple | kw_restore | kw_propagate => {
            "`uncouple`, `restore`, `propagate` or `fail`"
        }
        kw_fail => "`fail`",
        kw_coupled => "`coupled`",
        transform | via | using | kw_via | kw_using => "`via` or `using`",
        modifiers | lbracket => "`[`",
        modifier | mod_create_only | mod_update_only | mod_clear_on_failure | mod_not_null
        | mod_case_sensitive | mod_truncate | mod_on_conflict | kw_update | kw_clear | kw_case
        | kw_truncate => {
            "a modifier (`create only`, `update only`, `clear on failure`, `not null`, `truncate`, `case sensitive`, `on conflict: …`)"
        }
        kw_failure => "`failure`",
        kw_sensitive => "`sensitive`",
        map_body => "`{`",
        map_arm | map_pattern | wildcard => "a value or `_`",
        fat_arrow => "`=>`",
        params | param => "a parameter",
        job_sync | kw_sync => "`sync`",
        sync_mode | kw_full | kw_modified => "`full` or `modified`",
        every | kw_every => "`every`",
        idle | kw_idle => "`idle`",
        at_time | kw_at => "`at`",
        job_clause => "`every`, `idle` or `at`",
        duration => "a duration such as `30m`",
        time_of_day => "a time such as `02:00`",
        test_step | given | couple | expect | kw_given | kw_couple | kw_expect => {
            "`given`, `couple` or `expect`"
        }
        kw_filtered | kw_fails => "`filtered`, `fails` or a side",
        on_update => "`on update`",
        record | record_field => "a record `{ name: value }`",
        table_ref => "`system.table`",
        settings | setting => "a setting `name = \"value\"`",
        match_term => "`left_column == right_column`",
        kw_then => "`then`",
        kw_else => "`else`",
        colon => "`:`",
        comma => "`,`",
        dot => "`.`",
        assign => "`=`",
        lbrace => "`{`",
        rbrace => "`}`",
        lparen => "`(`",
        rparen => "`)`",
        rbracket => "`]`",
        WHITESPACE | COMMENT | ident_char | reserved => "something else",
        import | system | table | value_map | function | job | test => {
            "`import`, `system`, `table`, `map`, `fn`, `job` or `test`"
        }
    }
}

/// "did you mean `table`?" when a top-level item starts with a misspelled keyword.
fn keyword_typo(positives: &[Rule], word: &str) -> Option<String> {
    const KEYWORDS: [&str; 7] = ["import", "system", "table", "map", "fn", "job", "test"];
    let top_level = positives.contains(&Rule::item) || positives.contains(&Rule::EOI);
    let is_word = !word.is_empty() && word.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !top_level || !is_word {
        return None;
    }
    crate::diagnostics::did_you_mean(word, KEYWORDS)
}

/// Where a keyword met out of place belongs: the settings of a table mapping at the top level
/// of a file, the clauses of a job inside a table mapping.
fn misplaced_keyword(positives: &[Rule], word: &str) -> Option<String> {
    const TABLE_SETTINGS: [&str; 6] = ["filter", "match", "after", "on", "only", "create"];
    const JOB_CLAUSES: [&str; 4] = ["every", "idle", "at", "sync"];
    let top_level = positives.contains(&Rule::item) || positives.contains(&Rule::EOI);
    let in_table = positives.contains(&Rule::rbrace) || positives.contains(&Rule::direction);
    if top_level && TABLE_SETTINGS.contains(&word) {
        return Some(format!("`{word}` is a setting of a table mapping: move it into the body of the `table` it belongs to"));
    }
    if in_table && JOB_CLAUSES.contains(&word) {
        return Some(format!("`{word}` is a clause of a job: schedules are written `job NAME {{ sync TABLE … {word} … }}`, beside the table mappings"));
    }
    None
}

fn help_for(positives: &[Rule], found: &str) -> Option<String> {
    if ["`->`", "`<-`", "`<->`"].contains(&found) && positives.contains(&Rule::rbrace) {
        return Some("a line starting with `-` continues the expression of the line before; write a negative constant in parentheses, e.g. `(-1) -> creditlimit`".into());
    }
    if positives.contains(&Rule::direction) {
        return Some("a field mapping is `left_column -> right_column` (or `<-`, `<->`)".into());
    }
    if positives.contains(&Rule::rbrace) && positives.contains(&Rule::table_item) {
        return Some("a table mapping body holds field mappings (`a -> b`) and settings such as `filter`, `match`, `on conflict`".into());
    }
    if positives.contains(&Rule::item) || positives.contains(&Rule::EOI) {
        return Some("each top-level item starts with `import`, `system`, `table`, `map`, `fn`, `job` or `test`".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_at_reads_whole_words_and_operators() {
        assert_eq!(token_at("abc def", 4).0, "`def`");
        assert_eq!(token_at("a <-> b", 2).0, "`<->`");
        assert_eq!(token_at("x", 1).0, "the end of the file");
        assert_eq!(token_at("\"ab\" x", 0).0, "`\"ab\"`");
    }
}
