//! # hudi-pg-sync (library facade and CLI)
//!
//! The `hudi-pg-sync` binary is a thin shell over this library:
//!
//! - `hudi-pg-sync timeline --table <path-or-s3-uri>`: completed instants, one per line:
//!   requested time, completion time (empty on v6), action, operation type (tab-separated).
//!   `--archived` adds the archived instants and a fifth column, `archived` or `active`.
//! - `hudi-pg-sync changes --table <uri> [--after <instant>] [--until <instant>] --format jsonl`:
//!   one JSON object per changed row of the window `(after, until]` (completion times on
//!   v8/v9, instant times on v6; no `--after` = from the beginning), all columns including the
//!   `_hoodie_*` meta columns and `_op`, values as described in [`json`]. The plan summary and
//!   the bookmark to store next go to stderr.
//!
//!
//! The sync commands (PostgreSQL `--postgres <url>`, bookmarks `--bookmarks <dir | dynamodb://table>`,
//! see [`setup`]) run the same pipeline core as the Lambda functions (`hps_sync::SyncPipeline`):
//!
//! - `hudi-pg-sync run --table <uri> [--step] [--watch]`: sync passes until the table is up to
//!   date (or, with `--watch`, keep polling); progress bar and closing summary ([`run`]).
//! - `hudi-pg-sync status [--table <uri>]... [--format text|json]`: per table bookmark,
//!   fence, latest instant, instants behind, lag ([`status`]).
//! - `hudi-pg-sync rewind --table <uri> --to <instant|beginning>`, `reset --table <uri> --yes`,
//!   `resync`, `pause`, `resume` ([`ops`]).
//!
//! Exit codes: 0 success, 1 error, 2 usage error, 3 the table needs a resync (history gone
//! or rewritten), 4 not supported for this table (base file format, meta fields, merge mode),
//! 5 the table is busy (another process holds its lease), 130 interrupted.

pub mod cli;
pub mod commands;
pub mod config_cmd;
pub mod json;
pub mod lag;
pub mod ops;
pub mod progress;
pub mod quarantine_cmd;
pub mod run;
pub mod setup;
pub mod status;
pub mod store;

/// Errors of CLI commands.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The table location cannot be opened.
    #[error("cannot open {location}: {source}")]
    Store {
        /// Where: the storage location.
        location: String,
        /// The underlying error.
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
    /// A sync pass or operation failed.
    #[error(transparent)]
    Sync(#[from] hps_sync::SyncError),
    /// The configuration file cannot be read or is invalid.
    #[error("configuration: {0}")]
    Config(#[from] hps_config::ConfigError),
    /// Bad arguments or settings (PostgreSQL URL, bookmark location, table location).
    #[error("{0}")]
    Usage(String),
    /// The bookmark store failed.
    #[error("bookmarks: {0}")]
    Bookmarks(#[from] hps_sync::BookmarkError),
    /// PostgreSQL failed outside a sync pass.
    #[error("postgres: {0}")]
    Postgres(#[from] hps_postgres::PgError),
    /// Another process holds the table's lease.
    #[error(
        "{table} is busy: another sync holds its lease ({owner}, until {expires_at}); try again later or pass --wait"
    )]
    Busy {
        /// Table id.
        table: String,
        /// Lease holder.
        owner: String,
        /// When the lease expires unless renewed.
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// The table's incremental history is gone or rewritten.
    #[error("{table} needs a resync: {reason} (run `hudi-pg-sync resync --table {table}`)")]
    NeedsResync {
        /// Table id.
        table: String,
        /// Why.
        reason: String,
    },
    /// Some tables of a multi-table command failed (each was reported already).
    #[error("{failed} of {total} table(s) failed")]
    Tables {
        /// Tables that failed.
        failed: usize,
        /// Tables in the command.
        total: usize,
    },
    /// Interrupted (Ctrl-C) before the work was done.
    #[error("interrupted")]
    Interrupted,
    /// The sync made no progress (e.g. other writers keep winning the fence).
    #[error("{0}")]
    Stalled(String),
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
                | H::UnsupportedTableVersion { .. }
                | H::UnversionedTable { .. },
            ) => 4,
            CliError::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
            CliError::Sync(e) if e.needs_resync() => 3,
            CliError::Sync(hps_sync::SyncError::Hudi { source, .. })
                if matches!(
                    **source,
                    H::IncrementalUnsupported { .. }
                        | H::UnsupportedBaseFormat { .. }
                        | H::NotYetSupported { .. }
                        | H::UnsupportedTableVersion { .. }
                        | H::UnversionedTable { .. }
                ) =>
            {
                4
            }
            CliError::NeedsResync { .. } => 3,
            CliError::Usage(_) => 2,
            CliError::Config(e) if !e.is_transient() => 2,
            CliError::Busy { .. } | CliError::Sync(hps_sync::SyncError::Busy { .. }) => 5,
            CliError::Interrupted => 130,
            _ => 1,
        }
    }
}
