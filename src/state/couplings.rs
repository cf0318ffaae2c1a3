//! Couplings: which record is coupled to which, with their sync history.

use rusqlite::types::Value as SqlValue;

use super::*;

impl Store {
    fn coupling_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Coupling> {
        Ok(Coupling {
            mapping: r.get(0)?,
            left_key: r.get(1)?,
            right_key: r.get(2)?,
            left_synced: parse_ts(r.get(3)?),
            right_synced: parse_ts(r.get(4)?),
            ltr_result: r.get(5)?,
            ltr_run: r.get(6)?,
            rtl_result: r.get(7)?,
            rtl_run: r.get(8)?,
            skipped: r.get(9)?,
            left_version: r.get(10)?,
            right_version: r.get(11)?,
            follow_up: r.get::<_, Option<String>>(12)?.as_deref().and_then(side_of),
            base: r.get(13)?,
        })
    }

    const COUPLING_COLUMNS: &'static str =
        "mapping, left_key, right_key, left_synced, right_synced, ltr_result, ltr_run, rtl_result, rtl_run, skipped, left_version, right_version, follow_up, base";

    /// The coupling of a record, if it has one.
    pub fn coupling(
        &self,
        mapping: &str,
        side: Side,
        key: &str,
    ) -> Result<Option<Coupling>, StateError> {
        let col = if side == Side::Left {
            "left_key"
        } else {
            "right_key"
        };
        let sql = format!(
            "SELECT {} FROM couplings WHERE mapping = ?1 AND {col} = ?2",
            Self::COUPLING_COLUMNS
        );
        Ok(self
            .conn()?
            .prepare_cached(&sql)?
            .query_row(params![mapping, key], Self::coupling_from)
            .optional()?)
    }

