//! `on_schema_change` through the sync pipeline, on a generated Hudi table whose staging table
//! is behind the Hudi schema: after the first instant is applied, staging's `quantity` is
//! narrowed to `smallint` (so the next instants' `integer` is a widening staging needs), and a
//! column left out at first (`description`) arrives when the mapping takes every column.
//! `stop` and `freeze` halt at the instant after the fence with an error naming it, the fence
//! stays; `evolve` then applies the rest and staging equals the oracle's snapshot, with the
//! schema history holding exactly the DDL the catalog shows.

mod sync_common;

use hps_gen::{GenConfig, TableType, TableVersion};
use hps_postgres::{OnSchemaChange, schema_history};
use hps_sync::{ColumnMapping, ColumnSelect, PassMode, TableSource, TargetOverrides};
use sync_common::*;

fn gen_config() -> GenConfig {
    GenConfig {
        table_name: "schema_change".into(),
        table_type: TableType::CopyOnWrite,
        table_version: TableVersion::V9,
        partitions: 2,
        rows: 200,
        commits: 3,
        update_fraction: 0.3,
        insert_fraction: 0.1,
        delete_fraction: 0.05,
        rows_per_file_group: 100,
        threads: 1,
        ..Default::default()
    }
}

fn with_mode(src: TableSource, mode: OnSchemaChange) -> TableSource {
    let t = TargetOverrides {
        on_schema_change: Some(mode),
        ..src.target.clone()
    };
    src.with_target(t)
}

