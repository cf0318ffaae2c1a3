//! What both services do for a collection `GET`: `$filter`, `$orderby`, `$top`, `$count` and
//! server-driven paging with `$skiptoken`.
//!
//! Paging is by keyset, never by offset: the skiptoken carries the sort values of the last row
//! sent (and the key, which ends every order as a tie-breaker), and the next page starts after
//! that position. A row that is not modified is therefore seen exactly once, whatever is
//! inserted or deleted between pages. Orders over the key and the modified-on column (what
//! incremental readers use) run as an indexed SQL scan that stops once the page is full; any
//! other order reads the matching rows and sorts them with `$orderby`'s comparison.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde_json::{json, Map, Value as Json};

use crate::schema::TableSchema;
use crate::value::Value;

use super::codec::{self, Numbers};
use super::query::{
    compare_for_orderby, eval_filter_with, CompareOp, EvalOptions, FilterExpr, Literal, Query,
    QueryError,
};
use super::request::{Req, Resp};
use super::store::{Db, Row, StoreError};
use super::tables::is_looked_up;
use super::values;

/// Both services compare text as their SQL Server collations do: without regard to case.
pub(crate) const EVAL: EvalOptions = EvalOptions { ignore_case: true };

/// One collection read.
pub(crate) struct ListRequest<'a> {
    /// The table.
    pub table: &'a TableSchema,
    /// The company (empty for Dataverse).
    pub scope: &'a str,
    /// The query options.
    pub query: &'a Query,
    /// Rows per page, already capped by the service.
    pub page_size: usize,
    /// Whether the next page is linked with `$skip=N` rather than a keyset `$skiptoken`.
    pub skip_paging: bool,
    /// The column a property name of the request stands for (`_ownerid_value` → `ownerid`);
    /// `None` for names the entity type does not have.
    pub resolve: &'a dyn Fn(&str) -> Option<String>,
    /// The qualified entity type, for error messages.
    pub type_name: &'a str,
}

/// One page.
pub(crate) struct Listing {
    /// The rows of the page.
    pub rows: Vec<Row>,
    /// Where the next page starts, when there is one.
    pub next: Option<Next>,
    /// The number of matching rows, with `$count=true`.
    pub count: Option<usize>,
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Next {
    /// After the row a keyset `$skiptoken` names.
    Token(String),
    /// After this many rows (`$skip`), as services paging by offset link their pages.
    Skip(usize),
}

/// How a service pages: its cap, and the switches that make it page as other services do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Paging {
    /// The largest page.
    pub cap: usize,
    /// Pages of this size whatever `Prefer: odata.maxpagesize` asks.
    pub fixed: Option<usize>,
    /// Next links relative to the request URL.
    pub relative: bool,
    /// Next links with `$skip=N`.
    pub skip: bool,
}

impl Paging {
    /// The paging of a service whose own cap is `cap`, under the sandbox's limits.
    pub fn of(limits: &super::Limits, cap: usize) -> Paging {
        Paging {
            cap: limits.max_page.unwrap_or(cap).max(1),
            fixed: limits.ignore_page_size.map(|n| n.max(1)),
            relative: limits.relative_links,
            skip: limits.skip_paging,
        }
    }

    /// The page size of a request, and whether it honoured `Prefer: odata.maxpagesize`:
    /// the preference capped by the service's maximum, or the fixed size of a service that
    /// ignores it.
    pub fn size(&self, preference: Option<String>) -> (usize, bool) {
        match self.fixed {
            Some(n) => (n, false),
            None => (page_size(preference, self.cap), true),
        }
    }
}

/// Why a read failed.
#[derive(Debug)]
pub(crate) enum ListError {
    /// A query the service refuses (400).
    Query(QueryError),
    /// The store failed (500).
    Store(StoreError),
}

impl From<StoreError> for ListError {
    fn from(e: StoreError) -> Self {
        ListError::Store(e)
    }
}

impl From<QueryError> for ListError {
    fn from(e: QueryError) -> Self {
        ListError::Query(e)
    }
}

