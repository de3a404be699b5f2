//! Merge-on-read file slices: the change rows of one file slice whose log files must be merged
//! with its base file (hudi-format.md 6.5–6.7, 9.2, 9.4).
//!
//! For a slice as of the window end:
//! 1. the valid blocks of its log files are chosen from their headers
//!    ([`crate::log::scan_slice`]: blocks of instants visible at the window end, minus rolled-back
//!    and log-compacted ones), then decoded into one file group's in-memory log side;
//! 2. deletes recorded within the window by log files that are not part of the slice any more
//!    ([`FileSlice::window_log_files`]: an older slice compacted within the window, or a group
//!    replaced by the window end) are folded separately and reported unless the slice still
//!    holds their key;
//! 3. the base file is streamed and merged key by key by the table's merge rule: rows written
//!    by an admitted instant are decoded in full; of older rows only those whose key occurs in
//!    the log, and only their key, commit time and ordering columns (such a row is never a
//!    change itself; the merge only needs it to decide whether the log's version wins);
//! 4. the rows whose latest version was written by an admitted instant are upserts; keys whose
//!    latest version is a delete written by an admitted instant are delete rows
//!    ([`crate::log::delete_change_batch`]: meta columns, record-key columns parsed from the key,
//!    the ordering field when the delete carries one).
//!
//! A delete and a later upsert of the same key in one window yield the upsert only; an insert
//! and a later delete within one window yield a delete row (a sink ignores deletes of keys it
//! does not hold). Compaction adds no rows of its own: compacted rows keep their commit times.
//!
//! Memory: one file group's valid log rows and one entry per log key (see
//! [`crate::log::merge`]), plus one base-file row group at a time.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use hps_storage::{DynStore, ParquetObjectReader};
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, RowFilter,
};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use tracing::debug;

use crate::columns::{
    COMMIT_TIME_COLUMN, META_COLUMNS, OP_COLUMN, OP_UPSERT, PARTITION_PATH_COLUMN,
    RECORD_KEY_COLUMN,
};
use crate::config::{KeyGenerator, TableConfig};
use crate::convert::{conform_batch, unify, with_table_types};
use crate::error::{HudiError, Result};
use crate::instant::CommitTimes;
use crate::log::{
    BlockType, DataBlockOptions, DataBlockReader, DeleteRowSpec, FileGroupMerger,
    InstantVisibility, KeyEncoding, LogBlock, LogError, LogFileRef, LogReaderOptions, MergeConfig,
    MergeMode, avro_schema_to_arrow, delete_change_batch, scan_slice,
};
use crate::plan::{FileSlice, LogFile, LogVisibility};
use crate::reader::{DEFAULT_BATCH_SIZE, ErrCtx, TimeSet, change_schema, commit_time_mask_in};

/// What a MOR slice read needs besides the slice: the table configuration and which instants'
/// log blocks count as of the window end.
#[derive(Debug)]
pub(crate) struct MorContext {
    pub config: Arc<TableConfig>,
    pub visibility: LogVisibility,
    /// The table schema every column is converted to (see [`crate::convert`]).
    pub table_schema: Option<SchemaRef>,
}

impl InstantVisibility for LogVisibility {
    fn is_visible(&self, instant: &str) -> bool {
        LogVisibility::is_visible(self, instant)
    }
}

/// Whether `slice` needs the MOR path (it has log files to merge or window deletes to report).
pub(crate) fn needs_merge(slice: &FileSlice) -> bool {
    !slice.log_files.is_empty() || !slice.window_log_files.is_empty()
}

