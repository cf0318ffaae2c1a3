//! The writes a batch's transaction makes once per record — couplings saved, intents and
//! failures cleared, writes logged — held until the transaction commits (or until anything else
//! reads or writes the store, which sees them made first) and then made with one statement per
//! table and chunk of records instead of one per record: SQLite's cost per statement is most of
//! what such a small write costs.
//!
//! Only [`Store::transaction`] defers: outside it every write is made at once, as before.

use std::collections::HashMap;

use super::db::Reuse;
use super::*;

/// Rows per multi-row statement: well under SQLite's bound on parameters (16 a coupling).
const CHUNK: usize = 100;

/// What a transaction wrote and the store has not made yet, in the order it came.
#[derive(Default)]
pub(super) struct Deferred {
    couplings: Vec<SavedCoupling>,
    cleared_intents: Vec<RecordRef>,
    cleared_failures: Vec<RecordRef>,
    writes: Vec<[Arg<'static>; 8]>,
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

/// Whether a store defers its per-record writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Mode {
    /// Outside a transaction: every write is made at once.
    #[default]
    Immediate,
    /// Inside [`Store::transaction`].
    Deferring,
    /// Inside a transaction whose deferred writes failed when made: it must not commit, even
    /// if its caller went on past the error.
    Failed,
    /// Inside [`Store::transaction_behind`], with no transaction open yet: the per-record
    /// writes are collected to be committed behind the engine, unless a statement comes first,
    /// which begins the transaction on the engine's connection (see [`Store::conn`]).
    Collecting,
}

/// Ends deferring however the transaction's closure ends — a panic included — dropping what
/// was not made.
struct DeferringScope<'s>(&'s Store);

impl Drop for DeferringScope<'_> {
    fn drop(&mut self) {
        self.0.mode.set(Mode::Immediate);
        self.0.deferred.take();
    }
}

/// Why a transaction whose deferred writes failed when made does not commit.
fn batch_failed() -> StateError {
    StateError::Io(
        "a write of this batch failed in the state store; nothing of the batch was committed"
            .into(),
    )
}

/// Rolls back the transaction a collecting closure began on the engine's connection, however
/// it ends short of its commit, and puts the durability asked of transactions back.
struct LateScope<'s>(&'s Store);

impl Drop for LateScope<'_> {
    fn drop(&mut self) {
        self.0.durability.set(Durability::OnCommit);
        let db = &self.0.db;
        if db.in_transaction() {
            let _ = db.rollback();
        }
        db.ended(db.durability_of(Durability::WithNextDurable));
    }
}

/// Records' partners as the store holds them, by mapping and side, then key.
type Stored<'s> = HashMap<(&'s str, Side), HashMap<String, String>>;

/// Records' partners where a coupling saved in the transaction changed them (`None`: none).
type Partners<'s> = HashMap<(&'s str, Side, &'s str), Option<&'s str>>;

/// A record's partner at this point of the transaction: as saved in it, else as stored.
fn partner_now<'s>(
    now: &Partners<'s>,
    stored: &'s Stored<'s>,
    record: (&'s str, Side, &'s str),
) -> Option<&'s str> {
    match now.get(&record) {
        Some(p) => *p,
        None => stored
            .get(&(record.0, record.1))
            .and_then(|m| m.get(record.2))
            .map(String::as_str),
    }
}

