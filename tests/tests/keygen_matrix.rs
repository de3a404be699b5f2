//! Generated tables with every key generator the generator writes (complex on two record key
//! fields, non-partitioned, timestamp-based and custom `region:TIMESTAMP` with a DATE_STRING
//! input re-formatted as `yyyy/MM/dd/HH` in `GMT+05:30`), COW version 6 and MOR version 9,
//! read by hps-hudi and synced into PostgreSQL, both compared with the `hudi` PyPI wheel
//! (incremental windows: [`check_fixture`]; snapshot: `snapshot.py`). The simple generator
//! is what every other generated-table test uses.
//!
//! One exception: a version-9 custom-generator table stores its partition field with its type
//! (`hoodie.table.partition.fields=region:TIMESTAMP`, as Hudi 1.x does from table version 8),
//! which the wheel (hudi-rs 0.5.0) rejects ("Partition field `region:TIMESTAMP` ... is not
//! present in the table schema"). Its oracle is the same-seed timestamp-generator table: the
//! same files, only `hoodie.properties` differs; hps-hudi must read both alike, and that twin
//! is compared with the wheel.

mod hudi_conformance;
mod sync_common;

use std::collections::BTreeSet;
use std::sync::Arc;

use hps_gen::{GenConfig, KeyGenerator, TableType, TableVersion};
use hps_storage::{DynStore, LocalStore};
use hps_sync::{PassMode, PassOutcome};
use hudi_conformance::{Expect, check_fixture, windows};
use sync_common::*;

const GENERATORS: [KeyGenerator; 4] = [
    KeyGenerator::Complex,
    KeyGenerator::NonPartitioned,
    KeyGenerator::Timestamp,
    KeyGenerator::Custom,
];

const SHAPES: [(TableType, TableVersion); 2] = [
    (TableType::CopyOnWrite, TableVersion::V6),
    (TableType::MergeOnRead, TableVersion::V9),
];

fn cfg(name: &str, kg: KeyGenerator, table_type: TableType, version: TableVersion) -> GenConfig {
    GenConfig {
        table_name: name.to_string(),
        table_type,
        table_version: version,
        key_generator: kg,
        partitions: if kg == KeyGenerator::NonPartitioned {
            1
        } else {
            3
        },
        rows: 500,
        commits: 4,
        update_fraction: 0.1,
        insert_fraction: 0.05,
        delete_fraction: 0.03,
        rows_per_file_group: 100,
        row_group_rows: 64,
        threads: 1,
        compact_every: if table_type == TableType::MergeOnRead {
            2
        } else {
            0
        },
        ..Default::default()
    }
}

/// `_hoodie_record_key` / `_hoodie_partition_path` of every upsert row of the window from the
/// beginning to the latest instant (hps-hudi).
async fn keys_and_paths(table: &hps_hudi::HudiTable) -> (BTreeSet<String>, BTreeSet<String>) {
    use arrow_array::cast::AsArray;
    use futures::TryStreamExt;
    let plan = table.plan(None, None).await.expect("plan");
    let batches: Vec<_> = table
        .read_changes(
            &plan,
            &hps_hudi::ReadOptions {
                columns: None,
                batch_size: 128,
            },
        )
        .try_collect()
        .await
        .expect("read");
    let (mut keys, mut paths) = (BTreeSet::new(), BTreeSet::new());
    for b in &batches {
        let k = b
            .column(b.schema().index_of("_hoodie_record_key").expect("key"))
            .as_string::<i32>();
        let p = b
            .column(b.schema().index_of("_hoodie_partition_path").expect("path"))
            .as_string::<i32>();
        let op = b
            .column(b.schema().index_of("_op").expect("_op"))
            .as_string::<i32>();
        for r in (0..b.num_rows()).filter(|&r| op.value(r) == "upsert") {
            keys.insert(k.value(r).to_string());
            paths.insert(p.value(r).to_string());
        }
    }
    (keys, paths)
}

/// Whether the wheel can read a table of this generator and version (see the module docs).
fn wheel_reads(kg: KeyGenerator, version: TableVersion) -> bool {
    !(kg == KeyGenerator::Custom && version == TableVersion::V9)
}

/// The stand-in the wheel reads instead: the same workload with the timestamp generator.
fn wheel_twin(c: &GenConfig) -> GenConfig {
    GenConfig {
        key_generator: KeyGenerator::Timestamp,
        ..c.clone()
    }
}

/// Every row of every window, as sorted JSON text.
async fn all_windows(table: &hps_hudi::HudiTable) -> Vec<Vec<String>> {
    use futures::TryStreamExt;
    let mut out = Vec::new();
    for (after, until) in windows(table).await {
        let plan = table
            .plan(after.as_deref(), until.as_deref())
            .await
            .expect("plan");
        let batches: Vec<_> = table
            .read_changes(
                &plan,
                &hps_hudi::ReadOptions {
                    columns: None,
                    batch_size: 128,
                },
            )
            .try_collect()
            .await
            .expect("read");
        let mut rows: Vec<String> = batches
            .iter()
            .flat_map(|b| hudi_pg_sync::json::batch_to_rows(b).expect("json"))
            .map(|r| serde_json::Value::Object(r).to_string())
            .collect();
        rows.sort();
        out.push(rows);
    }
    out
}

