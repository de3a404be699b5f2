//! The incremental loader: an SQS batch in, one sync pass per table, a partial batch response
//! out.
//!
//! Messages are grouped by table (the body's table URI, else the FIFO message group id); the
//! instant a message names does not matter, because a pass always runs up to the table's
//! newest completed instant. Tables run one after another within the invocation's time: each
//! pass gets the Lambda deadline minus a safety margin as its budget, and is cut off hard a
//! little before the deadline. A pass that stops with work left, or a table the invocation had
//! no time left for, gets a continuation message (same message group, so it is delivered after
//! this batch). `batchItemFailures` lists exactly the messages of the tables that failed, plus
//! messages that name no known table: SQS redelivers them, and after `maxReceiveCount`
//! receives moves them to the dead-letter queue; the other tables are not held up.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tracing::{Instrument, error, info, info_span, warn};

use hps_sync::queue::group_id_for_table;
use hps_sync::{Queue, SyncMessage};

use crate::message::continuation_message;
use crate::tables::{TableSet, TableSpec};

/// The time a pass may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassBudget {
    /// Start no new unit of work (instant, batch) after this; finish and record progress.
    pub soft_deadline: Instant,
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Instants applied (bookmark advanced over them).
    pub instants_applied: usize,
    /// Change rows applied.
    pub rows_applied: u64,
    /// Upserts that won the version guard (staging rows created or replaced).
    pub rows_upserted: u64,
    /// Deletes that won the version guard.
    pub rows_deleted: u64,
    /// Change rows set aside into the table's quarantine table (`on_bad_row = quarantine`).
    pub rows_quarantined: u64,
    /// Transactions committed.
    pub transactions: u32,
    /// Completed instants still to apply after the pass.
    pub instants_behind: usize,
    /// When the newest instant the pass applied completed, if it applied one and the time
    /// can be told.
    pub newest_completed_at: Option<DateTime<Utc>>,
    /// Nothing is left to apply (not paused, not stopped early).
    pub up_to_date: bool,
    /// The bookmark after the pass (for logs), if any.
    pub position: Option<String>,
    /// Completed instants remain beyond the bookmark (the budget or an instant cap ended the
    /// pass): a continuation is needed.
    pub more_remaining: bool,
    /// The pass loaded a new table from its snapshot (its history was archived or cleaned).
    pub bootstrap: bool,
}

/// Why a pass failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassError {
    /// Retrying later may succeed (lease held elsewhere, throttling, connection loss).
    pub transient: bool,
    /// The table's incremental history is gone: it stays stopped until it is resynced.
    pub needs_resync: bool,
    /// What happened (table, instant, file where known). Must not contain secrets.
    pub message: String,
}

impl fmt::Display for PassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.transient {
            "transient"
        } else {
            "permanent"
        };
        write!(f, "{} ({kind})", self.message)
    }
}

impl std::error::Error for PassError {}

impl PassError {
    /// A failure that retrying may cure.
    pub fn transient(message: impl Into<String>) -> Self {
        PassError {
            transient: true,
            needs_resync: false,
            message: message.into(),
        }
    }

    /// A failure that retrying will not cure.
    pub fn permanent(message: impl Into<String>) -> Self {
        PassError {
            transient: false,
            needs_resync: false,
            message: message.into(),
        }
    }
}

/// Runs one sync pass for one table: from its bookmark up to its newest completed instant,
/// within the budget. Implemented over the hps-sync pipeline (S3 reader, Postgres apply,
/// DynamoDB bookmarks); the implementation owns its clients and reconnects them as needed.
#[async_trait]
pub trait TableSyncer: Send + Sync {
    /// One pass for `table`.
    async fn sync_table(
        &self,
        table: &TableSpec,
        budget: PassBudget,
    ) -> Result<PassReport, PassError>;

    /// A pass was cut off at the hard deadline (its future dropped mid-way): drop any
    /// connection whose state is now unknown.
    async fn reset_after_abort(&self) {}
}

