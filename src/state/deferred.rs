//! The writes a batch's transaction makes once per record — couplings saved, intents and
//! failures cleared, writes logged — held until the transaction commits (or until anything else
//! reads or writes the store, which sees them made first) and then made with one statement per
//! table and chunk of records instead of one per record: SQLite's cost per statement is most of
//! what such a small write costs.
//!
//! Only [`Store::transaction`] defers: outside it every write is made at once, as before.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;

use super::*;

/// Rows per multi-row statement: well under SQLite's bound on parameters (14 a coupling).
const CHUNK: usize = 100;

/// What a transaction wrote and the store has not made yet, in the order it came.
#[derive(Default)]
pub(super) struct Deferred {
    couplings: Vec<SavedCoupling>,
    cleared_intents: Vec<RecordRef>,
    cleared_failures: Vec<RecordRef>,
    writes: Vec<[SqlValue; 7]>,
}

/// A coupling to save; `check` when it couples a pair anew, which must not take a record
/// coupled to another (see [`Store::couple`]).
struct SavedCoupling {
    coupling: Coupling,
    coupled_at: String,
    check: bool,
}

/// One record of one direction of a table mapping.
struct RecordRef {
    mapping: String,
    dir: &'static str,
    source_key: String,
}

impl Deferred {
    fn is_empty(&self) -> bool {
        self.couplings.is_empty()
            && self.cleared_intents.is_empty()
            && self.cleared_failures.is_empty()
            && self.writes.is_empty()
    }
}

impl Store {
    /// The connection, with every deferred write made first, so what a statement reads or
    /// changes follows them as it followed them before they were deferred.
    pub(super) fn conn(&self) -> Result<&Connection, StateError> {
        if !self.deferred.borrow().is_empty() {
            self.flush_deferred()?;
        }
        Ok(&self.db)
    }

    /// Whether writes are being deferred (inside [`Store::transaction`]).
    fn deferring(&self) -> bool {
        self.deferring.get()
    }

    /// Saves a coupling now, or defers it; `check` for a new pair.
    pub(super) fn save_or_defer(&self, c: &Coupling, check: bool) -> Result<bool, StateError> {
        if !self.deferring() {
            return Ok(false);
        }
        self.deferred.borrow_mut().couplings.push(SavedCoupling {
            coupling: c.clone(),
            coupled_at: now(),
            check,
        });
        Ok(true)
    }

    /// Defers clearing a record's intent (`intent`) or failure; false when not deferring.
    pub(super) fn clear_or_defer(
        &self,
        intent: bool,
        mapping: &str,
        dir: Direction,
        source_key: &str,
    ) -> bool {
        if !self.deferring() {
            return false;
        }
        let r = RecordRef {
            mapping: mapping.to_string(),
            dir: dir.as_str(),
            source_key: source_key.to_string(),
        };
        let mut d = self.deferred.borrow_mut();
        if intent {
            d.cleared_intents.push(r);
        } else {
            d.cleared_failures.push(r);
        }
        true
    }

    /// Defers logging a write (its values in `run_writes` column order); the row back when
    /// not deferring.
    pub(super) fn log_or_defer(&self, row: [SqlValue; 7]) -> Option<[SqlValue; 7]> {
        if !self.deferring() {
            return Some(row);
        }
        self.deferred.borrow_mut().writes.push(row);
        None
    }

