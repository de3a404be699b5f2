//! Metrics as CloudWatch Embedded Metric Format (EMF) lines on stdout.
//!
//! Lambda forwards stdout to CloudWatch Logs, and CloudWatch turns every log line that carries
//! an `_aws.CloudWatchMetrics` directive into metrics: no API calls, no extra permission, no
//! latency in the invocation. One line is a JSON object whose `_aws` member names the
//! namespace, the dimension sets and the metrics (name and unit); the dimension values and the
//! metric values are top-level members of the same object.
//!
//! The loader writes one line per table and pass ([`table_pass`]), the detector one per
//! invocation ([`detector_invocation`]). Every metric goes to namespace [`NAMESPACE`] under two
//! dimension sets: `Pipeline` + `Table` (per table) and `Pipeline` alone (across tables, what
//! the template's "any table" alarms watch). Metric names are the constants in [`names`];
//! `infra/template.yaml` refers to them.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tracing::warn;

use crate::detector::DetectorOutcome;
use crate::loader::{PassReport, TableOutcome, TableRun};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "HudiPgSync";

/// Dimension: the pipeline (`HPS_PIPELINE`).
pub const DIM_PIPELINE: &str = "Pipeline";
/// Dimension: the table's configured id.
pub const DIM_TABLE: &str = "Table";

/// Metric names.
pub mod names {
    /// Loader: staging rows created or replaced by the pass (upserts that won the version guard).
    pub const ROWS_UPSERTED: &str = "RowsUpserted";
    /// Loader: deletes applied by the pass (that won the version guard).
    pub const ROWS_DELETED: &str = "RowsDeleted";
    /// Loader: change rows PostgreSQL could not hold, quarantined by the pass instead of
    /// applied (`on_bad_row = quarantine`; 0 otherwise).
    pub const ROWS_QUARANTINED: &str = "RowsQuarantined";
    /// Loader: instants the pass applied completely.
    pub const INSTANTS_APPLIED: &str = "InstantsApplied";
    /// Loader: transactions the pass committed.
    pub const TRANSACTIONS: &str = "Transactions";
    /// Loader: wall time spent on the table in the invocation.
    pub const PASS_DURATION: &str = "PassDuration";
    /// Loader: seconds between the completion of the newest applied instant and now (0 for
    /// a table found up to date).
    pub const LAG: &str = "Lag";
    /// Loader: completed instants still to apply after the pass.
    pub const INSTANTS_BEHIND: &str = "InstantsBehind";
    /// Loader: 1 when the table stopped because its incremental history is gone.
    pub const NEEDS_RESYNC: &str = "NeedsResync";
    /// Loader: 1 when the table's pass failed (its messages are retried).
    pub const FAILURES: &str = "Failures";
    /// Detector: S3 object records in the invocation's event (a sweep carries none).
    pub const EVENTS_SEEN: &str = "EventsSeen";
    /// Detector: (table, instant) messages sent.
    pub const INSTANTS_ENQUEUED: &str = "InstantsEnqueued";
    /// Detector: sweep messages sent (one per swept table).
    pub const SWEEPS_ENQUEUED: &str = "SweepsEnqueued";
    /// Detector: instants not sent because the table's bookmark is already past them.
    pub const ALREADY_APPLIED: &str = "InstantsAlreadyApplied";
    /// Detector: keys that are not completed instants of a configured table.
    pub const KEYS_IGNORED: &str = "KeysIgnored";
}

/// A metric's unit, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// The metrics of one EMF line: dimension values and metric values.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricLine {
    /// Dimension name and value, the pipeline first (see [`MetricLine::to_json`] for the
    /// dimension sets).
    dimensions: Vec<(&'static str, String)>,
    metrics: Vec<(&'static str, Unit, f64)>,
}

impl MetricLine {
    /// A line with these dimensions, the first being the pipeline.
    fn new(dimensions: Vec<(&'static str, String)>) -> Self {
        MetricLine {
            dimensions,
            metrics: Vec::new(),
        }
    }

    fn put(&mut self, name: &'static str, unit: Unit, value: f64) -> &mut Self {
        self.metrics.push((name, unit, value));
        self
    }

    fn count(&mut self, name: &'static str, value: u64) -> &mut Self {
        // counts stay far below 2^53: exact as f64
        self.put(name, Unit::Count, value as f64)
    }

    /// The metric names of the line, in order.
    pub fn metric_names(&self) -> Vec<&'static str> {
        self.metrics.iter().map(|(n, _, _)| *n).collect()
    }

    /// The value of a metric, if the line has it.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, v)| *v)
    }

    /// The EMF document: `_aws` (timestamp in epoch milliseconds, one directive with the
    /// namespace, the dimension sets — all dimensions, and the pipeline alone when there are
    /// more — and the metric definitions), then every dimension and metric as a member.
    pub fn to_json(&self, at: DateTime<Utc>) -> Value {
        let all: Vec<&str> = self.dimensions.iter().map(|(n, _)| *n).collect();
        let mut sets = vec![all.clone()];
        if all.len() > 1 {
            sets.push(all[..1].to_vec());
        }
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": sets,
                    "Metrics": definitions,
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            doc.insert((*name).into(), Value::String(value.clone()));
        }
        for (name, _, value) in &self.metrics {
            doc.insert((*name).into(), json!(value));
        }
        Value::Object(doc)
    }
}

