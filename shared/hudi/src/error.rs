//! Typed errors of the Hudi reader, each naming the table (root URI) and, where it applies,
//! the instant and the file concerned.

use hps_storage::StorageError;
use thiserror::Error;

/// Result alias of this crate.
pub type Result<T, E = HudiError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading a Hudi table incrementally.
///
/// Classify with [`HudiError::is_transient`] (retry may help), [`HudiError::needs_resync`]
/// (the incremental history is gone or was rewritten: re-snapshot the table).
#[derive(Debug, Error)]
pub enum HudiError {
    /// Storage failed (I/O, S3). Transient or not as the storage error says.
    #[error("table {table}: storage error: {source}")]
    Storage {
        /// The table (id or base path).
        table: String,
        /// The underlying error.
        #[source]
        source: StorageError,
    },

    /// The base path has no `.hoodie/hoodie.properties` (nor its backup).
    #[error(
        "{table} is not a Hudi table: no .hoodie/hoodie.properties (nor hoodie.properties.backup)"
    )]
    NotAHudiTable {
        /// The table (id or base path).
        table: String,
    },

    /// `hoodie.properties` cannot be parsed or lacks / contradicts a required key.
    #[error("table {table}: malformed hoodie.properties: {reason}")]
    MalformedProperties {
        /// The table (id or base path).
        table: String,
        /// Why, in words.
        reason: String,
    },

    /// Only table versions 1-6, 8 and 9 are readable.
    #[error(
        "table {table}: unsupported Hudi table version {version} (this reader supports versions 1-6, 8 and 9, i.e. Hudi 0.6-0.15 and 1.0-1.2)"
    )]
    UnsupportedTableVersion {
        /// The table (id or base path).
        table: String,
        /// The version concerned.
        version: String,
    },

    /// `hoodie.properties` has no `hoodie.table.version`: a table version 0 table written by
    /// Hudi 0.5 or older, which this reader does not read.
    #[error(
        "table {table}: hoodie.properties has no hoodie.table.version, so this is a table version 0 table (it looks written by Hudi {looks_like}); this reader reads table versions 1-6, 8 and 9 only: upgrade the table by writing to it once with Hudi 0.6 or later"
    )]
    UnversionedTable {
        /// The table (id or base path).
        table: String,
        /// The Hudi release the table looks written by.
        looks_like: String,
    },

    /// The base files are not parquet (Lance, ORC, HFile).
    #[error(
        "table {table}: base file format {format} is not supported (only PARQUET base files can be read incrementally; {format} tables must be exported or rewritten as parquet)"
    )]
    UnsupportedBaseFormat {
        /// The table (id or base path).
        table: String,
        /// The format found.
        format: String,
    },

    /// An incremental read cannot be answered correctly for this table (e.g. meta fields off).
    #[error("table {table}: incremental read impossible: {reason}")]
    IncrementalUnsupported {
        /// The table (id or base path).
        table: String,
        /// Why, in words.
        reason: String,
    },

    /// A feature this reader does not implement yet (MOR log files, bootstrap, CDC, ...).
    #[error("table {table}: not yet supported: {what}")]
    NotYetSupported {
        /// The table (id or base path).
        table: String,
        /// What was being read or done.
        what: String,
    },

    /// A completed instant's metadata (commit, replacecommit, rollback, ...) cannot be decoded.
    #[error("table {table}: malformed metadata of instant {instant} ({file}): {reason}")]
    MalformedCommitMetadata {
        /// The table (id or base path).
        table: String,
        /// The instant concerned.
        instant: String,
        /// The file concerned.
        file: String,
        /// Why, in words.
        reason: String,
    },

    /// A parquet file ended early or its footer is broken.
    #[error(
        "table {table}: truncated or corrupt parquet file {file} (written by instant {instant}): {reason}"
    )]
    TruncatedFile {
        /// The table (id or base path).
        table: String,
        /// The file concerned.
        file: String,
        /// The instant concerned.
        instant: String,
        /// Why, in words.
        reason: String,
    },

    /// The history a window needs is gone: a planned file was cleaned, or instants after the
    /// bookmark were archived. The caller must re-snapshot (`hint` says why and how).
    #[error(
        "table {table}: history no longer retained: {file} (instant {instant}) is gone; {hint}"
    )]
    HistoryNotRetained {
        /// The table (id or base path).
        table: String,
        /// The file concerned.
        file: String,
        /// The instant concerned.
        instant: String,
        /// What to do about it.
        hint: String,
    },

    /// Instants at or before the bookmark were rolled back or restored after they completed:
    /// rows a consumer may already hold were removed without a retraction. Re-snapshot.
    #[error(
        "table {table}: {action} {by_instant} removed instant(s) {rolled_back:?} at or before the bookmark {bookmark}; applied rows may no longer exist in the table: a resync (full re-snapshot) is needed"
    )]
    RewrittenHistory {
        /// The table (id or base path).
        table: String,
        /// The action (rollback, restore) that removed them.
        action: String,
        /// The instant that removed them.
        by_instant: String,
        /// The instants that were removed.
        rolled_back: Vec<String>,
        /// The bookmark's position.
        bookmark: String,
    },

    /// A caller-supplied window bound is not an instant time, or the window is inverted.
    #[error("table {table}: invalid window: {reason}")]
    InvalidWindow {
        /// The table (id or base path).
        table: String,
        /// Why, in words.
        reason: String,
    },

    /// A slice index beyond the plan.
    #[error("table {table}: file slice index {index} out of range (plan has {len} slices)")]
    SliceOutOfRange {
        /// The table (id or base path).
        table: String,
        /// The index asked for.
        index: usize,
        /// How many there are.
        len: usize,
    },

    /// A requested column is not in a data file.
    #[error("table {table}: column {column:?} is not in {file}")]
    UnknownColumn {
        /// The table (id or base path).
        table: String,
        /// The column concerned.
        column: String,
        /// The file concerned.
        file: String,
    },

    /// An archived timeline file (layout 1 `.commits_.archive.N_token`, layout 2 `_version_`,
    /// `manifest_N` or a history parquet file) is damaged, truncated or not what its name says.
    /// Permanent: the archived history cannot be read until the file is repaired.
    #[error("table {table}: malformed archived timeline file {file}: {reason}")]
    MalformedArchive {
        /// The table (id or base path).
        table: String,
        /// The file concerned.
        file: String,
        /// Why, in words.
        reason: String,
    },

    /// A column's values in a data file cannot be converted to the column's table type
    /// (an unparsable string in a numeric column, an overflow, a type with no conversion).
    #[error("table {table}: {file}: {source}")]
    TypeConversion {
        /// The table (id or base path).
        table: String,
        /// The file concerned.
        file: String,
        /// The underlying error.
        #[source]
        source: Box<crate::convert::ConvertError>,
    },

    /// A parquet / arrow error while reading a data file that is not a truncation.
    #[error("table {table}: cannot read {file}: {reason}")]
    ReadFailed {
        /// The table (id or base path).
        table: String,
        /// The file concerned.
        file: String,
        /// Why, in words.
        reason: String,
        /// Whether trying again may succeed.
        transient: bool,
    },
}

impl HudiError {
    /// Whether retrying the same operation may succeed (storage throttling, timeouts, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            HudiError::Storage { source, .. } => source.is_transient(),
            HudiError::ReadFailed { transient, .. } => *transient,
            _ => false,
        }
    }

    /// Whether the incremental history is gone or was rewritten, so the consumer must
    /// re-snapshot the table instead of continuing from its bookmark.
    pub fn needs_resync(&self) -> bool {
        matches!(
            self,
            HudiError::HistoryNotRetained { .. } | HudiError::RewrittenHistory { .. }
        )
    }

    pub(crate) fn storage(table: &str, source: StorageError) -> Self {
        HudiError::Storage {
            table: table.to_string(),
            source,
        }
    }
}
