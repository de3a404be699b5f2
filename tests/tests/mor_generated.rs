//! hps-hudi's merge-on-read reads of tables written by hps-gen (v6 and v9, log files with
//! AVRO_DATA and DELETE blocks, compactions in between), against the generator's manifest of
//! what each commit inserted, updated and deleted:
//! - for every single-commit window, the windows from each commit to the latest (several
//!   of them span a compaction), and `(beginning, latest]`: the upsert rows are exactly the
//!   keys whose version as of the window end was written inside the window, with that
//!   version's commit time and values; the delete rows are exactly the keys deleted inside the
//!   window and absent at its end, with the deleting commit's time, partition and ordering
//!   value (hps-gen writes deletes with `LongWrapper(ts)`);
//! - the upserts of every window also equal what the `hudi` PyPI oracle returns
//!   (`hudi_conformance::check_fixture`).

mod hudi_conformance;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use hps_gen::{GenConfig, Manifest, TableType, TableVersion};
use hps_hudi::{HudiTable, ReadOptions};
use hps_storage::{DynStore, LocalStore};
use hudi_conformance::{Expect, check_fixture};
use serde_json::Value;

fn config(version: TableVersion) -> GenConfig {
    GenConfig {
        table_name: format!("mor_gen_v{}", version.number()),
        table_type: TableType::MergeOnRead,
        table_version: version,
        partitions: 3,
        rows: 1200,
        commits: 7,
        update_fraction: 0.08,
        insert_fraction: 0.04,
        delete_fraction: 0.05,
        rows_per_file_group: 300,
        row_group_rows: 128,
        threads: 1,
        compact_every: 3,
        ..Default::default()
    }
}

/// A row as the reader returned it.
struct Got {
    op: String,
    row: serde_json::Map<String, Value>,
}

async fn read(table: &HudiTable, after: Option<&str>, until: Option<&str>) -> Vec<Got> {
    let plan = table.plan(after, until).await.unwrap();
    let batches: Vec<_> = table
        .read_changes(
            &plan,
            &ReadOptions {
                columns: None,
                batch_size: 97,
            },
        )
        .try_collect()
        .await
        .unwrap();
    let mut out = Vec::new();
    for b in &batches {
        for mut row in hudi_pg_sync::json::batch_to_rows(b).unwrap() {
            let op = row.remove("_op").unwrap().as_str().unwrap().to_string();
            out.push(Got { op, row });
        }
    }
    out
}

/// Expected (upserts id -> version, deletes id -> deleting version) of the commits
/// `first..=last` (indexes into the manifest's commits).
fn expected(m: &Manifest, first: usize, last: usize) -> (BTreeMap<i64, u16>, BTreeMap<i64, u16>) {
    let mut state: BTreeMap<i64, u16> = BTreeMap::new();
    let mut deleted: BTreeMap<i64, u16> = BTreeMap::new();
    for (i, c) in m.commits.iter().enumerate().take(last + 1) {
        for [a, b] in &c.inserted {
            for id in *a..*b {
                state.insert(id, c.version);
            }
        }
        for id in &c.updated {
            state.insert(*id, c.version);
        }
        for id in &c.deleted {
            state.remove(id);
            if i >= first {
                deleted.insert(*id, c.version);
            }
        }
    }
    let in_window: Vec<u16> = m.commits[first..=last].iter().map(|c| c.version).collect();
    let upserts: BTreeMap<i64, u16> = state
        .iter()
        .filter(|(_, v)| in_window.contains(v))
        .map(|(k, v)| (*k, *v))
        .collect();
    deleted.retain(|id, _| !state.contains_key(id));
    (upserts, deleted)
}

