//! The formatter: prints a syntax tree as canonical text. It keeps every comment (comments inside
//! an item move above it), keeps single blank lines between items, aligns the arrows of
//! consecutive field mappings, and is idempotent: formatting its own output changes nothing.

use super::ast::*;
use super::comments::{comments, Comment};

const INDENT: &str = "    ";
/// Left sides of field mappings longer than this are not aligned with their neighbours.
const ALIGN_LIMIT: usize = 32;
/// Records that would make a line longer than this are printed one field per line.
const RECORD_WIDTH: usize = 100;

/// Formats a parsed file. `text` must be the source the tree was parsed from.
pub fn format(text: &str, file: &File) -> String {
    let mut p = Printer {
        text,
        out: String::new(),
        comments: comments(text),
        next: 0,
        last_end: 0,
    };
    let mut prev: Option<&Item> = None;
    for item in &file.items {
        if let Some(prev) = prev {
            let blank =
                p.blank_before(p.leading_start(item.span().start)) || !same_group(prev, item);
            p.out.push('\n');
            if blank {
                p.out.push('\n');
            }
        }
        p.item(item);
        prev = Some(item);
    }
    p.rest(0);
    let trimmed = p.out.trim_end();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}\n")
    }
}

/// Imports, systems and jobs stay together without blank lines unless the source had one.
fn same_group(a: &Item, b: &Item) -> bool {
    matches!(
        (a, b),
        (Item::Import(_), Item::Import(_))
            | (Item::System(_), Item::System(_))
            | (Item::Job(_), Item::Job(_))
    )
}

struct Printer<'a> {
    text: &'a str,
    out: String,
    comments: Vec<Comment>,
    /// The first comment not printed yet.
    next: usize,
    /// Source offset of the end of what was printed last.
    last_end: usize,
}

