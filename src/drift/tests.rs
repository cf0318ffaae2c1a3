use super::*;
use crate::schema::{ColumnSchema, OptionValue, TableSchema, SCHEMA_FORMAT_VERSION};

fn col(name: &str, ty: ColumnType) -> ColumnSchema {
    ColumnSchema::new(name, ty)
}

fn text(max: Option<u32>) -> ColumnType {
    ColumnType::String { max_length: max }
}

fn schema(columns: Vec<ColumnSchema>) -> SystemSchema {
    SystemSchema {
        format_version: SCHEMA_FORMAT_VERSION,
        source: None,
        tables: vec![TableSchema {
            name: "accounts".into(),
            entity_type: None,
            key: "id".into(),
            modified_on: None,
            columns,
        }],
    }
}

fn used(columns: &[(&str, bool)]) -> Vec<UsedTable> {
    vec![UsedTable {
        name: "accounts".into(),
        columns: columns.iter().map(|(c, w)| (c.to_string(), *w)).collect(),
    }]
}

fn kinds(found: &[Finding]) -> Vec<(Option<&str>, &DriftKind)> {
    found
        .iter()
        .map(|f| (f.column.as_deref(), &f.kind))
        .collect()
}

#[test]
fn the_same_schema_has_no_drift() {
    let s = schema(vec![
        col("id", ColumnType::Guid),
        col("name", text(Some(100))),
    ]);
    assert!(compare(&s, &s, &used(&[("id", false), ("name", true)])).is_empty());
}

#[test]
fn a_missing_table_is_one_finding_whatever_its_columns() {
    let s = schema(vec![col("id", ColumnType::Guid)]);
    let mut live = s.clone();
    live.tables[0].name = "other".into();
    let found = compare(&s, &live, &used(&[("id", false), ("name", true)]));
    assert_eq!(kinds(&found), vec![(None, &DriftKind::TableMissing)]);
    assert_eq!(found[0].kind.code(), Code::E0601);
}

#[test]
fn missing_columns_and_changed_types_are_errors() {
    let s = schema(vec![
        col("id", ColumnType::Guid),
        col("name", text(None)),
        col("credit", ColumnType::DECIMAL),
    ]);
    let live = schema(vec![col("id", ColumnType::Guid), col("credit", text(None))]);
    let found = compare(
        &s,
        &live,
        &used(&[("id", false), ("name", true), ("credit", false)]),
    );
    assert_eq!(
        kinds(&found),
        vec![
            (
                Some("credit"),
                &DriftKind::TypeDiffers {
                    snapshot: "decimal".into(),
                    live: "string".into()
                }
            ),
            (Some("name"), &DriftKind::ColumnMissing),
        ]
    );
    assert_eq!(found[0].kind.code(), Code::E0603);
    assert_eq!(found[1].kind.code(), Code::E0602);
}

#[test]
fn an_option_set_read_as_integers_is_the_same_type() {
    let options = ColumnType::Option {
        options: vec![OptionValue {
            value: 0,
            label: "Active".into(),
        }],
    };
    let s = schema(vec![col("statecode", options)]);
    let live = schema(vec![col("statecode", ColumnType::Int)]);
    assert!(compare(&s, &live, &used(&[("statecode", false)])).is_empty());
    // The other way round is a change: an integer column is not an option set.
    assert_eq!(compare(&live, &s, &used(&[("statecode", false)])).len(), 1);
}

#[test]
fn a_guid_now_known_as_a_lookup_is_the_same_column() {
    let s = schema(vec![col("customerId", ColumnType::Guid)]);
    let lookup = ColumnType::Lookup {
        targets: vec!["customers".into()],
    };
    let live = schema(vec![col("customerId", lookup)]);
    assert!(compare(&s, &live, &used(&[("customerId", true)])).is_empty());
    // A lookup that became a plain GUID is a change: `via` no longer has a target.
    assert_eq!(compare(&live, &s, &used(&[("customerId", true)])).len(), 1);
}

#[test]
fn read_only_matters_only_for_columns_the_plan_writes() {
    let s = schema(vec![col("a", text(None)), col("b", text(None))]);
    let mut live = s.clone();
    for c in &mut live.tables[0].columns {
        c.read_only = true;
    }
    let found = compare(&s, &live, &used(&[("a", true), ("b", false)]));
    assert_eq!(kinds(&found), vec![(Some("a"), &DriftKind::BecameReadOnly)]);
    assert_eq!(found[0].kind.code(), Code::E0604);
}

#[test]
fn a_shorter_maximum_length_warns_and_a_longer_one_does_not() {
    let s = schema(vec![col("a", text(Some(100))), col("b", text(None))]);
    let live = schema(vec![col("a", text(Some(50))), col("b", text(Some(200)))]);
    let found = compare(&s, &live, &used(&[("a", true), ("b", true)]));
    assert_eq!(
        kinds(&found),
        vec![
            (
                Some("a"),
                &DriftKind::MaxLengthShorter {
                    snapshot: Some(100),
                    live: 50
                }
            ),
            (
                Some("b"),
                &DriftKind::MaxLengthShorter {
                    snapshot: None,
                    live: 200
                }
            ),
        ]
    );
    assert_eq!(found[0].kind.code(), Code::W0601);
    let grown = schema(vec![col("a", text(Some(200))), col("b", text(None))]);
    assert!(compare(&s, &grown, &used(&[("a", true), ("b", true)])).is_empty());
}

#[test]
fn removed_members_options_and_lookup_targets_warn() {
    let members = |m: &[&str]| ColumnType::Enum {
        members: m.iter().map(|s| s.to_string()).collect(),
    };
    let targets = |t: &[&str]| ColumnType::Lookup {
        targets: t.iter().map(|s| s.to_string()).collect(),
    };
    let options = |o: &[(i64, &str)]| ColumnType::Option {
        options: o
            .iter()
            .map(|(v, l)| OptionValue {
                value: *v,
                label: l.to_string(),
            })
            .collect(),
    };
    let s = schema(vec![
        col("blocked", members(&[" ", "Ship", "All"])),
        col("parent", targets(&["accounts", "contacts"])),
        col("kind", options(&[(1, "A"), (3, "Customer")])),
    ]);
    let live = schema(vec![
        col("blocked", members(&[" ", "All", "New"])),
        col("parent", targets(&["accounts"])),
        col("kind", options(&[(1, "A")])),
    ]);
    let found = compare(
        &s,
        &live,
        &used(&[("blocked", false), ("parent", true), ("kind", false)]),
    );
    let value = |v: &str| DriftKind::ValueMissing { value: v.into() };
    assert_eq!(
        kinds(&found),
        vec![
            (Some("blocked"), &value("Ship")),
            (Some("kind"), &value("Customer (3)")),
            (Some("parent"), &value("contacts")),
        ]
    );
    assert!(found.iter().all(|f| f.kind.code() == Code::W0602));
}

#[test]
fn the_standard_plan_uses_what_it_writes() {
    let files: Vec<std::path::PathBuf> =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "map"))
            .collect();
    let c = crate::compile(&files, &crate::project::FsLoader).unwrap();
    let plan = c.plan.unwrap();
    let dv = used_by(&plan, "dv");
    let accounts = dv.iter().find(|t| t.name == "accounts").unwrap();
    assert_eq!(accounts.columns.get("name"), Some(&true));
    assert_eq!(accounts.columns.get("accountid"), Some(&false));
    assert!(used_by(&plan, "nope").is_empty());
}
