//! Systems and source files compared: a system's kind and schema, the tables and columns the
//! mappings use of it, and the digests of the files the plan was compiled from.

use std::collections::{BTreeMap, BTreeSet};

use super::{by_name, compare, Change, Entry};
use crate::plan::model::{ColumnInfo, Plan, System, TableInfo};

pub(super) fn sources(old: &Plan, new: &Plan) -> Vec<Entry> {
    let o: BTreeMap<String, String> = old
        .sources
        .iter()
        .map(|s| (s.path.clone(), s.sha256.clone()))
        .collect();
    let n: BTreeMap<String, String> = new
        .sources
        .iter()
        .map(|s| (s.path.clone(), s.sha256.clone()))
        .collect();
    by_name(&o, &n, "source", |_, d| d.clone())
}

pub(super) fn systems(old: &Plan, new: &Plan) -> Vec<Entry> {
    let names: BTreeSet<&String> = old.systems.keys().chain(new.systems.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        match (old.systems.get(name), new.systems.get(name)) {
            (Some(o), None) => out.push(Entry::removed("system", Some(name), system_line(o))),
            (None, Some(n)) => out.push(Entry::added("system", Some(name), system_line(n))),
            (Some(o), Some(n)) => {
                let details = system_details(old, o, new, n);
                if !details.is_empty() {
                    out.push(
                        Entry::new(Change::Changed, "system", Some(name)).with_details(details),
                    );
                }
            }
            (None, None) => {}
        }
    }
    out
}

fn system_line(s: &System) -> String {
    format!("{} (schema {})", s.kind, s.schema)
}

fn schema_digest<'a>(plan: &'a Plan, path: &str) -> Option<&'a str> {
    plan.sources
        .iter()
        .find(|s| s.path == path)
        .map(|s| s.sha256.as_str())
}

fn system_details(old_plan: &Plan, o: &System, new_plan: &Plan, n: &System) -> Vec<Entry> {
    let mut out = Vec::new();
    out.extend(compare(
        "kind",
        None,
        Some(o.kind.to_string()),
        Some(n.kind.to_string()),
    ));
    out.extend(compare(
        "schema",
        None,
        Some(o.schema.clone()),
        Some(n.schema.clone()),
    ));
    if o.schema == n.schema {
        let (od, nd) = (
            schema_digest(old_plan, &o.schema),
            schema_digest(new_plan, &n.schema),
        );
        if od != nd {
            out.push(Entry::changed(
                "schema contents",
                Some(&n.schema),
                od.unwrap_or("?").to_string(),
                nd.unwrap_or("?").to_string(),
            ));
        }
    }
    // Tables and columns the plan starts or stops using follow from field changes, shown under
    // the table mappings; here only what the schema says about the ones used in both.
    for (name, ot) in &o.tables {
        if let Some(nt) = n.tables.get(name) {
            let details = table_info(ot, nt);
            if !details.is_empty() {
                out.push(Entry::new(Change::Changed, "table", Some(name)).with_details(details));
            }
        }
    }
    out
}

fn table_info(o: &TableInfo, n: &TableInfo) -> Vec<Entry> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    let mut out = Vec::new();
    out.extend(compare(
        "key",
        None,
        Some(o.key.clone()),
        Some(n.key.clone()),
    ));
    out.extend(compare(
        "modified on",
        None,
        Some(opt(&o.modified_on)),
        Some(opt(&n.modified_on)),
    ));
    out.extend(compare(
        "entity type",
        None,
        Some(opt(&o.entity_type)),
        Some(opt(&n.entity_type)),
    ));
    for (name, oc) in &o.columns {
        if let Some(nc) = n.columns.get(name) {
            out.extend(compare(
                "column",
                Some(name),
                Some(column(oc)),
                Some(column(nc)),
            ));
        }
    }
    out
}

fn column(c: &ColumnInfo) -> String {
    let mut s = c.ty.to_string();
    if let Some(m) = c.max_length {
        s.push_str(&format!("({m})"));
    }
    if !c.targets.is_empty() {
        s.push_str(&format!(" → {}", c.targets.join(" | ")));
    }
    s
}