    /// The couplings of many records of one side, by key.
    pub fn couplings(
        &self,
        mapping: &str,
        side: Side,
        keys: &[String],
    ) -> Result<HashMap<String, Coupling>, StateError> {
        let col = if side == Side::Left {
            "left_key"
        } else {
            "right_key"
        };
        let mut out = HashMap::new();
        for chunk in keys.chunks(400) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT {} FROM couplings WHERE mapping = ? AND {col} IN ({marks})",
                Self::COUPLING_COLUMNS
            );
            let mut stmt = self.conn()?.prepare_cached(&sql)?;
            let args = std::iter::once(mapping.to_string()).chain(chunk.iter().cloned());
            for c in stmt.query_map(rusqlite::params_from_iter(args), Self::coupling_from)? {
                let c = c?;
                out.insert(c.key(side).to_string(), c);
            }
        }
        Ok(out)
    }

    /// The partners of many records of one side, by key: [`Store::couplings`] without the
    /// rest of each coupling, for checks that need only who is coupled to whom.
    pub(super) fn partners_of(
        &self,
        mapping: &str,
        side: Side,
        keys: &[&str],
    ) -> Result<HashMap<String, String>, StateError> {
        let (col, other) = match side {
            Side::Left => ("left_key", "right_key"),
            Side::Right => ("right_key", "left_key"),
        };
        let mut out = HashMap::new();
        for chunk in keys.chunks(400) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT {col}, {other} FROM couplings WHERE mapping = ? AND {col} IN ({marks})"
            );
            // Prepared for this once: its size varies with the batch.
            let mut stmt = self.conn()?.prepare(&sql)?;
            let args = std::iter::once(mapping).chain(chunk.iter().copied());
            let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (key, partner) = row?;
                out.insert(key, partner);
            }
        }
        Ok(out)
    }

    /// Every coupling of a table mapping, in left-key order, a page at a time.
    pub fn couplings_page(
        &self,
        mapping: &str,
        after_left_key: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Coupling>, StateError> {
        let sql = format!(
            "SELECT {} FROM couplings WHERE mapping = ?1 AND left_key > ?2 ORDER BY left_key LIMIT ?3",
            Self::COUPLING_COLUMNS
        );
        let mut stmt = self.conn()?.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![mapping, after_left_key.unwrap_or(""), limit as i64],
            Self::coupling_from,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Couples two records; refuses when either is already coupled to another. In a
    /// transaction the check and the save are deferred to its end (see `deferred`).
    pub fn couple(&self, c: &Coupling) -> Result<(), StateError> {
        if self.save_or_defer(c, true) {
            return Ok(());
        }
        for side in [Side::Left, Side::Right] {
            if let Some(existing) = self.coupling(&c.mapping, side, c.key(side))? {
                if existing.key(side.other()) != c.key(side.other()) {
                    return Err(StateError::AlreadyCoupled {
                        mapping: c.mapping.clone(),
                        side: if side == Side::Left { "left" } else { "right" },
                        key: c.key(side).to_string(),
                        partner: existing.key(side.other()).to_string(),
                    });
                }
            }
        }
        self.save_coupling(c)
    }

    pub(super) const SAVE_COUPLING: &'static str = "INSERT INTO couplings (mapping, left_key, right_key, left_synced, right_synced, ltr_result, ltr_run, rtl_result, rtl_run, skipped, coupled_at, left_version, right_version, follow_up, base)";

    pub(super) const ON_COUPLED: &'static str = "ON CONFLICT (mapping, left_key) DO UPDATE SET right_key = excluded.right_key, left_synced = excluded.left_synced,
               right_synced = excluded.right_synced, ltr_result = excluded.ltr_result, ltr_run = excluded.ltr_run,
               rtl_result = excluded.rtl_result, rtl_run = excluded.rtl_run, skipped = excluded.skipped,
               left_version = excluded.left_version, right_version = excluded.right_version,
               follow_up = excluded.follow_up, base = excluded.base";

    /// A coupling's values in [`Self::SAVE_COUPLING`]'s column order.
    pub(super) fn coupling_values(c: &Coupling, coupled_at: &str) -> [SqlValue; 15] {
        let text = |s: &str| SqlValue::Text(s.to_string());
        let opt_text = |s: Option<&str>| s.map_or(SqlValue::Null, text);
        let opt_int = |i: Option<i64>| i.map_or(SqlValue::Null, SqlValue::Integer);
        [
            text(&c.mapping),
            text(&c.left_key),
            text(&c.right_key),
            opt_text(ts(c.left_synced).as_deref()),
            opt_text(ts(c.right_synced).as_deref()),
            opt_text(c.ltr_result.as_deref()),
            opt_int(c.ltr_run),
            opt_text(c.rtl_result.as_deref()),
            opt_int(c.rtl_run),
            SqlValue::Integer(i64::from(c.skipped)),
            text(coupled_at),
            opt_text(c.left_version.as_deref()),
            opt_text(c.right_version.as_deref()),
            opt_text(c.follow_up.map(side_name)),
            c.base.clone().map_or(SqlValue::Null, SqlValue::Blob),
        ]
    }

    /// Writes a coupling's timestamps, results and flag (inserting it if new).
    pub fn save_coupling(&self, c: &Coupling) -> Result<(), StateError> {
        if self.save_or_defer(c, false) {
            return Ok(());
        }
        let sql = format!(
            "{} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) {}",
            Self::SAVE_COUPLING,
            Self::ON_COUPLED
        );
        self.conn()?
            .prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(Self::coupling_values(c, &now())))?;
        Ok(())
    }

    /// Removes the coupling of a record; true when there was one.
    pub fn uncouple(&self, mapping: &str, side: Side, key: &str) -> Result<bool, StateError> {
        let col = if side == Side::Left {
            "left_key"
        } else {
            "right_key"
        };
        let n = self.conn()?.execute(
            &format!("DELETE FROM couplings WHERE mapping = ?1 AND {col} = ?2"),
            params![mapping, key],
        )?;
        Ok(n > 0)
    }

    /// Removes every coupling of a table mapping; returns how many.
    pub fn uncouple_all(&self, mapping: &str) -> Result<usize, StateError> {
        self.conn()?
            .execute("DELETE FROM failures WHERE mapping = ?1", [mapping])?;
        Ok(self
            .conn()?
            .execute("DELETE FROM couplings WHERE mapping = ?1", [mapping])?)
    }

    /// The keys, on `side`, of the rows the sync created there whose system-set values have
    /// not flowed back yet (see [`Coupling::follow_up`]).
    pub fn follow_ups(&self, mapping: &str, side: Side) -> Result<Vec<String>, StateError> {
        let col = if side == Side::Left {
            "left_key"
        } else {
            "right_key"
        };
        let mut stmt = self.conn()?.prepare_cached(&format!(
            // No ORDER BY: it would make SQLite walk the table in key order instead of using
            // the small index of marked rows.
            "SELECT {col} FROM couplings WHERE mapping = ?1 AND follow_up = ?2"
        ))?;
        let rows = stmt.query_map(params![mapping, side_name(side)], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Number of couplings and of skipped couplings of a table mapping.
    pub fn coupling_counts(&self, mapping: &str) -> Result<(u64, u64), StateError> {
        Ok(self.conn()?.query_row(
            "SELECT COUNT(*), COALESCE(SUM(skipped), 0) FROM couplings WHERE mapping = ?1",
            [mapping],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Left => "left",
        Side::Right => "right",
    }
}

fn side_of(name: &str) -> Option<Side> {
    match name {
        "left" => Some(Side::Left),
        "right" => Some(Side::Right),
        _ => None,
    }
}
