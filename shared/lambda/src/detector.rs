//! The commit detector: S3 events (and sweeps) in, one FIFO message per (table, instant) out.
//!
//! [`plan_event`] is pure: which messages an event produces and why each other key is ignored.
//! [`send_messages`] sends them in batches of ten through a [`MessageSink`], retrying failed
//! entries a few times within the invocation. What still fails makes the invocation fail,
//! naming the failed (table, instant)s; Lambda then retries the event, and the messages that
//! did go out are dropped by SQS's deduplication (same dedup id within five minutes), so only
//! the failed ones become new messages.

use std::collections::HashSet;
use std::time::Duration;

use tracing::{debug, info, info_span, warn};

use crate::error::{EnqueueError, EventError};
use crate::event::{DetectorEvent, SweepScope};
use crate::message::{OutgoingMessage, instant_message, sweep_message};
use crate::sink::{MessageSink, SQS_MAX_BATCH};
use crate::tables::TableSet;
use crate::timeline_key::{Ignored, classify};

/// What one event asks the detector to do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DetectorPlan {
    /// Messages to send, deduplicated, in a stable order (table, then instant).
    pub messages: Vec<OutgoingMessage>,
    /// Keys not enqueued, with the reason.
    pub ignored: Vec<(String, Ignored)>,
    /// Records that could not be read.
    pub unreadable: Vec<String>,
}

/// Turn a decoded event into messages. `invocation_id` (the Lambda request id) stands in for
/// the event id of sweeps that have none.
pub fn plan_event(
    tables: &TableSet,
    event: &DetectorEvent,
    invocation_id: &str,
) -> Result<DetectorPlan, EventError> {
    let mut plan = DetectorPlan::default();
    match event {
        DetectorEvent::Sweep { scope, id } => {
            let event_id = id.as_deref().unwrap_or(invocation_id);
            match scope {
                SweepScope::All => plan
                    .messages
                    .extend(tables.iter().map(|t| sweep_message(&t.id, event_id))),
                SweepScope::Tables(ids) => {
                    for id in ids {
                        let t = tables
                            .get(id)
                            .ok_or_else(|| EventError::UnknownTable(id.clone()))?;
                        plan.messages.push(sweep_message(&t.id, event_id));
                    }
                }
            }
        }
        DetectorEvent::Objects(records) => {
            let mut found = Vec::new();
            for rec in records {
                let obj = match rec {
                    Ok(o) => o,
                    Err(e) => {
                        plan.unreadable.push(e.clone());
                        continue;
                    }
                };
                let Some((table, rel)) = tables.locate(&obj.bucket, &obj.key) else {
                    plan.ignored.push((
                        format!("s3://{}/{}", obj.bucket, obj.key),
                        Ignored::OutsideTables,
                    ));
                    continue;
                };
                if !obj.created {
                    plan.ignored.push((obj.key.clone(), Ignored::NotCreated));
                    continue;
                }
                match classify(rel) {
                    Ok(instant) => found.push((table.id.clone(), instant, obj.key.clone())),
                    Err(why) => plan.ignored.push((obj.key.clone(), why)),
                }
            }
            found.sort_by(|a, b| (&a.0, &a.1.requested).cmp(&(&b.0, &b.1.requested)));
            plan.messages
                .extend(found.iter().map(|(t, i, k)| instant_message(t, i, k)));
        }
    }
    let mut seen = HashSet::new();
    plan.messages.retain(|m| seen.insert(m.dedup_id.clone()));
    Ok(plan)
}

/// Retry policy for failed entries within one invocation.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per message (first try included).
    pub attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            backoff: Duration::from_millis(100),
        }
    }
}

/// Send `messages` in batches of ten. Entries that fail are retried (with backoff) up to
/// `retry.attempts` times in total; an entry whose failure is permanent is not retried.
/// Returns an error naming every message that could not be sent.
pub async fn send_messages(
    sink: &dyn MessageSink,
    messages: &[OutgoingMessage],
    retry: RetryPolicy,
) -> Result<(), EnqueueError> {
    let mut pending: Vec<&OutgoingMessage> = messages.iter().collect();
    let mut failures: Vec<String> = Vec::new();
    let mut delay = retry.backoff;
    for attempt in 1..=retry.attempts.max(1) {
        let mut retry_next = Vec::new();
        for chunk in pending.chunks(SQS_MAX_BATCH) {
            let batch: Vec<OutgoingMessage> = chunk.iter().map(|m| (*m).clone()).collect();
            let results = match sink.send_batch(&batch).await {
                Ok(r) => r,
                Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
            };
            for (m, r) in chunk
                .iter()
                .zip(results.into_iter().chain(std::iter::repeat_with(|| {
                    Err(crate::sink::SendError::permanent(
                        "the queue returned no result for this entry",
                    ))
                })))
            {
                match r {
                    Ok(()) => debug!(table = %m.table, dedup_id = %m.dedup_id, "enqueued"),
                    Err(e) if e.transient && attempt < retry.attempts => retry_next.push(*m),
                    Err(e) => {
                        warn!(table = %m.table, dedup_id = %m.dedup_id, error = %e, attempt, "enqueue failed");
                        failures.push(format!("({}, {}): {e}", m.table, m.dedup_id));
                    }
                }
            }
        }
        if retry_next.is_empty() {
            break;
        }
        warn!(
            count = retry_next.len(),
            attempt, "retrying messages the queue did not accept"
        );
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2);
        pending = retry_next;
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(EnqueueError {
            failed: failures.len(),
            total: messages.len(),
            detail: failures.join("; "),
        })
    }
}

