//! Deletes a latest-state read cannot see (docs/hudi-format.md §6.3–6.4), derived exactly.
//!
//! A window `(after, until]` deletes the keys present in the table at `after` and absent at
//! `until`. A latest-state read reports neither hard deletes of copy-on-write tables nor the
//! rows of overwritten file groups, so this module derives them from the file groups' versions:
//!
//! - **Copy-on-write rewrites.** A COW write that removes keys from a file group writes a new
//!   version of the group's base file without them. Every file group rewritten in the window by
//!   a write that may have removed keys (its write stat's `numDeletes` is not `0`; writers that
//!   omit it are followed too) is *followed*: the keys of its base file as of the window start
//!   (named by the first in-window write stat's `prevBaseFile`, v8/v9, or `prevCommit`, v6) are
//!   walked through the group's versions written in the window; a key missing from a version
//!   was removed by the instant that wrote it.
//! - **Overwritten groups.** A replacecommit with operation `INSERT_OVERWRITE`,
//!   `INSERT_OVERWRITE_TABLE` or `DELETE_PARTITION` removes every key of the groups it replaces
//!   (their state as of the window start, or after their last in-window version) unless the
//!   replacecommit writes the key again; such keys are versioned with the replacecommit.
//! - **Clustering** (`CLUSTER`) moves rows into new groups and removes nothing. A clustering
//!   output that loses keys later in the window is followed from its first version.
//! - **Moves.** A key removed from one group but present at the window end in another (a
//!   global index moving it to another partition, a re-insert by an overwrite, a clustering
//!   output) is an update, not a delete: candidates are struck by reading the record keys of the
//!   end slices that received rows in the window (and of every touched group in a partition
//!   where keys were removed). Identity is the record key (the default staging key), so a key
//!   moving between partitions is an update.
//! - **Soft deletes.** Rows carrying `_hoodie_is_deleted = true` are delete change rows
//!   ([`mark_soft_deletes`]).
//!
//! **Versions.** A delete carries the instant after which the key was gone from the table: the
//! last in-window version of its group that lacked it. A key that moved to another group in the
//! window and was removed there is versioned with that later removal (keys arriving in a group
//! in the window are tracked as *late* keys: their removal only re-dates the delete of a key
//! that existed at the window start; late keys that did not exist then produce nothing). When a
//! removing version was cleaned, its removals are found in — and dated by — the next retained
//! version of the group (a later instant of the same window, still newer than every version a
//! consumer holds); when no retained version follows it, the plan fails instead.
//!
//! **Where the deletes go.** They are one extra file slice at the end of the plan
//! ([`FileSlice::deletes`](crate::FileSlice::deletes), file id [`DELETES_SLICE_ID`]), read after
//! the upserts, so a consumer that checkpoints per slice resumes correctly. A deleted key is
//! never upserted in the same window (present keys are struck). Delete rows follow the
//! change-row contract (`_op = "delete"`, `_hoodie_commit_time` = the removing instant, record
//! key, partition path the key had at the window start, key columns parsed from the key, other
//! columns null; COW rewrites carry no ordering value) in the schema of the window's newest
//! base file.
//!
//! **History.** The files as of the window start must still be on storage: when the cleaner
//! removed one the plan fails with [`HudiError::HistoryNotRetained`] (resync), never a silent
//! miss. From the beginning of the timeline nothing is deleted and nothing old is read.
//!
//! **Cost and memory.** Windows without removals read nothing extra. Only the record-key column
//! (`_hoodie_record_key`, plus `_hoodie_commit_time` of clustering outputs) of the followed
//! files is read, one row group at a time. A group rewritten once in the window and alive at
//! its end is diffed by an ordered walk of its old and new key columns (no hashing, two batches
//! of keys held; see `ordered_removals`); other groups hold their keys in a hash map. Memory:
//! the keys of one followed file group at a time on the hashing path (one small entry per key)
//! plus the candidate deletes; at [`MAX_CANDIDATES`] candidates
//! they are checked and emitted in a chunk (each chunk re-reads the receivers' key columns).
//! Re-dating entries and keys of clustered groups awaiting their outputs' walk are kept until
//! the end (both are bounded by the keys of groups rewritten twice in the window).
//!
//! Merge-on-read tables record their deletes in DELETE log blocks (`mor`); here they only
//! contribute overwritten groups, whose keys come from the base file as of the window start
//! and the valid log blocks of the group.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, LargeStringArray, RecordBatch, StringArray, StringViewArray,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use hps_storage::{DynStore, ParquetObjectReader, StorageError};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::ParquetRecordBatchStream;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;
use tracing::{Instrument, debug, info_span};

use crate::change_rows::{DEFAULT_BATCH_SIZE, ReadOptions, change_schema, projected_indices};
use crate::columns::{
    COMMIT_TIME_COLUMN, DMS_OP_COLUMN, DMS_OP_DELETE, IS_DELETED_COLUMN, OP_COLUMN, OP_DELETE,
    RECORD_KEY_COLUMN,
};
use crate::config::TableConfig;
use crate::error::{HudiError, Result};
use crate::instant::compare_instant_times;
use crate::log::{
    BlockType, DataBlockOptions, DataBlockReader, DeleteChange, DeleteRowSpec, LogBlock, LogError,
    LogFileRef, LogReaderOptions, delete_change_batch, read_delete_block, scan_slice,
};
use crate::mor::delete_row_spec;
use crate::plan::BaseFile;

mod planning;

pub use crate::plan::deletes::{
    DeletePlan, DeleteStep, DeleteUnit, GroupEnd, KeySource, KeyVisibility, StartKind,
};
pub(crate) use planning::{DeleteInputs, plan_deletes, replaced_partitions};

/// The file id of the plan's derived-deletes slice.
pub const DELETES_SLICE_ID: &str = "(deletes)";
/// How many candidate deletes are held before they are checked and emitted.
pub const MAX_CANDIDATES: usize = 1 << 20;

/// Hash maps keyed by record keys: millions of short keys per followed group, so a fast
/// (randomly seeded per process) hasher instead of SipHash.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

