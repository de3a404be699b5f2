//! The log layer against the Spark-written MOR tables in `../shared/hudi-fixtures`, with the
//! `hudi` PyPI package (hudi-rs) as the independent oracle for decoded row values.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_schema::SchemaRef;
use hps_storage::{DynStore, LocalStore};
use hps_testkit::fixtures::{FixtureTable, unpack};

use super::*;

fn fixture(name: &str) -> Option<FixtureTable> {
    let t = unpack(name);
    if t.is_none() {
        hps_testkit::skip(&format!(
            "fixture {name} (../shared/hudi-fixtures) is absent"
        ));
    }
    t
}

fn store(t: &FixtureTable) -> DynStore {
    Arc::new(LocalStore::new(&t.path))
}

/// Log files directly under `dir` (relative to the table root).
fn log_files(t: &FixtureTable, dir: &str) -> Vec<LogFileRef> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(t.path.join(dir)).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if LogFileName::parse(&name).is_some() {
            let path = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            out.push(LogFileRef {
                path,
                size: e.metadata().unwrap().len(),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Data directories (partitions) of a table: the root and its non-hidden subdirectories.
fn partitions(t: &FixtureTable) -> Vec<String> {
    let mut out = vec![String::new()];
    for e in std::fs::read_dir(&t.path).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() && !name.starts_with('.') {
            out.push(name);
        }
    }
    out
}

/// Requested times of completed commit/deltacommit/replacecommit instants (v6 flat timeline,
/// v8/v9 `timeline/`).
fn completed_writes(t: &FixtureTable) -> HashSet<String> {
    let mut out = HashSet::new();
    for dir in [".hoodie", ".hoodie/timeline"] {
        let Ok(rd) = std::fs::read_dir(t.path.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some((stem, action)) = name.split_once('.') else {
                continue;
            };
            if matches!(action, "deltacommit" | "commit" | "replacecommit") {
                out.insert(stem.split('_').next().unwrap_or(stem).to_string());
            }
        }
    }
    out
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

const ORACLE: &str = r#"
import json, sys
import hudi, pyarrow as pa, pyarrow.parquet as pq
table, ours = sys.argv[1], sys.argv[2]
snap = pa.Table.from_batches(hudi.HudiTableBuilder.from_base_uri(table).build().read()).to_pylist()
by_key = {(r["_hoodie_partition_path"], r["_hoodie_record_key"]): r for r in snap}
compared, superseded, mismatches, missing = 0, 0, [], []
for r in pq.read_table(ours).to_pylist():
    k = (r["_hoodie_partition_path"], r["_hoodie_record_key"])
    s = by_key.get(k)
    if s is None:
        missing.append(repr(k)); continue
    if s["_hoodie_commit_time"] != r["_hoodie_commit_time"]:
        superseded += 1; continue
    for c, v in r.items():
        if c != "_hoodie_file_name" and c in s and s[c] != v:
            mismatches.append([repr(k), c, repr(v), repr(s[c])])
    compared += 1
print(json.dumps({"compared": compared, "superseded": superseded, "mismatches": mismatches, "missing": missing}))
"#;

/// Compare decoded log rows with the oracle's snapshot of the table: every row that is still
/// the latest version of its key must equal the oracle's row column by column. Returns
/// (rows compared, rows superseded by later writes, keys deleted later).
fn oracle_compare(t: &FixtureTable, batches: &[RecordBatch]) -> (u64, u64, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.parquet");
    let schema: SchemaRef = batches[0].schema();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&file).unwrap(), schema, None)
            .unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
    let out = std::process::Command::new(hps_testkit::python::venv_python())
        .arg("-c")
        .arg(ORACLE)
        .arg(&t.path)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["mismatches"],
        serde_json::json!([]),
        "{}: decoded rows differ from the oracle",
        t.name
    );
    let missing = v["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    (
        v["compared"].as_u64().unwrap(),
        v["superseded"].as_u64().unwrap(),
        missing,
    )
}

