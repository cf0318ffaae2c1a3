//! Writes whose outcome the store does not know: the run that made them ended before committing
//! it (killed, or the store lost), or no answer came back (a dropped connection, a timeout, a
//! resent request answered "already changed"). Every write is recorded as an intent before it is
//! sent; here an intent is settled from what the systems hold. A create whose key the system
//! chose is found again by the values it wrote, among the rows no record is coupled to.
//!
//! What did not happen is forgotten and the record decided again (a create with a key of ours
//! leaves that key kept for the record's next create: see `state/create_keys.rs`). What
//! happened is committed as the batch would have: a created row is coupled, an updated pair's
//! versions move past the sync's own write, a propagated deletion is uncoupled. A create that
//! cannot be told apart from other rows holding the same values is not guessed at: its record
//! fails with why, until someone couples it by hand.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::report::PassReport;
use super::{directions, Engine, EngineError, Mode, Pass};
use crate::connectors::{Connector, Row};
use crate::plan::{self, Side};
use crate::state::{Coupling, Intent, IntentKind, Store};
use crate::value::{ColumnKind, Value};

/// Columns a lookup for a created row filters on; the rest are compared once rows come back.
const IDENTITY_COLUMNS: usize = 2;

/// What the systems hold of an intent's write.
#[derive(Debug)]
pub(crate) enum Found {
    /// The write happened. `row` is the row written as it is now (none for a deletion);
    /// `untouched` whether it holds only what the write left (nobody changed it since).
    Written { row: Option<Row>, untouched: bool },
    /// It did not happen (or what it wrote was changed since): the record is decided again.
    NotWritten,
    /// A create whose row cannot be told apart from other uncoupled rows holding the same
    /// values: why, for its record's failure.
    Undecided(String),
}

impl<'a> Engine<'a> {
    /// Settles the intents of every direction of a table mapping, the other direction's too:
    /// its interrupted writes left rows on this pass's source side that it would otherwise take
    /// for new records (and create partners for them: duplicates) or for changes made by
    /// someone (conflicts, echoes). How many intents were open.
    pub(crate) async fn reconcile_table(
        &self,
        t: &'a plan::Table,
        mode: Mode,
        pr: &mut PassReport,
    ) -> Result<usize, EngineError> {
        let mut open = 0;
        for dir in directions(t.flow) {
            let pass = self.pass(t, dir, mode, false)?;
            let intents = self.store.intents(&t.name, dir)?;
            open += intents.len();
            for chunk in intents.chunks(self.options.batch_size.max(1)) {
                let found = self.look(&pass, chunk, &HashSet::new()).await?;
                self.store.transaction(|st| {
                    for (i, f) in chunk.iter().zip(found) {
                        self.settle(st, &pass, i, f, pr)?;
                    }
                    Ok::<(), EngineError>(())
                })?;
            }
        }
        Ok(open)
    }

    /// What the systems hold of each intent's write, in order.
    pub(crate) async fn look(
        &self,
        pass: &Pass<'a>,
        intents: &[Intent],
        taken: &HashSet<String>,
    ) -> Result<Vec<Found>, EngineError> {
        let dst = self.systems.get(pass.dst_system)?;
        let src = self.systems.get(pass.src_system)?;
        let keys = |pick: &dyn Fn(&Intent) -> bool| -> Vec<String> {
            intents
                .iter()
                .filter(|i| pick(i))
                .map(|i| i.dest_key.clone())
                .collect()
        };
        let dest_keys = keys(&|i| i.kind != IntentKind::Delete && !i.keyless());
        let deleted_keys = keys(&|i| i.kind == IntentKind::Delete);
        let dest_rows = rows_by_key(dst, pass.dst, &dest_keys).await?;
        let still_there = rows_by_key(src, pass.src, &deleted_keys).await?;
        let keyless: Vec<&Intent> = intents.iter().filter(|i| i.keyless()).collect();
        let mut created = self.find_created(pass, &keyless, taken).await?.into_iter();
        let mut out = Vec::with_capacity(intents.len());
        for i in intents {
            out.push(match i.kind {
                _ if i.keyless() => created.next().unwrap_or(Found::NotWritten),
                IntentKind::Delete if still_there.contains_key(&i.dest_key) => Found::NotWritten,
                IntentKind::Delete => Found::Written {
                    row: None,
                    untouched: true,
                },
                IntentKind::Create => match dest_rows.get(&i.dest_key) {
                    Some(row) => Found::Written {
                        row: Some(row.clone()),
                        untouched: holds(pass, i.fields.as_deref(), row),
                    },
                    None => Found::NotWritten,
                },
                // An update happened if the row still holds what it wrote; if it does not, it
                // did not happen or was overwritten since: either way the pass decides anew.
                IntentKind::Update => match dest_rows.get(&i.dest_key) {
                    Some(row) if holds(pass, i.fields.as_deref(), row) => Found::Written {
                        row: Some(row.clone()),
                        untouched: holds(pass, i.kept.as_deref(), row),
                    },
                    _ => Found::NotWritten,
                },
            });
        }
        Ok(out)
    }

