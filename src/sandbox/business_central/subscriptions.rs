//! Business Central's `subscriptions` API (`…/api/v2.0/subscriptions`, and the same under the
//! custom route for its own entity sets): webhook subscriptions are created with `POST`,
//! listed and read with `GET`, renewed with `PATCH` and removed with `DELETE`.
//!
//! Creating and renewing both make the handshake first: the service `POST`s to the
//! notification URL with a `validationToken` query parameter and an empty body, and goes on
//! only when the answer is 200 with the token as its body. The handshake runs while the
//! client's request waits, without a lock held, so the subscriber may call the service
//! meanwhile.
//!
//! A `PATCH` without `If-Match` is refused 400 (`BadRequest_InvalidToken`), as the service's
//! entity sets refuse one; a `DELETE` without it is carried out. Two subscriptions of the same
//! URL and resource may exist side by side, each notified: avoiding them is the client's work.

use jiff::Timestamp;
use serde_json::{json, Map, Value as Json};

use super::webhooks::{Subscription, Watched, CALL_TIMEOUT};
use super::{error, etag, json_object, split_api, target, Bc, Target, CUSTOM_ROUTE};
use crate::sandbox::faults::Monitor;
use crate::sandbox::request::{etag_core, split_key, Req, Resp};
use crate::sandbox::Limits;

/// The entity sets of API v2.0 that Business Central sends notifications for.
const SUPPORTED: [&str; 22] = [
    "accounts",
    "companyInformation",
    "countriesRegions",
    "currencies",
    "customerPaymentJournals",
    "customers",
    "dimensions",
    "employees",
    "generalLedgerEntries",
    "itemCategories",
    "items",
    "journals",
    "paymentMethods",
    "paymentTerms",
    "purchaseInvoices",
    "salesCreditMemos",
    "salesInvoices",
    "salesOrders",
    "salesQuotes",
    "shipmentMethods",
    "unitsOfMeasure",
    "vendors",
];

/// The longest `clientState`.
const MAX_CLIENT_STATE: usize = 2048;

/// The user the sandbox's tokens act as, whom subscriptions name as their creator.
const USER_ID: &str = "6b1b3bc5-0e1d-4f3a-9c55-5e2f1a7c0d01";

/// The properties a client may send; the read-only ones are ignored, as the service ignores
/// them.
const WRITABLE: [&str; 3] = ["notificationUrl", "resource", "clientState"];
const READ_ONLY: [&str; 9] = [
    "subscriptionId",
    "userId",
    "lastModifiedDateTime",
    "expirationDateTime",
    "timestamp",
    "systemCreatedAt",
    "systemCreatedBy",
    "systemModifiedAt",
    "systemModifiedBy",
];

/// A request to the subscriptions API: its API root and the subscription id it names.
struct Call<'r> {
    root: String,
    id: Option<&'r str>,
}

/// What a `POST` asks for, checked.
struct Draft {
    url: String,
    resource: String,
    watched: Watched,
    client_state: String,
}

impl Bc {
    /// Answers a request to `subscriptions`; `None` for any other request.
    pub(crate) async fn subscriptions(&self, req: &Req, monitor: &Monitor) -> Option<Resp> {
        let (root, rest) = split_api(&req.path)?;
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let [segment] = segments.as_slice() else {
            return None;
        };
        let ("subscriptions", id) = split_key(segment)? else {
            return None;
        };
        let call = Call {
            root,
            id: id.map(|k| k.trim().trim_matches('\'')),
        };
        let limits = monitor.limits();
        Some(match (req.method.as_str(), call.id) {
            ("GET", None) => self.list_subscriptions(req, &call),
            ("GET", Some(id)) => self.one_subscription(req, &call, id),
            ("POST", None) => self.subscribe(req, &call, &limits).await,
            ("PATCH", Some(id)) => self.renew(req, &call, id, &limits).await,
            ("DELETE", Some(id)) => self.delete_subscription(req, id),
            (m, _) => error(
                405,
                "BadRequest_MethodNotAllowed",
                &format!("'{m}' is not allowed on '{rest}'."),
            ),
        })
    }

    fn list_subscriptions(&self, req: &Req, call: &Call<'_>) -> Resp {
        let mut registry = self.webhooks.lock();
        registry.purge(Timestamp::now());
        let value: Vec<Json> = registry
            .subscriptions
            .iter()
            .map(|s| Json::Object(represent(s)))
            .collect();
        let context = format!("{}{}/$metadata#subscriptions", req.origin, call.root);
        Resp::json(200, &json!({"@odata.context": context, "value": value}))
    }

