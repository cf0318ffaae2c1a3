//! Events: what a run decided that is not an error (conflicts, deletions, couplings).

use super::*;

impl Store {
    /// Logs something a run decided that is not an error: a conflict and how it was resolved, a
    /// deletion handled, a coupling made by matching.
    #[allow(clippy::too_many_arguments)] // every part is stored
    pub fn log_event(
        &self,
        run: i64,
        mapping: &str,
        dir: Direction,
        kind: &str,
        source_key: Option<&str>,
        dest_key: Option<&str>,
        message: &str,
    ) -> Result<(), StateError> {
        let message = crate::redact::redact(message);
        self.conn()?.execute(
            "INSERT INTO events (run, mapping, direction, kind, source_key, dest_key, message, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &args![run, mapping, dir.as_str(), kind, source_key, dest_key, message, now()],
        )?;
        Ok(())
    }

    /// The events of one run, in order.
    pub fn events(&self, run: i64) -> Result<Vec<Event>, StateError> {
        let rows = self.conn()?.query(
            "SELECT mapping, direction, kind, source_key, dest_key, message, at FROM events WHERE run = ?1 ORDER BY id",
            &args![run],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Event {
                    mapping: r.get(0)?,
                    direction: r.get(1)?,
                    kind: r.get(2)?,
                    source_key: r.get(3)?,
                    dest_key: r.get(4)?,
                    message: r.get(5)?,
                    at: r.get(6)?,
                })
            })
            .collect()
    }
}
