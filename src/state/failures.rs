//! Failed records: tracked for retry, skipped after the same error twice, and logged.

use super::*;

/// What kind of failure a record has: what a person does about it differs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Any error but the two below: retried by every run (`syncmap retry` once skipped).
    #[default]
    Error,
    /// Both sides changed a two-way field and the conflict rule is `fail`: settled with
    /// `syncmap resolve --take left|right`.
    Conflict,
    /// The coupled partner was deleted and the deletion rule is `fail`: settled with
    /// `syncmap resolve --restore`, `--delete` or `--uncouple`.
    PartnerDeleted,
}

impl FailureKind {
    fn as_str(self) -> Option<&'static str> {
        match self {
            FailureKind::Error => None,
            FailureKind::Conflict => Some("conflict"),
            FailureKind::PartnerDeleted => Some("partner_deleted"),
        }
    }

    fn parse(s: Option<&str>) -> FailureKind {
        match s {
            Some("conflict") => FailureKind::Conflict,
            Some("partner_deleted") => FailureKind::PartnerDeleted,
            _ => FailureKind::Error,
        }
    }
}

/// One two-way field of a conflict, as each side holds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FieldDifference {
    /// The left side's column.
    pub left_field: String,
    /// Its value there (JSON, `null` when empty).
    pub left: serde_json::Value,
    /// The right side's column.
    pub right_field: String,
    /// Its value there.
    pub right: serde_json::Value,
}

impl Store {
    /// Logs a failed record and tracks it for retry; a record failing twice in a row with the
    /// same message is skipped. Returns whether it is now skipped.
    #[allow(clippy::too_many_arguments)] // every part is stored
    pub fn record_failure(
        &self,
        run: i64,
        mapping: &str,
        dir: Direction,
        source_key: &str,
        dest_key: Option<&str>,
        message: &str,
    ) -> Result<bool, StateError> {
        self.record_failure_as(run, mapping, dir, (source_key, dest_key), message, true)
    }

    /// Logs a failed record; `may_skip` false for passing problems (throttling, timeouts, a
    /// locked database), which must not skip a record however often they repeat.
    pub fn record_failure_as(
        &self,
        run: i64,
        mapping: &str,
        dir: Direction,
        (source_key, dest_key): (&str, Option<&str>),
        message: &str,
        may_skip: bool,
    ) -> Result<bool, StateError> {
        // A service's message may echo a secret; redacted, it also compares equal across runs
        // whose tokens differ.
        let message = crate::redact::redact(message);
        let message = message.as_str();
        let (at, company) = (now(), self.company());
        self.conn()?.execute(
            "INSERT INTO record_errors (run, mapping, direction, source_key, dest_key, message, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &args![run, mapping, dir.as_str(), source_key, dest_key, message, &at],
        )?;
        let previous: Option<String> = self
            .conn()?
            .query_row(
                "SELECT message FROM failures WHERE company = ?4 AND mapping = ?1 AND direction = ?2 AND source_key = ?3",
                &args![mapping, dir.as_str(), source_key, &company],
            )?
            .map(|r| r.get(0))
            .transpose()?;
        let skipped = may_skip && previous.as_deref() == Some(message);
        self.conn()?.execute(
            "INSERT INTO failures (mapping, direction, source_key, dest_key, message, attempts, skipped, run, at, company) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9)
             ON CONFLICT (company, mapping, direction, source_key) DO UPDATE SET dest_key = COALESCE(excluded.dest_key, failures.dest_key),
               message = excluded.message, attempts = failures.attempts + 1, skipped = excluded.skipped, run = excluded.run, at = excluded.at,
               kind = NULL, detail = NULL",
            &args![mapping, dir.as_str(), source_key, dest_key, message, skipped, run, &at, &company],
        )?;
        if skipped {
            let col = if dir.source() == Side::Left {
                "left_key"
            } else {
                "right_key"
            };
            self.conn()?.execute(
                &format!(
                    "UPDATE couplings SET skipped = 1 WHERE company = ?3 AND mapping = ?1 AND {col} = ?2"
                ),
                &args![mapping, source_key, &company],
            )?;
        }
        Ok(skipped)
    }

