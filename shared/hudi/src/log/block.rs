//! The block framing of Hudi log files (docs/hudi-format.md §3), read block by block with
//! ranged reads.
//!
//! ```text
//! magic "#HUDI#" | blockLen i64 | formatVersion i32 | blockType i32 | header | contentLen i64
//! | content | footer | trailer i64 (= blockLen + 6)
//! ```
//!
//! [`LogFileReader::next_block`] reads a block's fixed fields, header and footer with small
//! ranged reads (one buffered window at the block start, one at its tail, which also holds the
//! next block's start) and returns a [`LogBlock`] that only *locates* the content; the content
//! is fetched later, and only for blocks that are needed.
//!
//! Framing is validated like Hudi's `HoodieLogFileReader.isBlockCorrupt`: the block length must
//! stay inside the file, the trailer must repeat it and the next block must start with the magic
//! (or the file must end). A block failing that is a torn write: it is returned as a
//! [`BlockType::Corrupted`] block spanning up to the next magic found by scanning forward, and
//! callers skip it (see [`super::scan`]). A block whose framing is sound but whose inside is
//! inconsistent is an error, as is a file not starting with the magic. No length read from the
//! file is trusted before it has been checked against the bytes actually present.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use hps_storage::DynStore;

use super::error::{LogError, LogResult};
use super::io::{RangeReader, ReadError, scan_for};

/// The 6 bytes every block starts with.
pub const MAGIC: &[u8; 6] = b"#HUDI#";

/// Bytes of magic + block length.
const PREAMBLE: u64 = 14;
/// Smallest valid `blockLen` for format version 1: version, type, header count, content
/// length, footer count, trailer.
const MIN_BLOCK_LEN: i64 = 4 + 4 + 4 + 8 + 4 + 8;

/// A block's type (ordinal of Hudi's `HoodieLogBlockType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockType {
    /// 0: command block (rollback marker).
    Command,
    /// 1: delete block (`HoodieDeleteRecordList`).
    Delete,
    /// 2: produced by readers for torn blocks; never legitimately written.
    Corrupted,
    /// 3: Avro records.
    AvroData,
    /// 4: HFile (metadata table only).
    HfileData,
    /// 5: a parquet file.
    ParquetData,
    /// 6: CDC data (`.cdc` logs).
    CdcData,
    /// Any other ordinal.
    Unknown(i32),
}

impl BlockType {
    /// The type of ordinal `v`.
    pub fn from_ordinal(v: i32) -> BlockType {
        match v {
            0 => BlockType::Command,
            1 => BlockType::Delete,
            2 => BlockType::Corrupted,
            3 => BlockType::AvroData,
            4 => BlockType::HfileData,
            5 => BlockType::ParquetData,
            6 => BlockType::CdcData,
            other => BlockType::Unknown(other),
        }
    }

    /// Hudi's name of the type.
    pub fn name(&self) -> &'static str {
        match self {
            BlockType::Command => "COMMAND_BLOCK",
            BlockType::Delete => "DELETE_BLOCK",
            BlockType::Corrupted => "CORRUPT_BLOCK",
            BlockType::AvroData => "AVRO_DATA_BLOCK",
            BlockType::HfileData => "HFILE_DATA_BLOCK",
            BlockType::ParquetData => "PARQUET_DATA_BLOCK",
            BlockType::CdcData => "CDC_DATA_BLOCK",
            BlockType::Unknown(_) => "UNKNOWN",
        }
    }

    /// Whether the block holds table rows this reader decodes (Avro or parquet).
    pub fn is_data(&self) -> bool {
        matches!(self, BlockType::AvroData | BlockType::ParquetData)
    }
}

impl fmt::Display for BlockType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockType::Unknown(v) => write!(f, "unknown block type {v}"),
            other => f.write_str(other.name()),
        }
    }
}

