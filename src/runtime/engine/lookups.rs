//! Lookups through other table mappings' couplings. The evaluator is synchronous and connectors
//! are not, so a batch is evaluated twice: first with a [`Collector`] that notes every lookup the
//! records need, then — after [`Resolver::resolve`] has fetched them all at once — with the
//! resolved cache.

use std::cell::RefCell;
use std::collections::HashMap;

use super::EngineError;
use crate::connectors::{Connector, TableRef};
use crate::plan::{self, Plan, Side};
use crate::runtime::eval::{EvalError, Lookups};
use crate::runtime::systems::{AnyConnector, Systems};
use crate::state::Store;
use crate::value::Value;

/// Identifies one lookup: through which mapping, from which side, by and to which columns, of
/// which value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct LookupKey {
    via: String,
    from: Side,
    by: Option<String>,
    take: Option<String>,
    value: String,
}

impl LookupKey {
    fn new(l: &plan::Lookup, value: &Value) -> LookupKey {
        LookupKey {
            via: l.via.clone(),
            from: l.from,
            by: l.by.clone(),
            take: l.take.clone(),
            value: value.to_text().unwrap_or_default(),
        }
    }
}

/// Notes the lookups a first evaluation asks for.
#[derive(Default)]
pub(super) struct Collector {
    pub wanted: RefCell<Vec<(plan::Lookup, Value)>>,
}

impl Lookups for Collector {
    fn lookup(&self, l: &plan::Lookup, value: &Value) -> Result<Value, EvalError> {
        self.wanted.borrow_mut().push((l.clone(), value.clone()));
        Err(EvalError::Lookup {
            via: l.via.clone(),
            message: "not resolved yet".into(),
        })
    }
}

/// Answers lookups from what [`Resolver::resolve`] fetched.
#[derive(Default)]
pub(super) struct Resolver {
    cache: HashMap<LookupKey, Result<Value, String>>,
}

impl Lookups for Resolver {
    fn lookup(&self, l: &plan::Lookup, value: &Value) -> Result<Value, EvalError> {
        match self.cache.get(&LookupKey::new(l, value)) {
            Some(Ok(v)) => Ok(v.clone()),
            Some(Err(message)) => Err(EvalError::Lookup {
                via: l.via.clone(),
                message: message.clone(),
            }),
            None => Err(EvalError::LookupNotFound {
                via: l.via.clone(),
                value: value.to_string(),
            }),
        }
    }
}

impl Resolver {
    /// Fetches every lookup not resolved yet.
    pub async fn resolve(
        &mut self,
        wanted: Vec<(plan::Lookup, Value)>,
        plan: &Plan,
        systems: &Systems,
        store: &Store,
    ) -> Result<(), EngineError> {
        for (l, value) in wanted {
            let key = LookupKey::new(&l, &value);
            if self.cache.contains_key(&key) {
                continue;
            }
            let result = resolve_one(&l, &value, plan, systems, store).await?;
            self.cache.insert(key, result);
        }
        Ok(())
    }
}

fn table_ref<'p>(
    plan: &'p Plan,
    t: &'p plan::Table,
    side: Side,
) -> Result<(&'p str, TableRef<'p>), EngineError> {
    let s = t.side(side);
    let info = plan
        .systems
        .get(&s.system)
        .and_then(|sys| sys.tables.get(&s.table))
        .ok_or_else(|| {
            EngineError::Plan(format!(
                "the plan does not describe table `{}.{}`",
                s.system, s.table
            ))
        })?;
    Ok((
        s.system.as_str(),
        TableRef {
            name: &s.table,
            info,
        },
    ))
}

/// The key of the one row of `table` whose `column` holds `value`; `Ok(Err(why))` when none
/// or several do.
async fn key_by_column(
    conn: &AnyConnector,
    table: TableRef<'_>,
    column: &str,
    value: &Value,
) -> Result<Result<String, String>, EngineError> {
    let rows = conn
        .find(table, &[(column.to_string(), value.clone())], false)
        .await
        .map_err(EngineError::from_connector)?;
    let shown = value.to_string();
    Ok(match rows.len() {
        0 => Err(format!("no `{}` row has {column} = {shown}", table.name)),
        1 => Ok(rows[0].key.clone()),
        n => Err(format!(
            "{n} `{}` rows have {column} = {shown}; the lookup needs exactly one",
            table.name
        )),
    })
}

/// One lookup: `Ok(Err(msg))` when the value has no coupled partner (the record fails or the
/// field is cleared), `Err` only when the systems or the store cannot be used at all.
async fn resolve_one(
    l: &plan::Lookup,
    value: &Value,
    plan: &Plan,
    systems: &Systems,
    store: &Store,
) -> Result<Result<Value, String>, EngineError> {
    // An empty code refers to nothing, as a blank Code field does in Business Central.
    if matches!(value, Value::String(t) if t.is_empty()) {
        return Ok(Ok(Value::Null));
    }
    let via = plan.table(&l.via).ok_or_else(|| {
        EngineError::Plan(format!("lookup through unknown table mapping `{}`", l.via))
    })?;
    let shown = value.to_string();
    let key = match &l.by {
        Some(column) => {
            let (system, table) = table_ref(plan, via, l.from)?;
            match key_by_column(systems.get(system)?, table, column, value).await? {
                Ok(key) => key,
                Err(why) => return Ok(Err(why)),
            }
        }
        None => match value.to_text() {
            Some(k) => k,
            None => return Ok(Ok(Value::Null)),
        },
    };
    let Some(coupling) = store.coupling(&l.via, l.from, &key)? else {
        return Ok(Err(format!(
            "{shown} is not coupled through `{}` yet",
            l.via
        )));
    };
    let other = coupling.key(l.from.other()).to_string();
    match &l.take {
        None => Ok(Ok(Value::String(other))),
        Some(column) => {
            let (system, table) = table_ref(plan, via, l.from.other())?;
            let conn = systems.get(system)?;
            let rows = conn
                .get(table, std::slice::from_ref(&other))
                .await
                .map_err(EngineError::from_connector)?;
            match rows.into_iter().next() {
                Some(row) => Ok(Ok(row.fields.get(column).cloned().unwrap_or(Value::Null))),
                None => Ok(Err(format!(
                    "the row `{other}` coupled to {shown} through `{}` no longer exists",
                    l.via
                ))),
            }
        }
    }
}
