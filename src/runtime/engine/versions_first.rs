//! Reading versions first: a pass that follows one which just wrote many of its rows (the
//! reverse pass of a first full sync, or of a run that brought many records over) reads only
//! keys, versions and what its filter needs. The rows whose pairs it finds in step — the ones
//! the other pass wrote, met again as they left — count as unchanged without their values
//! ever crossing the wire; only the others are read whole, by key, and processed as usual.
//!
//! The pass before leaves, in memory, the version each pair it synced was left at
//! ([`WrittenVersions`]): those rows are judged without asking the state store, whose look-ups
//! of a whole table's couplings, in an order unrelated to how they were saved, were most of the
//! pass's own work.

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use super::report::PassReport;
use super::{Engine, EngineError, Pass};
use crate::connectors::{Connector, Row};
use crate::plan::TableInfo;
use crate::runtime::eval::NoLookups;
use crate::state::{Coupling, Direction};

impl<'a> Engine<'a> {
    /// Whether the pass reads versions first: the other direction wrote at least
    /// [`Options::versions_first_from`](super::Options) rows in this run, and half or more of
    /// what it went through, so most rows met here are likely its writes. A pass that
    /// compares every row whatever its version (forced, follow-ups, retries) reads them whole.
    pub(crate) fn reads_versions_first(&self, pass: &Pass<'a>) -> bool {
        let threshold = self.options.versions_first_from;
        let echoes = &pass.echoes;
        !self.dry_run
            && !pass.force
            && !pass.back_only
            && !pass.match_only
            && threshold > 0
            && echoes.written >= threshold
            && echoes.written * 2 >= echoes.met
    }

    /// Keeps the rows of a page read versions first that need reading whole, read again by
    /// key, in the page's order; the others, whose pairs are known in step, are counted
    /// unchanged.
    pub(crate) async fn widen(
        &self,
        pass: &Pass<'a>,
        rows: Vec<Row>,
        pr: &mut PassReport,
    ) -> Result<Vec<Row>, EngineError> {
        if rows.is_empty() {
            return Ok(rows);
        }
        let in_step = self.pairs_in_step(pass, &rows)?;
        let no_lookups = NoLookups;
        let ctx = self.context(pass, &no_lookups);
        let mut whole: Vec<String> = Vec::new();
        for (row, in_step) in rows.iter().zip(in_step) {
            // A filter that cannot be evaluated fails the record where it is read whole.
            match pass.filter.as_ref().map(|f| f.eval_filter(row, &ctx)) {
                _ if !in_step => whole.push(row.key.clone()),
                None | Some(Ok(true)) => pr.counts.unchanged += 1,
                Some(Ok(false)) => {}
                Some(Err(_)) => whole.push(row.key.clone()),
            }
        }
        if whole.is_empty() {
            return Ok(Vec::new());
        }
        let src = self.systems.get(pass.src_system)?;
        let mut read: HashMap<String, Row> = src
            .get(pass.src, &whole)
            .await
            .map_err(EngineError::from_connector)?
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect();
        // A row gone since the page was read is met as gone by the next run, as it would be
        // had it gone just after a whole page was read.
        Ok(whole.iter().filter_map(|k| read.remove(k)).collect())
    }

    /// Whether each row's pair is known in step: judged by the version the pass before left
    /// it at where that pass noted it, else by its coupling in the state store; never a row
    /// that cannot be read or a skipped record.
    fn pairs_in_step(&self, pass: &Pass<'a>, rows: &[Row]) -> Result<Vec<bool>, EngineError> {
        let mapping = pass.table.name.as_str();
        let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
        let left_at: Vec<Option<bool>> = rows
            .iter()
            .map(|r| pass.echoes.versions.in_step(r))
            .collect();
        let unknown: Vec<String> = rows
            .iter()
            .zip(&left_at)
            .filter(|(_, known)| known.is_none())
            .map(|(r, _)| r.key.clone())
            .collect();
        let couplings = if unknown.is_empty() {
            HashMap::new()
        } else {
            self.store.couplings(mapping, pass.dir.source(), &unknown)?
        };
        let skipped = self.store.skipped_among(mapping, pass.dir, &keys)?;
        Ok(rows
            .iter()
            .zip(left_at)
            .map(|(row, known)| {
                row.invalid.is_none()
                    && !skipped.contains(&row.key)
                    && known.unwrap_or_else(|| {
                        couplings
                            .get(&row.key)
                            .is_some_and(|c| self.known_in_step(pass, row, c, false))
                    })
            })
            .collect())
    }
}

