//! `syncmap schedule --listen`: a change in either sandbox reaches the other while the job's
//! interval is an hour, woken by Business Central's webhook notifications and by probes of
//! Dataverse's change tracking. The sandbox delivers notifications as the service does
//! (batched after a delay, with the subscription's client state), only sooner.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value as Json};
use syncmap::sandbox::person::Service;

use crate::schedule::{is, sample, text, wait_until, Env, Scheduler};
use crate::support::wire::{field, multiset};

/// One job whose interval is far longer than the test: only wakes can run it after its start.
const JOBS: &str = "job customers { sync modified customers every 1h }\n";

/// Dataverse's reads follow its change tracking, probed every second, and the scheduler
/// listens on a port of its choosing.
const PROFILE: &str = "changes = \"tracking\"\n\n[poll]\nseconds = 1\nidle_seconds = 2\n";

/// Subscriptions live `ttl` (renewed halfway).
fn env(ttl: Duration) -> Env {
    let env = Env::start(
        |c| {
            c.limits.notify_delay = Duration::from_millis(200);
            c.limits.subscription_ttl = ttl;
        },
        PROFILE,
        JOBS,
    );
    // A full sync couples everything and starts following Dataverse's changes.
    let full = env.syncmap(&["run", "--mode", "full"]);
    assert!(full.status.success(), "{}", text(&full.stderr));
    env
}

/// A port free now, so that a restarted scheduler listens at the same URL, as a deployed one
/// does.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn listening(env: &Env, name: &str, port: u16) -> (Scheduler, String) {
    let listen = format!("127.0.0.1:{port}");
    let mut s = env.schedule(name, &["--metrics", "127.0.0.1:0", "--listen", &listen]);
    let (_, serving) = s.wait_for("the metrics address", 0, |e| {
        is(e, "serving /metrics and /healthz")
    });
    s.wait_for("the subscription", 0, |e| {
        is(e, "subscribed to the table's changes") && e["table"] == "customers"
    });
    // The start's run is over, so what follows is the test's changes alone.
    s.wait_for("the start's run", 0, |e| {
        is(e, "job scheduled") && e["reason"] != "start"
    });
    (s, serving["addr"].as_str().unwrap().to_string())
}

fn woken(s: &Scheduler, cause_from: usize) -> usize {
    s.events()
        .iter()
        .skip(cause_from)
        .filter(|e| is(e, "job scheduled") && e["reason"] == "woken")
        .count()
}

fn customer(env: &Env, n: usize) -> Json {
    let mut open: Vec<Json> = env
        .rows(Service::BusinessCentral, "customers")
        .into_iter()
        .filter(|c| c["blocked"] == " ")
        .collect();
    open.sort_by_key(|c| c["number"].as_str().unwrap_or("").to_string());
    open.swap_remove(n)
}

fn phone_arrived(env: &Env, name: &str, phone: &str) -> bool {
    env.rows(Service::Dataverse, "accounts")
        .iter()
        .any(|a| a["name"] == name && a["telephone1"] == phone)
}

/// Every account's number in Dataverse and every customer's in Business Central, each as many
/// times as it is there: a record created twice shows as a count of two.
fn records(env: &Env) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let accounts = env.rows(Service::Dataverse, "accounts");
    let customers = env.rows(Service::BusinessCentral, "customers");
    (
        multiset(accounts.iter().map(|a| field(a, "accountnumber"))),
        multiset(customers.iter().map(|c| field(c, "number"))),
    )
}

