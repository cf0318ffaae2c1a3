//! The tables of one emulated service, made from its schema snapshot by the sandbox itself:
//! not by the SQLite connector's DDL, so a sync into SQLite and a sync against the sandbox
//! stand on two storage layouts rather than one twice.
//!
//! Columns are declared by the storage class the sandbox's codec ([`super::storage`]) writes —
//! INTEGER for whole numbers, option values and booleans, TEXT for everything else — so SQLite's
//! affinity never converts what it stores (a decimal's `0.10` stays text). Beside the
//! snapshot's columns each table holds the row version (`_version`) and the Business Central
//! company the row belongs to (`_scope`, empty for Dataverse). Files written by earlier
//! versions, whose tables the connector's DDL made, open unchanged: tables are created only
//! when missing, and a missing `_scope` column is added.

use rusqlite::{Connection, TransactionBehavior};

use crate::schema::{ColumnSchema, ColumnType, SystemSchema, TableSchema};

use super::SandboxError;

/// The hidden column holding a row's company.
pub(super) const SCOPE: &str = "_scope";
/// The hidden row-version column.
pub(super) const VERSION: &str = "_version";

/// Text columns clients look rows up by, indexed without case where a table has them.
const LOOKED_UP: [&str; 9] = [
    "number",
    "code",
    "email",
    "displayName",
    "accountnumber",
    "emailaddress1",
    "internalemailaddress",
    "isocurrencycode",
    "name",
];

/// Whether a column is one clients look rows up by (indexed without case).
pub(crate) fn is_looked_up(column: &str) -> bool {
    LOOKED_UP.contains(&column)
}

/// A name as an SQL identifier.
pub(super) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A text as an SQL string literal.
fn quote_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Creates the tables of a snapshot that do not exist yet, with the indexes the services seek
/// rows by, in one transaction.
pub(super) fn create(conn: &mut Connection, schema: &SystemSchema) -> Result<(), SandboxError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    for t in &schema.tables {
        tx.execute_batch(&create_table_sql(t)).map_err(fail)?;
        add_scope(&tx, t)?;
        add_indexes(&tx, t)?;
    }
    tx.commit().map_err(fail)
}

fn fail(e: rusqlite::Error) -> SandboxError {
    SandboxError::Storage(format!("cannot create the tables: {e}"))
}

/// `CREATE TABLE IF NOT EXISTS` for one snapshot table: a required column is `NOT NULL`, so a
/// write that leaves it empty is the client's error, as on the services.
fn create_table_sql(t: &TableSchema) -> String {
    let mut defs: Vec<String> = t.columns.iter().map(|c| column_sql(t, c)).collect();
    defs.push(format!("{VERSION} INTEGER NOT NULL DEFAULT 1"));
    defs.push(format!("{SCOPE} TEXT NOT NULL DEFAULT ''"));
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n    {}\n)",
        ident(&t.name),
        defs.join(",\n    ")
    )
}

fn column_sql(t: &TableSchema, c: &ColumnSchema) -> String {
    let class = match c.ty {
        ColumnType::Int | ColumnType::Option { .. } | ColumnType::Bool => "INTEGER",
        _ => "TEXT",
    };
    let mut def = format!("{} {class}", ident(&c.name));
    if !c.nullable {
        def.push_str(" NOT NULL");
    }
    if c.name == t.key {
        def.push_str(" PRIMARY KEY");
    }
    if let Some(d) = c.default.as_ref().and_then(default_sql) {
        def.push_str(&format!(" DEFAULT {d}"));
    }
    def
}

/// A column default as SQL: numbers as written, booleans as 0/1, text quoted.
fn default_sql(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        serde_json::Value::String(t) => Some(quote_text(t)),
        _ => None,
    }
}

/// Adds the scope column to a table an earlier version made without one.
fn add_scope(conn: &Connection, t: &TableSchema) -> Result<(), SandboxError> {
    let count = format!(
        "SELECT COUNT(*) FROM pragma_table_info({}) WHERE name = '{SCOPE}'",
        quote_text(&t.name)
    );
    let has_scope = conn
        .query_row(&count, [], |r| r.get::<_, i64>(0))
        .map_err(fail)?
        > 0;
    if !has_scope {
        conn.execute_batch(&format!(
            "ALTER TABLE {} ADD COLUMN {SCOPE} TEXT NOT NULL DEFAULT ''",
            ident(&t.name)
        ))
        .map_err(fail)?;
    }
    Ok(())
}

