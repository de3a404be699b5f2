//! The commit detector: S3 events (and sweeps) in, one FIFO message per (table, instant) out.
//!
//! [`plan_event`] is pure: which messages an event produces and why each other key is ignored.
//! [`skip_applied`] optionally drops instants already at or behind the table's bookmark (one
//! cheap read per table; any doubt keeps the message). [`send_messages`] sends through a
//! [`Queue`] in batches of ten, retrying failed entries a few times within the invocation.
//! What still fails makes the invocation fail, naming the failed (table, instant)s; Lambda then
//! retries the event, and the messages that did go out are dropped by SQS deduplication (same
//! dedup id within five minutes), so only the failed ones become new messages.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use hps_retry::RetryPolicy;
use hps_sync::{BookmarkStore, Position, Queue, SyncMessage};
use tracing::{debug, info, warn};

use crate::error::{EnqueueError, EventError};
use crate::event::{DetectorEvent, SweepScope};
use crate::message::{instant_message, new_table_message, sweep_message};
use crate::tables::{TableId, TableSet};
use crate::timeline_key::{Ignored, InstantRef, classify};

/// SQS `SendMessageBatch` takes at most ten entries.
pub const SQS_MAX_BATCH: usize = 10;

/// One message to send, with what it is about (for logs and the bookmark check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The table's configured id.
    pub table: TableId,
    /// The instant (S3 events; `None` for sweeps).
    pub instant: Option<InstantRef>,
    /// The S3 key that announced it (S3 events).
    pub key: Option<String>,
    /// The message.
    pub message: SyncMessage,
}

/// What one event asks the detector to do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DetectorPlan {
    /// Messages to send, deduplicated, in a stable order (table, then instant).
    pub messages: Vec<Planned>,
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
            let chosen: Vec<_> = match scope {
                SweepScope::All => tables.iter().collect(),
                SweepScope::Tables(ids) => ids
                    .iter()
                    .map(|id| {
                        tables
                            .get(id)
                            .ok_or_else(|| EventError::UnknownTable(id.clone()))
                    })
                    .collect::<Result<_, _>>()?,
            };
            plan.messages.extend(chosen.into_iter().map(|t| Planned {
                table: t.id.clone(),
                instant: None,
                key: None,
                message: sweep_message(t, event_id),
            }));
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
                if table.discovered && rel == hps_config::discover::HOODIE_PROPERTIES {
                    // a table that just appeared under a discovery prefix
                    found.push(Planned {
                        table: table.id.clone(),
                        message: new_table_message(table),
                        instant: None,
                        key: Some(obj.key.clone()),
                    });
                    continue;
                }
                match classify(rel) {
                    Ok(instant) => found.push(Planned {
                        table: table.id.clone(),
                        message: instant_message(table, &instant),
                        instant: Some(instant),
                        key: Some(obj.key.clone()),
                    }),
                    Err(why) => plan.ignored.push((obj.key.clone(), why)),
                }
            }
            found.sort_by(|a, b| {
                let ka = (&a.table, a.instant.as_ref().map(|i| &i.requested));
                ka.cmp(&(&b.table, b.instant.as_ref().map(|i| &i.requested)))
            });
            plan.messages = found;
        }
    }
    let mut seen = HashSet::new();
    plan.messages.retain(|m| seen.insert(m.message.dedup_id()));
    Ok(plan)
}

/// Drop instant messages whose instant is at or behind the table's bookmark in `pipeline`
/// (already applied). One bookmark read per table; a failed read, a missing bookmark or a
/// bookmark mid-way through a window keeps the messages. Returns how many were dropped.
pub async fn skip_applied(
    plan: &mut DetectorPlan,
    store: &dyn BookmarkStore,
    pipeline: &str,
) -> usize {
    let mut positions: BTreeMap<String, Option<Position>> = BTreeMap::new();
    for m in plan.messages.iter().filter(|m| m.instant.is_some()) {
        if positions.contains_key(&m.message.table) {
            continue;
        }
        let pos = match store.get(pipeline, &m.message.table).await {
            Ok(Some(b)) => b.position,
            Ok(None) => None,
            Err(e) => {
                warn!(table = %m.table, error = %e, "bookmark read failed; enqueueing anyway");
                None
            }
        };
        positions.insert(m.message.table.clone(), pos);
    }
    let before = plan.messages.len();
    plan.messages.retain(|m| {
        let (Some(instant), Some(Some(bookmark))) = (&m.instant, positions.get(&m.message.table)) else {
            return true;
        };
        let pos = Position { requested_time: instant.requested.clone(), completion_time: instant.completed.clone() };
        // compare like with like: completion times only when both sides have them
        let comparable = pos.completion_time.is_some() == bookmark.completion_time.is_some();
        let applied = comparable && pos.cmp_progress(bookmark) != std::cmp::Ordering::Greater;
        if applied {
            debug!(table = %m.table, instant = %instant, bookmark = %bookmark, "already applied; not enqueued");
        }
        !applied
    });
    before - plan.messages.len()
}