/// The merge rule of a table (hudi-format.md 6.7).
pub fn merge_mode(config: &TableConfig, table: &str) -> Result<MergeMode> {
    let refuse = |what: String| HudiError::NotYetSupported {
        table: table.to_string(),
        what,
    };
    if let Some(mode) = &config.record_merge_mode {
        return match mode.trim().to_ascii_uppercase().as_str() {
            "EVENT_TIME_ORDERING" => Ok(MergeMode::EventTimeOrdering),
            "COMMIT_TIME_ORDERING" => Ok(MergeMode::CommitTimeOrdering),
            other => Err(refuse(format!(
                "merging merge-on-read log files with hoodie.record.merge.mode={other} \
                 (only EVENT_TIME_ORDERING and COMMIT_TIME_ORDERING are implemented)"
            ))),
        };
    }
    let payload = config
        .payload_class
        .as_deref()
        .map(|p| p.rsplit('.').next().unwrap_or(p).trim());
    let v6 = config.table_version < 8;
    match payload {
        None | Some("OverwriteWithLatestAvroPayload") if v6 => {
            Ok(MergeMode::OverwriteWithLatestPayload)
        }
        // Hudi 1.x infers the merge mode of tables without one from the payload
        None if !config.ordering_fields.is_empty() => Ok(MergeMode::EventTimeOrdering),
        None | Some("OverwriteWithLatestAvroPayload") => Ok(MergeMode::CommitTimeOrdering),
        Some("DefaultHoodieRecordPayload" | "EventTimeAvroPayload") => Ok(if v6 {
            MergeMode::DefaultPayload
        } else {
            MergeMode::EventTimeOrdering
        }),
        Some(other) => Err(refuse(format!(
            "merging merge-on-read log files with payload class {other} \
             (only OverwriteWithLatestAvroPayload, DefaultHoodieRecordPayload and \
             EventTimeAvroPayload are implemented)"
        ))),
    }
}

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

/// Where a MOR slice read stands.
struct Ctx {
    store: DynStore,
    table: String,
    slice: FileSlice,
    admitted: Arc<CommitTimes>,
    batch_size: usize,
}

impl Ctx {
    fn group(&self) -> String {
        if self.slice.partition_path.is_empty() {
            self.slice.file_id.clone()
        } else {
            format!("{}/{}", self.slice.partition_path, self.slice.file_id)
        }
    }

    /// A log-layer error with the table's context.
    fn log_err(&self, e: LogError) -> HudiError {
        let table = self.table.clone();
        if e.is_not_found() {
            return HudiError::HistoryNotRetained {
                table,
                file: format!("a log file of file group {}", self.group()),
                instant: self.slice.last_written_by.clone(),
                hint: format!(
                    "{e}; the log file disappeared before it was read (cleaned or rolled back): \
                     resync the table (full snapshot)"
                ),
            };
        }
        match e {
            LogError::Storage { source, .. } => HudiError::Storage { table, source },
            LogError::Unsupported { .. }
            | LogError::UnsupportedBlockType { .. }
            | LogError::UnsupportedFormatVersion { .. }
            | LogError::UnsupportedContentVersion { .. } => HudiError::NotYetSupported {
                table,
                what: e.to_string(),
            },
            other => HudiError::ReadFailed {
                table,
                file: format!("log files of file group {}", self.group()),
                transient: other.is_transient(),
                reason: other.to_string(),
            },
        }
    }
}

fn refs(files: &[LogFile]) -> Vec<LogFileRef> {
    files
        .iter()
        .map(|l| LogFileRef {
            path: l.path.clone(),
            size: l.size,
        })
        .collect()
}

/// The row schema of a slice without a base file: from the first block's `SCHEMA` header, or
/// the first parquet data block, or (deletes only, no schema anywhere) the meta columns.
async fn log_only_schema(
    store: &DynStore,
    blocks: &[&LogBlock],
    opts: &DataBlockOptions,
) -> std::result::Result<Schema, LogError> {
    for b in blocks {
        if let Some(s) = b.header.schema()
            && let Ok(schema) = avro_schema_to_arrow(s)
        {
            return Ok(schema);
        }
    }
    if let Some(b) = blocks
        .iter()
        .find(|b| b.block_type == BlockType::ParquetData)
    {
        let r = DataBlockReader::open(store, b, None, opts).await?;
        return Ok(r.schema().as_ref().clone());
    }
    Ok(Schema::new(
        META_COLUMNS
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// `schema` evolved by the log blocks' `SCHEMA` headers (schema evolution after the base file
/// was written): columns only the logs carry are appended as nullable in block order, and
/// columns whose type the logs changed take the common type of both
/// ([`crate::convert::unify`]: the wider number, the annotated timestamp or date over a plain
/// number, the number over a string; base rows are converted on read). Columns the logs no
/// longer carry stay (null in their rows). The table schema, when known, overrides these
/// types afterwards.
fn with_log_columns<'a>(schema: Schema, blocks: impl Iterator<Item = &'a LogBlock>) -> Schema {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut names: HashSet<String> = fields.iter().map(|f| f.name().clone()).collect();
    let mut parsed: HashSet<&str> = HashSet::new();
    for b in blocks {
        let Some(json) = b.header.schema() else {
            continue;
        };
        if !parsed.insert(json) {
            continue;
        }
        // an unusable schema fails later, where the block is decoded
        let Ok(log_schema) = avro_schema_to_arrow(json) else {
            continue;
        };
        for f in log_schema.fields() {
            if names.insert(f.name().clone()) {
                fields.push(f.as_ref().clone().with_nullable(true));
            } else if let Some(existing) = fields.iter_mut().find(|e| e.name() == f.name())
                && existing.data_type() != f.data_type()
                && let Some(common) = unify(existing.data_type(), f.data_type())
            {
                *existing = existing.clone().with_data_type(common).with_nullable(true);
            }
        }
    }
    Schema::new(fields)
}

/// `schema` restricted to `keep` (file order).
fn project_schema(schema: &Schema, keep: &dyn Fn(&str) -> bool) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| keep(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    ))
}

