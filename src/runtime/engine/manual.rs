//! The manual modes of the reference: synchronize one record (coupling it first if needed),
//! couple two records by hand, uncouple, and match-based coupling of a whole table mapping.

use super::report::RunReport;
use super::{directions, Engine, EngineError, Mode};
use crate::connectors::Connector;
use crate::plan::{self, Side};
use crate::state::{Coupling, Direction};

impl<'a> Engine<'a> {
    /// Ends a manual run: its passes' counts are saved (they move no watermark), then the run is
    /// finished as every run is.
    pub(super) fn end(
        &mut self,
        report: &mut RunReport,
        outcome: Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        if !self.dry_run {
            for p in &report.tables {
                if let Some(dir) = Direction::parse(&p.direction) {
                    self.store
                        .save_counts(self.run, &p.mapping, dir, &p.counts, None, None)?;
                }
            }
        }
        self.finish(report, outcome)
    }

    /// Synchronizes one record from `side`, coupling it first (by match rules or by creating its
    /// partner) when it is not coupled, whatever `only coupled` says.
    pub async fn sync_record(
        &mut self,
        table: &str,
        side: Side,
        key: &str,
        dry_run: bool,
    ) -> Result<RunReport, EngineError> {
        let t = self.table(table)?;
        let dir = Direction::from_source(side);
        if !directions(t.flow).contains(&dir) {
            return Err(EngineError::Request(format!(
                "records of `{table}` never flow from the {} side ({})",
                if side == Side::Left { "left" } else { "right" },
                t.side(side).system
            )));
        }
        let mut report = self.begin("record", "manual", &[table.to_string()], dry_run)?;
        let outcome = async {
            let mut pass = self.pass(t, dir, Mode::Modified, true)?;
            // Synchronizing one record by hand pushes it even when it did not change (a fix of
            // the destination by hand is undone); only differing fields are written.
            pass.force = true;
            let conn = self.systems.get(pass.src_system)?;
            let rows = conn
                .get(pass.src, &[key.to_string()])
                .await
                .map_err(EngineError::from_connector)?;
            if rows.is_empty() {
                return Err(EngineError::Request(format!(
                    "{} has no row `{key}`",
                    pass.src.name
                )));
            }
            let mut pr = pass.report();
            // Writes an interrupted run left unsettled first, as every run does: the record
            // may be a row such a write created (not to be given a second partner).
            if !self.dry_run {
                self.reconcile_table(t, Mode::Modified, &mut pr).await?;
            }
            self.process(&pass, rows, true, &mut pr).await?;
            report.tables.push(pr);
            Ok(())
        }
        .await;
        self.end(&mut report, outcome)?;
        Ok(report)
    }

    /// Couples two records by hand, after checking both exist. The next run syncs them.
    pub async fn couple(
        &mut self,
        table: &str,
        left_key: &str,
        right_key: &str,
    ) -> Result<RunReport, EngineError> {
        let t = self.table(table)?;
        let mut report = self.begin("couple", "manual", &[table.to_string()], false)?;
        let outcome = async {
            let found = [
                self.existing_key(t, Side::Left, left_key).await?,
                self.existing_key(t, Side::Right, right_key).await?,
            ];
            let c = Coupling::new(table, &found[0], &found[1]);
            // A record skipped after failing (say, as an ambiguous match) is free again once
            // coupled by hand.
            for dir in directions(t.flow) {
                let key = c.key(dir.source());
                self.store.clear_failure(table, dir, key)?;
                // A create left open because its row could not be told apart is settled by
                // this coupling.
                self.store.clear_intent(table, dir, key)?;
            }
            self.store.couple(&c)?;
            let dir = directions(t.flow)[0];
            self.store.log_event(
                self.run,
                table,
                dir,
                "coupled",
                Some(&c.left_key),
                Some(&c.right_key),
                "coupled by hand",
            )?;
            let pass = self.pass(t, dir, Mode::Modified, true)?;
            let mut pr = pass.report();
            pr.counts.coupled = 1;
            report.tables.push(pr);
            Ok(())
        }
        .await;
        self.end(&mut report, outcome)?;
        Ok(report)
    }

    /// A record's key as its system spells it (GUIDs in lower case, say): a coupling stored
    /// with another spelling would not find its partner and would look deleted. An error when
    /// the system has no such row.
    async fn existing_key(
        &self,
        t: &'a plan::Table,
        side: Side,
        key: &str,
    ) -> Result<String, EngineError> {
        match self.row_on(t, side, key).await? {
            Some(row) => {
                let scope = t.side(side).company.as_ref();
                if let Some(why) = scope.and_then(|s| s.foreign(&row.fields)) {
                    return Err(EngineError::Request(format!(
                        "row `{key}` belongs to another company ({why}): this company couples only rows of its own or of none"
                    )));
                }
                Ok(row.key)
            }
            None => {
                let (system, tref) = super::lookups::table_ref(self.plan, t, side)?;
                Err(EngineError::Request(format!(
                    "{system}.{} has no row `{key}`",
                    tref.name
                )))
            }
        }
    }

