//! Conformance of hps-hudi's merge-on-read reads over every MOR table in
//! `../shared/hudi-fixtures` (v6 Avro and parquet log blocks, v6 rollback command block, v8
//! with compaction, v9 with rollback, insert_overwrite, compaction and clustering), read from
//! local directories:
//! - upsert rows of every window (consecutive instants, `(beginning, latest]`,
//!   `(first, latest]`) equal what the `hudi` PyPI package (hudi-rs 0.5.0) returns for the same
//!   incremental window (`hudi_conformance/mod.rs`);
//! - delete rows equal the deletes the fixtures' DELETE blocks recorded in the window that no
//!   later write of the window superseded (../shared/docs/hudi-format.md section 11: `v6_trips_8i3d` riders A,
//!   C, D; `v8_trips_8i3u1d` F and J; `v9_txns_*` TXN-002 and TXN-005). hudi-rs reports no
//!   deletes, so the expected sets are derived here from those facts and the window rule
//!   (a delete belongs to a window when its deltacommit's window key is inside it);
//! - every delete row has the contract's shape: `_hoodie_commit_time` = the deleting
//!   deltacommit, record key, partition path, the key column parsed from the record key, and
//!   nulls in every other column (the fixtures' deletes carry no ordering value).
//!
//! An insert and a delete of the same key inside one window (e.g. `(beginning, latest]`) yield
//! a delete row: the sink ignores deletes of keys it does not hold.
//!
//! Delete rows written by a replacecommit (insert_overwrite retractions, issue 8) are not
//! MOR log deletes; they are only required to carry a replacecommit of the window as commit
//! time here.

mod hudi_conformance;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hps_hudi::instant::compare_instant_times;
use hps_hudi::{Action, HudiTable};
use hps_storage::{DynStore, LocalStore};
use hudi_conformance::{Expect, FIXTURES, Summary, check_fixture};
use serde_json::Value;

/// What a fixture's DELETE blocks hold.
struct Deletes {
    /// The record key column.
    key_column: &'static str,
    /// A column naming rows in ../shared/docs/hudi-format.md (riders), used to find their keys in the
    /// oracle's rows; `None` when the doc names the keys themselves.
    label_column: Option<&'static str>,
    /// (requested time of the deleting deltacommit, labels or keys it deleted)
    by_instant: &'static [(&'static str, &'static [&'static str])],
}

const NO_DELETES: Deletes = Deletes {
    key_column: "",
    label_column: None,
    by_instant: &[],
};

fn deletes_of(name: &str) -> Deletes {
    match name {
        "quickstart_trips_table/mor/avro/v6_trips_8i3d.zip" => Deletes {
            key_column: "uuid",
            label_column: Some("rider"),
            by_instant: &[("20250618054714114", &["rider-A", "rider-C", "rider-D"])],
        },
        "quickstart_trips_table/mor/avro/v8_trips_8i3u1d.zip" => Deletes {
            key_column: "uuid",
            label_column: Some("rider"),
            by_instant: &[
                ("20251220210125441", &["rider-F"]),
                ("20251220210128625", &["rider-J"]),
            ],
        },
        "sample_table/mor/avro/v9_txns_simple_meta.zip" => Deletes {
            key_column: "txn_id",
            label_column: None,
            by_instant: &[
                ("20260307162606034", &["TXN-002"]),
                ("20260307162609526", &["TXN-005"]),
            ],
        },
        "sample_table/mor/avro/v9_txns_nonpart_nometa.zip" => Deletes {
            key_column: "txn_id",
            label_column: None,
            by_instant: &[
                ("20260307135931043", &["TXN-002"]),
                ("20260307135933015", &["TXN-005"]),
            ],
        },
        _ => NO_DELETES,
    }
}

/// key -> (partition path, every column of its first version) from the oracle's rows.
type Known = BTreeMap<String, (String, serde_json::Map<String, Value>)>;