fn history_gone(table: &str, file: String, instant: &str, why: &str) -> HudiError {
    HudiError::HistoryNotRetained {
        table: table.to_string(),
        file,
        instant: instant.to_string(),
        hint: format!(
            "{why}; it was removed by the cleaner, so the keys this window deleted cannot be \
             derived: resync the table (full snapshot), then continue incrementally; to avoid \
             this, sync more often than hoodie.cleaner.commits.retained commits"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// reading

/// Reads the deletes slice.
pub(crate) struct DeleteRead {
    pub store: DynStore,
    pub table: String,
    pub config: Arc<TableConfig>,
    pub plan: Arc<DeletePlan>,
    pub options: ReadOptions,
    /// The table schema: delete rows carry the same column types as the upserts.
    pub table_schema: Option<SchemaRef>,
}

/// What a key source reports.
#[derive(Debug, Clone, Copy)]
enum KeyEvent<'a> {
    /// A row of the key, written by this instant (when known).
    Row(Option<&'a str>),
    /// A DELETE log block entry written by this instant.
    Deleted(&'a str),
}

/// A key's state while its group is followed.
#[derive(Debug, Clone, Copy)]
struct KeyState {
    /// Last version (0 = start) that held the key.
    seen: u32,
    /// Instant (id) that removed it, while it is gone.
    removed_at: Option<u32>,
    /// Arrived in the window: its removal only re-dates a delete of a key that existed at the
    /// window start.
    late: bool,
}

/// A candidate delete: the unit it came from (partition) and the instant (id).
#[derive(Debug, Clone, Copy)]
struct Candidate {
    unit: u32,
    instant: u32,
}

struct Walk {
    read: DeleteRead,
    spec: DeleteRowSpec,
    schema: Option<SchemaRef>,
    batch_size: usize,
    next_unit: usize,
    /// keys that existed at the window start and are gone at its end (so far)
    candidates: HashMap<Box<str>, Candidate>,
    /// keys that existed at the window start and were clustered into a followed group
    waiting: HashMap<Box<str>, u32>,
    /// later removals of keys that arrived in a group in the window
    redate: HashMap<Box<str>, u32>,
    instants: Vec<String>,
    instant_ids: HashMap<String, u32>,
    out: VecDeque<RecordBatch>,
    done: bool,
    stats: WalkStats,
}

#[derive(Debug, Default)]
struct WalkStats {
    keys_read: u64,
    files_read: u64,
    struck: u64,
    deletes: u64,
}

impl DeleteRead {
    /// The delete change rows of the plan.
    pub fn stream(self) -> BoxStream<'static, Result<RecordBatch>> {
        let span = info_span!("read_deletes", table = %self.table, units = self.plan.units.len());
        let batch_size = if self.options.batch_size == 0 {
            DEFAULT_BATCH_SIZE
        } else {
            self.options.batch_size
        };
        let walk = Walk {
            spec: delete_row_spec(&self.config),
            read: self,
            schema: None,
            batch_size,
            next_unit: 0,
            candidates: HashMap::default(),
            waiting: HashMap::default(),
            redate: HashMap::default(),
            instants: Vec::new(),
            instant_ids: HashMap::default(),
            out: VecDeque::new(),
            done: false,
            stats: WalkStats::default(),
        };
        futures::stream::try_unfold(walk, move |mut w| {
            async move {
                loop {
                    if let Some(b) = w.out.pop_front() {
                        return Ok(Some((b, w)));
                    }
                    if w.done {
                        return Ok(None);
                    }
                    w.advance().await?;
                }
            }
            .instrument(span.clone())
        })
        .boxed()
    }
}

impl Walk {
    fn intern(&mut self, instant: &str) -> u32 {
        if let Some(i) = self.instant_ids.get(instant) {
            return *i;
        }
        let id = self.instants.len() as u32;
        self.instants.push(instant.to_string());
        self.instant_ids.insert(instant.to_string(), id);
        id
    }

    fn later(&self, a: u32, b: u32) -> bool {
        compare_instant_times(&self.instants[a as usize], &self.instants[b as usize]).is_gt()
    }

    /// Follow the next unit, or flush the last candidates.
    async fn advance(&mut self) -> Result<()> {
        let plan = self.read.plan.clone();
        if self.next_unit >= plan.units.len() {
            self.flush().await?;
            self.done = true;
            debug!(
                table = %self.read.table,
                files = self.stats.files_read,
                keys = self.stats.keys_read,
                struck = self.stats.struck,
                deletes = self.stats.deletes,
                "deletes derived"
            );
            return Ok(());
        }
        let idx = self.next_unit;
        self.next_unit += 1;
        self.follow(idx, &plan.units[idx]).await?;
        if self.candidates.len() >= MAX_CANDIDATES {
            self.flush().await?;
        }
        Ok(())
    }

    /// Walk one group's versions; record its candidates, waiting keys and re-datings.
    async fn follow(&mut self, unit_idx: usize, unit: &DeleteUnit) -> Result<()> {
        if self.ordered_walk(unit_idx, unit).await? {
            return Ok(());
        }
        let mut keys = self.start_keys(unit).await?;
        self.walk_versions(unit, &mut keys).await?;
        self.classify(unit_idx as u32, unit, keys);
        Ok(())
    }

    /// The common case, a group rewritten once and alive at the window end: both key columns
    /// walked in step. `false` when it does not apply or the rewrite did not keep the order.
    async fn ordered_walk(&mut self, unit_idx: usize, unit: &DeleteUnit) -> Result<bool> {
        let plan = self.read.plan.clone();
        let Some((start, step, file)) = ordered_walk_target(unit, &plan.receivers) else {
            return Ok(false);
        };
        match ordered_removals(&self.read.store, &self.read.table, start, file).await? {
            Walked::Removed { keys, keys_read } => {
                self.stats.keys_read += keys_read;
                self.stats.files_read += 2;
                let instant_id = self.intern(&step.instant);
                for k in keys {
                    self.add_candidate(k, unit_idx as u32, instant_id);
                }
                Ok(true)
            }
            Walked::Unordered { keys_read } => {
                self.stats.keys_read += keys_read;
                debug!(
                    file = %file.path,
                    "the rewrite does not keep its base file's key order: hashing its keys"
                );
                Ok(false)
            }
        }
    }

    /// The keys of the group's first files, each marked late when it arrived in the window.
    async fn start_keys(&mut self, unit: &DeleteUnit) -> Result<HashMap<Box<str>, KeyState>> {
        let plan = self.read.plan.clone();
        let mut keys: HashMap<Box<str>, KeyState> = HashMap::default();
        let kind = unit.start_kind;
        let admitted = &plan.admitted;
        let with_times = kind == StartKind::ClusteringOutput;
        let n = read_source_keys(
            &self.read.store,
            &self.read.table,
            &unit.start,
            &plan.visibility,
            with_times,
            &mut |k: &str, ev: KeyEvent<'_>| match ev {
                KeyEvent::Row(written) => {
                    let late = match kind {
                        StartKind::OverwriteOutput => true,
                        // rows and log blocks written in the window arrived in it
                        _ => written.is_some_and(|t| admitted.contains(t)),
                    };
                    let e = keys.entry(k.into()).or_insert(KeyState {
                        seen: 0,
                        removed_at: None,
                        late,
                    });
                    e.late &= late;
                }
                KeyEvent::Deleted(at) => {
                    // merge-on-read: deleted before the window, not in the slice at its start
                    // (deletes within the window are reported by the slice reader)
                    if !admitted.contains(at) {
                        keys.remove(k);
                    }
                }
            },
        )
        .await?;
        self.stats.keys_read += n;
        self.stats.files_read += 1;
        Ok(keys)
    }

    /// Walk the group's versions written in the window that may remove keys (or that hold
    /// keys a later removal needs), dating each key's last removal.
    async fn walk_versions(
        &mut self,
        unit: &DeleteUnit,
        keys: &mut HashMap<Box<str>, KeyState>,
    ) -> Result<()> {
        let last_removal = unit.steps.iter().rposition(|s| s.may_delete);
        let last_retained = unit.steps.iter().rposition(|s| s.file.is_some());
        let retracted = matches!(unit.end, GroupEnd::Retracted { .. });
        let mut version = 0u32;
        // a removing version that was cleaned: its removals show in the next retained one
        let mut pending = false;
        for (j, step) in unit.steps.iter().enumerate() {
            let Some(file) = &step.file else {
                if step.may_delete {
                    debug!(file = %step.path, "version cleaned; its removals go to the next retained version");
                    pending = true;
                }
                continue;
            };
            let wanted = step.may_delete
                || pending
                || (step.adds_keys && last_removal.is_some_and(|r| j < r))
                || (retracted && Some(j) == last_retained);
            if !wanted {
                continue;
            }
            pending = false;
            version += 1;
            let instant_id = self.intern(&step.instant);
            self.read_version(file, version, instant_id, keys).await?;
        }
        Ok(())
    }

    /// Read one version's keys: keys it lacks were removed by `instant_id` (unless a later
    /// version has them again).
    async fn read_version(
        &mut self,
        file: &BaseFile,
        v: u32,
        instant_id: u32,
        keys: &mut HashMap<Box<str>, KeyState>,
    ) -> Result<()> {
        let n = read_base_keys(
            &self.read.store,
            &self.read.table,
            file,
            None,
            false,
            &mut |k: &str, _| match keys.get_mut(k) {
                Some(s) => s.seen = v,
                None => {
                    keys.insert(
                        k.into(),
                        KeyState {
                            seen: v,
                            removed_at: None,
                            late: true,
                        },
                    );
                }
            },
        )
        .await?;
        self.stats.keys_read += n;
        self.stats.files_read += 1;
        for s in keys.values_mut() {
            if s.seen == v {
                s.removed_at = None;
            } else if s.removed_at.is_none() {
                s.removed_at = Some(instant_id);
            }
        }
        Ok(())
    }

    /// Record the walked keys: removed keys that existed at the window start are candidates,
    /// removed late keys re-date, keys clustered into a followed group wait for its walk.
    fn classify(&mut self, unit_id: u32, unit: &DeleteUnit, keys: HashMap<Box<str>, KeyState>) {
        let (retract, wait) = match &unit.end {
            GroupEnd::Survives => (None, false),
            GroupEnd::Retracted { by } => (Some(self.intern(by)), false),
            GroupEnd::Clustered { followed, .. } => (None, *followed),
        };
        for (k, s) in keys {
            let removal = s.removed_at.or(retract);
            match (s.late, removal) {
                (false, Some(i)) => self.add_candidate(k, unit_id, i),
                (true, Some(i)) => {
                    let later = self.redate.get(&k).is_none_or(|old| self.later(i, *old));
                    if later {
                        self.redate.insert(k, i);
                    }
                }
                (false, None) if wait => {
                    self.waiting.insert(k, unit_id);
                }
                _ => {}
            }
        }
    }

    fn add_candidate(&mut self, k: Box<str>, unit: u32, instant: u32) {
        self.waiting.remove(&k);
        let c = Candidate { unit, instant };
        match self.candidates.get(&k).copied() {
            Some(old) if !self.later(instant, old.instant) => {}
            _ => {
                self.candidates.insert(k, c);
            }
        }
    }

    /// Re-date candidates, strike those present at the window end, emit the rest.
    async fn flush(&mut self) -> Result<()> {
        self.apply_redates();
        if self.candidates.is_empty() {
            return Ok(());
        }
        self.strike_present().await?;
        self.emit().await
    }

    /// Re-dating: a key that moved in the window and was removed after it moved.
    fn apply_redates(&mut self) {
        let redate = std::mem::take(&mut self.redate);
        let mut keep = HashMap::default();
        for (k, i) in redate {
            if let Some(c) = self.candidates.get(&k).copied() {
                if self.later(i, c.instant) {
                    self.candidates.insert(
                        k,
                        Candidate {
                            unit: c.unit,
                            instant: i,
                        },
                    );
                }
            } else if let Some(unit) = self.waiting.remove(&k) {
                self.candidates.insert(k, Candidate { unit, instant: i });
            } else if !self.done_following() {
                // the key's origin may be followed later
                keep.insert(k, i);
            }
        }
        self.redate = keep;
    }

    /// The smallest and largest candidate key.
    fn candidate_range(&self) -> Option<(String, String)> {
        let (mut lo, mut hi): (Option<&str>, Option<&str>) = (None, None);
        for k in self.candidates.keys() {
            if lo.is_none_or(|l| k.as_ref() < l) {
                lo = Some(k);
            }
            if hi.is_none_or(|h| k.as_ref() > h) {
                hi = Some(k);
            }
        }
        lo.zip(hi).map(|(l, h)| (l.to_string(), h.to_string()))
    }

    /// Strike the candidates some receiving end slice still holds (moves, re-inserts).
    async fn strike_present(&mut self) -> Result<()> {
        let plan = self.read.plan.clone();
        let store = self.read.store.clone();
        let table = self.read.table.clone();
        let range = self.candidate_range();
        for r in &plan.receivers {
            if self.candidates.is_empty() {
                break;
            }
            let before = self.candidates.len();
            let cands = &mut self.candidates;
            let mut strike = |k: &str, ev: KeyEvent<'_>| {
                if matches!(ev, KeyEvent::Row(_)) {
                    cands.remove(k);
                }
            };
            let n = match (&r.base_file, r.log_files.is_empty()) {
                (Some(b), true) => {
                    read_base_keys(
                        &store,
                        &table,
                        b,
                        range.as_ref().map(|(l, h)| (l.as_str(), h.as_str())),
                        false,
                        &mut strike,
                    )
                    .await?
                }
                _ => {
                    read_source_keys(&store, &table, r, &plan.visibility, false, &mut strike)
                        .await?
                }
            };
            self.stats.keys_read += n;
            self.stats.files_read += 1;
            self.stats.struck += (before - self.candidates.len()) as u64;
        }
        Ok(())
    }

    /// The remaining candidates as delete rows, by instant and key.
    async fn emit(&mut self) -> Result<()> {
        let mut rows: Vec<(u32, Box<str>, u32)> = self
            .candidates
            .drain()
            .map(|(k, c)| (c.instant, k, c.unit))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let instants = &self.instants;
        rows.sort_by(|a, b| {
            compare_instant_times(&instants[a.0 as usize], &instants[b.0 as usize])
                .then_with(|| a.1.cmp(&b.1))
        });
        let schema = self.schema().await?;
        let plan = self.read.plan.clone();
        for chunk in rows.chunks(self.batch_size) {
            let deletes: Vec<DeleteChange> = chunk
                .iter()
                .map(|(i, k, u)| DeleteChange {
                    record_key: k.to_string(),
                    partition_path: plan.units[*u as usize].partition_path.clone(),
                    instant: self.instants[*i as usize].clone(),
                    ordering_value: None,
                })
                .collect();
            let batch = delete_change_batch(&schema, &deletes, &self.spec).map_err(|e| {
                HudiError::ReadFailed {
                    table: self.read.table.clone(),
                    file: plan.schema_file.path.clone(),
                    reason: format!("building delete rows: {e}"),
                    transient: false,
                }
            })?;
            self.stats.deletes += batch.num_rows() as u64;
            self.out.push_back(batch);
        }
        Ok(())
    }

    fn done_following(&self) -> bool {
        self.next_unit >= self.read.plan.units.len()
    }

    /// The change schema of the delete rows (the schema file's, projected, with the table
    /// schema's column types).
    async fn schema(&mut self) -> Result<SchemaRef> {
        if let Some(s) = &self.schema {
            return Ok(s.clone());
        }
        let f = &self.read.plan.schema_file;
        let (_, arm) = load_footer(&self.read.store, &self.read.table, f).await?;
        let file_schema = arm.schema().clone();
        let projected: Schema = match &self.read.options.columns {
            None => file_schema.as_ref().clone(),
            Some(cols) => Schema::new(
                projected_indices(
                    &self.read.table,
                    &file_schema,
                    self.read.table_schema.as_deref(),
                    cols,
                    &f.path,
                )?
                .into_iter()
                .map(|i| file_schema.field(i).clone())
                .collect::<Vec<_>>(),
            ),
        };
        let projected = match &self.read.table_schema {
            Some(t) => crate::convert::with_table_types(&projected, t),
            None => projected,
        };
        let s = change_schema(&projected);
        self.schema = Some(s.clone());
        Ok(s)
    }
}

async fn load_footer(
    store: &DynStore,
    table: &str,
    file: &BaseFile,
) -> Result<(Arc<ParquetMetaData>, ArrowReaderMetadata)> {
    let mut reader = ParquetObjectReader::new(store.clone(), file.path.clone(), file.size);
    let md = reader
        .load_metadata()
        .await
        .map_err(|e| parquet_error(table, file, e))?;
    let arm = ArrowReaderMetadata::try_new(
        md.clone(),
        ArrowReaderOptions::new().with_skip_arrow_metadata(true),
    )
    .map_err(|e| parquet_error(table, file, e))?;
    Ok((md, arm))
}

/// The start file, the version and its file of a unit whose removals an ordered walk finds:
/// a copy-on-write group as of the window start, rewritten once in the window by a write that
/// may have removed keys, alive at the window end with that rewrite as its end slice (a
/// receiver, so whatever the walk over-reports is struck by the flush).
fn ordered_walk_target<'a>(
    unit: &'a DeleteUnit,
    receivers: &[KeySource],
) -> Option<(&'a BaseFile, &'a DeleteStep, &'a BaseFile)> {
    if unit.start_kind != StartKind::WindowStart
        || unit.end != GroupEnd::Survives
        || !unit.start.log_files.is_empty()
    {
        return None;
    }
    let start = unit.start.base_file.as_ref()?;
    let [step] = unit.steps.as_slice() else {
        return None;
    };
    let file = step.file.as_ref()?;
    let is_end_slice = receivers.iter().any(|r| {
        r.log_files.is_empty() && r.base_file.as_ref().is_some_and(|b| b.path == file.path)
    });
    (step.may_delete && is_end_slice).then_some((start, step, file))
}

