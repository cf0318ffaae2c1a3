//! Field-level merging: what each two-way field held on each side when the pair last synced
//! (the coupling's base, as fingerprints), so a record both sides changed since is settled
//! field by field. A field only one side changed takes that side's value whatever the rules
//! say; only a field both sides changed (or one the base does not know) goes to its rule —
//! its own (`[on conflict: …]`), else the table's. So a phone number changed in one system and
//! a credit limit in the other both survive.

use std::collections::BTreeMap;

use super::{Pending, PendingKind};
use crate::connectors::Row;
use crate::plan::{ConflictRule, FieldOp, Phase, Side};
use crate::runtime::engine::report::{Change, PassReport};
use crate::runtime::engine::{Engine, EngineError, Pass};
use crate::value::Value;

/// A value's fingerprint: equal values (in a system's own terms) give equal fingerprints. FNV-1a
/// over the value's canonical JSON: stable across versions and platforms (it is stored), and
/// cheap, since it runs for every two-way field of every row a sync writes.
fn fingerprint(v: Option<&Value>) -> String {
    // Empty text is no value, as the sync compares them (`Value::same_as`): a system that
    // stores one as the other does not change the field.
    let v = v.filter(|v| !matches!(v, Value::String(s) if s.is_empty()));
    let text = v
        .map_or(serde_json::Value::Null, Value::to_json)
        .to_string();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The base of a coupling: a two-way field, by its two columns (`left|right`), → the
/// fingerprints of its left and right values. Keyed by the columns, not by the field mapping's
/// place in its file, so an edited plan keeps what it can and drops what it cannot.
type Base = BTreeMap<String, [String; 2]>;

fn parse(base: Option<&str>) -> Base {
    base.and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default()
}

/// The source's own column of a two-way field: what the reverse pass writes for the same
/// field mapping (whatever lookup or value map carries the value between them).
fn source_column<'p>(pass: &'p Pass<'_>, op: &FieldOp) -> Option<&'p str> {
    let reverse = pass.table.pass_to(pass.dir.source())?;
    reverse
        .ops
        .iter()
        .find(|o| o.two_way && o.id == op.id)
        .map(|o| o.target.as_str())
}

/// The key of a two-way field in the base, and its source column.
fn field_key<'p>(pass: &'p Pass<'_>, op: &FieldOp) -> Option<(String, &'p str)> {
    let src = source_column(pass, op)?;
    let key = match pass.dir.source() {
        Side::Left => format!("{src}|{}", op.target),
        Side::Right => format!("{}|{src}", op.target),
    };
    Some((key, src))
}

/// The operation of a two-way field that an update writes.
pub(super) fn two_way_op<'p>(pass: &'p Pass<'_>, target: &str) -> Option<&'p FieldOp> {
    pass.ops
        .iter()
        .map(|(op, _)| *op)
        .find(|op| op.two_way && op.target == target && op.phase != Phase::Create)
}

/// Whether each side changed a field since the base: (this pass's source, its destination);
/// `None` when the base does not know the field.
fn who_changed(
    pass: &Pass<'_>,
    base: &Base,
    op: &FieldOp,
    row: &Row,
    dest: &Row,
) -> Option<(bool, bool)> {
    let (key, src) = field_key(pass, op)?;
    let [left, right] = base.get(&key)?;
    let (src_was, dst_was) = match pass.dir.source() {
        Side::Left => (left, right),
        Side::Right => (right, left),
    };
    let src_now = fingerprint(row.fields.get(src));
    let dst_now = fingerprint(dest.fields.get(&op.target));
    Some((&src_now != src_was, &dst_now != dst_was))
}

/// The base after a pass synced the pair: each two-way field it wrote or found equal now holds
/// the same value on both sides; the others (left to the other side) keep their entry.
pub(crate) fn synced_base(
    pass: &Pass<'_>,
    old: Option<&str>,
    row: &Row,
    fields: &BTreeMap<String, Value>,
) -> Option<String> {
    // A one-way mapping never meets a conflict: it keeps no base.
    if pass.table.flow != crate::plan::Flow::Both {
        return None;
    }
    let mut base = parse(old);
    for (op, _) in pass.ops.iter().filter(|(op, _)| op.two_way) {
        let (Some(dst), Some((key, src))) = (fields.get(&op.target), field_key(pass, op)) else {
            continue;
        };
        let src = fingerprint(row.fields.get(src));
        let dst = fingerprint(Some(dst));
        let entry = match pass.dir.source() {
            Side::Left => [src, dst],
            Side::Right => [dst, src],
        };
        base.insert(key, entry);
    }
    serde_json::to_string(&base).ok()
}