/// Every valid data block of a table, decoded (Avro into `target` when given).
async fn decode_all_data_blocks(t: &FixtureTable, target: Option<SchemaRef>) -> Vec<RecordBatch> {
    let store = store(t);
    let completed = completed_writes(t);
    let visible = move |i: &str| completed.contains(i);
    let mut out = Vec::new();
    for p in partitions(t) {
        let scan = scan_slice(
            &store,
            &log_files(t, &p),
            &visible,
            &LogReaderOptions::default(),
        )
        .await
        .unwrap();
        for b in scan.blocks.iter().filter(|b| b.block_type.is_data()) {
            let mut r =
                DataBlockReader::open(&store, b, target.clone(), &DataBlockOptions::default())
                    .await
                    .unwrap();
            while let Some(batch) = r.next_batch().await.unwrap() {
                out.push(batch);
            }
        }
    }
    out
}

fn keys(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let k = b
            .column_by_name("_hoodie_record_key")
            .unwrap()
            .as_string::<i32>();
        out.extend(k.iter().map(|v| v.unwrap().to_string()));
    }
    out.sort();
    out
}

#[tokio::test]
async fn v6_rollback_command_block_voids_the_rolled_back_parquet_block() {
    let Some(t) = fixture("sample_table/mor/parquet/v6_nonpartitioned_rollback.zip") else {
        return;
    };
    let store = store(&t);
    let files = log_files(&t, "");
    assert_eq!(files.len(), 3);

    // log.2 is the 105-byte command block of the rollback
    let cmd = files.iter().find(|f| f.path.contains(".log.2_")).unwrap();
    assert_eq!(cmd.size, 105);
    let blocks = LogFileReader::new(store.clone(), cmd.path.clone(), cmd.size)
        .read_all()
        .await
        .unwrap();
    assert_eq!(blocks.len(), 1);
    assert!(blocks[0].is_rollback());
    assert_eq!(blocks[0].instant_time(), Some("20250126040936578"));
    assert_eq!(
        blocks[0].header.target_instant_time(),
        Some("20250126040826878")
    );

    // with the real timeline the rolled-back instant is not visible at all ...
    let completed = completed_writes(&t);
    assert!(!completed.contains("20250126040826878"));
    let visible = |i: &str| completed.contains(i);
    let scan = scan_slice(&store, &files, &visible, &LogReaderOptions::default())
        .await
        .unwrap();
    assert_eq!(scan.blocks.len(), 1);
    assert_eq!(scan.blocks[0].instant_time(), Some("20250126060846931"));
    assert_eq!(scan.blocks[0].block_type, BlockType::ParquetData);
    assert!(scan.blocks[0].file.contains(".log.3_"));
    assert_eq!(
        (
            scan.stats.not_visible,
            scan.stats.rolled_back,
            scan.stats.commands
        ),
        (1, 0, 1)
    );

    // ... and even if it were, the command block voids it
    let everything = |_: &str| true;
    let scan = scan_slice(&store, &files, &everything, &LogReaderOptions::default())
        .await
        .unwrap();
    assert_eq!(scan.blocks.len(), 1);
    assert_eq!(scan.stats.rolled_back, 1);
    assert!(scan.rolled_back_instants.contains("20250126040826878"));
    // a reader as of before the rollback would keep it
    struct BeforeRollback;
    impl InstantVisibility for BeforeRollback {
        fn is_visible(&self, _: &str) -> bool {
            true
        }
        fn applies_rollback(&self, i: &str) -> bool {
            i <= "20250126040900000"
        }
    }
    let scan = scan_slice(
        &store,
        &files,
        &BeforeRollback,
        &LogReaderOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(scan.blocks.len(), 2);

    // the surviving block updates id 2, exactly as the oracle sees it
    let batches = decode_all_data_blocks(&t, None).await;
    assert_eq!(keys(&batches), ["2"]);
    assert_eq!(oracle_compare(&t, &batches), (1, 0, vec![]));
}

#[tokio::test]
async fn v6_delete_block_holds_riders_a_c_d() {
    let Some(t) = fixture("quickstart_trips_table/mor/avro/v6_trips_8i3d.zip") else {
        return;
    };
    let store = store(&t);
    let files = log_files(&t, "city=san_francisco");
    assert_eq!(files.len(), 1);
    let blocks = LogFileReader::new(store.clone(), files[0].path.clone(), files[0].size)
        .read_all()
        .await
        .unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].block_type, BlockType::Delete);
    assert_eq!(blocks[0].instant_time(), Some("20250618054714114"));
    let deletes = read_delete_block(&store, &blocks[0], &DataBlockOptions::default())
        .await
        .unwrap();

    // the keys of riders A, C and D in the base file
    let base = std::fs::read_dir(t.path.join("city=san_francisco"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
        .unwrap()
        .path();
    let mut expected = BTreeMap::new();
    for b in read_parquet(&base) {
        let riders = b.column_by_name("rider").unwrap().as_string::<i32>();
        let keys = b
            .column_by_name("_hoodie_record_key")
            .unwrap()
            .as_string::<i32>();
        for i in 0..b.num_rows() {
            if ["rider-A", "rider-C", "rider-D"].contains(&riders.value(i)) {
                expected.insert(keys.value(i).to_string(), riders.value(i).to_string());
            }
        }
    }
    assert_eq!(expected.len(), 3);
    let got: Vec<&str> = deletes.iter().map(|d| d.record_key.as_str()).collect();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        expected.keys().map(String::as_str).collect::<Vec<_>>()
    );
    for d in &deletes {
        assert_eq!(d.partition_path, "city=san_francisco");
        assert!(
            d.ordering_value
                .as_ref()
                .is_none_or(OrderingValue::is_natural_delete),
            "{d:?}"
        );
    }
}

