//! Planner and reader behaviour on small synthetic tables written by the test itself:
//! windows on completion time, the v6 hollow-commit guard, archived / cleaned history,
//! rollbacks of applied instants, row-group pruning, projection, truncated files, MOR logs.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use hps_hudi::{HudiError, HudiTable, IncrementalPlan, ReadOptions};
use hps_storage::{DynStore, Listing, LocalStore, ObjectMeta, ObjectStore, StorageResult};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde_json::json;

/// A local table under construction.
struct Table {
    dir: tempfile::TempDir,
    version: u32,
}

/// Counts bytes fetched through ranged reads.
#[derive(Debug)]
struct Counting {
    inner: LocalStore,
    range_bytes: AtomicU64,
}

#[async_trait]
impl ObjectStore for Counting {
    fn root_uri(&self) -> String {
        self.inner.root_uri()
    }
    async fn list(&self, dir: &str) -> StorageResult<Listing> {
        self.inner.list(dir).await
    }
    async fn head(&self, path: &str) -> StorageResult<ObjectMeta> {
        self.inner.head(path).await
    }
    async fn get(&self, path: &str) -> StorageResult<Bytes> {
        self.inner.get(path).await
    }
    async fn get_range(&self, path: &str, range: Range<u64>) -> StorageResult<Bytes> {
        let b = self.inner.get_range(path, range).await?;
        self.range_bytes
            .fetch_add(b.len() as u64, Ordering::Relaxed);
        Ok(b)
    }
    async fn put(&self, path: &str, data: Bytes) -> StorageResult<()> {
        self.inner.put(path, data).await
    }
    async fn delete(&self, path: &str) -> StorageResult<()> {
        self.inner.delete(path).await
    }
}

impl Table {
    fn new(version: u32, extra_props: &str) -> Table {
        let dir = tempfile::tempdir().unwrap();
        let layout = if version >= 8 { 2 } else { 1 };
        std::fs::create_dir_all(dir.path().join(".hoodie/timeline")).unwrap();
        std::fs::write(
            dir.path().join(".hoodie/hoodie.properties"),
            format!(
                "hoodie.table.version={version}\nhoodie.table.name=synthetic\nhoodie.table.recordkey.fields=id\n\
                 hoodie.timeline.layout.version={layout}\n{extra_props}"
            ),
        )
        .unwrap();
        Table { dir, version }
    }

    fn timeline_dir(&self) -> std::path::PathBuf {
        if self.version >= 8 {
            self.dir.path().join(".hoodie/timeline")
        } else {
            self.dir.path().join(".hoodie")
        }
    }

    fn store(&self) -> DynStore {
        Arc::new(LocalStore::new(self.dir.path()))
    }

    async fn open(&self) -> HudiTable {
        HudiTable::open(self.store()).await.unwrap()
    }

