//! One batch of source rows: find each row's partner (coupling, interrupted create, match rules),
//! transform it, decide between unchanged, update, create, conflict and deletion handling, write
//! the batch, and commit the couplings of what was written.

use std::collections::{BTreeMap, HashMap};

use super::lookups::{Collector, Resolver};
use super::report::{Change, PassReport, RecordFailure};
use super::{Engine, EngineError, Mode, Pass};
use crate::connectors::{Connector, Row};
use crate::plan::{ConflictRule, DeleteRule, Flow, Phase};
use crate::runtime::eval::{Lookups, NoLookups};
use crate::runtime::shape::{self, Zones};
use crate::state::{Coupling, Intent};
use crate::value::Value;

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
    /// The coupled partner is gone.
    PartnerDeleted { coupling: Coupling },
}

/// A write waiting for its result.
struct Pending {
    row: Row,
    kind: PendingKind,
    fields: BTreeMap<String, Value>,
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
type Sorted = (Vec<(Row, Action)>, Vec<(Row, Option<Intent>)>);

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
        let done = self.process_batch(pass, rows, retry, pr).await;
        self.label_changes(&mut pr.changes[first..]);
        done
    }

    async fn process_batch(
        &self,
        pass: &Pass<'a>,
        rows: Vec<Row>,
        retry: bool,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        self.remember_labels(pass, &rows);
        let kept = self.admit(pass, rows, retry, pr)?;
        if kept.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = kept.iter().map(|r| r.key.clone()).collect();
        let partners = self.partners(pass, &keys).await?;
        let (mut work, uncoupled) = self.sort_out(pass, kept, &partners, retry, pr)?;
        work.extend(self.find_partners(pass, uncoupled, pr).await?);
        if pass.match_only {
            return self.couple_matches(pass, work, pr);
        }
        let resolver = self.resolve_lookups(pass, &work).await?;
        let mut pending = Vec::new();
        for (row, action) in work {
            if let Some(p) = self.decide(pass, row, action, &resolver, pr).await? {
                pending.push(p);
            }
        }
        self.execute(pass, pending, pr).await
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

    /// The couplings of a batch's records and their partners' rows, read in one request.
    async fn partners(&self, pass: &Pass<'a>, keys: &[String]) -> Result<Partners, EngineError> {
        let d = pass.dir.dest();
        let couplings = self
            .store
            .couplings(&pass.table.name, pass.dir.source(), keys)?;
        let dst_conn = self.systems.get(pass.dst_system)?;
        let dest_keys: Vec<String> = couplings.values().map(|c| c.key(d).to_string()).collect();
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
        partners: &Partners,
        retry: bool,
        pr: &mut PassReport,
    ) -> Result<Sorted, EngineError> {
        let (mapping, d) = (pass.table.name.as_str(), pass.dir.dest());
        let keys: Vec<String> = kept.iter().map(|r| r.key.clone()).collect();
        // Skipped records and open creates, asked for once per batch, not per record.
        let skipped = self.store.skipped_among(mapping, pass.dir, &keys)?;
        let mut intents = self.store.create_intents_among(mapping, pass.dir, &keys)?;
        let (mut work, mut uncoupled) = (Vec::new(), Vec::new());
        for row in kept {
            let coupling = partners.couplings.get(&row.key);
            if skipped.contains(&row.key) || coupling.is_some_and(|c| c.skipped) {
                self.skip(
                    pass,
                    pr,
                    (&row.key, coupling.map(|c| c.key(d))),
                    "skipped after failing twice with the same error (`syncmap errors`); `syncmap retry` syncs it again",
                );
                continue;
            }
            match coupling {
                Some(_) if pass.match_only => {}
                Some(c) => {
                    let action = match partners.rows.get(c.key(d)) {
                        Some(dest) => Action::Update {
                            coupling: c.clone(),
                            dest: dest.clone(),
                            new_coupling: false,
                        },
                        // A follow-up only brings values back; a deleted partner is the
                        // other pass's to handle by its rule.
                        None if pass.back_only => continue,
                        None => Action::PartnerDeleted {
                            coupling: c.clone(),
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
        Ok((work, uncoupled))
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
        let collector = Collector::default();
        {
            let cctx = self.context(pass, &collector);
            for (row, _) in work {
                for (_, compiled) in &pass.ops {
                    let _ = compiled.eval(row, &cctx);
                }
            }
        }
        let mut resolver = Resolver::default();
        resolver
            .resolve(
                collector.wanted.into_inner(),
                self.plan,
                self.systems,
                self.store,
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

    /// Decides what one row needs, handling conflicts and deleted partners.
    async fn decide(
        &self,
        pass: &Pass<'a>,
        row: Row,
        action: Action,
        lookups: &Resolver,
        pr: &mut PassReport,
    ) -> Result<Option<Pending>, EngineError> {
        match action {
            Action::PartnerDeleted { coupling } => {
                match self.partner_deleted(pass, row, coupling, pr)? {
                    // Restoring re-creates the partner from this row, with every field a create sets.
                    Some(p) if matches!(p.kind, PendingKind::Create { .. }) => {
                        self.with_fields(pass, p, true, None, lookups, pr)
                    }
                    other => Ok(other),
                }
            }
            Action::Create { key, replaces } => {
                let create = Pending {
                    row,
                    kind: PendingKind::Create { key, replaces },
                    fields: BTreeMap::new(),
                };
                self.with_fields(pass, create, true, None, lookups, pr)
            }
            Action::Update {
                coupling,
                dest,
                new_coupling,
            } => {
                let update = Pending {
                    row,
                    kind: PendingKind::Update {
                        coupling,
                        dest,
                        new_coupling,
                    },
                    fields: BTreeMap::new(),
                };
                self.decide_update(pass, update, lookups, pr)
            }
        }
    }

    /// A write with the destination values of its row; `None` (and the record failed) when a
    /// field cannot be computed.
    fn with_fields(
        &self,
        pass: &Pass<'a>,
        mut write: Pending,
        create: bool,
        dest_key: Option<&str>,
        lookups: &Resolver,
        pr: &mut PassReport,
    ) -> Result<Option<Pending>, EngineError> {
        match self.transform(pass, &write.row, create, lookups) {
            Ok(fields) => {
                write.fields = fields;
                Ok(Some(write))
            }
            Err(e) => {
                self.fail(pass, pr, &write.row.key.clone(), dest_key, &e)?;
                Ok(None)
            }
        }
    }

    /// An update goes ahead when the source changed (or is forced) and, when both sides
    /// changed, the conflict rule lets it.
    fn decide_update(
        &self,
        pass: &Pass<'a>,
        update: Pending,
        lookups: &Resolver,
        pr: &mut PassReport,
    ) -> Result<Option<Pending>, EngineError> {
        let PendingKind::Update {
            coupling,
            dest,
            new_coupling,
        } = &update.kind
        else {
            return Ok(Some(update));
        };
        let (coupling, dest, new_coupling) = (coupling.clone(), dest.clone(), *new_coupling);
        let Some(update) = self.with_fields(pass, update, false, Some(&dest.key), lookups, pr)?
        else {
            return Ok(None);
        };
        if self.refused_outside_filter(pass, &update, &dest, pr)? {
            return Ok(None);
        }
        let (src_changed, dst_changed) = changes(pass, &update.row, &coupling, &dest, new_coupling);
        // A forced record (synced by hand) is compared and written even when it did not
        // change; it is only in conflict when it really changed too.
        if !src_changed && !pass.force {
            pr.counts.unchanged += 1;
            return Ok(None);
        }
        if pass.table.flow == Flow::Both && src_changed && dst_changed {
            let differing = differing_two_way(pass, &update.fields, &dest);
            if !differing.is_empty() && !self.conflict(pass, &update.row, &dest, &differing, pr)? {
                return Ok(None);
            }
        }
        Ok(Some(update))
    }

    /// Whether a partner found by a match rule outside the destination's filter is refused: it
    /// is taken only when it already holds every value the pass would write.
    fn refused_outside_filter(
        &self,
        pass: &Pass<'a>,
        update: &Pending,
        dest: &Row,
        pr: &mut PassReport,
    ) -> Result<bool, EngineError> {
        let row = &update.row;
        if !pass.outside_filter.borrow_mut().remove(&row.key)
            || update
                .fields
                .iter()
                .all(|(k, v)| dest.fields.get(k).is_some_and(|d| d.same_as(v)))
        {
            return Ok(false);
        }
        let msg = format!(
            "a match rule finds {} row `{}`, which is outside the table mapping's filter of that side and holds other values; couple it by hand with `syncmap couple` if it is this record's partner",
            pass.dst.name, dest.key
        );
        self.fail(pass, pr, &row.key, Some(&dest.key), &msg)?;
        Ok(true)
    }

    /// Applies the conflict rule; true when this pass's side wins and the write goes ahead.
    fn conflict(
        &self,
        pass: &Pass<'a>,
        row: &Row,
        dest: &Row,
        differing: &[&str],
        pr: &mut PassReport,
    ) -> Result<bool, EngineError> {
        let s = pass.dir.source();
        pr.counts.conflicts += 1;
        let fields = differing
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        // `None`: the rule is `fail`. Every conflict is logged as an event of the run and listed
        // in the report, whatever the rule (`fail` used to leave only the record's error).
        let (wins, how) = match pass.table.on_conflict {
            ConflictRule::Prefer(side) => (
                Some(side == s),
                format!("prefer {}", pass.table.side(side).system),
            ),
            ConflictRule::Newest => (
                Some(row.modified_on >= dest.modified_on),
                "newest".to_string(),
            ),
            ConflictRule::Fail => (None, "fail".to_string()),
        };
        let outcome = match wins {
            Some(true) => "this side's values are written",
            Some(false) => "the other side's values win; this side is skipped",
            None => "the record fails until resolved by hand",
        };
        let note = format!("both sides changed; {fields} differ; rule {how}: {outcome}");
        if !self.dry_run {
            self.event(
                self.store,
                pass,
                "conflict",
                (Some(&row.key), Some(&dest.key)),
                &note,
            )?;
        }
        pr.change(Change::new("conflict", &row.key, Some(&dest.key)).note(&note));
        match wins {
            Some(true) => Ok(true),
            Some(false) => {
                self.skip(
                    pass,
                    pr,
                    (&row.key, Some(&dest.key)),
                    format!("conflict: {note}"),
                );
                Ok(false)
            }
            None => {
                let msg = format!("both sides changed since the last sync and {fields} differ{}; resolve it by hand, then `syncmap retry`", if differing.len() == 1 { "s" } else { "" });
                self.fail(pass, pr, &row.key, Some(&dest.key), &msg)?;
                Ok(false)
            }
        }
    }

    /// The coupled partner is gone: the table's deletion rule decides.
    fn partner_deleted(
        &self,
        pass: &Pass<'a>,
        row: Row,
        coupling: Coupling,
        pr: &mut PassReport,
    ) -> Result<Option<Pending>, EngineError> {
        let d = pass.dir.dest();
        let mapping = &pass.table.name;
        let gone = coupling.key(d).to_string();
        let note = |what: &str| {
            format!(
                "its coupled {} row `{gone}` was deleted; {what}",
                pass.dst.name
            )
        };
        match pass.table.on_delete {
            DeleteRule::Fail => {
                let msg = note("the rule is `fail`: uncouple, restore or delete it by hand");
                self.fail(pass, pr, &row.key, Some(&gone), &msg)?;
                Ok(None)
            }
            DeleteRule::Uncouple => {
                let msg = note("uncoupled");
                if !self.dry_run {
                    self.store.transaction(|st| {
                        st.uncouple(mapping, pass.dir.source(), &row.key)?;
                        self.log_write(
                            st,
                            pass,
                            crate::state::WriteAction::Uncoupled,
                            (&row.key, Some(&gone)),
                            Some(&msg),
                        )?;
                        self.event(st, pass, "deletion", (Some(&row.key), Some(&gone)), &msg)?;
                        Ok::<(), EngineError>(())
                    })?;
                }
                pr.counts.uncoupled += 1;
                pr.change(Change::new("uncouple", &row.key, Some(&gone)).note(msg));
                Ok(None)
            }
            DeleteRule::Restore => Ok(Some(Pending {
                fields: BTreeMap::new(),
                kind: PendingKind::Create {
                    key: self.client_key(pass),
                    replaces: Some(coupling),
                },
                row,
            })),
            DeleteRule::Propagate => Ok(Some(Pending {
                fields: BTreeMap::new(),
                kind: PendingKind::DeleteSource { coupling },
                row,
            })),
        }
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
        (source_key, dest_key): (&str, Option<&str>),
        message: &str,
        may_skip: bool,
    ) -> Result<(), EngineError> {
        let label = self.label_of(source_key);
        let skipped = if self.dry_run {
            false
        } else {
            self.store.fenced(|st| {
                let skipped = st.record_failure_as(
                    self.run,
                    &pass.table.name,
                    pass.dir,
                    (source_key, dest_key),
                    message,
                    may_skip,
                )?;
                if let Some(l) = &label {
                    st.label_failure(self.run, &pass.table.name, pass.dir, source_key, l)?;
                }
                if let Some(mut c) = st.coupling(&pass.table.name, pass.dir.source(), source_key)? {
                    c.set_result(pass.dir, false, self.run);
                    c.skipped = c.skipped || skipped;
                    st.save_coupling(&c)?;
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
            });
        }
        Ok(())
    }
}

mod execute;

/// Whether the source and the destination changed since the pair last synced. A new coupling
/// or a record that failed last time counts as changed on its source side.
fn changes(
    pass: &Pass<'_>,
    row: &Row,
    coupling: &Coupling,
    dest: &Row,
    new_coupling: bool,
) -> (bool, bool) {
    let (s, d) = (pass.dir.source(), pass.dir.dest());
    let last = match pass.dir {
        crate::state::Direction::LeftToRight => &coupling.ltr_result,
        crate::state::Direction::RightToLeft => &coupling.rtl_result,
    };
    let failed_before = last.as_deref() == Some("failure");
    let src_changed = new_coupling
        || failed_before
        || coupling
            .changed(s, row.etag.as_deref(), row.modified_on)
            .unwrap_or(true);
    let dst_changed = !new_coupling
        && coupling
            .changed(d, dest.etag.as_deref(), dest.modified_on)
            .unwrap_or(false);
    (src_changed, dst_changed)
}

/// The two-way fields whose new value differs from the destination's.
fn differing_two_way<'p>(
    pass: &'p Pass<'_>,
    fields: &BTreeMap<String, Value>,
    dest: &Row,
) -> Vec<&'p str> {
    pass.ops
        .iter()
        .filter(|(op, _)| op.two_way)
        .filter(|(op, _)| {
            fields
                .get(&op.target)
                .is_some_and(|v| !dest.fields.get(&op.target).is_some_and(|dv| dv.same_as(v)))
        })
        .map(|(op, _)| op.target.as_str())
        .collect()
}
