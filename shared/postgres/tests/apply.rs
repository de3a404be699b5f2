//! The apply path against a real PostgreSQL: dedup, replays, out-of-order batches, versioned
//! deletes under both policies, the transaction hook, landing retention, chunked COPY.

mod common;

use std::time::Duration;

use common::*;
use futures::future::BoxFuture;
use hps_postgres::tokio_postgres::Transaction;
use hps_postgres::{
    ApplyOptions, ApplyStats, DeletePolicy, LandingRetention, PgError, TableKind, TargetTable,
    TxnHook,
};
use hps_testkit::postgres::PgCluster;

#[tokio::test]
async fn dedup_replay_and_out_of_order() {
    let pg = PgCluster::start();
    // both ways of loading the first batch into the empty table: straight into staging until
    // the first repeated key (then landing), and landing only
    for (policy, direct) in [
        (DeletePolicy::Hard, true),
        (DeletePolicy::Soft, true),
        (DeletePolicy::Hard, false),
        (DeletePolicy::Soft, false),
    ] {
        let mut a = applier(&pg).with_options(ApplyOptions {
            direct_load: direct,
            ..Default::default()
        });
        let spec = spec(&format!("dedup_{policy:?}_{direct}")).with_delete_policy(policy);
        let soft = (policy == DeletePolicy::Soft).then_some(false);

        let c1 = "20240101000000000";
        let batch1 = vec![
            up(c1, 0, 1, 1, 10, "a"),
            // seqno _1_9 vs _1_10: numeric order, _10 wins although "10" < "9" as text
            up(c1, 1, 10, 2, 10, "b-newer-seq"),
            up(c1, 1, 9, 2, 10, "b-older-seq"),
            // same commit and seqno: the ordering field decides
            up(c1, 2, 5, 3, 7, "c-higher-ts"),
            up(c1, 2, 5, 3, 6, "c-lower-ts"),
            // identical versions: the later row wins
            up(c1, 3, 1, 4, 1, "d-first"),
            up(c1, 3, 1, 4, 1, "d-second"),
        ];
        let s = apply(&mut a, &spec, "L1", &batch1)
            .await
            .expect("apply batch1");
        // direct: keys 1 and 2 go straight in; the repeated key 2 switches the rest to landing,
        // where b-older-seq loses to the direct row (counted per phase: 2 + 3 keys, 1 stale)
        let expected = if direct {
            (7, 5, 4, 0, 0, 1)
        } else {
            (7, 4, 4, 0, 0, 0)
        };
        assert_eq!(
            (s.rows, s.keys, s.inserted, s.updated, s.deleted, s.stale),
            expected,
            "{s:?}"
        );
        let expect1: View = [
            (1, v(c1, Some(10), Some("a"), soft)),
            (2, v(c1, Some(10), Some("b-newer-seq"), soft)),
            (3, v(c1, Some(7), Some("c-higher-ts"), soft)),
            (4, v(c1, Some(1), Some("d-second"), soft)),
        ]
        .into_iter()
        .collect();
        assert_eq!(view(&mut a, &spec).await, expect1);
        let full1 = a.read_staging(&spec).await.unwrap();
        assert_eq!(full1[0]["_hps_load_id"].as_deref(), Some("L1"));
        assert_eq!(
            full1[0]["_hoodie_commit_seqno"].as_deref(),
            Some("20240101000000000_0_1")
        );

        // replay of the same batch (new load id): nothing changes, not even the load id
        let s = apply(&mut a, &spec, "L1-replay", &batch1)
            .await
            .expect("replay");
        assert_eq!(
            (s.keys, s.inserted, s.updated, s.stale),
            (4, 0, 0, 4),
            "{s:?}"
        );
        assert_eq!(a.read_staging(&spec).await.unwrap(), full1);

        // a newer batch, then an older one arriving late
        let c3 = "20240103000000000";
        let c2 = "20240102000000000";
        let s = apply(&mut a, &spec, "L3", &[up(c3, 0, 1, 1, 1, "a3")])
            .await
            .unwrap();
        assert_eq!((s.updated, s.stale), (1, 0));
        let s = apply(
            &mut a,
            &spec,
            "L2",
            &[
                up(c2, 0, 1, 1, 99, "a2-late"),
                up(c2, 0, 2, 2, 0, "b2"),
                up(c2, 0, 3, 5, 0, "e2"),
            ],
        )
        .await
        .unwrap();
        assert_eq!(
            (s.keys, s.inserted, s.updated, s.stale),
            (3, 1, 1, 1),
            "{s:?}"
        );
        let mut expect2 = expect1.clone();
        expect2.insert(1, v(c3, Some(1), Some("a3"), soft));
        expect2.insert(2, v(c2, Some(0), Some("b2"), soft));
        expect2.insert(5, v(c2, Some(0), Some("e2"), soft));
        assert_eq!(view(&mut a, &spec).await, expect2);

        // batches applied in reverse order end in the same state as in order
        let spec_rev = spec
            .clone()
            .with_staging_name(format!("rev_{policy:?}_{direct}").to_lowercase());
        let spec_fwd = spec
            .clone()
            .with_staging_name(format!("fwd_{policy:?}_{direct}").to_lowercase());
        let loads: Vec<Vec<Row>> = (0..4)
            .map(|i| {
                let c = format!("2024020{}000000000", i + 1);
                (0..20)
                    .map(|id| up(&c, 0, id as u64, id, i, &format!("v{i}-{id}")))
                    .collect()
            })
            .collect();
        for (i, l) in loads.iter().enumerate() {
            apply(&mut a, &spec_fwd, &format!("F{i}"), l).await.unwrap();
        }
        for (i, l) in loads.iter().enumerate().rev() {
            apply(&mut a, &spec_rev, &format!("R{i}"), l).await.unwrap();
        }
        let fwd = view(&mut a, &spec_fwd).await;
        assert_eq!(fwd, view(&mut a, &spec_rev).await);
        assert!(fwd.values().all(|r| r.0 == "20240204000000000"));
    }
}

