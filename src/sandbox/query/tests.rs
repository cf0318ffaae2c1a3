#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::cmp::Ordering;
use std::str::FromStr;

use jiff::civil::Date;
use jiff::Timestamp;
use rust_decimal::Decimal;

use super::*;
use crate::value::ColumnKind;
use crate::value::Value;

fn parse(s: &str) -> FilterExpr {
    match parse_filter(s) {
        Ok(e) => e,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn parse_err(s: &str) -> QueryError {
    match parse_filter(s) {
        Ok(e) => panic!("{s:?} should not parse, got {e:?}"),
        Err(e) => e,
    }
}

fn prop(name: &str) -> Box<FilterExpr> {
    Box::new(FilterExpr::Property(name.into()))
}

fn lit(l: Literal) -> Box<FilterExpr> {
    Box::new(FilterExpr::Literal(l))
}

fn int(i: i64) -> Box<FilterExpr> {
    lit(Literal::Int(i))
}

fn cmp(op: CompareOp, a: Box<FilterExpr>, b: Box<FilterExpr>) -> Box<FilterExpr> {
    Box::new(FilterExpr::Compare(op, a, b))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

fn date(s: &str) -> Date {
    Date::from_str(s).unwrap()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::from_str(s).unwrap()
}

/// A row of named values; any other name is not a property of the type.
fn row(values: &[(&str, Value)]) -> impl Fn(&str) -> Option<Value> {
    let values: Vec<(String, Value)> = values
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    move |name: &str| {
        values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Named values, as the tables of cases write rows.
type Row<'a> = Vec<(&'a str, Value)>;

/// Whether the row passes the filter text.
fn passes(filter: &str, values: &[(&str, Value)]) -> bool {
    match eval_filter(&parse(filter), &row(values)) {
        Ok(b) => b,
        Err(e) => panic!("{filter:?} should evaluate: {e}"),
    }
}

fn eval_err(filter: &str, values: &[(&str, Value)]) -> QueryError {
    match eval_filter(&parse(filter), &row(values)) {
        Ok(b) => panic!("{filter:?} should fail, got {b}"),
        Err(e) => e,
    }
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

// ───────────────────────────── the plans' own filters ─────────────────────────────

/// The `$filter` strings `src/plan/odata.rs` writes for the standard mappings and the other
/// plan snapshots, each with a row that passes and one that does not.
#[test]
fn the_plans_filters_parse_print_back_and_select_the_right_rows() {
    let guid = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
    let cases: Vec<(&str, Row, Row)> = vec![
        (
            "statecode eq 0 and customertypecode eq 3",
            vec![
                ("statecode", Value::Int(0)),
                ("customertypecode", Value::Int(3)),
            ],
            vec![
                ("statecode", Value::Int(0)),
                ("customertypecode", Value::Int(11)),
            ],
        ),
        (
            "statecode eq 0 and customertypecode eq 11",
            vec![
                ("statecode", Value::Int(0)),
                ("customertypecode", Value::Int(11)),
            ],
            vec![
                ("statecode", Value::Int(1)),
                ("customertypecode", Value::Int(11)),
            ],
        ),
        (
            "blocked eq ' '",
            vec![("blocked", s(" "))],
            vec![("blocked", s("All"))],
        ),
        (
            "_parentcustomerid_value ne null and statecode eq 0",
            vec![
                ("_parentcustomerid_value", s(guid)),
                ("statecode", Value::Int(0)),
            ],
            vec![
                ("_parentcustomerid_value", Value::Null),
                ("statecode", Value::Int(0)),
            ],
        ),
        (
            "isdisabled eq false and islicensed eq true and isintegrationuser eq false",
            vec![
                ("isdisabled", Value::Bool(false)),
                ("islicensed", Value::Bool(true)),
                ("isintegrationuser", Value::Bool(false)),
            ],
            vec![
                ("isdisabled", Value::Bool(false)),
                ("islicensed", Value::Bool(true)),
                ("isintegrationuser", Value::Bool(true)),
            ],
        ),
        (
            "type eq 'Person' and companyNumber ne ''",
            vec![("type", s("Person")), ("companyNumber", s("C0001"))],
            vec![("type", s("Person")), ("companyNumber", s(""))],
        ),
        (
            "isdisabled eq false",
            vec![("isdisabled", Value::Bool(false))],
            vec![("isdisabled", Value::Null)],
        ),
        (
            "statecode eq 0 and customertypecode ne 1 and \
             (contains(tolower(name),'o''neil') or creditlimit ge 1000.50)",
            vec![
                ("statecode", Value::Int(0)),
                ("customertypecode", Value::Int(3)),
                ("name", s("Shaquille O'Neil Ltd")),
                ("creditlimit", Value::Null),
            ],
            vec![
                ("statecode", Value::Int(0)),
                ("customertypecode", Value::Int(3)),
                ("name", s("Contoso")),
                ("creditlimit", Value::Decimal(dec("1000.49"))),
            ],
        ),
        (
            "statecode eq 0 and customertypecode ne 1 and _primarycontactid_value ne null and \
             contains(tolower(name),'o''neil')",
            vec![
                ("statecode", Value::Int(0)),
                ("customertypecode", Value::Int(3)),
                ("_primarycontactid_value", s(guid)),
                ("name", s("O'NEIL")),
            ],
            vec![
                ("statecode", Value::Int(0)),
                ("customertypecode", Value::Int(1)),
                ("_primarycontactid_value", s(guid)),
                ("name", s("O'NEIL")),
            ],
        ),
        (
            "blocked ne 'All' and lastModifiedDateTime gt 2024-01-01T00:00:00Z",
            vec![
                ("blocked", s(" ")),
                (
                    "lastModifiedDateTime",
                    Value::DateTime(ts("2024-01-01T00:00:01Z")),
                ),
            ],
            vec![
                ("blocked", s(" ")),
                (
                    "lastModifiedDateTime",
                    Value::DateTime(ts("2024-01-01T00:00:00Z")),
                ),
            ],
        ),
        (
            "name eq 'O''Brien' and _parentcustomerid_value ne null",
            vec![("name", s("O'Brien")), ("_parentcustomerid_value", s(guid))],
            vec![
                ("name", s("O'Brien")),
                ("_parentcustomerid_value", Value::Absent),
            ],
        ),
        (
            "modifiedon gt 2024-01-01T00:00:00Z and \
             _modifiedby_value ne 6F9619FF-8B86-D011-B42D-00C04FC964FF",
            vec![
                ("modifiedon", Value::DateTime(ts("2024-06-01T12:00:00Z"))),
                (
                    "_modifiedby_value",
                    s("11111111-2222-3333-4444-555555555555"),
                ),
            ],
            vec![
                ("modifiedon", Value::DateTime(ts("2024-06-01T12:00:00Z"))),
                ("_modifiedby_value", s(guid)),
            ],
        ),
    ];
    for (text, yes, no) in cases {
        let e = parse(text);
        // Canonical printing keeps these flat strings as they are (GUIDs lower case).
        assert_eq!(
            e.to_string(),
            text.replace("6F9619FF-8B86-D011-B42D-00C04FC964FF", guid)
        );
        assert_eq!(parse(&e.to_string()), e, "{text}");
        assert!(passes(text, &yes), "{text} should pass {yes:?}");
        assert!(!passes(text, &no), "{text} should not pass {no:?}");
    }
}

/// Every `$filter` the compiler writes for the plan corpus, the standard mappings among them,
/// parses, and prints back to text that parses to the same tree.
#[test]
fn every_compiled_plan_filter_parses() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = Vec::new();
    let cases = std::fs::read_dir(root.join("tests/cases/ok")).unwrap();
    for entry in cases {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("map") {
            continue;
        }
        let c = crate::compile(std::slice::from_ref(&path), &crate::project::FsLoader).unwrap();
        let plan = c
            .plan
            .unwrap_or_else(|| panic!("{} should compile", path.display()));
        for table in &plan.tables {
            for side in [&table.left, &table.right] {
                if let Some(odata) = side.filter.as_ref().and_then(|f| f.odata.as_deref()) {
                    let e = parse(odata);
                    assert_eq!(parse(&e.to_string()), e, "{odata}");
                    seen.push(odata.to_string());
                }
            }
        }
    }
    for standard in [
        "statecode eq 0 and customertypecode eq 3",
        "statecode eq 0 and customertypecode eq 11",
        "blocked eq ' '",
        "_parentcustomerid_value ne null and statecode eq 0",
        "isdisabled eq false and islicensed eq true and isintegrationuser eq false",
        "type eq 'Person' and companyNumber ne ''",
    ] {
        assert!(
            seen.iter().any(|s| s == standard),
            "{standard} not among {seen:?}"
        );
        assert_eq!(parse(standard).to_string(), standard);
    }
}

/// The translator's output for every construct it pushes down reads back as the same
/// condition: the emulators accept what the connectors will send them.
#[test]
fn plan_translator_output_round_trips() {
    use crate::plan::{BinOp, ColumnInfo, Expr, Literal as L};
    use std::collections::BTreeMap;

    let col = |n: &str| Box::new(Expr::Col(n.into()));
    let lit = |l: L| Box::new(Expr::Lit(l));
    let bin = |op: BinOp, lhs: Box<Expr>, rhs: Box<Expr>| Box::new(Expr::Bin { op, lhs, rhs });
    let call = |f: &str, args: Vec<Expr>| {
        Box::new(Expr::Call {
            func: f.into(),
            args,
        })
    };
    let info = |ty: ColumnKind| ColumnInfo {
        ty,
        targets: vec![],
        ..Default::default()
    };
    let columns: BTreeMap<String, ColumnInfo> = [
        ("name", ColumnKind::String),
        ("n", ColumnKind::Int),
        ("amount", ColumnKind::Decimal),
        ("active", ColumnKind::Bool),
        ("born", ColumnKind::Date),
        ("modifiedon", ColumnKind::Datetime),
        ("parentcustomerid", ColumnKind::Lookup),
        ("accountid", ColumnKind::Guid),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), info(t)))
    .collect();
    let guid = "6F9619FF-8B86-D011-B42D-00C04FC964FF";
    let conditions = [
        *bin(BinOp::Eq, col("name"), lit(L::String("O'Brien".into()))),
        *bin(
            BinOp::Or,
            bin(BinOp::Lt, col("n"), lit(L::Int(-3))),
            bin(BinOp::Ge, col("amount"), lit(L::Decimal("1000.50".into()))),
        ),
        Expr::Not(bin(
            BinOp::And,
            col("active"),
            bin(BinOp::Ne, col("born"), lit(L::Date("2000-02-29".into()))),
        )),
        *bin(
            BinOp::Gt,
            col("modifiedon"),
            lit(L::Datetime("2024-01-01T00:00:00Z".into())),
        ),
        *bin(BinOp::Ne, col("parentcustomerid"), lit(L::Null)),
        *bin(
            BinOp::Eq,
            col("parentcustomerid"),
            lit(L::String(guid.into())),
        ),
        *bin(
            BinOp::Eq,
            col("accountid"),
            lit(L::String(guid.to_lowercase())),
        ),
        *call(
            "contains",
            vec![
                *call("lower", vec![*col("name")]),
                *lit(L::String("x".into())),
            ],
        ),
        *call(
            "starts_with",
            vec![
                *call("upper", vec![*call("trim", vec![*col("name")])]),
                *lit(L::String("A".into())),
            ],
        ),
        *call(
            "ends_with",
            vec![
                *call("trim", vec![*col("name")]),
                *lit(L::String("z".into())),
            ],
        ),
        *bin(BinOp::Eq, call("len", vec![*col("name")]), lit(L::Int(7))),
        *bin(
            BinOp::And,
            bin(
                BinOp::Eq,
                call("year", vec![*col("born")]),
                lit(L::Int(2000)),
            ),
            bin(
                BinOp::And,
                bin(BinOp::Eq, call("month", vec![*col("born")]), lit(L::Int(2))),
                bin(BinOp::Eq, call("day", vec![*col("born")]), lit(L::Int(29))),
            ),
        ),
        Expr::Lit(L::Bool(true)),
    ];
    let rows = [
        row(&[
            ("name", s("O'Brien")),
            ("n", Value::Int(-5)),
            ("amount", Value::Null),
            ("active", Value::Bool(true)),
            ("born", Value::Date(date("2000-02-29"))),
            ("modifiedon", Value::DateTime(ts("2024-05-01T00:00:00Z"))),
            ("_parentcustomerid_value", s(&guid.to_lowercase())),
            ("accountid", s(guid)),
        ]),
        row(&[
            ("name", s(" Ax xz ")),
            ("n", Value::Int(1)),
            ("amount", Value::Decimal(dec("1000.5"))),
            ("active", Value::Bool(false)),
            ("born", Value::Date(date("1999-12-31"))),
            ("modifiedon", Value::DateTime(ts("2023-12-31T23:59:59Z"))),
            ("_parentcustomerid_value", Value::Null),
            ("accountid", s("00000000-0000-0000-0000-000000000000")),
        ]),
    ];
    // What each condition means for each row, worked out by hand.
    let expected = [
        [true, false],
        [true, true],
        [true, true],
        [true, false],
        [true, false],
        [true, false],
        [true, false],
        [false, true],
        [false, true],
        [false, true],
        [true, true],
        [true, false],
        [true, true],
    ];
    for (condition, want) in conditions.iter().zip(expected) {
        let (odata, residual) =
            crate::plan::odata::split(condition, crate::plan::SystemKind::Dataverse, &columns);
        assert_eq!(residual, None, "{condition:?} should be pushed down whole");
        let odata = odata.unwrap();
        let e = parse(&odata);
        assert_eq!(parse(&e.to_string()), e, "{odata}");
        for (r, want) in rows.iter().zip(want) {
            assert_eq!(eval_filter(&e, r).unwrap(), want, "{odata}");
        }
    }
}

/// Shapes `plan::odata` emits beyond flat conjunctions: parenthesised `and`/`or`, `not (…)`,
/// function calls without spaces after commas, bare boolean literals, bare GUIDs.
#[test]
fn plan_shapes_parse() {
    assert_eq!(
        parse("not (contains(name,'x'))"),
        FilterExpr::Not(Box::new(FilterExpr::Call(
            Function::Contains,
            vec![*prop("name"), *lit(Literal::String("x".into()))]
        )))
    );
    assert_eq!(
        parse("(a eq 1 or b eq 2)"),
        FilterExpr::Or(vec![
            *cmp(CompareOp::Eq, prop("a"), int(1)),
            *cmp(CompareOp::Eq, prop("b"), int(2))
        ])
    );
    assert_eq!(parse("true"), FilterExpr::Literal(Literal::Bool(true)));
    assert!(passes("true", &[]));
    assert!(!passes("false", &[]));
    assert_eq!(
        parse("_parentcustomerid_value eq 6f9619ff-8b86-d011-b42d-00c04fc964ff"),
        *cmp(
            CompareOp::Eq,
            prop("_parentcustomerid_value"),
            lit(Literal::Guid("6f9619ff-8b86-d011-b42d-00c04fc964ff".into()))
        )
    );
    assert!(passes(
        "startswith(name,'Con') and endswith(name,'so')",
        &[("name", s("Contoso"))]
    ));
    assert!(passes(
        "year(d) eq 2024 and month(d) eq 2 and day(d) eq 29",
        &[("d", Value::Date(date("2024-02-29")))]
    ));
    assert!(passes(
        "length(trim(toupper(n))) eq 3",
        &[("n", s("  abc "))]
    ));
}

// ───────────────────────────── operators ─────────────────────────────

#[test]
fn every_comparison_operator_on_numbers() {
    let r = [("n", Value::Int(5))];
    for (f, want) in [
        ("n eq 5", true),
        ("n eq 4", false),
        ("n ne 5", false),
        ("n ne 4", true),
        ("n lt 6", true),
        ("n lt 5", false),
        ("n le 5", true),
        ("n le 4", false),
        ("n gt 4", true),
        ("n gt 5", false),
        ("n ge 5", true),
        ("n ge 6", false),
        // Integers and decimals compare by value, whichever side has which.
        ("n eq 5.00", true),
        ("n lt 5.01", true),
        ("n gt 4.99m", true),
        ("5 eq n", true),
        ("-5 lt n", true),
    ] {
        assert_eq!(passes(f, &r), want, "{f}");
    }
    let r = [("d", Value::Decimal(dec("1000.50")))];
    assert!(passes("d eq 1000.5", &r));
    assert!(passes("d gt 1000", &r));
    assert!(passes("d lt 1001", &r));
    assert!(passes("d eq 1000.50M", &r));
}

#[test]
fn comparison_operators_on_text_booleans_and_times() {
    let r = [
        ("t", s("Milk")),
        ("b", Value::Bool(true)),
        ("d", Value::Date(date("2024-03-01"))),
        ("m", Value::DateTime(ts("2024-03-01T10:00:00Z"))),
    ];
    for (f, want) in [
        ("t eq 'Milk'", true),
        ("t eq 'milk'", false),
        ("t ne 'milk'", true),
        ("t gt 'Cheese'", true),
        ("t lt 'Milkshake'", true),
        ("t ge 'Milk'", true),
        ("t le 'Mil'", false),
        // Code point order: upper case sorts before lower case.
        ("t lt 'milk'", true),
        ("b eq true", true),
        ("b gt false", true),
        ("b ne true", false),
        ("d eq 2024-03-01", true),
        ("d lt 2024-03-02", true),
        ("d gt 2024-02-29", true),
        ("m eq 2024-03-01T10:00:00Z", true),
        ("m eq 2024-03-01T12:00:00+02:00", true),
        ("m lt 2024-03-01T10:00:00.001Z", true),
        ("m gt 2024-03-01T09:59:59.999Z", true),
        ("m ge 2024-03-01T10:00Z", true),
        ("m gt 2024-03-01T11:00:00+02:00", true),
    ] {
        assert_eq!(passes(f, &r), want, "{f}");
    }
}

#[test]
fn dates_and_date_times_compare_chronologically_with_midnight_utc() {
    let r = [
        ("d", Value::Date(date("2024-01-01"))),
        ("midnight", Value::DateTime(ts("2024-01-01T00:00:00Z"))),
        ("later", Value::DateTime(ts("2024-01-01T08:00:00Z"))),
    ];
    assert!(passes("midnight eq 2024-01-01", &r));
    assert!(passes("later gt 2024-01-01", &r));
    assert!(passes("later lt 2024-01-02", &r));
    assert!(passes("d eq 2024-01-01T00:00:00Z", &r));
    assert!(passes("d lt 2024-01-01T00:00:01Z", &r));
    assert!(passes("d eq midnight", &r));
    // Date and date-time literals are different types.
    assert_eq!(
        parse("x eq 2024-01-01"),
        *cmp(
            CompareOp::Eq,
            prop("x"),
            lit(Literal::Date(date("2024-01-01")))
        )
    );
    assert_eq!(
        parse("x eq 2024-01-01T00:00:00Z"),
        *cmp(
            CompareOp::Eq,
            prop("x"),
            lit(Literal::DateTime(ts("2024-01-01T00:00:00Z")))
        )
    );
    // Year, month and day of a date-time are those of its UTC date.
    let r = [("m", Value::DateTime(ts("2023-12-31T23:30:00Z")))];
    assert!(passes(
        "year(m) eq 2023 and month(m) eq 12 and day(m) eq 31",
        &r
    ));
    assert!(passes("m eq 2024-01-01T00:30:00+01:00", &r));
}

#[test]
fn guids_compare_case_insensitively() {
    let lower = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
    let upper = "6F9619FF-8B86-D011-B42D-00C04FC964FF";
    assert!(passes(&format!("id eq {upper}"), &[("id", s(lower))]));
    assert!(passes(&format!("id eq {lower}"), &[("id", s(upper))]));
    assert!(!passes(&format!("id ne {lower}"), &[("id", s(upper))]));
    assert!(passes(
        &format!("id in ({upper}, 00000000-0000-0000-0000-000000000000)"),
        &[("id", s(lower))]
    ));
    assert!(!passes(
        &format!("id eq {lower}"),
        &[("id", s("something else"))]
    ));
    assert_eq!(
        parse(&format!("{upper} eq {lower}")).to_string(),
        format!("{lower} eq {lower}")
    );
    assert!(passes(&format!("{upper} eq {lower}"), &[]));
    // A GUID literal is not text: no quotes, and it is not read as a property named `deadbeef`.
    assert_eq!(
        parse("x eq deadbeef-0000-0000-0000-000000000000"),
        *cmp(
            CompareOp::Eq,
            prop("x"),
            lit(Literal::Guid("deadbeef-0000-0000-0000-000000000000".into()))
        )
    );
    // One hex digit short is not a GUID.
    assert!(parse_filter("x eq 6f9619ff-8b86-d011-b42d-00c04fc964f").is_err());
    // Text functions do not take GUID literals.
    let e = eval_err(&format!("contains(x,{lower})"), &[("x", s("a"))]);
    assert!(
        matches!(
            e,
            QueryError::NoMatchingSignature {
                name: "contains",
                ..
            }
        ),
        "{e}"
    );
}

// ───────────────────────────── null ─────────────────────────────

#[test]
fn null_is_equal_only_to_null_and_never_ordered() {
    for x in [Value::Null, Value::Absent] {
        let r = [("x", x.clone())];
        assert!(passes("x eq null", &r), "{x:?}");
        assert!(!passes("x ne null", &r));
        assert!(!passes("x eq 0", &r));
        assert!(passes("x ne 0", &r));
        assert!(!passes("x eq ''", &r));
        for op in ["lt", "le", "gt", "ge"] {
            assert!(!passes(&format!("x {op} 5"), &r), "{op}");
            assert!(!passes(&format!("5 {op} x"), &r), "{op}");
        }
        // Relational operators return false, not null, so negating them includes the row.
        assert!(passes("not (x gt 5)", &r));
        assert!(passes("null eq x", &r));
    }
    let r = [("x", Value::Int(0))];
    assert!(!passes("x eq null", &r));
    assert!(passes("x ne null", &r));
    assert!(passes("null eq null", &[]));
    assert!(!passes("null ne null", &[]));
}

#[test]
fn functions_of_null_are_null_and_logic_is_three_valued() {
    let r = [
        ("x", Value::Null),
        ("t", Value::Bool(true)),
        ("f", Value::Bool(false)),
    ];
    // contains(null, …) is null: excluded, and so is its negation.
    assert!(!passes("contains(x,'a')", &r));
    assert!(!passes("not contains(x,'a')", &r));
    assert!(passes("tolower(x) eq null", &r));
    assert!(passes("length(x) eq null", &r));
    // A null boolean property through and/or/not.
    let n = [("b", Value::Null)];
    for (f, want) in [
        ("b", false),
        ("not b", false),
        ("b and false", false),
        ("not (b and false)", true),
        ("b and true", false),
        ("not (b and true)", false),
        ("b or true", true),
        ("b or false", false),
        ("not (b or false)", false),
        ("b eq null", true),
    ] {
        assert_eq!(passes(f, &n), want, "{f}");
    }
    for (f, want) in [
        ("t and f", false),
        ("t or f", true),
        ("not f", true),
        ("t", true),
    ] {
        assert_eq!(passes(f, &r), want, "{f}");
    }
}

// ───────────────────────────── in ─────────────────────────────

#[test]
fn in_tests_membership_of_a_literal_list() {
    let r = [("c", Value::Int(3)), ("s", s("Ship")), ("n", Value::Null)];
    assert!(passes("c in (1, 3, 5)", &r));
    assert!(passes("c in (3)", &r));
    assert!(!passes("c in (1,2)", &r));
    assert!(passes("c in (1.5, 3.0)", &r));
    assert!(passes("s in ('Invoice','Ship')", &r));
    assert!(!passes("s in ('ship')", &r));
    assert!(passes("n in (1, null)", &r));
    assert!(!passes("n in (1, 2)", &r));
    // `in` binds tighter than `not`: both spellings negate the membership test.
    assert_eq!(parse("not c in (1,2)"), parse("not (c in (1,2))"));
    assert!(passes("not c in (1,2)", &r));
    assert_eq!(
        parse("c in (1,2) and s eq 'x'"),
        FilterExpr::And(vec![
            FilterExpr::In(prop("c"), vec![Literal::Int(1), Literal::Int(2)]),
            *cmp(CompareOp::Eq, prop("s"), lit(Literal::String("x".into())))
        ])
    );
    // A list needs at least one literal, and only literals.
    assert!(parse_filter("c in ()").is_err());
    assert!(parse_filter("c in (d)").is_err());
    let e = eval_err("s in (1, 2)", &r);
    assert_eq!(
        e.to_string(),
        "A binary operator with incompatible types was detected. Found operand types \
         'Edm.String' and 'Edm.Int32' for operator kind 'In'."
    );
}

// ───────────────────────────── precedence and grouping ─────────────────────────────

#[test]
fn and_binds_tighter_than_or() {
    let (a, b, c) = (
        || *cmp(CompareOp::Eq, prop("a"), int(1)),
        || *cmp(CompareOp::Eq, prop("b"), int(1)),
        || *cmp(CompareOp::Eq, prop("c"), int(1)),
    );
    assert_eq!(
        parse("a eq 1 or b eq 1 and c eq 1"),
        FilterExpr::Or(vec![a(), FilterExpr::And(vec![b(), c()])])
    );
    assert_eq!(
        parse("a eq 1 and b eq 1 or c eq 1"),
        FilterExpr::Or(vec![FilterExpr::And(vec![a(), b()]), c()])
    );
    assert_eq!(
        parse("(a eq 1 or b eq 1) and c eq 1"),
        FilterExpr::And(vec![FilterExpr::Or(vec![a(), b()]), c()])
    );
    // Chains are one node, however they are parenthesised: `and` and `or` are associative.
    let chain = FilterExpr::And(vec![a(), b(), c()]);
    assert_eq!(parse("a eq 1 and b eq 1 and c eq 1"), chain);
    assert_eq!(parse("a eq 1 and (b eq 1 and c eq 1)"), chain);
    assert_eq!(parse("(a eq 1 and b eq 1) and c eq 1"), chain);
    let r = [
        ("a", Value::Int(1)),
        ("b", Value::Int(0)),
        ("c", Value::Int(0)),
    ];
    assert!(passes("a eq 1 or b eq 1 and c eq 1", &r));
    assert!(!passes("(a eq 1 or b eq 1) and c eq 1", &r));
}

#[test]
fn not_binds_tighter_than_comparisons() {
    // OData's precedence table puts unary `not` above `eq`: `not a eq b` is `(not a) eq b`.
    assert_eq!(
        parse("not a eq b"),
        *cmp(
            CompareOp::Eq,
            Box::new(FilterExpr::Not(prop("a"))),
            prop("b")
        )
    );
    let r = [("a", Value::Bool(true)), ("b", Value::Bool(false))];
    assert!(passes("not a eq b", &r));
    assert!(passes(
        "not isdisabled eq true",
        &[("isdisabled", Value::Bool(false))]
    ));
    // On text, `not` alone is a type error, as a service reports it.
    let e = eval_err("not name eq 'x'", &[("name", s("x"))]);
    assert_eq!(
        e.to_string(),
        "A unary operator with an incompatible type was detected. Found operand type \
         'Edm.String' for operator kind 'Not'."
    );
    assert!(!passes("not (name eq 'x')", &[("name", s("x"))]));
    // `not` binds tighter than `and`, and stacks.
    assert_eq!(
        parse("not a and b"),
        FilterExpr::And(vec![FilterExpr::Not(prop("a")), *prop("b")])
    );
    assert!(passes("not not a", &r));
    assert_eq!(parse("not(a)"), FilterExpr::Not(prop("a")));
    // A name that starts with `not` is a name.
    assert_eq!(
        parse("notes eq 1"),
        *cmp(CompareOp::Eq, prop("notes"), int(1))
    );
}

#[test]
fn relational_operators_bind_tighter_than_equality() {
    assert_eq!(
        parse("a lt 5 eq true"),
        *cmp(
            CompareOp::Eq,
            cmp(CompareOp::Lt, prop("a"), int(5)),
            lit(Literal::Bool(true))
        )
    );
    assert_eq!(
        parse("a eq b lt c"),
        *cmp(
            CompareOp::Eq,
            prop("a"),
            cmp(CompareOp::Lt, prop("b"), prop("c"))
        )
    );
    let r = [("a", Value::Int(3))];
    assert!(passes("a lt 5 eq true", &r));
}

#[test]
fn nested_parentheses() {
    let flat = parse("a eq 1");
    assert_eq!(parse("((a eq 1))"), flat);
    assert_eq!(parse("( ( a eq 1 ) )"), flat);
    assert_eq!(parse("(a) eq (1)"), flat);
    let r = [
        ("a", Value::Int(0)),
        ("b", Value::Int(2)),
        ("c", Value::Int(0)),
        ("d", Value::Int(4)),
    ];
    let f = "(a eq 1 or (b eq 2 and (c eq 3 or (d eq 4))))";
    assert!(passes(f, &r));
    assert!(!passes("(a eq 1 or (b eq 2 and (c eq 3 or (d eq 5))))", &r));
    assert!(passes("not ((a eq 1))", &r));
    assert!(passes("((not (a eq 1)) and ((b eq 2)))", &r));
    assert_eq!(
        parse(f).to_string(),
        "a eq 1 or b eq 2 and (c eq 3 or d eq 4)"
    );
}

#[test]
fn whitespace_rules() {
    // Spaces and tabs are allowed around the whole expression and inside parentheses and calls.
    assert_eq!(parse("  a eq 1\t"), parse("a eq 1"));
    assert_eq!(parse("contains( name , 'x' )"), parse("contains(name,'x')"));
    assert_eq!(parse("a  eq\t1"), parse("a eq 1"));
    // Binary operators need whitespace on both sides.
    assert!(parse_filter("a eq'x'").is_err());
    assert!(parse_filter("(a eq 1)and(b eq 2)").is_err());
}

// ───────────────────────────── literals ─────────────────────────────

#[test]
fn string_literals_and_escapes() {
    assert_eq!(
        parse("name eq 'O''Brien'"),
        *cmp(
            CompareOp::Eq,
            prop("name"),
            lit(Literal::String("O'Brien".into()))
        )
    );
    for (text, value) in [
        ("''", ""),
        ("''''", "'"),
        ("''''''", "''"),
        ("'a''b''c'", "a'b'c"),
        ("' '", " "),
        ("'x and y or (z)'", "x and y or (z)"),
        ("'Müller & Söhne'", "Müller & Söhne"),
        ("'\"quoted\"'", "\"quoted\""),
    ] {
        assert_eq!(
            parse(&format!("n eq {text}")),
            *cmp(CompareOp::Eq, prop("n"), lit(Literal::String(value.into()))),
            "{text}"
        );
        assert!(
            passes(&format!("n eq {text}"), &[("n", s(value))]),
            "{text}"
        );
        // Printing escapes again.
        assert_eq!(
            parse(&format!("n eq {text}")).to_string(),
            format!("n eq {text}")
        );
    }
}

#[test]
fn number_literals() {
    let n = |t: &str| match parse(&format!("x eq {t}")) {
        FilterExpr::Compare(_, _, rhs) => match *rhs {
            FilterExpr::Literal(l) => l,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert_eq!(n("0"), Literal::Int(0));
    assert_eq!(n("-5"), Literal::Int(-5));
    assert_eq!(n("9223372036854775807"), Literal::Int(i64::MAX));
    assert_eq!(n("-9223372036854775808"), Literal::Int(i64::MIN));
    assert_eq!(
        n("9223372036854775808"),
        Literal::Decimal(dec("9223372036854775808"))
    );
    assert_eq!(n("1000.50"), Literal::Decimal(dec("1000.50")));
    assert_eq!(n("-0.25"), Literal::Decimal(dec("-0.25")));
    assert_eq!(n("12.5m"), Literal::Decimal(dec("12.5")));
    assert_eq!(n("12.5M"), Literal::Decimal(dec("12.5")));
    assert_eq!(n("3m"), Literal::Decimal(dec("3")));
    assert_eq!(n("1.5e3"), Literal::Decimal(dec("1500")));
    assert_eq!(n("2E-2"), Literal::Decimal(dec("0.02")));
    // The scale survives printing, and a whole decimal stays a decimal.
    assert_eq!(parse("x eq 1000.50").to_string(), "x eq 1000.50");
    assert_eq!(parse("x eq 3m").to_string(), "x eq 3.0");
    assert_eq!(parse(&parse("x eq 3m").to_string()), parse("x eq 3m"));
    for bad in [
        "x eq 5x",
        "x eq 1.",
        "x eq .5",
        "x eq 1.2.3",
        "x eq 12min",
        "x eq --1",
    ] {
        assert!(parse_filter(bad).is_err(), "{bad}");
    }
}

#[test]
fn date_and_time_literals() {
    let l = |t: &str| match parse(&format!("x eq {t}")) {
        FilterExpr::Compare(_, _, rhs) => *rhs,
        other => panic!("{other:?}"),
    };
    assert_eq!(l("2024-02-29"), *lit(Literal::Date(date("2024-02-29"))));
    assert_eq!(
        l("2024-01-01T00:00:00Z"),
        *lit(Literal::DateTime(ts("2024-01-01T00:00:00Z")))
    );
    assert_eq!(
        l("2024-01-01T08:30:00.1234567+02:00"),
        *lit(Literal::DateTime(ts("2024-01-01T06:30:00.1234567Z")))
    );
    assert_eq!(
        l("2024-01-01T08:30-05:00"),
        *lit(Literal::DateTime(ts("2024-01-01T13:30:00Z")))
    );
    assert_eq!(
        l("2024-01-01t08:30:00z"),
        *lit(Literal::DateTime(ts("2024-01-01T08:30:00Z")))
    );
    let e = parse_err("d eq 2023-02-29");
    assert_eq!(
        e.to_string(),
        "Unrecognized 'Edm.Date' literal '2023-02-29' at '5' in 'd eq 2023-02-29'."
    );
    assert!(matches!(
        parse_err("d eq 2024-01-01T24:00:00Z"),
        QueryError::BadLiteral {
            edm_type: "Edm.DateTimeOffset",
            position: 5,
            ..
        }
    ));
    assert!(matches!(
        parse_err("d eq 2024-13-01"),
        QueryError::BadLiteral { .. }
    ));
    // A date-time needs its zone: one without (or whose `+` arrived as a space) is an error.
    assert!(parse_filter("d eq 2024-01-01T00:00:00").is_err());
    assert!(parse_filter("d eq 2024-01-01T00:00:00 02:00").is_err());
    assert!(parse_filter("d eq 2024-1-01").is_err());
    // Printing writes date-times in UTC.
    assert_eq!(
        parse("d gt 2024-01-01T08:00:00+02:00").to_string(),
        "d gt 2024-01-01T06:00:00Z"
    );
}

// ───────────────────────────── functions ─────────────────────────────

#[test]
fn string_functions_are_case_sensitive_unless_lowered() {
    let r = [("name", s("Contoso Pharmaceuticals"))];
    for (f, want) in [
        ("contains(name,'Pharma')", true),
        ("contains(name,'pharma')", false),
        ("contains(tolower(name),'pharma')", true),
        ("contains(toupper(name),'PHARMA')", true),
        ("startswith(name,'Contoso')", true),
        ("startswith(name,'contoso')", false),
        ("endswith(name,'cals')", true),
        ("endswith(name,'CALS')", false),
        ("endswith(toupper(name),'CALS')", true),
        ("contains(name,'')", true),
        ("tolower(name) eq 'contoso pharmaceuticals'", true),
        ("toupper(name) eq 'CONTOSO PHARMACEUTICALS'", true),
        ("length(name) eq 23", true),
        ("contains('abc', 'b')", true),
    ] {
        assert_eq!(passes(f, &r), want, "{f}");
    }
    // Unicode rules for case and whitespace, characters for length.
    let r = [("t", s("\u{3000} Straße\t"))];
    assert!(passes("trim(t) eq 'Straße'", &r));
    assert!(passes("length(trim(t)) eq 6", &r));
    assert!(passes("toupper(trim(t)) eq 'STRASSE'", &r));
    assert!(passes("tolower('ÉCOLE') eq 'école'", &[]));
}

#[test]
fn ignore_case_option_matches_text_regardless_of_case() {
    let opts = EvalOptions { ignore_case: true };
    let r = row(&[("name", s("Contoso")), ("id", s("ABC"))]);
    for f in [
        "name eq 'CONTOSO'",
        "contains(name,'TOS')",
        "startswith(name,'con')",
        "endswith(name,'OSO')",
        "name in ('contoso')",
        "name gt 'A' and name lt 'd'",
    ] {
        assert!(eval_filter_with(&parse(f), &r, &opts).unwrap(), "{f}");
        let strict = eval_filter(&parse(f), &r).unwrap();
        assert!(
            !strict || f.contains(" gt "),
            "{f} should depend on the option"
        );
    }
}

#[test]
fn function_argument_errors() {
    let e = parse_err("contains(name)");
    assert_eq!(
        e.to_string(),
        "No function signature for the function with name 'contains' matches the specified \
         arguments. The function signatures considered are: contains(Edm.String, Edm.String)."
    );
    assert!(matches!(
        parse_err("tolower(a,b)"),
        QueryError::NoMatchingSignature { .. }
    ));
    assert!(matches!(
        parse_err("tolower()"),
        QueryError::NoMatchingSignature { .. }
    ));
    let e = eval_err("length(n) eq 1", &[("n", Value::Int(5))]);
    assert!(
        matches!(e, QueryError::NoMatchingSignature { name: "length", .. }),
        "{e}"
    );
    let e = eval_err("year(n) eq 1", &[("n", s("2024-01-01"))]);
    assert!(
        matches!(e, QueryError::NoMatchingSignature { name: "year", .. }),
        "{e}"
    );
    let e = parse_err("frobnicate(name)");
    assert_eq!(
        e.to_string(),
        "An unknown function with name 'frobnicate' was found. This may also be a function \
         import or a key lookup on a navigation property, which is not allowed."
    );
    // Function names are lower case, as 4.0 requires.
    assert!(matches!(
        parse_err("Contains(name,'x')"),
        QueryError::UnknownFunction { .. }
    ));
    let e = parse_err("createdon lt now()");
    assert_eq!(
        e.to_string(),
        "The function 'now' at position 13 in 'createdon lt now()' is not supported."
    );
    assert!(matches!(
        parse_err("substring(name,1) eq 'x'"),
        QueryError::Unsupported {
            what: "function",
            position: 0,
            ..
        }
    ));
}

// ───────────────────────────── errors ─────────────────────────────

#[test]
fn syntax_errors_say_where() {
    for (text, message) in [
        ("name eq", "Expression expected at position 7 in 'name eq'."),
        ("", "Expression expected at position 0 in ''."),
        ("   ", "Expression expected at position 3 in '   '."),
        (
            "name eq 'x' and",
            "Expression expected at position 15 in 'name eq 'x' and'.",
        ),
        (
            "(name eq 'x'",
            "Expression expected at position 12 in '(name eq 'x''.",
        ),
        (
            "name eq 'x",
            "There is an unterminated string literal at position 8 in 'name eq 'x'.",
        ),
        (
            "name eq 'O''Brien",
            "There is an unterminated string literal at position 8 in 'name eq 'O''Brien'.",
        ),
        (
            "name = 'x'",
            "Syntax error: character '=' is not valid at position 5 in 'name = 'x''.",
        ),
        (
            "name eq \"x\"",
            "Syntax error: character '\"' is not valid at position 8 in 'name eq \"x\"'.",
        ),
        (
            "@p eq 1",
            "Syntax error: character '@' is not valid at position 0 in '@p eq 1'.",
        ),
        (
            "name eq 'x')",
            "Syntax error at position 11 in 'name eq 'x')'.",
        ),
        (
            "name EQ 'x'",
            "Syntax error at position 5 in 'name EQ 'x''.",
        ),
        (
            "name eqx 'x'",
            "Syntax error at position 5 in 'name eqx 'x''.",
        ),
        (
            "a eq 1 AND b eq 2",
            "Syntax error at position 7 in 'a eq 1 AND b eq 2'.",
        ),
        ("a/b eq 1", "Syntax error at position 1 in 'a/b eq 1'."),
        (
            "contains (name,'x')",
            "Syntax error at position 9 in 'contains (name,'x')'.",
        ),
        (
            "price add 5 gt 10",
            "The operator 'add' at position 6 in 'price add 5 gt 10' is not supported.",
        ),
        (
            "style has 'Yellow'",
            "The operator 'has' at position 6 in 'style has 'Yellow'' is not supported.",
        ),
        (
            "geo.distance(a,b) lt 5",
            "The function 'geo.distance' at position 0 in 'geo.distance(a,b) lt 5' is not \
             supported.",
        ),
    ] {
        assert_eq!(parse_err(text).to_string(), message, "{text}");
    }
    // Positions count characters, not bytes.
    assert_eq!(parse_err("n eq 'ä' and").position(), Some(12));
    assert_eq!(parse_err("'ää' eq").position(), Some(7));
}

#[test]
fn deep_nesting_is_refused_before_it_can_exhaust_the_stack() {
    let deep = format!("{}a eq 1{}", "(".repeat(150), ")".repeat(150));
    assert_eq!(parse_err(&deep), QueryError::TooDeep);
    let nots = format!("{}a", "not ".repeat(150));
    assert_eq!(parse_err(&nots), QueryError::TooDeep);
    // Parentheses inside strings do not count; ordinary nesting is fine.
    let inside = format!("a eq '{}'", "(".repeat(150));
    assert!(parse_filter(&inside).is_ok());
    let fine = format!("{}a eq 1{}", "(".repeat(50), ")".repeat(50));
    assert_eq!(parse(&fine), parse("a eq 1"));
    // The deepest tree accepted evaluates and prints on a 2 MiB stack, in a debug build too.
    let mut nested = String::from("a eq 1");
    for i in 0..48 {
        let op = if i % 2 == 0 { "and" } else { "or" };
        nested = format!("not (a eq 1 {op} ({nested}))");
    }
    let worker = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let e = parse_filter(&nested).unwrap();
            let passed = eval_filter(&e, &row(&[("a", Value::Int(1))])).unwrap();
            (passed, parse_filter(&e.to_string()).unwrap() == e)
        })
        .unwrap();
    assert!(worker.join().unwrap().1);
    // Many `not`s side by side are not nesting.
    let wide = vec!["not (a eq 1)"; 150].join(" and ");
    assert!(parse_filter(&wide).is_ok());
    assert!(passes(&wide, &[("a", Value::Int(2))]));
}

#[test]
fn evaluation_errors_read_like_a_service() {
    let e = eval_err("nmae eq 'x'", &[("name", s("x"))]);
    assert_eq!(e, QueryError::unknown_property("nmae", None));
    assert_eq!(e.to_string(), "Could not find a property named 'nmae'.");
    assert_eq!(
        e.in_type("Microsoft.Dynamics.CRM.account").to_string(),
        "Could not find a property named 'nmae' on type 'Microsoft.Dynamics.CRM.account'."
    );
    // The unknown property is found even where the other side of `and` already decides.
    let e = eval_err("false and nmae eq 'x'", &[]);
    assert!(matches!(e, QueryError::UnknownProperty { .. }));
    assert_eq!(
        eval_err("name eq 5", &[("name", s("x"))]).to_string(),
        "A binary operator with incompatible types was detected. Found operand types \
         'Edm.String' and 'Edm.Int32' for operator kind 'Equal'."
    );
    assert_eq!(
        eval_err("n gt '5'", &[("n", Value::Int(9_000_000_000))]).to_string(),
        "A binary operator with incompatible types was detected. Found operand types \
         'Edm.Int64' and 'Edm.String' for operator kind 'GreaterThan'."
    );
    assert!(matches!(
        eval_err("name and true", &[("name", s("x"))]),
        QueryError::IncompatibleOperands {
            operator: "And",
            ..
        }
    ));
    assert!(matches!(
        eval_err(
            "d eq '2024-01-01'",
            &[("d", Value::Date(date("2024-01-01")))]
        ),
        QueryError::IncompatibleOperands {
            left: "Edm.Date",
            right: "Edm.String",
            ..
        }
    ));
    assert_eq!(
        eval_err("name", &[("name", s("x"))]),
        QueryError::NotBoolean
    );
    assert_eq!(eval_err("5", &[]), QueryError::NotBoolean);
    // A null where a boolean is expected excludes the row; it is not an error.
    assert!(!passes("name", &[("name", Value::Null)]));
    // Errors outside expressions carry no position.
    assert_eq!(QueryError::NotBoolean.position(), None);
}

// ───────────────────────────── printing and properties ─────────────────────────────

#[test]
fn printing_round_trips() {
    for text in [
        "a eq 1",
        "a eq 1 or b eq 2 and c eq 3",
        "(a eq 1 or b eq 2) and c eq 3",
        "a eq 1 and b eq 2 and c eq 3 or d eq 4",
        "not (a eq 1)",
        "not a eq b",
        "not not a",
        "not (a and b)",
        "a eq b eq (c eq d)",
        "a lt b eq true",
        "(a eq b) lt c",
        "x in (1,2.5,'s',null,true,2024-01-01,2024-01-01T00:00:00Z)",
        "not x in (1)",
        "(a eq 1) in (true)",
        "contains(tolower(name),'o''neil') or creditlimit ge 1000.50",
        "year(d) eq 2024 and length(trim(n)) gt 0",
        "x eq -5 and y eq -0.5",
        "_x_value eq 6f9619ff-8b86-d011-b42d-00c04fc964ff",
    ] {
        let e = parse(text);
        let printed = e.to_string();
        assert_eq!(parse(&printed), e, "{text} printed as {printed}");
        assert_eq!(printed, text, "canonical text");
    }
}

#[test]
fn properties_lists_each_property_once() {
    let e = parse("a eq 1 and (b eq 2 or a eq 3) and contains(tolower(c),'x') and d in (1)");
    assert_eq!(e.properties(), ["a", "b", "c", "d"]);
    assert!(parse("true").properties().is_empty());
}

// ───────────────────────────── query strings ─────────────────────────────

#[test]
fn query_strings_are_percent_decoded() {
    let q = parse_query("$filter=name%20eq%20%27O%27%27Brien%27&$top=5").unwrap();
    assert_eq!(q.filter, Some(parse("name eq 'O''Brien'")));
    assert_eq!(q.top, Some(5));
    // The `$` itself may be encoded, and a leading `?` is allowed.
    let q = parse_query("?%24filter=a+eq+1").unwrap();
    assert_eq!(q.filter, Some(parse("a eq 1")));
    // `+` is a space; a literal plus must come as %2B.
    let q = parse_query("$filter=m%20gt%202024-01-01T08:00:00%2B02:00").unwrap();
    assert_eq!(q.filter, Some(parse("m gt 2024-01-01T06:00:00Z")));
    let e = parse_query("$filter=m%20gt%202024-01-01T08:00:00+02:00").unwrap_err();
    assert_eq!(e.position(), Some(24), "{e}");
    // The same shape inside a string is data.
    let e = parse_query("$filter=s%20eq%20%272024-01-01T08:00:00 02:00%27%20and").unwrap_err();
    assert_eq!(e.position(), Some(36), "{e}");
    let q = parse_query("$filter=s+eq+%27a%2Bb%27").unwrap();
    assert_eq!(q.filter, Some(parse("s eq 'a+b'")));
    // Encoded `&` and `=` stay inside the value; a raw `=` after the first is part of it.
    let q = parse_query("$filter=s%20eq%20%27a%26b%3Dc%27").unwrap();
    assert_eq!(q.filter, Some(parse("s eq 'a&b=c'")));
    let q = parse_query("$filter=s eq 'x=y'").unwrap();
    assert_eq!(q.filter, Some(parse("s eq 'x=y'")));
    // UTF-8 across escapes; malformed escapes stay as they are.
    let q = parse_query("$filter=s%20eq%20%27M%C3%BCller%27").unwrap();
    assert_eq!(q.filter, Some(parse("s eq 'Müller'")));
    let q = parse_query("$skiptoken=a%zz%2").unwrap();
    assert_eq!(q.skiptoken.as_deref(), Some("a%zz%2"));
}

#[test]
fn query_options_are_read() {
    let q = parse_query(
        "$select=name,accountid,%20statecode&$orderby=name%20asc,createdon%20desc,number\
         &$top=50&$skiptoken=abc%3D%3D&$count=true&$filter=statecode%20eq%200",
    )
    .unwrap();
    assert_eq!(
        q,
        Query {
            filter: Some(parse("statecode eq 0")),
            select: Some(vec!["name".into(), "accountid".into(), "statecode".into()]),
            orderby: vec![
                ("name".into(), false),
                ("createdon".into(), true),
                ("number".into(), false)
            ],
            top: Some(50),
            skip: None,
            skiptoken: Some("abc==".into()),
            count: true,
        }
    );
    assert_eq!(parse_query("").unwrap(), Query::default());
    assert_eq!(parse_query("?").unwrap(), Query::default());
    assert!(!parse_query("$count=false").unwrap().count);
    assert_eq!(parse_query("$top=0").unwrap().top, Some(0));
    // `*` selects everything; repeats collapse.
    assert_eq!(parse_query("$select=*").unwrap().select, None);
    assert_eq!(parse_query("$select=name,*").unwrap().select, None);
    assert_eq!(
        parse_query("$select=b,a,b").unwrap().select,
        Some(vec!["b".to_string(), "a".to_string()])
    );
    // Parameters without `$` are not system query options.
    let q = parse_query("foo=bar&@p1=1&debug-mode&&$top=1").unwrap();
    assert_eq!(q.top, Some(1));
}

#[test]
fn bad_query_options_are_refused() {
    for (raw, message) in [
        (
            "$expand=primarycontactid",
            "The query parameter '$expand' is not supported.",
        ),
        (
            "$search=x",
            "The query parameter '$search' is not supported.",
        ),
        (
            "$skip=-1",
            "Invalid value '-1' for $skip query option found. The $skip query option requires a \
             non-negative integer value.",
        ),
        (
            "$Filter=a%20eq%201",
            "The query parameter '$Filter' is not supported.",
        ),
        (
            "$top=1&$top=2",
            "Query option '$top' was specified more than once, but it must be specified at \
             most once.",
        ),
        (
            "$top=-1",
            "Invalid value '-1' for $top query option found. The $top query option requires a \
             non-negative integer value.",
        ),
        (
            "$top=abc",
            "Invalid value 'abc' for $top query option found. The $top query option requires \
             a non-negative integer value.",
        ),
        (
            "$top=",
            "Invalid value '' for $top query option found. The $top query option requires a \
             non-negative integer value.",
        ),
        (
            "$top=99999999999999999999999",
            "Invalid value '99999999999999999999999' for $top query option found. The $top \
             query option requires a non-negative integer value.",
        ),
        (
            "$count=TRUE",
            "Invalid value 'TRUE' for $count query option found. Valid values are 'true, \
             false'.",
        ),
        (
            "$count",
            "Invalid value '' for $count query option found. Valid values are 'true, false'.",
        ),
        (
            "$skiptoken=",
            "The $skiptoken query option requires a non-empty value.",
        ),
        ("$filter=", "Expression expected at position 0 in ''."),
        (
            "$filter=name%20eq",
            "Expression expected at position 7 in 'name eq'.",
        ),
        ("$select=", "Expression expected at position 0 in ''."),
        (
            "$select=name,",
            "Expression expected at position 5 in 'name,'.",
        ),
        ("$select=a/b", "Syntax error at position 1 in 'a/b'."),
        (
            "$orderby=name%20up",
            "Syntax error at position 5 in 'name up'.",
        ),
        (
            "$orderby=name%20DESC",
            "Syntax error at position 5 in 'name DESC'.",
        ),
        (
            "$orderby=tolower(name)",
            "Syntax error at position 7 in 'tolower(name)'.",
        ),
    ] {
        match parse_query(raw) {
            Ok(q) => panic!("{raw} should fail, got {q:?}"),
            Err(e) => assert_eq!(e.to_string(), message, "{raw}"),
        }
    }
}

// ───────────────────────────── ordering ─────────────────────────────

#[test]
fn orderby_puts_null_first_and_compares_like_the_filter() {
    let o = EvalOptions::default();
    let c = |a: &Value, b: &Value| compare_for_orderby(a, b, &o);
    assert_eq!(c(&Value::Null, &Value::Int(1)), Ordering::Less);
    assert_eq!(c(&Value::Int(1), &Value::Absent), Ordering::Greater);
    assert_eq!(c(&Value::Null, &Value::Absent), Ordering::Equal);
    assert_eq!(
        c(&Value::Int(2), &Value::Decimal(dec("1.5"))),
        Ordering::Greater
    );
    assert_eq!(
        c(&Value::Decimal(dec("2.00")), &Value::Int(2)),
        Ordering::Equal
    );
    assert_eq!(c(&s("B"), &s("a")), Ordering::Less);
    assert_eq!(
        compare_for_orderby(&s("B"), &s("a"), &EvalOptions { ignore_case: true }),
        Ordering::Greater
    );
    assert_eq!(
        c(
            &Value::Date(date("2024-01-01")),
            &Value::DateTime(ts("2024-01-01T00:00:01Z"))
        ),
        Ordering::Less
    );
    // Mixed types still sort, by type.
    assert_eq!(c(&Value::Bool(true), &Value::Int(0)), Ordering::Less);
    let mut values = [s("b"), Value::Null, s("a"), Value::Absent];
    values.sort_by(|a, b| c(a, b));
    assert_eq!(values[2..], [s("a"), s("b")]);
}

#[test]
fn long_chains_stay_shallow() {
    // A connector may fetch a page of records by key as `id eq … or id eq …`; thousands of
    // terms are one node, so evaluating, printing and dropping them needs no deep recursion
    // (on a thread with the 2 MiB stack a server's worker has).
    let keys: Vec<String> = (0..5000)
        .map(|i| format!("id eq 00000000-0000-0000-0000-{i:012}"))
        .collect();
    let text = keys.join(" or ");
    let worker = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let e = parse_filter(&text).unwrap();
            let hit = row(&[("id", s("00000000-0000-0000-0000-000000004999"))]);
            let miss = row(&[("id", s("00000000-0000-0000-0000-000000005000"))]);
            let found = (
                eval_filter(&e, &hit).unwrap(),
                eval_filter(&e, &miss).unwrap(),
            );
            (found, e.to_string() == text)
        })
        .unwrap();
    assert_eq!(worker.join().unwrap(), ((true, false), true));
    // Comparison chains do nest, and are bounded like parentheses.
    let chain = format!("a{}", " eq a".repeat(150));
    assert_eq!(parse_err(&chain), QueryError::TooDeep);
}
