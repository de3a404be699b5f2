//! Which blocks of a file slice's log files count (docs/hudi-format.md §4), in merge order.
//!
//! [`scan_slice`] reads only block headers (contents stay on storage) and keeps the DATA and
//! DELETE blocks that
//! 1. were written by an instant the caller says is visible (completed, at or before the read
//!    point; failed and in-flight writers leave blocks behind, especially in v6 shared files),
//! 2. are not voided by a rollback COMMAND block (`TARGET_INSTANT_TIME`), wherever in the
//!    slice that command block sits,
//! 3. are not superseded by a log-compacted block listing their instant in
//!    `COMPACTED_BLOCK_TIMES`.
//!
//! Torn blocks (see [`super::block`]) are skipped with a warning, as Hudi does. Blocks this
//! reader cannot interpret (HFILE, CDC, unknown types, a CORRUPTED type written on storage,
//! partial updates) are an error unless their instant is not visible anyway.
//!
//! Merge order: log files in Hudi's log-file order ([`LogFileName`]'s `Ord`), blocks in file
//! order.

use std::collections::HashSet;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use hps_storage::DynStore;

use super::avro_block::{AvroBlockReader, DataBlockOptions};
use super::block::{BlockType, LogBlock, LogFileReader, LogReaderOptions};
use super::error::{LogError, LogResult};
use super::parquet_block::ParquetBlockReader;
use crate::files::LogFileName;

/// One log file of a file slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileRef {
    /// Path relative to the table base path.
    pub path: String,
    /// Size in bytes (from a listing or `head`).
    pub size: u64,
}

/// Which instants count for the read.
pub trait InstantVisibility: Send + Sync {
    /// Whether data and delete blocks written by `instant` are part of the table as of the
    /// read point: a completed deltacommit at or before it (or older than the active timeline,
    /// i.e. archived), not rolled back.
    fn is_visible(&self, instant: &str) -> bool;

    /// Whether a rollback command block written by the rollback `instant` applies (default:
    /// always; a reader as of a point before the rollback may say no).
    fn applies_rollback(&self, instant: &str) -> bool {
        let _ = instant;
        true
    }
}

impl<F: Fn(&str) -> bool + Send + Sync> InstantVisibility for F {
    fn is_visible(&self, instant: &str) -> bool {
        self(instant)
    }
}

/// What the scan dropped, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Log files read.
    pub files: usize,
    /// Blocks seen (all types).
    pub blocks: usize,
    /// Data/delete blocks of instants that are not visible.
    pub not_visible: usize,
    /// Data/delete blocks voided by a rollback command block.
    pub rolled_back: usize,
    /// Data/delete blocks superseded by a log-compacted block.
    pub compacted: usize,
    /// Torn blocks skipped.
    pub corrupted: usize,
    /// Command blocks seen.
    pub commands: usize,
    /// CDC log files skipped.
    pub cdc_files: usize,
    /// Bytes fetched while reading headers.
    pub bytes_fetched: u64,
}

/// The valid blocks of one file slice, in merge order.
#[derive(Debug, Clone, Default)]
pub struct SliceScan {
    /// Valid DATA (Avro/parquet) and DELETE blocks.
    pub blocks: Vec<LogBlock>,
    /// Instants voided by rollback command blocks in these files.
    pub rolled_back_instants: HashSet<String>,
    /// What was dropped.
    pub stats: ScanStats,
}

/// Order log files the way Hudi merges them. Files whose names are not log file names are an
/// error (a caller bug, or a foreign file in the plan).
pub fn sort_log_files(files: &[LogFileRef]) -> LogResult<Vec<(LogFileName, LogFileRef)>> {
    let mut named = Vec::with_capacity(files.len());
    for f in files {
        let name = LogFileName::parse(&f.path).ok_or_else(|| LogError::Unsupported {
            file: f.path.clone(),
            what: "not a log file name (.<fileId>_<instant>.log.<version>_<token>)".into(),
        })?;
        named.push((name, f.clone()));
    }
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.dedup_by(|a, b| a.1.path == b.1.path);
    Ok(named)
}

