//! Merge one file slice — base rows plus valid log blocks — into the latest version of each
//! record key (docs/hudi-format.md §5), and report which of those latest versions are changes of
//! the read: upserts whose `_hoodie_commit_time` is an admitted instant, and deletes written by
//! an admitted instant's DELETE blocks.
//!
//! Use: push the valid blocks of [`super::scan::scan_slice`] in order
//! ([`FileGroupMerger::push_block`], or [`FileGroupMerger::push_log_batch`] /
//! [`FileGroupMerger::push_log_deletes`]), then stream the base file through
//! [`FileGroupMerger::merge_base_batch`] (which returns the base rows that are changes), then
//! [`FileGroupMerger::finish`] for the log rows and deletes that are changes.
//!
//! # Semantics
//!
//! Each key's versions are applied in order: base row, then log records and deletes in merge
//! order. How a new version meets the current one depends on [`MergeMode`]:
//!
//! | current → new | commit time | event time (v8/v9) | v6 `DefaultHoodieRecordPayload` | v6 `OverwriteWithLatestAvroPayload` |
//! |---|---|---|---|---|
//! | row → record | new | higher ordering, ties new | higher ordering, ties new | base row: new; log row: higher ordering, ties new |
//! | deleted → record | new | natural delete: new; else higher ordering, ties new | new | new |
//! | base row → delete | delete | natural: delete; else delete unless the row's ordering is higher | delete | delete |
//! | log row → delete | delete | natural: delete; else delete unless the row's ordering is higher | same | same |
//!
//! A *natural* delete has no ordering value or Java's default `IntWrapper(0)`. Values that
//! cannot be compared let the newer version win.
//!
//! # Memory
//!
//! One file slice's log side is held in memory: the decoded rows of its valid log blocks (as
//! Arrow batches) and one small entry per log key (its pending versions: batch/row indexes and
//! ordering values). Base rows are streamed and never retained; only keys that also occur in
//! the log are looked up. A slice whose log holds more rows than memory allows needs a
//! compaction first (Hudi's own reader spills to disk instead).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use arrow_select::filter::filter_record_batch;
use arrow_select::interleave::interleave_record_batch;
use hps_storage::DynStore;

use super::align::align_batch;
use super::avro_block::DataBlockOptions;
use super::block::{BlockType, LogBlock};
use super::delete_block::{DeleteRecord, read_delete_block};
use super::error::{LogError, LogResult};
use super::ordering::{OrderingValue, compare_opt};
use super::scan::DataBlockReader;
use crate::columns::{COMMIT_TIME_COLUMN, RECORD_KEY_COLUMN};
use crate::instant::CommitTimes;

/// How versions of one key are reconciled (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    /// v8/v9 `COMMIT_TIME_ORDERING`: the later write wins.
    CommitTimeOrdering,
    /// v8/v9 `EVENT_TIME_ORDERING`: the higher ordering value wins, ties go to the later write.
    EventTimeOrdering,
    /// v6 `DefaultHoodieRecordPayload`: ordering decides between records, deletes win.
    DefaultPayload,
    /// v6 `OverwriteWithLatestAvroPayload`: a log record replaces the base row; within the log
    /// the higher ordering value wins.
    OverwriteWithLatestPayload,
}

/// What the merger needs to know about the table and the read.
#[derive(Debug, Clone)]
pub struct MergeConfig {
    /// The merge rule.
    pub mode: MergeMode,
    /// Ordering (precombine) fields; empty when the table has none.
    pub ordering_fields: Vec<String>,
    /// Requested times of the admitted instants: rows with one of these commit times and
    /// deletes written by one of them are the changes to report.
    pub admitted: Arc<CommitTimes>,
    /// Names the file group in errors and logs.
    pub file_group: String,
    /// Rows per emitted batch of log rows.
    pub batch_size: usize,
}

/// A delete that is a change of the read: the key's latest version is this delete, written by
/// an admitted instant.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteChange {
    /// The record key string.
    pub record_key: String,
    /// The partition path the delete block recorded.
    pub partition_path: String,
    /// Requested time of the deltacommit whose DELETE block holds the delete.
    pub instant: String,
    /// The ordering value written with the delete (`None` when absent).
    pub ordering_value: Option<OrderingValue>,
}