/// A header / footer key (ordinal of Hudi's `HeaderMetadataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HeaderKey {
    /// 0: requested time of the instant that wrote the block.
    InstantTime,
    /// 1: command blocks: the instant being rolled back.
    TargetInstantTime,
    /// 2: Avro schema JSON of the records.
    Schema,
    /// 3: command type; `"0"` = rollback.
    CommandBlockType,
    /// 4: log compaction: comma list of the instants this block replaces.
    CompactedBlockTimes,
    /// 5: positional merge hints.
    RecordPositions,
    /// 6: retry de-duplication id.
    BlockIdentifier,
    /// 7: partial-update records.
    IsPartial,
    /// 8: base instant the record positions refer to.
    BaseFileInstantTimeOfRecordPositions,
    /// A key this reader does not know (kept, never interpreted).
    Unknown(i32),
}

impl HeaderKey {
    /// The key of ordinal `v`.
    pub fn from_ordinal(v: i32) -> HeaderKey {
        match v {
            0 => HeaderKey::InstantTime,
            1 => HeaderKey::TargetInstantTime,
            2 => HeaderKey::Schema,
            3 => HeaderKey::CommandBlockType,
            4 => HeaderKey::CompactedBlockTimes,
            5 => HeaderKey::RecordPositions,
            6 => HeaderKey::BlockIdentifier,
            7 => HeaderKey::IsPartial,
            8 => HeaderKey::BaseFileInstantTimeOfRecordPositions,
            other => HeaderKey::Unknown(other),
        }
    }
}

/// A block's header or footer map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockMetadata(BTreeMap<HeaderKey, String>);

impl BlockMetadata {
    /// The value of `key`.
    pub fn get(&self, key: HeaderKey) -> Option<&str> {
        self.0.get(&key).map(String::as_str)
    }

    /// `INSTANT_TIME`.
    pub fn instant_time(&self) -> Option<&str> {
        self.get(HeaderKey::InstantTime)
    }

    /// `TARGET_INSTANT_TIME`.
    pub fn target_instant_time(&self) -> Option<&str> {
        self.get(HeaderKey::TargetInstantTime)
    }

    /// `SCHEMA`.
    pub fn schema(&self) -> Option<&str> {
        self.get(HeaderKey::Schema)
    }

    /// `COMMAND_BLOCK_TYPE` (`"0"` = rollback).
    pub fn command_block_type(&self) -> Option<&str> {
        self.get(HeaderKey::CommandBlockType)
    }

