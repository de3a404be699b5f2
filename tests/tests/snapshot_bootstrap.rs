//! Snapshot bootstrap: tables whose history is not complete any more (archived instants,
//! cleaned files) are loaded from the latest committed slice of every file group, then
//! continue incrementally.
//!
//! Oracles: the `hudi` PyPI reader's snapshot (`tests/oracle/snapshot.py`) of the same table,
//! or, for a table as of an earlier instant, of a copy from which the later commits (instant
//! files and every file they wrote) were removed. The `hudi` reader ignores archives.
//! - reader level: `HudiTable::plan_snapshot` + `read_changes` on the real archived tables of
//!   `../shared/realworld-fixtures` (v6 layout-1 archive with cleaned files, v8 LSM history)
//!   and on every Spark-written fixture the oracle reads;
//! - pipeline level: a new table with archived instants bootstraps by itself (pass report,
//!   status), never reads files of writers that are not committed, and then continues
//!   incrementally; a resync uses the same snapshot plan.

mod sync_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use hps_gen::{GenConfig, TableType, TableVersion};
use hps_hudi::{HudiError, HudiTable, ReadOptions};
use hps_storage::{DynStore, LocalStore};
use hps_sync::{PassMode, PassOutcome};
use serde_json::Value;
use sync_common::*;

/// (partition path, record key, commit time): tables written with `insert` may hold a key
/// twice (the snapshot holds both copies, as the oracle's does).
type RowId = (String, String, String);

fn row_id(row: &serde_json::Map<String, Value>) -> RowId {
    (
        text(row, "_hoodie_partition_path"),
        text(row, "_hoodie_record_key"),
        text(row, "_hoodie_commit_time"),
    )
}

/// Rows of a snapshot plan, canonical JSON (see `snapshot.py`), by [`RowId`].
async fn snapshot_rows(path: &Path) -> BTreeMap<RowId, serde_json::Map<String, Value>> {
    let store: DynStore = Arc::new(LocalStore::new(path));
    let table = HudiTable::open(store).await.expect("open");
    let plan = table.plan_snapshot(None).await.expect("snapshot plan");
    assert!(plan.snapshot);
    let mut stream = table.read_changes(
        &plan,
        &ReadOptions {
            columns: None,
            batch_size: 4,
        },
    );
    let mut out = BTreeMap::new();
    while let Some(b) = stream.try_next().await.expect("read") {
        for mut row in hudi_pg_sync::json::batch_to_rows(&b).expect("json") {
            let op = row.remove("_op");
            if op != Some(Value::String("upsert".into())) {
                // a snapshot into an empty table ignores deletes; they must be real deletes
                assert_eq!(op, Some(Value::String("delete".into())));
                continue;
            }
            let key = row_id(&row);
            let file = text(&row, "_hoodie_file_name");
            if let Some(first) = out.insert(key.clone(), row) {
                panic!(
                    "{}: {key:?} twice in the snapshot ({} and {file})",
                    path.display(),
                    text(&first, "_hoodie_file_name")
                );
            }
        }
    }
    out
}

fn text(row: &serde_json::Map<String, Value>, col: &str) -> String {
    row.get(col)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// `batch_to_rows` renders dates, timestamps and binary as text (ISO 8601, base64);
/// `snapshot.py` as numbers (days, microseconds) and hex. Ours in the oracle's form.
fn as_oracle(ours: &Value, oracle: &Value) -> Value {
    let Value::String(s) = ours else {
        return ours.clone();
    };
    match oracle {
        Value::Number(_) => {
            if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
                return Value::from((d - epoch).num_days());
            }
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return Value::from(t.timestamp_micros());
            }
            if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
                return Value::from(t.and_utc().timestamp_micros());
            }
            ours.clone()
        }
        Value::String(o) if o != s => match base64_to_hex(s) {
            Some(h) => Value::String(h),
            None => ours.clone(),
        },
        _ => ours.clone(),
    }
}

/// Standard base64 (with padding) to lowercase hex.
fn base64_to_hex(s: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = String::new();
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push_str(&format!("{:02x}", (bits >> n) & 0xff));
        }
    }
    Some(out)
}

