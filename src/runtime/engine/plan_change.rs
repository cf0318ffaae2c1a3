//! A plan that writes fields its last full sync did not: a modified-only run fills them in only
//! for records that change, so every other record lacks them until a full sync. The run says
//! so, naming the fields and the command, instead of leaving a silent gap.

use std::collections::BTreeSet;

use super::{Engine, EngineError};
use crate::plan::{self, Phase, Plan, Side};

impl Engine<'_> {
    /// Keeps the plan of a run that writes and, for a modified-only one, says which table
    /// mappings write fields their last full sync did not.
    pub(crate) fn plan_notes(
        &self,
        tables: &[&plan::Table],
        mode: super::Mode,
    ) -> Result<Vec<String>, EngineError> {
        if self.dry_run {
            return Ok(Vec::new());
        }
        self.keep_plan()?;
        if mode == super::Mode::Modified {
            self.plan_change_hints(tables)
        } else {
            Ok(Vec::new())
        }
    }

    /// Keeps the plan this run runs, for later runs to compare with.
    fn keep_plan(&self) -> Result<(), EngineError> {
        let text = serde_json::to_string(self.plan.as_compiled())
            .map_err(|e| EngineError::Plan(format!("cannot store the plan: {e}")))?;
        Ok(self.store.save_plan(&self.plan.digest, &text)?)
    }

    /// One hint per table mapping of `tables` whose plan writes fields the last full sync of it
    /// did not (none for a table never fully synced, or synced before plans were kept).
    fn plan_change_hints(&self, tables: &[&plan::Table]) -> Result<Vec<String>, EngineError> {
        let mut out = Vec::new();
        // Compared as compiled: a company's own field is no field the user added.
        let compiled = self.plan.as_compiled();
        for t in tables.iter().filter_map(|t| compiled.table(&t.name)) {
            let Some((run, text)) = self.store.last_full_sync(&t.name, self.run)? else {
                continue;
            };
            // A plan the store kept but this syncmap cannot read says nothing about fields.
            let Ok(before) = serde_json::from_str::<Plan>(&text) else {
                continue;
            };
            let Some(old) = before.table(&t.name) else {
                continue;
            };
            let added: Vec<String> = [(Side::Left, Side::Right), (Side::Right, Side::Left)]
                .into_iter()
                .filter_map(|(from, to)| {
                    let new = updated_fields(t.pass_to(to))
                        .difference(&updated_fields(old.pass_to(to)))
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>();
                    (!new.is_empty()).then(|| {
                        format!(
                            "{} → {} {}",
                            t.side(from).system,
                            t.side(to).system,
                            new.join(", ")
                        )
                    })
                })
                .collect();
            if !added.is_empty() {
                out.push(format!(
                    "`{}` writes fields its last full sync (run {run}) did not: {}; records that do not change get them only from a full sync: `syncmap run --mode full --table {}`",
                    t.name,
                    added.join("; "),
                    t.name
                ));
            }
        }
        Ok(out)
    }
}

/// The columns a pass writes to rows that already exist (create-only fields reach only new rows,
/// so a new one leaves nothing to fill in).
fn updated_fields(pass: Option<&plan::Pass>) -> BTreeSet<&str> {
    pass.into_iter()
        .flat_map(|p| &p.ops)
        .filter(|op| op.phase != Phase::Create)
        .map(|op| op.target.as_str())
        .collect()
}