    fn one_subscription(&self, req: &Req, call: &Call<'_>, id: &str) -> Resp {
        match self.webhooks.lock().find(id) {
            Some(s) => answer(200, req, call, s),
            None => not_found(id),
        }
    }

    /// `POST subscriptions`: validates, makes the handshake, and creates.
    async fn subscribe(&self, req: &Req, call: &Call<'_>, limits: &Limits) -> Resp {
        let draft = match read_body(req).and_then(|f| self.draft(&f, &call.root)) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let Draft {
            url,
            resource,
            watched,
            client_state,
        } = draft;
        if let Err(why) = self.handshake(&url).await {
            return handshake_failed(&why);
        }
        let now = to_millis(Timestamp::now());
        let mut registry = self.webhooks.lock();
        let s = Subscription {
            id: uuid::Uuid::new_v4().simple().to_string(),
            notification_url: url,
            resource,
            watched,
            client_state,
            created: now,
            modified: now,
            expires: later(now, limits),
            version: registry.next_version(),
            renewals: 0,
        };
        let resp = answer(201, req, call, &s).with_header(
            "Location",
            format!("{}{}/subscriptions('{}')", req.origin, call.root, s.id),
        );
        registry.subscriptions.push(s);
        resp
    }

    /// `PATCH subscriptions('id')`: checks `If-Match`, makes the handshake again (with the new
    /// URL when it changes), and renews.
    async fn renew(&self, req: &Req, call: &Call<'_>, id: &str, limits: &Limits) -> Resp {
        let current = match self.webhooks.lock().find(id) {
            Some(s) => s.clone(),
            None => return not_found(id),
        };
        let Some(tag) = req.header("if-match") else {
            return error(400, "BadRequest_InvalidToken", "Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.");
        };
        if !matches(tag, &current) {
            return changed();
        }
        let (url, client_state) = match read_body(req).and_then(|f| changes(&f, &current)) {
            Ok(c) => c,
            Err(r) => return r,
        };
        if let Err(why) = self.handshake(&url).await {
            return handshake_failed(&why);
        }
        let now = to_millis(Timestamp::now());
        let mut registry = self.webhooks.lock();
        let version = registry.next_version();
        let Some(s) = registry.find(id) else {
            return not_found(id);
        };
        if s.version != current.version {
            // Renewed or changed by someone else while the handshake was made.
            return changed();
        }
        s.notification_url = url;
        s.client_state = client_state;
        s.modified = now;
        s.expires = later(now, limits);
        s.version = version;
        s.renewals = s.renewals.saturating_add(1);
        answer(200, req, call, s)
    }

    /// A new subscription's properties, checked.
    fn draft(&self, fields: &Map<String, Json>, root: &str) -> Result<Draft, Resp> {
        let url = required(fields, "notificationUrl")?;
        check_url(url)?;
        let resource = required(fields, "resource")?;
        let watched = self.watched(resource, root)?;
        let state = text(fields, "clientState")?.unwrap_or_default();
        check_client_state(state)?;
        Ok(Draft {
            url: url.to_string(),
            resource: resource.to_string(),
            watched,
            client_state: state.to_string(),
        })
    }

    /// `DELETE subscriptions('id')`.
    fn delete_subscription(&self, req: &Req, id: &str) -> Resp {
        let mut registry = self.webhooks.lock();
        let Some(s) = registry.find(id) else {
            return not_found(id);
        };
        if req.header("if-match").is_some_and(|tag| !matches(tag, s)) {
            return changed();
        }
        registry.subscriptions.retain(|s| s.id != id);
        Resp::empty(204)
    }

    /// What a subscription's `resource` names: an entity set of an existing company, under
    /// the API route the subscription is made on, that sends notifications.
    fn watched(&self, resource: &str, root: &str) -> Result<Watched, Resp> {
        let refused = |why: &str| {
            error(
                400,
                "BadRequest",
                &format!("The resource '{resource}' cannot be subscribed to: {why}."),
            )
        };
        let prefix = api_prefix(root);
        let rest = resource_path(resource, &prefix)
            .ok_or_else(|| refused(&format!("it is not a resource of the API at '{prefix}'")))?;
        let Some(Target::Entity {
            company,
            set,
            key: None,
        }) = target(&rest)
        else {
            return Err(refused("it is not an entity set of a company"));
        };
        let Some(company) = self.company(company) else {
            return Err(refused(&format!("the company '{company}' does not exist")));
        };
        let custom = prefix.ends_with(&CUSTOM_ROUTE.join("/"));
        let Some(table) = self.store.table(set) else {
            return Err(refused(&format!("there is no entity set '{set}'")));
        };
        if !custom && !SUPPORTED.contains(&table.name.as_str()) {
            return Err(refused(&format!("'{set}' does not support webhooks")));
        }
        Ok(Watched {
            prefix,
            company: company.id.clone(),
            set: table.name.clone(),
        })
    }