    /// The instants listed in `COMPACTED_BLOCK_TIMES` (empty when absent).
    pub fn compacted_block_times(&self) -> Vec<&str> {
        self.get(HeaderKey::CompactedBlockTimes)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `IS_PARTIAL` says the records carry only some columns.
    pub fn is_partial(&self) -> bool {
        self.get(HeaderKey::IsPartial)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// All entries, by key ordinal.
    pub fn iter(&self) -> impl Iterator<Item = (HeaderKey, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Insert an entry (tests and tools that build blocks).
    pub fn insert(&mut self, key: HeaderKey, value: impl Into<String>) {
        self.0.insert(key, value.into());
    }
}

/// One block of a log file, located but not loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBlock {
    /// The log file (path relative to the table base path).
    pub file: String,
    /// Offset of the block's magic.
    pub offset: u64,
    /// Offset just past the block (where the next block starts).
    pub end: u64,
    /// The block type; [`BlockType::Corrupted`] for a torn block found while reading.
    pub block_type: BlockType,
    /// The header. For a corrupted block: what could be read of it, possibly nothing.
    pub header: BlockMetadata,
    /// The footer (empty for corrupted blocks).
    pub footer: BlockMetadata,
    /// Absolute byte range of the content inside the file.
    pub content: Range<u64>,
    /// Why the block is corrupted (only for [`BlockType::Corrupted`]).
    pub corruption: Option<String>,
}

impl LogBlock {
    /// `INSTANT_TIME` of the header.
    pub fn instant_time(&self) -> Option<&str> {
        self.header.instant_time()
    }

    /// Content length in bytes.
    pub fn content_len(&self) -> u64 {
        self.content.end - self.content.start
    }

    /// Whether this is a torn block found while reading.
    pub fn is_corrupted(&self) -> bool {
        self.block_type == BlockType::Corrupted
    }

    /// Whether this is a rollback command block.
    pub fn is_rollback(&self) -> bool {
        self.block_type == BlockType::Command
            && self.header.command_block_type().map(str::trim) == Some("0")
    }

    /// A short description for messages: `file@offset (TYPE, instant X)`.
    pub fn describe(&self) -> String {
        format!(
            "{}@{} ({}, instant {})",
            self.file,
            self.offset,
            self.block_type,
            self.instant_time().unwrap_or("?")
        )
    }

    /// Fetch the whole content with one ranged read, refusing contents over `limit` bytes.
    pub async fn fetch_content(&self, store: &DynStore, limit: u64) -> LogResult<Bytes> {
        let len = self.content_len();
        if len > limit {
            return Err(LogError::BlockTooLarge {
                file: self.file.clone(),
                offset: self.offset,
                len,
                limit,
            });
        }
        if len == 0 {
            return Ok(Bytes::new());
        }
        let data = store
            .get_range(&self.file, self.content.clone())
            .await
            .map_err(|source| LogError::Storage {
                file: self.file.clone(),
                source,
            })?;
        if data.len() as u64 != len {
            return Err(LogError::ShortRead {
                file: self.file.clone(),
                wanted: self.content.end,
                got: self.content.start + data.len() as u64,
            });
        }
        Ok(data)
    }
}

/// Tuning of [`LogFileReader`].
#[derive(Debug, Clone)]
pub struct LogReaderOptions {
    /// Size of each buffered ranged read of block headers and tails (default 64 KiB).
    pub read_chunk: usize,
    /// Refuse headers or footers larger than this (default 64 MiB).
    pub max_metadata_bytes: u64,
}

impl Default for LogReaderOptions {
    fn default() -> Self {
        LogReaderOptions {
            read_chunk: 64 * 1024,
            max_metadata_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Reads the blocks of one log file in order.
#[derive(Debug)]
pub struct LogFileReader {
    reader: RangeReader,
    size: u64,
    next: u64,
    options: LogReaderOptions,
}

/// What parsing the inside of a block produced (before the framing verdict).
struct Interior {
    header: BlockMetadata,
    footer: BlockMetadata,
    block_type: BlockType,
    content: Range<u64>,
}

/// A failure while parsing the inside of a block.
enum InteriorError {
    Io(LogError),
    Version(i32),
    Malformed(String),
}

impl From<ReadError> for InteriorError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => InteriorError::Io(e),
            ReadError::Eof { needed, available } => InteriorError::Malformed(format!(
                "needs {needed} more bytes but only {available} remain in the file"
            )),
        }
    }
}

/// The interior parse result plus whatever header entries were read before a failure (used
/// to name the instant of a torn block).
struct Parsed {
    partial_header: BlockMetadata,
    result: Result<Interior, InteriorError>,
}

impl LogFileReader {
    /// A reader of the log file at `path`, whose size is `size` (from a listing or `head`).
    pub fn new(store: DynStore, path: impl Into<String>, size: u64) -> Self {
        Self::with_options(store, path, size, LogReaderOptions::default())
    }

    /// As [`LogFileReader::new`], with options.
    pub fn with_options(
        store: DynStore,
        path: impl Into<String>,
        size: u64,
        options: LogReaderOptions,
    ) -> Self {
        let reader = RangeReader::new(store, path, 0, size, options.read_chunk);
        LogFileReader {
            reader,
            size,
            next: 0,
            options,
        }
    }

    /// A reader of `path`, asking the store for its size.
    pub async fn open(store: DynStore, path: impl Into<String>) -> LogResult<Self> {
        let path = path.into();
        let meta = store
            .head(&path)
            .await
            .map_err(|source| LogError::Storage {
                file: path.clone(),
                source,
            })?;
        Ok(Self::new(store, path, meta.size))
    }

    /// The log file.
    pub fn path(&self) -> &str {
        self.reader.path()
    }

    /// The file size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes fetched and GET requests issued so far.
    pub fn io_stats(&self) -> (u64, u64) {
        self.reader.stats()
    }

    /// Read every remaining block (headers only).
    pub async fn read_all(&mut self) -> LogResult<Vec<LogBlock>> {
        let mut out = Vec::new();
        while let Some(b) = self.next_block().await? {
            out.push(b);
        }
        Ok(out)
    }

    fn malformed(&self, offset: u64, reason: impl Into<String>) -> LogError {
        LogError::MalformedBlock {
            file: self.path().to_string(),
            offset,
            reason: reason.into(),
        }
    }

    /// The next block, or `None` at the end of the file.
    pub async fn next_block(&mut self) -> LogResult<Option<LogBlock>> {
        let p = self.next;
        if p >= self.size {
            return Ok(None);
        }
        let remaining = self.size - p;
        self.reader.seek(p);
        if remaining < MAGIC.len() as u64 {
            // A few trailing bytes: a writer died while starting a block.
            self.next = self.size;
            return Ok(Some(self.corrupted(
                p,
                self.size,
                BlockMetadata::default(),
                format!("{remaining} trailing bytes after the last block"),
            )));
        }
        let magic = self.read(p).await?;
        if magic.as_ref() != MAGIC {
            return Err(LogError::BadMagic {
                file: self.path().to_string(),
                offset: p,
            });
        }
        let block_len = self
            .reader
            .read_i64()
            .await
            .map_err(|e| self.read_err(p, e));
        let block_len = match block_len {
            Ok(v) => v,
            Err(LogError::MalformedBlock { .. }) => {
                return self
                    .corrupt_and_resync(
                        p,
                        BlockMetadata::default(),
                        "block length cut off by the end of the file".into(),
                    )
                    .await;
            }
            Err(e) => return Err(e),
        };
        let body_start = p + PREAMBLE;
        let end = u64::try_from(block_len)
            .ok()
            .and_then(|l| body_start.checked_add(l));
        let end = match end {
            Some(end) if block_len >= MIN_BLOCK_LEN && end <= self.size => end,
            _ => {
                let reason = if block_len < 0 {
                    format!("negative block length {block_len}")
                } else if block_len < MIN_BLOCK_LEN {
                    format!("block length {block_len} is below the minimum of {MIN_BLOCK_LEN}")
                } else {
                    format!(
                        "block length {block_len} runs past the end of the file ({} bytes)",
                        self.size
                    )
                };
                // Best effort: recover the header (for the instant) from what is there.
                let parsed = self.parse_interior(body_start, self.size).await;
                if let Err(InteriorError::Io(e)) = parsed.result {
                    return Err(e);
                }
                return self
                    .corrupt_and_resync(p, parsed.partial_header, reason)
                    .await;
            }
        };

        let Parsed {
            partial_header,
            result,
        } = self.parse_interior(body_start, end - 8).await;
        if let Err(InteriorError::Io(e)) = result {
            return Err(e);
        }
        // Framing: the trailer repeats the length and the next block starts with the magic.
        if let Some(reason) = self.check_tail(end, block_len).await? {
            return self.corrupt_and_resync(p, partial_header, reason).await;
        }
        let interior = match result {
            Ok(i) => i,
            Err(InteriorError::Io(e)) => return Err(e),
            Err(InteriorError::Version(version)) => {
                return Err(LogError::UnsupportedFormatVersion {
                    file: self.path().to_string(),
                    offset: p,
                    version,
                });
            }
            Err(InteriorError::Malformed(reason)) => return Err(self.malformed(p, reason)),
        };
        self.next = end;
        Ok(Some(LogBlock {
            file: self.path().to_string(),
            offset: p,
            end,
            block_type: interior.block_type,
            header: interior.header,
            footer: interior.footer,
            content: interior.content,
            corruption: None,
        }))
    }

    async fn read(&mut self, at: u64) -> LogResult<Bytes> {
        self.reader
            .read_bytes(MAGIC.len() as u64)
            .await
            .map_err(|e| self.read_err(at, e))
    }

    fn read_err(&self, offset: u64, e: ReadError) -> LogError {
        match e {
            ReadError::Io(e) => e,
            ReadError::Eof { needed, available } => self.malformed(
                offset,
                format!("needs {needed} bytes but only {available} remain"),
            ),
        }
    }

    /// Returns `Some(reason)` when the framing around `end` is broken.
    async fn check_tail(&mut self, end: u64, block_len: i64) -> LogResult<Option<String>> {
        self.reader.seek(end - 8);
        self.reader.prefetch(self.options.read_chunk as u64).await?;
        let trailer = self
            .reader
            .read_i64()
            .await
            .map_err(|e| self.read_err(end, e))?;
        if trailer.checked_sub(MAGIC.len() as i64) != Some(block_len) {
            return Ok(Some(format!(
                "trailer {trailer} does not match block length {block_len} (expected {})",
                block_len.saturating_add(MAGIC.len() as i64)
            )));
        }
        if self.size - end >= MAGIC.len() as u64 {
            let next = self
                .reader
                .read_bytes(MAGIC.len() as u64)
                .await
                .map_err(|e| self.read_err(end, e))?;
            if next.as_ref() != MAGIC {
                return Ok(Some(format!(
                    "no #HUDI# magic at byte {end} after the block"
                )));
            }
        }
        // else: the file ends here, or a torn next block starts (handled on the next call).
        Ok(None)
    }

    async fn corrupt_and_resync(
        &mut self,
        p: u64,
        header: BlockMetadata,
        reason: String,
    ) -> LogResult<Option<LogBlock>> {
        let next = scan_for(&mut self.reader, p + 1, MAGIC)
            .await?
            .unwrap_or(self.size);
        tracing::warn!(file = self.path(), offset = p, next_block = next, %reason, "corrupt log block");
        self.next = next;
        Ok(Some(self.corrupted(p, next, header, reason)))
    }

    fn corrupted(&self, p: u64, end: u64, header: BlockMetadata, reason: String) -> LogBlock {
        LogBlock {
            file: self.path().to_string(),
            offset: p,
            end,
            block_type: BlockType::Corrupted,
            header,
            footer: BlockMetadata::default(),
            content: p..end,
            corruption: Some(reason),
        }
    }

    /// Parse version, type, header, content length and footer of a block whose body starts at
    /// `body_start`, never reading at or past `limit` (the trailer's offset, or the file end for
    /// a block whose length is broken).
    async fn parse_interior(&mut self, body_start: u64, limit: u64) -> Parsed {
        let mut partial_header = BlockMetadata::default();
        let result = self
            .parse_interior_into(body_start, limit, &mut partial_header)
            .await;
        Parsed {
            partial_header,
            result,
        }
    }

    async fn parse_interior_into(
        &mut self,
        body_start: u64,
        limit: u64,
        partial_header: &mut BlockMetadata,
    ) -> Result<Interior, InteriorError> {
        self.reader.seek(body_start);
        if limit.saturating_sub(body_start) < 8 {
            return Err(InteriorError::Malformed(
                "format version and block type cut off".into(),
            ));
        }
        let version = self.reader.read_i32().await?;
        if version != 1 {
            return Err(InteriorError::Version(version));
        }
        let block_type = BlockType::from_ordinal(self.reader.read_i32().await?);
        self.parse_metadata(limit, "header", partial_header).await?;
        let header = partial_header.clone();
        if limit.saturating_sub(self.reader.position()) < 8 {
            return Err(InteriorError::Malformed("content length cut off".into()));
        }
        let content_len = self.reader.read_i64().await?;
        let content_start = self.reader.position();
        let left = limit.saturating_sub(content_start);
        let content_len = u64::try_from(content_len)
            .ok()
            .filter(|l| *l <= left)
            .ok_or_else(|| {
                InteriorError::Malformed(format!(
                    "content length {content_len} does not fit the {left} bytes left in the block"
                ))
            })?;
        let content = content_start..content_start + content_len;
        self.reader.seek(content.end);
        // The footer sits right before the trailer; fetch the tail window once.
        self.reader
            .prefetch(self.options.read_chunk as u64)
            .await
            .map_err(InteriorError::Io)?;
        let mut footer = BlockMetadata::default();
        self.parse_metadata(limit, "footer", &mut footer).await?;
        Ok(Interior {
            header,
            footer,
            block_type,
            content,
        })
    }

    /// `i32 n, n × (i32 key, i32 len, len bytes UTF-8)`, bounded by `limit`, into `map`.
    async fn parse_metadata(
        &mut self,
        limit: u64,
        what: &str,
        map: &mut BlockMetadata,
    ) -> Result<(), InteriorError> {
        let left = |r: &RangeReader| limit.saturating_sub(r.position());
        if left(&self.reader) < 4 {
            return Err(InteriorError::Malformed(format!(
                "{what} entry count cut off"
            )));
        }
        let n = self.reader.read_i32().await?;
        if n < 0 || (n as u64).saturating_mul(8) > left(&self.reader) {
            return Err(InteriorError::Malformed(format!(
                "{what} claims {n} entries but only {} bytes remain in the block",
                left(&self.reader)
            )));
        }
        let mut total: u64 = 0;
        for i in 0..n {
            if left(&self.reader) < 8 {
                return Err(InteriorError::Malformed(format!(
                    "{what} entry {i} cut off"
                )));
            }
            let key = HeaderKey::from_ordinal(self.reader.read_i32().await?);
            let len = self.reader.read_i32().await?;
            let len = u64::try_from(len).map_err(|_| {
                InteriorError::Malformed(format!("{what} entry {i} has negative length {len}"))
            })?;
            if len > left(&self.reader) {
                return Err(InteriorError::Malformed(format!(
                    "{what} entry {i} ({key:?}) claims {len} bytes but only {} remain in the block",
                    left(&self.reader)
                )));
            }
            total += len;
            if total > self.options.max_metadata_bytes {
                return Err(InteriorError::Malformed(format!(
                    "{what} is larger than the limit of {} bytes",
                    self.options.max_metadata_bytes
                )));
            }
            let bytes = self.reader.read_bytes(len).await?;
            let value = std::str::from_utf8(&bytes).map_err(|e| {
                InteriorError::Malformed(format!("{what} entry {i} ({key:?}) is not UTF-8: {e}"))
            })?;
            if map.0.insert(key, value.to_string()).is_some() {
                return Err(InteriorError::Malformed(format!(
                    "{what} repeats key {key:?}"
                )));
            }
        }
        Ok(())
    }
}

/// Serialize a block (format version 1). Used by tests and tools that write log files; the
/// reader never needs it.
pub fn encode_block(
    block_type: i32,
    header: &[(i32, &str)],
    content: &[u8],
    footer: &[(i32, &str)],
) -> Vec<u8> {
    fn meta(out: &mut Vec<u8>, entries: &[(i32, &str)]) {
        out.extend_from_slice(&(entries.len() as i32).to_be_bytes());
        for (k, v) in entries {
            out.extend_from_slice(&k.to_be_bytes());
            out.extend_from_slice(&(v.len() as i32).to_be_bytes());
            out.extend_from_slice(v.as_bytes());
        }
    }
    let mut body = Vec::new();
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&block_type.to_be_bytes());
    meta(&mut body, header);
    body.extend_from_slice(&(content.len() as i64).to_be_bytes());
    body.extend_from_slice(content);
    meta(&mut body, footer);
    let block_len = body.len() as i64 + 8;
    let mut out = Vec::with_capacity(body.len() + 22);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&block_len.to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&(block_len + MAGIC.len() as i64).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hps_storage::LocalStore;

    use super::*;

    async fn store_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, DynStore) {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = Arc::new(LocalStore::new(dir.path()));
        for (name, data) in files {
            store.put(name, Bytes::copy_from_slice(data)).await.unwrap();
        }
        (dir, store)
    }