/// Select the output columns of a merged batch and append `_op = "upsert"`.
fn to_output(out: &SchemaRef, batch: &RecordBatch) -> std::result::Result<RecordBatch, String> {
    let n = batch.num_rows();
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(out.fields().len());
    for f in out.fields().iter().take(out.fields().len() - 1) {
        let c = batch
            .column_by_name(f.name())
            .ok_or_else(|| format!("merged rows lack column {}", f.name()))?;
        cols.push(c.clone());
    }
    cols.push(Arc::new(StringArray::from_iter_values(
        std::iter::repeat_n(OP_UPSERT, n),
    )));
    RecordBatch::try_new(out.clone(), cols).map_err(|e| e.to_string())
}

/// Record keys the base read looks up for every row: a fast hasher.
type KeySet = HashSet<Box<str>, foldhash::fast::RandomState>;

/// A meta column of a filter batch.
fn meta_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> std::result::Result<&'a ArrayRef, arrow_schema::ArrowError> {
    batch.column_by_name(name).ok_or_else(|| {
        arrow_schema::ArrowError::SchemaError(format!("{name} missing from the filter batch"))
    })
}

fn str_at(col: &ArrayRef, row: usize) -> Option<&str> {
    use arrow_array::cast::AsArray;
    if col.is_null(row) {
        return None;
    }
    match col.data_type() {
        DataType::Utf8 => Some(col.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Some(col.as_string::<i64>().value(row)),
        DataType::Utf8View => Some(col.as_string_view().value(row)),
        _ => None,
    }
}

/// Open the change-row stream of a MOR slice.
pub(crate) async fn open_slice(
    store: DynStore,
    table: String,
    slice: FileSlice,
    admitted: Arc<CommitTimes>,
    columns: Option<Vec<String>>,
    batch_size: usize,
    mor: Arc<MorContext>,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let batch_size = if batch_size == 0 {
        DEFAULT_BATCH_SIZE
    } else {
        batch_size
    };
    let ctx = Ctx {
        store,
        table,
        slice,
        admitted,
        batch_size,
    };
    let config = &mor.config;
    let mode = merge_mode(config, &ctx.table)?;
    let spec = delete_row_spec(config);
    let block_opts = DataBlockOptions {
        batch_size,
        ..DataBlockOptions::default()
    };
    let log_opts = LogReaderOptions::default();

    // 1. the slice's valid log blocks, headers only
    let scan = scan_slice(
        &ctx.store,
        &refs(&ctx.slice.log_files),
        &mor.visibility,
        &log_opts,
    )
    .await
    .map_err(|e| ctx.log_err(e))?;
    // 2. blocks of the window's log files outside the slice (admitted instants only)
    let window_blocks: Vec<LogBlock> = if ctx.slice.window_log_files.is_empty() {
        Vec::new()
    } else {
        scan_slice(
            &ctx.store,
            &refs(&ctx.slice.window_log_files),
            &mor.visibility,
            &log_opts,
        )
        .await
        .map_err(|e| ctx.log_err(e))?
        .blocks
        .into_iter()
        .filter(|b| b.instant_time().is_some_and(|t| ctx.admitted.contains(t)))
        .collect()
    };
    let window_deletes = window_blocks
        .iter()
        .any(|b| b.block_type == BlockType::Delete);

    // the row schema: the base file's, else the logs'
    let base_meta = match &ctx.slice.base_file {
        Some(base) => {
            let err = ErrCtx {
                table: ctx.table.clone(),
                base: base.clone(),
            };
            let mut reader =
                ParquetObjectReader::new(ctx.store.clone(), base.path.clone(), base.size);
            let md = reader.load_metadata().await.map_err(|e| err.map(e))?;
            let arm = ArrowReaderMetadata::try_new(
                md,
                ArrowReaderOptions::new().with_skip_arrow_metadata(true),
            )
            .map_err(|e| err.map(e))?;
            Some((reader, arm, err))
        }
        None => None,
    };
    let file_schema: Schema = match &base_meta {
        Some((_, arm, _)) => arm.schema().as_ref().clone(),
        None => {
            let all: Vec<&LogBlock> = scan.blocks.iter().chain(window_blocks.iter()).collect();
            log_only_schema(&ctx.store, &all, &block_opts)
                .await
                .map_err(|e| ctx.log_err(e))?
        }
    };
    let file_schema = with_log_columns(
        Schema::new(file_schema.fields().clone()),
        scan.blocks.iter().chain(window_blocks.iter()),
    );
    // one type per column over the table's life: the table schema decides
    let file_schema = match &mor.table_schema {
        Some(t) => with_table_types(&file_schema, t),
        None => file_schema,
    };
    if let Some(cols) = &columns {
        for c in cols {
            if c != OP_COLUMN && file_schema.field_with_name(c).is_err() {
                return Err(HudiError::UnknownColumn {
                    table: ctx.table.clone(),
                    column: c.clone(),
                    file: ctx
                        .slice
                        .base_file
                        .as_ref()
                        .map(|b| b.path.clone())
                        .unwrap_or_else(|| format!("log files of file group {}", ctx.group())),
                });
            }
        }
    }
    let wanted = |name: &str| {
        columns
            .as_ref()
            .is_none_or(|cols| cols.iter().any(|c| c == name))
    };
    let out_schema = change_schema(&project_schema(&file_schema, &wanted));
    // the merge needs the key, commit time and ordering columns whatever the projection; every
    // column nullable (overlaid base rows are read with the merge's columns only)
    let merge_schema = project_schema(&file_schema, &|name: &str| {
        wanted(name)
            || [RECORD_KEY_COLUMN, COMMIT_TIME_COLUMN, PARTITION_PATH_COLUMN].contains(&name)
            || config.ordering_fields.iter().any(|f| f == name)
    });
    let merge_schema: SchemaRef = Arc::new(Schema::new(
        merge_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let ordering_fields: Vec<String> = config
        .ordering_fields
        .iter()
        .filter(|f| merge_schema.field_with_name(f).is_ok())
        .cloned()
        .collect();
    let merge_config = MergeConfig {
        mode,
        ordering_fields,
        admitted: ctx.admitted.clone(),
        file_group: ctx.group(),
        batch_size,
    };

    // 3. the log side
    let mut merger = FileGroupMerger::new(merge_config.clone(), merge_schema.clone())
        .map_err(|e| ctx.log_err(e))?;
    for block in &scan.blocks {
        merger
            .push_block(&ctx.store, block, &block_opts)
            .await
            .map_err(|e| ctx.log_err(e))?;
    }
    if window_deletes {
        // fold the window's writes of the older slices from "absent": keys whose last
        // version there is a delete
        let mut prior =
            FileGroupMerger::new(merge_config, merge_schema.clone()).map_err(|e| ctx.log_err(e))?;
        for block in &window_blocks {
            prior
                .push_block(&ctx.store, block, &block_opts)
                .await
                .map_err(|e| ctx.log_err(e))?;
        }
        let out = prior.finish().map_err(|e| ctx.log_err(e))?;
        merger
            .add_prior_deletes(out.deletes)
            .map_err(|e| ctx.log_err(e))?;
    }
    debug!(
        group = %ctx.group(),
        blocks = scan.blocks.len(),
        window_blocks = window_blocks.len(),
        stats = ?merger.stats(),
        "log side of the file slice loaded"
    );

    // 4. the base file, streamed through the merger
    let base_stream: BoxStream<'static, Result<RecordBatch>> = match base_meta {
        None => futures::stream::empty().boxed(),
        Some((_, arm, err)) => {
            let schema_descr = arm.metadata().file_metadata().schema_descr_ptr();
            let leaf = |name: &str| {
                (0..schema_descr.num_columns())
                    .find(|i| schema_descr.column(*i).path().string() == name)
            };
            let (Some(ct_leaf), Some(key_leaf)) =
                (leaf(COMMIT_TIME_COLUMN), leaf(RECORD_KEY_COLUMN))
            else {
                return Err(HudiError::IncrementalUnsupported {
                    table: ctx.table.clone(),
                    reason: format!(
                        "{} lacks {COMMIT_TIME_COLUMN} or {RECORD_KEY_COLUMN} (written without meta fields?)",
                        err.base.path
                    ),
                });
            };
            let arrow_schema = arm.schema().clone();
            let roots_of = |keep: &dyn Fn(&str) -> bool| -> Vec<usize> {
                merge_schema
                    .fields()
                    .iter()
                    .filter(|f| keep(f.name()))
                    .filter_map(|f| arrow_schema.index_of(f.name()).ok())
                    .collect()
            };
            let keys: Arc<KeySet> =
                Arc::new(merger.keys_needing_base_rows().map(Box::from).collect());
            let times = TimeSet::new(&ctx.admitted);
            let md = arm.metadata().clone();
            let mut sorted_keys: Vec<&str> = keys.iter().map(AsRef::as_ref).collect();
            sorted_keys.sort_unstable();
            let range = |rg: usize, leaf: usize| {
                md.row_group(rg)
                    .column(leaf)
                    .statistics()
                    .and_then(|s| Some((s.min_bytes_opt()?, s.max_bytes_opt()?)))
            };
            // row groups that may hold rows written by an admitted instant
            let written: Vec<usize> = (0..md.num_row_groups())
                .filter(|rg| {
                    range(*rg, ct_leaf).is_none_or(|(min, max)| times.any_within(min, max))
                })
                .collect();
            // row groups that may hold older rows of keys the log side overlays
            let overlaid: Vec<usize> = if keys.is_empty() {
                Vec::new()
            } else {
                (0..md.num_row_groups())
                    .filter(|rg| {
                        range(*rg, key_leaf).is_none_or(|(min, max)| {
                            let from = sorted_keys.partition_point(|k| k.as_bytes() < min);
                            sorted_keys.get(from).is_some_and(|k| k.as_bytes() <= max)
                        })
                    })
                    .collect()
            };
            drop(sorted_keys);
            debug!(
                file = %err.base.path,
                row_groups = md.num_row_groups(),
                written = written.len(),
                overlaid = overlaid.len(),
                "base row groups pruned"
            );
            let err = Arc::new(err);
            let open = |row_groups: Vec<usize>,
                        roots: Vec<usize>,
                        predicate: Box<dyn ArrowPredicate>|
             -> Result<BoxStream<'static, Result<RecordBatch>>> {
                let reader = ParquetObjectReader::new(
                    ctx.store.clone(),
                    err.base.path.clone(),
                    err.base.size,
                )
                .with_metadata(md.clone());
                let e2 = err.clone();
                Ok(
                    ParquetRecordBatchStreamBuilder::new_with_metadata(reader, arm.clone())
                        .with_row_groups(row_groups)
                        .with_projection(ProjectionMask::roots(&schema_descr, roots))
                        .with_row_filter(RowFilter::new(vec![predicate]))
                        .with_batch_size(batch_size)
                        .build()
                        .map_err(|e| err.map(e))?
                        .map_err(move |e| e2.map(e))
                        .boxed(),
                )
            };
            // 1. rows written by an admitted instant: every merge column (they may be changes)
            let mut parts: Vec<BoxStream<'static, Result<RecordBatch>>> = Vec::new();
            if !written.is_empty() {
                let t = times.clone();
                parts.push(open(
                    written,
                    roots_of(&|_| true),
                    Box::new(ArrowPredicateFn::new(
                        ProjectionMask::leaves(&schema_descr, [ct_leaf]),
                        move |batch: RecordBatch| {
                            let ct = meta_column(&batch, COMMIT_TIME_COLUMN)?;
                            commit_time_mask_in(ct, &t)
                        },
                    )),
                )?);
            }
            // 2. older rows whose key the log side overlays: only what the merge compares (key,
            //    commit time, ordering fields). Such a row is never a change itself — when it
            //    wins the merge, the key did not change in the window —, so the merger only
            //    needs it to decide whether the log's version wins; its other columns stay null.
            if !overlaid.is_empty() {
                let (t, k) = (times.clone(), keys.clone());
                let ordering = config.ordering_fields.clone();
                parts.push(open(
                    overlaid,
                    roots_of(&|name: &str| {
                        [RECORD_KEY_COLUMN, COMMIT_TIME_COLUMN].contains(&name)
                            || ordering.iter().any(|f| f == name)
                    }),
                    Box::new(ArrowPredicateFn::new(
                        ProjectionMask::leaves(&schema_descr, [ct_leaf, key_leaf]),
                        move |batch: RecordBatch| {
                            let ct = meta_column(&batch, COMMIT_TIME_COLUMN)?;
                            let key = meta_column(&batch, RECORD_KEY_COLUMN)?;
                            Ok((0..batch.num_rows())
                                .map(|i| {
                                    Some(
                                        str_at(key, i).is_some_and(|x| k.contains(x))
                                            && !str_at(ct, i).is_some_and(|c| t.contains(c)),
                                    )
                                })
                                .collect::<BooleanArray>())
                        },
                    )),
                )?);
            }
            futures::stream::iter(parts).flatten().boxed()
        }
    };

    Ok(merged_stream(
        ctx,
        merger,
        base_stream,
        out_schema,
        merge_schema,
        spec,
    ))
}

/// The state of a slice's merged stream: base batches through the merger, then the log rows
/// and the deletes.
struct MergedSlice {
    merger: Option<FileGroupMerger>,
    base: BoxStream<'static, Result<RecordBatch>>,
    out_schema: SchemaRef,
    /// The merger's row schema (base batches are converted to it)
    merge_schema: SchemaRef,
    spec: DeleteRowSpec,
    table: String,
    group: String,
    /// The base file's path (for conversion errors).
    base_file: String,
    batch_size: usize,
}

impl MergedSlice {
    fn err(&self, reason: String) -> HudiError {
        HudiError::ReadFailed {
            table: self.table.clone(),
            file: format!("file group {}", self.group),
            reason,
            transient: false,
        }
    }

    /// The next output batches; `None` at the end.
    async fn next(&mut self) -> Result<Option<Vec<RecordBatch>>> {
        if self.merger.is_none() {
            return Ok(None);
        }
        while let Some(batch) = self.base.try_next().await? {
            let batch = conform_batch(&batch, &self.merge_schema).map_err(|source| {
                HudiError::TypeConversion {
                    table: self.table.clone(),
                    file: self.base_file.clone(),
                    source: Box::new(source),
                }
            })?;
            let changed = match self.merger.as_mut() {
                Some(m) => m.merge_base_batch(&batch),
                None => return Ok(None),
            };
            let changed = changed.map_err(|e| self.err(e.to_string()))?;
            if changed.num_rows() > 0 {
                let out = to_output(&self.out_schema, &changed).map_err(|e| self.err(e))?;
                return Ok(Some(vec![out]));
            }
        }
        let Some(merger) = self.merger.take() else {
            return Ok(None);
        };
        let out = merger.finish().map_err(|e| self.err(e.to_string()))?;
        let mut batches = Vec::with_capacity(out.upserts.len() + 1);
        for b in &out.upserts {
            batches.push(to_output(&self.out_schema, b).map_err(|e| self.err(e))?);
        }
        for chunk in out.deletes.chunks(self.batch_size.max(1)) {
            batches.push(
                delete_change_batch(&self.out_schema, chunk, &self.spec)
                    .map_err(|e| self.err(e))?,
            );
        }
        debug!(group = %self.group, stats = ?out.stats, "file slice merged");
        Ok(Some(batches))
    }
}

/// Base batches through the merger, then the log rows and the deletes.
fn merged_stream(
    ctx: Ctx,
    merger: FileGroupMerger,
    base: BoxStream<'static, Result<RecordBatch>>,
    out_schema: SchemaRef,
    merge_schema: SchemaRef,
    spec: DeleteRowSpec,
) -> BoxStream<'static, Result<RecordBatch>> {
    let state = MergedSlice {
        merger: Some(merger),
        base,
        out_schema,
        merge_schema,
        spec,
        group: ctx.group(),
        base_file: ctx
            .slice
            .base_file
            .as_ref()
            .map(|b| b.path.clone())
            .unwrap_or_default(),
        table: ctx.table,
        batch_size: ctx.batch_size,
    };
    futures::stream::try_unfold(state, |mut state| async move {
        Ok(state.next().await?.map(|batches| (batches, state)))
    })
    .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
    .try_flatten()
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(props: &str) -> TableConfig {
        TableConfig::parse("t", props.as_bytes()).unwrap()
    }

    #[test]
    fn merge_modes_from_table_config() {
        for (props, mode) in [
            (
                "hoodie.table.version=9\nhoodie.record.merge.mode=EVENT_TIME_ORDERING\n",
                Some(MergeMode::EventTimeOrdering),
            ),
            (
                "hoodie.table.version=8\nhoodie.record.merge.mode=commit_time_ordering\n",
                Some(MergeMode::CommitTimeOrdering),
            ),
            (
                "hoodie.table.version=9\nhoodie.record.merge.mode=CUSTOM\n",
                None,
            ),
            (
                "hoodie.table.version=6\n",
                Some(MergeMode::OverwriteWithLatestPayload),
            ),
            (
                "hoodie.table.version=6\nhoodie.compaction.payload.class=org.apache.hudi.common.model.OverwriteWithLatestAvroPayload\n",
                Some(MergeMode::OverwriteWithLatestPayload),
            ),
            (
                "hoodie.table.version=6\nhoodie.compaction.payload.class=org.apache.hudi.common.model.DefaultHoodieRecordPayload\n",
                Some(MergeMode::DefaultPayload),
            ),
            (
                "hoodie.table.version=6\nhoodie.compaction.payload.class=org.apache.hudi.common.model.AWSDmsAvroPayload\n",
                None,
            ),
            (
                "hoodie.table.version=8\nhoodie.compaction.payload.class=org.apache.hudi.common.model.OverwriteWithLatestAvroPayload\n",
                Some(MergeMode::CommitTimeOrdering),
            ),
            (
                "hoodie.table.version=8\nhoodie.table.precombine.field=ts\n",
                Some(MergeMode::EventTimeOrdering),
            ),
            (
                "hoodie.table.version=9\n",
                Some(MergeMode::CommitTimeOrdering),
            ),
        ] {
            let got = merge_mode(&config(props), "t");
            match mode {
                Some(m) => assert_eq!(got.unwrap(), m, "{props}"),
                None => assert!(
                    matches!(got, Err(HudiError::NotYetSupported { .. })),
                    "{props}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn delete_rows_parse_keys_per_key_generator() {
        let simple = delete_row_spec(&config(
            "hoodie.table.version=9\nhoodie.table.recordkey.fields=id\nhoodie.table.keygenerator.type=SIMPLE\n",
        ));
        assert_eq!(simple.encoding, KeyEncoding::Simple);
        let complex = delete_row_spec(&config(
            "hoodie.table.version=6\nhoodie.table.recordkey.fields=id,name\n\
             hoodie.table.keygenerator.class=org.apache.hudi.keygen.NonpartitionedKeyGenerator\n",
        ));
        assert_eq!(complex.encoding, KeyEncoding::Complex);
        let single_complex = delete_row_spec(&config(
            "hoodie.table.version=6\nhoodie.table.recordkey.fields=id\n\
             hoodie.table.keygenerator.class=org.apache.hudi.keygen.ComplexKeyGenerator\n",
        ));
        assert_eq!(single_complex.encoding, KeyEncoding::Complex);
    }
}
