//! Merge-on-read log files: names, block framing, block decoding (Avro, parquet, delete),
//! the choice of valid blocks for a file slice and the merge of a slice into the latest
//! version of each record key.
//!
//! Storage-agnostic (everything goes through [`hps_storage::ObjectStore`] ranged reads) and
//! planner-agnostic (callers say which log files belong to a slice and which instants count).

pub mod align;
mod avro_binary;
pub mod avro_block;
pub mod block;
pub mod delete_block;
pub mod delete_rows;
pub mod error;
#[cfg(test)]
mod fixture_tests;
mod io;
pub mod merge;
pub mod name;
pub mod ordering;
pub mod parquet_block;
pub mod scan;

pub use avro_block::{AvroBlockReader, AvroRecordDecoder, DataBlockOptions, avro_schema_to_arrow};
pub use block::{
    BlockMetadata, BlockType, HeaderKey, LogBlock, LogFileReader, LogReaderOptions, MAGIC,
};
pub use delete_block::{
    DELETE_RECORD_LIST_SCHEMA, DeleteRecord, decode_delete_block_content, read_delete_block,
};
pub use delete_rows::{DeleteRowSpec, KeyEncoding, delete_change_batch, parse_record_key};
pub use error::{LogError, LogResult};
pub use merge::{DeleteChange, FileGroupMerger, MergeConfig, MergeMode, MergeOutput, MergeStats};
pub use name::LogFileName;
pub use ordering::OrderingValue;
pub use parquet_block::ParquetBlockReader;
pub use scan::{
    DataBlockReader, InstantVisibility, LogFileRef, ScanStats, SliceScan, scan_slice,
    sort_log_files,
};
