//! # hps-hudi: an incremental Apache Hudi reader
//!
//! Answers "what changed in this Hudi table after bookmark X, up to Y" for copy-on-write and
//! merge-on-read tables of table versions 1-6, 8 and 9 (Hudi 0.6-0.15, 1.0, 1.1-1.2; see
//! [`versions`] for what differs between them), reading storage directly through
//! [`hps_storage::ObjectStore`] with the `parquet`/`arrow` crates. It knows nothing about AWS
//! or Postgres.
//!
//! ## Use
//!
//! ```no_run
//! # async fn demo(store: hps_storage::DynStore) -> hps_hudi::Result<()> {
//! use futures::TryStreamExt;
//! use hps_hudi::{HudiTable, ReadOptions};
//!
//! let table = HudiTable::open(store).await?;
//! // what changed after the bookmark (exclusive) up to the latest instant
//! let plan = table.plan(Some("20260307162440672"), None).await?;
//! for i in 0..plan.slices.len() {
//!     let mut batches = table.read_slice(&plan, i, &ReadOptions::default())?;
//!     while let Some(batch) = batches.try_next().await? {
//!         // change rows: every table column (nullable) plus `_op`
//!         let _ = batch;
//!     }
//!     // a consumer may checkpoint "slice i done" here and resume at i + 1
//! }
//! // then store plan.end (requested + completion time) as the new bookmark
//! # Ok(()) }
//! ```
//!
//! Or in one call: [`ChangeFeed`] (open once, then `feed.since(bookmark)`), [`changes_since`]
//! or [`HudiTable::changes_since`] return the plan together with one stream over all its
//! slices; persist [`Changes::next_bookmark`] after applying them.
//!
//! ## Windows (`after`, `until`]
//!
//! `after` is exclusive, `until` inclusive; both are instant times in the table's window
//! domain: **completion time** on v8/v9, **instant (requested) time** on v1-v6 (see
//! [`InstantPosition::window_key`]). `None` means the beginning / the latest instant.
//! Admitted are completed `commit`, `deltacommit` and `replacecommit` instants in the window;
//! rows are kept when their `_hoodie_commit_time` equals the *requested* time of an admitted
//! instant. Per touched file group (minus groups replaced by a replacecommit visible at the
//! window end) the slice current as of the window end is read. Compaction and clustering are
//! admitted but add no rows. This matches Apache Hudi 0.x/1.1+ and hudi-rs 0.5.0: it is a
//! *latest-state* feed (one row per key and window), plus delete rows (see below).
//!
//! Merge-on-read slices merge the log blocks that count as of the window end over the base
//! file by the table's merge rule; keys whose latest version is a delete written in the window
//! (a DELETE log block) become delete rows, including deletes of slices compacted or groups
//! replaced within the window (`FileSlice::window_log_files`). Compaction adds no rows; a
//! compaction pending inside the window and rolled-back or failed deltacommits are handled
//! (see the `mor` module and `README.md`).
//!
//! Deletes a latest-state read cannot see are derived by [`deletes`] and read as the plan's
//! last slice (file id [`deletes::DELETES_SLICE_ID`], [`FileSlice::deletes`]): keys that a
//! copy-on-write rewrite in the window dropped from a file group (its versions are walked from
//! the base file as of the window start), keys of groups replaced by `INSERT_OVERWRITE*` /
//! `DELETE_PARTITION` (unless written again), each versioned with the instant that removed it;
//! clustering and keys that moved to another group or partition are not deletes. Rows with
//! `_hoodie_is_deleted = true` are delete rows. A window from the beginning has no deletes.
//!
//! Safety rules (typed errors instead of silent gaps):
//! - v6 hollow commits: the window is capped strictly below the earliest pending
//!   commit/deltacommit/non-clustering replacecommit ([`IncrementalPlan::capped_by_pending`]).
//! - A bookmark older than the active timeline while an archive exists, a planned file that
//!   was cleaned, and a rollback/restore (completed after the bookmark) of an instant at or
//!   before the bookmark all fail with errors whose [`HudiError::needs_resync`] is true.
//! - Tables without meta fields ([`HudiError::IncrementalUnsupported`]), non-parquet base
//!   files ([`HudiError::UnsupportedBaseFormat`]), log compaction, custom MOR merge modes and
//!   payloads, and log blocks this reader cannot interpret ([`HudiError::NotYetSupported`])
//!   are refused.
//!
//! ## Output: change rows
//!
//! Batches carry the file's columns (all five `_hoodie_*` meta columns included), each
//! nullable, plus a trailing non-null Utf8 `_op` column (`"upsert"` or `"delete"`; delete
//! rows carry the deleting instant as `_hoodie_commit_time`, the record key, partition path
//! and key columns, nulls elsewhere). Batch schemas come from
//! each file: under schema evolution different slices may carry different columns; match
//! columns by name. A column's type is the same in every batch: it comes from the table
//! schema ([`HudiTable::table_schema`]) and every file's values are converted to it
//! ([`convert`]), whatever type the file itself stored.
//!
//! ## Memory
//!
//! Bounded by one row group: see [`reader`] (footer + one row group's projected column chunks
//! + `batch_size` decoded rows), never a whole file.
//!
//! A merge-on-read slice also holds its valid log rows (one file group's log side) in memory.