/// The oracle's view of every key ever written: the `(beginning, first]` .. windows' rows,
/// read with the oracle script on its own (independent of hps-hudi).
fn oracle_keys(table_dir: &std::path::Path, windows: &[String]) -> Known {
    let dir = table_dir.to_string_lossy().into_owned();
    let mut args: Vec<&str> = vec![dir.as_str()];
    args.extend(windows.iter().map(String::as_str));
    let out = hps_testkit::python::run_oracle("hudi_incremental.py", &args);
    let mut known = Known::new();
    for w in out.as_array().expect("oracle list") {
        for r in w["rows"].as_array().into_iter().flatten() {
            let r = r.as_object().expect("row object").clone();
            let key = r["_hoodie_record_key"].as_str().unwrap().to_string();
            let part = r["_hoodie_partition_path"].as_str().unwrap().to_string();
            known.entry(key).or_insert((part, r));
        }
    }
    known
}

async fn run(name: &str) {
    let Some(&(_, expect)) = FIXTURES.iter().find(|(n, _)| *n == name) else {
        panic!("{name} is not in FIXTURES");
    };
    let Some(fx) = hps_testkit::fixtures::unpack(name) else {
        hps_testkit::skip(&format!("../shared/hudi-fixtures/{name} is absent"));
        return;
    };
    let store: DynStore = Arc::new(LocalStore::new(&fx.path));
    let summary = check_fixture(name, expect, &fx.path, store.clone()).await;
    check_deletes(name, &fx.path, store, &summary).await;
}

/// The delete rows of every window against the fixture's known deletes.
async fn check_deletes(
    name: &str,
    table_dir: &std::path::Path,
    store: DynStore,
    summary: &Summary,
) {
    let spec = deletes_of(name);
    let table = HudiTable::open(store).await.unwrap();
    let tl = table.timeline().await.unwrap();
    let replacecommits: BTreeMap<String, String> = tl
        .completed
        .iter()
        .filter(|i| i.action == Action::ReplaceCommit)
        .map(|i| (i.requested_time.clone(), i.window_time().to_string()))
        .collect();
    // every key and its partition, from the oracle's per-instant windows
    let keys_windows: Vec<String> = {
        let mut prev = String::new();
        tl.in_window_order()
            .iter()
            .map(|i| {
                let w = format!("{prev}:{}", i.window_time());
                prev = i.window_time().to_string();
                w
            })
            .collect()
    };
    let known = if spec.by_instant.is_empty() {
        Known::new()
    } else {
        oracle_keys(table_dir, &keys_windows)
    };
    // (window key, requested time, record key) of every known delete
    let mut all_deletes: Vec<(String, String, String)> = Vec::new();
    for (instant, labels) in spec.by_instant {
        let i = tl
            .completed_by_requested(instant)
            .unwrap_or_else(|| panic!("{name}: no completed instant {instant}"));
        assert_eq!(i.action, Action::DeltaCommit);
        for label in *labels {
            let key = match spec.label_column {
                None => label.to_string(),
                Some(col) => known
                    .iter()
                    .find(|(_, (_, row))| row.get(col).and_then(Value::as_str) == Some(label))
                    .map(|(k, _)| k.clone())
                    .unwrap_or_else(|| panic!("{name}: no row with {col} = {label}")),
            };
            all_deletes.push((i.window_time().to_string(), instant.to_string(), key));
        }
    }

    let in_window = |after: &Option<String>, until: &Option<String>, t: &str| {
        after
            .as_deref()
            .is_none_or(|a| compare_instant_times(t, a).is_gt())
            && until
                .as_deref()
                .is_none_or(|u| compare_instant_times(t, u).is_le())
    };
    let mut checked = 0;
    for w in &summary.windows {
        let label = format!(
            "{name} window ({}, {}]",
            w.after.as_deref().unwrap_or("beginning"),
            w.until.as_deref().unwrap_or("latest")
        );
        // the fixtures never write a key again after deleting it: no delete is superseded
        let expected: BTreeMap<String, String> = all_deletes
            .iter()
            .filter(|(wk, _, _)| in_window(&w.after, &w.until, wk))
            .map(|(_, instant, key)| (key.clone(), instant.clone()))
            .collect();
        let mut log_deletes: BTreeMap<String, String> = BTreeMap::new();
        for d in &w.deletes {
            let s = |c: &str| d.get(c).and_then(Value::as_str).map(str::to_string);
            let key = s("_hoodie_record_key").unwrap_or_else(|| panic!("{label}: {d:?}"));
            let time = s("_hoodie_commit_time").unwrap_or_else(|| panic!("{label}: {d:?}"));
            if let Some(rc_window) = replacecommits.get(&time) {
                // issue 8's retractions: only their commit time is checked here
                assert!(
                    in_window(&w.after, &w.until, rc_window),
                    "{label}: retraction {key} by a replacecommit outside the window"
                );
                continue;
            }
            assert!(
                log_deletes.insert(key.clone(), time.clone()).is_none(),
                "{label}: {key} deleted twice"
            );
            // the contract's delete row shape
            let (partition, first) = known
                .get(&key)
                .unwrap_or_else(|| panic!("{label}: delete of unknown key {key}"));
            assert_eq!(
                s("_hoodie_partition_path").as_deref(),
                Some(partition.as_str()),
                "{label}: {key}"
            );
            assert_eq!(
                d.get(spec.key_column),
                first.get(spec.key_column),
                "{label}: key column of {key}"
            );
            for (col, v) in d {
                let filled = [
                    "_hoodie_commit_time",
                    "_hoodie_record_key",
                    "_hoodie_partition_path",
                    spec.key_column,
                ];
                if !filled.contains(&col.as_str()) {
                    assert!(v.is_null(), "{label}: {key}: column {col} = {v}");
                }
            }
        }
        assert_eq!(
            log_deletes, expected,
            "{label}: delete rows (key -> instant)"
        );
        checked += expected.len();
    }
    if !spec.by_instant.is_empty() {
        assert!(checked > 0, "{name}: no delete was ever expected");
    }
    eprintln!("{name}: {checked} delete rows checked");
}

