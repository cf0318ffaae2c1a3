//! A world of two SQLite systems shaped like the standard Business Central and Dataverse tables,
//! a compiled plan and a state store, all in a temporary folder.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use syncmap::connectors::sqlite::SqliteConnector;
use syncmap::connectors::{Connector, ReadRequest, Row, TableRef, WriteOp};
use syncmap::plan::{self, Plan, Side};
use syncmap::project::FsLoader;
use syncmap::runtime::engine::{
    Engine, EngineError, Mode, Options, Progress, RunReport, RunRequest,
};
use syncmap::runtime::systems::{AnyConnector, Systems};
use syncmap::schema::{self, SystemSchema};
use syncmap::state::Store;
use syncmap::value::Value;

pub mod postgres;
pub mod wire;

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

    /// Keeps the state store at `url` (`syncmap.toml`'s `[state] url`) from now on.
    pub fn use_state(&self, url: &str) {
        let profile = format!(
            "[state]\nurl = \"{url}\"\n[systems.bc]\nurl = \"sqlite://bc.db\"\n[systems.dv]\nurl = \"sqlite://dv.db\"\n"
        );
        std::fs::write(self.path().join("syncmap.toml"), profile).unwrap();
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
                AnyConnector::open_sqlite(alias, &format!("sqlite://{alias}.db"), self.path())
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
        self.run_with(Options::default(), req)
    }

    /// Runs the plan with these options.
    pub fn run_with(&self, options: Options, req: &RunRequest) -> Result<RunReport, EngineError> {
        self.with_engine(options, None, |e| tokio_block(e.run(req)))
    }

    /// Runs the plan, telling `progress` as passes start (a hook to change rows mid-run).
    pub fn run_observed(&self, req: &RunRequest, progress: &dyn Progress) -> RunReport {
        self.with_engine(Options::default(), Some(progress), |e| {
            tokio_block(e.run(req))
        })
        .unwrap()
    }

    /// Gives `f` an engine over fresh connectors and the state store.
    pub fn with_engine<T>(
        &self,
        options: Options,
        progress: Option<&dyn Progress>,
        f: impl FnOnce(&mut Engine<'_>) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let systems = self.systems();
        let store = self.store();
        let mut engine = Engine::new(&self.plan, &systems, &store, options)?;
        if let Some(p) = progress {
            engine = engine.with_progress(p);
        }
        f(&mut engine)
    }

    /// Runs some table mappings.
    pub fn run_tables(&self, mode: Mode, tables: &[&str]) -> RunReport {
        self.try_run(&request(mode, tables, false)).unwrap()
    }

    /// `syncmap record`: syncs one record from one side.
    pub fn sync_record(
        &self,
        table: &str,
        side: Side,
        key: &str,
    ) -> Result<RunReport, EngineError> {
        self.with_engine(Options::default(), None, |e| {
            tokio_block(e.sync_record(table, side, key, false))
        })
    }

    /// `syncmap couple`.
    pub fn couple(&self, table: &str, left: &str, right: &str) -> Result<RunReport, EngineError> {
        self.with_engine(Options::default(), None, |e| {
            tokio_block(e.couple(table, left, right))
        })
    }

    /// `syncmap uncouple` (one record, or all with `None`).
    pub fn uncouple(
        &self,
        table: &str,
        which: Option<(Side, &str)>,
    ) -> Result<RunReport, EngineError> {
        self.with_engine(Options::default(), None, |e| e.uncouple(table, which))
    }

    /// `syncmap match`.
    pub fn match_table(&self, table: &str, dry_run: bool) -> Result<RunReport, EngineError> {
        self.with_engine(Options::default(), None, |e| {
            tokio_block(e.match_table(table, dry_run))
        })
    }

    /// Runs every table mapping.
    pub fn run(&self, mode: Mode) -> RunReport {
        self.try_run(&RunRequest::new(mode)).unwrap()
    }

    /// A dry run of every table mapping.
    pub fn dry_run(&self, mode: Mode) -> RunReport {
        self.try_run(&request(mode, &[], true)).unwrap()
    }

    fn info(&self, sys: &str, table: &str) -> plan::TableInfo {
        let schema = &self.schemas[sys];
        let t = &schema
            .table(table)
            .cloned()
            .or_else(|| {
                syncmap::schema::choices::choice_tables(schema)
                    .into_iter()
                    .find(|t| t.name == table)
            })
            .unwrap_or_else(|| panic!("no table {sys}.{table}"));
        let columns = t
            .columns
            .iter()
            .map(|c| {
                let (precision, scale) = match &c.ty {
                    schema::ColumnType::Decimal { precision, scale } => (*precision, *scale),
                    _ => (None, None),
                };
                let (targets, max_length) = match &c.ty {
                    schema::ColumnType::String { max_length } => (vec![], *max_length),
                    schema::ColumnType::Lookup { targets } => (targets.clone(), None),
                    _ => (vec![], None),
                };
                (
                    c.name.clone(),
                    plan::ColumnInfo {
                        ty: c.ty.kind(),
                        targets,
                        max_length,
                        precision,
                        scale,
                        time_zone_independent: c.time_zone_independent,
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

    fn block<T>(&self, f: impl Future<Output = T>) -> T {
        ready(f)
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
            tracking: syncmap::connectors::Tracking::Off,
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

/// Drives a connector future to its end on this thread, parked while the connector's own
/// threads (a page read, a sync's writes) work. Unlike a tokio runtime this also works inside
/// a running engine (from a [`Progress`] hook).
pub fn ready<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// Runs an engine future on a single-threaded tokio runtime, as the CLI does.
pub fn tokio_block<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A run request.
pub fn request(mode: Mode, tables: &[&str], dry_run: bool) -> RunRequest {
    RunRequest {
        tables: tables.iter().map(|t| t.to_string()).collect(),
        dry_run,
        ..RunRequest::new(mode)
    }
}

/// Small pages and batches, so page and batch boundaries fall inside a test's few rows.
pub fn small_pages(page_size: usize, batch_size: usize) -> Options {
    Options {
        page_size,
        batch_size,
        ..Options::default()
    }
}

/// A date-time as the SQLite connector stores it.
pub fn stamp(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Every row of every table of a database (hidden columns and metadata included), as text:
/// two dumps are equal exactly when nothing in the file changed.
pub type Dump = BTreeMap<String, Vec<String>>;

fn dump_db(path: &Path) -> Dump {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = Dump::new();
    for t in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY 1"))
            .unwrap();
        let n = stmt.column_count();
        let rows: Vec<String> = stmt
            .query_map([], |r| {
                let cells: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect();
                Ok(cells.join(" | "))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        out.insert(t, rows);
    }
    out
}

/// The outcome of one `syncmap` process.
#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// Standard output parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

/// A [`Progress`] that calls a closure as each pass starts.
pub struct OnPass<F: Fn(&str, &str)>(pub F);

impl<F: Fn(&str, &str)> Progress for OnPass<F> {
    fn pass(&self, mapping: &str, direction: &str) {
        (self.0)(mapping, direction)
    }
    fn rows(&self, _n: u64) {}
    fn pass_done(&self) {}
}

impl World {
    /// Runs SQL on one of the databases (`bc`, `dv` or `state`) outside the connectors: to
    /// set modified-on stamps by hand, add triggers that refuse rows, and the like.
    pub fn sql(&self, db: &str, sql: &str) {
        let conn = rusqlite::Connection::open(self.path().join(format!("{db}.db"))).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        conn.execute_batch(sql)
            .unwrap_or_else(|e| panic!("{db}: {sql}: {e}"));
    }

    /// Sets a row's modified-on by hand (the connector stamps every write itself).
    pub fn set_modified(&self, sys: &str, table: &str, key: &str, at: &str) {
        let info = self.info(sys, table);
        let m = info.modified_on.unwrap();
        self.sql(
            sys,
            &format!(
                "UPDATE \"{table}\" SET \"{m}\" = '{at}' WHERE \"{}\" = '{key}'",
                info.key
            ),
        );
    }

    /// Sets every row's modified-on of a table by hand.
    pub fn set_all_modified(&self, sys: &str, table: &str, at: &str) {
        let m = self.info(sys, table).modified_on.unwrap();
        self.sql(sys, &format!("UPDATE \"{table}\" SET \"{m}\" = '{at}'"));
    }

    /// A row's version (its ETag): it goes up on every write.
    pub fn version(&self, sys: &str, table: &str, key: &str) -> i64 {
        self.get(sys, table, key).etag.unwrap().parse().unwrap()
    }

    /// Everything in both systems' databases.
    pub fn dump(&self) -> (Dump, Dump) {
        (
            dump_db(&self.path().join("bc.db")),
            dump_db(&self.path().join("dv.db")),
        )
    }

    /// Everything in the state store.
    pub fn state_dump(&self) -> Dump {
        let p = self.path().join("state.db");
        if p.exists() {
            dump_db(&p)
        } else {
            Dump::new()
        }
    }

    /// Runs the real `syncmap` binary in the world's folder (which holds `syncmap.toml`,
    /// `mappings/`, `bc.db` and `dv.db`).
    pub fn cli(&self, args: &[&str]) -> CliRun {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_syncmap"))
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        CliRun {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The value of one column of one row.
    pub fn field(&self, sys: &str, table: &str, key: &str, column: &str) -> Value {
        self.get(sys, table, key)
            .fields
            .get(column)
            .cloned()
            .unwrap_or(Value::Absent)
    }

    /// The coupling of a record, if any.
    pub fn coupling(
        &self,
        mapping: &str,
        side: Side,
        key: &str,
    ) -> Option<syncmap::state::Coupling> {
        self.store().coupling(mapping, side, key).unwrap()
    }
}

/// A decimal value.
pub fn dec(text: &str) -> Value {
    Value::Decimal(text.parse().unwrap())
}

/// A long time ago: rows stamped with it look unchanged to a modified-only run.
pub const LONG_AGO: &str = "2020-01-01T00:00:00.000000Z";

impl World {
    /// A Business Central customer that takes part (not blocked).
    pub fn add_customer(&self, number: &str, name: &str, extra: &[(&str, Value)]) -> String {
        let mut f = vec![
            ("number", s(number)),
            ("displayName", s(name)),
            ("blocked", s(" ")),
        ];
        f.extend_from_slice(extra);
        self.insert("bc", "customers", &f)
    }

    /// An active Dataverse customer account.
    pub fn add_account(&self, name: &str, extra: &[(&str, Value)]) -> String {
        let mut f = vec![
            ("name", s(name)),
            ("customertypecode", Value::Int(3)),
            ("statecode", Value::Int(0)),
        ];
        f.extend_from_slice(extra);
        self.insert("dv", "accounts", &f)
    }

    /// Stamps every row of both systems [`LONG_AGO`], as if the last run were long past: a
    /// modified-only run then reads only rows changed afterwards (not the overlap it re-reads
    /// behind its watermark).
    pub fn age(&self) {
        for sys in ["bc", "dv"] {
            for t in &self.schemas[sys].tables {
                if let Some(m) = &t.modified_on {
                    self.sql(
                        sys,
                        &format!("UPDATE \"{}\" SET \"{m}\" = '{LONG_AGO}'", t.name),
                    );
                }
            }
        }
    }
}

impl World {
    /// Carries out many writes on one table in batches of 500, as the connector takes them (far
    /// faster than one [`World::insert`] a row); returns the key of each row written.
    pub fn write_many(&self, sys: &str, table: &str, ops: Vec<WriteOp>) -> Vec<String> {
        let info = self.info(sys, table);
        let t = TableRef {
            name: table,
            info: &info,
        };
        let mut keys = Vec::with_capacity(ops.len());
        for chunk in ops.chunks(500) {
            for out in ready(self.conns[sys].write(t, chunk)) {
                keys.push(out.unwrap_or_else(|e| panic!("{sys}.{table}: {e}")).key);
            }
        }
        keys
    }
}

/// xorshift64*: small, seedable, good enough to pick rows, kill points and sleep times.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is taken as 1).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The seed of a test's random choices: `SYNCMAP_KILL_SEED` to replay one, else drawn afresh.
pub fn kill_seed() -> u64 {
    std::env::var("SYNCMAP_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// A number from the environment, or a default (how big a test is: CI runs the default).
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