pub mod archive;
mod archived_window;
mod base_file;
mod change_rows;
pub mod columns;
mod commit_filter;
pub mod config;
pub mod convert;
pub mod deletes;
pub mod error;
mod feed;
pub mod files;
pub mod instant;
pub mod log;
pub mod metadata;
mod mor;
pub mod plan;
mod planner;
pub mod properties;
pub mod reader;
pub mod snapshot;
pub mod table_schema;
pub mod timeline;
pub mod versions;

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use hps_storage::DynStore;
use tracing::debug;

pub use archive::{ArchivedInstant, ArchivedTimeline, load_archived};
pub use change_rows::{ReadOptions, change_schema};
pub use columns::{META_COLUMNS, OP_COLUMN, OP_DELETE, OP_UPSERT};
pub use config::{BaseFileFormat, KeyGenerator, TableConfig, TableType};
pub use error::{HudiError, Result};
pub use feed::ChangeFeed;
pub use instant::{Action, CommitTimes, InstantFile, InstantState, parse_instant_file_name};
pub use metadata::{CommitMetadata, WriteStat};
pub use plan::{
    BaseFile, FileGroupId, FileSlice, IncrementalPlan, LogFile, LogVisibility, PlannedInstant,
    ReplacedFileGroup,
};
pub use snapshot::SnapshotUnit;
pub use timeline::{Instant, InstantPosition, PendingInstant, Timeline};

/// A stream of change batches.
pub type BatchStream = BoxStream<'static, Result<RecordBatch>>;

const PROPERTIES: &str = ".hoodie/hoodie.properties";
const PROPERTIES_BACKUP: &str = ".hoodie/hoodie.properties.backup";

/// An opened Hudi table: its store (rooted at the table base path) and its configuration.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct HudiTable {
    store: DynStore,
    config: Arc<TableConfig>,
    uri: String,
    /// The table schema resolved for a plan (keyed by the plan's end), shared by clones.
    schema_cache: Arc<Mutex<Option<SchemaCacheEntry>>>,
}

/// A resolved table schema and the plan end it was resolved for.
type SchemaCacheEntry = (String, Option<SchemaRef>);

/// A plan together with the stream of all its change batches (see [`changes_since`]).
pub struct Changes {
    /// The plan; store `plan.end` as the new bookmark once the stream is fully consumed.
    pub plan: IncrementalPlan,
    /// Change batches of every slice, in plan order.
    pub batches: BatchStream,
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl HudiTable {
    /// Open the table whose base path is the store's root: reads `.hoodie/hoodie.properties`
    /// (or its `.backup`, as Hudi does during upgrades).
    pub async fn open(store: DynStore) -> Result<HudiTable> {
        let uri = store.root_uri();
        let bytes = match store.get(PROPERTIES).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => match store.get(PROPERTIES_BACKUP).await {
                Ok(b) => b,
                Err(e) if e.is_not_found() => return Err(HudiError::NotAHudiTable { table: uri }),
                Err(e) => return Err(HudiError::storage(&uri, e)),
            },
            Err(e) => return Err(HudiError::storage(&uri, e)),
        };
        let config = TableConfig::parse(&uri, &bytes)?;
        debug!(table = %uri, version = config.table_version, kind = config.table_type.as_str(), "opened");
        Ok(HudiTable {
            store,
            config: Arc::new(config),
            uri,
            schema_cache: Arc::new(Mutex::new(None)),
        })
    }