/// The table as read versions first: its key, its modified-on column and the columns its
/// side's filter reads (the version travels with every row).
pub(crate) fn versions_only(info: &TableInfo, filter: Option<&crate::plan::Filter>) -> TableInfo {
    let mut wanted = BTreeSet::new();
    wanted.insert(info.key.clone());
    wanted.extend(info.modified_on.clone());
    if let Some(f) = filter {
        f.expr.columns_read(&mut wanted);
    }
    // A `<lookup>type` column says which table its lookup points to, and travels with it.
    let lookups: Vec<String> = wanted
        .iter()
        .filter_map(|c| info.lookup_typed_by(c))
        .map(str::to_string)
        .collect();
    wanted.extend(lookups);
    TableInfo {
        columns: info
            .columns
            .iter()
            .filter(|(name, _)| wanted.contains(*name))
            .map(|(name, c)| (name.clone(), c.clone()))
            .collect(),
        ..info.clone()
    }
}

/// What the other direction of a table mapping did in this run, before this pass.
#[derive(Debug, Default)]
pub(crate) struct Echoes {
    /// Rows it created or changed on this pass's source side.
    pub written: u64,
    /// Rows it went through.
    pub met: u64,
    /// The versions it left the pairs it synced at, on this pass's source side.
    pub versions: WrittenVersions,
}

impl Echoes {
    /// What a pass with these counts did, leaving these versions.
    pub(crate) fn of(c: &crate::state::Counts, versions: WrittenVersions) -> Echoes {
        Echoes {
            written: c.inserted + c.modified,
            met: c.inserted + c.modified + c.unchanged + c.skipped + c.failed,
            versions: versions.sealed(),
        }
    }
}

/// Pairs remembered at most: 16 bytes each (32 MiB), so a pass that syncs more leaves the
/// rest to the state store's look-ups rather than growing without bound.
const MOST_REMEMBERED: usize = 2_000_000;

/// The version (or, without one, the last-synced time) a pass left each pair it synced at, on
/// its destination side, by the row's key — for the pass that reads that side next, as
/// [`Engine::known_in_step`] would judge the coupling. A pair the other pass may not count in
/// step by its version alone (skipped, to be followed up, failed that other way), or whose
/// coupling changed again in the pass (a failure recorded, a second sync with another
/// version), is marked doubtful, and the state store judges it.
///
/// Keys and versions are kept as 64-bit hashes, keyed at random per run. A row whose key
/// shares its hash with a pair noted (and has none of its own) is judged by that pair's
/// version or time, and a version changed to one with the same hash reads as unchanged: one
/// chance in 2⁶⁴ (2⁶³) for a given row.
#[derive(Debug, Default)]
pub(crate) struct WrittenVersions {
    /// Key hash and what it was left at, in the order noted; sorted by key once sealed.
    pairs: Vec<(u64, u64)>,
    hasher: std::hash::RandomState,
    /// Set when no pair may be judged from here any more: more pairs to doubt than
    /// [`MOST_REMEMBERED`], or couplings settled between the passes.
    void: std::cell::Cell<bool>,
}

/// A version's hash has its top bit clear; a last-synced time (nanoseconds since 1970, to the
/// microsecond the state store keeps) set.
const SYNCED: u64 = 1 << 63;

/// What a doubtful pair is left at: no version's hash (top bit clear) nor time (below it).
const DOUBTFUL: u64 = u64::MAX;

impl WrittenVersions {
    fn hash_of(&self, text: &str) -> u64 {
        let mut h = std::hash::BuildHasher::build_hasher(&self.hasher);
        text.hash(&mut h);
        h.finish()
    }

    /// Notes a pair a pass of direction `dir` just committed as synced.
    pub(crate) fn note(&mut self, dir: Direction, c: &Coupling) {
        if self.void.get() {
            return;
        }
        let side = dir.dest();
        let that_way_failed = c.last_result(dir.reverse()).0 == Some("failure");
        if c.skipped || c.follow_up.is_some() || that_way_failed {
            return self.doubt(dir, c);
        }
        if self.pairs.len() >= MOST_REMEMBERED {
            // Not noted: the state store judges it (an earlier note of it, with another
            // version, only has its row read whole).
            return;
        }
        let left_at = match (c.version(side), c.synced(side)) {
            (Some(v), _) => self.hash_of(v) & !SYNCED,
            (None, Some(t)) => match u64::try_from(t.as_nanosecond() / 1000 * 1000) {
                Ok(n) if n < SYNCED - 1 => n | SYNCED,
                _ => return self.doubt(dir, c),
            },
            (None, None) => return self.doubt(dir, c),
        };
        self.pairs.push((self.hash_of(c.key(side)), left_at));
    }

