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

/// FNV-1a, 64 bits: stable across versions and platforms (fingerprints are stored), and cheap,
/// since it runs for every two-way field of every row a sync writes.
fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A value's fingerprint: values the sync holds equal (`Value::same_as`) give equal
/// fingerprints — empty text and no value alike, a whole number and the decimal of it alike.
fn fingerprint(v: Option<&Value>) -> u64 {
    let tagged = |tag: u8, text: &str| fnv(std::iter::once(tag).chain(text.bytes()));
    match v {
        None | Some(Value::Absent | Value::Null) => fnv([0]),
        Some(Value::String(s)) if s.is_empty() => fnv([0]),
        Some(Value::String(s)) => tagged(1, s),
        Some(Value::Bool(b)) => fnv([2, u8::from(*b)]),
        Some(Value::Int(i)) => tagged(3, &i.to_string()),
        Some(Value::Decimal(d)) => tagged(3, &d.normalize().to_string()),
        Some(Value::Date(d)) => tagged(4, &d.to_string()),
        Some(Value::DateTime(t)) => tagged(5, &t.to_string()),
    }
}

/// The base of a coupling: per two-way field, the fingerprint of its two columns' names
/// (`left|right`: an edited plan keeps what it can and drops what it cannot) and of its left
/// and right values, 20 bytes a field.
type Base = Vec<(u32, u64, u64)>;

const ENTRY: usize = 20;

fn parse(base: Option<&[u8]>) -> Base {
    base.unwrap_or_default()
        .chunks_exact(ENTRY)
        .map(|e| {
            let word = |r: std::ops::Range<usize>| e.get(r).unwrap_or_default();
            let u32_at = |r| u32::from_le_bytes(word(r).try_into().unwrap_or_default());
            let u64_at = |r| u64::from_le_bytes(word(r).try_into().unwrap_or_default());
            (u32_at(0..4), u64_at(4..12), u64_at(12..20))
        })
        .collect()
}

fn encode(base: &Base) -> Vec<u8> {
    let mut out = Vec::with_capacity(base.len() * ENTRY);
    for (key, left, right) in base {
        out.extend(key.to_le_bytes());
        out.extend(left.to_le_bytes());
        out.extend(right.to_le_bytes());
    }
    out
}

fn entry(base: &Base, key: u32) -> Option<(u64, u64)> {
    base.iter().find(|e| e.0 == key).map(|e| (e.1, e.2))
}

/// A two-way field of a pass as the base knows it: the column it writes, its key in the base
/// and the source's own column (what the reverse pass writes for the same field mapping,
/// whatever lookup or value map carries the value between them). Worked out once per pass:
/// the base is written for every record a two-way sync writes.
pub(crate) struct BaseField<'p> {
    /// The field mapping's id: two field mappings may write one column in different phases.
    id: &'p str,
    target: &'p str,
    key: u32,
    source: &'p str,
}

/// The two-way fields of a pass, in the order of its operations.
pub(crate) fn base_fields<'p>(
    table: &'p crate::plan::Table,
    dir: crate::state::Direction,
    ops: impl Iterator<Item = &'p FieldOp>,
) -> Vec<BaseField<'p>> {
    let Some(reverse) = table.pass_to(dir.source()) else {
        return Vec::new();
    };
    ops.filter(|op| op.two_way)
        .filter_map(|op| {
            let source = reverse
                .ops
                .iter()
                .find(|o| o.two_way && o.id == op.id)?
                .target
                .as_str();
            let (left, right) = match dir.source() {
                Side::Left => (source, op.target.as_str()),
                Side::Right => (op.target.as_str(), source),
            };
            let bytes = left.bytes().chain([b'|']).chain(right.bytes());
            Some(BaseField {
                id: &op.id,
                target: &op.target,
                key: (fnv(bytes) & 0xffff_ffff) as u32,
                source,
            })
        })
        .collect()
}

/// The key of a two-way field in the base, and its source column.
fn field_key<'p>(pass: &'p Pass<'_>, op: &FieldOp) -> Option<(u32, &'p str)> {
    pass.base_fields
        .iter()
        .find(|f| f.id == op.id)
        .map(|f| (f.key, f.source))
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
    let (left, right) = entry(base, key)?;
    let (src_was, dst_was) = match pass.dir.source() {
        Side::Left => (left, right),
        Side::Right => (right, left),
    };
    let src_now = fingerprint(row.fields.get(src));
    let dst_now = fingerprint(dest.fields.get(&op.target));
    Some((src_now != src_was, dst_now != dst_was))
}

/// The base after a pass synced the pair: each two-way field it wrote or found equal now holds
/// the same value on both sides; the others (left to the other side) keep their entry.
pub(crate) fn synced_base(
    pass: &Pass<'_>,
    old: Option<&[u8]>,
    row: &Row,
    fields: &BTreeMap<String, Value>,
) -> Option<Vec<u8>> {
    // A one-way mapping never meets a conflict: it keeps no base.
    if pass.table.flow != crate::plan::Flow::Both {
        return None;
    }
    let mut base = parse(old);
    for f in &pass.base_fields {
        let Some(dst) = fields.get(f.target) else {
            continue;
        };
        let key = f.key;
        let src = fingerprint(row.fields.get(f.source));
        let dst = fingerprint(Some(dst));
        let (left, right) = match pass.dir.source() {
            Side::Left => (src, dst),
            Side::Right => (dst, src),
        };
        match base.iter_mut().find(|e| e.0 == key) {
            Some(e) => *e = (key, left, right),
            None => base.push((key, left, right)),
        }
    }
    Some(encode(&base))
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
    coupling_base: Option<&[u8]>,
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
                    rule_outcome(pass, rule, &update.row, dest).0
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

/// What a conflict rule says of this pass's side (`None`: `fail`), and the rule in words.
pub(super) fn rule_outcome(
    pass: &Pass<'_>,
    rule: ConflictRule,
    row: &Row,
    dest: &Row,
) -> (Option<bool>, String) {
    match rule {
        ConflictRule::Prefer(side) => (
            Some(side == pass.dir.source()),
            format!("prefer {}", pass.table.side(side).system),
        ),
        ConflictRule::Newest => (
            Some(row.modified_on >= dest.modified_on),
            "newest".to_string(),
        ),
        ConflictRule::Fail => (None, "fail".to_string()),
    }
}
