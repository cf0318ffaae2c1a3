//! Many companies in one store, on both stores: each company's couplings, watermarks, delta
//! links, intents, failures, runs and units are its own, though the table mappings and keys
//! are the same.

use super::super::*;
use super::{cursor, on_both_stores, t};

on_both_stores!(
    companies_keep_their_state_apart,
    companies_keep_their_units_apart,
    each_company_keeps_the_write_logs_of_its_newest_runs,
);

fn each_company_keeps_the_write_logs_of_its_newest_runs(s: &Store) {
    let dir = Direction::LeftToRight;
    let log = |company: &str| {
        s.set_company(company);
        let run = s
            .begin_run("full", "manual", "sha256:x", &[], false)
            .unwrap();
        s.log_write(
            run,
            "customers",
            dir,
            WriteAction::Inserted,
            "L",
            None,
            None,
        )
        .unwrap();
        s.finish_run(run, "succeeded", None).unwrap();
        run
    };
    let uk = log("CRONUS UK Ltd.");
    let de = [log("CRONUS DE GmbH"), log("CRONUS DE GmbH")];
    assert_eq!(
        s.prune_run_writes(1).unwrap(),
        1,
        "the older German run's log"
    );
    assert!(s.run_writes(de[0]).unwrap().is_empty());
    assert_eq!(s.run_writes(de[1]).unwrap().len(), 1);
    assert_eq!(
        s.run_writes(uk).unwrap().len(),
        1,
        "another company's newest run keeps its log"
    );
}

fn companies_keep_their_state_apart(s: &Store) {
    let dir = Direction::LeftToRight;
    s.set_company("CRONUS UK Ltd.");
    s.couple(&Coupling::new("customers", "L1", "R1")).unwrap();
    s.advance_watermark("customers", dir, &cursor("2024-01-01T00:00:00Z", "a"), 1)
        .unwrap();
    s.set_delta("customers", dir, Some("link-uk"), 1).unwrap();
    s.add_intents("customers", dir, &[Intent::create("L2", "R2")], 1)
        .unwrap();
    s.record_failure(1, "customers", dir, "L3", None, "refused")
        .unwrap();
    let uk_run = s
        .begin_run("full", "manual", "sha256:x", &["customers".into()], false)
        .unwrap();

    // The same keys in another company: no coupling taken, nothing of the first seen.
    s.set_company("CRONUS DE GmbH");
    assert_eq!(s.coupling("customers", Side::Left, "L1").unwrap(), None);
    s.transaction(|st| {
        st.couple(&Coupling::new("customers", "L1", "R9"))?;
        st.couple(&Coupling::new("customers", "L8", "R1"))
    })
    .unwrap();
    assert_eq!(s.watermark("customers", dir).unwrap(), None);
    assert_eq!(s.delta("customers", dir).unwrap(), None);
    assert!(s.intents("customers", dir).unwrap().is_empty());
    assert!(s.failures(None).unwrap().is_empty());
    assert!(s.failed_not_skipped("customers", dir).unwrap().is_empty());
    assert_eq!(s.coupling_counts("customers").unwrap(), (2, 0));
    assert_eq!(s.errors(None, None, 10).unwrap(), Vec::new());
    let keys = ["L2".to_string(), "L3".to_string()];
    assert!(s
        .create_intents_among("customers", dir, &keys)
        .unwrap()
        .is_empty());
    assert!(s.failed_in_run("customers", dir, 1).unwrap().is_empty());
    assert!(s.runs(10).unwrap().is_empty(), "no run of this company");
    assert_eq!(s.close_interrupted_runs_of("customers").unwrap(), 0);
    s.uncouple_all("customers").unwrap();
    s.reset_watermarks("customers").unwrap();

    // The first company's state is as it left it.
    s.set_company("CRONUS UK Ltd.");
    let c = s.coupling("customers", Side::Right, "R1").unwrap();
    assert_eq!(c.map(|c| c.left_key), Some("L1".to_string()));
    assert_eq!(s.coupling_counts("customers").unwrap(), (1, 0));
    assert!(s.watermark("customers", dir).unwrap().is_some());
    assert_eq!(
        s.delta("customers", dir).unwrap().as_deref(),
        Some("link-uk")
    );
    assert_eq!(s.intents("customers", dir).unwrap().len(), 1);
    assert_eq!(
        s.failed_not_skipped("customers", dir).unwrap(),
        vec!["L3".to_string()]
    );
    assert_eq!(s.errors(None, None, 10).unwrap().len(), 1);
    assert_eq!(
        s.create_intents_among("customers", dir, &keys)
            .unwrap()
            .len(),
        1
    );
    let runs = s.runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].company.as_str(), runs[0].status.as_str()),
        ("CRONUS UK Ltd.", "running"),
        "another company's worker closed nothing of this one"
    );
    assert_eq!(runs[0].id, uk_run);
}

fn companies_keep_their_units_apart(s: &Store) {
    let due = t("2030-01-01T00:00:00Z");
    let seeds: Vec<NewUnit> = ["", "CRONUS UK Ltd.", "CRONUS DE GmbH"]
        .map(|c| {
            (
                c.to_string(),
                "j".to_string(),
                "customers".to_string(),
                Some(due),
            )
        })
        .to_vec();
    s.seed_units(&seeds).unwrap();
    let uk = LeaseKind::Unit(unit_name("CRONUS UK Ltd.", "customers"));
    let de = LeaseKind::Unit(unit_name("CRONUS DE GmbH", "customers"));
    let held = s.take_lease(uk.clone()).unwrap().expect("the UK unit");
    let other = super::reopen(s);
    assert!(
        other.take_lease(de).unwrap().is_some(),
        "another company's unit of the same table is free"
    );
    assert!(matches!(
        other.take_lease(uk).unwrap_err(),
        StateError::WorkerBusy { .. }
    ));
    s.set_company("CRONUS UK Ltd.");
    s.set_fence(Some(held.fence()));
    let ran = UnitRun {
        due_at: Some(t("2030-01-02T00:00:00Z")),
        wait_seconds: None,
        status: "succeeded".into(),
        run: Some(3),
        finished_at: t("2030-01-01T00:01:00Z"),
    };
    s.unit_ran("j", "customers", &ran).unwrap();
    s.set_fence(None);
    let statuses: Vec<(String, Option<String>)> = s
        .units()
        .unwrap()
        .into_iter()
        .map(|u| (u.company, u.last_status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (String::new(), None),
            ("CRONUS DE GmbH".into(), None),
            ("CRONUS UK Ltd.".into(), Some("succeeded".into())),
        ]
    );
}