    /// Write a base file; `rows` = (commit time, key) per row group.
    fn base_file(
        &self,
        partition: &str,
        file_id: &str,
        instant: &str,
        row_groups: &[&[(&str, &str)]],
    ) -> String {
        let name = format!("{file_id}_0-1-0_{instant}.parquet");
        let rel = if partition.is_empty() {
            name.clone()
        } else {
            format!("{partition}/{name}")
        };
        let path = self.dir.path().join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("_hoodie_commit_time", DataType::Utf8, false),
            Field::new("_hoodie_commit_seqno", DataType::Utf8, false),
            Field::new("_hoodie_record_key", DataType::Utf8, false),
            Field::new("_hoodie_partition_path", DataType::Utf8, false),
            Field::new("_hoodie_file_name", DataType::Utf8, false),
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
        ]));
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            schema.clone(),
            Some(
                WriterProperties::builder()
                    .set_max_row_group_row_count(Some(1 << 20))
                    // plain-encoded commit times, so that skipping a row group's chunk shows
                    .set_column_dictionary_enabled(
                        parquet::schema::types::ColumnPath::from("_hoodie_commit_time"),
                        false,
                    )
                    .build(),
            ),
        )
        .unwrap();
        for rg in row_groups {
            let col = |f: &dyn Fn(&(&str, &str)) -> String| -> ArrayRef {
                Arc::new(StringArray::from(rg.iter().map(f).collect::<Vec<_>>()))
            };
            let cols = vec![
                col(&|r| r.0.to_string()),
                col(&|r| format!("{}_0_{}", r.0, r.1)),
                col(&|r| r.1.to_string()),
                col(&|_| partition.to_string()),
                col(&|_| name.clone()),
                col(&|r| r.1.to_string()),
                Arc::new(Int64Array::from((0..rg.len() as i64).collect::<Vec<_>>())) as ArrayRef,
            ];
            w.write(&RecordBatch::try_new(schema.clone(), cols).unwrap())
                .unwrap();
            w.flush().unwrap();
        }
        w.close().unwrap();
        rel
    }

    /// A completed write instant with JSON metadata (`stats` = (partition, file id, path)).
    fn commit(
        &self,
        action: &str,
        requested: &str,
        completed: Option<&str>,
        op: &str,
        stats: &[(&str, &str, &str)],
        replaced: &[(&str, &str)],
    ) {
        let mut p2s = serde_json::Map::new();
        for (partition, file_id, path) in stats {
            let e = p2s
                .entry(partition.to_string())
                .or_insert_with(|| json!([]));
            e.as_array_mut().unwrap().push(json!({
                "fileId": file_id, "path": path, "prevCommit": "null", "partitionPath": partition, "numWrites": 1
            }));
        }
        let mut p2r = serde_json::Map::new();
        for (partition, file_id) in replaced {
            let e = p2r
                .entry(partition.to_string())
                .or_insert_with(|| json!([]));
            e.as_array_mut().unwrap().push(json!(file_id));
        }
        let meta = json!({
            "partitionToWriteStats": p2s, "partitionToReplaceFileIds": p2r,
            "compacted": false, "extraMetadata": {}, "operationType": op
        });
        let name = match completed {
            Some(c) => format!("{requested}_{c}.{action}"),
            None => format!("{requested}.{action}"),
        };
        std::fs::write(
            self.timeline_dir()
                .join(format!("{requested}.{action}.requested")),
            b"",
        )
        .unwrap();
        std::fs::write(self.timeline_dir().join(name), meta.to_string()).unwrap();
    }

    fn file(&self, rel: &str, content: &[u8]) {
        let p = self.timeline_dir().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

async fn keys(t: &HudiTable, plan: &IncrementalPlan) -> Vec<String> {
    let batches: Vec<RecordBatch> = t
        .read_changes(plan, &ReadOptions::default())
        .try_collect()
        .await
        .unwrap();
    let mut out = Vec::new();
    for b in batches {
        let ct = b
            .column_by_name("_hoodie_commit_time")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone();
        let k = b
            .column_by_name("_hoodie_record_key")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone();
        for i in 0..b.num_rows() {
            out.push(format!("{}/{}", ct.value(i), k.value(i)));
        }
    }
    out.sort();
    out
}

const T1: &str = "20250101000000001";
const T2: &str = "20250101000000002";
const T3: &str = "20250101000000003";
const T4: &str = "20250101000000004";
const T5: &str = "20250101000000005";

#[tokio::test]
async fn v9_windows_use_completion_time_and_rows_use_requested_time() {
    let t = Table::new(9, "");
    // A requested at T1 completes at T5; B requested at T2 completes at T3 (concurrent writers)
    let a = t.base_file("p", "a-0", T1, &[&[(T1, "k1"), (T1, "k2")]]);
    let b = t.base_file("p", "b-0", T2, &[&[(T2, "k3")]]);
    t.commit("commit", T1, Some(T5), "INSERT", &[("p", "a-0", &a)], &[]);
    t.commit("commit", T2, Some(T3), "INSERT", &[("p", "b-0", &b)], &[]);
    let table = t.open().await;

    let p = table.plan(None, Some(T3)).await.unwrap();
    assert_eq!(
        p.instants
            .iter()
            .map(|i| i.requested_time.as_str())
            .collect::<Vec<_>>(),
        vec![T2]
    );
    assert_eq!(keys(&table, &p).await, vec![format!("{T2}/k3")]);
    let end = p.end.clone().unwrap();
    assert_eq!(
        (end.requested_time.as_str(), end.completion_time.as_deref()),
        (T2, Some(T3))
    );

    // the next window starts at B's completion and still sees A (requested earlier!)
    let p = table.plan(Some(end.window_key()), None).await.unwrap();
    assert_eq!(
        p.instants
            .iter()
            .map(|i| i.requested_time.as_str())
            .collect::<Vec<_>>(),
        vec![T1]
    );
    assert_eq!(
        keys(&table, &p).await,
        vec![format!("{T1}/k1"), format!("{T1}/k2")]
    );
    assert_eq!(p.end.unwrap().completion_time.as_deref(), Some(T5));

    // the start is exclusive, the end inclusive
    assert!(table.plan(Some(T5), None).await.unwrap().is_empty());
    assert_eq!(
        table.plan(Some(T4), Some(T5)).await.unwrap().instants.len(),
        1
    );
    assert!(
        table.plan(None, Some(T2)).await.unwrap().is_empty(),
        "B completed after T2"
    );
}

#[tokio::test]
async fn v6_hollow_commit_guard_caps_below_the_pending_writer() {
    let t = Table::new(6, "");
    let a = t.base_file("", "a-0", T1, &[&[(T1, "k1")]]);
    let c = t.base_file("", "c-0", T3, &[&[(T3, "k3")]]);
    t.commit("commit", T1, None, "INSERT", &[("", "a-0", &a)], &[]);
    t.commit("commit", T3, None, "INSERT", &[("", "c-0", &c)], &[]);
    // T2 is still being written by a slow writer
    t.file(&format!("{T2}.commit.requested"), b"");
    t.file(&format!("{T2}.inflight"), b"{}");
    // a pending compaction and a pending clustering do not block
    t.file(&format!("{T4}.compaction.requested"), b"");
    let table = t.open().await;
    let p = table.plan(None, None).await.unwrap();
    assert_eq!(p.instants.len(), 1);
    assert_eq!(p.capped_by_pending.as_deref(), Some(T2));
    assert_eq!(p.end.unwrap().requested_time, T1);
    assert_eq!(
        keys(&table, &table.plan(None, None).await.unwrap()).await,
        vec![format!("{T1}/k1")]
    );
    // nothing to cut when the window ends before the pending writer
    let p = table.plan(None, Some(T1)).await.unwrap();
    assert_eq!(p.capped_by_pending, None);

    // once T2 completes, the window (T1, latest] admits both T2 and T3
    let b = t.base_file("", "b-0", T2, &[&[(T2, "k2")]]);
    std::fs::remove_file(t.timeline_dir().join(format!("{T2}.inflight"))).unwrap();
    t.commit("commit", T2, None, "INSERT", &[("", "b-0", &b)], &[]);
    let p = table.plan(Some(T1), None).await.unwrap();
    assert_eq!(p.instants.len(), 2);
    assert_eq!(p.capped_by_pending, None);
    assert_eq!(
        keys(&table, &p).await,
        vec![format!("{T2}/k2"), format!("{T3}/k3")]
    );
}

#[tokio::test]
async fn v6_pending_replacecommit_blocks_unless_it_is_clustering() {
    let t = Table::new(6, "");
    let a = t.base_file("", "a-0", T1, &[&[(T1, "k1")]]);
    let c = t.base_file("", "c-0", T3, &[&[(T3, "k3")]]);
    t.commit("commit", T1, None, "INSERT", &[("", "a-0", &a)], &[]);
    t.commit("commit", T3, None, "INSERT", &[("", "c-0", &c)], &[]);
    t.file(
        &format!("{T2}.replacecommit.requested"),
        br#"{"operationType": null, "clusteringPlan": {"inputGroups": []}}"#,
    );
    let table = t.open().await;
    assert_eq!(
        table.plan(None, None).await.unwrap().instants.len(),
        2,
        "pending clustering adds no rows"
    );
    t.file(
        &format!("{T2}.replacecommit.requested"),
        br#"{"operationType": "INSERT_OVERWRITE", "clusteringPlan": null}"#,
    );
    let p = table.plan(None, None).await.unwrap();
    assert_eq!(p.instants.len(), 1);
    assert_eq!(p.capped_by_pending.as_deref(), Some(T2));
    t.file(&format!("{T2}.replacecommit.requested"), b"not metadata");
    assert!(matches!(
        table.plan(None, None).await,
        Err(HudiError::MalformedCommitMetadata { .. })
    ));
}

#[tokio::test]
async fn archived_history_before_the_bookmark_needs_a_resync() {
    let t = Table::new(6, "");
    let b = t.base_file("", "b-0", T2, &[&[(T2, "k2")]]);
    t.commit("commit", T2, None, "INSERT", &[("", "b-0", &b)], &[]);
    t.file("archived/.commits_.archive.1_1-0-1", b"x");
    let table = t.open().await;
    for after in [None, Some(T1)] {
        let e = table.plan(after, None).await.unwrap_err();
        assert!(matches!(e, HudiError::HistoryNotRetained { .. }), "{e}");
        assert!(e.needs_resync());
    }
    assert!(table.plan(Some(T2), None).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_cleaned_file_is_history_not_retained_never_skipped() {
    let t = Table::new(9, "");
    let a = t.base_file("p", "a-0", T1, &[&[(T1, "k1")]]);
    t.commit("commit", T1, Some(T2), "INSERT", &[("p", "a-0", &a)], &[]);
    // the update's file is listed, the insert's file was cleaned
    let a2 = t.base_file("p", "a-0", T3, &[&[(T1, "k1"), (T3, "k2")]]);
    t.commit("commit", T3, Some(T4), "UPSERT", &[("p", "a-0", &a2)], &[]);
    std::fs::remove_file(t.dir.path().join(&a)).unwrap();
    let table = t.open().await;
    // as of T2 the file group's slice is the cleaned one
    let e = table.plan(None, Some(T2)).await.unwrap_err();
    match &e {
        HudiError::HistoryNotRetained {
            file,
            instant,
            hint,
            ..
        } => {
            assert_eq!(file, &a);
            assert_eq!(instant, T1);
            assert!(hint.contains("resync"));
        }
        other => panic!("{other}"),
    }
    // the latest slice is still there
    let p = table.plan(None, None).await.unwrap();
    assert_eq!(
        keys(&table, &p).await,
        vec![format!("{T1}/k1"), format!("{T3}/k2")]
    );
    // a file deleted between planning and reading is reported the same way
    std::fs::remove_file(t.dir.path().join(&a2)).unwrap();
    let e = table
        .read_changes(&p, &ReadOptions::default())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(e, HudiError::HistoryNotRetained { .. }), "{e}");
}

#[tokio::test]
async fn rollback_of_an_applied_instant_needs_a_resync() {
    let t = Table::new(9, "");
    let a = t.base_file("", "a-0", T1, &[&[(T1, "k1")]]);
    t.commit("commit", T1, Some(T2), "INSERT", &[("", "a-0", &a)], &[]);
    // a rollback completed at T5 removed the instant requested at T3 (completed at T4, then rolled back)
    t.file(
        &format!("{T4}_{T5}.rollback"),
        format!(r#"{{"commitsRollback": ["{T3}"], "instantsRollback": []}}"#).as_bytes(),
    );
    let table = t.open().await;
    // a consumer whose bookmark is T4 (it applied T3) must resync
    let e = table.plan(Some(T4), None).await.unwrap_err();
    assert!(
        matches!(&e, HudiError::RewrittenHistory { rolled_back, .. } if rolled_back == &vec![T3.to_string()]),
        "{e}"
    );
    assert!(e.needs_resync());
    // one whose bookmark is before the rolled-back instant never saw it
    assert!(table.plan(Some(T2), None).await.unwrap().is_empty());
    // and once the bookmark is past the rollback itself, it was already dealt with
    assert!(table.plan(Some(T5), None).await.unwrap().is_empty());
}

#[tokio::test]
async fn row_groups_are_pruned_by_commit_time_statistics() {
    let t = Table::new(9, "");
    // big enough that the footer prefetch (512 KB) does not cover the whole file
    let old_keys: Vec<String> = (0..60_000)
        .map(|i| format!("old-key-{i:08}-{:x}", i * 7919))
        .collect();
    let old: Vec<(&str, &str)> = old_keys.iter().map(|k| (T1, k.as_str())).collect();
    let f = t.base_file("", "a-0", T3, &[&old, &[(T3, "new1"), (T3, "new2")]]);
    let a0 = t.base_file("", "a-0", T1, &[&old]);
    t.commit("commit", T1, Some(T2), "INSERT", &[("", "a-0", &a0)], &[]);
    t.commit("commit", T3, Some(T4), "UPSERT", &[("", "a-0", &f)], &[]);
    let counting = Arc::new(Counting {
        inner: LocalStore::new(t.dir.path()),
        range_bytes: AtomicU64::new(0),
    });
    let table = HudiTable::open(counting.clone()).await.unwrap();
    let p = table.plan(Some(T2), None).await.unwrap();
    assert_eq!(p.slices.len(), 1);
    let size = p.slices[0].base_file.as_ref().unwrap().size;
    let before = counting.range_bytes.load(Ordering::Relaxed);
    assert_eq!(
        keys(&table, &p).await,
        vec![format!("{T3}/new1"), format!("{T3}/new2")]
    );
    let fetched = counting.range_bytes.load(Ordering::Relaxed) - before;
    // the 5000-row group of T1 is never fetched: footer + the small group only
    let md = parquet::file::reader::FileReader::metadata(
        &parquet::file::serialized_reader::SerializedFileReader::new(
            std::fs::File::open(t.dir.path().join(&f)).unwrap(),
        )
        .unwrap(),
    )
    .clone();
    // not even the filter column of the pruned group is fetched
    let ct_chunk = md.row_group(0).column(0).compressed_size() as u64;
    assert!(
        ct_chunk > 512 * 1024,
        "the pruned group's commit-time chunk is {ct_chunk} bytes"
    );
    let small_group = md.row_group(1).compressed_size() as u64;
    let footer_prefetch = 512 * 1024;
    assert!(
        fetched <= footer_prefetch + small_group + 4096,
        "fetched {fetched} of {size} bytes (the pruned group's filter column alone is {ct_chunk} bytes)"
    );
}

#[tokio::test]
async fn projection_and_change_schema() {
    let t = Table::new(9, "");
    let a = t.base_file("", "a-0", T1, &[&[(T1, "k1")]]);
    t.commit("commit", T1, Some(T2), "INSERT", &[("", "a-0", &a)], &[]);
    let table = t.open().await;
    let p = table.plan(None, None).await.unwrap();
    let opts = ReadOptions {
        columns: Some(vec!["n".into(), "_hoodie_record_key".into()]),
        batch_size: 1,
    };
    let batches: Vec<RecordBatch> = table
        .read_slice(&p, 0, &opts)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, vec!["_hoodie_record_key", "n", "_op"]);
    assert!(schema.field(0).is_nullable());
    assert!(!schema.field(2).is_nullable());
    let op = batches[0]
        .column(2)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(op.value(0), "upsert");
    let bad = ReadOptions {
        columns: Some(vec!["nope".into()]),
        batch_size: 10,
    };
    let e = table
        .read_slice(&p, 0, &bad)
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(e, HudiError::UnknownColumn { .. }), "{e}");
    assert!(matches!(
        table.read_slice(&p, 1, &opts),
        Err(HudiError::SliceOutOfRange { .. })
    ));
}

#[tokio::test]
async fn truncated_and_garbage_parquet_are_typed_errors() {
    let t = Table::new(9, "");
    let a = t.base_file("", "a-0", T1, &[&[(T1, "k1"), (T1, "k2")]]);
    t.commit("commit", T1, Some(T2), "INSERT", &[("", "a-0", &a)], &[]);
    let path = t.dir.path().join(&a);
    let full = std::fs::read(&path).unwrap();
    let table = t.open().await;
    for (what, bytes) in [
        ("cut in half", full[..full.len() / 2].to_vec()),
        ("footer only", full[full.len() - 8..].to_vec()),
        ("empty", Vec::new()),
        ("wrong magic", {
            let mut b = full.clone();
            let n = b.len();
            b[n - 1] = b'X';
            b
        }),
        ("huge footer length", {
            let mut b = full.clone();
            let n = b.len();
            b[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
            b
        }),
        ("garbage footer", {
            let mut b = full.clone();
            let n = b.len();
            let l = u32::from_le_bytes(b[n - 8..n - 4].try_into().unwrap()) as usize;
            for x in &mut b[n - 8 - l..n - 8] {
                *x = 0xAB;
            }
            b
        }),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let p = table.plan(None, None).await.unwrap();
        let e = table
            .read_changes(&p, &ReadOptions::default())
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                HudiError::TruncatedFile { .. } | HudiError::ReadFailed { .. }
            ),
            "{what}: {e}"
        );
        assert!(
            e.to_string().contains(&a),
            "{what}: error names the file: {e}"
        );
    }
}

