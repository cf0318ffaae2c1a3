//! Runs: their start, end, status and counts per table mapping and direction.

use super::*;

impl Store {
    /// Keeps the plan a run runs (once per digest).
    pub fn save_plan(&self, digest: &str, plan: &str) -> Result<(), StateError> {
        self.conn()?.execute(
            "INSERT INTO plans (digest, plan) VALUES (?1, ?2) ON CONFLICT (digest) DO NOTHING",
            &args![digest, plan],
        )?;
        Ok(())
    }

    /// The plan (as stored JSON) of the newest run that has one kept: what a command reading
    /// only the store runs with when no plan file or `.map` file is at hand.
    pub fn latest_plan(&self) -> Result<Option<String>, StateError> {
        self.conn()?
            .query_row(
                "SELECT p.plan FROM runs r JOIN plans p ON p.digest = r.plan_digest \
                 ORDER BY r.id DESC LIMIT 1",
                &[],
            )?
            .map(|r| r.get(0))
            .transpose()
    }

    /// The latest full sync before run `before` that synced table mapping `mapping` and went
    /// through (succeeded or completed with failures), with the plan it ran, when the store
    /// kept it.
    pub fn last_full_sync(
        &self,
        mapping: &str,
        before: i64,
    ) -> Result<Option<(i64, String)>, StateError> {
        let rows = self.conn()?.query(
            "SELECT r.id, r.tables, p.plan FROM runs r JOIN plans p ON p.digest = r.plan_digest \
             WHERE r.mode = 'full' AND r.dry_run = 0 AND r.id < ?1 AND r.company = ?2 \
               AND r.status IN ('succeeded', 'completed_with_failures') \
             ORDER BY r.id DESC LIMIT 200",
            &args![before, self.company()],
        )?;
        for row in rows {
            let (id, tables, plan): (i64, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
            // Unreadable table lists say nothing about this table mapping: an earlier run may.
            let Ok(tables) = serde_json::from_str::<Vec<String>>(&tables) else {
                continue;
            };
            // A run of every table mapping records none by name.
            if tables.is_empty() || tables.iter().any(|t| t == mapping) {
                return Ok(Some((id, plan)));
            }
        }
        Ok(None)
    }

    /// Records the start of a run and returns its id.
    pub fn begin_run(
        &self,
        mode: &str,
        trigger: &str,
        digest: &str,
        tables: &[String],
        dry_run: bool,
    ) -> Result<i64, StateError> {
        let tables = serde_json::to_string(tables).unwrap_or_else(|_| "[]".into());
        self.conn()?
            .query_row(
                "INSERT INTO runs (started_at, mode, trigger, plan_digest, tables, dry_run, status, company) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7) RETURNING id",
                &args![now(), mode, trigger, digest, tables, dry_run, self.company()],
            )?
            .ok_or_else(|| StateError::Db("a new run was given no id".into()))?
            .get(0)
    }

    /// Stores the counts of one table mapping and direction of a run (cursors given as `None`
    /// keep those stored).
    pub fn save_counts(
        &self,
        run: i64,
        mapping: &str,
        dir: Direction,
        c: &Counts,
        before: Option<&Cursor>,
        after: Option<&Cursor>,
    ) -> Result<(), StateError> {
        let cur = |c: Option<&Cursor>| {
            c.map(|c| format!("{}|{}", ts(Some(c.modified_on)).unwrap_or_default(), c.key))
        };
        self.conn()?.execute(
            "INSERT INTO run_counts (run, mapping, direction, inserted, modified, unchanged, skipped, failed, conflicts, deleted, uncoupled, coupled, cursor_before, cursor_after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (run, mapping, direction) DO UPDATE SET inserted = excluded.inserted, modified = excluded.modified,
               unchanged = excluded.unchanged, skipped = excluded.skipped, failed = excluded.failed, conflicts = excluded.conflicts,
               deleted = excluded.deleted, uncoupled = excluded.uncoupled, coupled = excluded.coupled,
               cursor_before = COALESCE(excluded.cursor_before, run_counts.cursor_before),
               cursor_after = COALESCE(excluded.cursor_after, run_counts.cursor_after)",
            &args![
                run, mapping, dir.as_str(), c.inserted as i64, c.modified as i64, c.unchanged as i64, c.skipped as i64,
                c.failed as i64, c.conflicts as i64, c.deleted as i64, c.uncoupled as i64, c.coupled as i64,
                cur(before), cur(after)
            ],
        )?;
        Ok(())
    }

    /// Records how a run ended.
    pub fn finish_run(
        &self,
        run: i64,
        status: &str,
        message: Option<&str>,
    ) -> Result<(), StateError> {
        // Read back by `log`, `report` and `doctor`: a service's echo of a secret stops here.
        let message = message.map(crate::redact::redact);
        self.conn()?.execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, message = ?4 WHERE id = ?1",
            &args![run, now(), status, message],
        )?;
        Ok(())
    }

