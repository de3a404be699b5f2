//! The work queue between the commit detector and the incremental loader.
//!
//! A [`SyncMessage`] says "table X may have new commits": sent by the detector on an S3
//! event, by a loader that ran out of time (continuation), or by a schedule. The message is
//! only a trigger: the loader always works from the bookmark, so duplicates and reordering are
//! harmless, and dropping one is only a delay until the next trigger.
//!
//! On SQS FIFO, the message group is derived from the table (one loader per table at a time,
//! in order) and the deduplication id from table + instant (+ reason and token, see
//! [`SyncMessage::dedup_id`]).

use std::fmt::{self, Debug};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a sync was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncReason {
    /// A timeline file of the table changed (S3 event via the detector).
    Event,
    /// A loader stopped before the end of the work (time budget) and asks to be continued.
    Continuation,
    /// A periodic catch-up trigger.
    Schedule,
}

impl fmt::Display for SyncReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncReason::Event => "event",
            SyncReason::Continuation => "continuation",
            SyncReason::Schedule => "schedule",
        })
    }
}

/// One "sync this table" request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SyncMessage {
    /// The table id (as in bookmarks: the table's base URI).
    pub table: String,
    /// The instant that triggered it (requested time), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instant: Option<String>,
    /// Why.
    pub reason: SyncReason,
    /// Extra deduplication discriminator: messages with equal table, instant, reason and token
    /// are duplicates. Continuations must set it to something that changes with progress
    /// (e.g. the bookmark version), or a second continuation for the same instant inside the
    /// SQS deduplication window (5 minutes) would be dropped; schedules set the tick time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl SyncMessage {
    /// An event-triggered message.
    pub fn event(table: impl Into<String>, instant: Option<String>) -> Self {
        Self {
            table: table.into(),
            instant,
            reason: SyncReason::Event,
            token: None,
        }
    }

    /// A continuation; `token` must change with progress (see [`Self::token`]).
    pub fn continuation(
        table: impl Into<String>,
        instant: Option<String>,
        token: impl Into<String>,
    ) -> Self {
        Self {
            table: table.into(),
            instant,
            reason: SyncReason::Continuation,
            token: Some(token.into()),
        }
    }

    /// A scheduled trigger for the tick `tick` (e.g. the schedule's event time).
    pub fn schedule(table: impl Into<String>, tick: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            instant: None,
            reason: SyncReason::Schedule,
            token: Some(tick.into()),
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Result<String, QueueError> {
        serde_json::to_string(self).map_err(|e| QueueError::Invalid {
            reason: format!("cannot encode message: {e}"),
        })
    }

    /// Parse a JSON body.
    pub fn from_json(body: &str) -> Result<Self, QueueError> {
        let m: SyncMessage = serde_json::from_str(body).map_err(|e| QueueError::Invalid {
            reason: format!("not a sync message ({e}): {}", truncate(body, 200)),
        })?;
        crate::bookmark::validate_table_id(&m.table).map_err(|e| QueueError::Invalid {
            reason: e.to_string(),
        })?;
        Ok(m)
    }

    /// The FIFO message group: all messages of one table share it (processed one at a time,
    /// in order); different tables proceed in parallel. At most 128 characters of
    /// `[A-Za-z0-9-_.]`: a readable tail of the table id plus a hash of the whole id.
    pub fn group_id(&self) -> String {
        group_id_for_table(&self.table)
    }

    /// The FIFO deduplication id: a SHA-256 (64 hex characters) of table, instant, reason and
    /// token. Event messages for the same table and instant deduplicate across reasons'
    /// senders; continuations and schedules are distinguished by their token.
    pub fn dedup_id(&self) -> String {
        let mut material = Vec::with_capacity(self.table.len() + 64);
        material.extend_from_slice(b"hps-sync-message\0");
        material.extend_from_slice(self.table.as_bytes());
        material.push(0);
        material.extend_from_slice(self.instant.as_deref().unwrap_or("").as_bytes());
        material.push(0);
        if self.reason != SyncReason::Event || self.token.is_some() {
            material.extend_from_slice(self.reason.to_string().as_bytes());
            material.push(0);
            material.extend_from_slice(self.token.as_deref().unwrap_or("").as_bytes());
        }
        hex(&sha256(&material))
    }
}

