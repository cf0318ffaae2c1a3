//! The engine bench's state store in PostgreSQL: the same full syncs with the store in a fresh
//! PostgreSQL database instead of a SQLite file, when `SYNCMAP_BENCH_POSTGRES` names a server
//! (`export SYNCMAP_BENCH_POSTGRES=$(.ci/postgres)`).

use super::database::Database;
use super::{cpu, secs, thousands, Result, RunOutcome, SyncWorld};

/// The runs measured with the store in PostgreSQL.
pub struct PostgresRuns {
    pub full: RunOutcome,
    pub full_again: RunOutcome,
}

/// A database made for the measurement and dropped after it.
/// A full sync of `n` rows and a second one, with the store in PostgreSQL; `None` without a
/// server named.
pub fn measure(n: u64) -> Result<Option<PostgresRuns>> {
    let Ok(server) = std::env::var("SYNCMAP_BENCH_POSTGRES") else {
        return Ok(None);
    };
    eprintln!("sync: {n} rows: full syncs with the store in PostgreSQL …");
    let mut w = SyncWorld::new()?;
    w.fill(n)?;
    let db = Database::new(&w.rt, &server, "bench", n)?;
    w.use_state(&db.url())?;
    let full = w.run("full")?;
    super::expect_count(&full, "full sync (PostgreSQL)", "inserted", n)?;
    let full_again = w.run("full")?;
    super::expect_count(&full_again, "second full sync (PostgreSQL)", "modified", 0)?;
    w.check_exact()?;
    db.drop_now(&w.rt)?;
    Ok(Some(PostgresRuns { full, full_again }))
}

/// The table comparing both stores, one row per size measured with both.
pub fn table(rows: &[(u64, &RunOutcome, &RunOutcome, &PostgresRuns)]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n| source rows | full sync, store in SQLite: wall | CPU | store in PostgreSQL: wall | CPU (syncmap only) \
         | PostgreSQL ÷ SQLite | more per record | full sync again: SQLite | PostgreSQL | ratio |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (n, full, again, pg) in rows {
        let ratio = |a: &RunOutcome, b: &RunOutcome| b.wall.as_secs_f64() / a.wall.as_secs_f64();
        let more_us = (pg.full.wall.as_secs_f64() - full.wall.as_secs_f64()) * 1e6 / *n as f64;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2} | {:.1} µs | {} | {} | {:.2} |\n",
            thousands(*n),
            secs(full.wall),
            cpu(full),
            secs(pg.full.wall),
            cpu(&pg.full),
            ratio(full, &pg.full),
            more_us,
            secs(again.wall),
            secs(pg.full_again.wall),
            ratio(again, &pg.full_again),
        ));
    }
    out
}
