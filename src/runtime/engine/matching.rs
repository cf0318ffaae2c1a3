//! Finding the partner of uncoupled rows: a create an earlier run left open, the match rules in
//! priority order (asked for a whole batch at once), or a new row — unless creating would fill a
//! populated table the store knows nothing of with copies of what is already there.

use std::collections::{HashMap, HashSet};

use super::batch::{Action, Uncoupled};
use super::report::{Change, PassReport};
use super::{Engine, EngineError, Pass};
use crate::connectors::{Connector, ReadRequest, Row};
use crate::plan::{MatchRule, Side};
use crate::runtime::eval::NoLookups;
use crate::state::Coupling;
use crate::value::{ColumnKind, Value};

/// Pages of the destination read to see whether it holds rows at all (its filter may not be
/// pushed down whole).
const GUARD_PAGES: usize = 5;

impl<'a> Engine<'a> {
    /// The partner of each uncoupled row, or what happens to the row: an open create of an
    /// earlier run (`intent`), a match, a new row; rows left alone are counted and logged.
    pub(crate) async fn find_partners(
        &self,
        pass: &Pass<'a>,
        uncoupled: Uncoupled,
        pr: &mut PassReport,
    ) -> Result<Vec<(Row, Action)>, EngineError> {
        let Uncoupled { rows, mut kept } = uncoupled;
        let mut out = Vec::new();
        let mut open = Vec::new();
        let mut keyed = Vec::new();
        for (row, intent) in rows {
            match intent {
                Some(i) if i.note.is_some() => {
                    let why = i.note.unwrap_or_default();
                    self.fail(pass, pr, &row.key, None, &why)?;
                }
                Some(i) if !i.keyless() => keyed.push((row, i.dest_key)),
                _ => open.push(row),
            }
        }
        self.resume_creates(pass, keyed, &mut out).await?;
        let mut open = self.resume_kept(pass, open, &mut kept, &mut out).await?;
        let mut claimed: HashSet<String> = HashSet::new();
        let rules = if open.is_empty() || !self.dest_has_rows(pass).await? {
            &[][..]
        } else {
            &pass.table.match_rules[..]
        };
        for rule in rules {
            if open.is_empty() {
                break;
            }
            open = self
                .match_rule(pass, rule, open, &mut claimed, &mut out, pr)
                .await?;
        }
        self.create_or_skip(pass, (open, kept), &mut out, pr)
            .await?;
        Ok(out)
    }

    /// Rows no match rule coupled: created when the table mapping creates on the destination
    /// (with the key kept for the record's create, if there is one), else skipped with why.
    async fn create_or_skip(
        &self,
        pass: &Pass<'a>,
        (unmatched, mut kept): (Vec<Row>, HashMap<String, String>),
        out: &mut Vec<(Row, Action)>,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let d = pass.dir.dest();
        let creates = pass.table.create.contains(&d) && !pass.match_only;
        for row in unmatched {
            if creates {
                self.guard_creates(pass).await?;
                let kept = kept.remove(&row.key);
                let action = Action::Create {
                    key: self.kept_or_fresh_key(pass, &row.key, kept),
                    replaces: None,
                };
                out.push((row, action));
                continue;
            }
            let how = if pass.table.match_rules.is_empty() {
                "there are no match rules"
            } else {
                "no match rule finds an uncoupled partner"
            };
            let why = if pass.match_only {
                format!("not coupled: {how}")
            } else {
                format!(
                    "not coupled: {how}, and the table mapping does not create {} rows",
                    pass.dst.name
                )
            };
            self.skip(pass, pr, (&row.key, None), why);
        }
        Ok(())
    }

