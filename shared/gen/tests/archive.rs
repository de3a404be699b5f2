//! Long-lived generated tables: archival (layout 1 on table version 6, layout 2 on 9) and
//! cleaning, read back by the project's archive reader and snapshot planner.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use futures::TryStreamExt;
use hps_gen::{ArchivalConfig, GenConfig, Manifest, TableType, TableVersion, generate_local};
use hps_hudi::{Action, HudiTable, OP_COLUMN, OP_UPSERT, ReadOptions, load_archived};
use hps_storage::{DynStore, LocalStore};

fn cfg(tt: TableType, v: TableVersion, clean: Option<u32>) -> GenConfig {
    GenConfig {
        table_name: "gen_archive".into(),
        table_type: tt,
        table_version: v,
        partitions: 2,
        rows: 400,
        commits: 59,
        update_fraction: 0.05,
        insert_fraction: 0.03,
        delete_fraction: 0.01,
        rows_per_file_group: 100,
        row_group_rows: 64,
        seed: 7,
        threads: 2,
        compact_every: if tt == TableType::MergeOnRead { 5 } else { 0 },
        archive: Some(ArchivalConfig {
            keep_min: 5,
            keep_max: 8,
        }),
        clean_retain_commits: clean,
        ..GenConfig::default()
    }
}

/// (id → revision) of the live rows a snapshot read returns.
async fn snapshot_state(table: &HudiTable) -> BTreeMap<i64, u16> {
    let plan = table.plan_snapshot(None).await.expect("snapshot plan");
    let mut stream = table.read_changes(
        &plan,
        &ReadOptions {
            columns: None,
            batch_size: 1024,
        },
    );
    let mut out = BTreeMap::new();
    while let Some(b) = stream.try_next().await.expect("read") {
        let op = b.column_by_name(OP_COLUMN).unwrap().as_string::<i32>();
        let id = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        let rev = b
            .column_by_name("revision")
            .unwrap()
            .as_primitive::<Int32Type>();
        for i in 0..b.num_rows() {
            if op.value(i) == OP_UPSERT {
                let prev = out.insert(id.value(i), u16::try_from(rev.value(i)).unwrap());
                assert!(prev.is_none(), "id {} twice", id.value(i));
            }
        }
    }
    out
}

async fn check(tt: TableType, v: TableVersion, clean: Option<u32>) -> Manifest {
    let label = format!("{tt:?} {v:?} clean {clean:?}");
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(tt, v, clean);
    let report = generate_local(dir.path(), &c).await.unwrap();
    let m = report.manifest;
    let store: DynStore = Arc::new(LocalStore::new(dir.path()));
    let table = HudiTable::open(store.clone()).await.expect("open");

    // the archive holds exactly the archived instants
    let archived = load_archived(&store, table.config(), "gen", None)
        .await
        .expect("archive");
    let expected = m.archived_instants();
    assert!(
        expected.len() > 40,
        "{label}: only {} archived",
        expected.len()
    );
    let got: Vec<String> = archived
        .instants
        .iter()
        .map(|i| i.requested_time.clone())
        .collect();
    assert_eq!(got, expected, "{label}: archived instants");
    let by_instant: BTreeMap<&str, _> = m.commits.iter().map(|r| (r.instant.as_str(), r)).collect();
    for a in &archived.instants {
        let Some(r) = by_instant.get(a.requested_time.as_str()) else {
            assert_eq!(a.action, Action::Clean, "{label}: {}", a.requested_time);
            continue;
        };
        assert_eq!(a.action.as_str(), r.action, "{label}: {}", r.instant);
        if v == TableVersion::V9 {
            assert_eq!(a.completion_time, r.completion, "{label}: {}", r.instant);
        } else {
            assert!(a.completion_time.as_deref() > Some(r.instant.as_str()));
        }
        let md = a.metadata.as_ref().expect("commit metadata");
        let paths: BTreeSet<String> = md
            .partition_to_write_stats
            .values()
            .flatten()
            .filter_map(|s| s.path.clone())
            .collect();
        let files: BTreeSet<String> = r.files.iter().cloned().collect();
        assert_eq!(paths, files, "{label}: write stats of {}", r.instant);
    }

    // the active timeline keeps between keep_min and keep_max commits, none archived
    let timeline = table.timeline().await.expect("timeline");
    let commits = timeline
        .completed
        .iter()
        .filter(|i| i.action.is_write())
        .count();
    assert!(
        (5..=8).contains(&commits),
        "{label}: {commits} active commits"
    );
    for i in &timeline.completed {
        assert!(
            !expected.contains(&i.requested_time),
            "{label}: {} both",
            i.requested_time
        );
    }

    // cleaned files are gone
    for r in &m.commits {
        for f in &r.cleaned {
            assert!(!dir.path().join(f).exists(), "{label}: {f} not cleaned");
        }
    }

    // a snapshot read returns exactly the live rows
    let state = snapshot_state(&table).await;
    assert_eq!(state.len() as u64, m.final_live_rows, "{label}");
    assert_eq!(state, m.expected_state(), "{label}: snapshot");
    m
}

