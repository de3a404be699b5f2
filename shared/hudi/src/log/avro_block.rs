//! AVRO_DATA blocks (docs/hudi-format.md §3): `i32 version (3)`, `i32 count`, then
//! `count × (i32 len, len bytes of Avro binary datum)`, each datum written with the block's
//! `SCHEMA` header.
//!
//! The content is streamed with ranged reads and records are decoded one at a time by an
//! [`AvroRecordDecoder`] into [`RecordBatch`]es of a configurable size, so a block of any size
//! is decoded in bounded memory (one read window plus one batch).

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use hps_storage::DynStore;

use super::avro_decode::AvroRecordDecoder;
use super::block::{BlockType, LogBlock};
use super::error::{LogError, LogResult};
use super::io::{RangeReader, ReadError};

/// How data blocks are read.
#[derive(Debug, Clone)]
pub struct DataBlockOptions {
    /// Rows per emitted batch (default 8192).
    pub batch_size: usize,
    /// Size of each ranged read while streaming an Avro block's content (default 1 MiB).
    pub read_chunk: usize,
    /// Largest content held in memory at once: a PARQUET_DATA or DELETE block's content, or a
    /// single Avro record (default 1 GiB).
    pub max_in_memory_bytes: u64,
}

impl Default for DataBlockOptions {
    fn default() -> Self {
        DataBlockOptions {
            batch_size: 8192,
            read_chunk: 1024 * 1024,
            max_in_memory_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// The content version of delete blocks this reader decodes (Avro, Hudi 0.14+), and of the
/// data blocks Hudi 0.14+ writes.
pub(crate) const CONTENT_VERSION: i32 = 3;

/// Content versions of AVRO_DATA blocks this reader decodes. Version 2 (Hudi 0.6-0.13, table
/// versions <= 5) and version 1 (older writers) have the same layout as version 3: version,
/// record count, then length-prefixed records.
const DATA_CONTENT_VERSIONS: std::ops::RangeInclusive<i32> = 1..=CONTENT_VERSION;

/// Why a data block's content version is refused.
fn unknown_data_version() -> String {
    format!("AVRO_DATA blocks of content versions {DATA_CONTENT_VERSIONS:?} are supported")
}

/// Streams the rows of one AVRO_DATA block as record batches.
#[derive(Debug)]
pub struct AvroBlockReader {
    reader: RangeReader,
    decoder: AvroRecordDecoder,
    file: String,
    offset: u64,
    records_left: u64,
    record_index: u64,
    batch_size: usize,
    max_record: u64,
}

impl AvroBlockReader {
    /// Start reading `block` (an AVRO_DATA block) of `store`, into `target` (or the writer
    /// schema's default mapping). Reads only the content's first window.
    pub async fn open(
        store: DynStore,
        block: &LogBlock,
        target: Option<SchemaRef>,
        options: &DataBlockOptions,
    ) -> LogResult<Self> {
        let file = block.file.clone();
        let offset = block.offset;
        if block.block_type != BlockType::AvroData {
            return Err(LogError::Unsupported {
                file,
                what: format!(
                    "block at byte {offset} is {}, not AVRO_DATA",
                    block.block_type
                ),
            });
        }
        if block.header.is_partial() {
            return Err(LogError::Unsupported {
                file,
                what: format!("partial-update block (IS_PARTIAL=true) at byte {offset}"),
            });
        }
        let schema_json = block.header.schema().ok_or(LogError::MissingHeader {
            file: file.clone(),
            offset,
            key: "SCHEMA",
        })?;
        let decoder = AvroRecordDecoder::try_new(schema_json, target).map_err(|reason| {
            LogError::InvalidSchema {
                file: file.clone(),
                offset,
                reason,
            }
        })?;
        let mut reader = RangeReader::new(
            store,
            file.clone(),
            block.content.start,
            block.content.end,
            options.read_chunk,
        );
        let eof = |e: ReadError, what: &str| match e {
            ReadError::Io(e) => e,
            ReadError::Eof { .. } => LogError::MalformedBlock {
                file: file.clone(),
                offset,
                reason: format!("content too short for the {what}"),
            },
        };
        let version = reader
            .read_i32()
            .await
            .map_err(|e| eof(e, "content version"))?;
        if !DATA_CONTENT_VERSIONS.contains(&version) {
            return Err(LogError::UnsupportedContentVersion {
                file,
                offset,
                version,
                why: unknown_data_version(),
            });
        }
        let count = reader
            .read_i32()
            .await
            .map_err(|e| eof(e, "record count"))?;
        // every record takes at least its 4-byte length
        let count = u64::try_from(count)
            .ok()
            .filter(|n| n.saturating_mul(4) <= reader.remaining())
            .ok_or_else(|| LogError::MalformedBlock {
                file: file.clone(),
                offset,
                reason: format!(
                    "record count {count} does not fit the {} content bytes",
                    reader.remaining()
                ),
            })?;
        Ok(AvroBlockReader {
            reader,
            decoder,
            file,
            offset,
            records_left: count,
            record_index: 0,
            batch_size: options.batch_size.max(1),
            max_record: options.max_in_memory_bytes,
        })
    }

    /// The output schema.
    pub fn schema(&self) -> SchemaRef {
        self.decoder.schema()
    }

    /// Records not yet decoded.
    pub fn records_left(&self) -> u64 {
        self.records_left
    }

    fn decode_err(&self, reason: impl Into<String>) -> LogError {
        LogError::AvroDecode {
            file: self.file.clone(),
            offset: self.offset,
            record: self.record_index,
            reason: reason.into(),
        }
    }

    /// The next batch of at most `batch_size` rows, or `None` when the block is exhausted.
    pub async fn next_batch(&mut self) -> LogResult<Option<RecordBatch>> {
        if self.records_left == 0 {
            if !self.decoder.is_empty() {
                return self
                    .decoder
                    .flush()
                    .map(Some)
                    .map_err(|e| self.decode_err(e));
            }
            if self.reader.remaining() != 0 {
                let n = self.reader.remaining();
                self.reader.seek(self.reader.end());
                return Err(self.decode_err(format!("{n} bytes after the last record")));
            }
            return Ok(None);
        }
        while self.records_left > 0 && self.decoder.len() < self.batch_size {
            let len = match self.reader.read_i32().await {
                Ok(v) => v,
                Err(ReadError::Io(e)) => return Err(e),
                Err(ReadError::Eof { .. }) => {
                    return Err(self.decode_err("record length cut off by the end of the block"));
                }
            };
            let len = u64::try_from(len)
                .ok()
                .filter(|l| *l <= self.reader.remaining())
                .ok_or_else(|| {
                    self.decode_err(format!(
                        "record length {len} does not fit the {} bytes left",
                        self.reader.remaining()
                    ))
                })?;
            if len > self.max_record {
                return Err(LogError::BlockTooLarge {
                    file: self.file.clone(),
                    offset: self.offset,
                    len,
                    limit: self.max_record,
                });
            }
            let datum = match self.reader.read_bytes(len).await {
                Ok(b) => b,
                Err(ReadError::Io(e)) => return Err(e),
                Err(ReadError::Eof { .. }) => {
                    return Err(self.decode_err("record cut off by the end of the block"));
                }
            };
            self.decoder
                .decode(&datum)
                .map_err(|e| self.decode_err(e))?;
            self.records_left -= 1;
            self.record_index += 1;
        }
        self.decoder
            .flush()
            .map(Some)
            .map_err(|e| self.decode_err(e))
    }

    /// Decode the whole block (tests and small blocks).
    pub async fn read_all(mut self) -> LogResult<Vec<RecordBatch>> {
        let mut out = Vec::new();
        while let Some(b) = self.next_batch().await? {
            out.push(b);
        }
        Ok(out)
    }
}
