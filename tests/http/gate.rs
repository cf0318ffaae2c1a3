//! The write gate on the wire: a run that may have lost its lease of the state store sends
//! no write, whether the gate shut before the request was let go or only before its body left.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use syncmap::connectors::{Connector, ConnectorError, TableRef, WriteGate, WriteOp};
use syncmap::plan::Plan;
use syncmap::sandbox::Seed;
use syncmap::value::Value;

use super::{connector, text, Env};

/// Business Central's customers, as the plan knows them.
fn customers(plan: &Plan) -> TableRef<'_> {
    TableRef {
        name: "customers",
        info: &plan.systems["bc"].tables["customers"],
    }
}

/// A run that may have lost its lease of the state store sends no write, even one already
/// waiting for its turn: the connector asks the gate right before each write leaves.
#[test]
fn a_shut_write_gate_sends_no_write_and_reads_still_go() {
    let env = Env::start(Seed::Demo, |_| {});
    let (c, plan) = connector(&env, "bc");
    let t = customers(&plan);
    let info = t.info;
    let rows = env.rows(false, "customers");
    let key = text(&rows[0], &info.key);
    let shut: WriteGate = Arc::new(|| false);
    c.client().set_write_gate(Some(shut));
    let writes = env.sandbox().control().writes();
    let mut fields = std::collections::BTreeMap::new();
    fields.insert(
        "phoneNumber".to_string(),
        Value::String("never written".into()),
    );
    let update = WriteOp::Update {
        key: key.clone(),
        etag: None,
        fields,
    };
    let outcome = env.rt.block_on(c.write(t, std::slice::from_ref(&update)));
    assert!(
        matches!(&outcome[0], Err(ConnectorError::Fatal(m)) if m.contains("lease")),
        "{outcome:?}"
    );
    assert_eq!(env.sandbox().control().writes(), writes, "nothing was sent");
    let read = env
        .rt
        .block_on(c.get(t, std::slice::from_ref(&key)))
        .unwrap();
    assert_ne!(
        read[0].fields["phoneNumber"],
        Value::String("never written".into())
    );
    // Open again: the same write goes.
    c.client().set_write_gate(None);
    let outcome = env.rt.block_on(c.write(t, &[update]));
    assert!(outcome[0].is_ok(), "{outcome:?}");
    assert_eq!(env.sandbox().control().writes(), writes + 1);
}

/// A gate that shuts after a write was let go but before its connection sends its body (a
/// holder frozen in between wakes past its lease): the service gets no write to carry out, and
/// a create whose key Business Central would choose is not made.
#[test]
fn a_write_gate_shut_before_the_body_leaves_sends_nothing_to_carry_out() {
    let env = Env::start(Seed::Demo, |_| {});
    let (c, plan) = connector(&env, "bc");
    let t = customers(&plan);
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    // Open when the request is let go (the first question), shut when its body is taken.
    let gate: WriteGate = Arc::new(move || counter.fetch_add(1, Ordering::SeqCst) == 0);
    c.client().set_write_gate(Some(gate));
    let (writes, customers) = (
        env.sandbox().control().writes(),
        env.rows(false, "customers").len(),
    );
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("displayName".to_string(), Value::String("Late".into()));
    let create = WriteOp::Create { key: None, fields };
    let outcome = env.rt.block_on(c.write(t, &[create]));
    assert!(
        matches!(&outcome[0], Err(ConnectorError::Fatal(m)) if m.contains("lease")),
        "{outcome:?}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert_eq!(
        env.sandbox().control().writes(),
        writes,
        "nothing carried out"
    );
    assert_eq!(env.rows(false, "customers").len(), customers);
}