    /// Removes the coupling of one record (by its key on `side`), or every coupling of the table
    /// mapping when `key` is none. Watermarks are reset with `all`, so the next modified-only run
    /// looks at every row again.
    pub fn uncouple(
        &mut self,
        table: &str,
        which: Option<(Side, &str)>,
    ) -> Result<RunReport, EngineError> {
        let t = self.table(table)?;
        let dir = directions(t.flow)[0];
        let mut report = self.begin("uncouple", "manual", &[table.to_string()], false)?;
        let outcome = (|| {
            let n = match which {
                Some((side, key)) => {
                    if !self.store.uncouple(table, side, key)? {
                        return Err(EngineError::Request(format!(
                            "`{key}` is not coupled in `{table}`"
                        )));
                    }
                    self.store.log_event(
                        self.run,
                        table,
                        dir,
                        "uncoupled",
                        Some(key),
                        None,
                        "uncoupled by hand",
                    )?;
                    1
                }
                None => {
                    let n = self.store.uncouple_all(table)?;
                    self.store.reset_watermarks(table)?;
                    self.store.log_event(
                        self.run,
                        table,
                        dir,
                        "uncoupled",
                        None,
                        None,
                        &format!("all {n} couplings removed by hand"),
                    )?;
                    n as u64
                }
            };
            let pass = self.pass(t, dir, Mode::Modified, true)?;
            let mut pr = pass.report();
            pr.counts.uncoupled = n;
            report.tables.push(pr);
            Ok(())
        })();
        self.end(&mut report, outcome)?;
        Ok(report)
    }

    /// Match-based coupling: every uncoupled row of the table mapping's first source side is
    /// matched by the match rules and coupled; nothing is created or written.
    pub async fn match_table(
        &mut self,
        table: &str,
        dry_run: bool,
    ) -> Result<RunReport, EngineError> {
        let t = self.table(table)?;
        if t.match_rules.is_empty() {
            return Err(EngineError::Request(format!(
                "`{table}` has no `match` rules"
            )));
        }
        let mut report = self.begin("match", "manual", &[table.to_string()], dry_run)?;
        let outcome = async {
            let dir = directions(t.flow)[0];
            let mut pass = self.pass(t, dir, Mode::Full, true)?;
            pass.match_only = true;
            let mut pr = pass.report();
            // Writes an earlier run left open first: a row a lost create made is coupled to its
            // record, not matched to another.
            if !self.dry_run {
                self.reconcile_table(t, Mode::Full, &mut pr).await?;
            }
            // The pass's own page loop: cancellation stops it after a batch, progress shows.
            let none = std::collections::HashSet::new();
            let (completed, _) = self
                .shown(&pass, self.read_source(&pass, None, &none, &mut pr))
                .await?;
            report.interrupted = !completed;
            report.tables.push(pr);
            Ok(())
        }
        .await;
        self.end(&mut report, outcome)?;
        Ok(report)
    }

    /// The couplings and failures of every table mapping, for `syncmap status`.
    pub fn status(&self) -> Result<Vec<TableStatus>, EngineError> {
        let mut out = Vec::new();
        let failures = self.store.failures(None)?;
        for t in &self.plan.tables {
            let (coupled, skipped) = self.store.coupling_counts(&t.name)?;
            let mut dirs = Vec::new();
            for dir in directions(t.flow) {
                let failed = failures
                    .iter()
                    .filter(|f| f.mapping == t.name && f.direction == dir && !f.skipped)
                    .count() as u64;
                let skipped_records = failures
                    .iter()
                    .filter(|f| f.mapping == t.name && f.direction == dir && f.skipped)
                    .count() as u64;
                dirs.push(DirectionStatus {
                    direction: dir.as_str().into(),
                    watermark: self
                        .store
                        .watermark(&t.name, dir)?
                        .map(|c| c.modified_on.to_string()),
                    failed,
                    skipped: skipped_records,
                });
            }
            out.push(TableStatus {
                mapping: t.name.clone(),
                coupled,
                skipped_couplings: skipped,
                directions: dirs,
            });
        }
        Ok(out)
    }
}

/// What `syncmap status` shows of a table mapping.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableStatus {
    /// The table mapping.
    pub mapping: String,
    /// Coupled pairs.
    pub coupled: u64,
    /// Couplings excluded from automatic sync.
    pub skipped_couplings: u64,
    /// Per direction.
    pub directions: Vec<DirectionStatus>,
}

/// One direction of a table mapping in `syncmap status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DirectionStatus {
    /// `left_to_right` or `right_to_left`.
    pub direction: String,
    /// The watermark of modified-only sync.
    pub watermark: Option<String>,
    /// Records that failed and will be retried.
    pub failed: u64,
    /// Records skipped after failing twice the same way.
    pub skipped: u64,
}
