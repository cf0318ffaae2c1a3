//! Inline `test` blocks: the table under test, its description, and its `given`, `couple`
//! and `expect` steps with their records.

use pest::iterators::Pair;

use super::{content, span, Lower};
use crate::syntax::ast::*;
use crate::syntax::parser::Rule;

impl Lower {
    pub(super) fn test(&mut self, p: Pair<'_, Rule>) -> Option<Test> {
        let s = span(&p);
        let mut table = None;
        let mut description = None;
        let mut steps = Vec::new();
        for c in content(p) {
            let cs = span(&c);
            match c.as_rule() {
                Rule::ident => table = Some(self.ident(c)),
                Rule::string => description = Some(self.string(c)),
                Rule::given => steps.push(self.given(c, cs)?),
                Rule::couple => steps.push(self.couple(c, cs)?),
                Rule::expect => steps.push(self.expect(c, cs)?),
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

    /// `given SIDE { … }`.
    fn given(&mut self, c: Pair<'_, Rule>, cs: Span) -> Option<TestStep> {
        let mut it = content(c);
        let side = self.ident(it.next()?);
        let record = self.record(it.next()?);
        Some(TestStep::Given {
            side,
            record,
            span: cs,
        })
    }

    /// `couple TABLE left <-> right`.
    fn couple(&mut self, c: Pair<'_, Rule>, cs: Span) -> Option<TestStep> {
        let mut it = content(c).filter(|x| x.as_rule() != Rule::both_ways);
        let table = self.ident(it.next()?);
        let left = self.literal(it.next()?);
        let right = self.literal(it.next()?);
        Some(TestStep::Couple {
            table,
            left,
            right,
            span: cs,
        })
    }

    /// `expect filtered`, `expect fails`, or `expect SIDE [on update] { … }`.
    fn expect(&mut self, c: Pair<'_, Rule>, cs: Span) -> Option<TestStep> {
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
        Some(TestStep::Expect {
            expect: expect?,
            span: cs,
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
}