#[tokio::test]
async fn mor_torn_log_block_is_skipped() {
    let t = Table::new(9, "hoodie.table.type=MERGE_ON_READ\n");
    let a = t.base_file("", "a-0", T1, &[&[(T1, "k1")]]);
    t.commit(
        "deltacommit",
        T1,
        Some(T2),
        "INSERT",
        &[("", "a-0", &a)],
        &[],
    );
    let log = format!(".a-0_{T3}.log.1_0-1-0");
    std::fs::write(t.dir.path().join(&log), b"#HUDI#").unwrap();
    t.commit(
        "deltacommit",
        T3,
        Some(T4),
        "UPSERT",
        &[("", "a-0", &log)],
        &[],
    );
    let table = t.open().await;
    // base-file-only window: fine
    let p = table.plan(None, Some(T2)).await.unwrap();
    assert_eq!(keys(&table, &p).await, vec![format!("{T1}/k1")]);
    // the log write: its only block is torn (a writer died mid-block), which Hudi skips
    let p = table.plan(Some(T2), None).await.unwrap();
    assert_eq!(p.slices.len(), 1);
    assert_eq!(p.slices[0].log_files.len(), 1);
    assert_eq!(p.slices[0].log_files[0].path, log);
    assert!(p.slices[0].window_log_files.is_empty());
    assert!(p.log_visibility.is_visible(T3));
    assert!(keys(&table, &p).await.is_empty());
}

