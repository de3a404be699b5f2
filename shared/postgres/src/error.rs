//! Errors of the apply path, classified transient (retry with backoff) or permanent.
//!
//! No variant ever carries a password: connection settings are rendered through
//! [`crate::ConnectOptions`]'s redacting `Debug`, and tokio-postgres never echoes credentials.

use std::path::PathBuf;

/// A boxed error from a caller (the batch stream, a transaction hook).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong between Arrow batches and a committed staging table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// Connection settings could not be parsed or are inconsistent.
    #[error("invalid connection settings: {0}")]
    Config(String),

    /// TLS could not be set up (CA bundle unreadable or empty, bad mode).
    #[error("TLS setup: {0}")]
    Tls(String),

    /// A local file (CA bundle, password file) could not be read.
    #[error("{context} {}: {source}", path.display())]
    Io {
        /// What was being read.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// PostgreSQL (or the connection to it) failed.
    #[error("{context}: {}", describe_pg(source))]
    Db {
        /// What was being done, including the table where there is one.
        context: String,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A PostgreSQL identifier is empty, contains NUL, or is too long.
    #[error("invalid identifier {name:?}: {reason}")]
    InvalidIdentifier {
        /// The offending name (lossy for display).
        name: String,
        /// Why.
        reason: String,
    },

    /// The table configuration ([`crate::TargetTable`]) is unusable.
    #[error("table {table}: invalid configuration: {reason}")]
    InvalidSpec {
        /// Qualified staging table.
        table: String,
        /// Why.
        reason: String,
    },

    /// The change schema cannot be used (missing meta or `_op` column, reserved or duplicate
    /// names, key or ordering column absent).
    #[error("table {table}: invalid change schema: {reason}")]
    InvalidSchema {
        /// Qualified staging table.
        table: String,
        /// Why.
        reason: String,
    },

    /// An Arrow type with no PostgreSQL mapping (see docs/type-map.md).
    #[error(
        "table {table}: column {column:?} has Arrow type {arrow_type}, which has no PostgreSQL mapping"
    )]
    UnsupportedType {
        /// Qualified staging table.
        table: String,
        /// Arrow column name.
        column: String,
        /// The Arrow type.
        arrow_type: String,
    },

    /// Schema evolution that is not a safe widening: the table is stopped, nothing was changed.
    #[error(
        "table {table}: column {column:?} is {existing} in PostgreSQL but the incoming batch has {incoming}; \
         not a safe widening, table not changed"
    )]
    IncompatibleType {
        /// Qualified staging table.
        table: String,
        /// Column name.
        column: String,
        /// The column's type in PostgreSQL (as `format_type` renders it).
        existing: String,
        /// The incoming type: PostgreSQL mapping and Arrow type.
        incoming: String,
    },

    /// `on_schema_change = freeze`: an incoming type the frozen staging column cannot hold.
    #[error(
        "table {table}{}: column {column:?} is {existing} in the frozen staging table \
         (on_schema_change = freeze), which cannot hold the incoming {incoming}; \
         table stopped, nothing written",
        at_instant(instant)
    )]
    SchemaFrozen {
        /// Qualified staging table.
        table: String,
        /// The instant(s) being applied, when the caller named them.
        instant: Option<String>,
        /// Column name.
        column: String,
        /// The column's type in staging.
        existing: String,
        /// The incoming type: PostgreSQL mapping and Arrow type.
        incoming: String,
    },

    /// `on_schema_change = stop`: the incoming schema needs DDL on staging.
    #[error(
        "table {table}{}: the incoming schema needs {} (on_schema_change = stop); \
         table stopped before anything was written: set on_schema_change = \"evolve\" and \
         run again to apply it",
        at_instant(instant),
        changes.join("; ")
    )]
    SchemaChangeStopped {
        /// Qualified staging table.
        table: String,
        /// The instant(s) being applied, when the caller named them.
        instant: Option<String>,
        /// The changes, e.g. `new column "note" text`, `column "ts" integer -> bigint`.
        changes: Vec<String>,
    },

    /// A record-key column of the staging table is absent from the incoming batches.
    #[error(
        "table {table}: record-key column {column:?} is missing from the incoming batches; table not changed"
    )]
    KeyColumnDropped {
        /// Qualified staging table.
        table: String,
        /// The key column.
        column: String,
    },

    /// The staging table's primary key differs from the configured record-key columns.
    #[error(
        "table {table}: staging primary key is ({existing}) but the configured record key is ({configured})"
    )]
    KeyMismatch {
        /// Qualified staging table.
        table: String,
        /// Existing primary-key columns.
        existing: String,
        /// Configured key columns.
        configured: String,
    },

    /// A value cannot be written (null record key, bad `_op`, out-of-range date, NUL in text).
    #[error("table {table}: column {column:?}, change row {row} of load ({origin}): {reason}")]
    InvalidData {
        /// Qualified staging table.
        table: String,
        /// Column name.
        column: String,
        /// 0-based row number within the load.
        row: u64,
        /// Where the row comes from: its instant and file (`_hoodie_commit_time`,
        /// `_hoodie_file_name`).
        origin: String,
        /// Why (never the value itself).
        reason: String,
    },

    /// A batch's schema differs from the schema declared for the load.
    #[error(
        "table {table}: batch {batch} has a schema different from the load's declared schema: {detail}"
    )]
    SchemaMismatch {
        /// Qualified staging table.
        table: String,
        /// 0-based batch number.
        batch: u64,
        /// Which field differs.
        detail: String,
    },

    /// The caller's batch stream failed.
    #[error("table {table}: reading change batches: {source}")]
    Source {
        /// Qualified staging table.
        table: String,
        /// The stream's error.
        #[source]
        source: BoxError,
    },

    /// The caller's in-transaction hook failed (the transaction was rolled back).
    #[error("table {table}: transaction hook failed: {source}")]
    Hook {
        /// Qualified staging table.
        table: String,
        /// The hook's error.
        #[source]
        source: Box<PgError>,
    },

    /// Raised by a hook for a non-SQL failure (e.g. a fence conflict); downcast `source`.
    #[error("{source}")]
    Custom {
        /// The hook's own error.
        #[source]
        source: BoxError,
    },
}

