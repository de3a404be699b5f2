//! The crash matrix: a failure injected after each step of a pass (after plan, mid-COPY,
//! after COPY, after the upsert before COMMIT, after COMMIT before the bookmark write, after
//! the bookmark write), then a rerun by a new loader. Every case must converge to staging ==
//! the table's snapshot (the `hudi` PyPI reader), with no change row landed twice, the same
//! landing history as an uninterrupted run, and bookmark versions strictly increasing.
//!
//! Every case also runs `after_apply` statements that maintain downstream tables (a running
//! total, a per-load log, a copy of staging's keys): after the rerun they must equal what a
//! recomputation from staging and the landing history gives, so the statements took effect
//! exactly once per committed load, whatever point the failure hit.
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
    let spec = target_of(&src).await;
    let src = src.with_after_apply(downstream_statements(url, &spec).await);
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
    assert_downstream_consistent(url, &spec, st.fence.map(|f| f.rows_applied), &case).await;
}

/// Create the downstream tables in the target schema; the statements that maintain them.
async fn downstream_statements(url: &str, spec: &hps_postgres::TargetTable) -> Vec<String> {
    let schema = hps_postgres::quote_ident(&spec.schema);
    let staging = format!("{schema}.{}", hps_postgres::quote_ident(&spec.staging));
    let c = client(url).await;
    c.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE {schema}.ds_total (rows bigint NOT NULL, loads bigint NOT NULL);
         INSERT INTO {schema}.ds_total VALUES (0, 0);
         CREATE TABLE {schema}.ds_log (load_id text PRIMARY KEY, window_from text,
             window_to text NOT NULL, rows bigint NOT NULL, changed bigint NOT NULL);
         CREATE TABLE {schema}.ds_keys (record_key text, partition_path text, load_id text NOT NULL,
             PRIMARY KEY (record_key, partition_path));"
    ))
    .await
    .expect("downstream tables");
    vec![
        // not idempotent: a second run of a load would count it twice
        format!("UPDATE {schema}.ds_total SET rows = rows + $4, loads = loads + 1"),
        format!("INSERT INTO {schema}.ds_log VALUES ($1, $2, $3, $4, $5 + $6 + $7)"),
        format!(
            "DELETE FROM {schema}.ds_keys d WHERE NOT EXISTS (SELECT 1 FROM {staging} s \
             WHERE s._hoodie_record_key = d.record_key AND s._hoodie_partition_path = d.partition_path)"
        ),
        format!(
            "INSERT INTO {schema}.ds_keys SELECT _hoodie_record_key, _hoodie_partition_path, _hps_load_id \
             FROM {staging} WHERE _hps_load_id = $1 \
             ON CONFLICT (record_key, partition_path) DO UPDATE SET load_id = EXCLUDED.load_id"
        ),
    ]
}

/// The downstream tables equal their recomputation: keys and load ids from staging, the
/// per-load rows from the landing history, the total from the fence.
async fn assert_downstream_consistent(
    url: &str,
    spec: &hps_postgres::TargetTable,
    fence_rows: Option<u64>,
    case: &str,
) {
    let schema = hps_postgres::quote_ident(&spec.schema);
    let staging = format!("{schema}.{}", hps_postgres::quote_ident(&spec.staging));
    let landing = format!("{schema}.{}", hps_postgres::quote_ident(&spec.landing));
    let c = client(url).await;
    let (rows, loads): (i64, i64) = {
        let r = c
            .query_one(&format!("SELECT rows, loads FROM {schema}.ds_total"), &[])
            .await
            .expect("ds_total");
        (r.get(0), r.get(1))
    };
    let fence_rows = fence_rows.expect("fence") as i64;
    assert_eq!(
        rows, fence_rows,
        "{case}: after_apply total differs from the fence's rows"
    );
    let set = |q: String| {
        let c = &c;
        async move {
            c.query(&q, &[])
                .await
                .unwrap_or_else(|e| panic!("{q}: {e}"))
                .iter()
                .map(|r| {
                    (
                        r.get::<_, String>(0),
                        r.get::<_, String>(1),
                        r.get::<_, String>(2),
                    )
                })
                .collect::<std::collections::BTreeSet<_>>()
        }
    };
    let keys = set(format!(
        "SELECT record_key, partition_path, load_id FROM {schema}.ds_keys"
    ))
    .await;
    let want = set(format!(
        "SELECT _hoodie_record_key, _hoodie_partition_path, _hps_load_id FROM {staging}"
    ))
    .await;
    assert_eq!(keys, want, "{case}: ds_keys differs from staging");
    let log = set(format!(
        "SELECT load_id, rows::text, coalesce(window_from, '-') FROM {schema}.ds_log"
    ))
    .await;
    let per_load = set(format!(
        "SELECT _hps_load_id, count(*)::text, '' FROM {landing} GROUP BY 1"
    ))
    .await;
    let strip = |s: &std::collections::BTreeSet<(String, String, String)>| {
        s.iter()
            .map(|(a, b, _)| (a.clone(), b.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        strip(&log),
        strip(&per_load),
        "{case}: ds_log differs from the landing history"
    );
    assert_eq!(loads, log.len() as i64, "{case}");
    // the loads of the table's first window have no start position, every later one has
    let first = log.iter().filter(|(_, _, from)| from == "-").count();
    assert!(first >= 1 && first < log.len(), "{case}: {log:?}");
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
