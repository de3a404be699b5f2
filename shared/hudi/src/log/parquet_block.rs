//! PARQUET_DATA blocks (docs/hudi-format.md §3): the content is a complete parquet file (no
//! version prefix), written when `hoodie.logfile.data.block.format=parquet`.
//!
//! The content is fetched with one ranged read and decoded from memory, so the block's size is
//! the memory bound (refused above [`DataBlockOptions::max_in_memory_bytes`]).

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use hps_storage::DynStore;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::avro_block::DataBlockOptions;
use super::block::{BlockType, LogBlock};
use super::error::{LogError, LogResult};

/// The rows of one PARQUET_DATA block, decoded from its in-memory content.
pub struct ParquetBlockReader {
    reader: ParquetRecordBatchReader,
    schema: SchemaRef,
    file: String,
    offset: u64,
}

impl std::fmt::Debug for ParquetBlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetBlockReader")
            .field("file", &self.file)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl ParquetBlockReader {
    /// Fetch the content of `block` and open it as a parquet file.
    pub async fn open(
        store: &DynStore,
        block: &LogBlock,
        options: &DataBlockOptions,
    ) -> LogResult<Self> {
        if block.block_type != BlockType::ParquetData {
            return Err(LogError::Unsupported {
                file: block.file.clone(),
                what: format!(
                    "block at byte {} is {}, not PARQUET_DATA",
                    block.offset, block.block_type
                ),
            });
        }
        if block.header.is_partial() {
            return Err(LogError::Unsupported {
                file: block.file.clone(),
                what: format!(
                    "partial-update block (IS_PARTIAL=true) at byte {}",
                    block.offset
                ),
            });
        }
        let content = block
            .fetch_content(store, options.max_in_memory_bytes)
            .await?;
        Self::from_content(content, &block.file, block.offset, options.batch_size)
    }

    /// Open an already fetched content.
    pub fn from_content(
        content: Bytes,
        file: &str,
        offset: u64,
        batch_size: usize,
    ) -> LogResult<Self> {
        let perr = |e: parquet::errors::ParquetError| LogError::Parquet {
            file: file.to_string(),
            offset,
            reason: e.to_string(),
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(content).map_err(perr)?;
        let schema = builder.schema().clone();
        let reader = builder
            .with_batch_size(batch_size.max(1))
            .build()
            .map_err(perr)?;
        Ok(ParquetBlockReader {
            reader,
            schema,
            file: file.to_string(),
            offset,
        })
    }

    /// The block's Arrow schema (as the parquet crate maps the embedded file).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The next batch, or `None` at the end.
    pub fn next_batch(&mut self) -> LogResult<Option<RecordBatch>> {
        match self.reader.next() {
            None => Ok(None),
            Some(Ok(b)) => Ok(Some(b)),
            Some(Err(e)) => Err(LogError::Parquet {
                file: self.file.clone(),
                offset: self.offset,
                reason: e.to_string(),
            }),
        }
    }

    /// All remaining batches.
    pub fn read_all(mut self) -> LogResult<Vec<RecordBatch>> {
        let mut out = Vec::new();
        while let Some(b) = self.next_batch()? {
            out.push(b);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_content_is_a_parquet_error() {
        for content in [
            Bytes::new(),
            Bytes::from_static(b"PAR1"),
            Bytes::from_static(b"PAR1garbagegarbagePAR1"),
        ] {
            match ParquetBlockReader::from_content(content, "f.log", 0, 10) {
                Err(LogError::Parquet { .. }) => {}
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
    }
}