/// Timing of one invocation.
#[derive(Debug, Clone, Copy)]
pub struct LoaderTiming {
    /// The Lambda deadline.
    pub deadline: Instant,
    /// Budget reserve: passes stop starting new work this long before the deadline.
    pub margin: Duration,
    /// Passes are cancelled this long before the deadline (backstop for a pass that overruns).
    pub hard_margin: Duration,
    /// A table is not started with less than this left before the soft deadline; it gets a
    /// continuation instead.
    pub min_pass_time: Duration,
}

/// Deadlines below this many milliseconds (2001-09-09 as epoch time) are durations.
const RELATIVE_DEADLINE_BELOW_MS: u64 = 1_000_000_000_000;

impl LoaderTiming {
    /// From the Lambda deadline (milliseconds since the epoch) and the configured margin.
    pub fn from_deadline_ms(deadline_ms: u64, margin: Duration) -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let left = if deadline_ms == 0 {
            // no deadline: assume the 15 minute Lambda maximum
            Duration::from_secs(900)
        } else if deadline_ms < RELATIVE_DEADLINE_BELOW_MS {
            // not an epoch time: local emulators (cargo lambda watch) send the timeout itself
            Duration::from_millis(deadline_ms)
        } else {
            Duration::from_millis(deadline_ms.saturating_sub(now_ms))
        };
        LoaderTiming::new(Instant::now() + left, margin)
    }

    /// With the default hard margin (a quarter of `margin`, at most 5 s) and minimum pass time.
    pub fn new(deadline: Instant, margin: Duration) -> Self {
        LoaderTiming {
            deadline,
            margin,
            hard_margin: (margin / 4).min(Duration::from_secs(5)),
            min_pass_time: Duration::from_secs(2).min(margin),
        }
    }

    /// Time until the deadline.
    pub fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn soft_deadline(&self) -> Instant {
        self.deadline
            .checked_sub(self.margin)
            .unwrap_or(self.deadline)
    }

    fn hard_deadline(&self) -> Instant {
        self.deadline
            .checked_sub(self.hard_margin)
            .unwrap_or(self.deadline)
    }
}

/// The messages of one batch, by table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Grouped {
    /// Table (configured id) -> message ids, tables in order of first appearance.
    pub tables: Vec<(String, Vec<String>)>,
    /// Messages that name no configured table: (message id, reason).
    pub rejected: Vec<(String, String)>,
}

/// Which configured table a message is for: the body's table (base URI; a configured id is
/// accepted too), else the FIFO message group id (the body is only a trigger, so a foreign body
/// in a table's group still names that table).
fn table_of<'t>(tables: &'t TableSet, rec: &SqsMessage) -> Result<&'t TableSpec, String> {
    let from_body = rec.body.as_deref().map(SyncMessage::from_json);
    let by_name = |name: &str| {
        tables
            .iter()
            .find(|t| t.uri() == name.trim_end_matches('/') || t.id.as_str() == name)
    };
    match from_body {
        Some(Ok(m)) => by_name(&m.table)
            .ok_or_else(|| format!("table {:?} is not configured (HPS_TABLES)", m.table)),
        other => {
            let group = rec.attributes.get("MessageGroupId");
            let by_group =
                group.and_then(|g| tables.iter().find(|t| group_id_for_table(&t.uri()) == *g));
            by_group.ok_or_else(|| match other {
                Some(Err(e)) => e.to_string(),
                _ => "message has no body".to_string(),
            })
        }
    }
}

/// Group a batch by table.
pub fn group_by_table(tables: &TableSet, records: &[SqsMessage]) -> Grouped {
    let mut out = Grouped::default();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for rec in records {
        let Some(id) = rec.message_id.clone() else {
            // cannot be reported either way; SQS redelivers it only if the whole batch fails
            error!("SQS record without messageId ignored");
            continue;
        };
        match table_of(tables, rec) {
            Ok(spec) => {
                let t = spec.id.to_string();
                let i = *index.entry(t.clone()).or_insert_with(|| {
                    out.tables.push((t, Vec::new()));
                    out.tables.len() - 1
                });
                out.tables[i].1.push(id);
            }
            Err(e) => out.rejected.push((id, e)),
        }
    }
    out
}

