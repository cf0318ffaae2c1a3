//! Reads that follow Dataverse's change tracking: a whole read asked for with `Prefer:
//! odata.track-changes` ends with an `@odata.deltaLink`, and that link later answers the rows
//! created or changed since (each once, as they are now) and the rows deleted since, as
//! `$deletedEntity` entries. The link is the point the engine keeps; a service that does not
//! track the table ignores the preference and gives none, and an expired link is refused,
//! which the engine reads another way.
//!
//! No `$filter` or `$orderby` goes with a tracked read (the service refuses them): the engine
//! evaluates a side's filter on every row whatever was pushed down.

use serde_json::Value as Json;

use super::client::{Request, Response};
use super::failure::without_query;
use super::paging;
use super::read::select;
use super::rows;
use super::ODataConnector;
use crate::connectors::{ConnectorError, Page, ReadRequest, Tracking};
use crate::odata::literal;

/// The error code Dataverse answers a delta token it no longer knows with.
const EXPIRED: &str = "0x80044352";

/// One page of a tracked read.
pub async fn page(
    c: &ODataConnector,
    req: &ReadRequest<'_>,
    continuation: Option<&str>,
) -> Result<Page, ConnectorError> {
    let system = &c.endpoint.system;
    let url = match continuation {
        Some(next) => next.to_string(),
        None => first_url(c, req).await?,
    };
    let prefer = format!(
        "odata.track-changes,odata.maxpagesize={},odata.include-annotations=\"Microsoft.Dynamics.CRM.lookuplogicalname\"",
        req.page_size
    );
    let response = c
        .client
        .send(&Request::get(url.clone()).header("Prefer", prefer))
        .await?;
    if !response.status.is_success() {
        let following = continuation.is_none() && matches!(req.tracking, Tracking::Since(_));
        return Err(refused(c, req, &response, following));
    }
    let body: Json = serde_json::from_slice(&response.body).map_err(|e| {
        ConnectorError::Transient(format!(
            "{system}: GET {} answered with invalid JSON: {e}",
            without_query(&url)
        ))
    })?;
    let mut page = entries(c, req, &body, &url)?;
    let link = |name: &str| -> Result<Option<String>, ConnectorError> {
        let Some(link) = body.get(name).and_then(Json::as_str) else {
            return Ok(None);
        };
        let context = body.get("@odata.context").and_then(Json::as_str);
        paging::next_page(&c.endpoint.url, &url, context, link)
            .map(Some)
            .map_err(|e| ConnectorError::Fatal(format!("{system}: {e}")))
    };
    page.next = link("@odata.nextLink")?;
    // A service that does not track the table ignores the preference and gives no link.
    if page.next.is_none() {
        page.delta = link("@odata.deltaLink")?;
    }
    Ok(page)
}

/// Where a tracked read begins: the kept link, or the table's collection with the columns
/// the mapping reads.
async fn first_url(c: &ODataConnector, req: &ReadRequest<'_>) -> Result<String, ConnectorError> {
    let Tracking::Since(link) = &req.tracking else {
        let options = [("$select", select(c, req.table))];
        let options: Vec<(&str, &str)> = options.iter().map(|(k, v)| (*k, v.as_str())).collect();
        return Ok(format!(
            "{}?{}",
            c.collection(req.table.name).await?,
            literal::query(&options)
        ));
    };
    // A link the service gave: followed only inside the service, as next links are. One that
    // points elsewhere (the profile now names another service) is not followed, and the
    // changes are read another way.
    let url = paging::next_page(&c.endpoint.url, link, None, link)
        .map_err(|e| ConnectorError::Expired(format!("{}: {e}", c.endpoint.system)))?;
    lacking_columns(c, req, &url)?;
    Ok(url)
}

/// A link taken when the mapping read fewer columns (a field mapping added since) would
/// bring rows without them: it is treated as expired, so the changes are read by modified-on
/// and the next read starts over with every column.
fn lacking_columns(
    c: &ODataConnector,
    req: &ReadRequest<'_>,
    url: &str,
) -> Result<(), ConnectorError> {
    let selected: Vec<String> = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "$select")
                .map(|(_, v)| v.split(',').map(str::to_string).collect())
        })
        .unwrap_or_default();
    let needed = select(c, req.table);
    let missing: Vec<&str> = needed
        .split(',')
        .filter(|n| !selected.iter().any(|s| s == n))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ConnectorError::Expired(format!(
        "{}: the delta link of {} does not read {}, which the mapping now reads",
        c.endpoint.system,
        req.table.name,
        missing.join(", ")
    )))
}

/// Why a tracked read was refused: an expired link (Dataverse's code, or the `410 Gone` of
/// OData services), or a kept link the service refuses (`following`: the table's tracking was
/// turned off since), is told apart, for the engine to read another way.
fn refused(
    c: &ODataConnector,
    req: &ReadRequest<'_>,
    response: &Response,
    following: bool,
) -> ConnectorError {
    let message = format!(
        "{}: reading the changes of {} failed: {}",
        c.endpoint.system,
        req.table.name,
        response.error_message()
    );
    let status = response.status.as_u16();
    if status == 410 || response.error_message().contains(EXPIRED) || following && status == 400 {
        return ConnectorError::Expired(message);
    }
    match status {
        400 | 404 => ConnectorError::Fatal(message),
        _ => ConnectorError::Transient(message),
    }
}

/// The rows and deleted keys of a page's `value`.
fn entries(
    c: &ODataConnector,
    req: &ReadRequest<'_>,
    body: &Json,
    url: &str,
) -> Result<Page, ConnectorError> {
    let Some(values) = body.get("value").and_then(Json::as_array) else {
        return Err(ConnectorError::Fatal(format!(
            "{}: GET {} did not answer with a collection (`value`)",
            c.endpoint.system,
            without_query(url)
        )));
    };
    // An entry that cannot be read fails the read: the link must not move past a change (a
    // deletion above all) that was not taken.
    let unreadable = |what: &str| {
        ConnectorError::Transient(format!(
            "{}: the changes of {} hold {what}",
            c.endpoint.system, req.table.name
        ))
    };
    let mut page = Page::default();
    for e in values {
        let e = e
            .as_object()
            .ok_or_else(|| unreadable("an entry that is not an object"))?;
        let deleted = e
            .get("@odata.context")
            .and_then(Json::as_str)
            .is_some_and(|ctx| ctx.ends_with("$deletedEntity"));
        if deleted {
            let id = e
                .get("id")
                .and_then(Json::as_str)
                .ok_or_else(|| unreadable("a deleted entry without its `id`"))?;
            page.removed.push(id.to_lowercase());
        } else {
            page.rows
                .push(rows::decode(c.endpoint.flavor, req.table.info, e));
        }
    }
    Ok(page)
}