    /// Marks a pair a pass of direction `dir` changed in a way the other pass must see in the
    /// state store (a failure recorded after it was noted): it is not judged from here.
    pub(crate) fn doubt(&mut self, dir: Direction, c: &Coupling) {
        if self.void.get() {
            return;
        }
        if self.pairs.len() >= MOST_REMEMBERED {
            return self.judge_none();
        }
        self.pairs.push((self.hash_of(c.key(dir.dest())), DOUBTFUL));
    }

    /// Leaves every pair to the state store from now on.
    pub(crate) fn judge_none(&self) {
        self.void.set(true);
    }

    /// Ready for look-ups: sorted by key, in place (no second buffer). A key noted twice with
    /// different versions (a pair synced twice, two keys with one hash), or doubted, is dropped,
    /// so the state store judges it.
    fn sealed(mut self) -> WrittenVersions {
        if self.void.get() {
            self.pairs = Vec::new();
        }
        let pairs = &mut self.pairs;
        pairs.sort_unstable();
        let (mut read, mut kept) = (0, 0);
        while read < pairs.len() {
            let key = pairs[read].0;
            let end = read + pairs[read..].partition_point(|p| p.0 == key);
            // Sorted by version within a key: its first and last differ if any two do.
            if pairs[read].1 == pairs[end - 1].1 && pairs[read].1 != DOUBTFUL {
                pairs[kept] = pairs[read];
                kept += 1;
            }
            read = end;
        }
        pairs.truncate(kept);
        self
    }

