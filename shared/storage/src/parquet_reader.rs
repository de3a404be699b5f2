//! parquet's `AsyncFileReader` over any [`ObjectStore`]: the footer and each column chunk are
//! fetched with ranged reads, so a file is never downloaded whole.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::{ParquetError, Result as ParquetResult};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::{DynStore, StorageError};

/// How many bytes to fetch from the end of the file on the first footer read. Hudi footers
/// carry a ~430 KB bloom filter, so a generous hint saves a second round trip.
const FOOTER_PREFETCH: usize = 512 * 1024;

/// Reads one parquet object through an [`crate::ObjectStore`].
#[derive(Debug, Clone)]
pub struct ParquetObjectReader {
    store: DynStore,
    path: String,
    size: u64,
    metadata: Option<Arc<ParquetMetaData>>,
    bytes_fetched: u64,
}

impl ParquetObjectReader {
    /// `size` must be the object's size (from a listing or `head`).
    pub fn new(store: DynStore, path: impl Into<String>, size: u64) -> Self {
        Self {
            store,
            path: path.into(),
            size,
            metadata: None,
            bytes_fetched: 0,
        }
    }

    /// Use already loaded metadata (e.g. from a previous footer read) instead of fetching it.
    pub fn with_metadata(mut self, metadata: Arc<ParquetMetaData>) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// The object's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Bytes fetched so far through this reader (data ranges; footer reads included).
    pub fn bytes_fetched(&self) -> u64 {
        self.bytes_fetched
    }

    /// Fetch and decode the footer (with page index if present).
    pub async fn load_metadata(&mut self) -> ParquetResult<Arc<ParquetMetaData>> {
        if let Some(md) = &self.metadata {
            return Ok(md.clone());
        }
        if self.size < 12 {
            return Err(ParquetError::EOF(format!(
                "{}: {} bytes is too small to be a parquet file (truncated?)",
                self.path, self.size
            )));
        }
        let size = self.size;
        let md = ParquetMetaDataReader::new()
            .with_prefetch_hint(Some(FOOTER_PREFETCH))
            .load_and_finish(&mut *self, size)
            .await?;
        let md = Arc::new(md);
        self.metadata = Some(md.clone());
        Ok(md)
    }
}

fn to_parquet_err(e: StorageError) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for ParquetObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, ParquetResult<Bytes>> {
        async move {
            if range.end > self.size {
                return Err(ParquetError::EOF(format!(
                    "{}: range {}..{} beyond object size {} (truncated file?)",
                    self.path, range.start, range.end, self.size
                )));
            }
            let want = range.end - range.start;
            let b = self
                .store
                .get_range(&self.path, range)
                .await
                .map_err(to_parquet_err)?;
            if b.len() as u64 != want {
                return Err(ParquetError::EOF(format!(
                    "{}: short read, wanted {want} bytes got {} (object changed or truncated)",
                    self.path,
                    b.len()
                )));
            }
            self.bytes_fetched += want;
            Ok(b)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, ParquetResult<Arc<ParquetMetaData>>> {
        async move { self.load_metadata().await }.boxed()
    }
}
