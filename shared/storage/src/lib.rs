//! The object-storage seam of hudi-pg-sync.
//!
//! Everything that reads a Hudi table goes through [`ObjectStore`]: the Hudi reader never
//! knows whether it talks to a local directory or to S3. Paths are always *relative to the
//! store's root* (the table base path), use `/` as separator and never start with `/`.
//!
//! Implementations here: [`LocalStore`] (a directory). The S3 implementation lives in
//! `hps-aws` so that this crate (and the reader above it) does not depend on the AWS SDK.
//! [`ParquetObjectReader`] adapts any store to parquet's `AsyncFileReader`, fetching the
//! footer and single column chunks with ranged reads.

mod error;
mod local;
mod parquet_reader;

use std::fmt::Debug;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

pub use error::{StorageError, StorageResult};
pub use local::LocalStore;
pub use parquet_reader::ParquetObjectReader;

/// One object (file) as listed or headed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Path relative to the store root, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, when the store knows it (S3 `LastModified`, file mtime).
    pub last_modified: Option<DateTime<Utc>>,
}

impl ObjectMeta {
    /// The last path segment (the file name).
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// What a non-recursive listing of one "directory" returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Objects directly under the prefix.
    pub objects: Vec<ObjectMeta>,
    /// Immediate sub-directories (relative paths, without trailing `/`).
    pub directories: Vec<String>,
}

/// Read (and, for tests, tools and the embedded default, write) access to objects under one root.
///
/// All methods are cancel-safe and may be called concurrently.
#[async_trait]
pub trait ObjectStore: Send + Sync + Debug {
    /// A human-readable URI of the root (`file:///…`, `s3://bucket/prefix`), for messages.
    fn root_uri(&self) -> String;

    /// Non-recursive listing of the directory `dir` (relative; `""` is the root).
    /// A directory that does not exist lists as empty.
    async fn list(&self, dir: &str) -> StorageResult<Listing>;

    /// Size and modification time of one object. `StorageError::NotFound` when absent.
    async fn head(&self, path: &str) -> StorageResult<ObjectMeta>;

    /// The whole object. Only for small objects (timeline files, properties).
    async fn get(&self, path: &str) -> StorageResult<Bytes>;

    /// Bytes `range.start..range.end` of the object (end exclusive, clamped to the size).
    async fn get_range(&self, path: &str, range: Range<u64>) -> StorageResult<Bytes>;

    /// Write an object (atomically where the store allows it).
    async fn put(&self, path: &str, data: Bytes) -> StorageResult<()>;

    /// Delete an object; deleting an absent object is not an error.
    async fn delete(&self, path: &str) -> StorageResult<()>;
}

/// A shared, dynamically typed store.
pub type DynStore = Arc<dyn ObjectStore>;

/// Join two relative path parts with `/`, tolerating empty parts and stray slashes.
pub fn join(a: &str, b: &str) -> String {
    let a = a.trim_matches('/');
    let b = b.trim_matches('/');
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_handles_empty_and_slashes() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a/", "/b"), "a/b");
        assert_eq!(join("a", ""), "a");
        assert_eq!(join("", ""), "");
    }
}
