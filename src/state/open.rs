//! Opening a store (a SQLite file, made private to its user, or a PostgreSQL database), its
//! migrations, and its transactions.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use super::db::{self, args, Db, Durability, Location};
use super::{schema, StateError, Store};

/// Creates the store's folder (0700) and file (0600) when they are missing: the store holds
/// record values and run messages, which other users of the machine have no business reading.
/// SQLite gives the `-wal` and `-shm` files it creates the database file's permissions.
fn create_private(path: &Path) -> Result<(), StateError> {
    let io = |p: &Path, e: std::io::Error| StateError::Io(format!("{}: {e}", p.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| io(dir, e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    // Only a new file: an existing store keeps its modes, and SQLite opens one it may only read.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io(path, e)),
    }
}

impl Store {
    /// Opens (creating if needed) the store at a `sqlite://PATH` URL, a plain path, or a
    /// `postgres://` URL (whose database must exist: the store makes its tables in it).
    pub fn open(url: &str) -> Result<Store, StateError> {
        let location = Self::location_of(url)?;
        if let Location::File(path) = &location {
            if path != Path::new(":memory:") {
                create_private(path)?;
            }
        }
        let db = Db::open(&location, false)?;
        let store = Self::with(db, location);
        store.migrate()?;
        Ok(store)
    }

    /// Opens a store for reading only, for dry runs: nothing is created, migrated or written.
    /// A store that does not exist yet is an empty one in memory; a store of an older version
    /// is refused (a real run upgrades it).
    pub fn open_read_only(url: &str) -> Result<Store, StateError> {
        let location = Self::location_of(url)?;
        if let Location::File(path) = &location {
            if !path.exists() {
                return Self::in_memory();
            }
        }
        let store = Self::with(Db::open(&location, true)?, location);
        let found = store.version()?;
        let supported = schema::MIGRATIONS.len() as u32;
        if found > supported {
            return Err(StateError::TooNew {
                path: store.path.clone(),
                found,
                supported,
            });
        }
        if found == 0 && store.db.dialect() == db::Dialect::Postgres {
            // A database the store has not written to yet: as a missing file is.
            return Self::in_memory();
        }
        if found < supported {
            return Err(StateError::Io(format!(
                "{} was written by an older syncmap and needs an upgrade, which a dry run does not make; run once without --dry-run",
                store.path
            )));
        }
        Ok(store)
    }

    pub(super) fn with(db: Db, location: Location) -> Store {
        Store {
            db,
            path: label(&location),
            location,
            fence: Default::default(),
            company: Default::default(),
            deferred: Default::default(),
            mode: Default::default(),
            durability: Cell::new(Durability::OnCommit),
            awaiting_durable: Cell::new(false),
            behind: Default::default(),
        }
    }

    fn location_of(url: &str) -> Result<Location, StateError> {
        Ok(if let Some(p) = url.strip_prefix("sqlite://") {
            Location::File(PathBuf::from(p))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Location::Server(url.to_string())
        } else if url.contains("://") {
            // Only the scheme: the rest may hold credentials expanded from the environment.
            return Err(StateError::Url(
                url.split("://").next().unwrap_or("").to_string(),
            ));
        } else {
            Location::File(PathBuf::from(url))
        })
    }

    /// A store that lives in memory (tests, dry runs without a store).
    pub fn in_memory() -> Result<Store, StateError> {
        let store = Self::with(Db::in_memory()?, Location::File(":memory:".into()));
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&self) -> Result<(), StateError> {
        let tx = db::Transaction::begin(&self.db)?;
        if self.db.dialect() == db::Dialect::Postgres {
            // Two processes opening a new store at once: one migrates, the other then finds
            // it done.
            // The lock first: two sessions making the same table at once collide even with
            // `IF NOT EXISTS`.
            self.db.execute_script(
                "SELECT pg_advisory_xact_lock(7405322917); \
                 CREATE TABLE IF NOT EXISTS syncmap_schema (version BIGINT NOT NULL);",
            )?;
        }
        let version = self.version()?;
        let supported = schema::MIGRATIONS.len() as u32;
        if version > supported {
            return Err(StateError::TooNew {
                path: self.path.clone(),
                found: version,
                supported,
            });
        }
        for m in schema::MIGRATIONS.iter().skip(version as usize) {
            let sql = match self.db.dialect() {
                db::Dialect::Sqlite => Some(m.sqlite),
                db::Dialect::Postgres => m.postgres,
            };
            if let Some(sql) = sql {
                self.db.execute_script(sql)?;
            }
        }
        if version < supported {
            self.set_version(supported)?;
        }
        tx.commit()
    }

    /// Reads and writes the state of `company` from now on: its couplings, watermarks,
    /// intents, failures and runs, kept apart from every other company's. `""` is the state of
    /// a profile that names one company (or a service without companies). Never inside a
    /// transaction: the writes it defers are made for the company of the moment they are made.
    pub fn set_company(&self, company: &str) {
        debug_assert!(
            self.mode.get() == super::deferred::Mode::Immediate,
            "the company changes between transactions"
        );
        *self.company.borrow_mut() = company.to_string();
    }

    /// The company whose state this store reads and writes.
    pub fn company(&self) -> String {
        self.company.borrow().clone()
    }

    /// Where the store is, as messages name it (a server's URL without its password).
    pub fn label(&self) -> String {
        self.path.clone()
    }

    /// The schema version of the store (0 for a database it has not written to).
    pub fn version(&self) -> Result<u32, StateError> {
        match &self.db {
            Db::Sqlite(db) => db.user_version(),
            Db::Postgres(_) => {
                let exists = self
                    .db
                    .query_row("SELECT to_regclass('syncmap_schema') IS NOT NULL", &[])?
                    .map(|r| r.get::<bool>(0))
                    .transpose()?
                    .unwrap_or(false);
                if !exists {
                    return Ok(0);
                }
                let v = self
                    .db
                    .query_row("SELECT MAX(version) FROM syncmap_schema", &[])?
                    .map(|r| r.get::<Option<i64>>(0))
                    .transpose()?
                    .flatten()
                    .unwrap_or(0);
                Ok(u32::try_from(v).unwrap_or(u32::MAX))
            }
        }
    }

    pub(super) fn set_version(&self, v: u32) -> Result<(), StateError> {
        match &self.db {
            Db::Sqlite(db) => db.set_user_version(v),
            Db::Postgres(_) => {
                self.db.execute("DELETE FROM syncmap_schema", &[])?;
                self.db.execute(
                    "INSERT INTO syncmap_schema (version) VALUES (?1)",
                    &args![i64::from(v)],
                )?;
                Ok(())
            }
        }
    }

    /// Runs `f` in a fenced transaction of its own (see [`Store::transaction`]), or inside the
    /// transaction already open: for the store writes a run makes outside its batch commits.
    pub fn fenced<T, E: From<StateError>>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        if self.conn()?.in_transaction() {
            f(self)
        } else {
            self.transaction(f)
        }
    }

    /// Runs `f` in one transaction: all of its changes or none (an error rolls back). The
    /// transaction takes the write lock at once in SQLite (another connection, such as a
    /// lease's heartbeat, may write between a read and a write otherwise), and first checks
    /// that the fence set by [`Store::set_fence`] still holds its lease: a run that lost it
    /// commits nothing more.
    pub fn transaction<T, E: From<StateError>>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transaction_as(Durability::OnCommit, f)
    }

    /// Runs `f` as [`Store::transaction`] does, with a commit that is on disk once the next
    /// durable commit is (see [`Durability::WithNextDurable`]): for what records work done
    /// whose intents a durable commit holds (a batch's outcomes, a pass's watermark, the
    /// start of a run), which a power loss before the next durable commit leaves to be
    /// settled from those intents, as a kill would. Intents cannot be added in it.
    pub fn transaction_durable_with_next<T, E: From<StateError>>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transaction_as(Durability::WithNextDurable, f)
    }

    fn transaction_as<T, E: From<StateError>>(
        &self,
        durability: Durability,
        f: impl FnOnce(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        // After the commits sent behind the engine: it reads them, and writes after them.
        self.wait_behind();
        let tx = db::Transaction::begin_as(self.conn()?, durability).map_err(E::from)?;
        self.check_fence().map_err(E::from)?;
        let out = {
            // As asked, whatever the database makes of it: what must be durable is refused
            // in it on either.
            let _scope = DurabilityScope::enter(self, durability);
            self.deferring_in(f)?
        };
        let made = tx.durability();
        tx.commit().map_err(E::from)?;
        self.committed(made);
        Ok(out)
    }

    /// Notes a commit: whether one of this connection may still roll back with a power loss.
    /// (A durable commit that wrote nothing syncs nothing: the engine asks right after a
    /// batch's intents, whose commit always writes.)
    pub(super) fn committed(&self, durability: Durability) {
        self.awaiting_durable
            .set(durability == Durability::WithNextDurable);
    }

    /// Whether this connection's last commit waits for the next durable one: the engine checks
    /// it does not once a batch's intents are committed, before their writes are sent.
    pub fn awaits_durable_commit(&self) -> bool {
        self.awaiting_durable.get()
    }

    /// An error when the open transaction's commit would not be durable: what must be on disk
    /// before anything is written to a system (intents) is refused in it.
    pub(super) fn check_durable(&self) -> Result<(), StateError> {
        if self.durability.get() == Durability::WithNextDurable {
            return Err(StateError::Db(
                "intents must commit durably, not with a transaction that waits for the next durable commit"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// What messages call a store: a file's path, or a server's URL without its password.
fn label(location: &Location) -> String {
    match location {
        Location::File(path) => path.display().to_string(),
        Location::Server(url) => {
            let url = db::without_tls_options(url);
            let Ok(config) = url.parse::<tokio_postgres::Config>() else {
                return "a PostgreSQL database".into();
            };
            let host = match config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                #[cfg(unix)]
                Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
                None => "localhost".into(),
            };
            let port = config.get_ports().first().copied().unwrap_or(5432);
            let user = config
                .get_user()
                .map(|u| format!("{u}@"))
                .unwrap_or_default();
            let db = config.get_dbname().unwrap_or("");
            format!("postgres://{user}{host}:{port}/{db}")
        }
    }
}

/// The durability of the transaction [`Store::transaction_as`] runs `f` in, while it runs,
/// whatever way `f` ends (a panic included).
struct DurabilityScope<'s>(&'s Store);

impl<'s> DurabilityScope<'s> {
    fn enter(store: &'s Store, durability: Durability) -> Self {
        store.durability.set(durability);
        DurabilityScope(store)
    }
}

impl Drop for DurabilityScope<'_> {
    fn drop(&mut self) {
        self.0.durability.set(Durability::OnCommit);
    }
}