    /// The rows creates made where the system chose the key: for each intent, the rows holding
    /// every value it wrote that no record of the table mapping is coupled to (nor `taken` by a
    /// write of the same batch). One such row is the one it made (or one just like it, which is
    /// as good a partner); several are told apart only when as many intents wrote the same
    /// values. None, while rows share the values it was looked up by but differ elsewhere (its
    /// system may have changed a value as it stored it, or someone since), cannot be decided
    /// either: only when nothing like it is there did the create not happen.
    async fn find_created(
        &self,
        pass: &Pass<'a>,
        intents: &[&Intent],
        taken: &HashSet<String>,
    ) -> Result<Vec<Found>, EngineError> {
        if intents.is_empty() {
            return Ok(Vec::new());
        }
        let written: Vec<BTreeMap<String, Value>> = intents
            .iter()
            .map(|i| values(pass, i.fields.as_deref()))
            .collect();
        let rows = self.look_alikes(pass, &written, taken).await?;
        let mut claimed: HashSet<String> = HashSet::new();
        let mut out = Vec::with_capacity(intents.len());
        for (n, intent) in intents.iter().enumerate() {
            let Some(candidates) = &rows[n] else {
                out.push(Found::Undecided(format!(
                    "a create into {} whose answer was lost wrote no value to look its row up by; couple the record by hand with `syncmap couple` if the row was made",
                    pass.dst.name
                )));
                continue;
            };
            let free: Vec<&Row> = candidates
                .iter()
                .filter(|r| !claimed.contains(&r.key))
                .collect();
            let (exact, similar): (Vec<&Row>, Vec<&Row>) = free
                .into_iter()
                .partition(|r| written[n].iter().all(|(k, v)| same_text_or_unread(r, k, v)));
            // Intents still to settle that wrote exactly these values: as many rows as they are
            // is what they made; more rows than that cannot be told apart.
            let alike = intents[n..]
                .iter()
                .filter(|j| j.fields == intent.fields)
                .count();
            out.push(match (exact.first(), similar.is_empty()) {
                (None, true) => Found::NotWritten,
                (Some(row), _) if exact.len() <= alike => {
                    claimed.insert(row.key.clone());
                    Found::Written {
                        row: Some((*row).clone()),
                        untouched: true,
                    }
                }
                _ => Found::Undecided(undecided(pass, &exact, &similar)),
            });
        }
        Ok(out)
    }

