//! Shared body of the Hudi conformance suites (`conformance_cow.rs` over local directories,
//! `conformance_s3.rs` over a moto S3 bucket): for every window between consecutive completed
//! instants, plus `(beginning, latest]` and `(first, latest]`, the rows hps-hudi returns must
//! equal the rows of the `hudi` PyPI package (hudi-rs 0.5.0) for the same incremental window:
//! same columns, same values (normalised to JSON on each side independently).
//!
//! Deliberate differences, asserted instead of compared:
//! - `hoodie.populate.meta.fields=false`: hudi-rs silently skips its commit-time filter and
//!   returns every row of every touched file as "changed" (all meta columns null); hps-hudi
//!   refuses with `IncrementalUnsupported` because the rows an instant changed cannot be told
//!   apart, and Apache Hudi (Java) refuses such queries too.
//! - Lance base files: hps-hudi refuses with `UnsupportedBaseFormat`.
//!
//! Delete change rows (`_op = "delete"`) are not in the oracle's output (hudi-rs returns the
//! latest state only): they are collected per window in [`Summary::windows`] for the callers
//! to assert against the deletes the fixtures are known to hold (`conformance_mor.rs`).

#![allow(dead_code)]

use std::path::Path;

use futures::TryStreamExt;
use hps_hudi::{HudiError, HudiTable, ReadOptions};
use hps_storage::DynStore;
use serde_json::Value;

/// What happened in one window, for the summary assertions.
#[derive(Debug, Default)]
pub struct Summary {
    pub compared: usize,
    pub compared_rows: usize,
    pub not_yet_supported: usize,
    pub refused: usize,
    /// Windows whose plan had log files to merge.
    pub merged_windows: usize,
    /// Every window read successfully, in order, with its delete rows.
    pub windows: Vec<WindowOutcome>,
}

/// One window read successfully.
#[derive(Debug, Clone)]
pub struct WindowOutcome {
    pub after: Option<String>,
    pub until: Option<String>,
    /// Upsert rows compared with the oracle.
    pub upserts: usize,
    /// Delete change rows (without `_op`), in stream order.
    pub deletes: Vec<serde_json::Map<String, Value>>,
}

impl WindowOutcome {
    /// `_hoodie_record_key` of every delete row, sorted.
    pub fn delete_keys(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .deletes
            .iter()
            .map(|d| {
                d.get("_hoodie_record_key")
                    .and_then(Value::as_str)
                    .unwrap_or("<null>")
                    .to_string()
            })
            .collect();
        v.sort();
        v
    }
}

/// Every fixture zip the suites know, with the expected class.
pub const FIXTURES: &[(&str, Expect)] = &[
    (
        "quickstart_trips_table/mor/avro/v6_trips_8i1u.zip",
        Expect::Mor,
    ),
    (
        "quickstart_trips_table/mor/avro/v6_trips_8i3d.zip",
        Expect::Mor,
    ),
    (
        "quickstart_trips_table/mor/avro/v8_trips_8i3u1d.zip",
        Expect::Mor,
    ),
    (
        "sample_table/cow/v6_complexkeygen_hivestyle.zip",
        Expect::Match,
    ),
    ("sample_table/cow/v6_empty.zip", Expect::Match),
    ("sample_table/cow/v6_nonpartitioned.zip", Expect::Match),
    (
        "sample_table/cow/v6_simplekeygen_hivestyle_no_metafields.zip",
        Expect::NoMetaFields,
    ),
    (
        "sample_table/cow/v6_simplekeygen_nonhivestyle.zip",
        Expect::Match,
    ),
    (
        "sample_table/cow/v6_simplekeygen_nonhivestyle_overwritetable.zip",
        Expect::Match,
    ),
    ("sample_table/cow/v8_empty.zip", Expect::Match),
    ("sample_table/cow/v8_nonpartitioned.zip", Expect::Match),
    (
        "sample_table/cow/v8_simplekeygen_nonhivestyle.zip",
        Expect::Match,
    ),
    (
        "sample_table/cow/v9_lance_nonpartitioned.zip",
        Expect::Lance,
    ),
    (
        "sample_table/cow/v9_timebasedkeygen_nonhivestyle.zip",
        Expect::Match,
    ),
    ("sample_table/cow/v9_txns_nonpart_nometa.zip", Expect::Match),
    ("sample_table/cow/v9_txns_simple_meta.zip", Expect::Match),
    (
        "sample_table/cow/v9_txns_simple_overwrite.zip",
        Expect::Match,
    ),
    (
        "sample_table/mor/avro/v9_nonpartitioned_rollback.zip",
        Expect::Match,
    ),
    (
        "sample_table/mor/avro/v9_txns_nonpart_nometa.zip",
        Expect::Mor,
    ),
    ("sample_table/mor/avro/v9_txns_simple_meta.zip", Expect::Mor),
    (
        "sample_table/mor/avro/v9_txns_simple_overwrite.zip",
        Expect::Match,
    ),
    ("sample_table/mor/parquet/v6_empty.zip", Expect::Match),
    (
        "sample_table/mor/parquet/v6_nonpartitioned.zip",
        Expect::Mor,
    ),
    (
        "sample_table/mor/parquet/v6_nonpartitioned_rollback.zip",
        Expect::Mor,
    ),
    (
        "sample_table/mor/parquet/v6_simplekeygen_nonhivestyle.zip",
        Expect::Mor,
    ),
];

