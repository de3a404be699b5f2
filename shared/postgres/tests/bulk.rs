//! Bulk bootstrap (`LoadMode::Bootstrap`, `finish_bootstrap`): loads go into a shadow table
//! without keys while staging stays empty; the finish deduplicates (latest version wins),
//! builds the primary key and swaps the shadow in, keeping staging's indexes and grants.
//! Oracle: the expected final state written out by hand from the loads.

mod common;

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use common::*;
use hps_postgres::{
    Applier, BootstrapSwap, DeletePolicy, LoadMode, TargetTable, discard_bootstrap,
    finish_bootstrap,
};
use hps_testkit::postgres::PgCluster;

async fn load(a: &mut Applier, spec: &TargetTable, id: &str, first: bool, rows: &[Row]) -> u64 {
    let mode = LoadMode::Bootstrap { first };
    let stats = a
        .apply_as(spec, id, &schema(), stream(vec![batch(rows)]), None, mode)
        .await
        .expect("bootstrap load");
    stats.inserted
}

async fn finish(a: &mut Applier, spec: &TargetTable) -> Option<BootstrapSwap> {
    let client = a.connection().client().await.expect("client");
    let tx = client.transaction().await.expect("begin");
    let swap = finish_bootstrap(&tx, spec).await.expect("finish");
    tx.commit().await.expect("commit");
    swap
}

async fn count(pg: &PgCluster, sql: &str) -> i64 {
    superuser(pg)
        .await
        .query_one(sql, &[])
        .await
        .expect(sql)
        .get(0)
}

async fn shadow_rows(pg: &PgCluster, staging: &str) -> Option<i64> {
    let c = superuser(pg).await;
    let q = format!("hudi.{staging}__hps_bootstrap");
    let exists: bool = c
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&q])
        .await
        .expect("regclass")
        .get(0);
    if !exists {
        return None;
    }
    Some(count(pg, &format!("SELECT count(*) FROM {q}")).await)
}

#[tokio::test]
async fn bootstrap_loads_a_shadow_then_swaps_it_in() {
    let pg = PgCluster::start();
    let (c0, c1, c2, c3) = (
        "20240101000000000",
        "20240102000000000",
        "20240103000000000",
        "20240104000000000",
    );
    for policy in [DeletePolicy::Hard, DeletePolicy::Soft] {
        let name = format!("boot_{policy:?}").to_lowercase();
        let spec = spec(&name).with_delete_policy(policy);
        let mut a = applier(&pg);

        // load 1: keys 0..30, a delete (skipped: no state), key 5 twice (the later c2 wins)
        let mut rows: Vec<Row> = (0..30).map(|i| up(c1, 0, i as u64, i, i, "one")).collect();
        rows.push(del(c1, 99));
        rows.push(up(c2, 0, 0, 5, 50, "five-new"));
        assert_eq!(load(&mut a, &spec, "L1", true, &rows).await, 31);
        assert_eq!(
            view(&mut a, &spec).await.len(),
            0,
            "staging stays empty while loading"
        );
        assert_eq!(shadow_rows(&pg, &name).await, Some(31));

        // what a user may do to staging while the bootstrap runs
        let su = superuser(&pg).await;
        su.batch_execute(&format!(
            "CREATE INDEX {name}_by_name ON hudi.{name} (name); GRANT SELECT ON hudi.{name} TO PUBLIC"
        ))
        .await
        .expect("user DDL");

        // load 2: keys 30..40, key 7 newer (c2), key 8 older (c0: the c1 row wins)
        let mut rows: Vec<Row> = (30..40).map(|i| up(c1, 1, i as u64, i, i, "two")).collect();
        rows.push(up(c2, 1, 0, 7, 70, "seven-new"));
        rows.push(up(c0, 1, 0, 8, 80, "eight-old"));
        assert_eq!(load(&mut a, &spec, "L2", false, &rows).await, 12);
        assert_eq!(view(&mut a, &spec).await.len(), 0);

        let swap = finish(&mut a, &spec).await.expect("a shadow to swap in");
        assert_eq!(swap.duplicates_removed, 3, "{swap:?}");
        assert_eq!(shadow_rows(&pg, &name).await, None);

        let staged = view(&mut a, &spec).await;
        let soft = (policy == DeletePolicy::Soft).then_some(false);
        let mut expected = View::new();
        for i in 0..40 {
            let n = if i < 30 { "one" } else { "two" };
            expected.insert(i, v(c1, Some(i), Some(n), soft));
        }
        expected.insert(5, v(c2, Some(50), Some("five-new"), soft));
        expected.insert(7, v(c2, Some(70), Some("seven-new"), soft));
        assert_eq!(staged, expected, "{policy:?}");
        let pk = count(
            &pg,
            &format!("SELECT count(*) FROM pg_constraint WHERE conrelid = 'hudi.{name}'::regclass AND contype = 'p' AND conname = '{name}_pkey'"),
        )
        .await;
        assert_eq!(
            pk, 1,
            "the swapped-in staging has its primary key, under staging's name"
        );
        let idx = count(
            &pg,
            &format!("SELECT count(*) FROM pg_indexes WHERE schemaname = 'hudi' AND indexname = '{name}_by_name'"),
        )
        .await;
        assert_eq!(idx, 1, "the user's index is kept");
        let granted = count(
            &pg,
            &format!("SELECT count(*) FROM information_schema.role_table_grants WHERE table_schema = 'hudi' AND table_name = '{name}' AND grantee = 'PUBLIC' AND privilege_type = 'SELECT'"),
        )
        .await;
        assert_eq!(granted, 1, "the user's grant is kept");

        // the table goes on with the version-guarded upsert
        apply(
            &mut a,
            &spec,
            "L3",
            &[up(c3, 0, 0, 1, 100, "updated"), up(c0, 0, 0, 2, 0, "stale")],
        )
        .await
        .expect("upsert after the swap");
        let after = view(&mut a, &spec).await;
        assert_eq!(after[&1], v(c3, Some(100), Some("updated"), soft));
        assert_eq!(after[&2], v(c1, Some(2), Some("one"), soft));
        assert_eq!(finish(&mut a, &spec).await, None, "nothing left to swap");
    }
}