    /// Creates with a key of ours that an earlier run left open (only a dry run meets them: a
    /// run settles them as its passes start): the row is there, or made with the same key.
    async fn resume_creates(
        &self,
        pass: &Pass<'a>,
        keyed: Vec<(Row, String)>,
        out: &mut Vec<(Row, Action)>,
    ) -> Result<(), EngineError> {
        if keyed.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = keyed.iter().map(|(_, k)| k.clone()).collect();
        let mut found = self.dest_rows_by_key(pass, &keys).await?;
        for (row, key) in keyed {
            match found.remove(&key) {
                Some(dest) => {
                    let coupling = pass.coupling(&row.key, &dest.key);
                    out.push((row, Action::new_partner(coupling, dest)));
                }
                None => out.push((
                    row,
                    Action::Create {
                        key: Some(key),
                        replaces: None,
                    },
                )),
            }
        }
        Ok(())
    }

    /// The pass's destination rows with these keys, by key (those that are there).
    pub(crate) async fn dest_rows_by_key(
        &self,
        pass: &Pass<'a>,
        keys: &[String],
    ) -> Result<HashMap<String, Row>, EngineError> {
        let rows = self
            .systems
            .get(pass.dst_system)?
            .get(pass.dst, keys)
            .await
            .map_err(EngineError::from_connector)?;
        Ok(rows.into_iter().map(|r| (r.key.clone(), r)).collect())
    }

    /// One match rule over the rows still open, asked of the destination in one go; returns the
    /// rows it found no partner for.
    async fn match_rule(
        &self,
        pass: &Pass<'a>,
        rule: &MatchRule,
        open: Vec<Row>,
        claimed: &mut HashSet<String>,
        out: &mut Vec<(Row, Action)>,
        pr: &mut PassReport,
    ) -> Result<Vec<Row>, EngineError> {
        let d = pass.dir.dest();
        let lookup = |row: &Row| rule_lookup(rule, pass.dir.source(), row);
        let lookups: Vec<Option<Vec<(String, Value)>>> = open.iter().map(lookup).collect();
        let asked: Vec<Vec<(String, Value)>> = lookups.iter().flatten().cloned().collect();
        if asked.is_empty() {
            return Ok(open);
        }
        let mut answers = self
            .systems
            .get(pass.dst_system)?
            .find_many(pass.dst, &asked, !rule.case_sensitive)
            .await
            .map_err(EngineError::from_connector)?
            .into_iter();
        let keys: Vec<String> = asked_keys(&answers);
        let coupled = self.store.couplings(&pass.table.name, d, &keys)?;
        let mut still = Vec::new();
        for (row, asked) in open.into_iter().zip(lookups) {
            if asked.is_none() {
                still.push(row);
                continue;
            }
            let candidates = answers.next().unwrap_or_default();
            let mut free = self.free_candidates(pass, &row, candidates, claimed, &coupled);
            match free.len() {
                0 => still.push(row),
                1 => {
                    let dest = free.remove(0);
                    claimed.insert(dest.key.clone());
                    let coupling = pass.coupling(&row.key, &dest.key);
                    out.push((row, Action::new_partner(coupling, dest)));
                }
                n => {
                    let msg = format!("match rule {} finds {n} uncoupled `{}` rows; couple one by hand with `syncmap couple`", rule.priority, pass.dst.name);
                    self.fail(pass, pr, &row.key, None, &msg)?;
                }
            }
        }
        Ok(still)
    }

    /// The candidates a match rule found for a row that are free to be its partner: not coupled,
    /// not claimed by another row of the batch, passing the destination's filter. A row outside
    /// that filter is the same record all the same when it already holds what this record would
    /// write (a copy the sync made earlier, whose values put it outside the filter — a contact
    /// whose company is not synced): taken then, when it is the only one, and checked once the
    /// values are computed, rather than copied a second time. Matching alone (`syncmap match`)
    /// computes no values, so it keeps to the filter. A row of another company is never one
    /// (see [`company`](crate::plan::company)).
    fn free_candidates(
        &self,
        pass: &Pass<'a>,
        row: &Row,
        candidates: Vec<Row>,
        claimed: &HashSet<String>,
        coupled: &std::collections::HashMap<String, Coupling>,
    ) -> Vec<Row> {
        let no = NoLookups;
        let ctx = self.context(pass, &no);
        let side = pass.table.side(pass.dir.dest());
        let (free, outside): (Vec<Row>, Vec<Row>) = candidates
            .into_iter()
            .filter(|c| !claimed.contains(&c.key) && !coupled.contains_key(&c.key))
            .filter(|c| side.admits(&c.fields))
            .partition(|c| {
                pass.dst_filter
                    .as_ref()
                    .is_none_or(|f| f.eval_filter(c, &ctx).unwrap_or(false))
            });
        if free.is_empty() && outside.len() == 1 && !pass.match_only {
            pass.outside_filter.borrow_mut().insert(row.key.clone());
            return outside;
        }
        free
    }