#[tokio::test]
async fn v9_delete_block_of_txn_002_carries_int_wrapper_zero() {
    let Some(t) = fixture("sample_table/mor/avro/v9_txns_simple_meta.zip") else {
        return;
    };
    let store = store(&t);
    let path = "region=us/.3e93c8a9-fda0-4e8a-91dc-b4ade7dab76d-0_20260307162606034.log.1_0-78-180";
    let mut r = LogFileReader::open(store.clone(), path).await.unwrap();
    let blocks = r.read_all().await.unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].block_type, BlockType::Delete);
    assert_eq!(blocks[0].content_len(), 32);
    let deletes = read_delete_block(&store, &blocks[0], &DataBlockOptions::default())
        .await
        .unwrap();
    assert_eq!(
        deletes,
        vec![DeleteRecord {
            record_key: "TXN-002".into(),
            partition_path: "region=us".into(),
            ordering_value: Some(OrderingValue::Int(0)),
        }]
    );
}

#[tokio::test]
async fn avro_blocks_decode_to_the_oracles_values() {
    // (fixture, rows still latest, rows superseded, keys deleted after their update)
    for (name, latest, superseded, deleted_later) in [
        (
            "quickstart_trips_table/mor/avro/v6_trips_8i1u.zip",
            1,
            0,
            vec![],
        ),
        // J updated then deleted
        (
            "quickstart_trips_table/mor/avro/v8_trips_8i3u1d.zip",
            2,
            0,
            vec!["city=chennai|c8abbe79-8d89-47ea-b4ce-4d224bae5bfa"],
        ),
        // TXN-001 and TXN-007 updated; TXN-005 updated then deleted
        (
            "sample_table/mor/avro/v9_txns_simple_meta.zip",
            2,
            0,
            vec!["region=eu|TXN-005"],
        ),
        (
            "sample_table/mor/avro/v9_txns_nonpart_nometa.zip",
            2,
            0,
            vec!["|TXN-005"],
        ),
    ] {
        let Some(t) = fixture(name) else { return };
        let batches = decode_all_data_blocks(&t, None).await;
        assert!(!batches.is_empty(), "{name}: no Avro blocks");
        let (compared, sup, missing) = oracle_compare(&t, &batches);
        let expected_missing: Vec<String> = deleted_later
            .iter()
            .map(|k: &&str| {
                let (p, k) = k.split_once('|').unwrap();
                format!("('{p}', '{k}')")
            })
            .collect();
        assert_eq!(
            (compared, sup, missing),
            (latest, superseded, expected_missing),
            "{name}"
        );

        // decoding into the base file's schema gives the same rows, in that schema
        let base = walk_parquet(&t.path).into_iter().next().unwrap();
        let target = read_parquet(&base)[0].schema();
        let aligned = decode_all_data_blocks(&t, Some(target.clone())).await;
        assert!(aligned.iter().all(|b| b.schema() == target));
        assert_eq!(keys(&aligned), keys(&batches));
        let (again, _, _) = oracle_compare(&t, &aligned);
        assert_eq!(again, latest);
    }
}

