//! Look-ups of many records of one direction by source key: one statement per
//! [`db::KEYS_PER_LOOKUP`] keys instead of one per record.

use super::db::Row;
use super::*;

impl Store {
    /// The rows `select` finds for these source records. `select` is the statement up to
    /// `source_key IN` (the list is added), its first three parameters the company, the mapping
    /// and the direction.
    pub(super) fn rows_among(
        &self,
        select: &str,
        mapping: &str,
        dir: Direction,
        source_keys: &[String],
    ) -> Result<Vec<Row>, StateError> {
        let company = self.company();
        let mut out = Vec::new();
        for chunk in source_keys.chunks(db::KEYS_PER_LOOKUP) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!("{select} ({marks})");
            let args: Vec<Arg<'_>> = [company.as_str(), mapping, dir.as_str()]
                .into_iter()
                .chain(chunk.iter().map(String::as_str))
                .map(Arg::from)
                .collect();
            let reuse = db::Reuse::for_keys(chunk.len());
            out.extend(self.conn()?.query_as(&sql, &args, reuse)?);
        }
        Ok(out)
    }
}
