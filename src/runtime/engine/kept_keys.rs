//! The keys kept for records' creates, as a pass meets their records (the store's side is
//! `state/create_keys.rs`). A create with a key of ours that settling did not find may still
//! arrive (sent by a holder frozen past its lease): the record's next create takes that key, so
//! the two cannot make two rows. Before deciding, the pass looks for rows with the kept keys
//! of its uncoupled records: one found (the late write arrived) is the record's partner, and
//! the pair is brought in line like any other.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use super::batch::Action;
use super::{Engine, EngineError, Pass};
use crate::connectors::Row;
use crate::state::Direction;

/// The records deciding with the key kept for their create (a create with it, or the row found
/// under it taken as partner): the key is let go in the transaction that couples the record,
/// not before, so a run ending first leaves it kept.
#[derive(Default)]
pub(crate) struct InUse(RefCell<HashSet<(String, Direction, String)>>);

impl InUse {
    fn start(&self, pass: &Pass<'_>, source_key: &str) {
        let id = (pass.table.name.clone(), pass.dir, source_key.to_string());
        self.0.borrow_mut().insert(id);
    }

    /// Whether the record's kept key was in use: it is let go now.
    pub(crate) fn done(&self, pass: &Pass<'_>, source_key: &str) -> bool {
        let mut set = self.0.borrow_mut();
        // Nearly always empty: no key to build for the look-up.
        !set.is_empty() && set.remove(&(pass.table.name.clone(), pass.dir, source_key.to_string()))
    }
}

impl<'a> Engine<'a> {
    /// The key for a record's create: the one kept for it (`kept`), marked in use, or a fresh
    /// one where the destination takes client keys.
    pub(crate) fn kept_or_fresh_key(
        &self,
        pass: &Pass<'a>,
        source_key: &str,
        kept: Option<String>,
    ) -> Option<String> {
        match kept {
            Some(k) => {
                self.kept_in_use.start(pass, source_key);
                Some(k)
            }
            None => self.client_key(pass),
        }
    }

    /// The keys kept for creates of these records, where the destination takes client keys.
    pub(crate) fn kept_create_keys(
        &self,
        pass: &Pass<'a>,
        keys: &[String],
    ) -> Result<HashMap<String, String>, EngineError> {
        if !self.takes_client_keys(pass) {
            return Ok(HashMap::new());
        }
        let exist = match pass.kept_keys_exist.get() {
            Some(exist) => exist,
            None => {
                let exist = self.store.keeps_create_keys(&pass.table.name, pass.dir)?;
                pass.kept_keys_exist.set(Some(exist));
                exist
            }
        };
        if !exist {
            return Ok(HashMap::new());
        }
        Ok(self
            .store
            .kept_create_keys_among(&pass.table.name, pass.dir, keys)?)
    }

    /// Lets go of the keys kept for records that have a partner now (one a match rule found,
    /// say); a key kept for a record coupled since could otherwise couple it back to that row
    /// after someone uncoupled it.
    pub(crate) fn let_kept_keys_go(
        &self,
        pass: &Pass<'a>,
        coupled: Vec<String>,
        kept: &mut HashMap<String, String>,
    ) -> Result<(), EngineError> {
        for key in coupled {
            if kept.remove(&key).is_some() {
                self.let_kept_key_go(pass, &key)?;
            }
        }
        Ok(())
    }

    /// Lets a record's kept key go, outside dry runs (which change no state).
    fn let_kept_key_go(&self, pass: &Pass<'a>, source_key: &str) -> Result<(), EngineError> {
        if !self.dry_run {
            self.store
                .release_create_key(&pass.table.name, pass.dir, source_key)?;
        }
        Ok(())
    }

    /// Uncoupled rows whose kept key names a row now: it is their partner, taken as a match
    /// would be (its values brought in line), unless another record is coupled to it, whose
    /// row it is now (the kept key is then let go: the record needs a row of its own). The
    /// rows left go on to the match rules, and to a create with their kept key.
    pub(crate) async fn resume_kept(
        &self,
        pass: &Pass<'a>,
        rows: Vec<Row>,
        kept: &mut HashMap<String, String>,
        out: &mut Vec<(Row, Action)>,
    ) -> Result<Vec<Row>, EngineError> {
        let wanted: Vec<String> = rows
            .iter()
            .filter_map(|r| kept.get(&r.key).cloned())
            .collect();
        if wanted.is_empty() {
            return Ok(rows);
        }
        let mut found = self.dest_rows_by_key(pass, &wanted).await?;
        let (mapping, d) = (pass.table.name.as_str(), pass.dir.dest());
        let mut open = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(dest) = kept.get(&row.key).and_then(|k| found.remove(k.as_str())) else {
                open.push(row);
                continue;
            };
            if self.store.coupling(mapping, d, &dest.key)?.is_some() {
                kept.remove(&row.key);
                self.let_kept_key_go(pass, &row.key)?;
                open.push(row);
                continue;
            }
            let coupling = pass.coupling(&row.key, &dest.key);
            self.kept_in_use.start(pass, &row.key);
            out.push((row, Action::new_partner(coupling, dest)));
        }
        Ok(open)
    }
}
