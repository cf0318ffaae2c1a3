//! Write intents: what a batch is about to write, so a killed run can be settled.

use super::*;

/// Intents per statement: 14 values each, well under SQLite's bound on parameters.
const INTENTS_PER_STATEMENT: usize = 100;

impl Store {
    /// Records the writes a batch is about to make, before it makes them (in one transaction).
    pub fn add_intents<'i>(
        &self,
        mapping: &str,
        dir: Direction,
        intents: impl IntoIterator<Item = &'i Intent>,
        run: i64,
    ) -> Result<(), StateError> {
        let at = now();
        let company = self.company();
        // One commit for the batch, unless the caller's transaction already holds them (and
        // commits them durably: the writes follow).
        let tx = if self.conn()?.in_transaction() {
            self.check_durable()?;
            None
        } else {
            self.wait_behind();
            Some(db::Transaction::begin(self.conn()?)?)
        };
        // The writes follow these intents: a run whose lease was taken over must not send them.
        self.check_fence()?;
        // One statement per chunk of intents, each record's last only (a statement may not
        // upsert a row twice in PostgreSQL).
        let mut last: HashMap<&str, &Intent> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        for i in intents {
            if last.insert(&i.source_key, i).is_none() {
                order.push(&i.source_key);
            }
        }
        for chunk in order.chunks(INTENTS_PER_STATEMENT) {
            let marks = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO intents (company, mapping, direction, source_key, dest_key, run, at, kind, source_modified_on, fields, kept, source_version, note, dest_pending)
                 VALUES {marks}
                 ON CONFLICT (company, mapping, direction, source_key) DO UPDATE SET dest_key = excluded.dest_key, run = excluded.run,
                   at = excluded.at, kind = excluded.kind, source_modified_on = excluded.source_modified_on, fields = excluded.fields,
                   kept = excluded.kept, source_version = excluded.source_version, note = excluded.note,
                   dest_pending = excluded.dest_pending"
            );
            let mut values: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 14);
            for i in chunk.iter().filter_map(|k| last.get(k)) {
                values.extend(args![
                    &company,
                    mapping,
                    dir.as_str(),
                    &i.source_key,
                    &i.dest_key,
                    run,
                    &at,
                    i.kind.as_str(),
                    ts(i.source_modified_on),
                    &i.fields,
                    &i.kept,
                    &i.source_version,
                    &i.note,
                    i.dest_pending
                ]);
            }
            let reuse = if chunk.len() == INTENTS_PER_STATEMENT {
                db::Reuse::Kept
            } else {
                db::Reuse::Once
            };
            self.conn()?.execute_as(&sql, &values, reuse)?;
        }
        if let Some(tx) = tx {
            tx.commit()?;
            self.committed(Durability::OnCommit);
        }
        Ok(())
    }

    /// Writes that were intended but not confirmed (a run ended between the write and the
    /// commit of its outcome): settled at the start of the next run.
    pub fn intents(&self, mapping: &str, dir: Direction) -> Result<Vec<Intent>, StateError> {
        let rows = self.conn()?.query(
            "SELECT source_key, dest_key, kind, source_modified_on, fields, kept, source_version, note, dest_pending FROM intents WHERE company = ?3 AND mapping = ?1 AND direction = ?2 ORDER BY source_key",
            &args![mapping, dir.as_str(), self.company()],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Intent {
                    source_key: r.get(0)?,
                    dest_key: r.get(1)?,
                    kind: IntentKind::parse(&r.get::<String>(2)?),
                    source_modified_on: parse_ts(r.get(3)?),
                    fields: r.get(4)?,
                    kept: r.get(5)?,
                    source_version: r.get(6)?,
                    note: r.get(7)?,
                    dest_pending: r.get(8)?,
                })
            })
            .collect()
    }

    /// The open creates of these source records, by source key: one query for a batch of
    /// records instead of one per record.
    pub fn create_intents_among(
        &self,
        mapping: &str,
        dir: Direction,
        source_keys: &[String],
    ) -> Result<HashMap<String, Intent>, StateError> {
        let mut out = HashMap::new();
        let select = "SELECT source_key, dest_key, source_modified_on, fields, source_version, note FROM intents
             WHERE company = ? AND mapping = ? AND direction = ? AND kind = 'create' AND source_key IN";
        for r in self.rows_among(select, mapping, dir, source_keys)? {
            let intent = Intent {
                source_key: r.get(0)?,
                dest_key: r.get(1)?,
                kind: IntentKind::Create,
                source_modified_on: parse_ts(r.get(2)?),
                fields: r.get(3)?,
                source_version: r.get(4)?,
                note: r.get(5)?,
                kept: None,
                dest_pending: false,
            };
            out.insert(intent.source_key.clone(), intent);
        }
        Ok(out)
    }

    /// Marks an open create that cannot be settled, with why; it stays open (and its record
    /// failing) until its source is coupled by hand.
    pub fn note_intent(
        &self,
        mapping: &str,
        dir: Direction,
        source_key: &str,
        note: &str,
    ) -> Result<(), StateError> {
        self.conn()?.execute(
            "UPDATE intents SET note = ?4 WHERE company = ?5 AND mapping = ?1 AND direction = ?2 AND source_key = ?3",
            &args![mapping, dir.as_str(), source_key, crate::redact::redact(note), self.company()],
        )?;
        Ok(())
    }

    /// Forgets an intent once its write's outcome is committed (or known not to have happened).
    pub fn clear_intent(
        &self,
        mapping: &str,
        dir: Direction,
        source_key: &str,
    ) -> Result<(), StateError> {
        if self.clear_or_defer(true, mapping, dir, source_key) {
            return Ok(());
        }
        self.conn()?.execute(
            "DELETE FROM intents WHERE company = ?4 AND mapping = ?1 AND direction = ?2 AND source_key = ?3",
            &args![mapping, dir.as_str(), source_key, self.company()],
        )?;
        Ok(())
    }
}
