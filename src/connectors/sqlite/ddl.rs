//! Tables from a schema snapshot (`create_tables`) and a snapshot from tables (`introspect`).
//!
//! Declared column types name the syncmap type first and the storage class second where they
//! differ (`GUID TEXT`, `DECIMAL TEXT`, `OPTION INTEGER`), because SQLite derives a column's
//! affinity from its declared type: a bare `DECIMAL` would get NUMERIC affinity and turn the
//! exact text `0.10` into the REAL 0.1. Details a declared type cannot carry (option labels,
//! enum members, lookup targets, descriptions, read-only flags, the entity type) are kept in
//! metadata tables `_syncmap_tables`, `_syncmap_columns` and `_syncmap_schema`, used by
//! `introspect` when they agree with the real tables.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{ident, sql_error, Layout, VERSION_COLUMN};
use crate::connectors::ConnectorError;
use crate::schema::choices;
use crate::schema::{ColumnSchema, ColumnType, SystemSchema, TableSchema, SCHEMA_FORMAT_VERSION};

/// Names of columns that mean "modified on" in tables without metadata, in order of preference.
const MODIFIED_ON_NAMES: [&str; 3] = ["modifiedon", "lastModifiedDateTime", "modified_on"];

/// Prefix of the metadata tables, which `introspect` leaves out.
const META_PREFIX: &str = "_syncmap_";

const CREATE_META: &str = r#"
CREATE TABLE IF NOT EXISTS "_syncmap_schema" (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS "_syncmap_tables" (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    entity_type TEXT,
    key TEXT NOT NULL,
    modified_on TEXT
);
CREATE TABLE IF NOT EXISTS "_syncmap_columns" (
    table_name TEXT NOT NULL,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    spec TEXT NOT NULL,
    PRIMARY KEY (table_name, name)
);
"#;

/// The declared SQLite type for a column type.
pub(super) fn declared_type(ty: &ColumnType) -> String {
    match ty {
        ColumnType::String {
            max_length: Some(n),
        } => format!("VARCHAR({n})"),
        ColumnType::String { max_length: None } => "TEXT".into(),
        ColumnType::Int => "INTEGER".into(),
        // SQL reads `DECIMAL(p)` as scale 0, so a variable scale states no facets at all.
        ColumnType::Decimal {
            precision: Some(p),
            scale: Some(s),
        } => format!("DECIMAL TEXT({p},{s})"),
        ColumnType::Decimal { .. } => "DECIMAL TEXT".into(),
        ColumnType::Bool => "BOOLEAN".into(),
        ColumnType::Date => "DATE TEXT".into(),
        ColumnType::Datetime => "DATETIME TEXT".into(),
        ColumnType::Guid => "GUID TEXT".into(),
        ColumnType::Option { .. } => "OPTION INTEGER".into(),
        ColumnType::Enum { .. } => "ENUM TEXT".into(),
        ColumnType::Lookup { .. } => "LOOKUP TEXT".into(),
    }
}

/// The column type a declared SQLite type stands for: the syncmap names this module writes
/// (`GUID`, `OPTION`, `ENUM`, `LOOKUP`, `BOOLEAN`, `DATE`, `DATETIME`, `DECIMAL`) and common
/// SQL names first, then SQLite's affinity rules; anything else is text. Option sets, enum
/// members and lookup targets come back empty (the metadata tables fill them in).
pub(super) fn inferred_type(declared: &str) -> ColumnType {
    let upper = declared.to_ascii_uppercase();
    let first = upper
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .find(|w| !w.is_empty())
        .unwrap_or("");
    match first {
        "GUID" | "UUID" | "UNIQUEIDENTIFIER" => return ColumnType::Guid,
        "OPTION" => return ColumnType::Option { options: vec![] },
        "ENUM" => return ColumnType::Enum { members: vec![] },
        "LOOKUP" => return ColumnType::Lookup { targets: vec![] },
        "BOOLEAN" | "BOOL" | "BIT" => return ColumnType::Bool,
        "DATETIME" | "DATETIME2" | "DATETIMEOFFSET" | "TIMESTAMP" | "TIMESTAMPTZ" => {
            return ColumnType::Datetime
        }
        "DATE" => return ColumnType::Date,
        "DECIMAL" | "NUMERIC" | "NUMBER" => return decimal_of(&upper),
        "MONEY" | "REAL" | "FLOAT" | "DOUBLE" => return ColumnType::DECIMAL,
        _ => {}
    }
    if upper.contains("INT") {
        ColumnType::Int
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|s| upper.contains(s)) {
        ColumnType::String {
            max_length: length_of(&upper),
        }
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|s| upper.contains(s)) {
        ColumnType::DECIMAL
    } else {
        ColumnType::String { max_length: None }
    }
}

/// `n` of a declared type like `VARCHAR(n)`.
fn length_of(declared: &str) -> Option<u32> {
    arguments(declared).first().and_then(|n| n.parse().ok())
}

/// The precision and scale of `DECIMAL(p,s)` (SQL's scale defaults to 0 when only `p` is
/// given); a plain `DECIMAL` states neither.
fn decimal_of(declared: &str) -> ColumnType {
    let args = arguments(declared);
    let precision = args.first().and_then(|p| p.parse().ok());
    let scale = match args.get(1) {
        Some(s) => s.parse().ok(),
        None => precision.map(|_| 0),
    };
    ColumnType::Decimal { precision, scale }
}

/// The comma-separated arguments of the first parenthesis of a declared type, trimmed.
fn arguments(declared: &str) -> Vec<&str> {
    let Some(open) = declared.find('(') else {
        return Vec::new();
    };
    let Some(close) = declared[open..].find(')') else {
        return Vec::new();
    };
    declared[open + 1..open + close]
        .split(',')
        .map(str::trim)
        .collect()
}

/// Creates the tables of a snapshot that do not exist yet, their `(modified_on, key)` indexes
/// and the metadata `introspect` reads, in one transaction.
pub(crate) fn create_tables(
    conn: &mut Connection,
    schema: &SystemSchema,
) -> Result<(), ConnectorError> {
    check_names(schema)?;
    let fail = create_failed;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    tx.execute_batch(CREATE_META).map_err(fail)?;
    tx.execute(
        r#"INSERT OR REPLACE INTO "_syncmap_schema" (name, value) VALUES ('source', ?1)"#,
        params![schema.source],
    )
    .map_err(fail)?;
    for (position, t) in schema.tables.iter().enumerate() {
        tx.execute_batch(&create_table_sql(t)).map_err(fail)?;
        if let Some(m) = &t.modified_on {
            let index = format!("{META_PREFIX}{}_modified", t.name);
            let sql = format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({}, {})",
                ident(&index),
                ident(&t.name),
                ident(m),
                ident(&t.key)
            );
            tx.execute_batch(&sql).map_err(fail)?;
        }
        record_table(&tx, position, t)?;
    }
    create_choice_tables(&tx, schema)?;
    tx.commit().map_err(fail)
}