/// The expected outcome class of a fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Every window readable and equal to the oracle.
    Match,
    /// MOR with log files: every window readable and equal to the oracle, and at least one
    /// window merges log files.
    Mor,
    /// Meta fields off: every window IncrementalUnsupported.
    NoMetaFields,
    /// Lance base files: every window UnsupportedBaseFormat.
    Lance,
}

/// The windows to check: `(None, k1], (k1, k2], ...`, `(None, latest]`, `(k1, latest]`,
/// over the window keys of all completed instants.
pub async fn windows(table: &HudiTable) -> Vec<(Option<String>, Option<String>)> {
    let tl = table.timeline().await.expect("timeline");
    let mut keys: Vec<String> = tl
        .in_window_order()
        .iter()
        .map(|i| i.window_time().to_string())
        .collect();
    keys.dedup();
    let mut w = Vec::new();
    let mut prev: Option<String> = None;
    for k in &keys {
        w.push((prev.clone(), Some(k.clone())));
        prev = Some(k.clone());
    }
    w.push((None, None));
    if let Some(first) = keys.first() {
        w.push((Some(first.clone()), None));
    }
    w
}

fn window_arg((a, u): &(Option<String>, Option<String>)) -> String {
    format!(
        "{}:{}",
        a.as_deref().unwrap_or(""),
        u.as_deref().unwrap_or("")
    )
}

/// Columns, upsert rows and delete rows of a window, and whether its plan merged log files.
type Ours = (
    Vec<String>,
    Vec<Value>,
    Vec<serde_json::Map<String, Value>>,
    bool,
);

async fn ours(
    table: &HudiTable,
    after: Option<&str>,
    until: Option<&str>,
) -> Result<Ours, HudiError> {
    let plan = table.plan(after, until).await?;
    let merged = plan.has_log_files();
    let mut stream = table.read_changes(
        &plan,
        &ReadOptions {
            columns: None,
            batch_size: 3,
        },
    );
    let mut rows = Vec::new();
    let mut deletes = Vec::new();
    let mut columns: Option<Vec<String>> = None;
    while let Some(b) = stream.try_next().await? {
        let names: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            names.last().map(String::as_str),
            Some("_op"),
            "change batches end with _op"
        );
        assert!(
            b.schema()
                .fields()
                .iter()
                .all(|f| f.is_nullable() || f.name() == "_op")
        );
        if let Some(c) = &columns {
            assert_eq!(c, &names, "one schema per table in the fixtures");
        }
        columns = Some(names);
        for row in hudi_pg_sync::json::batch_to_rows(&b).expect("json") {
            let mut row = row;
            match row.remove("_op") {
                Some(Value::String(op)) if op == "upsert" => rows.push(Value::Object(row)),
                Some(Value::String(op)) if op == "delete" => deletes.push(row),
                other => panic!("_op must be upsert or delete, got {other:?}"),
            }
        }
    }
    let mut columns = columns.unwrap_or_default();
    columns.pop();
    Ok((columns, rows, deletes, merged))
}

