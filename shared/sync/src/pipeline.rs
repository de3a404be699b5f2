//! The public face of the pipeline core: [`SyncPipeline`], its options, the table it syncs
//! ([`TableSource`]) and what a pass reports ([`PassOutcome`]).
//!
//! The protocol itself (fence, reconcile, windows, cursors, resync) is described in
//! `docs/sync-protocol.md`; the pass engine lives in [`crate::pass`], the operations in
//! [`crate::ops`].

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hps_postgres::{Applier, ApplyOptions, ConnectionManager, Connector, RetryPolicy};
use hps_storage::DynStore;
use tokio::time::Instant;

use crate::bookmark::{BookmarkStore, Position, SliceCursor};
use crate::columns::ColumnMapping;
use crate::failpoint::FailPoints;
use crate::lease::LeaseStore;
use crate::target::TargetOverrides;

/// One Hudi table of a pipeline.
#[derive(Debug, Clone)]
pub struct TableSource {
    /// Stable id of the table in the pipeline (bookmark and fence key), e.g. its base URI.
    pub id: String,
    /// The table's storage, rooted at its base path.
    pub store: DynStore,
    /// Overrides of the PostgreSQL target derived from the table's configuration.
    pub target: TargetOverrides,
    /// SQL statements run inside every apply transaction that applies rows, after the upsert
    /// and before the fence moves (parameters: see `docs/sync-protocol.md`, "after_apply").
    /// A table with statements is not bulk-bootstrapped: every load goes through staging.
    pub after_apply: Vec<String>,
    /// Which columns reach staging, renamed and typed how (default: all, as derived).
    pub columns: ColumnMapping,
    /// Only the partitions whose partition column holds one of these values (partition
    /// pruning: other partitions are never read).
    pub partition_filter: Option<crate::PartitionFilter>,
}

impl TableSource {
    /// A table with the derived target.
    pub fn new(id: impl Into<String>, store: DynStore) -> Self {
        TableSource {
            id: id.into(),
            store,
            target: TargetOverrides::default(),
            after_apply: Vec::new(),
            columns: ColumnMapping::default(),
            partition_filter: None,
        }
    }

    /// Replace the partition filter.
    pub fn with_partition_filter(mut self, filter: Option<crate::PartitionFilter>) -> Self {
        self.partition_filter = filter;
        self
    }

    /// Replace the column mapping.
    pub fn with_columns(mut self, columns: ColumnMapping) -> Self {
        self.columns = columns;
        self
    }

    /// Replace the `after_apply` statements.
    pub fn with_after_apply(mut self, statements: Vec<String>) -> Self {
        self.after_apply = statements;
        self
    }

    /// Replace the target overrides.
    pub fn with_target(mut self, target: TargetOverrides) -> Self {
        self.target = target;
        self
    }
}

/// How far one pass goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassMode {
    /// Apply the next completed instant only (CLI stepping, tests).
    Step,
    /// Apply everything up to the latest completed instant (windows of at most
    /// [`SyncOptions::max_instants_per_window`] instants), within the deadline.
    ToLatest,
}

/// How a resync treats the existing staging rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResyncMode {
    /// [`ResyncMode::Reload`] when the fence recorded rewritten history (a rollback or restore
    /// of applied instants), else [`ResyncMode::Merge`].
    #[default]
    Auto,
    /// Keep staging; apply the snapshot under the version guard, then remove the rows whose
    /// keys the snapshot did not deliver. Staging stays readable throughout. Right after lost
    /// history (cleaned files, archived instants).
    Merge,
    /// Empty staging (and tombstones) first, then load the snapshot. Right after rewritten
    /// history, where staging may hold row versions newer than anything the table still has,
    /// which the version guard would keep.
    Reload,
}

