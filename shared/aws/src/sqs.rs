//! [`SqsFifoQueue`]: the [`Queue`] on an SQS FIFO queue.
//!
//! Message group id = [`SyncMessage::group_id`] (one group per table: the loader handles one
//! message of a table at a time, in order, while tables proceed in parallel); deduplication id
//! = [`SyncMessage::dedup_id`] (a SHA-256 of table, instant, reason and token: a second
//! event for the same commit within SQS's 5-minute window is dropped by SQS itself). Messages
//! go out in `SendMessageBatch` calls of at most 10 entries; failures are reported per message.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use hps_sync::queue::{Queue, QueueError, SentMessage, SyncMessage};
use tracing::{debug, instrument, warn};

use crate::sdk_error::classify;

/// SQS's limit of entries per `SendMessageBatch`.
pub const SQS_MAX_BATCH: usize = 10;

/// A [`Queue`] on one SQS FIFO queue.
#[derive(Debug, Clone)]
pub struct SqsFifoQueue {
    client: Client,
    queue_url: String,
}

impl SqsFifoQueue {
    /// A queue for `queue_url` (must name a FIFO queue: `….fifo`).
    pub fn new(client: Client, queue_url: impl Into<String>) -> Result<Self, QueueError> {
        let queue_url = queue_url.into();
        if !queue_url.ends_with(".fifo") {
            return Err(QueueError::Invalid {
                reason: format!("{queue_url:?} is not a FIFO queue URL (must end in .fifo)"),
            });
        }
        Ok(Self { client, queue_url })
    }

    /// A queue for `queue_url` with a client built from `config`.
    pub fn from_config(
        config: &SdkConfig,
        queue_url: impl Into<String>,
    ) -> Result<Self, QueueError> {
        Self::new(Client::new(config), queue_url)
    }

    /// The queue URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn send_error(
        &self,
        code: impl Into<String>,
        message: impl Into<String>,
        transient: bool,
    ) -> QueueError {
        QueueError::Send {
            queue: self.queue_url.clone(),
            code: code.into(),
            message: message.into(),
            transient,
        }
    }

    /// Send one chunk (≤ 10 valid messages); results in chunk order.
    async fn send_chunk(
        &self,
        chunk: &[(usize, &SyncMessage, String)],
    ) -> Vec<Result<SentMessage, QueueError>> {
        let mut entries = Vec::with_capacity(chunk.len());
        for (i, (_, m, body)) in chunk.iter().enumerate() {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body(body.clone())
                .message_group_id(m.group_id())
                .message_deduplication_id(m.dedup_id())
                .build();
            match entry {
                Ok(e) => entries.push(e),
                Err(e) => {
                    let err = QueueError::Invalid {
                        reason: format!("batch entry: {e}"),
                    };
                    return chunk.iter().map(|_| Err(err.clone())).collect();
                }
            }
        }
        let out = match self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let f = classify(&e);
                let err = self.send_error(
                    f.code.unwrap_or_else(|| "RequestFailed".into()),
                    f.message,
                    f.transient,
                );
                warn!(error = %err, n = chunk.len(), "SendMessageBatch failed as a whole");
                return chunk.iter().map(|_| Err(err.clone())).collect();
            }
        };
        let mut results: Vec<Option<Result<SentMessage, QueueError>>> = vec![None; chunk.len()];
        let index_of = |id: &str| {
            id.strip_prefix('m')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|i| *i < chunk.len())
        };
        for ok in out.successful() {
            if let Some(i) = index_of(ok.id()) {
                results[i] = Some(Ok(SentMessage {
                    message_id: ok.message_id().to_string(),
                    sequence_number: ok.sequence_number().map(str::to_string),
                }));
            }
        }
        for failed in out.failed() {
            if let Some(i) = index_of(failed.id()) {
                // sender faults (bad input) will fail again; server faults may not
                results[i] = Some(Err(self.send_error(
                    failed.code(),
                    failed.message().unwrap_or("no message"),
                    !failed.sender_fault(),
                )));
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(self.send_error(
                        "MissingResult",
                        "SQS reported no result for the entry",
                        true,
                    ))
                })
            })
            .collect()
    }
}

#[async_trait]
impl Queue for SqsFifoQueue {
    #[instrument(level = "debug", skip(self, messages), fields(queue = %self.queue_url, n = messages.len()))]
    async fn send_batch(&self, messages: &[SyncMessage]) -> Vec<Result<SentMessage, QueueError>> {
        let mut results: Vec<Option<Result<SentMessage, QueueError>>> = vec![None; messages.len()];
        let mut valid = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let checked = hps_sync::bookmark::validate_table_id(&m.table)
                .map_err(|e| QueueError::Invalid {
                    reason: e.to_string(),
                })
                .and_then(|()| m.to_json());
            match checked {
                Ok(body) => valid.push((i, m, body)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        // sequential chunks keep the order of each table's messages
        for chunk in valid.chunks(SQS_MAX_BATCH) {
            let sent = self.send_chunk(chunk).await;
            for ((i, _, _), r) in chunk.iter().zip(sent) {
                results[*i] = Some(r);
            }
        }
        let out: Vec<_> = results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(self.send_error("MissingResult", "message was not sent", true))
                })
            })
            .collect();
        debug!(failed = out.iter().filter(|r| r.is_err()).count(), "sent");
        out
    }
}
