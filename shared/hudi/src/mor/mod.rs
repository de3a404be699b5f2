//! Merge-on-read file slices: the change rows of one file slice whose log files must be merged
//! with its base file (docs/hudi-format.md §4–5, §6.2, §6.4).
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

mod base;
mod output;
mod schema;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use futures::StreamExt;
use futures::stream::BoxStream;
use hps_storage::DynStore;
use tracing::debug;

use crate::change_rows::DEFAULT_BATCH_SIZE;
use crate::columns::OP_COLUMN;
use crate::config::{KeyGenerator, TableConfig};
use crate::convert::with_table_types;
use crate::error::{HudiError, Result};
use crate::instant::CommitTimes;
use crate::log::{
    BlockType, DataBlockOptions, DeleteRowSpec, FileGroupMerger, InstantVisibility, KeyEncoding,
    LogBlock, LogError, LogFileRef, LogReaderOptions, MergeConfig, MergeMode, SliceScan,
    scan_slice,
};
use crate::plan::{FileSlice, LogFile, LogVisibility};

use crate::base_file::BaseFooter;
use base::stream_base;
use output::merged_stream;
use schema::{SliceSchemas, log_only_schema, with_log_columns};

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

/// The merge rule of a table (docs/hudi-format.md §5).
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
        // AWSDmsAvroPayload is OverwriteWithLatestAvroPayload whose `Op = D` rows are deletes
        // (`deletes::dms_deletes`)
        None | Some("OverwriteWithLatestAvroPayload" | "AWSDmsAvroPayload") if v6 => {
            Ok(MergeMode::OverwriteWithLatestPayload)
        }
        // Hudi 1.x infers the merge mode of tables without one from the payload
        None if !config.ordering_fields.is_empty() => Ok(MergeMode::EventTimeOrdering),
        None | Some("OverwriteWithLatestAvroPayload" | "AWSDmsAvroPayload") => {
            Ok(MergeMode::CommitTimeOrdering)
        }
        // the oldest tables' payload (com.uber.hoodie, Hudi 0.4–0.5): `preCombine` keeps the
        // newer record and `combineAndGetUpdateValue` returns the log record, without an
        // ordering value, so the later write wins
        Some("HoodieAvroPayload") => Ok(MergeMode::CommitTimeOrdering),
        Some("DefaultHoodieRecordPayload" | "EventTimeAvroPayload") => Ok(if v6 {
            MergeMode::DefaultPayload
        } else {
            MergeMode::EventTimeOrdering
        }),
        Some(other) => Err(refuse(format!(
            "merging merge-on-read log files with payload class {other} \
             (only OverwriteWithLatestAvroPayload, DefaultHoodieRecordPayload, \
             EventTimeAvroPayload, AWSDmsAvroPayload and HoodieAvroPayload are implemented)"
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
    let block_opts = DataBlockOptions {
        batch_size,
        ..DataBlockOptions::default()
    };
    let logs = LogSide::scan(&ctx, &mor).await?;
    let footer = match &ctx.slice.base_file {
        Some(base) => Some(BaseFooter::load(&ctx.store, &ctx.table, base).await?),
        None => None,
    };
    let file_schema = file_schema(&ctx, &mor, &logs, footer.as_ref(), &block_opts).await?;
    let columns = columns.map(|cols| {
        cols.into_iter()
            .filter(|c| {
                !crate::change_rows::added_after(&file_schema, mor.table_schema.as_deref(), c)
            })
            .collect::<Vec<_>>()
    });
    check_columns(&ctx, &file_schema, columns.as_deref())?;
    let schemas = SliceSchemas::new(&file_schema, columns.as_deref(), &config.ordering_fields);
    let merge_config = MergeConfig {
        mode,
        ordering_fields: schemas.ordering_fields(&config.ordering_fields),
        admitted: ctx.admitted.clone(),
        file_group: ctx.group(),
        batch_size,
    };
    let merger = logs
        .load(&ctx, merge_config, &schemas.merge, &block_opts)
        .await?;
    let base = match footer {
        None => futures::stream::empty().boxed(),
        Some(f) => stream_base(&ctx, f, &merger, &schemas.merge, &config.ordering_fields)?,
    };
    let spec = delete_row_spec(config);
    Ok(merged_stream(
        ctx,
        merger,
        base,
        schemas.out,
        schemas.merge,
        spec,
    ))
}

/// The log blocks of a slice read, headers only: the slice's valid blocks and the admitted
/// blocks of the window's log files outside the slice.
struct LogSide {
    scan: SliceScan,
    window_blocks: Vec<LogBlock>,
}

impl LogSide {
    async fn scan(ctx: &Ctx, mor: &MorContext) -> Result<LogSide> {
        let log_opts = LogReaderOptions::default();
        let scan = scan_slice(
            &ctx.store,
            &refs(&ctx.slice.log_files),
            &mor.visibility,
            &log_opts,
        )
        .await
        .map_err(|e| ctx.log_err(e))?;
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
        Ok(LogSide {
            scan,
            window_blocks,
        })
    }

    fn blocks(&self) -> impl Iterator<Item = &LogBlock> {
        self.scan.blocks.iter().chain(self.window_blocks.iter())
    }

    /// The log side in a merger: the slice's blocks, plus the deletes the window's log files
    /// outside the slice recorded, folded from "absent" (keys whose last version there is a
    /// delete).
    async fn load(
        &self,
        ctx: &Ctx,
        merge_config: MergeConfig,
        merge_schema: &SchemaRef,
        block_opts: &DataBlockOptions,
    ) -> Result<FileGroupMerger> {
        let new_merger = |config: MergeConfig| {
            FileGroupMerger::new(config, merge_schema.clone()).map_err(|e| ctx.log_err(e))
        };
        let mut merger = new_merger(merge_config.clone())?;
        for block in &self.scan.blocks {
            merger
                .push_block(&ctx.store, block, block_opts)
                .await
                .map_err(|e| ctx.log_err(e))?;
        }
        if self
            .window_blocks
            .iter()
            .any(|b| b.block_type == BlockType::Delete)
        {
            let mut prior = new_merger(merge_config)?;
            for block in &self.window_blocks {
                prior
                    .push_block(&ctx.store, block, block_opts)
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
            blocks = self.scan.blocks.len(),
            window_blocks = self.window_blocks.len(),
            stats = ?merger.stats(),
            "log side of the file slice loaded"
        );
        Ok(merger)
    }
}

/// The slice's row schema: the base file's, else the log blocks'; evolved by the logs'
/// schemas; one type per column over the table's life (the table schema decides).
async fn file_schema(
    ctx: &Ctx,
    mor: &MorContext,
    logs: &LogSide,
    footer: Option<&BaseFooter>,
    block_opts: &DataBlockOptions,
) -> Result<Schema> {
    let file_schema: Schema = match footer {
        Some(f) => f.arm.schema().as_ref().clone(),
        None => {
            let all: Vec<&LogBlock> = logs.blocks().collect();
            log_only_schema(&ctx.store, &all, block_opts)
                .await
                .map_err(|e| ctx.log_err(e))?
        }
    };
    let file_schema = with_log_columns(Schema::new(file_schema.fields().clone()), logs.blocks());
    Ok(match &mor.table_schema {
        Some(t) => with_table_types(&file_schema, t),
        None => file_schema,
    })
}

/// Every requested column must be in the slice's schema.
fn check_columns(ctx: &Ctx, file_schema: &Schema, columns: Option<&[String]>) -> Result<()> {
    let Some(missing) = columns
        .into_iter()
        .flatten()
        .find(|c| c.as_str() != OP_COLUMN && file_schema.field_with_name(c).is_err())
    else {
        return Ok(());
    };
    Err(HudiError::UnknownColumn {
        table: ctx.table.clone(),
        column: missing.clone(),
        file: ctx
            .slice
            .base_file
            .as_ref()
            .map(|b| b.path.clone())
            .unwrap_or_else(|| format!("log files of file group {}", ctx.group())),
    })
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
                Some(MergeMode::OverwriteWithLatestPayload),
            ),
            (
                "hoodie.table.version=6\nhoodie.compaction.payload.class=org.apache.hudi.common.model.PartialUpdateAvroPayload\n",
                None,
            ),
            (
                "hoodie.table.version=6\nhoodie.compaction.payload.class=org.apache.hudi.common.model.HoodieAvroPayload\n",
                Some(MergeMode::CommitTimeOrdering),
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
