//! Reads: pages of a table in the order the engine's cursor needs, rows by key, rows by column
//! values. The plan's `$filter` is sent as it is; a modified-since read asks for `ge` the cursor's
//! instant and drops the rows at or before the cursor itself, so ties on the instant are neither
//! lost nor read twice.

use futures_util::future::join_all;
use serde_json::Value as Json;

use super::client::Request;
use super::failure::without_query;
use super::flavor::Flavor;
use super::paging;
use super::rows;
use super::ODataConnector;
use crate::connectors::{row_matches, ConnectorError, Page, ReadRequest, Row, TableRef};
use crate::cursor::Cursor;
use crate::odata::literal;
use crate::value::ColumnKind;
use crate::value::Value;

/// Keys asked for in one request (each adds a clause to the URL).
const KEYS_PER_REQUEST: usize = 40;
/// The longest `$filter` of lookups sent in one request: URLs stay under the 2,048 characters of
/// query string that some gateways (IIS by default) accept.
const LOOKUP_FILTER_CHARS: usize = 1500;

/// One page of a read.
pub async fn page(
    c: &ODataConnector,
    req: &ReadRequest<'_>,
    continuation: Option<&str>,
) -> Result<Page, ConnectorError> {
    let url = match continuation {
        // The engine hands back what this function returned: already resolved and checked.
        Some(next) => next.to_string(),
        None => read_url(c, req, None).await?,
    };
    let (mut rows, mut next) = fetch(c, req.table, &url, req.page_size).await?;
    // A next link by offset (`$skip=N`) loses a row whenever a row before the offset leaves
    // the order between two pages (modified, so it moves to the end of a modified-since read,
    // or deleted), and repeats one when a row enters before it. Such pages are continued by
    // keyset instead: the same read, after the last row of this page.
    if next.as_deref().is_some_and(paging::by_offset) {
        if let Some(last) = rows.last() {
            if req.since.is_none() || last.modified_on.is_some() {
                next = Some(read_url(c, req, Some(last)).await?);
            }
        }
    }
    if let Some(since) = &req.since {
        rows.retain(|r| match r.modified_on {
            Some(m) => {
                Cursor {
                    modified_on: m,
                    key: r.key.clone(),
                } > *since
            }
            None => true,
        });
    }
    Ok(Page {
        rows,
        next,
        ..Page::default()
    })
}

/// The URL of a read in the order the engine's cursor needs: modified-on then key for a
/// modified-since read, key alone otherwise; with `after`, only the rows after that one.
async fn read_url(
    c: &ODataConnector,
    req: &ReadRequest<'_>,
    after: Option<&Row>,
) -> Result<String, ConnectorError> {
    let info = req.table.info;
    let key_ty = info
        .columns
        .get(&info.key)
        .map_or(ColumnKind::Guid, |c| c.ty);
    let mut filters: Vec<String> = Vec::new();
    if let Some(f) = req.filter.and_then(|f| f.odata.as_deref()) {
        filters.push(format!("({f})"));
    }
    let mut order = vec![format!("{} asc", info.key)];
    let datetime =
        |t| literal::value(&Value::DateTime(t), ColumnKind::Datetime).unwrap_or_default();
    let after_key = after.and_then(|r| literal::value(&Value::String(r.key.clone()), key_ty));
    match (&req.since, &info.modified_on) {
        (Some(since), Some(m)) => {
            // Every changed row is read, the sync's own writes too: the engine tells its
            // echoes by the versions it recorded, so a row someone changed before the sync
            // wrote to it is never hidden (as a `_modifiedby_value ne` filter would hide it).
            filters.push(format!("{m} ge {}", datetime(since.modified_on)));
            order.insert(0, format!("{m} asc"));
            if let (Some(key), Some(at)) = (after_key, after.and_then(|r| r.modified_on)) {
                let at = datetime(at);
                let k = &info.key;
                filters.push(format!("({m} gt {at} or ({m} eq {at} and {k} gt {key}))"));
            }
        }
        _ => {
            if let Some(key) = after_key {
                filters.push(format!("{} gt {key}", info.key));
            }
        }
    }
    let mut options = vec![("$select", select(c, req.table))];
    let filter = filters.join(" and ");
    if !filter.is_empty() {
        options.push(("$filter", filter));
    }
    options.push(("$orderby", order.join(",")));
    let options: Vec<(&str, &str)> = options.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(format!(
        "{}?{}",
        c.collection(req.table.name).await?,
        literal::query(&options)
    ))
}