/// What an ordered walk found.
enum Walked {
    /// Every key of the old file that the new one does not hold at the same place in order: a
    /// superset of the removed keys (exactly them unless the old file repeats a key).
    Removed { keys: Vec<Box<str>>, keys_read: u64 },
    /// Too many mismatches: the new file does not keep the old file's order.
    Unordered { keys_read: u64 },
}

/// Mismatches an ordered walk tolerates before it gives up: a rewrite keeping the old order
/// mismatches only at removed keys.
fn walk_limit(old_rows: u64) -> usize {
    4096 + (old_rows / 8) as usize
}

/// The keys of `old` missing from `new`, found by walking both key columns in step, when `new`
/// keeps the keys of `old` it still holds in `old`'s order: Hudi's merge handle rewrites a base
/// file by streaming the old file in order and appending the new inserts; its sorted merge
/// handle (and a sorted bulk insert followed by sorted rewrites) interleaves inserts in key
/// order. Each old key either matches the new file's next key (kept; both advance), or — while
/// both files are sorted so far and the new key is the smaller — the new key is an insert (the
/// new side advances), or the old key is reported. Only two batches of keys are held; no key is
/// hashed. An old key is reported only when the new file does not hold it at the walk's
/// position, so the report is a superset of the removed keys whatever the files' order (the
/// caller strikes keys the new file holds elsewhere); stops with [`Walked::Unordered`] after
/// [`walk_limit`] reports, when the order is not kept: the caller hashes instead.
async fn ordered_removals(
    store: &DynStore,
    table: &str,
    old: &BaseFile,
    new: &BaseFile,
) -> Result<Walked> {
    let mut o = KeyCursor::open(store, table, old).await?;
    let mut n = KeyCursor::open(store, table, new).await?;
    let limit = walk_limit(o.rows);
    let mut removed: Vec<Box<str>> = Vec::new();
    loop {
        if o.current().is_none() && !o.refill().await? {
            break;
        }
        if n.current().is_none() && !n.done {
            n.refill().await?;
        }
        // both cursors hold a batch (or `n` is exhausted): walk until one runs out
        while let Some(ok) = o.current() {
            match n.current() {
                Some(nk) if nk == ok => n.advance(),
                Some(nk) if nk < ok && o.sorted && n.sorted => {
                    // an insert of a sorted rewrite: the old key may come next
                    n.advance();
                    continue;
                }
                Some(_) => removed.push(ok.into()),
                None if n.done => removed.push(ok.into()),
                None => break,
            }
            if removed.len() > limit {
                return Ok(Walked::Unordered {
                    keys_read: o.read + n.read,
                });
            }
            o.advance();
        }
    }
    Ok(Walked::Removed {
        keys: removed,
        keys_read: o.read + n.read,
    })
}

