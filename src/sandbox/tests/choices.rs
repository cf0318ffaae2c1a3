//! Dataverse's choice columns as live metadata over HTTP: reading a column's options,
//! `InsertOptionValue`, `UpdateOptionValue` and `DeleteOptionValue`, rows checked against the
//! options as they are now; and Business Central's code tables the options come from.

use super::*;

const PAYMENT_TERMS: &str = "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='paymenttermscode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)";

fn label(text: &str) -> Json {
    json!({"LocalizedLabels": [{"Label": text, "LanguageCode": 1033}]})
}

/// The body of an action on `account.paymenttermscode`, with more parameters.
fn on_terms(more: Json) -> Json {
    let mut body =
        json!({"EntityLogicalName": "account", "AttributeLogicalName": "paymenttermscode"});
    for (k, v) in more.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

impl Harness {
    async fn action(&self, name: &str, body: &Json) -> Answer {
        self.send(Method::POST, &self.dv(name), &[], Some(body))
            .await
    }

    /// `InsertOptionValue` on the payment terms; the value the service gave.
    async fn insert_term(&self, text: &str, description: Option<&str>) -> i64 {
        let mut body = on_terms(json!({"Label": label(text)}));
        if let Some(d) = description {
            body["Description"] = label(d);
        }
        let r = self.action("InsertOptionValue", &body).await;
        assert_eq!(r.status, 200, "{}", r.json);
        r.json["NewOptionValue"].as_i64().unwrap()
    }

    /// The payment terms' options as `(value, label, description)`.
    async fn terms(&self) -> Vec<(i64, String, Option<String>)> {
        let r = self.get(&self.dv(PAYMENT_TERMS)).await;
        assert_eq!(r.status, 200, "{}", r.json);
        let user = |l: &Json| {
            l["UserLocalizedLabel"]["Label"]
                .as_str()
                .map(str::to_string)
        };
        r.json["OptionSet"]["Options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let text = user(&o["Label"]).unwrap();
                (o["Value"].as_i64().unwrap(), text, user(&o["Description"]))
            })
            .collect()
    }

    /// Creates an account with these payment terms.
    async fn account_with_terms(&self, value: i64) -> Answer {
        let body = json!({"name": "Terms Ltd.", "paymenttermscode": value});
        self.send(
            Method::POST,
            &self.dv("accounts"),
            &[("Prefer", "return=representation")],
            Some(&body),
        )
        .await
    }
}

fn assert_error(r: &Answer, status: u16, code: &str, message: &str) {
    assert_eq!(r.status, status, "{}", r.json);
    assert_eq!(r.json["error"]["code"], code, "{}", r.json);
    assert_eq!(r.json["error"]["message"], message, "{}", r.json);
}

/// The refusal of a choice value that is not an option, as for any other refused value.
fn assert_not_an_option(r: &Answer, value: i64) {
    let message = format!("A validation error occurred. The value {value} of 'paymenttermscode' on record of type 'account' is outside the valid range.");
    assert_error(r, 400, "0x80044331", &message);
    assert_eq!(r.json["error"]["target"], "paymenttermscode");
}

fn strings(list: &[(i64, &str, Option<&str>)]) -> Vec<(i64, String, Option<String>)> {
    list.iter()
        .map(|(v, l, d)| (*v, l.to_string(), d.map(str::to_string)))
        .collect()
}