/// The rows with these keys.
pub async fn by_keys(
    c: &ODataConnector,
    table: TableRef<'_>,
    keys: &[String],
) -> Result<Vec<Row>, ConnectorError> {
    let ty = table
        .info
        .columns
        .get(&table.info.key)
        .map_or(ColumnKind::Guid, |c| c.ty);
    // The chunks are asked for side by side, as many at once as the client lets in flight.
    let reads = keys.chunks(KEYS_PER_REQUEST).map(|chunk| {
        let clauses: Vec<String> = chunk
            .iter()
            .filter_map(|k| literal::value(&Value::String(k.clone()), ty))
            .map(|lit| format!("{} eq {lit}", table.info.key))
            .collect();
        async move { all_pages(c, table, &clauses.join(" or ")).await }
    });
    let mut out = Vec::with_capacity(keys.len());
    for rows in join_all(reads).await {
        out.extend(rows?);
    }
    Ok(out)
}

/// The rows whose columns equal these values.
pub async fn find(
    c: &ODataConnector,
    table: TableRef<'_>,
    equal: &[(String, Value)],
    ignore_case: bool,
) -> Result<Vec<Row>, ConnectorError> {
    match lookup_filter(c, table, equal, ignore_case) {
        Some(filter) => all_pages(c, table, &filter).await,
        None => Ok(Vec::new()),
    }
}

/// The rows of several lookups: their filters joined by `or`, as many in a request as fit in
/// [`LOOKUP_FILTER_CHARS`], and each row handed to the lookups it answers.
pub async fn find_many(
    c: &ODataConnector,
    table: TableRef<'_>,
    lookups: &[Vec<(String, Value)>],
    ignore_case: bool,
) -> Result<Vec<Vec<Row>>, ConnectorError> {
    let mut out: Vec<Vec<Row>> = vec![Vec::new(); lookups.len()];
    let filters: Vec<(usize, String)> = lookups
        .iter()
        .enumerate()
        .filter_map(|(i, equal)| Some((i, lookup_filter(c, table, equal, ignore_case)?)))
        .collect();
    // The groups are asked for side by side, as many at once as the client lets in flight.
    let chunks = by_length(&filters);
    let reads = chunks.iter().map(|chunk| {
        let filter = chunk
            .iter()
            .map(|(_, f)| format!("({f})"))
            .collect::<Vec<_>>()
            .join(" or ");
        async move { all_pages(c, table, &filter).await }
    });
    for (chunk, rows) in chunks.iter().zip(join_all(reads).await) {
        for row in rows? {
            for (i, _) in *chunk {
                if row_matches(&row, &lookups[*i], ignore_case) {
                    out[*i].push(row.clone());
                }
            }
        }
    }
    Ok(out)
}

/// Consecutive groups of lookup filters whose `or` stays within [`LOOKUP_FILTER_CHARS`] (a
/// filter longer on its own goes alone).
fn by_length(filters: &[(usize, String)]) -> Vec<&[(usize, String)]> {
    let mut out = Vec::new();
    let (mut start, mut len) = (0, 0);
    for (i, (_, f)) in filters.iter().enumerate() {
        let add = f.len() + 6;
        if i > start && len + add > LOOKUP_FILTER_CHARS {
            out.push(&filters[start..i]);
            (start, len) = (i, 0);
        }
        len += add;
    }
    if start < filters.len() {
        out.push(&filters[start..]);
    }
    out
}

/// The `$filter` of one lookup; `None` when a value cannot be written as a literal of its
/// column (no row can hold it).
fn lookup_filter(
    c: &ODataConnector,
    table: TableRef<'_>,
    equal: &[(String, Value)],
    ignore_case: bool,
) -> Option<String> {
    let mut clauses = Vec::with_capacity(equal.len());
    for (column, value) in equal {
        let info = table.info.columns.get(column);
        let ty = info.map_or(ColumnKind::String, |i| i.ty);
        let name = c.endpoint.flavor.read_name(column, info);
        // Dataverse and Business Central compare text without case already (their SQL Server
        // collations), and seek an indexed column only when it is compared as it is: `tolower`
        // would make them read the table. Other services are asked to fold case.
        let text = ignore_case
            && matches!(value, Value::String(_))
            && ty == ColumnKind::String
            && c.endpoint.flavor == Flavor::Generic;
        let value = match value {
            Value::String(s) if text => Value::String(s.to_lowercase()),
            other => other.clone(),
        };
        let lit = literal::value(&value, ty)?;
        clauses.push(if text {
            format!("tolower({name}) eq {lit}")
        } else {
            format!("{name} eq {lit}")
        });
    }
    (!clauses.is_empty()).then(|| clauses.join(" and "))
}