/// A progress notification (for progress bars and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    /// A window was planned.
    Planned {
        /// Table id.
        table: String,
        /// The instant the window ends at.
        window_end: Position,
        /// Instants in the window.
        instants: usize,
        /// File slices in the window.
        slices: usize,
        /// The first slice this pass applies (> 0 when resuming a cursor).
        first_slice: usize,
        /// Completed instants after the window end (not yet planned).
        instants_after: usize,
    },
    /// A file slice was read completely.
    SliceRead {
        /// Table id.
        table: String,
        /// Slice index in the window.
        slice: usize,
        /// Slices in the window.
        slices: usize,
        /// Change rows the slice yielded.
        rows: u64,
    },
    /// A transaction committed.
    Committed {
        /// Table id.
        table: String,
        /// Change rows applied by this pass so far.
        rows: u64,
        /// Slices of the window done.
        slices_done: usize,
        /// Slices in the window.
        slices: usize,
        /// Whether the window is complete.
        window_done: bool,
    },
}

/// Receives [`ProgressEvent`]s. Called inline: keep it fast.
pub trait ProgressSink: Send + Sync {
    /// One event.
    fn event(&self, event: &ProgressEvent);
}

impl<F: Fn(&ProgressEvent) + Send + Sync> ProgressSink for F {
    fn event(&self, event: &ProgressEvent) {
        self(event)
    }
}

/// Tuning of a pipeline.
#[derive(Clone)]
pub struct SyncOptions {
    /// Who holds leases taken by this pipeline (host/pid, Lambda request id).
    pub owner: String,
    /// Lease TTL of a pass without a deadline; renewed between transactions.
    pub lease_ttl: Duration,
    /// With a deadline the lease TTL is the time left plus this much.
    pub lease_grace: Duration,
    /// A transaction stops adding file slices once it holds this many change rows.
    pub max_rows_per_txn: u64,
    /// A transaction stops adding file slices once their files sum up to this many bytes.
    pub max_bytes_per_txn: u64,
    /// Instants per window in [`PassMode::ToLatest`] (bounds planning work and memory).
    pub max_instants_per_window: usize,
    /// Rows per Arrow batch read from the files.
    pub read_batch_size: usize,
    /// Batches read ahead of the COPY (reading overlaps PostgreSQL's work), per slice in flight.
    /// Default 4: the decoded batches waiting in the channels are most of the loader's heap
    /// (with 8, the 10M-row bootstrap peaked at 286 MB RSS; with 4 at 235 MB, no slower).
    pub prefetch_batches: usize,
    /// File slices read at once (decoding on several cores while the slice in front streams to
    /// PostgreSQL). Default: the available parallelism, at most 4.
    pub read_ahead_slices: usize,
    /// A slice is read ahead only while the files of the slices in flight sum up to at most this
    /// many bytes (memory: each reader holds a row group of its file).
    pub read_ahead_bytes: u64,
    /// Options of the PostgreSQL apply path.
    pub apply: ApplyOptions,
    /// Retries of transient failures of a whole pass step (PostgreSQL, storage).
    pub retry: RetryPolicy,
    /// Progress notifications.
    pub progress: Option<Arc<dyn ProgressSink>>,
    /// Fault-injection points (inert unless the `failpoints` feature is on and a test arms them).
    pub failpoints: FailPoints,
}

impl fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncOptions")
            .field("owner", &self.owner)
            .field("lease_ttl", &self.lease_ttl)
            .field("lease_grace", &self.lease_grace)
            .field("max_rows_per_txn", &self.max_rows_per_txn)
            .field("max_bytes_per_txn", &self.max_bytes_per_txn)
            .field("max_instants_per_window", &self.max_instants_per_window)
            .field("read_batch_size", &self.read_batch_size)
            .field("prefetch_batches", &self.prefetch_batches)
            .field("read_ahead_slices", &self.read_ahead_slices)
            .field("read_ahead_bytes", &self.read_ahead_bytes)
            .field("apply", &self.apply)
            .field("retry", &self.retry)
            .field("progress", &self.progress.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            owner: default_owner(),
            lease_ttl: Duration::from_secs(300),
            lease_grace: Duration::from_secs(30),
            max_rows_per_txn: 1_000_000,
            max_bytes_per_txn: 1 << 30,
            max_instants_per_window: 200,
            read_batch_size: 8192,
            prefetch_batches: 4,
            read_ahead_slices: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(4),
            read_ahead_bytes: 256 << 20,
            apply: ApplyOptions::default(),
            retry: RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(5),
            },
            progress: None,
            failpoints: FailPoints::new(),
        }
    }
}

