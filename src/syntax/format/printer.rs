//! The printer: lays out items, blocks and their elements, carrying every comment of the source
//! to its place, keeping single blank lines, and aligning the arrows of runs of field mappings.

use super::lines::{field, job, pattern, record_text, setting, table_ref, table_setting};
use super::{expr, ident, literal, string, INDENT};
use crate::syntax::ast::*;
use crate::syntax::comments::{comments, Comment};

/// Left sides of field mappings longer than this are not aligned with their neighbours.
const ALIGN_LIMIT: usize = 32;

/// Prints a parsed file through a printer over its source.
pub(super) fn print(text: &str, file: &File) -> String {
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

/// The text printed so far, and the source's comments still to place.
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
            self.comment_line(&c, depth);
        }
    }

    /// Prints the next comment on a line of its own at `depth`, after a blank line when the
    /// source had one there, and moves past it.
    fn comment_line(&mut self, c: &Comment, depth: usize) {
        if self.blank_before(c.span.start as usize) && !self.at_block_start() {
            self.out.push('\n');
        }
        self.indent(depth);
        self.out.push_str(&c.text);
        self.out.push('\n');
        self.last_end = c.span.end as usize;
        self.next += 1;
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
            self.comment_line(&c, depth);
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
