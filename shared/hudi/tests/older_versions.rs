//! Tables written by Hudi 0.10-0.13 (table versions 3, 4 and 5) read through the public API,
//! from the real tables in `../shared/realworld-fixtures/`:
//!
//! - `hudi_v4_table` (Hudi 0.11.1) and `hudi_v5_table` (Hudi 0.12.2), merge-on-read: the oracle
//!   is their twin `hudi_v6_table` (Hudi 0.14.0, same workload), which this reader already reads.
//!   Snapshots and the change sets of every commit must match the twin's (record keys,
//!   partition paths and data columns; commit times differ between twins).
//! - `hudi_streamer_multiwriter_cow` (Hudi 0.10, copy-on-write, two writers, 14-digit instants):
//!   the oracle is computed from first principles, without this crate: per file group, the
//!   newest base file written by a completed commit, read directly with the `parquet` crate
//!   (a copy-on-write snapshot is exactly that), minus rows flagged `_hoodie_is_deleted`.
//!
//! Every table is also read window by window, one commit at a time; replaying those windows
//! (upserts, then deletes) from an empty table must give the snapshot.
//!
//! When `../shared` is absent the tests print a loud skip, or fail when `CI` is set.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use futures::TryStreamExt;
use hps_hudi::log::{BlockType, HeaderKey, LogFileName, LogFileReader};
use hps_hudi::{HudiTable, OP_COLUMN, OP_DELETE, ReadOptions};
use hps_storage::{DynStore, LocalStore};

/// An unpacked real-world table; the temp dir goes away on drop.
type Fixture = hps_testkit::fixtures::FixtureTable;

/// Unpack `realworld-fixtures/<name>.zip`. `None` (after a loud skip) when `../shared` is
/// absent; a failure under `CI`.
fn realworld(name: &str) -> Option<Fixture> {
    let t = hps_testkit::fixtures::unpack_realworld(&format!("{name}.zip"));
    if t.is_none() {
        hps_testkit::skip(&format!(
            "realworld fixture {name}.zip (../shared/realworld-fixtures) is absent"
        ));
    }
    t
}

async fn open(f: &Fixture) -> HudiTable {
    let store: DynStore = Arc::new(LocalStore::new(&f.path));
    HudiTable::open(store).await.unwrap()
}

/// One row as `(partition path, record key)` → `col=value|...` over the data columns (every
/// column but the `_hoodie_*` meta columns and `_op`), sorted by name.
type Rows = BTreeMap<(String, String), String>;

/// A change row: (`upsert`/`delete`, partition path, record key, data columns).
type Change = (String, String, String, String);

fn data_columns(b: &RecordBatch) -> Vec<(String, usize)> {
    let mut cols: Vec<(String, usize)> = b
        .schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name().clone(), i))
        .filter(|(n, _)| !n.starts_with("_hoodie_") && n != OP_COLUMN)
        .collect();
    cols.sort();
    cols
}

fn string_at(b: &RecordBatch, column: &str, row: usize) -> String {
    let c = b
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    let c = c.as_string::<i32>();
    if c.is_valid(row) {
        c.value(row).to_string()
    } else {
        String::new()
    }
}

fn changes_of(batches: &[RecordBatch]) -> Vec<Change> {
    let opts = FormatOptions::default().with_null("null");
    let mut out = Vec::new();
    for b in batches {
        let cols = data_columns(b);
        let fmts: Vec<(String, ArrayFormatter)> = cols
            .iter()
            .map(|(n, i)| {
                let f = ArrayFormatter::try_new(b.column(*i).as_ref(), &opts).unwrap();
                (n.clone(), f)
            })
            .collect();
        for r in 0..b.num_rows() {
            let op = if b.column_by_name(OP_COLUMN).is_some() {
                string_at(b, OP_COLUMN, r)
            } else {
                "upsert".to_string()
            };
            let data: Vec<String> = fmts
                .iter()
                .map(|(n, f)| format!("{n}={}", f.value(r)))
                .collect();
            out.push((
                op,
                string_at(b, "_hoodie_partition_path", r),
                string_at(b, "_hoodie_record_key", r),
                data.join("|"),
            ));
        }
    }
    out.sort();
    out
}

/// The change rows of the window `(after, until]`, read through the public API, and the
/// distinct `_hoodie_commit_time` values they carry.
async fn window_with_times(
    t: &HudiTable,
    after: Option<&str>,
    until: Option<&str>,
) -> (Vec<Change>, BTreeSet<String>) {
    let plan = t.plan(after, until).await.unwrap_or_else(|e| {
        panic!("plan ({after:?}, {until:?}]: {e}");
    });
    let batches: Vec<RecordBatch> = t
        .read_changes(&plan, &ReadOptions::default())
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("read ({after:?}, {until:?}]: {e}"));
    let times = batches
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |r| string_at(b, "_hoodie_commit_time", r)))
        .collect();
    (changes_of(&batches), times)
}