/// Numbers compare with a relative tolerance (floats cross f32/f64).
fn close(a: &Value, b: &Value) -> bool {
    let a = &as_oracle(a, b);
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_f64(), y.as_f64()) {
                (Some(f), Some(g)) => f == g || (f - g).abs() <= 1e-6 * f.abs().max(g.abs()),
                _ => x == y,
            },
        },
        _ => a == b,
    }
}

/// Differences between our snapshot rows and the oracle's (every oracle column compared).
fn diff(ours: &BTreeMap<RowId, serde_json::Map<String, Value>>, oracle: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let rows = oracle["rows"].as_array().expect("oracle rows");
    let mut seen = 0;
    for o in rows {
        let o = o.as_object().expect("row");
        let key = row_id(o);
        let Some(r) = ours.get(&key) else {
            problems.push(format!("missing row {key:?}"));
            continue;
        };
        seen += 1;
        for (col, v) in o {
            let got = r.get(col).unwrap_or(&Value::Null);
            if !close(got, v) {
                problems.push(format!("{key:?}.{col}: ours {got}, oracle {v}"));
            }
        }
    }
    if seen != ours.len() {
        problems.push(format!(
            "{} rows in our snapshot, {} in the oracle's",
            ours.len(),
            rows.len()
        ));
    }
    problems
}

async fn assert_snapshot_matches(label: &str, path: &Path) -> usize {
    let ours = snapshot_rows(path).await;
    let oracle = hps_testkit::python::run_oracle("snapshot.py", &[&path.to_string_lossy()]);
    let problems = diff(&ours, &oracle);
    assert!(problems.is_empty(), "{label}:\n{}", problems.join("\n"));
    ours.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_realworld_tables_snapshot_equals_the_oracle() {
    for name in ["hudi_v6_table_mor.zip", "hudi_v8_table_mor.zip"] {
        let Some(t) = hps_testkit::fixtures::unpack_realworld(name) else {
            hps_testkit::skip("../shared/realworld-fixtures is absent");
            return;
        };
        // the history from the beginning is incomplete: a window plan refuses
        let store: DynStore = Arc::new(LocalStore::new(&t.path));
        let table = HudiTable::open(store).await.expect("open");
        assert!(table.timeline().await.unwrap().archive_present, "{name}");
        assert!(
            matches!(
                table.plan(None, None).await,
                Err(HudiError::HistoryNotRetained { .. })
            ),
            "{name}: a window from the beginning must refuse"
        );
        let rows = assert_snapshot_matches(name, &t.path).await;
        assert_eq!(rows, 9, "{name}: the wheel's snapshot has 9 rows");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_equals_the_oracle_on_spark_fixtures() {
    let names = [
        "quickstart_trips_table/mor/avro/v6_trips_8i3d.zip",
        "quickstart_trips_table/mor/avro/v8_trips_8i3u1d.zip",
        "sample_table/cow/v6_complexkeygen_hivestyle.zip",
        "sample_table/cow/v6_nonpartitioned.zip",
        "sample_table/cow/v6_simplekeygen_nonhivestyle_overwritetable.zip",
        "sample_table/cow/v8_simplekeygen_nonhivestyle.zip",
        "sample_table/cow/v9_txns_simple_overwrite.zip",
        "sample_table/mor/avro/v9_nonpartitioned_rollback.zip",
        "sample_table/mor/avro/v9_txns_simple_meta.zip",
        "sample_table/mor/avro/v9_txns_simple_overwrite.zip",
        "sample_table/mor/parquet/v6_nonpartitioned_rollback.zip",
        "sample_table/mor/parquet/v6_simplekeygen_nonhivestyle.zip",
    ];
    let mut checked = 0;
    for name in names {
        let Some(t) = hps_testkit::fixtures::unpack(name) else {
            assert!(std::env::var_os("CI").is_none(), "{name} missing in CI");
            hps_testkit::skip("../shared/hudi-fixtures is absent");
            return;
        };
        assert_snapshot_matches(name, &t.path).await;
        checked += 1;
    }
    assert_eq!(checked, names.len());
}

/// Timeline folder and archive folder of a generated table.
fn timeline_dirs(table: &Path, v: TableVersion) -> (PathBuf, PathBuf) {
    match v {
        TableVersion::V5 | TableVersion::V6 => {
            (table.join(".hoodie"), table.join(".hoodie/archived"))
        }
        TableVersion::V9 => (
            table.join(".hoodie/timeline"),
            table.join(".hoodie/timeline/history"),
        ),
    }
}

/// The timeline files (every state) of an instant.
fn instant_files(timeline: &Path, instant: &str) -> Vec<PathBuf> {
    std::fs::read_dir(timeline)
        .expect("timeline dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.strip_prefix(instant)
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('_'))
                })
        })
        .collect()
}