    /// The handshake with a notification URL; why it failed.
    async fn handshake(&self, url: &str) -> Result<(), String> {
        let token = uuid::Uuid::new_v4().to_string();
        let separator = if url.contains('?') { '&' } else { '?' };
        let answer = self
            .webhooks
            .http
            .post(format!("{url}{separator}validationToken={token}"))
            .body(Vec::new())
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("the notification URL could not be reached ({e})"))?;
        let status = answer.status().as_u16();
        if status != 200 {
            return Err(format!("the notification URL answered {status}, not 200"));
        }
        let body = answer
            .text()
            .await
            .map_err(|e| format!("the answer of the notification URL could not be read ({e})"))?;
        if body.trim() != token {
            return Err("the notification URL did not answer with the validation token".into());
        }
        Ok(())
    }
}

/// The path under the API route a resource names: `companies(…)/customers`. Relative
/// resources start with the route (`/api/v2.0/…` or `api/v2.0/…`); absolute ones are the
/// service's own URLs (`http://host/v2.0/{tenant}/{environment}/api/v2.0/…`).
fn resource_path(resource: &str, prefix: &str) -> Option<String> {
    if resource.contains('?') {
        return None;
    }
    let path = match reqwest::Url::parse(resource) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {
            let (root, rest) = split_api(url.path())?;
            (api_prefix(&root) == prefix).then(|| rest.to_string())?
        }
        Ok(_) => return None,
        Err(_) => {
            let relative = resource.trim_start_matches('/');
            relative
                .strip_prefix(prefix)?
                .strip_prefix('/')?
                .to_string()
        }
    };
    Some(crate::sandbox::query::percent_decode(&path))
}

/// The API route of an API root: `api/v2.0` of `/v2.0/{tenant}/{environment}/api/v2.0`.
fn api_prefix(root: &str) -> String {
    root.trim_start_matches('/')
        .splitn(4, '/')
        .nth(3)
        .unwrap_or_default()
        .to_string()
}

/// A request's body as a JSON object whose properties are all subscription properties.
fn read_body(req: &Req) -> Result<Map<String, Json>, Resp> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        // A renewal that changes nothing may come without a body.
        return Ok(Map::new());
    }
    let fields = json_object(req)?;
    for name in fields.keys() {
        let known = name.contains('@')
            || WRITABLE.contains(&name.as_str())
            || READ_ONLY.contains(&name.as_str());
        if !known {
            return Err(error(400, "BadRequest_PropertyNotFound", &format!(
                "The property '{name}' does not exist on type 'Microsoft.NAV.subscriptions'. Make sure to only use property names that are defined by the type."
            )));
        }
    }
    Ok(fields)
}

/// A text property, `None` when absent or null.
fn text<'f>(fields: &'f Map<String, Json>, name: &str) -> Result<Option<&'f str>, Resp> {
    match fields.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(v) => Err(error(
            400,
            "BadRequest",
            &format!("Cannot convert a primitive value to the expected type 'Edm.String' for '{name}': {v}."),
        )),
    }
}

/// A text property that must be there and not blank.
fn required<'f>(fields: &'f Map<String, Json>, name: &str) -> Result<&'f str, Resp> {
    match text(fields, name)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(error(
            400,
            "Application_FieldValidationException",
            &format!("'{name}' must have a value."),
        )),
    }
}

/// The notification URL and client state a `PATCH` leaves a subscription with.
fn changes(fields: &Map<String, Json>, current: &Subscription) -> Result<(String, String), Resp> {
    if let Some(resource) = text(fields, "resource")? {
        if resource != current.resource {
            return Err(error(
                400,
                "BadRequest",
                "The resource of a subscription cannot be changed; delete it and subscribe again.",
            ));
        }
    }
    let url = match fields.get("notificationUrl") {
        None => current.notification_url.clone(),
        Some(_) => required(fields, "notificationUrl")?.to_string(),
    };
    check_url(&url)?;
    let state = match text(fields, "clientState")? {
        Some(s) => s.to_string(),
        None if fields.contains_key("clientState") => String::new(),
        None => current.client_state.clone(),
    };
    check_client_state(&state)?;
    Ok((url, state))
}