    /// Refuses to create partners in a destination that already holds rows when the store has
    /// no coupling of the table mapping and no match rule could find those rows: a new,
    /// deleted or replaced state store would otherwise copy every record a second time. Checked
    /// once per pass, at its first create; a run asked to create anyway
    /// (`--create-without-match`), or syncing one record by hand, is not stopped.
    async fn guard_creates(&self, pass: &Pass<'a>) -> Result<(), EngineError> {
        if pass.guarded.replace(true)
            || self.create_without_match
            || pass.force
            || !pass.table.match_rules.is_empty()
            || self.store.coupling_counts(&pass.table.name)?.0 > 0
            || !self.holds_rows(pass).await?
        {
            return Ok(());
        }
        let t = pass.table;
        Err(EngineError::WouldDuplicate(format!(
            "`{}`: the state store holds no couplings for this table mapping, but {}.{} already has rows. Creating a partner for every {}.{} row without looking for one that is already there would duplicate records (this happens with a new, deleted or replaced state store). Add a match rule to `{}` (`match <left column> == <right column>`, docs/language.md) so the rows already there are coupled, or run again with `--create-without-match` if they are not copies of these records",
            t.name, pass.dst_system, pass.dst.name, pass.src_system, pass.src.name, t.name
        )))
    }

    /// What a first full sync of a table mapping would meet, for `syncmap doctor`: its
    /// couplings, or (with none) which destinations it would create into that already hold rows
    /// and whether match rules would couple those.
    pub async fn first_sync_outlook(
        &self,
        t: &'a crate::plan::Table,
    ) -> Result<Outlook, EngineError> {
        let (coupled, _) = self.store.coupling_counts(&t.name)?;
        if coupled > 0 {
            return Ok(Outlook::Coupled(coupled));
        }
        let mut populated = Vec::new();
        for dir in super::directions(t.flow) {
            if !t.create.contains(&dir.dest()) {
                continue;
            }
            let pass = self.pass(t, dir, super::Mode::Full, true)?;
            if self.holds_rows(&pass).await? {
                populated.push(format!("{}.{}", pass.dst_system, pass.dst.name));
            }
        }
        Ok(match (populated.is_empty(), t.match_rules.is_empty()) {
            (true, _) => Outlook::Empty,
            (false, false) => Outlook::Matched(populated),
            (false, true) => Outlook::WouldDuplicate(populated),
        })
    }

    /// Whether the destination table holds any row, filter or not (asked once per pass).
    async fn dest_has_rows(&self, pass: &Pass<'a>) -> Result<bool, EngineError> {
        if let Some(known) = pass.dest_has_rows.get() {
            return Ok(known);
        }
        let req = ReadRequest {
            table: pass.dst,
            filter: None,
            since: None,
            page_size: 1,
            tracking: crate::connectors::Tracking::Off,
        };
        let page = self
            .systems
            .get(pass.dst_system)?
            .read_page(&req, None)
            .await
            .map_err(EngineError::from_connector)?;
        let known = !page.rows.is_empty();
        pass.dest_has_rows.set(Some(known));
        Ok(known)
    }

