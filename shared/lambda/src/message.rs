//! The queue messages the functions exchange: [`hps_sync::SyncMessage`]s, built here for the
//! three reasons the functions send them.
//!
//! A message names the table by its base URI (the bookmark key). The FIFO message group is
//! derived from the table (one table's messages in order, never two at a time; different
//! tables in parallel) and the deduplication id from table + instant (+ reason and token):
//!
//! - instant (S3 event): table + requested time, so repeated S3 events and retried detector
//!   invocations within SQS's 5-minute window collapse into one message;
//! - sweep (schedule): token = the triggering event's id, stable across retries of that event;
//! - continuation: token = the loader's request id, distinct per invocation.
//!
//! The loader only needs the table: a pass always runs up to the table's newest completed
//! instant, whatever instant the message names.

use hps_sync::SyncMessage;

use crate::tables::TableSpec;
use crate::timeline_key::InstantRef;

/// The message for a completed instant of `table`.
pub fn instant_message(table: &TableSpec, instant: &InstantRef) -> SyncMessage {
    SyncMessage::event(table.uri(), Some(instant.requested.clone()))
}

/// The message for a table that just appeared under a discovery prefix (its
/// `hoodie.properties` was written): no instant, so repeated writes within SQS's
/// deduplication window collapse into one message.
pub fn new_table_message(table: &TableSpec) -> SyncMessage {
    SyncMessage::event(table.uri(), None)
}

/// The safety-net message for `table`; `event_id` identifies the triggering event.
pub fn sweep_message(table: &TableSpec, event_id: &str) -> SyncMessage {
    SyncMessage::schedule(table.uri(), event_id)
}

/// The continuation for `table` after a pass in invocation `request_id` stopped with work left.
pub fn continuation_message(table: &TableSpec, request_id: &str) -> SyncMessage {
    SyncMessage::continuation(table.uri(), None, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::TableSet;
    use hps_sync::SyncReason;

    fn specs() -> TableSet {
        TableSet::parse("orders=s3://lake/wh/orders,orders2=s3://lake/wh/orders2").unwrap()
    }

    #[test]
    fn instant_messages_group_by_table_and_dedup_by_instant() {
        let t = specs();
        let (o, o2) = (t.get("orders").unwrap(), t.get("orders2").unwrap());
        let i1 = InstantRef {
            requested: "20260307162434124".into(),
            completed: Some("20260307162438653".into()),
            action: "commit".into(),
        };
        let i2 = InstantRef {
            requested: "20260307162440672".into(),
            ..i1.clone()
        };
        let m = instant_message(o, &i1);
        assert_eq!(m.table, "s3://lake/wh/orders");
        assert_eq!(m.reason, SyncReason::Event);
        assert_eq!(m.instant.as_deref(), Some("20260307162434124"));
        // same table + instant: same dedup id (S3 redelivery); other instant/table: different
        assert_eq!(instant_message(o, &i1).dedup_id(), m.dedup_id());
        assert_ne!(instant_message(o, &i2).dedup_id(), m.dedup_id());
        assert_ne!(instant_message(o2, &i1).dedup_id(), m.dedup_id());
        // one group per table
        assert_eq!(instant_message(o, &i2).group_id(), m.group_id());
        assert_ne!(instant_message(o2, &i1).group_id(), m.group_id());
        for id in [m.group_id(), m.dedup_id()] {
            assert!(!id.is_empty() && id.len() <= 128, "{id}");
        }
    }

    #[test]
    fn sweeps_and_continuations_are_distinct_per_trigger() {
        let t = specs();
        let o = t.get("orders").unwrap();
        let s1 = sweep_message(o, "event-1");
        assert_eq!(s1.reason, SyncReason::Schedule);
        assert_eq!(sweep_message(o, "event-1").dedup_id(), s1.dedup_id());
        assert_ne!(sweep_message(o, "event-2").dedup_id(), s1.dedup_id());
        let c1 = continuation_message(o, "req-1");
        assert_eq!(c1.reason, SyncReason::Continuation);
        assert_ne!(continuation_message(o, "req-2").dedup_id(), c1.dedup_id());
        assert_eq!(c1.group_id(), s1.group_id());
    }
}
