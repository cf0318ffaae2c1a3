//! Inline `test` blocks: which table, which source record, what is expected. Values are checked
//! against the columns' types (option labels resolve here), so a test cannot silently compare
//! the wrong thing.

use std::collections::BTreeMap;

use super::expr::literal::to_literal;
use super::types::Ty;
use super::Checker;
use crate::diagnostics::{Code, Diagnostic};
use crate::model::{self, Expected, Flow, Literal, Side, TestCase};
use crate::schema::TableSchema;
use crate::source::FileId;
use crate::syntax::ast::{self, Expectation, Span, TestStep};

/// A test's `given` step once read: the side, the record and where the step is.
type Given = Option<(Side, BTreeMap<String, Literal>, Span)>;

/// A test's `expect` step once read: what is expected, on which side, and where the step is.
type Expect = Option<(Expected, Option<Side>, Span)>;

/// The steps of a test, read in order.
struct Steps {
    given: Given,
    couplings: Vec<(String, Literal, Literal)>,
    expect: Expect,
    ok: bool,
    // Whether a `given` or `expect` step was written, even one rejected with its own error:
    // only a test without one is told to add it.
    wrote_given: bool,
    wrote_expect: bool,
}

impl<'p> Checker<'p> {
    /// Checks every test block.
    pub(super) fn check_tests(&mut self, tables: &[model::Table]) -> Vec<TestCase> {
        let mut out = Vec::new();
        let mut counters: BTreeMap<String, usize> = BTreeMap::new();
        for decl in self.tests.clone() {
            let n = counters.entry(decl.node.table.name.clone()).or_insert(0);
            *n += 1;
            let n = *n;
            if let Some(tc) = self.test(decl.file, decl.node, tables, n) {
                out.push(tc);
            }
        }
        out
    }

    fn test(
        &mut self,
        file: FileId,
        t: &ast::Test,
        tables: &[model::Table],
        n: usize,
    ) -> Option<TestCase> {
        let idx = self.resolve_table_name(file, &t.table)?;
        if self.broken_tables.contains(&t.table.name) {
            return None;
        }
        let decl = self.tables[idx].node;
        let table = tables.iter().find(|p| p.name == t.table.name)?;
        let mut steps = self.read_steps(file, t, decl, table.flow);
        let (source, given, expect, expect_span) = self.complete(file, t, &mut steps)?;
        let name = t
            .description
            .as_ref()
            .map_or_else(|| format!("{} #{n}", t.table.name), |d| d.value.clone());
        steps.ok.then_some(TestCase {
            table: t.table.name.clone(),
            name,
            file,
            span: t.span,
            source,
            given,
            couplings: steps.couplings,
            expect,
            expect_span,
        })
    }

    /// Reads the steps of a test in order, each checked against table mapping `decl`.
    fn read_steps(&mut self, file: FileId, t: &ast::Test, decl: &ast::Table, flow: Flow) -> Steps {
        let mut steps = Steps {
            given: None,
            couplings: Vec::new(),
            expect: None,
            ok: true,
            wrote_given: false,
            wrote_expect: false,
        };
        for step in &t.steps {
            match step {
                TestStep::Given { side, record, span } => {
                    self.given_step(file, t, decl, flow, side, record, *span, &mut steps)
                }
                TestStep::Couple {
                    table, left, right, ..
                } => {
                    if self.resolve_table_name(file, table).is_some() {
                        steps.couplings.push((
                            table.name.clone(),
                            guid_lower(to_literal(&left.kind)),
                            guid_lower(to_literal(&right.kind)),
                        ));
                    } else {
                        steps.ok = false;
                    }
                }
                TestStep::Expect { expect: e, span } => {
                    self.expect_step(file, decl, e, *span, &mut steps)
                }
            }
        }
        steps
    }

    /// A `given SIDE { … }` step: one per test, on a side records flow from.
    #[allow(clippy::too_many_arguments)] // the step's whole context is needed to label errors
    fn given_step(
        &mut self,
        file: FileId,
        t: &ast::Test,
        decl: &ast::Table,
        flow: Flow,
        side: &ast::Ident,
        record: &ast::Record,
        span: Span,
        steps: &mut Steps,
    ) {
        steps.wrote_given = true;
        if steps.given.is_some() {
            self.invalid(
                file,
                span,
                "a test has one `given` record",
                "a second `given`",
                "split it into two tests",
            );
            steps.ok = false;
            return;
        }
        let Some(s) = self.side_named(file, side, decl) else {
            steps.ok = false;
            return;
        };
        let flows = match flow {
            Flow::Both => true,
            Flow::LeftToRight => s == Side::Left,
            Flow::RightToLeft => s == Side::Right,
        };
        if !flows {
            self.push(
                Diagnostic::new(
                    Code::E0315,
                    file,
                    side.span,
                    format!(
                        "records never flow from `{}` in `{}`",
                        side.name, t.table.name
                    ),
                )
                .label("not a source")
                .with(file, decl.arrow.span, "the direction is declared here")
                .help("give the record on the side records are read from"),
            );
            steps.ok = false;
            return;
        }
        let table = self.side_table(decl, s);
        let fields = self.record(file, record, table, &side.name);
        steps.given = Some((s, fields, span));
    }