/// Counters of one merge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Log rows pushed.
    pub log_rows: u64,
    /// Delete records pushed.
    pub log_deletes: u64,
    /// Distinct keys in the log.
    pub log_keys: u64,
    /// Base rows merged.
    pub base_rows: u64,
    /// Base rows whose key also occurs in the log.
    pub base_rows_overlaid: u64,
    /// Upsert rows reported (base and log).
    pub upserts: u64,
    /// Deletes reported.
    pub deletes: u64,
}

/// What [`FileGroupMerger::finish`] reports.
#[derive(Debug, Default)]
pub struct MergeOutput {
    /// Log rows that are the latest version of their key and were written by an admitted
    /// instant, in the merger's schema.
    pub upserts: Vec<RecordBatch>,
    /// Deletes that are the latest version of their key, written by an admitted instant.
    pub deletes: Vec<DeleteChange>,
    /// Counters.
    pub stats: MergeStats,
}

#[derive(Debug, Clone)]
enum Op {
    Upsert {
        batch: u32,
        row: u32,
        ordering: Option<OrderingValue>,
    },
    Delete {
        index: u32,
    },
}

/// The latest version of a key once its versions were applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Final {
    Absent,
    Base,
    Row { batch: u32, row: u32 },
    Deleted { index: u32 },
}

#[derive(Debug, Default)]
struct KeyEntry {
    ops: Vec<Op>,
    resolved: Option<Final>,
}

/// A version during folding.
enum State<'a> {
    Absent,
    Base(Option<&'a OrderingValue>),
    Row {
        batch: u32,
        row: u32,
        ordering: Option<&'a OrderingValue>,
    },
    Deleted {
        index: u32,
    },
}

#[derive(Debug)]
struct DeleteEntry {
    record: DeleteRecord,
    instant: Arc<str>,
}

/// Merges one file slice; see the module docs.
#[derive(Debug)]
pub struct FileGroupMerger {
    config: MergeConfig,
    schema: SchemaRef,
    log_batches: Vec<RecordBatch>,
    deletes: Vec<DeleteEntry>,
    keys: HashMap<String, KeyEntry>,
    /// Deletes of earlier slices of the group (see [`FileGroupMerger::add_prior_deletes`])
    /// not yet known to be superseded.
    prior: HashMap<String, DeleteChange>,
    base_started: bool,
    stats: MergeStats,
}

fn str_value(array: &ArrayRef, row: usize) -> Option<&str> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Some(array.as_string::<i64>().value(row)),
        DataType::Utf8View => Some(array.as_string_view().value(row)),
        _ => None,
    }
}

impl FileGroupMerger {
    /// A merger whose rows have `schema` (every pushed batch is aligned to it by name). The
    /// schema must hold `_hoodie_record_key` and `_hoodie_commit_time` as strings.
    pub fn new(config: MergeConfig, schema: SchemaRef) -> LogResult<Self> {
        for col in [RECORD_KEY_COLUMN, COMMIT_TIME_COLUMN] {
            match schema.field_with_name(col) {
                Ok(f)
                    if matches!(
                        f.data_type(),
                        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                    ) => {}
                _ => {
                    return Err(LogError::Merge {
                        file_group: config.file_group.clone(),
                        reason: format!("the row schema has no string column {col}"),
                    });
                }
            }
        }
        Ok(FileGroupMerger {
            config,
            schema,
            log_batches: Vec::new(),
            deletes: Vec::new(),
            keys: HashMap::new(),
            prior: HashMap::new(),
            base_started: false,
            stats: MergeStats::default(),
        })
    }