fn walk_parquet(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if e.path().is_dir() {
            out.extend(walk_parquet(&e.path()));
        } else if name.ends_with(".parquet") {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn parquet_blocks_decode_to_the_oracles_values() {
    for (name, expected_keys) in [
        ("sample_table/mor/parquet/v6_nonpartitioned.zip", vec!["1"]),
        (
            "sample_table/mor/parquet/v6_simplekeygen_nonhivestyle.zip",
            vec!["1"],
        ),
    ] {
        let Some(t) = fixture(name) else { return };
        let batches = decode_all_data_blocks(&t, None).await;
        assert_eq!(keys(&batches), expected_keys, "{name}");
        assert_eq!(oracle_compare(&t, &batches), (1, 0, vec![]), "{name}");
    }
}

#[tokio::test]
async fn metadata_table_hfile_blocks_are_refused_not_guessed() {
    let Some(t) = fixture("quickstart_trips_table/mor/avro/v8_trips_8i3u1d.zip") else {
        return;
    };
    let store = store(&t);
    let files = log_files(&t, ".hoodie/metadata/files");
    let files: Vec<LogFileRef> = files
        .into_iter()
        .filter(|f| f.size > 1000)
        .take(1)
        .collect();
    assert_eq!(files.len(), 1);
    let all = |_: &str| true;
    match scan_slice(&store, &files, &all, &LogReaderOptions::default()).await {
        Err(LogError::UnsupportedBlockType { block_type, .. }) => {
            assert_eq!(block_type, "HFILE_DATA_BLOCK")
        }
        other => panic!("{other:?}"),
    }
    let none = |_: &str| false;
    let scan = scan_slice(&store, &files, &none, &LogReaderOptions::default())
        .await
        .unwrap();
    assert!(scan.blocks.is_empty());
}

/// Merge one file group of a fixture as of the latest instant and report the changes of
/// `admitted`.
async fn merge_group(
    t: &FixtureTable,
    dir: &str,
    file_id: &str,
    base_instant: &str,
    mode: MergeMode,
    admitted: &[&str],
) -> (Vec<(String, String)>, Vec<DeleteChange>) {
    let store = store(t);
    let completed = completed_writes(t);
    let visible = move |i: &str| completed.contains(i);
    let files: Vec<LogFileRef> = log_files(t, dir)
        .into_iter()
        .filter(|f| f.path.contains(file_id))
        .collect();
    let scan = scan_slice(&store, &files, &visible, &LogReaderOptions::default())
        .await
        .unwrap();
    let base = walk_parquet(&t.path.join(dir))
        .into_iter()
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with(file_id) && n.ends_with(&format!("_{base_instant}.parquet"))
        })
        .unwrap();
    let base_batches = read_parquet(&base);
    let config = MergeConfig {
        mode,
        ordering_fields: vec!["ts".into(), "txn_ts".into()]
            .into_iter()
            .filter(|f: &String| base_batches[0].schema().field_with_name(f).is_ok())
            .collect(),
        admitted: Arc::new(crate::instant::CommitTimes::only(
            admitted.iter().map(|s| s.to_string()),
        )),
        file_group: file_id.into(),
        batch_size: 1024,
    };
    let mut m = FileGroupMerger::new(config, base_batches[0].schema()).unwrap();
    for b in &scan.blocks {
        m.push_block(&store, b, &DataBlockOptions::default())
            .await
            .unwrap();
    }
    let mut rows = Vec::new();
    let mut collect = |b: &RecordBatch| {
        let k = b
            .column_by_name("_hoodie_record_key")
            .unwrap()
            .as_string::<i32>();
        let c = b
            .column_by_name("_hoodie_commit_time")
            .unwrap()
            .as_string::<i32>();
        for i in 0..b.num_rows() {
            rows.push((k.value(i).to_string(), c.value(i).to_string()));
        }
    };
    for b in &base_batches {
        collect(&m.merge_base_batch(b).unwrap());
    }
    let out = m.finish().unwrap();
    for b in &out.upserts {
        collect(b);
    }
    rows.sort();
    (rows, out.deletes)
}

