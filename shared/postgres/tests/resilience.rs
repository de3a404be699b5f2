//! Failures: a connection killed mid-COPY leaves staging unchanged and a retry completes; a
//! broken idle connection is replaced; a lock timeout is transient and retried; two appliers
//! on one table serialize correctly.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arrow_array::RecordBatch;
use common::*;
use futures::{Stream, StreamExt};
use hps_postgres::{ApplyOptions, TableKind};
use hps_testkit::postgres::PgCluster;

async fn superuser_on(port: u16) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=app"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

/// Terminate the `app` backend that is inside a COPY (waits until one is).
async fn kill_copy_backend(port: u16) {
    let c = superuser_on(port).await;
    for _ in 0..200 {
        let n: i64 = c
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE usename = 'app' AND state = 'active' AND query LIKE 'COPY%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no backend in COPY found");
}

/// Yields `batches`; before batch `kill_before` it kills the backend running the COPY.
fn killing_stream(
    port: u16,
    batches: Vec<RecordBatch>,
    kill_before: Option<usize>,
) -> impl Stream<Item = Result<RecordBatch, std::io::Error>> + Send {
    futures::stream::iter(batches.into_iter().enumerate()).then(move |(i, b)| async move {
        if Some(i) == kill_before {
            kill_copy_backend(port).await;
        }
        Ok(b)
    })
}

fn load(commit: &str, ids: std::ops::Range<i64>) -> Vec<RecordBatch> {
    let rows: Vec<Row> = ids
        .map(|i| up(commit, 0, i as u64, i, i, &format!("n{i}")))
        .collect();
    rows.chunks(1000).map(batch).collect()
}

async fn partitions(port: u16, landing: &str) -> i64 {
    let c = superuser_on(port).await;
    c.query_one(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass($1)",
        &[&landing],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn killed_mid_copy_leaves_staging_unchanged_and_retry_completes() {
    let pg = PgCluster::start();
    let mut a = applier(&pg).with_options(ApplyOptions {
        copy_chunk_bytes: 8192,
        ..Default::default()
    });
    let spec = spec("res");
    apply(
        &mut a,
        &spec,
        "L0",
        &[
            up("20240101000000000", 0, 1, 1, 1, "old"),
            up("20240101000000000", 0, 2, 9999, 1, "keep"),
        ],
    )
    .await
    .unwrap();
    let before = a.read_staging(&spec).await.unwrap();

    // one attempt: the COPY dies after the first 1000 rows were sent
    let batches = load("20240102000000000", 0..3000);
    let e = a
        .apply(
            &spec,
            "L1",
            &schema(),
            killing_stream(pg.port, batches.clone(), Some(1)),
            None,
        )
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert_eq!(
        a.read_staging(&spec).await.unwrap(),
        before,
        "staging unchanged"
    );
    assert_eq!(
        partitions(pg.port, "hudi.res__landing").await,
        0,
        "no landing partition left"
    );
    {
        let c = superuser_on(pg.port).await;
        let n: i64 = c
            .query_one("SELECT count(*) FROM hudi.hudi_sync_landing_loads", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "no registry row left");
    }

    // with retries: the first attempt is killed again, the second completes
    let attempts = Arc::new(AtomicUsize::new(0));
    let port = pg.port;
    let at = attempts.clone();
    let s = a
        .apply_with_retry(
            &spec,
            "L1",
            &schema(),
            move || {
                let n = at.fetch_add(1, Ordering::SeqCst);
                killing_stream(port, batches.clone(), (n == 0).then_some(2))
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!((s.attempts, s.rows, s.keys), (2, 3000, 3000), "{s:?}");
    let vw = view(&mut a, &spec).await;
    assert_eq!(vw.len(), 3001);
    assert_eq!(vw[&1], v("20240102000000000", Some(1), Some("n1"), None));
    assert_eq!(
        vw[&9999],
        v("20240101000000000", Some(1), Some("keep"), None)
    );
    assert_eq!(partitions(pg.port, "hudi.res__landing").await, 0);

    // an idle connection killed between applies is replaced transparently
    {
        let c = superuser_on(pg.port).await;
        let n: i64 = c
            .query_one("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'app'", &[])
            .await
            .unwrap()
            .get(0);
        assert!(n >= 1);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!a.connection().is_connected());
    apply(
        &mut a,
        &spec,
        "L2",
        &[up("20240103000000000", 0, 1, 1, 2, "after-kill")],
    )
    .await
    .unwrap();
    assert_eq!(
        view(&mut a, &spec).await[&1].2.as_deref(),
        Some("after-kill")
    );
}

#[tokio::test]
async fn lock_timeout_is_transient_and_retried() {
    let pg = PgCluster::start();
    let mut a = applier(&pg).with_options(ApplyOptions {
        lock_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    let spec = spec("locked");
    apply(
        &mut a,
        &spec,
        "L0",
        &[up("20240101000000000", 0, 1, 1, 1, "a")],
    )
    .await
    .unwrap();

    let holder = superuser_on(pg.port).await;
    holder
        .batch_execute("BEGIN; LOCK TABLE hudi.locked IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let e = apply(
        &mut a,
        &spec,
        "L1",
        &[up("20240102000000000", 0, 1, 1, 2, "b")],
    )
    .await
    .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert_eq!(e.sqlstate(), Some("55P03"), "{e}");

    // release the lock while the retrying apply backs off
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        holder.batch_execute("COMMIT").await.unwrap();
        holder
    });
    let s = a
        .apply_with_retry(
            &spec,
            "L1",
            &schema(),
            || stream(vec![batch(&[up("20240102000000000", 0, 1, 1, 2, "b")])]),
            None,
        )
        .await
        .unwrap();
    assert!(s.attempts >= 2, "{s:?}");
    let _ = release.await.unwrap();
    assert_eq!(view(&mut a, &spec).await[&1].2.as_deref(), Some("b"));
    assert!(
        a.read_table(&spec, TableKind::Landing)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn concurrent_appliers_on_one_table() {
    let pg = PgCluster::start();
    let spec = spec("conc");
    let mut a1 = applier(&pg);
    let a2 = applier(&pg);
    // create the tables first (concurrent first-time DDL is serialized by an advisory lock,
    // but the loser of a CREATE race would see a transient error and retry)
    apply(
        &mut a1,
        &spec,
        "init",
        &[up("20240101000000000", 0, 0, 0, 0, "init")],
    )
    .await
    .unwrap();
    let commits1: Vec<String> = (1..=5).map(|i| format!("2024010{i}000000000")).collect();
    let commits2: Vec<String> = (1..=5).map(|i| format!("2024010{i}120000000")).collect();
    let run = |mut a: hps_postgres::Applier, commits: Vec<String>, tag: &'static str| {
        let spec = spec.clone();
        async move {
            for (k, c) in commits.iter().enumerate() {
                let rows: Vec<Row> = (0..500)
                    .map(|i| up(c, 0, i as u64, i, k as i64, &format!("{tag}-{c}")))
                    .collect();
                a.apply_with_retry(
                    &spec,
                    &format!("{tag}{k}"),
                    &schema(),
                    || stream(vec![batch(&rows)]),
                    None,
                )
                .await
                .unwrap();
            }
            a
        }
    };
    let (mut a1, _a2) = tokio::join!(run(a1, commits1, "A"), run(a2, commits2.clone(), "B"));
    let vw = view(&mut a1, &spec).await;
    assert_eq!(vw.len(), 500);
    let newest = commits2.last().unwrap();
    assert!(
        vw.values()
            .all(|r| &r.0 == newest && r.2.as_deref() == Some(&format!("B-{newest}"))),
        "{vw:?}"
    );
}
