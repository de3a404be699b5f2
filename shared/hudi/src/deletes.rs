//! Deletes a latest-state read cannot see (hudi-format.md 9.3, 9.4), derived exactly:
//!
//! - **Copy-on-write rewrites.** A COW write that removes keys from a file group writes a new
//!   version of the group's base file without them. For each file group rewritten in the window
//!   by a write that may have removed keys (its write stat's `numDeletes` is not `0`), the keys
//!   of the group's base file *as of the window start* (named by the first in-window write
//!   stat's `prevCommit` / `prevBaseFile`) are followed through the group's versions written in
//!   the window; a key missing from a version was removed by the instant that wrote it.
//! - **Replaced file groups.** A replacecommit with operation `INSERT_OVERWRITE`,
//!   `INSERT_OVERWRITE_TABLE` or `DELETE_PARTITION` removes every key of the groups it
//!   replaces (their state as of the window start, or as of the group's last in-window
//!   version), unless the replacecommit itself writes the key again. `CLUSTER` moves rows into
//!   new groups and removes nothing: keys alive when a group is clustered are not deletes,
//!   and the clustering's output groups are followed instead (keys removed from them later in
//!   the window are deletes).
//! - **Moves.** A key removed from one group but present at the window end in a group that
//!   received rows in the window (inserts, re-inserts by an overwrite, clustering output, a
//!   key moved by a global index or a partition-path change) is an update, not a delete: such
//!   candidates are struck by reading the record keys of those groups' end slices. Identity is
//!   the record key alone (the default staging key), so a key moving between partitions is an
//!   update.
//! - **Soft deletes.** Rows carrying `_hoodie_is_deleted = true` are delete change rows
//!   ([`mark_soft_deletes`]).
//!
//! The derived deletes are read as one extra file slice at the end of the plan
//! ([`FileSlice::deletes`](crate::FileSlice::deletes), file id [`DELETES_SLICE_ID`]), so a
//! consumer that checkpoints per slice resumes correctly, and they follow the window's upserts
//! in the stream (a key deleted and upserted in one window is never both: present keys are
//! struck). Delete rows follow the change-row contract (`_op = "delete"`, commit time = the
//! requested time of the instant that removed the key, record key, partition path, key
//! columns parsed from the key; other columns null); COW rewrites carry no ordering value.
//!
//! **Versions.** A key is versioned with the instant whose rewrite first lacked it (the
//! last such instant when a key is removed, re-added and removed again). When an intermediate
//! version was cleaned, the removal is attributed to the next retained version of the group
//! (a later instant of the same window, which is still newer than every version a consumer
//! holds); keys removed from a clustering output are attributed by walking that output
//! group's versions the same way; keys of an overwritten group are versioned with the
//! replacecommit.
//!
//! **History.** The base file as of the window start must still be on storage: when the
//! cleaner removed it the plan fails with [`HudiError::HistoryNotRetained`] (resync), never a
//! silent miss.
//!
//! **Cost and memory.** Nothing is read for windows without removals (only write stats with
//! `numDeletes` ≠ 0, replaced groups and clustering outputs rewritten later in the window
//! are followed; writers that omit `numDeletes` are followed too). Only the record-key column
//! (`_hoodie_record_key`) of each file is read, one row group at a time. Memory: the keys of
//! one file group at a time (one small entry per key), plus the candidate deletes, at most
//! [`MAX_CANDIDATES`] at a time: beyond that candidates are checked against the receiving
//! groups and emitted in chunks (each chunk re-reads the receivers' key columns). Merge-on-read
//! tables derive deletes from DELETE log blocks instead (see `mor`); here they only
//! contribute overwritten groups, whose keys are read from the base file and the log data
//! blocks of the group.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, LargeStringArray, RecordBatch, StringArray, StringViewArray,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use hps_storage::{DynStore, ParquetObjectReader, StorageError};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;
use tracing::{Instrument, debug, info_span, warn};

use crate::config::{KeyGenerator, TableConfig};
use crate::error::{HudiError, Result};
use crate::files::BaseFileName;
use crate::instant::{Action, compare_instant_times};
use crate::log::{
    BlockType, DataBlockOptions, DataBlockReader, DeleteChange, DeleteRowSpec, KeyEncoding,
    LogFileRef, LogReaderOptions, delete_change_batch, scan_slice,
};
use crate::metadata::CommitMetadata;
use crate::planner::{BaseFile, FileSlice, LogFile};
use crate::reader::{DEFAULT_BATCH_SIZE, OP_COLUMN, OP_DELETE, ReadOptions, change_schema};
use crate::timeline::{Instant, Timeline};

