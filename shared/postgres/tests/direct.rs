//! The direct path (`ApplyOptions::direct_load`): a load into an empty target goes straight
//! into staging while its rows are upserts of new keys, then switches to the landing path.
//! Oracle: the same loads through the landing path only, into a second set of tables; every
//! staging and tombstone row must be the same (all columns but `_hps_applied_at`).

mod common;

use common::*;
use hps_postgres::{
    Applier, ApplyOptions, ApplyStats, DeletePolicy, LandingRetention, TableKind, TargetTable,
    TextRow,
};
use hps_testkit::postgres::PgCluster;

fn with(pg: &PgCluster, direct: bool, chunk: usize) -> Applier {
    applier(pg).with_options(ApplyOptions {
        direct_load: direct,
        copy_chunk_bytes: chunk,
        direct_max_keys: 50,
        ..Default::default()
    })
}

fn strip(rows: Vec<TextRow>) -> Vec<TextRow> {
    rows.into_iter()
        .map(|mut r| {
            r.remove("_hps_applied_at");
            r.remove("_hps_deleted_at");
            r
        })
        .collect()
}

async fn tables(a: &mut Applier, spec: &TargetTable) -> (Vec<TextRow>, Vec<TextRow>) {
    let staging = strip(a.read_table(spec, TableKind::Staging).await.unwrap());
    let tombs = if spec.delete_policy == DeletePolicy::Hard {
        strip(a.read_table(spec, TableKind::Tombstones).await.unwrap())
    } else {
        Vec::new()
    };
    (staging, tombs)
}

async fn landing_partitions(pg: &PgCluster, spec: &TargetTable) -> i64 {
    let c = superuser(pg).await;
    c.query_one(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass($1)",
        &[&format!("hudi.{}__landing", spec.staging)],
    )
    .await
    .unwrap()
    .get(0)
}

/// Apply `loads` (each a list of batches) through both paths; compare after every load.
async fn both_ways(
    pg: &PgCluster,
    name: &str,
    policy: DeletePolicy,
    loads: &[Vec<Vec<Row>>],
) -> Vec<ApplyStats> {
    let mut direct = with(pg, true, 4096);
    let mut landing = with(pg, false, 4096);
    let sd = spec(&format!("{name}_d")).with_delete_policy(policy);
    let sl = spec(&format!("{name}_l")).with_delete_policy(policy);
    let mut out = Vec::new();
    for (i, load) in loads.iter().enumerate() {
        let batches = || stream(load.iter().map(|rows| batch(rows)).collect());
        let s = direct
            .apply(&sd, &format!("L{i}"), &schema(), batches(), None)
            .await
            .unwrap();
        let t = landing
            .apply(&sl, &format!("L{i}"), &schema(), batches(), None)
            .await
            .unwrap();
        assert_eq!(s.rows, t.rows);
        assert_eq!(
            tables(&mut direct, &sd).await,
            tables(&mut landing, &sl).await,
            "{name} {policy:?}: load {i} differs between the direct and the landing path"
        );
        out.push(s);
    }
    out
}

