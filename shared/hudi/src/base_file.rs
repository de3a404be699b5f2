//! Reading a planned base file: its footer, the leaves of its meta columns, and its parquet
//! errors with the table's context (a vanished file is lost history, a truncated or corrupt
//! one is `TruncatedFile`).

use hps_storage::{DynStore, ParquetObjectReader, StorageError};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::errors::ParquetError;

use crate::error::{HudiError, Result};
use crate::plan::BaseFile;

/// A base file's footer, read once (one ranged read of the file's end).
pub(crate) struct BaseFooter {
    pub arm: ArrowReaderMetadata,
    pub err: ErrCtx,
}

impl BaseFooter {
    pub(crate) async fn load(store: &DynStore, table: &str, base: &BaseFile) -> Result<BaseFooter> {
        let err = ErrCtx {
            table: table.to_string(),
            base: base.clone(),
        };
        let mut reader = ParquetObjectReader::new(store.clone(), base.path.clone(), base.size);
        let md = reader.load_metadata().await.map_err(|e| err.map(e))?;
        let arm = ArrowReaderMetadata::try_new(
            md,
            ArrowReaderOptions::new().with_skip_arrow_metadata(true),
        )
        .map_err(|e| err.map(e))?;
        Ok(BaseFooter { arm, err })
    }

    /// The parquet leaf (column chunk index) of a top-level column.
    pub(crate) fn leaf(&self, name: &str) -> Option<usize> {
        let descr = self.arm.metadata().file_metadata().schema_descr_ptr();
        (0..descr.num_columns()).find(|i| descr.column(*i).path().string() == name)
    }

    /// A reader of the file that does not fetch the footer again.
    pub(crate) fn reader(&self, store: &DynStore) -> ParquetObjectReader {
        ParquetObjectReader::new(
            store.clone(),
            self.err.base.path.clone(),
            self.err.base.size,
        )
        .with_metadata(self.arm.metadata().clone())
    }
}

/// The file a parquet read works on, to name it in errors.
pub(crate) struct ErrCtx {
    pub table: String,
    pub base: BaseFile,
}

impl ErrCtx {
    pub(crate) fn map(&self, e: ParquetError) -> HudiError {
        let table = self.table.clone();
        let file = self.base.path.clone();
        let instant = self.base.instant_time.clone();
        match e {
            ParquetError::External(inner) => match inner.downcast::<StorageError>() {
                Ok(se) if se.is_not_found() => HudiError::HistoryNotRetained {
                    table,
                    file,
                    instant,
                    hint:
                        "the planned file disappeared before it was read (cleaned or rolled back); \
                           the incremental history is gone: resync the table (full snapshot)"
                            .to_string(),
                },
                Ok(se) => HudiError::Storage { table, source: *se },
                Err(other) => HudiError::ReadFailed {
                    table,
                    file,
                    reason: other.to_string(),
                    transient: false,
                },
            },
            ParquetError::EOF(m) => HudiError::TruncatedFile {
                table,
                file,
                instant,
                reason: m,
            },
            ParquetError::General(m) if is_corruption(&m) => HudiError::TruncatedFile {
                table,
                file,
                instant,
                reason: m,
            },
            ParquetError::NeedMoreData(n) => HudiError::TruncatedFile {
                table,
                file,
                instant,
                reason: format!("needs {n} more bytes"),
            },
            ParquetError::NeedMoreDataRange(r) => HudiError::TruncatedFile {
                table,
                file,
                instant,
                reason: format!("needs bytes {}..{}", r.start, r.end),
            },
            other => HudiError::ReadFailed {
                table,
                file,
                reason: other.to_string(),
                transient: false,
            },
        }
    }
}

fn is_corruption(m: &str) -> bool {
    let l = m.to_ascii_lowercase();
    [
        "corrupt",
        "invalid parquet",
        "eof",
        "magic",
        "truncat",
        "out of bound",
        "unexpected end",
        "could not parse metadata",
    ]
    .iter()
    .any(|k| l.contains(k))
}
