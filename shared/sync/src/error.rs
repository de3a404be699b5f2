//! Errors of the sync pipeline: each names the table (its id in the pipeline) and wraps the
//! failing layer's typed error, classified transient (retry later) or permanent.

use chrono::{DateTime, Utc};
use hps_hudi::HudiError;
use hps_postgres::PgError;
use thiserror::Error;

use crate::bookmark::BookmarkError;
use crate::lease::LeaseError;

/// Result alias of the pipeline.
pub type SyncResult<T> = Result<T, SyncError>;

/// Everything a sync pass or an operation can fail with.
#[derive(Debug, Error)]
pub enum SyncError {
    /// Reading the Hudi table failed.
    #[error("sync of {table}: {source}")]
    Hudi {
        /// Table id.
        table: String,
        /// The reader's error.
        #[source]
        source: Box<HudiError>,
    },

    /// PostgreSQL failed (connect, DDL, apply, fence).
    #[error("sync of {table}: {source}")]
    Postgres {
        /// Table id.
        table: String,
        /// The apply path's error.
        #[source]
        source: Box<PgError>,
    },

    /// The bookmark store failed.
    #[error("sync of {table}: {source}")]
    Bookmark {
        /// Table id.
        table: String,
        /// The store's error.
        #[source]
        source: Box<BookmarkError>,
    },

    /// The lease store failed, or the lease was lost.
    #[error("sync of {table}: {source}")]
    Lease {
        /// Table id.
        table: String,
        /// The store's error.
        #[source]
        source: Box<LeaseError>,
    },

    /// The fence row changed between reading it and the compare-and-set inside the apply
    /// transaction: another loader (or an operation) committed in between. The transaction was
    /// rolled back, so nothing was applied twice.
    #[error(
        "sync of {table}: the fence {fence} moved (expected version {expected}, found {}): another loader or operation \
         committed in between; this transaction was rolled back",
        found.map_or_else(|| "no row".to_string(), |v| v.to_string())
    )]
    FenceMoved {
        /// Table id.
        table: String,
        /// Qualified fence table.
        fence: String,
        /// The version this loader read.
        expected: i64,
        /// The version found at commit time.
        found: Option<i64>,
    },

    /// The PostgreSQL target cannot be derived from the Hudi table configuration.
    #[error("sync of {table}: cannot derive the PostgreSQL target: {reason}")]
    Target {
        /// Table id.
        table: String,
        /// Why.
        reason: String,
    },

    /// An operation was refused (bad argument, or the table's state does not allow it).
    #[error("{operation} of {table} refused: {reason}")]
    Refused {
        /// Table id.
        table: String,
        /// `rewind`, `reset`, `resync`, ...
        operation: &'static str,
        /// Why.
        reason: String,
    },

    /// An operation needs the table's lease and another loader holds it.
    #[error("{operation} of {table}: the table is busy (lease held by {owner} until {expires_at})")]
    Busy {
        /// Table id.
        table: String,
        /// The operation.
        operation: &'static str,
        /// Current lease holder.
        owner: String,
        /// When its lease expires unless renewed.
        expires_at: DateTime<Utc>,
    },

    /// An internal task failed (the slice reader task panicked or was cancelled).
    #[error("sync of {table}: internal error: {reason}")]
    Internal {
        /// Table id.
        table: String,
        /// What happened.
        reason: String,
    },

    /// A fault-injection point fired (tests only).
    #[error("fault injected at {point}")]
    Injected {
        /// The point's name.
        point: String,
    },
}

impl SyncError {
    /// Whether retrying later may succeed (storage or database hiccups, lost races, busy).
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Hudi { source, .. } => source.is_transient(),
            SyncError::Postgres { source, .. } => source.is_transient(),
            SyncError::Bookmark { source, .. } => source.is_transient(),
            SyncError::Lease { source, .. } => source.is_transient(),
            SyncError::FenceMoved { .. } | SyncError::Busy { .. } => true,
            SyncError::Target { .. }
            | SyncError::Refused { .. }
            | SyncError::Internal { .. }
            | SyncError::Injected { .. } => false,
        }
    }

    /// Whether the table's incremental history is gone or rewritten (a resync is needed).
    pub fn needs_resync(&self) -> bool {
        matches!(self, SyncError::Hudi { source, .. } if source.needs_resync())
    }

    pub(crate) fn hudi(table: &str, source: HudiError) -> Self {
        SyncError::Hudi {
            table: table.to_string(),
            source: Box::new(source),
        }
    }

    pub(crate) fn pg(table: &str, source: PgError) -> Self {
        SyncError::Postgres {
            table: table.to_string(),
            source: Box::new(source),
        }
    }

    pub(crate) fn bookmark(table: &str, source: BookmarkError) -> Self {
        SyncError::Bookmark {
            table: table.to_string(),
            source: Box::new(source),
        }
    }

    pub(crate) fn lease(table: &str, source: LeaseError) -> Self {
        SyncError::Lease {
            table: table.to_string(),
            source: Box::new(source),
        }
    }
}