/// The file id of the plan's derived-deletes slice.
pub const DELETES_SLICE_ID: &str = "(deletes)";
/// Hudi's soft-delete marker column.
pub const IS_DELETED_COLUMN: &str = "_hoodie_is_deleted";
/// The record key meta column.
pub const RECORD_KEY_COLUMN: &str = "_hoodie_record_key";
/// How many candidate deletes are held before they are checked and emitted.
pub const MAX_CANDIDATES: usize = 1 << 20;

/// The files holding one file slice's keys: a base file and/or log files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeySource {
    /// The base file.
    pub base_file: Option<BaseFile>,
    /// Log files (merge-on-read), in Hudi's order.
    pub log_files: Vec<LogFile>,
}

impl KeySource {
    fn base(b: BaseFile) -> KeySource {
        KeySource {
            base_file: Some(b),
            log_files: Vec::new(),
        }
    }

    fn describe(&self) -> String {
        match (&self.base_file, self.log_files.first()) {
            (Some(b), _) => b.path.clone(),
            (None, Some(l)) => l.path.clone(),
            (None, None) => "(no files)".to_string(),
        }
    }
}

/// One version of a followed file group written in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteStep {
    /// Requested time of the instant that wrote the version.
    pub instant: String,
    /// Path of the version (from the write stat).
    pub path: String,
    /// The file, when still on storage (`None`: cleaned; its removals are attributed to the
    /// next retained version).
    pub file: Option<BaseFile>,
    /// Whether the write may have removed keys (its `numDeletes` is not `0`). Other versions
    /// are read only when an earlier removing version was cleaned.
    pub may_delete: bool,
}

/// A file group whose keys are followed through the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteUnit {
    /// Partition path.
    pub partition_path: String,
    /// File group id.
    pub file_id: String,
    /// The group's files as of the window start (or, for a group created in the window by a
    /// replacecommit, its first version).
    pub start: KeySource,
    /// Versions written in the window that may lack keys, in window order.
    pub steps: Vec<DeleteStep>,
    /// The `INSERT_OVERWRITE*` / `DELETE_PARTITION` replacecommit (requested time) that made the
    /// group invisible: keys still alive then are deleted by it.
    pub retracted_by: Option<String>,
    /// The clustering (requested time) that moved the group's keys into new groups.
    pub clustered_by: Option<String>,
}

/// Instants whose log blocks count (merge-on-read key sources), as of the window end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyVisibility {
    /// Requested times of visible completed write instants.
    pub visible: BTreeSet<String>,
    /// Instants older than this were archived (hence completed).
    pub oldest_active: Option<String>,
}

impl KeyVisibility {
    fn is_visible(&self, instant: &str) -> bool {
        self.visible.contains(instant)
            || self
                .oldest_active
                .as_deref()
                .is_some_and(|o| compare_instant_times(instant, o).is_lt())
    }
}

/// The window's derived deletes: what the deletes slice reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletePlan {
    /// Followed file groups, in window order of their first event.
    pub units: Vec<DeleteUnit>,
    /// End slices whose keys cancel candidate deletes (groups that received rows in the
    /// window, and every touched group of a partition with followed groups).
    pub receivers: Vec<KeySource>,
    /// The file whose schema the delete rows take (the newest base file of the window).
    pub schema_file: BaseFile,
    /// Log visibility for merge-on-read key sources.
    pub visibility: KeyVisibility,
}

