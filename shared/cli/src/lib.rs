//! # hudi-pg-sync (library facade and CLI)
//!
//! The `hudi-pg-sync` binary is a thin shell over this library:
//!
//! - `hudi-pg-sync timeline --table <path-or-s3-uri>`: completed instants, one per line:
//!   requested time, completion time (empty on v6), action, operation type (tab-separated).
//! - `hudi-pg-sync changes --table <uri> [--after <instant>] [--until <instant>] --format jsonl`:
//!   one JSON object per changed row of the window `(after, until]` (completion times on
//!   v8/v9, instant times on v6; no `--after` = from the beginning), all columns including the
//!   `_hoodie_*` meta columns and `_op`, values as described in [`json`]. The plan summary and
//!   the bookmark to store next go to stderr.
//!
//! Exit codes: 0 success, 1 error, 2 usage error, 3 the table needs a resync (history gone
//! or rewritten), 4 not supported for this table (format, meta fields, MOR log files).

pub mod cli;
pub mod commands;
pub mod json;
pub mod store;

/// Errors of CLI commands.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The table location cannot be opened.
    #[error("cannot open {location}: {source}")]
    Store {
        location: String,
        #[source]
        source: hps_storage::StorageError,
    },
    /// The Hudi reader failed.
    #[error(transparent)]
    Hudi(#[from] hps_hudi::HudiError),
    /// A value could not be written as JSON.
    #[error(transparent)]
    Json(#[from] json::JsonError),
    /// Writing the output failed.
    #[error("output: {0}")]
    Io(#[from] std::io::Error),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        use hps_hudi::HudiError as H;
        match self {
            CliError::Hudi(e) if e.needs_resync() => 3,
            CliError::Hudi(
                H::IncrementalUnsupported { .. }
                | H::UnsupportedBaseFormat { .. }
                | H::NotYetSupported { .. }
                | H::UnsupportedTableVersion { .. },
            ) => 4,
            CliError::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
            _ => 1,
        }
    }
}
