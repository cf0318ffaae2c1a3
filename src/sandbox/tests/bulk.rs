//! Dataverse's bulk actions over HTTP, read back with plain JSON.

use super::*;

const CREATE: &str = "accounts/Microsoft.Dynamics.CRM.CreateMultiple";
const UPDATE: &str = "accounts/Microsoft.Dynamics.CRM.UpdateMultiple";

fn account(name: &str) -> Json {
    json!({"@odata.type": "Microsoft.Dynamics.CRM.account", "name": name})
}

fn with_key(mut target: Json, key: &str) -> Json {
    target["accountid"] = json!(key);
    target
}

impl Harness {
    async fn bulk(&self, action: &str, targets: Vec<Json>) -> Answer {
        let body = json!({ "Targets": targets });
        self.send(Method::POST, &self.dv(action), &[], Some(&body))
            .await
    }

    /// The names of every account, sorted (a multiset).
    async fn account_names(&self) -> Vec<String> {
        let (rows, _) = self.all(&self.dv("accounts?$select=name"), 5000).await;
        let mut names: Vec<String> = rows
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_string())
            .collect();
        names.sort();
        names
    }
}

#[tokio::test]
async fn create_multiple_makes_every_target_or_none() {
    let h = start(Seed::Empty).await;
    let key = "11111111-2222-4333-8444-555555555555";
    let before = h.sb.control().stats().writes;
    let made = h
        .bulk(
            CREATE,
            vec![with_key(account("Keyed"), key), account("B"), account("C")],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.json);
    let ids: Vec<&str> = made.json["Ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], key, "a target's own key is kept");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 3);
    assert!(made.json["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("#Microsoft.Dynamics.CRM.CreateMultipleResponse"));
    assert_eq!(
        made.json.as_object().unwrap().len(),
        2,
        "only the keys come back"
    );
    let got = h.get(&h.dv(&format!("accounts({})", ids[1]))).await;
    assert_eq!(got.json["name"], "B");
    assert_eq!(got.json["_createdby_value"], seed::app_user().id);
    assert_eq!(h.sb.control().stats().writes - before, 3);

    // One refused target (a name over 160 characters) fails the request; nothing is made.
    let refused = h
        .bulk(CREATE, vec![account("D"), account(&"x".repeat(161))])
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("160"));
    // A key that is taken fails it too, with Dataverse's duplicate code.
    let taken = h
        .bulk(CREATE, vec![account("E"), with_key(account("F"), key)])
        .await;
    assert_eq!(taken.status, 412);
    assert_eq!(taken.json["error"]["code"], "0x80040237");
    assert_eq!(h.account_names().await, ["B", "C", "Keyed"]);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn bulk_requests_are_typed_and_limited() {
    let h = start(Seed::Empty).await;
    let untyped = h.bulk(CREATE, vec![json!({"name": "No type"})]).await;
    assert_eq!(untyped.status, 400);
    assert!(untyped.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("@odata.type"));
    let contact = json!({"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": "X"});
    assert_eq!(h.bulk(CREATE, vec![contact]).await.status, 400);
    assert_eq!(h.bulk(CREATE, Vec::new()).await.status, 400);
    let too_many = (0..1001).map(|i| account(&format!("A{i}"))).collect();
    let r = h.bulk(CREATE, too_many).await;
    assert_eq!(r.status, 400);
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("1000"));
    let not_an_action = h
        .send(
            Method::POST,
            &h.dv("accounts/Microsoft.Dynamics.CRM.DeleteMultiple"),
            &[],
            Some(&json!({"Targets": []})),
        )
        .await;
    assert_eq!(not_an_action.status, 501);
    assert!(h.account_names().await.is_empty());
    h.sb.shutdown().await;
}

#[tokio::test]
async fn update_multiple_changes_every_target_or_none() {
    let h = start(Seed::Empty).await;
    let (a, b) = (
        "11111111-2222-4333-8444-555555555555",
        "21111111-2222-4333-8444-555555555555",
    );
    let made = h
        .bulk(
            CREATE,
            vec![with_key(account("A"), a), with_key(account("B"), b)],
        )
        .await;
    assert_eq!(made.status, 200);
    let version = |r: &Answer| r.json["@odata.etag"].as_str().unwrap().to_string();
    let a_before = version(&h.get(&h.dv(&format!("accounts({a})"))).await);
    let done = h
        .bulk(
            UPDATE,
            vec![with_key(account("A2"), a), with_key(account("B2"), b)],
        )
        .await;
    assert_eq!(done.status, 204, "{}", done.json);
    let a_after = h.get(&h.dv(&format!("accounts({a})"))).await;
    assert_ne!(version(&a_after), a_before, "an update makes a new version");
    assert_eq!(h.account_names().await, ["A2", "B2"]);

    // A target that does not exist, or has no key, fails the request; nothing changes.
    let missing = "31111111-2222-4333-8444-555555555555";
    let r = h
        .bulk(
            UPDATE,
            vec![with_key(account("A3"), a), with_key(account("M"), missing)],
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json["error"]["code"], "0x80040217");
    let keyless = h.bulk(UPDATE, vec![account("No key")]).await;
    assert_eq!(keyless.status, 400);
    let twice = h
        .bulk(
            UPDATE,
            vec![with_key(account("A4"), a), with_key(account("A5"), a)],
        )
        .await;
    assert_eq!(twice.status, 400);
    assert_eq!(h.account_names().await, ["A2", "B2"]);
    h.sb.shutdown().await;
}
