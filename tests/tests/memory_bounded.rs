//! Reading a file slice of more than 200 MB keeps the reader's peak RSS under 256 MB.
//!
//! The parent test writes a synthetic Hudi COW table (v6 layout: `hoodie.properties`, one
//! completed commit with JSON metadata, one ~210 MB parquet base file of many row groups with
//! incompressible payload), then re-runs this test binary as a child process that streams all
//! change rows of the table through `HudiTable::read_changes` and reports its peak resident set
//! (`VmHWM` in `/proc/self/status`). The child is a separate process so the parent's own
//! allocations (the generated data) cannot hide or inflate the measurement.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use futures::TryStreamExt;
use hps_hudi::{HudiTable, ReadOptions};
use hps_storage::LocalStore;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

const COMMIT: &str = "20250101000000000";
const FILE_ID: &str = "0b5d8f0e-3c1a-4d7e-9d7b-1f2e3a4b5c6d-0";
const ROWS_PER_GROUP: usize = 16 * 1024;
const PAYLOAD_BYTES: usize = 1024;
const ROW_GROUPS: usize = 13; // 13 x 16 Ki rows x ~1.1 KB ≈ 230 MB
const LIMIT_KB: u64 = 256 * 1024;
const ENV_TABLE: &str = "HPS_MEMTEST_TABLE";
const ENV_ROWS: &str = "HPS_MEMTEST_ROWS";

/// xorshift64*: fast, incompressible enough for parquet's encodings.
fn fill_random(state: &mut u64, buf: &mut [u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in buf.chunks_mut(8) {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let v = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        for (i, b) in chunk.iter_mut().enumerate() {
            *b = ALPHABET[((v >> (i * 6)) & 63) as usize];
        }
    }
}

fn write_table(dir: &Path) -> (u64, usize) {
    let file_name = format!("{FILE_ID}_0-1-0_{COMMIT}.parquet");
    std::fs::create_dir_all(dir.join(".hoodie")).unwrap();
    std::fs::write(
        dir.join(".hoodie/hoodie.properties"),
        "hoodie.table.version=6\nhoodie.table.type=COPY_ON_WRITE\nhoodie.table.name=memtest\n\
         hoodie.table.recordkey.fields=id\nhoodie.timeline.layout.version=1\n",
    )
    .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("_hoodie_commit_time", DataType::Utf8, false),
        Field::new("_hoodie_commit_seqno", DataType::Utf8, false),
        Field::new("_hoodie_record_key", DataType::Utf8, false),
        Field::new("_hoodie_partition_path", DataType::Utf8, false),
        Field::new("_hoodie_file_name", DataType::Utf8, false),
        Field::new("id", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, false),
    ]));
    let props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
        .build();
    let path = dir.join(&file_name);
    let file = std::fs::File::create(&path).unwrap();
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut payload = vec![0u8; PAYLOAD_BYTES * ROWS_PER_GROUP];
    for g in 0..ROW_GROUPS {
        fill_random(&mut rng, &mut payload);
        let n = ROWS_PER_GROUP;
        let base = (g * n) as i64;
        let ids: Vec<i64> = (base..base + n as i64).collect();
        let keys: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        let seq: Vec<String> = ids.iter().map(|i| format!("{COMMIT}_0_{i}")).collect();
        let texts: Vec<&str> = payload
            .chunks(PAYLOAD_BYTES)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![COMMIT; n])),
            Arc::new(StringArray::from(seq)),
            Arc::new(StringArray::from(keys)),
            Arc::new(StringArray::from(vec![""; n])),
            Arc::new(StringArray::from(vec![file_name.as_str(); n])),
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(texts)),
        ];
        w.write(&RecordBatch::try_new(schema.clone(), cols).unwrap())
            .unwrap();
        w.flush().unwrap();
    }
    w.close().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    let commit = serde_json::json!({
        "partitionToWriteStats": {"": [{
            "fileId": FILE_ID, "path": file_name, "prevCommit": "null", "partitionPath": "",
            "numWrites": ROWS_PER_GROUP * ROW_GROUPS, "numInserts": ROWS_PER_GROUP * ROW_GROUPS,
            "fileSizeInBytes": size
        }]},
        "compacted": false, "extraMetadata": {}, "operationType": "INSERT"
    });
    std::fs::write(dir.join(format!(".hoodie/{COMMIT}.commit.requested")), b"").unwrap();
    std::fs::write(
        dir.join(format!(".hoodie/{COMMIT}.commit")),
        commit.to_string(),
    )
    .unwrap();
    (size, ROWS_PER_GROUP * ROW_GROUPS)
}

#[test]
fn reading_a_200mb_slice_stays_under_256mb_rss() {
    let dir = tempfile::tempdir().unwrap();
    let (size, rows) = write_table(dir.path());
    assert!(
        size >= 200 * 1024 * 1024,
        "the base file must be >= 200 MB, is {size}"
    );
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "--exact",
            "child_reads_the_table",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_TABLE, dir.path())
        .env(ENV_ROWS, rows.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let hwm: u64 = stdout
        .lines()
        .chain(stderr.lines())
        .find_map(|l| l.strip_prefix("HPS_VMHWM_KB="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("child reported no VmHWM:\n{stdout}\n{stderr}"));
    eprintln!(
        "read {size} bytes ({rows} rows) with peak RSS {} MB",
        hwm / 1024
    );
    assert!(
        hwm < LIMIT_KB,
        "peak RSS {hwm} kB >= {LIMIT_KB} kB while reading a {size}-byte slice"
    );
}

fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// The measured half: run only as a child of the test above (it needs the table it writes).
#[test]
#[ignore = "run as a child process by reading_a_200mb_slice_stays_under_256mb_rss"]
fn child_reads_the_table() {
    let table = std::env::var(ENV_TABLE).expect("run by the parent test");
    let want: usize = std::env::var(ENV_ROWS).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (rows, bytes) = rt.block_on(async {
        let t = HudiTable::open(Arc::new(LocalStore::new(&table)))
            .await
            .unwrap();
        let plan = t.plan(None, None).await.unwrap();
        assert_eq!(plan.slices.len(), 1);
        let mut s = t.read_changes(&plan, &ReadOptions::default());
        let (mut rows, mut bytes) = (0usize, 0usize);
        while let Some(b) = s.try_next().await.unwrap() {
            rows += b.num_rows();
            bytes += b.get_array_memory_size();
        }
        (rows, bytes)
    });
    assert_eq!(rows, want);
    let hwm = vm_hwm_kb();
    println!("decoded {bytes} bytes of batches");
    println!("HPS_VMHWM_KB={hwm}");
    std::io::stdout().flush().unwrap();
}
