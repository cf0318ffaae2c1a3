//! A PostgreSQL database of its own for a test, made on the server `.ci/postgres` starts (or the
//! one `SYNCMAP_TEST_POSTGRES` names) and dropped after the test. A test that needs one fails
//! when the server cannot be reached, rather than skip.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Where the tests' PostgreSQL is when `SYNCMAP_TEST_POSTGRES` does not say.
const DEFAULT_SERVER: &str = "postgres://syncmap@127.0.0.1:54329/postgres";

/// A database made for one test.
pub struct TestDatabase {
    server: String,
    name: String,
    /// Its URL, for a profile's `[state] url`.
    pub url: String,
}

impl TestDatabase {
    pub fn new(purpose: &str) -> TestDatabase {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let server =
            std::env::var("SYNCMAP_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.into());
        let name = format!(
            "syncmap_{purpose}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin(
            &server,
            &[
                format!("DROP DATABASE IF EXISTS {name}"),
                format!("CREATE DATABASE {name}"),
            ],
        );
        let (base, _) = server
            .rsplit_once('/')
            .expect("the server's URL names a database");
        let url = format!("{base}/{name}");
        TestDatabase { server, name, url }
    }
}

impl TestDatabase {
    /// The number a query of the database answers (`SELECT count(*) …`).
    pub fn number(&self, sql: &str) -> i64 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let driver = tokio::spawn(connection);
            let n: i64 = client.query_one(sql, &[]).await.unwrap().get(0);
            drop(client);
            let _ = driver.await;
            n
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        admin(
            &self.server,
            &[format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )],
        );
    }
}

/// Runs statements one by one on the server's own database.
fn admin(server: &str, statements: &[String]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "the tests' PostgreSQL is not reachable at {server} ({e}); start it with \
                     `export SYNCMAP_TEST_POSTGRES=$(.ci/postgres)`"
                )
            });
        let driver = tokio::spawn(connection);
        for sql in statements {
            client.batch_execute(sql).await.unwrap();
        }
        drop(client);
        let _ = driver.await;
    });
}
