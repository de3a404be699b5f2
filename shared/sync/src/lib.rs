//! The sync protocol of hudi-pg-sync.
//!
//! - [`bookmark`]: how far each (pipeline, table) has been applied, and the [`BookmarkStore`]
//!   seam with optimistic concurrency (conditional writes on a version counter).
//! - [`lease`]: at most one sync pass per table ([`LeaseStore`]: expiring, fenced leases).
//! - [`queue`]: the "sync this table" messages between detector and loader ([`Queue`]).
//! - [`embedded`]: [`FileBookmarkStore`], bookmarks and leases in local JSON files.
//!
//! The DynamoDB and SQS implementations live in `hps-aws`.

pub mod bookmark;
pub mod embedded;
pub mod lease;
pub mod queue;

// the pipeline core (sync pass, fence, operations)
mod after_apply;
pub mod columns;
pub mod error;
pub mod failpoint;
mod feed;
pub mod fence;
mod fence_tx;
pub mod ops;
pub mod partition_filter;
pub mod pass;
pub mod pipeline;
mod quarantine;
pub mod target;

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;

pub use bookmark::{
    Bookmark, BookmarkError, BookmarkResult, BookmarkState, BookmarkStore, LastError, Position,
    SliceCursor, WriteMode,
};
pub use columns::{ColumnMapping, ColumnSelect, TypeOverride};
pub use embedded::FileBookmarkStore;
pub use error::{SyncError, SyncResult};
pub use failpoint::FailPoints;
pub use fence::{Fence, FenceStatus, FenceTable};
pub use lease::{Acquire, Lease, LeaseError, LeaseResult, LeaseStore};
pub use ops::TableStatus;
pub use partition_filter::PartitionFilter;
pub use pipeline::{
    BusyReason, PassMode, PassOutcome, PassReport, ProgressEvent, ProgressSink, ResyncMode,
    SyncOptions, SyncPipeline, TableSource,
};
pub use queue::{Queue, QueueError, SentMessage, SyncMessage, SyncReason};
pub use target::{TargetOverrides, derive_target};