async fn deletes_scenario(policy: DeletePolicy) {
    let pg = PgCluster::start();
    let mut a = applier(&pg);
    let spec = spec("deletes").with_delete_policy(policy);
    let soft = policy == DeletePolicy::Soft;
    let c1 = "20240101000000000";
    let c2 = "20240102000000000";
    let c15 = "20240101120000000";
    let c0 = "20231231000000000";
    let c3 = "20240103000000000";

    apply(
        &mut a,
        &spec,
        "L1",
        &[up(c1, 0, 1, 1, 10, "a"), up(c1, 0, 2, 2, 10, "b")],
    )
    .await
    .unwrap();

    // newer delete of 1, delete of a never-seen key 9, older delete of 2
    let s = apply(&mut a, &spec, "L2", &[del(c2, 1), del(c2, 9), del(c0, 2)])
        .await
        .unwrap();
    assert_eq!((s.keys, s.deleted, s.stale), (3, 2, 1), "{s:?}");
    let vw = view(&mut a, &spec).await;
    if soft {
        // tombstone rows keep the last data, carry the delete's version
        assert_eq!(vw.len(), 3, "{vw:?}");
        assert_eq!(vw[&1], v(c2, Some(10), Some("a"), Some(true)));
        assert_eq!(vw[&2], v(c1, Some(10), Some("b"), Some(false)));
        assert_eq!(vw[&9], v(c2, None, None, Some(true)));
        let rows = a.read_staging(&spec).await.unwrap();
        assert!(rows[0]["_hps_deleted_at"].is_some());
        assert_eq!(s.removed, 1);
    } else {
        assert_eq!(vw.keys().copied().collect::<Vec<_>>(), vec![2]);
        let tombs = a.read_table(&spec, TableKind::Tombstones).await.unwrap();
        let tomb_ids: Vec<&str> = tombs.iter().map(|t| t["id"].as_deref().unwrap()).collect();
        assert_eq!(tomb_ids, vec!["1", "9"]);
        assert_eq!(tombs[0]["_hoodie_commit_time"].as_deref(), Some(c2));
        assert_eq!(s.removed, 1);
    }

    // late older upserts must not resurrect 1 or 9
    let s = apply(
        &mut a,
        &spec,
        "L3",
        &[
            up(c15, 0, 1, 1, 999, "a-late"),
            up(c15, 0, 2, 9, 999, "z-late"),
        ],
    )
    .await
    .unwrap();
    assert_eq!((s.inserted, s.updated, s.stale), (0, 0, 2), "{s:?}");
    let vw2 = view(&mut a, &spec).await;
    assert_eq!(vw2, vw);

    // an upsert with the delete's commit but a real seqno is newer than the seqno-less delete
    // (a key moving partition within one commit: delete ordered before the insert)
    let s = apply(&mut a, &spec, "L4", &[up(c2, 0, 7, 9, 1, "z-moved")])
        .await
        .unwrap();
    assert_eq!(s.inserted + s.updated, 1, "{s:?}");
    assert_eq!(
        view(&mut a, &spec).await[&9],
        v(c2, Some(1), Some("z-moved"), soft.then_some(false))
    );

    // a newer upsert resurrects 1; for hard deletes its tombstone is gone
    apply(&mut a, &spec, "L5", &[up(c3, 0, 1, 1, 0, "a3")])
        .await
        .unwrap();
    assert_eq!(
        view(&mut a, &spec).await[&1],
        v(c3, Some(0), Some("a3"), soft.then_some(false))
    );
    if !soft {
        assert!(
            a.read_table(&spec, TableKind::Tombstones)
                .await
                .unwrap()
                .is_empty()
        );
    }

    // within one batch: upsert then delete → deleted; delete then upsert → live
    let c4 = "20240104000000000";
    let c5 = "20240105000000000";
    apply(
        &mut a,
        &spec,
        "L6",
        &[
            up(c4, 0, 1, 20, 1, "x"),
            del(c5, 20),
            del(c4, 21),
            up(c5, 0, 1, 21, 1, "y"),
        ],
    )
    .await
    .unwrap();
    let vw = view(&mut a, &spec).await;
    assert_eq!(
        vw.get(&21),
        Some(&v(c5, Some(1), Some("y"), soft.then_some(false)))
    );
    if soft {
        assert_eq!(vw.get(&20).and_then(|r| r.3), Some(true));
    } else {
        assert!(!vw.contains_key(&20));
    }

    // replaying every load changes nothing
    let before = a.read_staging(&spec).await.unwrap();
    for (l, rows) in [
        (
            "R1",
            vec![up(c1, 0, 1, 1, 10, "a"), up(c1, 0, 2, 2, 10, "b")],
        ),
        ("R2", vec![del(c2, 1), del(c2, 9), del(c0, 2)]),
        (
            "R6",
            vec![
                up(c4, 0, 1, 20, 1, "x"),
                del(c5, 20),
                del(c4, 21),
                up(c5, 0, 1, 21, 1, "y"),
            ],
        ),
    ] {
        let s = apply(&mut a, &spec, l, &rows).await.unwrap();
        assert_eq!(s.stale, s.keys, "{l}: {s:?}");
    }
    assert_eq!(a.read_staging(&spec).await.unwrap(), before);
}

