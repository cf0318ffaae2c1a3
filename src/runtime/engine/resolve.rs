//! Settling by hand what the rules left failing, as the reference's "Coupled Data
//! Synchronization Errors" page does: a conflict (both sides changed a two-way field) by taking
//! one side's values, a record whose partner was deleted by restoring the partner, deleting the
//! record too, or uncoupling it. One pair, or every such pair of a table mapping at once.
//!
//! Each pair runs as `syncmap record` would run it, forced and with the person's choice in
//! place of the table's rule, so it writes only what differs, records intents, couplings and
//! the write log as every run does, and a dry run lists the field-level difference.

use std::collections::{BTreeMap, HashSet};

use super::report::{Change, PassReport, RecordFailure, RunReport};
use super::{directions, Engine, EngineError, Mode};
use crate::connectors::{Connector, Row};
use crate::plan::{self, Side};
use crate::state::{Coupling, Direction, FailureKind};

/// How a person settles a record the rules left failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// A conflict: this side's values are written to the other, whatever the conflict rule.
    Take(Side),
    /// A deleted partner: it is created again from the record and coupled.
    Restore,
    /// A deleted partner: the record is deleted too.
    Delete,
    /// A deleted partner: the coupling is removed and the record stays.
    Uncouple,
}

impl Resolution {
    /// The kind of failure it settles.
    fn settles(self) -> FailureKind {
        match self {
            Resolution::Take(_) => FailureKind::Conflict,
            _ => FailureKind::PartnerDeleted,
        }
    }
}

/// Which pairs to settle.
#[derive(Debug, Clone, Copy)]
pub enum Pick<'p> {
    /// The pair of this record.
    One(Side, &'p str),
    /// Every pair of the table mapping whose failure this resolution settles; for conflicts,
    /// when fields are named, only those where nothing but them differs.
    All {
        /// The fields a conflict may differ in (any, when none are named).
        fields: &'p [String],
    },
}

impl<'a> Engine<'a> {
    /// Settles the picked pairs of a table mapping as the person chose.
    pub async fn resolve(
        &mut self,
        table: &str,
        pick: Pick<'_>,
        resolution: Resolution,
        dry_run: bool,
    ) -> Result<RunReport, EngineError> {
        let t = self.table(table)?;
        let mut report = self.begin("resolve", "manual", &[table.to_string()], dry_run)?;
        // Kept outside, so the pairs settled before an error still count in the run.
        let mut reports: BTreeMap<&'static str, PassReport> = BTreeMap::new();
        let outcome = async {
            let reports = &mut reports;
            let pairs = self.pairs_to_settle(t, pick, resolution)?;
            // Writes an interrupted run left unsettled first, as every run does.
            if !self.dry_run && !pairs.is_empty() {
                let dir = directions(t.flow)[0];
                let mut pr = self.pass(t, dir, Mode::Modified, true)?.report();
                self.reconcile_table(t, Mode::Modified, &mut pr).await?;
                reports.insert(dir.as_str(), pr);
            }
            for c in &pairs {
                match self.settle_pair(t, c, resolution, pick, reports).await {
                    Err(EngineError::Request(why)) if matches!(pick, Pick::All { .. }) => {
                        self.left_unsettled(t, c, &why, reports)?;
                    }
                    other => other?,
                }
            }
            if pairs.is_empty() {
                report.hints.push(format!(
                    "`{table}` has no {} to settle",
                    match resolution.settles() {
                        FailureKind::Conflict => "conflict",
                        _ => "record whose partner was deleted",
                    }
                ));
            }
            Ok(())
        }
        .await;
        report.tables.extend(reports.into_values());
        self.end(&mut report, outcome)?;
        Ok(report)
    }