/// Write the line to stdout as one line of JSON, timestamped now. A failed write is logged
/// and otherwise ignored: metrics must never fail an invocation.
pub fn emit(line: &MetricLine) {
    let text = line.to_json(Utc::now()).to_string();
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        warn!(error = %e, "could not write a metrics line");
    }
}

/// The lag of a pass that went through: from the completion of the newest applied instant to
/// `now`; zero for a table found up to date; unknown otherwise (nothing finished applying, or
/// the completion time cannot be told).
fn lag_seconds(report: &PassReport, now: DateTime<Utc>) -> Option<f64> {
    if report.instants_applied > 0
        && let Some(at) = report.newest_completed_at
    {
        let ms = (now - at).num_milliseconds().max(0);
        return Some(ms as f64 / 1000.0);
    }
    (report.instants_applied == 0 && report.up_to_date).then_some(0.0)
}

/// The loader's line for one table of a batch; `None` for a table deferred without a pass.
/// A pass that went through reports its counts, duration, instants behind and (when known)
/// lag, with `NeedsResync` and `Failures` 0; a failed pass reports `Failures` 1,
/// `NeedsResync` (1 when the table needs a resync) and its duration.
pub fn table_pass(pipeline: &str, run: &TableRun, now: DateTime<Utc>) -> Option<MetricLine> {
    let mut line = MetricLine::new(vec![
        (DIM_PIPELINE, pipeline.to_string()),
        (DIM_TABLE, run.table.clone()),
    ]);
    let duration_ms = run.elapsed.as_secs_f64() * 1000.0;
    match &run.outcome {
        TableOutcome::Deferred => return None,
        TableOutcome::Done(r) | TableOutcome::Continued(r) => {
            line.count(names::ROWS_UPSERTED, r.rows_upserted)
                .count(names::ROWS_DELETED, r.rows_deleted)
                .count(names::ROWS_QUARANTINED, r.rows_quarantined)
                .count(names::INSTANTS_APPLIED, r.instants_applied as u64)
                .count(names::TRANSACTIONS, u64::from(r.transactions))
                .put(names::PASS_DURATION, Unit::Milliseconds, duration_ms)
                .count(names::INSTANTS_BEHIND, r.instants_behind as u64)
                .count(names::NEEDS_RESYNC, 0)
                .count(names::FAILURES, 0);
            if let Some(lag) = lag_seconds(r, now) {
                line.put(names::LAG, Unit::Seconds, lag);
            }
        }
        TableOutcome::Failed(e) => {
            line.count(names::NEEDS_RESYNC, u64::from(e.needs_resync))
                .count(names::FAILURES, 1)
                .put(names::PASS_DURATION, Unit::Milliseconds, duration_ms);
        }
    }
    Some(line)
}