/// Every window equals the wheel's; the record keys and partition paths are the generator's
/// shapes, and the files sit where the paths say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_generator_reads_like_the_wheel() {
    for kg in GENERATORS {
        for (table_type, version) in SHAPES {
            let label = format!("{kg:?} {table_type:?} v{}", version.number());
            let dir = tempfile::tempdir().unwrap();
            let c = cfg("kg", kg, table_type, version);
            let report = hps_gen::generate_local(dir.path(), &c)
                .await
                .expect("generate");
            let m = report.manifest;
            let store: DynStore = Arc::new(LocalStore::new(dir.path()));
            let expect = match table_type {
                TableType::CopyOnWrite => Expect::Match,
                TableType::MergeOnRead => Expect::Mor,
            };
            let table = hps_hudi::HudiTable::open(store.clone())
                .await
                .expect("open");
            if wheel_reads(kg, version) {
                check_fixture(&label, expect, dir.path(), store).await;
            } else {
                let tdir = tempfile::tempdir().unwrap();
                hps_gen::generate_local(tdir.path(), &wheel_twin(&c))
                    .await
                    .expect("generate twin");
                let tstore: DynStore = Arc::new(LocalStore::new(tdir.path()));
                let twin = hps_hudi::HudiTable::open(tstore.clone())
                    .await
                    .expect("open");
                let (ours, theirs) = (all_windows(&table).await, all_windows(&twin).await);
                assert!(ours.iter().map(Vec::len).sum::<usize>() > 500, "{label}");
                assert_eq!(ours, theirs, "{label}: the timestamp-generator twin");
                check_fixture(&format!("{label} twin"), expect, tdir.path(), tstore).await;
            }

            let (keys, paths) = keys_and_paths(&table).await;
            let state = m.expected_state();
            assert_eq!(keys.len(), state.len(), "{label}: one key per live row");
            let want_paths: BTreeSet<String> = m.table.partition_paths.iter().cloned().collect();
            assert_eq!(paths, want_paths, "{label}: partition paths");
            for k in &keys {
                match kg {
                    KeyGenerator::Complex => assert!(
                        k.starts_with("id:") && k.contains(",customer_id:"),
                        "{label}: {k}"
                    ),
                    _ => assert!(k.parse::<i64>().is_ok(), "{label}: {k}"),
                }
            }
            for p in &paths {
                match kg {
                    KeyGenerator::NonPartitioned => assert_eq!(p, "", "{label}"),
                    KeyGenerator::Complex => assert!(p.starts_with("region="), "{label}: {p}"),
                    _ => {
                        let parts: Vec<&str> = p.split('/').collect();
                        assert_eq!(parts.len(), 4, "{label}: yyyy/MM/dd/HH, got {p}");
                        assert!(parts.iter().all(|x| x.chars().all(|c| c.is_ascii_digit())));
                    }
                }
                let meta = dir.path().join(p).join(".hoodie_partition_metadata");
                let text = std::fs::read_to_string(&meta).expect("partition metadata");
                let depth = if p.is_empty() {
                    0
                } else {
                    p.split('/').count()
                };
                assert!(
                    text.contains(&format!("\npartitionDepth={depth}\n")),
                    "{label}: {text}"
                );
            }
            // the table's own properties name the generator
            let props = table.config();
            assert_eq!(props.table_version, version.number(), "{label}");
        }
    }
}

/// Each table synced to the latest instant: staging equals the wheel's snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_generator_syncs_like_the_wheel() {
    init_tracing();
    let pg = pg();
    let url = fresh_db(&pg);
    for kg in GENERATORS {
        for (table_type, version) in SHAPES {
            let name = format!(
                "kg_{}_{}",
                format!("{kg:?}").to_lowercase(),
                version.number()
            );
            let c = cfg(&name, kg, table_type, version);
            let t = gen_table(&c).await;
            let stores = Stores::new(StoreKind::File).await;
            let pipe = pipeline("p1", &stores, &url, test_options());
            let src = source(&name, &t.path, &name);
            let o = pipe
                .run_pass(&src, None, PassMode::ToLatest)
                .await
                .expect("pass");
            assert!(matches!(o, PassOutcome::Applied(_)), "{name}: {o:?}");
            if wheel_reads(kg, version) {
                assert_staging_matches(&url, &src, &t.path).await;
            } else {
                let twin = gen_table(&wheel_twin(&c)).await;
                assert_staging_matches(&url, &src, &twin.path).await;
            }
        }
    }
}
