//! The `changes` check of a Dataverse system whose profile asks for its record of changes.

use super::{plural, Inputs, SystemReport};
use syncmap::connectors::odata::ODataConnector;
use syncmap::drift::UsedTable;

/// Which of the used tables Dataverse keeps a record of changes of (`changes = "tracking"`):
/// the others are read by modified-on, without their deletions.
pub(super) async fn changes(
    r: &mut SystemReport,
    conn: &ODataConnector,
    inputs: &Inputs,
    used: &[UsedTable],
) {
    let mut untracked = Vec::new();
    for t in used {
        let entity = inputs
            .plan
            .systems
            .get(&r.system)
            .and_then(|s| s.tables.get(&t.name))
            .and_then(|i| i.entity_type.clone())
            .unwrap_or_else(|| t.name.clone());
        match conn.tracks_changes_of(&entity).await {
            Ok(true) => {}
            Ok(false) => untracked.push(t.name.as_str()),
            Err(e) => {
                r.fail("changes", format!("`{}`: {e}", t.name));
                return;
            }
        }
    }
    if untracked.is_empty() {
        r.pass(
            "changes",
            format!(
                "Dataverse tracks the changes of the {} table{} the plan uses",
                used.len(),
                plural(used.len())
            ),
        );
    } else {
        r.pass(
            "changes",
            format!(
                "not tracked, so read by modified-on without their deletions: {}; turn on \"Track changes\" in the tables' settings",
                untracked.join(", ")
            ),
        );
    }
}
