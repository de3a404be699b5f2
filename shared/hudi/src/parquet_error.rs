//! Parquet errors of a planned base file, with the table's context: a vanished file is lost
//! history, a truncated or corrupt one is `TruncatedFile`.

use hps_storage::StorageError;
use parquet::errors::ParquetError;

use crate::error::HudiError;
use crate::plan::BaseFile;

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