impl Printer<'_> {
    /// Where an element starts once its leading comments are counted.
    fn leading_start(&self, start: u32) -> usize {
        self.comments[self.next..]
            .iter()
            .find(|c| c.span.start < start && !c.trailing)
            .map_or(start as usize, |c| c.span.start as usize)
    }

    /// Whether the source has a blank line between what was printed last and `pos`.
    fn blank_before(&self, pos: usize) -> bool {
        let gap = self.text.get(self.last_end.min(pos)..pos).unwrap_or("");
        gap.matches('\n').count() >= 2
    }

    /// Prints, as their own lines, the comments that start before `pos`.
    fn comments_before(&mut self, pos: u32, depth: usize) {
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= pos {
                break;
            }
            let c = c.clone();
            if self.blank_before(c.span.start as usize) && !self.at_block_start() {
                self.out.push('\n');
            }
            self.indent(depth);
            self.out.push_str(&c.text);
            self.out.push('\n');
            self.last_end = c.span.end as usize;
            self.next += 1;
        }
    }

    fn at_block_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with("{\n") || self.out.ends_with("\n\n")
    }

    /// Appends the comment that trails the source line holding `pos`, if there is one.
    fn trailing(&mut self, pos: u32) {
        let Some(c) = self.comments.get(self.next) else {
            return;
        };
        if !c.trailing || c.span.start < pos {
            return;
        }
        let between = self
            .text
            .get(pos as usize..c.span.start as usize)
            .unwrap_or("\n");
        if between.contains('\n') {
            return;
        }
        self.out.push(' ');
        self.out.push_str(&c.text);
        self.last_end = c.span.end as usize;
        self.next += 1;
    }

    /// Prints every comment left before `end` inside a block at `depth`.
    fn rest(&mut self, depth: usize) {
        let end = self.text.len() as u32 + 1;
        self.close_block(end, depth);
    }

    fn close_block(&mut self, end: u32, depth: usize) {
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= end {
                break;
            }
            let c = c.clone();
            if !self.out.is_empty() && !self.out.ends_with('\n') {
                self.out.push('\n');
            }
            if self.blank_before(c.span.start as usize) && !self.at_block_start() {
                self.out.push('\n');
            }
            self.indent(depth);
            self.out.push_str(&c.text);
            self.out.push('\n');
            self.last_end = c.span.end as usize;
            self.next += 1;
        }
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str(INDENT);
        }
    }

    /// Starts a line for an element: leading and inner comments first (keeping a blank line
    /// between them and the element), then indentation.
    fn start_line(&mut self, span: Span, depth: usize, hoist_inner: bool) {
        let until = if hoist_inner { span.end } else { span.start };
        let had_comments = self.next;
        self.comments_before(until, depth);
        if self.next > had_comments
            && self.blank_before(span.start as usize)
            && !self.at_block_start()
        {
            self.out.push('\n');
        }
        self.indent(depth);
    }

    /// Ends an element's line: its trailing comment and the line break.
    fn end_line(&mut self, span: Span) {
        self.trailing(span.end);
        self.out.push('\n');
        self.last_end = self.last_end.max(span.end as usize);
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Import(i) => {
                self.start_line(i.span, 0, true);
                self.out
                    .push_str(&format!("import {}", string(&i.path.value)));
                self.end_line(i.span);
            }
            Item::System(s) => self.system(s),
            Item::Table(t) => self.table(t),
            Item::ValueMap(m) => self.value_map(m),
            Item::Function(f) => self.function(f),
            Item::Job(j) => {
                self.start_line(j.span, 0, true);
                self.out.push_str(&job(j));
                self.end_line(j.span);
            }
            Item::Test(t) => self.test(t),
        }
        // The caller adds the separator; drop this item's final line break.
        if self.out.ends_with('\n') {
            self.out.pop();
        }
    }

    fn has_comment_inside(&self, span: Span) -> bool {
        self.comments[self.next..]
            .iter()
            .any(|c| c.span.start > span.start && c.span.end < span.end)
    }

    fn block_open(&mut self, span: Span, header: String) {
        self.start_line(span, 0, false);
        self.out.push_str(&header);
        self.out.push_str(" {");
        let line_end = self.text[span.start as usize..]
            .find('\n')
            .map_or(span.end, |n| span.start + n as u32);
        self.trailing_within(line_end);
        self.out.push('\n');
        self.last_end = (span.start as usize).max(self.last_end);
    }

    /// A trailing comment on the header line of a block.
    fn trailing_within(&mut self, line_end: u32) {
        if let Some(c) = self.comments.get(self.next) {
            if c.trailing && c.span.start < line_end {
                let c = c.clone();
                self.out.push(' ');
                self.out.push_str(&c.text);
                self.last_end = c.span.end as usize;
                self.next += 1;
            }
        }
    }

    fn block_close(&mut self, span: Span) {
        self.close_block(span.end, 1);
        self.out.push('}');
        self.end_line(span);
    }

    fn system(&mut self, s: &System) {
        let header = format!("system {}: {}", ident(&s.name.name), ident(&s.kind.name));
        if s.settings.len() <= 1 && !self.has_comment_inside(s.span) {
            self.start_line(s.span, 0, false);
            self.out.push_str(&header);
            match s.settings.first() {
                Some(set) => self.out.push_str(&format!(" {{ {} }}", setting(set))),
                None => self.out.push_str(" {}"),
            }
            self.end_line(s.span);
            return;
        }
        self.block_open(s.span, header);
        for set in &s.settings {
            self.element_gap(set.span);
            self.start_line(set.span, 1, true);
            self.out.push_str(&setting(set));
            self.end_line(set.span);
        }
        self.block_close(s.span);
    }

    /// Keeps one blank line between elements of a block where the source had one.
    fn element_gap(&mut self, span: Span) {
        if !self.at_block_start() && self.blank_before(self.leading_start(span.start)) {
            self.out.push('\n');
        }
    }

    fn table(&mut self, t: &Table) {
        let header = format!(
            "table {}: {} {} {}",
            ident(&t.name.name),
            table_ref(&t.left),
            t.arrow.dir.arrow(),
            table_ref(&t.right)
        );
        self.block_open(t.span, header);
        let widths = self.field_runs(&t.items);
        for (item, width) in t.items.iter().zip(widths) {
            self.element_gap(item.span());
            self.start_line(item.span(), 1, true);
            let line = match item {
                TableItem::Field(f) => field(f, width),
                other => table_setting(other),
            };
            self.out.push_str(&line);
            self.end_line(item.span());
        }
        self.block_close(t.span);
    }

    /// For each table item, the (left width, arrow width) its run of field mappings aligns to.
    /// A run ends at a blank line, a comment line or any other kind of item.
    fn field_runs(&self, items: &[TableItem]) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0); items.len()];
        let mut start = 0;
        while start < items.len() {
            let mut end = start;
            while end < items.len() && matches!(items[end], TableItem::Field(_)) {
                if end > start && self.breaks_run(items[end - 1].span(), items[end].span()) {
                    break;
                }
                end += 1;
            }
            if end == start {
                start += 1;
                continue;
            }
            let fields: Vec<&FieldMap> = items[start..end]
                .iter()
                .filter_map(|i| {
                    if let TableItem::Field(f) = i {
                        Some(f)
                    } else {
                        None
                    }
                })
                .collect();
            // A long computed left side would push every arrow far right; it stands alone.
            let aligned = |f: &FieldMap| expr(&f.left).chars().count() <= ALIGN_LIMIT;
            let left = fields
                .iter()
                .filter(|f| aligned(f))
                .map(|f| expr(&f.left).chars().count())
                .max()
                .unwrap_or(0);
            let arrow = fields
                .iter()
                .map(|f| f.arrow.dir.arrow().len())
                .max()
                .unwrap_or(2);
            for (slot, f) in out[start..end].iter_mut().zip(&fields) {
                *slot = if aligned(f) { (left, arrow) } else { (0, 0) };
            }
            start = end;
        }
        out
    }

    /// A blank line ends a run of aligned field mappings; comment lines do not.
    fn breaks_run(&self, prev: Span, next: Span) -> bool {
        let gap = self
            .text
            .get(prev.end as usize..next.start as usize)
            .unwrap_or("");
        let lines: Vec<&str> = gap.split('\n').collect();
        lines.len() > 2
            && lines[1..lines.len() - 1]
                .iter()
                .any(|l| l.trim().is_empty())
    }

    fn value_map(&mut self, m: &ValueMap) {
        self.block_open(m.span, format!("map {}", ident(&m.name.name)));
        let width = m
            .body
            .arms
            .iter()
            .map(|a| pattern(a).chars().count())
            .max()
            .unwrap_or(0);
        for arm in &m.body.arms {
            self.element_gap(arm.span);
            self.start_line(arm.span, 1, true);
            let pat = pattern(arm);
            let pad = width - pat.chars().count();
            self.out.push_str(&format!(
                "{pat}{} => {},",
                " ".repeat(pad),
                literal(&arm.value.kind)
            ));
            self.end_line(arm.span);
        }
        self.block_close(m.span);
    }

    fn function(&mut self, f: &Function) {
        let params: Vec<String> = f
            .params
            .iter()
            .map(|p| format!("{}: {}", ident(&p.name.name), ident(&p.ty.name)))
            .collect();
        let mut header = format!("fn {}({})", ident(&f.name.name), params.join(", "));
        if let Some(r) = &f.ret {
            header.push_str(&format!(" -> {}", ident(&r.name)));
        }
        self.block_open(f.span, header);
        self.start_line(f.body.span, 1, true);
        self.out.push_str(&expr(&f.body));
        self.end_line(f.body.span);
        self.block_close(f.span);
    }

    fn test(&mut self, t: &Test) {
        let mut header = format!("test {}", ident(&t.table.name));
        if let Some(d) = &t.description {
            header.push(' ');
            header.push_str(&string(&d.value));
        }
        self.block_open(t.span, header);
        for step in &t.steps {
            let span = match step {
                TestStep::Given { span, .. }
                | TestStep::Couple { span, .. }
                | TestStep::Expect { span, .. } => *span,
            };
            self.element_gap(span);
            self.start_line(span, 1, true);
            let text = match step {
                TestStep::Given { side, record, .. } => {
                    let lead = format!("given {} ", ident(&side.name));
                    let body = record_text(record, &lead);
                    format!("{lead}{body}")
                }
                TestStep::Couple {
                    table, left, right, ..
                } => format!(
                    "couple {} {} <-> {}",
                    ident(&table.name),
                    literal(&left.kind),
                    literal(&right.kind)
                ),
                TestStep::Expect { expect, .. } => match expect {
                    Expectation::Filtered => "expect filtered".to_string(),
                    Expectation::Fails => "expect fails".to_string(),
                    Expectation::Record {
                        side,
                        on_update,
                        record,
                    } => {
                        let upd = if *on_update { " on update" } else { "" };
                        let lead = format!("expect {}{upd} ", ident(&side.name));
                        let body = record_text(record, &lead);
                        format!("{lead}{body}")
                    }
                },
            };
            self.out.push_str(&text);
            self.end_line(span);
        }
        self.block_close(t.span);
    }
}