fn default_owner() -> String {
    let host = std::env::var("HOSTNAME")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_STREAM_NAME"))
        .unwrap_or_else(|_| "localhost".to_string());
    format!(
        "{host}/{}/{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Why a pass could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusyReason {
    /// Another loader holds the table's lease.
    Lease {
        /// The holder.
        owner: String,
        /// When its lease expires unless renewed.
        expires_at: DateTime<Utc>,
    },
    /// Another loader (or an operation) moved the fence while this pass was applying; this
    /// pass's transaction was rolled back.
    FenceMoved {
        /// The fence version this pass read.
        expected: i64,
        /// The version found.
        found: Option<i64>,
    },
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Instants fully applied by this pass, in order.
    pub instants: Vec<Position>,
    /// Change rows applied (COPYed) by this pass.
    pub rows: u64,
    /// Upserts that won the version guard (staging rows created or replaced).
    pub upserted: u64,
    /// Deletes that won the version guard (hard: row removed and tombstone written; soft:
    /// row marked deleted).
    pub deleted: u64,
    /// Change rows PostgreSQL could not hold, quarantined instead of applied (tables with
    /// `on_bad_row = quarantine`).
    pub quarantined: u64,
    /// When the newest instant this pass applied completed (its wall-clock time, see
    /// [`hps_hudi::Instant::completed_at`]); `None` when no window was finished or the time
    /// cannot be told.
    pub newest_completed_at: Option<DateTime<Utc>>,
    /// Transactions committed.
    pub transactions: u32,
    /// File slices applied.
    pub slices: u64,
    /// The fence position after the pass.
    pub position: Option<Position>,
    /// The cursor after the pass (a window left partially applied).
    pub cursor: Option<SliceCursor>,
    /// The fence version after the pass.
    pub fence_version: i64,
    /// The bookmark version after the pass's last successful bookmark write.
    pub bookmark_version: Option<u64>,
    /// Completed instants after the position that remain to be applied (as of the last
    /// timeline listing; capped windows and pending instants aside).
    pub remaining_instants: usize,
    /// Staging rows removed (or marked deleted) by a finishing resync.
    pub resync_removed: u64,
    /// This pass loaded (part of) a new table from its snapshot instead of its history.
    pub bootstrap: bool,
    /// Wall time of the pass.
    pub elapsed: Duration,
}

/// The result of a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassOutcome {
    /// Nothing to apply.
    UpToDate {
        /// The fence position.
        position: Option<Position>,
        /// v6: a pending write at this requested time holds later completed instants back.
        blocked_by_pending: Option<String>,
    },
    /// Work was applied and nothing is left (or, in [`PassMode::Step`], the step is done).
    Applied(PassReport),
    /// Work was applied but more is left (deadline reached, or an instant cap): re-enqueue.
    MoreToDo(PassReport),
    /// Another loader works on the table; try again later.
    Busy(BusyReason),
    /// The table is paused.
    Paused {
        /// Why, if given.
        reason: Option<String>,
    },
    /// The incremental history is gone or rewritten: run [`SyncPipeline::resync`].
    NeedsResync {
        /// Why.
        reason: String,
    },
}

impl PassOutcome {
    /// The report, for `Applied` and `MoreToDo`.
    pub fn report(&self) -> Option<&PassReport> {
        match self {
            PassOutcome::Applied(r) | PassOutcome::MoreToDo(r) => Some(r),
            _ => None,
        }
    }

    /// Whether the caller should run another pass soon (re-enqueue).
    pub fn more_to_do(&self) -> bool {
        matches!(self, PassOutcome::MoreToDo(_))
    }

    /// Short name (`up_to_date`, `applied`, `more_to_do`, `busy`, `paused`, `needs_resync`).
    pub fn name(&self) -> &'static str {
        match self {
            PassOutcome::UpToDate { .. } => "up_to_date",
            PassOutcome::Applied(_) => "applied",
            PassOutcome::MoreToDo(_) => "more_to_do",
            PassOutcome::Busy(_) => "busy",
            PassOutcome::Paused { .. } => "paused",
            PassOutcome::NeedsResync { .. } => "needs_resync",
        }
    }
}

