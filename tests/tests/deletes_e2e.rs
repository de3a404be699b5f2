//! Deletes end to end into PostgreSQL: every fixture with deletes or overwrites (COW and MOR)
//! is synced instant by instant (`PassMode::Step`), and after every pass staging equals the
//! `hudi` PyPI reader's snapshot as of the applied instant, row for row and column for column
//! (`tests/oracle/snapshot_asof.py`, hudi-rs time travel). A delete that did not reach staging,
//! or reached it too early, shows as a row staging has and the snapshot lacks (or the reverse).

mod sync_common;

use std::time::Duration;

use hps_hudi::HudiTable;
use hps_storage::{DynStore, LocalStore};
use hps_sync::{PassMode, PassOutcome};
use serde_json::Value;
use std::sync::Arc;
use sync_common::*;

const FIXTURES: &[&str] = &[
    "sample_table/cow/v6_simplekeygen_nonhivestyle_overwritetable.zip",
    "sample_table/cow/v9_timebasedkeygen_nonhivestyle.zip",
    "sample_table/cow/v9_txns_nonpart_nometa.zip",
    "sample_table/cow/v9_txns_simple_meta.zip",
    "sample_table/cow/v9_txns_simple_overwrite.zip",
    "quickstart_trips_table/mor/avro/v6_trips_8i3d.zip",
    "quickstart_trips_table/mor/avro/v8_trips_8i3u1d.zip",
    "sample_table/mor/avro/v9_txns_nonpart_nometa.zip",
    "sample_table/mor/avro/v9_txns_simple_meta.zip",
    "sample_table/mor/avro/v9_txns_simple_overwrite.zip",
];

/// Sync one fixture step by step; the problems found after each instant.
async fn step_by_step(url: &str, idx: usize, name: &str) -> Vec<String> {
    let fx = hps_testkit::fixtures::unpack(name).expect("fixture");
    let store: DynStore = Arc::new(LocalStore::new(&fx.path));
    let table = HudiTable::open(store).await.expect("open");
    let tl = table.timeline().await.expect("timeline");
    let writes: Vec<String> = tl
        .in_window_order()
        .into_iter()
        .filter(|i| i.action.is_write())
        .map(|i| i.requested_time.clone())
        .collect();
    let path = fx.path.to_string_lossy().into_owned();
    let mut args = vec![path.as_str()];
    args.extend(writes.iter().map(String::as_str));
    let oracle = hps_testkit::python::run_oracle("snapshot_asof.py", &args);
    let snaps: &Vec<Value> = oracle.as_array().expect("a list");
    assert_eq!(snaps.len(), writes.len());

    let stores = Stores::new(StoreKind::File).await;
    let pipe = pipeline("deletes", &stores, url, test_options());
    let src = source(name, &fx.path, &format!("del{idx}"));
    let spec = target_of(&src).await;
    let c = client(url).await;
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    for _ in 0..200 {
        let o = pipe
            .run_pass(&src, None, PassMode::Step)
            .await
            .unwrap_or_else(|e| panic!("{name}: pass: {e}"));
        match o {
            PassOutcome::Applied(r) => {
                assert!(r.cursor.is_none(), "{name}: a step applies whole instants");
                let pos = r.position.expect("a position");
                let i = writes
                    .iter()
                    .position(|w| *w == pos.requested_time)
                    .unwrap_or_else(|| panic!("{name}: applied {pos:?}, not a write instant"));
                let rows = staging_rows(&c, &spec).await;
                let p = diff_with_oracle(&snaps[i], &rows);
                if !p.is_empty() {
                    problems.push(format!(
                        "{name} after {} ({} staging rows):\n    {}",
                        pos.requested_time,
                        rows.len(),
                        p.join("\n    ")
                    ));
                }
                checked.push(i);
            }
            PassOutcome::UpToDate { .. } => break,
            PassOutcome::Busy(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
    assert_eq!(
        checked,
        (0..writes.len()).collect::<Vec<_>>(),
        "{name}: one pass per write instant, in order"
    );
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_equals_the_snapshot_after_every_instant() {
    init_tracing();
    if hps_testkit::shared_dir().is_none() {
        hps_testkit::skip("../shared/hudi-fixtures is absent: deletes e2e not run");
        return;
    }
    let pg = pg();
    let url = fresh_db(&pg);
    let mut failures = Vec::new();
    for (i, name) in FIXTURES.iter().enumerate() {
        failures.extend(step_by_step(&url, i, name).await);
    }
    assert!(
        failures.is_empty(),
        "staging differs from the snapshot:\n{}",
        failures.join("\n")
    );
}