#[tokio::test]
async fn insert_overwrite_reports_replaced_groups() {
    let t = Table::new(9, "");
    let a = t.base_file("p", "a-0", T1, &[&[(T1, "k1")]]);
    t.commit("commit", T1, Some(T2), "INSERT", &[("p", "a-0", &a)], &[]);
    let b = t.base_file("p", "b-0", T3, &[&[(T3, "k9")]]);
    t.commit(
        "replacecommit",
        T3,
        Some(T4),
        "INSERT_OVERWRITE",
        &[("p", "b-0", &b)],
        &[("p", "a-0")],
    );
    let table = t.open().await;
    let p = table.plan(Some(T2), None).await.unwrap();
    assert_eq!(p.replaced.len(), 1);
    let r = &p.replaced[0];
    assert_eq!(
        (
            r.partition_path.as_str(),
            r.file_id.as_str(),
            r.replaced_by.as_str()
        ),
        ("p", "a-0", T3)
    );
    assert_eq!(r.operation_type, "INSERT_OVERWRITE");
    assert_eq!(r.last_base_file.as_ref().unwrap().path, a);
    // k1 comes back as a delete row of the overwrite (see tests/deletes.rs)
    assert_eq!(
        keys(&table, &p).await,
        vec![format!("{T3}/k1"), format!("{T3}/k9")]
    );
    // from the beginning, the replaced group is not read at all
    let p = table.plan(None, None).await.unwrap();
    assert_eq!(p.slices.len(), 1);
    assert_eq!(keys(&table, &p).await, vec![format!("{T3}/k9")]);
}