    /// Whether the destination holds a row passing its side's filter.
    async fn holds_rows(&self, pass: &Pass<'a>) -> Result<bool, EngineError> {
        let conn = self.systems.get(pass.dst_system)?;
        let req = ReadRequest {
            table: pass.dst,
            filter: pass.table.side(pass.dir.dest()).filter.as_ref(),
            since: None,
            page_size: 50,
            tracking: crate::connectors::Tracking::Off,
        };
        let no = NoLookups;
        let ctx = self.context(pass, &no);
        let mut continuation: Option<String> = None;
        for _ in 0..GUARD_PAGES {
            let page = conn
                .read_page(&req, continuation.as_deref())
                .await
                .map_err(EngineError::from_connector)?;
            let passes = |r: &Row| {
                pass.dst_filter
                    .as_ref()
                    .is_none_or(|f| f.eval_filter(r, &ctx).unwrap_or(false))
            };
            if page.rows.iter().any(passes) {
                return Ok(true);
            }
            match page.next {
                Some(n) => continuation = Some(n),
                None => return Ok(false),
            }
        }
        // Pages of rows its filter leaves out: it holds rows, but maybe none of this mapping's.
        Ok(true)
    }

    /// Match-based coupling: couples what matched, writes nothing.
    pub(crate) fn couple_matches(
        &self,
        pass: &Pass<'a>,
        work: Vec<(Row, Action)>,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        for (row, action) in work {
            if let Action::Update {
                coupling,
                dest,
                new_coupling: true,
            } = action
            {
                if !self.dry_run {
                    self.store.transaction(|st| {
                        st.couple(&coupling)?;
                        self.event(
                            st,
                            pass,
                            "coupled",
                            (Some(&row.key), Some(&dest.key)),
                            "coupled by the match rules",
                        )
                    })?;
                }
                pr.counts.coupled += 1;
                pr.change(Change::new("couple", &row.key, Some(&dest.key)).note("matched"));
            }
        }
        Ok(())
    }

    /// A fresh key for a create, when the destination takes client keys on a text key column:
    /// time-ordered (UUID v7), so a table keyed by text grows at its end (see the SQLite
    /// connector's keys).
    pub(crate) fn client_key(&self, pass: &Pass<'a>) -> Option<String> {
        self.takes_client_keys(pass)
            .then(|| uuid::Uuid::now_v7().to_string())
    }

    /// Whether creates on the pass's destination are given keys of ours.
    pub(crate) fn takes_client_keys(&self, pass: &Pass<'a>) -> bool {
        let Ok(system) = self.systems.get(pass.dst_system) else {
            return false;
        };
        let ty = pass.dst.info.columns.get(&pass.dst.info.key).map(|c| c.ty);
        system.capabilities().client_keys
            && matches!(ty, Some(ColumnKind::Guid | ColumnKind::String) | None)
    }
}

/// What a first full sync of a table mapping would meet (see
/// [`Engine::first_sync_outlook`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outlook {
    /// The store has this many couplings of it: it was synced before.
    Coupled(u64),
    /// No couplings, and no destination it creates into holds rows: a full sync creates them.
    Empty,
    /// No couplings, these destinations hold rows, and match rules will couple them.
    Matched(Vec<String>),
    /// No couplings, these destinations hold rows, and no match rule could find them: a full
    /// sync stops rather than copy every record (unless told `--create-without-match`).
    WouldDuplicate(Vec<String>),
}

/// What a match rule looks a row's partner up by: the destination columns and the row's values;
/// `None` when the row lacks one of the values.
fn rule_lookup(rule: &MatchRule, source: Side, row: &Row) -> Option<Vec<(String, Value)>> {
    rule.terms
        .iter()
        .map(|t| {
            let v = crate::runtime::eval::Row::get(row, t.column(source));
            (!v.is_missing()).then(|| (t.column(source.other()).to_string(), v))
        })
        .collect()
}

/// The keys of every row a lookup found (to ask the store which are coupled, in one go).
fn asked_keys(answers: &std::vec::IntoIter<Vec<Row>>) -> Vec<String> {
    answers
        .as_slice()
        .iter()
        .flatten()
        .map(|r| r.key.clone())
        .collect()
}