/// Cleaning after every commit: old slices are deleted, the clean instants are archived with
/// the commits, and the snapshot still equals the manifest.
async fn check_cleaned(tt: TableType, v: TableVersion) {
    let m = check(tt, v, Some(3)).await;
    let cleaned = m.cleaned_files();
    assert!(
        cleaned.len() > 10,
        "{tt:?} {v:?}: {} cleaned",
        cleaned.len()
    );
    let cleans: Vec<&String> = m
        .commits
        .iter()
        .filter_map(|c| c.clean_instant.as_ref())
        .collect();
    assert!(!cleans.is_empty());
    let archived = m.archived_instants();
    assert!(
        cleans.iter().any(|c| archived.contains(c)),
        "no clean archived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cow_v9_cleaned() {
    check_cleaned(TableType::CopyOnWrite, TableVersion::V9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mor_v9_cleaned() {
    check_cleaned(TableType::MergeOnRead, TableVersion::V9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cow_v6_cleaned() {
    check_cleaned(TableType::CopyOnWrite, TableVersion::V6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mor_v6_cleaned() {
    check_cleaned(TableType::MergeOnRead, TableVersion::V6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cow_v9_archives_to_the_lsm_history() {
    check(TableType::CopyOnWrite, TableVersion::V9, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mor_v9_archives_to_the_lsm_history() {
    check(TableType::MergeOnRead, TableVersion::V9, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cow_v6_archives_to_log_files() {
    check(TableType::CopyOnWrite, TableVersion::V6, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mor_v6_archives_to_log_files() {
    check(TableType::MergeOnRead, TableVersion::V6, None).await;
}

/// The independent `hudi` PyPI reader (`tests/oracle/snapshot.py`, which ignores archives)
/// reads the same live rows from archived and cleaned tables.
#[test]
fn oracle_snapshot_of_archived_cleaned_tables() {
    for (tt, v) in [
        (TableType::MergeOnRead, TableVersion::V9),
        (TableType::CopyOnWrite, TableVersion::V6),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let m = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(generate_local(dir.path(), &cfg(tt, v, Some(3))))
            .unwrap()
            .manifest;
        assert!(!m.archived_instants().is_empty() && !m.cleaned_files().is_empty());
        let path = dir.path().to_string_lossy().into_owned();
        let oracle = hps_testkit::python::run_oracle("snapshot.py", &[&path]);
        let rows = oracle["rows"].as_array().expect("rows");
        let got: BTreeMap<i64, u16> = rows
            .iter()
            .map(|r| {
                let id = r["id"].as_i64().unwrap();
                let rev = u16::try_from(r["revision"].as_i64().unwrap()).unwrap();
                (id, rev)
            })
            .collect();
        assert_eq!(got.len(), rows.len(), "{tt:?} {v:?}: duplicate ids");
        assert_eq!(got, m.expected_state(), "{tt:?} {v:?}: oracle snapshot");
    }
}