    /// Says what kind of failure the one just recorded is and, for a conflict, how the two
    /// sides differ (redacted as messages are: a value may echo what a service answered).
    pub fn describe_failure(
        &self,
        mapping: &str,
        dir: Direction,
        source_key: &str,
        kind: FailureKind,
        differences: &[FieldDifference],
    ) -> Result<(), StateError> {
        let detail = if differences.is_empty() {
            None
        } else {
            let json = serde_json::to_string(differences)
                .map_err(|e| StateError::Io(format!("cannot encode a conflict's fields: {e}")))?;
            Some(crate::redact::redact(&json))
        };
        self.conn()?.execute(
            "UPDATE failures SET kind = ?4, detail = ?5 WHERE company = ?6 AND mapping = ?1 AND direction = ?2 AND source_key = ?3",
            &args![mapping, dir.as_str(), source_key, kind.as_str(), detail, self.company()],
        )?;
        Ok(())
    }

    /// Clears the failure of a record that has now synced.
    pub fn clear_failure(
        &self,
        mapping: &str,
        dir: Direction,
        source_key: &str,
    ) -> Result<(), StateError> {
        if self.clear_or_defer(false, mapping, dir, source_key) {
            return Ok(());
        }
        self.conn()?.execute(
            "DELETE FROM failures WHERE company = ?4 AND mapping = ?1 AND direction = ?2 AND source_key = ?3",
            &args![mapping, dir.as_str(), source_key, self.company()],
        )?;
        Ok(())
    }