async fn column_type(url: &str, schema: &str, table: &str, column: &str) -> Option<String> {
    client(url)
        .await
        .query_opt(
            "SELECT data_type::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 AND column_name = $3",
            &[&schema, &table, &column],
        )
        .await
        .unwrap()
        .map(|r| r.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_freeze_halt_at_the_change_and_evolve_applies_it() {
    init_tracing();
    let pg = pg();
    let url = fresh_db(&pg);
    let table = gen_table(&gen_config()).await;
    let commits = &table.manifest.commits;
    let (c1, c2) = (&commits[0], &commits[1]);
    let last = commits.last().unwrap();
    assert!(commits.len() >= 3);
    let stores = Stores::new(StoreKind::File).await;
    let pipe = pipeline("schema", &stores, &url, test_options());
    let c = client(&url).await;

    for (id, mode) in [
        ("stopped", OnSchemaChange::Stop),
        ("frozen", OnSchemaChange::Freeze),
    ] {
        // the first instant, with staging created under the mode (creation is no change)
        let src = with_mode(source(id, &table.path, id), mode);
        let out = pipe.run_pass(&src, None, PassMode::Step).await.unwrap();
        assert!(matches!(out, hps_sync::PassOutcome::Applied(_)), "{out:?}");
        let spec = target_of(&src).await;
        let st = pipe.status(&src).await.unwrap();
        let fence_at =
            |st: &hps_sync::TableStatus| st.fence.as_ref().and_then(|f| f.position.clone());
        assert_eq!(fence_at(&st), Some(commit_position(c1)));
        c.batch_execute(&format!(
            "ALTER TABLE {} ALTER COLUMN quantity TYPE smallint",
            spec.display_name()
        ))
        .await
        .unwrap();
        let mut rows_before = staging_rows(&c, &spec).await;
        rows_before.sort();

        // the next window holds c2 to the last commit: the error names c2, the fence stays at c1
        let e = pipe
            .run_pass(&src, None, PassMode::ToLatest)
            .await
            .unwrap_err();
        let m = e.to_string();
        assert!(!e.is_transient(), "{m}");
        for needle in [
            format!("instant {}", c2.instant),
            "\"quantity\"".to_string(),
            "smallint".to_string(),
            "integer".to_string(),
            spec.display_name(),
        ] {
            assert!(m.contains(&needle), "{id}: {needle} not in {m}");
        }
        assert!(!m.contains(&last.instant), "{id}: {m}");
        let st = pipe.status(&src).await.unwrap();
        assert_eq!(fence_at(&st), Some(commit_position(c1)), "{id}");
        let mut rows_after = staging_rows(&c, &spec).await;
        rows_after.sort();
        assert_eq!(rows_after, rows_before, "{id}: nothing written");
        assert_eq!(
            column_type(&url, id, "schema_change", "quantity")
                .await
                .as_deref(),
            Some("smallint")
        );

        // switched to evolve: the rest applies and staging equals the snapshot
        let src = with_mode(src, OnSchemaChange::Evolve);
        run_until_up_to_date(&pipe, &src, PassMode::ToLatest).await;
        assert_staging_matches(&url, &src, &table.path).await;
        assert_eq!(
            column_type(&url, id, "schema_change", "quantity")
                .await
                .as_deref(),
            Some("integer")
        );
        // the history: the creation at c1, the widening at the window c2..c3
        let h = schema_history(&c, id, Some("schema_change")).await.unwrap();
        let staging: Vec<(&str, Option<&str>, &str)> = h
            .iter()
            .filter(|r| r.target_table == "schema_change")
            .map(|r| {
                (
                    r.reason.as_str(),
                    r.instant.as_deref(),
                    r.statement.as_str(),
                )
            })
            .collect();
        assert_eq!(staging.len(), 2, "{staging:?}");
        assert_eq!(staging[0].0, "created");
        assert_eq!(staging[0].1, Some(c1.instant.as_str()));
        assert_eq!(
            staging[1],
            (
                "widening",
                Some(format!("{}..{}", c2.instant, last.instant).as_str()),
                format!(
                    "ALTER TABLE \"{id}\".\"schema_change\" ALTER COLUMN \"quantity\" TYPE integer"
                )
                .as_str()
            )
        );
        assert!(h.iter().all(|r| r.table_id.as_deref() == Some(id)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_leaves_a_new_column_out_and_loads_the_rest() {
    init_tracing();
    let pg = pg();
    let url = fresh_db(&pg);
    let table = gen_table(&gen_config()).await;
    let stores = Stores::new(StoreKind::File).await;
    let pipe = pipeline("freeze", &stores, &url, test_options());
    let c = client(&url).await;

    // the reference: every column, evolving, in the same windows (a row a later commit
    // rewrote unchanged keeps the file name of the window that first applied it)
    let plain = source("plain", &table.path, "plain");
    pipe.run_pass(&plain, None, PassMode::Step).await.unwrap();
    run_until_up_to_date(&pipe, &plain, PassMode::ToLatest).await;
    assert_staging_matches(&url, &plain, &table.path).await;

    // frozen after the first instant without `description`; then every column arrives
    let without = ColumnMapping {
        select: ColumnSelect::Exclude(vec!["description".into()]),
        ..Default::default()
    };
    let src = with_mode(
        source("frozen", &table.path, "frozen"),
        OnSchemaChange::Freeze,
    );
    let first = src.clone().with_columns(without);
    pipe.run_pass(&first, None, PassMode::Step).await.unwrap();
    let spec = target_of(&src).await;
    let history = schema_history(&c, "frozen", None).await.unwrap();
    run_until_up_to_date(&pipe, &src, PassMode::ToLatest).await;
    assert_eq!(
        column_type(&url, "frozen", "schema_change", "description").await,
        None
    );
    assert_eq!(schema_history(&c, "frozen", None).await.unwrap(), history);
    // every other value equals the evolving sync's (itself equal to the snapshot)
    let mut want = staging_rows(&c, &target_of(&plain).await).await;
    for r in &mut want {
        r.remove("description");
    }
    want.sort();
    let mut got = staging_rows(&c, &spec).await;
    got.sort();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        let differ: Vec<_> = g
            .iter()
            .filter(|(k, v)| w.get(*k) != Some(v))
            .map(|(k, v)| (k, v, w.get(k)))
            .collect();
        assert!(differ.is_empty(), "{differ:?}");
        assert_eq!(g.len(), w.len(), "{:?} vs {:?}", g.keys(), w.keys());
    }
}
