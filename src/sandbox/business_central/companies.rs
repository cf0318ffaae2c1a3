//! Business Central's `companies` entity set, which the service serves from its fixed list
//! rather than from the store.

use serde_json::{json, Map, Value as Json};

use crate::value::Value;

use super::{error, query_error, Bc, Company};
use crate::sandbox::codec::{self, Numbers};
use crate::sandbox::collection::EVAL;
use crate::sandbox::query::{eval_filter_with, parse_query, Query, QueryError};
use crate::sandbox::request::{Req, Resp};

/// The entity type `$select` and `$filter` name.
const COMPANY_TYPE: &str = "Microsoft.NAV.company";

impl Bc {
    /// `GET companies` or `GET companies(id)`.
    pub(super) fn list_companies(&self, req: &Req, root: &str, id: Option<&str>) -> Resp {
        let q = match parse_query(&req.query) {
            Ok(q) => q,
            Err(e) => return query_error(e),
        };
        let context = format!("{}{root}/$metadata#companies", req.origin);
        match id {
            Some(id) => self.one_company(&q, &context, id),
            None => self.all_companies(&q, &context),
        }
    }

    fn one_company(&self, q: &Query, context: &str, id: &str) -> Resp {
        let Some(c) = self.company(id) else {
            return error(
                404,
                "BadRequest_NotFound",
                &format!("The company '{id}' does not exist."),
            );
        };
        match company_json(c, q) {
            Ok(mut m) => {
                m.insert(
                    "@odata.context".into(),
                    Json::String(format!("{context}/$entity")),
                );
                Resp::json(200, &Json::Object(m))
            }
            Err(e) => query_error(e),
        }
    }

    fn all_companies(&self, q: &Query, context: &str) -> Resp {
        let mut rows = Vec::new();
        for c in &self.companies {
            if let Some(f) = &q.filter {
                let all = company_fields(c);
                let lookup = |n: &str| all.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
                match eval_filter_with(f, &lookup, &EVAL) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => return query_error(e.in_type(COMPANY_TYPE)),
                }
            }
            match company_json(c, q) {
                Ok(m) => rows.push(Json::Object(m)),
                Err(e) => return query_error(e),
            }
        }
        Resp::json(200, &json!({"@odata.context": context, "value": rows}))
    }
}

/// A company's properties as Business Central shows them.
fn company_fields(c: &Company) -> Vec<(&'static str, Value)> {
    vec![
        ("id", Value::String(c.id.clone())),
        ("systemVersion", Value::String("26.0.30643.32481".into())),
        ("timestamp", Value::Int(1)),
        ("name", Value::String(c.name.clone())),
        ("displayName", Value::String(c.display_name.clone())),
        ("businessProfileId", Value::String(String::new())),
        (
            "systemCreatedAt",
            Value::String("2024-01-01T00:00:00Z".into()),
        ),
    ]
}

/// A company as JSON, with the properties `$select` names.
fn company_json(c: &Company, q: &Query) -> Result<Map<String, Json>, QueryError> {
    let f = company_fields(c);
    for s in q.select.iter().flatten() {
        if !f.iter().any(|(n, _)| n == s) {
            return Err(QueryError::unknown_property(s, Some(COMPANY_TYPE)));
        }
    }
    let mut out = Map::new();
    for (n, v) in &f {
        if q.select.as_ref().is_none_or(|s| s.iter().any(|x| x == n)) {
            out.insert((*n).to_string(), codec::write(v, Numbers::default()));
        }
    }
    Ok(out)
}