/// The options of every choice column as a table of their own (`accounts.paymenttermscode`,
/// see [`crate::schema::choices`]), holding the snapshot's options: a database standing in
/// for Dataverse serves option mappings as Dataverse does, new options numbered after the
/// largest. Not recorded for `introspect`, which leaves them out: they are no tables of the
/// system's own.
fn create_choice_tables(conn: &Connection, schema: &SystemSchema) -> Result<(), ConnectorError> {
    for (t, c) in schema
        .tables
        .iter()
        .flat_map(|t| t.columns.iter().map(move |c| (t, c)))
    {
        let (Some(choice), ColumnType::Option { options }) = (choices::choice_table(t, c), &c.ty)
        else {
            continue;
        };
        // Seeded once, when made: options deleted since stay deleted.
        if has_table(conn, &choice.name)? {
            continue;
        }
        conn.execute_batch(&create_table_sql(&choice))
            .map_err(create_failed)?;
        let sql = format!(
            "INSERT OR IGNORE INTO {} ({}, {}) VALUES (?1, ?2)",
            ident(&choice.name),
            ident(choices::VALUE),
            ident(choices::LABEL)
        );
        for o in options {
            conn.execute(&sql, params![o.value, o.label])
                .map_err(create_failed)?;
        }
    }
    Ok(())
}

fn create_failed(e: rusqlite::Error) -> ConnectorError {
    sql_error("cannot create tables", e)
}

