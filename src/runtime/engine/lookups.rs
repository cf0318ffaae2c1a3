//! Lookups through other table mappings' couplings. The evaluator is synchronous and connectors
//! are not, so a batch is evaluated twice: first with a [`Collector`] that notes every lookup the
//! records need, then — after [`Resolver::resolve`] has fetched them all at once — with the
//! resolved cache. Fetching is set-based: the lookups of a batch that go the same way cost one
//! `find_many` (for `by` columns), one query of the store's couplings and one `get` (for `take`
//! columns), not a round of them per value. What a lookup through another table mapping found
//! is kept for the whole pass ([`PassCache`]): the pass changes neither that mapping's couplings
//! nor, for a key lookup, anything it reads. A lookup that found nothing is asked again by the
//! next batch, which may come after the row it needs was created.

use std::cell::RefCell;
use std::collections::HashMap;

use super::EngineError;
use crate::connectors::{Connector, TableRef};
use crate::plan::{self, Plan, Side};
use crate::runtime::eval::{EvalError, Lookups};
use crate::runtime::systems::Systems;
use crate::state::Store;
use crate::value::Value;

/// The way a lookup goes: through which mapping, from which side, by and to which columns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Route {
    via: String,
    from: Side,
    by: Option<String>,
    take: Option<String>,
}

impl Route {
    fn of(l: &plan::Lookup) -> Route {
        Route {
            via: l.via.clone(),
            from: l.from,
            by: l.by.clone(),
            take: l.take.clone(),
        }
    }
}

/// Identifies one lookup: its route and the value it looks up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct LookupKey {
    route: Route,
    value: String,
}