#[tokio::test]
async fn a_choice_reads_its_snapshot_options_as_the_service_answers() {
    let h = start(Seed::Empty).await;
    let r = h.get(&h.dv(PAYMENT_TERMS)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let origin = format!("http://{}", h.sb.dv.addr);
    assert_eq!(
        r.json["@odata.context"],
        format!("{origin}/api/data/v9.2/$metadata#EntityDefinitions('account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata(LogicalName,OptionSet,OptionSet(Options))/$entity")
    );
    assert_eq!(r.json["LogicalName"], "paymenttermscode");
    let first = &r.json["OptionSet"]["Options"][0];
    let localized = &first["Label"]["LocalizedLabels"][0];
    assert_eq!(
        (
            &first["Value"],
            &localized["Label"],
            &localized["LanguageCode"]
        ),
        (&json!(1), &json!("Net 30"), &json!(1033))
    );
    assert_eq!(first["Label"]["UserLocalizedLabel"], *localized);
    assert_eq!(
        first["Description"],
        json!({"LocalizedLabels": [], "UserLocalizedLabel": null})
    );
    assert_eq!(
        (&first["Color"], &first["IsManaged"], &first["ParentValues"]),
        (&Json::Null, &json!(false), &json!([]))
    );
    let ids = |a: &Answer| {
        (
            a.json["MetadataId"].clone(),
            a.json["OptionSet"]["MetadataId"].clone(),
        )
    };
    let again = h.get(&h.dv(PAYMENT_TERMS)).await;
    assert_eq!(ids(&again), ids(&r), "metadata ids are stable");
    assert!(uuid::Uuid::parse_str(r.json["MetadataId"].as_str().unwrap()).is_ok());
    assert_eq!(
        h.terms().await,
        strings(&[
            (1, "Net 30", None),
            (2, "2% 10, Net 30", None),
            (3, "Net 45", None),
            (4, "Net 60", None)
        ])
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn inserted_options_are_numbered_read_back_and_taken_by_writes() {
    let h = start(Seed::Empty).await;
    let r = h
        .action(
            "InsertOptionValue",
            &on_terms(json!({"Label": label("NET45"), "Description": label("Net 45 days"), "SolutionUniqueName": "Default"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        r.json,
        json!({
            "@odata.context": format!("http://{}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.InsertOptionValueResponse", h.sb.dv.addr),
            "NewOptionValue": 100000000,
        })
    );
    assert_eq!(h.insert_term("NET60", None).await, 100000001);
    // The service does not refuse a label that is there already.
    assert_eq!(h.insert_term("NET45", None).await, 100000002);
    let terms = h.terms().await;
    assert_eq!(
        terms[4..],
        strings(&[
            (100000000, "NET45", Some("Net 45 days")),
            (100000001, "NET60", None),
            (100000002, "NET45", None)
        ])
    );

    let made = h.account_with_terms(100000000).await;
    assert_eq!(made.status, 201, "{}", made.json);
    assert_eq!(made.json["paymenttermscode"], 100000000);
    let key = made.json["accountid"].as_str().unwrap();
    let formatted = h
        .send(
            Method::GET,
            &h.dv(&format!("accounts({key})?$select=paymenttermscode")),
            &[("Prefer", "odata.include-annotations=\"*\"")],
            None,
        )
        .await;
    assert_eq!(
        formatted.json["paymenttermscode@OData.Community.Display.V1.FormattedValue"],
        "NET45"
    );
    assert_not_an_option(&h.account_with_terms(100000005).await, 100000005);
    assert_not_an_option(&h.account_with_terms(5).await, 5);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn inserts_with_a_value_take_it_once_and_need_a_label() {
    let h = start(Seed::Empty).await;
    let given = on_terms(json!({"Label": label("Net 90"), "Value": 7}));
    let r = h.action("InsertOptionValue", &given).await;
    assert_eq!(r.json["NewOptionValue"], 7, "{}", r.json);
    assert_error(
        &h.action("InsertOptionValue", &given).await,
        400,
        "0x80040237",
        "An option with value 7 already exists for attribute 'paymenttermscode' of entity 'account'.",
    );
    let needs = "InsertOptionValue needs a Label with a text in at least one language.";
    assert_error(
        &h.action("InsertOptionValue", &on_terms(json!({}))).await,
        400,
        "0x80040203",
        needs,
    );
    assert_error(
        &h.action(
            "InsertOptionValue",
            &on_terms(json!({"Label": label("  ")})),
        )
        .await,
        400,
        "0x80040203",
        needs,
    );
    let unknown = h
        .action(
            "InsertOptionValue",
            &on_terms(json!({"Label": label("X"), "Colour": "#fff"})),
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json["error"]["code"], "0x80048d19");
    // A custom value after a given one goes on from the largest custom value.
    assert_eq!(h.insert_term("A", None).await, 100000000);
    let high = on_terms(json!({"Label": label("High"), "Value": 100000010}));
    assert_eq!(h.action("InsertOptionValue", &high).await.status, 200);
    assert_eq!(h.insert_term("B", None).await, 100000011);
    assert_eq!(
        h.terms().await.iter().map(|t| t.0).collect::<Vec<_>>(),
        [1, 2, 3, 4, 7, 100000000, 100000010, 100000011]
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn options_are_relabelled_and_deleted() {
    let h = start(Seed::Empty).await;
    let value = h.insert_term("NET45", Some("Net 45 days")).await;
    let made = h.account_with_terms(value).await;
    let key = made.json["accountid"].as_str().unwrap().to_string();
    let update = on_terms(json!({"Value": value, "Label": label("Net 45"), "MergeLabels": true}));
    let r = h.action("UpdateOptionValue", &update).await;
    assert_eq!(r.status, 204, "{}", r.json);
    assert!(r.raw.is_empty());
    assert_eq!(
        h.terms().await[4..],
        strings(&[(value, "Net 45", Some("Net 45 days"))]),
        "a description left out stays"
    );
    let read = h
        .send(
            Method::GET,
            &h.dv(&format!("accounts({key})")),
            &[(
                "Prefer",
                "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"",
            )],
            None,
        )
        .await;
    assert_eq!(
        read.json["paymenttermscode@OData.Community.Display.V1.FormattedValue"],
        "Net 45"
    );

    let delete = on_terms(json!({"Value": value}));
    let r = h.action("DeleteOptionValue", &delete).await;
    assert_eq!(r.status, 204, "{}", r.json);
    assert_eq!(h.terms().await.len(), 4);
    assert_not_an_option(&h.account_with_terms(value).await, value);
    let patch = h
        .send(
            Method::PATCH,
            &h.dv(&format!("accounts({key})")),
            &[],
            Some(&json!({"paymenttermscode": value})),
        )
        .await;
    assert_not_an_option(&patch, value);
    let gone = format!("The option value {value} does not exist for attribute 'paymenttermscode' of entity 'account'.");
    assert_error(
        &h.action("DeleteOptionValue", &delete).await,
        404,
        "0x80040217",
        &gone,
    );
    assert_error(
        &h.action("UpdateOptionValue", &update).await,
        404,
        "0x80040217",
        &gone,
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn unknown_entities_attributes_and_shapes_are_refused() {
    let h = start(Seed::Empty).await;
    let read = |entity: &str, attribute: &str| {
        h.dv(&format!("EntityDefinitions(LogicalName='{entity}')/Attributes(LogicalName='{attribute}')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"))
    };
    assert_error(
        &h.get(&read("nothing", "paymenttermscode")).await,
        404,
        "0x80040217",
        "Could not find an entity with name 'nothing'.",
    );
    assert_error(
        &h.get(&read("account", "nothing")).await,
        404,
        "0x80040217",
        "Could not find attribute with name 'nothing' on entity 'account'.",
    );
    let not_a_choice = h.get(&read("account", "name")).await;
    assert_eq!(not_a_choice.status, 404);
    assert_eq!(not_a_choice.json["error"]["code"], "0x80040217");
    // The entity set's name is not the entity's.
    assert_eq!(
        h.get(&read("accounts", "paymenttermscode")).await.status,
        404
    );
    let uncast = h
        .get(&h.dv("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='paymenttermscode')?$expand=OptionSet"))
        .await;
    assert_eq!(uncast.status, 400);
    assert!(uncast.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Microsoft.Dynamics.CRM.PicklistAttributeMetadata"));
    let action =
        json!({"EntityLogicalName": "nothing", "AttributeLogicalName": "x", "Label": label("X")});
    assert_error(
        &h.action("InsertOptionValue", &action).await,
        404,
        "0x80040217",
        "Could not find an entity with name 'nothing'.",
    );
    let no_value = on_terms(json!({"Label": label("X"), "MergeLabels": true}));
    assert_error(
        &h.action("UpdateOptionValue", &no_value).await,
        400,
        "0x80040203",
        "UpdateOptionValue needs the parameter 'Value'.",
    );
    // Metadata is served to requests sent alone.
    let body = on_terms(json!({"Label": label("X")}));
    let batch = h
        .dv_batch(&[("POST", "InsertOptionValue", body)], false, false)
        .await;
    assert_eq!(Harness::statuses(&batch), [501]);
    assert_eq!(h.terms().await.len(), 4);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn bulk_and_batch_writes_take_only_live_options() {
    let h = start(Seed::Empty).await;
    let value = h.insert_term("NET45", None).await;
    let target = |v: i64| json!({"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "Bulk", "paymenttermscode": v});
    let create = "accounts/Microsoft.Dynamics.CRM.CreateMultiple";
    let ok = h
        .send(
            Method::POST,
            &h.dv(create),
            &[],
            Some(&json!({"Targets": [target(value)]})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    let refused = h
        .send(
            Method::POST,
            &h.dv(create),
            &[],
            Some(&json!({"Targets": [target(value + 1)]})),
        )
        .await;
    assert_not_an_option(&refused, value + 1);
    let batch = h
        .dv_batch(
            &[
                (
                    "POST",
                    "accounts",
                    json!({"name": "A", "paymenttermscode": value}),
                ),
                (
                    "POST",
                    "accounts",
                    json!({"name": "B", "paymenttermscode": 99}),
                ),
            ],
            false,
            true,
        )
        .await;
    assert_eq!(Harness::statuses(&batch), [204, 400]);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn an_insert_whose_answer_is_lost_has_added_the_option() {
    let h = start(Seed::Empty).await;
    let control = h.sb.control();
    control.set_faults(Faults {
        lost_answer_rate: 1.0,
        ..Faults::default()
    });
    let body = on_terms(json!({"Label": label("NET45")}));
    let lost = h
        .http
        .post(h.dv("InsertOptionValue"))
        .bearer_auth(&h.token)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await;
    assert!(lost.is_err(), "the connection closes without an answer");
    control.set_faults(Faults::default());
    assert_eq!(h.terms().await[4..], strings(&[(100000000, "NET45", None)]));
    let stats = control.stats();
    assert_eq!(stats.dv.answers_lost, 1);
    assert_eq!(stats.dv.routes["POST InsertOptionValue"], 1);
    assert_eq!(stats.dv.writes, 1);
    // A client that sends it again makes a second option: the service does not refuse it.
    assert_eq!(h.insert_term("NET45", None).await, 100000001);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn options_clients_changed_outlive_a_restart_of_a_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let config = || SandboxConfig {
        data: Some(dir.path().to_path_buf()),
        ..SandboxConfig::default()
    };
    let h = start_with(config()).await;
    assert_eq!(h.insert_term("NET45", None).await, 100000000);
    let delete = on_terms(json!({"Value": 1}));
    assert_eq!(h.action("DeleteOptionValue", &delete).await.status, 204);
    h.sb.shutdown().await;
    let h = start_with(config()).await;
    assert_eq!(
        h.terms().await.iter().map(|t| t.0).collect::<Vec<_>>(),
        [2, 3, 4, 100000000],
        "the snapshot's options are not seeded again"
    );
    h.sb.shutdown().await;
}

#[tokio::test]
async fn business_central_serves_its_payment_terms_and_shipment_methods() {
    let h = start(Seed::Demo).await;
    let codes = |r: &Answer| -> Vec<String> {
        let rows = r.json["value"].as_array().unwrap();
        rows.iter()
            .map(|t| t["code"].as_str().unwrap().to_string())
            .collect()
    };
    let terms = h.get(&h.bc("paymentTerms?$orderby=code")).await;
    assert_eq!(terms.status, 200, "{}", terms.json);
    assert_eq!(codes(&terms), ["14 DAYS", "1M(8D)", "30 DAYS", "CM", "COD"]);
    let net30 = &terms.json["value"][2];
    assert_eq!(
        (&net30["displayName"], &net30["dueDateCalculation"]),
        (&json!("Net 30 days"), &json!("30D"))
    );
    let methods = h.get(&h.bc("shipmentMethods?$orderby=code")).await;
    assert_eq!(codes(&methods), ["CIF", "EXW", "PICKUP"]);
    let adatum = h.get(&h.bc("customers?$filter=number eq 'C00010'")).await;
    assert_eq!(adatum.json["value"][0]["paymentTermsId"], net30["id"]);
    let exw = &methods.json["value"][1];
    assert_eq!(adatum.json["value"][0]["shipmentMethodId"], exw["id"]);

    let made = h
        .send(
            Method::POST,
            &h.bc("paymentTerms"),
            &[],
            Some(&json!({"code": "60 DAYS", "displayName": "Net 60 days", "dueDateCalculation": "60D"})),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.json);
    let url = h.bc(&format!(
        "paymentTerms({})",
        made.json["id"].as_str().unwrap()
    ));
    let etag = made.json["@odata.etag"].as_str().unwrap().to_string();
    let changed = h
        .send(
            Method::PATCH,
            &url,
            &[("If-Match", &etag)],
            Some(&json!({"displayName": "Sixty days"})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.json);
    assert_eq!(changed.json["displayName"], "Sixty days");
    let taken = h
        .send(
            Method::POST,
            &h.bc("shipmentMethods"),
            &[],
            Some(&json!({"code": "EXW"})),
        )
        .await;
    assert_eq!(taken.status, 400, "codes are unique in a company");
    let deleted = h
        .send(Method::DELETE, &url, &[("If-Match", "*")], None)
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(h.get(&url).await.status, 404);
    h.sb.shutdown().await;
}

#[tokio::test]
async fn merge_labels_keeps_or_drops_the_other_languages() {
    let h = start(Seed::Empty).await;
    let value = h.insert_term("Net 45", None).await;
    let french = json!({"LocalizedLabels": [{"Label": "45 jours", "LanguageCode": 1036}]});
    let languages = |r: &Answer| -> Vec<(i64, String)> {
        let option = &r.json["OptionSet"]["Options"][4];
        let labels = option["Label"]["LocalizedLabels"].as_array().unwrap();
        labels
            .iter()
            .map(|l| {
                let text = l["Label"].as_str().unwrap().to_string();
                (l["LanguageCode"].as_i64().unwrap(), text)
            })
            .collect()
    };
    let update = |merge: bool| {
        on_terms(json!({"Value": value, "Label": french.clone(), "MergeLabels": merge}))
    };
    assert_eq!(
        h.action("UpdateOptionValue", &update(true)).await.status,
        204
    );
    let merged = h.get(&h.dv(PAYMENT_TERMS)).await;
    assert_eq!(
        languages(&merged),
        [(1033, "Net 45".to_string()), (1036, "45 jours".to_string())]
    );
    let user = &merged.json["OptionSet"]["Options"][4]["Label"]["UserLocalizedLabel"];
    assert_eq!(
        user["Label"], "Net 45",
        "the application user reads English"
    );
    assert_eq!(
        h.action("UpdateOptionValue", &update(false)).await.status,
        204
    );
    let replaced = h.get(&h.dv(PAYMENT_TERMS)).await;
    assert_eq!(languages(&replaced), [(1036, "45 jours".to_string())]);
    h.sb.shutdown().await;
}