/// Move each instant's timeline files from `from` into `to`.
fn move_instants(from: &Path, to: &Path, instants: &[String]) {
    std::fs::create_dir_all(to).expect("mkdir");
    for i in instants {
        let files = instant_files(from, i);
        assert!(!files.is_empty(), "no timeline file for {i}");
        for f in files {
            std::fs::rename(&f, to.join(f.file_name().unwrap())).expect("move");
        }
    }
}

fn gen_cfg(name: &str, tt: TableType, v: TableVersion) -> GenConfig {
    GenConfig {
        table_name: name.into(),
        table_type: tt,
        table_version: v,
        partitions: 2,
        rows: 300,
        commits: 7,
        update_fraction: 0.3,
        insert_fraction: 0.1,
        delete_fraction: 0.05,
        rows_per_file_group: 60,
        row_group_rows: 32,
        compact_every: if tt == TableType::MergeOnRead { 3 } else { 0 },
        threads: 1,
        ..Default::default()
    }
}

/// A new table whose two oldest instants are archived and whose two newest are not on the
/// timeline (their files are: a failed writer's) bootstraps from its snapshot, equals the
/// table as of its newest visible commit, then applies the two newest incrementally.
/// `bulk`: the default landing retention, so that the bootstrap is a bulk load into a shadow
/// table swapped in at its end; otherwise landing is kept and every row takes the upsert path.
async fn bootstrap_then_incremental(tt: TableType, v: TableVersion, bulk: bool) {
    let label = format!("{tt:?} {v:?}");
    let pg = pg();
    let url = fresh_db(&pg);
    let generated = gen_table(&gen_cfg("boot", tt, v)).await;
    let commits = &generated.manifest.commits;
    let n = commits.len();
    assert!(n >= 6, "{label}: {n} instants");
    let oldest: Vec<String> = commits[..2].iter().map(|c| c.instant.clone()).collect();
    let newest: Vec<String> = commits[n - 2..].iter().map(|c| c.instant.clone()).collect();

    // the expected table as of commit n-3: the newest commits' instants and files removed
    let dir = tempfile::tempdir().unwrap();
    let asof = dir.path().join("asof");
    copy_dir(&generated.path, &asof);
    let (asof_tl, _) = timeline_dirs(&asof, v);
    for c in &commits[n - 2..] {
        for f in instant_files(&asof_tl, &c.instant) {
            std::fs::remove_file(f).unwrap();
        }
        for f in &c.files {
            let _ = std::fs::remove_file(asof.join(f));
        }
    }
    // the synced table: oldest archived, newest hidden (files present)
    let path = dir.path().join("boot");
    copy_dir(&generated.path, &path);
    let (tl, archive) = timeline_dirs(&path, v);
    let hidden = dir.path().join("hidden");
    move_instants(&tl, &archive, &oldest);
    move_instants(&tl, &hidden, &newest);

    let stores = Stores::new(StoreKind::File).await;
    let pipe = pipeline("p", &stores, &url, test_options());
    let src = if bulk {
        source_bulk("boot", &path, "boot")
    } else {
        source("boot", &path, "boot")
    };
    let outs = run_until_up_to_date(&pipe, &src, PassMode::ToLatest).await;
    let booted = outs
        .iter()
        .any(|o| matches!(o, PassOutcome::Applied(r) | PassOutcome::MoreToDo(r) if r.bootstrap));
    assert!(booted, "{label}: no pass reported a bootstrap: {outs:?}");
    assert_staging_matches(&url, &src, &asof).await;
    let st = pipe.status(&src).await.unwrap();
    assert_eq!(st.state(), "up_to_date", "{label}");
    let spec = target_of(&src).await;
    assert_eq!(
        shadow_duplicates(&url, &spec).await,
        None,
        "{label}: the shadow was swapped in"
    );
    assert!(staging_has_primary_key(&url, &spec).await, "{label}");

    // the newest commits complete: applied incrementally, no bootstrap
    move_instants(&hidden, &tl, &newest);
    let outs = run_until_up_to_date(&pipe, &src, PassMode::Step).await;
    let applied = outs
        .iter()
        .filter(|o| matches!(o, PassOutcome::Applied(r) if !r.bootstrap))
        .count();
    assert_eq!(applied, 2, "{label}: {outs:?}");
    assert_staging_matches(&url, &src, &generated.path).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_then_incremental_cow_v6() {
    init_tracing();
    bootstrap_then_incremental(TableType::CopyOnWrite, TableVersion::V6, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_then_incremental_cow_v9() {
    init_tracing();
    bootstrap_then_incremental(TableType::CopyOnWrite, TableVersion::V9, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_then_incremental_mor_v6() {
    init_tracing();
    bootstrap_then_incremental(TableType::MergeOnRead, TableVersion::V6, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_then_incremental_mor_v9() {
    init_tracing();
    bootstrap_then_incremental(TableType::MergeOnRead, TableVersion::V9, true).await;
}

/// The real archived tables sync into PostgreSQL as new tables: bootstrapped, staging equals
/// the oracle's snapshot; a resync (same snapshot plan) keeps it equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_realworld_tables_sync_as_new_tables() {
    init_tracing();
    let pg = pg();
    for name in ["hudi_v6_table_mor.zip", "hudi_v8_table_mor.zip"] {
        let Some(t) = hps_testkit::fixtures::unpack_realworld(name) else {
            hps_testkit::skip("../shared/realworld-fixtures is absent");
            return;
        };
        let url = fresh_db(&pg);
        let stores = Stores::new(StoreKind::File).await;
        let pipe = pipeline("p", &stores, &url, test_options());
        let src = source("rw", &t.path, "rw");
        let outs = run_until_up_to_date(&pipe, &src, PassMode::Step).await;
        assert!(
            outs.iter()
                .any(|o| matches!(o, PassOutcome::Applied(r) if r.bootstrap)),
            "{name}: {outs:?}"
        );
        assert_staging_matches(&url, &src, &t.path).await;
        pipe.resync(&src, hps_sync::ResyncMode::Merge, None)
            .await
            .unwrap_or_else(|e| panic!("{name}: resync: {e}"));
        run_until_up_to_date(&pipe, &src, PassMode::ToLatest).await;
        assert_staging_matches(&url, &src, &t.path).await;
    }
}

/// Change rows of the window `(after, latest]`: upserts by (partition, key).
async fn window_rows(
    table: &HudiTable,
    after: &str,
) -> Result<(BTreeMap<(String, String), String>, Vec<String>), HudiError> {
    let plan = table.plan(Some(after), None).await?;
    let mut stream = table.read_changes(&plan, &ReadOptions::default());
    let mut upserts = BTreeMap::new();
    while let Some(b) = stream.try_next().await? {
        for row in hudi_pg_sync::json::batch_to_rows(&b).expect("json") {
            if row.get("_op") == Some(&Value::String("upsert".into())) {
                let key = (
                    text(&row, "_hoodie_partition_path"),
                    text(&row, "_hoodie_record_key"),
                );
                upserts.insert(key, text(&row, "_hoodie_commit_time"));
            }
        }
    }
    let admitted = plan
        .instants
        .iter()
        .map(|i| i.requested_time.clone())
        .collect();
    Ok((upserts, admitted))
}

/// A bookmark inside the archived range of the real archived tables: the window reads the
/// archived instants after it from the archive and either returns exactly the snapshot rows
/// those instants (and the active ones) wrote, or — when a file it needs was cleaned —
/// refuses with `HistoryNotRetained`. It never silently skips a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookmarks_inside_the_archive_continue_or_refuse() {
    for name in ["hudi_v6_table_mor.zip", "hudi_v8_table_mor.zip"] {
        let Some(t) = hps_testkit::fixtures::unpack_realworld(name) else {
            hps_testkit::skip("../shared/realworld-fixtures is absent");
            return;
        };
        let store: DynStore = Arc::new(LocalStore::new(&t.path));
        let table = HudiTable::open(store.clone()).await.expect("open");
        let archived = hps_hudi::archive::load_archived(&store, table.config(), "t", None)
            .await
            .expect("archive");
        let writes: Vec<_> = archived.writes().collect();
        assert_eq!(writes.len(), 5, "{name}: the fixture archived 5 writes");
        let snapshot = snapshot_rows(&t.path).await;
        let mut continued = 0;
        for w in &writes {
            let bookmark = w.completion_time.clone().filter(|_| name.contains("v8"));
            let bookmark = bookmark.unwrap_or_else(|| w.requested_time.clone());
            match window_rows(&table, &bookmark).await {
                Ok((upserts, admitted)) => {
                    continued += 1;
                    let expected: BTreeMap<(String, String), String> = snapshot
                        .iter()
                        .filter(|(_, r)| admitted.contains(&text(r, "_hoodie_commit_time")))
                        .map(|((p, k, _), r)| {
                            ((p.clone(), k.clone()), text(r, "_hoodie_commit_time"))
                        })
                        .collect();
                    assert_eq!(upserts, expected, "{name}: window after {bookmark}");
                }
                Err(HudiError::HistoryNotRetained { .. }) => {}
                Err(e) => panic!("{name}: window after {bookmark}: {e}"),
            }
        }
        // the newest archived write: nothing archived after it, the active timeline follows
        assert!(
            continued >= 1,
            "{name}: no bookmark in the archive continued"
        );
    }
}

fn long_lived_cfg(name: &str, v: TableVersion, clean: Option<u32>) -> GenConfig {
    GenConfig {
        commits: 30,
        archive: Some(hps_gen::ArchivalConfig {
            keep_min: 5,
            keep_max: 8,
        }),
        clean_retain_commits: clean,
        ..gen_cfg(name, TableType::CopyOnWrite, v)
    }
}

/// A generated table of 30 commits whose timeline was archived as Hudi does: a new table
/// bootstraps; a bookmark rewound into the archived range continues incrementally (every file
/// the archived commits wrote still exists) and the windows admit the archived commits; with
/// cleaning, the same bookmark needs a resync, which restores staging == snapshot.
async fn archived_bookmark(v: TableVersion) {
    let label = format!("{v:?}");
    let pg = pg();
    for clean in [None, Some(3)] {
        let url = fresh_db(&pg);
        let generated = gen_table(&long_lived_cfg("lived", v, clean)).await;
        let archived = generated.manifest.archived_instants();
        let commits: Vec<&str> = generated
            .manifest
            .commits
            .iter()
            .filter(|c| archived.contains(&c.instant) && c.action != "compaction")
            .map(|c| c.instant.as_str())
            .collect();
        assert!(
            commits.len() >= 10,
            "{label}: {} archived commits",
            commits.len()
        );
        let stores = Stores::new(StoreKind::File).await;
        let pipe = pipeline("p", &stores, &url, test_options());
        let src = source("lived", &generated.path, "lived");
        let outs = run_until_up_to_date(&pipe, &src, PassMode::ToLatest).await;
        assert!(
            outs.iter().any(
                |o| matches!(o, PassOutcome::Applied(r) | PassOutcome::MoreToDo(r) if r.bootstrap)
            ),
            "{label}: {outs:?}"
        );
        assert_staging_matches(&url, &src, &generated.path).await;

        // back into the archive: ten archived commits after the bookmark
        let bookmark = commits[commits.len() - 10];
        pipe.rewind(&src, Some(bookmark))
            .await
            .unwrap_or_else(|e| panic!("{label}: rewind to archived {bookmark}: {e}"));
        let out = pipe.run_pass(&src, None, PassMode::ToLatest).await.unwrap();
        match (clean, &out) {
            (None, PassOutcome::Applied(r)) => {
                let applied: Vec<&str> = r
                    .instants
                    .iter()
                    .map(|p| p.requested_time.as_str())
                    .collect();
                for c in &commits[commits.len() - 9..] {
                    assert!(
                        applied.contains(c),
                        "{label}: archived {c} not re-applied: {applied:?}"
                    );
                }
                assert!(!r.bootstrap);
            }
            (Some(_), PassOutcome::NeedsResync { reason }) => {
                assert!(
                    reason.contains("history no longer retained"),
                    "{label}: {reason}"
                );
                pipe.resync(&src, hps_sync::ResyncMode::Merge, None)
                    .await
                    .unwrap_or_else(|e| panic!("{label}: resync: {e}"));
                run_until_up_to_date(&pipe, &src, PassMode::ToLatest).await;
            }
            other => panic!("{label}: after rewinding into the archive: {other:?}"),
        }
        assert_staging_matches(&url, &src, &generated.path).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_bookmark_continues_or_resyncs_v6() {
    init_tracing();
    archived_bookmark(TableVersion::V6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_bookmark_continues_or_resyncs_v9() {
    init_tracing();
    archived_bookmark(TableVersion::V9).await;
}

/// A bootstrap under a budget that ends every pass after one transaction resumes from its
/// cursor (status `bootstrapping` in between) and ends equal to the snapshot; a loader that
/// crashes at any step of a bootstrap is followed by one that converges to the snapshot with
/// no change row landed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_resumes_under_deadlines_and_converges_after_crashes() {
    bootstrap_resumes_and_converges(false).await;
}

/// The same for a bulk bootstrap (into a shadow table swapped in at the end): between passes
/// the shadow never holds a key twice, and staging stays empty until the swap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_bootstrap_resumes_under_deadlines_and_converges_after_crashes() {
    bootstrap_resumes_and_converges(true).await;
}

async fn bootstrap_resumes_and_converges(bulk: bool) {
    use hps_sync::failpoint::{self, FailAction};
    init_tracing();
    let pg = pg();
    let generated = gen_table(&long_lived_cfg("bootcrash", TableVersion::V9, None)).await;
    let options = |ttl: u64| {
        let mut o = test_options();
        o.max_rows_per_txn = 40;
        o.lease_ttl = std::time::Duration::from_secs(ttl);
        o
    };

    let url = fresh_db(&pg);
    let stores = Stores::new(StoreKind::File).await;
    let pipe = pipeline("p", &stores, &url, options(30));
    let src = if bulk {
        source_bulk("boot", &generated.path, "boot")
    } else {
        source("boot", &generated.path, "boot")
    };
    let spec = target_of(&src).await;
    let (mut passes, mut saw_bootstrapping, mut saw_shadow) = (0, false, false);
    loop {
        let o = pipe
            .run_pass(&src, Some(tokio::time::Instant::now()), PassMode::ToLatest)
            .await
            .unwrap();
        passes += 1;
        saw_bootstrapping |= pipe.status(&src).await.unwrap().state() == "bootstrapping";
        if let Some(dups) = shadow_duplicates(&url, &spec).await {
            saw_shadow = true;
            assert_eq!(
                dups, 0,
                "pass {passes}: a slice was loaded into the shadow twice"
            );
            let staged = staging_rows(&client(&url).await, &spec).await;
            assert!(staged.is_empty(), "staging stays empty until the swap");
        }
        match o {
            PassOutcome::UpToDate { .. } => break,
            PassOutcome::MoreToDo(_) | PassOutcome::Applied(_) => assert!(passes < 500),
            other => panic!("{other:?}"),
        }
    }
    assert!(passes > 4, "{passes} passes");
    assert!(saw_bootstrapping);
    assert_eq!(
        saw_shadow, bulk,
        "a shadow table exists between passes exactly when bulk"
    );
    assert_staging_matches(&url, &src, &generated.path).await;
    assert!(staging_has_primary_key(&url, &spec).await);

    let mut fired = 0;
    for point in failpoint::ALL {
        let url = fresh_db(&pg);
        let stores = Stores::new(StoreKind::File).await;
        let victim = pipeline("p", &stores, &url, options(1));
        victim.failpoints().arm(
            point,
            FailAction::Panic,
            u64::from(point != failpoint::AFTER_PLAN),
        );
        let (v, s) = (victim.clone(), src.clone());
        let joined =
            tokio::spawn(async move { v.run_pass(&s, None, PassMode::ToLatest).await }).await;
        if victim.failpoints().fired(point) == 1 {
            fired += 1;
            assert!(joined.is_err_and(|e| e.is_panic()), "{point}");
        }
        drop(victim);
        assert_eq!(
            shadow_duplicates(&url, &spec).await.unwrap_or(0),
            0,
            "{point}: the crashed pass left a key twice in the shadow"
        );
        let rerun = pipeline("p", &stores, &url, options(5));
        run_until_settled(&rerun, &src, PassMode::ToLatest, || None).await;
        assert_staging_matches(&url, &src, &generated.path).await;
        assert_eq!(
            shadow_duplicates(&url, &spec).await,
            None,
            "{point}: no shadow left"
        );
        assert!(staging_has_primary_key(&url, &spec).await, "{point}");
        let dups = landing_duplicates(&url, &target_of(&src).await).await;
        assert!(
            dups.is_empty(),
            "{point}: change rows landed twice: {dups:?}"
        );
    }
    assert!(
        fired >= failpoint::ALL.len() - 1,
        "{fired} failpoints fired"
    );
}

/// Every timeline file whose instant is after `cut`, moved into `hidden`; the instants moved,
/// oldest first.
fn hide_after(timeline: &Path, hidden: &Path, cut: &str) -> Vec<String> {
    let mut instants: Vec<String> = std::fs::read_dir(timeline)
        .expect("timeline dir")
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            let digits: String = n.chars().take_while(|c| c.is_ascii_digit()).collect();
            (digits.len() >= 14 && digits.as_str() > cut).then_some(digits)
        })
        .collect();
    instants.sort();
    instants.dedup();
    move_instants(timeline, hidden, &instants);
    instants
}

/// Staging as record key → `_hoodie_commit_time`, live rows only.
async fn staged_versions(
    url: &str,
    src: &hps_sync::TableSource,
    key: &str,
) -> BTreeMap<i64, String> {
    let spec = target_of(src).await;
    let c = client(url).await;
    let q = format!(
        "SELECT {}::text, \"_hoodie_commit_time\" FROM {}.{}",
        hps_postgres::quote_ident(key),
        hps_postgres::quote_ident(&spec.schema),
        hps_postgres::quote_ident(&spec.staging)
    );
    c.query(&q, &[])
        .await
        .expect("staging")
        .iter()
        .map(|r| {
            let id: String = r.get(0);
            (id.parse().expect("int key"), r.get(1))
        })
        .collect()
}

/// The generator's state after `commits[..=last]`: key → the instant that wrote its live row.
fn expected_versions(m: &hps_gen::Manifest, last: usize) -> BTreeMap<i64, String> {
    let mut state = BTreeMap::new();
    for c in &m.commits[..=last] {
        for [a, b] in &c.inserted {
            for id in *a..*b {
                state.insert(id, c.instant.clone());
            }
        }
        for id in &c.updated {
            state.insert(*id, c.instant.clone());
        }
        for id in &c.deleted {
            state.remove(id);
        }
    }
    state
}

/// A table of 200+ commits archived and (optionally) cleaned as Hudi does: a new table
/// bootstraps with its newest instants not yet on the timeline, then takes them one by one
/// and equals the generator's state after every one of them (the `hudi` wheel's snapshot at
/// the end); a bookmark rewound deep into the archive then continues incrementally (nothing
/// cleaned: every archived commit after it is re-applied) or needs a resync (cleaned), which
/// restores the snapshot.
async fn long_lived(tt: TableType, v: TableVersion, clean: Option<u32>, bulk: bool) {
    let label = format!("{tt:?} {v:?} clean {clean:?} bulk {bulk}");
    let pg = pg();
    let url = fresh_db(&pg);
    let cfg = GenConfig {
        commits: 210,
        rows: 400,
        rows_per_file_group: 100,
        update_fraction: 0.05,
        insert_fraction: 0.02,
        delete_fraction: 0.01,
        compact_every: if tt == TableType::MergeOnRead { 5 } else { 0 },
        archive: Some(hps_gen::ArchivalConfig {
            keep_min: 12,
            keep_max: 20,
        }),
        clean_retain_commits: clean,
        ..gen_cfg("longlived", tt, v)
    };
    let generated = gen_table(&cfg).await;
    let m = &generated.manifest;
    let n = m.commits.len();
    assert!(n >= 200, "{label}: {n} instants");
    assert!(
        m.archived_instants().len() >= 150,
        "{label}: {} archived",
        m.archived_instants().len()
    );
    let key = m.table.record_key_field.clone();

    // the newest 6 commits (and every instant after the cut) are not on the timeline yet
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    copy_dir(&generated.path, &path);
    let (tl, _) = timeline_dirs(&path, v);
    let hidden = dir.path().join("hidden");
    let cut_at = n - 7;
    let hidden_instants = hide_after(&tl, &hidden, &m.commits[cut_at].instant);

    let stores = Stores::new(StoreKind::File).await;
    let pipe = pipeline("p", &stores, &url, test_options());
    let src = if bulk {
        source_bulk("lived", &path, "lived")
    } else {
        source("lived", &path, "lived")
    };
    let outs = run_until_up_to_date(&pipe, &src, PassMode::ToLatest).await;
    assert!(
        outs.iter().any(
            |o| matches!(o, PassOutcome::Applied(r) | PassOutcome::MoreToDo(r) if r.bootstrap)
        ),
        "{label}: {outs:?}"
    );
    assert_eq!(
        staged_versions(&url, &src, &key).await,
        expected_versions(m, cut_at),
        "{label}: after the bootstrap"
    );

    // the later commits arrive one at a time (with the cleans that follow them)
    for j in cut_at + 1..n {
        let bound = m.commits[j].instant.clone();
        let next = m.commits.get(j + 1).map(|c| c.instant.clone());
        let reveal: Vec<String> = hidden_instants
            .iter()
            .filter(|i| {
                i.as_str() >= bound.as_str() && next.as_deref().is_none_or(|x| i.as_str() < x)
            })
            .cloned()
            .collect();
        move_instants(&hidden, &tl, &reveal);
        let outs = run_until_up_to_date(&pipe, &src, PassMode::Step).await;
        assert!(
            outs.iter()
                .all(|o| !matches!(o, PassOutcome::Applied(r) if r.bootstrap)),
            "{label}: {outs:?}"
        );
        assert_eq!(
            staged_versions(&url, &src, &key).await,
            expected_versions(m, j),
            "{label}: after commit {j} ({bound})"
        );
    }
    assert_staging_matches(&url, &src, &generated.path).await;

    // a bookmark deep in the archive
    let archived = m.archived_instants();
    let writes: Vec<&str> = m
        .commits
        .iter()
        .filter(|c| archived.contains(&c.instant) && c.action != "compaction")
        .map(|c| c.instant.as_str())
        .collect();
    let bookmark = writes[writes.len() / 4];
    pipe.rewind(&src, Some(bookmark))
        .await
        .unwrap_or_else(|e| panic!("{label}: rewind: {e}"));
    let out = pipe.run_pass(&src, None, PassMode::ToLatest).await.unwrap();
    match (clean, &out) {
        (None, PassOutcome::Applied(r) | PassOutcome::MoreToDo(r)) => {
            assert!(!r.bootstrap, "{label}");
            run_until_up_to_date(&pipe, &src, PassMode::ToLatest).await;
        }
        (Some(_), PassOutcome::NeedsResync { reason }) => {
            assert!(
                reason.contains("history no longer retained"),
                "{label}: {reason}"
            );
            pipe.resync(&src, hps_sync::ResyncMode::Merge, None)
                .await
                .unwrap_or_else(|e| panic!("{label}: resync: {e}"));
            run_until_up_to_date(&pipe, &src, PassMode::ToLatest).await;
        }
        other => panic!("{label}: after rewinding to archived {bookmark}: {other:?}"),
    }
    assert_eq!(
        staged_versions(&url, &src, &key).await,
        expected_versions(m, n - 1),
        "{label}: at the end"
    );
    assert_staging_matches(&url, &src, &generated.path).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lived_cow_v6_cleaned_bulk() {
    init_tracing();
    long_lived(TableType::CopyOnWrite, TableVersion::V6, Some(10), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lived_mor_v9_cleaned_bulk() {
    init_tracing();
    long_lived(TableType::MergeOnRead, TableVersion::V9, Some(10), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lived_cow_v9_archived_only() {
    init_tracing();
    long_lived(TableType::CopyOnWrite, TableVersion::V9, None, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lived_mor_v6_archived_only() {
    init_tracing();
    long_lived(TableType::MergeOnRead, TableVersion::V6, None, false).await;
}