/// Every MOR fixture is run here (and no COW one).
#[test]
fn every_mor_fixture_is_covered() {
    let mor: BTreeSet<&str> = FIXTURES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| n.contains("/mor/"))
        .collect();
    let here: BTreeSet<&str> = MOR_TESTS.iter().copied().collect();
    assert_eq!(mor, here);
    assert!(
        FIXTURES
            .iter()
            .filter(|(_, e)| *e == Expect::Mor)
            .all(|(n, _)| here.contains(n))
    );
}

hps_testkit::fixture_tests! {
    const MOR_TESTS;
    run;
    trips_v6_8i1u => "quickstart_trips_table/mor/avro/v6_trips_8i1u.zip",
    trips_v6_8i3d => "quickstart_trips_table/mor/avro/v6_trips_8i3d.zip",
    trips_v8_8i3u1d => "quickstart_trips_table/mor/avro/v8_trips_8i3u1d.zip",
    mor_v9_nonpartitioned_rollback => "sample_table/mor/avro/v9_nonpartitioned_rollback.zip",
    mor_v9_txns_nonpart_nometa => "sample_table/mor/avro/v9_txns_nonpart_nometa.zip",
    mor_v9_txns_simple_meta => "sample_table/mor/avro/v9_txns_simple_meta.zip",
    mor_v9_txns_simple_overwrite => "sample_table/mor/avro/v9_txns_simple_overwrite.zip",
    mor_v6_empty => "sample_table/mor/parquet/v6_empty.zip",
    mor_v6_nonpartitioned => "sample_table/mor/parquet/v6_nonpartitioned.zip",
    mor_v6_nonpartitioned_rollback => "sample_table/mor/parquet/v6_nonpartitioned_rollback.zip",
    mor_v6_simplekeygen_nonhivestyle => "sample_table/mor/parquet/v6_simplekeygen_nonhivestyle.zip",
}
