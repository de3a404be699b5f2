//! Real tables written by other projects (table versions 3 to 8, logical types that changed
//! across upgrades, a timestamp-based key generator) sync into PostgreSQL commit by commit,
//! the first window as a bulk bootstrap (shadow table swapped in).
//!
//! Oracles:
//! - `hudi_v4_table`, `hudi_v5_table`, `hudi_v8_table`: the `hudi` wheel refuses versions below
//!   6, so staging is compared column by column with the wheel's snapshot of their twin
//!   `hudi_v6_table` (the same workload written by Hudi 0.14): record keys, partition paths
//!   and every data column; commit times and sequence numbers differ between twins and are
//!   left out;
//! - the logical-types and timestamp-key-generator tables: the wheel cannot read them, so the
//!   keys of staging are compared with `tests/oracle/realworld_snapshot.py` (pyarrow and
//!   fastavro over the table's own files); their values are compared at the reader level in
//!   `shared/hudi/tests/realworld_types.rs`;
//! - `hudi_streamer_multiwriter_cow` (table version 3, Hudi 0.10, two writers, 14-digit
//!   instants): the wheel refuses it, so staging's partition paths, keys and commit times are
//!   compared with `tests/oracle/cow_latest_base.py` (pyarrow over the newest committed base
//!   file of each file group).

mod sync_common;

use std::collections::BTreeSet;
use std::path::Path;

use hps_sync::PassMode;
use serde_json::Value;
use sync_common::*;

/// The wheel's snapshot of `twin` without the columns that differ between twins.
fn twin_oracle(twin: &Path) -> Value {
    let mut v = (*oracle_snapshot(twin)).clone();
    let drop = ["_hoodie_commit_time", "_hoodie_commit_seqno"];
    if let Some(rows) = v["rows"].as_array_mut() {
        for r in rows {
            if let Some(o) = r.as_object_mut() {
                for c in drop {
                    o.remove(c);
                }
            }
        }
    }
    if let Some(t) = v["types"].as_object_mut() {
        for c in drop {
            t.remove(c);
        }
    }
    v
}

async fn sync(
    pg: &hps_testkit::postgres::PgCluster,
    name: &str,
    path: &Path,
) -> (String, hps_sync::TableSource) {
    let url = fresh_db(pg);
    let stores = Stores::new(StoreKind::File).await;
    let pipe = pipeline("p", &stores, &url, test_options());
    // default landing retention: each table's first window is a bulk bootstrap
    let src = source_bulk("rw", path, "rw");
    let outs = run_until_up_to_date(&pipe, &src, PassMode::Step).await;
    assert!(outs.len() >= 2, "{name}: {outs:?}");
    (url, src)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_table_versions_sync_like_their_v6_twin() {
    init_tracing();
    let pg = pg();
    let Some(twin) = hps_testkit::fixtures::unpack_realworld("hudi_v6_table.zip") else {
        hps_testkit::skip("../shared/realworld-fixtures is absent");
        return;
    };
    let expected = twin_oracle(&twin.path);
    assert_eq!(expected["rows"].as_array().map(Vec::len), Some(8));
    for name in [
        "hudi_v4_table.zip",
        "hudi_v5_table.zip",
        "hudi_v8_table.zip",
    ] {
        let t = hps_testkit::fixtures::unpack_realworld(name).expect("fixture");
        let (url, src) = sync(&pg, name, &t.path).await;
        let spec = target_of(&src).await;
        let rows = staging_rows(&client(&url).await, &spec).await;
        let problems = diff_with_oracle(&expected, &rows);
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logical_type_and_keygen_tables_sync_with_one_type_per_column() {
    init_tracing();
    let pg = pg();
    let tables = [
        (
            "hudi_trips_logical_types_json_cow_read_v6.zip",
            &["_row_key", "-", "_row_key"][..],
            "_row_key",
        ),
        (
            "hudi_trips_logical_types_json_mor_read_v8.zip",
            &["_row_key", "timestamp", "_row_key"][..],
            "_row_key",
        ),
        (
            "trino_hudi_timestamp_keygen_pt_epoch_to_yyyy_mm_dd_hh_v8_mor.zip",
            &["id", "ts", "id", "--numeric", "partition_field"][..],
            "id",
        ),
    ];
    for (name, args, key) in tables {
        let Some(t) = hps_testkit::fixtures::unpack_realworld(name) else {
            hps_testkit::skip("../shared/realworld-fixtures is absent");
            return;
        };
        let table = t.path.to_string_lossy().into_owned();
        let mut all = vec![table.as_str()];
        all.extend_from_slice(args);
        let expected: BTreeSet<String> =
            hps_testkit::python::run_oracle_text("realworld_snapshot.py", &all)
                .lines()
                .map(|l| l.trim().trim_start_matches(&format!("{key}=")).to_string())
                .filter(|l| !l.is_empty())
                .collect();
        assert!(!expected.is_empty(), "{name}");
        let (url, src) = sync(&pg, name, &t.path).await;
        let spec = target_of(&src).await;
        let rows = staging_rows(&client(&url).await, &spec).await;
        let got: BTreeSet<String> = rows
            .iter()
            .filter_map(|r| r.get(key).cloned().flatten())
            .collect();
        assert_eq!(got, expected, "{name}: staging keys");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_streamer_table_with_two_writers_syncs_commit_by_commit() {
    init_tracing();
    let pg = pg();
    let name = "hudi_streamer_multiwriter_cow.zip";
    let Some(t) = hps_testkit::fixtures::unpack_realworld(name) else {
        hps_testkit::skip("../shared/realworld-fixtures is absent");
        return;
    };
    let table = t.path.to_string_lossy().into_owned();
    let expected: BTreeSet<String> =
        hps_testkit::python::run_oracle_text("cow_latest_base.py", &[table.as_str()])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
    assert_eq!(expected.len(), 3000, "{name}: oracle rows");
    let (url, src) = sync(&pg, name, &t.path).await;
    let spec = target_of(&src).await;
    let rows = staging_rows(&client(&url).await, &spec).await;
    let col = |r: &std::collections::BTreeMap<String, Option<String>>, c: &str| {
        r.get(c).cloned().flatten().unwrap_or_default()
    };
    let got: BTreeSet<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{}\t{}\t{}",
                col(r, "_hoodie_partition_path"),
                col(r, "_hoodie_record_key"),
                col(r, "_hoodie_commit_time")
            )
        })
        .collect();
    assert_eq!(got.len(), rows.len(), "{name}: one staging row per key");
    assert_eq!(got, expected, "{name}: staging");
}