/// Refuses tables whose names SQLite or the connector reserve, and columns named as the
/// hidden version column.
fn check_names(schema: &SystemSchema) -> Result<(), ConnectorError> {
    for t in &schema.tables {
        if t.name.starts_with("sqlite_") || t.name.starts_with(META_PREFIX) {
            return Err(ConnectorError::Fatal(format!(
                "table name `{}` is reserved in SQLite databases",
                t.name
            )));
        }
        if t.columns.iter().any(|c| c.name == VERSION_COLUMN) {
            return Err(ConnectorError::Fatal(format!(
                "table `{}` has a column named `{VERSION_COLUMN}`, which the SQLite connector \
                 uses for row versions",
                t.name
            )));
        }
    }
    Ok(())
}

/// Records a table and its columns, in snapshot order, in the metadata tables.
fn record_table(conn: &Connection, position: usize, t: &TableSchema) -> Result<(), ConnectorError> {
    let fail = create_failed;
    let position = i64::try_from(position).unwrap_or(i64::MAX);
    conn.execute(
        r#"INSERT OR REPLACE INTO "_syncmap_tables" (name, position, entity_type, key,
           modified_on) VALUES (?1, ?2, ?3, ?4, ?5)"#,
        params![t.name, position, t.entity_type, t.key, t.modified_on],
    )
    .map_err(fail)?;
    conn.execute(
        r#"DELETE FROM "_syncmap_columns" WHERE table_name = ?1"#,
        params![t.name],
    )
    .map_err(fail)?;
    for (position, c) in t.columns.iter().enumerate() {
        let spec = serde_json::to_string(c).map_err(|e| {
            ConnectorError::Fatal(format!("cannot describe column `{}`: {e}", c.name))
        })?;
        let position = i64::try_from(position).unwrap_or(i64::MAX);
        conn.execute(
            r#"INSERT INTO "_syncmap_columns" (table_name, name, position, spec)
               VALUES (?1, ?2, ?3, ?4)"#,
            params![t.name, c.name, position, spec],
        )
        .map_err(fail)?;
    }
    Ok(())
}

/// A column default as SQL: numbers as they are, booleans as 0/1, text quoted.
fn default_sql(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        serde_json::Value::String(t) => Some(format!("'{}'", t.replace('\'', "''"))),
        _ => None,
    }
}

/// `CREATE TABLE IF NOT EXISTS` for one snapshot table, with the hidden version column.
fn create_table_sql(t: &TableSchema) -> String {
    let mut defs: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let mut def = format!("{} {}", ident(&c.name), declared_type(&c.ty));
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
        })
        .collect();
    defs.push(format!(
        "{} INTEGER NOT NULL DEFAULT 1",
        ident(VERSION_COLUMN)
    ));
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n    {}\n)",
        ident(&t.name),
        defs.join(",\n    ")
    )
}

/// What `create_tables` recorded of one table.
struct TableMeta {
    position: i64,
    entity_type: Option<String>,
    modified_on: Option<String>,
    columns: Vec<(String, String)>,
}

