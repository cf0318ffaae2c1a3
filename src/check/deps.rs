//! Dependency order between table mappings: `after` and lookups say which must sync first.
//! Cycles are errors; otherwise tables are ordered so each comes after its dependencies, ties
//! kept in source order so the plan is stable.

use std::collections::{BTreeMap, BTreeSet};

use super::Checker;
use crate::diagnostics::{Code, Diagnostic};
use crate::model;

impl Checker<'_> {
    /// Orders the tables and fills in `depends_on`; reports cycles.
    pub(super) fn dependency_order(&mut self, tables: &[model::Table]) -> Vec<model::Table> {
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        let deps: BTreeMap<String, Vec<String>> = names
            .iter()
            .map(|n| {
                let list = self
                    .deps
                    .get(n)
                    .map(|v| v.iter().map(|(d, _, _)| d.clone()).collect())
                    .unwrap_or_default();
                (n.clone(), list)
            })
            .collect();
        self.report_cycles(&names, &deps);
        let mut placed: BTreeSet<String> = BTreeSet::new();
        let mut out = Vec::new();
        while out.len() < tables.len() {
            // The first table in source order whose dependencies are all placed; on a cycle
            // (already reported) the first unplaced one, so ordering still terminates.
            let next = tables
                .iter()
                .find(|t| {
                    !placed.contains(&t.name)
                        && deps[&t.name]
                            .iter()
                            .all(|d| placed.contains(d) || !deps.contains_key(d))
                })
                .or_else(|| tables.iter().find(|t| !placed.contains(&t.name)));
            let Some(t) = next else { break };
            let mut t = t.clone();
            let mut own = deps[&t.name].clone();
            own.sort_by_key(|d| names.iter().position(|n| n == d));
            t.depends_on = own;
            placed.insert(t.name.clone());
            out.push(t);
        }
        out
    }

    fn report_cycles(&mut self, names: &[String], deps: &BTreeMap<String, Vec<String>>) {
        let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
        for start in names {
            let mut path = vec![start.clone()];
            if let Some(cycle) = find_cycle(start, deps, &mut path, &mut BTreeSet::new()) {
                let mut key = cycle.clone();
                key.sort();
                if !reported.insert(key) {
                    continue;
                }
                // Label the edge that closes the cycle, where the last table names the first.
                let last = &cycle[cycle.len() - 1];
                let first = &cycle[0];
                let Some((_, file, span)) = self
                    .deps
                    .get(last)
                    .and_then(|v| v.iter().find(|(d, _, _)| d == first))
                    .cloned()
                else {
                    continue;
                };
                let mut shown = cycle.clone();
                shown.push(first.clone());
                let mut d = Diagnostic::new(
                    Code::E0309,
                    file,
                    span,
                    format!("table mappings depend on each other: {}", shown.join(" → ")),
                )
                .label(format!("`{last}` needs `{first}` first"))
                .help("remove one `after` or lookup so one of them can sync first");
                for pair in cycle.windows(2) {
                    if let Some((_, f, s)) = self
                        .deps
                        .get(&pair[0])
                        .and_then(|v| v.iter().find(|(x, _, _)| *x == pair[1]))
                    {
                        d = d.with(*f, *s, format!("`{}` needs `{}` first", pair[0], pair[1]));
                    }
                }
                self.push(d);
            }
        }
    }
}

/// A path from `start` back to itself, if there is one.
fn find_cycle(
    start: &str,
    deps: &BTreeMap<String, Vec<String>>,
    path: &mut Vec<String>,
    visited: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    let current = path.last()?.clone();
    for next in deps.get(&current).into_iter().flatten() {
        if next == start {
            return Some(path.clone());
        }
        if visited.insert(next.clone()) {
            path.push(next.clone());
            if let Some(c) = find_cycle(start, deps, path, visited) {
                return Some(c);
            }
            path.pop();
        }
    }
    None
}