/// The retry policy for entries the queue did not accept within one invocation: four
/// attempts, 100 ms doubling.
pub fn enqueue_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
    }
}

/// Send `messages` in batches of ten. Entries that fail transiently are retried (with
/// backoff) up to `retry.attempts` times in total; permanent failures are not retried.
/// Returns an error naming every message that could not be sent.
pub async fn send_messages(
    queue: &dyn Queue,
    messages: &[Planned],
    retry: &RetryPolicy,
) -> Result<(), EnqueueError> {
    let mut pending: Vec<&Planned> = messages.iter().collect();
    let mut failures: Vec<String> = Vec::new();
    let mut attempts = retry.attempts();
    while !pending.is_empty() {
        let last = !attempts.remaining();
        let retry_next = send_round(queue, &pending, last, &mut failures).await;
        if retry_next.is_empty() {
            break;
        }
        let what = format!("enqueue ({} messages not accepted)", retry_next.len());
        if !attempts.retry(&what, &"transient queue errors").await {
            break;
        }
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

/// One round of [`send_messages`]: every pending message, in batches of ten. Returns the
/// messages that failed transiently, to be retried, unless this is the `last` round; other
/// failures are added to `failures`.
async fn send_round<'m>(
    queue: &dyn Queue,
    pending: &[&'m Planned],
    last: bool,
    failures: &mut Vec<String>,
) -> Vec<&'m Planned> {
    let mut retry_next = Vec::new();
    for chunk in pending.chunks(SQS_MAX_BATCH) {
        let batch: Vec<SyncMessage> = chunk.iter().map(|m| m.message.clone()).collect();
        let mut results = queue.send_batch(&batch).await.into_iter();
        for m in chunk {
            let what = match &m.instant {
                Some(i) => format!("{} {i}", m.table),
                None => format!("{} {}", m.table, m.message.reason),
            };
            match results.next() {
                Some(Ok(sent)) => {
                    debug!(table = %m.table, message_id = %sent.message_id, "enqueued")
                }
                Some(Err(e)) if e.is_transient() && !last => retry_next.push(*m),
                Some(Err(e)) => {
                    warn!(table = %m.table, error = %e, "enqueue failed");
                    failures.push(format!("{what}: {e}"));
                }
                None => failures.push(format!("{what}: the queue returned no result")),
            }
        }
    }
    retry_next
}

/// Summary of one detector invocation (also its Lambda response).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DetectorOutcome {
    /// S3 object records in the event (readable or not; a sweep carries none).
    pub records: usize,
    /// Messages sent.
    pub enqueued: usize,
    /// Of them, messages announced by S3 events (an instant, or a discovered table's
    /// `hoodie.properties`).
    pub instants_enqueued: usize,
    /// Of them, sweep messages (one per swept table).
    pub sweeps_enqueued: usize,
    /// Instants not enqueued because the bookmark is already past them.
    pub already_applied: usize,
    /// Keys ignored.
    pub ignored: usize,
    /// Records that could not be read.
    pub unreadable: usize,
}

/// The optional bookmark check: the store and the pipeline whose bookmarks count.
#[derive(Clone, Copy)]
pub struct BookmarkPeek<'a> {
    /// Bookmark store.
    pub store: &'a dyn BookmarkStore,
    /// Pipeline name.
    pub pipeline: &'a str,
}