    /// The table configuration.
    pub fn config(&self) -> &TableConfig {
        &self.config
    }

    /// The table URI (store root).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The store.
    pub fn store(&self) -> &DynStore {
        &self.store
    }

    fn loader(&self) -> timeline::TimelineLoader<'_> {
        timeline::TimelineLoader {
            store: &self.store,
            config: &self.config,
            table: &self.uri,
        }
    }

    /// The active timeline: completed instants and pending ones.
    pub async fn timeline(&self) -> Result<Timeline> {
        self.loader().load().await
    }

    /// The archived timeline: completed instants moved off the active timeline, in either
    /// archive layout. `after` (exclusive, in the window domain of [`HudiTable::plan`]) skips
    /// older history; `None` reads all of it. Load the active timeline *before* this, and
    /// prefer its copy of an instant found in both ([`ArchivedTimeline::retain_not_active`]).
    pub async fn archived_timeline(&self, after: Option<&str>) -> Result<ArchivedTimeline> {
        archive::load_archived(&self.store, &self.config, &self.uri, after).await
    }

    /// Commit metadata of a completed `commit`/`deltacommit`/`replacecommit` instant.
    pub async fn commit_metadata(&self, instant: &Instant) -> Result<CommitMetadata> {
        self.loader().commit_metadata(instant).await
    }

    /// The table schema: one Arrow type per column over the table's life, from the newest
    /// commit's writer schema or the create schema (see [`table_schema`]); `None` when the
    /// table records neither. Every read converts each file's columns to these types.
    pub async fn table_schema(&self) -> Result<Option<SchemaRef>> {
        let timeline = self.timeline().await?;
        table_schema::load(self, &timeline).await
    }

    /// [`HudiTable::table_schema`], resolved once per plan end and shared by the reads of
    /// that plan's slices.
    async fn schema_for(&self, plan_end: String) -> Result<Option<SchemaRef>> {
        if let Ok(cache) = self.schema_cache.lock()
            && let Some((end, schema)) = cache.as_ref()
            && *end == plan_end
        {
            return Ok(schema.clone());
        }
        let schema = self.table_schema().await?;
        if let Ok(mut cache) = self.schema_cache.lock() {
            *cache = Some((plan_end, schema.clone()));
        }
        Ok(schema)
    }

    /// Refuse tables this reader cannot read incrementally (non-parquet base files, meta
    /// fields off, bootstrap), with an explanation.
    pub fn check_incremental_readable(&self) -> Result<()> {
        planner::Planner::check_readable(&self.config, &self.uri)
    }

    /// Plan the window `(after, until]` (see the crate docs for the domain of the bounds).
    pub async fn plan(&self, after: Option<&str>, until: Option<&str>) -> Result<IncrementalPlan> {
        let timeline = self.timeline().await?;
        self.plan_with_timeline(&timeline, after, until).await
    }

    /// [`HudiTable::plan`] over an already loaded timeline.
    pub async fn plan_with_timeline(
        &self,
        timeline: &Timeline,
        after: Option<&str>,
        until: Option<&str>,
    ) -> Result<IncrementalPlan> {
        let plan = planner::Planner {
            store: &self.store,
            config: &self.config,
            table: &self.uri,
            timeline,
        }
        .plan(after, until)
        .await?;
        Ok(plan)
    }

    /// The table as of `until` (default: its latest completed instant) as a snapshot plan: the
    /// latest committed slice of every live file group, read in full. Needs neither archived
    /// instants nor cleaned files (see [`snapshot`]).
    pub async fn plan_snapshot(&self, until: Option<&str>) -> Result<IncrementalPlan> {
        let timeline = self.timeline().await?;
        self.plan_snapshot_with_timeline(&timeline, until).await
    }

    /// [`HudiTable::plan_snapshot`] over an already loaded timeline.
    pub async fn plan_snapshot_with_timeline(
        &self,
        timeline: &Timeline,
        until: Option<&str>,
    ) -> Result<IncrementalPlan> {
        planner::Planner {
            store: &self.store,
            config: &self.config,
            table: &self.uri,
            timeline,
        }
        .plan_snapshot(until)
        .await
    }

    /// Stream the change rows of slice `slice_index` of `plan`.
    pub fn read_slice(
        &self,
        plan: &IncrementalPlan,
        slice_index: usize,
        options: &ReadOptions,
    ) -> Result<BatchStream> {
        let slice = plan
            .slices
            .get(slice_index)
            .ok_or_else(|| HudiError::SliceOutOfRange {
                table: self.uri.clone(),
                index: slice_index,
                len: plan.slices.len(),
            })?;
        let times = Arc::new(plan.row_filter());
        let (me, slice, visibility, options) = (
            self.clone(),
            slice.clone(),
            plan.log_visibility.clone(),
            options.clone(),
        );
        let end = plan_key(plan);
        Ok(futures::stream::once(async move {
            let schema = me.schema_for(end).await?;
            let mor = me.mor_context(visibility, schema.clone());
            Ok::<_, HudiError>(me.slice_stream(slice, times, mor, options, schema))
        })
        .try_flatten()
        .boxed())
    }

    /// What merging MOR log files needs (`None` on COW tables).
    fn mor_context(
        &self,
        visibility: LogVisibility,
        table_schema: Option<SchemaRef>,
    ) -> Option<Arc<mor::MorContext>> {
        self.config.is_mor().then(|| {
            Arc::new(mor::MorContext {
                config: self.config.clone(),
                visibility,
                table_schema,
            })
        })
    }

    fn slice_stream(
        &self,
        slice: FileSlice,
        times: Arc<CommitTimes>,
        mor: Option<Arc<mor::MorContext>>,
        options: ReadOptions,
        table_schema: Option<SchemaRef>,
    ) -> BatchStream {
        if let Some(plan) = &slice.deletes {
            return deletes::DeleteRead {
                store: self.store.clone(),
                table: self.uri.clone(),
                config: self.config.clone(),
                plan: plan.clone(),
                options,
                table_schema,
            }
            .stream();
        }
        let table = self.uri.clone();
        let dms = deletes::dms_deletes(&self.config);
        reader::SliceRead {
            store: self.store.clone(),
            table: self.uri.clone(),
            slice,
            commit_times: times,
            options,
            mor,
            table_schema,
        }
        .stream()
        .map(move |r| {
            r.and_then(|b| {
                deletes::mark_soft_deletes(b, dms).map_err(|e| HudiError::ReadFailed {
                    table: table.clone(),
                    file: String::new(),
                    reason: format!("marking soft deletes: {e}"),
                    transient: false,
                })
            })
        })
        .boxed()
    }

    /// Stream the change rows of every slice of `plan`, in plan order.
    pub fn read_changes(&self, plan: &IncrementalPlan, options: &ReadOptions) -> BatchStream {
        let times = Arc::new(plan.row_filter());
        let visibility = plan.log_visibility.clone();
        let me = self.clone();
        let options = options.clone();
        let slices = plan.slices.clone();
        let end = plan_key(plan);
        futures::stream::once(async move {
            let schema = me.schema_for(end).await?;
            let mor = me.mor_context(visibility, schema.clone());
            Ok::<_, HudiError>(futures::stream::iter(slices).flat_map(move |slice| {
                me.slice_stream(
                    slice,
                    times.clone(),
                    mor.clone(),
                    options.clone(),
                    schema.clone(),
                )
            }))
        })
        .try_flatten()
        .boxed()
    }

    /// Plan `(after, until]` and stream all its change rows.
    pub async fn changes_since(
        &self,
        after: Option<&str>,
        until: Option<&str>,
        options: &ReadOptions,
    ) -> Result<Changes> {
        let plan = self.plan(after, until).await?;
        let batches = self.read_changes(&plan, options);
        Ok(Changes { plan, batches })
    }
}