/// Every row passing a filter, page after page.
async fn all_pages(
    c: &ODataConnector,
    table: TableRef<'_>,
    filter: &str,
) -> Result<Vec<Row>, ConnectorError> {
    let select = select(c, table);
    let mut options = vec![("$select", select.as_str())];
    if !filter.is_empty() {
        options.push(("$filter", filter));
    }
    let mut url = format!(
        "{}?{}",
        c.collection(table.name).await?,
        literal::query(&options)
    );
    let mut out = Vec::new();
    loop {
        let (rows, next) = fetch(c, table, &url, c.endpoint.flavor.max_page()).await?;
        out.extend(rows);
        match next {
            Some(n) => url = n,
            None => return Ok(out),
        }
    }
}

/// The `$select` of a table: its columns as the service names them.
pub(super) fn select(c: &ODataConnector, table: TableRef<'_>) -> String {
    let flavor = c.endpoint.flavor;
    let mut names: Vec<String> = table
        .info
        .columns
        .iter()
        .filter(|(name, _)| flavor.is_property(table.info, name))
        .map(|(name, info)| flavor.read_name(name, Some(info)))
        .collect();
    if !table.info.columns.contains_key(&table.info.key) {
        names.push(table.info.key.clone());
    }
    if let Some(m) = &table.info.modified_on {
        if !table.info.columns.contains_key(m) {
            names.push(m.clone());
        }
    }
    names.sort();
    names.dedup();
    names.join(",")
}

/// GETs one page and decodes its rows; the next page's absolute URL, when there is one (see
/// [`paging::next_page`]). Nothing assumes the page holds `page_size` rows: services answer
/// with fewer, more, or everything at once, and only the next link says whether more follow.
async fn fetch(
    c: &ODataConnector,
    table: TableRef<'_>,
    url: &str,
    page_size: usize,
) -> Result<(Vec<Row>, Option<String>), ConnectorError> {
    let mut prefer = format!("odata.maxpagesize={page_size}");
    if c.endpoint.flavor == Flavor::Dataverse {
        prefer.push_str(",odata.include-annotations=\"Microsoft.Dynamics.CRM.lookuplogicalname\"");
    }
    let response = c
        .client
        .send(&Request::get(url.to_string()).header("Prefer", prefer))
        .await?;
    let system = &c.endpoint.system;
    if !response.status.is_success() {
        let message = format!(
            "{system}: reading {} failed: {}",
            table.name,
            response.error_message()
        );
        return Err(match response.status.as_u16() {
            // A filter or table the service does not know will not work on a retry either.
            400 | 404 => ConnectorError::Fatal(message),
            _ => ConnectorError::Transient(message),
        });
    }
    let body: Json = serde_json::from_slice(&response.body).map_err(|e| {
        ConnectorError::Transient(format!(
            "{system}: GET {} answered with invalid JSON: {e}",
            without_query(url)
        ))
    })?;
    let Some(values) = body.get("value").and_then(Json::as_array) else {
        return Err(ConnectorError::Fatal(format!(
            "{system}: GET {} did not answer with a collection (`value`)",
            without_query(url)
        )));
    };
    let rows = values
        .iter()
        .filter_map(Json::as_object)
        .map(|e| rows::decode(c.endpoint.flavor, table.info, e))
        .collect();
    let next = match body.get("@odata.nextLink").and_then(Json::as_str) {
        None => None,
        Some(link) => {
            let context = body.get("@odata.context").and_then(Json::as_str);
            Some(
                paging::next_page(&c.endpoint.url, url, context, link)
                    .map_err(|e| ConnectorError::Fatal(format!("{system}: {e}")))?,
            )
        }
    };
    Ok((rows, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_grouped_within_the_filter_length() {
        let filters: Vec<(usize, String)> = (0..100).map(|i| (i, "x".repeat(94))).collect();
        let groups = by_length(&filters);
        let sizes: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        assert_eq!(sizes, [15, 15, 15, 15, 15, 15, 10]);
        // A filter too long on its own still goes, alone.
        let long = vec![(0, "y".repeat(5000)), (1, "z".into())];
        assert_eq!(by_length(&long).len(), 2);
        assert!(by_length(&[]).is_empty());
    }
}