/// Numbers compare with a relative tolerance (floats cross f32/f64 and text on the way).
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
                return i == j;
            }
            match (x.as_f64(), y.as_f64()) {
                (Some(f), Some(g)) => f == g || (f - g).abs() <= 1e-6 * f.abs().max(g.abs()),
                _ => x == y,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| close(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

fn sort_key(v: &Value) -> (String, String, String, String) {
    let s = |k: &str| v.get(k).map(|x| x.to_string()).unwrap_or_default();
    (
        s("_hoodie_commit_time"),
        s("_hoodie_record_key"),
        s("_hoodie_partition_path"),
        s("_hoodie_file_name"),
    )
}

fn sorted(mut rows: Vec<Value>) -> Vec<Value> {
    rows.sort_by(|a, b| {
        sort_key(a)
            .cmp(&sort_key(b))
            .then_with(|| a.to_string().cmp(&b.to_string()))
    });
    rows
}

fn describe(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{}/{}", sort_key(r).0, sort_key(r).1))
        .collect()
}

/// Check one fixture. `table_dir` is the local copy the oracle reads; `store` is where
/// hps-hudi reads the same table (a LocalStore or an S3Store).
pub async fn check_fixture(
    name: &str,
    expect: Expect,
    table_dir: &Path,
    store: DynStore,
) -> Summary {
    let table = HudiTable::open(store)
        .await
        .unwrap_or_else(|e| panic!("{name}: open: {e}"));
    let windows = windows(&table).await;
    let args: Vec<String> = windows.iter().map(window_arg).collect();
    let dir = table_dir.to_string_lossy().into_owned();
    let mut oracle_args: Vec<&str> = vec![dir.as_str()];
    oracle_args.extend(args.iter().map(String::as_str));
    let oracle = hps_testkit::python::run_oracle("hudi_incremental.py", &oracle_args);
    let oracle = oracle.as_array().expect("oracle prints a list").clone();
    assert_eq!(oracle.len(), windows.len());

    let mut summary = Summary::default();
    for (w, o) in windows.iter().zip(oracle) {
        let label = format!(
            "{name} window ({}, {}]",
            w.0.as_deref().unwrap_or("beginning"),
            w.1.as_deref().unwrap_or("latest")
        );
        let got = ours(&table, w.0.as_deref(), w.1.as_deref()).await;
        match (expect, got) {
            (Expect::Lance, Err(HudiError::UnsupportedBaseFormat { format, .. })) => {
                assert_eq!(format, "LANCE", "{label}");
                summary.refused += 1;
            }
            (Expect::NoMetaFields, Err(HudiError::IncrementalUnsupported { reason, .. })) => {
                assert!(
                    reason.contains("hoodie.populate.meta.fields=false"),
                    "{label}: {reason}"
                );
                // hudi-rs returns rows here (it skips the commit-time filter): that is the
                // behaviour we refuse on purpose. Show that it would have handed out rows whose
                // commit time is unknown.
                if let Some(rows) = o.get("rows").and_then(Value::as_array) {
                    assert!(
                        rows.iter()
                            .all(|r| r.get("_hoodie_commit_time").is_none_or(Value::is_null)),
                        "{label}: oracle rows carry no commit time"
                    );
                }
                summary.refused += 1;
            }
            (Expect::Match | Expect::Mor, Ok((columns, rows, deletes, merged))) => {
                if let Some(err) = o.get("error") {
                    panic!(
                        "{label}: we returned {} rows, the oracle failed: {err}",
                        rows.len()
                    );
                }
                let o_rows = o["rows"].as_array().cloned().unwrap_or_default();
                if let Some(o_cols) = o.get("columns").and_then(Value::as_array) {
                    let o_cols: Vec<String> = o_cols
                        .iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect();
                    if !rows.is_empty() {
                        assert_eq!(columns, o_cols, "{label}: columns");
                    }
                }
                let mine = sorted(rows);
                let theirs = sorted(o_rows);
                assert_eq!(
                    describe(&mine),
                    describe(&theirs),
                    "{label}: row sets differ (commit time/record key)"
                );
                for (a, b) in mine.iter().zip(&theirs) {
                    assert!(
                        close(a, b),
                        "{label}: row differs\n ours:   {a}\n oracle: {b}"
                    );
                }
                summary.compared += 1;
                summary.compared_rows += mine.len();
                summary.merged_windows += usize::from(merged);
                summary.windows.push(WindowOutcome {
                    after: w.0.clone(),
                    until: w.1.clone(),
                    upserts: mine.len(),
                    deletes,
                });
            }
            (e, Ok((_, rows, _, _))) => {
                panic!("{label}: expected {e:?} refusal, got {} rows", rows.len())
            }
            (_, Err(e)) => panic!("{label}: unexpected error: {e}"),
        }
    }
    match expect {
        Expect::Match => assert_eq!(
            summary.compared,
            windows.len(),
            "{name}: every window compared"
        ),
        Expect::Mor => {
            assert_eq!(
                summary.compared,
                windows.len(),
                "{name}: every window compared"
            );
            assert!(
                summary.merged_windows > 0,
                "{name}: some window must merge log files"
            );
        }
        Expect::Lance | Expect::NoMetaFields => assert_eq!(summary.refused, windows.len()),
    }
    eprintln!("{name}: {summary:?}");
    summary
}
