//! The scheduler's metrics, in the Prometheus text format: runs, records by outcome, HTTP
//! traffic per system (read live from the connectors' counters at each scrape), the last
//! success per table, and each job's wait and next due time.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::connectors::odata::client::Stats;
use crate::runtime::engine::RunReport;

/// The labels of a run.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    mode: String,
    trigger: String,
    status: String,
}

/// The labels of a record count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordLabels {
    table: String,
    direction: String,
    outcome: String,
}

/// A table mapping.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: String,
}

/// A job.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
}

/// A table mapping in one direction.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PassLabels {
    table: String,
    direction: String,
}

/// What woke a job.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WakeLabels {
    job: String,
    cause: String,
}

/// Bounds of the latency histogram, in seconds: from a webhook's seconds to a polling
/// interval's half hour and an idle backoff's hours.
const LATENCY_BUCKETS: [f64; 12] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 43200.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Every metric the scheduler serves.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    records: Family<RecordLabels, Counter>,
    last_success: Family<TableLabels, Gauge>,
    next_due: Family<JobLabels, Gauge>,
    wait: Family<JobLabels, Gauge>,
    latency: Family<PassLabels, Histogram, fn() -> Histogram>,
    wakes: Family<WakeLabels, Counter>,
}

impl Metrics {
    /// The metrics, with the HTTP counters of these systems (alias and counters).
    pub fn new(http: Vec<(String, Arc<Stats>)>) -> Metrics {
        let mut registry = Registry::with_prefix("syncmap");
        let runs = Family::<RunLabels, Counter>::default();
        registry.register("runs", "Runs, by mode, trigger and status", runs.clone());
        let records = Family::<RecordLabels, Counter>::default();
        registry.register(
            "records",
            "Records, by table mapping, direction and outcome",
            records.clone(),
        );
        let last_success = Family::<TableLabels, Gauge>::default();
        registry.register(
            "table_last_success_timestamp_seconds",
            "When a run of the table mapping last succeeded (Unix seconds)",
            last_success.clone(),
        );
        let next_due = Family::<JobLabels, Gauge>::default();
        registry.register(
            "job_next_due_timestamp_seconds",
            "When the job is next due (Unix seconds)",
            next_due.clone(),
        );
        let wait = Family::<JobLabels, Gauge>::default();
        registry.register(
            "job_wait_seconds",
            "The job's current wait between runs: its interval, longer while runs find nothing to do",
            wait.clone(),
        );
        let latency = Family::<PassLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "change_latency_seconds",
            "From a change's modified-on at its source to its write on the other side, in modified-only runs",
            latency.clone(),
        );
        let wakes = Family::<WakeLabels, Counter>::default();
        registry.register(
            "job_wakes",
            "Runs of a job brought forward by a change seen between runs, by cause (notification, probe)",
            wakes.clone(),
        );
        registry.register_collector(Box::new(HttpCollector(http)));
        Metrics {
            registry,
            runs,
            records,
            last_success,
            next_due,
            wait,
            latency,
            wakes,
        }
    }

    /// Counts a run that was recorded, and its records per table mapping and direction (the
    /// table named after its company when a profile syncs several: `CRONUS 2/customers`).
    pub fn run(&self, report: &RunReport, trigger: &str, status: &str, now_unix: i64) {
        self.company_run(report, "", (trigger, status), now_unix);
    }

    /// [`Metrics::run`] of one company's run.
    pub fn company_run(
        &self,
        report: &RunReport,
        company: &str,
        (trigger, status): (&str, &str),
        now_unix: i64,
    ) {
        let table = |mapping: &str| crate::state::unit_name(company, mapping);
        self.runs
            .get_or_create(&RunLabels {
                mode: report.mode.clone(),
                trigger: trigger.into(),
                status: status.into(),
            })
            .inc();
        for p in &report.tables {
            let c = &p.counts;
            for (outcome, n) in [
                ("inserted", c.inserted),
                ("modified", c.modified),
                ("unchanged", c.unchanged),
                ("skipped", c.skipped),
                ("failed", c.failed),
                ("conflicts", c.conflicts),
                ("deleted", c.deleted),
                ("coupled", c.coupled),
                ("uncoupled", c.uncoupled),
            ] {
                self.records
                    .get_or_create(&RecordLabels {
                        table: table(&p.mapping),
                        direction: p.direction.clone(),
                        outcome: outcome.into(),
                    })
                    .inc_by(n);
            }
        }
        for p in &report.tables {
            let labels = PassLabels {
                table: table(&p.mapping),
                direction: p.direction.clone(),
            };
            let h = self.latency.get_or_create(&labels);
            for l in &p.latencies {
                h.observe(*l);
            }
        }
        if status == "succeeded" {
            for p in &report.tables {
                self.table_succeeded(&table(&p.mapping), now_unix);
            }
        }
    }

    /// Counts a job's run brought forward by `cause` (`notification`, `probe`).
    pub fn woken(&self, job: &str, cause: &str) {
        self.wakes
            .get_or_create(&WakeLabels {
                job: job.into(),
                cause: cause.into(),
            })
            .inc();
    }

    /// Sets when a table mapping last synced successfully.
    pub fn table_succeeded(&self, table: &str, unix: i64) {
        self.last_success
            .get_or_create(&TableLabels {
                table: table.into(),
            })
            .set(unix);
    }

    /// Sets a job's wait and next due time.
    pub fn job(&self, job: &str, wait_secs: Option<i64>, next_due_unix: Option<i64>) {
        let labels = JobLabels { job: job.into() };
        match wait_secs {
            Some(w) => {
                self.wait.get_or_create(&labels).set(w);
            }
            None => {
                self.wait.remove(&labels);
            }
        }
        match next_due_unix {
            Some(d) => {
                self.next_due.get_or_create(&labels).set(d);
            }
            None => {
                self.next_due.remove(&labels);
            }
        }
    }

    /// Everything in the Prometheus text format (0.0.4).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String fails only if a metric's encoder does, which ours do not.
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("metrics could not be encoded");
        }
        out
    }
}