#[tokio::test]
async fn deletes_hard() {
    deletes_scenario(DeletePolicy::Hard).await;
}

#[tokio::test]
async fn deletes_soft() {
    deletes_scenario(DeletePolicy::Soft).await;
}

/// Writes the load id into a fence table; optionally fails afterwards.
struct Fence {
    fail: bool,
}

impl TxnHook for Fence {
    fn run<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        stats: &'a ApplyStats,
    ) -> BoxFuture<'a, Result<(), PgError>> {
        Box::pin(async move {
            tx.execute(
                "INSERT INTO fence (rows) VALUES ($1)",
                &[&(stats.rows as i64)],
            )
            .await
            .map_err(|e| PgError::db("fence", e))?;
            if self.fail {
                return Err(PgError::custom("fence conflict"));
            }
            Ok(())
        })
    }
}

#[tokio::test]
async fn hook_commits_atomically_with_the_data() {
    let pg = PgCluster::start();
    let mut a = applier(&pg);
    let spec = spec("hooked");
    let c1 = "20240101000000000";
    {
        let client = a.connection().client().await.unwrap();
        client
            .batch_execute("CREATE TABLE fence (rows bigint)")
            .await
            .unwrap();
    }
    let ok = Fence { fail: false };
    let s = a
        .apply(
            &spec,
            "L1",
            &schema(),
            stream(vec![batch(&[up(c1, 0, 1, 1, 1, "a")])]),
            Some(&ok),
        )
        .await
        .unwrap();
    assert_eq!(s.rows, 1);

    // a failing hook rolls back data, fence row and landing partition
    let bad = Fence { fail: true };
    let e = a
        .apply(
            &spec,
            "L2",
            &schema(),
            stream(vec![batch(&[up("20240102000000000", 0, 1, 2, 1, "b")])]),
            Some(&bad),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PgError::Hook { source, .. } if matches!(**source, PgError::Custom { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("fence conflict"), "{e}");
    assert_eq!(
        view(&mut a, &spec)
            .await
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec![1]
    );
    let client = a.connection().client().await.unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM fence", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    let parts: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'hudi.hooked__landing'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(parts, 0);

    // an empty window still runs the hook (the fence advances without data)
    let s = a
        .apply(&spec, "L3", &schema(), stream(vec![batch(&[])]), Some(&ok))
        .await
        .unwrap();
    assert_eq!((s.batches, s.rows, s.keys), (1, 0, 0));
    let client = a.connection().client().await.unwrap();
    let rows: Vec<i64> = client
        .query("SELECT rows FROM fence ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, vec![0, 1]);
}

#[tokio::test]
async fn landing_retention_and_storage_options() {
    let pg = PgCluster::start();
    let mut a = applier(&pg);
    let c1 = "20240101000000000";

    // default: the load's partition is dropped with the upsert
    let dropped = spec("ret_drop");
    apply(
        &mut a,
        &dropped,
        "L1",
        &[up(c1, 0, 1, 1, 1, "a"), del(c1, 2)],
    )
    .await
    .unwrap();
    assert!(
        a.read_table(&dropped, TableKind::Landing)
            .await
            .unwrap()
            .is_empty()
    );

    // keep: landing rows stay, with load id, op, commit time, seqno, record key, partition path
    let kept = spec("ret_keep")
        .with_landing_retention(LandingRetention::Keep(Duration::from_secs(86_400)));
    apply(&mut a, &kept, "L1", &[up(c1, 0, 1, 1, 1, "a"), del(c1, 2)])
        .await
        .unwrap();
    apply(
        &mut a,
        &kept,
        "L2",
        &[up("20240102000000000", 0, 1, 1, 2, "b")],
    )
    .await
    .unwrap();
    let landing = a.read_table(&kept, TableKind::Landing).await.unwrap();
    assert_eq!(landing.len(), 3);
    let r0 = &landing[0];
    assert_eq!(r0["_hps_load_id"].as_deref(), Some("L1"));
    assert_eq!(r0["_hps_op"].as_deref(), Some("upsert"));
    assert_eq!(r0["_hoodie_commit_time"].as_deref(), Some(c1));
    assert_eq!(
        r0["_hoodie_commit_seqno"].as_deref(),
        Some("20240101000000000_0_1")
    );
    assert_eq!(r0["_hoodie_record_key"].as_deref(), Some("1"));
    assert_eq!(r0["_hoodie_partition_path"].as_deref(), Some("p"));
    assert_eq!(landing[1]["_hps_op"].as_deref(), Some("delete"));
    assert_eq!(landing[2]["_hps_load_id"].as_deref(), Some("L2"));

    let client = a.connection().client().await.unwrap();
    let persistence: Vec<String> = client
        .query(
            "SELECT c.relpersistence::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'hudi.ret_keep__landing'::regclass",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        persistence,
        vec!["u", "u"],
        "landing partitions are UNLOGGED"
    );
    let opts: Vec<String> = client
        .query_one(
            "SELECT reloptions FROM pg_class WHERE oid = 'hudi.ret_keep'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(opts, vec!["fillfactor=70"]);

    // expiry: keep 0 s drops every applied partition and its registry row
    let expire = kept
        .clone()
        .with_landing_retention(LandingRetention::Keep(Duration::ZERO));
    let p = a.prune(&expire).await.unwrap();
    assert_eq!(p.partitions_dropped, 2);
    assert!(
        a.read_table(&kept, TableKind::Landing)
            .await
            .unwrap()
            .is_empty()
    );
    let client = a.connection().client().await.unwrap();
    let reg: i64 = client
        .query_one("SELECT count(*) FROM hudi.hudi_sync_landing_loads WHERE landing_table = 'ret_keep__landing'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(reg, 0);

    // switching back to drop-after-apply also cleans partitions kept earlier
    apply(
        &mut a,
        &kept,
        "L3",
        &[up("20240103000000000", 0, 1, 1, 3, "c")],
    )
    .await
    .unwrap();
    assert_eq!(
        a.read_table(&kept, TableKind::Landing).await.unwrap().len(),
        1
    );
    let back = kept
        .clone()
        .with_landing_retention(LandingRetention::DropAfterApply);
    apply(
        &mut a,
        &back,
        "L4",
        &[up("20240104000000000", 0, 1, 1, 4, "d")],
    )
    .await
    .unwrap();
    assert!(
        a.read_table(&kept, TableKind::Landing)
            .await
            .unwrap()
            .is_empty()
    );

    // tombstone retention
    let mut hard = spec("tomb_prune");
    apply(&mut a, &hard, "L1", &[up(c1, 0, 1, 1, 1, "a"), del(c1, 2)])
        .await
        .unwrap();
    assert_eq!(
        a.read_table(&hard, TableKind::Tombstones)
            .await
            .unwrap()
            .len(),
        1
    );
    hard.tombstone_retention = Some(Duration::ZERO);
    assert_eq!(a.prune(&hard).await.unwrap().tombstones_pruned, 1);
}

#[tokio::test]
async fn chunked_copy_of_many_batches() {
    let pg = PgCluster::start();
    // the landing path (its dedup across batches); tests/direct.rs chunks the direct path
    let mut a = applier(&pg).with_options(ApplyOptions {
        copy_chunk_bytes: 4096,
        direct_load: false,
        ..Default::default()
    });
    let spec: TargetTable = spec("chunked");
    let c1 = "20240101000000000";
    let mut batches = Vec::new();
    let mut expect_sum: i64 = 0;
    for b in 0..10 {
        let rows: Vec<Row> = (0..2000)
            .map(|i| {
                let id = (b * 2000 + i) % 15_000; // 5000 keys repeated
                up(
                    c1,
                    b as u32,
                    i as u64,
                    id,
                    b * 10_000 + i,
                    &format!("name-{b}-{i}-ünïcødé"),
                )
            })
            .collect();
        batches.push(batch(&rows));
    }
    // expected: per key, the row with the highest seqno (part b, then i): the last batch holding it
    let mut latest = std::collections::BTreeMap::new();
    for b in 0..10i64 {
        for i in 0..2000i64 {
            latest.insert((b * 2000 + i) % 15_000, b * 10_000 + i);
        }
    }
    for ts in latest.values() {
        expect_sum += ts;
    }
    let s = a
        .apply(&spec, "big", &schema(), stream(batches), None)
        .await
        .unwrap();
    assert_eq!(
        (s.batches, s.rows, s.keys, s.inserted),
        (10, 20_000, 15_000, 15_000),
        "{s:?}"
    );
    assert!(s.bytes > 20_000 * 50, "{s:?}");
    let client = a.connection().client().await.unwrap();
    let r = client
        .query_one("SELECT count(*), sum(ts)::bigint FROM hudi.chunked", &[])
        .await
        .unwrap();
    assert_eq!(
        (r.get::<_, i64>(0), r.get::<_, i64>(1)),
        (15_000, expect_sum)
    );
    let name: String = client
        .query_one("SELECT name FROM hudi.chunked WHERE id = 14999", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "name-7-999-ünïcødé");
}

#[tokio::test]
async fn bad_rows_are_rejected_and_change_nothing() {
    let pg = PgCluster::start();
    let mut a = applier(&pg);
    let spec = spec("bad");
    let c1 = "20240101000000000";
    apply(&mut a, &spec, "L1", &[up(c1, 0, 1, 1, 1, "a")])
        .await
        .unwrap();
    let before = a.read_staging(&spec).await.unwrap();

    // null record key in the second batch, after the first batch was already COPYed
    let good = batch(&[up("20240102000000000", 0, 1, 1, 2, "b")]);
    let mut null_key = batch(&[up("20240102000000000", 0, 2, 2, 2, "c")]);
    let mut cols = null_key.columns().to_vec();
    cols[5] = std::sync::Arc::new(arrow_array::Int64Array::from(vec![None::<i64>]));
    null_key = arrow_array::RecordBatch::try_new(schema(), cols).unwrap();
    let e = a
        .apply(
            &spec,
            "L2",
            &schema(),
            stream(vec![good.clone(), null_key]),
            None,
        )
        .await
        .unwrap_err();
    match &e {
        PgError::InvalidData { column, row, .. } => assert_eq!((column.as_str(), *row), ("id", 1)),
        other => panic!("{other:?}"),
    }
    assert!(!e.is_transient());

    // bad _op
    let mut bad_op = batch(&[up("20240102000000000", 0, 1, 1, 2, "b")]);
    let mut cols = bad_op.columns().to_vec();
    cols[8] = std::sync::Arc::new(arrow_array::StringArray::from(vec!["insert"]));
    bad_op = arrow_array::RecordBatch::try_new(schema(), cols).unwrap();
    let e = apply_batches(&mut a, &spec, vec![bad_op])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PgError::InvalidData { column, .. } if column == "_hps_op"),
        "{e:?}"
    );

    // a stream error
    let failing = futures::stream::iter(vec![
        Ok(good.clone()),
        Err(std::io::Error::other("s3 read failed")),
    ]);
    let e = a
        .apply(&spec, "L4", &schema(), failing, None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, PgError::Source { .. }) && e.to_string().contains("s3 read failed"),
        "{e}"
    );

    // a batch with another schema
    let other = arrow_array::RecordBatch::try_from_iter(vec![(
        "x",
        std::sync::Arc::new(arrow_array::Int32Array::from(vec![1])) as arrow_array::ArrayRef,
    )])
    .unwrap();
    let e = a
        .apply(
            &spec,
            "L5",
            &schema(),
            stream(vec![good.clone(), other]),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, PgError::SchemaMismatch { batch: 1, .. }),
        "{e:?}"
    );

    assert_eq!(a.read_staging(&spec).await.unwrap(), before);
    // the connection is still usable
    apply(
        &mut a,
        &spec,
        "L6",
        &[up("20240103000000000", 0, 1, 1, 3, "ok")],
    )
    .await
    .unwrap();
    assert_eq!(view(&mut a, &spec).await[&1].2.as_deref(), Some("ok"));
}

async fn apply_batches(
    a: &mut hps_postgres::Applier,
    spec: &TargetTable,
    batches: Vec<arrow_array::RecordBatch>,
) -> Result<ApplyStats, PgError> {
    a.apply(spec, "LX", &schema(), stream(batches), None).await
}

/// (op, commit, region, id, val)
type CRow<'a> = (&'a str, &'a str, &'a str, i64, &'a str);

fn composite_batch(rows: &[CRow]) -> (arrow_schema::SchemaRef, arrow_array::RecordBatch) {
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;
    let mut fields: Vec<Field> = [
        "_hoodie_commit_time",
        "_hoodie_commit_seqno",
        "_hoodie_record_key",
        "_hoodie_partition_path",
        "_hoodie_file_name",
    ]
    .iter()
    .map(|c| Field::new(*c, DataType::Utf8, true))
    .collect();
    fields.push(Field::new("region", DataType::Utf8, true));
    fields.push(Field::new("id", DataType::Int64, true));
    fields.push(Field::new("val", DataType::Utf8, true));
    fields.push(Field::new("_op", DataType::Utf8, false));
    let schema = Arc::new(Schema::new(fields));
    let s = |f: &dyn Fn(&CRow) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let cols: Vec<ArrayRef> = vec![
        s(&|r| Some(r.1.to_string())),
        s(&|r| (r.0 == "upsert").then(|| format!("{}_0_{}", r.1, r.3))),
        s(&|r| Some(format!("region:{},id:{}", r.2, r.3))),
        s(&|r| Some(format!("region={}", r.2))),
        s(&|_| None),
        s(&|r| Some(r.2.to_string())),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.3).collect::<Vec<_>>(),
        )),
        s(&|r| (r.0 == "upsert").then(|| r.4.to_string())),
        s(&|r| Some(r.0.to_string())),
    ];
    (
        schema.clone(),
        arrow_array::RecordBatch::try_new(schema, cols).unwrap(),
    )
}

