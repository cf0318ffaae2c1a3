//! A world of two SQLite systems shaped like the standard Business Central and Dataverse tables,
//! a compiled plan and a state store, all in a temporary folder.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use syncmap::connectors::sqlite::SqliteConnector;
use syncmap::connectors::{Connector, ReadRequest, Row, TableRef, WriteOp};
use syncmap::plan::{self, Plan, Side};
use syncmap::project::FsLoader;
use syncmap::runtime::engine::{Engine, EngineError, Mode, Options, RunReport, RunRequest};
use syncmap::runtime::systems::{AnyConnector, Systems};
use syncmap::runtime::value::Value;
use syncmap::schema::{self, SystemSchema};
use syncmap::state::Store;

/// A text value.
pub fn s(text: &str) -> Value {
    Value::String(text.to_string())
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Everything a test needs.
pub struct World {
    pub dir: tempfile::TempDir,
    pub plan: Plan,
    pub schemas: BTreeMap<String, SystemSchema>,
    pub conns: BTreeMap<String, SqliteConnector>,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

impl World {
    /// The standard mappings over two empty databases.
    pub fn standard() -> World {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&root().join("mappings"), &dir.path().join("mappings"));
        Self::build(dir, &[PathBuf::from("mappings")])
    }

    /// The standard systems and schemas, with the given `.map` text as the only mappings.
    pub fn with_mappings(text: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("mappings");
        copy_dir(&root().join("mappings/schemas"), &m.join("schemas"));
        std::fs::copy(root().join("mappings/systems.map"), m.join("systems.map")).unwrap();
        std::fs::write(m.join("test.map"), text).unwrap();
        Self::build(dir, &[PathBuf::from("mappings")])
    }

    fn build(dir: tempfile::TempDir, inputs: &[PathBuf]) -> World {
        let files: Vec<PathBuf> = {
            let mut v = Vec::new();
            for i in inputs {
                let p = dir.path().join(i);
                for e in std::fs::read_dir(&p).unwrap() {
                    let e = e.unwrap().path();
                    if e.extension().is_some_and(|x| x == "map") {
                        v.push(e);
                    }
                }
            }
            v.sort();
            v
        };
        let c = syncmap::compile(&files, &FsLoader).unwrap();
        let text = syncmap::diagnostics::render::human(&c.diagnostics, &c.project.sources, false);
        let plan = c
            .plan
            .unwrap_or_else(|| panic!("mappings do not compile:\n{text}"));
        let mut schemas = BTreeMap::new();
        let mut conns = BTreeMap::new();
        for (alias, file) in [("bc", "business-central.json"), ("dv", "dataverse.json")] {
            let text = std::fs::read_to_string(root().join("mappings/schemas").join(file)).unwrap();
            let snapshot = schema::load(&text).unwrap();
            let conn = SqliteConnector::open(&dir.path().join(format!("{alias}.db"))).unwrap();
            conn.create_tables(&snapshot).unwrap();
            schemas.insert(alias.to_string(), snapshot);
            conns.insert(alias.to_string(), conn);
        }
        let profile = "[state]\nurl = \"sqlite://state.db\"\n[systems.bc]\nurl = \"sqlite://bc.db\"\n[systems.dv]\nurl = \"sqlite://dv.db\"\n";
        std::fs::write(dir.path().join("syncmap.toml"), profile).unwrap();
        World {
            dir,
            plan,
            schemas,
            conns,
        }
    }

    /// The folder holding the databases, the state and `syncmap.toml`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fresh connectors for a run.
    pub fn systems(&self) -> Systems {
        let mut s = Systems::default();
        for alias in ["bc", "dv"] {
            s.0.insert(
                alias.into(),
                AnyConnector::open(
                    alias,
                    "sqlite",
                    &format!("sqlite://{alias}.db"),
                    self.path(),
                )
                .unwrap(),
            );
        }
        s
    }

    /// The state store.
    pub fn store(&self) -> Store {
        Store::open(&format!(
            "sqlite://{}",
            self.path().join("state.db").display()
        ))
        .unwrap()
    }

    /// Runs the plan and returns what the engine said.
    pub fn try_run(&self, req: &RunRequest) -> Result<RunReport, EngineError> {
        let systems = self.systems();
        let store = self.store();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut engine = Engine::new(&self.plan, &systems, &store, Options::default())?;
        rt.block_on(engine.run(req))
    }

    /// Runs every table mapping.
    pub fn run(&self, mode: Mode) -> RunReport {
        self.try_run(&RunRequest {
            mode,
            tables: vec![],
            dry_run: false,
            trigger: "manual".into(),
        })
        .unwrap()
    }

    /// A dry run of every table mapping.
    pub fn dry_run(&self, mode: Mode) -> RunReport {
        self.try_run(&RunRequest {
            mode,
            tables: vec![],
            dry_run: true,
            trigger: "manual".into(),
        })
        .unwrap()
    }

    fn info(&self, sys: &str, table: &str) -> plan::TableInfo {
        let t = self.schemas[sys]
            .table(table)
            .unwrap_or_else(|| panic!("no table {sys}.{table}"));
        let columns = t
            .columns
            .iter()
            .map(|c| {
                let (ty, targets, max_length) = match &c.ty {
                    schema::ColumnType::String { max_length } => ("string", vec![], *max_length),
                    schema::ColumnType::Int => ("int", vec![], None),
                    schema::ColumnType::Decimal => ("decimal", vec![], None),
                    schema::ColumnType::Bool => ("bool", vec![], None),
                    schema::ColumnType::Date => ("date", vec![], None),
                    schema::ColumnType::Datetime => ("datetime", vec![], None),
                    schema::ColumnType::Guid => ("guid", vec![], None),
                    schema::ColumnType::Option { .. } => ("option", vec![], None),
                    schema::ColumnType::Enum { .. } => ("enum", vec![], None),
                    schema::ColumnType::Lookup { targets } => ("lookup", targets.clone(), None),
                };
                (
                    c.name.clone(),
                    plan::ColumnInfo {
                        ty: ty.into(),
                        targets,
                        max_length,
                    },
                )
            })
            .collect();
        plan::TableInfo {
            entity_type: t.entity_type.clone(),
            key: t.key.clone(),
            modified_on: t.modified_on.clone(),
            columns,
        }
    }

    fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn write(&self, sys: &str, table: &str, op: WriteOp) -> String {
        let info = self.info(sys, table);
        let t = TableRef {
            name: table,
            info: &info,
        };
        let mut out = self.block(self.conns[sys].write(t, &[op]));
        out.remove(0)
            .unwrap_or_else(|e| panic!("{sys}.{table}: {e}"))
            .key
    }

    /// Creates a row; returns its key.
    pub fn insert(&self, sys: &str, table: &str, fields: &[(&str, Value)]) -> String {
        let fields = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        self.write(sys, table, WriteOp::Create { key: None, fields })
    }

    /// Changes a row.
    pub fn update(&self, sys: &str, table: &str, key: &str, fields: &[(&str, Value)]) {
        let fields = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        self.write(
            sys,
            table,
            WriteOp::Update {
                key: key.into(),
                etag: None,
                fields,
            },
        );
    }

    /// Deletes a row.
    pub fn delete(&self, sys: &str, table: &str, key: &str) {
        self.write(
            sys,
            table,
            WriteOp::Delete {
                key: key.into(),
                etag: None,
            },
        );
    }

    /// Every row of a table, with every column.
    pub fn rows(&self, sys: &str, table: &str) -> Vec<Row> {
        let info = self.info(sys, table);
        let t = TableRef {
            name: table,
            info: &info,
        };
        let req = ReadRequest {
            table: t,
            filter: None,
            since: None,
            page_size: 1000,
        };
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .block(self.conns[sys].read_page(&req, next.as_deref()))
                .unwrap();
            out.extend(page.rows);
            match page.next {
                Some(n) => next = Some(n),
                None => return out,
            }
        }
    }

    /// One row by key.
    pub fn get(&self, sys: &str, table: &str, key: &str) -> Row {
        self.rows(sys, table)
            .into_iter()
            .find(|r| r.key == key)
            .unwrap_or_else(|| panic!("no {sys}.{table} row {key}"))
    }

    /// Whether a row exists.
    pub fn exists(&self, sys: &str, table: &str, key: &str) -> bool {
        self.rows(sys, table).iter().any(|r| r.key == key)
    }

    /// The key of the only row whose column holds this text.
    pub fn find(&self, sys: &str, table: &str, column: &str, text: &str) -> String {
        let found: Vec<Row> = self
            .rows(sys, table)
            .into_iter()
            .filter(|r| r.fields.get(column) == Some(&s(text)))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{sys}.{table} rows with {column} = {text:?}: {found:?}"
        );
        found[0].key.clone()
    }

    /// Number of rows.
    pub fn count(&self, sys: &str, table: &str) -> usize {
        self.rows(sys, table).len()
    }

    /// Number of couplings of a table mapping.
    pub fn couplings(&self, mapping: &str) -> u64 {
        self.store().coupling_counts(mapping).unwrap().0
    }

    /// The key of a record's coupled partner.
    pub fn partner(&self, mapping: &str, side: Side, key: &str) -> String {
        let c = self
            .store()
            .coupling(mapping, side, key)
            .unwrap()
            .unwrap_or_else(|| panic!("{key} is not coupled in {mapping}"));
        c.key(side.other()).to_string()
    }

    /// Two currencies, two users (one disabled), three customers (one blocked), one vendor.
    pub fn seed_standard(&self) {
        self.insert(
            "bc",
            "currencies",
            &[
                ("code", s("EUR")),
                ("displayName", s("Euro")),
                ("symbol", s("€")),
            ],
        );
        self.insert(
            "bc",
            "currencies",
            &[
                ("code", s("USD")),
                ("displayName", s("US Dollar")),
                ("symbol", s("$")),
            ],
        );
        for (name, disabled) in [("Alicia Thomber", false), ("Bob Gone", true)] {
            self.insert(
                "dv",
                "systemusers",
                &[
                    ("fullname", s(name)),
                    (
                        "internalemailaddress",
                        s(&format!(
                            "{}@contoso.example",
                            name.split(' ').next().unwrap().to_lowercase()
                        )),
                    ),
                    ("isdisabled", Value::Bool(disabled)),
                    ("islicensed", Value::Bool(true)),
                    ("isintegrationuser", Value::Bool(false)),
                ],
            );
        }
        let customer = |name: &str, blocked: &str, currency: &str, sp: &str, city: &str| {
            self.insert(
                "bc",
                "customers",
                &[
                    ("number", s(&format!("C-{}", &name[..3].to_uppercase()))),
                    ("displayName", s(name)),
                    ("blocked", s(blocked)),
                    ("currencyCode", s(currency)),
                    ("salespersonCode", s(sp)),
                    ("city", s(city)),
                    ("creditLimit", Value::Int(5000)),
                ],
            )
        };
        customer("Contoso Ltd.", " ", "EUR", "ALICIATHOMBER", "Paris");
        customer("Fabrikam Inc.", " ", "USD", "", "Berlin");
        customer("Litware", "All", "EUR", "", "Rome");
    }
}