/// Read the block headers of `files` (one file slice) and keep the valid DATA and DELETE
/// blocks, in merge order.
#[tracing::instrument(level = "debug", skip_all, fields(files = files.len()))]
pub async fn scan_slice(
    store: &DynStore,
    files: &[LogFileRef],
    visibility: &dyn InstantVisibility,
    options: &LogReaderOptions,
) -> LogResult<SliceScan> {
    let mut stats = ScanStats::default();
    let mut candidates: Vec<LogBlock> = Vec::new();
    let mut rolled_back = HashSet::new();
    for (name, file) in sort_log_files(files)? {
        if name.is_cdc {
            // Supplemental change data; the table's rows are in the regular log files.
            stats.cdc_files += 1;
            continue;
        }
        stats.files += 1;
        let mut reader = LogFileReader::with_options(
            store.clone(),
            file.path.clone(),
            file.size,
            options.clone(),
        );
        while let Some(block) = reader.next_block().await? {
            stats.blocks += 1;
            classify(
                block,
                visibility,
                &mut stats,
                &mut candidates,
                &mut rolled_back,
            )?;
        }
        stats.bytes_fetched += reader.io_stats().0;
    }

    // Rollbacks void their target's blocks wherever they are.
    let before = candidates.len();
    candidates.retain(|b| b.instant_time().is_none_or(|t| !rolled_back.contains(t)));
    stats.rolled_back = before - candidates.len();

    // Log compaction: a valid compacted block replaces the blocks of the instants it lists.
    let compacted: HashSet<String> = candidates
        .iter()
        .flat_map(|b| {
            b.header
                .compacted_block_times()
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    if !compacted.is_empty() {
        let before = candidates.len();
        candidates.retain(|b| {
            !b.header.compacted_block_times().is_empty()
                || b.instant_time().is_none_or(|t| !compacted.contains(t))
        });
        stats.compacted = before - candidates.len();
    }
    tracing::debug!(
        ?stats,
        valid = candidates.len(),
        "scanned log files of a file slice"
    );
    Ok(SliceScan {
        blocks: candidates,
        rolled_back_instants: rolled_back,
        stats,
    })
}

fn classify(
    block: LogBlock,
    visibility: &dyn InstantVisibility,
    stats: &mut ScanStats,
    candidates: &mut Vec<LogBlock>,
    rolled_back: &mut HashSet<String>,
) -> LogResult<()> {
    if block.corruption.is_some() {
        stats.corrupted += 1;
        tracing::warn!(block = %block.describe(), reason = block.corruption.as_deref().unwrap_or(""), "skipping torn log block");
        return Ok(());
    }
    let instant = block.instant_time().map(str::to_string);
    match block.block_type {
        BlockType::Command => {
            stats.commands += 1;
            if !block.is_rollback() {
                return Err(LogError::Unsupported {
                    file: block.file.clone(),
                    what: format!(
                        "command block at byte {} with COMMAND_BLOCK_TYPE {:?} (only 0 = rollback is known)",
                        block.offset,
                        block.header.command_block_type()
                    ),
                });
            }
            let target = block
                .header
                .target_instant_time()
                .ok_or(LogError::MissingHeader {
                    file: block.file.clone(),
                    offset: block.offset,
                    key: "TARGET_INSTANT_TIME",
                })?;
            if instant
                .as_deref()
                .is_none_or(|i| visibility.applies_rollback(i))
            {
                rolled_back.insert(target.trim().to_string());
            }
            Ok(())
        }
        BlockType::AvroData | BlockType::ParquetData | BlockType::Delete => {
            let instant = instant.ok_or(LogError::MissingHeader {
                file: block.file.clone(),
                offset: block.offset,
                key: "INSTANT_TIME",
            })?;
            if !visibility.is_visible(&instant) {
                stats.not_visible += 1;
                return Ok(());
            }
            if block.header.is_partial() {
                return Err(LogError::Unsupported {
                    file: block.file.clone(),
                    what: format!(
                        "partial-update block (IS_PARTIAL=true) of instant {instant} at byte {}",
                        block.offset
                    ),
                });
            }
            candidates.push(block);
            Ok(())
        }
        BlockType::Corrupted
        | BlockType::HfileData
        | BlockType::CdcData
        | BlockType::Unknown(_) => {
            if instant
                .as_deref()
                .is_some_and(|i| !visibility.is_visible(i))
            {
                stats.not_visible += 1;
                return Ok(());
            }
            Err(LogError::UnsupportedBlockType {
                file: block.file.clone(),
                offset: block.offset,
                block_type: block.block_type.to_string(),
                instant: instant.unwrap_or_else(|| "?".into()),
            })
        }
    }
}

/// A reader of the rows of one DATA block, whatever its encoding.
#[derive(Debug)]
pub enum DataBlockReader {
    /// AVRO_DATA, streamed.
    Avro(Box<AvroBlockReader>),
    /// PARQUET_DATA, decoded from memory.
    Parquet(ParquetBlockReader),
}

impl DataBlockReader {
    /// Open DATA block `block`. `target` is the Arrow schema Avro records are decoded into
    /// (matched by name); parquet blocks come in the schema of the embedded file.
    pub async fn open(
        store: &DynStore,
        block: &LogBlock,
        target: Option<SchemaRef>,
        options: &DataBlockOptions,
    ) -> LogResult<Self> {
        match block.block_type {
            BlockType::AvroData => Ok(DataBlockReader::Avro(Box::new(
                AvroBlockReader::open(store.clone(), block, target, options).await?,
            ))),
            BlockType::ParquetData => Ok(DataBlockReader::Parquet(
                ParquetBlockReader::open(store, block, options).await?,
            )),
            other => Err(LogError::Unsupported {
                file: block.file.clone(),
                what: format!(
                    "block at byte {} is {other}, not a data block",
                    block.offset
                ),
            }),
        }
    }

    /// The schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        match self {
            DataBlockReader::Avro(r) => r.schema(),
            DataBlockReader::Parquet(r) => r.schema(),
        }
    }

    /// The next batch, or `None` at the end of the block.
    pub async fn next_batch(&mut self) -> LogResult<Option<RecordBatch>> {
        match self {
            DataBlockReader::Avro(r) => r.next_batch().await,
            DataBlockReader::Parquet(r) => r.next_batch(),
        }
    }
}