#[tokio::test]
async fn direct_load_equals_the_landing_path() {
    let pg = PgCluster::start();
    let c1 = "20240101000000000";
    let c2 = "20240102000000000";
    for policy in [DeletePolicy::Hard, DeletePolicy::Soft] {
        // 1. unique upserts only, over several batches and COPY chunks: all direct, no landing
        let rows: Vec<Row> = (0..40)
            .map(|i| up(c1, 0, i as u64, i, 5, &format!("name-{i}-ünï")))
            .collect();
        let stats = both_ways(
            &pg,
            &format!("uniq_{policy:?}").to_lowercase(),
            policy,
            &[rows.chunks(7).map(|c| c.to_vec()).collect()],
        )
        .await;
        assert_eq!(
            (
                stats[0].rows,
                stats[0].keys,
                stats[0].inserted,
                stats[0].stale
            ),
            (40, 40, 40, 0),
            "{:?}",
            stats[0]
        );
        assert_eq!(
            stats[0].merge_time,
            std::time::Duration::ZERO,
            "no merge ran"
        );
        let spec_d = spec(&format!("uniq_{policy:?}_d").to_lowercase());
        assert_eq!(landing_partitions(&pg, &spec_d).await, 0);

        // 2. a repeated key in the second batch, a tie (later row must win), a delete of a
        //    directly loaded key, a delete of an unknown key, then an incremental load
        let first = vec![
            vec![
                up(c1, 0, 1, 1, 1, "a"),
                up(c1, 0, 2, 2, 1, "b"),
                up(c1, 0, 3, 3, 1, "tie-first"),
            ],
            vec![
                up(c1, 0, 4, 4, 1, "d"),
                up(c1, 0, 3, 3, 1, "tie-second"),
                up(c1, 0, 1, 1, 0, "a-older"),
                up(c1, 1, 1, 2, 1, "b-newer"),
                del(c2, 4),
                del(c2, 99),
                up(c1, 0, 5, 5, 1, "e"),
            ],
        ];
        let second = vec![vec![
            up(c2, 0, 1, 1, 1, "a2"),
            del(c2, 5),
            up(c2, 0, 2, 6, 1, "f2"),
        ]];
        let stats = both_ways(
            &pg,
            &format!("mixed_{policy:?}").to_lowercase(),
            policy,
            &[first, second],
        )
        .await;
        // 4 direct rows (keys 1-4), then 6 keys landed (3, 1, 2, 4, 99, 5)
        assert_eq!(stats[0].rows, 10, "{:?}", stats[0]);
        assert_eq!(stats[0].keys, 4 + 6, "{:?}", stats[0]);
        let mut d = with(&pg, true, 4096);
        let sd = spec(&format!("mixed_{policy:?}_d").to_lowercase()).with_delete_policy(policy);
        let view = view(&mut d, &sd).await;
        assert_eq!(view[&3].2.as_deref(), Some("tie-second"), "{view:?}");
        assert_eq!(view[&2].2.as_deref(), Some("b-newer"), "{view:?}");
        assert_eq!(view[&1].2.as_deref(), Some("a2"), "{view:?}");

        // 3. more keys than the direct phase may remember: the rest goes through landing
        let rows: Vec<Row> = (0..120).map(|i| up(c1, 0, i as u64, i, 1, "x")).collect();
        let stats = both_ways(
            &pg,
            &format!("cap_{policy:?}").to_lowercase(),
            policy,
            &[vec![rows]],
        )
        .await;
        assert_eq!(
            (stats[0].keys, stats[0].inserted),
            (120, 120),
            "{:?}",
            stats[0]
        );
        assert!(stats[0].merge_time > std::time::Duration::ZERO);
    }
}

#[tokio::test]
async fn direct_load_needs_an_empty_target_and_no_kept_landing() {
    let pg = PgCluster::start();
    let c1 = "20240101000000000";
    let c2 = "20240102000000000";
    let mut a = with(&pg, true, 1 << 20);

    // a tombstone alone makes the target non-empty: an older upsert must still lose to it
    let s = spec("tomb_first");
    apply(&mut a, &s, "L0", &[del(c2, 1)]).await.unwrap();
    apply(&mut a, &s, "L1", &[up(c1, 0, 1, 1, 1, "old")])
        .await
        .unwrap();
    assert!(view(&mut a, &s).await.is_empty(), "the tombstone must win");

    // landing kept for audit: every row lands, nothing goes direct
    let s = spec("kept")
        .with_landing_retention(LandingRetention::Keep(std::time::Duration::from_secs(60)));
    let st = apply(
        &mut a,
        &s,
        "L0",
        &[up(c1, 0, 1, 1, 1, "a"), up(c1, 0, 2, 2, 1, "b")],
    )
    .await
    .unwrap();
    assert!(st.merge_time > std::time::Duration::ZERO);
    assert_eq!(a.read_table(&s, TableKind::Landing).await.unwrap().len(), 2);

    // a non-empty staging table: the landing path (updates are counted as such)
    let s = spec("second_load");
    apply(&mut a, &s, "L0", &[up(c1, 0, 1, 1, 1, "a")])
        .await
        .unwrap();
    let st = apply(
        &mut a,
        &s,
        "L1",
        &[up(c2, 0, 1, 1, 1, "a2"), up(c2, 0, 2, 2, 1, "b2")],
    )
    .await
    .unwrap();
    assert_eq!((st.inserted, st.updated), (1, 1), "{st:?}");
}
