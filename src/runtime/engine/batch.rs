//! One batch of source rows: find each row's partner (coupling, interrupted create, match rules),
//! transform it, decide between unchanged, update, create, conflict and deletion handling, write
//! the batch, and commit the couplings of what was written.

use std::collections::{BTreeMap, HashMap};

use super::lookups::{Collector, Resolver};
use super::report::{PassReport, RecordFailure};
use super::{Engine, EngineError, Mode, Pass};
use crate::connectors::{Connector, Row};
use crate::plan::Phase;
use crate::runtime::eval::{Compiled, Lookups, NoLookups};
use crate::runtime::shape::{self, Zones};
use crate::state::{Coupling, FailureKind, FieldDifference, Intent};
use crate::value::Value;

/// Why a skipped record is left alone.
const SKIPPED: &str = "skipped after failing twice with the same error (`syncmap errors`); `syncmap retry` syncs it again";

/// What to do with one source row.
pub(crate) enum Action {
    /// Bring an existing destination row up to date.
    Update {
        coupling: Coupling,
        dest: Row,
        /// The pair was coupled in this batch (by matching or an interrupted create).
        new_coupling: bool,
    },
    /// Create the destination row (with this key where the system takes client keys).
    Create {
        key: Option<String>,
        replaces: Option<Coupling>,
    },
    /// The coupled partner is gone. `kept_key`: the key kept for a new partner's create.
    PartnerDeleted {
        coupling: Coupling,
        kept_key: Option<String>,
    },
}

impl Action {
    /// Bring `dest`, newly found to be the record's partner (a match, or a create of an earlier
    /// run found made), in line, coupling the pair.
    pub(crate) fn new_partner(coupling: Coupling, dest: Row) -> Action {
        Action::Update {
            coupling,
            dest,
            new_coupling: true,
        }
    }
}

/// A write waiting for its result.
pub(crate) struct Pending {
    row: Row,
    kind: PendingKind,
    fields: BTreeMap<String, Value>,
}

impl Pending {
    /// Whether the write gives its record a new partner: a row it creates, or one a match
    /// rule found.
    pub(crate) fn new_partner(&self) -> bool {
        match &self.kind {
            PendingKind::Create { .. } => true,
            PendingKind::Update { new_coupling, .. } => *new_coupling,
            PendingKind::DeleteSource { .. } => false,
        }
    }

    /// Whether the write creates a row whose key the system chooses.
    pub(crate) fn keyless_create(&self) -> bool {
        matches!(&self.kind, PendingKind::Create { key: None, .. })
    }
}

enum PendingKind {
    Create {
        key: Option<String>,
        replaces: Option<Coupling>,
    },
    Update {
        coupling: Coupling,
        dest: Row,
        new_coupling: bool,
    },
    DeleteSource {
        coupling: Coupling,
    },
}

/// The couplings of a batch's records, by source key, and their partners' rows, by key.
struct Partners {
    couplings: HashMap<String, Coupling>,
    rows: HashMap<String, Row>,
}

/// Rows with their action decided, and uncoupled rows with any create left open for them.
type Sorted = (Vec<(Row, Action)>, Uncoupled);

/// A batch's uncoupled records, each with any create an earlier run left open, and the keys
/// kept for their creates (see `state/create_keys.rs`), by source key.
pub(crate) struct Uncoupled {
    pub rows: Vec<(Row, Option<Intent>)>,
    pub kept: HashMap<String, String>,
}

impl<'a> Engine<'a> {
    /// Processes one batch of source rows. `retry` marks rows re-read because they failed before:
    /// they count as changed whatever their timestamps. The changes it lists carry the source
    /// records' labels.
    pub(crate) async fn process(
        &self,
        pass: &Pass<'a>,
        rows: Vec<Row>,
        retry: bool,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let first = pr.changes.len();
        self.forget_labels();
        let done = match self.decide_batch(pass, rows, retry, pr).await {
            Ok(decided) => self.execute(pass, decided, pr).await,
            Err(e) => Err(e),
        };
        self.label_changes(&mut pr.changes[first..]);
        done
    }

    /// Finds each row's partner and decides what it needs: the writes of the batch, still to
    /// be made ([`Engine::execute`]).
    pub(crate) async fn decide_batch(
        &self,
        pass: &Pass<'a>,
        rows: Vec<Row>,
        retry: bool,
        pr: &mut PassReport,
    ) -> Result<Vec<Pending>, EngineError> {
        self.remember_labels(pass, &rows);
        let kept = self.admit(pass, rows, retry, pr)?;
        if kept.is_empty() {
            return Ok(Vec::new());
        }
        let partners = self.partners(pass, &kept, retry).await?;
        let (mut work, uncoupled) = self.sort_out(pass, kept, partners, retry, pr)?;
        work.extend(self.find_partners(pass, uncoupled, pr).await?);
        if pass.match_only {
            self.couple_matches(pass, work, pr)?;
            return Ok(Vec::new());
        }
        let resolver = self.resolve_lookups(pass, &work).await?;
        let mut pending = Vec::new();
        for (row, action) in work {
            if let Some(p) = self.decide(pass, row, action, &resolver, pr).await? {
                pending.push(p);
            }
        }
        Ok(pending)
    }

