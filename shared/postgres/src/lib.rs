//! The PostgreSQL apply path of hudi-pg-sync.
//!
//! Change rows (Arrow batches following the change-row contract: the table's columns
//! including the Hudi meta columns, plus a trailing `_op` of `upsert`/`delete`) are
//! binary-`COPY`ed into a per-load UNLOGGED partition of a landing table, then one set-based
//! statement deduplicates them (latest per key by commit time, then commit seqno compared
//! numerically, then the ordering columns) and upserts them into the staging table under a
//! **version guard**: a row only replaces an older version, so replays and out-of-order
//! batches are no-ops. Deletes are versioned too (hard delete with a tombstone table, or soft
//! delete with a tombstone row). A caller's [`TxnHook`] runs in the same transaction before
//! COMMIT.
//!
//! The crate knows Arrow and PostgreSQL, nothing of Hudi's file layout or AWS.
//!
//! ```no_run
//! # async fn demo(schema: arrow_schema::Schema, batches: Vec<arrow_array::RecordBatch>) -> Result<(), hps_postgres::PgError> {
//! use hps_postgres::{Applier, ConnectionManager, TargetTable, DeletePolicy};
//! let conn = ConnectionManager::from_settings("postgresql://sync@db.example.com/lake?sslrootcert=/etc/rds.pem")?;
//! let mut applier = Applier::new(conn);
//! let spec = TargetTable::for_hudi_table("trips", vec!["id".into()])
//!     .with_ordering(vec!["ts".into()])
//!     .with_delete_policy(DeletePolicy::Soft);
//! let stream = futures::stream::iter(batches.into_iter().map(Ok::<_, std::io::Error>));
//! let stats = applier.apply(&spec, "load-0001", &schema, stream, None).await?;
//! println!("{} rows, {} keys", stats.rows, stats.keys);
//! # Ok(()) }
//! ```

mod apply;
mod bulk;
mod catalog;
mod config;
mod conn;
mod copy;
mod error;
mod history;
mod ident;
mod layout;
mod quarantine;
mod spec;
mod sql;
mod tls;
mod types;

pub use apply::{Applier, ApplyOptions, ApplyStats, PruneStats, TableKind, TextRow, TxnHook};
pub use bulk::{BootstrapSwap, LoadMode, discard_bootstrap, finish_bootstrap};
pub use config::{ConnectOptions, Secret, SslMode};
pub use conn::{ConnectionManager, Connector};
pub use copy::{json_text, seqno_key};
pub use error::{BoxError, PgError};
pub use history::{SchemaChange, schema_history};
pub use hps_retry::RetryPolicy;
pub use ident::{Ident, MAX_IDENT_BYTES, quote_ident, sanitize_table_name};
pub use layout::{
    COL_COMMIT_SEQNO, COL_COMMIT_TIME, COL_FILE_NAME, COL_OP, COL_PARTITION_PATH, COL_RECORD_KEY,
    HPS_APPLIED_AT, HPS_DELETED, HPS_DELETED_AT, HPS_LANDED_AT, HPS_LOAD_ID, HPS_LOAD_SEQ, HPS_OP,
    HPS_PREFIX, HPS_ROW, HPS_SEQNO_KEY, LayoutColumn, TableLayout,
};
pub use quarantine::{
    QUARANTINE_SUFFIX, QuarantineRetry, QuarantinedRow, ROW_FORMAT, escape_text, quarantined_batch,
};
pub use spec::{
    BadRowPolicy, ChangeSource, DEFAULT_SCHEMA, DeletePolicy, LANDING_REGISTRY, LandingRetention,
    Names, OnSchemaChange, SCHEMA_HISTORY, TargetTable,
};
pub use types::{Compat, PgType, compat};

/// The set-based dedup + version-guarded upsert statement that applies the rows landed in
/// `landing_q` (a qualified, quoted table with the landing table's columns) to `layout`'s
/// staging (and tombstone) table; `$1` is the load id. It returns one row: keys, inserted,
/// updated, deleted, removed. The apply path builds the same statement for each load; this is
/// for benchmarks (the PostgreSQL-bound floor runs it after a `psql` COPY) and diagnostics.
pub fn merge_sql(layout: &TableLayout, landing_q: &str) -> String {
    sql::merge_statement(layout, landing_q, false)
}

/// Re-exported driver types a [`TxnHook`] needs.
pub use tokio_postgres;