    /// For each set of written values, the uncoupled rows sharing the values it is looked up
    /// by (`None` when it has none to look up by), asked of the system in one go; never a row
    /// of another company (see [`company`](crate::plan::company)).
    async fn look_alikes(
        &self,
        pass: &Pass<'a>,
        written: &[BTreeMap<String, Value>],
        taken: &HashSet<String>,
    ) -> Result<Vec<Option<Vec<Row>>>, EngineError> {
        let lookups: Vec<Vec<(String, Value)>> =
            written.iter().map(|v| identity(pass, v)).collect();
        let asked: Vec<Vec<(String, Value)>> =
            lookups.iter().filter(|l| !l.is_empty()).cloned().collect();
        let mut answers = self
            .systems
            .get(pass.dst_system)?
            .find_many(pass.dst, &asked, true)
            .await
            .map_err(EngineError::from_connector)?
            .into_iter();
        let keys: Vec<String> = answers
            .as_slice()
            .iter()
            .flatten()
            .map(|r| r.key.clone())
            .collect();
        let coupled = self
            .store
            .couplings(&pass.table.name, pass.dir.dest(), &keys)?;
        let side = pass.table.side(pass.dir.dest());
        Ok(lookups
            .iter()
            .map(|l| {
                (!l.is_empty()).then(|| {
                    answers
                        .next()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|r| {
                            !coupled.contains_key(&r.key)
                                && !taken.contains(&r.key)
                                && side.admits(&r.fields)
                        })
                        .collect()
                })
            })
            .collect())
    }

    /// Settles one intent from what was found, and forgets it (unless it cannot be decided).
    fn settle(
        &self,
        st: &Store,
        pass: &Pass<'a>,
        i: &Intent,
        found: Found,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let mapping = &pass.table.name;
        let s = pass.dir.source();
        match (i.kind, found) {
            (_, Found::Undecided(why)) => {
                st.note_intent(mapping, pass.dir, &i.source_key, &why)?;
                return Ok(());
            }
            (
                IntentKind::Create,
                Found::Written {
                    row: Some(row),
                    untouched,
                },
            ) => self.settle_create(st, pass, i, &row, untouched, pr)?,
            (
                IntentKind::Update,
                Found::Written {
                    row: Some(row),
                    untouched,
                },
            ) => self.settle_update(st, pass, i, &row, untouched, pr)?,
            (IntentKind::Delete, Found::Written { .. })
                if st.uncouple(mapping, s, &i.source_key)? =>
            {
                self.event(
                    st,
                    pass,
                    "deletion",
                    (Some(&i.source_key), None),
                    "a propagated deletion whose outcome was not recorded had happened; uncoupled",
                )?;
                pr.counts.uncoupled += 1;
            }
            // Not there, it may still arrive (sent by a holder frozen past its lease): the
            // record's next create takes its key, so the two cannot make two rows.
            (IntentKind::Create, Found::NotWritten) if !i.keyless() => {
                st.keep_create_key(mapping, pass.dir, &i.source_key, &i.dest_key)?;
            }
            // Not written: forgotten, the record is read and decided again.
            _ => {}
        }
        st.clear_intent(mapping, pass.dir, &i.source_key)?;
        Ok(())
    }

    /// Settles an update whose row holds what it wrote.
    fn settle_update(
        &self,
        st: &Store,
        pass: &Pass<'a>,
        i: &Intent,
        row: &Row,
        untouched: bool,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let mapping = &pass.table.name;
        let (s, d) = (pass.dir.source(), pass.dir.dest());
        match st.coupling(mapping, s, &i.source_key)? {
            // The row holds what the update wrote: it reached the system, and the pair
            // is in step with the source as it was then. Left stale, the coupling would
            // make the next pass take the sync's own write for someone's change: a
            // conflict if the source changed again (with rule `fail`, the record skipped
            // for good). If the row's other columns changed since, that change is
            // someone's: it stays pending, to be synced back.
            Some(mut c) if c.key(d) == row.key => {
                c.set_in_step(s, i.source_modified_on, i.source_version.as_deref());
                in_step_or_pending(&mut c, d, row, untouched && !i.dest_pending);
                // What the fields held when the pair last synced is not known from here: a
                // later conflict goes to the rules, not to a stale base.
                c.base = None;
                st.save_coupling(&c)?;
            }
            // A pair the match rules found in that batch, written to but not coupled:
            // coupled as the batch would have.
            None => self.settle_create(st, pass, i, row, untouched, pr)?,
            _ => {}
        }
        Ok(())
    }

    /// Couples a row a create made (or an update of a pair just matched wrote to), as the batch
    /// would have.
    fn settle_create(
        &self,
        st: &Store,
        pass: &Pass<'a>,
        i: &Intent,
        row: &Row,
        untouched: bool,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let mapping = &pass.table.name;
        let (s, d) = (pass.dir.source(), pass.dir.dest());
        if let Some(other) = st.coupling(mapping, d, &row.key)? {
            if other.key(s) != i.source_key {
                let msg = format!("a write whose outcome was not recorded had reached this row, but it is coupled to `{}` since; left alone", other.key(s));
                self.event(
                    st,
                    pass,
                    "coupled",
                    (Some(&i.source_key), Some(&row.key)),
                    &msg,
                )?;
            }
            return Ok(());
        }
        // A restore's create replaces the coupling to the deleted partner.
        st.uncouple(mapping, s, &i.source_key)?;
        let mut c = pass.coupling(&i.source_key, &row.key);
        c.set_in_step(s, i.source_modified_on, i.source_version.as_deref());
        // A row changed since it was created (it no longer holds what the create wrote) counts
        // as changed after the sync: its change is synced back (or meets a change of the source
        // as a conflict) rather than being overwritten by the source's values as if it were the
        // sync's own.
        in_step_or_pending(
            &mut c,
            d,
            row,
            untouched && holds(pass, i.kept.as_deref(), row),
        );
        if pass.flows_back() {
            c.follow_up = Some(d);
        }
        c.set_result(pass.dir, true, self.run);
        st.save_coupling(&c)?;
        st.clear_failure(mapping, pass.dir, &i.source_key)?;
        self.event(
            st,
            pass,
            "coupled",
            (Some(&i.source_key), Some(&row.key)),
            "a write whose outcome was not recorded had reached the row; coupled",
        )?;
        pr.counts.coupled += 1;
        Ok(())
    }
}

/// The rows of a table with these keys, by key (no request for no key).
async fn rows_by_key(
    conn: &crate::runtime::systems::AnyConnector,
    table: crate::connectors::TableRef<'_>,
    keys: &[String],
) -> Result<HashMap<String, Row>, EngineError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = conn
        .get(table, keys)
        .await
        .map_err(EngineError::from_connector)?;
    Ok(rows.into_iter().map(|r| (r.key.clone(), r)).collect())
}