    /// Runs `f` deferring the per-record writes, then makes them; they are dropped when `f`
    /// fails (its transaction rolls back).
    pub(super) fn deferring_in<T, E: From<StateError>>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        self.deferring.set(true);
        let out = f(self);
        self.deferring.set(false);
        match out {
            Ok(out) => {
                self.flush_deferred().map_err(E::from)?;
                Ok(out)
            }
            Err(e) => {
                self.deferred.take();
                Err(e)
            }
        }
    }

    /// Makes every deferred write.
    fn flush_deferred(&self) -> Result<(), StateError> {
        let d = self.deferred.take();
        self.check_new_couplings(&d.couplings)?;
        for chunk in d.couplings.chunks(CHUNK) {
            self.save_couplings(chunk)?;
        }
        self.delete_records("intents", &d.cleared_intents)?;
        self.delete_records("failures", &d.cleared_failures)?;
        for chunk in d.writes.chunks(CHUNK) {
            let marks = vec!["(?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO run_writes (run, mapping, direction, action, source_key, dest_key, reason) VALUES {marks}"
            );
            self.db
                .prepare_cached(&sql)?
                .execute(rusqlite::params_from_iter(chunk.iter().flatten()))?;
        }
        Ok(())
    }

    /// Refuses, as [`Store::couple`] does, a new pair that takes a record coupled to another —
    /// by the store or by a coupling saved before it in the same transaction.
    fn check_new_couplings(&self, saved: &[SavedCoupling]) -> Result<(), StateError> {
        if !saved.iter().any(|s| s.check) {
            return Ok(());
        }
        let mut stored: HashMap<(&str, Side), HashMap<String, String>> = HashMap::new();
        for s in saved.iter().filter(|s| s.check) {
            for side in [Side::Left, Side::Right] {
                let key = (s.coupling.mapping.as_str(), side);
                if stored.contains_key(&key) {
                    continue;
                }
                let keys: Vec<&str> = saved
                    .iter()
                    .filter(|o| o.check && o.coupling.mapping == s.coupling.mapping)
                    .map(|o| o.coupling.key(side))
                    .collect();
                stored.insert(key, self.partners_of(key.0, side, &keys)?);
            }
        }
        // The partner each record has at this point of the transaction: saved earlier in it,
        // else stored.
        let mut earlier: HashMap<(&str, Side, &str), &str> = HashMap::new();
        for s in saved {
            let c = &s.coupling;
            if s.check {
                for side in [Side::Left, Side::Right] {
                    let partner = earlier
                        .get(&(c.mapping.as_str(), side, c.key(side)))
                        .copied()
                        .or_else(|| {
                            stored
                                .get(&(c.mapping.as_str(), side))
                                .and_then(|m| m.get(c.key(side)))
                                .map(String::as_str)
                        });
                    if let Some(partner) = partner.filter(|p| *p != c.key(side.other())) {
                        return Err(StateError::AlreadyCoupled {
                            mapping: c.mapping.clone(),
                            side: if side == Side::Left { "left" } else { "right" },
                            key: c.key(side).to_string(),
                            partner: partner.to_string(),
                        });
                    }
                }
            }
            for side in [Side::Left, Side::Right] {
                earlier.insert((c.mapping.as_str(), side, c.key(side)), c.key(side.other()));
            }
        }
        Ok(())
    }

    /// Saves couplings with one statement (inserting the new ones).
    fn save_couplings(&self, chunk: &[SavedCoupling]) -> Result<(), StateError> {
        let marks = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "{} VALUES {marks} {}",
            Self::SAVE_COUPLING,
            Self::ON_COUPLED
        );
        let mut args: Vec<SqlValue> = Vec::with_capacity(chunk.len() * 14);
        for s in chunk {
            args.extend(Self::coupling_values(&s.coupling, &s.coupled_at));
        }
        self.db
            .prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(args))?;
        Ok(())
    }

    /// Deletes the rows of `table` (intents or failures) of these records.
    fn delete_records(&self, table: &str, records: &[RecordRef]) -> Result<(), StateError> {
        let mut groups: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
        for r in records {
            groups
                .entry((r.mapping.as_str(), r.dir))
                .or_default()
                .push(r.source_key.as_str());
        }
        for ((mapping, dir), keys) in groups {
            for chunk in keys.chunks(CHUNK * 4) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let sql = format!(
                    "DELETE FROM {table} WHERE mapping = ? AND direction = ? AND source_key IN ({marks})"
                );
                let args = [mapping, dir].into_iter().chain(chunk.iter().copied());
                self.db
                    .prepare(&sql)?
                    .execute(rusqlite::params_from_iter(args))?;
            }
        }
        Ok(())
    }
}