/// The skiptoken's content: the last row's sort values and how many rows went before.
fn encode_token(values: &[Value], sent: usize) -> String {
    let json = serde_json::json!({
        "v": values.iter().map(|v| codec::write(v, Numbers::default())).collect::<Vec<_>>(),
        "n": sent,
    });
    json.to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_token(
    token: &str,
    table: &TableSchema,
    order: &[(String, bool)],
) -> Result<(Vec<Value>, usize), QueryError> {
    let bad = || QueryError::Syntax {
        position: 0,
        text: token.to_string(),
    };
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let json: serde_json::Value =
        serde_json::from_slice(&bytes.ok_or_else(bad)?).map_err(|_| bad())?;
    let values = json.get("v").and_then(|v| v.as_array()).ok_or_else(bad)?;
    let sent = json
        .get("n")
        .and_then(|n| n.as_u64())
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(bad)?;
    if values.len() != order.len() {
        return Err(bad());
    }
    let mut out = Vec::new();
    for ((name, _), v) in order.iter().zip(values) {
        let c = table.column(name).ok_or_else(bad)?;
        out.push(codec::read(c, v, Numbers::default()).ok_or_else(bad)?);
    }
    Ok((out, sent))
}

/// Checks that every property the query names exists.
fn check_properties(req: &ListRequest<'_>) -> Result<(), QueryError> {
    let q = req.query;
    let mut names: Vec<&str> = q
        .filter
        .as_ref()
        .map(|f| f.properties())
        .unwrap_or_default();
    names.extend(q.orderby.iter().map(|(p, _)| p.as_str()));
    names.extend(q.select.iter().flatten().map(String::as_str));
    for name in names {
        if (req.resolve)(name).is_none() {
            return Err(QueryError::unknown_property(name, Some(req.type_name)));
        }
    }
    match &q.filter {
        Some(f) => super::keys::check_literals(f, req.table, req.resolve),
        None => Ok(()),
    }
}

/// Whether a row passes the request's filter.
fn passes(req: &ListRequest<'_>, row: &Row) -> Result<bool, QueryError> {
    match &req.query.filter {
        None => Ok(true),
        Some(f) => {
            let bc = !req.scope.is_empty();
            let lookup = |name: &str| {
                (req.resolve)(name).map(|c| values::as_filtered(req.table, bc, &c, row.get(&c)))
            };
            eval_filter_with(f, &lookup, &EVAL).map_err(|e| e.in_type(req.type_name))
        }
    }
}

/// How two rows compare in the order (columns with `true` for descending).
fn compare(a: &[Value], b: &[Value], order: &[(String, bool)]) -> Ordering {
    for ((x, y), (_, desc)) in a.iter().zip(b).zip(order) {
        let o = compare_for_orderby(x, y, &EVAL);
        let o = if *desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// The keys a filter limits rows to, when it names them (`id eq A or id eq B`, `id in (…)`,
/// possibly with other conditions `and`-ed): those rows are fetched by key, as a real service
/// seeks its primary key index, instead of scanning the table.
fn pinned_keys(f: &FilterExpr, req: &ListRequest<'_>) -> Option<Vec<String>> {
    let is_key = |e: &FilterExpr| matches!(e, FilterExpr::Property(p) if (req.resolve)(p).as_deref() == Some(req.table.key.as_str()));
    let text = |l: &Literal| match l {
        Literal::String(s) | Literal::Guid(s) => Some(s.to_ascii_lowercase()),
        Literal::Int(i) => Some(i.to_string()),
        _ => None,
    };
    match f {
        FilterExpr::Compare(CompareOp::Eq, a, b) => match (a.as_ref(), b.as_ref()) {
            (k, FilterExpr::Literal(l)) | (FilterExpr::Literal(l), k) if is_key(k) => {
                text(l).map(|t| vec![t])
            }
            _ => None,
        },
        FilterExpr::In(k, lits) if is_key(k) => lits.iter().map(text).collect(),
        FilterExpr::Or(items) => {
            let mut keys = Vec::new();
            for item in items {
                keys.extend(pinned_keys(item, req)?);
            }
            Some(keys)
        }
        FilterExpr::And(items) => items.iter().find_map(|i| pinned_keys(i, req)),
        _ => None,
    }
}

/// The text values a filter limits one indexed lookup column to (`accountnumber eq 'A' or
/// accountnumber eq 'B'`, possibly with other conditions `and`-ed), when they are ASCII: those
/// rows are sought through the column's index, as a real service would, instead of reading the
/// table. Other conditions still apply to what is found. Columns that are not lookup columns
/// (`blocked eq ' '`, true of most rows) are read in key order and paged as usual.
fn pinned_texts(f: &FilterExpr, req: &ListRequest<'_>) -> Option<(String, Vec<String>)> {
    let column = |e: &FilterExpr| match e {
        FilterExpr::Property(p) => (req.resolve)(p).filter(|c| is_looked_up(c)),
        _ => None,
    };
    let text = |l: &Literal| match l {
        Literal::String(s) if s.is_ascii() => Some(s.clone()),
        _ => None,
    };
    match f {
        FilterExpr::Compare(CompareOp::Eq, a, b) => match (a.as_ref(), b.as_ref()) {
            (c, FilterExpr::Literal(l)) | (FilterExpr::Literal(l), c) => {
                Some((column(c)?, vec![text(l)?]))
            }
            _ => None,
        },
        FilterExpr::Or(items) => {
            let mut found: Option<(String, Vec<String>)> = None;
            for item in items {
                let (c, values) = pinned_texts(item, req)?;
                match &mut found {
                    Some((col, all)) if *col == c => all.extend(values),
                    Some(_) => return None,
                    None => found = Some((c, values)),
                }
            }
            found
        }
        FilterExpr::And(items) => items.iter().find_map(|i| pinned_texts(i, req)),
        _ => None,
    }
}

/// Where a page starts and how long it is, in the order the read sorts by.
struct Window<'a> {
    /// `$orderby`'s columns, then the key.
    order: &'a [(String, bool)],
    /// The sort values of the last row sent, when the read goes on from a skiptoken.
    after: Option<&'a [Value]>,
    /// Matching rows to pass over before the first one sent (`$skip`).
    offset: usize,
    /// Rows the page holds.
    limit: usize,
}

/// Reads one page.
pub(crate) fn list(db: &Db, req: &ListRequest<'_>) -> Result<Listing, ListError> {
    check_properties(req)?;
    let order = sort_order(req);
    let projected = projected(req, &order);
    let req = &ListRequest {
        table: projected.as_ref().unwrap_or(req.table),
        ..*req
    };
    let (after, sent) = match &req.query.skiptoken {
        Some(t) => {
            let (v, n) = decode_token(t, req.table, &order)?;
            (Some(v), n)
        }
        None => (None, 0),
    };
    // `$skip` counts matching rows in order, before the first one sent.
    let offset = req.query.skip.unwrap_or(0);
    let remaining = req.query.top.map(|t| t.saturating_sub(sent));
    let limit = remaining.map_or(req.page_size, |r| r.min(req.page_size));
    let window = Window {
        order: &order,
        after: after.as_deref(),
        offset,
        limit,
    };
    let mut rows = if limit > 0 {
        page_rows(db, req, &window)?
    } else {
        Vec::new()
    };
    let more = rows.len() > limit && remaining.is_none_or(|r| r > limit);
    rows.truncate(limit);
    // Offsets cannot carry `$top`'s remainder; a read with `$top` pages by keyset.
    let by_offset = req.skip_paging && req.query.top.is_none() && req.query.skiptoken.is_none();
    let next = match rows.last() {
        Some(_) if more && by_offset => Some(Next::Skip(offset + rows.len())),
        Some(last) if more => Some(Next::Token(encode_token(
            &values_of(last, &order),
            sent + rows.len(),
        ))),
        _ => None,
    };
    let count = if req.query.count {
        Some(count_matching(db, req)?)
    } else {
        None
    };
    Ok(Listing { rows, next, count })
}

/// With `$select`, the table as the read needs it: only the columns the answer, the filter
/// and the order use are read from storage, as a service reads only what a query names. The
/// answer leaves out every column `$select` does not name, so it is the same either way.
fn projected(req: &ListRequest<'_>, order: &[(String, bool)]) -> Option<TableSchema> {
    let select = req.query.select.as_ref()?;
    let mut names: BTreeSet<String> = select.iter().filter_map(|p| (req.resolve)(p)).collect();
    // A lookup's answer names the table it points to, which its `…type` column holds.
    let types: Vec<String> = names.iter().map(|n| format!("{n}type")).collect();
    names.extend(types);
    let filtered = req.query.filter.as_ref().map(|f| f.properties());
    names.extend(
        filtered
            .into_iter()
            .flatten()
            .filter_map(|p| (req.resolve)(p)),
    );
    names.extend(order.iter().map(|(c, _)| c.clone()));
    names.insert(req.table.key.clone());
    let mut table = req.table.clone();
    table.columns.retain(|c| names.contains(&c.name));
    Some(table)
}

/// `$orderby`'s columns, each once, ended by the key (in the first column's direction) so
/// that every row has its own position.
fn sort_order(req: &ListRequest<'_>) -> Vec<(String, bool)> {
    let mut order: Vec<(String, bool)> = Vec::new();
    for (p, desc) in &req.query.orderby {
        let col = (req.resolve)(p).unwrap_or_default();
        if !order.iter().any(|(c, _)| *c == col) {
            order.push((col, *desc));
        }
    }
    if !order.iter().any(|(c, _)| *c == req.table.key) {
        let desc = order.first().is_some_and(|(_, d)| *d);
        order.push((req.table.key.clone(), desc));
    }
    order
}

/// A row's values of the order's columns.
fn values_of(row: &Row, order: &[(String, bool)]) -> Vec<Value> {
    order.iter().map(|(c, _)| row.get(c)).collect()
}

/// The window's matching rows, in order, and one more when more follow.
fn page_rows(db: &Db, req: &ListRequest<'_>, window: &Window<'_>) -> Result<Vec<Row>, ListError> {
    if let Some(found) = sought_rows(db, req)? {
        let mut rows = Vec::new();
        for row in found {
            if passes(req, &row)? {
                rows.push(row);
            }
        }
        Ok(cut_window(rows, window))
    } else if scans_in_order(req.table, window.order) {
        scan_in_order(db, req, window)
    } else {
        scan_and_sort(db, req, window)
    }
}

/// The rows a filter pins by key or by a text column's values, read directly; `None` when
/// the filter pins neither and the table must be scanned.
fn sought_rows(db: &Db, req: &ListRequest<'_>) -> Result<Option<Vec<Row>>, ListError> {
    let pinned = req.query.filter.as_ref().and_then(|f| pinned_keys(f, req));
    let texts = req.query.filter.as_ref().and_then(|f| pinned_texts(f, req));
    Ok(match (pinned, texts) {
        (Some(mut keys), _) => {
            keys.sort();
            keys.dedup();
            let mut found = Vec::new();
            for key in keys {
                found.extend(db.get(req.table, req.scope, &key)?);
            }
            Some(found)
        }
        (None, Some((column, values))) => {
            Some(db.rows_with_text(req.table, req.scope, &column, &values)?)
        }
        (None, None) => None,
    })
}

/// Columns that are never null and ordered by SQL as by `$orderby` can be scanned in order.
fn scans_in_order(table: &TableSchema, order: &[(String, bool)]) -> bool {
    let direction = order.first().is_some_and(|(_, d)| *d);
    order.iter().all(|(c, d)| {
        *d == direction && (*c == table.key || table.modified_on.as_deref() == Some(c.as_str()))
    })
}

/// Sorts matching rows and keeps those of the window, with one more to tell whether more follow.
fn cut_window(mut rows: Vec<Row>, window: &Window<'_>) -> Vec<Row> {
    let order = window.order;
    rows.sort_by(|a, b| compare(&values_of(a, order), &values_of(b, order), order));
    if let Some(after) = window.after {
        rows.retain(|r| compare(&values_of(r, order), after, order) == Ordering::Greater);
    }
    rows.drain(..window.offset.min(rows.len()));
    rows.truncate(window.limit + 1);
    rows
}

/// Reads the window by an indexed scan in the page's order, stopping once it is full.
fn scan_in_order(
    db: &Db,
    req: &ListRequest<'_>,
    window: &Window<'_>,
) -> Result<Vec<Row>, ListError> {
    let mut rows: Vec<Row> = Vec::new();
    let mut skipped = 0;
    let mut failure: Option<QueryError> = None;
    db.scan(req.table, req.scope, window.order, window.after, |row| {
        match passes(req, &row) {
            Ok(true) if skipped < window.offset => skipped += 1,
            Ok(true) => rows.push(row),
            Ok(false) => {}
            Err(e) => {
                failure = Some(e);
                return Ok(false);
            }
        }
        Ok(rows.len() <= window.limit)
    })?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(rows),
    }
}

/// Reads every matching row in key order, then sorts them by `$orderby` and cuts the window.
fn scan_and_sort(
    db: &Db,
    req: &ListRequest<'_>,
    window: &Window<'_>,
) -> Result<Vec<Row>, ListError> {
    let mut rows: Vec<Row> = Vec::new();
    let mut failure: Option<QueryError> = None;
    let key_order = [(req.table.key.clone(), false)];
    db.scan(req.table, req.scope, &key_order, None, |row| {
        match passes(req, &row) {
            Ok(true) => rows.push(row),
            Ok(false) => {}
            Err(e) => {
                failure = Some(e);
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(cut_window(rows, window)),
    }
}

/// The number of rows the filter matches, for `$count=true`.
fn count_matching(db: &Db, req: &ListRequest<'_>) -> Result<usize, ListError> {
    let mut n = 0;
    let mut failure = None;
    db.scan(
        req.table,
        req.scope,
        &[(req.table.key.clone(), false)],
        None,
        |row| {
            match passes(req, &row) {
                Ok(true) => n += 1,
                Ok(false) => {}
                Err(e) => failure = Some(e),
            }
            Ok(failure.is_none())
        },
    )?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok(n)
}

/// The answer to a collection `GET`: the page's rows (as the service represents them) under
/// `value`, the count when asked for, the next page's link, and the page size applied.
pub(crate) fn page_response(
    req: &Req,
    context: String,
    listing: &Listing,
    rows: Vec<Json>,
    (page, honoured): (usize, bool),
    paging: Paging,
) -> Resp {
    let mut body = Map::new();
    body.insert("@odata.context".into(), Json::String(context));
    if let Some(n) = listing.count {
        body.insert("@odata.count".into(), json!(n));
    }
    body.insert("value".into(), Json::Array(rows));
    if let Some(next) = &listing.next {
        let link = link(req, next, paging.relative);
        body.insert("@odata.nextLink".into(), Json::String(link));
    }
    let mut resp = Resp::json(200, &Json::Object(body));
    if honoured && req.preference("odata.maxpagesize").is_some() {
        // The size applied, which is less than asked for beyond the cap.
        resp = resp.with_header("Preference-Applied", format!("odata.maxpagesize={page}"));
    }
    resp
}

/// The next page's link, absolute or relative to the request URL.
pub(crate) fn link(req: &Req, next: &Next, relative: bool) -> String {
    let origin = if relative { "" } else { &req.origin };
    let mut link = next_link(origin, &req.path, &req.query, next);
    if relative {
        // Relative to the request URL: from its last segment on (`accounts?…`).
        let path_end = link.find('?').unwrap_or(link.len());
        let last = link[..path_end].rfind('/').map_or(0, |i| i + 1);
        link = link.split_off(last);
    }
    link
}

/// The URL of the next page: the request's own URL with `$skiptoken` (or `$skip`) replaced.
pub(crate) fn next_link(origin: &str, path: &str, raw_query: &str, next: &Next) -> String {
    let paging = ["$skiptoken=", "%24skiptoken=", "$skip=", "%24skip="];
    let mut params: Vec<&str> = raw_query
        .split('&')
        .filter(|p| !p.is_empty() && !paging.iter().any(|o| p.starts_with(o)))
        .collect();
    let skip = match next {
        Next::Token(token) => format!("$skiptoken={token}"),
        Next::Skip(n) => format!("$skip={n}"),
    };
    params.push(&skip);
    let encoded_path: String = path
        .chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '\'' => "%27".to_string(),
            c => c.to_string(),
        })
        .collect();
    format!("{origin}{encoded_path}?{}", params.join("&"))
}

/// The page size of a request: `Prefer: odata.maxpagesize` capped by the service's maximum.
pub(crate) fn page_size(preference: Option<String>, cap: usize) -> usize {
    preference
        .and_then(|p| p.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .map_or(cap, |n| n.min(cap))
}
