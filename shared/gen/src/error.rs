//! Errors of the generator, always naming what they concern (file, instant, setting).

use thiserror::Error;

/// Result alias of this crate.
pub type GenResult<T> = Result<T, GenError>;

/// Everything that can go wrong while generating a table.
#[derive(Debug, Error)]
pub enum GenError {
    /// The configuration is invalid (out-of-range fraction, zero partitions, ...).
    #[error("invalid generator configuration: {0}")]
    Config(String),

    /// The target already holds a Hudi table; the generator only writes fresh tables.
    #[error(
        "{uri} already contains a Hudi table (.hoodie/hoodie.properties); refusing to overwrite it"
    )]
    TableExists {
        /// The object's URI.
        uri: String,
    },

    /// Writing or listing an object failed.
    #[error("storage error on {path}: {source}")]
    Storage {
        /// The path concerned.
        path: String,
        /// The underlying error.
        #[source]
        source: hps_storage::StorageError,
    },

    /// Encoding a parquet file failed.
    #[error("parquet encoding of {path} failed: {source}")]
    Parquet {
        /// The path concerned.
        path: String,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// Building an Arrow batch failed (schema/array mismatch: a bug in the generator).
    #[error("arrow batch for {path} failed: {source}")]
    Arrow {
        /// The path concerned.
        path: String,
        /// The underlying error.
        #[source]
        source: arrow_schema::ArrowError,
    },

    /// JSON encoding or decoding failed (commit metadata, manifest).
    #[error("json of {what} failed: {source}")]
    Json {
        /// What was being read or done.
        what: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },

    /// A background encoding task panicked or was cancelled.
    #[error("encoding task for {path} failed: {message}")]
    Task {
        /// The path concerned.
        path: String,
        /// What went wrong, in words.
        message: String,
    },
}

impl GenError {
    pub(crate) fn storage(path: &str, source: hps_storage::StorageError) -> Self {
        GenError::Storage {
            path: path.to_string(),
            source,
        }
    }

    /// Whether retrying the same generation may succeed (a transient storage failure).
    pub fn is_transient(&self) -> bool {
        matches!(self, GenError::Storage { source, .. } if source.is_transient())
    }
}
