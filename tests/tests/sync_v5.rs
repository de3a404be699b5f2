//! The sync pipeline over generated tables of table version 5 (Hudi 0.12/0.13) and over tables
//! upgraded from 5 to 6 while the sync follows them, against a real PostgreSQL.
//!
//! Oracles: the `hudi` PyPI wheel refuses table versions below 6 and (hudi-rs 0.5.0) log
//! blocks of content version 2, so staging of a version-5 table, and of an upgraded MOR table
//! whose version-5 log blocks remain, is compared with the wheel's snapshot of the same-seed
//! **version-6 twin** (the same rows and file names). An upgraded COW table is compared with
//! the wheel's snapshot of the table itself.

mod sync_common;

use std::path::Path;

use hps_gen::schema::TableSchema;
use hps_gen::{GenConfig, Manifest, TableType, TableVersion};
use hps_sync::PassMode;
use hps_sync::PassOutcome;
use sync_common::*;

fn gen_cfg(name: &str, table_type: TableType, upgrade: Option<u32>) -> GenConfig {
    let mor = table_type == TableType::MergeOnRead;
    GenConfig {
        table_name: name.to_string(),
        table_type,
        table_version: if upgrade.is_some() {
            TableVersion::V6
        } else {
            TableVersion::V5
        },
        partitions: 3,
        rows: 600,
        commits: 6,
        update_fraction: 0.2,
        insert_fraction: 0.1,
        // MOR deletes of Hudi 0.12/0.13 are Kryo blocks: none in MOR tables written as v5
        delete_fraction: if mor { 0.0 } else { 0.05 },
        rows_per_file_group: 100,
        row_group_rows: 64,
        threads: 1,
        compact_every: if mor { 3 } else { 0 },
        upgrade_from_v5_after: upgrade,
        ..Default::default()
    }
}

/// Apply one instant per pass until up to date; each pass applies exactly the next commit of
/// the manifest (`from` on) and stamps the rows it upserted with its instant.
async fn step_through(
    url: &str,
    name: &str,
    pipe: &hps_sync::SyncPipeline,
    src: &hps_sync::TableSource,
    m: &Manifest,
    from: usize,
    to: usize,
) {
    let c2 = client(url).await;
    for (i, c) in m.commits.iter().enumerate().take(to).skip(from) {
        let o = pipe
            .run_pass(src, None, PassMode::Step)
            .await
            .expect("pass");
        let PassOutcome::Applied(r) = &o else {
            panic!("{name} step {i}: {o:?}")
        };
        assert_eq!(r.instants, vec![commit_position(c)], "{name} step {i}");
        let soft: bool = c2
            .query_one(
                "SELECT count(*) > 0 FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = $1 AND column_name = '_hps_deleted'",
                &[&name],
            )
            .await
            .expect("columns")
            .get(0);
        let live = if soft { " AND NOT _hps_deleted" } else { "" };
        let n: i64 = c2
            .query_one(
                &format!("SELECT count(*) FROM {name}.{name} WHERE _hoodie_commit_time = $1{live}"),
                &[&c.instant],
            )
            .await
            .expect("count")
            .get(0);
        if c.operation != "COMPACT" {
            assert_eq!(
                n as usize,
                c.upserted_ids().len(),
                "{name} step {i}: rows stamped {}",
                c.instant
            );
        }
    }
    let o = pipe
        .run_pass(src, None, PassMode::Step)
        .await
        .expect("pass");
    assert!(matches!(o, PassOutcome::UpToDate { .. }), "{name}: {o:?}");
}

/// Version-5 tables (COW with deletes, MOR with a compaction), synced one instant at a time:
/// staging equals the wheel's snapshot of the v6 twin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_tables_step_by_step() {
    init_tracing();
    let pg = pg();
    let url = fresh_db(&pg);
    for (name, table_type) in [
        ("v5_cow", TableType::CopyOnWrite),
        ("v5_mor", TableType::MergeOnRead),
    ] {
        let cfg = gen_cfg(name, table_type, None);
        let t = gen_table(&cfg).await;
        let twin_table = gen_table(&cfg.v6_twin()).await;
        let stores = Stores::new(StoreKind::File).await;
        let pipe = pipeline("p1", &stores, &url, test_options());
        let src = source(name, &t.path, name);
        let n = t.manifest.commits.len();
        step_through(&url, name, &pipe, &src, &t.manifest, 0, n).await;
        assert_staging_matches(&url, &src, &twin_table.path).await;
        let spec = target_of(&src).await;
        assert!(landing_duplicates(&url, &spec).await.is_empty());
    }
}

/// Remove from `dir` (a copy of the whole generated table) what the instants from `first` on
/// wrote, and put back the version-5 `hoodie.properties`: the table as it was before the
/// upgrade.
fn rewind_to_before_upgrade(dir: &Path, cfg: &GenConfig, m: &Manifest, first: usize) {
    for c in &m.commits[first..] {
        for f in &c.files {
            std::fs::remove_file(dir.join(f)).expect("remove data file");
        }
        for e in std::fs::read_dir(dir.join(".hoodie"))
            .expect("timeline")
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{}.", c.instant)) {
                std::fs::remove_file(e.path()).expect("remove instant file");
            }
        }
    }
    let schema = TableSchema::new(&cfg.table_name).expect("schema");
    let v5 = hps_gen::properties::table_properties(
        &schema,
        cfg.table_type,
        TableVersion::V5,
        cfg.key_generator,
        cfg.start_time,
    );
    std::fs::write(dir.join(".hoodie/hoodie.properties"), v5).expect("properties");
}