    /// The rows that take part: readable and inside the source side's filter. A row the filter
    /// now leaves out has nothing left to retry or to follow up.
    fn admit(
        &self,
        pass: &Pass<'a>,
        rows: Vec<Row>,
        retry: bool,
        pr: &mut PassReport,
    ) -> Result<Vec<Row>, EngineError> {
        let mapping = pass.table.name.as_str();
        let no_lookups = NoLookups;
        let ctx = self.context(pass, &no_lookups);
        let mut kept = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(why) = &row.invalid {
                self.fail(pass, pr, &row.key, None, &format!("cannot be read: {why}"))?;
                continue;
            }
            match pass.filter.as_ref().map(|f| f.eval_filter(&row, &ctx)) {
                None | Some(Ok(true)) => kept.push(row),
                Some(Ok(false)) => {
                    if pass.back_only && !self.dry_run {
                        // A created row outside its side's filter takes no part: nothing to
                        // follow up.
                        let source = pass.dir.source();
                        if let Some(mut c) = self.store.coupling(mapping, source, &row.key)? {
                            c.follow_up = None;
                            self.store.save_coupling(&c)?;
                        }
                    } else if retry && !self.dry_run {
                        // It no longer takes part, so there is nothing left to retry.
                        self.store.clear_failure(mapping, pass.dir, &row.key)?;
                    }
                }
                Some(Err(e)) => self.fail(pass, pr, &row.key, None, &format!("filter: {e}"))?,
            }
        }
        Ok(kept)
    }

    /// The couplings of a batch's records and their partners' rows, read in one request; the
    /// partners of records [known in step](Engine::known_in_step) are not read.
    async fn partners(
        &self,
        pass: &Pass<'a>,
        kept: &[Row],
        retry: bool,
    ) -> Result<Partners, EngineError> {
        let d = pass.dir.dest();
        let keys: Vec<String> = kept.iter().map(|r| r.key.clone()).collect();
        let couplings = self
            .store
            .couplings(&pass.table.name, pass.dir.source(), &keys)?;
        let dst_conn = self.systems.get(pass.dst_system)?;
        let dest_keys: Vec<String> = kept
            .iter()
            .filter_map(|row| Some((row, couplings.get(&row.key)?)))
            .filter(|(row, c)| !self.known_in_step(pass, row, c, retry))
            .map(|(_, c)| c.key(d).to_string())
            .collect();
        let mut rows: HashMap<String, Row> = if dest_keys.is_empty() {
            HashMap::new()
        } else {
            dst_conn
                .get(pass.dst, &dest_keys)
                .await
                .map_err(EngineError::from_connector)?
                .into_iter()
                .map(|r| (r.key.clone(), r))
                .collect()
        };
        // A partner missing from the batched read is asked for alone before a deletion rule
        // acts on it: only a row the system says is gone counts as deleted.
        let missing: Vec<String> = dest_keys
            .into_iter()
            .filter(|k| !rows.contains_key(k))
            .collect();
        for key in missing {
            let again = dst_conn
                .get(pass.dst, std::slice::from_ref(&key))
                .await
                .map_err(EngineError::from_connector)?;
            if let Some(row) = again.into_iter().next() {
                rows.insert(key, row);
            }
        }
        Ok(Partners { couplings, rows })
    }

    /// Splits the admitted rows: skipped records are left alone, coupled ones get their action
    /// (update, or the deletion rule when the partner is gone), uncoupled ones go on to
    /// matching with any create an earlier run left open.
    fn sort_out(
        &self,
        pass: &Pass<'a>,
        kept: Vec<Row>,
        mut partners: Partners,
        retry: bool,
        pr: &mut PassReport,
    ) -> Result<Sorted, EngineError> {
        let (mapping, d) = (pass.table.name.as_str(), pass.dir.dest());
        let keys: Vec<String> = kept.iter().map(|r| r.key.clone()).collect();
        // Skipped records and open creates, asked for once per batch, not per record.
        let skipped = self.store.skipped_among(mapping, pass.dir, &keys)?;
        let mut intents = self.store.create_intents_among(mapping, pass.dir, &keys)?;
        let mut kept_keys = self.kept_create_keys(pass, &keys)?;
        let (mut work, mut uncoupled, mut coupled_kept) = (Vec::new(), Vec::new(), Vec::new());
        for row in kept {
            // Each record has its own coupling and partner: they are taken, not copied.
            let coupling = partners.couplings.remove(&row.key);
            // A record settled by hand goes through, skipped or not.
            let is_skipped =
                skipped.contains(&row.key) || coupling.as_ref().is_some_and(|c| c.skipped);
            if is_skipped && pass.resolution.is_none() {
                let keys = (row.key.as_str(), coupling.as_ref().map(|c| c.key(d)));
                self.skip(pass, pr, keys, SKIPPED);
                continue;
            }
            if coupling.is_some() && kept_keys.contains_key(&row.key) {
                coupled_kept.push(row.key.clone());
            }
            match coupling {
                Some(_) if pass.match_only => {}
                Some(c) if self.known_in_step(pass, &row, &c, retry) => pr.counts.unchanged += 1,
                Some(c) => {
                    let action = match partners.rows.remove(c.key(d)) {
                        Some(dest) => Action::Update {
                            coupling: c,
                            dest,
                            new_coupling: false,
                        },
                        // A follow-up only brings values back; a deleted partner is the
                        // other pass's to handle by its rule.
                        None if pass.back_only => continue,
                        None => Action::PartnerDeleted {
                            coupling: c,
                            kept_key: kept_keys.remove(&row.key),
                        },
                    };
                    work.push((row, action));
                }
                None if self.left_uncoupled(pass, retry) => {
                    pr.not_coupled += 1;
                    self.skip(
                        pass,
                        pr,
                        (&row.key, None),
                        "not coupled; a modified-only run syncs coupled records only (`only coupled`): a full sync couples it",
                    );
                }
                None => {
                    let intent = intents.remove(&row.key);
                    uncoupled.push((row, intent));
                }
            }
        }
        self.let_kept_keys_go(pass, coupled_kept, &mut kept_keys)?;
        let uncoupled = Uncoupled {
            rows: uncoupled,
            kept: kept_keys,
        };
        Ok((work, uncoupled))
    }

    /// Whether a coupled record is known to be in step without reading its partner: the other
    /// direction synced the pair in this very run, and this side's row is still the one that
    /// left — typically a row the first pass just wrote, met again by the reverse pass. Its
    /// partner was read moments ago by this run; reading it back by key would spend a request
    /// per few dozen records to learn nothing. (A partner deleted since is met by the next
    /// run, as one deleted just after this run would be.) Its fields are not computed either:
    /// one that cannot be is met when the record next changes. Records retried, forced,
    /// followed up or failed in this direction are always compared.
    pub(super) fn known_in_step(
        &self,
        pass: &Pass<'a>,
        row: &Row,
        c: &Coupling,
        retry: bool,
    ) -> bool {
        let (other_result, other_run) = c.last_result(pass.dir.reverse());
        let (this_result, _) = c.last_result(pass.dir);
        !retry
            && !pass.force
            && !pass.back_only
            && !c.skipped
            && c.follow_up.is_none()
            && other_run == Some(self.run)
            && other_result == Some("success")
            && this_result != Some("failure")
            && c.changed(pass.dir.source(), row.etag.as_deref(), row.modified_on) == Some(false)
    }

    /// Whether an uncoupled record is left alone: a modified-only run of a mapping with
    /// `only coupled`, unless the record is retried or the run ignores the rule.
    fn left_uncoupled(&self, pass: &Pass<'a>, retry: bool) -> bool {
        pass.mode == Mode::Modified
            && pass.table.only_coupled
            && !pass.ignore_only_coupled
            && !retry
    }

    /// The lookups every row of the batch will ask for, fetched at once.
    async fn resolve_lookups(
        &self,
        pass: &Pass<'a>,
        work: &[(Row, Action)],
    ) -> Result<Resolver, EngineError> {
        // Only the field operations that may look up are evaluated to collect what they ask.
        let asking: Vec<&Compiled> = pass
            .ops
            .iter()
            .filter(|(op, _)| op.value.looks_up(&self.plan.functions))
            .map(|(_, compiled)| compiled)
            .collect();
        if asking.is_empty() {
            return Ok(Resolver::default());
        }
        let collector = Collector::default();
        {
            let cctx = self.context(pass, &collector);
            // A row that stays unchanged is not transformed, so it asks for nothing.
            let changing = work
                .iter()
                .filter(|(row, action)| !decide::stays_unchanged(pass, row, action));
            for (row, _) in changing {
                for compiled in &asking {
                    let _ = compiled.eval(row, &cctx);
                }
            }
        }
        let mut resolver = Resolver::default();
        resolver
            .resolve(
                collector.wanted.into_inner(),
                (self.plan, self.systems, self.store),
                (&pass.table.name, &pass.lookups),
            )
            .await?;
        Ok(resolver)
    }

    /// The destination values of a row for a phase; `Err` names the field that failed.
    fn transform(
        &self,
        pass: &Pass<'a>,
        row: &Row,
        create: bool,
        lookups: &dyn Lookups,
    ) -> Result<BTreeMap<String, Value>, String> {
        let ctx = self.context(pass, lookups);
        let zones = Zones {
            from: self.zone(pass.src_system),
            to: ctx.zone.clone(),
        };
        let fields = shape::as_instants(&row.fields, &pass.src.info.columns, &zones.from);
        let mut out = BTreeMap::new();
        for (op, compiled) in &pass.ops {
            let applies = match op.phase {
                Phase::Always => true,
                Phase::Create => create,
                Phase::Update => !create,
            };
            if !applies {
                continue;
            }
            let value = match compiled.eval(&*fields, &ctx) {
                Ok(v) => v,
                Err(_) if op.clear_on_failure => Value::Null,
                Err(e) => return Err(format!("`{}` ({}): {e}", op.target, op.origin)),
            };
            // A follow-up brings back only what the system set: an empty column of a row the
            // sync just created must not clear the value its source holds.
            let null = matches!(value, Value::Null);
            if value.is_absent() || (null && (op.not_null || pass.back_only)) {
                continue;
            }
            let column = pass.dst.info.columns.get(&op.target);
            let value = shape::for_column(value, op, column, &zones)
                .map_err(|e| format!("`{}` ({}): {e}", op.target, op.origin))?;
            out.insert(op.target.clone(), value);
        }
        Ok(out)
    }

    /// Logs a failed record (and, outside dry runs, tracks it for retry).
    pub(crate) fn fail(
        &self,
        pass: &Pass<'a>,
        pr: &mut PassReport,
        source_key: &str,
        dest_key: Option<&str>,
        message: &str,
    ) -> Result<(), EngineError> {
        self.fail_as(pass, pr, (source_key, dest_key), message, true)
    }

    /// Logs a failed record; `may_skip` false for passing problems that must not skip it.
    pub(crate) fn fail_as(
        &self,
        pass: &Pass<'a>,
        pr: &mut PassReport,
        keys: (&str, Option<&str>),
        message: &str,
        may_skip: bool,
    ) -> Result<(), EngineError> {
        let plain = (FailureKind::Error, Vec::new());
        self.fail_described(pass, pr, keys, message, may_skip, plain)
    }

    /// Logs a failed record of a kind a person settles by hand (a conflict, with how the
    /// sides differ; a deleted partner), so `errors` shows it and `resolve` finds it.
    pub(crate) fn fail_described(
        &self,
        pass: &Pass<'a>,
        pr: &mut PassReport,
        (source_key, dest_key): (&str, Option<&str>),
        message: &str,
        may_skip: bool,
        (kind, differences): (FailureKind, Vec<FieldDifference>),
    ) -> Result<(), EngineError> {
        let label = self.label_of(source_key);
        let skipped = if self.dry_run {
            false
        } else {
            let (mapping, dir) = (&pass.table.name, pass.dir);
            self.store.fenced(|st| {
                let keys = (source_key, dest_key);
                let skipped =
                    st.record_failure_as(self.run, mapping, dir, keys, message, may_skip)?;
                if let Some(l) = &label {
                    st.label_failure(self.run, mapping, dir, source_key, l)?;
                }
                if kind != FailureKind::Error {
                    st.describe_failure(mapping, dir, source_key, kind, &differences)?;
                }
                if let Some(mut c) = st.coupling(mapping, dir.source(), source_key)? {
                    c.set_result(pass.dir, false, self.run);
                    c.skipped = c.skipped || skipped;
                    st.save_coupling(&c)?;
                    if pass.remember_written {
                        pass.written.borrow_mut().doubt(pass.dir, &c);
                    }
                }
                Ok::<bool, EngineError>(skipped)
            })?
        };
        tracing::warn!(
            run = self.run,
            table = %pass.table.name,
            direction = %pass.dir.as_str(),
            key = %source_key,
            dest_key,
            skipped,
            error = %message,
            "record failed"
        );
        pr.counts.failed += 1;
        if pr.errors.len() < super::report::MAX_CHANGES {
            pr.errors.push(RecordFailure {
                source_key: source_key.into(),
                dest_key: dest_key.map(Into::into),
                label,
                message: message.into(),
                skipped,
                kind,
                differences,
            });
        }
        Ok(())
    }
}

mod base;
pub(crate) mod change_set;
mod decide;
pub(crate) use base::{base_fields, BaseField};
pub(crate) use decide::side_word;
mod dry_run;
mod execute;
mod outcome;
