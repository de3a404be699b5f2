//! Real tables whose column types change over their life, read from the beginning through the
//! public API (`HudiTable::open`, `plan(None, None)`, `read_changes`):
//!
//! - `hudi_trips_logical_types_json_cow_read_v6` (COW): `ts_millis` labelled microseconds by
//!   the 0.x writer and milliseconds by 1.x, `local_ts_*` plain `long` then local timestamps;
//! - `hudi_trips_logical_types_json_mor_read_v8` (MOR): the same in Avro log blocks, an
//!   upgrade to v8 and a compaction;
//! - `trino_hudi_timestamp_keygen_pt_epoch_to_yyyy_mm_dd_hh_v8_mor` (MOR, timestamp key
//!   generator): the partition field is a number in base files and a string holding the
//!   number in the Spark SQL update's log blocks.
//!
//! Oracle (every test): `tests/oracle/realworld_snapshot.py` (run in the test venv), which reads
//! the table's own parquet files with pyarrow and its Avro log blocks with fastavro (logical
//! types stripped, raw stored values), keeps the latest version of each key, and prints it.
//! Timestamps, dates and decimals
//! are compared as their raw stored integers (decimals unscaled), in the unit of the column's
//! table type, so the test checks both the value and the type it is read as.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use futures::TryStreamExt;
use hps_hudi::{HudiTable, OP_COLUMN, OP_UPSERT, ReadOptions};
use hps_storage::LocalStore;

/// An unpacked real-world fixture (the temp dir is removed on drop).
type Unpacked = hps_testkit::fixtures::FixtureTable;

/// Unpack `realworld-fixtures/<name>.zip`. Without `../shared`: a failure under `CI`, a loud
/// skip otherwise.
fn unpack(name: &str) -> Option<Unpacked> {
    let t = hps_testkit::fixtures::unpack_realworld(&format!("{name}.zip"));
    if t.is_none() {
        hps_testkit::skip(&format!(
            "../shared/realworld-fixtures/{name}.zip is absent"
        ));
    }
    t
}

/// Every change batch of a read from the beginning.
async fn read_all(path: &std::path::Path) -> Vec<RecordBatch> {
    let table = HudiTable::open(Arc::new(LocalStore::new(path)))
        .await
        .expect("open");
    let plan = table.plan(None, None).await.expect("plan");
    table
        .read_changes(&plan, &ReadOptions::default())
        .try_collect()
        .await
        .expect("read_changes")
}

/// One value as the oracle prints it.
fn render(col: &ArrayRef, row: usize) -> String {
    if col.is_null(row) {
        return "null".into();
    }
    match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().value(row).to_string(),
        DataType::Int32 => col.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Int64 => col.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::Float64 => format!("{:?}", col.as_primitive::<Float64Type>().value(row)),
        DataType::Date32 => col.as_primitive::<Date32Type>().value(row).to_string(),
        DataType::Decimal128(..) => col.as_primitive::<Decimal128Type>().value(row).to_string(),
        DataType::Timestamp(TimeUnit::Millisecond, _) => col
            .as_primitive::<TimestampMillisecondType>()
            .value(row)
            .to_string(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => col
            .as_primitive::<TimestampMicrosecondType>()
            .value(row)
            .to_string(),
        other => panic!("no rendering for {other}"),
    }
}

/// The upsert rows as the oracle prints them (`col=value` pairs of `columns`), sorted.
fn rendered_rows(batches: &[RecordBatch], columns: &[&str]) -> Vec<String> {
    let mut rows = Vec::new();
    for b in batches {
        let op = b.column_by_name(OP_COLUMN).expect("_op");
        for row in 0..b.num_rows() {
            assert_eq!(
                op.as_string::<i32>().value(row),
                OP_UPSERT,
                "no deletes expected"
            );
            let cells: Vec<String> = columns
                .iter()
                .map(|c| {
                    let col = b.column_by_name(c).unwrap_or_else(|| panic!("column {c}"));
                    format!("{c}={}", render(col, row))
                })
                .collect();
            rows.push(cells.join(" "));
        }
    }
    rows.sort();
    rows
}

/// Every batch has `column` with type `expected` (one type per column over the table's life).
fn assert_type(batches: &[RecordBatch], column: &str, expected: &DataType) {
    for b in batches {
        let f = b.schema().field_with_name(column).cloned().expect(column);
        assert_eq!(f.data_type(), expected, "column {column}");
    }
}

fn expected(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    v.sort();
    v
}

const TRIPS_COLUMNS: [&str; 14] = [
    "_row_key",
    "_hoodie_commit_time",
    "_hoodie_partition_path",
    "timestamp",
    "trip_type",
    "rider",
    "begin_lat",
    "ts_millis",
    "ts_micros",
    "local_ts_millis",
    "local_ts_micros",
    "event_date",
    "dec_fixed_small",
    "dec_fixed_large",
];