    /// The row schema.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> &MergeStats {
        &self.stats
    }

    fn err(&self, reason: impl Into<String>) -> LogError {
        LogError::Merge {
            file_group: self.config.file_group.clone(),
            reason: reason.into(),
        }
    }

    fn check_log_phase(&self) -> LogResult<()> {
        if self.base_started {
            return Err(self.err("log blocks must be pushed before the base file is merged"));
        }
        Ok(())
    }

    /// The ordering value of `row` of `batch` (aligned to the schema), `None` for commit-time
    /// ordering, tables without ordering fields, or null values.
    fn ordering_of(
        &self,
        batch: &RecordBatch,
        columns: &[Option<ArrayRef>],
        row: usize,
    ) -> LogResult<Option<OrderingValue>> {
        if self.config.mode == MergeMode::CommitTimeOrdering || columns.is_empty() {
            return Ok(None);
        }
        let _ = batch;
        let mut values = Vec::with_capacity(columns.len());
        for (i, col) in columns.iter().enumerate() {
            let v = match col {
                Some(c) => OrderingValue::from_array(c, row).map_err(|e| {
                    self.err(format!(
                        "ordering field {}: {e}",
                        self.config.ordering_fields[i]
                    ))
                })?,
                None => None,
            };
            values.push(v);
        }
        Ok(if values.len() == 1 {
            values.pop().flatten()
        } else {
            Some(OrderingValue::Array(values))
        })
    }

    fn ordering_columns(&self, batch: &RecordBatch) -> Vec<Option<ArrayRef>> {
        if self.config.mode == MergeMode::CommitTimeOrdering {
            return Vec::new();
        }
        self.config
            .ordering_fields
            .iter()
            .map(|f| batch.column_by_name(f).cloned())
            .collect()
    }

    fn key_column(&self, batch: &RecordBatch) -> LogResult<ArrayRef> {
        batch
            .column_by_name(RECORD_KEY_COLUMN)
            .cloned()
            .ok_or_else(|| self.err("batch lacks _hoodie_record_key"))
    }

    /// Push the rows of one data block batch (in merge order). `block_instant` names the
    /// block in errors.
    pub fn push_log_batch(&mut self, batch: &RecordBatch, block_instant: &str) -> LogResult<()> {
        self.check_log_phase()?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = align_batch(batch, &self.schema)
            .map_err(|e| self.err(format!("log block of instant {block_instant}: {e}")))?;
        let index =
            u32::try_from(self.log_batches.len()).map_err(|_| self.err("too many log batches"))?;
        let keys = self.key_column(&batch)?;
        let ordering = self.ordering_columns(&batch);
        for row in 0..batch.num_rows() {
            let key = str_value(&keys, row).ok_or_else(|| {
                self.err(format!(
                    "log record {row} of instant {block_instant} has no _hoodie_record_key (table without meta fields?)"
                ))
            })?;
            let ordering = self.ordering_of(&batch, &ordering, row)?;
            let op = Op::Upsert {
                batch: index,
                row: row as u32,
                ordering,
            };
            self.push_op(key, op);
        }
        self.stats.log_rows += batch.num_rows() as u64;
        self.log_batches.push(batch);
        Ok(())
    }

    fn push_op(&mut self, key: &str, op: Op) {
        match self.keys.get_mut(key) {
            Some(e) => e.ops.push(op),
            None => {
                self.keys.insert(
                    key.to_string(),
                    KeyEntry {
                        ops: vec![op],
                        resolved: None,
                    },
                );
                self.stats.log_keys += 1;
            }
        }
    }

    /// Push the records of one DELETE block written by `block_instant` (in merge order).
    pub fn push_log_deletes(
        &mut self,
        deletes: Vec<DeleteRecord>,
        block_instant: &str,
    ) -> LogResult<()> {
        self.check_log_phase()?;
        let instant: Arc<str> = Arc::from(block_instant);
        for record in deletes {
            let index = u32::try_from(self.deletes.len())
                .map_err(|_| self.err("too many delete records"))?;
            let key = record.record_key.clone();
            self.deletes.push(DeleteEntry {
                record,
                instant: instant.clone(),
            });
            self.push_op(&key, Op::Delete { index });
            self.stats.log_deletes += 1;
        }
        Ok(())
    }

    /// Read valid block `block` (DATA or DELETE) and push it. Avro blocks are decoded into the
    /// merger's schema.
    #[tracing::instrument(level = "debug", skip_all, fields(block = %block.describe()))]
    pub async fn push_block(
        &mut self,
        store: &DynStore,
        block: &LogBlock,
        options: &DataBlockOptions,
    ) -> LogResult<()> {
        let instant = block
            .instant_time()
            .ok_or(LogError::MissingHeader {
                file: block.file.clone(),
                offset: block.offset,
                key: "INSTANT_TIME",
            })?
            .to_string();
        match block.block_type {
            BlockType::Delete => {
                let deletes = read_delete_block(store, block, options).await?;
                self.push_log_deletes(deletes, &instant)
            }
            _ => {
                let mut reader =
                    DataBlockReader::open(store, block, Some(self.schema.clone()), options).await?;
                while let Some(batch) = reader.next_batch().await? {
                    let batch =
                        crate::convert::conform_batch(&batch, &self.schema).map_err(|source| {
                            LogError::TypeConversion {
                                file: block.file.clone(),
                                offset: block.offset,
                                source: Box::new(source),
                            }
                        })?;
                    self.push_log_batch(&batch, &instant)?;
                }
                Ok(())
            }
        }
    }

    /// Deletes that earlier slices of the same file group recorded within the read (a slice
    /// compacted inside the window: the compacted base no longer holds the deleted keys, and
    /// the DELETE blocks are not part of this slice). Each is reported by [`Self::finish`]
    /// unless this slice still (or again) holds its key, or reports its own delete of it.
    /// A later entry for the same key replaces an earlier one. Call before the base is merged.
    pub fn add_prior_deletes(&mut self, deletes: Vec<DeleteChange>) -> LogResult<()> {
        self.check_log_phase()?;
        for d in deletes {
            self.prior.insert(d.record_key.clone(), d);
        }
        Ok(())
    }

    /// Whether `key` has versions in the log or a prior delete: base rows with such keys must
    /// be merged even when they were not written by an admitted instant (they may win over
    /// the log by ordering value, or show that a prior delete was superseded). Base rows of
    /// other keys matter only when written by an admitted instant.
    pub fn needs_base_row(&self, key: &str) -> bool {
        self.keys.contains_key(key) || self.prior.contains_key(key)
    }

    /// Every key [`Self::needs_base_row`] is true for (a key may come twice).
    pub fn keys_needing_base_rows(&self) -> impl Iterator<Item = &str> + '_ {
        self.keys
            .keys()
            .chain(self.prior.keys())
            .map(String::as_str)
    }

    fn fold<'a>(&'a self, start: State<'a>, ops: &'a [Op]) -> State<'a> {
        let mode = self.config.mode;
        let newer_wins = |new: Option<&OrderingValue>, old: Option<&OrderingValue>| {
            compare_opt(new, old) != Some(std::cmp::Ordering::Less)
        };
        let mut state = start;
        for op in ops {
            state = match op {
                Op::Upsert {
                    batch,
                    row,
                    ordering,
                } => {
                    let new = State::Row {
                        batch: *batch,
                        row: *row,
                        ordering: ordering.as_ref(),
                    };
                    match state {
                        State::Absent => new,
                        State::Deleted { index } => {
                            let d = self.deletes[index as usize].record.ordering_value.as_ref();
                            let natural = d.is_none_or(OrderingValue::is_natural_delete);
                            if mode != MergeMode::EventTimeOrdering
                                || natural
                                || newer_wins(ordering.as_ref(), d)
                            {
                                new
                            } else {
                                State::Deleted { index }
                            }
                        }
                        State::Base(b) => match mode {
                            MergeMode::CommitTimeOrdering
                            | MergeMode::OverwriteWithLatestPayload => new,
                            _ if newer_wins(ordering.as_ref(), b) => new,
                            _ => State::Base(b),
                        },
                        State::Row {
                            batch: pb,
                            row: pr,
                            ordering: po,
                        } => {
                            if mode == MergeMode::CommitTimeOrdering
                                || newer_wins(ordering.as_ref(), po)
                            {
                                new
                            } else {
                                State::Row {
                                    batch: pb,
                                    row: pr,
                                    ordering: po,
                                }
                            }
                        }
                    }
                }
                Op::Delete { index } => {
                    let d = self.deletes[*index as usize].record.ordering_value.as_ref();
                    let natural = d.is_none_or(OrderingValue::is_natural_delete);
                    let new = State::Deleted { index: *index };
                    let kept_by = |current: Option<&OrderingValue>| {
                        !natural && compare_opt(current, d) == Some(std::cmp::Ordering::Greater)
                    };
                    match state {
                        State::Absent | State::Deleted { .. } => new,
                        State::Base(b) => {
                            if mode == MergeMode::EventTimeOrdering && kept_by(b) {
                                State::Base(b)
                            } else {
                                new
                            }
                        }
                        State::Row {
                            batch,
                            row,
                            ordering,
                        } => {
                            if mode != MergeMode::CommitTimeOrdering && kept_by(ordering) {
                                State::Row {
                                    batch,
                                    row,
                                    ordering,
                                }
                            } else {
                                new
                            }
                        }
                    }
                }
            };
        }
        state
    }

    fn finalize(state: State<'_>) -> Final {
        match state {
            State::Absent => Final::Absent,
            State::Base(_) => Final::Base,
            State::Row { batch, row, .. } => Final::Row { batch, row },
            State::Deleted { index } => Final::Deleted { index },
        }
    }

    /// Merge one batch of the slice's base file (after all log blocks were pushed). Returns
    /// the base rows that are changes of the read: latest version of their key and written
    /// by an admitted instant. The result has the merger's schema.
    pub fn merge_base_batch(&mut self, batch: &RecordBatch) -> LogResult<RecordBatch> {
        self.base_started = true;
        let batch =
            align_batch(batch, &self.schema).map_err(|e| self.err(format!("base file: {e}")))?;
        let n = batch.num_rows();
        self.stats.base_rows += n as u64;
        let keys = self.key_column(&batch)?;
        let commit_times = batch
            .column_by_name(COMMIT_TIME_COLUMN)
            .cloned()
            .ok_or_else(|| self.err("base batch lacks _hoodie_commit_time"))?;
        let ordering = self.ordering_columns(&batch);
        let mut keep = Vec::with_capacity(n);
        let mut resolved: Vec<(String, Final)> = Vec::new();
        let mut overlaid = 0u64;
        for row in 0..n {
            let admitted =
                str_value(&commit_times, row).is_some_and(|t| self.config.admitted.contains(t));
            let Some(key) = str_value(&keys, row) else {
                return Err(self.err(format!(
                    "base row {row} has no _hoodie_record_key (table without meta fields?)"
                )));
            };
            let latest = match self.keys.get(key) {
                None => Final::Base,
                Some(entry) => {
                    overlaid += 1;
                    match entry.resolved {
                        Some(f) => f,
                        None => {
                            let b = self.ordering_of(&batch, &ordering, row)?;
                            let f = Self::finalize(self.fold(State::Base(b.as_ref()), &entry.ops));
                            resolved.push((key.to_string(), f));
                            f
                        }
                    }
                }
            };
            if matches!(latest, Final::Base | Final::Row { .. }) && !self.prior.is_empty() {
                self.prior.remove(key);
            }
            keep.push(latest == Final::Base && admitted);
        }
        self.stats.base_rows_overlaid += overlaid;
        for (key, f) in resolved {
            if let Some(e) = self.keys.get_mut(&key) {
                e.resolved = Some(f);
            }
        }
        let mask = BooleanArray::from(keep);
        let out = filter_record_batch(&batch, &mask).map_err(|e| self.err(e.to_string()))?;
        self.stats.upserts += out.num_rows() as u64;
        Ok(out)
    }

    /// The log rows and deletes that are changes of the read (see [`MergeOutput`]). Keys never
    /// seen in the base file are merged from "absent".
    pub fn finish(mut self) -> LogResult<MergeOutput> {
        let mut rows: Vec<(usize, usize)> = Vec::new();
        let mut delete_indexes: Vec<u32> = Vec::new();
        let mut superseded_prior: Vec<&str> = Vec::new();
        for (key, entry) in &self.keys {
            let f = match entry.resolved {
                Some(f) => f,
                None => Self::finalize(self.fold(State::Absent, &entry.ops)),
            };
            if self.prior.contains_key(key) && f != Final::Absent {
                // this slice holds the key, or deletes it itself
                superseded_prior.push(key);
            }
            match f {
                Final::Row { batch, row } => {
                    let b = &self.log_batches[batch as usize];
                    let ct = b
                        .column_by_name(COMMIT_TIME_COLUMN)
                        .and_then(|c| str_value(c, row as usize));
                    if ct.is_some_and(|t| self.config.admitted.contains(t)) {
                        rows.push((batch as usize, row as usize));
                    }
                }
                Final::Deleted { index } => {
                    if self
                        .config
                        .admitted
                        .contains(&self.deletes[index as usize].instant)
                    {
                        delete_indexes.push(index);
                    }
                }
                Final::Absent | Final::Base => {}
            }
        }
        rows.sort_unstable();
        delete_indexes.sort_unstable();
        let refs: Vec<&RecordBatch> = self.log_batches.iter().collect();
        let mut upserts = Vec::new();
        for chunk in rows.chunks(self.config.batch_size.max(1)) {
            let b = interleave_record_batch(&refs, chunk).map_err(|e| self.err(e.to_string()))?;
            upserts.push(b);
        }
        self.stats.upserts += rows.len() as u64;
        self.stats.deletes += delete_indexes.len() as u64;
        let superseded_prior: Vec<String> =
            superseded_prior.into_iter().map(str::to_string).collect();
        for k in superseded_prior {
            self.prior.remove(&k);
        }
        let mut prior: Vec<DeleteChange> = self.prior.drain().map(|(_, d)| d).collect();
        prior.sort_by(|a, b| a.record_key.cmp(&b.record_key));
        self.stats.deletes += prior.len() as u64;
        let mut deletes = Vec::with_capacity(delete_indexes.len() + prior.len());
        deletes.extend(prior);
        for i in delete_indexes {
            let e = &self.deletes[i as usize];
            deletes.push(DeleteChange {
                record_key: e.record.record_key.clone(),
                partition_path: e.record.partition_path.clone(),
                instant: e.instant.to_string(),
                ordering_value: e.record.ordering_value.clone(),
            });
        }
        Ok(MergeOutput {
            upserts,
            deletes,
            stats: std::mem::take(&mut self.stats),
        })
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{Field, Schema};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(COMMIT_TIME_COLUMN, DataType::Utf8, true),
            Field::new(RECORD_KEY_COLUMN, DataType::Utf8, true),
            Field::new("ts", DataType::Int64, true),
            Field::new("v", DataType::Utf8, true),
        ]))
    }

    /// rows of (commit time, key, ts, value)
    fn batch(rows: &[(&str, &str, Option<i64>, &str)]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(rows.iter().map(|r| Some(r.0)).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| Some(r.1)).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| r.2).collect::<Int64Array>()),
                Arc::new(rows.iter().map(|r| Some(r.3)).collect::<StringArray>()),
            ],
        )
        .unwrap()
    }

    fn del(key: &str, ordering: Option<OrderingValue>) -> DeleteRecord {
        DeleteRecord {
            record_key: key.into(),
            partition_path: "p".into(),
            ordering_value: ordering,
        }
    }

    fn merger(mode: MergeMode, admitted: &[&str]) -> FileGroupMerger {
        let config = MergeConfig {
            mode,
            ordering_fields: vec!["ts".into()],
            admitted: Arc::new(CommitTimes::only(admitted.iter().map(|s| s.to_string()))),
            file_group: "fg-1".into(),
            batch_size: 2,
        };
        FileGroupMerger::new(config, schema()).unwrap()
    }

    type Pairs = Vec<(String, String)>;

    /// (key, value) of upserts (base then log) and (key, instant) of deletes, sorted.
    fn run(mut m: FileGroupMerger, base: &[(&str, &str, Option<i64>, &str)]) -> (Pairs, Pairs) {
        let mut ups = Vec::new();
        let collect = |b: &RecordBatch, ups: &mut Vec<(String, String)>| {
            let k = b
                .column_by_name(RECORD_KEY_COLUMN)
                .unwrap()
                .as_string::<i32>();
            let v = b.column_by_name("v").unwrap().as_string::<i32>();
            for i in 0..b.num_rows() {
                ups.push((k.value(i).to_string(), v.value(i).to_string()));
            }
        };
        // the base in two batches, to exercise streaming
        let base = batch(base);
        let half = base.num_rows() / 2;
        for part in [
            base.slice(0, half),
            base.slice(half, base.num_rows() - half),
        ] {
            let out = m.merge_base_batch(&part).unwrap();
            assert_eq!(out.schema(), schema());
            collect(&out, &mut ups);
        }
        let out = m.finish().unwrap();
        for b in &out.upserts {
            assert!(b.num_rows() <= 2, "batch size honoured");
            collect(b, &mut ups);
        }
        ups.sort();
        let mut dels: Vec<(String, String)> = out
            .deletes
            .iter()
            .map(|d| (d.record_key.clone(), d.instant.clone()))
            .collect();
        dels.sort();
        (ups, dels)
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    const BASE: &[(&str, &str, Option<i64>, &str)] = &[
        ("t0", "k1", Some(5), "base1"),
        ("t0", "k2", Some(5), "base2"),
        ("t0", "k3", Some(5), "base3"),
        ("t1", "k5", Some(5), "base5"), // written in the window, untouched by the log
    ];

    #[test]
    fn event_time_ordering() {
        let mut m = merger(MergeMode::EventTimeOrdering, &["t1", "t2"]);
        m.push_log_batch(
            &batch(&[
                ("t1", "k1", Some(3), "lower"),  // loses to the base row
                ("t1", "k2", Some(5), "tie"),    // tie: the later write wins
                ("t1", "k4", Some(1), "insert"), // only in the log
            ]),
            "t1",
        )
        .unwrap();
        m.push_log_deletes(vec![del("k3", Some(OrderingValue::Int(0)))], "t2")
            .unwrap();
        let (ups, dels) = run(m, BASE);
        assert_eq!(
            ups,
            pairs(&[("k2", "tie"), ("k4", "insert"), ("k5", "base5")])
        );
        assert_eq!(dels, pairs(&[("k3", "t2")]));
    }

    #[test]
    fn event_time_deletes_with_real_ordering_values_compare() {
        let mut m = merger(MergeMode::EventTimeOrdering, &["t1"]);
        m.push_log_deletes(
            vec![
                del("k1", Some(OrderingValue::Long(4))), // base has 5: the delete loses
                del("k2", Some(OrderingValue::Long(6))), // wins
                del("k3", None),                         // natural: wins
                del("k9", Some(OrderingValue::Long(1))), // key nowhere else: still a delete
            ],
            "t1",
        )
        .unwrap();
        let (ups, dels) = run(m, BASE);
        assert_eq!(ups, pairs(&[("k5", "base5")]));
        assert_eq!(dels, pairs(&[("k2", "t1"), ("k3", "t1"), ("k9", "t1")]));
    }

    #[test]
    fn v6_default_payload_deletes_beat_base_rows() {
        let mut m = merger(MergeMode::DefaultPayload, &["t1"]);
        m.push_log_deletes(vec![del("k1", Some(OrderingValue::Long(4)))], "t1")
            .unwrap();
        m.push_log_batch(&batch(&[("t1", "k2", Some(1), "lower")]), "t1")
            .unwrap();
        let (ups, dels) = run(m, BASE);
        assert_eq!(ups, pairs(&[("k5", "base5")]));
        assert_eq!(dels, pairs(&[("k1", "t1")]));
    }

    #[test]
    fn resurrection_after_delete_and_delete_after_upsert() {
        let mut m = merger(MergeMode::EventTimeOrdering, &["t1", "t2", "t3"]);
        m.push_log_deletes(vec![del("k1", Some(OrderingValue::Int(0)))], "t1")
            .unwrap();
        m.push_log_batch(
            &batch(&[("t2", "k1", Some(1), "back"), ("t2", "k2", Some(9), "upd")]),
            "t2",
        )
        .unwrap();
        m.push_log_deletes(vec![del("k2", Some(OrderingValue::Int(0)))], "t3")
            .unwrap();
        let (ups, dels) = run(m, BASE);
        // k1: base(5) -> natural delete -> record(1) resurrects; k2: update then natural delete
        assert_eq!(ups, pairs(&[("k1", "back"), ("k5", "base5")]));
        assert_eq!(dels, pairs(&[("k2", "t3")]));
    }

    #[test]
    fn v6_overwrite_with_latest_log_replaces_base_but_orders_within_log() {
        let mut m = merger(MergeMode::OverwriteWithLatestPayload, &["t2"]);
        m.push_log_batch(
            &batch(&[
                ("t1", "k1", Some(1), "low-but-log"),
                ("t1", "k2", Some(9), "high"),
            ]),
            "t1",
        )
        .unwrap();
        m.push_log_batch(
            &batch(&[
                ("t2", "k2", Some(3), "later-lower"),
                ("t2", "k3", Some(0), "t2-write"),
            ]),
            "t2",
        )
        .unwrap();
        let (ups, dels) = run(m, BASE);
        // k1's winner was written at t1 (not admitted); k2 keeps the higher t1 version
        assert_eq!(ups, pairs(&[("k3", "t2-write")]));
        assert!(dels.is_empty());

        let mut m = merger(MergeMode::OverwriteWithLatestPayload, &["t1"]);
        m.push_log_batch(&batch(&[("t1", "k1", Some(1), "low-but-log")]), "t1")
            .unwrap();
        let (ups, _) = run(m, BASE);
        assert_eq!(ups, pairs(&[("k1", "low-but-log"), ("k5", "base5")]));
    }

    #[test]
    fn commit_time_ordering_ignores_ordering_values() {
        let mut m = merger(MergeMode::CommitTimeOrdering, &["t1", "t2"]);
        m.push_log_batch(
            &batch(&[("t1", "k1", Some(1), "a"), ("t1", "k2", Some(100), "b")]),
            "t1",
        )
        .unwrap();
        m.push_log_batch(&batch(&[("t2", "k2", Some(1), "c")]), "t2")
            .unwrap();
        m.push_log_deletes(vec![del("k3", Some(OrderingValue::Long(1)))], "t2")
            .unwrap();
        let (ups, dels) = run(m, BASE);
        assert_eq!(ups, pairs(&[("k1", "a"), ("k2", "c"), ("k5", "base5")]));
        assert_eq!(dels, pairs(&[("k3", "t2")]));
    }

    fn prior(key: &str, instant: &str) -> DeleteChange {
        DeleteChange {
            record_key: key.into(),
            partition_path: "p".into(),
            instant: instant.into(),
            ordering_value: None,
        }
    }

    #[test]
    fn prior_deletes_are_reported_unless_the_slice_holds_or_deletes_the_key() {
        let mut m = merger(MergeMode::EventTimeOrdering, &["t1", "t2", "t3"]);
        // the slice after a compaction: k7 re-inserted in its log, k6 deleted again
        m.push_log_batch(&batch(&[("t3", "k7", Some(1), "back")]), "t3")
            .unwrap();
        m.push_log_deletes(vec![del("k6", None)], "t3").unwrap();
        m.add_prior_deletes(vec![
            prior("k1", "t1"), // the compacted base still holds k1 (the delete lost)
            prior("k6", "t1"),
            prior("k7", "t1"),
            prior("k8", "t1"), // gone from the slice: reported
            prior("k8", "t2"), // a later prior delete of the same key replaces the earlier
        ])
        .unwrap();
        assert!(m.needs_base_row("k1") && m.needs_base_row("k7") && !m.needs_base_row("k2"));
        let keys: std::collections::HashSet<&str> = m.keys_needing_base_rows().collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        let (ups, dels) = run(m, BASE);
        assert_eq!(ups, pairs(&[("k5", "base5"), ("k7", "back")]));
        assert_eq!(dels, pairs(&[("k6", "t3"), ("k8", "t2")]));

        // prior deletes must come before the base
        let mut m = merger(MergeMode::EventTimeOrdering, &["t1"]);
        m.merge_base_batch(&batch(BASE)).unwrap();
        assert!(m.add_prior_deletes(vec![prior("k1", "t1")]).is_err());
    }

    #[test]
    fn misuse_and_missing_keys_are_errors() {
        let mut m = merger(MergeMode::EventTimeOrdering, &["t1"]);
        m.merge_base_batch(&batch(BASE)).unwrap();
        assert!(matches!(
            m.push_log_batch(&batch(&[("t1", "k1", None, "x")]), "t1"),
            Err(LogError::Merge { .. })
        ));

        let mut m = merger(MergeMode::EventTimeOrdering, &["t1"]);
        let no_key = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from(vec![Some("t1")])),
                Arc::new(StringArray::from(vec![None::<&str>])),
                Arc::new(Int64Array::from(vec![Some(1)])),
                Arc::new(StringArray::from(vec![Some("x")])),
            ],
        )
        .unwrap();
        assert!(
            m.push_log_batch(&no_key, "t1")
                .unwrap_err()
                .to_string()
                .contains("_hoodie_record_key")
        );

        let bad_schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Utf8, true)]));
        let config = MergeConfig {
            mode: MergeMode::EventTimeOrdering,
            ordering_fields: vec![],
            admitted: Arc::new(CommitTimes::only(Vec::new())),
            file_group: "fg".into(),
            batch_size: 10,
        };
        assert!(FileGroupMerger::new(config, bad_schema).is_err());
    }
}