fn setting(s: &Setting) -> String {
    // `modified_on.orders`: a setting about one table keeps its dot outside the quotes.
    let key = match s.key.name.split_once('.') {
        Some((name, table)) => format!("{}.{}", ident(name), ident(table)),
        None => ident(&s.key.name),
    };
    format!("{key} = {}", string(&s.value.value))
}

fn table_ref(t: &TableRef) -> String {
    format!("{}.{}", ident(&t.system.name), ident(&t.table.name))
}

fn table_setting(item: &TableItem) -> String {
    match item {
        TableItem::Filter(f) => format!("filter {}: {}", ident(&f.side.name), expr(&f.expr)),
        TableItem::Match(m) => {
            let terms: Vec<String> = m
                .terms
                .iter()
                .map(|t| format!("{} == {}", ident(&t.left.name), ident(&t.right.name)))
                .collect();
            format!("match {}{}", terms.join(" and "), modifiers(&m.modifiers))
        }
        TableItem::Create(c) => {
            let sides: Vec<String> = c.sides.iter().map(|s| ident(&s.name)).collect();
            format!("create: {}", sides.join(", "))
        }
        TableItem::OnConflict(c) => match &c.rule {
            ConflictRule::Prefer(side) => format!("on conflict: prefer {}", ident(&side.name)),
            ConflictRule::Newest => "on conflict: newest".into(),
            ConflictRule::Fail => "on conflict: fail".into(),
        },
        TableItem::OnDelete(d) => format!("on delete: {}", d.rule.keyword()),
        TableItem::OnlyCoupled(o) => format!("only coupled: {}", o.value),
        TableItem::After(a) => {
            let names: Vec<String> = a.tables.iter().map(|t| ident(&t.name)).collect();
            format!("after {}", names.join(", "))
        }
        TableItem::Field(f) => field(f, (0, 0)),
    }
}