#[tokio::test]
async fn a_bootstrap_into_a_table_with_rows_upserts() {
    let pg = PgCluster::start();
    let c1 = "20240102000000000";
    let spec = spec("boot_nonempty");
    let mut a = applier(&pg);
    apply(&mut a, &spec, "L0", &[up(c1, 0, 0, 1, 1, "kept")])
        .await
        .expect("seed");
    assert_eq!(
        load(&mut a, &spec, "L1", true, &[up(c1, 0, 1, 2, 2, "new")]).await,
        1
    );
    assert_eq!(shadow_rows(&pg, "boot_nonempty").await, None, "no shadow");
    assert_eq!(
        view(&mut a, &spec).await.len(),
        2,
        "upserted into staging directly"
    );
    assert_eq!(finish(&mut a, &spec).await, None);
}

/// A second schema: the test table plus a `note` column (the schema evolves mid-bootstrap).
fn wider(rows: &[Row]) -> (Arc<Schema>, RecordBatch) {
    let b = batch(rows);
    let mut fields: Vec<Field> = schema().fields().iter().map(|f| (**f).clone()).collect();
    let op = fields.pop().expect("_op last");
    fields.push(Field::new("note", DataType::Utf8, true));
    fields.push(op);
    let mut cols: Vec<ArrayRef> = b.columns().to_vec();
    let op_col = cols.pop().expect("_op");
    cols.push(Arc::new(StringArray::from(vec![Some("n"); rows.len()])));
    cols.push(op_col);
    let s = Arc::new(Schema::new(fields));
    (s.clone(), RecordBatch::try_new(s, cols).expect("batch"))
}

#[tokio::test]
async fn an_abandoned_bootstrap_restarts_and_the_shadow_follows_schema_changes() {
    let pg = PgCluster::start();
    let c1 = "20240102000000000";
    let spec = spec("boot_restart");
    let mut a = applier(&pg);
    load(
        &mut a,
        &spec,
        "L1",
        true,
        &[up(c1, 0, 0, 1, 1, "abandoned")],
    )
    .await;
    // the bootstrap starts over: the first shadow's rows are gone
    load(&mut a, &spec, "L2", true, &[up(c1, 0, 0, 2, 2, "restart")]).await;
    assert_eq!(shadow_rows(&pg, "boot_restart").await, Some(1));
    // a later load brings a new column: staging and the shadow gain it
    let (s, b) = wider(&[up(c1, 0, 1, 3, 3, "wide")]);
    let mode = LoadMode::Bootstrap { first: false };
    a.apply_as(&spec, "L3", &s, stream(vec![b]), None, mode)
        .await
        .expect("wider load");
    finish(&mut a, &spec).await.expect("swap");
    let rows = a.read_staging(&spec).await.expect("staging");
    let ids: Vec<(Option<String>, Option<String>)> = rows
        .iter()
        .map(|r| (r["id"].clone(), r["note"].clone()))
        .collect();
    assert_eq!(
        ids,
        vec![
            (Some("2".into()), None),
            (Some("3".into()), Some("n".into()))
        ]
    );

    // staging has rows now: a new bootstrap load upserts, no shadow
    load(&mut a, &spec, "L4", true, &[up(c1, 0, 2, 4, 4, "x")]).await;
    assert_eq!(shadow_rows(&pg, "boot_restart").await, None);
    assert_eq!(a.read_staging(&spec).await.expect("staging").len(), 3);

    // discard drops an abandoned shadow
    let other = common::spec("boot_discard");
    load(&mut a, &other, "L1", true, &[up(c1, 0, 0, 1, 1, "x")]).await;
    assert_eq!(shadow_rows(&pg, "boot_discard").await, Some(1));
    let client = a.connection().client().await.expect("client");
    let tx = client.transaction().await.expect("begin");
    assert!(discard_bootstrap(&tx, &other).await.expect("discard"));
    assert!(!discard_bootstrap(&tx, &other).await.expect("discard"));
    tx.commit().await.expect("commit");
    assert_eq!(shadow_rows(&pg, "boot_discard").await, None);
    assert_eq!(a.read_staging(&other).await.expect("staging").len(), 0);
}