/// The logical types' table types (the newest commit schema).
fn assert_trips_types(batches: &[RecordBatch]) {
    let utc = Some("UTC".into());
    assert_type(batches, "timestamp", &DataType::Int64);
    assert_type(
        batches,
        "ts_millis",
        &DataType::Timestamp(TimeUnit::Millisecond, utc.clone()),
    );
    assert_type(
        batches,
        "ts_micros",
        &DataType::Timestamp(TimeUnit::Microsecond, utc),
    );
    assert_type(
        batches,
        "local_ts_millis",
        &DataType::Timestamp(TimeUnit::Millisecond, None),
    );
    assert_type(
        batches,
        "local_ts_micros",
        &DataType::Timestamp(TimeUnit::Microsecond, None),
    );
    assert_type(batches, "event_date", &DataType::Date32);
    assert_type(batches, "dec_fixed_small", &DataType::Decimal128(5, 2));
    assert_type(batches, "dec_fixed_large", &DataType::Decimal128(18, 9));
}

/// The oracle's rows of the table at `path` (see the module docs).
fn oracle(path: &std::path::Path, args: &[&str]) -> Vec<String> {
    let table = path.to_string_lossy();
    let mut all = vec![table.as_ref()];
    all.extend_from_slice(args);
    expected(&hps_testkit::python::run_oracle_text(
        "realworld_snapshot.py",
        &all,
    ))
}

#[tokio::test]
async fn logical_types_cow_v6_reads_every_file_as_the_table_types() {
    let Some(t) = unpack("hudi_trips_logical_types_json_cow_read_v6") else {
        return;
    };
    let batches = read_all(&t.path).await;
    assert_trips_types(&batches);
    assert_eq!(
        rendered_rows(&batches, &TRIPS_COLUMNS),
        oracle(&t.path, &["_row_key", "-", &TRIPS_COLUMNS.join(",")])
    );
}

#[tokio::test]
async fn logical_types_mor_v8_reads_log_blocks_as_the_table_types() {
    let Some(t) = unpack("hudi_trips_logical_types_json_mor_read_v8") else {
        return;
    };
    let batches = read_all(&t.path).await;
    assert_trips_types(&batches);
    assert_eq!(
        rendered_rows(&batches, &TRIPS_COLUMNS),
        oracle(
            &t.path,
            &["_row_key", "timestamp", &TRIPS_COLUMNS.join(",")]
        )
    );
}

#[tokio::test]
async fn timestamp_keygen_partition_field_strings_in_logs_read_as_numbers() {
    let Some(t) = unpack("trino_hudi_timestamp_keygen_pt_epoch_to_yyyy_mm_dd_hh_v8_mor") else {
        return;
    };
    let batches = read_all(&t.path).await;
    assert_type(&batches, "partition_field", &DataType::Int64);
    let columns = [
        "id",
        "_hoodie_commit_time",
        "_hoodie_partition_path",
        "name",
        "price",
        "ts",
        "partition_field",
    ];
    let expected = oracle(
        &t.path,
        &[
            "id",
            "ts",
            &columns.join(","),
            "--numeric",
            "partition_field",
        ],
    );
    assert_eq!(rendered_rows(&batches, &columns), expected);
}

#[tokio::test]
async fn an_unparsable_partition_field_string_names_column_file_and_value() {
    let Some(t) = unpack("trino_hudi_timestamp_keygen_pt_epoch_to_yyyy_mm_dd_hh_v8_mor") else {
        return;
    };
    // the Spark SQL update's log block of partition `2025-05-13 02` holds the epoch as the
    // Avro string "1747102000000"; replace one digit in place (same length, framing intact)
    let dir = t.path.join("2025-05-13 02");
    let log = std::fs::read_dir(&dir)
        .expect("partition dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains(".log."))
        .expect("a log file");
    let mut bytes = std::fs::read(&log).expect("read log");
    let at = bytes
        .windows(13)
        .position(|w| w == b"1747102000000")
        .expect("the epoch string in the log block");
    bytes[at + 11] = b'x';
    std::fs::write(&log, &bytes).expect("write log");

    let table = HudiTable::open(Arc::new(LocalStore::new(&t.path)))
        .await
        .expect("open");
    let plan = table.plan(None, None).await.expect("plan");
    let err = table
        .read_changes(&plan, &ReadOptions::default())
        .try_collect::<Vec<_>>()
        .await
        .expect_err("an unparsable partition field must stop the read");
    let msg = err.to_string();
    assert!(msg.contains("partition_field"), "{msg}");
    assert!(msg.contains("17471020000x0"), "{msg}");
    assert!(
        msg.contains(".431215ed-9ef5-4256-8025-069484ca1d6f-0_20250613121505700.log.1"),
        "{msg}"
    );
}
