//! `on_bad_row` through the whole pipeline, on a generated Hudi table whose some row versions
//! carry values PostgreSQL cannot hold (`GenConfig::bad_values_every`: a NUL in
//! `description`, an `amount` beyond decimal(18,4), a `created_at` before 4713 BC, an
//! `order_date` after 5874897 AD). With `quarantine` the other rows of every load commit, the
//! fence reaches the latest instant, each bad version is in the quarantine with its column
//! and reason and is absent from staging; a retry after the operator widens `amount` applies
//! those rows under the version guard. With `stop` the first load fails naming the column and
//! the fence does not move.

mod sync_common;

use std::collections::{BTreeMap, BTreeSet};

use hps_gen::rows::{BadValue, RowGen, bad_value};
use hps_gen::{GenConfig, TableType, TableVersion};
use hps_postgres::BadRowPolicy;
use hps_sync::{PassMode, TableSource, TargetOverrides};
use sync_common::*;

const EVERY: u32 = 17;

fn cfg() -> GenConfig {
    GenConfig {
        table_name: "bad".into(),
        table_type: TableType::CopyOnWrite,
        table_version: TableVersion::V9,
        partitions: 2,
        rows: 200,
        commits: 3,
        update_fraction: 0.3,
        insert_fraction: 0.1,
        delete_fraction: 0.05,
        rows_per_file_group: 100,
        row_group_rows: 64,
        threads: 1,
        bad_values_every: Some(EVERY),
        ..Default::default()
    }
}

fn with_policy(src: TableSource, schema: &str, p: BadRowPolicy) -> TableSource {
    let t = src.target.clone();
    src.with_target(TargetOverrides {
        schema: Some(schema.into()),
        on_bad_row: Some(p),
        ..t
    })
}

fn column_of(b: BadValue) -> &'static str {
    match b {
        BadValue::Nul => "description",
        BadValue::WideDecimal => "amount",
        BadValue::AncientTimestamp => "created_at",
        BadValue::FarDate => "order_date",
    }
}

