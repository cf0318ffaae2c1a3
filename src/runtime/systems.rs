//! The connectors of a run, one per system alias, chosen by the URL the profile gives: a
//! `sqlite://` URL opens the SQLite connector whatever the system's kind (so the standard
//! mappings run against local databases shaped like the real tables); an `https://` (or, for a
//! local sandbox, `http://`) URL opens the HTTP connector of the system's kind.

use crate::connectors::WriteGate;
use std::collections::BTreeMap;
use std::path::Path;

use crate::connectors::odata::client::Stats;
use crate::connectors::odata::flavor::Flavor;
use crate::connectors::odata::ODataConnector;
use crate::connectors::sqlite::SqliteConnector;
use crate::connectors::{
    Capabilities, Connector, ConnectorError, Page, ReadRequest, Row, TableRef, WriteOp,
    WriteOutcome,
};
use crate::plan;
use crate::profile::SystemConfig;
use crate::value::Value;

/// A connector of any kind. An enum rather than a trait object, because the trait's methods are
/// `async fn`s.
pub enum AnyConnector {
    /// A SQLite database file.
    Sqlite(SqliteConnector),
    /// An OData v4 service: Dataverse, Business Central or another.
    OData(Box<ODataConnector>),
}

impl AnyConnector {
    /// Opens the connector of a plan's system as the profile configures it; relative SQLite
    /// paths are taken from `base`.
    pub fn open(
        alias: &str,
        system: &plan::System,
        config: &SystemConfig,
        base: &Path,
    ) -> Result<AnyConnector, ConnectorError> {
        let url = config.url.as_str();
        if url.starts_with("sqlite://") {
            return AnyConnector::open_sqlite(alias, url, base);
        }
        if url.starts_with("https://") || url.starts_with("http://") {
            let Some(flavor) = Flavor::of_kind(system.kind) else {
                return Err(ConnectorError::Fatal(format!(
                    "system `{alias}` is of kind `{}`, which has no HTTP connector; use a `sqlite://PATH` URL",
                    system.kind
                )));
            };
            return ODataConnector::open(config, flavor, None)
                .map(|c| AnyConnector::OData(Box::new(c)));
        }
        // Only the scheme is shown: a URL may hold an expanded `${…}` from the environment.
        let scheme = url
            .split("://")
            .next()
            .filter(|s| *s != url)
            .unwrap_or("(none)");
        Err(ConnectorError::Fatal(format!(
            "system `{alias}` ({}): URLs with scheme `{scheme}` are not supported; use https:// for a service or sqlite://PATH for a database",
            system.kind
        )))
    }
}

impl AnyConnector {
    /// The traffic counters of an HTTP connector (none for a database file), shared so that
    /// metrics read them while requests go on.
    pub fn http_stats(&self) -> Option<std::sync::Arc<Stats>> {
        match self {
            AnyConnector::Sqlite(_) => None,
            AnyConnector::OData(c) => Some(c.client().stats.clone()),
        }
    }

    /// Asks `gate` before each request that writes, and before each batch a database file
    /// writes once it holds the file's write lock (see [`WriteGate`]).
    pub fn set_write_gate(&self, gate: Option<WriteGate>) {
        match self {
            AnyConnector::Sqlite(c) => c.set_write_gate(gate),
            AnyConnector::OData(c) => c.client().set_write_gate(gate),
        }
    }

    /// Returns once the writes a database file makes on a thread of its own are done (see
    /// [`SqliteConnector::wait_for_writes`]); an HTTP write is done when its answer comes.
    pub fn wait_for_writes(&self) {
        if let AnyConnector::Sqlite(c) = self {
            c.wait_for_writes();
        }
    }

    /// Opens a `sqlite://PATH` database; a relative path is taken from `base`.
    pub fn open_sqlite(
        alias: &str,
        url: &str,
        base: &Path,
    ) -> Result<AnyConnector, ConnectorError> {
        let path = base.join(url.strip_prefix("sqlite://").unwrap_or(url));
        // A mistyped path must not become an empty system that a full sync fills (or that
        // makes every partner look deleted).
        if !path.exists() {
            return Err(ConnectorError::Fatal(format!(
                "system `{alias}`: the database `{}` does not exist",
                path.display()
            )));
        }
        SqliteConnector::open_for_sync(&path).map(AnyConnector::Sqlite)
    }
}

