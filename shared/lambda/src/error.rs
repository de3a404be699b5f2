//! Errors of the Lambda layer.

use thiserror::Error;

/// A bad or missing environment variable. Fatal at cold start: the function cannot work.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("environment variable {var} is required: {hint}")]
    Missing {
        /// The variable.
        var: &'static str,
        /// What it should hold.
        hint: &'static str,
    },
    /// The configuration file (`HPS_CONFIG`) cannot be read or is invalid.
    #[error("HPS_CONFIG: {0}")]
    File(hps_config::ConfigError),
    /// A variable has a value that cannot be used.
    #[error("environment variable {var}: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Why the value is refused.
        reason: String,
    },
}

/// The detector could not make sense of its input event at all.
#[derive(Debug, Error)]
pub enum EventError {
    /// Neither an S3 notification (direct, via SNS or via EventBridge) nor a sweep request.
    #[error(
        "unrecognised event (expected S3 notification records, an EventBridge S3 or scheduled event, or {{\"sweep\": ...}}): {0}"
    )]
    Unrecognised(String),
    /// A sweep request named a table that is not configured.
    #[error("sweep request names unknown table {0:?}")]
    UnknownTable(String),
}

/// Sending to the queue failed for some messages (after in-invocation retries).
#[derive(Debug, Error)]
#[error("{failed} of {total} messages could not be enqueued: {detail}")]
pub struct EnqueueError {
    /// Messages not sent.
    pub failed: usize,
    /// Messages in the invocation.
    pub total: usize,
    /// `<table> <instant or reason>: <error>` of each failure, joined.
    pub detail: String,
}
