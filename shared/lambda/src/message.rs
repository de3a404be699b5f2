//! The queue message between the functions: body, message group id, deduplication id.
//!
//! Body (JSON): `{"v": 1, "kind": "instant" | "sweep" | "continuation", "table": "<id>",
//! "instant": {"requested", "completed"?, "action"}?, "key": "<s3 key>"?}`.
//!
//! - Group id = table id: SQS FIFO delivers one table's messages in order and never two of
//!   them to concurrent loaders, while different tables proceed in parallel.
//! - Dedup id: `<table>:i:<requested>[_<completed>]` for instants, so repeated S3 events (and
//!   retried detector invocations) within SQS's 5-minute window collapse to one message;
//!   `<table>:sweep:<event id>` and `<table>:cont:<request id>` for sweeps and continuations,
//!   stable across retries of the same invocation, distinct otherwise.
//!
//! The loader only needs the table: a pass always runs up to the table's newest completed
//! instant, whatever instant the message names.

use serde::{Deserialize, Serialize};

use crate::tables::TableId;
use crate::timeline_key::InstantRef;

/// Current body version.
pub const MESSAGE_VERSION: u32 = 1;

/// Why a message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// A completed instant appeared (S3 event).
    Instant,
    /// The safety-net sweep (scheduled, or requested by hand).
    Sweep,
    /// A pass ran out of time with work left.
    Continuation,
}

/// A message body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncMessage {
    /// Body version ([`MESSAGE_VERSION`]).
    pub v: u32,
    /// Why.
    pub kind: MessageKind,
    /// The table id.
    pub table: String,
    /// The instant (kind `instant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instant: Option<InstantRef>,
    /// The S3 key that announced it (kind `instant`; for logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The table the message is for.
    pub table: TableId,
    /// FIFO message group id.
    pub group_id: String,
    /// FIFO deduplication id.
    pub dedup_id: String,
    /// JSON body.
    pub body: String,
}

/// SQS allows at most 128 characters of `A-Z a-z 0-9` and punctuation in group and dedup ids.
pub const MAX_SQS_ID_LEN: usize = 128;

/// Replace characters SQS does not accept in ids and cap the length (a cap that cuts keeps a
/// hash of the full id so distinct inputs stay distinct).
fn sqs_id(raw: &str) -> String {
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c.is_ascii_punctuation() {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.len() <= MAX_SQS_ID_LEN {
        return clean;
    }
    let hash = fnv1a64(raw.as_bytes());
    format!("{}~{hash:016x}", &clean[..MAX_SQS_ID_LEN - 17])
}

/// FNV-1a, 64 bit: a stable, dependency-free hash for id shortening (not for security).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn outgoing(table: &TableId, dedup: String, body: &SyncMessage) -> OutgoingMessage {
    OutgoingMessage {
        table: table.clone(),
        group_id: table.as_str().to_string(),
        dedup_id: sqs_id(&dedup),
        // a struct of strings and integers always serializes
        body: serde_json::to_string(body).unwrap_or_default(),
    }
}

/// The message for a completed instant announced by `key`.
pub fn instant_message(table: &TableId, instant: &InstantRef, key: &str) -> OutgoingMessage {
    let dedup = match &instant.completed {
        Some(c) => format!("{table}:i:{}_{c}", instant.requested),
        None => format!("{table}:i:{}", instant.requested),
    };
    let body = SyncMessage {
        v: MESSAGE_VERSION,
        kind: MessageKind::Instant,
        table: table.to_string(),
        instant: Some(instant.clone()),
        key: Some(key.to_string()),
    };
    outgoing(table, dedup, &body)
}

/// The safety-net message for a table; `event_id` identifies the triggering event.
pub fn sweep_message(table: &TableId, event_id: &str) -> OutgoingMessage {
    let body = SyncMessage {
        v: MESSAGE_VERSION,
        kind: MessageKind::Sweep,
        table: table.to_string(),
        instant: None,
        key: None,
    };
    outgoing(table, format!("{table}:sweep:{event_id}"), &body)
}