/// Whether this pass's side wins a differing field under a rule (`None`: `fail`).
fn rule_wins(pass: &Pass<'_>, rule: ConflictRule, row: &Row, dest: &Row) -> Option<bool> {
    match rule {
        ConflictRule::Prefer(side) => Some(side == pass.dir.source()),
        ConflictRule::Newest => Some(row.modified_on >= dest.modified_on),
        ConflictRule::Fail => None,
    }
}

/// How a conflict's differing fields were settled.
#[derive(Default)]
struct Settled<'p> {
    /// Written from this side: it alone changed them, or their rule prefers it.
    kept: Vec<&'p str>,
    /// Left to the other side.
    given: Vec<&'p str>,
    /// Their rule is `fail`.
    failing: Vec<&'p str>,
    /// Whether any field both sides changed (or one the base did not know) went to a rule.
    ruled: bool,
}

/// Whether a conflict is settled field by field: a differing field has a rule of its own, or
/// the base shows each differing field changed on one side only (the sides changed different
/// fields: no field is in conflict). Otherwise the table's rule settles the whole record.
pub(super) fn by_field(
    pass: &Pass<'_>,
    coupling_base: Option<&str>,
    (row, dest): (&Row, &Row),
    differing: &[&str],
) -> bool {
    let base = parse(coupling_base);
    let ops: Vec<&FieldOp> = differing
        .iter()
        .filter_map(|f| two_way_op(pass, f))
        .collect();
    let own_rule = ops.iter().any(|op| op.on_conflict.is_some());
    let one_sided = ops
        .iter()
        .all(|op| who_changed(pass, &base, op, row, dest).is_some_and(|(src, dst)| !(src && dst)));
    own_rule || (!ops.is_empty() && one_sided)
}

impl<'a> Engine<'a> {
    /// Settles a conflict field by field; true when the (narrowed) write goes ahead.
    pub(super) fn merge<'p>(
        &self,
        pass: &'p Pass<'a>,
        update: &mut Pending,
        differing: &[&'p str],
        pr: &mut PassReport,
    ) -> Result<bool, EngineError> {
        let PendingKind::Update { coupling, dest, .. } = &update.kind else {
            return Ok(true);
        };
        let base = parse(coupling.base.as_deref());
        let mut s = Settled::default();
        for &f in differing {
            let Some(op) = two_way_op(pass, f) else {
                continue;
            };
            let wins = match who_changed(pass, &base, op, &update.row, dest) {
                Some((true, false)) => Some(true),
                // Changed by the other side, or by neither (the two hold forms of one value a
                // mapping cannot tell apart, as a text cut to fit): this side leaves it.
                Some((false, _)) => Some(false),
                _ => {
                    s.ruled = true;
                    let rule = op.on_conflict.unwrap_or(pass.table.on_conflict);
                    rule_wins(pass, rule, &update.row, dest)
                }
            };
            match wins {
                Some(true) => s.kept.push(f),
                Some(false) => s.given.push(f),
                None => s.failing.push(f),
            }
        }
        if !s.failing.is_empty() {
            pr.counts.conflicts += 1;
            let text = listed(&s.failing);
            let note = format!("both sides changed; {text} differ; its rule is `fail`: the record fails until resolved by hand");
            let keys = (update.row.key.as_str(), Some(dest.key.as_str()));
            if !self.dry_run {
                self.event(self.store, pass, "conflict", (Some(keys.0), keys.1), &note)?;
            }
            pr.change(Change::new("conflict", keys.0, keys.1).note(&note));
            self.fail_conflict(pass, update, dest, (&text, differing), pr)?;
            return Ok(false);
        }
        self.note_merge(pass, update, &s, pr)?;
        for f in s.given {
            update.fields.remove(f);
        }
        Ok(true)
    }

    /// Lists a merge (and logs it as a conflict when a field both sides changed went to a
    /// rule).
    fn note_merge(
        &self,
        pass: &Pass<'a>,
        update: &Pending,
        s: &Settled<'_>,
        pr: &mut PassReport,
    ) -> Result<(), EngineError> {
        let PendingKind::Update { dest, .. } = &update.kind else {
            return Ok(());
        };
        let or_nothing = |fs: &[&str]| {
            if fs.is_empty() {
                "nothing".into()
            } else {
                listed(fs)
            }
        };
        let note = format!(
            "both sides changed; merged field by field: {} from {}, {} from {}",
            or_nothing(&s.kept),
            pass.src_system,
            or_nothing(&s.given),
            pass.dst_system
        );
        let keys = (update.row.key.as_str(), Some(dest.key.as_str()));
        if s.ruled {
            pr.counts.conflicts += 1;
            if !self.dry_run {
                self.event(self.store, pass, "conflict", (Some(keys.0), keys.1), &note)?;
            }
        }
        pr.change(Change::new("merge", keys.0, keys.1).note(&note));
        Ok(())
    }
}

fn listed(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
