//! Errors of the log-file layer. Every variant names the log file (path relative to the table
//! base path) and, where it applies, the byte offset of the block concerned. The table itself is
//! added by the caller (the reader wraps these into its own error type).

use hps_storage::StorageError;
use thiserror::Error;

/// Result alias of the log module.
pub type LogResult<T> = std::result::Result<T, LogError>;

/// What can go wrong while reading, decoding or merging MOR log files.
#[derive(Debug, Error)]
pub enum LogError {
    /// The object store failed; transient or not as the storage error says.
    #[error("log file {file}: storage error: {source}")]
    Storage {
        /// The log file.
        file: String,
        /// The storage failure.
        #[source]
        source: StorageError,
    },

    /// The object changed size while it was read (it shrank, or a ranged read came back short).
    #[error(
        "log file {file}: object ended at byte {got} while reading up to byte {wanted} (changed while being read?)"
    )]
    ShortRead {
        /// The log file.
        file: String,
        /// The end offset that was requested.
        wanted: u64,
        /// Where the returned data ended.
        got: u64,
    },

    /// The bytes at a block start are not the `#HUDI#` magic: not a Hudi log file, or a
    /// damaged one that cannot be resynchronised.
    #[error(
        "log file {file}: no #HUDI# magic at byte {offset}: not a Hudi log file or damaged beyond recovery"
    )]
    BadMagic {
        /// The log file.
        file: String,
        /// Where the magic was expected.
        offset: u64,
    },

    /// The block is framed correctly but its inside is inconsistent (header entry count or
    /// lengths beyond the block, invalid UTF-8, content length beyond the block, ...).
    #[error("log file {file}: malformed block at byte {offset}: {reason}")]
    MalformedBlock {
        /// The log file.
        file: String,
        /// Offset of the block's magic.
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// Log format version 0 (legacy, no header) or an unknown version.
    #[error(
        "log file {file}: block at byte {offset} has log format version {version}; only version 1 is supported"
    )]
    UnsupportedFormatVersion {
        /// The log file.
        file: String,
        /// Offset of the block's magic.
        offset: u64,
        /// The version found.
        version: i32,
    },

    /// A block type this reader refuses: CORRUPTED written on storage, HFILE_DATA (metadata
    /// table only), CDC_DATA, or an unknown ordinal.
    #[error(
        "log file {file}: block at byte {offset} of instant {instant} has block type {block_type}, which this reader does not support"
    )]
    UnsupportedBlockType {
        /// The log file.
        file: String,
        /// Offset of the block's magic.
        offset: u64,
        /// The block type ordinal and name.
        block_type: String,
        /// The block's `INSTANT_TIME`, or `?`.
        instant: String,
    },

    /// The content of a data or delete block starts with a version this reader does not know
    /// (or, for delete blocks of versions 1 and 2, cannot decode: Kryo-serialized Java objects).
    #[error("log file {file}: block at byte {offset} has content version {version}: {why}")]
    UnsupportedContentVersion {
        /// The log file.
        file: String,
        /// Offset of the block's magic.
        offset: u64,
        /// The version found.
        version: i32,
        /// Why it is refused and what to do about it.
        why: String,
    },

    /// A header key the block needs is absent.
    #[error("log file {file}: block at byte {offset} lacks header {key}")]
    MissingHeader {
        /// The log file.
        file: String,
        /// Offset of the block's magic.
        offset: u64,
        /// The missing header key.
        key: &'static str,
    },

    /// The block's `SCHEMA` header is not a usable Avro schema.
    #[error("log file {file}: block at byte {offset}: invalid Avro schema: {reason}")]
    InvalidSchema {
        /// The log file.
        file: String,
        /// Offset of the block's magic.
        offset: u64,
        /// Why.
        reason: String,
    },

    /// An Avro record (data block) or the delete list (delete block) cannot be decoded.
    #[error(
        "log file {file}: block at byte {offset}, record {record}: cannot decode Avro: {reason}"
    )]
    AvroDecode {
        /// The log file.
        file: String,
        /// Offset of the block's magic.
        offset: u64,
        /// Index of the record inside the block.
        record: u64,
        /// Why.
        reason: String,
    },

    /// A PARQUET_DATA block cannot be read.
    #[error("log file {file}: block at byte {offset}: cannot read parquet content: {reason}")]
    Parquet {
        /// The log file.
        file: String,
        /// Offset of the block's magic.
        offset: u64,
        /// Why.
        reason: String,
    },

    /// A block whose content must be held in memory is larger than the configured limit.
    #[error(
        "log file {file}: block at byte {offset} has {len} content bytes, over the in-memory limit of {limit} bytes"
    )]
    BlockTooLarge {
        /// The log file.
        file: String,
        /// Offset of the block's magic.
        offset: u64,
        /// The content length.
        len: u64,
        /// The limit.
        limit: u64,
    },

    /// A feature the reader does not implement (partial-update blocks, multi-type unions, ...).
    #[error("log file {file}: not supported: {what}")]
    Unsupported {
        /// The log file (or the table-level context when no file applies).
        file: String,
        /// What is not supported.
        what: String,
    },

    /// A data block's column cannot be converted to the column's table type.
    #[error("log file {file}: block at byte {offset}: {source}")]
    TypeConversion {
        /// The log file.
        file: String,
        /// Offset of the block's magic.
        offset: u64,
        /// The column, the types and the value.
        #[source]
        source: Box<crate::convert::ConvertError>,
    },

    /// Merging rows failed (missing record key, incompatible column types, ...).
    #[error("merge of file group {file_group}: {reason}")]
    Merge {
        /// The file group id (or a path naming it).
        file_group: String,
        /// Why.
        reason: String,
    },
}

impl LogError {
    /// Whether retrying the same operation may succeed (storage throttling, timeouts, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            LogError::Storage { source, .. } => source.is_transient(),
            // A short read usually means the object was replaced while being read.
            LogError::ShortRead { .. } => true,
            _ => false,
        }
    }

    /// Whether the log file was missing (cleaned or rolled back after planning).
    pub fn is_not_found(&self) -> bool {
        matches!(self, LogError::Storage { source, .. } if source.is_not_found())
    }
}
