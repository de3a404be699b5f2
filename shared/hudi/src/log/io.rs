//! Buffered, bounded reads of one object through ranged GETs.
//!
//! [`RangeReader`] keeps one buffer of at most `chunk` bytes (or exactly one requested span when
//! a single read is larger than the chunk). Every read is checked against the object's end
//! *before* anything is fetched or allocated, so an untrusted length can never make it allocate
//! more than the object holds.

use bytes::Bytes;
use hps_storage::DynStore;

use super::error::{LogError, LogResult};

/// Why a bounded read failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Fewer than `needed` bytes remain before the reader's end.
    Eof { needed: u64, available: u64 },
    /// The store failed or returned less than asked.
    Io(LogError),
}

impl From<LogError> for ReadError {
    fn from(e: LogError) -> Self {
        ReadError::Io(e)
    }
}

/// A cursor over `[pos, end)` of one object, fetching `chunk`-sized windows on demand.
#[derive(Debug)]
pub(crate) struct RangeReader {
    store: DynStore,
    path: String,
    end: u64,
    pos: u64,
    buf: Bytes,
    buf_start: u64,
    chunk: usize,
    bytes_fetched: u64,
    requests: u64,
}

impl RangeReader {
    /// A reader of `[start, end)` of `path`; `end` must not exceed the object's size.
    pub(crate) fn new(
        store: DynStore,
        path: impl Into<String>,
        start: u64,
        end: u64,
        chunk: usize,
    ) -> Self {
        RangeReader {
            store,
            path: path.into(),
            end,
            pos: start.min(end),
            buf: Bytes::new(),
            buf_start: 0,
            chunk: chunk.max(64),
            bytes_fetched: 0,
            requests: 0,
        }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    pub(crate) fn remaining(&self) -> u64 {
        self.end.saturating_sub(self.pos)
    }

    /// Bytes fetched from the store so far, and the number of GET requests.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (self.bytes_fetched, self.requests)
    }

    /// Move to an absolute position (clamped to the end). Keeps the buffer.
    pub(crate) fn seek(&mut self, pos: u64) {
        self.pos = pos.min(self.end);
    }

    fn buffered(&self, pos: u64, n: u64) -> Option<Bytes> {
        let buf_end = self.buf_start + self.buf.len() as u64;
        if pos >= self.buf_start && pos.checked_add(n)? <= buf_end {
            let from = (pos - self.buf_start) as usize;
            Some(self.buf.slice(from..from + n as usize))
        } else {
            None
        }
    }

    async fn fetch(&mut self, from: u64, to: u64) -> LogResult<Bytes> {
        let data = self
            .store
            .get_range(&self.path, from..to)
            .await
            .map_err(|source| LogError::Storage {
                file: self.path.clone(),
                source,
            })?;
        self.requests += 1;
        self.bytes_fetched += data.len() as u64;
        if (data.len() as u64) < to - from {
            return Err(LogError::ShortRead {
                file: self.path.clone(),
                wanted: to,
                got: from + data.len() as u64,
            });
        }
        Ok(data)
    }

    /// Read exactly `n` bytes at the current position and advance. Fails with `Eof` (before any
    /// I/O) when fewer than `n` bytes remain.
    pub(crate) async fn read_bytes(&mut self, n: u64) -> Result<Bytes, ReadError> {
        let available = self.remaining();
        if n > available {
            return Err(ReadError::Eof {
                needed: n,
                available,
            });
        }
        if n == 0 {
            return Ok(Bytes::new());
        }
        if let Some(b) = self.buffered(self.pos, n) {
            self.pos += n;
            return Ok(b);
        }
        let data = if n >= self.chunk as u64 {
            // A large span: fetch exactly it, do not keep it.
            self.fetch(self.pos, self.pos + n).await?
        } else {
            let to = self.end.min(self.pos + self.chunk as u64);
            let from = self.pos;
            self.buf = self.fetch(from, to).await?;
            self.buf_start = from;
            self.buf.slice(0..n as usize)
        };
        self.pos += n;
        Ok(data)
    }

    /// Read up to `n` bytes (fewer only at the end).
    pub(crate) async fn read_up_to(&mut self, n: u64) -> Result<Bytes, ReadError> {
        let n = n.min(self.remaining());
        self.read_bytes(n).await
    }

    pub(crate) async fn read_i32(&mut self) -> Result<i32, ReadError> {
        let b = self.read_bytes(4).await?;
        let mut a = [0u8; 4];
        a.copy_from_slice(&b);
        Ok(i32::from_be_bytes(a))
    }