/// Outcome per table (for logs, metrics and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableOutcome {
    /// Caught up.
    Done(PassReport),
    /// Progress made, continuation enqueued.
    Continued(PassReport),
    /// Not started for lack of time; continuation enqueued.
    Deferred,
    /// Failed: its messages are reported as batch item failures.
    Failed(PassError),
}

/// One table of a batch: what happened to it and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRun {
    /// The table's configured id.
    pub table: String,
    /// What happened.
    pub outcome: TableOutcome,
    /// Wall time spent on the table (pass and continuation).
    pub elapsed: Duration,
}

/// Handle one SQS batch.
pub async fn handle_batch(
    tables: &TableSet,
    syncer: &dyn TableSyncer,
    queue: &dyn Queue,
    records: &[SqsMessage],
    request_id: &str,
    timing: LoaderTiming,
) -> (SqsBatchResponse, Vec<TableRun>) {
    let grouped = group_by_table(tables, records);
    let mut response = SqsBatchResponse::default();
    for (id, why) in &grouped.rejected {
        error!(message_id = %id, reason = %why, "message rejected; it will reach the dead-letter queue");
        response.add_failure(id.clone());
    }
    let mut outcomes = Vec::new();
    let mut started_any = false;
    for (table_id, message_ids) in &grouped.tables {
        let Some(spec) = tables.get(table_id) else {
            continue;
        };
        let span =
            info_span!("table", table = %table_id, uri = %spec.uri(), messages = message_ids.len());
        let started = Instant::now();
        let outcome = run_table(spec, syncer, queue, request_id, timing, &mut started_any)
            .instrument(span)
            .await;
        if let TableOutcome::Failed(_) = &outcome {
            for id in message_ids {
                response.add_failure(id.clone());
            }
        }
        outcomes.push(TableRun {
            table: table_id.clone(),
            outcome,
            elapsed: started.elapsed(),
        });
    }
    (response, outcomes)
}

async fn run_table(
    spec: &TableSpec,
    syncer: &dyn TableSyncer,
    queue: &dyn Queue,
    request_id: &str,
    timing: LoaderTiming,
    started_any: &mut bool,
) -> TableOutcome {
    let soft = timing.soft_deadline();
    if soft.saturating_duration_since(Instant::now()) < timing.min_pass_time {
        if !*started_any {
            // not even the first table fits: deferring would loop forever without progress
            let msg = format!(
                "the invocation had {} ms left, too little for a pass with a {} s deadline margin: \
                 raise the function timeout or lower HPS_DEADLINE_MARGIN_SECS",
                timing.time_left().as_millis(),
                timing.margin.as_secs()
            );
            error!(error = %msg, "pass not started");
            return TableOutcome::Failed(PassError::permanent(msg));
        }
        info!("no time left in this invocation; deferring to a continuation");
        return match continue_later(spec, queue, request_id).await {
            Ok(()) => TableOutcome::Deferred,
            Err(e) => TableOutcome::Failed(e),
        };
    }
    *started_any = true;
    let pass = syncer.sync_table(
        spec,
        PassBudget {
            soft_deadline: soft,
        },
    );
    let result = match tokio::time::timeout_at(timing.hard_deadline(), pass).await {
        Ok(r) => r,
        Err(_) => {
            syncer.reset_after_abort().await;
            let msg = "pass overran the invocation deadline and was cancelled".to_string();
            error!(error = %msg, "pass failed");
            return TableOutcome::Failed(PassError::transient(msg));
        }
    };
    match result {
        Ok(report) if report.more_remaining => {
            info!(
                instants = report.instants_applied,
                rows = report.rows_applied,
                position = report.position.as_deref().unwrap_or(""),
                "pass stopped with work left; enqueueing a continuation"
            );
            match continue_later(spec, queue, request_id).await {
                Ok(()) => TableOutcome::Continued(report),
                Err(e) => TableOutcome::Failed(e),
            }
        }
        Ok(report) => {
            info!(
                instants = report.instants_applied,
                rows = report.rows_applied,
                position = report.position.as_deref().unwrap_or(""),
                "pass complete"
            );
            TableOutcome::Done(report)
        }
        Err(e) => {
            if e.transient {
                warn!(error = %e, "pass failed; messages will be retried");
            } else {
                error!(error = %e, "pass failed; messages will be retried, then dead-lettered");
            }
            TableOutcome::Failed(e)
        }
    }
}