/// Records a written row's side as in step (its version is the sync's own), or as holding a
/// change not synced yet.
pub(crate) fn in_step_or_pending(c: &mut Coupling, side: Side, row: &Row, untouched: bool) {
    if untouched {
        c.set_in_step(side, row.modified_on, row.etag.as_deref());
    } else {
        c.set_pending(side, row.modified_on);
    }
}

/// The values an intent recorded, typed by the destination's columns.
fn values(pass: &Pass<'_>, text: Option<&str>) -> BTreeMap<String, Value> {
    let Some(Ok(serde_json::Value::Object(fields))) =
        text.map(serde_json::from_str::<serde_json::Value>)
    else {
        return BTreeMap::new();
    };
    fields
        .iter()
        .filter_map(|(k, json)| {
            let ty = pass.dst.info.columns.get(k).map(|c| c.ty);
            Some((k.clone(), Value::from_json(json, ty).ok()?))
        })
        .collect()
}

/// The columns a lookup for a created row filters on: the match rules' columns it wrote, else
/// its longest text values (the most telling), else other plain values.
fn identity(pass: &Pass<'_>, written: &BTreeMap<String, Value>) -> Vec<(String, Value)> {
    let d = pass.dir.dest();
    let ty = |k: &str| pass.dst.info.columns.get(k).map(|c| c.ty);
    let usable = |(k, v): (&String, &Value)| -> bool {
        match v {
            Value::String(s) => {
                !s.is_empty()
                    && matches!(
                        ty(k),
                        Some(ColumnKind::String | ColumnKind::Guid | ColumnKind::Lookup)
                    )
            }
            Value::Int(_) | Value::Bool(_) => {
                matches!(
                    ty(k),
                    Some(ColumnKind::Int | ColumnKind::Bool | ColumnKind::Option)
                )
            }
            _ => false,
        }
    };
    let rule_columns: Vec<(String, Value)> = pass
        .table
        .match_rules
        .iter()
        .flat_map(|r| &r.terms)
        .map(|t| t.column(d))
        .filter_map(|c| written.get_key_value(c))
        .filter(|kv| usable(*kv))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !rule_columns.is_empty() {
        return rule_columns;
    }
    let mut texts: Vec<(&String, &Value)> = written
        .iter()
        .filter(|kv| usable(*kv) && matches!(kv.1, Value::String(_)))
        .collect();
    texts.sort_by_key(|(k, v)| (std::cmp::Reverse(v.to_string().len()), (*k).clone()));
    let mut out: Vec<(String, Value)> = texts
        .into_iter()
        .take(IDENTITY_COLUMNS)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if out.is_empty() {
        out = written
            .iter()
            .filter(|kv| usable(*kv))
            .take(IDENTITY_COLUMNS)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
    }
    out
}

/// Why a create whose answer was lost cannot be settled: the rows it could have made.
fn undecided(pass: &Pass<'_>, exact: &[&Row], similar: &[&Row]) -> String {
    let keys = |rows: &[&Row]| {
        rows.iter()
            .map(|r| r.key.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if exact.is_empty() {
        format!(
            "a create into {} whose answer was lost cannot be settled: uncoupled rows look like it but hold other values ({}); if one is this record's partner, couple it by hand with `syncmap couple`, else change or remove it and run again",
            pass.dst.name,
            keys(similar)
        )
    } else {
        format!(
            "a create into {} whose answer was lost cannot be told apart: {} uncoupled rows hold the values it wrote ({}); couple the right one by hand with `syncmap couple`",
            pass.dst.name,
            exact.len(),
            keys(exact)
        )
    }
}

/// As [`same_or_unread`], with text compared without case or surrounding blanks: a service may
/// store a code in capitals, or trim what it is given.
fn same_text_or_unread(row: &Row, column: &str, want: &Value) -> bool {
    match (want, row.fields.get(column)) {
        (Value::String(a), Some(Value::String(b))) => {
            a.trim().to_lowercase() == b.trim().to_lowercase()
        }
        _ => same_or_unread(row, column, want),
    }
}

/// Whether a row holds a value, or does not show the column (no evidence either way).
fn same_or_unread(row: &Row, column: &str, want: &Value) -> bool {
    match row.fields.get(column) {
        Some(have) if !have.is_absent() => want.same_as(have),
        _ => true,
    }
}

/// Whether a destination row still holds the values an intent recorded (a JSON object; `true`
/// when none were, as by older versions). A column not read back is no evidence either way.
pub(crate) fn holds(pass: &Pass<'_>, values: Option<&str>, row: &Row) -> bool {
    let Some(text) = values else {
        return true;
    };
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(text) else {
        return false;
    };
    fields.iter().all(|(k, json)| {
        let ty = pass.dst.info.columns.get(k).map(|c| c.ty);
        match Value::from_json(json, ty) {
            Ok(want) => same_or_unread(row, k, &want),
            Err(_) => false,
        }
    })
}
