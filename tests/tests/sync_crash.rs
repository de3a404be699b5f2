//! The crash matrix: a failure injected after each step of a pass (after plan, mid-COPY,
//! after COPY, after the upsert before COMMIT, after COMMIT before the bookmark write, after
//! the bookmark write), then a rerun by a new loader. Every case must converge to staging ==
//! the table's snapshot (the `hudi` PyPI reader), with no change row landed twice, the same
//! landing history as an uninterrupted run, and bookmark versions strictly increasing.
//!
//! Crashes are panics inside the pass (nothing after the point runs, the lease is not
//! released, the connection drops mid-transaction); failures are injected errors (the pass
//! returns, releasing its lease). Both bookmark stores run the matrix: the local file store
//! (copy-on-write table) and DynamoDB on moto (merge-on-read table); both tables have updates,
//! inserts and deletes.

mod sync_common;

use std::sync::Arc;
use std::time::Duration;

use hps_gen::{GenConfig, TableType, TableVersion};
use hps_sync::failpoint::{self, FailAction};
use hps_sync::{PassMode, PassOutcome, SyncPipeline};
use sync_common::*;

fn table_cfg(table_type: TableType) -> GenConfig {
    GenConfig {
        table_name: "crash".into(),
        table_type,
        table_version: TableVersion::V9,
        partitions: 3,
        rows: 600,
        commits: 3,
        update_fraction: 0.2,
        insert_fraction: 0.1,
        delete_fraction: 0.05,
        rows_per_file_group: 100,
        row_group_rows: 64,
        threads: 1,
        ..Default::default()
    }
}

fn options(lease_ttl: Duration) -> hps_sync::SyncOptions {
    let mut o = test_options();
    o.max_rows_per_txn = 150;
    o.lease_ttl = lease_ttl;
    o
}

/// Hits to let pass before firing, so that every point fires in the middle of the work.
fn skip_for(point: &str) -> u64 {
    match point {
        failpoint::AFTER_PLAN => 0,
        failpoint::MID_COPY => 4,
        _ => 1,
    }
}

/// The reference: the same windows without failures (first commit by a step, then the rest).
async fn reference(url: &str, stores: &Stores, table: &GenTable) -> i64 {
    let pipe = pipeline("ref", stores, url, options(Duration::from_secs(30)));
    let src = source("ref", &table.path, "reference");
    assert!(matches!(
        pipe.run_pass(&src, None, PassMode::Step).await.unwrap(),
        PassOutcome::Applied(_)
    ));
    assert!(matches!(
        pipe.run_pass(&src, None, PassMode::ToLatest).await.unwrap(),
        PassOutcome::Applied(_)
    ));
    assert_staging_matches(url, &src, &table.path).await;
    landing_rows(url, &target_of(&src).await).await
}

async fn crash_case(
    url: &str,
    kind: StoreKind,
    table: &GenTable,
    point: &str,
    action: FailAction,
    reference_rows: i64,
) {
    let case = format!("{kind:?}/{point}/{action:?}");
    let stores = Stores::new(kind).await;
    let rec = RecordingStore::new(stores.bookmarks.clone());
    let schema = unique("c").to_lowercase();
    let src = source("crash", &table.path, &schema);
    let mk = |ttl| {
        Arc::new(
            SyncPipeline::new(
                "crashes",
                rec.clone(),
                stores.leases.clone(),
                connector(url),
                options(ttl),
            )
            .unwrap(),
        )
    };

    // the first commit, cleanly
    let first = mk(Duration::from_secs(1));
    assert!(
        matches!(
            first.run_pass(&src, None, PassMode::Step).await.unwrap(),
            PassOutcome::Applied(_)
        ),
        "{case}"
    );

    // the failing pass over the rest
    let victim = mk(Duration::from_secs(1));
    victim.failpoints().arm(point, action, skip_for(point));
    let v = victim.clone();
    let s = src.clone();
    let joined = tokio::spawn(async move { v.run_pass(&s, None, PassMode::ToLatest).await }).await;
    assert_eq!(
        victim.failpoints().fired(point),
        1,
        "{case}: the point did not fire"
    );
    match action {
        FailAction::Panic => assert!(
            joined.as_ref().is_err_and(|e| e.is_panic()),
            "{case}: expected a crash, got {joined:?}"
        ),
        FailAction::Error => assert!(
            matches!(&joined, Ok(Err(hps_sync::SyncError::Injected { .. }))),
            "{case}: expected the injected error, got {joined:?}"
        ),
        FailAction::Wait => unreachable!(),
    }
    let st = victim.status(&src).await.unwrap();
    if point == failpoint::AFTER_COMMIT_BEFORE_BOOKMARK {
        assert!(
            !st.bookmark_in_sync,
            "{case}: the fence should be ahead of the bookmark: {st:?}"
        );
    }
    drop(victim);

    // a new loader converges (waiting out the crashed loader's lease)
    let rerun = mk(Duration::from_secs(5));
    let outs = run_until_settled(&rerun, &src, PassMode::ToLatest, || None).await;
    assert!(
        matches!(
            outs.last(),
            Some(PassOutcome::Applied(_) | PassOutcome::UpToDate { .. })
        ),
        "{case}: {outs:?}"
    );
    assert!(
        matches!(
            rerun
                .run_pass(&src, None, PassMode::ToLatest)
                .await
                .unwrap(),
            PassOutcome::UpToDate { .. }
        ),
        "{case}"
    );
    assert_staging_matches(url, &src, &table.path).await;
    let spec = target_of(&src).await;
    let dups = landing_duplicates(url, &spec).await;
    assert!(
        dups.is_empty(),
        "{case}: change rows landed twice: {dups:?}"
    );
    assert_eq!(
        landing_rows(url, &spec).await,
        reference_rows,
        "{case}: landing history differs from an uninterrupted run"
    );
    let st = rerun.status(&src).await.unwrap();
    assert!(st.bookmark_in_sync, "{case}: {st:?}");
    assert_eq!(st.state(), "up_to_date", "{case}");
    let b = st.bookmark.unwrap();
    assert_eq!(
        b.position,
        Some(commit_position(table.manifest.commits.last().unwrap())),
        "{case}"
    );
    assert!(
        b.cursor.is_none() && b.last_error.is_none(),
        "{case}: {b:?}"
    );
    rec.check_monotonic();
}

async fn matrix(kind: StoreKind, table_type: TableType, actions: &[FailAction]) {
    init_tracing();
    let pg = pg();
    let url = fresh_db(&pg);
    let table = gen_table(&table_cfg(table_type)).await;
    let ref_stores = Stores::new(StoreKind::File).await;
    let reference_rows = reference(&url, &ref_stores, &table).await;
    for action in actions {
        for point in failpoint::ALL {
            crash_case(&url, kind, &table, point, *action, reference_rows).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_matrix_file_store_cow() {
    matrix(
        StoreKind::File,
        TableType::CopyOnWrite,
        &[FailAction::Panic, FailAction::Error],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_matrix_dynamodb_mor() {
    matrix(
        StoreKind::Dynamo,
        TableType::MergeOnRead,
        &[FailAction::Panic],
    )
    .await;
}
