//! Keys kept for records' creates. A create with a key of ours that settling did not find may
//! still arrive: sent by a holder frozen past its lease (no service checks a fencing token),
//! it can be carried out after its successor looked. The record's next create takes that very
//! key, so whichever of the two writes comes second meets the row the first made instead of
//! making another (the engine's side: `runtime/engine/kept_keys.rs`). A kept key is let go in
//! the transaction that couples its record, and when the record is uncoupled.

use super::*;

impl Store {
    /// Keeps `dest_key` for the next create of a record.
    pub fn keep_create_key(
        &self,
        mapping: &str,
        dir: Direction,
        source_key: &str,
        dest_key: &str,
    ) -> Result<(), StateError> {
        self.conn()?.execute(
            "INSERT INTO create_keys (company, mapping, direction, source_key, dest_key, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (company, mapping, direction, source_key) DO UPDATE SET dest_key = excluded.dest_key, at = excluded.at",
            &args![self.company(), mapping, dir.as_str(), source_key, dest_key, now()],
        )?;
        Ok(())
    }

    /// Whether any key is kept for creates of a table mapping in a direction.
    pub fn keeps_create_keys(&self, mapping: &str, dir: Direction) -> Result<bool, StateError> {
        let row = self.conn()?.query_row(
            "SELECT 1 FROM create_keys WHERE company = ?1 AND mapping = ?2 AND direction = ?3 LIMIT 1",
            &args![self.company(), mapping, dir.as_str()],
        )?;
        Ok(row.is_some())
    }

    /// The keys kept for creates of these records, by source key: one query for a batch.
    pub fn kept_create_keys_among(
        &self,
        mapping: &str,
        dir: Direction,
        source_keys: &[String],
    ) -> Result<HashMap<String, String>, StateError> {
        let select = "SELECT source_key, dest_key FROM create_keys
             WHERE company = ? AND mapping = ? AND direction = ? AND source_key IN";
        let mut out = HashMap::new();
        for r in self.rows_among(select, mapping, dir, source_keys)? {
            out.insert(r.get(0)?, r.get(1)?);
        }
        Ok(out)
    }

    /// Lets a record's kept key go: the record is coupled.
    pub fn release_create_key(
        &self,
        mapping: &str,
        dir: Direction,
        source_key: &str,
    ) -> Result<(), StateError> {
        self.conn()?.execute(
            "DELETE FROM create_keys WHERE company = ?1 AND mapping = ?2 AND direction = ?3 AND source_key = ?4",
            &args![self.company(), mapping, dir.as_str(), source_key],
        )?;
        Ok(())
    }
}
