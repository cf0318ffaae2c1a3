//! Run history: what each run wrote where, the filters of `syncmap log`, and the bound on how
//! many runs' write logs are kept.

use std::borrow::Cow;

use super::*;

/// What a run did to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteAction {
    /// The destination row was created (and coupled).
    Inserted,
    /// The destination row was updated.
    Modified,
    /// A row was deleted (a propagated deletion: the source row, whose partner is gone).
    Deleted,
    /// A pair was coupled without a write (the match rules found an equal partner).
    Coupled,
    /// A coupling was removed (the partner was deleted and the rule uncouples).
    Uncoupled,
    /// The record was left alone, for the logged reason.
    Skipped,
}

impl WriteAction {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteAction::Inserted => "inserted",
            WriteAction::Modified => "modified",
            WriteAction::Deleted => "deleted",
            WriteAction::Coupled => "coupled",
            WriteAction::Uncoupled => "uncoupled",
            WriteAction::Skipped => "skipped",
        }
    }
}

/// One record a run wrote (or coupled, uncoupled, skipped).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunWrite {
    /// The table mapping.
    pub mapping: String,
    /// The direction of the pass.
    pub direction: String,
    /// `inserted`, `modified`, `deleted`, `coupled`, `uncoupled` or `skipped`.
    pub action: String,
    /// The source record's key.
    pub source_key: String,
    /// The destination record's key, when there is one.
    pub dest_key: Option<String>,
    /// Why: for skipped records, restores and deletions.
    pub reason: Option<String>,
}

/// Which runs `syncmap log` lists.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs that covered this table mapping.
    pub table: Option<String>,
    /// Only runs with this status.
    pub status: Option<String>,
    /// Only runs with this trigger.
    pub trigger: Option<String>,
    /// Only runs started at or after this instant.
    pub since: Option<Timestamp>,
    /// At most this many, newest first.
    pub limit: usize,
}

impl Store {
    /// Logs what a run did to one record. Called inside the batch's transaction, so the log
    /// and the couplings commit together.
    #[allow(clippy::too_many_arguments)] // every part is stored
    pub fn log_write(
        &self,
        run: i64,
        mapping: &str,
        dir: Direction,
        action: WriteAction,
        source_key: &str,
        dest_key: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), StateError> {
        // Owned: a deferred row outlives the call.
        let text = |s: &str| Arg::Text(Cow::Owned(s.to_string()));
        let row = [
            Arg::Int(run),
            text(mapping),
            Arg::Text(Cow::Borrowed(dir.as_str())),
            Arg::Text(Cow::Borrowed(action.as_str())),
            text(source_key),
            dest_key.map_or(Arg::Null, text),
            reason.map_or(Arg::Null, |r| {
                Arg::Text(Cow::Owned(crate::redact::redact(r)))
            }),
            Arg::Text(Cow::Owned(self.company())),
        ];
        let Some(row) = self.log_or_defer(row) else {
            return Ok(());
        };
        self.conn()?.execute(
            "INSERT INTO run_writes (run, mapping, direction, action, source_key, dest_key, reason, company) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &row,
        )?;
        Ok(())
    }

    /// Everything a run wrote, in the order it was logged.
    pub fn run_writes(&self, run: i64) -> Result<Vec<RunWrite>, StateError> {
        let rows = self.conn()?.query(
            "SELECT mapping, direction, action, source_key, dest_key, reason FROM run_writes WHERE run = ?1 ORDER BY id",
            &args![run],
        )?;
        rows.iter()
            .map(|r| {
                Ok(RunWrite {
                    mapping: r.get(0)?,
                    direction: r.get(1)?,
                    action: r.get(2)?,
                    source_key: r.get(3)?,
                    dest_key: r.get(4)?,
                    reason: r.get(5)?,
                })
            })
            .collect()
    }

    /// Drops the write logs of all but the newest `keep` runs of the store's company (the runs
    /// themselves, with their counts, stay; other companies keep theirs); returns how many rows
    /// went. `keep` 0 keeps none.
    pub fn prune_run_writes(&self, keep: usize) -> Result<usize, StateError> {
        let company = self.company();
        if keep == 0 {
            return self.conn()?.execute(
                "DELETE FROM run_writes WHERE company = ?1 \
                 AND run NOT IN (SELECT id FROM runs WHERE status = 'running')",
                &args![company],
            );
        }
        // The oldest run kept, found first: a bound the delete can seek to in the index by run,
        // where one condition of the delete's own would make it scan every write ever logged.
        let offset = i64::try_from(keep - 1).unwrap_or(i64::MAX);
        let oldest_kept: Option<i64> = self
            .conn()?
            .query_row(
                "SELECT id FROM runs WHERE company = ?2 ORDER BY id DESC LIMIT 1 OFFSET ?1",
                &args![offset, &company],
            )?
            .map(|r| r.get(0))
            .transpose()?;
        let Some(oldest_kept) = oldest_kept else {
            return Ok(0);
        };
        // A run still under way keeps its log, however many runs began since: workers run
        // units side by side, and a long one may be passed by many short ones.
        self.conn()?.execute(
            "DELETE FROM run_writes WHERE company = ?2 AND run < ?1 \
             AND run NOT IN (SELECT id FROM runs WHERE status = 'running')",
            &args![oldest_kept, &company],
        )
    }

    /// The runs of the store's company a filter selects, newest first.
    pub fn runs_where(&self, f: &RunFilter) -> Result<Vec<Run>, StateError> {
        let since = ts(f.since);
        let holds = self.conn()?.dialect().json_array_holds("runs.tables", "?4");
        let sql = format!(
            "SELECT id FROM runs WHERE (CAST(?1 AS TEXT) IS NULL OR status = ?1) AND (CAST(?2 AS TEXT) IS NULL OR trigger = ?2)
               AND (CAST(?3 AS TEXT) IS NULL OR started_at >= ?3)
               AND (CAST(?4 AS TEXT) IS NULL OR {holds}) AND company = ?6
             ORDER BY id DESC LIMIT ?5"
        );
        let limit = i64::try_from(f.limit).unwrap_or(i64::MAX);
        let ids: Vec<i64> = self
            .conn()?
            .query(
                &sql,
                &args![
                    &f.status,
                    &f.trigger,
                    since,
                    &f.table,
                    limit,
                    self.company()
                ],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect::<Result<_, _>>()?;
        ids.into_iter()
            .filter_map(|id| self.run(id).transpose())
            .collect()
    }
}
