//! The report built from the standard mappings: deterministic, and safe whatever the names.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;
use crate::plan::{BinOp, Expr, Literal};

use crate::plan::standard_plan;

fn page_of(plan: &Plan, store: Option<&Store>) -> String {
    let schemas = BTreeMap::new();
    let report = build(&Inputs {
        plan,
        schemas: &schemas,
        store,
        runs: 20,
        generated_at: "2025-01-01 00:00:00 UTC".into(),
    });
    match report {
        Ok(r) => html::page(&r),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    let plan = standard_plan();
    let a = page_of(&plan, None);
    let b = page_of(&plan.clone(), None);
    assert_eq!(a, b);
    // The diagram alone too, laid out twice from reports built twice.
    let schemas = BTreeMap::new();
    let inputs = Inputs {
        plan: &plan,
        schemas: &schemas,
        store: None,
        runs: 1,
        generated_at: String::new(),
    };
    let (Ok(r1), Ok(r2)) = (build(&inputs), build(&inputs)) else {
        panic!("build")
    };
    assert_eq!(diagram::svg(&r1), diagram::svg(&r2));
}

#[test]
fn the_diagram_has_one_arrow_per_table_mapping_in_dependency_order() {
    let plan = standard_plan();
    let schemas = BTreeMap::new();
    let Ok(r) = build(&Inputs {
        plan: &plan,
        schemas: &schemas,
        store: None,
        runs: 1,
        generated_at: String::new(),
    }) else {
        panic!("build")
    };
    let svg = diagram::svg(&r);
    assert_eq!(svg.matches("class=\"flow\"").count(), plan.tables.len());
    let order: Vec<usize> = plan
        .tables
        .iter()
        .map(|t| {
            svg.find(&format!("data-mapping=\"{}\"", t.name))
                .unwrap_or(usize::MAX)
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    // contacts waits for customers and vendors; customers for currencies and salespeople.
    assert!(svg.contains(r#"data-from="customers" data-to="contacts""#));
    assert!(svg.contains(r#"data-from="currencies" data-to="customers""#));
    // A two-way table mapping has a head at both ends, a one-way one at one.
    assert!(svg.contains(r#"data-mapping="customers" data-flow="↔""#));
    assert!(svg.contains(r#"data-mapping="salespeople" data-flow="←""#));
}

#[test]
fn names_and_literals_cannot_inject_markup() {
    let mut plan = standard_plan();
    let evil = r#"<script>alert("x")</script> & 'y'"#;
    let Some(t) = plan.tables.first_mut() else {
        panic!("no tables")
    };
    t.name = evil.into();
    t.left.table = "a<b".into();
    t.left.filter = Some(crate::plan::Filter {
        expr: Expr::Bin {
            op: BinOp::Eq,
            lhs: Box::new(Expr::Col("code".into())),
            rhs: Box::new(Expr::Lit(Literal::String(
                "</text></svg><img src=x>".into(),
            ))),
        },
        odata: Some("code eq '</code><b>'".into()),
        residual: None,
    });
    let page = page_of(&plan, None);
    for raw in ["<script", "<img", "<b>", "a<b", "</svg><"] {
        assert!(!page.contains(raw), "{raw} reached the page unescaped");
    }
    assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"));
    assert!(page.contains("&lt;/text&gt;&lt;/svg&gt;&lt;img src=x&gt;"));
    // Still exactly one diagram, with one arrow per table mapping.
    assert_eq!(page.matches("<svg").count(), 1);
    assert_eq!(page.matches("class=\"flow\"").count(), plan.tables.len());
}

#[test]
fn fields_are_shown_once_with_their_arrow_and_modifiers() {
    let plan = standard_plan();
    let Some(customers) = plan.table("customers") else {
        panic!("customers")
    };
    let none = words::Labels::new();
    let lines = fields::lines(customers, [&none, &none]);
    let find = |right: &str| {
        lines
            .iter()
            .find(|l| l.right == right)
            .unwrap_or_else(|| panic!("no line to {right}"))
    };
    let currency = find("transactioncurrencyid");
    assert_eq!(currency.left, "currencyCode");
    assert_eq!(currency.flow, Flow::Both);
    assert_eq!(currency.transform.as_deref(), Some("via currencies.code"));
    assert_eq!(currency.modifiers, ["clear on failure"]);
    assert_eq!(
        currency.lookup.as_deref(),
        Some("currencyCode via currencies.code")
    );
    let kind = find("customertypecode");
    assert_eq!(kind.flow, Flow::LeftToRight);
    assert_eq!(kind.modifiers, ["create only"]);
    // Source order, each line once: 18 field lines in customers.map.
    assert_eq!(lines.len(), 18);
    assert_eq!(lines.first().map(|l| l.left.as_str()), Some("number"));
}

#[test]
fn filters_read_with_option_labels_from_the_schemas() {
    let plan = standard_plan();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mappings/schemas");
    let mut schemas = BTreeMap::new();
    for (alias, file) in [("bc", "business-central.json"), ("dv", "dataverse.json")] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if let Ok(s) = crate::schema::load(&text) {
            schemas.insert(alias.to_string(), s);
        }
    }
    let Ok(r) = build(&Inputs {
        plan: &plan,
        schemas: &schemas,
        store: None,
        runs: 1,
        generated_at: String::new(),
    }) else {
        panic!("build")
    };
    let Some(customers) = r.tables.iter().find(|t| t.name == "customers") else {
        panic!("customers")
    };
    let words = customers.right.filter.as_ref().map(|f| f.words.as_str());
    assert_eq!(
        words,
        Some("statecode is Active and customertypecode is Customer")
    );
    assert_eq!(customers.right.shared_with, ["vendors"]);
    let kind = customers
        .fields
        .iter()
        .find(|f| f.right == "customertypecode");
    assert_eq!(kind.map(|f| f.left.as_str()), Some("\"Customer\""));
}
