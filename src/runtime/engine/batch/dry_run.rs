//! What a dry run reports instead of writing: each change with the destination's values
//! before and after, counted as the run would count it. A record settled by hand lists its
//! change the same way before it is written.

use super::execute::Planned;
use super::PendingKind;
use crate::connectors::WriteOp;
use crate::runtime::engine::report::{Change, FieldChange, PassReport};
use crate::runtime::engine::{Engine, Pass};

impl<'a> Engine<'a> {
    /// Lists what a dry run would do, with the destination's values before, and counts it.
    pub(super) fn report_dry(&self, pass: &Pass<'a>, p: &Planned, pr: &mut PassReport) {
        self.collect_write(pass, p);
        match (&p.pending.kind, &p.op) {
            (PendingKind::Create { .. }, Some(WriteOp::Create { .. })) => {
                pr.counts.inserted += 1;
                pr.counts.coupled += 1;
            }
            (PendingKind::Update { new_coupling, .. }, op) => {
                if *new_coupling {
                    pr.counts.coupled += 1;
                }
                match op {
                    Some(WriteOp::Update { .. }) => pr.counts.modified += 1,
                    _ => pr.counts.unchanged += 1,
                }
            }
            (PendingKind::DeleteSource { .. }, _) => {
                pr.counts.deleted += 1;
                pr.counts.uncoupled += 1;
            }
            _ => {}
        }
        self.list_planned(pass, p, pr);
    }

    /// Lists a planned write as a change, with the destination's values before.
    pub(super) fn list_planned(&self, pass: &Pass<'a>, p: &Planned, pr: &mut PassReport) {
        let (row, d) = (&p.pending.row, pass.dir.dest());
        match (&p.pending.kind, &p.op) {
            (PendingKind::Create { key, replaces }, Some(WriteOp::Create { fields, .. })) => {
                let fields = fields.iter().map(|(k, v)| FieldChange::new(k, None, v));
                let mut insert = Change::new("insert", &row.key, key.as_deref());
                insert.fields = fields.collect();
                insert.note = replaces
                    .as_ref()
                    .map(|c| format!("restores the deleted partner `{}`", c.key(d)));
                pr.change(insert);
            }
            (
                PendingKind::Update {
                    dest, new_coupling, ..
                },
                op,
            ) => {
                if *new_coupling {
                    pr.change(Change::new("couple", &row.key, Some(&dest.key)).note("matched"));
                }
                let Some(WriteOp::Update { fields, .. }) = op else {
                    return;
                };
                let fields = fields
                    .iter()
                    .map(|(k, v)| FieldChange::new(k, dest.fields.get(k), v));
                pr.change(
                    Change::new("update", &row.key, Some(&dest.key)).fields(fields.collect()),
                );
            }
            (PendingKind::DeleteSource { coupling }, _) => {
                let note = format!(
                    "its partner in {} was deleted; the deletion propagates to {}",
                    pass.dst.name, pass.src.name
                );
                pr.change(Change::new("delete", &row.key, Some(coupling.key(d))).note(note));
            }
            _ => {}
        }
    }
}
