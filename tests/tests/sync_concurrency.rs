//! Two (or more) loaders on one table: the lease makes the second one back off; without a
//! lease the fence compare-and-set makes the overlap harmless. In every case the final staging
//! equals the table's snapshot, no change row lands twice, and bookmark versions strictly
//! increase.

mod sync_common;

use std::sync::Arc;
use std::time::Duration;

use hps_gen::{GenConfig, TableType, TableVersion};
use hps_sync::failpoint::{self, FailAction};
use hps_sync::lease::LeaseStore;
use hps_sync::{BusyReason, PassMode, PassOutcome, SyncOptions, SyncPipeline};
use sync_common::*;

fn table_cfg(name: &str) -> GenConfig {
    GenConfig {
        table_name: name.into(),
        table_type: TableType::CopyOnWrite,
        table_version: TableVersion::V9,
        partitions: 3,
        rows: 900,
        commits: 4,
        update_fraction: 0.2,
        insert_fraction: 0.1,
        delete_fraction: 0.05,
        rows_per_file_group: 100,
        row_group_rows: 64,
        threads: 1,
        ..Default::default()
    }
}

fn options() -> SyncOptions {
    let mut o = test_options();
    o.max_rows_per_txn = 100;
    o
}

/// The second loader finds the lease held and backs off; then both run to the end.
async fn lease_makes_the_second_loader_wait(kind: StoreKind) {
    init_tracing();
    let pg = pg();
    let url = fresh_db(&pg);
    let t = gen_table(&table_cfg("leased")).await;
    let stores = Stores::new(kind).await;
    let rec = RecordingStore::new(stores.bookmarks.clone());
    let src = source("leased", &t.path, "leased");
    let mk = || {
        Arc::new(
            SyncPipeline::new(
                "conc",
                rec.clone(),
                stores.leases.clone(),
                connector(&url),
                options(),
            )
            .unwrap(),
        )
    };
    let (a, b) = (mk(), mk());

    // A stops right after its first commit; B tries while A holds the lease
    a.failpoints()
        .arm(failpoint::AFTER_BOOKMARK, FailAction::Wait, 0);
    let (a2, s2) = (a.clone(), src.clone());
    let ta = tokio::spawn(async move { a2.run_pass(&s2, None, PassMode::ToLatest).await });
    a.failpoints().wait_reached(failpoint::AFTER_BOOKMARK).await;
    let ob = b.run_pass(&src, None, PassMode::ToLatest).await.unwrap();
    let PassOutcome::Busy(BusyReason::Lease { owner, .. }) = &ob else {
        panic!("expected Busy(Lease), got {ob:?}")
    };
    assert_eq!(owner, &a.options().owner);
    let lease = stores
        .leases
        .current("conc", "leased")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.owner, a.options().owner);
    a.failpoints().resume(failpoint::AFTER_BOOKMARK);
    let oa = ta.await.unwrap().unwrap();
    assert!(matches!(oa, PassOutcome::Applied(_)), "{oa:?}");

    // then both loop concurrently until settled
    let (a3, b3, s3, s4) = (a.clone(), b.clone(), src.clone(), src.clone());
    let ja = tokio::spawn(async move { run_until_up_to_date(&a3, &s3, PassMode::Step).await });
    let jb = tokio::spawn(async move { run_until_up_to_date(&b3, &s4, PassMode::Step).await });
    let (ra, rb) = (ja.await.unwrap(), jb.await.unwrap());
    assert!(
        matches!(ra.last(), Some(PassOutcome::UpToDate { .. })),
        "{ra:?}"
    );
    assert!(
        matches!(rb.last(), Some(PassOutcome::UpToDate { .. })),
        "{rb:?}"
    );
    assert_staging_matches(&url, &src, &t.path).await;
    assert!(
        landing_duplicates(&url, &target_of(&src).await)
            .await
            .is_empty()
    );
    rec.check_monotonic();
    assert!(rec.writes.lock().unwrap().len() > 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_file_store() {
    lease_makes_the_second_loader_wait(StoreKind::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_dynamodb() {
    lease_makes_the_second_loader_wait(StoreKind::Dynamo).await;
}

/// Without a lease: A plans, B applies everything, A's transaction loses the fence
/// compare-and-set and rolls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_lease_the_fence_rejects_the_stale_loader() {
    init_tracing();
    let pg = pg();
    let url = fresh_db(&pg);
    let t = gen_table(&table_cfg("fenced")).await;
    let stores = Stores::new(StoreKind::File).await;
    let rec = RecordingStore::new(stores.bookmarks.clone());
    let src = source("fenced", &t.path, "fenced");
    let nolease: Arc<dyn LeaseStore> = Arc::new(NoLease);
    let mk = || {
        Arc::new(
            SyncPipeline::new(
                "conc",
                rec.clone(),
                nolease.clone(),
                connector(&url),
                options(),
            )
            .unwrap(),
        )
    };
    let (a, b) = (mk(), mk());

    a.failpoints()
        .arm(failpoint::AFTER_PLAN, FailAction::Wait, 0);
    let (a2, s2) = (a.clone(), src.clone());
    let ta = tokio::spawn(async move { a2.run_pass(&s2, None, PassMode::ToLatest).await });
    a.failpoints().wait_reached(failpoint::AFTER_PLAN).await;
    let ob = b.run_pass(&src, None, PassMode::ToLatest).await.unwrap();
    assert!(matches!(ob, PassOutcome::Applied(_)), "{ob:?}");
    a.failpoints().resume(failpoint::AFTER_PLAN);
    let oa = ta.await.unwrap().unwrap();
    let PassOutcome::Busy(BusyReason::FenceMoved { expected, found }) = oa else {
        panic!("expected FenceMoved, got {oa:?}")
    };
    assert_eq!(expected, 0);
    assert!(found.unwrap() > expected);
    // nothing of A's transaction landed
    let spec = target_of(&src).await;
    assert!(landing_duplicates(&url, &spec).await.is_empty());
    assert!(matches!(
        a.run_pass(&src, None, PassMode::ToLatest).await.unwrap(),
        PassOutcome::UpToDate { .. }
    ));
    assert_staging_matches(&url, &src, &t.path).await;
    rec.check_monotonic();
}

/// Three loaders without a lease, free-running over small transactions and single steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_running_loaders_without_lease() {
    init_tracing();
    let pg = pg();
    let url = fresh_db(&pg);
    let t = gen_table(&table_cfg("racing")).await;
    let stores = Stores::new(StoreKind::File).await;
    let rec = RecordingStore::new(stores.bookmarks.clone());
    let src = source("racing", &t.path, "racing");
    let nolease: Arc<dyn LeaseStore> = Arc::new(NoLease);
    let mut handles = Vec::new();
    for i in 0..3 {
        let mut o = options();
        o.max_rows_per_txn = 40 + 30 * i;
        let p = Arc::new(
            SyncPipeline::new("conc", rec.clone(), nolease.clone(), connector(&url), o).unwrap(),
        );
        let s = src.clone();
        handles.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for _ in 0..500 {
                let o = p
                    .run_pass(
                        &s,
                        None,
                        if i == 0 {
                            PassMode::Step
                        } else {
                            PassMode::ToLatest
                        },
                    )
                    .await
                    .unwrap();
                let done = matches!(o, PassOutcome::UpToDate { .. });
                outcomes.push(o);
                if done {
                    return outcomes;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            panic!("loader {i} never settled")
        }));
    }
    let mut conflicts = 0;
    for h in handles {
        for o in h.await.unwrap() {
            if matches!(o, PassOutcome::Busy(BusyReason::FenceMoved { .. })) {
                conflicts += 1;
            }
        }
    }
    eprintln!("fence conflicts between the loaders: {conflicts}");
    assert_staging_matches(&url, &src, &t.path).await;
    assert!(
        landing_duplicates(&url, &target_of(&src).await)
            .await
            .is_empty(),
        "a change row landed twice"
    );
    rec.check_monotonic();
    let f = hps_sync::FenceTable::new("racing").unwrap();
    let c = client(&url).await;
    let fence = f.read(&c, "conc", "racing").await.unwrap().unwrap();
    assert_eq!(
        fence.position,
        Some(commit_position(t.manifest.commits.last().unwrap()))
    );
}