#[tokio::test]
async fn composite_record_keys() {
    let pg = PgCluster::start();
    let mut a = applier(&pg);
    for (name, keys, policy) in [
        ("comp_data", vec!["region", "id"], DeletePolicy::Hard),
        (
            "comp_meta",
            vec!["_hoodie_partition_path", "_hoodie_record_key"],
            DeletePolicy::Hard,
        ),
        (
            "comp_meta_soft",
            vec!["_hoodie_partition_path", "_hoodie_record_key"],
            DeletePolicy::Soft,
        ),
    ] {
        let spec = TargetTable::for_hudi_table(name, keys.iter().map(|k| k.to_string()).collect())
            .with_delete_policy(policy);
        let (schema, b) = composite_batch(&[
            ("upsert", "20240101000000000", "eu", 1, "eu1"),
            ("upsert", "20240101000000000", "us", 1, "us1"),
            ("upsert", "20240101000000000", "eu", 2, "eu2"),
        ]);
        let s = a
            .apply(&spec, "L1", &schema, stream(vec![b]), None)
            .await
            .unwrap();
        assert_eq!((s.keys, s.inserted), (3, 3), "{name}");
        let (schema, b) = composite_batch(&[
            ("upsert", "20240102000000000", "eu", 1, "eu1-v2"),
            ("delete", "20240102000000000", "us", 1, ""),
            ("upsert", "20231231000000000", "eu", 2, "eu2-old"),
        ]);
        let s = a
            .apply(&spec, "L2", &schema, stream(vec![b]), None)
            .await
            .unwrap();
        assert_eq!((s.updated, s.deleted, s.stale), (1, 1, 1), "{name}: {s:?}");
        let rows = a.read_staging(&spec).await.unwrap();
        let live: Vec<(String, String)> = rows
            .iter()
            .filter(|r| {
                r.get("_hps_deleted")
                    .map(|d| d.as_deref() == Some("false"))
                    .unwrap_or(true)
            })
            .map(|r| {
                (
                    r["_hoodie_record_key"].clone().unwrap(),
                    r["val"].clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            live,
            vec![
                ("region:eu,id:1".to_string(), "eu1-v2".to_string()),
                ("region:eu,id:2".to_string(), "eu2".to_string())
            ],
            "{name}"
        );
        // the staging primary key is the configured composite key
        let client = a.connection().client().await.unwrap();
        let pk: Vec<String> = client
            .query(
                "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
                &[&format!("hudi.{name}")],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(pk, keys, "{name}");
    }
}