fn at_instant(instant: &Option<String>) -> String {
    instant
        .as_deref()
        .map(|i| format!(" at instant {i}"))
        .unwrap_or_default()
}

impl PgError {
    /// Wrap a driver error with what was being done.
    pub fn db(context: impl Into<String>, source: tokio_postgres::Error) -> Self {
        PgError::Db {
            context: context.into(),
            source,
        }
    }

    /// Wrap a caller's own error (for [`crate::TxnHook`] implementations).
    pub fn custom(source: impl Into<BoxError>) -> Self {
        PgError::Custom {
            source: source.into(),
        }
    }

    /// Worth retrying after a backoff: connection lost or refused, serialization failure,
    /// deadlock, admin/crash shutdown, too many connections, lock timeout.
    pub fn is_transient(&self) -> bool {
        match self {
            PgError::Db { source, .. } => pg_is_transient(source),
            PgError::Hook { source, .. } => source.is_transient(),
            _ => false,
        }
    }

    /// The session is (probably) gone: connection closed or reset, terminated by the server,
    /// I/O failure. The connection must be replaced before the next statement.
    pub fn is_connection_error(&self) -> bool {
        match self {
            PgError::Db { source, .. } => pg_is_connection_error(source),
            PgError::Hook { source, .. } => source.is_connection_error(),
            _ => false,
        }
    }