#[tokio::test]
async fn merging_fixture_file_groups() {
    if let Some(t) = fixture("quickstart_trips_table/mor/avro/v6_trips_8i1u.zip") {
        let fg = "d0304c53-6fd2-4b7a-a9d6-5ff632f79224-0";
        let (rows, deletes) = merge_group(
            &t,
            "city=san_francisco",
            fg,
            "20250331030642808",
            MergeMode::OverwriteWithLatestPayload,
            &["20250331030645735"],
        )
        .await;
        assert_eq!(
            rows,
            vec![(
                "9909a8b1-2d15-4d3d-8ec9-efc48c536a00".to_string(),
                "20250331030645735".to_string()
            )]
        );
        assert!(deletes.is_empty());
        // both instants admitted: every row of the group, rider-D in its updated version
        let (rows, _) = merge_group(
            &t,
            "city=san_francisco",
            fg,
            "20250331030642808",
            MergeMode::OverwriteWithLatestPayload,
            &["20250331030642808", "20250331030645735"],
        )
        .await;
        assert_eq!(rows.len(), 4, "{rows:?}");
        assert!(rows.contains(&(
            "9909a8b1-2d15-4d3d-8ec9-efc48c536a00".into(),
            "20250331030645735".into()
        )));
    }
    if let Some(t) = fixture("quickstart_trips_table/mor/avro/v6_trips_8i3d.zip") {
        let (rows, deletes) = merge_group(
            &t,
            "city=san_francisco",
            "6d3d1d6e-2298-4080-a0c1-494877d6f40a-0",
            "20250618054711154",
            MergeMode::OverwriteWithLatestPayload,
            &["20250618054714114"],
        )
        .await;
        assert!(rows.is_empty(), "{rows:?}");
        assert_eq!(deletes.len(), 3);
        assert!(
            deletes
                .iter()
                .all(|d| d.instant == "20250618054714114"
                    && d.partition_path == "city=san_francisco")
        );
    }
    if let Some(t) = fixture("sample_table/mor/avro/v9_txns_simple_meta.zip") {
        // as of the latest instant the slice of this group is the compacted base: use the
        // pre-compaction base and only the logs it had (both logs predate the compaction)
        let fg = "3e93c8a9-fda0-4e8a-91dc-b4ade7dab76d-0";
        let (rows, deletes) = merge_group(
            &t,
            "region=us",
            fg,
            "20260307162557587",
            MergeMode::EventTimeOrdering,
            &["20260307162606034"],
        )
        .await;
        assert!(rows.is_empty(), "{rows:?}");
        let d: Vec<(&str, &str)> = deletes
            .iter()
            .map(|d| (d.record_key.as_str(), d.instant.as_str()))
            .collect();
        assert_eq!(d, [("TXN-002", "20260307162606034")]);
        assert_eq!(deletes[0].ordering_value, Some(OrderingValue::Int(0)));

        let (rows, deletes) = merge_group(
            &t,
            "region=us",
            fg,
            "20260307162557587",
            MergeMode::EventTimeOrdering,
            &["20260307162604102"],
        )
        .await;
        assert_eq!(
            rows,
            vec![("TXN-001".to_string(), "20260307162604102".to_string())]
        );
        assert!(deletes.is_empty());
    }
}
