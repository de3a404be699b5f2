//! Merge-on-read log files: names, block framing, block decoding (Avro, parquet, delete),
//! the choice of valid blocks for a file slice and the merge of a slice into the latest
//! version of each record key.
//!
//! Storage-agnostic (everything goes through [`hps_storage::ObjectStore`] ranged reads) and
//! planner-agnostic (callers say which log files belong to a slice and which instants count).

mod avro_binary;
pub mod avro_block;
pub mod block;
pub mod delete_block;
pub mod error;
mod io;
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
pub use error::{LogError, LogResult};
pub use name::LogFileName;
pub use ordering::OrderingValue;
pub use parquet_block::ParquetBlockReader;
pub use scan::{
    DataBlockReader, InstantVisibility, LogFileRef, ScanStats, SliceScan, scan_slice,
    sort_log_files,
};
