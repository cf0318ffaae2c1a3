//! What a person knows a record by: its number and its name (`C00010 · Contoso Ltd.`), shown
//! beside its key wherever a record failed, since a GUID alone sends people to a database
//! query. The columns are found by their names among those the plan reads.

use std::collections::HashMap;

use super::{Engine, Pass};
use crate::connectors::Row;
use crate::plan::TableInfo;

/// Columns that number a record, most telling first.
const NUMBERS: [&str; 6] = [
    "number",
    "no",
    "code",
    "accountnumber",
    "employeeid",
    "isocurrencycode",
];

/// Columns that name a record, most telling first.
const NAMES: [&str; 9] = [
    "displayName",
    "name",
    "fullname",
    "currencyname",
    "lastname",
    "email",
    "emailaddress1",
    "internalemailaddress",
    "description",
];

/// The longest name shown; longer ones are cut with `…`.
const MAX_NAME: usize = 60;

/// The columns of a table that number and name its records, most telling first: worked out
/// once per batch, not once per row.
struct LabelColumns<'t> {
    numbers: Vec<&'t str>,
    names: Vec<&'t str>,
}

impl<'t> LabelColumns<'t> {
    fn of(table: &TableInfo) -> LabelColumns<'t> {
        let present = |names: &[&'t str]| {
            names
                .iter()
                .copied()
                .filter(|c| table.columns.contains_key(*c))
                .collect()
        };
        LabelColumns {
            numbers: present(&NUMBERS),
            names: present(&NAMES),
        }
    }

    /// A record's number and name as a person reads them.
    fn label(&self, row: &Row) -> Option<String> {
        let text = |names: &[&str]| {
            names.iter().find_map(|c| {
                let t = row.fields.get(*c)?.to_text()?;
                let t = t.trim();
                (!t.is_empty()).then(|| t.to_string())
            })
        };
        let name = text(&self.names).map(|n| {
            if n.chars().count() > MAX_NAME {
                format!("{}…", n.chars().take(MAX_NAME - 1).collect::<String>())
            } else {
                n
            }
        });
        match (text(&self.numbers), name) {
            (Some(n), Some(m)) if n != m => Some(format!("{n} · {m}")),
            (Some(n), _) => Some(n),
            (None, m) => m,
        }
    }
}

/// A record's number and name as a person reads them, from the columns of `table` it has.
#[cfg(test)]
fn label(table: &TableInfo, row: &Row) -> Option<String> {
    LabelColumns::of(table).label(row)
}

impl Engine<'_> {
    /// Forgets the labels remembered so far: a batch processed on its own starts.
    pub(crate) fn forget_labels(&self) {
        self.labels.borrow_mut().clear();
    }

    /// Forgets the labels of these source records: their batch is done.
    pub(crate) fn forget_labels_of(&self, keys: &[String]) {
        let mut labels = self.labels.borrow_mut();
        for k in keys {
            labels.remove(k);
        }
    }

    /// Remembers the labels of a batch's source rows, for its failures, until they are
    /// forgotten.
    pub(crate) fn remember_labels(&self, pass: &Pass<'_>, rows: &[Row]) {
        let columns = LabelColumns::of(pass.src.info);
        let mut labels = self.labels.borrow_mut();
        for row in rows {
            if let Some(l) = columns.label(row) {
                labels.insert(row.key.clone(), l);
            }
        }
    }

    /// Gives changes their source records' labels.
    pub(crate) fn label_changes(&self, changes: &mut [super::report::Change]) {
        let labels = self.labels.borrow();
        for c in changes.iter_mut().filter(|c| c.label.is_none()) {
            c.label = labels.get(&c.source_key).cloned();
        }
    }

    /// The label of a source record of a batch under way, if it has one.
    pub(crate) fn label_of(&self, source_key: &str) -> Option<String> {
        self.labels.borrow().get(source_key).cloned()
    }
}

/// The labels of a batch, by source key.
pub(crate) type Labels = std::cell::RefCell<HashMap<String, String>>;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::plan::ColumnInfo;
    use crate::value::Value;

    fn table(columns: &[&str]) -> TableInfo {
        TableInfo {
            entity_type: None,
            key: "id".into(),
            modified_on: None,
            columns: columns
                .iter()
                .map(|c| (c.to_string(), ColumnInfo::default()))
                .collect(),
        }
    }

    fn row(fields: &[(&str, &str)]) -> Row {
        Row {
            key: "k".into(),
            modified_on: None,
            etag: None,
            fields: fields
                .iter()
                .map(|(c, v)| (c.to_string(), Value::String(v.to_string())))
                .collect::<BTreeMap<_, _>>(),
            invalid: None,
        }
    }

    #[test]
    fn a_record_is_known_by_its_number_and_name() {
        let t = table(&["number", "displayName", "city"]);
        let r = row(&[
            ("number", "C00010"),
            ("displayName", "Contoso Ltd."),
            ("city", "Paris"),
        ]);
        assert_eq!(label(&t, &r).as_deref(), Some("C00010 · Contoso Ltd."));
        // Only what the plan reads counts, and blanks are no names.
        let t = table(&["accountnumber", "name"]);
        let r = row(&[
            ("accountnumber", " "),
            ("name", "Fabrikam"),
            ("number", "X"),
        ]);
        assert_eq!(label(&t, &r).as_deref(), Some("Fabrikam"));
        assert_eq!(label(&table(&["city"]), &row(&[("city", "Rome")])), None);
        let long = "n".repeat(100);
        let r = row(&[("name", long.as_str())]);
        let shown = label(&table(&["name"]), &r).unwrap();
        assert_eq!(shown.chars().count(), MAX_NAME);
        assert!(shown.ends_with('…'));
    }
}
