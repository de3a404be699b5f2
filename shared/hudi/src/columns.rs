//! The names of Hudi's meta columns and of the change rows' `_op` column: one definition for
//! the whole crate.

/// Requested time of the instant that last wrote the row.
pub const COMMIT_TIME_COLUMN: &str = "_hoodie_commit_time";
/// Sequence number of the row within its commit.
pub const COMMIT_SEQNO_COLUMN: &str = "_hoodie_commit_seqno";
/// The record key.
pub const RECORD_KEY_COLUMN: &str = "_hoodie_record_key";
/// The partition path.
pub const PARTITION_PATH_COLUMN: &str = "_hoodie_partition_path";
/// The name of the file that holds the row.
pub const FILE_NAME_COLUMN: &str = "_hoodie_file_name";
/// What every meta column's name starts with (no data column may).
pub const META_COLUMN_PREFIX: &str = "_hoodie_";
/// The five Hudi meta columns, in file order.
pub const META_COLUMNS: [&str; 5] = [
    COMMIT_TIME_COLUMN,
    COMMIT_SEQNO_COLUMN,
    RECORD_KEY_COLUMN,
    PARTITION_PATH_COLUMN,
    FILE_NAME_COLUMN,
];
/// Hudi's soft-delete marker column (not a meta column: a data column writers may add).
pub const IS_DELETED_COLUMN: &str = "_hoodie_is_deleted";
/// AWS DMS's change-kind column (`I`, `U`, `D`): a delete marker under `AWSDmsAvroPayload`.
pub const DMS_OP_COLUMN: &str = "Op";
/// The `Op` value of a row DMS captured as deleted.
pub const DMS_OP_DELETE: &str = "D";

/// The trailing change-kind column of change batches.
pub const OP_COLUMN: &str = "_op";
/// `_op` value of an upserted row.
pub const OP_UPSERT: &str = "upsert";
/// `_op` value of a deleted row.
pub const OP_DELETE: &str = "delete";