impl LookupKey {
    fn new(route: Route, value: &Value) -> LookupKey {
        LookupKey {
            route,
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
        match self.cache.get(&LookupKey::new(Route::of(l), value)) {
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

/// Successful lookups through other table mappings, kept for the whole pass.
#[derive(Default)]
pub(crate) struct PassCache(RefCell<HashMap<LookupKey, Value>>);

impl Resolver {
    /// Fetches every lookup not resolved yet, a group of alike lookups at a time; what the
    /// pass found before is taken from `kept`, and what it may keep goes there.
    pub async fn resolve(
        &mut self,
        wanted: Vec<(plan::Lookup, Value)>,
        (plan, systems, store): (&Plan, &Systems, &Store),
        (mapping, kept): (&str, &PassCache),
    ) -> Result<(), EngineError> {
        let mut groups: HashMap<Route, Vec<Value>> = HashMap::new();
        for (l, value) in wanted {
            let key = LookupKey::new(Route::of(&l), &value);
            if self.cache.contains_key(&key) {
                continue;
            }
            if let Some(v) = kept.0.borrow().get(&key) {
                self.cache.insert(key, Ok(v.clone()));
                continue;
            }
            // Asked for once however many records ask; answered below.
            self.cache.insert(key.clone(), Err(String::new()));
            groups.entry(key.route).or_default().push(value);
        }
        for (route, values) in groups {
            let results = resolve_group(&route, &values, plan, systems, store).await?;
            // A key lookup through another mapping stays true for the pass.
            let keep = route.via != mapping && route.take.is_none();
            for (value, result) in values.iter().zip(results) {
                let key = LookupKey::new(route.clone(), value);
                if let (true, Ok(v)) = (keep, &result) {
                    kept.0.borrow_mut().insert(key.clone(), v.clone());
                }
                self.cache.insert(key, result);
            }
        }
        Ok(())
    }
}

/// A side's system and table as the plan describes them.
pub(super) fn table_ref<'p>(
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

/// What a lookup has found so far: `Ok(None)` when it refers to nothing (the answer is null),
/// `Err(why)` when it cannot be resolved.
type Step = Result<Option<String>, String>;

/// The lookups of one route, one answer per value: `Ok(Err(msg))` for a value with no coupled
/// partner (the record fails or the field is cleared), `Err` only when the systems or the store
/// cannot be used at all.
async fn resolve_group(
    route: &Route,
    values: &[Value],
    plan: &Plan,
    systems: &Systems,
    store: &Store,
) -> Result<Vec<Result<Value, String>>, EngineError> {
    let via = plan.table(&route.via).ok_or_else(|| {
        EngineError::Plan(format!(
            "lookup through unknown table mapping `{}`",
            route.via
        ))
    })?;
    let keys = from_keys(route, values, (plan, via), systems).await?;
    let from: Vec<String> = keys
        .iter()
        .filter_map(|k| k.clone().ok().flatten())
        .collect();
    let couplings = store.couplings(&route.via, route.from, &from)?;
    let partners: Vec<Step> = keys
        .into_iter()
        .zip(values)
        .map(|(k, v)| match k? {
            None => Ok(None),
            Some(k) => match couplings.get(&k) {
                Some(c) => Ok(Some(c.key(route.from.other()).to_string())),
                None => Err(format!("{v} is not coupled through `{}` yet", route.via)),
            },
        })
        .collect();
    match &route.take {
        None => {
            let (_, partner_table) = table_ref(plan, via, route.from.other())?;
            Ok(partners
                .into_iter()
                .map(|p| p.map(|k| k.map_or(Value::Null, |k| partner_table.info.key_value(k))))
                .collect())
        }
        Some(column) => taken(route, column, partners, values, (plan, via), systems).await,
    }
}

/// The key on the `from` side each value stands for: the value itself, or the one row whose
/// `by` column holds it (all of the route's values asked for at once), never a row of another
/// company. An empty code refers to nothing, as a blank Code field does in Business Central.
async fn from_keys(
    route: &Route,
    values: &[Value],
    (plan, via): (&Plan, &plan::Table),
    systems: &Systems,
) -> Result<Vec<Step>, EngineError> {
    let mut keys: Vec<Step> = values
        .iter()
        .map(|v| match v {
            Value::String(t) if t.is_empty() => Ok(None),
            _ if route.by.is_some() => Ok(Some(String::new())),
            v => Ok(v.to_text()),
        })
        .collect();
    let Some(column) = &route.by else {
        return Ok(keys);
    };
    let (system, table) = table_ref(plan, via, route.from)?;
    let asked: Vec<usize> = (0..values.len())
        .filter(|i| matches!(keys[*i], Ok(Some(_))))
        .collect();
    let lookups: Vec<Vec<(String, Value)>> = asked
        .iter()
        .map(|i| vec![(column.clone(), values[*i].clone())])
        .collect();
    let found = systems
        .get(system)?
        .find_many(table, &lookups, false)
        .await
        .map_err(EngineError::from_connector)?;
    let side = via.side(route.from);
    for (i, mut rows) in asked.into_iter().zip(found) {
        rows.retain(|r| side.admits(&r.fields));
        keys[i] = the_one_row(table.name, column, &values[i], rows);
    }
    Ok(keys)
}

/// The `take` column of each partner row, read at once.
async fn taken(
    route: &Route,
    column: &str,
    partners: Vec<Step>,
    values: &[Value],
    (plan, via): (&Plan, &plan::Table),
    systems: &Systems,
) -> Result<Vec<Result<Value, String>>, EngineError> {
    let (system, table) = table_ref(plan, via, route.from.other())?;
    let wanted: Vec<String> = partners
        .iter()
        .filter_map(|p| p.clone().ok().flatten())
        .collect();
    let rows: HashMap<String, crate::connectors::Row> = systems
        .get(system)?
        .get(table, &wanted)
        .await
        .map_err(EngineError::from_connector)?
        .into_iter()
        .map(|r| (r.key.clone(), r))
        .collect();
    Ok(partners
        .into_iter()
        .zip(values)
        .map(|(p, v)| match p? {
            None => Ok(Value::Null),
            Some(k) => match rows.get(&k) {
                Some(row) => Ok(row.fields.get(column).cloned().unwrap_or(Value::Null)),
                None => Err(format!(
                    "the row `{k}` coupled to {v} through `{}` no longer exists",
                    route.via
                )),
            },
        })
        .collect())
}

/// The key of the one row among `rows` (those of `table` whose `column` holds `value`); why
/// not when none or several do.
fn the_one_row(
    table: &str,
    column: &str,
    value: &Value,
    rows: Vec<crate::connectors::Row>,
) -> Result<Option<String>, String> {
    match rows.len() {
        0 => Err(format!("no `{table}` row has {column} = {value}")),
        1 => Ok(rows.into_iter().next().map(|r| r.key)),
        n => Err(format!(
            "{n} `{table}` rows have {column} = {value}; the lookup needs exactly one"
        )),
    }
}
