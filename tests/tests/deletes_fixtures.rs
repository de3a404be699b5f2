//! Deletes on the Spark-written fixtures (`../shared/hudi-fixtures`), copy-on-write (derived by
//! `hps_hudi::deletes`: base-file key diffs, overwritten groups) and merge-on-read (DELETE log
//! blocks, overwritten groups):
//!
//! - per window of one write instant, the delete rows are exactly the keys documented in
//!   `../shared/docs/hudi-format.md` section 11 ("Deletes a complete change feed must add on top")
//!   and exactly the keys the `hudi` PyPI reader's snapshot loses across that instant
//!   (`tests/oracle/snapshot_asof.py`: hudi-rs time travel), versioned with that instant;
//! - replaying the windows' upserts and deletes in order onto an in-memory table gives, after
//!   every instant, the oracle's snapshot as of that instant (record key, commit time,
//!   partition path);
//! - one window over the whole timeline after the first instant replays the first snapshot
//!   into the last one;
//! - a previous slice removed by the cleaner is `HistoryNotRetained`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use futures::TryStreamExt;
use hps_hudi::{HudiError, HudiTable, ReadOptions};
use hps_storage::{DynStore, LocalStore};
use serde_json::Value;

/// Expected deletes of one instant: the `n`-th (1-based) write instant with this operation.
struct Expected {
    op: &'static str,
    nth: usize,
    deleted: Deleted,
}

enum Deleted {
    /// Record keys.
    Keys(&'static [&'static str]),
    /// Trips fixtures: the `rider` values of the deleted rows (keys are UUIDs).
    Riders(&'static [&'static str]),
}