async fn window(t: &HudiTable, after: Option<&str>, until: Option<&str>) -> Vec<Change> {
    window_with_times(t, after, until).await.0
}

/// The snapshot: every change from the beginning (no deletes in such a window).
async fn snapshot(t: &HudiTable) -> Rows {
    let changes = window(t, None, None).await;
    assert!(changes.iter().all(|c| c.0 == "upsert"), "{changes:?}");
    let rows: Rows = changes
        .iter()
        .map(|(_, p, k, d)| ((p.clone(), k.clone()), d.clone()))
        .collect();
    assert_eq!(rows.len(), changes.len(), "one row per key");
    rows
}

/// The change sets of every completed write, one window per instant, in window order;
/// replaying them from an empty table must give the snapshot.
async fn windows_one_by_one(t: &HudiTable) -> Vec<Vec<Change>> {
    let timeline = t.timeline().await.unwrap();
    let mut after: Option<String> = None;
    let mut out = Vec::new();
    let mut replay = Rows::new();
    for inst in timeline.in_window_order() {
        if !inst.action.is_write() {
            continue;
        }
        let until = inst.window_time().to_string();
        let (changes, times) = window_with_times(t, after.as_deref(), Some(&until)).await;
        // versions <= 6 window by requested time: every row of a one-commit window (upserts
        // and deletes alike) carries that commit's time
        assert_eq!(
            times,
            BTreeSet::from([inst.requested_time.clone()]),
            "{until}"
        );
        apply(&mut replay, &changes);
        out.push(changes);
        after = Some(until);
    }
    assert_eq!(replay, snapshot(t).await, "replayed windows != snapshot");
    out
}

fn apply(state: &mut Rows, changes: &[Change]) {
    for (op, p, k, d) in changes.iter().filter(|c| c.0 != OP_DELETE) {
        assert_eq!(op, "upsert");
        state.insert((p.clone(), k.clone()), d.clone());
    }
    for (_, p, k, _) in changes.iter().filter(|c| c.0 == OP_DELETE) {
        state.remove(&(p.clone(), k.clone()));
    }
}

/// (content version, has `BLOCK_IDENTIFIER`) of every log block of the table's partitions.
async fn log_block_versions(f: &Fixture) -> Vec<(i32, bool)> {
    let store: DynStore = Arc::new(LocalStore::new(&f.path));
    let mut out = Vec::new();
    for part in std::fs::read_dir(&f.path).unwrap().flatten() {
        let pname = part.file_name().to_string_lossy().into_owned();
        if !part.path().is_dir() || pname.starts_with('.') {
            continue;
        }
        for e in std::fs::read_dir(part.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if LogFileName::parse(&name).is_none() {
                continue;
            }
            let bytes = std::fs::read(e.path()).unwrap();
            let rel = format!("{pname}/{name}");
            let mut reader = LogFileReader::new(store.clone(), &rel, bytes.len() as u64);
            for b in reader.read_all().await.unwrap() {
                assert_eq!(b.block_type, BlockType::AvroData, "{rel}");
                let at = b.content.start as usize;
                let version = i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
                let has_id = b.header.get(HeaderKey::BlockIdentifier).is_some();
                out.push((version, has_id));
            }
        }
    }
    out
}

/// The v4 (Hudi 0.11) or v5 (Hudi 0.12) table reads exactly like its v6 twin.
async fn matches_v6_twin(name: &str, version: u32) {
    let (Some(old), Some(twin)) = (realworld(name), realworld("hudi_v6_table")) else {
        return;
    };
    // the storage difference under test: the old table's update went to a log block of
    // content version 2 without BLOCK_IDENTIFIER, the twin's to a version-3 block with one
    assert_eq!(log_block_versions(&old).await, [(2, false)]);
    assert_eq!(log_block_versions(&twin).await, [(3, true)]);
    let (old, twin) = (open(&old).await, open(&twin).await);
    assert_eq!(old.config().table_version, version);
    let rows = snapshot(&old).await;
    assert_eq!(rows, snapshot(&twin).await, "{name} snapshot != v6 twin");
    // the workload: 8 keys; id1 and id2 were updated through a log file (AVRO_DATA content
    // version 2, header without BLOCK_IDENTIFIER) over their base file
    let keys: BTreeSet<&str> = rows.keys().map(|(_, k)| k.as_str()).collect();
    let expected: BTreeSet<String> = (1..=8).map(|i| format!("id{i}")).collect();
    assert_eq!(keys, expected.iter().map(String::as_str).collect());
    for ((_, k), d) in &rows {
        assert_eq!(d.contains("_Updated"), k == "id1" || k == "id2", "{k}: {d}");
    }
    let per_commit = windows_one_by_one(&old).await;
    assert_eq!(per_commit.len(), 3);
    assert_eq!(
        per_commit,
        windows_one_by_one(&twin).await,
        "{name} per-commit change sets != v6 twin"
    );
}

