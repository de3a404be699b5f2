//! A table's column mapping and partition filter against PostgreSQL. Columns: staging has exactly the configured columns
//! (an exclude list, renames, a `text` type override), their values are the ones an unmapped
//! sync of the same table writes (itself checked against the `hudi` PyPI reader's snapshot),
//! and the excluded columns' column chunks are never fetched from storage (every ranged read
//! is recorded through the storage seam; the footer read, a file's last 512 KiB fetched for
//! its metadata whatever the projection, is told apart).

mod sync_common;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use hps_gen::{GenConfig, TableType, TableVersion};
use hps_storage::{Listing, LocalStore, ObjectMeta, ObjectStore, StorageResult};
use hps_sync::{
    ColumnMapping, ColumnSelect, PartitionFilter, PassMode, TableSource, TargetOverrides,
    TypeOverride,
};
use parquet::file::reader::{FileReader, SerializedFileReader};
use sync_common::*;

/// A local store that records every ranged read.
#[derive(Debug)]
struct Recording {
    inner: LocalStore,
    ranges: Mutex<Vec<(String, Range<u64>)>>,
}

#[async_trait]
impl ObjectStore for Recording {
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
        self.ranges.lock().unwrap().push((path.to_string(), 0..0));
        self.inner.get(path).await
    }
    async fn get_range(&self, path: &str, range: Range<u64>) -> StorageResult<Bytes> {
        self.ranges
            .lock()
            .unwrap()
            .push((path.to_string(), range.clone()));
        self.inner.get_range(path, range).await
    }
    async fn put(&self, path: &str, data: Bytes) -> StorageResult<()> {
        self.inner.put(path, data).await
    }
    async fn delete(&self, path: &str) -> StorageResult<()> {
        self.inner.delete(path).await
    }
}

/// Every base file of the table (relative path, absolute path).
fn base_files(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".hoodie") {
                continue;
            }
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
                out.push((rel, p));
            }
        }
    }
    out
}

/// Byte ranges of `column`'s chunks in every base file.
fn chunk_ranges(root: &Path, column: &str) -> Vec<(String, Range<u64>)> {
    let mut out = Vec::new();
    for (rel, abs) in base_files(root) {
        let r = SerializedFileReader::new(std::fs::File::open(&abs).unwrap()).unwrap();
        for rg in r.metadata().row_groups() {
            for c in rg.columns() {
                if c.column_path().parts()[0] == column {
                    let (start, len) = c.byte_range();
                    out.push((rel.clone(), start..start + len));
                }
            }
        }
    }
    assert!(!out.is_empty(), "no chunks of {column}");
    out
}

/// Ranged reads that overlap one of `chunks`. A read that ends at the end of its file is the
/// footer read (the reader fetches a file's last 512 KiB for the metadata, whatever the
/// projection; in files this small that suffix is the whole file): it is not counted.
fn overlaps(root: &Path, read: &[(String, Range<u64>)], chunks: &[(String, Range<u64>)]) -> usize {
    read.iter()
        .filter(|(p, r)| std::fs::metadata(root.join(p)).map(|m| m.len()).ok() != Some(r.end))
        .filter(|(p, r)| {
            chunks
                .iter()
                .any(|(q, c)| p.ends_with(q.as_str()) && r.start < c.end && c.start < r.end)
        })
        .count()
}

fn mapping() -> ColumnMapping {
    ColumnMapping {
        select: ColumnSelect::Exclude(vec!["email".into(), "description".into()]),
        rename: [
            ("amount".to_string(), "amount_eur".to_string()),
            ("id".to_string(), "order_id".to_string()),
        ]
        .into(),
        types: [("price".to_string(), TypeOverride::Text)].into(),
    }
}

