use thiserror::Error;

/// Result alias of this crate.
pub type StorageResult<T> = Result<T, StorageError>;

/// Errors of an [`crate::ObjectStore`], always naming the object they concern.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The object does not exist.
    #[error("object not found: {uri}")]
    NotFound {
        /// The object's URI.
        uri: String,
    },

    /// A local I/O error.
    #[error("I/O error on {uri}: {source}")]
    Io {
        /// The object's URI.
        uri: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A remote store (S3) failed. `transient` tells whether a retry may succeed
    /// (throttling, timeouts, 5xx, dispatch failures).
    #[error("object store error on {uri}: {message}")]
    Remote {
        /// The object's URI.
        uri: String,
        /// What went wrong, in words.
        message: String,
        /// Whether trying again may succeed.
        transient: bool,
    },

    /// A path that cannot be valid (absolute, `..`, outside the root).
    #[error("invalid object path {path:?}: {reason}")]
    InvalidPath {
        /// The path concerned.
        path: String,
        /// Why, in words.
        reason: String,
    },
}

impl StorageError {
    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Remote { transient, .. } => *transient,
            StorageError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
            ),
            StorageError::NotFound { .. } | StorageError::InvalidPath { .. } => false,
        }
    }

    /// Whether the object was missing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }
}