fn field(f: &FieldMap, (left_width, arrow_width): (usize, usize)) -> String {
    let left = expr(&f.left);
    let pad = left_width.saturating_sub(left.chars().count());
    let arrow = f.arrow.dir.arrow();
    let arrow_pad = arrow_width.saturating_sub(arrow.len());
    let mut line = format!(
        "{left}{} {}{arrow} {}",
        " ".repeat(pad),
        " ".repeat(arrow_pad),
        expr(&f.right)
    );
    match &f.transform {
        Some(Transform::Via { table, column, .. }) => {
            line.push_str(&format!(" via {}", ident(&table.name)));
            if let Some(c) = column {
                line.push_str(&format!(".{}", ident(&c.name)));
            }
        }
        Some(Transform::UsingMap(m)) => line.push_str(&format!(" using {}", ident(&m.name))),
        Some(Transform::UsingInline(body)) => {
            let arms: Vec<String> = body
                .arms
                .iter()
                .map(|a| format!("{} => {}", pattern(a), literal(&a.value.kind)))
                .collect();
            line.push_str(&format!(" using {{ {} }}", arms.join(", ")));
        }
        None => {}
    }
    line.push_str(&modifiers(&f.modifiers));
    line
}

fn modifiers(mods: &[Modifier]) -> String {
    if mods.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = mods.iter().map(|m| m.kind.text()).collect();
    format!(" [{}]", names.join(", "))
}

fn pattern(arm: &MapArm) -> String {
    arm.pattern
        .as_ref()
        .map_or("_".to_string(), |p| literal(&p.kind))
}

fn job(j: &Job) -> String {
    let mode = match j.mode {
        SyncMode::Full => "full",
        SyncMode::Modified => "modified",
    };
    let mut s = format!("job {} {{ sync {mode}", ident(&j.name.name));
    if !j.tables.is_empty() {
        // `every`, `idle` and `at` would start the timing clauses: keep them quoted.
        let names: Vec<String> = j
            .tables
            .iter()
            .map(|t| match t.name.as_str() {
                n @ ("every" | "idle" | "at") => format!("`{n}`"),
                n => ident(n),
            })
            .collect();
        s.push(' ');
        s.push_str(&names.join(", "));
    }
    if let Some(d) = j.every {
        s.push_str(&format!(" every {}", duration(d.seconds)));
    }
    if let Some(d) = j.idle {
        s.push_str(&format!(" idle {}", duration(d.seconds)));
    }
    if let Some(t) = j.at {
        s.push_str(&format!(" at {:02}:{:02}", t.minutes / 60, t.minutes % 60));
    }
    s.push_str(" }");
    s
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

fn record_text(r: &Record, lead: &str) -> String {
    let fields: Vec<String> = r
        .fields
        .iter()
        .map(|(n, v)| format!("{}: {}", ident(&n.name), literal(&v.kind)))
        .collect();
    if fields.is_empty() {
        return "{}".into();
    }
    let one_line = format!("{{ {} }}", fields.join(", "));
    if INDENT.len() + lead.len() + one_line.len() <= RECORD_WIDTH {
        return one_line;
    }
    let mut s = String::from("{\n");
    for f in fields {
        s.push_str(&format!("{INDENT}{INDENT}{f},\n"));
    }
    s.push_str(INDENT);
    s.push('}');
    s
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
