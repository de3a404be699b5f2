//! Where the functions send queue messages: the seam between the handlers and SQS.

use std::fmt;

use async_trait::async_trait;

use crate::message::OutgoingMessage;

/// SQS `SendMessageBatch` takes at most ten entries.
pub const SQS_MAX_BATCH: usize = 10;

/// Why a message (or a whole batch call) was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// Retrying may succeed (throttling, timeouts, 5xx).
    pub transient: bool,
    /// What the queue said.
    pub message: String,
}

impl SendError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        SendError {
            transient: true,
            message: message.into(),
        }
    }

    /// A failure retrying will not fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        SendError {
            transient: false,
            message: message.into(),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.transient {
            "transient"
        } else {
            "permanent"
        };
        write!(f, "{} ({kind})", self.message)
    }
}

impl std::error::Error for SendError {}

/// Sends messages to the FIFO queue.
#[async_trait]
pub trait MessageSink: Send + Sync {
    /// Send at most [`SQS_MAX_BATCH`] messages. `Ok` holds one result per message, in order
    /// (SQS reports success or failure per entry); `Err` means the call as a whole failed.
    async fn send_batch(
        &self,
        batch: &[OutgoingMessage],
    ) -> Result<Vec<Result<(), SendError>>, SendError>;
}