/// Handle one decoded event: plan, log what is ignored, optionally skip applied instants, send.
pub async fn handle_event(
    tables: &TableSet,
    queue: &dyn Queue,
    peek: Option<BookmarkPeek<'_>>,
    event: &DetectorEvent,
    invocation_id: &str,
    retry: &RetryPolicy,
) -> Result<DetectorOutcome, DetectorError> {
    let mut plan = plan_event(tables, event, invocation_id)?;
    for (key, why) in &plan.ignored {
        debug!(key = %key, reason = %why, "ignored");
    }
    for e in &plan.unreadable {
        // retrying the event would not make it readable; the scheduled sweep covers the gap
        warn!(error = %e, "unreadable S3 record skipped");
    }
    let already_applied = match peek {
        Some(p) => skip_applied(&mut plan, p.store, p.pipeline).await,
        None => 0,
    };
    for m in &plan.messages {
        match &m.instant {
            Some(i) => {
                info!(table = %m.table, instant = %i, key = m.key.as_deref().unwrap_or(""), "enqueue")
            }
            None => info!(table = %m.table, reason = %m.message.reason, "enqueue"),
        }
    }
    send_messages(queue, &plan.messages, retry).await?;
    let instants_enqueued = plan
        .messages
        .iter()
        .filter(|m| m.message.reason != hps_sync::SyncReason::Schedule)
        .count();
    Ok(DetectorOutcome {
        records: match event {
            DetectorEvent::Objects(records) => records.len(),
            DetectorEvent::Sweep { .. } => 0,
        },
        enqueued: plan.messages.len(),
        instants_enqueued,
        sweeps_enqueued: plan.messages.len() - instants_enqueued,
        already_applied,
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
    use async_trait::async_trait;
    use hps_sync::{Bookmark, FileBookmarkStore, QueueError, SentMessage, SyncReason};
    use std::collections::HashMap;
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

    /// (table id, instant or reason) of each planned message.
    fn summary(p: &DetectorPlan) -> Vec<(String, String)> {
        p.messages
            .iter()
            .map(|m| {
                let what = match &m.instant {
                    Some(i) => i.to_string(),
                    None => m.message.reason.to_string(),
                };
                (m.table.to_string(), what)
            })
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn sample_events_v6_real_s3_encoding() {
        let p = plan_event(&tables(), &sample("s3-put-v6-commit.json"), "req").unwrap();
        assert_eq!(
            summary(&p),
            pairs(&[("v6_nonpartitioned", "20240418173551906.commit")])
        );
        let m = &p.messages[0];
        assert_eq!(
            m.message.table,
            "s3://hudi-lake/warehouse/db=sales/v6_nonpartitioned"
        );
        assert_eq!(m.message.instant.as_deref(), Some("20240418173551906"));
        assert_eq!(
            m.key.as_deref(),
            Some("warehouse/db=sales/v6_nonpartitioned/.hoodie/20240418173551906.commit")
        );
    }

    #[test]
    fn sample_events_v9_emulator_encoding() {
        let p = plan_event(&tables(), &sample("s3-put-v9-commit-moto.json"), "req").unwrap();
        assert_eq!(
            summary(&p),
            pairs(&[(
                "v9_txns_simple_meta",
                "20260307162434124_20260307162438653.commit"
            )])
        );
        assert!(p.ignored.is_empty() && p.unreadable.is_empty());
    }

    #[test]
    fn sample_events_mor_mixed_dedup_and_order() {
        let p = plan_event(&tables(), &sample("s3-put-v9-mor-mixed.json"), "req").unwrap();
        assert_eq!(
            summary(&p),
            pairs(&[
                (
                    "v9_txns_simple_meta_mor",
                    "20260307162557587_20260307162601961.deltacommit"
                ),
                (
                    "v9_txns_simple_meta_mor",
                    "20260307162614221_20260307162615208.replacecommit"
                ),
                (
                    "v9_txns_simple_meta_mor",
                    "20260307162618152_20260307162619230.commit"
                ),
            ])
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
            summary(&p),
            pairs(&[
                ("v6_nonpartitioned", "schedule"),
                ("v9_txns_simple_meta", "schedule"),
                ("v9_txns_simple_meta_mor", "schedule"),
            ])
        );
        assert!(p.messages.iter().all(|m| m.message.token.as_deref() == Some("53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa")));
        let manual = DetectorEvent::Sweep {
            scope: SweepScope::Tables(vec!["v6_nonpartitioned".into()]),
            id: None,
        };
        let p = plan_event(&tables(), &manual, "req-9").unwrap();
        assert_eq!(summary(&p), pairs(&[("v6_nonpartitioned", "schedule")]));
        assert_eq!(p.messages[0].message.token.as_deref(), Some("req-9"));
        let unknown = DetectorEvent::Sweep {
            scope: SweepScope::Tables(vec!["nope".into()]),
            id: None,
        };
        assert!(plan_event(&tables(), &unknown, "r").is_err());
    }

    #[tokio::test]
    async fn skips_instants_behind_the_bookmark_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBookmarkStore::new(dir.path());
        let t = tables();
        let v9 = t.get("v9_txns_simple_meta").unwrap().uri();
        let mut b = Bookmark::new("p", v9.clone());
        b.position = Some(Position::completed(
            "20260307162440672",
            "20260307162441724",
        ));
        store.put_if_version(&b, 0).await.unwrap();
        let key = |r: &str, c: &str| {
            format!("warehouse/v9_txns_simple_meta/.hoodie/timeline/{r}_{c}.commit")
        };
        let ev = serde_json::json!({"Records": [
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": "hudi-lake"}, "object": {"key": key("20260307162434124", "20260307162438653")}}},
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": "hudi-lake"}, "object": {"key": key("20260307162440672", "20260307162441724")}}},
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": "hudi-lake"}, "object": {"key": key("20260307162442820", "20260307162443659")}}},
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": "hudi-lake"}, "object": {"key": "warehouse/db=sales/v6_nonpartitioned/.hoodie/20240418173551906.commit"}}},
        ]});
        let mut p = plan_event(&t, &parse_detector_event(&ev).unwrap(), "r").unwrap();
        assert_eq!(p.messages.len(), 4);
        // another pipeline's bookmark does not count
        assert_eq!(skip_applied(&mut p.clone(), &store, "other").await, 0);
        assert_eq!(skip_applied(&mut p, &store, "p").await, 2);
        assert_eq!(
            summary(&p),
            pairs(&[
                ("v6_nonpartitioned", "20240418173551906.commit"),
                (
                    "v9_txns_simple_meta",
                    "20260307162442820_20260307162443659.commit"
                ),
            ])
        );
    }

    /// A queue that fails chosen entries, for exercising the retry logic.
    #[derive(Debug, Default)]
    struct FlakyQueue {
        /// instant/token -> remaining transient failures
        fail: Mutex<HashMap<String, u32>>,
        /// instant/token that fail permanently
        permanent: HashSet<String>,
        sent: Mutex<Vec<String>>,
        batches: Mutex<Vec<usize>>,
    }

    fn tag(m: &SyncMessage) -> String {
        m.token
            .clone()
            .or_else(|| m.instant.clone())
            .unwrap_or_default()
    }

    #[async_trait]
    impl Queue for FlakyQueue {
        async fn send_batch(&self, batch: &[SyncMessage]) -> Vec<Result<SentMessage, QueueError>> {
            self.batches.lock().unwrap().push(batch.len());
            let mut fail = self.fail.lock().unwrap();
            let err = |transient| QueueError::Send {
                queue: "q".into(),
                code: "X".into(),
                message: "refused".into(),
                transient,
            };
            batch
                .iter()
                .map(|m| {
                    let t = tag(m);
                    if self.permanent.contains(&t) {
                        return Err(err(false));
                    }
                    match fail.get_mut(&t) {
                        Some(n) if *n > 0 => {
                            *n -= 1;
                            Err(err(true))
                        }
                        _ => {
                            self.sent.lock().unwrap().push(t);
                            Ok(SentMessage {
                                message_id: "id".into(),
                                sequence_number: None,
                            })
                        }
                    }
                })
                .collect()
        }
    }

    fn msgs(n: usize) -> Vec<Planned> {
        let t = TableSet::parse("t=s3://lake/t").unwrap();
        let spec = t.get("t").unwrap();
        (0..n)
            .map(|i| Planned {
                table: spec.id.clone(),
                instant: None,
                key: None,
                message: sweep_message(spec, &format!("e{i}")),
            })
            .collect()
    }

    #[tokio::test]
    async fn sends_in_batches_of_ten_and_retries_only_failed_entries() {
        let ms = msgs(23);
        let q = FlakyQueue {
            fail: Mutex::new([("e3".to_string(), 2), ("e17".to_string(), 1)].into()),
            ..Default::default()
        };
        let retry = RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        send_messages(&q, &ms, &retry).await.unwrap();
        assert_eq!(*q.batches.lock().unwrap(), vec![10, 10, 3, 2, 1]);
        let sent = q.sent.lock().unwrap();
        assert_eq!(sent.len(), 23);
        assert_eq!(
            sent.iter().collect::<HashSet<_>>().len(),
            23,
            "nothing sent twice"
        );
        assert!(ms.iter().all(|m| m.message.reason == SyncReason::Schedule));
    }

    #[tokio::test]
    async fn reports_what_could_not_be_sent() {
        let ms = msgs(5);
        let q = FlakyQueue {
            fail: Mutex::new([("e1".to_string(), 99)].into()),
            permanent: ["e4".to_string()].into(),
            ..Default::default()
        };
        let retry = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        let err = send_messages(&q, &ms, &retry).await.unwrap_err();
        assert_eq!((err.failed, err.total), (2, 5));
        assert!(err.detail.contains("refused"), "{}", err.detail);
        // permanent failure tried once, transient one three times
        assert_eq!(*q.batches.lock().unwrap(), vec![5, 1, 1]);
        assert_eq!(q.sent.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_short_answer_fails_the_missing_entries() {
        #[derive(Debug)]
        struct Short;
        #[async_trait]
        impl Queue for Short {
            async fn send_batch(&self, _: &[SyncMessage]) -> Vec<Result<SentMessage, QueueError>> {
                Vec::new()
            }
        }
        let err = send_messages(&Short, &msgs(12), &enqueue_retry_policy())
            .await
            .unwrap_err();
        assert_eq!((err.failed, err.total), (12, 12));
    }
}