    async fn read_all(data: &[u8]) -> LogResult<Vec<LogBlock>> {
        read_all_chunked(data, 64 * 1024).await
    }

    async fn read_all_chunked(data: &[u8], chunk: usize) -> LogResult<Vec<LogBlock>> {
        let (_d, store) = store_with(&[("f.log", data)]).await;
        let opts = LogReaderOptions {
            read_chunk: chunk,
            ..Default::default()
        };
        LogFileReader::with_options(store, "f.log", data.len() as u64, opts)
            .read_all()
            .await
    }

    fn data_block(instant: &str, content: &[u8]) -> Vec<u8> {
        encode_block(
            3,
            &[
                (0, instant),
                (2, "{\"type\":\"record\",\"name\":\"r\",\"fields\":[]}"),
            ],
            content,
            &[],
        )
    }

    #[tokio::test]
    async fn reads_well_formed_blocks_with_any_chunk_size() {
        let mut file = data_block("20250101000000001", b"first content");
        file.extend(encode_block(
            0,
            &[(0, "20250101000000003"), (1, "20250101000000001"), (3, "0")],
            b"",
            &[],
        ));
        file.extend(encode_block(
            1,
            &[(0, "20250101000000002")],
            &[7u8; 300],
            &[(6, "blk-1")],
        ));
        for chunk in [64, 100, 1000, 1 << 16] {
            let blocks = read_all_chunked(&file, chunk).await.unwrap();
            assert_eq!(blocks.len(), 3, "chunk {chunk}");
            let b0 = &blocks[0];
            assert_eq!(b0.block_type, BlockType::AvroData);
            assert_eq!(b0.instant_time(), Some("20250101000000001"));
            assert_eq!(
                &file[b0.content.start as usize..b0.content.end as usize],
                b"first content"
            );
            assert_eq!(b0.offset, 0);
            assert_eq!(blocks[1].offset, b0.end);
            assert!(blocks[1].is_rollback());
            assert_eq!(
                blocks[1].header.target_instant_time(),
                Some("20250101000000001")
            );
            assert_eq!(blocks[2].block_type, BlockType::Delete);
            assert_eq!(blocks[2].content_len(), 300);
            assert_eq!(
                blocks[2].footer.get(HeaderKey::BlockIdentifier),
                Some("blk-1")
            );
            assert_eq!(blocks[2].end, file.len() as u64);
            assert!(blocks.iter().all(|b| b.corruption.is_none()));
        }
    }