/// The couplings saved, in their order, cut into statements of at most [`CHUNK`] that each
/// save a record once: one statement may not upsert a row twice in PostgreSQL, and saving
/// them in order is what keeps a partner freed by one save free for the next.
fn statements(saved: &[SavedCoupling]) -> Vec<&[SavedCoupling]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for (i, s) in saved.iter().enumerate() {
        let record = (s.coupling.mapping.as_str(), s.coupling.left_key.as_str());
        if i - start == CHUNK || seen.contains(&record) {
            out.push(&saved[start..i]);
            start = i;
            seen.clear();
        }
        seen.insert(record);
    }
    if start < saved.len() {
        out.push(&saved[start..]);
    }
    out
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
    pub(super) fn conn(&self) -> Result<&Db, StateError> {
        if self.mode.get() == Mode::Collecting {
            if let Err(e) = self.begin_late() {
                self.mode.set(Mode::Failed);
                return Err(e);
            }
        }
        if !self.deferred.borrow().is_empty() {
            if let Err(e) = self.flush_deferred() {
                self.mode.set(Mode::Failed);
                return Err(e);
            }
        }
        Ok(&self.db)
    }

    /// Whether writes are being deferred (inside [`Store::transaction`]).
    fn deferring(&self) -> bool {
        self.mode.get() != Mode::Immediate
    }

    /// Defers saving a coupling (`check` for a new pair); false when not deferring.
    pub(super) fn save_or_defer(&self, c: &Coupling, check: bool) -> bool {
        if !self.deferring() {
            return false;
        }
        self.deferred.borrow_mut().couplings.push(SavedCoupling {
            coupling: c.clone(),
            coupled_at: now(),
            check,
        });
        true
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
    pub(super) fn log_or_defer(&self, row: [Arg<'static>; 8]) -> Option<[Arg<'static>; 8]> {
        if !self.deferring() {
            return Some(row);
        }
        self.deferred.borrow_mut().writes.push(row);
        None
    }

    /// Runs `f` deferring the per-record writes, then makes them; they are dropped when `f`
    /// fails (its transaction rolls back), and `f` fails when any of them failed as made.
    pub(super) fn deferring_in<T, E: From<StateError>>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        self.mode.set(Mode::Deferring);
        let scope = DeferringScope(self);
        let out = f(self)?;
        if self.mode.get() == Mode::Failed {
            return Err(E::from(batch_failed()));
        }
        self.flush_deferred().map_err(E::from)?;
        drop(scope);
        Ok(out)
    }

    /// Begins, on the engine's connection, the transaction a collecting closure turned out to
    /// need: after every commit sent behind the engine, fenced, and deferring from now on.
    fn begin_late(&self) -> Result<(), StateError> {
        self.mode.set(Mode::Deferring);
        self.wait_behind();
        let durability = self.db.durability_of(Durability::WithNextDurable);
        if let Err(e) = self.db.begin(durability) {
            self.db.ended(durability);
            return Err(e);
        }
        self.check_fence()
    }

    /// Runs `f` collecting its per-record writes (see [`Mode::Collecting`]): they come back
    /// to be committed elsewhere, or, where `f` made a statement, `None`, its transaction
    /// committed on the engine's connection. Nothing is kept when `f` fails.
    pub(super) fn collecting_in<T, E: From<StateError>>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, E>,
    ) -> Result<(T, Option<Deferred>), E> {
        self.mode.set(Mode::Collecting);
        self.durability.set(Durability::WithNextDurable);
        let scope = DeferringScope(self);
        let late = LateScope(self);
        let out = f(self)?;
        if self.mode.get() == Mode::Failed {
            return Err(E::from(batch_failed()));
        }
        if !self.db.in_transaction() {
            let collected = self.deferred.take();
            drop(scope);
            return Ok((out, Some(collected)));
        }
        self.flush_deferred().map_err(E::from)?;
        let durability = self.db.durability_of(Durability::WithNextDurable);
        self.db.commit().map_err(E::from)?;
        drop(late);
        self.committed(durability);
        drop(scope);
        Ok((out, None))
    }

    /// Hands over writes collected elsewhere, to be made by this store's transaction.
    pub(super) fn put_deferred(&self, writes: Deferred) {
        *self.deferred.borrow_mut() = writes;
    }

    /// Makes every deferred write.
    fn flush_deferred(&self) -> Result<(), StateError> {
        let d = self.deferred.take();
        self.check_new_couplings(&d.couplings)?;
        for chunk in statements(&d.couplings) {
            self.save_couplings(chunk)?;
        }
        self.delete_records("intents", &d.cleared_intents)?;
        self.delete_records("failures", &d.cleared_failures)?;
        for chunk in d.writes.chunks(CHUNK) {
            let marks = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO run_writes (run, mapping, direction, action, source_key, dest_key, reason, company) VALUES {marks}"
            );
            let args: Vec<Arg<'_>> = chunk.iter().flatten().map(Arg::lent).collect();
            self.execute_rows(&sql, chunk.len() == CHUNK, &args)?;
        }
        Ok(())
    }

    /// Refuses, as [`Store::couple`] does, a new pair that takes a record coupled to another —
    /// by the store or by a coupling saved before it in the same transaction (which also frees
    /// the partner a saved coupling leaves).
    fn check_new_couplings(&self, saved: &[SavedCoupling]) -> Result<(), StateError> {
        if !saved.iter().any(|s| s.check) {
            return Ok(());
        }
        let stored = self.stored_partners(saved)?;
        // Each record's partner at this point of the transaction, where a saved coupling
        // changed it (`None`: it has none now).
        let mut now: Partners<'_> = HashMap::new();
        for s in saved {
            let c = &s.coupling;
            let mapping = c.mapping.as_str();
            for side in [Side::Left, Side::Right] {
                let taken = partner_now(&now, &stored, (mapping, side, c.key(side)))
                    .filter(|p| *p != c.key(side.other()));
                if let (true, Some(p)) = (s.check, taken) {
                    return Err(StateError::AlreadyCoupled {
                        mapping: c.mapping.clone(),
                        side: if side == Side::Left { "left" } else { "right" },
                        key: c.key(side).to_string(),
                        partner: p.to_string(),
                    });
                }
            }
            // The save replaces the left record's coupling: its former partner is free.
            let left = (mapping, Side::Left, c.left_key.as_str());
            if let Some(old) = partner_now(&now, &stored, left).filter(|p| *p != c.right_key) {
                now.insert((mapping, Side::Right, old), None);
            }
            now.insert((mapping, Side::Left, &c.left_key), Some(&c.right_key));
            now.insert((mapping, Side::Right, &c.right_key), Some(&c.left_key));
        }
        Ok(())
    }

    /// The stored partners of every record the saved couplings name, by mapping and side.
    fn stored_partners<'s>(&self, saved: &'s [SavedCoupling]) -> Result<Stored<'s>, StateError> {
        let mut keys: HashMap<(&'s str, Side), Vec<&'s str>> = HashMap::new();
        for s in saved {
            for side in [Side::Left, Side::Right] {
                keys.entry((s.coupling.mapping.as_str(), side))
                    .or_default()
                    .push(s.coupling.key(side));
            }
        }
        let mut stored = HashMap::new();
        for ((mapping, side), keys) in keys {
            stored.insert((mapping, side), self.partners_of(mapping, side, &keys)?);
        }
        Ok(stored)
    }

    /// Saves couplings with one statement (inserting the new ones).
    fn save_couplings(&self, chunk: &[SavedCoupling]) -> Result<(), StateError> {
        let marks =
            vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "{} VALUES {marks} {}",
            Self::SAVE_COUPLING,
            Self::ON_COUPLED
        );
        let company = self.company();
        let mut args: Vec<Arg<'_>> = Vec::with_capacity(chunk.len() * 16);
        for s in chunk {
            args.extend(Self::coupling_values(&s.coupling, &s.coupled_at, &company));
        }
        self.execute_rows(&sql, chunk.len() == CHUNK, &args)?;
        Ok(())
    }

    /// Runs a multi-row statement: kept prepared when it has the usual number of rows; one
    /// of another size is prepared for this once, so it does not push the store's per-record
    /// statements out of the cache.
    fn execute_rows(&self, sql: &str, usual: bool, args: &[Arg<'_>]) -> Result<usize, StateError> {
        let reuse = if usual { Reuse::Kept } else { Reuse::Once };
        self.db.execute_as(sql, args, reuse)
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
        let company = self.company();
        for ((mapping, dir), keys) in groups {
            for chunk in keys.chunks(CHUNK) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let sql = format!(
                    "DELETE FROM {table} WHERE company = ? AND mapping = ? AND direction = ? AND source_key IN ({marks})"
                );
                let args: Vec<Arg<'_>> = [company.as_str(), mapping, dir]
                    .into_iter()
                    .chain(chunk.iter().copied())
                    .map(Arg::from)
                    .collect();
                self.execute_rows(&sql, chunk.len() == CHUNK, &args)?;
            }
        }
        Ok(())
    }
}