/// A base file's record keys in file order, one batch at a time (nulls skipped).
struct KeyCursor {
    stream: ParquetRecordBatchStream<ParquetObjectReader>,
    keys: StringArray,
    pos: usize,
    /// the last key passed (for `sorted`)
    last: Option<Box<str>>,
    /// every key so far was greater than the one before
    sorted: bool,
    /// rows of the file (footer)
    rows: u64,
    /// keys taken so far
    read: u64,
    /// no batch left
    done: bool,
    table: String,
    file: BaseFile,
}

impl KeyCursor {
    async fn open(store: &DynStore, table: &str, file: &BaseFile) -> Result<KeyCursor> {
        let (stream, rows) = open_key_stream(store, table, file, None, false).await?;
        Ok(KeyCursor {
            stream,
            keys: StringArray::from(Vec::<&str>::new()),
            pos: 0,
            last: None,
            sorted: true,
            rows,
            read: 0,
            done: false,
            table: table.to_string(),
            file: file.clone(),
        })
    }

    fn current(&self) -> Option<&str> {
        (self.pos < self.keys.len()).then(|| self.keys.value(self.pos))
    }

    fn advance(&mut self) {
        let passed = self.pos;
        self.pos += 1;
        self.skip_nulls();
        if self.sorted {
            match self.current() {
                Some(next) => self.sorted = self.keys.value(passed) < next,
                // the next key is in the next batch: compare it there
                None => self.last = Some(self.keys.value(passed).into()),
            }
        }
    }

