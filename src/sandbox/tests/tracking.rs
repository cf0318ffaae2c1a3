//! Dataverse change tracking over HTTP: first tracked reads, delta reads, expiry, untracked
//! tables and the change log's life across a restart.

use super::*;
use crate::sandbox::query::percent_decode;

const TRACK: &str = "odata.track-changes";
const SELECT: &str = "accounts?$select=name,telephone1";

/// The key of the `n`th test account; keys sort as their numbers do, and listings go in key
/// order.
fn key(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// The position a delta link's token holds, after checking the token is written as the
/// service writes it: `<seq>!MM/dd/yyyy HH:mm:ss`, URL-encoded.
fn position(link: &str) -> i64 {
    let (_, encoded) = link.split_once("$deltatoken=").unwrap();
    assert!(
        encoded
            .chars()
            .all(|c| c.is_ascii_digit() || "%abcdef".contains(c)),
        "{encoded}"
    );
    let text = percent_decode(encoded);
    assert_eq!(
        encoded,
        text.replace('!', "%21")
            .replace('/', "%2f")
            .replace(' ', "%20")
            .replace(':', "%3a")
    );
    let (seq, date) = text.split_once('!').unwrap();
    jiff::civil::DateTime::strptime("%m/%d/%Y %H:%M:%S", date).unwrap();
    assert_eq!(date.len(), 19, "{date}");
    seq.parse().unwrap()
}

/// A whole tracked read: its pages, and the delta link its last page holds.
struct Tracked {
    pages: Vec<Answer>,
    delta: String,
}

impl Tracked {
    fn rows(&self) -> Vec<Json> {
        self.pages
            .iter()
            .flat_map(|p| p.json["value"].as_array().unwrap().clone())
            .collect()
    }
}

impl Harness {
    async fn tracked_get(&self, url: &str, prefer: &str) -> Answer {
        self.send(Method::GET, url, &[("Prefer", prefer)], None)
            .await
    }

    /// A whole tracked read from `url`, every page asked with `prefer`.
    async fn track(&self, url: &str, prefer: &str) -> Tracked {
        let mut pages = Vec::new();
        let mut next = Some(url.to_string());
        while let Some(u) = next {
            let page = self.tracked_get(&u, prefer).await;
            assert_eq!(page.status, 200, "{u}: {}", page.json);
            next = page.json["@odata.nextLink"].as_str().map(str::to_string);
            pages.push(page);
        }
        let last = pages.last().unwrap();
        let delta = last.json["@odata.deltaLink"].as_str().unwrap().to_string();
        Tracked { pages, delta }
    }

    async fn write_account(&self, method: Method, n: u32, body: Json) {
        let url = match method {
            Method::POST => self.dv("accounts"),
            _ => self.dv(&format!("accounts({})", key(n))),
        };
        let mut body = body;
        if method == Method::POST {
            body["accountid"] = json!(key(n));
        }
        let r = self.send(method, &url, &[], Some(&body)).await;
        assert_eq!(r.status, 204, "{}", r.json);
    }

    async fn create_account(&self, n: u32, name: &str) {
        self.write_account(Method::POST, n, json!({ "name": name }))
            .await;
    }

    async fn delete_account(&self, n: u32) {
        let r = self
            .send(
                Method::DELETE,
                &self.dv(&format!("accounts({})", key(n))),
                &[],
                None,
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.json);
    }

    /// An account as a listing with `$select=name,telephone1` shows it.
    async fn listed(&self, n: u32) -> Json {
        let r = self
            .get(&self.dv(&format!("accounts({})?$select=name,telephone1", key(n))))
            .await;
        let mut row = r.json;
        row.as_object_mut().unwrap().remove("@odata.context");
        row
    }

    fn deleted(&self, n: u32) -> Json {
        json!({
            "@odata.context": format!("{}/$metadata#accounts/$deletedEntity", self.sb.dv_url()),
            "id": key(n),
            "reason": "deleted",
        })
    }
}

#[tokio::test]
async fn a_first_tracked_read_pages_and_only_its_last_page_links_to_the_delta() {
    let h = start(Seed::Empty).await;
    for n in 1..=5 {
        h.create_account(n, &format!("A{n}")).await;
    }
    let prefer = "odata.track-changes, odata.maxpagesize=2";
    let read = h.track(&h.dv(SELECT), prefer).await;
    assert_eq!(read.pages.len(), 3);
    let context = format!(
        "{}/$metadata#accounts(name,telephone1)/$delta",
        h.sb.dv_url()
    );
    for (i, page) in read.pages.iter().enumerate() {
        assert_eq!(page.json["@odata.context"], json!(context));
        assert_eq!(
            page.header("preference-applied").as_deref(),
            Some("odata.track-changes, odata.maxpagesize=2")
        );
        let last = i == 2;
        assert_eq!(
            page.json.get("@odata.deltaLink").is_some(),
            last,
            "page {i}"
        );
        assert_eq!(page.json.get("@odata.nextLink").is_none(), last, "page {i}");
    }
    let mut expected = Vec::new();
    for n in 1..=5 {
        expected.push(h.listed(n).await);
    }
    assert_eq!(read.rows(), expected);
    let prefix = format!(
        "{}/accounts?$select=name,telephone1&$deltatoken=",
        h.sb.dv_url()
    );
    assert!(read.delta.starts_with(&prefix), "{}", read.delta);
    assert_eq!(position(&read.delta), 5, "five creates, one entry each");
    // Nothing changed since: an empty delta, with a link of its own.
    let empty = h.tracked_get(&read.delta, TRACK).await;
    assert_eq!(empty.status, 200, "{}", empty.json);
    assert_eq!(empty.json["value"], json!([]));
    assert_eq!(empty.json["@odata.context"], json!(context));
    assert_eq!(
        position(empty.json["@odata.deltaLink"].as_str().unwrap()),
        5
    );
    assert_eq!(empty.header("preference-applied").as_deref(), Some(TRACK));
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_delta_read_answers_each_changed_row_once_as_it_is_now_and_deletions() {
    let h = start(Seed::Empty).await;
    h.create_account(1, "A").await;
    h.create_account(2, "B").await;
    let first = h.track(&h.dv(SELECT), TRACK).await;
    assert_eq!(first.rows().len(), 2);
    h.create_account(3, "C").await;
    h.write_account(Method::PATCH, 1, json!({"name": "A1"}))
        .await;
    h.write_account(Method::PATCH, 1, json!({"name": "A2", "telephone1": "555"}))
        .await;
    h.delete_account(2).await;
    h.create_account(4, "D").await;
    h.delete_account(4).await;
    let delta = h.track(&first.delta, TRACK).await;
    assert_eq!(delta.pages.len(), 1);
    // In the order of each row's latest change: C made, A updated, B deleted, D deleted.
    let expected = vec![
        h.listed(3).await,
        h.listed(1).await,
        h.deleted(2),
        h.deleted(4),
    ];
    assert_eq!(delta.rows(), expected);
    assert_eq!(delta.rows()[1]["name"], "A2");
    assert_eq!(delta.rows()[1]["telephone1"], "555");
    assert_eq!(position(&delta.delta), 8);
    // The next delta starts where this one began.
    h.write_account(Method::PATCH, 3, json!({"name": "C1"}))
        .await;
    let after = h.track(&delta.delta, TRACK).await;
    assert_eq!(after.rows(), vec![h.listed(3).await]);
    // A row deleted and made again with its key is there as it is now.
    h.create_account(2, "B again").await;
    let again = h.track(&after.delta, TRACK).await;
    assert_eq!(again.rows(), vec![h.listed(2).await]);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_write_while_the_pages_are_read_is_in_the_next_delta() {
    let h = start(Seed::Empty).await;
    for n in 1..=4 {
        h.create_account(n, &format!("A{n}")).await;
    }
    let prefer = "odata.maxpagesize=2,odata.track-changes";
    let first = h.tracked_get(&h.dv(SELECT), prefer).await;
    assert_eq!(first.status, 200);
    // Account 1 was sent on the first page; account 5 comes after the position the read
    // took at its start.
    h.write_account(Method::PATCH, 1, json!({"name": "A1 changed"}))
        .await;
    h.create_account(5, "A5").await;
    let rest = h
        .track(first.json["@odata.nextLink"].as_str().unwrap(), prefer)
        .await;
    assert_eq!(position(&rest.delta), 4, "the position the first page took");
    let delta = h.track(&rest.delta, TRACK).await;
    assert_eq!(delta.rows(), vec![h.listed(1).await, h.listed(5).await]);
    assert_eq!(position(&delta.delta), 6);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_long_delta_is_paged_and_only_its_last_page_links_on() {
    let h = start(Seed::Empty).await;
    let first = h.track(&h.dv(SELECT), TRACK).await;
    assert_eq!(first.rows(), Vec::<Json>::new());
    for n in 1..=3 {
        h.create_account(n, &format!("A{n}")).await;
    }
    let prefer = "odata.track-changes,odata.maxpagesize=2";
    let page = h.tracked_get(&first.delta, prefer).await;
    let next = page.json["@odata.nextLink"].as_str().unwrap().to_string();
    assert!(page.json.get("@odata.deltaLink").is_none());
    assert!(next.contains("$deltatoken="), "{next}");
    // Written after the delta read began: in the delta after this one.
    h.create_account(4, "A4").await;
    // The next link keeps tracking even without the preference.
    let last = h.get(&next).await;
    assert_eq!(last.status, 200, "{}", last.json);
    assert!(last.json.get("@odata.nextLink").is_none());
    let mut rows = page.json["value"].as_array().unwrap().clone();
    rows.extend(last.json["value"].as_array().unwrap().clone());
    let mut expected = Vec::new();
    for n in 1..=3 {
        expected.push(h.listed(n).await);
    }
    assert_eq!(rows, expected);
    let link = last.json["@odata.deltaLink"].as_str().unwrap();
    assert_eq!(position(link), 3);
    assert_eq!(h.track(link, TRACK).await.rows(), vec![h.listed(4).await]);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn writes_in_batches_and_bulk_actions_are_tracked_and_rolled_back_ones_are_not() {
    let h = start(Seed::Empty).await;
    let first = h.track(&h.dv(SELECT), TRACK).await;
    h.dv_accounts(&["Batched 1".into(), "Batched 2".into()])
        .await;
    let failed = h
        .dv_batch(
            &[
                ("POST", "accounts", json!({"name": "Undone"})),
                ("POST", "accounts", json!({"name": "x".repeat(161)})),
            ],
            true,
            false,
        )
        .await;
    assert_eq!(Harness::statuses(&failed), [400]);
    let target =
        |name: &str| json!({"@odata.type": "Microsoft.Dynamics.CRM.account", "name": name});
    let client = &h;
    let bulk = |targets: Vec<Json>| {
        let body = json!({ "Targets": targets });
        let url = h.dv("accounts/Microsoft.Dynamics.CRM.CreateMultiple");
        async move { client.send(Method::POST, &url, &[], Some(&body)).await }
    };
    assert_eq!(
        bulk(vec![target("Bulk 1"), target("Bulk 2")]).await.status,
        200
    );
    let refused = bulk(vec![target("Bulk undone"), target(&"x".repeat(161))]).await;
    assert_eq!(refused.status, 400);
    let delta = h.track(&first.delta, TRACK).await;
    let mut names: Vec<String> = delta
        .rows()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["Batched 1", "Batched 2", "Bulk 1", "Bulk 2"]);
    assert_eq!(position(&delta.delta), 4, "what was undone left no entry");
    h.sb.shutdown().await;
}

#[tokio::test]
async fn expired_and_malformed_tokens_are_refused() {
    let h = start(Seed::Empty).await;
    h.create_account(1, "A").await;
    let first = h.track(&h.dv(SELECT), TRACK).await;
    let expired = json!({"error": {
        "code": "0x80044352",
        "message": "Version stamp associated with the client has expired. Please perform a full sync.",
    }});
    h.sb.control().expire_delta_tokens().unwrap();
    let refused = h.tracked_get(&first.delta, TRACK).await;
    assert_eq!((refused.status, &refused.json), (400, &expired));
    // A token issued after the expiry is good.
    let again = h.track(&h.dv(SELECT), TRACK).await;
    assert_eq!(
        h.track(&again.delta, TRACK).await.rows(),
        Vec::<Json>::new()
    );
    // A position the log never reached is another database's: expired too.
    let future = h.dv(&format!(
        "{SELECT}&$deltatoken=99%2101%2f01%2f2030%2000%3a00%3a00"
    ));
    let refused = h.tracked_get(&future, TRACK).await;
    assert_eq!((refused.status, &refused.json), (400, &expired));
    for bad in [
        "nonsense",
        "5%21yesterday",
        "%2101%2f01%2f2030%2000%3a00%3a00",
    ] {
        let r = h
            .tracked_get(&h.dv(&format!("{SELECT}&$deltatoken={bad}")), TRACK)
            .await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json["error"]["code"], "0x80060888", "{bad}");
        let message = r.json["error"]["message"].as_str().unwrap();
        assert!(message.contains("is not valid"), "{message}");
    }
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_token_older_than_the_ttl_is_expired() {
    let h = start(Seed::Empty).await;
    h.sb.control().set_limits(Limits {
        delta_token_ttl: Some(Duration::from_secs(3600)),
        ..Limits::default()
    });
    h.create_account(1, "A").await;
    let fresh = h.track(&h.dv(SELECT), TRACK).await;
    assert_eq!(
        h.track(&fresh.delta, TRACK).await.rows(),
        Vec::<Json>::new()
    );
    // A token of a valid position, issued long before the TTL.
    let old = h.dv(&format!(
        "{SELECT}&$deltatoken=1%2101%2f01%2f2020%2000%3a00%3a00"
    ));
    let r = h.tracked_get(&old, TRACK).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["error"]["code"], "0x80044352");
    // Without a TTL, it is valid.
    h.sb.control().set_limits(Limits::default());
    assert_eq!(h.track(&old, TRACK).await.rows(), Vec::<Json>::new());
    h.sb.shutdown().await;
}

#[tokio::test]
async fn tracking_refuses_filter_orderby_top_and_expand() {
    let h = start(Seed::Empty).await;
    let first = h.track(&h.dv(SELECT), TRACK).await;
    for (option, query) in [
        ("$filter", "$filter=name eq 'A'"),
        ("$orderby", "$orderby=name"),
        ("$top", "$top=3"),
        ("$expand", "$expand=primarycontactid($select=fullname)"),
    ] {
        let first_read = h
            .tracked_get(&h.dv(&format!("{SELECT}&{query}")), TRACK)
            .await;
        let delta = h
            .tracked_get(&format!("{}&{query}", first.delta), TRACK)
            .await;
        for r in [first_read, delta] {
            assert_eq!(r.status, 400, "{query}");
            assert_eq!(r.json["error"]["code"], "0x80060888");
            assert_eq!(
                r.json["error"]["message"],
                format!("The query option '{option}' cannot be combined with change tracking (Prefer: odata.track-changes or $deltatoken).")
            );
        }
    }
    // Without tracking, the same query is an ordinary one.
    let plain = h.get(&h.dv(&format!("{SELECT}&$filter=name eq 'A'"))).await;
    assert_eq!(plain.status, 200);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn untracked_tables_ignore_the_preference_and_refuse_delta_tokens() {
    let h = start_with(SandboxConfig {
        limits: Limits {
            untracked: vec!["contacts".into()],
            ..Limits::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    for name in ["Ada", "Bo"] {
        let body = json!({ "lastname": name });
        let r = h
            .send(Method::POST, &h.dv("contacts"), &[], Some(&body))
            .await;
        assert_eq!(r.status, 204);
    }
    let url = h.dv("contacts?$select=lastname");
    let r = h
        .tracked_get(&url, "odata.track-changes, odata.maxpagesize=1")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("preference-applied").as_deref(),
        Some("odata.maxpagesize=1")
    );
    assert_eq!(
        r.json["@odata.context"],
        json!(format!("{}/$metadata#contacts(lastname)", h.sb.dv_url()))
    );
    let last = h
        .tracked_get(r.json["@odata.nextLink"].as_str().unwrap(), TRACK)
        .await;
    assert_eq!(last.json["value"].as_array().unwrap().len(), 1);
    assert!(last.json.get("@odata.deltaLink").is_none());
    let token = h
        .tracked_get(
            &format!("{url}&$deltatoken=0%2101%2f01%2f2030%2000%3a00%3a00"),
            TRACK,
        )
        .await;
    assert_eq!(token.status, 400);
    assert_eq!(token.json["error"]["code"], "0x80060888");
    assert_eq!(
        token.json["error"]["message"],
        "The entity 'contact' is not enabled for change tracking."
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn entity_definitions_say_whether_a_table_tracks_changes() {
    let h = start_with(SandboxConfig {
        limits: Limits {
            untracked: vec!["contacts".into()],
            ..Limits::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let client = &h;
    let read = |entity: &str| {
        let url = h.dv(&format!(
            "EntityDefinitions(LogicalName='{entity}')?$select=ChangeTrackingEnabled"
        ));
        async move { client.get(&url).await }
    };
    let account = read("account").await;
    assert_eq!(account.status, 200, "{}", account.json);
    let id = account.json["MetadataId"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    assert_eq!(
        account.json,
        json!({
            "@odata.context": format!("{}/$metadata#EntityDefinitions(ChangeTrackingEnabled)/$entity", h.sb.dv_url()),
            "ChangeTrackingEnabled": true,
            "MetadataId": id,
            "LogicalName": "account",
        })
    );
    assert_eq!(
        read("account").await.json["MetadataId"],
        json!(id),
        "stable"
    );
    let contact = read("contact").await;
    assert_eq!(contact.json["ChangeTrackingEnabled"], false);
    assert_ne!(contact.json["MetadataId"], json!(id));
    let unknown = read("nothing").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json["error"]["code"], "0x80040217");
    // The same route still serves a choice column's options.
    let options = h
        .get(&h.dv("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='customertypecode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)"))
        .await;
    assert_eq!(options.status, 200, "{}", options.json);
    // Tracking can be switched off while the service runs, through the control surface.
    let put = h
        .send(
            Method::PUT,
            &format!("http://{}/_sandbox/faults", h.sb.dv.addr),
            &[],
            Some(&json!({"untracked": ["accounts"], "delta_token_ttl_secs": 60})),
        )
        .await;
    assert_eq!(put.status, 204, "{}", put.json);
    assert_eq!(read("account").await.json["ChangeTrackingEnabled"], false);
    assert_eq!(
        h.sb.control().limits().delta_token_ttl,
        Some(Duration::from_secs(60))
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn the_change_log_and_expiry_outlive_a_restart_of_a_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let config = || SandboxConfig {
        data: Some(dir.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let h = start_with(config()).await;
    h.create_account(1, "A").await;
    let first = h.track(&h.dv(SELECT), TRACK).await;
    h.create_account(2, "B").await;
    let stale = h.track(&first.delta, TRACK).await.delta;
    h.sb.control().expire_delta_tokens().unwrap();
    let current = h.track(&h.dv(SELECT), TRACK).await.delta;
    h.write_account(Method::PATCH, 1, json!({"name": "A1"}))
        .await;
    let old_root = h.sb.dv_url();
    h.sb.shutdown().await;

    let h = start_with(config()).await;
    // The new server listens on another port: the links are the same past the root.
    let moved = |link: &str| link.replace(&old_root, &h.sb.dv_url());
    let delta = h.track(&moved(&current), TRACK).await;
    assert_eq!(delta.rows(), vec![h.listed(1).await]);
    let refused = h.tracked_get(&moved(&stale), TRACK).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json["error"]["code"], "0x80044352");
    h.create_account(3, "C").await;
    let next = h.track(&delta.delta, TRACK).await;
    assert_eq!(next.rows(), vec![h.listed(3).await]);
    h.sb.shutdown().await;
}