/// The detector's line for one invocation.
pub fn detector_invocation(pipeline: &str, outcome: &DetectorOutcome) -> MetricLine {
    let mut line = MetricLine::new(vec![(DIM_PIPELINE, pipeline.to_string())]);
    line.count(names::EVENTS_SEEN, outcome.records as u64)
        .count(names::INSTANTS_ENQUEUED, outcome.instants_enqueued as u64)
        .count(names::SWEEPS_ENQUEUED, outcome.sweeps_enqueued as u64)
        .count(names::ALREADY_APPLIED, outcome.already_applied as u64)
        .count(names::KEYS_IGNORED, outcome.ignored as u64);
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::PassError;
    use std::time::Duration;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The structural rules CloudWatch applies to an EMF line (the same checks the Lambda
    /// end-to-end test makes on the functions' output).
    fn assert_valid_emf(doc: &Value) {
        let aws = &doc["_aws"];
        assert!(aws["Timestamp"].is_i64(), "{doc}");
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let d = &directives[0];
        assert_eq!(d["Namespace"], NAMESPACE);
        for set in d["Dimensions"].as_array().unwrap() {
            for dim in set.as_array().unwrap() {
                assert!(
                    doc[dim.as_str().unwrap()].is_string(),
                    "dimension {dim}: {doc}"
                );
            }
        }
        for m in d["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(doc[name].is_number(), "metric {name}: {doc}");
            assert!(["Count", "Seconds", "Milliseconds"].contains(&m["Unit"].as_str().unwrap()));
        }
    }

    fn run(outcome: TableOutcome) -> TableRun {
        TableRun {
            table: "orders".into(),
            outcome,
            elapsed: Duration::from_millis(1500),
        }
    }

    #[test]
    fn an_applied_pass_reports_its_counts_and_lag() {
        let report = PassReport {
            instants_applied: 2,
            rows_upserted: 7,
            rows_deleted: 3,
            rows_quarantined: 2,
            transactions: 1,
            instants_behind: 4,
            newest_completed_at: Some(at("2026-03-07T16:24:00Z")),
            ..PassReport::default()
        };
        let now = at("2026-03-07T16:25:30.250Z");
        let line = table_pass("prod", &run(TableOutcome::Continued(report)), now).unwrap();
        let doc = line.to_json(now);
        assert_valid_emf(&doc);
        assert_eq!(doc["_aws"]["Timestamp"], now.timestamp_millis());
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Pipeline", "Table"], ["Pipeline"]])
        );
        assert_eq!(
            (doc["Pipeline"].as_str(), doc["Table"].as_str()),
            (Some("prod"), Some("orders"))
        );
        let values: Vec<(&str, f64)> = [
            names::ROWS_UPSERTED,
            names::ROWS_DELETED,
            names::ROWS_QUARANTINED,
            names::INSTANTS_APPLIED,
            names::TRANSACTIONS,
            names::PASS_DURATION,
            names::INSTANTS_BEHIND,
            names::NEEDS_RESYNC,
            names::FAILURES,
            names::LAG,
        ]
        .into_iter()
        .map(|n| (n, doc[n].as_f64().unwrap()))
        .collect();
        assert_eq!(
            values,
            [
                ("RowsUpserted", 7.0),
                ("RowsDeleted", 3.0),
                ("RowsQuarantined", 2.0),
                ("InstantsApplied", 2.0),
                ("Transactions", 1.0),
                ("PassDuration", 1500.0),
                ("InstantsBehind", 4.0),
                ("NeedsResync", 0.0),
                ("Failures", 0.0),
                ("Lag", 90.25),
            ]
        );
    }

    #[test]
    fn lag_is_zero_up_to_date_and_absent_when_unknown() {
        let now = at("2026-03-07T16:25:30Z");
        let idle = PassReport {
            up_to_date: true,
            ..PassReport::default()
        };
        let line = table_pass("p", &run(TableOutcome::Done(idle)), now).unwrap();
        assert_eq!(line.value(names::LAG), Some(0.0));
        // a paused table, or a pass stopped inside its first window: no lag to tell
        let line = table_pass("p", &run(TableOutcome::Done(PassReport::default())), now).unwrap();
        assert_eq!(line.value(names::LAG), None);
        assert_valid_emf(&line.to_json(now));
        // an instant whose completion time is unknown
        let unknown = PassReport {
            instants_applied: 1,
            up_to_date: true,
            ..PassReport::default()
        };
        let line = table_pass("p", &run(TableOutcome::Done(unknown)), now).unwrap();
        assert_eq!(line.value(names::LAG), None);
    }

    #[test]
    fn failures_and_resyncs_are_counted_and_deferred_tables_emit_nothing() {
        let now = Utc::now();
        let mut resync = PassError::permanent("history gone");
        resync.needs_resync = true;
        let line = table_pass("p", &run(TableOutcome::Failed(resync)), now).unwrap();
        assert_valid_emf(&line.to_json(now));
        assert_eq!(
            line.metric_names(),
            [names::NEEDS_RESYNC, names::FAILURES, names::PASS_DURATION]
        );
        assert_eq!(
            (line.value(names::NEEDS_RESYNC), line.value(names::FAILURES)),
            (Some(1.0), Some(1.0))
        );
        let busy = PassError::transient("lease held");
        let line = table_pass("p", &run(TableOutcome::Failed(busy)), now).unwrap();
        assert_eq!(line.value(names::NEEDS_RESYNC), Some(0.0));
        assert!(table_pass("p", &run(TableOutcome::Deferred), now).is_none());
    }

    #[test]
    fn the_detector_line_has_one_dimension_set() {
        let outcome = DetectorOutcome {
            records: 5,
            enqueued: 3,
            instants_enqueued: 2,
            sweeps_enqueued: 1,
            already_applied: 1,
            ignored: 2,
            unreadable: 0,
        };
        let now = Utc::now();
        let doc = detector_invocation("prod", &outcome).to_json(now);
        assert_valid_emf(&doc);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Pipeline"]])
        );
        assert_eq!(
            (
                doc["EventsSeen"].as_f64(),
                doc["InstantsEnqueued"].as_f64(),
                doc["SweepsEnqueued"].as_f64(),
                doc["InstantsAlreadyApplied"].as_f64(),
                doc["KeysIgnored"].as_f64()
            ),
            (Some(5.0), Some(2.0), Some(1.0), Some(1.0), Some(2.0))
        );
    }
}