/// Summary of one detector invocation (also its Lambda response).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DetectorOutcome {
    /// Messages sent.
    pub enqueued: usize,
    /// Keys ignored.
    pub ignored: usize,
    /// Records that could not be read.
    pub unreadable: usize,
}

/// Handle one decoded event: plan, log what is ignored, send.
pub async fn handle_event(
    tables: &TableSet,
    sink: &dyn MessageSink,
    event: &DetectorEvent,
    invocation_id: &str,
    retry: RetryPolicy,
) -> Result<DetectorOutcome, DetectorError> {
    let plan = plan_event(tables, event, invocation_id)?;
    for (key, why) in &plan.ignored {
        debug!(key = %key, reason = %why, "ignored");
    }
    for e in &plan.unreadable {
        // retrying the event would not make it readable; the scheduled sweep covers the gap
        warn!(error = %e, "unreadable S3 record skipped");
    }
    for m in &plan.messages {
        let _span = info_span!("table", table = %m.table).entered();
        info!(dedup_id = %m.dedup_id, "enqueue");
    }
    send_messages(sink, &plan.messages, retry).await?;
    Ok(DetectorOutcome {
        enqueued: plan.messages.len(),
        ignored: plan.ignored.len(),
        unreadable: plan.unreadable.len(),
    })
}