async fn columns_of(url: &str, schema: &str, table: &str) -> BTreeMap<String, String> {
    let c = client(url).await;
    c.query(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = $2",
        &[&schema, &table],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_columns_reach_staging_and_excluded_ones_are_never_read() {
    init_tracing();
    let pg = pg();
    let url = fresh_db(&pg);
    let table = gen_table(&GenConfig {
        table_name: "cols".into(),
        table_type: TableType::CopyOnWrite,
        table_version: TableVersion::V9,
        partitions: 2,
        rows: 300,
        commits: 3,
        update_fraction: 0.2,
        insert_fraction: 0.1,
        delete_fraction: 0.05,
        rows_per_file_group: 100,
        row_group_rows: 64,
        threads: 1,
        ..Default::default()
    })
    .await;
    let stores = Stores::new(StoreKind::File).await;

    // the reference: every column, checked against the oracle's snapshot
    let plain = source("plain", &table.path, "plain");
    let pipe = pipeline("cols", &stores, &url, test_options());
    run_until_up_to_date(&pipe, &plain, PassMode::ToLatest).await;
    assert_staging_matches(&url, &plain, &table.path).await;

    // the mapped table, read through a recording store
    let store = Arc::new(Recording {
        inner: LocalStore::new(&table.path),
        ranges: Mutex::new(Vec::new()),
    });
    let mapped = TableSource::new("mapped", store.clone())
        .with_target(TargetOverrides {
            schema: Some("mapped".into()),
            ..Default::default()
        })
        .with_columns(mapping());
    run_until_up_to_date(&pipe, &mapped, PassMode::ToLatest).await;

    // staging has exactly the configured columns
    let plain_cols = columns_of(&url, "plain", "cols").await;
    let mapped_cols = columns_of(&url, "mapped", "cols").await;
    let m = mapping();
    let mut want: BTreeMap<String, String> = plain_cols
        .iter()
        .filter(|(n, _)| !["email", "description"].contains(&n.as_str()))
        .map(|(n, t)| (m.target_name(n).to_string(), t.clone()))
        .collect();
    want.insert("price".into(), "text".into());
    assert_eq!(mapped_cols, want);
    assert_eq!(
        mapped_cols.get("amount_eur").map(String::as_str),
        Some("numeric")
    );

    // the values are the unmapped sync's, column by column
    let c = client(&url).await;
    let plain_spec = target_of(&plain).await;
    let mut mapped_spec = plain_spec.clone();
    mapped_spec.schema = "mapped".into();
    let by_key = |rows: Vec<BTreeMap<String, Option<String>>>| {
        rows.into_iter()
            .map(|r| (r["_hoodie_record_key"].clone(), r))
            .collect::<BTreeMap<_, _>>()
    };
    let plain_rows = by_key(staging_rows(&c, &plain_spec).await);
    let mapped_rows = by_key(staging_rows(&c, &mapped_spec).await);
    assert_eq!(plain_rows.len(), mapped_rows.len());
    assert!(plain_rows.len() > 100);
    for (key, p) in &plain_rows {
        let r = &mapped_rows[key];
        for (col, v) in p {
            if col.starts_with("_hps_") || ["email", "description"].contains(&col.as_str()) {
                continue;
            }
            let got = &r[m.target_name(col)];
            if col == "price" {
                let num = |s: &Option<String>| s.as_deref().map(|s| s.parse::<f64>().unwrap());
                assert_eq!(num(got), num(v), "{key:?} {col}");
            } else {
                assert_eq!(got, v, "{key:?} {col}");
            }
        }
    }

    // excluded columns were never fetched; included ones were
    let read = store.ranges.lock().unwrap().clone();
    for excluded in ["email", "description"] {
        assert_eq!(
            overlaps(&table.path, &read, &chunk_ranges(&table.path, excluded)),
            0,
            "{excluded} was read"
        );
    }
    assert!(
        overlaps(
            &table.path,
            &read,
            &chunk_ranges(&table.path, "customer_name")
        ) > 0
    );
    // the unmapped sync of the same files does read them (the check can fail)
    let plain_store = Arc::new(Recording {
        inner: LocalStore::new(&table.path),
        ranges: Mutex::new(Vec::new()),
    });
    let again = TableSource::new("again", plain_store.clone()).with_target(TargetOverrides {
        schema: Some("again".into()),
        ..Default::default()
    });
    run_until_up_to_date(&pipe, &again, PassMode::ToLatest).await;
    let read = plain_store.ranges.lock().unwrap().clone();
    assert!(overlaps(&table.path, &read, &chunk_ranges(&table.path, "email")) > 0);
}

/// Partition pruning: with `region in ('eu-west', 'ap-south')` staging holds exactly the
/// unfiltered staging's rows of those regions, and no file of the other region is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_filter_prunes_other_partitions() {
    init_tracing();
    let pg = pg();
    let url = fresh_db(&pg);
    let table = gen_table(&GenConfig {
        table_name: "parts".into(),
        table_type: TableType::MergeOnRead,
        table_version: TableVersion::V9,
        partitions: 3,
        rows: 300,
        commits: 3,
        update_fraction: 0.2,
        insert_fraction: 0.1,
        delete_fraction: 0.05,
        rows_per_file_group: 100,
        row_group_rows: 64,
        threads: 1,
        ..Default::default()
    })
    .await;
    let stores = Stores::new(StoreKind::File).await;
    let pipe = pipeline("parts", &stores, &url, test_options());
    let plain = source("plain", &table.path, "plain");
    run_until_up_to_date(&pipe, &plain, PassMode::ToLatest).await;
    assert_staging_matches(&url, &plain, &table.path).await;

    let store = Arc::new(Recording {
        inner: LocalStore::new(&table.path),
        ranges: Mutex::new(Vec::new()),
    });
    let filter = PartitionFilter::parse("region in ('eu-west', 'ap-south')").unwrap();
    let filtered = TableSource::new("filtered", store.clone())
        .with_target(TargetOverrides {
            schema: Some("filtered".into()),
            ..Default::default()
        })
        .with_partition_filter(Some(filter));
    run_until_up_to_date(&pipe, &filtered, PassMode::ToLatest).await;

    let c = client(&url).await;
    let plain_spec = target_of(&plain).await;
    let mut filtered_spec = plain_spec.clone();
    filtered_spec.schema = "filtered".into();
    // by record key, without the sync's own columns (load ids, apply times)
    let rows = |r: Vec<BTreeMap<String, Option<String>>>| {
        let mut r: Vec<_> = r
            .into_iter()
            .map(|mut row| {
                row.retain(|k, _| !k.starts_with("_hps_"));
                row
            })
            .collect();
        r.sort_by(|a, b| a["_hoodie_record_key"].cmp(&b["_hoodie_record_key"]));
        r
    };
    let all = rows(staging_rows(&c, &plain_spec).await);
    let total = all.len();
    let want: Vec<_> = all
        .into_iter()
        .filter(|r| matches!(r["region"].as_deref(), Some("eu-west") | Some("ap-south")))
        .collect();
    let got = rows(staging_rows(&c, &filtered_spec).await);
    assert!(!want.is_empty() && want.len() < total);
    assert_eq!(got.len(), want.len(), "filtered staging row count");
    for (g, w) in got.iter().zip(&want) {
        let differs: Vec<_> = w
            .iter()
            .filter(|(k, v)| g.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}: {:?} != {v:?}", g.get(k)))
            .collect();
        assert!(
            differs.is_empty(),
            "{:?}: {differs:?}",
            w["_hoodie_record_key"]
        );
    }

    let read = store.ranges.lock().unwrap().clone();
    assert!(
        read.iter().any(|(p, _)| p.starts_with("region=eu-west/")),
        "{read:?}"
    );
    let pruned: Vec<_> = read
        .iter()
        .filter(|(p, _)| p.starts_with("region=us-east/"))
        .collect();
    assert!(
        pruned.is_empty(),
        "files of a filtered-out partition were read: {pruned:?}"
    );
}