    /// The couplings of the picked pairs, each once.
    fn pairs_to_settle(
        &self,
        t: &'a plan::Table,
        pick: Pick<'_>,
        resolution: Resolution,
    ) -> Result<Vec<Coupling>, EngineError> {
        let fields = match pick {
            Pick::One(side, key) => {
                return match self.store.coupling(&t.name, side, key)? {
                    // Only a pair that is failing: a side taken from an old ticket must not
                    // overwrite what the other side changed since.
                    Some(c) if self.failures_of(t, &c)?.is_empty() => {
                        Err(EngineError::Request(format!(
                            "`{key}` of `{}` is not failing (`syncmap errors` lists what is); `syncmap record` brings a record's values over by hand",
                            t.name
                        )))
                    }
                    Some(c) => Ok(vec![c]),
                    None => Err(EngineError::Request(format!(
                        "`{key}` is not coupled in `{}`; `syncmap record {} --{} {key}` syncs an uncoupled record",
                        t.name,
                        t.name,
                        super::batch::side_word(side)
                    ))),
                };
            }
            Pick::All { fields } => fields,
        };
        let named = |name: &String| fields.contains(name);
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for f in self.store.failures(Some(&t.name))? {
            let only_named = fields.is_empty()
                || (!f.differences.is_empty()
                    && f.differences
                        .iter()
                        .all(|d| named(&d.left_field) || named(&d.right_field)));
            if f.kind != resolution.settles() || !only_named {
                continue;
            }
            let found = self
                .store
                .coupling(&t.name, f.direction.source(), &f.source_key)?;
            if let Some(c) = found.filter(|c| seen.insert(c.left_key.clone())) {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Settles one pair: runs its remaining record (or the side taken) as `syncmap record`
    /// would, with the person's choice in place of the rule, then clears what both directions
    /// held against the pair.
    async fn settle_pair(
        &self,
        t: &'a plan::Table,
        c: &Coupling,
        resolution: Resolution,
        pick: Pick<'_>,
        reports: &mut BTreeMap<&'static str, PassReport>,
    ) -> Result<(), EngineError> {
        let left = self.row_on(t, Side::Left, &c.left_key).await?;
        let right = self.row_on(t, Side::Right, &c.right_key).await?;
        if resolution == Resolution::Uncouple && no_pass_needed(t, left.is_some(), right.is_some())
        {
            return self.uncouple_directly(t, c, reports);
        }
        let (side, row) = pick_source(t, c, resolution, left, right)?;
        let dir = Direction::from_source(side);
        if !directions(t.flow).contains(&dir) {
            return Err(EngineError::Request(format!(
                "records of `{}` never flow from {}",
                t.name,
                t.side(side).system
            )));
        }
        let mut pass = self.pass(t, dir, Mode::Modified, true)?;
        pass.force = true;
        pass.resolution = Some(resolution);
        if let Pick::All { fields } = pick {
            pass.settle_fields = fields.to_vec();
        }
        let mut pr = pass.report();
        self.process(&pass, vec![row], true, &mut pr).await?;
        let n = &pr.counts;
        if n.failed == 0 && n.inserted + n.modified + n.unchanged + n.deleted + n.uncoupled == 0 {
            return Err(EngineError::Request(
                "nothing was done: the record is outside its side's filter, or fields other than those named differ now".into(),
            ));
        }
        if !self.dry_run && pr.counts.failed == 0 {
            self.settled(t, c, dir, resolution)?;
        }
        match reports.get_mut(dir.as_str()) {
            Some(r) => r.absorb(pr),
            None => {
                reports.insert(dir.as_str(), pr);
            }
        }
        Ok(())
    }

    /// Clears what is left of a settled pair's failures: the other direction's (a conflict
    /// fails both passes) and the skip, and logs the settlement as an event of the run.
    fn settled(
        &self,
        t: &'a plan::Table,
        c: &Coupling,
        dir: Direction,
        resolution: Resolution,
    ) -> Result<(), EngineError> {
        // The other direction's failure is cleared only when it is the one settled: a
        // failure of another kind there (a lookup, a refused write) is still to be seen to.
        for f in self.failures_of(t, c)? {
            if f.direction == dir || f.kind == resolution.settles() {
                self.store
                    .clear_failure(&t.name, f.direction, &f.source_key)?;
            }
        }
        if let Some(mut now) = self.store.coupling(&t.name, Side::Left, &c.left_key)? {
            if now.skipped {
                now.skipped = false;
                self.store.save_coupling(&now)?;
            }
        }
        let how = match resolution {
            Resolution::Take(side) => format!("{}'s values taken", t.side(side).system),
            Resolution::Restore => "the deleted partner restored".into(),
            Resolution::Delete => "the record deleted as its partner was".into(),
            Resolution::Uncouple => "uncoupled".into(),
        };
        self.store.log_event(
            self.run,
            &t.name,
            dir,
            "resolved",
            Some(c.key(dir.source())),
            Some(c.key(dir.dest())),
            &format!("settled by hand: {how}"),
        )?;
        Ok(())
    }

    /// Counts a pair `--all` could not settle as failed in the run (it still fails), with why.
    fn left_unsettled(
        &self,
        t: &'a plan::Table,
        c: &Coupling,
        why: &str,
        reports: &mut BTreeMap<&'static str, PassReport>,
    ) -> Result<(), EngineError> {
        let dir = directions(t.flow)[0];
        let pr = match reports.entry(dir.as_str()) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(self.pass(t, dir, Mode::Modified, true)?.report())
            }
        };
        pr.counts.failed += 1;
        pr.errors.push(RecordFailure {
            source_key: c.key(dir.source()).to_string(),
            dest_key: Some(c.key(dir.dest()).to_string()),
            label: None,
            message: format!("left as it was: {why}"),
            skipped: false,
            kind: FailureKind::Error,
            differences: Vec::new(),
        });
        Ok(())
    }

    /// Uncouples a pair no pass would meet (both rows gone, or the one left on a side the
    /// mapping never reads from): the coupling is simply removed.
    fn uncouple_directly(
        &self,
        t: &'a plan::Table,
        c: &Coupling,
        reports: &mut BTreeMap<&'static str, PassReport>,
    ) -> Result<(), EngineError> {
        let dir = directions(t.flow)[0];
        if !self.dry_run {
            self.store.uncouple(&t.name, Side::Left, &c.left_key)?;
            self.settled(t, c, dir, Resolution::Uncouple)?;
        }
        let pr = match reports.entry(dir.as_str()) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(self.pass(t, dir, Mode::Modified, true)?.report())
            }
        };
        pr.counts.uncoupled += 1;
        let change = Change::new("uncouple", c.key(dir.source()), Some(c.key(dir.dest())));
        pr.change(change.note("settled by hand"));
        Ok(())
    }

    /// The failures of a pair, in either direction.
    fn failures_of(
        &self,
        t: &'a plan::Table,
        c: &Coupling,
    ) -> Result<Vec<crate::state::Failure>, EngineError> {
        Ok(self
            .store
            .failures_of_pair(&t.name, &c.left_key, &c.right_key)?)
    }

    /// The row with this key on a side of the table mapping, if it is there.
    pub(super) async fn row_on(
        &self,
        t: &'a plan::Table,
        side: Side,
        key: &str,
    ) -> Result<Option<Row>, EngineError> {
        let (system, tref) = super::lookups::table_ref(self.plan, t, side)?;
        let rows = self
            .systems
            .get(system)?
            .get(tref, &[key.to_string()])
            .await
            .map_err(EngineError::from_connector)?;
        Ok(rows.into_iter().next())
    }
}