fn check_window(
    m: &Manifest,
    label: &str,
    got: &[Got],
    (upserts, deletes): (BTreeMap<i64, u16>, BTreeMap<i64, u16>),
) -> (usize, usize) {
    let version_of: BTreeMap<&str, u16> = m
        .commits
        .iter()
        .map(|c| (c.instant.as_str(), c.version))
        .collect();
    let rows = m.row_gen();
    let mut got_upserts: BTreeMap<i64, u16> = BTreeMap::new();
    let mut got_deletes: BTreeMap<i64, u16> = BTreeMap::new();
    for g in got {
        let id = g.row["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("{label}: {:?}", g.row));
        let ct = g.row["_hoodie_commit_time"].as_str().unwrap();
        let version = *version_of
            .get(ct)
            .unwrap_or_else(|| panic!("{label}: commit time {ct} is no commit"));
        let key = hps_gen::rows::RowGen::key_of(id).unwrap();
        let partition = &m.table.partition_paths[rows.partition_of(key) as usize];
        assert_eq!(
            g.row["_hoodie_partition_path"].as_str(),
            Some(partition.as_str()),
            "{label}: id {id}"
        );
        assert_eq!(
            g.row["_hoodie_record_key"].as_str(),
            Some(id.to_string().as_str()),
            "{label}"
        );
        match g.op.as_str() {
            "upsert" => {
                assert!(
                    got_upserts.insert(id, version).is_none(),
                    "{label}: {id} twice"
                );
                let want = rows.row(key, version).to_json(&m.table.partition_values);
                for col in [
                    "ts",
                    "revision",
                    "customer_id",
                    "quantity",
                    "price",
                    "customer_name",
                    "is_active",
                    "region",
                    "amount",
                ] {
                    assert_eq!(
                        g.row.get(col),
                        want.get(col),
                        "{label}: id {id} column {col}"
                    );
                }
            }
            "delete" => {
                assert!(
                    got_deletes.insert(id, version).is_none(),
                    "{label}: {id} deleted twice"
                );
                // the delete's ordering value: ts of the deleting commit
                assert_eq!(
                    g.row["ts"].as_i64(),
                    Some(rows.ts_of(version)),
                    "{label}: ordering value of the delete of {id}"
                );
                assert!(g.row["customer_id"].is_null() && g.row["revision"].is_null());
            }
            other => panic!("{label}: _op {other}"),
        }
    }
    assert_eq!(got_upserts, upserts, "{label}: upserts (id -> version)");
    assert_eq!(got_deletes, deletes, "{label}: deletes (id -> version)");
    (upserts.len(), deletes.len())
}

async fn run(version: TableVersion) {
    let dir = tempfile::tempdir().unwrap();
    let report = hps_gen::generate_local(dir.path(), &config(version))
        .await
        .unwrap();
    let m = report.manifest;
    assert!(m.commits.iter().any(|c| c.operation == "COMPACT"));
    let store: DynStore = Arc::new(LocalStore::new(dir.path()));
    let table = HudiTable::open(store.clone()).await.unwrap();

    let bound = |i: usize| m.commits[i].window_bound().to_string();
    let last = m.commits.len() - 1;
    let mut windows: Vec<(Option<String>, Option<String>, usize, usize)> = Vec::new();
    for i in 0..=last {
        let after = (i > 0).then(|| bound(i - 1));
        windows.push((after, Some(bound(i)), i, i));
    }
    windows.push((None, None, 0, last));
    for i in 1..last {
        windows.push((Some(bound(i - 1)), None, i, last));
    }
    let (mut ups, mut dels, mut spanning) = (0, 0, 0);
    for (after, until, first, to) in &windows {
        let label = format!(
            "v{} ({}, {}]",
            version.number(),
            after.as_deref().unwrap_or("beginning"),
            until.as_deref().unwrap_or("latest")
        );
        let got = read(&table, after.as_deref(), until.as_deref()).await;
        let (u, d) = check_window(&m, &label, &got, expected(&m, *first, *to));
        ups += u;
        dels += d;
        if m.commits[*first..=*to]
            .iter()
            .any(|c| c.operation == "COMPACT")
            && m.commits[*first..*to].iter().any(|c| !c.deleted.is_empty())
        {
            spanning += 1;
        }
    }
    eprintln!(
        "v{}: {} windows, {ups} upserts, {dels} deletes, {spanning} windows spanning a compaction after a delete",
        version.number(),
        windows.len()
    );
    assert!(
        ups > 1000 && dels > 100,
        "checked {ups} upserts, {dels} deletes"
    );
    assert!(
        spanning > 2,
        "{spanning} windows delete before a compaction inside them"
    );

    // the upserts of every window against the hudi oracle
    let s = check_fixture(
        &format!("hps-gen MOR v{}", version.number()),
        Expect::Mor,
        dir.path(),
        store,
    )
    .await;
    assert!(s.merged_windows > 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_v9_mor_matches_the_manifest() {
    run(TableVersion::V9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_v6_mor_matches_the_manifest() {
    run(TableVersion::V6).await;
}
