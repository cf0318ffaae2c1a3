//! The notifications of written rows, and what becomes of them on their way.

use super::*;

#[tokio::test]
async fn rows_written_alone_are_notified_with_their_resource_and_state() {
    let h = start_notifying(Limits::default()).await;
    let mut receiver = Receiver::start().await;
    let sub = h
        .subscribed(&receiver.url, "customers", "shared-secret")
        .await;
    let control = h.sb.control();
    // Alone: created, updated, deleted, each in a window of its own.
    let a = h.customer("Alone").await;
    let n = receiver.next().await;
    assert_eq!(n.content_type, "application/json");
    assert_eq!(n.raw.first(), Some(&b'{'), "no byte order mark");
    assert_eq!(
        n.entries(),
        vec![triple(&sub, row("customers", &id_of(&a)), "created")]
    );
    let entry = &n.json["value"][0];
    assert_eq!(entry["clientState"], "shared-secret");
    let subscription = h.get(&h.subscription(&sub)).await.json;
    assert_eq!(
        entry["expirationDateTime"],
        subscription["expirationDateTime"]
    );
    let stamp = |v: &Json| -> jiff::Timestamp { v.as_str().unwrap().parse().unwrap() };
    let lag =
        stamp(&a["lastModifiedDateTime"]).duration_since(stamp(&entry["lastModifiedDateTime"]));
    assert!(lag >= jiff::SignedDuration::ZERO && lag < jiff::SignedDuration::from_millis(1));
    let url = h.bc(&format!("customers({})", id_of(&a)));
    let star = [("If-Match", "*")];
    let body = json!({"displayName": "Renamed"});
    assert_eq!(
        h.send(Method::PATCH, &url, &star, Some(&body)).await.status,
        200
    );
    let n = receiver.next().await;
    assert_eq!(
        n.entries(),
        vec![triple(&sub, row("customers", &id_of(&a)), "updated")]
    );
    assert_eq!(h.send(Method::DELETE, &url, &star, None).await.status, 204);
    let n = receiver.next().await;
    assert_eq!(
        n.entries(),
        vec![triple(&sub, row("customers", &id_of(&a)), "deleted")]
    );
    control.notifications_reach(3).await;
    control.notifications_idle().await;
    receiver.nothing_more();
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_batch_is_one_notification_of_what_it_committed() {
    let h = start_notifying(Limits::default()).await;
    let mut receiver = Receiver::start().await;
    let sub = h.subscribed(&receiver.url, "customers", "").await;
    let control = h.sb.control();
    let made = h
        .bc_batch(&[
            ("POST", "customers".into(), json!({"displayName": "B"})),
            ("POST", "customers".into(), json!({"displayName": "C"})),
            (
                "POST",
                "vendors".into(),
                json!({"displayName": "Unwatched"}),
            ),
        ])
        .await;
    let (b, c) = (id_of(&made[0]["body"]), id_of(&made[1]["body"]));
    let mut want = vec![
        triple(&sub, row("customers", &b), "created"),
        triple(&sub, row("customers", &c), "created"),
    ];
    want.sort();
    assert_eq!(receiver.next().await.entries(), want);
    let rename = |n: &str| json!({ "displayName": n });
    h.bc_batch(&[
        ("PATCH", format!("customers({b})"), rename("B1")),
        ("PATCH", format!("customers({b})"), rename("B2")),
        ("PATCH", format!("customers({c})"), rename("C1")),
        ("DELETE", format!("customers({c})"), Json::Null),
    ])
    .await;
    let mut want = vec![
        triple(&sub, row("customers", &b), "updated"),
        triple(&sub, row("customers", &c), "deleted"),
    ];
    want.sort();
    assert_eq!(receiver.next().await.entries(), want, "one entry a row");
    control.notifications_reach(2).await;
    assert_eq!(control.notifications_sent(), 2);
    control.notifications_idle().await;
    receiver.nothing_more();
    h.sb.shutdown().await;
}

#[tokio::test]
async fn more_rows_than_notify_max_come_as_one_collection_entry() {
    let h = start_notifying(Limits {
        notify_max: 3,
        ..Limits::default()
    })
    .await;
    let mut receiver = Receiver::start().await;
    let customers = h.subscribed(&receiver.url, "customers", "c").await;
    let vendors = h.subscribed(&receiver.url, "vendors", "v").await;
    let mut ops: Vec<(&str, String, Json)> = (0..4)
        .map(|i| {
            (
                "POST",
                "customers".to_string(),
                json!({ "displayName": format!("Many {i}") }),
            )
        })
        .collect();
    ops.push(("POST", "vendors".into(), json!({"displayName": "One"})));
    let made = h.bc_batch(&ops).await;
    let n = receiver.next().await;
    let entries = n.entries();
    assert_eq!(entries.len(), 2, "{}", n.json);
    let vendor = id_of(&made[4]["body"]);
    assert!(entries.contains(&triple(&vendors, row("vendors", &vendor), "created")));
    let collection = n.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subscriptionId"] == json!(customers))
        .unwrap();
    assert_eq!(collection["changeType"], "collection");
    assert_eq!(collection["clientState"], "c");
    let resource = collection["resource"].as_str().unwrap();
    let filter = format!(
        "{}?$filter=lastModifiedDateTime%20gt%20",
        self::resource("customers")
    );
    assert!(resource.starts_with(&filter), "{resource}");
    // The filter finds exactly the rows changed.
    let environment = h.sb.bc_url().replace("/api/v2.0", "");
    let listed = h.get(&format!("{environment}{resource}")).await;
    assert_eq!(listed.status, 200, "{}", listed.json);
    let mut found: Vec<String> = listed.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    let mut want: Vec<String> = made[..4].iter().map(|r| id_of(&r["body"])).collect();
    found.sort();
    want.sort();
    assert_eq!(found, want);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn duplicate_subscriptions_are_each_notified() {
    let h = start_notifying(Limits::default()).await;
    let mut receiver = Receiver::start().await;
    let one = h.subscribed(&receiver.url, "customers", "same").await;
    let two = h.subscribed(&receiver.url, "customers", "same").await;
    assert_ne!(one, two);
    assert_eq!(h.sb.control().subscriptions().len(), 2);
    let c = id_of(&h.customer("Twice").await);
    let mut want = vec![
        triple(&one, row("customers", &c), "created"),
        triple(&two, row("customers", &c), "created"),
    ];
    want.sort();
    assert_eq!(
        receiver.next().await.entries(),
        want,
        "one notification, an entry each"
    );
    h.sb.control().notifications_idle().await;
    receiver.nothing_more();
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_failed_notification_is_retried_and_a_refused_one_unsubscribes() {
    let h = start_notifying(Limits::default()).await;
    let mut receiver = Receiver::start().await;
    let sub = h.subscribed(&receiver.url, "customers", "").await;
    let control = h.sb.control();
    receiver.answer_with(&[500, 429]);
    let c = id_of(&h.customer("Retried").await);
    let want = vec![triple(&sub, row("customers", &c), "created")];
    let answered: Vec<u16> = [
        receiver.next().await,
        receiver.next().await,
        receiver.next().await,
    ]
    .iter()
    .map(|n| {
        assert_eq!(n.entries(), want);
        n.answered
    })
    .collect();
    assert_eq!(answered, vec![500, 429, 200]);
    control.notifications_reach(1).await;
    assert_eq!(
        (
            control.notifications_sent(),
            control.deleted_subscriptions()
        ),
        (1, 0)
    );
    // A status that is not retried deletes the subscription: nothing is notified after it.
    receiver.answer_with(&[400]);
    h.customer("Refused").await;
    assert_eq!(receiver.next().await.answered, 400);
    control.notifications_idle().await;
    assert_eq!(control.deleted_subscriptions(), 1);
    assert!(control.subscriptions().is_empty());
    assert_eq!(h.get(&h.subscription(&sub)).await.status, 404);
    h.customer("Unheard").await;
    control.notifications_idle().await;
    receiver.nothing_more();
    assert_eq!(control.notifications_sent(), 1);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn a_dropped_notification_is_lost_and_the_next_arrives() {
    let h = start_notifying(Limits::default()).await;
    let mut receiver = Receiver::start().await;
    let sub = h.subscribed(&receiver.url, "customers", "").await;
    let control = h.sb.control();
    control.drop_notifications(1);
    h.customer("Lost").await;
    control.notifications_idle().await;
    receiver.nothing_more();
    assert_eq!(control.notifications_sent(), 0);
    let c = id_of(&h.customer("Found").await);
    let n = receiver.next().await;
    assert_eq!(
        n.entries(),
        vec![triple(&sub, row("customers", &c), "created")]
    );
    control.notifications_reach(1).await;
    control.notifications_idle().await;
    receiver.nothing_more();
    assert_eq!(
        control.subscriptions().len(),
        1,
        "a lost notification deletes nothing"
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn the_custom_route_notifies_its_own_resources_of_writes_through_either_route() {
    let h = start_notifying(Limits::default()).await;
    let mut receiver = Receiver::start().await;
    let custom_api =
        h.sb.bc_url()
            .replace("api/v2.0", "api/syncmap/sandbox/v1.0");
    let prefix = "api/syncmap/sandbox/v1.0";
    let contacts = format!("/{prefix}/companies({})/contacts", company());
    let body =
        json!({"notificationUrl": receiver.url, "resource": contacts, "clientState": "custom"});
    let r = h
        .send(
            Method::POST,
            &format!("{custom_api}/subscriptions"),
            &[],
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let sub = r.json["subscriptionId"].as_str().unwrap().to_string();
    let made = h
        .send(
            Method::POST,
            &h.bc("contacts"),
            &[],
            Some(&json!({"displayName": "Via v2.0", "type": "Person"})),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.json);
    let resource = format!(
        "{prefix}/companies({})/contacts({})",
        company(),
        id_of(&made.json)
    );
    assert_eq!(
        receiver.next().await.entries(),
        vec![triple(&sub, resource, "created")]
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn writes_undone_with_their_atomicity_group_are_not_notified() {
    let h = start_notifying(Limits::default()).await;
    let mut receiver = Receiver::start().await;
    let sub = h.subscribed(&receiver.url, "customers", "").await;
    let kept = id_of(&h.customer("Kept").await);
    receiver.next().await;
    let company = company();
    let op = |id: &str, method: &str, url: String, group: Option<&str>| {
        let mut r = json!({"id": id, "method": method, "url": format!("companies({company})/{url}"),
            "headers": {"If-Match": "*"}, "body": {"displayName": id}});
        if let Some(g) = group {
            r["atomicityGroup"] = json!(g);
        }
        r
    };
    let missing = uuid::Uuid::new_v4();
    let batch = json!({"requests": [
        op("undone", "PATCH", format!("customers({kept})"), Some("g")),
        op("fails", "PATCH", format!("customers({missing})"), Some("g")),
        op("alone", "POST", "customers".into(), None),
    ]});
    let url = format!("{}/$batch", h.sb.bc_url());
    let r = h.send(Method::POST, &url, &[], Some(&batch)).await;
    let statuses: Vec<u64> = r.json["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![424, 404, 201], "{}", r.json);
    let alone = id_of(&r.json["responses"][2]["body"]);
    let n = receiver.next().await;
    assert_eq!(
        n.entries(),
        vec![triple(&sub, row("customers", &alone), "created")]
    );
    h.sb.control().notifications_idle().await;
    receiver.nothing_more();
    h.sb.shutdown().await;
}