/// Staging as id → revision.
async fn revisions(url: &str, src: &TableSource) -> BTreeMap<i64, i64> {
    let spec = target_of(src).await;
    let c = client(url).await;
    staging_rows(&c, &spec)
        .await
        .iter()
        .map(|r| {
            let n = |k: &str| -> i64 { r[k].as_deref().unwrap().parse().unwrap() };
            (n("id"), n("revision"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_quarantined_the_rest_commits_and_retry_applies_them() {
    init_tracing();
    let pg = pg();
    let url = fresh_db(&pg);
    let table = gen_table(&cfg()).await;
    let m = &table.manifest;
    let stores = Stores::new(StoreKind::File).await;
    let pipe = pipeline("bad", &stores, &url, test_options());

    // stop: the first load fails with the column named, and the fence does not move
    let stop = with_policy(
        source("stop", &table.path, "stopped"),
        "stopped",
        BadRowPolicy::Stop,
    );
    let e = pipe
        .run_pass(&stop, None, PassMode::ToLatest)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        ["description", "amount", "created_at", "order_date"]
            .iter()
            .any(|c| e.contains(&format!("column \"{c}\""))),
        "{e}"
    );
    assert!(
        m.commits
            .iter()
            .any(|c| e.contains(&format!("instant {}, file ", c.instant))),
        "the instant is named: {e}"
    );
    assert!(e.contains(".parquet)"), "the file is named: {e}");
    let st = pipe.status(&stop).await.unwrap();
    assert!(
        st.fence
            .as_ref()
            .is_none_or(|f| f.position.is_none() && f.rows_applied == 0),
        "{:?}",
        st.fence
    );
    assert_eq!(st.quarantined, None);

    // quarantine: every load commits, the fence reaches the latest instant
    let q = with_policy(
        source("quarantine", &table.path, "quarantined"),
        "quarantined",
        BadRowPolicy::Quarantine,
    );
    run_until_up_to_date(&pipe, &q, PassMode::ToLatest).await;
    let st = pipe.status(&q).await.unwrap();
    let last = m.commits.last().unwrap();
    let pos = st.fence.as_ref().and_then(|f| f.position.clone()).unwrap();
    assert_eq!(pos.requested_time, last.instant);
    assert_eq!(st.instants_behind, 0);

    // each live key: its final version in staging, unless that version is bad
    let staged = revisions(&url, &q).await;
    let (_, listed) = pipe.quarantine_list(&q).await.unwrap();
    assert_eq!(st.quarantined, Some(listed.len() as u64));
    let in_quarantine: BTreeSet<(i64, String)> = listed
        .iter()
        .map(|r| {
            (
                r.record_key.as_deref().unwrap().parse().unwrap(),
                r.instant.clone().unwrap(),
            )
        })
        .collect();
    let mut bad_final = 0;
    for (id, v) in m.expected_state() {
        let key = RowGen::key_of(id).unwrap();
        let instant = m.commits[usize::from(v)].instant.clone();
        match bad_value(Some(EVERY), key, v) {
            Some(b) => {
                bad_final += 1;
                assert_ne!(
                    staged.get(&id),
                    Some(&i64::from(v)),
                    "bad version of {id} applied"
                );
                let r = listed
                    .iter()
                    .find(|r| {
                        r.record_key.as_deref() == Some(&id.to_string())
                            && r.instant.as_deref() == Some(instant.as_str())
                    })
                    .unwrap_or_else(|| panic!("{id}@{v} ({b:?}) not quarantined"));
                assert_eq!(r.column, column_of(b), "{r:?}");
                assert!(
                    r.file.as_deref().is_some_and(|f| f.ends_with(".parquet")),
                    "{r:?}"
                );
            }
            None => assert_eq!(staged.get(&id), Some(&i64::from(v)), "{id}@{v}"),
        }
    }
    assert!(
        bad_final >= 4,
        "the workload has too few bad final rows: {bad_final}"
    );
    let kinds: BTreeSet<&str> = listed.iter().map(|r| r.column.as_str()).collect();
    assert_eq!(
        kinds,
        ["amount", "created_at", "description", "order_date"].into()
    );
    // every quarantined row is a distinct (key, instant)
    assert_eq!(in_quarantine.len(), listed.len());

    // a new table whose landing is dropped after apply loads its first window through the
    // bulk bootstrap (a shadow table swapped in): it quarantines the same rows
    let bulk = with_policy(
        source_bulk("bulk", &table.path, "bulk"),
        "bulk",
        BadRowPolicy::Quarantine,
    );
    let outs = run_until_up_to_date(&pipe, &bulk, PassMode::ToLatest).await;
    assert!(
        outs.iter().any(|o| matches!(o, hps_sync::PassOutcome::Applied(r) | hps_sync::PassOutcome::MoreToDo(r) if r.quarantined > 0)),
        "{outs:?}"
    );
    assert_eq!(revisions(&url, &bulk).await, staged);
    let (_, bulk_listed) = pipe.quarantine_list(&bulk).await.unwrap();
    let bulk_keys: BTreeSet<(i64, String)> = bulk_listed
        .iter()
        .map(|r| {
            (
                r.record_key.as_deref().unwrap().parse().unwrap(),
                r.instant.clone().unwrap(),
            )
        })
        .collect();
    // the snapshot holds final versions only: its bad rows are the final bad versions
    assert_eq!(bulk_keys.len(), bad_final);
    assert!(bulk_keys.is_subset(&in_quarantine));

    // the operator widens amount; a retry applies those rows (the newest version wins)
    let c = client(&url).await;
    c.batch_execute("ALTER TABLE quarantined.bad ALTER COLUMN amount TYPE numeric(30,4)")
        .await
        .unwrap();
    let wide = listed.iter().filter(|r| r.column == "amount").count() as u64;
    let out = pipe.quarantine_retry(&q).await.unwrap();
    assert!(out.failed.is_empty(), "{out:?}");
    assert_eq!(out.applied + out.superseded, wide, "{out:?}");
    assert_eq!(out.still_bad, listed.len() as u64 - wide, "{out:?}");
    let (_, left) = pipe.quarantine_list(&q).await.unwrap();
    assert!(
        left.iter().all(|r| r.column != "amount" && r.retries == 1),
        "{left:?}"
    );
    let staged = revisions(&url, &q).await;
    for (id, v) in m.expected_state() {
        let key = RowGen::key_of(id).unwrap();
        match bad_value(Some(EVERY), key, v) {
            Some(BadValue::WideDecimal) | None => {
                assert_eq!(staged.get(&id), Some(&i64::from(v)), "{id}@{v} after retry")
            }
            Some(_) => assert_ne!(staged.get(&id), Some(&i64::from(v))),
        }
    }
    // the sync goes on with the widened column
    run_until_up_to_date(&pipe, &q, PassMode::ToLatest).await;
}