#[test]
fn changes_on_either_side_arrive_without_interval_polling() {
    let env = env(Duration::from_secs(60));
    let before = records(&env);
    let (mut s, addr) = listening(&env, "events", free_port());
    let control = env.0.sandbox().control();
    let subs = control.subscriptions();
    let on_customers: Vec<_> = subs
        .iter()
        .filter(|x| x.resource.ends_with("/customers"))
        .collect();
    assert_eq!(on_customers.len(), 1, "{subs:?}");

    // Business Central → Dataverse, woken by the notification.
    let c = customer(&env, 0);
    let name = c["displayName"].as_str().unwrap().to_string();
    env.patch(
        Service::BusinessCentral,
        "customers",
        c["id"].as_str().unwrap(),
        json!({ "phoneNumber": "+1 555 0101" }),
    );
    wait_until("the phone in Dataverse", || {
        phone_arrived(&env, &name, "+1 555 0101")
    });

    // Dataverse → Business Central, woken by a probe of its change tracking.
    let account = env
        .rows(Service::Dataverse, "accounts")
        .into_iter()
        .find(|a| a["customertypecode"] == 3 && a["statecode"] == 0 && a["name"] != name.as_str())
        .unwrap();
    env.patch(
        Service::Dataverse,
        "accounts",
        account["accountid"].as_str().unwrap(),
        json!({ "name": "Renamed in Dataverse" }),
    );
    wait_until("the name in Business Central", || {
        env.rows(Service::BusinessCentral, "customers")
            .iter()
            .any(|c| c["displayName"] == "Renamed in Dataverse")
    });

    let (status, page) = env.get(&addr, "/metrics");
    assert_eq!(status, 200);
    for cause in ["notification", "probe"] {
        let series = format!("syncmap_job_wakes_total{{job=\"customers\",cause=\"{cause}\"}}");
        assert!(sample(&page, &series) >= 1.0, "{series}\n{page}");
    }
    for dir in ["left_to_right", "right_to_left"] {
        let series = format!(
            "syncmap_change_latency_seconds_count{{table=\"customers\",direction=\"{dir}\"}}"
        );
        assert!(sample(&page, &series) >= 1.0, "{series}\n{page}");
    }
    // Only the start ran by the interval: every other run was woken.
    let started = s.events().iter().filter(|e| is(e, "job started")).count();
    assert!(
        started >= 3 && started <= woken(&s, 0) + 1,
        "{}",
        s.raw_log()
    );

    // Stopped, it deletes its subscriptions: the service calls no one who is gone.
    let status = s.terminate();
    assert_eq!(status.code(), Some(0), "{}", s.raw_log());
    // Changes only: no record was created (or created twice) on either side.
    assert_eq!(records(&env), before);
    assert!(
        control.subscriptions().is_empty(),
        "{:?}",
        control.subscriptions()
    );
}

#[test]
fn a_lost_notification_delays_a_change_and_loses_none_and_renewals_never_double() {
    // Subscriptions of 4 s, renewed every 2 s during the test.
    let env = env(Duration::from_secs(4));
    let before = records(&env);
    let (mut s, _) = listening(&env, "lost", free_port());
    let control = env.0.sandbox().control();
    // A notification lost on the way: the next one's run reads both changes by modified-on.
    // Nothing else is on its way, so the loss is the next change's notification.
    env.rt.block_on(control.notifications_idle());
    let sent = control.notifications_sent();
    control.drop_notifications(1);
    let (a, b) = (customer(&env, 1), customer(&env, 2));
    env.patch(
        Service::BusinessCentral,
        "customers",
        a["id"].as_str().unwrap(),
        json!({ "phoneNumber": "+1 555 0111" }),
    );
    // The lost delivery is made (and dropped) before the next change is.
    let dropped_by = s.events().len();
    env.rt.block_on(control.notifications_idle());
    assert_eq!(control.notifications_sent(), sent);
    env.patch(
        Service::BusinessCentral,
        "customers",
        b["id"].as_str().unwrap(),
        json!({ "phoneNumber": "+1 555 0112" }),
    );
    env.rt.block_on(control.notifications_reach(sent + 1));
    wait_until("both phones in Dataverse", || {
        phone_arrived(&env, a["displayName"].as_str().unwrap(), "+1 555 0111")
            && phone_arrived(&env, b["displayName"].as_str().unwrap(), "+1 555 0112")
    });
    assert!(woken(&s, dropped_by) >= 1, "{}", s.raw_log());

    // The subscription is renewed before it expires (its life is 4 s here), never doubled.
    wait_until("two renewals", || {
        control.subscriptions().iter().any(|x| x.renewals >= 2)
    });
    assert_eq!(
        control
            .subscriptions()
            .iter()
            .filter(|x| x.resource.ends_with("/customers"))
            .count(),
        1
    );

    let status = s.terminate();
    assert_eq!(status.code(), Some(0), "{}", s.raw_log());
    // Changes only: no record was created (or created twice) on either side.
    assert_eq!(records(&env), before);
}