/// The pipeline core: ties the Hudi reader to the PostgreSQL apply path under the sync
/// protocol. One instance serves many tables and may run passes of different tables
/// concurrently (each pass takes its own connection from a small pool).
pub struct SyncPipeline {
    pub(crate) name: String,
    pub(crate) bookmarks: Arc<dyn BookmarkStore>,
    pub(crate) leases: Arc<dyn LeaseStore>,
    pub(crate) connector: Connector,
    pool: Mutex<Vec<ConnectionManager>>,
    pub(crate) options: SyncOptions,
}

impl fmt::Debug for SyncPipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncPipeline")
            .field("name", &self.name)
            .field("bookmarks", &self.bookmarks)
            .field("leases", &self.leases)
            .field("connector", &self.connector)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Connections kept for reuse.
const POOL_SIZE: usize = 4;

impl SyncPipeline {
    /// A pipeline named `name` (see [`crate::bookmark::validate_pipeline`]) over a bookmark
    /// store, a lease store (often the same object) and a PostgreSQL connector.
    pub fn new(
        name: impl Into<String>,
        bookmarks: Arc<dyn BookmarkStore>,
        leases: Arc<dyn LeaseStore>,
        connector: Connector,
        options: SyncOptions,
    ) -> crate::error::SyncResult<Self> {
        let name = name.into();
        crate::bookmark::validate_pipeline(&name)
            .map_err(|e| crate::error::SyncError::bookmark("(pipeline)", e))?;
        Ok(SyncPipeline {
            name,
            bookmarks,
            leases,
            connector,
            pool: Mutex::new(Vec::new()),
            options,
        })
    }

    /// The pipeline name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The options.
    pub fn options(&self) -> &SyncOptions {
        &self.options
    }

    /// The bookmark store.
    pub fn bookmarks(&self) -> &Arc<dyn BookmarkStore> {
        &self.bookmarks
    }

    /// The lease store.
    pub fn leases(&self) -> &Arc<dyn LeaseStore> {
        &self.leases
    }

    /// The fault-injection points.
    pub fn failpoints(&self) -> &FailPoints {
        &self.options.failpoints
    }

    /// An applier over a pooled (or new) connection; give it back with [`Self::put_applier`].
    pub(crate) fn take_applier(&self) -> Applier {
        let conn = self
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = conn.unwrap_or_else(|| ConnectionManager::new(self.connector.clone()));
        Applier::new(conn).with_options(self.options.apply.clone())
    }

    /// Return a connection to the pool (dropped when the pool is full or it is broken).
    pub(crate) fn put_applier(&self, mut applier: Applier) {
        let conn = std::mem::replace(
            applier.connection(),
            ConnectionManager::new(self.connector.clone()),
        );
        if !conn.is_connected() {
            return;
        }
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < POOL_SIZE {
            pool.push(conn);
        }
    }

    /// The lease TTL for a pass ending at `deadline`.
    pub(crate) fn lease_ttl(&self, deadline: Option<Instant>) -> Duration {
        let ttl = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()) + self.options.lease_grace,
            None => self.options.lease_ttl,
        };
        ttl.clamp(crate::lease::MIN_TTL, crate::lease::MAX_TTL)
    }

    pub(crate) fn progress(&self, event: ProgressEvent) {
        if let Some(p) = &self.options.progress {
            p.event(&event);
        }
    }
}

/// Compile-time check: every public operation's future is `Send` in the higher-ranked way
/// `async_trait` (and `tokio::spawn`) require.
#[cfg(test)]
#[allow(dead_code)]
mod send_check {
    use super::*;

    #[async_trait::async_trait]
    trait Caller {
        async fn call(&self, p: &SyncPipeline, s: &TableSource);
    }

    struct X;

    #[async_trait::async_trait]
    impl Caller for X {
        async fn call(&self, p: &SyncPipeline, s: &TableSource) {
            let _ = p.run_pass(s, None, PassMode::Step).await;
            let _ = p.resync(s, ResyncMode::Merge, None).await;
            let _ = p.status(s).await;
            let _ = p.rewind(s, None).await;
            let _ = p.reset(s).await;
            let _ = p.pause(&s.id, None).await;
            let _ = p.resume(&s.id).await;
        }
    }
}