/// Whether uncoupling a pair needs no pass: both rows are gone, or the one left is on a side
/// the table mapping never reads from.
fn no_pass_needed(t: &plan::Table, left: bool, right: bool) -> bool {
    let reads_from = |side| directions(t.flow).contains(&Direction::from_source(side));
    match (left, right) {
        (false, false) => true,
        (true, false) => !reads_from(Side::Left),
        (false, true) => !reads_from(Side::Right),
        (true, true) => false,
    }
}

/// The side whose record runs, and that record: the side taken for a conflict, the side still
/// there for a deleted partner.
fn pick_source(
    t: &plan::Table,
    c: &Coupling,
    resolution: Resolution,
    left: Option<Row>,
    right: Option<Row>,
) -> Result<(Side, Row), EngineError> {
    let refuse = |why: &str| Err(EngineError::Request(why.to_string()));
    let name = &t.name;
    match (resolution, left, right) {
        (Resolution::Take(Side::Left), Some(l), Some(_)) => Ok((Side::Left, l)),
        (Resolution::Take(Side::Right), Some(_), Some(r)) => Ok((Side::Right, r)),
        (Resolution::Take(_), _, _) => refuse(&format!(
            "a row of the pair (`{}` ↔ `{}`) was deleted: settle it with `syncmap resolve {name} --left {} --restore|--delete|--uncouple`",
            c.left_key, c.right_key, c.left_key
        )),
        (_, Some(l), None) => Ok((Side::Left, l)),
        (_, None, Some(r)) => Ok((Side::Right, r)),
        (_, Some(_), Some(_)) => refuse(&format!(
            "both rows of the pair (`{}` ↔ `{}`) are there: a conflict is settled with `--take left|right`",
            c.left_key, c.right_key
        )),
        (_, None, None) => refuse(&format!(
            "both rows of the pair (`{}` ↔ `{}`) were deleted: `--uncouple` forgets it",
            c.left_key, c.right_key
        )),
    }
}