#[tokio::test]
async fn v4_mor_table_reads_like_its_v6_twin() {
    matches_v6_twin("hudi_v4_table", 4).await;
}

#[tokio::test]
async fn v5_mor_table_reads_like_its_v6_twin() {
    matches_v6_twin("hudi_v5_table", 5).await;
}

/// Completed commit times of a flat (layout 0/1) timeline, from the file names.
fn completed_commits(table: &Path) -> BTreeSet<String> {
    std::fs::read_dir(table.join(".hoodie"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".commit").map(str::to_string)
        })
        .collect()
}

/// The oracle of a copy-on-write table from first principles (no hps-hudi code): per
/// partition directory and file group, the newest `<fileId>_<token>_<instant>.parquet`
/// whose instant completed, read with the `parquet` crate, minus soft-deleted rows.
fn cow_oracle(table: &Path) -> Rows {
    let commits = completed_commits(table);
    let mut newest: BTreeMap<(String, String), (String, PathBuf)> = BTreeMap::new();
    for part in std::fs::read_dir(table).unwrap().flatten() {
        let pname = part.file_name().to_string_lossy().into_owned();
        if !part.path().is_dir() || pname.starts_with('.') {
            continue;
        }
        for f in std::fs::read_dir(part.path()).unwrap().flatten() {
            let n = f.file_name().to_string_lossy().into_owned();
            let Some(stem) = n.strip_suffix(".parquet").filter(|_| !n.starts_with('.')) else {
                continue;
            };
            let parts: Vec<&str> = stem.split('_').collect();
            let (fid, instant) = (parts[0].to_string(), parts[2].to_string());
            if !commits.contains(&instant) {
                continue;
            }
            let e = newest
                .entry((pname.clone(), fid))
                .or_insert((instant.clone(), f.path()));
            if instant > e.0 {
                *e = (instant, f.path());
            }
        }
    }
    let mut rows = Rows::new();
    for (_, path) in newest.values() {
        let file = std::fs::File::open(path).unwrap();
        let batches: Vec<RecordBatch> =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap())
                .collect();
        for b in &batches {
            let deleted = b
                .column_by_name("_hoodie_is_deleted")
                .map(|c| c.as_boolean().clone());
            let changes = changes_of(std::slice::from_ref(b));
            // changes_of sorts rows: match soft-delete flags by key instead of position
            let flagged: BTreeSet<String> = (0..b.num_rows())
                .filter(|&r| {
                    deleted
                        .as_ref()
                        .is_some_and(|d| d.is_valid(r) && d.value(r))
                })
                .map(|r| string_at(b, "_hoodie_record_key", r))
                .collect();
            for (_, p, k, d) in changes {
                if !flagged.contains(&k) {
                    rows.insert((p, k), d);
                }
            }
        }
    }
    rows
}

/// Table version 3 (Hudi 0.10 Streamer, two writers, 14-digit instants, a user key generator
/// class, no partitioning keys in `hoodie.properties`, the `default` partition).
#[tokio::test]
async fn v3_cow_streamer_table_matches_its_own_files() {
    let Some(f) = realworld("hudi_streamer_multiwriter_cow") else {
        return;
    };
    let t = open(&f).await;
    assert_eq!(t.config().table_version, 3);
    let rows = snapshot(&t).await;
    let oracle = cow_oracle(&f.path);
    assert_eq!(
        oracle.len(),
        3000,
        "oracle: the newest base file holds 3000 keys"
    );
    assert_eq!(rows.len(), oracle.len());
    assert_eq!(rows, oracle, "snapshot != newest committed base files");
    assert!(rows.keys().all(|(p, _)| p == "default"));
    let per_commit = windows_one_by_one(&t).await;
    assert_eq!(per_commit.len(), 7, "7 commits");
    // the first commit inserted 1000 rows, all with its 14-digit instant time
    assert_eq!(per_commit[0].len(), 1000);
    assert!(
        per_commit
            .iter()
            .flatten()
            .all(|c| c.0 == "upsert" || c.0 == OP_DELETE)
    );
    // each window reports exactly what its commit's write stats say it did
    let timeline = t.timeline().await.unwrap();
    for (inst, changes) in timeline.completed.iter().zip(&per_commit) {
        let m = t.commit_metadata(inst).await.unwrap();
        let sum = |f: fn(&hps_hudi::WriteStat) -> Option<i64>| -> usize {
            m.write_stats().map(|(_, s)| f(s).unwrap_or(0)).sum::<i64>() as usize
        };
        let deletes = changes.iter().filter(|c| c.0 == OP_DELETE).count();
        let t = &inst.requested_time;
        assert_eq!(deletes, sum(|s| s.num_deletes), "{t}: deletes");
        assert_eq!(
            changes.len() - deletes,
            sum(|s| s.num_inserts) + sum(|s| s.num_update_writes),
            "{t}: upserts"
        );
    }
}