    /// Whether a row read now is where the pass before left its pair, as
    /// [`Coupling::changed`] would say; `None` for a row it did not note, or whose version
    /// it cannot compare (the state store then judges).
    pub(crate) fn in_step(&self, row: &Row) -> Option<bool> {
        if self.void.get() {
            return None;
        }
        let at = self
            .pairs
            .binary_search_by_key(&self.hash_of(&row.key), |p| p.0)
            .ok()?;
        let left_at = self.pairs[at].1;
        if left_at & SYNCED == 0 {
            let version = row.etag.as_deref()?;
            Some(self.hash_of(version) & !SYNCED == left_at)
        } else {
            let modified = u64::try_from(row.modified_on?.as_nanosecond()).ok()?;
            Some(modified <= left_at & !SYNCED)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::plan::{ColumnInfo, Expr, Filter};
    use crate::value::ColumnKind;

    #[test]
    fn versions_only_keeps_the_key_the_version_and_what_the_filter_reads() {
        let info = TableInfo {
            entity_type: None,
            key: "accountid".into(),
            modified_on: Some("modifiedon".into()),
            columns: ["accountid", "name", "statecode", "telephone1", "modifiedon"]
                .iter()
                .map(|c| (c.to_string(), ColumnInfo::default()))
                .collect(),
        };
        let filter = Filter {
            expr: Expr::Not(Box::new(Expr::Col("statecode".into()))),
            odata: None,
            residual: None,
        };
        let narrow = versions_only(&info, Some(&filter));
        let kept: Vec<&str> = narrow.columns.keys().map(String::as_str).collect();
        assert_eq!(kept, ["accountid", "modifiedon", "statecode"]);
        assert_eq!(
            (narrow.key.as_str(), narrow.modified_on),
            ("accountid", info.modified_on.clone())
        );
        let kept = versions_only(&info, None);
        assert_eq!(
            kept.columns.keys().collect::<Vec<_>>(),
            ["accountid", "modifiedon"]
        );
        // A filter on a polymorphic lookup's type column keeps the lookup it belongs to.
        let mut info = info;
        let lookup = ColumnInfo {
            ty: ColumnKind::Lookup,
            targets: vec!["systemusers".into(), "teams".into()],
            ..ColumnInfo::default()
        };
        info.columns.insert("ownerid".into(), lookup);
        info.columns
            .insert("owneridtype".into(), ColumnInfo::default());
        let filter = Filter {
            expr: Expr::Col("owneridtype".into()),
            odata: None,
            residual: None,
        };
        let kept = versions_only(&info, Some(&filter));
        assert_eq!(
            kept.columns.keys().collect::<Vec<_>>(),
            ["accountid", "modifiedon", "ownerid", "owneridtype"]
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod written_tests {
    use super::*;
    use crate::plan::Side;
    use jiff::Timestamp;

    const LTR: Direction = Direction::LeftToRight;

    fn synced(left: &str, right: &str, version: Option<&str>, at: Option<Timestamp>) -> Coupling {
        let mut c = Coupling::new("customers", left, right);
        c.set_in_step(Side::Right, at, version);
        c.set_result(LTR, true, 7);
        c
    }

    fn row(key: &str, etag: Option<&str>, modified_on: Option<Timestamp>) -> Row {
        Row {
            key: key.into(),
            modified_on,
            etag: etag.map(str::to_string),
            fields: Default::default(),
            invalid: None,
        }
    }

    fn sealed(couplings: &[Coupling]) -> WrittenVersions {
        let mut w = WrittenVersions::default();
        for c in couplings {
            w.note(LTR, c);
        }
        w.sealed()
    }

    #[test]
    fn a_row_is_in_step_where_it_was_left_by_version_or_else_by_time() {
        let t: Timestamp = "2026-12-05T10:00:00Z".parse().unwrap();
        let later: Timestamp = "2026-12-05T10:00:01Z".parse().unwrap();
        let w = sealed(&[
            synced("C1", "a1", Some("W/\"5\""), Some(t)),
            synced("C2", "a2", None, Some(t)),
        ]);
        // Judged by the destination side's key and version, as `Coupling::changed` would.
        assert_eq!(
            w.in_step(&row("a1", Some("W/\"5\""), Some(later))),
            Some(true)
        );
        assert_eq!(w.in_step(&row("a1", Some("W/\"6\""), Some(t))), Some(false));
        assert_eq!(w.in_step(&row("a2", None, Some(t))), Some(true));
        assert_eq!(w.in_step(&row("a2", None, Some(later))), Some(false));
        // What it cannot judge is left to the state store.
        assert_eq!(w.in_step(&row("a2", None, None)), None);
        assert_eq!(w.in_step(&row("a1", None, Some(t))), None);
        assert_eq!(w.in_step(&row("a3", Some("W/\"5\""), Some(t))), None);
        assert_eq!(w.in_step(&row("C1", Some("W/\"5\""), Some(t))), None);
    }

    #[test]
    fn only_pairs_the_other_way_may_count_in_step_are_noted_and_a_doubtful_pair_is_not() {
        let v = Some("1");
        let mut skipped = synced("C1", "a1", v, None);
        skipped.skipped = true;
        let mut followed = synced("C2", "a2", v, None);
        followed.follow_up = Some(Side::Right);
        let mut failed_back = synced("C3", "a3", v, None);
        failed_back.set_result(Direction::RightToLeft, false, 6);
        let never = synced("C4", "a4", None, None);
        // A pair noted twice alike stays; noted twice differently, the store judges it.
        let twice = synced("C5", "a5", Some("2"), None);
        let first = synced("C6", "a6", Some("1"), None);
        let second = synced("C6", "a6", Some("2"), None);
        let w = sealed(&[
            skipped,
            followed,
            failed_back,
            never,
            twice.clone(),
            first,
            twice,
            second,
        ]);
        for key in ["a1", "a2", "a3", "a4", "a6"] {
            assert_eq!(w.in_step(&row(key, Some("2"), None)), None, "{key}");
        }
        assert_eq!(w.in_step(&row("a5", Some("2"), None)), Some(true));
        assert_eq!(w.in_step(&row("a5", Some("1"), None)), Some(false));
    }

    #[test]
    fn a_pair_doubted_after_its_note_or_a_record_judged_by_none_is_left_to_the_store() {
        let v = Some("1");
        let (kept, failed) = (synced("C1", "a1", v, None), synced("C2", "a2", v, None));
        let mut w = WrittenVersions::default();
        w.note(LTR, &kept);
        w.note(LTR, &failed);
        // Its record failed after it was noted (a second sync of it in the pass).
        w.doubt(LTR, &failed);
        let w = w.sealed();
        assert_eq!(w.in_step(&row("a1", v, None)), Some(true));
        assert_eq!(w.in_step(&row("a2", v, None)), None);
        // Couplings settled between the passes: nothing is judged from here.
        w.judge_none();
        assert_eq!(w.in_step(&row("a1", v, None)), None);
    }

    #[test]
    fn a_time_is_kept_to_the_microsecond_the_state_store_keeps() {
        let at: Timestamp = "2026-12-05T10:00:00.0000015Z".parse().unwrap();
        let w = sealed(&[synced("C1", "a1", None, Some(at))]);
        // Stored as 10:00:00.000001: a change at 10:00:00.0000012 is later.
        let within: Timestamp = "2026-12-05T10:00:00.0000012Z".parse().unwrap();
        let same: Timestamp = "2026-12-05T10:00:00.000001Z".parse().unwrap();
        assert_eq!(w.in_step(&row("a1", None, Some(within))), Some(false));
        assert_eq!(w.in_step(&row("a1", None, Some(same))), Some(true));
    }
}