impl Connector for AnyConnector {
    fn capabilities(&self) -> Capabilities {
        match self {
            AnyConnector::Sqlite(c) => c.capabilities(),
            AnyConnector::OData(c) => c.capabilities(),
        }
    }
    async fn read_page(
        &self,
        req: &ReadRequest<'_>,
        continuation: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        match self {
            AnyConnector::Sqlite(c) => c.read_page(req, continuation).await,
            AnyConnector::OData(c) => c.read_page(req, continuation).await,
        }
    }
    async fn get(&self, table: TableRef<'_>, keys: &[String]) -> Result<Vec<Row>, ConnectorError> {
        match self {
            AnyConnector::Sqlite(c) => c.get(table, keys).await,
            AnyConnector::OData(c) => c.get(table, keys).await,
        }
    }
    async fn find(
        &self,
        table: TableRef<'_>,
        equal: &[(String, Value)],
        ignore_case: bool,
    ) -> Result<Vec<Row>, ConnectorError> {
        match self {
            AnyConnector::Sqlite(c) => c.find(table, equal, ignore_case).await,
            AnyConnector::OData(c) => c.find(table, equal, ignore_case).await,
        }
    }
    async fn find_many(
        &self,
        table: TableRef<'_>,
        lookups: &[Vec<(String, Value)>],
        ignore_case: bool,
    ) -> Result<Vec<Vec<Row>>, ConnectorError> {
        match self {
            AnyConnector::Sqlite(c) => c.find_many(table, lookups, ignore_case).await,
            AnyConnector::OData(c) => c.find_many(table, lookups, ignore_case).await,
        }
    }
    async fn write(
        &self,
        table: TableRef<'_>,
        ops: &[WriteOp],
    ) -> Vec<Result<WriteOutcome, ConnectorError>> {
        match self {
            AnyConnector::Sqlite(c) => c.write(table, ops).await,
            AnyConnector::OData(c) => c.write(table, ops).await,
        }
    }
    async fn write_keys_only(
        &self,
        table: TableRef<'_>,
        ops: &[WriteOp],
    ) -> Vec<Result<WriteOutcome, ConnectorError>> {
        match self {
            AnyConnector::Sqlite(c) => c.write_keys_only(table, ops).await,
            AnyConnector::OData(c) => c.write_keys_only(table, ops).await,
        }
    }
    async fn write_handed(
        &self,
        table: TableRef<'_>,
        ops: Vec<WriteOp>,
        keys_only: bool,
    ) -> (Vec<WriteOp>, Vec<Result<WriteOutcome, ConnectorError>>) {
        match self {
            AnyConnector::Sqlite(c) => c.write_handed(table, ops, keys_only).await,
            AnyConnector::OData(c) => c.write_handed(table, ops, keys_only).await,
        }
    }
}

/// The connectors of a run, by system alias.
#[derive(Default)]
pub struct Systems(pub BTreeMap<String, AnyConnector>);

/// A plan's system that the profile left out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the profile does not configure system `{0}`")]
pub struct UnknownSystem(pub String);

impl Systems {
    /// Asks `gate` before each write any of the systems sends (see [`WriteGate`]).
    pub fn set_write_gate(&self, gate: Option<WriteGate>) {
        for c in self.0.values() {
            c.set_write_gate(gate.clone());
        }
    }

    /// Returns once every write the systems were sent is done or dropped: before a run lets
    /// its lease go.
    pub fn wait_for_writes(&self) {
        for c in self.0.values() {
            c.wait_for_writes();
        }
    }

    /// The connector of a system.
    pub fn get(&self, alias: &str) -> Result<&AnyConnector, UnknownSystem> {
        self.0
            .get(alias)
            .ok_or_else(|| UnknownSystem(alias.to_string()))
    }
}