    #[tokio::test]
    async fn empty_file_has_no_blocks() {
        assert!(read_all(b"").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn wrong_magic_at_start_is_an_error() {
        let mut file = data_block("20250101000000001", b"x");
        file[0] = b'X';
        match read_all(&file).await {
            Err(LogError::BadMagic { offset: 0, .. }) => {}
            other => panic!("{other:?}"),
        }
        match read_all(b"PAR1 this is a parquet file, not a log").await {
            Err(LogError::BadMagic { .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn truncated_last_block_is_corrupted_and_earlier_blocks_survive() {
        let good = data_block("20250101000000001", b"good");
        let torn = data_block("20250101000000002", &[1u8; 200]);
        for cut in [3usize, 6, 10, 14, 30, 60, torn.len() - 1] {
            let mut file = good.clone();
            file.extend_from_slice(&torn[..cut]);
            let blocks = read_all_chunked(&file, 64).await.unwrap();
            assert_eq!(blocks.len(), 2, "cut {cut}");
            assert_eq!(blocks[0].block_type, BlockType::AvroData);
            let c = &blocks[1];
            assert!(c.is_corrupted(), "cut {cut}");
            assert_eq!((c.offset, c.end), (good.len() as u64, file.len() as u64));
            assert!(c.corruption.is_some());
            // once the INSTANT_TIME entry is complete, the instant of the torn block is recovered
            if cut >= 14 + 4 + 4 + 4 + 8 + 17 {
                assert_eq!(c.instant_time(), Some("20250101000000002"), "cut {cut}");
            }
        }
    }

    #[tokio::test]
    async fn corrupt_block_in_the_middle_resyncs_at_next_magic() {
        let mut torn = data_block("20250101000000001", &[9u8; 100]);
        torn.truncate(60); // writer died mid-block ...
        let good = data_block("20250101000000002", b"after");
        let mut file = torn.clone();
        file.extend(&good); // ... and the next writer appended a new block
        let blocks = read_all_chunked(&file, 64).await.unwrap();
        assert_eq!(blocks.len(), 2);
        assert!(blocks[0].is_corrupted());
        assert_eq!(blocks[0].end, 60);
        assert_eq!(blocks[0].instant_time(), Some("20250101000000001"));
        assert_eq!(blocks[1].block_type, BlockType::AvroData);
        assert_eq!(blocks[1].instant_time(), Some("20250101000000002"));
        assert_eq!(
            &file[blocks[1].content.start as usize..blocks[1].content.end as usize],
            b"after"
        );
    }

    #[tokio::test]
    async fn hostile_lengths_never_allocate_and_yield_corrupted_blocks() {
        let good = data_block("20250101000000001", b"payload");
        for bad_len in [i64::MIN, -1, 0, 5, i64::MAX, (good.len() as i64) * 1000] {
            let mut file = good.clone();
            file[6..14].copy_from_slice(&bad_len.to_be_bytes());
            let blocks = read_all(&file).await.unwrap();
            assert_eq!(blocks.len(), 1, "len {bad_len}");
            assert!(blocks[0].is_corrupted(), "len {bad_len}");
            assert_eq!(blocks[0].end, file.len() as u64);
        }
        // a trailer that disagrees with the length
        let mut file = good.clone();
        let n = file.len();
        file[n - 8..].copy_from_slice(&12345i64.to_be_bytes());
        let blocks = read_all(&file).await.unwrap();
        assert!(blocks[0].is_corrupted());
        assert!(blocks[0].corruption.as_deref().unwrap().contains("trailer"));
    }

    #[tokio::test]
    async fn hostile_interior_of_a_well_framed_block_is_an_error() {
        // header count of 2^31-1 entries inside a correctly framed block
        let mut file = data_block("20250101000000001", b"x");
        file[22..26].copy_from_slice(&i32::MAX.to_be_bytes());
        match read_all(&file).await {
            Err(LogError::MalformedBlock { reason, .. }) => {
                assert!(reason.contains("entries"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        // negative header count
        file[22..26].copy_from_slice(&(-3i32).to_be_bytes());
        assert!(matches!(
            read_all(&file).await,
            Err(LogError::MalformedBlock { .. })
        ));

        // a header value length beyond the block
        let mut file = data_block("20250101000000001", b"x");
        file[30..34].copy_from_slice(&1_000_000i32.to_be_bytes());
        match read_all(&file).await {
            Err(LogError::MalformedBlock { reason, .. }) => {
                assert!(reason.contains("claims"), "{reason}")
            }
            other => panic!("{other:?}"),
        }

        // content length beyond the block (and negative)
        let file = encode_block(1, &[], b"abc", &[]);
        for bad in [1_000_000i64, -1, i64::MAX] {
            let mut f = file.clone();
            f[26..34].copy_from_slice(&bad.to_be_bytes());
            match read_all(&f).await {
                Err(LogError::MalformedBlock { reason, .. }) => {
                    assert!(reason.contains("content length"), "{reason}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }

        // invalid UTF-8 in a header value
        let mut file = data_block("20250101000000001", b"x");
        file[34] = 0xff;
        assert!(matches!(
            read_all(&file).await,
            Err(LogError::MalformedBlock { .. })
        ));
    }

    #[tokio::test]
    async fn legacy_format_version_is_refused() {
        let mut file = data_block("20250101000000001", b"x");
        file[14..18].copy_from_slice(&0i32.to_be_bytes());
        assert!(matches!(
            read_all(&file).await,
            Err(LogError::UnsupportedFormatVersion { version: 0, .. })
        ));
    }

    #[tokio::test]
    async fn unknown_block_type_is_reported_not_guessed() {
        let file = encode_block(42, &[(0, "20250101000000001")], b"?", &[]);
        let blocks = read_all(&file).await.unwrap();
        assert_eq!(blocks[0].block_type, BlockType::Unknown(42));
        assert!(!blocks[0].block_type.is_data());
    }

    #[tokio::test]
    async fn skipping_a_large_block_does_not_fetch_its_content() {
        let big = vec![0xabu8; 4 * 1024 * 1024];
        let mut file = data_block("20250101000000001", &big);
        file.extend(data_block("20250101000000002", b"small"));
        let (_d, store) = store_with(&[("f.log", &file)]).await;
        let mut r = LogFileReader::new(store.clone(), "f.log", file.len() as u64);
        let blocks = r.read_all().await.unwrap();
        assert_eq!(blocks.len(), 2);
        let (fetched, requests) = r.io_stats();
        assert!(fetched < 256 * 1024, "fetched {fetched} bytes");
        assert!(requests <= 3, "{requests} requests");
        let content = blocks[0].fetch_content(&store, u64::MAX).await.unwrap();
        assert_eq!(content.len(), big.len());
        assert!(matches!(
            blocks[0].fetch_content(&store, 1024).await,
            Err(LogError::BlockTooLarge { limit: 1024, .. })
        ));
    }
}