async fn continue_later(
    spec: &TableSpec,
    queue: &dyn Queue,
    request_id: &str,
) -> Result<(), PassError> {
    let msg = continuation_message(spec, request_id);
    match queue.send(&msg).await {
        Ok(sent) => {
            info!(message_id = %sent.message_id, "continuation enqueued");
            Ok(())
        }
        Err(e) => {
            // the table's messages are reported failed instead: their redelivery continues it
            let m = format!("could not enqueue the continuation: {e}");
            error!(error = %m);
            Err(PassError {
                transient: e.is_transient(),
                needs_resync: false,
                message: m,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{instant_message, sweep_message};
    use crate::timeline_key::InstantRef;
    use hps_sync::{QueueError, SentMessage, SyncReason};
    use std::collections::HashMap;
    use std::sync::Mutex;

    fn tables() -> TableSet {
        TableSet::parse("a=s3://lake/a,b=s3://lake/b,c=s3://lake/c").unwrap()
    }

    fn rec(id: &str, m: &SyncMessage) -> SqsMessage {
        let mut r = SqsMessage::default();
        r.message_id = Some(id.into());
        r.body = Some(m.to_json().unwrap());
        r.attributes = HashMap::from([("MessageGroupId".to_string(), m.group_id())]);
        r
    }

    fn inst(t: &str, req: &str) -> SyncMessage {
        let i = InstantRef {
            requested: req.into(),
            completed: None,
            action: "commit".into(),
        };
        instant_message(tables().get(t).unwrap(), &i)
    }

    #[test]
    fn groups_by_table_in_first_seen_order() {
        // a foreign body in table c's message group still triggers c
        let mut foreign = SqsMessage::default();
        foreign.message_id = Some("m5".into());
        foreign.body = Some("{\"Records\":[]}".into());
        foreign.attributes =
            HashMap::from([("MessageGroupId".to_string(), inst("c", "1").group_id())]);
        let mut orphan = SqsMessage::default();
        orphan.message_id = Some("m6".into());
        orphan.body = Some("garbage".into());
        let unknown = SyncMessage::event("s3://lake/zz", None);
        // the configured id works as a table name too
        let by_id = SyncMessage::event("a", None);
        let records = vec![
            rec("m1", &inst("b", "2")),
            rec("m2", &inst("a", "1")),
            rec("m3", &inst("b", "3")),
            rec("m4", &unknown),
            foreign,
            orphan,
            rec("m7", &by_id),
        ];
        let g = group_by_table(&tables(), &records);
        let want: Vec<(String, Vec<String>)> = vec![
            ("b".into(), vec!["m1".into(), "m3".into()]),
            ("a".into(), vec!["m2".into(), "m7".into()]),
            ("c".into(), vec!["m5".into()]),
        ];
        assert_eq!(g.tables, want);
        let rejected: Vec<&str> = g.rejected.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(rejected, ["m4", "m6"]);
        assert!(
            g.rejected[0].1.contains("not configured"),
            "{}",
            g.rejected[0].1
        );
    }

    #[test]
    fn sample_sqs_batch_groups_into_its_three_tables() {
        let path = format!(
            "{}/../../infra/events/sqs-batch.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let ev: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let t = TableSet::parse(
            "v6_nonpartitioned=s3://hudi-lake/warehouse/db=sales/v6_nonpartitioned,\
             v9_txns_simple_meta=s3://hudi-lake/warehouse/v9_txns_simple_meta,\
             v9_txns_simple_meta_mor=s3://hudi-lake/warehouse/mor/v9_txns_simple_meta",
        )
        .unwrap();
        let g = group_by_table(&t, &ev.records);
        let names: Vec<(&str, usize)> = g
            .tables
            .iter()
            .map(|(t, ids)| (t.as_str(), ids.len()))
            .collect();
        assert_eq!(
            names,
            [
                ("v9_txns_simple_meta", 2),
                ("v6_nonpartitioned", 1),
                ("v9_txns_simple_meta_mor", 1)
            ]
        );
        assert!(g.rejected.is_empty());
        // the sample's ids are the ones the detector computes
        for r in &ev.records {
            let m = SyncMessage::from_json(r.body.as_deref().unwrap()).unwrap();
            assert_eq!(r.attributes["MessageGroupId"], m.group_id());
            assert_eq!(r.attributes["MessageDeduplicationId"], m.dedup_id());
        }
    }

    #[derive(Default)]
    struct Script {
        /// table -> result of its pass
        results: HashMap<String, Result<PassReport, PassError>>,
        /// table -> delay before answering
        delays: HashMap<String, Duration>,
        calls: Mutex<Vec<String>>,
        resets: Mutex<u32>,
    }

    #[async_trait]
    impl TableSyncer for Script {
        async fn sync_table(
            &self,
            table: &TableSpec,
            budget: PassBudget,
        ) -> Result<PassReport, PassError> {
            self.calls.lock().unwrap().push(table.id.to_string());
            assert!(
                budget.soft_deadline > Instant::now(),
                "budget already spent"
            );
            if let Some(d) = self.delays.get(table.id.as_str()) {
                tokio::time::sleep(*d).await;
            }
            self.results
                .get(table.id.as_str())
                .cloned()
                .unwrap_or(Ok(PassReport::default()))
        }
        async fn reset_after_abort(&self) {
            *self.resets.lock().unwrap() += 1;
        }
    }

    #[derive(Debug, Default)]
    struct Sent {
        msgs: Mutex<Vec<SyncMessage>>,
        fail: bool,
    }

    #[async_trait]
    impl Queue for Sent {
        async fn send_batch(&self, batch: &[SyncMessage]) -> Vec<Result<SentMessage, QueueError>> {
            if self.fail {
                return batch
                    .iter()
                    .map(|_| {
                        Err(QueueError::Send {
                            queue: "q".into(),
                            code: "Throttling".into(),
                            message: "slow down".into(),
                            transient: true,
                        })
                    })
                    .collect();
            }
            self.msgs.lock().unwrap().extend(batch.iter().cloned());
            batch
                .iter()
                .map(|_| {
                    Ok(SentMessage {
                        message_id: "x".into(),
                        sequence_number: None,
                    })
                })
                .collect()
        }
    }

    fn failures(r: &SqsBatchResponse) -> Vec<String> {
        let mut v: Vec<String> = r
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        v.sort();
        v
    }

    fn timing(secs: u64) -> LoaderTiming {
        LoaderTiming::new(
            Instant::now() + Duration::from_secs(secs),
            Duration::from_secs(2),
        )
    }

    #[tokio::test]
    async fn only_failed_tables_are_reported_and_continuations_are_sent() {
        let mut script = Script::default();
        script
            .results
            .insert("a".into(), Err(PassError::permanent("not a Hudi table")));
        script.results.insert(
            "b".into(),
            Ok(PassReport {
                instants_applied: 2,
                rows_applied: 10,
                position: Some("x".into()),
                more_remaining: true,
                ..PassReport::default()
            }),
        );
        let queue = Sent::default();
        let records = vec![
            rec("m1", &inst("a", "1")),
            rec("m2", &inst("b", "1")),
            rec("m3", &inst("a", "2")),
            rec("m4", &inst("c", "1")),
            rec("m5", &sweep_message(tables().get("c").unwrap(), "e")),
        ];
        let (resp, outcomes) =
            handle_batch(&tables(), &script, &queue, &records, "req-1", timing(30)).await;
        assert_eq!(failures(&resp), ["m1", "m3"]);
        assert_eq!(
            *script.calls.lock().unwrap(),
            ["a", "b", "c"],
            "one pass per table"
        );
        assert!(matches!(outcomes[1].outcome, TableOutcome::Continued(_)));
        assert!(matches!(outcomes[2].outcome, TableOutcome::Done(_)));
        let sent = queue.msgs.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].table, "s3://lake/b");
        assert_eq!(sent[0].reason, SyncReason::Continuation);
        assert_eq!(sent[0].token.as_deref(), Some("req-1"));
        assert_eq!(sent[0].group_id(), inst("b", "1").group_id());
        // the response serializes as Lambda expects
        let json = serde_json::to_value(&resp).unwrap();
        assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "m1");
    }

    #[tokio::test]
    async fn failed_continuation_fails_the_table_instead() {
        let mut script = Script::default();
        script.results.insert(
            "b".into(),
            Ok(PassReport {
                more_remaining: true,
                ..Default::default()
            }),
        );
        let queue = Sent {
            fail: true,
            ..Default::default()
        };
        let records = vec![rec("m1", &inst("b", "1")), rec("m2", &inst("a", "1"))];
        let (resp, _) = handle_batch(&tables(), &script, &queue, &records, "r", timing(30)).await;
        assert_eq!(failures(&resp), ["m1"]);
    }

    #[tokio::test]
    async fn out_of_time_tables_are_deferred_and_overruns_cancelled() {
        let mut script = Script::default();
        // "a" overruns: cut at the hard deadline, reported failed, connection reset
        script.delays.insert("a".into(), Duration::from_secs(3600));
        let queue = Sent::default();
        let records = vec![rec("m1", &inst("a", "1")), rec("m2", &inst("b", "1"))];
        let t = LoaderTiming {
            deadline: Instant::now() + Duration::from_millis(600),
            margin: Duration::from_millis(400),
            hard_margin: Duration::from_millis(100),
            min_pass_time: Duration::from_millis(50),
        };
        let started = Instant::now();
        let (resp, outcomes) = handle_batch(&tables(), &script, &queue, &records, "r", t).await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert_eq!(failures(&resp), ["m1"]);
        assert_eq!(*script.resets.lock().unwrap(), 1);
        // "b" never started: deferred with a continuation, its message acknowledged
        assert_eq!(outcomes[1].outcome, TableOutcome::Deferred);
        assert_eq!(*script.calls.lock().unwrap(), ["a"]);
        let sent = queue.msgs.lock().unwrap();
        assert_eq!(
            (sent[0].table.as_str(), sent[0].reason),
            ("s3://lake/b", SyncReason::Continuation)
        );
    }

    #[tokio::test]
    async fn an_invocation_too_short_for_any_pass_fails_instead_of_looping() {
        let script = Script::default();
        let queue = Sent::default();
        let records = vec![rec("m1", &inst("a", "1")), rec("m2", &inst("b", "1"))];
        // 1 s left, 20 s margin: nothing can run
        let t = LoaderTiming::new(
            Instant::now() + Duration::from_secs(1),
            Duration::from_secs(20),
        );
        let (resp, outcomes) = handle_batch(&tables(), &script, &queue, &records, "r", t).await;
        assert_eq!(failures(&resp), ["m1", "m2"]);
        assert!(
            matches!(&outcomes[0].outcome, TableOutcome::Failed(e) if e.message.contains("HPS_DEADLINE_MARGIN_SECS"))
        );
        assert!(script.calls.lock().unwrap().is_empty());
        assert!(
            queue.msgs.lock().unwrap().is_empty(),
            "no continuation without progress"
        );
    }

    #[test]
    fn timing_from_lambda_deadline() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let t = LoaderTiming::from_deadline_ms(now_ms + 60_000, Duration::from_secs(20));
        let left = t.deadline.saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(55) && left <= Duration::from_secs(60),
            "{left:?}"
        );
        assert_eq!(t.hard_margin, Duration::from_secs(5));
        // cargo lambda watch sends the timeout (600000 ms) instead of an epoch time
        let t = LoaderTiming::from_deadline_ms(600_000, Duration::from_secs(20));
        let left = t.deadline.saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(590) && left <= Duration::from_secs(600),
            "{left:?}"
        );
        let t = LoaderTiming::from_deadline_ms(0, Duration::from_secs(20));
        assert!(t.deadline.saturating_duration_since(Instant::now()) > Duration::from_secs(800));
    }
}