#[tokio::test]
async fn table_level_refusals_and_bad_windows() {
    let dir = tempfile::tempdir().unwrap();
    let e = HudiTable::open(Arc::new(LocalStore::new(dir.path())))
        .await
        .unwrap_err();
    assert!(matches!(e, HudiError::NotAHudiTable { .. }), "{e}");
    // the backup is read when the main file is missing (mid-upgrade)
    std::fs::create_dir_all(dir.path().join(".hoodie")).unwrap();
    std::fs::write(
        dir.path().join(".hoodie/hoodie.properties.backup"),
        "hoodie.table.version=6\n",
    )
    .unwrap();
    assert_eq!(
        HudiTable::open(Arc::new(LocalStore::new(dir.path())))
            .await
            .unwrap()
            .config()
            .table_version,
        6
    );

    for (props, check) in [
        (
            "hoodie.table.base.file.format=ORC\n",
            "UnsupportedBaseFormat",
        ),
        (
            "hoodie.populate.meta.fields=false\n",
            "IncrementalUnsupported",
        ),
        ("hoodie.bootstrap.base.path=/x\n", "NotYetSupported"),
    ] {
        let t = Table::new(9, props);
        let e = t.open().await.plan(None, None).await.unwrap_err();
        assert!(format!("{e:?}").starts_with(check), "{props}: {e:?}");
    }
    let t = Table::new(9, "");
    let table = t.open().await;
    for (a, u) in [
        (Some(T2), Some(T1)),
        (Some("yesterday"), None),
        (None, Some("2025")),
        (Some(""), None),
    ] {
        assert!(
            matches!(table.plan(a, u).await, Err(HudiError::InvalidWindow { .. })),
            "{a:?} {u:?}"
        );
    }
    // an all-zero `after` means the beginning; an all-zero `until` an empty window
    assert!(table.plan(Some("0"), None).await.unwrap().is_empty());
    assert!(
        table
            .plan(None, Some("00000000000000000"))
            .await
            .unwrap()
            .is_empty()
    );
    // malformed commit metadata names the instant and file
    t.file(
        &format!("{T1}_{T2}.commit"),
        b"{\"partitionToWriteStats\": [",
    );
    let e = table.plan(None, None).await.unwrap_err();
    assert!(
        matches!(&e, HudiError::MalformedCommitMetadata { instant, .. } if instant == T1),
        "{e}"
    );
}