    pub(crate) async fn read_i64(&mut self) -> Result<i64, ReadError> {
        let b = self.read_bytes(8).await?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Ok(i64::from_be_bytes(a))
    }

    /// Prefetch so that the next `n` bytes (clamped to the end) are served from the buffer,
    /// when `n` fits in one chunk. Saves round trips when a caller knows it will read a span
    /// piecewise.
    pub(crate) async fn prefetch(&mut self, n: u64) -> LogResult<()> {
        let n = n.min(self.remaining());
        if n == 0 || n > self.chunk as u64 || self.buffered(self.pos, n).is_some() {
            return Ok(());
        }
        let from = self.pos;
        let to = self.end.min(from + (self.chunk as u64).max(n));
        self.buf = self.fetch(from, to).await?;
        self.buf_start = from;
        Ok(())
    }
}

/// Find the first occurrence of `needle` in `[from, reader.end())`, reading chunk by chunk
/// (bounded memory). Leaves the reader positioned at the match, or at the end when none.
pub(crate) async fn scan_for(
    reader: &mut RangeReader,
    from: u64,
    needle: &[u8],
) -> LogResult<Option<u64>> {
    let step = reader.chunk as u64;
    let overlap = needle.len().saturating_sub(1) as u64;
    let mut pos = from;
    reader.seek(pos);
    while reader.remaining() >= needle.len() as u64 {
        let window = match reader.read_up_to(step).await {
            Ok(b) => b,
            Err(ReadError::Io(e)) => return Err(e),
            Err(ReadError::Eof { .. }) => break,
        };
        if let Some(i) = window.windows(needle.len()).position(|w| w == needle) {
            let at = pos + i as u64;
            reader.seek(at);
            return Ok(Some(at));
        }
        if reader.remaining() == 0 {
            break;
        }
        // Re-read the last `overlap` bytes so a needle across the window edge is found.
        pos = pos + window.len() as u64 - overlap.min(window.len() as u64);
        reader.seek(pos);
    }
    let end = reader.end();
    reader.seek(end);
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hps_storage::LocalStore;

    use super::*;

    async fn store_with(data: &[u8]) -> (tempfile::TempDir, DynStore) {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = Arc::new(LocalStore::new(dir.path()));
        store.put("f", Bytes::copy_from_slice(data)).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn reads_across_chunks_and_refuses_past_end() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let (_d, store) = store_with(&data).await;
        let mut r = RangeReader::new(store, "f", 0, 1000, 64);
        let a = r.read_bytes(10).await.unwrap();
        assert_eq!(&a[..], &data[..10]);
        let b = r.read_bytes(100).await.unwrap(); // larger than the chunk: direct fetch
        assert_eq!(&b[..], &data[10..110]);
        let c = r.read_bytes(60).await.unwrap();
        assert_eq!(&c[..], &data[110..170]);
        r.seek(990);
        assert!(matches!(
            r.read_bytes(11).await,
            Err(ReadError::Eof {
                needed: 11,
                available: 10
            })
        ));
        // nothing was consumed by the failed read
        assert_eq!(r.read_bytes(10).await.unwrap().len(), 10);
        // a huge length never reaches the store
        let (fetched, _) = r.stats();
        assert!(matches!(
            r.read_bytes(u64::MAX).await,
            Err(ReadError::Eof { .. })
        ));
        assert_eq!(r.stats().0, fetched);
    }

    #[tokio::test]
    async fn short_object_is_a_short_read() {
        let (_d, store) = store_with(b"0123456789").await;
        // The caller believes the object is 100 bytes long.
        let mut r = RangeReader::new(store, "f", 0, 100, 64);
        match r.read_bytes(50).await {
            Err(ReadError::Io(LogError::ShortRead {
                wanted: 64,
                got: 10,
                ..
            })) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn scan_finds_needle_across_window_edges() {
        let mut data = vec![b'x'; 500];
        data[126..132].copy_from_slice(b"#HUDI#"); // spans the 64-byte window edge at 128
        let (_d, store) = store_with(&data).await;
        let mut r = RangeReader::new(store.clone(), "f", 0, 500, 64);
        assert_eq!(scan_for(&mut r, 1, b"#HUDI#").await.unwrap(), Some(126));
        assert_eq!(r.position(), 126);
        assert_eq!(scan_for(&mut r, 127, b"#HUDI#").await.unwrap(), None);
        assert_eq!(r.position(), 500);
    }
}
