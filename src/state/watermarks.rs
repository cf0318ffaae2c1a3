//! Watermarks of modified-only sync: per table mapping and direction, only forward.

use super::*;

impl Store {
    /// The watermark of a table mapping and direction.
    pub fn watermark(&self, mapping: &str, dir: Direction) -> Result<Option<Cursor>, StateError> {
        let row: Option<(String, String)> = self
            .conn()?
            .query_row(
                "SELECT modified_on, key FROM watermarks WHERE company = ?3 AND mapping = ?1 AND direction = ?2",
                &args![mapping, dir.as_str(), self.company()],
            )?
            .map(|r| Ok::<_, StateError>((r.get(0)?, r.get(1)?)))
            .transpose()?;
        Ok(row.and_then(|(m, key)| {
            m.parse()
                .ok()
                .map(|modified_on| Cursor { modified_on, key })
        }))
    }

    /// Moves a watermark forward; a cursor at or before the stored one changes nothing.
    pub fn advance_watermark(
        &self,
        mapping: &str,
        dir: Direction,
        cursor: &Cursor,
        run: i64,
    ) -> Result<(), StateError> {
        if self
            .watermark(mapping, dir)?
            .is_some_and(|old| &old >= cursor)
        {
            return Ok(());
        }
        self.conn()?.execute(
            "INSERT INTO watermarks (mapping, direction, modified_on, key, run, company) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (company, mapping, direction) DO UPDATE SET modified_on = excluded.modified_on, key = excluded.key, run = excluded.run",
            &args![mapping, dir.as_str(), ts(Some(cursor.modified_on)), &cursor.key, run, self.company()],
        )?;
        Ok(())
    }

    /// Forgets the watermarks of a table mapping, and where its changes were read to (the
    /// next modified-only run reads everything).
    pub fn reset_watermarks(&self, mapping: &str) -> Result<(), StateError> {
        let conn = self.conn()?;
        let scope = args![mapping, self.company()];
        conn.execute(
            "DELETE FROM watermarks WHERE company = ?2 AND mapping = ?1",
            &scope,
        )?;
        conn.execute(
            "DELETE FROM deltas WHERE company = ?2 AND mapping = ?1",
            &scope,
        )?;
        Ok(())
    }

    /// Where the system's record of changes of a table mapping's source was read to (a delta
    /// link), if it was.
    pub fn delta(&self, mapping: &str, dir: Direction) -> Result<Option<String>, StateError> {
        self.conn()?
            .query_row(
                "SELECT link FROM deltas WHERE company = ?3 AND mapping = ?1 AND direction = ?2",
                &args![mapping, dir.as_str(), self.company()],
            )?
            .map(|r| r.get(0))
            .transpose()
    }

    /// Keeps where the changes were read to, or forgets it (`None`: the next read starts over).
    pub fn set_delta(
        &self,
        mapping: &str,
        dir: Direction,
        link: Option<&str>,
        run: i64,
    ) -> Result<(), StateError> {
        let conn = self.conn()?;
        match link {
            Some(link) => conn.execute(
                "INSERT INTO deltas (mapping, direction, link, run, company) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (company, mapping, direction) DO UPDATE SET link = excluded.link, run = excluded.run",
                &args![mapping, dir.as_str(), link, run, self.company()],
            )?,
            None => conn.execute(
                "DELETE FROM deltas WHERE company = ?3 AND mapping = ?1 AND direction = ?2",
                &args![mapping, dir.as_str(), self.company()],
            )?,
        };
        Ok(())
    }
}
