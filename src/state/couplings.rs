//! Couplings: which record is coupled to which, with their sync history.

use super::db::{Reuse, Row, KEYS_PER_LOOKUP};
use super::*;

impl Store {
    fn coupling_from(r: &Row) -> Result<Coupling, StateError> {
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
            follow_up: r.get::<Option<String>>(12)?.as_deref().and_then(side_of),
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
            "SELECT {} FROM couplings WHERE company = ?3 AND mapping = ?1 AND {col} = ?2",
            Self::COUPLING_COLUMNS
        );
        self.conn()?
            .query_row(&sql, &args![mapping, key, self.company()])?
            .map(|r| Self::coupling_from(&r))
            .transpose()
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
        let mut out = HashMap::with_capacity(keys.len());
        let company = self.company();
        for chunk in keys.chunks(KEYS_PER_LOOKUP) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT {} FROM couplings WHERE company = ? AND mapping = ? AND {col} IN ({marks})",
                Self::COUPLING_COLUMNS
            );
            let args: Vec<Arg<'_>> = [Arg::from(&company), Arg::from(mapping)]
                .into_iter()
                .chain(chunk.iter().map(Arg::from))
                .collect();
            for r in self
                .conn()?
                .query_as(&sql, &args, Reuse::for_keys(chunk.len()))?
            {
                let c = Self::coupling_from(&r)?;
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
        let mut out = HashMap::with_capacity(keys.len());
        let company = self.company();
        for chunk in keys.chunks(KEYS_PER_LOOKUP) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT {col}, {other} FROM couplings WHERE company = ? AND mapping = ? AND {col} IN ({marks})"
            );
            let args: Vec<Arg<'_>> = [company.as_str(), mapping]
                .into_iter()
                .chain(chunk.iter().copied())
                .map(Arg::from)
                .collect();
            for r in self
                .conn()?
                .query_as(&sql, &args, Reuse::for_keys(chunk.len()))?
            {
                out.insert(r.get(0)?, r.get(1)?);
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
            "SELECT {} FROM couplings WHERE company = ?4 AND mapping = ?1 AND left_key > ?2 ORDER BY left_key LIMIT ?3",
            Self::COUPLING_COLUMNS
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.conn()?
            .query(
                &sql,
                &args![mapping, after_left_key.unwrap_or(""), limit, self.company()],
            )?
            .iter()
            .map(Self::coupling_from)
            .collect()
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

    pub(super) const SAVE_COUPLING: &'static str = "INSERT INTO couplings (mapping, left_key, right_key, left_synced, right_synced, ltr_result, ltr_run, rtl_result, rtl_run, skipped, coupled_at, left_version, right_version, follow_up, base, company)";

    pub(super) const ON_COUPLED: &'static str = "ON CONFLICT (company, mapping, left_key) DO UPDATE SET right_key = excluded.right_key, left_synced = excluded.left_synced,
               right_synced = excluded.right_synced, ltr_result = excluded.ltr_result, ltr_run = excluded.ltr_run,
               rtl_result = excluded.rtl_result, rtl_run = excluded.rtl_run, skipped = excluded.skipped,
               left_version = excluded.left_version, right_version = excluded.right_version,
               follow_up = excluded.follow_up, base = excluded.base";

    /// A coupling's values in [`Self::SAVE_COUPLING`]'s column order.
    pub(super) fn coupling_values<'c>(
        c: &'c Coupling,
        coupled_at: &'c str,
        company: &'c str,
    ) -> [Arg<'c>; 16] {
        args![
            &c.mapping,
            &c.left_key,
            &c.right_key,
            ts(c.left_synced),
            ts(c.right_synced),
            &c.ltr_result,
            c.ltr_run,
            &c.rtl_result,
            c.rtl_run,
            c.skipped,
            coupled_at,
            &c.left_version,
            &c.right_version,
            c.follow_up.map(side_name),
            c.base.as_deref(),
            company,
        ]
    }

    /// Writes a coupling's timestamps, results and flag (inserting it if new).
    pub fn save_coupling(&self, c: &Coupling) -> Result<(), StateError> {
        if self.save_or_defer(c, false) {
            return Ok(());
        }
        let sql = format!(
            "{} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) {}",
            Self::SAVE_COUPLING,
            Self::ON_COUPLED
        );
        let (at, company) = (now(), self.company());
        self.conn()?
            .execute(&sql, &Self::coupling_values(c, &at, &company))?;
        Ok(())
    }

    /// Removes the coupling of a record; true when there was one.
    pub fn uncouple(&self, mapping: &str, side: Side, key: &str) -> Result<bool, StateError> {
        let col = if side == Side::Left {
            "left_key"
        } else {
            "right_key"
        };
        // A key kept for either record's create would couple them again (see `create_keys.rs`).
        let (this_way, other_way, other_col) = if side == Side::Left {
            (Direction::LeftToRight, Direction::RightToLeft, "right_key")
        } else {
            (Direction::RightToLeft, Direction::LeftToRight, "left_key")
        };
        self.conn()?.execute(
            &format!(
                "DELETE FROM create_keys WHERE company = ?3 AND mapping = ?1
                   AND ((direction = ?4 AND source_key = ?2)
                     OR (direction = ?5 AND source_key IN
                          (SELECT {other_col} FROM couplings WHERE company = ?3 AND mapping = ?1 AND {col} = ?2)))"
            ),
            &args![mapping, key, self.company(), this_way.as_str(), other_way.as_str()],
        )?;
        let n = self.conn()?.execute(
            &format!("DELETE FROM couplings WHERE company = ?3 AND mapping = ?1 AND {col} = ?2"),
            &args![mapping, key, self.company()],
        )?;
        Ok(n > 0)
    }

    /// Removes every coupling of a table mapping; returns how many.
    pub fn uncouple_all(&self, mapping: &str) -> Result<usize, StateError> {
        let scope = args![mapping, self.company()];
        self.conn()?.execute(
            "DELETE FROM failures WHERE company = ?2 AND mapping = ?1",
            &scope,
        )?;
        self.conn()?.execute(
            "DELETE FROM create_keys WHERE company = ?2 AND mapping = ?1",
            &scope,
        )?;
        self.conn()?.execute(
            "DELETE FROM couplings WHERE company = ?2 AND mapping = ?1",
            &scope,
        )
    }

    /// The keys, on `side`, of the rows the sync created there whose system-set values have
    /// not flowed back yet (see [`Coupling::follow_up`]).
    pub fn follow_ups(&self, mapping: &str, side: Side) -> Result<Vec<String>, StateError> {
        let col = if side == Side::Left {
            "left_key"
        } else {
            "right_key"
        };
        // No ORDER BY: it would make SQLite walk the table in key order instead of using the
        // small index of marked rows.
        let sql = format!(
            "SELECT {col} FROM couplings WHERE company = ?3 AND mapping = ?1 AND follow_up = ?2"
        );
        self.conn()?
            .query(&sql, &args![mapping, side_name(side), self.company()])?
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// Whether `company` has any coupling in the store, of any table mapping.
    pub fn has_couplings_of(&self, company: &str) -> Result<bool, StateError> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT 1 FROM couplings WHERE company = ?1 LIMIT 1",
                &args![company],
            )?
            .is_some())
    }

    /// Number of couplings and of skipped couplings of a table mapping.
    pub fn coupling_counts(&self, mapping: &str) -> Result<(u64, u64), StateError> {
        let row = self.conn()?.query_row(
            "SELECT COUNT(*), CAST(COALESCE(SUM(skipped), 0) AS BIGINT) FROM couplings WHERE company = ?2 AND mapping = ?1",
            &args![mapping, self.company()],
        )?;
        let count = |i| -> Result<u64, StateError> {
            let n: Option<i64> = row.as_ref().map(|r| r.get(i)).transpose()?;
            Ok(n.unwrap_or(0).max(0) as u64)
        };
        Ok((count(0)?, count(1)?))
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
