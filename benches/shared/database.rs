//! A PostgreSQL database of its own for one measurement, made on the server a bench is given
//! (`SYNCMAP_BENCH_POSTGRES`, as `.ci/postgres` prints) and dropped after it.

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A database made for one measurement.
pub struct Database {
    server: String,
    name: String,
}

impl Database {
    /// A new, empty database `syncmap_<purpose>_<pid>_<n>` on `server`.
    pub fn new(
        rt: &tokio::runtime::Runtime,
        server: &str,
        purpose: &str,
        n: u64,
    ) -> Result<Database> {
        let name = format!("syncmap_{purpose}_{}_{n}", std::process::id());
        admin(rt, server, &format!("DROP DATABASE IF EXISTS {name}"))?;
        admin(rt, server, &format!("CREATE DATABASE {name}"))?;
        Ok(Database {
            server: server.to_string(),
            name,
        })
    }

    /// Its URL, for a profile's `[state] url`.
    pub fn url(&self) -> String {
        let base = self
            .server
            .rsplit_once('/')
            .map_or(self.server.as_str(), |(b, _)| b);
        format!("{base}/{}", self.name)
    }

    /// Drops it, whoever is still connected.
    pub fn drop_now(self, rt: &tokio::runtime::Runtime) -> Result<()> {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        admin(rt, &self.server, &sql)
    }
}

fn admin(rt: &tokio::runtime::Runtime, server: &str, sql: &str) -> Result<()> {
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls).await?;
        let driver = tokio::spawn(connection);
        client.batch_execute(sql).await?;
        drop(client);
        let _ = driver.await;
        Ok(())
    })
}