/// The key a plan's table schema is cached under: its end position.
fn plan_key(plan: &IncrementalPlan) -> String {
    format!("{}|{:?}", plan.table, plan.end)
}

/// The one-call helper: "give me what changed since my bookmark" (up to the latest instant).
///
/// `after` is the bookmark's window key ([`InstantPosition::window_key`]) or `None` for
/// everything. Consume `batches` fully, then persist `plan.end` (if `Some`).
pub async fn changes_since(
    store: DynStore,
    after: Option<&str>,
    options: &ReadOptions,
) -> Result<Changes> {
    HudiTable::open(store)
        .await?
        .changes_since(after, None, options)
        .await
}

#[cfg(test)]
mod send_tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Callers run these futures on multi-threaded runtimes and inside `Send` async traits.
    #[allow(dead_code)]
    fn futures_are_send(t: &HudiTable, p: &IncrementalPlan, tl: &Timeline) {
        assert_send(&t.plan(None, None));
        assert_send(&t.plan_with_timeline(tl, None, None));
        assert_send(&t.timeline());
        assert_send(&t.archived_timeline(None));
        assert_send(&t.changes_since(None, None, &ReadOptions::default()));
        assert_send(&t.read_changes(p, &ReadOptions::default()));
        assert_send(&HudiTable::open(t.store().clone()));
        let feed = ChangeFeed::new(t.clone());
        assert_send(&feed.since(None));
    }
}