/// The message group id of a table (see [`SyncMessage::group_id`]).
pub fn group_id_for_table(table: &str) -> String {
    let digest = hex(&sha256(table.as_bytes()));
    let tail: String = table
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    if tail.is_empty() {
        digest[..40].to_string()
    } else {
        format!("{tail}-{}", &digest[..40])
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

/// A message the queue accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The queue's message id.
    pub message_id: String,
    /// The FIFO sequence number, when the queue reports one.
    pub sequence_number: Option<String>,
}

/// Errors of a [`Queue`].
#[derive(Debug, Clone, Error)]
pub enum QueueError {
    /// The message cannot be sent as is (bad table id, encoding).
    #[error("invalid queue message: {reason}")]
    Invalid {
        /// Why, in words.
        reason: String,
    },
    /// The queue refused or failed to take the message. `transient` tells whether a retry may
    /// succeed.
    #[error("queue {queue}: {code}: {message}")]
    Send {
        /// The queue.
        queue: String,
        /// The error code the service returned.
        code: String,
        /// What went wrong, in words.
        message: String,
        /// Whether trying again may succeed.
        transient: bool,
    },
}

impl QueueError {
    /// Whether re-sending may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            QueueError::Send {
                transient: true,
                ..
            }
        )
    }
}

/// A queue of [`SyncMessage`]s.
#[async_trait]
pub trait Queue: Send + Sync + Debug {
    /// Send messages; the result has one entry per message, in the input order, so callers
    /// can retry exactly the failed ones.
    async fn send_batch(&self, messages: &[SyncMessage]) -> Vec<Result<SentMessage, QueueError>>;

    /// Send one message.
    async fn send(&self, message: &SyncMessage) -> Result<SentMessage, QueueError> {
        let mut results = self.send_batch(std::slice::from_ref(message)).await;
        results.pop().unwrap_or_else(|| {
            Err(QueueError::Send {
                queue: format!("{self:?}"),
                code: "NoResult".into(),
                message: "the queue returned no result for the message".into(),
                transient: true,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answers() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn ids_are_valid_and_distinguish_what_matters() {
        let long_table = format!("s3://bucket/{}/tbl with spaces/ünï", "x".repeat(500));
        for t in ["s3://b/warehouse/orders", long_table.as_str(), "/"] {
            let m = SyncMessage::event(t, Some("20240101000000000".into()));
            for id in [m.group_id(), m.dedup_id()] {
                assert!(!id.is_empty() && id.len() <= 128, "{id}");
                assert!(
                    id.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                    "{id}"
                );
            }
        }
        let a = SyncMessage::event("s3://b/t", Some("1".into()));
        let b = SyncMessage::event("s3://b/t", Some("2".into()));
        let c = SyncMessage::event("s3://b/u", Some("1".into()));
        assert_eq!(a.dedup_id(), a.clone().dedup_id());
        assert_ne!(a.dedup_id(), b.dedup_id());
        assert_ne!(a.dedup_id(), c.dedup_id());
        assert_eq!(a.group_id(), b.group_id());
        assert_ne!(a.group_id(), c.group_id());
        assert!(a.group_id().starts_with("t-"));
        let k1 = SyncMessage::continuation("s3://b/t", Some("1".into()), "v5");
        let k2 = SyncMessage::continuation("s3://b/t", Some("1".into()), "v6");
        assert_ne!(k1.dedup_id(), k2.dedup_id());
        assert_ne!(k1.dedup_id(), a.dedup_id());
        // no ambiguity between fields
        let x = SyncMessage::event("ab", Some("c".into()));
        let y = SyncMessage::event("a", Some("bc".into()));
        assert_ne!(x.dedup_id(), y.dedup_id());
    }

    #[test]
    fn json_round_trip() {
        let m = SyncMessage::continuation("s3://b/t", None, "v9");
        let json = m.to_json().unwrap();
        assert_eq!(
            json,
            r#"{"table":"s3://b/t","reason":"continuation","token":"v9"}"#
        );
        assert_eq!(SyncMessage::from_json(&json).unwrap(), m);
        assert!(SyncMessage::from_json(r#"{"table":"","reason":"event"}"#).is_err());
        assert!(SyncMessage::from_json("garbage").is_err());
        assert!(SyncMessage::from_json(r#"{"table":"t","reason":"other"}"#).is_err());
    }
}