/// A snapshot of every table with a single-column primary key (others are left out: a
/// connector needs one key column), skipping SQLite's own tables, the metadata tables and the
/// version column. Types come from declared types, refined by the metadata where it exists
/// and agrees with the table's real column; nullability always from `NOT NULL`.
pub(super) fn introspect(
    conn: &Connection,
    label: Option<&str>,
) -> Result<SystemSchema, ConnectorError> {
    let source = if has_table(conn, "_syncmap_schema")? {
        conn.query_row(
            r#"SELECT value FROM "_syncmap_schema" WHERE name = 'source'"#,
            [],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()
        .map_err(read_failed)?
    } else {
        None
    };
    let source = source.unwrap_or_else(|| label.map(|l| format!("SQLite database {l}")));
    let with_meta = has_table(conn, "_syncmap_tables")? && has_table(conn, "_syncmap_columns")?;
    let mut tables = Vec::new();
    for (order, name) in table_names(conn)?.into_iter().enumerate() {
        if let Some((position, table)) = table_schema(conn, name, with_meta)? {
            tables.push(((position, order), table));
        }
    }
    tables.sort_by_key(|(order, _)| *order);
    Ok(SystemSchema {
        format_version: SCHEMA_FORMAT_VERSION,
        source,
        tables: tables.into_iter().map(|(_, t)| t).collect(),
    })
}

fn read_failed(e: rusqlite::Error) -> ConnectorError {
    sql_error("cannot read the database schema", e)
}

/// Whether the database has a table of this name.
fn has_table(conn: &Connection, name: &str) -> Result<bool, ConnectorError> {
    conn.query_row(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        params![name],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
    .map_err(read_failed)
}

/// The user tables, in the order they were created.
fn table_names(conn: &Connection) -> Result<Vec<String>, ConnectorError> {
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' \
             AND name NOT GLOB 'sqlite_*' AND name NOT GLOB '_syncmap_*' \
             AND name NOT GLOB '*.*' ORDER BY rowid",
        )
        .map_err(read_failed)?;
    let rows = stmt.query_map([], |r| r.get(0)).map_err(read_failed)?;
    rows.collect::<Result<_, _>>().map_err(read_failed)
}

/// One table's snapshot and its recorded position (last when unrecorded); `None` without a
/// single-column primary key.
fn table_schema(
    conn: &Connection,
    name: String,
    with_meta: bool,
) -> Result<Option<(i64, TableSchema)>, ConnectorError> {
    let layout = Layout::load(conn, &name)?;
    let Some(key) = layout.primary_key() else {
        return Ok(None);
    };
    let key = key.name.clone();
    let meta = if with_meta {
        table_meta(conn, &name)?
    } else {
        None
    };
    let columns: Vec<ColumnSchema> = layout
        .columns
        .iter()
        .filter(|c| c.name != VERSION_COLUMN)
        .map(|c| {
            let spec = meta.as_ref().and_then(|m| {
                m.columns
                    .iter()
                    .find(|(n, _)| *n == c.name)
                    .and_then(|(_, s)| serde_json::from_str::<ColumnSchema>(s).ok())
            });
            column_schema(&c.name, &c.declared, c.not_null, spec)
        })
        .collect();
    let recorded = meta.as_ref().and_then(|m| m.modified_on.clone());
    let modified_on = match recorded {
        Some(m) if columns.iter().any(|c| c.name == m) => Some(m),
        _ => MODIFIED_ON_NAMES
            .iter()
            .find(|n| columns.iter().any(|c| c.name == **n))
            .map(|n| n.to_string()),
    };
    let position = meta.as_ref().map_or(i64::MAX, |m| m.position);
    let table = TableSchema {
        name,
        entity_type: meta.and_then(|m| m.entity_type),
        key,
        modified_on,
        columns,
    };
    Ok(Some((position, table)))
}

/// One column: the recorded spec when its type is of the kind the declared type says, else
/// the declared type alone.
fn column_schema(
    name: &str,
    declared: &str,
    not_null: bool,
    spec: Option<ColumnSchema>,
) -> ColumnSchema {
    let inferred = inferred_type(declared);
    match spec {
        Some(spec) if spec.ty.name() == inferred.name() => ColumnSchema {
            name: name.to_string(),
            nullable: !not_null,
            ..spec
        },
        _ => ColumnSchema {
            name: name.to_string(),
            ty: inferred,
            nullable: !not_null,
            read_only: false,
            required_on_create: false,
            time_zone_independent: false,
            default: None,
            description: None,
        },
    }
}

/// The metadata `create_tables` wrote for a table, if any.
fn table_meta(conn: &Connection, table: &str) -> Result<Option<TableMeta>, ConnectorError> {
    let fail = |e| sql_error("cannot read the syncmap metadata", e);
    let head = conn
        .query_row(
            r#"SELECT position, entity_type, modified_on FROM "_syncmap_tables" WHERE name = ?1"#,
            params![table],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(fail)?;
    let Some((position, entity_type, modified_on)) = head else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare(
            r#"SELECT name, spec FROM "_syncmap_columns" WHERE table_name = ?1
               ORDER BY position"#,
        )
        .map_err(fail)?;
    let rows = stmt
        .query_map(params![table], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(fail)?;
    let columns = rows.collect::<Result<_, _>>().map_err(fail)?;
    Ok(Some(TableMeta {
        position,
        entity_type,
        modified_on,
        columns,
    }))
}