fn check_url(url: &str) -> Result<(), Resp> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(error(
            400,
            "BadRequest",
            &format!("The notification URL '{url}' is not an absolute http or https URL."),
        )),
    }
}

fn check_client_state(state: &str) -> Result<(), Resp> {
    let len = state.chars().count();
    if len > MAX_CLIENT_STATE {
        return Err(error(
            400,
            "Application_StringExceededLength",
            &format!("The length of the string is {len}, but it must be less than or equal to {MAX_CLIENT_STATE} characters. Value: clientState"),
        ));
    }
    Ok(())
}

/// Whether an `If-Match` value names the subscription as it is.
fn matches(tag: &str, s: &Subscription) -> bool {
    tag.trim() == "*" || etag_core(tag) == etag_core(&etag(s.version))
}

/// When a subscription made or renewed at `now` expires.
fn later(now: Timestamp, limits: &Limits) -> Timestamp {
    let expires = jiff::SignedDuration::try_from(limits.subscription_ttl)
        .ok()
        .and_then(|ttl| now.checked_add(ttl).ok())
        .unwrap_or(Timestamp::MAX);
    to_millis(expires)
}

/// A time cut to the millisecond the service writes, so what [`Control::subscriptions`]
/// tells and what the API answers are the same times.
///
/// [`Control::subscriptions`]: crate::sandbox::Control::subscriptions
fn to_millis(t: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t)
}

/// A subscription as JSON.
fn represent(s: &Subscription) -> Map<String, Json> {
    let json = json!({
        "@odata.etag": etag(s.version),
        "subscriptionId": s.id,
        "notificationUrl": s.notification_url,
        "resource": s.resource,
        "timestamp": s.version,
        "userId": USER_ID,
        "lastModifiedDateTime": super::notify::millis(s.modified),
        "clientState": s.client_state,
        "expirationDateTime": super::notify::millis(s.expires),
        "systemCreatedAt": super::notify::millis(s.created),
        "systemCreatedBy": USER_ID,
        "systemModifiedAt": super::notify::millis(s.modified),
        "systemModifiedBy": USER_ID,
    });
    match json {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

/// The answer carrying one subscription.
fn answer(status: u16, req: &Req, call: &Call<'_>, s: &Subscription) -> Resp {
    let mut body = represent(s);
    body.insert(
        "@odata.context".into(),
        Json::String(format!(
            "{}{}/$metadata#subscriptions/$entity",
            req.origin, call.root
        )),
    );
    Resp::json(status, &Json::Object(body)).with_header("ETag", etag(s.version))
}

fn not_found(id: &str) -> Resp {
    error(
        404,
        "BadRequest_NotFound",
        &format!(
            "The Subscription does not exist. Identification fields and values: Subscription Id='{id}'"
        ),
    )
}

fn changed() -> Resp {
    error(
        412,
        "Request_EntityChanged",
        "Another user has already changed the record.",
    )
}

fn handshake_failed(why: &str) -> Resp {
    error(
        400,
        "BadRequest",
        &format!("The subscription was not saved: the handshake with the notification URL failed: {why}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_relative_or_the_services_own_urls() {
        let prefix = "api/v2.0";
        let c = "companies(5b1e5d3c-0000-0000-0000-000000000001)/customers";
        let want = Some(c.to_string());
        assert_eq!(resource_path(&format!("/api/v2.0/{c}"), prefix), want);
        assert_eq!(resource_path(&format!("api/v2.0/{c}"), prefix), want);
        let absolute = format!("https://bc.example/v2.0/t/production/api/v2.0/{c}");
        assert_eq!(resource_path(&absolute, prefix), want);
        assert_eq!(resource_path(&format!("/api/v1.0/{c}"), prefix), None);
        assert_eq!(
            resource_path(&format!("/api/v2.0/{c}?$top=1"), prefix),
            None
        );
        assert_eq!(resource_path(&format!("ftp://x/{c}"), prefix), None);
        let custom = "api/syncmap/sandbox/v1.0";
        assert_eq!(
            resource_path(&format!("/{custom}/{c}"), custom),
            want,
            "the custom route's resources are its own"
        );
        assert_eq!(
            api_prefix("/v2.0/t/e/api/syncmap/sandbox/v1.0"),
            "api/syncmap/sandbox/v1.0"
        );
    }
}
