//! Passes that follow a system's own record of changes (Dataverse change tracking, where the
//! profile asks for it): a full sync reads the source whole and keeps the delta link its last
//! page gives; a modified-only run reads the rows changed since that link, deletions included,
//! and keeps the next one, in the transaction that moves the watermark. A table the system
//! does not track is read by modified-on until a full sync finds it tracked; an expired link
//! falls back to a modified-on read, and the next run starts over with a whole read.

use std::cell::RefCell;

use super::report::PassReport;
use super::{directions, Engine, EngineError, Mode, Pass};
use crate::connectors::{Connector, ConnectorError, Page, ReadRequest, Tracking};
use crate::plan::Plan;
use crate::runtime::systems::Systems;
use crate::schema::choices::split_choice_name;
use crate::state::{Direction, Store};

/// Kept instead of a link for a table whose system does not track its changes.
pub(crate) const UNTRACKED: &str = "";

/// What a tracked read brought besides rows.
#[derive(Debug, Default)]
pub(crate) struct Tracked {
    /// The keys of the source rows deleted since the point read from.
    pub removed: Vec<String>,
    /// Where the next read begins (none where the read did not come to its end, or the system
    /// does not track the table).
    pub delta: Option<String>,
}

impl Tracked {
    /// Takes what a page brought besides its rows.
    pub fn absorb(cell: &RefCell<Tracked>, page: &mut Page) {
        let mut t = cell.borrow_mut();
        t.removed.append(&mut page.removed);
        if page.delta.is_some() {
            t.delta = page.delta.take();
        }
    }
}

/// The link a pass that read to its end keeps: the one its last page gave; a mark that the
/// table is not tracked, after a whole read the system did not track; none (forgotten, so the
/// next read starts over) after an expired link was read another way.
pub(crate) fn kept_link<'l>(tracking: &Tracking, delta: Option<&'l str>) -> Option<&'l str> {
    match (tracking, delta) {
        (_, Some(link)) => Some(link),
        (Tracking::Start, None) => Some(UNTRACKED),
        _ => None,
    }
}

impl<'a> Engine<'a> {
    /// How a pass reads its source: by the system's record of changes where the profile asks
    /// for it and the table has one, else by modified-on (or whole, in a full sync).
    pub(crate) fn tracking(&self, pass: &Pass<'a>) -> Result<Tracking, EngineError> {
        let conn = self.systems.get(pass.src_system)?;
        let plain = !conn.capabilities().tracks_changes
            || split_choice_name(pass.src.name).is_some()
            || pass.force
            || pass.back_only
            || pass.match_only;
        if plain {
            return Ok(Tracking::Off);
        }
        Ok(
            match (pass.mode, self.store.delta(&pass.table.name, pass.dir)?) {
                (Mode::Modified, Some(link)) if link == UNTRACKED => Tracking::Off,
                (Mode::Modified, Some(link)) => Tracking::Since(link),
                _ => Tracking::Start,
            },
        )
    }

    /// Source rows the system says were deleted since the last read: each coupled pair goes
    /// through the pass the other way, whose source is the row that is left, where the table's
    /// deletion rule decides, as when a changed row finds its partner gone (its counts are
    /// this pass's). A pair that pass already failed in this run is left as it is. A mapping
    /// that flows one way has no such pass: the deletions are told, not applied.
    pub(crate) async fn partners_removed(
        &self,
        pass: &Pass<'a>,
        removed: &[String],
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        if removed.is_empty() {
            return Ok(());
        }
        let back = pass.dir.reverse();
        let mapping = &pass.table.name;
        let coupled = self.store.couplings(mapping, pass.dir.source(), removed)?;
        if !directions(pass.table.flow).contains(&back) {
            if !coupled.is_empty() {
                pr.read_note = Some(format!(
                    "{mapping}: {} coupled row{} of {} {} deleted; the mapping flows one way from it, so no deletion rule applies to their partners",
                    coupled.len(),
                    if coupled.len() == 1 { "" } else { "s" },
                    pass.src.name,
                    if coupled.len() == 1 { "was" } else { "were" },
                ));
            }
            return Ok(());
        }
        let failed = self.store.failed_in_run(mapping, back, self.run)?;
        let keys: Vec<String> = coupled
            .values()
            .map(|c| c.key(pass.dir.dest()).to_string())
            .filter(|k| !failed.contains(k))
            .collect();
        let back_pass = self.pass(pass.table, back, pass.mode, true)?;
        let conn = self.systems.get(back_pass.src_system)?;
        for chunk in keys.chunks(self.options.batch_size.max(1)) {
            if self.cancelled() {
                break;
            }
            let rows = conn
                .get(back_pass.src, chunk)
                .await
                .map_err(EngineError::from_connector)?;
            self.process(&back_pass, rows, true, pr).await?;
        }
        Ok(())
    }
}

/// The passes whose source a system tracks the changes of, as `(mapping, direction)`: those a
/// probe between runs can ask about ([`changes_waiting`]).
pub fn tracked_passes(
    plan: &Plan,
    systems: &Systems,
    mappings: &[String],
) -> Vec<(String, Direction)> {
    let mut out = Vec::new();
    for t in plan.tables.iter().filter(|t| mappings.contains(&t.name)) {
        for dir in directions(t.flow) {
            let side = t.side(dir.source());
            let tracks = systems
                .get(&side.system)
                .is_ok_and(|c| c.capabilities().tracks_changes);
            if tracks && split_choice_name(&side.table).is_none() {
                out.push((t.name.clone(), dir));
            }
        }
    }
    out
}

/// Whether changes wait past the link a pass of `mapping` kept: one row of them is asked
/// for, and the link is left where it is (the run that reads them moves it). A link the
/// system no longer follows counts as changes: the run reads them another way.
pub async fn changes_waiting(
    plan: &Plan,
    systems: &Systems,
    store: &Store,
    mapping: &str,
    dir: Direction,
) -> Result<bool, EngineError> {
    let link = match store.delta(mapping, dir)? {
        Some(link) if link != UNTRACKED => link,
        // Not read by its changes yet (or not tracked): nothing to ask.
        _ => return Ok(false),
    };
    let t = plan
        .tables
        .iter()
        .find(|t| t.name == mapping)
        .ok_or_else(|| EngineError::Plan(format!("the plan has no table mapping `{mapping}`")))?;
    let (system, table) = super::lookups::table_ref(plan, t, dir.source())?;
    let req = ReadRequest {
        table,
        filter: None,
        since: None,
        page_size: 1,
        tracking: Tracking::Since(link),
    };
    match systems.get(system)?.read_page(&req, None).await {
        Ok(page) => Ok(!page.rows.is_empty() || !page.removed.is_empty()),
        Err(ConnectorError::Expired(_)) => Ok(true),
        Err(e) => Err(EngineError::from_connector(e)),
    }
}
