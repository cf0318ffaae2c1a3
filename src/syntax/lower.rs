//! Pairs → syntax tree. Literal checks that the grammar leaves open (escapes, number ranges,
//! dates, durations, repeated clauses) are made here, and every problem is collected.

use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::sync::OnceLock;

use super::ast::*;
use super::parser::Rule;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::FileId;

struct Lower {
    file: FileId,
    diags: Diagnostics,
}

/// The span of a pair without the whitespace and comments pest lets trail into it when an
/// optional or repeated part at its end did not match: the end of its last token.
fn span(p: &Pair<'_, Rule>) -> Span {
    Span::new(p.as_span().start(), real_end(p))
}

fn real_end(p: &Pair<'_, Rule>) -> usize {
    if p.as_rule() == Rule::string {
        return p.as_span().end();
    }
    match p.clone().into_inner().last() {
        Some(last) => real_end(&last),
        None => p.as_span().end(),
    }
}

/// Whether a rule is a keyword or punctuation token that carries no content of its own.
fn is_token(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        kw_import
            | kw_system
            | kw_table
            | kw_filter
            | kw_match
            | kw_create
            | kw_update
            | kw_only
            | kw_clear
            | kw_failure
            | kw_truncate
            | kw_case
            | kw_sensitive
            | kw_on
            | kw_conflict
            | kw_delete
            | kw_prefer
            | kw_coupled
            | kw_after
            | kw_via
            | kw_using
            | kw_map
            | kw_fn
            | kw_job
            | kw_sync
            | kw_every
            | kw_idle
            | kw_at
            | kw_test
            | kw_given
            | kw_couple
            | kw_expect
            | kw_if
            | kw_then
            | kw_else
            | colon
            | comma
            | dot
            | assign
            | lbrace
            | rbrace
            | lparen
            | rparen
            | lbracket
            | rbracket
            | fat_arrow
            | EOI
    )
}

/// The children of a pair that carry content.
fn content<'i>(p: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    p.into_inner().filter(|c| !is_token(c.as_rule()))
}

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::coalesce, Assoc::Right))
            .op(Op::infix(Rule::kw_or, Assoc::Left))
            .op(Op::infix(Rule::kw_and, Assoc::Left))
            .op(Op::prefix(Rule::kw_not))
            .op(Op::infix(Rule::eq, Assoc::Left)
                | Op::infix(Rule::ne, Assoc::Left)
                | Op::infix(Rule::lt, Assoc::Left)
                | Op::infix(Rule::le, Assoc::Left)
                | Op::infix(Rule::gt, Assoc::Left)
                | Op::infix(Rule::ge, Assoc::Left))
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left)
                | Op::infix(Rule::div, Assoc::Left)
                | Op::infix(Rule::rem, Assoc::Left))
            .op(Op::prefix(Rule::neg))
    })
}

/// Lowers the `file` pair of one source. Malformed literals are reported and replaced, so the
/// tree is complete even when there are diagnostics.
pub(crate) fn lower_file(file: FileId, pair: Pair<'_, Rule>) -> (File, Diagnostics) {
    let mut l = Lower {
        file,
        diags: Diagnostics::new(),
    };
    let items = content(pair).filter_map(|p| l.item(p)).collect();
    l.diags.sort();
    (File { items }, l.diags)
}

impl Lower {
    fn error(
        &mut self,
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: &str,
        help: Option<&str>,
    ) {
        let mut d = Diagnostic::new(code, self.file, span, message).label(label);
        if let Some(h) = help {
            d = d.help(h);
        }
        self.diags.push(d);
    }

    fn item(&mut self, p: Pair<'_, Rule>) -> Option<Item> {
        Some(match p.as_rule() {
            Rule::import => {
                let s = span(&p);
                let path = self.string(content(p).next()?);
                Item::Import(Import { path, span: s })
            }
            Rule::system => Item::System(self.system(p)?),
            Rule::table => Item::Table(self.table(p)?),
            Rule::value_map => {
                let s = span(&p);
                let mut it = content(p);
                let name = self.ident(it.next()?);
                let body = self.map_body(it.next()?);
                Item::ValueMap(ValueMap {
                    name,
                    body,
                    span: s,
                })
            }
            Rule::function => Item::Function(self.function(p)?),
            Rule::job => Item::Job(self.job(p)?),
            Rule::test => Item::Test(self.test(p)?),
            _ => return None,
        })
    }