    fn skip_nulls(&mut self) {
        while self.pos < self.keys.len() && self.keys.is_null(self.pos) {
            self.pos += 1;
        }
    }

    /// Load the next batch holding a key; `false` at the end of the file.
    async fn refill(&mut self) -> Result<bool> {
        while self.pos >= self.keys.len() {
            let Some(batch) = self
                .stream
                .try_next()
                .await
                .map_err(|e| parquet_error(&self.table, &self.file, e))?
            else {
                self.done = true;
                return Ok(false);
            };
            let bad = |reason: String| HudiError::ReadFailed {
                table: self.table.clone(),
                file: self.file.path.clone(),
                reason,
                transient: false,
            };
            let col = batch
                .column_by_name(RECORD_KEY_COLUMN)
                .ok_or_else(|| bad("key column missing from the batch".into()))?;
            let keys = match col.as_any().downcast_ref::<StringArray>() {
                Some(a) => a.clone(),
                None => {
                    strings(col).map_err(bad)?;
                    let cast = arrow_cast::cast(col, &DataType::Utf8)
                        .map_err(|e| bad(format!("record keys as strings: {e}")))?;
                    cast.as_any()
                        .downcast_ref::<StringArray>()
                        .cloned()
                        .ok_or_else(|| bad("record keys as strings".into()))?
                }
            };
            self.read += (keys.len() - keys.null_count()) as u64;
            self.keys = keys;
            self.pos = 0;
            self.skip_nulls();
        }
        if let Some(last) = self.last.take()
            && let Some(next) = self.current()
        {
            self.sorted &= last.as_ref() < next;
        }
        Ok(true)
    }
}