#[tokio::test]
async fn zero_row_base_file_reads_as_nothing() {
    let t = Table::new(9, "");
    let a = t.base_file("", "a-0", T1, &[]);
    t.commit("commit", T1, Some(T2), "DELETE", &[("", "a-0", &a)], &[]);
    let table = t.open().await;
    let p = table.plan(None, None).await.unwrap();
    assert_eq!(p.slices.len(), 1);
    assert!(keys(&table, &p).await.is_empty());
}

#[tokio::test]
async fn change_feed_walks_bookmarks_forward() {
    let t = Table::new(9, "");
    let a = t.base_file("", "a-0", T1, &[&[(T1, "k1")]]);
    t.commit("commit", T1, Some(T2), "INSERT", &[("", "a-0", &a)], &[]);
    let feed = hps_hudi::ChangeFeed::open(t.store()).await.unwrap();
    let (plan, batches) = feed.since(None).await.unwrap().collect().await.unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    let bm = plan.end.clone().unwrap();
    assert_eq!(bm.completion_time.as_deref(), Some(T2));
    // nothing new: no bookmark to store
    let c = feed.since(Some(&bm)).await.unwrap();
    assert!(c.next_bookmark().is_none());
    // a new commit
    let a2 = t.base_file("", "a-0", T3, &[&[(T1, "k1"), (T3, "k2")]]);
    t.commit("commit", T3, Some(T4), "UPSERT", &[("", "a-0", &a2)], &[]);
    let c = feed.since(Some(&bm)).await.unwrap();
    assert_eq!(c.next_bookmark().unwrap().requested_time, T3);
    let (_, batches) = c.collect().await.unwrap();
    assert_eq!(
        batches.iter().map(|b| b.num_rows()).sum::<usize>(),
        1,
        "only k2 changed"
    );
}