impl DeletePlan {
    /// Every file the deletes slice may read (for logs and tests).
    pub fn files(&self) -> Vec<&str> {
        fn add<'a>(out: &mut Vec<&'a str>, k: &'a KeySource) {
            out.extend(k.base_file.iter().map(|b| b.path.as_str()));
            out.extend(k.log_files.iter().map(|l| l.path.as_str()));
        }
        let mut out = Vec::new();
        for u in &self.units {
            add(&mut out, &u.start);
        }
        for r in &self.receivers {
            add(&mut out, r);
        }
        for u in &self.units {
            out.extend(
                u.steps
                    .iter()
                    .filter_map(|s| s.file.as_ref().map(|f| f.path.as_str())),
            );
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// planning

/// What the planner hands over to plan the window's deletes.
pub(crate) struct DeleteInputs<'a> {
    pub table: &'a str,
    pub config: &'a TableConfig,
    pub timeline: &'a Timeline,
    /// The window's exclusive start (`None`: from the beginning; nothing can be deleted).
    pub after: Option<&'a str>,
    /// Admitted instants in window order with their metadata.
    pub admitted: Vec<(&'a Instant, &'a CommitMetadata)>,
    /// A group's base and log files from the partition listing.
    pub group_files: &'a (dyn Fn(&str, &str) -> (Vec<BaseFile>, Vec<LogFile>) + Sync),
    /// Whether an instant is visible at the window end.
    pub visible_at_end: &'a (dyn Fn(&Instant) -> bool + Sync),
    /// The plan's file slices as of the window end.
    pub slices: &'a [FileSlice],
}

/// Partitions of the groups replaced by admitted replacecommits (a group rewritten and then
/// clustered in the window is no touched group of the plan, yet its versions are read).
pub(crate) fn replaced_partitions(
    admitted: &[(&Instant, &CommitMetadata)],
) -> BTreeSet<String> {
    admitted
        .iter()
        .filter(|(i, _)| i.action == Action::ReplaceCommit)
        .flat_map(|(_, m)| m.replaced_file_groups().map(|(p, _)| p.to_string()))
        .collect()
}

/// Where a followed group starts.
#[derive(Debug, Clone)]
enum Start {
    /// Created in the window by a plain write: it held nothing at the window start.
    Nothing,
    /// The base file a rewrite replaced (`prevCommit`, and `prevBaseFile` on v8/v9).
    Prev {
        instant: String,
        name: Option<String>,
    },
    /// Created in the window by a replacecommit (clustering / overwrite output).
    Created { path: String, instant: String },
    /// Not written in the window before it was replaced: its state as of the window start.
    AtWindowStart,
}

#[derive(Debug)]
struct Chain {
    partition: String,
    file_id: String,
    order: usize,
    start: Start,
    /// (instant, path, may delete)
    steps: Vec<(String, String, bool)>,
    /// clustered away (keys alive then moved) or overwritten
    ended: bool,
    retracted_by: Option<String>,
    clustered_by: Option<String>,
}

/// Plan the window's deletes; `None` when nothing can have been deleted.
pub(crate) fn plan_deletes(inp: &DeleteInputs<'_>) -> Result<Option<DeletePlan>> {
    let Some(after) = inp.after else {
        // from the beginning: nothing existed before the window
        return Ok(None);
    };
    let mor = inp.config.is_mor();
    let mut chains: BTreeMap<(String, String), Chain> = BTreeMap::new();
    let mut receiving: BTreeSet<(String, String)> = BTreeSet::new();
    let mut next_order = 0usize;
    for (instant, meta) in &inp.admitted {
        let rt = &instant.requested_time;
        let is_replace = instant.action == Action::ReplaceCommit;
        for (partition, stat) in meta.write_stats() {
            let Some(file_id) = stat.file_id.as_deref().filter(|f| !f.is_empty()) else {
                continue;
            };
            let key = (partition.to_string(), file_id.to_string());
            if stat.num_inserts != Some(0) || is_replace || meta.is_compaction() {
                receiving.insert(key.clone());
            }
            let path = stat
                .path
                .as_deref()
                .map(|p| p.trim_start_matches('/').to_string())
                .filter(|p| BaseFileName::parse(p).is_some());
            let chain = chains.entry(key).or_insert_with(|| {
                next_order += 1;
                Chain {
                    partition: partition.to_string(),
                    file_id: file_id.to_string(),
                    order: next_order,
                    start: match (&stat.prev_commit, &path) {
                        (Some(pc), _) => Start::Prev {
                            instant: pc.clone(),
                            name: stat.prev_base_file.clone().filter(|n| !n.is_empty()),
                        },
                        (None, Some(p)) if is_replace => Start::Created {
                            path: p.clone(),
                            instant: rt.clone(),
                        },
                        _ => Start::Nothing,
                    },
                    steps: Vec::new(),
                    ended: false,
                    retracted_by: None,
                    clustered_by: None,
                }
            });
            if chain.ended || mor {
                // merge-on-read base files are written by compaction, clustering and
                // inserts; removals live in DELETE log blocks
                continue;
            }
            let Some(path) = path else { continue };
            if matches!(&chain.start, Start::Created { path: p, .. } if *p == path) {
                continue;
            }
            chain
                .steps
                .push((rt.clone(), path, stat.num_deletes != Some(0)));
        }
        if is_replace {
            let retract = !meta.is_clustering();
            for (partition, file_id) in meta.replaced_file_groups() {
                let key = (partition.to_string(), file_id.to_string());
                let chain = chains.entry(key).or_insert_with(|| {
                    next_order += 1;
                    Chain {
                        partition: partition.to_string(),
                        file_id: file_id.to_string(),
                        order: next_order,
                        start: if retract {
                            Start::AtWindowStart
                        } else {
                            Start::Nothing
                        },
                        steps: Vec::new(),
                        ended: false,
                        retracted_by: None,
                        clustered_by: None,
                    }
                });
                if !chain.ended {
                    chain.ended = true;
                    if retract {
                        chain.retracted_by = Some(rt.clone());
                    } else {
                        chain.clustered_by = Some(rt.clone());
                    }
                }
            }
        }
    }

    let mut chains: Vec<Chain> = chains
        .into_values()
        .filter(|c| {
            !matches!(c.start, Start::Nothing)
                && (c.steps.iter().any(|s| s.2) || c.retracted_by.is_some())
        })
        .collect();
    if chains.is_empty() {
        return Ok(None);
    }
    chains.sort_by_key(|c| c.order);

    let mut units = Vec::with_capacity(chains.len());
    for c in chains {
        let (bases, logs) = (inp.group_files)(&c.partition, &c.file_id);
        let start = resolve_start(inp, &c, after, &bases, &logs)?;
        let steps = c
            .steps
            .iter()
            .map(|(instant, path, may_delete)| DeleteStep {
                instant: instant.clone(),
                path: path.clone(),
                file: bases.iter().find(|b| &b.path == path).cloned(),
                may_delete: *may_delete,
            })
            .collect::<Vec<_>>();
        // removals of a cleaned version are found in the next retained one; a clustered group
        // has none after its last version
        if c.clustered_by.is_some()
            && let Some(i) = steps.iter().rposition(|s| s.may_delete && s.file.is_none())
            && !steps[i + 1..].iter().any(|s| s.file.is_some())
        {
            let s = &steps[i];
            return Err(history_gone(
                inp.table,
                s.path.clone(),
                &s.instant,
                "a version of a file group that removed keys before the group was clustered is gone",
            ));
        }
        units.push(DeleteUnit {
            partition_path: c.partition,
            file_id: c.file_id,
            start,
            steps,
            retracted_by: c.retracted_by,
            clustered_by: c.clustered_by,
        });
    }

    // end slices that may hold a key removed elsewhere
    let unit_partitions: BTreeSet<&str> =
        units.iter().map(|u| u.partition_path.as_str()).collect();
    let receivers: Vec<KeySource> = inp
        .slices
        .iter()
        .filter(|s| s.deletes.is_none())
        .filter(|s| {
            receiving.contains(&(s.partition_path.clone(), s.file_id.clone()))
                || unit_partitions.contains(s.partition_path.as_str())
        })
        .map(|s| KeySource {
            base_file: s.base_file.clone(),
            log_files: s.log_files.clone(),
        })
        .filter(|k| k.base_file.is_some() || !k.log_files.is_empty())
        .collect();

    let newest = |files: Vec<&BaseFile>| {
        files
            .into_iter()
            .max_by(|a, b| compare_instant_times(&a.instant_time, &b.instant_time))
            .cloned()
    };
    let schema_file = newest(
        inp.slices
            .iter()
            .filter_map(|s| s.base_file.as_ref())
            .collect(),
    )
    .or_else(|| newest(units.iter().filter_map(|u| u.start.base_file.as_ref()).collect()));
    let Some(schema_file) = schema_file else {
        return Err(HudiError::NotYetSupported {
            table: inp.table.to_string(),
            what: "deriving deletes of a window in which no base file is readable (log-only file \
                   groups): the delete rows would have no schema"
                .to_string(),
        });
    };
    let tl = inp.timeline;
    let visibility = if mor {
        KeyVisibility {
            visible: tl
                .completed
                .iter()
                .filter(|i| i.action.is_write() && (inp.visible_at_end)(i))
                .map(|i| i.requested_time.clone())
                .collect(),
            oldest_active: tl.oldest_requested_time().map(str::to_string),
        }
    } else {
        KeyVisibility::default()
    };
    debug!(
        table = inp.table,
        units = units.len(),
        receivers = receivers.len(),
        "deletes planned"
    );
    Ok(Some(DeletePlan {
        units,
        receivers,
        schema_file,
        visibility,
    }))
}

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

/// The files of a followed group at its start.
fn resolve_start(
    inp: &DeleteInputs<'_>,
    c: &Chain,
    after: &str,
    bases: &[BaseFile],
    logs: &[LogFile],
) -> Result<KeySource> {
    let table = inp.table;
    match &c.start {
        Start::Nothing => Ok(KeySource::default()),
        Start::Created { path, instant } => match bases.iter().find(|b| &b.path == path) {
            Some(b) => Ok(KeySource::base(b.clone())),
            None => Err(history_gone(
                table,
                path.clone(),
                instant,
                "the first version of a file group created in the window is gone",
            )),
        },
        Start::Prev { instant, name } => {
            let found: Vec<&BaseFile> = match name {
                Some(n) => bases
                    .iter()
                    .filter(|b| b.path.rsplit('/').next() == Some(n.as_str()))
                    .collect(),
                None => bases.iter().filter(|b| &b.instant_time == instant).collect(),
            };
            let chosen = match found.as_slice() {
                [] => None,
                [one] => Some((*one).clone()),
                several => {
                    // failed task attempts are removed before a commit completes; if several
                    // remain, the last written token is the likeliest survivor
                    let b = several
                        .iter()
                        .max_by(|a, b| a.path.cmp(&b.path))
                        .map(|b| (*b).clone());
                    warn!(table, file_id = %c.file_id, instant = %instant, files = several.len(), "several base files of one instant; using the last");
                    b
                }
            };
            let mut ks = match chosen {
                Some(b) => KeySource::base(b),
                None if inp.config.is_mor() => KeySource::default(),
                None => {
                    let file = match name {
                        Some(n) => join_partition(&c.partition, n),
                        None => join_partition(
                            &c.partition,
                            &format!("{}_*_{instant}.parquet", c.file_id),
                        ),
                    };
                    return Err(history_gone(
                        table,
                        file,
                        instant,
                        "the file group's base file as of the window start is gone",
                    ));
                }
            };
            if inp.config.is_mor() {
                ks.log_files = group_logs(inp, logs);
            }
            Ok(ks)
        }
        Start::AtWindowStart => {
            let tl = inp.timeline;
            let oldest = tl.oldest_requested_time();
            let visible_at_start = |t: &str| match tl.completed_by_requested(t) {
                Some(i) => compare_instant_times(i.window_time(), after).is_le(),
                None => oldest.is_some_and(|o| compare_instant_times(t, o).is_lt()),
            };
            let base = bases
                .iter()
                .filter(|b| visible_at_start(&b.instant_time))
                .max_by(|a, b| compare_instant_times(&a.instant_time, &b.instant_time))
                .cloned();
            let log_files = if inp.config.is_mor() {
                group_logs(inp, logs)
            } else {
                Vec::new()
            };
            if base.is_none() && log_files.is_empty() {
                return Err(history_gone(
                    table,
                    format!(
                        "file group {} in partition {:?}",
                        c.file_id, c.partition
                    ),
                    c.retracted_by.as_deref().unwrap_or(after),
                    "the replaced file group's files as of the window start are gone",
                ));
            }
            Ok(KeySource {
                base_file: base,
                log_files,
            })
        }
    }
}

/// Merge-on-read: every log file of the group (a superset of the slice's keys: deleting a
/// key that is already gone is harmless; blocks are filtered by visibility when read).
fn group_logs(inp: &DeleteInputs<'_>, logs: &[LogFile]) -> Vec<LogFile> {
    let _ = inp;
    let mut v = logs.to_vec();
    v.sort_by(|a, b| {
        compare_instant_times(&a.instant_time, &b.instant_time)
            .then(a.version.cmp(&b.version))
            .then_with(|| a.path.cmp(&b.path))
    });
    v
}

fn join_partition(partition: &str, name: &str) -> String {
    if partition.is_empty() {
        name.to_string()
    } else {
        format!("{partition}/{name}")
    }
}

// ---------------------------------------------------------------------------------------------
// reading

/// How delete rows fill the record-key columns (the contract: SIMPLE `v`, COMPLEX `f1:v1,f2:v2`).
pub fn delete_row_spec(config: &TableConfig) -> DeleteRowSpec {
    let encoding =
        if config.key_generator == KeyGenerator::Complex || config.record_key_fields.len() > 1 {
            KeyEncoding::Complex
        } else {
            KeyEncoding::Simple
        };
    DeleteRowSpec {
        record_key_fields: config.record_key_fields.clone(),
        encoding,
        ordering_fields: config.ordering_fields.clone(),
    }
}

/// Reads the deletes slice.
pub(crate) struct DeleteRead {
    pub store: DynStore,
    pub table: String,
    pub config: Arc<TableConfig>,
    pub plan: Arc<DeletePlan>,
    pub options: ReadOptions,
}

/// A key's state while its group is followed.
#[derive(Debug, Clone, Copy)]
struct KeyState {
    /// Last version (0 = start) that held the key.
    seen: u32,
    /// Version whose instant removed it (while it is gone).
    removed_at: Option<u32>,
}

/// A candidate delete: the unit (partition) and the instant (index into `Walk::instants`).
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
    candidates: HashMap<Box<str>, Candidate>,
    instants: Vec<String>,
    instant_ids: HashMap<String, u32>,
    out: std::collections::VecDeque<RecordBatch>,
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
            candidates: HashMap::new(),
            instants: Vec::new(),
            instant_ids: HashMap::new(),
            out: Default::default(),
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