/// The continuation message for a table whose pass ran out of time in invocation `request_id`.
pub fn continuation_message(table: &TableId, request_id: &str) -> OutgoingMessage {
    let body = SyncMessage {
        v: MESSAGE_VERSION,
        kind: MessageKind::Continuation,
        table: table.to_string(),
        instant: None,
        key: None,
    };
    outgoing(table, format!("{table}:cont:{request_id}"), &body)
}

/// Parse a message body.
pub fn parse_body(body: &str) -> Result<SyncMessage, String> {
    let m: SyncMessage = serde_json::from_str(body)
        .map_err(|e| format!("message body is not a sync message: {e}"))?;
    if m.v != MESSAGE_VERSION {
        return Err(format!(
            "message body version {} is not supported (expected {MESSAGE_VERSION})",
            m.v
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(s: &str) -> TableId {
        TableId::new(s).unwrap()
    }

    #[test]
    fn instant_messages_have_table_group_and_instant_dedup() {
        let i = InstantRef {
            requested: "20260307162434124".into(),
            completed: Some("20260307162438653".into()),
            action: "commit".into(),
        };
        let m = instant_message(&tid("orders"), &i, "wh/orders/.hoodie/timeline/x");
        assert_eq!(m.group_id, "orders");
        assert_eq!(m.dedup_id, "orders:i:20260307162434124_20260307162438653");
        let body = parse_body(&m.body).unwrap();
        assert_eq!(body.kind, MessageKind::Instant);
        assert_eq!(body.table, "orders");
        assert_eq!(body.instant.as_ref(), Some(&i));
        // the same instant from another event: same dedup id; other tables: other ids
        assert_eq!(
            instant_message(&tid("orders"), &i, "k2").dedup_id,
            m.dedup_id
        );
        assert_ne!(
            instant_message(&tid("orders2"), &i, "k").dedup_id,
            m.dedup_id
        );
        let v6 = InstantRef {
            requested: "20240418173551906".into(),
            completed: None,
            action: "commit".into(),
        };
        assert_eq!(
            instant_message(&tid("t"), &v6, "k").dedup_id,
            "t:i:20240418173551906"
        );
    }

    #[test]
    fn sweep_and_continuation_ids() {
        let s = sweep_message(&tid("t"), "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa");
        assert_eq!(s.dedup_id, "t:sweep:53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa");
        assert_eq!(parse_body(&s.body).unwrap().kind, MessageKind::Sweep);
        let c = continuation_message(&tid("t"), "req-1");
        assert_eq!(
            (c.group_id.as_str(), c.dedup_id.as_str()),
            ("t", "t:cont:req-1")
        );
        assert_eq!(parse_body(&c.body).unwrap().kind, MessageKind::Continuation);
    }

    #[test]
    fn ids_stay_within_sqs_limits() {
        let long = "a".repeat(64);
        let a = sweep_message(&tid(&long), &"x".repeat(200));
        let b = sweep_message(&tid(&long), &format!("{}y", "x".repeat(199)));
        assert!(a.dedup_id.len() <= MAX_SQS_ID_LEN && b.dedup_id.len() <= MAX_SQS_ID_LEN);
        assert_ne!(a.dedup_id, b.dedup_id);
        assert_eq!(sqs_id("a b\u{e9}c"), "a_b_c");
    }

    #[test]
    fn rejects_foreign_bodies() {
        assert!(parse_body("not json").is_err());
        assert!(parse_body(r#"{"v":2,"kind":"sweep","table":"t"}"#).is_err());
        assert!(parse_body(r#"{"v":1,"kind":"other","table":"t"}"#).is_err());
        assert!(parse_body(r#"{"Records":[]}"#).is_err());
        assert!(parse_body(r#"{"v":1,"kind":"sweep","table":"t"}"#).is_ok());
    }
}