const fn keys(op: &'static str, nth: usize, k: &'static [&'static str]) -> Expected {
    Expected {
        op,
        nth,
        deleted: Deleted::Keys(k),
    }
}

const TXNS: &[Expected] = &[
    keys("DELETE_PREPPED", 1, &["TXN-002"]),
    keys("DELETE_PREPPED", 2, &["TXN-005"]),
    keys(
        "INSERT_OVERWRITE",
        1,
        &["TXN-004", "TXN-006", "TXN-009", "TXN-010"],
    ),
];
const TXNS_NONPART: &[Expected] = &[
    keys("DELETE_PREPPED", 1, &["TXN-002"]),
    keys("DELETE_PREPPED", 2, &["TXN-005"]),
];
const OVERWRITE: &[Expected] = &[keys(
    "INSERT_OVERWRITE_TABLE",
    1,
    &[
        "TXN-001", "TXN-002", "TXN-003", "TXN-004", "TXN-005", "TXN-006", "TXN-007", "TXN-008",
    ],
)];

/// Every fixture with deletes or overwrites (section 11), COW and MOR.
const FIXTURES: &[(&str, &[Expected])] = &[
    (
        "sample_table/cow/v6_simplekeygen_nonhivestyle_overwritetable.zip",
        &[keys("INSERT_OVERWRITE_TABLE", 1, &["1", "2", "3"])],
    ),
    (
        "sample_table/cow/v9_timebasedkeygen_nonhivestyle.zip",
        &[keys("DELETE_PREPPED", 1, &["TXN-002"])],
    ),
    ("sample_table/cow/v9_txns_nonpart_nometa.zip", TXNS_NONPART),
    ("sample_table/cow/v9_txns_simple_meta.zip", TXNS),
    ("sample_table/cow/v9_txns_simple_overwrite.zip", OVERWRITE),
    (
        "quickstart_trips_table/mor/avro/v6_trips_8i3d.zip",
        &[Expected {
            op: "DELETE_PREPPED",
            nth: 1,
            deleted: Deleted::Riders(&["rider-A", "rider-C", "rider-D"]),
        }],
    ),
    (
        "quickstart_trips_table/mor/avro/v8_trips_8i3u1d.zip",
        &[
            Expected {
                op: "DELETE_PREPPED",
                nth: 1,
                deleted: Deleted::Riders(&["rider-F"]),
            },
            Expected {
                op: "DELETE_PREPPED",
                nth: 2,
                deleted: Deleted::Riders(&["rider-J"]),
            },
        ],
    ),
    (
        "sample_table/mor/avro/v9_txns_nonpart_nometa.zip",
        TXNS_NONPART,
    ),
    ("sample_table/mor/avro/v9_txns_simple_meta.zip", TXNS),
    (
        "sample_table/mor/avro/v9_txns_simple_overwrite.zip",
        OVERWRITE,
    ),
];

/// A row of the oracle's snapshot or of the replayed table: (commit time, partition path).
type Table = BTreeMap<String, (String, String)>;

/// The oracle snapshot as a table keyed by record key (a key written twice by INSERT, without
/// index lookup, keeps its newer row, as staging does); plus every row's `rider`, if any.
fn oracle_table(snap: &Value) -> (Table, BTreeMap<String, String>) {
    if let Some(e) = snap.get("error") {
        panic!("oracle failed as of {}: {e}", snap["as_of"]);
    }
    let mut t = Table::new();
    let mut riders = BTreeMap::new();
    for r in snap["rows"].as_array().expect("rows") {
        let s = |c: &str| {
            r.get(c)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let key = s("_hoodie_record_key");
        if let Some(rider) = r.get("rider").and_then(Value::as_str) {
            riders.insert(key.clone(), rider.to_string());
        }
        let row = (s("_hoodie_commit_time"), s("_hoodie_partition_path"));
        match t.get(&key) {
            Some(old) if old.0 >= row.0 => {}
            _ => {
                t.insert(key, row);
            }
        }
    }
    (t, riders)
}

/// One change row: (op, record key, commit time, partition path).
type Change = (String, String, String, String);

async fn window(table: &HudiTable, after: Option<&str>, until: Option<&str>) -> Vec<Change> {
    let plan = table
        .plan(after, until)
        .await
        .unwrap_or_else(|e| panic!("plan ({after:?}, {until:?}]: {e}"));
    let batches: Vec<RecordBatch> = table
        .read_changes(
            &plan,
            &ReadOptions {
                columns: None,
                batch_size: 5,
            },
        )
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("read ({after:?}, {until:?}]: {e}"));
    let mut out = Vec::new();
    for b in batches {
        let s = |c: &str| b.column_by_name(c).expect(c).as_string::<i32>().clone();
        let (op, k, ct, p) = (
            s("_op"),
            s("_hoodie_record_key"),
            s("_hoodie_commit_time"),
            s("_hoodie_partition_path"),
        );
        for i in 0..b.num_rows() {
            assert!(k.is_valid(i) && ct.is_valid(i) && op.is_valid(i));
            out.push((
                op.value(i).to_string(),
                k.value(i).to_string(),
                ct.value(i).to_string(),
                p.value(i).to_string(),
            ));
        }
    }
    out
}

/// Apply change rows in stream order under the version guard; returns the keys deleted.
fn apply(t: &mut Table, changes: &[Change], label: &str) -> BTreeSet<String> {
    let mut deleted = BTreeSet::new();
    for (op, k, ct, p) in changes {
        match op.as_str() {
            "upsert" => {
                if t.get(k).is_none_or(|old| old.0 <= *ct) {
                    t.insert(k.clone(), (ct.clone(), p.clone()));
                }
            }
            "delete" => {
                if let Some(old) = t.get(k) {
                    assert!(
                        old.0 <= *ct,
                        "{label}: delete of {k} at {ct} is older than the row ({})",
                        old.0
                    );
                    t.remove(k);
                }
                deleted.insert(k.clone());
            }
            other => panic!("{label}: _op {other:?}"),
        }
    }
    deleted
}

async fn check(name: &str, expected: &[Expected]) {
    let Some(fx) = hps_testkit::fixtures::unpack(name) else {
        hps_testkit::skip(&format!("../shared/hudi-fixtures/{name} is absent"));
        return;
    };
    let store: DynStore = Arc::new(LocalStore::new(&fx.path));
    let table = HudiTable::open(store).await.expect("open");
    let tl = table.timeline().await.expect("timeline");
    let writes: Vec<_> = tl
        .in_window_order()
        .into_iter()
        .filter(|i| i.action.is_write())
        .cloned()
        .collect();
    let mut ops = Vec::new();
    for w in &writes {
        ops.push(
            table
                .commit_metadata(w)
                .await
                .expect("metadata")
                .operation()
                .to_string(),
        );
    }
    let times: Vec<String> = writes.iter().map(|w| w.requested_time.clone()).collect();
    let path = fx.path.to_string_lossy().into_owned();
    let mut args = vec![path.as_str()];
    args.extend(times.iter().map(String::as_str));
    let oracle = hps_testkit::python::run_oracle("snapshot_asof.py", &args);
    let snaps: Vec<(Table, BTreeMap<String, String>)> = oracle
        .as_array()
        .expect("a list")
        .iter()
        .map(oracle_table)
        .collect();
    assert_eq!(snaps.len(), writes.len());

    // each expectation names an instant that exists
    for e in expected {
        let n = ops.iter().filter(|o| o.as_str() == e.op).count();
        assert!(n >= e.nth, "{name}: no {} #{} in {ops:?}", e.op, e.nth);
    }

    let mut replay = Table::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut total_deletes = 0;
    for (i, w) in writes.iter().enumerate() {
        let nth = {
            let c = seen.entry(ops[i].as_str()).or_default();
            *c += 1;
            *c
        };
        let label = format!("{name} instant {} ({} #{nth})", w.requested_time, ops[i]);
        let after = (i > 0).then(|| writes[i - 1].window_time().to_string());
        let changes = window(&table, after.as_deref(), Some(w.window_time())).await;
        let deleted = apply(&mut replay, &changes, &label);
        total_deletes += deleted.len();

        // replay == oracle as of this instant
        let (snap, _) = &snaps[i];
        assert_eq!(
            replay.keys().collect::<Vec<_>>(),
            snap.keys().collect::<Vec<_>>(),
            "{label}: keys differ from the oracle's snapshot"
        );
        assert_eq!(
            &replay, snap,
            "{label}: rows differ from the oracle's snapshot"
        );

        // deletes == what the snapshot lost, versioned with this instant
        let lost: BTreeSet<String> = if i == 0 {
            BTreeSet::new()
        } else {
            snaps[i - 1]
                .0
                .keys()
                .filter(|k| !snap.contains_key(*k))
                .cloned()
                .collect()
        };
        assert_eq!(
            deleted, lost,
            "{label}: delete rows vs keys the snapshot lost"
        );
        for (op, k, ct, _) in &changes {
            if op == "delete" {
                assert_eq!(
                    ct, &w.requested_time,
                    "{label}: version of the delete of {k}"
                );
            }
        }
        // and == the documented deletes
        let doc = expected.iter().find(|e| e.op == ops[i] && e.nth == nth);
        let got: BTreeSet<String> = match doc.map(|e| &e.deleted) {
            Some(Deleted::Riders(_)) => deleted
                .iter()
                .map(|k| {
                    snaps[i - 1]
                        .1
                        .get(k)
                        .cloned()
                        .unwrap_or_else(|| format!("<no rider for {k}>"))
                })
                .collect(),
            _ => deleted.clone(),
        };
        let want: BTreeSet<String> = match doc.map(|e| &e.deleted) {
            Some(Deleted::Keys(k) | Deleted::Riders(k)) => {
                k.iter().map(|s| s.to_string()).collect()
            }
            None => BTreeSet::new(),
        };
        assert_eq!(got, want, "{label}: documented deletes");
    }
    let documented: usize = expected
        .iter()
        .map(|e| match e.deleted {
            Deleted::Keys(k) | Deleted::Riders(k) => k.len(),
        })
        .sum();
    assert_eq!(total_deletes, documented, "{name}: every documented delete");

    // one window over everything after the first instant
    if writes.len() > 1 {
        let label = format!("{name} (first, latest]");
        let changes = window(&table, Some(writes[0].window_time()), None).await;
        let mut t = snaps[0].0.clone();
        let deleted = apply(&mut t, &changes, &label);
        assert_eq!(&t, &snaps[writes.len() - 1].0, "{label}");
        let lost: BTreeSet<String> = snaps[0]
            .0
            .keys()
            .filter(|k| !t.contains_key(*k))
            .cloned()
            .collect();
        if table.config().is_mor() {
            // merge-on-read reports deletes of keys inserted and deleted within the window too
            assert!(
                deleted.is_superset(&lost),
                "{label}: {deleted:?} vs {lost:?}"
            );
        } else {
            assert_eq!(deleted, lost, "{label}");
        }
    }
    eprintln!("{name}: {} instants, {total_deletes} deletes", writes.len());
}

/// The `i`-th entry of [`FIXTURES`].
async fn check_at(i: usize) {
    let (name, expected) = FIXTURES[i];
    check(name, expected).await;
}

hps_testkit::fixture_tests! {
    check_at;
    cow_v6_overwritetable => 0,
    cow_v9_timebasedkeygen => 1,
    cow_v9_txns_nonpart_nometa => 2,
    cow_v9_txns_simple_meta => 3,
    cow_v9_txns_simple_overwrite => 4,
    mor_v6_trips_8i3d => 5,
    mor_v8_trips_8i3u1d => 6,
    mor_v9_txns_nonpart_nometa => 7,
    mor_v9_txns_simple_meta => 8,
    mor_v9_txns_simple_overwrite => 9,
}

/// The fixture's previous slice of a delete, removed as a cleaner would: resync.
#[tokio::test]
async fn cleaned_previous_slice_of_a_fixture_delete() {
    let name = "sample_table/cow/v9_txns_simple_meta.zip";
    let Some(fx) = hps_testkit::fixtures::unpack(name) else {
        hps_testkit::skip(&format!("../shared/hudi-fixtures/{name} is absent"));
        return;
    };
    // DELETE_PREPPED 20260307162442820 removed TXN-002 from this version of the group
    let old = "region=us/c7bbe63e-fa43-40ba-94a9-03158165edc6-0_0-52-126_20260307162440672.parquet";
    std::fs::remove_file(fx.path.join(old)).expect("the previous slice exists");
    let table = HudiTable::open(Arc::new(LocalStore::new(&fx.path)))
        .await
        .expect("open");
    // the delete's own window (completion times)
    let e = table
        .plan(Some("20260307162441724"), Some("20260307162443659"))
        .await
        .unwrap_err();
    match &e {
        HudiError::HistoryNotRetained { file, instant, .. } => {
            assert_eq!(file, old);
            assert_eq!(instant, "20260307162440672");
        }
        other => panic!("expected HistoryNotRetained, got {other}"),
    }
    assert!(e.needs_resync());
    // windows that do not need it still read
    let changes = window(&table, Some("20260307162443659"), None).await;
    assert!(!changes.is_empty());
}

/// The fixture list covers every fixture whose section-11 entry has deletes.
#[test]
fn every_fixture_with_deletes_is_checked() {
    let names: BTreeSet<&str> = FIXTURES.iter().map(|(n, _)| *n).collect();
    for n in [
        "quickstart_trips_table/mor/avro/v6_trips_8i3d.zip",
        "quickstart_trips_table/mor/avro/v8_trips_8i3u1d.zip",
        "sample_table/cow/v9_txns_simple_meta.zip",
        "sample_table/mor/avro/v9_txns_simple_meta.zip",
        "sample_table/cow/v9_txns_nonpart_nometa.zip",
        "sample_table/mor/avro/v9_txns_nonpart_nometa.zip",
        "sample_table/cow/v9_txns_simple_overwrite.zip",
        "sample_table/mor/avro/v9_txns_simple_overwrite.zip",
        "sample_table/cow/v6_simplekeygen_nonhivestyle_overwritetable.zip",
        "sample_table/cow/v9_timebasedkeygen_nonhivestyle.zip",
    ] {
        assert!(names.contains(n), "{n}");
    }
}
