//! Runs the inline `test` blocks of a checked project: the given record goes through the source
//! filter and the table's field operations, with the same evaluator the runtime uses, and the
//! written fields are compared with the expected ones.

use std::collections::BTreeMap;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::model::{Expected, Model, TestCase};
use crate::plan::{self, Literal, Phase, Plan, Side};
use crate::runtime::eval::{eval, eval_filter, Context, EvalError, Lookups, UserFunctions};
use crate::runtime::shape::{self, Zones};
use crate::value::Value;
use jiff::tz::TimeZone;

/// What a test run found.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Everything expected happened.
    Passed,
    /// Something else happened.
    Failed {
        /// One line on what went wrong.
        message: String,
        /// Expected against actual, field by field (empty when not about fields).
        diff: Vec<DiffLine>,
    },
}

/// One line of a record diff.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffLine {
    /// The column.
    pub column: String,
    /// The expected value, shown.
    pub expected: String,
    /// The actual value, shown (`(not written)` when the field was not written).
    pub actual: String,
    /// Whether they are equal.
    pub same: bool,
}

/// A test and its outcome.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// The test.
    pub case: TestCase,
    /// What happened.
    pub outcome: Outcome,
}

/// What evaluating the given record produced.
enum Actual {
    Filtered,
    Failed(String),
    Written(BTreeMap<String, Value>),
}

/// Lookups answered from the test's `couple` lines.
struct TestLookups<'a> {
    couplings: &'a [(String, Literal, Literal)],
    plan: &'a Plan,
}

impl TestLookups<'_> {
    /// A partner's key written in a `couple` line as the value its column takes (an option's
    /// value is a number), as the runtime's lookups give it.
    fn partner_value(&self, l: &plan::Lookup, key: Value) -> Value {
        let info = self.plan.table(&l.via).and_then(|t| {
            let side = t.side(l.from.other());
            self.plan.systems.get(&side.system)?.tables.get(&side.table)
        });
        match (key, info) {
            (Value::String(k), Some(info)) => info.key_value(k),
            (key, _) => key,
        }
    }
}

impl Lookups for TestLookups<'_> {
    fn lookup(&self, l: &plan::Lookup, value: &Value) -> Result<Value, EvalError> {
        for (table, left, right) in self.couplings {
            if table != &l.via {
                continue;
            }
            let (mine, theirs) = if l.from == Side::Left {
                (left, right)
            } else {
                (right, left)
            };
            let mine = mine.to_value()?;
            if values_equal(&mine, value) {
                return Ok(self.partner_value(l, theirs.to_value()?));
            }
        }
        Err(EvalError::LookupNotFound {
            via: l.via.clone(),
            value: value.to_string(),
        })
    }
}

/// Runs every test of the model against its compiled plan.
pub fn run_all(model: &Model, plan: &Plan) -> Vec<TestResult> {
    model
        .tests
        .iter()
        .map(|c| TestResult {
            case: c.clone(),
            outcome: run(c, plan),
        })
        .collect()
}

/// Runs one test.
pub fn run(case: &TestCase, plan: &Plan) -> Outcome {
    let Some(table) = plan.table(&case.table) else {
        return failed(format!("table mapping `{}` is not in the plan", case.table));
    };
    let actual = evaluate(case, table, plan);
    match (&case.expect, actual) {
        (Expected::Filtered, Actual::Filtered) | (Expected::Fails, Actual::Failed(_)) => {
            Outcome::Passed
        }
        (Expected::Filtered, Actual::Failed(e)) => failed(format!(
            "expected the record to be filtered out, but it passed the filter and failed: {e}"
        )),
        (Expected::Filtered, Actual::Written(_)) => {
            failed("expected the record to be filtered out, but it passed the filter".into())
        }
        (Expected::Fails, Actual::Filtered) => {
            failed("expected the record to fail, but the filter left it out".into())
        }
        (Expected::Fails, Actual::Written(_)) => {
            failed("expected the record to fail, but it was written".into())
        }
        (Expected::Record { .. }, Actual::Filtered) => {
            failed("the record was filtered out by the source side's filter".into())
        }
        (Expected::Record { .. }, Actual::Failed(e)) => failed(format!("the record failed: {e}")),
        (Expected::Record { fields, .. }, Actual::Written(written)) => compare(fields, &written),
    }
}

fn failed(message: String) -> Outcome {
    Outcome::Failed {
        message,
        diff: Vec::new(),
    }
}

fn evaluate(case: &TestCase, table: &plan::Table, plan: &Plan) -> Actual {
    let row = match given_row(case) {
        Ok(row) => row,
        Err(e) => return Actual::Failed(e),
    };
    let lookups = TestLookups {
        couplings: &case.couplings,
        plan,
    };
    let functions = match UserFunctions::new(&plan.functions) {
        Ok(f) => f,
        Err(e) => return Actual::Failed(e.to_string()),
    };
    let zones = match zones(plan, table, case.source) {
        Ok(z) => z,
        Err(e) => return Actual::Failed(e),
    };
    let ctx = Context {
        functions: &functions,
        lookups: &lookups,
        now: jiff::Timestamp::now(),
        zone: zones.to.clone(),
    };
    if let Some(filter) = &table.side(case.source).filter {
        match eval_filter(&filter.expr, &row, &ctx) {
            Ok(true) => {}
            Ok(false) => return Actual::Filtered,
            Err(e) => return Actual::Failed(e.to_string()),
        }
    }
    let Some(pass) = table.pass_to(case.source.other()) else {
        return Actual::Failed(
            format!("records do not flow from the {:?} side", case.source).to_lowercase(),
        );
    };
    let source = table.side(case.source);
    let no_columns = BTreeMap::new();
    let source_columns = plan
        .systems
        .get(&source.system)
        .and_then(|s| s.tables.get(&source.table))
        .map_or(&no_columns, |t| &t.columns);
    let row = shape::as_instants(&row, source_columns, &zones.from);
    let on_update = matches!(
        case.expect,
        Expected::Record {
            on_update: true,
            ..
        }
    );
    let dest = table.side(case.source.other());
    match written(plan, dest, pass, &row, &ctx, &zones, on_update) {
        Ok(out) => Actual::Written(out),
        Err(e) => Actual::Failed(e),
    }
}