/// The sync follows a table while it is version 5, the table is upgraded to 6 (Hudi 0.14's
/// first write) and gets more commits; the sync continues one instant at a time across the
/// upgrade and staging ends equal to the snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_continues_across_the_upgrade() {
    init_tracing();
    let pg = pg();
    let url = fresh_db(&pg);
    for (name, table_type, after) in [
        ("up_cow", TableType::CopyOnWrite, 3),
        ("up_mor", TableType::MergeOnRead, 5),
    ] {
        let cfg = gen_cfg(name, table_type, Some(after));
        let full = gen_table(&cfg).await;
        let m = &full.manifest;
        let first_v6 = m
            .commits
            .iter()
            .position(|c| cfg.version_at(c.version) == TableVersion::V6)
            .expect("instants after the upgrade");
        assert!(first_v6 > 0);
        let live_dir = tempfile::tempdir().expect("tempdir");
        let live = live_dir.path().join(name);
        copy_dir(&full.path, &live);
        rewind_to_before_upgrade(&live, &cfg, m, first_v6);

        let stores = Stores::new(StoreKind::File).await;
        let pipe = pipeline("p1", &stores, &url, test_options());
        let src = source(name, &live, name);
        let t = hps_hudi::HudiTable::open(src.store.clone())
            .await
            .expect("open");
        assert_eq!(t.config().table_version, 5, "{name}: before the upgrade");
        step_through(&url, name, &pipe, &src, m, 0, first_v6).await;

        // the upgrade and the version-6 commits land
        copy_dir(&full.path, &live);
        let t = hps_hudi::HudiTable::open(src.store.clone())
            .await
            .expect("open");
        assert_eq!(t.config().table_version, 6, "{name}: after the upgrade");
        step_through(&url, name, &pipe, &src, m, first_v6, m.commits.len()).await;

        match table_type {
            TableType::CopyOnWrite => assert_staging_matches(&url, &src, &live).await,
            TableType::MergeOnRead => {
                let twin_table = gen_table(&cfg.v6_twin()).await;
                assert_staging_matches(&url, &src, &twin_table.path).await;
            }
        }
        let spec = target_of(&src).await;
        assert!(landing_duplicates(&url, &spec).await.is_empty());
    }
}

/// The logical-type columns (timestamp-millis, local-timestamp-millis/micros, time-micros,
/// uuid) of a version-5 COW table and of an upgraded MOR table reach staging with PostgreSQL
/// types that keep their meaning and with the values the generator wrote (the manifest is the
/// oracle: the `hudi` wheel cannot read these Avro types).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logical_types_reach_staging() {
    init_tracing();
    let pg = pg();
    let url = fresh_db(&pg);
    for (name, table_type, upgrade) in [
        ("lt_v5_cow", TableType::CopyOnWrite, None),
        ("lt_up_mor", TableType::MergeOnRead, Some(5)),
    ] {
        let cfg = GenConfig {
            logical_types: true,
            ..gen_cfg(name, table_type, upgrade)
        };
        let t = gen_table(&cfg).await;
        let stores = Stores::new(StoreKind::File).await;
        let pipe = pipeline("p1", &stores, &url, test_options());
        let src = source(name, &t.path, name);
        let n = t.manifest.commits.len();
        step_through(&url, name, &pipe, &src, &t.manifest, 0, n).await;

        let spec = target_of(&src).await;
        let c = client(&url).await;
        let types: std::collections::BTreeMap<String, String> = c
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = $2",
                &[&spec.schema, &spec.staging],
            )
            .await
            .expect("columns")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert_eq!(types["event_at"], "timestamp with time zone", "{name}");
        assert_eq!(
            types["local_at_ms"], "timestamp without time zone",
            "{name}"
        );
        assert_eq!(
            types["local_at_us"], "timestamp without time zone",
            "{name}"
        );
        assert_eq!(types["pickup_time"], "time without time zone", "{name}");
        assert!(
            ["text", "uuid"].contains(&types["ref_uuid"].as_str()),
            "{name}: ref_uuid {}",
            types["ref_uuid"]
        );
        let live = if types.contains_key("_hps_deleted") {
            " WHERE NOT _hps_deleted"
        } else {
            ""
        };
        let us = |col: &str| format!("(EXTRACT(EPOCH FROM {col}) * 1000000)::bigint");
        let sql = format!(
            "SELECT id, {}, {}, {}, {}, ref_uuid::text FROM {}.{}{live}",
            us("event_at"),
            us("local_at_ms"),
            us("local_at_us"),
            us("pickup_time"),
            hps_postgres::quote_ident(&spec.schema),
            hps_postgres::quote_ident(&spec.staging)
        );
        let rows = c.query(&sql, &[]).await.expect("staging");
        let state = t.manifest.expected_state();
        assert_eq!(rows.len(), state.len(), "{name}: live rows");
        for r in &rows {
            let id: i64 = r.get(0);
            let want = t
                .manifest
                .expected_row(id, state[&id])
                .and_then(|row| row.logical)
                .unwrap_or_else(|| panic!("{name}: id {id} is not live"));
            let got: (i64, i64, i64, i64, Option<String>) =
                (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
            assert_eq!(
                got,
                (
                    want.event_at_ms * 1000,
                    want.local_at_ms * 1000,
                    want.local_at_us,
                    want.pickup_time_us,
                    want.ref_uuid.clone()
                ),
                "{name}: id {id}"
            );
        }
    }
}