    fn ident(&mut self, p: Pair<'_, Rule>) -> Ident {
        let text = p.as_str();
        let name = text
            .strip_prefix('`')
            .and_then(|t| t.strip_suffix('`'))
            .unwrap_or(text);
        Ident {
            name: name.to_string(),
            span: span(&p),
        }
    }

    /// A setting's name as one identifier; `modified_on.orders` keeps its dot.
    fn setting_key(&mut self, p: Pair<'_, Rule>) -> Ident {
        let s = span(&p);
        let parts: Vec<String> = content(p).map(|i| self.ident(i).name).collect();
        Ident {
            name: parts.join("."),
            span: s,
        }
    }

    fn string(&mut self, p: Pair<'_, Rule>) -> StrLit {
        let s = span(&p);
        let inner = p.into_inner().next();
        let (raw, start) = match &inner {
            Some(i) => (i.as_str(), i.as_span().start()),
            None => ("", s.start as usize + 1),
        };
        let value = self.unescape(raw, start);
        StrLit { value, span: s }
    }

    /// Decodes `\"`, `\\`, `\n`, `\r`, `\t` and `\u{…}`; reports anything else at its position.
    fn unescape(&mut self, raw: &str, start: usize) -> String {
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((j, e)) = chars.next() else { break };
            match e {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let rest = &raw[j + 1..];
                    let decoded = rest
                        .strip_prefix('{')
                        .and_then(|r| r.find('}').map(|end| &r[..end]))
                        .filter(|hex| !hex.is_empty() && hex.len() <= 6)
                        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                        .and_then(char::from_u32);
                    match decoded {
                        Some(ch) => {
                            out.push(ch);
                            let consumed = rest.find('}').map_or(0, |e| e + 1);
                            while chars.peek().is_some_and(|(k, _)| *k <= j + consumed) {
                                chars.next();
                            }
                        }
                        None => self.error(
                            Code::E0102,
                            Span::new(start + i, start + j + 1),
                            "invalid unicode escape",
                            "not a code point",
                            Some("write a code point as `\\u{1F600}` (1 to 6 hex digits)"),
                        ),
                    }
                }
                other => self.error(
                    Code::E0102,
                    Span::new(start + i, start + j + other.len_utf8()),
                    format!("unknown escape `\\{other}`"),
                    "not an escape",
                    Some("the escapes are `\\\"`, `\\\\`, `\\n`, `\\r`, `\\t` and `\\u{…}`"),
                ),
            }
        }
        out
    }

    fn system(&mut self, p: Pair<'_, Rule>) -> Option<System> {
        let s = span(&p);
        let mut it = content(p);
        let name = self.ident(it.next()?);
        let kind = self.ident(it.next()?);
        let mut settings = Vec::new();
        for sp in it {
            let ss = span(&sp);
            let mut parts = content(sp);
            let key = self.setting_key(parts.next()?);
            let value = self.string(parts.next()?);
            if let Some(prev) = settings.iter().find(|x: &&Setting| x.key.name == key.name) {
                let d = Diagnostic::new(
                    Code::E0105,
                    self.file,
                    key.span,
                    format!("setting `{}` is given twice", key.name),
                )
                .label("given again here")
                .with(self.file, prev.key.span, "first given here")
                .help("remove one of them");
                self.diags.push(d);
            }
            settings.push(Setting {
                key,
                value,
                span: ss,
            });
        }
        Some(System {
            name,
            kind,
            settings,
            span: s,
        })
    }

    fn table_ref(&mut self, p: Pair<'_, Rule>) -> Option<TableRef> {
        let s = span(&p);
        let mut it = content(p);
        let system = self.ident(it.next()?);
        let table = self.ident(it.next()?);
        Some(TableRef {
            system,
            table,
            span: s,
        })
    }

    fn arrow(&mut self, p: Pair<'_, Rule>) -> Arrow {
        let s = span(&p);
        let dir = match p.into_inner().next().map(|c| c.as_rule()) {
            Some(Rule::to_right) => Direction::ToRight,
            Some(Rule::to_left) => Direction::ToLeft,
            _ => Direction::Both,
        };
        Arrow { dir, span: s }
    }

    fn table(&mut self, p: Pair<'_, Rule>) -> Option<Table> {
        let s = span(&p);
        let mut it = content(p);
        let name = self.ident(it.next()?);
        let left = self.table_ref(it.next()?)?;
        let arrow = self.arrow(it.next()?);
        let right = self.table_ref(it.next()?)?;
        let items: Vec<TableItem> = it.filter_map(|c| self.table_item(c)).collect();
        self.check_single_settings(&items);
        Some(Table {
            name,
            left,
            arrow,
            right,
            items,
            span: s,
        })
    }

    /// `on conflict`, `on delete`, `only coupled` and `create` may each appear once.
    fn check_single_settings(&mut self, items: &[TableItem]) {
        let key = |i: &TableItem| match i {
            TableItem::OnConflict(_) => Some("on conflict"),
            TableItem::OnDelete(_) => Some("on delete"),
            TableItem::OnlyCoupled(_) => Some("only coupled"),
            TableItem::Create(_) => Some("create"),
            _ => None,
        };
        for (n, item) in items.iter().enumerate() {
            let Some(k) = key(item) else { continue };
            if let Some(first) = items[..n].iter().find(|i| key(i) == Some(k)) {
                let d = Diagnostic::new(
                    Code::E0105,
                    self.file,
                    item.span(),
                    format!("`{k}` is given twice in one table mapping"),
                )
                .label("given again here")
                .with(self.file, first.span(), "first given here")
                .help("keep one of them");
                self.diags.push(d);
            }
        }
    }

    fn table_item(&mut self, p: Pair<'_, Rule>) -> Option<TableItem> {
        let s = span(&p);
        Some(match p.as_rule() {
            Rule::filter => {
                let mut it = content(p);
                let side = self.ident(it.next()?);
                let expr = self.expr(it.next()?);
                TableItem::Filter(Filter {
                    side,
                    expr,
                    span: s,
                })
            }
            Rule::match_rule => {
                let mut terms = Vec::new();
                let mut modifiers = Vec::new();
                for c in content(p) {
                    match c.as_rule() {
                        Rule::match_term => {
                            let ts = span(&c);
                            let mut t = content(c).filter(|x| x.as_rule() == Rule::ident);
                            let left = self.ident(t.next()?);
                            let right = self.ident(t.next()?);
                            terms.push(MatchTerm {
                                left,
                                right,
                                span: ts,
                            });
                        }
                        Rule::modifiers => modifiers = self.modifiers(c),
                        _ => {}
                    }
                }
                TableItem::Match(MatchRule {
                    terms,
                    modifiers,
                    span: s,
                })
            }
            Rule::create => {
                let sides = content(p).map(|c| self.ident(c)).collect();
                TableItem::Create(Create { sides, span: s })
            }
            Rule::on_conflict => {
                let rule_pair = content(p).next()?;
                let mut parts = rule_pair.into_inner();
                let first = parts.next()?;
                let rule = match first.as_rule() {
                    Rule::kw_prefer => ConflictRule::Prefer(self.ident(parts.next()?)),
                    Rule::kw_newest => ConflictRule::Newest,
                    _ => ConflictRule::Fail,
                };
                TableItem::OnConflict(OnConflict { rule, span: s })
            }
            Rule::on_delete => {
                let rule_pair = content(p).next()?;
                let rule = match rule_pair.into_inner().next()?.as_rule() {
                    Rule::kw_uncouple => DeleteRule::Uncouple,
                    Rule::kw_restore => DeleteRule::Restore,
                    Rule::kw_propagate => DeleteRule::Propagate,
                    _ => DeleteRule::Fail,
                };
                TableItem::OnDelete(OnDelete { rule, span: s })
            }
            Rule::only_coupled => {
                let b = content(p).next()?;
                let value = b.as_str() == "true";
                TableItem::OnlyCoupled(OnlyCoupled { value, span: s })
            }
            Rule::after => {
                let tables = content(p).map(|c| self.ident(c)).collect();
                TableItem::After(After { tables, span: s })
            }
            Rule::field_map => TableItem::Field(self.field_map(p)?),
            _ => return None,
        })
    }

    fn field_map(&mut self, p: Pair<'_, Rule>) -> Option<FieldMap> {
        let s = span(&p);
        let mut it = content(p);
        let left = self.expr(it.next()?);
        let arrow = self.arrow(it.next()?);
        let right = self.expr(it.next()?);
        let mut transform = None;
        let mut modifiers = Vec::new();
        for c in it {
            match c.as_rule() {
                Rule::transform => transform = self.transform(c),
                Rule::modifiers => modifiers = self.modifiers(c),
                _ => {}
            }
        }
        Some(FieldMap {
            left,
            arrow,
            right,
            transform,
            modifiers,
            span: s,
        })
    }

    fn transform(&mut self, p: Pair<'_, Rule>) -> Option<Transform> {
        let inner = content(p).next()?;
        let s = span(&inner);
        match inner.as_rule() {
            Rule::via => {
                let mut it = content(inner);
                let table = self.ident(it.next()?);
                let column = it.next().map(|c| self.ident(c));
                Some(Transform::Via {
                    table,
                    column,
                    span: s,
                })
            }
            _ => {
                let target = content(inner).next()?;
                if target.as_rule() == Rule::map_body {
                    Some(Transform::UsingInline(self.map_body(target)))
                } else {
                    Some(Transform::UsingMap(self.ident(target)))
                }
            }
        }
    }

    fn modifiers(&mut self, p: Pair<'_, Rule>) -> Vec<Modifier> {
        let mut out: Vec<Modifier> = Vec::new();
        for m in content(p) {
            let s = span(&m);
            let kind = match m.into_inner().next().map(|k| k.as_rule()) {
                Some(Rule::mod_create_only) => ModifierKind::CreateOnly,
                Some(Rule::mod_update_only) => ModifierKind::UpdateOnly,
                Some(Rule::mod_clear_on_failure) => ModifierKind::ClearOnFailure,
                Some(Rule::mod_not_null) => ModifierKind::NotNull,
                Some(Rule::mod_truncate) => ModifierKind::Truncate,
                _ => ModifierKind::CaseSensitive,
            };
            if let Some(prev) = out.iter().find(|x| x.kind == kind) {
                let d = Diagnostic::new(
                    Code::E0105,
                    self.file,
                    s,
                    format!("modifier `{}` is given twice", kind.text()),
                )
                .label("given again here")
                .with(self.file, prev.span, "first given here")
                .help("remove the repeated modifier");
                self.diags.push(d);
                continue;
            }
            out.push(Modifier { kind, span: s });
        }
        out
    }

    fn map_body(&mut self, p: Pair<'_, Rule>) -> MapBody {
        let s = span(&p);
        let mut arms = Vec::new();
        for arm in content(p) {
            let arm_span = span(&arm);
            let mut it = content(arm);
            let (Some(pat), Some(val)) = (it.next(), it.next()) else {
                continue;
            };
            let pattern = match pat.into_inner().next() {
                Some(x) if x.as_rule() == Rule::literal => Some(self.literal(x)),
                _ => None,
            };
            let value = self.literal(val);
            arms.push(MapArm {
                pattern,
                value,
                span: arm_span,
            });
        }
        MapBody { arms, span: s }
    }

    fn function(&mut self, p: Pair<'_, Rule>) -> Option<Function> {
        let s = span(&p);
        let mut name = None;
        let mut params = Vec::new();
        let mut ret = None;
        let mut body = None;
        for c in content(p) {
            match c.as_rule() {
                Rule::ident => name = Some(self.ident(c)),
                Rule::params => {
                    for param in content(c) {
                        let mut it = content(param);
                        let (Some(n), Some(t)) = (it.next(), it.next()) else {
                            continue;
                        };
                        let pname = self.ident(n);
                        let ty = self.ident(t.into_inner().next()?);
                        params.push(Param { name: pname, ty });
                    }
                }
                Rule::type_name => ret = Some(self.ident(c.into_inner().next()?)),
                Rule::expr => body = Some(self.expr(c)),
                _ => {}
            }
        }
        Some(Function {
            name: name?,
            params,
            ret,
            body: body?,
            span: s,
        })
    }

    fn job(&mut self, p: Pair<'_, Rule>) -> Option<Job> {
        let s = span(&p);
        let mut it = content(p);
        let name = self.ident(it.next()?);
        let sync = it.next()?;
        let mut job = Job {
            name,
            mode: SyncMode::Modified,
            tables: Vec::new(),
            every: None,
            idle: None,
            at: None,
            span: s,
        };
        let mut seen: Vec<(&'static str, Span)> = Vec::new();
        for c in content(sync) {
            let cs = span(&c);
            let clause = match c.as_rule() {
                Rule::sync_mode => {
                    let full = c
                        .into_inner()
                        .next()
                        .is_some_and(|k| k.as_rule() == Rule::kw_full);
                    job.mode = if full {
                        SyncMode::Full
                    } else {
                        SyncMode::Modified
                    };
                    continue;
                }
                Rule::ident => {
                    let t = self.ident(c);
                    job.tables.push(t);
                    continue;
                }
                Rule::every => {
                    job.every = self.duration(content(c).next()?);
                    "every"
                }
                Rule::idle => {
                    job.idle = self.duration(content(c).next()?);
                    "idle"
                }
                Rule::at_time => {
                    job.at = self.time_of_day(content(c).next()?);
                    "at"
                }
                _ => continue,
            };
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == clause) {
                let d = Diagnostic::new(
                    Code::E0105,
                    self.file,
                    cs,
                    format!("`{clause}` is given twice in one job"),
                )
                .label("given again here")
                .with(self.file, *first, "first given here")
                .help("a job has at most one `every`, one `idle` and one `at`");
                self.diags.push(d);
            }
            seen.push((clause, cs));
        }
        Some(job)
    }

    fn duration(&mut self, p: Pair<'_, Rule>) -> Option<DurationLit> {
        let s = span(&p);
        let text = p.as_str();
        let mut total: u64 = 0;
        let mut number = String::new();
        for ch in text.chars() {
            if ch.is_ascii_digit() {
                number.push(ch);
                continue;
            }
            let unit = match ch {
                'd' => 86_400,
                'h' => 3_600,
                'm' => 60,
                _ => 1,
            };
            let n: Option<u64> = number.parse().ok();
            number.clear();
            match n
                .and_then(|n| n.checked_mul(unit))
                .and_then(|v| total.checked_add(v))
            {
                Some(t) => total = t,
                None => {
                    self.error(
                        Code::E0104,
                        s,
                        "duration is too long",
                        "too long",
                        Some("write a duration in days, such as `30d`"),
                    );
                    return None;
                }
            }
        }
        if total == 0 {
            self.error(
                Code::E0104,
                s,
                "a duration must be longer than zero",
                "zero",
                Some("write a positive duration such as `30m` or `1h30m`"),
            );
            return None;
        }
        Some(DurationLit {
            seconds: total,
            span: s,
        })
    }

    fn time_of_day(&mut self, p: Pair<'_, Rule>) -> Option<TimeOfDay> {
        let s = span(&p);
        let (h, m) = p.as_str().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        if h > 23 || m > 59 {
            self.error(
                Code::E0104,
                s,
                format!("`{}` is not a time of day", p.as_str()),
                "not a time of day",
                Some("use a 24-hour time from `00:00` to `23:59`"),
            );
            return None;
        }
        Some(TimeOfDay {
            minutes: h * 60 + m,
            span: s,
        })
    }

    fn test(&mut self, p: Pair<'_, Rule>) -> Option<Test> {
        let s = span(&p);
        let mut table = None;
        let mut description = None;
        let mut steps = Vec::new();
        for c in content(p) {
            let cs = span(&c);
            match c.as_rule() {
                Rule::ident => table = Some(self.ident(c)),
                Rule::string => description = Some(self.string(c)),
                Rule::given => {
                    let mut it = content(c);
                    let side = self.ident(it.next()?);
                    let record = self.record(it.next()?);
                    steps.push(TestStep::Given {
                        side,
                        record,
                        span: cs,
                    });
                }
                Rule::couple => {
                    let mut it = content(c).filter(|x| x.as_rule() != Rule::both_ways);
                    let table = self.ident(it.next()?);
                    let left = self.literal(it.next()?);
                    let right = self.literal(it.next()?);
                    steps.push(TestStep::Couple {
                        table,
                        left,
                        right,
                        span: cs,
                    });
                }
                Rule::expect => {
                    let mut side = None;
                    let mut on_update = false;
                    let mut expect = None;
                    for e in c.into_inner() {
                        match e.as_rule() {
                            Rule::kw_filtered => expect = Some(Expectation::Filtered),
                            Rule::kw_fails => expect = Some(Expectation::Fails),
                            Rule::ident => side = Some(self.ident(e)),
                            Rule::on_update => on_update = true,
                            Rule::record => {
                                let record = self.record(e);
                                expect = Some(Expectation::Record {
                                    side: side.clone()?,
                                    on_update,
                                    record,
                                });
                            }
                            _ => {}
                        }
                    }
                    steps.push(TestStep::Expect {
                        expect: expect?,
                        span: cs,
                    });
                }
                _ => {}
            }
        }
        Some(Test {
            table: table?,
            description,
            steps,
            span: s,
        })
    }

    fn record(&mut self, p: Pair<'_, Rule>) -> Record {
        let s = span(&p);
        let mut fields = Vec::new();
        for f in content(p) {
            let mut it = content(f);
            if let (Some(n), Some(v)) = (it.next(), it.next()) {
                let name = self.ident(n);
                let value = self.literal(v);
                fields.push((name, value));
            }
        }
        Record { fields, span: s }
    }

    fn literal(&mut self, p: Pair<'_, Rule>) -> Literal {
        let s = span(&p);
        let inner = if p.as_rule() == Rule::literal {
            p.into_inner().next()
        } else {
            Some(p)
        };
        let kind = match inner {
            Some(i) => self.lit_kind(i),
            None => LitKind::Null,
        };
        Literal { kind, span: s }
    }

    fn lit_kind(&mut self, p: Pair<'_, Rule>) -> LitKind {
        let s = span(&p);
        let text = p.as_str();
        match p.as_rule() {
            Rule::string => LitKind::String(self.string(p).value),
            Rule::number if text.contains('.') => LitKind::Decimal(text.to_string()),
            Rule::number => match text.parse::<i64>() {
                Ok(n) => LitKind::Int(n),
                Err(_) => {
                    self.error(
                        Code::E0103,
                        s,
                        format!("`{text}` does not fit in a 64-bit integer"),
                        "out of range",
                        Some("write it as a decimal (`…0.0`) or a string"),
                    );
                    LitKind::Int(0)
                }
            },
            Rule::boolean => LitKind::Bool(text == "true"),
            Rule::date => {
                let body = &text[1..];
                if body.parse::<jiff::civil::Date>().is_err() {
                    self.error(
                        Code::E0104,
                        s,
                        format!("`{text}` is not a valid date"),
                        "no such date",
                        Some("dates are written `@YYYY-MM-DD`, e.g. `@2024-02-29`"),
                    );
                }
                LitKind::Date(body.to_string())
            }
            Rule::datetime => {
                let body = &text[1..];
                let with_seconds = if body.len() >= 16 && body.as_bytes().get(16) != Some(&b':') {
                    format!("{}:00{}", &body[..16], &body[16..])
                } else {
                    body.to_string()
                };
                if with_seconds.parse::<jiff::Timestamp>().is_err() {
                    self.error(
                        Code::E0104,
                        s,
                        format!("`{text}` is not a valid date and time"),
                        "no such date and time",
                        Some("write `@YYYY-MM-DDTHH:MM:SSZ` or with an offset such as `+02:00`"),
                    );
                }
                LitKind::DateTime(body.to_string())
            }
            _ => LitKind::Null,
        }
    }

    fn expr(&mut self, p: Pair<'_, Rule>) -> Expr {
        let pairs = p.into_inner();
        // The closures below cannot borrow `self` mutably at once, so literal problems are
        // gathered in a local list and merged after the walk.
        let file = self.file;
        let cell = std::cell::RefCell::new(std::mem::take(&mut self.diags));
        let result = pratt()
            .map_primary(|prim| {
                let mut sub = Lower {
                    file,
                    diags: Diagnostics::new(),
                };
                let e = sub.primary(prim);
                cell.borrow_mut().extend(sub.diags);
                e
            })
            .map_prefix(|op, rhs| {
                let op_span = span(&op);
                let op = if op.as_rule() == Rule::neg {
                    UnaryOp::Neg
                } else {
                    UnaryOp::Not
                };
                let s = op_span.to(rhs.span);
                Expr {
                    kind: ExprKind::Unary {
                        op,
                        expr: Box::new(rhs),
                    },
                    span: s,
                }
            })
            .map_infix(|lhs, op, rhs| {
                let op_span = span(&op);
                let op = binary_op(op.as_rule());
                let s = lhs.span.to(rhs.span);
                Expr {
                    kind: ExprKind::Binary {
                        op,
                        op_span,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                    span: s,
                }
            })
            .parse(pairs);
        self.diags = cell.into_inner();
        result
    }

    fn primary(&mut self, p: Pair<'_, Rule>) -> Expr {
        let s = span(&p);
        let kind = match p.as_rule() {
            Rule::literal => {
                let lit = self.literal(p);
                return Expr {
                    kind: ExprKind::Lit(lit.kind),
                    span: s,
                };
            }
            Rule::column => {
                let id = match p.into_inner().next() {
                    Some(i) => self.ident(i),
                    None => Ident {
                        name: String::new(),
                        span: s,
                    },
                };
                ExprKind::Column(id.name)
            }
            Rule::paren => match content(p).next() {
                Some(inner) => {
                    let mut e = self.expr(inner);
                    // Keep the parentheses in the span so labels cover what the user wrote.
                    e.span = s;
                    return e;
                }
                None => ExprKind::Lit(LitKind::Null),
            },
            Rule::call => {
                let mut it = content(p);
                let name = match it.next() {
                    Some(n) => self.ident(n),
                    None => Ident {
                        name: String::new(),
                        span: s,
                    },
                };
                let args = it.map(|a| self.expr(a)).collect();
                ExprKind::Call { name, args }
            }
            Rule::if_expr => {
                let mut it = content(p).map(|c| self.expr(c));
                match (it.next(), it.next(), it.next()) {
                    (Some(c), Some(t), Some(o)) => ExprKind::If {
                        cond: Box::new(c),
                        then: Box::new(t),
                        otherwise: Box::new(o),
                    },
                    _ => ExprKind::Lit(LitKind::Null),
                }
            }
            _ => ExprKind::Lit(LitKind::Null),
        };
        Expr { kind, span: s }
    }
}

fn binary_op(rule: Rule) -> BinaryOp {
    match rule {
        Rule::coalesce => BinaryOp::Coalesce,
        Rule::kw_or => BinaryOp::Or,
        Rule::kw_and => BinaryOp::And,
        Rule::eq => BinaryOp::Eq,
        Rule::ne => BinaryOp::Ne,
        Rule::lt => BinaryOp::Lt,
        Rule::le => BinaryOp::Le,
        Rule::gt => BinaryOp::Gt,
        Rule::ge => BinaryOp::Ge,
        Rule::add => BinaryOp::Add,
        Rule::sub => BinaryOp::Sub,
        Rule::mul => BinaryOp::Mul,
        Rule::div => BinaryOp::Div,
        _ => BinaryOp::Rem,
    }
}
