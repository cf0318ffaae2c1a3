//! Semantic tokens: what each word of a file is, for editors to colour by meaning rather than
//! by a grammar of regular expressions — a table mapping's name wherever it is used, a column
//! apart from a function, a system alias apart from a keyword. Names are classified with the
//! walk go-to-definition uses; the rest by the forgiving tokenizer completion uses, so a file
//! being typed is still coloured.

use lsp_types::{SemanticToken, SemanticTokenType, SemanticTokensLegend};

use super::convert::{Encoding, LineIndex};
use super::tokens::{self, Kind};
use crate::check::locate::{self, Target};
use crate::syntax::ast;

/// The token types, in the legend's order (a token's type is its index here).
const TYPES: [SemanticTokenType; 12] = [
    SemanticTokenType::KEYWORD,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::COMMENT,
    SemanticTokenType::OPERATOR,
    SemanticTokenType::CLASS,
    SemanticTokenType::ENUM,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::TYPE,
];

const KEYWORD: u32 = 0;
const STRING: u32 = 1;
const NUMBER: u32 = 2;
const COMMENT: u32 = 3;
const OPERATOR: u32 = 4;
const MAPPING: u32 = 5;
const VALUE_MAP: u32 = 6;
const FUNCTION: u32 = 7;
const SYSTEM: u32 = 8;
const COLUMN: u32 = 9;
const PARAMETER: u32 = 10;
const TABLE: u32 = 11;

/// The words of the language that are not names.
const KEYWORDS: &[&str] = &[
    "import",
    "system",
    "table",
    "map",
    "fn",
    "job",
    "test",
    "filter",
    "match",
    "create",
    "on",
    "conflict",
    "delete",
    "only",
    "coupled",
    "after",
    "via",
    "using",
    "and",
    "or",
    "not",
    "if",
    "then",
    "else",
    "true",
    "false",
    "null",
    "prefer",
    "newest",
    "fail",
    "uncouple",
    "restore",
    "propagate",
    "sync",
    "full",
    "modified",
    "every",
    "idle",
    "at",
    "given",
    "couple",
    "expect",
    "update",
    "clear",
    "truncate",
    "none",
    "case",
    "sensitive",
    "failure",
    "filtered",
    "fails",
];

/// The legend the server declares.
pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: Vec::new(),
    }
}

/// The tokens of a file, relative to one another as the protocol wants them.
pub fn tokens(text: &str, file: &ast::File, enc: Encoding) -> Vec<SemanticToken> {
    let index = LineIndex::new(text);
    let mut out = Vec::new();
    let (mut line, mut start) = (0, 0);
    for token in tokens::lex(text) {
        let Some(ty) = classify(file, &token) else {
            continue;
        };
        let from = index.position(text, token.start, enc);
        let to = index.position(text, token.end, enc);
        if to.line != from.line {
            continue; // a token over several lines: editors take one line per token
        }
        let delta_line = from.line - line;
        let delta_start = if delta_line == 0 {
            from.character - start
        } else {
            from.character
        };
        out.push(SemanticToken {
            delta_line,
            delta_start,
            length: to.character - from.character,
            token_type: ty,
            token_modifiers_bitset: 0,
        });
        (line, start) = (from.line, from.character);
    }
    out
}

/// The type of one token, if it has one worth colouring.
fn classify(file: &ast::File, token: &tokens::Token<'_>) -> Option<u32> {
    match token.kind {
        Kind::Comment => return Some(COMMENT),
        Kind::Str => return Some(STRING),
        Kind::Number | Kind::Date => return Some(NUMBER),
        Kind::Punct if token.is_arrow() || token.is("=>") || token.is("??") => {
            return Some(OPERATOR)
        }
        Kind::Punct => return None,
        Kind::Ident => {}
    }
    let named = locate::at(file, token.start).filter(|t| {
        let span = t.span();
        span.start as usize == token.start && span.end as usize == token.end
    });
    match named {
        Some(Target::Mapping(_)) => Some(MAPPING),
        Some(Target::ValueMap(_)) => Some(VALUE_MAP),
        Some(Target::Call(_) | Target::FunctionDecl(_)) => Some(FUNCTION),
        Some(Target::System(_) | Target::Side { .. }) => Some(SYSTEM),
        Some(Target::Param { .. }) => Some(PARAMETER),
        Some(Target::SchemaTable { .. }) => Some(TABLE),
        Some(Target::Column { .. } | Target::RecordField { .. } | Target::ViaColumn { .. }) => {
            Some(COLUMN)
        }
        Some(Target::Import(_) | Target::SchemaPath(_)) => None,
        None => token
            .name()
            .filter(|w| KEYWORDS.contains(w))
            .map(|_| KEYWORD),
    }
}