    /// Walk one group's versions and add its removed keys to the candidates.
    async fn follow(&mut self, unit_idx: usize, unit: &DeleteUnit) -> Result<()> {
        let mut keys: HashMap<Box<str>, KeyState> = HashMap::new();
        let store = self.read.store.clone();
        let table = self.read.table.clone();
        let vis = self.read.plan.visibility.clone();
        let n = read_source_keys(&store, &table, &unit.start, &vis, &mut |k: &str| {
            keys.entry(k.into()).or_insert(KeyState {
                seen: 0,
                removed_at: None,
            });
        })
        .await?;
        self.stats.keys_read += n;
        self.stats.files_read += 1;
        if keys.is_empty() {
            return Ok(());
        }
        let mut version = 0u32;
        // a removing version that was cleaned: look for its removals in the next retained one
        let mut pending: Option<&str> = None;
        for step in &unit.steps {
            let Some(file) = &step.file else {
                if step.may_delete {
                    debug!(file = %step.path, "version cleaned; its removals go to the next retained version");
                    pending.get_or_insert(step.path.as_str());
                }
                continue;
            };
            if !step.may_delete && pending.is_none() {
                continue;
            }
            pending = None;
            let instant_id = self.intern(&step.instant);
            version += 1;
            let v = version;
            let n = read_base_keys(&store, &table, file, None, &mut |k: &str| {
                if let Some(s) = keys.get_mut(k) {
                    s.seen = v;
                }
            })
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
        }
        let retract = unit.retracted_by.as_deref().map(|r| self.intern(r));
        let unit_id = unit_idx as u32;
        for (k, s) in keys {
            let instant = match (s.removed_at, retract) {
                (Some(i), _) => i,
                (None, Some(r)) => r,
                (None, None) => continue,
            };
            let c = Candidate {
                unit: unit_id,
                instant,
            };
            match self.candidates.get_mut(&k) {
                Some(old) => {
                    if compare_instant_times(
                        &self.instants[instant as usize],
                        &self.instants[old.instant as usize],
                    )
                    .is_gt()
                    {
                        *old = c;
                    }
                }
                None => {
                    self.candidates.insert(k, c);
                }
            }
        }
        Ok(())
    }