/// The HTTP connectors' counters, read as they are at each scrape.
#[derive(Debug)]
struct HttpCollector(Vec<(String, Arc<Stats>)>);

impl Collector for HttpCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        type Count = fn(&Stats) -> &std::sync::atomic::AtomicU64;
        let counts: [(&str, &str, Count); 3] = [
            (
                "http_requests",
                "HTTP requests sent, each attempt counted.",
                |s| &s.requests,
            ),
            (
                "http_retries",
                "HTTP requests repeated after a throttled, unavailable or broken answer.",
                |s| &s.retries,
            ),
            ("http_throttled", "HTTP answers of 429 (throttled).", |s| {
                &s.throttled
            }),
        ];
        for (name, help, field) in counts {
            let kind = ConstCounter::new(0u64).metric_type();
            let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
            for (system, stats) in &self.0 {
                let labels = [("system", system.as_str())];
                ConstCounter::new(load(field(stats))).encode(metric.encode_family(&labels)?)?;
            }
        }
        type Millis = fn(&Stats) -> &std::sync::atomic::AtomicU64;
        let waits: [(&str, &str, Millis); 2] = [
            (
                "http_throttled_wait_seconds",
                "Seconds spent waiting after throttled answers before retrying.",
                |s| &s.throttled_ms,
            ),
            (
                "http_paced_wait_seconds",
                "Seconds requests waited before leaving, to stay within the service's request budget.",
                |s| &s.paced_ms,
            ),
        ];
        for (name, help, field) in waits {
            let kind = ConstCounter::new(0f64).metric_type();
            let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
            for (system, stats) in &self.0 {
                let labels = [("system", system.as_str())];
                let secs = load(field(stats)) as f64 / 1000.0;
                ConstCounter::new(secs).encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::engine::PassReport;
    use crate::state::Counts;

    #[test]
    fn runs_records_http_and_jobs_are_encoded() {
        let stats = Arc::new(Stats::default());
        stats.requests.store(7, Ordering::Relaxed);
        stats.throttled_ms.store(1500, Ordering::Relaxed);
        stats.paced_ms.store(250, Ordering::Relaxed);
        let m = Metrics::new(vec![("dv".into(), stats.clone())]);
        let report = RunReport {
            mode: "modified".into(),
            tables: vec![PassReport {
                mapping: "customers".into(),
                direction: "left_to_right".into(),
                counts: Counts {
                    inserted: 2,
                    unchanged: 5,
                    ..Counts::default()
                },
                ..PassReport::default()
            }],
            ..RunReport::default()
        };
        m.run(&report, "schedule", "succeeded", 1_700_000_000);
        m.job("customers", Some(60), Some(1_700_000_060));
        // Counters read at the scrape, not at registration.
        stats.requests.store(9, Ordering::Relaxed);
        let text = m.encode();
        for line in [
            "syncmap_runs_total{mode=\"modified\",trigger=\"schedule\",status=\"succeeded\"} 1",
            "syncmap_records_total{table=\"customers\",direction=\"left_to_right\",outcome=\"inserted\"} 2",
            "syncmap_records_total{table=\"customers\",direction=\"left_to_right\",outcome=\"unchanged\"} 5",
            "syncmap_table_last_success_timestamp_seconds{table=\"customers\"} 1700000000",
            "syncmap_job_wait_seconds{job=\"customers\"} 60",
            "syncmap_job_next_due_timestamp_seconds{job=\"customers\"} 1700000060",
            "syncmap_http_requests_total{system=\"dv\"} 9",
            "syncmap_http_throttled_wait_seconds_total{system=\"dv\"} 1.5",
            "syncmap_http_paced_wait_seconds_total{system=\"dv\"} 0.25",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        // A failed run sets no success time.
        m.run(
            &RunReport {
                mode: "full".into(),
                tables: vec![PassReport {
                    mapping: "vendors".into(),
                    ..PassReport::default()
                }],
                ..RunReport::default()
            },
            "schedule",
            "failed",
            1_700_000_100,
        );
        let text = m.encode();
        assert!(!text.contains("table=\"vendors\"}"), "{text}");
        assert!(text.contains("status=\"failed\"} 1"), "{text}");
        // Another company's run of the same table counts apart.
        m.company_run(&report, "CRONUS 2", ("worker", "succeeded"), 1_700_000_200);
        let text = m.encode();
        for line in [
            "syncmap_records_total{table=\"customers\",direction=\"left_to_right\",outcome=\"inserted\"} 2",
            "syncmap_records_total{table=\"CRONUS 2/customers\",direction=\"left_to_right\",outcome=\"inserted\"} 2",
            "syncmap_table_last_success_timestamp_seconds{table=\"customers\"} 1700000000",
            "syncmap_table_last_success_timestamp_seconds{table=\"CRONUS 2/customers\"} 1700000200",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
    }
}
