//! Merge-on-read log files: names, block framing, block decoding (Avro, parquet, delete),
//! the choice of valid blocks for a file slice and the merge of a slice into the latest
//! version of each record key, reporting the upserts and deletes that are changes of a read.
//!
//! Storage-agnostic (everything goes through [`hps_storage::ObjectStore`] ranged reads) and
//! planner-agnostic (callers say which log files belong to a slice and which instants count).
//!
//! # Reading one file slice
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use hps_hudi::log::*;
//! # async fn demo(
//! #     store: hps_storage::DynStore,
//! #     files: Vec<LogFileRef>,
//! #     completed: std::collections::HashSet<String>,
//! #     admitted: std::collections::HashSet<String>,
//! #     base: Vec<arrow_array::RecordBatch>,
//! # ) -> LogResult<()> {
//! // 1. the valid DATA/DELETE blocks, headers only (6.5: visibility, rollbacks, log compaction)
//! let visible = move |instant: &str| completed.contains(instant);
//! let scan = scan_slice(&store, &files, &visible, &LogReaderOptions::default()).await?;
//! // 2. merge: log blocks first (decoded on demand), then the base file streamed through
//! let config = MergeConfig {
//!     mode: MergeMode::EventTimeOrdering,
//!     ordering_fields: vec!["ts".into()],
//!     admitted: Arc::new(hps_hudi::CommitTimes::Only(admitted)),
//!     file_group: "fg-0".into(),
//!     batch_size: 8192,
//! };
//! let mut merger = FileGroupMerger::new(config, base[0].schema())?;
//! for block in &scan.blocks {
//!     merger.push_block(&store, block, &DataBlockOptions::default()).await?;
//! }
//! for batch in &base {
//!     let _base_changes = merger.merge_base_batch(batch)?; // base rows that are changes
//! }
//! let out = merger.finish()?; // log rows that are changes, and deletes
//! # let _ = out; Ok(()) }
//! ```
//!
//! Delete change rows in the change schema come from [`delete_change_batch`].

pub mod align;
pub(crate) mod avro_binary;
pub mod avro_block;
pub mod avro_decode;
#[cfg(test)]
mod avro_logical_tests;
#[cfg(test)]
mod avro_tests;
pub mod block;
pub mod delete_block;
pub mod delete_rows;
pub mod error;
#[cfg(test)]
mod fixture_tests;
mod io;
pub mod merge;
pub mod ordering;
pub mod parquet_block;
pub mod scan;

pub use crate::files::LogFileName;
pub use avro_block::{AvroBlockReader, DataBlockOptions};
pub use avro_decode::{AvroRecordDecoder, avro_schema_to_arrow};
pub use block::{
    BlockMetadata, BlockType, HeaderKey, LogBlock, LogFileReader, LogReaderOptions, MAGIC,
};
pub use delete_block::{
    DELETE_RECORD_LIST_SCHEMA, DeleteRecord, decode_delete_block_content, read_delete_block,
};
pub use delete_rows::{DeleteRowSpec, KeyEncoding, delete_change_batch, parse_record_key};
pub use error::{LogError, LogResult};
pub use merge::{DeleteChange, FileGroupMerger, MergeConfig, MergeMode, MergeOutput, MergeStats};
pub use ordering::OrderingValue;
pub use parquet_block::ParquetBlockReader;
pub use scan::{
    DataBlockReader, InstantVisibility, LogFileRef, ScanStats, SliceScan, scan_slice,
    sort_log_files,
};