#[cfg(test)]
mod hostile_input_tests {
    use super::*;

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// Random and mutated inputs never panic any parser (errors are fine).
    #[test]
    fn parsers_never_panic() {
        let seeds: [&[u8]; 5] = [
            b"hoodie.table.version=9\nhoodie.table.create.schema={\"a\"\\:1}\nk=\\u0041\\\n x",
            b"20260307162434124_20260307162438653.commit",
            b"c7bbe63e-fa43-40ba-94a9-03158165edc6-0_0-52-126_20260307162440672.parquet",
            b".b2f1-0_20250126040826878.log.3_0-64-70.cdc",
            br#"{"partitionToWriteStats":{"p":[{"fileId":"f","path":"p/f_1-2-3_20250101000000000.parquet","prevCommit":"null","numWrites":1,"logFiles":null}]},"operationType":"UPSERT","partitionToReplaceFileIds":{"p":["g"]}}"#,
        ];
        let mut rng = 0x1234_5678_9abc_def1u64;
        for _ in 0..4000 {
            let seed = seeds[(xorshift(&mut rng) % seeds.len() as u64) as usize];
            let mut b = seed.to_vec();
            for _ in 0..(xorshift(&mut rng) % 4 + 1) {
                match xorshift(&mut rng) % 4 {
                    0 if !b.is_empty() => {
                        let i = (xorshift(&mut rng) % b.len() as u64) as usize;
                        b[i] = xorshift(&mut rng) as u8;
                    }
                    1 if !b.is_empty() => {
                        let n = (xorshift(&mut rng) % b.len() as u64) as usize;
                        b.truncate(n);
                    }
                    2 => {
                        let i = (xorshift(&mut rng) % (b.len() as u64 + 1)) as usize;
                        b.insert(
                            i,
                            [b'\\', b'_', b'.', b'u', b'{', b'"', 0xff]
                                [(xorshift(&mut rng) % 7) as usize],
                        );
                    }
                    _ => b.extend_from_slice(&b.clone()),
                }
            }
            let s = String::from_utf8_lossy(&b);
            let _ = properties::parse_properties(&s);
            let _ = TableConfig::parse("t", &b);
            let _ = parse_instant_file_name(&s);
            let _ = files::BaseFileName::parse(&s);
            let _ = files::LogFileName::parse(&s);
            let _ = CommitMetadata::decode(&b);
            let _ = metadata::RollbackMetadata::decode(&b);
            let _ = metadata::RestoreMetadata::decode(&b);
            let _ = metadata::RequestedReplaceMetadata::decode(&b);
        }
    }
}