/// The record-key column (and the commit-time column when `with_times`) of a base file as a
/// batch stream, skipping row groups whose key statistics exclude `range`; with the file's row
/// count. `None` when every row group is excluded.
async fn open_key_stream(
    store: &DynStore,
    table: &str,
    file: &BaseFile,
    range: Option<(&str, &str)>,
    with_times: bool,
) -> Result<(ParquetRecordBatchStream<ParquetObjectReader>, u64)> {
    let (md, arm) = load_footer(store, table, file).await?;
    let descr = md.file_metadata().schema_descr_ptr();
    let leaf_of =
        |name: &str| (0..descr.num_columns()).find(|i| descr.column(*i).path().string() == name);
    let missing = |name: &str| HudiError::IncrementalUnsupported {
        table: table.to_string(),
        reason: format!(
            "{} has no {name} column (written without meta fields?): deleted keys cannot be derived",
            file.path
        ),
    };
    let key_leaf = leaf_of(RECORD_KEY_COLUMN).ok_or_else(|| missing(RECORD_KEY_COLUMN))?;
    let time_leaf = if with_times {
        Some(leaf_of(COMMIT_TIME_COLUMN).ok_or_else(|| missing(COMMIT_TIME_COLUMN))?)
    } else {
        None
    };
    let row_groups: Vec<usize> = (0..md.num_row_groups())
        .filter(|rg| {
            let Some((lo, hi)) = range else { return true };
            match md
                .row_group(*rg)
                .column(key_leaf)
                .statistics()
                .map(|s| (s.min_bytes_opt(), s.max_bytes_opt()))
            {
                Some((Some(min), Some(max))) => lo.as_bytes() <= max && hi.as_bytes() >= min,
                _ => true,
            }
        })
        .collect();
    let rows = u64::try_from(md.file_metadata().num_rows()).unwrap_or(0);
    let leaves: Vec<usize> = std::iter::once(key_leaf).chain(time_leaf).collect();
    let reader = ParquetObjectReader::new(store.clone(), file.path.clone(), file.size)
        .with_metadata(md.clone());
    let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, arm)
        .with_row_groups(row_groups)
        .with_projection(ProjectionMask::leaves(&descr, leaves))
        .with_batch_size(DEFAULT_BATCH_SIZE)
        .build()
        .map_err(|e| parquet_error(table, file, e))?;
    Ok((stream, rows))
}

type KeySink<'a> = dyn FnMut(&str, KeyEvent<'_>) + Send + 'a;

/// Report every record key of a base file (only the key column, and the commit-time column
/// when `with_times`, are read; row groups whose key statistics exclude `range` are skipped).
/// Returns the number of keys read.
async fn read_base_keys(
    store: &DynStore,
    table: &str,
    file: &BaseFile,
    range: Option<(&str, &str)>,
    with_times: bool,
    f: &mut KeySink<'_>,
) -> Result<u64> {
    let (mut stream, _) = open_key_stream(store, table, file, range, with_times).await?;
    let bad = |reason: String| HudiError::ReadFailed {
        table: table.to_string(),
        file: file.path.clone(),
        reason,
        transient: false,
    };
    let mut n = 0u64;
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|e| parquet_error(table, file, e))?
    {
        let keys = strings(
            batch
                .column_by_name(RECORD_KEY_COLUMN)
                .ok_or_else(|| bad("key column missing from the batch".into()))?,
        )
        .map_err(bad)?;
        let times = match batch.column_by_name(COMMIT_TIME_COLUMN) {
            Some(c) if with_times => Some(strings(c).map_err(bad)?),
            _ => None,
        };
        for i in 0..batch.num_rows() {
            if let Some(k) = keys.get(i) {
                n += 1;
                f(k, KeyEvent::Row(times.as_ref().and_then(|t| t.get(i))));
            }
        }
    }
    Ok(n)
}

