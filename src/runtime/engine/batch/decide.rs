//! What becomes of each row of a batch once its partner is known: a create, an update when
//! the source changed (and the conflict rule allows it when both did), or the deletion rule
//! when the partner is gone. Rows whose fields cannot be computed fail here.

use std::collections::BTreeMap;

use super::{base, Action, Pending, PendingKind};
use crate::connectors::Row;
use crate::plan::{DeleteRule, Expr, Flow, Side};
use crate::runtime::engine::lookups::Resolver;
use crate::runtime::engine::report::{Change, PassReport};
use crate::runtime::engine::{Engine, EngineError, Pass, Resolution};
use crate::state::{Coupling, FailureKind, FieldDifference};
use crate::value::Value;

impl<'a> Engine<'a> {
    /// Decides what one row needs, handling conflicts and deleted partners.
    pub(super) async fn decide(
        &self,
        pass: &Pass<'a>,
        row: Row,
        action: Action,
        lookups: &Resolver,
        pr: &mut PassReport,
    ) -> Result<Option<Pending>, EngineError> {
        match action {
            Action::PartnerDeleted { coupling, kept_key } => {
                match self.partner_deleted(pass, row, (coupling, kept_key), pr)? {
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
        let (src_changed, dst_changed) = changes(pass, &update.row, coupling, dest, *new_coupling);
        // A forced record (synced by hand) is compared and written even when it did not
        // change; it is only in conflict when it really changed too. A record that did not
        // change is not transformed: its values were written when it last did.
        if !src_changed && !pass.force {
            pr.counts.unchanged += 1;
            return Ok(None);
        }
        let dest_key = dest.key.clone();
        let Some(mut update) =
            self.with_fields(pass, update, false, Some(&dest_key), lookups, pr)?
        else {
            return Ok(None);
        };
        let PendingKind::Update { coupling, dest, .. } = &update.kind else {
            return Ok(Some(update));
        };
        if self.refused_outside_filter(pass, &update, dest, pr)?
            || self.refused_other_company(pass, &update, dest, pr)?
        {
            return Ok(None);
        }
        if self.outside_settled_fields(pass, &update, dest) {
            return Ok(None);
        }
        if pass.table.flow == Flow::Both && src_changed && dst_changed {
            let differing = differing_two_way(pass, &update.fields, dest);
            // Settled field by field where the base tells who changed what, or a field has a
            // rule of its own (unless a person settles the record by hand); otherwise the
            // table's rule settles the record.
            let base = coupling.base.as_deref();
            let sides = (&update.row, dest);
            let by_field =
                pass.resolution.is_none() && base::by_field(pass, base, sides, &differing);
            let goes_ahead = match (differing.is_empty(), by_field) {
                (true, _) => true,
                (false, true) => self.merge(pass, &mut update, &differing, pr)?,
                (false, false) => self.conflict(pass, &update, dest, &differing, pr)?,
            };
            if !goes_ahead {
                return Ok(None);
            }
        }
        Ok(Some(update))
    }

    /// Whether a conflict settled for named fields only (`resolve --all --field`) now differs in
    /// another two-way field: the pair is then left as it was.
    fn outside_settled_fields(&self, pass: &Pass<'a>, update: &Pending, dest: &Row) -> bool {
        if pass.settle_fields.is_empty() {
            return false;
        }
        let named = |name: &str| pass.settle_fields.iter().any(|f| f == name);
        differing_two_way(pass, &update.fields, dest)
            .into_iter()
            .any(|target| {
                let source = pass.ops.iter().find_map(|(op, _)| match &op.value {
                    Expr::Col(c) if op.target == target => Some(c.as_str()),
                    _ => None,
                });
                !named(target) && !source.is_some_and(named)
            })
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
        // The company column is left out: a row of no company becomes this one's when written.
        let company = pass.table.side(pass.dir.dest()).company.as_ref();
        let compared = |k: &String| company.is_none_or(|s| &s.column != k);
        if !pass.outside_filter.borrow_mut().remove(&row.key)
            || update
                .fields
                .iter()
                .filter(|(k, _)| compared(k))
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

    /// Whether the partner belongs to another company now (another company's run made a row
    /// of no company its own first): it is not written from this one, which would take it
    /// back and forth between them.
    fn refused_other_company(
        &self,
        pass: &Pass<'a>,
        update: &Pending,
        dest: &Row,
        pr: &mut PassReport,
    ) -> Result<bool, EngineError> {
        let scope = pass.table.side(pass.dir.dest()).company.as_ref();
        let Some(why) = scope.and_then(|s| s.foreign(&dest.fields)) else {
            return Ok(false);
        };
        let msg = format!(
            "{} row `{}` belongs to another company ({why}); this company does not write it: uncouple the record (`syncmap uncouple`) if the row is no longer its partner",
            pass.dst.name, dest.key,
        );
        self.fail(pass, pr, &update.row.key, Some(&dest.key), &msg)?;
        Ok(true)
    }

    /// Applies the conflict rule; true when this pass's side wins and the write goes ahead.
    fn conflict(
        &self,
        pass: &Pass<'a>,
        update: &Pending,
        dest: &Row,
        differing: &[&str],
        pr: &mut PassReport,
    ) -> Result<bool, EngineError> {
        let row = &update.row;
        let (wins, how) = rule_says(pass, row, dest);
        // A conflict being settled by hand is not a new one: it is listed, not counted again.
        if pass.resolution.is_some() {
            let note = format!("both sides changed; rule {how}");
            pr.change(Change::new("conflict", &row.key, Some(&dest.key)).note(&note));
            return Ok(wins == Some(true));
        }
        pr.counts.conflicts += 1;
        let fields = differing
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        // Every conflict is logged as an event of the run and listed in the report, whatever
        // the rule (`fail` used to leave only the record's error).
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
                self.fail_conflict(pass, update, dest, (&fields, differing), pr)?;
                Ok(false)
            }
        }
    }

    /// Fails a record in conflict under the rule `fail`, with both sides' values and the
    /// command that settles it.
    pub(super) fn fail_conflict(
        &self,
        pass: &Pass<'a>,
        update: &Pending,
        dest: &Row,
        (fields, differing): (&str, &[&str]),
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let key = &update.row.key;
        let msg = format!(
            "both sides changed since the last sync and {fields} differ{}; settle it with `syncmap resolve {} --{} {key} --take left|right`",
            if differing.len() == 1 { "s" } else { "" },
            pass.table.name,
            side_word(pass.dir.source()),
        );
        let described = (
            FailureKind::Conflict,
            differences(pass, update, dest, differing),
        );
        let keys = (key.as_str(), Some(dest.key.as_str()));
        self.fail_described(pass, pr, keys, &msg, true, described)
    }

    /// The coupled partner is gone: the table's deletion rule decides. A partner restored
    /// takes the key kept for its create (`kept_key`), if there is one.
    fn partner_deleted(
        &self,
        pass: &Pass<'a>,
        row: Row,
        (coupling, kept_key): (Coupling, Option<String>),
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
        match deletion_rule(pass) {
            DeleteRule::Fail => {
                let msg = note(&format!(
                    "the rule is `fail`: settle it with `syncmap resolve {mapping} --{} {} --restore|--delete|--uncouple`",
                    side_word(pass.dir.source()),
                    row.key
                ));
                let keys = (row.key.as_str(), Some(gone.as_str()));
                let described = (FailureKind::PartnerDeleted, Vec::new());
                self.fail_described(pass, pr, keys, &msg, true, described)?;
                Ok(None)
            }
            DeleteRule::Uncouple => {
                self.uncouple_from_deleted(pass, &row.key, &gone, note("uncoupled"), pr)?;
                Ok(None)
            }
            DeleteRule::Restore => Ok(Some(Pending {
                fields: BTreeMap::new(),
                kind: PendingKind::Create {
                    key: self.kept_or_fresh_key(pass, &row.key, kept_key),
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
}

impl<'a> Engine<'a> {
    /// Uncouples a record whose partner was deleted, logging why.
    fn uncouple_from_deleted(
        &self,
        pass: &Pass<'a>,
        key: &str,
        gone: &str,
        msg: String,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        if !self.dry_run {
            self.store.transaction(|st| {
                st.uncouple(&pass.table.name, pass.dir.source(), key)?;
                let keys = (key, Some(gone));
                let uncoupled = crate::state::WriteAction::Uncoupled;
                self.log_write(st, pass, uncoupled, keys, Some(&msg))?;
                self.event(st, pass, "deletion", (Some(key), Some(gone)), &msg)?;
                Ok::<(), EngineError>(())
            })?;
        }
        pr.counts.uncoupled += 1;
        pr.change(Change::new("uncouple", key, Some(gone)).note(msg));
        Ok(())
    }
}

/// Whether a row's action is an update that will find nothing to do: its source did not
/// change since the pair last synced, and the pass does not force it.
pub(super) fn stays_unchanged(pass: &Pass<'_>, row: &Row, action: &Action) -> bool {
    match action {
        Action::Update {
            coupling,
            dest,
            new_coupling,
        } => !pass.force && !changes(pass, row, coupling, dest, *new_coupling).0,
        _ => false,
    }
}

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
    let failed_before = coupling.last_result(pass.dir).0 == Some("failure");
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
        .fold(Vec::new(), |mut out, target| {
            // Two operations may write one column (one on create, one on update): once.
            if !out.contains(&target) {
                out.push(target);
            }
            out
        })
}

/// Both sides' values of the two-way fields that differ: the source's own column where the
/// field maps one column to another, else its expression with the value it computes.
fn differences(
    pass: &Pass<'_>,
    update: &Pending,
    dest: &Row,
    differing: &[&str],
) -> Vec<FieldDifference> {
    let json = |v: Option<&Value>| v.map_or(serde_json::Value::Null, Value::to_json);
    differing
        .iter()
        .filter_map(|target| {
            let op = base::two_way_op(pass, target)?;
            // A computed field is named by its expression, with the value it computes.
            let (src_field, src_value) = match &op.value {
                Expr::Col(c) => (c.clone(), update.row.fields.get(c)),
                other => (
                    crate::plan::display::expr(other, &[]),
                    update.fields.get(*target),
                ),
            };
            let (src, dst) = (
                (src_field, json(src_value)),
                (target.to_string(), json(dest.fields.get(*target))),
            );
            let ((left_field, left), (right_field, right)) = match pass.dir.source() {
                Side::Left => (src, dst),
                Side::Right => (dst, src),
            };
            Some(FieldDifference {
                left_field,
                left,
                right_field,
                right,
            })
        })
        .collect()
}

/// The deletion rule of a pass: the table's, unless a person settling the record by hand
/// (`syncmap resolve`) chose otherwise.
fn deletion_rule(pass: &Pass<'_>) -> DeleteRule {
    match pass.resolution {
        Some(Resolution::Restore) => DeleteRule::Restore,
        Some(Resolution::Delete) => DeleteRule::Propagate,
        Some(Resolution::Uncouple) => DeleteRule::Uncouple,
        _ => pass.table.on_delete,
    }
}

/// `left` or `right`, as `--left KEY` names a record.
pub(crate) fn side_word(side: Side) -> &'static str {
    match side {
        Side::Left => "left",
        Side::Right => "right",
    }
}

/// Whether the conflict rule lets this pass's side win (`None`: the rule is `fail`), and the
/// rule in words. A person settling the record by hand overrides the rule.
fn rule_says(pass: &Pass<'_>, row: &Row, dest: &Row) -> (Option<bool>, String) {
    if let Some(Resolution::Take(side)) = pass.resolution {
        let system = &pass.table.side(side).system;
        return (
            Some(side == pass.dir.source()),
            format!("overridden by hand: take {system}"),
        );
    }
    base::rule_outcome(pass, pass.table.on_conflict, row, dest)
}
