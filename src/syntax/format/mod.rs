//! The formatter: prints a syntax tree as canonical text. It keeps every comment (comments inside
//! an item move above it), keeps single blank lines between items, aligns the arrows of
//! consecutive field mappings, and is idempotent: formatting its own output changes nothing.
//!
//! This file holds the entry point and how expressions, names and values are written; the
//! printer that lays out items with their comments and the one-line texts of items' parts are in
//! the files beside.

mod lines;
mod printer;

use super::ast::*;

/// One level of indentation.
const INDENT: &str = "    ";

/// Formats a parsed file. `text` must be the source the tree was parsed from.
pub fn format(text: &str, file: &File) -> String {
    printer::print(text, file)
}

/// Seconds as hours, minutes and seconds: `90` → `1m30s`, `86400` → `24h`.
pub fn duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// A name, in backticks when it is not a plain identifier or is a reserved word.
pub fn ident(name: &str) -> String {
    const RESERVED: [&str; 9] = [
        "and", "or", "not", "if", "then", "else", "true", "false", "null",
    ];
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&name)
        && name != "_";
    if plain {
        name.to_string()
    } else {
        format!("`{name}`")
    }
}

/// A string literal with canonical escapes.
pub fn string(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if c.is_control() => s.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// A literal as source text.
pub fn literal(l: &LitKind) -> String {
    match l {
        LitKind::String(s) => string(s),
        LitKind::Int(n) => n.to_string(),
        LitKind::Decimal(d) => d.clone(),
        LitKind::Bool(b) => b.to_string(),
        LitKind::Null => "null".into(),
        LitKind::Date(d) | LitKind::DateTime(d) => format!("@{d}"),
    }
}

/// An expression with the fewest parentheses that keep its meaning.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Lit(l) => literal(l),
        ExprKind::Column(c) => ident(c),
        ExprKind::Call { name, args } => {
            let args: Vec<String> = args.iter().map(expr).collect();
            format!("{}({})", ident(&name.name), args.join(", "))
        }
        ExprKind::Unary {
            op: UnaryOp::Neg,
            expr: inner,
        } => {
            let s = expr(inner);
            if matches!(
                inner.kind,
                ExprKind::Binary { .. } | ExprKind::If { .. } | ExprKind::Unary { .. }
            ) {
                format!("-({s})")
            } else {
                format!("-{s}")
            }
        }
        ExprKind::Unary {
            op: UnaryOp::Not,
            expr: inner,
        } => {
            let s = expr(inner);
            let needs = match &inner.kind {
                ExprKind::Binary { op, .. } => op.precedence() < 4,
                ExprKind::If { .. } => true,
                _ => false,
            };
            if needs {
                format!("not ({s})")
            } else {
                format!("not {s}")
            }
        }
        ExprKind::Binary { op, lhs, rhs, .. } => {
            let l = operand(lhs, *op, false);
            let r = operand(rhs, *op, true);
            format!("{l} {} {r}", op.symbol())
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            format!(
                "if {} then {} else {}",
                expr(cond),
                expr(then),
                expr(otherwise)
            )
        }
    }
}

fn operand(e: &Expr, parent: BinaryOp, right: bool) -> String {
    let s = expr(e);
    let needs = match &e.kind {
        ExprKind::Binary { op, .. } => {
            let (p, c) = (parent.precedence(), op.precedence());
            c < p || (c == p && parent.is_comparison()) || (c == p && right != parent.right_assoc())
        }
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => parent.precedence() > 4,
        ExprKind::If { .. } => true,
        _ => false,
    };
    if needs {
        format!("({s})")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    fn fmt(text: &str) -> String {
        match crate::syntax::parse(FileId(0), text) {
            Ok(f) => format(text, &f),
            Err(d) => panic!("{d:?}"),
        }
    }

    const MESSY: &str = r#"// header comment

import "a.map"
import   "b.map"
system bc : business_central { schema = "x.json" , }
/* block
   comment */
table t: bc.a<->bc.b {  // after the brace
    filter left: x==1 and (y or z)   // trailing
    // before a field
    a->b
    longer_name <-> c [ create only ,not null ]


    upper( d ) + "x" -> e // trailing two
    f <- if g then (h ?? "k") else "m" using { "a"=>1, _ => 2 }
}
map m { 1 => "one", 22 => "twenty-two" }
job j { sync   full t , u at 02:00 every 90m }
test t "d" { given left { a: "x\ty", b: -1.50 } expect right on update { c: @2024-01-31 } }
"#;

    #[test]
    fn formatting_is_canonical_idempotent_and_keeps_every_comment() {
        let once = fmt(MESSY);
        assert_eq!(fmt(&once), once, "formatting changed formatted text");
        for c in crate::syntax::comments(MESSY) {
            assert!(
                once.contains(&c.text),
                "lost comment {:?} in:\n{once}",
                c.text
            );
        }
        let expected = r#"// header comment

import "a.map"
import "b.map"

system bc: business_central { schema = "x.json" }

/* block
   comment */
table t: bc.a <-> bc.b { // after the brace
    filter left: x == 1 and (y or z) // trailing
    // before a field
    a            -> b
    longer_name <-> c [create only, not null]

    upper(d) + "x" -> e // trailing two
    f              <- if g then h ?? "k" else "m" using { "a" => 1, _ => 2 }
}

map m {
    1  => "one",
    22 => "twenty-two",
}

job j { sync full t, u every 1h30m at 02:00 }

test t "d" {
    given left { a: "x\ty", b: -1.50 }
    expect right on update { c: @2024-01-31 }
}
"#;
        assert_eq!(once, expected);
    }

    #[test]
    fn settings_about_one_table_keep_their_dot() {
        let text = "system s: odata {\n    schema = \"s.json\"\n    modified_on.orders = \"changedAt\"\n    time_zone = \"Europe/Berlin\"\n}\n";
        assert_eq!(fmt(text), text);
    }

    #[test]
    fn parentheses_follow_precedence() {
        let text = "table t: a.b -> c.d {\n    (a - (b - c)) * -(d + e) -> x\n    not (a == b) and (c or d) -> y\n    (a ?? b) ?? c -> z\n}\n";
        let out = fmt(text);
        assert!(out.contains("(a - (b - c)) * -(d + e)"), "{out}");
        assert!(out.contains("not a == b and (c or d)"), "{out}");
        assert!(out.contains("(a ?? b) ?? c"), "{out}");
    }
}