/// The test's `given` record as values.
fn given_row(case: &TestCase) -> Result<BTreeMap<String, Value>, String> {
    let mut row: BTreeMap<String, Value> = BTreeMap::new();
    for (k, v) in &case.given {
        let v = v.to_value().map_err(|e| e.to_string())?;
        row.insert(k.clone(), v);
    }
    Ok(row)
}

/// The time zones of the source and destination systems, UTC where none is declared.
fn zones(plan: &Plan, table: &plan::Table, source: Side) -> Result<Zones, String> {
    let declared = plan.time_zones()?;
    let zone = |side: Side| {
        declared
            .get(&table.side(side).system)
            .cloned()
            .unwrap_or(TimeZone::UTC)
    };
    Ok(Zones {
        from: zone(source),
        to: zone(source.other()),
    })
}

/// The fields the pass writes to `dest` for `row`, shaped as the destination's columns take
/// them; an error names the field it is about.
fn written(
    plan: &Plan,
    dest: &plan::TableSide,
    pass: &plan::Pass,
    row: &BTreeMap<String, Value>,
    ctx: &Context<'_>,
    zones: &Zones,
    on_update: bool,
) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    for op in &pass.ops {
        let applies = match op.phase {
            Phase::Always => true,
            Phase::Create => !on_update,
            Phase::Update => on_update,
        };
        if !applies {
            continue;
        }
        let value = match eval(&op.value, row, ctx) {
            Ok(v) => v,
            Err(_) if op.clear_on_failure => Value::Null,
            Err(e) => return Err(format!("`{}`: {e}", op.target)),
        };
        if matches!(value, Value::Absent) || (op.not_null && matches!(value, Value::Null)) {
            continue;
        }
        let column = plan
            .systems
            .get(&dest.system)
            .and_then(|s| s.tables.get(&dest.table))
            .and_then(|t| t.columns.get(&op.target));
        match shape::for_column(value, op, column, zones) {
            Ok(v) => out.insert(op.target.clone(), v),
            Err(e) => return Err(format!("`{}`: {e}", op.target)),
        };
    }
    Ok(out)
}

fn compare(
    expected: &[(String, Literal, crate::syntax::ast::Span)],
    written: &BTreeMap<String, Value>,
) -> Outcome {
    let mut diff = Vec::new();
    let mut all_same = true;
    for (col, lit, _) in expected {
        let want = match lit.to_value() {
            Ok(v) => v,
            Err(e) => return failed(e.to_string()),
        };
        let (actual, same) = match written.get(col) {
            Some(v) => (v.to_string(), values_equal(v, &want)),
            None => ("(not written)".to_string(), false),
        };
        all_same &= same;
        diff.push(DiffLine {
            column: col.clone(),
            expected: want.to_string(),
            actual,
            same,
        });
    }
    if all_same {
        Outcome::Passed
    } else {
        let n = diff.iter().filter(|d| !d.same).count();
        Outcome::Failed {
            message: format!(
                "{n} field{} differ{}",
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" }
            ),
            diff,
        }
    }
}

/// Equality as tests see it: numbers by value, everything else exactly.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    use rust_decimal::Decimal;
    match (a, b) {
        (Value::Int(x), Value::Decimal(y)) | (Value::Decimal(y), Value::Int(x)) => {
            Decimal::from(*x) == *y
        }
        (Value::Decimal(x), Value::Decimal(y)) => x == y,
        _ => a == b,
    }
}

/// The diff of a failed test as text, `-` expected and `+` actual.
pub fn render_diff(diff: &[DiffLine]) -> String {
    let width = diff
        .iter()
        .map(|d| d.column.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for d in diff {
        if d.same {
            out.push_str(&format!("  {:<width$}  {}\n", d.column, d.expected));
        } else {
            out.push_str(&format!("- {:<width$}  {}\n", d.column, d.expected));
            out.push_str(&format!("+ {:<width$}  {}\n", d.column, d.actual));
        }
    }
    out
}

/// E0501 for every failed test, pointing at its `expect`.
pub fn diagnostics(results: &[TestResult]) -> Diagnostics {
    let mut out = Diagnostics::new();
    for r in results {
        if let Outcome::Failed { message, diff } = &r.outcome {
            let mut d = Diagnostic::new(
                Code::E0501,
                r.case.file,
                r.case.expect_span,
                format!("test `{}` failed: {message}", r.case.name),
            )
            .label("expectation not met");
            d = if diff.is_empty() {
                d.help("run `syncmap test` for details")
            } else {
                d.help(format!(
                    "expected (-) and actual (+):\n{}",
                    render_diff(diff).trim_end()
                ))
            };
            out.push(d);
        }
    }
    out
}