/// The indexes the services seek rows by.
fn add_indexes(conn: &Connection, t: &TableSchema) -> Result<(), SandboxError> {
    let index = |name: String, columns: String| {
        let sql = format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({SCOPE}, {columns})",
            ident(&format!("_sandbox_{}_{name}", t.name)),
            ident(&t.name),
        );
        conn.execute_batch(&sql).map_err(fail)
    };
    // Change order, in which clients page through what changed since their last run.
    if let Some(m) = &t.modified_on {
        index(
            "modified".into(),
            format!("{}, {}", ident(m), ident(&t.key)),
        )?;
    }
    // Columns clients look rows up by (match rules, a create found again by what it
    // wrote) are compared as the services' collations do, without case: a real service
    // seeks them by index rather than reading the table for every lookup.
    for col in LOOKED_UP.iter().filter(|c| t.column(c).is_some()) {
        index(
            format!("{col}_nocase"),
            format!("{} COLLATE NOCASE", ident(col)),
        )?;
    }
    // Business Central numbers and codes are looked up on every create (they are
    // unique within a company); without an index ingest would slow with table size.
    for col in ["number", "code"]
        .into_iter()
        .filter(|c| t.column(c).is_some())
    {
        index(col.to_string(), ident(col))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::store::{Store, StoreError};
    use crate::schema::SystemSchema;
    use crate::value::{parse_decimal, Value};

    const KEY: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    fn schema() -> SystemSchema {
        crate::schema::load(
            r#"{"format_version": 1, "tables": [{"name": "things", "key": "id",
                "modified_on": "modifiedon", "columns": [
                {"name": "id", "type": "guid", "nullable": false},
                {"name": "name", "type": "string", "nullable": false},
                {"name": "amount", "type": "decimal"},
                {"name": "modifiedon", "type": "datetime"}]}]}"#,
        )
        .unwrap()
    }

    fn record(name: Option<&str>) -> BTreeMap<String, Value> {
        let mut fields = BTreeMap::new();
        fields.insert(
            "amount".to_string(),
            Value::Decimal(parse_decimal("0.10").unwrap()),
        );
        if let Some(name) = name {
            fields.insert("name".to_string(), Value::String(name.into()));
        }
        fields
    }

    #[test]
    fn the_time_a_store_is_held_counts_when_it_is_let_go() {
        let schema = schema();
        let store = Store::open(None, schema.clone()).unwrap();
        assert_eq!(store.held(), std::time::Duration::ZERO);
        let table = schema.table("things").unwrap();
        let mut db = store.lock();
        db.insert(table, "", KEY, &record(Some("a"))).unwrap();
        assert_eq!(store.held(), std::time::Duration::ZERO);
        drop(db);
        let once = store.held();
        assert!(once > std::time::Duration::ZERO);
        drop(store.lock());
        assert!(store.held() >= once);
    }

    #[test]
    fn decimals_are_kept_as_written_and_a_required_column_left_empty_is_the_clients_error() {
        let schema = schema();
        let store = Store::open(None, schema.clone()).unwrap();
        let table = schema.table("things").unwrap();
        let mut db = store.lock();
        let row = db.insert(table, "", KEY, &record(Some("a"))).unwrap();
        assert_eq!(row.get("amount").to_text().as_deref(), Some("0.10"));
        let other = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
        let refused = db.insert(table, "", other, &record(None));
        assert!(
            matches!(refused, Err(StoreError::Invalid(_))),
            "{refused:?}"
        );
    }

    #[test]
    fn a_file_whose_tables_an_earlier_version_made_opens_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            // Earlier versions made the tables with the SQLite connector's DDL, without a
            // company column and with its own declared types. The row's stamp is ahead of
            // this machine's clock, as after a clock stepped back.
            let mut conn = rusqlite::Connection::open(&path).unwrap();
            crate::connectors::sqlite::ddl::create_tables(&mut conn, &schema()).unwrap();
            conn.execute(
                "INSERT INTO things (id, name, amount, modifiedon, _version) \
                 VALUES (?1, 'old', '12.5000', '2999-01-01T00:00:00.000000Z', 7)",
                [KEY],
            )
            .unwrap();
        }
        let schema = schema();
        let store = Store::open(Some(&path), schema.clone()).unwrap();
        let table = schema.table("things").unwrap();
        let mut db = store.lock();
        let row = db.get(table, "", KEY).unwrap().unwrap();
        assert_eq!(row.get("name"), Value::String("old".into()));
        assert_eq!(row.get("amount").to_text().as_deref(), Some("12.5000"));
        assert_eq!(row.version, 7);
        let other = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
        let next = db.insert(table, "", other, &record(Some("new"))).unwrap();
        assert!(
            next.version > 7,
            "versions go on from the file's: {}",
            next.version
        );
        let stamp = |r: &super::super::store::Row| match r.get("modifiedon") {
            Value::DateTime(t) => t,
            other => panic!("{other:?}"),
        };
        let old = db.get(table, "", KEY).unwrap().unwrap();
        assert!(stamp(&next) > stamp(&old), "stamps go on from the file's");
    }
}