    /// Marks runs left `running` by a process that died as interrupted.
    pub fn close_interrupted_runs(&self) -> Result<usize, StateError> {
        self.conn()?.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = COALESCE(finished_at, ?1), message = 'the process ended before the run finished' WHERE status = 'running'",
            &args![now()],
        )
    }

    /// Marks interrupted the runs of this company still `running` that synced `mapping`: for a
    /// worker that holds the unit's lease, runs another worker left when it died. Other
    /// workers' runs live on.
    pub fn close_interrupted_runs_of(&self, mapping: &str) -> Result<usize, StateError> {
        let db = self.conn()?;
        let holds = db.dialect().json_array_holds("tables", "?2");
        db.execute(
            &format!(
                "UPDATE runs SET status = 'interrupted', finished_at = COALESCE(finished_at, ?1), \
                 message = 'the process ended before the run finished' \
                 WHERE status = 'running' AND company = ?3 AND {holds}"
            ),
            &args![now(), mapping, self.company()],
        )
    }

    /// The most recent runs of the store's company, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<Run>, StateError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let ids: Vec<i64> = self
            .conn()?
            .query(
                "SELECT id FROM runs WHERE company = ?2 ORDER BY id DESC LIMIT ?1",
                &args![limit, self.company()],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect::<Result<_, _>>()?;
        ids.into_iter()
            .filter_map(|id| self.run(id).transpose())
            .collect()
    }

    /// One run with its counts.
    pub fn run(&self, id: i64) -> Result<Option<Run>, StateError> {
        let run = self
            .conn()?
            .query_row(
                "SELECT id, started_at, finished_at, mode, trigger, plan_digest, tables, dry_run, status, message, company FROM runs WHERE id = ?1",
                &args![id],
            )?
            .map(|r| {
                    let tables: String = r.get(6)?;
                    let started_at: String = r.get(1)?;
                    let finished_at: Option<String> = r.get(2)?;
                    Ok::<_, StateError>(Run {
                        id: r.get(0)?,
                        duration_ms: duration_ms(&started_at, finished_at.as_deref()),
                        started_at,
                        finished_at,
                        mode: r.get(3)?,
                        trigger: r.get(4)?,
                        plan_digest: r.get(5)?,
                        tables: serde_json::from_str(&tables).unwrap_or_default(),
                        dry_run: r.get(7)?,
                        status: r.get(8)?,
                        message: r.get(9)?,
                        company: r.get(10)?,
                        counts: Vec::new(),
                    })
                })
            .transpose()?;
        let Some(mut run) = run else { return Ok(None) };
        let order = self.conn()?.dialect().insertion_order();
        let sql = format!(
            "SELECT mapping, direction, inserted, modified, unchanged, skipped, failed, conflicts, deleted, uncoupled, coupled, cursor_before, cursor_after
             FROM run_counts WHERE run = ?1 ORDER BY {order}"
        );
        run.counts = self
            .conn()?
            .query(&sql, &args![id])?
            .iter()
            .map(|r| {
                let n = |i: usize| r.get::<i64>(i).map(|v| v.max(0) as u64);
                Ok(RunCounts {
                    mapping: r.get(0)?,
                    direction: r.get(1)?,
                    counts: Counts {
                        inserted: n(2)?,
                        modified: n(3)?,
                        unchanged: n(4)?,
                        skipped: n(5)?,
                        failed: n(6)?,
                        conflicts: n(7)?,
                        deleted: n(8)?,
                        uncoupled: n(9)?,
                        coupled: n(10)?,
                    },
                    cursor_before: r.get(11)?,
                    cursor_after: r.get(12)?,
                })
            })
            .collect::<Result<_, StateError>>()?;
        Ok(Some(run))
    }
}

/// Milliseconds from start to finish, when both are readable instants.
fn duration_ms(started: &str, finished: Option<&str>) -> Option<u64> {
    let start: Timestamp = started.parse().ok()?;
    let end: Timestamp = finished?.parse().ok()?;
    let ms = end.duration_since(start).as_millis();
    Some(ms.max(0) as u64)
}