/// A failed detector invocation.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    /// The input was not understood.
    #[error(transparent)]
    Event(#[from] EventError),
    /// Some messages could not be sent.
    #[error(transparent)]
    Enqueue(#[from] EnqueueError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_detector_event;
    use crate::message::parse_body;
    use crate::sink::SendError;
    use async_trait::async_trait;
    use std::sync::Mutex;

    fn tables() -> TableSet {
        TableSet::parse(
            "v6_nonpartitioned=s3://hudi-lake/warehouse/db=sales/v6_nonpartitioned,\
             v9_txns_simple_meta=s3://hudi-lake/warehouse/v9_txns_simple_meta,\
             v9_txns_simple_meta_mor=s3://hudi-lake/warehouse/mor/v9_txns_simple_meta",
        )
        .unwrap()
    }

    fn sample(name: &str) -> DetectorEvent {
        let path = format!("{}/../../infra/events/{name}", env!("CARGO_MANIFEST_DIR"));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        parse_detector_event(&v).unwrap()
    }

    fn dedups(p: &DetectorPlan) -> Vec<&str> {
        p.messages.iter().map(|m| m.dedup_id.as_str()).collect()
    }

    #[test]
    fn sample_events_v6_real_s3_encoding() {
        let p = plan_event(&tables(), &sample("s3-put-v6-commit.json"), "req").unwrap();
        assert_eq!(dedups(&p), ["v6_nonpartitioned:i:20240418173551906"]);
        let m = &p.messages[0];
        assert_eq!(m.group_id, "v6_nonpartitioned");
        let body = parse_body(&m.body).unwrap();
        assert_eq!(
            body.key.as_deref(),
            Some("warehouse/db=sales/v6_nonpartitioned/.hoodie/20240418173551906.commit")
        );
    }

    #[test]
    fn sample_events_v9_emulator_encoding() {
        let p = plan_event(&tables(), &sample("s3-put-v9-commit-moto.json"), "req").unwrap();
        assert_eq!(
            dedups(&p),
            ["v9_txns_simple_meta:i:20260307162434124_20260307162438653"]
        );
        assert!(p.ignored.is_empty() && p.unreadable.is_empty());
    }

    #[test]
    fn sample_events_mor_mixed_dedup_and_order() {
        let p = plan_event(&tables(), &sample("s3-put-v9-mor-mixed.json"), "req").unwrap();
        assert_eq!(
            dedups(&p),
            [
                "v9_txns_simple_meta_mor:i:20260307162557587_20260307162601961",
                "v9_txns_simple_meta_mor:i:20260307162614221_20260307162615208",
                "v9_txns_simple_meta_mor:i:20260307162618152_20260307162619230",
            ]
        );
    }

    #[test]
    fn sample_events_ignored() {
        let p = plan_event(&tables(), &sample("s3-put-ignored.json"), "req").unwrap();
        assert!(p.messages.is_empty(), "{:?}", p.messages);
        assert_eq!(p.ignored.len(), 18);
        assert!(p.ignored.iter().any(|(_, w)| *w == Ignored::OutsideTables));
        assert!(p.ignored.iter().any(|(_, w)| *w == Ignored::NotCreated));
        assert!(p.ignored.iter().any(|(_, w)| *w == Ignored::MetadataTable));
    }

    #[test]
    fn sample_scheduled_sweep_enqueues_every_table() {
        let p = plan_event(&tables(), &sample("scheduled-sweep.json"), "req").unwrap();
        assert_eq!(
            dedups(&p),
            [
                "v6_nonpartitioned:sweep:53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
                "v9_txns_simple_meta:sweep:53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
                "v9_txns_simple_meta_mor:sweep:53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            ]
        );
        let manual = DetectorEvent::Sweep {
            scope: SweepScope::Tables(vec!["v6_nonpartitioned".into()]),
            id: None,
        };
        assert_eq!(
            dedups(&plan_event(&tables(), &manual, "req-9").unwrap()),
            ["v6_nonpartitioned:sweep:req-9"]
        );
        let unknown = DetectorEvent::Sweep {
            scope: SweepScope::Tables(vec!["nope".into()]),
            id: None,
        };
        assert!(plan_event(&tables(), &unknown, "r").is_err());
    }

    /// A sink that fails chosen attempts, for exercising the retry logic.
    struct FlakySink {
        /// dedup id -> remaining failures (transient) ; "perm:" prefix -> permanent
        fail: Mutex<std::collections::HashMap<String, u32>>,
        permanent: HashSet<String>,
        sent: Mutex<Vec<String>>,
        batches: Mutex<Vec<usize>>,
    }

    #[async_trait]
    impl MessageSink for FlakySink {
        async fn send_batch(
            &self,
            batch: &[OutgoingMessage],
        ) -> Result<Vec<Result<(), SendError>>, SendError> {
            self.batches.lock().unwrap().push(batch.len());
            let mut fail = self.fail.lock().unwrap();
            Ok(batch
                .iter()
                .map(|m| {
                    if self.permanent.contains(&m.dedup_id) {
                        return Err(SendError::permanent("InvalidParameterValue"));
                    }
                    match fail.get_mut(&m.dedup_id) {
                        Some(n) if *n > 0 => {
                            *n -= 1;
                            Err(SendError::transient("ThrottlingException"))
                        }
                        _ => {
                            self.sent.lock().unwrap().push(m.dedup_id.clone());
                            Ok(())
                        }
                    }
                })
                .collect())
        }
    }

    fn msgs(n: usize) -> Vec<OutgoingMessage> {
        let t = crate::tables::TableId::new("t").unwrap();
        (0..n)
            .map(|i| sweep_message(&t, &format!("e{i}")))
            .collect()
    }

    #[tokio::test]
    async fn sends_in_batches_of_ten_and_retries_only_failed_entries() {
        let ms = msgs(23);
        let sink = FlakySink {
            fail: Mutex::new(
                [
                    ("t:sweep:e3".to_string(), 2),
                    ("t:sweep:e17".to_string(), 1),
                ]
                .into(),
            ),
            permanent: HashSet::new(),
            sent: Mutex::default(),
            batches: Mutex::default(),
        };
        let retry = RetryPolicy {
            attempts: 4,
            backoff: Duration::from_millis(1),
        };
        send_messages(&sink, &ms, retry).await.unwrap();
        assert_eq!(*sink.batches.lock().unwrap(), vec![10, 10, 3, 2, 1]);
        let sent = sink.sent.lock().unwrap();
        assert_eq!(sent.len(), 23);
        assert_eq!(
            sent.iter().collect::<HashSet<_>>().len(),
            23,
            "nothing sent twice"
        );
    }

    #[tokio::test]
    async fn reports_what_could_not_be_sent() {
        let ms = msgs(5);
        let sink = FlakySink {
            fail: Mutex::new([("t:sweep:e1".to_string(), 99)].into()),
            permanent: ["t:sweep:e4".to_string()].into(),
            sent: Mutex::default(),
            batches: Mutex::default(),
        };
        let retry = RetryPolicy {
            attempts: 3,
            backoff: Duration::from_millis(1),
        };
        let err = send_messages(&sink, &ms, retry).await.unwrap_err();
        assert_eq!((err.failed, err.total), (2, 5));
        assert!(
            err.detail.contains("t:sweep:e1") && err.detail.contains("t:sweep:e4"),
            "{}",
            err.detail
        );
        // permanent failure tried once, transient one three times
        assert_eq!(*sink.batches.lock().unwrap(), vec![5, 1, 1]);
        assert_eq!(sink.sent.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_failed_batch_call_fails_all_its_entries() {
        struct Down;
        #[async_trait]
        impl MessageSink for Down {
            async fn send_batch(
                &self,
                _: &[OutgoingMessage],
            ) -> Result<Vec<Result<(), SendError>>, SendError> {
                Err(SendError::permanent("AccessDenied"))
            }
        }
        let err = send_messages(&Down, &msgs(12), RetryPolicy::default())
            .await
            .unwrap_err();
        assert_eq!((err.failed, err.total), (12, 12));
    }
}