    /// A schema-evolution or schema-validation failure: the table must stop until someone
    /// intervenes, other tables can continue.
    pub fn is_schema_error(&self) -> bool {
        matches!(
            self,
            PgError::IncompatibleType { .. }
                | PgError::SchemaFrozen { .. }
                | PgError::SchemaChangeStopped { .. }
                | PgError::KeyColumnDropped { .. }
                | PgError::KeyMismatch { .. }
                | PgError::UnsupportedType { .. }
                | PgError::InvalidSchema { .. }
        )
    }

    /// The SQLSTATE of a database error, if any.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            PgError::Db { source, .. } => source.code().map(|c| c.code()),
            PgError::Hook { source, .. } => source.sqlstate(),
            _ => None,
        }
    }
}

/// SQLSTATEs worth a retry.
fn transient_sqlstate(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || matches!(
            code,
            "40001" // serialization_failure
                | "40P01" // deadlock_detected
                | "57P01" // admin_shutdown (pg_terminate_backend, failover)
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now (starting up / recovery)
                | "53300" // too_many_connections
                | "55P03" // lock_not_available (lock_timeout)
                | "25P03" // idle_in_transaction_session_timeout
        )
}

fn transient_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        ConnectionReset
            | ConnectionAborted
            | ConnectionRefused
            | BrokenPipe
            | TimedOut
            | UnexpectedEof
            | NotConnected
            | Interrupted
            | AddrNotAvailable
    )
}

/// Classify a driver error.
pub(crate) fn pg_is_transient(e: &tokio_postgres::Error) -> bool {
    if let Some(code) = e.code() {
        return transient_sqlstate(code.code());
    }
    if e.is_closed() {
        return true;
    }
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            // TLS failures (certificate, handshake) surface as InvalidData/InvalidInput: permanent.
            return transient_io(io.kind());
        }
        src = s.source();
    }
    // Kind::Timeout carries no cause
    e.to_string().starts_with("timeout")
}

/// Connection-level failure (as opposed to a statement failing inside a healthy session).
pub(crate) fn pg_is_connection_error(e: &tokio_postgres::Error) -> bool {
    if let Some(code) = e.code() {
        let c = code.code();
        return c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03" | "25P03");
    }
    // no SQLSTATE: closed, I/O, TLS, timeout, protocol errors all leave the session unusable
    true
}

/// Render a driver error with its cause chain (tokio-postgres' own Display says only "db error").
pub(crate) fn describe_pg(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(d) = db.detail() {
            s.push_str("; detail: ");
            s.push_str(d);
        }
        if let Some(h) = db.hint() {
            s.push_str("; hint: ");
            s.push_str(h);
        }
        if let Some(w) = db.where_() {
            s.push_str("; where: ");
            s.push_str(w);
        }
        return s;
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_classified() {
        for c in [
            "08006", "08001", "40001", "40P01", "57P01", "57P02", "57P03", "53300", "55P03",
        ] {
            assert!(transient_sqlstate(c), "{c}");
        }
        for c in [
            "23505", "42P01", "28P01", "3D000", "22003", "42703", "XX000",
        ] {
            assert!(!transient_sqlstate(c), "{c}");
        }
    }

    #[test]
    fn io_kinds_classified() {
        assert!(transient_io(std::io::ErrorKind::ConnectionReset));
        assert!(transient_io(std::io::ErrorKind::UnexpectedEof));
        assert!(!transient_io(std::io::ErrorKind::InvalidData));
        assert!(!transient_io(std::io::ErrorKind::PermissionDenied));
    }

    #[test]
    fn schema_errors_are_not_transient() {
        let e = PgError::IncompatibleType {
            table: "\"hudi\".\"t\"".into(),
            column: "c".into(),
            existing: "text".into(),
            incoming: "integer (Arrow Int32)".into(),
        };
        assert!(e.is_schema_error());
        assert!(!e.is_transient());
        let msg = e.to_string();
        assert!(
            msg.contains("\"c\"") && msg.contains("text") && msg.contains("Int32"),
            "{msg}"
        );
    }
}