    /// Strike candidates present at the window end, emit the rest.
    async fn flush(&mut self) -> Result<()> {
        if self.candidates.is_empty() {
            return Ok(());
        }
        let plan = self.read.plan.clone();
        let store = self.read.store.clone();
        let table = self.read.table.clone();
        let (mut lo, mut hi): (Option<Box<str>>, Option<Box<str>>) = (None, None);
        for k in self.candidates.keys() {
            if lo.as_deref().is_none_or(|l| k.as_ref() < l) {
                lo = Some(k.clone());
            }
            if hi.as_deref().is_none_or(|h| k.as_ref() > h) {
                hi = Some(k.clone());
            }
        }
        let range = lo.zip(hi);
        for r in &plan.receivers {
            if self.candidates.is_empty() {
                break;
            }
            let before = self.candidates.len();
            let cands = &mut self.candidates;
            let n = match (&r.base_file, r.log_files.is_empty()) {
                (Some(b), true) => {
                    read_base_keys(
                        &store,
                        &table,
                        b,
                        range.as_ref().map(|(l, h)| (l.as_ref(), h.as_ref())),
                        &mut |k: &str| {
                            cands.remove(k);
                        },
                    )
                    .await?
                }
                _ => {
                    read_source_keys(&store, &table, r, &plan.visibility, &mut |k: &str| {
                        cands.remove(k);
                    })
                    .await?
                }
            };
            self.stats.keys_read += n;
            self.stats.files_read += 1;
            self.stats.struck += (before - self.candidates.len()) as u64;
        }
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
                    table: table.clone(),
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

    /// The change schema of the delete rows (the schema file's, projected).
    async fn schema(&mut self) -> Result<SchemaRef> {
        if let Some(s) = &self.schema {
            return Ok(s.clone());
        }
        let f = &self.read.plan.schema_file;
        let (md, arm) = load_footer(&self.read.store, &self.read.table, f).await?;
        let _ = md;
        let file_schema = arm.schema().clone();
        let projected: Schema = match &self.read.options.columns {
            None => file_schema.as_ref().clone(),
            Some(cols) => {
                let mut fields: Vec<(usize, Field)> = Vec::new();
                for c in cols {
                    if c == OP_COLUMN {
                        continue;
                    }
                    let i =
                        file_schema
                            .index_of(c)
                            .map_err(|_| HudiError::UnknownColumn {
                                table: self.read.table.clone(),
                                column: c.clone(),
                                file: f.path.clone(),
                            })?;
                    if !fields.iter().any(|(j, _)| *j == i) {
                        fields.push((i, file_schema.field(i).clone()));
                    }
                }
                fields.sort_by_key(|(i, _)| *i);
                Schema::new(fields.into_iter().map(|(_, f)| f).collect::<Vec<_>>())
            }
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

/// Call `f` with every record key of a base file (only the key column is read; row groups
/// whose key statistics exclude `range` are skipped). Returns the number of keys read.
pub(crate) async fn read_base_keys(
    store: &DynStore,
    table: &str,
    file: &BaseFile,
    range: Option<(&str, &str)>,
    f: &mut (dyn FnMut(&str) + Send),
) -> Result<u64> {
    let (md, arm) = load_footer(store, table, file).await?;
    let descr = md.file_metadata().schema_descr_ptr();
    let leaf = (0..descr.num_columns())
        .find(|i| descr.column(*i).path().string() == RECORD_KEY_COLUMN)
        .ok_or_else(|| HudiError::IncrementalUnsupported {
            table: table.to_string(),
            reason: format!(
                "{} has no {RECORD_KEY_COLUMN} column (written without meta fields?): \
                 deleted keys cannot be derived",
                file.path
            ),
        })?;
    let row_groups: Vec<usize> = (0..md.num_row_groups())
        .filter(|rg| {
            let Some((lo, hi)) = range else { return true };
            let col = md.row_group(*rg).column(leaf);
            match col
                .statistics()
                .map(|s| (s.min_bytes_opt(), s.max_bytes_opt()))
            {
                Some((Some(min), Some(max))) => lo.as_bytes() <= max && hi.as_bytes() >= min,
                _ => true,
            }
        })
        .collect();
    if row_groups.is_empty() {
        return Ok(0);
    }
    let reader = ParquetObjectReader::new(store.clone(), file.path.clone(), file.size)
        .with_metadata(md.clone());
    let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, arm)
        .with_row_groups(row_groups)
        .with_projection(ProjectionMask::leaves(&descr, [leaf]))
        .with_batch_size(DEFAULT_BATCH_SIZE)
        .build()
        .map_err(|e| parquet_error(table, file, e))?;
    let mut n = 0u64;
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|e| parquet_error(table, file, e))?
    {
        n += for_each_string(batch.column(0), f).map_err(|reason| HudiError::ReadFailed {
            table: table.to_string(),
            file: file.path.clone(),
            reason,
            transient: false,
        })?;
    }
    Ok(n)
}

/// Call `f` with every key of a file slice: its base file's keys, then the keys of its valid
/// log data blocks; keys of DELETE blocks are not reported (a superset of the slice's live
/// keys).
async fn read_source_keys(
    store: &DynStore,
    table: &str,
    source: &KeySource,
    visibility: &KeyVisibility,
    f: &mut (dyn FnMut(&str) + Send),
) -> Result<u64> {
    let mut n = 0;
    if let Some(b) = &source.base_file {
        n += read_base_keys(store, table, b, None, f).await?;
    }
    if source.log_files.is_empty() {
        return Ok(n);
    }
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
    let log_err = |e: crate::log::LogError| {
        if e.is_not_found() {
            history_gone(
                table,
                source.describe(),
                "",
                "a log file of a replaced file group is gone",
            )
        } else {
            HudiError::ReadFailed {
                table: table.to_string(),
                file: source.describe(),
                reason: e.to_string(),
                transient: e.is_transient(),
            }
        }
    };
    let scan = scan_slice(store, &refs, &visible, &LogReaderOptions::default())
        .await
        .map_err(log_err)?;
    let key_only: SchemaRef = Arc::new(Schema::new(vec![Field::new(
        RECORD_KEY_COLUMN,
        DataType::Utf8,
        true,
    )]));
    let opts = DataBlockOptions::default();
    for block in &scan.blocks {
        if block.block_type == BlockType::Delete {
            // deletes only remove keys; a superset does not need them
            continue;
        }
        let mut r = DataBlockReader::open(store, block, Some(key_only.clone()), &opts)
            .await
            .map_err(log_err)?;
        while let Some(batch) = r.next_batch().await.map_err(log_err)? {
            let Some(col) = batch.column_by_name(RECORD_KEY_COLUMN) else {
                continue;
            };
            n += for_each_string(col, f).map_err(|reason| HudiError::ReadFailed {
                table: table.to_string(),
                file: block.file.clone(),
                reason,
                transient: false,
            })?;
        }
    }
    Ok(n)
}

fn for_each_string(col: &ArrayRef, f: &mut (dyn FnMut(&str) + Send)) -> std::result::Result<u64, String> {
    let mut n = 0u64;
    let mut each = |v: Option<&str>| {
        if let Some(s) = v {
            n += 1;
            f(s);
        }
    };
    if let Some(a) = col.as_any().downcast_ref::<StringArray>() {
        a.iter().for_each(&mut each);
    } else if let Some(a) = col.as_any().downcast_ref::<LargeStringArray>() {
        a.iter().for_each(&mut each);
    } else if let Some(a) = col.as_any().downcast_ref::<StringViewArray>() {
        a.iter().for_each(&mut each);
    } else {
        return Err(format!(
            "{RECORD_KEY_COLUMN} has type {}, expected a string",
            col.data_type()
        ));
    }
    Ok(n)
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

/// Turn rows whose `_hoodie_is_deleted` is `true` into delete change rows (`_op = "delete"`);
/// batches without that boolean column, or without such rows, are returned unchanged.
pub fn mark_soft_deletes(batch: RecordBatch) -> std::result::Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let (Ok(flag_idx), Ok(op_idx)) = (schema.index_of(IS_DELETED_COLUMN), schema.index_of(OP_COLUMN))
    else {
        return Ok(batch);
    };
    let Some(flags) = batch
        .column(flag_idx)
        .as_any()
        .downcast_ref::<BooleanArray>()
    else {
        return Ok(batch);
    };
    if flags.true_count() == 0 {
        return Ok(batch);
    }
    let ops = batch
        .column(op_idx)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| ArrowError::SchemaError(format!("{OP_COLUMN} is not Utf8")))?;
    let new_ops: StringArray = (0..batch.num_rows())
        .map(|i| {
            if flags.is_valid(i) && flags.value(i) {
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
        let out = mark_soft_deletes(b).unwrap();
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
            Arc::new(Schema::new(vec![Field::new(OP_COLUMN, DataType::Utf8, false)])),
            vec![Arc::new(StringArray::from(vec!["upsert"]))],
        )
        .unwrap();
        assert_eq!(mark_soft_deletes(plain.clone()).unwrap(), plain);
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
