//! Systems, functions and jobs, with the durations and times of day a job's schedule is
//! written in.

use pest::iterators::Pair;

use super::{content, span, Lower};
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast::*;
use crate::syntax::parser::Rule;

impl Lower {
    pub(super) fn system(&mut self, p: Pair<'_, Rule>) -> Option<System> {
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

    pub(super) fn function(&mut self, p: Pair<'_, Rule>) -> Option<Function> {
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

    pub(super) fn job(&mut self, p: Pair<'_, Rule>) -> Option<Job> {
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
            let Some(clause) = self.job_clause(c, &mut job)? else {
                continue;
            };
            if let Some(&(_, first)) = seen.iter().find(|(k, _)| *k == clause) {
                self.repeated_clause(clause, cs, first);
            }
            seen.push((clause, cs));
        }
        Some(job)
    }

    /// Reads one clause of a job's `sync` line into `job`. `None` when the clause is malformed;
    /// otherwise the name of a clause a job may give once, if it is one.
    fn job_clause(&mut self, c: Pair<'_, Rule>, job: &mut Job) -> Option<Option<&'static str>> {
        Some(Some(match c.as_rule() {
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
                return Some(None);
            }
            Rule::ident => {
                let t = self.ident(c);
                job.tables.push(t);
                return Some(None);
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
            _ => return Some(None),
        }))
    }

    /// E0105: a clause given twice in one job.
    fn repeated_clause(&mut self, clause: &str, cs: Span, first: Span) {
        let d = Diagnostic::new(
            Code::E0105,
            self.file,
            cs,
            format!("`{clause}` is given twice in one job"),
        )
        .label("given again here")
        .with(self.file, first, "first given here")
        .help("a job has at most one `every`, one `idle` and one `at`");
        self.diags.push(d);
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
}