#[test]
fn a_killed_scheduler_is_taken_over_without_a_second_subscription_and_forged_notifications_are_refused(
) {
    let env = env(Duration::from_secs(60));
    let control = env.0.sandbox().control();
    let port = free_port();
    let (mut first, _) = listening(&env, "first", port);
    let before: Vec<String> = control.subscriptions().into_iter().map(|x| x.id).collect();
    assert_eq!(before.len(), 1, "{before:?}");
    first.child.kill().unwrap();
    first.wait();

    let (second, _) = listening(&env, "second", port);
    let after: Vec<String> = control.subscriptions().into_iter().map(|x| x.id).collect();
    // The same subscription, renewed with the new process's client state, which the
    // service's next notification carries and the new process takes.
    assert_eq!(after, before);
    let c = customer(&env, 0);
    let deliveries = control.notifications_sent();
    env.patch(
        Service::BusinessCentral,
        "customers",
        c["id"].as_str().unwrap(),
        json!({ "phoneNumber": "+1 555 0199" }),
    );
    wait_until("the phone in Dataverse", || {
        phone_arrived(&env, c["displayName"].as_str().unwrap(), "+1 555 0199")
    });
    assert!(control.notifications_sent() > deliveries);
    assert_eq!(control.deleted_subscriptions(), 0);
    let notified = |s: &Scheduler| {
        s.events()
            .iter()
            .filter(|e| is(e, "notified of changes"))
            .count()
    };
    let genuine = notified(&second);
    assert!(genuine >= 1, "{}", second.raw_log());

    let listen = second
        .events()
        .into_iter()
        .find(|e| is(e, "serving webhook notifications"))
        .unwrap();
    let url = format!("{}/notifications/bc", listen["url"].as_str().unwrap());
    let http = reqwest::Client::new();
    let post = |body: Json| {
        let (http, url) = (http.clone(), url.clone());
        env.rt.block_on(async move {
            let r = http.post(&url).json(&body).send().await.unwrap();
            r.status().as_u16()
        })
    };
    let forged = json!({ "value": [{
        "subscriptionId": "9f0e3c1d2b4a45e6a7b8c9d0e1f2a3b4",
        "clientState": "guessed",
        "resource": "api/v2.0/companies(00000000-0000-0000-0000-000000000001)/customers(00000000-0000-0000-0000-000000000002)",
        "changeType": "updated",
        "lastModifiedDateTime": "2026-12-05T00:00:00Z"
    }]});
    assert_eq!(post(forged.clone()), 401);
    // One of this process's subscriptions with another state (as one made before it took the
    // subscription over carries) is not refused, which would make the service delete it, but
    // wakes nothing either.
    let mut stale = forged;
    stale["value"][0]["subscriptionId"] = json!(after[0]);
    assert_eq!(post(stale), 202);
    assert_eq!(post(json!({ "not": "a notification" })), 400);
    // The handshake echoes its token, as plain text.
    let echoed = env.rt.block_on(async {
        let r = http
            .post(format!("{url}?validationToken=abc%20123"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(echoed, (200, "abc 123".to_string()));
    assert_eq!(notified(&second), genuine, "{}", second.raw_log());
}