    /// Source keys of records that failed and are not skipped: retried first by every run.
    pub fn failed_not_skipped(
        &self,
        mapping: &str,
        dir: Direction,
    ) -> Result<Vec<String>, StateError> {
        self.conn()?
            .query(
                "SELECT source_key FROM failures WHERE company = ?3 AND mapping = ?1 AND direction = ?2 AND skipped = 0 ORDER BY source_key",
                &args![mapping, dir.as_str(), self.company()],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// Source keys of records that failed in this run: a record met again in the same run is
    /// not failed twice.
    pub fn failed_in_run(
        &self,
        mapping: &str,
        dir: Direction,
        run: i64,
    ) -> Result<std::collections::HashSet<String>, StateError> {
        self.conn()?
            .query(
                "SELECT source_key FROM failures WHERE company = ?4 AND mapping = ?1 AND direction = ?2 AND run = ?3",
                &args![mapping, dir.as_str(), run, self.company()],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// Source keys of the couplings never synced from `side`: pairs coupled by hand or by the
    /// match rules. Their rows may be older than the watermark, so every run reads them by key
    /// (as it does failed records) until they have synced.
    pub fn never_synced(&self, mapping: &str, side: Side) -> Result<Vec<String>, StateError> {
        let (key, synced) = match side {
            Side::Left => ("left_key", "left_synced"),
            Side::Right => ("right_key", "right_synced"),
        };
        let sql = format!(
            "SELECT {key} FROM couplings WHERE company = ?2 AND mapping = ?1 AND {synced} IS NULL AND skipped = 0 ORDER BY {key}"
        );
        self.conn()?
            .query(&sql, &args![mapping, self.company()])?
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// Which of these source records are skipped in a direction: one query for a batch of
    /// records instead of one per record.
    pub fn skipped_among(
        &self,
        mapping: &str,
        dir: Direction,
        source_keys: &[String],
    ) -> Result<HashSet<String>, StateError> {
        let select = "SELECT source_key FROM failures WHERE company = ? AND mapping = ? AND direction = ? AND skipped = 1 AND source_key IN";
        let mut out = HashSet::new();
        for r in self.rows_among(select, mapping, dir, source_keys)? {
            out.insert(r.get(0)?);
        }
        Ok(out)
    }

    /// Whether a record is skipped in a direction.
    pub fn is_skipped(
        &self,
        mapping: &str,
        dir: Direction,
        source_key: &str,
    ) -> Result<bool, StateError> {
        let s: Option<bool> = self
            .conn()?
            .query_row(
                "SELECT skipped FROM failures WHERE company = ?4 AND mapping = ?1 AND direction = ?2 AND source_key = ?3",
                &args![mapping, dir.as_str(), source_key, self.company()],
            )?
            .map(|r| r.get(0))
            .transpose()?;
        Ok(s.unwrap_or(false))
    }

    /// Names the record of the failure just recorded (in `failures` and the run's error) by the
    /// words a person knows it by.
    pub fn label_failure(
        &self,
        run: i64,
        mapping: &str,
        dir: Direction,
        source_key: &str,
        label: &str,
    ) -> Result<(), StateError> {
        let label = crate::redact::redact(label);
        self.conn()?.execute(
            "UPDATE failures SET label = ?4 WHERE company = ?5 AND mapping = ?1 AND direction = ?2 AND source_key = ?3",
            &args![mapping, dir.as_str(), source_key, &label, self.company()],
        )?;
        self.conn()?.execute(
            "UPDATE record_errors SET label = ?5 WHERE id = (SELECT MAX(id) FROM record_errors \
             WHERE run = ?1 AND mapping = ?2 AND direction = ?3 AND source_key = ?4)",
            &args![run, mapping, dir.as_str(), source_key, &label],
        )?;
        Ok(())
    }

    /// Every tracked failure, optionally of one table mapping.
    pub fn failures(&self, mapping: Option<&str>) -> Result<Vec<Failure>, StateError> {
        self.conn()?
            .query(
                "SELECT mapping, direction, source_key, dest_key, message, attempts, skipped, at, label, kind, detail FROM failures
                 WHERE company = ?2 AND (CAST(?1 AS TEXT) IS NULL OR mapping = ?1) ORDER BY mapping, direction, source_key",
                &args![mapping, self.company()],
            )?
            .iter()
            .map(failure_row)
            .collect()
    }

    /// The failures of one coupled pair, in either direction (read by key, not by table).
    pub fn failures_of_pair(
        &self,
        mapping: &str,
        left_key: &str,
        right_key: &str,
    ) -> Result<Vec<Failure>, StateError> {
        self.conn()?
            .query(
                "SELECT mapping, direction, source_key, dest_key, message, attempts, skipped, at, label, kind, detail FROM failures
                 WHERE company = ?4 AND mapping = ?1 AND ((direction = 'left_to_right' AND source_key = ?2)
                                      OR (direction = 'right_to_left' AND source_key = ?3))
                 ORDER BY direction",
                &args![mapping, left_key, right_key, self.company()],
            )?
            .iter()
            .map(failure_row)
            .collect()
    }

    /// Un-skips failed records (all, or of one table mapping) so the next run retries them;
    /// returns how many.
    pub fn retry(&self, mapping: Option<&str>) -> Result<usize, StateError> {
        let scope = args![mapping, self.company()];
        let n = self.conn()?.execute(
            "UPDATE failures SET skipped = 0, attempts = 0, message = '' WHERE skipped = 1 AND company = ?2 AND (CAST(?1 AS TEXT) IS NULL OR mapping = ?1)",
            &scope,
        )?;
        self.conn()?.execute(
            "UPDATE couplings SET skipped = 0 WHERE skipped = 1 AND company = ?2 AND (CAST(?1 AS TEXT) IS NULL OR mapping = ?1)",
            &scope,
        )?;
        Ok(n)
    }

    /// The errors logged by one run, or the latest ones.
    pub fn errors(
        &self,
        run: Option<i64>,
        mapping: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecordError>, StateError> {
        // No bound is the largest one: `LIMIT -1` means none only to SQLite.
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.conn()?.query(
            "SELECT run, mapping, direction, source_key, dest_key, message, at, label FROM record_errors
             WHERE (CAST(?1 AS BIGINT) IS NULL OR run = ?1) AND (CAST(?2 AS TEXT) IS NULL OR mapping = ?2)
               AND run NOT IN (SELECT id FROM runs WHERE company <> ?4) ORDER BY id DESC LIMIT ?3",
            &args![run, mapping, limit, self.company()],
        )?;
        rows.iter()
            .map(|r| {
                Ok(RecordError {
                    run: r.get(0)?,
                    mapping: r.get(1)?,
                    direction: r.get(2)?,
                    source_key: r.get(3)?,
                    dest_key: r.get(4)?,
                    message: r.get(5)?,
                    at: r.get(6)?,
                    label: r.get(7)?,
                })
            })
            .collect()
    }
}

/// A failure as the store holds it.
fn failure_row(r: &db::Row) -> Result<Failure, StateError> {
    let d: String = r.get(1)?;
    Ok(Failure {
        mapping: r.get(0)?,
        direction: Direction::parse(&d).unwrap_or(Direction::LeftToRight),
        source_key: r.get(2)?,
        dest_key: r.get(3)?,
        message: r.get(4)?,
        attempts: r.get(5)?,
        skipped: r.get(6)?,
        at: r.get(7)?,
        label: r.get(8)?,
        kind: FailureKind::parse(r.get::<Option<String>>(9)?.as_deref()),
        // A detail that does not decode (written by a later version) is left out.
        differences: r
            .get::<Option<String>>(10)?
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or_default(),
    })
}