/// A string column, whatever its Arrow string type.
enum Strings<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl Strings<'_> {
    fn get(&self, i: usize) -> Option<&str> {
        match self {
            Strings::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Strings::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Strings::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

fn strings(col: &ArrayRef) -> std::result::Result<Strings<'_>, String> {
    if let Some(a) = col.as_any().downcast_ref::<StringArray>() {
        Ok(Strings::Utf8(a))
    } else if let Some(a) = col.as_any().downcast_ref::<LargeStringArray>() {
        Ok(Strings::Large(a))
    } else if let Some(a) = col.as_any().downcast_ref::<StringViewArray>() {
        Ok(Strings::View(a))
    } else {
        Err(format!(
            "a meta column has type {}, expected a string",
            col.data_type()
        ))
    }
}

/// Report every key of a file slice: its base file's rows, then the valid log blocks' rows and
/// delete entries in merge order.
async fn read_source_keys(
    store: &DynStore,
    table: &str,
    source: &KeySource,
    visibility: &KeyVisibility,
    with_times: bool,
    f: &mut KeySink<'_>,
) -> Result<u64> {
    let mut n = 0;
    if let Some(b) = &source.base_file {
        n += read_base_keys(store, table, b, None, with_times, f).await?;
    }
    if source.log_files.is_empty() {
        return Ok(n);
    }
    Ok(n + read_log_keys(store, table, source, visibility, f).await?)
}

/// The keys of a source's valid log blocks: rows of data blocks, deletes of DELETE blocks.
async fn read_log_keys(
    store: &DynStore,
    table: &str,
    source: &KeySource,
    visibility: &KeyVisibility,
    f: &mut KeySink<'_>,
) -> Result<u64> {
    let refs: Vec<LogFileRef> = source
        .log_files
        .iter()
        .map(|l| LogFileRef {
            path: l.path.clone(),
            size: l.size,
        })
        .collect();
    let vis = visibility.clone();
    let visible = move |i: &str| vis.is_visible(i);
    let scan = scan_slice(store, &refs, &visible, &LogReaderOptions::default())
        .await
        .map_err(|e| source_log_error(table, source, e))?;
    let key_only: SchemaRef = Arc::new(Schema::new(vec![Field::new(
        RECORD_KEY_COLUMN,
        DataType::Utf8,
        true,
    )]));
    let mut n = 0;
    for block in &scan.blocks {
        n += read_block_keys(store, table, source, block, &key_only, f).await?;
    }
    Ok(n)
}

/// The keys of one log block.
async fn read_block_keys(
    store: &DynStore,
    table: &str,
    source: &KeySource,
    block: &LogBlock,
    key_only: &SchemaRef,
    f: &mut KeySink<'_>,
) -> Result<u64> {
    let log_err = |e: LogError| source_log_error(table, source, e);
    let opts = DataBlockOptions::default();
    let instant = block.instant_time().unwrap_or_default().to_string();
    if block.block_type == BlockType::Delete {
        for d in read_delete_block(store, block, &opts)
            .await
            .map_err(log_err)?
        {
            f(&d.record_key, KeyEvent::Deleted(&instant));
        }
        return Ok(0);
    }
    let mut r = DataBlockReader::open(store, block, Some(key_only.clone()), &opts)
        .await
        .map_err(log_err)?;
    let mut n = 0;
    while let Some(batch) = r.next_batch().await.map_err(log_err)? {
        let Some(col) = batch.column_by_name(RECORD_KEY_COLUMN) else {
            continue;
        };
        let keys = strings(col).map_err(|reason| HudiError::ReadFailed {
            table: table.to_string(),
            file: block.file.clone(),
            reason,
            transient: false,
        })?;
        for i in 0..batch.num_rows() {
            if let Some(k) = keys.get(i) {
                n += 1;
                f(k, KeyEvent::Row(Some(&instant)));
            }
        }
    }
    Ok(n)
}

/// A log error while reading a key source: a vanished log file is lost history.
fn source_log_error(table: &str, source: &KeySource, e: LogError) -> HudiError {
    if e.is_not_found() {
        let instant = source
            .base_file
            .as_ref()
            .map(|b| b.instant_time.as_str())
            .or_else(|| source.log_files.first().map(|l| l.instant_time.as_str()))
            .unwrap_or_default();
        history_gone(
            table,
            source.describe(),
            instant,
            "a log file needed to derive the window's deletes is gone",
        )
    } else {
        HudiError::ReadFailed {
            table: table.to_string(),
            file: source.describe(),
            reason: e.to_string(),
            transient: e.is_transient(),
        }
    }
}

fn parquet_error(table: &str, file: &BaseFile, e: ParquetError) -> HudiError {
    let (table, path, instant) = (
        table.to_string(),
        file.path.clone(),
        file.instant_time.clone(),
    );
    match e {
        ParquetError::External(inner) => match inner.downcast::<StorageError>() {
            Ok(se) if se.is_not_found() => history_gone(
                &table,
                path,
                &instant,
                "a file needed to derive the window's deletes disappeared before it was read",
            ),
            Ok(se) => HudiError::Storage { table, source: *se },
            Err(other) => HudiError::ReadFailed {
                table,
                file: path,
                reason: other.to_string(),
                transient: false,
            },
        },
        ParquetError::EOF(m) => HudiError::TruncatedFile {
            table,
            file: path,
            instant,
            reason: m,
        },
        ParquetError::NeedMoreData(n) => HudiError::TruncatedFile {
            table,
            file: path,
            instant,
            reason: format!("needs {n} more bytes"),
        },
        other => HudiError::ReadFailed {
            table,
            file: path,
            reason: other.to_string(),
            transient: false,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// soft deletes

/// Whether the table's payload is `AWSDmsAvroPayload` (DMS change data captured into Hudi):
/// a row whose `Op` is `D` is a delete. On copy-on-write such rows are never written; on
/// merge-on-read they sit in log blocks and win the merge like any later write.
pub fn dms_deletes(config: &crate::TableConfig) -> bool {
    config
        .payload_class
        .as_deref()
        .is_some_and(|p| p.rsplit('.').next() == Some("AWSDmsAvroPayload"))
}

/// Turn rows whose `_hoodie_is_deleted` is `true` (and, with `dms`, rows whose `Op` is `D`)
/// into delete change rows (`_op = "delete"`); batches without such rows are returned
/// unchanged.
pub fn mark_soft_deletes(
    batch: RecordBatch,
    dms: bool,
) -> std::result::Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let Ok(op_idx) = schema.index_of(OP_COLUMN) else {
        return Ok(batch);
    };
    let flags = schema
        .index_of(IS_DELETED_COLUMN)
        .ok()
        .and_then(|i| batch.column(i).as_any().downcast_ref::<BooleanArray>());
    let dms_ops = schema
        .index_of(DMS_OP_COLUMN)
        .ok()
        .filter(|_| dms)
        .and_then(|i| batch.column(i).as_any().downcast_ref::<StringArray>());
    let deleted = |i: usize| {
        flags.is_some_and(|f| f.is_valid(i) && f.value(i))
            || dms_ops.is_some_and(|o| o.is_valid(i) && o.value(i) == DMS_OP_DELETE)
    };
    if !(0..batch.num_rows()).any(deleted) {
        return Ok(batch);
    }
    let ops = batch
        .column(op_idx)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| ArrowError::SchemaError(format!("{OP_COLUMN} is not Utf8")))?;
    let new_ops: StringArray = (0..batch.num_rows())
        .map(|i| {
            if deleted(i) {
                Some(OP_DELETE)
            } else {
                ops.is_valid(i).then(|| ops.value(i))
            }
        })
        .collect();
    let mut cols = batch.columns().to_vec();
    cols[op_idx] = Arc::new(new_ops);
    RecordBatch::try_new(schema, cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dms_op_d_rows_become_delete_rows_only_for_the_dms_payload() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("_hoodie_record_key", DataType::Utf8, true),
            Field::new(DMS_OP_COLUMN, DataType::Utf8, true),
            Field::new(OP_COLUMN, DataType::Utf8, false),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["a", "b", "c", "d"])),
                Arc::new(StringArray::from(vec![
                    Some("I"),
                    Some("D"),
                    None,
                    Some("U"),
                ])),
                Arc::new(StringArray::from(vec!["upsert"; 4])),
            ],
        )
        .unwrap();
        let ops = |b: &RecordBatch| -> Vec<Option<String>> {
            let a = b.column(2).as_any().downcast_ref::<StringArray>().unwrap();
            a.iter().map(|v| v.map(str::to_string)).collect()
        };
        let out = mark_soft_deletes(b.clone(), true).unwrap();
        assert_eq!(
            ops(&out),
            vec![
                Some("upsert".into()),
                Some("delete".into()),
                Some("upsert".into()),
                Some("upsert".into())
            ]
        );
        // another payload: `Op` is an ordinary column
        assert_eq!(mark_soft_deletes(b.clone(), false).unwrap(), b);
        let dms = |payload: &str| {
            let props = format!(
                "hoodie.table.name=t\nhoodie.table.type=MERGE_ON_READ\nhoodie.table.version=5\n\
                 hoodie.table.recordkey.fields=id\nhoodie.compaction.payload.class={payload}\n"
            );
            dms_deletes(&crate::TableConfig::parse("t", props.as_bytes()).unwrap())
        };
        assert!(dms("org.apache.hudi.common.model.AWSDmsAvroPayload"));
        assert!(!dms(
            "org.apache.hudi.common.model.OverwriteWithLatestAvroPayload"
        ));
    }

    #[test]
    fn soft_deletes_become_delete_rows() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("_hoodie_record_key", DataType::Utf8, true),
            Field::new(IS_DELETED_COLUMN, DataType::Boolean, true),
            Field::new(OP_COLUMN, DataType::Utf8, false),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["a", "b", "c"])),
                Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
                Arc::new(StringArray::from(vec!["upsert"; 3])),
            ],
        )
        .unwrap();
        let out = mark_soft_deletes(b, false).unwrap();
        let ops = out
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(
            ops.iter().collect::<Vec<_>>(),
            vec![Some("delete"), Some("upsert"), Some("upsert")]
        );
        // no flag column: unchanged
        let plain = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                OP_COLUMN,
                DataType::Utf8,
                false,
            )])),
            vec![Arc::new(StringArray::from(vec!["upsert"]))],
        )
        .unwrap();
        assert_eq!(mark_soft_deletes(plain.clone(), true).unwrap(), plain);
    }

    /// A base file of `keys` (one batch of at most 3 rows each, so walks cross batches).
    fn key_file(dir: &std::path::Path, name: &str, keys: &[&str]) -> BaseFile {
        let schema = Arc::new(Schema::new(vec![Field::new(
            RECORD_KEY_COLUMN,
            DataType::Utf8,
            true,
        )]));
        let path = dir.join(name);
        let f = std::fs::File::create(&path).unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(5))
            .build();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, schema.clone(), Some(props)).unwrap();
        for chunk in keys.chunks(3) {
            let b = RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(StringArray::from(chunk.to_vec()))],
            )
            .unwrap();
            w.write(&b).unwrap();
        }
        w.close().unwrap();
        BaseFile {
            path: name.to_string(),
            size: std::fs::metadata(&path).unwrap().len(),
            instant_time: "20250101000000000".into(),
        }
    }

    async fn walk(old: &[&str], new: &[&str]) -> Option<Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = Arc::new(hps_storage::LocalStore::new(dir.path()));
        let o = key_file(dir.path(), "old.parquet", old);
        let n = key_file(dir.path(), "new.parquet", new);
        match ordered_removals(&store, "t", &o, &n).await.unwrap() {
            Walked::Removed { keys, keys_read } => {
                // the walk stops reading `new` once `old` is exhausted
                assert!(keys_read as usize >= old.len());
                Some(keys.into_iter().map(String::from).collect())
            }
            Walked::Unordered { .. } => None,
        }
    }

    #[tokio::test]
    async fn ordered_walk_finds_removals_of_an_order_keeping_rewrite() {
        // merge handle: old order kept, removals dropped, inserts appended
        let old = ["k5", "k1", "k9", "k3", "k7", "k2", "k8"];
        let new = ["k5", "k9", "k3", "k2", "k8", "k4", "k6", "k0"];
        assert_eq!(walk(&old, &new).await.unwrap(), vec!["k1", "k7"]);
        // sorted rewrite: inserts interleaved in key order
        let old = ["a", "c", "e", "g", "i"];
        let new = ["a", "b", "d", "e", "f", "i", "j"];
        assert_eq!(walk(&old, &new).await.unwrap(), vec!["c", "g"]);
        // nothing left, nothing removed
        assert_eq!(walk(&["a", "b"], &[]).await.unwrap(), vec!["a", "b"]);
        assert!(
            walk(&["a", "b"], &["a", "b", "c"])
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn ordered_walk_over_reports_when_the_order_is_not_kept() {
        // shuffled rewrite: every reported key not removed is still in the new file (the
        // flush strikes it); every removed key is reported
        let old = ["k5", "k1", "k9", "k3", "k7", "k2", "k8"];
        let new = ["k8", "k2", "k9", "k5", "k3"];
        let got = walk(&old, &new).await.unwrap();
        for removed in ["k1", "k7"] {
            assert!(
                got.iter().any(|k| k == removed),
                "{removed} missing from {got:?}"
            );
        }
        assert!(
            got.iter()
                .all(|k| ["k1", "k7"].contains(&k.as_str()) || new.contains(&k.as_str()))
        );
        // a repeated old key is reported, and the new file holds it
        assert_eq!(
            walk(&["a", "a", "b"], &["a", "b"]).await.unwrap(),
            vec!["a"]
        );
    }

    #[tokio::test]
    async fn ordered_walk_gives_up_past_its_limit() {
        let n = 2 * walk_limit(0);
        let old: Vec<String> = (0..n).map(|i| format!("k{i:08}")).collect();
        let mut new = old.clone();
        new.reverse();
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        assert!(walk(&old, &new).await.is_none());
    }

    #[test]
    fn key_visibility() {
        let v = KeyVisibility {
            visible: ["20250101000000002".to_string()].into_iter().collect(),
            oldest_active: Some("20250101000000001".into()),
        };
        assert!(v.is_visible("20250101000000002"));
        assert!(v.is_visible("20241231000000000"));
        assert!(!v.is_visible("20250101000000003"));
    }
}