    /// An `expect …` step: one per test; a record is read against its side's columns.
    fn expect_step(
        &mut self,
        file: FileId,
        decl: &ast::Table,
        e: &Expectation,
        span: Span,
        steps: &mut Steps,
    ) {
        steps.wrote_expect = true;
        if steps.expect.is_some() {
            self.invalid(
                file,
                span,
                "a test has one `expect`",
                "a second `expect`",
                "split it into two tests",
            );
            steps.ok = false;
            return;
        }
        match e {
            Expectation::Filtered => steps.expect = Some((Expected::Filtered, None, span)),
            Expectation::Fails => steps.expect = Some((Expected::Fails, None, span)),
            Expectation::Record {
                side,
                on_update,
                record,
            } => {
                let Some(s) = self.side_named(file, side, decl) else {
                    steps.ok = false;
                    return;
                };
                let table = self.side_table(decl, s);
                let fields = self.expected_fields(file, record, table, &side.name);
                let expected = Expected::Record {
                    on_update: *on_update,
                    fields,
                };
                steps.expect = Some((expected, Some(s), span));
            }
        }
    }

    /// The given record and the expectation of a test, once both are known to be there and on
    /// different sides. A step rejected with its own error is not reported missing.
    fn complete(
        &mut self,
        file: FileId,
        t: &ast::Test,
        steps: &mut Steps,
    ) -> Option<(Side, BTreeMap<String, Literal>, Expected, Span)> {
        let Some((source, given, _)) = steps.given.take() else {
            if steps.wrote_given {
                return None;
            }
            self.invalid(
                file,
                t.table.span,
                "this test gives no record",
                "this test has no `given` step",
                "add `given SIDE { column: value, … }`",
            );
            return None;
        };
        let Some((expect, dest, expect_span)) = steps.expect.take() else {
            if steps.wrote_expect {
                return None;
            }
            self.invalid(
                file,
                t.table.span,
                "this test expects nothing",
                "this test has no `expect` step",
                "add `expect SIDE { … }`, `expect filtered` or `expect fails`",
            );
            return None;
        };
        if dest == Some(source) {
            self.invalid(
                file,
                expect_span,
                "the expected record is on the same side as the given one",
                "the given record is on this side too",
                "expect the record on the other side",
            );
            return None;
        }
        Some((source, given, expect, expect_span))
    }

    fn invalid(&mut self, file: FileId, span: Span, msg: &str, label: &str, help: &str) {
        self.push(
            Diagnostic::new(Code::E0315, file, span, msg)
                .label(label)
                .help(help),
        );
    }

    fn side_table(&self, decl: &ast::Table, s: Side) -> Option<&'p TableSchema> {
        let r = if s == Side::Left {
            &decl.left
        } else {
            &decl.right
        };
        self.schema_table(&r.system.name, &r.table.name)
    }

    fn record(
        &mut self,
        file: FileId,
        r: &ast::Record,
        table: Option<&TableSchema>,
        side: &str,
    ) -> BTreeMap<String, Literal> {
        self.expected_fields(file, r, table, side)
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect()
    }

    fn expected_fields(
        &mut self,
        file: FileId,
        r: &ast::Record,
        table: Option<&TableSchema>,
        side: &str,
    ) -> Vec<(String, Literal, Span)> {
        let mut out = Vec::new();
        for (name, value) in &r.fields {
            let ty = match table {
                Some(tb) => match tb.column(&name.name) {
                    Some(c) => Ty::of_column(&c.ty),
                    None => {
                        let help = crate::diagnostics::did_you_mean(
                            &name.name,
                            tb.columns.iter().map(|c| c.name.as_str()),
                        )
                        .unwrap_or_else(|| format!("see the columns of `{side}.{}`", tb.name));
                        self.push(
                            Diagnostic::new(
                                Code::E0203,
                                file,
                                name.span,
                                format!("unknown column `{}` in `{side}.{}`", name.name, tb.name),
                            )
                            .label("no such column")
                            .help(help),
                        );
                        continue;
                    }
                },
                None => Ty::Unknown,
            };
            let lit = if matches!(value.kind, ast::LitKind::Null) {
                Some(Literal::Null)
            } else {
                self.coerce_literal(
                    file,
                    &value.kind,
                    value.span,
                    &ty,
                    &format!("`{}`", name.name),
                )
            };
            if let Some(l) = lit {
                out.push((name.name.clone(), l, value.span));
            }
        }
        out
    }
}

fn guid_lower(l: Literal) -> Literal {
    match l {
        Literal::String(s) if s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4 => {
            Literal::String(s.to_lowercase())
        }
        other => other,
    }
}
